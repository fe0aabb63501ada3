/* node-lease.c: the node's heartbeat in the current (HEAD) format, kubelet's
 * node lease controller: a coordination.k8s.io/v1 Lease named after the
 * node in namespace kube-node-lease, renewed every 1/4 of
 * node-lease-duration-seconds (40 s: every 10 s), through metamanager,
 * which asks the cloud (remote calls):
 *
 *   query  kube-node-lease/lease/<node>   at first and after a failure;
 *                                         ObjectResp{Object: Lease, Err}
 *   insert kube-node-lease/lease/<node>   when the query said NotFound
 *   update kube-node-lease/lease/<node>   the last Lease the cloud gave,
 *                                         spec.renewTime = now
 *
 * Only with [edged] status-format=kubelet, from the node's registration on. */
#include "edged.h"
#include "smp.h"

#include <string.h>

#define LEASE_NAMESPACE "kube-node-lease"
#define CALL_TIMEOUT_MS 60000

static EcLogLimit lease_log = EC_LOG_LIMIT_INIT (60);

static void lease_tick (Edged *self);

/* metav1.MicroTime: RFC 3339 with microseconds, UTC. */
static char *
micro_time (void)
{
  g_autoptr (GDateTime) t = g_date_time_new_now_utc ();
  return g_date_time_format (t, "%Y-%m-%dT%H:%M:%S.%fZ");
}

static EcMessage *
lease_message (Edged *self, const char *op)
{
  g_autofree char *resource = g_strdup_printf (LEASE_NAMESPACE "/lease/%s", self->node_name);
  return ec_message_new (EDGED_BUS_NAME, "meta", op, resource);
}

/* Sets what kubelet sets on every renewal: holder, duration, renew time,
 * and the owner reference to the node once its uid is known. */
static void
lease_fill (Edged *self, JsonObject *lease)
{
  JsonObject *meta, *spec;
  g_autofree char *now = micro_time ();

  if (!json_object_has_member (lease, "metadata"))
    json_object_set_object_member (lease, "metadata", json_object_new ());
  if (!json_object_has_member (lease, "spec"))
    json_object_set_object_member (lease, "spec", json_object_new ());
  meta = json_object_get_object_member (lease, "metadata");
  spec = json_object_get_object_member (lease, "spec");
  json_object_set_string_member (meta, "name", self->node_name);
  json_object_set_string_member (meta, "namespace", LEASE_NAMESPACE);
  if (self->node_uid && !json_object_has_member (meta, "ownerReferences"))
    {
      JsonArray *refs = json_array_new ();
      JsonObject *ref = json_object_new ();
      json_object_set_string_member (ref, "apiVersion", "v1");
      json_object_set_string_member (ref, "kind", "Node");
      json_object_set_string_member (ref, "name", self->node_name);
      json_object_set_string_member (ref, "uid", self->node_uid);
      json_array_add_object_element (refs, ref);
      json_object_set_array_member (meta, "ownerReferences", refs);
    }
  json_object_set_string_member (spec, "holderIdentity", self->node_name);
  json_object_set_int_member (spec, "leaseDurationSeconds", self->lease_duration_s);
  json_object_set_string_member (spec, "renewTime", now);
}

static void
lease_failed (Edged *self, const char *what, const char *why)
{
  /* start again from a query at the next renewal */
  g_clear_pointer (&self->lease, json_node_unref);
  ec_plugin_context_log_limited (self->context, &lease_log, G_LOG_LEVEL_WARNING,
                                 "node lease %s failed (retried): %s", what, why ? why : "error");
}

static void
on_lease_written (EcMessage *reply, const GError *error, gpointer data)
{
  Edged *self = data;
  JsonObject *lease;
  g_autofree char *why = NULL;

  self->lease_busy = FALSE;
  if (error || !edged_object_resp (reply, &lease, &why, NULL))
    {
      lease_failed (self, "renewal", error ? error->message : why);
      return;
    }
  g_clear_pointer (&self->lease, json_node_unref);
  {
    g_autoptr (JsonNode) wrap = json_node_new (JSON_NODE_OBJECT);
    json_node_set_object (wrap, lease);
    self->lease = edged_json_deep_copy (wrap);
  }
}

/* Creates or renews the lease from base (a copy of the cloud's, or a new
 * one). */
static void
lease_write (Edged *self, const char *op, JsonObject *base)
{
  g_autoptr (JsonNode) content = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (EcMessage) msg = lease_message (self, op);

  lease_fill (self, base);
  json_node_set_object (content, base);
  ec_message_set_content_node (msg, content);
  self->lease_busy = TRUE;
  ec_endpoint_call (self->endpoint, "metamanager", msg, CALL_TIMEOUT_MS, on_lease_written, self, NULL);
}

static void
on_lease_read (EcMessage *reply, const GError *error, gpointer data)
{
  Edged *self = data;
  JsonObject *lease;
  g_autofree char *why = NULL, *reason = NULL;

  self->lease_busy = FALSE;
  if (error)
    {
      lease_failed (self, "query", error->message);
      return;
    }
  if (edged_object_resp (reply, &lease, &why, &reason))
    {
      g_autoptr (JsonNode) wrap = json_node_new (JSON_NODE_OBJECT);
      g_autoptr (JsonNode) copy = NULL;
      json_node_set_object (wrap, lease);
      copy = edged_json_deep_copy (wrap);
      lease_write (self, EC_OP_UPDATE, json_node_get_object (copy));
      return;
    }
  if (!g_strcmp0 (reason, "NotFound"))
    {
      g_autoptr (JsonObject) fresh = json_object_new ();
      lease_write (self, EC_OP_INSERT, fresh);
      return;
    }
  lease_failed (self, "query", why);
}

static void
lease_tick (Edged *self)
{
  g_autoptr (EcMessage) msg = NULL;

  if (self->lease_busy)
    return;
  if (self->lease)
    {
      g_autoptr (JsonNode) copy = edged_json_deep_copy (self->lease);
      lease_write (self, EC_OP_UPDATE, json_node_get_object (copy));
      return;
    }
  msg = lease_message (self, EC_OP_QUERY);
  self->lease_busy = TRUE;
  ec_endpoint_call (self->endpoint, "metamanager", msg, CALL_TIMEOUT_MS, on_lease_read, self, NULL);
}

static gboolean
on_lease_timer (gpointer data)
{
  lease_tick (data);
  return G_SOURCE_CONTINUE;
}

/* Starts the lease: at once, then every node-lease-duration-seconds / 4. */
void
edged_lease_start (Edged *self)
{
  guint period_ms = (guint) MAX (self->lease_duration_s * 1000 / 4, 1);
  if (!self->kubelet_format || self->lease_timer)
    return;
  lease_tick (self);
  self->lease_timer = g_timeout_add (period_ms, on_lease_timer, self);
}

/* Stops renewing and forgets the lease. */
void
edged_lease_stop (Edged *self)
{
  g_clear_handle_id (&self->lease_timer, g_source_remove);
  g_clear_pointer (&self->lease, json_node_unref);
}
