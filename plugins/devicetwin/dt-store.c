/* dt-store.c: KubeEdge's device tables in the shared store, and the
 * pipeline that writes changes before anything is announced.
 *
 * Every handled message turns into a DtTxn: rows to write and messages to
 * send once the rows are durable. Transactions queue on the main loop; one
 * batch at a time goes to the store's writer thread as a single job (one
 * sqlite transaction), and while it commits the next batch gathers, so the
 * batch size follows the load. Messages go out in transaction order. */
#include "dt-types.h"

#include <string.h>

/* ---- transactions -------------------------------------------------------- */

/* Frees a DtOp. */
static void
op_free (gpointer data)
{
  DtOp *op = data;
  for (guint i = 0; i < DT_OP_MAX_S; i++)
    g_free (op->s[i]);
  g_free (op);
}

/* Frees a DtSend. */
static void
send_free (gpointer data)
{
  DtSend *s = data;
  g_free (s->module);
  if (s->message)
    ec_message_unref (s->message);
  g_free (s);
}

/* An empty transaction. */
DtTxn *
dt_txn_new (void)
{
  DtTxn *t = g_new0 (DtTxn, 1);
  t->ops = g_ptr_array_new_with_free_func (op_free);
  t->sends = g_ptr_array_new_with_free_func (send_free);
  t->fail_sends = g_ptr_array_new_with_free_func (send_free);
  return t;
}

/* Frees a transaction and what it would have sent. */
void
dt_txn_free (gpointer data)
{
  DtTxn *t = data;
  if (!t)
    return;
  g_ptr_array_unref (t->ops);
  g_ptr_array_unref (t->sends);
  g_ptr_array_unref (t->fail_sends);
  g_free (t);
}

/* Appends an empty op of that kind. */
DtOp *
dt_txn_op (DtTxn *txn, DtOpKind kind)
{
  DtOp *op = g_new0 (DtOp, 1);
  op->kind = kind;
  g_ptr_array_add (txn->ops, op);
  return op;
}

/* Queues message (taken) for module after the commit. */
void
dt_txn_send (DtTxn *txn, const char *module, EcMessage *message)
{
  DtSend *s = g_new0 (DtSend, 1);
  s->module = g_strdup (module);
  s->message = message;
  g_ptr_array_add (txn->sends, s);
}

/* Queues message (taken) for module if the commit fails. */
void
dt_txn_fail_send (DtTxn *txn, const char *module, EcMessage *message)
{
  DtSend *s = g_new0 (DtSend, 1);
  s->module = g_strdup (module);
  s->message = message;
  g_ptr_array_add (txn->fail_sends, s);
}

/* Writes the whole row of a twin (device_twin). */
void
dt_txn_twin_put (DtTxn *txn, const char *device_id, const DtTwin *t)
{
  DtOp *op = dt_txn_op (txn, DT_OP_TWIN_PUT);
  op->s[0] = g_strdup (device_id);
  op->s[1] = g_strdup (t->name);
  /* a cleared side of a tombstone is NULL, an unset one "" (gorm's zero) */
  op->s[2] = t->expected.value ? g_strdup (t->expected.value)
                               : t->expected.present ? NULL : g_strdup ("");
  op->s[3] = t->actual.value ? g_strdup (t->actual.value)
                             : t->actual.present ? NULL : g_strdup ("");
  op->s[4] = t->expected.value ? dt_meta_json (&t->expected) : t->expected.present ? NULL : g_strdup ("");
  op->s[5] = t->actual.value ? dt_meta_json (&t->actual) : t->actual.present ? NULL : g_strdup ("");
  op->s[6] = t->has_ev ? dt_version_json (&t->ev) : g_strdup ("");
  op->s[7] = t->has_av ? dt_version_json (&t->av) : g_strdup ("");
  op->s[8] = g_strdup (t->attr_type ? t->attr_type : "");
  op->s[9] = g_strdup (t->metadata ? t->metadata : "");
  op->i = t->optional;
}

/* Writes the whole row of an attribute (device_attr). */
void
dt_txn_attr_put (DtTxn *txn, const char *device_id, const DtAttr *a)
{
  DtOp *op = dt_txn_op (txn, DT_OP_ATTR_PUT);
  op->s[0] = g_strdup (device_id);
  op->s[1] = g_strdup (a->name);
  op->s[2] = g_strdup (a->value ? a->value : "");
  op->s[3] = g_strdup (a->attr_type ? a->attr_type : "");
  op->s[4] = g_strdup (a->metadata ? a->metadata : "");
  op->i = a->optional;
}

/* Writes the device row. */
void
dt_txn_device_put (DtTxn *txn, const DtDevice *d)
{
  DtOp *op = dt_txn_op (txn, DT_OP_DEVICE_PUT);
  op->s[0] = g_strdup (d->id);
  op->s[1] = g_strdup (d->name ? d->name : "");
  op->s[2] = g_strdup (d->description ? d->description : "");
  op->s[3] = g_strdup (d->state ? d->state : "");
  op->s[4] = g_strdup (d->last_online ? d->last_online : "");
}

/* ---- schema and loading --------------------------------------------------- */

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS `device` (`id` text, `name` text, `description` text,"
  " `state` text, `last_online` text, PRIMARY KEY (`id`));"
  "CREATE TABLE IF NOT EXISTS `device_attr` (`id` integer PRIMARY KEY AUTOINCREMENT,"
  " `deviceid` text, `name` text, `description` text, `value` text, `optional` numeric,"
  " `attr_type` text, `metadata` text);"
  "CREATE TABLE IF NOT EXISTS `device_twin` (`id` integer PRIMARY KEY AUTOINCREMENT,"
  " `deviceid` text, `name` text, `description` text, `expected` text, `actual` text,"
  " `expected_meta` text, `actual_meta` text, `expected_version` text, `actual_version` text,"
  " `optional` numeric, `attr_type` text, `metadata` text);"
  /* lookups by (deviceid, name); KubeEdge's columns are untouched */
  "CREATE INDEX IF NOT EXISTS `edgecore_device_attr_key` ON `device_attr` (`deviceid`, `name`);"
  "CREATE INDEX IF NOT EXISTS `edgecore_device_twin_key` ON `device_twin` (`deviceid`, `name`);"
  /* cloud-bound twin messages not yet confirmed (not a KubeEdge table) */
  "CREATE TABLE IF NOT EXISTS `edgecore_twin_uplink` (`seq` integer PRIMARY KEY, `msg_id` text,"
  " `resource` text, `content` text, `is_string` numeric);";

/* Creates the tables (write job). */
static gboolean
create_job (sqlite3 *db, gpointer data, GError **error)
{
  if (sqlite3_exec (db, schema, NULL, NULL, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "create device tables");
  return TRUE;
}

/* Creates device, device_attr, device_twin (KubeEdge's schema) and
 * devicetwin's uplink table. */
gboolean
dt_store_create (EcStore *store, GError **error)
{
  return ec_store_write_sync (store, create_job, NULL, error);
}

/* Text of a column, "" for NULL. */
static const char *
col (sqlite3_stmt *st, int i)
{
  const unsigned char *t = sqlite3_column_text (st, i);
  return t ? (const char *) t : "";
}

/* Parses `{"cloud":n,"edge":m}`; FALSE if the text is empty. */
static gboolean
parse_version_text (const char *text, DtVersion *v)
{
  g_autoptr (JsonNode) n = NULL;
  JsonObject *o;

  if (!*text)
    return FALSE;
  n = json_from_string (text, NULL);
  if (!n || !JSON_NODE_HOLDS_OBJECT (n))
    return FALSE;
  o = json_node_get_object (n);
  v->cloud = json_object_get_int_member_with_default (o, "cloud", 0);
  v->edge = json_object_get_int_member_with_default (o, "edge", 0);
  return TRUE;
}

/* Sets a side from its columns, as DeviceTwinToMsgTwin does. */
static void
load_side (DtValue *v, const char *value, const char *meta)
{
  if (!*value)
    return;
  v->present = TRUE;
  v->value = g_strdup (value);
  if (*meta)
    {
      g_autoptr (JsonNode) n = json_from_string (meta, NULL);
      v->has_meta = TRUE;
      if (n && JSON_NODE_HOLDS_OBJECT (n))
        v->ts = json_object_get_int_member_with_default (json_node_get_object (n), "timestamp", 0);
    }
}

typedef struct {
  GHashTable *devices;
  GPtrArray  *uplinks;
} LoadData;

/* Reads every device with its attributes and twins, and the uplinks
 * (read job). */
static gboolean
load_job (sqlite3 *db, gpointer data, GError **error)
{
  LoadData *ld = data;
  sqlite3_stmt *st = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db, "SELECT id, name, description, state, last_online FROM device",
                          -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "read device");
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      DtDevice *d = dt_device_new (col (st, 0));
      d->name = g_strdup (col (st, 1));
      d->description = g_strdup (col (st, 2));
      d->state = g_strdup (col (st, 3));
      d->last_online = g_strdup (col (st, 4));
      g_hash_table_replace (ld->devices, d->id, d);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "read device");

  if (sqlite3_prepare_v2 (db, "SELECT deviceid, name, value, optional, attr_type, metadata"
                          " FROM device_attr ORDER BY id", -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "read device_attr");
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      DtDevice *d = g_hash_table_lookup (ld->devices, col (st, 0));
      DtAttr *a;
      if (!d)
        continue;
      a = dt_attr_new (col (st, 1));
      g_free (a->value);
      a->value = g_strdup (col (st, 2));
      a->optional = sqlite3_column_int (st, 3) != 0;
      g_free (a->attr_type);
      a->attr_type = g_strdup (col (st, 4));
      a->metadata = g_strdup (col (st, 5));
      g_hash_table_replace (d->attrs, a->name, a);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "read device_attr");

  if (sqlite3_prepare_v2 (db, "SELECT deviceid, name, expected, actual, expected_meta, actual_meta,"
                          " expected_version, actual_version, optional, attr_type, metadata"
                          " FROM device_twin ORDER BY id", -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "read device_twin");
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      DtDevice *d = g_hash_table_lookup (ld->devices, col (st, 0));
      DtTwin *t;
      if (!d)
        continue;
      t = dt_twin_new (col (st, 1));
      load_side (&t->expected, col (st, 2), col (st, 4));
      load_side (&t->actual, col (st, 3), col (st, 5));
      t->has_ev = parse_version_text (col (st, 6), &t->ev);
      t->has_av = parse_version_text (col (st, 7), &t->av);
      t->optional = sqlite3_column_int (st, 8) != 0;
      g_free (t->attr_type);
      t->attr_type = g_strdup (col (st, 9));
      t->metadata = g_strdup (col (st, 10));
      g_hash_table_replace (d->twins, t->name, t);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "read device_twin");

  if (!ld->uplinks)
    return TRUE;
  if (sqlite3_prepare_v2 (db, "SELECT seq, msg_id, resource, content, is_string"
                          " FROM edgecore_twin_uplink ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "read edgecore_twin_uplink");
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      DtUplink *u = g_new0 (DtUplink, 1);
      u->seq = (guint64) sqlite3_column_int64 (st, 0);
      u->msg_id = g_strdup (col (st, 1));
      u->resource = g_strdup (col (st, 2));
      u->content = g_strdup (col (st, 3));
      u->is_string = sqlite3_column_int (st, 4) != 0;
      g_ptr_array_add (ld->uplinks, u);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "read edgecore_twin_uplink");
  return TRUE;
}

/* Loads all devices (and, if uplinks is not NULL, the unconfirmed uplinks)
 * into memory. */
gboolean
dt_store_load (EcStore *store, GHashTable *devices, GPtrArray *uplinks, GError **error)
{
  LoadData ld = { devices, uplinks };
  return ec_store_read_sync (store, load_job, &ld, error);
}

/* ---- the write job ---------------------------------------------------------- */

enum {
  ST_DEVICE_PUT, ST_DEVICE_DEL, ST_DEVICE_DEL_ATTRS, ST_DEVICE_DEL_TWINS,
  ST_TWIN_UPDATE, ST_TWIN_INSERT, ST_ATTR_UPDATE, ST_ATTR_INSERT, ST_ATTR_DEL,
  ST_UPLINK_PUT, ST_UPLINK_DEL, N_ST
};

static const char *const st_sql[N_ST] = {
  "INSERT OR REPLACE INTO device (id, name, description, state, last_online) VALUES (?,?,?,?,?)",
  "DELETE FROM device WHERE id = ?",
  "DELETE FROM device_attr WHERE deviceid = ?",
  "DELETE FROM device_twin WHERE deviceid = ?",
  "UPDATE device_twin SET expected = ?3, actual = ?4, expected_meta = ?5, actual_meta = ?6,"
  " expected_version = ?7, actual_version = ?8, attr_type = ?9, metadata = ?10, optional = ?11"
  " WHERE deviceid = ?1 AND name = ?2",
  "INSERT INTO device_twin (deviceid, name, expected, actual, expected_meta, actual_meta,"
  " expected_version, actual_version, attr_type, metadata, optional)"
  " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
  "UPDATE device_attr SET value = ?3, attr_type = ?4, metadata = ?5, optional = ?6"
  " WHERE deviceid = ?1 AND name = ?2",
  "INSERT INTO device_attr (deviceid, name, value, attr_type, metadata, optional)"
  " VALUES (?1,?2,?3,?4,?5,?6)",
  "DELETE FROM device_attr WHERE deviceid = ? AND name = ?",
  "INSERT OR REPLACE INTO edgecore_twin_uplink (seq, msg_id, resource, content, is_string)"
  " VALUES (?1,?2,?3,?4,?5)",
  "DELETE FROM edgecore_twin_uplink WHERE seq = ?",
};

typedef struct {
  sqlite3      *db;
  sqlite3_stmt *st[N_ST];
} Stmts;

/* Returns the prepared statement, preparing it on first use. */
static sqlite3_stmt *
stmt (Stmts *s, int which, GError **error)
{
  if (!s->st[which]
      && sqlite3_prepare_v2 (s->db, st_sql[which], -1, &s->st[which], NULL) != SQLITE_OK)
    {
      ec_store_set_sql_error (error, s->db, st_sql[which]);
      return NULL;
    }
  sqlite3_reset (s->st[which]);
  sqlite3_clear_bindings (s->st[which]);
  return s->st[which];
}

/* Binds the op's strings s[0..n-1] to parameters 1..n. */
static void
bind_strings (sqlite3_stmt *st, const DtOp *op, int n)
{
  for (int i = 0; i < n; i++)
    if (op->s[i])
      sqlite3_bind_text (st, i + 1, op->s[i], -1, SQLITE_STATIC);
    else
      sqlite3_bind_null (st, i + 1);
}

/* Steps a statement to completion. */
static gboolean
run (Stmts *s, sqlite3_stmt *st, GError **error)
{
  if (sqlite3_step (st) != SQLITE_DONE)
    return ec_store_set_sql_error (error, s->db, sqlite3_sql (st));
  return TRUE;
}

/* Runs one op. */
static gboolean
run_op (Stmts *s, const DtOp *op, GError **error)
{
  sqlite3_stmt *st;

  switch (op->kind)
    {
    case DT_OP_DEVICE_PUT:
      if (!(st = stmt (s, ST_DEVICE_PUT, error)))
        return FALSE;
      bind_strings (st, op, 5);
      return run (s, st, error);
    case DT_OP_DEVICE_DEL:
      for (int w = ST_DEVICE_DEL; w <= ST_DEVICE_DEL_TWINS; w++)
        {
          if (!(st = stmt (s, w, error)))
            return FALSE;
          bind_strings (st, op, 1);
          if (!run (s, st, error))
            return FALSE;
        }
      return TRUE;
    case DT_OP_TWIN_PUT:
      if (!(st = stmt (s, ST_TWIN_UPDATE, error)))
        return FALSE;
      bind_strings (st, op, 10);
      sqlite3_bind_int (st, 11, op->i ? 1 : 0);
      if (!run (s, st, error))
        return FALSE;
      if (sqlite3_changes (s->db) > 0)
        return TRUE;
      if (!(st = stmt (s, ST_TWIN_INSERT, error)))
        return FALSE;
      bind_strings (st, op, 10);
      sqlite3_bind_int (st, 11, op->i ? 1 : 0);
      return run (s, st, error);
    case DT_OP_ATTR_PUT:
      if (!(st = stmt (s, ST_ATTR_UPDATE, error)))
        return FALSE;
      bind_strings (st, op, 5);
      sqlite3_bind_int (st, 6, op->i ? 1 : 0);
      if (!run (s, st, error))
        return FALSE;
      if (sqlite3_changes (s->db) > 0)
        return TRUE;
      if (!(st = stmt (s, ST_ATTR_INSERT, error)))
        return FALSE;
      bind_strings (st, op, 5);
      sqlite3_bind_int (st, 6, op->i ? 1 : 0);
      return run (s, st, error);
    case DT_OP_ATTR_DEL:
      if (!(st = stmt (s, ST_ATTR_DEL, error)))
        return FALSE;
      bind_strings (st, op, 2);
      return run (s, st, error);
    case DT_OP_UPLINK_PUT:
      if (!(st = stmt (s, ST_UPLINK_PUT, error)))
        return FALSE;
      sqlite3_bind_int64 (st, 1, op->i);
      sqlite3_bind_text (st, 2, op->s[0], -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 3, op->s[1], -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 4, op->s[2], -1, SQLITE_STATIC);
      sqlite3_bind_int (st, 5, op->i2 ? 1 : 0);
      return run (s, st, error);
    case DT_OP_UPLINK_DEL:
      if (!(st = stmt (s, ST_UPLINK_DEL, error)))
        return FALSE;
      sqlite3_bind_int64 (st, 1, op->i);
      return run (s, st, error);
    }
  return TRUE;
}

/* Shared between the plugin and its jobs: jobs finishing after the plugin
 * is gone see self == NULL. */
typedef struct {
  gint        refs;
  DeviceTwin *self;
} Alive;

typedef struct {
  Alive     *alive;
  GPtrArray *txns;    /* DtTxn* */
} Batch;

static Alive *the_alive;   /* one devicetwin per process */

/* Frees a batch. */
static void
batch_free (gpointer data)
{
  Batch *b = data;
  g_ptr_array_unref (b->txns);
  if (g_atomic_int_dec_and_test (&b->alive->refs))
    g_free (b->alive);
  g_free (b);
}

/* Writes every op of every transaction of the batch (writer thread). */
static gboolean
write_job (sqlite3 *db, gpointer data, GError **error)
{
  Batch *b = data;
  Stmts s = { .db = db };
  gboolean ok = TRUE;

  for (guint t = 0; ok && t < b->txns->len; t++)
    {
      DtTxn *txn = b->txns->pdata[t];
      for (guint i = 0; ok && i < txn->ops->len; i++)
        ok = run_op (&s, txn->ops->pdata[i], error);
    }
  for (int i = 0; i < N_ST; i++)
    if (s.st[i])
      sqlite3_finalize (s.st[i]);
  return ok;
}

static void flush (DeviceTwin *self);

/* Sends what a transaction queued. */
static void
emit (DeviceTwin *self, GPtrArray *sends)
{
  for (guint i = 0; i < sends->len; i++)
    {
      DtSend *s = sends->pdata[i];
      if (s->uplink_seq)
        dt_cloud_sent (self, s->uplink_seq);
      else if (s->message)
        outbox_send (self->outbox, s->module, g_steal_pointer (&s->message));
    }
}

/* Re-reads all devices after a failed write, so memory matches the store. */
static gboolean
reload (gpointer data)
{
  DeviceTwin *self = data;
  g_autoptr (GHashTable) fresh = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, dt_device_free);
  g_autoptr (GError) error = NULL;

  self->reload_id = 0;
  if (!dt_store_load (self->store, fresh, NULL, &error))
    {
      ec_log_warning (self->context, "re-reading devices failed: %s", error->message);
      return G_SOURCE_REMOVE;
    }
  g_hash_table_unref (self->devices);
  self->devices = g_steal_pointer (&fresh);
  return G_SOURCE_REMOVE;
}

/* The batch committed (or failed): send, then write the next batch. */
static void
batch_done (const GError *error, gpointer data)
{
  Batch *b = data;
  DeviceTwin *self = b->alive->self;

  if (!self)
    return;
  self->in_flight = NULL;
  if (error)
    {
      ec_log_warning (self->context, "writing %u device twin changes failed: %s",
                      b->txns->len, error->message);
      if (!self->reload_id)
        self->reload_id = g_idle_add (reload, self);
    }
  for (guint i = 0; i < b->txns->len; i++)
    {
      DtTxn *txn = b->txns->pdata[i];
      emit (self, error ? txn->fail_sends : txn->sends);
    }
  flush (self);
}

/* Starts writing everything that is pending, unless a batch is in flight. */
static void
flush (DeviceTwin *self)
{
  Batch *b;
  gboolean any_ops = FALSE;

  if (self->in_flight || g_queue_is_empty (self->pending))
    return;
  b = g_new0 (Batch, 1);
  if (!the_alive)
    {
      the_alive = g_new0 (Alive, 1);
      the_alive->refs = 1;
      the_alive->self = self;
    }
  b->alive = the_alive;
  g_atomic_int_inc (&the_alive->refs);
  b->txns = g_ptr_array_new_full (g_queue_get_length (self->pending), dt_txn_free);
  while (!g_queue_is_empty (self->pending))
    {
      DtTxn *txn = g_queue_pop_head (self->pending);
      any_ops |= txn->ops->len > 0;
      g_ptr_array_add (b->txns, txn);
    }
  if (!any_ops)
    {
      for (guint i = 0; i < b->txns->len; i++)
        emit (self, ((DtTxn *) b->txns->pdata[i])->sends);
      batch_free (b);
      return;
    }
  self->in_flight = b->txns;
  ec_store_write (self->store, write_job, batch_done, b, batch_free);
}

/* Queues a transaction: it is written, then its messages are sent. */
void
dt_commit (DeviceTwin *self, DtTxn *txn)
{
  if (txn->ops->len == 0 && !self->in_flight && g_queue_is_empty (self->pending))
    {
      emit (self, txn->sends);
      dt_txn_free (txn);
      return;
    }
  g_queue_push_tail (self->pending, txn);
  flush (self);
}

/* Writes what is still pending synchronously (at stop) and detaches the
 * plugin from jobs still in flight. */
void dt_store_finish (DeviceTwin *self);
void
dt_store_finish (DeviceTwin *self)
{
  g_autoptr (GError) error = NULL;
  Batch b = { NULL, NULL };

  g_clear_handle_id (&self->reload_id, g_source_remove);
  if (!g_queue_is_empty (self->pending))
    {
      b.txns = g_ptr_array_new_with_free_func (dt_txn_free);
      while (!g_queue_is_empty (self->pending))
        g_ptr_array_add (b.txns, g_queue_pop_head (self->pending));
      if (!ec_store_write_sync (self->store, write_job, &b, &error))
        ec_log_warning (self->context, "writing device twin changes at stop failed: %s",
                        error->message);
      g_ptr_array_unref (b.txns);
    }
  if (the_alive)
    {
      the_alive->self = NULL;
      if (g_atomic_int_dec_and_test (&the_alive->refs))
        g_free (the_alive);
      the_alive = NULL;
    }
}
