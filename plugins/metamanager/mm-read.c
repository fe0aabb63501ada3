/* mm-read.c: queries answered from the local store, on a reader thread.
 * A query waits for the writes queued before it, so that a query that
 * follows an insert sees it, as in KubeEdge's one-goroutine metamanager. */
#include "mm-private.h"

typedef struct {
  MetaManager *self;
  EcMessage   *msg;
  char        *key;      /* the resource string, or the type when by_type */
  gboolean     by_type;
  guint64      need_seq; /* write batches that must be done first */
  GString     *out;      /* JSON array of strings */
} Query;

static void
query_free (gpointer data)
{
  Query *q = data;
  mm_unref (q->self);
  ec_message_unref (q->msg);
  g_free (q->key);
  if (q->out)
    g_string_free (q->out, TRUE);
  g_free (q);
}

/* On a reader thread: collects the matching `meta` values. */
static gboolean
query_job (sqlite3 *db, gpointer data, GError **error)
{
  Query *q = data;
  const char *sql = q->by_type ? "SELECT `value` FROM `meta` WHERE `type` = ?1"
                               : "SELECT `value` FROM `meta` WHERE `key` = ?1";
  sqlite3_stmt *st = NULL;
  gboolean first = TRUE;
  int rc;

  if (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, sql);
  sqlite3_bind_text (st, 1, q->key, -1, SQLITE_STATIC);
  q->out = g_string_new ("[");
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      if (!first)
        g_string_append_c (q->out, ',');
      first = FALSE;
      ec_json_append_string (q->out, (const char *) sqlite3_column_text (st, 0));
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, sql);
  g_string_append_c (q->out, ']');
  return TRUE;
}

static void
query_done (const GError *error, gpointer data)
{
  Query *q = data;
  g_autoptr (EcMessage) reply = NULL;
  if (q->self->dead)
    return;
  if (error)
    {
      g_autofree char *text = g_strdup_printf ("Error to query meta in DB: %s", error->message);
      ec_metric_add (q->self->m.read_errors, 1);
      mm_reply_error (q->self, q->msg, text);
      return;
    }
  reply = ec_message_new_response (q->msg, q->out->str);
  ec_metric_add (q->self->m.queries, 1);
  ec_message_set_source (reply, MM_BUS_NAME);
  mm_reply (q->self, q->msg, reply);
}

static void
query_start (Query *q)
{
  ec_store_read (q->self->store, query_job, query_done, q, query_free);
}

/**
 * mm_query_local:
 * @self: metamanager
 * @msg: the query
 * @type: its resource type
 * @by_type: %TRUE when the resource names no object (`<ns>/<type>`)
 *
 * Answers a query from `meta`: the rows whose key is the resource, or, for
 * `<ns>/<type>`, every row of that type (all namespaces, as KubeEdge). The
 * reply's content is a JSON array of the stored values as strings.
 */
void
mm_query_local (MetaManager *self, EcMessage *msg, const char *type, gboolean by_type)
{
  Query *q = g_new0 (Query, 1);
  q->self = mm_ref (self);
  q->msg = ec_message_ref (msg);
  q->by_type = by_type;
  q->key = g_strdup (by_type ? type : ec_message_get_resource (msg));
  if (self->batch->len > 0)
    mm_write_flush (self);
  q->need_seq = self->seq_queued;
  if (self->seq_done >= q->need_seq)
    query_start (q);
  else
    g_queue_push_tail (&self->deferred, q);
}

/* Starts the queries whose earlier writes are done. */
void
mm_read_run_deferred (MetaManager *self)
{
  Query *q;
  while ((q = g_queue_peek_head (&self->deferred)) && q->need_seq <= self->seq_done)
    query_start (g_queue_pop_head (&self->deferred));
}

/* Drops the queries still waiting (at shutdown). */
void
mm_read_clear_deferred (MetaManager *self)
{
  g_queue_clear_full (&self->deferred, query_free);
}
