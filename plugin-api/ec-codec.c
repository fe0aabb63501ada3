/* ec-codec.c: base64url (RFC 4648, section 5) and MQTT 3.1.1 topic names and
 * filters: validation, wildcard matching, and KubeEdge eventbus's bus
 * resource for a topic (its base64url, with padding). */
#include "config.h"

#include "edgecore.h"

#include <string.h>

G_DEFINE_QUARK (ec-codec-error-quark, ec_codec_error)

static const char b64url_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * ec_base64url_encode:
 * @data: (array length=length) (nullable): the bytes
 * @length: how many
 * @padding: end with `=` to a multiple of four characters, as Go's
 *   base64.URLEncoding does; %FALSE for RawURLEncoding (JWT)
 *
 * Encodes in base64url: the URL- and file-safe alphabet with `-` and `_`.
 *
 * Returns: (transfer full): the text
 *
 * Since: 1.1
 */
char *
ec_base64url_encode (const guint8 *data, gsize length, gboolean padding)
{
  GString *out;
  gsize i = 0;
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  out = g_string_sized_new (length / 3 * 4 + 5);
  for (; i + 3 <= length; i += 3)
    {
      guint32 v = ((guint32) data[i] << 16) | ((guint32) data[i + 1] << 8) | data[i + 2];
      char quad[4] = { b64url_alphabet[v >> 18], b64url_alphabet[(v >> 12) & 63],
                       b64url_alphabet[(v >> 6) & 63], b64url_alphabet[v & 63] };
      g_string_append_len (out, quad, 4);
    }
  if (length - i == 1)
    {
      guint32 v = (guint32) data[i] << 16;
      g_string_append_c (out, b64url_alphabet[v >> 18]);
      g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
      if (padding)
        g_string_append (out, "==");
    }
  else if (length - i == 2)
    {
      guint32 v = ((guint32) data[i] << 16) | ((guint32) data[i + 1] << 8);
      g_string_append_c (out, b64url_alphabet[v >> 18]);
      g_string_append_c (out, b64url_alphabet[(v >> 12) & 63]);
      g_string_append_c (out, b64url_alphabet[(v >> 6) & 63]);
      if (padding)
        g_string_append_c (out, '=');
    }
  return g_string_free (out, FALSE);
}

/**
 * ec_base64url_decode:
 * @text: base64url, with or without `=` padding
 * @out_length: (out): how many bytes were decoded
 * @error: where to put an error
 *
 * Decodes base64url. Padding is optional, but if present must be right;
 * any character outside the URL alphabet (the standard `+` and `/`,
 * spaces, line breaks) is an error.
 *
 * Returns: (transfer full) (array length=out_length) (nullable): the bytes,
 *   followed by a NUL that @out_length does not count; %NULL with
 *   %EC_CODEC_ERROR_BASE64
 *
 * Since: 1.1
 */
guint8 *
ec_base64url_decode (const char *text, gsize *out_length, GError **error)
{
  gsize len, pad = 0, n = 0;
  guint32 acc = 0;
  guint bits = 0;
  guint8 *out;
  g_return_val_if_fail (text != NULL && out_length != NULL, NULL);

  *out_length = 0;
  len = strlen (text);
  while (pad < len && pad < 2 && text[len - 1 - pad] == '=')
    pad++;
  if ((len - pad) % 4 == 1 || (pad && len % 4 != 0))
    {
      g_set_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_BASE64,
                   "not base64url: %" G_GSIZE_FORMAT " characters cannot end a group", len);
      return NULL;
    }
  out = g_malloc ((len - pad) / 4 * 3 + 3);
  for (gsize i = 0; i < len - pad; i++)
    {
      const char *at = text[i] ? memchr (b64url_alphabet, text[i], 64) : NULL;
      if (!at)
        {
          g_set_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_BASE64,
                       "not base64url: character %" G_GSIZE_FORMAT " is not in the URL alphabet",
                       i + 1);
          g_free (out);
          return NULL;
        }
      acc = (acc << 6) | (guint32) (at - b64url_alphabet);
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          out[n++] = (guint8) ((acc >> bits) & 0xff);
        }
    }
  out[n] = 0;
  *out_length = n;
  return out;
}

/* MQTT 3.1.1, 1.5.3: valid UTF-8 without U+0000, and (as mosquitto
 * checks) no control characters U+0001..U+001F, U+007F..U+009F. */
static gboolean
check_text (const char *s, GQuark code, const char *what, GError **error)
{
  gsize len = strlen (s);
  if (len == 0 || len > EC_MQTT_TOPIC_MAX)
    {
      g_set_error (error, EC_CODEC_ERROR, code, "an MQTT %s must have 1 to %d bytes, not %" G_GSIZE_FORMAT,
                   what, EC_MQTT_TOPIC_MAX, len);
      return FALSE;
    }
  if (!g_utf8_validate_len (s, len, NULL))
    {
      g_set_error (error, EC_CODEC_ERROR, code, "an MQTT %s must be valid UTF-8", what);
      return FALSE;
    }
  for (const char *p = s; *p; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);
      if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
        {
          g_set_error (error, EC_CODEC_ERROR, code,
                       "an MQTT %s must not hold the control character U+%04X", what, c);
          return FALSE;
        }
    }
  return TRUE;
}

/**
 * ec_mqtt_topic_validate:
 * @topic: a topic name, as published to
 * @error: where to put an error
 *
 * Checks a topic name: 1 to %EC_MQTT_TOPIC_MAX bytes of UTF-8, no control
 * characters, no wildcard `+` or `#`.
 *
 * Returns: %TRUE if valid; otherwise %FALSE with %EC_CODEC_ERROR_TOPIC
 *
 * Since: 1.1
 */
gboolean
ec_mqtt_topic_validate (const char *topic, GError **error)
{
  g_return_val_if_fail (topic != NULL, FALSE);
  if (!check_text (topic, EC_CODEC_ERROR_TOPIC, "topic name", error))
    return FALSE;
  if (strpbrk (topic, "+#"))
    {
      g_set_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC,
                   "an MQTT topic name must not hold the wildcards + or #");
      return FALSE;
    }
  return TRUE;
}

/**
 * ec_mqtt_topic_validate_filter:
 * @filter: a topic filter, as subscribed to
 * @error: where to put an error
 *
 * Checks a topic filter: the rules of a topic name, except that `+` may
 * stand for a whole level and `#` for a whole last level.
 *
 * Returns: %TRUE if valid; otherwise %FALSE with %EC_CODEC_ERROR_FILTER
 *
 * Since: 1.1
 */
gboolean
ec_mqtt_topic_validate_filter (const char *filter, GError **error)
{
  g_return_val_if_fail (filter != NULL, FALSE);
  if (!check_text (filter, EC_CODEC_ERROR_FILTER, "topic filter", error))
    return FALSE;
  for (const char *p = filter; *p; p++)
    {
      gboolean level_start = p == filter || p[-1] == '/';
      gboolean level_end = p[1] == '\0' || p[1] == '/';
      if (*p == '+' && !(level_start && level_end))
        {
          g_set_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_FILTER,
                       "in an MQTT topic filter + must be a whole level");
          return FALSE;
        }
      if (*p == '#' && !(level_start && p[1] == '\0'))
        {
          g_set_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_FILTER,
                       "in an MQTT topic filter # must be the whole last level");
          return FALSE;
        }
    }
  return TRUE;
}

/**
 * ec_mqtt_topic_matches:
 * @filter: a valid topic filter
 * @topic: a topic name
 *
 * Tells whether a message published to @topic reaches a subscription to
 * @filter (MQTT 3.1.1, 4.7): `+` matches one level (an empty one too),
 * `#` the rest, including none (`a/#` matches `a`). A filter that starts
 * with a wildcard does not match a topic that starts with `$`.
 *
 * Returns: %TRUE if it matches
 *
 * Since: 1.1
 */
gboolean
ec_mqtt_topic_matches (const char *filter, const char *topic)
{
  const char *f = filter, *t = topic;
  g_return_val_if_fail (filter != NULL && topic != NULL, FALSE);
  if (*t == '$' && (*f == '+' || *f == '#'))
    return FALSE;
  for (;;)
    {
      if (*f == '#')
        return TRUE;
      if (*f == '+')
        {
          while (*t && *t != '/')
            t++;
          f++;
        }
      else
        {
          while (*f && *f != '/' && *f == *t)
            {
              f++;
              t++;
            }
          if ((*f && *f != '/') || (*t && *t != '/'))
            return FALSE;   /* the levels differ */
        }
      /* both at the end of a level */
      if (!*f && !*t)
        return TRUE;
      if (!*t)
        return f[0] == '/' && f[1] == '#' && f[2] == '\0';  /* a/# matches a */
      if (!*f)
        return FALSE;
      f++;
      t++;
    }
}

/**
 * ec_mqtt_topic_to_resource:
 * @topic: a topic name
 *
 * The bus resource under which KubeEdge's eventbus hands a message received
 * on @topic to devicetwin: base64url of the topic, with padding.
 *
 * Returns: (transfer full): the resource
 *
 * Since: 1.1
 */
char *
ec_mqtt_topic_to_resource (const char *topic)
{
  g_return_val_if_fail (topic != NULL, NULL);
  return ec_base64url_encode ((const guint8 *) topic, strlen (topic), TRUE);
}

/**
 * ec_mqtt_topic_from_resource:
 * @resource: a bus resource made by ec_mqtt_topic_to_resource() (padding
 *   optional)
 * @error: where to put an error
 *
 * Reads the topic back from such a resource.
 *
 * Returns: (transfer full) (nullable): the topic; %NULL with
 *   %EC_CODEC_ERROR_BASE64 if it is not base64url, or
 *   %EC_CODEC_ERROR_TOPIC if what it holds is not a valid topic name (a
 *   NUL, invalid UTF-8, a wildcard, empty)
 *
 * Since: 1.1
 */
char *
ec_mqtt_topic_from_resource (const char *resource, GError **error)
{
  gsize len = 0;
  g_autofree char *topic = NULL;
  g_return_val_if_fail (resource != NULL, NULL);
  topic = (char *) ec_base64url_decode (resource, &len, error);
  if (!topic)
    return NULL;
  if (memchr (topic, 0, len))
    {
      g_set_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC,
                   "an MQTT topic name must not hold U+0000");
      return NULL;
    }
  if (!ec_mqtt_topic_validate (topic, error))
    return NULL;
  return g_steal_pointer (&topic);
}
