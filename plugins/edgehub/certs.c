/* certs.c: the node's certificates, as KubeEdge's certificate manager
 * handles them (reference kubeedge-edgehub-cloudhub.md section 4).
 *
 * Bootstrap from a join token: GET /ca.crt (DER, not verified), check its
 * SHA-256 against the token, write it to tls-ca-file; make an ECDSA P-256
 * key and a CSR for O=system:nodes, CN=system:node:<node>; GET /edge.crt
 * with the DER CSR as body, "Authorization: Bearer <jwt>" and "NodeName",
 * verifying the server against the new CA; write the certificate and the
 * key (mode 0600). Rotation: at NotBefore + [70 %, 90 %) of the lifetime,
 * the same request with mutual TLS and no token. */
#include "edgehub-private.h"
#include "token.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#define MAX_BODY (1024 * 1024)

typedef struct {
  EdgeHub              *self;
  EhCertsDone           done;
  GCancellable         *cancel;
  SoupSession          *session;
  EhToken              *token;
  gnutls_x509_privkey_t key;
  gboolean              rotation;
} Request;

/* Frees a request. */
static void
request_free (Request *r)
{
  g_clear_object (&r->cancel);
  g_clear_object (&r->session);
  g_clear_pointer (&r->token, eh_token_free);
  if (r->key)
    gnutls_x509_privkey_deinit (r->key);
  g_free (r);
}

/* Turns a GnuTLS status into a GError. */
static gboolean
tls_check (int rc, const char *what, GError **error)
{
  if (rc >= 0)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, gnutls_strerror (rc));
  return FALSE;
}

/* Writes a file, creating its directory. */
static gboolean
write_file (const char *path, const void *data, gsize len, int mode, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot create %s: %s", dir,
                   g_strerror (errno));
      return FALSE;
    }
  return g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, mode,
                                   error);
}

/* Converts a DER certificate to PEM; NULL if it is not a certificate. */
static char *
der_to_pem (GBytes *der, GError **error)
{
  gnutls_x509_crt_t crt;
  gnutls_datum_t in, out = { 0 };
  gsize len;
  char *pem = NULL;
  in.data = (unsigned char *) g_bytes_get_data (der, &len);
  in.size = (unsigned) len;
  gnutls_x509_crt_init (&crt);
  if (tls_check (gnutls_x509_crt_import (crt, &in, GNUTLS_X509_FMT_DER),
                 "the cloud's answer is not a DER certificate", error)
      && tls_check (gnutls_x509_crt_export2 (crt, GNUTLS_X509_FMT_PEM, &out), "PEM", error))
    {
      pem = g_strndup ((const char *) out.data, out.size);
      gnutls_free (out.data);
    }
  gnutls_x509_crt_deinit (crt);
  return pem;
}

/* Reads the node certificate's CN, validity and whether it parses. */
static gboolean
read_cert (const char *path, char **cn, time_t *not_before, time_t *not_after, GError **error)
{
  g_autofree char *pem = NULL;
  gsize len;
  gnutls_x509_crt_t crt;
  gnutls_datum_t d;
  char buf[256];
  size_t buf_len = sizeof buf - 1;
  gboolean ok;

  if (!g_file_get_contents (path, &pem, &len, error))
    return FALSE;
  d.data = (unsigned char *) pem;
  d.size = (unsigned) len;
  gnutls_x509_crt_init (&crt);
  ok = tls_check (gnutls_x509_crt_import (crt, &d, GNUTLS_X509_FMT_PEM), path, error);
  if (ok)
    {
      memset (buf, 0, sizeof buf);
      if (cn)
        *cn = gnutls_x509_crt_get_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &buf_len) >= 0
              ? g_strdup (buf) : g_strdup ("");
      if (not_before)
        *not_before = gnutls_x509_crt_get_activation_time (crt);
      if (not_after)
        *not_after = gnutls_x509_crt_get_expiration_time (crt);
    }
  gnutls_x509_crt_deinit (crt);
  return ok;
}

/* Formats a Unix time for messages. */
static char *
format_time (time_t t)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc ((gint64) t);
  return dt ? g_date_time_format_iso8601 (dt) : g_strdup ("?");
}

/* Loads the node's client certificate and key. */
GTlsCertificate *
eh_certs_load_client (EdgeHub *self, GError **error)
{
  return g_tls_certificate_new_from_files (self->cfg.cert_file, self->cfg.key_file, error);
}

/* Loads the cloud's CA as the only trust anchor. */
GTlsDatabase *
eh_certs_load_ca (EdgeHub *self, GError **error)
{
  return g_tls_file_database_new (self->cfg.ca_file, error);
}

/* Tells whether the certificates on disk can be used: CA, certificate and
 * key load, the subject is CN=system:node:<node>, and it has not expired.
 * The error says why not. */
gboolean
eh_certs_usable (EdgeHub *self, GError **error)
{
  g_autofree char *cn = NULL, *want = g_strdup_printf ("system:node:%s", self->cfg.node);
  g_autoptr (GTlsCertificate) client = NULL;
  g_autoptr (GTlsDatabase) ca = NULL;
  time_t nb = 0, na = 0, now = time (NULL);

  if (!g_file_test (self->cfg.cert_file, G_FILE_TEST_EXISTS)
      || !g_file_test (self->cfg.key_file, G_FILE_TEST_EXISTS)
      || !g_file_test (self->cfg.ca_file, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no certificates yet (%s, %s, %s)",
                   self->cfg.ca_file, self->cfg.cert_file, self->cfg.key_file);
      return FALSE;
    }
  if (!read_cert (self->cfg.cert_file, &cn, &nb, &na, error)
      || !(client = eh_certs_load_client (self, error))
      || !(ca = eh_certs_load_ca (self, error)))
    return FALSE;
  if (strcmp (cn, want) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the certificate %s is for CN=%s, not CN=%s", self->cfg.cert_file, cn, want);
      return FALSE;
    }
  if (na < now)
    {
      g_autofree char *when = format_time (na);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the node certificate %s expired at %s", self->cfg.cert_file, when);
      return FALSE;
    }
  return TRUE;
}

/* Makes the key and the DER CSR: ECDSA P-256, ECDSA-SHA256, subject
 * C=CN, O=system:nodes, L=Hangzhou, ST=Zhejiang, CN=system:node:<node>. */
static GBytes *
make_csr (EdgeHub *self, gnutls_x509_privkey_t *key_out, GError **error)
{
  gnutls_x509_privkey_t key;
  gnutls_x509_crq_t crq;
  gnutls_datum_t der = { 0 };
  g_autofree char *cn = g_strdup_printf ("system:node:%s", self->cfg.node);
  GBytes *out = NULL;

  gnutls_x509_privkey_init (&key);
  gnutls_x509_crq_init (&crq);
  if (tls_check (gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA,
                                               GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
                 "generating the node key", error)
      && tls_check (gnutls_x509_crq_set_dn_by_oid (crq, GNUTLS_OID_X520_COUNTRY_NAME, 0, "CN", 2), "CSR", error)
      && tls_check (gnutls_x509_crq_set_dn_by_oid (crq, GNUTLS_OID_X520_ORGANIZATION_NAME, 0,
                                                   "system:nodes", 12), "CSR", error)
      && tls_check (gnutls_x509_crq_set_dn_by_oid (crq, GNUTLS_OID_X520_LOCALITY_NAME, 0, "Hangzhou", 8), "CSR", error)
      && tls_check (gnutls_x509_crq_set_dn_by_oid (crq, GNUTLS_OID_X520_STATE_OR_PROVINCE_NAME, 0,
                                                   "Zhejiang", 8), "CSR", error)
      && tls_check (gnutls_x509_crq_set_dn_by_oid (crq, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                   (unsigned) strlen (cn)), "CSR", error)
      && tls_check (gnutls_x509_crq_set_version (crq, 1), "CSR", error)
      && tls_check (gnutls_x509_crq_set_key (crq, key), "CSR", error)
      && tls_check (gnutls_x509_crq_sign2 (crq, key, GNUTLS_DIG_SHA256, 0), "signing the CSR", error)
      && tls_check (gnutls_x509_crq_export2 (crq, GNUTLS_X509_FMT_DER, &der), "CSR", error))
    {
      out = g_bytes_new (der.data, der.size);
      gnutls_free (der.data);
      *key_out = key;
      key = NULL;
    }
  gnutls_x509_crq_deinit (crq);
  if (key)
    gnutls_x509_privkey_deinit (key);
  return out;
}

/* Writes the signed certificate (PEM) and its key (SEC1 PEM, mode 0600). */
static gboolean
store_cert (EdgeHub *self, GBytes *der, gnutls_x509_privkey_t key, GError **error)
{
  g_autofree char *pem = der_to_pem (der, error);
  gnutls_datum_t kpem = { 0 };
  gboolean ok;
  if (!pem || !tls_check (gnutls_x509_privkey_export2 (key, GNUTLS_X509_FMT_PEM, &kpem), "key", error))
    return FALSE;
  ok = write_file (self->cfg.key_file, kpem.data, kpem.size, 0600, error)
       && write_file (self->cfg.cert_file, pem, strlen (pem), 0644, error);
  gnutls_free (kpem.data);
  return ok;
}

/* A session for the certificate server: no extensions, bounded timeouts. */
static SoupSession *
new_session (EdgeHub *self, GTlsDatabase *ca)
{
  SoupSession *s = soup_session_new_with_options ("timeout", (guint) MAX (self->cfg.handshake_timeout_s, 1),
                                                  "idle-timeout", 5u, NULL);
  if (ca)
    soup_session_set_tls_database (s, ca);
  return s;
}

/* Accepts any certificate: /ca.crt is fetched before anything is trusted;
 * the token's hash check is what makes it safe. */
static gboolean
accept_any (SoupMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors, gpointer data)
{
  return TRUE;
}

/* Reads a response body; fails on a non-200 status with the body text. */
static GBytes *
finish_body (Request *r, GObject *source, GAsyncResult *res, const char *what, GError **error)
{
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), res);
  g_autoptr (GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), res, error);
  guint status;
  if (!body)
    return NULL;
  status = soup_message_get_status (msg);
  if (status != 200)
    {
      g_autofree char *text = g_strndup (g_bytes_get_data (body, NULL),
                                         MIN (g_bytes_get_size (body), 300));
      g_set_error (error, G_IO_ERROR, status == 401 ? G_IO_ERROR_PERMISSION_DENIED : G_IO_ERROR_FAILED,
                   "%s: the cloud answered %u %s%s%s", what, status,
                   soup_message_get_reason_phrase (msg), *text ? ": " : "", g_strstrip (text));
      return NULL;
    }
  if (g_bytes_get_size (body) > MAX_BODY)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "%s: answer larger than 1 MiB", what);
      return NULL;
    }
  return g_steal_pointer (&body);
}

/* Ends a bootstrap or rotation: reports, frees the request. */
static void
request_done (Request *r, GError *error)
{
  EdgeHub *self = r->self;
  EhCertsDone done = r->done;
  gboolean rotation = r->rotation;

  if (error && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      request_free (r);   /* the plugin is stopping: self may be gone */
      return;
    }
  request_free (r);
  if (rotation)
    self->rotating = FALSE;
  else
    self->bootstrapping = FALSE;
  if (error)
    ec_log_warning (self->context, "%s failed: %s", rotation ? "certificate rotation"
                    : "certificate bootstrap", error->message);
  if (done)
    done (self, error == NULL);
}

/* The signed certificate arrived. */
static void
on_edge_crt (GObject *source, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) der = finish_body (r, source, res, "requesting the node certificate (/edge.crt)", &error);

  if (der && store_cert (r->self, der, r->key, &error))
    ec_log_message (r->self->context, "%s node certificate %s (CN=system:node:%s) and key %s",
                    r->rotation ? "rotated" : "wrote", r->self->cfg.cert_file, r->self->cfg.node,
                    r->self->cfg.key_file);
  request_done (r, error);
}

/* Sends GET /edge.crt with the CSR: with the token, or with the current
 * certificate for a rotation. */
static void
request_edge_crt (Request *r, GTlsCertificate *client)
{
  EdgeHub *self = r->self;
  g_autoptr (GError) error = NULL;
  g_autofree char *url = g_strconcat (self->cfg.http_server, "/edge.crt", NULL);
  g_autoptr (GBytes) csr = make_csr (self, &r->key, &error);
  g_autoptr (SoupMessage) msg = NULL;
  SoupMessageHeaders *h;

  if (!csr)
    {
      request_done (r, error);
      return;
    }
  msg = soup_message_new ("GET", url);
  if (!msg)
    {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "http-server %s is not a URL",
                   self->cfg.http_server);
      request_done (r, error);
      return;
    }
  h = soup_message_get_request_headers (msg);
  if (r->token)
    {
      g_autofree char *bearer = g_strconcat ("Bearer ", r->token->jwt, NULL);
      soup_message_headers_append (h, "Authorization", bearer);
    }
  soup_message_headers_append (h, "NodeName", self->cfg.node);
  soup_message_set_request_body_from_bytes (msg, "application/octet-stream", csr);
  if (client)
    soup_message_set_tls_client_certificate (msg, client);
  soup_session_send_and_read_async (r->session, msg, G_PRIORITY_DEFAULT, r->cancel, on_edge_crt, r);
}

/* The CA arrived: check it against the token, write it, then ask for the
 * node certificate, verifying the server against it. */
static void
on_ca_crt (GObject *source, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  EdgeHub *self;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) der = finish_body (r, source, res, "fetching the cloud CA (/ca.crt)", &error);
  g_autofree char *pem = NULL;
  g_autoptr (GTlsDatabase) ca = NULL;
  gsize len;
  const guint8 *p;

  if (!der)
    {
      request_done (r, error);
      return;
    }
  self = r->self;
  p = g_bytes_get_data (der, &len);
  if (!eh_token_check_ca (r->token, p, len, &error)
      || !(pem = der_to_pem (der, &error))
      || !write_file (self->cfg.ca_file, pem, strlen (pem), 0644, &error)
      || !(ca = eh_certs_load_ca (self, &error)))
    {
      request_done (r, error);
      return;
    }
  ec_log_info (self->context, "wrote cloud CA %s (SHA-256 matches the token)", self->cfg.ca_file);
  g_clear_object (&r->session);
  r->session = new_session (self, ca);
  request_edge_crt (r, NULL);
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

/* Starts a request object. */
static Request *
request_new (EdgeHub *self, EhCertsDone done, gboolean rotation)
{
  Request *r = g_new0 (Request, 1);
  r->self = self;
  r->done = done;
  r->rotation = rotation;
  r->cancel = g_object_ref (self->cert_cancel);
  return r;
}

/* Applies for certificates with the join token; done runs with the
 * outcome (not when the plugin stops meanwhile). */
void
eh_certs_bootstrap (EdgeHub *self, EhCertsDone done)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *token_text = read_token (self);
  g_autofree char *url = NULL;
  g_autoptr (SoupMessage) msg = NULL;
  Request *r = request_new (self, done, FALSE);

  self->bootstrapping = TRUE;
  if (!self->cfg.http_server || !*self->cfg.http_server)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "[edgehub] http-server is not set, so no certificate can be requested");
  else if ((r->token = eh_token_parse (token_text, &error)))
    eh_token_check_exp (r->token, g_get_real_time () / G_USEC_PER_SEC, &error);
  if (!error)
    {
      url = g_strconcat (self->cfg.http_server, "/ca.crt", NULL);
      msg = soup_message_new ("GET", url);
      if (!msg)
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "http-server %s is not a URL",
                     self->cfg.http_server);
    }
  if (error)
    {
      request_done (r, error);
      return;
    }
  ec_log_message (self->context, "applying for certificates at %s with the join token",
                  self->cfg.http_server);
  r->session = new_session (self, NULL);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any), NULL);
  soup_session_send_and_read_async (r->session, msg, G_PRIORITY_DEFAULT, r->cancel, on_ca_crt, r);
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
  g_autoptr (GError) error = NULL;
  g_autoptr (GTlsDatabase) ca = NULL;
  g_autoptr (GTlsCertificate) client = NULL;
  Request *r;

  self->rotation_source = 0;
  if (self->rotating)
    return G_SOURCE_REMOVE;
  ca = eh_certs_load_ca (self, &error);
  client = ca ? eh_certs_load_client (self, &error) : NULL;
  if (!client || !self->cfg.http_server || !*self->cfg.http_server)
    {
      ec_log_warning (self->context, "cannot rotate the node certificate: %s",
                      error ? error->message : "http-server is not set");
      on_rotated (self, FALSE);
      return G_SOURCE_REMOVE;
    }
  ec_log_message (self->context, "rotating the node certificate at %s", self->cfg.http_server);
  self->rotating = TRUE;
  r = request_new (self, on_rotated, TRUE);
  r->session = new_session (self, ca);
  request_edge_crt (r, client);
  return G_SOURCE_REMOVE;
}

/* Plans the next rotation at NotBefore + a random 70-90 % of the lifetime,
 * when rotate-certificates is on. */
void
eh_certs_schedule_rotation (EdgeHub *self)
{
  time_t nb = 0, na = 0;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC, deadline;
  g_autoptr (GError) error = NULL;

  if (!self->cfg.rotate || self->rotation_source || self->rotating)
    return;
  if (!read_cert (self->cfg.cert_file, NULL, &nb, &na, &error))
    return;
  deadline = (gint64) nb + (gint64) ((double) (na - nb) * g_random_double_range (0.7, 0.9));
  {
    g_autofree char *when = format_time ((time_t) deadline);
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
