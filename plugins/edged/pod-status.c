/* pod-status.c: the pod's status as KubeEdge v1.9.2 reports it: update
 * <ns>/podstatus/<name> with {"UID","Name","Status":v1.PodStatus}, sent to
 * metamanager whenever the status changed. */
#include "pod.h"
#include "static-pods.h"

#include <string.h>

static EcLogLimit status_log = EC_LOG_LIMIT_INIT (60);

static void
add_str (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value ? value : "");
}

static char *
rfc3339_s (gint64 unix_seconds)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (unix_seconds);
  return g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ");
}

static void
add_time_ns (JsonBuilder *b, const char *key, gint64 ns)
{
  g_autofree char *t = rfc3339_s (ns / 1000000000);
  add_str (b, key, t);
}

static void
add_condition (JsonBuilder *b, const char *type, gboolean status, gint64 since,
               const char *reason, const char *message)
{
  g_autofree char *t = rfc3339_s (since);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lastProbeTime");
  json_builder_add_null_value (b);
  add_str (b, "lastTransitionTime", t);
  if (message)
    add_str (b, "message", message);
  if (reason)
    add_str (b, "reason", reason);
  add_str (b, "status", status ? "True" : "False");
  add_str (b, "type", type);
  json_builder_end_object (b);
}

static gboolean
running (EdgedContainer *c)
{
  return c->id && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
}

static gboolean
exited (EdgedContainer *c)
{
  return c->id && c->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
}

/* Pending until every container ran; then Running, or, when all exited and
 * the restart policy does not restart them, Succeeded / Failed. */
static const char *
pod_phase (EdgedPod *pod)
{
  guint n = pod->spec->n_containers - pod->spec->n_init, n_exited = 0, n_failed = 0, n_started = 0;
  if (pod->init_failed)
    return "Failed";   /* ctr: an init container failed under restartPolicy Never */
  for (guint i = pod->spec->n_init; i < pod->spec->n_containers; i++)
    {
      EdgedContainer *c = &pod->containers[i];
      n_started += running (c) || exited (c) || c->restart_count > 0 || c->last_id;
      n_exited += exited (c);
      n_failed += exited (c) && c->exit_code != 0;
    }
  /* ctr: a pod whose changed spec is being applied (sandbox there) stays Running */
  if ((pod->stage < POD_RUNNING && !pod->sandbox_id) || n_started < n)
    return "Pending";
  if (n_exited == n && !strcmp (pod->spec->restart_policy, "Never"))
    return n_failed ? "Failed" : "Succeeded";
  if (n_exited == n && !strcmp (pod->spec->restart_policy, "OnFailure") && n_failed == 0)
    return "Succeeded";
  return "Running";
}

static void
add_container_status (JsonBuilder *b, EdgedPod *pod, guint i)
{
  EdgedContainer *c = &pod->containers[i];
  EdgedContainerSpec *cs = &pod->spec->containers[i];
  gboolean init = i < pod->spec->n_init;
  /* ctr: an init container is ready once it completed */
  gboolean ready = init ? exited (c) && c->exit_code == 0 : running (c);
  const char *waiting = c->waiting_reason ? c->waiting_reason : "ContainerCreating";
  const char *runtime = pod->edged->health.name ? pod->edged->health.name : "containerd";
  g_autofree char *cid = c->id ? g_strdup_printf ("%s://%s", runtime, c->id) : NULL;

  json_builder_begin_object (b);
  if (cid)
    add_str (b, "containerID", cid);
  add_str (b, "image", cs->image);
  add_str (b, "imageID", c->image_ref ? c->image_ref : "");
  json_builder_set_member_name (b, "lastState");
  json_builder_begin_object (b);
  if (c->last_id)
    {
      g_autofree char *dead = g_strdup_printf ("%s://%s", runtime, c->last_id);
      json_builder_set_member_name (b, "terminated");
      json_builder_begin_object (b);
      add_str (b, "containerID", dead);
      json_builder_set_member_name (b, "exitCode");
      json_builder_add_int_value (b, c->last_exit_code);
      add_time_ns (b, "finishedAt", c->last_finished_at);
      add_str (b, "reason", c->last_reason);
      add_time_ns (b, "startedAt", c->last_started_at);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  add_str (b, "name", cs->name);
  json_builder_set_member_name (b, "ready");
  json_builder_add_boolean_value (b, init ? ready : edged_probe_ready (pod, i));   /* probe.c */
  json_builder_set_member_name (b, "restartCount");
  json_builder_add_int_value (b, c->restart_count);
  if (!init)
    {
      json_builder_set_member_name (b, "started");
      json_builder_add_boolean_value (b, edged_probe_started (pod, i));
    }
  json_builder_set_member_name (b, "state");
  json_builder_begin_object (b);
  if (running (c))
    {
      json_builder_set_member_name (b, "running");
      json_builder_begin_object (b);
      add_time_ns (b, "startedAt", c->started_at);
      json_builder_end_object (b);
    }
  else if (exited (c))
    {
      const char *reason = c->reason && *c->reason ? c->reason
                                                   : c->exit_code ? "Error" : "Completed";
      json_builder_set_member_name (b, "terminated");
      json_builder_begin_object (b);
      add_str (b, "containerID", cid);
      json_builder_set_member_name (b, "exitCode");
      json_builder_add_int_value (b, c->exit_code);
      add_time_ns (b, "finishedAt", c->finished_at);
      if (c->message && *c->message)
        add_str (b, "message", c->message);
      add_str (b, "reason", reason);
      add_time_ns (b, "startedAt", c->started_at);
      json_builder_end_object (b);
    }
  else
    {
      json_builder_set_member_name (b, "waiting");
      json_builder_begin_object (b);
      if (c->waiting_message && *c->waiting_message)
        add_str (b, "message", c->waiting_message);
      /* kubelet's default waiting state in a pod with init containers */
      if (!strcmp (waiting, "ContainerCreating") && edged_pod_initializing (pod))
        waiting = "PodInitializing";
      add_str (b, "reason", waiting);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
}

/* ctr: TRUE while the pod's init containers have not all completed. */
gboolean
edged_pod_initializing (EdgedPod *pod)
{
  for (guint i = 0; i < pod->spec->n_init; i++)
    if (!exited (&pod->containers[i]) || pod->containers[i].exit_code != 0)
      return TRUE;
  return FALSE;
}

/* The pod's v1.PodStatus. */
JsonNode *
edged_pod_status (EdgedPod *pod, gint64 now)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GString) unready = g_string_new (NULL);
  g_autofree char *start = rfc3339_s (pod->start_time);
  gboolean ready = TRUE;
  Edged *self = pod->edged;

  g_autoptr (GString) incomplete = g_string_new (NULL);
  for (guint i = 0; i < pod->spec->n_init; i++)
    if (!exited (&pod->containers[i]) || pod->containers[i].exit_code != 0)
      g_string_append_printf (incomplete, "%s%s", incomplete->len ? " " : "",
                              pod->spec->containers[i].name);
  if (pod->spec->n_init && !incomplete->len && !pod->was_initialized)
    pod->init_time = now;   /* Initialized turned True */
  pod->was_initialized = pod->spec->n_init && !incomplete->len;
  for (guint i = pod->spec->n_init; i < pod->spec->n_containers; i++)
    if (!edged_probe_ready (pod, i))   /* probe.c */
      {
        ready = FALSE;
        g_string_append_printf (unready, "%s%s", unready->len ? " " : "",
                                pod->spec->containers[i].name);
      }
  if (ready != pod->was_ready || pod->ready_since == 0)
    pod->ready_since = now;
  pod->was_ready = ready;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "conditions");
  json_builder_begin_array (b);
  if (incomplete->len)
    {
      g_autofree char *msg = g_strdup_printf ("containers with incomplete status: [%s]",
                                              incomplete->str);
      add_condition (b, "Initialized", FALSE, pod->start_time, "ContainersNotInitialized", msg);
    }
  else
    add_condition (b, "Initialized", TRUE, pod->init_time, NULL, NULL);
  {
    g_autofree char *msg = g_strdup_printf ("containers with unready status: [%s]", unready->str);
    add_condition (b, "Ready", ready, pod->ready_since, ready ? NULL : "ContainersNotReady",
                   ready ? NULL : msg);
    add_condition (b, "ContainersReady", ready, pod->ready_since,
                   ready ? NULL : "ContainersNotReady", ready ? NULL : msg);
  }
  add_condition (b, "PodScheduled", TRUE, pod->start_time, NULL, NULL);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "containerStatuses");
  json_builder_begin_array (b);
  for (guint i = pod->spec->n_init; i < pod->spec->n_containers; i++)
    add_container_status (b, pod, i);
  json_builder_end_array (b);
  if (pod->spec->n_init)
    {
      json_builder_set_member_name (b, "initContainerStatuses");
      json_builder_begin_array (b);
      for (guint i = 0; i < pod->spec->n_init; i++)
        add_container_status (b, pod, i);
      json_builder_end_array (b);
    }
  add_str (b, "hostIP", self->node_ip);
  add_str (b, "phase", pod_phase (pod));
  if (!pod->spec->host_network && pod->pod_ips && pod->sandbox_id)
    {
      /* ctr: the pod network's addresses, from PodSandboxStatus */
      add_str (b, "podIP", pod->pod_ips[0]);
      json_builder_set_member_name (b, "podIPs");
      json_builder_begin_array (b);
      for (char **ip = pod->pod_ips; *ip; ip++)
        {
          json_builder_begin_object (b);
          add_str (b, "ip", *ip);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
    }
  if (pod->spec->host_network && pod->sandbox_id)
    {
      add_str (b, "podIP", self->node_ip);
      json_builder_set_member_name (b, "podIPs");
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      add_str (b, "ip", self->node_ip);
      json_builder_end_object (b);
      json_builder_end_array (b);
    }
  add_str (b, "qosClass", pod->spec->qos);
  add_str (b, "startTime", start);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

typedef struct {
  Edged *self;
  char  *uid;
} StatusCall;

static void
status_call_free (gpointer data)
{
  StatusCall *c = data;
  g_free (c->uid);
  g_free (c);
}

static void
on_status_sent (EcMessage *reply, const GError *error, gpointer data)
{
  StatusCall *c = data;
  Edged *self = c->self;
  if (error || g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR) == 0)
    {
      g_autofree char *text = error ? g_strdup (error->message)
                                    : ec_message_dup_content_string (reply);
      EdgedPod *pod = self->pods ? g_hash_table_lookup (self->pods, c->uid) : NULL;
      ec_plugin_context_log_limited (self->context, &status_log, G_LOG_LEVEL_WARNING,
                                     "pod status update failed (sent again): %s",
                                     text ? text : "error");
      /* not lost: the next status refresh sends it again */
      if (pod)
        g_clear_pointer (&pod->last_status, g_free);
    }
}

static void
send_status (Edged *self, const char *ns, const char *name, const char *uid, JsonNode *status)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) content = NULL;
  g_autofree char *resource = g_strdup_printf ("%s/podstatus/%s", ns, name);
  g_autoptr (EcMessage) msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_UPDATE, resource);
  StatusCall *call = g_new0 (StatusCall, 1);

  call->self = self;
  call->uid = g_strdup (uid);
  json_builder_begin_object (b);
  add_str (b, "Name", name);
  json_builder_set_member_name (b, "Status");
  json_builder_add_value (b, json_node_copy (status));
  add_str (b, "UID", uid);
  json_builder_end_object (b);
  content = json_builder_get_root (b);
  ec_message_set_content_node (msg, content);
  ec_endpoint_call (self->endpoint, "metamanager", msg, 60000, on_status_sent, call,
                    status_call_free);
}

/* Sends the pod's status when it differs from the last one sent. */
void
edged_pod_report (EdgedPod *pod)
{
  g_autoptr (JsonNode) status = NULL;
  g_autofree char *text = NULL;

  if (pod->stage == POD_KILLING || pod->stage == POD_GONE || pod->kill_requested)
    return;
  /* not before the runtime was asked: an adopted pod is never shown Pending */
  if (pod->stage == POD_ADOPTING)
    return;
  status = edged_pod_status (pod, g_get_real_time () / G_USEC_PER_SEC);
  edged_pod_times_save (pod);   /* pod-offline.c */
  text = ec_json_to_string (status, FALSE);
  if (g_strcmp0 (text, pod->last_status) == 0)
    return;
  g_free (pod->last_status);
  pod->last_status = g_steal_pointer (&text);
  edged_pod_trace_reported (pod, json_object_get_string_member (json_node_get_object (status),
                                                                "phase"));   /* pod-trace.c */
  if (pod->edged->kubelet_format)
    {
      edged_pod_patch (pod, status);   /* kubelet: podpatch */
      return;
    }
  send_status (pod->edged, pod->spec->namespace, pod->spec->name,
               edged_static_status_uid (pod->edged, pod->spec->uid), status);   /* static-pods.c */
}

/* A pod edged cannot run: when it names this node, its status says why
 * (phase Failed, reason InvalidPodSpec). */
void
edged_pod_report_invalid (Edged *self, const char *json, gsize length, const char *reason)
{
  g_autoptr (JsonNode) root = ec_json_parse (json, length, EDGED_POD_MAX_DEPTH, EDGED_POD_MAX_BYTES, NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) status = NULL;
  JsonObject *pod, *meta, *spec;
  const char *ns, *name, *uid, *node;
  g_autofree char *now = rfc3339_s (g_get_real_time () / G_USEC_PER_SEC);

  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return;
  pod = json_node_get_object (root);
  meta = edged_json_object (pod, "metadata");
  spec = edged_json_object (pod, "spec");
  ns = edged_json_string (meta, "namespace");
  name = edged_json_string (meta, "name");
  uid = edged_json_string (meta, "uid");
  node = edged_json_string (spec, "nodeName");
  if (!ns || !*ns)
    ns = "default";
  if (!name || !uid || g_strcmp0 (node, self->node_name) != 0)
    return;
  json_builder_begin_object (b);
  add_str (b, "message", reason);
  add_str (b, "phase", "Failed");
  add_str (b, "reason", "InvalidPodSpec");
  add_str (b, "startTime", now);
  json_builder_end_object (b);
  status = json_builder_get_root (b);
  if (self->kubelet_format)
    edged_pod_patch_once (self, ns, name, uid, status);   /* kubelet: podpatch */
  else
    send_status (self, ns, name, uid, status);
}

/* A pod that does not run (evicted: eviction.c): phase Failed with reason
 * and message, as kubelet reports it. */
void
edged_pod_report_failed (Edged *self, const char *ns, const char *name, const char *uid,
                         const char *reason, const char *message)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) status = NULL;
  g_autofree char *now = rfc3339_s (g_get_real_time () / G_USEC_PER_SEC);

  json_builder_begin_object (b);
  add_str (b, "message", message);
  add_str (b, "phase", "Failed");
  add_str (b, "reason", reason);
  add_str (b, "startTime", now);
  json_builder_end_object (b);
  status = json_builder_get_root (b);
  send_status (self, ns, name, uid, status);
}
