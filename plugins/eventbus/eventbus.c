/* eventbus.c: KubeEdge's eventbus, the bridge between the bus and MQTT
 * (module "eventbus", group "bus").
 *
 * MQTT modes (mqtt-mode): 2 external broker (default), 0 internal broker
 * (a mosquitto process eventbus supervises, see eb-broker.c), 1 both. Each
 * broker gets a subscriber and a publisher connection (eb-link.c). Messages
 * received on the subscriptions go to devicetwin ($hw/events/device/...,
 * $hw/events/node/...) or up to the cloud (everything else); bus messages
 * with operation publish, and the cloud's group-user messages, are
 * published. */
#include <edgecore.h>
#include "eb-plugin.h"
#include <mosquitto.h>
#include <string.h>

#include "eb-broker.h"
#include "eb-link.h"
#include "eb-util.h"

/* Reading from MQTT pauses while this many messages wait on the bus for
 * room in full queues, and resumes once they all entered them. */
#define BACKLOG_HIGH 2048

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  EcStore         *store;
  char            *node_name;
  gint64           mode;
  EbLink          *links[4];     /* ext sub, ext pub, int sub, int pub; NULL if unused */
  EbBroker        *broker;
  GPtrArray       *sub_topics;   /* topics the cloud subscribed (sub_topics table) */
  gboolean         paused;
  EcLogLimit       bad_publish;
  EcLogLimit       send_dropped;
  guint64          n_dropped;     /* MQTT messages the bus could not take */
  /* metrics, owned by the endpoint (NULL if refused); dropped[] by EbDrop */
  EcMetric        *m_received, *m_published, *m_dropped[4];
} EventBus;

/* Why a message between MQTT and the bus was dropped
 * (edgecore_mqtt_messages_dropped_total). */
typedef enum { EB_DROP_INVALID_TOPIC, EB_DROP_MALFORMED, EB_DROP_NOT_CONNECTED, EB_DROP_BUS } EbDrop;

enum { EXT_SUB, EXT_PUB, INT_SUB, INT_PUB };

/* The topics every subscriber subscribes (HEAD's list, plus v1.9.2's
 * single-level device id forms). */
static const char *const fixed_topics[] = {
  "$hw/events/upload/#",
  "$hw/events/device/+/+/state/update",
  "$hw/events/device/+/+/twin/+",
  "$hw/events/device/+/state/update",
  "$hw/events/device/+/twin/+",
  "$hw/events/node/+/membership/get",
  "SYS/dis/upload_records",
  "+/user/#",
};

/* modules.eventBus of edgecore.yaml v1alpha2; eventBusTLS.* is flattened
 * with a tls- prefix. See docs/configuration.md. */
const EcConfigKey eventbus_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run eventbus" },
  { EC_CONFIG_INT,    0, "mqtt-mode", "2", "0: internal broker, 1: both, 2: external broker" },
  { EC_CONFIG_STRING, 0, "mqtt-server-external", "tcp://127.0.0.1:1883", "address of the external MQTT broker" },
  { EC_CONFIG_STRING, 0, "mqtt-server-internal", "tcp://127.0.0.1:1884", "address of the internal MQTT broker" },
  { EC_CONFIG_INT,    0, "mqtt-qos", "0", "QoS of published messages: 0, 1 or 2" },
  { EC_CONFIG_BOOL,   0, "mqtt-retain", "false", "publish with the retain flag" },
  { EC_CONFIG_INT,    0, "mqtt-keepalive", "60", "seconds between MQTT keepalive pings to the brokers (5 to 65535)" },
  { EC_CONFIG_INT,    0, "mqtt-session-queue-size", "100", "size of the internal broker's session queue" },
  { EC_CONFIG_STRING, 0, "mqtt-sub-client-id", "", "MQTT client id of the subscriber; empty: generated" },
  { EC_CONFIG_STRING, 0, "mqtt-pub-client-id", "", "MQTT client id of the publisher; empty: generated" },
  { EC_CONFIG_STRING, 0, "mqtt-username", "", "MQTT user name" },
  { EC_CONFIG_STRING, 0, "mqtt-password", "", "MQTT password" },
  { EC_CONFIG_BOOL,   0, "tls-enable", "false", "connect to the MQTT broker over TLS" },
  { EC_CONFIG_STRING, 0, "tls-mqtt-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate of the MQTT broker (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-mqtt-cert-file", "/etc/kubeedge/certs/server.crt", "client certificate for the MQTT broker (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-mqtt-private-key-file", "/etc/kubeedge/certs/server.key", "client key for the MQTT broker (PEM)" },
  { 0 }
};

/* ---- sub_topics -------------------------------------------------------- */

/* Creates the sub_topics table (KubeEdge's schema). */
static gboolean
create_table (sqlite3 *db, gpointer data, GError **error)
{
  if (sqlite3_exec (db, "CREATE TABLE IF NOT EXISTS `sub_topics` (`topic` text, PRIMARY KEY (`topic`))",
                    NULL, NULL, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "create sub_topics");
  return TRUE;
}

/* Reads every stored topic into the GPtrArray data. */
static gboolean
load_topics (sqlite3 *db, gpointer data, GError **error)
{
  GPtrArray *topics = data;
  sqlite3_stmt *st = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db, "SELECT topic FROM sub_topics ORDER BY rowid", -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "read sub_topics");
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    if (sqlite3_column_text (st, 0)
        && ec_mqtt_topic_validate_filter ((const char *) sqlite3_column_text (st, 0), NULL))
      g_ptr_array_add (topics, g_strdup ((const char *) sqlite3_column_text (st, 0)));
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "read sub_topics");
  return TRUE;
}

typedef struct {
  char    *topic;
  gboolean insert;
} TopicWrite;

/* Frees a TopicWrite. */
static void
topic_write_free (gpointer data)
{
  TopicWrite *w = data;
  g_free (w->topic);
  g_free (w);
}

/* Inserts or deletes one sub_topics row. */
static gboolean
write_topic (sqlite3 *db, gpointer data, GError **error)
{
  TopicWrite *w = data;
  sqlite3_stmt *st = NULL;
  const char *sql = w->insert ? "INSERT OR REPLACE INTO sub_topics (topic) VALUES (?)"
                              : "DELETE FROM sub_topics WHERE topic = ?";
  int rc;

  if (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, sql);
  sqlite3_bind_text (st, 1, w->topic, -1, SQLITE_STATIC);
  rc = sqlite3_step (st);
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, sql);
  return TRUE;
}

/* Reports a failed sub_topics write. */
static void
topic_written (const GError *error, gpointer data)
{
  TopicWrite *w = data;
  if (error)
    g_warning ("eventbus: storing topic %s failed: %s", w->topic, error->message);
}

/* Queues a sub_topics change. */
static void
store_topic (EventBus *self, const char *topic, gboolean insert)
{
  TopicWrite *w;

  if (!self->store)
    return;
  w = g_new0 (TopicWrite, 1);
  w->topic = g_strdup (topic);
  w->insert = insert;
  ec_store_write (self->store, write_topic, topic_written, w, topic_write_free);
}

/* ---- MQTT -> bus ------------------------------------------------------- */

/* Sets the content to a JSON string of length bytes of text. */
static void
set_content_text (EcMessage *msg, const char *text, gsize len)
{
  if (text[len] == '\0')
    ec_message_set_content_string (msg, text);
  else
    {
      g_autofree char *copy = g_strndup (text, len);
      ec_message_set_content_string (msg, copy);
    }
}

/* A message that waited entered its receiver's queue: resumes reading
 * once nothing waits any more. */
static void
on_sent (EcEndpoint *endpoint, EcMessage *message, const GError *error, gpointer data)
{
  EventBus *self = data;

  if (!self->paused || ec_endpoint_get_waiting (endpoint, NULL) > 0)
    return;
  self->paused = FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (self->links); i++)
    if (self->links[i])
      eb_link_set_paused (self->links[i], FALSE);
}

/* Sends msg (taking the reference) to module; it waits on the bus while
 * module's queue is full. Reading from MQTT pauses while too much waits. */
static void
send_up (EventBus *self, const char *module, EcMessage *msg)
{
  g_autoptr (GError) error = NULL;

  if (!ec_endpoint_send_when_ready (self->endpoint, module, msg, on_sent, self, NULL, &error))
    {
      self->n_dropped++;
      ec_metric_add (self->m_dropped[EB_DROP_BUS], 1);
      ec_plugin_context_log_message_limited (self->context, &self->send_dropped, G_LOG_LEVEL_WARNING, msg,
                                     "MQTT message %s not passed to %s (%" G_GUINT64_FORMAT
                                     " so far): %s", ec_message_get_id (msg), module,
                                     self->n_dropped, error->message);
    }
  ec_message_unref (msg);
  if (!self->paused && ec_endpoint_get_waiting (self->endpoint, NULL) >= BACKLOG_HIGH)
    {
      self->paused = TRUE;
      for (guint i = 0; i < G_N_ELEMENTS (self->links); i++)
        if (self->links[i])
          eb_link_set_paused (self->links[i], TRUE);
    }
}

/* A message arrived on a subscription: to devicetwin or up to the cloud
 * (reference section 1.2). */
static void
on_mqtt_message (gpointer data, const char *topic, const void *payload, int length)
{
  EventBus *self = data;
  g_autofree char *fixed = NULL;
  const char *text = payload ? payload : "";
  gsize len = payload && length > 0 ? (gsize) length : 0;
  EcMessage *msg;

  ec_metric_add (self->m_received, 1);
  /* MQTT topics are UTF-8 (libmosquitto 2 checks it; an older one may not):
   * one that is not could not travel as a bus resource unchanged */
  if (!g_utf8_validate (topic, -1, NULL))
    {
      ec_metric_add (self->m_dropped[EB_DROP_INVALID_TOPIC], 1);
      ec_plugin_context_log_limited (self->context, &self->bad_publish, G_LOG_LEVEL_WARNING,
                                     "dropping a message whose MQTT topic is not UTF-8");
      return;
    }
  /* the payload is used in place unless it must be made valid UTF-8 */
  if (!g_utf8_validate_len (text, len, NULL) || memchr (text, 0, len))
    {
      fixed = g_utf8_make_valid (text, (gssize) len);
      text = fixed;
      len = strlen (fixed);
    }
  if (eb_topic_is_twin (topic))
    {
      g_autofree char *resource = ec_mqtt_topic_to_resource (topic);
      msg = ec_message_new ("bus", "user", EC_OP_RESPONSE, resource);
      /* a JSON object travels as the content itself (devicetwin reads the
       * text either way); anything else as a string, as KubeEdge sends it */
      if (len == 0 || text[0] != '{' || !ec_message_set_content_json (msg, text, (gssize) len, NULL))
        set_content_text (msg, text, len);
      send_up (self, "twin", msg);
    }
  else
    {
      msg = ec_message_new ("bus", "user", EC_OP_UPLOAD, topic);
      set_content_text (msg, text, len);
      send_up (self, "websocket", msg);
    }
}

/* A subscriber (re)connected: subscribe the fixed list and sub_topics. */
static void
on_sub_connected (gpointer data, EbLink *link)
{
  EventBus *self = data;

  eb_link_subscribe (link, (const char *const *) fixed_topics, G_N_ELEMENTS (fixed_topics));
  if (self->sub_topics->len)
    eb_link_subscribe (link, (const char *const *) self->sub_topics->pdata, self->sub_topics->len);
}

/* ---- bus -> MQTT ------------------------------------------------------- */

/* Publishes to the publisher of every broker in use. */
static void
publish (EventBus *self, const char *topic, const char *payload, gsize length)
{
  gboolean any = FALSE;

  g_autoptr (GError) error = NULL;

  if (!topic || !ec_mqtt_topic_validate (topic, &error))
    {
      ec_metric_add (self->m_dropped[EB_DROP_INVALID_TOPIC], 1);
      ec_plugin_context_log_limited (self->context, &self->bad_publish, G_LOG_LEVEL_WARNING,
                                     "not publishing to invalid MQTT topic “%s”: %s",
                                     topic ? topic : "", error ? error->message : "no topic");
      return;
    }
  if (self->links[EXT_PUB])
    any |= eb_link_publish (self->links[EXT_PUB], topic, payload, length);
  if (self->links[INT_PUB])
    any |= eb_link_publish (self->links[INT_PUB], topic, payload, length);
  ec_metric_add (any ? self->m_published : self->m_dropped[EB_DROP_NOT_CONNECTED], 1);
  if (!any)
    ec_log_debug (self->context, "MQTT broker not connected; dropped a message for %s", topic);
}

/* Subscribes (or unsubscribes) a topic the cloud asked for. */
static void
cloud_subscribe (EventBus *self, const char *topic, gboolean subscribe)
{
  guint index;
  gboolean known;
  g_autoptr (GError) error = NULL;

  if (!topic || !*topic)
    return;
  if (subscribe && !ec_mqtt_topic_validate_filter (topic, &error))
    {
      /* stored, it would make the subscription of every topic fail */
      ec_log_warning (self->context, "not subscribing to invalid MQTT topic filter “%s”: %s",
                      topic, error->message);
      return;
    }
  known = g_ptr_array_find_with_equal_func (self->sub_topics, topic, g_str_equal, &index);
  if (subscribe)
    {
      if (!known)
        g_ptr_array_add (self->sub_topics, g_strdup (topic));
      for (guint i = EXT_SUB; i <= INT_SUB; i += 2)
        if (self->links[i])
          eb_link_subscribe (self->links[i], &topic, 1);
    }
  else
    {
      if (known)
        g_ptr_array_remove_index (self->sub_topics, index);
      for (guint i = EXT_SUB; i <= INT_SUB; i += 2)
        if (self->links[i])
          eb_link_unsubscribe (self->links[i], topic);
    }
  store_topic (self, topic, subscribe);
  ec_log_info (self->context, "%s MQTT topic %s", subscribe ? "subscribed" : "unsubscribed", topic);
}

/* content.message of a legacy `message` operation, when it is an object
 * with a string topic (*topic points into it). */
static JsonObject *
legacy_inner (JsonNode *root, const char **topic)
{
  JsonNode *inner, *t;
  if (!root || !JSON_NODE_HOLDS_OBJECT (root))
    return NULL;
  inner = json_object_get_member (json_node_get_object (root), "message");
  if (!inner || !JSON_NODE_HOLDS_OBJECT (inner))
    return NULL;
  t = json_object_get_member (json_node_get_object (inner), "topic");
  if (!t || !JSON_NODE_HOLDS_VALUE (t) || json_node_get_value_type (t) != G_TYPE_STRING)
    return NULL;
  *topic = json_node_get_string (t);
  return json_node_get_object (inner);
}

/* Legacy `message` operation: publish the JSON of content.message to its
 * topic. The content may also be a string holding that JSON, read with
 * libedgecore's reader (its default limits). */
static void
publish_legacy (EventBus *self, EcMessage *message)
{
  g_autoptr (GError) error = NULL;
  JsonNode *root = ec_message_get_content_node (message, &error);
  g_autoptr (JsonNode) parsed = NULL;
  JsonObject *inner;
  const char *topic = NULL;

  if (root && JSON_NODE_HOLDS_VALUE (root) && json_node_get_value_type (root) == G_TYPE_STRING)
    {
      const char *text = json_node_get_string (root);
      g_clear_error (&error);
      root = parsed = ec_json_parse (text, strlen (text), 0, 0, &error);
    }
  if ((inner = legacy_inner (root, &topic)))
    {
      g_autoptr (JsonNode) wrap = json_node_init_object (json_node_alloc (), inner);
      g_autofree char *payload = ec_json_to_string (wrap, FALSE);
      publish (self, topic, payload, strlen (payload));
      return;
    }
  ec_metric_add (self->m_dropped[EB_DROP_MALFORMED], 1);
  ec_plugin_context_log_message_limited (self->context, &self->bad_publish, G_LOG_LEVEL_WARNING, message,
                                 "message %s: content has no message.topic%s%s; not published",
                                 ec_message_get_id (message), error ? ": " : "",
                                 error ? error->message : "");
}

/* Tells whether a message answers an earlier one. */
static gboolean
is_reply (EcMessage *message)
{
  const char *parent = ec_message_get_parent_id (message);
  const char *op = ec_message_get_operation (message);

  return (parent && *parent) || g_strcmp0 (op, EC_OP_RESPONSE) == 0
         || g_strcmp0 (op, EC_OP_ERROR) == 0;
}

/* Handles a bus message: publish / subscribe / unsubscribe / message /
 * get_result (reference section 1.3). */
void
eventbus_handle_message (gpointer state, EcMessage *message)
{
  EventBus *self = state;
  const char *op = ec_message_get_operation (message);
  const char *resource = ec_message_get_resource (message);

  if (g_strcmp0 (op, EC_OP_PUBLISH) == 0)
    {
      gsize len;
      const char *json = ec_message_get_content_json (message, &len);
      if (len > 0 && json[0] == '"')
        {
          g_autofree char *payload = ec_message_dup_content_string (message);
          publish (self, resource, payload, strlen (payload));
        }
      else
        publish (self, resource, json, len);   /* a JSON document: its text, verbatim */
    }
  else if (g_strcmp0 (op, "subscribe") == 0)
    cloud_subscribe (self, resource, TRUE);
  else if (g_strcmp0 (op, "unsubscribe") == 0)
    cloud_subscribe (self, resource, FALSE);
  else if (g_strcmp0 (op, "message") == 0)
    publish_legacy (self, message);
  else if (g_strcmp0 (op, "get_result") == 0 && g_strcmp0 (resource, "auth_info") == 0)
    {
      g_autofree char *topic = g_strdup_printf ("$hw/events/node/%s/authInfo/get/result",
                                                self->node_name);
      gsize len;
      const char *json = ec_message_get_content_json (message, &len);
      publish (self, topic, json, len);
    }
  else if (g_strcmp0 (op, EC_OP_CONNECT) == 0)
    ;   /* cloud link state: eventbus does not depend on it */
  else
    {
      ec_log_debug (self->context, "ignoring %s %s from %s", op, resource,
                    ec_message_get_source (message));
      if (ec_message_get_sync (message) && !is_reply (message))
        {
          g_autoptr (EcMessage) reply = ec_message_new_error (message, "eventbus: unsupported operation");
          ec_message_set_source (reply, EVENTBUS_BUS_NAME);
          ec_endpoint_respond (self->endpoint, reply, NULL);
        }
    }
}

/* ---- lifecycle --------------------------------------------------------- */

/* The configured client id, or KubeEdge's generated one. */
static char *
client_id (EcPluginContext *context, const char *key, const char *role)
{
  g_autofree char *configured = ec_plugin_context_get_string (context, key);
  return eb_client_id (configured, role, g_get_real_time () / 1000);
}

/* Creates the subscriber and publisher of one broker. */
static gboolean
make_links (EventBus *self, const char *url, int sub_qos, int slot, const char *what,
            GError **error)
{
  EcPluginContext *c = self->context;
  g_autofree char *sub_id = client_id (c, "mqtt-sub-client-id", "sub");
  g_autofree char *pub_id = client_id (c, "mqtt-pub-client-id", "pub");
  g_autofree char *user = ec_plugin_context_get_string (c, "mqtt-username");
  g_autofree char *password = ec_plugin_context_get_string (c, "mqtt-password");
  g_autofree char *ca = ec_plugin_context_get_string (c, "tls-mqtt-ca-file");
  g_autofree char *cert = ec_plugin_context_get_string (c, "tls-mqtt-cert-file");
  g_autofree char *key = ec_plugin_context_get_string (c, "tls-mqtt-private-key-file");
  g_autofree char *sub_role = g_strdup_printf ("%s subscriber", what);
  g_autofree char *pub_role = g_strdup_printf ("%s publisher", what);
  EbLinkConfig cfg = {
    .url = url, .username = user, .password = password,
    .tls_enable = ec_plugin_context_get_bool (c, "tls-enable"),
    .tls_ca_file = ca, .tls_cert_file = cert, .tls_key_file = key,
    .qos = (int) ec_plugin_context_get_int (c, "mqtt-qos"),
    .retain = ec_plugin_context_get_bool (c, "mqtt-retain"),
    .sub_qos = sub_qos,
    .keepalive = (int) CLAMP (ec_plugin_context_get_int (c, "mqtt-keepalive"), 5, 65535),
  };

  cfg.broker = what;
  cfg.role = sub_role;
  cfg.client = "subscriber";
  cfg.client_id = sub_id;
  self->links[slot] = eb_link_new (c, &cfg, on_mqtt_message, on_sub_connected, self, error);
  if (!self->links[slot])
    return FALSE;
  cfg.role = pub_role;
  cfg.client = "publisher";
  cfg.client_id = pub_id;
  self->links[slot + 1] = eb_link_new (c, &cfg, NULL, NULL, self, error);
  return self->links[slot + 1] != NULL;
}

/* Registers eventbus's metrics (the links register their own). */
static void
register_metrics (EventBus *self)
{
  static const char *const reasons[] = { "invalid_topic", "malformed", "not_connected", "bus" };
  G_STATIC_ASSERT (G_N_ELEMENTS (reasons) == G_N_ELEMENTS (self->m_dropped));
  self->m_received = ec_endpoint_add_metric (self->endpoint, "edgecore_mqtt_messages_received_total",
                                             EC_METRIC_COUNTER, "Messages received on eventbus's MQTT "
                                             "subscriptions.", NULL);
  self->m_published = ec_endpoint_add_metric (self->endpoint, "edgecore_mqtt_messages_published_total",
                                              EC_METRIC_COUNTER, "Messages eventbus published to MQTT "
                                              "(to at least one broker).", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    {
      const char *const labels[] = { "reason", reasons[i], NULL };
      self->m_dropped[i] = ec_endpoint_add_metric (self->endpoint, "edgecore_mqtt_messages_dropped_total",
                                                   EC_METRIC_COUNTER, "Messages between MQTT and the bus "
                                                   "eventbus dropped, by reason: invalid_topic, malformed "
                                                   "(a message operation without message.topic), "
                                                   "not_connected (no broker to publish to), bus (the "
                                                   "receiver left or too much waits for it).", labels);
    }
}

/* Frees the plugin's state. */
void
eventbus_free (gpointer state)
{
  EventBus *self = state;

  if (!self)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (self->links); i++)
    g_clear_pointer (&self->links[i], eb_link_free);
  g_clear_pointer (&self->broker, eb_broker_free);
  g_clear_pointer (&self->sub_topics, g_ptr_array_unref);
  g_free (self->node_name);
  g_free (self);
  mosquitto_lib_cleanup ();
}

/* Reads the config, creates sub_topics, prepares the MQTT links. */
gboolean
eventbus_init (EcPluginContext *context, gpointer *state, GError **error)
{
  EventBus *self = g_new0 (EventBus, 1);
  EcLogLimit limit = EC_LOG_LIMIT_INIT (10);
  g_autofree char *external = ec_plugin_context_get_string (context, "mqtt-server-external");
  g_autofree char *internal = ec_plugin_context_get_string (context, "mqtt-server-internal");
  g_autoptr (GError) store_error = NULL;
  gint64 qos = ec_plugin_context_get_int (context, "mqtt-qos");
  gint64 queue = ec_plugin_context_get_int (context, "mqtt-session-queue-size");

  mosquitto_lib_init ();
  self->context = context;
  self->bad_publish = limit;
  self->send_dropped = limit;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  self->node_name = g_strdup (ec_plugin_context_get_node_name (context));
  self->mode = ec_plugin_context_get_int (context, "mqtt-mode");
  self->sub_topics = g_ptr_array_new_with_free_func (g_free);
  register_metrics (self);

  if (self->mode < 0 || self->mode > 2 || qos < 0 || qos > 2 || queue < 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "mqtt-mode must be 0, 1 or 2, mqtt-qos 0, 1 or 2, mqtt-session-queue-size > 0");
      eventbus_free (self);
      return FALSE;
    }

  self->store = ec_plugin_context_get_store (context, &store_error);
  if (self->store && ec_store_write_sync (self->store, create_table, NULL, &store_error)
      && ec_store_read_sync (self->store, load_topics, self->sub_topics, &store_error))
    ;
  else
    {
      ec_log_warning (context, "sub_topics not available, cloud subscriptions are not kept: %s",
                      store_error->message);
      self->store = NULL;
    }

  /* Publishes use mqtt-qos and mqtt-retain on both brokers; the external
   * subscriptions use QoS 1 as KubeEdge's do, the internal ones mqtt-qos. */
  if (self->mode >= 1 && !make_links (self, external, 1, EXT_SUB, "external", error))
    {
      eventbus_free (self);
      return FALSE;
    }
  if (self->mode <= 1)
    {
      g_autofree char *host = NULL;
      int port = 0;
      gboolean tls = FALSE;
      if (!eb_parse_mqtt_url (internal, &host, &port, &tls, error)
          || !(self->broker = eb_broker_new (context, host, port, (guint) queue, error))
          || !make_links (self, internal, (int) qos, INT_SUB, "internal", error))
        {
          eventbus_free (self);
          return FALSE;
        }
    }
  *state = self;
  return TRUE;
}

/* Starts the internal broker (if any) and connects. A broker that is not
 * reachable is retried in the background. */
gboolean
eventbus_start (gpointer state, GError **error)
{
  EventBus *self = state;

  if (self->broker)
    eb_broker_start (self->broker);
  for (guint i = 0; i < G_N_ELEMENTS (self->links); i++)
    if (self->links[i])
      eb_link_start (self->links[i]);
  ec_log_info (self->context, "MQTT mode %" G_GINT64_FORMAT " (%s), %u cloud topics",
               self->mode, self->mode == 0 ? "internal" : self->mode == 1 ? "both" : "external",
               self->sub_topics->len);
  return TRUE;
}

/* Disconnects and stops the internal broker. */
void
eventbus_stop (gpointer state)
{
  EventBus *self = state;

  for (guint i = 0; i < G_N_ELEMENTS (self->links); i++)
    g_clear_pointer (&self->links[i], eb_link_free);
  g_clear_pointer (&self->broker, eb_broker_free);
}
