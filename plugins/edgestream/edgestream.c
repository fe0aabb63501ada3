/* edgestream.c: KubeEdge's edgestream, the tunnel that serves the cloud's
 * kubectl logs, exec, attach and metrics (module and group "edgestream").
 * So far it only joins the bus: it does not open the tunnel. */
#include <edgecore.h>

#define EDGESTREAM_BUS_NAME  "edgestream"
#define EDGESTREAM_BUS_GROUP "edgestream"

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} EdgeStream;

/* modules.edgeStream of edgecore.yaml v1alpha2; see docs/configuration.md. */
static const EcConfigKey edgestream_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "false", "run edgestream" },
  { EC_CONFIG_STRING, 0, "server", "127.0.0.1:10004", "cloudcore's stream tunnel address, host:port" },
  { EC_CONFIG_INT,    0, "handshake-timeout", "30", "tunnel handshake timeout in seconds" },
  { EC_CONFIG_INT,    0, "read-deadline", "15", "tunnel read deadline in seconds" },
  { EC_CONFIG_INT,    0, "write-deadline", "15", "tunnel write deadline in seconds" },
  { EC_CONFIG_STRING, 0, "tls-tunnel-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate of the tunnel server (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-tunnel-cert-file", "/etc/kubeedge/certs/server.crt", "client certificate for the tunnel (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-tunnel-private-key-file", "/etc/kubeedge/certs/server.key", "client key for the tunnel (PEM)" },
  { 0 }
};

/* Creates the plugin's state and reports where it sits on the bus. */
static gboolean
edgestream_init (EcPluginContext *context, gpointer *state, GError **error)
{
  EdgeStream *self = g_new0 (EdgeStream, 1);

  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  ec_log_info (context, "registered as %s/%s",
               ec_endpoint_get_name (self->endpoint),
               ec_endpoint_get_group (self->endpoint));
  *state = self;
  return TRUE;
}

/* Frees the plugin's state. */
static void
edgestream_free (gpointer state)
{
  g_free (state);
}

/* Logs a message. A sync request gets an error reply at once, so that its
 * caller does not wait for its timeout. */
static void
edgestream_handle_message (gpointer state, EcMessage *message)
{
  EdgeStream *self = state;

  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  ec_endpoint_respond_error (self->endpoint, message, "edgestream has no behaviour yet");
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "edgestream",
  .version = EC_VERSION,
  .summary = "edgestream (edgestream/edgestream): logs/exec tunnel — registers on the bus only; behaviour not built yet",
  .bus_name = EDGESTREAM_BUS_NAME,
  .bus_group = EDGESTREAM_BUS_GROUP,
  .config_keys = edgestream_keys,
  .init = edgestream_init,
  .free = edgestream_free,
  .handle_message = edgestream_handle_message,
};
