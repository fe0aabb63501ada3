/* es-private.h: edgestream's state, shared by its files.
 *
 * edgestream.c  the plugin: configuration, start/stop, dialling again
 * es-tunnel.c   one tunnel: its TLS websocket, reading and dispatching
 *               messages, the send queue, pings
 * es-stream.c   one stream: the local connection of a logs, metrics, exec
 *               or attach request, relayed both ways
 * es-proto.c    the pure parts (framing, connector, HTTP body) */
#pragma once

#include <edgecore.h>
#include <gio/gio.h>

#include "es-proto.h"

G_BEGIN_DECLS

#define EDGESTREAM_BUS_NAME  "edgestream"
#define EDGESTREAM_BUS_GROUP "edgestream"

/* Per stream, at most this many bytes wait in the tunnel's send queue; past
 * it the local socket is not read until the queue drains to ES_LOW_WATER. */
#define ES_HIGH_WATER     (64 * 1024)
#define ES_LOW_WATER      (16 * 1024)
/* One read of a local socket (and so at most one DATA message's data). */
#define ES_READ_SIZE      (16 * 1024)
/* Bytes from the cloud that may wait for a slow local socket, per stream;
 * past it the stream ends with an error. */
#define ES_LOCAL_QUEUE_MAX (1024 * 1024)
/* Largest message read from the cloud (readers cap Data at 1 MiB). */
#define ES_MAX_MESSAGE    (1024 * 1024 + 32)
/* Most streams open at once on one tunnel. */
#define ES_MAX_STREAMS    1024

typedef struct _EsTunnel EsTunnel;
typedef struct _EsStream EsStream;
typedef struct _EsDial EsDial;

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  char            *server;         /* host:port */
  char            *host;
  guint16          port;
  char            *ca_file, *cert_file, *key_file;
  char            *node_name;
  char            *node_ip;        /* configured; empty: the address that reaches the server */
  guint            handshake_timeout_s;
  guint            reconnect_ms;
  guint            ping_ms;
  gboolean         running;
  guint            reconnect_source;
  GCancellable    *dial_cancel;
  EsDial          *dial;           /* the dial in flight; it outlives the plugin if abandoned */
  guint            dial_timeout_source;
  EsTunnel        *tunnel;
  char            *last_failure;   /* logged once until it changes */
  gboolean         cert_wait_logged;
  guint64          connects, streams_total;
} EdgeStream;

/* es-tunnel.c */
void      es_dial              (EdgeStream *self);
/* Stops dialling and closes the tunnel. */
void      es_stop_all          (EdgeStream *self);
void      es_tunnel_close      (EsTunnel *t, const char *why);
/* Queues one tunnel message; charge names the stream whose share of the
 * queue the data counts against (NULL: none). */
void      es_tunnel_send       (EsTunnel *t, guint64 id, EsMsgType type, const guint8 *data, gsize len,
                                EsStream *charge);
EcPluginContext *es_tunnel_context (EsTunnel *t);
/* The stream ended: forget it (the tunnel drops its reference). */
void      es_tunnel_forget     (EsTunnel *t, EsStream *s);
guint     es_tunnel_stream_count (EsTunnel *t);

/* es-stream.c */
EsStream *es_stream_open       (EsTunnel *t, guint64 id, EsMsgType type, const guint8 *data, gsize len);
void      es_stream_data       (EsStream *s, const guint8 *data, gsize len);
/* The cloud removed the stream (or the tunnel went): close the local side;
 * notify: send REMOVE_CONNECT. */
void      es_stream_end        (EsStream *s, gboolean notify, const char *why);
guint64   es_stream_get_id     (EsStream *s);
/* Its queued bytes in the tunnel were written (or dropped). */
void      es_stream_credit     (EsStream *s, gsize bytes);
EsStream *es_stream_ref        (EsStream *s);
void      es_stream_unref      (EsStream *s);

G_END_DECLS
