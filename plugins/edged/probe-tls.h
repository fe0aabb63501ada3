/* probe-tls.h: the TLS client of HTTPS probes (probe-http.c), as kubelet's:
 * InsecureSkipVerify (no certificate is checked), TLS 1.2 or newer, SNI
 * for a DNS name (none for an IP address, as Go). OpenSSL, which edgehub
 * already loads into edgecore: no second TLS stack. Every step is
 * non-blocking on the connected socket; the caller waits for *want. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _EdgedProbeTls EdgedProbeTls;

/* A TLS client session on socket (connected, left open by the session);
 * server_name: the URL's host. */
EdgedProbeTls *edged_probe_tls_new       (GSocket       *socket,
                                          const char    *server_name,
                                          GError       **error);
void           edged_probe_tls_free      (EdgedProbeTls *tls);

/* Each returns > 0 when done (bytes for read and write), 0 when it would
 * block (*want says on what), -1 with error set on failure; read returns
 * 0 with *eof set at the end of the stream. */
gssize         edged_probe_tls_handshake (EdgedProbeTls *tls,
                                          GIOCondition  *want,
                                          GError       **error);
gssize         edged_probe_tls_read      (EdgedProbeTls *tls,
                                          void          *buf,
                                          gsize          len,
                                          GIOCondition  *want,
                                          gboolean      *eof,
                                          GError       **error);
gssize         edged_probe_tls_write     (EdgedProbeTls *tls,
                                          const void    *buf,
                                          gsize          len,
                                          GIOCondition  *want,
                                          GError       **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EdgedProbeTls, edged_probe_tls_free)

G_END_DECLS
