/* ms-object.c: reading Kubernetes objects: their attributes, their keys in
 * meta_v2, and KubeEdge's kind <-> resource guesses. */
#include "ms.h"

#include <string.h>

/* A member's string value, or NULL when absent or not a string. */
const char *
ms_json_get_string (JsonObject *obj, const char *member)
{
  JsonNode *n = obj ? json_object_get_member (obj, member) : NULL;
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

/* A member's object value, or NULL. */
JsonObject *
ms_json_get_object (JsonObject *obj, const char *member)
{
  JsonNode *n = obj ? json_object_get_member (obj, member) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* A member's array value, or NULL. */
JsonArray *
ms_json_get_array (JsonObject *obj, const char *member)
{
  JsonNode *n = obj ? json_object_get_member (obj, member) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

/* Parses JSON text (len -1: NUL-terminated) with libedgecore's reader, at
 * its default limits, into a sealed node owned by the caller. */
JsonNode *
ms_json_parse (const char *text, gssize len, GError **error)
{
  JsonNode *root;
  if (!text)
    text = "";
  root = ec_json_parse (text, len < 0 ? strlen (text) : (gsize) len, 0, 0, error);
  if (root)
    json_node_seal (root);
  return root;
}

/* Serialises a node compactly. */
char *
ms_json_to_string (JsonNode *node)
{
  return ec_json_to_string (node, FALSE);
}

/* Parses a decimal unsigned integer, all of text. */
gboolean
ms_parse_uint64 (const char *text, guint64 *out)
{
  return text && *text && g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, out, NULL);
}

/* Extracts what selectors and watches look at. */
MsObjAttrs *
ms_obj_attrs_from_node (JsonNode *node)
{
  MsObjAttrs *a = g_new0 (MsObjAttrs, 1);
  JsonObject *obj = node && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
  JsonObject *meta = ms_json_get_object (obj, "metadata");
  JsonObject *labels = ms_json_get_object (meta, "labels");

  a->name = g_strdup (ms_json_get_string (meta, "name"));
  a->namespace = g_strdup (ms_json_get_string (meta, "namespace"));
  a->node_name = g_strdup (ms_json_get_string (ms_json_get_object (obj, "spec"), "nodeName"));
  a->phase = g_strdup (ms_json_get_string (ms_json_get_object (obj, "status"), "phase"));
  if (!ms_parse_uint64 (ms_json_get_string (meta, "resourceVersion"), &a->resource_version))
    a->resource_version = 0;
  if (labels && json_object_get_size (labels) > 0)
    {
      JsonObjectIter it;
      const char *k;
      JsonNode *v;
      a->labels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      json_object_iter_init (&it, labels);
      while (json_object_iter_next (&it, &k, &v))
        if (JSON_NODE_HOLDS_VALUE (v) && json_node_get_value_type (v) == G_TYPE_STRING)
          g_hash_table_insert (a->labels, g_strdup (k), g_strdup (json_node_get_string (v)));
    }
  return a;
}

/* Frees attributes. */
void
ms_obj_attrs_free (MsObjAttrs *a)
{
  if (!a)
    return;
  g_free (a->name);
  g_free (a->namespace);
  g_free (a->node_name);
  g_free (a->phase);
  if (a->labels)
    g_hash_table_unref (a->labels);
  g_free (a);
}

/* KubeEdge's UnsafeKindToResource: "Pod" -> "pods", "Policy" -> "policies". */
char *
ms_kind_to_resource (const char *kind)
{
  static const char *const unusual[][2] = {
    { "Endpoints", "endpoints" }, { "PodStatus", "podstatus" },
    { "NodeStatus", "nodestatus" },
    { "CustomResourceDefinition", "customresourcedefinitions" },
    { "Leases", "leases" },
  };
  g_autofree char *r = NULL;
  gsize n;
  if (!kind || !*kind)
    return g_strdup ("");
  for (guint i = 0; i < G_N_ELEMENTS (unusual); i++)
    if (strcmp (kind, unusual[i][0]) == 0)
      return g_strdup (unusual[i][1]);
  r = g_ascii_strdown (kind, -1);
  n = strlen (r);
  if (r[n - 1] == 's')
    return g_strconcat (r, "es", NULL);
  if (r[n - 1] == 'y')
    return g_strdup_printf ("%.*sies", (int) (n - 1), r);
  return g_strconcat (r, "s", NULL);
}

/* KubeEdge's UnsafeResourceToKind: "pods" -> "Pod", "policies" -> "Policy". */
char *
ms_resource_to_kind (const char *resource)
{
  static const char *const unusual[][2] = {
    { "endpoints", "Endpoints" }, { "endpointslices", "EndpointSlice" },
    { "nodes", "Node" }, { "namespaces", "Namespace" }, { "services", "Service" },
    { "podstatus", "PodStatus" }, { "nodestatus", "NodeStatus" },
    { "customresourcedefinitions", "CustomResourceDefinition" },
    { "leases", "Lease" },
  };
  g_autofree char *k = NULL;
  gsize n;
  if (!resource || !*resource)
    return g_strdup ("");
  for (guint i = 0; i < G_N_ELEMENTS (unusual); i++)
    if (strcmp (resource, unusual[i][0]) == 0)
      return g_strdup (unusual[i][1]);
  k = g_strdup (resource);
  k[0] = g_ascii_toupper (k[0]);
  n = strlen (k);
  if (n > 3 && g_str_has_suffix (k, "ies"))
    return g_strdup_printf ("%.*sy", (int) (n - 3), k);
  if (n > 3 && g_str_has_suffix (k, "ses"))
    return g_strndup (k, n - 2);
  if (n > 1 && k[n - 1] == 's')
    return g_strndup (k, n - 1);
  return g_steal_pointer (&k);
}

/* Splits "apps/v1" into "apps" and "v1", and "v1" into "" and "v1". */
gboolean
ms_split_api_version (const char *api_version, char **group, char **version)
{
  const char *slash;
  if (!api_version || !*api_version)
    return FALSE;
  slash = strchr (api_version, '/');
  if (!slash)
    {
      *group = g_strdup ("");
      *version = g_strdup (api_version);
      return TRUE;
    }
  if (slash == api_version || !slash[1] || strchr (slash + 1, '/'))
    return FALSE;
  *group = g_strndup (api_version, slash - api_version);
  *version = g_strdup (slash + 1);
  return TRUE;
}

/* The meta_v2 key: /<group|core>/<version>/<resource>/<ns|null>/<name|null>.
 * A NULL name gives the prefix of the collection, ending in '/'. */
char *
ms_store_key (const char *group, const char *version, const char *resource,
              const char *namespace, const char *name)
{
  const char *g = group && *group ? group : "core";
  const char *ns = namespace && *namespace ? namespace : "null";
  if (!name)
    return g_strdup_printf ("/%s/%s/%s/%s/", g, version, resource, ns);
  return g_strdup_printf ("/%s/%s/%s/%s/%s", g, version, resource, ns, *name ? name : "null");
}
