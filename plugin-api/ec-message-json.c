/* ec-message-json.c: a message to and from its wire JSON.
 *
 * The encoding is Go's for model.Message: keys in struct order, empty
 * optional fields omitted, `route` always present, content written as the
 * exact text it was given. Decoding follows Go's encoding/json: keys match
 * case-insensitively, unknown keys are ignored, `null` leaves a field empty,
 * and a field of the wrong type is an error. */
#include "config.h"

#include "ec-message-private.h"

#include <string.h>

static void
append_field (GString *out, gboolean *first, const char *key, const char *value)
{
  if (!value || !*value)
    return;
  if (!*first)
    g_string_append_c (out, ',');
  *first = FALSE;
  g_string_append_c (out, '"');
  g_string_append (out, key);
  g_string_append (out, "\":");
  ec_json_append_string (out, value);
}

/**
 * ec_message_to_json:
 * @message: a message
 * @length: (out) (optional): the length of the result
 *
 * Encodes the message as KubeEdge's Go edge does on the wire.
 *
 * Returns: (transfer full): the JSON text
 */
char *
ec_message_to_json (EcMessage *m, gsize *length)
{
  GString *out;
  gboolean first = TRUE;

  g_return_val_if_fail (m != NULL, NULL);
  out = g_string_sized_new (160 + m->content_len);
  g_string_append (out, "{\"header\":{\"msg_id\":");
  ec_json_append_string (out, m->msg_id);
  first = FALSE;
  append_field (out, &first, "parent_msg_id", m->parent_msg_id);
  g_string_append_printf (out, ",\"timestamp\":%" G_GINT64_FORMAT, m->timestamp);
  append_field (out, &first, "resourceversion", m->resource_version);
  if (m->sync)
    g_string_append (out, ",\"sync\":true");
  append_field (out, &first, "type", m->type);
  g_string_append (out, "},\"route\":{");
  first = TRUE;
  append_field (out, &first, "source", m->source);
  append_field (out, &first, "destination", m->destination);
  append_field (out, &first, "group", m->group);
  append_field (out, &first, "operation", m->operation);
  append_field (out, &first, "resource", m->resource);
  g_string_append (out, "},\"content\":");
  g_string_append_len (out, m->content, m->content_len);
  g_string_append_c (out, '}');
  if (length)
    *length = out->len;
  return g_string_free (out, FALSE);
}

typedef struct {
  const char *start;
  const char *end;
  const char *p;
  GError    **error;
} Decoder;

static gboolean
field_error (Decoder *d, const char *field, const char *want)
{
  g_set_error (d->error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_FIELD,
               "invalid message: %s must be %s (at byte %" G_GSIZE_FORMAT ")",
               field, want, (gsize) (d->p - d->start));
  return FALSE;
}

static gboolean
syntax_error (Decoder *d, const char *what)
{
  g_set_error (d->error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_JSON,
               "invalid JSON at byte %" G_GSIZE_FORMAT ": %s",
               (gsize) (d->p - d->start), what);
  return FALSE;
}

static gboolean
at_null (Decoder *d)
{
  if (d->end - d->p >= 4 && memcmp (d->p, "null", 4) == 0)
    {
      d->p += 4;
      return TRUE;
    }
  return FALSE;
}

/* A string field; null leaves it empty. */
static gboolean
read_string (Decoder *d, const char *field, char **out)
{
  char *s = NULL;
  d->p = _ec_json_skip_ws (d->p, d->end);
  if (at_null (d))
    return TRUE;
  if (d->p >= d->end || *d->p != '"')
    {
      /* a valid value of another type is a type error; garbage is a syntax error */
      const char *after = _ec_json_skip_value (d->p, d->end, d->start, d->error);
      return after ? field_error (d, field, "a string") : FALSE;
    }
  if (!_ec_json_parse_string (&d->p, d->end, d->start, &s, d->error))
    return FALSE;
  g_free (*out);
  *out = s;
  return TRUE;
}

static gboolean
read_int64 (Decoder *d, const char *field, gint64 *out)
{
  const char *v, *after;
  d->p = _ec_json_skip_ws (d->p, d->end);
  if (at_null (d))
    return TRUE;
  v = d->p;
  after = _ec_json_skip_value (d->p, d->end, d->start, d->error);
  if (!after)
    return FALSE;
  if (*v == '-' || g_ascii_isdigit (*v))
    {
      g_autofree char *num = g_strndup (v, after - v);
      gint64 n;
      if (g_ascii_string_to_signed (num, 10, G_MININT64, G_MAXINT64, &n, NULL))
        {
          *out = n;
          d->p = after;
          return TRUE;
        }
    }
  return field_error (d, field, "an integer");
}

static gboolean
read_bool (Decoder *d, const char *field, gboolean *out)
{
  d->p = _ec_json_skip_ws (d->p, d->end);
  if (at_null (d))
    return TRUE;
  if (d->end - d->p >= 4 && memcmp (d->p, "true", 4) == 0)
    {
      *out = TRUE;
      d->p += 4;
      return TRUE;
    }
  if (d->end - d->p >= 5 && memcmp (d->p, "false", 5) == 0)
    {
      *out = FALSE;
      d->p += 5;
      return TRUE;
    }
  if (!_ec_json_skip_value (d->p, d->end, d->start, d->error))
    return FALSE;
  return field_error (d, field, "a boolean");
}

typedef gboolean (*MemberFunc) (Decoder *d, const char *key, EcMessage *m);

/* Walks an object, calling func for each key with d->p at its value. The
 * callback consumes the value. null is accepted as an empty object. */
static gboolean
read_object (Decoder *d, const char *what, MemberFunc func, EcMessage *m)
{
  d->p = _ec_json_skip_ws (d->p, d->end);
  if (at_null (d))
    return TRUE;
  if (d->p >= d->end || *d->p != '{')
    {
      if (!_ec_json_skip_value (d->p, d->end, d->start, d->error))
        return FALSE;
      return field_error (d, what, "an object");
    }
  d->p = _ec_json_skip_ws (d->p + 1, d->end);
  if (d->p < d->end && *d->p == '}')
    {
      d->p++;
      return TRUE;
    }
  for (;;)
    {
      g_autofree char *key = NULL;
      d->p = _ec_json_skip_ws (d->p, d->end);
      if (d->p >= d->end || *d->p != '"')
        return syntax_error (d, "expected object key");
      if (!_ec_json_parse_string (&d->p, d->end, d->start, &key, d->error))
        return FALSE;
      d->p = _ec_json_skip_ws (d->p, d->end);
      if (d->p >= d->end || *d->p != ':')
        return syntax_error (d, "expected ':'");
      d->p++;
      if (!func (d, key, m))
        return FALSE;
      d->p = _ec_json_skip_ws (d->p, d->end);
      if (d->p < d->end && *d->p == ',')
        {
          d->p++;
          continue;
        }
      if (d->p < d->end && *d->p == '}')
        {
          d->p++;
          return TRUE;
        }
      return syntax_error (d, "expected ',' or '}'");
    }
}

static gboolean
skip_member (Decoder *d)
{
  const char *after = _ec_json_skip_value (d->p, d->end, d->start, d->error);
  if (!after)
    return FALSE;
  d->p = after;
  return TRUE;
}

#define KEY_IS(k, name) (g_ascii_strcasecmp ((k), (name)) == 0)

static gboolean
header_member (Decoder *d, const char *key, EcMessage *m)
{
  if (KEY_IS (key, "msg_id"))
    {
      char *id = NULL;
      if (!read_string (d, "header.msg_id", &id))
        return FALSE;
      if (id)
        {
          if (m->msg_id != m->id_buf)
            g_free (m->msg_id);
          if (strlen (id) < sizeof m->id_buf)
            {
              strcpy (m->id_buf, id);
              m->msg_id = m->id_buf;
              g_free (id);
            }
          else
            m->msg_id = id;
        }
      return TRUE;
    }
  if (KEY_IS (key, "parent_msg_id"))
    return read_string (d, "header.parent_msg_id", &m->parent_msg_id);
  if (KEY_IS (key, "timestamp"))
    return read_int64 (d, "header.timestamp", &m->timestamp);
  if (KEY_IS (key, "resourceversion"))
    return read_string (d, "header.resourceversion", &m->resource_version);
  if (KEY_IS (key, "sync"))
    return read_bool (d, "header.sync", &m->sync);
  if (KEY_IS (key, "type"))
    return read_string (d, "header.type", &m->type);
  return skip_member (d);
}

static gboolean
route_member (Decoder *d, const char *key, EcMessage *m)
{
  if (KEY_IS (key, "source"))
    return read_string (d, "route.source", &m->source);
  if (KEY_IS (key, "destination"))
    return read_string (d, "route.destination", &m->destination);
  if (KEY_IS (key, "group"))
    return read_string (d, "route.group", &m->group);
  if (KEY_IS (key, "operation"))
    return read_string (d, "route.operation", &m->operation);
  if (KEY_IS (key, "resource"))
    return read_string (d, "route.resource", &m->resource);
  return skip_member (d);
}

static gboolean
top_member (Decoder *d, const char *key, EcMessage *m)
{
  if (KEY_IS (key, "header"))
    return read_object (d, "header", header_member, m);
  if (KEY_IS (key, "route"))
    return read_object (d, "route", route_member, m);
  if (KEY_IS (key, "content"))
    {
      const char *v = _ec_json_skip_ws (d->p, d->end);
      const char *after = _ec_json_skip_value (v, d->end, d->start, d->error);
      if (!after)
        return FALSE;
      if (after - v == 4 && memcmp (v, "null", 4) == 0)
        _ec_message_take_content (m, NULL, 0);
      else
        _ec_message_take_content (m, g_strndup (v, after - v), after - v);
      d->p = after;
      return TRUE;
    }
  return skip_member (d);
}

/**
 * ec_message_new_from_json:
 * @data: (array length=length) (element-type guint8): the JSON text
 * @length: its length, or -1 when NUL-terminated
 * @error: where to put an error
 *
 * Decodes one message from its wire JSON. The content is kept as the exact
 * text it was sent as.
 *
 * Returns: (transfer full) (nullable): the message, or %NULL with @error set
 */
EcMessage *
ec_message_new_from_json (const char *data, gssize length, GError **error)
{
  Decoder d;
  g_autoptr (EcMessage) m = NULL;
  EcMessage *tmp;

  g_return_val_if_fail (data != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  d.start = data;
  d.end = data + (length < 0 ? strlen (data) : (gsize) length);
  d.p = data;
  d.error = error;

  tmp = _ec_message_alloc ();
  tmp->msg_id = tmp->id_buf;
  m = tmp;

  d.p = _ec_json_skip_ws (d.p, d.end);
  if (d.p >= d.end || *d.p != '{')
    {
      if (d.p < d.end && _ec_json_skip_value (d.p, d.end, d.start, NULL))
        {
          g_set_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_FIELD,
                       "invalid message: a message must be a JSON object");
          return NULL;
        }
      syntax_error (&d, d.p >= d.end ? "empty input" : "expected '{'");
      return NULL;
    }
  if (!read_object (&d, "message", top_member, m))
    return NULL;
  d.p = _ec_json_skip_ws (d.p, d.end);
  if (d.p != d.end)
    {
      syntax_error (&d, "text after the message");
      return NULL;
    }
  return g_steal_pointer (&m);
}
