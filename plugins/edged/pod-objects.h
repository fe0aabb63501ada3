/* pod-objects.h: what a pod needs besides its spec: the configmaps and
 * secrets it names (read from metamanager's store over the bus), its
 * volumes and mounts, its env values and its registry credentials. */
#pragma once

#include "pod.h"
#include "pod-volumes.h"

G_BEGIN_DECLS

/* objects larger than this are refused (Kubernetes' own limit is 1 MiB of data) */
#define EDGED_OBJECT_MAX_BYTES (1024 * 1024 + 64 * 1024)

typedef void (*EdgedPodFunc) (EdgedPod *pod);

/* store-objects.c */
gboolean    edged_pod_objects_fetch   (EdgedPod *pod, EdgedPodFunc done);
void        edged_pod_objects_stale   (EdgedPod *pod);
JsonObject *edged_pod_object          (EdgedPod *pod, const char *type, const char *name,
                                       const char **problem);
void        edged_pod_objects_free    (EdgedPod *pod);
gboolean    edged_is_object_resource  (const char *resource);
void        edged_pods_object_message (Edged *self, EcMessage *message);
const char *edged_pod_service_account (EdgedPod *pod);

/* pod-volumes.c */
gboolean    edged_pod_volumes_prepare (EdgedPod *pod, GError **error);
gboolean    edged_pod_volumes_ready   (EdgedPod *pod);
void        edged_pod_volumes_refresh (EdgedPod *pod);
Runtime__V1__Mount **edged_pod_mounts (EdgedPod *pod, guint container, gsize *n_mounts);
void        edged_pod_mounts_free     (Runtime__V1__Mount **mounts);
void        edged_pod_volumes_remove  (EdgedPod *pod);
char       *edged_pod_dir             (EdgedPod *pod);

/* pod-env.c */
gboolean    edged_pod_env             (EdgedPod *pod, guint container, GPtrArray *names,
                                       GPtrArray *values, GError **error);
char       *edged_pod_field_value     (EdgedPod *pod, const char *path, GError **error);
char      **edged_expand_strv         (char *const *in, GPtrArray *names, GPtrArray *values);
char       *edged_pod_resource_value  (EdgedPod *pod, const char *container, const char *resource,
                                       const char *divisor, GError **error);
GBytes     *edged_object_value        (JsonObject *object, const char *type, const char *key);

/* pull-secrets.c */
Runtime__V1__AuthConfig *edged_pod_pull_auth (EdgedPod *pod, const char *image);
void        edged_auth_free           (Runtime__V1__AuthConfig *auth);
Runtime__V1__AuthConfig *edged_docker_config_lookup (const char *json, gsize length, gboolean legacy,
                                                     const char *image, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Runtime__V1__AuthConfig, edged_auth_free)

G_END_DECLS
