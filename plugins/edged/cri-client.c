/* cri-client.c: unary gRPC over HTTP/2 (nghttp2) on a unix socket (or
 * plaintext TCP: gRPC probes, probe-grpc.c), with
 * protobuf-c messages, driven by GSocket sources on the main loop.
 *
 * One connection at a time, opened on the first call and again after it
 * was lost; calls made meanwhile wait in a queue. Each call has its own
 * deadline (also sent as grpc-timeout), its response is bounded in size,
 * and its outcome comes from the HTTP status and the grpc-status /
 * grpc-message trailers, turned into an EDGED_CRI_ERROR. A call whose
 * callback already ran (deadline) stays attached to its stream until the
 * stream closes, so nghttp2 never reads freed request bytes. */
#include "cri-client.h"

#include <gio/gunixsocketaddress.h>
#include <nghttp2/nghttp2.h>
#include <string.h>

#define GRPC_FRAME_HEADER 5
#define READ_CHUNK        16384

typedef struct _Conn Conn;

typedef struct {
  EdgedCriClient                   *client;
  Conn                             *conn;          /* NULL while queued */
  int32_t                           stream_id;
  uint32_t                          h2_error;      /* RST_STREAM code of its stream */
  char                             *path;
  guint8                           *body;          /* the gRPC-framed request */
  gsize                             body_len;
  gsize                             body_off;
  const ProtobufCMessageDescriptor *response_type;
  guint                             timeout_ms;
  guint                             timer;
  GByteArray                       *data;
  int                               http_status;
  int                               grpc_status;   /* -1: none received */
  char                             *grpc_message;
  gboolean                          too_big;
  gboolean                          notified;
  EdgedCriReplyFunc                 callback;
  gpointer                          user_data;
  GDestroyNotify                    destroy;
} Call;

typedef enum { CONN_CONNECTING, CONN_READY, CONN_DRAINING } ConnState;

struct _Conn {
  EdgedCriClient    *client;      /* NULL once the client is gone */
  ConnState          state;
  GCancellable      *cancel;
  GSocketConnection *stream;
  GSocket           *socket;
  GSource           *in_source;
  GSource           *out_source;
  nghttp2_session   *session;
  GByteArray        *out;         /* serialized frames not yet written */
  GList             *calls;       /* submitted calls, until their stream closes */
  GQueue             done;        /* closed streams whose callbacks are due */
  char              *failure;     /* set inside nghttp2 callbacks: tear down after */
};

struct _EdgedCriClient {
  char      *path;
  char      *host;                /* TCP (edged_cri_client_new_tcp): host and port; */
  guint16    port;                /* NULL: the unix socket at path */
  const char *peer;               /* for messages: "the runtime", "the server" */
  gsize      max_response;
  Conn      *conn;                /* the connection new calls use */
  GList     *draining;            /* older connections finishing their streams */
  GQueue     queue;               /* calls waiting for a ready connection */
  guint      dispatch_idle;       /* sends the queue from the main loop */
  guint64    n_calls;             /* calls answered (for /metrics) */
  guint64    n_errors;            /* of which with an error */
};

G_DEFINE_QUARK (edged-cri-error-quark, edged_cri_error)

static void conn_start (EdgedCriClient *client);
static void conn_pump (Conn *conn);
static void conn_fail (Conn *conn, const char *why);
static void conn_deliver (Conn *conn);

/* Decodes the percent-encoding of grpc-message. */
char *
edged_cri_percent_decode (const char *text, gsize length)
{
  GString *out = g_string_sized_new (length);
  for (gsize i = 0; i < length; i++)
    {
      if (text[i] == '%' && i + 2 < length && g_ascii_isxdigit (text[i + 1]) && g_ascii_isxdigit (text[i + 2]))
        {
          g_string_append_c (out, (char) (g_ascii_xdigit_value (text[i + 1]) * 16
                                          + g_ascii_xdigit_value (text[i + 2])));
          i += 2;
        }
      else
        g_string_append_c (out, text[i]);
    }
  return g_string_free (out, FALSE);
}

/* Runs the call's callback once, with either response or error. */
static void
call_notify (Call *call, ProtobufCMessage *response, GError *error)
{
  if (call->notified)
    {
      if (response)
        protobuf_c_message_free_unpacked (response, NULL);
      return;
    }
  call->notified = TRUE;
  g_clear_handle_id (&call->timer, g_source_remove);
  if (call->client)
    {
      call->client->n_calls++;
      call->client->n_errors += error != NULL;
    }
  call->callback (response, error, call->user_data);
  if (call->destroy)
    call->destroy (call->user_data);
  call->user_data = NULL;
}

/* Frees a call; its callback has run or is dropped (client freed). */
static void
call_free (Call *call)
{
  g_clear_handle_id (&call->timer, g_source_remove);
  if (!call->notified && call->destroy)
    call->destroy (call->user_data);
  g_free (call->path);
  g_free (call->body);
  g_byte_array_unref (call->data);
  g_free (call->grpc_message);
  g_free (call);
}

/* The call's outcome once its stream closed. */
static void
call_complete (Call *call)
{
  uint32_t h2_error = call->h2_error;
  g_autoptr (GError) error = NULL;
  const guint8 *d = call->data->data;
  gsize len = call->data->len;

  if (call->too_big)
    error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_RESOURCE_EXHAUSTED,
                         "%s: response larger than %" G_GSIZE_FORMAT " bytes",
                         call->path, call->client ? call->client->max_response : 0);
  else if (call->grpc_status < 0 && h2_error != NGHTTP2_NO_ERROR)
    error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNAVAILABLE,
                         "%s: stream reset by %s (%s)", call->path,
                         call->client ? call->client->peer : "the peer",
                         nghttp2_http2_strerror (h2_error));
  else if (call->grpc_status < 0 && call->http_status != 200)
    {
      int code = EDGED_CRI_ERROR_UNKNOWN;
      switch (call->http_status)
        {
        case 400: code = EDGED_CRI_ERROR_INTERNAL; break;
        case 401: code = EDGED_CRI_ERROR_UNAUTHENTICATED; break;
        case 403: code = EDGED_CRI_ERROR_PERMISSION_DENIED; break;
        case 404: code = EDGED_CRI_ERROR_UNIMPLEMENTED; break;
        case 429: case 502: case 503: case 504: code = EDGED_CRI_ERROR_UNAVAILABLE; break;
        default: break;
        }
      error = g_error_new (EDGED_CRI_ERROR, code, "%s: HTTP status %d", call->path,
                           call->http_status);
    }
  else if (call->grpc_status < 0)
    error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_INTERNAL,
                         "%s: the response has no grpc-status", call->path);
  else if (call->grpc_status != 0)
    error = g_error_new (EDGED_CRI_ERROR,
                         call->grpc_status <= 16 ? call->grpc_status : EDGED_CRI_ERROR_UNKNOWN,
                         "%s: %s", call->path,
                         call->grpc_message ? call->grpc_message : "error without a message");
  else if (len < GRPC_FRAME_HEADER)
    error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_INTERNAL,
                         "%s: OK without a response message", call->path);
  else
    {
      guint32 mlen = ((guint32) d[1] << 24) | ((guint32) d[2] << 16) | ((guint32) d[3] << 8) | d[4];
      ProtobufCMessage *response;
      if (d[0] != 0)
        error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_INTERNAL,
                             "%s: compressed response (none was offered)", call->path);
      else if ((gsize) mlen + GRPC_FRAME_HEADER != len)
        error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_INTERNAL,
                             "%s: %" G_GSIZE_FORMAT " response bytes for a message of %u",
                             call->path, len, mlen);
      else if (!(response = protobuf_c_message_unpack (call->response_type, NULL, mlen,
                                                       d + GRPC_FRAME_HEADER)))
        error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_INTERNAL,
                             "%s: undecodable %s", call->path, call->response_type->name);
      else
        {
          call_notify (call, response, NULL);
          return;
        }
    }
  call_notify (call, NULL, error);
}

/* The call's deadline passed: its callback runs now; the stream is reset. */
static gboolean
call_deadline (gpointer data)
{
  Call *call = data;
  g_autoptr (GError) error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_DEADLINE_EXCEEDED,
                                          "%s: no answer within %u ms", call->path,
                                          call->timeout_ms);
  Conn *conn = call->conn;

  call->timer = 0;
  if (!conn)
    {
      g_queue_remove (&call->client->queue, call);
      call_notify (call, NULL, error);
      call_free (call);
      return G_SOURCE_REMOVE;
    }
  call_notify (call, NULL, error);
  /* the call stays on the connection until nghttp2 closes its stream */
  if (conn->session)
    {
      nghttp2_submit_rst_stream (conn->session, NGHTTP2_FLAG_NONE, call->stream_id,
                                 NGHTTP2_CANCEL);
      conn_pump (conn);
    }
  return G_SOURCE_REMOVE;
}

/* nghttp2 asks for request bytes. */
static ssize_t
read_body (nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
           uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
  Call *call = source->ptr;
  gsize n = MIN (length, call->body_len - call->body_off);
  memcpy (buf, call->body + call->body_off, n);
  call->body_off += n;
  if (call->body_off == call->body_len)
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t) n;
}

/* Puts a call on the connection as a new stream. */
static gboolean
conn_submit (Conn *conn, Call *call)
{
  char timeout[24];
  nghttp2_data_provider provider = { .source.ptr = call, .read_callback = read_body };
  int32_t id;

  g_snprintf (timeout, sizeof timeout, "%um", MIN (call->timeout_ms, 99999999u));
#define NV(n, v) { (uint8_t *) (n), (uint8_t *) (v), sizeof (n) - 1, strlen (v), \
                   NGHTTP2_NV_FLAG_NO_COPY_NAME }
  nghttp2_nv headers[] = {
    NV (":method", "POST"), NV (":scheme", "http"), NV (":path", call->path),
    NV (":authority", conn->client && conn->client->host ? conn->client->path : "localhost"),
    NV ("content-type", "application/grpc"),
    NV ("te", "trailers"), NV ("grpc-timeout", timeout),
    NV ("user-agent", conn->client && conn->client->host ? "kube-probe/1.21" : "edgecore-edged"),
  };
#undef NV
  id = nghttp2_submit_request (conn->session, NULL, headers, G_N_ELEMENTS (headers),
                               &provider, call);
  if (id < 0)
    return FALSE;
  call->conn = conn;
  call->stream_id = id;
  conn->calls = g_list_prepend (conn->calls, call);
  return TRUE;
}

/* Submits every queued call; a connection that cannot take new streams
 * (GOAWAY, ids used up) drains and a new one is opened. */
static void
client_dispatch (EdgedCriClient *client)
{
  Conn *conn = client->conn;
  Call *call;

  if (!conn || conn->state != CONN_READY)
    return;
  while ((call = g_queue_peek_head (&client->queue)))
    {
      if (!nghttp2_session_check_request_allowed (conn->session) || !conn_submit (conn, call))
        {
          conn->state = CONN_DRAINING;
          client->draining = g_list_prepend (client->draining, conn);
          client->conn = NULL;
          conn_start (client);
          conn_pump (conn);
          return;
        }
      g_queue_pop_head (&client->queue);
    }
  conn_pump (conn);
}

/* Sends the queue: opens the connection, or submits on the ready one. */
static gboolean
client_dispatch_idle (gpointer data)
{
  EdgedCriClient *client = data;
  client->dispatch_idle = 0;
  if (!client->conn && client->queue.length)
    conn_start (client);
  else
    client_dispatch (client);
  return G_SOURCE_REMOVE;
}

/* Frees a connection; its remaining calls fail with why. */
static void
conn_destroy (Conn *conn, const char *why)
{
  EdgedCriClient *client = conn->client;
  GList *calls = g_steal_pointer (&conn->calls);
  Call *call;

  if (client)
    {
      if (client->conn == conn)
        client->conn = NULL;
      client->draining = g_list_remove (client->draining, conn);
    }
  if (conn->in_source)
    {
      g_source_destroy (conn->in_source);
      g_source_unref (conn->in_source);
    }
  if (conn->out_source)
    {
      g_source_destroy (conn->out_source);
      g_source_unref (conn->out_source);
    }
  g_clear_pointer (&conn->session, nghttp2_session_del);
  while ((call = g_queue_pop_head (&conn->done)))
    {
      call_complete (call);
      call_free (call);
    }
  for (GList *l = calls; l; l = l->next)
    {
      Call *c = l->data;
      if (client && why)
        {
          g_autoptr (GError) error = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNAVAILABLE,
                                                  "%s: %s", c->path, why);
          call_notify (c, NULL, error);
        }
      call_free (c);
    }
  g_list_free (calls);
  if (conn->stream)
    g_io_stream_close (G_IO_STREAM (conn->stream), NULL, NULL);
  g_clear_object (&conn->stream);
  g_clear_object (&conn->cancel);
  g_byte_array_unref (conn->out);
  g_free (conn->failure);
  g_free (conn);
}

/* Tears a broken connection down; queued calls get a new connection. */
static void
conn_fail (Conn *conn, const char *why)
{
  EdgedCriClient *client = conn->client;
  conn_destroy (conn, why);
  if (client && !client->conn && client->queue.length)
    conn_start (client);
}

/* Delivers the calls whose streams closed during the last read. Their
 * callbacks may start new calls. */
static void
conn_deliver (Conn *conn)
{
  GQueue done = conn->done;
  Call *call;

  g_queue_init (&conn->done);
  while ((call = g_queue_pop_head (&done)))
    {
      call_complete (call);
      call_free (call);
    }
}

static gboolean on_writable (GSocket *socket, GIOCondition cond, gpointer data);

/* Serializes pending frames and writes what the socket takes. Returns FALSE
 * when the connection was torn down. */
static gboolean
conn_write (Conn *conn)
{
  for (;;)
    {
      if (conn->out->len == 0)
        {
          const uint8_t *data;
          ssize_t n = nghttp2_session_mem_send (conn->session, &data);
          if (n < 0)
            {
              conn_fail (conn, nghttp2_strerror ((int) n));
              return FALSE;
            }
          if (n == 0)
            break;
          g_byte_array_append (conn->out, data, (guint) n);
        }
      {
        g_autoptr (GError) error = NULL;
        gssize w = g_socket_send (conn->socket, (const char *) conn->out->data, conn->out->len,
                                  NULL, &error);
        if (w < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
          {
            if (!conn->out_source)
              {
                conn->out_source = g_socket_create_source (conn->socket, G_IO_OUT, NULL);
                g_source_set_callback (conn->out_source, G_SOURCE_FUNC (on_writable), conn, NULL);
                g_source_attach (conn->out_source, NULL);
              }
            return TRUE;
          }
        if (w < 0)
          {
            g_autofree char *why = g_strdup_printf ("write to %s failed: %s",
                                                    conn->client ? conn->client->peer : "the peer",
                                                    error->message);
            conn_fail (conn, why);
            return FALSE;
          }
        g_byte_array_remove_range (conn->out, 0, (guint) w);
      }
    }
  if (conn->out_source && conn->out->len == 0)
    {
      g_source_destroy (conn->out_source);
      g_clear_pointer (&conn->out_source, g_source_unref);
    }
  return TRUE;
}

/* Writes what is due and closes a connection nobody needs any more. */
static void
conn_pump (Conn *conn)
{
  if (!conn_write (conn))
    return;
  /* streams closed by what was just written (resets) */
  if (conn->done.length)
    conn_deliver (conn);
  if (conn->state == CONN_DRAINING && conn->calls == NULL)
    conn_destroy (conn, NULL);
  else if (!nghttp2_session_want_read (conn->session) && !nghttp2_session_want_write (conn->session))
    {
      g_autofree char *why = g_strdup_printf ("%s ended the HTTP/2 session",
                                              conn->client ? conn->client->peer : "the peer");
      conn_fail (conn, why);
    }
}

static gboolean
on_writable (GSocket *socket, GIOCondition cond, gpointer data)
{
  Conn *conn = data;
  g_source_unref (conn->out_source);
  conn->out_source = NULL;
  conn_pump (conn);
  return G_SOURCE_REMOVE;
}

/* Reads what the runtime sent and feeds it to nghttp2. */
static gboolean
on_readable (GSocket *socket, GIOCondition cond, gpointer data)
{
  Conn *conn = data;
  guint8 buf[READ_CHUNK];

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      gssize n = g_socket_receive (conn->socket, (char *) buf, sizeof buf, NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      if (n <= 0)
        {
          const char *peer = conn->client ? conn->client->peer : "the peer";
          g_autofree char *why = n == 0 ? g_strdup_printf ("%s closed the connection", peer)
                                        : g_strdup_printf ("read from %s failed: %s", peer,
                                                           error->message);
          conn_deliver (conn);
          g_source_unref (conn->in_source);
          conn->in_source = NULL;
          conn_fail (conn, why);
          return G_SOURCE_REMOVE;
        }
      {
        ssize_t r = nghttp2_session_mem_recv (conn->session, buf, (size_t) n);
        if (r < 0 || conn->failure)
          {
            g_autofree char *why = conn->failure ? g_strdup (conn->failure)
                                                 : g_strdup_printf ("HTTP/2 error: %s",
                                                                    nghttp2_strerror ((int) r));
            conn_deliver (conn);
            g_source_unref (conn->in_source);
            conn->in_source = NULL;
            conn_fail (conn, why);
            return G_SOURCE_REMOVE;
          }
      }
    }
  conn_deliver (conn);
  if (conn->state == CONN_DRAINING && conn->client && conn->client->conn == conn)
    {
      /* GOAWAY received: new calls go to a new connection */
      conn->client->conn = NULL;
      conn->client->draining = g_list_prepend (conn->client->draining, conn);
      if (conn->client->queue.length)
        conn_start (conn->client);
    }
  conn_pump (conn);
  return G_SOURCE_CONTINUE;
}

static int
on_header (nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
           size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *user_data)
{
  Call *call;
  if (frame->hd.type != NGHTTP2_HEADERS)
    return 0;
  call = nghttp2_session_get_stream_user_data (session, frame->hd.stream_id);
  if (!call)
    return 0;
  if (namelen == 7 && !memcmp (name, ":status", 7))
    call->http_status = (int) g_ascii_strtoll ((const char *) value, NULL, 10);
  else if (namelen == 11 && !memcmp (name, "grpc-status", 11))
    {
      g_autofree char *v = g_strndup ((const char *) value, valuelen);
      guint64 code;
      call->grpc_status = g_ascii_string_to_unsigned (v, 10, 0, 1000, &code, NULL)
                            ? (int) code : EDGED_CRI_ERROR_UNKNOWN;
    }
  else if (namelen == 12 && !memcmp (name, "grpc-message", 12))
    {
      g_free (call->grpc_message);
      call->grpc_message = edged_cri_percent_decode ((const char *) value, MIN (valuelen, 4096));
    }
  return 0;
}

static int
on_data_chunk (nghttp2_session *session, uint8_t flags, int32_t stream_id, const uint8_t *data,
               size_t len, void *user_data)
{
  Call *call = nghttp2_session_get_stream_user_data (session, stream_id);
  if (!call || call->too_big)
    return 0;
  if (call->data->len + len > call->client->max_response + GRPC_FRAME_HEADER)
    {
      call->too_big = TRUE;
      g_byte_array_set_size (call->data, 0);
      nghttp2_submit_rst_stream (session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
      return 0;
    }
  g_byte_array_append (call->data, data, (guint) len);
  return 0;
}

static int
on_stream_close (nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                 void *user_data)
{
  Conn *conn = user_data;
  Call *call = nghttp2_session_get_stream_user_data (session, stream_id);
  if (!call)
    return 0;
  conn->calls = g_list_remove (conn->calls, call);
  call->h2_error = error_code;
  g_queue_push_tail (&conn->done, call);
  return 0;
}

static int
on_frame_recv (nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
  Conn *conn = user_data;
  if (frame->hd.type == NGHTTP2_GOAWAY)
    conn->state = CONN_DRAINING;
  return 0;
}

/* The socket connected: set up the HTTP/2 session and send the queue. */
static void
on_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Conn *conn = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *stream = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), result,
                                                              &error);
  nghttp2_session_callbacks *callbacks;
  nghttp2_option *option;
  nghttp2_settings_entry settings[] = {
    { NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
    { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
    { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024 },
  };

  if (!conn->client)
    {
      g_clear_object (&stream);
      conn_destroy (conn, NULL);
      return;
    }
  if (!stream)
    {
      g_autofree char *why = g_strdup_printf ("cannot connect to %s: %s", conn->client->path,
                                              error->message);
      EdgedCriClient *client = conn->client;
      Call *call;
      conn_destroy (conn, why);
      /* the queued calls fail now; the next call tries again */
      while ((call = g_queue_pop_head (&client->queue)))
        {
          g_autoptr (GError) e = g_error_new (EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNAVAILABLE,
                                              "%s: %s", call->path, why);
          call_notify (call, NULL, e);
          call_free (call);
        }
      return;
    }
  conn->stream = stream;
  conn->socket = g_socket_connection_get_socket (stream);
  g_socket_set_blocking (conn->socket, FALSE);

  nghttp2_session_callbacks_new (&callbacks);
  nghttp2_session_callbacks_set_on_header_callback (callbacks, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback (callbacks, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback (callbacks, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_recv_callback (callbacks, on_frame_recv);
  nghttp2_option_new (&option);
  nghttp2_option_set_max_send_header_block_length (option, 64 * 1024);
  nghttp2_session_client_new2 (&conn->session, callbacks, conn, option);
  nghttp2_option_del (option);
  nghttp2_session_callbacks_del (callbacks);
  nghttp2_submit_settings (conn->session, NGHTTP2_FLAG_NONE, settings, G_N_ELEMENTS (settings));
  nghttp2_session_set_local_window_size (conn->session, NGHTTP2_FLAG_NONE, 0, 1 << 24);

  conn->in_source = g_socket_create_source (conn->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
  g_source_set_callback (conn->in_source, G_SOURCE_FUNC (on_readable), conn, NULL);
  g_source_attach (conn->in_source, NULL);
  conn->state = CONN_READY;
  client_dispatch (conn->client);
}

/* Opens the client's connection. */
static void
conn_start (EdgedCriClient *client)
{
  Conn *conn = g_new0 (Conn, 1);
  g_autoptr (GSocketClient) sc = g_socket_client_new ();
  g_autoptr (GSocketConnectable) address = client->host
    ? g_network_address_new (client->host, client->port)
    : G_SOCKET_CONNECTABLE (g_unix_socket_address_new (client->path));

  conn->client = client;
  conn->state = CONN_CONNECTING;
  conn->cancel = g_cancellable_new ();
  conn->out = g_byte_array_new ();
  g_queue_init (&conn->done);
  client->conn = conn;
  g_socket_client_set_enable_proxy (sc, FALSE);
  g_socket_client_connect_async (sc, address, conn->cancel, on_connected, conn);
}

/**
 * edged_cri_client_new:
 * @endpoint: "unix:///path" (KubeEdge's form) or an absolute path
 * @max_response: largest response message accepted, in bytes
 * @error: set when the endpoint is not a unix socket
 *
 * Creates a client; nothing is connected until the first call.
 */
EdgedCriClient *
edged_cri_client_new (const char *endpoint, gsize max_response, GError **error)
{
  EdgedCriClient *client;
  const char *path = endpoint;

  if (g_str_has_prefix (endpoint, "unix://"))
    path = endpoint + strlen ("unix://");
  if (path[0] != '/' || strlen (path) >= 108)
    {
      g_set_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_INVALID_ARGUMENT,
                   "runtime endpoint %s is not a unix socket path (unix:///path)", endpoint);
      return NULL;
    }
  client = g_new0 (EdgedCriClient, 1);
  client->path = g_strdup (path);
  client->peer = "the runtime";
  client->max_response = max_response ? max_response : EDGED_CRI_DEFAULT_MAX_RESPONSE;
  g_queue_init (&client->queue);
  return client;
}

/**
 * edged_cri_client_new_tcp:
 * @host: a host name or IP address
 * @port: its port
 * @max_response: largest response message accepted, in bytes
 *
 * Creates a client of a gRPC server over plaintext HTTP/2 (h2c) on TCP,
 * with no proxy, as kubelet's gRPC probes (User-Agent kube-probe/1.21);
 * nothing is connected until the first call. Its messages name the server
 * "the server".
 */
EdgedCriClient *
edged_cri_client_new_tcp (const char *host, guint16 port, gsize max_response)
{
  EdgedCriClient *client = g_new0 (EdgedCriClient, 1);
  client->host = g_strdup (host);
  client->port = port;
  client->path = g_strdup_printf (strchr (host, ':') ? "[%s]:%u" : "%s:%u", host, port);
  client->peer = "the server";
  client->max_response = max_response ? max_response : EDGED_CRI_DEFAULT_MAX_RESPONSE;
  g_queue_init (&client->queue);
  return client;
}

/* Frees the client. Calls in flight are dropped: their callbacks never run,
 * their destroy notifies do. */
void
edged_cri_client_free (EdgedCriClient *client)
{
  Call *call;

  if (!client)
    return;
  g_clear_handle_id (&client->dispatch_idle, g_source_remove);
  while ((call = g_queue_pop_head (&client->queue)))
    call_free (call);
  while (client->draining)
    {
      Conn *conn = client->draining->data;
      conn->client = NULL;
      client->draining = g_list_delete_link (client->draining, client->draining);
      conn_destroy (conn, NULL);
    }
  if (client->conn)
    {
      Conn *conn = client->conn;
      conn->client = NULL;
      client->conn = NULL;
      if (conn->state == CONN_CONNECTING)
        g_cancellable_cancel (conn->cancel);   /* on_connected frees it */
      else
        conn_destroy (conn, NULL);
    }
  g_free (client->path);
  g_free (client->host);
  g_free (client);
}

/* The socket path the client talks to. */
const char *
edged_cri_client_get_path (EdgedCriClient *client)
{
  return client->path;
}

/* How many calls were answered, and how many of them with an error. */
void
edged_cri_client_get_counts (EdgedCriClient *client, guint64 *calls, guint64 *errors)
{
  *calls = client->n_calls;
  *errors = client->n_errors;
}

/* Calls whose callbacks have not run yet. */
guint
edged_cri_client_get_pending (EdgedCriClient *client)
{
  guint n = client->queue.length;
  GList *conns = g_list_copy (client->draining);
  if (client->conn)
    conns = g_list_prepend (conns, client->conn);
  for (GList *l = conns; l; l = l->next)
    for (GList *c = ((Conn *) l->data)->calls; c; c = c->next)
      n += !((Call *) c->data)->notified;
  g_list_free (conns);
  return n;
}

/**
 * edged_cri_client_call:
 * @client: the client
 * @method_path: "/runtime.v1.RuntimeService/Version" and the like
 * @request: the request message
 * @response_type: the descriptor of the response message
 * @timeout_ms: the call's deadline (0: kubelet's 2 minutes)
 * @callback: runs once on the main loop with the response or an error
 * @user_data: for callback
 * @destroy: frees user_data after the callback (or when the client is freed)
 *
 * Starts one unary gRPC call. Never blocks.
 */
void
edged_cri_client_call (EdgedCriClient *client, const char *method_path,
                       const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *response_type, guint timeout_ms,
                       EdgedCriReplyFunc callback, gpointer user_data, GDestroyNotify destroy)
{
  Call *call = g_new0 (Call, 1);
  gsize len = protobuf_c_message_get_packed_size (request);

  call->client = client;
  call->path = g_strdup (method_path);
  call->body_len = GRPC_FRAME_HEADER + len;
  call->body = g_malloc (call->body_len);
  call->body[0] = 0;
  call->body[1] = (guint8) (len >> 24);
  call->body[2] = (guint8) (len >> 16);
  call->body[3] = (guint8) (len >> 8);
  call->body[4] = (guint8) len;
  protobuf_c_message_pack (request, call->body + GRPC_FRAME_HEADER);
  call->response_type = response_type;
  call->timeout_ms = timeout_ms ? timeout_ms : 120000;
  call->data = g_byte_array_new ();
  call->grpc_status = -1;
  call->callback = callback;
  call->user_data = user_data;
  call->destroy = destroy;
  call->timer = g_timeout_add (call->timeout_ms, call_deadline, call);

  g_queue_push_tail (&client->queue, call);
  /* never within the caller's stack: its callback must not run before this returns */
  if (!client->dispatch_idle)
    client->dispatch_idle = g_idle_add (client_dispatch_idle, client);
}
