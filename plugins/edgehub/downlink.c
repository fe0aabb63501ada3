/* downlink.c: messages from the cloud onto the bus, routed as
 * docs/bus-contracts.md says (KubeEdge HEAD's edgehub handlers). A message
 * is never re-serialised: the bus carries the text the cloud sent. When a
 * receiver's bus queue is full, the message waits for room on the bus's
 * side (ec_endpoint_send_when_ready: in order, one queue per receiver, so a
 * full metamanager does not hold up devicetwin); past the bus's bound it is
 * dropped (the cloud resends what is not acked), logged through the
 * rate-limited log (a line per 10 s at most, with the count). */
#include "edgehub-private.h"
#include "classify.h"

#include <string.h>

/* Finds "msg_id":"..." in raw text, for log lines about bad messages. */
static char *
sniff_msg_id (const char *data, gsize len)
{
  const char *end = data + MIN (len, 4096);
  const char *p = g_strstr_len (data, end - data, "\"msg_id\"");
  const char *q;
  if (!p)
    return g_strdup ("(none)");
  p += 8;
  while (p < end && (*p == ' ' || *p == ':'))
    p++;
  if (p >= end || *p != '"')
    return g_strdup ("(none)");
  p++;
  for (q = p; q < end && *q != '"' && q - p < 64; q++)
    ;
  return g_strndup (p, (gsize) (q - p));
}

/* Puts a cloud message on the bus; it waits there while the receiver's
 * queue is full. */
static void
route_to (EdgeHub *self, EcMessage *msg, gboolean to_group, const char *target)
{
  g_autoptr (GError) error = NULL;
  gboolean ok = to_group
                ? ec_endpoint_send_to_group_when_ready (self->endpoint, target, msg, NULL, NULL,
                                                        NULL, &error)
                : ec_endpoint_send_when_ready (self->endpoint, target, msg, NULL, NULL, NULL, &error);
  if (ok)
    return;
  if (g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_QUEUE_FULL))
    {
      self->n.backlog_dropped++;
      ec_metric_add (self->m.dropped[EH_DROP_BACKLOG], 1);
      ec_plugin_context_log_message_limited (self->context, &self->rl_down_dropped, G_LOG_LEVEL_WARNING,
                                             msg, "dropped message %s from the cloud (%" G_GUINT64_FORMAT
                                     " so far; the cloud resends it unless it needs no ack): %s",
                                     ec_message_get_id (msg), self->n.backlog_dropped,
                                     error->message);
      return;
    }
  self->n.unroutable++;
  ec_metric_add (self->m.dropped[EH_DROP_UNROUTABLE], 1);
  ec_plugin_context_log_message_limited (self->context, &self->rl_down_unroutable, G_LOG_LEVEL_WARNING,
                                         msg, "message %s from the cloud (%s %s) not delivered to %s: %s",
                                 ec_message_get_id (msg), ec_message_get_operation (msg),
                                 ec_message_get_resource (msg), target, error->message);
}

/* Completes a sync call if someone waits for this reply. */
static gboolean
try_reply (EdgeHub *self, EcMessage *msg)
{
  const char *parent = ec_message_get_parent_id (msg);
  if (!parent || !*parent || !ec_endpoint_is_awaited (self->endpoint, parent))
    return FALSE;
  return ec_endpoint_respond (self->endpoint, msg, NULL);
}

/* Answers a viaduct control message (config/ping/pong) with "ack". */
static void
answer_control (EdgeHub *self, EcMessage *msg)
{
  g_autoptr (EcMessage) ack = ec_message_new_response (msg, "\"ack\"");
  eh_write_message (self, ack);
}

/* One message arrived from the cloud: check it and route it. */
void
eh_downlink_receive (EdgeHub *self, const char *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EcMessage) msg = NULL;
  const char *op, *group;

  self->n.from_cloud++;
  ec_metric_add (self->m.received, 1);
  ec_metric_add (self->m.received_bytes, (gint64) len);
  if (self->cfg.max_message_size > 0 && len > (guint64) self->cfg.max_message_size)
    {
      g_autofree char *id = sniff_msg_id (data, len);
      self->n.oversized++;
      ec_metric_add (self->m.dropped[EH_DROP_OVERSIZED], 1);
      ec_log_warning (self->context, "dropped message %s from the cloud: %" G_GSIZE_FORMAT
                      " bytes is more than websocket-max-message-size (%" G_GINT64_FORMAT ")",
                      id, len, self->cfg.max_message_size);
      return;
    }
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
    len--;
  msg = ec_message_new_from_json (data, (gssize) len, &error);
  if (!msg)
    {
      g_autofree char *id = sniff_msg_id (data, len);
      self->n.invalid++;
      ec_metric_add (self->m.dropped[EH_DROP_INVALID], 1);
      ec_log_warning (self->context, "dropped invalid message %s from the cloud (%" G_GSIZE_FORMAT
                      " bytes): %s", id, len, error->message);
      return;
    }
  op = ec_message_get_operation (msg);
  group = ec_message_get_group (msg);
  if (!eh_known_operation (op))
    {
      self->n.unknown_operation++;
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, msg,
                                     "message %s from the cloud has unknown operation \"%s\" "
                      "(%" G_GUINT64_FORMAT " so far); passing it on", ec_message_get_id (msg),
                      op ? op : "", self->n.unknown_operation);
    }
  switch (eh_classify_down (group, ec_message_get_source (msg), op, ec_message_get_parent_id (msg)))
    {
    case EH_DOWN_CONTROL:
      answer_control (self, msg);
      break;
    case EH_DOWN_META:
      if (!try_reply (self, msg))
        route_to (self, msg, TRUE, "meta");
      break;
    case EH_DOWN_TWIN:
      route_to (self, msg, TRUE, "twin");
      break;
    case EH_DOWN_USER_REPLY:
      if (!try_reply (self, msg))
        {
          self->n.unroutable++;
          ec_metric_add (self->m.dropped[EH_DROP_UNROUTABLE], 1);
          ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, msg,
                                     "dropped reply %s from the cloud: nobody waits for %s",
                          ec_message_get_id (msg), ec_message_get_parent_id (msg));
        }
      break;
    case EH_DOWN_EVENTBUS:
      route_to (self, msg, FALSE, "eventbus");
      break;
    case EH_DOWN_USER_DROPPED:
      self->n.unroutable++;
      ec_metric_add (self->m.dropped[EH_DROP_UNROUTABLE], 1);
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, msg,
                                     "dropped message %s from the cloud: group user from source "
                      "\"%s\" has no receiver", ec_message_get_id (msg), ec_message_get_source (msg));
      break;
    case EH_DOWN_UNKNOWN_GROUP:
      self->n.unknown_group++;
      ec_metric_add (self->m.dropped[EH_DROP_UNKNOWN_GROUP], 1);
      ec_plugin_context_log_message (self->context, G_LOG_LEVEL_WARNING, msg,
                                     "dropped message %s from the cloud: unknown group \"%s\" "
                      "(%" G_GUINT64_FORMAT " so far)", ec_message_get_id (msg), group ? group : "",
                      self->n.unknown_group);
      break;
    }
}
