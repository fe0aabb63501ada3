/* test-worker.c: blocking work off the main loop (ec_run_in_thread,
 * EcWorker): results come back on the caller's main context, in order for
 * a worker, and a cancelled job neither starts nor calls back. */
#include "config.h"

#include <edgecore.h>

typedef struct {
  gint  ran;
  int   done;
  int   destroyed;
  GPtrArray *order;   /* results, in the order done saw them */
  GThread *main_thread;
} Seen;

static gpointer
work_number (gpointer data, GError **error)
{
  Seen *s = ((gpointer *) data)[0];
  g_atomic_int_inc (&s->ran);
  return g_strdup (((gpointer *) data)[1]);
}

static gpointer
work_slow (gpointer data, GError **error)
{
  g_usleep (200000);
  return NULL;
}

static gpointer
work_fail (gpointer data, GError **error)
{
  Seen *s = ((gpointer *) data)[0];
  g_atomic_int_inc (&s->ran);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "it failed");
  return NULL;
}

static gpointer
work_mark (gpointer data, GError **error)
{
  Seen *s = ((gpointer *) data)[0];
  g_atomic_int_inc (&s->ran);
  return NULL;
}

static void
done_record (gpointer result, const GError *error, gpointer data)
{
  Seen *s = ((gpointer *) data)[0];
  g_assert_true (g_thread_self () == s->main_thread);
  s->done++;
  if (s->order)
    g_ptr_array_add (s->order, error ? g_strdup (error->message) : result);
  else
    g_free (result);
}

static void
destroy_pair (gpointer data)
{
  Seen *s = ((gpointer *) data)[0];
  s->destroyed++;
  g_free (data);
}

static gpointer *
pair (Seen *s, const char *text)
{
  gpointer *p = g_new0 (gpointer, 2);
  p[0] = s;
  p[1] = (gpointer) text;
  return p;
}

/* Ordered, on the caller's thread, errors passed on, pending counted. */
static void
test_worker_order (void)
{
  EcWorker *w = ec_worker_new ("test-worker");
  Seen s = { 0 };
  s.order = g_ptr_array_new_with_free_func (g_free);
  s.main_thread = g_thread_self ();
  ec_worker_push (w, work_slow, NULL, NULL, NULL);
  ec_worker_push (w, work_number, done_record, pair (&s, "one"), destroy_pair);
  ec_worker_push (w, work_fail, done_record, pair (&s, NULL), destroy_pair);
  ec_worker_push_full (w, work_number, done_record, pair (&s, "three"), destroy_pair, NULL);
  g_assert_cmpuint (ec_worker_get_pending (w), >=, 3);
  g_assert_cmpint (s.done, ==, 0);
  while (s.destroyed < 3)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (s.order->len, ==, 3);
  g_assert_cmpstr (s.order->pdata[0], ==, "one");
  g_assert_cmpstr (s.order->pdata[1], ==, "it failed");
  g_assert_cmpstr (s.order->pdata[2], ==, "three");
  g_assert_cmpuint (ec_worker_get_pending (w), ==, 0);
  ec_worker_free (w);
  g_ptr_array_unref (s.order);
}

/* Cancelled while queued behind other work: not run, no callback; its data
 * is still destroyed, on the caller's main context. */
static void
test_worker_cancel_queued (void)
{
  EcWorker *w = ec_worker_new ("test-worker");
  g_autoptr (GCancellable) c = g_cancellable_new ();
  Seen s = { 0 };
  s.main_thread = g_thread_self ();
  ec_worker_push (w, work_slow, NULL, NULL, NULL);
  ec_worker_push_full (w, work_mark, done_record, pair (&s, NULL), destroy_pair, c);
  g_cancellable_cancel (c);
  while (!s.destroyed)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (g_atomic_int_get (&s.ran), ==, 0);
  g_assert_cmpint (s.done, ==, 0);
  ec_worker_free (w);
}

/* Cancelled after the work ran but before its result's turn on the main
 * loop: the work is done, the callback is dropped. */
static void
test_thread_cancel_after_run (void)
{
  g_autoptr (GCancellable) c = g_cancellable_new ();
  Seen s = { 0 };
  s.main_thread = g_thread_self ();
  ec_run_in_thread_full (work_mark, done_record, pair (&s, NULL), destroy_pair, c);
  while (!g_atomic_int_get (&s.ran))
    g_usleep (1000);
  g_cancellable_cancel (c);
  while (!s.destroyed)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (s.done, ==, 0);
}

/* Not cancelled: ec_run_in_thread_full() calls back like ec_run_in_thread(). */
static void
test_thread_runs (void)
{
  g_autoptr (GCancellable) c = g_cancellable_new ();
  Seen s = { 0 };
  s.order = g_ptr_array_new_with_free_func (g_free);
  s.main_thread = g_thread_self ();
  ec_run_in_thread (work_number, done_record, pair (&s, "a"), destroy_pair);
  ec_run_in_thread_full (work_number, done_record, pair (&s, "b"), destroy_pair, c);
  while (s.destroyed < 2)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (s.done, ==, 2);
  g_assert_cmpuint (s.order->len, ==, 2);
  g_ptr_array_unref (s.order);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/worker/order", test_worker_order);
  g_test_add_func ("/worker/cancel-queued", test_worker_cancel_queued);
  g_test_add_func ("/worker/thread-cancel-after-run", test_thread_cancel_after_run);
  g_test_add_func ("/worker/thread-runs", test_thread_runs);
  return g_test_run ();
}
