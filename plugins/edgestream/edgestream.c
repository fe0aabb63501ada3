/* edgestream.c: KubeEdge's edgestream (module and group "edgestream"): the
 * tunnel that serves the cloud's kubectl logs, exec, attach and metrics
 * through the node's local kubelet endpoint. See docs/edgestream.md. */
#include "es-private.h"

#include "tls.h"

/* modules.edgeStream of edgecore.yaml v1alpha2; see docs/configuration.md. */
static const EcConfigKey edgestream_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "false", "run edgestream" },
  { EC_CONFIG_STRING, 0, "server", "127.0.0.1:10004", "cloudcore's stream tunnel address, host:port" },
  { EC_CONFIG_INT,    0, "handshake-timeout", "30", "tunnel handshake timeout in seconds" },
  { EC_CONFIG_INT,    0, "read-deadline", "15", "tunnel read deadline in seconds (KubeEdge does not apply it either)" },
  { EC_CONFIG_INT,    0, "write-deadline", "15", "tunnel write deadline in seconds (KubeEdge does not apply it either)" },
  { EC_CONFIG_STRING, 0, "tls-tunnel-ca-file", "/etc/kubeedge/ca/rootCA.crt", "CA certificate of the tunnel server (PEM; KubeEdge's edge does not verify the server)" },
  { EC_CONFIG_STRING, 0, "tls-tunnel-cert-file", "/etc/kubeedge/certs/server.crt", "client certificate for the tunnel (PEM)" },
  { EC_CONFIG_STRING, 0, "tls-tunnel-private-key-file", "/etc/kubeedge/certs/server.key", "client key for the tunnel (PEM)" },
  { EC_CONFIG_STRING, 0, "node-ip", "", "SessionInternalIP sent to the cloud (set it to [edged] node-ip); empty: the address that reaches the server" },
  { 0 }
};

/* Reads the configuration. */
static gboolean
edgestream_init (EcPluginContext *context, gpointer *state, GError **error)
{
  g_autofree EdgeStream *self = g_new0 (EdgeStream, 1);
  g_autoptr (GError) local = NULL;
  gint64 hs;

  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  self->server = ec_plugin_context_get_string (context, "server");
  self->ca_file = ec_plugin_context_get_string (context, "tls-tunnel-ca-file");
  self->cert_file = ec_plugin_context_get_string (context, "tls-tunnel-cert-file");
  self->key_file = ec_plugin_context_get_string (context, "tls-tunnel-private-key-file");
  self->node_ip = ec_plugin_context_get_string (context, "node-ip");
  self->node_name = g_strdup (ec_plugin_context_get_node_name (context));
  hs = ec_plugin_context_get_int (context, "handshake-timeout");
  self->handshake_timeout_s = (guint) CLAMP (hs, 1, 3600);
  self->reconnect_ms = 2000;   /* KubeEdge tries every 2 s */
  self->ping_ms = 5000;        /* and pings every 5 s */
  if (!self->node_name || !*self->node_name)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[core] node-name is empty");
      goto fail;
    }
  if (!eh_tls_split_address (self->server, 10004, &self->host, &self->port, &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[edgestream] server \"%s\" is not host:port: %s",
                   self->server, local->message);
      goto fail;
    }
  if (*self->node_ip)
    {
      g_autoptr (GInetAddress) a = g_inet_address_new_from_string (self->node_ip);
      if (!a)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "[edgestream] node-ip \"%s\" is not an IP "
                       "address", self->node_ip);
          goto fail;
        }
    }
  ec_log_info (context, "registered as %s/%s; tunnel wss://%s/v1/kubeedge/connect",
               ec_endpoint_get_name (self->endpoint), ec_endpoint_get_group (self->endpoint), self->server);
  *state = g_steal_pointer (&self);
  return TRUE;

fail:
  g_free (self->server);
  g_free (self->host);
  g_free (self->ca_file);
  g_free (self->cert_file);
  g_free (self->key_file);
  g_free (self->node_ip);
  g_free (self->node_name);
  return FALSE;
}

/* Starts dialling the tunnel. */
static gboolean
edgestream_start (gpointer state, GError **error)
{
  EdgeStream *self = state;
  self->running = TRUE;
  es_dial (self);
  return TRUE;
}

/* Closes the tunnel and every stream. */
static void
edgestream_stop (gpointer state)
{
  EdgeStream *self = state;
  es_stop_all (self);
  ec_log_info (self->context, "stopped: %" G_GUINT64_FORMAT " tunnel connects, %" G_GUINT64_FORMAT " streams",
               self->connects, self->streams_total);
}

/* Frees the plugin's state. */
static void
edgestream_free (gpointer state)
{
  EdgeStream *self = state;
  es_stop_all (self);
  g_free (self->server);
  g_free (self->host);
  g_free (self->ca_file);
  g_free (self->cert_file);
  g_free (self->key_file);
  g_free (self->node_ip);
  g_free (self->node_name);
  g_free (self->last_failure);
  g_free (self);
}

/* edgestream takes no bus messages: a sync request gets an error reply at
 * once, so that its caller does not wait for its timeout. */
static void
edgestream_handle_message (gpointer state, EcMessage *message)
{
  EdgeStream *self = state;
  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  ec_endpoint_respond_error (self->endpoint, message, "edgestream takes no bus messages");
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "edgestream",
  .version = EC_VERSION,
  .summary = "edgestream (edgestream/edgestream): the cloud's tunnel for kubectl logs, exec, attach and metrics",
  .bus_name = EDGESTREAM_BUS_NAME,
  .bus_group = EDGESTREAM_BUS_GROUP,
  .config_keys = edgestream_keys,
  .init = edgestream_init,
  .start = edgestream_start,
  .stop = edgestream_stop,
  .free = edgestream_free,
  .handle_message = edgestream_handle_message,
};
