/* es-tunnel.c: the tunnel to cloudcore's stream server (reference
 * kubeedge-edged-edgestream.md 6.1, 6.2): wss://<server>/v1/kubeedge/connect
 * with the node's client certificate (the server is not verified, as
 * KubeEdge's edge does not), headers SessionHostNameOverride and
 * SessionInternalIP, a ping (payload "ping you") every 5 s, one tunnel
 * message per TEXT frame read without any UTF-8 check. The send queue is
 * shared by all streams; each stream's share of it is bounded (see
 * ES_HIGH_WATER), so one slow reader on the cloud side holds up no other
 * stream and no memory grows. */
#include "es-private.h"

#include "http.h"
#include "tls.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define READ_CHUNK   (64 * 1024)
#define WRITE_BATCH  (64 * 1024)
#define PING_PAYLOAD "ping you"

typedef struct {
  GBytes   *frame;
  EsStream *charge;    /* a reference, or NULL */
  gsize     bytes;
} OutFrame;

typedef struct {
  EsStream *stream;    /* a reference */
  gsize     bytes;
} Credit;

struct _EsTunnel {
  gint           ref;
  EdgeStream    *es;         /* NULL once the tunnel is closed */
  EhTlsStream   *io;
  GInputStream  *in;
  GOutputStream *out;
  GCancellable  *cancel;
  guint8        *rbuf;
  GByteArray    *acc;        /* bytes read and not yet parsed */
  GByteArray    *msg;        /* a fragmented message being put together */
  gboolean       in_msg;
  GQueue         wq;         /* OutFrame */
  gboolean       writing;
  gint64         write_started;
  GByteArray    *batch;
  GArray        *credits;    /* Credit */
  GHashTable    *streams;    /* guint64 id -> EsStream (a reference) */
  guint          ping_source;
  gint64         up_at;
  char          *url;
};

struct _EsDial {
  EdgeStream  *self;       /* NULL once abandoned */
  GCancellable *cancel;
  EhTlsStream *stream;
  char        *key;
  char        *url;
};
typedef struct _EsDial Dial;

static void tunnel_read (EsTunnel *t);
static void tunnel_write_next (EsTunnel *t);

/* Logs a dial failure: a warning for the first one since the tunnel was
 * last up (or since the certificate wait), an info line when the reason
 * changes (a refused handshake shows up at varying steps), nothing more
 * while it stays the same. text NULL: the tunnel is up. */
static void
log_failure (EdgeStream *self, const char *text)
{
  if (!text)
    {
      g_clear_pointer (&self->last_failure, g_free);
      return;
    }
  if (g_strcmp0 (text, self->last_failure) == 0)
    ec_log_debug (self->context, "%s", text);
  else if (self->last_failure)
    ec_log_info (self->context, "still no tunnel: %s", text);
  else
    ec_log_warning (self->context, "%s; trying again every %.0f s", text, self->reconnect_ms / 1000.0);
  g_free (self->last_failure);
  self->last_failure = g_strdup (text);
}

/* Dials again after reconnect_ms. */
static gboolean
on_reconnect_due (gpointer data)
{
  EdgeStream *self = data;
  self->reconnect_source = 0;
  es_dial (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_reconnect (EdgeStream *self)
{
  if (self->running && !self->reconnect_source)
    self->reconnect_source = g_timeout_add (self->reconnect_ms, on_reconnect_due, self);
}

/* ---- the tunnel ---------------------------------------------------------- */

static EsTunnel *
tunnel_ref (EsTunnel *t)
{
  g_atomic_int_inc (&t->ref);
  return t;
}

static void
out_frame_free (OutFrame *f)
{
  g_bytes_unref (f->frame);
  if (f->charge)
    es_stream_unref (f->charge);
  g_free (f);
}

static void
tunnel_unref (EsTunnel *t)
{
  if (!g_atomic_int_dec_and_test (&t->ref))
    return;
  g_queue_clear_full (&t->wq, (GDestroyNotify) out_frame_free);
  for (guint i = 0; i < t->credits->len; i++)
    es_stream_unref (g_array_index (t->credits, Credit, i).stream);
  g_array_unref (t->credits);
  g_byte_array_unref (t->batch);
  g_byte_array_unref (t->acc);
  g_byte_array_unref (t->msg);
  g_hash_table_unref (t->streams);
  g_clear_object (&t->cancel);
  g_clear_object (&t->io);
  g_free (t->rbuf);
  g_free (t->url);
  g_free (t);
}

/* The plugin's context (NULL once the tunnel is closed). */
EcPluginContext *
es_tunnel_context (EsTunnel *t)
{
  return t->es ? t->es->context : NULL;
}

/* Streams open now. */
guint
es_tunnel_stream_count (EsTunnel *t)
{
  return g_hash_table_size (t->streams);
}

/* Closes the tunnel: every stream ends and closes its local connection,
 * and the plugin dials again after reconnect_ms. */
void
es_tunnel_close (EsTunnel *t, const char *why)
{
  EdgeStream *self = t->es;
  GList *streams;
  GSocket *sock;

  if (!self)
    return;
  ec_log_warning (self->context, "tunnel to %s closed after %" G_GINT64_FORMAT " s: %s; ending %u stream(s)",
                  t->url, (g_get_monotonic_time () - t->up_at) / G_USEC_PER_SEC, why,
                  g_hash_table_size (t->streams));
  t->es = NULL;
  self->tunnel = NULL;
  if (t->ping_source)
    g_source_remove (t->ping_source);
  t->ping_source = 0;
  g_cancellable_cancel (t->cancel);
  streams = g_hash_table_get_values (t->streams);
  for (GList *l = streams; l; l = l->next)
    es_stream_ref (l->data);
  for (GList *l = streams; l; l = l->next)
    {
      es_stream_end (l->data, FALSE, "the tunnel closed");
      es_stream_unref (l->data);
    }
  g_list_free (streams);
  g_hash_table_remove_all (t->streams);
  g_queue_clear_full (&t->wq, (GDestroyNotify) out_frame_free);
  sock = eh_tls_stream_get_socket (t->io);
  if (sock)
    g_socket_shutdown (sock, TRUE, TRUE, NULL);
  g_io_stream_close (G_IO_STREAM (t->io), NULL, NULL);
  schedule_reconnect (self);
  tunnel_unref (t);   /* the plugin's reference */
}

/* Queues a frame; control frames (urgent) go before queued data. */
static void
queue_frame (EsTunnel *t, GBytes *frame, EsStream *charge, gsize bytes, gboolean urgent)
{
  OutFrame *f = g_new0 (OutFrame, 1);
  f->frame = frame;
  f->charge = charge ? es_stream_ref (charge) : NULL;
  f->bytes = bytes;
  if (urgent)
    g_queue_push_head (&t->wq, f);
  else
    g_queue_push_tail (&t->wq, f);
  tunnel_write_next (t);
}

/* Queues one tunnel message. */
void
es_tunnel_send (EsTunnel *t, guint64 id, EsMsgType type, const guint8 *data, gsize len, EsStream *charge)
{
  g_autoptr (GByteArray) head = g_byte_array_sized_new (20);
  if (!t->es)
    return;
  es_uvarint_append (head, id);
  es_uvarint_append (head, type);
  queue_frame (t, es_ws_frame_new (ES_WS_TEXT, head->data, head->len, data, len), charge, charge ? len : 0, FALSE);
}

/* A batch was written. */
static void
on_written (GObject *source, GAsyncResult *res, gpointer data)
{
  EsTunnel *t = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error);
  g_autoptr (GArray) credits = t->credits;

  t->credits = g_array_new (FALSE, FALSE, sizeof (Credit));
  t->writing = FALSE;
  g_byte_array_set_size (t->batch, 0);
  for (guint i = 0; i < credits->len; i++)
    {
      Credit *c = &g_array_index (credits, Credit, i);
      es_stream_credit (c->stream, c->bytes);
      es_stream_unref (c->stream);
    }
  if (!ok && t->es)
    {
      g_autofree char *why = g_strdup_printf ("writing to the cloud failed: %s", error->message);
      es_tunnel_close (t, why);
    }
  else if (t->es)
    tunnel_write_next (t);
  tunnel_unref (t);
}

/* Writes the next batch of queued frames, if none is being written. */
static void
tunnel_write_next (EsTunnel *t)
{
  if (t->writing || !t->es || g_queue_is_empty (&t->wq))
    return;
  while (!g_queue_is_empty (&t->wq) && t->batch->len < WRITE_BATCH)
    {
      OutFrame *f = g_queue_pop_head (&t->wq);
      gsize n;
      const guint8 *p = g_bytes_get_data (f->frame, &n);
      g_byte_array_append (t->batch, p, (guint) n);
      if (f->charge)
        {
          Credit c = { g_steal_pointer (&f->charge), f->bytes };
          g_array_append_val (t->credits, c);
        }
      out_frame_free (f);
    }
  t->writing = TRUE;
  t->write_started = g_get_monotonic_time ();
  g_output_stream_write_all_async (t->out, t->batch->data, t->batch->len, G_PRIORITY_DEFAULT, t->cancel,
                                   on_written, tunnel_ref (t));
}

/* The ping timer: a ping, unless the cloud has not taken the last write
 * for a whole ping interval (the session is then over, as a failed ping
 * ends it in KubeEdge). */
static gboolean
on_ping (gpointer data)
{
  EsTunnel *t = data;
  if (t->writing && g_get_monotonic_time () - t->write_started > (gint64) t->es->ping_ms * 1000)
    {
      t->ping_source = 0;
      es_tunnel_close (t, "the cloud has not read the tunnel for a whole ping interval");
      return G_SOURCE_REMOVE;
    }
  queue_frame (t, es_ws_frame_new (ES_WS_PING, (const guint8 *) PING_PAYLOAD, strlen (PING_PAYLOAD), NULL, 0),
               NULL, 0, TRUE);
  return G_SOURCE_CONTINUE;
}

/* One complete tunnel message from the cloud. */
static void
dispatch (EsTunnel *t, const guint8 *buf, gsize len)
{
  EdgeStream *self = t->es;
  g_autoptr (GError) error = NULL;
  guint64 id, type;
  const guint8 *data;
  gsize data_len;
  EsStream *s;

  if (!es_message_parse (buf, len, &id, &type, &data, &data_len, &error))
    {
      ec_log_warning (self->context, "ignoring a message from the cloud: %s", error->message);
      return;
    }
  s = g_hash_table_lookup (t->streams, &id);
  switch (type)
    {
    case ES_MSG_LOGS_CONNECT:
    case ES_MSG_EXEC_CONNECT:
    case ES_MSG_METRIC_CONNECT:
    case ES_MSG_ATTACH_CONNECT:
      if (s)
        {
          ec_log_warning (self->context, "ignoring %s for ConnectID %" G_GUINT64_FORMAT ": that stream is open",
                          es_msg_type_name (type), id);
          return;
        }
      if (g_hash_table_size (t->streams) >= ES_MAX_STREAMS)
        {
          ec_log_warning (self->context, "refusing %s for ConnectID %" G_GUINT64_FORMAT ": %d streams are open",
                          es_msg_type_name (type), id, ES_MAX_STREAMS);
          es_tunnel_send (t, id, ES_MSG_REMOVE_CONNECT, NULL, 0, NULL);
          return;
        }
      s = es_stream_open (t, id, (EsMsgType) type, data, data_len);
      if (s)
        {
          guint64 *key = g_new (guint64, 1);
          *key = id;
          g_hash_table_insert (t->streams, key, s);
          self->streams_total++;
        }
      break;
    case ES_MSG_DATA:
      if (s)
        es_stream_data (s, data, data_len);
      else
        ec_log_debug (self->context, "ignoring DATA for unknown ConnectID %" G_GUINT64_FORMAT, id);
      break;
    case ES_MSG_REMOVE_CONNECT:
      if (s)
        es_stream_end (s, TRUE, "the cloud removed it");
      else
        ec_log_debug (self->context, "ignoring REMOVE_CONNECT for unknown ConnectID %" G_GUINT64_FORMAT, id);
      break;
    case ES_MSG_CLOSE_CONNECT:
      {
        g_autofree char *text = g_utf8_make_valid ((const char *) data, (gssize) MIN (data_len, 1024));
        g_autofree char *why = g_strdup_printf ("the cloud sent CLOSE_CONNECT (%s)", text);
        es_tunnel_close (t, why);
        break;
      }
    default:
      ec_log_warning (self->context, "ignoring a message of unknown type %" G_GUINT64_FORMAT " for ConnectID %"
                      G_GUINT64_FORMAT " (%" G_GSIZE_FORMAT " bytes)", type, id, data_len);
      break;
    }
}

/* Forgets a stream that ended. */
void
es_tunnel_forget (EsTunnel *t, EsStream *s)
{
  guint64 id = es_stream_get_id (s);
  if (g_hash_table_lookup (t->streams, &id) == s)
    g_hash_table_remove (t->streams, &id);
}

/* Parses the frames read so far. FALSE when the tunnel closed. */
static gboolean
parse_frames (EsTunnel *t)
{
  gsize off = 0;
  gboolean alive = TRUE;

  while (alive && t->es)
    {
      g_autoptr (GError) error = NULL;
      EsWsFrame f;
      int r = es_ws_frame_parse (t->acc->data + off, t->acc->len - off, ES_MAX_MESSAGE, &f, &error);
      if (r == 0)
        break;
      if (r < 0)
        {
          g_autofree char *why = g_strdup_printf ("bad websocket data from the cloud: %s", error->message);
          es_tunnel_close (t, why);
          alive = FALSE;
          break;
        }
      off += f.frame_len;
      switch (f.opcode)
        {
        case ES_WS_PING:
          queue_frame (t, es_ws_frame_new (ES_WS_PONG, f.payload, f.len, NULL, 0), NULL, 0, TRUE);
          break;
        case ES_WS_PONG:
          break;
        case ES_WS_CLOSE:
          {
            guint code = f.len >= 2 ? (guint) f.payload[0] << 8 | f.payload[1] : 1005;
            g_autofree char *why = g_strdup_printf ("the cloud closed the websocket (code %u)", code);
            es_tunnel_close (t, why);
            alive = FALSE;
            break;
          }
        case ES_WS_TEXT:
        case ES_WS_BINARY:
        case ES_WS_CONT:
          if ((f.opcode == ES_WS_CONT) != t->in_msg)
            {
              es_tunnel_close (t, "bad websocket data from the cloud: a continuation frame out of place");
              alive = FALSE;
              break;
            }
          if (f.fin && !t->in_msg)
            {
              dispatch (t, f.payload, f.len);
              break;
            }
          if (t->msg->len + f.len > ES_MAX_MESSAGE)
            {
              es_tunnel_close (t, "bad websocket data from the cloud: a fragmented message over 1 MiB");
              alive = FALSE;
              break;
            }
          g_byte_array_append (t->msg, f.payload, (guint) f.len);
          t->in_msg = !f.fin;
          if (f.fin)
            {
              dispatch (t, t->msg->data, t->msg->len);
              g_byte_array_set_size (t->msg, 0);
            }
          break;
        default:
          {
            g_autofree char *why = g_strdup_printf ("bad websocket data from the cloud: opcode %u", f.opcode);
            es_tunnel_close (t, why);
            alive = FALSE;
          }
        }
    }
  if (t->acc->len)
    g_byte_array_remove_range (t->acc, 0, (guint) MIN (off, t->acc->len));
  return alive && t->es;
}

/* Bytes arrived from the cloud. */
static void
on_read (GObject *source, GAsyncResult *res, gpointer data)
{
  EsTunnel *t = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);

  if (!t->es)
    ;
  else if (n < 0)
    {
      g_autofree char *why = g_strdup_printf ("reading from the cloud failed: %s", error->message);
      es_tunnel_close (t, why);
    }
  else if (n == 0)
    es_tunnel_close (t, "the cloud closed the connection");
  else
    {
      g_byte_array_append (t->acc, t->rbuf, (guint) n);
      if (parse_frames (t))
        tunnel_read (t);
    }
  tunnel_unref (t);
}

static void
tunnel_read (EsTunnel *t)
{
  g_input_stream_read_async (t->in, t->rbuf, READ_CHUNK, G_PRIORITY_DEFAULT, t->cancel, on_read, tunnel_ref (t));
}

/* The websocket is up. */
static void
tunnel_up (EdgeStream *self, Dial *d)
{
  EsTunnel *t = g_new0 (EsTunnel, 1);
  t->ref = 1;
  t->es = self;
  t->io = g_steal_pointer (&d->stream);
  t->in = g_io_stream_get_input_stream (G_IO_STREAM (t->io));
  t->out = g_io_stream_get_output_stream (G_IO_STREAM (t->io));
  t->cancel = g_cancellable_new ();
  t->rbuf = g_malloc (READ_CHUNK);
  t->acc = g_byte_array_new ();
  t->msg = g_byte_array_new ();
  t->batch = g_byte_array_new ();
  t->credits = g_array_new (FALSE, FALSE, sizeof (Credit));
  g_queue_init (&t->wq);
  t->streams = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, (GDestroyNotify) es_stream_unref);
  t->up_at = g_get_monotonic_time ();
  t->url = g_strdup (d->url);
  /* small DATA messages (exec) go out at once, as Go's connections do */
  if (eh_tls_stream_get_socket (t->io))
    g_socket_set_option (eh_tls_stream_get_socket (t->io), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  self->tunnel = t;
  self->connects++;
  log_failure (self, NULL);
  ec_log_message (self->context, "tunnel connected to %s as node %s", d->url, self->node_name);
  t->ping_source = g_timeout_add (self->ping_ms, on_ping, t);
  tunnel_read (t);
}

/* ---- dialling ------------------------------------------------------------ */

static void
dial_free (Dial *d)
{
  if (d->self && d->self->dial == d)
    d->self->dial = NULL;
  g_clear_object (&d->cancel);
  g_clear_object (&d->stream);
  g_free (d->key);
  g_free (d->url);
  g_free (d);
}

/* Ends the dial in flight with a failure. */
static void
dial_failed (Dial *d, const char *text)
{
  EdgeStream *self = d->self;
  if (self)
    {
      if (self->dial_timeout_source)
        g_source_remove (self->dial_timeout_source);
      self->dial_timeout_source = 0;
      g_clear_object (&self->dial_cancel);
      log_failure (self, text);
      schedule_reconnect (self);
    }
  dial_free (d);
}

static gboolean
on_dial_timeout (gpointer data)
{
  EdgeStream *self = data;
  self->dial_timeout_source = 0;
  if (self->dial_cancel)
    g_cancellable_cancel (self->dial_cancel);
  return G_SOURCE_REMOVE;
}

/* The cloud answered the upgrade. */
static void
on_upgraded (GObject *source, GAsyncResult *res, gpointer data)
{
  Dial *d = data;
  EdgeStream *self = d->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (EhHttpResponse) r = eh_http_exchange_finish (res, &error);
  g_autofree char *text = NULL, *want = NULL;

  if (!self)
    {
      dial_free (d);
      return;
    }
  if (!r)
    text = g_strdup_printf ("cannot open the tunnel %s: %s", d->url, error->message);
  else if (r->status != 101)
    text = g_strdup_printf ("the cloud answered %u %s to the tunnel request %s (is cloudStream enabled?)",
                            r->status, r->reason ? r->reason : "", d->url);
  else if (want = eh_ws_accept_key (d->key),
           g_strcmp0 (g_hash_table_lookup (r->headers, "sec-websocket-accept"), want) != 0)
    text = g_strdup_printf ("the cloud's websocket answer at %s has a wrong Sec-WebSocket-Accept", d->url);
  if (text)
    {
      dial_failed (d, text);
      return;
    }
  if (self->dial_timeout_source)
    g_source_remove (self->dial_timeout_source);
  self->dial_timeout_source = 0;
  g_clear_object (&self->dial_cancel);
  tunnel_up (self, d);
  dial_free (d);
}

/* TLS is up: ask for the websocket. */
static void
on_dialed (GObject *source, GAsyncResult *res, gpointer data)
{
  Dial *d = data;
  EdgeStream *self = d->self;
  g_autoptr (GError) error = NULL;
  g_autofree char *head = NULL, *ip = NULL, *text = NULL;
  guint8 nonce[16];

  d->stream = eh_tls_connect_finish (res, &error);
  if (!self)
    {
      dial_free (d);
      return;
    }
  if (!d->stream)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        text = g_strdup_printf ("cannot connect the tunnel to %s: no handshake within %u s", d->url,
                                self->handshake_timeout_s);
      else
        text = g_strdup_printf ("cannot connect the tunnel to %s: %s%s%s", d->url, error->message,
                                error->domain == EH_TLS_ERROR && error->code == EH_TLS_ERROR_CLIENT_REFUSED
                                ? "; node certificate " : "",
                                error->domain == EH_TLS_ERROR && error->code == EH_TLS_ERROR_CLIENT_REFUSED
                                ? self->cert_file : "");
      dial_failed (d, text);
      return;
    }
  if (self->node_ip && *self->node_ip)
    ip = g_strdup (self->node_ip);
  else
    {
      GSocket *sock = eh_tls_stream_get_socket (d->stream);
      g_autoptr (GSocketAddress) local = sock ? g_socket_get_local_address (sock, NULL) : NULL;
      if (local && G_IS_INET_SOCKET_ADDRESS (local))
        ip = g_inet_address_to_string (g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (local)));
      else
        ip = g_strdup ("");
    }
  for (guint i = 0; i < sizeof nonce; i++)
    nonce[i] = (guint8) g_random_int ();
  d->key = g_base64_encode (nonce, sizeof nonce);
  head = g_strdup_printf ("GET /v1/kubeedge/connect HTTP/1.1\r\nHost: %s\r\nUser-Agent: Go-http-client/1.1\r\n"
                          "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                          "Sec-WebSocket-Key: %s\r\nSessionHostNameOverride: %s\r\nSessionInternalIP: %s\r\n\r\n",
                          self->server, d->key, self->node_name, ip);
  eh_http_exchange_async (d->stream, head, NULL, FALSE, 0, d->cancel, on_upgraded, d);
}

/* Dials the tunnel unless it is up or being dialled. Waits (every
 * reconnect_ms) for the node's certificate, which edgehub fetches. */
void
es_dial (EdgeStream *self)
{
  EhTlsDial td = { 0 };
  Dial *d;

  if (!self->running || self->tunnel || self->dial)
    return;
  if (!g_file_test (self->cert_file, G_FILE_TEST_EXISTS) || !g_file_test (self->key_file, G_FILE_TEST_EXISTS))
    {
      if (!self->cert_wait_logged)
        ec_log_info (self->context, "waiting for the node certificate %s and key %s (edgehub fetches them when "
                     "it joins)", self->cert_file, self->key_file);
      self->cert_wait_logged = TRUE;
      schedule_reconnect (self);
      return;
    }
  d = g_new0 (Dial, 1);
  d->self = self;
  d->cancel = g_cancellable_new ();
  d->url = g_strdup_printf ("wss://%s/v1/kubeedge/connect", self->server);
  self->dial_cancel = g_object_ref (d->cancel);
  self->dial = d;
  td.host = self->host;
  td.port = self->port;
  td.ca_file = NULL;   /* KubeEdge's edge does not verify the stream server */
  td.cert_file = self->cert_file;
  td.key_file = self->key_file;
  self->dial_timeout_source = g_timeout_add_seconds (MAX (self->handshake_timeout_s, 1), on_dial_timeout, self);
  ec_log_debug (self->context, "connecting to %s", d->url);
  eh_tls_connect_async (&td, d->cancel, on_dialed, d);
}

/* Stops dialling and closes the tunnel. */
void
es_stop_all (EdgeStream *self)
{
  self->running = FALSE;
  if (self->reconnect_source)
    g_source_remove (self->reconnect_source);
  self->reconnect_source = 0;
  if (self->dial_timeout_source)
    g_source_remove (self->dial_timeout_source);
  self->dial_timeout_source = 0;
  if (self->dial)
    {
      Dial *d = self->dial;
      self->dial = NULL;
      d->self = NULL;
      g_cancellable_cancel (d->cancel);
    }
  g_clear_object (&self->dial_cancel);
  if (self->tunnel)
    es_tunnel_close (self->tunnel, "edgestream stopped");
}
