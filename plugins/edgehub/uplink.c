/* uplink.c: messages for the cloud. Written at once when the link is up and
 * the rate limit (message-qps/message-burst) allows; otherwise queued in
 * order, at most uplink-queue-length messages, and flushed in order when
 * the link comes back and tokens allow. Acks, error replies and keepalives
 * skip the limit. Status-like messages (nodestatus, podstatus, ...; see
 * classify.c) replace an older queued one for the same object and are
 * written to the edgecore_uplink table of the shared store as soon as they
 * are queued; the rest of the queue is written there when edgecore stops.
 * At start the table is read back, so a restart loses nothing. */
#include "edgehub-private.h"
#include "classify.h"

#include <string.h>

typedef struct {
  gint64   seq;
  char    *key;       /* status key, or NULL */
  char    *msg_id;
  char    *text;      /* JSON and a newline */
  gsize    len;
  gboolean persisted;
  gboolean exempt;
} Item;

struct _EhUplink {
  GQueue      items;
  GHashTable *by_key;   /* key -> GList link in items */
  gint64      next_seq;
  EhBucket    bucket;
  guint       timer;
  guint64     dropped, coalesced;
};

/* Frees a queued item. */
static void
item_free (Item *it)
{
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

/* Writes one message to the cloud now, if the link is up. */
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

/* ---- the store ----------------------------------------------------------- */

typedef struct {
  gint64  seq;
  char   *key;
  char   *msg_id;
  char   *text;
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

/* Inserts rows (a GPtrArray of Row), replacing an older row with the same
 * key. */
static gboolean
insert_rows (sqlite3 *db, gpointer data, GError **error)
{
  GPtrArray *rows = data;
  sqlite3_stmt *st = NULL;
  gint64 now = g_get_real_time () / 1000;
  if (sqlite3_prepare_v2 (db, "INSERT OR REPLACE INTO edgecore_uplink (seq, key, msg_id, message, created)"
                              " VALUES (?, ?, ?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "saving uplink messages");
  for (guint i = 0; i < rows->len; i++)
    {
      Row *r = rows->pdata[i];
      sqlite3_bind_int64 (st, 1, r->seq);
      if (r->key)
        sqlite3_bind_text (st, 2, r->key, -1, SQLITE_STATIC);
      else
        sqlite3_bind_null (st, 2);
      sqlite3_bind_text (st, 3, r->msg_id, -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 4, r->text, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (st, 5, now);
      if (sqlite3_step (st) != SQLITE_DONE)
        {
          ec_store_set_sql_error (error, db, "saving an uplink message");
          sqlite3_finalize (st);
          return FALSE;
        }
      sqlite3_reset (st);
      sqlite3_clear_bindings (st);
    }
  sqlite3_finalize (st);
  return TRUE;
}

/* Deletes rows by seq (a GArray of gint64). */
static gboolean
delete_rows (sqlite3 *db, gpointer data, GError **error)
{
  GArray *seqs = data;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2 (db, "DELETE FROM edgecore_uplink WHERE seq = ?", -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "forgetting sent uplink messages");
  for (guint i = 0; i < seqs->len; i++)
    {
      sqlite3_bind_int64 (st, 1, g_array_index (seqs, gint64, i));
      if (sqlite3_step (st) != SQLITE_DONE)
        {
          ec_store_set_sql_error (error, db, "forgetting a sent uplink message");
          sqlite3_finalize (st);
          return FALSE;
        }
      sqlite3_reset (st);
    }
  sqlite3_finalize (st);
  return TRUE;
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

/* A row for an item. */
static Row *
row_for (Item *it)
{
  Row *r = g_new0 (Row, 1);
  r->seq = it->seq;
  r->key = g_strdup (it->key);
  r->msg_id = g_strdup (it->msg_id);
  r->text = g_strdup (it->text);
  return r;
}

/* Saves one item in the background. */
static void
persist_item (EdgeHub *self, Item *it)
{
  GPtrArray *rows;
  if (!self->store)
    return;
  rows = g_ptr_array_new_with_free_func (row_free);
  g_ptr_array_add (rows, row_for (it));
  ec_store_write (self->store, insert_rows, store_done, rows, (GDestroyNotify) g_ptr_array_unref);
  it->persisted = TRUE;
}

/* ---- the queue ------------------------------------------------------------ */

/* Creates the uplink: the table, and whatever an earlier run left in it. */
EhUplink *
eh_uplink_new (EdgeHub *self, GError **error)
{
  EhUplink *up = g_new0 (EhUplink, 1);
  g_autoptr (GPtrArray) rows = g_ptr_array_new_with_free_func (row_free);

  g_queue_init (&up->items);
  up->by_key = g_hash_table_new (g_str_hash, g_str_equal);
  up->next_seq = 1;
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
      it->persisted = TRUE;
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
  g_hash_table_unref (up->by_key);
  g_queue_clear_full (&up->items, (GDestroyNotify) item_free);
  g_free (up);
}

/* How many messages wait. */
guint
eh_uplink_length (EhUplink *up)
{
  return up ? up->items.length : 0;
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

/* Writes queued messages in order while the link is up and the rate limit
 * allows; forgets the saved copies of what was written. */
void
eh_uplink_flush (EdgeHub *self)
{
  EhUplink *up = self->uplink;
  g_autoptr (GArray) sent = g_array_new (FALSE, FALSE, sizeof (gint64));
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
      eh_link_write (self, it->text, it->len);
      g_queue_pop_head (&up->items);
      if (it->key)
        g_hash_table_remove (up->by_key, it->key);
      if (it->persisted)
        g_array_append_val (sent, it->seq);
      item_free (it);
    }
  if (sent->len && self->store)
    ec_store_write (self->store, delete_rows, store_done, g_steal_pointer (&sent),
                    (GDestroyNotify) g_array_unref);
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

  if (g_strcmp0 (op, EC_OP_CONNECT) == 0
      && g_strcmp0 (ec_message_get_resource (message), "node/connection") == 0)
    return;   /* the bus's own connection news, not for the cloud */
  if (is_call && !eh_link_is_up (self))
    {
      refuse_call (self, message, "cloud unreachable");
      return;
    }
  if (eh_link_is_up (self) && (exempt || (g_queue_is_empty (&up->items)
                                          && eh_bucket_take (&up->bucket, g_get_monotonic_time ()))))
    {
      eh_write_message (self, message);
      return;
    }

  key = is_call ? NULL : eh_status_key (op, ec_message_get_resource (message));
  if (key && (old = g_hash_table_lookup (up->by_key, key)))
    {
      Item *prev = old->data;
      g_hash_table_remove (up->by_key, key);
      g_queue_delete_link (&up->items, old);
      up->coalesced++;
      ec_log_debug (self->context, "message %s for the cloud replaces %s (%s)",
                    ec_message_get_id (message), prev->msg_id, key);
      item_free (prev);
    }
  else if (up->items.length >= (guint) MAX (self->cfg.uplink_limit, 1))
    {
      up->dropped++;
      ec_log_warning (self->context, "dropped message %s for the cloud (%s %s): %u messages already "
                      "wait (uplink-queue-length)", ec_message_get_id (message), op,
                      ec_message_get_resource (message), up->items.length);
      if (is_call)
        refuse_call (self, message, "uplink queue full");
      return;
    }
  it = g_new0 (Item, 1);
  it->seq = up->next_seq++;
  it->key = g_steal_pointer (&key);
  it->msg_id = g_strdup (ec_message_get_id (message));
  it->text = wire_text (message, &it->len);
  it->exempt = exempt;
  g_queue_push_tail (&up->items, it);
  if (it->key)
    {
      g_hash_table_insert (up->by_key, it->key, up->items.tail);
      persist_item (self, it);
    }
  if (eh_link_is_up (self))
    eh_uplink_flush (self);
}

/* Saves every queued message not saved yet (at stop). */
void
eh_uplink_persist_all (EdgeHub *self)
{
  EhUplink *up = self->uplink;
  g_autoptr (GPtrArray) rows = NULL;
  g_autoptr (GError) error = NULL;

  if (!up || !self->store)
    return;
  rows = g_ptr_array_new_with_free_func (row_free);
  for (GList *l = up->items.head; l; l = l->next)
    {
      Item *it = l->data;
      if (!it->persisted)
        g_ptr_array_add (rows, row_for (it));
    }
  if (rows->len == 0)
    return;
  if (ec_store_write_sync (self->store, insert_rows, rows, &error))
    {
      for (GList *l = up->items.head; l; l = l->next)
        ((Item *) l->data)->persisted = TRUE;
      ec_log_message (self->context, "kept %u message(s) for the cloud until the next start", rows->len);
    }
  else
    ec_log_warning (self->context, "could not keep %u message(s) for the cloud: %s", rows->len,
                    error->message);
}
