/* cloudrec.c: the cloud side for devicetwin's tests. It joins the bus as
 * module websocket, group hub (edgehub's place) and appends every message
 * sent to it, as one JSON line, to record-file. With auto-ack=true it
 * confirms each twin upload (group resource, source twin) the way
 * cloudcore's devicecontroller does: group twin, resource twin, operation
 * response, content "OK", parent_msg_id = the upload's msg_id. A message
 * with operation "cloudrec-pause" (not recorded) pauses its deliveries
 * (ec_endpoint_pause): a cloud link that does not keep up. SIGUSR2 to the
 * process resumes them (a message could not: the queue is full). */
#include <edgecore.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>

typedef struct {
  EcPluginContext *context;
  FILE            *out;
  gboolean         auto_ack;
  guint            usr2;
} CloudRec;

static const EcConfigKey cloudrec_keys[] = {
  { EC_CONFIG_BOOL,   0, "enable", "true", "run cloudrec" },
  { EC_CONFIG_STRING, EC_CONFIG_FLAG_REQUIRED, "record-file", NULL, "file the messages are appended to" },
  { EC_CONFIG_BOOL,   0, "auto-ack", "false", "confirm twin uploads" },
  { 0 }
};

/* Opens the record file. */
static gboolean
cloudrec_init (EcPluginContext *context, gpointer *state, GError **error)
{
  g_autofree char *path = ec_plugin_context_get_string (context, "record-file");
  CloudRec *self = g_new0 (CloudRec, 1);

  self->context = context;
  self->auto_ack = ec_plugin_context_get_bool (context, "auto-ack");
  self->out = fopen (path, "a");
  if (!self->out)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot open %s", path);
      g_free (self);
      return FALSE;
    }
  *state = self;
  return TRUE;
}

/* SIGUSR2: resumes the deliveries. */
static gboolean
on_usr2 (gpointer data)
{
  CloudRec *self = data;
  ec_endpoint_resume (ec_plugin_context_get_endpoint (self->context));
  ec_log_message (self->context, "cloudrec: resumed");
  return G_SOURCE_CONTINUE;
}

/* Listens for SIGUSR2. */
static gboolean
cloudrec_start (gpointer state, GError **error)
{
  CloudRec *self = state;
  self->usr2 = g_unix_signal_add (SIGUSR2, on_usr2, self);
  return TRUE;
}

/* Stops listening. */
static void
cloudrec_stop (gpointer state)
{
  CloudRec *self = state;
  g_clear_handle_id (&self->usr2, g_source_remove);
}

/* Closes the record file. */
static void
cloudrec_free (gpointer state)
{
  CloudRec *self = state;
  fclose (self->out);
  g_free (self);
}

/* Records a message; confirms twin uploads when asked to. */
static void
cloudrec_handle (gpointer state, EcMessage *message)
{
  CloudRec *self = state;
  g_autofree char *json = NULL;
  const char *parent = ec_message_get_parent_id (message);
  const char *op = ec_message_get_operation (message);
  EcEndpoint *ep = ec_plugin_context_get_endpoint (self->context);

  if (g_strcmp0 (op, "cloudrec-pause") == 0)
    {
      ec_endpoint_pause (ep);
      ec_log_message (self->context, "cloudrec: %s", ec_endpoint_is_paused (ep) ? "paused" : "not paused");
      return;
    }
  json = ec_message_to_json (message, NULL);
  fprintf (self->out, "%s\n", json);
  fflush (self->out);
  if (self->auto_ack && g_strcmp0 (ec_message_get_source (message), "twin") == 0
      && g_strcmp0 (ec_message_get_operation (message), EC_OP_UPDATE) == 0 && !(parent && *parent))
    {
      g_autoptr (EcMessage) ack = ec_message_new ("devicecontroller", "twin", EC_OP_RESPONSE, "twin");
      ec_message_set_parent_id (ack, ec_message_get_id (message));
      ec_message_set_content_string (ack, "OK");
      ec_endpoint_send_to_group (ec_plugin_context_get_endpoint (self->context), "twin", ack, NULL);
    }
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "cloudrec",
  .version = "1.0",
  .summary = "test stand-in for edgehub: records what is sent to the cloud",
  .bus_name = "websocket",
  .bus_group = "hub",
  .config_keys = cloudrec_keys,
  .init = cloudrec_init,
  .start = cloudrec_start,
  .stop = cloudrec_stop,
  .free = cloudrec_free,
  .handle_message = cloudrec_handle,
};
