/* pod-offline.c: what lets the node's pods survive edgecore's restarts,
 * reboots and the cloud's absence (docs/edged.md, "Offline"):
 *
 *   - a pod's startTime and its conditions' transition times are kept in
 *     its folder under root-directory, so that an adopted pod keeps them;
 *   - sandboxes edged left that the store no longer holds (their pod was
 *     deleted while edgecore could not act on it) are removed once the
 *     stored pods are read;
 *   - a sandbox that is no longer ready (its pod's processes died with the
 *     host) is removed before the pod gets a new one;
 *   - the cloud's delete may carry only namespace, name and uid (the
 *     synccontroller's delete of an object the cloud no longer has). */
#include "pod.h"

#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#define UID_LABEL "io.kubernetes.pod.uid"

/* ---- removing a sandbox ----------------------------------------------------- */

typedef struct {
  Edged *edged;
  char  *id;
} SandboxJob;

static void
sandbox_job_free (SandboxJob *job)
{
  g_free (job->id);
  g_free (job);
}

static void
on_sandbox_removed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  SandboxJob *job = data;
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
  if (error && !g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND))
    ec_log_warning (job->edged->context, "removing pod sandbox %.12s: %s", job->id, error->message);
}

static void
on_sandbox_stopped (ProtobufCMessage *response, const GError *error, gpointer data)
{
  SandboxJob *job = data;
  Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
  SandboxJob *next;

  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
  if (error && !g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND))
    {
      ec_log_warning (job->edged->context, "stopping pod sandbox %.12s: %s", job->id, error->message);
      return;
    }
  next = g_new0 (SandboxJob, 1);
  next->edged = job->edged;
  next->id = g_strdup (job->id);
  req.pod_sandbox_id = next->id;
  edged_cri_invoke (job->edged->runtime, &edged_cri_remove_pod_sandbox, &req.base,
                    (guint) job->edged->request_timeout_ms, on_sandbox_removed, next,
                    (GDestroyNotify) sandbox_job_free);
}

/* Stops then removes a pod sandbox (the runtime removes its containers with
 * it); failures are logged. */
void
edged_sandbox_remove (Edged *self, const char *sandbox_id)
{
  Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
  SandboxJob *job = g_new0 (SandboxJob, 1);
  job->edged = self;
  job->id = g_strdup (sandbox_id);
  req.pod_sandbox_id = job->id;
  edged_cri_invoke (self->runtime, &edged_cri_stop_pod_sandbox, &req.base,
                    (guint) self->request_timeout_ms, on_sandbox_stopped, job,
                    (GDestroyNotify) sandbox_job_free);
}

static void
on_container_removed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
}

/* Removes a container, not waiting for the answer. */
void
edged_container_remove (Edged *self, const char *container_id)
{
  Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
  req.container_id = (char *) container_id;
  edged_cri_invoke (self->runtime, &edged_cri_remove_container, &req.base,
                    (guint) self->request_timeout_ms, on_container_removed, NULL, NULL);
}

/* ---- sandboxes the store no longer holds ----------------------------------- */

static const char *
sandbox_label (Runtime__V1__PodSandbox *sb, const char *key)
{
  for (gsize i = 0; i < sb->n_labels; i++)
    if (!g_strcmp0 (sb->labels[i]->key, key))
      return sb->labels[i]->value;
  return NULL;
}

static void
on_all_sandboxes (ProtobufCMessage *response, const GError *error, gpointer data)
{
  Edged *self = data;
  Runtime__V1__ListPodSandboxResponse *r = (Runtime__V1__ListPodSandboxResponse *) response;

  if (error)
    {
      ec_log_warning (self->context, "listing the pod sandboxes (for those no pod owns): %s",
                      error->message);
      return;
    }
  for (gsize i = 0; self->pods && i < r->n_items; i++)
    {
      Runtime__V1__PodSandbox *sb = r->items[i];
      const char *uid = sandbox_label (sb, UID_LABEL);
      if (!uid || g_hash_table_contains (self->pods, uid))
        continue;
      ec_log_message (self->context, "pod sandbox %.12s of %s (%s/%s) is not in the store: removed",
                      sb->id, uid, sb->metadata ? sb->metadata->namespace_ : "?",
                      sb->metadata ? sb->metadata->name : "?");
      edged_sandbox_remove (self, sb->id);
    }
  protobuf_c_message_free_unpacked (response, NULL);
}

/* Once the stored pods are known: sandboxes edged made (labelled with a pod
 * UID) for pods it no longer has are removed, as kubelet removes the pods
 * the API server no longer lists. */
void
edged_pods_remove_orphans (Edged *self)
{
  Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
  edged_cri_invoke (self->runtime, &edged_cri_list_pod_sandbox, &req.base,
                    (guint) self->request_timeout_ms, on_all_sandboxes, self, NULL);
}

/* ---- the times a status shows, kept across restarts ------------------------- */

/* <root-directory>/pods/<uid>/edged-times: "start init ready_since ready"
 * (unix seconds, 0/1). Written when it changes, so that a pod adopted after
 * a restart (or started again after a reboot) keeps its startTime and its
 * conditions' transition times, with or without the cloud. */
static char *
times_path (EdgedPod *pod)
{
  return g_strdup_printf ("%s/pods/%s/edged-times", pod->edged->root_directory, pod->spec->uid);
}

/* Saves the pod's status times when they changed since the last save. */
void
edged_pod_times_save (EdgedPod *pod)
{
  g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %"
                                           G_GINT64_FORMAT " %d\n", pod->start_time,
                                           pod->init_time, pod->ready_since, pod->was_ready ? 1 : 0);
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;

  if (!g_strcmp0 (text, pod->times_saved))
    return;
  path = times_path (pod);
  dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0750);
  if (!g_file_set_contents (path, text, -1, &error))
    {
      ec_log_warning (pod->edged->context, "pod %s/%s: %s", pod->spec->namespace, pod->spec->name,
                      error->message);
      return;
    }
  g_free (pod->times_saved);
  pod->times_saved = g_steal_pointer (&text);
}

/* Reads the times saved by an earlier run; FALSE: none. */
gboolean
edged_pod_restore (EdgedPod *pod)
{
  g_autofree char *path = times_path (pod);
  g_autofree char *text = NULL;
  gint64 start, init, since;
  int ready;

  if (!g_file_get_contents (path, &text, NULL, NULL)
      || sscanf (text, "%" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %d",
                 &start, &init, &since, &ready) != 4
      || start <= 0 || init <= 0)
    return FALSE;
  pod->start_time = start;
  pod->init_time = init;
  pod->ready_since = since;
  pod->was_ready = ready == 1;
  pod->times_saved = g_steal_pointer (&text);
  return TRUE;
}

/* The pod left the node: its saved times go. */
void
edged_pod_times_forget (EdgedPod *pod)
{
  g_autofree char *path = times_path (pod);
  g_autofree char *dir = g_path_get_dirname (path);
  g_unlink (path);
  g_rmdir (dir);   /* only when empty: other parts may keep files there */
}

/* ---- the cloud's delete --------------------------------------------------------- */

/* Reads namespace, name and uid from a pod object, which may hold nothing
 * else (the cloud's delete of an object it no longer has). */
gboolean
edged_pod_ref_parse (const char *json, gsize length, char **ns, char **name, char **uid,
                     GError **error)
{
  g_autoptr (JsonNode) root = ec_json_parse (json, length, EDGED_POD_MAX_DEPTH, EDGED_POD_MAX_BYTES,
                                             error);
  JsonObject *meta;
  const char *n;

  if (!root)
    return FALSE;
  meta = JSON_NODE_HOLDS_OBJECT (root) ? edged_json_object (json_node_get_object (root), "metadata")
                                       : NULL;
  if (!meta || !edged_json_string (meta, "name"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "pod without metadata.name");
      return FALSE;
    }
  n = edged_json_string (meta, "namespace");
  *ns = g_strdup (n && *n ? n : "default");
  *name = g_strdup (edged_json_string (meta, "name"));
  *uid = g_strdup (edged_json_string (meta, "uid"));
  return TRUE;
}
