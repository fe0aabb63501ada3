/* metrics.c: edgehub's metrics, the cloud link as edgehub sees it
 * (libedgecore 1.3; edged's /metrics reports them, docs/edged.md). The
 * counting sites are single lines in link.c and downlink.c. */
#include "edgehub-private.h"

static const char *const disconnect_reasons[EH_DISCONNECT_N] = {
  [EH_DISCONNECT_CLOSED] = "closed",
  [EH_DISCONNECT_READ_DEADLINE] = "read_deadline",
  [EH_DISCONNECT_WRITE_DEADLINE] = "write_deadline",
  [EH_DISCONNECT_CERT_ROTATION] = "certificate_rotation",
};

static const char *const drop_reasons[EH_DROP_N] = {
  [EH_DROP_INVALID] = "invalid",
  [EH_DROP_OVERSIZED] = "oversized",
  [EH_DROP_UNKNOWN_GROUP] = "unknown_group",
  [EH_DROP_UNROUTABLE] = "unroutable",
  [EH_DROP_BACKLOG] = "backlog",
};

static EcMetric *
add (EdgeHub *self, const char *name, EcMetricKind kind, const char *help, const char *reason)
{
  const char *const labels[] = { "reason", reason, NULL };
  return ec_endpoint_add_metric (self->endpoint, name, kind, help, reason ? labels : NULL);
}

/* Registers edgehub's metrics on its endpoint. */
void
eh_metrics_register (EdgeHub *self)
{
  EhMetrics *m = &self->m;
  m->connected = add (self, "edgecore_cloud_connected", EC_METRIC_GAUGE,
                      "1 while edgehub's websocket to the cloud is up.", NULL);
  m->connects = add (self, "edgecore_cloud_connects_total", EC_METRIC_COUNTER,
                     "Connections to the cloud made (the first and every reconnect).", NULL);
  m->dial_failures = add (self, "edgecore_cloud_dial_failures_total", EC_METRIC_COUNTER,
                          "Connection attempts to the cloud that failed.", NULL);
  for (guint i = 0; i < EH_DISCONNECT_N; i++)
    m->disconnects[i] = add (self, "edgecore_cloud_disconnects_total", EC_METRIC_COUNTER,
                             "Connections to the cloud lost, by reason: closed (by the cloud or the "
                             "network), read_deadline or write_deadline (found dead), "
                             "certificate_rotation.", disconnect_reasons[i]);
  m->sent = add (self, "edgecore_cloud_messages_sent_total", EC_METRIC_COUNTER,
                 "Messages written to the cloud, keepalives included.", NULL);
  m->received = add (self, "edgecore_cloud_messages_received_total", EC_METRIC_COUNTER,
                     "Messages received from the cloud, dropped ones included.", NULL);
  m->sent_bytes = add (self, "edgecore_cloud_sent_bytes_total", EC_METRIC_COUNTER,
                       "Bytes of the messages written to the cloud.", NULL);
  m->received_bytes = add (self, "edgecore_cloud_received_bytes_total", EC_METRIC_COUNTER,
                           "Bytes of the messages received from the cloud.", NULL);
  for (guint i = 0; i < EH_DROP_N; i++)
    m->dropped[i] = add (self, "edgecore_cloud_messages_dropped_total", EC_METRIC_COUNTER,
                         "Messages from the cloud dropped, by reason: invalid, oversized, "
                         "unknown_group, unroutable (no receiver), backlog (its receiver's queue "
                         "was full).", drop_reasons[i]);
}
