/* dt-scan.c: a validating JSON scanner (RFC 8259) that reads values in
 * place. Callers walk objects member by member, read the members they know
 * with the typed readers (a wrong type is an error, as in Go's
 * json.Unmarshal) and skip the others, which are still checked. Strings
 * are decoded into a caller's GString, so a message needs no tree and few
 * allocations. */
#include "dt-scan.h"

#include <gio/gio.h>
#include <string.h>

#define MAX_DEPTH 512

/* Starts scanning text (length bytes; it need not be NUL-terminated). */
void
dt_scan_init (DtScan *s, const char *text, gsize length, GError **error)
{
  s->p = s->start = text;
  s->end = text + length;
  s->depth = 0;
  s->failed = FALSE;
  s->error = error;
}

/* Records the first failure with its byte offset; returns FALSE. */
gboolean
dt_scan_fail (DtScan *s, const char *what)
{
  if (!s->failed)
    {
      s->failed = TRUE;
      g_set_error (s->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "invalid JSON at byte %td: %s",
                   s->p - s->start, what);
    }
  return FALSE;
}

/* Skips white space. */
static void
skip_ws (DtScan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
    s->p++;
}

/* The next significant byte, or 0 at the end. */
char
dt_scan_peek (DtScan *s)
{
  skip_ws (s);
  return s->p < s->end ? *s->p : 0;
}

/* Consumes a literal word. */
static gboolean
literal (DtScan *s, const char *word)
{
  gsize n = strlen (word);
  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return dt_scan_fail (s, "unexpected character");
  s->p += n;
  return TRUE;
}

/* Consumes `null` if that is what comes next. */
gboolean
dt_scan_null (DtScan *s)
{
  if (dt_scan_peek (s) != 'n')
    return FALSE;
  return literal (s, "null");
}

/* Four hex digits at p, or -1. */
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

/* Reads a string; its decoded text replaces out's contents (out may be
 * NULL to only check it). Lone surrogates become U+FFFD as in Go; \u0000
 * is refused (the text is a C string). */
gboolean
dt_scan_string (DtScan *s, GString *out)
{
  const char *run;

  if (dt_scan_peek (s) != '"')
    return dt_scan_fail (s, "expected a string");
  if (out)
    g_string_truncate (out, 0);
  run = ++s->p;
  for (;;)
    {
      guchar c;
      if (s->p >= s->end)
        return dt_scan_fail (s, "unterminated string");
      c = (guchar) *s->p;
      if (c == '"')
        break;
      if (c < 0x20)
        return dt_scan_fail (s, "control character in string");
      if (c >= 0x80)
        {
          gunichar cp = g_utf8_get_char_validated (s->p, s->end - s->p);
          if (cp == (gunichar) -1 || cp == (gunichar) -2)
            return dt_scan_fail (s, "invalid UTF-8 in string");
          s->p = g_utf8_next_char (s->p);
          continue;
        }
      if (c != '\\')
        {
          s->p++;
          continue;
        }
      if (out)
        g_string_append_len (out, run, s->p - run);
      if (s->p + 1 >= s->end)
        return dt_scan_fail (s, "unterminated escape");
      c = (guchar) s->p[1];
      s->p += 2;
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
            gint cp = hex4 (s->p, s->end);
            if (cp < 0)
              return dt_scan_fail (s, "bad \\u escape");
            if (cp == 0)
              return dt_scan_fail (s, "\\u0000 in string");
            s->p += 4;
            if (cp >= 0xd800 && cp < 0xdc00)
              {
                gint lo = s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u'
                          ? hex4 (s->p + 2, s->end) : -1;
                if (lo >= 0xdc00 && lo < 0xe000)
                  {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    s->p += 6;
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
          return dt_scan_fail (s, "unknown escape");
        }
      run = s->p;
    }
  if (out)
    g_string_append_len (out, run, s->p - run);
  s->p++;
  return TRUE;
}

/* Skips a number; *integer tells whether it has neither fraction nor
 * exponent. */
static gboolean
number (DtScan *s, gboolean *integer)
{
  const char *p = s->p, *end = s->end;

  *integer = TRUE;
  if (p < end && *p == '-')
    p++;
  if (p >= end || !g_ascii_isdigit (*p))
    return dt_scan_fail (s, "bad number");
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
        return dt_scan_fail (s, "bad number");
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
        return dt_scan_fail (s, "bad number");
      while (p < end && g_ascii_isdigit (*p))
        p++;
    }
  s->p = p;
  return TRUE;
}

/* Reads an integer that fits in int64 (as Go reads into an int64 field:
 * a fraction, an exponent or an overflow is a type error). */
gboolean
dt_scan_int64 (DtScan *s, gint64 *out)
{
  const char *from;
  gboolean integer;
  guint64 v = 0;
  gboolean negative;

  if (dt_scan_peek (s) != '-' && !g_ascii_isdigit (dt_scan_peek (s)))
    return dt_scan_fail (s, "expected a number");
  from = s->p;
  if (!number (s, &integer))
    return FALSE;
  if (!integer)
    return dt_scan_fail (s, "expected an integer");
  negative = *from == '-';
  for (const char *p = from + negative; p < s->p; p++)
    {
      guint d = (guint) (*p - '0');
      if (v > (G_MAXUINT64 - d) / 10)
        return dt_scan_fail (s, "integer out of range");
      v = v * 10 + d;
    }
  if (negative ? v > (guint64) G_MAXINT64 + 1 : v > (guint64) G_MAXINT64)
    return dt_scan_fail (s, "integer out of range");
  *out = negative ? (gint64) (0 - v) : (gint64) v;
  return TRUE;
}

/* Reads true or false. */
gboolean
dt_scan_bool (DtScan *s, gboolean *out)
{
  char c = dt_scan_peek (s);
  if (c == 't' && literal (s, "true"))
    *out = TRUE;
  else if (c == 'f' && literal (s, "false"))
    *out = FALSE;
  else
    return dt_scan_fail (s, "expected true or false");
  return TRUE;
}

/* Consumes '{'. */
gboolean
dt_scan_object_begin (DtScan *s)
{
  if (dt_scan_peek (s) != '{')
    return dt_scan_fail (s, "expected an object");
  if (++s->depth > MAX_DEPTH)
    return dt_scan_fail (s, "nested too deeply");
  s->p++;
  return TRUE;
}

/* Reads the next member's key and the ':' after it; FALSE at the closing
 * '}' (consumed) or on an error (s->failed). *index counts the members. */
gboolean
dt_scan_member (DtScan *s, guint *index, GString *key)
{
  char c = dt_scan_peek (s);

  if (c == '}' && *index == 0)
    {
      s->p++;
      s->depth--;
      return FALSE;
    }
  if (*index > 0)
    {
      if (c == '}')
        {
          s->p++;
          s->depth--;
          return FALSE;
        }
      if (c != ',')
        return dt_scan_fail (s, "expected ',' or '}'");
      s->p++;
    }
  if (!dt_scan_string (s, key))
    return FALSE;
  if (dt_scan_peek (s) != ':')
    return dt_scan_fail (s, "expected ':'");
  s->p++;
  (*index)++;
  return TRUE;
}

/* Skips one value of any kind, checking it. */
gboolean
dt_scan_skip (DtScan *s)
{
  char c = dt_scan_peek (s);
  gboolean integer;
  guint n = 0;

  switch (c)
    {
    case '"':
      return dt_scan_string (s, NULL);
    case '{':
      if (!dt_scan_object_begin (s))
        return FALSE;
      while (dt_scan_member (s, &n, NULL))
        if (!dt_scan_skip (s))
          return FALSE;
      return !s->failed;
    case '[':
      if (++s->depth > MAX_DEPTH)
        return dt_scan_fail (s, "nested too deeply");
      s->p++;
      if (dt_scan_peek (s) == ']')
        {
          s->p++;
          s->depth--;
          return TRUE;
        }
      for (;;)
        {
          if (!dt_scan_skip (s))
            return FALSE;
          c = dt_scan_peek (s);
          if (c != ',' && c != ']')
            return dt_scan_fail (s, "expected ',' or ']'");
          s->p++;
          if (c == ']')
            {
              s->depth--;
              return TRUE;
            }
        }
    case 't':
      return literal (s, "true");
    case 'f':
      return literal (s, "false");
    case 'n':
      return literal (s, "null");
    case 0:
      return dt_scan_fail (s, "unexpected end of input");
    default:
      return number (s, &integer);
    }
}

/* Checks that only white space follows the value. */
gboolean
dt_scan_finish (DtScan *s)
{
  if (s->failed)
    return FALSE;
  skip_ws (s);
  if (s->p != s->end)
    return dt_scan_fail (s, "text after the value");
  return TRUE;
}
