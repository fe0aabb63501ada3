/* test-devicetwin-units.c: devicetwin's pure parts, compiled in from
 * plugins/devicetwin: the JSON scanner, payload parsing with Go's type
 * rules, JSON output in Go's shapes, topics, version vectors and the
 * delta. */
#include "dt-types.h"

#include <gio/gio.h>
#include <string.h>

#define ERR_UNMARSHAL "Unmarshal update request body failed, please check the request"

/* Parses text as a twin update, expecting success. */
static DtTwinUpdate *
parse_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  DtTwinUpdate *u = dt_parse_twin_update (text, strlen (text), &error);
  g_assert_no_error (error);
  g_assert_nonnull (u);
  return u;
}

/* Parses text as a twin update, expecting the error text reason. */
static void
parse_fails (const char *text, const char *reason)
{
  g_autoptr (GError) error = NULL;
  DtTwinUpdate *u = dt_parse_twin_update (text, strlen (text), &error);
  g_assert_null (u);
  g_assert_nonnull (error);
  g_assert_cmpstr (error->message, ==, reason);
}

/* A mapper's twin update: fields, defaults, Go's types, KubeEdge's rules. */
static void
test_parse_update (void)
{
  g_autoptr (DtTwinUpdate) u = NULL;
  DtMsgTwin *t;

  u = parse_ok ("{\"event_id\":\"e1\",\"timestamp\":5,\"x\":[1,{}],\"twin\":{"
                "\"temperature\":{\"actual\":{\"value\":\"21\",\"metadata\":{\"timestamp\":1}},"
                "\"metadata\":{\"type\":\"int\"},\"optional\":false,"
                "\"expected_version\":{\"cloud\":3,\"edge\":4}},"
                "\"alpha\":null,\"beta\":{\"expected\":null}}}");
  g_assert_cmpstr (u->event_id, ==, "e1");
  g_assert_cmpint (u->timestamp, ==, 5);
  g_assert_cmpuint (u->twins->len, ==, 3);
  /* sorted by name */
  g_assert_cmpstr (((DtMsgTwin *) u->twins->pdata[0])->name, ==, "alpha");
  g_assert_true (((DtMsgTwin *) u->twins->pdata[0])->is_null);
  t = u->twins->pdata[1];
  g_assert_cmpstr (t->name, ==, "beta");
  g_assert_true (t->expected.present && t->expected.is_null);
  g_assert_false (t->actual.present);
  t = u->twins->pdata[2];
  g_assert_cmpstr (t->name, ==, "temperature");
  g_assert_cmpstr (t->actual.value, ==, "21");
  g_assert_false (t->expected.present);
  g_assert_true (t->has_metadata);
  g_assert_cmpstr (t->type, ==, "int");
  g_assert_true (t->has_optional && !t->optional);
  g_assert_true (t->has_ev && t->ev.cloud == 3 && t->ev.edge == 4);
  g_assert_false (t->has_av);
  g_clear_pointer (&u, dt_twin_update_free);

  /* no event id: ""; a twin named twice keeps the last value */
  u = parse_ok ("{\"twin\":{\"a\":{\"actual\":{\"value\":\"1\"}},\"a\":{\"actual\":{\"value\":\"2\"}}}}");
  g_assert_cmpstr (u->event_id, ==, "");
  g_assert_cmpuint (u->twins->len, ==, 1);
  g_assert_cmpstr (((DtMsgTwin *) u->twins->pdata[0])->actual.value, ==, "2");

  parse_fails ("not json", ERR_UNMARSHAL);
  parse_fails ("", ERR_UNMARSHAL);
  parse_fails ("[]", ERR_UNMARSHAL);
  parse_fails ("{\"timestamp\":\"5\",\"twin\":{}}", ERR_UNMARSHAL);
  parse_fails ("{\"timestamp\":1.5,\"twin\":{}}", ERR_UNMARSHAL);
  parse_fails ("{\"event_id\":1,\"twin\":{}}", ERR_UNMARSHAL);
  parse_fails ("{\"twin\":[]}", ERR_UNMARSHAL);
  parse_fails ("{\"twin\":{\"a\":1}}", ERR_UNMARSHAL);
  parse_fails ("{\"twin\":{\"a\":{\"actual\":{\"value\":5}}}}", ERR_UNMARSHAL);
  parse_fails ("{\"twin\":{\"a\":{\"optional\":\"yes\"}}}", ERR_UNMARSHAL);
  parse_fails ("{\"twin\":{\"a\":{\"expected_version\":{\"edge\":\"1\"}}}}", ERR_UNMARSHAL);
  parse_fails ("{\"twin\":{}} trailing", ERR_UNMARSHAL);
  parse_fails ("{}", "Update twin error, key:twin does not exist");
  parse_fails ("{\"twin\":null}", "Update twin error, key:twin does not exist");
  {
    g_autoptr (GError) error = NULL;
    const char *bad_key = "{\"twin\":{\"a b\":{}}}";
    const char *bad_value = "{\"twin\":{\"a\":{\"actual\":{\"value\":\"x y\"}}}}";
    g_assert_null (dt_parse_twin_update (bad_key, strlen (bad_key), &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
    g_assert_true (g_str_has_prefix (error->message, "The key of twin"));
    g_clear_error (&error);
    g_assert_null (dt_parse_twin_update (bad_value, strlen (bad_value), &error));
    g_assert_true (g_str_has_prefix (error->message, "The value of twin"));
  }
}

/* A BaseMessage (twin get). */
static void
test_parse_base (void)
{
  g_autofree char *id = NULL;
  g_autoptr (GError) error = NULL;
  const char *get = "{\"event_id\":\"g1\",\"timestamp\":2,\"x\":1}";

  g_assert_true (dt_parse_base_text (get, strlen (get), &id, NULL));
  g_assert_cmpstr (id, ==, "g1");
  g_clear_pointer (&id, g_free);
  g_assert_true (dt_parse_base_text ("{}", 2, &id, NULL));
  g_assert_cmpstr (id, ==, "");
  g_clear_pointer (&id, g_free);
  g_assert_false (dt_parse_base_text ("[1]", 3, &id, &error));
  g_assert_cmpstr (error->message, ==, "the payload is not a JSON object");
  g_assert_null (id);
  g_clear_error (&error);
  g_assert_false (dt_parse_base_text ("{\"timestamp\":\"x\"}", 17, &id, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_assert_false (dt_parse_base_text ("", 0, &id, &error));
  g_assert_nonnull (error);
}

/* JSON output in Go's shapes: escaping, omitempty, field order. */
static void
test_json_output (void)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autoptr (DtTwin) t = dt_twin_new ("temp");
  g_autofree char *err = NULL;
  char buf[64];
  DtVersion v = { -3, G_MAXINT64 };
  DtValue meta = { TRUE, NULL, TRUE, 0 };

  ec_json_append_string (s, "a\"b\\c\n<>&\x01\xc3\xa9");
  g_assert_cmpstr (s->str, ==, "\"a\\\"b\\\\c\\n\\u003c\\u003e\\u0026\\u0001\xc3\xa9\"");
  g_string_truncate (s, 0);
  dt_json_int (s, G_MININT64);
  g_assert_cmpstr (s->str, ==, "-9223372036854775808");

  g_assert_cmpstr (dt_version_text (buf, &v), ==, "{\"cloud\":-3,\"edge\":9223372036854775807}");
  g_assert_cmpstr (dt_meta_text (buf, &meta), ==, "{}");
  meta.ts = 1700000000000;
  g_assert_cmpstr (dt_meta_text (buf, &meta), ==, "{\"timestamp\":1700000000000}");
  meta.has_meta = FALSE;
  g_assert_cmpstr (dt_meta_text (buf, &meta), ==, "");

  dt_value_set (&t->actual, "21", 7);
  t->has_av = TRUE;
  t->av = (DtVersion) { 0, 2 };
  g_string_truncate (s, 0);
  dt_json_twin (s, t, DT_W_ALL);
  g_assert_cmpstr (s->str, ==, "{\"actual\":{\"value\":\"21\",\"metadata\":{\"timestamp\":7}},"
                                "\"optional\":true,\"metadata\":{\"type\":\"string\"}}");
  g_string_truncate (s, 0);
  dt_json_twin (s, t, DT_W_ACTUAL | DT_W_VERSIONS);
  g_assert_cmpstr (s->str, ==, "{\"actual\":{\"value\":\"21\",\"metadata\":{\"timestamp\":7}},"
                                "\"actual_version\":{\"cloud\":0,\"edge\":2}}");

  err = dt_json_error ("e", 404, "not found");
  g_assert_true (g_str_has_prefix (err, "{\"event_id\":\"e\",\"timestamp\":"));
  g_assert_true (g_str_has_suffix (err, ",\"code\":404,\"reason\":\"not found\"}"));
}

/* Topics: the base64url resource, the device id layouts. */
static void
test_topics (void)
{
  g_autoptr (GString) t = g_string_new (NULL);
  const char *id = NULL;

  g_assert_true (dt_decode_topic ("JGh3L2V2ZW50cy9kZXZpY2UvZGV2MS90d2luL3VwZGF0ZQ==", t));
  g_assert_cmpstr (t->str, ==, "$hw/events/device/dev1/twin/update");
  g_assert_true (dt_decode_topic ("JGh3L2V2ZW50cy9kZXZpY2UvZGV2MS90d2luL3VwZGF0ZQ", t));
  g_assert_cmpstr (dt_device_suffix (t->str, &id), ==, "/twin/update");
  g_assert_cmpstr (id, ==, "dev1");
  g_assert_true (dt_decode_topic ("JGh3L2V2ZW50cy9kZXZpY2UvbnMvZDIvc3RhdGUvdXBkYXRl", t));
  g_assert_cmpstr (dt_device_suffix (t->str, &id), ==, "/state/update");
  g_assert_cmpstr (id, ==, "ns/d2");
  g_assert_true (dt_decode_topic ("YWI=", t));
  g_assert_cmpstr (t->str, ==, "ab");
  g_assert_false (dt_decode_topic ("", t));
  g_assert_false (dt_decode_topic ("Y", t));
  g_assert_false (dt_decode_topic ("YW+=", t));   /* standard alphabet */
  g_assert_false (dt_decode_topic ("YW/=", t));
  g_assert_false (dt_decode_topic ("AA==", t));   /* a NUL byte */
  g_assert_false (dt_decode_topic ("_w==", t));   /* not UTF-8 */

  g_string_assign (t, "$hw/events/device/dev1/twin/delete");
  g_assert_null (dt_device_suffix (t->str, &id));
  g_assert_true (dt_id_well_formed ("dev1"));
  g_assert_true (dt_id_well_formed ("ns/dev1"));
  g_assert_false (dt_id_well_formed (""));
  g_assert_false (dt_id_well_formed ("/dev1"));
  g_assert_false (dt_id_well_formed ("ns/"));
  g_assert_false (dt_id_well_formed ("a/b/c"));
}

/* Applies text (a twin update) to d as a mapper (rest) or the cloud;
 * returns the number of rows written. */
static guint
apply (DtDevice *d, const char *text, gboolean rest)
{
  g_autoptr (DtTwinUpdate) u = parse_ok (text);
  g_autoptr (GString) lasts = g_string_new (NULL);
  g_autoptr (GArray) changes = dt_twin_changes_new ();
  DtTxn *txn = dt_txn_new ();
  guint n;

  dt_twin_apply (d, u, rest, 1000, txn, lasts, changes);
  n = txn->ops->len;
  dt_txn_free (txn);
  return n;
}

/* Version vectors: a mapper bumps the edge version of the side it sets;
 * the cloud's versions must not be older than the edge's. Then the delta. */
static void
test_versions_and_delta (void)
{
  DeviceTwin self = { 0 };
  DtDevice *d = dt_device_new ("dev1");
  g_autoptr (GString) out = g_string_new (NULL);
  DtTwin *t;

  self.delta_buf = g_string_new (NULL);
  /* from the cloud: a new twin takes the cloud's versions */
  g_assert_cmpuint (apply (d, "{\"twin\":{\"temp\":{\"expected\":{\"value\":\"30\"},"
                              "\"expected_version\":{\"cloud\":1,\"edge\":0}}}}", FALSE), ==, 1);
  t = g_hash_table_lookup (d->twins, "temp");
  g_assert_nonnull (t);
  g_assert_true (t->has_ev && t->ev.cloud == 1 && t->ev.edge == 0);
  g_assert_cmpstr (t->expected.value, ==, "30");

  /* expected 30, no actual: a delta */
  g_assert_true (dt_twin_build_delta (&self, d, out));
  g_assert_true (g_str_has_suffix (out->str, ",\"delta\":{\"temp\":\"30\"}}"));
  g_assert_nonnull (strstr (out->str, "\"twin\":{\"temp\":{\"expected\":{\"value\":\"30\""));

  /* the mapper reports actual twice: edge 1, then 2 */
  g_assert_cmpuint (apply (d, "{\"twin\":{\"temp\":{\"actual\":{\"value\":\"21\"}}}}", TRUE), ==, 1);
  g_assert_true (t->has_av && t->av.cloud == 0 && t->av.edge == 1);
  apply (d, "{\"twin\":{\"temp\":{\"actual\":{\"value\":\"30\"}}}}", TRUE);
  g_assert_cmpint (t->av.edge, ==, 2);
  g_assert_cmpint (t->actual.ts, ==, 1000);
  /* expected == actual: no delta */
  g_assert_false (dt_twin_build_delta (&self, d, out));
  g_assert_cmpuint (out->len, ==, 0);

  /* the mapper sets expected: edge bumped to 1 */
  apply (d, "{\"twin\":{\"temp\":{\"expected\":{\"value\":\"25\"}}}}", TRUE);
  g_assert_true (t->ev.cloud == 1 && t->ev.edge == 1);

  /* a cloud sync older than the edge is refused, nothing written */
  g_assert_cmpuint (apply (d, "{\"twin\":{\"temp\":{\"expected\":{\"value\":\"99\"},"
                              "\"expected_version\":{\"cloud\":1,\"edge\":0}}}}", FALSE), ==, 0);
  g_assert_cmpstr (t->expected.value, ==, "25");
  /* a newer one is taken with its versions */
  g_assert_cmpuint (apply (d, "{\"twin\":{\"temp\":{\"expected\":{\"value\":\"40\"},"
                              "\"expected_version\":{\"cloud\":2,\"edge\":1}}}}", FALSE), ==, 1);
  g_assert_cmpstr (t->expected.value, ==, "40");
  g_assert_true (t->ev.cloud == 2 && t->ev.edge == 1);
  g_assert_true (dt_twin_build_delta (&self, d, out));
  g_assert_true (g_str_has_suffix (out->str, ",\"delta\":{\"temp\":\"40\"}}"));

  /* a mapper deletes the (optional) twin: a tombstone, edge bumped */
  g_assert_cmpuint (apply (d, "{\"twin\":{\"temp\":null}}", TRUE), ==, 1);
  g_assert_true (dt_twin_is_deleted (t));
  g_assert_cmpint (t->ev.edge, ==, 2);
  g_assert_cmpint (t->av.edge, ==, 3);
  g_assert_null (t->expected.value);
  g_assert_false (dt_twin_build_delta (&self, d, out));

  dt_device_free (d);
  g_string_free (self.delta_buf, TRUE);
  dt_txn_pool_clear ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/devicetwin/parse-update", test_parse_update);
  g_test_add_func ("/devicetwin/parse-base", test_parse_base);
  g_test_add_func ("/devicetwin/json-output", test_json_output);
  g_test_add_func ("/devicetwin/topics", test_topics);
  g_test_add_func ("/devicetwin/versions-and-delta", test_versions_and_delta);
  return g_test_run ();
}
