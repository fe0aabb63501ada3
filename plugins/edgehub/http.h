/* http.h: the few HTTP/1.1 exchanges edgehub makes over its own TLS
 * stream (GET /ca.crt, GET /edge.crt with a body, the websocket upgrade).
 * Limits: 16 KiB of response head, max_body bytes of body. */
#pragma once

#include "tls.h"

G_BEGIN_DECLS

typedef struct {
  guint       status;
  char       *reason;
  GHashTable *headers;   /* lowercase name -> value */
  GBytes     *body;      /* NULL when read_body was FALSE */
} EhHttpResponse;

void            eh_http_response_free   (EhHttpResponse *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EhHttpResponse, eh_http_response_free)

/* Writes head (request line and headers, ending in an empty line) and
 * body, then reads the answer's head and, if read_body, its body
 * (Content-Length, chunked, or up to the end). Bytes after the head are
 * put back into the stream when the body is not read. */
void            eh_http_exchange_async  (EhTlsStream         *stream,
                                         const char          *head,
                                         GBytes              *body,
                                         gboolean             read_body,
                                         gsize                max_body,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             data);
EhHttpResponse *eh_http_exchange_finish (GAsyncResult        *result,
                                         GError             **error);

/* The Sec-WebSocket-Accept a server must answer to the upgrade's
 * Sec-WebSocket-Key (RFC 6455, 4.2.2). */
char           *eh_ws_accept_key        (const char *key);

G_END_DECLS
