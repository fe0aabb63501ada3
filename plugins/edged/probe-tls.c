/* probe-tls.c: OpenSSL client sessions for HTTPS probes; see probe-tls.h.
 *
 * libssl is opened at the first HTTPS probe (dlopen, kept open): edged does
 * not link it, so an edgecore without edgehub (standalone edged, static
 * pods) maps no TLS library until a pod needs one (libssl and libcrypto
 * cost ~1.7 MB Rss, 460 kB of it private); with edgehub, which links it,
 * the same copy is used. The OpenSSL headers give the types and constants
 * only; every call goes through the table below. */
#include "probe-tls.h"

#include <errno.h>
#include <gmodule.h>
#include <openssl/err.h>
#include <openssl/opensslv.h>
#include <openssl/ssl.h>

#define LIBSSL "libssl.so." G_STRINGIFY (OPENSSL_VERSION_MAJOR)

static struct {
  const SSL_METHOD *(*TLS_client_method) (void);
  SSL_CTX       *(*SSL_CTX_new) (const SSL_METHOD *);
  long           (*SSL_CTX_ctrl) (SSL_CTX *, int, long, void *);
  uint64_t       (*SSL_CTX_set_options) (SSL_CTX *, uint64_t);
  void           (*SSL_CTX_set_verify) (SSL_CTX *, int, SSL_verify_cb);
  void           (*SSL_CTX_free) (SSL_CTX *);
  SSL           *(*SSL_new) (SSL_CTX *);
  int            (*SSL_set_fd) (SSL *, int);
  long           (*SSL_ctrl) (SSL *, int, long, void *);
  void           (*SSL_set_connect_state) (SSL *);
  void           (*SSL_free) (SSL *);
  int            (*SSL_do_handshake) (SSL *);
  int            (*SSL_read) (SSL *, void *, int);
  int            (*SSL_write) (SSL *, const void *, int);
  int            (*SSL_get_error) (const SSL *, int);
  unsigned long  (*ERR_peek_error) (void);
  unsigned long  (*ERR_peek_last_error) (void);
  const char    *(*ERR_reason_error_string) (unsigned long);
  void           (*ERR_clear_error) (void);
} ossl;

/* Opens libssl once (on the main loop's thread); FALSE with error when it
 * cannot be loaded. */
static gboolean
ossl_load (GError **error)
{
#define SYM(name) { #name, (gpointer *) &ossl.name }
  static const struct { const char *name; gpointer *where; } syms[] = {
    SYM (TLS_client_method), SYM (SSL_CTX_new), SYM (SSL_CTX_ctrl), SYM (SSL_CTX_set_options),
    SYM (SSL_CTX_set_verify), SYM (SSL_CTX_free), SYM (SSL_new), SYM (SSL_set_fd),
    SYM (SSL_ctrl), SYM (SSL_set_connect_state), SYM (SSL_free), SYM (SSL_do_handshake),
    SYM (SSL_read), SYM (SSL_write), SYM (SSL_get_error), SYM (ERR_peek_error),
    SYM (ERR_peek_last_error), SYM (ERR_reason_error_string), SYM (ERR_clear_error),
  };
#undef SYM
  static GModule *module;
  static char *failure;

  if (module)
    return TRUE;
  if (!failure)
    {
      GModule *m = g_module_open (LIBSSL, G_MODULE_BIND_LOCAL);
      for (gsize i = 0; m && i < G_N_ELEMENTS (syms); i++)
        if (!g_module_symbol (m, syms[i].name, syms[i].where))
          {
            failure = g_strdup_printf ("%s has no %s", LIBSSL, syms[i].name);
            g_module_close (m);
            m = NULL;
          }
      if (m)
        {
          module = m;   /* kept open for the process's life */
          return TRUE;
        }
      if (!failure)
        failure = g_strdup (g_module_error ());
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "HTTPS probes need OpenSSL's %s: %s",
               LIBSSL, failure);
  return FALSE;
}

struct _EdgedProbeTls {
  SSL *ssl;
};

/* The pending OpenSSL error as a GError. */
static void
set_error (GError **error, const char *what)
{
  unsigned long e = ossl.ERR_peek_last_error ();
  const char *reason = e ? ossl.ERR_reason_error_string (e) : NULL;
  gboolean plain = e && ERR_GET_LIB (e) == ERR_LIB_SSL
                   && (ERR_GET_REASON (e) == SSL_R_WRONG_VERSION_NUMBER
                       || ERR_GET_REASON (e) == SSL_R_PACKET_LENGTH_TOO_LONG);

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s failed: %s%s", what,
               reason ? reason : e ? "unknown TLS error" : "connection closed",
               plain ? " (is the server speaking plain HTTP?)" : "");
  ossl.ERR_clear_error ();
}

/* One SSL call's outcome; see probe-tls.h. */
static gssize
result (EdgedProbeTls *tls, int rc, const char *what, GIOCondition *want, gboolean *eof,
        GError **error)
{
  if (rc > 0)
    return rc;
  switch (ossl.SSL_get_error (tls->ssl, rc))
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
      if (ossl.ERR_peek_error () == 0)
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
  /* one context for every probe, made at the first and kept (making one
   * per attempt costs more CPU than the handshake) */
  static SSL_CTX *ctx;
  EdgedProbeTls *tls;
  g_autoptr (GInetAddress) ip = server_name ? g_inet_address_new_from_string (server_name) : NULL;

  if (!ossl_load (error))
    return NULL;
  ossl.ERR_clear_error ();
  if (!ctx)
    {
      if (!(ctx = ossl.SSL_CTX_new (ossl.TLS_client_method ())))
        {
          set_error (error, "TLS setup");
          return NULL;
        }
      ossl.SSL_CTX_ctrl (ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
      /* kubelet's InsecureSkipVerify; a server may end without close_notify */
      ossl.SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);
      ossl.SSL_CTX_set_options (ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
      /* no session resumption: each attempt is a full handshake, as kubelet's */
      ossl.SSL_CTX_ctrl (ctx, SSL_CTRL_SET_SESS_CACHE_MODE, SSL_SESS_CACHE_OFF, NULL);
    }
  tls = g_new0 (EdgedProbeTls, 1);
  tls->ssl = ossl.SSL_new (ctx);
  /* OpenSSL writes with write(2): a server gone raises SIGPIPE, which GLib
   * ignores process-wide once GSocket's class exists (as it does here) */
  if (!tls->ssl || ossl.SSL_set_fd (tls->ssl, g_socket_get_fd (socket)) != 1)
    {
      set_error (error, "TLS setup");
      edged_probe_tls_free (tls);
      return NULL;
    }
  if (server_name && *server_name && !ip)
    ossl.SSL_ctrl (tls->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   (void *) server_name);
  ossl.SSL_set_connect_state (tls->ssl);
  return tls;
}

/* Frees the session; the socket stays the caller's. */
void
edged_probe_tls_free (EdgedProbeTls *tls)
{
  if (!tls)
    return;
  if (tls->ssl)
    ossl.SSL_free (tls->ssl);
  g_free (tls);
}

/* The handshake, one step. */
gssize
edged_probe_tls_handshake (EdgedProbeTls *tls, GIOCondition *want, GError **error)
{
  ossl.ERR_clear_error ();
  errno = 0;
  return result (tls, ossl.SSL_do_handshake (tls->ssl), "TLS handshake", want, NULL, error);
}

/* Reads what has arrived, without blocking. */
gssize
edged_probe_tls_read (EdgedProbeTls *tls, void *buf, gsize len, GIOCondition *want,
                      gboolean *eof, GError **error)
{
  ossl.ERR_clear_error ();
  errno = 0;
  *eof = FALSE;
  return result (tls, ossl.SSL_read (tls->ssl, buf, (int) MIN (len, G_MAXINT)),
                 "reading the answer", want, eof, error);
}

/* Writes what the socket takes, without blocking. */
gssize
edged_probe_tls_write (EdgedProbeTls *tls, const void *buf, gsize len, GIOCondition *want,
                       GError **error)
{
  ossl.ERR_clear_error ();
  errno = 0;
  return result (tls, ossl.SSL_write (tls->ssl, buf, (int) MIN (len, G_MAXINT)),
                 "sending the request", want, NULL, error);
}
