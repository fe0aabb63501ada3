/* pod-volumes.c: a pod's volumes, set up before its sandbox as kubelet's
 * volume manager does, under <root-directory>/pods/<uid>/volumes/:
 *
 *   emptyDir     kubernetes.io~empty-dir/<name>, mode 0777, shared by the
 *                pod's containers; medium Memory: a tmpfs (sizeLimit)
 *   hostPath     the host's path, after the `type` check
 *   configMap    kubernetes.io~configmap/<name>    } written atomically
 *   secret       kubernetes.io~secret/<name>       } (pod-volume-writer.c)
 *   downwardAPI  kubernetes.io~downward-api/<name> } from the objects read
 *   projected    kubernetes.io~projected/<name>    } (store-objects.c)
 *
 * and the CRI mounts of each container's volumeMounts. The pod's folder
 * goes when the pod is gone. */
#include "pod-objects.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

void edged_pod_volumes_set_ready (EdgedPod *pod, gboolean ready);

#define BAD(...) (g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, __VA_ARGS__), FALSE)

static JsonArray *
arr (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static JsonObject *
element (JsonArray *a, guint i)
{
  JsonNode *n = json_array_get_element (a, i);
  return JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* An integer member; def when absent or not an integer. */
static gint64
int_member (JsonObject *o, const char *name, gint64 def)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64
           ? json_node_get_int (n) : def;
}

static gboolean
bool_member (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_BOOLEAN
         && json_node_get_boolean (n);
}

static const char *const sources[] = { "emptyDir", "hostPath", "configMap", "secret", "downwardAPI",
                                       "projected" };

/* The one source of volume v, or NULL. */
static const char *
volume_kind (JsonObject *v)
{
  const char *kind = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (sources); i++)
    if (edged_json_object (v, sources[i]))
      {
        if (kind)
          return NULL;
        kind = sources[i];
      }
  return kind;
}

static gboolean
mode_check (JsonObject *o, const char *name, const char *where, GError **error)
{
  gint64 mode = int_member (o, name, 0);
  if (mode < 0 || mode > 0777)
    return BAD ("%s: %s %" G_GINT64_FORMAT " must be a number between 0 and 0777 (octal), both inclusive",
                where, name, mode);
  return TRUE;
}

/* items of a configMap/secret/downwardAPI source */
static gboolean
items_check (JsonObject *src, const char *where, gboolean downward, GError **error)
{
  JsonArray *items = arr (src, "items");
  for (guint i = 0; items && i < json_array_get_length (items); i++)
    {
      JsonObject *it = element (items, i);
      const char *path = edged_json_string (it, "path");
      g_autoptr (GError) local = NULL;
      if (!it)
        return BAD ("%s: an item is not an object", where);
      if (!downward && !edged_json_string (it, "key"))
        return BAD ("%s: an item has no key", where);
      if (!edged_volume_path_check (path, &local))
        return BAD ("%s: item %s", where, local->message);
      if (!mode_check (it, "mode", where, error))
        return FALSE;
      if (downward && !edged_json_object (it, "fieldRef") && !edged_json_object (it, "resourceFieldRef"))
        return BAD ("%s: item %s needs a fieldRef or a resourceFieldRef", where, path);
    }
  return TRUE;
}

static gboolean
volume_check (JsonObject *v, GError **error)
{
  const char *name = edged_json_string (v, "name");
  const char *kind = volume_kind (v);
  JsonObject *src;
  g_autofree char *where = NULL;

  if (!name || !*name)
    return BAD ("a volume has no name");
  if (!kind)
    return BAD ("volume %s: exactly one of emptyDir, hostPath, configMap, secret, downwardAPI, "
                "projected is supported", name);
  if (strchr (name, '/') || !strcmp (name, ".") || !strcmp (name, ".."))
    return BAD ("volume %s: invalid name", name);
  where = g_strdup_printf ("volume %s", name);
  src = edged_json_object (v, kind);
  if (!strcmp (kind, "hostPath"))
    {
      const char *path = edged_json_string (src, "path");
      const char *type = edged_json_string (src, "type");
      static const char *const types[] = { "", "DirectoryOrCreate", "Directory", "FileOrCreate",
                                           "File", "Socket", "CharDevice", "BlockDevice" };
      gboolean known = !type;
      for (gsize i = 0; type && i < G_N_ELEMENTS (types); i++)
        known |= !strcmp (type, types[i]);
      if (!path || path[0] != '/')
        return BAD ("volume %s: hostPath.path must be an absolute path", name);
      if (!known)
        return BAD ("volume %s: unknown hostPath type %s", name, type);
      return TRUE;
    }
  if (!strcmp (kind, "emptyDir"))
    {
      const char *limit = edged_json_string (src, "sizeLimit");
      const char *medium = edged_json_string (src, "medium");
      gint64 milli;
      if (limit && !edged_quantity_parse (limit, &milli, NULL))
        return BAD ("volume %s: invalid sizeLimit %s", name, limit);
      if (medium && *medium && strcmp (medium, "Memory"))
        return BAD ("volume %s: emptyDir medium %s is not supported", name, medium);
      return TRUE;
    }
  if (!mode_check (src, "defaultMode", where, error))
    return FALSE;
  if (!strcmp (kind, "configMap") || !strcmp (kind, "secret"))
    {
      if (!edged_json_string (src, !strcmp (kind, "secret") ? "secretName" : "name"))
        return BAD ("volume %s: %s names no object", name, kind);
      return items_check (src, where, FALSE, error);
    }
  if (!strcmp (kind, "downwardAPI"))
    return items_check (src, where, TRUE, error);
  /* projected */
  {
    JsonArray *list = arr (src, "sources");
    for (guint i = 0; list && i < json_array_get_length (list); i++)
      {
        JsonObject *s = element (list, i);
        if (edged_json_object (s, "serviceAccountToken"))
          {
            JsonObject *t = edged_json_object (s, "serviceAccountToken");
            g_autoptr (GError) local = NULL;
            if (!edged_volume_path_check (edged_json_string (t, "path"), &local))
              return BAD ("%s: serviceAccountToken %s", where, local->message);
            continue;
          }
        if (edged_json_object (s, "configMap") && !items_check (edged_json_object (s, "configMap"), where, FALSE, error))
          return FALSE;
        if (edged_json_object (s, "secret") && !items_check (edged_json_object (s, "secret"), where, FALSE, error))
          return FALSE;
        if (edged_json_object (s, "downwardAPI")
            && !items_check (edged_json_object (s, "downwardAPI"), where, TRUE, error))
          return FALSE;
        if (!edged_json_object (s, "configMap") && !edged_json_object (s, "secret")
            && !edged_json_object (s, "downwardAPI"))
          return BAD ("volume %s: a projected source is not configMap, secret, downwardAPI or "
                      "serviceAccountToken", name);
      }
  }
  return TRUE;
}

/**
 * edged_pod_refs_check:
 * Checks a pod spec's volumes and every container's volumeMounts (a known
 * volume, an absolute mountPath, a relative subPath without ".."), and
 * that env valueFrom names something edged can read.
 */
gboolean
edged_pod_refs_check (JsonObject *pspec, GError **error)
{
  JsonArray *vols = arr (pspec, "volumes"), *cs = arr (pspec, "containers");
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; vols && i < json_array_get_length (vols); i++)
    {
      JsonObject *v = element (vols, i);
      if (!v)
        return BAD ("a volume is not an object");
      if (!volume_check (v, error))
        return FALSE;
      if (!g_hash_table_add (names, (gpointer) edged_json_string (v, "name")))
        return BAD ("volume %s is defined twice", edged_json_string (v, "name"));
    }
  for (guint i = 0; cs && i < json_array_get_length (cs); i++)
    {
      JsonObject *c = element (cs, i);
      JsonArray *mounts = arr (c, "volumeMounts"), *env = arr (c, "env");
      const char *cname = edged_json_string (c, "name");
      for (guint j = 0; mounts && j < json_array_get_length (mounts); j++)
        {
          JsonObject *m = element (mounts, j);
          const char *vname = edged_json_string (m, "name");
          const char *path = edged_json_string (m, "mountPath");
          const char *sub = edged_json_string (m, "subPath");
          const char *prop = edged_json_string (m, "mountPropagation");
          g_autoptr (GError) local = NULL;
          if (!vname || !g_hash_table_contains (names, vname))
            return BAD ("container %s: volumeMount %s names no volume of the pod", cname,
                        vname ? vname : "(no name)");
          if (!path || path[0] != '/')
            return BAD ("container %s: volumeMount %s: mountPath must be an absolute path", cname, vname);
          if (sub && *sub && !edged_volume_path_check (sub, &local))
            return BAD ("container %s: volumeMount %s: subPath: %s", cname, vname, local->message);
          if (edged_json_string (m, "subPathExpr"))
            return BAD ("container %s: volumeMount %s: subPathExpr is not supported yet", cname, vname);
          if (prop && strcmp (prop, "None"))
            return BAD ("container %s: volumeMount %s: mountPropagation %s is not supported yet",
                        cname, vname, prop);
        }
      for (guint j = 0; env && j < json_array_get_length (env); j++)
        {
          JsonObject *vf = edged_json_object (element (env, j), "valueFrom");
          JsonObject *field = edged_json_object (vf, "fieldRef");
          JsonObject *res = edged_json_object (vf, "resourceFieldRef");
          if (field)
            {
              static const char *const ok[] = { "metadata.name", "metadata.namespace", "metadata.uid",
                                                "spec.nodeName", "spec.serviceAccountName",
                                                "status.hostIP", "status.podIP", "status.podIPs" };
              const char *p = edged_json_string (field, "fieldPath");
              gboolean good = p && (g_str_has_prefix (p, "metadata.labels['")
                                    || g_str_has_prefix (p, "metadata.annotations['"));
              for (gsize k = 0; p && k < G_N_ELEMENTS (ok); k++)
                good |= !strcmp (p, ok[k]);
              if (!good)
                return BAD ("container %s: env %s: unsupported fieldPath %s", cname,
                            edged_json_string (element (env, j), "name"), p ? p : "(none)");
            }
          if (res)
            {
              const char *r = edged_json_string (res, "resource");
              const char *d = edged_json_string (res, "divisor");
              gint64 milli;
              if (!r || !(g_str_has_prefix (r, "limits.") || g_str_has_prefix (r, "requests.")))
                return BAD ("container %s: env %s: unsupported resource %s", cname,
                            edged_json_string (element (env, j), "name"), r ? r : "(none)");
              if (d && !edged_quantity_parse (d, &milli, NULL))
                return BAD ("container %s: env %s: invalid divisor %s", cname,
                            edged_json_string (element (env, j), "name"), d);
            }
        }
    }
  return TRUE;
}

/* ---- paths --------------------------------------------------------------- */

/* <root-directory>/pods/<uid> */
char *
edged_pod_dir (EdgedPod *pod)
{
  return g_build_filename (pod->edged->root_directory, "pods", pod->spec->uid, NULL);
}

static const char *
plugin_dir (const char *kind)
{
  if (!strcmp (kind, "emptyDir"))
    return "kubernetes.io~empty-dir";
  if (!strcmp (kind, "configMap"))
    return "kubernetes.io~configmap";
  if (!strcmp (kind, "secret"))
    return "kubernetes.io~secret";
  if (!strcmp (kind, "downwardAPI"))
    return "kubernetes.io~downward-api";
  return "kubernetes.io~projected";
}

/* Where volume v lives on the host. */
static char *
volume_host_path (EdgedPod *pod, JsonObject *v)
{
  const char *kind = volume_kind (v);
  g_autofree char *dir = NULL;
  if (!strcmp (kind, "hostPath"))
    return g_strdup (edged_json_string (edged_json_object (v, kind), "path"));
  dir = edged_pod_dir (pod);
  return g_build_filename (dir, "volumes", plugin_dir (kind), edged_json_string (v, "name"), NULL);
}

static JsonArray *
pod_volumes (EdgedPod *pod)
{
  return arr (edged_json_object (json_node_get_object (pod->spec->object), "spec"), "volumes");
}

/* ---- payloads -------------------------------------------------------------- */

/* The files of a configMap or secret source into payload. */
static gboolean
object_payload (EdgedPod *pod, GPtrArray *payload, JsonObject *src, const char *type,
                const char *name, gint64 mode, GError **error)
{
  const char *problem = NULL;
  JsonObject *o = edged_pod_object (pod, type, name, &problem);
  JsonArray *items = arr (src, "items");
  gboolean optional = bool_member (src, "optional");

  if (!o)
    {
      if (optional)
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s",
                   problem ? problem : "not read yet");
      return FALSE;
    }
  if (items)
    {
      for (guint i = 0; i < json_array_get_length (items); i++)
        {
          JsonObject *it = element (items, i);
          const char *key = edged_json_string (it, "key");
          g_autoptr (GBytes) v = edged_object_value (o, type, key);
          if (!v)
            {
              if (optional)
                continue;
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                           "%s references non-existent %s key: %s", type,
                           !strcmp (type, "secret") ? "secret" : "config", key);
              return FALSE;
            }
          edged_volume_payload_add (payload, edged_json_string (it, "path"), v,
                                    (guint) int_member (it, "mode", mode));
        }
      return TRUE;
    }
  {
    const char *maps[] = { "data", "binaryData" };
    for (gsize m = 0; m < G_N_ELEMENTS (maps); m++)
      {
        JsonObject *data = edged_json_object (o, maps[m]);
        g_autoptr (GList) keys = data ? json_object_get_members (data) : NULL;
        if (m == 1 && !strcmp (type, "secret"))
          break;
        for (GList *l = keys; l; l = l->next)
          {
            g_autoptr (GBytes) v = edged_object_value (o, type, l->data);
            g_autoptr (GError) bad = NULL;
            if (!v || !edged_volume_path_check (l->data, &bad))
              {
                g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s \"%s\": key %s cannot "
                             "be a file: %s", type, name, (char *) l->data,
                             bad ? bad->message : "not base64");
                return FALSE;
              }
            edged_volume_payload_add (payload, l->data, v, (guint) mode);
          }
      }
  }
  return TRUE;
}

static gboolean
downward_payload (EdgedPod *pod, GPtrArray *payload, JsonObject *src, gint64 mode, GError **error)
{
  JsonArray *items = arr (src, "items");
  for (guint i = 0; items && i < json_array_get_length (items); i++)
    {
      JsonObject *it = element (items, i);
      JsonObject *field = edged_json_object (it, "fieldRef");
      JsonObject *res = edged_json_object (it, "resourceFieldRef");
      g_autofree char *value = field
        ? edged_pod_field_value (pod, edged_json_string (field, "fieldPath"), error)
        : edged_pod_resource_value (pod, edged_json_string (res, "containerName"),
                                    edged_json_string (res, "resource"),
                                    edged_json_string (res, "divisor"), error);
      g_autoptr (GBytes) b = NULL;
      if (!value)
        return FALSE;
      b = g_bytes_new (value, strlen (value));
      edged_volume_payload_add (payload, edged_json_string (it, "path"), b,
                                (guint) int_member (it, "mode", mode));
    }
  return TRUE;
}

/* The files of a configMap, secret, downwardAPI or projected volume. */
static GPtrArray *
volume_payload (EdgedPod *pod, JsonObject *v, const char *kind, GError **error)
{
  g_autoptr (GPtrArray) payload = edged_volume_payload_new ();
  JsonObject *src = edged_json_object (v, kind);
  gint64 mode = int_member (src, "defaultMode", 0644);

  if (!strcmp (kind, "configMap"))
    {
      if (!object_payload (pod, payload, src, "configmap", edged_json_string (src, "name"), mode, error))
        return NULL;
    }
  else if (!strcmp (kind, "secret"))
    {
      if (!object_payload (pod, payload, src, "secret", edged_json_string (src, "secretName"), mode,
                           error))
        return NULL;
    }
  else if (!strcmp (kind, "downwardAPI"))
    {
      if (!downward_payload (pod, payload, src, mode, error))
        return NULL;
    }
  else
    {
      JsonArray *list = arr (src, "sources");
      for (guint i = 0; list && i < json_array_get_length (list); i++)
        {
          JsonObject *s = element (list, i);
          JsonObject *cm = edged_json_object (s, "configMap"), *sec = edged_json_object (s, "secret");
          JsonObject *dw = edged_json_object (s, "downwardAPI");
          if (cm && !object_payload (pod, payload, cm, "configmap", edged_json_string (cm, "name"), mode,
                                     error))
            return NULL;
          if (sec && !object_payload (pod, payload, sec, "secret", edged_json_string (sec, "name"), mode,
                                      error))
            return NULL;
          if (dw && !downward_payload (pod, payload, dw, mode, error))
            return NULL;
          if (edged_json_object (s, "serviceAccountToken"))
            {
              JsonObject *t = edged_json_object (s, "serviceAccountToken");
              const char *problem = NULL;
              JsonObject *tr = edged_pod_object (pod, "serviceaccounttoken",
                                                 edged_pod_service_account (pod), &problem);
              const char *token = edged_json_string (edged_json_object (tr, "status"), "token");
              g_autoptr (GBytes) b = NULL;
              if (!token)
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s",
                               problem ? problem : "no service account token");
                  return NULL;
                }
              b = g_bytes_new (token, strlen (token));
              edged_volume_payload_add (payload, edged_json_string (t, "path"), b, (guint) mode);
            }
        }
    }
  return g_steal_pointer (&payload);
}

/* ---- set-up ------------------------------------------------------------- */

static gboolean
errno_error (GError **error, const char *what, const char *path)
{
  int saved = errno;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s %s: %s", what, path,
               g_strerror (saved));
  return FALSE;
}

static gboolean
empty_dir_setup (JsonObject *src, const char *dir, GError **error)
{
  const char *medium = edged_json_string (src, "medium");
  const char *limit = edged_json_string (src, "sizeLimit");
  struct statfs fs;
  g_autofree char *options = NULL;

  if (g_mkdir_with_parents (dir, 0777) != 0)
    return errno_error (error, "cannot create", dir);
  if (!medium || strcmp (medium, "Memory"))
    return chmod (dir, 0777) == 0 ? TRUE : errno_error (error, "cannot chmod", dir);
  if (statfs (dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC)
    {
      /* mounted by an earlier run, unless dir is on a tmpfs itself */
      g_autofree char *parent = g_path_get_dirname (dir);
      struct stat a, b;
      if (stat (dir, &a) == 0 && stat (parent, &b) == 0 && a.st_dev != b.st_dev)
        return TRUE;
    }
  if (limit)
    {
      gint64 milli = 0;
      edged_quantity_parse (limit, &milli, NULL);
      options = g_strdup_printf ("size=%" G_GINT64_FORMAT, MAX (milli / 1000, 4096));
    }
  if (mount ("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, options) != 0)
    return errno_error (error, "cannot mount a tmpfs (emptyDir medium Memory) on", dir);
  return chmod (dir, 0777) == 0 ? TRUE : errno_error (error, "cannot chmod", dir);
}

/* kubelet's hostPath type checks (messages as kubelet's). */
static gboolean
host_path_setup (JsonObject *src, GError **error)
{
  const char *path = edged_json_string (src, "path");
  const char *type = edged_json_string (src, "type");
  struct stat st;
  gboolean exists = stat (path, &st) == 0;

  if (!type || !*type)
    return TRUE;
  if (!strcmp (type, "DirectoryOrCreate"))
    {
      if (!exists)
        return g_mkdir_with_parents (path, 0755) == 0 ? TRUE : errno_error (error, "cannot create", path);
      type = "Directory";
    }
  if (!strcmp (type, "FileOrCreate"))
    {
      if (!exists)
        {
          int fd = open (path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
          if (fd < 0)
            return errno_error (error, "cannot create", path);
          close (fd);
          return TRUE;
        }
      type = "File";
    }
  if (!exists)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "hostPath type check failed: %s does not "
                   "exist", path);
      return FALSE;
    }
  if ((!strcmp (type, "Directory") && !S_ISDIR (st.st_mode))
      || (!strcmp (type, "File") && !S_ISREG (st.st_mode))
      || (!strcmp (type, "Socket") && !S_ISSOCK (st.st_mode))
      || (!strcmp (type, "CharDevice") && !S_ISCHR (st.st_mode))
      || (!strcmp (type, "BlockDevice") && !S_ISBLK (st.st_mode)))
    {
      const char *what = !strcmp (type, "Directory") ? "a directory" : !strcmp (type, "File") ? "a file"
                         : !strcmp (type, "Socket") ? "a socket file"
                         : !strcmp (type, "CharDevice") ? "a character device" : "a block device";
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "hostPath type check failed: %s is "
                   "not %s", path, what);
      return FALSE;
    }
  return TRUE;
}

/* Sets up (or rewrites) volume v. */
static gboolean
volume_setup (EdgedPod *pod, JsonObject *v, GError **error)
{
  const char *kind = volume_kind (v);
  g_autofree char *dir = volume_host_path (pod, v);
  g_autoptr (GPtrArray) payload = NULL;
  gboolean changed = FALSE;

  if (!strcmp (kind, "emptyDir"))
    return empty_dir_setup (edged_json_object (v, kind), dir, error);
  if (!strcmp (kind, "hostPath"))
    return host_path_setup (edged_json_object (v, kind), error);
  payload = volume_payload (pod, v, kind, error);
  if (!payload || !edged_volume_write (dir, payload, &changed, error))
    return FALSE;
  if (changed)
    ec_log_info (pod->edged->context, "pod %s/%s: volume %s written (%u files)", pod->spec->namespace,
                 pod->spec->name, edged_json_string (v, "name"), payload->len);
  return TRUE;
}

/**
 * edged_pod_volumes_prepare:
 * Sets up every volume of the pod from the objects read; the error (as
 * kubelet's "MountVolume.SetUp failed for volume ...") names the first
 * that failed.
 */
gboolean
edged_pod_volumes_prepare (EdgedPod *pod, GError **error)
{
  JsonArray *vols = pod_volumes (pod);
  for (guint i = 0; vols && i < json_array_get_length (vols); i++)
    {
      JsonObject *v = element (vols, i);
      if (!volume_setup (pod, v, error))
        {
          g_prefix_error (error, "MountVolume.SetUp failed for volume \"%s\" : ",
                          edged_json_string (v, "name"));
          edged_pod_volumes_set_ready (pod, FALSE);
          return FALSE;
        }
    }
  edged_pod_volumes_set_ready (pod, TRUE);
  return TRUE;
}

/* An object the pod reads changed: its configMap, secret and projected
 * volumes are written again (nothing changes when their files are the
 * same). A failure leaves the files as they were. */
void
edged_pod_volumes_refresh (EdgedPod *pod)
{
  JsonArray *vols = pod_volumes (pod);
  for (guint i = 0; vols && i < json_array_get_length (vols); i++)
    {
      JsonObject *v = element (vols, i);
      const char *kind = volume_kind (v);
      g_autoptr (GError) error = NULL;
      if (!strcmp (kind, "emptyDir") || !strcmp (kind, "hostPath") || !strcmp (kind, "downwardAPI"))
        continue;
      if (!volume_setup (pod, v, &error))
        ec_log_warning (pod->edged->context, "pod %s/%s: volume %s not updated: %s",
                        pod->spec->namespace, pod->spec->name, edged_json_string (v, "name"),
                        error->message);
    }
}

/* ---- mounts ------------------------------------------------------------- */

/**
 * edged_pod_mounts:
 * The CRI mounts of container's volumeMounts (NULL-terminated; free with
 * edged_pod_mounts_free). configMap, secret, downwardAPI and projected
 * volumes are read-only, as kubelet mounts them; propagation is private.
 */
Runtime__V1__Mount **
edged_pod_mounts (EdgedPod *pod, guint container, gsize *n_mounts)
{
  JsonObject *root = json_node_get_object (pod->spec->object);
  JsonArray *cs = arr (edged_json_object (root, "spec"), "containers");
  JsonObject *c = cs && container < json_array_get_length (cs) ? element (cs, container) : NULL;
  JsonArray *mounts = arr (c, "volumeMounts"), *vols = pod_volumes (pod);
  guint n = mounts ? json_array_get_length (mounts) : 0;
  Runtime__V1__Mount **out = g_new0 (Runtime__V1__Mount *, n + 1);

  *n_mounts = 0;
  for (guint i = 0; i < n; i++)
    {
      JsonObject *m = element (mounts, i);
      const char *vname = edged_json_string (m, "name");
      const char *sub = edged_json_string (m, "subPath");
      JsonObject *v = NULL;
      Runtime__V1__Mount *cm;
      g_autofree char *host = NULL;
      const char *kind;

      for (guint j = 0; vols && j < json_array_get_length (vols); j++)
        if (!g_strcmp0 (edged_json_string (element (vols, j), "name"), vname))
          v = element (vols, j);
      if (!v)
        continue;
      kind = volume_kind (v);
      host = volume_host_path (pod, v);
      cm = g_new0 (Runtime__V1__Mount, 1);
      runtime__v1__mount__init (cm);
      cm->container_path = g_strdup (edged_json_string (m, "mountPath"));
      if (sub && *sub)
        {
          cm->host_path = g_build_filename (host, sub, NULL);
          /* kubelet creates a missing subPath folder in writable volumes */
          if (!strcmp (kind, "emptyDir") || !strcmp (kind, "hostPath"))
            g_mkdir_with_parents (cm->host_path, 0755);
        }
      else
        cm->host_path = g_steal_pointer (&host);
      cm->readonly = bool_member (m, "readOnly") || (strcmp (kind, "emptyDir") && strcmp (kind, "hostPath"));
      cm->propagation = RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_PRIVATE;
      out[(*n_mounts)++] = cm;
    }
  return out;
}

/* Frees what edged_pod_mounts() gave. */
void
edged_pod_mounts_free (Runtime__V1__Mount **mounts)
{
  for (guint i = 0; mounts && mounts[i]; i++)
    {
      g_free (mounts[i]->container_path);
      g_free (mounts[i]->host_path);
      g_free (mounts[i]);
    }
  g_free (mounts);
}

/* ---- removal ------------------------------------------------------------- */

/* The pod is gone: its tmpfs volumes are unmounted and its folder under
 * <root-directory>/pods removed (hostPath volumes stay, as on kubelet). */
void
edged_pod_volumes_remove (EdgedPod *pod)
{
  g_autofree char *dir = edged_pod_dir (pod);
  JsonArray *vols = pod_volumes (pod);
  g_autoptr (GError) error = NULL;

  for (guint i = 0; vols && i < json_array_get_length (vols); i++)
    {
      JsonObject *v = element (vols, i);
      const char *kind = volume_kind (v);
      g_autofree char *path = NULL;
      if (strcmp (kind, "emptyDir") || g_strcmp0 (edged_json_string (edged_json_object (v, kind), "medium"),
                                                  "Memory"))
        continue;
      path = volume_host_path (pod, v);
      if (umount2 (path, MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
        ec_log_warning (pod->edged->context, "pod %s/%s: cannot unmount %s: %s", pod->spec->namespace,
                        pod->spec->name, path, g_strerror (errno));
    }
  if (!edged_remove_tree (dir, &error))
    ec_log_warning (pod->edged->context, "pod %s/%s: %s", pod->spec->namespace, pod->spec->name,
                    error->message);
  edged_pod_volumes_set_ready (pod, FALSE);
}
