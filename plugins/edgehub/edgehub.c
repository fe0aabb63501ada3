/* edgehub.c: KubeEdge's edgehub, the node's only link to cloudcore. On the
 * bus it is module "websocket" in group "hub", as in KubeEdge. It applies
 * for the node certificate with the join token (certs.c), keeps a mutual
 * TLS websocket to cloudhub (link.c), routes the cloud's messages onto the
 * bus (downlink.c) and writes every message sent to it to the cloud,
 * queueing what cannot go yet (uplink.c). See docs/edgehub.md. */
#include "edgehub-private.h"

/* modules.edgeHub of edgecore.yaml v1alpha2, plus edgecore's own keys for
 * the reconnect backoff, the queues and the message size; see
 * docs/configuration.md and docs/edgehub.md. */
static const EcConfigKey edgehub_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run edgehub" },
  { EC_CONFIG_INT,    0, "heartbeat", "15", "seconds between keepalive messages to the cloud" },
  { EC_CONFIG_INT,    0, "message-qps", "30", "messages per second edgehub may send to the cloud (acks and keepalives excepted); 0 = no limit" },
  { EC_CONFIG_INT,    0, "message-burst", "60", "burst allowed above message-qps" },
  { EC_CONFIG_STRING, 0, "project-id", "e632aba927ea4ac2b575ec1603d56f10", "project id sent in the project_id header" },
  { EC_CONFIG_STRING, 0, "tls-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate of cloudcore (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-cert-file", "/etc/kubeedge/certs/server.crt", "the node's client certificate (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-private-key-file", "/etc/kubeedge/certs/server.key", "the node's client key (PEM)" },
  { EC_CONFIG_STRING, 0, "token", "", "bootstrap token for the first certificate request" },
  { EC_CONFIG_STRING, 0, "token-file", "/etc/kubeedge/bootstrap-edgecore.conf", "if this file exists its contents replace token (as in KubeEdge)" },
  { EC_CONFIG_STRING, 0, "http-server", "", "cloudcore's certificate server, e.g. https://<cloudcore-ip>:10002" },
  { EC_CONFIG_BOOL,   0, "rotate-certificates", "true", "renew the node certificate before it expires" },
  { EC_CONFIG_BOOL,   0, "websocket-enable", "true", "connect over websocket (exactly one of websocket and quic)" },
  { EC_CONFIG_STRING, 0, "websocket-server", "", "cloudcore's websocket address, host:port without scheme" },
  { EC_CONFIG_INT,    0, "websocket-handshake-timeout", "30", "websocket handshake timeout in seconds" },
  { EC_CONFIG_INT,    0, "websocket-read-deadline", "15", "seconds without any frame or pong from the cloud (it is pinged when idle) after which the link is dropped and redialled; 0 = never (KubeEdge does not apply it)" },
  { EC_CONFIG_INT,    0, "websocket-write-deadline", "15", "seconds a written message may stay unread by the cloud (no pong to a ping sent after it) before the link is dropped and redialled; 0 = never" },
  { EC_CONFIG_INT,    0, "websocket-max-message-size", "67108864", "bytes; a larger message from the cloud is dropped and logged, the link stays up" },
  { EC_CONFIG_DOUBLE, 0, "reconnect-backoff-initial", "1", "seconds before the first reconnect attempt; doubled after each failure" },
  { EC_CONFIG_DOUBLE, 0, "reconnect-backoff-max", "30", "the longest wait between reconnect attempts, in seconds" },
  { EC_CONFIG_DOUBLE, 0, "reconnect-jitter", "0.2", "each wait is scaled by a random factor in [1-j, 1+j]" },
  { EC_CONFIG_INT,    0, "uplink-queue-length", "1024", "messages for the cloud that may wait while it is unreachable" },
  { EC_CONFIG_BOOL,   0, "quic-enable", "false", "connect over QUIC: not supported (KubeEdge's QUIC is pre-standard gQUIC)" },
  { EC_CONFIG_STRING, 0, "quic-server", "", "cloudcore's QUIC address, host:port" },
  { EC_CONFIG_INT,    0, "quic-handshake-timeout", "30", "QUIC handshake timeout in seconds" },
  { EC_CONFIG_INT,    0, "quic-read-deadline", "15", "QUIC read deadline in seconds" },
  { EC_CONFIG_INT,    0, "quic-write-deadline", "15", "QUIC write deadline in seconds" },
  { 0 }
};

/* Reads the plugin's section. */
static void
read_config (EdgeHub *self)
{
  EcPluginContext *c = self->context;
  EhConfig *cfg = &self->cfg;
  cfg->node = g_strdup (ec_plugin_context_get_node_name (c));
  cfg->project_id = ec_plugin_context_get_string (c, "project-id");
  cfg->server = ec_plugin_context_get_string (c, "websocket-server");
  cfg->http_server = ec_plugin_context_get_string (c, "http-server");
  cfg->token = ec_plugin_context_get_string (c, "token");
  cfg->token_file = ec_plugin_context_get_string (c, "token-file");
  cfg->ca_file = ec_plugin_context_get_string (c, "tls-ca-file");
  cfg->cert_file = ec_plugin_context_get_string (c, "tls-cert-file");
  cfg->key_file = ec_plugin_context_get_string (c, "tls-private-key-file");
  cfg->rotate = ec_plugin_context_get_bool (c, "rotate-certificates");
  cfg->heartbeat_s = ec_plugin_context_get_int (c, "heartbeat");
  cfg->handshake_timeout_s = ec_plugin_context_get_int (c, "websocket-handshake-timeout");
  cfg->read_deadline_s = MAX (0, ec_plugin_context_get_int (c, "websocket-read-deadline"));
  cfg->write_deadline_s = MAX (0, ec_plugin_context_get_int (c, "websocket-write-deadline"));
  cfg->max_message_size = ec_plugin_context_get_int (c, "websocket-max-message-size");
  cfg->backoff_initial_s = ec_plugin_context_get_double (c, "reconnect-backoff-initial");
  cfg->backoff_max_s = ec_plugin_context_get_double (c, "reconnect-backoff-max");
  cfg->backoff_jitter = ec_plugin_context_get_double (c, "reconnect-jitter");
  cfg->qps = (double) ec_plugin_context_get_int (c, "message-qps");
  cfg->burst = (double) ec_plugin_context_get_int (c, "message-burst");
  cfg->uplink_limit = ec_plugin_context_get_int (c, "uplink-queue-length");
}

/* Frees the configuration strings. */
static void
clear_config (EhConfig *cfg)
{
  g_free (cfg->node);
  g_free (cfg->project_id);
  g_free (cfg->server);
  g_free (cfg->http_server);
  g_free (cfg->token);
  g_free (cfg->token_file);
  g_free (cfg->ca_file);
  g_free (cfg->cert_file);
  g_free (cfg->key_file);
}

/* Frees the plugin's state. */
static void
edgehub_free (gpointer state)
{
  EdgeHub *self = state;
  if (!self)
    return;
  eh_link_stop (self);
  eh_certs_stop (self);
  eh_uplink_free (self->uplink);
  g_clear_object (&self->cert_cancel);
  clear_config (&self->cfg);
  g_free (self->last_failure);
  g_free (self->last_unusable);
  g_free (self);
}

/* Checks the configuration, opens the store and reads back what an earlier
 * run left for the cloud. */
static gboolean
edgehub_init (EcPluginContext *context, gpointer *state, GError **error)
{
  EdgeHub *self = g_new0 (EdgeHub, 1);
  g_autoptr (GError) store_error = NULL;

  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  self->cert_cancel = g_cancellable_new ();
  self->rl_down_dropped = (EcLogLimit) EC_LOG_LIMIT_INIT (10);
  self->rl_down_unroutable = (EcLogLimit) EC_LOG_LIMIT_INIT (10);
  read_config (self);
  eh_metrics_register (self);

  if (ec_plugin_context_get_bool (context, "quic-enable"))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                 "[edgehub] quic-enable=true is not supported: KubeEdge's QUIC transport is "
                 "pre-standard Google QUIC (quic-go v0.10), which no C library speaks; "
                 "set quic-enable=false and websocket-enable=true");
  else if (!ec_plugin_context_get_bool (context, "websocket-enable"))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "[edgehub] websocket-enable=false leaves no transport to the cloud");
  else if (!self->cfg.node || !*self->cfg.node)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[core] node-name is empty");
  if (error && *error)
    {
      edgehub_free (self);
      return FALSE;
    }

  self->store = ec_plugin_context_get_store (context, &store_error);
  if (!self->store)
    ec_log_warning (context, "no store, messages queued for the cloud will not survive a restart: %s",
                    store_error->message);
  self->uplink = eh_uplink_new (self, &store_error);
  if (!self->uplink)
    {
      g_propagate_prefixed_error (error, g_steal_pointer (&store_error), "edgecore_uplink: ");
      edgehub_free (self);
      return FALSE;
    }
  ec_log_info (context, "registered as %s/%s, cloud %s, node %s",
               ec_endpoint_get_name (self->endpoint), ec_endpoint_get_group (self->endpoint),
               self->cfg.server, self->cfg.node);
  *state = self;
  return TRUE;
}

/* Starts connecting (bootstrapping certificates first if needed). Without
 * a websocket-server the node runs offline: messages for the cloud queue
 * and sync calls get "cloud unreachable". */
static gboolean
edgehub_start (gpointer state, GError **error)
{
  EdgeHub *self = state;
  if (!self->cfg.server || !*self->cfg.server)
    {
      ec_log_warning (self->context, "[edgehub] websocket-server is not set (host:port of "
                      "cloudcore's websocket, e.g. 192.0.2.10:10000): the node stays offline");
      return TRUE;
    }
  eh_link_start (self);
  return TRUE;
}

/* Closes the link and keeps what still waits for the cloud. */
static void
edgehub_stop (gpointer state)
{
  EdgeHub *self = state;
  EhCounters *n = &self->n;
  eh_link_stop (self);
  eh_certs_stop (self);
  eh_uplink_persist_all (self);
  ec_log_info (self->context, "stopped: %" G_GUINT64_FORMAT " connects, %" G_GUINT64_FORMAT
               " from the cloud, %" G_GUINT64_FORMAT " to the cloud, dropped: %" G_GUINT64_FORMAT
               " invalid, %" G_GUINT64_FORMAT " oversized, %" G_GUINT64_FORMAT " unknown group, %"
               G_GUINT64_FORMAT " unroutable, %" G_GUINT64_FORMAT " backlog; %" G_GUINT64_FORMAT
               " unknown operations; links found dead: %" G_GUINT64_FORMAT " silent, %" G_GUINT64_FORMAT
               " not reading", n->connects, n->from_cloud, n->to_cloud, n->invalid,
               n->oversized, n->unknown_group, n->unroutable, n->backlog_dropped, n->unknown_operation,
               n->dead_read, n->dead_write);
}

/* A message for the cloud from any plugin. */
static void
edgehub_handle_message (gpointer state, EcMessage *message)
{
  eh_uplink_submit (state, message);
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "edgehub",
  .version = EC_VERSION,
  .summary = "edgehub (websocket/hub): the link to cloudcore — certificate bootstrap, mutual-TLS websocket, routing, offline queue",
  .bus_name = EDGEHUB_BUS_NAME,
  .bus_group = EDGEHUB_BUS_GROUP,
  .config_keys = edgehub_keys,
  .init = edgehub_init,
  .start = edgehub_start,
  .stop = edgehub_stop,
  .free = edgehub_free,
  .handle_message = edgehub_handle_message,
};
