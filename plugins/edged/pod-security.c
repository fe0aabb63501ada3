/* pod-security.c: a pod's securityContext, pod- and container-level,
 * read and merged as kubelet merges them (the container's runAsUser,
 * runAsGroup, runAsNonRoot override the pod's; privileged, capabilities,
 * readOnlyRootFilesystem and allowPrivilegeEscalation are the container's
 * own), and turned into CRI's LinuxContainerSecurityContext. */
#include "pod.h"
#include "pod-security.h"

#include <gio/gio.h>
#include <string.h>

#define BAD(...) (g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, __VA_ARGS__), FALSE)

/* Linux capability names (without CAP_), and kubelet's ALL. */
static const char *const known_caps[] = {
  "ALL", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
  "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
  "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
  "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
  "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
  "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
  "PERFMON", "BPF", "CHECKPOINT_RESTORE",
};

/* kubelet's default masked and read-only /proc paths (procMount Default). */
static const char *const masked_paths[] = {
  "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
};
static const char *const readonly_paths[] = {
  "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

/* An optional integer member in [min, max]; *has says whether it was there. */
static gboolean
int_member (JsonObject *o, const char *name, gint64 min, gint64 max, gboolean *has,
            gint64 *value, const char *where, GError **error)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  if (!n || JSON_NODE_HOLDS_NULL (n))
    {
      *has = FALSE;
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < min || json_node_get_int (n) > max)
    return BAD ("%s: securityContext.%s must be an integer from %" G_GINT64_FORMAT " to %"
                G_GINT64_FORMAT, where, name, min, max);
  *has = TRUE;
  *value = json_node_get_int (n);
  return TRUE;
}

/* An optional boolean member; absent leaves *value alone. */
static gboolean
bool_member (JsonObject *o, const char *name, gboolean *has, gboolean *value, const char *where,
             GError **error)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return BAD ("%s: securityContext.%s must be true or false", where, name);
  if (has)
    *has = TRUE;
  *value = json_node_get_boolean (n);
  return TRUE;
}

/* What edged does not apply yet is refused, so that nothing runs with less
 * protection than asked. */
static gboolean
refuse_unsupported (JsonObject *sc, const char *where, GError **error)
{
  static const char *const fields[] = { "seLinuxOptions", "seccompProfile", "sysctls" };
  const char *proc_mount = edged_json_string (sc, "procMount");
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      JsonNode *n = json_object_get_member (sc, fields[i]);
      if (n && !JSON_NODE_HOLDS_NULL (n))
        return BAD ("%s: securityContext.%s is not supported yet", where, fields[i]);
    }
  if (proc_mount && strcmp (proc_mount, "Default"))
    return BAD ("%s: securityContext.procMount %s is not supported yet", where, proc_mount);
  return TRUE;
}

/* The user, group and non-root fields, shared by pod and container level. */
static gboolean
read_identity (JsonObject *sc, EdgedSecuritySpec *out, const char *where, GError **error)
{
  gboolean has;
  gint64 v;
  if (!int_member (sc, "runAsUser", 0, G_MAXINT32, &has, &v, where, error))
    return FALSE;
  if (has)
    out->has_run_as_user = TRUE, out->run_as_user = v;
  if (!int_member (sc, "runAsGroup", 0, G_MAXINT32, &has, &v, where, error))
    return FALSE;
  if (has)
    out->has_run_as_group = TRUE, out->run_as_group = v;
  return bool_member (sc, "runAsNonRoot", NULL, &out->run_as_non_root, where, error);
}

/* Reads spec.securityContext into spec (pod_security, supplemental groups,
 * fsGroup). */
gboolean
edged_pod_security_parse (JsonObject *pod_spec, EdgedPodSpec *spec, GError **error)
{
  JsonObject *sc = edged_json_object (pod_spec, "securityContext");
  JsonNode *groups = sc ? json_object_get_member (sc, "supplementalGroups") : NULL;
  const char *where = "spec";

  if (!sc)
    return TRUE;
  if (!refuse_unsupported (sc, where, error) || !read_identity (sc, &spec->pod_security, where, error)
      || !int_member (sc, "fsGroup", 0, G_MAXINT32, &spec->has_fs_group, &spec->fs_group, where,
                      error))
    return FALSE;
  if (groups && !JSON_NODE_HOLDS_NULL (groups))
    {
      JsonArray *a = JSON_NODE_HOLDS_ARRAY (groups) ? json_node_get_array (groups) : NULL;
      guint n = a ? json_array_get_length (a) : 0;
      if (!a || n > 64)
        return BAD ("spec: securityContext.supplementalGroups must be a list of at most 64 group ids");
      spec->supplemental_groups = g_new0 (gint64, n);
      for (guint i = 0; i < n; i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_INT64
              || json_node_get_int (e) < 0 || json_node_get_int (e) > G_MAXINT32)
            return BAD ("spec: securityContext.supplementalGroups: not a group id");
          spec->supplemental_groups[spec->n_supplemental_groups++] = json_node_get_int (e);
        }
    }
  return TRUE;
}

/* A capability list: names checked, an optional CAP_ prefix dropped. */
static gboolean
read_caps (JsonObject *caps, const char *name, char ***out, const char *where, GError **error)
{
  JsonNode *n = caps ? json_object_get_member (caps, name) : NULL;
  JsonArray *a = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  guint len = a ? json_array_get_length (a) : 0;

  *out = g_new0 (char *, len + 1);
  if (n && !JSON_NODE_HOLDS_NULL (n) && !a)
    return BAD ("%s: capabilities.%s must be a list", where, name);
  if (len > G_N_ELEMENTS (known_caps))
    return BAD ("%s: capabilities.%s has too many entries", where, name);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      const char *cap = JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING
                          ? json_node_get_string (e) : NULL;
      const char *bare;
      gboolean known = FALSE;
      if (!cap)
        return BAD ("%s: capabilities.%s: an entry is not a string", where, name);
      bare = g_str_has_prefix (cap, "CAP_") ? cap + 4 : cap;
      for (gsize k = 0; k < G_N_ELEMENTS (known_caps) && !known; k++)
        known = strcmp (bare, known_caps[k]) == 0;
      if (!known)
        return BAD ("%s: unknown capability \"%.64s\" in capabilities.%s", where, cap, name);
      (*out)[i] = g_strdup (bare);
    }
  return TRUE;
}

/* Reads container.securityContext over the pod's into out (the effective
 * context, as kubelet's DetermineEffectiveSecurityContext). */
gboolean
edged_container_security_parse (JsonObject *container, const EdgedPodSpec *spec,
                                EdgedSecuritySpec *out, GError **error)
{
  JsonObject *sc = edged_json_object (container, "securityContext");
  JsonObject *caps = edged_json_object (sc, "capabilities");
  g_autofree char *where = g_strdup_printf ("container %s", edged_json_string (container, "name"));

  out->has_run_as_user = spec->pod_security.has_run_as_user;
  out->run_as_user = spec->pod_security.run_as_user;
  out->has_run_as_group = spec->pod_security.has_run_as_group;
  out->run_as_group = spec->pod_security.run_as_group;
  out->run_as_non_root = spec->pod_security.run_as_non_root;
  if (!read_caps (caps, "add", &out->cap_add, where, error)
      || !read_caps (caps, "drop", &out->cap_drop, where, error))
    return FALSE;
  if (!sc)
    return TRUE;
  return refuse_unsupported (sc, where, error)
         && read_identity (sc, out, where, error)
         && bool_member (sc, "privileged", NULL, &out->privileged, where, error)
         && bool_member (sc, "readOnlyRootFilesystem", NULL, &out->readonly_rootfs, where, error)
         && bool_member (sc, "allowPrivilegeEscalation", &out->has_allow_escalation,
                         &out->allow_escalation, where, error);
}

/* Frees what s holds. */
void
edged_security_spec_clear (EdgedSecuritySpec *s)
{
  g_clear_pointer (&s->cap_add, g_strfreev);
  g_clear_pointer (&s->cap_drop, g_strfreev);
}

/* kubelet's verifyRunAsNonRoot: NULL when the container may start, else
 * why not (shown as CreateContainerConfigError). The image's user: a uid
 * when image_uid >= 0, else a name; none at all counts as root. */
char *
edged_security_check_non_root (const EdgedPodSpec *spec, guint i, gint64 image_uid,
                               const char *image_user)
{
  const EdgedSecuritySpec *s = &spec->containers[i].security;
  const char *name = spec->containers[i].name;

  if (!s->run_as_non_root)
    return NULL;
  if (s->has_run_as_user)
    return s->run_as_user == 0
             ? g_strdup_printf ("container's runAsUser breaks non-root policy (pod: \"%s_%s(%s)\", "
                                "container: %s)", spec->name, spec->namespace, spec->uid, name)
             : NULL;
  if (image_uid == 0 || (image_uid < 0 && (!image_user || !*image_user)))
    return g_strdup_printf ("container has runAsNonRoot and image will run as root (pod: "
                            "\"%s_%s(%s)\", container: %s)", spec->name, spec->namespace,
                            spec->uid, name);
  if (image_uid < 0)
    return g_strdup_printf ("container has runAsNonRoot and image has non-numeric user (%s), "
                            "cannot verify user is non-root (pod: \"%s_%s(%s)\", container: %s)",
                            image_user, spec->name, spec->namespace, spec->uid, name);
  return NULL;
}

/* Fills sc (CRI LinuxContainerSecurityContext) for container i, as kubelet's
 * determineEffectiveSecurityContext; store holds what sc points to and is
 * freed with edged_security_store_clear() after the call. */
void
edged_security_fill (const EdgedPodSpec *spec, guint i, gint64 image_uid, const char *image_user,
                     Runtime__V1__LinuxContainerSecurityContext *sc, EdgedSecurityStore *store)
{
  const EdgedSecuritySpec *s = &spec->containers[i].security;

  runtime__v1__capability__init (&store->caps);
  runtime__v1__int64_value__init (&store->user);
  runtime__v1__int64_value__init (&store->group);
  store->caps.add_capabilities = s->cap_add;
  store->caps.n_add_capabilities = g_strv_length (s->cap_add);
  store->caps.drop_capabilities = s->cap_drop;
  store->caps.n_drop_capabilities = g_strv_length (s->cap_drop);
  sc->capabilities = &store->caps;
  sc->privileged = s->privileged;
  sc->readonly_rootfs = s->readonly_rootfs;
  /* the user: the context's, else the image's (kubelet passes it on) */
  if (s->has_run_as_user)
    {
      store->user.value = s->run_as_user;
      sc->run_as_user = &store->user;
    }
  else if (image_uid >= 0 || !image_user || !*image_user)
    {
      store->user.value = MAX (image_uid, 0);
      sc->run_as_user = &store->user;
    }
  else
    {
      store->username = g_strdup (image_user);
      sc->run_as_username = store->username;
    }
  if (s->has_run_as_group)
    {
      store->group.value = s->run_as_group;
      sc->run_as_group = &store->group;
    }
  /* fsGroup first, then supplementalGroups */
  store->groups = g_new0 (gint64, spec->n_supplemental_groups + 1);
  if (spec->has_fs_group)
    store->groups[sc->n_supplemental_groups++] = spec->fs_group;
  for (guint g = 0; g < spec->n_supplemental_groups; g++)
    store->groups[sc->n_supplemental_groups++] = spec->supplemental_groups[g];
  sc->supplemental_groups = store->groups;
  sc->no_new_privs = s->has_allow_escalation && !s->allow_escalation;
  if (!s->privileged)
    {
      sc->masked_paths = (char **) masked_paths;
      sc->n_masked_paths = G_N_ELEMENTS (masked_paths);
      sc->readonly_paths = (char **) readonly_paths;
      sc->n_readonly_paths = G_N_ELEMENTS (readonly_paths);
    }
}

/* Fills the sandbox's security context (pod-level user, group,
 * supplemental groups; privileged when a container is). */
void
edged_security_fill_sandbox (const EdgedPodSpec *spec, Runtime__V1__LinuxSandboxSecurityContext *sc,
                             EdgedSecurityStore *store)
{
  runtime__v1__int64_value__init (&store->user);
  runtime__v1__int64_value__init (&store->group);
  if (spec->pod_security.has_run_as_user)
    {
      store->user.value = spec->pod_security.run_as_user;
      sc->run_as_user = &store->user;
    }
  if (spec->pod_security.has_run_as_group)
    {
      store->group.value = spec->pod_security.run_as_group;
      sc->run_as_group = &store->group;
    }
  store->groups = g_new0 (gint64, spec->n_supplemental_groups + 1);
  if (spec->has_fs_group)
    store->groups[sc->n_supplemental_groups++] = spec->fs_group;
  for (guint g = 0; g < spec->n_supplemental_groups; g++)
    store->groups[sc->n_supplemental_groups++] = spec->supplemental_groups[g];
  sc->supplemental_groups = store->groups;
  for (guint i = 0; i < spec->n_containers; i++)
    sc->privileged |= spec->containers[i].security.privileged;
}

/* Frees what a fill put in store. */
void
edged_security_store_clear (EdgedSecurityStore *store)
{
  g_clear_pointer (&store->groups, g_free);
  g_clear_pointer (&store->username, g_free);
}

static void
on_image_user (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  EdgedContainer *c = &pod->containers[pod->next];
  Runtime__V1__ImageStatusResponse *r = (Runtime__V1__ImageStatusResponse *) response;

  c->image_uid = r && r->image && r->image->uid ? r->image->uid->value : -1;
  g_free (c->image_user);
  c->image_user = g_strdup (r && r->image ? r->image->username : NULL);
  c->image_known = TRUE;
  if (error)
    ec_log_warning (pod->edged->context, "pod %s/%s: the user of image %s is unknown: %s",
                    pod->spec->namespace, pod->spec->name, pod->spec->containers[pod->next].image,
                    error->message);
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  edged_pod_create_container (pod);
}

/* The user of container pod->next's image (ImageStatus), as kubelet reads
 * it before each CreateContainer (after a pull, after adoption); then
 * edged_pod_create_container() again. */
void
edged_pod_lookup_image_user (EdgedPod *pod)
{
  Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
  Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
  spec.image = pod->spec->containers[pod->next].image;
  req.image = &spec;
  edged_cri_invoke (pod->edged->images, &edged_cri_image_status, &req.base,
                    (guint) pod->edged->request_timeout_ms, on_image_user, pod, NULL);
}
