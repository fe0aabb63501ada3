/* dt-model.c: devices, twins and attributes in memory, and their JSON in
 * the exact shape KubeEdge's Go structs marshal to (field order, omitempty,
 * map keys sorted). */
#include "dt-types.h"

#include <string.h>

/* A device with no twins or attributes. */
DtDevice *
dt_device_new (const char *id)
{
  DtDevice *d = g_new0 (DtDevice, 1);
  d->id = g_strdup (id);
  d->twins = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, dt_twin_free);
  d->attrs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, dt_attr_free);
  return d;
}

/* Frees a device with its twins and attributes. */
void
dt_device_free (gpointer data)
{
  DtDevice *d = data;
  if (!d)
    return;
  g_hash_table_unref (d->twins);
  g_hash_table_unref (d->attrs);
  g_free (d->id);
  g_free (d->name);
  g_free (d->description);
  g_free (d->state);
  g_free (d->last_online);
  g_free (d);
}

/* A twin with KubeEdge's defaults: optional, type string. */
DtTwin *
dt_twin_new (const char *name)
{
  DtTwin *t = g_new0 (DtTwin, 1);
  t->name = g_strdup (name);
  t->optional = TRUE;
  t->attr_type = g_strdup (DT_TYPE_STRING);
  return t;
}

/* Clears one side of a twin. */
void
dt_value_clear (DtValue *v)
{
  g_clear_pointer (&v->value, g_free);
  memset (v, 0, sizeof *v);
}

/* Sets one side of a twin to a value with a timestamp. */
void
dt_value_set (DtValue *v, const char *text, gint64 ts)
{
  char *copy = g_strdup (text);
  g_free (v->value);
  v->value = copy;
  v->present = TRUE;
  v->has_meta = TRUE;
  v->ts = ts;
}

/* Deep copy of a twin. */
DtTwin *
dt_twin_copy (const DtTwin *t)
{
  DtTwin *c = g_new (DtTwin, 1);
  *c = *t;
  c->name = g_strdup (t->name);
  c->expected.value = g_strdup (t->expected.value);
  c->actual.value = g_strdup (t->actual.value);
  c->attr_type = g_strdup (t->attr_type);
  c->metadata = g_strdup (t->metadata);
  return c;
}

/* Frees a twin. */
void
dt_twin_free (gpointer data)
{
  DtTwin *t = data;
  if (!t)
    return;
  g_free (t->name);
  g_free (t->expected.value);
  g_free (t->actual.value);
  g_free (t->attr_type);
  g_free (t->metadata);
  g_free (t);
}

/* Whether the twin is a tombstone. */
gboolean
dt_twin_is_deleted (const DtTwin *t)
{
  return g_strcmp0 (t->attr_type, DT_TYPE_DELETED) == 0;
}

/* An attribute with KubeEdge's defaults. */
DtAttr *
dt_attr_new (const char *name)
{
  DtAttr *a = g_new0 (DtAttr, 1);
  a->name = g_strdup (name);
  a->optional = TRUE;
  a->attr_type = g_strdup (DT_TYPE_STRING);
  a->value = g_strdup ("");
  return a;
}

/* Frees an attribute. */
void
dt_attr_free (gpointer data)
{
  DtAttr *a = data;
  if (!a)
    return;
  g_free (a->name);
  g_free (a->value);
  g_free (a->attr_type);
  g_free (a->metadata);
  g_free (a);
}

/* Compares two C strings for qsort. */
static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The keys of a string-keyed table, sorted as Go sorts map keys (bytewise);
 * free the array (not the strings) with g_free. */
char **
dt_sorted_keys (GHashTable *table, guint *n)
{
  char **keys = (char **) g_hash_table_get_keys_as_array (table, n);
  if (*n > 1)
    qsort (keys, *n, sizeof (char *), cmp_str);
  return keys;
}

/* Writes v in decimal ending just before end; returns the first digit. */
static char *
format_int (char *end, gint64 v)
{
  guint64 u = v < 0 ? 0 - (guint64) v : (guint64) v;
  char *p = end;
  do
    {
      *--p = (char) ('0' + u % 10);
      u /= 10;
    }
  while (u);
  if (v < 0)
    *--p = '-';
  return p;
}

/* Appends an integer in decimal (no printf on the hot path). */
void
dt_json_int (GString *s, gint64 value)
{
  char buf[24];
  char *p = format_int (buf + sizeof buf, value);
  g_string_append_len (s, p, buf + sizeof buf - p);
}

/* Appends `"event_id":...,"timestamp":...` (BaseMessage). */
void
dt_json_base (GString *s, const char *event_id, gint64 timestamp)
{
  g_string_append_len (s, "\"event_id\":", 11);
  ec_json_append_string (s, event_id);
  g_string_append_len (s, ",\"timestamp\":", 13);
  dt_json_int (s, timestamp);
}

/* Appends one TwinValue. */
static void
json_value (GString *s, const DtValue *v)
{
  gboolean comma = FALSE;
  g_string_append_c (s, '{');
  if (v->value)
    {
      g_string_append (s, "\"value\":");
      ec_json_append_string (s, v->value);
      comma = TRUE;
    }
  if (v->has_meta)
    {
      if (comma)
        g_string_append_c (s, ',');
      if (v->ts)
        {
          g_string_append (s, "\"metadata\":{\"timestamp\":");
          dt_json_int (s, v->ts);
          g_string_append_c (s, '}');
        }
      else
        g_string_append (s, "\"metadata\":{}");
    }
  g_string_append_c (s, '}');
}

/* Appends a TwinVersion. */
static void
json_version (GString *s, const DtVersion *v)
{
  g_string_append (s, "{\"cloud\":");
  dt_json_int (s, v->cloud);
  g_string_append (s, ",\"edge\":");
  dt_json_int (s, v->edge);
  g_string_append_c (s, '}');
}

/* Appends a MsgTwin with the parts chosen by what (DT_W_*). */
void
dt_json_twin (GString *s, const DtTwin *t, guint what)
{
  gboolean comma = FALSE;

#define SEP() G_STMT_START { if (comma) g_string_append_c (s, ','); comma = TRUE; } G_STMT_END
  g_string_append_c (s, '{');
  if ((what & DT_W_EXPECTED) && t->expected.present)
    {
      SEP ();
      g_string_append (s, "\"expected\":");
      json_value (s, &t->expected);
    }
  if ((what & DT_W_ACTUAL) && t->actual.present)
    {
      SEP ();
      g_string_append (s, "\"actual\":");
      json_value (s, &t->actual);
    }
  if (what & DT_W_OPTIONAL)
    {
      SEP ();
      g_string_append (s, t->optional ? "\"optional\":true" : "\"optional\":false");
    }
  if (what & DT_W_METADATA)
    {
      SEP ();
      if (t->attr_type && *t->attr_type)
        {
          g_string_append (s, "\"metadata\":{\"type\":");
          ec_json_append_string (s, t->attr_type);
          g_string_append_c (s, '}');
        }
      else
        g_string_append (s, "\"metadata\":{}");
    }
  if ((what & DT_W_VERSIONS) && (what & DT_W_EXPECTED) && t->has_ev)
    {
      SEP ();
      g_string_append (s, "\"expected_version\":");
      json_version (s, &t->ev);
    }
  if ((what & DT_W_VERSIONS) && (what & DT_W_ACTUAL) && t->has_av)
    {
      SEP ();
      g_string_append (s, "\"actual_version\":");
      json_version (s, &t->av);
    }
#undef SEP
  g_string_append_c (s, '}');
}

/* Appends the attributes map (MsgAttr: value, optional, metadata). */
void
dt_json_attrs (GString *s, GHashTable *attrs)
{
  guint n;
  g_autofree char **keys = dt_sorted_keys (attrs, &n);

  g_string_append_c (s, '{');
  for (guint i = 0; i < n; i++)
    {
      DtAttr *a = g_hash_table_lookup (attrs, keys[i]);
      if (i)
        g_string_append_c (s, ',');
      ec_json_append_string (s, keys[i]);
      g_string_append (s, ":{\"value\":");
      ec_json_append_string (s, a->value);
      g_string_append (s, a->optional ? ",\"optional\":true" : ",\"optional\":false");
      if (a->attr_type && *a->attr_type)
        {
          g_string_append (s, ",\"metadata\":{\"type\":");
          ec_json_append_string (s, a->attr_type);
          g_string_append (s, "}}");
        }
      else
        g_string_append (s, ",\"metadata\":{}}");
    }
  g_string_append_c (s, '}');
}

/* Appends an edge Device (all fields omitempty); twins without versions,
 * tombstones as null. */
void
dt_json_device (GString *s, const DtDevice *d, gboolean with_twins)
{
  gboolean comma = FALSE;
  struct { const char *key; const char *value; } fields[] = {
    { "id", d->id }, { "name", d->name }, { "description", d->description },
    { "state", d->state }, { "last_online", d->last_online },
  };

  g_string_append_c (s, '{');
  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    if (fields[i].value && *fields[i].value)
      {
        if (comma)
          g_string_append_c (s, ',');
        comma = TRUE;
        g_string_append_printf (s, "\"%s\":", fields[i].key);
        ec_json_append_string (s, fields[i].value);
      }
  if (g_hash_table_size (d->attrs) > 0)
    {
      if (comma)
        g_string_append_c (s, ',');
      comma = TRUE;
      g_string_append (s, "\"attributes\":");
      dt_json_attrs (s, d->attrs);
    }
  if (with_twins && g_hash_table_size (d->twins) > 0)
    {
      guint n;
      g_autofree char **keys = dt_sorted_keys (d->twins, &n);
      if (comma)
        g_string_append_c (s, ',');
      g_string_append (s, "\"twin\":{");
      for (guint i = 0; i < n; i++)
        {
          DtTwin *t = g_hash_table_lookup (d->twins, keys[i]);
          if (i)
            g_string_append_c (s, ',');
          ec_json_append_string (s, keys[i]);
          g_string_append_c (s, ':');
          if (dt_twin_is_deleted (t))
            g_string_append (s, "null");
          else
            dt_json_twin (s, t, DT_W_ALL);
        }
      g_string_append_c (s, '}');
    }
  g_string_append_c (s, '}');
}

/* The error Result: BaseMessage + code + reason. */
char *
dt_json_error (const char *event_id, int code, const char *reason)
{
  GString *s = g_string_new ("{");
  dt_json_base (s, event_id, g_get_real_time () / 1000);
  if (code)
    {
      g_string_append (s, ",\"code\":");
      dt_json_int (s, code);
    }
  if (reason && *reason)
    {
      g_string_append (s, ",\"reason\":");
      ec_json_append_string (s, reason);
    }
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

/* The `{"cloud":n,"edge":m}` text stored in a version column, written
 * into buf. */
const char *
dt_version_text (char buf[64], const DtVersion *v)
{
  char num[24];
  char *p;
  gsize len;

  memcpy (buf, "{\"cloud\":", 9);
  p = format_int (num + sizeof num, v->cloud);
  len = num + sizeof num - p;
  memcpy (buf + 9, p, len);
  len += 9;
  memcpy (buf + len, ",\"edge\":", 8);
  len += 8;
  p = format_int (num + sizeof num, v->edge);
  memcpy (buf + len, p, num + sizeof num - p);
  len += num + sizeof num - p;
  buf[len++] = '}';
  buf[len] = '\0';   /* at most 9 + 20 + 8 + 20 + 1 bytes */
  return buf;
}

/* The `{"timestamp":n}` text stored in a *_meta column ("" when the side has
 * no metadata), written into buf. */
const char *
dt_meta_text (char buf[64], const DtValue *v)
{
  char num[24];
  char *p;
  gsize len;

  if (!v->has_meta)
    return "";
  if (!v->ts)
    return "{}";
  memcpy (buf, "{\"timestamp\":", 13);
  p = format_int (num + sizeof num, v->ts);
  len = num + sizeof num - p;
  memcpy (buf + 13, p, len);
  buf[13 + len] = '}';
  buf[14 + len] = '\0';
  return buf;
}
