/* cs-stream.h: cloudsim's CloudStream (cloudcore's cloudStream module,
 * reference kubeedge-edged-edgestream.md section 6): the tunnel server the
 * node's edgestream dials (TLS as the profile's hub, client certificate
 * required) and the server kube-apiserver speaks to (cloudcore's
 * streamPort), whose requests become messages on the node's tunnel. */
#pragma once

#include "cs-hub.h"

typedef struct _CsStream CsStream;

typedef struct {
  guint    tunnel_port;    /* 10004; 0: any */
  guint    api_port;       /* 10003; 0: any */
  guint    kubelet_port;   /* the port named in connectors (cloudcore: always 10350) */
  gboolean v192;           /* CloudCore v1.9.2: no CLOSE_CONNECT, no ATTACH, exec keyed by Host */
  gboolean api_tls;        /* serve the stream port over TLS (the hub's certificate; a client
                            * certificate is asked for, not required) */
} CsStreamOptions;

CsStream *cs_stream_new             (CsHub                 *hub,
                                     const CsStreamOptions *options,
                                     GError               **error);
void      cs_stream_free            (CsStream              *cs);
guint     cs_stream_get_tunnel_port (CsStream              *cs);
guint     cs_stream_get_api_port    (CsStream              *cs);
/* Runs a stream-* command (see cloudsim.c); FALSE: not one. */
gboolean  cs_stream_command         (CsStream              *cs,
                                     const char            *line,
                                     GString               *reply);
