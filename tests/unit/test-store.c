/* test-store.c: the shared sqlite store: batching, isolation, durability
 * order, reads, bad files, cancelled jobs and the host's drain. */
#include "config.h"

#include "ec-host-api.h"
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char    *dir;
  char    *path;
  EcStore *store;
} Fixture;

static gboolean
create_table (sqlite3 *db, gpointer data, GError **error)
{
  if (sqlite3_exec (db, "CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT)", NULL, NULL, NULL))
    return ec_store_set_sql_error (error, db, "create");
  return TRUE;
}

static void
setup (Fixture *f, gconstpointer unused)
{
  g_autoptr (GError) error = NULL;
  f->dir = g_dir_make_tmp ("ec-store-XXXXXX", NULL);
  f->path = g_build_filename (f->dir, "sub", "edgecore.db", NULL);
  f->store = ec_store_new (f->path, &error);
  g_assert_no_error (error);
  g_assert_true (ec_store_write_sync (f->store, create_table, NULL, &error));
  g_assert_no_error (error);
}

static void
teardown (Fixture *f, gconstpointer unused)
{
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", f->dir);
  ec_store_free (f->store);
  g_assert_cmpint (system (cmd), ==, 0);
  g_free (f->dir);
  g_free (f->path);
}

typedef struct {
  char *key;
  int  *done;
  int  *failed;
} Put;

static gboolean
put (sqlite3 *db, gpointer data, GError **error)
{
  Put *p = data;
  sqlite3_stmt *st;
  int rc;
  if (sqlite3_prepare_v2 (db, "INSERT INTO kv VALUES (?, 'v')", -1, &st, NULL))
    return ec_store_set_sql_error (error, db, "prepare");
  sqlite3_bind_text (st, 1, p->key, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step (st);
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "insert");
  return TRUE;
}

static void
put_done (const GError *error, gpointer data)
{
  Put *p = data;
  (*p->done)++;
  if (error)
    (*p->failed)++;
}

static void
put_free (gpointer data)
{
  Put *p = data;
  g_free (p->key);
  g_free (p);
}

static gboolean
put_slow (sqlite3 *db, gpointer data, GError **error)
{
  g_usleep (200000);
  return TRUE;
}

static gboolean
count_rows (sqlite3 *db, gpointer data, GError **error)
{
  if (!data)
    return TRUE;
  sqlite3_stmt *st;
  sqlite3_prepare_v2 (db, "SELECT count(*) FROM kv", -1, &st, NULL);
  sqlite3_step (st);
  *(int *) data = sqlite3_column_int (st, 0);
  sqlite3_finalize (st);
  return TRUE;
}

static void
test_batch_and_isolation (Fixture *f, gconstpointer unused)
{
  int done = 0, failed = 0, rows = -1;
  g_autoptr (GError) error = NULL;
  for (int i = 0; i < 5000; i++)
    {
      Put *p = g_new0 (Put, 1);
      /* every 1000th is a duplicate key: it fails alone */
      p->key = g_strdup_printf ("k%d", i % 1000 == 999 ? 0 : i);
      p->done = &done;
      p->failed = &failed;
      ec_store_write (f->store, put, put_done, p, put_free);
    }
  g_assert_cmpuint (ec_store_get_pending_writes (f->store), >, 0);
  while (done < 5000)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (ec_store_get_pending_writes (f->store), ==, 0);
  g_assert_cmpint (failed, ==, 5);
  g_assert_true (ec_store_read_sync (f->store, count_rows, &rows, &error));
  g_assert_cmpint (rows, ==, 4995);
}

static void
read_done (const GError *error, gpointer data)
{
  struct { int rows; gboolean got; } *r = data;
  g_assert_no_error (error);
  r->got = TRUE;
}

static void
test_async_read_sees_commits (Fixture *f, gconstpointer unused)
{
  int done = 0, failed = 0;
  struct { int rows; gboolean got; } r = { -1, FALSE };
  Put *p = g_new0 (Put, 1);
  p->key = g_strdup ("only");
  p->done = &done;
  p->failed = &failed;
  ec_store_write (f->store, put, put_done, p, put_free);
  g_assert_cmpint (done, ==, 0);  /* never inside the call */
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  /* once the write's callback ran, a read sees it */
  ec_store_read (f->store, count_rows, read_done, &r, NULL);
  while (!r.got)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (r.rows, ==, 1);
}

static void
test_reopen_durable (Fixture *f, gconstpointer unused)
{
  int done = 0, failed = 0, rows = -1;
  g_autoptr (GError) error = NULL;
  Put *p = g_new0 (Put, 1);
  p->key = g_strdup ("persist");
  p->done = &done;
  p->failed = &failed;
  ec_store_write (f->store, put, put_done, p, put_free);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
  ec_store_free (f->store);
  f->store = ec_store_new (f->path, &error);
  g_assert_no_error (error);
  g_assert_true (ec_store_read_sync (f->store, count_rows, &rows, &error));
  g_assert_cmpint (rows, ==, 1);
}

static void
test_not_a_database (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ec-store-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "junk.db", NULL);
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (path, "this is not sqlite, it is plain text of some length......"
                                      "................................................................"
                                      "................................................................", -1, NULL));
  g_assert_null (ec_store_new (path, &error));
  g_assert_error (error, EC_STORE_ERROR, EC_STORE_ERROR_OPEN);
  g_assert_nonnull (strstr (error->message, "junk.db"));
  g_assert_cmpint (system (cmd), ==, 0);
}

static void
test_unwritable (void)
{
  g_autoptr (GError) error = NULL;
  if (getuid () == 0)
    {
      /* root writes anywhere; a path under a regular file cannot be created */
      g_autofree char *dir = g_dir_make_tmp ("ec-store-XXXXXX", NULL);
      g_autofree char *file = g_build_filename (dir, "file", NULL);
      g_autofree char *path = g_build_filename (file, "edgecore.db", NULL);
      g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
      g_file_set_contents (file, "x", -1, NULL);
      g_assert_null (ec_store_new (path, &error));
      g_assert_error (error, EC_STORE_ERROR, EC_STORE_ERROR_OPEN);
      g_assert_cmpint (system (cmd), ==, 0);
      return;
    }
  g_assert_null (ec_store_new ("/proc/edgecore-cannot/edgecore.db", &error));
  g_assert_error (error, EC_STORE_ERROR, EC_STORE_ERROR_OPEN);
}

static gboolean
rollback_all (sqlite3 *db, gpointer data, GError **error)
{
  /* a job that ends the transaction, as sqlite does itself on a full disk */
  sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  return ec_store_set_sql_error (error, db, "simulated full disk");
}

static void
rollback_done (const GError *error, gpointer data)
{
  int *failures = data;
  if (error)
    (*failures)++;
  failures[1]++;
}

/* A job that holds the writer: it says when it runs (its batch is formed
 * by then), and returns once released. */
typedef struct {
  GMutex   lock;
  GCond    cond;
  gboolean running;
  gboolean released;
} Gate;

static gboolean
gate_job (sqlite3 *db, gpointer data, GError **error)
{
  Gate *g = data;
  g_mutex_lock (&g->lock);
  g->running = TRUE;
  g_cond_broadcast (&g->cond);
  while (!g->released)
    g_cond_wait (&g->cond, &g->lock);
  g_mutex_unlock (&g->lock);
  return TRUE;
}

static void
test_whole_transaction_lost (Fixture *f, gconstpointer unused)
{
  Gate gate = { 0 };
  int counts[2] = { 0, 0 };  /* failures, callbacks */
  int rows = -1;
  g_autoptr (GError) error = NULL;
  /* hold the writer (its batch already formed) so that the three jobs
   * queued meanwhile land in the next batch together */
  g_mutex_init (&gate.lock);
  g_cond_init (&gate.cond);
  ec_store_write (f->store, gate_job, NULL, &gate, NULL);
  g_mutex_lock (&gate.lock);
  while (!gate.running)
    g_cond_wait (&gate.cond, &gate.lock);
  g_mutex_unlock (&gate.lock);
  Put *before = g_new0 (Put, 1), *after = g_new0 (Put, 1);
  int done = 0, failed = 0;
  before->key = g_strdup ("before");
  before->done = &done;
  before->failed = &failed;
  after->key = g_strdup ("after");
  after->done = &done;
  after->failed = &failed;
  ec_store_write (f->store, put, put_done, before, put_free);
  ec_store_write (f->store, rollback_all, rollback_done, counts, NULL);
  ec_store_write (f->store, put, put_done, after, put_free);
  g_mutex_lock (&gate.lock);
  gate.released = TRUE;
  g_cond_broadcast (&gate.cond);
  g_mutex_unlock (&gate.lock);
  while (done < 2 || counts[1] < 1)
    g_main_context_iteration (NULL, TRUE);
  /* none of the batch is committed, so every job is told it failed */
  g_assert_cmpint (failed, ==, 2);
  g_assert_cmpint (counts[0], ==, 1);
  g_assert_true (ec_store_read_sync (f->store, count_rows, &rows, &error));
  g_assert_cmpint (rows, ==, 0);
  g_cond_clear (&gate.cond);
  g_mutex_clear (&gate.lock);
}

/* What a cancellable job saw: its callback must not run once cancelled,
 * its destroy always runs, once. */
typedef struct {
  int ran;        /* the job's func, on a store thread */
  int done;
  int destroyed;
} Seen;

static gboolean
seen_put (sqlite3 *db, gpointer data, GError **error)
{
  Seen *s = data;
  g_atomic_int_inc (&s->ran);
  return sqlite3_exec (db, "INSERT INTO kv VALUES ('cancelled-write', 'v')", NULL, NULL, NULL)
         == SQLITE_OK || ec_store_set_sql_error (error, db, "insert");
}

static gboolean
seen_read (sqlite3 *db, gpointer data, GError **error)
{
  Seen *s = data;
  g_atomic_int_inc (&s->ran);
  return TRUE;
}

static void
seen_done (const GError *error, gpointer data)
{
  ((Seen *) data)->done++;
}

static void
seen_destroy (gpointer data)
{
  ((Seen *) data)->destroyed++;
}

static gboolean
read_slow (sqlite3 *db, gpointer data, GError **error)
{
  g_usleep (200000);
  return TRUE;
}

/* A write cancelled while it waits still commits (nothing queued is lost),
 * but its callback does not run; destroy does. */
static void
test_cancel_write (Fixture *f, gconstpointer unused)
{
  g_autoptr (GCancellable) c = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  Seen seen = { 0 };
  int rows = -1;
  ec_store_write (f->store, put_slow, NULL, NULL, NULL);
  ec_store_write_full (f->store, seen_put, seen_done, &seen, seen_destroy, c);
  g_cancellable_cancel (c);
  while (!seen.destroyed)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (seen.ran, ==, 1);
  g_assert_cmpint (seen.done, ==, 0);
  g_assert_cmpint (seen.destroyed, ==, 1);
  g_assert_true (ec_store_read_sync (f->store, count_rows, &rows, &error));
  g_assert_cmpint (rows, ==, 1);
}

/* A read cancelled while it waits for a reader is not run at all. */
static void
test_cancel_read (Fixture *f, gconstpointer unused)
{
  g_autoptr (GCancellable) c = g_cancellable_new ();
  Seen seen = { 0 };
  /* both readers busy */
  ec_store_read (f->store, read_slow, NULL, NULL, NULL);
  ec_store_read (f->store, read_slow, NULL, NULL, NULL);
  ec_store_read_full (f->store, seen_read, seen_done, &seen, seen_destroy, c);
  g_cancellable_cancel (c);
  while (!seen.destroyed)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (seen.ran, ==, 0);
  g_assert_cmpint (seen.done, ==, 0);
}

/* Cancelled after the job finished but before its completion's turn on the
 * main loop (as when a plugin stops with answers in flight): no callback. */
static void
test_cancel_after_finish (Fixture *f, gconstpointer unused)
{
  g_autoptr (GCancellable) c = g_cancellable_new ();
  Seen w = { 0 }, r = { 0 };
  ec_store_write_full (f->store, seen_put, seen_done, &w, seen_destroy, c);
  ec_store_read_full (f->store, seen_read, seen_done, &r, seen_destroy, c);
  ec_host_store_drain (f->store);
  g_assert_cmpint (g_atomic_int_get (&w.ran), ==, 1);
  g_assert_cmpint (g_atomic_int_get (&r.ran), ==, 1);
  g_cancellable_cancel (c);
  while (!w.destroyed || !r.destroyed)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (w.done + r.done, ==, 0);
  /* not cancelled: the callback runs as before */
  {
    g_autoptr (GCancellable) live = g_cancellable_new ();
    Seen l = { 0 };
    ec_store_read_full (f->store, seen_read, seen_done, &l, seen_destroy, live);
    while (!l.destroyed)
      g_main_context_iteration (NULL, TRUE);
    g_assert_cmpint (l.done, ==, 1);
  }
}

/* After ec_host_store_drain() every job queued before it has finished and
 * its completion waits on the main context: a non-blocking iteration runs
 * them all, which is how the host ends the store's work before it frees
 * the plugins. */
static void
test_drain (Fixture *f, gconstpointer unused)
{
  int done = 0, failed = 0;
  Seen reads = { 0 };
  ec_store_write (f->store, put_slow, NULL, NULL, NULL);
  for (int i = 0; i < 200; i++)
    {
      Put *p = g_new0 (Put, 1);
      p->key = g_strdup_printf ("d%d", i);
      p->done = &done;
      p->failed = &failed;
      ec_store_write (f->store, put, put_done, p, put_free);
      ec_store_read (f->store, seen_read, seen_done, &reads, NULL);
    }
  ec_host_store_drain (f->store);
  g_assert_cmpuint (ec_store_get_pending_writes (f->store), ==, 0);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (done, ==, 200);
  g_assert_cmpint (failed, ==, 0);
  g_assert_cmpint (reads.done, ==, 200);
  ec_host_store_drain (f->store);  /* nothing queued: returns at once */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/store/batch-and-isolation", Fixture, NULL, setup, test_batch_and_isolation, teardown);
  g_test_add ("/store/async-read-sees-commits", Fixture, NULL, setup, test_async_read_sees_commits, teardown);
  g_test_add ("/store/reopen-durable", Fixture, NULL, setup, test_reopen_durable, teardown);
  g_test_add ("/store/whole-transaction-lost", Fixture, NULL, setup, test_whole_transaction_lost, teardown);
  g_test_add ("/store/cancel-write", Fixture, NULL, setup, test_cancel_write, teardown);
  g_test_add ("/store/cancel-read", Fixture, NULL, setup, test_cancel_read, teardown);
  g_test_add ("/store/cancel-after-finish", Fixture, NULL, setup, test_cancel_after_finish, teardown);
  g_test_add ("/store/drain", Fixture, NULL, setup, test_drain, teardown);
  g_test_add_func ("/store/not-a-database", test_not_a_database);
  g_test_add_func ("/store/unwritable", test_unwritable);
  return g_test_run ();
}
