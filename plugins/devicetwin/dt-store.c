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

/* Transactions are recycled: a busy node handles one per message, and the
 * arrays inside keep their capacity. Main thread only. */
#define TXN_POOL_MAX 256
static GPtrArray *txn_pool;
static gboolean   txn_pool_closed;   /* the plugin is gone: free for good */

/* Drops a DtSend's message. */
static void
send_clear (gpointer data)
{
  DtSend *s = data;
  g_clear_pointer (&s->message, ec_message_unref);
}

/* An empty transaction. */
DtTxn *
dt_txn_new (void)
{
  DtTxn *t;

  if (txn_pool && txn_pool->len > 0)
    return g_ptr_array_steal_index_fast (txn_pool, txn_pool->len - 1);
  t = g_new0 (DtTxn, 1);
  t->ops = g_ptr_array_new_with_free_func (g_free);
  t->sends = g_array_new (FALSE, TRUE, sizeof (DtSend));
  g_array_set_clear_func (t->sends, send_clear);
  return t;
}

/* Frees a transaction for good. */
static void
txn_destroy (gpointer data)
{
  DtTxn *t = data;
  g_ptr_array_unref (t->ops);
  g_array_unref (t->sends);
  if (t->fail_sends)
    g_array_unref (t->fail_sends);
  g_free (t->fail_topic);
  g_free (t->fail_event_id);
  g_free (t);
}

/* Frees a transaction and what it would have sent (it goes back to the
 * pool, emptied). */
void
dt_txn_free (gpointer data)
{
  DtTxn *t = data;
  if (!t)
    return;
  if (txn_pool_closed)
    {
      txn_destroy (t);
      return;
    }
  if (!txn_pool)
    txn_pool = g_ptr_array_new_with_free_func (txn_destroy);
  if (txn_pool->len >= TXN_POOL_MAX || t->ops->len > 64 || t->sends->len > 64)
    {
      txn_destroy (t);
      return;
    }
  g_ptr_array_set_size (t->ops, 0);
  g_array_set_size (t->sends, 0);
  g_clear_pointer (&t->fail_sends, g_array_unref);
  g_clear_pointer (&t->fail_topic, g_free);
  g_clear_pointer (&t->fail_event_id, g_free);
  g_ptr_array_add (txn_pool, t);
}

/* Frees the recycled transactions and stops recycling (when the plugin
 * goes away: a write finishing later frees its transactions for good). */
void
dt_txn_pool_clear (void)
{
  g_clear_pointer (&txn_pool, g_ptr_array_unref);
  txn_pool_closed = TRUE;
}

/* Appends an op of that kind with copies of n strings (NULL stays NULL),
 * all in one allocation. */
DtOp *
dt_txn_op (DtTxn *txn, DtOpKind kind, guint n, const char *const *strings)
{
  gsize lens[DT_OP_MAX_S];
  gsize total = sizeof (DtOp);
  DtOp *op;
  char *p;

  g_assert (n <= DT_OP_MAX_S);
  for (guint i = 0; i < n; i++)
    {
      lens[i] = strings[i] ? strlen (strings[i]) + 1 : 0;
      total += lens[i];
    }
  op = g_malloc0 (total);
  op->kind = kind;
  p = (char *) (op + 1);
  for (guint i = 0; i < n; i++)
    if (strings[i])
      {
        memcpy (p, strings[i], lens[i]);
        op->s[i] = p;
        p += lens[i];
      }
  g_ptr_array_add (txn->ops, op);
  return op;
}

/* Queues message (taken) for module (a static string) after the commit. */
void
dt_txn_send (DtTxn *txn, const char *module, EcMessage *message)
{
  DtSend s = { module, message, 0, NULL };
  g_array_append_val (txn->sends, s);
}

/* Queues message (taken) for module (a static string) if the commit fails. */
void
dt_txn_fail_send (DtTxn *txn, const char *module, EcMessage *message)
{
  DtSend s = { module, message, 0, NULL };
  if (!txn->fail_sends)
    {
      txn->fail_sends = g_array_new (FALSE, TRUE, sizeof (DtSend));
      g_array_set_clear_func (txn->fail_sends, send_clear);
    }
  g_array_append_val (txn->fail_sends, s);
}

/* If the commit fails, publish KubeEdge's 500 result for event_id on
 * topic (built only then). */
void
dt_txn_fail_result (DtTxn *txn, const char *topic, const char *event_id)
{
  g_free (txn->fail_topic);
  g_free (txn->fail_event_id);
  txn->fail_topic = g_strdup (topic);
  txn->fail_event_id = g_strdup (event_id);
}

/* Writes the whole row of a twin (device_twin). */
void
dt_txn_twin_put (DtTxn *txn, const char *device_id, const DtTwin *t)
{
  char em[64], am[64], ev[64], av[64];
  /* a cleared side of a tombstone is NULL, an unset one "" (gorm's zero) */
  const char *s[10] = {
    device_id, t->name,
    t->expected.value ? t->expected.value : t->expected.present ? NULL : "",
    t->actual.value ? t->actual.value : t->actual.present ? NULL : "",
    t->expected.value ? dt_meta_text (em, &t->expected) : t->expected.present ? NULL : "",
    t->actual.value ? dt_meta_text (am, &t->actual) : t->actual.present ? NULL : "",
    t->has_ev ? dt_version_text (ev, &t->ev) : "",
    t->has_av ? dt_version_text (av, &t->av) : "",
    t->attr_type ? t->attr_type : "",
    t->metadata ? t->metadata : "",
  };
  DtOp *op = dt_txn_op (txn, DT_OP_TWIN_PUT, 10, s);
  op->i = t->optional;
}

/* Writes the whole row of an attribute (device_attr). */
void
dt_txn_attr_put (DtTxn *txn, const char *device_id, const DtAttr *a)
{
  const char *s[5] = {
    device_id, a->name, a->value ? a->value : "", a->attr_type ? a->attr_type : "",
    a->metadata ? a->metadata : "",
  };
  DtOp *op = dt_txn_op (txn, DT_OP_ATTR_PUT, 5, s);
  op->i = a->optional;
}

/* Writes the device row. */
void
dt_txn_device_put (DtTxn *txn, const DtDevice *d)
{
  const char *s[5] = {
    d->id, d->name ? d->name : "", d->description ? d->description : "",
    d->state ? d->state : "", d->last_online ? d->last_online : "",
  };
  dt_txn_op (txn, DT_OP_DEVICE_PUT, 5, s);
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
  " `resource` text, `content` text, `is_string` numeric);"
  /* confirmations of uploads no longer in memory delete by msg_id */
  "CREATE INDEX IF NOT EXISTS `edgecore_twin_uplink_msg_id` ON `edgecore_twin_uplink` (`msg_id`);";

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
  n = ec_json_parse (text, strlen (text), 0, 0, NULL);
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
      g_autoptr (JsonNode) n = ec_json_parse (meta, strlen (meta), 0, 0, NULL);
      v->has_meta = TRUE;
      if (n && JSON_NODE_HOLDS_OBJECT (n))
        v->ts = json_object_get_int_member_with_default (json_node_get_object (n), "timestamp", 0);
    }
}

typedef struct {
  GHashTable *devices;
  guint64    *max_seq;
  guint      *n_uplinks;
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

  /* only the highest seq and the count: the rows stay in the store until
   * they are sent */
  if (sqlite3_prepare_v2 (db, "SELECT MAX(seq), COUNT(*) FROM edgecore_twin_uplink",
                          -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "read edgecore_twin_uplink");
  if ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      *ld->max_seq = (guint64) MAX (sqlite3_column_int64 (st, 0), 0);
      *ld->n_uplinks = (guint) sqlite3_column_int (st, 1);
      rc = SQLITE_DONE;
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "read edgecore_twin_uplink");
  return TRUE;
}

typedef struct {
  DeviceTwin   *self;   /* the job's callback runs only while it has not stopped */
  guint64       after;
  guint64       upto;
  guint         limit;
  GPtrArray    *rows;
  DtUplinksFunc func;
} UplinkRead;

/* Frees a DtUplinkRow. */
void
dt_uplink_row_free (gpointer data)
{
  DtUplinkRow *r = data;
  if (!r)
    return;
  g_free (r->msg_id);
  g_free (r->resource);
  g_free (r->content);
  g_free (r);
}

/* Reads the first limit uplink rows with after < seq <= upto (read job):
 * a round sends at most the window's room, so more would only be memory. */
static gboolean
read_uplinks_job (sqlite3 *db, gpointer data, GError **error)
{
  UplinkRead *ur = data;
  sqlite3_stmt *st = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db, "SELECT seq, msg_id, resource, content, is_string FROM"
                          " edgecore_twin_uplink WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3",
                          -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "read edgecore_twin_uplink");
  sqlite3_bind_int64 (st, 1, (sqlite3_int64) MIN (ur->after, (guint64) G_MAXINT64));
  sqlite3_bind_int64 (st, 2, (sqlite3_int64) MIN (ur->upto, (guint64) G_MAXINT64));
  sqlite3_bind_int (st, 3, (int) ur->limit);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      DtUplinkRow *r = g_new0 (DtUplinkRow, 1);
      r->seq = (guint64) sqlite3_column_int64 (st, 0);
      r->msg_id = g_strdup (col (st, 1));
      r->resource = g_strdup (col (st, 2));
      r->content = g_strdup (col (st, 3));
      r->is_string = sqlite3_column_int (st, 4) != 0;
      g_ptr_array_add (ur->rows, r);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "read edgecore_twin_uplink");
  return TRUE;
}

/* Loads all devices into memory, and the highest seq and the count of
 * the unconfirmed uplinks. */
gboolean
dt_store_load (EcStore *store, GHashTable *devices, guint64 *max_seq, guint *n_uplinks,
               GError **error)
{
  LoadData ld = { devices, max_seq, n_uplinks };
  return ec_store_read_sync (store, load_job, &ld, error);
}

/* ---- the write job ---------------------------------------------------------- */

enum {
  ST_DEVICE_PUT, ST_DEVICE_DEL, ST_DEVICE_DEL_ATTRS, ST_DEVICE_DEL_TWINS,
  ST_TWIN_UPDATE, ST_TWIN_INSERT, ST_ATTR_UPDATE, ST_ATTR_INSERT, ST_ATTR_DEL,
  ST_UPLINK_PUT, ST_UPLINK_DEL, ST_UPLINK_DEL_ID, ST_UPLINK_TRIM, N_ST
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
  "DELETE FROM edgecore_twin_uplink WHERE msg_id = ?",
  "DELETE FROM edgecore_twin_uplink WHERE seq <= ?",
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
      sqlite3_bind_text (st, 2, op->s[0] ? op->s[0] : "", -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 3, op->s[1] ? op->s[1] : "", -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 4, op->s[2] ? op->s[2] : "", -1, SQLITE_STATIC);
      sqlite3_bind_int (st, 5, op->i2 ? 1 : 0);
      return run (s, st, error);
    case DT_OP_UPLINK_DEL:
    case DT_OP_UPLINK_TRIM:
      if (!(st = stmt (s, op->kind == DT_OP_UPLINK_DEL ? ST_UPLINK_DEL : ST_UPLINK_TRIM, error)))
        return FALSE;
      sqlite3_bind_int64 (st, 1, op->i);
      return run (s, st, error);
    case DT_OP_UPLINK_DEL_ID:
      if (!(st = stmt (s, ST_UPLINK_DEL_ID, error)))
        return FALSE;
      bind_strings (st, op, 1);
      return run (s, st, error);
    }
  return TRUE;
}

/* Store jobs are queued with the plugin's cancellable, which the host
 * cancels when devicetwin has stopped: their callbacks never see a stopped
 * or freed plugin, and their destroy functions never touch it. */
#define CANCELLABLE(self) ec_plugin_context_get_cancellable ((self)->context)

typedef struct {
  DeviceTwin *self;
  GPtrArray  *txns;    /* DtTxn* */
} Batch;

/* Frees a batch. */
static void
batch_free (gpointer data)
{
  Batch *b = data;
  g_ptr_array_unref (b->txns);
  g_free (b);
}

/* Frees an UplinkRead. */
static void
uplink_read_free (gpointer data)
{
  UplinkRead *ur = data;
  g_ptr_array_unref (ur->rows);
  g_free (ur);
}

/* The uplink rows were read: hand them over. */
static void
uplink_read_done (const GError *error, gpointer data)
{
  UplinkRead *ur = data;
  ur->func (ur->self, ur->rows, error);
}

/* Reads at most limit committed uplink rows with after_seq < seq <=
 * upto_seq, in seq order, on a reader thread; func gets them (DtUplinkRow*)
 * on the main loop. */
void
dt_store_read_uplinks (DeviceTwin *self, guint64 after_seq, guint64 upto_seq, guint limit,
                       DtUplinksFunc func)
{
  UplinkRead *ur = g_new0 (UplinkRead, 1);
  ur->self = self;
  ur->after = after_seq;
  ur->upto = upto_seq;
  ur->limit = limit;
  ur->rows = g_ptr_array_new_with_free_func (dt_uplink_row_free);
  ur->func = func;
  ec_store_read_full (self->store, read_uplinks_job, uplink_read_done, ur, uplink_read_free,
                      CANCELLABLE (self));
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
emit (DeviceTwin *self, GArray *sends)
{
  if (!sends)
    return;
  for (guint i = 0; i < sends->len; i++)
    {
      DtSend *s = &g_array_index (sends, DtSend, i);
      if (s->uplink_seq)
        dt_cloud_sent (self, s->uplink_seq, s->uplink_op);
      else if (s->message)
        outbox_send (self->outbox, s->module, g_steal_pointer (&s->message));
    }
}

/* A failed commit: what the transaction sends instead. */
static void
emit_failure (DeviceTwin *self, DtTxn *txn)
{
  emit (self, txn->fail_sends);
  if (txn->fail_topic)
    {
      EcMessage *m = ec_message_new ("twin", "bus", EC_OP_PUBLISH, txn->fail_topic);
      g_autofree char *err = dt_json_error (txn->fail_event_id, 500,
                                            "update device twin failed due to writing sql error");
      ec_message_set_content_string (m, err);
      outbox_send (self->outbox, "eventbus", m);
    }
}

typedef struct {
  DeviceTwin *self;
  guint64     n_commits;   /* the plugin's count when the read was queued */
  GHashTable *devices;
} Reload;

/* Frees a Reload. */
static void
reload_free (gpointer data)
{
  Reload *r = data;
  if (r->devices)
    g_hash_table_unref (r->devices);
  g_free (r);
}

/* Reads every device (read job). */
static gboolean
reload_job (sqlite3 *db, gpointer data, GError **error)
{
  Reload *r = data;
  LoadData ld = { r->devices, NULL };
  return load_job (db, &ld, error);
}

static gboolean reload (gpointer data);

/* The devices were re-read: they replace memory unless something was
 * written meanwhile (then they are read again). */
static void
reload_done (const GError *error, gpointer data)
{
  Reload *r = data;
  DeviceTwin *self = r->self;

  if (error)
    {
      ec_log_warning (self->context, "re-reading devices failed: %s", error->message);
      return;
    }
  if (self->in_flight || !g_queue_is_empty (self->pending) || self->n_commits != r->n_commits)
    {
      if (!self->reload_id)
        self->reload_id = g_idle_add (reload, self);
      return;
    }
  g_hash_table_unref (self->devices);
  self->devices = g_steal_pointer (&r->devices);
}

/* Re-reads all devices after a failed write, so memory matches the store:
 * on a reader thread, once no write is pending. */
static gboolean
reload (gpointer data)
{
  DeviceTwin *self = data;
  Reload *r;

  self->reload_id = 0;
  if (self->in_flight || !g_queue_is_empty (self->pending))
    {
      self->reload_id = g_timeout_add (100, reload, self);
      return G_SOURCE_REMOVE;
    }
  r = g_new0 (Reload, 1);
  r->self = self;
  r->n_commits = self->n_commits;
  r->devices = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, dt_device_free);
  ec_store_read_full (self->store, reload_job, reload_done, r, reload_free, CANCELLABLE (self));
  return G_SOURCE_REMOVE;
}

/* The batch committed (or failed): send, then write the next batch. */
static void
batch_done (const GError *error, gpointer data)
{
  Batch *b = data;
  DeviceTwin *self = b->self;

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
      if (error)
        emit_failure (self, txn);
      else
        emit (self, txn->sends);
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
  b->self = self;
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
  ec_store_write_full (self->store, write_job, batch_done, b, batch_free, CANCELLABLE (self));
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
  self->n_commits++;
  g_queue_push_tail (self->pending, txn);
  flush (self);
}

/* Writes what is still pending synchronously (at stop). Jobs still in
 * flight commit, but call back no more: the host cancels the plugin's
 * cancellable when stop returns. */
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
}
