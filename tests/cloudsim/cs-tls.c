/* cs-tls.c: cloudsim's own TLS terminator, written directly against
 * OpenSSL (no edgecore code: the edge's TLS is what the tests check).
 *
 * A listener on 127.0.0.1 accepts in its own thread; each connection gets a
 * thread that shakes hands (bounded by HANDSHAKE_SECONDS), then connects to
 * the SoupServer's internal plain listener and copies plaintext both ways
 * with poll() on the two sockets. The client certificate seen in the
 * handshake is remembered under the local port of that internal connection,
 * which is the remote port the SoupServer sees. Failed handshakes are
 * reported on the main context. cs_tls_free() wakes every thread and waits
 * for them. */
#include "cs-tls.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define HANDSHAKE_SECONDS 10
#define CHUNK             16384

struct _CsTls {
  gint            refs;        /* the owner's, and one per pending refusal report */
  CsTlsOptions    opt;         /* the file names are only read by cs_tls_listen() */
  gboolean        closed;      /* cs_tls_free() ran (main thread only) */
  SSL_CTX        *ctx;
  int             listen_fd;
  int             wake[2];     /* wake[0] turns readable when cloudsim stops */
  guint           plain_port;  /* the SoupServer's plain listener */
  GThread        *acceptor;
  guint           live;        /* connection threads running (under lock) */
  GHashTable     *peers;       /* internal port -> Peer (under lock) */
};

typedef struct {
  char    *subject;
  gboolean verified;
} Peer;

typedef struct {
  CsTls *tls;
  int    fd;
} Conn;

typedef struct {
  CsTls *tls;
  char  *reason;
} Refusal;

static GMutex lock;   /* live and peers of every CsTls */
static GCond  gone;   /* a connection thread ended */

static void
peer_free (gpointer data)
{
  Peer *p = data;
  g_free (p->subject);
  g_free (p);
}

static void
tls_unref (CsTls *tls)
{
  if (!g_atomic_int_dec_and_test (&tls->refs))
    return;
  if (tls->ctx)
    SSL_CTX_free (tls->ctx);
  g_hash_table_unref (tls->peers);
  g_free (tls);
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

/* ---- reporting refusals on the main context ------------------------------ */

static gboolean
on_refusal (gpointer data)
{
  Refusal *r = data;
  if (!r->tls->closed && r->tls->opt.refused)
    r->tls->opt.refused (r->tls->opt.data, r->reason);
  return G_SOURCE_REMOVE;
}

static void
refusal_free (gpointer data)
{
  Refusal *r = data;
  tls_unref (r->tls);
  g_free (r->reason);
  g_free (r);
}

/* Any thread: reports a failed handshake (takes reason). */
static void
report_refusal (CsTls *tls, char *reason)
{
  Refusal *r = g_new0 (Refusal, 1);
  g_atomic_int_inc (&tls->refs);
  r->tls = tls;
  r->reason = reason;
  g_idle_add_full (G_PRIORITY_DEFAULT, on_refusal, r, refusal_free);
}

/* ---- connection threads --------------------------------------------------- */

/* Waits until fd has events or cloudsim stops; deadline is monotonic, or
 * -1 for none. 1: ready; 0: deadline passed; -1: stopping or poll failed. */
static int
wait_fd (CsTls *tls, int fd, short events, gint64 deadline)
{
  for (;;)
    {
      struct pollfd p[2] = { { fd, events, 0 }, { tls->wake[0], POLLIN, 0 } };
      int timeout = -1;
      int n;
      if (deadline >= 0)
        {
          gint64 left = deadline - g_get_monotonic_time ();
          if (left <= 0)
            return 0;
          timeout = (int) MIN ((left + 999) / 1000, G_MAXINT);
        }
      n = poll (p, 2, timeout);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 || p[1].revents)
        return -1;
      if (p[0].revents)
        return 1;
    }
}

/* Why SSL_accept failed, from OpenSSL's error queue. */
static char *
handshake_error (SSL *ssl, int err, int saved_errno)
{
  unsigned long e = ERR_peek_last_error ();
  char buf[256] = "";
  long verify = SSL_get_verify_result (ssl);
  if (e)
    {
      ERR_error_string_n (e, buf, sizeof buf);
      if (verify != X509_V_OK)
        return g_strdup_printf ("TLS handshake: %s (%s)", buf, X509_verify_cert_error_string (verify));
      return g_strdup_printf ("TLS handshake: %s", buf);
    }
  if (err == SSL_ERROR_SYSCALL && saved_errno)
    return g_strdup_printf ("TLS handshake: %s", g_strerror (saved_errno));
  return g_strdup ("TLS handshake: the client left");
}

/* Shakes hands on c->fd within HANDSHAKE_SECONDS. FALSE: failed (reported
 * unless cloudsim is stopping). */
static gboolean
handshake (CsTls *tls, SSL *ssl)
{
  gint64 deadline = g_get_monotonic_time () + HANDSHAKE_SECONDS * G_USEC_PER_SEC;
  for (;;)
    {
      int r, err, w;
      ERR_clear_error ();
      errno = 0;
      r = SSL_accept (ssl);
      if (r == 1)
        return TRUE;
      err = SSL_get_error (ssl, r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        {
          report_refusal (tls, handshake_error (ssl, err, errno));
          ERR_clear_error ();
          return FALSE;
        }
      w = wait_fd (tls, SSL_get_fd (ssl), err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
      if (w == 0)
        report_refusal (tls, g_strdup_printf ("TLS handshake: no handshake within %d s", HANDSHAKE_SECONDS));
      if (w <= 0)
        return FALSE;
    }
}

/* Remembers the client certificate of ssl under the internal connection's
 * local port; returns that port, 0 when it cannot be known. */
static guint
remember_peer (CsTls *tls, SSL *ssl, int plain)
{
  struct sockaddr_in local = { 0 };
  socklen_t len = sizeof local;
  Peer *p = g_new0 (Peer, 1);
  X509 *crt = SSL_get1_peer_certificate (ssl);
  if (crt)
    {
      p->subject = subject_of (crt);
      p->verified = SSL_get_verify_result (ssl) == X509_V_OK;
      X509_free (crt);
    }
  if (getsockname (plain, (struct sockaddr *) &local, &len) != 0)
    {
      peer_free (p);
      return 0;
    }
  g_mutex_lock (&lock);
  g_hash_table_replace (tls->peers, GUINT_TO_POINTER ((guint) ntohs (local.sin_port)), p);
  g_mutex_unlock (&lock);
  return ntohs (local.sin_port);
}

/* Forgets what remember_peer() stored, once the connection is over, so a
 * later connection on the same port never inherits it. */
static void
forget_peer (CsTls *tls, guint port)
{
  g_mutex_lock (&lock);
  g_hash_table_remove (tls->peers, GUINT_TO_POINTER (port));
  g_mutex_unlock (&lock);
}

/* A plain connection to the SoupServer, non-blocking; -1 on failure. */
static int
connect_plain (CsTls *tls)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((guint16) tls->plain_port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0
      || fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK) != 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* Writes all of buf to the plain socket. */
static gboolean
write_plain (CsTls *tls, int fd, const char *buf, size_t len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);
      if (n > 0)
        {
          buf += n;
          len -= (size_t) n;
        }
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          if (wait_fd (tls, fd, POLLOUT, -1) != 1)
            return FALSE;
        }
      else
        return FALSE;
    }
  return TRUE;
}

/* Writes all of buf into the TLS session. */
static gboolean
write_tls (CsTls *tls, SSL *ssl, const char *buf, int len)
{
  while (len > 0)
    {
      int n, err;
      ERR_clear_error ();
      n = SSL_write (ssl, buf, len);
      if (n > 0)
        {
          buf += n;
          len -= n;
          continue;
        }
      err = SSL_get_error (ssl, n);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        return FALSE;
      if (wait_fd (tls, SSL_get_fd (ssl), err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, -1) != 1)
        return FALSE;
    }
  return TRUE;
}

/* Moves what the TLS session has to the plain socket. FALSE: the session
 * ended (closed, failed, or cloudsim stops). */
static gboolean
tls_to_plain (CsTls *tls, SSL *ssl, int plain, char *buf)
{
  for (;;)
    {
      int n, err;
      ERR_clear_error ();
      n = SSL_read (ssl, buf, CHUNK);
      if (n > 0)
        {
          if (!write_plain (tls, plain, buf, (size_t) n))
            return FALSE;
          continue;
        }
      err = SSL_get_error (ssl, n);
      if (err == SSL_ERROR_WANT_READ)
        return TRUE;
      if (err != SSL_ERROR_WANT_WRITE || wait_fd (tls, SSL_get_fd (ssl), POLLOUT, -1) != 1)
        return FALSE;
    }
}

/* Copies plaintext both ways until either side ends or cloudsim stops. */
static void
relay (CsTls *tls, SSL *ssl, int plain)
{
  char *buf = g_malloc (CHUNK);
  int fd = SSL_get_fd (ssl);
  gboolean cloud_closed = FALSE;

  for (;;)
    {
      struct pollfd p[3] = { { fd, POLLIN, 0 }, { plain, POLLIN, 0 }, { tls->wake[0], POLLIN, 0 } };
      int n = poll (p, 3, SSL_pending (ssl) > 0 ? 0 : -1);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 || p[2].revents)
        break;
      if ((p[0].revents || SSL_pending (ssl) > 0) && !tls_to_plain (tls, ssl, plain, buf))
        break;
      if (p[1].revents)
        {
          ssize_t got = recv (plain, buf, CHUNK, 0);
          if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
          if (got <= 0)
            {
              cloud_closed = TRUE;
              break;
            }
          if (!write_tls (tls, ssl, buf, (int) got))
            break;
        }
    }
  if (cloud_closed)
    {
      ERR_clear_error ();
      SSL_shutdown (ssl);   /* close_notify, best effort */
    }
  ERR_clear_error ();
  g_free (buf);
}

static gpointer
conn_run (gpointer data)
{
  Conn *c = data;
  CsTls *tls = c->tls;
  SSL *ssl = SSL_new (tls->ctx);

  if (ssl && SSL_set_fd (ssl, c->fd) == 1 && handshake (tls, ssl))
    {
      int plain = connect_plain (tls);
      if (plain >= 0)
        {
          /* a connection whose client certificate cannot be attributed
           * is not relayed: it would be served as if it had none */
          guint port = remember_peer (tls, ssl, plain);
          if (port)
            {
              relay (tls, ssl, plain);
              forget_peer (tls, port);
            }
          close (plain);
        }
      else
        g_printerr ("cloudsim: cannot reach the plain listener on port %u: %s\n", tls->plain_port,
                    g_strerror (errno));
    }
  if (ssl)
    SSL_free (ssl);
  ERR_clear_error ();
  close (c->fd);
  g_free (c);
  g_mutex_lock (&lock);
  tls->live--;
  g_cond_broadcast (&gone);
  g_mutex_unlock (&lock);
  return NULL;
}

static gpointer
accept_run (gpointer data)
{
  CsTls *tls = data;
  sigset_t pipe_set;

  /* a peer gone mid-write gives EPIPE in these threads, not SIGPIPE
   * (connection threads inherit this mask) */
  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, NULL);
  for (;;)
    {
      Conn *c;
      int fd;
      if (wait_fd (tls, tls->listen_fd, POLLIN, -1) != 1)
        break;
      fd = accept4 (tls->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0)
        {
          if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
            g_usleep (50 * 1000);
          continue;
        }
      c = g_new0 (Conn, 1);
      c->tls = tls;
      c->fd = fd;
      g_mutex_lock (&lock);
      tls->live++;
      g_mutex_unlock (&lock);
      g_thread_unref (g_thread_new ("cs-tls-conn", conn_run, c));
    }
  return NULL;
}

/* ---- setup ---------------------------------------------------------------- */

/* The SSL_CTX CloudCore v1.9.2's Go crypto/tls configuration amounts to. */
static gboolean
setup_ctx (CsTls *tls, const CsTlsOptions *options, GError **error)
{
  char buf[256] = "";
  STACK_OF (X509_NAME) *names;

  tls->ctx = SSL_CTX_new (TLS_server_method ());
  if (!tls->ctx)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "SSL_CTX_new failed");
      return FALSE;
    }
  SSL_CTX_set_min_proto_version (tls->ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode (tls->ctx, SSL_MODE_NO_AUTO_CHAIN);   /* Go sends the leaf alone */
  if (options->v192_suites)
    SSL_CTX_set_cipher_list (tls->ctx, "ECDHE-ECDSA-AES128-GCM-SHA256");   /* TLS 1.2; 1.3 untouched */
  if (SSL_CTX_use_certificate_file (tls->ctx, options->cert_file, SSL_FILETYPE_PEM) != 1
      || SSL_CTX_use_PrivateKey_file (tls->ctx, options->key_file, SSL_FILETYPE_PEM) != 1
      || SSL_CTX_load_verify_file (tls->ctx, options->ca_file) != 1)
    {
      ERR_error_string_n (ERR_get_error (), buf, sizeof buf);
      ERR_clear_error ();
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "loading %s, %s, %s: %s", options->cert_file,
                   options->key_file, options->ca_file, buf);
      return FALSE;
    }
  names = SSL_load_client_CA_file (options->ca_file);
  if (names)
    SSL_CTX_set_client_CA_list (tls->ctx, names);
  ERR_clear_error ();
  if (options->client_auth == CS_TLS_CLIENT_REQUIRE)
    SSL_CTX_set_verify (tls->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  else
    SSL_CTX_set_verify (tls->ctx, SSL_VERIFY_PEER, accept_any);
  return TRUE;
}

/* The TLS socket on 127.0.0.1:port, non-blocking. */
static gboolean
listen_tls (CsTls *tls, guint port, guint *bound, GError **error)
{
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((guint16) port),
                              .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof addr;
  int one = 1;

  tls->listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (tls->listen_fd < 0
      || setsockopt (tls->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0
      || bind (tls->listen_fd, (struct sockaddr *) &addr, sizeof addr) != 0
      || listen (tls->listen_fd, 128) != 0
      || getsockname (tls->listen_fd, (struct sockaddr *) &addr, &len) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Error binding to address 127.0.0.1:%u: %s",
                   port, g_strerror (e));
      return FALSE;
    }
  *bound = ntohs (addr.sin_port);
  return TRUE;
}

/* The plain listener the connection threads hand plaintext to. */
static gboolean
listen_plain (CsTls *tls, SoupServer *server, GError **error)
{
  GSList *uris;
  if (!soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, error))
    return FALSE;
  uris = soup_server_get_uris (server);
  tls->plain_port = uris ? (guint) g_uri_get_port (uris->data) : 0;
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  if (tls->plain_port == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "the plain listener has no port");
      return FALSE;
    }
  return TRUE;
}

/* See cs-tls.h. */
CsTls *
cs_tls_listen (SoupServer *server, const CsTlsOptions *options, guint *bound, GError **error)
{
  CsTls *tls = g_new0 (CsTls, 1);

  tls->refs = 1;
  tls->opt = *options;
  tls->listen_fd = -1;
  tls->wake[0] = tls->wake[1] = -1;
  tls->peers = g_hash_table_new_full (NULL, NULL, NULL, peer_free);
  if (!setup_ctx (tls, options, error) || !listen_plain (tls, server, error)
      || !listen_tls (tls, options->port, bound, error))
    {
      cs_tls_free (tls);
      return NULL;
    }
  if (pipe2 (tls->wake, O_CLOEXEC) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "pipe: %s", g_strerror (e));
      cs_tls_free (tls);
      return NULL;
    }
  tls->acceptor = g_thread_new ("cs-tls-accept", accept_run, tls);
  return tls;
}

/* Stops listening, ends every connection and waits for their threads. */
void
cs_tls_free (CsTls *tls)
{
  if (!tls)
    return;
  tls->closed = TRUE;
  if (tls->acceptor)
    {
      char one = 1;
      while (write (tls->wake[1], &one, 1) < 0 && errno == EINTR)
        ;
      g_thread_join (tls->acceptor);
      g_mutex_lock (&lock);
      while (tls->live > 0)
        g_cond_wait (&gone, &lock);
      g_mutex_unlock (&lock);
    }
  if (tls->listen_fd >= 0)
    close (tls->listen_fd);
  if (tls->wake[0] >= 0)
    close (tls->wake[0]);
  if (tls->wake[1] >= 0)
    close (tls->wake[1]);
  tls_unref (tls);
}

/* See cs-tls.h. */
char *
cs_tls_peer (CsTls *tls, SoupServerMessage *msg, gboolean *verified)
{
  GSocketAddress *remote = soup_server_message_get_remote_address (msg);
  char *subject = NULL;
  Peer *p;

  *verified = FALSE;
  if (!remote || !G_IS_INET_SOCKET_ADDRESS (remote))
    return NULL;
  g_mutex_lock (&lock);
  p = g_hash_table_lookup (tls->peers,
                           GUINT_TO_POINTER ((guint) g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (remote))));
  if (p)
    {
      *verified = p->verified;
      subject = g_strdup (p->subject);
    }
  g_mutex_unlock (&lock);
  return subject;
}
