/* pod-security.h: securityContext into CRI (pod-security.c). */
#pragma once

#include "pod-spec.h"
#include "cri-v1.pb-c.h"

G_BEGIN_DECLS

/* What a filled security context points to, for the duration of a call. */
typedef struct {
  Runtime__V1__Capability caps;
  Runtime__V1__Int64Value user;
  Runtime__V1__Int64Value group;
  gint64                 *groups;
  char                   *username;
} EdgedSecurityStore;

char *edged_security_check_non_root (const EdgedPodSpec *spec, guint i, gint64 image_uid,
                                     const char *image_user);
void  edged_security_fill           (const EdgedPodSpec *spec, guint i, gint64 image_uid,
                                     const char *image_user,
                                     Runtime__V1__LinuxContainerSecurityContext *sc,
                                     EdgedSecurityStore *store);
void  edged_security_fill_sandbox   (const EdgedPodSpec *spec,
                                     Runtime__V1__LinuxSandboxSecurityContext *sc,
                                     EdgedSecurityStore *store);
void  edged_security_store_clear    (EdgedSecurityStore *store);

G_END_DECLS
