/* static-pods.h: static pods from manifests in [edged] static-pod-path. */
#pragma once

#include "pod.h"

G_BEGIN_DECLS

/* static-yaml.c */
char       *edged_yaml_to_json      (const char *data, gsize len, GError **error);

/* static-pods.c */
void        edged_static_start      (Edged *self);
void        edged_static_stop       (Edged *self);
void        edged_static_cloud_connected (Edged *self);
gboolean    edged_pod_is_mirror     (const char *json, gsize len);
const char *edged_static_status_uid (Edged *self, const char *uid);

G_END_DECLS
