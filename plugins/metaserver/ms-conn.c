/* ms-conn.c: limits on metaserver's HTTP connections, which libsoup's
 * SoupServer does not have: a cap on open connections, a time for a
 * request's headers, one for its headers and body, and one for an idle
 * kept-alive connection. Without them a slowloris (clients that open a
 * connection and send a request a byte at a time, or nothing) holds a
 * socket and its buffers for ever.
 *
 * libsoup announces each request it starts to read ("request-started":
 * right after the accept for a connection's first request, before any TLS
 * handshake; on a kept-alive one, when the next request's first bytes
 * arrive); the connection is told apart by its GSocket. Timing follows Go's
 * http.Server, as kube-apiserver uses it: headers from the accept or the
 * first byte, the idle time from the end of the last answer. A request in the handler (an answer being
 * made, a watch streaming) is never timed out.
 *
 * Between requests a connection is followed by a Keepalive (plugins/shared/
 * keepalive.c): libsoup 3.2 keeps a kept-alive connection whose client
 * has left (its socket in CLOSE-WAIT) for ever, and the Keepalive closes
 * it, as it closes an idle or evicted one. A connection in a request is
 * closed by shutting its socket down: libsoup's reader meets the end and
 * disconnects it as when the client leaves. */
#include "ms.h"
#include "keepalive.h"

#include <sys/socket.h>

typedef enum {
  CONN_NEW,       /* accepted; its first request's headers are awaited */
  CONN_IDLE,      /* answered and kept alive, no byte of the next request yet */
  CONN_HEADERS,   /* the next request has begun; its headers are awaited */
  CONN_BODY,      /* headers in, the body is awaited */
  CONN_HANDLED,   /* read whole: being answered (or a watch) */
} ConnState;

typedef struct {
  MsConnLimits *limits;
  guint         id;
  GSocket      *sock;
  Keepalive    *ka;            /* NULL without a socket */
  ConnState     state;
  gboolean      closing;       /* shut down by us; libsoup has yet to see it */
  gint64        started;       /* monotonic µs the current request began */
  guint         timer;
  GList        *link;          /* in limits->order, oldest first */
} Conn;

struct _MsConnLimits {
  gint         refcount;       /* the owner, and each message handler */
  gboolean     dead;           /* freed by the owner: handlers do nothing */
  MetaServer  *ms;             /* not owned */
  SoupServer  *server;         /* not owned */
  gulong       started_id;
  GHashTable  *by_socket;      /* GSocket* -> Conn* */
  GHashTable  *by_id;          /* id -> Conn* */
  GQueue       order;          /* Conn*, oldest first */
  guint        closing;        /* closed by us, not yet disconnected */
  guint        next_id;
  MsConnConfig config;
  guint        closed_slow;    /* counters, logged at the end */
  guint        closed_idle;
  guint        evicted;
  guint        refused;
};

static MsConnLimits *
limits_ref (MsConnLimits *l)
{
  l->refcount++;
  return l;
}

static void
limits_unref (MsConnLimits *l)
{
  if (--l->refcount == 0)
    g_free (l);
}

static void
limits_closure_unref (gpointer data, GClosure *closure)
{
  limits_unref (data);
}

static void
conn_clear_timers (Conn *c)
{
  g_clear_handle_id (&c->timer, g_source_remove);
}

static void
conn_free (Conn *c)
{
  conn_clear_timers (c);
  keepalive_free (c->ka);
  g_object_unref (c->sock);
  g_free (c);
}

/* Forgets a connection (libsoup disconnected it). */
static void
conn_remove (MsConnLimits *l, Conn *c)
{
  if (c->closing)
    l->closing--;
  g_queue_delete_link (&l->order, c->link);
  g_hash_table_remove (l->by_id, GUINT_TO_POINTER (c->id));
  g_hash_table_remove (l->by_socket, c->sock);
  conn_free (c);
}

/* The Keepalive closed c and libsoup will not disconnect it. */
static void
on_keepalive_gone (gpointer data)
{
  Conn *c = data;
  conn_remove (c->limits, c);
}

/* Closes a connection, and frees it at once when it is between requests
 * (c is not to be used after); else libsoup's read meets the end and
 * disconnects it. */
static void
conn_close (Conn *c, const char *why)
{
  conn_clear_timers (c);
  if (c->closing)
    return;
  ec_log_debug (c->limits->ms->context, "closing HTTP connection %u: %s", c->id, why);
  if (c->state == CONN_IDLE && keepalive_close (c->ka))
    return;
  c->closing = TRUE;
  c->limits->closing++;
  g_socket_shutdown (c->sock, TRUE, TRUE, NULL);
}

static gboolean
on_deadline (gpointer data)
{
  Conn *c = data;
  MsConnLimits *l = c->limits;
  c->timer = 0;
  switch (c->state)
    {
    case CONN_IDLE:
      l->closed_idle++;
      conn_close (c, "idle-timeout");
      break;
    case CONN_NEW:
    case CONN_HEADERS:
      l->closed_slow++;
      conn_close (c, "read-header-timeout");
      break;
    case CONN_BODY:
      l->closed_slow++;
      conn_close (c, "read-timeout");
      break;
    case CONN_HANDLED:
    default:
      break;
    }
  return G_SOURCE_REMOVE;
}

/* Arms the deadline at started + seconds (0: none). */
static void
conn_arm (Conn *c, guint seconds)
{
  gint64 left_ms;
  g_clear_handle_id (&c->timer, g_source_remove);
  if (seconds == 0)
    return;
  left_ms = (c->started + (gint64) seconds * G_USEC_PER_SEC - g_get_monotonic_time ()) / 1000;
  c->timer = g_timeout_add_full (G_PRIORITY_DEFAULT, (guint) CLAMP (left_ms, 0, G_MAXUINT), on_deadline,
                                 c, NULL);
}

static Conn *
conn_of (MsConnLimits *l, SoupServerMessage *msg)
{
  guint id;
  if (l->dead)
    return NULL;
  id = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (msg), "ms-conn-id"));
  return id ? g_hash_table_lookup (l->by_id, GUINT_TO_POINTER (id)) : NULL;
}

static void
on_got_headers (SoupServerMessage *msg, gpointer data)
{
  Conn *c = conn_of (data, msg);
  if (!c || c->state == CONN_HANDLED)
    return;
  c->state = CONN_BODY;
  conn_arm (c, c->limits->config.read_timeout);
}

static void
on_got_body (SoupServerMessage *msg, gpointer data)
{
  Conn *c = conn_of (data, msg);
  if (!c)
    return;
  conn_clear_timers (c);
  c->state = CONN_HANDLED;
}

/* The answer is out: a kept-alive connection now waits for its next
 * request, whose first byte libsoup announces as request-started. (Run
 * after msg's other "finished" handlers: the Keepalive empties msg.) A
 * connection that is not kept alive is disconnected by libsoup right
 * after. */
static void
on_finished (SoupServerMessage *msg, gpointer data)
{
  Conn *c = conn_of (data, msg);
  if (!c || c->closing)
    return;
  c->state = CONN_IDLE;
  c->started = g_get_monotonic_time ();
  conn_arm (c, c->limits->config.idle_timeout);
  keepalive_idle (c->ka, msg);
}

static void
on_disconnected (SoupServerMessage *msg, gpointer data)
{
  MsConnLimits *l = data;
  Conn *c = conn_of (l, msg);
  if (c)
    conn_remove (l, c);
}

/* The oldest connection that is not in a request's handler, to make room. */
static Conn *
oldest_waiting (MsConnLimits *l)
{
  for (GList *it = l->order.head; it; it = it->next)
    {
      Conn *c = it->data;
      if (c->state != CONN_HANDLED && !c->closing)
        return c;
    }
  return NULL;
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  MsConnLimits *l = data;
  GSocket *sock = soup_server_message_get_socket (msg);
  Conn *c;

  if (!sock || l->dead)
    return;
  c = g_hash_table_lookup (l->by_socket, sock);
  if (!c)
    {
      if (l->config.max_connections > 0
          && g_hash_table_size (l->by_socket) - l->closing >= l->config.max_connections)
        {
          Conn *victim = oldest_waiting (l);
          if (victim)
            {
              l->evicted++;
              /* freed at once between requests; else it stays counted
               * until libsoup disconnects it */
              conn_close (victim, "max-connections reached; making room");
            }
          else
            {
              /* every connection is in a handler (watches): no room */
              l->refused++;
              ec_log_debug (l->ms->context, "refusing an HTTP connection: max-connections (%u) in use",
                            l->config.max_connections);
              g_socket_shutdown (sock, TRUE, TRUE, NULL);
              return;
            }
        }
      c = g_new0 (Conn, 1);
      c->limits = l;
      c->id = ++l->next_id ? l->next_id : ++l->next_id;
      c->sock = g_object_ref (sock);
      c->ka = keepalive_new (msg, on_keepalive_gone, c);
      c->state = CONN_NEW;
      g_queue_push_tail (&l->order, c);
      c->link = l->order.tail;
      g_hash_table_insert (l->by_socket, sock, c);
      g_hash_table_insert (l->by_id, GUINT_TO_POINTER (c->id), c);
      c->started = g_get_monotonic_time ();
      conn_arm (c, l->config.read_header_timeout);
    }
  else if (!c->closing)
    {
      /* the first bytes of the next request on a kept-alive connection */
      keepalive_request (c->ka, msg);
      c->state = CONN_HEADERS;
      c->started = g_get_monotonic_time ();
      conn_arm (c, l->config.read_header_timeout);
    }
  /* (a connection being closed still learns of its end) */
  g_object_set_data (G_OBJECT (msg), "ms-conn-id", GUINT_TO_POINTER (c->id));
  /* each handler holds the limits: a message may outlive them */
  g_signal_connect_data (msg, "got-headers", G_CALLBACK (on_got_headers), limits_ref (l),
                         limits_closure_unref, 0);
  g_signal_connect_data (msg, "got-body", G_CALLBACK (on_got_body), limits_ref (l),
                         limits_closure_unref, 0);
  g_signal_connect_data (msg, "finished", G_CALLBACK (on_finished), limits_ref (l),
                         limits_closure_unref, G_CONNECT_AFTER);
  g_signal_connect_data (msg, "disconnected", G_CALLBACK (on_disconnected), limits_ref (l),
                         limits_closure_unref, 0);
}

/**
 * ms_conn_limits_new:
 * Watches server's connections and applies config to them. The limits
 * must be freed (ms_conn_limits_free) before the server.
 */
MsConnLimits *
ms_conn_limits_new (MetaServer *ms, SoupServer *server, const MsConnConfig *config)
{
  MsConnLimits *l = g_new0 (MsConnLimits, 1);
  l->refcount = 1;
  l->ms = ms;
  l->server = server;
  l->config = *config;
  l->by_socket = g_hash_table_new (NULL, NULL);
  l->by_id = g_hash_table_new (NULL, NULL);
  g_queue_init (&l->order);
  l->started_id = g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), l);
  return l;
}

/**
 * ms_conn_limits_free:
 * Stops watching the server and forgets its connections. Handlers left on
 * messages still alive do nothing from now on.
 */
void
ms_conn_limits_free (MsConnLimits *l)
{
  Conn *c;
  if (!l)
    return;
  g_signal_handler_disconnect (l->server, l->started_id);
  if (l->closed_slow || l->closed_idle || l->evicted || l->refused)
    ec_log_info (l->ms->context, "HTTP connections closed by the limits: %u slow requests, %u idle, "
                 "%u to make room, %u refused", l->closed_slow, l->closed_idle, l->evicted, l->refused);
  while ((c = g_queue_pop_head (&l->order)))
    conn_free (c);
  g_clear_pointer (&l->by_socket, g_hash_table_unref);
  g_clear_pointer (&l->by_id, g_hash_table_unref);
  l->dead = TRUE;
  limits_unref (l);
}
