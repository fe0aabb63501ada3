/* keepalive.c: closing kept-alive HTTP/1 connections of a libsoup-3
 * SoupServer between requests.
 *
 * Why: libsoup 3.2's server, once an answer is out on a kept-alive
 * connection, makes the next SoupServerMessage and polls the socket for
 * it, but announces it ("request-started") only when its first byte is
 * read, and only then gives it the completion callback that disconnects
 * the connection on an error. A client that closes the connection between
 * two requests (one connection per request without "Connection: close",
 * Python's http.client, curl, most scripts) makes that read meet the end
 * with no byte: the message is finished with no callback and nothing
 * disconnects the connection. It stays in the server's list of clients
 * with its socket open (CLOSE-WAIT) until the server is freed: one file
 * descriptor lost per such request. Shutting the socket down from outside
 * ends the same way.
 *
 * How: while a connection is between requests, a watch on its socket, of
 * a higher priority than libsoup's own, sees the client's end first (a
 * peek reads 0 bytes, or an error). libsoup's next message is then still
 * waiting, untouched, and the connection is taken from the server through
 * the last message (soup_server_message_steal_connection: libsoup emits
 * "disconnected" and forgets it, whole) and its stream is closed, which
 * closes the socket. Only bytes (a next request) are left to libsoup.
 *
 * Bytes that are not a request also reach libsoup: over TLS a client's
 * close_notify alert comes before its end. libsoup then reads no request
 * byte and meets the end itself, with the flaw above; this cannot be told
 * from outside except afterwards, and stealing then would crash libsoup
 * (its next message is gone). So after bytes, a second watch of a lower
 * priority than libsoup's, which therefore runs only once libsoup has had
 * the socket's news and did not read them as a request, closes the GSocket
 * itself: the descriptor is freed at once (GSocket closes it once, whoever
 * asks again later), and the few objects libsoup keeps of the connection
 * are freed when the server is. Plain HTTP never takes that path.
 *
 * A connection the owner wants closed between requests (its idle time,
 * or to make room) goes the same way. During a request libsoup's reader
 * has its completion callback, and shutting the socket down is enough;
 * keepalive_close says which case applies. */
#include "keepalive.h"

#include <errno.h>
#include <sys/socket.h>

struct _Keepalive {
  GSocket           *sock;       /* owned ref */
  SoupServerMessage *msg;        /* owned ref: the connection's latest message, the handle to steal it */
  GSource           *watch;      /* on sock, between requests */
  gboolean           idle;       /* between requests */
  gboolean           unsure;     /* bytes seen while idle and no request: libsoup may have met the end */
  gboolean           no_steal;   /* the peer's address was unreadable from the start */
  KeepaliveGoneFn    gone;
  gpointer           data;
};

static void
watch_clear (Keepalive *ka)
{
  if (ka->watch)
    {
      g_source_destroy (ka->watch);
      g_clear_pointer (&ka->watch, g_source_unref);
    }
}

/**
 * keepalive_new:
 * Starts following msg's connection (its first request). gone is called
 * when the connection is closed here and libsoup will not say so.
 * Returns: (transfer full) (nullable): NULL when msg has no socket (a
 * connection given to the server as a stream).
 */
Keepalive *
keepalive_new (SoupServerMessage *msg, KeepaliveGoneFn gone, gpointer data)
{
  GSocket *sock = soup_server_message_get_socket (msg);
  g_autoptr (GSocketAddress) peer = NULL;
  Keepalive *ka;

  if (!sock)
    return NULL;
  ka = g_new0 (Keepalive, 1);
  ka->sock = g_object_ref (sock);
  ka->msg = g_object_ref (msg);
  ka->gone = gone;
  ka->data = data;
  /* Stealing reads both addresses, and libsoup warns when that fails (the
   * peer has reset the connection): have libsoup read them now, while the
   * connection is new. Without them, closing falls back on the socket. */
  peer = g_socket_get_remote_address (sock, NULL);
  if (peer)
    {
      soup_server_message_get_local_address (msg);
      soup_server_message_get_remote_address (msg);
    }
  else
    ka->no_steal = TRUE;
  return ka;
}

/**
 * keepalive_free:
 * Stops following the connection (its owner forgets it).
 */
void
keepalive_free (Keepalive *ka)
{
  if (!ka)
    return;
  watch_clear (ka);
  g_clear_object (&ka->msg);
  g_clear_object (&ka->sock);
  g_free (ka);
}

/**
 * keepalive_request:
 * libsoup has begun reading a next request (msg) on the connection.
 */
void
keepalive_request (Keepalive *ka, SoupServerMessage *msg)
{
  if (!ka)
    return;
  watch_clear (ka);
  ka->idle = FALSE;
  ka->unsure = FALSE;
  if (ka->msg != msg)
    {
      g_clear_object (&ka->msg);
      ka->msg = g_object_ref (msg);
    }
}

/* Closes the connection: see the top of the file. May free ka (through
 * the owner's "disconnected" handler or gone). */
static void
close_now (Keepalive *ka)
{
  g_autoptr (SoupServerMessage) msg = g_object_ref (ka->msg);
  GIOStream *stream;

  watch_clear (ka);
  if (ka->unsure || ka->no_steal || soup_server_message_get_http_version (msg) >= SOUP_HTTP_2_0)
    {
      KeepaliveGoneFn gone = ka->gone;
      gpointer data = ka->data;
      g_socket_close (ka->sock, NULL);
      gone (data);
      return;
    }
  /* libsoup emits "disconnected" on its messages, the owner frees ka */
  stream = soup_server_message_steal_connection (msg);
  if (stream)
    {
      g_io_stream_close (stream, NULL, NULL);
      g_object_unref (stream);
    }
}

static gboolean on_readable (GSocket *sock, GIOCondition cond, gpointer data);

static void
watch_start (Keepalive *ka, gint priority)
{
  watch_clear (ka);
  ka->watch = g_socket_create_source (ka->sock, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_priority (ka->watch, priority);
  g_source_set_callback (ka->watch, G_SOURCE_FUNC (on_readable), ka, NULL);
  g_source_attach (ka->watch, g_main_context_get_thread_default ());
}

static gboolean
on_readable (GSocket *sock, GIOCondition cond, gpointer data)
{
  Keepalive *ka = data;
  char byte;
  gssize n = recv (g_socket_get_fd (sock), &byte, 1, MSG_PEEK | MSG_DONTWAIT);

  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return G_SOURCE_CONTINUE;
  if (n > 0 && !ka->unsure)
    {
      /* a next request (libsoup announces it at once), or TLS' close_notify */
      ka->unsure = TRUE;
      watch_start (ka, G_PRIORITY_LOW);
      return G_SOURCE_REMOVE;
    }
  /* the client's end (or an error) while libsoup's reader waits; or, once
   * unsure, news libsoup had first and did not take as a request */
  close_now (ka);
  return G_SOURCE_REMOVE;
}

/**
 * keepalive_idle:
 * msg's answer is out and the connection waits for a next request: from
 * now on the client's end closes it. Called from msg's last "finished"
 * handler (G_CONNECT_AFTER): msg is kept as the connection's handle until
 * the next request, so its bodies are emptied here.
 */
void
keepalive_idle (Keepalive *ka, SoupServerMessage *msg)
{
  if (!ka)
    return;
  soup_message_body_truncate (soup_server_message_get_request_body (msg));
  soup_message_body_truncate (soup_server_message_get_response_body (msg));
  keepalive_request (ka, msg);
  /* HTTP/2 (not offered without TLS) has its own reader */
  if (g_socket_is_closed (ka->sock) || soup_server_message_get_http_version (msg) >= SOUP_HTTP_2_0)
    return;
  ka->idle = TRUE;
  ka->unsure = FALSE;
  /* ahead of libsoup's reader of the next request, of default priority */
  watch_start (ka, G_PRIORITY_HIGH);
}

/**
 * keepalive_close:
 * Closes the connection if it is between requests. Returns TRUE then, and
 * the owner has already forgotten it (ka is freed); FALSE when a request
 * is being read or answered (libsoup's reader disconnects the connection
 * once its socket is shut down).
 */
gboolean
keepalive_close (Keepalive *ka)
{
  if (!ka || !ka->idle || g_socket_is_closed (ka->sock))
    return FALSE;
  close_now (ka);
  return TRUE;
}
