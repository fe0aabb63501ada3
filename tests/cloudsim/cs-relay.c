/* cs-relay.c: listens on 127.0.0.1:port and copies bytes both ways between
 * each client and 127.0.0.1:target_port (TLS passes through untouched).
 * cs_relay_silence() freezes every connection open at that moment: nothing
 * more is read from either side or forwarded, and the sockets stay open, as
 * a cloud that hangs without closing TCP. Frozen connections are closed
 * when the relay is freed. */
#include "cs-relay.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#define CHUNK 65536

typedef struct _Pair Pair;

/* One direction of a pair. */
typedef struct {
  Pair          *pair;
  GInputStream  *in;
  GOutputStream *out;
  guint8         buf[CHUNK];
  gboolean       busy;      /* a read or write is in flight */
} Pump;

struct _Pair {
  CsRelay           *relay;
  GSocketConnection *client, *server;
  Pump               up, down;
  gboolean           frozen;
  gboolean           closed;
  GCancellable      *cancel;
};

struct _CsRelay {
  GSocketService *service;
  guint           port, target_port;
  GList          *pairs;
};

static void pump_read (Pump *p);

static guint live_pairs;   /* pairs not freed yet, across relays */

/* Frees a pair once neither direction has an operation in flight. */
static void
pair_maybe_free (Pair *pair)
{
  if (!pair->closed || pair->up.busy || pair->down.busy)
    return;
  g_clear_object (&pair->client);
  g_clear_object (&pair->server);
  g_clear_object (&pair->cancel);
  g_free (pair);
  live_pairs--;
}

/* Closes both sockets of a pair and forgets it. */
static void
pair_close (Pair *pair)
{
  if (pair->closed)
    return;
  pair->closed = TRUE;
  if (pair->relay)
    pair->relay->pairs = g_list_remove (pair->relay->pairs, pair);
  pair->relay = NULL;
  g_cancellable_cancel (pair->cancel);
  g_io_stream_close (G_IO_STREAM (pair->client), NULL, NULL);
  if (pair->server)
    g_io_stream_close (G_IO_STREAM (pair->server), NULL, NULL);
  pair_maybe_free (pair);
}

/* A chunk was forwarded: read the next one. */
static void
on_written (GObject *source, GAsyncResult *res, gpointer data)
{
  Pump *p = data;
  gboolean ok = g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, NULL);
  p->busy = FALSE;
  if (p->pair->closed)
    {
      pair_maybe_free (p->pair);
      return;
    }
  if (!ok)
    pair_close (p->pair);
  else if (!p->pair->frozen)
    pump_read (p);
}

/* A chunk arrived: forward it, unless the relay went silent. */
static void
on_read (GObject *source, GAsyncResult *res, gpointer data)
{
  Pump *p = data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, NULL);
  p->busy = FALSE;
  if (p->pair->closed)
    {
      pair_maybe_free (p->pair);
      return;
    }
  if (p->pair->frozen)
    return;   /* silent: the chunk is swallowed, nothing more is read */
  if (n <= 0)
    {
      pair_close (p->pair);
      return;
    }
  p->busy = TRUE;
  g_output_stream_write_all_async (p->out, p->buf, (gsize) n, G_PRIORITY_DEFAULT, p->pair->cancel,
                                   on_written, p);
}

/* Reads the next chunk of one direction. */
static void
pump_read (Pump *p)
{
  p->busy = TRUE;
  g_input_stream_read_async (p->in, p->buf, CHUNK, G_PRIORITY_DEFAULT, p->pair->cancel, on_read, p);
}

/* A client came: connect to the hub and start copying. */
static gboolean
on_incoming (GSocketService *service, GSocketConnection *client, GObject *source, gpointer data)
{
  CsRelay *relay = data;
  g_autoptr (GSocketClient) sc = g_socket_client_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *target = g_strdup_printf ("127.0.0.1:%u", relay->target_port);
  GSocketConnection *server = g_socket_client_connect_to_host (sc, target, relay->target_port, NULL, &error);
  Pair *pair;

  if (!server)
    {
      g_printerr ("relay: cannot reach the hub at %s: %s\n", target, error->message);
      g_io_stream_close (G_IO_STREAM (client), NULL, NULL);
      return TRUE;
    }
  g_socket_set_option (g_socket_connection_get_socket (server), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  g_socket_set_option (g_socket_connection_get_socket (client), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  pair = g_new0 (Pair, 1);
  live_pairs++;
  pair->relay = relay;
  pair->client = g_object_ref (client);
  pair->server = server;
  pair->cancel = g_cancellable_new ();
  pair->up = (Pump) { pair, g_io_stream_get_input_stream (G_IO_STREAM (client)),
                      g_io_stream_get_output_stream (G_IO_STREAM (server)), { 0 }, FALSE };
  pair->down = (Pump) { pair, g_io_stream_get_input_stream (G_IO_STREAM (server)),
                        g_io_stream_get_output_stream (G_IO_STREAM (client)), { 0 }, FALSE };
  relay->pairs = g_list_prepend (relay->pairs, pair);
  pump_read (&pair->up);
  pump_read (&pair->down);
  return TRUE;
}

/* Listens on 127.0.0.1:port (0 = any free port). */
CsRelay *
cs_relay_new (guint port, guint target_port, GError **error)
{
  CsRelay *relay = g_new0 (CsRelay, 1);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) addr = g_inet_socket_address_new (lo, (guint16) port);
  g_autoptr (GSocketAddress) bound = NULL;

  relay->target_port = target_port;
  relay->service = g_socket_service_new ();
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (relay->service), addr, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, &bound, error))
    {
      cs_relay_free (relay);
      return NULL;
    }
  relay->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_signal_connect (relay->service, "incoming", G_CALLBACK (on_incoming), relay);
  g_socket_service_start (relay->service);
  return relay;
}

/* Closes every connection and stops listening. */
void
cs_relay_free (CsRelay *relay)
{
  if (!relay)
    return;
  while (relay->pairs)
    pair_close (relay->pairs->data);
  /* let the cancelled reads and writes finish so the pairs are freed */
  for (guint i = 0; live_pairs > 0 && i < 200; i++)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (1000);
  if (relay->service)
    {
      g_socket_service_stop (relay->service);
      g_socket_listener_close (G_SOCKET_LISTENER (relay->service));
      g_object_unref (relay->service);
    }
  g_free (relay);
}

/* The port clients connect to. */
guint
cs_relay_get_port (CsRelay *relay)
{
  return relay->port;
}

/* Freezes every open connection; returns how many. */
guint
cs_relay_silence (CsRelay *relay)
{
  guint n = 0;
  for (GList *l = relay->pairs; l; l = l->next)
    {
      Pair *pair = l->data;
      if (!pair->frozen)
        n++;
      pair->frozen = TRUE;
    }
  return n;
}
