/* test-json.c: libedgecore's JSON reader (ec-json.h): its limits, its one
 * rule for \u0000, and the scanner the hot paths use. */
#include "config.h"

#include <edgecore.h>
#include <float.h>
#include <math.h>
#include <string.h>

/* (re)starts the scanner s of the test */
static EcJsonScanner *
restart (EcJsonScanner *old, EcJsonScanner *fresh)
{
  ec_json_scanner_free (old);
  return fresh;
}
#define SCAN(...) (s = restart (s, ec_json_scanner_new (__VA_ARGS__)))

/* n opening brackets then n closing ones */
static char *
nested (guint n, gsize *len)
{
  char *s = g_malloc (2 * n + 1);
  memset (s, '[', n);
  memset (s + n, ']', n);
  s[2 * n] = 0;
  *len = 2 * n;
  return s;
}

static JsonNode *
parse (const char *text, GError **error)
{
  return ec_json_parse (text, strlen (text), 0, 0, error);
}

/* Syntax: RFC 8259 only, and every kind of error is caught in all three
 * entry points (validate, parse, scanner skip). */
static void
test_syntax (void)
{
  static const char *const bad[] = {
    "", " ", "{", "{\"a\":1,}", "{\"a\" 1}", "[1,]", "[1 2]", "\"abc", "\"\\x\"", "\"\\u12\"",
    "tru", "nul", "01", "1.", "-", "1e", "+1", ".5", "{} x", "{\"a\":\"\x01\"}", "\"\xff\"",
    "{\"a\":1 \"b\":2}", "{1:2}", "[1,,2]", "{\"a\":}", "'a'", "[1]]", "NaN", "Infinity",
    "/* c */ 1", "\"a\nb\"", "[\"\\",
  };
  static const char *const good[] = {
    "{}", "[]", "null", "true", "false", "-0", "1.5e-3", "1E+2", "\"\\u00e9\\ud83d\\ude00\"",
    " { \"a\" : [ 1 , { \"b\" : null } , \"c\" ] } ", "\"caf\xc3\xa9\"", "\"\\/\\b\\f\\n\\r\\t\"",
    "\t\r\n 7 \n",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e1 = NULL;
      g_autoptr (GError) e2 = NULL;
      g_autoptr (GError) e3 = NULL;
      g_autoptr (EcJsonScanner) s = NULL;
      g_assert_false (ec_json_validate (bad[i], strlen (bad[i]), 0, 0, &e1));
      g_assert_error (e1, EC_JSON_ERROR, EC_JSON_ERROR_SYNTAX);
      g_assert_true (g_str_has_prefix (e1->message, "invalid JSON at byte "));
      g_assert_null (parse (bad[i], &e2));
      g_assert_error (e2, EC_JSON_ERROR, EC_JSON_ERROR_SYNTAX);
      g_assert_nonnull (SCAN (bad[i], strlen (bad[i]), 0, 0, &e3));
      g_assert_false (ec_json_scanner_skip (s) && ec_json_scanner_finish (s));
      g_assert_true (ec_json_scanner_has_failed (s));
      g_assert_error (e3, EC_JSON_ERROR, EC_JSON_ERROR_SYNTAX);
    }
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (JsonNode) node = NULL;
      g_autoptr (EcJsonScanner) s = NULL;
      g_assert_true (ec_json_validate (good[i], strlen (good[i]), 0, 0, NULL));
      node = parse (good[i], NULL);
      g_assert_nonnull (node);
      SCAN (good[i], strlen (good[i]), 0, 0, NULL);
      g_assert_true (ec_json_scanner_skip (s));
      g_assert_true (ec_json_scanner_finish (s));
    }
}

/* Truncated input: every prefix of a document is refused, never read past
 * its length (the buffer here is not NUL-terminated at the cut). */
static void
test_truncated (void)
{
  const char *doc = "{\"a\":[1,-2.5e3,\"x\\u00e9\\ud83d\\ude00\",true,false,null],\"b\":{\"c\":\"d\"}}";
  gsize n = strlen (doc);

  g_assert_true (ec_json_validate (doc, n, 0, 0, NULL));
  for (gsize cut = 0; cut < n; cut++)
    {
      g_autofree char *copy = g_memdup2 (doc, cut ? cut : 1);
      g_autoptr (GError) error = NULL;
      g_autoptr (JsonNode) node = NULL;
      g_assert_false (ec_json_validate (copy, cut, 0, 0, NULL));
      node = ec_json_parse (copy, cut, 0, 0, &error);
      g_assert_null (node);
      g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SYNTAX);
    }
}

/* The depth limit: exactly at it is fine, one over is EC_JSON_ERROR_DEPTH,
 * for arrays and objects, in every entry point. */
static void
test_depth_limit (void)
{
  gsize len;
  g_autofree char *at = nested (8, &len);
  g_autofree char *over = nested (9, &len);
  g_autofree char *def_at = nested (EC_JSON_DEFAULT_MAX_DEPTH, &len);
  g_autofree char *def_over = nested (EC_JSON_DEFAULT_MAX_DEPTH + 1, &len);
  g_autoptr (GString) objs = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (EcJsonScanner) s = NULL;
  guint n = 0;

  g_assert_true (ec_json_validate (at, strlen (at), 8, 0, NULL));
  g_assert_false (ec_json_validate (over, strlen (over), 8, 0, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_assert_cmpstr (error->message, ==, "invalid JSON at byte 8: nested too deeply");
  g_clear_error (&error);

  node = ec_json_parse (at, strlen (at), 8, 0, NULL);
  g_assert_nonnull (node);
  g_clear_pointer (&node, json_node_unref);
  g_assert_null (ec_json_parse (over, strlen (over), 8, 0, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_clear_error (&error);

  /* 0 picks the default */
  g_assert_true (ec_json_validate (def_at, strlen (def_at), 0, 0, NULL));
  g_assert_false (ec_json_validate (def_over, strlen (def_over), 0, 0, NULL));
  node = ec_json_parse (def_at, strlen (def_at), 0, 0, NULL);
  g_assert_nonnull (node);
  g_clear_pointer (&node, json_node_unref);
  g_assert_null (ec_json_parse (def_over, strlen (def_over), 0, 0, NULL));

  /* objects count the same: {"a":{"a":...1...}} */
  for (int i = 0; i < 4; i++)
    g_string_append (objs, "{\"a\":");
  g_string_append_c (objs, '1');
  for (int i = 0; i < 4; i++)
    g_string_append_c (objs, '}');
  g_assert_true (ec_json_validate (objs->str, objs->len, 4, 0, NULL));
  g_assert_false (ec_json_validate (objs->str, objs->len, 3, 0, NULL));

  /* the scanner: containers opened by hand and skipped ones add up */
  SCAN (at, strlen (at), 8, 0, NULL);
  g_assert_true (ec_json_scanner_array_begin (s));
  g_assert_true (ec_json_scanner_element (s, &n));
  g_assert_true (ec_json_scanner_skip (s));        /* 7 more levels: 8 in all */
  g_assert_false (ec_json_scanner_element (s, &n));
  g_assert_true (ec_json_scanner_finish (s));
  n = 0;
  SCAN (over, strlen (over), 8, 0, &error);
  g_assert_true (ec_json_scanner_array_begin (s));
  g_assert_true (ec_json_scanner_element (s, &n));
  g_assert_false (ec_json_scanner_skip (s));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_clear_error (&error);
  SCAN ("[[1]]", 5, 1, 0, &error);
  g_assert_true (ec_json_scanner_array_begin (s));
  n = 0;
  g_assert_true (ec_json_scanner_element (s, &n));
  g_assert_false (ec_json_scanner_array_begin (s));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
}

/* issue 9: 100,000 levels (200 KB of '[' then ']') and an unclosed run of
 * 1,000,000 are refused at the limit; nothing recurses deeper. */
static void
test_deep_nesting (void)
{
  gsize len;
  g_autofree char *deep = nested (100000, &len);
  g_autofree char *open = g_malloc (1000000);
  g_autoptr (GString) in_object = g_string_new ("{\"apiVersion\":\"v1\",\"data\":");
  g_autoptr (GError) error = NULL;
  g_autoptr (EcMessage) m = NULL;
  g_autoptr (GString) wire = g_string_new ("{\"header\":{},\"route\":{},\"content\":");
  g_autoptr (EcJsonScanner) s = NULL;

  memset (open, '[', 1000000);
  g_assert_false (ec_json_validate (deep, len, 0, 0, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_clear_error (&error);
  g_assert_null (ec_json_parse (deep, len, 0, 0, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_clear_error (&error);
  g_assert_null (ec_json_parse (open, 1000000, 0, 0, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_clear_error (&error);
  SCAN (deep, len, 0, 0, &error);
  g_assert_false (ec_json_scanner_skip (s));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_clear_error (&error);

  g_string_append_len (in_object, deep, len);
  g_string_append_c (in_object, '}');
  g_assert_null (ec_json_parse (in_object->str, in_object->len, 0, 0, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH);
  g_clear_error (&error);

  /* the message envelope uses the same reader */
  g_string_append_len (wire, deep, len);
  g_string_append_c (wire, '}');
  m = ec_message_new_from_json (wire->str, wire->len, &error);
  g_assert_null (m);
  g_assert_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_JSON);
  g_assert_nonnull (strstr (error->message, "nested too deeply"));
}

/* The size limit: exactly at it is fine, one byte over is
 * EC_JSON_ERROR_SIZE, before anything is read. */
static void
test_size_limit (void)
{
  const char *doc = "[\"0123456789\"]";
  gsize n = strlen (doc);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (EcJsonScanner) s = NULL;

  g_assert_true (ec_json_validate (doc, n, 0, n, NULL));
  g_assert_false (ec_json_validate (doc, n, 0, n - 1, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SIZE);
  g_assert_cmpstr (error->message, ==, "JSON text of 14 bytes is larger than the limit of 13");
  g_clear_error (&error);
  node = ec_json_parse (doc, n, 0, n, NULL);
  g_assert_nonnull (node);
  g_assert_null (ec_json_parse (doc, n, 0, n - 1, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SIZE);
  g_clear_error (&error);
  SCAN (doc, n, 0, n - 1, &error);
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SIZE);
  g_assert_true (ec_json_scanner_has_failed (s));
  g_assert_false (ec_json_scanner_skip (s));
  g_assert_cmpint (ec_json_scanner_peek (s), ==, 0);
  g_clear_error (&error);

  /* 0 is the default, 64 MiB: the length alone decides (no byte past
   * the first is read when it is too long) */
  g_assert_false (ec_json_validate (doc, EC_JSON_DEFAULT_MAX_SIZE + 1, 0, 0, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SIZE);
}

/* \u0000: kept where text is kept (validation, skipping, the message
 * content), refused where a string must become C text (never truncated). */
static void
test_nul (void)
{
  const char *doc = "{\"k\":\"a\\u0000b\"}";
  const char *key = "{\"a\\u0000b\":1}";
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (EcMessage) m = NULL;
  g_autofree char *wire = NULL;
  g_autoptr (EcJsonScanner) s = NULL;
  guint n = 0;
  gsize len;

  g_assert_true (ec_json_validate (doc, strlen (doc), 0, 0, NULL));
  g_assert_true (ec_json_validate (key, strlen (key), 0, 0, NULL));

  g_assert_null (parse (doc, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_NUL);
  g_assert_cmpstr (error->message, ==,
                   "invalid JSON at byte 7: \\u0000 in a string that must become C text");
  g_clear_error (&error);
  g_assert_null (parse (key, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_NUL);
  g_clear_error (&error);
  g_assert_null (ec_json_decode_string ("\"\\u0000\"", 8, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_NUL);
  g_clear_error (&error);

  /* the scanner: skipping keeps it, decoding refuses it */
  SCAN (doc, strlen (doc), 0, 0, NULL);
  g_assert_true (ec_json_scanner_skip (s));
  g_assert_true (ec_json_scanner_finish (s));
  SCAN (doc, strlen (doc), 0, 0, &error);
  g_assert_true (ec_json_scanner_object_begin (s));
  g_assert_true (ec_json_scanner_member (s, &n, out));
  g_assert_cmpstr (out->str, ==, "k");
  g_assert_false (ec_json_scanner_string (s, out));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_NUL);
  g_clear_error (&error);

  /* a message passes it through byte for byte */
  m = ec_message_new_from_json ("{\"content\":{\"k\":\"a\\u0000b\"}}", -1, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ec_message_get_content_json (m, &len), ==, doc);
  wire = ec_message_to_json (m, NULL);
  g_assert_nonnull (strstr (wire, "\"a\\u0000b\""));
  g_assert_null (ec_message_get_content_node (m, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_NUL);
  g_clear_error (&error);
  /* a header field is C text: refused, not cut at the NUL */
  g_clear_pointer (&m, ec_message_unref);
  m = ec_message_new_from_json ("{\"header\":{\"msg_id\":\"a\\u0000b\"}}", -1, &error);
  g_assert_null (m);
  g_assert_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_JSON);
}

/* Invalid UTF-8 is a syntax error everywhere (overlong, surrogates
 * encoded in UTF-8, truncated sequences, stray continuation bytes). */
static void
test_invalid_utf8 (void)
{
  static const char *const bad[] = {
    "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xe2\x82\"", "\"\x80\"", "\"\xf8\x88\x80\x80\x80\"",
    "{\"\xff\":1}", "\"\xf4\x90\x80\x80\"",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (ec_json_validate (bad[i], strlen (bad[i]), 0, 0, &error));
      g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SYNTAX);
      g_assert_nonnull (strstr (error->message, "invalid UTF-8"));
      g_assert_null (parse (bad[i], NULL));
    }
  /* outside strings any byte >= 0x80 is simply an unexpected character */
  g_assert_false (ec_json_validate ("\xc3\xa9", 2, 0, 0, NULL));
}

/* Numbers in a tree: int64 stays exact, anything else is a double, and a
 * number beyond double's range is refused, as Go refuses it. */
static void
test_numbers (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) n = NULL;
  g_autoptr (GString) big = g_string_new ("1");
  g_autoptr (EcJsonScanner) s = NULL;
  gint64 v;

  n = parse ("9223372036854775807", NULL);
  g_assert_cmpint (json_node_get_value_type (n), ==, G_TYPE_INT64);
  g_assert_cmpint (json_node_get_int (n), ==, G_MAXINT64);
  g_clear_pointer (&n, json_node_unref);
  n = parse ("-9223372036854775808", NULL);
  g_assert_cmpint (json_node_get_int (n), ==, G_MININT64);
  g_clear_pointer (&n, json_node_unref);
  n = parse ("9223372036854775808", NULL);
  g_assert_cmpint (json_node_get_value_type (n), ==, G_TYPE_DOUBLE);
  g_assert_cmpfloat (json_node_get_double (n), ==, 9223372036854775808.0);
  g_clear_pointer (&n, json_node_unref);
  n = parse ("-0.5e-2", NULL);
  g_assert_cmpfloat_with_epsilon (json_node_get_double (n), -0.005, 1e-12);
  g_clear_pointer (&n, json_node_unref);
  n = parse ("1e-400", NULL);    /* underflow is zero, as in Go */
  g_assert_cmpfloat (json_node_get_double (n), ==, 0.0);
  g_clear_pointer (&n, json_node_unref);
  for (int i = 0; i < 30; i++)
    g_string_append_c (big, '0');
  n = parse (big->str, NULL);    /* beyond int64: a double */
  g_assert_cmpint (json_node_get_value_type (n), ==, G_TYPE_DOUBLE);
  g_assert_cmpfloat (json_node_get_double (n), ==, 1e30);
  g_clear_pointer (&n, json_node_unref);
  for (int i = 0; i < 370; i++)
    g_string_append_c (big, '0');
  g_assert_null (parse (big->str, &error));   /* 401 digits: beyond double */
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_RANGE);
  g_clear_error (&error);
  g_assert_null (parse ("1e400", &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_RANGE);
  g_clear_error (&error);
  g_assert_null (parse ("[-1.8e308]", &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_RANGE);
  g_clear_error (&error);
  /* validation only checks the grammar */
  g_assert_true (ec_json_validate ("1e400", 5, 0, 0, NULL));

  /* the scanner's int64: Go's rules for an int64 field */
  SCAN ("9223372036854775807", 19, 0, 0, NULL);
  g_assert_true (ec_json_scanner_int64 (s, &v));
  g_assert_cmpint (v, ==, G_MAXINT64);
  SCAN ("-9223372036854775808", 20, 0, 0, NULL);
  g_assert_true (ec_json_scanner_int64 (s, &v));
  g_assert_cmpint (v, ==, G_MININT64);
  SCAN ("9223372036854775808", 19, 0, 0, &error);
  g_assert_false (ec_json_scanner_int64 (s, &v));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_RANGE);
  g_clear_error (&error);
  SCAN ("99999999999999999999999", 23, 0, 0, &error);
  g_assert_false (ec_json_scanner_int64 (s, &v));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_RANGE);
  g_clear_error (&error);
  for (guint i = 0; i < 3; i++)
    {
      const char *not_int[] = { "1.0", "1e3", "\"1\"" };
      SCAN (not_int[i], strlen (not_int[i]), 0, 0, &error);
      g_assert_false (ec_json_scanner_int64 (s, &v));
      g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_TYPE);
      g_clear_error (&error);
    }
}

/* Duplicate keys: the last one wins, as in Go's encoding/json. */
static void
test_duplicate_keys (void)
{
  g_autoptr (JsonNode) n = parse ("{\"a\":1,\"b\":2,\"a\":{\"x\":3}}", NULL);
  JsonObject *o = json_node_get_object (n);

  g_assert_cmpuint (json_object_get_size (o), ==, 2);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_object_get_member (o, "a")));
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (o, "a"), "x"), ==, 3);
  g_assert_cmpint (json_object_get_int_member (o, "b"), ==, 2);
}

/* A tree has every type, decoded strings and keys, and is mutable. */
static void
test_tree (void)
{
  g_autoptr (JsonNode) n = parse (" {\"s\":\"a\\\"b\\u00e9\\ud83d\\ude00\\ud800x\",\"i\":-3,\"d\":0.25,"
                                  "\"t\":true,\"f\":false,\"z\":null,\"a\":[1,[],{}],\"k\\n\":{}} ", NULL);
  JsonObject *o = json_node_get_object (n);
  JsonArray *a = json_object_get_array_member (o, "a");
  g_autofree char *back = NULL;

  g_assert_cmpstr (json_object_get_string_member (o, "s"), ==, "a\"b\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx");
  g_assert_cmpint (json_object_get_int_member (o, "i"), ==, -3);
  g_assert_cmpfloat (json_object_get_double_member (o, "d"), ==, 0.25);
  g_assert_true (json_object_get_boolean_member (o, "t"));
  g_assert_false (json_object_get_boolean_member (o, "f"));
  g_assert_true (json_object_get_null_member (o, "z"));
  g_assert_cmpuint (json_array_get_length (a), ==, 3);
  g_assert_true (json_object_has_member (o, "k\n"));
  g_assert_false (json_node_is_immutable (n));
  json_object_set_int_member (o, "i", 4);
  back = json_to_string (n, FALSE);
  g_assert_nonnull (strstr (back, "\"i\":4"));
}

/* The scanner walks objects and arrays, typed reads check types. */
static void
test_scanner (void)
{
  const char *doc = "{\"name\":\"n\\u00e9\",\"n\":7,\"ok\":true,\"list\":[1,\"x\",null],\"skip\":{\"a\":[{}]},\"nil\":null}";
  g_autoptr (GString) key = g_string_new (NULL);
  g_autoptr (GString) val = g_string_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (EcJsonScanner) s = NULL;
  guint n = 0, m = 0, items = 0;
  gint64 num = 0;
  gboolean ok = FALSE;

  g_assert_nonnull (SCAN (doc, strlen (doc), 0, 0, &error));
  g_assert_cmpint (ec_json_scanner_peek (s), ==, '{');
  g_assert_true (ec_json_scanner_object_begin (s));
  while (ec_json_scanner_member (s, &n, key))
    {
      if (strcmp (key->str, "name") == 0)
        g_assert_true (ec_json_scanner_string (s, val));
      else if (strcmp (key->str, "n") == 0)
        g_assert_true (ec_json_scanner_int64 (s, &num));
      else if (strcmp (key->str, "ok") == 0)
        g_assert_true (ec_json_scanner_bool (s, &ok));
      else if (strcmp (key->str, "list") == 0)
        {
          g_assert_true (ec_json_scanner_array_begin (s));
          while (ec_json_scanner_element (s, &m))
            {
              items++;
              g_assert_true (ec_json_scanner_skip (s));
            }
        }
      else if (strcmp (key->str, "nil") == 0)
        g_assert_true (ec_json_scanner_null (s));
      else
        g_assert_true (ec_json_scanner_skip (s));
    }
  g_assert_false (ec_json_scanner_has_failed (s));
  g_assert_true (ec_json_scanner_finish (s));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 6);
  g_assert_cmpuint (items, ==, 3);
  g_assert_cmpstr (val->str, ==, "n\xc3\xa9");
  g_assert_cmpint (num, ==, 7);
  g_assert_true (ok);
  g_assert_cmpuint (ec_json_scanner_get_offset (s), ==, strlen (doc));

  /* a wrong type is a type error with the offset; the failure sticks */
  SCAN ("{\"a\":[1]}", 9, 0, 0, &error);
  n = 0;
  g_assert_true (ec_json_scanner_object_begin (s));
  g_assert_true (ec_json_scanner_member (s, &n, key));
  g_assert_false (ec_json_scanner_string (s, val));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_TYPE);
  g_assert_cmpstr (error->message, ==, "invalid JSON at byte 5: expected a string");
  g_assert_false (ec_json_scanner_skip (s));
  g_assert_false (ec_json_scanner_finish (s));
  g_clear_error (&error);
  SCAN ("[1]", 3, 0, 0, &error);
  g_assert_false (ec_json_scanner_object_begin (s));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_TYPE);
  g_clear_error (&error);
  SCAN ("{} x", 4, 0, 0, &error);
  g_assert_true (ec_json_scanner_skip (s));
  g_assert_false (ec_json_scanner_finish (s));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SYNTAX);
  g_clear_error (&error);
  /* a caller's own check */
  SCAN ("[]", 2, 0, 0, &error);
  g_assert_false (ec_json_scanner_fail (s, EC_JSON_ERROR_RANGE, "too many"));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_RANGE);
  g_assert_cmpstr (error->message, ==, "invalid JSON at byte 0: too many");
}

/* ec_json_decode_string: one string, white space around it allowed. */
static void
test_decode_string (void)
{
  g_autofree char *a = ec_json_decode_string (" \"x\\ty\" ", 8, NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (a, ==, "x\ty");
  g_assert_null (ec_json_decode_string ("\"a\" \"b\"", 7, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SYNTAX);
  g_clear_error (&error);
  g_assert_null (ec_json_decode_string ("1", 1, &error));
  g_assert_error (error, EC_JSON_ERROR, EC_JSON_ERROR_TYPE);
}

/* The one escaper writes what Go's encoding/json writes, and what it
 * writes reads back the same. */
static void
test_escape (void)
{
  static const struct { const char *in, *out; } cases[] = {
    { "plain", "\"plain\"" },
    { "", "\"\"" },
    { "q\"b\\s/", "\"q\\\"b\\\\s/\"" },
    { "\n\r\t\b\f\x01\x1f", "\"\\n\\r\\t\\b\\f\\u0001\\u001f\"" },
    { "<a>&", "\"\\u003ca\\u003e\\u0026\"" },
    { "\xe2\x80\xa8\xe2\x80\xa9", "\"\\u2028\\u2029\"" },
    { "caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"" },
    { "bad\xff", "\"bad\\ufffd\"" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *e = ec_json_escape (cases[i].in);
      g_autoptr (GString) s = g_string_new ("x");
      g_autofree char *back = NULL;
      g_assert_cmpstr (e, ==, cases[i].out);
      ec_json_append_string (s, cases[i].in);
      g_assert_cmpstr (s->str + 1, ==, cases[i].out);
      back = ec_json_decode_string (e, strlen (e), NULL);
      if (i < G_N_ELEMENTS (cases) - 1)
        g_assert_cmpstr (back, ==, cases[i].in);
      else
        g_assert_cmpstr (back, ==, "bad\xef\xbf\xbd");
    }
  {
    g_autofree char *n = ec_json_escape (NULL);
    g_assert_cmpstr (n, ==, "\"\"");
  }
}

/* reparses text and checks the tree equals want (numbers compared as
 * numbers: 1.0 is written "1" and reads back as an integer) */
static void
assert_reparses (const char *text, JsonNode *want)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) back = parse (text, &error);
  g_assert_no_error (error);
  g_assert_true (json_node_equal (back, want));
}

/* A new node holding a new, empty object (the node owns the object). */
static JsonNode *
object_node (void)
{
  JsonNode *n = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (n, json_object_new ());
  return n;
}

/* Doubles are written as Go's encoding/json writes a float64, and read back
 * to the same double; json-glib wrote 1e83 as "1e+83.0" (invalid). */
static void
test_write_double (void)
{
  static const struct { double d; const char *out; } cases[] = {
    { 1e83, "1e+83" },
    { 1e-7, "1e-7" },
    { 2.5e-7, "2.5e-7" },
    { 1e-100, "1e-100" },
    { 0.000001, "0.000001" },
    { 0.1, "0.1" },
    { 0.30000000000000004, "0.30000000000000004" },
    { 1e21, "1e+21" },
    { 1e20, "100000000000000000000" },
    { 123.456, "123.456" },
    { -1.5, "-1.5" },
    { 1.0, "1" },
    { 0.0, "0" },
    { -0.0, "-0" },
    { 5e-324, "5e-324" },
    { DBL_MAX, "1.7976931348623157e+308" },
    { 9007199254740993.0, "9007199254740992" },
    { 1234567.125, "1234567.125" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (JsonNode) n = json_node_new (JSON_NODE_VALUE);
      g_autoptr (JsonNode) back = NULL;
      g_autofree char *text = NULL;
      json_node_set_double (n, cases[i].d);
      text = ec_json_to_string (n, FALSE);
      g_assert_cmpstr (text, ==, cases[i].out);
      back = parse (text, NULL);
      g_assert_nonnull (back);
      g_assert_cmpfloat (json_node_get_double (back), ==, cases[i].d);
    }
  /* -0.0 read from outside is written as Go writes it, sign kept */
  {
    g_autoptr (JsonNode) back = parse ("[-0.0]", NULL);
    g_autofree char *text = ec_json_to_string (back, FALSE);
    g_assert_cmpstr (text, ==, "[-0]");
  }
  /* a number read from outside goes out valid */
  {
    g_autoptr (JsonNode) n = parse ("{\"x\":1e83,\"y\":[1E-7,1.0e21,0.5]}", NULL);
    g_autofree char *text = ec_json_to_string (n, FALSE);
    g_assert_cmpstr (text, ==, "{\"x\":1e+83,\"y\":[1e-7,1e+21,0.5]}");
    g_assert_true (ec_json_validate (text, strlen (text), 0, 0, NULL));
    assert_reparses (text, n);
  }
  /* JSON cannot hold NaN nor infinities: they are written as null */
  {
    const double bad[] = { NAN, INFINITY, -INFINITY };
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr (JsonNode) n = object_node ();
        g_autofree char *text = NULL;
        json_object_set_double_member (json_node_get_object (n), "v", bad[i]);
        text = ec_json_to_string (n, FALSE);
        g_assert_cmpstr (text, ==, "{\"v\":null}");
      }
  }
}

/* Integers stay integers, to the last digit of int64. */
static void
test_write_int (void)
{
  static const struct { gint64 v; const char *out; } cases[] = {
    { 0, "0" },
    { -3, "-3" },
    { (G_GINT64_CONSTANT (1) << 53) + 1, "9007199254740993" },
    { G_MAXINT64, "9223372036854775807" },
    { G_MININT64, "-9223372036854775808" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (JsonNode) n = json_node_new (JSON_NODE_VALUE);
      g_autoptr (JsonNode) back = NULL;
      g_autofree char *text = NULL;
      json_node_set_int (n, cases[i].v);
      text = ec_json_to_string (n, FALSE);
      g_assert_cmpstr (text, ==, cases[i].out);
      back = parse (text, NULL);
      g_assert_cmpint (json_node_get_value_type (back), ==, G_TYPE_INT64);
      g_assert_cmpint (json_node_get_int (back), ==, cases[i].v);
    }
}

/* Strings go through the escaper; a whole tree keeps its member order and
 * reads back equal; compact text is json-glib's for ordinary objects. */
static void
test_write_tree (void)
{
  const char *doc =
    "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"labels\":{\"b\":\"1\",\"a\":\"2\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"c\",\"ports\":[{\"containerPort\":80}]}],"
    "\"hostNetwork\":false,\"tolerations\":[],\"nodeSelector\":{}},"
    "\"status\":null,\"list\":[1,[2,[3,{\"deep\":true}]]]}";
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) n = parse (doc, &error);
  g_autofree char *text = NULL;
  g_autofree char *glib = NULL;
  g_autofree char *pretty = NULL;
  g_autoptr (GString) appended = g_string_new ("x=");

  g_assert_no_error (error);
  text = ec_json_to_string (n, FALSE);
  g_assert_cmpstr (text, ==, doc);
  glib = json_to_string (n, FALSE);
  g_assert_cmpstr (text, ==, glib);
  assert_reparses (text, n);
  ec_json_append_node (appended, n, FALSE);
  g_assert_cmpstr (appended->str + 2, ==, doc);

  /* pretty: two spaces, as Go's json.MarshalIndent (v, "", "  ") */
  {
    g_autoptr (JsonNode) small = parse ("{\"a\":[1,{\"b\":\"x\"}],\"e\":{},\"f\":[]}", NULL);
    pretty = ec_json_to_string (small, TRUE);
    g_assert_cmpstr (pretty, ==,
                     "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"x\"\n    }\n  ],\n"
                     "  \"e\": {},\n  \"f\": []\n}");
    assert_reparses (pretty, small);
  }

  /* strings and keys: control characters, U+2028/U+2029, <>&, as Go */
  {
    const char *odd = "a\x01\n\t\"\\<>&\xe2\x80\xa8\xe2\x80\xa9\x7f\xc3\xa9";
    g_autoptr (JsonNode) o = object_node ();
    g_autofree char *esc = ec_json_escape (odd);
    g_autofree char *want = g_strdup_printf ("{%s:%s}", esc, esc);
    g_autofree char *out = NULL;
    json_object_set_string_member (json_node_get_object (o), odd, odd);
    out = ec_json_to_string (o, FALSE);
    g_assert_cmpstr (out, ==, want);
    g_assert_nonnull (strstr (out, "\\u2028\\u2029"));
    g_assert_nonnull (strstr (out, "\\u0001\\n\\t"));
    assert_reparses (out, o);
  }

  /* NULL is null */
  {
    g_autofree char *null = ec_json_to_string (NULL, FALSE);
    g_assert_cmpstr (null, ==, "null");
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/syntax", test_syntax);
  g_test_add_func ("/json/truncated", test_truncated);
  g_test_add_func ("/json/depth-limit", test_depth_limit);
  g_test_add_func ("/json/deep-nesting", test_deep_nesting);
  g_test_add_func ("/json/size-limit", test_size_limit);
  g_test_add_func ("/json/nul", test_nul);
  g_test_add_func ("/json/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/json/numbers", test_numbers);
  g_test_add_func ("/json/duplicate-keys", test_duplicate_keys);
  g_test_add_func ("/json/tree", test_tree);
  g_test_add_func ("/json/scanner", test_scanner);
  g_test_add_func ("/json/decode-string", test_decode_string);
  g_test_add_func ("/json/escape", test_escape);
  g_test_add_func ("/json/write-double", test_write_double);
  g_test_add_func ("/json/write-int", test_write_int);
  g_test_add_func ("/json/write-tree", test_write_tree);
  return g_test_run ();
}
