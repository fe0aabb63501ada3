/* hello.c: the smallest useful edgecore plugin, built out of tree.
 *
 * It joins the bus as module "hello" of group "hello" and
 *   - logs every message it receives;
 *   - answers a sync call (header.sync = true) with a reply whose content is
 *     "<greeting>, <request content>", e.g. "hello, world";
 *   - answers any other message whose operation is "ping" with a "pong"
 *     message sent to the module that sent the ping (route.source).
 *
 * Its conf.d section is [hello]:
 *   enable=true        the host's key: the plugin runs only when it is true
 *   greeting=hi there  this plugin's key (default "hello")
 *
 * Build: make (see Makefile and README.md). The only thing the .so exports is
 * the descriptor `ec_plugin_descriptor`; everything else is static or hidden
 * by -fvisibility=hidden. */
#include <edgecore.h>

#include <string.h>

/* The plugin's state: made by init, handed back to every callback, freed by
 * free. One per running host. */
typedef struct {
  EcPluginContext *ctx;       /* owned by the host, valid until free */
  EcEndpoint      *endpoint;  /* likewise */
  char            *greeting;
  guint64          received;
} Hello;

/* The config keys of [hello]. The host checks their types before init,
 * fills in the defaults and rejects keys that are not declared here. The
 * array ends with an element whose name is NULL. `enable` and `required`
 * are the host's own keys for every plugin; do not declare them. */
static const EcConfigKey hello_keys[] = {
  { EC_CONFIG_STRING, EC_CONFIG_FLAG_NONE, "greeting", "hello",
    "what hello puts before the request's content in its replies" },
  { 0 },
};

/* init: read the config, set up state; do not start work yet. Runs on the
 * main loop, before any plugin starts. Returning FALSE with an error marks
 * the plugin failed; the others keep running unless [hello] required=true. */
static gboolean
hello_init (EcPluginContext *ctx, gpointer *state, GError **error)
{
  Hello *self = g_new0 (Hello, 1);
  self->ctx = ctx;
  self->endpoint = ec_plugin_context_get_endpoint (ctx);
  self->greeting = ec_plugin_context_get_string (ctx, "greeting");
  if (!self->greeting)
    self->greeting = g_strdup ("hello");
  *state = self;
  ec_log_info (ctx, "hello initialised on node %s: module %s, group %s, greeting \"%s\"",
               ec_plugin_context_get_node_name (ctx), ec_endpoint_get_name (self->endpoint),
               ec_endpoint_get_group (self->endpoint), self->greeting);
  return TRUE;
}

/* start: begin work (timers, sockets, threads). Plugins it requires have
 * started already. Messages may arrive from now on. */
static gboolean
hello_start (gpointer state, GError **error)
{
  Hello *self = state;
  ec_log_info (self->ctx, "hello started");
  return TRUE;
}

/* stop: end the work started by start. Must return within [core]
 * stop-timeout seconds, or the host exits. No message arrives after it. */
static void
hello_stop (gpointer state)
{
  Hello *self = state;
  ec_log_info (self->ctx, "hello stopped after %" G_GUINT64_FORMAT " messages", self->received);
}

/* free: release what init made. */
static void
hello_free (gpointer state)
{
  Hello *self = state;
  g_free (self->greeting);
  g_free (self);
}

/* A sync call: reply with "<greeting>, <content>". The reply names the
 * request as its parent (ec_message_new_response() does that) and goes back
 * through ec_endpoint_respond(), which completes the caller's wait. */
static void
answer_call (Hello *self, EcMessage *request)
{
  g_autofree char *text = ec_message_dup_content_string (request);
  g_autofree char *answer = g_strdup_printf ("%s, %s", self->greeting, text);
  g_autoptr (EcMessage) reply = ec_message_new_response (request, NULL);
  g_autoptr (GError) error = NULL;

  ec_message_set_content_string (reply, answer);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_warning (self->ctx, "could not answer call %s: %s",
                    ec_message_get_id (request), error->message);
}

/* A ping: send a new message to the module the ping came from. */
static void
answer_ping (Hello *self, EcMessage *ping)
{
  const char *to = ec_message_get_source (ping);
  g_autoptr (EcMessage) pong = NULL;
  g_autoptr (GError) error = NULL;

  if (!*to)
    {
      ec_log_warning (self->ctx, "ping %s has no route.source; nobody to answer",
                      ec_message_get_id (ping));
      return;
    }
  pong = ec_message_new (ec_endpoint_get_name (self->endpoint),
                         ec_endpoint_get_group (self->endpoint),
                         "pong", ec_message_get_resource (ping));
  ec_message_set_parent_id (pong, ec_message_get_id (ping));
  ec_message_set_content_string (pong, self->greeting);
  /* The send queues the message and freezes it; we drop our reference. */
  if (!ec_endpoint_send (self->endpoint, to, pong, &error))
    ec_log_warning (self->ctx, "could not send pong to %s: %s", to, error->message);
  else
    ec_log_info (self->ctx, "sent pong %s to %s", ec_message_get_id (pong), to);
}

/* handle_message: every message for module "hello" or group "hello",
 * delivered on the main loop, one at a time. The message belongs to the bus
 * and is frozen (read-only): take a reference to keep it, copy it to change
 * it. Do not block here: use ec_run_in_thread() or an EcWorker for slow
 * work. */
static void
hello_handle_message (gpointer state, EcMessage *msg)
{
  Hello *self = state;
  gsize len;
  const char *content = ec_message_get_content_json (msg, &len);

  self->received++;
  ec_log_info (self->ctx, "received message %s from %s: %s %s, sync=%s, content %.*s",
               ec_message_get_id (msg), ec_message_get_source (msg),
               ec_message_get_operation (msg), ec_message_get_resource (msg),
               ec_message_get_sync (msg) ? "true" : "false",
               (int) MIN (len, 200), content);

  if (ec_message_get_sync (msg))
    answer_call (self, msg);
  else if (strcmp (ec_message_get_operation (msg), "ping") == 0)
    answer_ping (self, msg);
}

/* The one exported symbol. EC_PLUGIN_DESCRIPTOR_HEADER records the ABI
 * version and struct sizes this file was compiled with, so that any host of
 * ABI 1.x with x >= ours can load it. */
EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "hello",
  .version = "1.0.0",
  .summary = "Example plugin: logs messages, answers calls with a greeting and pings with a pong",
  .bus_name = "hello",
  .bus_group = "hello",
  .requires = NULL,
  .config_keys = hello_keys,
  .init = hello_init,
  .start = hello_start,
  .stop = hello_stop,
  .free = hello_free,
  .handle_message = hello_handle_message,
};
