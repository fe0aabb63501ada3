/* fuzz-eventbus-topic.c: an MQTT topic as eventbus meets it (any UTF-8
 * text a local client publishes to, up to its first NUL as libmosquitto
 * hands it over; one that is not UTF-8 is dropped): the twin/cloud
 * classification, the base64url resource (ec_mqtt_topic_to_resource)
 * devicetwin decodes back with ec_mqtt_topic_from_resource (it must give
 * the same topic if the topic is a valid topic name, and an error if not),
 * the bus message that carries it, and the PUBLISH packet eventbus encodes
 * for it. */
#include "fuzz-common.h"

#include <edgecore.h>

#include "eb-util.h"
#include "dt-types.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *topic = NULL;
  g_autoptr (GByteArray) packet = g_byte_array_new ();
  g_autoptr (EcMessage) msg = NULL;
  g_autoptr (EcMessage) again = NULL;
  g_autofree char *json = NULL;
  static const char payload[] = "{\"event_id\":\"e\",\"timestamp\":1}";
  gsize len, rem = 0, mult = 1, i;

  fuzz_init ();
  topic = fuzz_strndup (data, size);
  len = strlen (topic);
  if (!g_utf8_validate (topic, -1, NULL))
    return 0;   /* dropped by on_mqtt_message (libmosquitto 2 refuses them already) */
  if (eb_topic_is_twin (topic))
    {
      g_autofree char *resource = ec_mqtt_topic_to_resource (topic);
      g_autofree char *back = NULL;
      g_autoptr (GError) error = NULL;

      msg = ec_message_new ("bus", "user", EC_OP_RESPONSE, resource);
      back = ec_mqtt_topic_from_resource (ec_message_get_resource (msg), &error);
      if (ec_mqtt_topic_validate (topic, NULL))
        {
          g_assert_no_error (error);
          g_assert_cmpstr (back, ==, topic);
          if (g_str_has_prefix (back, "$hw/events/device/"))
            {
              const char *id = NULL;
              const char *suffix = dt_device_suffix (back, &id);
              if (suffix)
                (void) dt_id_well_formed (id);
            }
        }
      else
        {
          g_assert_null (back);
          g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC);
        }
    }
  else
    msg = ec_message_new ("bus", "user", EC_OP_UPLOAD, topic);
  json = ec_message_to_json (msg, NULL);
  again = ec_message_new_from_json (json, -1, NULL);
  g_assert_nonnull (again);
  g_assert_cmpstr (ec_message_get_resource (again), ==, ec_message_get_resource (msg));

  /* bus -> MQTT: the PUBLISH packet for the topic reads back */
  if (!eb_mqtt_encode_publish (packet, topic, payload, sizeof payload - 1, size & 1))
    return 0;
  g_assert_cmpuint (packet->data[0] & 0xf0, ==, 0x30);
  for (i = 1; i < packet->len; i++)
    {
      rem += (gsize) (packet->data[i] & 0x7f) * mult;
      mult *= 128;
      if (!(packet->data[i] & 0x80))
        break;
    }
  g_assert_cmpuint (i, <=, 4);
  g_assert_cmpuint (rem, ==, packet->len - i - 1);
  g_assert_cmpuint ((gsize) packet->data[i + 1] << 8 | packet->data[i + 2], ==, len);
  g_assert_cmpmem (packet->data + i + 3, len, topic, len);
  return 0;
}
