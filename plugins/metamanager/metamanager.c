/* metamanager.c: KubeEdge's metamanager (module "metamanager", group
 * "meta"): the node's durable store of what the cloud sent, in KubeEdge's
 * tables `meta` and `meta_v2` of the shared database.
 *
 * It applies the cloud's inserts, updates and deletes and acknowledges each
 * only once its write committed; it passes objects on to edged (and
 * devicetwin), answers edged's queries from the store, asks the cloud for
 * what edged needs from it while connected, passes pod and node statuses up,
 * and tells metaserver about every committed `meta_v2` change. The message
 * handling follows KubeEdge HEAD's edge/pkg/metamanager/process.go; see
 * docs/metamanager.md. */
#include "mm-private.h"
#include "mm-plugin.h"

#include <string.h>

#define SEEN_MAX 8192
#define DISCONNECTED_TEXT "connection lost between EdgeCore and CloudCore"

/* modules.metaManager of edgecore.yaml v1alpha2 (metaServer has its own
 * plugin); see docs/configuration.md. */
const EcConfigKey metamanager_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run metamanager" },
  { EC_CONFIG_STRING, 0, "context-send-group", "hub", "group that cloud-bound messages go to" },
  { EC_CONFIG_STRING, 0, "context-send-module", "websocket", "module that remote queries go to" },
  { EC_CONFIG_INT,    0, "remote-query-timeout", "60", "seconds to wait for the cloud to answer a query" },
  { EC_CONFIG_INT,    0, "max-pending-writes", "4096", "changes given to the database and not yet committed before messages are held" },
  { EC_CONFIG_INT,    0, "max-pending-bytes", "8388608", "bytes of such changes before messages are held" },
  { EC_CONFIG_INT,    0, "max-held-messages", "65536", "messages held while the database catches up; more are answered with an error (never acked)" },
  { 0 }
};

/* Takes a reference on the plugin's state. */
MetaManager *
mm_ref (MetaManager *self)
{
  g_atomic_int_inc (&self->ref_count);
  return self;
}

/* Drops a reference; the last one frees the state. */
void
mm_unref (MetaManager *self)
{
  if (!self || !g_atomic_int_dec_and_test (&self->ref_count))
    return;
  g_ptr_array_unref (self->batch);
  g_string_free (self->scratch, TRUE);
  mm_seen_free (self->seen);
  g_free (self->send_group);
  g_free (self->send_module);
  g_free (self);
}

/* ---- bookkeeping -------------------------------------------------------- */

static gboolean
seen (MetaManager *self, EcMessage *msg)
{
  const char *id = ec_message_get_id (msg);
  return id && *id && mm_seen_contains (self->seen, id);
}

/* Remembers a cloud message id once its change committed, so that a resend
 * with the same id is acked without being applied again. */
static void
remember (MetaManager *self, EcMessage *msg)
{
  const char *id = ec_message_get_id (msg);
  if (id && *id)
    mm_seen_add (self->seen, id);
}

static const char *
type_of (MmWrite *w)
{
  return w->meta_type ? w->meta_type : "";
}

/* ---- after a write committed -------------------------------------------- */

/* A cloud insert, update or delete committed (or failed): pass it on as
 * KubeEdge does, then ack it; a failure gets an error reply, never OK. */
static void
after_cloud (MetaManager *self, MmWrite *w)
{
  EcMessage *msg = w->msg;
  const char *source = ec_message_get_source (msg);
  const char *op = ec_message_get_operation (msg);

  if (w->error)
    {
      g_autofree char *text = g_strdup_printf ("Error to save meta to DB: %s", w->error->message);
      mm_reply_error (self, msg, text);
      return;
    }
  remember (self, msg);
  if (!w->skipped)
    {
      if (g_strcmp0 (source, "devicecontroller") == 0)
        {
          g_autoptr (EcMessage) twin = ec_message_copy (msg);
          ec_message_set_source (twin, MM_BUS_GROUP);
          ec_message_set_group (twin, "twin");
          mm_send_module (self, "twin", twin);
        }
      else if (g_strcmp0 (source, "policycontroller") == 0)
        ;
      else if (g_strcmp0 (op, EC_OP_UPDATE) == 0 && strcmp (type_of (w), "node") == 0)
        ;
      else
        mm_send_module (self, "edged", msg);
    }
  mm_ack_cloud (self, msg);
}

/* An edged status or object update committed: up to the cloud, OK to edged. */
static void
after_edged_update (MetaManager *self, MmWrite *w)
{
  g_autoptr (EcMessage) ok = NULL;
  if (w->error)
    {
      g_autofree char *text = g_strdup_printf ("Error to update meta to DB: %s", w->error->message);
      mm_reply_error (self, w->msg, text);
      return;
    }
  mm_send_to_cloud (self, w->msg);
  ok = ec_message_new_response (w->msg, "\"OK\"");
  mm_reply (self, w->msg, ok);
}

/* A device update from metaserver committed: to devicetwin, OK to the caller. */
static void
after_local_update (MetaManager *self, MmWrite *w)
{
  g_autoptr (EcMessage) ok = NULL;
  g_autoptr (EcMessage) twin = NULL;
  if (w->error)
    {
      g_autofree char *text = g_strdup_printf ("Error to update meta to DB: %s", w->error->message);
      mm_reply_error (self, w->msg, text);
      return;
    }
  twin = ec_message_copy (w->msg);
  ec_message_set_source (twin, MM_BUS_GROUP);
  ec_message_set_group (twin, "twin");
  mm_send_module (self, "twin", twin);
  ok = ec_message_new_response (w->msg, "\"OK\"");
  mm_reply (self, w->msg, ok);
}

/* edged's pod or node patch is stored: the same message (same id) goes to
 * the cloud, whose ObjectResp answers edged's pending call directly. */
static void
after_edged_patch (MetaManager *self, MmWrite *w)
{
  if (w->error)
    {
      g_autofree char *text = g_strdup_printf ("Error to save meta to DB: %s", w->error->message);
      mm_reply_error (self, w->msg, text);
      return;
    }
  if (!self->connected)
    {
      mm_reply_error (self, w->msg, DISCONNECTED_TEXT);
      return;
    }
  mm_send_to_cloud (self, w->msg);
}

/* A response nobody waited for is stored and passed on. */
static void
after_response (MetaManager *self, MmWrite *w)
{
  if (w->error)
    {
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, w->msg, "cannot store response %s: %s",
                      ec_message_get_resource (w->msg), w->error->message);
      return;
    }
  if (g_strcmp0 (ec_message_get_source (w->msg), "edgecontroller") == 0)
    mm_send_module (self, "edged", w->msg);
  else
    mm_send_to_cloud (self, w->msg);
}

/* ---- the operations ------------------------------------------------------- */

/* Builds and queues an upsert of msg's content; a bad content gets an error
 * reply and stores nothing. */
static void
upsert (MetaManager *self, EcMessage *msg, const char *ns, const char *type, const char *name,
        MmAfterFunc after)
{
  gsize len;
  const char *content = ec_message_get_content_json (msg, &len);
  g_autoptr (GError) error = NULL;
  MmWrite *w = mm_write_new (msg, after);

  w->meta_key = g_strdup (ec_message_get_resource (msg));
  w->meta_type = g_strdup (type);
  if (!mm_write_prepare_object (w, ns, type, name, content, len, &error))
    {
      g_autofree char *text = g_strdup_printf ("cannot store %s: %s",
                                               ec_message_get_resource (msg), error->message);
      if (after == after_response)
        ec_plugin_context_log_message (self->context, G_LOG_LEVEL_MESSAGE, msg, "%s", text);
      else
        mm_reply_error (self, msg, text);
      mm_write_free (w);
      return;
    }
  mm_write_queue (self, w);
}

/* A cloud insert or update; a resend of an applied message is just acked. */
static void
cloud_upsert (MetaManager *self, EcMessage *msg, const char *ns, const char *type,
              const char *name)
{
  if (seen (self, msg))
    {
      mm_ack_cloud (self, msg);
      return;
    }
  upsert (self, msg, ns, type, name, after_cloud);
}

static void
on_insert (MetaManager *self, EcMessage *msg, gboolean from_edged, const char *ns,
           const char *type, const char *name)
{
  if (strcmp (type, "event") == 0)
    mm_send_to_cloud (self, msg);
  else if (from_edged && !self->connected)
    mm_reply_error (self, msg, DISCONNECTED_TEXT);
  else if (from_edged)
    mm_remote_call (self, msg, FALSE, type, FALSE);
  else
    cloud_upsert (self, msg, ns, type, name);
}

static void
on_update (MetaManager *self, EcMessage *msg, gboolean from_edged, const char *ns,
           const char *type, const char *name)
{
  const char *source = ec_message_get_source (msg);
  if (strcmp (type, "event") == 0)
    mm_send_to_cloud (self, msg);
  else if (from_edged && strcmp (type, "lease") == 0)
    {
      if (self->connected)
        mm_remote_call (self, msg, FALSE, type, FALSE);
      else
        mm_reply_error (self, msg, DISCONNECTED_TEXT);
    }
  else if (from_edged)
    upsert (self, msg, ns, type, name, after_edged_update);
  else if (g_strcmp0 (source, "metaserver") == 0)
    upsert (self, msg, ns, type, name, after_local_update);
  else
    cloud_upsert (self, msg, ns, type, name);
}

static void
on_patch (MetaManager *self, EcMessage *msg, gboolean from_edged, const char *ns,
          const char *type, const char *name)
{
  if (strcmp (type, "event") == 0)
    mm_send_to_cloud (self, msg);
  else if (from_edged)
    upsert (self, msg, ns, type, name, after_edged_patch);
  else
    ec_log_info (self->context, "ignoring patch %s from %s", ec_message_get_resource (msg),
                 ec_message_get_source (msg));
}

/* Reads the pod a cloud delete names. KubeEdge reads the content (or the
 * JSON text inside a string content) as a v1.Pod and refuses the delete
 * when that fails; the pod's uid picks the row. Content that is not an
 * object ("garbage", null, a number) names no pod: FALSE, nothing is
 * deleted. */
static gboolean
pod_delete_info (EcMessage *msg, MmObjInfo *info, GError **error)
{
  g_autofree char *text = ec_message_dup_content_string (msg);
  const char *p = text;

  while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
    p++;
  if (*p != '{')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the content is not a pod object");
      return FALSE;
    }
  return mm_scan_object (p, strlen (p), info, error);
}

static void
on_delete (MetaManager *self, EcMessage *msg, gboolean from_edged, const char *ns,
           const char *type, const char *name)
{
  gsize len;
  const char *content = ec_message_get_content_json (msg, &len);
  g_autoptr (GError) error = NULL;
  MmObjInfo info = { 0 };
  MmWrite *w;

  if (strcmp (type, "event") == 0 || (from_edged && strcmp (type, "pod") == 0))
    {
      mm_send_to_cloud (self, msg);
      return;
    }
  if (seen (self, msg))
    {
      mm_ack_cloud (self, msg);
      return;
    }
  if (strcmp (type, "pod") == 0 ? !pod_delete_info (msg, &info, &error)
      : len > 0 && content[0] == '{' && !mm_scan_object (content, len, &info, &error))
    {
      g_autofree char *text = g_strdup_printf ("cannot delete %s: %s",
                                               ec_message_get_resource (msg), error->message);
      mm_obj_info_clear (&info);
      mm_reply_error (self, msg, text);
      return;
    }
  w = mm_write_new (msg, after_cloud);
  w->is_delete = TRUE;
  w->meta_key = g_strdup (ec_message_get_resource (msg));
  w->meta_type = g_strdup (type);
  if (strcmp (type, "pod") == 0 && info.uid && name)
    {
      w->uid = g_strdup (info.uid);
      w->also_delete = g_strdup_printf ("%s/podpatch/%s", ns, name);
    }
  if (!mm_v2_row_build (&w->v2, type, ns, name, "{}", 2, &info, &error)
      || (!mm_type_lookup (type) && !w->v2.key))
    {
      g_autofree char *text = error
        ? g_strdup_printf ("cannot delete %s: %s", ec_message_get_resource (msg), error->message)
        : g_strdup_printf ("unknown resource type \"%s\"", type);
      mm_reply_error (self, msg, text);
      mm_write_free (w);
      mm_obj_info_clear (&info);
      return;
    }
  mm_obj_info_clear (&info);
  mm_write_queue (self, w);
}

static void
on_query (MetaManager *self, EcMessage *msg, const char *type, const char *name)
{
  if (mm_type_needs_remote (type) && self->connected)
    mm_remote_call (self, msg, TRUE, type, name == NULL);
  else
    mm_query_local (self, msg, type, name == NULL);
}

static void
on_connect (MetaManager *self, EcCloudState state)
{
  if (state != EC_CLOUD_STATE_CONNECTED && state != EC_CLOUD_STATE_DISCONNECTED)
    return;
  self->connected = state == EC_CLOUD_STATE_CONNECTED;
  ec_log_info (self->context, "cloud %s", self->connected ? "connected" : "disconnected");
}

static gboolean
is_csi_op (const char *op)
{
  return g_strcmp0 (op, "createvolume") == 0 || g_strcmp0 (op, "deletevolume") == 0
         || g_strcmp0 (op, "controllerpublishvolume") == 0
         || g_strcmp0 (op, "controllerunpublishvolume") == 0;
}

/* Receives a message from the bus, on the main loop: the connection state
 * at once, the rest now or, while the writer is behind, after the messages
 * held before it (mm-flow.c). */
void
metamanager_handle_message (gpointer state, EcMessage *msg)
{
  MetaManager *self = state;
  const char *op = ec_message_get_operation (msg);
  const char *source = ec_message_get_source (msg);

  if (g_strcmp0 (op, EC_OP_CONNECT) == 0)
    {
      on_connect (self, ec_message_get_cloud_state (msg));
      return;
    }
  if (self->dead || g_strcmp0 (source, MM_BUS_NAME) == 0 || g_strcmp0 (op, EC_OP_ERROR) == 0)
    return;
  if (!mm_flow_hold (self, msg))
    mm_dispatch (self, msg);
}

/* Applies one message: the operations of KubeEdge's process.go. */
void
mm_dispatch (MetaManager *self, EcMessage *msg)
{
  const char *op = ec_message_get_operation (msg);
  const char *source = ec_message_get_source (msg);
  gboolean from_edged = g_strcmp0 (source, "edged") == 0;
  g_autofree char *ns = NULL, *type = NULL, *name = NULL;

  if (is_csi_op (op) && !from_edged)
    {
      mm_csi_call (self, msg);
      return;
    }
  if (g_strcmp0 (op, EC_OP_INSERT) != 0 && g_strcmp0 (op, EC_OP_UPDATE) != 0
      && g_strcmp0 (op, EC_OP_PATCH) != 0 && g_strcmp0 (op, EC_OP_DELETE) != 0
      && g_strcmp0 (op, EC_OP_QUERY) != 0 && g_strcmp0 (op, EC_OP_RESPONSE) != 0)
    {
      ec_log_debug (self->context, "ignoring %s %s from %s", op, ec_message_get_resource (msg),
                    source);
      return;
    }
  if (!mm_resource_parse (ec_message_get_resource (msg), &ns, &type, &name))
    {
      g_autofree char *text = g_strdup_printf ("unknown resource \"%s\": expected "
                                               "<namespace>/<type>[/<name>]",
                                               ec_message_get_resource (msg));
      if (g_strcmp0 (op, EC_OP_RESPONSE) != 0)
        mm_reply_error (self, msg, text);
      return;
    }
  if (g_strcmp0 (op, EC_OP_QUERY) == 0 && !mm_type_lookup (type))
    {
      g_autofree char *text = g_strdup_printf ("unknown resource type \"%s\"", type);
      mm_reply_error (self, msg, text);
      return;
    }

  if (g_strcmp0 (op, EC_OP_INSERT) == 0)
    on_insert (self, msg, from_edged, ns, type, name);
  else if (g_strcmp0 (op, EC_OP_UPDATE) == 0)
    on_update (self, msg, from_edged, ns, type, name);
  else if (g_strcmp0 (op, EC_OP_PATCH) == 0)
    on_patch (self, msg, from_edged, ns, type, name);
  else if (g_strcmp0 (op, EC_OP_DELETE) == 0)
    on_delete (self, msg, from_edged, ns, type, name);
  else if (g_strcmp0 (op, EC_OP_QUERY) == 0)
    on_query (self, msg, type, name);
  else
    upsert (self, msg, ns, type, name, after_response);
}

/* ---- the plugin's life ------------------------------------------------------ */

/* Reads the config, opens the shared store and prepares KubeEdge's tables. */
gboolean
metamanager_init (EcPluginContext *context, gpointer *state, GError **error)
{
  MetaManager *self;
  EcStore *store = ec_plugin_context_get_store (context, error);
  g_autofree char *migrated = NULL;
  gint64 timeout;

  if (!store)
    return FALSE;
  if (!mm_schema_prepare (store, &migrated, error))
    {
      g_prefix_error (error, "database %s: ", ec_store_get_path (store));
      return FALSE;
    }
  if (migrated)
    ec_log_message (context, "database %s: %s", ec_store_get_path (store), migrated);

  self = g_new0 (MetaManager, 1);
  self->rl_send_dropped = (EcLogLimit) EC_LOG_LIMIT_INIT (10);
  self->ref_count = 1;
  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  mm_metrics_register (self);
  self->store = store;
  self->send_group = ec_plugin_context_get_string (context, "context-send-group");
  self->send_module = ec_plugin_context_get_string (context, "context-send-module");
  timeout = ec_plugin_context_get_int (context, "remote-query-timeout");
  self->remote_timeout_ms = (guint) CLAMP (timeout, 1, 3600) * 1000;
  self->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) mm_write_free);
  self->seen = mm_seen_new (SEEN_MAX);
  self->scratch = g_string_new (NULL);
  self->max_pending_writes = (guint) CLAMP (ec_plugin_context_get_int (context, "max-pending-writes"),
                                            1, G_MAXINT);
  self->max_pending_bytes = (guint64) MAX (ec_plugin_context_get_int (context, "max-pending-bytes"),
                                           1);
  self->max_held = (guint) CLAMP (ec_plugin_context_get_int (context, "max-held-messages"),
                                  1, G_MAXINT);
  ec_log_info (context, "store %s; cloud-bound messages to group %s, remote queries to %s; "
               "messages held above %u uncommitted changes or %" G_GUINT64_FORMAT " bytes "
               "(at most %u held)", ec_store_get_path (store), self->send_group,
               self->send_module, self->max_pending_writes, self->max_pending_bytes,
               self->max_held);
  *state = self;
  return TRUE;
}

/* Nothing runs until messages arrive. */
gboolean
metamanager_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Gives the store what is collected and lets it finish; later messages are
 * ignored. */
void
metamanager_stop (gpointer state)
{
  MetaManager *self = state;
  mm_flow_clear (self);
  mm_write_shutdown (self);
  self->dead = TRUE;
}

/* Drops what waits and the plugin's reference; jobs still in the store
 * hold their own and only clean up. */
void
metamanager_free (gpointer state)
{
  MetaManager *self = state;
  if (!self->dead)
    mm_write_shutdown (self);
  self->dead = TRUE;
  g_clear_handle_id (&self->flush_source, g_source_remove);
  mm_flow_clear (self);
  mm_read_clear_deferred (self);
  mm_unref (self);
}
