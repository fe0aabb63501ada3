/* cs-hub.h: cloudsim's two servers (certificates on HTTPS, the cloudhub on
 * WSS), the node session, reliable sending and the record. */
#pragma once

#include "cs-pki.h"
#include "cs-tls.h"

typedef struct _CsHub CsHub;

typedef struct {
  guint        port;               /* WSS; 0 picks a free port */
  guint        https_port;         /* HTTPS; 0 picks a free port */
  const char  *record_path;        /* JSON lines of everything seen, or NULL */
  gint64       edge_cert_validity; /* seconds */
  gint64       edge_cert_offset;   /* seconds added to NotBefore (negative: in the past) */
  guint        resend_ms;          /* resend unacked messages after this long */
  gboolean     relay;              /* put a relay in front of the WSS port (for `silent`) */
  const char  *v192_dir;           /* profile v1.9.2: serve cloudcore.crt/.key of this directory
                                    * with OpenSSL as CloudCore v1.9.2 does; NULL: default profile */
} CsHubOptions;

CsHub   *cs_hub_new             (CsPki              *pki,
                                 const CsHubOptions *options,
                                 GError            **error);
void     cs_hub_free            (CsHub              *hub);
guint    cs_hub_get_port        (CsHub              *hub);
guint    cs_hub_get_https_port  (CsHub              *hub);
gboolean cs_hub_is_connected    (CsHub              *hub);
gboolean cs_hub_command         (CsHub              *hub,
                                 const char         *line,
                                 GString            *reply);
void     cs_hub_set_quit_func   (CsHub              *hub,
                                 GSourceFunc         func,
                                 gpointer            data);
void     cs_hub_set_connect_func (CsHub             *hub,
                                  GSourceFunc        func,
                                  gpointer           data);
/* Writes a record line {"t":..,"conn":..,"event":event<fields>}; fields is
 * JSON text starting with a comma, or NULL. */
void        cs_hub_record          (CsHub              *hub,
                                    const char         *event,
                                    const char         *fields);
/* A TLS server like the hub's (its profile's certificate and TLS rules) on
 * 127.0.0.1:port; *tls is set for profile v1.9.2 (free it with
 * cs_tls_free after soup_server_disconnect). */
SoupServer *cs_hub_new_tls_server  (CsHub              *hub,
                                    guint               port,
                                    gboolean            require_client_cert,
                                    guint              *bound,
                                    CsTls             **tls,
                                    GError            **error);
