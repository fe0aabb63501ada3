/* metamanager.c: KubeEdge's metamanager, the node's store of the objects
 * the cloud sent (module "metamanager", group "meta"). So far it only joins
 * the bus: it neither keeps the sqlite store nor answers queries. */
#include <edgecore.h>

#define METAMANAGER_BUS_NAME  "metamanager"
#define METAMANAGER_BUS_GROUP "meta"

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} MetaManager;

/* modules.metaManager of edgecore.yaml v1alpha2 (metaServer has its own
 * plugin); see docs/configuration.md. */
static const EcConfigKey metamanager_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run metamanager" },
  { EC_CONFIG_STRING, 0, "context-send-group", "hub", "group that cloud-bound messages go to" },
  { EC_CONFIG_STRING, 0, "context-send-module", "websocket", "module that remote queries go to" },
  { EC_CONFIG_INT,    0, "remote-query-timeout", "60", "seconds to wait for the cloud to answer a query" },
  { 0 }
};

/* Creates the plugin's state and reports where it sits on the bus. */
static gboolean
metamanager_init (EcPluginContext *context, gpointer *state, GError **error)
{
  MetaManager *self = g_new0 (MetaManager, 1);

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
metamanager_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Nothing to stop yet. */
static void
metamanager_stop (gpointer state)
{
}

/* Frees the plugin's state. */
static void
metamanager_free (gpointer state)
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
metamanager_handle_message (gpointer state, EcMessage *message)
{
  MetaManager *self = state;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  if (!ec_message_get_sync (message) || is_reply (message))
    return;
  reply = ec_message_new_error (message, "metamanager has no behaviour yet");
  ec_message_set_source (reply, METAMANAGER_BUS_NAME);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_debug (self->context, "no one waits for a reply to %s: %s",
                  ec_message_get_id (message), error->message);
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "metamanager",
  .version = EC_VERSION,
  .summary = "metamanager (metamanager/meta): local metadata store — registers on the bus only; behaviour not built yet",
  .bus_name = METAMANAGER_BUS_NAME,
  .bus_group = METAMANAGER_BUS_GROUP,
  .config_keys = metamanager_keys,
  .init = metamanager_init,
  .start = metamanager_start,
  .stop = metamanager_stop,
  .free = metamanager_free,
  .handle_message = metamanager_handle_message,
};
