/* pod-resources.h: resources into CRI LinuxContainerResources
 * (pod-resources.c). */
#pragma once

#include "pod-spec.h"
#include "cri-v1.pb-c.h"

G_BEGIN_DECLS

void  edged_resources_fill   (const EdgedPodSpec *spec, guint i,
                              Runtime__V1__LinuxContainerResources *r);
char *edged_pod_cgroup_parent (const char *cgroup_root, const EdgedPodSpec *spec);

G_END_DECLS
