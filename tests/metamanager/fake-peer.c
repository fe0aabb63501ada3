/* fake-peer.c: a stand-in for edgehub (module "websocket", group "hub") or
 * edged (module "edged", group "edged") in metamanager's tests, built in
 * two variants from -DFP_NAME/-DFP_BUS_NAME/-DFP_GROUP.
 *
 * Config keys of its section:
 *   log-file=PATH   every message it receives is appended there as one line
 *                   of wire JSON (flushed at once)
 *   answers=PATH    a JSON object file read on each sync request: the member
 *                   "<operation> <resource>" (or "*") is the content of the
 *                   response it sends back; "error:<text>" sends an error
 *                   instead; no member: no answer (the caller times out)
 * A message with operation "fake-connect" or "fake-disconnect" makes it
 * broadcast edgehub's connect event ("cloud_connected"/"cloud_disconnected").
 * One with operation "fake-store-jobs" and a number N as content queues N
 * write jobs of 2 ms each on the shared store: another plugin keeping the
 * writer busy. One with operation "fake-store-gate" and a file path as
 * content queues one write job that holds the writer until that file is
 * gone (at most 120 s): a writer stalled for as long as the test wants. */
#include <edgecore.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  EcPluginContext *ctx;
  EcEndpoint      *ep;
  FILE            *log;
  char            *answers;
} FakePeer;

static gboolean
fp_init (EcPluginContext *ctx, gpointer *state, GError **error)
{
  FakePeer *fp = g_new0 (FakePeer, 1);
  g_autofree char *log = ec_plugin_context_get_string (ctx, "log-file");
  fp->ctx = ctx;
  fp->ep = ec_plugin_context_get_endpoint (ctx);
  fp->answers = ec_plugin_context_get_string (ctx, "answers");
  if (log && *log)
    {
      fp->log = fopen (log, "a");
      if (!fp->log)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "cannot open %s", log);
          g_free (fp->answers);
          g_free (fp);
          return FALSE;
        }
    }
  *state = fp;
  return TRUE;
}

static gboolean
fp_start (gpointer state, GError **error)
{
  return TRUE;
}

static void
fp_stop (gpointer state)
{
}

static void
fp_free (gpointer state)
{
  FakePeer *fp = state;
  if (fp->log)
    fclose (fp->log);
  g_free (fp->answers);
  g_free (fp);
}

/* Finds the configured answer to msg, or NULL. */
static char *
find_answer (FakePeer *fp, EcMessage *msg)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autofree char *key = NULL;
  JsonNode *root;
  JsonObject *obj;
  JsonNode *answer;

  if (!fp->answers || !*fp->answers)
    return NULL;
  parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, fp->answers, NULL))
    return NULL;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  obj = json_node_get_object (root);
  key = g_strdup_printf ("%s %s", ec_message_get_operation (msg), ec_message_get_resource (msg));
  answer = json_object_get_member (obj, key);
  if (!answer)
    answer = json_object_get_member (obj, "*");
  return answer ? json_to_string (answer, FALSE) : NULL;
}

static void
broadcast_connect (FakePeer *fp, const char *state)
{
  g_autoptr (EcMessage) m = ec_message_new ("edgehub", "meta", EC_OP_CONNECT, "node/connection");
  ec_message_set_content_string (m, state);
  ec_endpoint_broadcast (fp->ep, m);
}

/* On the store's writer thread: a slow job of another plugin. */
static gboolean
slow_job (sqlite3 *db, gpointer data, GError **error)
{
  g_usleep (2000);
  return TRUE;
}

/* On the store's writer thread: holds the writer while the gate file exists. */
static gboolean
gate_job (sqlite3 *db, gpointer data, GError **error)
{
  const char *path = data;
  for (guint i = 0; i < 12000 && g_file_test (path, G_FILE_TEST_EXISTS); i++)
    g_usleep (10000);
  return TRUE;
}

static void
queue_store_gate (FakePeer *fp, EcMessage *msg)
{
  g_autoptr (GError) error = NULL;
  EcStore *store = ec_plugin_context_get_store (fp->ctx, &error);
  gsize len = 0;
  const char *json = ec_message_get_content_json (msg, &len);
  char *path = json ? ec_json_decode_string (json, len, NULL) : NULL;
  if (!store || !path)
    {
      ec_log_warning (fp->ctx, "no store gate: %s", error ? error->message : "no path");
      g_free (path);
      return;
    }
  ec_store_write (store, gate_job, NULL, path, g_free);
  ec_log_message (fp->ctx, "queued the store gate %s", path);
}

static void
queue_store_jobs (FakePeer *fp, EcMessage *msg)
{
  g_autoptr (GError) error = NULL;
  const char *n = ec_message_get_content_json (msg, NULL);
  EcStore *store = ec_plugin_context_get_store (fp->ctx, &error);
  gint64 count = n ? g_ascii_strtoll (n, NULL, 10) : 0;
  if (!store)
    {
      ec_log_warning (fp->ctx, "no store: %s", error->message);
      return;
    }
  for (gint64 i = 0; i < count; i++)
    ec_store_write (store, slow_job, NULL, NULL, NULL);
  ec_log_message (fp->ctx, "queued %" G_GINT64_FORMAT " slow store jobs", count);
}

static void
fp_handle (gpointer state, EcMessage *msg)
{
  FakePeer *fp = state;
  const char *op = ec_message_get_operation (msg);
  g_autofree char *answer = NULL;

  if (fp->log)
    {
      g_autofree char *json = ec_message_to_json (msg, NULL);
      fprintf (fp->log, "%s\n", json);
      fflush (fp->log);
    }
  if (g_strcmp0 (op, "fake-connect") == 0)
    {
      broadcast_connect (fp, "cloud_connected");
      return;
    }
  if (g_strcmp0 (op, "fake-disconnect") == 0)
    {
      broadcast_connect (fp, "cloud_disconnected");
      return;
    }
  if (g_strcmp0 (op, "fake-store-jobs") == 0)
    {
      queue_store_jobs (fp, msg);
      return;
    }
  if (g_strcmp0 (op, "fake-store-gate") == 0)
    {
      queue_store_gate (fp, msg);
      return;
    }
  if (!ec_message_get_sync (msg) || !(answer = find_answer (fp, msg)))
    return;

  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;
  if (answer[0] == '"' && g_str_has_prefix (answer + 1, "error:"))
    {
      g_autofree char *text = g_strndup (answer + 7, strlen (answer) - 8);
      reply = ec_message_new_error (msg, text);
      ec_message_set_source (reply, FP_BUS_NAME);
    }
  else
    {
      reply = ec_message_new_response (msg, answer);
      ec_message_set_source (reply, "edgecontroller");
      ec_message_set_group (reply, "resource");
    }
  if (!ec_endpoint_respond (fp->ep, reply, &error))
    ec_log_warning (fp->ctx, "cannot answer %s: %s", ec_message_get_id (msg), error->message);
}

static const EcConfigKey fp_keys[] = {
  { EC_CONFIG_STRING, 0, "log-file", "", "where received messages are logged" },
  { EC_CONFIG_STRING, 0, "answers", "", "JSON file of answers to sync requests" },
  { 0 },
};

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = FP_NAME,
  .version = "1.0",
  .summary = "metamanager test stand-in for " FP_BUS_NAME,
  .bus_name = FP_BUS_NAME,
  .bus_group = FP_GROUP,
  .config_keys = fp_keys,
  .init = fp_init,
  .start = fp_start,
  .stop = fp_stop,
  .free = fp_free,
  .handle_message = fp_handle,
};
