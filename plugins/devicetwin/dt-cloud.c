/* dt-cloud.c: devicetwin's link to the cloud (reference section 5.2).
 *
 * Every cloud-bound twin message (twin/edge_updated, state/update) is
 * written to edgecore_twin_uplink in the same transaction as the change it
 * reports, and stays there until the cloud confirms it (a message on group
 * twin whose parent_msg_id is its msg_id). While the cloud is connected it
 * is sent as soon as it is committed; while disconnected nothing is sent
 * and, on reconnect, everything unconfirmed goes out in the order it was
 * made (KubeEdge drops these instead). Unconfirmed messages are re-sent
 * after 60 s. */
#include "dt-types.h"

#include <string.h>

#define RESEND_AFTER_US  (60 * G_USEC_PER_SEC)
#define MAX_UPLINKS      100000

/* Frees an uplink. */
void
dt_uplink_free (gpointer data)
{
  DtUplink *u = data;
  if (!u)
    return;
  g_free (u->msg_id);
  g_free (u->resource);
  g_free (u->content);
  g_free (u);
}

/* A cloud-bound twin message: source twin, group resource, op update. */
EcMessage *
dt_cloud_message (const char *resource, const char *content, gboolean is_string)
{
  EcMessage *m = ec_message_new ("twin", "resource", EC_OP_UPDATE, resource);
  if (is_string)
    ec_message_set_content_string (m, content);
  else
    ec_message_set_content_json (m, content, -1, NULL);
  return m;
}

/* Sends one uplink with its own msg_id. */
static void
send_uplink (DeviceTwin *self, DtUplink *u)
{
  EcMessage *m = dt_cloud_message (u->resource, u->content, u->is_string);
  ec_message_set_id (m, u->msg_id);
  u->sent_at = g_get_monotonic_time ();
  outbox_send (self->outbox, "websocket", m);
}

/* Re-sends what the cloud has not confirmed within 60 s. */
static gboolean
on_resend (gpointer data)
{
  DeviceTwin *self = data;
  gint64 now = g_get_monotonic_time ();
  guint n = 0;

  if (!self->connected)
    return G_SOURCE_CONTINUE;
  for (GList *l = self->uplinks->head; l; l = l->next)
    {
      DtUplink *u = l->data;
      if (u->sent_at > 0 && now - u->sent_at >= RESEND_AFTER_US)
        {
          send_uplink (self, u);
          n++;
        }
    }
  if (n)
    ec_log_info (self->context, "re-sent %u unconfirmed twin messages to the cloud", n);
  return G_SOURCE_CONTINUE;
}

/* Takes the uplinks loaded from the store (array emptied, not freed). */
void
dt_cloud_init (DeviceTwin *self, GPtrArray *loaded)
{
  self->uplinks = g_queue_new ();
  self->uplink_ids = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < loaded->len; i++)
    {
      DtUplink *u = loaded->pdata[i];
      loaded->pdata[i] = NULL;
      g_queue_push_tail (self->uplinks, u);
      g_hash_table_insert (self->uplink_ids, u->msg_id, self->uplinks->tail);
      self->next_seq = MAX (self->next_seq, u->seq);
    }
  self->resend_id = g_timeout_add_seconds (10, on_resend, self);
}

/* Frees the uplink queue. */
void
dt_cloud_fini (DeviceTwin *self)
{
  g_clear_handle_id (&self->resend_id, g_source_remove);
  if (self->uplink_ids)
    g_hash_table_unref (self->uplink_ids);
  if (self->uplinks)
    g_queue_free_full (self->uplinks, dt_uplink_free);
  self->uplinks = NULL;
  self->uplink_ids = NULL;
}

/* Forgets an uplink and deletes its row in txn. */
static void
drop_uplink (DeviceTwin *self, GList *link, DtTxn *txn)
{
  DtUplink *u = link->data;
  DtOp *op = dt_txn_op (txn, DT_OP_UPLINK_DEL);
  op->i = (gint64) u->seq;
  g_hash_table_remove (self->uplink_ids, u->msg_id);
  g_queue_delete_link (self->uplinks, link);
  dt_uplink_free (u);
}

/* Records a cloud-bound message in txn; it is sent once committed (and the
 * cloud is connected). content is JSON text, or a string's text when
 * is_string. */
void
dt_cloud_upload (DeviceTwin *self, DtTxn *txn, const char *resource, const char *content,
                 gboolean is_string)
{
  DtUplink *u = g_new0 (DtUplink, 1);
  DtSend *send;
  DtOp *op;

  if (g_queue_get_length (self->uplinks) >= MAX_UPLINKS)
    {
      dt_warn_limited (self, &self->rl_bad_payload,
                       "%u twin messages wait for the cloud; dropping the oldest", MAX_UPLINKS);
      drop_uplink (self, self->uplinks->head, txn);
    }
  u->seq = ++self->next_seq;
  u->msg_id = ec_new_uuid ();
  u->resource = g_strdup (resource);
  u->content = g_strdup (content);
  u->is_string = is_string;
  u->sent_at = -1;   /* not committed yet */
  g_queue_push_tail (self->uplinks, u);
  g_hash_table_insert (self->uplink_ids, u->msg_id, self->uplinks->tail);

  op = dt_txn_op (txn, DT_OP_UPLINK_PUT);
  op->i = (gint64) u->seq;
  op->s[0] = g_strdup (u->msg_id);
  op->s[1] = g_strdup (resource);
  op->s[2] = g_strdup (content);
  op->i2 = is_string;

  send = g_new0 (DtSend, 1);
  send->module = g_strdup ("websocket");
  send->uplink_seq = u->seq;
  g_ptr_array_add (txn->sends, send);
}

/* The uplink with that seq is committed: send it if the cloud is there. */
void
dt_cloud_sent (DeviceTwin *self, guint64 seq)
{
  /* committed uplinks are in seq order; the newest is near the tail */
  for (GList *l = self->uplinks->tail; l; l = l->prev)
    {
      DtUplink *u = l->data;
      if (u->seq < seq)
        return;
      if (u->seq == seq)
        {
          u->sent_at = 0;
          if (self->connected)
            send_uplink (self, u);
          return;
        }
    }
}

/* The cloud confirmed the message parent_id. */
void
dt_cloud_confirm (DeviceTwin *self, const char *parent_id)
{
  GList *link = g_hash_table_lookup (self->uplink_ids, parent_id);
  DtTxn *txn;

  if (!link)
    return;
  txn = dt_txn_new ();
  drop_uplink (self, link, txn);
  dt_commit (self, txn);
}

/* Asks the cloud for the membership (sent on every reconnect). */
static void
request_detail (DeviceTwin *self)
{
  g_autofree char *event_id = ec_new_uuid ();
  GString *s = g_string_new ("{\"event_type\":\"group_membership_event\",\"event_id\":");
  EcMessage *m = ec_message_new ("twin", "resource", "get", "membership/detail");

  dt_json_string (s, event_id);
  g_string_append (s, ",\"operation\":\"detail\",\"group_id\":");
  dt_json_string (s, self->node_name);
  g_string_append_printf (s, ",\"timestamp\":%" G_GINT64_FORMAT "}", g_get_real_time () / 1000);
  ec_message_set_content_string (m, s->str);
  g_string_free (s, TRUE);
  outbox_send (self->outbox, "websocket", m);
}

/* The cloud link came up or went down. On connect, everything committed
 * and unconfirmed is sent, oldest first. */
void
dt_cloud_set_connected (DeviceTwin *self, gboolean connected)
{
  guint n = 0;

  if (connected == self->connected)
    return;
  self->connected = connected;
  if (!connected)
    {
      ec_log_info (self->context, "cloud disconnected; %u twin messages await confirmation",
                   g_queue_get_length (self->uplinks));
      return;
    }
  request_detail (self);
  for (GList *l = self->uplinks->head; l; l = l->next)
    {
      DtUplink *u = l->data;
      if (u->sent_at >= 0)
        {
          send_uplink (self, u);
          n++;
        }
    }
  ec_log_info (self->context, "cloud connected; sent %u twin messages kept while offline", n);
}

/* Queues the "OK" acknowledgement of a cloud message, sent after txn is
 * committed (an error reply if it fails). */
void
dt_cloud_ack (DeviceTwin *self, DtTxn *txn, EcMessage *request)
{
  EcMessage *ok = ec_message_new_response (request, "\"OK\"");
  EcMessage *err = ec_message_new_error (request, "devicetwin: storing the change failed");

  ec_message_set_parent_id (err, ec_message_get_id (request));
  ec_message_set_source (err, "twin");
  ec_message_set_group (err, ec_message_get_group (request));
  dt_txn_send (txn, "websocket", ok);
  dt_txn_fail_send (txn, "websocket", err);
}
