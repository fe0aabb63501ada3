/* cs-hub.c: the cloud side of one KubeEdge node, on loopback only.
 *
 * HTTPS (cloudcore's port 10002): GET /ca.crt (DER), GET /edge.crt (a DER
 * CSR in the body of a GET; token in "Authorization: Bearer", or mutual TLS
 * for a rotation), GET /node/<name>.
 * WSS (cloudcore's port 10000): client certificate required and verified,
 * headers node_id and ConnectionUse: msg required, one JSON message per
 * text frame. Messages sent with `send` are resent with the same msg_id
 * every resend interval until the node answers with operation "response"
 * and parent_msg_id = their id, and again in order when the node
 * reconnects, as cloudhub's ack queue does. Edge inserts/updates/patches/
 * deletes are answered "OK" as cloudcore's edgecontroller does; queries of
 * the configmaps and secrets sent with `send` are answered with them, and
 * service account token requests with a token.
 * Everything is appended to the record as JSON lines. */
#include "cs-hub.h"
#include "cs-objects.h"
#include "cs-relay.h"
#include "cs-tls.h"

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  char    *id;
  char    *text;
  gint64   sent_at;      /* monotonic µs of the last write, 0 = never */
  gboolean quiet;        /* its text is not recorded (floods, big messages) */
  gboolean flood;        /* a flood message: its ack is counted, not recorded */
} Pending;

typedef struct {
  gboolean active;
  guint    total, sent, acked, window, size;
  gint64   start;
} Flood;

struct _CsHub {
  CsPki                   *pki;
  CsHubOptions             opt;
  SoupServer              *wss;
  SoupServer              *https;
  CsRelay                 *relay;       /* in front of wss, or NULL */
  CsTls                   *wss_tls;     /* profile v1.9.2: OpenSSL in front of wss */
  CsTls                   *https_tls;   /* and of https */
  guint                    port, https_port;
  FILE                    *record;
  SoupWebsocketConnection *conn;
  char                    *node_id;
  guint                    conn_no;
  GHashTable              *nodes_seen;
  GHashTable              *pending;     /* msg_id -> Pending */
  GHashTable              *sent_objects;    /* "<ns>/configmap|secret/<name>" -> content JSON */
  guint                    tokens;      /* service account tokens issued */
  GQueue                   order;       /* msg_ids (owned), oldest first */
  guint                    resend_timer;
  guint                    ack_delay_ms;
  gboolean                 ignore_acks;
  gboolean                 refuse_token;
  gboolean                 auto_reply;
  Flood                    flood;
  CsObjects               *objects;     /* HEAD edgecontroller's objects (cs-objects.c) */
  guint64                  received, acks, bad_frames, resends;
  GSourceFunc              quit_func, connect_func;
  gpointer                 quit_data, connect_data;
};

/* ---- the record --------------------------------------------------------- */

/* Appends a JSON string literal for s. */
static void
append_json_string (GString *out, const char *s)
{
  g_string_append_c (out, '"');
  for (const unsigned char *p = (const unsigned char *) (s ? s : ""); *p; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (out, "\\%c", *p);
      else if (*p < 0x20)
        g_string_append_printf (out, "\\u%04x", *p);
      else
        g_string_append_c (out, (char) *p);
    }
  g_string_append_c (out, '"');
}

/* Writes one record line: {"t":ms,"conn":n,"event":event<fields>}. fields
 * is ready JSON text starting with a comma, or NULL. */
static void
record (CsHub *hub, const char *event, const char *fields)
{
  if (!hub->record)
    return;
  fprintf (hub->record, "{\"t\":%" G_GINT64_FORMAT ",\"conn\":%u,\"event\":\"%s\"%s}\n",
           g_get_real_time () / 1000, hub->conn_no, event, fields ? fields : "");
  fflush (hub->record);
}

/* Writes one record line for another part of cloudsim (cs-stream.c). */
void
cs_hub_record (CsHub *hub, const char *event, const char *fields)
{
  record (hub, event, fields);
}

/* Records an event with one string field. */
static void
record_str (CsHub *hub, const char *event, const char *key, const char *value)
{
  g_autoptr (GString) f = g_string_new (NULL);
  g_string_append_printf (f, ",\"%s\":", key);
  append_json_string (f, value);
  record (hub, event, f->str);
}

/* Records an event of cs-objects.c. */
static void
record_objects (gpointer data, const char *event, const char *fields)
{
  record (data, event, fields);
}

/* ---- sending ------------------------------------------------------------ */

static void
pending_free (gpointer data)
{
  Pending *p = data;
  g_free (p->id);
  g_free (p->text);
  g_free (p);
}

/* Writes text on the node's connection, if there is one. */
static gboolean
write_text (CsHub *hub, const char *text)
{
  if (!hub->conn || soup_websocket_connection_get_state (hub->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return FALSE;
  soup_websocket_connection_send_text (hub->conn, text);
  return TRUE;
}

/* Sends a message text; a reliable one is kept until acked. */
static void
send_message (CsHub *hub, const char *id, const char *text, gboolean reliable, gboolean quiet,
              gboolean flood)
{
  gboolean written = write_text (hub, text);
  if (!quiet)
    {
      g_autoptr (GString) f = g_string_new (",\"msg\":");
      g_string_append (f, text);
      g_string_append_printf (f, ",\"written\":%s,\"reliable\":%s", written ? "true" : "false",
                              reliable ? "true" : "false");
      record (hub, "send", f->str);
    }
  if (reliable && id && *id && !g_hash_table_contains (hub->pending, id))
    {
      Pending *p = g_new0 (Pending, 1);
      p->id = g_strdup (id);
      p->text = g_strdup (text);
      p->sent_at = written ? g_get_monotonic_time () : 0;
      p->quiet = quiet;
      p->flood = flood;
      g_hash_table_insert (hub->pending, p->id, p);
      g_queue_push_tail (&hub->order, g_strdup (id));
    }
}

/* Rewrites every unacked message, oldest first; all of them, or only those
 * older than the resend interval. */
static void
resend_pending (CsHub *hub, gboolean all)
{
  gint64 now = g_get_monotonic_time ();
  /* forget acked ids at the head */
  while (!g_queue_is_empty (&hub->order)
         && !g_hash_table_contains (hub->pending, g_queue_peek_head (&hub->order)))
    g_free (g_queue_pop_head (&hub->order));
  for (GList *l = hub->order.head; l; l = l->next)
    {
      Pending *p = g_hash_table_lookup (hub->pending, l->data);
      if (!p)
        continue;
      if (!all && p->sent_at && now - p->sent_at < (gint64) hub->opt.resend_ms * 1000)
        continue;
      if (!write_text (hub, p->text))
        return;
      if (p->sent_at)
        {
          hub->resends++;
          if (!p->quiet)
            record_str (hub, "resend", "msg_id", p->id);
        }
      p->sent_at = now;
    }
}

/* The resend timer. */
static gboolean
on_resend_timer (gpointer data)
{
  resend_pending (data, FALSE);
  return G_SOURCE_CONTINUE;
}

/* A message text with a fresh id: {"header":...,"route":...,"content":...}. */
static char *
build_message (const char *id, const char *parent, const char *rv, const char *source,
               const char *group, const char *op, const char *resource, const char *content)
{
  g_autoptr (GString) s = g_string_new ("{\"header\":{\"msg_id\":");
  append_json_string (s, id);
  if (parent)
    {
      g_string_append (s, ",\"parent_msg_id\":");
      append_json_string (s, parent);
    }
  g_string_append_printf (s, ",\"timestamp\":%" G_GINT64_FORMAT, g_get_real_time () / 1000);
  if (rv)
    {
      g_string_append (s, ",\"resourceversion\":");
      append_json_string (s, rv);
    }
  g_string_append (s, "},\"route\":{\"source\":");
  append_json_string (s, source);
  g_string_append (s, ",\"group\":");
  append_json_string (s, group);
  g_string_append (s, ",\"operation\":");
  append_json_string (s, op);
  g_string_append (s, ",\"resource\":");
  append_json_string (s, resource);
  g_string_append_printf (s, "},\"content\":%s}", content);
  return g_string_free (g_steal_pointer (&s), FALSE);
}

/* ---- flood (benchmark) -------------------------------------------------- */

/* Sends the next flood message: a pod insert padded to the flood size. */
static void
flood_send_one (CsHub *hub)
{
  guint i = hub->flood.sent++;
  g_autofree char *id = g_uuid_string_random ();
  g_autofree char *name = g_strdup_printf ("flood-%u", i);
  g_autofree char *rv = g_strdup_printf ("%u", 1000 + i);
  g_autofree char *resource = g_strdup_printf ("default/pod/%s", name);
  g_autofree char *head = g_strdup_printf (
    "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"default\",\"uid\":\"%08u-0000-4000-8000-000000000000\","
    "\"resourceVersion\":\"%s\",\"annotations\":{\"pad\":\"", name, i, rv);
  const char *tail = "\"}},\"spec\":{\"nodeName\":\"edge\",\"containers\":[{\"name\":\"c\",\"image\":\"pause\"}]},\"status\":{}}";
  gsize fixed = 260 + strlen (head) + strlen (tail);
  gsize pad = hub->flood.size > fixed ? hub->flood.size - fixed : 0;
  g_autofree char *padding = g_strnfill (pad, 'x');
  g_autofree char *content = g_strconcat (head, padding, tail, NULL);
  g_autofree char *text = build_message (id, NULL, rv, "edgecontroller", "resource", "insert",
                                         resource, content);
  send_message (hub, id, text, TRUE, TRUE, TRUE);
}

/* Counts a flood ack; sends more or reports the end. */
static void
flood_acked (CsHub *hub)
{
  if (!hub->flood.active)
    return;
  hub->flood.acked++;
  if (hub->flood.sent < hub->flood.total)
    flood_send_one (hub);
  if (hub->flood.acked == hub->flood.total)
    {
      gint64 us = g_get_monotonic_time () - hub->flood.start;
      double rate = hub->flood.total / (us / 1e6);
      g_autofree char *f = g_strdup_printf (",\"count\":%u,\"us\":%" G_GINT64_FORMAT
                                            ",\"rate\":%.0f,\"resends\":%" G_GUINT64_FORMAT,
                                            hub->flood.total, us, rate, hub->resends);
      hub->flood.active = FALSE;
      record (hub, "flood-done", f);
      g_print ("flood-done %u messages in %.3f s: %.0f msg/s\n", hub->flood.total, us / 1e6, rate);
    }
}

/* ---- receiving ---------------------------------------------------------- */

typedef struct {
  CsHub *hub;
  char  *text;
} DelayedReply;

/* Sends a reply that waited ack-delay. */
static gboolean
send_delayed (gpointer data)
{
  DelayedReply *d = data;
  send_message (d->hub, NULL, d->text, FALSE, FALSE, FALSE);
  g_free (d->text);
  g_free (d);
  return G_SOURCE_REMOVE;
}

/* Reads a string member of an object, or NULL. */
static const char *
get_str (JsonObject *o, const char *key)
{
  JsonNode *n = o ? json_object_get_member (o, key) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
         ? json_node_get_string (n) : NULL;
}

/* Handles one message from the node. */
static void
on_message (SoupWebsocketConnection *conn, gint type, GBytes *bytes, gpointer data)
{
  CsHub *hub = data;
  gsize len;
  const char *raw = g_bytes_get_data (bytes, &len);
  g_autoptr (JsonParser) parser = json_parser_new_immutable ();
  g_autoptr (GError) error = NULL;
  JsonObject *msg, *header, *route;
  const char *id, *parent, *op, *resource, *source;
  gboolean trailing_nl = len > 0 && raw[len - 1] == '\n';
  gboolean quiet_ack = FALSE;

  if (conn != hub->conn)
    return;
  hub->received++;
  if (!json_parser_load_from_data (parser, raw, (gssize) len, &error)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_autofree char *text = g_strndup (raw, MIN (len, 200));
      hub->bad_frames++;
      record_str (hub, "bad-frame", "text", text);
      return;
    }
  msg = json_node_get_object (json_parser_get_root (parser));
  header = json_object_has_member (msg, "header") ? json_object_get_object_member (msg, "header") : NULL;
  route = json_object_has_member (msg, "route") ? json_object_get_object_member (msg, "route") : NULL;
  id = get_str (header, "msg_id");
  parent = get_str (header, "parent_msg_id");
  op = get_str (route, "operation");
  resource = get_str (route, "resource");
  source = get_str (route, "source");

  if (g_strcmp0 (op, "response") == 0 && parent)
    {
      Pending *p = g_hash_table_lookup (hub->pending, parent);
      if (p)
        {
          hub->acks++;
          quiet_ack = p->flood;
          if (!hub->ignore_acks)
            {
              g_hash_table_remove (hub->pending, parent);
              if (quiet_ack)
                flood_acked (hub);
            }
        }
    }
  if (!quiet_ack)
    {
      g_autoptr (GString) f = g_string_new (",\"opcode\":");
      g_string_append_printf (f, "%d,\"trailing_newline\":%s,\"len\":%" G_GSIZE_FORMAT ",\"msg\":",
                              type == SOUP_WEBSOCKET_DATA_TEXT ? 1 : 2,
                              trailing_nl ? "true" : "false", len);
      g_string_append_len (f, raw, (gssize) (trailing_nl ? len - 1 : len));
      record (hub, "recv", f->str);
    }
  /* a query of a configmap or secret the cloud has (one sent with `send`):
   * answered with the object, as edgecontroller's upstream does from its
   * lister; an unknown one gets no answer, as there */
  if (id && *id && op && !strcmp (op, "query") && resource
      && g_hash_table_lookup (hub->sent_objects, resource))
    {
      g_autofree char *rid = g_uuid_string_random ();
      g_autofree char *text = build_message (rid, id, NULL, "edgecontroller", "resource", "response",
                                             resource, g_hash_table_lookup (hub->sent_objects, resource));
      send_message (hub, NULL, text, FALSE, FALSE, FALSE);
    }
  /* a service account token request: answered as cloudcore does after the
   * API server's TokenRequest, with status.token and expirationTimestamp */
  if (id && *id && op && !strcmp (op, "query") && resource && strstr (resource, "/serviceaccounttoken/")
      && json_object_has_member (msg, "content")
      && JSON_NODE_HOLDS_OBJECT (json_object_get_member (msg, "content")))
    {
      JsonObject *tr = json_object_get_object_member (msg, "content");
      JsonObject *spec = json_object_has_member (tr, "spec") ? json_object_get_object_member (tr, "spec") : NULL;
      gint64 seconds = spec && json_object_has_member (spec, "expirationSeconds")
                         ? json_object_get_int_member (spec, "expirationSeconds") : 3600;
      g_autoptr (GDateTime) exp = g_date_time_new_from_unix_utc (g_get_real_time () / G_USEC_PER_SEC + seconds);
      g_autofree char *when = g_date_time_format (exp, "%Y-%m-%dT%H:%M:%SZ");
      g_autofree char *token = g_strdup_printf ("cloudsim-token-%u", ++hub->tokens);
      g_autoptr (JsonNode) node = NULL;
      JsonObject *status = json_object_new ();
      g_autofree char *content = NULL, *rid = g_uuid_string_random (), *text = NULL;
      json_object_set_string_member (status, "token", token);
      json_object_set_string_member (status, "expirationTimestamp", when);
      json_object_set_object_member (tr, "status", status);
      node = json_node_init_object (json_node_alloc (), tr);
      content = json_to_string (node, FALSE);
      text = build_message (rid, id, NULL, "edgecontroller", "resource", "response", resource, content);
      send_message (hub, NULL, text, FALSE, FALSE, FALSE);
    }
  /* a current CloudCore's ObjectResp answers (node, nodepatch, podpatch, lease) */
  if (hub->auto_reply && id && *id)
    {
      g_autofree char *content = NULL, *rv = NULL;
      if (cs_objects_handle (hub->objects, op, resource, json_object_get_member (msg, "content"),
                             &content, &rv))
        {
          g_autofree char *rid = g_uuid_string_random ();
          g_autofree char *text = build_message (rid, id, rv, "edgecontroller", "resource",
                                                 "response", resource, content);
          send_message (hub, NULL, text, FALSE, FALSE, FALSE);
          return;
        }
    }
  if (hub->auto_reply && id && *id && op
      && (!strcmp (op, "insert") || !strcmp (op, "update") || !strcmp (op, "patch")
          || !strcmp (op, "delete")))
    {
      g_autofree char *rid = g_uuid_string_random ();
      /* devicecontroller acks a twin upload (source twin) on group twin,
       * resource "twin" (reference kubeedge-eventbus-devicetwin.md 5.1):
       * that is what confirms it to devicetwin */
      gboolean twin = g_strcmp0 (source, "twin") == 0;
      g_autofree char *text = build_message (rid, id, NULL, twin ? "devicecontroller" : "edgecontroller",
                                             twin ? "twin" : "resource", "response",
                                             twin ? "twin" : resource ? resource : "", "\"OK\"");
      if (hub->ack_delay_ms)
        {
          DelayedReply *d = g_new0 (DelayedReply, 1);
          d->hub = hub;
          d->text = g_steal_pointer (&text);
          g_timeout_add (hub->ack_delay_ms, send_delayed, d);
        }
      else
        send_message (hub, NULL, text, FALSE, FALSE, FALSE);
    }
}

/* A message the cloud sent: its pods become the API server's (cs-objects.c). */
static void
note_sent (CsHub *hub, const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *msg, *route;
  if (!json_parser_load_from_data (parser, text, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  msg = json_node_get_object (json_parser_get_root (parser));
  route = json_object_has_member (msg, "route") ? json_object_get_object_member (msg, "route") : NULL;
  cs_objects_note_sent (hub->objects, get_str (route, "operation"), get_str (route, "resource"),
                        json_object_get_member (msg, "content"));
}

/* The node's connection closed. */
static void
on_closed (SoupWebsocketConnection *conn, gpointer data)
{
  CsHub *hub = data;
  g_autofree char *f = NULL;
  if (conn != hub->conn)
    return;
  f = g_strdup_printf (",\"code\":%u", soup_websocket_connection_get_close_code (conn));
  record (hub, "disconnect", f);
  g_print ("node %s disconnected\n", hub->node_id);
  g_clear_object (&hub->conn);
}

/* Logs a connection error. */
static void
on_error (SoupWebsocketConnection *conn, GError *error, gpointer data)
{
  CsHub *hub = data;
  if (conn == hub->conn)
    record_str (hub, "ws-error", "error", error->message);
}

/* Drops the current connection, politely or not. */
static void
drop_connection (CsHub *hub, gboolean abrupt)
{
  if (!hub->conn)
    return;
  if (abrupt)
    {
      GIOStream *io = soup_websocket_connection_get_io_stream (hub->conn);
      g_io_stream_close (io, NULL, NULL);
      record (hub, "drop", NULL);
      /* the closed signal follows; make sure the session is gone now */
      g_signal_handlers_disconnect_by_data (hub->conn, hub);
      g_clear_object (&hub->conn);
      record (hub, "disconnect", ",\"code\":0");
    }
  else
    soup_websocket_connection_close (hub->conn, SOUP_WEBSOCKET_CLOSE_NORMAL, "cloudsim closes");
}

/* The client certificate of msg's connection: subject (NULL if none) and
 * whether it verified against the CA. */
static char *
peer_subject (CsTls *tls, SoupServerMessage *msg, gboolean *verified)
{
  GTlsCertificate *peer;
  if (tls)
    return cs_tls_peer (tls, msg, verified);
  peer = soup_server_message_get_tls_peer_certificate (msg);
  *verified = peer && soup_server_message_get_tls_peer_certificate_errors (msg) == 0;
  return cs_pki_cert_subject (peer);
}

/* A node opened the hub's websocket. */
static void
on_websocket (SoupServer *server, SoupServerMessage *msg, const char *path,
              SoupWebsocketConnection *conn, gpointer data)
{
  CsHub *hub = data;
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *node = soup_message_headers_get_one (h, "node_id");
  const char *project = soup_message_headers_get_one (h, "project_id");
  const char *use = soup_message_headers_get_one (h, "ConnectionUse");
  gboolean verified = FALSE;
  g_autofree char *subject = peer_subject (hub->wss_tls, msg, &verified);
  g_autoptr (GString) f = g_string_new (",\"path\":");

  append_json_string (f, path);
  g_string_append (f, ",\"node_id\":");
  append_json_string (f, node);
  g_string_append (f, ",\"project_id\":");
  append_json_string (f, project);
  g_string_append (f, ",\"connection_use\":");
  append_json_string (f, use);
  g_string_append (f, ",\"subject\":");
  append_json_string (f, subject);
  g_string_append_printf (f, ",\"extensions\":%u",
                          g_list_length (soup_websocket_connection_get_extensions (conn)));

  if (!subject || !verified || !node || !*node || g_strcmp0 (use, "msg") != 0)
    {
      const char *why = !subject ? "no client certificate" : !verified ? "client certificate not valid"
                        : !node || !*node ? "no node_id header" : "ConnectionUse is not msg";
      g_string_append (f, ",\"reason\":");
      append_json_string (f, why);
      hub->conn_no++;
      record (hub, "reject", f->str);
      soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_POLICY_VIOLATION, why);
      return;
    }
  if (hub->conn)
    {
      record (hub, "replaced", NULL);
      g_signal_handlers_disconnect_by_data (hub->conn, hub);
      soup_websocket_connection_close (hub->conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, "replaced");
      g_clear_object (&hub->conn);
    }
  hub->conn_no++;
  hub->conn = g_object_ref (conn);
  g_free (hub->node_id);
  hub->node_id = g_strdup (node);
  g_hash_table_add (hub->nodes_seen, g_strdup (node));
  /* Go's reader has no size limit */
  soup_websocket_connection_set_max_incoming_payload_size (conn, 0);
  soup_websocket_connection_set_keepalive_interval (conn, 0);
  g_signal_connect (conn, "message", G_CALLBACK (on_message), hub);
  g_signal_connect (conn, "closed", G_CALLBACK (on_closed), hub);
  g_signal_connect (conn, "error", G_CALLBACK (on_error), hub);
  record (hub, "connect", f->str);
  g_print ("node %s connected (%s)\n", node, subject ? subject : "?");
  resend_pending (hub, TRUE);
  if (hub->connect_func)
    hub->connect_func (hub->connect_data);
}

/* ---- the certificate server ---------------------------------------------- */

/* Answers with a status and a plain-text body. */
static void
reply_text (SoupServerMessage *msg, guint status, const char *text)
{
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_COPY, text, strlen (text));
}

/* Checks a rotation request's client certificate: valid, and (HEAD)
 * CN=system:node:<NodeName>; v1.9.2 checks the chain only. */
static gboolean
client_cert_ok (CsHub *hub, SoupServerMessage *msg, const char *node, char **why)
{
  gboolean verified = FALSE;
  g_autofree char *subject = peer_subject (hub->https_tls, msg, &verified);
  g_autofree char *want = g_strdup_printf ("CN=system:node:%s", node);
  if (!subject)
    *why = g_strdup ("no client certificate");
  else if (!verified)
    *why = g_strdup ("client certificate not valid");
  else if (hub->opt.v192_dir)
    return TRUE;
  else if (!strstr (subject, want))
    *why = g_strdup_printf ("client certificate subject %s is not %s", subject, want);
  else
    return TRUE;
  return FALSE;
}

/* GET /edge.crt: signs the CSR in the body. */
static void
serve_edge_crt (CsHub *hub, SoupServerMessage *msg)
{
  SoupMessageHeaders *h = soup_server_message_get_request_headers (msg);
  const char *auth = soup_message_headers_get_one (h, "Authorization");
  const char *node = soup_message_headers_get_one (h, "NodeName");
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr (GBytes) csr = soup_message_body_flatten (body);
  g_autoptr (GBytes) crt = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *why = NULL, *subject = NULL;
  gboolean rotation = auth == NULL;
  g_autoptr (GString) f = g_string_new (",\"node\":");

  append_json_string (f, node);
  g_string_append_printf (f, ",\"rotation\":%s", rotation ? "true" : "false");
  if (!node || !*node)
    why = g_strdup ("no NodeName header");
  else if (rotation)
    client_cert_ok (hub, msg, node, &why);
  else if (!g_str_has_prefix (auth, "Bearer "))
    why = g_strdup ("authorization is not a bearer token");
  else if (hub->refuse_token)
    why = g_strdup ("invalid token (cloudsim refuses tokens)");
  else if (!cs_pki_check_token (hub->pki, auth + 7, &error))
    why = g_strdup (error->message);
  if (why)
    {
      g_string_append (f, ",\"status\":401,\"reason\":");
      append_json_string (f, why);
      record (hub, "csr", f->str);
      reply_text (msg, 401, why);
      return;
    }
  crt = cs_pki_sign_csr (hub->pki, csr, g_get_real_time () / G_USEC_PER_SEC + hub->opt.edge_cert_offset,
                         hub->opt.edge_cert_validity, &subject, &error);
  if (!crt)
    {
      g_string_append (f, ",\"status\":500,\"reason\":");
      append_json_string (f, error->message);
      record (hub, "csr", f->str);
      reply_text (msg, 500, error->message);
      return;
    }
  g_string_append (f, ",\"status\":200,\"subject\":");
  append_json_string (f, subject);
  record (hub, "csr", f->str);
  soup_server_message_set_status (msg, 200, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                    g_bytes_get_data (crt, NULL), g_bytes_get_size (crt));
}

/* The HTTPS handler: /ca.crt, /edge.crt, /node/<name>. */
static void
on_https (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
          gpointer data)
{
  CsHub *hub = data;
  record_str (hub, "http", "path", path);
  if (strcmp (path, "/ca.crt") == 0)
    {
      GBytes *der = cs_pki_get_ca_der (hub->pki);
      soup_server_message_set_status (msg, 200, NULL);
      soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_COPY,
                                        g_bytes_get_data (der, NULL), g_bytes_get_size (der));
    }
  else if (strcmp (path, "/edge.crt") == 0)
    serve_edge_crt (hub, msg);
  else if (g_str_has_prefix (path, "/node/"))
    {
      if (g_hash_table_contains (hub->nodes_seen, path + 6))
        reply_text (msg, 200, "Node found");
      else
        reply_text (msg, 404, "Node not found");
    }
  else
    reply_text (msg, 404, "not found");
}

/* ---- setup -------------------------------------------------------------- */

/* Accepts a client certificate only if it verified against the CA (GLib
 * asks even when it did); records the refusals. */
static gboolean
on_accept_client (SoupServerMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors,
                  gpointer data)
{
  CsHub *hub = data;
  g_autofree char *f = NULL;
  if (errors == 0)
    return TRUE;
  f = g_strdup_printf (",\"flags\":%u", (guint) errors);
  record (hub, "client-cert-refused", f);
  return FALSE;
}

/* Every request: watch its TLS client certificate check. */
static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (on_accept_client), data);
}

/* A TLS handshake failed on an OpenSSL listener. */
static void
on_tls_refused (gpointer data, const char *reason)
{
  record_str (data, "tls-refused", "reason", reason);
}

/* Profile v1.9.2: a plain server behind an OpenSSL listener serving
 * cloudcore.crt, as Go's crypto/tls does in CloudCore v1.9.2. */
static SoupServer *
new_v192_server (CsHub *hub, guint port, GTlsAuthenticationMode auth, guint *bound, CsTls **tls,
                 GError **error)
{
  SoupServer *server = soup_server_new (NULL, NULL);
  g_autofree char *crt = g_build_filename (hub->opt.v192_dir, "cloudcore.crt", NULL);
  g_autofree char *key = g_build_filename (hub->opt.v192_dir, "cloudcore.key", NULL);
  g_autofree char *ca = g_build_filename (hub->opt.v192_dir, "ca.crt", NULL);
  CsTlsOptions o = {
    .cert_file = crt, .key_file = key, .ca_file = ca, .port = port,
    .client_auth = auth == G_TLS_AUTHENTICATION_REQUIRED ? CS_TLS_CLIENT_REQUIRE : CS_TLS_CLIENT_REQUEST,
    .v192_suites = auth == G_TLS_AUTHENTICATION_REQUIRED, .refused = on_tls_refused, .data = hub,
  };
  soup_server_remove_websocket_extension (server, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  *tls = cs_tls_listen (server, &o, bound, error);
  if (!*tls)
    g_clear_object (&server);
  return server;
}

/* Creates a TLS server listening on 127.0.0.1:port. */
static SoupServer *
new_server (CsHub *hub, guint port, GTlsAuthenticationMode auth, guint *bound, CsTls **tls, GError **error)
{
  SoupServer *server;
  GSList *uris;
  if (hub->opt.v192_dir)
    return new_v192_server (hub, port, auth, bound, tls, error);
  server = soup_server_new ("tls-certificate", cs_pki_get_server_cert (hub->pki),
                            "tls-database", cs_pki_get_database (hub->pki),
                            "tls-auth-mode", auth, NULL);
  soup_server_remove_websocket_extension (server, SOUP_TYPE_WEBSOCKET_EXTENSION_DEFLATE);
  g_signal_connect (server, "request-started", G_CALLBACK (on_request_started), hub);
  if (!soup_server_listen_local (server, port, SOUP_SERVER_LISTEN_HTTPS | SOUP_SERVER_LISTEN_IPV4_ONLY,
                                 error))
    {
      g_object_unref (server);
      return NULL;
    }
  uris = soup_server_get_uris (server);
  *bound = uris ? (guint) g_uri_get_port (uris->data) : port;
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  return server;
}

/* A TLS server as the hub's (same profile), for cs-stream.c's tunnel. */
SoupServer *
cs_hub_new_tls_server (CsHub *hub, guint port, gboolean require_client_cert, guint *bound, CsTls **tls,
                       GError **error)
{
  return new_server (hub, port, require_client_cert ? G_TLS_AUTHENTICATION_REQUIRED : G_TLS_AUTHENTICATION_REQUESTED,
                     bound, tls, error);
}

/* Starts both servers. */
CsHub *
cs_hub_new (CsPki *pki, const CsHubOptions *options, GError **error)
{
  CsHub *hub = g_new0 (CsHub, 1);
  hub->pki = pki;
  hub->opt = *options;
  hub->auto_reply = TRUE;
  hub->pending = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, pending_free);
  hub->objects = cs_objects_new (record_objects, hub);
  hub->sent_objects = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  hub->nodes_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&hub->order);
  if (options->record_path)
    {
      hub->record = fopen (options->record_path, "a");
      if (!hub->record)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot open %s: %s",
                       options->record_path, g_strerror (errno));
          cs_hub_free (hub);
          return NULL;
        }
    }
  hub->wss = new_server (hub, options->relay ? 0 : options->port, G_TLS_AUTHENTICATION_REQUIRED,
                         &hub->port, &hub->wss_tls, error);
  if (!hub->wss)
    {
      cs_hub_free (hub);
      return NULL;
    }
  if (options->relay)
    {
      hub->relay = cs_relay_new (options->port, hub->port, error);
      if (!hub->relay)
        {
          cs_hub_free (hub);
          return NULL;
        }
      hub->port = cs_relay_get_port (hub->relay);
    }
  soup_server_add_websocket_handler (hub->wss, NULL, NULL, NULL, on_websocket, hub, NULL);
  hub->https = new_server (hub, options->https_port, G_TLS_AUTHENTICATION_REQUESTED,
                           &hub->https_port, &hub->https_tls, error);
  if (!hub->https)
    {
      cs_hub_free (hub);
      return NULL;
    }
  soup_server_add_handler (hub->https, NULL, on_https, hub, NULL);
  hub->resend_timer = g_timeout_add (250, on_resend_timer, hub);
  {
    g_autofree char *f = g_strdup_printf (",\"port\":%u,\"https_port\":%u", hub->port, hub->https_port);
    record (hub, "start", f);
  }
  return hub;
}

/* Stops the servers and frees the hub. */
void
cs_hub_free (CsHub *hub)
{
  if (!hub)
    return;
  if (hub->resend_timer)
    g_source_remove (hub->resend_timer);
  if (hub->conn)
    {
      g_signal_handlers_disconnect_by_data (hub->conn, hub);
      g_clear_object (&hub->conn);
    }
  cs_relay_free (hub->relay);
  cs_tls_free (hub->wss_tls);
  cs_tls_free (hub->https_tls);
  if (hub->wss)
    soup_server_disconnect (hub->wss);
  if (hub->https)
    soup_server_disconnect (hub->https);
  g_clear_object (&hub->wss);
  g_clear_object (&hub->https);
  g_hash_table_unref (hub->pending);
  cs_objects_free (hub->objects);
  g_hash_table_unref (hub->sent_objects);
  g_hash_table_unref (hub->nodes_seen);
  g_queue_clear_full (&hub->order, g_free);
  if (hub->record)
    fclose (hub->record);
  g_free (hub->node_id);
  g_free (hub);
}

/* The WSS port. */
guint
cs_hub_get_port (CsHub *hub)
{
  return hub->port;
}

/* The HTTPS port. */
guint
cs_hub_get_https_port (CsHub *hub)
{
  return hub->https_port;
}

/* Whether a node is connected. */
gboolean
cs_hub_is_connected (CsHub *hub)
{
  return hub->conn != NULL;
}

/* Called on the "quit" command. */
void
cs_hub_set_quit_func (CsHub *hub, GSourceFunc func, gpointer data)
{
  hub->quit_func = func;
  hub->quit_data = data;
}

/* Called whenever a node connects. */
void
cs_hub_set_connect_func (CsHub *hub, GSourceFunc func, gpointer data)
{
  hub->connect_func = func;
  hub->connect_data = data;
}

/* ---- commands ------------------------------------------------------------ */

/* Completes a message given as JSON: a header with a fresh msg_id and the
 * time when missing. Returns the text or NULL with a reason. */
static char *
complete_message (const char *json, char **id_out, GError **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *msg, *header;
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  const char *id;

  if (!json_parser_load_from_data (parser, json, -1, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "a message is a JSON object");
      return NULL;
    }
  msg = json_node_get_object (json_parser_get_root (parser));
  if (!json_object_has_member (msg, "header"))
    json_object_set_object_member (msg, "header", json_object_new ());
  header = json_object_get_object_member (msg, "header");
  id = get_str (header, "msg_id");
  if (!id || !*id)
    {
      g_autofree char *uuid = g_uuid_string_random ();
      json_object_set_string_member (header, "msg_id", uuid);
    }
  if (!json_object_has_member (header, "timestamp"))
    json_object_set_int_member (header, "timestamp", g_get_real_time () / 1000);
  if (!json_object_has_member (msg, "content"))
    json_object_set_null_member (msg, "content");
  *id_out = g_strdup (get_str (header, "msg_id"));
  json_generator_set_root (gen, json_parser_get_root (parser));
  return json_generator_to_data (gen, NULL);
}

/* Parses "on"/"off". */
static gboolean
parse_on (const char *arg)
{
  return g_strcmp0 (arg, "on") == 0 || g_strcmp0 (arg, "true") == 0 || g_strcmp0 (arg, "1") == 0;
}

/* A configmap or secret the cloud sends is the cloud's from then on (its
 * queries are answered with it); a delete forgets it. */
static void
remember_object (CsHub *hub, const char *text)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *msg, *route;
  const char *resource, *op, *slash;
  JsonNode *content;

  if (!json_parser_load_from_data (parser, text, -1, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    return;
  msg = json_node_get_object (json_parser_get_root (parser));
  route = json_object_has_member (msg, "route") ? json_object_get_object_member (msg, "route") : NULL;
  resource = get_str (route, "resource");
  op = get_str (route, "operation");
  slash = resource ? strchr (resource, '/') : NULL;
  if (!op || !slash || !(g_str_has_prefix (slash, "/configmap/") || g_str_has_prefix (slash, "/secret/")))
    return;
  content = json_object_get_member (msg, "content");
  if (!strcmp (op, "delete"))
    g_hash_table_remove (hub->sent_objects, resource);
  else if ((!strcmp (op, "insert") || !strcmp (op, "update")) && content && JSON_NODE_HOLDS_OBJECT (content))
    g_hash_table_replace (hub->sent_objects, g_strdup (resource), json_to_string (content, FALSE));
}

/* Runs one control command; the answer goes to reply. Returns FALSE for an
 * unknown or bad command. */
gboolean
cs_hub_command (CsHub *hub, const char *line, GString *reply)
{
  g_autofree char *cmd = NULL;
  const char *arg = strchr (line, ' ');
  g_autoptr (GError) error = NULL;

  cmd = arg ? g_strndup (line, (gsize) (arg - line)) : g_strdup (line);
  arg = arg ? arg + 1 : "";
  if (!*cmd || cmd[0] == '#')
    return TRUE;
  record_str (hub, "command", "line", strlen (line) > 300 ? cmd : line);

  if (!strcmp (cmd, "send") || !strcmp (cmd, "send-noack"))
    {
      g_autofree char *id = NULL;
      g_autofree char *text = complete_message (arg, &id, &error);
      if (!text)
        {
          g_string_append_printf (reply, "error: %s", error->message);
          return FALSE;
        }
      remember_object (hub, text);
      send_message (hub, id, text, !strcmp (cmd, "send"), FALSE, FALSE);
      note_sent (hub, text);
      g_string_append_printf (reply, "sent %s", id);
    }
  else if (!strcmp (cmd, "big"))
    {
      guint64 size = g_ascii_strtoull (arg, NULL, 10);
      g_autofree char *id = g_uuid_string_random ();
      g_autofree char *blob = g_strnfill (size, 'b');
      g_autofree char *content = g_strdup_printf (
        "{\"metadata\":{\"name\":\"big\",\"namespace\":\"default\",\"uid\":\"big-uid\","
        "\"resourceVersion\":\"7\"},\"data\":{\"blob\":\"%s\"}}", blob);
      g_autofree char *text = build_message (id, NULL, "7", "edgecontroller", "resource", "insert",
                                             "default/configmap/big", content);
      send_message (hub, id, text, TRUE, TRUE, FALSE);
      record_str (hub, "send-big", "msg_id", id);
      g_string_append_printf (reply, "sent %s (%" G_GSIZE_FORMAT " bytes)", id, strlen (text));
    }
  else if (!strcmp (cmd, "raw") || !strcmp (cmd, "binary"))
    {
      if (!hub->conn)
        {
          g_string_append (reply, "error: no node connected");
          return FALSE;
        }
      if (!strcmp (cmd, "raw"))
        soup_websocket_connection_send_text (hub->conn, arg);
      else
        soup_websocket_connection_send_binary (hub->conn, arg, strlen (arg));
      record_str (hub, "send-raw", "text", arg);
      g_string_append (reply, "sent");
    }
  else if (!strcmp (cmd, "flood"))
    {
      g_auto (GStrv) a = g_strsplit (arg, " ", -1);
      guint n = a[0] ? (guint) g_ascii_strtoull (a[0], NULL, 10) : 1000;
      hub->flood = (Flood) { TRUE, n, 0, 0,
                             a[0] && a[1] ? (guint) g_ascii_strtoull (a[1], NULL, 10) : 1024,
                             0, g_get_monotonic_time () };
      hub->flood.window = a[0] && a[1] && a[2] ? (guint) g_ascii_strtoull (a[2], NULL, 10) : 1000;
      hub->flood.size = a[0] && a[1] ? (guint) g_ascii_strtoull (a[1], NULL, 10) : 1024;
      for (guint i = 0; i < MIN (hub->flood.window, n); i++)
        flood_send_one (hub);
      g_string_append_printf (reply, "flooding %u", n);
    }
  else if (!strcmp (cmd, "drop"))
    {
      drop_connection (hub, TRUE);
      g_string_append (reply, "dropped");
    }
  else if (!strcmp (cmd, "close"))
    {
      drop_connection (hub, FALSE);
      g_string_append (reply, "closing");
    }
  else if (!strcmp (cmd, "silent"))
    {
      guint n;
      if (!hub->relay)
        {
          g_string_append (reply, "error: silent needs cloudsim --relay");
          return FALSE;
        }
      n = cs_relay_silence (hub->relay);
      {
        g_autofree char *f = g_strdup_printf (",\"connections\":%u", n);
        record (hub, "silent", f);
      }
      g_string_append_printf (reply, "silent on %u connection(s)", n);
    }
  else if (!strcmp (cmd, "ack-delay"))
    {
      hub->ack_delay_ms = (guint) g_ascii_strtoull (arg, NULL, 10);
      g_string_append_printf (reply, "ack-delay %u ms", hub->ack_delay_ms);
    }
  else if (!strcmp (cmd, "ignore-acks"))
    {
      hub->ignore_acks = parse_on (arg);
      g_string_append_printf (reply, "ignore-acks %d", hub->ignore_acks);
    }
  else if (!strcmp (cmd, "refuse-token"))
    {
      hub->refuse_token = parse_on (arg);
      g_string_append_printf (reply, "refuse-token %d", hub->refuse_token);
    }
  else if (!strcmp (cmd, "reply"))
    {
      hub->auto_reply = parse_on (arg);
      g_string_append_printf (reply, "reply %d", hub->auto_reply);
    }
  else if (!strcmp (cmd, "status"))
    g_string_append_printf (reply, "connected=%d node=%s pending=%u received=%" G_GUINT64_FORMAT
                            " acks=%" G_GUINT64_FORMAT " bad=%" G_GUINT64_FORMAT
                            " resends=%" G_GUINT64_FORMAT,
                            hub->conn != NULL, hub->node_id ? hub->node_id : "-",
                            g_hash_table_size (hub->pending), hub->received, hub->acks,
                            hub->bad_frames, hub->resends);
  else if (!strcmp (cmd, "quit"))
    {
      g_string_append (reply, "bye");
      if (hub->quit_func)
        hub->quit_func (hub->quit_data);
    }
  else
    {
      g_string_append_printf (reply, "error: unknown command %s", cmd);
      return FALSE;
    }
  return TRUE;
}
