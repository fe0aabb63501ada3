/* image-gc.c: kubelet's image garbage collection (its realImageGCManager).
 *
 * Every 5 minutes (kubelet's ImageGCPeriod, no key), and once at start:
 *   - the image filesystem is observed: ImageFsInfo names its mountpoint,
 *     whose statvfs gives capacity and available bytes (as cadvisor gives
 *     them to kubelet); eviction.c uses the same observation for
 *     imagefs.available;
 *   - images are detected (ListImages): each keeps when it was first seen
 *     (the first detection after start counts as "long ago", as kubelet's
 *     does) and when it was last used; an image is in use while any
 *     container of the runtime (ListContainers, every state: running or
 *     exited and kept) refers to it, or when it is the pod-sandbox-image
 *     or pinned by the runtime;
 *   - when usage (100 - available * 100 / capacity) is at or above
 *     image-gc-high-threshold-percent, capacity * (100 - low) / 100 -
 *     available bytes are freed, low being image-gc-low-threshold-percent:
 *     unused images, least recently used first (then first detected
 *     first), younger than image-minimum-gc-age skipped, are removed one
 *     at a time (RemoveImage) until their sizes add up to that amount.
 * image-gc-high-threshold-percent=100 turns the periodic collection off
 * (eviction's reclaim still deletes unused images). */
#include "pod.h"

#include "cri-api.h"
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <string.h>

#define IMAGE_GC_PERIOD_S (5 * 60)

typedef struct {
  gint64 first_detected;   /* real time µs; 0: found by the first detection */
  gint64 last_used;        /* real time µs; 0: never seen in use */
} ImageRecord;


struct _EdgedImageGc {
  Edged         *edged;
  gint64         high;          /* image-gc-high-threshold-percent */
  gint64         low;           /* image-gc-low-threshold-percent */
  gint64         min_age_us;    /* image-minimum-gc-age */
  char          *sandbox_image; /* pod-sandbox-image */
  GHashTable    *records;       /* image id -> ImageRecord */
  gboolean       detected;      /* a detection finished since start */
  guint          timer;
  /* the run in flight (at most one) */
  gboolean       running;
  gint64         to_free;       /* -1: as the thresholds say; else bytes */
  GHashTable    *in_use;        /* image refs, ids and names of containers */
  GArray        *candidates;    /* EdgedImageCandidate, in removal order */
  guint          next;
  guint64        freed;
  EdgedImageGcDone done;
  gpointer       done_data;
  /* the last observation of the image filesystem */
  char          *mountpoint;
  gint64         capacity;
  gint64         available;
};

/* Frees a candidate's strings (the GArray's clear function). */
void
edged_image_candidate_clear (gpointer p)
{
  EdgedImageCandidate *c = p;
  g_free (c->id);
  g_free (c->name);
}

/* Reads capacity and available bytes of the image filesystem's mountpoint. */
static gboolean
statfs_mountpoint (EdgedImageGc *gc)
{
  struct statvfs vfs;
  if (!gc->mountpoint || statvfs (gc->mountpoint, &vfs) != 0)
    return FALSE;
  gc->capacity = (gint64) vfs.f_blocks * (gint64) vfs.f_frsize;
  gc->available = (gint64) vfs.f_bavail * (gint64) vfs.f_frsize;
  return TRUE;
}

static void
run_finish (EdgedImageGc *gc, gboolean ok)
{
  EdgedImageGcDone done = gc->done;
  gpointer data = gc->done_data;

  g_clear_pointer (&gc->in_use, g_hash_table_unref);
  g_clear_pointer (&gc->candidates, g_array_unref);
  gc->running = FALSE;
  gc->done = NULL;
  gc->done_data = NULL;
  if (ok)
    statfs_mountpoint (gc);   /* what the removals gave back */
  if (done)
    done (gc->edged, ok, gc->freed, data);
}

static void remove_next (EdgedImageGc *gc);

static void
on_image_removed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedImageGc *gc = data;
  EdgedImageCandidate *c = &g_array_index (gc->candidates, EdgedImageCandidate, gc->next);

  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
  if (error)
    ec_log_warning (gc->edged->context, "image garbage collection: removing image %s (%s): %s",
                    c->id, c->name, error->message);
  else
    {
      gc->freed += c->size;
      g_hash_table_remove (gc->records, c->id);
      ec_log_message (gc->edged->context, "image %s (%s, %" G_GUINT64_FORMAT " bytes) removed: unused",
                      c->id, c->name, c->size);
    }
  gc->next++;
  remove_next (gc);
}

static void
remove_next (EdgedImageGc *gc)
{
  Runtime__V1__RemoveImageRequest req = RUNTIME__V1__REMOVE_IMAGE_REQUEST__INIT;
  Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;

  if (gc->next >= gc->candidates->len || gc->freed >= (guint64) gc->to_free)
    {
      if (gc->freed < (guint64) gc->to_free && gc->to_free != G_MAXINT64)
        ec_log_warning (gc->edged->context,
                        "image garbage collection: wanted to free %" G_GINT64_FORMAT
                        " bytes, but only found %" G_GUINT64_FORMAT " bytes eligible to free",
                        gc->to_free, gc->freed);
      run_finish (gc, TRUE);
      return;
    }
  spec.image = g_array_index (gc->candidates, EdgedImageCandidate, gc->next).id;
  req.image = &spec;
  edged_cri_invoke (gc->edged->images, &edged_cri_remove_image, &req.base,
                    (guint) gc->edged->request_timeout_ms, on_image_removed, gc, NULL);
}

static int
candidate_order (gconstpointer a, gconstpointer b)
{
  const EdgedImageCandidate *x = a, *y = b;
  if (x->last_used != y->last_used)
    return x->last_used < y->last_used ? -1 : 1;
  if (x->first_detected != y->first_detected)
    return x->first_detected < y->first_detected ? -1 : 1;
  return 0;
}

static gboolean
image_in_use (EdgedImageGc *gc, const Runtime__V1__Image *img)
{
  if (img->pinned || g_hash_table_contains (gc->in_use, img->id))
    return TRUE;
  for (size_t i = 0; i < img->n_repo_tags; i++)
    if (g_hash_table_contains (gc->in_use, img->repo_tags[i])
        || !g_strcmp0 (img->repo_tags[i], gc->sandbox_image))
      return TRUE;
  for (size_t i = 0; i < img->n_repo_digests; i++)
    if (g_hash_table_contains (gc->in_use, img->repo_digests[i]))
      return TRUE;
  return !g_strcmp0 (img->id, gc->sandbox_image);
}

/**
 * edged_image_gc_detect:
 * @gc: the collection's state
 * @images: (array length=n_images): what ListImages answered
 * @in_use: image refs, ids and names the runtime's containers use
 * @now: real time in µs
 *
 * Updates the image records (first detected, last used; records of images
 * gone are dropped) and returns the unused images old enough to be
 * removed, least recently used first, then first detected first.
 * Returns: (transfer full): an array of EdgedImageCandidate
 */
GArray *
edged_image_gc_detect (EdgedImageGc *gc, Runtime__V1__Image **images, gsize n_images,
                       GHashTable *in_use, gint64 now)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GArray *candidates = g_array_new (FALSE, TRUE, sizeof (EdgedImageCandidate));
  GHashTableIter iter;
  gpointer key;

  g_array_set_clear_func (candidates, edged_image_candidate_clear);
  gc->in_use = in_use;
  for (gsize i = 0; i < n_images; i++)
    {
      const Runtime__V1__Image *img = images[i];
      ImageRecord *rec;
      if (!img->id || !*img->id)
        continue;
      g_hash_table_add (seen, img->id);
      rec = g_hash_table_lookup (gc->records, img->id);
      if (!rec)
        {
          rec = g_new0 (ImageRecord, 1);
          rec->first_detected = gc->detected ? now : 0;
          g_hash_table_insert (gc->records, g_strdup (img->id), rec);
        }
      if (image_in_use (gc, img))
        {
          rec->last_used = now;
          continue;
        }
      /* too young to go */
      if (now - rec->first_detected < gc->min_age_us)
        continue;
      EdgedImageCandidate c = { g_strdup (img->id),
                                g_strdup (img->n_repo_tags ? img->repo_tags[0] : "<none>"),
                                img->size, rec->first_detected, rec->last_used };
      g_array_append_val (candidates, c);
    }
  gc->in_use = NULL;
  /* images no longer in the runtime lose their records */
  g_hash_table_iter_init (&iter, gc->records);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (seen, key))
      g_hash_table_iter_remove (&iter);
  gc->detected = TRUE;
  g_array_sort (candidates, candidate_order);
  return candidates;
}

/* Bytes to free for an image filesystem of capacity bytes with available
 * free: 0 below the high threshold, else down to the low one (kubelet's
 * arithmetic, integer percent). */
gint64
edged_image_gc_amount (gint64 capacity, gint64 available, gint64 high, gint64 low)
{
  gint64 usage;
  if (capacity <= 0)
    return 0;
  usage = 100 - available * 100 / capacity;
  if (usage < high)
    return 0;
  return MAX (capacity * (100 - low) / 100 - available, 0);
}

static void
on_images_listed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedImageGc *gc = data;
  Runtime__V1__ListImagesResponse *r = (Runtime__V1__ListImagesResponse *) response;
  GHashTable *in_use;

  if (error)
    {
      ec_log_warning (gc->edged->context, "image garbage collection: ListImages: %s",
                      error->message);
      run_finish (gc, FALSE);
      return;
    }
  in_use = g_steal_pointer (&gc->in_use);
  gc->candidates = edged_image_gc_detect (gc, r->images, r->n_images, in_use, g_get_real_time ());
  g_hash_table_unref (in_use);
  protobuf_c_message_free_unpacked (response, NULL);

  if (gc->to_free < 0)
    {
      gc->to_free = edged_image_gc_amount (gc->capacity, gc->available, gc->high, gc->low);
      if (gc->to_free <= 0)
        {
          run_finish (gc, TRUE);
          return;
        }
      ec_log_message (gc->edged->context,
                      "image filesystem usage %" G_GINT64_FORMAT "%% is at or above the high "
                      "threshold %" G_GINT64_FORMAT "%%: freeing %" G_GINT64_FORMAT " bytes",
                      100 - gc->available * 100 / gc->capacity, gc->high, gc->to_free);
    }
  remove_next (gc);
}

static void
add_ref (GHashTable *set, const char *ref)
{
  if (ref && *ref)
    g_hash_table_add (set, g_strdup (ref));
}

static void
on_containers_listed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedImageGc *gc = data;
  Runtime__V1__ListContainersResponse *r = (Runtime__V1__ListContainersResponse *) response;
  Runtime__V1__ListImagesRequest req = RUNTIME__V1__LIST_IMAGES_REQUEST__INIT;

  if (error)
    {
      ec_log_warning (gc->edged->context, "image garbage collection: ListContainers: %s",
                      error->message);
      run_finish (gc, FALSE);
      return;
    }
  gc->in_use = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (size_t i = 0; i < r->n_containers; i++)
    {
      const Runtime__V1__Container *c = r->containers[i];
      add_ref (gc->in_use, c->image_ref);
      add_ref (gc->in_use, c->image_id);
      if (c->image)
        add_ref (gc->in_use, c->image->image);
    }
  protobuf_c_message_free_unpacked (response, NULL);
  edged_cri_invoke (gc->edged->images, &edged_cri_list_images, &req.base,
                    (guint) gc->edged->request_timeout_ms, on_images_listed, gc, NULL);
}

static void
on_fs_info (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedImageGc *gc = data;
  Runtime__V1__ImageFsInfoResponse *r = (Runtime__V1__ImageFsInfoResponse *) response;
  Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;

  if (error)
    {
      ec_log_warning (gc->edged->context, "image garbage collection: ImageFsInfo: %s",
                      error->message);
      run_finish (gc, FALSE);
      return;
    }
  if (r->n_image_filesystems && r->image_filesystems[0]->fs_id
      && r->image_filesystems[0]->fs_id->mountpoint
      && *r->image_filesystems[0]->fs_id->mountpoint)
    {
      g_free (gc->mountpoint);
      gc->mountpoint = g_strdup (r->image_filesystems[0]->fs_id->mountpoint);
    }
  protobuf_c_message_free_unpacked (response, NULL);
  if (!statfs_mountpoint (gc))
    {
      ec_log_warning (gc->edged->context, "image garbage collection: image filesystem %s: "
                      "not readable", gc->mountpoint ? gc->mountpoint : "(none named)");
      gc->capacity = gc->available = 0;
    }
  if (gc->to_free == 0)   /* only the observation was asked for */
    {
      run_finish (gc, TRUE);
      return;
    }
  edged_cri_invoke (gc->edged->runtime, &edged_cri_list_containers, &req.base,
                    (guint) gc->edged->request_timeout_ms, on_containers_listed, gc, NULL);
}

static gboolean
run_start (EdgedImageGc *gc, gint64 to_free, EdgedImageGcDone done, gpointer data)
{
  Runtime__V1__ImageFsInfoRequest req = RUNTIME__V1__IMAGE_FS_INFO_REQUEST__INIT;

  if (gc->running)
    return FALSE;
  /* a runtime the health probe finds down is reported there, once per
   * cause: no warning of our own every period */
  if (gc->edged && !gc->edged->health.ready)
    return FALSE;
  gc->running = TRUE;
  gc->to_free = to_free;
  gc->freed = 0;
  gc->next = 0;
  gc->done = done;
  gc->done_data = data;
  edged_cri_invoke (gc->edged->images, &edged_cri_image_fs_info, &req.base,
                    (guint) gc->edged->request_timeout_ms, on_fs_info, gc, NULL);
  return TRUE;
}

static gboolean
on_period (gpointer data)
{
  EdgedImageGc *gc = data;
  run_start (gc, -1, NULL, NULL);
  return G_SOURCE_CONTINUE;
}

/* The first collection, once the runtime is up (checked again every
 * 2 s until then), then every period. */
static gboolean
on_first (gpointer data)
{
  EdgedImageGc *gc = data;
  if (gc->edged && !gc->edged->health.ready)
    {
      gc->timer = g_timeout_add_seconds (2, on_first, gc);
      return G_SOURCE_REMOVE;
    }
  run_start (gc, -1, NULL, NULL);
  gc->timer = g_timeout_add_seconds (IMAGE_GC_PERIOD_S, on_period, gc);
  return G_SOURCE_REMOVE;
}

/* The collection's state for edged (NULL in tests), its thresholds
 * (percent), minimum age (µs) and sandbox image. */
EdgedImageGc *
edged_image_gc_new (Edged *edged, gint64 high, gint64 low, gint64 min_age_us,
                    const char *sandbox_image)
{
  EdgedImageGc *gc = g_new0 (EdgedImageGc, 1);
  gc->edged = edged;
  gc->high = high;
  gc->low = low;
  gc->min_age_us = min_age_us;
  gc->sandbox_image = g_strdup (sandbox_image);
  gc->records = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return gc;
}

/* Reads image-gc-high-threshold-percent, image-gc-low-threshold-percent,
 * image-minimum-gc-age and pod-sandbox-image; a bad value is an error
 * naming its key. */
gboolean
edged_image_gc_configure (Edged *self, GError **error)
{
  EcPluginContext *c = self->context;
  g_autofree char *age = ec_plugin_context_get_string (c, "image-minimum-gc-age");
  g_autoptr (GError) local = NULL;
  gint64 high = ec_plugin_context_get_int (c, "image-gc-high-threshold-percent");
  gint64 low = ec_plugin_context_get_int (c, "image-gc-low-threshold-percent");
  gint64 age_ms;
  g_autofree char *sandbox = NULL;

  if (high < 0 || high > 100 || low < 0 || low > 100)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "[edged] image-gc-%s-threshold-percent: %" G_GINT64_FORMAT " is not in 0..100",
                   high < 0 || high > 100 ? "high" : "low", high < 0 || high > 100 ? high : low);
      return FALSE;
    }
  if (low > high)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "[edged] image-gc-low-threshold-percent (%" G_GINT64_FORMAT ") must not "
                   "exceed image-gc-high-threshold-percent (%" G_GINT64_FORMAT ")", low, high);
      return FALSE;
    }
  if (!edged_duration_parse (age, &age_ms, &local) || age_ms < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "[edged] image-minimum-gc-age: %s",
                   local ? local->message : "must not be negative");
      return FALSE;
    }
  sandbox = ec_plugin_context_get_string (c, "pod-sandbox-image");
  self->image_gc = edged_image_gc_new (self, high, low, age_ms * 1000, sandbox);
  return TRUE;
}

/* Starts the periodic collection: once now (from the main loop), then every
 * 5 minutes; none when the high threshold is 100. */
void
edged_image_gc_start (Edged *self)
{
  EdgedImageGc *gc = self->image_gc;
  if (gc->high >= 100)
    {
      ec_log_info (self->context, "image-gc-high-threshold-percent is 100: image garbage "
                   "collection off");
      return;
    }
  gc->timer = g_idle_add (on_first, gc);
}

/* Deletes every unused image old enough (eviction's reclaim, kubelet's
 * DeleteUnusedImages); done runs when finished. FALSE (done not run): a
 * run is already in flight. */
gboolean
edged_image_gc_delete_unused (Edged *self, EdgedImageGcDone done, gpointer data)
{
  return run_start (self->image_gc, G_MAXINT64, done, data);
}

/* Observes the image filesystem (ImageFsInfo + statvfs); done runs when
 * finished. FALSE (done not run): a run is in flight (its observation
 * will do). */
gboolean
edged_image_fs_observe (Edged *self, EdgedImageGcDone done, gpointer data)
{
  return run_start (self->image_gc, 0, done, data);
}

/* The last observation of the image filesystem (FALSE: none yet). */
gboolean
edged_image_fs_get (Edged *self, gint64 *capacity, gint64 *available)
{
  EdgedImageGc *gc = self->image_gc;
  if (!gc || gc->capacity <= 0)
    return FALSE;
  *capacity = gc->capacity;
  *available = gc->available;
  return TRUE;
}

static gboolean
stat_up (const char *path, struct stat *st)
{
  g_autofree char *dir = g_strdup (path);
  while (stat (dir, st) != 0)
    {
      char *parent = g_path_get_dirname (dir);
      gboolean top = !strcmp (parent, dir);
      g_free (dir);
      dir = parent;
      if (top)
        return stat (dir, st) == 0;
    }
  return TRUE;
}

/* Whether the image filesystem is the one holding path (its nearest
 * existing ancestor); TRUE when not known yet (no observation). */
gboolean
edged_image_fs_holds (Edged *self, const char *path)
{
  EdgedImageGc *gc = self->image_gc;
  struct stat a, b;
  if (!gc || !gc->mountpoint || !stat_up (gc->mountpoint, &a) || !stat_up (path, &b))
    return TRUE;
  return a.st_dev == b.st_dev;
}

/* Stops the period and frees the state (after the CRI clients: no callback
 * can come any more). */
void
edged_image_gc_free (Edged *self)
{
  g_clear_pointer (&self->image_gc, edged_image_gc_destroy);
}

/* Frees a collection's state. */
void
edged_image_gc_destroy (EdgedImageGc *gc)
{
  g_clear_handle_id (&gc->timer, g_source_remove);
  g_clear_pointer (&gc->in_use, g_hash_table_unref);
  g_clear_pointer (&gc->candidates, g_array_unref);
  g_clear_pointer (&gc->records, g_hash_table_unref);
  g_free (gc->sandbox_image);
  g_free (gc->mountpoint);
  g_free (gc);
}
