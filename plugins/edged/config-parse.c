/* config-parse.c: kubelet value syntaxes, checked strictly: a bad value is
 * an error naming it, never a silent zero. */
#include "config-parse.h"

#include <gio/gio.h>
#include <math.h>
#include <string.h>

/* Parses a Kubernetes resource quantity into thousandths of its unit
 * ("200m" -> 200, "2" -> 2000, "1Ki" -> 1024000). */
gboolean
edged_quantity_parse (const char *text, gint64 *milli, GError **error)
{
  static const struct { const char *suffix; double factor; } suffixes[] = {
    { "Ki", 1024.0 }, { "Mi", 1048576.0 }, { "Gi", 1073741824.0 },
    { "Ti", 1099511627776.0 }, { "Pi", 1125899906842624.0 }, { "Ei", 1152921504606846976.0 },
    { "m", 1e-3 }, { "k", 1e3 }, { "M", 1e6 }, { "G", 1e9 }, { "T", 1e12 }, { "P", 1e15 },
    { "E", 1e18 }, { "", 1.0 },
  };
  const char *p = text;
  char *end = NULL;
  double value, factor = -1;

  if (!text || !*text || strlen (text) > 64 || g_ascii_isspace (*text) || *text == '-')
    goto bad;
  if (!g_ascii_isdigit (*p) && *p != '.' && *p != '+')
    goto bad;
  value = g_ascii_strtod (p, &end);
  if (end == p || !isfinite (value))
    goto bad;
  /* "1e3" style exponents are valid quantities too, but "1E" is exa */
  for (gsize i = 0; i < G_N_ELEMENTS (suffixes); i++)
    if (!strcmp (end, suffixes[i].suffix))
      {
        factor = suffixes[i].factor;
        break;
      }
  if (factor < 0 || value * factor * 1000.0 > 9.2e18)
    goto bad;
  {
    /* rounded up to a whole milli-unit, as Kubernetes does */
    double d = value * factor * 1000.0;
    gint64 r = (gint64) d;
    *milli = (double) r < d - 1e-6 ? r + 1 : r;
  }
  return TRUE;
bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "invalid quantity \"%s\" (e.g. 200m, 2, 256Mi, 1Gi)", text ? text : "");
  return FALSE;
}

/* Formats bytes in unit ("Ki" or "Mi"), rounded down, as kubelet shows them. */
char *
edged_quantity_format_bytes (gint64 bytes, const char *unit)
{
  gint64 div = !strcmp (unit, "Mi") ? 1048576 : !strcmp (unit, "Ki") ? 1024 : 1;
  if (bytes < 0)
    bytes = 0;
  return g_strdup_printf ("%" G_GINT64_FORMAT "%s", bytes / div, div == 1 ? "" : unit);
}

/* Parses a Go duration ("1m0s", "10s", "100ms", "1h30m") into milliseconds. */
gboolean
edged_duration_parse (const char *text, gint64 *ms, GError **error)
{
  const char *p = text;
  double total = 0;

  if (!text || !*text || strlen (text) > 64)
    goto bad;
  if (!strcmp (text, "0"))
    {
      *ms = 0;
      return TRUE;
    }
  while (*p)
    {
      char *end;
      double v;
      double unit;
      if (!g_ascii_isdigit (*p) && *p != '.')
        goto bad;
      v = g_ascii_strtod (p, &end);
      if (end == p)
        goto bad;
      p = end;
      if (g_str_has_prefix (p, "ms")) { unit = 1; p += 2; }
      else if (g_str_has_prefix (p, "us") || g_str_has_prefix (p, "µs")) { unit = 1e-3; p += *p == 'u' ? 2 : strlen ("µs"); }
      else if (g_str_has_prefix (p, "ns")) { unit = 1e-6; p += 2; }
      else if (*p == 'h') { unit = 3600e3; p++; }
      else if (*p == 'm') { unit = 60e3; p++; }
      else if (*p == 's') { unit = 1e3; p++; }
      else goto bad;
      total += v * unit;
      if (total > 1e15)
        goto bad;
    }
  *ms = (gint64) total;
  return TRUE;
bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "invalid duration \"%s\" (e.g. 10s, 1m0s, 500ms)", text ? text : "");
  return FALSE;
}

/* A label key: an optional DNS prefix and "/", then a name of at most 63
 * characters, alphanumeric at both ends, with -_. inside. */
static gboolean
label_name_ok (const char *s, gsize len)
{
  if (len == 0 || len > 63 || !g_ascii_isalnum (s[0]) || !g_ascii_isalnum (s[len - 1]))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
      return FALSE;
  return TRUE;
}

static gboolean
label_key_ok (const char *key)
{
  const char *slash = strchr (key, '/');
  if (slash)
    {
      gsize plen = (gsize) (slash - key);
      if (plen == 0 || plen > 253)
        return FALSE;
      for (gsize i = 0; i < plen; i++)
        if (!g_ascii_isalnum (key[i]) && key[i] != '-' && key[i] != '.')
          return FALSE;
      key = slash + 1;
    }
  return label_name_ok (key, strlen (key));
}

/* Parses "key=value" ("key" alone or "key=" give an empty value, as keadm's
 * --labels does). */
gboolean
edged_label_parse (const char *text, char **key, char **value, GError **error)
{
  const char *eq = strchr (text, '=');
  g_autofree char *k = eq ? g_strndup (text, (gsize) (eq - text)) : g_strdup (text);
  const char *v = eq ? eq + 1 : "";

  if (!label_key_ok (k) || (*v && !label_name_ok (v, strlen (v))))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "invalid node label \"%s\" (key=value, Kubernetes label syntax)", text);
      return FALSE;
    }
  *key = g_steal_pointer (&k);
  *value = g_strdup (v);
  return TRUE;
}

/* Parses "key=value:effect" or "key:effect"; effect is NoSchedule,
 * PreferNoSchedule or NoExecute. */
gboolean
edged_taint_parse (const char *text, EdgedTaint *taint, GError **error)
{
  const char *colon = strrchr (text, ':');
  g_autofree char *kv = colon ? g_strndup (text, (gsize) (colon - text)) : NULL;
  char *eq;
  const char *effect = colon ? colon + 1 : "";

  memset (taint, 0, sizeof *taint);
  if (!kv || (strcmp (effect, "NoSchedule") && strcmp (effect, "PreferNoSchedule")
              && strcmp (effect, "NoExecute")))
    goto bad;
  eq = strchr (kv, '=');
  if (eq)
    *eq = '\0';
  if (!label_key_ok (kv) || (eq && eq[1] && !label_name_ok (eq + 1, strlen (eq + 1))))
    goto bad;
  taint->key = g_strdup (kv);
  taint->value = g_strdup (eq ? eq + 1 : "");
  taint->effect = g_strdup (effect);
  return TRUE;
bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "invalid taint \"%s\" (key=value:effect, effect NoSchedule, PreferNoSchedule "
               "or NoExecute)", text);
  return FALSE;
}

/* Frees the strings of a taint. */
void
edged_taint_clear (EdgedTaint *taint)
{
  g_clear_pointer (&taint->key, g_free);
  g_clear_pointer (&taint->value, g_free);
  g_clear_pointer (&taint->effect, g_free);
}

/* Finds signal in a list of "signal<quantity" / "signal<N%"; an absent
 * signal is a zero threshold. */
gboolean
edged_threshold_lookup (char **thresholds, const char *signal, EdgedThreshold *threshold,
                        GError **error)
{
  gsize slen = strlen (signal);

  threshold->bytes = 0;
  threshold->percent = 0;
  for (char **t = thresholds; t && *t; t++)
    {
      const char *lt = strchr (*t, '<');
      if (!lt)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "invalid eviction threshold \"%s\" (signal<quantity)", *t);
          return FALSE;
        }
      if ((gsize) (lt - *t) != slen || strncmp (*t, signal, slen))
        continue;
      if (g_str_has_suffix (lt + 1, "%"))
        {
          char *end;
          double pct = g_ascii_strtod (lt + 1, &end);
          if (end == lt + 1 || *end != '%' || pct < 0 || pct > 100)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "invalid eviction threshold \"%s\" (percentage 0-100%%)", *t);
              return FALSE;
            }
          threshold->percent = pct;
        }
      else
        {
          gint64 milli;
          if (!edged_quantity_parse (lt + 1, &milli, error))
            return FALSE;
          threshold->bytes = milli / 1000;
        }
    }
  return TRUE;
}

/* The threshold in bytes for a resource of capacity bytes. */
gint64
edged_threshold_bytes (const EdgedThreshold *threshold, gint64 capacity)
{
  if (threshold->percent > 0)
    return (gint64) ((double) capacity * threshold->percent / 100.0);
  return threshold->bytes;
}

/* Finds name in a list of "name=quantity" (system-reserved, kube-reserved);
 * absent is zero. */
gboolean
edged_reserved_lookup (char **reserved, const char *name, gint64 *milli, GError **error)
{
  gsize nlen = strlen (name);
  *milli = 0;
  for (char **r = reserved; r && *r; r++)
    {
      const char *eq = strchr (*r, '=');
      if (!eq)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "invalid reservation \"%s\" (name=quantity)", *r);
          return FALSE;
        }
      if ((gsize) (eq - *r) == nlen && !strncmp (*r, name, nlen)
          && !edged_quantity_parse (eq + 1, milli, error))
        return FALSE;
    }
  return TRUE;
}
