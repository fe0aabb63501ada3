/* eb-util.c: eventbus's pure helpers: topic classification, client ids,
 * PUBLISH encoding. (The base64url resource of a topic is the API's
 * ec_mqtt_topic_to_resource().) */
#include "eb-util.h"

#include <string.h>

/* Whether topic goes to devicetwin (reference section 1.2); everything
 * else goes up to the cloud. */
gboolean
eb_topic_is_twin (const char *topic)
{
  return g_str_has_prefix (topic, "$hw/events/device/") || g_str_has_prefix (topic, "$hw/events/node/");
}

/* KubeEdge's client id: the configured one, else hub-client-<role>-<the
 * first 10 digits of the Unix time in ms>. */
char *
eb_client_id (const char *configured, const char *role, gint64 unix_ms)
{
  g_autofree char *ms = NULL;

  if (configured && *configured)
    return g_strdup (configured);
  ms = g_strdup_printf ("%" G_GINT64_FORMAT, unix_ms);
  if (strlen (ms) > 10)
    ms[10] = '\0';
  return g_strdup_printf ("hub-client-%s-%s", role, ms);
}

/* Appends an MQTT 3.1.1 PUBLISH packet at QoS 0 (fixed header, topic,
 * payload) to out. FALSE (out unchanged) if the topic or payload is too
 * long for MQTT. */
gboolean
eb_mqtt_encode_publish (GByteArray *out, const char *topic, const void *payload, gsize length,
                        gboolean retain)
{
  gsize topic_len = strlen (topic);
  gsize remaining = 2 + topic_len + length;
  guint8 head[7];
  guint n = 0;

  if (topic_len > 65535 || remaining > 268435455)
    return FALSE;
  head[n++] = (guint8) (0x30 | (retain ? 1 : 0));
  do
    {
      guint8 b = remaining % 128;
      remaining /= 128;
      head[n++] = (guint8) (remaining ? b | 0x80 : b);
    }
  while (remaining);
  head[n++] = (guint8) (topic_len >> 8);
  head[n++] = (guint8) (topic_len & 0xff);
  g_byte_array_append (out, head, n);
  g_byte_array_append (out, (const guint8 *) topic, (guint) topic_len);
  if (length)
    g_byte_array_append (out, payload, (guint) length);
  return TRUE;
}
