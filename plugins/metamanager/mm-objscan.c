/* mm-objscan.c: reads apiVersion, kind and metadata's name, namespace,
 * resourceVersion and uid from a Kubernetes object without building a tree.
 *
 * metamanager stores objects as the text they came in. It needs only these
 * few fields, on every object it stores (tens of thousands a second), so it
 * walks the text once, checking that it is valid JSON, instead of having
 * json-glib build a tree it would throw away. Everything else it reads from
 * message content (cloud replies, ObjectResp) goes through json-glib. */
#include "mm-private.h"

#include <string.h>

#define MAX_DEPTH 256

G_DEFINE_QUARK (ec-metamanager-error-quark, mm_error)

typedef struct {
  const char *p;
  const char *end;
  const char *start;
  GError    **error;
} Scan;

/* Records a syntax error at the scanner's position; returns FALSE. */
static gboolean
fail (Scan *s, const char *what)
{
  g_set_error (s->error, MM_ERROR, MM_ERROR_BAD_CONTENT,
               "malformed JSON content at byte %" G_GSIZE_FORMAT ": %s",
               (gsize) (s->p - s->start), what);
  return FALSE;
}

static void
skip_ws (Scan *s)
{
  while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
    s->p++;
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Reads 4 hex digits at p. */
static gboolean
read_hex4 (const char *p, const char *end, gunichar *out)
{
  gunichar v = 0;
  if (end - p < 4)
    return FALSE;
  for (int i = 0; i < 4; i++)
    {
      int h = hex_value (p[i]);
      if (h < 0)
        return FALSE;
      v = (v << 4) | (gunichar) h;
    }
  *out = v;
  return TRUE;
}

/* Scans a string starting at its opening quote. With out set, appends its
 * unescaped value there. */
static gboolean
scan_string (Scan *s, GString *out)
{
  const char *run;
  if (s->p >= s->end || *s->p != '"')
    return fail (s, "expected a string");
  run = ++s->p;
  while (s->p < s->end)
    {
      guchar c = (guchar) *s->p;
      if (c == '"')
        {
          if (out)
            g_string_append_len (out, run, s->p - run);
          s->p++;
          return TRUE;
        }
      if (c < 0x20)
        return fail (s, "control character in a string");
      if (c != '\\')
        {
          s->p++;
          continue;
        }
      if (out)
        g_string_append_len (out, run, s->p - run);
      if (s->end - s->p < 2)
        return fail (s, "unfinished escape");
      switch (s->p[1])
        {
        case '"': case '\\': case '/':
          if (out) g_string_append_c (out, s->p[1]);
          s->p += 2;
          break;
        case 'b': if (out) g_string_append_c (out, '\b'); s->p += 2; break;
        case 'f': if (out) g_string_append_c (out, '\f'); s->p += 2; break;
        case 'n': if (out) g_string_append_c (out, '\n'); s->p += 2; break;
        case 'r': if (out) g_string_append_c (out, '\r'); s->p += 2; break;
        case 't': if (out) g_string_append_c (out, '\t'); s->p += 2; break;
        case 'u':
          {
            gunichar cp;
            if (!read_hex4 (s->p + 2, s->end, &cp))
              return fail (s, "bad \\u escape");
            s->p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF)
              {
                gunichar lo;
                if (s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u'
                    && read_hex4 (s->p + 2, s->end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF)
                  {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s->p += 6;
                  }
                else
                  cp = 0xFFFD;
              }
            else if (cp >= 0xDC00 && cp <= 0xDFFF)
              cp = 0xFFFD;
            if (out)
              g_string_append_unichar (out, cp);
          }
          break;
        default:
          return fail (s, "bad escape");
        }
      run = s->p;
    }
  return fail (s, "unterminated string");
}

static gboolean
scan_number (Scan *s)
{
  const char *p = s->p;
  if (p < s->end && *p == '-')
    p++;
  if (p >= s->end || !g_ascii_isdigit (*p))
    return fail (s, "bad number");
  if (*p == '0')
    p++;
  else
    while (p < s->end && g_ascii_isdigit (*p))
      p++;
  if (p < s->end && *p == '.')
    {
      p++;
      if (p >= s->end || !g_ascii_isdigit (*p))
        return fail (s, "bad number");
      while (p < s->end && g_ascii_isdigit (*p))
        p++;
    }
  if (p < s->end && (*p == 'e' || *p == 'E'))
    {
      p++;
      if (p < s->end && (*p == '+' || *p == '-'))
        p++;
      if (p >= s->end || !g_ascii_isdigit (*p))
        return fail (s, "bad number");
      while (p < s->end && g_ascii_isdigit (*p))
        p++;
    }
  s->p = p;
  return TRUE;
}

static gboolean
scan_literal (Scan *s, const char *word)
{
  gsize n = strlen (word);
  if ((gsize) (s->end - s->p) < n || memcmp (s->p, word, n) != 0)
    return fail (s, "unexpected character");
  s->p += n;
  return TRUE;
}

static gboolean scan_value (Scan *s, int depth);

/* Calls member() for each member of the object at s->p (its opening brace).
 * member() gets the key (unescaped only when it holds escapes, which
 * Kubernetes keys never do; no allocation otherwise) and must scan the
 * value. */
typedef gboolean (*MemberFunc) (Scan *s, const char *key, gsize key_len, gpointer data,
                                int depth);

static gboolean
scan_members (Scan *s, int depth, MemberFunc member, gpointer data)
{
  if (depth > MAX_DEPTH)
    return fail (s, "nested too deeply");
  s->p++; /* '{' */
  skip_ws (s);
  if (s->p < s->end && *s->p == '}')
    {
      s->p++;
      return TRUE;
    }
  for (;;)
    {
      const char *key;
      gsize key_len;
      g_autoptr (GString) unescaped = NULL;
      skip_ws (s);
      key = s->p + 1;
      if (!scan_string (s, NULL))
        return FALSE;
      key_len = (gsize) (s->p - 1 - key);
      if (memchr (key, '\\', key_len))
        {
          const char *after = s->p;
          unescaped = g_string_new (NULL);
          s->p = key - 1;
          scan_string (s, unescaped);
          s->p = after;
          key = unescaped->str;
          key_len = unescaped->len;
        }
      skip_ws (s);
      if (s->p >= s->end || *s->p != ':')
        return fail (s, "expected ':'");
      s->p++;
      skip_ws (s);
      if (!member (s, key, key_len, data, depth + 1))
        return FALSE;
      skip_ws (s);
      if (s->p < s->end && *s->p == ',')
        {
          s->p++;
          continue;
        }
      if (s->p < s->end && *s->p == '}')
        {
          s->p++;
          return TRUE;
        }
      return fail (s, "expected ',' or '}'");
    }
}

/* Whether the key (key_len bytes) is word. */
static gboolean
key_is (const char *key, gsize key_len, const char *word)
{
  return key_len == strlen (word) && memcmp (key, word, key_len) == 0;
}

static gboolean
skip_member (Scan *s, const char *key, gsize key_len, gpointer data, int depth)
{
  return scan_value (s, depth);
}

static gboolean
scan_value (Scan *s, int depth)
{
  skip_ws (s);
  if (s->p >= s->end)
    return fail (s, "unexpected end");
  switch (*s->p)
    {
    case '{':
      return scan_members (s, depth, skip_member, NULL);
    case '[':
      if (depth > MAX_DEPTH)
        return fail (s, "nested too deeply");
      s->p++;
      skip_ws (s);
      if (s->p < s->end && *s->p == ']')
        {
          s->p++;
          return TRUE;
        }
      for (;;)
        {
          if (!scan_value (s, depth + 1))
            return FALSE;
          skip_ws (s);
          if (s->p < s->end && *s->p == ',')
            {
              s->p++;
              continue;
            }
          if (s->p < s->end && *s->p == ']')
            {
              s->p++;
              return TRUE;
            }
          return fail (s, "expected ',' or ']'");
        }
    case '"':
      return scan_string (s, NULL);
    case 't':
      return scan_literal (s, "true");
    case 'f':
      return scan_literal (s, "false");
    case 'n':
      return scan_literal (s, "null");
    default:
      return scan_number (s);
    }
}

/* Reads a string value into *out when the value is a string; skips any
 * other value. */
static gboolean
take_string (Scan *s, char **out, int depth)
{
  const char *start = s->p + 1;
  gsize len;
  GString *v;
  if (s->p >= s->end || *s->p != '"')
    return scan_value (s, depth);
  if (!scan_string (s, NULL))
    return FALSE;
  g_free (*out);
  len = (gsize) (s->p - 1 - start);
  if (!memchr (start, '\\', len))
    {
      *out = g_strndup (start, len);
      return TRUE;
    }
  v = g_string_sized_new (len);
  s->p = start - 1;
  scan_string (s, v);
  *out = g_string_free (v, FALSE);
  return TRUE;
}

static gboolean
metadata_member (Scan *s, const char *key, gsize key_len, gpointer data, int depth)
{
  MmObjInfo *info = data;
  if (key_is (key, key_len, "name"))
    return take_string (s, &info->name, depth);
  if (key_is (key, key_len, "namespace"))
    return take_string (s, &info->namespace, depth);
  if (key_is (key, key_len, "resourceVersion"))
    return take_string (s, &info->resource_version, depth);
  if (key_is (key, key_len, "uid"))
    return take_string (s, &info->uid, depth);
  return scan_value (s, depth);
}

static gboolean
top_member (Scan *s, const char *key, gsize key_len, gpointer data, int depth)
{
  MmObjInfo *info = data;
  if (key_is (key, key_len, "apiVersion"))
    return take_string (s, &info->api_version, depth);
  if (key_is (key, key_len, "kind"))
    return take_string (s, &info->kind, depth);
  if (key_is (key, key_len, "metadata") && s->p < s->end && *s->p == '{')
    return scan_members (s, depth, metadata_member, info);
  return scan_value (s, depth);
}

/**
 * mm_scan_object:
 * @json: JSON text
 * @len: its length
 * @info: (out caller-allocates): where the fields go; clear it afterwards
 * @error: where to put an error
 *
 * Checks that @json is one JSON object and reads its apiVersion, kind and
 * metadata name, namespace, resourceVersion and uid.
 *
 * Returns: %TRUE if @json is a valid JSON object
 */
gboolean
mm_scan_object (const char *json, gsize len, MmObjInfo *info, GError **error)
{
  Scan s = { json, json + len, json, error };
  memset (info, 0, sizeof *info);
  skip_ws (&s);
  if (s.p >= s.end || *s.p != '{')
    return fail (&s, "not a JSON object");
  info->body_offset = (gsize) (s.p - json) + 1;
  if (!scan_members (&s, 0, top_member, info))
    {
      mm_obj_info_clear (info);
      return FALSE;
    }
  skip_ws (&s);
  if (s.p != s.end)
    {
      mm_obj_info_clear (info);
      return fail (&s, "text after the object");
    }
  return TRUE;
}

/* Frees the fields of info. */
void
mm_obj_info_clear (MmObjInfo *info)
{
  g_clear_pointer (&info->api_version, g_free);
  g_clear_pointer (&info->kind, g_free);
  g_clear_pointer (&info->name, g_free);
  g_clear_pointer (&info->namespace, g_free);
  g_clear_pointer (&info->resource_version, g_free);
  g_clear_pointer (&info->uid, g_free);
}

/* Tells whether the JSON text is a string. */
gboolean
mm_json_is_string (const char *json, gsize len)
{
  const char *p = json, *end = json + len;
  while (p < end && g_ascii_isspace (*p))
    p++;
  return p < end && *p == '"';
}

/**
 * mm_json_string_value:
 * @json: JSON text that is one string
 * @len: its length
 * @error: where to put an error
 *
 * Returns: (transfer full) (nullable): the string's value, unescaped
 */
char *
mm_json_string_value (const char *json, gsize len, GError **error)
{
  Scan s = { json, json + len, json, error };
  GString *out = g_string_sized_new (len);
  skip_ws (&s);
  if (!scan_string (&s, out))
    {
      g_string_free (out, TRUE);
      return NULL;
    }
  skip_ws (&s);
  if (s.p != s.end)
    {
      g_string_free (out, TRUE);
      fail (&s, "text after the string");
      return NULL;
    }
  return g_string_free (out, FALSE);
}

/* Appends s to out as a JSON string. */
void
mm_json_append_string (GString *out, const char *s)
{
  const guchar *p = (const guchar *) s, *run = p;
  g_string_append_c (out, '"');
  for (; *p; p++)
    {
      if (*p >= 0x20 && *p != '"' && *p != '\\')
        continue;
      g_string_append_len (out, (const char *) run, (const char *) p - (const char *) run);
      switch (*p)
        {
        case '"': g_string_append (out, "\\\""); break;
        case '\\': g_string_append (out, "\\\\"); break;
        case '\n': g_string_append (out, "\\n"); break;
        case '\r': g_string_append (out, "\\r"); break;
        case '\t': g_string_append (out, "\\t"); break;
        default: g_string_append_printf (out, "\\u%04x", *p); break;
        }
      run = p + 1;
    }
  g_string_append_len (out, (const char *) run, (const char *) p - (const char *) run);
  g_string_append_c (out, '"');
}
