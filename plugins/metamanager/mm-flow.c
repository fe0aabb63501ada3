/* mm-flow.c: backpressure between the bus and the store's writer thread.
 *
 * Changes given to the store and not yet committed are "in flight". While
 * they are at the high-water mark ([metamanager] max-pending-writes changes
 * or max-pending-bytes bytes), or the store's writer has many jobs queued
 * by any plugin, metamanager applies nothing more: messages that arrive
 * wait in its own queue, unparsed and in order (every later message waits
 * behind them, so order is kept). Each committed batch lets the queue move
 * on. The queue is bounded ([metamanager] max-held-messages); a message
 * past the bound is answered with an error and never acked, so the cloud
 * sends it again. When nothing of metamanager's own is in flight (the
 * writer is behind on other plugins' jobs), a no-op job queued behind
 * theirs says when they are done: no timer polls.
 *
 * After a burst has drained, the writer connection's page cache and the
 * heap's free pages are given back to the system (sqlite3_db_release_memory,
 * glibc's malloc_trim). */
#include "mm-private.h"

#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#define STORE_JOBS_MARK  256      /* jobs of all plugins waiting for the writer */
#define TRIM_MIN_CHANGES 1024     /* a burst worth giving memory back after */
#define TRIM_DELAY_MS    250      /* ... once the writer stayed idle this long */
#define LOG_EVERY_US     (10 * G_USEC_PER_SEC) /* hold periods logged at most this often */

/* Whether the writer is at the high-water mark. */
static gboolean
over_mark (MetaManager *self)
{
  return self->inflight >= self->max_pending_writes
         || self->inflight_bytes >= self->max_pending_bytes
         || ec_store_get_pending_writes (self->store) >= STORE_JOBS_MARK;
}

/* On the writer thread: nothing; it only marks its place in the queue. */
static gboolean
barrier_job (sqlite3 *db, gpointer data, GError **error)
{
  return TRUE;
}

/* Back on the main loop: every job queued before the barrier is done. */
static void
barrier_done (const GError *error, gpointer data)
{
  MetaManager *self = data;
  self->barrier_pending = FALSE;
  mm_flow_resume (self);
}

/* Held messages wait while none of metamanager's own changes are in flight
 * (their commits would call mm_flow_resume): queues a barrier behind the
 * other plugins' jobs that keep the writer at its mark. */
static void
wait_for_writer (MetaManager *self)
{
  if (self->dead || self->barrier_pending || self->inflight > 0 || g_queue_is_empty (&self->held))
    return;
  self->barrier_pending = TRUE;
  ec_store_write (self->store, barrier_job, barrier_done, mm_ref (self),
                  (GDestroyNotify) mm_unref);
}

/**
 * mm_flow_hold:
 * @self: metamanager
 * @msg: a message just received
 *
 * Keeps @msg for later while the writer is at its mark or earlier messages
 * wait; past the queue's bound, answers it with an error instead.
 *
 * Returns: %TRUE if @msg was taken care of here, %FALSE to apply it now
 */
gboolean
mm_flow_hold (MetaManager *self, EcMessage *msg)
{
  if (g_queue_is_empty (&self->held) && !over_mark (self))
    return FALSE;
  if (self->held.length >= self->max_held)
    {
      g_autofree char *text = g_strdup_printf (
        "metamanager is busy: %u messages already wait for the database "
        "(max-held-messages); not stored, send it again later", self->held.length);
      self->n_refused++;
      if (g_strcmp0 (ec_message_get_operation (msg), EC_OP_RESPONSE) == 0)
        ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, msg, "response %s %s not stored: %s",
                        ec_message_get_id (msg), ec_message_get_resource (msg), text);
      else
        mm_reply_error (self, msg, text);
      return TRUE;
    }
  if (g_queue_is_empty (&self->held))
    {
      gint64 now = g_get_monotonic_time ();
      if (!self->hold_logged && (!self->hold_log_time || now - self->hold_log_time >= LOG_EVERY_US))
        {
          self->hold_logged = TRUE;
          self->hold_log_time = now;
          ec_log_info (self->context, "the database is behind: holding messages (%u changes, %"
                       G_GUINT64_FORMAT " bytes not yet committed; %u store jobs)",
                       self->inflight, self->inflight_bytes,
                       ec_store_get_pending_writes (self->store));
        }
    }
  g_queue_push_tail (&self->held, ec_message_ref (msg));
  self->n_held++;
  if (self->held.length > self->held_peak)
    self->held_peak = self->held.length;
  wait_for_writer (self);
  return TRUE;
}

/* On the writer thread: drops the connection's cached pages (only clean,
 * unused ones can go; the next burst reads them back from the OS cache). */
static gboolean
trim_job (sqlite3 *db, gpointer data, GError **error)
{
  sqlite3_db_release_memory (db);
  return TRUE;
}

/* Back on the main loop, after the batches' memory was freed. */
static void
trim_done (const GError *error, gpointer data)
{
#if defined(__GLIBC__)
  malloc_trim (0);
#endif
}

static gboolean
trim_timeout (gpointer data)
{
  MetaManager *self = data;
  self->trim_source = 0;
  if (self->dead || self->inflight > 0 || !g_queue_is_empty (&self->held))
    return G_SOURCE_REMOVE;
  self->since_trim = 0;
  ec_store_write (self->store, trim_job, trim_done, NULL, NULL);
  return G_SOURCE_REMOVE;
}

/**
 * mm_flow_resume:
 * @self: metamanager
 *
 * Applies held messages, oldest first, until the writer is at its mark
 * again; called after each committed batch. Once everything is committed
 * after a burst, schedules giving memory back.
 */
void
mm_flow_resume (MetaManager *self)
{
  EcMessage *msg;
  if (self->dead)
    return;
  while (!g_queue_is_empty (&self->held) && !over_mark (self))
    {
      msg = g_queue_pop_head (&self->held);
      mm_dispatch (self, msg);
      ec_message_unref (msg);
      if (g_queue_is_empty (&self->held) && self->hold_logged)
        {
          ec_log_info (self->context, "the database caught up: %" G_GUINT64_FORMAT " messages "
                       "were held (at most %u at once, at most %u changes in flight), %"
                       G_GUINT64_FORMAT " refused", self->n_held, self->held_peak,
                       self->inflight_peak, self->n_refused);
          self->hold_logged = FALSE;
          self->n_held = self->n_refused = 0;
          self->held_peak = self->inflight_peak = 0;
        }
    }
  wait_for_writer (self);
  if (self->inflight == 0 && g_queue_is_empty (&self->held)
      && self->since_trim >= TRIM_MIN_CHANGES && !self->trim_source)
    self->trim_source = g_timeout_add (TRIM_DELAY_MS, trim_timeout, self);
}

/* Drops the held messages (at stop): they were never applied nor acked, so
 * the cloud sends them again. */
void
mm_flow_clear (MetaManager *self)
{
  if (self->held.length > 0)
    ec_log_message (self->context, "%u held messages not applied (never acked: the cloud "
                    "sends them again)", self->held.length);
  g_queue_clear_full (&self->held, (GDestroyNotify) ec_message_unref);
  g_clear_handle_id (&self->trim_source, g_source_remove);
}
