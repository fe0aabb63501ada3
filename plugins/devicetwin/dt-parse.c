/* dt-parse.c: reading mapper and cloud payloads. Types are checked the way
 * Go's json.Unmarshal checks them for KubeEdge's structs: a wrong type is
 * an error, null leaves a field unset, unknown fields are ignored. */
#include "dt-types.h"

#include <string.h>

#define ERR_UNMARSHAL "Unmarshal update request body failed, please check the request"
#define ERR_NO_TWIN   "Update twin error, key:twin does not exist"
#define ERR_KEY       "The key of twin must only include upper or lowercase letters, number, english, and special letter - _ . , : / @ # and the length of key should be less than 128 bytes"
#define ERR_VALUE     "The value of twin must only include upper or lowercase letters, number, english, and special letter - _ . , : / @ # and the length of value should be less than 512 bytes"

/* Parses JSON text with libedgecore's reader (its default depth and size
 * limits); an empty text is an error too. */
JsonNode *
dt_parse_text (const char *text, GError **error)
{
  if (!text || !*text)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "empty payload");
      return NULL;
    }
  return ec_json_parse (text, strlen (text), 0, 0, error);
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

/* ---- the scanner-based readers (mapper and cloud twin payloads) ---------- */

/* Reads a string member's value; null clears it. */
static gboolean
scan_string (EcJsonScanner *s, GString *tmp, char **out)
{
  g_clear_pointer (out, g_free);
  if (ec_json_scanner_null (s) || ec_json_scanner_has_failed (s))
    return !ec_json_scanner_has_failed (s);
  if (!ec_json_scanner_string (s, tmp))
    return FALSE;
  *out = g_strndup (tmp->str, tmp->len);
  return TRUE;
}

/* Reads an int64 member's value; null leaves def. */
static gboolean
scan_int (EcJsonScanner *s, gint64 *out, gint64 def)
{
  *out = def;
  if (ec_json_scanner_null (s) || ec_json_scanner_has_failed (s))
    return !ec_json_scanner_has_failed (s);
  return ec_json_scanner_int64 (s, out);
}

/* Reads a TwinValue's metadata (or null): an object whose timestamp is
 * type-checked. */
static gboolean
scan_value_meta (EcJsonScanner *s, GString *key)
{
  guint n = 0;
  gint64 ts;

  if (ec_json_scanner_null (s) || ec_json_scanner_has_failed (s))
    return !ec_json_scanner_has_failed (s);
  if (!ec_json_scanner_object_begin (s))
    return FALSE;
  while (ec_json_scanner_member (s, &n, key))
    if (!(strcmp (key->str, "timestamp") == 0 ? scan_int (s, &ts, 0) : ec_json_scanner_skip (s)))
      return FALSE;
  return !ec_json_scanner_has_failed (s);
}

/* Reads a TwinValue member (or null); the last occurrence wins. */
static gboolean
scan_value (EcJsonScanner *s, GString *key, GString *tmp, DtMsgValue *v)
{
  guint n = 0;

  g_clear_pointer (&v->value, g_free);
  v->present = TRUE;
  v->is_null = ec_json_scanner_null (s);
  if (v->is_null || ec_json_scanner_has_failed (s))
    return !ec_json_scanner_has_failed (s);
  if (!ec_json_scanner_object_begin (s))
    return FALSE;
  while (ec_json_scanner_member (s, &n, key))
    {
      gboolean ok;
      if (strcmp (key->str, "value") == 0)
        ok = scan_string (s, tmp, &v->value);
      else if (strcmp (key->str, "metadata") == 0)
        ok = scan_value_meta (s, key);
      else
        ok = ec_json_scanner_skip (s);
      if (!ok)
        return FALSE;
    }
  return !ec_json_scanner_has_failed (s);
}

/* Reads a TwinVersion member (or null). */
static gboolean
scan_version (EcJsonScanner *s, GString *key, gboolean *has, DtVersion *v)
{
  guint n = 0;

  *has = FALSE;
  *v = (DtVersion) { 0, 0 };
  if (ec_json_scanner_null (s) || ec_json_scanner_has_failed (s))
    return !ec_json_scanner_has_failed (s);
  if (!ec_json_scanner_object_begin (s))
    return FALSE;
  *has = TRUE;
  while (ec_json_scanner_member (s, &n, key))
    {
      gboolean ok;
      if (strcmp (key->str, "cloud") == 0)
        ok = scan_int (s, &v->cloud, 0);
      else if (strcmp (key->str, "edge") == 0)
        ok = scan_int (s, &v->edge, 0);
      else
        ok = ec_json_scanner_skip (s);
      if (!ok)
        return FALSE;
    }
  return !ec_json_scanner_has_failed (s);
}

/* Reads `metadata` of a MsgTwin: an object whose `type` is kept. */
static gboolean
scan_metadata (EcJsonScanner *s, GString *key, GString *tmp, DtMsgTwin *t)
{
  guint n = 0;

  t->has_metadata = FALSE;
  g_clear_pointer (&t->type, g_free);
  if (ec_json_scanner_null (s) || ec_json_scanner_has_failed (s))
    return !ec_json_scanner_has_failed (s);
  if (!ec_json_scanner_object_begin (s))
    return FALSE;
  t->has_metadata = TRUE;
  while (ec_json_scanner_member (s, &n, key))
    if (!(strcmp (key->str, "type") == 0 ? scan_string (s, tmp, &t->type) : ec_json_scanner_skip (s)))
      return FALSE;
  return !ec_json_scanner_has_failed (s);
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

/* Reads one MsgTwin (or null) named name. */
static DtMsgTwin *
scan_msg_twin (EcJsonScanner *s, const char *name, GString *key, GString *tmp)
{
  DtMsgTwin *t = g_new0 (DtMsgTwin, 1);
  guint n = 0;

  t->name = g_strdup (name);
  t->is_null = ec_json_scanner_null (s);
  if (t->is_null && !ec_json_scanner_has_failed (s))
    return t;
  if (ec_json_scanner_has_failed (s) || !ec_json_scanner_object_begin (s))
    {
      dt_msg_twin_free (t);
      return NULL;
    }
  while (ec_json_scanner_member (s, &n, key))
    {
      gboolean ok;
      const char *k = key->str;
      if (strcmp (k, "expected") == 0)
        ok = scan_value (s, key, tmp, &t->expected);
      else if (strcmp (k, "actual") == 0)
        ok = scan_value (s, key, tmp, &t->actual);
      else if (strcmp (k, "optional") == 0)
        {
          t->has_optional = FALSE;
          if (ec_json_scanner_null (s) || ec_json_scanner_has_failed (s))
            ok = !ec_json_scanner_has_failed (s);
          else
            ok = t->has_optional = ec_json_scanner_bool (s, &t->optional);
        }
      else if (strcmp (k, "metadata") == 0)
        ok = scan_metadata (s, key, tmp, t);
      else if (strcmp (k, "expected_version") == 0)
        ok = scan_version (s, key, &t->has_ev, &t->ev);
      else if (strcmp (k, "actual_version") == 0)
        ok = scan_version (s, key, &t->has_av, &t->av);
      else
        ok = ec_json_scanner_skip (s);
      if (!ok)
        {
          dt_msg_twin_free (t);
          return NULL;
        }
    }
  if (ec_json_scanner_has_failed (s))
    {
      dt_msg_twin_free (t);
      return NULL;
    }
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

/* Orders DtMsgTwin* by name (g_ptr_array_sort is stable). */
static int
cmp_twin_name (gconstpointer a, gconstpointer b)
{
  return strcmp ((*(DtMsgTwin *const *) a)->name, (*(DtMsgTwin *const *) b)->name);
}

/* Reads the value of a "twin" member (a map of MsgTwin, or null) into u;
 * a twin named twice keeps its last value, as in Go. */
static gboolean
scan_twin_map (EcJsonScanner *s, DtTwinUpdate *u, GString *key, GString *tmp)
{
  g_autoptr (GString) name = g_string_new (NULL);
  guint n = 0;

  g_ptr_array_set_size (u->twins, 0);
  u->has_twin = FALSE;
  if (ec_json_scanner_null (s) || ec_json_scanner_has_failed (s))
    return !ec_json_scanner_has_failed (s);
  if (!ec_json_scanner_object_begin (s))
    return FALSE;
  u->has_twin = TRUE;
  while (ec_json_scanner_member (s, &n, name))
    {
      DtMsgTwin *t = scan_msg_twin (s, name->str, key, tmp);
      if (!t)
        return FALSE;
      g_ptr_array_add (u->twins, t);
    }
  if (ec_json_scanner_has_failed (s))
    return FALSE;
  if (u->twins->len > 1)
    {
      g_ptr_array_sort (u->twins, cmp_twin_name);
      for (guint i = u->twins->len - 1; i > 0; i--)
        if (strcmp (((DtMsgTwin *) u->twins->pdata[i - 1])->name,
                    ((DtMsgTwin *) u->twins->pdata[i])->name) == 0)
          g_ptr_array_remove_index (u->twins, i - 1);
    }
  return TRUE;
}

/* Checks twin names and values against KubeEdge's token rule. */
static gboolean
check_tokens (DtTwinUpdate *u, GError **error)
{
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

/* An empty update. */
static DtTwinUpdate *
twin_update_new (void)
{
  DtTwinUpdate *u = g_new0 (DtTwinUpdate, 1);
  u->twins = g_ptr_array_new_with_free_func (dt_msg_twin_free);
  return u;
}

/* Reads a DeviceTwinUpdate from JSON text (length bytes). The error
 * message is KubeEdge's reason text: a syntax or type error gives the
 * unmarshal text, a bad key or value KubeEdge's rule text. */
DtTwinUpdate *
dt_parse_twin_update (const char *text, gsize length, GError **error)
{
  g_autoptr (DtTwinUpdate) u = twin_update_new ();
  g_autoptr (GString) key = g_string_new (NULL);
  g_autoptr (GString) tmp = g_string_new (NULL);
  g_autoptr (EcJsonScanner) s = NULL;
  guint n = 0;
  gboolean ok = TRUE;

  s = ec_json_scanner_new (text, length, 0, 0, NULL);
  if (!ec_json_scanner_object_begin (s))
    ok = FALSE;
  while (ok && ec_json_scanner_member (s, &n, key))
    {
      if (strcmp (key->str, "event_id") == 0)
        ok = scan_string (s, tmp, &u->event_id);
      else if (strcmp (key->str, "timestamp") == 0)
        ok = scan_int (s, &u->timestamp, 0);
      else if (strcmp (key->str, "twin") == 0)
        ok = scan_twin_map (s, u, key, tmp);
      else
        ok = ec_json_scanner_skip (s);
    }
  if (!ok || !ec_json_scanner_finish (s))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, ERR_UNMARSHAL);
      return NULL;
    }
  if (!check_tokens (u, error))
    return NULL;
  if (!u->has_twin)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, ERR_NO_TWIN);
      return NULL;
    }
  if (!u->event_id)
    u->event_id = g_strdup ("");
  return g_steal_pointer (&u);
}

/* Reads a BaseMessage from JSON text; *event_id gets the event id ("" when
 * absent). */
gboolean
dt_parse_base_text (const char *text, gsize length, char **event_id, GError **error)
{
  g_autoptr (GString) key = g_string_new (NULL);
  g_autoptr (EcJsonScanner) s = NULL;
  guint n = 0;
  gint64 ts;
  gboolean ok = TRUE;

  *event_id = NULL;
  s = ec_json_scanner_new (text, length, 0, 0, error);
  if (ec_json_scanner_peek (s) != '{')
    {
      if (ec_json_scanner_skip (s) && ec_json_scanner_finish (s))
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the payload is not a JSON object");
      return FALSE;
    }
  ec_json_scanner_object_begin (s);
  while (ok && ec_json_scanner_member (s, &n, key))
    {
      if (strcmp (key->str, "event_id") == 0)
        ok = scan_string (s, key, event_id);
      else if (strcmp (key->str, "timestamp") == 0)
        ok = scan_int (s, &ts, 0);
      else
        ok = ec_json_scanner_skip (s);
      if (!ok && !ec_json_scanner_has_failed (s))
        ec_json_scanner_fail (s, EC_JSON_ERROR_TYPE, "a member has the wrong type");
    }
  if (!ec_json_scanner_finish (s))
    {
      g_clear_pointer (event_id, g_free);
      return FALSE;
    }
  if (!*event_id)
    *event_id = g_strdup ("");
  return TRUE;
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
      /* the twin map is read by the same scanner as a mapper's update */
      g_autoptr (DtTwinUpdate) u = twin_update_new ();
      g_autoptr (GString) key = g_string_new (NULL);
      g_autoptr (GString) tmp = g_string_new (NULL);
      g_autofree char *text = ec_json_to_string (json_object_get_member (o, "twin"), FALSE);
      g_autoptr (EcJsonScanner) s = NULL;

      u->event_id = g_strdup ("");
      s = ec_json_scanner_new (text, strlen (text), 0, 0, error);
      if (!scan_twin_map (s, u, key, tmp) || !ec_json_scanner_finish (s))
        {
          dt_device_free (d);
          return NULL;
        }
      *twins = g_steal_pointer (&u);
    }
  return d;
}
