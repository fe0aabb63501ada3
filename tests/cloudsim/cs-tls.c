/* cs-tls.c: an OpenSSL TLS listener on 127.0.0.1 handing each connection,
 * once the handshake is done, to a plain SoupServer. The TLS stream is
 * edgehub's (plugins/edgehub/tls.c: transport only); the server's
 * configuration and the client certificate checks are cloudsim's own. */
#include "cs-tls.h"

#include "tls.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

struct _CsTls {
  CsTlsOptions      opt;
  SoupServer       *server;
  GSocketService   *service;
  SSL_CTX          *ctx;
  GHashTable       *peers;      /* remote port -> Peer */
};

typedef struct {
  char    *subject;
  gboolean verified;
} Peer;

typedef struct {
  CsTls             *tls;
  EhTlsStream       *stream;
  GSocketConnection *conn;
  GCancellable      *cancel;
  guint              timer;
} Accept;

static void
peer_free (gpointer data)
{
  Peer *p = data;
  g_free (p->subject);
  g_free (p);
}

/* Go's RequestClientCert: whatever the client sends is accepted here. */
static int
accept_any (int ok, X509_STORE_CTX *ctx)
{
  return 1;
}

/* A subject in RFC 2253 order (CN first), as the record shows it. */
static char *
subject_of (X509 *crt)
{
  BIO *bio = BIO_new (BIO_s_mem ());
  char *data;
  long len;
  char *out;
  X509_NAME_print_ex (bio, X509_get_subject_name (crt), 0, XN_FLAG_RFC2253);
  len = BIO_get_mem_data (bio, &data);
  out = g_strndup (data, (gsize) len);
  BIO_free (bio);
  return out;
}

static void
accept_free (Accept *a)
{
  if (a->timer)
    g_source_remove (a->timer);
  g_clear_object (&a->stream);
  g_clear_object (&a->conn);
  g_clear_object (&a->cancel);
  g_free (a);
}

static gboolean
on_accept_timeout (gpointer data)
{
  Accept *a = data;
  a->timer = 0;
  g_cancellable_cancel (a->cancel);
  return G_SOURCE_REMOVE;
}

/* The handshake ended: hand the connection to the HTTP server. */
static void
on_handshake (GObject *source, GAsyncResult *res, gpointer data)
{
  Accept *a = data;
  CsTls *tls = a->tls;
  g_autoptr (GError) error = NULL;
  g_autoptr (GSocketAddress) local = NULL, remote = NULL;
  SSL *ssl = eh_tls_stream_get_ssl (a->stream);
  X509 *crt;
  Peer *p;

  if (!eh_tls_stream_handshake_finish (a->stream, res, &error))
    {
      if (tls->opt.refused)
        tls->opt.refused (tls->opt.data, error->message);
      g_io_stream_close (G_IO_STREAM (a->stream), NULL, NULL);
      accept_free (a);
      return;
    }
  local = g_socket_connection_get_local_address (a->conn, NULL);
  remote = g_socket_connection_get_remote_address (a->conn, NULL);
  p = g_new0 (Peer, 1);
  crt = SSL_get1_peer_certificate (ssl);
  if (crt)
    {
      p->subject = subject_of (crt);
      p->verified = SSL_get_verify_result (ssl) == X509_V_OK;
      X509_free (crt);
    }
  if (remote)
    g_hash_table_replace (tls->peers,
                          GUINT_TO_POINTER (g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote))), p);
  else
    peer_free (p);
  if (!soup_server_accept_iostream (tls->server, G_IO_STREAM (a->stream), local, remote, &error))
    g_printerr ("cloudsim: %s\n", error->message);
  accept_free (a);
}

/* A TCP connection: shake hands. */
static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  CsTls *tls = data;
  Accept *a = g_new0 (Accept, 1);
  SSL *ssl = SSL_new (tls->ctx);
  SSL_set_accept_state (ssl);
  a->tls = tls;
  a->conn = g_object_ref (conn);
  a->cancel = g_cancellable_new ();
  a->stream = eh_tls_stream_new (conn, ssl);
  a->timer = g_timeout_add_seconds (10, on_accept_timeout, a);
  eh_tls_stream_handshake_async (a->stream, a->cancel, on_handshake, a);
  return TRUE;
}

/* See cs-tls.h. */
CsTls *
cs_tls_listen (SoupServer *server, const CsTlsOptions *options, guint *bound, GError **error)
{
  CsTls *tls = g_new0 (CsTls, 1);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new_from_string ("127.0.0.1", options->port);
  g_autoptr (GSocketAddress) effective = NULL;
  char buf[256] = "";

  tls->opt = *options;
  tls->server = g_object_ref (server);
  tls->peers = g_hash_table_new_full (NULL, NULL, NULL, peer_free);
  tls->ctx = SSL_CTX_new (TLS_server_method ());
  SSL_CTX_set_min_proto_version (tls->ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode (tls->ctx, SSL_MODE_NO_AUTO_CHAIN);   /* Go sends the leaf alone */
  if (options->v192_suites)
    SSL_CTX_set_cipher_list (tls->ctx, "ECDHE-ECDSA-AES128-GCM-SHA256");
  if (SSL_CTX_use_certificate_file (tls->ctx, options->cert_file, SSL_FILETYPE_PEM) != 1
      || SSL_CTX_use_PrivateKey_file (tls->ctx, options->key_file, SSL_FILETYPE_PEM) != 1
      || SSL_CTX_load_verify_file (tls->ctx, options->ca_file) != 1)
    {
      ERR_error_string_n (ERR_get_error (), buf, sizeof buf);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "loading %s, %s, %s: %s", options->cert_file,
                   options->key_file, options->ca_file, buf);
      cs_tls_free (tls);
      return NULL;
    }
  SSL_CTX_set_client_CA_list (tls->ctx, SSL_load_client_CA_file (options->ca_file));
  if (options->client_auth == CS_TLS_CLIENT_REQUIRE)
    SSL_CTX_set_verify (tls->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  else
    SSL_CTX_set_verify (tls->ctx, SSL_VERIFY_PEER, accept_any);
  tls->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (tls->service), addr, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &effective, error))
    {
      cs_tls_free (tls);
      return NULL;
    }
  *bound = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (tls->service, "incoming", G_CALLBACK (on_incoming), tls);
  g_socket_service_start (tls->service);
  return tls;
}

/* Stops listening. */
void
cs_tls_free (CsTls *tls)
{
  if (!tls)
    return;
  if (tls->service)
    {
      g_socket_service_stop (tls->service);
      g_socket_listener_close (G_SOCKET_LISTENER (tls->service));
      g_signal_handlers_disconnect_by_data (tls->service, tls);
    }
  g_clear_object (&tls->service);
  g_clear_object (&tls->server);
  if (tls->ctx)
    SSL_CTX_free (tls->ctx);
  g_hash_table_unref (tls->peers);
  g_free (tls);
}

/* See cs-tls.h. */
char *
cs_tls_peer (CsTls *tls, SoupServerMessage *msg, gboolean *verified)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  Peer *p = remote && G_IS_INET_SOCKET_ADDRESS (remote)
            ? g_hash_table_lookup (tls->peers, GUINT_TO_POINTER (g_inet_socket_address_get_port (
                                     G_INET_SOCKET_ADDRESS (remote))))
            : NULL;
  *verified = p && p->verified;
  return p && p->subject ? g_strdup (p->subject) : NULL;
}
