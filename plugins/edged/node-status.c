/* node-status.c: registering the node and reporting its status through
 * metamanager, as KubeEdge v1.9.2's edged does:
 *
 *   insert <ns>/nodestatus/<node>   the v1.Node, once the runtime was
 *                                   probed; retried every status period
 *                                   and at once when the cloud connects
 *   update <ns>/nodestatus/<node>   the NodeStatusRequest, every
 *                                   node-status-update-frequency, and at
 *                                   once when the Ready condition changes
 *
 * (source edged, group meta, to module metamanager, as sync calls).
 * With [edged] status-format=kubelet the current formats go instead
 * (node-patch.c, node-lease.c): the hooks below are marked "kubelet". */
#include "edged.h"

#include <string.h>

#define CALL_TIMEOUT_MS 60000

static EcLogLimit register_log = EC_LOG_LIMIT_INIT (60);
static EcLogLimit status_log = EC_LOG_LIMIT_INIT (60);

static void send_status (Edged *self);

static void
set_cond (EdgedCondition *c, gint64 now, gboolean status, const char *reason, const char *message)
{
  if (c->transition == 0 || c->status != status)
    c->transition = now;
  c->status = status;
  g_free (c->reason);
  c->reason = g_strdup (reason);
  g_free (c->message);
  c->message = g_strdup (message);
}

/* Recomputes the conditions: Ready from the runtime's health, the
 * pressures from the host and the hard eviction thresholds. */
void
edged_node_conditions_update (Edged *self, const EdgedHost *host, gint64 now)
{
  EdgedHealth *h = &self->health;
  gboolean mem = host->memory_total > 0
                 && host->memory_available < edged_threshold_bytes (&self->evict_memory,
                                                                    host->memory_total);
  gboolean disk = host->fs_capacity > 0
                  && host->fs_available < edged_threshold_bytes (&self->evict_nodefs,
                                                                 host->fs_capacity);
  gint64 image_capacity, image_available;

  /* imagefs.available (the last observation of image-gc.c) */
  if (!disk && edged_image_fs_get (self, &image_capacity, &image_available))
    disk = image_available < edged_threshold_bytes (&self->evict_imagefs, image_capacity);

  self->conds[EDGED_COND_MEMORY].type = "MemoryPressure";
  self->conds[EDGED_COND_DISK].type = "DiskPressure";
  self->conds[EDGED_COND_PID].type = "PIDPressure";
  self->conds[EDGED_COND_READY].type = "Ready";
  set_cond (&self->conds[EDGED_COND_MEMORY], now, mem,
            mem ? "KubeletHasInsufficientMemory" : "KubeletHasSufficientMemory",
            mem ? "kubelet has insufficient memory available" : "kubelet has sufficient memory available");
  set_cond (&self->conds[EDGED_COND_DISK], now, disk,
            disk ? "KubeletHasDiskPressure" : "KubeletHasNoDiskPressure",
            disk ? "kubelet has disk pressure" : "kubelet has no disk pressure");
  set_cond (&self->conds[EDGED_COND_PID], now, FALSE, "KubeletHasSufficientPID",
            "kubelet has sufficient PID available");
  if (h->probed && h->ready)
    set_cond (&self->conds[EDGED_COND_READY], now, TRUE, "EdgeReady", "edge is posting ready status");
  else
    set_cond (&self->conds[EDGED_COND_READY], now, FALSE, "KubeletNotReady",
              h->probed ? h->problem
                        : "container runtime status check may not have completed yet");
}

/* Frees the conditions' strings. */
void
edged_conditions_clear (Edged *self)
{
  for (int i = 0; i < EDGED_N_CONDS; i++)
    {
      g_clear_pointer (&self->conds[i].reason, g_free);
      g_clear_pointer (&self->conds[i].message, g_free);
    }
}

static EcMessage *
node_message (Edged *self, const char *operation, JsonNode *content)
{
  g_autofree char *resource = g_strdup_printf ("%s/nodestatus/%s", self->namespace,
                                               self->node_name);
  EcMessage *msg = ec_message_new (EDGED_BUS_NAME, "meta", operation, resource);
  ec_message_set_content_node (msg, content);
  return msg;
}

static void
on_registered (EcMessage *reply, const GError *error, gpointer data)
{
  Edged *self = data;
  g_autofree char *text = NULL;

  self->registering = FALSE;
  /* kubelet: an ObjectResp, AlreadyExists included, then the lease */
  if (!error && self->kubelet_format && edged_kubelet_register_reply (self, reply, &text))
    {
      self->registered = TRUE;
      ec_log_message (self->context, "node %s registered (uid %s)", self->node_name,
                      self->node_uid ? self->node_uid : "of the existing node");
      edged_lease_start (self);
      send_status (self);
      return;
    }
  if (!error && !self->kubelet_format
      && g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR) != 0)
    {
      self->registered = TRUE;
      ec_log_message (self->context, "node %s registered", self->node_name);
      send_status (self);
      return;
    }
  if (!text)
    text = error ? g_strdup (error->message) : ec_message_dup_content_string (reply);
  if (!text && reply)
    text = g_strdup (ec_message_get_content_json (reply, NULL));
  ec_plugin_context_log_limited (self->context, &register_log, G_LOG_LEVEL_WARNING,
                                 "registering node %s failed (retried): %s", self->node_name,
                                 text ? text : "error");
}

/* Sends the registration unless one is under way or done. */
static void
try_register (Edged *self)
{
  EdgedHost host;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (EcMessage) msg = NULL;

  if (!self->register_node || self->registered || self->registering || !self->health.probed)
    return;
  edged_host_read (&host, self->root_directory);
  if (self->kubelet_format)
    msg = edged_kubelet_register_message (self, &host);   /* kubelet */
  else
    {
      node = edged_node_object (self, &host);
      msg = node_message (self, EC_OP_INSERT, node);
    }
  edged_host_clear (&host);
  self->registering = TRUE;
  ec_endpoint_call (self->endpoint, "metamanager", msg, CALL_TIMEOUT_MS, on_registered, self, NULL);
}

/* A status update or patch finished: a change seen meanwhile goes now. */
void
edged_node_status_done (Edged *self)
{
  self->updating = FALSE;
  if (self->status_again)
    {
      self->status_again = FALSE;
      send_status (self);
    }
}

static void
on_status_sent (EcMessage *reply, const GError *error, gpointer data)
{
  Edged *self = data;
  edged_node_status_done (self);
  if (error || g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR) == 0)
    {
      g_autofree char *text = error ? g_strdup (error->message)
                                    : ec_message_dup_content_string (reply);
      ec_plugin_context_log_limited (self->context, &status_log, G_LOG_LEVEL_WARNING,
                                     "node status update failed: %s", text ? text : "error");
    }
}

/* Reads the host, recomputes the conditions and sends the status. */
static void
send_status (Edged *self)
{
  EdgedHost host;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr (JsonNode) status = NULL;
  g_autoptr (EcMessage) msg = NULL;

  edged_host_read (&host, self->root_directory);
  edged_node_conditions_update (self, &host, now);
  if (!self->registered || self->updating)
    {
      /* a change while an update is on its way goes out right after it */
      self->status_again = self->updating;
      edged_host_clear (&host);
      return;
    }
  if (self->kubelet_format)
    {
      /* kubelet: a patch when changed or due */
      edged_kubelet_patch_status (self, &host, now);
      edged_host_clear (&host);
      return;
    }
  status = edged_node_status (self, &host, now);
  edged_host_clear (&host);
  msg = node_message (self, EC_OP_UPDATE, status);
  self->updating = TRUE;
  ec_endpoint_call (self->endpoint, "metamanager", msg, CALL_TIMEOUT_MS, on_status_sent, self, NULL);
}

static gboolean
on_tick (gpointer data)
{
  Edged *self = data;
  if (!self->registered)
    try_register (self);
  else
    send_status (self);
  return G_SOURCE_CONTINUE;
}

/* Starts registration and the periodic status. */
void
edged_node_start (Edged *self)
{
  EdgedHost host;
  edged_host_read (&host, self->root_directory);
  edged_node_conditions_update (self, &host, g_get_real_time () / G_USEC_PER_SEC);
  edged_host_clear (&host);
  if (!self->register_node)
    {
      ec_log_info (self->context, "register-node=false: the node is not registered");
      return;
    }
  self->status_timer = g_timeout_add ((guint) self->status_period_ms, on_tick, self);
}

/* Stops the periodic status. */
void
edged_node_stop (Edged *self)
{
  g_clear_handle_id (&self->status_timer, g_source_remove);
}

/* The runtime's health changed (or was probed the first time): register,
 * or report the new Ready condition at once. */
void
edged_node_runtime_changed (Edged *self)
{
  if (!self->registered)
    try_register (self);
  else
    send_status (self);
}

/* The cloud link came up or went down. */
void
edged_node_cloud_state (Edged *self, gboolean connected)
{
  self->connected = connected;
  if (connected && !self->registered)
    try_register (self);
}
