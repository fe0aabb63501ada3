/* fuzz-twin.c: devicetwin's MQTT payloads, read as devicetwin reads them
 * for their topic (devicetwin.c handle_bus): membership/get, twin/update,
 * twin/get, state/update and twin/cloud_updated, and the cloud's
 * membership lists. Input: "topic payload", split at the first space, as
 * the lines of the v1.9.2 capture; eventbus's repair of a payload that is
 * not UTF-8 applies first. */
#include "fuzz-common.h"

#include <edgecore.h>

#include "dt-types.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* What dt_device_handle_state and dt_membership_handle_get read. */
static void
read_base_and_state (const char *payload)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = dt_parse_text (payload, &error);
  g_autofree char *event_id = NULL;

  if (root && dt_parse_base (root, &event_id, &error))
    {
      JsonNode *sn = json_object_get_member (json_node_get_object (root), "state");
      if (sn && JSON_NODE_HOLDS_VALUE (sn) && json_node_get_value_type (sn) == G_TYPE_STRING)
        (void) json_node_get_string (sn);
    }
}

/* What dt_membership_handle_update reads of the cloud's lists. */
static void
read_membership (const char *payload)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = dt_parse_text (payload, &error);
  g_autofree char *event_id = NULL;
  static const char *const lists[] = { "added_devices", "removed_devices", "devices" };

  if (!root || !JSON_NODE_HOLDS_OBJECT (root) || !dt_parse_base (root, &event_id, &error))
    return;
  for (guint k = 0; k < G_N_ELEMENTS (lists); k++)
    {
      JsonNode *n = json_object_get_member (json_node_get_object (root), lists[k]);
      JsonArray *a;
      if (!n || !JSON_NODE_HOLDS_ARRAY (n))
        continue;
      a = json_node_get_array (n);
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          DtTwinUpdate *t = NULL;
          g_autoptr (GError) e = NULL;
          DtDevice *d = dt_parse_device (json_array_get_element (a, i), &t, &e);
          if (!d)
            {
              g_assert_nonnull (e);
              break;
            }
          dt_device_free (d);
          if (t)
            dt_twin_update_free (t);
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *topic = NULL;
  g_autofree char *payload = NULL;
  g_autofree char *fixed = NULL;
  g_autoptr (GError) error = NULL;
  const uint8_t *rest;
  size_t rest_size;
  const char *text, *id = NULL, *suffix;
  gsize len;

  fuzz_init ();
  if (!fuzz_split (data, size, ' ', &topic, &rest, &rest_size))
    return 0;
  payload = fuzz_strndup (rest, rest_size);
  text = payload;
  len = rest_size;
  if (!g_utf8_validate_len (text, len, NULL) || memchr (text, 0, len))
    {
      fixed = g_utf8_make_valid (text, (gssize) len);
      text = fixed;
      len = strlen (fixed);
    }
  if (g_str_has_prefix (topic, "$hw/events/node/"))
    {
      if (g_str_has_suffix (topic, "/membership/get"))
        read_base_and_state (text);
      else
        read_membership (text);   /* the cloud's membership, same shapes */
      return 0;
    }
  if (!g_str_has_prefix (topic, "$hw/events/device/"))
    return 0;
  suffix = dt_device_suffix (topic, &id);
  if (!suffix || !dt_id_well_formed (id))
    return 0;
  if (strcmp (suffix, "/twin/update") == 0 || strcmp (suffix, "/twin/cloud_updated") == 0)
    {
      DtTwinUpdate *u = dt_parse_twin_update (text, len, &error);
      if (u)
        dt_twin_update_free (u);
      else
        g_assert_nonnull (error);
    }
  else if (strcmp (suffix, "/twin/get") == 0)
    {
      g_autofree char *event_id = NULL;
      if (!dt_parse_base_text (text, len, &event_id, &error))
        g_assert_true (error != NULL || event_id == NULL);
    }
  else
    read_base_and_state (text);
  return 0;
}
