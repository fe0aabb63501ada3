/* test-message.c: the message model and its wire JSON. */
#include "config.h"

#include <edgecore.h>
#include <string.h>

static void
test_new_defaults (void)
{
  g_autoptr (EcMessage) m = ec_message_new ("edged", "meta", "insert", "default/pod/nginx");
  const char *id = ec_message_get_id (m);
  gint64 now = g_get_real_time () / 1000;

  g_assert_cmpuint (strlen (id), ==, 36);
  g_assert_cmpint (id[14], ==, '4');              /* version 4 */
  g_assert_true (strchr ("89ab", id[19]) != NULL); /* RFC 4122 variant */
  for (const char *p = id; *p; p++)
    g_assert_true (*p == '-' || g_ascii_isdigit (*p) || (*p >= 'a' && *p <= 'f'));
  g_assert_cmpint (ABS (ec_message_get_timestamp (m) - now), <, 5000);
  g_assert_cmpstr (ec_message_get_source (m), ==, "edged");
  g_assert_cmpstr (ec_message_get_group (m), ==, "meta");
  g_assert_cmpstr (ec_message_get_operation (m), ==, "insert");
  g_assert_cmpstr (ec_message_get_resource (m), ==, "default/pod/nginx");
  g_assert_cmpstr (ec_message_get_parent_id (m), ==, "");
  g_assert_cmpstr (ec_message_get_content_json (m, NULL), ==, "null");
}

static void
test_ids_unique (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (int i = 0; i < 100000; i++)
    g_assert_true (g_hash_table_add (seen, ec_new_uuid ()));
}

/* The keepalive exactly as the Go edgehub writes it (reference, section 1). */
static void
test_encode_go_order (void)
{
  g_autoptr (EcMessage) m = ec_message_new ("websocket", "resource", "keepalive", "node");
  g_autofree char *json = NULL;
  ec_message_set_id (m, "3f0c9a52-5b8e-4a53-9a4c-1d0f6c2f9e11");
  ec_message_set_timestamp (m, 1722930000123);
  ec_message_set_content_string (m, "ping");
  json = ec_message_to_json (m, NULL);
  g_assert_cmpstr (json, ==,
                   "{\"header\":{\"msg_id\":\"3f0c9a52-5b8e-4a53-9a4c-1d0f6c2f9e11\",\"timestamp\":1722930000123},"
                   "\"route\":{\"source\":\"websocket\",\"group\":\"resource\",\"operation\":\"keepalive\",\"resource\":\"node\"},"
                   "\"content\":\"ping\"}");
}

static void
test_encode_all_fields (void)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", "b", "c", "d");
  g_autofree char *json = NULL;
  ec_message_set_id (m, "id");
  ec_message_set_parent_id (m, "pid");
  ec_message_set_timestamp (m, 7);
  ec_message_set_resource_version (m, "42");
  ec_message_set_sync (m, TRUE);
  ec_message_set_message_type (m, "unixsocket");
  ec_message_set_destination (m, "dst");
  g_assert_true (ec_message_set_content_json (m, " {\"a\": [1, 2.50, 1e400]} ", -1, NULL));
  json = ec_message_to_json (m, NULL);
  g_assert_cmpstr (json, ==,
                   "{\"header\":{\"msg_id\":\"id\",\"parent_msg_id\":\"pid\",\"timestamp\":7,"
                   "\"resourceversion\":\"42\",\"sync\":true,\"type\":\"unixsocket\"},"
                   "\"route\":{\"source\":\"a\",\"destination\":\"dst\",\"group\":\"b\",\"operation\":\"c\",\"resource\":\"d\"},"
                   "\"content\": {\"a\": [1, 2.50, 1e400]} }");
}

static void
test_empty_route (void)
{
  g_autoptr (EcMessage) m = ec_message_new (NULL, NULL, NULL, NULL);
  g_autofree char *json = NULL;
  ec_message_set_id (m, "");
  ec_message_set_timestamp (m, 0);
  json = ec_message_to_json (m, NULL);
  g_assert_cmpstr (json, ==, "{\"header\":{\"msg_id\":\"\",\"timestamp\":0},\"route\":{},\"content\":null}");
}

/* Go's encoding/json escapes HTML characters and U+2028/9. */
static void
test_go_string_escaping (void)
{
  g_autoptr (EcMessage) m = ec_message_new (NULL, NULL, NULL, "a<b>&\"\\\n\t\x01\xe2\x80\xa8z\xff");
  g_autofree char *json = NULL;
  ec_message_set_content_string (m, "é€😀");
  json = ec_message_to_json (m, NULL);
  g_assert_nonnull (strstr (json, "\"resource\":\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\t\\u0001\\u2028z\\ufffd\""));
  g_assert_nonnull (strstr (json, "\"content\":\"é€😀\""));
}

static void
test_decode_roundtrip_lossless (void)
{
  const char *wire =
    "{\"header\":{\"msg_id\":\"b1d2\",\"parent_msg_id\":\"p\",\"timestamp\":1722930001000,"
    "\"resourceversion\":\"48211\",\"sync\":false,\"type\":\"\"},"
    "\"route\":{\"source\":\"edgecontroller\",\"group\":\"resource\",\"operation\":\"insert\","
    "\"resource\":\"default/pod/nginx\"},"
    "\"content\":{\"metadata\":{\"name\":\"nginx\",\"n\":12345678901234567890123,\"f\":1.10},"
    "\"s\":\"\\u00e9\\/\"}}";
  g_autoptr (GError) error = NULL;
  g_autoptr (EcMessage) m = ec_message_new_from_json (wire, -1, &error);
  g_autoptr (EcMessage) again = NULL;
  g_autofree char *out = NULL, *out2 = NULL;
  gsize len;

  g_assert_no_error (error);
  g_assert_cmpstr (ec_message_get_id (m), ==, "b1d2");
  g_assert_cmpstr (ec_message_get_parent_id (m), ==, "p");
  g_assert_cmpint (ec_message_get_timestamp (m), ==, 1722930001000);
  g_assert_cmpstr (ec_message_get_resource_version (m), ==, "48211");
  g_assert_false (ec_message_get_sync (m));
  g_assert_cmpstr (ec_message_get_source (m), ==, "edgecontroller");
  g_assert_cmpstr (ec_message_get_resource (m), ==, "default/pod/nginx");
  /* content bytes untouched: big integer, 1.10 and escapes as sent */
  g_assert_cmpstr (ec_message_get_content_json (m, &len), ==,
                   "{\"metadata\":{\"name\":\"nginx\",\"n\":12345678901234567890123,\"f\":1.10},\"s\":\"\\u00e9\\/\"}");
  out = ec_message_to_json (m, NULL);
  again = ec_message_new_from_json (out, -1, &error);
  g_assert_no_error (error);
  out2 = ec_message_to_json (again, NULL);
  g_assert_cmpstr (out, ==, out2);
}

static void
test_decode_go_rules (void)
{
  g_autoptr (GError) error = NULL;
  /* keys match case-insensitively; unknown keys are ignored; null leaves empty */
  g_autoptr (EcMessage) m = ec_message_new_from_json (
    " {\"Header\":{\"MSG_ID\":\"x\",\"timestamp\":null,\"extra\":[1,{}]},\"ROUTE\":{\"Operation\":\"query\","
    "\"source\":null},\"other\":true} ", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ec_message_get_id (m), ==, "x");
  g_assert_cmpint (ec_message_get_timestamp (m), ==, 0);
  g_assert_cmpstr (ec_message_get_operation (m), ==, "query");
  g_assert_cmpstr (ec_message_get_source (m), ==, "");
  g_assert_cmpstr (ec_message_get_content_json (m, NULL), ==, "null");
}

static void
test_decode_errors (void)
{
  static const struct { const char *text; int code; } cases[] = {
    { "", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{\"header\":{\"msg_id\":\"a\"}", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{\"content\":[1,2,]}", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{\"content\":tru}", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{\"content\":\"\x01\"}", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{\"content\":\"\xc3\"}", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{\"content\":01}", EC_MESSAGE_ERROR_INVALID_JSON },
    { "{} {}", EC_MESSAGE_ERROR_INVALID_JSON },
    { "not json at all", EC_MESSAGE_ERROR_INVALID_JSON },
    { "[1]", EC_MESSAGE_ERROR_INVALID_FIELD },
    { "{\"header\":{\"msg_id\":5}}", EC_MESSAGE_ERROR_INVALID_FIELD },
    { "{\"header\":{\"timestamp\":\"5\"}}", EC_MESSAGE_ERROR_INVALID_FIELD },
    { "{\"header\":{\"timestamp\":1.5}}", EC_MESSAGE_ERROR_INVALID_FIELD },
    { "{\"header\":{\"sync\":1}}", EC_MESSAGE_ERROR_INVALID_FIELD },
    { "{\"route\":[]}", EC_MESSAGE_ERROR_INVALID_FIELD },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      EcMessage *m = ec_message_new_from_json (cases[i].text, -1, &error);
      g_autofree char *shown = g_strescape (cases[i].text, NULL);
      g_test_message ("case %u: %s", i, shown);
      g_assert_null (m);
      g_assert_error (error, EC_MESSAGE_ERROR, cases[i].code);
    }
}

static void
test_deep_nesting_rejected (void)
{
  GString *s = g_string_new ("{\"content\":");
  g_autoptr (GError) error = NULL;
  for (int i = 0; i < 100000; i++)
    g_string_append_c (s, '[');
  g_assert_null (ec_message_new_from_json (s->str, s->len, &error));
  g_assert_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_JSON);
  g_string_free (s, TRUE);
}

static void
test_response_and_error (void)
{
  g_autoptr (EcMessage) req = ec_message_new ("edged", "meta", "query", "default/configmap/cm");
  g_autoptr (EcMessage) resp = NULL, err = NULL;
  g_autofree char *text = NULL;
  ec_message_set_message_type (req, "unixsocket");
  resp = ec_message_new_response (req, "\"OK\"");
  g_assert_cmpstr (ec_message_get_parent_id (resp), ==, ec_message_get_id (req));
  g_assert_cmpstr (ec_message_get_id (resp), !=, ec_message_get_id (req));
  g_assert_cmpstr (ec_message_get_source (resp), ==, "edged");
  g_assert_cmpstr (ec_message_get_group (resp), ==, "meta");
  g_assert_cmpstr (ec_message_get_resource (resp), ==, "default/configmap/cm");
  g_assert_cmpstr (ec_message_get_operation (resp), ==, "response");
  g_assert_cmpstr (ec_message_get_message_type (resp), ==, "unixsocket");
  text = ec_message_dup_content_string (resp);
  g_assert_cmpstr (text, ==, "OK");

  err = ec_message_new_error (req, "boom \"x\"");
  g_assert_cmpstr (ec_message_get_operation (err), ==, "error");
  g_assert_cmpstr (ec_message_get_parent_id (err), ==, ec_message_get_id (req));
  g_assert_cmpstr (ec_message_get_content_json (err, NULL), ==, "\"boom \\\"x\\\"\"");
}

static void
test_content_access (void)
{
  g_autoptr (EcMessage) m = ec_message_new (NULL, NULL, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *doc = NULL, *raw = NULL;
  JsonNode *node;
  g_autoptr (JsonNode) built = json_from_string ("{\"k\":[true]}", NULL);

  /* a JSON document inside a string, as eventbus and devicetwin send */
  ec_message_set_content_string (m, "{\"event_id\":\"1\"}");
  doc = ec_message_dup_content_string (m);
  g_assert_cmpstr (doc, ==, "{\"event_id\":\"1\"}");

  g_assert_false (ec_message_set_content_json (m, "{\"a\":1} x", -1, &error));
  g_assert_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_JSON);
  g_clear_error (&error);

  ec_message_set_content_node (m, built);
  raw = ec_message_dup_content_string (m);
  g_assert_cmpstr (raw, ==, "{\"k\":[true]}");
  node = ec_message_get_content_node (m, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  g_assert_true (ec_message_get_content_node (m, NULL) == node); /* parsed once */
}

static void
test_frozen (void)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", "b", "c", "d");
  g_autoptr (EcMessage) copy = NULL;
  ec_message_freeze (m);
  g_assert_true (ec_message_is_frozen (m));
  if (g_test_undefined ())
    {
      g_test_expect_message ("edgecore", G_LOG_LEVEL_CRITICAL, "*frozen*");
      ec_message_set_resource (m, "x");
      g_test_assert_expected_messages ();
      g_assert_cmpstr (ec_message_get_resource (m), ==, "d");
    }
  copy = ec_message_copy (m);
  g_assert_false (ec_message_is_frozen (copy));
  g_assert_cmpstr (ec_message_get_id (copy), ==, ec_message_get_id (m));
  ec_message_set_resource (copy, "x");
  g_assert_cmpstr (ec_message_get_resource (copy), ==, "x");
}

/* Every frame of the real Go EdgeCore v1.9.2 session decodes, and encodes
 * back to the same JSON value. */
static void
test_captured_session (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "..", "data",
                                                 "kubeedge-v1.9.2-websocket.jsonl", NULL);
  g_autofree char *data = NULL;
  g_auto (GStrv) lines = NULL;
  guint n = 0;

  g_assert_true (g_file_get_contents (path, &data, NULL, NULL));
  lines = g_strsplit (data, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      g_autoptr (JsonNode) rec = NULL, msg_node = NULL, back = NULL;
      g_autoptr (EcMessage) m = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *wire = NULL, *out = NULL;
      JsonObject *o;
      if (!*lines[i])
        continue;
      rec = json_from_string (lines[i], NULL);
      o = json_node_get_object (rec);
      if (!json_object_has_member (o, "msg") || json_object_get_null_member (o, "msg"))
        continue;
      msg_node = json_node_copy (json_object_get_member (o, "msg"));
      wire = json_to_string (msg_node, FALSE);
      m = ec_message_new_from_json (wire, -1, &error);
      g_assert_no_error (error);
      out = ec_message_to_json (m, NULL);
      back = json_from_string (out, &error);
      g_assert_no_error (error);
      if (!json_node_equal (msg_node, back))
        g_error ("frame %u changed:\n in: %s\nout: %s", i, wire, out);
      n++;
    }
  g_assert_cmpuint (n, >, 20);
}

static void
test_cloud_state (void)
{
  g_autoptr (EcMessage) up = ec_message_new_cloud_state (TRUE);
  g_autoptr (EcMessage) down = ec_message_new_cloud_state (FALSE);
  g_autoptr (EcMessage) odd = ec_message_copy (up);
  g_autoptr (EcMessage) other = ec_message_new ("edgehub", "meta", "connect", "elsewhere");
  g_autofree char *json = NULL;
  ec_message_set_content_string (odd, "maybe");
  g_assert_cmpint (ec_message_get_cloud_state (up), ==, EC_CLOUD_STATE_CONNECTED);
  g_assert_cmpint (ec_message_get_cloud_state (down), ==, EC_CLOUD_STATE_DISCONNECTED);
  g_assert_cmpint (ec_message_get_cloud_state (odd), ==, EC_CLOUD_STATE_INVALID);
  g_assert_cmpint (ec_message_get_cloud_state (other), ==, EC_CLOUD_STATE_NONE);
  json = ec_message_to_json (up, NULL);
  g_assert_nonnull (strstr (json, "\"route\":{\"source\":\"edgehub\",\"group\":\"meta\","
                                  "\"operation\":\"connect\",\"resource\":\"node/connection\"},"
                                  "\"content\":\"cloud_connected\"}"));
}

/* Setters: a value taken from the field itself, and many resets (short
 * strings live in a per-message arena that fills up, then the heap). */
static void
test_setters_reuse_and_overflow (void)
{
  g_autoptr (EcMessage) m = ec_message_new ("src", "grp", "update", "ns/pod/name");
  g_autoptr (EcMessage) copy = NULL;
  g_autofree char *expect = NULL;

  ec_message_set_resource (m, ec_message_get_resource (m) + 3);
  g_assert_cmpstr (ec_message_get_resource (m), ==, "pod/name");
  ec_message_set_source (m, ec_message_get_group (m));
  g_assert_cmpstr (ec_message_get_source (m), ==, "grp");
  for (int i = 0; i < 200; i++)
    {
      g_autofree char *v = g_strdup_printf ("resource-%d", i);
      ec_message_set_resource (m, v);
      ec_message_set_resource (m, ec_message_get_resource (m) + 1);
      g_assert_cmpstr (ec_message_get_resource (m), ==, v + 1);
    }
  expect = g_strnfill (4000, 'x');
  ec_message_set_operation (m, expect);
  g_assert_cmpstr (ec_message_get_operation (m), ==, expect);
  ec_message_set_group (m, NULL);
  g_assert_cmpstr (ec_message_get_group (m), ==, "");
  copy = ec_message_copy (m);
  g_assert_cmpstr (ec_message_get_source (copy), ==, "grp");
  g_assert_cmpstr (ec_message_get_resource (copy), ==, "esource-199");
  g_assert_cmpstr (ec_message_get_operation (copy), ==, expect);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/message/new-defaults", test_new_defaults);
  g_test_add_func ("/message/ids-unique", test_ids_unique);
  g_test_add_func ("/message/encode/go-order", test_encode_go_order);
  g_test_add_func ("/message/encode/all-fields", test_encode_all_fields);
  g_test_add_func ("/message/encode/empty-route", test_empty_route);
  g_test_add_func ("/message/encode/go-escaping", test_go_string_escaping);
  g_test_add_func ("/message/decode/roundtrip-lossless", test_decode_roundtrip_lossless);
  g_test_add_func ("/message/decode/go-rules", test_decode_go_rules);
  g_test_add_func ("/message/decode/errors", test_decode_errors);
  g_test_add_func ("/message/decode/deep-nesting", test_deep_nesting_rejected);
  g_test_add_func ("/message/decode/captured-session", test_captured_session);
  g_test_add_func ("/message/response-and-error", test_response_and_error);
  g_test_add_func ("/message/content", test_content_access);
  g_test_add_func ("/message/frozen", test_frozen);
  g_test_add_func ("/message/setters", test_setters_reuse_and_overflow);
  g_test_add_func ("/message/cloud-state", test_cloud_state);
  return g_test_run ();
}
