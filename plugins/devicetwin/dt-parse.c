/* dt-parse.c: reading mapper and cloud payloads. Types are checked the way
 * Go's json.Unmarshal checks them for KubeEdge's structs: a wrong type is
 * an error, null leaves a field unset, unknown fields are ignored. */
#include "dt-types.h"

#include <string.h>

#define ERR_UNMARSHAL "Unmarshal update request body failed, please check the request"
#define ERR_NO_TWIN   "Update twin error, key:twin does not exist"
#define ERR_KEY       "The key of twin must only include upper or lowercase letters, number, english, and special letter - _ . , : / @ # and the length of key should be less than 128 bytes"
#define ERR_VALUE     "The value of twin must only include upper or lowercase letters, number, english, and special letter - _ . , : / @ # and the length of value should be less than 512 bytes"

/* Parses JSON text; an empty text is an error too. */
JsonNode *
dt_parse_text (const char *text, GError **error)
{
  g_autoptr (GError) local = NULL;
  JsonNode *node = json_from_string (text && *text ? text : "", &local);

  if (!node)
    {
      if (local)
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "empty payload");
    }
  return node;
}

/* Sets a type error. */
static gboolean
type_error (GError **error, const char *what)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s has the wrong type", what);
  return FALSE;
}

/* Whether node is JSON null. */
static gboolean
is_null (JsonNode *node)
{
  return !node || JSON_NODE_HOLDS_NULL (node);
}

/* Reads an optional string member. */
static gboolean
get_string (JsonObject *o, const char *name, char **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (is_null (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return type_error (error, name);
  g_free (*out);
  *out = g_strdup (json_node_get_string (n));
  return TRUE;
}

/* Reads an optional int64 member. */
static gboolean
get_int (JsonObject *o, const char *name, gint64 *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (is_null (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return type_error (error, name);
  *out = json_node_get_int (n);
  return TRUE;
}

/* Reads an optional bool member. */
static gboolean
get_bool (JsonObject *o, const char *name, gboolean *present, gboolean *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  if (is_null (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return type_error (error, name);
  *present = TRUE;
  *out = json_node_get_boolean (n);
  return TRUE;
}

/* Reads an optional object member; *out is NULL when absent or null. */
static gboolean
get_object (JsonObject *o, const char *name, JsonObject **out, GError **error)
{
  JsonNode *n = json_object_get_member (o, name);
  *out = NULL;
  if (is_null (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return type_error (error, name);
  *out = json_node_get_object (n);
  return TRUE;
}

/* Reads a TwinValue. */
static gboolean
parse_value (JsonObject *o, const char *name, DtMsgValue *v, GError **error)
{
  JsonObject *obj, *meta;
  gint64 ts = 0;

  if (json_object_has_member (o, name))
    {
      v->present = TRUE;
      v->is_null = is_null (json_object_get_member (o, name));
    }
  if (!get_object (o, name, &obj, error))
    return FALSE;
  if (!obj)
    return TRUE;
  return get_string (obj, "value", &v->value, error)
         && get_object (obj, "metadata", &meta, error)
         && (!meta || get_int (meta, "timestamp", &ts, error));
}

/* Reads a TwinVersion. */
static gboolean
parse_version (JsonObject *o, const char *name, gboolean *has, DtVersion *v, GError **error)
{
  JsonObject *obj;
  if (!get_object (o, name, &obj, error))
    return FALSE;
  if (!obj)
    return TRUE;
  *has = TRUE;
  return get_int (obj, "cloud", &v->cloud, error) && get_int (obj, "edge", &v->edge, error);
}

/* Frees a DtMsgTwin. */
void
dt_msg_twin_free (gpointer data)
{
  DtMsgTwin *t = data;
  if (!t)
    return;
  g_free (t->name);
  g_free (t->expected.value);
  g_free (t->actual.value);
  g_free (t->type);
  g_free (t);
}

/* Reads one MsgTwin (or null). */
static DtMsgTwin *
parse_msg_twin (const char *name, JsonNode *node, GError **error)
{
  DtMsgTwin *t = g_new0 (DtMsgTwin, 1);
  JsonObject *o, *meta;

  t->name = g_strdup (name);
  if (is_null (node))
    {
      t->is_null = TRUE;
      return t;
    }
  if (!JSON_NODE_HOLDS_OBJECT (node))
    {
      type_error (error, name);
      dt_msg_twin_free (t);
      return NULL;
    }
  o = json_node_get_object (node);
  if (!parse_value (o, "expected", &t->expected, error)
      || !parse_value (o, "actual", &t->actual, error)
      || !get_bool (o, "optional", &t->has_optional, &t->optional, error)
      || !get_object (o, "metadata", &meta, error)
      || (meta && !get_string (meta, "type", &t->type, error))
      || !parse_version (o, "expected_version", &t->has_ev, &t->ev, error)
      || !parse_version (o, "actual_version", &t->has_av, &t->av, error))
    {
      dt_msg_twin_free (t);
      return NULL;
    }
  t->has_metadata = meta != NULL;
  return t;
}

/* Frees a parsed twin update. */
void
dt_twin_update_free (DtTwinUpdate *u)
{
  if (!u)
    return;
  g_free (u->event_id);
  if (u->twins)
    g_ptr_array_unref (u->twins);
  g_free (u);
}

/* Whether text matches ^[a-zA-Z0-9-_.,:/@#]{1,max}$ (KubeEdge's twin key
 * and value rule). */
static gboolean
valid_token (const char *text, gsize max)
{
  gsize n = 0;
  for (const char *p = text; *p; p++, n++)
    if (!g_ascii_isalnum (*p) && !strchr ("-_.,:/@#", *p))
      return FALSE;
  return n >= 1 && n <= max;
}

/* Orders DtMsgTwin* by name. */
static int
cmp_twin_name (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(DtMsgTwin *const *) a)->name, (*(DtMsgTwin *const *) b)->name);
}

/* Reads the "twin" map of an object into u. */
static gboolean
parse_twin_map (JsonObject *root, DtTwinUpdate *u, gboolean check_tokens, GError **error)
{
  JsonObject *map;
  GList *members;

  if (!get_object (root, "twin", &map, error))
    return FALSE;
  if (!map)
    return TRUE;
  u->has_twin = TRUE;
  members = json_object_get_members (map);
  for (GList *l = members; l; l = l->next)
    {
      DtMsgTwin *t = parse_msg_twin (l->data, json_object_get_member (map, l->data), error);
      if (!t)
        {
          g_list_free (members);
          return FALSE;
        }
      g_ptr_array_add (u->twins, t);
    }
  g_list_free (members);
  g_ptr_array_sort (u->twins, cmp_twin_name);
  if (!check_tokens)
    return TRUE;
  for (guint i = 0; i < u->twins->len; i++)
    {
      DtMsgTwin *t = u->twins->pdata[i];
      if (!valid_token (t->name, 128))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, ERR_KEY);
          return FALSE;
        }
      if ((t->expected.value && *t->expected.value && !valid_token (t->expected.value, 512))
          || (t->actual.value && *t->actual.value && !valid_token (t->actual.value, 512)))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, ERR_VALUE);
          return FALSE;
        }
    }
  return TRUE;
}

/* Reads a DeviceTwinUpdate. The error message is KubeEdge's reason text. */
DtTwinUpdate *
dt_parse_twin_update (JsonNode *root, GError **error)
{
  g_autoptr (DtTwinUpdate) u = g_new0 (DtTwinUpdate, 1);
  g_autoptr (GError) local = NULL;
  JsonObject *o;

  u->twins = g_ptr_array_new_with_free_func (dt_msg_twin_free);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, ERR_UNMARSHAL);
      return NULL;
    }
  o = json_node_get_object (root);
  if (!get_string (o, "event_id", &u->event_id, &local)
      || !get_int (o, "timestamp", &u->timestamp, &local))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, ERR_UNMARSHAL);
      return NULL;
    }
  if (!parse_twin_map (o, u, TRUE, &local))
    {
      if (g_error_matches (local, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT))
        g_propagate_error (error, g_steal_pointer (&local));
      else
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, ERR_UNMARSHAL);
      return NULL;
    }
  if (!u->has_twin)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, ERR_NO_TWIN);
      return NULL;
    }
  if (!u->event_id)
    u->event_id = g_strdup ("");
  return g_steal_pointer (&u);
}

/* Reads a BaseMessage; *event_id gets the event id ("" when absent). */
gboolean
dt_parse_base (JsonNode *root, char **event_id, GError **error)
{
  gint64 ts = 0;
  JsonObject *o;

  *event_id = NULL;
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the payload is not a JSON object");
      return FALSE;
    }
  o = json_node_get_object (root);
  if (!get_string (o, "event_id", event_id, error) || !get_int (o, "timestamp", &ts, error))
    {
      g_clear_pointer (event_id, g_free);
      return FALSE;
    }
  if (!*event_id)
    *event_id = g_strdup ("");
  return TRUE;
}

/* Reads an edge Device from the cloud (membership): id, name, description,
 * state, attributes; its twins, if any, go to *twins (may be NULL). */
DtDevice *
dt_parse_device (JsonNode *node, DtTwinUpdate **twins, GError **error)
{
  g_autofree char *id = NULL;
  JsonObject *o, *attrs;
  DtDevice *d;

  *twins = NULL;
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    {
      type_error (error, "device");
      return NULL;
    }
  o = json_node_get_object (node);
  if (!get_string (o, "id", &id, error))
    return NULL;
  if (!id || !*id || strlen (id) > DT_MAX_ID_LEN)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "device without a valid id");
      return NULL;
    }
  d = dt_device_new (id);
  if (!get_string (o, "name", &d->name, error)
      || !get_string (o, "description", &d->description, error)
      || !get_string (o, "state", &d->state, error)
      || !get_object (o, "attributes", &attrs, error))
    {
      dt_device_free (d);
      return NULL;
    }
  if (attrs)
    {
      GList *members = json_object_get_members (attrs);
      for (GList *l = members; l; l = l->next)
        {
          JsonNode *an = json_object_get_member (attrs, l->data);
          JsonObject *ao, *meta = NULL;
          DtAttr *a;
          if (is_null (an))
            continue;
          if (!JSON_NODE_HOLDS_OBJECT (an))
            {
              type_error (error, l->data);
              g_list_free (members);
              dt_device_free (d);
              return NULL;
            }
          ao = json_node_get_object (an);
          a = dt_attr_new (l->data);
          if (!get_string (ao, "value", &a->value, error)
              || !get_bool (ao, "optional", &(gboolean){ FALSE }, &a->optional, error)
              || !get_object (ao, "metadata", &meta, error)
              || (meta && !get_string (meta, "type", &a->attr_type, error)))
            {
              dt_attr_free (a);
              g_list_free (members);
              dt_device_free (d);
              return NULL;
            }
          if (meta)
            a->metadata = g_strdup ("{}");
          g_hash_table_replace (d->attrs, a->name, a);
        }
      g_list_free (members);
    }
  if (json_object_has_member (o, "twin") && !is_null (json_object_get_member (o, "twin")))
    {
      g_autoptr (DtTwinUpdate) u = g_new0 (DtTwinUpdate, 1);
      u->twins = g_ptr_array_new_with_free_func (dt_msg_twin_free);
      u->event_id = g_strdup ("");
      if (!parse_twin_map (o, u, FALSE, error))
        {
          dt_device_free (d);
          return NULL;
        }
      *twins = g_steal_pointer (&u);
    }
  return d;
}
