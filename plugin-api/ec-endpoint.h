/* ec-endpoint.h: a plugin's membership of the edgecore message bus. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-message.h>

G_BEGIN_DECLS

/**
 * EcEndpoint:
 *
 * A member of the message bus: one plugin's module name and group. The host
 * owns it and hands it to the plugin in its init callback.
 *
 * The bus follows KubeEdge beehive: a message goes to one module, to every
 * member of a group, or to everybody. Delivery always happens later, from
 * the main loop, never inside the send call, and keeps the order of the
 * messages from one sender to one receiver. Each member's queue is bounded;
 * a send to a full queue fails with %EC_BUS_ERROR_QUEUE_FULL and is counted
 * as dropped on the receiver.
 *
 * Flow control: ec_endpoint_send_when_ready() does not fail on a full queue;
 * the message waits on the sender's side, in a queue of its own for each
 * receiver (so one full receiver holds up nothing sent to others), and
 * enters the receiver's queue as soon as it has room. A receiver stops its
 * own deliveries with ec_endpoint_pause() and restarts them with
 * ec_endpoint_resume(); meanwhile its queue fills up and its senders wait.
 *
 * Sends may be made from any thread: one from another thread than the main
 * loop's obeys the receiver's queue limit and fails like any other; what it
 * queued is delivered from the main loop. Calls from other threads are
 * passed to the main loop. Replies (ec_endpoint_respond()), waiting sends,
 * pause and resume must be made, and ec_endpoint_is_awaited() asked, from
 * the main loop.
 */
typedef struct _EcEndpoint EcEndpoint;

/**
 * EC_BUS_ERROR:
 *
 * Error domain of the message bus. Errors use #EcBusError codes.
 */
#define EC_BUS_ERROR (ec_bus_error_quark ())
EC_API GQuark ec_bus_error_quark (void);

/**
 * EcBusError:
 * @EC_BUS_ERROR_UNKNOWN_DESTINATION: no member has that module or group name
 * @EC_BUS_ERROR_QUEUE_FULL: the receiver's queue is full; the message was dropped
 * @EC_BUS_ERROR_TIMEOUT: a sync call got no reply in time
 * @EC_BUS_ERROR_NO_WAITER: a reply names a parent message nobody waits for
 * @EC_BUS_ERROR_CLOSED: the bus, or the receiver, has stopped
 *
 * Errors of the message bus.
 */
typedef enum {
  EC_BUS_ERROR_UNKNOWN_DESTINATION,
  EC_BUS_ERROR_QUEUE_FULL,
  EC_BUS_ERROR_TIMEOUT,
  EC_BUS_ERROR_NO_WAITER,
  EC_BUS_ERROR_CLOSED,
} EcBusError;

/**
 * EcReplyFunc:
 * @reply: (nullable): the reply, or %NULL on error
 * @error: (nullable): why there is no reply
 * @user_data: the data given to ec_endpoint_call()
 *
 * Receives the outcome of a sync call, on the main loop. Exactly one of
 * @reply and @error is set. @reply is owned by the bus; take a reference to
 * keep it.
 */
typedef void (*EcReplyFunc) (EcMessage    *reply,
                             const GError *error,
                             gpointer      user_data);

/**
 * EcSendDoneFunc:
 * @endpoint: the sender
 * @message: the message that was sent
 * @error: (nullable): %NULL when @message entered every receiver's queue;
 *   otherwise why some receiver did not get it
 * @user_data: the data given to the send
 *
 * Tells the sender of ec_endpoint_send_when_ready() or
 * ec_endpoint_send_to_group_when_ready() that its message left the waiting
 * queue, on the main loop.
 */
typedef void (*EcSendDoneFunc) (EcEndpoint   *endpoint,
                                EcMessage    *message,
                                const GError *error,
                                gpointer      user_data);

EC_API const char *ec_endpoint_get_name     (EcEndpoint *endpoint);
EC_API const char *ec_endpoint_get_group    (EcEndpoint *endpoint);

EC_API gboolean    ec_endpoint_send         (EcEndpoint *endpoint,
                                      const char *module,
                                      EcMessage  *message,
                                      GError    **error);
EC_API gboolean    ec_endpoint_send_to_group (EcEndpoint *endpoint,
                                       const char *group,
                                       EcMessage  *message,
                                       GError    **error);
EC_API guint       ec_endpoint_broadcast    (EcEndpoint *endpoint,
                                      EcMessage  *message);
EC_API void        ec_endpoint_call         (EcEndpoint    *endpoint,
                                      const char    *module,
                                      EcMessage     *message,
                                      guint          timeout_ms,
                                      EcReplyFunc    callback,
                                      gpointer       user_data,
                                      GDestroyNotify destroy);
EC_API gboolean    ec_endpoint_respond      (EcEndpoint *endpoint,
                                      EcMessage  *reply,
                                      GError    **error);
EC_API gboolean    ec_endpoint_respond_error (EcEndpoint *endpoint,
                                             EcMessage  *request,
                                             const char *text);
EC_API gboolean    ec_endpoint_is_awaited   (EcEndpoint *endpoint,
                                      const char *parent_msg_id);

EC_API gboolean    ec_endpoint_send_to_group_full (EcEndpoint *endpoint,
                                                   const char *group,
                                                   EcMessage  *message,
                                                   guint      *n_delivered,
                                                   char     ***dropped,
                                                   GError    **error);
EC_API gboolean    ec_endpoint_send_when_ready (EcEndpoint     *endpoint,
                                                const char     *module,
                                                EcMessage      *message,
                                                EcSendDoneFunc  callback,
                                                gpointer        user_data,
                                                GDestroyNotify  destroy,
                                                GError        **error);
EC_API gboolean    ec_endpoint_send_to_group_when_ready (EcEndpoint     *endpoint,
                                                         const char     *group,
                                                         EcMessage      *message,
                                                         EcSendDoneFunc  callback,
                                                         gpointer        user_data,
                                                         GDestroyNotify  destroy,
                                                         GError        **error);
/**
 * EC_BUS_STATS_TYPE:
 *
 * The #GVariant type string of ec_endpoint_get_bus_stats(): an array with
 * one `(ssttttuu)` per bus member, in order of registration: member name,
 * group, messages it sent that were queued, messages delivered to it,
 * messages for it dropped (its queue was full), messages it sent to unknown
 * destinations, messages in its queue now, messages it sent that wait for
 * room in other queues. The counters start at 0 when the member joins.
 * Since: 1.2
 */
#define EC_BUS_STATS_TYPE "a(ssttttuu)"

EC_API GVariant   *ec_endpoint_get_bus_stats (EcEndpoint *endpoint);
EC_API guint       ec_endpoint_get_waiting  (EcEndpoint *endpoint,
                                             const char *module);
EC_API void        ec_endpoint_pause        (EcEndpoint *endpoint);
EC_API void        ec_endpoint_resume       (EcEndpoint *endpoint);
EC_API gboolean    ec_endpoint_is_paused    (EcEndpoint *endpoint);

G_END_DECLS
