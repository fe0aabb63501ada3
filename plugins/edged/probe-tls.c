/* probe-tls.c: OpenSSL client sessions for HTTPS probes; see probe-tls.h. */
#include "probe-tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

struct _EdgedProbeTls {
  SSL *ssl;
};

/* The pending OpenSSL error as a GError. */
static void
set_error (GError **error, const char *what)
{
  unsigned long e = ERR_peek_last_error ();
  const char *reason = e ? ERR_reason_error_string (e) : NULL;
  gboolean plain = e && ERR_GET_LIB (e) == ERR_LIB_SSL
                   && (ERR_GET_REASON (e) == SSL_R_WRONG_VERSION_NUMBER
                       || ERR_GET_REASON (e) == SSL_R_PACKET_LENGTH_TOO_LONG);

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed: %s%s", what,
               reason ? reason : e ? "unknown TLS error" : "connection closed",
               plain ? " (is the server speaking plain HTTP?)" : "");
  ERR_clear_error ();
}

/* One SSL call's outcome; see probe-tls.h. */
static gssize
result (EdgedProbeTls *tls, int rc, const char *what, GIOCondition *want, gboolean *eof,
        GError **error)
{
  if (rc > 0)
    return rc;
  switch (SSL_get_error (tls->ssl, rc))
    {
    case SSL_ERROR_WANT_READ:
      *want = G_IO_IN;
      return 0;
    case SSL_ERROR_WANT_WRITE:
      *want = G_IO_OUT;
      return 0;
    case SSL_ERROR_ZERO_RETURN:
      if (eof)
        {
          *eof = TRUE;
          return 0;
        }
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "%s failed: the server closed the "
                   "connection", what);
      return -1;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error () == 0)
        {
          int saved = errno;
          if (eof && saved == 0)
            {
              *eof = TRUE;
              return 0;
            }
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s failed: %s", what,
                       saved ? g_strerror (saved) : "the server closed the connection");
          return -1;
        }
      set_error (error, what);
      return -1;
    default:
      set_error (error, what);
      return -1;
    }
}

/* A client session on socket; see probe-tls.h. */
EdgedProbeTls *
edged_probe_tls_new (GSocket *socket, const char *server_name, GError **error)
{
  SSL_CTX *ctx;
  EdgedProbeTls *tls;
  g_autoptr (GInetAddress) ip = server_name ? g_inet_address_new_from_string (server_name) : NULL;

  ERR_clear_error ();
  ctx = SSL_CTX_new (TLS_client_method ());
  if (!ctx)
    {
      set_error (error, "TLS setup");
      return NULL;
    }
  SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);          /* kubelet: InsecureSkipVerify */
  SSL_CTX_set_options (ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);  /* an end without close_notify */
  tls = g_new0 (EdgedProbeTls, 1);
  tls->ssl = SSL_new (ctx);
  SSL_CTX_free (ctx);   /* the session holds its own reference */
  /* OpenSSL writes with write(2): a server gone raises SIGPIPE, which GLib
   * ignores process-wide once GSocket's class exists (as it does here) */
  if (!tls->ssl || SSL_set_fd (tls->ssl, g_socket_get_fd (socket)) != 1)
    {
      set_error (error, "TLS setup");
      edged_probe_tls_free (tls);
      return NULL;
    }
  if (server_name && *server_name && !ip)
    SSL_set_tlsext_host_name (tls->ssl, server_name);
  SSL_set_connect_state (tls->ssl);
  return tls;
}

/* Frees the session; the socket stays the caller's. */
void
edged_probe_tls_free (EdgedProbeTls *tls)
{
  if (!tls)
    return;
  if (tls->ssl)
    SSL_free (tls->ssl);
  g_free (tls);
}

/* The handshake, one step. */
gssize
edged_probe_tls_handshake (EdgedProbeTls *tls, GIOCondition *want, GError **error)
{
  ERR_clear_error ();
  errno = 0;
  return result (tls, SSL_do_handshake (tls->ssl), "TLS handshake", want, NULL, error);
}

/* Reads what has arrived, without blocking. */
gssize
edged_probe_tls_read (EdgedProbeTls *tls, void *buf, gsize len, GIOCondition *want,
                      gboolean *eof, GError **error)
{
  ERR_clear_error ();
  errno = 0;
  *eof = FALSE;
  return result (tls, SSL_read (tls->ssl, buf, (int) MIN (len, G_MAXINT)), "reading the answer",
                 want, eof, error);
}

/* Writes what the socket takes, without blocking. */
gssize
edged_probe_tls_write (EdgedProbeTls *tls, const void *buf, gsize len, GIOCondition *want,
                       GError **error)
{
  ERR_clear_error ();
  errno = 0;
  return result (tls, SSL_write (tls->ssl, buf, (int) MIN (len, G_MAXINT)),
                 "sending the request", want, NULL, error);
}
