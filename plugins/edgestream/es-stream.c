/* es-stream.c: one stream of the tunnel (reference
 * kubeedge-edged-edgestream.md 6.3). logs and metrics: an HTTP GET to the
 * node's local endpoint whose body is relayed as DATA (metrics line by
 * line); exec and attach: the request written to a TCP connection to the
 * local endpoint, then every byte relayed both ways untouched (the local
 * server's 101 answer and the remotecommand frames included). A stream
 * stops reading its local socket while ES_HIGH_WATER of its data wait in
 * the tunnel; the end of either side ends it with REMOVE_CONNECT. */
#include "es-private.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define LINE_MAX_BYTES (64 * 1024)

struct _EsStream {
  gint              ref;
  EsTunnel         *t;          /* NULL once ended */
  guint64           id;
  EsMsgType         type;
  EsConnector      *conn_info;
  GCancellable     *cancel;
  GSocketConnection *conn;
  GInputStream     *in;
  GOutputStream    *out;
  guint8           *buf;
  gboolean          reading, paused;
  gsize             queued;     /* bytes of this stream in the tunnel's queue */
  EsHttpBody        http;
  GByteArray       *body;       /* decoded body bytes not sent yet */
  GQueue            wq;         /* GBytes for the local socket */
  gsize             wq_bytes;
  gboolean          writing;
  guint64           sent, received;
  gint64            opened_at;
};

static void read_local (EsStream *s);
static void write_local_next (EsStream *s);

EsStream *
es_stream_ref (EsStream *s)
{
  g_atomic_int_inc (&s->ref);
  return s;
}

void
es_stream_unref (EsStream *s)
{
  if (!g_atomic_int_dec_and_test (&s->ref))
    return;
  es_connector_free (s->conn_info);
  g_clear_object (&s->cancel);
  g_clear_object (&s->conn);
  es_http_body_clear (&s->http);
  g_byte_array_unref (s->body);
  g_queue_clear_full (&s->wq, (GDestroyNotify) g_bytes_unref);
  g_free (s->buf);
  g_free (s);
}

guint64
es_stream_get_id (EsStream *s)
{
  return s->id;
}

static gboolean
is_upgrade (EsMsgType type)
{
  return type == ES_MSG_EXEC_CONNECT || type == ES_MSG_ATTACH_CONNECT;
}

/* Tells the cloud why the stream cannot go on: an HTTP error answer for
 * exec/attach (the apiserver waits for the kubelet's answer), a line of
 * text for logs and metrics (it shows up in the output). */
static void
send_error (EsTunnel *t, guint64 id, EsMsgType type, guint status, const char *text)
{
  g_autofree char *msg = NULL;
  if (is_upgrade (type))
    msg = g_strdup_printf ("HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %"
                           G_GSIZE_FORMAT "\r\nConnection: close\r\n\r\n%s\n", status,
                           status == 400 ? "Bad Request" : "Bad Gateway", strlen (text) + 1, text);
  else
    msg = g_strdup_printf ("edgestream: %s\n", text);
  es_tunnel_send (t, id, ES_MSG_DATA, (const guint8 *) msg, strlen (msg), NULL);
}

/* Ends the stream. */
void
es_stream_end (EsStream *s, gboolean notify, const char *why)
{
  EsTunnel *t = s->t;
  EcPluginContext *ctx;
  if (!t)
    return;
  ctx = es_tunnel_context (t);
  s->t = NULL;
  g_cancellable_cancel (s->cancel);
  if (notify)
    es_tunnel_send (t, s->id, ES_MSG_REMOVE_CONNECT, NULL, 0, NULL);
  if (s->conn)
    {
      g_socket_shutdown (g_socket_connection_get_socket (s->conn), TRUE, TRUE, NULL);
      g_io_stream_close (G_IO_STREAM (s->conn), NULL, NULL);
    }
  g_queue_clear_full (&s->wq, (GDestroyNotify) g_bytes_unref);
  s->wq_bytes = 0;
  if (ctx)
    ec_log_info (ctx, "stream %" G_GUINT64_FORMAT " (%s %s) ended after %.1f s, %" G_GUINT64_FORMAT
                 " bytes to the cloud, %" G_GUINT64_FORMAT " from it: %s", s->id, es_msg_type_name (s->type),
                 s->conn_info ? s->conn_info->path : "", (g_get_monotonic_time () - s->opened_at) / 1e6,
                 s->sent, s->received, why);
  es_tunnel_forget (t, s);
}

/* Sends data to the cloud, counted against this stream. */
static void
send_data (EsStream *s, const guint8 *data, gsize len)
{
  if (!len || !s->t)
    return;
  s->queued += len;
  s->sent += len;
  es_tunnel_send (s->t, s->id, ES_MSG_DATA, data, len, s);
}

/* Sends the decoded body: metrics one line per message, logs as read. */
static void
flush_body (EsStream *s, gboolean all)
{
  if (s->type != ES_MSG_METRIC_CONNECT)
    {
      send_data (s, s->body->data, s->body->len);
      g_byte_array_set_size (s->body, 0);
      return;
    }
  while (s->body->len)
    {
      guint8 *nl = memchr (s->body->data, '\n', s->body->len);
      gsize n = nl ? (gsize) (nl - s->body->data) + 1 : s->body->len;
      if (!nl && !all && n < LINE_MAX_BYTES)
        break;
      if (nl)
        send_data (s, s->body->data, n);
      else
        {
          g_autofree guint8 *line = g_malloc (n + 1);
          memcpy (line, s->body->data, n);
          line[n] = '\n';
          send_data (s, line, n + 1);
        }
      g_byte_array_remove_range (s->body, 0, (guint) n);
    }
}

/* Bytes from the local endpoint. */
static void
on_local_read (GObject *source, GAsyncResult *res, gpointer data)
{
  EsStream *s = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);

  s->reading = FALSE;
  if (!s->t)
    ;
  else if (n < 0)
    {
      g_autofree char *why = g_strdup_printf ("reading the local endpoint failed: %s", error->message);
      es_stream_end (s, TRUE, why);
    }
  else if (n == 0)
    {
      if (!is_upgrade (s->type))
        flush_body (s, TRUE);
      es_stream_end (s, TRUE, "the local endpoint closed the connection");
    }
  else if (is_upgrade (s->type))
    {
      send_data (s, s->buf, (gsize) n);
      read_local (s);
    }
  else
    {
      gboolean done = FALSE;
      if (!es_http_body_feed (&s->http, s->buf, (gsize) n, s->body, &done, &error))
        {
          send_error (s->t, s->id, s->type, 502, error->message);
          es_stream_end (s, TRUE, error->message);
        }
      else
        {
          flush_body (s, done);
          if (done)
            es_stream_end (s, TRUE, "the local answer is complete");
          else
            read_local (s);
        }
    }
  es_stream_unref (s);
}

/* Reads the local socket unless this stream's share of the tunnel queue
 * is full (then es_stream_credit resumes it). */
static void
read_local (EsStream *s)
{
  if (!s->t || s->reading || !s->in)
    return;
  if (s->queued >= ES_HIGH_WATER)
    {
      s->paused = TRUE;
      return;
    }
  s->paused = FALSE;
  s->reading = TRUE;
  g_input_stream_read_async (s->in, s->buf, ES_READ_SIZE, G_PRIORITY_DEFAULT, s->cancel, on_local_read,
                             es_stream_ref (s));
}

/* Some of this stream's data left the tunnel queue. */
void
es_stream_credit (EsStream *s, gsize bytes)
{
  s->queued = bytes > s->queued ? 0 : s->queued - bytes;
  if (s->paused && s->queued <= ES_LOW_WATER)
    read_local (s);
}

/* A write to the local socket finished. */
static void
on_local_written (GObject *source, GAsyncResult *res, gpointer data)
{
  EsStream *s = data;
  g_autoptr (GError) error = NULL;
  gsize written = 0;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, &written, &error);
  GBytes *b;

  s->writing = FALSE;
  if (s->t)
    {
      b = g_queue_pop_head (&s->wq);
      if (b)
        {
          s->wq_bytes -= g_bytes_get_size (b);
          g_bytes_unref (b);
        }
      if (!ok)
        {
          g_autofree char *why = g_strdup_printf ("writing to the local endpoint failed: %s", error->message);
          es_stream_end (s, TRUE, why);
        }
      else
        write_local_next (s);
    }
  es_stream_unref (s);
}

static void
write_local_next (EsStream *s)
{
  GBytes *b;
  if (!s->t || s->writing || !s->out || !(b = g_queue_peek_head (&s->wq)))
    return;
  s->writing = TRUE;
  g_output_stream_write_all_async (s->out, g_bytes_get_data (b, NULL), g_bytes_get_size (b), G_PRIORITY_DEFAULT,
                                   s->cancel, on_local_written, es_stream_ref (s));
}

/* DATA from the cloud: exec/attach input for the local socket. */
void
es_stream_data (EsStream *s, const guint8 *data, gsize len)
{
  if (!s->t || !len)
    return;
  if (!is_upgrade (s->type))
    {
      ec_log_debug (es_tunnel_context (s->t), "stream %" G_GUINT64_FORMAT ": ignoring DATA from the cloud on a %s "
                    "stream", s->id, es_msg_type_name (s->type));
      return;
    }
  if (s->wq_bytes + len > ES_LOCAL_QUEUE_MAX)
    {
      es_stream_end (s, TRUE, "the local endpoint does not read its input (1 MiB waits)");
      return;
    }
  s->received += len;
  s->wq_bytes += len;
  g_queue_push_tail (&s->wq, g_bytes_new (data, len));
  write_local_next (s);
}

/* The local connection is up: send the request, start relaying. */
static void
on_local_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  EsStream *s = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, &error);
  g_autofree char *head = NULL;

  if (!s->t)
    g_clear_object (&conn);
  else if (!conn)
    {
      g_autofree char *why = g_strdup_printf ("cannot connect to the local endpoint %s: %s", s->conn_info->host,
                                              error->message);
      send_error (s->t, s->id, s->type, 502, why);
      es_stream_end (s, TRUE, why);
    }
  else
    {
      s->conn = conn;
      /* the client's connect timeout must not end an idle `logs -f` */
      g_socket_set_timeout (g_socket_connection_get_socket (conn), 0);
      g_socket_set_option (g_socket_connection_get_socket (conn), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
      s->in = g_io_stream_get_input_stream (G_IO_STREAM (conn));
      s->out = g_io_stream_get_output_stream (G_IO_STREAM (conn));
      if (is_upgrade (s->type))
        head = es_connector_request (s->conn_info, s->conn_info->method ? s->conn_info->method : "POST", NULL);
      else
        head = es_connector_request (s->conn_info, "GET", s->type == ES_MSG_METRIC_CONNECT
                                     ? "Accept-Encoding: identity\r\nConnection: close\r\n" : "Connection: close\r\n");
      s->wq_bytes += strlen (head);
      g_queue_push_head (&s->wq, g_bytes_new_take (head, strlen (head)));
      head = NULL;
      write_local_next (s);
      read_local (s);
    }
  es_stream_unref (s);
}

/* Opens a stream for a *_CONNECT message. NULL (after telling the cloud)
 * when the connector is bad. */
EsStream *
es_stream_open (EsTunnel *t, guint64 id, EsMsgType type, const guint8 *data, gsize len)
{
  EcPluginContext *ctx = es_tunnel_context (t);
  g_autoptr (GError) error = NULL;
  g_autoptr (EsConnector) c = es_connector_parse (data, len, &error);
  g_autoptr (GSocketClient) client = NULL;
  EsStream *s;

  if (!c)
    {
      g_autofree char *why = g_strdup_printf ("bad %s: %s", es_msg_type_name (type), error->message);
      ec_log_warning (ctx, "stream %" G_GUINT64_FORMAT ": %s", id, why);
      send_error (t, id, type, 400, why);
      es_tunnel_send (t, id, ES_MSG_REMOVE_CONNECT, NULL, 0, NULL);
      return NULL;
    }
  s = g_new0 (EsStream, 1);
  s->ref = 1;
  s->t = t;
  s->id = id;
  s->type = type;
  s->conn_info = g_steal_pointer (&c);
  s->cancel = g_cancellable_new ();
  s->buf = g_malloc (ES_READ_SIZE);
  s->body = g_byte_array_new ();
  s->opened_at = g_get_monotonic_time ();
  es_http_body_init (&s->http);
  g_queue_init (&s->wq);
  ec_log_info (ctx, "stream %" G_GUINT64_FORMAT ": %s %s%s%s%s%s", id, es_msg_type_name (type),
               s->conn_info->method ? s->conn_info->method : "GET", " http://", s->conn_info->host,
               s->conn_info->path, s->conn_info->raw_query && *s->conn_info->raw_query ? "?..." : "");
  client = g_socket_client_new ();
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_set_timeout (client, 10);
  g_socket_client_connect_to_host_async (client, s->conn_info->host, 10350, s->cancel, on_local_connected,
                                         es_stream_ref (s));
  return s;
}
