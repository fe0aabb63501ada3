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

/* In the window: sent on this connection less than 60 s ago and not
 * confirmed. One the cloud leaves unconfirmed longer (a v1.9.2 cloud
 * confirms only what it could apply) leaves the window, so it cannot hold
 * back newer uplinks; it is re-sent every 60 s as before. */
static gboolean
in_window (DtUplink *u, gint64 now)
{
  return u->sent_at > 0 && now - u->sent_at < RESEND_AFTER_US;
}

/* Sends one uplink with its own msg_id. */
static void
send_uplink (DeviceTwin *self, DtUplink *u, const char *resource, const char *content,
             gboolean is_string)
{
  EcMessage *m = dt_cloud_message (resource, content, is_string);
  gint64 now = g_get_monotonic_time ();

  ec_message_set_id (m, u->msg_id);
  if (!in_window (u, now))
    self->uplinks_out++;
  u->sent_at = now;
  outbox_send (self->outbox, "websocket", m);
}

/* Sent more than 60 s ago and not confirmed. */
static gboolean
want_resend (DtUplink *u, gint64 now)
{
  return u->sent_at > 0 && now - u->sent_at >= RESEND_AFTER_US;
}

/* Committed and not sent since the cloud connected. */
static gboolean
want_unsent (DtUplink *u, gint64 now)
{
  return u->sent_at == 0;
}

static void read_stored (DeviceTwin *self);

/* The stored uplinks were read: sends, oldest first, those still wanted
 * (all unsent ones while catching up after a connect, else the overdue
 * ones). While catching up, uplinks committed after the read are read in a
 * next round, so the cloud gets them in order. */
static void
on_stored_read (DeviceTwin *self, GPtrArray *rows, const GError *error)
{
  gboolean (*want) (DtUplink *u, gint64 now) = self->catching_up ? want_unsent : want_resend;
  gint64 now = g_get_monotonic_time ();
  GList *l = self->uplinks->head;
  guint n = 0;

  self->uplink_read = FALSE;
  if (self->read_connects != self->connects || self->read_catching_up != self->catching_up)
    {
      /* the link went down and up meanwhile: start over for this connection */
      if (self->connected && self->catching_up)
        read_stored (self);
      return;
    }
  if (error)
    {
      ec_log_warning (self->context, "reading twin messages for the cloud failed: %s",
                      error->message);
      self->catching_up = FALSE;
      return;
    }
  if (!self->connected)
    return;
  /* both lists are in seq order: walk them together */
  for (guint i = 0; i < rows->len && l; i++)
    {
      DtUplinkRow *r = rows->pdata[i];
      while (l && ((DtUplink *) l->data)->seq < r->seq)
        l = l->next;
      if (self->catching_up && self->uplinks_out >= DT_UPLINK_WINDOW)
        break;   /* the rest when the cloud confirms (dt_cloud_confirm) */
      if (l && ((DtUplink *) l->data)->seq == r->seq && want (l->data, now))
        {
          send_uplink (self, l->data, r->resource, r->content, r->is_string);
          n++;
        }
    }
  if (n)
    ec_log_info (self->context, "%s %u twin messages to the cloud",
                 self->catching_up ? "sent kept" : "re-sent unconfirmed", n);
  if (self->catching_up)
    {
      /* window full: the next round starts when confirmations make room */
      if (self->uplinks_out >= DT_UPLINK_WINDOW)
        return;
      self->catching_up = FALSE;
      for (l = self->uplinks->head; n && l; l = l->next)
        if (want_unsent (l->data, now))
          {
            self->catching_up = TRUE;
            break;
          }
      if (self->catching_up)
        read_stored (self);
    }
}

/* Reads the stored texts of the uplinks to send (while catching up: the
 * unsent ones, else the overdue ones) off the main loop; only on connect
 * and for re-sends, so a node without a cloud keeps no texts in memory. */
static void
read_stored (DeviceTwin *self)
{
  gboolean (*want) (DtUplink *u, gint64 now) = self->catching_up ? want_unsent : want_resend;
  gint64 now = g_get_monotonic_time ();

  if (self->uplink_read)
    return;   /* on_stored_read starts the next round */
  for (GList *l = self->uplinks->head; l; l = l->next)
    if (want (l->data, now))
      {
        self->uplink_read = TRUE;
        self->read_connects = self->connects;
        self->read_catching_up = self->catching_up;
        dt_store_read_uplinks (self, ((DtUplink *) l->data)->seq, on_stored_read);
        return;
      }
  self->catching_up = FALSE;
}

/* Re-sends what the cloud has not confirmed within 60 s; counts the window
 * again, without those. */
static gboolean
on_resend (gpointer data)
{
  DeviceTwin *self = data;
  gint64 now = g_get_monotonic_time ();
  guint out = 0;

  for (GList *l = self->uplinks->head; l; l = l->next)
    if (in_window (l->data, now))
      out++;
  self->uplinks_out = out;
  /* while catching up, the overdue ones go out after the kept ones */
  if (self->connected && (!self->catching_up || self->uplinks_out <= DT_UPLINK_WINDOW / 2))
    read_stored (self);
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
    g_queue_free_full (self->uplinks, g_free);
  self->uplinks = NULL;
  self->uplink_ids = NULL;
}

/* Forgets an uplink and deletes its row in txn. */
static void
drop_uplink (DeviceTwin *self, GList *link, DtTxn *txn)
{
  DtUplink *u = link->data;
  DtOp *op = dt_txn_op (txn, DT_OP_UPLINK_DEL, 0, NULL);
  op->i = (gint64) u->seq;
  if (in_window (u, g_get_monotonic_time ()) && self->uplinks_out > 0)
    self->uplinks_out--;
  g_hash_table_remove (self->uplink_ids, u->msg_id);
  g_queue_delete_link (self->uplinks, link);
  g_free (u);
}

/* Records a cloud-bound message in txn; it is sent once committed (and the
 * cloud is connected). content is JSON text, or a string's text when
 * is_string. Memory keeps only its key; the text is in the txn's row. */
void
dt_cloud_upload (DeviceTwin *self, DtTxn *txn, const char *resource, const char *content,
                 gboolean is_string)
{
  DtUplink *u = g_new0 (DtUplink, 1);
  DtSend send = { "websocket", NULL, 0, NULL };
  DtOp *op;

  if (g_queue_get_length (self->uplinks) >= MAX_UPLINKS)
    {
      ec_plugin_context_log_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING,
                       "%u twin messages wait for the cloud; dropping the oldest", MAX_UPLINKS);
      drop_uplink (self, self->uplinks->head, txn);
    }
  u->seq = ++self->next_seq;
  {
    g_autofree char *id = ec_new_uuid ();
    g_strlcpy (u->msg_id, id, sizeof u->msg_id);
  }
  u->sent_at = -1;   /* not committed yet */
  g_queue_push_tail (self->uplinks, u);
  g_hash_table_insert (self->uplink_ids, u->msg_id, self->uplinks->tail);

  op = dt_txn_op (txn, DT_OP_UPLINK_PUT, 3, (const char *[]) { u->msg_id, resource, content });
  op->i = (gint64) u->seq;
  op->i2 = is_string;

  send.uplink_seq = u->seq;
  send.uplink_op = op;
  g_array_append_val (txn->sends, send);
}

/* The uplink with that seq is committed (row: its DT_OP_UPLINK_PUT): send
 * it if the cloud is there. */
void
dt_cloud_sent (DeviceTwin *self, guint64 seq, const DtOp *row)
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
          /* while catching up, older ones go first (on_stored_read); with
           * the window full, this one waits in the store and goes out
           * in order once confirmations make room */
          if (self->connected && !self->catching_up && self->uplinks_out < DT_UPLINK_WINDOW)
            send_uplink (self, u, row->s[1], row->s[2], row->i2 != 0);
          else if (self->connected)
            self->catching_up = TRUE;
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
  /* half the window free: send the next round of kept ones */
  if (self->connected && self->catching_up && self->uplinks_out <= DT_UPLINK_WINDOW / 2)
    read_stored (self);
}

/* Asks the cloud for the membership (sent on every reconnect). */
static void
request_detail (DeviceTwin *self)
{
  g_autofree char *event_id = ec_new_uuid ();
  GString *s = g_string_new ("{\"event_type\":\"group_membership_event\",\"event_id\":");
  EcMessage *m = ec_message_new ("twin", "resource", "get", "membership/detail");

  ec_json_append_string (s, event_id);
  g_string_append (s, ",\"operation\":\"detail\",\"group_id\":");
  ec_json_append_string (s, self->node_name);
  g_string_append (s, ",\"timestamp\":");
  dt_json_int (s, g_get_real_time () / 1000);
  g_string_append_c (s, '}');
  ec_message_set_content_string (m, s->str);
  g_string_free (s, TRUE);
  outbox_send (self->outbox, "websocket", m);
}

/* The cloud link came up or went down. On connect, everything committed
 * and unconfirmed is sent, oldest first. */
void
dt_cloud_set_connected (DeviceTwin *self, gboolean connected)
{
  if (connected == self->connected)
    return;
  self->connected = connected;
  if (!connected)
    {
      self->catching_up = FALSE;
      ec_log_info (self->context, "cloud disconnected; %u twin messages await confirmation",
                   g_queue_get_length (self->uplinks));
      return;
    }
  self->connects++;
  request_detail (self);
  /* everything committed is unsent on this connection */
  for (GList *l = self->uplinks->head; l; l = l->next)
    if (((DtUplink *) l->data)->sent_at > 0)
      ((DtUplink *) l->data)->sent_at = 0;
  self->uplinks_out = 0;
  self->catching_up = TRUE;
  read_stored (self);
  ec_log_info (self->context, "cloud connected; %u twin messages wait for confirmation",
               g_queue_get_length (self->uplinks));
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
