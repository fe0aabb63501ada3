/* mm-write.c: applying changes to `meta` and `meta_v2`.
 *
 * Changes collect in a batch while the main loop delivers messages; the
 * batch goes to the store's writer thread as one job when the loop is next
 * idle (or when it is full). On the writer thread each change runs in its
 * own savepoint with prepared statements, so one bad change fails alone.
 * Once the store's transaction committed, each change's `after` function
 * runs on the main loop: only then is anything acknowledged. */
#include "mm-private.h"

#include <string.h>

#define BATCH_MAX 512
#define FEED_RETRY_US (5 * G_USEC_PER_SEC)

struct _MmStmts {
  sqlite3      *db;
  sqlite3_stmt *savepoint, *release, *rollback;
  sqlite3_stmt *v2_get, *v2_put, *v2_del;
  sqlite3_stmt *meta_put, *meta_del, *meta_del_uid;
  GString      *buf;      /* where meta_v2 texts are assembled */
};

typedef struct {
  MetaManager *self;
  GPtrArray   *ops;
} Batch;

/* Makes a change for msg; after runs once it committed or failed. */
MmWrite *
mm_write_new (EcMessage *msg, MmAfterFunc after)
{
  MmWrite *w = g_new0 (MmWrite, 1);
  w->msg = ec_message_ref (msg);
  w->after = after;
  return w;
}

/* Frees a change. */
void
mm_write_free (MmWrite *w)
{
  if (!w)
    return;
  if (w->after_destroy)
    w->after_destroy (w->after_data);
  ec_message_unref (w->msg);
  g_free (w->meta_key);
  g_free (w->meta_type);
  g_free (w->owned);
  g_free (w->uid);
  g_free (w->also_delete);
  mm_v2_row_clear (&w->v2);
  g_clear_error (&w->error);
  g_free (w->v2_old);
  g_free (w);
}

/**
 * mm_write_prepare_object:
 * @w: an upsert
 * @ns: the resource's namespace token
 * @type: its type token
 * @name: (nullable): its name token
 * @content: the content as JSON text
 * @len: its length
 * @error: where to put an error
 *
 * @content must stay valid as long as @w (it is @w's message's content, or
 * @w->owned).
 *
 * Fills the `meta` value (the content as received; a string content is
 * stored as the string itself, as KubeEdge does) and, for Kubernetes
 * objects, the `meta_v2` row. Objects of a type with a kind must be JSON
 * objects (or strings holding one); an unknown type is accepted only when
 * the object names its own apiVersion and kind.
 *
 * Returns: %FALSE if the content cannot be stored
 */
gboolean
mm_write_prepare_object (MmWrite *w, const char *ns, const char *type, const char *name,
                         const char *content, gsize len, GError **error)
{
  const MmTypeInfo *ti = mm_type_lookup (type);
  g_autofree char *inner = NULL;
  const char *obj = content;
  gsize obj_len = len;
  MmObjInfo info;

  if (mm_json_is_string (content, len))
    {
      inner = ec_json_decode_string (content, len, error);
      if (!inner)
        return FALSE;
      obj = inner;
      obj_len = strlen (inner);
    }
  if (ti && !ti->kind)
    {
      /* stored in meta only, as it came */
      if (inner)
        {
          w->meta_len = strlen (inner);
          g_free (w->owned);
          w->meta_text = w->owned = g_steal_pointer (&inner);
        }
      else
        {
          w->meta_text = content;
          w->meta_len = len;
        }
      return TRUE;
    }
  if (!mm_scan_object (obj, obj_len, &info, error))
    return FALSE;
  if (!mm_v2_row_build (&w->v2, type, ns, name, obj, obj_len, &info, error))
    {
      mm_obj_info_clear (&info);
      return FALSE;
    }
  mm_obj_info_clear (&info);
  if (!ti && !w->v2.key)
    {
      g_set_error (error, MM_ERROR, MM_ERROR_UNKNOWN_TYPE,
                   "unknown resource type \"%s\" (and the object has no apiVersion and kind)",
                   type);
      return FALSE;
    }
  if (inner)
    {
      /* row->text may point into inner: keep it */
      w->meta_len = obj_len;
      g_free (w->owned);
      w->meta_text = w->owned = g_steal_pointer (&inner);
    }
  else
    {
      w->meta_text = content;
      w->meta_len = len;
    }
  return TRUE;
}

/* ---- on the writer thread ------------------------------------------------ */

static gboolean
prepare (sqlite3 *db, const char *sql, sqlite3_stmt **st, GError **error)
{
  if (sqlite3_prepare_v3 (db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, sql);
  return TRUE;
}

static void
stmts_free (MmStmts *s)
{
  if (!s)
    return;
  sqlite3_stmt **all[] = { &s->savepoint, &s->release, &s->rollback, &s->v2_get, &s->v2_put,
                           &s->v2_del, &s->meta_put, &s->meta_del, &s->meta_del_uid };
  for (gsize i = 0; i < G_N_ELEMENTS (all); i++)
    sqlite3_finalize (*all[i]);
  if (s->buf)
    g_string_free (s->buf, TRUE);
  g_free (s);
}

static MmStmts *
stmts_get (MetaManager *self, sqlite3 *db, GError **error)
{
  MmStmts *s = self->stmts;
  if (s && s->db == db)
    return s;
  stmts_free (s);
  self->stmts = s = g_new0 (MmStmts, 1);
  s->db = db;
  s->buf = g_string_sized_new (4096);
  if (prepare (db, "SAVEPOINT mm_op", &s->savepoint, error)
      && prepare (db, "RELEASE mm_op", &s->release, error)
      && prepare (db, "ROLLBACK TO mm_op", &s->rollback, error)
      && prepare (db, "SELECT `resource_version`, `value` FROM `meta_v2` WHERE `key` = ?1",
                  &s->v2_get, error)
      && prepare (db, "INSERT OR REPLACE INTO `meta_v2` (`key`, `group_version_resource`, "
                  "`namespace`, `name`, `resource_version`, `value`) VALUES (?1,?2,?3,?4,?5,?6)",
                  &s->v2_put, error)
      && prepare (db, "DELETE FROM `meta_v2` WHERE `key` = ?1", &s->v2_del, error)
      && prepare (db, "INSERT OR REPLACE INTO `meta` (`key`, `type`, `value`) VALUES (?1,?2,?3)",
                  &s->meta_put, error)
      && prepare (db, "DELETE FROM `meta` WHERE `key` = ?1", &s->meta_del, error)
      && prepare (db, "DELETE FROM `meta` WHERE `key` = ?1 AND `value` LIKE ?2",
                  &s->meta_del_uid, error))
    return s;
  stmts_free (s);
  self->stmts = NULL;
  return NULL;
}

/* Runs a statement that returns no rows, then resets it. */
static gboolean
run (sqlite3 *db, sqlite3_stmt *st, GError **error)
{
  int rc = sqlite3_step (st);
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, sqlite3_sql (st));
  return TRUE;
}

static void
bind_text (sqlite3_stmt *st, int i, const char *s)
{
  sqlite3_bind_text (st, i, s ? s : "", -1, SQLITE_STATIC);
}

/* Reads the stored meta_v2 row: its version and (optionally) its value. */
static gboolean
v2_lookup (sqlite3 *db, MmStmts *s, const char *key, gboolean *found, guint64 *rv,
           char **value, GError **error)
{
  int rc;
  bind_text (s->v2_get, 1, key);
  rc = sqlite3_step (s->v2_get);
  *found = rc == SQLITE_ROW;
  if (*found)
    {
      *rv = (guint64) sqlite3_column_int64 (s->v2_get, 0);
      if (value)
        *value = g_strdup ((const char *) sqlite3_column_text (s->v2_get, 1));
    }
  sqlite3_reset (s->v2_get);
  sqlite3_clear_bindings (s->v2_get);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "reading meta_v2");
  return TRUE;
}

static gboolean
apply_upsert (sqlite3 *db, MmStmts *s, MmWrite *w, GError **error)
{
  if (w->v2.key)
    {
      gboolean found;
      guint64 stored = 0;
      const char *text;
      gsize text_len;
      if (!v2_lookup (db, s, w->v2.key, &found, &stored, NULL, error))
        return FALSE;
      /* a resent or older object changes nothing */
      if (found && w->v2.rv > 0 && stored >= w->v2.rv)
        {
          w->skipped = TRUE;
          return TRUE;
        }
      w->v2_existed = found;
      text = mm_v2_row_text (&w->v2, s->buf, &text_len);
      bind_text (s->v2_put, 1, w->v2.key);
      bind_text (s->v2_put, 2, w->v2.gvr);
      bind_text (s->v2_put, 3, w->v2.ns);
      bind_text (s->v2_put, 4, w->v2.name);
      sqlite3_bind_int64 (s->v2_put, 5, (sqlite3_int64) w->v2.rv);
      sqlite3_bind_text (s->v2_put, 6, text, (int) text_len, SQLITE_STATIC);
      if (!run (db, s->v2_put, error))
        return FALSE;
      w->v2_changed = TRUE;
    }
  if (w->meta_text)
    {
      bind_text (s->meta_put, 1, w->meta_key);
      bind_text (s->meta_put, 2, w->meta_type);
      sqlite3_bind_text (s->meta_put, 3, w->meta_text, (int) w->meta_len, SQLITE_STATIC);
      if (!run (db, s->meta_put, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
apply_delete (sqlite3 *db, MmStmts *s, MmWrite *w, GError **error)
{
  gboolean meta_deleted = TRUE;
  if (w->uid && *w->uid)
    {
      g_autofree char *like = g_strdup_printf ("%%%s%%", w->uid);
      bind_text (s->meta_del_uid, 1, w->meta_key);
      bind_text (s->meta_del_uid, 2, like);
      if (!run (db, s->meta_del_uid, error))
        return FALSE;
      meta_deleted = sqlite3_changes (db) > 0;
      if (meta_deleted && w->also_delete)
        {
          bind_text (s->meta_del, 1, w->also_delete);
          if (!run (db, s->meta_del, error))
            return FALSE;
        }
    }
  else
    {
      bind_text (s->meta_del, 1, w->meta_key);
      if (!run (db, s->meta_del, error))
        return FALSE;
    }
  if (w->v2.key)
    {
      gboolean found;
      guint64 stored = 0;
      g_autofree char *old = NULL;
      if (!v2_lookup (db, s, w->v2.key, &found, &stored, &old, error))
        return FALSE;
      if (!found)
        return TRUE;
      /* a delete for an older incarnation leaves the newer object */
      if ((w->uid && *w->uid && (!old || !strstr (old, w->uid)))
          || (w->v2.rv > 0 && stored > w->v2.rv))
        {
          w->skipped = !meta_deleted;
          return TRUE;
        }
      bind_text (s->v2_del, 1, w->v2.key);
      if (!run (db, s->v2_del, error))
        return FALSE;
      w->v2_changed = TRUE;
      w->v2_existed = TRUE;
      w->v2_old = g_steal_pointer (&old);
    }
  return TRUE;
}

static void
reset_result (MmWrite *w)
{
  g_clear_error (&w->error);
  w->skipped = FALSE;
  w->v2_changed = FALSE;
  w->v2_existed = FALSE;
  g_clear_pointer (&w->v2_old, g_free);
}

static gboolean
apply (sqlite3 *db, MmStmts *s, MmWrite *w, GError **error)
{
  return w->is_delete ? apply_delete (db, s, w, error) : apply_upsert (db, s, w, error);
}

/* The batch job. Fast path: every change in one savepoint, so each page is
 * journaled once per batch. If a change fails, the batch is rolled back and
 * run again with a savepoint per change, so that the failing one fails
 * alone and the others still commit. */
static gboolean
batch_job (sqlite3 *db, gpointer data, GError **error)
{
  Batch *b = data;
  MmStmts *s = stmts_get (b->self, db, error);
  gboolean ok = TRUE;
  if (!s || !run (db, s->savepoint, error))
    return FALSE;
  for (guint i = 0; ok && i < b->ops->len; i++)
    ok = apply (db, s, b->ops->pdata[i], NULL);
  if (!ok)
    {
      run (db, s->rollback, NULL);
      for (guint i = 0; i < b->ops->len; i++)
        {
          MmWrite *w = b->ops->pdata[i];
          reset_result (w);
          if (!run (db, s->savepoint, &w->error))
            continue;
          if (!apply (db, s, w, &w->error))
            {
              GError *keep = g_steal_pointer (&w->error);
              run (db, s->rollback, NULL);
              reset_result (w);
              w->error = keep;
            }
          run (db, s->release, NULL);
        }
    }
  run (db, s->release, NULL);
  return TRUE;
}

/* ---- back on the main loop ----------------------------------------------- */

/* The last stored object with the deletion's resourceVersion, as a
 * Kubernetes DELETED event carries it; NULL if it cannot be rewritten. */
static char *
with_resource_version (const char *json, const char *rv)
{
  g_autoptr (JsonNode) node = ec_json_parse (json, strlen (json), 0, 0, NULL);
  JsonNode *meta;
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;
  meta = json_object_get_member (json_node_get_object (node), "metadata");
  if (!meta || !JSON_NODE_HOLDS_OBJECT (meta))
    return NULL;
  json_object_set_string_member (json_node_get_object (meta), "resourceVersion", rv);
  return ec_json_to_string (node, FALSE);
}

/* Tells metaserver about a committed meta_v2 change (docs/bus-contracts.md). */
static void
feed_metaserver (MetaManager *self, MmWrite *w)
{
  g_autoptr (EcMessage) m = NULL;
  const char *op = w->is_delete ? EC_OP_DELETE : w->v2_existed ? EC_OP_UPDATE : EC_OP_INSERT;
  const char *value;
  gsize value_len = 0;
  g_autoptr (GError) error = NULL;
  g_autofree char *rv = NULL;

  /* metaserver is off: do not build messages nobody takes (checked again
   * every few seconds) */
  if (self->feed_absent_since
      && g_get_monotonic_time () - self->feed_absent_since < FEED_RETRY_US)
    return;
  if (w->is_delete)
    value = w->v2_old;
  else
    value = mm_v2_row_text (&w->v2, self->scratch, &value_len);
  m = ec_message_new (MM_BUS_NAME, MM_BUS_GROUP, op, w->meta_key);
  if (w->v2.rv > 0)
    rv = g_strdup_printf ("%" G_GUINT64_FORMAT, w->v2.rv);
  else if (w->is_delete && value)
    {
      MmObjInfo info;
      if (mm_scan_object (value, strlen (value), &info, NULL))
        {
          rv = g_steal_pointer (&info.resource_version);
          mm_obj_info_clear (&info);
        }
    }
  if (rv)
    ec_message_set_resource_version (m, rv);
  if (w->is_delete && value && w->v2.rv > 0)
    {
      g_autofree char *updated = with_resource_version (value, rv);
      if (updated)
        {
          g_free (w->v2_old);
          value = w->v2_old = g_steal_pointer (&updated);
        }
    }
  if (value && !ec_message_set_content_json (m, value, w->is_delete ? -1 : (gssize) value_len,
                                             &error))
    ec_log_warning (self->context, "stored object %s is not JSON: %s", w->v2.key, error->message);
  if (ec_endpoint_send_to_group (self->endpoint, "metaserver", m, &error))
    self->feed_absent_since = 0;
  else if (g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL))
    mm_send_group (self, "metaserver", m);
  else if (g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION))
    self->feed_absent_since = g_get_monotonic_time ();
}

static void
batch_done (const GError *error, gpointer data)
{
  Batch *b = data;
  MetaManager *self = b->self;
  if (self->dead)
    return;
  for (guint i = 0; i < b->ops->len; i++)
    {
      MmWrite *w = b->ops->pdata[i];
      if (error && !w->error)
        w->error = g_error_copy (error);
      self->inflight--;
      self->inflight_bytes -= w->cost;
      ec_metric_add (w->error ? self->m.write_errors : w->skipped ? self->m.skipped
                     : w->is_delete ? self->m.deletes : self->m.upserts, 1);
      if (!w->error && w->v2_changed)
        feed_metaserver (self, w);
      w->after (self, w);
    }
  self->seq_done++;
  ec_metric_set (self->m.pending, self->inflight);
  mm_read_run_deferred (self);
  mm_flow_resume (self);
}

static void
batch_free (gpointer data)
{
  Batch *b = data;
  g_ptr_array_unref (b->ops);
  mm_unref (b->self);
  g_free (b);
}

/* Gives the collected changes to the store. */
void
mm_write_flush (MetaManager *self)
{
  Batch *b;
  g_clear_handle_id (&self->flush_source, g_source_remove);
  if (self->batch->len == 0)
    return;
  b = g_new0 (Batch, 1);
  b->self = mm_ref (self);
  b->ops = self->batch;
  self->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) mm_write_free);
  self->seq_queued++;
  ec_store_write (self->store, batch_job, batch_done, b, batch_free);
}

static gboolean
flush_idle (gpointer data)
{
  MetaManager *self = data;
  self->flush_source = 0;
  mm_write_flush (self);
  return G_SOURCE_REMOVE;
}

/* Queues a change; it reaches the store when the main loop is next idle. */
void
mm_write_queue (MetaManager *self, MmWrite *w)
{
  if (!w->meta_type)
    {
      g_autofree char *ns = NULL, *name = NULL;
      mm_resource_parse (w->meta_key, &ns, &w->meta_type, &name);
    }
  w->cost = sizeof *w + w->meta_len + w->v2.src_len + w->v2.head_len;
  self->inflight++;
  self->inflight_bytes += w->cost;
  ec_metric_set (self->m.pending, self->inflight);
  if (self->inflight > self->inflight_peak)
    self->inflight_peak = self->inflight;
  self->since_trim++;
  g_ptr_array_add (self->batch, w);
  if (self->batch->len >= BATCH_MAX)
    mm_write_flush (self);
  else if (!self->flush_source)
    self->flush_source = g_idle_add_full (G_PRIORITY_DEFAULT, flush_idle, self, NULL);
}

static gboolean
finalize_job (sqlite3 *db, gpointer data, GError **error)
{
  MetaManager *self = data;
  stmts_free (self->stmts);
  self->stmts = NULL;
  return TRUE;
}

/* Flushes what is collected and, after it on the writer thread, frees the
 * writer's statements (they must be gone before the store closes). */
void
mm_write_shutdown (MetaManager *self)
{
  mm_write_flush (self);
  ec_store_write (self->store, finalize_job, NULL, mm_ref (self), (GDestroyNotify) mm_unref);
}
