/* eviction.c: kubelet's hard eviction. Every 10 s (kubelet's eviction
 * monitoring period) the signals are read (memory.available from
 * MemAvailable, nodefs.available from root-directory's filesystem, as the
 * node's MemoryPressure and DiskPressure conditions use them); while one is
 * below its eviction-hard threshold one pod is evicted per period, in
 * kubelet's order: BestEffort pods first, then Burstable, and among equals
 * the one that started last. An evicted pod gets the status kubelet gives
 * it (phase Failed, reason Evicted, "The node was low on resource:
 * <resource>. ") and its containers are removed; it is not run again (also
 * not after a restart: <root-directory>/evicted-pods/<uid> remembers it,
 * outside the pod's folder, which goes with the pod)
 * until the cloud deletes it.
 *
 * imagefs.available is read from the image filesystem ImageFsInfo names
 * (statvfs of its mountpoint, image-gc.c); below its threshold the node
 * first deletes every unused image (kubelet's reclaim of node-level
 * resources: image-gc.c's rules, least recently used first, in-use and
 * sandbox images kept), observes again, and evicts one pod only if the
 * pressure is still there. The observation also sets DiskPressure
 * (node-status.c). nodefs.available does the same when the image
 * filesystem is the root directory's (no dedicated imagefs: kubelet then
 * reclaims images for nodefs too); with a dedicated imagefs a pod is
 * evicted at once. */
#include "pod.h"

#include <glib/gstdio.h>
#include <string.h>

#define EVICTION_PERIOD_S 10

static char *
marker_path (Edged *self, const char *uid)
{
  /* not under pods/<uid>: that folder is removed with the pod (pod-volumes.c) */
  return g_strdup_printf ("%s/evicted-pods/%s", self->root_directory, uid);
}

/* Remembers an evicted pod (uid -> "ns\nname\nmessage"), so that its
 * status goes to the cloud again when the link comes back. */
static void
remember (Edged *self, const char *ns, const char *name, const char *uid, const char *message)
{
  if (!self->evicted)
    self->evicted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_replace (self->evicted, g_strdup (uid),
                        g_strdup_printf ("%s\n%s\n%s", ns, name, message));
}

/* Whether the pod with uid was evicted (then its Failed status is sent
 * again from what was saved). */
gboolean
edged_eviction_check (Edged *self, const char *ns, const char *name, const char *uid)
{
  g_autofree char *path = marker_path (self, uid);
  g_autofree char *message = NULL;
  if (!g_file_get_contents (path, &message, NULL, NULL))
    return FALSE;
  ec_log_message (self->context, "pod %s/%s was evicted: not run again until the cloud deletes it",
                  ns, name);
  remember (self, ns, name, uid, message);
  edged_pod_report_failed (self, ns, name, uid, "Evicted", message);
  return TRUE;
}

/* The cloud link came up: the evicted pods' statuses go again. */
void
edged_eviction_cloud_connected (Edged *self)
{
  GHashTableIter iter;
  gpointer key, value;
  if (!self->evicted)
    return;
  g_hash_table_iter_init (&iter, self->evicted);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_auto (GStrv) parts = g_strsplit (value, "\n", 3);
      if (g_strv_length (parts) == 3)
        edged_pod_report_failed (self, parts[0], parts[1], key, "Evicted", parts[2]);
    }
}

/* The cloud deleted the pod: an eviction record goes. */
void
edged_eviction_forget (Edged *self, const char *uid)
{
  g_autofree char *path = marker_path (self, uid);
  if (self->evicted)
    g_hash_table_remove (self->evicted, uid);
  g_unlink (path);
}

/* kubelet's ranking: lower QoS first, then the newest. */
static gboolean
before (EdgedPod *a, EdgedPod *b)
{
  if (a->spec->has_resources != b->spec->has_resources)
    return !a->spec->has_resources;
  return a->start_time > b->start_time;
}

static void
evict (Edged *self, const char *resource)
{
  GHashTableIter iter;
  gpointer value;
  EdgedPod *victim = NULL;
  g_autofree char *message = NULL;
  g_autofree char *path = NULL;
  g_autofree char *dir = NULL;
  g_autoptr (GError) error = NULL;

  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      if (pod->kill_requested || pod->stage == POD_KILLING || pod->stage == POD_GONE)
        continue;
      if (!victim || before (pod, victim))
        victim = pod;
    }
  if (!victim)
    return;
  message = g_strdup_printf ("The node was low on resource: %s. ", resource);
  ec_log_message (self->context, "pod %s/%s evicted: %s", victim->spec->namespace,
                  victim->spec->name, message);
  path = marker_path (self, victim->spec->uid);
  dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0750);
  if (!g_file_set_contents (path, message, -1, &error))
    ec_log_warning (self->context, "pod %s/%s: eviction not remembered across restarts: %s",
                    victim->spec->namespace, victim->spec->name, error->message);
  remember (self, victim->spec->namespace, victim->spec->name, victim->spec->uid, message);
  edged_pod_report_failed (self, victim->spec->namespace, victim->spec->name, victim->spec->uid,
                           "Evicted", message);
  edged_pods_evict (victim);
}

/* imagefs.available: whether the last observation is below its threshold */
static gboolean
imagefs_pressure (Edged *self, gint64 *available, gint64 *threshold)
{
  gint64 capacity;
  if (!edged_image_fs_get (self, &capacity, available))
    return FALSE;
  *threshold = edged_threshold_bytes (&self->evict_imagefs, capacity);
  return *available < *threshold;
}

/* kubelet's reclaim of node-level resources is over (the unused images
 * deleted): a pod is evicted only if the pressure is still there. */
static void
on_images_reclaimed (Edged *self, gboolean ok, guint64 freed, gpointer data)
{
  gint64 available, threshold;
  if (imagefs_pressure (self, &available, &threshold))
    {
      ec_log_message (self->context, "imagefs.available %" G_GINT64_FORMAT " < %" G_GINT64_FORMAT
                      " after deleting unused images (%" G_GUINT64_FORMAT " bytes): evicting a pod",
                      available, threshold, freed);
      if (self->pods)
        evict (self, "ephemeral-storage");
    }
  else if (ok)
    ec_log_message (self->context, "imagefs.available back above its threshold after deleting "
                    "unused images (%" G_GUINT64_FORMAT " bytes): no pod evicted", freed);
}

/* The image filesystem was observed: below imagefs.available's threshold,
 * the unused images go first (kubelet's reclaim order), then a pod. */
static void
on_imagefs_observed (Edged *self, gboolean ok, guint64 freed, gpointer data)
{
  gint64 available, threshold;
  if (!ok || !imagefs_pressure (self, &available, &threshold))
    return;
  /* a collection in flight: the next period tries again */
  if (edged_image_gc_delete_unused (self, on_images_reclaimed, NULL))
    ec_log_message (self->context, "imagefs.available %" G_GINT64_FORMAT " < %" G_GINT64_FORMAT
                    ": deleting unused images", available, threshold);
}

static gboolean
nodefs_pressure (Edged *self, gint64 *available, gint64 *threshold)
{
  EdgedHost host = { 0 };
  gboolean pressure;
  edged_host_read (&host, self->root_directory);
  *available = host.fs_available;
  *threshold = edged_threshold_bytes (&self->evict_nodefs, host.fs_capacity);
  pressure = host.fs_capacity > 0 && host.fs_available < *threshold;
  edged_host_clear (&host);
  return pressure;
}

/* nodefs.available on the filesystem that also holds the images: the
 * unused images were deleted first; a pod goes only if still needed. */
static void
on_nodefs_reclaimed (Edged *self, gboolean ok, guint64 freed, gpointer data)
{
  gint64 available, threshold;
  if (nodefs_pressure (self, &available, &threshold))
    {
      ec_log_message (self->context, "nodefs.available %" G_GINT64_FORMAT " < %" G_GINT64_FORMAT
                      " after deleting unused images (%" G_GUINT64_FORMAT " bytes): evicting a pod",
                      available, threshold, freed);
      if (self->pods)
        evict (self, "ephemeral-storage");
    }
  else if (ok)
    ec_log_message (self->context, "nodefs.available back above its threshold after deleting "
                    "unused images (%" G_GUINT64_FORMAT " bytes): no pod evicted", freed);
}

static gboolean
on_period (gpointer data)
{
  Edged *self = data;
  EdgedHost host = { 0 };
  gboolean mem, disk;

  edged_host_read (&host, self->root_directory);
  mem = host.memory_total > 0
        && host.memory_available < edged_threshold_bytes (&self->evict_memory, host.memory_total);
  disk = host.fs_capacity > 0
         && host.fs_available < edged_threshold_bytes (&self->evict_nodefs, host.fs_capacity);
  edged_host_clear (&host);
  if (mem)
    {
      if (self->pods)
        evict (self, "memory");
    }
  /* nodefs.available: when the images live on the same filesystem (no
   * dedicated imagefs), kubelet deletes the unused images first */
  else if (disk && edged_image_fs_holds (self, self->root_directory))
    {
      gint64 available, threshold;
      nodefs_pressure (self, &available, &threshold);
      /* a collection in flight: the next period tries again */
      if (edged_image_gc_delete_unused (self, on_nodefs_reclaimed, NULL))
        ec_log_message (self->context, "nodefs.available %" G_GINT64_FORMAT " < %" G_GINT64_FORMAT
                        ": deleting unused images", available, threshold);
    }
  else if (disk)
    {
      if (self->pods)
        evict (self, "ephemeral-storage");
    }
  /* imagefs.available: observed through ImageFsInfo (image-gc.c); when
   * a collection is in flight its observation serves the next period */
  else if (self->evict_imagefs.percent > 0 || self->evict_imagefs.bytes > 0)
    edged_image_fs_observe (self, on_imagefs_observed, NULL);
  return G_SOURCE_CONTINUE;
}

/* Starts the eviction period. */
void
edged_eviction_start (Edged *self)
{
  self->eviction_timer = g_timeout_add_seconds (EVICTION_PERIOD_S, on_period, self);
}

/* Stops it. */
void
edged_eviction_stop (Edged *self)
{
  g_clear_handle_id (&self->eviction_timer, g_source_remove);
  g_clear_pointer (&self->evicted, g_hash_table_unref);
}
