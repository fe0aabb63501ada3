/* pod-sandbox-retry.c: what follows a failed RunPodSandbox.
 *
 * The failed call may have left a sandbox behind: one the runtime went on
 * creating after our deadline (ready), or a partial one (not ready, e.g.
 * containerd stopped in the middle). Either holds the sandbox's name
 * (<name>_<namespace>_<uid>_<attempt>), so a retry with the same attempt
 * would be answered "name ... is reserved" for as long as it exists.
 * As kubelet (PodSandboxChanged: the attempt is the newest listed one's
 * plus one, a ready sandbox is used), the pod's sandboxes are listed
 * before the retry: a ready one is taken, the others are removed, and the
 * next attempt is above every listed one. A sandbox still being created is
 * not listed yet: then the retry keeps its attempt, and the runtime's
 * "reserved" lasts until that creation ends, as with kubelet. */
#include "pod.h"

/* Seconds between listings while the runtime does not answer. */
#define RELIST_RETRY_US (10 * G_USEC_PER_SEC)

static void
on_listed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  Runtime__V1__ListPodSandboxResponse *r = (Runtime__V1__ListPodSandboxResponse *) response;
  Runtime__V1__PodSandbox *ready = NULL;
  g_autofree char *ready_id = NULL;

  if (error)
    {
      pod->retry_at = g_get_monotonic_time () + RELIST_RETRY_US;
      edged_pod_step_done (pod);
      return;
    }
  pod->sandbox_relist = FALSE;
  for (gsize i = 0; i < r->n_items; i++)
    {
      Runtime__V1__PodSandbox *s = r->items[i];
      if (s->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY && (!ready || s->created_at > ready->created_at))
        ready = s;
      if (s->metadata && s->metadata->attempt >= pod->sandbox_attempt)
        pod->sandbox_attempt = s->metadata->attempt + 1;
    }
  for (gsize i = 0; i < r->n_items; i++)
    if (r->items[i] != ready)
      {
        ec_log_message (pod->edged->context, "pod %s/%s: removing sandbox %.12s (attempt %u) left by the failed "
                        "RunPodSandbox", pod->spec->namespace, pod->spec->name, r->items[i]->id,
                        r->items[i]->metadata ? r->items[i]->metadata->attempt : 0);
        edged_sandbox_remove (pod->edged, r->items[i]->id);
      }
  if (ready)
    {
      ready_id = g_strdup (ready->id);
      ec_log_message (pod->edged->context, "pod %s/%s: the runtime made sandbox %.12s after all: taken",
                      pod->spec->namespace, pod->spec->name, ready_id);
    }
  else if (r->n_items)
    ec_log_message (pod->edged->context, "pod %s/%s: RunPodSandbox again as attempt %u", pod->spec->namespace,
                    pod->spec->name, pod->sandbox_attempt);
  protobuf_c_message_free_unpacked (response, NULL);
  if (ready_id)
    edged_pod_sandbox_ready (pod, ready_id);
  else
    edged_pod_step_done_quiet (pod);   /* RunPodSandbox, with the attempt above */
}

/* The sandbox step after a failed RunPodSandbox: ListPodSandbox by the
 * pod's UID label first (see above). */
void
edged_pod_sandbox_relist (EdgedPod *pod)
{
  Runtime__V1__PodSandboxFilter__LabelSelectorEntry uid = RUNTIME__V1__POD_SANDBOX_FILTER__LABEL_SELECTOR_ENTRY__INIT;
  Runtime__V1__PodSandboxFilter__LabelSelectorEntry *selector[] = { &uid };
  Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
  Runtime__V1__ListPodSandboxRequest req = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;

  uid.key = (char *) "io.kubernetes.pod.uid";
  uid.value = pod->spec->uid;
  filter.label_selector = selector;
  filter.n_label_selector = 1;
  req.filter = &filter;
  edged_pod_trace_invoke (pod, pod->edged->runtime, &edged_cri_list_pod_sandbox, &req.base,
                          (guint) pod->edged->request_timeout_ms, on_listed);
}
