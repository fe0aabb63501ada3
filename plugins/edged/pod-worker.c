/* pod-worker.c: running the pods the cloud sends (and, at start, those
 * metamanager stored), on CRI v1, one step at a time per pod (never more
 * than one call in flight for a pod):
 *
 *   adopting    ListPodSandbox by the pod's UID label, ListContainers: a
 *               sandbox left by an earlier run is taken over, not doubled
 *   images      ImageStatus, then PullImage when absent (or Always);
 *               failures: ErrImagePull, then ImagePullBackOff (10 s
 *               doubling to 5 min)
 *   sandbox     RunPodSandbox (host network when spec.hostNetwork, else the
 *               runtime's pod network)
 *   containers  CreateContainer + StartContainer, in spec order
 *   running     ContainerStatus of each container every second; the status
 *               goes to the cloud whenever it changed (pod-status.c)
 *   killing     StopContainer + RemoveContainer of each, StopPodSandbox,
 *               RemovePodSandbox
 *
 * Exited containers are restarted per restartPolicy with kubelet's
 * CrashLoopBackOff (plan_restarts). */
#include "pod.h"
#include "pod-network.h"
#include "pod-resources.h"
#include "pod-security.h"
#include "pod-objects.h"
#include "static-pods.h"

#include <string.h>

#define POD_TICK_MS        1000
#define PULL_BACKOFF_FIRST (10 * G_USEC_PER_SEC)
#define PULL_BACKOFF_MAX   (300 * G_USEC_PER_SEC)

static void pod_advance (EdgedPod *pod);

/* ---- CRI request building -------------------------------------------- */

typedef struct {
  Runtime__V1__PodSandboxConfig             config;
  Runtime__V1__PodSandboxMetadata           meta;
  Runtime__V1__LinuxPodSandboxConfig        linux_;
  Runtime__V1__LinuxSandboxSecurityContext  sc;
  Runtime__V1__NamespaceOption              ns;
  Runtime__V1__PodSandboxConfig__LabelsEntry *entries;
  Runtime__V1__PodSandboxConfig__LabelsEntry **labels;
  EdgedSecurityStore                        sec;    /* ctr */
  EdgedPortsStore                           ports;  /* ctr */
} SandboxConfig;

/* kubelet's labels on the sandbox, then the pod's. */
static void
sandbox_config_fill (EdgedPod *pod, SandboxConfig *s)
{
  EdgedPodSpec *spec = pod->spec;
  guint n = 3 + g_strv_length (spec->label_keys);
  const char *fixed[3][2] = {
    { "io.kubernetes.pod.name", spec->name },
    { "io.kubernetes.pod.namespace", spec->namespace },
    { "io.kubernetes.pod.uid", spec->uid },
  };

  runtime__v1__pod_sandbox_config__init (&s->config);
  runtime__v1__pod_sandbox_metadata__init (&s->meta);
  runtime__v1__linux_pod_sandbox_config__init (&s->linux_);
  runtime__v1__linux_sandbox_security_context__init (&s->sc);
  runtime__v1__namespace_option__init (&s->ns);
  s->entries = g_new0 (Runtime__V1__PodSandboxConfig__LabelsEntry, n);
  s->labels = g_new0 (Runtime__V1__PodSandboxConfig__LabelsEntry *, n);
  for (guint i = 0; i < n; i++)
    {
      runtime__v1__pod_sandbox_config__labels_entry__init (&s->entries[i]);
      s->entries[i].key = (char *) (i < 3 ? fixed[i][0] : spec->label_keys[i - 3]);
      s->entries[i].value = (char *) (i < 3 ? fixed[i][1] : spec->label_values[i - 3]);
      s->labels[i] = &s->entries[i];
    }
  s->meta.name = spec->name;
  s->meta.uid = spec->uid;
  s->meta.namespace_ = spec->namespace;
  s->meta.attempt = pod->sandbox_attempt;
  s->ns.network = spec->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
                                     : RUNTIME__V1__NAMESPACE_MODE__POD;
  s->ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
  s->ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
  s->sc.namespace_options = &s->ns;
  s->linux_.security_context = &s->sc;
  s->linux_.cgroup_parent = pod->cgroup_parent;
  s->config.metadata = &s->meta;
  /* no hostname on a host-network sandbox: runc refuses it without a UTS namespace */
  if (!spec->host_network)
    s->config.hostname = spec->name;
  s->config.log_directory = pod->log_dir;
  s->config.n_labels = n;
  s->config.labels = s->labels;
  s->config.linux = &s->linux_;
  /* ctr: pod-level securityContext, ports */
  memset (&s->sec, 0, sizeof s->sec);
  edged_security_fill_sandbox (spec, &s->sc, &s->sec);
  edged_ports_fill (spec, &s->config, &s->ports);
}

static void
sandbox_config_clear (SandboxConfig *s)
{
  g_free (s->entries);
  g_free (s->labels);
  edged_security_store_clear (&s->sec);
  edged_ports_store_clear (&s->ports);
}

/* Sends one CRI request for pod, bounded by edged's request timeout; the
 * reply goes to callback with the pod. */
static void
pod_request (EdgedPod *pod, EdgedCriClient *client, const EdgedCriMethod *method,
             const ProtobufCMessage *req, EdgedCriReplyFunc callback)
{
  /* timed: pod-trace.c */
  edged_pod_trace_invoke (pod, client, method, req, (guint) pod->edged->request_timeout_ms, callback);
}

/* pod_request for a request that carries the pod's sandbox config: it is
 * put in *slot for the call (which encodes the request at once) and freed
 * after. */
static void
pod_request_with_sandbox (EdgedPod *pod, EdgedCriClient *client, const EdgedCriMethod *method,
                          const ProtobufCMessage *req, Runtime__V1__PodSandboxConfig **slot,
                          EdgedCriReplyFunc callback)
{
  SandboxConfig s;
  sandbox_config_fill (pod, &s);
  *slot = &s.config;
  pod_request (pod, client, method, req, callback);
  *slot = NULL;
  sandbox_config_clear (&s);
}

/* ---- steps ------------------------------------------------------------- */

static void
container_set_waiting (EdgedContainer *c, const char *reason, const char *message)
{
  g_free (c->waiting_reason);
  g_free (c->waiting_message);
  c->waiting_reason = g_strdup (reason);
  c->waiting_message = g_strdup (message);
}

/* A step finished: the next one starts now (or at the next tick). */
static void
step_done (EdgedPod *pod)
{
  pod->busy = FALSE;
  edged_pod_report (pod);
  pod_advance (pod);
}

/* ctr: the two above, for the steps in pod-init.c, pod-network.c,
 * pod-update.c, pod-security.c */
void
edged_container_set_waiting (EdgedContainer *c, const char *reason, const char *message)
{
  container_set_waiting (c, reason, message);
}

void
edged_pod_step_done (EdgedPod *pod)
{
  step_done (pod);
}

/* Like edged_pod_step_done, without a report: adoption, whose containers'
 * states are not read yet (pod-network.c). */
void
edged_pod_step_done_quiet (EdgedPod *pod)
{
  pod->busy = FALSE;
  pod_advance (pod);
}

static void
on_pulled (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  EdgedContainer *c = &pod->containers[pod->next];

  if (error)
    {
      gint64 delay = PULL_BACKOFF_FIRST << MIN (pod->pull_failures, 5);
      pod->pull_failures++;
      pod->retry_at = g_get_monotonic_time () + MIN (delay, PULL_BACKOFF_MAX);
      container_set_waiting (c, "ErrImagePull", error->message);
      ec_log_warning (pod->edged->context, "pod %s/%s: pulling %s failed: %s", pod->spec->namespace,
                      pod->spec->name, pod->spec->containers[pod->next].image, error->message);
    }
  else
    {
      protobuf_c_message_free_unpacked (response, NULL);
      pod->pull_failures = 0;
      c->image_known = FALSE;   /* ctr: its user is read before CreateContainer */
      container_set_waiting (c, "ContainerCreating", NULL);
      pod->next++;
    }
  step_done (pod);
}

static void
on_image_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  Runtime__V1__ImageStatusResponse *r = (Runtime__V1__ImageStatusResponse *) response;
  EdgedContainerSpec *cs = &pod->spec->containers[pod->next];
  EdgedContainer *c = &pod->containers[pod->next];
  gboolean present = r && r->image;

  if (present)
    {
      /* ctr: the image's user, for runAsNonRoot and the default user */
      c->image_uid = r->image->uid ? r->image->uid->value : -1;
      c->image_known = TRUE;
      g_free (c->image_user);
      c->image_user = g_strdup (r->image->username);
      edged_pod_note_image (c, r->image);   /* pod-trace.c */
    }
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  if (error)
    {
      container_set_waiting (c, "ErrImagePull", error->message);
      pod->retry_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST;
      step_done (pod);
      return;
    }
  if (present && strcmp (cs->pull_policy, "Always") != 0)
    {
      container_set_waiting (c, "ContainerCreating", NULL);
      pod->next++;
      step_done (pod);
      return;
    }
  if (!present && !strcmp (cs->pull_policy, "Never"))
    {
      g_autofree char *msg = g_strdup_printf ("Container image \"%s\" is not present with pull "
                                              "policy of Never", cs->image);
      container_set_waiting (c, "ErrImageNeverPull", msg);
      pod->retry_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST;
      step_done (pod);
      return;
    }
  {
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__PullImageRequest req = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    /* vol: credentials from the pod's imagePullSecrets (pull-secrets.c) */
    g_autoptr (Runtime__V1__AuthConfig) auth = edged_pod_pull_auth (pod, cs->image);
    spec.image = cs->image;
    req.image = &spec;
    req.auth = auth;
    pod_request_with_sandbox (pod, pod->edged->images, &edged_cri_pull_image, &req.base, &req.sandbox_config,
                              on_pulled);
  }
}

/* The pod's sandbox is there (RunPodSandbox's answer, or one found ready
 * after a failed RunPodSandbox: pod-sandbox-retry.c): its containers next. */
void
edged_pod_sandbox_ready (EdgedPod *pod, const char *sandbox_id)
{
  pod->sandbox_id = g_strdup (sandbox_id);
  pod->stage = pod->spec->n_init ? POD_INIT : POD_CONTAINERS;   /* ctr: init first */
  pod->next = 0;
  if (!pod->spec->host_network)
    {
      edged_pod_network_query (pod);   /* ctr: the pod's IPs; ends the step */
      return;
    }
  step_done (pod);
}

static void
on_sandbox (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  if (error)
    {
      ec_log_warning (pod->edged->context, "pod %s/%s: RunPodSandbox failed (retried): %s",
                      pod->spec->namespace, pod->spec->name, error->message);
      for (guint i = 0; i < pod->spec->n_containers; i++)
        container_set_waiting (&pod->containers[i], "CreatePodSandboxError", error->message);
      pod->retry_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST;
      pod->sandbox_relist = TRUE;   /* misc: what it left is looked at first (pod-sandbox-retry.c) */
      step_done (pod);
      return;
    }
  {
    g_autofree char *id = g_strdup (((Runtime__V1__RunPodSandboxResponse *) response)->pod_sandbox_id);
    protobuf_c_message_free_unpacked (response, NULL);
    edged_pod_sandbox_ready (pod, id);
  }
}

/* The current container's step failed: it waits with reason, and the
 * failure (of verb, "creating" or "starting") is logged. */
static void
container_failed (EdgedPod *pod, const char *reason, const char *verb, const GError *error)
{
  EdgedContainer *c = &pod->containers[pod->next];
  container_set_waiting (c, reason, error->message);
  ec_log_warning (pod->edged->context, "pod %s/%s: %s container %s failed: %s", pod->spec->namespace,
                  pod->spec->name, verb, pod->spec->containers[pod->next].name, error->message);
  /* pods30: a container that could not be created (an error or a timeout
   * of CreateContainer, runAsNonRoot) is created again after kubelet's
   * 10 s, whatever the restartPolicy (it never ran); plan_restarts does it */
  if (pod->stage == POD_CONTAINERS && !c->id && !strcmp (verb, "creating"))
    {
      c->restart_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST;
      c->create_retry = TRUE;
    }
}

/* Done with the current container: on to the next, or, after the last,
 * the pod runs. */
static void
next_container (EdgedPod *pod)
{
  if (pod->stage == POD_INIT)
    {
      /* ctr: an init container runs to completion (pod-init.c); one that
       * could not be created or started is tried again later */
      if (!pod->containers[pod->next].id)
        pod->retry_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST;
      step_done (pod);
      return;
    }
  pod->next++;
  if (pod->next == pod->spec->n_containers)
    {
      pod->stage = POD_RUNNING;
      pod->next = 0;
      edged_pod_objects_stale (pod);   /* vol: read again for a restart */
    }
  step_done (pod);
}

static void
on_post_start_stopped (ProtobufCMessage *response, const GError *error, gpointer data)
{
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
}

/* postStart finished (hooks.c); a failure stops the container, which is
 * then restarted per restartPolicy. */
static void
on_post_start (EdgedPod *pod, gboolean ok, const char *detail)
{
  EdgedContainer *c = &pod->containers[pod->next];
  if (!ok)
    {
      Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
      ec_log_warning (pod->edged->context, "pod %s/%s: container %s: FailedPostStartHook: %s",
                      pod->spec->namespace, pod->spec->name, pod->spec->containers[pod->next].name,
                      detail ? detail : "failed");
      req.container_id = c->id;
      req.timeout = pod->spec->grace_seconds;
      edged_cri_invoke (pod->edged->runtime, &edged_cri_stop_container, &req.base,
                        (guint) pod->edged->request_timeout_ms
                          + (guint) MAX (pod->spec->grace_seconds, 0) * 1000,
                        on_post_start_stopped, NULL, NULL);
    }
  next_container (pod);
}

static void
on_started (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  EdgedContainer *c = &pod->containers[pod->next];
  if (error)
    container_failed (pod, "RunContainerError", "starting", error);
  else
    {
      /* the state, times and image come from ContainerStatus, right after */
      protobuf_c_message_free_unpacked (response, NULL);
      container_set_waiting (c, NULL, NULL);
      edged_pod_trace_started (pod, c);   /* pod-trace.c: Running at once */
      /* hooks.c: postStart before the next container starts */
      if (pod->spec->containers[pod->next].post_start)
        {
          edged_hook_run (pod, pod->spec->containers[pod->next].post_start, c->id,
                          (guint) pod->edged->request_timeout_ms, on_post_start);
          return;
        }
    }
  next_container (pod);
}

static void
on_created (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  EdgedContainer *c = &pod->containers[pod->next];
  Runtime__V1__StartContainerRequest req = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;

  if (error)
    {
      container_failed (pod, "CreateContainerError", "creating", error);
      next_container (pod);
      return;
    }
  c->id = g_strdup (((Runtime__V1__CreateContainerResponse *) response)->container_id);
  protobuf_c_message_free_unpacked (response, NULL);
  req.container_id = c->id;
  pod_request (pod, pod->edged->runtime, &edged_cri_start_container, &req.base, on_started);
}

static void
create_container (EdgedPod *pod)
{
  EdgedContainerSpec *cs = &pod->spec->containers[pod->next];
  /* vol: env (valueFrom, envFrom) and volume mounts (pod-env.c, pod-volumes.c) */
  g_autoptr (GPtrArray) env_names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) env_values = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) config_error = NULL;
  gsize n_mounts = 0;
  Runtime__V1__Mount **mounts;
  guint n_env;
  g_autofree Runtime__V1__KeyValue *kv = NULL;
  g_autofree Runtime__V1__KeyValue **envs = NULL;
  g_auto (GStrv) command = NULL;   /* pods30: expanded */
  g_auto (GStrv) args = NULL;
  EdgedContainer *current = &pod->containers[pod->next];
  g_autofree char *log_path = g_strdup_printf ("%s/%u.log", cs->name, current->restart_count);
  Runtime__V1__ContainerMetadata meta = RUNTIME__V1__CONTAINER_METADATA__INIT;
  Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
  Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
  Runtime__V1__LinuxContainerSecurityContext sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
  Runtime__V1__LinuxContainerConfig linux_ = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
  Runtime__V1__ContainerConfig config = RUNTIME__V1__CONTAINER_CONFIG__INIT;
  Runtime__V1__CreateContainerRequest req = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
  Runtime__V1__ContainerConfig__LabelsEntry labels[4];
  Runtime__V1__ContainerConfig__LabelsEntry *label_ptrs[4];
  Runtime__V1__LinuxContainerResources resources = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
  Runtime__V1__ContainerConfig__AnnotationsEntry hash_entry;
  Runtime__V1__ContainerConfig__AnnotationsEntry *hash_ptrs[1] = { &hash_entry };
  EdgedSecurityStore sec = { 0 };
  g_autofree char *not_root = edged_security_check_non_root (pod->spec, pod->next,
                                                              current->image_uid,
                                                              current->image_user);
  const char *label_kv[4][2] = {
    { "io.kubernetes.container.name", cs->name },
    { "io.kubernetes.pod.name", pod->spec->name },
    { "io.kubernetes.pod.namespace", pod->spec->namespace },
    { "io.kubernetes.pod.uid", pod->spec->uid },
  };

  if (!current->image_known)
    {
      edged_pod_lookup_image_user (pod);   /* ctr: ImageStatus first, then here again */
      return;
    }
  if (not_root)
    {
      /* ctr: kubelet's verifyRunAsNonRoot */
      GError e = { G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, not_root };
      container_failed (pod, "CreateContainerConfigError", "creating", &e);
      next_container (pod);
      return;
    }
  if (!edged_pod_env (pod, pod->next, env_names, env_values, &config_error))
    {
      /* kubelet's CreateContainerConfigError: the container waits, retried */
      container_failed (pod, "CreateContainerConfigError", "configuring", config_error);
      edged_pod_objects_stale (pod);
      pod->retry_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST;
      step_done (pod);
      return;
    }
  n_env = env_names->len;
  kv = g_new0 (Runtime__V1__KeyValue, n_env);
  envs = g_new0 (Runtime__V1__KeyValue *, n_env + 1);
  for (guint i = 0; i < n_env; i++)
    {
      runtime__v1__key_value__init (&kv[i]);
      kv[i].key = env_names->pdata[i];
      kv[i].value.data = (guint8 *) env_values->pdata[i];
      kv[i].value.len = strlen (env_values->pdata[i]);
      envs[i] = &kv[i];
    }
  mounts = edged_pod_mounts (pod, pod->next, &n_mounts);
  for (int i = 0; i < 4; i++)
    {
      runtime__v1__container_config__labels_entry__init (&labels[i]);
      labels[i].key = (char *) label_kv[i][0];
      labels[i].value = (char *) label_kv[i][1];
      label_ptrs[i] = &labels[i];
    }
  meta.name = cs->name;
  meta.attempt = current->restart_count;
  image.image = cs->image;
  ns.network = pod->spec->host_network ? RUNTIME__V1__NAMESPACE_MODE__NODE
                                       : RUNTIME__V1__NAMESPACE_MODE__POD;
  ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
  ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
  sc.namespace_options = &ns;
  linux_.security_context = &sc;
  /* ctr: securityContext and resources */
  edged_security_fill (pod->spec, pod->next, current->image_uid, current->image_user, &sc, &sec);
  edged_resources_fill (pod->spec, pod->next, &resources);
  linux_.resources = &resources;
  config.metadata = &meta;
  config.image = &image;
  /* pods30: $(VAR) in command and args, from the container's env */
  command = edged_expand_strv (cs->command, env_names, env_values);
  args = edged_expand_strv (cs->args, env_names, env_values);
  config.command = command;
  config.n_command = command ? g_strv_length (command) : 0;
  config.args = args;
  config.n_args = args ? g_strv_length (args) : 0;
  if (cs->working_dir)
    config.working_dir = cs->working_dir;
  config.envs = envs;
  config.n_envs = n_env;
  config.mounts = mounts;
  config.n_mounts = n_mounts;
  config.labels = label_ptrs;
  config.n_labels = 4;
  /* ctr: the spec's hash, so that an adopted container with an old spec is replaced */
  runtime__v1__container_config__annotations_entry__init (&hash_entry);
  hash_entry.key = (char *) EDGED_HASH_ANNOTATION;
  hash_entry.value = cs->hash;
  config.annotations = hash_ptrs;
  config.n_annotations = 1;
  config.log_path = log_path;
  config.linux = &linux_;
  req.pod_sandbox_id = pod->sandbox_id;
  req.config = &config;
  pod_request_with_sandbox (pod, pod->edged->runtime, &edged_cri_create_container, &req.base,
                            &req.sandbox_config, on_created);
  edged_security_store_clear (&sec);
  edged_pod_mounts_free (mounts);
}

/* ctr: CreateContainer + StartContainer of container pod->next, for
 * pod-init.c and pod-security.c */
void
edged_pod_create_container (EdgedPod *pod)
{
  create_container (pod);
}

/* Container i exited and is to run again: it becomes lastState (the
 * previous dead one is removed), and its restart is due at once, or after
 * kubelet's CrashLoopBackOff when backoff (10 s doubling to 5 min). */
void
edged_container_retire (EdgedPod *pod, guint i, gboolean backoff)
{
  EdgedContainer *c = &pod->containers[i];
  gint64 now = g_get_monotonic_time ();

  c->exit_logged = FALSE;
  /* the exited container becomes lastState; gc.c trims the older dead ones */
  g_free (c->last_id);
  c->last_id = g_strdup (c->id);
  c->dead_id = edged_gc_dead (pod, c, g_steal_pointer (&c->id));
  c->last_exit_code = c->exit_code;
  c->last_started_at = c->started_at;
  c->last_finished_at = c->finished_at;
  g_free (c->last_reason);
  c->last_reason = g_strdup (c->reason && *c->reason ? c->reason
                                                     : c->exit_code ? "Error" : "Completed");
  c->state = -1;
  if (!backoff)
    {
      container_set_waiting (c, "ContainerCreating", NULL);
      return;
    }
  c->restart_at = now + c->backoff_us;
  if (c->backoff_us)
    {
      g_autofree char *msg = g_strdup_printf (
        "back-off %" G_GINT64_FORMAT "s restarting failed container=%s pod=%s_%s(%s)",
        c->backoff_us / G_USEC_PER_SEC, pod->spec->containers[i].name, pod->spec->name,
        pod->spec->namespace, pod->spec->uid);
      container_set_waiting (c, "CrashLoopBackOff", msg);
    }
  else
    container_set_waiting (c, "ContainerCreating", NULL);
  c->backoff_us = c->backoff_us ? MIN (c->backoff_us * 2, PULL_BACKOFF_MAX) : PULL_BACKOFF_FIRST;
}

/* restartPolicy: Always restarts every exited container, OnFailure those
 * that exited non-zero. The first restart is immediate, then kubelet's
 * CrashLoopBackOff: 10 s doubling to 5 min, reset after 10 min of running.
 * The exited container is kept (for its log) until the next restart. Init
 * containers are pod-init.c's. */
static void
plan_restarts (EdgedPod *pod)
{
  const char *policy = pod->spec->restart_policy;
  gint64 now = g_get_monotonic_time ();

  for (guint i = pod->spec->n_init; i < pod->spec->n_containers; i++)
    {
      EdgedContainer *c = &pod->containers[i];
      if (c->id && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING
          && c->backoff_us && g_get_real_time () * 1000 - c->started_at > 600 * G_GINT64_CONSTANT (1000000000))
        c->backoff_us = 0;
      if (!c->id || c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED)
        continue;
      if (!c->exit_logged)
        {
          c->exit_logged = TRUE;
          ec_log_message (pod->edged->context, "pod %s/%s: container %s exited (code %d)",
                          pod->spec->namespace, pod->spec->name, pod->spec->containers[i].name,
                          c->exit_code);
        }
      if (strcmp (policy, "Always") && !(strcmp (policy, "OnFailure") == 0 && c->exit_code != 0))
        continue;
      edged_container_retire (pod, i, TRUE);
    }
  /* a restart that is due: create that container again */
  for (guint i = pod->spec->n_init; i < pod->spec->n_containers; i++)
    {
      EdgedContainer *c = &pod->containers[i];
      if (!c->id && c->restart_at && now >= c->restart_at)
        {
          c->restart_at = 0;
          if (c->create_retry)
            c->create_retry = FALSE;   /* pods30: a retry, not a restart */
          else
            c->restart_count++;
          pod->stage = POD_CONTAINERS;
          pod->next = 0;
        }
    }
}

/* Takes the state, exit code, times, reason and image of st into c. */
void
edged_container_take_status (EdgedContainer *c, Runtime__V1__ContainerStatus *st)
{
  c->state = st->state;
  c->exit_code = st->exit_code;
  c->started_at = st->started_at;
  c->finished_at = st->finished_at;
  g_free (c->reason);
  c->reason = g_strdup (st->reason);
  g_free (c->message);
  c->message = g_strdup (st->message);
  g_free (c->image_ref);
  c->image_ref = g_strdup (st->image_ref);
}

static void
on_container_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  EdgedContainer *c = &pod->containers[pod->next];
  Runtime__V1__ContainerStatusResponse *r = (Runtime__V1__ContainerStatusResponse *) response;

  if (!error && r->status)
    edged_container_take_status (c, r->status);
  else if (error && g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND))
    c->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  pod->next++;
  if (pod->next < pod->spec->n_containers)
    {
      pod->busy = FALSE;
      pod_advance (pod);
      return;
    }
  pod->next = 0;
  pod->busy = FALSE;
  if (pod->adopted)
    {
      pod->adopted = FALSE;
      ec_log_message (pod->edged->context, "pod %s/%s: running again as before (containers "
                      "adopted, restart counts kept)", pod->spec->namespace, pod->spec->name);
    }
  edged_probes_sync (pod);     /* probe.c */
  plan_restarts (pod);
  edged_pod_report (pod);
  if (pod->stage == POD_CONTAINERS)
    pod_advance (pod);
}

/* ---- adopting what an earlier run left ------------------------------------ */

/* The adopted pod's next step: its containers' states are asked before
 * anything is reported, so that the cloud never sees it go back. */
static void
adopt_done (EdgedPod *pod)
{
  guint found = 0;
  for (guint j = 0; j < pod->spec->n_containers; j++)
    found += pod->containers[j].id != NULL;
  ec_log_message (pod->edged->context, "pod %s/%s: adopted sandbox %.12s and %u of %u containers "
                  "from an earlier run", pod->spec->namespace, pod->spec->name, pod->sandbox_id,
                  found, pod->spec->n_containers);
  /* the missing containers are created; their images are there or fail then */
  pod->stage = found == pod->spec->n_containers ? POD_RUNNING : POD_CONTAINERS;
  if (pod->spec->n_init && found < pod->spec->n_containers)
    pod->stage = POD_INIT;   /* ctr: adopted init containers that completed are not run again */
  pod->adopted = found == pod->spec->n_containers;
  pod->next = 0;
  if (!pod->spec->host_network)
    {
      /* ctr: the pod's IPs; ends the step without a report (the
       * containers' states are not read yet) */
      pod->network_quiet = TRUE;
      edged_pod_network_query (pod);
      return;
    }
  pod->busy = FALSE;
  pod_advance (pod);
}

static void adopt_dead_step (EdgedPod *pod);

static void
on_dead_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  EdgedContainer *c = &pod->containers[pod->adopt_next];
  Runtime__V1__ContainerStatusResponse *r = (Runtime__V1__ContainerStatusResponse *) response;

  if (!error && r->status)
    {
      c->last_exit_code = r->status->exit_code;
      c->last_started_at = r->status->started_at;
      c->last_finished_at = r->status->finished_at;
      g_free (c->last_reason);
      c->last_reason = g_strdup (r->status->reason && *r->status->reason ? r->status->reason
                                 : r->status->exit_code ? "Error" : "Completed");
    }
  else
    {
      g_clear_pointer (&c->dead_id, g_free);
      g_clear_pointer (&c->last_id, g_free);
    }
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  pod->adopt_next++;
  adopt_dead_step (pod);
}

/* The kept exited containers' ContainerStatus: their lastState. */
static void
adopt_dead_step (EdgedPod *pod)
{
  Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
  while (pod->adopt_next < pod->spec->n_containers && !pod->containers[pod->adopt_next].dead_id)
    pod->adopt_next++;
  if (pod->adopt_next == pod->spec->n_containers)
    {
      adopt_done (pod);
      return;
    }
  req.container_id = pod->containers[pod->adopt_next].dead_id;
  pod_request (pod, pod->edged->runtime, &edged_cri_container_status, &req.base, on_dead_status);
}

/* For each container of the spec, the runtime's newest attempt is adopted
 * (its attempt number is the restart count), the newest exited one before
 * it is kept as lastState, older ones and containers the spec no longer
 * names are removed. */
static void
on_listed_containers (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  Runtime__V1__ListContainersResponse *r = (Runtime__V1__ListContainersResponse *) response;
  guint n = pod->spec->n_containers;
  g_autofree Runtime__V1__Container **newest = g_new0 (Runtime__V1__Container *, n);
  g_autofree Runtime__V1__Container **previous = g_new0 (Runtime__V1__Container *, n);

  if (error)
    ec_log_warning (pod->edged->context, "pod %s/%s: ListContainers failed: %s",
                    pod->spec->namespace, pod->spec->name, error->message);
  for (gsize i = 0; r && i < r->n_containers; i++)
    {
      Runtime__V1__Container *ct = r->containers[i];
      guint j;
      for (j = 0; j < n; j++)
        if (ct->metadata && !g_strcmp0 (ct->metadata->name, pod->spec->containers[j].name))
          break;
      if (j == n)
        {
          edged_container_remove (pod->edged, ct->id);
          continue;
        }
      if (!newest[j] || ct->metadata->attempt > newest[j]->metadata->attempt)
        {
          if (previous[j])
            edged_container_remove (pod->edged, previous[j]->id);
          previous[j] = newest[j];
          newest[j] = ct;
        }
      else if (!previous[j] || ct->metadata->attempt > previous[j]->metadata->attempt)
        {
          if (previous[j])
            edged_container_remove (pod->edged, previous[j]->id);
          previous[j] = ct;
        }
      else
        edged_container_remove (pod->edged, ct->id);
    }
  for (guint j = 0; j < n; j++)
    {
      EdgedContainer *c = &pod->containers[j];
      if (!newest[j])
        continue;
      c->id = g_strdup (newest[j]->id);
      c->restart_count = newest[j]->metadata->attempt;
      container_set_waiting (c, NULL, NULL);
      edged_pod_adopt_check (pod, j, newest[j]);   /* ctr: spec changed meanwhile? */
      if (previous[j] && previous[j]->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED)
        {
          c->dead_id = g_strdup (previous[j]->id);
          c->last_id = g_strdup (previous[j]->id);
        }
      else if (previous[j])
        edged_container_remove (pod->edged, previous[j]->id);
    }
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  pod->adopt_next = 0;
  adopt_dead_step (pod);
}

static void
on_listed_sandboxes (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  Runtime__V1__ListPodSandboxResponse *r = (Runtime__V1__ListPodSandboxResponse *) response;
  Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
  Runtime__V1__ListContainersRequest req = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
  Runtime__V1__PodSandbox *ready = NULL;

  if (error)
    {
      /* the runtime is not answering: the pod waits for it */
      pod->retry_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST / 10;
      for (guint i = 0; i < pod->spec->n_containers; i++)
        container_set_waiting (&pod->containers[i], "ContainerCreating", error->message);
      pod->busy = FALSE;
      return;
    }
  /* the newest ready sandbox is adopted; any other (not ready: its
   * processes died, e.g. with the host) is removed with its containers */
  for (gsize i = 0; i < r->n_items; i++)
    if (r->items[i]->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY
        && (!ready || r->items[i]->created_at > ready->created_at))
      ready = r->items[i];
  for (gsize i = 0; i < r->n_items; i++)
    if (r->items[i]->metadata && r->items[i]->metadata->attempt >= pod->sandbox_attempt)
      pod->sandbox_attempt = r->items[i]->metadata->attempt + 1;   /* a new one: a new name */
  for (gsize i = 0; i < r->n_items; i++)
    if (r->items[i] != ready)
      {
        ec_log_message (pod->edged->context, "pod %s/%s: removing the stale sandbox %.12s",
                        pod->spec->namespace, pod->spec->name, r->items[i]->id);
        edged_sandbox_remove (pod->edged, r->items[i]->id);
      }
  if (ready)
    {
      pod->sandbox_id = g_strdup (ready->id);
      if (!pod->restored)
        pod->start_time = pod->init_time = ready->created_at / 1000000000;
    }
  protobuf_c_message_free_unpacked (response, NULL);
  if (!pod->sandbox_id)
    {
      pod->stage = POD_PULLING;
      step_done (pod);
      return;
    }
  filter.pod_sandbox_id = pod->sandbox_id;
  req.filter = &filter;
  pod_request (pod, pod->edged->runtime, &edged_cri_list_containers, &req.base, on_listed_containers);
}

/* Looks for a ready sandbox labelled with the pod's UID. */
static void
adopt_step (EdgedPod *pod)
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
  pod_request (pod, pod->edged->runtime, &edged_cri_list_pod_sandbox, &req.base, on_listed_sandboxes);
}

/* ---- killing ----------------------------------------------------------- */

static void
free_pod (EdgedPod *pod)
{
  edged_probes_free (pod);   /* probe.c */
  edged_hook_forget (pod);   /* hooks.c */
  for (guint i = 0; i < pod->spec->n_containers; i++)
    {
      EdgedContainer *c = &pod->containers[i];
      g_free (c->id);
      g_free (c->reason);
      g_free (c->message);
      g_free (c->image_ref);
      g_free (c->waiting_reason);
      g_free (c->waiting_message);
      g_free (c->dead_id);
      g_free (c->last_id);
      if (c->older_dead)
        g_ptr_array_unref (c->older_dead);
      g_free (c->last_reason);
      g_free (c->image_user);
    }
  g_free (pod->containers);
  g_strfreev (pod->pod_ips);
  edged_pod_spec_free (pod->pending_spec);
  g_free (pod->sandbox_id);
  g_free (pod->log_dir);
  g_free (pod->cgroup_parent);
  g_free (pod->last_status);
  g_free (pod->patch_base);   /* pod-patch.c */
  edged_pod_objects_free (pod);     /* vol */
  g_free (pod->times_saved);
  edged_pod_spec_free (pod->spec);
  g_free (pod);
}

/* The pod is gone from the runtime: answer the cloud's graceful deletion
 * as v1.9.2 does (delete <ns>/pod/<name>, content the pod's UID), forget it. */
static void
pod_gone (EdgedPod *pod)
{
  Edged *self = pod->edged;
  edged_pod_volumes_remove (pod);   /* vol: nothing of the pod left on disk */
  ec_log_message (self->context, "pod %s/%s (uid %s) removed from the runtime",
                  pod->spec->namespace, pod->spec->name, pod->spec->uid);
  edged_pod_times_forget (pod);
  if (pod->handshake)
    {
      g_autofree char *resource = g_strdup_printf ("%s/pod/%s", pod->spec->namespace,
                                                   pod->spec->name);
      g_autoptr (EcMessage) msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_DELETE, resource);
      g_autoptr (GError) error = NULL;
      if (self->kubelet_format)
        {
          /* kubelet format: DeleteOptions (pod-patch.c) */
          g_autoptr (JsonNode) options = edged_pod_delete_options (pod->spec->uid);
          ec_message_set_content_node (msg, options);
        }
      else
        ec_message_set_content_string (msg, pod->spec->uid);
      if (!ec_endpoint_send (self->endpoint, "metamanager", msg, &error))
        ec_log_warning (self->context, "pod %s/%s: delete to the cloud not sent: %s",
                        pod->spec->namespace, pod->spec->name, error->message);
    }
  g_hash_table_remove (self->pods, pod->spec->uid);
}

static void
on_killed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
  if (error && !g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND))
    {
      ec_log_warning (pod->edged->context, "pod %s/%s: %s (retried)", pod->spec->namespace,
                      pod->spec->name, error->message);
      pod->busy = FALSE;     /* the same step again at the next tick */
      return;
    }
  pod->next++;
  pod->busy = FALSE;
  pod_advance (pod);
}

/* preStop finished (hooks.c): the container is stopped next. */
static void
on_pre_stop (EdgedPod *pod, gboolean ok, const char *detail)
{
  if (!ok)
    ec_log_warning (pod->edged->context, "pod %s/%s: container %s: FailedPreStopHook: %s",
                    pod->spec->namespace, pod->spec->name, pod->spec->containers[pod->next / 2].name,
                    detail ? detail : "failed");
  else
    ec_log_info (pod->edged->context, "pod %s/%s: container %s: preStop hook done",
                 pod->spec->namespace, pod->spec->name, pod->spec->containers[pod->next / 2].name);
  pod->busy = FALSE;
  pod_advance (pod);
}

/* Kill steps: for container i, 2i = StopContainer, 2i+1 = RemoveContainer;
 * then StopPodSandbox, RemovePodSandbox. */
static void
kill_step (EdgedPod *pod)
{
  guint n = pod->spec->n_containers;
  Edged *self = pod->edged;
  guint timeout = (guint) self->request_timeout_ms;

  while (pod->next < 2 * n && !pod->containers[pod->next / 2].id)
    pod->next += 2;
  if (pod->next < 2 * n)
    {
      EdgedContainer *c = &pod->containers[pod->next / 2];
      if (pod->next % 2 == 0)
        {
          Runtime__V1__StopContainerRequest req = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
          const EdgedProbeSpec *pre_stop = pod->spec->containers[pod->next / 2].pre_stop;
          gint64 grace = MAX (pod->spec->grace_seconds, 0);
          /* hooks.c: preStop first, within the grace period */
          if (pre_stop && !c->pre_stop_done
              && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
            {
              c->pre_stop_done = TRUE;
              c->pre_stop_at = g_get_monotonic_time ();
              edged_hook_run (pod, pre_stop, c->id, (guint) MAX (grace, 1) * 1000, on_pre_stop);
              return;
            }
          if (c->pre_stop_at)
            grace = MAX (grace - (g_get_monotonic_time () - c->pre_stop_at) / G_USEC_PER_SEC, 2);
          req.container_id = c->id;
          req.timeout = grace;
          edged_cri_invoke (self->runtime, &edged_cri_stop_container, &req.base,
                            timeout + (guint) MAX (pod->spec->grace_seconds, 0) * 1000,
                            on_killed, pod, NULL);
        }
      else
        {
          Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
          req.container_id = c->id;
          edged_cri_invoke (self->runtime, &edged_cri_remove_container, &req.base, timeout,
                            on_killed, pod, NULL);
        }
      return;
    }
  if (!pod->sandbox_id || pod->next >= 2 * n + 2)
    {
      pod->stage = POD_GONE;
      pod->busy = FALSE;
      edged_pod_cgroup_remove (pod);   /* ctr */
      pod_gone (pod);
      return;
    }
  if (pod->next == 2 * n)
    {
      Runtime__V1__StopPodSandboxRequest req = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
      req.pod_sandbox_id = pod->sandbox_id;
      edged_cri_invoke (self->runtime, &edged_cri_stop_pod_sandbox, &req.base, timeout,
                        on_killed, pod, NULL);
    }
  else
    {
      Runtime__V1__RemovePodSandboxRequest req = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
      req.pod_sandbox_id = pod->sandbox_id;
      edged_cri_invoke (self->runtime, &edged_cri_remove_pod_sandbox, &req.base, timeout,
                        on_killed, pod, NULL);
    }
}

/* ---- the state machine --------------------------------------------------- */

/* vol: the objects the pod names were read: on with its steps. */
static void
pod_objects_read (EdgedPod *pod)
{
  pod->busy = FALSE;
  pod_advance (pod);
}

/* vol: sets up the pod's volumes unless done; on failure every waiting
 * container says why, and it is tried again later (FALSE: the step ends). */
static gboolean
pod_volumes_ready (EdgedPod *pod)
{
  g_autoptr (GError) error = NULL;
  if (edged_pod_volumes_ready (pod) || edged_pod_volumes_prepare (pod, &error))
    return TRUE;
  ec_log_warning (pod->edged->context, "pod %s/%s: %s (retried)", pod->spec->namespace,
                  pod->spec->name, error->message);
  for (guint i = 0; i < pod->spec->n_containers; i++)
    if (!pod->containers[i].id)
      container_set_waiting (&pod->containers[i], "ContainerCreating", error->message);
  edged_pod_objects_stale (pod);
  pod->retry_at = g_get_monotonic_time () + PULL_BACKOFF_FIRST;
  pod->busy = FALSE;
  edged_pod_report (pod);
  return FALSE;
}

/* Starts the pod's next step unless one is in flight or it waits. */
static void
pod_advance (EdgedPod *pod)
{
  if (pod->busy || pod->stage == POD_GONE)
    return;
  if (pod->kill_requested && pod->stage != POD_KILLING)
    {
      pod->stage = POD_KILLING;
      pod->next = 0;
      pod->retry_at = 0;
    }
  if ((pod->pending_spec || pod->replace_adopted) && edged_pod_update_step (pod))
    return;   /* ctr: a changed spec is being applied (pod-update.c) */
  if (pod->stage != POD_KILLING && pod->retry_at && g_get_monotonic_time () < pod->retry_at)
    return;
  pod->retry_at = 0;
  pod->busy = TRUE;
  /* vol: the configmaps and secrets the pod names are read (store-objects.c),
   * then its volumes set up, before images, sandbox and containers */
  if ((pod->stage == POD_PULLING || pod->stage == POD_SANDBOX || pod->stage == POD_CONTAINERS
       || (pod->stage == POD_RUNNING && !edged_pod_volumes_ready (pod)))
      && edged_pod_objects_fetch (pod, pod_objects_read))
    return;
  if ((pod->stage == POD_SANDBOX || pod->stage == POD_CONTAINERS || pod->stage == POD_RUNNING)
      && !pod_volumes_ready (pod))
    return;
  switch (pod->stage)
    {
    case POD_ADOPTING:
      adopt_step (pod);
      return;
    case POD_PULLING:
      if (pod->next == pod->spec->n_containers)
        {
          /* ctr: after a spec update the sandbox is there already */
          pod->stage = pod->sandbox_id ? POD_CONTAINERS : POD_SANDBOX;
          pod->next = 0;
          pod->busy = FALSE;
          pod_advance (pod);
          return;
        }
      {
        Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
        Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
        spec.image = pod->spec->containers[pod->next].image;
        req.image = &spec;
        pod_request (pod, pod->edged->images, &edged_cri_image_status, &req.base, on_image_status);
      }
      return;
    case POD_SANDBOX:
      if (pod->sandbox_relist)
        {
          edged_pod_sandbox_relist (pod);   /* misc: after a failed RunPodSandbox */
          return;
        }
      {
        Runtime__V1__RunPodSandboxRequest req = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
        g_mkdir_with_parents (pod->log_dir, 0755);
        edged_pod_cgroup_apply (pod);   /* ctr: the pod cgroup's limits (cgroups-per-qos) */
        pod_request_with_sandbox (pod, pod->edged->runtime, &edged_cri_run_pod_sandbox, &req.base, &req.config,
                                  on_sandbox);
      }
      return;
    case POD_INIT:
      edged_pod_init_step (pod);
      return;
    case POD_CONTAINERS:
      pod->next = MAX (pod->next, pod->spec->n_init);   /* ctr: init containers ran */
      /* adopted, running, or waiting for a restart that is not due */
      while (pod->next < pod->spec->n_containers
             && (pod->containers[pod->next].id || pod->containers[pod->next].restart_at))
        pod->next++;
      if (pod->next == pod->spec->n_containers)
        {
          pod->stage = POD_RUNNING;
          pod->next = 0;
          pod->busy = FALSE;
          pod_advance (pod);
          return;
        }
      create_container (pod);
      return;
    case POD_RUNNING:
      {
        Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
        /* ctr: an init container that completed does not change any more */
        while (pod->next < pod->spec->n_containers
               && (!pod->containers[pod->next].id
                   || (pod->next < pod->spec->n_init
                       && pod->containers[pod->next].state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED)))
          pod->next++;
        if (pod->next >= pod->spec->n_containers)
          {
            /* no container to ask about (all waiting for a restart) */
            pod->next = 0;
            pod->busy = FALSE;
            edged_probes_sync (pod);     /* probe.c */
            plan_restarts (pod);
            edged_pod_report (pod);
            if (pod->stage == POD_CONTAINERS)
              pod_advance (pod);
            return;
          }
        req.container_id = pod->containers[pod->next].id;
        pod_request (pod, pod->edged->runtime, &edged_cri_container_status, &req.base, on_container_status);
      }
      return;
    case POD_KILLING:
      kill_step (pod);
      return;
    case POD_GONE:
      break;
    }
  pod->busy = FALSE;
}

static gboolean
on_pod_tick (gpointer data)
{
  Edged *self = data;
  GList *pods = g_hash_table_get_values (self->pods);
  for (GList *l = pods; l; l = l->next)
    {
      EdgedPod *pod = l->data;
      if (pod->stage == POD_RUNNING)
        pod->next = pod->busy ? pod->next : 0;
      if (pod->stage == POD_PULLING && !pod->busy && pod->retry_at
          && pod->next < pod->spec->n_containers
          && !g_strcmp0 (pod->containers[pod->next].waiting_reason, "ErrImagePull"))
        {
          /* between attempts: kubelet's ImagePullBackOff */
          g_autofree char *msg = g_strdup_printf ("Back-off pulling image \"%s\"",
                                                  pod->spec->containers[pod->next].image);
          container_set_waiting (&pod->containers[pod->next], "ImagePullBackOff", msg);
          edged_pod_report (pod);
        }
      pod_advance (pod);
    }
  g_list_free (pods);
  return G_SOURCE_CONTINUE;
}

/* ---- messages ------------------------------------------------------------- */

static void
pod_kill (EdgedPod *pod, gboolean handshake)
{
  if (pod->stage == POD_KILLING || pod->stage == POD_GONE)
    return;
  if (pod->kill_requested)
    return;
  ec_log_info (pod->edged->context, "pod %s/%s: stopping", pod->spec->namespace, pod->spec->name);
  pod->handshake = handshake;
  /* a step in flight finishes first; the next one is the kill's */
  pod->kill_requested = TRUE;
  if (!pod->busy)
    pod_advance (pod);
}

static EdgedPod *
pod_new (Edged *self, EdgedPodSpec *spec)
{
  EdgedPod *pod = g_new0 (EdgedPod, 1);
  pod->edged = self;
  pod->spec = spec;
  pod->stage = POD_ADOPTING;
  pod->containers = g_new0 (EdgedContainer, spec->n_containers);
  for (guint i = 0; i < spec->n_containers; i++)
    {
      pod->containers[i].state = -1;
      pod->containers[i].image_uid = -1;
      pod->containers[i].waiting_reason = g_strdup (i < spec->n_init || !spec->n_init
                                                    ? "ContainerCreating" : "PodInitializing");
    }
  pod->log_dir = g_strdup_printf ("%s/%s_%s_%s", self->pod_logs_dir, spec->namespace, spec->name,
                                  spec->uid);
  pod->cgroup_parent = edged_pod_cgroup_parent (self->cgroup_root, spec);   /* ctr: by QoS */
  pod->start_time = g_get_real_time () / G_USEC_PER_SEC;
  pod->init_time = pod->start_time;
  pod->trace_t0 = g_get_monotonic_time ();   /* pod-trace.c */
  pod->restored = edged_pod_restore (pod);
  return pod;
}

/* The cloud's delete: the pod with that UID (or, when the content has no
 * UID, that namespace and name) is removed. The content may hold only the
 * metadata (the cloud's synccontroller deleting what it no longer has). */
static void
pod_delete (Edged *self, const char *json, gsize len, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *ns = NULL, *name = NULL, *uid = NULL;
  GHashTableIter iter;
  gpointer value;

  if (!edged_pod_ref_parse (json, len, &ns, &name, &uid, &error))
    {
      ec_log_warning (self->context, "delete %s: invalid pod: %s", what, error->message);
      return;
    }
  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      if (strcmp (pod->spec->namespace, ns) || strcmp (pod->spec->name, name)
          || (uid && *uid && strcmp (pod->spec->uid, uid)))
        continue;
      /* before the kill: the pod may be freed inside it */
      edged_eviction_forget (self, pod->spec->uid);   /* eviction.c */
      pod_kill (pod, FALSE);
      return;
    }
  ec_log_info (self->context, "delete %s/%s (uid %s): no such pod here", ns, name, uid ? uid : "");
  if (uid && *uid)
    edged_eviction_forget (self, uid);   /* eviction.c */
}

/* One pod: insert/update run it, delete (or an update with
 * deletionTimestamp) removes it. what names it in log lines. */
static void
pod_accept (Edged *self, const char *op, const char *json, gsize len, const char *what)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EdgedPodSpec) spec = NULL;
  EdgedPod *pod;

  if (!strcmp (op, EC_OP_DELETE))
    {
      pod_delete (self, json, len, what);
      return;
    }
  spec = edged_pod_spec_parse (json, len, &error);
  if (!spec)
    {
      ec_log_warning (self->context, "%s %s: invalid pod: %s", op, what, error->message);
      if (strcmp (op, EC_OP_DELETE) != 0)
        edged_pod_report_invalid (self, json, len, error->message);
      return;
    }
  if (edged_pod_is_mirror (json, len))
    {
      /* static-pods.c: the cloud's copy of a static pod, not run again */
      ec_log_debug (self->context, "pod %s/%s is a mirror pod: not run", spec->namespace, spec->name);
      return;
    }
  if (strcmp (spec->node_name, self->node_name) != 0)
    {
      ec_log_message (self->context, "pod %s/%s is for node \"%s\", not %s: ignored",
                      spec->namespace, spec->name, spec->node_name, self->node_name);
      return;
    }
  pod = g_hash_table_lookup (self->pods, spec->uid);
  if (pod)
    {
      if (spec->deleting)
        pod_kill (pod, TRUE);
      else
        edged_pod_update (pod, g_steal_pointer (&spec));   /* ctr: a changed spec */
      return;
    }
  if (spec->deleting)
    return;
  /* eviction.c: an evicted pod is not run again until the cloud deletes it */
  if (edged_eviction_check (self, spec->namespace, spec->name, spec->uid))
    return;
  if (self->max_pods > 0 && g_hash_table_size (self->pods) >= (guint) self->max_pods)
    {
      g_autofree char *why = g_strdup_printf ("OutOfpods: the node already runs max-pods=%" G_GINT64_FORMAT
                                              " pods", self->max_pods);
      ec_log_warning (self->context, "pod %s/%s refused: %s", spec->namespace, spec->name, why);
      edged_pod_report_invalid (self, json, len, why);
      return;
    }
  ec_log_info (self->context, "pod %s/%s (uid %s): starting", spec->namespace, spec->name, spec->uid);
  pod = pod_new (self, g_steal_pointer (&spec));
  g_hash_table_insert (self->pods, pod->spec->uid, pod);
  edged_pod_report (pod);
  pod_advance (pod);
}

/* Evicts the pod (eviction.c): its containers and sandbox are removed;
 * its Failed status was sent. */
void
edged_pods_evict (EdgedPod *pod)
{
  pod_kill (pod, FALSE);
}

/* A static pod (static-pods.c) to run. */
void
edged_pods_run_json (Edged *self, const char *json, gsize len, const char *what)
{
  pod_accept (self, EC_OP_INSERT, json, len, what);
}

/* Removes the pod with that UID, if edged runs it. */
void
edged_pods_remove_uid (Edged *self, const char *uid)
{
  EdgedPod *pod = self->pods ? g_hash_table_lookup (self->pods, uid) : NULL;
  if (pod)
    pod_kill (pod, FALSE);
}

/* A pod message from metamanager (insert, update or delete). */
void
edged_pods_message (Edged *self, EcMessage *message)
{
  gsize len = 0;
  const char *json = ec_message_get_content_json (message, &len);
  if (json)
    pod_accept (self, ec_message_get_operation (message), json, len,
                ec_message_get_resource (message));
}

/* metamanager's answer to the start-up query: a JSON array of the stored
 * pods, each a JSON string. */
static void
on_stored_pods (EcMessage *reply, const GError *error, gpointer data)
{
  Edged *self = data;
  JsonNode *content;   /* owned by the reply */
  g_autoptr (GError) local = NULL;
  JsonArray *rows;
  guint n;

  if (error || g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR) == 0)
    {
      ec_log_warning (self->context, "the stored pods could not be read: %s",
                      error ? error->message : "error reply");
      self->pods_loaded = FALSE;     /* asked again after the next probe */
      return;
    }
  content = ec_message_get_content_node (reply, &local);
  if (!content || !JSON_NODE_HOLDS_ARRAY (content))
    {
      ec_log_warning (self->context, "the stored pods: not a JSON array");
      return;
    }
  rows = json_node_get_array (content);
  n = json_array_get_length (rows);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *row = json_array_get_element (rows, i);
      const char *text;
      if (!JSON_NODE_HOLDS_VALUE (row) || json_node_get_value_type (row) != G_TYPE_STRING)
        continue;
      text = json_node_get_string (row);
      pod_accept (self, EC_OP_INSERT, text, strlen (text), "stored pod");
    }
  ec_log_info (self->context, "%u stored pod(s) read at start", n);
  /* pod-offline.c: what the store no longer holds leaves the runtime */
  edged_pods_remove_orphans (self);
}

/* At start: the pods metamanager stored (query <ns>/pod, all namespaces),
 * as KubeEdge's edged does, so that they run (or are adopted) offline. */
void
edged_pods_load (Edged *self)
{
  g_autofree char *resource = g_strdup_printf ("%s/pod", self->namespace);
  g_autoptr (EcMessage) msg = ec_message_new (EDGED_BUS_NAME, EDGED_BUS_GROUP, EC_OP_QUERY,
                                              resource);
  self->pods_loaded = TRUE;
  ec_endpoint_call (self->endpoint, "metamanager", msg, 60000, on_stored_pods, self, NULL);
}

/* The cloud link came up: every pod's status goes out again, since what was
 * sent while offline may not have reached the cloud. */
void
edged_pods_cloud_connected (Edged *self)
{
  GHashTableIter iter;
  gpointer value;

  if (!self->pods)
    return;
  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      g_clear_pointer (&pod->last_status, g_free);
      edged_pod_report (pod);
    }
}

/* Replaces the pod's spec with spec (same UID), keeping the pod table's
 * key valid. */
void
edged_pod_rekey (EdgedPod *pod, EdgedPodSpec *spec)
{
  Edged *self = pod->edged;
  g_hash_table_steal (self->pods, pod->spec->uid);
  edged_pod_spec_free (pod->spec);
  pod->spec = spec;
  g_hash_table_insert (self->pods, pod->spec->uid, pod);
}

/* Starts the pod tick. */
void
edged_pods_start (Edged *self)
{
  self->pods = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) free_pod);
  self->pod_timer = g_timeout_add (POD_TICK_MS, on_pod_tick, self);
}

/* Forgets the pods (their containers keep running in the runtime); the CRI
 * clients must be freed before, so that no callback runs on a freed pod. */
void
edged_pods_stop (Edged *self)
{
  g_clear_handle_id (&self->pod_timer, g_source_remove);
  g_clear_pointer (&self->pods, g_hash_table_unref);
}
