/* ms-request.c: resolves a Kubernetes API path and method into a request
 * (group, version, namespace, resource, name, subresource, verb) with the
 * apiserver's request-info rules. */
#include "ms.h"

#include <string.h>

/* Frees a request info. */
void
ms_request_info_free (MsRequestInfo *info)
{
  if (!info)
    return;
  g_free (info->prefix);
  g_free (info->group);
  g_free (info->version);
  g_free (info->namespace);
  g_free (info->resource);
  g_free (info->name);
  g_free (info->subresource);
  g_free (info);
}

/* The verb's Kubernetes name. */
const char *
ms_verb_name (MsVerb verb)
{
  static const char *const names[] = {
    "get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
  };
  return names[verb];
}

/* Splits a path into unescaped segments; refuses empty segments (except a
 * trailing '/'), "." and "..", and segments that unescape to '/' or NUL. */
static char **
split_path (const char *path, GError **error)
{
  g_auto (GStrv) raw = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  guint n;

  if (!path || path[0] != '/')
    goto bad;
  raw = g_strsplit (path + 1, "/", -1);
  n = g_strv_length (raw);
  if (n > 0 && raw[n - 1][0] == '\0')
    n--;   /* trailing slash */
  for (guint i = 0; i < n; i++)
    {
      char *seg = g_uri_unescape_string (raw[i], "/");
      if (!seg || !*seg || strcmp (seg, ".") == 0 || strcmp (seg, "..") == 0)
        {
          g_free (seg);
          goto bad;
        }
      g_ptr_array_add (out, seg);
    }
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);

bad:
  g_ptr_array_unref (out);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "malformed path \"%s\"", path);
  return NULL;
}

static gboolean
query_true (GHashTable *query, const char *key)
{
  const char *v = query ? g_hash_table_lookup (query, key) : NULL;
  return v && (strcmp (v, "true") == 0 || strcmp (v, "1") == 0);
}

/**
 * ms_request_info_parse:
 * Resolves @path. Non-resource paths (/version, /api, /apis/<group>...)
 * come back with is_resource FALSE and whatever prefix/group/version they
 * name. Returns NULL with an error for a malformed path or a method that
 * does not apply.
 */
MsRequestInfo *
ms_request_info_parse (const char *method, const char *path, GHashTable *query,
                       GError **error)
{
  g_autoptr (MsRequestInfo) info = g_new0 (MsRequestInfo, 1);
  g_auto (GStrv) parts = split_path (path, error);
  char **p;
  guint n;
  gboolean watch_prefix = FALSE;

  if (!parts)
    return NULL;
  n = g_strv_length (parts);
  if (n == 0 || (strcmp (parts[0], "api") != 0 && strcmp (parts[0], "apis") != 0))
    return g_steal_pointer (&info);   /* non-resource */
  info->prefix = g_strdup (parts[0]);
  p = parts + 1;
  n--;
  if (strcmp (info->prefix, "apis") == 0)
    {
      if (n < 1)
        return g_steal_pointer (&info);
      info->group = g_strdup (p[0]);
      p++;
      n--;
    }
  else
    info->group = g_strdup ("");
  if (n < 1)
    return g_steal_pointer (&info);
  info->version = g_strdup (p[0]);
  p++;
  n--;
  if (n < 1)
    return g_steal_pointer (&info);   /* discovery of a group version */

  info->is_resource = TRUE;
  if (strcmp (p[0], "watch") == 0)
    {
      watch_prefix = TRUE;
      p++;
      n--;
      if (n < 1)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "malformed path \"%s\": nothing to watch", path);
          return NULL;
        }
    }
  if (strcmp (p[0], "namespaces") == 0 && n > 1)
    {
      info->namespace = g_strdup (p[1]);
      if (n > 2 && strcmp (p[2], "status") != 0 && strcmp (p[2], "finalize") != 0)
        {
          p += 2;
          n -= 2;
        }
    }
  info->resource = g_strdup (p[0]);
  if (n >= 2)
    info->name = g_strdup (p[1]);
  if (n >= 3)
    info->subresource = g_strdup (p[2]);
  if (n > 3)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "malformed path \"%s\": too many segments", path);
      return NULL;
    }
  if (strcmp (info->resource, "namespaces") == 0)
    g_clear_pointer (&info->namespace, g_free);   /* namespaces have no namespace */

  if (strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0)
    {
      if (watch_prefix || query_true (query, "watch"))
        info->verb = MS_VERB_WATCH;
      else
        info->verb = info->name ? MS_VERB_GET : MS_VERB_LIST;
    }
  else if (watch_prefix)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "method %s is not allowed on a watch path", method);
      return NULL;
    }
  else if (strcmp (method, "POST") == 0)
    info->verb = MS_VERB_CREATE;
  else if (strcmp (method, "PUT") == 0)
    info->verb = MS_VERB_UPDATE;
  else if (strcmp (method, "PATCH") == 0)
    info->verb = MS_VERB_PATCH;
  else if (strcmp (method, "DELETE") == 0)
    info->verb = info->name ? MS_VERB_DELETE : MS_VERB_DELETE_COLLECTION;
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "method %s is not supported", method);
      return NULL;
    }
  return g_steal_pointer (&info);
}
