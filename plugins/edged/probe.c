/* probe.c: running a pod's liveness, readiness and startup probes as
 * kubelet's prober does:
 *
 *   - a container's probes start when it runs, and start over (results and
 *     counts reset) for each new container of it (a restart);
 *   - a probe first runs initialDelaySeconds after the container started,
 *     then every periodSeconds, each attempt bounded by timeoutSeconds
 *     (exec: CRI ExecSync with that timeout, exit code 0 is success;
 *     httpGet and tcpSocket: probe-http.c, grpc: probe-grpc.c);
 *   - the result changes after successThreshold successes or
 *     failureThreshold failures in a row; until a first result, liveness
 *     counts as success, readiness as failure, startup as not started;
 *   - while a startup probe has not succeeded, the other two do not run,
 *     and once it has, it runs no more;
 *   - a failed liveness or startup probe stops the container (StopContainer
 *     with the pod's grace period); pod-worker.c then restarts it per
 *     restartPolicy, counted, as any exited container.
 *
 * Results show in containerStatuses ready/started and the Ready and
 * ContainersReady conditions (pod-status.c). */
#include "pod.h"

#include <string.h>

struct _EdgedProber {
  gint            ref;
  EdgedPod       *pod;           /* NULL once the pod is gone */
  guint           index;         /* the container */
  EdgedProbeType  type;
  char           *container_id;  /* the container probed; NULL: not running */
  gint64          started_at;    /* its start, unix ns */
  guint           timer;
  gboolean        busy;
  guint           generation;    /* bumped on reset: stale answers are dropped */
  int             result;        /* 1 success, 0 failure, -1 none yet */
  guint           successes, failures;
  gboolean        on_hold;       /* liveness/startup failed: the container is being stopped */
  gboolean        warned;        /* a probe warning was logged for this container */
  GCancellable   *cancel;
};

static const char *probe_names[EDGED_N_PROBES] = { "Liveness", "Readiness", "Startup" };

static EdgedProber *
prober_ref (EdgedProber *p)
{
  g_atomic_int_inc (&p->ref);
  return p;
}

static void
prober_unref (EdgedProber *p)
{
  if (!g_atomic_int_dec_and_test (&p->ref))
    return;
  g_clear_handle_id (&p->timer, g_source_remove);
  g_clear_object (&p->cancel);
  g_free (p->container_id);
  g_free (p);
}

static const EdgedProbeSpec *
prober_spec (EdgedProber *p)
{
  return p->pod->spec->containers[p->index].probes[p->type];
}

static int
initial_result (EdgedProbeType type)
{
  return type == EDGED_PROBE_LIVENESS ? 1 : type == EDGED_PROBE_READINESS ? 0 : -1;
}

static EdgedProber *
find (EdgedPod *pod, guint index, EdgedProbeType type)
{
  for (guint i = 0; pod->probers && i < pod->probers->len; i++)
    {
      EdgedProber *p = g_ptr_array_index (pod->probers, i);
      if (p->index == index && p->type == type)
        return p;
    }
  return NULL;
}

static void schedule (EdgedProber *p, gint64 delay_ms);

/* A liveness or startup failure: the container is stopped; the pod's next
 * status round sees it exited and restarts it per restartPolicy. */
static void
on_stopped (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedProber *p = data;
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
  if (error && p->pod)
    ec_log_warning (p->pod->edged->context, "pod %s/%s: stopping container %s: %s",
                    p->pod->spec->namespace, p->pod->spec->name,
                    p->pod->spec->containers[p->index].name, error->message);
}

static void
kill_container (EdgedProber *p, const char *detail)
{
  EdgedPod *pod = p->pod;
  Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
  ec_log_message (pod->edged->context, "pod %s/%s: container %s failed %s probe, will be "
                  "restarted: %s", pod->spec->namespace, pod->spec->name,
                  pod->spec->containers[p->index].name,
                  p->type == EDGED_PROBE_LIVENESS ? "liveness" : "startup", detail);
  p->on_hold = TRUE;
  req.container_id = p->container_id;
  req.timeout = pod->spec->grace_seconds;
  edged_cri_invoke (pod->edged->runtime, &edged_cri_stop_container, &req.base,
                    (guint) pod->edged->request_timeout_ms
                      + (guint) MAX (pod->spec->grace_seconds, 0) * 1000,
                    on_stopped, prober_ref (p), (GDestroyNotify) prober_unref);
}

/* One attempt's outcome. */
static void
record (EdgedProber *p, gboolean ok, const char *detail)
{
  EdgedPod *pod = p->pod;
  const EdgedProbeSpec *spec = prober_spec (p);
  int before = p->result;

  if (ok)
    {
      p->failures = 0;
      if (++p->successes >= spec->success_threshold)
        p->result = 1;
    }
  else
    {
      p->successes = 0;
      if (++p->failures >= spec->failure_threshold)
        p->result = 0;
    }
  if (!ok)
    ec_log_info (pod->edged->context, "pod %s/%s: %s probe of %s failed (%u of %" G_GINT64_FORMAT
                 "): %s", pod->spec->namespace, pod->spec->name, probe_names[p->type],
                 pod->spec->containers[p->index].name, p->failures, spec->failure_threshold,
                 detail ? detail : "");
  if (p->result == 0 && p->type != EDGED_PROBE_READINESS && !p->on_hold)
    kill_container (p, detail ? detail : "");
  if (p->result != before)
    edged_pod_report (pod);
}

static void
attempt_done (EdgedProber *p, guint generation, gboolean ok, const char *detail)
{
  p->busy = FALSE;
  if (!p->pod || generation != p->generation || !p->container_id)
    return;
  record (p, ok, detail);
  if (p->pod && p->container_id && !p->on_hold
      && !(p->type == EDGED_PROBE_STARTUP && p->result == 1))
    schedule (p, prober_spec (p)->period * 1000);
}

typedef struct {
  EdgedProber *p;
  guint        generation;
} Attempt;

static void
attempt_free (Attempt *a)
{
  prober_unref (a->p);
  g_free (a);
}

static void
on_exec (ProtobufCMessage *response, const GError *error, gpointer data)
{
  Attempt *a = data;
  Runtime__V1__ExecSyncResponse *r = (Runtime__V1__ExecSyncResponse *) response;
  g_autofree char *detail = NULL;
  gboolean ok = FALSE;

  if (error)
    detail = g_strdup (g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_DEADLINE_EXCEEDED)
                         ? "command timed out" : error->message);
  else
    {
      ok = r->exit_code == 0;
      if (!ok)
        detail = g_strdup_printf ("command exited with %d: %.200s", r->exit_code,
                                  r->stdout.len ? (char *) r->stdout.data : "");
      if (detail)
        g_strdelimit (detail, "\r\n", ' ');
    }
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  attempt_done (a->p, a->generation, ok, detail);
}

static void
on_check (EdgedProbeResult result, const char *detail, gpointer data)
{
  Attempt *a = data;
  EdgedProber *p = a->p;
  /* kubelet's ProbeWarning event (once per container start here, not
   * every period): the attempt counts as a success */
  if (result == EDGED_PROBE_WARNING && p->pod && a->generation == p->generation && !p->warned)
    {
      p->warned = TRUE;
      ec_log_warning (p->pod->edged->context, "pod %s/%s: %s probe warning of %s: %s",
                      p->pod->spec->namespace, p->pod->spec->name, probe_names[p->type],
                      p->pod->spec->containers[p->index].name, detail ? detail : "");
    }
  attempt_done (p, a->generation, result != EDGED_PROBE_FAILURE, detail);
  attempt_free (a);
}

/* The pod's IP for probes and handlers that name no host. */
const char *
edged_pod_ip (EdgedPod *pod)
{
  /* host-network pods have the node's address; others the first of their
   * own from the runtime's network (pod-network.c) */
  if (pod->spec->host_network)
    return pod->edged->node_ip;
  return pod->pod_ips && pod->pod_ips[0] ? pod->pod_ips[0] : NULL;
}

static gboolean
on_due (gpointer data)
{
  EdgedProber *p = data;
  EdgedPod *pod = p->pod;
  const EdgedProbeSpec *spec = prober_spec (p);
  EdgedProber *startup = find (pod, p->index, EDGED_PROBE_STARTUP);
  Attempt *a;
  guint timeout_ms = (guint) MIN (spec->timeout, 3600) * 1000;

  p->timer = 0;
  if (p->type != EDGED_PROBE_STARTUP && startup && startup->result != 1)
    {
      schedule (p, spec->period * 1000);   /* held back until started */
      return G_SOURCE_REMOVE;
    }
  p->busy = TRUE;
  a = g_new0 (Attempt, 1);
  a->p = prober_ref (p);
  a->generation = p->generation;
  switch (spec->kind)
    {
    case EDGED_HANDLER_EXEC:
      {
        Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
        req.container_id = p->container_id;
        req.cmd = spec->command;
        req.n_cmd = g_strv_length (spec->command);
        req.timeout = spec->timeout;
        edged_cri_invoke (pod->edged->runtime, &edged_cri_exec_sync, &req.base, timeout_ms + 2000,
                          on_exec, a, (GDestroyNotify) attempt_free);
      }
      break;
    case EDGED_HANDLER_HTTP:
    case EDGED_HANDLER_TCP:
    case EDGED_HANDLER_GRPC:
      if (!spec->host && !edged_pod_ip (pod))
        {
          attempt_done (p, p->generation, FALSE, "the pod has no IP address");
          attempt_free (a);
          break;
        }
      (spec->kind == EDGED_HANDLER_HTTP ? edged_probe_http
       : spec->kind == EDGED_HANDLER_TCP ? edged_probe_tcp : edged_probe_grpc)
        (spec, edged_pod_ip (pod), timeout_ms, p->cancel, on_check, a);
      break;
    }
  return G_SOURCE_REMOVE;
}

static void
schedule (EdgedProber *p, gint64 delay_ms)
{
  g_clear_handle_id (&p->timer, g_source_remove);
  p->timer = g_timeout_add ((guint) CLAMP (delay_ms, 0, G_MAXUINT32 / 2), on_due, p);
}

/* Stops probing (the container is not running); a pending attempt's answer
 * is dropped. */
static void
prober_reset (EdgedProber *p)
{
  g_clear_handle_id (&p->timer, g_source_remove);
  g_clear_pointer (&p->container_id, g_free);
  g_cancellable_cancel (p->cancel);
  g_clear_object (&p->cancel);
  p->generation++;
  p->busy = FALSE;
  p->result = initial_result (p->type);
  p->successes = p->failures = 0;
  p->on_hold = FALSE;
  p->warned = FALSE;
}

/* After each status round: probes follow the containers (started for a new
 * running container, stopped for one that is not running). */
void
edged_probes_sync (EdgedPod *pod)
{
  gint64 now_ns = g_get_real_time () * 1000;
  for (guint i = 0; i < pod->spec->n_containers; i++)
    {
      EdgedContainer *c = &pod->containers[i];
      gboolean running = c->id && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
      for (int t = 0; t < EDGED_N_PROBES; t++)
        {
          EdgedProber *p;
          if (!pod->spec->containers[i].probes[t])
            continue;
          p = find (pod, i, (EdgedProbeType) t);
          if (!p)
            {
              if (!pod->probers)
                pod->probers = g_ptr_array_new ();
              p = g_new0 (EdgedProber, 1);
              p->ref = 1;
              p->pod = pod;
              p->index = i;
              p->type = (EdgedProbeType) t;
              p->result = initial_result (p->type);
              g_ptr_array_add (pod->probers, p);
            }
          if (running && g_strcmp0 (p->container_id, c->id) != 0)
            {
              const EdgedProbeSpec *spec = prober_spec (p);
              gint64 since_ms = (now_ns - c->started_at) / 1000000;
              prober_reset (p);
              p->container_id = g_strdup (c->id);
              p->started_at = c->started_at;
              p->cancel = g_cancellable_new ();
              schedule (p, MAX (spec->initial_delay * 1000 - since_ms, 0));
            }
          else if (!running && p->container_id)
            prober_reset (p);
        }
    }
}

/* The pod is going: its probes stop, answers still due are dropped. */
void
edged_probes_free (EdgedPod *pod)
{
  for (guint i = 0; pod->probers && i < pod->probers->len; i++)
    {
      EdgedProber *p = g_ptr_array_index (pod->probers, i);
      prober_reset (p);
      p->pod = NULL;
      prober_unref (p);
    }
  g_clear_pointer (&pod->probers, g_ptr_array_unref);
}

/* containerStatuses[].started: running, and its startup probe (if any)
 * succeeded. */
gboolean
edged_probe_started (EdgedPod *pod, guint index)
{
  EdgedContainer *c = &pod->containers[index];
  EdgedProber *startup;
  if (!c->id || c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
    return FALSE;
  if (!pod->spec->containers[index].probes[EDGED_PROBE_STARTUP])
    return TRUE;
  startup = find (pod, index, EDGED_PROBE_STARTUP);
  return startup && startup->container_id && !g_strcmp0 (startup->container_id, c->id)
         && startup->result == 1;
}

/* containerStatuses[].ready: started, and its readiness probe (if any)
 * succeeded. */
gboolean
edged_probe_ready (EdgedPod *pod, guint index)
{
  EdgedProber *readiness;
  if (!edged_probe_started (pod, index))
    return FALSE;
  if (!pod->spec->containers[index].probes[EDGED_PROBE_READINESS])
    return TRUE;
  readiness = find (pod, index, EDGED_PROBE_READINESS);
  return readiness && readiness->container_id
         && !g_strcmp0 (readiness->container_id, pod->containers[index].id)
         && readiness->result == 1;
}
