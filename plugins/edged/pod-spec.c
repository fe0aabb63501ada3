/* pod-spec.c: reads a v1.Pod (bounded in size and depth) into an
 * EdgedPodSpec; what edged cannot run yet is refused with a reason. */
#include "pod-spec.h"
#include "pod-volumes.h"

#include <edgecore.h>
#include <gio/gio.h>
#include <string.h>

/* The string member name of o; NULL when absent or not a string. */
const char *
edged_json_string (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
           ? json_node_get_string (n) : NULL;
}

/* The object member name of o; NULL when absent or not an object. */
JsonObject *
edged_json_object (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static JsonArray *
arr_member (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

/* A list of strings; FALSE if an element is not a string. */
static gboolean
str_list (JsonArray *a, char ***out)
{
  guint n = a ? json_array_get_length (a) : 0;
  *out = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        return FALSE;
      (*out)[i] = g_strdup (json_node_get_string (e));
    }
  return TRUE;
}

/* Sets error (in a function with a GError **error) and gives FALSE. */
#define BAD(...) (g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, __VA_ARGS__), FALSE)

static gboolean
read_container (JsonObject *c, EdgedContainerSpec *spec, gboolean *has_resources,
                const EdgedPodSpec *pod, GError **error)
{
  JsonArray *env = arr_member (c, "env");
  JsonObject *resources = edged_json_object (c, "resources");
  guint n_env = env ? json_array_get_length (env) : 0;
  const char *name = edged_json_string (c, "name");
  const char *image = edged_json_string (c, "image");
  const char *policy = edged_json_string (c, "imagePullPolicy");

  if (!name || !*name)
    return BAD ("a container has no name");
  spec->name = g_strdup (name);
  if (!image || !*image)
    return BAD ("container %s has no image", name);
  spec->image = g_strdup (image);
  if (!policy)
    policy = g_str_has_suffix (image, ":latest") || !strchr (strrchr (image, '/') ? strrchr (image, '/') : image, ':')
               ? "Always" : "IfNotPresent";
  if (strcmp (policy, "Always") && strcmp (policy, "IfNotPresent") && strcmp (policy, "Never"))
    return BAD ("unknown imagePullPolicy %s", policy);
  spec->pull_policy = g_strdup (policy);
  if (!str_list (arr_member (c, "command"), &spec->command)
      || !str_list (arr_member (c, "args"), &spec->args))
    return BAD ("container %s: command and args must be lists of strings", name);
  spec->working_dir = g_strdup (edged_json_string (c, "workingDir"));
  spec->env_names = g_new0 (char *, n_env + 1);
  spec->env_values = g_new0 (char *, n_env + 1);
  for (guint i = 0; i < n_env; i++)
    {
      JsonNode *e = json_array_get_element (env, i);
      JsonObject *o = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      const char *ename = edged_json_string (o, "name");
      if (!ename || !*ename)
        return BAD ("container %s: an env entry has no name", name);
      spec->env_names[i] = g_strdup (ename);
      spec->env_values[i] = g_strdup (edged_json_string (o, "value") ? edged_json_string (o, "value") : "");
    }
  {
    /* fields that change what runs: refused until they are built */
    static const char *unsupported[] = { "volumeDevices" };
    for (gsize i = 0; i < G_N_ELEMENTS (unsupported); i++)
      if (arr_member (c, unsupported[i]) && json_array_get_length (arr_member (c, unsupported[i])))
        return BAD ("container %s: %s is not supported yet", name, unsupported[i]);
  }
  if (resources && (edged_json_object (resources, "requests") || edged_json_object (resources, "limits")))
    *has_resources = TRUE;
  /* probes and lifecycle handlers: probe-spec.c */
  {
    static const char *probes[EDGED_N_PROBES] = { "livenessProbe", "readinessProbe", "startupProbe" };
    gboolean ok = TRUE;
    for (int i = 0; ok && i < EDGED_N_PROBES; i++)
      ok = edged_probe_spec_parse (c, probes[i], FALSE, &spec->probes[i], error);
    ok = ok && edged_probe_spec_parse (c, "postStart", TRUE, &spec->post_start, error)
         && edged_probe_spec_parse (c, "preStop", TRUE, &spec->pre_stop, error);
    if (!ok)
      {
        g_prefix_error (error, "container %s: ", name);
        return FALSE;
      }
  }
  /* ctr: securityContext, resources, ports; the hash of the whole container */
  if (!edged_container_security_parse (c, pod, &spec->security, error)
      || !edged_container_resources_parse (c, spec, error)
      || !edged_container_ports_parse (c, spec, error))
    return FALSE;
  {
    g_autoptr (JsonNode) node = json_node_init_object (json_node_alloc (), c);
    g_autofree char *text = ec_json_to_string (node, FALSE);
    spec->hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
  }
  return TRUE;
}

/* Reads a Pod; the error says what is wrong with it. */
EdgedPodSpec *
edged_pod_spec_parse (const char *json, gsize length, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (EdgedPodSpec) spec = g_new0 (EdgedPodSpec, 1);
  JsonObject *pod, *meta, *pspec, *labels;
  JsonArray *containers;
  const char *ns, *name, *uid, *policy;

  root = ec_json_parse (json, length, EDGED_POD_MAX_DEPTH, EDGED_POD_MAX_BYTES, error);
  if (!root)
    {
      if (error && *error && (g_error_matches (*error, EC_JSON_ERROR, EC_JSON_ERROR_DEPTH)
                              || g_error_matches (*error, EC_JSON_ERROR, EC_JSON_ERROR_SIZE)))
        g_prefix_error (error, "pod larger than 1 MiB or nested deeper than 32 levels: ");
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "a pod must be a JSON object");
      return NULL;
    }
  pod = json_node_get_object (root);
  meta = edged_json_object (pod, "metadata");
  pspec = edged_json_object (pod, "spec");
  ns = edged_json_string (meta, "namespace");
  name = edged_json_string (meta, "name");
  uid = edged_json_string (meta, "uid");
  if (!name || !*name || !uid || !*uid)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pod without metadata.name or metadata.uid");
      return NULL;
    }
  spec->namespace = g_strdup (ns && *ns ? ns : "default");
  spec->name = g_strdup (name);
  spec->uid = g_strdup (uid);
  spec->deleting = edged_json_string (meta, "deletionTimestamp") != NULL;
  if (!pspec)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pod %s has no spec", name);
      return NULL;
    }
  spec->node_name = g_strdup (edged_json_string (pspec, "nodeName") ? edged_json_string (pspec, "nodeName") : "");
  policy = edged_json_string (pspec, "restartPolicy");
  spec->restart_policy = g_strdup (policy ? policy : "Always");
  spec->host_network = json_object_has_member (pspec, "hostNetwork")
                       && JSON_NODE_HOLDS_VALUE (json_object_get_member (pspec, "hostNetwork"))
                       && json_object_get_boolean_member (pspec, "hostNetwork");
  spec->grace_seconds = json_object_has_member (pspec, "terminationGracePeriodSeconds")
                          ? json_object_get_int_member (pspec, "terminationGracePeriodSeconds") : 30;
  labels = edged_json_object (meta, "labels");
  {
    guint n = labels ? json_object_get_size (labels) : 0;
    g_autoptr (GList) keys = labels ? json_object_get_members (labels) : NULL;
    guint i = 0;
    spec->label_keys = g_new0 (char *, n + 1);
    spec->label_values = g_new0 (char *, n + 1);
    for (GList *l = keys; l; l = l->next)
      {
        const char *v = edged_json_string (labels, l->data);
        if (!v)
          continue;
        spec->label_keys[i] = g_strdup (l->data);
        spec->label_values[i++] = g_strdup (v);
      }
  }
  if (!edged_pod_security_parse (pspec, spec, error))   /* ctr */
    {
      g_prefix_error (error, "pod %s: ", name);
      return NULL;
    }
  /* vol: volumes, mounts and references checked (pod-volumes.c) */
  if (!edged_pod_refs_check (pspec, error))
    {
      g_prefix_error (error, "pod %s: ", name);
      return NULL;
    }
  containers = arr_member (pspec, "containers");
  spec->n_containers = containers ? json_array_get_length (containers) : 0;
  if (spec->n_containers == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pod %s has no containers", name);
      return NULL;
    }
  /* ctr: the init containers come first in spec->containers */
  {
    JsonArray *inits = arr_member (pspec, "initContainers");
    spec->n_init = inits ? json_array_get_length (inits) : 0;
    if (spec->n_init + spec->n_containers > 256)
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pod %s has more than 256 containers", name);
        return NULL;
      }
    spec->n_containers += spec->n_init;
  }
  spec->containers = g_new0 (EdgedContainerSpec, spec->n_containers);
  for (guint i = 0; i < spec->n_containers; i++)
    {
      JsonNode *c = i < spec->n_init ? json_array_get_element (arr_member (pspec, "initContainers"), i)
                                     : json_array_get_element (containers, i - spec->n_init);
      if (!JSON_NODE_HOLDS_OBJECT (c))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pod %s: a container is not an object", name);
          return NULL;
        }
      if (!read_container (json_node_get_object (c), &spec->containers[i], &spec->has_resources,
                           spec, error))
        {
          g_prefix_error (error, "pod %s: ", name);
          return NULL;
        }
      for (guint k = 0; k < i; k++)
        if (!strcmp (spec->containers[k].name, spec->containers[i].name))
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                         "pod %s: two containers are named %s", name, spec->containers[i].name);
            return NULL;
          }
    }
  spec->qos = edged_pod_qos_class (spec);
  spec->object = json_node_ref (root);
  return g_steal_pointer (&spec);
}

/* Frees a pod spec. */
void
edged_pod_spec_free (EdgedPodSpec *spec)
{
  if (!spec)
    return;
  for (guint i = 0; spec->containers && i < spec->n_containers; i++)
    {
      EdgedContainerSpec *c = &spec->containers[i];
      g_free (c->name);
      g_free (c->image);
      g_free (c->pull_policy);
      g_strfreev (c->command);
      g_strfreev (c->args);
      g_strfreev (c->env_names);
      g_strfreev (c->env_values);
      g_free (c->working_dir);
      edged_security_spec_clear (&c->security);
      for (guint p = 0; p < c->n_ports; p++)
        g_free (c->ports[p].host_ip);
      g_free (c->ports);
      g_free (c->hash);
      for (int p = 0; p < EDGED_N_PROBES; p++)
        edged_probe_spec_free (c->probes[p]);
      edged_probe_spec_free (c->post_start);
      edged_probe_spec_free (c->pre_stop);
    }
  edged_security_spec_clear (&spec->pod_security);
  g_free (spec->supplemental_groups);
  g_free (spec->containers);
  g_strfreev (spec->label_keys);
  g_strfreev (spec->label_values);
  g_free (spec->namespace);
  g_free (spec->name);
  g_free (spec->uid);
  g_free (spec->node_name);
  g_free (spec->restart_policy);
  if (spec->object)
    json_node_unref (spec->object);
  g_free (spec);
}
