/* devicetwin.c: KubeEdge's devicetwin, the node's record of devices and
 * their twins (module and group "twin").
 *
 * Devices live in memory (loaded at start) and in the shared store's
 * device, device_attr and device_twin tables. Mapper events arrive from
 * eventbus (source "bus", resource = base64url of the MQTT topic); answers
 * go back to eventbus as publish messages; twin changes are reported to the
 * cloud through edgehub (module websocket). Every change is committed
 * before it is announced (dt-store.c). */
#include "dt-types.h"
#include "dt-plugin.h"

#include <string.h>

void dt_store_finish (DeviceTwin *self);

/* modules.deviceTwin of edgecore.yaml v1alpha2; see docs/configuration.md. */
const EcConfigKey devicetwin_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run devicetwin" },
  { EC_CONFIG_STRING, 0, "dmi-sock-path", "/etc/kubeedge/", "directory of the DMI socket dmi.sock" },
  { 0 }
};

/* An MQTT event from eventbus (reference section 1.2 / classifyMsg). The
 * content is a JSON object (read in place) or a string holding the
 * payload. */
static void
handle_bus (DeviceTwin *self, EcMessage *message)
{
  g_autofree char *topic = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *owned = NULL;
  g_autofree char *full_topic = NULL;
  const char *payload;
  gsize payload_len;
  const char *id = NULL;
  const char *suffix;

  ec_metric_add (self->m_mqtt, 1);
  topic = ec_mqtt_topic_from_resource (ec_message_get_resource (message), &error);
  if (!topic)
    {
      ec_metric_add (self->m_rejected[0], 1);
      ec_plugin_context_log_message_limited (self->context, &self->rl_bad_topic, G_LOG_LEVEL_WARNING, message,
                                     "message %s from eventbus: resource is not a base64url topic: %s",
                                     ec_message_get_id (message), error->message);
      return;
    }
  payload = ec_message_get_content_json (message, &payload_len);
  if (payload_len == 0 || payload[0] != '{')
    {
      owned = ec_message_dup_content_string (message);
      payload = owned;
      payload_len = strlen (owned);
    }
  if (g_str_has_prefix (topic, "$hw/events/node/"))
    {
      /* a node name is never empty, though + matches an empty level */
      if (ec_mqtt_topic_matches ("$hw/events/node/+/membership/get", topic)
          && topic[strlen ("$hw/events/node/")] != '/')
        {
          if (!owned)
            payload = owned = g_strndup (payload, payload_len);
          dt_membership_handle_get (self, payload);
        }
      else
        ec_log_debug (self->context, "no handler for topic %s", topic);
      return;
    }
  if (!g_str_has_prefix (topic, "$hw/events/device/"))
    {
      ec_log_debug (self->context, "no handler for topic %s", topic);
      return;
    }
  full_topic = g_strdup (topic);
  if (!(suffix = dt_device_suffix (topic, &id)))
    {
      ec_log_debug (self->context, "no handler for topic %s", full_topic);
      return;
    }
  if (!dt_id_well_formed (id))
    {
      ec_metric_add (self->m_rejected[0], 1);
      ec_plugin_context_log_limited (self->context, &self->rl_bad_topic, G_LOG_LEVEL_WARNING, "topic %s has no valid device id; ignored", full_topic);
      return;
    }
  if (strlen (id) > DT_MAX_ID_LEN)
    {
      g_autofree char *result_topic = g_strconcat (full_topic, "/result", NULL);
      g_autofree char *reason = g_strdup_printf ("device id longer than %d bytes", DT_MAX_ID_LEN);
      ec_metric_add (self->m_rejected[0], 1);
      ec_plugin_context_log_limited (self->context, &self->rl_bad_topic, G_LOG_LEVEL_WARNING, "topic with a %zu-byte device id rejected", strlen (id));
      dt_publish_now (self, result_topic, dt_json_error ("", 400, reason));
      return;
    }
  if (strcmp (suffix, "/twin/update") == 0)
    dt_twin_handle_update (self, id, payload, payload_len);
  else if (strcmp (suffix, "/twin/get") == 0)
    dt_twin_handle_get (self, id, payload, payload_len);
  else
    {
      if (!owned)
        payload = owned = g_strndup (payload, payload_len);
      if (strcmp (suffix, "/state/update") == 0)
        dt_device_handle_state (self, id, payload);
      else
        {
          /* legacy twin/cloud_updated over MQTT: versions from the cloud */
          g_autoptr (EcMessage) m = ec_message_new ("bus", "twin", EC_OP_UPDATE, full_topic);
          ec_message_set_content_string (m, payload);
          dt_twin_handle_cloud_sync (self, m, id);
        }
    }
}

/* A message for devicetwin: MQTT events, cloud membership and twins,
 * confirmations of uploads, the cloud link state. */
void
devicetwin_handle_message (gpointer state, EcMessage *message)
{
  DeviceTwin *self = state;
  const char *source = ec_message_get_source (message);
  const char *op = ec_message_get_operation (message);
  const char *resource = ec_message_get_resource (message);
  const char *parent = ec_message_get_parent_id (message);

  if (parent && *parent)
    {
      dt_cloud_confirm (self, parent);
      return;
    }
  if (g_strcmp0 (source, "bus") == 0)
    {
      handle_bus (self, message);
      return;
    }
  EcCloudState cloud = ec_message_get_cloud_state (message);
  if (cloud != EC_CLOUD_STATE_NONE)
    {
      if (cloud != EC_CLOUD_STATE_INVALID)
        dt_cloud_set_connected (self, cloud == EC_CLOUD_STATE_CONNECTED);
      return;
    }
  if (resource && strstr (resource, "membership/detail"))
    dt_membership_handle_update (self, message, TRUE);
  else if (resource && strstr (resource, "membership"))
    dt_membership_handle_update (self, message, FALSE);
  else if (resource && g_str_has_prefix (resource, "device/") && g_str_has_suffix (resource, "/twin/cloud_updated"))
    {
      g_autofree char *id = g_strndup (resource + 7, strlen (resource) - 7 - strlen ("/twin/cloud_updated"));
      dt_twin_handle_cloud_sync (self, message, id);
    }
  else
    {
      ec_log_debug (self->context, "ignoring %s %s from %s", op, resource, source);
      if (ec_message_get_sync (message))
        {
          g_autoptr (EcMessage) reply = ec_message_new_error (message, "devicetwin: unsupported message");
          ec_message_set_source (reply, DEVICETWIN_BUS_NAME);
          ec_endpoint_respond (self->endpoint, reply, NULL);
        }
    }
}

/* Registers devicetwin's metrics. */
static void
register_metrics (DeviceTwin *self)
{
  const char *const topic[] = { "reason", "topic", NULL };
  const char *const payload[] = { "reason", "payload", NULL };
  const char *help = "Messages devicetwin rejected, by reason: topic (no valid device id or resource) "
                     "or payload (malformed, or a cloud twin sync for an unknown device).";
  self->m_mqtt = ec_endpoint_add_metric (self->endpoint, "edgecore_twin_mqtt_messages_total",
                                         EC_METRIC_COUNTER, "MQTT messages devicetwin got from eventbus.",
                                         NULL);
  self->m_rejected[0] = ec_endpoint_add_metric (self->endpoint, "edgecore_twin_rejected_total",
                                                EC_METRIC_COUNTER, help, topic);
  self->m_rejected[1] = ec_endpoint_add_metric (self->endpoint, "edgecore_twin_rejected_total",
                                                EC_METRIC_COUNTER, help, payload);
}

/* Frees the plugin's state. */
void
devicetwin_free (gpointer state)
{
  DeviceTwin *self = state;

  if (!self)
    return;
  dt_cloud_fini (self);
  if (self->pending)
    g_queue_free_full (self->pending, dt_txn_free);
  g_clear_pointer (&self->devices, g_hash_table_unref);
  g_clear_pointer (&self->outbox, outbox_free);
  if (self->json_buf)
    g_string_free (self->json_buf, TRUE);
  if (self->delta_buf)
    g_string_free (self->delta_buf, TRUE);
  if (self->out_topic)
    g_string_free (self->out_topic, TRUE);
  if (self->lasts)
    g_string_free (self->lasts, TRUE);
  g_free (self->node_name);
  g_free (self);
  dt_txn_pool_clear ();
}

/* Creates the tables and loads every device. */
gboolean
devicetwin_init (EcPluginContext *context, gpointer *state, GError **error)
{
  DeviceTwin *self = g_new0 (DeviceTwin, 1);
  EcLogLimit limit = EC_LOG_LIMIT_INIT (10);
  guint64 max_seq = 0;
  guint n_uplinks = 0;

  self->context = context;
  self->rl_bad_topic = limit;
  self->rl_bad_payload = limit;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  register_metrics (self);
  self->node_name = g_strdup (ec_plugin_context_get_node_name (context));
  self->devices = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, dt_device_free);
  self->pending = g_queue_new ();
  self->outbox = outbox_new (context);
  self->json_buf = g_string_sized_new (1024);
  self->delta_buf = g_string_sized_new (256);
  self->out_topic = g_string_sized_new (128);
  self->lasts = g_string_sized_new (256);
  self->store = ec_plugin_context_get_store (context, error);
  if (!self->store || !dt_store_create (self->store, error)
      || !dt_store_load (self->store, self->devices, &max_seq, &n_uplinks, error))
    {
      devicetwin_free (self);
      return FALSE;
    }
  dt_cloud_init (self, max_seq);
  ec_log_info (context, "%u devices loaded, %u twin messages wait for the cloud",
               g_hash_table_size (self->devices), n_uplinks);
  *state = self;
  return TRUE;
}

/* Nothing to start: devicetwin works on messages. The cloud is
 * disconnected until edgehub says otherwise. */
gboolean
devicetwin_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Writes what is pending. */
void
devicetwin_stop (gpointer state)
{
  DeviceTwin *self = state;
  dt_store_finish (self);
}
