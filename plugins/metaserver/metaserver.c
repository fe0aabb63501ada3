/* metaserver.c: KubeEdge's metaserver, a local Kubernetes API served from
 * metamanager's meta_v2 table (module and group "metaserver"). This file
 * holds the plugin's life cycle and its bus side: the cloud connection
 * state and metamanager's change feed, which drives the watches. */
#include "ms.h"
#include "ms-plugin.h"

#include <string.h>

/* modules.metaManager.metaServer of edgecore.yaml v1alpha2, as its own
 * section; see docs/configuration.md. */
const EcConfigKey metaserver_keys[] = {
  { EC_CONFIG_BOOL,        0, "enable", "false", "run metaserver" },
  { EC_CONFIG_STRING,      0, "server", "127.0.0.1:10550", "address metaserver listens on, host:port" },
  { EC_CONFIG_STRING,      0, "dummy-server", "169.254.30.10:10550", "second HTTPS address, on interface edge-dummy0" },
  { EC_CONFIG_STRING,      0, "tls-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate for metaserver's TLS (PEM)" },
  { EC_CONFIG_STRING,      0, "tls-cert-file", "/etc/kubeedge/certs/server.crt", "certificate for metaserver's TLS (PEM)" },
  { EC_CONFIG_STRING,      0, "tls-private-key-file", "/etc/kubeedge/certs/server.key", "private key for metaserver's TLS (PEM)" },
  { EC_CONFIG_STRING_LIST, 0, "service-account-issuers", "https://kubernetes.default.svc.cluster.local", "accepted issuers of service account tokens" },
  { EC_CONFIG_STRING_LIST, 0, "api-audiences", "", "accepted token audiences; empty: service-account-issuers" },
  { EC_CONFIG_STRING_LIST, 0, "service-account-key-files", "", "files of the keys that verify service account tokens" },
  { EC_CONFIG_BOOL,        0, "require-authorization", "false", "featureGates.requireAuthorization: serve HTTPS on server, requiring client certificates signed by tls-ca-file" },
  { EC_CONFIG_INT,         0, "watch-window", "10000", "change events kept in memory for watches that resume from a resourceVersion; older: 410 Gone" },
  { EC_CONFIG_INT,         0, "watch-bookmark-interval", "60", "seconds between BOOKMARK events on watches that allow them" },
  { EC_CONFIG_INT,         0, "cloud-timeout", "10", "seconds a write waits for the cloud's answer" },
  { EC_CONFIG_INT,         0, "max-connections", "400", "HTTP connections open at once (kube-apiserver's max-requests-inflight); 0: no limit" },
  { EC_CONFIG_INT,         0, "read-header-timeout", "32", "seconds a request has for its headers (kube-apiserver's ReadHeaderTimeout); 0: no limit" },
  { EC_CONFIG_INT,         0, "read-timeout", "60", "seconds a request has for its headers and body; 0: no limit" },
  { EC_CONFIG_INT,         0, "idle-timeout", "90", "seconds a kept-alive connection may wait for its next request (kube-apiserver's IdleTimeout); 0: no limit" },
  { 0 }
};

/* Registers metaserver's metrics. */
static void
register_metrics (MetaServer *self)
{
  for (guint v = 0; v < G_N_ELEMENTS (self->m_requests); v++)
    {
      const char *const labels[] = { "verb", ms_verb_name ((MsVerb) v), NULL };
      self->m_requests[v] = ec_endpoint_add_metric (self->endpoint, "edgecore_metaserver_requests_total",
                                                    EC_METRIC_COUNTER, "Kubernetes API requests to "
                                                    "metaserver for a known resource, by verb.", labels);
    }
  self->m_watches = ec_endpoint_add_metric (self->endpoint, "edgecore_metaserver_watches",
                                            EC_METRIC_GAUGE, "Watches open on metaserver.", NULL);
}

/* Creates the plugin's state and opens the shared store. */
gboolean
metaserver_init (EcPluginContext *context, gpointer *state, GError **error)
{
  MetaServer *self = g_new0 (MetaServer, 1);

  self->refcount = 1;
  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  register_metrics (self);
  self->node_name = g_strdup (ec_plugin_context_get_node_name (context));
  self->registry = ms_registry_new ();
  self->rv_column = "resource_version";
  self->watch_window = CLAMP (ec_plugin_context_get_int (context, "watch-window"), 1, 10000000);
  self->bookmark_interval = CLAMP (ec_plugin_context_get_int (context, "watch-bookmark-interval"), 0, 86400);
  self->cloud_timeout_ms = CLAMP (ec_plugin_context_get_int (context, "cloud-timeout"), 1, 3600) * 1000;
  self->conn_config.max_connections = CLAMP (ec_plugin_context_get_int (context, "max-connections"), 0, 65536);
  self->conn_config.read_header_timeout = CLAMP (ec_plugin_context_get_int (context, "read-header-timeout"), 0, 86400);
  self->conn_config.read_timeout = CLAMP (ec_plugin_context_get_int (context, "read-timeout"), 0, 86400);
  self->conn_config.idle_timeout = CLAMP (ec_plugin_context_get_int (context, "idle-timeout"), 0, 86400);
  self->watch = ms_watch_hub_new (self, (guint) self->watch_window);
  self->store = ec_plugin_context_get_store (context, error);
  if (!self->store)
    {
      ms_unref (self);
      return FALSE;
    }
  *state = self;
  return TRUE;
}

/* Reads what meta_v2 holds (its revision and resources), then listens. */
gboolean
metaserver_start (gpointer state, GError **error)
{
  MetaServer *self = state;
  MsScanJob *scan = g_new0 (MsScanJob, 1);
  gboolean ok;

  scan->revision = G_MAXUINT64;   /* ask for the highest resourceVersion */
  ok = ec_store_read_sync (self->store, ms_store_scan_func, scan, error);
  if (ok)
    {
      ms_apply_scan (self, scan);
      self->revision = scan->revision == G_MAXUINT64 ? 0 : scan->revision;
      ms_watch_set_floor (self->watch, self->revision);
      if (!scan->has_table)
        ec_log_message (self->context, "meta_v2 does not exist yet: serving an empty store");
      else if (scan->old_columns)
        ec_log_message (self->context, "meta_v2 has KubeEdge v1.9.2's column names; reading them as they are");
      ec_log_info (self->context, "meta_v2 at revision %" G_GUINT64_FORMAT, self->revision);
    }
  ms_scan_job_free (scan);
  return ok && ms_http_start (self, error);
}

/* Ends the watches, closes the listener; answers still in flight are dropped. */
void
metaserver_stop (gpointer state)
{
  MetaServer *self = state;
  self->stopped = TRUE;
  ms_http_stop (self);
}

/* Frees the plugin's state once nothing in flight uses it. */
void
metaserver_free (gpointer state)
{
  MetaServer *self = state;
  self->stopped = TRUE;
  ms_unref (self);
}

/* Tells whether a message answers an earlier one. */
static gboolean
is_reply (EcMessage *message)
{
  const char *parent = ec_message_get_parent_id (message);
  const char *op = ec_message_get_operation (message);

  return (parent && *parent) || g_strcmp0 (op, EC_OP_RESPONSE) == 0
         || g_strcmp0 (op, EC_OP_ERROR) == 0;
}

/* edgehub's cloud_connected / cloud_disconnected. */
static void
handle_connect (MetaServer *self, EcMessage *message, EcCloudState state)
{
  if (state == EC_CLOUD_STATE_INVALID)
    {
      g_autofree char *text = ec_message_dup_content_string (message);
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, message,
                                     "connect message with unknown state %s", text);
      return;
    }
  self->connected = state == EC_CLOUD_STATE_CONNECTED;
  ec_log_info (self->context, "cloud %s", self->connected ? "connected" : "disconnected");
}

/* Sets metadata.resourceVersion of an object. */
static void
set_resource_version (JsonObject *obj, guint64 rv)
{
  JsonObject *meta = ms_json_get_object (obj, "metadata");
  g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, rv);
  if (meta)
    json_object_set_string_member (meta, "resourceVersion", text);
}

/* Parses JSON into a tree that may be changed. */
static JsonNode *
parse_mutable (const char *text, gssize len, GError **error)
{
  if (!text)
    return NULL;
  return ec_json_parse (text, len < 0 ? strlen (text) : (gsize) len, 0, 0, error);
}

/* One change of meta_v2, from metamanager: becomes a watch event. */
static void
handle_change (MetaServer *self, EcMessage *message)
{
  const char *op = ec_message_get_operation (message);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *group = NULL, *version = NULL, *resource = NULL;
  g_autofree char *key = NULL, *prefix = NULL, *text = NULL;
  MsEventType type;
  JsonObject *obj;
  const char *kind, *api_version;
  const MsResource *res;
  MsObjAttrs *attrs;
  guint64 rv = 0;
  JsonNode *content;

  content = ec_message_get_content_node (message, &error);   /* borrowed, sealed */
  if (strcmp (op, EC_OP_INSERT) == 0)
    type = MS_EVENT_ADDED;
  else if (strcmp (op, EC_OP_UPDATE) == 0)
    type = MS_EVENT_MODIFIED;
  else if (strcmp (op, EC_OP_DELETE) == 0)
    type = MS_EVENT_DELETED;
  else
    {
      ec_log_debug (self->context, "ignoring %s %s from metamanager", op, ec_message_get_resource (message));
      return;
    }
  if (content && JSON_NODE_HOLDS_VALUE (content) && json_node_get_value_type (content) == G_TYPE_STRING)
    node = parse_mutable (json_node_get_string (content), -1, &error);   /* JSON inside a string */
  else if (content)
    {
      gsize len;
      const char *raw = ec_message_get_content_json (message, &len);
      node = parse_mutable (raw, (gssize) len, &error);
    }
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    {
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, message,
                                     "change feed %s %s: content is not a JSON object%s%s", op,
                      ec_message_get_resource (message), error ? ": " : "", error ? error->message : "");
      return;
    }
  obj = json_node_get_object (node);
  kind = ms_json_get_string (obj, "kind");
  api_version = ms_json_get_string (obj, "apiVersion");
  if (!kind || !*kind || !ms_split_api_version (api_version, &group, &version))
    {
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, message,
                                     "change feed %s %s: the object has no apiVersion/kind; not watchable",
                      op, ec_message_get_resource (message));
      return;
    }
  res = ms_registry_lookup_kind (self->registry, group, version, kind);
  resource = res ? g_strdup (res->resource) : ms_kind_to_resource (kind);
  attrs = ms_obj_attrs_from_node (node);
  if (!attrs->name || !*attrs->name)
    {
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, message,
                                     "change feed %s %s: the object has no metadata.name",
                      op, ec_message_get_resource (message));
      ms_obj_attrs_free (attrs);
      return;
    }
  if (!res)
    ms_registry_learn (self->registry, group, version, resource, kind,
                       attrs->namespace && *attrs->namespace);
  if (!ms_parse_uint64 (ec_message_get_resource_version (message), &rv))
    rv = attrs->resource_version;
  if (type == MS_EVENT_DELETED)
    {
      /* a deletion is a change of its own: it gets a revision after every
       * earlier one, and the deleted object carries it (as in Kubernetes) */
      if (rv <= self->revision)
        rv = self->revision + 1;
      if (attrs->resource_version != rv)
        {
          set_resource_version (obj, rv);
          attrs->resource_version = rv;
        }
    }
  self->revision = MAX (self->revision, rv);
  key = ms_store_key (group, version, resource, attrs->namespace, attrs->name);
  prefix = ms_store_key (group, version, resource, NULL, NULL);
  prefix[strlen (prefix) - strlen ("null/")] = '\0';
  text = ms_json_to_string (node);
  ms_watch_publish (self->watch, type, rv, key, prefix, resource, text, attrs);
}

/* Connection state from edgehub, changes from metamanager; a sync request
 * from anyone else gets an error reply at once. */
void
metaserver_handle_message (gpointer state, EcMessage *message)
{
  MetaServer *self = state;
  const char *op = ec_message_get_operation (message);
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  if (self->stopped)
    return;
  EcCloudState cloud = ec_message_get_cloud_state (message);
  if (cloud != EC_CLOUD_STATE_NONE)
    {
      handle_connect (self, message, cloud);
      return;
    }
  if (g_strcmp0 (ec_message_get_source (message), "metamanager") == 0 && !is_reply (message))
    {
      handle_change (self, message);
      return;
    }
  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                op, ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  if (!ec_message_get_sync (message) || is_reply (message))
    return;
  reply = ec_message_new_error (message, "metaserver takes no requests on the bus; use its HTTP API");
  ec_message_set_source (reply, METASERVER_BUS_NAME);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_debug (self->context, "no one waits for a reply to %s: %s",
                  ec_message_get_id (message), error->message);
}

const char *const metaserver_requires[] = { "metamanager", NULL };
