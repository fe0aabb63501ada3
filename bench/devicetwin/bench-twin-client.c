/* bench-twin-client.c: MQTT load for devicetwin. Each connection owns one
 * device (bench-dev-<i>), keeps up to --window requests in flight and
 * counts the answers: twin updates answered by .../twin/update/delta, or
 * twin gets answered by .../twin/get/result. Prints
 *   BENCH <name> <per second> <unit>
 * usage: bench-twin-client --port P --conns N --seconds S --mode update|get --name NAME */
#include <glib.h>
#include <mosquitto.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  struct mosquitto *mosq;
  int               index;
  char             *req_topic;
  char             *ans_topic;
  gint64            sent;
  gint64            answered;
  gboolean          subscribed;
  GMutex            lock;
} Conn;

static gboolean update_mode = TRUE;
static int window = 256;
static volatile gint stopping;

/* Publishes one request. */
static void
send_one (Conn *c)
{
  char payload[256];
  int n;
  if (update_mode)
    n = snprintf (payload, sizeof payload,
                  "{\"event_id\":\"\",\"timestamp\":0,\"twin\":{\"temperature\":{\"actual\":{\"value\":\"%"
                  G_GINT64_FORMAT "\"},\"metadata\":{\"type\":\"string\"}}}}", c->sent);
  else
    n = snprintf (payload, sizeof payload, "{\"event_id\":\"g%" G_GINT64_FORMAT "\",\"timestamp\":0}",
                  c->sent);
  c->sent++;
  mosquitto_publish (c->mosq, NULL, c->req_topic, n, payload, 0, false);
}

/* SUBACK: start the window. */
static void
on_subscribe (struct mosquitto *mosq, void *obj, int mid, int qos_count, const int *granted)
{
  Conn *c = obj;
  g_mutex_lock (&c->lock);
  c->subscribed = TRUE;
  for (int i = 0; i < window; i++)
    send_one (c);
  g_mutex_unlock (&c->lock);
}

/* An answer: count it and send the next request. */
static void
on_message (struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
  Conn *c = obj;
  g_mutex_lock (&c->lock);
  c->answered++;
  if (!g_atomic_int_get (&stopping))
    send_one (c);
  g_mutex_unlock (&c->lock);
}

/* CONNACK: subscribe to the answers. */
static void
on_connect (struct mosquitto *mosq, void *obj, int rc)
{
  Conn *c = obj;
  if (rc == 0)
    mosquitto_subscribe (mosq, NULL, c->ans_topic, 0);
}

int
main (int argc, char **argv)
{
  int port = 1883, conns = 1;
  double seconds = 5, warmup = 1;
  g_autofree char *mode = NULL, *name = NULL;
  GOptionEntry entries[] = {
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "broker port", NULL },
    { "conns", 0, 0, G_OPTION_ARG_INT, &conns, "connections (one device each)", NULL },
    { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "measured time", NULL },
    { "warmup", 0, 0, G_OPTION_ARG_DOUBLE, &warmup, "time before measuring", NULL },
    { "window", 0, 0, G_OPTION_ARG_INT, &window, "requests in flight per connection", NULL },
    { "mode", 0, 0, G_OPTION_ARG_STRING, &mode, "update or get", NULL },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, "BENCH name", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- devicetwin MQTT load");
  g_autoptr (GError) error = NULL;
  Conn *cs;
  gint64 a0 = 0, a1 = 0, t0, t1;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  update_mode = g_strcmp0 (mode, "get") != 0;
  mosquitto_lib_init ();
  cs = g_new0 (Conn, conns);
  for (int i = 0; i < conns; i++)
    {
      Conn *c = &cs[i];
      g_autofree char *id = g_strdup_printf ("bench-twin-%d-%d", (int) getpid (), i);
      g_mutex_init (&c->lock);
      c->index = i;
      c->req_topic = g_strdup_printf ("$hw/events/device/bench-dev-%d/twin/%s", i,
                                      update_mode ? "update" : "get");
      c->ans_topic = g_strdup_printf ("$hw/events/device/bench-dev-%d/twin/%s", i,
                                      update_mode ? "update/delta" : "get/result");
      c->mosq = mosquitto_new (id, true, c);
      mosquitto_connect_callback_set (c->mosq, on_connect);
      mosquitto_subscribe_callback_set (c->mosq, on_subscribe);
      mosquitto_message_callback_set (c->mosq, on_message);
      if (mosquitto_connect (c->mosq, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
        {
          g_printerr ("cannot connect to 127.0.0.1:%d\n", port);
          return 1;
        }
      mosquitto_loop_start (c->mosq);
    }
  g_usleep ((gulong) (warmup * G_USEC_PER_SEC));
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < conns; i++)
    {
      g_mutex_lock (&cs[i].lock);
      a0 += cs[i].answered;
      g_mutex_unlock (&cs[i].lock);
    }
  g_usleep ((gulong) (seconds * G_USEC_PER_SEC));
  t1 = g_get_monotonic_time ();
  for (int i = 0; i < conns; i++)
    {
      g_mutex_lock (&cs[i].lock);
      a1 += cs[i].answered;
      g_mutex_unlock (&cs[i].lock);
    }
  g_atomic_int_set (&stopping, 1);
  if (a1 == a0)
    {
      g_printerr ("no answers from devicetwin\n");
      return 1;
    }
  printf ("BENCH %s %.0f %s\n", name ? name : (update_mode ? "devicetwin.twin_update" : "devicetwin.twin_get"),
          (double) (a1 - a0) * G_USEC_PER_SEC / (double) (t1 - t0), update_mode ? "updates/s" : "gets/s");
  fflush (stdout);
  for (int i = 0; i < conns; i++)
    {
      mosquitto_disconnect (cs[i].mosq);
      mosquitto_loop_stop (cs[i].mosq, false);
      mosquitto_destroy (cs[i].mosq);
      g_free (cs[i].req_topic);
      g_free (cs[i].ans_topic);
      g_mutex_clear (&cs[i].lock);
    }
  g_free (cs);
  mosquitto_lib_cleanup ();
  return 0;
}
