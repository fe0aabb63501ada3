/* metaserver.c: KubeEdge's metaserver, a local Kubernetes API for pods
 * on the node, served from metamanager's store (module and group
 * "metaserver"). So far it only joins the bus: it serves nothing. */
#include <edgecore.h>

#define METASERVER_BUS_NAME  "metaserver"
#define METASERVER_BUS_GROUP "metaserver"

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} MetaServer;

/* modules.metaManager.metaServer of edgecore.yaml v1alpha2, as its own
 * section; see docs/configuration.md. */
static const EcConfigKey metaserver_keys[] = {
  { EC_CONFIG_BOOL,        0, "enable", "false", "run metaserver" },
  { EC_CONFIG_STRING,      0, "server", "127.0.0.1:10550", "address metaserver listens on, host:port" },
  { EC_CONFIG_STRING,      0, "dummy-server", "169.254.30.10:10550", "second HTTPS address, on interface edge-dummy0" },
  { EC_CONFIG_STRING,      0, "tls-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate for metaserver's TLS (PEM)" },
  { EC_CONFIG_STRING,      0, "tls-cert-file", "/etc/kubeedge/certs/server.crt", "certificate for metaserver's TLS (PEM)" },
  { EC_CONFIG_STRING,      0, "tls-private-key-file", "/etc/kubeedge/certs/server.key", "private key for metaserver's TLS (PEM)" },
  { EC_CONFIG_STRING_LIST, 0, "service-account-issuers", "https://kubernetes.default.svc.cluster.local", "accepted issuers of service account tokens" },
  { EC_CONFIG_STRING_LIST, 0, "api-audiences", "", "accepted token audiences; empty: service-account-issuers" },
  { EC_CONFIG_STRING_LIST, 0, "service-account-key-files", "", "files of the keys that verify service account tokens" },
  { 0 }
};

/* Creates the plugin's state and reports where it sits on the bus. */
static gboolean
metaserver_init (EcPluginContext *context, gpointer *state, GError **error)
{
  MetaServer *self = g_new0 (MetaServer, 1);

  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  ec_log_info (context, "registered as %s/%s",
               ec_endpoint_get_name (self->endpoint),
               ec_endpoint_get_group (self->endpoint));
  *state = self;
  return TRUE;
}

/* Nothing to start yet. */
static gboolean
metaserver_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Nothing to stop yet. */
static void
metaserver_stop (gpointer state)
{
}

/* Frees the plugin's state. */
static void
metaserver_free (gpointer state)
{
  g_free (state);
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

/* Logs a message. A sync request gets an error reply at once, so that its
 * caller does not wait for its timeout. */
static void
metaserver_handle_message (gpointer state, EcMessage *message)
{
  MetaServer *self = state;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  if (!ec_message_get_sync (message) || is_reply (message))
    return;
  reply = ec_message_new_error (message, "metaserver has no behaviour yet");
  ec_message_set_source (reply, METASERVER_BUS_NAME);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_debug (self->context, "no one waits for a reply to %s: %s",
                  ec_message_get_id (message), error->message);
}

static const char *const metaserver_requires[] = { "metamanager", NULL };

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "metaserver",
  .version = EC_VERSION,
  .summary = "metaserver (metaserver/metaserver): local Kubernetes API — registers on the bus only; behaviour not built yet",
  .bus_name = METASERVER_BUS_NAME,
  .bus_group = METASERVER_BUS_GROUP,
  .requires = metaserver_requires,
  .config_keys = metaserver_keys,
  .init = metaserver_init,
  .start = metaserver_start,
  .stop = metaserver_stop,
  .free = metaserver_free,
  .handle_message = metaserver_handle_message,
};
