/* ec-json.c: the one JSON reader of edgecore, and Go's string escaping.
 *
 * One set of rules for every reader (docs/json.md):
 * - RFC 8259 and UTF-8 only; anything else is EC_JSON_ERROR_SYNTAX.
 * - a depth and a size limit on every call (0 picks the defaults); the
 *   recursion never goes deeper than the depth limit, so no input can
 *   exhaust the stack.
 * - `\u0000` is kept wherever text is kept (validation, skipping: the bytes
 *   pass on as written, as Go keeps the NUL) and is an EC_JSON_ERROR_NUL
 *   wherever a string must become C text (a decoded string, a tree): never
 *   silently truncated.
 * - lone surrogates become U+FFFD, as in Go.
 * - duplicate keys: the last one wins (Go's encoding/json, json-glib).
 *
 * The validator, the scanner and the tree builder share the code below;
 * the message envelope (ec-message-json.c) uses it through the _ec_json_*
 * functions in ec-message-private.h. */
#include "config.h"

#include "ec-message-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

G_DEFINE_QUARK (ec-json-error-quark, ec_json_error)
G_DEFINE_ENUM_TYPE (EcJsonError, ec_json_error,
                    G_DEFINE_ENUM_VALUE (EC_JSON_ERROR_SYNTAX, "syntax"),
                    G_DEFINE_ENUM_VALUE (EC_JSON_ERROR_DEPTH, "depth"),
                    G_DEFINE_ENUM_VALUE (EC_JSON_ERROR_SIZE, "size"),
                    G_DEFINE_ENUM_VALUE (EC_JSON_ERROR_NUL, "nul"),
                    G_DEFINE_ENUM_VALUE (EC_JSON_ERROR_TYPE, "type"),
                    G_DEFINE_ENUM_VALUE (EC_JSON_ERROR_RANGE, "range"))

/* ---- escaping ----------------------------------------------------------- */

static const char hex_digits[] = "0123456789abcdef";

static void
append_u_escape (GString *out, guint cp)
{
  char buf[6] = { '\\', 'u',
                  hex_digits[(cp >> 12) & 0xf], hex_digits[(cp >> 8) & 0xf],
                  hex_digits[(cp >> 4) & 0xf], hex_digits[cp & 0xf] };
  g_string_append_len (out, buf, 6);
}

/**
 * ec_json_append_string:
 * @out: where the JSON text goes
 * @text: (nullable): UTF-8 text; %NULL is the empty string
 *
 * Appends @text as a JSON string, quotes included, the way Go's
 * encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped as
 * `\u00XX`, control characters escaped, invalid UTF-8 replaced by U+FFFD.
 */
void
ec_json_append_string (GString *out, const char *text)
{
  const guchar *p = (const guchar *) (text ? text : "");
  const guchar *run = p;

  g_return_if_fail (out != NULL);
  g_string_append_c (out, '"');
  while (*p)
    {
      guchar c = *p;
      if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' && c < 0x80)
        {
          p++;
          continue;
        }
      g_string_append_len (out, (const char *) run, p - run);
      if (c < 0x80)
        {
          switch (c)
            {
            case '"': g_string_append (out, "\\\""); break;
            case '\\': g_string_append (out, "\\\\"); break;
            case '\n': g_string_append (out, "\\n"); break;
            case '\r': g_string_append (out, "\\r"); break;
            case '\t': g_string_append (out, "\\t"); break;
            case '\b': g_string_append (out, "\\b"); break;
            case '\f': g_string_append (out, "\\f"); break;
            default: append_u_escape (out, c); break;
            }
          p++;
        }
      else
        {
          gunichar cp = g_utf8_get_char_validated ((const char *) p, -1);
          if (cp == (gunichar) -1 || cp == (gunichar) -2)
            {
              g_string_append (out, "\\ufffd");
              p++;
            }
          else
            {
              const char *next = g_utf8_next_char ((const char *) p);
              if (cp == 0x2028 || cp == 0x2029)
                append_u_escape (out, cp);
              else
                g_string_append_len (out, (const char *) p, (const guchar *) next - p);
              p = (const guchar *) next;
            }
        }
      run = p;
    }
  g_string_append_len (out, (const char *) run, p - run);
  g_string_append_c (out, '"');
}

/**
 * ec_json_escape:
 * @text: (nullable): UTF-8 text; %NULL is the empty string
 *
 * Writes @text as a JSON string, as ec_json_append_string() does.
 *
 * Returns: (transfer full): the JSON string, quotes included
 */
char *
ec_json_escape (const char *text)
{
  GString *out = g_string_sized_new (text ? strlen (text) + 2 : 2);
  ec_json_append_string (out, text);
  return g_string_free (out, FALSE);
}

/* ---- writing ------------------------------------------------------------ */

/* Appends a finite double the way Go's encoding/json writes a float64: the
 * fewest significant digits that read back to the same double (strconv's
 * precision -1), plain notation between 1e-6 and 1e21, exponent notation
 * outside, a negative exponent without its leading zero ("1e-7"). */
static void
append_double (GString *out, double d)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  char fmt[8];
  char digits[20];
  const char *p;
  int exp10, n = 0;
  double a = fabs (d);

  if (signbit (d))
    g_string_append_c (out, '-');
  if (a == 0)
    {
      g_string_append_c (out, '0');
      return;
    }
  /* the shortest "%.*e" that reads back: d.ddddde±XX, 1 to 17 digits */
  for (int prec = 0; prec <= 16; prec++)
    {
      g_snprintf (fmt, sizeof fmt, "%%.%de", prec);
      g_ascii_formatd (buf, sizeof buf, fmt, a);
      if (g_ascii_strtod (buf, NULL) == a)
        break;
    }
  for (p = buf; *p && *p != 'e'; p++)
    if (g_ascii_isdigit (*p))
      digits[n++] = *p;
  digits[n] = '\0';
  exp10 = atoi (p + 1);   /* the value is 0.digits × 10^(exp10 + 1) */

  if (a < 1e-6 || a >= 1e21)
    {
      g_string_append_c (out, digits[0]);
      if (n > 1)
        {
          g_string_append_c (out, '.');
          g_string_append (out, digits + 1);
        }
      if (exp10 < 0)
        g_string_append_printf (out, "e-%d", -exp10);
      else
        g_string_append_printf (out, "e+%02d", exp10);
    }
  else if (exp10 >= 0)
    {
      for (int i = 0; i <= exp10; i++)
        g_string_append_c (out, i < n ? digits[i] : '0');
      if (n > exp10 + 1)
        {
          g_string_append_c (out, '.');
          g_string_append (out, digits + exp10 + 1);
        }
    }
  else
    {
      g_string_append (out, "0.");
      for (int i = -1; i > exp10; i--)
        g_string_append_c (out, '0');
      g_string_append (out, digits);
    }
}

static void
append_newline (GString *out, gboolean pretty, guint depth)
{
  if (!pretty)
    return;
  g_string_append_c (out, '\n');
  for (guint i = 0; i < depth; i++)
    g_string_append (out, "  ");
}

static void
append_node (GString *out, JsonNode *node, gboolean pretty, guint depth)
{
  if (!node)
    {
      g_string_append (out, "null");
      return;
    }
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_OBJECT:
      {
        JsonObject *o = json_node_get_object (node);
        GList *members = json_object_get_members (o);   /* in insertion order */
        g_string_append_c (out, '{');
        for (GList *l = members; l; l = l->next)
          {
            append_newline (out, pretty, depth + 1);
            ec_json_append_string (out, l->data);
            g_string_append (out, pretty ? ": " : ":");
            append_node (out, json_object_get_member (o, l->data), pretty, depth + 1);
            if (l->next)
              g_string_append_c (out, ',');
          }
        if (members)
          append_newline (out, pretty, depth);
        g_string_append_c (out, '}');
        g_list_free (members);
        break;
      }
    case JSON_NODE_ARRAY:
      {
        JsonArray *a = json_node_get_array (node);
        guint len = json_array_get_length (a);
        g_string_append_c (out, '[');
        for (guint i = 0; i < len; i++)
          {
            append_newline (out, pretty, depth + 1);
            append_node (out, json_array_get_element (a, i), pretty, depth + 1);
            if (i + 1 < len)
              g_string_append_c (out, ',');
          }
        if (len)
          append_newline (out, pretty, depth);
        g_string_append_c (out, ']');
        break;
      }
    case JSON_NODE_VALUE:
      switch (json_node_get_value_type (node))
        {
        case G_TYPE_INT64:
          g_string_append_printf (out, "%" G_GINT64_FORMAT, json_node_get_int (node));
          break;
        case G_TYPE_DOUBLE:
          {
            double d = json_node_get_double (node);
            if (isfinite (d))
              append_double (out, d);
            else
              g_string_append (out, "null");   /* JSON has no NaN nor infinity */
            break;
          }
        case G_TYPE_BOOLEAN:
          g_string_append (out, json_node_get_boolean (node) ? "true" : "false");
          break;
        case G_TYPE_STRING:
          ec_json_append_string (out, json_node_get_string (node));
          break;
        default:
          g_string_append (out, "null");
          break;
        }
      break;
    case JSON_NODE_NULL:
    default:
      g_string_append (out, "null");
      break;
    }
}

/**
 * ec_json_append_node:
 * @out: where the JSON text goes
 * @node: (nullable): the tree to write; %NULL is `null`
 * @pretty: %TRUE to indent by two spaces, as Go's
 *   `json.MarshalIndent (v, "", "  ")`; %FALSE for compact text
 *
 * Appends @node as JSON text that every JSON reader accepts (json-glib's
 * generator writes `1e+83.0` for 1e83). Members keep their order, strings
 * go through ec_json_append_string(), integers are written as integers,
 * doubles as Go's encoding/json writes a float64: the fewest digits that
 * read back to the same double, an exponent only below 1e-6 or from 1e21
 * (`0.1`, `1e-7`, `1e+21`, `-0`). NaN and infinities, which JSON cannot
 * hold, are written as `null` (see docs/json.md).
 */
void
ec_json_append_node (GString *out, JsonNode *node, gboolean pretty)
{
  g_return_if_fail (out != NULL);
  append_node (out, node, pretty, 0);
}

/**
 * ec_json_to_string:
 * @node: (nullable): the tree to write; %NULL is `null`
 * @pretty: %TRUE to indent by two spaces, %FALSE for compact text
 *
 * Writes @node as JSON text, as ec_json_append_node() does. Use it instead
 * of json-glib's json_to_string() and #JsonGenerator, which write some
 * doubles as invalid JSON.
 *
 * Returns: (transfer full): the JSON text
 */
char *
ec_json_to_string (JsonNode *node, gboolean pretty)
{
  GString *out = g_string_sized_new (64);
  append_node (out, node, pretty, 0);
  return g_string_free (out, FALSE);
}

/* ---- the shared reader core --------------------------------------------
 * Works on plain pointers (fast on the hot paths); a Reader carries where
 * errors go. Every function returns the position after what it read, or
 * NULL after setting the error. */

typedef struct {
  const char *start;
  GError    **error;
  guint       max_depth;
} Reader;

static const char *
fail_at (const Reader *r, const char *at, EcJsonError code, const char *what)
{
  g_set_error (r->error, EC_JSON_ERROR, code, "invalid JSON at byte %" G_GSIZE_FORMAT ": %s",
               (gsize) (at - r->start), what);
  return NULL;
}

static inline const char *
skip_ws (const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

const char *
_ec_json_skip_ws (const char *p, const char *end)
{
  return skip_ws (p, end);
}

static gint
hex4 (const char *p, const char *end)
{
  gint v = 0;
  if (end - p < 4)
    return -1;
  for (int i = 0; i < 4; i++)
    {
      gint h = g_ascii_xdigit_value (p[i]);
      if (h < 0)
        return -1;
      v = (v << 4) | h;
    }
  return v;
}

/* Bytes a string holds as they are: printable ASCII but '"' and '\\'. */
static const guint8 plain_byte[256] = {
  [0x20] = 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,            /* 0x22 '"' */
  [0x30] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  [0x40] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  [0x50] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,            /* 0x5c '\\' */
  [0x60] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  [0x70] = 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Reads the string whose opening quote is at p. With out, its decoded text
 * is appended there (then \u0000 is an error); without, it is only checked
 * (then \u0000 is fine: the text is kept as written). */
static const char *
read_string (const Reader *r, const char *p, const char *end, GString *out)
{
  const char *run = ++p;

  for (;;)
    {
      guchar c;
      while (p < end && plain_byte[(guchar) *p])   /* the common case, one test a byte */
        p++;
      if (p >= end)
        return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "unterminated string");
      c = (guchar) *p;
      if (c == '"')
        break;
      if (c < 0x20)
        return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "control character in string");
      if (c >= 0x80)
        {
          gunichar cp = g_utf8_get_char_validated (p, end - p);
          if (cp == (gunichar) -1 || cp == (gunichar) -2)
            return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "invalid UTF-8 in string");
          p = g_utf8_next_char (p);
          continue;
        }
      if (c != '\\')
        {
          p++;
          continue;
        }
      if (out)
        g_string_append_len (out, run, p - run);
      if (p + 1 >= end)
        return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "unterminated escape");
      c = (guchar) p[1];
      switch (c)
        {
        case '"': case '\\': case '/':
          if (out) g_string_append_c (out, (char) c);
          break;
        case 'b': if (out) g_string_append_c (out, '\b'); break;
        case 'f': if (out) g_string_append_c (out, '\f'); break;
        case 'n': if (out) g_string_append_c (out, '\n'); break;
        case 'r': if (out) g_string_append_c (out, '\r'); break;
        case 't': if (out) g_string_append_c (out, '\t'); break;
        case 'u':
          {
            gint cp = hex4 (p + 2, end);
            if (cp < 0)
              return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "bad \\u escape");
            if (cp == 0 && out)
              return fail_at (r, p, EC_JSON_ERROR_NUL, "\\u0000 in a string that must become C text");
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00)
              {
                gint lo = end - (p + 2) >= 6 && p[2] == '\\' && p[3] == 'u' ? hex4 (p + 4, end) : -1;
                if (lo >= 0xdc00 && lo < 0xe000)
                  {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                  }
                else
                  cp = 0xfffd;
              }
            else if (cp >= 0xdc00 && cp < 0xe000)
              cp = 0xfffd;
            if (out)
              g_string_append_unichar (out, (gunichar) cp);
            break;
          }
        default:
          return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "unknown escape");
        }
      p += 2;
      run = p;
    }
  if (out)
    g_string_append_len (out, run, p - run);
  return p + 1;
}

/* Reads a number; *integer tells whether it has neither fraction nor
 * exponent. */
static const char *
read_number (const Reader *r, const char *p, const char *end, gboolean *integer)
{
  *integer = TRUE;
  if (p < end && *p == '-')
    p++;
  if (p >= end || !g_ascii_isdigit (*p))
    return fail_at (r, p, EC_JSON_ERROR_SYNTAX, p >= end ? "unexpected end of input" : "unexpected character");
  if (*p == '0')
    p++;
  else
    while (p < end && g_ascii_isdigit (*p))
      p++;
  if (p < end && *p == '.')
    {
      *integer = FALSE;
      p++;
      if (p >= end || !g_ascii_isdigit (*p))
        return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "bad number");
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  if (p < end && (*p == 'e' || *p == 'E'))
    {
      *integer = FALSE;
      p++;
      if (p < end && (*p == '+' || *p == '-'))
        p++;
      if (p >= end || !g_ascii_isdigit (*p))
        return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "bad number");
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  return p;
}

static const char *
read_literal (const Reader *r, const char *p, const char *end, const char *word, gsize n)
{
  if ((gsize) (end - p) < n || memcmp (p, word, n) != 0)
    return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "unexpected character");
  return p + n;
}

/* Reads an object key at p (white space before it skipped) and the ':'
 * after it; with out, the key is decoded there. */
static inline const char *
read_key (const Reader *r, const char *p, const char *end, GString *out)
{
  p = skip_ws (p, end);
  if (p >= end || *p != '"')
    return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "expected object key");
  if (out)
    g_string_truncate (out, 0);
  if (!(p = read_string (r, p, end, out)))
    return NULL;
  p = skip_ws (p, end);
  if (p >= end || *p != ':')
    return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "expected ':'");
  return p + 1;
}

/* After a member or an element: the position after the ',' or, with
 * *closed set, after the closing byte. */
static inline const char *
read_separator (const Reader *r, const char *p, const char *end, char close, gboolean *closed)
{
  p = skip_ws (p, end);
  *closed = p < end && *p == close;
  if (p < end && (*p == ',' || *closed))
    return p + 1;
  return fail_at (r, p, EC_JSON_ERROR_SYNTAX, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

/* Checks one value at p (white space before it skipped); depth is the
 * number of containers around it. */
static const char *
skip_value (const Reader *r, const char *p, const char *end, guint depth)
{
  gboolean integer;

  p = skip_ws (p, end);
  if (p >= end)
    return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "unexpected end of input");
  switch (*p)
    {
    case '"':
      return read_string (r, p, end, NULL);
    case '{':
    case '[':
      {
        char close = *p == '{' ? '}' : ']';
        gboolean object = *p == '{';
        if (depth >= r->max_depth)
          return fail_at (r, p, EC_JSON_ERROR_DEPTH, "nested too deeply");
        p = skip_ws (p + 1, end);
        if (p < end && *p == close)
          return p + 1;
        for (;;)
          {
            gboolean closed;
            if (object && !(p = read_key (r, p, end, NULL)))
              return NULL;
            if (!(p = skip_value (r, p, end, depth + 1)))
              return NULL;
            if (!(p = read_separator (r, p, end, close, &closed)) || closed)
              return p;
          }
      }
    case 't':
      return read_literal (r, p, end, "true", 4);
    case 'f':
      return read_literal (r, p, end, "false", 5);
    case 'n':
      return read_literal (r, p, end, "null", 4);
    default:
      return read_number (r, p, end, &integer);
    }
}

static gboolean
check_size (gsize len, gsize max_size, GError **error)
{
  if (len <= (max_size ? max_size : EC_JSON_DEFAULT_MAX_SIZE))
    return TRUE;
  g_set_error (error, EC_JSON_ERROR, EC_JSON_ERROR_SIZE,
               "JSON text of %" G_GSIZE_FORMAT " bytes is larger than the limit of %" G_GSIZE_FORMAT,
               len, max_size ? max_size : EC_JSON_DEFAULT_MAX_SIZE);
  return FALSE;
}

/* The envelope's entry points: errors are EC_MESSAGE_ERROR_INVALID_JSON
 * there, and the limits are the envelope's (docs/json.md). */
static void
to_message_error (GError **error)
{
  if (error && *error && (*error)->domain == EC_JSON_ERROR)
    {
      (*error)->domain = EC_MESSAGE_ERROR;
      (*error)->code = EC_MESSAGE_ERROR_INVALID_JSON;
    }
}

const char *
_ec_json_skip_value (const char *p, const char *end, const char *start, GError **error)
{
  Reader r = { start, error, EC_JSON_DEFAULT_MAX_DEPTH };
  const char *after = skip_value (&r, p, end, 0);
  if (!after)
    to_message_error (error);
  return after;
}

gboolean
_ec_json_parse_string (const char **pp, const char *end, const char *start, char **out,
                       GError **error)
{
  Reader r = { start, error, EC_JSON_DEFAULT_MAX_DEPTH };
  const char *after = read_string (&r, *pp, end, NULL);
  GString *buf;

  if (after && out)
    {
      /* most strings have no escape: one copy, no decoding */
      if (!memchr (*pp + 1, '\\', after - 1 - (*pp + 1)))
        *out = g_strndup (*pp + 1, after - 1 - (*pp + 1));
      else
        {
          buf = g_string_sized_new (after - *pp);
          if (read_string (&r, *pp, end, buf))
            *out = g_string_free (buf, FALSE);
          else
            {
              g_string_free (buf, TRUE);
              after = NULL;
            }
        }
    }
  if (!after)
    {
      to_message_error (error);
      return FALSE;
    }
  *pp = after;
  return TRUE;
}

/* ---- validation and trees ------------------------------------------------ */

/**
 * ec_json_validate:
 * @buf: (array length=len) (element-type guint8): the JSON text
 * @len: its length in bytes (@buf need not be NUL-terminated)
 * @max_depth: how deeply arrays and objects may nest, 0 for
 *   %EC_JSON_DEFAULT_MAX_DEPTH
 * @max_size: the largest @len accepted, 0 for %EC_JSON_DEFAULT_MAX_SIZE
 * @error: where to put an #EcJsonError
 *
 * Checks that @buf is exactly one JSON value (white space around it
 * allowed) within the limits. Nothing is decoded, so a `\u0000` is fine
 * here: text that is passed on or stored keeps it as written.
 *
 * Returns: %TRUE when @buf is valid
 */
gboolean
ec_json_validate (const char *buf, gsize len, guint max_depth, gsize max_size, GError **error)
{
  Reader r = { buf, error, max_depth ? max_depth : EC_JSON_DEFAULT_MAX_DEPTH };
  const char *end = buf + len, *p;

  g_return_val_if_fail (buf != NULL || len == 0, FALSE);
  if (!check_size (len, max_size, error))
    return FALSE;
  if (!(p = skip_value (&r, buf, end, 0)))
    return FALSE;
  p = skip_ws (p, end);
  if (p != end)
    return fail_at (&r, p, EC_JSON_ERROR_SYNTAX, "text after the value") != NULL;
  return TRUE;
}

static const char *build_value (const Reader *r, const char *p, const char *end, guint depth,
                                 GString *tmp, JsonNode **out);

/* Makes a number node: an integer that fits int64 as an int, any other
 * number as a double (out of double's range is an error, as in Go). */
static const char *
build_number (const Reader *r, const char *p, const char *end, JsonNode **out)
{
  gboolean integer;
  const char *after = read_number (r, p, end, &integer);
  char small[64];
  g_autofree char *big = NULL;
  char *text;
  gsize n;

  if (!after)
    return NULL;
  n = (gsize) (after - p);
  text = n < sizeof small ? small : (big = g_malloc (n + 1));
  memcpy (text, p, n);
  text[n] = 0;
  if (integer)
    {
      gint64 v;
      if (g_ascii_string_to_signed (text, 10, G_MININT64, G_MAXINT64, &v, NULL))
        {
          *out = json_node_init_int (json_node_alloc (), v);
          return after;
        }
    }
  {
    gdouble d = g_ascii_strtod (text, NULL);
    if (!isfinite (d))
      return fail_at (r, p, EC_JSON_ERROR_RANGE, "number out of range");
    *out = json_node_init_double (json_node_alloc (), d);
  }
  return after;
}

static const char *
build_container (const Reader *r, const char *p, const char *end, guint depth, GString *tmp,
                 JsonNode **out)
{
  gboolean object = *p == '{';
  char close = object ? '}' : ']';
  JsonObject *obj = NULL;
  JsonArray *arr = NULL;
  JsonNode *node;

  if (depth >= r->max_depth)
    return fail_at (r, p, EC_JSON_ERROR_DEPTH, "nested too deeply");
  if (object)
    node = json_node_init_object (json_node_alloc (), (obj = json_object_new ()));
  else
    node = json_node_init_array (json_node_alloc (), (arr = json_array_new ()));
  if (obj)
    json_object_unref (obj);
  else
    json_array_unref (arr);

  p = skip_ws (p + 1, end);
  if (p < end && *p == close)
    {
      *out = node;
      return p + 1;
    }
  for (;;)
    {
      JsonNode *child = NULL;
      g_autofree char *key = NULL;
      gboolean closed;
      if (object)
        {
          if (!(p = read_key (r, p, end, tmp)))
            break;
          key = g_strndup (tmp->str, tmp->len);
        }
      if (!(p = build_value (r, p, end, depth + 1, tmp, &child)))
        break;
      if (object)
        json_object_set_member (obj, key, child);
      else
        json_array_add_element (arr, child);
      if (!(p = read_separator (r, p, end, close, &closed)))
        break;
      if (closed)
        {
          *out = node;
          return p;
        }
    }
  json_node_unref (node);
  return NULL;
}

static const char *
build_value (const Reader *r, const char *p, const char *end, guint depth, GString *tmp,
             JsonNode **out)
{
  p = skip_ws (p, end);
  if (p >= end)
    return fail_at (r, p, EC_JSON_ERROR_SYNTAX, "unexpected end of input");
  switch (*p)
    {
    case '"':
      g_string_truncate (tmp, 0);
      if (!(p = read_string (r, p, end, tmp)))
        return NULL;
      *out = json_node_init_string (json_node_alloc (), tmp->str);
      return p;
    case '{':
    case '[':
      return build_container (r, p, end, depth, tmp, out);
    case 't':
      if (!(p = read_literal (r, p, end, "true", 4)))
        return NULL;
      *out = json_node_init_boolean (json_node_alloc (), TRUE);
      return p;
    case 'f':
      if (!(p = read_literal (r, p, end, "false", 5)))
        return NULL;
      *out = json_node_init_boolean (json_node_alloc (), FALSE);
      return p;
    case 'n':
      if (!(p = read_literal (r, p, end, "null", 4)))
        return NULL;
      *out = json_node_init_null (json_node_alloc ());
      return p;
    default:
      return build_number (r, p, end, out);
    }
}

/**
 * ec_json_parse:
 * @buf: (array length=len) (element-type guint8): the JSON text
 * @len: its length in bytes (@buf need not be NUL-terminated)
 * @max_depth: how deeply arrays and objects may nest, 0 for
 *   %EC_JSON_DEFAULT_MAX_DEPTH
 * @max_size: the largest @len accepted, 0 for %EC_JSON_DEFAULT_MAX_SIZE
 * @error: where to put an #EcJsonError
 *
 * Parses exactly one JSON value into a json-glib tree, within the limits.
 * This is the door to json-glib for plugins: json-glib's own parser has no
 * depth limit. Integers that fit int64 become int nodes, other numbers
 * double nodes; a string with `\u0000` is refused (%EC_JSON_ERROR_NUL), as
 * a #JsonNode string cannot hold it; of duplicate keys the last one wins.
 * The tree is new and mutable; json_node_seal() it to share it.
 *
 * Returns: (transfer full) (nullable): the tree, or %NULL with @error set
 */
JsonNode *
ec_json_parse (const char *buf, gsize len, guint max_depth, gsize max_size, GError **error)
{
  Reader r = { buf, error, max_depth ? max_depth : EC_JSON_DEFAULT_MAX_DEPTH };
  const char *end = buf + len, *p;
  g_autoptr (GString) tmp = NULL;
  JsonNode *node = NULL;

  g_return_val_if_fail (buf != NULL || len == 0, NULL);
  if (!check_size (len, max_size, error))
    return NULL;
  tmp = g_string_sized_new (64);
  if (!(p = build_value (&r, buf, end, 0, tmp, &node)))
    return NULL;
  p = skip_ws (p, end);
  if (p != end)
    {
      json_node_unref (node);
      fail_at (&r, p, EC_JSON_ERROR_SYNTAX, "text after the value");
      return NULL;
    }
  return node;
}

/**
 * ec_json_decode_string:
 * @buf: (array length=len) (element-type guint8): JSON text that is one
 *   string (white space around it allowed)
 * @len: its length in bytes
 * @error: where to put an #EcJsonError
 *
 * Decodes a JSON string value; `\u0000` in it is %EC_JSON_ERROR_NUL.
 *
 * Returns: (transfer full) (nullable): the decoded text
 */
char *
ec_json_decode_string (const char *buf, gsize len, GError **error)
{
  g_autoptr (EcJsonScanner) s = ec_json_scanner_new (buf, len, 1, 0, error);
  GString *out = g_string_sized_new (len);

  if (!ec_json_scanner_string (s, out) || !ec_json_scanner_finish (s))
    {
      g_string_free (out, TRUE);
      return NULL;
    }
  return g_string_free (out, FALSE);
}

/* ---- the scanner ----------------------------------------------------------- */

struct _EcJsonScanner {
  const char *p;        /* next unread byte */
  const char *end;
  const char *start;
  GError    **error;    /* the caller's; set on the first failure */
  guint       depth;    /* containers open */
  guint       max_depth;
  gboolean    failed;
};

static inline Reader
reader_of (EcJsonScanner *s)
{
  Reader r = { s->start, s->error, s->max_depth };
  return r;
}


/**
 * ec_json_scanner_new: (skip)
 * @buf: the JSON text; it must outlive the scanner
 * @len: its length in bytes (it need not be NUL-terminated)
 * @max_depth: how deeply arrays and objects may nest, 0 for
 *   %EC_JSON_DEFAULT_MAX_DEPTH
 * @max_size: the largest @len accepted, 0 for %EC_JSON_DEFAULT_MAX_SIZE
 * @error: (nullable): where the first failure goes; it must outlive the
 *   scanner
 *
 * Starts scanning @buf. When @len is over the size limit the scanner has
 * failed already (%EC_JSON_ERROR_SIZE), so every read returns %FALSE.
 *
 * Returns: (transfer full): the scanner; free it with
 *   ec_json_scanner_free()
 */
EcJsonScanner *
ec_json_scanner_new (const char *buf, gsize len, guint max_depth, gsize max_size, GError **error)
{
  EcJsonScanner *s = g_new0 (EcJsonScanner, 1);

  if (buf == NULL && len > 0)
    {
      g_critical ("ec_json_scanner_new: no text but a length of %" G_GSIZE_FORMAT, len);
      s->failed = TRUE;
      return s;
    }
  s->p = s->start = buf;
  s->end = buf + len;
  s->error = error;
  s->max_depth = max_depth ? max_depth : EC_JSON_DEFAULT_MAX_DEPTH;
  if (!check_size (len, max_size, error))
    s->failed = TRUE;
  return s;
}

/**
 * ec_json_scanner_free: (skip)
 * @scanner: (nullable): a scanner
 *
 * Frees a scanner (not the text nor the error it points to).
 */
void
ec_json_scanner_free (EcJsonScanner *scanner)
{
  g_free (scanner);
}

/* Internal versions of ec_json_scanner_fail() and _peek(), called
 * directly (not through the PLT) by the functions below. */
static gboolean
scanner_fail (EcJsonScanner *s, EcJsonError code, const char *what)
{
  if (!s->failed)
    {
      Reader r = reader_of (s);
      s->failed = TRUE;
      fail_at (&r, s->p, code, what);
    }
  return FALSE;
}

static inline char
peek_next (EcJsonScanner *s)
{
  if (s->failed)
    return 0;
  s->p = skip_ws (s->p, s->end);
  return s->p < s->end ? *s->p : 0;
}

/**
 * ec_json_scanner_fail: (skip)
 * @scanner: a scanner
 * @code: what kind of failure
 * @what: what went wrong, for the error message
 *
 * Records a failure at the current position, unless one is already
 * recorded; callers use it for their own checks (a wrong type, a value
 * out of range).
 *
 * Returns: %FALSE
 */
gboolean
ec_json_scanner_fail (EcJsonScanner *scanner, EcJsonError code, const char *what)
{
  return scanner_fail (scanner, code, what);
}

/* Takes the result of a core function: the new position, or NULL once the
 * core has set the error. */
static inline gboolean
advance (EcJsonScanner *s, const char *after)
{
  if (!after)
    {
      s->failed = TRUE;
      return FALSE;
    }
  s->p = after;
  return TRUE;
}

/**
 * ec_json_scanner_has_failed: (skip)
 * @scanner: a scanner
 *
 * Returns: whether a failure has been recorded
 */
gboolean
ec_json_scanner_has_failed (EcJsonScanner *scanner)
{
  return scanner->failed;
}

/**
 * ec_json_scanner_peek: (skip)
 * @scanner: a scanner
 *
 * Skips white space and tells what comes next.
 *
 * Returns: the next significant byte, or 0 at the end or after a failure
 */
char
ec_json_scanner_peek (EcJsonScanner *scanner)
{
  return peek_next (scanner);
}

/**
 * ec_json_scanner_get_offset: (skip)
 * @scanner: a scanner
 *
 * Returns: the byte offset of the next unread byte
 */
gsize
ec_json_scanner_get_offset (EcJsonScanner *scanner)
{
  return (gsize) (scanner->p - scanner->start);
}

/**
 * ec_json_scanner_null: (skip)
 * @scanner: a scanner
 *
 * Consumes `null` if that comes next.
 *
 * Returns: %TRUE if a `null` was read (check ec_json_scanner_has_failed()
 *   after %FALSE)
 */
gboolean
ec_json_scanner_null (EcJsonScanner *scanner)
{
  Reader r;
  if (peek_next (scanner) != 'n')
    return FALSE;
  r = reader_of (scanner);
  return advance (scanner, read_literal (&r, scanner->p, scanner->end, "null", 4));
}

/**
 * ec_json_scanner_string: (skip)
 * @scanner: a scanner
 * @out: (nullable): receives the decoded text (its old contents replaced),
 *   or %NULL to only check the string
 *
 * Reads a string; another type is %EC_JSON_ERROR_TYPE. A `\u0000` is
 * %EC_JSON_ERROR_NUL when @out is given and kept when it is %NULL.
 *
 * Returns: %TRUE on success
 */
gboolean
ec_json_scanner_string (EcJsonScanner *scanner, GString *out)
{
  Reader r;
  char c = peek_next (scanner);
  if (scanner->failed)
    return FALSE;
  if (c != '"')
    return scanner_fail (scanner, c ? EC_JSON_ERROR_TYPE : EC_JSON_ERROR_SYNTAX,
                                 c ? "expected a string" : "unexpected end of input");
  if (out)
    g_string_truncate (out, 0);
  r = reader_of (scanner);
  return advance (scanner, read_string (&r, scanner->p, scanner->end, out));
}

/**
 * ec_json_scanner_int64: (skip)
 * @scanner: a scanner
 * @out: (out): the number
 *
 * Reads an integer that fits int64, as Go reads an int64 field: a
 * fraction or an exponent is %EC_JSON_ERROR_TYPE, an overflow
 * %EC_JSON_ERROR_RANGE.
 *
 * Returns: %TRUE on success
 */
gboolean
ec_json_scanner_int64 (EcJsonScanner *scanner, gint64 *out)
{
  Reader r;
  const char *from, *after;
  gboolean integer, negative;
  guint64 v = 0;
  char c = peek_next (scanner);

  if (scanner->failed)
    return FALSE;
  if (c != '-' && !g_ascii_isdigit (c))
    return scanner_fail (scanner, c ? EC_JSON_ERROR_TYPE : EC_JSON_ERROR_SYNTAX,
                                 c ? "expected a number" : "unexpected end of input");
  r = reader_of (scanner);
  from = scanner->p;
  if (!(after = read_number (&r, from, scanner->end, &integer)))
    return advance (scanner, NULL);
  if (!integer)
    return scanner_fail (scanner, EC_JSON_ERROR_TYPE, "expected an integer");
  negative = *from == '-';
  for (const char *p = from + negative; p < after; p++)
    {
      guint d = (guint) (*p - '0');
      if (v > (G_MAXUINT64 - d) / 10)
        return scanner_fail (scanner, EC_JSON_ERROR_RANGE, "integer out of range");
      v = v * 10 + d;
    }
  if (negative ? v > (guint64) G_MAXINT64 + 1 : v > (guint64) G_MAXINT64)
    return scanner_fail (scanner, EC_JSON_ERROR_RANGE, "integer out of range");
  *out = negative ? (gint64) (0 - v) : (gint64) v;
  scanner->p = after;
  return TRUE;
}

/**
 * ec_json_scanner_bool: (skip)
 * @scanner: a scanner
 * @out: (out): the value
 *
 * Reads `true` or `false`; another type is %EC_JSON_ERROR_TYPE.
 *
 * Returns: %TRUE on success
 */
gboolean
ec_json_scanner_bool (EcJsonScanner *scanner, gboolean *out)
{
  Reader r;
  char c = peek_next (scanner);
  if (scanner->failed)
    return FALSE;
  r = reader_of (scanner);
  if (c == 't')
    {
      *out = TRUE;
      return advance (scanner, read_literal (&r, scanner->p, scanner->end, "true", 4));
    }
  if (c == 'f')
    {
      *out = FALSE;
      return advance (scanner, read_literal (&r, scanner->p, scanner->end, "false", 5));
    }
  return scanner_fail (scanner, c ? EC_JSON_ERROR_TYPE : EC_JSON_ERROR_SYNTAX,
                               c ? "expected true or false" : "unexpected end of input");
}

/**
 * ec_json_scanner_skip: (skip)
 * @scanner: a scanner
 *
 * Skips one value of any type, checking it (nested containers count
 * towards the depth limit).
 *
 * Returns: %TRUE on success
 */
gboolean
ec_json_scanner_skip (EcJsonScanner *scanner)
{
  Reader r = reader_of (scanner);
  if (scanner->failed)
    return FALSE;
  return advance (scanner, skip_value (&r, scanner->p, scanner->end, scanner->depth));
}

/* Opens an object or an array. */
static gboolean
begin (EcJsonScanner *s, char open, const char *what)
{
  char c = peek_next (s);
  if (s->failed)
    return FALSE;
  if (c != open)
    return scanner_fail (s, c ? EC_JSON_ERROR_TYPE : EC_JSON_ERROR_SYNTAX,
                                 c ? what : "unexpected end of input");
  if (s->depth >= s->max_depth)
    return scanner_fail (s, EC_JSON_ERROR_DEPTH, "nested too deeply");
  s->depth++;
  s->p++;
  return TRUE;
}

/* Before the next member or element: FALSE at the closing byte (consumed)
 * or on a failure. */
static gboolean
next_item (EcJsonScanner *s, guint *index, char close)
{
  char c = peek_next (s);
  if (s->failed)
    return FALSE;
  if (c == close)
    {
      s->p++;
      s->depth--;
      return FALSE;
    }
  if (*index > 0)
    {
      if (c != ',')
        return scanner_fail (s, EC_JSON_ERROR_SYNTAX,
                                     close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
      s->p++;
    }
  (*index)++;
  return TRUE;
}

/**
 * ec_json_scanner_object_begin: (skip)
 * @scanner: a scanner
 *
 * Consumes the `{` of an object; another type is %EC_JSON_ERROR_TYPE.
 * Then call ec_json_scanner_member() until it returns %FALSE.
 *
 * Returns: %TRUE on success
 */
gboolean
ec_json_scanner_object_begin (EcJsonScanner *scanner)
{
  return begin (scanner, '{', "expected an object");
}

/**
 * ec_json_scanner_member: (skip)
 * @scanner: a scanner
 * @index: a counter the caller sets to 0 before the first member
 * @key: (nullable): receives the member's decoded key
 *
 * Reads the next member's key and the `:` after it; the caller then reads
 * or skips its value.
 *
 * Returns: %FALSE at the closing `}` (consumed) or on a failure (check
 *   ec_json_scanner_has_failed())
 */
gboolean
ec_json_scanner_member (EcJsonScanner *scanner, guint *index, GString *key)
{
  Reader r;
  if (!next_item (scanner, index, '}'))
    return FALSE;
  r = reader_of (scanner);
  return advance (scanner, read_key (&r, scanner->p, scanner->end, key));
}

/**
 * ec_json_scanner_array_begin: (skip)
 * @scanner: a scanner
 *
 * Consumes the `[` of an array; another type is %EC_JSON_ERROR_TYPE.
 * Then call ec_json_scanner_element() before each element until it
 * returns %FALSE.
 *
 * Returns: %TRUE on success
 */
gboolean
ec_json_scanner_array_begin (EcJsonScanner *scanner)
{
  return begin (scanner, '[', "expected an array");
}

/**
 * ec_json_scanner_element: (skip)
 * @scanner: a scanner
 * @index: a counter the caller sets to 0 before the first element
 *
 * Moves to the next element; the caller then reads or skips it.
 *
 * Returns: %FALSE at the closing `]` (consumed) or on a failure (check
 *   ec_json_scanner_has_failed())
 */
gboolean
ec_json_scanner_element (EcJsonScanner *scanner, guint *index)
{
  return next_item (scanner, index, ']');
}

/**
 * ec_json_scanner_finish: (skip)
 * @scanner: a scanner
 *
 * Checks that only white space follows.
 *
 * Returns: %TRUE when nothing failed and the text is used up
 */
gboolean
ec_json_scanner_finish (EcJsonScanner *scanner)
{
  if (scanner->failed)
    return FALSE;
  scanner->p = skip_ws (scanner->p, scanner->end);
  if (scanner->p != scanner->end)
    return scanner_fail (scanner, EC_JSON_ERROR_SYNTAX, "text after the value");
  return TRUE;
}
