/* static-pods.c: kubelet's file source. The manifests (YAML or JSON, one
 * Pod each; files whose names start with a dot are skipped) in [edged]
 * static-pod-path run on the node with no cloud at all:
 *
 *   - the pod is named <name>-<node>, namespace "default" unless given,
 *     spec.nodeName the node, its UID the MD5 of the file's content, the
 *     node name and "file" (so a changed file is a new pod), with kubelet's
 *     annotations kubernetes.io/config.source=file and
 *     kubernetes.io/config.hash=<uid>;
 *   - the folder is watched (inotify through GFileMonitor, and read again
 *     every 20 s, kubelet's file check period): a new file starts a pod, a
 *     changed file replaces it (the old pod removed, the new one started),
 *     a removed file removes it;
 *   - when the cloud is connected each static pod is sent as a mirror pod:
 *     insert <ns>/pod/<name> with the annotation kubernetes.io/config.mirror
 *     = <hash>, and its removal as delete <ns>/pod/<name>. Mirror pods the
 *     cloud sends back are not run again (pod-worker.c asks
 *     edged_pod_is_mirror). */
#include "static-pods.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#define RESCAN_S       20
#define MAX_MANIFEST   EDGED_POD_MAX_BYTES
#define MAX_MANIFESTS  256

typedef struct {
  char    *content;     /* the file as read */
  char    *uid;         /* NULL: the file is not a pod edged can run */
  char    *ns;
  char    *name;
  char    *json;        /* the pod as run */
  char    *mirror_uid;  /* the cloud's UID of the mirror pod, once known */
  gboolean mirrored;
} StaticPod;

struct _EdgedStatic {
  Edged        *edged;
  char         *dir;
  GHashTable   *pods;       /* file path -> StaticPod */
  GFileMonitor *monitor;
  guint         timer;
  guint         soon;
};

static void
static_pod_free (StaticPod *sp)
{
  g_free (sp->content);
  g_free (sp->uid);
  g_free (sp->ns);
  g_free (sp->name);
  g_free (sp->json);
  g_free (sp->mirror_uid);
  g_free (sp);
}

/* ---- mirror pods -------------------------------------------------------------- */

typedef struct {
  EdgedStatic *st;
  char        *path;
} MirrorCall;

static void
on_mirror_reply (EcMessage *reply, const GError *error, gpointer data)
{
  MirrorCall *call = data;
  EdgedStatic *st = call->st;
  StaticPod *sp = st->edged->statics ? g_hash_table_lookup (st->pods, call->path) : NULL;

  if (error || g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR) == 0)
    ec_log_warning (st->edged->context, "static pod %s: the mirror pod was not created: %s",
                    call->path, error ? error->message : "error reply");
  else if (sp)
    {
      g_autoptr (GError) local = NULL;
      JsonNode *content = ec_message_get_content_node (reply, &local);
      JsonObject *o = content && JSON_NODE_HOLDS_OBJECT (content) ? json_node_get_object (content) : NULL;
      JsonObject *obj = edged_json_object (o, "Object") ? edged_json_object (o, "Object") : o;
      const char *uid = edged_json_string (edged_json_object (obj, "metadata"), "uid");
      sp->mirrored = TRUE;
      if (uid && *uid)
        {
          g_free (sp->mirror_uid);
          sp->mirror_uid = g_strdup (uid);
        }
      ec_log_message (st->edged->context, "static pod %s/%s: mirror pod sent to the cloud",
                      sp->ns, sp->name);
    }
  g_free (call->path);
  g_free (call);
}

static void
mirror_create (EdgedStatic *st, const char *path, StaticPod *sp)
{
  g_autoptr (JsonNode) pod = ec_json_parse (sp->json, strlen (sp->json), EDGED_POD_MAX_DEPTH,
                                            EDGED_POD_MAX_BYTES, NULL);
  g_autofree char *resource = g_strdup_printf ("%s/pod/%s", sp->ns, sp->name);
  g_autoptr (EcMessage) msg = NULL;
  JsonObject *meta, *ann;
  MirrorCall *call;

  if (!pod)
    return;
  meta = edged_json_object (json_node_get_object (pod), "metadata");
  ann = edged_json_object (meta, "annotations");
  json_object_set_string_member (ann, "kubernetes.io/config.mirror", sp->uid);
  json_object_remove_member (meta, "uid");
  msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_INSERT, resource);
  ec_message_set_content_node (msg, pod);
  call = g_new0 (MirrorCall, 1);
  call->st = st;
  call->path = g_strdup (path);
  ec_endpoint_call (st->edged->endpoint, "metamanager", msg, 60000, on_mirror_reply, call, NULL);
}

static void
mirror_delete (EdgedStatic *st, StaticPod *sp)
{
  g_autofree char *resource = g_strdup_printf ("%s/pod/%s", sp->ns, sp->name);
  g_autoptr (EcMessage) msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_DELETE, resource);
  g_autoptr (GError) error = NULL;
  ec_message_set_content_string (msg, sp->mirror_uid ? sp->mirror_uid : sp->uid);
  if (!ec_endpoint_send (st->edged->endpoint, "metamanager", msg, &error))
    ec_log_warning (st->edged->context, "static pod %s/%s: the mirror pod's delete was not sent: %s",
                    sp->ns, sp->name, error->message);
}

/* ---- reading the folder ---------------------------------------------------------- */

/* The manifest as the pod edged runs; NULL with error when it is not one. */
static char *
pod_from_manifest (EdgedStatic *st, const char *path, const char *content, gsize len,
                   StaticPod *sp, GError **error)
{
  Edged *self = st->edged;
  g_autofree char *json = g_str_has_suffix (path, ".json") ? g_strndup (content, len)
                                                           : edged_yaml_to_json (content, len, error);
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_MD5);
  JsonObject *pod, *meta, *spec, *ann;
  const char *name, *ns;
  g_autofree char *full = NULL;

  if (!json)
    return NULL;
  root = ec_json_parse (json, strlen (json), EDGED_POD_MAX_DEPTH, EDGED_POD_MAX_BYTES, error);
  if (!root)
    return NULL;
  pod = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  meta = edged_json_object (pod, "metadata");
  spec = edged_json_object (pod, "spec");
  name = edged_json_string (meta, "name");
  if (!pod || g_strcmp0 (edged_json_string (pod, "kind"), "Pod") || !meta || !spec || !name || !*name)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "not a Pod with metadata.name and spec");
      return NULL;
    }
  ns = edged_json_string (meta, "namespace");
  sp->ns = g_strdup (ns && *ns ? ns : "default");
  full = g_strdup_printf ("%s-%s", name, self->node_name);
  sp->name = g_strdup (full);
  g_checksum_update (sum, (const guchar *) content, (gssize) len);
  g_checksum_update (sum, (const guchar *) self->node_name, -1);
  g_checksum_update (sum, (const guchar *) "file", -1);
  sp->uid = g_strdup (g_checksum_get_string (sum));
  json_object_set_string_member (meta, "name", sp->name);
  json_object_set_string_member (meta, "namespace", sp->ns);
  json_object_set_string_member (meta, "uid", sp->uid);
  if (!edged_json_object (meta, "annotations"))
    json_object_set_object_member (meta, "annotations", json_object_new ());
  ann = edged_json_object (meta, "annotations");
  json_object_set_string_member (ann, "kubernetes.io/config.source", "file");
  json_object_set_string_member (ann, "kubernetes.io/config.hash", sp->uid);
  json_object_set_string_member (spec, "nodeName", self->node_name);
  return ec_json_to_string (root, FALSE);
}

static void
forget (EdgedStatic *st, const char *path, StaticPod *sp)
{
  if (sp->uid)
    {
      ec_log_message (st->edged->context, "static pod %s/%s: %s changed or removed: the pod goes",
                      sp->ns, sp->name, path);
      edged_pods_remove_uid (st->edged, sp->uid);
      if (sp->mirrored && st->edged->connected)
        mirror_delete (st, sp);
    }
}

/* Reads the folder: new, changed and removed manifests. */
static void
scan (EdgedStatic *st)
{
  g_autoptr (GDir) dir = g_dir_open (st->dir, 0, NULL);
  g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  const char *entry;
  GHashTableIter iter;
  gpointer key, value;
  guint n = 0;

  while (dir && (entry = g_dir_read_name (dir)) && n < MAX_MANIFESTS)
    {
      g_autofree char *path = NULL;
      g_autofree char *content = NULL;
      g_autoptr (GError) error = NULL;
      GStatBuf sb;
      gsize len = 0;
      StaticPod *old, *sp;

      if (entry[0] == '.' || !(g_str_has_suffix (entry, ".yaml") || g_str_has_suffix (entry, ".yml")
                               || g_str_has_suffix (entry, ".json")))
        continue;
      n++;
      path = g_build_filename (st->dir, entry, NULL);
      if (g_stat (path, &sb) != 0 || !S_ISREG (sb.st_mode))
        continue;
      g_hash_table_add (seen, g_strdup (path));
      if (sb.st_size > MAX_MANIFEST)
        content = g_strdup ("");   /* refused below, once */
      else if (!g_file_get_contents (path, &content, &len, NULL))
        continue;
      old = g_hash_table_lookup (st->pods, path);
      if (old && !g_strcmp0 (old->content, content))
        continue;
      if (old)
        forget (st, path, old);
      sp = g_new0 (StaticPod, 1);
      sp->content = g_strdup (content);
      if (sb.st_size > MAX_MANIFEST)
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "larger than 1 MiB");
      else
        sp->json = pod_from_manifest (st, path, content, len, sp, &error);
      if (!sp->json)
        {
          ec_log_warning (st->edged->context, "static pod manifest %s: %s", path,
                          error ? error->message : "invalid");
          g_clear_pointer (&sp->uid, g_free);
        }
      g_hash_table_replace (st->pods, g_strdup (path), sp);
      if (sp->json)
        {
          ec_log_message (st->edged->context, "static pod %s/%s from %s", sp->ns, sp->name, path);
          edged_pods_run_json (st->edged, sp->json, strlen (sp->json), path);
          if (st->edged->connected)
            mirror_create (st, path, sp);
        }
    }
  g_hash_table_iter_init (&iter, st->pods);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (!g_hash_table_contains (seen, key))
      {
        forget (st, key, value);
        g_hash_table_iter_remove (&iter);
      }
}

static gboolean
on_rescan (gpointer data)
{
  EdgedStatic *st = data;
  st->soon = 0;
  scan (st);
  return G_SOURCE_REMOVE;
}

static gboolean
on_timer (gpointer data)
{
  scan (data);
  return G_SOURCE_CONTINUE;
}

static void
on_changed (GFileMonitor *monitor, GFile *file, GFile *other, GFileMonitorEvent event,
            gpointer data)
{
  EdgedStatic *st = data;
  /* a burst of events (an editor's save) is read once */
  if (!st->soon)
    st->soon = g_timeout_add (300, on_rescan, st);
}

/* Reads static-pod-path (if it exists) and watches it. */
void
edged_static_start (Edged *self)
{
  g_autofree char *dir = ec_plugin_context_get_string (self->context, "static-pod-path");
  EdgedStatic *st;
  g_autoptr (GFile) file = NULL;

  if (!dir || !*dir)
    return;
  st = g_new0 (EdgedStatic, 1);
  st->edged = self;
  st->dir = g_steal_pointer (&dir);
  st->pods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) static_pod_free);
  self->statics = st;
  file = g_file_new_for_path (st->dir);
  st->monitor = g_file_monitor_directory (file, G_FILE_MONITOR_WATCH_MOVES, NULL, NULL);
  if (st->monitor)
    g_signal_connect (st->monitor, "changed", G_CALLBACK (on_changed), st);
  st->timer = g_timeout_add_seconds (RESCAN_S, on_timer, st);
  scan (st);
}

/* Stops watching (the pods keep running in the runtime). */
void
edged_static_stop (Edged *self)
{
  EdgedStatic *st = self->statics;
  if (!st)
    return;
  self->statics = NULL;
  if (st->monitor)
    {
      g_signal_handlers_disconnect_by_data (st->monitor, st);
      g_file_monitor_cancel (st->monitor);
      g_object_unref (st->monitor);
    }
  g_clear_handle_id (&st->timer, g_source_remove);
  g_clear_handle_id (&st->soon, g_source_remove);
  g_hash_table_unref (st->pods);
  g_free (st->dir);
  g_free (st);
}

/* The cloud link came up: every static pod's mirror pod is sent. */
void
edged_static_cloud_connected (Edged *self)
{
  EdgedStatic *st = self->statics;
  GHashTableIter iter;
  gpointer key, value;
  if (!st)
    return;
  g_hash_table_iter_init (&iter, st->pods);
  while (g_hash_table_iter_next (&iter, &key, &value))
    if (((StaticPod *) value)->json)
      mirror_create (st, key, value);
}

/* Whether a pod from the cloud is a mirror pod (kubelet's annotation
 * kubernetes.io/config.mirror): those are not run. */
gboolean
edged_pod_is_mirror (const char *json, gsize len)
{
  g_autoptr (JsonNode) root = NULL;
  JsonObject *ann;
  if (!g_strstr_len (json, (gssize) len, "kubernetes.io/config.mirror"))
    return FALSE;
  root = ec_json_parse (json, len, EDGED_POD_MAX_DEPTH, EDGED_POD_MAX_BYTES, NULL);
  ann = root && JSON_NODE_HOLDS_OBJECT (root)
          ? edged_json_object (edged_json_object (json_node_get_object (root), "metadata"), "annotations")
          : NULL;
  return ann && json_object_has_member (ann, "kubernetes.io/config.mirror");
}

/* The UID a pod's status names: a static pod's mirror pod UID once the
 * cloud gave it, else uid. */
const char *
edged_static_status_uid (Edged *self, const char *uid)
{
  GHashTableIter iter;
  gpointer value;
  if (!self->statics)
    return uid;
  g_hash_table_iter_init (&iter, self->statics->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      StaticPod *sp = value;
      if (sp->mirror_uid && !g_strcmp0 (sp->uid, uid))
        return sp->mirror_uid;
    }
  return uid;
}
