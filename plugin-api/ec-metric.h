/* ec-metric.h: counters and gauges a plugin registers on its endpoint, read
 * by whoever reports them (edged's `/metrics`). Since libedgecore 1.3. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-endpoint.h>

G_BEGIN_DECLS

/**
 * EcMetric:
 *
 * One number a plugin keeps for the node's metrics: a counter or a gauge
 * with a fixed name, help text and labels, registered on the plugin's
 * endpoint with ec_endpoint_add_metric(). The endpoint owns it; it stays
 * valid until the endpoint is freed (after its plugin), so a plugin keeps
 * the pointer and never frees it.
 *
 * ec_metric_add(), ec_metric_set() and ec_metric_get() are lock-free
 * (one atomic operation), may be called from any thread and accept %NULL
 * (they then do nothing, or answer 0), so that a registration refused
 * with a warning never makes a plugin crash.
 *
 * Since: 1.3
 */
typedef struct _EcMetric EcMetric;

/**
 * EcMetricKind:
 * @EC_METRIC_COUNTER: a count that only grows (`counter` in the
 *   Prometheus text format); ec_metric_add() ignores negative deltas
 * @EC_METRIC_GAUGE: a value that goes up and down (`gauge`)
 *
 * What a metric measures. The values keep their numbers; new kinds are
 * only ever added at the end.
 *
 * Since: 1.3
 */
typedef enum {
  EC_METRIC_COUNTER,
  EC_METRIC_GAUGE,
} EcMetricKind;

EC_API GType ec_metric_kind_get_type (void);
#define EC_TYPE_METRIC_KIND (ec_metric_kind_get_type ())

/**
 * EC_METRICS_TYPE:
 *
 * The #GVariant type string of ec_endpoint_get_metrics(): an array with
 * one `(ssssa(ss)x)` per metric: the bus member (module name) that
 * registered it, the metric name, its kind (`counter` or `gauge`), its
 * help text, its labels as (name, value) pairs sorted by name, and its
 * value now. The metrics of one name (a family) come together, families
 * in order of their first registration; within a family, members in order
 * of registration on the bus, each member's metrics in the order it
 * registered them.
 *
 * Since: 1.3
 */
#define EC_METRICS_TYPE "a(ssssa(ss)x)"

/**
 * EcMetricFunc:
 * @module: the bus member (module name) that registered the metric
 * @name: the metric name
 * @kind: its kind
 * @help: its help text
 * @labels: (array zero-terminated=1): its labels, name, value pairs sorted
 *   by name, %NULL-terminated
 * @value: its value now
 * @user_data: the data given to ec_endpoint_foreach_metric()
 *
 * Receives one metric from ec_endpoint_foreach_metric(). The strings are
 * valid during the call only.
 *
 * Since: 1.3
 */
typedef void (*EcMetricFunc) (const char        *module,
                              const char        *name,
                              EcMetricKind       kind,
                              const char        *help,
                              const char *const *labels,
                              gint64             value,
                              gpointer           user_data);

EC_API EcMetric   *ec_endpoint_add_metric  (EcEndpoint         *endpoint,
                                            const char         *name,
                                            EcMetricKind        kind,
                                            const char         *help,
                                            const char *const  *labels);
EC_API GVariant   *ec_endpoint_get_metrics (EcEndpoint         *endpoint);
EC_API void        ec_endpoint_foreach_metric (EcEndpoint      *endpoint,
                                               EcMetricFunc     func,
                                               gpointer         user_data);

EC_API void        ec_metric_add           (EcMetric           *metric,
                                            gint64              delta);
EC_API void        ec_metric_set           (EcMetric           *metric,
                                            gint64              value);
EC_API gint64      ec_metric_get           (EcMetric           *metric);

EC_API gboolean    ec_metric_name_is_valid       (const char *name);
EC_API gboolean    ec_metric_label_name_is_valid (const char *name);

G_END_DECLS
