/* fake-metamanager.c: a stand-in for metamanager in edgehub's tests and
 * benchmarks. It registers as module "metamanager" in group "meta" and
 * follows the ack contract of docs/bus-contracts.md: each insert, update,
 * patch or delete from the cloud is written to the table fake_meta of the
 * shared store (INSERT OR REPLACE, so a resend is idempotent), and only
 * when that write committed does it send the ack — operation "response",
 * content "OK", parent_msg_id = the cloud message's id — to module
 * "websocket". A failed write is answered with "error". It logs the cloud
 * connection state and every reply it gets, so tests can see them.
 *   [fake-metamanager] verbose=false   no log line per message (benchmarks)
 *   [fake-metamanager] ack=false       store, but never ack
 *   [fake-metamanager] flood-uplink=N  on cloud_disconnected, send N events
 *                                      for the cloud at once (log flood test)
 * Acks that meet a full bus queue wait on the bus for room
 * (ec_endpoint_send_when_ready). */
#include <edgecore.h>

typedef struct {
  EcPluginContext *ctx;
  EcEndpoint      *ep;
  EcStore         *store;
  gboolean         verbose;
  gboolean         ack;
  gint64           flood;
  guint64          applied;
  gboolean         stopped;
} Fake;

typedef struct {
  Fake      *fake;
  EcMessage *msg;
} Job;

/* Creates the table. */
static gboolean
create_table (sqlite3 *db, gpointer data, GError **error)
{
  if (sqlite3_exec (db, "CREATE TABLE IF NOT EXISTS fake_meta (key TEXT PRIMARY KEY, op TEXT,"
                        " rv TEXT, msg_id TEXT, value TEXT, applied INTEGER)", NULL, NULL, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "creating fake_meta");
  return TRUE;
}

/* One prepared statement for the writer thread's one connection. */
static sqlite3_stmt *st;
static sqlite3 *st_db;

/* Finalizes it (a write job, so it runs on the writer thread). */
static gboolean
finalize_statement (sqlite3 *db, gpointer data, GError **error)
{
  if (st)
    sqlite3_finalize (st);
  st = NULL;
  st_db = NULL;
  return TRUE;
}

/* Writes one cloud message (runs on the store's writer thread). */
static gboolean
apply (sqlite3 *db, gpointer data, GError **error)
{
  Job *job = data;
  gsize len;
  const char *content = ec_message_get_content_json (job->msg, &len);
  const char *rv = ec_message_get_resource_version (job->msg);
  int rc;
  if (st_db != db)
    {
      if (st)
        sqlite3_finalize (st);
      st = NULL;
      st_db = db;
      if (sqlite3_prepare_v3 (db, "INSERT OR REPLACE INTO fake_meta (key, op, rv, msg_id, value, applied)"
                                  " VALUES (?, ?, ?, ?, ?, strftime('%s','now'))", -1,
                              SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
        {
          st_db = NULL;
          return ec_store_set_sql_error (error, db, "fake_meta");
        }
    }
  sqlite3_bind_text (st, 1, ec_message_get_resource (job->msg), -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, ec_message_get_operation (job->msg), -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 3, rv ? rv : "", -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 4, ec_message_get_id (job->msg), -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 5, content, (int) len, SQLITE_STATIC);
  rc = sqlite3_step (st);
  sqlite3_reset (st);
  sqlite3_clear_bindings (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "fake_meta");
  return TRUE;
}

/* The write committed (or failed): ack (or answer with an error). */
static void
applied (const GError *error, gpointer data)
{
  Job *job = data;
  Fake *f = job->fake;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) send_error = NULL;

  if (f->stopped)
    return;   /* edgecore is stopping: the context may be gone */
  if (error)
    {
      reply = ec_message_new_error (job->msg, error->message);
      ec_message_set_source (reply, "metamanager");
    }
  else
    {
      f->applied++;
      if (f->verbose)
        ec_log_message (f->ctx, "fake-metamanager: applied %s %s rv %s (msg %s)",
                        ec_message_get_operation (job->msg), ec_message_get_resource (job->msg),
                        ec_message_get_resource_version (job->msg), ec_message_get_id (job->msg));
      if (!f->ack)
        return;
      reply = ec_message_new_response (job->msg, "\"OK\"");
    }
  /* a batch commit acks many messages at once: a full bus queue is waited out */
  if (!ec_endpoint_send_when_ready (f->ep, "websocket", reply, NULL, NULL, NULL, &send_error))
    ec_log_warning (f->ctx, "fake-metamanager: ack of %s not sent: %s", ec_message_get_id (job->msg),
                    send_error->message);
}

/* Frees a job. */
static void
job_free (gpointer data)
{
  Job *job = data;
  ec_message_unref (job->msg);
  g_rc_box_release (job->fake);
  g_free (job);
}

/* Sends f->flood events for the cloud at once (edgehub is offline: it
 * keeps uplink-queue-length of them and drops the rest). */
static void
flood_uplink (Fake *f)
{
  guint64 waiting = 0;
  for (gint64 i = 0; i < f->flood; i++)
    {
      g_autofree char *resource = g_strdup_printf ("default/event/flood-%" G_GINT64_FORMAT, i);
      g_autoptr (EcMessage) m = ec_message_new ("edged", "meta", EC_OP_INSERT, resource);
      g_autoptr (GError) error = NULL;
      ec_message_set_content_json (m, "{\"reason\":\"flood\"}", -1, NULL);
      if (!ec_endpoint_send_when_ready (f->ep, "websocket", m, NULL, NULL, NULL, &error))
        ec_log_warning (f->ctx, "fake-metamanager: flood message not sent: %s", error->message);
    }
  waiting = ec_endpoint_get_waiting (f->ep, "websocket");
  ec_log_message (f->ctx, "fake-metamanager: flooded %" G_GINT64_FORMAT " messages for the cloud "
                  "(%" G_GUINT64_FORMAT " waiting for room)", f->flood, waiting);
}

/* A message on the bus. */
static void
fake_handle (gpointer state, EcMessage *msg)
{
  Fake *f = state;
  const char *op = ec_message_get_operation (msg);
  Job *job;

  if (g_strcmp0 (op, EC_OP_CONNECT) == 0)
    {
      g_autofree char *what = ec_message_dup_content_string (msg);
      ec_log_message (f->ctx, "fake-metamanager: %s", what);
      if (f->flood > 0 && g_strcmp0 (what, "cloud_disconnected") == 0)
        flood_uplink (f);
      return;
    }
  if (g_strcmp0 (op, EC_OP_RESPONSE) == 0 || g_strcmp0 (op, EC_OP_ERROR) == 0)
    {
      if (f->verbose)
        ec_log_message (f->ctx, "fake-metamanager: got %s for %s (%s)", op,
                        ec_message_get_parent_id (msg), ec_message_get_resource (msg));
      return;
    }
  if (g_strcmp0 (op, EC_OP_INSERT) && g_strcmp0 (op, EC_OP_UPDATE) && g_strcmp0 (op, EC_OP_DELETE)
      && g_strcmp0 (op, EC_OP_PATCH))
    {
      ec_log_message (f->ctx, "fake-metamanager: ignoring %s %s", op, ec_message_get_resource (msg));
      return;
    }
  job = g_new0 (Job, 1);
  job->fake = g_rc_box_acquire (f);
  job->msg = ec_message_ref (msg);
  ec_store_write (f->store, apply, applied, job, job_free);
}

/* Opens the store and creates the table. */
static gboolean
fake_init (EcPluginContext *ctx, gpointer *state, GError **error)
{
  Fake *f = g_rc_box_new0 (Fake);
  f->ctx = ctx;
  f->ep = ec_plugin_context_get_endpoint (ctx);
  f->verbose = ec_plugin_context_get_bool (ctx, "verbose");
  f->ack = ec_plugin_context_get_bool (ctx, "ack");
  f->flood = ec_plugin_context_get_int (ctx, "flood-uplink");
  f->store = ec_plugin_context_get_store (ctx, error);
  if (!f->store || !ec_store_write_sync (f->store, create_table, NULL, error))
    {
      g_rc_box_release (f);
      return FALSE;
    }
  *state = f;
  return TRUE;
}

/* Nothing to start. */
static gboolean
fake_start (gpointer state, GError **error)
{
  return TRUE;
}

/* Logs what it did. */
static void
fake_stop (gpointer state)
{
  Fake *f = state;
  f->stopped = TRUE;
  ec_store_write_sync (f->store, finalize_statement, NULL, NULL);
  ec_log_message (f->ctx, "fake-metamanager: applied %" G_GUINT64_FORMAT " messages", f->applied);
}

/* Drops the plugin's reference; store jobs still queued hold their own. */
static void
fake_free (gpointer state)
{
  g_rc_box_release (state);
}

static const EcConfigKey fake_keys[] = {
  { EC_CONFIG_BOOL, 0, "verbose", "true", "log each applied message" },
  { EC_CONFIG_BOOL, 0, "ack", "true", "acknowledge applied messages" },
  { EC_CONFIG_INT,  0, "flood-uplink", "0", "on cloud_disconnected, send this many events for the cloud" },
  { 0 },
};

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "fake-metamanager",
  .version = "1.0",
  .summary = "test stand-in for metamanager: stores cloud messages, acks after commit",
  .bus_name = "metamanager",
  .bus_group = "meta",
  .config_keys = fake_keys,
  .init = fake_init,
  .start = fake_start,
  .stop = fake_stop,
  .free = fake_free,
  .handle_message = fake_handle,
};
