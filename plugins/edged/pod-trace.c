/* pod-trace.c: where a pod's start time goes. Every CRI call of a pod is
 * timed from the moment edged issues it to its answer, and logged at debug
 * level ([core] log-level=debug) as
 *
 *   trace pod <ns>/<name> <method> issued +<ms since the pod message> took <ms>
 *
 * and the first Running status of a pod is logged (info) with the time
 * since the runtime answered its last StartContainer, the figure issue 10
 * asks under 50 ms (bench/edged reads both).
 *
 * A successful StartContainer means the runtime started the container's
 * process: the container counts as running from that answer (started at
 * the answer's time, the image reference from ImageStatus), so that Running
 * is reported without waiting for the ContainerStatus round trip, which
 * follows at once and corrects the start time to the runtime's. */
#include "pod.h"

#include <string.h>

typedef struct {
  EdgedPod          *pod;
  EdgedCriReplyFunc  callback;
  const char        *method;
  gint64             issued;    /* monotonic µs */
} TraceCall;

static void
on_traced (ProtobufCMessage *response, const GError *error, gpointer data)
{
  TraceCall *t = data;
  EdgedPod *pod = t->pod;
  gint64 now = g_get_monotonic_time ();
  const char *slash = strrchr (t->method, '/');

  ec_log_debug (pod->edged->context, "trace pod %s/%s %s issued +%.1f ms took %.1f ms%s",
                pod->spec->namespace, pod->spec->name, slash ? slash + 1 : t->method,
                (t->issued - pod->trace_t0) / 1000.0, (now - t->issued) / 1000.0,
                error ? " (error)" : "");
  t->callback (response, error, pod);
}

/* edged_cri_invoke for one of pod's calls, timed. */
void
edged_pod_trace_invoke (EdgedPod *pod, EdgedCriClient *client, const EdgedCriMethod *method,
                        const ProtobufCMessage *request, guint timeout_ms,
                        EdgedCriReplyFunc callback)
{
  TraceCall *t = g_new (TraceCall, 1);
  t->pod = pod;
  t->callback = callback;
  t->method = method->path;
  t->issued = g_get_monotonic_time ();
  edged_cri_invoke (client, method, request, timeout_ms, on_traced, t, g_free);
}

/* The image reference ContainerStatus will report (containerd: the first
 * repo digest, else the image id), kept from ImageStatus. */
void
edged_pod_note_image (EdgedContainer *c, const Runtime__V1__Image *image)
{
  const char *ref = image->n_repo_digests ? image->repo_digests[0] : image->id;
  if (!ref || !*ref)
    return;
  g_free (c->image_ref);
  c->image_ref = g_strdup (ref);
}

/* The runtime answered StartContainer for c, one of pod's containers: it
 * runs (when its image reference is known). */
void
edged_pod_trace_started (EdgedPod *pod, EdgedContainer *c)
{
  pod->started_answer_us = g_get_real_time ();
  if (c->image_ref && *c->image_ref)
    {
      c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
      c->started_at = pod->started_answer_us * 1000;
    }
}

/* A status of pod went out: the first Running one is logged with the time
 * since the last StartContainer answer. */
void
edged_pod_trace_reported (EdgedPod *pod, const char *phase)
{
  gint64 now;

  if (pod->running_reported || !pod->started_answer_us || g_strcmp0 (phase, "Running") != 0)
    return;
  pod->running_reported = TRUE;
  now = g_get_real_time ();
  ec_log_info (pod->edged->context, "pod %s/%s: Running reported %.2f ms after the runtime's "
               "StartContainer answer (at unix ms %" G_GINT64_FORMAT ", message +%.1f ms)",
               pod->spec->namespace, pod->spec->name, (now - pod->started_answer_us) / 1000.0,
               now / 1000, (g_get_monotonic_time () - pod->trace_t0) / 1000.0);
}
