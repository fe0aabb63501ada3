/* hooks.c: a container's lifecycle handlers, as kubelet runs them:
 *
 *   postStart  right after StartContainer, before the next container is
 *              started; when it fails the container is stopped
 *              (FailedPostStartHook) and restarted per restartPolicy;
 *   preStop    before StopContainer when the pod is removed, within the
 *              grace period: StopContainer then gets what is left of it
 *              (at least 2 s, kubelet's minimum).
 *
 * exec handlers run through CRI ExecSync, httpGet handlers with
 * probe-http.c (only a failure to connect or answer fails them: kubelet
 * does not look at the status code), tcpSocket handlers connect. */
#include "pod.h"

#include <string.h>

struct _EdgedHookRun {
  gint          ref;
  EdgedPod     *pod;          /* NULL once the pod is gone */
  EdgedHookDone done;
  GCancellable *cancel;
};

static void
run_unref (EdgedHookRun *run)
{
  if (!g_atomic_int_dec_and_test (&run->ref))
    return;
  g_clear_object (&run->cancel);
  g_free (run);
}

static void
run_finish (EdgedHookRun *run, gboolean ok, const char *detail)
{
  EdgedPod *pod = run->pod;
  if (!pod)
    return;
  pod->hook_run = NULL;
  run->pod = NULL;
  run_unref (run);            /* the pod's reference */
  run->done (pod, ok, detail);
}

static void
on_exec (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedHookRun *run = data;
  Runtime__V1__ExecSyncResponse *r = (Runtime__V1__ExecSyncResponse *) response;
  g_autofree char *detail = NULL;
  gboolean ok = !error && r->exit_code == 0;

  if (error)
    detail = g_strdup (error->message);
  else if (!ok)
    detail = g_strdup_printf ("command exited with %d: %.200s", r->exit_code,
                              r->stderr.len ? (char *) r->stderr.data : "");
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  run_finish (run, ok, detail);
}

static void
on_check (EdgedProbeResult result, const char *detail, gpointer data)
{
  EdgedHookRun *run = data;
  /* an answer, whatever its status, is a success for a hook */
  run_finish (run, result != EDGED_PROBE_FAILURE
                   || (detail && g_str_has_prefix (detail, "HTTP probe failed")), detail);
  run_unref (run);
}

static gboolean
on_no_ip (gpointer data)
{
  run_finish (data, FALSE, "the pod has no IP address");
  return G_SOURCE_REMOVE;
}

/* Runs handler for the pod's container (its CRI id container_id) within
 * timeout_ms; done gets the outcome unless the pod goes first. One hook at
 * a time per pod. */
void
edged_hook_run (EdgedPod *pod, const EdgedProbeSpec *handler, const char *container_id,
                guint timeout_ms, EdgedHookDone done)
{
  EdgedHookRun *run = g_new0 (EdgedHookRun, 1);
  run->ref = 2;              /* the pod's and the call's */
  run->pod = pod;
  run->done = done;
  run->cancel = g_cancellable_new ();
  pod->hook_run = run;
  if (handler->kind == EDGED_HANDLER_EXEC)
    {
      Runtime__V1__ExecSyncRequest req = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;
      req.container_id = (char *) container_id;
      req.cmd = handler->command;
      req.n_cmd = g_strv_length (handler->command);
      req.timeout = MAX (timeout_ms / 1000, 1);
      edged_cri_invoke (pod->edged->runtime, &edged_cri_exec_sync, &req.base, timeout_ms + 2000,
                        on_exec, run, (GDestroyNotify) run_unref);
      return;
    }
  if (!handler->host && !edged_pod_ip (pod))
    {
      /* answered from the main loop, never inside the call */
      g_idle_add_full (G_PRIORITY_DEFAULT, on_no_ip, run, (GDestroyNotify) run_unref);
      return;
    }
  (handler->kind == EDGED_HANDLER_HTTP ? edged_probe_http : edged_probe_tcp)
    (handler, edged_pod_ip (pod), timeout_ms, run->cancel, on_check, run);
}

/* The pod is going: a hook still running is forgotten. */
void
edged_hook_forget (EdgedPod *pod)
{
  EdgedHookRun *run = pod->hook_run;
  if (!run)
    return;
  pod->hook_run = NULL;
  run->pod = NULL;
  g_cancellable_cancel (run->cancel);
  run_unref (run);
}
