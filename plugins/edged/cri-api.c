/* cri-api.c: the CRI v1 method table (paths of k8s.io/cri-api's services
 * runtime.v1.RuntimeService and runtime.v1.ImageService). */
#include "cri-api.h"

#define RUNTIME "/runtime.v1.RuntimeService/"
#define IMAGE   "/runtime.v1.ImageService/"
#define METHOD(var, path, type) \
  const EdgedCriMethod var = { path, &runtime__v1__##type##__descriptor }

METHOD (edged_cri_version, RUNTIME "Version", version_response);
METHOD (edged_cri_status, RUNTIME "Status", status_response);
METHOD (edged_cri_run_pod_sandbox, RUNTIME "RunPodSandbox", run_pod_sandbox_response);
METHOD (edged_cri_stop_pod_sandbox, RUNTIME "StopPodSandbox", stop_pod_sandbox_response);
METHOD (edged_cri_remove_pod_sandbox, RUNTIME "RemovePodSandbox", remove_pod_sandbox_response);
METHOD (edged_cri_pod_sandbox_status, RUNTIME "PodSandboxStatus", pod_sandbox_status_response);
METHOD (edged_cri_list_pod_sandbox, RUNTIME "ListPodSandbox", list_pod_sandbox_response);
METHOD (edged_cri_create_container, RUNTIME "CreateContainer", create_container_response);
METHOD (edged_cri_start_container, RUNTIME "StartContainer", start_container_response);
METHOD (edged_cri_stop_container, RUNTIME "StopContainer", stop_container_response);
METHOD (edged_cri_remove_container, RUNTIME "RemoveContainer", remove_container_response);
METHOD (edged_cri_list_containers, RUNTIME "ListContainers", list_containers_response);
METHOD (edged_cri_container_status, RUNTIME "ContainerStatus", container_status_response);
METHOD (edged_cri_image_status, IMAGE "ImageStatus", image_status_response);
METHOD (edged_cri_pull_image, IMAGE "PullImage", pull_image_response);
METHOD (edged_cri_exec, RUNTIME "Exec", exec_response);
METHOD (edged_cri_attach, RUNTIME "Attach", attach_response);
METHOD (edged_cri_port_forward, RUNTIME "PortForward", port_forward_response);
METHOD (edged_cri_list_container_stats, RUNTIME "ListContainerStats", list_container_stats_response);
METHOD (edged_cri_list_pod_sandbox_stats, RUNTIME "ListPodSandboxStats", list_pod_sandbox_stats_response);
METHOD (edged_cri_exec_sync, RUNTIME "ExecSync", exec_sync_response);
METHOD (edged_cri_list_images, IMAGE "ListImages", list_images_response);
METHOD (edged_cri_remove_image, IMAGE "RemoveImage", remove_image_response);
METHOD (edged_cri_image_fs_info, IMAGE "ImageFsInfo", image_fs_info_response);
