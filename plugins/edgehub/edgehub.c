/* edgehub.c: KubeEdge's edgehub, the link to cloudcore. On the bus it is
 * module "websocket" in group "hub", as in KubeEdge, whether the link runs
 * over websocket or QUIC. So far it only joins the bus: it neither dials
 * the cloud nor bootstraps certificates. */
#include <edgecore.h>

#define EDGEHUB_BUS_NAME  "websocket"
#define EDGEHUB_BUS_GROUP "hub"

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} EdgeHub;

/* modules.edgeHub of edgecore.yaml v1alpha2; see docs/configuration.md. */
static const EcConfigKey edgehub_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run edgehub" },
  { EC_CONFIG_INT,    0, "heartbeat", "15", "seconds between keepalives; a reconnect waits twice as long" },
  { EC_CONFIG_INT,    0, "message-qps", "30", "messages per second edgehub may send to the cloud" },
  { EC_CONFIG_INT,    0, "message-burst", "60", "burst allowed above message-qps" },
  { EC_CONFIG_STRING, 0, "project-id", "e632aba927ea4ac2b575ec1603d56f10", "project id sent in the project_id header" },
  { EC_CONFIG_STRING, 0, "tls-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate of cloudcore (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-cert-file", "/etc/kubeedge/certs/server.crt", "the node's client certificate (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-private-key-file", "/etc/kubeedge/certs/server.key", "the node's client key (PEM)" },
  { EC_CONFIG_STRING, 0, "token", "", "bootstrap token for the first certificate request" },
  { EC_CONFIG_STRING, 0, "http-server", "", "cloudcore's certificate server, e.g. https://<cloudcore-ip>:10002" },
  { EC_CONFIG_BOOL,   0, "rotate-certificates", "true", "renew the node certificate before it expires" },
  { EC_CONFIG_BOOL,   0, "websocket-enable", "true", "connect over websocket (exactly one of websocket and quic)" },
  { EC_CONFIG_STRING, 0, "websocket-server", "", "cloudcore's websocket address, host:port without scheme" },
  { EC_CONFIG_INT,    0, "websocket-handshake-timeout", "30", "websocket handshake timeout in seconds" },
  { EC_CONFIG_INT,    0, "websocket-read-deadline", "15", "websocket read deadline in seconds" },
  { EC_CONFIG_INT,    0, "websocket-write-deadline", "15", "websocket write deadline in seconds" },
  { EC_CONFIG_BOOL,   0, "quic-enable", "false", "connect over QUIC (exactly one of websocket and quic)" },
  { EC_CONFIG_STRING, 0, "quic-server", "", "cloudcore's QUIC address, host:port" },
  { EC_CONFIG_INT,    0, "quic-handshake-timeout", "30", "QUIC handshake timeout in seconds" },
  { EC_CONFIG_INT,    0, "quic-read-deadline", "15", "QUIC read deadline in seconds" },
  { EC_CONFIG_INT,    0, "quic-write-deadline", "15", "QUIC write deadline in seconds" },
  { 0 }
};

/* Creates the plugin's state and reports where it sits on the bus. */
static gboolean
edgehub_init (EcPluginContext *context, gpointer *state, GError **error)
{
  EdgeHub *self = g_new0 (EdgeHub, 1);

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
edgehub_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Nothing to stop yet. */
static void
edgehub_stop (gpointer state)
{
}

/* Frees the plugin's state. */
static void
edgehub_free (gpointer state)
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
edgehub_handle_message (gpointer state, EcMessage *message)
{
  EdgeHub *self = state;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  if (!ec_message_get_sync (message) || is_reply (message))
    return;
  reply = ec_message_new_error (message, "edgehub has no behaviour yet");
  ec_message_set_source (reply, EDGEHUB_BUS_NAME);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_debug (self->context, "no one waits for a reply to %s: %s",
                  ec_message_get_id (message), error->message);
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "edgehub",
  .version = EC_VERSION,
  .summary = "edgehub (websocket/hub): cloud link — registers on the bus only; behaviour not built yet",
  .bus_name = EDGEHUB_BUS_NAME,
  .bus_group = EDGEHUB_BUS_GROUP,
  .config_keys = edgehub_keys,
  .init = edgehub_init,
  .start = edgehub_start,
  .stop = edgehub_stop,
  .free = edgehub_free,
  .handle_message = edgehub_handle_message,
};
