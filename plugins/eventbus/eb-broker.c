/* eb-broker.c: libmosquitto has no embeddable broker, so the internal
 * broker (mqttMode 0 and 1) is a mosquitto process that eventbus starts
 * with a configuration it writes into <data-dir>/eventbus/, watches and
 * restarts with backoff whenever it exits. The child gets SIGTERM when
 * edgecore dies (PR_SET_PDEATHSIG), so it never outlives the node. */
#include "eb-broker.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>

#define RESTART_MIN_MS 250
#define RESTART_MAX_MS 10000
#define STABLE_US      (10 * G_USEC_PER_SEC)

struct _EbBroker {
  EcPluginContext *context;
  char            *program;
  char            *conf_path;
  char            *pid_path;
  GSubprocess     *proc;
  GCancellable    *cancel;
  guint            restart_id;
  guint            backoff_ms;
  gint64           started_at;
  gboolean         stopping;
};

/* Finds the mosquitto program: $PATH, then the Debian and /usr/local sbin. */
static char *
find_mosquitto (void)
{
  static const char *const fallbacks[] = { "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", NULL };
  char *p = g_find_program_in_path ("mosquitto");
  for (guint i = 0; !p && fallbacks[i]; i++)
    if (g_file_test (fallbacks[i], G_FILE_TEST_IS_EXECUTABLE))
      p = g_strdup (fallbacks[i]);
  return p;
}

/* Writes the broker configuration; returns FALSE with error on failure. */
static gboolean
write_config (EbBroker *self, const char *host, int port, guint queue_size, GError **error)
{
  g_autofree char *text = g_strdup_printf (
    "# Written by edgecore eventbus at every start; edits are lost.\n"
    "listener %d %s\n"
    "allow_anonymous true\n"
    "persistence false\n"
    "max_queued_messages %u\n"
    "log_dest stderr\n"
    "log_type error\n"
    "log_type warning\n",
    port, host, queue_size);
  return g_file_set_contents_full (self->conf_path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                   0600, error);
}

/* Prepares the internal broker: finds mosquitto and writes its config. */
EbBroker *
eb_broker_new (EcPluginContext *context, const char *host, int port, guint queue_size,
               GError **error)
{
  g_autofree char *dir = g_build_filename (ec_plugin_context_get_data_dir (context),
                                           "eventbus", NULL);
  EbBroker *self;

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", dir,
                   g_strerror (errno));
      return NULL;
    }
  self = g_new0 (EbBroker, 1);
  self->context = context;
  self->program = find_mosquitto ();
  self->conf_path = g_build_filename (dir, "mosquitto-internal.conf", NULL);
  self->pid_path = g_build_filename (dir, "mosquitto-internal.pid", NULL);
  self->cancel = g_cancellable_new ();
  self->backoff_ms = RESTART_MIN_MS;
  if (!self->program)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "internal MQTT broker: the mosquitto program is not installed");
      eb_broker_free (self);
      return NULL;
    }
  if (!write_config (self, host, port, queue_size, error))
    {
      eb_broker_free (self);
      return NULL;
    }
  return self;
}

/* Runs in the child before exec: die with the parent. */
static void
child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void spawn (EbBroker *self);

/* Restart timer. */
static gboolean
on_restart (gpointer data)
{
  EbBroker *self = data;
  self->restart_id = 0;
  spawn (self);
  return G_SOURCE_REMOVE;
}

/* Schedules a restart; the delay doubles while the broker keeps dying
 * young and starts over once it ran for a while. */
static void
schedule_restart (EbBroker *self)
{
  if (g_get_monotonic_time () - self->started_at > STABLE_US)
    self->backoff_ms = RESTART_MIN_MS;
  self->restart_id = g_timeout_add (self->backoff_ms, on_restart, self);
  self->backoff_ms = MIN (self->backoff_ms * 2, RESTART_MAX_MS);
}

/* The broker process exited. */
static void
on_broker_exit (GObject *source, GAsyncResult *res, gpointer data)
{
  GSubprocess *proc = G_SUBPROCESS (source);
  g_autoptr (GError) error = NULL;
  EbBroker *self;

  if (!g_subprocess_wait_finish (proc, res, &error)
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* eventbus is stopping; self may be gone */
  self = data;
  if (self->proc != proc)
    return;
  g_clear_object (&self->proc);
  g_unlink (self->pid_path);
  if (self->stopping)
    return;
  ec_log_warning (self->context, "internal MQTT broker exited (%s %d); restarting in %u ms",
                  g_subprocess_get_if_signaled (proc) ? "signal" : "status",
                  g_subprocess_get_if_signaled (proc) ? g_subprocess_get_term_sig (proc)
                                                      : g_subprocess_get_exit_status (proc),
                  self->backoff_ms);
  schedule_restart (self);
}

/* Starts the mosquitto process and watches it. */
static void
spawn (EbBroker *self)
{
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  g_autoptr (GError) error = NULL;
  g_autofree char *pid_text = NULL;

  g_subprocess_launcher_set_child_setup (launcher, child_setup, NULL, NULL);
  self->started_at = g_get_monotonic_time ();
  self->proc = g_subprocess_launcher_spawn (launcher, &error, self->program, "-c",
                                            self->conf_path, NULL);
  if (!self->proc)
    {
      ec_log_warning (self->context, "cannot start the internal MQTT broker: %s; retrying in %u ms",
                      error->message, self->backoff_ms);
      schedule_restart (self);
      return;
    }
  pid_text = g_strdup_printf ("%s\n", g_subprocess_get_identifier (self->proc));
  g_file_set_contents (self->pid_path, pid_text, -1, NULL);
  ec_log_info (self->context, "internal MQTT broker started (%s -c %s, pid %s)",
               self->program, self->conf_path, g_subprocess_get_identifier (self->proc));
  g_subprocess_wait_async (self->proc, self->cancel, on_broker_exit, self);
}

/* Starts the broker. */
void
eb_broker_start (EbBroker *self)
{
  spawn (self);
}

/* Stops the broker (SIGTERM, then SIGKILL after 2 s) and frees it. */
void
eb_broker_free (EbBroker *self)
{
  if (!self)
    return;
  self->stopping = TRUE;
  g_clear_handle_id (&self->restart_id, g_source_remove);
  g_cancellable_cancel (self->cancel);
  if (self->proc)
    {
      gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
      g_subprocess_send_signal (self->proc, SIGTERM);
      while (g_subprocess_get_identifier (self->proc) && g_get_monotonic_time () < deadline)
        g_usleep (10000);
      if (g_subprocess_get_identifier (self->proc))
        {
          g_subprocess_force_exit (self->proc);
          g_subprocess_wait (self->proc, NULL, NULL);
        }
      g_clear_object (&self->proc);
      g_unlink (self->pid_path);
    }
  g_clear_object (&self->cancel);
  g_free (self->program);
  g_free (self->conf_path);
  g_free (self->pid_path);
  g_free (self);
}
