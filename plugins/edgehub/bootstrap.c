/* bootstrap.c: the node's certificates as KubeEdge's certificate manager
 * gets them (reference kubeedge-edgehub-cloudhub.md section 4), with the
 * cloud verified on every connection (tls.c).
 *
 * Bootstrap: GET /ca.crt; the CA's SHA-256 must be the token's first part,
 * and the certificate the server showed on that connection must verify
 * against that CA for the dialled address (so the CA is pinned, not merely
 * downloaded); write it as PEM. Make an ECDSA P-256 key and a CSR for
 * O=system:nodes, CN=system:node:<node>; GET /edge.crt with the DER CSR as
 * body, "Authorization: Bearer <jwt>" and "NodeName", the server verified
 * against the CA; check the answer is signed by the CA; write key (0600)
 * and certificate. Renewal: the same GET /edge.crt with mutual TLS and no
 * token. */
#include "bootstrap.h"
#include "http.h"
#include "token.h"

#include <errno.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

#define MAX_BODY (1024 * 1024)

G_DEFINE_QUARK (eh-cert-error-quark, eh_cert_error)

typedef struct {
  char                 *http_server, *token_text, *node, *ca_file, *cert_file, *key_file;
  guint                 timeout_s;
  char                 *host;
  guint16               port;
  EhToken              *token;
  GCancellable         *cancel;       /* ours: the caller's, or the timeout */
  GCancellable         *outer;
  gulong                outer_handler;
  GSource              *timer;        /* the step's timeout, in the caller's context */
  gboolean              timed_out;
  const char           *step;         /* for messages */
  EhTlsStream          *stream;
  STACK_OF (X509)      *ca_peer;      /* the chain shown while fetching /ca.crt */
  EVP_PKEY             *key;
} Boot;

static void
boot_free (gpointer data)
{
  Boot *b = data;
  if (b->timer)
    {
      g_source_destroy (b->timer);
      g_source_unref (b->timer);
    }
  if (b->outer_handler)
    g_cancellable_disconnect (b->outer, b->outer_handler);
  g_clear_object (&b->outer);
  g_clear_object (&b->cancel);
  g_clear_object (&b->stream);
  if (b->ca_peer)
    sk_X509_pop_free (b->ca_peer, X509_free);
  if (b->key)
    EVP_PKEY_free (b->key);
  g_clear_pointer (&b->token, eh_token_free);
  g_free (b->http_server);
  g_free (b->token_text);
  g_free (b->node);
  g_free (b->ca_file);
  g_free (b->cert_file);
  g_free (b->key_file);
  g_free (b->host);
  g_free (b);
}

/* Turns an OpenSSL status (1: done) into a GError naming the pending
 * OpenSSL error. */
static gboolean
ossl_check (int rc, const char *what, GError **error)
{
  char buf[256] = "failed";
  unsigned long e;
  if (rc == 1)
    return TRUE;
  if ((e = ERR_peek_last_error ()))
    ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, buf);
  return FALSE;
}

/* Writes a file atomically, creating its directory. */
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
  return g_file_set_contents_full (path, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, mode, error);
}

/* A DER certificate as an X509, or NULL with an error. */
static X509 *
der_to_x509 (GBytes *der, const char *what, GError **error)
{
  gsize len;
  const unsigned char *p = g_bytes_get_data (der, &len);
  X509 *x = d2i_X509 (NULL, &p, (long) len);
  ERR_clear_error ();
  if (!x)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: the cloud's answer is not a DER certificate",
                 what);
  return x;
}

/* Writes an X509 as PEM. */
static gboolean
write_pem (const char *path, X509 *x, GError **error)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  char *data;
  long len;
  gboolean ok;
  PEM_write_bio_X509 (bio, x);
  len = BIO_get_mem_data (bio, &data);
  ok = write_file (path, data, (gsize) len, 0644, error);
  BIO_free (bio);
  return ok;
}

/* Formats Unix seconds. */
static char *
format_time (gint64 t)
{
  g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (t);
  return dt ? g_date_time_format_iso8601 (dt) : g_strdup ("?");
}

/* Checks that crt is signed by the CA in store and valid now, for client
 * authentication. A certificate that starts later by this node's clock is
 * checked at its start: the cloud starts it at its own "now" (KubeEdge:
 * time.Now()) and checks it with its own clock, so a node clock a little
 * behind, or a coarse clock read in the same second, is no reason to fail;
 * a gap over a minute is logged. */
static gboolean
check_signed (X509 *crt, X509_STORE *store, const char *what, const char *ca_desc, GError **error)
{
  X509_STORE_CTX *ctx = X509_STORE_CTX_new ();
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  gint64 start = eh_tls_asn1_unix (X509_get0_notBefore (crt));
  int rc, err = 0;
  X509_STORE_CTX_init (ctx, store, crt, NULL);
  if (start > now)
    {
      if (start - now > 60)
        g_warning ("%s starts %" G_GINT64_FORMAT " s from now by this node's clock: check the node's time (NTP)",
                   what, start - now);
      X509_STORE_CTX_set_time (ctx, 0, (time_t) start);
    }
  X509_STORE_CTX_set_purpose (ctx, X509_PURPOSE_SSL_CLIENT);
  rc = X509_verify_cert (ctx);
  if (rc != 1)
    err = X509_STORE_CTX_get_error (ctx);
  X509_STORE_CTX_free (ctx);
  ERR_clear_error ();
  if (rc == 1)
    return TRUE;
  if (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)
    {
      g_autofree char *nb = format_time (eh_tls_asn1_unix (X509_get0_notBefore (crt)));
      g_autofree char *na = format_time (eh_tls_asn1_unix (X509_get0_notAfter (crt)));
      g_set_error (error, EH_CERT_ERROR, EH_CERT_ERROR_EXPIRED, "%s %s (valid from %s to %s)", what,
                   err == X509_V_ERR_CERT_HAS_EXPIRED ? "has expired" : "is not valid yet", nb, na);
    }
  else if (err == X509_V_ERR_INVALID_PURPOSE)
    g_set_error (error, EH_CERT_ERROR, EH_CERT_ERROR_FOREIGN, "%s is not a client certificate (%s)",
                 what, X509_verify_cert_error_string (err));
  else
    g_set_error (error, EH_CERT_ERROR, EH_CERT_ERROR_FOREIGN, "%s is not signed by the cloud CA in %s (%s)",
                 what, ca_desc, X509_verify_cert_error_string (err));
  return FALSE;
}

/* See bootstrap.h. */
gboolean
eh_bootstrap_check_certs (const char *ca_file, const char *cert_file, const char *key_file,
                          gint64 *not_after, GError **error)
{
  const char *files[] = { ca_file, cert_file, key_file };
  g_autoptr (GError) local = NULL;
  g_autofree char *what = NULL;
  X509_STORE *store = NULL;
  X509 *crt = NULL;
  EVP_PKEY *key = NULL;
  FILE *f;
  gboolean ok = FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    if (!files[i] || !*files[i] || !g_file_test (files[i], G_FILE_TEST_EXISTS))
      {
        g_set_error (error, EH_CERT_ERROR, EH_CERT_ERROR_MISSING, "no %s yet (%s)",
                     i == 0 ? "cloud CA" : i == 1 ? "node certificate" : "node key",
                     files[i] && *files[i] ? files[i] : "not configured");
        return FALSE;
      }
  if (!(store = eh_tls_load_ca_file (ca_file, &local)) || !(crt = eh_tls_load_cert_file (cert_file, &local)))
    {
      g_set_error (error, EH_CERT_ERROR, EH_CERT_ERROR_INVALID, "%s", local->message);
      goto out;
    }
  f = fopen (key_file, "r");
  if (f)
    {
      key = PEM_read_PrivateKey (f, NULL, NULL, NULL);
      fclose (f);
    }
  ERR_clear_error ();
  if (!key)
    {
      g_set_error (error, EH_CERT_ERROR, EH_CERT_ERROR_INVALID, "the node key %s cannot be read", key_file);
      goto out;
    }
  if (X509_check_private_key (crt, key) != 1)
    {
      ERR_clear_error ();
      g_set_error (error, EH_CERT_ERROR, EH_CERT_ERROR_INVALID, "the node key %s does not belong to the "
                   "certificate %s", key_file, cert_file);
      goto out;
    }
  what = g_strdup_printf ("the node certificate %s", cert_file);
  ok = check_signed (crt, store, what, ca_file, error);
  if (ok && not_after)
    *not_after = eh_tls_asn1_unix (X509_get0_notAfter (crt));
out:
  if (key)
    EVP_PKEY_free (key);
  if (crt)
    X509_free (crt);
  if (store)
    X509_STORE_free (store);
  return ok;
}

/* ---- the fetch ------------------------------------------------------------- */

/* Makes the key and the DER CSR: ECDSA P-256, ECDSA-SHA256, subject
 * C=CN, O=system:nodes, L=Hangzhou, ST=Zhejiang, CN=system:node:<node>.
 * With OpenSSL, which the TLS already loads (GnuTLS was a second crypto
 * library in the process for this alone: about 2 MB of mapped pages). */
static GBytes *
make_csr (const char *node, EVP_PKEY **key_out, GError **error)
{
  g_autofree char *cn = g_strdup_printf ("system:node:%s", node);
  EVP_PKEY *key = EVP_EC_gen ("P-256");
  X509_REQ *req = X509_REQ_new ();
  X509_NAME *name = X509_NAME_new ();
  unsigned char *der = NULL;
  int len = 0;
  GBytes *out = NULL;

  if (ossl_check (key && req && name ? 1 : 0, "generating the node key", error)
      && ossl_check (X509_NAME_add_entry_by_txt (name, "C", MBSTRING_UTF8, (const unsigned char *) "CN", -1, -1, 0),
                     "CSR", error)
      && ossl_check (X509_NAME_add_entry_by_txt (name, "O", MBSTRING_UTF8,
                                                 (const unsigned char *) "system:nodes", -1, -1, 0), "CSR", error)
      && ossl_check (X509_NAME_add_entry_by_txt (name, "L", MBSTRING_UTF8,
                                                 (const unsigned char *) "Hangzhou", -1, -1, 0), "CSR", error)
      && ossl_check (X509_NAME_add_entry_by_txt (name, "ST", MBSTRING_UTF8,
                                                 (const unsigned char *) "Zhejiang", -1, -1, 0), "CSR", error)
      && ossl_check (X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0),
                     "CSR", error)
      && ossl_check (X509_REQ_set_version (req, X509_REQ_VERSION_1), "CSR", error)
      && ossl_check (X509_REQ_set_subject_name (req, name), "CSR", error)
      && ossl_check (X509_REQ_set_pubkey (req, key), "CSR", error)
      && ossl_check (X509_REQ_sign (req, key, EVP_sha256 ()) > 0 ? 1 : 0, "signing the CSR", error)
      && ossl_check ((len = i2d_X509_REQ (req, &der)) > 0 ? 1 : 0, "CSR", error))
    {
      out = g_bytes_new (der, (gsize) len);
      *key_out = key;
      key = NULL;
    }
  OPENSSL_free (der);
  X509_NAME_free (name);
  X509_REQ_free (req);
  EVP_PKEY_free (key);
  return out;
}

/* The key as PEM in the SEC1 form ("EC PRIVATE KEY") KubeEdge writes. */
static gboolean
write_key (const char *path, EVP_PKEY *key, GError **error)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  char *data;
  long len;
  gboolean ok = ossl_check (PEM_write_bio_PrivateKey_traditional (bio, key, NULL, NULL, 0, NULL, NULL),
                            "key", error);
  if (ok)
    {
      len = BIO_get_mem_data (bio, &data);
      ok = write_file (path, data, (gsize) len, 0600, error);
    }
  BIO_free (bio);
  return ok;
}

/* The per-step timer ran out. */
static gboolean
on_timeout (gpointer data)
{
  Boot *b = data;
  g_clear_pointer (&b->timer, g_source_unref);   /* it is being destroyed */
  b->timed_out = TRUE;
  g_cancellable_cancel (b->cancel);
  return G_SOURCE_REMOVE;
}

/* Starts a step: names it and restarts its timer. */
static void
begin_step (Boot *b, const char *step)
{
  b->step = step;
  if (b->timer)
    {
      g_source_destroy (b->timer);
      g_source_unref (b->timer);
    }
  /* in the caller's (thread-default) context, like the rest of the fetch */
  b->timer = g_timeout_source_new_seconds (b->timeout_s);
  g_source_set_callback (b->timer, on_timeout, b, NULL);
  g_source_attach (b->timer, g_main_context_get_thread_default ());
}

/* Ends the fetch with an error, naming the step. */
static void
fail_task (GTask *task, GError *error)
{
  Boot *b = g_task_get_task_data (task);
  if (b->timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_error (&error);
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no answer within %u s", b->timeout_s);
    }
  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_prefix_error (&error, "%s (%s): ", b->step, b->http_server);
  g_task_return_error (task, error);
  g_object_unref (task);
}

/* The status must be 200; else the cloud's text goes into the error. */
static gboolean
check_status (EhHttpResponse *r, GError **error)
{
  g_autofree char *text = NULL;
  if (r->status == 200)
    return TRUE;
  text = r->body ? g_strndup (g_bytes_get_data (r->body, NULL), MIN (g_bytes_get_size (r->body), 300))
                 : g_strdup ("");
  g_strstrip (text);
  g_set_error (error, G_IO_ERROR, r->status == 401 ? G_IO_ERROR_PERMISSION_DENIED : G_IO_ERROR_FAILED,
               "the cloud answered %u %s%s%s", r->status, r->reason, *text ? ": " : "", text);
  return FALSE;
}

/* The head of a GET on the certificate server. */
static char *
request_head (Boot *b, const char *path, gsize body_len, gboolean with_token)
{
  GString *s = g_string_new (NULL);
  gboolean v6 = strchr (b->host, ':') != NULL;
  g_string_append_printf (s, "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: edgecore\r\n"
                          "Connection: close\r\n", path, v6 ? "[" : "", b->host, v6 ? "]" : "", b->port);
  if (with_token)
    g_string_append_printf (s, "Authorization: Bearer %s\r\n", b->token->jwt);
  if (body_len)
    g_string_append_printf (s, "NodeName: %s\r\nContent-Type: application/octet-stream\r\n"
                            "Content-Length: %" G_GSIZE_FORMAT "\r\n", b->node, body_len);
  g_string_append (s, "\r\n");
  return g_string_free (s, FALSE);
}

/* Ends an exchange on the certificate server: closes and drops the
 * connection, and returns the response if the cloud answered 200. */
static EhHttpResponse *
finish_exchange (Boot *b, GAsyncResult *res, GError **error)
{
  g_autoptr (EhHttpResponse) r = eh_http_exchange_finish (res, error);
  g_io_stream_close (G_IO_STREAM (b->stream), NULL, NULL);
  g_clear_object (&b->stream);
  if (!r || !check_status (r, error))
    return NULL;
  return g_steal_pointer (&r);
}

/* The signed certificate arrived: check it and write key and certificate. */
static void
on_edge_crt (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Boot *b = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr (EhHttpResponse) r = finish_exchange (b, res, &error);
  X509 *crt = NULL;
  X509_STORE *store = NULL;
  gboolean ok;

  ok = r && (crt = der_to_x509 (r->body, "the node certificate", &error))
       && (store = eh_tls_load_ca_file (b->ca_file, &error))
       && check_signed (crt, store, "the certificate the cloud signed", b->ca_file, &error)
       && write_key (b->key_file, b->key, &error)
       && write_pem (b->cert_file, crt, &error);
  if (crt)
    X509_free (crt);
  if (store)
    X509_STORE_free (store);
  if (!ok)
    {
      fail_task (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

/* Connected for /edge.crt: send the CSR. */
static void
on_edge_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Boot *b = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr (GBytes) csr = NULL;
  g_autofree char *head = NULL;

  b->stream = eh_tls_connect_finish (res, &error);
  if (!b->stream || !(csr = make_csr (b->node, &b->key, &error)))
    {
      fail_task (task, error);
      return;
    }
  head = request_head (b, "/edge.crt", g_bytes_get_size (csr), b->token != NULL);
  eh_http_exchange_async (b->stream, head, csr, TRUE, MAX_BODY, b->cancel, on_edge_crt, task);
}

/* Asks for the node certificate, verifying the cloud against the CA. */
static void
request_edge_crt (GTask *task)
{
  Boot *b = g_task_get_task_data (task);
  EhTlsDial d = { b->host, b->port, b->ca_file, NULL, NULL };
  if (!b->token)
    {
      d.cert_file = b->cert_file;
      d.key_file = b->key_file;
    }
  begin_step (b, b->token ? "requesting the node certificate with the join token (GET /edge.crt)"
                          : "renewing the node certificate (GET /edge.crt)");
  eh_tls_connect_async (&d, b->cancel, on_edge_connected, task);
}

/* The CA arrived: the token pins it, and the server seen on that
 * connection must be vouched for by it. */
static void
on_ca_crt (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Boot *b = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr (EhHttpResponse) r = finish_exchange (b, res, &error);
  X509 *ca = NULL;
  X509_STORE *store = NULL;
  gsize len;
  const guint8 *p;
  gboolean ok;

  ok = r && (p = g_bytes_get_data (r->body, &len), eh_token_check_ca (b->token, p, len, &error))
       && (ca = der_to_x509 (r->body, "the cloud CA", &error));
  if (ok)
    {
      store = X509_STORE_new ();
      X509_STORE_add_cert (store, ca);
      ok = eh_tls_verify_server (b->ca_peer, store, "the CA pinned by the join token", b->host, &error)
           && write_pem (b->ca_file, ca, &error);
      X509_STORE_free (store);
    }
  if (ca)
    X509_free (ca);
  if (!ok)
    {
      fail_task (task, error);
      return;
    }
  request_edge_crt (task);
}

/* Connected for /ca.crt: keep the server's chain for the pinned check. */
static void
on_ca_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Boot *b = g_task_get_task_data (task);
  GError *error = NULL;
  g_autofree char *head = NULL;
  STACK_OF (X509) *chain;

  b->stream = eh_tls_connect_finish (res, &error);
  if (!b->stream)
    {
      fail_task (task, error);
      return;
    }
  chain = eh_tls_stream_get_peer_chain (b->stream);
  b->ca_peer = chain ? X509_chain_up_ref (chain) : sk_X509_new_null ();
  head = request_head (b, "/ca.crt", 0, FALSE);
  eh_http_exchange_async (b->stream, head, NULL, TRUE, MAX_BODY, b->cancel, on_ca_crt, task);
}

/* Cancels ours when the caller's cancellable fires. */
static void
on_outer_cancelled (GCancellable *outer, gpointer data)
{
  g_cancellable_cancel (data);
}

/* See bootstrap.h. */
void
eh_bootstrap_fetch_async (const EhBootstrapParams *p, GCancellable *c, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new (NULL, c, cb, data);
  Boot *b = g_new0 (Boot, 1);
  GError *error = NULL;

  g_task_set_source_tag (task, eh_bootstrap_fetch_async);
  b->http_server = g_strdup (p->http_server);
  b->token_text = p->token && *p->token ? g_strdup (p->token) : NULL;
  b->node = g_strdup (p->node_name);
  b->ca_file = g_strdup (p->ca_file);
  b->cert_file = g_strdup (p->cert_file);
  b->key_file = g_strdup (p->key_file);
  b->timeout_s = p->timeout_s ? p->timeout_s : 30;
  b->cancel = g_cancellable_new ();
  b->step = "applying for certificates";
  g_task_set_task_data (task, b, boot_free);
  if (c)
    {
      b->outer = g_object_ref (c);
      b->outer_handler = g_cancellable_connect (c, G_CALLBACK (on_outer_cancelled), g_object_ref (b->cancel),
                                                g_object_unref);
    }

  if (!b->http_server || !*b->http_server)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "http-server is not set, so no certificate can be requested");
  else if (!b->node || !*b->node)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "the node name is empty");
  else if (!b->ca_file || !b->cert_file || !b->key_file)
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "the certificate file names are not set");
  else if (eh_tls_split_address (b->http_server, 10002, &b->host, &b->port, &error) && b->token_text
           && (b->token = eh_token_parse (b->token_text, &error)))
    eh_token_check_exp (b->token, g_get_real_time () / G_USEC_PER_SEC, &error);
  if (error)
    {
      fail_task (task, error);
      return;
    }
  if (b->token)
    {
      EhTlsDial d = { b->host, b->port, NULL, NULL, NULL };
      begin_step (b, "fetching the cloud CA (GET /ca.crt)");
      eh_tls_connect_async (&d, b->cancel, on_ca_connected, task);
    }
  else
    request_edge_crt (task);
}

/* See bootstrap.h. */
gboolean
eh_bootstrap_fetch_finish (GAsyncResult *res, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (res, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (res), error);
}
