/* ec-endpoint.c: the bus client API; the host's bus does the work. */
#include "config.h"

#include "ec-lib-private.h"

G_DEFINE_QUARK (ec-bus-error-quark, ec_bus_error)

/**
 * ec_host_endpoint_new: (skip)
 * @ops: the bus behind the endpoint
 * @host_data: the bus's own record of the member
 * @name: the module name
 * @group: (nullable): the group; %NULL or empty for @name
 *
 * For the host's bus only (ec-host-api.h): builds the endpoint a plugin
 * gets, so that only the library knows its layout.
 *
 * Returns: (transfer full): the endpoint; free with ec_host_endpoint_free()
 */
EcEndpoint *
ec_host_endpoint_new (const EcEndpointOps *ops, gpointer host_data, const char *name,
                      const char *group)
{
  EcEndpoint *ep;
  g_return_val_if_fail (ops != NULL && name != NULL, NULL);
  ep = g_new0 (EcEndpoint, 1);
  ep->ops = ops;
  ep->host_data = host_data;
  ep->name = g_strdup (name);
  ep->group = g_strdup (group && *group ? group : name);
  return ep;
}

/**
 * ec_host_endpoint_get_data: (skip)
 * @endpoint: an endpoint made by ec_host_endpoint_new()
 *
 * Returns: (transfer none): the bus's record given to ec_host_endpoint_new()
 */
gpointer
ec_host_endpoint_get_data (EcEndpoint *endpoint)
{
  return endpoint->host_data;
}

/**
 * ec_host_endpoint_free: (skip)
 * @endpoint: (transfer full) (nullable): an endpoint
 *
 * Frees an endpoint made by ec_host_endpoint_new().
 */
void
ec_host_endpoint_free (EcEndpoint *endpoint)
{
  if (!endpoint)
    return;
  g_free (endpoint->name);
  g_free (endpoint->group);
  _ec_metrics_free (endpoint->metrics);
  g_free (endpoint);
}

/**
 * ec_endpoint_get_name:
 * @endpoint: an endpoint
 *
 * Returns: the module name this endpoint is registered under
 */
const char *
ec_endpoint_get_name (EcEndpoint *endpoint)
{
  g_return_val_if_fail (endpoint != NULL, NULL);
  return endpoint->name;
}

/**
 * ec_endpoint_get_group:
 * @endpoint: an endpoint
 *
 * Returns: the group this endpoint belongs to
 */
const char *
ec_endpoint_get_group (EcEndpoint *endpoint)
{
  g_return_val_if_fail (endpoint != NULL, NULL);
  return endpoint->group;
}

/**
 * ec_endpoint_send:
 * @endpoint: the sender
 * @module: the receiving module's name
 * @message: the message; it is frozen by the send
 * @error: where to put an error
 *
 * Queues @message for the module named @module. It is delivered later from
 * the main loop. It fails at once when the receiver's queue is full, and
 * when messages of this sender sent with ec_endpoint_send_when_ready() still
 * wait for @module (it must not overtake them). From another thread than
 * the main loop's the same limit applies.
 *
 * Returns: %TRUE if queued; %FALSE with %EC_BUS_ERROR_UNKNOWN_DESTINATION,
 *   %EC_BUS_ERROR_QUEUE_FULL or %EC_BUS_ERROR_CLOSED (the sender left)
 */
gboolean
ec_endpoint_send (EcEndpoint *endpoint, const char *module, EcMessage *message,
                  GError **error)
{
  g_return_val_if_fail (endpoint != NULL && module != NULL && message != NULL, FALSE);
  return endpoint->ops->send (endpoint, EC_SEND_MODULE, module, message, NULL, error);
}

/**
 * ec_endpoint_send_to_group:
 * @endpoint: the sender
 * @group: the receiving group
 * @message: the message; it is frozen by the send
 * @error: where to put an error
 *
 * Queues @message for every member of @group, the sender too if it is one.
 * A member whose queue is full drops it (ec_endpoint_send_to_group_full()
 * says which).
 *
 * Returns: %TRUE if at least one member got it
 */
gboolean
ec_endpoint_send_to_group (EcEndpoint *endpoint, const char *group, EcMessage *message,
                           GError **error)
{
  g_return_val_if_fail (endpoint != NULL && group != NULL && message != NULL, FALSE);
  return endpoint->ops->send (endpoint, EC_SEND_GROUP, group, message, NULL, error);
}

/**
 * ec_endpoint_broadcast:
 * @endpoint: the sender
 * @message: the message; it is frozen by the send
 *
 * Queues @message for every member of the bus except the sender.
 *
 * Returns: how many members it was queued for
 */
guint
ec_endpoint_broadcast (EcEndpoint *endpoint, EcMessage *message)
{
  guint n = 0;
  g_return_val_if_fail (endpoint != NULL && message != NULL, 0);
  endpoint->ops->send (endpoint, EC_SEND_BROADCAST, NULL, message, &n, NULL);
  return n;
}

/**
 * ec_endpoint_call:
 * @endpoint: the caller
 * @module: the module to call
 * @message: the request; it gets `sync` set and is frozen
 * @timeout_ms: how long to wait for the reply
 * @callback: (scope notified) (closure user_data) (destroy destroy): receives the reply or the error
 * @user_data: data for @callback
 * @destroy: (nullable): frees @user_data after @callback ran
 *
 * A beehive sync call: sends @message to @module and waits, without
 * blocking, for the message whose `parent_msg_id` is @message's id.
 * @callback runs exactly once, on the main loop and never inside this call:
 * with the reply, or with %EC_BUS_ERROR_TIMEOUT, or with the send's error.
 * Only when the caller leaves the bus first does it not run; @destroy
 * still does.
 */
void
ec_endpoint_call (EcEndpoint *endpoint, const char *module, EcMessage *message,
                  guint timeout_ms, EcReplyFunc callback, gpointer user_data,
                  GDestroyNotify destroy)
{
  g_return_if_fail (endpoint != NULL && module != NULL && message != NULL);
  g_return_if_fail (callback != NULL);
  endpoint->ops->call (endpoint, module, message, timeout_ms, callback, user_data, destroy);
}

/**
 * ec_endpoint_respond:
 * @endpoint: the replier
 * @reply: the reply, whose `parent_msg_id` names the request
 * @error: where to put an error
 *
 * Completes the sync call that waits for @reply's parent id. Call it from
 * the main loop.
 *
 * Returns: %TRUE if a caller was waiting; otherwise %FALSE with
 *   %EC_BUS_ERROR_NO_WAITER, and the reply is dropped
 */
gboolean
ec_endpoint_respond (EcEndpoint *endpoint, EcMessage *reply, GError **error)
{
  g_return_val_if_fail (endpoint != NULL && reply != NULL, FALSE);
  return endpoint->ops->respond (endpoint, reply, error);
}

/**
 * ec_endpoint_respond_error:
 * @endpoint: the replier
 * @request: a message received
 * @text: what went wrong
 *
 * When a sync call waits for an answer to @request, answers it at once with
 * an `error` message (source: this endpoint's module) whose content is
 * @text, so that the caller does not wait for its timeout. Does nothing
 * for a message nobody waits for.
 *
 * Returns: %TRUE if a caller got the error
 */
gboolean
ec_endpoint_respond_error (EcEndpoint *endpoint, EcMessage *request, const char *text)
{
  g_autoptr (EcMessage) reply = NULL;
  g_return_val_if_fail (endpoint != NULL && request != NULL && text != NULL, FALSE);
  if (!ec_endpoint_is_awaited (endpoint, ec_message_get_id (request)))
    return FALSE;
  reply = ec_message_new_error (request, text);
  ec_message_set_source (reply, endpoint->name);
  return endpoint->ops->respond (endpoint, reply, NULL);
}

/**
 * ec_endpoint_is_awaited:
 * @endpoint: an endpoint
 * @parent_msg_id: a message id
 *
 * Tells whether a sync call waits for a reply to @parent_msg_id. Only from
 * the main loop's thread: elsewhere it is a programming error and answers
 * %FALSE.
 *
 * Returns: %TRUE if someone waits
 */
gboolean
ec_endpoint_is_awaited (EcEndpoint *endpoint, const char *parent_msg_id)
{
  g_return_val_if_fail (endpoint != NULL, FALSE);
  if (!parent_msg_id || !*parent_msg_id)
    return FALSE;
  return endpoint->ops->is_awaited (endpoint, parent_msg_id);
}

/**
 * ec_endpoint_send_to_group_full:
 * @endpoint: the sender
 * @group: the receiving group
 * @message: the message; it is frozen by the send
 * @n_delivered: (out) (optional): how many members it was queued for
 * @dropped: (out) (optional) (array zero-terminated=1) (transfer full) (nullable):
 *   the module names of the members whose queue was full and that dropped
 *   it, or %NULL when none did
 * @error: where to put an error
 *
 * Like ec_endpoint_send_to_group(), and says which members dropped the
 * message. Each of them counts it as dropped.
 *
 * Returns: %TRUE if at least one member got it; %FALSE with
 *   %EC_BUS_ERROR_UNKNOWN_DESTINATION or %EC_BUS_ERROR_QUEUE_FULL (every
 *   member dropped it: @dropped names them all)
 */
gboolean
ec_endpoint_send_to_group_full (EcEndpoint *endpoint, const char *group, EcMessage *message,
                                guint *n_delivered, char ***dropped, GError **error)
{
  g_autoptr (GPtrArray) names = NULL;
  gboolean ok;
  g_return_val_if_fail (endpoint != NULL && group != NULL && message != NULL, FALSE);
  if (dropped)
    names = g_ptr_array_new_with_free_func (g_free);
  if (n_delivered)
    *n_delivered = 0;
  ok = endpoint->ops->send_full (endpoint, EC_SEND_GROUP, group, message, n_delivered,
                                 names, error);
  if (dropped)
    {
      if (names->len > 0)
        {
          g_ptr_array_add (names, NULL);
          *dropped = (char **) g_ptr_array_steal (names, NULL);
        }
      else
        *dropped = NULL;
    }
  return ok;
}

/**
 * ec_endpoint_send_when_ready:
 * @endpoint: the sender
 * @module: the receiving module's name
 * @message: the message; it is frozen by the send
 * @callback: (nullable) (scope notified) (closure user_data) (destroy destroy):
 *   told when @message entered the receiver's queue, or could not
 * @user_data: data for @callback
 * @destroy: (nullable): frees @user_data once @callback ran (or will not)
 * @error: where to put an error
 *
 * Queues @message for @module, waiting for room when its queue is full:
 * then @message waits on the sender's side, in a queue of its own for that
 * receiver, and moves into the receiver's queue as soon as it has room.
 * The order of the messages from this sender to @module holds across
 * ec_endpoint_send() and this function: while messages wait for @module, a
 * plain ec_endpoint_send() to it fails with %EC_BUS_ERROR_QUEUE_FULL rather
 * than overtake them. At most 64 times the bus queue limit
 * (`bus-queue-length`) messages wait for one receiver.
 *
 * When @callback is given it runs exactly once, on the main loop and never
 * inside this call: with no error once @message is in the receiver's
 * queue, or with %EC_BUS_ERROR_CLOSED when the receiver left the bus
 * before it had room. If the sender leaves the bus first, @callback does
 * not run and @destroy still does. Call it from the main loop's thread
 * only.
 *
 * Returns: %TRUE if @message was queued or waits; %FALSE with
 *   %EC_BUS_ERROR_UNKNOWN_DESTINATION, %EC_BUS_ERROR_QUEUE_FULL (too many
 *   messages already wait for @module) or %EC_BUS_ERROR_CLOSED, and then
 *   @callback does not run (@destroy does)
 */
gboolean
ec_endpoint_send_when_ready (EcEndpoint *endpoint, const char *module, EcMessage *message,
                             EcSendDoneFunc callback, gpointer user_data, GDestroyNotify destroy,
                             GError **error)
{
  g_return_val_if_fail (endpoint != NULL && module != NULL && message != NULL, FALSE);
  return endpoint->ops->send_when_ready (endpoint, EC_SEND_MODULE, module, message, callback,
                                         user_data, destroy, error);
}

/**
 * ec_endpoint_send_to_group_when_ready:
 * @endpoint: the sender
 * @group: the receiving group
 * @message: the message; it is frozen by the send
 * @callback: (nullable) (scope notified) (closure user_data) (destroy destroy):
 *   told when @message entered every member's queue, or could not
 * @user_data: data for @callback
 * @destroy: (nullable): frees @user_data once @callback ran (or will not)
 * @error: where to put an error
 *
 * ec_endpoint_send_when_ready() to every member of @group (the sender too
 * if it is one); each member has its own waiting queue. @callback runs once
 * when @message is in every member's queue (no error) or when some member
 * could not get it (the error names them): it left the bus, or too many
 * messages already waited for it.
 *
 * Returns: %TRUE if at least one member got it or waits for it
 */
gboolean
ec_endpoint_send_to_group_when_ready (EcEndpoint *endpoint, const char *group, EcMessage *message,
                                      EcSendDoneFunc callback, gpointer user_data,
                                      GDestroyNotify destroy, GError **error)
{
  g_return_val_if_fail (endpoint != NULL && group != NULL && message != NULL, FALSE);
  return endpoint->ops->send_when_ready (endpoint, EC_SEND_GROUP, group, message, callback,
                                         user_data, destroy, error);
}

/**
 * ec_endpoint_get_waiting:
 * @endpoint: the sender
 * @module: (nullable): a receiving module's name, or %NULL for all
 *
 * Counts the messages of ec_endpoint_send_when_ready() and
 * ec_endpoint_send_to_group_when_ready() that wait for room in @module's
 * queue (or in any queue). A message sent to a group counts once per member
 * it waits for.
 *
 * Returns: how many messages wait
 */
guint
ec_endpoint_get_waiting (EcEndpoint *endpoint, const char *module)
{
  g_return_val_if_fail (endpoint != NULL, 0);
  return endpoint->ops->get_waiting (endpoint, module);
}

/**
 * ec_endpoint_pause:
 * @endpoint: the receiver
 *
 * Stops delivering messages to @endpoint, from the next message on (it may
 * be called from its own handler). Messages sent to it keep queueing, up to
 * the queue limit; then plain sends to it fail with
 * %EC_BUS_ERROR_QUEUE_FULL and waiting sends wait. Replies to its sync
 * calls still arrive. Pausing a paused endpoint does nothing. Main loop
 * only.
 */
void
ec_endpoint_pause (EcEndpoint *endpoint)
{
  g_return_if_fail (endpoint != NULL);
  endpoint->ops->set_paused (endpoint, TRUE);
}

/**
 * ec_endpoint_resume:
 * @endpoint: the receiver
 *
 * Restarts the deliveries stopped by ec_endpoint_pause(), in order, from
 * the main loop (never inside this call). Main loop only.
 */
void
ec_endpoint_resume (EcEndpoint *endpoint)
{
  g_return_if_fail (endpoint != NULL);
  endpoint->ops->set_paused (endpoint, FALSE);
}

/**
 * ec_endpoint_is_paused:
 * @endpoint: an endpoint
 *
 * Returns: %TRUE if ec_endpoint_pause() stopped its deliveries
 */
gboolean
ec_endpoint_is_paused (EcEndpoint *endpoint)
{
  g_return_val_if_fail (endpoint != NULL, FALSE);
  return endpoint->ops->is_paused (endpoint);
}

/**
 * ec_endpoint_get_bus_stats:
 * @endpoint: any endpoint on the bus
 *
 * Reads the counters of every member of the bus @endpoint is on, for a
 * plugin that reports them (edged's `/metrics`). Reading them changes
 * nothing on the bus. Main loop only.
 *
 * Returns: (transfer full): a #GVariant of type %EC_BUS_STATS_TYPE
 * Since: 1.2
 */
GVariant *
ec_endpoint_get_bus_stats (EcEndpoint *endpoint)
{
  g_return_val_if_fail (endpoint != NULL, NULL);
  return g_variant_ref_sink (endpoint->ops->get_stats (endpoint));
}
