/* tls.h: TLS to a KubeEdge cloud with OpenSSL, verified by edgecore itself.
 *
 * GnuTLS (and so GLib's TLS) cannot even parse the certificate a default
 * KubeEdge v1.9.2 CloudCore serves (its subjectAltName holds an empty DNS
 * name), so edgehub talks TLS through OpenSSL, in a GIOStream that edgehub's
 * websocket (ws-conn.c) and small HTTP client run over. The cloud's
 * certificate is checked by eh_tls_verify_server with the rules Go's
 * crypto/tls applies (chain to the cloud CA, validity dates, the dialled
 * address in the IP or DNS entries; empty entries ignored). */
#pragma once

#include <gio/gio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

G_BEGIN_DECLS

/* Why a TLS connection failed (codes of eh_tls_error_quark). Each has its
 * own log line; edgehub logs a cause once until it changes. */
typedef enum {
  EH_TLS_ERROR_CHAIN = 1,        /* the cloud's certificate is not signed by the cloud CA */
  EH_TLS_ERROR_NAME,             /* it is not for the dialled address */
  EH_TLS_ERROR_EXPIRY,           /* it expired or is not valid yet */
  EH_TLS_ERROR_CLIENT_REFUSED,   /* the cloud refused the node's client certificate */
  EH_TLS_ERROR_HANDSHAKE,        /* any other TLS failure */
  EH_TLS_ERROR_PROTOCOL,         /* the HTTP or websocket answer is not what KubeEdge sends */
} EhTlsError;

#define EH_TLS_ERROR (eh_tls_error_quark ())
GQuark eh_tls_error_quark (void);

/* A short name for a cause ("chain", "name", ...), for logs and tests. */
const char *eh_tls_error_cause (const GError *error);

#define EH_TYPE_TLS_STREAM (eh_tls_stream_get_type ())
G_DECLARE_FINAL_TYPE (EhTlsStream, eh_tls_stream, EH, TLS_STREAM, GIOStream)

/* Wraps a connected socket with an SSL object (taken over) whose fd is the
 * socket's; the handshake is still to be done. */
EhTlsStream *eh_tls_stream_new              (GSocketConnection   *base,
                                             SSL                 *ssl);
SSL         *eh_tls_stream_get_ssl          (EhTlsStream         *self);
GSocket     *eh_tls_stream_get_socket       (EhTlsStream         *self);
void         eh_tls_stream_handshake_async  (EhTlsStream         *self,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             data);
gboolean     eh_tls_stream_handshake_finish (EhTlsStream         *self,
                                             GAsyncResult        *result,
                                             GError             **error);
/* Bytes read ahead that the next reads return first. */
void         eh_tls_stream_unread           (EhTlsStream         *self,
                                             const void          *data,
                                             gsize                len);

/* Loads a CA file (PEM) into a new store. */
X509_STORE  *eh_tls_load_ca_file            (const char          *path,
                                             GError             **error);
/* Loads one PEM or DER certificate. */
X509        *eh_tls_load_cert_file          (const char          *path,
                                             GError             **error);

/* An ASN.1 time in Unix seconds; 0 when missing or unreadable. */
gint64       eh_tls_asn1_unix               (const ASN1_TIME     *t);

/* Reads a certificate file's validity, in Unix seconds. */
gboolean     eh_tls_cert_file_dates         (const char          *path,
                                             gint64              *not_before,
                                             gint64              *not_after,
                                             GError             **error);

/* Verifies the cloud's certificate chain (leaf first) against ca: chain,
 * dates, server purpose, and host (an IP or a DNS name) in its
 * subjectAltName, empty entries ignored; ca_desc names the CA in messages. */
gboolean     eh_tls_verify_server           (STACK_OF (X509)     *chain,
                                             X509_STORE          *ca,
                                             const char          *ca_desc,
                                             const char          *host,
                                             GError             **error);

/* What to dial. ca_file NULL: the server is not verified during the
 * connect, the caller verifies the chain from eh_tls_stream_get_peer_chain
 * later (pinning, for /ca.crt). */
typedef struct {
  const char *host;
  guint16     port;
  const char *ca_file;
  const char *cert_file;      /* client certificate, or NULL */
  const char *key_file;
} EhTlsDial;

/* Connects over TCP, shakes hands (TLS 1.2 or newer) and verifies the
 * server with eh_tls_verify_server before anything is written. */
void         eh_tls_connect_async           (const EhTlsDial     *dial,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             data);
EhTlsStream *eh_tls_connect_finish          (GAsyncResult        *result,
                                             GError             **error);
/* The server's chain as sent (leaf first); owned by the stream. */
STACK_OF (X509) *eh_tls_stream_get_peer_chain (EhTlsStream       *self);

/* Splits "host:port" or an https:// URL into host and port. */
gboolean     eh_tls_split_address           (const char          *address,
                                             guint16              default_port,
                                             char               **host,
                                             guint16             *port,
                                             GError             **error);

G_END_DECLS
