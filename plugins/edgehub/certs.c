/* certs.c: the node's certificates for the edgehub plugin: whether the
 * ones on disk can be used (any valid certificate signed by the cloud's CA,
 * whatever its subject), a bootstrap with the join token, and rotation,
 * all through the bootstrap unit (bootstrap.c), which verifies the cloud on
 * every connection. */
#include "edgehub-private.h"
#include "bootstrap.h"
#include "tls.h"

#include <string.h>

/* Formats a Unix time for messages. */
static char *
format_time (gint64 t)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format_iso8601 (dt) : g_strdup ("?");
}

/* Tells whether the certificates on disk can be used; the error says why
 * not (missing, unreadable, expired, not signed by the cloud's CA). */
gboolean
eh_certs_usable (EdgeHub *self, GError **error)
{
  return eh_bootstrap_check_certs (self->cfg.ca_file, self->cfg.cert_file, self->cfg.key_file, NULL, error);
}

/* Logs a failure at warning level once per cause; the same cause again is
 * only a debug line. key NULL clears (after a success). */
void
eh_log_failure (EdgeHub *self, const char *key, const char *fmt, ...)
{
  g_autofree char *text = NULL;
  va_list ap;
  if (!key)
    {
      g_clear_pointer (&self->last_failure, g_free);
      return;
    }
  va_start (ap, fmt);
  text = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (g_strcmp0 (self->last_failure, key) == 0)
    {
      ec_log_debug (self->context, "%s (again)", text);
      return;
    }
  g_free (self->last_failure);
  self->last_failure = g_strdup (key);
  ec_log_warning (self->context, "%s", text);
}

/* The key a failure is logged under: the TLS cause, else the message. */
char *
eh_failure_key (const char *what, const GError *error)
{
  if (error->domain == EH_TLS_ERROR && error->code != EH_TLS_ERROR_PROTOCOL)
    return g_strdup_printf ("%s: tls %s", what, eh_tls_error_cause (error));
  return g_strdup_printf ("%s: %s", what, error->message);
}

typedef struct {
  EdgeHub     *self;
  EhCertsDone  done;
  gboolean     rotation;
} Request;

/* A bootstrap or rotation ended: log, report. */
static void
on_fetched (GObject *source, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  EdgeHub *self = r->self;
  EhCertsDone done = r->done;
  gboolean rotation = r->rotation;
  g_autoptr (GError) error = NULL;
  gboolean ok = eh_bootstrap_fetch_finish (res, &error);

  g_free (r);
  if (!ok && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;   /* the plugin is stopping: self may be gone */
  if (rotation)
    self->rotating = FALSE;
  else
    self->bootstrapping = FALSE;
  if (ok)
    {
      eh_log_failure (self, NULL, NULL);
      ec_log_message (self->context, "%s node certificate %s and key %s (CN=system:node:%s)",
                      rotation ? "rotated" : "wrote", self->cfg.cert_file, self->cfg.key_file, self->cfg.node);
    }
  else
    {
      const char *what = rotation ? "certificate rotation" : "certificate bootstrap";
      g_autofree char *key = eh_failure_key (what, error);
      if (error->domain == EH_TLS_ERROR && error->code != EH_TLS_ERROR_PROTOCOL)
        eh_log_failure (self, key, "%s failed, TLS %s: %s", what, eh_tls_error_cause (error), error->message);
      else
        eh_log_failure (self, key, "%s failed: %s", what, error->message);
    }
  if (done)
    done (self, ok);
}

/* Starts a fetch; token NULL renews with the current certificate. */
static void
fetch (EdgeHub *self, const char *token, EhCertsDone done, gboolean rotation)
{
  Request *r = g_new0 (Request, 1);
  EhBootstrapParams p = {
    .http_server = self->cfg.http_server, .token = token, .node_name = self->cfg.node,
    .ca_file = self->cfg.ca_file, .cert_file = self->cfg.cert_file, .key_file = self->cfg.key_file,
    .timeout_s = (guint) CLAMP (self->cfg.handshake_timeout_s, 1, 3600),
  };
  r->self = self;
  r->done = done;
  r->rotation = rotation;
  eh_bootstrap_fetch_async (&p, self->cert_cancel, on_fetched, r);
}

/* Reads the join token: the token file's contents if it exists, else the
 * token key. */
static char *
read_token (EdgeHub *self)
{
  char *text = NULL;
  if (self->cfg.token_file && *self->cfg.token_file
      && g_file_get_contents (self->cfg.token_file, &text, NULL, NULL))
    return g_strstrip (text);
  return g_strdup (self->cfg.token);
}

/* Applies for certificates with the join token; done runs with the
 * outcome (not when the plugin stops meanwhile). */
void
eh_certs_bootstrap (EdgeHub *self, EhCertsDone done)
{
  g_autofree char *token = read_token (self);
  if (!token || !*token)
    {
      /* an empty token is an error here, not a renewal */
      eh_log_failure (self, "certificate bootstrap: no token", "certificate bootstrap failed: the join "
                      "token is empty ([edgehub] token or token-file; keadm gettoken prints one)");
      if (done)
        done (self, FALSE);
      return;
    }
  self->bootstrapping = TRUE;
  ec_log_info (self->context, "applying for certificates at %s with the join token",
               self->cfg.http_server ? self->cfg.http_server : "(http-server not set)");
  fetch (self, token, done, FALSE);
}

/* ---- rotation ------------------------------------------------------------ */

static gboolean on_rotation_due (gpointer data);

/* The rotation ended: on success reconnect with the new certificate and
 * plan the next one; on failure retry 2, 4, 8, 16, 32 s, then every 32 s. */
static void
on_rotated (EdgeHub *self, gboolean ok)
{
  guint delay;
  if (ok)
    {
      self->rotation_attempts = 0;
      eh_link_restart (self);
      eh_certs_schedule_rotation (self);
      return;
    }
  delay = self->rotation_attempts < 5 ? 2u << self->rotation_attempts : 32;
  self->rotation_attempts++;
  self->rotation_source = g_timeout_add_seconds (delay, on_rotation_due, self);
}

/* Time to renew the certificate. */
static gboolean
on_rotation_due (gpointer data)
{
  EdgeHub *self = data;
  self->rotation_source = 0;
  if (self->rotating)
    return G_SOURCE_REMOVE;
  ec_log_message (self->context, "rotating the node certificate at %s", self->cfg.http_server);
  self->rotating = TRUE;
  fetch (self, NULL, on_rotated, TRUE);
  return G_SOURCE_REMOVE;
}

/* Plans the next rotation at NotBefore + a random 70-90 % of the lifetime,
 * when rotate-certificates is on. */
void
eh_certs_schedule_rotation (EdgeHub *self)
{
  gint64 nb = 0, na = 0;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC, deadline;
  g_autoptr (GError) error = NULL;

  if (!self->cfg.rotate || self->rotation_source || self->rotating)
    return;
  if (!eh_tls_cert_file_dates (self->cfg.cert_file, &nb, &na, &error))
    return;
  deadline = nb + (gint64) ((double) (na - nb) * g_random_double_range (0.7, 0.9));
  {
    g_autofree char *when = format_time (deadline);
    ec_log_info (self->context, "node certificate rotation planned at %s", when);
  }
  self->rotation_source = g_timeout_add_seconds ((guint) CLAMP (deadline - now, 0, G_MAXUINT32 / 2),
                                                 on_rotation_due, self);
}

/* Cancels bootstrap and rotation. */
void
eh_certs_stop (EdgeHub *self)
{
  g_cancellable_cancel (self->cert_cancel);
  if (self->rotation_source)
    g_source_remove (self->rotation_source);
  self->rotation_source = 0;
}
