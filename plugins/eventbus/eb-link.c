/* eb-link.c: one libmosquitto client whose socket is watched by a GSource
 * on the main loop (no mosquitto thread): reads, writes and callbacks all
 * run on the main loop, so received messages go onto the bus without a
 * thread hop and publishing needs no locks. Connection loss and failed
 * connects are retried with exponential backoff (0.2 s doubling to 5 s).
 *
 * Publishing at QoS 0 over plain TCP (the mappers' case) is batched: the
 * PUBLISH packets are encoded here into one buffer and written with one
 * send() per main-loop iteration, instead of libmosquitto's write (plus a
 * wake-up byte on its socket pair) per packet. libmosquitto is told it is
 * threaded, so it never writes on its own: its own packets (CONNECT,
 * PINGREQ, ...) go out from the GSource, and only between packets of
 * both streams: when a send() stops inside one of our PUBLISH packets
 * (the socket is full), the rest of that packet goes out before any of
 * libmosquitto's, and ours wait while one of libmosquitto's is half
 * written. So a keepalive PINGREQ that falls due while the broker reads
 * slowly waits for one packet, not for the whole batch.
 * QoS 1/2 and TLS publishes go through mosquitto_publish. */
#include "eb-link.h"
#include "eb-util.h"

#include <errno.h>
#include <mosquitto.h>
#include <string.h>
#include <sys/socket.h>

#define BACKOFF_MIN_MS  200
#define BACKOFF_MAX_MS  5000
#define READS_PER_DISPATCH 256
#define RAW_FLUSH_AT       (256 * 1024)   /* write at once beyond this */
#define RAW_KEEP_MAX       (64 * 1024)    /* buffer kept when empty if it held no more */

typedef struct {
  GSource      source;
  EbLink      *link;
  gpointer     tag;
  GIOCondition cond;   /* what the fd is polled for now */
} LinkSource;

struct _EbLink {
  EcPluginContext    *context;
  struct mosquitto   *mosq;
  char               *role;
  char               *url;
  char               *host;
  int                 port;
  int                 qos;
  int                 sub_qos;
  gboolean            retain;
  EbLinkMessageFunc   on_message;
  EbLinkConnectedFunc on_connected;
  gpointer            user_data;

  GSource            *io;          /* LinkSource while a socket exists */
  guint               misc_id;     /* keepalive timer */
  guint               retry_id;    /* reconnect timer */
  guint               backoff_ms;
  gboolean            started;     /* first connect attempted */
  gboolean            connected;   /* CONNACK received */
  gboolean            paused;      /* do not read */
  guint               failures;    /* connect failures since last success */
  EcMetric           *m_connected, *m_connects; /* owned by the endpoint; NULL: none */

  gboolean            raw;         /* QoS 0 on plain TCP: batched publishes */
  int                 keepalive;   /* seconds */
  GByteArray         *out;         /* encoded PUBLISH packets to write */
  gsize               out_pos;     /* bytes of out already written */
  gsize               out_packet;  /* start of the packet out_pos is in (a boundary <= out_pos) */
  gboolean            out_blocked; /* the socket was full: wait for G_IO_OUT */
};

/* Parses tcp://host:port or ssl://host:port (paho's forms; ws:// is not
 * supported by libmosquitto). */
gboolean
eb_parse_mqtt_url (const char *url, char **host, int *port, gboolean *tls, GError **error)
{
  const char *rest;
  const char *colon;
  guint64 p = 0;

  if (g_str_has_prefix (url, "tcp://") || g_str_has_prefix (url, "mqtt://"))
    *tls = FALSE;
  else if (g_str_has_prefix (url, "ssl://") || g_str_has_prefix (url, "tls://")
           || g_str_has_prefix (url, "mqtts://"))
    *tls = TRUE;
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "MQTT URL “%s”: only tcp:// and ssl:// are supported", url);
      return FALSE;
    }
  rest = strstr (url, "://") + 3;
  colon = strrchr (rest, ':');
  if (!colon || colon == rest
      || !g_ascii_string_to_unsigned (colon + 1, 10, 1, 65535, &p, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "MQTT URL “%s”: expected scheme://host:port", url);
      return FALSE;
    }
  *host = g_strndup (rest, colon - rest);
  *port = (int) p;
  return TRUE;
}

static void link_lost (EbLink *self, int rc);

/* Chooses the poll events: read unless paused, write when libmosquitto has
 * queued output. */
static gboolean
source_prepare (GSource *source, gint *timeout)
{
  LinkSource *ls = (LinkSource *) source;
  EbLink *self = ls->link;
  GIOCondition cond = G_IO_ERR | G_IO_HUP;
  gboolean raw_pending = self->out && self->out->len > self->out_pos;

  if (!self->paused)
    cond |= G_IO_IN;
  if (mosquitto_want_write (self->mosq) || raw_pending)
    cond |= G_IO_OUT;
  /* modifying wakes the context up, so only on a change */
  if (cond != ls->cond)
    {
      g_source_modify_unix_fd (source, ls->tag, cond);
      ls->cond = cond;
    }
  *timeout = -1;
  /* publishes queued during this iteration go out now, in one write */
  return raw_pending && !self->out_blocked;
}

/* Ready when the socket reported anything. */
static gboolean
source_check (GSource *source)
{
  LinkSource *ls = (LinkSource *) source;
  return g_source_query_unix_fd (source, ls->tag) != 0;
}

/* The end of the encoded packet that starts at offset at of out. */
static gsize
packet_end (GByteArray *out, gsize at)
{
  gsize remaining = 0, shift = 0, i = at + 1;
  guint8 b;
  do
    {
      b = out->data[i++];
      remaining |= (gsize) (b & 0x7f) << shift;
      shift += 7;
    }
  while (b & 0x80);
  return i + remaining;
}

/* Moves out_packet up to the packet out_pos is in. TRUE when out_pos is
 * at a packet boundary (libmosquitto may write). */
static gboolean
at_packet_boundary (EbLink *self)
{
  while (self->out_packet < self->out_pos)
    {
      gsize end = packet_end (self->out, self->out_packet);
      if (end > self->out_pos)
        return FALSE;
      self->out_packet = end;
    }
  return TRUE;
}

/* Sends out[out_pos, limit). Returns a MOSQ_ERR_* code; sets out_blocked
 * when the socket is full. */
static int
send_raw (EbLink *self, int fd, gsize limit)
{
  while (self->out_pos < limit)
    {
      ssize_t n;
      if (fd < 0)
        return MOSQ_ERR_NO_CONN;
      n = send (fd, self->out->data + self->out_pos, limit - self->out_pos, MSG_NOSIGNAL);
      if (n > 0)
        self->out_pos += (gsize) n;
      else if (n < 0 && errno == EINTR)
        continue;
      else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        {
          self->out_blocked = TRUE;
          return MOSQ_ERR_SUCCESS;
        }
      else
        return MOSQ_ERR_CONN_LOST;
    }
  return MOSQ_ERR_SUCCESS;
}

/* Writes the rest of a half-written PUBLISH of ours, then libmosquitto's
 * queued packets, then the batched publishes: the two streams only meet
 * at packet boundaries. Returns a MOSQ_ERR_* code. */
static int
flush_output (EbLink *self)
{
  int fd = mosquitto_socket (self->mosq);
  int rc;

  self->out_blocked = FALSE;
  if (self->out && !at_packet_boundary (self))
    {
      rc = send_raw (self, fd, packet_end (self->out, self->out_packet));
      if (rc != MOSQ_ERR_SUCCESS || self->out_blocked)
        return rc;
      self->out_packet = self->out_pos;
    }
  if (mosquitto_want_write (self->mosq))
    {
      rc = mosquitto_loop_write (self->mosq, 1);
      if (rc != MOSQ_ERR_SUCCESS)
        return rc;
      if (mosquitto_want_write (self->mosq))
        {
          self->out_blocked = TRUE;   /* ours must wait for libmosquitto's */
          return MOSQ_ERR_SUCCESS;
        }
    }
  if (self->out)
    {
      rc = send_raw (self, fd, self->out->len);
      if (rc != MOSQ_ERR_SUCCESS || self->out_blocked)
        return rc;
    }
  if (self->out && self->out_pos == self->out->len)
    {
      if (self->out->len > RAW_KEEP_MAX)
        {
          g_byte_array_unref (self->out);
          self->out = g_byte_array_new ();
        }
      else
        g_byte_array_set_size (self->out, 0);
      self->out_pos = 0;
      self->out_packet = 0;
    }
  return MOSQ_ERR_SUCCESS;
}

/* Drops the batched publishes (the connection is gone; QoS 0 is lost, as
 * libmosquitto loses its queue). */
static void
drop_output (EbLink *self)
{
  if (self->out && self->out->len > RAW_KEEP_MAX)
    {
      g_byte_array_unref (self->out);
      self->out = g_byte_array_new ();
    }
  else if (self->out)
    g_byte_array_set_size (self->out, 0);
  self->out_pos = 0;
  self->out_packet = 0;
  self->out_blocked = FALSE;
}

/* Writes queued output and reads (a bounded number of packets, until the
 * socket would block). */
static gboolean
source_dispatch (GSource *source, GSourceFunc unused, gpointer unused2)
{
  LinkSource *ls = (LinkSource *) source;
  EbLink *self = ls->link;
  GIOCondition rev = g_source_query_unix_fd (source, ls->tag);
  int rc = MOSQ_ERR_SUCCESS;

  if (rev & G_IO_OUT)
    self->out_blocked = FALSE;
  if ((rev & G_IO_OUT) || (self->out && self->out->len > self->out_pos && !self->out_blocked))
    rc = flush_output (self);
  if (rc == MOSQ_ERR_SUCCESS && (rev & (G_IO_IN | G_IO_ERR | G_IO_HUP)))
    {
      for (int i = 0; i < READS_PER_DISPATCH && !self->paused; i++)
        {
          errno = 0;
          rc = mosquitto_loop_read (self->mosq, 1);
          if (rc != MOSQ_ERR_SUCCESS || errno == EAGAIN || errno == EWOULDBLOCK)
            break;
          if (!self->io)       /* a callback tore the link down */
            return G_SOURCE_REMOVE;
        }
    }
  if (rc == MOSQ_ERR_SUCCESS && mosquitto_socket (self->mosq) < 0)
    rc = MOSQ_ERR_CONN_LOST;
  if (rc != MOSQ_ERR_SUCCESS)
    {
      link_lost (self, rc);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs link_source_funcs = {
  source_prepare, source_check, source_dispatch, NULL, NULL, NULL,
};

/* Drops the socket watch and the keepalive timer. */
static void
stop_watching (EbLink *self)
{
  drop_output (self);
  if (self->io)
    {
      g_source_destroy (self->io);
      g_source_unref (self->io);
      self->io = NULL;
    }
  g_clear_handle_id (&self->misc_id, g_source_remove);
}

/* Keepalive pings and timeouts. */
static gboolean
on_misc (gpointer data)
{
  EbLink *self = data;
  int rc = mosquitto_loop_misc (self->mosq);
  if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket (self->mosq) < 0)
    {
      self->misc_id = 0;
      link_lost (self, rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_CONN_LOST : rc);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean on_retry (gpointer data);

/* Schedules the next connect attempt with exponential backoff. */
static void
schedule_retry (EbLink *self)
{
  if (self->retry_id)
    return;
  self->retry_id = g_timeout_add (self->backoff_ms, on_retry, self);
  self->backoff_ms = MIN (self->backoff_ms * 2, BACKOFF_MAX_MS);
}

/* Starts a non-blocking connect and watches the socket. */
static void
try_connect (EbLink *self)
{
  int rc;
  int fd;
  LinkSource *ls;

  stop_watching (self);
  self->connected = FALSE;
  if (!self->started)
    {
      self->started = TRUE;
      rc = mosquitto_connect_async (self->mosq, self->host, self->port, self->keepalive);
    }
  else
    rc = mosquitto_reconnect_async (self->mosq);
  fd = mosquitto_socket (self->mosq);
  if (rc != MOSQ_ERR_SUCCESS || fd < 0)
    {
      if (self->failures++ == 0)
        ec_log_warning (self->context, "MQTT %s: cannot connect to %s: %s; retrying with backoff",
                        self->role, self->url,
                        rc == MOSQ_ERR_ERRNO ? g_strerror (errno) : mosquitto_strerror (rc));
      schedule_retry (self);
      return;
    }
  ls = (LinkSource *) g_source_new (&link_source_funcs, sizeof (LinkSource));
  ls->link = self;
  ls->cond = G_IO_IN | G_IO_OUT | G_IO_ERR | G_IO_HUP;
  ls->tag = g_source_add_unix_fd ((GSource *) ls, fd, ls->cond);
  g_source_set_name ((GSource *) ls, "eventbus mqtt");
  g_source_attach ((GSource *) ls, NULL);
  self->io = (GSource *) ls;
  self->misc_id = g_timeout_add_seconds (1, on_misc, self);
}

/* The reconnect timer fired. */
static gboolean
on_retry (gpointer data)
{
  EbLink *self = data;
  self->retry_id = 0;
  try_connect (self);
  return G_SOURCE_REMOVE;
}

/* The connection failed or broke: forget the socket and retry later. */
static void
link_lost (EbLink *self, int rc)
{
  gboolean was_connected = self->connected;

  stop_watching (self);
  self->connected = FALSE;
  ec_metric_set (self->m_connected, 0);
  if (was_connected)
    ec_log_warning (self->context, "MQTT %s: connection to %s lost (%s); reconnecting",
                    self->role, self->url, mosquitto_strerror (rc));
  else if (self->failures++ == 0)
    ec_log_warning (self->context, "MQTT %s: cannot connect to %s (%s); retrying with backoff",
                    self->role, self->url, mosquitto_strerror (rc));
  schedule_retry (self);
}

/* CONNACK. */
static void
on_connect_cb (struct mosquitto *mosq, void *obj, int rc)
{
  EbLink *self = obj;

  if (rc != 0)
    {
      if (self->failures++ == 0)
        ec_log_warning (self->context, "MQTT %s: %s refused the connection: %s",
                        self->role, self->url, mosquitto_connack_string (rc));
      return;   /* the broker closes the socket; the read sees it */
    }
  self->connected = TRUE;
  ec_metric_set (self->m_connected, 1);
  ec_metric_add (self->m_connects, 1);
  self->failures = 0;
  self->backoff_ms = BACKOFF_MIN_MS;
  ec_log_info (self->context, "MQTT %s: connected to %s", self->role, self->url);
  if (self->on_connected)
    self->on_connected (self->user_data, self);
}

/* A PUBLISH from the broker. */
static void
on_message_cb (struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
  EbLink *self = obj;
  if (self->on_message && msg->topic)
    self->on_message (self->user_data, msg->topic, msg->payload, msg->payloadlen);
}

/* Creates a link; it connects once eb_link_start() is called. */
EbLink *
eb_link_new (EcPluginContext *context, const EbLinkConfig *config,
             EbLinkMessageFunc on_message, EbLinkConnectedFunc on_connected,
             gpointer user_data, GError **error)
{
  g_autofree char *host = NULL;
  int port = 0;
  gboolean tls = FALSE;
  EbLink *self;
  int rc;

  if (!eb_parse_mqtt_url (config->url, &host, &port, &tls, error))
    return NULL;
  self = g_new0 (EbLink, 1);
  self->context = context;
  self->role = g_strdup (config->role);
  self->url = g_strdup (config->url);
  self->host = g_steal_pointer (&host);
  self->port = port;
  self->qos = config->qos;
  self->sub_qos = config->sub_qos;
  self->retain = config->retain;
  self->keepalive = config->keepalive > 0 ? CLAMP (config->keepalive, 5, 65535) : 60;
  self->on_message = on_message;
  self->on_connected = on_connected;
  self->user_data = user_data;
  self->backoff_ms = BACKOFF_MIN_MS;
  if (config->broker)
    {
      const char *const labels[] = { "broker", config->broker, "client", config->client, NULL };
      EcEndpoint *ep = ec_plugin_context_get_endpoint (context);
      self->m_connected = ec_endpoint_add_metric (ep, "edgecore_mqtt_connected", EC_METRIC_GAUGE,
                                                  "1 while eventbus's MQTT client is connected, by broker "
                                                  "and client.", labels);
      self->m_connects = ec_endpoint_add_metric (ep, "edgecore_mqtt_connects_total", EC_METRIC_COUNTER,
                                                 "Connections of eventbus's MQTT clients to their broker "
                                                 "(CONNACK), by broker and client.", labels);
    }
  self->mosq = mosquitto_new (config->client_id, TRUE, self);
  if (!self->mosq)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "mosquitto_new: %s", g_strerror (errno));
      eb_link_free (self);
      return NULL;
    }
  /* QoS 0 on plain TCP: publishes are batched here; libmosquitto must
   * then never write by itself (see the top of this file) */
  self->raw = !tls && config->qos == 0;
  if (self->raw)
    {
      self->out = g_byte_array_new ();
      mosquitto_threaded_set (self->mosq, TRUE);
    }
  mosquitto_connect_callback_set (self->mosq, on_connect_cb);
  mosquitto_message_callback_set (self->mosq, on_message_cb);
  mosquitto_max_inflight_messages_set (self->mosq, 0);
  mosquitto_int_option (self->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  if (config->username && *config->username)
    mosquitto_username_pw_set (self->mosq, config->username,
                               config->password && *config->password ? config->password : NULL);
  if (tls)
    {
      if (config->tls_enable)
        rc = mosquitto_tls_set (self->mosq, config->tls_ca_file, NULL, config->tls_cert_file,
                                config->tls_key_file, NULL);
      else
        {
          /* KubeEdge skips verification when eventBusTLS is off. */
          rc = mosquitto_tls_set (self->mosq, NULL, "/etc/ssl/certs", NULL, NULL, NULL);
          if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_opts_set (self->mosq, 0, NULL, NULL);
          if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_insecure_set (self->mosq, TRUE);
        }
      if (rc != MOSQ_ERR_SUCCESS)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "MQTT TLS setup for %s: %s",
                       config->url, mosquitto_strerror (rc));
          eb_link_free (self);
          return NULL;
        }
    }
  return self;
}

/* Begins connecting; failures are retried for ever. */
void
eb_link_start (EbLink *self)
{
  try_connect (self);
}

/* Disconnects and frees the link. */
void
eb_link_free (EbLink *self)
{
  if (!self)
    return;
  ec_metric_set (self->m_connected, 0);
  if (self->mosq && self->connected)
    {
      /* best effort: what is batched, then DISCONNECT (libmosquitto only
       * queues it, being told it is threaded) */
      flush_output (self);
      mosquitto_disconnect (self->mosq);
      if (self->raw)
        mosquitto_loop_write (self->mosq, 1);
    }
  stop_watching (self);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  if (self->mosq)
    mosquitto_destroy (self->mosq);
  if (self->out)
    g_byte_array_unref (self->out);
  g_free (self->role);
  g_free (self->url);
  g_free (self->host);
  g_free (self);
}

/* Whether the broker accepted the connection. */
gboolean
eb_link_is_connected (EbLink *self)
{
  return self->connected;
}

/* The QoS the link uses. */
int
eb_link_get_qos (EbLink *self)
{
  return self->qos;
}

/* Publishes with the link's QoS and retain flag. Returns FALSE when the
 * link is down or the broker refused (the message is dropped). */
gboolean
eb_link_publish (EbLink *self, const char *topic, const void *payload, gsize length)
{
  int rc;

  if (!self->connected || length > G_MAXINT)
    return FALSE;
  if (self->raw)
    {
      /* mosquitto_publish's checks: a valid UTF-8 topic name */
      if (!*topic || strpbrk (topic, "+#") || !g_utf8_validate (topic, -1, NULL)
          || !eb_mqtt_encode_publish (self->out, topic, payload, length, self->retain))
        return FALSE;
      if (self->out->len - self->out_pos >= RAW_FLUSH_AT && !self->out_blocked
          && (rc = flush_output (self)) != MOSQ_ERR_SUCCESS)
        {
          link_lost (self, rc);
          return FALSE;
        }
      return TRUE;
    }
  rc = mosquitto_publish (self->mosq, NULL, topic, (int) length, payload, self->qos, self->retain);
  if (rc == MOSQ_ERR_ERRNO || rc == MOSQ_ERR_CONN_LOST || rc == MOSQ_ERR_NO_CONN)
    {
      link_lost (self, rc == MOSQ_ERR_ERRNO ? MOSQ_ERR_CONN_LOST : rc);
      return FALSE;
    }
  return rc == MOSQ_ERR_SUCCESS;
}

/* Subscribes topics with the link's subscription QoS (only while connected; the
 * connected callback subscribes everything again after a reconnect). */
void
eb_link_subscribe (EbLink *self, const char *const *topics, guint n_topics)
{
  int rc;

  if (!self->connected || n_topics == 0)
    return;
  rc = mosquitto_subscribe_multiple (self->mosq, NULL, (int) n_topics, (char *const *const) topics,
                                     self->sub_qos, 0, NULL);
  if (rc != MOSQ_ERR_SUCCESS)
    ec_log_warning (self->context, "MQTT %s: subscribe failed: %s", self->role,
                    mosquitto_strerror (rc));
}

/* Unsubscribes one topic (while connected). */
void
eb_link_unsubscribe (EbLink *self, const char *topic)
{
  if (self->connected)
    mosquitto_unsubscribe (self->mosq, NULL, topic);
}

/* Stops or resumes reading from the socket (backpressure). */
void
eb_link_set_paused (EbLink *self, gboolean paused)
{
  self->paused = paused;
  if (!paused && self->io)
    g_main_context_wakeup (g_source_get_context (self->io));
}
