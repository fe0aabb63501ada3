/* test-bus.c: the message bus: routing, order, bounds, sync calls. */
#include "config.h"

#include "bus.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  GPtrArray  *got;       /* EcMessage*, in delivery order */
  EcEndpoint *ep;
  gboolean    in_send;   /* set around sends, to catch re-entrancy */
  gboolean    reply;     /* answer sync calls */
} Sink;

typedef struct {
  EcBus *bus;
  Sink   a, b, c;
} Fixture;

static void
sink_handler (gpointer data, EcMessage *msg)
{
  Sink *s = data;
  g_assert_false (s->in_send);
  g_ptr_array_add (s->got, ec_message_ref (msg));
  if (s->reply && ec_message_get_sync (msg))
    {
      g_autoptr (EcMessage) r = ec_message_new_response (msg, "\"pong\"");
      g_assert_true (ec_endpoint_respond (s->ep, r, NULL));
    }
}

static void
fixture_setup (Fixture *f, gconstpointer limit)
{
  f->bus = ec_bus_new (NULL, GPOINTER_TO_UINT (limit) ? GPOINTER_TO_UINT (limit) : 1024);
  Sink *sinks[] = { &f->a, &f->b, &f->c };
  const char *names[] = { "a", "b", "c" };
  const char *groups[] = { "g1", "g2", "g2" };
  for (int i = 0; i < 3; i++)
    {
      sinks[i]->got = g_ptr_array_new_with_free_func ((GDestroyNotify) ec_message_unref);
      sinks[i]->ep = ec_bus_add_member (f->bus, names[i], groups[i], sink_handler, sinks[i], NULL);
      g_assert_nonnull (sinks[i]->ep);
    }
}

static void
fixture_teardown (Fixture *f, gconstpointer unused)
{
  ec_bus_free (f->bus);
  g_ptr_array_unref (f->a.got);
  g_ptr_array_unref (f->b.got);
  g_ptr_array_unref (f->c.got);
}

static void
drain (void)
{
  for (int i = 0; i < 100 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

static void
test_send_module (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, "insert", "x");
  g_autoptr (GError) error = NULL;
  f->a.in_send = TRUE;
  g_assert_true (ec_endpoint_send (f->a.ep, "b", m, &error));
  f->a.in_send = FALSE;
  g_assert_no_error (error);
  g_assert_true (ec_message_is_frozen (m));
  g_assert_cmpuint (f->b.got->len, ==, 0);  /* never delivered inside the send */
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 1);
  g_assert_true (f->b.got->pdata[0] == m);   /* shared, not copied */
  g_assert_cmpuint (f->a.got->len + f->c.got->len, ==, 0);
}

static void
test_send_group_and_broadcast (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  g_autoptr (EcMessage) all = ec_message_new ("a", NULL, NULL, NULL);
  g_assert_true (ec_endpoint_send_to_group (f->a.ep, "g2", m, NULL));
  g_assert_cmpuint (ec_endpoint_broadcast (f->a.ep, all), ==, 2);
  drain ();
  g_assert_cmpuint (f->a.got->len, ==, 0);
  g_assert_cmpuint (f->b.got->len, ==, 2);
  g_assert_cmpuint (f->c.got->len, ==, 2);
}

static void
test_unknown_destination (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) info = NULL;
  g_assert_false (ec_endpoint_send (f->a.ep, "nobody", m, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION);
  g_clear_error (&error);
  g_assert_false (ec_endpoint_send_to_group (f->a.ep, "nogroup", m, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION);
  g_assert_cmpuint (ec_bus_get_unroutable (f->bus), ==, 2);
  info = ec_bus_list_members (f->bus);
  g_assert_cmpstr (g_array_index (info, EcBusMemberInfo, 0).name, ==, "a");
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 0).unroutable, ==, 2);
}

static void
test_fifo_per_pair (Fixture *f, gconstpointer unused)
{
  for (int i = 0; i < 1000; i++)
    {
      g_autoptr (EcMessage) m = ec_message_new (i % 2 ? "a" : "c", NULL, NULL, NULL);
      g_autofree char *rv = g_strdup_printf ("%d", i);
      ec_message_set_resource_version (m, rv);
      g_assert_true (ec_endpoint_send (i % 2 ? f->a.ep : f->c.ep, "b", m, NULL));
    }
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 1000);
  int last_a = -1, last_c = -1;
  for (guint i = 0; i < f->b.got->len; i++)
    {
      EcMessage *m = f->b.got->pdata[i];
      int rv = atoi (ec_message_get_resource_version (m));
      int *last = strcmp (ec_message_get_source (m), "a") == 0 ? &last_a : &last_c;
      g_assert_cmpint (rv, >, *last);
      *last = rv;
    }
}

/* A queue a burst grew past 1,024 slots is freed once drained
 * (ec_bus_compact); one still holding messages is kept, and delivery goes
 * on in order after both. */
static void
test_compact (Fixture *f, gconstpointer unused)
{
  int next = 0;
  for (int round = 0; round < 2; round++)
    {
      for (int i = 0; i < 3000; i++, next++)
        {
          g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
          g_autofree char *rv = g_strdup_printf ("%d", next);
          ec_message_set_resource_version (m, rv);
          g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
          if (round == 1 && i == 2000)
            ec_bus_compact (f->bus);   /* not drained: kept */
        }
      while (f->b.got->len < (guint) next)
        g_main_context_iteration (NULL, TRUE);
      ec_bus_compact (f->bus);
    }
  g_assert_cmpuint (f->b.got->len, ==, 6000);
  for (guint i = 0; i < f->b.got->len; i++)
    g_assert_cmpint (atoi (ec_message_get_resource_version (f->b.got->pdata[i])), ==, (int) i);
}

static void
test_bounded_queue (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) info = NULL;
  for (int i = 0; i < 8; i++)
    g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
  g_assert_false (ec_endpoint_send (f->a.ep, "b", m, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL);
  info = ec_bus_list_members (f->bus);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 1).dropped, ==, 1);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 1).queued, ==, 8);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 0).out, ==, 8);
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 8);
  g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));  /* room again */
}

typedef struct {
  int        calls;
  EcMessage *reply;
  GError    *error;
  gboolean   destroyed;
} CallResult;

static void
on_reply (EcMessage *reply, const GError *error, gpointer data)
{
  CallResult *r = data;
  r->calls++;
  if (reply)
    r->reply = ec_message_ref (reply);
  if (error)
    r->error = g_error_copy (error);
}

static void
on_destroy (gpointer data)
{
  ((CallResult *) data)->destroyed = TRUE;
}

static void
test_call_reply (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) req = ec_message_new ("a", "g2", "query", "x");
  CallResult r = { 0 };
  f->b.reply = TRUE;
  ec_endpoint_call (f->a.ep, "b", req, 5000, on_reply, &r, on_destroy);
  g_assert_true (ec_message_get_sync (req));
  g_assert_true (ec_endpoint_is_awaited (f->a.ep, ec_message_get_id (req)));
  g_assert_cmpint (r.calls, ==, 0);
  drain ();
  g_assert_cmpint (r.calls, ==, 1);
  g_assert_true (r.destroyed);
  g_assert_no_error (r.error);
  g_assert_cmpstr (ec_message_get_parent_id (r.reply), ==, ec_message_get_id (req));
  g_assert_cmpstr (ec_message_get_content_json (r.reply, NULL), ==, "\"pong\"");
  g_assert_cmpuint (ec_bus_get_pending_calls (f->bus), ==, 0);
  ec_message_unref (r.reply);
}

static void
test_call_timeout (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) req = ec_message_new ("a", NULL, "query", "x");
  CallResult r = { 0 };
  gint64 start = g_get_monotonic_time ();
  g_autoptr (GError) error = NULL;
  g_autoptr (EcMessage) late = NULL;
  ec_endpoint_call (f->a.ep, "b", req, 50, on_reply, &r, NULL);  /* b never answers */
  while (r.calls == 0 && g_get_monotonic_time () - start < 5 * G_USEC_PER_SEC)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpint (r.calls, ==, 1);
  g_assert_error (r.error, EC_BUS_ERROR, EC_BUS_ERROR_TIMEOUT);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 50000);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);
  g_clear_error (&r.error);
  /* a reply after the timeout finds nobody waiting */
  late = ec_message_new_response (req, NULL);
  g_assert_false (ec_endpoint_respond (f->b.ep, late, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_NO_WAITER);
}

static void
test_call_unknown_module (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) req = ec_message_new ("a", NULL, "query", "x");
  CallResult r = { 0 };
  ec_endpoint_call (f->a.ep, "nobody", req, 5000, on_reply, &r, NULL);
  g_assert_cmpint (r.calls, ==, 0);  /* not inside the call */
  drain ();
  g_assert_cmpint (r.calls, ==, 1);
  g_assert_error (r.error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION);
  g_clear_error (&r.error);
}

static void
test_many_timeouts_ordered (Fixture *f, gconstpointer unused)
{
  CallResult r[20] = { 0 };
  gint64 start = g_get_monotonic_time ();
  int done = 0;
  for (int i = 0; i < 20; i++)
    {
      g_autoptr (EcMessage) req = ec_message_new ("a", NULL, NULL, NULL);
      ec_endpoint_call (f->a.ep, "b", req, 10 + (i * 7919) % 97, on_reply, &r[i], NULL);
    }
  while (done < 20 && g_get_monotonic_time () - start < 5 * G_USEC_PER_SEC)
    {
      g_main_context_iteration (NULL, TRUE);
      done = 0;
      for (int i = 0; i < 20; i++)
        done += r[i].calls;
    }
  for (int i = 0; i < 20; i++)
    {
      g_assert_cmpint (r[i].calls, ==, 1);
      g_assert_error (r[i].error, EC_BUS_ERROR, EC_BUS_ERROR_TIMEOUT);
      g_clear_error (&r[i].error);
    }
  g_assert_cmpuint (ec_bus_get_pending_calls (f->bus), ==, 0);
}

static void
test_respond_error (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) req = ec_message_new ("a", NULL, "query", "x");
  g_autoptr (EcMessage) plain = ec_message_new ("a", NULL, "query", "x");
  CallResult r = { 0 };
  g_autofree char *text = NULL;
  g_assert_false (ec_endpoint_respond_error (f->b.ep, plain, "nobody waits"));
  ec_endpoint_call (f->a.ep, "b", req, 5000, on_reply, &r, NULL);
  drain ();  /* b receives it and does not answer (reply is off) */
  g_assert_true (ec_endpoint_respond_error (f->b.ep, req, "b cannot"));
  drain ();
  g_assert_cmpint (r.calls, ==, 1);
  g_assert_cmpstr (ec_message_get_operation (r.reply), ==, "error");
  g_assert_cmpstr (ec_message_get_source (r.reply), ==, "b");
  text = ec_message_dup_content_string (r.reply);
  g_assert_cmpstr (text, ==, "b cannot");
  ec_message_unref (r.reply);
}

static void
test_call_duplicate_id (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) req = ec_message_new ("a", NULL, "query", "x");
  g_autoptr (EcMessage) again = NULL;
  CallResult first = { 0 }, second = { 0 };
  f->b.reply = TRUE;
  ec_message_set_id (req, "same-id");
  again = ec_message_copy (req);
  ec_endpoint_call (f->a.ep, "b", req, 5000, on_reply, &first, NULL);
  ec_endpoint_call (f->a.ep, "b", again, 5000, on_reply, &second, NULL);
  drain ();
  g_assert_cmpint (second.calls, ==, 1);
  g_assert_error (second.error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED);
  g_assert_cmpint (first.calls, ==, 1);
  g_assert_no_error (first.error);
  g_assert_nonnull (first.reply);
  ec_message_unref (first.reply);
  g_clear_error (&second.error);
}

static void
test_remove_member (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  g_autoptr (EcMessage) req = ec_message_new ("b", NULL, NULL, NULL);
  g_autoptr (GError) error = NULL;
  CallResult r = { 0 };
  g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
  ec_endpoint_call (f->b.ep, "c", req, 5000, on_reply, &r, on_destroy);
  ec_bus_remove_member (f->bus, f->b.ep);
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 0);     /* its queue was dropped */
  g_assert_cmpint (r.calls, ==, 0);            /* its call ended quietly */
  g_assert_true (r.destroyed);
  g_assert_false (ec_endpoint_send (f->a.ep, "b", m, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION);
  g_assert_null (ec_bus_add_member (f->bus, "a", "x", sink_handler, &f->a, NULL));
}

static gpointer
thread_send (gpointer data)
{
  Fixture *f = data;
  for (int i = 0; i < 100; i++)
    {
      g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
      ec_endpoint_send (f->a.ep, "b", m, NULL);
    }
  return NULL;
}

static void
test_send_from_thread (Fixture *f, gconstpointer unused)
{
  GThread *t = g_thread_new ("sender", thread_send, f);
  gint64 start = g_get_monotonic_time ();
  g_thread_join (t);
  while (f->b.got->len < 100 && g_get_monotonic_time () - start < 5 * G_USEC_PER_SEC)
    g_main_context_iteration (NULL, TRUE);
  g_assert_cmpuint (f->b.got->len, ==, 100);
}

static void
ignore_reply (EcMessage *reply, const GError *error, gpointer data)
{
}

static gpointer
thread_is_awaited (gpointer data)
{
  Fixture *f = data;
  return GINT_TO_POINTER (ec_endpoint_is_awaited (f->b.ep, "x"));
}

/* is_awaited reads the main loop's call table: from another thread it is
 * refused with a critical instead of racing with the main loop. */
static void
test_is_awaited_from_thread (Fixture *f, gconstpointer unused)
{
  if (g_test_subprocess ())
    {
      g_autoptr (EcMessage) m = ec_message_new ("a", NULL, "q", "r");
      ec_endpoint_call (f->a.ep, "c", m, 5000, ignore_reply, NULL, NULL);
      g_assert_true (ec_endpoint_is_awaited (f->b.ep, ec_message_get_id (m)));
      g_thread_join (g_thread_new ("asker", thread_is_awaited, f));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*ec_endpoint_is_awaited() called outside the main loop's thread*");
}

static void
test_describe (Fixture *f, gconstpointer unused)
{
  g_autofree char *text = ec_bus_describe (f->bus);
  g_assert_nonnull (strstr (text, "MEMBER"));
  g_assert_nonnull (strstr (text, "g2"));
  g_assert_nonnull (strstr (text, "queue limit"));
}

/* ---- flow control ------------------------------------------------------ */

typedef struct {
  int        runs;
  int        errors;
  GError    *error;        /* the last one */
  gboolean   destroyed;
  GPtrArray *order;        /* messages in the order their callbacks ran */
} SendResult;

static void
on_sent (EcEndpoint *ep, EcMessage *msg, const GError *error, gpointer data)
{
  SendResult *r = data;
  r->runs++;
  if (error)
    {
      r->errors++;
      g_clear_error (&r->error);
      r->error = g_error_copy (error);
    }
  if (r->order)
    g_ptr_array_add (r->order, ec_message_ref (msg));
}

static void
on_sent_destroy (gpointer data)
{
  ((SendResult *) data)->destroyed = TRUE;
}

static EcMessage *
numbered (const char *source, int i)
{
  EcMessage *m = ec_message_new (source, NULL, "insert", "x");
  g_autofree char *rv = g_strdup_printf ("%d", i);
  ec_message_set_resource_version (m, rv);
  return m;
}

static int
number_of (EcMessage *m)
{
  return atoi (ec_message_get_resource_version (m));
}

/* A full queue: the waiting send waits, in order, and its callback runs
 * once the message is in the receiver's queue, never inside the call. */
static void
test_when_ready_waits (Fixture *f, gconstpointer unused)
{
  SendResult r = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (EcMessage) direct = numbered ("a", 99);
  for (int i = 0; i < 8; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
    }
  for (int i = 8; i < 13; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", m, on_sent, &r, NULL, &error));
      g_assert_no_error (error);
      g_assert_true (ec_message_is_frozen (m));
    }
  g_assert_cmpint (r.runs, ==, 0);
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, "b"), ==, 5);
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, NULL), ==, 5);
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, "c"), ==, 0);
  /* a plain send would overtake the waiting ones: refused */
  g_assert_false (ec_endpoint_send (f->a.ep, "b", direct, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL);
  g_clear_error (&error);
  /* ... but another sender with nothing waiting is not held up by them */
  drain ();
  g_assert_cmpint (r.runs, ==, 5);
  g_assert_cmpint (r.errors, ==, 0);
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, NULL), ==, 0);
  g_assert_cmpuint (f->b.got->len, ==, 13);
  for (guint i = 0; i < 13; i++)
    g_assert_cmpint (number_of (f->b.got->pdata[i]), ==, (int) i);
  /* with room and nothing waiting, it goes at once; the callback still runs later */
  g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", direct, on_sent, &r, on_sent_destroy, NULL));
  g_assert_cmpint (r.runs, ==, 5);
  g_assert_false (r.destroyed);
  drain ();
  g_assert_cmpint (r.runs, ==, 6);
  g_assert_true (r.destroyed);
  g_assert_cmpuint (f->b.got->len, ==, 14);
}

typedef struct {
  Fixture *f;
  int      next;         /* number of the next message to send */
  GArray  *accepted;     /* numbers the bus took, in sending order */
  int      total;
} Mixer;

/* Sends a few messages from a to b, mixing plain and waiting sends. */
static gboolean
mix_some (gpointer data)
{
  Mixer *x = data;
  for (int k = 0; k < 5 && x->next < x->total; k++, x->next++)
    {
      g_autoptr (EcMessage) m = numbered ("a", x->next);
      gboolean ok = (x->next % 3 == 0)
                    ? ec_endpoint_send (x->f->a.ep, "b", m, NULL)
                    : ec_endpoint_send_when_ready (x->f->a.ep, "b", m, NULL, NULL, NULL, NULL);
      if (ok)
        g_array_append_val (x->accepted, x->next);
    }
  return x->next < x->total ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Plain and waiting sends mixed, against a small queue: b gets exactly the
 * messages the bus took, in the order they were sent. */
static void
test_when_ready_order_mixed (Fixture *f, gconstpointer unused)
{
  Mixer x = { f, 0, g_array_new (FALSE, FALSE, sizeof (int)), 3000 };
  gint64 start = g_get_monotonic_time ();
  guint id = g_idle_add (mix_some, &x);
  while ((x.next < x.total || ec_endpoint_get_waiting (f->a.ep, NULL) > 0
          || f->b.got->len < x.accepted->len)
         && g_get_monotonic_time () - start < 20 * G_USEC_PER_SEC)
    g_main_context_iteration (NULL, TRUE);
  if (x.next < x.total)
    g_source_remove (id);
  g_assert_cmpint (x.next, ==, x.total);
  g_assert_cmpuint (x.accepted->len, >, (guint) x.total * 2 / 3);  /* every waiting send */
  g_assert_cmpuint (x.accepted->len, <, (guint) x.total);          /* plain sends met waits */
  g_assert_cmpuint (f->b.got->len, ==, x.accepted->len);
  for (guint i = 0; i < x.accepted->len; i++)
    g_assert_cmpint (number_of (f->b.got->pdata[i]), ==, g_array_index (x.accepted, int, i));
  g_array_unref (x.accepted);
}

/* One full (paused) receiver holds up nothing sent to another. */
static void
test_when_ready_per_destination (Fixture *f, gconstpointer unused)
{
  SendResult rb = { 0 }, rc = { 0 };
  ec_endpoint_pause (f->b.ep);
  for (int i = 0; i < 20; i++)
    {
      g_autoptr (EcMessage) mb = numbered ("a", i);
      g_autoptr (EcMessage) mc = numbered ("a", i);
      g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", mb, on_sent, &rb, NULL, NULL));
      g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "c", mc, on_sent, &rc, NULL, NULL));
      drain ();
    }
  g_assert_cmpuint (f->c.got->len, ==, 20);
  g_assert_cmpint (rc.runs, ==, 20);
  g_assert_cmpuint (f->b.got->len, ==, 0);
  g_assert_cmpint (rb.runs, ==, 8);                 /* those in b's queue */
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, "b"), ==, 12);
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, "c"), ==, 0);
  ec_endpoint_resume (f->b.ep);
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 20);
  g_assert_cmpint (rb.runs, ==, 20);
  g_assert_cmpint (rb.errors + rc.errors, ==, 0);
  for (guint i = 0; i < 20; i++)
    g_assert_cmpint (number_of (f->b.got->pdata[i]), ==, (int) i);
}

/* The receiver leaves while messages wait for it: each waiting send's
 * callback runs once, later, with CLOSED; nothing is delivered to it. */
static void
test_when_ready_receiver_leaves (Fixture *f, gconstpointer unused)
{
  SendResult r = { 0 };
  ec_endpoint_pause (f->b.ep);
  for (int i = 0; i < 12; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", m, on_sent, &r, on_sent_destroy, NULL));
    }
  drain ();
  g_assert_cmpint (r.runs, ==, 8);
  r.destroyed = FALSE;
  ec_bus_remove_member (f->bus, f->b.ep);
  g_assert_cmpint (r.runs, ==, 8);     /* not inside the removal */
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, NULL), ==, 0);
  drain ();
  g_assert_cmpint (r.runs, ==, 12);
  g_assert_cmpint (r.errors, ==, 4);
  g_assert_error (r.error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED);
  g_assert_nonnull (strstr (r.error->message, "b"));
  g_assert_true (r.destroyed);
  g_assert_cmpuint (f->b.got->len, ==, 0);
  g_clear_error (&r.error);
}

/* The sender leaves while its messages wait: no callback runs after that
 * (its data may be gone), each destroy does, and the receiver gets only
 * what was already in its queue. */
static void
test_when_ready_sender_leaves (Fixture *f, gconstpointer unused)
{
  SendResult r[12] = { 0 };
  ec_endpoint_pause (f->b.ep);
  for (int i = 0; i < 12; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", m, on_sent, &r[i], on_sent_destroy, NULL));
    }
  ec_bus_remove_member (f->bus, f->a.ep);
  ec_endpoint_resume (f->b.ep);
  drain ();
  for (int i = 0; i < 12; i++)
    {
      g_assert_cmpint (r[i].runs, ==, 0);
      g_assert_true (r[i].destroyed);
    }
  g_assert_cmpuint (f->b.got->len, ==, 8);
}

static void
pause_after_first (gpointer data, EcMessage *msg)
{
  Sink *s = data;
  g_ptr_array_add (s->got, ec_message_ref (msg));
  if (s->got->len == 1)
    ec_endpoint_pause (s->ep);
}

/* A paused receiver gets nothing, from the next message on even when it
 * paused inside its handler; its queue stays bounded; resume delivers the
 * rest in order, later. */
static void
test_pause_resume (Fixture *f, gconstpointer unused)
{
  g_autoptr (GError) error = NULL;
  Sink p = { g_ptr_array_new_with_free_func ((GDestroyNotify) ec_message_unref) };
  p.ep = ec_bus_add_member (f->bus, "p", "gp", pause_after_first, &p, NULL);
  g_assert_false (ec_endpoint_is_paused (p.ep));
  for (int i = 0; i < 8; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_assert_true (ec_endpoint_send (f->a.ep, "p", m, NULL));
    }
  drain ();
  g_assert_cmpuint (p.got->len, ==, 1);
  g_assert_true (ec_endpoint_is_paused (p.ep));
  {
    g_autoptr (EcMessage) m = numbered ("a", 8);
    g_assert_true (ec_endpoint_send (f->a.ep, "p", m, &error));
  }
  {
    g_autoptr (EcMessage) m = numbered ("a", 9);
    g_assert_false (ec_endpoint_send (f->a.ep, "p", m, &error));
    g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL);
  }
  ec_endpoint_resume (p.ep);
  g_assert_cmpuint (p.got->len, ==, 1);   /* never inside resume */
  drain ();
  g_assert_cmpuint (p.got->len, ==, 9);
  for (guint i = 0; i < 9; i++)
    g_assert_cmpint (number_of (p.got->pdata[i]), ==, (int) i);
  ec_endpoint_resume (p.ep);               /* not paused: nothing happens */
  g_ptr_array_unref (p.got);
}

/* A group send says which members dropped the message. */
static void
test_group_full_names_dropped (Fixture *f, gconstpointer unused)
{
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) dropped = NULL;
  g_autoptr (GArray) info = NULL;
  guint n = 99;
  for (int i = 0; i < 2; i++)
    g_assert_true (ec_endpoint_send (f->a.ep, "c", m, NULL));
  g_assert_true (ec_endpoint_send_to_group_full (f->a.ep, "g2", m, &n, &dropped, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 1);
  g_assert_nonnull (dropped);
  g_assert_cmpstr (dropped[0], ==, "c");
  g_assert_null (dropped[1]);
  g_clear_pointer (&dropped, g_strfreev);
  /* now b is full too: nobody took it, both are named */
  g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
  g_assert_false (ec_endpoint_send_to_group_full (f->a.ep, "g2", m, &n, &dropped, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL);
  g_assert_cmpuint (n, ==, 0);
  g_assert_cmpuint (g_strv_length (dropped), ==, 2);
  g_assert_true (g_strv_contains ((const char *const *) dropped, "b"));
  g_assert_true (g_strv_contains ((const char *const *) dropped, "c"));
  info = ec_bus_list_members (f->bus);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 1).dropped, ==, 1);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 2).dropped, ==, 2);
  drain ();
  g_clear_pointer (&dropped, g_strfreev);
  /* with room everywhere, nobody dropped it */
  g_assert_true (ec_endpoint_send_to_group_full (f->a.ep, "g2", m, &n, &dropped, NULL));
  g_assert_cmpuint (n, ==, 2);
  g_assert_null (dropped);
}

/* A waiting group send: each member has its own waiting queue; the
 * callback runs once every member has the message. */
static void
test_group_when_ready (Fixture *f, gconstpointer unused)
{
  SendResult r = { 0 };
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  ec_endpoint_pause (f->c.ep);
  for (int i = 0; i < 4; i++)
    g_assert_true (ec_endpoint_send (f->a.ep, "c", m, NULL));
  g_assert_true (ec_endpoint_send_to_group_when_ready (f->a.ep, "g2", m, on_sent, &r, NULL, NULL));
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, "c"), ==, 1);
  g_assert_cmpuint (ec_endpoint_get_waiting (f->a.ep, "b"), ==, 0);
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 1);
  g_assert_cmpint (r.runs, ==, 0);
  ec_endpoint_resume (f->c.ep);
  drain ();
  g_assert_cmpuint (f->c.got->len, ==, 5);
  g_assert_cmpint (r.runs, ==, 1);
  g_assert_cmpint (r.errors, ==, 0);
}

/* What waits for one receiver is bounded (64 times the queue limit): past
 * that a waiting send fails at once, its callback never runs, its destroy
 * does. */
static void
test_when_ready_bounded (Fixture *f, gconstpointer unused)
{
  SendResult r = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  g_autoptr (GArray) info = NULL;
  ec_endpoint_pause (f->b.ep);
  g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
  for (int i = 0; i < 64; i++)
    g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", m, NULL, NULL, NULL, NULL));
  g_assert_false (ec_endpoint_send_when_ready (f->a.ep, "b", m, on_sent, &r, on_sent_destroy, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL);
  g_assert_true (r.destroyed);
  info = ec_bus_list_members (f->bus);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 0).waiting, ==, 64);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 1).queued, ==, 1);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 1).dropped, ==, 1);
  g_clear_error (&error);
  /* an unknown destination fails at once as well */
  r.destroyed = FALSE;
  g_assert_false (ec_endpoint_send_when_ready (f->a.ep, "nobody", m, on_sent, &r, on_sent_destroy, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION);
  g_assert_true (r.destroyed);
  drain ();
  g_assert_cmpint (r.runs, ==, 0);
  ec_endpoint_resume (f->b.ep);
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 65);
}

typedef struct {
  Fixture *f;
  int      ok, full;
} ThreadCount;

static gpointer
thread_flood (gpointer data)
{
  ThreadCount *t = data;
  for (int i = 0; i < 100; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_autoptr (GError) error = NULL;
      if (ec_endpoint_send (t->f->a.ep, "b", m, &error))
        t->ok++;
      else
        {
          g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL);
          t->full++;
        }
    }
  return NULL;
}

static gpointer
thread_group (gpointer data)
{
  Fixture *f = data;
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  g_auto (GStrv) dropped = NULL;
  guint n = 0;
  GError *error = NULL;
  gboolean ok = ec_endpoint_send_to_group_full (f->a.ep, "g2", m, &n, &dropped, &error);
  g_assert_true (ok);
  g_assert_no_error (error);
  g_assert_cmpuint (n, ==, 1);
  g_assert_cmpstr (dropped[0], ==, "b");
  return NULL;
}

/* A send from another thread obeys the receiver's queue limit and fails
 * like any other; what it queued is delivered in order from the main loop. */
static void
test_thread_send_bounded (Fixture *f, gconstpointer unused)
{
  ThreadCount t = { f, 0, 0 };
  g_autoptr (GArray) info = NULL;
  g_thread_join (g_thread_new ("flood", thread_flood, &t));
  g_assert_cmpint (t.ok, ==, 8);
  g_assert_cmpint (t.full, ==, 92);
  info = ec_bus_list_members (f->bus);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 1).queued, ==, 8);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 1).dropped, ==, 92);
  g_clear_pointer (&info, g_array_unref);
  /* the main loop's own sends see the same full queue */
  {
    g_autoptr (EcMessage) m = numbered ("c", 0);
    g_assert_true (ec_endpoint_send (f->c.ep, "b", m, NULL));  /* the ring itself is empty */
  }
  drain ();
  g_assert_cmpuint (f->b.got->len, ==, 9);
  for (guint i = 0, next = 0; i < f->b.got->len; i++)
    if (g_strcmp0 (ec_message_get_source (f->b.got->pdata[i]), "a") == 0)
      g_assert_cmpint (number_of (f->b.got->pdata[i]), ==, (int) next++);
  info = ec_bus_list_members (f->bus);
  g_assert_cmpuint (g_array_index (info, EcBusMemberInfo, 0).out, ==, 8);
  g_clear_pointer (&info, g_array_unref);
  /* room again */
  t.ok = t.full = 0;
  g_thread_join (g_thread_new ("flood", thread_flood, &t));
  g_assert_cmpint (t.ok, ==, 8);
  drain ();
  /* a group send from a thread names the member that dropped it */
  for (int i = 0; i < 8; i++)
    {
      g_autoptr (EcMessage) m = numbered ("c", i);
      g_assert_true (ec_endpoint_send (f->c.ep, "b", m, NULL));
    }
  g_thread_join (g_thread_new ("group", thread_group, f));
  drain ();
  g_assert_cmpuint (f->c.got->len, ==, 1);
}

static gpointer
thread_unknown (gpointer data)
{
  Fixture *f = data;
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  GError *error = NULL;
  g_assert_false (ec_endpoint_send (f->a.ep, "nobody", m, &error));
  g_assert_error (error, EC_BUS_ERROR, EC_BUS_ERROR_UNKNOWN_DESTINATION);
  g_error_free (error);
  return NULL;
}

static void
test_thread_send_unknown (Fixture *f, gconstpointer unused)
{
  g_thread_join (g_thread_new ("unknown", thread_unknown, f));
  g_assert_cmpuint (ec_bus_get_unroutable (f->bus), ==, 1);
}

/* A group member leaves while the group send waits for it: the callback
 * runs once, naming that member; the others have the message. */
static void
test_group_when_ready_member_leaves (Fixture *f, gconstpointer unused)
{
  SendResult r = { 0 };
  g_autoptr (EcMessage) m = ec_message_new ("a", NULL, NULL, NULL);
  ec_endpoint_pause (f->b.ep);
  for (int i = 0; i < 4; i++)
    g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
  g_assert_true (ec_endpoint_send_to_group_when_ready (f->a.ep, "g2", m, on_sent, &r, NULL, NULL));
  drain ();
  g_assert_cmpuint (f->c.got->len, ==, 1);
  g_assert_cmpint (r.runs, ==, 0);
  ec_bus_remove_member (f->bus, f->b.ep);
  drain ();
  g_assert_cmpint (r.runs, ==, 1);
  g_assert_error (r.error, EC_BUS_ERROR, EC_BUS_ERROR_CLOSED);
  g_assert_nonnull (strstr (r.error->message, "b left the bus"));
  g_clear_error (&r.error);
}

static void
resend_from_callback (EcEndpoint *ep, EcMessage *msg, const GError *error, gpointer data)
{
  SendResult *r = data;
  on_sent (ep, msg, error, data);
  if (r->runs < 20)
    {
      g_autoptr (EcMessage) next = numbered ("a", r->runs + 4);
      g_assert_true (ec_endpoint_send_when_ready (ep, "b", next, resend_from_callback, r, NULL, NULL));
    }
}

/* A callback may send again (each send's callback runs later, from the
 * main loop); the order holds. */
static void
test_when_ready_send_from_callback (Fixture *f, gconstpointer unused)
{
  SendResult r = { 0 };
  for (int i = 0; i < 4; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
    }
  {
    g_autoptr (EcMessage) m = numbered ("a", 4);
    g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", m, resend_from_callback, &r, NULL, NULL));
  }
  for (int i = 0; i < 200 && r.runs < 20; i++)
    drain ();
  drain ();
  g_assert_cmpint (r.runs, ==, 20);
  g_assert_cmpint (r.errors, ==, 0);
  g_assert_cmpuint (f->b.got->len, ==, 24);
  for (guint i = 0; i < f->b.got->len; i++)
    g_assert_cmpint (number_of (f->b.got->pdata[i]), ==, (int) i);
}

/* Finds @member's row in ec_endpoint_get_bus_stats()'s answer. */
static GVariant *
stats_row (GVariant *stats, const char *member)
{
  for (gsize i = 0; i < g_variant_n_children (stats); i++)
    {
      GVariant *row = g_variant_get_child_value (stats, i);
      const char *name = NULL;
      g_variant_get_child (row, 0, "&s", &name);
      if (g_strcmp0 (name, member) == 0)
        return row;
      g_variant_unref (row);
    }
  g_assert_not_reached ();
}

/* The public counters (libedgecore 1.2): sent, delivered, dropped,
 * unroutable, queued and waiting, per member, read from any endpoint. */
static void
test_bus_stats (Fixture *f, gconstpointer unused)
{
  SendResult r = { 0 };
  g_autoptr (GVariant) before = NULL;
  g_autoptr (GVariant) after = NULL;
  g_autoptr (GVariant) a = NULL;
  g_autoptr (GVariant) b = NULL;
  g_autoptr (GVariant) c = NULL;
  g_autoptr (GVariant) a2 = NULL;
  g_autoptr (GVariant) b2 = NULL;
  const char *name, *group;
  guint64 sent, delivered, dropped, unroutable;
  guint queued, waiting;

  before = ec_endpoint_get_bus_stats (f->c.ep);
  g_assert_true (g_variant_is_of_type (before, G_VARIANT_TYPE (EC_BUS_STATS_TYPE)));
  g_assert_false (g_variant_is_floating (before));
  g_assert_cmpuint (g_variant_n_children (before), ==, 3);

  for (int i = 0; i < 8; i++)
    {
      g_autoptr (EcMessage) m = numbered ("a", i);
      g_assert_true (ec_endpoint_send (f->a.ep, "b", m, NULL));
    }
  {
    g_autoptr (EcMessage) m = numbered ("a", 8);
    g_autoptr (EcMessage) w = numbered ("a", 9);
    g_autoptr (EcMessage) u = numbered ("a", 10);
    g_assert_false (ec_endpoint_send (f->a.ep, "b", m, NULL));                 /* dropped */
    g_assert_true (ec_endpoint_send_when_ready (f->a.ep, "b", w, on_sent, &r, NULL, NULL));
    g_assert_false (ec_endpoint_send (f->a.ep, "nobody", u, NULL));            /* unroutable */
  }
  after = ec_endpoint_get_bus_stats (f->c.ep);
  a = stats_row (after, "a");
  g_variant_get (a, "(&s&sttttuu)", &name, &group, &sent, &delivered, &dropped, &unroutable,
                 &queued, &waiting);
  g_assert_cmpstr (group, ==, "g1");
  g_assert_cmpuint (sent, ==, 8);
  g_assert_cmpuint (unroutable, ==, 1);
  g_assert_cmpuint (waiting, ==, 1);
  b = stats_row (after, "b");
  g_variant_get (b, "(&s&sttttuu)", &name, &group, &sent, &delivered, &dropped, &unroutable,
                 &queued, &waiting);
  g_assert_cmpstr (group, ==, "g2");
  g_assert_cmpuint (delivered, ==, 0);
  g_assert_cmpuint (dropped, ==, 1);
  g_assert_cmpuint (queued, ==, 8);
  c = stats_row (after, "c");
  g_variant_get (c, "(&s&sttttuu)", &name, &group, &sent, &delivered, &dropped, &unroutable,
                 &queued, &waiting);
  g_assert_cmpuint (sent + delivered + dropped + unroutable + queued + waiting, ==, 0);

  drain ();
  g_clear_pointer (&after, g_variant_unref);
  after = ec_endpoint_get_bus_stats (f->a.ep);
  b2 = stats_row (after, "b");
  g_variant_get (b2, "(&s&sttttuu)", &name, &group, &sent, &delivered, &dropped, &unroutable,
                 &queued, &waiting);
  g_assert_cmpuint (delivered, ==, 9);  /* the 8 and the waiting one */
  g_assert_cmpuint (queued, ==, 0);
  a2 = stats_row (after, "a");
  g_variant_get (a2, "(&s&sttttuu)", &name, &group, &sent, &delivered, &dropped, &unroutable,
                 &queued, &waiting);
  g_assert_cmpuint (sent, ==, 9);
  g_assert_cmpuint (waiting, ==, 0);
  g_assert_cmpint (r.runs, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn, limit) \
  g_test_add ("/bus/" path, Fixture, GUINT_TO_POINTER (limit), fixture_setup, fn, fixture_teardown)
  ADD ("send-module", test_send_module, 0);
  ADD ("send-group-broadcast", test_send_group_and_broadcast, 0);
  ADD ("unknown-destination", test_unknown_destination, 0);
  ADD ("fifo-per-pair", test_fifo_per_pair, 0);
  ADD ("compact", test_compact, 8192);
  ADD ("bounded-queue", test_bounded_queue, 8);
  ADD ("stats", test_bus_stats, 8);
  ADD ("call/reply", test_call_reply, 0);
  ADD ("call/timeout", test_call_timeout, 0);
  ADD ("call/unknown-module", test_call_unknown_module, 0);
  ADD ("call/many-timeouts", test_many_timeouts_ordered, 0);
  ADD ("call/duplicate-id", test_call_duplicate_id, 0);
  ADD ("call/respond-error", test_respond_error, 0);
  ADD ("remove-member", test_remove_member, 0);
  ADD ("send-from-thread", test_send_from_thread, 0);
  ADD ("is-awaited-from-thread", test_is_awaited_from_thread, 0);
  ADD ("describe", test_describe, 0);
  ADD ("when-ready/waits", test_when_ready_waits, 8);
  ADD ("when-ready/order-mixed", test_when_ready_order_mixed, 4);
  ADD ("when-ready/per-destination", test_when_ready_per_destination, 8);
  ADD ("when-ready/receiver-leaves", test_when_ready_receiver_leaves, 8);
  ADD ("when-ready/sender-leaves", test_when_ready_sender_leaves, 8);
  ADD ("pause-resume", test_pause_resume, 8);
  ADD ("group-full-names-dropped", test_group_full_names_dropped, 2);
  ADD ("when-ready/group", test_group_when_ready, 4);
  ADD ("when-ready/bounded", test_when_ready_bounded, 1);
  ADD ("when-ready/group-member-leaves", test_group_when_ready_member_leaves, 4);
  ADD ("when-ready/send-from-callback", test_when_ready_send_from_callback, 4);
  ADD ("thread-send-bounded", test_thread_send_bounded, 8);
  ADD ("thread-send-unknown", test_thread_send_unknown, 8);
  return g_test_run ();
}
