/* dt-device.c: device state updates and membership (reference section
 * 4.3; KubeEdge's dtmanager/device.go and membership.go). */
#include "dt-types.h"

#include <string.h>

#define DEVICE_PREFIX "$hw/events/device/"

/* $hw/events/device/<id>/state/update: store the state, answer on
 * state/update/result and report to the cloud. Unknown devices and states
 * KubeEdge does not know are ignored, as KubeEdge does. */
void
dt_device_handle_state (DeviceTwin *self, const char *device_id, const char *payload)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = dt_parse_text (payload, &error);
  g_autofree char *event_id = NULL;
  g_autofree char *lower = NULL;
  g_autofree char *uuid = NULL;
  g_autofree char *topic = NULL;
  g_autofree char *resource = NULL;
  const char *state = NULL;
  JsonNode *sn;
  DtDevice *d;
  DtTxn *txn;
  GString *s;

  if (root && dt_parse_base (root, &event_id, &error))
    {
      sn = json_object_get_member (json_node_get_object (root), "state");
      if (sn && JSON_NODE_HOLDS_VALUE (sn) && json_node_get_value_type (sn) == G_TYPE_STRING)
        state = json_node_get_string (sn);
      else if (sn && !JSON_NODE_HOLDS_NULL (sn))
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "state has the wrong type");
    }
  if (error)
    {
      ec_metric_add (self->m_rejected[1], 1);
      ec_plugin_context_log_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING, "state update for %s ignored: %s",
                       device_id, error->message);
      return;
    }
  d = g_hash_table_lookup (self->devices, device_id);
  if (!d || !state)
    return;
  lower = g_ascii_strdown (state, -1);
  if (!g_strv_contains ((const char *const[]) { "online", "offline", "ok", "unknown", "unhealthy", NULL },
                        lower))
    return;
  g_free (d->state);
  d->state = g_strdup (state);
  g_free (d->last_online);
  if (strcmp (lower, "online") == 0 || strcmp (lower, "ok") == 0)
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
      d->last_online = g_date_time_format (now, "%Y-%m-%dT%H:%M:%SZ");
    }
  else
    d->last_online = g_strdup ("");

  txn = dt_txn_new ();
  dt_txn_device_put (txn, d);
  uuid = ec_new_uuid ();
  s = g_string_new ("{");
  dt_json_base (s, uuid, g_get_real_time () / 1000);
  g_string_append (s, ",\"device\":{");
  {
    gboolean comma = FALSE;
    struct { const char *k, *v; } f[] = {
      { "name", d->name }, { "state", d->state }, { "lastOnlineTime", d->last_online } };
    for (guint i = 0; i < G_N_ELEMENTS (f); i++)
      if (f[i].v && *f[i].v)
        {
          if (comma)
            g_string_append_c (s, ',');
          comma = TRUE;
          g_string_append_printf (s, "\"%s\":", f[i].k);
          ec_json_append_string (s, f[i].v);
        }
  }
  g_string_append (s, "}}");
  topic = g_strconcat (DEVICE_PREFIX, d->id, "/state/update/result", NULL);
  resource = g_strconcat ("device/", d->id, "/state/update", NULL);
  dt_cloud_upload (self, txn, resource, s->str, TRUE);
  dt_publish (txn, topic, g_string_free (s, FALSE));
  dt_commit (self, txn);
}

/* Orders devices by id. */
static int
cmp_device (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(DtDevice *const *) a)->id, (*(DtDevice *const *) b)->id);
}

/* $hw/events/node/<node>/membership/get: every device (no twins). */
void
dt_membership_handle_get (DeviceTwin *self, const char *payload)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = dt_parse_text (payload, &error);
  g_autofree char *event_id = NULL;
  g_autofree char *topic = g_strconcat ("$hw/events/node/", self->node_name,
                                        "/membership/get/result", NULL);
  g_autoptr (GPtrArray) list = NULL;
  GHashTableIter iter;
  gpointer value;
  GString *s;

  if (!root || !dt_parse_base (root, &event_id, &error))
    {
      g_autofree char *reason = g_strdup_printf ("Unmarshal get membership info %.200s failed , err: %s",
                                                 payload, error->message);
      ec_metric_add (self->m_rejected[1], 1);
      ec_plugin_context_log_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING, "membership get rejected: %s", error->message);
      dt_publish_now (self, topic, dt_json_error ("", 400, reason));
      return;
    }
  list = g_ptr_array_sized_new (g_hash_table_size (self->devices));
  g_hash_table_iter_init (&iter, self->devices);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (list, value);
  g_ptr_array_sort (list, cmp_device);
  s = g_string_sized_new (64 + 64 * list->len);
  g_string_append_c (s, '{');
  dt_json_base (s, event_id, g_get_real_time () / 1000);
  g_string_append (s, ",\"devices\":[");
  for (guint i = 0; i < list->len; i++)
    {
      if (i)
        g_string_append_c (s, ',');
      dt_json_device (s, list->pdata[i], FALSE);
    }
  g_string_append (s, "]}");
  dt_publish_now (self, topic, g_string_free (s, FALSE));
}

/* Makes d's attributes those of given (dealType 1 of DealMsgAttr) and
 * publishes $hw/events/device/<id>/updated when something changed. */
static void
replace_attrs (DtTxn *txn, DtDevice *d, GHashTable *given)
{
  GString *s = NULL;
  GHashTableIter iter;
  gpointer key, value;
  guint n;
  g_autofree char **keys = NULL;

#define START() G_STMT_START { \
    if (!s) { s = g_string_new ("{"); dt_json_base (s, "", g_get_real_time () / 1000); \
              g_string_append (s, ",\"attributes\":{"); } \
    else g_string_append_c (s, ','); } G_STMT_END

  keys = dt_sorted_keys (given, &n);
  for (guint i = 0; i < n; i++)
    {
      DtAttr *a = g_hash_table_lookup (given, keys[i]);
      DtAttr *old = g_hash_table_lookup (d->attrs, keys[i]);
      if (old && g_strcmp0 (old->value, a->value) == 0
          && g_strcmp0 (old->attr_type, a->attr_type) == 0 && old->optional == a->optional)
        continue;
      old = dt_attr_new (a->name);
      g_free (old->value);
      old->value = g_strdup (a->value);
      old->optional = a->optional;
      g_free (old->attr_type);
      old->attr_type = g_strdup (a->attr_type);
      old->metadata = g_strdup (a->metadata);
      g_hash_table_replace (d->attrs, old->name, old);
      dt_txn_attr_put (txn, d->id, old);
      START ();
      ec_json_append_string (s, old->name);
      g_string_append (s, ":{\"value\":");
      ec_json_append_string (s, old->value);
      g_string_append (s, old->optional ? ",\"optional\":true" : ",\"optional\":false");
      g_string_append (s, ",\"metadata\":{\"type\":");
      ec_json_append_string (s, old->attr_type);
      g_string_append (s, "}}");
    }
  g_hash_table_iter_init (&iter, d->attrs);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (given, key))
      {
        dt_txn_op (txn, DT_OP_ATTR_DEL, 2, (const char *[]) { d->id, key });
        START ();
        ec_json_append_string (s, key);
        g_string_append (s, ":null");
        g_hash_table_iter_remove (&iter);
      }
#undef START
  if (s)
    {
      g_autofree char *topic = g_strconcat (DEVICE_PREFIX, d->id, "/updated", NULL);
      g_string_append (s, "}}");
      dt_publish (txn, topic, g_string_free (s, FALSE));
    }
}

/* Publishes $hw/events/node/<node>/membership/updated for one device. */
static void
publish_membership (DeviceTwin *self, DtTxn *txn, const DtDevice *d, gboolean added)
{
  g_autofree char *uuid = ec_new_uuid ();
  g_autofree char *topic = g_strconcat ("$hw/events/node/", self->node_name,
                                        "/membership/updated", NULL);
  GString *s = g_string_new ("{");

  dt_json_base (s, uuid, g_get_real_time () / 1000);
  g_string_append (s, added ? ",\"added_devices\":[" : ",\"added_devices\":null,\"removed_devices\":[");
  dt_json_device (s, d, TRUE);
  g_string_append (s, added ? "],\"removed_devices\":null}" : "]}");
  dt_publish (txn, topic, g_string_free (s, FALSE));
}

/* Adds a device from the cloud, or updates the one there (addDevice). */
static void
add_device (DeviceTwin *self, DtTxn *txn, DtDevice *given, DtTwinUpdate *twins)
{
  DtDevice *d = g_hash_table_lookup (self->devices, given->id);

  if (d)
    {
      replace_attrs (txn, d, given->attrs);
      if (twins)
        dt_twin_apply_sync (self, txn, d, twins);
      return;
    }
  d = dt_device_new (given->id);
  d->name = g_strdup (given->name);
  d->description = g_strdup (given->description);
  d->state = g_strdup (given->state);
  g_hash_table_replace (self->devices, d->id, d);
  dt_txn_device_put (txn, d);
  if (twins)
    dt_twin_apply_sync (self, txn, d, twins);
  if (g_hash_table_size (given->attrs) > 0)
    replace_attrs (txn, d, given->attrs);
  publish_membership (self, txn, d, TRUE);
}

/* Removes a device (removeDevice). */
static void
remove_device (DeviceTwin *self, DtTxn *txn, DtDevice *given)
{
  DtDevice *d = g_hash_table_lookup (self->devices, given->id);

  if (!d)
    return;
  dt_txn_op (txn, DT_OP_DEVICE_DEL, 1, (const char *[]) { d->id });
  publish_membership (self, txn, given, FALSE);
  g_hash_table_remove (self->devices, given->id);
}

/* Reads an array of devices; FALSE on a type error. */
static gboolean
parse_devices (JsonObject *o, const char *member, GPtrArray *devices, GPtrArray *twins,
               GError **error)
{
  JsonNode *n = json_object_get_member (o, member);
  JsonArray *a;

  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (n))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not an array", member);
      return FALSE;
    }
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      DtTwinUpdate *t = NULL;
      DtDevice *d = dt_parse_device (json_array_get_element (a, i), &t, error);
      if (!d)
        return FALSE;
      g_ptr_array_add (devices, d);
      g_ptr_array_add (twins, t);
    }
  return TRUE;
}

/* A membership message from the cloud: group twin, resource membership
 * (MembershipUpdate) or membership/detail (MembershipDetail: the complete
 * list). Stored, announced to mappers, then acknowledged. */
void
dt_membership_handle_update (DeviceTwin *self, EcMessage *message, gboolean detail)
{
  g_autofree char *text = ec_message_dup_content_string (message);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = dt_parse_text (text, &error);
  g_autoptr (GPtrArray) added = g_ptr_array_new_with_free_func (dt_device_free);
  g_autoptr (GPtrArray) added_twins = g_ptr_array_new_with_free_func ((GDestroyNotify) dt_twin_update_free);
  g_autoptr (GPtrArray) removed = g_ptr_array_new_with_free_func (dt_device_free);
  g_autoptr (GPtrArray) removed_twins = g_ptr_array_new_with_free_func ((GDestroyNotify) dt_twin_update_free);
  g_autofree char *event_id = NULL;
  DtTxn *txn;

  if (root && !JSON_NODE_HOLDS_OBJECT (root))
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "content is not a JSON object");
  if (!error && dt_parse_base (root, &event_id, &error))
    {
      JsonObject *o = json_node_get_object (root);
      if (detail)
        parse_devices (o, "devices", added, added_twins, &error);
      else if (parse_devices (o, "added_devices", added, added_twins, &error))
        parse_devices (o, "removed_devices", removed, removed_twins, &error);
    }
  if (error)
    {
      ec_metric_add (self->m_rejected[1], 1);
      ec_plugin_context_log_message_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING, message, "membership message %s from %s ignored: %s",
                       ec_message_get_id (message), ec_message_get_source (message), error->message);
      return;
    }
  txn = dt_txn_new ();
  for (guint i = 0; i < added->len; i++)
    add_device (self, txn, added->pdata[i], added_twins->pdata[i]);
  if (detail)
    {
      g_autoptr (GHashTable) keep = g_hash_table_new (g_str_hash, g_str_equal);
      GHashTableIter iter;
      gpointer key;
      for (guint i = 0; i < added->len; i++)
        g_hash_table_add (keep, ((DtDevice *) added->pdata[i])->id);
      g_hash_table_iter_init (&iter, self->devices);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        if (!g_hash_table_contains (keep, key))
          g_ptr_array_add (removed, dt_device_new (key));
    }
  for (guint i = 0; i < removed->len; i++)
    remove_device (self, txn, removed->pdata[i]);
  if (added->len || removed->len)
    ec_log_info (self->context, "membership: %u devices added or updated, %u removed",
                 added->len, removed->len);
  dt_cloud_ack (self, txn, message);
  dt_commit (self, txn);
}
