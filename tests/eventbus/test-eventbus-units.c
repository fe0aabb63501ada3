/* test-eventbus-units.c: eventbus's pure helpers, compiled in from
 * plugins/eventbus: which topics go to devicetwin, KubeEdge's client ids, and the QoS 0 PUBLISH packets the
 * batched publisher writes. */
#include "eb-util.h"

#include <string.h>

/* Topics under $hw/events/device/ and $hw/events/node/ go to devicetwin. */
static void
test_classify (void)
{
  g_assert_true (eb_topic_is_twin ("$hw/events/device/dev1/twin/update"));
  g_assert_true (eb_topic_is_twin ("$hw/events/node/n1/membership/get"));
  g_assert_false (eb_topic_is_twin ("$hw/events/upload/x"));
  g_assert_false (eb_topic_is_twin ("SYS/dis/upload_records"));
  g_assert_false (eb_topic_is_twin ("a/user/b"));
  g_assert_false (eb_topic_is_twin ("$hw/events/devices/x"));
  g_assert_false (eb_topic_is_twin (""));
}

/* The configured id wins; otherwise hub-client-<role>-<10 digits of ms>. */
static void
test_client_id (void)
{
  g_autofree char *a = eb_client_id ("mine", "sub", 1700000000123);
  g_autofree char *b = eb_client_id ("", "sub", 1700000000123);
  g_autofree char *c = eb_client_id (NULL, "pub", 1700000000123);
  g_autofree char *d = eb_client_id (NULL, "pub", 12345);

  g_assert_cmpstr (a, ==, "mine");
  g_assert_cmpstr (b, ==, "hub-client-sub-1700000000");
  g_assert_cmpstr (c, ==, "hub-client-pub-1700000000");
  g_assert_cmpstr (d, ==, "hub-client-pub-12345");
}

/* PUBLISH at QoS 0: fixed header, remaining length (variable length),
 * topic, payload, exactly as MQTT 3.1.1 section 3.3 lays them out. */
static void
test_publish_encoding (void)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autofree char *big = g_malloc0 (200);
  static const guint8 small[] = { 0x30, 0x06, 0x00, 0x02, 'a', '/', 'h', 'i' };
  static const guint8 retained[] = { 0x31, 0x03, 0x00, 0x01, 't' };

  g_assert_true (eb_mqtt_encode_publish (out, "a/", "hi", 2, FALSE));
  g_assert_cmpmem (out->data, out->len, small, sizeof small);
  g_byte_array_set_size (out, 0);
  g_assert_true (eb_mqtt_encode_publish (out, "t", NULL, 0, TRUE));
  g_assert_cmpmem (out->data, out->len, retained, sizeof retained);

  /* 2 + 1 + 200 = 203 = 0xcb 0x01 as a variable length */
  g_byte_array_set_size (out, 0);
  g_assert_true (eb_mqtt_encode_publish (out, "t", big, 200, FALSE));
  g_assert_cmpuint (out->len, ==, 1 + 2 + 2 + 1 + 200);
  g_assert_cmpuint (out->data[1], ==, 0xcb);
  g_assert_cmpuint (out->data[2], ==, 0x01);
  g_assert_cmpuint (out->data[5], ==, 't');

  /* batches append */
  g_assert_true (eb_mqtt_encode_publish (out, "a/", "hi", 2, FALSE));
  g_assert_cmpmem (out->data + 206, out->len - 206, small, sizeof small);

  /* a topic longer than MQTT allows is refused, nothing appended */
  {
    g_autofree char *topic = g_strnfill (65536, 'x');
    guint len = out->len;
    g_assert_false (eb_mqtt_encode_publish (out, topic, "x", 1, FALSE));
    g_assert_cmpuint (out->len, ==, len);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/eventbus/classify", test_classify);
  g_test_add_func ("/eventbus/client-id", test_client_id);
  g_test_add_func ("/eventbus/publish-encoding", test_publish_encoding);
  return g_test_run ();
}
