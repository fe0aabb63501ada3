/* ec-json.c: the small pieces of JSON the message envelope needs.
 *
 * json-glib parses content when a plugin asks for it. The envelope needs two
 * things json-glib cannot give: the exact text span of `content` (so content
 * passes through untouched, numbers and all) and Go's string escaping on
 * output. Both are here. */
#include "config.h"

#include "ec-message-private.h"

#include <string.h>

#define EC_JSON_MAX_DEPTH 512

static const char hex_digits[] = "0123456789abcdef";

static void
append_u_escape (GString *out, guint cp)
{
  char buf[7] = { '\\', 'u',
                  hex_digits[(cp >> 12) & 0xf], hex_digits[(cp >> 8) & 0xf],
                  hex_digits[(cp >> 4) & 0xf], hex_digits[cp & 0xf], 0 };
  g_string_append_len (out, buf, 6);
}

/* Appends s as a JSON string the way Go's encoding/json writes it: HTML
 * characters and U+2028/U+2029 escaped, invalid UTF-8 replaced by U+FFFD. */
void
_ec_json_append_string (GString *out, const char *s)
{
  const guchar *p = (const guchar *) (s ? s : "");
  const guchar *run = p;

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
          const char *next = NULL;
          gunichar cp = g_utf8_get_char_validated ((const char *) p, -1);
          if (cp == (gunichar) -1 || cp == (gunichar) -2)
            {
              g_string_append (out, "\\ufffd");
              p++;
            }
          else
            {
              next = g_utf8_next_char ((const char *) p);
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

static gboolean
fail (GError **error, const char *start, const char *at, const char *what)
{
  g_set_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_JSON,
               "invalid JSON at byte %" G_GSIZE_FORMAT ": %s",
               (gsize) (at - start), what);
  return FALSE;
}

const char *
_ec_json_skip_ws (const char *p, const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  return p;
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static gboolean
read_hex4 (const char *p, const char *end, guint *out)
{
  guint v = 0;
  if (end - p < 4)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      int h = hex_value (p[i]);
      if (h < 0)
        return FALSE;
      v = (v << 4) | (guint) h;
    }
  *out = v;
  return TRUE;
}

/* Parses the JSON string at *pp (which points at its opening quote). When out
 * is not NULL the decoded text is returned in it. Like Go, lone surrogates
 * become U+FFFD. */
gboolean
_ec_json_parse_string (const char **pp, const char *end, const char *start,
                       char **out, GError **error)
{
  const char *first = *pp + 1;
  const char *p = first;
  GString *buf = NULL;   /* only once an escape is seen */
  const char *run = p;

#define FAIL(at, what) \
  do { if (buf) g_string_free (buf, TRUE); return fail (error, start, (at), (what)); } while (0)

  for (;;)
    {
      if (p >= end)
        FAIL (p, "unterminated string");
      guchar c = (guchar) *p;
      if (c == '"')
        break;
      if (c < 0x20)
        FAIL (p, "control character in string");
      if (c >= 0x80)
        {
          gunichar cp = g_utf8_get_char_validated (p, end - p);
          if (cp == (gunichar) -1 || cp == (gunichar) -2)
            FAIL (p, "invalid UTF-8 in string");
          p = g_utf8_next_char (p);
          continue;
        }
      if (c != '\\')
        {
          p++;
          continue;
        }
      /* an escape */
      if (out && !buf)
        buf = g_string_sized_new ((p - first) + 32);
      if (buf)
        g_string_append_len (buf, run, p - run);
      if (p + 1 >= end)
        FAIL (p, "unterminated escape");
      char e = p[1];
      p += 2;
      switch (e)
        {
        case '"': case '\\': case '/':
          if (buf) g_string_append_c (buf, e);
          break;
        case 'b': if (buf) g_string_append_c (buf, '\b'); break;
        case 'f': if (buf) g_string_append_c (buf, '\f'); break;
        case 'n': if (buf) g_string_append_c (buf, '\n'); break;
        case 'r': if (buf) g_string_append_c (buf, '\r'); break;
        case 't': if (buf) g_string_append_c (buf, '\t'); break;
        case 'u':
          {
            guint cp;
            if (!read_hex4 (p, end, &cp))
              FAIL (p, "bad \\u escape");
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00)
              {
                guint lo;
                if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' && read_hex4 (p + 2, end, &lo)
                    && lo >= 0xdc00 && lo < 0xe000)
                  {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                  }
                else
                  cp = 0xfffd;
              }
            else if (cp >= 0xdc00 && cp < 0xe000)
              cp = 0xfffd;
            if (buf)
              g_string_append_unichar (buf, cp);
            break;
          }
        default:
          FAIL (p - 1, "unknown escape");
        }
      run = p;
    }
#undef FAIL
  if (buf)
    {
      g_string_append_len (buf, run, p - run);
      *out = g_string_free (buf, FALSE);
    }
  else if (out)
    *out = g_strndup (first, p - first);
  *pp = p + 1;
  return TRUE;
}

static const char *
skip_number (const char *p, const char *end, const char *start, GError **error)
{
  if (p < end && *p == '-')
    p++;
  if (p >= end || !g_ascii_isdigit (*p))
    return fail (error, start, p, "bad number"), NULL;
  if (*p == '0')
    p++;
  else
    while (p < end && g_ascii_isdigit (*p))
      p++;
  if (p < end && *p == '.')
    {
      p++;
      if (p >= end || !g_ascii_isdigit (*p))
        return fail (error, start, p, "bad number"), NULL;
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  if (p < end && (*p == 'e' || *p == 'E'))
    {
      p++;
      if (p < end && (*p == '+' || *p == '-'))
        p++;
      if (p >= end || !g_ascii_isdigit (*p))
        return fail (error, start, p, "bad number"), NULL;
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  return p;
}

static const char *
skip_literal (const char *p, const char *end, const char *start, const char *lit, GError **error)
{
  gsize n = strlen (lit);
  if ((gsize) (end - p) < n || memcmp (p, lit, n) != 0)
    return fail (error, start, p, "unexpected character"), NULL;
  return p + n;
}

static const char *
skip_value_at (const char *p, const char *end, const char *start, int depth, GError **error)
{
  p = _ec_json_skip_ws (p, end);
  if (p >= end)
    return fail (error, start, p, "unexpected end of input"), NULL;
  if (depth > EC_JSON_MAX_DEPTH)
    return fail (error, start, p, "nested too deeply"), NULL;

  switch (*p)
    {
    case '"':
      if (!_ec_json_parse_string (&p, end, start, NULL, error))
        return NULL;
      return p;
    case '{':
    case '[':
      {
        char close = *p == '{' ? '}' : ']';
        gboolean object = *p == '{';
        p = _ec_json_skip_ws (p + 1, end);
        if (p < end && *p == close)
          return p + 1;
        for (;;)
          {
            if (object)
              {
                p = _ec_json_skip_ws (p, end);
                if (p >= end || *p != '"')
                  return fail (error, start, p, "expected object key"), NULL;
                if (!_ec_json_parse_string (&p, end, start, NULL, error))
                  return NULL;
                p = _ec_json_skip_ws (p, end);
                if (p >= end || *p != ':')
                  return fail (error, start, p, "expected ':'"), NULL;
                p++;
              }
            p = skip_value_at (p, end, start, depth + 1, error);
            if (!p)
              return NULL;
            p = _ec_json_skip_ws (p, end);
            if (p < end && *p == ',')
              {
                p++;
                continue;
              }
            if (p < end && *p == close)
              return p + 1;
            return fail (error, start, p, object ? "expected ',' or '}'" : "expected ',' or ']'"), NULL;
          }
      }
    case 't':
      return skip_literal (p, end, start, "true", error);
    case 'f':
      return skip_literal (p, end, start, "false", error);
    case 'n':
      return skip_literal (p, end, start, "null", error);
    default:
      return skip_number (p, end, start, error);
    }
}

/* Checks that one JSON value starts at p (after optional white space) and
 * returns the position just after it, or NULL with an error. start is the
 * beginning of the whole document, for error offsets. */
const char *
_ec_json_skip_value (const char *p, const char *end, const char *start, GError **error)
{
  return skip_value_at (p, end, start, 0, error);
}
