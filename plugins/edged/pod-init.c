/* pod-init.c: a pod's init containers, as kubelet runs them: in spec
 * order, after the sandbox and before any app container, each one created,
 * started and watched until it exits; the next starts only when it exited
 * 0. A failed one is run again with kubelet's CrashLoopBackOff unless
 * restartPolicy is Never, which fails the pod (phase Failed, no app
 * container ever runs). They are spec->containers[0 .. n_init-1]. */
#include "pod.h"

#define INIT_POLL_US (500 * 1000)

static gboolean
completed (EdgedContainer *c)
{
  return c->id && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED && c->exit_code == 0;
}

static void
on_init_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  guint i = pod->next;
  EdgedContainer *c = &pod->containers[i];
  Runtime__V1__ContainerStatusResponse *r = (Runtime__V1__ContainerStatusResponse *) response;

  if (!error && r->status)
    edged_container_take_status (c, r->status);
  else if (error && g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND))
    {
      /* gone from the runtime: run it again */
      g_clear_pointer (&c->id, g_free);
      c->state = -1;
    }
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  if (c->id && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED && c->exit_code != 0)
    {
      if (!g_strcmp0 (pod->spec->restart_policy, "Never"))
        {
          pod->init_failed = TRUE;
          ec_log_warning (pod->edged->context, "pod %s/%s: init container %s failed (exit code %d) "
                          "under restartPolicy Never: the pod failed", pod->spec->namespace,
                          pod->spec->name, pod->spec->containers[i].name, c->exit_code);
        }
      else
        edged_container_retire (pod, i, TRUE);
    }
  if (completed (c))
    {
      edged_pod_step_done (pod);   /* on to the next at once */
      return;
    }
  /* still running (or waiting): asked again shortly */
  pod->retry_at = g_get_monotonic_time () + INIT_POLL_US;
  edged_pod_step_done (pod);
}

/* The pod's step in stage POD_INIT: the first init container that has not
 * completed is created, or asked for its state; once all completed, the app
 * containers follow. */
void
edged_pod_init_step (EdgedPod *pod)
{
  guint i = 0;
  EdgedContainer *c;

  if (pod->init_failed)
    {
      pod->busy = FALSE;
      return;
    }
  while (i < pod->spec->n_init && completed (&pod->containers[i]))
    i++;
  if (i == pod->spec->n_init)
    {
      ec_log_info (pod->edged->context, "pod %s/%s: %u init container(s) completed",
                   pod->spec->namespace, pod->spec->name, pod->spec->n_init);
      pod->stage = POD_CONTAINERS;
      pod->next = pod->spec->n_init;
      edged_pod_step_done (pod);
      return;
    }
  c = &pod->containers[i];
  pod->next = i;
  if (!c->id)
    {
      if (c->restart_at)
        {
          if (g_get_monotonic_time () < c->restart_at)
            {
              pod->busy = FALSE;   /* back-off: the tick comes back */
              return;
            }
          c->restart_at = 0;
          c->restart_count++;
        }
      edged_pod_create_container (pod);
      return;
    }
  {
    Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
    req.container_id = c->id;
    edged_cri_invoke (pod->edged->runtime, &edged_cri_container_status, &req.base,
                      (guint) pod->edged->request_timeout_ms, on_init_status, pod, NULL);
  }
}
