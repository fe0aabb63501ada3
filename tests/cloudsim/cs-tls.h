/* cs-tls.h: cloudsim's own TLS terminator (OpenSSL, one thread per
 * connection) in front of a plain SoupServer, for profiles whose
 * certificates GnuTLS cannot load (v1.9.2's server certificate has an empty
 * DNS name), set up as Go's crypto/tls is by that CloudCore. */
#pragma once

#include <libsoup/soup.h>

typedef struct _CsTls CsTls;

typedef enum {
  CS_TLS_CLIENT_REQUEST,   /* Go tls.RequestClientCert: asked for, not required, not verified */
  CS_TLS_CLIENT_REQUIRE,   /* Go tls.RequireAndVerifyClientCert */
} CsTlsClientAuth;

typedef struct {
  const char     *cert_file, *key_file;   /* served as they are */
  const char     *ca_file;                /* client certificates are checked against it */
  CsTlsClientAuth client_auth;
  gboolean        v192_suites;            /* TLS 1.2 only with ECDHE-ECDSA-AES128-GCM-SHA256 */
  guint           port;                   /* 0: any */
  void          (*refused) (gpointer data, const char *reason);   /* a failed handshake, on the main context */
  gpointer        data;
} CsTlsOptions;

/* Listens on 127.0.0.1:options->port (bound: the port) and also makes
 * server listen on a plain local port the connections are relayed to. */
CsTls   *cs_tls_listen (SoupServer *server, const CsTlsOptions *options, guint *bound, GError **error);
/* Stops listening and ends every connection. */
void     cs_tls_free   (CsTls *tls);
/* The client certificate on msg's connection: its subject (NULL if none)
 * and whether it verified against the CA (chain, dates, clientAuth). */
char    *cs_tls_peer   (CsTls *tls, SoupServerMessage *msg, gboolean *verified);
