/* pod-network.h: ports and pod IPs (pod-network.c). */
#pragma once

#include "pod-spec.h"
#include "cri-v1.pb-c.h"

G_BEGIN_DECLS

typedef struct {
  Runtime__V1__PortMapping  *maps;
  Runtime__V1__PortMapping **ptrs;
} EdgedPortsStore;

void edged_ports_fill        (const EdgedPodSpec *spec, Runtime__V1__PodSandboxConfig *config,
                              EdgedPortsStore *store);
void edged_ports_store_clear (EdgedPortsStore *store);

G_END_DECLS
