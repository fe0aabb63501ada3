/* bus.c: the in-process message bus.
 *
 * Every member has one bounded FIFO queue of frozen, shared messages. A send
 * only appends to the receivers' queues; one GSource on the main loop later
 * delivers them, a batch per member in turn, so a handler is never entered
 * from inside a send and the order from one sender to one receiver holds.
 * Sync calls are kept in a table keyed by the request's msg_id and in a
 * min-heap of deadlines; the same GSource completes them (reply, timeout or
 * send error), always from the main loop. */
#include "config.h"

#include "bus.h"

#include <glib/gi18n.h>
#include <string.h>

#define BATCH_PER_MEMBER   64     /* messages one member gets before the next */
#define BATCH_PER_DISPATCH 8192   /* then other main-loop sources get a turn */

typedef struct _Member Member;
typedef struct _Call Call;

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
  gboolean      scheduled;
  gboolean      removed;
  Member       *next_ready;
  guint64       in, out, dropped, unroutable;
};

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
  GThread       *owner;
  guint          queue_limit;
  GHashTable    *members;      /* name -> Member */
  GHashTable    *groups;       /* group -> GPtrArray of Member */
  GPtrArray     *all;          /* members in order of registration */
  GPtrArray     *removed;      /* freed with the bus: a handler may still run */
  Member        *ready_head, *ready_tail;
  GHashTable    *calls;        /* msg_id -> Call */
  GPtrArray     *heap;         /* Call*, by deadline */
  Call          *done_head, *done_tail;
  guint64        unroutable;
};

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

static gboolean
member_push (Member *m, EcMessage *msg)
{
  EcBus *bus = m->bus;
  if (m->len >= bus->queue_limit || m->removed)
    {
      m->dropped++;
      return FALSE;
    }
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
  m->ring[(m->head + m->len) & (m->cap - 1)] = ec_message_ref (msg);
  m->len++;
  if (!m->scheduled)
    {
      m->scheduled = TRUE;
      m->next_ready = NULL;
      if (bus->ready_tail)
        bus->ready_tail->next_ready = m;
      else
        bus->ready_head = m;
      bus->ready_tail = m;
    }
  return TRUE;
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
      for (guint i = 0; i < n && !m->removed; i++)
        {
          EcMessage *msg = m->ring[m->head];
          m->head = (m->head + 1) & (m->cap - 1);
          m->len--;
          m->in++;
          m->handler (m->handler_data, msg);
          ec_message_unref (msg);
          (*budget)--;
        }
      if (m->len > 0 && !m->removed && !m->scheduled)
        {
          m->scheduled = TRUE;
          m->next_ready = NULL;
          if (bus->ready_tail)
            bus->ready_tail->next_ready = m;
          else
            bus->ready_head = m;
          bus->ready_tail = m;
        }
      run_completions (bus);
    }
}

/* ---- the GSource ------------------------------------------------------ */

static gboolean
bus_source_prepare (GSource *source, gint *timeout)
{
  EcBus *bus = ((BusSource *) source)->bus;
  if (bus->ready_head || bus->done_head)
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
  return bus->ready_head || bus->done_head
         || (bus->heap->len > 0
             && ((Call *) bus->heap->pdata[0])->deadline <= g_source_get_time (source));
}

static gboolean
bus_source_dispatch (GSource *source, GSourceFunc unused, gpointer unused2)
{
  EcBus *bus = ((BusSource *) source)->bus;
  guint budget = BATCH_PER_DISPATCH;
  run_completions (bus);
  deliver_batch (bus, &budget);
  expire_calls (bus, g_get_monotonic_time ());
  run_completions (bus);
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
}

static void
member_free (gpointer data)
{
  Member *m = data;
  member_drain (m);
  g_free (m->ring);
  ec_host_endpoint_free (m->ep);
  g_free (m);
}

/* Creates a bus whose deliveries run on context. Each member queues at most
 * queue_limit messages. */
EcBus *
ec_bus_new (GMainContext *context, guint queue_limit)
{
  EcBus *bus = g_new0 (EcBus, 1);
  BusSource *src;
  bus->context = context ? g_main_context_ref (context) : g_main_context_ref_thread_default ();
  bus->owner = g_thread_self ();
  bus->queue_limit = MAX (queue_limit, 1);
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
 * do not run; their user data is destroyed). */
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
  g_hash_table_unref (bus->calls);
  g_ptr_array_unref (bus->heap);
  for (guint i = 0; i < bus->all->len; i++)
    member_free (bus->all->pdata[i]);
  g_ptr_array_unref (bus->all);
  g_ptr_array_unref (bus->removed);
  g_hash_table_unref (bus->members);
  g_hash_table_unref (bus->groups);
  g_main_context_unref (bus->context);
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
  g_hash_table_insert (bus->members, (gpointer) m->name, m);
  members = g_hash_table_lookup (bus->groups, m->group);
  if (!members)
    {
      members = g_ptr_array_new ();
      g_hash_table_insert (bus->groups, g_strdup (m->group), members);
    }
  g_ptr_array_add (members, m);
  g_ptr_array_add (bus->all, m);
  return m->ep;
}

/* Takes a member off the bus: its queued messages are dropped, and its
 * pending calls end without their callbacks. Its endpoint stays valid (all
 * sends fail) until the bus is freed. */
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
  member_drain (m);
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

typedef struct {
  EcEndpoint *ep;
  EcSendKind  kind;
  char       *target;
  EcMessage  *msg;
} Deferred;

static gboolean bus_send (EcEndpoint *ep, EcSendKind kind, const char *target,
                          EcMessage *msg, guint *n_delivered, GError **error);

static gboolean
deferred_send (gpointer data)
{
  Deferred *d = data;
  g_autoptr (GError) error = NULL;
  if (!bus_send (d->ep, d->kind, d->target, d->msg, NULL, &error))
    g_warning (_("message %s from %s (sent from another thread) was not delivered: %s"),
               ec_message_get_id (d->msg), ec_endpoint_get_name (d->ep), error->message);
  ec_message_unref (d->msg);
  g_free (d->target);
  g_free (d);
  return G_SOURCE_REMOVE;
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
bus_send (EcEndpoint *ep, EcSendKind kind, const char *target, EcMessage *msg,
          guint *n_delivered, GError **error)
{
  Member *sender = MEMBER (ep);
  EcBus *bus = sender->bus;
  guint n = 0;

  if (G_UNLIKELY (g_thread_self () != bus->owner))
    {
      Deferred *d = g_new0 (Deferred, 1);
      ec_message_freeze (msg);
      d->ep = ep;
      d->kind = kind;
      d->target = g_strdup (target);
      d->msg = ec_message_ref (msg);
      run_on_main (bus, deferred_send, d);
      return TRUE;
    }
  if (G_UNLIKELY (sender->removed))
    {
      g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED,
                   _("bus member “%s” has left the bus"), sender->name);
      return FALSE;
    }
  ec_message_freeze (msg);

  if (kind == EC_SEND_MODULE)
    {
      Member *to = g_hash_table_lookup (bus->members, target);
      if (G_UNLIKELY (!to))
        return unknown_destination (sender, FALSE, target, error);
      if (G_UNLIKELY (!member_push (to, msg)))
        {
          g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL,
                       _("queue of “%s” is full (%u messages); message %s dropped"),
                       target, bus->queue_limit, ec_message_get_id (msg));
          return FALSE;
        }
      sender->out++;
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
      if (kind == EC_SEND_BROADCAST && m == sender)
        continue;
      if (member_push (m, msg))
        n++;
      else
        full++;
    }
  sender->out += n;
  if (n_delivered)
    *n_delivered = n;
  if (n == 0 && full > 0)
    {
      g_set_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL,
                   _("every queue in “%s” is full; message %s dropped"),
                   target ? target : "*", ec_message_get_id (msg));
      return FALSE;
    }
  return TRUE;
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

  if (G_UNLIKELY (g_thread_self () != bus->owner))
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

  if (G_UNLIKELY (g_thread_self () != bus->owner))
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
  if (G_UNLIKELY (g_thread_self () != bus->owner))
    {
      g_critical ("ec_endpoint_is_awaited() called outside the main loop's thread");
      return FALSE;
    }
  return g_hash_table_contains (bus->calls, parent_msg_id);
}

static const EcEndpointOps bus_ops = {
  bus_send, bus_call, bus_respond, bus_is_awaited,
};

/* ---- introspection ------------------------------------------------------ */

/* Lists the members with their counters, in registration order. */
GArray *
ec_bus_list_members (EcBus *bus)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (EcBusMemberInfo));
  for (guint i = 0; i < bus->all->len; i++)
    {
      Member *m = bus->all->pdata[i];
      EcBusMemberInfo info = {
        m->name, m->group, m->in, m->out, m->dropped, m->unroutable, m->len,
      };
      g_array_append_val (out, info);
    }
  return out;
}

/* Returns how many messages went to unknown destinations. */
guint64
ec_bus_get_unroutable (EcBus *bus)
{
  return bus->unroutable;
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
  g_string_append_printf (s, "%-16s %-12s %12s %12s %10s %10s %8s\n",
                          "MEMBER", "GROUP", "IN", "OUT", "DROPPED", "UNROUTABLE", "QUEUED");
  for (guint i = 0; i < members->len; i++)
    {
      EcBusMemberInfo *m = &g_array_index (members, EcBusMemberInfo, i);
      g_string_append_printf (s, "%-16s %-12s %12" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT
                              " %10" G_GUINT64_FORMAT " %10" G_GUINT64_FORMAT " %8u\n",
                              m->name, m->group, m->in, m->out, m->dropped, m->unroutable,
                              m->queued);
    }
  g_string_append_printf (s, "queue limit %u, pending calls %u, unroutable %" G_GUINT64_FORMAT "\n",
                          bus->queue_limit, g_hash_table_size (bus->calls), bus->unroutable);
  return g_string_free (s, FALSE);
}
