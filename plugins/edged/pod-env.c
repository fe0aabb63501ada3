/* pod-env.c: a container's environment as kubelet builds it: envFrom
 * (configMapRef/secretRef with prefix and optional; keys that are not
 * environment variable names are skipped), then env (value, or valueFrom
 * configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef), a later
 * name replacing an earlier one; $(NAME) in a value is expanded as kubelet
 * does. Also the downward API values shared
 * with downwardAPI volumes. */
#include "pod-objects.h"

#include <string.h>

static JsonArray *
arr (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static gboolean
bool_member (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN
         && json_node_get_boolean (n);
}

/* The value of key in a configmap (data, then binaryData) or a secret
 * (data, base64); NULL when absent or not valid base64. */
GBytes *
edged_object_value (JsonObject *object, const char *type, const char *key)
{
  JsonObject *data = edged_json_object (object, "data");
  const char *v = edged_json_string (data, key);
  gboolean b64 = !strcmp (type, "secret");

  if (!v && !b64)
    {
      v = edged_json_string (edged_json_object (object, "binaryData"), key);
      b64 = TRUE;
    }
  if (!v)
    return NULL;
  if (b64)
    {
      gsize len = 0;
      guchar *raw;
      /* g_base64_decode does not check its input: refuse what is not base64 */
      for (const char *p = v; *p; p++)
        if (!g_ascii_isalnum (*p) && *p != '+' && *p != '/' && *p != '=')
          return NULL;
      raw = g_base64_decode (v, &len);
      return g_bytes_new_take (raw, len);
    }
  return g_bytes_new (v, strlen (v));
}

/* Go's %q of s, as kubelet formats labels and annotations. */
static void
go_quote (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const guchar *p = (const guchar *) s; *p; p++)
    switch (*p)
      {
      case '"': g_string_append (out, "\\\""); break;
      case '\\': g_string_append (out, "\\\\"); break;
      case '\n': g_string_append (out, "\\n"); break;
      case '\t': g_string_append (out, "\\t"); break;
      case '\r': g_string_append (out, "\\r"); break;
      default:
        if (*p < 0x20 || *p == 0x7f)
          g_string_append_printf (out, "\\x%02x", *p);
        else
          g_string_append_c (out, (char) *p);
      }
  g_string_append_c (out, '"');
}

static int
compare_str (gconstpointer a, gconstpointer b)
{
  return strcmp (a, b);
}

/* kubelet's FormatMap: key="value" lines sorted by key, no final newline. */
static char *
format_map (JsonObject *map)
{
  g_autoptr (GList) keys = map ? json_object_get_members (map) : NULL;
  GString *out = g_string_new (NULL);
  keys = g_list_sort (keys, compare_str);
  for (GList *l = keys; l; l = l->next)
    {
      const char *v = edged_json_string (map, l->data);
      if (!v)
        continue;
      if (out->len)
        g_string_append_c (out, '\n');
      g_string_append_printf (out, "%s=", (char *) l->data);
      go_quote (out, v);
    }
  return g_string_free (out, FALSE);
}

/* metadata.labels['key'] -> key (NULL if path is not of that form). */
static char *
subscript (const char *path, const char *prefix)
{
  gsize n = strlen (prefix);
  if (strncmp (path, prefix, n) || path[n] != '[' || path[n + 1] != '\''
      || !g_str_has_suffix (path, "']") || strlen (path) < n + 4)
    return NULL;
  return g_strndup (path + n + 2, strlen (path) - n - 4);
}

/**
 * edged_pod_field_value:
 * The value of a downward API fieldRef: metadata.name, .namespace, .uid,
 * .labels, .annotations, .labels['k'], .annotations['k'], spec.nodeName,
 * spec.serviceAccountName, status.hostIP, status.podIP, status.podIPs.
 */
char *
edged_pod_field_value (EdgedPod *pod, const char *path, GError **error)
{
  JsonObject *root = json_node_get_object (pod->spec->object);
  JsonObject *meta = edged_json_object (root, "metadata");
  JsonObject *pspec = edged_json_object (root, "spec");
  g_autofree char *key = NULL;
  const char *node_ip = pod->edged->node_ip;

  if (!g_strcmp0 (path, "metadata.name"))
    return g_strdup (pod->spec->name);
  if (!g_strcmp0 (path, "metadata.namespace"))
    return g_strdup (pod->spec->namespace);
  if (!g_strcmp0 (path, "metadata.uid"))
    return g_strdup (pod->spec->uid);
  if (!g_strcmp0 (path, "metadata.labels"))
    return format_map (edged_json_object (meta, "labels"));
  if (!g_strcmp0 (path, "metadata.annotations"))
    return format_map (edged_json_object (meta, "annotations"));
  if ((key = subscript (path, "metadata.labels")))
    return g_strdup (edged_json_string (edged_json_object (meta, "labels"), key)
                     ? edged_json_string (edged_json_object (meta, "labels"), key) : "");
  if ((key = subscript (path, "metadata.annotations")))
    return g_strdup (edged_json_string (edged_json_object (meta, "annotations"), key)
                     ? edged_json_string (edged_json_object (meta, "annotations"), key) : "");
  if (!g_strcmp0 (path, "spec.nodeName"))
    return g_strdup (pod->spec->node_name);
  if (!g_strcmp0 (path, "spec.serviceAccountName"))
    return g_strdup (edged_json_string (pspec, "serviceAccountName")
                     ? edged_json_string (pspec, "serviceAccountName") : "");
  if (!g_strcmp0 (path, "status.hostIP"))
    return g_strdup (node_ip ? node_ip : "");
  /* the pod's IP: the node's for host-network pods, else the runtime's
   * network's (pod-network.c; the sandbox runs before any container) */
  if (!g_strcmp0 (path, "status.podIP"))
    return g_strdup (pod->spec->host_network ? (node_ip ? node_ip : "")
                     : pod->pod_ips && pod->pod_ips[0] ? pod->pod_ips[0] : "");
  if (!g_strcmp0 (path, "status.podIPs"))
    return pod->spec->host_network ? g_strdup (node_ip ? node_ip : "")
                                   : pod->pod_ips ? g_strjoinv (",", pod->pod_ips) : g_strdup ("");
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unsupported fieldPath: %s", path);
  return NULL;
}

/* The quantity at resources.<kind>.<name> of container c, in milli; FALSE if absent. */
static gboolean
container_quantity (JsonObject *c, const char *kind, const char *name, gint64 *milli)
{
  const char *q = edged_json_string (edged_json_object (edged_json_object (c, "resources"), kind), name);
  return q && edged_quantity_parse (q, milli, NULL);
}

/**
 * edged_pod_resource_value:
 * The value of a resourceFieldRef (limits.cpu, limits.memory,
 * limits.ephemeral-storage, requests.*) of container, divided by divisor
 * and rounded up as kubelet does; a missing limit is the node's
 * allocatable amount, a missing request the limit (or 0).
 */
char *
edged_pod_resource_value (EdgedPod *pod, const char *container, const char *resource,
                          const char *divisor, GError **error)
{
  JsonObject *root = json_node_get_object (pod->spec->object);
  JsonArray *cs = arr (edged_json_object (root, "spec"), "containers");
  JsonObject *c = NULL;
  gint64 value = 0, div = 0;
  gboolean cpu, is_limit;
  const char *name;

  for (guint i = 0; cs && i < json_array_get_length (cs); i++)
    {
      JsonNode *n = json_array_get_element (cs, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      if (o && !g_strcmp0 (edged_json_string (o, "name"), container))
        c = o;
    }
  if (!c)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "container %s not found",
                   container ? container : "(none)");
      return NULL;
    }
  if (!resource || !(g_str_has_prefix (resource, "limits.") || g_str_has_prefix (resource, "requests.")))
    goto unsupported;
  is_limit = g_str_has_prefix (resource, "limits.");
  name = strchr (resource, '.') + 1;
  cpu = !strcmp (name, "cpu");
  if (!cpu && strcmp (name, "memory") && strcmp (name, "ephemeral-storage"))
    goto unsupported;
  if (divisor && *divisor)
    {
      if (!edged_quantity_parse (divisor, &div, NULL) || div <= 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid divisor %s", divisor);
          return NULL;
        }
    }
  else
    div = 1000;
  if (!(is_limit ? container_quantity (c, "limits", name, &value)
                 : container_quantity (c, "requests", name, &value)
                   || container_quantity (c, "limits", name, &value)))
    {
      if (is_limit)
        {
          EdgedHost host = { 0 };
          gint64 cpu_m, mem, storage;
          edged_host_read (&host, pod->edged->root_directory);
          edged_node_allocatable (pod->edged, &host, &cpu_m, &mem, &storage);
          edged_host_clear (&host);
          value = cpu ? cpu_m : (!strcmp (name, "memory") ? mem : storage) * 1000;
        }
      else
        value = 0;
    }
  if (!cpu)
    {
      /* bytes: value and divisor are in milli */
      value /= 1000;
      div = MAX (div / 1000, 1);
    }
  /* rounded up, as kubelet does */
  return g_strdup_printf ("%" G_GINT64_FORMAT, value / div + (value % div > 0));
unsupported:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "unsupported container resource: %s",
               resource ? resource : "(none)");
  return NULL;
}

/* kubelet's IsEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]* */
static gboolean
env_name_ok (const char *name)
{
  if (!*name || g_ascii_isdigit (*name))
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.' && *p != '_')
      return FALSE;
  return TRUE;
}

static void
env_set (GPtrArray *names, GPtrArray *values, const char *name, char *value)
{
  for (guint i = 0; i < names->len; i++)
    if (!strcmp (names->pdata[i], name))
      {
        g_free (values->pdata[i]);
        values->pdata[i] = value;
        return;
      }
  g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_add (values, value);
}

/* kubelet's expansion of an env value: $(NAME) becomes the value of a
 * variable defined before it (left as it is when there is none), $$ a
 * single $; anything else stays. */
static char *
expand (const char *in, GPtrArray *names, GPtrArray *values)
{
  GString *out = g_string_new (NULL);
  for (const char *p = in; *p; p++)
    {
      const char *close;
      if (p[0] != '$' || !p[1])
        {
          g_string_append_c (out, *p);
          continue;
        }
      if (p[1] == '$')
        {
          g_string_append_c (out, '$');
          p++;
          continue;
        }
      if (p[1] == '(' && (close = strchr (p + 2, ')')))
        {
          g_autofree char *name = g_strndup (p + 2, (gsize) (close - p - 2));
          const char *value = NULL;
          for (guint i = 0; i < names->len && !value; i++)
            if (!strcmp (names->pdata[i], name))
              value = values->pdata[i];
          if (value)
            g_string_append (out, value);
          else
            g_string_append_len (out, p, close - p + 1);
          p = close;
          continue;
        }
      g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

/* pods30: kubelet's expansion of command and args: each string with
 * $(NAME) replaced by the container's env variable NAME (names/values, as
 * edged_pod_env made them), $$ a single $, unknown references left as
 * written. Returns a new NULL-terminated array (NULL for NULL). */
char **
edged_expand_strv (char *const *in, GPtrArray *names, GPtrArray *values)
{
  GPtrArray *out;
  if (!in)
    return NULL;
  out = g_ptr_array_new ();
  for (guint i = 0; in[i]; i++)
    g_ptr_array_add (out, expand (in[i], names, values));
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

/* Text of a value (binary values as they are, up to a NUL). */
static char *
bytes_text (GBytes *b)
{
  gsize len;
  const char *d = g_bytes_get_data (b, &len);
  return g_strndup (d ? d : "", len);
}

static JsonObject *
container_object (EdgedPod *pod, guint index)
{
  JsonObject *root = json_node_get_object (pod->spec->object);
  JsonArray *cs = arr (edged_json_object (root, "spec"), "containers");
  JsonNode *n = cs && index < json_array_get_length (cs) ? json_array_get_element (cs, index) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* The object a reference names, or NULL: *missing is set (with the message
 * kubelet reports) unless the reference is optional. */
static JsonObject *
ref_object (EdgedPod *pod, const char *type, JsonObject *ref, char **missing)
{
  const char *name = edged_json_string (ref, "name");
  const char *problem = NULL;
  JsonObject *o = name ? edged_pod_object (pod, type, name, &problem) : NULL;
  if (!o && !bool_member (ref, "optional"))
    *missing = problem ? g_strdup (problem)
                       : g_strdup_printf ("%s \"%s\" not found", type, name ? name : "");
  return o;
}

/**
 * edged_pod_env:
 * Fills names and values (owned strings) with the environment of
 * container index. A missing non-optional object or key gives FALSE and
 * kubelet's message (the container waits with CreateContainerConfigError).
 */
gboolean
edged_pod_env (EdgedPod *pod, guint index, GPtrArray *names, GPtrArray *values, GError **error)
{
  JsonObject *c = container_object (pod, index);
  JsonArray *from = arr (c, "envFrom"), *env = arr (c, "env");
  const char *cname = pod->spec->containers[index].name;
  char *missing = NULL;

  for (guint i = 0; from && i < json_array_get_length (from); i++)
    {
      JsonNode *n = json_array_get_element (from, i);
      JsonObject *e = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      JsonObject *cm = edged_json_object (e, "configMapRef"), *sec = edged_json_object (e, "secretRef");
      const char *prefix = edged_json_string (e, "prefix");
      const char *type = cm ? "configmap" : "secret";
      JsonObject *o = cm || sec ? ref_object (pod, type, cm ? cm : sec, &missing) : NULL;
      JsonObject *data = edged_json_object (o, "data");
      g_autoptr (GList) keys = data ? json_object_get_members (data) : NULL;
      GString *invalid = g_string_new (NULL);

      if (missing)
        {
          g_string_free (invalid, TRUE);
          goto missing;
        }
      if (cm && edged_json_object (o, "binaryData"))
        {
          g_autoptr (GList) more = json_object_get_members (edged_json_object (o, "binaryData"));
          keys = g_list_concat (keys, g_steal_pointer (&more));
        }
      keys = g_list_sort (keys, compare_str);
      for (GList *l = keys; l; l = l->next)
        {
          g_autofree char *name = g_strconcat (prefix ? prefix : "", (char *) l->data, NULL);
          g_autoptr (GBytes) v = edged_object_value (o, type, l->data);
          if (!env_name_ok (name) || !v)
            {
              g_string_append_printf (invalid, "%s%s", invalid->len ? ", " : "", name);
              continue;
            }
          env_set (names, values, name, bytes_text (v));
        }
      if (invalid->len)
        ec_log_message (pod->edged->context, "pod %s/%s container %s: keys [%s] from the EnvFrom %s "
                        "%s/%s were skipped since they are considered invalid environment variable "
                        "names", pod->spec->namespace, pod->spec->name, cname, invalid->str,
                        cm ? "configMap" : "secret", pod->spec->namespace,
                        edged_json_string (cm ? cm : sec, "name"));
      g_string_free (invalid, TRUE);
    }
  for (guint i = 0; env && i < json_array_get_length (env); i++)
    {
      JsonNode *n = json_array_get_element (env, i);
      JsonObject *e = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      JsonObject *vf = edged_json_object (e, "valueFrom");
      JsonObject *cm = edged_json_object (vf, "configMapKeyRef");
      JsonObject *sec = edged_json_object (vf, "secretKeyRef");
      JsonObject *field = edged_json_object (vf, "fieldRef");
      JsonObject *res = edged_json_object (vf, "resourceFieldRef");
      const char *name = edged_json_string (e, "name");
      char *value = NULL;

      if (!name)
        continue;
      if (!vf)
        value = expand (edged_json_string (e, "value") ? edged_json_string (e, "value") : "", names, values);
      else if (cm || sec)
        {
          const char *type = cm ? "configmap" : "secret";
          JsonObject *ref = cm ? cm : sec;
          const char *key = edged_json_string (ref, "key");
          JsonObject *o = ref_object (pod, type, ref, &missing);
          g_autoptr (GBytes) v = NULL;
          if (missing)
            goto missing;
          if (!o)
            continue;           /* optional and absent: no variable */
          v = key ? edged_object_value (o, type, key) : NULL;
          if (!v)
            {
              if (bool_member (ref, "optional"))
                continue;
              missing = g_strdup_printf ("couldn't find key %s in %s %s/%s", key ? key : "",
                                         cm ? "ConfigMap" : "Secret", pod->spec->namespace,
                                         edged_json_string (ref, "name"));
              goto missing;
            }
          value = bytes_text (v);
        }
      else if (field)
        {
          value = edged_pod_field_value (pod, edged_json_string (field, "fieldPath"), error);
          if (!value)
            return FALSE;
        }
      else if (res)
        {
          const char *on = edged_json_string (res, "containerName");
          value = edged_pod_resource_value (pod, on && *on ? on : cname,
                                            edged_json_string (res, "resource"),
                                            edged_json_string (res, "divisor"), error);
          if (!value)
            return FALSE;
        }
      else
        value = g_strdup ("");
      env_set (names, values, name, value);
    }
  return TRUE;
missing:
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, missing);
  g_free (missing);
  return FALSE;
}
