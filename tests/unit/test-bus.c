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
  ADD ("bounded-queue", test_bounded_queue, 8);
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
  return g_test_run ();
}
