/* bus.c: the in-process message bus.
 *
 * Every member has one bounded FIFO queue of frozen, shared messages. A send
 * only appends to the receivers' queues; one GSource on the main loop later
 * delivers them, a batch per member in turn, so a handler is never entered
 * from inside a send and the order from one sender to one receiver holds.
 * Sync calls are kept in a table keyed by the request's msg_id and in a
 * min-heap of deadlines; the same GSource completes them (reply, timeout or
 * send error), always from the main loop.
 *
 * Flow control: a waiting send (ec_endpoint_send_when_ready) that meets a
 * full queue is kept in a Wait, the sender's FIFO for that one receiver;
 * the receiver keeps its Waits with messages in a round-robin list and
 * takes from them whenever a delivered batch made room. A paused member is
 * not delivered to; its queue fills and its senders wait.
 *
 * Sends from other threads: the queues belong to the main loop's thread.
 * Another thread takes bus->lock (which also guards the name tables against
 * add/remove), checks the receiver's queue length as the main loop last
 * published it, and appends to the receiver's `remote` list, bounded by the
 * same limit; the main loop moves those into the queue as room allows. */
#include "config.h"

#include "bus.h"

#include <glib/gi18n.h>
#include <string.h>

#define BATCH_PER_MEMBER   64     /* messages one member gets before the next */
#define BATCH_PER_DISPATCH 8192   /* then other main-loop sources get a turn */

#define WAIT_LIMIT_FACTOR  64     /* a sender's waiting messages per receiver, per queue slot */

typedef struct _Member Member;
typedef struct _Call Call;
typedef struct _SendOp SendOp;
typedef struct _Wait Wait;

struct _Member {
  EcEndpoint   *ep;            /* built by the library; its data is this member */
  const char   *name;          /* the endpoint's */
  const char   *group;
  EcBus        *bus;
  EcBusHandler  handler;
  gpointer      handler_data;
  EcMessage   **ring;
  guint         cap;           /* a power of two */
  guint         head;
  guint         len;
  guint         len_seen;      /* len as published to other threads (atomic) */
  gboolean      scheduled;
  gboolean      removed;       /* written under bus->lock */
  gboolean      paused;
  Member       *next_ready;
  guint64       in, out, dropped, unroutable;
  /* flow control, main loop only */
  GHashTable   *waits;         /* receiving Member* -> Wait*, made on first need */
  guint         n_waiting;     /* messages this member has waiting, all receivers */
  GQueue        waiters;       /* Wait* holding messages for this member, in turn */
  /* sends from other threads, under bus->lock */
  GQueue        remote;        /* Remote*, for this member */
  gint          n_remote;      /* remote.length, also read without the lock (atomic) */
  guint64       remote_dropped, remote_unroutable;
};

/* A waiting send whose sender wants to know the outcome. */
struct _SendOp {
  Member        *sender;
  EcMessage     *msg;
  EcSendDoneFunc callback;
  gpointer       user_data;
  GDestroyNotify destroy;
  guint          pending;      /* receivers it still waits for, +1 while being sent */
  GPtrArray     *failed;       /* names of the receivers that did not get it */
  gint           code;         /* the EcBusError of the first failure */
};

typedef struct {
  EcMessage *msg;
  SendOp    *op;               /* nullable */
} WaitItem;

/* The messages from one sender waiting for room in one receiver's queue. */
struct _Wait {
  Member   *from, *to;
  GQueue    items;             /* WaitItem*, oldest first */
  gboolean  linked;            /* in to->waiters */
};

typedef struct {
  Member    *from;
  EcMessage *msg;
} Remote;

struct _Call {
  char          *msg_id;
  Member        *caller;
  EcReplyFunc    callback;
  gpointer       user_data;
  GDestroyNotify destroy;
  gint64         deadline;     /* monotonic, µs */
  guint          heap_index;
  EcMessage     *reply;
  GError        *error;
  Call          *next_done;
};

struct _EcBus {
  GSource       *source;
  GMainContext  *context;
  const char    *owner;        /* the main loop's thread: its thread_mark */
  guint          queue_limit;
  GHashTable    *members;      /* name -> Member */
  GHashTable    *groups;       /* group -> GPtrArray of Member */
  GPtrArray     *all;          /* members in order of registration */
  GPtrArray     *removed;      /* freed with the bus: a handler may still run */
  Member        *ready_head, *ready_tail;
  GHashTable    *calls;        /* msg_id -> Call */
  GPtrArray     *heap;         /* Call*, by deadline */
  Call          *done_head, *done_tail;
  GQueue         sent;         /* SendOp* done, their callbacks to run */
  guint64        unroutable;
  guint          wait_limit;   /* per sender and receiver */
  GMutex         lock;         /* name tables (writes), remote lists */
  gint           remote_ready; /* another thread queued something (atomic) */
  guint64        remote_unroutable;
};

/* One byte per thread: its address tells the threads apart, more cheaply
 * than g_thread_self() on every send. */
static _Thread_local char thread_mark;

static inline gboolean
on_owner_thread (EcBus *bus)
{
  return bus->owner == &thread_mark;
}

/* Publishes a member's queue length to other threads' sends. */
#define PUBLISH_LEN(m) __atomic_store_n (&(m)->len_seen, (m)->len, __ATOMIC_RELAXED)

typedef struct {
  GSource source;
  EcBus  *bus;
} BusSource;

static const EcEndpointOps bus_ops;

#define MEMBER(endpoint) ((Member *) ec_host_endpoint_get_data (endpoint))

/* ---- the deadline heap ------------------------------------------------ */

static void
heap_swap (GPtrArray *h, guint a, guint b)
{
  Call *ca = h->pdata[a], *cb = h->pdata[b];
  h->pdata[a] = cb;
  h->pdata[b] = ca;
  cb->heap_index = a;
  ca->heap_index = b;
}

static void
heap_up (GPtrArray *h, guint i)
{
  while (i > 0)
    {
      guint parent = (i - 1) / 2;
      if (((Call *) h->pdata[parent])->deadline <= ((Call *) h->pdata[i])->deadline)
        break;
      heap_swap (h, i, parent);
      i = parent;
    }
}

static void
heap_down (GPtrArray *h, guint i)
{
  for (;;)
    {
      guint l = 2 * i + 1, r = l + 1, min = i;
      if (l < h->len && ((Call *) h->pdata[l])->deadline < ((Call *) h->pdata[min])->deadline)
        min = l;
      if (r < h->len && ((Call *) h->pdata[r])->deadline < ((Call *) h->pdata[min])->deadline)
        min = r;
      if (min == i)
        return;
      heap_swap (h, i, min);
      i = min;
    }
}

static void
heap_push (GPtrArray *h, Call *call)
{
  call->heap_index = h->len;
  g_ptr_array_add (h, call);
  heap_up (h, call->heap_index);
}

static void
heap_remove (GPtrArray *h, Call *call)
{
  guint i = call->heap_index, last = h->len - 1;
  if (i != last)
    {
      heap_swap (h, i, last);
      g_ptr_array_set_size (h, last);
      heap_down (h, i);
      heap_up (h, i);
    }
  else
    g_ptr_array_set_size (h, last);
}

/* ---- calls ------------------------------------------------------------ */

static void
call_free (Call *call)
{
  if (call->destroy)
    call->destroy (call->user_data);
  if (call->reply)
    ec_message_unref (call->reply);
  g_clear_error (&call->error);
  g_free (call->msg_id);
  g_free (call);
}

/* Takes the call out of the heap (and, unless the caller already stole it,
 * out of the table) and queues its completion. */
static void
call_finish (EcBus *bus, Call *call, gboolean in_table, EcMessage *reply, GError *error)
{
  if (in_table)
    g_hash_table_steal (bus->calls, call->msg_id);
  heap_remove (bus->heap, call);
  call->reply = reply;
  call->error = error;
  call->next_done = NULL;
  if (bus->done_tail)
    bus->done_tail->next_done = call;
  else
    bus->done_head = call;
  bus->done_tail = call;
}

static void
run_completions (EcBus *bus)
{
  while (bus->done_head)
    {
      Call *call = bus->done_head;
      bus->done_head = call->next_done;
      if (!bus->done_head)
        bus->done_tail = NULL;
      if (!call->caller->removed)
        {
          if (call->reply)
            call->caller->in++;
          call->callback (call->reply, call->error, call->user_data);
        }
      call_free (call);
    }
}

static void
expire_calls (EcBus *bus, gint64 now)
{
  while (bus->heap->len > 0)
    {
      Call *call = bus->heap->pdata[0];
      if (call->deadline > now)
        break;
      call_finish (bus, call, TRUE, NULL,
                   g_error_new (EC_BUS_ERROR, EC_BUS_ERROR_TIMEOUT,
                                _("no reply to message %s within the timeout"), call->msg_id));
    }
}

/* ---- queues ----------------------------------------------------------- */

static void
member_schedule (EcBus *bus, Member *m)
{
  m->scheduled = TRUE;
  m->next_ready = NULL;
  if (bus->ready_tail)
    bus->ready_tail->next_ready = m;
  else
    bus->ready_head = m;
  bus->ready_tail = m;
}

/* A drained member's queue with more slots is freed (ec_bus_compact). */
#define RING_KEEP 1024

/* Appends msg (the caller's reference is taken) to m's queue, which has
 * room. */
static inline void
ring_append (Member *m, EcMessage *msg)
{
  if (m->len == m->cap)
    {
      guint new_cap = m->cap ? m->cap * 2 : 16;
      EcMessage **ring = g_new (EcMessage *, new_cap);
      for (guint i = 0; i < m->len; i++)
        ring[i] = m->ring[(m->head + i) & (m->cap - 1)];
      g_free (m->ring);
      m->ring = ring;
      m->cap = new_cap;
      m->head = 0;
    }
  m->ring[(m->head + m->len) & (m->cap - 1)] = msg;
  m->len++;
  PUBLISH_LEN (m);
  if (!m->scheduled && !m->paused)
    member_schedule (m->bus, m);
}

static gboolean
member_push (Member *m, EcMessage *msg)
{
  if (m->len >= m->bus->queue_limit || m->removed)
    {
      m->dropped++;
      return FALSE;
    }
  ring_append (m, ec_message_ref (msg));
  return TRUE;
}

/* ---- waiting sends ------------------------------------------------------ */

static void
send_op_free (SendOp *op)
{
  if (op->destroy)
    op->destroy (op->user_data);
  if (op->failed)
    g_ptr_array_unref (op->failed);
  ec_message_unref (op->msg);
  g_free (op);
}

/* One receiver is done with op (failed_to: the receiver that did not get
 * it, with why); the last one queues op's callback. */
static void
send_op_step (EcBus *bus, SendOp *op, Member *failed_to, EcBusError code)
{
  if (failed_to)
    {
      if (!op->failed)
        {
          op->failed = g_ptr_array_new_with_free_func (g_free);
          op->code = code;
        }
      g_ptr_array_add (op->failed, g_strdup (failed_to->name));
    }
  if (--op->pending == 0)
    g_queue_push_tail (&bus->sent, op);
}

/* Runs the callbacks of the waiting sends that are done, unless their
 * sender left the bus. */
static void
run_sent (EcBus *bus)
{
  SendOp *op;
  while ((op = g_queue_pop_head (&bus->sent)))
    {
      if (!op->sender->removed)
        {
          g_autoptr (GError) error = NULL;
          if (op->failed)
            {
              g_autofree char *names = NULL;
              g_ptr_array_add (op->failed, NULL);
              names = g_strjoinv (", ", (char **) op->failed->pdata);
              error = g_error_new (EC_BUS_ERROR, op->code,
                                   op->code == EC_BUS_ERROR_CLOSED
                                   ? _("message %s not delivered: %s left the bus")
                                   : _("message %s not delivered: too many messages wait for %s"),
                                   ec_message_get_id (op->msg), names);
            }
          op->callback (op->sender->ep, op->msg, error, op->user_data);
        }
      send_op_free (op);
    }
}

static void
wait_item_drop (EcBus *bus, WaitItem *it, Member *failed_to)
{
  ec_message_unref (it->msg);
  if (it->op)
    send_op_step (bus, it->op, failed_to, EC_BUS_ERROR_CLOSED);
  g_free (it);
}

static void
wait_free (gpointer data)
{
  Wait *w = data;
  g_assert (w->items.length == 0);
  g_free (w);
}

/* Moves what other threads sent to m into its queue, as room allows. */
static void
fill_remote (Member *m)
{
  EcBus *bus = m->bus;
  g_mutex_lock (&bus->lock);
  while (m->len < bus->queue_limit && m->remote.length > 0)
    {
      Remote *r = g_queue_pop_head (&m->remote);
      g_atomic_int_add (&m->n_remote, -1);
      ring_append (m, r->msg);
      r->from->out++;
      g_free (r);
    }
  g_mutex_unlock (&bus->lock);
}

/* Fills the room in m's queue: first with what other threads sent, then
 * with the waiting sends, one message from each sender in turn. */
static void
member_fill (Member *m)
{
  EcBus *bus = m->bus;
  if (G_UNLIKELY (g_atomic_int_get (&m->n_remote) > 0))
    fill_remote (m);
  while (m->len < bus->queue_limit && m->waiters.length > 0)
    {
      Wait *w = g_queue_pop_head (&m->waiters);
      WaitItem *it = g_queue_pop_head (&w->items);
      ring_append (m, it->msg);
      w->from->n_waiting--;
      w->from->out++;
      if (it->op)
        send_op_step (bus, it->op, NULL, 0);
      g_free (it);
      if (w->items.length > 0)
        g_queue_push_tail (&m->waiters, w);
      else
        w->linked = FALSE;
    }
}

/* The sender's waiting queue for to, when it holds messages. */
static inline Wait *
waiting_for (Member *from, Member *to)
{
  Wait *w;
  if (G_LIKELY (from->n_waiting == 0))
    return NULL;
  w = g_hash_table_lookup (from->waits, to);
  return w && w->items.length > 0 ? w : NULL;
}

/* Takes the waiting messages off the bus when their receiver or their
 * sender leaves: the senders of the former are told (CLOSED), the latter
 * is not (it is gone). */
static void
drop_waiting (EcBus *bus, Member *m)
{
  GHashTableIter it;
  gpointer value;
  while (m->waiters.length > 0)
    {
      Wait *w = g_queue_pop_head (&m->waiters);
      w->linked = FALSE;
      while (w->items.length > 0)
        {
          w->from->n_waiting--;
          wait_item_drop (bus, g_queue_pop_head (&w->items), m);
        }
    }
  if (!m->waits)
    return;
  g_hash_table_iter_init (&it, m->waits);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Wait *w = value;
      if (w->linked)
        g_queue_remove (&w->to->waiters, w);
      w->linked = FALSE;
      while (w->items.length > 0)
        wait_item_drop (bus, g_queue_pop_head (&w->items), w->to);
    }
  m->n_waiting = 0;
}

static void
deliver_batch (EcBus *bus, guint *budget)
{
  while (bus->ready_head && *budget > 0)
    {
      Member *m = bus->ready_head;
      guint n;
      bus->ready_head = m->next_ready;
      if (!bus->ready_head)
        bus->ready_tail = NULL;
      m->scheduled = FALSE;
      n = MIN (m->len, BATCH_PER_MEMBER);
      for (guint i = 0; i < n && !m->removed && !m->paused; i++)
        {
          EcMessage *msg = m->ring[m->head];
          m->head = (m->head + 1) & (m->cap - 1);
          m->len--;
          PUBLISH_LEN (m);
          m->in++;
          m->handler (m->handler_data, msg);
          ec_message_unref (msg);
          (*budget)--;
        }
      if (!m->removed)
        {
          member_fill (m);
          if (m->len > 0 && !m->paused && !m->scheduled)
            member_schedule (bus, m);
        }
      run_completions (bus);
      run_sent (bus);
    }
}

/* Moves what other threads queued into the receivers' queues. */
static void
take_remote (EcBus *bus)
{
  if (G_LIKELY (!g_atomic_int_get (&bus->remote_ready)))
    return;
  g_atomic_int_set (&bus->remote_ready, 0);
  for (guint i = 0; i < bus->all->len; i++)
    {
      Member *m = bus->all->pdata[i];
      if (g_atomic_int_get (&m->n_remote) > 0)
        fill_remote (m);
    }
}

/* ---- the GSource ------------------------------------------------------ */

static gboolean
bus_source_prepare (GSource *source, gint *timeout)
{
  EcBus *bus = ((BusSource *) source)->bus;
  if (bus->ready_head || bus->done_head || bus->sent.length || g_atomic_int_get (&bus->remote_ready))
    {
      *timeout = 0;
      return TRUE;
    }
  if (bus->heap->len > 0)
    {
      gint64 wait = ((Call *) bus->heap->pdata[0])->deadline - g_source_get_time (source);
      if (wait <= 0)
        {
          *timeout = 0;
          return TRUE;
        }
      *timeout = (gint) MIN ((wait + 999) / 1000, G_MAXINT);
      return FALSE;
    }
  *timeout = -1;
  return FALSE;
}

static gboolean
bus_source_check (GSource *source)
{
  EcBus *bus = ((BusSource *) source)->bus;
  return bus->ready_head || bus->done_head || bus->sent.length
         || g_atomic_int_get (&bus->remote_ready)
         || (bus->heap->len > 0
             && ((Call *) bus->heap->pdata[0])->deadline <= g_source_get_time (source));
}

static gboolean
bus_source_dispatch (GSource *source, GSourceFunc unused, gpointer unused2)
{
  EcBus *bus = ((BusSource *) source)->bus;
  guint budget = BATCH_PER_DISPATCH;
  run_completions (bus);
  run_sent (bus);
  take_remote (bus);
  deliver_batch (bus, &budget);
  expire_calls (bus, g_get_monotonic_time ());
  run_completions (bus);
  run_sent (bus);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs bus_source_funcs = {
  bus_source_prepare, bus_source_check, bus_source_dispatch, NULL, NULL, NULL,
};

/* ---- the bus ------------------------------------------------------------ */

static void
member_drain (Member *m)
{
  while (m->len > 0)
    {
      ec_message_unref (m->ring[m->head]);
      m->head = (m->head + 1) & (m->cap - 1);
      m->len--;
    }
  PUBLISH_LEN (m);
}

/* Drops what other threads queued for m; under bus->lock. */
static void
member_drop_remote (Member *m)
{
  Remote *r;
  while ((r = g_queue_pop_head (&m->remote)))
    {
      ec_message_unref (r->msg);
      g_free (r);
    }
  g_atomic_int_set (&m->n_remote, 0);
}

static void
member_free (gpointer data)
{
  Member *m = data;
  member_drain (m);
  member_drop_remote (m);
  if (m->waits)
    g_hash_table_unref (m->waits);
  g_free (m->ring);
  ec_host_endpoint_free (m->ep);
  g_free (m);
}

/* Creates a bus whose deliveries run on context. Each member queues at most
 * queue_limit messages; a sender's waiting sends hold at most 64 times that
 * for one receiver. */
EcBus *
ec_bus_new (GMainContext *context, guint queue_limit)
{
  EcBus *bus = g_new0 (EcBus, 1);
  BusSource *src;
  bus->context = context ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  bus->owner = &thread_mark;
  bus->queue_limit = CLAMP (queue_limit, 1, G_MAXINT32);
  bus->wait_limit = (guint) MIN ((guint64) bus->queue_limit * WAIT_LIMIT_FACTOR, G_MAXINT32);
  g_mutex_init (&bus->lock);
  bus->members = g_hash_table_new (g_str_hash, g_str_equal);
  bus->groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) g_ptr_array_unref);
  bus->all = g_ptr_array_new ();
  bus->removed = g_ptr_array_new_with_free_func (member_free);
  bus->calls = g_hash_table_new (g_str_hash, g_str_equal);
  bus->heap = g_ptr_array_new ();
  src = (BusSource *) g_source_new (&bus_source_funcs, sizeof (BusSource));
  src->bus = bus;
  bus->source = (GSource *) src;
  g_source_set_name (bus->source, "edgecore bus");
  g_source_set_priority (bus->source, G_PRIORITY_DEFAULT);
  g_source_attach (bus->source, bus->context);
  return bus;
}

/* Frees the bus, its members and any calls still waiting (their callbacks
 * do not run; their user data is destroyed), and so for waiting sends. */
void
ec_bus_free (EcBus *bus)
{
  GHashTableIter it;
  gpointer value;
  if (!bus)
    return;
  g_source_destroy (bus->source);
  g_source_unref (bus->source);
  g_hash_table_iter_init (&it, bus->calls);
  while (g_hash_table_iter_next (&it, NULL, &value))
    call_free (value);
  while (bus->done_head)
    {
      Call *c = bus->done_head;
      bus->done_head = c->next_done;
      call_free (c);
    }
  /* every sender leaves: no send callback runs */
  for (guint i = 0; i < bus->all->len; i++)
    ((Member *) bus->all->pdata[i])->removed = TRUE;
  for (guint i = 0; i < bus->all->len; i++)
    drop_waiting (bus, bus->all->pdata[i]);
  g_queue_clear_full (&bus->sent, (GDestroyNotify) send_op_free);
  g_hash_table_unref (bus->calls);
  g_ptr_array_unref (bus->heap);
  for (guint i = 0; i < bus->all->len; i++)
    member_free (bus->all->pdata[i]);
  g_ptr_array_unref (bus->all);
  g_ptr_array_unref (bus->removed);
  g_hash_table_unref (bus->members);
  g_hash_table_unref (bus->groups);
  g_main_context_unref (bus->context);
  g_mutex_clear (&bus->lock);
  g_free (bus);
}

/* Registers a member under a module name and a group. Its messages reach
 * handler on the main loop. Fails if the name is taken. */
EcEndpoint *
ec_bus_add_member (EcBus *bus, const char *name, const char *group,
                   EcBusHandler handler, gpointer handler_data, GError **error)
{
  Member *m;
  GPtrArray *members;
  g_return_val_if_fail (bus != NULL && name != NULL && handler != NULL, NULL);
  if (g_hash_table_contains (bus->members, name))
    {
      g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED,
                   _("bus name “%s” is already registered"), name);
      return NULL;
    }
  m = g_new0 (Member, 1);
  m->ep = ec_host_endpoint_new (&bus_ops, m, name, group);
  m->name = ec_endpoint_get_name (m->ep);
  m->group = ec_endpoint_get_group (m->ep);
  m->bus = bus;
  m->handler = handler;
  m->handler_data = handler_data;
  g_mutex_lock (&bus->lock);
  g_hash_table_insert (bus->members, (gpointer) m->name, m);
  members = g_hash_table_lookup (bus->groups, m->group);
  if (!members)
    {
      members = g_ptr_array_new ();
      g_hash_table_insert (bus->groups, g_strdup (m->group), members);
    }
  g_ptr_array_add (members, m);
  g_ptr_array_add (bus->all, m);
  g_mutex_unlock (&bus->lock);
  return m->ep;
}

/* Takes a member off the bus: its queued messages are dropped, and its
 * pending calls end without their callbacks, and so do its waiting sends;
 * the waiting sends of others to it end with EC_BUS_ERROR_CLOSED. Its
 * endpoint stays valid (all sends fail) until the bus is freed. */
void
ec_bus_remove_member (EcBus *bus, EcEndpoint *endpoint)
{
  Member *m = MEMBER (endpoint);
  GPtrArray *members;
  GHashTableIter it;
  gpointer value;
  g_return_if_fail (bus != NULL && endpoint != NULL);
  if (m->removed)
    return;
  g_mutex_lock (&bus->lock);
  m->removed = TRUE;
  g_hash_table_remove (bus->members, m->name);
  members = g_hash_table_lookup (bus->groups, m->group);
  if (members)
    {
      g_ptr_array_remove (members, m);
      if (members->len == 0)
        g_hash_table_remove (bus->groups, m->group);
    }
  g_ptr_array_remove (bus->all, m);
  member_drop_remote (m);
  g_mutex_unlock (&bus->lock);
  member_drain (m);
  drop_waiting (bus, m);
  g_hash_table_iter_init (&it, bus->calls);
  while (g_hash_table_iter_next (&it, NULL, &value))
    {
      Call *call = value;
      if (call->caller == m)
        {
          g_hash_table_iter_steal (&it);
          heap_remove (bus->heap, call);
          call_free (call);
        }
    }
  /* unlink from the ready list; dispatch skips removed members anyway */
  if (m->scheduled)
    {
      Member **pp = &bus->ready_head;
      Member *prev = NULL;
      while (*pp && *pp != m)
        {
          prev = *pp;
          pp = &(*pp)->next_ready;
        }
      if (*pp)
        {
          *pp = m->next_ready;
          if (bus->ready_tail == m)
            bus->ready_tail = prev;
        }
      m->scheduled = FALSE;
    }
  g_ptr_array_add (bus->removed, m);
}

/* ---- the endpoint operations -------------------------------------------- */

/* Queues func on the bus's main context. Unlike g_main_context_invoke() it
 * never runs func at once in the calling thread, even when that thread could
 * acquire the context. */
static void
run_on_main (EcBus *bus, GSourceFunc func, gpointer data)
{
  GSource *idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, func, data, NULL);
  g_source_attach (idle, bus->context);
  g_source_unref (idle);
}

static gboolean
unknown_destination (Member *sender, gboolean group, const char *target, GError **error)
{
  sender->unroutable++;
  sender->bus->unroutable++;
  if (group)
    g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION,
                 _("no bus group named “%s”"), target);
  else
    g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION,
                 _("no bus module named “%s”"), target);
  return FALSE;
}

static gboolean
left_the_bus (Member *sender, GError **error)
{
  g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED,
               _("bus member “%s” has left the bus"), sender->name);
  return FALSE;
}

static gboolean
group_all_full (const char *target, EcMessage *msg, GError **error)
{
  g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL,
               _("every queue in “%s” is full; message %s dropped"),
               target ? target : "*", ec_message_get_id (msg));
  return FALSE;
}

static gboolean
module_full (EcBus *bus, const char *target, EcMessage *msg, GError **error)
{
  g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL,
               _("queue of “%s” is full (%u messages); message %s dropped"),
               target, bus->queue_limit, ec_message_get_id (msg));
  return FALSE;
}

/* A send from another thread than the main loop's: checked against the
 * receivers' queue length as last published, queued on their remote lists
 * (bounded by the same limit), moved into their queues by the main loop. */
static gboolean
remote_send (Member *sender, EcSendKind kind, const char *target, EcMessage *msg,
             guint *n_delivered, GPtrArray *dropped, GError **error)
{
  EcBus *bus = sender->bus;
  Member *one = NULL;
  GPtrArray *to = NULL;
  guint n = 0, full = 0, count;
  gboolean ok = TRUE;

  ec_message_freeze (msg);
  g_mutex_lock (&bus->lock);
  if (sender->removed)
    {
      g_mutex_unlock (&bus->lock);
      return left_the_bus (sender, error);
    }
  if (kind == EC_SEND_MODULE)
    one = g_hash_table_lookup (bus->members, target);
  else
    to = kind == EC_SEND_GROUP ? g_hash_table_lookup (bus->groups, target) : bus->all;
  if ((kind == EC_SEND_MODULE && !one) || (kind == EC_SEND_GROUP && (!to || to->len == 0)))
    {
      sender->remote_unroutable++;
      bus->remote_unroutable++;
      g_mutex_unlock (&bus->lock);
      if (kind == EC_SEND_GROUP)
        g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION,
                     _("no bus group named “%s”"), target);
      else
        g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION,
                     _("no bus module named “%s”"), target);
      return FALSE;
    }
  count = one ? 1 : to->len;
  for (guint i = 0; i < count; i++)
    {
      Member *m = one ? one : to->pdata[i];
      guint seen = __atomic_load_n (&m->len_seen, __ATOMIC_RELAXED);
      Remote *r;
      if (kind == EC_SEND_BROADCAST && m == sender)
        continue;
      if (seen + m->remote.length >= bus->queue_limit)
        {
          m->remote_dropped++;
          full++;
          if (dropped)
            g_ptr_array_add (dropped, g_strdup (m->name));
          continue;
        }
      r = g_new (Remote, 1);
      r->from = sender;
      r->msg = ec_message_ref (msg);
      g_queue_push_tail (&m->remote, r);
      g_atomic_int_inc (&m->n_remote);
      n++;
    }
  if (n > 0)
    g_atomic_int_set (&bus->remote_ready, 1);
  g_mutex_unlock (&bus->lock);
  if (n > 0)
    g_main_context_wakeup (bus->context);
  if (n_delivered)
    *n_delivered = n;
  if (n == 0 && full > 0)
    ok = one ? module_full (bus, target, msg, error) : group_all_full (target, msg, error);
  return ok;
}

static gboolean
bus_send_full (EcEndpoint *ep, EcSendKind kind, const char *target, EcMessage *msg,
               guint *n_delivered, GPtrArray *dropped, GError **error)
{
  Member *sender = MEMBER (ep);
  EcBus *bus = sender->bus;
  guint n = 0;

  if (G_UNLIKELY (!on_owner_thread (bus)))
    return remote_send (sender, kind, target, msg, n_delivered, dropped, error);
  if (G_UNLIKELY (sender->removed))
    return left_the_bus (sender, error);
  ec_message_freeze (msg);

  if (kind == EC_SEND_MODULE)
    {
      Member *to = g_hash_table_lookup (bus->members, target);
      if (G_UNLIKELY (!to))
        return unknown_destination (sender, FALSE, target, error);
      if (G_UNLIKELY (waiting_for (sender, to)))
        {
          /* earlier messages wait for room: this one must not overtake them */
          to->dropped++;
          g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL,
                       _("messages to “%s” already wait for room; message %s dropped"),
                       target, ec_message_get_id (msg));
          return FALSE;
        }
      if (G_UNLIKELY (!member_push (to, msg)))
        return module_full (bus, target, msg, error);
      sender->out++;
      if (n_delivered)
        *n_delivered = 1;
      return TRUE;
    }

  GPtrArray *to = kind == EC_SEND_GROUP ? g_hash_table_lookup (bus->groups, target) : bus->all;
  guint full = 0;
  if (!to || to->len == 0)
    {
      if (kind == EC_SEND_GROUP)
        return unknown_destination (sender, TRUE, target, error);
      to = NULL;
    }
  for (guint i = 0; to && i < to->len; i++)
    {
      Member *m = to->pdata[i];
      gboolean ok;
      if (kind == EC_SEND_BROADCAST && m == sender)
        continue;
      if (G_UNLIKELY (waiting_for (sender, m)))
        {
          m->dropped++;
          ok = FALSE;
        }
      else
        ok = member_push (m, msg);
      if (ok)
        n++;
      else
        {
          full++;
          if (dropped)
            g_ptr_array_add (dropped, g_strdup (m->name));
        }
    }
  sender->out += n;
  if (n_delivered)
    *n_delivered = n;
  if (n == 0 && full > 0)
    return group_all_full (target, msg, error);
  return TRUE;
}

static gboolean
bus_send (EcEndpoint *ep, EcSendKind kind, const char *target, EcMessage *msg,
          guint *n_delivered, GError **error)
{
  return bus_send_full (ep, kind, target, msg, n_delivered, NULL, error);
}

/* Queues msg for to, or has it wait for room behind the sender's earlier
 * waiting messages to to. Returns FALSE when too many already wait. */
static gboolean
send_or_wait (Member *sender, Member *to, EcMessage *msg, SendOp *op)
{
  EcBus *bus = sender->bus;
  Wait *w = sender->waits ? g_hash_table_lookup (sender->waits, to) : NULL;
  WaitItem *it;

  if ((!w || w->items.length == 0) && to->len < bus->queue_limit)
    {
      ring_append (to, ec_message_ref (msg));
      sender->out++;
      return TRUE;
    }
  if (!w)
    {
      if (!sender->waits)
        sender->waits = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, wait_free);
      w = g_new0 (Wait, 1);
      w->from = sender;
      w->to = to;
      g_hash_table_insert (sender->waits, to, w);
    }
  if (w->items.length >= bus->wait_limit)
    {
      to->dropped++;
      if (op)
        {
          op->pending++;
          send_op_step (bus, op, to, EC_BUS_ERROR_QUEUE_FULL);
        }
      return FALSE;
    }
  it = g_new (WaitItem, 1);
  it->msg = ec_message_ref (msg);
  it->op = op;
  if (op)
    op->pending++;
  g_queue_push_tail (&w->items, it);
  sender->n_waiting++;
  if (!w->linked)
    {
      w->linked = TRUE;
      g_queue_push_tail (&to->waiters, w);
    }
  return TRUE;
}

static gboolean
bus_send_when_ready (EcEndpoint *ep, EcSendKind kind, const char *target, EcMessage *msg,
                     EcSendDoneFunc cb, gpointer user_data, GDestroyNotify destroy,
                     GError **error)
{
  Member *sender = MEMBER (ep);
  EcBus *bus = sender->bus;
  GPtrArray *to = NULL;
  Member *one = NULL;
  SendOp *op = NULL;
  guint n = 0, count;
  g_autoptr (GString) full = NULL;

  if (!cb && destroy)
    {
      destroy (user_data);
      destroy = NULL;
    }
  if (G_UNLIKELY (!on_owner_thread (bus)))
    {
      g_critical ("ec_endpoint_send_when_ready() called outside the main loop's thread");
      g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED,
                   _("waiting sends must be made from the main loop"));
      goto refused;
    }
  if (G_UNLIKELY (sender->removed))
    {
      left_the_bus (sender, error);
      goto refused;
    }
  ec_message_freeze (msg);
  if (kind == EC_SEND_MODULE)
    one = g_hash_table_lookup (bus->members, target);
  else
    to = g_hash_table_lookup (bus->groups, target);
  if (!one && (!to || to->len == 0))
    {
      unknown_destination (sender, kind != EC_SEND_MODULE, target, error);
      goto refused;
    }
  if (cb)
    {
      op = g_new0 (SendOp, 1);
      op->sender = sender;
      op->msg = ec_message_ref (msg);
      op->callback = cb;
      op->user_data = user_data;
      op->destroy = destroy;
      op->pending = 1;   /* until every receiver was tried */
    }
  count = one ? 1 : to->len;
  for (guint i = 0; i < count; i++)
    {
      Member *m = one ? one : to->pdata[i];
      if (send_or_wait (sender, m, msg, op))
        n++;
      else
        {
          if (!full)
            full = g_string_new (NULL);
          else
            g_string_append (full, ", ");
          g_string_append (full, m->name);
        }
    }
  if (n == 0)
    {
      g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL,
                   _("too many messages already wait for %s; message %s dropped"),
                   full->str, ec_message_get_id (msg));
      if (op)
        {
          op->callback = NULL;
          op->sender = NULL;
          send_op_free (op);
        }
      return FALSE;
    }
  if (op)
    send_op_step (bus, op, NULL, 0);
  return TRUE;

refused:
  if (destroy)
    destroy (user_data);
  return FALSE;
}

static guint
bus_get_waiting (EcEndpoint *ep, const char *module)
{
  Member *sender = MEMBER (ep);
  Member *to;
  Wait *w;
  if (!module)
    return sender->n_waiting;
  to = g_hash_table_lookup (sender->bus->members, module);
  if (!to || !sender->waits)
    return 0;
  w = g_hash_table_lookup (sender->waits, to);
  return w ? w->items.length : 0;
}

static void
bus_set_paused (EcEndpoint *ep, gboolean paused)
{
  Member *m = MEMBER (ep);
  if (G_UNLIKELY (!on_owner_thread (m->bus)))
    {
      g_critical ("ec_endpoint_pause() or ec_endpoint_resume() called outside the main loop's thread");
      return;
    }
  m->paused = paused;
  if (!paused && !m->removed && !m->scheduled && m->len > 0)
    member_schedule (m->bus, m);
}

static gboolean
bus_is_paused (EcEndpoint *ep)
{
  return MEMBER (ep)->paused;
}

typedef struct {
  EcEndpoint    *ep;
  char          *module;
  EcMessage     *msg;
  guint          timeout_ms;
  EcReplyFunc    cb;
  gpointer       user_data;
  GDestroyNotify destroy;
} DeferredCall;

static void bus_call (EcEndpoint *ep, const char *module, EcMessage *msg, guint timeout_ms,
                      EcReplyFunc cb, gpointer user_data, GDestroyNotify destroy);

static gboolean
deferred_call (gpointer data)
{
  DeferredCall *d = data;
  bus_call (d->ep, d->module, d->msg, d->timeout_ms, d->cb, d->user_data, d->destroy);
  ec_message_unref (d->msg);
  g_free (d->module);
  g_free (d);
  return G_SOURCE_REMOVE;
}

static void
bus_call (EcEndpoint *ep, const char *module, EcMessage *msg, guint timeout_ms,
          EcReplyFunc cb, gpointer user_data, GDestroyNotify destroy)
{
  Member *caller = MEMBER (ep);
  EcBus *bus = caller->bus;
  GError *error = NULL;
  Call *call;

  if (G_UNLIKELY (!on_owner_thread (bus)))
    {
      DeferredCall *d = g_new0 (DeferredCall, 1);
      if (!ec_message_is_frozen (msg))
        ec_message_set_sync (msg, TRUE);
      d->ep = ep;
      d->module = g_strdup (module);
      d->msg = ec_message_ref (msg);
      d->timeout_ms = timeout_ms;
      d->cb = cb;
      d->user_data = user_data;
      d->destroy = destroy;
      run_on_main (bus, deferred_call, d);
      return;
    }

  if (!ec_message_is_frozen (msg))
    ec_message_set_sync (msg, TRUE);
  call = g_new0 (Call, 1);
  call->msg_id = g_strdup (ec_message_get_id (msg));
  call->caller = caller;
  call->callback = cb;
  call->user_data = user_data;
  call->destroy = destroy;
  call->deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  heap_push (bus->heap, call);

  if (G_UNLIKELY (g_hash_table_contains (bus->calls, call->msg_id)))
    {
      /* the table keeps the earlier call; this one fails on its own */
      call_finish (bus, call, FALSE, NULL,
                   g_error_new (EC_BUS_ERROR, EC_BUS_ERROR_CLOSED,
                                _("a call with message id %s is already waiting"),
                                ec_message_get_id (msg)));
      return;
    }
  g_hash_table_insert (bus->calls, call->msg_id, call);
  if (!bus_send (ep, EC_SEND_MODULE, module, msg, NULL, &error))
    call_finish (bus, call, TRUE, NULL, error);
}

static gboolean
bus_respond (EcEndpoint *ep, EcMessage *reply, GError **error)
{
  Member *replier = MEMBER (ep);
  EcBus *bus = replier->bus;
  const char *parent = ec_message_get_parent_id (reply);
  Call *call;

  if (G_UNLIKELY (!on_owner_thread (bus)))
    {
      g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED,
                   _("replies must be sent from the main loop"));
      return FALSE;
    }
  if (!g_hash_table_steal_extended (bus->calls, parent, NULL, (gpointer *) &call))
    {
      g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_NO_WAITER,
                   _("nobody waits for a reply to message “%s”"), parent);
      return FALSE;
    }
  ec_message_freeze (reply);
  replier->out++;
  call_finish (bus, call, FALSE, ec_message_ref (reply), NULL);
  return TRUE;
}

/* The call table belongs to the main loop: another thread must not read
 * it while the main loop changes it. */
static gboolean
bus_is_awaited (EcEndpoint *ep, const char *parent_msg_id)
{
  EcBus *bus = MEMBER (ep)->bus;
  if (G_UNLIKELY (!on_owner_thread (bus)))
    {
      g_critical ("ec_endpoint_is_awaited() called outside the main loop's thread");
      return FALSE;
    }
  return g_hash_table_contains (bus->calls, parent_msg_id);
}


/* The counters of every member, as EC_BUS_STATS_TYPE (floating). */
static GVariant *
bus_get_stats (EcEndpoint *ep)
{
  g_autoptr (GArray) members = ec_bus_list_members (MEMBER (ep)->bus);
  GVariantBuilder b;
  g_variant_builder_init (&b, G_VARIANT_TYPE (EC_BUS_STATS_TYPE));
  for (guint i = 0; i < members->len; i++)
    {
      EcBusMemberInfo *m = &g_array_index (members, EcBusMemberInfo, i);
      g_variant_builder_add (&b, "(ssttttuu)", m->name, m->group ? m->group : "",
                             m->out, m->in, m->dropped, m->unroutable, m->queued, m->waiting);
    }
  return g_variant_builder_end (&b);
}

/* The endpoints of the members now, in registration order (any thread). */
static GPtrArray *
bus_list_endpoints (EcEndpoint *ep)
{
  EcBus *bus = MEMBER (ep)->bus;
  GPtrArray *out;
  g_mutex_lock (&bus->lock);
  out = g_ptr_array_sized_new (bus->all->len);
  for (guint i = 0; i < bus->all->len; i++)
    g_ptr_array_add (out, ((Member *) bus->all->pdata[i])->ep);
  g_mutex_unlock (&bus->lock);
  return out;
}

static const EcEndpointOps bus_ops = {
  bus_send, bus_call, bus_respond, bus_is_awaited,
  bus_send_full, bus_send_when_ready, bus_get_waiting, bus_set_paused, bus_is_paused,
  bus_get_stats, bus_list_endpoints,
};

/* ---- introspection ------------------------------------------------------ */

/* Lists the members with their counters, in registration order. */
GArray *
ec_bus_list_members (EcBus *bus)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (EcBusMemberInfo));
  g_mutex_lock (&bus->lock);
  for (guint i = 0; i < bus->all->len; i++)
    {
      Member *m = bus->all->pdata[i];
      EcBusMemberInfo info = {
        m->name, m->group, m->in, m->out, m->dropped + m->remote_dropped,
        m->unroutable + m->remote_unroutable, m->len + m->remote.length, m->n_waiting,
      };
      g_array_append_val (out, info);
    }
  g_mutex_unlock (&bus->lock);
  return out;
}

/* Frees the queues of members that a burst grew past RING_KEEP slots and
 * that are empty now (main thread; the host calls it when the bus is
 * quiet, off the delivery path). */
void
ec_bus_compact (EcBus *bus)
{
  g_mutex_lock (&bus->lock);
  for (guint i = 0; i < bus->all->len; i++)
    {
      Member *m = bus->all->pdata[i];
      if (!m->removed && m->len == 0 && m->cap > RING_KEEP)
        {
          g_clear_pointer (&m->ring, g_free);
          m->cap = 0;
          m->head = 0;
        }
    }
  g_mutex_unlock (&bus->lock);
}

/* Returns how many messages went to unknown destinations. */
guint64
ec_bus_get_unroutable (EcBus *bus)
{
  guint64 n;
  g_mutex_lock (&bus->lock);
  n = bus->unroutable + bus->remote_unroutable;
  g_mutex_unlock (&bus->lock);
  return n;
}

/* Returns how many sync calls wait for a reply. */
guint
ec_bus_get_pending_calls (EcBus *bus)
{
  return g_hash_table_size (bus->calls);
}

/* A table of the members and their counters, for the log and the control
 * socket. */
char *
ec_bus_describe (EcBus *bus)
{
  g_autoptr (GArray) members = ec_bus_list_members (bus);
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "%-16s %-12s %12s %12s %10s %10s %8s %8s\n",
                          "MEMBER", "GROUP", "IN", "OUT", "DROPPED", "UNROUTABLE", "QUEUED",
                          "WAITING");
  for (guint i = 0; i < members->len; i++)
    {
      EcBusMemberInfo *m = &g_array_index (members, EcBusMemberInfo, i);
      g_string_append_printf (s, "%-16s %-12s %12" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT
                              " %10" G_GUINT64_FORMAT " %10" G_GUINT64_FORMAT " %8u %8u\n",
                              m->name, m->group, m->in, m->out, m->dropped, m->unroutable,
                              m->queued, m->waiting);
    }
  g_string_append_printf (s, "queue limit %u, pending calls %u, unroutable %" G_GUINT64_FORMAT "\n",
                          bus->queue_limit, g_hash_table_size (bus->calls),
                          ec_bus_get_unroutable (bus));
  return g_string_free (s, FALSE);
}
