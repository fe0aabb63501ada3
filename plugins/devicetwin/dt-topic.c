/* dt-topic.c: reading the MQTT topic of a mapper event (base64url in the
 * bus resource; device id and suffix). */
#include "dt-types.h"

#include <string.h>

/* Decodes base64url (with or without padding) into out; FALSE if it is
 * not base64url or not a UTF-8 text without NUL. */
gboolean
dt_decode_topic (const char *resource, GString *out)
{
  guint32 acc = 0;
  guint bits = 0;
  gsize len = strlen (resource), pad = 0;

  g_string_truncate (out, 0);
  while (pad < len && pad < 2 && resource[len - 1 - pad] == '=')
    pad++;
  if (len == 0 || (len - pad) % 4 == 1)
    return FALSE;
  for (gsize i = 0; i < len - pad; i++)
    {
      char c = resource[i];
      guint v;
      if (c >= 'A' && c <= 'Z')
        v = (guint) (c - 'A');
      else if (c >= 'a' && c <= 'z')
        v = (guint) (c - 'a' + 26);
      else if (c >= '0' && c <= '9')
        v = (guint) (c - '0' + 52);
      else if (c == '-')
        v = 62;
      else if (c == '_')
        v = 63;
      else
        return FALSE;
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          g_string_append_c (out, (char) ((acc >> bits) & 0xff));
        }
    }
  return out->len > 0 && !memchr (out->str, 0, out->len) && g_utf8_validate (out->str, out->len, NULL);
}

/* Splits a device topic into id and suffix. Accepts HEAD's <ns>/<name>
 * and v1.9.2's single-level ids. The id is cut out of topic in place
 * (topic is the caller's scratch copy). */
const char *
dt_device_suffix (char *topic, const char **id)
{
  static const char *const suffixes[] = {
    "/twin/update", "/twin/get", "/twin/cloud_updated", "/state/update", NULL,
  };
  char *rest = topic + strlen ("$hw/events/device/");
  gsize len = strlen (rest);

  for (guint i = 0; suffixes[i]; i++)
    {
      gsize sl = strlen (suffixes[i]);
      if (len >= sl && strcmp (rest + len - sl, suffixes[i]) == 0)
        {
          rest[len - sl] = '\0';
          *id = rest;
          return suffixes[i];
        }
    }
  return NULL;
}

/* Whether an id has one or two non-empty levels. */
gboolean
dt_id_well_formed (const char *id)
{
  const char *slash = strchr (id, '/');
  if (!*id || id[0] == '/')
    return FALSE;
  if (!slash)
    return TRUE;
  return slash[1] && !strchr (slash + 1, '/');
}
