/* ec-store.c: the shared sqlite store: one writer thread that batches jobs
 * into transactions, reader threads with their own connections. */
#include "config.h"

#include "ec-lib-private.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define N_READERS       2
#define MAX_BATCH       1024
/* A connection that worked and then had nothing to do for this long gives
 * its page cache back (sqlite3_db_release_memory): the writer's cache may
 * grow to 16 MB in a burst and would otherwise be kept for good. The next
 * burst reads its pages again from the OS page cache. */
#define IDLE_RELEASE_US (2 * G_USEC_PER_SEC)
/* The writer also gives it back when its cache holds more than
 * RELEASE_ABOVE bytes (a burst filled it) and the burst ends in a trickle:
 * TRICKLE_RUN small batches in a row, each with nothing queued behind it. A trickle (devicetwin's
 * uplinks confirmed at edgehub's 30 messages/s) would otherwise never leave
 * it idle for 2 s. */
#define RELEASE_ABOVE   (2 * 1024 * 1024)
#define TRICKLE_BATCH   16
#define TRICKLE_RUN     8     /* small batches in a row: a flood has big ones between */

G_DEFINE_QUARK (ec-store-error-quark, ec_store_error)

typedef struct {
  EcStoreFunc     func;
  EcStoreDoneFunc done;
  gpointer        data;
  GDestroyNotify  destroy;
  GMainContext   *context;
  GCancellable   *cancellable; /* done is dropped once it is cancelled */
  GError         *error;
  /* for the _sync variants */
  GMutex         *lock;
  GCond          *cond;
  gboolean       *finished;
} Job;

struct _EcStore {
  char        *path;
  GAsyncQueue *writes;     /* Job*, or the store itself to stop */
  GAsyncQueue *reads;
  GThread     *writer;
  GThread     *readers[N_READERS];
  sqlite3     *wdb;
  sqlite3     *rdb[N_READERS];
  gint         next_reader;
  gint         pending_writes;
  GMutex       drain_lock;
  GCond        drain_cond;
  guint        in_flight;    /* async jobs queued whose completion is not queued yet */
};

/**
 * ec_store_set_sql_error: (skip)
 * @error: where to put the error
 * @db: the connection whose last error to report
 * @what: what was being done
 *
 * Fills @error with sqlite's message for @db.
 *
 * Returns: %FALSE, so that a job can `return ec_store_set_sql_error (...)`
 */
gboolean
ec_store_set_sql_error (GError **error, sqlite3 *db, const char *what)
{
  g_set_error (error, EC_STORE_ERROR, EC_STORE_ERROR_SQL, "%s: %s", what,
               db ? sqlite3_errmsg (db) : "no connection");
  return FALSE;
}

/* The writer's page cache holds a burst's index pages, sub-journals stay in
 * memory, and the WAL is checkpointed every 32 MB instead of 4 MB, so a page
 * changed by many commits is copied to the database once. */
static sqlite3 *
open_connection (const char *path, gboolean writer, GError **error)
{
  sqlite3 *db = NULL;
  int flags = writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  char *msg = NULL;
  int rc = sqlite3_open_v2 (path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
  const char *pragmas = writer
    ? "PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
      "PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384; PRAGMA temp_store=MEMORY;"
      "PRAGMA wal_autocheckpoint=8192; SELECT count(*) FROM sqlite_master;"
    : "PRAGMA busy_timeout=5000; PRAGMA query_only=1; SELECT count(*) FROM sqlite_master;";

  if (rc == SQLITE_OK)
    rc = sqlite3_exec (db, pragmas, NULL, NULL, &msg);
  if (rc != SQLITE_OK)
    {
      g_set_error (error, EC_STORE_ERROR, EC_STORE_ERROR_OPEN,
                   "cannot open database %s: %s", path,
                   msg ? msg : db ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
      sqlite3_free (msg);
      sqlite3_close (db);
      return NULL;
    }
  return db;
}

/* On the job's main context: its done callback, unless its cancellable
 * was cancelled meanwhile (checked here, in the thread that cancels), then
 * destroy in any case. */
static gboolean
job_complete (gpointer user_data)
{
  Job *job = user_data;
  if (job->done && !g_cancellable_is_cancelled (job->cancellable))
    job->done (job->error, job->data);
  g_clear_error (&job->error);
  if (job->destroy)
    job->destroy (job->data);
  g_clear_object (&job->cancellable);
  g_main_context_unref (job->context);
  g_free (job);
  return G_SOURCE_REMOVE;
}

static void
job_finish (EcStore *store, Job *job)
{
  if (job->lock)
    {
      g_mutex_lock (job->lock);
      *job->finished = TRUE;
      g_cond_signal (job->cond);
      g_mutex_unlock (job->lock);
      return;
    }
  _ec_invoke_later (job->context, job_complete, job);
  g_mutex_lock (&store->drain_lock);
  if (--store->in_flight == 0)
    g_cond_broadcast (&store->drain_cond);
  g_mutex_unlock (&store->drain_lock);
}

static gboolean
exec (sqlite3 *db, const char *sql, GError **error)
{
  if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, sql);
  return TRUE;
}

static gpointer
writer_thread (gpointer data)
{
  EcStore *store = data;
  GPtrArray *batch = g_ptr_array_new ();
  gboolean stop = FALSE;

  gboolean worked = FALSE;
  guint small_run = 0;   /* small batches in a row, nothing queued after each */

  while (!stop)
    {
      gpointer item = worked ? g_async_queue_timeout_pop (store->writes, IDLE_RELEASE_US)
                             : g_async_queue_pop (store->writes);
      g_autoptr (GError) commit_error = NULL;
      if (!item)
        {
          sqlite3_db_release_memory (store->wdb);
          worked = FALSE;
          continue;
        }
      worked = TRUE;
      if (item == store)
        break;
      g_ptr_array_add (batch, item);
      while (batch->len < MAX_BATCH && (item = g_async_queue_try_pop (store->writes)))
        {
          if (item == store)
            {
              stop = TRUE;
              break;
            }
          g_ptr_array_add (batch, item);
        }

      if (exec (store->wdb, "BEGIN IMMEDIATE", &commit_error))
        {
          for (guint i = 0; i < batch->len && !commit_error; i++)
            {
              Job *job = batch->pdata[i];
              exec (store->wdb, "SAVEPOINT job", NULL);
              if (!job->func (store->wdb, job->data, &job->error))
                {
                  if (!job->error)
                    g_set_error (&job->error, EC_STORE_ERROR, EC_STORE_ERROR_SQL, "write failed");
                  /* some errors (a full disk, I/O) make sqlite roll back the
                   * whole transaction: then nothing of the batch is kept,
                   * and the rest must not run in autocommit */
                  if (sqlite3_get_autocommit (store->wdb))
                    {
                      commit_error = g_error_new (EC_STORE_ERROR, EC_STORE_ERROR_SQL,
                                                  "the transaction was rolled back: %s",
                                                  job->error->message);
                      break;
                    }
                  exec (store->wdb, "ROLLBACK TO job", NULL);
                }
              exec (store->wdb, "RELEASE job", NULL);
            }
          if (!commit_error && !exec (store->wdb, "COMMIT", &commit_error))
            exec (store->wdb, "ROLLBACK", NULL);
        }
      if (commit_error)
        {
          /* nothing of the batch was committed: every job fails */
          for (guint i = 0; i < batch->len; i++)
            {
              Job *job = batch->pdata[i];
              if (!job->error)
                job->error = g_error_copy (commit_error);
            }
        }
      for (guint i = 0; i < batch->len; i++)
        {
          Job *job = batch->pdata[i];
          if (commit_error && !job->error)
            job->error = g_error_copy (commit_error);
          if (!job->lock)
            g_atomic_int_add (&store->pending_writes, -1);
          job_finish (store, job);
        }
      if (batch->len < TRICKLE_BATCH && g_async_queue_length (store->writes) <= 0)
        small_run++;
      else
        small_run = 0;
      if (small_run >= TRICKLE_RUN)
        {
          int used = 0, high = 0;
          small_run = 0;
          sqlite3_db_status (store->wdb, SQLITE_DBSTATUS_CACHE_USED, &used, &high, 0);
          if (used > RELEASE_ABOVE)
            sqlite3_db_release_memory (store->wdb);
        }
      g_ptr_array_set_size (batch, 0);
    }
  g_ptr_array_unref (batch);
  return NULL;
}

typedef struct {
  EcStore *store;
  sqlite3 *db;
} Reader;

static gpointer
reader_thread (gpointer data)
{
  Reader *r = data;
  gboolean worked = FALSE;
  for (;;)
    {
      Job *job = worked ? g_async_queue_timeout_pop (r->store->reads, IDLE_RELEASE_US)
                        : g_async_queue_pop (r->store->reads);
      if (!job)
        {
          sqlite3_db_release_memory (r->db);
          worked = FALSE;
          continue;
        }
      worked = TRUE;
      if ((gpointer) job == r->store)
        break;
      /* a read nobody waits for any more is not run */
      if (g_cancellable_set_error_if_cancelled (job->cancellable, &job->error))
        ;
      else if (!job->func (r->db, job->data, &job->error) && !job->error)
        g_set_error (&job->error, EC_STORE_ERROR, EC_STORE_ERROR_SQL, "read failed");
      job_finish (r->store, job);
    }
  g_free (r);
  return NULL;
}

/**
 * ec_store_new: (skip)
 * @path: the database file; its directory is created if missing
 * @error: where to put an error
 *
 * Opens (or creates) the database in WAL mode with one writer thread and
 * reader threads. The host opens the node's store; plugins get it with
 * ec_plugin_context_get_store().
 *
 * Returns: (transfer full) (nullable): the store, or %NULL with a clear error
 *   when the file cannot be written or is not a sqlite database
 */
EcStore *
ec_store_new (const char *path, GError **error)
{
  EcStore *store;
  g_autofree char *dir = NULL;
  g_return_val_if_fail (path != NULL, NULL);

  dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, EC_STORE_ERROR, EC_STORE_ERROR_OPEN,
                   "cannot create the database directory %s: %s", dir, g_strerror (errno));
      return NULL;
    }
  store = g_new0 (EcStore, 1);
  store->path = g_strdup (path);
  store->wdb = open_connection (path, TRUE, error);
  if (!store->wdb)
    {
      g_free (store->path);
      g_free (store);
      return NULL;
    }
  for (guint i = 0; i < N_READERS; i++)
    {
      store->rdb[i] = open_connection (path, FALSE, error);
      if (!store->rdb[i])
        {
          for (guint k = 0; k < i; k++)
            sqlite3_close (store->rdb[k]);
          sqlite3_close (store->wdb);
          g_free (store->path);
          g_free (store);
          return NULL;
        }
    }
  g_mutex_init (&store->drain_lock);
  g_cond_init (&store->drain_cond);
  store->writes = g_async_queue_new ();
  store->reads = g_async_queue_new ();
  store->writer = g_thread_new ("ec-store-write", writer_thread, store);
  for (guint i = 0; i < N_READERS; i++)
    {
      Reader *r = g_new0 (Reader, 1);
      r->store = store;
      r->db = store->rdb[i];
      store->readers[i] = g_thread_new ("ec-store-read", reader_thread, r);
    }
  return store;
}

/**
 * ec_store_free: (skip)
 * @store: (transfer full): a store
 *
 * Finishes the jobs already queued (their callbacks still run on their main
 * contexts), then closes the connections.
 */
void
ec_store_free (EcStore *store)
{
  if (!store)
    return;
  g_async_queue_push (store->writes, store);
  g_thread_join (store->writer);
  for (guint i = 0; i < N_READERS; i++)
    g_async_queue_push (store->reads, store);
  for (guint i = 0; i < N_READERS; i++)
    g_thread_join (store->readers[i]);
  for (guint i = 0; i < N_READERS; i++)
    sqlite3_close (store->rdb[i]);
  sqlite3_close (store->wdb);
  g_async_queue_unref (store->writes);
  g_async_queue_unref (store->reads);
  g_mutex_clear (&store->drain_lock);
  g_cond_clear (&store->drain_cond);
  g_free (store->path);
  g_free (store);
}

/**
 * ec_host_store_drain: (skip)
 * @store: a store
 *
 * For the host (ec-host-api.h): waits until every job queued so far has
 * run on its thread and its completion is queued on its main context. The
 * host then iterates the main context, so that the completions run (or,
 * cancelled, are dropped) before any plugin is freed.
 */
void
ec_host_store_drain (EcStore *store)
{
  g_return_if_fail (store != NULL);
  g_mutex_lock (&store->drain_lock);
  while (store->in_flight > 0)
    g_cond_wait (&store->drain_cond, &store->drain_lock);
  g_mutex_unlock (&store->drain_lock);
}

/**
 * ec_store_get_path: (skip)
 * @store: a store
 *
 * Returns: the database file
 */
const char *
ec_store_get_path (EcStore *store)
{
  g_return_val_if_fail (store != NULL, NULL);
  return store->path;
}

static Job *
job_new (EcStoreFunc func, EcStoreDoneFunc done, gpointer data, GDestroyNotify destroy,
         GCancellable *cancellable)
{
  Job *job = g_new0 (Job, 1);
  job->func = func;
  job->done = done;
  job->data = data;
  job->destroy = destroy;
  job->cancellable = cancellable ? g_object_ref (cancellable) : NULL;
  job->context = g_main_context_ref_thread_default ();
  return job;
}

static void
push_async (EcStore *store, GAsyncQueue *queue, Job *job)
{
  g_mutex_lock (&store->drain_lock);
  store->in_flight++;
  g_mutex_unlock (&store->drain_lock);
  g_async_queue_push (queue, job);
}

/**
 * ec_store_get_pending_writes: (skip)
 * @store: a store
 *
 * Tells how many write jobs are queued and not yet committed, so that a
 * plugin can stop taking work while the writer falls behind.
 *
 * Returns: the number of write jobs waiting or running
 */
guint
ec_store_get_pending_writes (EcStore *store)
{
  g_return_val_if_fail (store != NULL, 0);
  return (guint) g_atomic_int_get (&store->pending_writes);
}

/**
 * ec_store_write: (skip)
 * @store: a store
 * @func: the write, run on the writer thread inside a transaction
 * @done: (nullable): called on this thread's main context after the commit
 * @data: data for both
 * @destroy: (nullable): frees @data after @done
 *
 * Queues a write. @done gets %NULL only once the write is durably committed.
 */
void
ec_store_write (EcStore *store, EcStoreFunc func, EcStoreDoneFunc done, gpointer data,
                GDestroyNotify destroy)
{
  ec_store_write_full (store, func, done, data, destroy, NULL);
}

/**
 * ec_store_write_full: (skip)
 * @store: a store
 * @func: the write, run on the writer thread inside a transaction
 * @done: (nullable): called on this thread's main context after the commit
 * @data: data for both
 * @destroy: (nullable): frees @data after @done, or instead of it
 * @cancellable: (nullable): drops @done once cancelled
 *
 * Like ec_store_write(), but @done does not run if @cancellable is
 * cancelled before @done's turn comes on the main context (checked there,
 * so cancelling from the main loop's thread is race-free). Give
 * ec_plugin_context_get_cancellable() and no callback runs after the
 * plugin stopped. The write itself still runs and commits: what a plugin
 * queued is never lost. @destroy always runs, on the main context.
 *
 * Since: 1.1
 */
void
ec_store_write_full (EcStore *store, EcStoreFunc func, EcStoreDoneFunc done, gpointer data,
                     GDestroyNotify destroy, GCancellable *cancellable)
{
  g_return_if_fail (store != NULL && func != NULL);
  g_atomic_int_inc (&store->pending_writes);
  push_async (store, store->writes, job_new (func, done, data, destroy, cancellable));
}

/**
 * ec_store_read: (skip)
 * @store: a store
 * @func: the read, run on a reader thread
 * @done: (nullable): called on this thread's main context afterwards
 * @data: data for both; the read leaves its result in it
 * @destroy: (nullable): frees @data after @done
 *
 * Queues a read. Reads see every write whose @done has run.
 */
void
ec_store_read (EcStore *store, EcStoreFunc func, EcStoreDoneFunc done, gpointer data,
               GDestroyNotify destroy)
{
  ec_store_read_full (store, func, done, data, destroy, NULL);
}

/**
 * ec_store_read_full: (skip)
 * @store: a store
 * @func: the read, run on a reader thread
 * @done: (nullable): called on this thread's main context afterwards
 * @data: data for both; the read leaves its result in it
 * @destroy: (nullable): frees @data after @done, or instead of it
 * @cancellable: (nullable): skips the read and drops @done once cancelled
 *
 * Like ec_store_read(), but once @cancellable is cancelled the read is not
 * started any more and @done does not run (checked on the main context
 * before its turn). @destroy always runs, on the main context.
 *
 * Since: 1.1
 */
void
ec_store_read_full (EcStore *store, EcStoreFunc func, EcStoreDoneFunc done, gpointer data,
                    GDestroyNotify destroy, GCancellable *cancellable)
{
  g_return_if_fail (store != NULL && func != NULL);
  push_async (store, store->reads, job_new (func, done, data, destroy, cancellable));
}

static gboolean
run_sync (EcStore *store, GAsyncQueue *queue, EcStoreFunc func, gpointer data, GError **error)
{
  GMutex lock;
  GCond cond;
  gboolean finished = FALSE;
  Job *job = job_new (func, NULL, data, NULL, NULL);
  gboolean ok;
  g_mutex_init (&lock);
  g_cond_init (&cond);
  job->lock = &lock;
  job->cond = &cond;
  job->finished = &finished;
  g_mutex_lock (&lock);
  g_async_queue_push (queue, job);
  while (!finished)
    g_cond_wait (&cond, &lock);
  g_mutex_unlock (&lock);
  ok = job->error == NULL;
  if (job->error)
    g_propagate_error (error, job->error);
  g_main_context_unref (job->context);
  g_free (job);
  g_mutex_clear (&lock);
  g_cond_clear (&cond);
  return ok;
}

/**
 * ec_store_write_sync: (skip)
 * @store: a store
 * @func: the write
 * @data: its data
 * @error: where to put an error
 *
 * Runs a write and waits for its commit. Blocks: for init and tools only,
 * never on the main loop of a running node.
 *
 * Returns: %TRUE once committed
 */
gboolean
ec_store_write_sync (EcStore *store, EcStoreFunc func, gpointer data, GError **error)
{
  g_return_val_if_fail (store != NULL && func != NULL, FALSE);
  return run_sync (store, store->writes, func, data, error);
}

/**
 * ec_store_read_sync: (skip)
 * @store: a store
 * @func: the read
 * @data: its data
 * @error: where to put an error
 *
 * Runs a read and waits for it. Blocks: for init and tools only.
 *
 * Returns: %TRUE on success
 */
gboolean
ec_store_read_sync (EcStore *store, EcStoreFunc func, gpointer data, GError **error)
{
  g_return_val_if_fail (store != NULL && func != NULL, FALSE);
  return run_sync (store, store->reads, func, data, error);
}

/**
 * ec_plugin_context_get_store: (skip)
 * @context: a plugin context
 * @error: where to put an error
 *
 * Gives the node's shared store, opening it at `[database] data-source` on
 * first use. The host owns it and closes it after every plugin is freed.
 *
 * Returns: (transfer none) (nullable): the store
 */
EcStore *
ec_plugin_context_get_store (EcPluginContext *context, GError **error)
{
  g_return_val_if_fail (context != NULL, NULL);
  if (!context->store)
    {
      g_set_error (error, EC_STORE_ERROR, EC_STORE_ERROR_OPEN, "no store in this context");
      return NULL;
    }
  if (!*context->store)
    *context->store = ec_store_new (context->store_path, error);
  return *context->store;
}
