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
 * Sends and calls may be made from any thread; those from other threads
 * than the main loop's are passed to it. Replies (ec_endpoint_respond())
 * must be sent, and ec_endpoint_is_awaited() asked, from the main loop.
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

G_END_DECLS
