/* mm-send.c: how metamanager's messages leave it: to a module, a group or
 * the cloud, replies to callers, acks and error replies. A send that meets
 * a full queue waits on the bus for room (ec_endpoint_send_when_ready, in
 * order, a queue per receiver), so a full receiver holds up nothing sent
 * to others; if too many already wait for that receiver, the message is
 * dropped and logged (rate-limited). */
#include "mm-private.h"

#include <string.h>

static void
send_or_wait (MetaManager *self, gboolean to_group, const char *target, EcMessage *msg)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;
  if (self->dead)
    return;
  ok = to_group
       ? ec_endpoint_send_to_group_when_ready (self->endpoint, target, msg, NULL, NULL, NULL, &error)
       : ec_endpoint_send_when_ready (self->endpoint, target, msg, NULL, NULL, NULL, &error);
  if (ok)
    return;
  if (g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL))
    ec_plugin_context_log_message_limited (self->context, &self->rl_send_dropped, G_LOG_LEVEL_WARNING,
                                           msg, "%s %s %s to %s dropped: %s", ec_message_get_operation (msg),
                                   ec_message_get_resource (msg), ec_message_get_id (msg), target,
                                   error->message);
  else
    ec_log_debug (self->context, "%s %s %s to %s not delivered: %s",
                  ec_message_get_operation (msg), ec_message_get_resource (msg),
                  ec_message_get_id (msg), target, error->message);
}

/* Sends msg to a module. */
void
mm_send_module (MetaManager *self, const char *module, EcMessage *msg)
{
  send_or_wait (self, FALSE, module, msg);
}

/* Sends msg to every member of a group. */
void
mm_send_group (MetaManager *self, const char *group, EcMessage *msg)
{
  send_or_wait (self, TRUE, group, msg);
}

/* Sends msg towards the cloud ([metamanager] context-send-group). */
void
mm_send_to_cloud (MetaManager *self, EcMessage *msg)
{
  send_or_wait (self, TRUE, self->send_group, msg);
}

/* Answers request: completes its sync call when one waits, else sends the
 * reply to edged when edged asked, else to the cloud. */
void
mm_reply (MetaManager *self, EcMessage *request, EcMessage *reply)
{
  const char *source = ec_message_get_source (request);
  if (self->dead)
    return;
  if (ec_endpoint_is_awaited (self->endpoint, ec_message_get_parent_id (reply)))
    {
      g_autoptr (GError) error = NULL;
      if (ec_endpoint_respond (self->endpoint, reply, &error))
        return;
      ec_log_debug (self->context, "reply %s: %s", ec_message_get_id (reply), error->message);
      return;
    }
  if (g_strcmp0 (source, "edged") == 0)
    mm_send_module (self, "edged", reply);
  else if (source && *source && g_strcmp0 (source, MM_BUS_NAME) != 0
           && g_strcmp0 (source, "edgecore-ctl") != 0 && g_strcmp0 (source, "metaserver") != 0
           && g_strcmp0 (source, "twin") != 0)
    mm_send_to_cloud (self, reply);
  else
    ec_log_debug (self->context, "nobody waits for reply %s to %s",
                  ec_message_get_id (reply), ec_message_get_id (request));
}

/* Sends KubeEdge's error reply (operation "error", source metamanager) to
 * whoever sent request. */
void
mm_reply_error (MetaManager *self, EcMessage *request, const char *text)
{
  g_autoptr (EcMessage) err = ec_message_new_error (request, text);
  ec_message_set_source (err, MM_BUS_NAME);
  ec_plugin_context_log_message (self->context, G_LOG_LEVEL_MESSAGE, request,
                                 "%s %s (msg %s from %s): %s", ec_message_get_operation (request),
                  ec_message_get_resource (request), ec_message_get_id (request),
                  ec_message_get_source (request), text);
  mm_reply (self, request, err);
}

/* Acknowledges a cloud message: a response "OK" whose parent is its id, with
 * its source, group and resource (KubeEdge's NewRespByMessage), to the cloud. */
void
mm_ack_cloud (MetaManager *self, EcMessage *msg)
{
  g_autoptr (EcMessage) ack = ec_message_new_response (msg, "\"OK\"");
  mm_send_to_cloud (self, ack);
}
