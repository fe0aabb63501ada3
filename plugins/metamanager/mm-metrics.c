/* mm-metrics.c: metamanager's metrics (libedgecore 1.3): what its store
 * did and what it asked the cloud. edged's /metrics reports them
 * (docs/edged.md); the counting sites are single lines. */
#include "mm-private.h"

static EcMetric *
add (MetaManager *self, const char *name, EcMetricKind kind, const char *help,
     const char *label, const char *value)
{
  const char *const labels[] = { label, value, NULL };
  return ec_endpoint_add_metric (self->endpoint, name, kind, help, label ? labels : NULL);
}

/* Registers metamanager's metrics on its endpoint. */
void
mm_metrics_register (MetaManager *self)
{
  MmMetrics *m = &self->m;
  const char *writes_help = "Changes committed to the store (meta and meta_v2), by operation: "
                            "upsert (insert or update) or delete.";
  const char *errors_help = "Store operations that failed, by operation: write (a change) or read "
                            "(a query).";
  const char *remote_help = "Requests metamanager passed to the cloud and waited for, by kind: "
                            "query (of a cloud-owned object) or request (a create or update).";
  const char *failed_help = "Of those, the ones the cloud did not answer or answered with an error "
                            "(a query is then answered from the store).";
  m->upserts = add (self, "edgecore_store_writes_total", EC_METRIC_COUNTER, writes_help, "op", "upsert");
  m->deletes = add (self, "edgecore_store_writes_total", EC_METRIC_COUNTER, writes_help, "op", "delete");
  m->skipped = add (self, "edgecore_store_writes_skipped_total", EC_METRIC_COUNTER,
                    "Changes not applied: the stored object was as new or newer.", NULL, NULL);
  m->write_errors = add (self, "edgecore_store_errors_total", EC_METRIC_COUNTER, errors_help, "op", "write");
  m->read_errors = add (self, "edgecore_store_errors_total", EC_METRIC_COUNTER, errors_help, "op", "read");
  m->pending = add (self, "edgecore_store_pending_writes", EC_METRIC_GAUGE,
                    "Changes given to the store and not yet committed.", NULL, NULL);
  m->queries = add (self, "edgecore_store_queries_total", EC_METRIC_COUNTER,
                    "Queries answered from the local store.", NULL, NULL);
  m->remote[0] = add (self, "edgecore_metamanager_remote_requests_total", EC_METRIC_COUNTER,
                      remote_help, "kind", "request");
  m->remote[1] = add (self, "edgecore_metamanager_remote_requests_total", EC_METRIC_COUNTER,
                      remote_help, "kind", "query");
  m->remote_failed[0] = add (self, "edgecore_metamanager_remote_failures_total", EC_METRIC_COUNTER,
                             failed_help, "kind", "request");
  m->remote_failed[1] = add (self, "edgecore_metamanager_remote_failures_total", EC_METRIC_COUNTER,
                             failed_help, "kind", "query");
}
