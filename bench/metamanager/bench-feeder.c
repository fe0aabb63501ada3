/* bench-feeder.c: drives metamanager's benchmark from inside a real
 * edgecore. It stands in for edgehub (module "websocket", group "hub"):
 * once started it sends `count` cloud pod inserts (1 KB objects, distinct
 * names, as edgecontroller sends them: no apiVersion/kind) to group "meta",
 * as edgehub routes them, as fast as the bus queue takes them while at most
 * `window` are not yet answered, and counts metamanager's acks ("OK"
 * responses). A message refused with an error is sent again (same id), as
 * CloudCore resends what is not acked. When every object is acked it writes
 * `<count> <seconds> <acks> <errors>` to `result-file` (errors: error
 * replies, each followed by a resend).
 *
 * CloudCore itself has one ack-requiring message per node in flight; the
 * window makes the burst far larger than that and than metamanager's
 * high-water mark, but not larger than its bounded queue.
 *
 * Config keys: count (default 100000), result-file, object-size (1024),
 * window (16384; 0: no limit). */
#include <edgecore.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  EcPluginContext *ctx;
  EcEndpoint      *ep;
  gint64           count;
  gint64           size;
  char            *result;
  gint64           sent;
  gint64           acked;
  gint64           errors;
  gint64           window;
  gint64           t0;
  guint            source;
  char            *padding;
  GQueue           resend;   /* indexes of pods refused with an error */
} Feeder;

/* One pod of about `size` bytes: what edgecontroller sends for a pod. */
static char *
make_pod (Feeder *f, gint64 i)
{
  return g_strdup_printf (
    "{\"metadata\":{\"name\":\"bench-%" G_GINT64_FORMAT "\",\"namespace\":\"default\","
    "\"uid\":\"6f1c2a4e-0000-4000-8000-%012" G_GINT64_MODIFIER "x\",\"resourceVersion\":\"%" G_GINT64_FORMAT "\","
    "\"creationTimestamp\":\"2024-08-06T08:00:00Z\",\"labels\":{\"app\":\"bench\",\"tier\":\"edge\"},"
    "\"annotations\":{\"bench/padding\":\"%s\"}},"
    "\"spec\":{\"nodeName\":\"edge-bench\",\"restartPolicy\":\"Always\",\"containers\":[{\"name\":\"app\","
    "\"image\":\"registry.example.com/bench/app:1.0\",\"ports\":[{\"containerPort\":8080,\"protocol\":\"TCP\"}],"
    "\"env\":[{\"name\":\"MODE\",\"value\":\"bench\"}],\"resources\":{\"limits\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}}}]},"
    "\"status\":{\"phase\":\"Pending\",\"qosClass\":\"Burstable\"}}",
    i, i, i + 1, f->padding);
}

/* Sends pod i (its id is derived from i, so a resend has the same id).
 * Returns FALSE when the bus queue is full. */
static gboolean
send_pod (Feeder *f, gint64 i)
{
  g_autofree char *resource = g_strdup_printf ("default/pod/bench-%" G_GINT64_FORMAT, i);
  g_autofree char *pod = make_pod (f, i);
  g_autofree char *rv = g_strdup_printf ("%" G_GINT64_FORMAT, i + 1);
  g_autofree char *id = g_strdup_printf ("6f1c2a4e-0000-4000-9000-%012" G_GINT64_MODIFIER "x", i);
  g_autoptr (EcMessage) m = ec_message_new ("edgecontroller", "resource", EC_OP_INSERT, resource);
  g_autoptr (GError) error = NULL;
  ec_message_set_id (m, id);
  ec_message_set_resource_version (m, rv);
  if (!ec_message_set_content_json (m, pod, -1, &error))
    g_error ("bench pod is not JSON: %s", error->message);
  if (ec_endpoint_send_to_group (f->ep, "meta", m, &error))
    return TRUE;
  if (!g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL))
    g_error ("cannot send to metamanager: %s", error->message);
  return FALSE;
}

/* Sends (resends first) until the queue is full, the window is full or
 * everything is sent. */
static gboolean
feed (gpointer data)
{
  Feeder *f = data;
  if (!f->t0)
    f->t0 = g_get_monotonic_time ();
  while (!g_queue_is_empty (&f->resend))
    {
      if (!send_pod (f, GPOINTER_TO_SIZE (g_queue_peek_head (&f->resend)) - 1))
        return G_SOURCE_CONTINUE;
      g_queue_pop_head (&f->resend);
    }
  while (f->sent < f->count && (f->window <= 0 || f->sent - f->acked < f->window))
    {
      if (!send_pod (f, f->sent))
        return G_SOURCE_CONTINUE;
      f->sent++;
    }
  f->source = 0;
  return G_SOURCE_REMOVE;
}

static gboolean
begin (gpointer data)
{
  Feeder *f = data;
  f->source = g_idle_add (feed, f);
  return G_SOURCE_REMOVE;
}

static gboolean
bf_init (EcPluginContext *ctx, gpointer *state, GError **error)
{
  Feeder *f = g_new0 (Feeder, 1);
  f->ctx = ctx;
  f->ep = ec_plugin_context_get_endpoint (ctx);
  f->count = ec_plugin_context_get_int (ctx, "count");
  f->size = ec_plugin_context_get_int (ctx, "object-size");
  f->result = ec_plugin_context_get_string (ctx, "result-file");
  f->window = ec_plugin_context_get_int (ctx, "window");
  *state = f;
  return TRUE;
}

static gboolean
bf_start (gpointer state, GError **error)
{
  Feeder *f = state;
  g_autofree char *probe = NULL;
  gsize base;
  f->padding = g_strdup ("");
  probe = make_pod (f, 0);
  base = strlen (probe);
  g_free (f->padding);
  f->padding = g_strnfill (f->size > (gint64) base ? (gsize) (f->size - (gint64) base) : 0, 'x');
  /* let the host settle first */
  f->source = g_timeout_add (300, begin, f);
  return TRUE;
}

static void
bf_stop (gpointer state)
{
  Feeder *f = state;
  g_clear_handle_id (&f->source, g_source_remove);
}

static void
bf_free (gpointer state)
{
  Feeder *f = state;
  g_free (f->result);
  g_free (f->padding);
  g_queue_clear (&f->resend);
  g_free (f);
}

static void
bf_handle (gpointer state, EcMessage *msg)
{
  Feeder *f = state;
  const char *op = ec_message_get_operation (msg);
  if (g_strcmp0 (op, EC_OP_RESPONSE) == 0)
    {
      gsize len;
      const char *c = ec_message_get_content_json (msg, &len);
      if (len == 4 && memcmp (c, "\"OK\"", 4) == 0)
        f->acked++;
    }
  else if (g_strcmp0 (op, EC_OP_ERROR) == 0)
    {
      /* "6f1c2a4e-0000-4000-9000-<index>": send that pod again */
      const char *parent = ec_message_get_parent_id (msg);
      guint64 i;
      f->errors++;
      if (!parent || strlen (parent) != 36
          || !g_ascii_string_to_unsigned (parent + 24, 16, 0, G_MAXINT64 - 1, &i, NULL))
        g_error ("error reply to an unknown message: %s", ec_message_get_content_json (msg, NULL));
      g_queue_push_tail (&f->resend, GSIZE_TO_POINTER ((gsize) i + 1));
    }
  else
    return;
  if (!f->source && (!g_queue_is_empty (&f->resend)
                     || (f->sent < f->count && (f->window <= 0 || f->sent - f->acked < f->window))))
    f->source = g_idle_add (feed, f);
  if (f->acked == f->count && f->result && *f->result)
    {
      double secs = (double) (g_get_monotonic_time () - f->t0) / G_USEC_PER_SEC;
      g_autofree char *text = g_strdup_printf ("%" G_GINT64_FORMAT " %.6f %" G_GINT64_FORMAT
                                               " %" G_GINT64_FORMAT "\n",
                                               f->count, secs, f->acked, f->errors);
      g_autofree char *tmp = g_strconcat (f->result, ".tmp", NULL);
      if (!g_file_set_contents (tmp, text, -1, NULL) || rename (tmp, f->result) != 0)
        ec_log_warning (f->ctx, "cannot write %s", f->result);
    }
}

static const EcConfigKey bf_keys[] = {
  { EC_CONFIG_INT, 0, "count", "100000", "pods to send" },
  { EC_CONFIG_INT, 0, "object-size", "1024", "bytes of each pod's JSON" },
  { EC_CONFIG_STRING, 0, "result-file", "", "where the result line goes" },
  { EC_CONFIG_INT, 0, "window", "16384", "pods sent and not yet answered, at most (0: no limit)" },
  { 0 },
};

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "benchfeeder",
  .version = "1.0",
  .summary = "metamanager benchmark: sends pods as edgehub would and counts acks",
  .bus_name = "websocket",
  .bus_group = "hub",
  .config_keys = bf_keys,
  .init = bf_init,
  .start = bf_start,
  .stop = bf_stop,
  .free = bf_free,
  .handle_message = bf_handle,
};
