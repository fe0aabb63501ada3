/* es-proto.h: the pure parts of KubeEdge's stream tunnel (reference
 * kubeedge-edged-edgestream.md section 6): the uvarint message header,
 * RFC 6455 frames (edgehub-core's codec; no UTF-8 check on TEXT: the
 * payload is binary), the
 * connector JSON and the decoding of a local HTTP answer's body. */
#pragma once

#include <glib.h>

#include "ws-frame.h"

G_BEGIN_DECLS

/* Message types (the second uvarint of a tunnel message). */
typedef enum {
  ES_MSG_LOGS_CONNECT = 0,
  ES_MSG_EXEC_CONNECT = 1,
  ES_MSG_METRIC_CONNECT = 2,
  ES_MSG_DATA = 3,
  ES_MSG_REMOVE_CONNECT = 4,
  ES_MSG_CLOSE_CONNECT = 5,     /* not in v1.9.2 */
  ES_MSG_ATTACH_CONNECT = 6,    /* not in v1.9.2 */
} EsMsgType;

/* A name for a message type ("LOGS_CONNECT", ...; "UNKNOWN" otherwise). */
const char *es_msg_type_name (guint64 type);

/* Appends v as a Go binary.PutUvarint does (1 to 10 bytes). */
void     es_uvarint_append (GByteArray *out, guint64 v);
/* Reads a uvarint at *pos; FALSE (and *pos unchanged) when truncated or
 * longer than 10 bytes / 64 bits. */
gboolean es_uvarint_read   (const guint8 *buf, gsize len, gsize *pos, guint64 *v);

/* Splits a tunnel message into ConnectID, type and data (pointing into
 * buf). FALSE with error when the header is malformed. */
gboolean es_message_parse  (const guint8 *buf, gsize len, guint64 *id, guint64 *type,
                            const guint8 **data, gsize *data_len, GError **error);

/* WebSocket frames: edgehub-core's codec (plugins/edgehub/ws-frame.h),
 * under the names the tunnel uses. */
enum { ES_WS_CONT = EH_WS_CONT, ES_WS_TEXT = EH_WS_TEXT, ES_WS_BINARY = EH_WS_BINARY,
       ES_WS_CLOSE = EH_WS_CLOSE, ES_WS_PING = EH_WS_PING, ES_WS_PONG = EH_WS_PONG };

typedef EhWsFrame EsWsFrame;

/* Builds one client (masked) frame with FIN set: opcode, then the
 * concatenation of head (may be NULL) and body. */
static inline GBytes *
es_ws_frame_new (guint8 opcode, const guint8 *head, gsize head_len, const guint8 *body, gsize body_len)
{
  return eh_ws_frame_new (opcode, head, head_len, body, body_len);
}

/* Parses one frame from the server at the start of buf (unmasking it in
 * place when the peer masked it). 1: a frame; 0: more bytes needed; -1:
 * error (bad header or payload over max_payload). */
static inline int
es_ws_frame_parse (guint8 *buf, gsize len, gsize max_payload, EsWsFrame *frame, GError **error)
{
  return eh_ws_frame_parse (buf, len, max_payload, EH_WS_PARSE_MASK_ANY, frame, error);
}

/* The connector of a *_CONNECT message: only what the edge uses. */
typedef struct {
  guint64  mess_id;
  char    *scheme;
  char    *host;          /* host:port */
  char    *path;          /* RawPath when set, else Path */
  char    *raw_query;
  char    *method;        /* exec/attach; NULL otherwise */
  GPtrArray *headers;     /* "Name: value" lines, CR/LF-free */
} EsConnector;

void         es_connector_free  (EsConnector *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EsConnector, es_connector_free)
/* Parses connector JSON (at most 1 MiB, depth 16) and checks it: scheme
 * http, a loopback host:port, an absolute path. */
EsConnector *es_connector_parse (const guint8 *data, gsize len, GError **error);
/* The HTTP/1.1 request head for the local endpoint: "<method> <path?query>
 * HTTP/1.1", Host, the connector's headers, extra lines (may be NULL). */
char        *es_connector_request (const EsConnector *c, const char *method, const char *extra);

/* Incremental reader of a local HTTP answer: drops the status line and
 * headers (at most 16 KiB), decodes the body (Content-Length, chunked, or
 * up to the end of the connection) into out. */
typedef struct {
  int        phase;       /* head, body, chunk size, chunk data, chunk end, trailer, done */
  GByteArray *head;
  guint      status;
  gboolean   chunked;
  gint64     remaining;   /* body or chunk bytes left; -1: up to EOF */
  GString   *line;        /* a chunk-size or trailer line in progress */
} EsHttpBody;

void     es_http_body_init   (EsHttpBody *b);
void     es_http_body_clear  (EsHttpBody *b);
/* Feeds bytes; appends decoded body bytes to out. Returns FALSE with
 * error on a malformed answer; *done set once the body is complete. */
gboolean es_http_body_feed   (EsHttpBody *b, const guint8 *data, gsize len, GByteArray *out,
                              gboolean *done, GError **error);

G_END_DECLS
