/* uplink.c: messages for the cloud.
 *
 * A message is written at once when the link is up and the rate limit
 * (message-qps/message-burst) allows; otherwise it is queued in order, at
 * most uplink-queue-length messages, and flushed in order when the link
 * comes back and tokens allow. Acks, error replies and keepalives skip the
 * limit. Status-like messages (nodestatus, podstatus, ...; see classify.c)
 * replace an older queued one for the same object.
 *
 * Durability: every queued message is written to the edgecore_uplink table
 * of the shared store (batched: one store job per main loop iteration), so
 * a crash loses nothing that was queued. A written message stays "in
 * flight" until the cloud has read it, which link.c learns from the pong to
 * a websocket ping sent after it; only then is its row deleted. When the
 * link dies, what is still in flight goes back to the head of the queue (and
 * into the table), so a silent or dropped cloud loses nothing either. At
 * start the table is read back in order. See docs/edgehub.md for the
 * guarantees and the remaining windows. */
#include "edgehub-private.h"
#include "classify.h"

#include <string.h>

typedef enum {
  ROW_NONE,      /* not in the table */
  ROW_PENDING,   /* its insert waits in the next batch */
  ROW_SAVED,     /* its insert was handed to the store */
} RowState;

typedef struct _Op Op;

typedef struct {
  gint64   seq;
  char    *key;          /* status key, or NULL */
  char    *msg_id;
  char    *text;         /* JSON and a newline */
  gsize    len;
  gboolean exempt;
  RowState row;
  Op      *op;           /* the pending insert while row == ROW_PENDING */
  gint64   written_at;   /* monotonic µs of the write, while in flight */
  guint64  confirm_by;   /* the ping whose pong proves the cloud read it */
} Item;

/* One store operation of the next batch: insert an item's row, or delete a
 * row by seq. A cancelled insert has item == NULL and is skipped. */
struct _Op {
  gboolean delete;
  gint64   seq;
  Item    *item;
};

struct _EhUplink {
  GQueue      items;      /* waiting, oldest first */
  GQueue      inflight;   /* written, not yet known to be read by the cloud */
  GHashTable *by_key;     /* key -> GList link in items */
  gint64      next_seq;
  EhBucket    bucket;
  guint       timer;
  GPtrArray  *ops;        /* Op, in order */
  guint       ops_source;
  guint64     dropped, coalesced, requeued;
  EcLogLimit  rl_dropped;  /* a flood of drops logs a line per interval */
};

/* ---- items ----------------------------------------------------------------- */

/* Frees an item; a pending insert of it is cancelled. */
static void
item_free (Item *it)
{
  if (it->op)
    it->op->item = NULL;
  g_free (it->key);
  g_free (it->msg_id);
  g_free (it->text);
  g_free (it);
}

/* Serialises a message for the wire: sync forced to false, a newline after
 * the JSON as Go's WriteJSON does. */
static char *
wire_text (EcMessage *message, gsize *len)
{
  g_autoptr (EcMessage) copy = NULL;
  char *text;
  if (ec_message_get_sync (message))
    {
      copy = ec_message_copy (message);
      ec_message_set_sync (copy, FALSE);
      message = copy;
    }
  text = ec_message_to_json (message, len);
  text = g_realloc (text, *len + 2);
  text[(*len)++] = '\n';
  text[*len] = '\0';
  return text;
}

/* Writes one message to the cloud now, if the link is up. It is not
 * tracked: for keepalives and answers to control messages. */
gboolean
eh_write_message (EdgeHub *self, EcMessage *message)
{
  gsize len;
  g_autofree char *text = NULL;
  if (!eh_link_is_up (self))
    return FALSE;
  text = wire_text (message, &len);
  return eh_link_write (self, text, len);
}

/* ---- the store ------------------------------------------------------------ */

typedef struct {
  gboolean delete;
  gint64   seq;
  char    *key;
  char    *msg_id;
  char    *text;
} Row;

static void
row_free (gpointer data)
{
  Row *r = data;
  g_free (r->key);
  g_free (r->msg_id);
  g_free (r->text);
  g_free (r);
}

/* Creates the table. */
static gboolean
create_table (sqlite3 *db, gpointer data, GError **error)
{
  if (sqlite3_exec (db, "CREATE TABLE IF NOT EXISTS edgecore_uplink ("
                        " seq INTEGER PRIMARY KEY, key TEXT UNIQUE, msg_id TEXT NOT NULL,"
                        " message TEXT NOT NULL, created INTEGER NOT NULL)", NULL, NULL, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "creating edgecore_uplink");
  return TRUE;
}

/* Applies a batch (a GPtrArray of Row) in order: inserts replace an older
 * row with the same key; deletes go by seq. */
static gboolean
apply_rows (sqlite3 *db, gpointer data, GError **error)
{
  GPtrArray *rows = data;
  sqlite3_stmt *ins = NULL, *del = NULL;
  gint64 now = g_get_real_time () / 1000;
  gboolean ok = FALSE;

  if (sqlite3_prepare_v2 (db, "INSERT OR REPLACE INTO edgecore_uplink (seq, key, msg_id, message, created)"
                              " VALUES (?, ?, ?, ?, ?)", -1, &ins, NULL) != SQLITE_OK
      || sqlite3_prepare_v2 (db, "DELETE FROM edgecore_uplink WHERE seq = ?", -1, &del, NULL) != SQLITE_OK)
    {
      ec_store_set_sql_error (error, db, "preparing edgecore_uplink statements");
      goto out;
    }
  for (guint i = 0; i < rows->len; i++)
    {
      Row *r = rows->pdata[i];
      sqlite3_stmt *st = r->delete ? del : ins;
      sqlite3_bind_int64 (st, 1, r->seq);
      if (!r->delete)
        {
          if (r->key)
            sqlite3_bind_text (st, 2, r->key, -1, SQLITE_STATIC);
          else
            sqlite3_bind_null (st, 2);
          sqlite3_bind_text (st, 3, r->msg_id, -1, SQLITE_STATIC);
          sqlite3_bind_text (st, 4, r->text, -1, SQLITE_STATIC);
          sqlite3_bind_int64 (st, 5, now);
        }
      if (sqlite3_step (st) != SQLITE_DONE)
        {
          ec_store_set_sql_error (error, db, r->delete ? "forgetting a sent uplink message"
                                                       : "saving an uplink message");
          goto out;
        }
      sqlite3_reset (st);
      sqlite3_clear_bindings (st);
    }
  ok = TRUE;
out:
  sqlite3_finalize (ins);
  sqlite3_finalize (del);
  return ok;
}

/* Reads every saved row, oldest first (into a GPtrArray of Row). */
static gboolean
load_rows (sqlite3 *db, gpointer data, GError **error)
{
  GPtrArray *rows = data;
  sqlite3_stmt *st = NULL;
  int rc;
  if (sqlite3_prepare_v2 (db, "SELECT seq, key, msg_id, message FROM edgecore_uplink ORDER BY seq",
                          -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "reading edgecore_uplink");
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      Row *r = g_new0 (Row, 1);
      r->seq = sqlite3_column_int64 (st, 0);
      r->key = g_strdup ((const char *) sqlite3_column_text (st, 1));
      r->msg_id = g_strdup ((const char *) sqlite3_column_text (st, 2));
      r->text = g_strdup ((const char *) sqlite3_column_text (st, 3));
      g_ptr_array_add (rows, r);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "reading edgecore_uplink");
  return TRUE;
}

/* Logs a failed store write; never touches the plugin (it may be gone). */
static void
store_done (const GError *error, gpointer data)
{
  if (error)
    g_log ("edgehub", G_LOG_LEVEL_WARNING, "edgecore_uplink: %s", error->message);
}

/* Turns the pending operations into one store job's rows. */
static GPtrArray *
take_ops (EhUplink *up)
{
  GPtrArray *rows = g_ptr_array_new_with_free_func (row_free);
  for (guint i = 0; i < up->ops->len; i++)
    {
      Op *op = up->ops->pdata[i];
      Row *r;
      if (!op->delete && !op->item)
        continue;   /* cancelled: written and read before it was saved */
      r = g_new0 (Row, 1);
      r->delete = op->delete;
      r->seq = op->seq;
      if (op->item)
        {
          r->key = g_strdup (op->item->key);
          r->msg_id = g_strdup (op->item->msg_id);
          r->text = g_strdup (op->item->text);
          op->item->row = ROW_SAVED;
          op->item->op = NULL;
        }
      g_ptr_array_add (rows, r);
    }
  g_ptr_array_set_size (up->ops, 0);
  return rows;
}

/* Hands the pending operations to the store as one job. */
static gboolean
submit_ops (gpointer data)
{
  EdgeHub *self = data;
  EhUplink *up = self->uplink;
  GPtrArray *rows;
  up->ops_source = 0;
  rows = take_ops (up);
  ec_log_debug (self->context, "edgecore_uplink: %u row change(s) in one batch", rows->len);
  if (rows->len)
    ec_store_write (self->store, apply_rows, store_done, rows, (GDestroyNotify) g_ptr_array_unref);
  else
    g_ptr_array_unref (rows);
  return G_SOURCE_REMOVE;
}

/* Queues a store operation for the next batch. */
static void
add_op (EdgeHub *self, gboolean delete, Item *it, gint64 seq)
{
  EhUplink *up = self->uplink;
  Op *op;
  if (!self->store)
    return;
  op = g_new0 (Op, 1);
  op->delete = delete;
  op->seq = seq;
  if (!delete)
    {
      op->item = it;
      it->op = op;
      it->row = ROW_PENDING;
    }
  g_ptr_array_add (up->ops, op);
  if (!up->ops_source)
    up->ops_source = g_idle_add_full (G_PRIORITY_DEFAULT, submit_ops, self, NULL);
}

/* Makes sure an item's row will be in the table. */
static void
save_item (EdgeHub *self, Item *it)
{
  if (it->row == ROW_NONE)
    add_op (self, FALSE, it, it->seq);
}

/* Makes sure an item's row will not be in the table. */
static void
forget_item (EdgeHub *self, Item *it)
{
  if (it->row == ROW_PENDING)
    {
      it->op->item = NULL;
      it->op = NULL;
    }
  else if (it->row == ROW_SAVED)
    add_op (self, TRUE, NULL, it->seq);
  it->row = ROW_NONE;
}

/* ---- the queue ------------------------------------------------------------ */

/* Creates the uplink: the table, and whatever an earlier run left in it. */
EhUplink *
eh_uplink_new (EdgeHub *self, GError **error)
{
  EhUplink *up = g_new0 (EhUplink, 1);
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (row_free);

  g_queue_init (&up->items);
  g_queue_init (&up->inflight);
  up->by_key = g_hash_table_new (g_str_hash, g_str_equal);
  up->ops = g_ptr_array_new_with_free_func (g_free);
  up->next_seq = 1;
  up->rl_dropped = (EcLogLimit) EC_LOG_LIMIT_INIT (10);
  eh_bucket_init (&up->bucket, self->cfg.qps, self->cfg.burst, g_get_monotonic_time ());
  if (self->store && (!ec_store_write_sync (self->store, create_table, NULL, error)
                      || !ec_store_read_sync (self->store, load_rows, rows, error)))
    {
      eh_uplink_free (up);
      return NULL;
    }
  for (guint i = 0; i < rows->len; i++)
    {
      Row *r = rows->pdata[i];
      Item *it = g_new0 (Item, 1);
      it->seq = r->seq;
      it->key = g_steal_pointer (&r->key);
      it->msg_id = g_steal_pointer (&r->msg_id);
      it->text = g_steal_pointer (&r->text);
      it->len = strlen (it->text);
      it->row = ROW_SAVED;
      g_queue_push_tail (&up->items, it);
      if (it->key)
        g_hash_table_insert (up->by_key, it->key, up->items.tail);
      up->next_seq = MAX (up->next_seq, it->seq + 1);
    }
  if (rows->len)
    ec_log_message (self->context, "%u message(s) for the cloud kept from the last run", rows->len);
  return up;
}

/* Frees the queue (what is in it was saved by eh_uplink_persist_all). */
void
eh_uplink_free (EhUplink *up)
{
  if (!up)
    return;
  if (up->timer)
    g_source_remove (up->timer);
  if (up->ops_source)
    g_source_remove (up->ops_source);
  g_hash_table_unref (up->by_key);
  g_queue_clear_full (&up->items, (GDestroyNotify) item_free);
  g_queue_clear_full (&up->inflight, (GDestroyNotify) item_free);
  g_ptr_array_unref (up->ops);
  g_free (up);
}

/* How many messages wait or are not yet known to be read by the cloud. */
guint
eh_uplink_length (EhUplink *up)
{
  return up ? up->items.length + up->inflight.length : 0;
}

/* The rate limit allows the next message. */
static gboolean
on_token (gpointer data)
{
  EdgeHub *self = data;
  self->uplink->timer = 0;
  eh_uplink_flush (self);
  return G_SOURCE_REMOVE;
}

/* Writes an item and keeps it in flight until the cloud has read it. */
static void
write_tracked (EdgeHub *self, Item *it)
{
  eh_link_write (self, it->text, it->len);
  it->written_at = g_get_monotonic_time ();
  it->confirm_by = eh_link_request_ping (self);
  g_queue_push_tail (&self->uplink->inflight, it);
}

/* Writes queued messages in order while the link is up and the rate limit
 * allows. */
void
eh_uplink_flush (EdgeHub *self)
{
  EhUplink *up = self->uplink;
  Item *it;

  while (eh_link_is_up (self) && (it = g_queue_peek_head (&up->items)))
    {
      gint64 now = g_get_monotonic_time ();
      if (!it->exempt && !eh_bucket_take (&up->bucket, now))
        {
          if (!up->timer)
            up->timer = g_timeout_add ((guint) MAX (1, eh_bucket_wait_us (&up->bucket, now) / 1000),
                                       on_token, self);
          break;
        }
      g_queue_pop_head (&up->items);
      if (it->key)
        g_hash_table_remove (up->by_key, it->key);
      write_tracked (self, it);
    }
}

/* The cloud has read everything written before ping `seq`: forget those
 * messages and their rows. */
void
eh_uplink_confirm (EdgeHub *self, guint64 seq)
{
  EhUplink *up = self->uplink;
  Item *it;
  while ((it = g_queue_peek_head (&up->inflight)) && it->confirm_by <= seq)
    {
      g_queue_pop_head (&up->inflight);
      forget_item (self, it);
      item_free (it);
    }
}

/* When the oldest message the cloud has not read yet was written
 * (monotonic µs), or 0. */
gint64
eh_uplink_oldest_unread (EdgeHub *self)
{
  Item *it = self->uplink ? g_queue_peek_head (&self->uplink->inflight) : NULL;
  return it ? it->written_at : 0;
}

/* Whether written messages wait for the cloud's confirmation. */
gboolean
eh_uplink_has_unread (EdgeHub *self)
{
  return self->uplink && !g_queue_is_empty (&self->uplink->inflight);
}

/* Drops a queued item (replaced by a newer status for the same object). */
static void
drop_queued (EdgeHub *self, GList *link)
{
  EhUplink *up = self->uplink;
  Item *prev = link->data;
  if (prev->key && g_hash_table_lookup (up->by_key, prev->key) == link)
    g_hash_table_remove (up->by_key, prev->key);
  g_queue_delete_link (&up->items, link);
  forget_item (self, prev);
  item_free (prev);
}

/* The link died: what the cloud may not have read goes back to the head of
 * the queue, in order, and into the table. An older status superseded by a
 * queued newer one for the same object is dropped. */
void
eh_uplink_link_lost (EdgeHub *self)
{
  EhUplink *up = self->uplink;
  Item *it;
  guint n = 0;
  if (!up)
    return;
  while ((it = g_queue_pop_tail (&up->inflight)))
    {
      it->written_at = 0;
      if (it->key && g_hash_table_contains (up->by_key, it->key))
        {
          up->coalesced++;
          forget_item (self, it);
          item_free (it);
          continue;
        }
      g_queue_push_head (&up->items, it);
      if (it->key)
        g_hash_table_insert (up->by_key, it->key, up->items.head);
      save_item (self, it);
      n++;
    }
  up->requeued += n;
  if (n)
    ec_log_message (self->context, "%u message(s) the cloud did not confirm reading will be sent again", n);
}

/* Answers a sync call that cannot reach the cloud. */
static void
refuse_call (EdgeHub *self, EcMessage *message, const char *why)
{
  g_autoptr (EcMessage) reply = ec_message_new_error (message, why);
  ec_message_set_source (reply, EDGEHUB_BUS_NAME);
  ec_endpoint_respond (self->endpoint, reply, NULL);
}

/* Takes a message some plugin sent to the cloud. */
void
eh_uplink_submit (EdgeHub *self, EcMessage *message)
{
  EhUplink *up = self->uplink;
  const char *op = ec_message_get_operation (message);
  const char *parent = ec_message_get_parent_id (message);
  gboolean is_call = ec_message_get_sync (message) && !(parent && *parent);
  gboolean exempt = eh_exempt_from_limit (op, parent);
  g_autofree char *key = NULL;
  GList *old;
  Item *it;

  if (ec_message_get_cloud_state (message) != EC_CLOUD_STATE_NONE)
    return;   /* the bus's own connection news, not for the cloud */
  if (is_call)
    {
      /* a call is answered by the cloud's reply or refused; never queued */
      if (!eh_link_is_up (self))
        refuse_call (self, message, "cloud unreachable");
      else
        eh_write_message (self, message);
      return;
    }

  key = eh_status_key (op, ec_message_get_resource (message));
  it = g_new0 (Item, 1);
  it->seq = up->next_seq++;
  it->msg_id = g_strdup (ec_message_get_id (message));
  it->text = wire_text (message, &it->len);
  it->exempt = exempt;
  if (eh_link_is_up (self) && (exempt || (g_queue_is_empty (&up->items)
                                          && eh_bucket_take (&up->bucket, g_get_monotonic_time ()))))
    {
      it->key = g_steal_pointer (&key);
      write_tracked (self, it);
      return;
    }

  if (key && (old = g_hash_table_lookup (up->by_key, key)))
    {
      up->coalesced++;
      ec_log_debug (self->context, "message %s for the cloud replaces %s (%s)",
                    it->msg_id, ((Item *) old->data)->msg_id, key);
      drop_queued (self, old);
    }
  else if (up->items.length >= (guint) MAX (self->cfg.uplink_limit, 1))
    {
      up->dropped++;
      ec_plugin_context_log_message_limited (self->context, &up->rl_dropped, G_LOG_LEVEL_WARNING,
                                             message, "dropped message %s for the cloud (%s %s): %u messages "
                                     "already wait (uplink-queue-length); %" G_GUINT64_FORMAT
                                     " dropped so far", it->msg_id, op,
                                     ec_message_get_resource (message), up->items.length,
                                     up->dropped);
      item_free (it);
      return;
    }
  it->key = g_steal_pointer (&key);
  g_queue_push_tail (&up->items, it);
  if (it->key)
    g_hash_table_insert (up->by_key, it->key, up->items.tail);
  save_item (self, it);
  if (eh_link_is_up (self))
    eh_uplink_flush (self);
}

/* Saves everything the cloud has not confirmed reading, and the pending
 * batch, before the store closes (at stop). */
void
eh_uplink_persist_all (EdgeHub *self)
{
  EhUplink *up = self->uplink;
  g_autoptr (GPtrArray) rows = NULL;
  g_autoptr (GError) error = NULL;
  guint saved = 0;

  if (!up || !self->store)
    return;
  for (GList *l = up->inflight.head; l; l = l->next)
    save_item (self, l->data);
  for (GList *l = up->items.head; l; l = l->next)
    save_item (self, l->data);
  if (up->ops_source)
    g_source_remove (up->ops_source);
  up->ops_source = 0;
  for (guint i = 0; i < up->ops->len; i++)
    if (!((Op *) up->ops->pdata[i])->delete && ((Op *) up->ops->pdata[i])->item)
      saved++;
  rows = take_ops (up);
  if (rows->len == 0)
    return;
  if (!ec_store_write_sync (self->store, apply_rows, rows, &error))
    ec_log_warning (self->context, "could not keep %u message(s) for the cloud: %s", saved,
                    error->message);
  else if (eh_uplink_length (up))
    ec_log_message (self->context, "kept %u message(s) for the cloud until the next start",
                    eh_uplink_length (up));
}
