/* mm-remote.c: requests metamanager passes to the cloud and waits for
 * (edged's creates and lease updates, queries of cloud-owned types while
 * connected), and CSI volume calls it passes from the cloud to edged. */
#include "mm-private.h"

#include <string.h>

#define CSI_TIMEOUT_MS 60000

typedef struct {
  MetaManager *self;
  EcMessage   *request;     /* what edged (or another module) asked */
  EcMessage   *for_caller;  /* the cloud's reply, re-parented to the request */
  gboolean     is_query;
  char        *type;
  gboolean     by_type;
} Remote;

static void
remote_free (gpointer data)
{
  Remote *r = data;
  mm_unref (r->self);
  if (r->request)
    ec_message_unref (r->request);
  if (r->for_caller)
    ec_message_unref (r->for_caller);
  g_free (r->type);
  g_free (r);
}

/* What of a cloud reply KubeEdge stores: nothing for "OK" or an ObjectResp
 * with an error, the Object of a successful ObjectResp, else the content. */
static char *
reply_object (EcMessage *reply)
{
  gsize len;
  const char *content = ec_message_get_content_json (reply, &len);
  JsonNode *node;
  JsonObject *obj;

  if (mm_json_is_string (content, len) || len == 0 || strcmp (content, "null") == 0)
    return NULL;
  node = ec_message_get_content_node (reply, NULL);  /* the message's */
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    return g_strndup (content, len);
  obj = json_node_get_object (node);
  if (json_object_has_member (obj, "Object") && json_object_has_member (obj, "Err"))
    {
      JsonNode *err = json_object_get_member (obj, "Err");
      JsonNode *o = json_object_get_member (obj, "Object");
      if (!JSON_NODE_HOLDS_NULL (err) || !JSON_NODE_HOLDS_OBJECT (o))
        return NULL;
      return ec_json_to_string (o, FALSE);
    }
  return g_strndup (content, len);
}

/* Hands the cloud's reply to the caller and acknowledges it to the cloud. */
static void
deliver (MetaManager *self, Remote *r, EcMessage *cloud_reply)
{
  mm_reply (self, r->request, r->for_caller);
  mm_ack_cloud (self, cloud_reply);
}

static void
after_store (MetaManager *self, MmWrite *w)
{
  Remote *r = w->after_data;
  if (w->error)
    {
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, w->msg,
                                     "cannot store the cloud's answer %s: %s",
                      ec_message_get_resource (w->msg), w->error->message);
      mm_reply (self, r->request, r->for_caller);
      return;
    }
  deliver (self, r, w->msg);
}

static void
on_remote_reply (EcMessage *reply, const GError *error, gpointer data)
{
  Remote *r = data;
  MetaManager *self = r->self;
  g_autofree char *object = NULL;
  g_autofree char *ns = NULL, *type = NULL, *name = NULL;
  g_autoptr (GError) local = NULL;
  MmWrite *w;

  if (self->dead)
    return;
  if (error || g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR) == 0)
    {
      g_autofree char *why = error ? g_strdup (error->message) : ec_message_dup_content_string (reply);
      ec_metric_add (self->m.remote_failed[r->is_query ? 1 : 0], 1);
      if (r->is_query)
        {
          ec_log_info (self->context, "remote query %s failed (%s); answering from the local store",
                       ec_message_get_resource (r->request), why);
          mm_query_local (self, r->request, r->type, r->by_type);
          return;
        }
      g_autofree char *text = g_strdup_printf ("remote request failed: %s", why);
      mm_reply_error (self, r->request, text);
      return;
    }

  r->for_caller = ec_message_copy (reply);
  ec_message_set_parent_id (r->for_caller, ec_message_get_id (r->request));
  ec_message_set_sync (r->for_caller, FALSE);

  object = reply_object (reply);
  if (!object || !mm_resource_parse (ec_message_get_resource (reply), &ns, &type, &name))
    {
      deliver (self, r, reply);
      return;
    }
  w = mm_write_new (reply, after_store);
  w->meta_key = g_strdup (ec_message_get_resource (reply));
  w->meta_type = g_strdup (type);
  w->owned = g_steal_pointer (&object);
  if (!mm_write_prepare_object (w, ns, type, name, w->owned, strlen (w->owned), &local))
    {
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_MESSAGE, reply,
                                     "not storing the cloud's answer %s: %s",
                      ec_message_get_resource (reply), local->message);
      mm_write_free (w);
      deliver (self, r, reply);
      return;
    }
  /* the write owns r from here; the call's destroy must not free it */
  w->after_data = g_memdup2 (r, sizeof *r);
  w->after_destroy = remote_free;
  memset (r, 0, sizeof *r);
  r->self = mm_ref (self);
  mm_write_queue (self, w);
}

/**
 * mm_remote_call:
 * @self: metamanager
 * @msg: the request (from edged)
 * @is_query: a query, answered locally if the cloud does not answer
 * @type: its resource type
 * @by_type: the query names no object
 *
 * Asks the cloud through [metamanager] context-send-module under a new
 * message id, as KubeEdge does, stores the answer and hands it to the
 * caller re-parented to its request; the cloud's answer is acked.
 */
void
mm_remote_call (MetaManager *self, EcMessage *msg, gboolean is_query, const char *type,
                gboolean by_type)
{
  Remote *r = g_new0 (Remote, 1);
  g_autoptr (EcMessage) copy = ec_message_copy (msg);
  g_autofree char *id = ec_new_uuid ();
  r->self = mm_ref (self);
  r->request = ec_message_ref (msg);
  r->is_query = is_query;
  r->type = g_strdup (type);
  r->by_type = by_type;
  ec_message_set_id (copy, id);
  ec_message_set_sync (copy, FALSE);
  ec_metric_add (self->m.remote[is_query ? 1 : 0], 1);
  ec_endpoint_call (self->endpoint, self->send_module, copy, self->remote_timeout_ms,
                    on_remote_reply, r, remote_free);
}

typedef struct {
  MetaManager *self;
  EcMessage   *request;
} Csi;

static void
csi_free (gpointer data)
{
  Csi *c = data;
  mm_unref (c->self);
  ec_message_unref (c->request);
  g_free (c);
}

static void
on_csi_reply (EcMessage *reply, const GError *error, gpointer data)
{
  Csi *c = data;
  if (c->self->dead)
    return;
  if (error)
    {
      g_autofree char *text = g_strdup_printf ("edged did not answer: %s", error->message);
      mm_reply_error (c->self, c->request, text);
      return;
    }
  mm_send_to_cloud (c->self, reply);
}

/* A CSI volume call from the cloud: a sync call to edged (1 min), whose
 * answer goes back to the cloud. */
void
mm_csi_call (MetaManager *self, EcMessage *msg)
{
  Csi *c = g_new0 (Csi, 1);
  g_autoptr (EcMessage) copy = ec_message_copy (msg);
  c->self = mm_ref (self);
  c->request = ec_message_ref (msg);
  ec_endpoint_call (self->endpoint, "edged", copy, CSI_TIMEOUT_MS, on_csi_reply, c, csi_free);
}
