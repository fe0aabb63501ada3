/* cs-stream.c: CloudCore's cloudStream for cloudsim (see cs-stream.h).
 *
 * Tunnel server (cloudcore's tunnelPort, 10004): GET /v1/kubeedge/connect,
 * a WebSocket (gorilla's rules: GET, Upgrade: websocket, version 13, a
 * key; client frames masked) with the node's client certificate required
 * and verified; the session is keyed by the SessionHostNameOverride header
 * and by SessionInternalIP (the peer's address when empty). Every message is
 * one TEXT frame "uvarint ConnectID | uvarint MessageType | Data", read with
 * no UTF-8 check.
 *
 * Stream server (cloudcore's streamPort, 10003; plain HTTP, or with
 * --stream-tls HTTPS with the hub's certificate, a client certificate asked
 * for but not required where cloudcore requires the apiserver's):
 *   GET /containerLogs/{ns}/{pod}/{container}           LOGS_CONNECT
 *   GET|POST /exec/{ns}/{pod}[/{uid}]/{container}       EXEC_CONNECT (an upgrade)
 *   GET|POST /attach/{ns}/{pod}[/{uid}]/{container}     ATTACH_CONNECT (not v1.9.2)
 *   GET /stats, /stats/summary, /stats/container, /stats/{pod}/{container},
 *       /stats/{ns}/{pod}/{uid}/{container}, /metrics[/cadvisor|/probes|/resource]
 *                                                       METRIC_CONNECT
 * The session of a logs request (and of exec/attach, except in v1.9.2
 * where exec is keyed by the Host header) is the pod's node: cloudsim has no
 * apiserver, so pods are placed with `stream-pod NS/NAME NODE`. Metrics are
 * keyed by the Host header's host, or by the node of an X-Forwarded-Uri
 * /api/v1/nodes/{node}/proxy/... The connector names
 * http://127.0.0.1:<kubelet port><path>?<query> with the request's headers.
 * Logs and metrics answer 200 with a chunked body, one chunk per DATA;
 * exec/attach connections are taken over without an answer and relayed byte
 * for byte (the kubelet's 101 comes through the tunnel). */
#include "cs-stream.h"

#include <json-glib/json-glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>

#define READ_CHUNK     (64 * 1024)
#define MAX_MESSAGE    (1024 * 1024 + 32)
#define CONN_QUEUE_MAX (16 * 1024 * 1024)

enum { T_LOGS = 0, T_EXEC = 1, T_METRIC = 2, T_DATA = 3, T_REMOVE = 4, T_CLOSE = 5, T_ATTACH = 6 };
static const char *const type_names[] = { "LOGS_CONNECT", "EXEC_CONNECT", "METRIC_CONNECT", "DATA",
                                          "REMOVE_CONNECT", "CLOSE_CONNECT", "ATTACH_CONNECT" };

typedef struct _Session Session;
typedef struct _ApiConn ApiConn;

/* ---- a queued writer over an IO stream ----------------------------------- */

typedef struct {
  gint           ref;
  GIOStream     *io;
  GCancellable  *cancel;
  GQueue         q;           /* GBytes */
  gsize          bytes;
  gboolean       busy, finishing, closed;
} Writer;

static Writer *
writer_new (GIOStream *io)
{
  Writer *w = g_new0 (Writer, 1);
  w->ref = 1;
  w->io = g_object_ref (io);
  w->cancel = g_cancellable_new ();
  g_queue_init (&w->q);
  return w;
}

static void
writer_unref (Writer *w)
{
  if (--w->ref)
    return;
  g_queue_clear_full (&w->q, (GDestroyNotify) g_bytes_unref);
  g_object_unref (w->cancel);
  g_object_unref (w->io);
  g_free (w);
}

static void
writer_close (Writer *w)
{
  if (w->closed)
    return;
  w->closed = TRUE;
  g_cancellable_cancel (w->cancel);
  g_io_stream_close (w->io, NULL, NULL);
  g_queue_clear_full (&w->q, (GDestroyNotify) g_bytes_unref);
  w->bytes = 0;
}

static void writer_next (Writer *w);

static void
on_writer_done (GObject *source, GAsyncResult *res, gpointer data)
{
  Writer *w = data;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, NULL);
  GBytes *b;
  w->busy = FALSE;
  if (!w->closed)
    {
      b = g_queue_pop_head (&w->q);
      w->bytes -= g_bytes_get_size (b);
      g_bytes_unref (b);
      if (!ok)
        writer_close (w);
      else
        writer_next (w);
    }
  writer_unref (w);
}

static void
writer_next (Writer *w)
{
  GBytes *b;
  if (w->busy || w->closed)
    return;
  b = g_queue_peek_head (&w->q);
  if (!b)
    {
      if (w->finishing)
        writer_close (w);
      return;
    }
  w->busy = TRUE;
  w->ref++;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (w->io), g_bytes_get_data (b, NULL),
                                   g_bytes_get_size (b), G_PRIORITY_DEFAULT, w->cancel, on_writer_done, w);
}

static void
writer_push (Writer *w, GBytes *b)
{
  if (w->closed || w->finishing)
    {
      g_bytes_unref (b);
      return;
    }
  w->bytes += g_bytes_get_size (b);
  g_queue_push_tail (&w->q, b);
  writer_next (w);
}

/* Closes once everything queued is written. */
static void
writer_finish (Writer *w)
{
  w->finishing = TRUE;
  writer_next (w);
}

/* ---- state --------------------------------------------------------------- */

struct _CsStream {
  CsHub          *hub;
  CsStreamOptions opt;
  SoupServer     *tunnel;
  CsTls          *tunnel_tls;
  guint           tunnel_port;
  SoupServer     *api;
  CsTls          *api_tls;
  guint           api_port;
  GHashTable     *sessions;    /* node name or IP -> Session (a reference) */
  GList          *all;         /* every live Session (references) */
  GHashTable     *pods;        /* "ns/name" -> node */
  guint64         next_id;
  guint           session_no;
  gboolean        paused;      /* stream-pause: tunnels are not read */
};

struct _Session {
  gint          ref;
  CsStream     *cs;           /* NULL once closed */
  guint         no;
  char         *node, *ip;
  GIOStream    *io;
  Writer       *w;
  GCancellable *cancel;
  guint8       *rbuf;
  GByteArray   *acc, *msg;
  gboolean      in_msg;
  gboolean      read_stopped; /* not read while the cloud is paused */
  GHashTable   *conns;        /* ConnectID -> ApiConn (a reference) */
  guint64       data_in, data_out;
};

enum { K_CHUNKED, K_RAW };

struct _ApiConn {
  gint          ref;
  Session      *session;      /* a reference; NULL once ended */
  guint64       id;
  int           type;
  int           kind;
  GIOStream    *io;
  Writer       *w;
  GCancellable *cancel;
  guint8       *rbuf;
};

static void session_close (Session *s, const char *why);
static void session_read (Session *s);
static void conn_read (ApiConn *c);

static Session *
session_ref (Session *s)
{
  s->ref++;
  return s;
}

static void
session_unref (Session *s)
{
  if (--s->ref)
    return;
  g_free (s->node);
  g_free (s->ip);
  g_clear_object (&s->io);
  writer_unref (s->w);
  g_object_unref (s->cancel);
  g_free (s->rbuf);
  g_byte_array_unref (s->acc);
  g_byte_array_unref (s->msg);
  g_hash_table_unref (s->conns);
  g_free (s);
}

static ApiConn *
conn_ref (ApiConn *c)
{
  c->ref++;
  return c;
}

static void
conn_unref (ApiConn *c)
{
  if (--c->ref)
    return;
  g_clear_object (&c->io);
  writer_unref (c->w);
  g_object_unref (c->cancel);
  g_free (c->rbuf);
  g_free (c);
}

/* The socket under a stolen connection (libsoup wraps it in its own
 * stream, and in TLS for the default profile), or NULL. */
static GSocket *
find_socket (GIOStream *io)
{
  static const char *const names[] = { "base-iostream", "base-io-stream" };
  for (int depth = 0; io && depth < 6; depth++)
    {
      GIOStream *base = NULL;
      if (G_IS_SOCKET_CONNECTION (io))
        return g_socket_connection_get_socket (G_SOCKET_CONNECTION (io));
      for (guint i = 0; i < G_N_ELEMENTS (names) && !base; i++)
        {
          GParamSpec *p = g_object_class_find_property (G_OBJECT_GET_CLASS (io), names[i]);
          if (p && g_type_is_a (p->value_type, G_TYPE_IO_STREAM))
            {
              g_object_get (io, names[i], &base, NULL);
              if (base)
                g_object_unref (base);   /* io keeps it alive */
            }
        }
      io = base;
    }
  return NULL;
}

/* Go's listeners set TCP_NODELAY on every connection; so does cloudsim. */
static void
set_nodelay (GIOStream *io)
{
  GSocket *sock = find_socket (io);
  if (sock)
    g_socket_set_option (sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

/* ---- records ------------------------------------------------------------- */

static void
append_json_string (GString *out, const char *s)
{
  g_autoptr (JsonNode) n = json_node_init_string (json_node_alloc (), s ? s : "");
  g_autofree char *text = json_to_string (n, FALSE);
  g_string_append (out, text);
}

static void
record_session (CsStream *cs, const char *event, Session *s, const char *key, const char *value)
{
  g_autoptr (GString) f = g_string_new (",\"node\":");
  append_json_string (f, s->node);
  g_string_append (f, ",\"ip\":");
  append_json_string (f, s->ip);
  if (key)
    {
      g_string_append_printf (f, ",\"%s\":", key);
      append_json_string (f, value);
    }
  cs_hub_record (cs->hub, event, f->str);
}

static void
record_msg (CsStream *cs, const char *dir, Session *s, guint64 id, guint64 type, const guint8 *data, gsize len)
{
  g_autoptr (GString) f = g_string_new (NULL);
  g_string_append_printf (f, ",\"dir\":\"%s\",\"node\":", dir);
  append_json_string (f, s->node);
  g_string_append_printf (f, ",\"id\":%" G_GUINT64_FORMAT ",\"type\":\"%s\",\"len\":%" G_GSIZE_FORMAT, id,
                          type < G_N_ELEMENTS (type_names) ? type_names[type] : "UNKNOWN", len);
  if (type != T_DATA && len && data)
    {
      g_autofree char *text = g_utf8_make_valid ((const char *) data, (gssize) MIN (len, 4096));
      g_string_append (f, ",\"data\":");
      append_json_string (f, text);
    }
  cs_hub_record (cs->hub, "stream-msg", f->str);
}

/* ---- the tunnel ---------------------------------------------------------- */

static void
append_uvarint (GByteArray *out, guint64 v)
{
  guint8 b;
  while (v >= 0x80)
    {
      b = (guint8) (v | 0x80);
      g_byte_array_append (out, &b, 1);
      v >>= 7;
    }
  b = (guint8) v;
  g_byte_array_append (out, &b, 1);
}

static gboolean
read_uvarint (const guint8 *buf, gsize len, gsize *pos, guint64 *v)
{
  guint64 x = 0;
  for (gsize i = *pos, n = 0; i < len && n < 10; i++, n++)
    {
      x |= (guint64) (buf[i] & 0x7f) << (7 * n);
      if (buf[i] < 0x80)
        {
          *v = x;
          *pos = i + 1;
          return TRUE;
        }
    }
  return FALSE;
}

/* A server frame (unmasked) with FIN. */
static GBytes *
ws_frame (guint8 opcode, const guint8 *payload, gsize n)
{
  GByteArray *f = g_byte_array_sized_new ((guint) n + 10);
  guint8 h[10];
  gsize hl = 2;
  h[0] = 0x80 | opcode;
  if (n < 126)
    h[1] = (guint8) n;
  else if (n <= 0xffff)
    {
      h[1] = 126;
      h[2] = (guint8) (n >> 8);
      h[3] = (guint8) n;
      hl = 4;
    }
  else
    {
      h[1] = 127;
      for (int i = 0; i < 8; i++)
        h[2 + i] = (guint8) ((guint64) n >> (56 - 8 * i));
      hl = 10;
    }
  g_byte_array_append (f, h, (guint) hl);
  g_byte_array_append (f, payload, (guint) n);
  return g_byte_array_free_to_bytes (f);
}

/* Sends one tunnel message. */
static void
session_send (Session *s, guint64 id, guint64 type, const guint8 *data, gsize len)
{
  g_autoptr (GByteArray) m = g_byte_array_sized_new ((guint) len + 20);
  if (!s->cs)
    return;
  append_uvarint (m, id);
  append_uvarint (m, type);
  if (len)
    g_byte_array_append (m, data, (guint) len);
  if (type != T_DATA)
    record_msg (s->cs, "send", s, id, type, data, len);
  else
    s->data_out += len;
  writer_push (s->w, ws_frame (0x1, m->data, m->len));
}

/* Ends an apiserver connection: the edge is told unless it ended it. */
static void
conn_end (ApiConn *c, gboolean tell_edge, gboolean graceful)
{
  Session *s = c->session;
  guint64 id = c->id;
  if (!s)
    return;
  c->session = NULL;
  g_cancellable_cancel (c->cancel);
  if (tell_edge)
    session_send (s, id, T_REMOVE, NULL, 0);
  if (graceful && c->kind == K_CHUNKED)
    writer_push (c->w, g_bytes_new_static ("0\r\n\r\n", 5));
  if (graceful)
    writer_finish (c->w);
  else
    writer_close (c->w);
  g_hash_table_remove (s->conns, &id);   /* drops the session's reference to c */
  session_unref (s);
}

/* DATA from the edge for an apiserver connection. */
static void
conn_data (ApiConn *c, const guint8 *data, gsize len)
{
  if (!len)
    return;
  if (c->w->bytes + len > CONN_QUEUE_MAX)
    {
      conn_end (c, TRUE, FALSE);
      return;
    }
  if (c->kind == K_CHUNKED)
    {
      GByteArray *b = g_byte_array_sized_new ((guint) len + 16);
      char head[24];
      int hl = g_snprintf (head, sizeof head, "%" G_GSIZE_MODIFIER "x\r\n", len);
      g_byte_array_append (b, (const guint8 *) head, (guint) hl);
      g_byte_array_append (b, data, (guint) len);
      g_byte_array_append (b, (const guint8 *) "\r\n", 2);
      writer_push (c->w, g_byte_array_free_to_bytes (b));
    }
  else
    writer_push (c->w, g_bytes_new (data, len));
}

/* One message from the edge. */
static void
session_dispatch (Session *s, const guint8 *buf, gsize len)
{
  gsize pos = 0;
  guint64 id, type;
  ApiConn *c;
  if (!read_uvarint (buf, len, &pos, &id) || !read_uvarint (buf, len, &pos, &type))
    {
      cs_hub_record (s->cs->hub, "stream-bad-message", NULL);
      return;
    }
  if (type != T_DATA)
    record_msg (s->cs, "recv", s, id, type, buf + pos, len - pos);
  else
    s->data_in += len - pos;
  c = g_hash_table_lookup (s->conns, &id);
  if (!c)
    return;   /* cloudcore ignores messages for connections it does not have */
  if (type == T_DATA)
    conn_data (c, buf + pos, len - pos);
  else if (type == T_REMOVE)
    conn_end (c, FALSE, TRUE);
}

/* Parses the frames read so far; FALSE when the session closed. */
static gboolean
session_parse (Session *s)
{
  gsize off = 0;
  while (s->cs)
    {
      guint8 *p = s->acc->data + off;
      gsize avail = s->acc->len - off, pos = 2;
      guint64 n;
      guint8 op, mask[4];
      gboolean fin;
      if (avail < 2)
        break;
      fin = (p[0] & 0x80) != 0;
      op = p[0] & 0x0f;
      n = p[1] & 0x7f;
      if (!(p[1] & 0x80) || (p[0] & 0x70))
        {
          session_close (s, "an unmasked or extended frame from the edge");
          return FALSE;
        }
      if (n == 126)
        {
          if (avail < 4)
            break;
          n = (guint64) p[2] << 8 | p[3];
          pos = 4;
        }
      else if (n == 127)
        {
          if (avail < 10)
            break;
          n = 0;
          for (int i = 0; i < 8; i++)
            n = n << 8 | p[2 + i];
          pos = 10;
        }
      if (n > MAX_MESSAGE)
        {
          session_close (s, "a frame over 1 MiB from the edge");
          return FALSE;
        }
      if (avail < pos + 4 + n)
        break;
      memcpy (mask, p + pos, 4);
      pos += 4;
      for (gsize i = 0; i < n; i++)
        p[pos + i] ^= mask[i & 3];
      off += pos + n;
      switch (op)
        {
        case 0x9:
          writer_push (s->w, ws_frame (0xA, p + pos, (gsize) n));
          cs_hub_record (s->cs->hub, "stream-ping", NULL);
          break;
        case 0xA:
          break;
        case 0x8:
          session_close (s, "the edge closed the websocket");
          return FALSE;
        case 0x0:
        case 0x1:
        case 0x2:
          if (fin && op != 0x0 && !s->in_msg)
            session_dispatch (s, p + pos, (gsize) n);
          else
            {
              if (s->msg->len + n > MAX_MESSAGE)
                {
                  session_close (s, "a message over 1 MiB from the edge");
                  return FALSE;
                }
              g_byte_array_append (s->msg, p + pos, (guint) n);
              s->in_msg = !fin;
              if (fin)
                {
                  session_dispatch (s, s->msg->data, s->msg->len);
                  g_byte_array_set_size (s->msg, 0);
                }
            }
          break;
        default:
          session_close (s, "an unknown opcode from the edge");
          return FALSE;
        }
    }
  g_byte_array_remove_range (s->acc, 0, (guint) MIN (off, s->acc->len));
  return s->cs != NULL;
}

static void
on_session_read (GObject *source, GAsyncResult *res, gpointer data)
{
  Session *s = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);
  if (!s->cs)
    ;
  else if (n <= 0)
    session_close (s, n < 0 ? error->message : "the edge closed the connection");
  else
    {
      g_byte_array_append (s->acc, s->rbuf, (guint) n);
      if (session_parse (s))
        {
          if (s->cs->paused)
            s->read_stopped = TRUE;
          else
            session_read (s);
        }
    }
  session_unref (s);
}

static void
session_read (Session *s)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (s->io), s->rbuf, READ_CHUNK, G_PRIORITY_DEFAULT,
                             s->cancel, on_session_read, session_ref (s));
}

/* Removes the session's keys that still point to it. */
static void
forget_keys (CsStream *cs, Session *s)
{
  if (g_hash_table_lookup (cs->sessions, s->node) == s)
    g_hash_table_remove (cs->sessions, s->node);
  if (g_hash_table_lookup (cs->sessions, s->ip) == s)
    g_hash_table_remove (cs->sessions, s->ip);
}

/* Ends a session and every apiserver connection on it. */
static void
session_close (Session *s, const char *why)
{
  CsStream *cs = s->cs;
  GList *conns;
  if (!cs)
    return;
  record_session (cs, "stream-disconnect", s, "why", why);
  conns = g_hash_table_get_values (s->conns);
  for (GList *l = conns; l; l = l->next)
    conn_ref (l->data);
  for (GList *l = conns; l; l = l->next)
    {
      conn_end (l->data, FALSE, TRUE);
      conn_unref (l->data);
    }
  g_list_free (conns);
  s->cs = NULL;
  g_cancellable_cancel (s->cancel);
  writer_close (s->w);
  forget_keys (cs, s);
  cs->all = g_list_remove (cs->all, s);
  session_unref (s);
}

/* The Sec-WebSocket-Accept for a key. */
static char *
ws_accept (const char *key)
{
  g_autofree char *text = g_strconcat (key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", NULL);
  guint8 digest[20];
  gsize len = sizeof digest;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sum, (const guchar *) text, -1);
  g_checksum_get_digest (sum, digest, &len);
  return g_base64_encode (digest, len);
}

static gboolean
header_has_token (SoupMessageHeaders *h, const char *name, const char *token)
{
  return soup_message_headers_header_contains (h, name, token);
}

/* GET /v1/kubeedge/connect on the tunnel port. */
static void
on_tunnel_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  CsStream *cs = data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *key = soup_message_headers_get_one (h, "Sec-WebSocket-Key");
  const char *node = soup_message_headers_get_one (h, "SessionHostNameOverride");
  const char *ip = soup_message_headers_get_one (h, "SessionInternalIP");
  const char *problem = NULL;
  g_autofree char *accept = NULL, *answer = NULL;
  GIOStream *io;
  Session *s, *old;

  if (strcmp (path, "/v1/kubeedge/connect") != 0)
    {
      soup_server_message_set_status (msg, 404, NULL);
      return;
    }
  if (soup_server_message_get_method (msg) != SOUP_METHOD_GET)
    problem = "websocket: the client is not using the websocket protocol: request method is not GET";
  else if (!header_has_token (h, "Connection", "upgrade"))
    problem = "websocket: the client is not using the websocket protocol: 'upgrade' token not found in 'Connection' header";
  else if (!header_has_token (h, "Upgrade", "websocket"))
    problem = "websocket: the client is not using the websocket protocol: 'websocket' token not found in 'Upgrade' header";
  else if (g_strcmp0 (soup_message_headers_get_one (h, "Sec-WebSocket-Version"), "13") != 0)
    problem = "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header";
  else if (!key || !*key)
    problem = "websocket: not a websocket handshake: 'Sec-WebSocket-Key' header is missing or blank";
  if (problem)
    {
      cs_hub_record (cs->hub, "stream-refused", NULL);
      soup_server_message_set_status (msg, 400, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, problem, strlen (problem));
      return;
    }
  io = soup_server_message_steal_connection (msg);
  set_nodelay (io);
  s = g_new0 (Session, 1);
  s->ref = 1;
  s->cs = cs;
  s->no = ++cs->session_no;
  s->node = g_strdup (node ? node : "");
  s->ip = g_strdup (ip && *ip ? ip : soup_server_message_get_remote_host (msg));
  s->io = io;
  s->w = writer_new (io);
  s->cancel = g_cancellable_new ();
  s->rbuf = g_malloc (READ_CHUNK);
  s->acc = g_byte_array_new ();
  s->msg = g_byte_array_new ();
  s->conns = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, (GDestroyNotify) conn_unref);
  accept = ws_accept (key);
  answer = g_strdup_printf ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                            "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
  writer_push (s->w, g_bytes_new_take (answer, strlen (answer)));
  answer = NULL;
  /* cloudcore replaces the sessions of the same name and address */
  if ((old = g_hash_table_lookup (cs->sessions, s->node)))
    session_close (old, "replaced by a new connection of the node");
  if ((old = g_hash_table_lookup (cs->sessions, s->ip)))
    forget_keys (cs, old);
  g_hash_table_insert (cs->sessions, g_strdup (s->node), session_ref (s));
  g_hash_table_insert (cs->sessions, g_strdup (s->ip), session_ref (s));
  cs->all = g_list_prepend (cs->all, session_ref (s));
  /* the header as sent (empty when absent), next to the address the session is keyed by */
  record_session (cs, "stream-connect", s, "internal_ip", ip ? ip : "");
  session_read (s);
  session_unref (s);
}

/* ---- the stream server --------------------------------------------------- */

/* Go's canonical header key ("sec-websocket-key" -> "Sec-Websocket-Key"). */
static char *
canonical_key (const char *name)
{
  char *k = g_strdup (name);
  gboolean up = TRUE;
  for (char *p = k; *p; p++)
    {
      *p = up ? g_ascii_toupper (*p) : g_ascii_tolower (*p);
      up = *p == '-';
    }
  return k;
}

/* Builds the connector JSON: Go's url.URL fields and the request headers. */
static char *
connector_json (CsStream *cs, SoupServerMessage *msg, guint64 id, gboolean with_method)
{
  GUri *uri = soup_server_message_get_uri (msg);
  const char *raw_path = g_uri_get_path (uri);
  const char *raw_query = g_uri_get_query (uri);
  g_autofree char *path = g_uri_unescape_string (raw_path, NULL);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *host = g_strdup_printf ("127.0.0.1:%u", cs->opt.kubelet_port);
  g_autoptr (GHashTable) headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                          (GDestroyNotify) g_ptr_array_unref);
  SoupMessageHeadersIter it;
  const char *name, *value;
  GHashTableIter hi;
  gpointer k, v;

  soup_message_headers_iter_init (&it, soup_server_message_get_request_headers (msg));
  while (soup_message_headers_iter_next (&it, &name, &value))
    {
      char *key = canonical_key (name);
      GPtrArray *vals;
      if (!strcmp (key, "Host"))
        {
          g_free (key);
          continue;
        }
      vals = g_hash_table_lookup (headers, key);
      if (!vals)
        {
          vals = g_ptr_array_new_with_free_func (g_free);
          g_hash_table_insert (headers, key, vals);
        }
      else
        g_free (key);
      g_ptr_array_add (vals, g_strdup (value));
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "MessID");
  json_builder_add_int_value (b, (gint64) id);
  json_builder_set_member_name (b, "url");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Scheme");
  json_builder_add_string_value (b, "http");
  json_builder_set_member_name (b, "Opaque");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "User");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "Host");
  json_builder_add_string_value (b, host);
  json_builder_set_member_name (b, "Path");
  json_builder_add_string_value (b, path ? path : raw_path);
  json_builder_set_member_name (b, "RawPath");
  json_builder_add_string_value (b, path && strcmp (path, raw_path) != 0 ? raw_path : "");
  if (!cs->opt.v192)
    {
      json_builder_set_member_name (b, "OmitHost");
      json_builder_add_boolean_value (b, FALSE);
    }
  json_builder_set_member_name (b, "ForceQuery");
  json_builder_add_boolean_value (b, FALSE);
  json_builder_set_member_name (b, "RawQuery");
  json_builder_add_string_value (b, raw_query ? raw_query : "");
  json_builder_set_member_name (b, "Fragment");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "RawFragment");
  json_builder_add_string_value (b, "");
  json_builder_end_object (b);
  json_builder_set_member_name (b, "header");
  json_builder_begin_object (b);
  g_hash_table_iter_init (&hi, headers);
  while (g_hash_table_iter_next (&hi, &k, &v))
    {
      GPtrArray *vals = v;
      json_builder_set_member_name (b, k);
      json_builder_begin_array (b);
      for (guint i = 0; i < vals->len; i++)
        json_builder_add_string_value (b, vals->pdata[i]);
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
  if (with_method)
    {
      json_builder_set_member_name (b, "method");
      json_builder_add_string_value (b, soup_server_message_get_method (msg));
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* Answers an error as cloudcore does (500 with the reason). */
static void
api_error (CsStream *cs, SoupServerMessage *msg, guint status, const char *text)
{
  g_autoptr (GString) f = g_string_new (",\"path\":");
  append_json_string (f, g_uri_get_path (soup_server_message_get_uri (msg)));
  g_string_append (f, ",\"error\":");
  append_json_string (f, text);
  cs_hub_record (cs->hub, "stream-api-error", f->str);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, text, strlen (text));
}

static void
on_conn_read (GObject *source, GAsyncResult *res, gpointer data)
{
  ApiConn *c = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, NULL);
  if (!c->session)
    ;
  else if (n <= 0)
    conn_end (c, TRUE, FALSE);   /* the apiserver's side went away */
  else
    {
      if (c->kind == K_RAW)
        session_send (c->session, c->id, T_DATA, c->rbuf, (gsize) n);
      conn_read (c);
    }
  conn_unref (c);
}

static void
conn_read (ApiConn *c)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (c->io), c->rbuf, 16 * 1024, G_PRIORITY_DEFAULT,
                             c->cancel, on_conn_read, conn_ref (c));
}

/* The session for a pod (its node). */
static Session *
session_for_pod (CsStream *cs, const char *path, char **key, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  g_autofree char *pod = NULL;
  const char *node;
  Session *s;
  if (g_strv_length (parts) < 5)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "can not get pod name from url path: %s", path);
      return NULL;
    }
  pod = g_strdup_printf ("%s/%s", parts[2], parts[3]);
  node = g_hash_table_lookup (cs->pods, pod);
  if (!node)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "get pod %s failed: pods \"%s\" not found", pod, parts[3]);
      return NULL;
    }
  *key = g_strdup (node);
  s = g_hash_table_lookup (cs->sessions, node);
  if (!s)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "can not find %s session", node);
  return s;
}

/* The host part of the Host header. */
static char *
host_key (SoupServerMessage *msg)
{
  const char *host = soup_message_headers_get_one (soup_server_message_get_request_headers (msg), "Host");
  const char *colon;
  if (!host)
    return g_strdup ("");
  if (host[0] == '[' && (colon = strchr (host, ']')))
    return g_strndup (host + 1, (gsize) (colon - host - 1));
  colon = strrchr (host, ':');
  return colon ? g_strndup (host, (gsize) (colon - host)) : g_strdup (host);
}

/* Is path one of the routes, and of which type? -1: none. */
static int
route_type (CsStream *cs, const char *method, const char *path)
{
  g_auto (GStrv) p = g_strsplit (path, "/", -1);
  guint n = g_strv_length (p);   /* p[0] is "" */
  gboolean get = !strcmp (method, "GET"), post = !strcmp (method, "POST");
  for (guint i = 1; i < n; i++)
    if (!*p[i])
      return -1;
  if (n < 2)
    return -1;
  if (!strcmp (p[1], "containerLogs"))
    return get && n == 5 ? T_LOGS : -1;
  if (!strcmp (p[1], "exec") || (!strcmp (p[1], "attach") && !cs->opt.v192))
    return (get || post) && (n == 5 || n == 6) ? (p[1][0] == 'e' ? T_EXEC : T_ATTACH) : -1;
  if (!strcmp (p[1], "stats"))
    return get && (n == 2 || (n == 3 && (!strcmp (p[2], "summary") || !strcmp (p[2], "container")))
                   || n == 4 || n == 6) ? T_METRIC : -1;
  if (!strcmp (p[1], "metrics"))
    return get && (n == 2 || (n == 3 && (!strcmp (p[2], "cadvisor") || !strcmp (p[2], "probes")
                                         || !strcmp (p[2], "resource")))) ? T_METRIC : -1;
  return -1;
}

/* A request from kube-apiserver on the stream port. */
static void
on_api_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
  CsStream *cs = data;
  const char *method = soup_server_message_get_method (msg);
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  int type = route_type (cs, method, path);
  g_autoptr (GError) error = NULL;
  g_autofree char *key = NULL, *json = NULL;
  g_autoptr (GString) f = NULL;
  Session *s = NULL;
  ApiConn *c;
  GIOStream *io;

  if (type < 0)
    {
      soup_server_message_set_status (msg, 404, NULL);
      soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "404 page not found\n", 19);
      return;
    }
  if (type == T_METRIC)
    {
      const char *fwd = soup_message_headers_get_one (h, "X-Forwarded-Uri");
      key = host_key (msg);
      if (fwd && g_str_has_prefix (fwd, "/api/v1/nodes/"))
        {
          g_auto (GStrv) t = g_strsplit (fwd, "/", -1);
          if (g_strv_length (t) > 6)
            {
              g_free (key);
              key = g_strdup (t[4]);
            }
        }
      s = g_hash_table_lookup (cs->sessions, key);
      if (!s)
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "can not find %s session", key);
    }
  else if ((type == T_EXEC || type == T_ATTACH) && cs->opt.v192)
    {
      key = host_key (msg);
      s = g_hash_table_lookup (cs->sessions, key);
      if (!s)
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "exec: can not find %s session", key);
    }
  else
    s = session_for_pod (cs, path, &key, &error);
  if (!s)
    {
      api_error (cs, msg, 500, error->message);
      return;
    }
  if ((type == T_EXEC || type == T_ATTACH)
      && !(header_has_token (h, "Connection", "upgrade") && soup_message_headers_get_one (h, "Upgrade")))
    {
      api_error (cs, msg, 500, "request was not an upgrade");
      return;
    }
  json = connector_json (cs, msg, cs->next_id, type == T_EXEC || type == T_ATTACH);
  f = g_string_new (",\"path\":");
  append_json_string (f, path);
  g_string_append_printf (f, ",\"id\":%" G_GUINT64_FORMAT ",\"type\":\"%s\",\"node\":", cs->next_id, type_names[type]);
  append_json_string (f, s->node);
  cs_hub_record (cs->hub, "stream-api", f->str);

  io = soup_server_message_steal_connection (msg);
  set_nodelay (io);
  c = g_new0 (ApiConn, 1);
  c->ref = 1;
  c->session = session_ref (s);
  c->id = cs->next_id++;
  c->type = type;
  c->kind = type == T_EXEC || type == T_ATTACH ? K_RAW : K_CHUNKED;
  c->io = io;
  c->w = writer_new (io);
  c->cancel = g_cancellable_new ();
  c->rbuf = g_malloc (16 * 1024);
  {
    guint64 *k = g_new (guint64, 1);
    *k = c->id;
    g_hash_table_insert (s->conns, k, c);   /* the session's reference */
  }
  if (c->kind == K_CHUNKED)
    {
      static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n";
      writer_push (c->w, g_bytes_new_static (head, sizeof head - 1));
    }
  session_send (s, c->id, (guint64) type, (const guint8 *) json, strlen (json));
  conn_read (conn_ref (c));
  conn_unref (c);
}

/* ---- commands and setup -------------------------------------------------- */

static gboolean
parse_hex (const char *text, GByteArray *out)
{
  gsize n = strlen (text);
  if (n % 2)
    return FALSE;
  for (gsize i = 0; i < n; i += 2)
    {
      int hi = g_ascii_xdigit_value (text[i]), lo = g_ascii_xdigit_value (text[i + 1]);
      guint8 b;
      if (hi < 0 || lo < 0)
        return FALSE;
      b = (guint8) (hi << 4 | lo);
      g_byte_array_append (out, &b, 1);
    }
  return TRUE;
}

/* stream-pod NS/NAME NODE | stream-id N | stream-raw HEX | stream-close-connect TEXT |
 * stream-pause on|off | stream-drop | stream-status */
gboolean
cs_stream_command (CsStream *cs, const char *line, GString *reply)
{
  const char *arg = strchr (line, ' ');
  g_autofree char *cmd = arg ? g_strndup (line, (gsize) (arg - line)) : g_strdup (line);
  arg = arg ? arg + 1 : "";
  if (!g_str_has_prefix (cmd, "stream-"))
    return FALSE;
  {
    g_autoptr (GString) f = g_string_new (",\"line\":");
    append_json_string (f, strlen (line) > 300 ? cmd : line);
    cs_hub_record (cs->hub, "command", f->str);
  }
  if (!strcmp (cmd, "stream-pod"))
    {
      g_auto (GStrv) a = g_strsplit (arg, " ", 2);
      if (g_strv_length (a) != 2 || !strchr (a[0], '/'))
        g_string_append (reply, "error: stream-pod NS/NAME NODE");
      else
        {
          g_hash_table_insert (cs->pods, g_strdup (a[0]), g_strdup (a[1]));
          g_string_append_printf (reply, "pod %s on %s", a[0], a[1]);
        }
    }
  else if (!strcmp (cmd, "stream-id"))
    {
      cs->next_id = g_ascii_strtoull (arg, NULL, 10);
      g_string_append_printf (reply, "next ConnectID %" G_GUINT64_FORMAT, cs->next_id);
    }
  else if (!strcmp (cmd, "stream-raw") || !strcmp (cmd, "stream-close-connect"))
    {
      g_autoptr (GByteArray) m = g_byte_array_new ();
      guint sent = 0;
      if (!strcmp (cmd, "stream-close-connect"))
        {
          if (cs->opt.v192)
            {
              g_string_append (reply, "error: CloudCore v1.9.2 has no CLOSE_CONNECT");
              return TRUE;
            }
          append_uvarint (m, 0);
          append_uvarint (m, T_CLOSE);
          g_byte_array_append (m, (const guint8 *) arg, (guint) strlen (arg));
        }
      else if (!parse_hex (arg, m))
        {
          g_string_append (reply, "error: stream-raw HEX");
          return TRUE;
        }
      for (GList *l = cs->all; l; l = l->next)
        {
          Session *s = l->data;
          writer_push (s->w, ws_frame (0x1, m->data, m->len));
          sent++;
        }
      g_string_append_printf (reply, "sent %u byte(s) to %u session(s)", m->len, sent);
    }
  else if (!strcmp (cmd, "stream-pause"))
    {
      cs->paused = !strcmp (arg, "on");
      if (!cs->paused)
        for (GList *l = cs->all; l; l = l->next)
          {
            Session *s = l->data;
            if (s->read_stopped)
              {
                s->read_stopped = FALSE;
                session_read (s);
              }
          }
      g_string_append_printf (reply, "tunnels %s", cs->paused ? "not read" : "read");
    }
  else if (!strcmp (cmd, "stream-drop"))
    {
      guint n = 0;
      while (cs->all)
        {
          Session *s = cs->all->data;
          GSocket *sock = find_socket (s->io);
          if (sock)
            g_socket_shutdown (sock, TRUE, TRUE, NULL);
          session_close (s, "dropped by command");
          n++;
        }
      g_string_append_printf (reply, "dropped %u session(s)", n);
    }
  else if (!strcmp (cmd, "stream-status"))
    {
      guint conns = 0;
      for (GList *l = cs->all; l; l = l->next)
        conns += g_hash_table_size (((Session *) l->data)->conns);
      g_string_append_printf (reply, "stream sessions=%u conns=%u next-id=%" G_GUINT64_FORMAT,
                              g_list_length (cs->all), conns, cs->next_id);
    }
  else
    g_string_append_printf (reply, "error: unknown command %s", cmd);
  return TRUE;
}

/* Starts both servers. */
CsStream *
cs_stream_new (CsHub *hub, const CsStreamOptions *options, GError **error)
{
  CsStream *cs = g_new0 (CsStream, 1);
  GSList *uris;
  cs->hub = hub;
  cs->opt = *options;
  cs->next_id = 1;
  cs->sessions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) session_unref);
  cs->pods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  cs->tunnel = cs_hub_new_tls_server (hub, options->tunnel_port, TRUE, &cs->tunnel_port, &cs->tunnel_tls, error);
  if (!cs->tunnel)
    {
      cs_stream_free (cs);
      return NULL;
    }
  soup_server_add_handler (cs->tunnel, NULL, on_tunnel_request, cs, NULL);
  if (options->api_tls)
    {
      cs->api = cs_hub_new_tls_server (hub, options->api_port, FALSE, &cs->api_port, &cs->api_tls, error);
      if (!cs->api)
        {
          cs_stream_free (cs);
          return NULL;
        }
    }
  else
    {
      cs->api = soup_server_new (NULL, NULL);
      if (!soup_server_listen_local (cs->api, options->api_port, SOUP_SERVER_LISTEN_IPV4_ONLY, error))
        {
          cs_stream_free (cs);
          return NULL;
        }
      uris = soup_server_get_uris (cs->api);
      cs->api_port = uris ? (guint) g_uri_get_port (uris->data) : options->api_port;
      g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
    }
  soup_server_add_handler (cs->api, NULL, on_api_request, cs, NULL);
  {
    g_autofree char *f = g_strdup_printf (",\"tunnel_port\":%u,\"stream_port\":%u", cs->tunnel_port, cs->api_port);
    cs_hub_record (hub, "stream-start", f);
  }
  return cs;
}

/* Stops both servers and ends every session. */
void
cs_stream_free (CsStream *cs)
{
  if (!cs)
    return;
  while (cs->all)
    session_close (cs->all->data, "cloudsim stops");
  if (cs->tunnel)
    soup_server_disconnect (cs->tunnel);
  cs_tls_free (cs->tunnel_tls);
  g_clear_object (&cs->tunnel);
  if (cs->api)
    soup_server_disconnect (cs->api);
  cs_tls_free (cs->api_tls);
  g_clear_object (&cs->api);
  g_hash_table_unref (cs->sessions);
  g_hash_table_unref (cs->pods);
  g_free (cs);
}

guint
cs_stream_get_tunnel_port (CsStream *cs)
{
  return cs->tunnel_port;
}

guint
cs_stream_get_api_port (CsStream *cs)
{
  return cs->api_port;
}
