/* ms-registry.c: the API resources the server knows: a built-in table of
 * the usual Kubernetes and KubeEdge resources, plus every resource found in
 * meta_v2 (CRDs included); and the discovery documents built from them. */
#include "ms.h"

#include <string.h>

struct _MsRegistry {
  GPtrArray *resources;   /* MsResource*, in discovery order */
};

typedef struct {
  const char *group, *version, *resource, *kind, *short_names;
  gboolean namespaced;
  gboolean crd;   /* a CustomResourceDefinition in the cloud, not a type of kube-apiserver */
} Builtin;

static const Builtin builtins[] = {
  { "", "v1", "pods", "Pod", "po", TRUE },
  { "", "v1", "services", "Service", "svc", TRUE },
  { "", "v1", "configmaps", "ConfigMap", "cm", TRUE },
  { "", "v1", "secrets", "Secret", "", TRUE },
  { "", "v1", "endpoints", "Endpoints", "ep", TRUE },
  { "", "v1", "events", "Event", "ev", TRUE },
  { "", "v1", "serviceaccounts", "ServiceAccount", "sa", TRUE },
  { "", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", "pvc", TRUE },
  { "", "v1", "nodes", "Node", "no", FALSE },
  { "", "v1", "namespaces", "Namespace", "ns", FALSE },
  { "", "v1", "persistentvolumes", "PersistentVolume", "pv", FALSE },
  { "apps", "v1", "deployments", "Deployment", "deploy", TRUE },
  { "apps", "v1", "daemonsets", "DaemonSet", "ds", TRUE },
  { "apps", "v1", "replicasets", "ReplicaSet", "rs", TRUE },
  { "apps", "v1", "statefulsets", "StatefulSet", "sts", TRUE },
  { "coordination.k8s.io", "v1", "leases", "Lease", "", TRUE },
  { "discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", "", TRUE },
  { "storage.k8s.io", "v1", "volumeattachments", "VolumeAttachment", "", FALSE },
  { "rbac.authorization.k8s.io", "v1", "roles", "Role", "", TRUE },
  { "rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", "", TRUE },
  { "rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", "", FALSE },
  { "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", "", FALSE },
  { "devices.kubeedge.io", "v1beta1", "devices", "Device", "", TRUE, TRUE },
  { "devices.kubeedge.io", "v1beta1", "devicemodels", "DeviceModel", "", TRUE, TRUE },
};

static void
resource_free (gpointer p)
{
  MsResource *r = p;
  g_free (r->group);
  g_free (r->version);
  g_free (r->resource);
  g_free (r->kind);
  g_free (r->singular);
  g_strfreev (r->short_names);
  g_free (r);
}

static MsResource *
resource_new (const char *group, const char *version, const char *resource,
              const char *kind, const char *short_names, gboolean namespaced, gboolean builtin)
{
  MsResource *r = g_new0 (MsResource, 1);
  r->group = g_strdup (group);
  r->version = g_strdup (version);
  r->resource = g_strdup (resource);
  r->kind = g_strdup (kind);
  r->singular = g_ascii_strdown (kind, -1);
  r->short_names = short_names && *short_names ? g_strsplit (short_names, ",", -1)
                                               : g_new0 (char *, 1);
  r->namespaced = namespaced;
  r->builtin = builtin;
  return r;
}

/* A registry with the built-in resources. */
MsRegistry *
ms_registry_new (void)
{
  MsRegistry *reg = g_new0 (MsRegistry, 1);
  reg->resources = g_ptr_array_new_with_free_func (resource_free);
  for (guint i = 0; i < G_N_ELEMENTS (builtins); i++)
    {
      const Builtin *b = &builtins[i];
      MsResource *r = resource_new (b->group, b->version, b->resource, b->kind,
                                    b->short_names, b->namespaced, TRUE);
      r->strategic_merge = !b->crd;
      g_ptr_array_add (reg->resources, r);
    }
  return reg;
}

/* Frees the registry. */
void
ms_registry_free (MsRegistry *reg)
{
  if (!reg)
    return;
  g_ptr_array_unref (reg->resources);
  g_free (reg);
}

/* The resource at group/version/resource, or NULL. */
const MsResource *
ms_registry_lookup (MsRegistry *reg, const char *group, const char *version, const char *resource)
{
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      if (strcmp (r->resource, resource) == 0 && strcmp (r->version, version) == 0
          && strcmp (r->group, group) == 0)
        return r;
    }
  return NULL;
}

/* The resource of a kind in group/version, or NULL. */
const MsResource *
ms_registry_lookup_kind (MsRegistry *reg, const char *group, const char *version, const char *kind)
{
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      if (strcmp (r->kind, kind) == 0 && strcmp (r->version, version) == 0
          && strcmp (r->group, group) == 0)
        return r;
    }
  return NULL;
}

/* Adds a resource found in the store; a known one keeps its entry. */
void
ms_registry_learn (MsRegistry *reg, const char *group, const char *version,
                   const char *resource, const char *kind, gboolean namespaced)
{
  g_autofree char *guessed = NULL;
  if (!version || !*version || !resource || !*resource || strchr (resource, '/')
      || ms_registry_lookup (reg, group, version, resource))
    return;
  if (!kind || !*kind)
    kind = guessed = ms_resource_to_kind (resource);
  g_ptr_array_add (reg->resources, resource_new (group, version, resource, kind, NULL,
                                                 namespaced, FALSE));
}

/* Tells whether any resource lives in group/version. */
gboolean
ms_registry_has_group_version (MsRegistry *reg, const char *group, const char *version)
{
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      if (strcmp (r->group, group) == 0 && (!version || strcmp (r->version, version) == 0))
        return TRUE;
    }
  return FALSE;
}

/* The resources of group/version, in discovery order (borrowed; empty
 * when the group-version is unknown). */
GPtrArray *
ms_registry_resources_of (MsRegistry *reg, const char *group, const char *version)
{
  GPtrArray *found = g_ptr_array_new ();
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      if (strcmp (r->group, group) == 0 && strcmp (r->version, version) == 0)
        g_ptr_array_add (found, r);
    }
  return found;
}

/* One resource of each group-version (its first), in discovery order
 * (borrowed): the list of the group-versions served. */
GPtrArray *
ms_registry_group_versions (MsRegistry *reg)
{
  GPtrArray *firsts = g_ptr_array_new ();
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      gboolean seen = FALSE;
      for (guint k = 0; k < firsts->len && !seen; k++)
        {
          const MsResource *f = firsts->pdata[k];
          seen = strcmp (f->group, r->group) == 0 && strcmp (f->version, r->version) == 0;
        }
      if (!seen)
        g_ptr_array_add (firsts, r);
    }
  return firsts;
}

/* "v1" for core, "apps/v1" otherwise. */
char *
ms_registry_group_version_string (const char *group, const char *version)
{
  return group && *group ? g_strdup_printf ("%s/%s", group, version) : g_strdup (version);
}

static char *
finish (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}

static void
add_str (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

/* The /api document. */
char *
ms_registry_api_versions (MsRegistry *reg, const char *server_address)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "kind", "APIVersions");
  json_builder_set_member_name (b, "versions");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, "v1");
  json_builder_end_array (b);
  json_builder_set_member_name (b, "serverAddressByClientCIDRs");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  add_str (b, "clientCIDR", "0.0.0.0/0");
  add_str (b, "serverAddress", server_address);
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  return finish (b);
}

/* The versions of a group, in order of first appearance. */
static GPtrArray *
group_versions (MsRegistry *reg, const char *group)
{
  GPtrArray *versions = g_ptr_array_new ();
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      gboolean seen = FALSE;
      if (strcmp (r->group, group) != 0)
        continue;
      for (guint k = 0; k < versions->len && !seen; k++)
        seen = strcmp (versions->pdata[k], r->version) == 0;
      if (!seen)
        g_ptr_array_add (versions, r->version);
    }
  return versions;
}

static void
add_group (JsonBuilder *b, MsRegistry *reg, const char *group)
{
  g_autoptr (GPtrArray) versions = group_versions (reg, group);
  g_autofree char *preferred = ms_registry_group_version_string (group, versions->pdata[0]);

  add_str (b, "name", group);
  json_builder_set_member_name (b, "versions");
  json_builder_begin_array (b);
  for (guint i = 0; i < versions->len; i++)
    {
      g_autofree char *gv = ms_registry_group_version_string (group, versions->pdata[i]);
      json_builder_begin_object (b);
      add_str (b, "groupVersion", gv);
      add_str (b, "version", versions->pdata[i]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "preferredVersion");
  json_builder_begin_object (b);
  add_str (b, "groupVersion", preferred);
  add_str (b, "version", versions->pdata[0]);
  json_builder_end_object (b);
}

/* The /apis document: every named group. */
char *
ms_registry_group_list (MsRegistry *reg)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  json_builder_begin_object (b);
  add_str (b, "kind", "APIGroupList");
  add_str (b, "apiVersion", "v1");
  json_builder_set_member_name (b, "groups");
  json_builder_begin_array (b);
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      if (!*r->group || !g_hash_table_add (seen, r->group))
        continue;
      json_builder_begin_object (b);
      add_group (b, reg, r->group);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return finish (b);
}

/* The /apis/<group> document, or NULL when the group is unknown. */
char *
ms_registry_group (MsRegistry *reg, const char *group)
{
  g_autoptr (JsonBuilder) b = NULL;
  if (!*group || !ms_registry_has_group_version (reg, group, NULL))
    return NULL;
  b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "kind", "APIGroup");
  add_str (b, "apiVersion", "v1");
  add_group (b, reg, group);
  json_builder_end_object (b);
  return finish (b);
}

/* The APIResourceList of group/version, or NULL when unknown. */
char *
ms_registry_resource_list (MsRegistry *reg, const char *group, const char *version)
{
  static const char *const verbs[] = {
    "create", "delete", "get", "list", "patch", "update", "watch",
  };
  g_autoptr (JsonBuilder) b = NULL;
  g_autofree char *gv = NULL;

  if (!ms_registry_has_group_version (reg, group, version))
    return NULL;
  gv = ms_registry_group_version_string (group, version);
  b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "kind", "APIResourceList");
  add_str (b, "apiVersion", "v1");
  add_str (b, "groupVersion", gv);
  json_builder_set_member_name (b, "resources");
  json_builder_begin_array (b);
  for (guint i = 0; i < reg->resources->len; i++)
    {
      MsResource *r = reg->resources->pdata[i];
      if (strcmp (r->group, group) != 0 || strcmp (r->version, version) != 0)
        continue;
      json_builder_begin_object (b);
      add_str (b, "name", r->resource);
      add_str (b, "singularName", r->singular);
      json_builder_set_member_name (b, "namespaced");
      json_builder_add_boolean_value (b, r->namespaced);
      add_str (b, "kind", r->kind);
      json_builder_set_member_name (b, "verbs");
      json_builder_begin_array (b);
      for (guint k = 0; k < G_N_ELEMENTS (verbs); k++)
        json_builder_add_string_value (b, verbs[k]);
      json_builder_end_array (b);
      if (r->short_names[0])
        {
          json_builder_set_member_name (b, "shortNames");
          json_builder_begin_array (b);
          for (guint k = 0; r->short_names[k]; k++)
            json_builder_add_string_value (b, r->short_names[k]);
          json_builder_end_array (b);
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return finish (b);
}
