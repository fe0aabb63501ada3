/* outbox.c: a per-destination FIFO in front of ec_endpoint_send. A send to
 * a full queue (EC_BUS_ERROR_QUEUE_FULL) is not lost: it waits here, with
 * everything sent after it to the same module, and is retried from a short
 * timer, so the order per destination is kept. A destination that does not
 * exist drops the message (counted, logged once). */
#include "outbox.h"

#define RETRY_MS 1

struct _Outbox {
  EcPluginContext  *context;
  EcEndpoint       *endpoint;
  GHashTable       *queues;     /* module name -> GQueue of EcMessage* */
  guint             pending;
  guint             max_pending;
  guint64           dropped;
  guint             retry_id;
  gboolean          warned_full;
  GHashTable       *warned_unknown;
  OutboxDrainedFunc drained;
  gpointer          drained_data;
};

/* Frees one destination's queue and the messages in it. */
static void
queue_free (gpointer data)
{
  g_queue_free_full (data, (GDestroyNotify) ec_message_unref);
}

/* Creates an outbox sending from the context's endpoint; at most
 * max_pending messages wait (0: no limit), further ones are dropped. */
Outbox *
outbox_new (EcPluginContext *context, guint max_pending)
{
  Outbox *self = g_new0 (Outbox, 1);
  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  self->queues = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, queue_free);
  self->warned_unknown = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->max_pending = max_pending;
  return self;
}

/* Frees the outbox and drops what still waits in it. */
void
outbox_free (Outbox *self)
{
  if (!self)
    return;
  if (self->retry_id)
    g_source_remove (self->retry_id);
  g_hash_table_unref (self->queues);
  g_hash_table_unref (self->warned_unknown);
  g_free (self);
}

/* Tries one send. Returns FALSE only when the receiver's queue is full. */
static gboolean
try_send (Outbox *self, const char *module, EcMessage *message)
{
  g_autoptr (GError) error = NULL;

  if (ec_endpoint_send (self->endpoint, module, message, &error))
    return TRUE;
  if (g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL))
    return FALSE;
  self->dropped++;
  if (!g_hash_table_contains (self->warned_unknown, module))
    {
      g_hash_table_add (self->warned_unknown, g_strdup (module));
      ec_log_warning (self->context, "cannot send to %s: %s (further failures are not logged)",
                      module, error->message);
    }
  return TRUE;
}

static gboolean on_retry (gpointer data);

/* Arms the retry timer. */
static void
schedule_retry (Outbox *self)
{
  if (!self->retry_id)
    self->retry_id = g_timeout_add (RETRY_MS, on_retry, self);
}

/* Sends what waits, per destination, until a queue is full again. */
static gboolean
on_retry (gpointer data)
{
  Outbox *self = data;
  GHashTableIter iter;
  gpointer key, value;

  self->retry_id = 0;
  g_hash_table_iter_init (&iter, self->queues);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      GQueue *q = value;
      EcMessage *msg;
      while ((msg = g_queue_peek_head (q)))
        {
          if (!try_send (self, key, msg))
            break;
          g_queue_pop_head (q);
          ec_message_unref (msg);
          self->pending--;
        }
    }
  if (self->pending > 0)
    schedule_retry (self);
  else
    {
      self->warned_full = FALSE;
      if (self->drained)
        self->drained (self->drained_data);
    }
  return G_SOURCE_REMOVE;
}

/* Sends message (the outbox takes the reference) to module, after whatever
 * already waits for that module. */
void
outbox_send (Outbox *self, const char *module, EcMessage *message)
{
  GQueue *q = g_hash_table_lookup (self->queues, module);

  if ((!q || g_queue_is_empty (q)) && try_send (self, module, message))
    {
      ec_message_unref (message);
      return;
    }
  if (self->max_pending && self->pending >= self->max_pending)
    {
      self->dropped++;
      if (!self->warned_full)
        ec_log_warning (self->context, "%u messages wait for full bus queues; dropping new ones",
                        self->pending);
      self->warned_full = TRUE;
      ec_message_unref (message);
      return;
    }
  if (!q)
    {
      q = g_queue_new ();
      g_hash_table_insert (self->queues, g_strdup (module), q);
    }
  g_queue_push_tail (q, message);
  self->pending++;
  schedule_retry (self);
}

/* Number of messages waiting for room in a bus queue. */
guint
outbox_get_pending (Outbox *self)
{
  return self->pending;
}

/* Number of messages dropped (unknown destination or outbox full). */
guint64
outbox_get_dropped (Outbox *self)
{
  return self->dropped;
}

/* Sets the function called when the backlog has drained. */
void
outbox_set_drained (Outbox *self, OutboxDrainedFunc func, gpointer user_data)
{
  self->drained = func;
  self->drained_data = user_data;
}
