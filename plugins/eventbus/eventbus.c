/* eventbus.c: KubeEdge's eventbus, the bridge between the bus and MQTT
 * (module "eventbus", group "bus"). So far it only joins the bus: it
 * neither runs nor dials an MQTT broker. */
#include <edgecore.h>

#define EVENTBUS_BUS_NAME  "eventbus"
#define EVENTBUS_BUS_GROUP "bus"

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} EventBus;

/* modules.eventBus of edgecore.yaml v1alpha2; eventBusTLS.* is flattened
 * with a tls- prefix. See docs/configuration.md. */
static const EcConfigKey eventbus_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run eventbus" },
  { EC_CONFIG_INT,    0, "mqtt-mode", "2", "0: internal broker, 1: both, 2: external broker" },
  { EC_CONFIG_STRING, 0, "mqtt-server-external", "tcp://127.0.0.1:1883", "address of the external MQTT broker" },
  { EC_CONFIG_STRING, 0, "mqtt-server-internal", "tcp://127.0.0.1:1884", "address of the internal MQTT broker" },
  { EC_CONFIG_INT,    0, "mqtt-qos", "0", "QoS of published messages: 0, 1 or 2" },
  { EC_CONFIG_BOOL,   0, "mqtt-retain", "false", "publish with the retain flag" },
  { EC_CONFIG_INT,    0, "mqtt-session-queue-size", "100", "size of the internal broker's session queue" },
  { EC_CONFIG_STRING, 0, "mqtt-sub-client-id", "", "MQTT client id of the subscriber; empty: generated" },
  { EC_CONFIG_STRING, 0, "mqtt-pub-client-id", "", "MQTT client id of the publisher; empty: generated" },
  { EC_CONFIG_STRING, 0, "mqtt-username", "", "MQTT user name" },
  { EC_CONFIG_STRING, 0, "mqtt-password", "", "MQTT password" },
  { EC_CONFIG_BOOL,   0, "tls-enable", "false", "connect to the MQTT broker over TLS" },
  { EC_CONFIG_STRING, 0, "tls-mqtt-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate of the MQTT broker (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-mqtt-cert-file", "/etc/kubeedge/certs/server.crt", "client certificate for the MQTT broker (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-mqtt-private-key-file", "/etc/kubeedge/certs/server.key", "client key for the MQTT broker (PEM)" },
  { 0 }
};

/* Creates the plugin's state and reports where it sits on the bus. */
static gboolean
eventbus_init (EcPluginContext *context, gpointer *state, GError **error)
{
  EventBus *self = g_new0 (EventBus, 1);

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
eventbus_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Nothing to stop yet. */
static void
eventbus_stop (gpointer state)
{
}

/* Frees the plugin's state. */
static void
eventbus_free (gpointer state)
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
eventbus_handle_message (gpointer state, EcMessage *message)
{
  EventBus *self = state;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  if (!ec_message_get_sync (message) || is_reply (message))
    return;
  reply = ec_message_new_error (message, "eventbus has no behaviour yet");
  ec_message_set_source (reply, EVENTBUS_BUS_NAME);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_debug (self->context, "no one waits for a reply to %s: %s",
                  ec_message_get_id (message), error->message);
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "eventbus",
  .version = EC_VERSION,
  .summary = "eventbus (eventbus/bus): MQTT bridge — registers on the bus only; behaviour not built yet",
  .bus_name = EVENTBUS_BUS_NAME,
  .bus_group = EVENTBUS_BUS_GROUP,
  .config_keys = eventbus_keys,
  .init = eventbus_init,
  .start = eventbus_start,
  .stop = eventbus_stop,
  .free = eventbus_free,
  .handle_message = eventbus_handle_message,
};
