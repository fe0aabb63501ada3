/* outbox.c: devicetwin's sends to other bus modules. A send to a full queue
 * waits on the bus (ec_endpoint_send_when_ready: a FIFO per destination,
 * so the order to each module is kept and one full module holds up no
 * other). A message the bus cannot take (unknown destination, or too many
 * already waiting) is dropped, counted and logged at most once per
 * LOG_EVERY_S seconds per kind. */
#include "outbox.h"

#define LOG_EVERY_S 10

struct _Outbox {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  guint64          dropped;
  EcLogLimit       rl_unknown;
  EcLogLimit       rl_full;
};

/* Creates an outbox sending from the context's endpoint. */
Outbox *
outbox_new (EcPluginContext *context)
{
  Outbox *self = g_new0 (Outbox, 1);
  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  self->rl_unknown = (EcLogLimit) EC_LOG_LIMIT_INIT (LOG_EVERY_S);
  self->rl_full = (EcLogLimit) EC_LOG_LIMIT_INIT (LOG_EVERY_S);
  return self;
}

/* Frees the outbox; what waits on the bus is still delivered. */
void
outbox_free (Outbox *self)
{
  g_free (self);
}

/* Sends message (the outbox takes the reference) to module, after whatever
 * already waits for that module. */
void
outbox_send (Outbox *self, const char *module, EcMessage *message)
{
  g_autoptr (EcMessage) msg = message;
  g_autoptr (GError) error = NULL;

  if (ec_endpoint_send_when_ready (self->endpoint, module, msg, NULL, NULL, NULL, &error))
    return;
  self->dropped++;
  ec_plugin_context_log_message_limited (self->context,
                                         g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL)
                                         ? &self->rl_full : &self->rl_unknown,
                                         G_LOG_LEVEL_WARNING, message, "cannot send %s to %s (%" G_GUINT64_FORMAT
                                 " dropped so far): %s", ec_message_get_id (msg), module,
                                 self->dropped, error->message);
}
