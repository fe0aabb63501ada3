/* ws-conn.h: the client side of a websocket (RFC 6455) over a pollable
 * GIOStream (edgehub's TLS stream), after the HTTP upgrade, on the GLib
 * main loop: masked frames out through a bounded queue written without
 * blocking (those queued during a main loop turn go out in one write),
 * frames in through a bounded buffer (eh_ws_frame_parse, server frames
 * unmasked), fragmented messages reassembled, the peer's pings answered
 * (in order with the queued frames), the close handshake answered. A protocol or I/O error ends the
 * connection: the error callback tells why, then the closed callback. */
#pragma once

#include <gio/gio.h>

#include "ws-frame.h"

G_BEGIN_DECLS

typedef struct _EhWsConn EhWsConn;

/* What the connection tells its owner. message and pong are called from
 * the read handler; error and closed from an idle callback, never from
 * inside eh_ws_conn_send. After closed nothing more is called; the owner
 * frees the connection (in closed or later). */
typedef struct {
  void (*message) (EhWsConn *conn, guint8 opcode, const guint8 *data, gsize len, gpointer user);
  void (*pong)    (EhWsConn *conn, const guint8 *data, gsize len, gpointer user);
  void (*error)   (EhWsConn *conn, const GError *error, gpointer user);
  void (*closed)  (EhWsConn *conn, gpointer user);
} EhWsConnEvents;

/* Starts a websocket on stream (the upgrade done; its input and output
 * must be pollable). Messages over max_message bytes, or one frame over
 * it, are a protocol error (close code 1009); more than max_queued frames
 * waiting to be written mean the peer does not read, an error. */
EhWsConn   *eh_ws_conn_new          (GIOStream *stream, gsize max_message, guint max_queued,
                                     const EhWsConnEvents *events, gpointer user);
/* Stops it: no callback afterwards. An open connection sends a close frame
 * with code (best effort, without waiting) and its stream is closed. */
void        eh_ws_conn_free         (EhWsConn *conn, guint16 code);
/* Whether messages can be sent: open, no close sent or received, no error. */
gboolean    eh_ws_conn_is_open      (EhWsConn *conn);
/* Queues one frame (FIN set): TEXT, BINARY, PING or PONG (control payloads
 * at most 125 bytes). FALSE when not open or the queue is full (then the
 * connection fails). */
gboolean    eh_ws_conn_send         (EhWsConn *conn, guint8 opcode, const guint8 *data, gsize len);
/* The code and reason of the peer's close frame: 0 and NULL if none came,
 * 1005 when it had no code. */
guint16     eh_ws_conn_get_close_code (EhWsConn *conn);
const char *eh_ws_conn_get_close_reason (EhWsConn *conn);
/* The stream it runs over. */
GIOStream  *eh_ws_conn_get_stream   (EhWsConn *conn);
/* Frames waiting to be written, and bytes handed over but not yet written. */
guint       eh_ws_conn_queued       (EhWsConn *conn);

G_END_DECLS
