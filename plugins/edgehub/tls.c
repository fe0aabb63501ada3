/* tls.c: a pollable GIOStream over an OpenSSL session on a non-blocking
 * socket, the client connect, and edgecore's own check of the cloud's
 * certificate (see tls.h for why not GLib's TLS). */
#include "tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

G_DEFINE_QUARK (eh-tls-error-quark, eh_tls_error)

/* A short name for a cause. */
const char *
eh_tls_error_cause (const GError *error)
{
  if (!error || error->domain != EH_TLS_ERROR)
    return "network";
  switch ((EhTlsError) error->code)
    {
    case EH_TLS_ERROR_CHAIN: return "chain";
    case EH_TLS_ERROR_NAME: return "name";
    case EH_TLS_ERROR_EXPIRY: return "expiry";
    case EH_TLS_ERROR_CLIENT_REFUSED: return "client certificate refused";
    case EH_TLS_ERROR_PROTOCOL: return "protocol";
    case EH_TLS_ERROR_HANDSHAKE:
    default: return "handshake";
    }
}

/* ---- the stream ---------------------------------------------------------- */

#define EH_TYPE_TLS_INPUT  (eh_tls_input_get_type ())
#define EH_TYPE_TLS_OUTPUT (eh_tls_output_get_type ())
G_DECLARE_FINAL_TYPE (EhTlsInput, eh_tls_input, EH, TLS_INPUT, GInputStream)
G_DECLARE_FINAL_TYPE (EhTlsOutput, eh_tls_output, EH, TLS_OUTPUT, GOutputStream)

struct _EhTlsStream {
  GIOStream          parent;
  GSocketConnection *base;
  GSocket           *socket;
  SSL               *ssl;
  GInputStream      *input;
  GOutputStream     *output;
  GByteArray        *pushback;
  GIOCondition       want;        /* what the handshake waits for */
  GIOCondition       read_want;   /* what the last read waited for */
  GIOCondition       write_want;  /* what the last write waited for */
  gboolean           closed;
};

struct _EhTlsInput {
  GInputStream  parent;
  EhTlsStream  *tls;   /* not a reference: the stream owns this */
};

struct _EhTlsOutput {
  GOutputStream parent;
  EhTlsStream  *tls;
};

/* Turns the pending OpenSSL error into a GError; a fatal alert from the
 * peer about our certificate is EH_TLS_ERROR_CLIENT_REFUSED. */
static void
set_ssl_error (GError **error, const char *what)
{
  unsigned long e = ERR_peek_last_error ();
  int reason = ERR_GET_REASON (e);
  char buf[256] = "";
  EhTlsError code = EH_TLS_ERROR_HANDSHAKE;

  if (e)
    ERR_error_string_n (e, buf, sizeof buf);
  ERR_clear_error ();
  switch (reason)
    {
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      code = EH_TLS_ERROR_CLIENT_REFUSED;
      break;
    default:
      break;
    }
  if (code == EH_TLS_ERROR_CLIENT_REFUSED)
    g_set_error (error, EH_TLS_ERROR, code, "the cloud refused the node's client certificate "
                 "(TLS alert: %s)", SSL_alert_desc_string_long (0x200 | (reason - 1000)));
  else
    g_set_error (error, EH_TLS_ERROR, code, "%s: %s", what, *buf ? buf : "connection closed");
}

/* Runs one SSL call's outcome: >0 done; 0 would block (want set);
 * -1 error (set); for reads, 0 bytes at a clean end is returned as 0 with
 * *eof set. */
static gssize
ssl_result (EhTlsStream *self, int rc, GIOCondition *want, const char *what, gboolean *eof, GError **error)
{
  int err;
  if (rc > 0)
    return rc;
  err = SSL_get_error (self->ssl, rc);
  switch (err)
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
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "%s: the peer closed the TLS session", what);
      return -1;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error () == 0)
        {
          if (eof)
            {
              *eof = TRUE;   /* an end without close_notify, as Go's peers may do */
              return 0;
            }
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "%s: connection closed", what);
          return -1;
        }
      set_ssl_error (error, what);
      return -1;
    default:
      set_ssl_error (error, what);
      return -1;
    }
}

/* Reads without blocking: pushed-back bytes first. */
static gssize
tls_read_nb (EhTlsStream *self, void *buf, gsize count, GError **error)
{
  gboolean eof = FALSE;
  gssize n;
  if (self->pushback && self->pushback->len)
    {
      gsize take = MIN (count, self->pushback->len);
      memcpy (buf, self->pushback->data, take);
      g_byte_array_remove_range (self->pushback, 0, (guint) take);
      return (gssize) take;
    }
  ERR_clear_error ();
  self->read_want = 0;
  n = ssl_result (self, SSL_read (self->ssl, buf, (int) MIN (count, G_MAXINT)), &self->read_want, "TLS read",
                  &eof, error);
  if (n == 0 && !eof)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "would block");
      return -1;
    }
  return n;
}

/* Writes without blocking. */
static gssize
tls_write_nb (EhTlsStream *self, const void *buf, gsize count, GError **error)
{
  gssize n;
  if (count == 0)
    return 0;
  ERR_clear_error ();
  self->write_want = 0;
  n = ssl_result (self, SSL_write (self->ssl, buf, (int) MIN (count, G_MAXINT)), &self->write_want, "TLS write",
                  NULL, error);
  if (n == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "would block");
      return -1;
    }
  return n;
}

/* Whether a read can make progress now. */
static gboolean
tls_readable (EhTlsStream *self)
{
  /* SSL_pending: decrypted bytes ready. A partial record OpenSSL holds
   * needs more from the socket, which the socket's readiness tells. */
  if ((self->pushback && self->pushback->len) || SSL_pending (self->ssl) > 0)
    return TRUE;
  return g_socket_condition_check (self->socket, self->read_want ? self->read_want : G_IO_IN) != 0;
}

/* A source that fires when the stream may make progress in direction dir. */
static GSource *
tls_source (EhTlsStream *self, GObject *pollable, GIOCondition dir, GCancellable *cancellable)
{
  GSource *child, *src;
  if (dir == G_IO_IN && ((self->pushback && self->pushback->len) || SSL_pending (self->ssl) > 0))
    child = g_timeout_source_new (0);
  else
    {
      GIOCondition want = dir == G_IO_IN ? self->read_want : self->write_want;
      child = g_socket_create_source (self->socket, (want ? want : dir) | G_IO_HUP | G_IO_ERR, NULL);
    }
  /* built by hand: g_pollable_source_new_full would set a second dummy
   * callback on child, which GLib 2.74 then takes for destroyed */
  g_source_set_dummy_callback (child);
  src = g_pollable_source_new (pollable);
  g_source_add_child_source (src, child);
  g_source_unref (child);
  if (cancellable)
    {
      GSource *cs = g_cancellable_source_new (cancellable);
      g_source_set_dummy_callback (cs);
      g_source_add_child_source (src, cs);
      g_source_unref (cs);
    }
  return src;
}

/* A blocking call: waits on the socket until op makes progress. */
static gssize
tls_blocking (EhTlsStream *self, gboolean reading, void *buf, gsize count, GCancellable *c, GError **error)
{
  for (;;)
    {
      GError *local = NULL;
      gssize n = reading ? tls_read_nb (self, buf, count, &local) : tls_write_nb (self, buf, count, &local);
      if (n >= 0 || !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          if (local)
            g_propagate_error (error, local);
          return n;
        }
      g_error_free (local);
      GIOCondition want = reading ? self->read_want : self->write_want;
      if (!g_socket_condition_wait (self->socket, want ? want : (reading ? G_IO_IN : G_IO_OUT), c, error))
        return -1;
    }
}

/* The stream types are registered under a name unique to this copy of the
 * code: edgehub and edgestream each link tls.c (edgehub-core, a static
 * library), and two plugins registering one GType name would collide. */
static char eh_tls_type_anchor;

#define EH_TLS_DEFINE_TYPE(TypeName, type_name, PARENT, IFACE, iface_init)                     \
  static gpointer type_name##_parent_class;                                                    \
  static void type_name##_class_init (TypeName##Class *klass);                                 \
  static void type_name##_init (TypeName *self);                                               \
  static void                                                                                  \
  type_name##_class_intern_init (gpointer klass)                                               \
  {                                                                                            \
    type_name##_parent_class = g_type_class_peek_parent (klass);                               \
    type_name##_class_init ((TypeName##Class *) klass);                                        \
  }                                                                                            \
  GType                                                                                        \
  type_name##_get_type (void)                                                                  \
  {                                                                                            \
    static gsize id = 0;                                                                       \
    if (g_once_init_enter (&id))                                                               \
      {                                                                                        \
        g_autofree char *name = g_strdup_printf ("%s-%p", #TypeName, (void *) &eh_tls_type_anchor); \
        GType t = g_type_register_static_simple (PARENT, g_intern_string (name),               \
                                                 sizeof (TypeName##Class),                     \
                                                 (GClassInitFunc) (void (*) (void)) type_name##_class_intern_init, \
                                                 sizeof (TypeName),                            \
                                                 (GInstanceInitFunc) (void (*) (void)) type_name##_init, 0); \
        if (IFACE)                                                                             \
          {                                                                                    \
            const GInterfaceInfo info = { (GInterfaceInitFunc) (void (*) (void)) iface_init, NULL, NULL }; \
            g_type_add_interface_static (t, IFACE, &info);                                     \
          }                                                                                    \
        g_once_init_leave (&id, t);                                                            \
      }                                                                                        \
    return id;                                                                                 \
  }

/* input */

static void eh_tls_input_pollable_init (GPollableInputStreamInterface *iface);
EH_TLS_DEFINE_TYPE (EhTlsInput, eh_tls_input, G_TYPE_INPUT_STREAM, G_TYPE_POLLABLE_INPUT_STREAM,
                    eh_tls_input_pollable_init)

static gssize
input_read (GInputStream *s, void *buf, gsize count, GCancellable *c, GError **error)
{
  return tls_blocking (EH_TLS_INPUT (s)->tls, TRUE, buf, count, c, error);
}

static gboolean
input_close (GInputStream *s, GCancellable *c, GError **error)
{
  return TRUE;
}

static gboolean
input_can_poll (GPollableInputStream *s)
{
  return TRUE;
}

static gboolean
input_is_readable (GPollableInputStream *s)
{
  return tls_readable (EH_TLS_INPUT (s)->tls);
}

static GSource *
input_create_source (GPollableInputStream *s, GCancellable *c)
{
  return tls_source (EH_TLS_INPUT (s)->tls, G_OBJECT (s), G_IO_IN, c);
}

static gssize
input_read_nb (GPollableInputStream *s, void *buf, gsize count, GError **error)
{
  return tls_read_nb (EH_TLS_INPUT (s)->tls, buf, count, error);
}

static void
eh_tls_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = input_can_poll;
  iface->is_readable = input_is_readable;
  iface->create_source = input_create_source;
  iface->read_nonblocking = input_read_nb;
}

static void
eh_tls_input_class_init (EhTlsInputClass *klass)
{
  GInputStreamClass *ic = G_INPUT_STREAM_CLASS (klass);
  ic->read_fn = input_read;
  ic->close_fn = input_close;
}

static void
eh_tls_input_init (EhTlsInput *self)
{
}

/* output */

static void eh_tls_output_pollable_init (GPollableOutputStreamInterface *iface);
EH_TLS_DEFINE_TYPE (EhTlsOutput, eh_tls_output, G_TYPE_OUTPUT_STREAM, G_TYPE_POLLABLE_OUTPUT_STREAM,
                    eh_tls_output_pollable_init)

static gssize
output_write (GOutputStream *s, const void *buf, gsize count, GCancellable *c, GError **error)
{
  return tls_blocking (EH_TLS_OUTPUT (s)->tls, FALSE, (void *) buf, count, c, error);
}

static gboolean
output_close (GOutputStream *s, GCancellable *c, GError **error)
{
  return TRUE;
}

static gboolean
output_can_poll (GPollableOutputStream *s)
{
  return TRUE;
}

static gboolean
output_is_writable (GPollableOutputStream *s)
{
  EhTlsStream *t = EH_TLS_OUTPUT (s)->tls;
  return g_socket_condition_check (t->socket, t->write_want ? t->write_want : G_IO_OUT) != 0;
}

static GSource *
output_create_source (GPollableOutputStream *s, GCancellable *c)
{
  return tls_source (EH_TLS_OUTPUT (s)->tls, G_OBJECT (s), G_IO_OUT, c);
}

static gssize
output_write_nb (GPollableOutputStream *s, const void *buf, gsize count, GError **error)
{
  return tls_write_nb (EH_TLS_OUTPUT (s)->tls, buf, count, error);
}

static void
eh_tls_output_pollable_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = output_can_poll;
  iface->is_writable = output_is_writable;
  iface->create_source = output_create_source;
  iface->write_nonblocking = output_write_nb;
}

static void
eh_tls_output_class_init (EhTlsOutputClass *klass)
{
  GOutputStreamClass *oc = G_OUTPUT_STREAM_CLASS (klass);
  oc->write_fn = output_write;
  oc->close_fn = output_close;
}

static void
eh_tls_output_init (EhTlsOutput *self)
{
}

/* the io stream */

static void eh_tls_stream_no_iface (gpointer iface) { }
EH_TLS_DEFINE_TYPE (EhTlsStream, eh_tls_stream, G_TYPE_IO_STREAM, 0, eh_tls_stream_no_iface)

static GInputStream *
stream_get_input (GIOStream *s)
{
  return EH_TLS_STREAM (s)->input;
}

static GOutputStream *
stream_get_output (GIOStream *s)
{
  return EH_TLS_STREAM (s)->output;
}

/* Sends close_notify (once, without waiting for the peer's) and closes the
 * socket. */
static gboolean
stream_close (GIOStream *s, GCancellable *c, GError **error)
{
  EhTlsStream *self = EH_TLS_STREAM (s);
  if (self->closed)
    return TRUE;
  self->closed = TRUE;
  ERR_clear_error ();
  if (SSL_is_init_finished (self->ssl))
    SSL_shutdown (self->ssl);
  ERR_clear_error ();
  return g_io_stream_close (G_IO_STREAM (self->base), c, error);
}

/* Closes in the calling thread: nothing here blocks. */
static void
stream_close_async (GIOStream *s, int priority, GCancellable *c, GAsyncReadyCallback cb, gpointer data)
{
  g_autoptr (GTask) task = g_task_new (s, c, cb, data);
  GError *error = NULL;
  if (stream_close (s, c, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static gboolean
stream_close_finish (GIOStream *s, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean (G_TASK (res), error);
}

static void
stream_finalize (GObject *object)
{
  EhTlsStream *self = EH_TLS_STREAM (object);
  if (!self->closed && self->base)
    g_io_stream_close (G_IO_STREAM (self->base), NULL, NULL);
  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->base);
  if (self->ssl)
    SSL_free (self->ssl);
  if (self->pushback)
    g_byte_array_unref (self->pushback);
  G_OBJECT_CLASS (eh_tls_stream_parent_class)->finalize (object);
}

static void
eh_tls_stream_class_init (EhTlsStreamClass *klass)
{
  GIOStreamClass *ic = G_IO_STREAM_CLASS (klass);
  G_OBJECT_CLASS (klass)->finalize = stream_finalize;
  ic->get_input_stream = stream_get_input;
  ic->get_output_stream = stream_get_output;
  ic->close_fn = stream_close;
  ic->close_async = stream_close_async;
  ic->close_finish = stream_close_finish;
}

static void
eh_tls_stream_init (EhTlsStream *self)
{
}

/* Wraps base with ssl (taken over); ssl gets the socket's fd. */
EhTlsStream *
eh_tls_stream_new (GSocketConnection *base, SSL *ssl)
{
  EhTlsStream *self = g_object_new (EH_TYPE_TLS_STREAM, NULL);
  EhTlsInput *in = g_object_new (EH_TYPE_TLS_INPUT, NULL);
  EhTlsOutput *out = g_object_new (EH_TYPE_TLS_OUTPUT, NULL);
  self->base = g_object_ref (base);
  self->socket = g_socket_connection_get_socket (base);
  self->ssl = ssl;
  /* OpenSSL writes with write(2): a peer gone raises SIGPIPE, which GLib
   * ignores process-wide once GSocket's class exists (as it does here) */
  SSL_set_fd (ssl, g_socket_get_fd (self->socket));
  SSL_set_mode (ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  in->tls = self;
  out->tls = self;
  self->input = G_INPUT_STREAM (in);
  self->output = G_OUTPUT_STREAM (out);
  return self;
}

/* The SSL object. */
SSL *
eh_tls_stream_get_ssl (EhTlsStream *self)
{
  return self->ssl;
}

/* The socket under the stream. */
GSocket *
eh_tls_stream_get_socket (EhTlsStream *self)
{
  return self->socket;
}

/* Puts bytes back in front of the stream. */
void
eh_tls_stream_unread (EhTlsStream *self, const void *data, gsize len)
{
  if (!len)
    return;
  if (!self->pushback)
    self->pushback = g_byte_array_new ();
  g_byte_array_prepend (self->pushback, data, (guint) len);
}

/* The peer's chain (leaf first), or NULL. */
STACK_OF (X509) *
eh_tls_stream_get_peer_chain (EhTlsStream *self)
{
  return SSL_get_peer_cert_chain (self->ssl);
}

/* The handshake, driven by socket readiness. */
static gboolean handshake_step (gpointer data);

static gboolean
on_handshake_ready (GSocket *s, GIOCondition cond, gpointer data)
{
  return handshake_step (data);
}

static gboolean
handshake_step (gpointer data)
{
  GTask *task = data;
  EhTlsStream *self = g_task_get_source_object (task);
  GError *error = NULL;
  gssize r;
  GSource *src;

  if (g_task_return_error_if_cancelled (task))
    {
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }
  ERR_clear_error ();
  r = ssl_result (self, SSL_do_handshake (self->ssl), &self->want, "TLS handshake", NULL, &error);
  if (r > 0)
    {
      self->want = 0;
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }
  if (r < 0)
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return G_SOURCE_REMOVE;
    }
  src = g_socket_create_source (self->socket, self->want | G_IO_HUP | G_IO_ERR, g_task_get_cancellable (task));
  g_source_set_callback (src, G_SOURCE_FUNC (on_handshake_ready), task, NULL);
  g_source_attach (src, g_task_get_context (task));
  g_source_unref (src);
  return G_SOURCE_REMOVE;
}

/* Shakes hands without blocking. */
void
eh_tls_stream_handshake_async (EhTlsStream *self, GCancellable *c, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new (self, c, cb, data);
  handshake_step (task);
}

gboolean
eh_tls_stream_handshake_finish (EhTlsStream *self, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean (G_TASK (res), error);
}

/* ---- certificates ---------------------------------------------------------- */

/* Loads a CA file (PEM, one or more certificates) into a new store. */
X509_STORE *
eh_tls_load_ca_file (const char *path, GError **error)
{
  X509_STORE *store = X509_STORE_new ();
  ERR_clear_error ();
  if (!path || X509_STORE_load_file (store, path) != 1)
    {
      char buf[200] = "";
      ERR_error_string_n (ERR_peek_last_error (), buf, sizeof buf);
      ERR_clear_error ();
      g_set_error (error, G_IO_ERROR, g_file_test (path ? path : "", G_FILE_TEST_EXISTS)
                   ? G_IO_ERROR_INVALID_DATA : G_IO_ERROR_NOT_FOUND,
                   "cannot load the cloud CA %s: %s", path ? path : "(none)", buf);
      X509_STORE_free (store);
      return NULL;
    }
  return store;
}

/* Loads one certificate, PEM or DER. */
X509 *
eh_tls_load_cert_file (const char *path, GError **error)
{
  g_autofree char *data = NULL;
  gsize len;
  X509 *crt = NULL;
  BIO *bio;
  if (!g_file_get_contents (path, &data, &len, error))
    return NULL;
  bio = BIO_new_mem_buf (data, (int) len);
  crt = PEM_read_bio_X509 (bio, NULL, NULL, NULL);
  if (!crt)
    {
      const unsigned char *p = (const unsigned char *) data;
      crt = d2i_X509 (NULL, &p, (long) len);
    }
  BIO_free (bio);
  ERR_clear_error ();
  if (!crt)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s is not a certificate", path);
  return crt;
}

/* Time of an ASN.1 time in Unix seconds (0 when unreadable). */
gint64
eh_tls_asn1_unix (const ASN1_TIME *t)
{
  struct tm tm;
  if (!t || ASN1_TIME_to_tm (t, &tm) != 1)
    return 0;
  return (gint64) timegm (&tm);
}

/* Reads a certificate file's validity. */
gboolean
eh_tls_cert_file_dates (const char *path, gint64 *not_before, gint64 *not_after, GError **error)
{
  X509 *crt = eh_tls_load_cert_file (path, error);
  if (!crt)
    return FALSE;
  *not_before = eh_tls_asn1_unix (X509_get0_notBefore (crt));
  *not_after = eh_tls_asn1_unix (X509_get0_notAfter (crt));
  X509_free (crt);
  return TRUE;
}

/* Formats an ASN.1 time. */
static char *
asn1_time_text (const ASN1_TIME *t)
{
  struct tm tm;
  if (!t || ASN1_TIME_to_tm (t, &tm) != 1)
    return g_strdup ("?");
  return g_strdup_printf ("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                          tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Lists the IP and DNS entries of a certificate, for messages. */
static char *
describe_names (GENERAL_NAMES *names)
{
  g_autoptr (GString) s = g_string_new (NULL);
  for (int i = 0; names && i < sk_GENERAL_NAME_num (names); i++)
    {
      GENERAL_NAME *g = sk_GENERAL_NAME_value (names, i);
      if (g->type == GEN_DNS)
        g_string_append_printf (s, "%sDNS:%.*s", s->len ? ", " : "", ASN1_STRING_length (g->d.dNSName),
                                (const char *) ASN1_STRING_get0_data (g->d.dNSName));
      else if (g->type == GEN_IPADD)
        {
          g_autoptr (GInetAddress) a = g_inet_address_new_from_bytes (
            ASN1_STRING_get0_data (g->d.iPAddress),
            ASN1_STRING_length (g->d.iPAddress) == 16 ? G_SOCKET_FAMILY_IPV6 : G_SOCKET_FAMILY_IPV4);
          g_autofree char *text = ASN1_STRING_length (g->d.iPAddress) == 4
                                  || ASN1_STRING_length (g->d.iPAddress) == 16
                                  ? g_inet_address_to_string (a) : g_strdup ("?");
          g_string_append_printf (s, "%sIP:%s", s->len ? ", " : "", text);
        }
    }
  return g_strdup (s->len ? s->str : "no IP or DNS names");
}

/* Whether a DNS pattern (possibly *.example.com) matches host, as Go's
 * validHostname/matchHostnames do: case-insensitive, a wildcard only as the
 * whole leftmost label. */
static gboolean
dns_matches (const char *pattern, gsize plen, const char *host)
{
  g_autofree char *p = g_ascii_strdown (pattern, (gssize) plen);
  g_autofree char *h = g_ascii_strdown (host, -1);
  gsize hl = strlen (h);
  if (plen == 0)
    return FALSE;                     /* an empty entry names nothing */
  if (hl && h[hl - 1] == '.')
    h[--hl] = '\0';
  if (p[plen - 1] == '.')
    p[--plen] = '\0';
  if (g_str_has_prefix (p, "*."))
    {
      const char *dot = strchr (h, '.');
      return dot && dot != h && g_strcmp0 (dot, p + 1) == 0;
    }
  return g_strcmp0 (p, h) == 0;
}

/* Checks host against the certificate's IP and DNS entries. */
static gboolean
check_name (X509 *leaf, const char *host, GError **error)
{
  GENERAL_NAMES *names = X509_get_ext_d2i (leaf, NID_subject_alt_name, NULL, NULL);
  g_autoptr (GInetAddress) ip = NULL;
  g_autofree char *bare = NULL, *listed = NULL;
  gboolean ok = FALSE;

  bare = g_str_has_prefix (host, "[") ? g_strndup (host + 1, strlen (host) - 2) : g_strdup (host);
  ip = g_inet_address_new_from_string (bare);
  for (int i = 0; names && !ok && i < sk_GENERAL_NAME_num (names); i++)
    {
      GENERAL_NAME *g = sk_GENERAL_NAME_value (names, i);
      if (ip && g->type == GEN_IPADD)
        ok = (gsize) ASN1_STRING_length (g->d.iPAddress) == g_inet_address_get_native_size (ip)
             && memcmp (ASN1_STRING_get0_data (g->d.iPAddress), g_inet_address_to_bytes (ip),
                        g_inet_address_get_native_size (ip)) == 0;
      else if (!ip && g->type == GEN_DNS)
        ok = dns_matches ((const char *) ASN1_STRING_get0_data (g->d.dNSName),
                          (gsize) ASN1_STRING_length (g->d.dNSName), bare);
    }
  if (!ok)
    {
      listed = describe_names (names);
      g_set_error (error, EH_TLS_ERROR, EH_TLS_ERROR_NAME,
                   "the cloud's certificate is not valid for the address dialled, %s: it names %s",
                   bare, listed);
    }
  GENERAL_NAMES_free (names);
  return ok;
}

/* Verifies the cloud's chain: signed by ca, in its dates, for servers,
 * and for host. */
gboolean
eh_tls_verify_server (STACK_OF (X509) *chain, X509_STORE *ca, const char *ca_desc, const char *host,
                      GError **error)
{
  X509 *leaf = chain && sk_X509_num (chain) > 0 ? sk_X509_value (chain, 0) : NULL;
  X509_STORE_CTX *ctx;
  int rc, err = 0;

  if (!leaf)
    {
      g_set_error (error, EH_TLS_ERROR, EH_TLS_ERROR_CHAIN, "the cloud sent no certificate");
      return FALSE;
    }
  ctx = X509_STORE_CTX_new ();
  X509_STORE_CTX_init (ctx, ca, leaf, chain);
  X509_STORE_CTX_set_purpose (ctx, X509_PURPOSE_SSL_SERVER);
  rc = X509_verify_cert (ctx);
  if (rc != 1)
    err = X509_STORE_CTX_get_error (ctx);
  X509_STORE_CTX_free (ctx);
  ERR_clear_error ();
  if (rc != 1)
    {
      if (err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID)
        {
          g_autofree char *nb = asn1_time_text (X509_get0_notBefore (leaf));
          g_autofree char *na = asn1_time_text (X509_get0_notAfter (leaf));
          g_set_error (error, EH_TLS_ERROR, EH_TLS_ERROR_EXPIRY,
                       "the cloud's certificate %s (valid from %s to %s)",
                       err == X509_V_ERR_CERT_HAS_EXPIRED ? "has expired" : "is not valid yet", nb, na);
        }
      else
        g_set_error (error, EH_TLS_ERROR, EH_TLS_ERROR_CHAIN,
                     "the cloud's certificate is not signed by the cloud CA (%s): %s", ca_desc,
                     X509_verify_cert_error_string (err));
      return FALSE;
    }
  return check_name (leaf, host, error);
}

/* ---- connecting ------------------------------------------------------------ */

typedef struct {
  char        *host;
  guint16      port;
  char        *ca_file, *cert_file, *key_file;
  EhTlsStream *stream;
} Connect;

static void
connect_free (gpointer data)
{
  Connect *c = data;
  g_free (c->host);
  g_free (c->ca_file);
  g_free (c->cert_file);
  g_free (c->key_file);
  g_clear_object (&c->stream);
  g_free (c);
}

/* The handshake is over: verify the server now, before any write. */
static void
on_connect_handshake (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GTask) task = data;
  Connect *c = g_task_get_task_data (task);
  GError *error = NULL;
  X509_STORE *ca;
  gboolean ok;

  if (!eh_tls_stream_handshake_finish (c->stream, res, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (c->ca_file)
    {
      ca = eh_tls_load_ca_file (c->ca_file, &error);
      ok = ca && eh_tls_verify_server (eh_tls_stream_get_peer_chain (c->stream), ca, c->ca_file, c->host,
                                       &error);
      if (ca)
        X509_STORE_free (ca);
      if (!ok)
        {
          g_io_stream_close (G_IO_STREAM (c->stream), NULL, NULL);
          g_task_return_error (task, error);
          return;
        }
    }
  g_task_return_pointer (task, g_steal_pointer (&c->stream), g_object_unref);
}

/* Makes the client SSL object: TLS 1.2+, the node's certificate, SNI for
 * a DNS name (Go sends none for an IP). */
static SSL *
client_ssl (Connect *c, GError **error)
{
  SSL_CTX *ctx = SSL_CTX_new (TLS_client_method ());
  SSL *ssl;
  g_autoptr (GInetAddress) ip = g_inet_address_new_from_string (c->host);

  SSL_CTX_set_min_proto_version (ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify (ctx, SSL_VERIFY_NONE, NULL);   /* eh_tls_verify_server checks */
  ssl = SSL_new (ctx);
  SSL_CTX_free (ctx);   /* ssl holds its own reference */
  ERR_clear_error ();
  if (c->cert_file
      && (SSL_use_certificate_file (ssl, c->cert_file, SSL_FILETYPE_PEM) != 1
          || SSL_use_PrivateKey_file (ssl, c->key_file, SSL_FILETYPE_PEM) != 1
          || SSL_check_private_key (ssl) != 1))
    {
      char buf[200] = "";
      ERR_error_string_n (ERR_peek_last_error (), buf, sizeof buf);
      ERR_clear_error ();
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "cannot load the node certificate %s "
                   "and key %s: %s", c->cert_file, c->key_file, buf);
      SSL_free (ssl);
      return NULL;
    }
  if (!ip)
    SSL_set_tlsext_host_name (ssl, c->host);
  SSL_set_connect_state (ssl);
  return ssl;
}

/* TCP is up: wrap it and shake hands. */
static void
on_connect_tcp (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Connect *c = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr (GSocketConnection) conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), res, &error);
  SSL *ssl;

  if (!conn || !(ssl = client_ssl (c, &error)))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  c->stream = eh_tls_stream_new (conn, ssl);
  eh_tls_stream_handshake_async (c->stream, g_task_get_cancellable (task), on_connect_handshake, task);
}

/* Connects and shakes hands; see tls.h. */
void
eh_tls_connect_async (const EhTlsDial *dial, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new (NULL, cancellable, cb, data);
  Connect *c = g_new0 (Connect, 1);
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  c->host = g_strdup (dial->host);
  c->port = dial->port;
  c->ca_file = g_strdup (dial->ca_file);
  c->cert_file = g_strdup (dial->cert_file);
  c->key_file = g_strdup (dial->key_file);
  g_task_set_task_data (task, c, connect_free);
  /* straight to the cloud, as KubeEdge's own transports go: no proxy
   * lookup (GLib's proxy modules would run it in threads) */
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_connect_to_host_async (client, c->host, c->port, cancellable, on_connect_tcp, task);
}

EhTlsStream *
eh_tls_connect_finish (GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer (G_TASK (res), error);
}

/* Splits host:port or https://host:port[/...]. */
gboolean
eh_tls_split_address (const char *address, guint16 default_port, char **host, guint16 *port,
                      GError **error)
{
  g_autoptr (GUri) uri = NULL;
  g_autofree char *full = NULL;
  int p;

  if (!address || !*address)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "no address");
      return FALSE;
    }
  full = strstr (address, "://") ? g_strdup (address) : g_strconcat ("https://", address, NULL);
  uri = g_uri_parse (full, G_URI_FLAGS_NONE, error);
  if (!uri || !g_uri_get_host (uri) || !*g_uri_get_host (uri))
    {
      if (error && !*error)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s has no host", address);
      return FALSE;
    }
  p = g_uri_get_port (uri);
  *host = g_strdup (g_uri_get_host (uri));
  *port = p > 0 && p < 65536 ? (guint16) p : default_port;
  return TRUE;
}
