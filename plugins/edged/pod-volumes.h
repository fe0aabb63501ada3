/* pod-volumes.h: checking a pod's volumes, mounts and object references,
 * and the atomic writer of configMap/secret/downwardAPI/projected volumes
 * (kubelet's: a timestamped folder, a "..data" symlink swapped at once). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* One file of a volume: path relative to the volume, content, mode. */
typedef struct {
  char   *path;
  GBytes *data;
  guint   mode;
} EdgedVolumeFile;

gboolean  edged_pod_refs_check     (JsonObject *pspec, GError **error);
gboolean  edged_volume_path_check  (const char *path, GError **error);
GPtrArray *edged_volume_payload_new (void);
void      edged_volume_payload_add (GPtrArray *payload, const char *path, GBytes *data, guint mode);
gboolean  edged_volume_write       (const char *dir, GPtrArray *payload, gboolean *changed,
                                    GError **error);
gboolean  edged_remove_tree        (const char *path, GError **error);

G_END_DECLS
