/* pod-update.c: a changed pod spec from the cloud (an update without
 * deletionTimestamp), applied as kubelet does: an app container whose spec
 * changed (its hash: the whole container object) and that runs is stopped
 * and created again from the new spec (its image pulled first if needed),
 * whatever the restart policy; its restart count goes up by one and the
 * stopped one becomes its lastState. Unchanged containers are not touched.
 * Init containers are not run again. The same holds for a container
 * adopted after an edgecore restart whose spec hash (an annotation set at
 * creation) is not the stored spec's. A change to the set of containers
 * (names, order, number) cannot be applied to a pod and is refused with a
 * log line, as the API server refuses it. */
#include "pod.h"

#include <string.h>

/* The cloud sent spec (taken) for a pod that runs: kept until the pod's
 * next step can apply it. */
void
edged_pod_update (EdgedPod *pod, EdgedPodSpec *spec)
{
  gboolean same = spec->n_containers == pod->spec->n_containers
                  && spec->n_init == pod->spec->n_init;
  for (guint i = 0; same && i < spec->n_containers; i++)
    same = !strcmp (spec->containers[i].name, pod->spec->containers[i].name);
  if (!same)
    {
      ec_log_warning (pod->edged->context, "pod %s/%s: update changes the pod's containers "
                      "(names, order or number): not applied", spec->namespace, spec->name);
      edged_pod_spec_free (spec);
      return;
    }
  edged_pod_spec_free (pod->pending_spec);
  pod->pending_spec = spec;
}

static void stop_next (EdgedPod *pod);

static void
on_replaced_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  guint i = pod->update_next;
  EdgedContainer *c = &pod->containers[i];
  Runtime__V1__ContainerStatusResponse *r = (Runtime__V1__ContainerStatusResponse *) response;

  if (!error && r->status)
    edged_container_take_status (c, r->status);
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  edged_container_retire (pod, i, FALSE);
  c->restart_count++;
  c->replace = FALSE;
  pod->update_next++;
  stop_next (pod);
}

static void
on_replaced_stopped (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;

  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
  if (error && !g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND))
    ec_log_warning (pod->edged->context, "pod %s/%s: stopping container %s for its new spec: %s",
                    pod->spec->namespace, pod->spec->name,
                    pod->spec->containers[pod->update_next].name, error->message);
  req.container_id = pod->containers[pod->update_next].id;
  edged_cri_invoke (pod->edged->runtime, &edged_cri_container_status, &req.base,
                    (guint) pod->edged->request_timeout_ms, on_replaced_status, pod, NULL);
}

/* Stops the next container marked for replacement; after the last, the
 * images are checked again and the stopped containers created. */
static void
stop_next (EdgedPod *pod)
{
  Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
  guint n = pod->spec->n_containers;

  while (pod->update_next < n && !pod->containers[pod->update_next].replace)
    pod->update_next++;
  if (pod->update_next == n)
    {
      pod->stage = POD_PULLING;
      pod->next = 0;
      edged_pod_step_done (pod);
      return;
    }
  ec_log_info (pod->edged->context, "pod %s/%s: container %s changed: killing it to recreate it",
               pod->spec->namespace, pod->spec->name, pod->spec->containers[pod->update_next].name);
  req.container_id = pod->containers[pod->update_next].id;
  req.timeout = pod->spec->grace_seconds;
  edged_cri_invoke (pod->edged->runtime, &edged_cri_stop_container, &req.base,
                    (guint) pod->edged->request_timeout_ms
                      + (guint) CLAMP (pod->spec->grace_seconds, 0, 3600) * 1000,
                    on_replaced_stopped, pod, NULL);
}

/* From the pod's state machine while a changed spec waits and no call is
 * in flight: TRUE when it took the step (the pod is busy replacing
 * containers), FALSE when the pod goes on with its own step. */
gboolean
edged_pod_update_step (EdgedPod *pod)
{
  EdgedPodSpec *spec = pod->pending_spec;
  guint n_replace = 0;

  if (pod->stage == POD_KILLING || pod->stage == POD_GONE)
    {
      g_clear_pointer (&pod->pending_spec, edged_pod_spec_free);
      pod->replace_adopted = FALSE;
      return FALSE;
    }
  if (pod->replace_adopted)
    {
      /* adopted containers with an older spec: replaced once their state
       * is known (a changed spec from the cloud waits until then) */
      if (pod->stage != POD_RUNNING)
        return FALSE;
      for (guint i = pod->spec->n_init; i < pod->spec->n_containers; i++)
        if (pod->containers[i].replace && pod->containers[i].id && pod->containers[i].state < 0)
          return FALSE;
      pod->replace_adopted = FALSE;
      for (guint i = pod->spec->n_init; i < pod->spec->n_containers; i++)
        {
          EdgedContainer *c = &pod->containers[i];
          c->replace = c->replace && c->id
                       && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
          n_replace += c->replace;
        }
      if (!n_replace)
        return FALSE;
      pod->busy = TRUE;
      pod->update_next = 0;
      stop_next (pod);
      return TRUE;
    }
  if (!spec)
    return FALSE;
  if (pod->stage == POD_PULLING)
    {
      /* nothing runs yet: the new spec replaces the old one (a fixed
       * image is pulled at once) */
      pod->pending_spec = NULL;
      edged_pod_rekey (pod, spec);
      pod->next = 0;
      pod->retry_at = 0;
      pod->pull_failures = 0;
      return FALSE;
    }
  if (pod->stage != POD_RUNNING)
    return FALSE;   /* applied once the pod runs */
  for (guint i = spec->n_init; i < spec->n_containers; i++)
    {
      EdgedContainer *c = &pod->containers[i];
      c->replace = strcmp (spec->containers[i].hash, pod->spec->containers[i].hash) != 0
                   && c->id && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
      n_replace += c->replace;
    }
  pod->pending_spec = NULL;
  edged_pod_rekey (pod, spec);
  if (!n_replace)
    return FALSE;
  pod->busy = TRUE;
  pod->update_next = 0;
  stop_next (pod);
  return TRUE;
}

/* An adopted container: when it carries the hash of a spec other than the
 * pod's, it is marked for replacement. */
void
edged_pod_adopt_check (EdgedPod *pod, guint i, Runtime__V1__Container *found)
{
  for (gsize k = 0; k < found->n_annotations; k++)
    if (!g_strcmp0 (found->annotations[k]->key, EDGED_HASH_ANNOTATION)
        && g_strcmp0 (found->annotations[k]->value, pod->spec->containers[i].hash) != 0
        && i >= pod->spec->n_init)
      {
        ec_log_message (pod->edged->context, "pod %s/%s: adopted container %s runs an older spec",
                        pod->spec->namespace, pod->spec->name, pod->spec->containers[i].name);
        pod->containers[i].replace = TRUE;
        pod->replace_adopted = TRUE;
      }
}
