/* dt-cloud.c: devicetwin's link to the cloud (reference section 5.2).
 *
 * Every cloud-bound twin message (twin/edge_updated, state/update) is
 * written to edgecore_twin_uplink in the same transaction as the change it
 * reports, and stays there until the cloud confirms it (a message on group
 * twin whose parent_msg_id is its msg_id). While the cloud is connected it
 * is sent as soon as it is committed; while disconnected nothing is sent
 * and, on reconnect, everything unconfirmed goes out in the order it was
 * made (KubeEdge drops these instead). Unconfirmed messages are re-sent
 * after 60 s.
 *
 * Memory holds only what is in flight: the uploads of transactions not yet
 * committed and at most DT_UPLINK_WINDOW sent on this connection and not
 * confirmed within 60 s. Everything else waits in the table and is read
 * from it, in seq order, when the window moves: rows above sent_seq were
 * not sent on this connection; rows at or below it that are not in memory
 * were sent and left unconfirmed for 60 s, and are re-sent every 60 s. A
 * burst of 20,000 updates costs the table rows, not 20,000 entries in
 * memory. */
#include "dt-types.h"

#include <string.h>

#define RESEND_AFTER_US  (60 * G_USEC_PER_SEC)
/* an upload older than the last MAX_UPLINKS is dropped */
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

/* Room left in the window. */
static guint
window_room (DeviceTwin *self)
{
  return self->uplinks_out >= DT_UPLINK_WINDOW ? 0 : DT_UPLINK_WINDOW - self->uplinks_out;
}

/* Forgets an uplink (no store change). */
static void
forget_uplink (DeviceTwin *self, DtUplink *u)
{
  if (u->sent_at > 0 && self->uplinks_out > 0)
    self->uplinks_out--;
  g_hash_table_remove (self->uplink_ids, u->msg_id);   /* frees u */
}

/* Sends one uplink with its own msg_id; u enters the window. */
static void
send_uplink (DeviceTwin *self, DtUplink *u, const char *resource, const char *content,
             gboolean is_string)
{
  EcMessage *m = dt_cloud_message (resource, content, is_string);

  ec_message_set_id (m, u->msg_id);
  if (u->sent_at <= 0)
    self->uplinks_out++;
  u->sent_at = g_get_monotonic_time ();
  self->sent_seq = MAX (self->sent_seq, u->seq);
  outbox_send (self->outbox, "websocket", m);
}

static void read_stored (DeviceTwin *self);

/* Stored rows were read (rows above sent_seq while catching up, else
 * overdue ones at or below it): sends them in order, as far as the window
 * allows, and reads on while more may wait. */
static void
on_stored_read (DeviceTwin *self, GPtrArray *rows, const GError *error)
{
  gboolean was_catching_up = self->read_catching_up;
  guint n = 0, i;

  self->uplink_read = FALSE;
  if (self->read_connects != self->connects || !self->connected)
    {
      /* the link went down (and maybe up) meanwhile: start over */
      if (self->connected)
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
  for (i = 0; i < rows->len && window_room (self) > 0; i++)
    {
      DtUplinkRow *r = rows->pdata[i];
      DtUplink *u = g_hash_table_lookup (self->uplink_ids, r->msg_id);
      guint64 cursor = self->sent_seq;

      if (!was_catching_up)
        self->resend_from = r->seq;
      if (was_catching_up ? r->seq <= self->sent_seq : r->seq > self->sent_seq)
        continue;   /* sent meanwhile / not sent yet on this connection */
      if (u && u->sent_at > 0)
        continue;   /* in the window */
      if (!u)
        {
          /* an entry with sent_at -1 is a committed one whose commit
           * callback has not run yet (dt_cloud_sent then skips it) */
          u = g_new0 (DtUplink, 1);
          u->seq = r->seq;
          g_strlcpy (u->msg_id, r->msg_id, sizeof u->msg_id);
          g_hash_table_insert (self->uplink_ids, u->msg_id, u);
        }
      send_uplink (self, u, r->resource, r->content, r->is_string);
      if (!was_catching_up)
        self->sent_seq = cursor;   /* a re-send does not move the cursor */
      n++;
    }
  if (n)
    ec_log_info (self->context, "%s %u twin messages to the cloud",
                 was_catching_up ? "sent kept" : "re-sent unconfirmed", n);
  if (was_catching_up)
    {
      /* fewer rows than asked and nothing left in the store meanwhile: caught up */
      if (i == rows->len && rows->len < self->read_limit
          && self->read_left == self->left_in_store)
        self->catching_up = FALSE;
      else if (window_room (self) > DT_UPLINK_WINDOW / 2)
        read_stored (self);
      return;
    }
  /* a re-send pass ends when a read comes back short */
  if (i == rows->len && rows->len < self->read_limit)
    {
      self->resend_from = 0;
      self->resend_wanted = FALSE;
    }
  else if (window_room (self) > DT_UPLINK_WINDOW / 2)
    read_stored (self);
}

/* Reads the next stored rows to send off the main loop: while catching
 * up, those above sent_seq; else, once per 60 s pass, the overdue ones. */
static void
read_stored (DeviceTwin *self)
{
  guint room = window_room (self);

  if (self->uplink_read || !self->connected || room == 0)
    return;   /* on_stored_read or the next confirmation reads on */
  self->read_connects = self->connects;
  self->read_catching_up = self->catching_up;
  self->read_left = self->left_in_store;
  self->read_limit = room;
  if (self->catching_up)
    {
      self->uplink_read = TRUE;
      dt_store_read_uplinks (self, self->sent_seq, G_MAXINT64, room, on_stored_read);
      return;
    }
  if (!self->resend_wanted)
    return;
  self->uplink_read = TRUE;
  dt_store_read_uplinks (self, self->resend_from, self->sent_seq, room, on_stored_read);
}

/* Every 10 s: uplinks the cloud left unconfirmed for 60 s leave the window
 * (and memory; a v1.9.2 cloud confirms only what it could apply), so they
 * cannot hold back newer ones; they are re-sent from the store. */
static gboolean
on_resend (gpointer data)
{
  DeviceTwin *self = data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter it;
  DtUplink *u;

  g_hash_table_iter_init (&it, self->uplink_ids);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &u))
    if (u->sent_at > 0 && now - u->sent_at >= RESEND_AFTER_US)
      {
        if (self->uplinks_out > 0)
          self->uplinks_out--;
        g_hash_table_iter_remove (&it);
        self->resend_wanted = TRUE;
      }
  read_stored (self);
  return G_SOURCE_CONTINUE;
}

/* Starts with max_seq the highest seq in the store. */
void
dt_cloud_init (DeviceTwin *self, guint64 max_seq)
{
  self->uplink_ids = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, g_free);
  self->next_seq = max_seq;
  self->resend_id = g_timeout_add_seconds (10, on_resend, self);
}

/* Frees the uplinks in memory. */
void
dt_cloud_fini (DeviceTwin *self)
{
  g_clear_handle_id (&self->resend_id, g_source_remove);
  g_clear_pointer (&self->uplink_ids, g_hash_table_unref);
}

/* Records a cloud-bound message in txn; it is sent once committed (and the
 * cloud is connected). content is JSON text, or a string's text when
 * is_string. Memory keeps only its key until committed; the text is in
 * the txn's row. */
void
dt_cloud_upload (DeviceTwin *self, DtTxn *txn, const char *resource, const char *content,
                 gboolean is_string)
{
  DtUplink *u = g_new0 (DtUplink, 1);
  DtSend send = { "websocket", NULL, 0, NULL };
  DtOp *op;

  u->seq = ++self->next_seq;
  {
    g_autofree char *id = ec_new_uuid ();
    g_strlcpy (u->msg_id, id, sizeof u->msg_id);
  }
  u->sent_at = -1;   /* not committed yet */
  g_hash_table_insert (self->uplink_ids, u->msg_id, u);

  op = dt_txn_op (txn, DT_OP_UPLINK_PUT, 3, (const char *[]) { u->msg_id, resource, content });
  op->i = (gint64) u->seq;
  op->i2 = is_string;
  if (u->seq > MAX_UPLINKS)
    {
      /* bounded table: what waited while MAX_UPLINKS newer were made goes */
      DtOp *trim = dt_txn_op (txn, DT_OP_UPLINK_TRIM, 0, NULL);
      trim->i = (gint64) (u->seq - MAX_UPLINKS);
    }

  send.uplink_seq = u->seq;
  send.uplink_op = op;
  g_array_append_val (txn->sends, send);
}

/* The uplink with that seq is committed (row: its DT_OP_UPLINK_PUT): send
 * it if the cloud is there and nothing older waits, else it waits in the
 * store and leaves memory. */
void
dt_cloud_sent (DeviceTwin *self, guint64 seq, const DtOp *row)
{
  DtUplink *u = g_hash_table_lookup (self->uplink_ids, row->s[0]);

  if (!u || u->sent_at >= 0)
    return;   /* already read back from the store and sent */
  if (self->connected && !self->catching_up && window_room (self) > 0
      && seq > self->sent_seq)
    {
      send_uplink (self, u, row->s[1], row->s[2], row->i2 != 0);
      return;
    }
  forget_uplink (self, u);
  self->left_in_store++;
  if (self->connected && !self->catching_up)
    {
      self->catching_up = TRUE;
      read_stored (self);
    }
}

/* The cloud confirmed the message parent_id: its row goes. One not in
 * memory (left the window, or sent before a reconnect) is deleted by
 * msg_id. */
void
dt_cloud_confirm (DeviceTwin *self, const char *parent_id)
{
  DtUplink *u = g_hash_table_lookup (self->uplink_ids, parent_id);
  DtTxn *txn = dt_txn_new ();
  DtOp *op;

  if (u && u->sent_at < 0)
    {
      dt_txn_free (txn);
      return;   /* not even committed: not ours to confirm yet */
    }
  if (u)
    {
      op = dt_txn_op (txn, DT_OP_UPLINK_DEL, 0, NULL);
      op->i = (gint64) u->seq;
      forget_uplink (self, u);
    }
  else
    dt_txn_op (txn, DT_OP_UPLINK_DEL_ID, 1, (const char *[]) { parent_id });
  dt_commit (self, txn);
  /* half the window free: read the next ones */
  if (window_room (self) >= DT_UPLINK_WINDOW / 2)
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
  GHashTableIter it;
  DtUplink *u;

  if (connected == self->connected)
    return;
  self->connected = connected;
  /* what was in flight is unsent on the next connection: it is in the store */
  g_hash_table_iter_init (&it, self->uplink_ids);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &u))
    if (u->sent_at >= 0)
      g_hash_table_iter_remove (&it);
  self->uplinks_out = 0;
  self->sent_seq = 0;
  self->resend_from = 0;
  self->resend_wanted = FALSE;
  self->catching_up = FALSE;
  if (!connected)
    {
      ec_log_info (self->context, "cloud disconnected; twin messages wait in the store");
      return;
    }
  self->connects++;
  request_detail (self);
  self->catching_up = TRUE;
  read_stored (self);
  ec_log_info (self->context, "cloud connected; sending the twin messages kept in the store");
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
