/* server-metrics.c: GET /metrics, edgecore's own counters in the
 * Prometheus text format: the standard process_* metrics of the edgecore
 * process, edged's pods and containers, its CRI calls and errors, the
 * runtime's and the cloud link's state as edged sees them, the local
 * server's requests, connections and streams, and the bus sends waiting
 * for metamanager, and every bus member's counters
 * (ec_endpoint_get_bus_stats(), libedgecore 1.2); then the metrics the
 * plugins registered (cloud link, store, MQTT, metaserver: libedgecore
 * 1.3's ec_endpoint_get_metrics()). */
#include "server.h"

#include <string.h>
#include <unistd.h>

static void
metric (GString *out, const char *name, const char *type, const char *help_text)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help_text, name, type);
}

/* The standard process collector's metrics, from /proc/self. */
static void
process_metrics (GString *out)
{
  g_autofree char *stat = NULL;
  g_autofree char *uptime = NULL;
  g_autoptr (GDir) fds = g_dir_open ("/proc/self/fd", 0, NULL);
  long tck = sysconf (_SC_CLK_TCK), page = sysconf (_SC_PAGESIZE);
  guint n_fds = 0;

  if (g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL) && strrchr (stat, ')'))
    {
      g_auto (GStrv) f = g_strsplit (strrchr (stat, ')') + 2, " ", 64);
      if (g_strv_length (f) > 22)
        {
          double cpu = (double) (g_ascii_strtoull (f[11], NULL, 10) + g_ascii_strtoull (f[12], NULL, 10))
                       / (double) (tck > 0 ? tck : 100);
          guint64 start_ticks = g_ascii_strtoull (f[19], NULL, 10);
          guint64 rss = g_ascii_strtoull (f[21], NULL, 10) * (guint64) page;
          guint64 vsize = g_ascii_strtoull (f[20], NULL, 10);
          gint64 now = g_get_real_time () / G_USEC_PER_SEC;
          double up = 0;
          if (g_file_get_contents ("/proc/uptime", &uptime, NULL, NULL))
            up = g_ascii_strtod (uptime, NULL);
          metric (out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
          g_string_append_printf (out, "process_cpu_seconds_total %.2f\n", cpu);
          metric (out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
          g_string_append_printf (out, "process_resident_memory_bytes %" G_GUINT64_FORMAT "\n", rss);
          metric (out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
          g_string_append_printf (out, "process_virtual_memory_bytes %" G_GUINT64_FORMAT "\n", vsize);
          metric (out, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.");
          g_string_append_printf (out, "process_start_time_seconds %.2f\n",
                                  (double) now - up + (double) start_ticks / (double) (tck > 0 ? tck : 100));
        }
    }
  while (fds && g_dir_read_name (fds))
    n_fds++;
  metric (out, "process_open_fds", "gauge", "Number of open file descriptors.");
  g_string_append_printf (out, "process_open_fds %u\n", n_fds);
}

/* Appends a label value, escaped as the text format wants. */
static void
label_value (GString *out, const char *value)
{
  for (const char *p = value; *p; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

/* One family of the bus's per-member counters: field @index of each
 * (ssttttuu) tuple of @stats. */
static void
bus_family (GString *out, GVariant *stats, guint index, const char *name, const char *type,
            const char *help_text)
{
  metric (out, name, type, help_text);
  for (gsize i = 0; i < g_variant_n_children (stats); i++)
    {
      g_autoptr (GVariant) row = g_variant_get_child_value (stats, i);
      g_autoptr (GVariant) member = g_variant_get_child_value (row, 0);
      g_autoptr (GVariant) group = g_variant_get_child_value (row, 1);
      g_autoptr (GVariant) v = g_variant_get_child_value (row, index);
      guint64 n = g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64) ? g_variant_get_uint64 (v)
                                                                   : g_variant_get_uint32 (v);
      g_string_append_printf (out, "%s{member=\"", name);
      label_value (out, g_variant_get_string (member, NULL));
      g_string_append (out, "\",group=\"");
      label_value (out, g_variant_get_string (group, NULL));
      g_string_append_printf (out, "\"} %" G_GUINT64_FORMAT "\n", n);
    }
}

/* The bus's counters, per member. */
static void
bus_metrics (GString *out, EcEndpoint *endpoint)
{
  g_autoptr (GVariant) stats = ec_endpoint_get_bus_stats (endpoint);
  bus_family (out, stats, 2, "edgecore_bus_messages_sent_total", "counter",
              "Messages a bus member sent that were queued for a receiver.");
  bus_family (out, stats, 3, "edgecore_bus_messages_delivered_total", "counter",
              "Messages delivered to a bus member.");
  bus_family (out, stats, 4, "edgecore_bus_messages_dropped_total", "counter",
              "Messages for a bus member dropped because its queue was full.");
  bus_family (out, stats, 5, "edgecore_bus_messages_unroutable_total", "counter",
              "Messages a bus member sent to unknown destinations.");
  bus_family (out, stats, 6, "edgecore_bus_queue_depth", "gauge",
              "Messages in a bus member's queue now.");
  bus_family (out, stats, 7, "edgecore_bus_waiting_messages", "gauge",
              "Messages a bus member sent that wait for room in other queues.");
}

/* The names of the families already in @out (its `# TYPE` lines). */
static GHashTable *
own_families (GString *out)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (const char *p = out->str; (p = strstr (p, "# TYPE ")); )
    {
      const char *name = p + strlen ("# TYPE ");
      const char *end = strchr (name, ' ');
      if (!end)
        break;
      g_hash_table_add (names, g_strndup (name, (gsize) (end - name)));
      p = end;
    }
  return names;
}

/* Appends a help text, escaped as the text format wants. */
static void
help_value (GString *out, const char *text)
{
  for (const char *p = text; *p; p++)
    {
      if (*p == '\\')
        g_string_append (out, "\\\\");
      else if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
}

typedef struct {
  GString    *out;
  GHashTable *taken;    /* edged's own family names */
  const char *family;   /* the family being written */
  gboolean    skip;     /* it is named like one of edged's own */
} Registered;

/* One registered metric (ec_endpoint_foreach_metric(), which groups them by
 * name): a family's HELP and TYPE before its first sample (the first
 * registration's help), then the sample with a module label naming the
 * plugin's bus member first. */
static void
registered_metric (const char *module, const char *name, EcMetricKind kind, const char *help,
                   const char *const *labels, gint64 value, gpointer data)
{
  Registered *r = data;
  if (!r->family || strcmp (r->family, name) != 0)
    {
      r->family = name;
      r->skip = g_hash_table_contains (r->taken, name);
      if (!r->skip)
        {
          g_string_append_printf (r->out, "# HELP %s ", name);
          help_value (r->out, help);
          g_string_append_printf (r->out, "\n# TYPE %s %s\n", name,
                                  kind == EC_METRIC_COUNTER ? "counter" : "gauge");
        }
    }
  if (r->skip)
    return;
  g_string_append (r->out, name);
  g_string_append (r->out, "{module=\"");
  label_value (r->out, module);
  for (const char *const *l = labels; *l; l += 2)
    {
      g_string_append (r->out, "\",");
      g_string_append (r->out, l[0]);
      g_string_append (r->out, "=\"");
      label_value (r->out, l[1]);
    }
  g_string_append_printf (r->out, "\"} %" G_GINT64_FORMAT "\n", value);
}

/* The metrics the plugins registered, after edged's own; a family named
 * like one of edged's own is left out. */
static void
registered_metrics (GString *out, EcEndpoint *endpoint)
{
  g_autoptr (GHashTable) taken = own_families (out);
  Registered r = { out, taken, NULL, FALSE };
  ec_endpoint_foreach_metric (endpoint, registered_metric, &r);
}

/* GET /metrics. */
void
edged_server_metrics (EdgedServer *srv, SoupServerMessage *msg)
{
  Edged *self = srv->edged;
  GString *out = g_string_new (NULL);
  guint64 calls = 0, errors = 0, image_calls = 0, image_errors = 0, n_running = 0, n_restarts = 0;
  guint n_pods = 0;
  GHashTableIter iter;
  gpointer value;
  static const char *classes[] = { NULL, "1xx", "2xx", "3xx", "4xx", "5xx" };
  char *text;

  process_metrics (out);
  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      if (pod->stage == POD_GONE)
        continue;
      n_pods++;
      for (guint i = 0; i < pod->spec->n_containers; i++)
        {
          n_running += pod->containers[i].id
                       && pod->containers[i].state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
          n_restarts += pod->containers[i].restart_count;
        }
    }
  metric (out, "edged_pods", "gauge", "Pods edged runs.");
  g_string_append_printf (out, "edged_pods %u\n", n_pods);
  metric (out, "edged_running_containers", "gauge", "Containers of those pods that run.");
  g_string_append_printf (out, "edged_running_containers %" G_GUINT64_FORMAT "\n", n_running);
  metric (out, "edged_container_restarts_total", "counter", "Restarts of the containers of those pods.");
  g_string_append_printf (out, "edged_container_restarts_total %" G_GUINT64_FORMAT "\n", n_restarts);
  /* each family's samples follow its own TYPE line (the text format) */
  edged_cri_client_get_counts (self->runtime, &calls, &errors);
  if (self->images != self->runtime)
    edged_cri_client_get_counts (self->images, &image_calls, &image_errors);
  metric (out, "edged_cri_calls_total", "counter", "CRI calls answered (or failed), by service.");
  g_string_append_printf (out, "edged_cri_calls_total{service=\"runtime\"} %" G_GUINT64_FORMAT "\n", calls);
  if (self->images != self->runtime)
    g_string_append_printf (out, "edged_cri_calls_total{service=\"image\"} %" G_GUINT64_FORMAT "\n", image_calls);
  metric (out, "edged_cri_errors_total", "counter", "CRI calls that failed, by service.");
  g_string_append_printf (out, "edged_cri_errors_total{service=\"runtime\"} %" G_GUINT64_FORMAT "\n", errors);
  if (self->images != self->runtime)
    g_string_append_printf (out, "edged_cri_errors_total{service=\"image\"} %" G_GUINT64_FORMAT "\n", image_errors);
  metric (out, "edged_cri_pending_calls", "gauge", "CRI calls waiting for their answer.");
  g_string_append_printf (out, "edged_cri_pending_calls %u\n", edged_cri_client_get_pending (self->runtime));
  metric (out, "edged_runtime_ready", "gauge", "1 when the container runtime is ready.");
  g_string_append_printf (out, "edged_runtime_ready %d\n", self->health.ready ? 1 : 0);
  metric (out, "edged_cloud_connected", "gauge", "1 while the cloud link is up (as edgehub announced it).");
  g_string_append_printf (out, "edged_cloud_connected %d\n", self->connected ? 1 : 0);
  metric (out, "edged_node_registered", "gauge", "1 once the node registered with the cloud.");
  g_string_append_printf (out, "edged_node_registered %d\n", self->registered ? 1 : 0);
  metric (out, "edgecore_bus_waiting_sends", "gauge",
          "Sends of edged waiting for a module to be ready, by module.");
  g_string_append_printf (out, "edgecore_bus_waiting_sends{module=\"metamanager\"} %u\n",
                          ec_endpoint_get_waiting (self->endpoint, "metamanager"));
  bus_metrics (out, self->endpoint);
  metric (out, "edged_http_requests_total", "counter", "Requests to the local endpoints.");
  g_string_append_printf (out, "edged_http_requests_total %" G_GUINT64_FORMAT "\n", srv->requests);
  metric (out, "edged_http_responses_total", "counter", "Answers of the local endpoints, by status class.");
  for (guint i = 1; i < G_N_ELEMENTS (classes); i++)
    g_string_append_printf (out, "edged_http_responses_total{code=\"%s\"} %" G_GUINT64_FORMAT "\n",
                            classes[i], srv->responses[i]);
  metric (out, "edged_http_connections", "gauge", "Open connections to the local endpoints (streams apart).");
  g_string_append_printf (out, "edged_http_connections %u\n", g_hash_table_size (srv->conns));
  metric (out, "edged_http_connections_refused_total", "counter",
          "Connections shut at once: the connection limit was reached.");
  g_string_append_printf (out, "edged_http_connections_refused_total %" G_GUINT64_FORMAT "\n", srv->refused);
  metric (out, "edged_http_connections_timed_out_total", "counter",
          "Connections closed for slow headers or idleness.");
  g_string_append_printf (out, "edged_http_connections_timed_out_total %" G_GUINT64_FORMAT "\n", srv->timed_out);
  metric (out, "edged_streams", "gauge", "Log streams and exec/attach/portForward splices open.");
  g_string_append_printf (out, "edged_streams %u\n", srv->n_streams);
  metric (out, "edged_streams_by_kind", "gauge", "Log streams and splices open, by kind.");
  g_string_append_printf (out, "edged_streams_by_kind{kind=\"logs\"} %u\n", g_list_length (srv->logs));
  g_string_append_printf (out, "edged_streams_by_kind{kind=\"splice\"} %u\n", g_list_length (srv->splices));
  metric (out, "edged_stream_bytes_total", "counter", "Bytes relayed by exec/attach/portForward splices.");
  g_string_append_printf (out, "edged_stream_bytes_total %" G_GUINT64_FORMAT "\n", srv->stream_bytes);
  metric (out, "edged_log_bytes_total", "counter", "Bytes of container logs sent.");
  g_string_append_printf (out, "edged_log_bytes_total %" G_GUINT64_FORMAT "\n", srv->log_bytes);
  registered_metrics (out, self->endpoint);
  text = g_string_free (out, FALSE);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4; charset=utf-8", SOUP_MEMORY_TAKE, text,
                                    strlen (text));
}
