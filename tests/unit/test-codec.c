/* test-codec.c: base64url (RFC 4648 vectors, the URL alphabet, padding
 * either way, bad input refused) and MQTT topics (names, filters, wildcard
 * matching per MQTT 3.1.1 4.7, eventbus's base64url resource). */
#include "config.h"

#include <edgecore.h>
#include <string.h>

static void
test_base64url_vectors (void)
{
  static const struct { const char *in, *padded, *raw; } v[] = {
    { "", "", "" },
    { "f", "Zg==", "Zg" },
    { "fo", "Zm8=", "Zm8" },
    { "foo", "Zm9v", "Zm9v" },
    { "foob", "Zm9vYg==", "Zm9vYg" },
    { "fooba", "Zm9vYmE=", "Zm9vYmE" },
    { "foobar", "Zm9vYmFy", "Zm9vYmFy" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (v); i++)
    {
      gsize n = strlen (v[i].in), len = 99;
      g_autofree char *padded = ec_base64url_encode ((const guint8 *) v[i].in, n, TRUE);
      g_autofree char *raw = ec_base64url_encode ((const guint8 *) v[i].in, n, FALSE);
      g_autofree guint8 *back = NULL, *back_raw = NULL;
      g_autoptr (GError) error = NULL;
      g_assert_cmpstr (padded, ==, v[i].padded);
      g_assert_cmpstr (raw, ==, v[i].raw);
      back = ec_base64url_decode (padded, &len, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (len, ==, n);
      g_assert_cmpmem (back, len, v[i].in, n);
      g_assert_cmpint (back[len], ==, 0);
      back_raw = ec_base64url_decode (raw, &len, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (back_raw, len, v[i].in, n);
    }
}

static void
test_base64url_alphabet (void)
{
  static const guint8 bytes[] = { 0xfb, 0xff };
  g_autofree char *text = ec_base64url_encode (bytes, 2, TRUE);
  g_autofree guint8 *back = NULL;
  gsize len = 0;
  g_assert_cmpstr (text, ==, "-_8=");
  back = ec_base64url_decode ("-_8", &len, NULL);
  g_assert_cmpmem (back, len, bytes, 2);
  /* every byte value round-trips */
  {
    guint8 all[256];
    g_autofree char *t = NULL;
    g_autofree guint8 *b = NULL;
    for (guint i = 0; i < 256; i++)
      all[i] = (guint8) i;
    t = ec_base64url_encode (all, 256, FALSE);
    g_assert_null (strpbrk (t, "+/="));
    b = ec_base64url_decode (t, &len, NULL);
    g_assert_cmpmem (b, len, all, 256);
  }
}

static void
test_base64url_bad (void)
{
  /* the standard alphabet, spaces, a lone trailing character, bad padding */
  static const char *const bad[] = { "+/8=", "Zm9v Yg==", "Zm9vY", "Zg=", "Z===", "Zm9v\n", "é" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      gsize len = 99;
      g_assert_null (ec_base64url_decode (bad[i], &len, &error));
      g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_BASE64);
      g_assert_cmpuint (len, ==, 0);
    }
}

static void
test_topic_validate (void)
{
  static const char *const good[] = { "a", "/", "a/b/c", "$hw/events/device/ns/dev-1/twin/update",
                                      "a//b", "设备/状态" };
  static const char *const bad[] = { "", "a/+", "a/#", "+", "a\tb", "a\x7f", "\xff\xfe" };
  g_autofree char *too_long = g_strnfill (EC_MQTT_TOPIC_MAX + 1, 'x');
  g_autofree char *longest = g_strnfill (EC_MQTT_TOPIC_MAX, 'x');
  g_autoptr (GError) error = NULL;
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_assert_true (ec_mqtt_topic_validate (good[i], NULL));
      g_assert_true (ec_mqtt_topic_validate_filter (good[i], NULL));
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_false (ec_mqtt_topic_validate (bad[i], &error));
      g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC);
      g_clear_error (&error);
    }
  g_assert_true (ec_mqtt_topic_validate (longest, NULL));
  g_assert_false (ec_mqtt_topic_validate (too_long, &error));
  g_assert_nonnull (strstr (error->message, "1 to 65535 bytes"));
}

static void
test_filter_validate (void)
{
  static const char *const good[] = { "#", "+", "a/+", "+/b", "a/#", "+/+/#", "$hw/events/device/+/+/twin/+",
                                      "/+", "+/" };
  static const char *const bad[] = { "", "a+", "a/b+", "#/a", "a/#/b", "a#", "++", "a/+b", "a\n" };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (ec_mqtt_topic_validate_filter (good[i], NULL));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (ec_mqtt_topic_validate_filter (bad[i], &error));
      g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_FILTER);
    }
}

static void
test_matches (void)
{
  static const struct { const char *filter, *topic; gboolean match; } v[] = {
    /* MQTT 3.1.1 4.7.1.2: sport/tennis/player1/# */
    { "sport/tennis/player1/#", "sport/tennis/player1", TRUE },
    { "sport/tennis/player1/#", "sport/tennis/player1/ranking", TRUE },
    { "sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", TRUE },
    { "sport/#", "sport", TRUE },
    { "#", "anything/at/all", TRUE },
    /* 4.7.1.3: + */
    { "sport/tennis/+", "sport/tennis/player1", TRUE },
    { "sport/tennis/+", "sport/tennis/player1/ranking", FALSE },
    { "sport/+", "sport", FALSE },
    { "sport/+", "sport/", TRUE },
    { "+/+", "/finance", TRUE },
    { "/+", "/finance", TRUE },
    { "+", "/finance", FALSE },
    /* 4.7.2: $ topics and leading wildcards */
    { "#", "$SYS/x", FALSE },
    { "+/monitor/Clients", "$SYS/monitor/Clients", FALSE },
    { "$SYS/#", "$SYS/monitor/Clients", TRUE },
    { "$SYS/monitor/+", "$SYS/monitor/Clients", TRUE },
    /* KubeEdge's subscriptions */
    { "$hw/events/device/+/+/twin/+", "$hw/events/device/ns/dev/twin/update", TRUE },
    { "$hw/events/device/+/+/twin/+", "$hw/events/device/dev/twin/update", FALSE },
    { "$hw/events/device/+/twin/+", "$hw/events/device/dev/twin/update", TRUE },
    { "$hw/events/node/+/membership/get", "$hw/events/node/edge-1/membership/get", TRUE },
    { "$hw/events/node/+/membership/get", "$hw/events/node/edge-1/membership/get/x", FALSE },
    { "$hw/events/upload/#", "$hw/events/upload", TRUE },
    { "+/user/#", "a/user/b/c", TRUE },
    { "+/user/#", "a/users/b", FALSE },
    /* plain levels */
    { "a/b", "a/b", TRUE },
    { "a/b", "a/bc", FALSE },
    { "a/bc", "a/b", FALSE },
    { "a", "a/b", FALSE },
    { "a/b", "a", FALSE },
    { "a//b", "a//b", TRUE },
    { "a/+/b", "a//b", TRUE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (v); i++)
    if (ec_mqtt_topic_matches (v[i].filter, v[i].topic) != v[i].match)
      g_error ("%s against %s: expected %s", v[i].filter, v[i].topic, v[i].match ? "a match" : "none");
}

static void
test_resource (void)
{
  const char *topic = "$hw/events/device/ns/dev-1/twin/update";
  const char *node = "$hw/events/node/节点/membership/get";
  g_autofree char *r = ec_mqtt_topic_to_resource (topic);
  g_autofree char *rn = ec_mqtt_topic_to_resource (node);
  g_autofree char *back = NULL, *back_unpadded = NULL, *back_node = NULL;
  g_autoptr (GError) error = NULL;
  /* what Go's base64.URLEncoding gives (KubeEdge eventbus) */
  g_assert_cmpstr (r, ==, "JGh3L2V2ZW50cy9kZXZpY2UvbnMvZGV2LTEvdHdpbi91cGRhdGU=");
  g_assert_cmpstr (rn, ==, "JGh3L2V2ZW50cy9ub2RlL-iKgueCuS9tZW1iZXJzaGlwL2dldA==");
  back = ec_mqtt_topic_from_resource (r, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (back, ==, topic);
  back_unpadded = ec_mqtt_topic_from_resource ("JGh3L2V2ZW50cy9kZXZpY2UvbnMvZGV2LTEvdHdpbi91cGRhdGU", NULL);
  g_assert_cmpstr (back_unpadded, ==, topic);
  back_node = ec_mqtt_topic_from_resource (rn, NULL);
  g_assert_cmpstr (back_node, ==, node);
  {
    static const guint8 high[] = { 0xfb, 0xff, 0xbf };
    g_autofree char *v192 = ec_mqtt_topic_to_resource ("$hw/events/device/dev1/twin/update");
    g_autofree char *h = ec_base64url_encode (high, 3, TRUE);
    g_assert_cmpstr (v192, ==, "JGh3L2V2ZW50cy9kZXZpY2UvZGV2MS90d2luL3VwZGF0ZQ==");
    g_assert_cmpstr (h, ==, "-_-_");
  }
  /* not base64url; a NUL inside; a wildcard; empty; invalid UTF-8 */
  g_assert_null (ec_mqtt_topic_from_resource ("$hw/events", &error));
  g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_BASE64);
  g_clear_error (&error);
  g_assert_null (ec_mqtt_topic_from_resource ("YQBi", &error));
  g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC);
  g_clear_error (&error);
  g_assert_null (ec_mqtt_topic_from_resource ("YS8r", &error));
  g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC);
  g_clear_error (&error);
  g_assert_null (ec_mqtt_topic_from_resource ("", &error));
  g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC);
  g_clear_error (&error);
  g_assert_null (ec_mqtt_topic_from_resource ("__8=", &error));
  g_assert_error (error, EC_CODEC_ERROR, EC_CODEC_ERROR_TOPIC);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/codec/base64url/vectors", test_base64url_vectors);
  g_test_add_func ("/codec/base64url/alphabet", test_base64url_alphabet);
  g_test_add_func ("/codec/base64url/bad", test_base64url_bad);
  g_test_add_func ("/codec/mqtt/topic-validate", test_topic_validate);
  g_test_add_func ("/codec/mqtt/filter-validate", test_filter_validate);
  g_test_add_func ("/codec/mqtt/matches", test_matches);
  g_test_add_func ("/codec/mqtt/resource", test_resource);
  return g_test_run ();
}
