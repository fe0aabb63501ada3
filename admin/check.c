/* check.c: checks of what an operator types into `edgecore join`, with
 * the rules KubeEdge and Kubernetes apply, and messages that say what is
 * wrong and what is expected. */
#include "config.h"

#include "admin.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <json-glib/json-glib.h>
#include <string.h>

#define ADMIN_ERROR g_quark_from_static_string ("edgecore-admin")

static gboolean
is_b64url (const char *s, gsize len)
{
  if (len == 0)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '=')
      return FALSE;
  return TRUE;
}

/* Checks a KubeEdge join token's shape: the 64 hex digits of the CA's
 * SHA-256, a '.', and a JWT (three base64url parts). */
gboolean
ec_check_token (const char *token, GError **error)
{
  g_auto (GStrv) parts = NULL;
  if (!token || !*token)
    {
      g_set_error (error, ADMIN_ERROR, 1, _("--token is required (on the cloud: keadm gettoken)"));
      return FALSE;
    }
  if (strlen (token) > 4096)
    {
      g_set_error (error, ADMIN_ERROR, 1, _("the token is too long to be a KubeEdge token"));
      return FALSE;
    }
  parts = g_strsplit (token, ".", -1);
  gboolean ok = g_strv_length (parts) == 4 && strlen (parts[0]) == 64;
  for (int i = 0; ok && i < 64; i++)
    ok = g_ascii_isxdigit (parts[0][i]);
  for (int i = 1; ok && i < 4; i++)
    ok = is_b64url (parts[i], strlen (parts[i]));
  if (!ok)
    {
      g_set_error (error, ADMIN_ERROR, 1,
                   _("the token does not look like a KubeEdge token: expected 64 hex digits "
                     "(the CA's hash), a dot, and a JWT (three dot-separated base64url parts), "
                     "as printed by keadm gettoken"));
      return FALSE;
    }
  return TRUE;
}

/* The "exp" claim of a join token's JWT payload, in Unix seconds; 0 when
 * absent or unreadable (the cloud decides then). */
gint64
ec_token_expiry (const char *token)
{
  g_auto (GStrv) parts = g_strsplit (token, ".", -1);
  g_autoptr (GString) b64 = NULL;
  g_autofree guchar *raw = NULL;
  g_autoptr (JsonParser) parser = NULL;
  JsonNode *root;
  gsize len;

  if (g_strv_length (parts) != 4)
    return 0;
  b64 = g_string_new (parts[2]);
  g_strdelimit (b64->str, "-", '+');
  g_strdelimit (b64->str, "_", '/');
  while (b64->len % 4)
    g_string_append_c (b64, '=');
  raw = g_base64_decode (b64->str, &len);
  if (!raw || len == 0 || len > 8192)
    return 0;
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, (const char *) raw, (gssize) len, NULL))
    return 0;
  root = json_parser_get_root (parser);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return 0;
  JsonNode *exp = json_object_get_member (json_node_get_object (root), "exp");
  if (!exp || !JSON_NODE_HOLDS_VALUE (exp))
    return 0;
  if (json_node_get_value_type (exp) == G_TYPE_INT64)
    return json_node_get_int (exp);
  if (json_node_get_value_type (exp) == G_TYPE_DOUBLE)
    return (gint64) json_node_get_double (exp);
  return 0;
}

/* Checks that a port number from a flag is 1..65535. */
gboolean
ec_check_port (const char *flag, int port, GError **error)
{
  if (port < 1 || port > 65535)
    {
      g_set_error (error, ADMIN_ERROR, 1, _("%s=%d: a port is a number from 1 to 65535"), flag, port);
      return FALSE;
    }
  return TRUE;
}

static gboolean
is_dns_name (const char *s)
{
  gsize len = strlen (s), label = 0;
  if (len == 0 || len > 253)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = s[i];
      if (c == '.')
        {
          if (label == 0 || s[i - 1] == '-')
            return FALSE;
          label = 0;
          continue;
        }
      if (!g_ascii_isalnum (c) && c != '-')
        return FALSE;
      if (c == '-' && label == 0)
        return FALSE;
      if (++label > 63)
        return FALSE;
    }
  return s[len - 1] != '-' && s[len - 1] != '.';
}

/* Splits "host:port" ("[v6]:port" for IPv6) as --cloudcore-ipport takes
 * it; the host is an IP address or a DNS name. */
gboolean
ec_check_host_port (const char *text, char **host, guint *port, GError **error)
{
  g_autofree char *h = NULL;
  const char *colon;
  char *end = NULL;
  guint64 p;

  if (!text || !*text)
    {
      g_set_error (error, ADMIN_ERROR, 1, _("--cloudcore-ipport is required, e.g. 192.168.1.10:10000"));
      return FALSE;
    }
  if (text[0] == '[')
    {
      const char *close = strchr (text, ']');
      if (!close || close[1] != ':')
        goto bad;
      h = g_strndup (text + 1, (gsize) (close - text - 1));
      colon = close + 1;
      if (!g_hostname_is_ip_address (h) || !strchr (h, ':'))
        goto bad;
    }
  else
    {
      colon = strrchr (text, ':');
      if (!colon || strchr (text, ':') != colon)
        goto bad;
      h = g_strndup (text, (gsize) (colon - text));
      if (!g_hostname_is_ip_address (h) && !is_dns_name (h))
        goto bad;
    }
  if (!g_ascii_isdigit (colon[1]))
    goto bad;
  p = g_ascii_strtoull (colon + 1, &end, 10);
  if (*end || p < 1 || p > 65535)
    goto bad;
  *host = g_steal_pointer (&h);
  *port = (guint) p;
  return TRUE;
bad:
  g_set_error (error, ADMIN_ERROR, 1,
               _("--cloudcore-ipport=%s: expected HOST:PORT, HOST an IP address or DNS name "
                 "([ADDRESS]:PORT for IPv6) and PORT 1-65535, e.g. 192.168.1.10:10000"), text);
  return FALSE;
}

/* The host as it goes into a URL: IPv6 addresses in brackets. */
char *
ec_host_for_url (const char *host)
{
  return strchr (host, ':') ? g_strdup_printf ("[%s]", host) : g_strdup (host);
}

/* Checks a node name as Kubernetes accepts it: an RFC 1123 subdomain,
 * lower case, at most 253 characters. */
gboolean
ec_check_node_name (const char *name, GError **error)
{
  gboolean ok = name && is_dns_name (name);
  for (const char *c = name; ok && *c; c++)
    ok = !g_ascii_isupper (*c);
  if (!ok)
    {
      g_set_error (error, ADMIN_ERROR, 1,
                   _("node name “%s” is not valid in Kubernetes: use lower-case letters, digits, "
                     "'-' and '.', starting and ending with a letter or digit, at most 253 "
                     "characters (RFC 1123 subdomain)"), name ? name : "");
      return FALSE;
    }
  return TRUE;
}

/* Checks an IPv4 or IPv6 address. */
gboolean
ec_check_ip (const char *text, GError **error)
{
  if (!text || !g_hostname_is_ip_address (text))
    {
      g_set_error (error, ADMIN_ERROR, 1, _("--edgenode-ip=%s is not an IP address"), text ? text : "");
      return FALSE;
    }
  return TRUE;
}

static gboolean
label_part_ok (const char *s, gsize max)
{
  gsize len = strlen (s);
  if (len == 0 || len > max || !g_ascii_isalnum (s[0]) || !g_ascii_isalnum (s[len - 1]))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
      return FALSE;
  return TRUE;
}

/* Turns keadm's --labels "k1=v1,k2=v2" (a key alone means an empty value)
 * into the conf.d list "k1=v1;k2=v2", checking keys and values as
 * Kubernetes does. */
char *
ec_check_labels (const char *text, GError **error)
{
  g_auto (GStrv) items = g_strsplit (text, ",", -1);
  g_autoptr (GString) out = g_string_new (NULL);
  for (guint i = 0; items[i]; i++)
    {
      char *item = g_strstrip (items[i]);
      char *eq = strchr (item, '=');
      g_autofree char *key = g_strndup (item, eq ? (gsize) (eq - item) : strlen (item));
      const char *value = eq ? eq + 1 : "";
      const char *slash = strchr (key, '/');
      const char *name = slash ? slash + 1 : key;
      gboolean ok = label_part_ok (name, 63) && (*value == '\0' || label_part_ok (value, 63));
      if (ok && slash)
        {
          g_autofree char *prefix = g_strndup (key, (gsize) (slash - key));
          ok = is_dns_name (prefix);
        }
      if (!ok)
        {
          g_set_error (error, ADMIN_ERROR, 1,
                       _("--labels: “%s” is not a valid Kubernetes label: KEY=VALUE with "
                         "[PREFIX/]NAME, NAME and VALUE at most 63 letters, digits, '-', '_' or '.'"),
                       item);
          return NULL;
        }
      if (out->len)
        g_string_append_c (out, ';');
      g_string_append_printf (out, "%s=%s", key, value);
    }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* The node name KubeEdge defaults to: the host name, lower-cased. */
char *
ec_default_node_name (void)
{
  return g_ascii_strdown (g_get_host_name (), -1);
}
