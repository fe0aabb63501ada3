/* link.c: the websocket to cloudhub (reference kubeedge-edgehub-cloudhub.md
 * section 2): wss://<server>/<project-id>/<node>/events with the headers
 * node_id, project_id and ConnectionUse: msg, the node's client
 * certificate, the server verified against the cloud CA (host name
 * included), no extensions, one JSON message per text frame, a keepalive
 * message right after connecting and every heartbeat seconds. Liveness:
 * websocket pings (answered by any RFC 6455 peer, Go's gorilla included)
 * when the link is idle and after each batch of writes; a cloud that sends
 * nothing, not even a pong, for websocket-read-deadline, or that leaves a
 * written message unread (no pong to a later ping) for
 * websocket-write-deadline, is treated as gone. When the link fails it is
 * dialled again after a bounded exponential backoff with jitter. Connects
 * and disconnects are broadcast on the bus. */
#include "edgehub-private.h"
#include "http.h"
#include "tls.h"
#include "ws-conn.h"

#include <openssl/rand.h>
#include <string.h>

/* The hard limit of a frame and of a reassembled message, far above any
 * real message (a bigger one closes the link, code 1009); the configured
 * websocket-max-message-size is enforced per message on top of it without
 * closing the link. */
#define HARD_FRAME_LIMIT (256 * 1024 * 1024)

/* A dial in flight. It outlives the plugin if the plugin stops first: then
 * `abandoned` is set and its callback touches nothing else. */
typedef struct {
  EdgeHub             *self;
  gboolean             abandoned;
  gboolean             timed_out;
  GCancellable        *cancel;
  char                *url;
  char                *host;
  guint16              port;
  char                *key;        /* Sec-WebSocket-Key */
  EhTlsStream         *stream;
} Dial;

static Dial *current_dial (EdgeHub *self);
static void  try_connect (EdgeHub *self);

/* Frees a dial. */
static void
dial_free (Dial *d)
{
  g_clear_object (&d->cancel);
  g_clear_object (&d->stream);
  g_free (d->url);
  g_free (d->host);
  g_free (d->key);
  g_free (d);
}

/* Builds and broadcasts the connection state (docs/bus-contracts.md). */
static void
broadcast_state (EdgeHub *self, gboolean connected)
{
  g_autoptr (EcMessage) m = ec_message_new_cloud_state (connected);
  ec_endpoint_broadcast (self->endpoint, m);
}

/* Sends the keepalive: resource node, operation keepalive, content "ping". */
static void
send_keepalive (EdgeHub *self)
{
  g_autoptr (EcMessage) m = ec_message_new (EDGEHUB_BUS_NAME, "resource", EC_OP_KEEPALIVE, "node");
  ec_message_set_content_string (m, "ping");
  eh_write_message (self, m);
}

/* The heartbeat timer. */
static gboolean
on_heartbeat (gpointer data)
{
  send_keepalive (data);
  return G_SOURCE_CONTINUE;
}

/* Dials again when the backoff wait is over. */
static gboolean
on_reconnect_due (gpointer data)
{
  EdgeHub *self = data;
  self->reconnect_source = 0;
  try_connect (self);
  return G_SOURCE_REMOVE;
}

/* Plans the next attempt after the backoff wait. */
static void
schedule_reconnect (EdgeHub *self)
{
  guint ms;
  if (!self->running || self->reconnect_source)
    return;
  ms = eh_backoff_next (&self->backoff, NULL);
  ec_log_info (self->context, "next connection attempt in %.1f s", ms / 1000.0);
  self->reconnect_source = g_timeout_add (ms, on_reconnect_due, self);
}

/* Forgets the websocket: signals, timers, state. */
static void
drop_socket (EdgeHub *self)
{
  if (self->liveness_source)
    g_source_remove (self->liveness_source);
  self->liveness_source = 0;
  if (self->ping_source)
    g_source_remove (self->ping_source);
  self->ping_source = 0;
  self->ping_outstanding = FALSE;
  if (!self->ws)
    return;
  ec_metric_set (self->m.connected, 0);
  /* a close frame with 1001 if it can go at once, then the stream closes */
  eh_ws_conn_free (self->ws, EH_WS_CLOSE_GOING_AWAY);
  self->ws = NULL;
  if (self->keepalive_source)
    g_source_remove (self->keepalive_source);
  self->keepalive_source = 0;
}

/* The link is gone: forget it, requeue what the cloud may not have read,
 * tell the bus, plan the next dial. */
static void
link_down (EdgeHub *self, EhDisconnect reason)
{
  gint64 up_s = (g_get_monotonic_time () - self->connected_at) / G_USEC_PER_SEC;
  ec_metric_add (self->m.disconnects[reason], 1);
  drop_socket (self);
  eh_uplink_link_lost (self);
  broadcast_state (self, FALSE);
  if (up_s >= 10)
    eh_backoff_reset (&self->backoff);
  schedule_reconnect (self);
}

/* The link went down. */
static void
on_closed (EhWsConn *ws, gpointer data)
{
  EdgeHub *self = data;
  guint code = eh_ws_conn_get_close_code (ws);
  const char *reason = eh_ws_conn_get_close_reason (ws);
  gint64 up_s = (g_get_monotonic_time () - self->connected_at) / G_USEC_PER_SEC;

  ec_log_warning (self->context, "connection to the cloud closed after %" G_GINT64_FORMAT " s "
                  "(close code %u%s%s); %u message(s) wait for the cloud", up_s, code,
                  reason && *reason ? ", " : "", reason ? reason : "",
                  eh_uplink_length (self->uplink));
  link_down (self, EH_DISCONNECT_CLOSED);
}

/* The cloud stopped answering: shut the socket down at once (a TLS close
 * would wait on a peer that does not read) and reconnect. */
static void
link_dead (EdgeHub *self, EhDisconnect reason, const char *why)
{
  GIOStream *io = eh_ws_conn_get_stream (self->ws);
  GSocket *sock = EH_IS_TLS_STREAM (io) ? eh_tls_stream_get_socket (EH_TLS_STREAM (io)) : NULL;
  ec_log_warning (self->context, "the cloud is not answering: %s; dropping the connection after %"
                  G_GINT64_FORMAT " s, %u message(s) wait for the cloud", why,
                  (g_get_monotonic_time () - self->connected_at) / G_USEC_PER_SEC,
                  eh_uplink_length (self->uplink));
  if (sock)
    g_socket_shutdown (sock, TRUE, TRUE, NULL);
  link_down (self, reason);
}

/* Sends the next ping, after everything queued; its pong proves the cloud
 * read everything before. The payload names the ping. */
static void
send_ping (EdgeHub *self)
{
  char payload[40];
  int n = g_snprintf (payload, sizeof payload, "edgecore-%" G_GUINT64_FORMAT, self->ping_next);
  if (!eh_link_is_up (self) || !eh_ws_conn_send (self->ws, EH_WS_PING, (const guint8 *) payload, (gsize) n))
    return;
  self->ping_next++;
  self->ping_outstanding = TRUE;
}

/* Sends the ping that writes asked for. */
static gboolean
on_ping_due (gpointer data)
{
  EdgeHub *self = data;
  self->ping_source = 0;
  if (!self->ping_outstanding)
    send_ping (self);
  return G_SOURCE_REMOVE;
}

/* A message was just written: returns the number of the ping whose pong
 * will prove the cloud read it, and makes sure that ping is sent. */
guint64
eh_link_request_ping (EdgeHub *self)
{
  if (!self->ping_outstanding && !self->ping_source)
    self->ping_source = g_idle_add_full (G_PRIORITY_DEFAULT, on_ping_due, self, NULL);
  return self->ping_next;
}

/* A pong: the cloud is alive, and read everything written before the ping
 * that waits for it (one ping at a time, so pongs need no matching; the
 * payload is not read). */
static void
on_pong (EhWsConn *ws, const guint8 *payload, gsize len, gpointer data)
{
  EdgeHub *self = data;
  self->last_rx = g_get_monotonic_time ();
  if (!self->ping_outstanding)
    return;   /* unsolicited */
  self->ping_outstanding = FALSE;
  eh_uplink_confirm (self, self->ping_next - 1);
  if (eh_uplink_has_unread (self))
    eh_link_request_ping (self);
}

/* Checks the deadlines, and pings an idle link so that a live cloud has
 * something to answer. */
static gboolean
on_liveness (gpointer data)
{
  EdgeHub *self = data;
  gint64 now = g_get_monotonic_time ();
  gint64 rd = self->cfg.read_deadline_s * G_USEC_PER_SEC;
  gint64 wd = self->cfg.write_deadline_s * G_USEC_PER_SEC;
  gint64 oldest = eh_uplink_oldest_unread (self);

  if (!eh_link_is_up (self))
    return G_SOURCE_CONTINUE;
  if (rd > 0 && now - self->last_rx > rd)
    {
      g_autofree char *why = g_strdup_printf ("nothing, not even a pong, came from it for %.1f s "
                                              "(websocket-read-deadline %" G_GINT64_FORMAT " s)",
                                              (now - self->last_rx) / 1e6, self->cfg.read_deadline_s);
      self->n.dead_read++;
      self->liveness_source = 0;
      link_dead (self, EH_DISCONNECT_READ_DEADLINE, why);
      return G_SOURCE_REMOVE;
    }
  if (wd > 0 && oldest && now - oldest > wd)
    {
      g_autofree char *why = g_strdup_printf ("a message written %.1f s ago is still not read by it "
                                              "(websocket-write-deadline %" G_GINT64_FORMAT " s)",
                                              (now - oldest) / 1e6, self->cfg.write_deadline_s);
      self->n.dead_write++;
      self->liveness_source = 0;
      link_dead (self, EH_DISCONNECT_WRITE_DEADLINE, why);
      return G_SOURCE_REMOVE;
    }
  if (!self->ping_outstanding && now - self->last_rx >= MAX (rd, wd) / 4)
    send_ping (self);
  return G_SOURCE_CONTINUE;
}

/* Starts watching the link's deadlines. */
static void
start_liveness (EdgeHub *self)
{
  gint64 rd = self->cfg.read_deadline_s, wd = self->cfg.write_deadline_s;
  gint64 shortest = rd && wd ? MIN (rd, wd) : MAX (rd, wd);
  self->last_rx = g_get_monotonic_time ();
  if (shortest <= 0)
    return;
  /* a check every fifth of the shortest deadline, between 0.2 and 1 s */
  self->liveness_source = g_timeout_add ((guint) CLAMP (shortest * 1000 / 5, 200, 1000), on_liveness, self);
}

/* A protocol or I/O error on the link; "closed" follows. */
static void
on_ws_error (EhWsConn *ws, const GError *error, gpointer data)
{
  EdgeHub *self = data;
  ec_log_warning (self->context, "websocket error: %s", error->message);
}

/* A message (text or binary) from the cloud. */
static void
on_ws_message (EhWsConn *ws, guint8 opcode, const guint8 *data, gsize len, gpointer user)
{
  ((EdgeHub *) user)->last_rx = g_get_monotonic_time ();
  eh_downlink_receive (user, (const char *) data, len);
}

/* The handshake took too long. */
static gboolean
on_dial_timeout (gpointer data)
{
  EdgeHub *self = data;
  Dial *d = current_dial (self);
  self->dial_timeout_source = 0;
  if (d)
    {
      d->timed_out = TRUE;
      g_cancellable_cancel (d->cancel);
    }
  return G_SOURCE_REMOVE;
}

/* A dial failed: say why (once per cause), plan the next. */
static void
dial_failed (EdgeHub *self, Dial *d, GError *error)
{
  g_autofree char *key = NULL;
  if (d->timed_out && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    eh_log_failure (self, "dial: timeout", "cannot connect to %s: no handshake within %" G_GINT64_FORMAT " s",
                    d->url, self->cfg.handshake_timeout_s);
  else if (error->domain == EH_TLS_ERROR && error->code != EH_TLS_ERROR_PROTOCOL)
    {
      key = eh_failure_key ("dial", error);
      eh_log_failure (self, key, "TLS refused (%s) at %s: %s%s%s", eh_tls_error_cause (error), d->url,
                      error->message,
                      error->code == EH_TLS_ERROR_CLIENT_REFUSED ? "; node certificate " : "",
                      error->code == EH_TLS_ERROR_CLIENT_REFUSED ? self->cfg.cert_file : "");
    }
  else
    {
      key = eh_failure_key ("dial", error);
      eh_log_failure (self, key, "cannot connect to %s: %s", d->url, error->message);
    }
  if (self->dial_timeout_source)
    g_source_remove (self->dial_timeout_source);
  self->dial_timeout_source = 0;
  self->dial = NULL;
  dial_free (d);
  ec_metric_add (self->m.dial_failures, 1);
  schedule_reconnect (self);
}

/* The websocket is up: start the session. */
static void
link_up (EdgeHub *self, Dial *d)
{
  static const EhWsConnEvents events = { on_ws_message, on_pong, on_ws_error, on_closed };
  /* frames not yet handed to TLS: as many as the uplink keeps while the
   * cloud is away; more means the cloud does not read, the link fails and
   * what it did not confirm reading is queued again */
  self->ws = eh_ws_conn_new (G_IO_STREAM (d->stream), HARD_FRAME_LIMIT, (guint) MAX (self->cfg.uplink_limit, 1),
                             &events, self);
  self->connected_at = g_get_monotonic_time ();
  self->n.connects++;
  ec_metric_add (self->m.connects, 1);
  ec_metric_set (self->m.connected, 1);
  eh_log_failure (self, NULL, NULL);
  ec_log_message (self->context, "connected to the cloud at %s as node %s", d->url, self->cfg.node);
  dial_free (d);
  start_liveness (self);
  send_keepalive (self);
  self->keepalive_source = g_timeout_add_seconds ((guint) MAX (self->cfg.heartbeat_s, 1), on_heartbeat, self);
  broadcast_state (self, TRUE);
  eh_uplink_flush (self);
}

/* The cloud answered the upgrade. */
static void
on_upgraded (GObject *source, GAsyncResult *res, gpointer data)
{
  Dial *d = data;
  EdgeHub *self = d->self;
  g_autoptr (GError) error = NULL;
  g_autoptr (EhHttpResponse) r = eh_http_exchange_finish (res, &error);
  g_autofree char *want = NULL;
  const char *accept;

  if (d->abandoned)
    {
      dial_free (d);
      return;
    }
  if (r && r->status != 101)
    g_set_error (&error, EH_TLS_ERROR, EH_TLS_ERROR_PROTOCOL, "the cloud answered %u %s instead of "
                 "switching to the websocket protocol", r->status, r->reason);
  else if (r)
    {
      want = eh_ws_accept_key (d->key);
      accept = g_hash_table_lookup (r->headers, "sec-websocket-accept");
      if (g_strcmp0 (accept, want) != 0)
        g_set_error (&error, EH_TLS_ERROR, EH_TLS_ERROR_PROTOCOL, "the cloud's websocket answer has a wrong "
                     "Sec-WebSocket-Accept");
    }
  if (error)
    {
      g_io_stream_close (G_IO_STREAM (d->stream), NULL, NULL);
      dial_failed (self, d, error);
      return;
    }
  self->dial = NULL;
  if (self->dial_timeout_source)
    g_source_remove (self->dial_timeout_source);
  self->dial_timeout_source = 0;
  link_up (self, d);
}

/* TLS is up and the cloud verified: ask for the websocket. */
static void
on_dialed (GObject *source, GAsyncResult *res, gpointer data)
{
  Dial *d = data;
  EdgeHub *self = d->self;
  g_autoptr (GError) error = NULL;
  g_autofree char *head = NULL;
  guint8 nonce[16];

  d->stream = eh_tls_connect_finish (res, &error);
  if (d->abandoned)
    {
      dial_free (d);
      return;
    }
  if (!d->stream)
    {
      dial_failed (self, d, error);
      return;
    }
  if (RAND_bytes (nonce, sizeof nonce) != 1)
    for (guint i = 0; i < sizeof nonce; i++)
      nonce[i] = (guchar) g_random_int ();   /* a key, not a secret (RFC 6455) */
  d->key = g_base64_encode (nonce, sizeof nonce);
  head = g_strdup_printf ("GET /%s/%s/events HTTP/1.1\r\nHost: %s\r\nUser-Agent: edgecore\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                          "Sec-WebSocket-Version: 13\r\nnode_id: %s\r\nproject_id: %s\r\n"
                          "ConnectionUse: msg\r\n\r\n", self->cfg.project_id, self->cfg.node,
                          self->cfg.server, d->key, self->cfg.node, self->cfg.project_id);
  eh_http_exchange_async (d->stream, head, NULL, FALSE, 0, d->cancel, on_upgraded, d);
}

/* The dial in flight, if any. */
static Dial *
current_dial (EdgeHub *self)
{
  return self->dial;
}

/* Opens the websocket with the node's certificate. */
static void
dial (EdgeHub *self)
{
  g_autoptr (GError) error = NULL;
  EhTlsDial td = { 0 };
  Dial *d;

  d = g_new0 (Dial, 1);
  d->self = self;
  d->cancel = g_cancellable_new ();
  d->url = g_strdup_printf ("wss://%s/%s/%s/events", self->cfg.server, self->cfg.project_id,
                            self->cfg.node);
  if (!eh_tls_split_address (self->cfg.server, 10000, &d->host, &d->port, &error))
    {
      eh_log_failure (self, "dial: address", "websocket-server %s is not host:port (%s)",
                      self->cfg.server, error->message);
      dial_free (d);
      schedule_reconnect (self);
      return;
    }
  td.host = d->host;
  td.port = d->port;
  td.ca_file = self->cfg.ca_file;
  td.cert_file = self->cfg.cert_file;
  td.key_file = self->cfg.key_file;
  self->dial = d;
  self->dial_timeout_source = g_timeout_add_seconds ((guint) MAX (self->cfg.handshake_timeout_s, 1),
                                                     on_dial_timeout, self);
  ec_log_info (self->context, "connecting to %s", d->url);
  eh_tls_connect_async (&td, d->cancel, on_dialed, d);
}

/* Certificates were applied for. */
static void
on_bootstrapped (EdgeHub *self, gboolean ok)
{
  g_autoptr (GError) error = NULL;
  if (ok && !eh_certs_usable (self, &error))
    {
      /* e.g. the cloud signs certificates that are already expired: do
       * not ask again at once */
      eh_log_failure (self, "bootstrap: unusable", "the certificate the cloud just signed cannot be "
                      "used: %s", error->message);
      ok = FALSE;
    }
  if (ok)
    try_connect (self);
  else
    schedule_reconnect (self);
}

/* Makes sure there are usable certificates, then dials. */
static void
try_connect (EdgeHub *self)
{
  g_autoptr (GError) error = NULL;
  if (!self->running || self->ws || current_dial (self) || self->bootstrapping)
    return;
  if (!eh_certs_usable (self, &error))
    {
      /* said once; again only when the reason changes */
      if (g_strcmp0 (self->last_unusable, error->message) != 0)
        ec_log_message (self->context, "%s; applying for a new certificate with the join token",
                        error->message);
      g_free (self->last_unusable);
      self->last_unusable = g_strdup (error->message);
      eh_certs_bootstrap (self, on_bootstrapped);
      return;
    }
  g_clear_pointer (&self->last_unusable, g_free);
  eh_certs_schedule_rotation (self);
  dial (self);
}

/* Starts connecting. */
void
eh_link_start (EdgeHub *self)
{
  self->running = TRUE;
  eh_backoff_init (&self->backoff, self->cfg.backoff_initial_s, self->cfg.backoff_max_s,
                   self->cfg.backoff_jitter);
  try_connect (self);
}

/* Closes the link and reconnects at once (after a certificate rotation). */
void
eh_link_restart (EdgeHub *self)
{
  Dial *d = current_dial (self);
  if (d)
    {
      /* a dial with the old certificate: drop it, dial again */
      d->abandoned = TRUE;
      g_cancellable_cancel (d->cancel);
      self->dial = NULL;
      if (self->dial_timeout_source)
        g_source_remove (self->dial_timeout_source);
      self->dial_timeout_source = 0;
    }
  if (self->ws)
    {
      ec_log_message (self->context, "reconnecting with the new certificate");
      ec_metric_add (self->m.disconnects[EH_DISCONNECT_CERT_ROTATION], 1);
      drop_socket (self);
      eh_uplink_link_lost (self);
      broadcast_state (self, FALSE);
    }
  if (self->reconnect_source)
    g_source_remove (self->reconnect_source);
  self->reconnect_source = 0;
  eh_backoff_reset (&self->backoff);
  try_connect (self);
}

/* Stops everything: no callback will touch the plugin afterwards. */
void
eh_link_stop (EdgeHub *self)
{
  Dial *d = current_dial (self);
  self->running = FALSE;
  if (d)
    {
      d->abandoned = TRUE;
      g_cancellable_cancel (d->cancel);
      self->dial = NULL;
    }
  if (self->dial_timeout_source)
    g_source_remove (self->dial_timeout_source);
  self->dial_timeout_source = 0;
  if (self->reconnect_source)
    g_source_remove (self->reconnect_source);
  self->reconnect_source = 0;
  drop_socket (self);
}

/* Whether the websocket is open. */
gboolean
eh_link_is_up (EdgeHub *self)
{
  return self->ws && eh_ws_conn_is_open (self->ws);
}

/* Queues one message text (JSON followed by a newline, as Go writes it) in
 * a text frame; text that is not UTF-8 goes in a binary frame, which Go's
 * reader accepts too (v1.9.2's ReadJSON and the current cloud's
 * ReadMessage take either). FALSE when the link is down or its queue is
 * full (then it fails). */
gboolean
eh_link_write (EdgeHub *self, const char *text, gsize len)
{
  guint8 opcode = G_LIKELY (g_utf8_validate (text, (gssize) len, NULL)) ? EH_WS_TEXT : EH_WS_BINARY;
  if (!eh_link_is_up (self) || !eh_ws_conn_send (self->ws, opcode, (const guint8 *) text, len))
    return FALSE;
  self->n.to_cloud++;
  ec_metric_add (self->m.sent, 1);
  ec_metric_add (self->m.sent_bytes, (gint64) len);
  return TRUE;
}
