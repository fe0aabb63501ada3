/* cri-api.h: the CRI v1 methods edged calls, each its gRPC path and the
 * protobuf-c descriptor of its response. */
#pragma once

#include "cri-client.h"
#include "cri-v1.pb-c.h"

G_BEGIN_DECLS

typedef struct {
  const char                       *path;
  const ProtobufCMessageDescriptor *response;
} EdgedCriMethod;

extern const EdgedCriMethod edged_cri_version;
extern const EdgedCriMethod edged_cri_status;
extern const EdgedCriMethod edged_cri_run_pod_sandbox;
extern const EdgedCriMethod edged_cri_stop_pod_sandbox;
extern const EdgedCriMethod edged_cri_remove_pod_sandbox;
extern const EdgedCriMethod edged_cri_pod_sandbox_status;
extern const EdgedCriMethod edged_cri_list_pod_sandbox;
extern const EdgedCriMethod edged_cri_create_container;
extern const EdgedCriMethod edged_cri_start_container;
extern const EdgedCriMethod edged_cri_stop_container;
extern const EdgedCriMethod edged_cri_remove_container;
extern const EdgedCriMethod edged_cri_list_containers;
extern const EdgedCriMethod edged_cri_container_status;
extern const EdgedCriMethod edged_cri_image_status;
extern const EdgedCriMethod edged_cri_pull_image;
extern const EdgedCriMethod edged_cri_exec;
extern const EdgedCriMethod edged_cri_attach;
extern const EdgedCriMethod edged_cri_port_forward;
extern const EdgedCriMethod edged_cri_list_container_stats;
extern const EdgedCriMethod edged_cri_list_pod_sandbox_stats;
extern const EdgedCriMethod edged_cri_exec_sync;
extern const EdgedCriMethod edged_cri_list_images;
extern const EdgedCriMethod edged_cri_remove_image;
extern const EdgedCriMethod edged_cri_image_fs_info;

/* Starts method with request on client; see edged_cri_client_call(). */
static inline void
edged_cri_invoke (EdgedCriClient *client, const EdgedCriMethod *method,
                  const ProtobufCMessage *request, guint timeout_ms,
                  EdgedCriReplyFunc callback, gpointer user_data, GDestroyNotify destroy)
{
  edged_cri_client_call (client, method->path, request, method->response, timeout_ms,
                         callback, user_data, destroy);
}

G_END_DECLS
