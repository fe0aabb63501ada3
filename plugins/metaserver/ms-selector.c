/* ms-selector.c: Kubernetes label selectors (=, ==, !=, in, notin, exists,
 * !not-exists, gt, lt) and field selectors (=, ==, !=). */
#include "ms.h"

#include <string.h>

typedef enum {
  OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_EXISTS, OP_NOT_EXISTS, OP_GT, OP_LT,
} Op;

typedef struct {
  char  *key;
  Op     op;
  char **values;    /* NULL-terminated */
} Requirement;

struct _MsSelector {
  gboolean   fields;      /* a field selector */
  GPtrArray *reqs;        /* Requirement* */
};

static void
requirement_free (gpointer p)
{
  Requirement *r = p;
  g_free (r->key);
  g_strfreev (r->values);
  g_free (r);
}

static MsSelector *
selector_new (gboolean fields)
{
  MsSelector *s = g_new0 (MsSelector, 1);
  s->fields = fields;
  s->reqs = g_ptr_array_new_with_free_func (requirement_free);
  return s;
}

/* Frees a selector. */
void
ms_selector_free (MsSelector *sel)
{
  if (!sel)
    return;
  g_ptr_array_unref (sel->reqs);
  g_free (sel);
}

/* TRUE when the selector selects everything. */
gboolean
ms_selector_is_empty (const MsSelector *sel)
{
  return !sel || sel->reqs->len == 0;
}

static gboolean
is_alnum (char c)
{
  return g_ascii_isalnum (c);
}

/* A qualified name part: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63. */
static gboolean
valid_name_part (const char *s, gsize n)
{
  if (n == 0 || n > 63 || !is_alnum (s[0]) || !is_alnum (s[n - 1]))
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (!is_alnum (s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
      return FALSE;
  return TRUE;
}

/* A label key: an optional DNS-1123 subdomain prefix, '/', and a name part. */
static gboolean
valid_label_key (const char *key)
{
  const char *slash = strchr (key, '/');
  if (!slash)
    return valid_name_part (key, strlen (key));
  if (slash == key || slash - key > 253 || strchr (slash + 1, '/'))
    return FALSE;
  for (const char *p = key; p < slash; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-' || *p == '.'))
      return FALSE;
  if (!g_ascii_isalnum (key[0]) || !g_ascii_isalnum (slash[-1]))
    return FALSE;
  return valid_name_part (slash + 1, strlen (slash + 1));
}

/* A label value: empty, or a name part. */
static gboolean
valid_label_value (const char *v)
{
  return *v == '\0' || valid_name_part (v, strlen (v));
}

/* The label selector lexer: identifiers, operators, parentheses, commas. */
typedef enum { T_END, T_ID, T_EQ, T_DEQ, T_NE, T_NOT, T_GT, T_LT, T_IN, T_NOTIN,
               T_OPEN, T_CLOSE, T_COMMA } Tok;

typedef struct {
  const char *p;
  char       *text;   /* of the last T_ID */
} Lexer;

static Tok
lex (Lexer *lx)
{
  const char *p = lx->p;
  g_clear_pointer (&lx->text, g_free);
  while (*p == ' ' || *p == '\t')
    p++;
  if (!*p)
    {
      lx->p = p;
      return T_END;
    }
  lx->p = p + 1;
  switch (*p)
    {
    case ',': return T_COMMA;
    case '(': return T_OPEN;
    case ')': return T_CLOSE;
    case '>': return T_GT;
    case '<': return T_LT;
    case '=':
      if (p[1] == '=')
        {
          lx->p = p + 2;
          return T_DEQ;
        }
      return T_EQ;
    case '!':
      if (p[1] == '=')
        {
          lx->p = p + 2;
          return T_NE;
        }
      return T_NOT;
    default:
      break;
    }
  const char *start = p;
  while (*p && !strchr (" \t,()=!<>", *p))
    p++;
  lx->p = p;
  lx->text = g_strndup (start, p - start);
  if (strcmp (lx->text, "in") == 0)
    return T_IN;
  if (strcmp (lx->text, "notin") == 0)
    return T_NOTIN;
  return T_ID;
}

/* Whether a token is a value where a value is expected ("in" and "notin"
 * are plain values there, as in Kubernetes' parser). */
static gboolean
is_value (Tok t)
{
  return t == T_ID || t == T_IN || t == T_NOTIN;
}

static gboolean
fail (GError **error, const char *text, const char *why)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "unable to parse requirement: %s (in selector \"%s\")", why, text);
  return FALSE;
}

/* Parses "(a, b, c)" after in/notin. */
static gboolean
parse_set (Lexer *lx, const char *text, GPtrArray *values, GError **error)
{
  Tok t = lex (lx);
  if (t != T_OPEN)
    return fail (error, text, "expected '(' after in/notin");
  for (;;)
    {
      t = lex (lx);
      if (t == T_CLOSE && values->len == 0)
        return fail (error, text, "empty set of values");
      if (is_value (t))
        {
          if (!valid_label_value (lx->text))
            return fail (error, text, "invalid label value");
          g_ptr_array_add (values, g_strdup (lx->text));
          t = lex (lx);
        }
      else if (t == T_COMMA || t == T_CLOSE)
        g_ptr_array_add (values, g_strdup (""));   /* an empty value */
      else
        return fail (error, text, "expected a value");
      if (t == T_CLOSE)
        return TRUE;
      if (t != T_COMMA)
        return fail (error, text, "expected ',' or ')'");
    }
}

/**
 * ms_label_selector_parse:
 * Parses a labelSelector query parameter, with Kubernetes' grammar and
 * validation of keys and values. An empty text selects everything.
 */
MsSelector *
ms_label_selector_parse (const char *text, GError **error)
{
  g_autoptr (MsSelector) sel = selector_new (FALSE);
  Lexer lx = { text ? text : "", NULL };
  Tok t;

  if (!text || !*text)
    return g_steal_pointer (&sel);
  for (;;)
    {
      g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
      Requirement *r;
      gboolean negated = FALSE;
      g_autofree char *key = NULL;
      Op op;

      t = lex (&lx);
      if (t == T_NOT)
        {
          negated = TRUE;
          t = lex (&lx);
        }
      if (t != T_ID)
        {
          g_free (lx.text);
          return fail (error, text, "expected a label key"), NULL;
        }
      key = g_steal_pointer (&lx.text);
      if (!valid_label_key (key))
        return fail (error, text, "invalid label key"), NULL;
      t = lex (&lx);
      if (negated)
        {
          if (t != T_END && t != T_COMMA)
            {
              g_free (lx.text);
              return fail (error, text, "'!' must be followed by a key alone"), NULL;
            }
          op = OP_NOT_EXISTS;
        }
      else if (t == T_END || t == T_COMMA)
        op = OP_EXISTS;
      else if (t == T_IN || t == T_NOTIN)
        {
          op = t == T_IN ? OP_IN : OP_NOTIN;
          if (!parse_set (&lx, text, values, error))
            {
              g_free (lx.text);
              return NULL;
            }
          t = lex (&lx);
        }
      else if (t == T_EQ || t == T_DEQ || t == T_NE || t == T_GT || t == T_LT)
        {
          op = t == T_NE ? OP_NE : t == T_GT ? OP_GT : t == T_LT ? OP_LT : OP_EQ;
          t = lex (&lx);
          if (is_value (t))
            {
              if (!valid_label_value (lx.text))
                {
                  g_free (lx.text);
                  return fail (error, text, "invalid label value"), NULL;
                }
              g_ptr_array_add (values, g_strdup (lx.text));
              t = lex (&lx);
            }
          else if (op == OP_GT || op == OP_LT)
            return fail (error, text, "expected an integer after > or <"), NULL;
          else
            g_ptr_array_add (values, g_strdup (""));
          if (op == OP_GT || op == OP_LT)
            {
              gint64 n;
              if (!g_ascii_string_to_signed (values->pdata[0], 10, G_MININT64, G_MAXINT64, &n, NULL))
                {
                  g_free (lx.text);
                  return fail (error, text, "expected an integer after > or <"), NULL;
                }
            }
        }
      else
        {
          g_free (lx.text);
          return fail (error, text, "expected an operator"), NULL;
        }
      if (t != T_END && t != T_COMMA)
        {
          g_free (lx.text);
          return fail (error, text, "expected ',' between requirements"), NULL;
        }
      g_ptr_array_add (values, NULL);
      r = g_new0 (Requirement, 1);
      r->key = g_steal_pointer (&key);
      r->op = op;
      r->values = (char **) g_ptr_array_steal (values, NULL);
      g_ptr_array_add (sel->reqs, r);
      if (t == T_END)
        break;
    }
  return g_steal_pointer (&sel);
}

/* Reads one field selector term up to an unescaped ',' (with \, \= \\ escapes). */
static char *
field_unescape (const char **pp, const char *stop)
{
  GString *s = g_string_new (NULL);
  const char *p = *pp;
  while (*p && !strchr (stop, *p))
    {
      if (*p == '\\' && p[1])
        p++;
      g_string_append_c (s, *p++);
    }
  *pp = p;
  return g_string_free (s, FALSE);
}

/**
 * ms_field_selector_parse:
 * Parses a fieldSelector: terms key=value, key==value, key!=value joined by
 * ','. Supported keys: metadata.name and metadata.namespace, and for pods
 * also spec.nodeName and status.phase.
 */
MsSelector *
ms_field_selector_parse (const char *text, gboolean pod_fields, GError **error)
{
  g_autoptr (MsSelector) sel = selector_new (TRUE);
  const char *p = text;

  if (!text || !*text)
    return g_steal_pointer (&sel);
  for (;;)
    {
      g_autofree char *key = NULL;
      g_autofree char *value = NULL;
      Requirement *r;
      Op op;

      /* empty terms ("a=b,", ",a=b", "a=b,,c=d") are skipped, as
       * apimachinery's fields.ParseSelector does */
      while (*p == ',')
        p++;
      if (!*p)
        break;
      key = field_unescape (&p, "=!,");

      g_strstrip (key);
      if (*p == '!' && p[1] == '=')
        {
          op = OP_NE;
          p += 2;
        }
      else if (*p == '=')
        {
          op = OP_EQ;
          p += p[1] == '=' ? 2 : 1;
        }
      else
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "invalid field selector \"%s\": expected key=value, key==value or key!=value",
                       text);
          return NULL;
        }
      value = field_unescape (&p, ",");
      if (strcmp (key, "metadata.name") != 0 && strcmp (key, "metadata.namespace") != 0
          && !(pod_fields && (strcmp (key, "spec.nodeName") == 0
                              || strcmp (key, "status.phase") == 0)))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "field label not supported: %s", key);
          return NULL;
        }
      r = g_new0 (Requirement, 1);
      r->key = g_steal_pointer (&key);
      r->op = op;
      r->values = g_new0 (char *, 2);
      r->values[0] = g_steal_pointer (&value);
      g_ptr_array_add (sel->reqs, r);
      if (!*p)
        break;
      p++;   /* ',' */
    }
  return g_steal_pointer (&sel);
}

/* The value of a field for a field selector ("" when absent). */
static const char *
field_value (const MsObjAttrs *a, const char *key)
{
  const char *v = NULL;
  if (strcmp (key, "metadata.name") == 0)
    v = a->name;
  else if (strcmp (key, "metadata.namespace") == 0)
    v = a->namespace;
  else if (strcmp (key, "spec.nodeName") == 0)
    v = a->node_name;
  else if (strcmp (key, "status.phase") == 0)
    v = a->phase;
  return v ? v : "";
}

static gboolean
in_values (char **values, const char *v)
{
  return v && g_strv_contains ((const char *const *) values, v);
}

/* Tells whether an object's attributes satisfy every requirement. */
gboolean
ms_selector_matches (const MsSelector *sel, const MsObjAttrs *attrs)
{
  if (ms_selector_is_empty (sel))
    return TRUE;
  for (guint i = 0; i < sel->reqs->len; i++)
    {
      const Requirement *r = sel->reqs->pdata[i];
      const char *v;
      gint64 have, want;

      if (sel->fields)
        {
          v = field_value (attrs, r->key);
          if ((r->op == OP_EQ) != (strcmp (v, r->values[0]) == 0))
            return FALSE;
          continue;
        }
      v = attrs->labels ? g_hash_table_lookup (attrs->labels, r->key) : NULL;
      switch (r->op)
        {
        case OP_EQ:
        case OP_IN:
          if (!in_values (r->values, v))
            return FALSE;
          break;
        case OP_NE:
        case OP_NOTIN:
          if (in_values (r->values, v))
            return FALSE;
          break;
        case OP_EXISTS:
          if (!v)
            return FALSE;
          break;
        case OP_NOT_EXISTS:
          if (v)
            return FALSE;
          break;
        case OP_GT:
        case OP_LT:
          if (!v || !g_ascii_string_to_signed (v, 10, G_MININT64, G_MAXINT64, &have, NULL))
            return FALSE;
          want = g_ascii_strtoll (r->values[0], NULL, 10);
          if (r->op == OP_GT ? !(have > want) : !(have < want))
            return FALSE;
          break;
        }
    }
  return TRUE;
}

/* For a field selector: the value required by "field=value", if any. */
const char *
ms_field_selector_exact (const MsSelector *sel, const char *field)
{
  if (!sel)
    return NULL;
  for (guint i = 0; i < sel->reqs->len; i++)
    {
      const Requirement *r = sel->reqs->pdata[i];
      if (r->op == OP_EQ && strcmp (r->key, field) == 0)
        return r->values[0];
    }
  return NULL;
}
