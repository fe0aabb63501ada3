/* ec-worker.c: blocking work on threads, results back on the main loop. */
#include "config.h"

#include "ec-lib-private.h"

typedef struct {
  EcWorkFunc     work;
  EcDoneFunc     done;
  gpointer       data;
  GDestroyNotify destroy;
  GMainContext  *context;   /* where done runs */
  GCancellable  *cancellable;
  gpointer       result;
  GError        *error;
} Job;

struct _EcWorker {
  char        *name;
  GThread     *thread;
  GAsyncQueue *queue;       /* of Job*, or the worker itself to stop */
  gint         pending;
};

static Job *
job_new (EcWorkFunc work, EcDoneFunc done, gpointer data, GDestroyNotify destroy,
         GCancellable *cancellable)
{
  Job *job = g_new0 (Job, 1);
  job->cancellable = cancellable ? g_object_ref (cancellable) : NULL;
  job->work = work;
  job->done = done;
  job->data = data;
  job->destroy = destroy;
  job->context = g_main_context_ref_thread_default ();
  return job;
}

/* Queues func on context. Unlike g_main_context_invoke() it never runs func
 * in the calling thread, even when that thread could acquire the context. */
void
_ec_invoke_later (GMainContext *context, GSourceFunc func, gpointer data)
{
  GSource *idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, func, data, NULL);
  g_source_attach (idle, context);
  g_source_unref (idle);
}

static gboolean
job_complete (gpointer user_data)
{
  Job *job = user_data;
  if (job->done && !g_cancellable_is_cancelled (job->cancellable))
    job->done (job->result, job->error, job->data);
  else if (job->result)
    g_warning ("a cancelled job's result was not freed: give it no result or no cancellable");
  g_clear_error (&job->error);
  g_clear_object (&job->cancellable);
  if (job->destroy)
    job->destroy (job->data);
  g_main_context_unref (job->context);
  g_free (job);
  return G_SOURCE_REMOVE;
}

/* Runs the job's work (unless cancelled), on the calling thread. */
static void
job_work (Job *job)
{
  if (!g_cancellable_set_error_if_cancelled (job->cancellable, &job->error))
    job->result = job->work (job->data, &job->error);
}

/* Hands the finished job to its main context for done and destroy. */
static void
job_finish (Job *job)
{
  _ec_invoke_later (job->context, job_complete, job);
}

static void
pool_func (gpointer item, gpointer unused)
{
  job_work (item);
  job_finish (item);
}

/**
 * ec_run_in_thread: (skip)
 * @work: (scope async): the blocking work
 * @done: (scope async) (nullable): receives the result on this thread's main context
 * @data: data for both
 * @destroy: (nullable): frees @data after @done ran
 *
 * Runs @work on a shared thread pool and calls @done with its result on the
 * thread-default main context of the calling thread. Jobs run in parallel
 * and in no particular order; use an #EcWorker for ordered work.
 */
void
ec_run_in_thread (EcWorkFunc work, EcDoneFunc done, gpointer data, GDestroyNotify destroy)
{
  ec_run_in_thread_full (work, done, data, destroy, NULL);
}

/**
 * ec_run_in_thread_full: (skip)
 * @work: (scope async): the blocking work
 * @done: (scope async) (nullable): receives the result on this thread's main context
 * @data: data for both
 * @destroy: (nullable): frees @data after @done ran, or instead of it
 * @cancellable: (nullable): skips @work and drops @done once cancelled
 *
 * Like ec_run_in_thread(), but once @cancellable is cancelled @work is not
 * started any more and @done does not run (checked on the main context,
 * before its turn). @destroy always runs there. Work that may be dropped
 * this way must not return a result that needs freeing: return it through
 * @data instead, which @destroy frees.
 *
 * Since: 1.1
 */
void
ec_run_in_thread_full (EcWorkFunc work, EcDoneFunc done, gpointer data, GDestroyNotify destroy,
                       GCancellable *cancellable)
{
  static GThreadPool *pool;
  static gsize once;
  g_return_if_fail (work != NULL);
  if (g_once_init_enter (&once))
    {
      pool = g_thread_pool_new (pool_func, NULL, 4, FALSE, NULL);
      g_once_init_leave (&once, 1);
    }
  g_thread_pool_push (pool, job_new (work, done, data, destroy, cancellable), NULL);
}

static gpointer
worker_thread (gpointer user_data)
{
  EcWorker *worker = user_data;
  for (;;)
    {
      gpointer item = g_async_queue_pop (worker->queue);
      if (item == worker)
        break;
      job_work (item);
      /* no longer pending before done can run: a done callback (or what it
       * wakes) that asks ec_worker_get_pending() sees its job gone */
      g_atomic_int_add (&worker->pending, -1);
      job_finish (item);
    }
  return NULL;
}

/**
 * ec_worker_new: (skip)
 * @name: the thread's name, for debuggers
 *
 * Starts one thread that runs the work given to it in order.
 *
 * Returns: (transfer full): the worker; free with ec_worker_free()
 */
EcWorker *
ec_worker_new (const char *name)
{
  EcWorker *worker = g_new0 (EcWorker, 1);
  worker->name = g_strdup (name ? name : "ec-worker");
  worker->queue = g_async_queue_new ();
  worker->thread = g_thread_new (worker->name, worker_thread, worker);
  return worker;
}

/**
 * ec_worker_push: (skip)
 * @worker: a worker
 * @work: the blocking work
 * @done: (nullable): receives the result on this thread's main context
 * @data: data for both
 * @destroy: (nullable): frees @data after @done ran
 *
 * Queues @work behind the worker's earlier work. Results come back in the
 * same order.
 */
void
ec_worker_push (EcWorker *worker, EcWorkFunc work, EcDoneFunc done, gpointer data,
                GDestroyNotify destroy)
{
  ec_worker_push_full (worker, work, done, data, destroy, NULL);
}

/**
 * ec_worker_push_full: (skip)
 * @worker: a worker
 * @work: the blocking work
 * @done: (nullable): receives the result on this thread's main context
 * @data: data for both
 * @destroy: (nullable): frees @data after @done ran, or instead of it
 * @cancellable: (nullable): skips @work and drops @done once cancelled
 *
 * Like ec_worker_push(), with the cancellation of ec_run_in_thread_full().
 *
 * Since: 1.1
 */
void
ec_worker_push_full (EcWorker *worker, EcWorkFunc work, EcDoneFunc done, gpointer data,
                     GDestroyNotify destroy, GCancellable *cancellable)
{
  g_return_if_fail (worker != NULL && work != NULL);
  g_atomic_int_inc (&worker->pending);
  g_async_queue_push (worker->queue, job_new (work, done, data, destroy, cancellable));
}

/**
 * ec_worker_get_pending: (skip)
 * @worker: a worker
 *
 * Returns: how many jobs are queued or running
 */
guint
ec_worker_get_pending (EcWorker *worker)
{
  g_return_val_if_fail (worker != NULL, 0);
  return (guint) g_atomic_int_get (&worker->pending);
}

/**
 * ec_worker_free: (skip)
 * @worker: (transfer full): a worker
 *
 * Lets the worker finish the work queued so far, then joins its thread.
 * The results of that work are still delivered on their main contexts.
 */
void
ec_worker_free (EcWorker *worker)
{
  g_return_if_fail (worker != NULL);
  g_async_queue_push (worker->queue, worker);
  g_thread_join (worker->thread);
  g_async_queue_unref (worker->queue);
  g_free (worker->name);
  g_free (worker);
}
