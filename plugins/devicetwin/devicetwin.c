/* devicetwin.c: KubeEdge's devicetwin, the node's record of device state
 * and the DMI server for mappers (module and group "twin"). So far it only
 * joins the bus: it neither keeps twins nor serves DMI. */
#include <edgecore.h>

#define DEVICETWIN_BUS_NAME  "twin"
#define DEVICETWIN_BUS_GROUP "twin"

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} DeviceTwin;

/* modules.deviceTwin of edgecore.yaml v1alpha2; see docs/configuration.md. */
static const EcConfigKey devicetwin_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run devicetwin" },
  { EC_CONFIG_STRING, 0, "dmi-sock-path", "/etc/kubeedge/", "directory of the DMI socket dmi.sock" },
  { 0 }
};

/* Creates the plugin's state and reports where it sits on the bus. */
static gboolean
devicetwin_init (EcPluginContext *context, gpointer *state, GError **error)
{
  DeviceTwin *self = g_new0 (DeviceTwin, 1);

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
devicetwin_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Nothing to stop yet. */
static void
devicetwin_stop (gpointer state)
{
}

/* Frees the plugin's state. */
static void
devicetwin_free (gpointer state)
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
devicetwin_handle_message (gpointer state, EcMessage *message)
{
  DeviceTwin *self = state;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  if (!ec_message_get_sync (message) || is_reply (message))
    return;
  reply = ec_message_new_error (message, "devicetwin has no behaviour yet");
  ec_message_set_source (reply, DEVICETWIN_BUS_NAME);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_debug (self->context, "no one waits for a reply to %s: %s",
                  ec_message_get_id (message), error->message);
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "devicetwin",
  .version = EC_VERSION,
  .summary = "devicetwin (twin/twin): device twins and DMI — registers on the bus only; behaviour not built yet",
  .bus_name = DEVICETWIN_BUS_NAME,
  .bus_group = DEVICETWIN_BUS_GROUP,
  .config_keys = devicetwin_keys,
  .init = devicetwin_init,
  .start = devicetwin_start,
  .stop = devicetwin_stop,
  .free = devicetwin_free,
  .handle_message = devicetwin_handle_message,
};
