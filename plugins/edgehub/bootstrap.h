/* bootstrap.h: the node's certificates from a KubeEdge cloud, independent of
 * the edgehub plugin (the `edgecore join` tool links it through
 * edgehub_core_dep). See docs/edgehub.md, "TLS". */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What a certificate fetch needs. token set: a first bootstrap (GET /ca.crt
 * pinned by the token's hash, then GET /edge.crt with the token). token
 * NULL or empty: a renewal, GET /edge.crt with mutual TLS using cert_file
 * and key_file, trusting ca_file. */
typedef struct {
  const char *http_server;   /* https://<cloudcore>:10002 */
  const char *token;         /* <ca-hash>.<jwt>, or NULL for a renewal */
  const char *node_name;
  const char *ca_file;       /* written (PEM) by a bootstrap */
  const char *cert_file;     /* written (PEM) */
  const char *key_file;      /* written (SEC1 PEM, mode 0600) */
  guint       timeout_s;     /* per request; 0 = 30 s */
} EhBootstrapParams;

/* Why certificates on disk cannot be used (domain eh_cert_error_quark). */
typedef enum {
  EH_CERT_ERROR_MISSING,     /* a file is absent */
  EH_CERT_ERROR_INVALID,     /* unreadable, not PEM, or key and certificate do not match */
  EH_CERT_ERROR_EXPIRED,     /* expired or not valid yet */
  EH_CERT_ERROR_FOREIGN,     /* not signed by the cloud's CA */
} EhCertError;

#define EH_CERT_ERROR (eh_cert_error_quark ())
GQuark   eh_cert_error_quark       (void);

/* Fetches the CA (bootstrap only), a new key and the node certificate,
 * and writes them; the cloud is verified on every connection (see
 * eh_tls_verify_peer). Runs cb in the thread-default main context. */
void     eh_bootstrap_fetch_async  (const EhBootstrapParams *p,
                                    GCancellable            *c,
                                    GAsyncReadyCallback      cb,
                                    gpointer                 data);
gboolean eh_bootstrap_fetch_finish (GAsyncResult            *res,
                                    GError                 **error);

/* Tells whether the node's certificate can be used as it is: the three
 * files exist and parse, the key matches, the certificate is valid now
 * and is signed by the CA in ca_file for client authentication. Its
 * subject is not looked at (a node joined by KubeEdge v1.9.2 holds
 * CN=kubeedge.io). On FALSE, error (EH_CERT_ERROR) says why. If
 * not_after is not NULL it gets the certificate's expiry. */
gboolean eh_bootstrap_check_certs  (const char              *ca_file,
                                    const char              *cert_file,
                                    const char              *key_file,
                                    gint64                  *not_after,
                                    GError                 **error);

G_END_DECLS
