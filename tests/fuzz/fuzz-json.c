/* fuzz-json.c: libedgecore's JSON reader (ec-json.h), which every plugin
 * reads outside JSON with. The first byte picks a nesting limit (1 to 16,
 * or the default); the rest is the text. The three ways in must agree:
 * what ec_json_validate accepts, ec_json_parse turns into a tree (unless
 * a number is out of double's range or a string holds \u0000, which C text
 * cannot) and a scanner walking every value
 * reads to the end; a tree written out parses again; a string decoded
 * and escaped again decodes to the same text. */
#include "fuzz-common.h"

#include <edgecore.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Reads one value of any type with the scanner. */
static void
walk (EcJsonScanner *s, GString *tmp)
{
  guint index = 0;
  gboolean b;

  switch (ec_json_scanner_peek (s))
    {
    case '{':
      if (!ec_json_scanner_object_begin (s))
        return;
      while (ec_json_scanner_member (s, &index, tmp))
        walk (s, tmp);
      break;
    case '[':
      if (!ec_json_scanner_array_begin (s))
        return;
      while (ec_json_scanner_element (s, &index))
        walk (s, tmp);
      break;
    case '"':
      ec_json_scanner_string (s, tmp);
      break;
    case 't':
    case 'f':
      ec_json_scanner_bool (s, &b);
      break;
    case 'n':
      ec_json_scanner_null (s);
      break;
    default:
      ec_json_scanner_skip (s);   /* numbers (int64 may not hold them), or bad text */
      break;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) verror = NULL, perror = NULL, serror = NULL, derror = NULL;
  g_autoptr (JsonNode) tree = NULL;
  g_autoptr (GString) tmp = g_string_new (NULL);
  g_autofree char *text = NULL;
  g_autofree char *decoded = NULL;
  EcJsonScanner *scanner;
  gboolean valid, scanned;
  guint depth;
  gsize len;

  fuzz_init ();
  if (size < 1)
    return 0;
  depth = data[0] < 128 ? (guint) (data[0] % 16) + 1 : 0;
  text = fuzz_strndup (data + 1, size - 1);
  len = size - 1;

  valid = ec_json_validate (text, len, depth, 0, &verror);
  g_assert_true (valid == (verror == NULL));
  tree = ec_json_parse (text, len, depth, 0, &perror);
  if (!valid)
    g_assert_null (tree);
  else if (!tree && !g_error_matches (perror, EC_JSON_ERROR, EC_JSON_ERROR_RANGE)
           && !g_error_matches (perror, EC_JSON_ERROR, EC_JSON_ERROR_NUL))
    g_error ("validated but not parsed: %s", perror->message);

  scanner = ec_json_scanner_new (text, len, depth, 0, &serror);
  walk (scanner, tmp);
  scanned = ec_json_scanner_finish (scanner);
  ec_json_scanner_free (scanner);
  if (scanned != valid && !g_error_matches (serror, EC_JSON_ERROR, EC_JSON_ERROR_NUL))
    g_error ("validate says %d, the scanner %d (%s / %s)", valid, scanned,
             verror ? verror->message : "-", serror ? serror->message : "-");

  if (tree)
    {
      g_autofree char *out = ec_json_to_string (tree, FALSE);
      g_autoptr (GError) e = NULL;
      g_autoptr (JsonNode) again = ec_json_parse (out, strlen (out), 0, 0, &e);
      if (!again)
        g_error ("a tree written out does not parse again: %s\n%s", e->message, out);
    }

  decoded = ec_json_decode_string (text, len, &derror);
  if (decoded)
    {
      g_autofree char *escaped = ec_json_escape (decoded);
      g_autoptr (GError) e = NULL;
      g_autofree char *back = ec_json_decode_string (escaped, strlen (escaped), &e);
      if (!back)
        g_error ("an escaped string does not decode: %s\n%s", e->message, escaped);
      g_assert_cmpstr (back, ==, decoded);
    }
  return 0;
}
