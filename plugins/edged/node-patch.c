/* node-patch.c: the node in the current (HEAD, kubelet-style) formats,
 * chosen with [edged] status-format=kubelet (see docs/edged.md):
 *
 *   insert null/node/<node>      the v1.Node (kubelet's initialNode: beta
 *                                labels, the attach-detach annotation,
 *                                the conditions); the cloud answers
 *                                ObjectResp{Object: the created Node, Err}
 *   patch  null/nodepatch/<node> a strategic merge patch of the status (a
 *                                JSON string), sent when the status changed
 *                                (heartbeat times aside) or at least every
 *                                node-status-report-frequency; the cloud
 *                                answers ObjectResp{Object: the Node, Err}
 *
 * The heartbeat is the node lease (node-lease.c). */
#include "edged.h"
#include "pod-spec.h"
#include "smp.h"

#include <string.h>

#define CALL_TIMEOUT_MS 60000

static EcLogLimit patch_log = EC_LOG_LIMIT_INIT (60);

/* Reads a cloud reply's ObjectResp ({"Object":...,"Err":null|{"ErrStatus":
 * {...}}}): TRUE when Err is null, with the Object (owned by the reply) in
 * *object; else FALSE with the error's message and reason (or why the reply
 * is not an ObjectResp) in *why and *reason (either may be NULL). */
gboolean
edged_object_resp (EcMessage *reply, JsonObject **object, char **why, char **reason)
{
  JsonNode *content;
  JsonObject *o, *st;
  JsonNode *err, *obj;

  if (object)
    *object = NULL;
  if (reason)
    *reason = NULL;
  if (why)
    *why = NULL;
  if (!g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR))
    {
      if (why)
        *why = ec_message_dup_content_string (reply);
      return FALSE;
    }
  content = ec_message_get_content_node (reply, NULL);
  if (!content || !JSON_NODE_HOLDS_OBJECT (content))
    {
      if (why)
        *why = g_strdup ("the cloud's answer is not an ObjectResp");
      return FALSE;
    }
  o = json_node_get_object (content);
  err = json_object_get_member (o, "Err");
  obj = json_object_get_member (o, "Object");
  if (err && !JSON_NODE_HOLDS_NULL (err))
    {
      st = JSON_NODE_HOLDS_OBJECT (err)
           ? edged_json_object (json_node_get_object (err), "ErrStatus") : NULL;
      if (why)
        *why = g_strdup (st && edged_json_string (st, "message") ? edged_json_string (st, "message")
                                                                 : "error");
      if (reason && st && edged_json_string (st, "reason"))
        *reason = g_strdup (edged_json_string (st, "reason"));
      return FALSE;
    }
  if (!obj || !JSON_NODE_HOLDS_OBJECT (obj))
    {
      if (why)
        *why = g_strdup ("the cloud's answer has no Object");
      return FALSE;
    }
  if (object)
    *object = json_node_get_object (obj);
  return TRUE;
}

/* The v1.NodeStatus (the Status of v1.9.2's NodeStatusRequest). */
static JsonNode *
node_status (Edged *self, const EdgedHost *host, gint64 now)
{
  g_autoptr (JsonNode) req = edged_node_status (self, host, now);
  return edged_json_deep_copy (json_object_get_member (json_node_get_object (req), "Status"));
}

/* The registration: v1.9.2's object with kubelet's additions. */
EcMessage *
edged_kubelet_register_message (Edged *self, const EdgedHost *host)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr (JsonNode) node = edged_node_object (self, host);
  g_autoptr (JsonNode) status = NULL;
  g_autofree char *resource = g_strdup_printf ("null/node/%s", self->node_name);
  JsonObject *o = json_node_get_object (node);
  JsonObject *meta = json_object_get_object_member (o, "metadata");
  JsonObject *labels = json_object_get_object_member (meta, "labels");
  JsonObject *annotations = json_object_new ();
  EcMessage *msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_INSERT, resource);

  /* kubelet's initialNode has the conditions of the moment */
  edged_node_conditions_update (self, host, now);
  status = node_status (self, host, now);
  if (!json_object_has_member (labels, "beta.kubernetes.io/arch"))
    json_object_set_string_member (labels, "beta.kubernetes.io/arch",
                                   json_object_get_string_member (labels, "kubernetes.io/arch"));
  if (!json_object_has_member (labels, "beta.kubernetes.io/os"))
    json_object_set_string_member (labels, "beta.kubernetes.io/os", "linux");
  json_object_set_string_member (annotations, "volumes.kubernetes.io/controller-managed-attach-detach",
                                 "true");
  json_object_set_object_member (meta, "annotations", annotations);
  json_object_set_member (o, "status", edged_json_deep_copy (status));
  ec_message_set_content_node (msg, node);
  return msg;
}

/* The cloud's answer to the registration: TRUE when the node is there (created
 * now, or AlreadyExists as after an edgecore restart; kubelet then goes on
 * with the existing node). The created node's uid is kept for the lease's
 * owner reference. */
gboolean
edged_kubelet_register_reply (Edged *self, EcMessage *reply, char **why)
{
  JsonObject *node;
  g_autofree char *reason = NULL;

  if (edged_object_resp (reply, &node, why, &reason))
    {
      const char *uid = edged_json_string (edged_json_object (node, "metadata"), "uid");
      JsonNode *status = json_object_get_member (node, "status");
      g_free (self->node_uid);
      self->node_uid = g_strdup (uid);
      /* the registered status is the base of the first patch */
      g_clear_pointer (&self->patched_status, json_node_unref);
      if (status && JSON_NODE_HOLDS_OBJECT (status))
        {
          self->patched_status = edged_json_deep_copy (status);
          self->patched_at = g_get_monotonic_time ();
        }
      return TRUE;
    }
  if (!g_strcmp0 (reason, "AlreadyExists"))
    {
      g_clear_pointer (why, g_free);
      return TRUE;
    }
  return FALSE;
}

/* A copy of a status without the conditions' lastHeartbeatTime: kubelet's
 * "changed" ignores them. */
static JsonNode *
without_heartbeats (JsonNode *status)
{
  JsonNode *copy = edged_json_deep_copy (status);
  JsonObject *o = json_node_get_object (copy);
  JsonArray *conds = json_object_has_member (o, "conditions")
                     ? json_object_get_array_member (o, "conditions") : NULL;
  for (guint i = 0; conds && i < json_array_get_length (conds); i++)
    json_object_remove_member (json_array_get_object_element (conds, i), "lastHeartbeatTime");
  return copy;
}

typedef struct {
  Edged    *self;
  JsonNode *status;   /* what the patch leads to */
} PatchCall;

static void
patch_call_free (gpointer data)
{
  PatchCall *c = data;
  json_node_unref (c->status);
  g_free (c);
}

static void
on_patched (EcMessage *reply, const GError *error, gpointer data)
{
  PatchCall *c = data;
  Edged *self = c->self;
  g_autofree char *why = NULL;

  self->updating = FALSE;
  if (!error && edged_object_resp (reply, NULL, &why, NULL))
    {
      g_clear_pointer (&self->patched_status, json_node_unref);
      self->patched_status = json_node_ref (c->status);
      self->patched_at = g_get_monotonic_time ();
    }
  else
    ec_plugin_context_log_limited (self->context, &patch_log, G_LOG_LEVEL_WARNING,
                                   "node status patch failed: %s",
                                   error ? error->message : why ? why : "error");
  edged_node_status_done (self);
}

/* Computes the status and patches it when it changed (heartbeats aside) or
 * node-status-report-frequency passed since the last patch. TRUE when a
 * patch went out (edged_node_status_done follows). */
gboolean
edged_kubelet_patch_status (Edged *self, const EdgedHost *host, gint64 now)
{
  g_autoptr (JsonNode) status = node_status (self, host, now);
  g_autoptr (JsonNode) a = NULL, b = NULL;
  g_autoptr (JsonObject) diff = NULL;
  g_autoptr (JsonObject) patch = json_object_new ();
  g_autoptr (JsonNode) root = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;
  g_autofree char *resource = NULL;
  g_autoptr (EcMessage) msg = NULL;
  PatchCall *call;

  if (self->patched_status)
    {
      a = without_heartbeats (self->patched_status);
      b = without_heartbeats (status);
      if (json_node_equal (a, b)
          && g_get_monotonic_time () - self->patched_at < self->report_period_ms * 1000)
        return FALSE;
    }
  diff = edged_smp_diff (self->patched_status, status);
  if (!diff)
    return FALSE;
  json_object_set_object_member (patch, "status", g_steal_pointer (&diff));
  json_node_set_object (root, patch);
  text = ec_json_to_string (root, FALSE);
  resource = g_strdup_printf ("null/nodepatch/%s", self->node_name);
  msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_PATCH, resource);
  ec_message_set_content_string (msg, text);
  call = g_new0 (PatchCall, 1);
  call->self = self;
  call->status = g_steal_pointer (&status);
  self->updating = TRUE;
  ec_endpoint_call (self->endpoint, "metamanager", msg, CALL_TIMEOUT_MS, on_patched, call,
                    patch_call_free);
  return TRUE;
}

/* Frees the state of the kubelet formats. */
void
edged_kubelet_clear (Edged *self)
{
  g_clear_pointer (&self->node_uid, g_free);
  g_clear_pointer (&self->patched_status, json_node_unref);
}
