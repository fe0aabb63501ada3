/* bench-bus.c: throughput of the in-process bus (kernel/bus.c).
 *
 * Two members, "a" and "b", on one GMainContext with the default queue
 * limit (1024). Every figure is printed as one line
 *
 *   BENCH <name> <value> <unit>
 *
 * bus.oneway        a sends one frozen message to b again and again
 * bus.oneway_fresh  a sends a new ec_message_new() each time
 * bus.call          a calls b (b answers with ec_endpoint_respond), 256 in flight
 * bus.call_serial   the same with 1 call in flight
 * bus.oneway_waiting a sends the frozen message with ec_endpoint_send_when_ready,
 *                   keeping 1024 waiting on its side behind b's full queue:
 *                   the bus moves them in as b's batches make room
 * bus.oneway_counted bus.oneway with libedgecore 1.3 metrics counted as
 *                   edgehub does: a counts each send (messages and bytes),
 *                   b each delivery (messages and bytes): 4 ec_metric_add()
 *                   per message
 *
 * The sender never overruns the bounded queue: an idle source at the bus's
 * priority sends until a send fails with EC_BUS_ERROR_QUEUE_FULL, then
 * returns to the main loop so the bus can deliver. The oneway figures count
 * the messages that reached b's handler; the call figures count the replies
 * that reached a's callback.
 *
 * Options: --seconds=S (default 2), --warmup=S (default 0.3),
 * --only=NAME (run one figure; may be repeated), --repeat=N (measure each
 * figure N times and report the best run, for a machine that is not idle). */
#include "config.h"

#include "bus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALL_TIMEOUT_MS 5000
#define QUEUE_LIMIT     1024

static double opt_seconds = 2.0;
static double opt_warmup = 0.3;
static char **opt_only = NULL;
static int opt_repeat = 1;

typedef struct {
  GMainContext *context;
  GMainLoop    *loop;
  EcBus        *bus;
  EcEndpoint   *a, *b;

  /* the run */
  gint64        warm_end;       /* µs: measurement starts */
  gint64        end;            /* µs: measurement ends */
  gint64        t_start, t_stop;
  guint64       count_start, count_stop;
  gboolean      measuring, stopping;

  /* oneway */
  EcMessage    *frozen;         /* NULL: a fresh message per send */
  gboolean      waiting;        /* send with ec_endpoint_send_when_ready */
  guint64       delivered;      /* in b's handler */
  guint64       send_failures;  /* QUEUE_FULL seen by the sender */
  guint64       other_errors;
  EcMetric     *m_sent, *m_sent_bytes, *m_recv, *m_recv_bytes;  /* oneway_counted */

  /* calls */
  guint         in_flight;
  guint         max_in_flight;
  guint64       replies;        /* in a's callback */
  guint64       call_errors;
} Bench;

static gboolean
wanted (const char *name)
{
  if (!opt_only)
    return TRUE;
  for (guint i = 0; opt_only[i]; i++)
    if (strcmp (opt_only[i], name) == 0)
      return TRUE;
  return FALSE;
}

/* Moves the run through warm-up, measurement and the end; returns FALSE
 * once the measurement is over. count is the figure's running counter. */
static gboolean
bench_tick (Bench *b, guint64 count)
{
  gint64 now;
  if (b->stopping)
    return FALSE;
  now = g_get_monotonic_time ();
  if (!b->measuring && now >= b->warm_end)
    {
      b->measuring = TRUE;
      b->t_start = now;
      b->count_start = count;
    }
  else if (b->measuring && now >= b->end)
    {
      b->t_stop = now;
      b->count_stop = count;
      b->stopping = TRUE;
      return FALSE;
    }
  return TRUE;
}

static double
bench_rate (Bench *b)
{
  double secs = (double) (b->t_stop - b->t_start) / G_USEC_PER_SEC;
  return secs > 0 ? (double) (b->count_stop - b->count_start) / secs : 0;
}

/* ---- members ------------------------------------------------------------- */

static void
a_handler (gpointer data, EcMessage *msg)
{
  /* a gets nothing but call replies, and those go to the callbacks */
}

static void
b_handler (gpointer data, EcMessage *msg)
{
  Bench *b = data;
  b->delivered++;
  if (b->m_recv)
    {
      ec_metric_add (b->m_recv, 1);
      ec_metric_add (b->m_recv_bytes, 5);
    }
  if (ec_message_get_sync (msg))
    {
      g_autoptr (GError) error = NULL;
      EcMessage *reply = ec_message_new_response (msg, NULL);
      if (!ec_endpoint_respond (b->b, reply, &error))
        b->other_errors++;
      ec_message_unref (reply);
    }
}

static void
bench_setup (Bench *b)
{
  g_autoptr (GError) error = NULL;
  memset (b, 0, sizeof *b);
  b->context = g_main_context_new ();
  g_main_context_push_thread_default (b->context);
  b->loop = g_main_loop_new (b->context, FALSE);
  b->bus = ec_bus_new (b->context, QUEUE_LIMIT);
  b->a = ec_bus_add_member (b->bus, "a", "bench", a_handler, b, &error);
  g_assert_no_error (error);
  b->b = ec_bus_add_member (b->bus, "b", "bench", b_handler, b, &error);
  g_assert_no_error (error);
  b->warm_end = g_get_monotonic_time () + (gint64) (opt_warmup * G_USEC_PER_SEC);
  b->end = b->warm_end + (gint64) (opt_seconds * G_USEC_PER_SEC);
}

static void
bench_teardown (Bench *b)
{
  ec_bus_free (b->bus);
  g_main_loop_unref (b->loop);
  g_main_context_pop_thread_default (b->context);
  g_main_context_unref (b->context);
  g_clear_pointer (&b->frozen, ec_message_unref);
}

/* ---- oneway -------------------------------------------------------------- */

/* Sends until b's queue is full, then lets the bus deliver. The idle has the
 * bus's priority, so the main loop alternates between the two. */
static gboolean
oneway_fill (gpointer data)
{
  Bench *b = data;
  if (!bench_tick (b, b->delivered))
    {
      g_main_loop_quit (b->loop);
      return G_SOURCE_REMOVE;
    }
  while (b->waiting && ec_endpoint_get_waiting (b->a, "b") < QUEUE_LIMIT)
    {
      GError *error = NULL;
      if (!ec_endpoint_send_when_ready (b->a, "b", b->frozen, NULL, NULL, NULL, &error))
        {
          g_printerr ("bench-bus: waiting send failed: %s\n", error->message);
          b->other_errors++;
          g_error_free (error);
          break;
        }
    }
  for (; !b->waiting;)
    {
      GError *error = NULL;
      gboolean ok;
      if (b->frozen)
        {
          ok = ec_endpoint_send (b->a, "b", b->frozen, &error);
          if (b->m_sent && ok)
            {
              ec_metric_add (b->m_sent, 1);
              ec_metric_add (b->m_sent_bytes, 5);
            }
        }
      else
        {
          EcMessage *msg = ec_message_new ("a", "bench", EC_OP_UPDATE, "default/bench/x");
          ok = ec_endpoint_send (b->a, "b", msg, &error);
          ec_message_unref (msg);
        }
      if (!ok)
        {
          if (g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL))
            b->send_failures++;
          else
            {
              g_printerr ("bench-bus: send failed: %s\n", error->message);
              b->other_errors++;
            }
          g_error_free (error);
          break;
        }
    }
  return G_SOURCE_CONTINUE;
}

static double
run_oneway (const char *name, gboolean fresh, gboolean waiting, gboolean counted)
{
  Bench b;
  double rate;
  GSource *idle;
  bench_setup (&b);
  b.waiting = waiting;
  if (counted)
    {
      b.m_sent = ec_endpoint_add_metric (b.a, "bench_sent_total", EC_METRIC_COUNTER, "Sent.", NULL);
      b.m_sent_bytes = ec_endpoint_add_metric (b.a, "bench_sent_bytes_total", EC_METRIC_COUNTER, "Bytes.", NULL);
      b.m_recv = ec_endpoint_add_metric (b.b, "bench_received_total", EC_METRIC_COUNTER, "Got.", NULL);
      b.m_recv_bytes = ec_endpoint_add_metric (b.b, "bench_received_bytes_total", EC_METRIC_COUNTER, "Bytes.", NULL);
    }
  if (!fresh)
    {
      b.frozen = ec_message_new ("a", "bench", EC_OP_UPDATE, "default/bench/x");
      ec_message_set_content_string (b.frozen, "hello");
    }
  idle = g_idle_source_new ();
  g_source_set_priority (idle, G_PRIORITY_DEFAULT);
  g_source_set_callback (idle, oneway_fill, &b, NULL);
  g_source_attach (idle, b.context);
  g_main_loop_run (b.loop);
  g_source_destroy (idle);
  g_source_unref (idle);
  rate = bench_rate (&b);
  if (counted && (guint64) ec_metric_get (b.m_recv) != b.delivered)
    {
      g_printerr ("bench-bus: %s: counted %" G_GINT64_FORMAT " deliveries of %" G_GUINT64_FORMAT "\n",
                  name, ec_metric_get (b.m_recv), b.delivered);
      b.other_errors++;
    }
  if (b.other_errors)
    g_printerr ("bench-bus: %s: %" G_GUINT64_FORMAT " unexpected errors\n", name, b.other_errors);
  g_printerr ("bench-bus: %s: %.0f msg/s, %" G_GUINT64_FORMAT " delivered, %" G_GUINT64_FORMAT
              " queue-full pauses\n", name, rate, b.delivered, b.send_failures);
  bench_teardown (&b);
  return rate;
}

/* ---- calls --------------------------------------------------------------- */

static void call_next (Bench *b);

static void
call_done (EcMessage *reply, const GError *error, gpointer user_data)
{
  Bench *b = user_data;
  b->in_flight--;
  if (reply)
    b->replies++;
  else
    {
      if (b->call_errors++ < 5)
        g_printerr ("bench-bus: call failed: %s\n", error->message);
    }
  /* read the clock every 64 replies only: it costs as much as a bus hop */
  if (b->stopping ? FALSE : ((b->replies & 63) != 0 || bench_tick (b, b->replies)))
    call_next (b);
  else if (b->in_flight == 0)
    g_main_loop_quit (b->loop);
}

static void
call_next (Bench *b)
{
  EcMessage *msg = ec_message_new ("a", "bench", EC_OP_QUERY, "default/bench/x");
  b->in_flight++;
  ec_endpoint_call (b->a, "b", msg, CALL_TIMEOUT_MS, call_done, b, NULL);
  ec_message_unref (msg);
}

static gboolean
call_start (gpointer data)
{
  Bench *b = data;
  for (guint i = 0; i < b->max_in_flight; i++)
    call_next (b);
  return G_SOURCE_REMOVE;
}

static double
run_call (const char *name, guint in_flight)
{
  Bench b;
  double rate;
  bench_setup (&b);
  b.max_in_flight = in_flight;
  g_main_context_invoke (b.context, call_start, &b);
  g_main_loop_run (b.loop);
  rate = bench_rate (&b);
  if (b.call_errors || b.other_errors)
    g_printerr ("bench-bus: %s: %" G_GUINT64_FORMAT " failed calls, %" G_GUINT64_FORMAT
                " failed replies\n", name, b.call_errors, b.other_errors);
  g_printerr ("bench-bus: %s: %.0f round trips/s, %" G_GUINT64_FORMAT
              " round trips, pending at the end %u\n",
              name, rate, b.replies, ec_bus_get_pending_calls (b.bus));
  bench_teardown (&b);
  return rate;
}

static void
report (const char *name, const char *unit, double (*run) (const char *, guint), guint arg)
{
  double best = 0;
  if (!wanted (name))
    return;
  for (int i = 0; i < MAX (opt_repeat, 1); i++)
    {
      double r = run (name, arg);  /* not inside MAX: it evaluates twice */
      best = MAX (best, r);
    }
  printf ("BENCH %s %.0f %s\n", name, best, unit);
  fflush (stdout);
}

static double
run_oneway_frozen (const char *name, guint unused)
{
  return run_oneway (name, FALSE, FALSE, FALSE);
}

static double
run_oneway_counted (const char *name, guint unused)
{
  return run_oneway (name, FALSE, FALSE, TRUE);
}

static double
run_oneway_waiting (const char *name, guint unused)
{
  return run_oneway (name, FALSE, TRUE, FALSE);
}

static double
run_oneway_fresh (const char *name, guint unused)
{
  return run_oneway (name, TRUE, FALSE, FALSE);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) opts = NULL;
  GOptionEntry entries[] = {
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds, "measure each figure for S seconds", "S" },
    { "warmup", 'w', 0, G_OPTION_ARG_DOUBLE, &opt_warmup, "warm up for S seconds first", "S" },
    { "only", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &opt_only, "run only figure NAME (repeatable)", "NAME" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &opt_repeat, "measure N times, report the best", "N" },
    { NULL },
  };
  opts = g_option_context_new (NULL);
  g_option_context_add_main_entries (opts, entries, NULL);
  if (!g_option_context_parse (opts, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  report ("bus.oneway", "msg/s", run_oneway_frozen, 0);
  report ("bus.oneway_fresh", "msg/s", run_oneway_fresh, 0);
  report ("bus.oneway_waiting", "msg/s", run_oneway_waiting, 0);
  report ("bus.call", "roundtrips/s", run_call, 256);
  report ("bus.call_serial", "roundtrips/s", run_call, 1);
  report ("bus.oneway_counted", "msg/s", run_oneway_counted, 0);
  g_strfreev (opt_only);
  return 0;
}
