/* mm-resource.c: KubeEdge resource strings (`<ns>/<type>/<name>`), the
 * resource types metamanager knows, and the `meta_v2` row of an object. */
#include "mm-private.h"

#include <string.h>

/* Every resource type metamanager accepts. Types with a kind are Kubernetes
 * objects and also go to `meta_v2`; the others are stored in `meta` only,
 * as KubeEdge does. Objects of other types are accepted when they carry
 * their own apiVersion and kind (dynamiccontroller, CRDs). */
static const MmTypeInfo types[] = {
  { "pod", "", "v1", "Pod", FALSE },
  { "configmap", "", "v1", "ConfigMap", FALSE },
  { "secret", "", "v1", "Secret", FALSE },
  { "service", "", "v1", "Service", FALSE },
  { "endpoints", "", "v1", "Endpoints", FALSE },
  { "node", "", "v1", "Node", TRUE },
  { "namespace", "", "v1", "Namespace", TRUE },
  { "persistentvolume", "", "v1", "PersistentVolume", TRUE },
  { "persistentvolumeclaim", "", "v1", "PersistentVolumeClaim", FALSE },
  { "serviceaccount", "", "v1", "ServiceAccount", FALSE },
  { "event", "", "v1", "Event", FALSE },
  { "limitrange", "", "v1", "LimitRange", FALSE },
  { "resourcequota", "", "v1", "ResourceQuota", FALSE },
  { "lease", "coordination.k8s.io", "v1", "Lease", FALSE },
  { "endpointslice", "discovery.k8s.io", "v1", "EndpointSlice", FALSE },
  { "volumeattachment", "storage.k8s.io", "v1", "VolumeAttachment", TRUE },
  { "storageclass", "storage.k8s.io", "v1", "StorageClass", TRUE },
  { "csidriver", "storage.k8s.io", "v1", "CSIDriver", TRUE },
  { "csinode", "storage.k8s.io", "v1", "CSINode", TRUE },
  { "certificatesigningrequest", "certificates.k8s.io", "v1", "CertificateSigningRequest", TRUE },
  { "deployment", "apps", "v1", "Deployment", FALSE },
  { "daemonset", "apps", "v1", "DaemonSet", FALSE },
  { "statefulset", "apps", "v1", "StatefulSet", FALSE },
  { "replicaset", "apps", "v1", "ReplicaSet", FALSE },
  { "job", "batch", "v1", "Job", FALSE },
  { "cronjob", "batch", "v1", "CronJob", FALSE },
  { "ingress", "networking.k8s.io", "v1", "Ingress", FALSE },
  { "ingressclass", "networking.k8s.io", "v1", "IngressClass", TRUE },
  { "networkpolicy", "networking.k8s.io", "v1", "NetworkPolicy", FALSE },
  { "role", "rbac.authorization.k8s.io", "v1", "Role", FALSE },
  { "rolebinding", "rbac.authorization.k8s.io", "v1", "RoleBinding", FALSE },
  { "clusterrole", "rbac.authorization.k8s.io", "v1", "ClusterRole", TRUE },
  { "clusterrolebinding", "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", TRUE },
  { "priorityclass", "scheduling.k8s.io", "v1", "PriorityClass", TRUE },
  { "runtimeclass", "node.k8s.io", "v1", "RuntimeClass", TRUE },
  { "customresourcedefinition", "apiextensions.k8s.io", "v1", "CustomResourceDefinition", TRUE },
  { "device", "devices.kubeedge.io", "v1beta1", "Device", FALSE },
  { "devicemodel", "devices.kubeedge.io", "v1beta1", "DeviceModel", FALSE },
  { "rule", "rules.kubeedge.io", "v1", "Rule", FALSE },
  { "ruleendpoint", "rules.kubeedge.io", "v1", "RuleEndpoint", FALSE },
  /* stored in meta only */
  { "podstatus", NULL, NULL, NULL, FALSE },
  { "nodestatus", NULL, NULL, NULL, FALSE },
  { "podpatch", NULL, NULL, NULL, FALSE },
  { "nodepatch", NULL, NULL, NULL, FALSE },
  { "podlist", NULL, NULL, NULL, FALSE },
  { "servicelist", NULL, NULL, NULL, FALSE },
  { "endpointslist", NULL, NULL, NULL, FALSE },
  { "serviceaccounttoken", NULL, NULL, NULL, FALSE },
  { "serviceaccountaccess", NULL, NULL, NULL, FALSE },
  { "rulestatus", NULL, NULL, NULL, FALSE },
  { "volume", NULL, NULL, NULL, FALSE },
  { "devicemapper", NULL, NULL, NULL, FALSE },
};

/* Finds a resource type token, or NULL if metamanager does not know it. */
const MmTypeInfo *
mm_type_lookup (const char *type)
{
  static GHashTable *index;
  if (g_once_init_enter (&index))
    {
      GHashTable *h = g_hash_table_new (g_str_hash, g_str_equal);
      for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
        g_hash_table_insert (h, (gpointer) types[i].type, (gpointer) &types[i]);
      g_once_init_leave (&index, h);
    }
  return type ? g_hash_table_lookup (index, type) : NULL;
}

/* Query types that KubeEdge HEAD asks the cloud for while connected. */
gboolean
mm_type_needs_remote (const char *type)
{
  static const char *const remote[] = {
    "configmap", "secret", "persistentvolume", "persistentvolumeclaim",
    "volumeattachment", "serviceaccounttoken", "lease", "certificatesigningrequest",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (remote); i++)
    if (g_strcmp0 (type, remote[i]) == 0)
      return TRUE;
  return FALSE;
}

/* Statuses never go to meta_v2 (KubeEdge's imitator skips them). */
gboolean
mm_type_skips_v2 (const char *type)
{
  return type == NULL || strstr (type, "status") != NULL;
}

/**
 * mm_resource_parse:
 * @resource: `<ns>/<type>[/<name>]`
 * @ns: (out): the namespace token
 * @type: (out): the type token
 * @name: (out) (nullable): the name, NULL when absent
 *
 * Splits a resource string by KubeEdge's rule: 2 tokens give a type, 3 a
 * type and a name. Router rules (`rule/<name>`, `ruleendpoint/<name>`) have
 * no namespace.
 *
 * Returns: %FALSE if the string has another shape
 */
gboolean
mm_resource_parse (const char *resource, char **ns, char **type, char **name)
{
  g_auto (GStrv) tok = NULL;
  guint n;
  *ns = *type = *name = NULL;
  if (!resource || !*resource)
    return FALSE;
  tok = g_strsplit (resource, "/", 4);
  n = g_strv_length (tok);
  if (n == 2 && (strcmp (tok[0], "rule") == 0 || strcmp (tok[0], "ruleendpoint") == 0))
    {
      *ns = g_strdup ("");
      *type = g_strdup (tok[0]);
      *name = g_strdup (tok[1]);
      return *name[0] != '\0';
    }
  if (n != 2 && n != 3)
    return FALSE;
  if (!*tok[1])
    return FALSE;
  *ns = g_strdup (tok[0]);
  *type = g_strdup (tok[1]);
  if (n == 3 && *tok[2])
    *name = g_strdup (tok[2]);
  return TRUE;
}

/* Kubernetes' guess of a resource from a kind (KubeEdge's
 * UnsafeKindToResource): lower case, then -s, -es or -ies. */
char *
mm_kind_to_resource (const char *kind)
{
  static const char *const unusual[][2] = {
    { "Endpoints", "endpoints" },
    { "PodStatus", "podstatus" },
    { "NodeStatus", "nodestatus" },
    { "CustomResourceDefinitionList", "customresourcedefinitionlist" },
    { "IngressClassList", "ingressclasslist" },
    { "ConfigMapList", "configmaplist" },
  };
  g_autofree char *lower = NULL;
  gsize len;
  for (gsize i = 0; i < G_N_ELEMENTS (unusual); i++)
    if (strcmp (kind, unusual[i][0]) == 0)
      return g_strdup (unusual[i][1]);
  lower = g_ascii_strdown (kind, -1);
  len = strlen (lower);
  if (len == 0)
    return g_strdup ("");
  if (lower[len - 1] == 's')
    return g_strconcat (lower, "es", NULL);
  if (lower[len - 1] == 'y')
    {
      lower[len - 1] = '\0';
      return g_strconcat (lower, "ies", NULL);
    }
  return g_strconcat (lower, "s", NULL);
}

/* Frees the row's fields. */
void
mm_v2_row_clear (MmV2Row *row)
{
  g_clear_pointer (&row->key, g_free);
  g_clear_pointer (&row->gvr, g_free);
  g_clear_pointer (&row->ns, g_free);
  g_clear_pointer (&row->name, g_free);
  g_clear_pointer (&row->head, g_free);
  row->src = NULL;
  row->src_len = 0;
  row->head_at = 0;
  row->head_len = 0;
  row->rv = 0;
}

/* The missing apiVersion and/or kind as they go first in the object, with
 * the comma that separates them from the object's own members. */
static char *
type_meta_head (const char *json, gsize len, MmObjInfo *info, const char *api_version,
                const char *kind)
{
  GString *out = g_string_sized_new (64);
  const char *p = json + info->body_offset, *end = json + len;
  while (p < end && g_ascii_isspace (*p))
    p++;
  if (!info->api_version)
    {
      g_string_append (out, "\"apiVersion\":");
      ec_json_append_string (out, api_version);
    }
  if (!info->kind)
    {
      if (!info->api_version)
        g_string_append_c (out, ',');
      g_string_append (out, "\"kind\":");
      ec_json_append_string (out, kind);
    }
  if (!(p < end && *p == '}'))
    g_string_append_c (out, ',');
  return g_string_free (out, FALSE);
}

/**
 * mm_v2_row_text:
 * @row: a built row
 * @buf: scratch space the text may be assembled in
 * @len: (out): the text's length
 *
 * The object as it goes to `meta_v2`: the received text, or (when
 * apiVersion/kind had to be filled in) that text with them put first in the
 * object, assembled in @buf. The text differs from the received one only
 * there. Valid until @buf or the row's source text changes.
 *
 * Returns: (transfer none): the text
 */
const char *
mm_v2_row_text (const MmV2Row *row, GString *buf, gsize *len)
{
  if (!row->head)
    {
      *len = row->src_len;
      return row->src;
    }
  g_string_truncate (buf, 0);
  g_string_append_len (buf, row->src, row->head_at);
  g_string_append_len (buf, row->head, row->head_len);
  g_string_append_len (buf, row->src + row->head_at, row->src_len - row->head_at);
  *len = buf->len;
  return buf->str;
}

/* A copy of the row's text (see mm_v2_row_text()). */
char *
mm_v2_row_dup_text (const MmV2Row *row)
{
  g_autoptr (GString) buf = g_string_new (NULL);
  gsize len;
  const char *text = mm_v2_row_text (row, buf, &len);
  return g_strndup (text, len);
}

/**
 * mm_v2_row_build:
 * @row: (out caller-allocates): the row; clear it afterwards
 * @type: the message's resource type
 * @res_ns: the message's namespace token
 * @res_name: (nullable): the message's name token
 * @json: the object's text
 * @len: its length
 * @info: what mm_scan_object() read from it
 * @error: where to put an error
 *
 * Works out the object's `meta_v2` row, as KubeEdge's imitator keys it
 * (`/<group|core>/<version>/<resource>/<ns|null>/<name>`). An object without
 * apiVersion or kind gets them from its resource type; the row keeps only
 * what goes in front (mm_v2_row_text() assembles the text when it is
 * written), so @json must outlive the row.
 *
 * Returns: %TRUE with row->key set, or %TRUE with row->key %NULL when the
 *   type has no Kubernetes kind (meta only); %FALSE when the object cannot
 *   be keyed (no name)
 */
gboolean
mm_v2_row_build (MmV2Row *row, const char *type, const char *res_ns, const char *res_name,
                 const char *json, gsize len, MmObjInfo *info, GError **error)
{
  const MmTypeInfo *ti = mm_type_lookup (type);
  g_autofree char *type_api = NULL;
  const char *api_version = info->api_version;
  const char *kind = info->kind ? info->kind : ti ? ti->kind : NULL;
  const char *slash, *name, *ns;
  g_autofree char *group = NULL;
  g_autofree char *resource = NULL;
  const char *version;

  memset (row, 0, sizeof *row);
  if (mm_type_skips_v2 (type))
    return TRUE;
  if (!api_version && ti && ti->kind)
    api_version = type_api = *ti->group ? g_strconcat (ti->group, "/", ti->version, NULL)
                                        : g_strdup (ti->version);
  if (!api_version || !*api_version || !kind || !*kind)
    return TRUE;

  name = info->name && *info->name ? info->name : res_name;
  if (!name || !*name)
    {
      g_set_error (error, MM_ERROR, MM_ERROR_BAD_CONTENT,
                   "the %s object has no metadata.name", kind);
      return FALSE;
    }
  if (info->namespace && *info->namespace)
    ns = info->namespace;
  else if (res_ns && *res_ns && strcmp (res_ns, "null") != 0 && !(ti && ti->cluster))
    ns = res_ns;
  else
    ns = "";

  slash = strchr (api_version, '/');
  group = slash ? g_strndup (api_version, slash - api_version) : g_strdup ("");
  version = slash ? slash + 1 : api_version;
  resource = mm_kind_to_resource (kind);

  row->key = g_strdup_printf ("/%s/%s/%s/%s/%s", *group ? group : "core", version, resource,
                              *ns ? ns : "null", name);
  row->gvr = g_strdup_printf ("%s/%s, Resource=%s", group, version, resource);
  row->ns = g_strdup (ns);
  row->name = g_strdup (name);
  if (!info->resource_version
      || !g_ascii_string_to_unsigned (info->resource_version, 10, 0, G_MAXUINT64, &row->rv, NULL))
    row->rv = 0;
  row->src = json;
  row->src_len = len;
  if (!info->api_version || !info->kind)
    {
      row->head = type_meta_head (json, len, info, api_version, kind);
      row->head_at = info->body_offset;
      row->head_len = strlen (row->head);
    }
  return TRUE;
}
