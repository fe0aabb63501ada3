/* ec-message.h: KubeEdge's beehive model.Message. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-version.h>
#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * EcMessage:
 *
 * One KubeEdge message: a header, a route and a JSON content.
 *
 * A message is reference counted. It is mutable until it is first sent on
 * the bus; from then on it is frozen and shared by every receiver, and the
 * setters refuse to change it (use ec_message_copy()).
 *
 * The content is kept as the JSON text it arrived as. It is parsed only when
 * someone asks for it as a #JsonNode, so a message that passes through the
 * bus is never re-serialised.
 */
typedef struct _EcMessage EcMessage;

#define EC_TYPE_MESSAGE (ec_message_get_type ())
EC_API GType ec_message_get_type (void) G_GNUC_CONST;

/**
 * EC_MESSAGE_ERROR:
 *
 * Error domain for decoding messages. Errors use #EcMessageError codes.
 */
#define EC_MESSAGE_ERROR (ec_message_error_quark ())
EC_API GQuark ec_message_error_quark (void);

/**
 * EcMessageError:
 * @EC_MESSAGE_ERROR_INVALID_JSON: the text is not valid JSON
 * @EC_MESSAGE_ERROR_INVALID_FIELD: a header or route field has the wrong type
 *
 * Errors returned by ec_message_new_from_json().
 */
typedef enum {
  EC_MESSAGE_ERROR_INVALID_JSON,
  EC_MESSAGE_ERROR_INVALID_FIELD,
} EcMessageError;

#define EC_TYPE_MESSAGE_ERROR (ec_message_error_get_type ())
EC_API GType ec_message_error_get_type (void) G_GNUC_CONST;

/* KubeEdge operations (route.operation). */
#define EC_OP_INSERT    "insert"
#define EC_OP_UPDATE    "update"
#define EC_OP_PATCH     "patch"
#define EC_OP_DELETE    "delete"
#define EC_OP_QUERY     "query"
#define EC_OP_RESPONSE  "response"
#define EC_OP_ERROR     "error"
#define EC_OP_KEEPALIVE "keepalive"
#define EC_OP_CONNECT   "connect"
#define EC_OP_UPLOAD    "upload"
#define EC_OP_PUBLISH   "publish"

EC_API EcMessage  *ec_message_new            (const char *source,
                                       const char *group,
                                       const char *operation,
                                       const char *resource);
EC_API EcMessage  *ec_message_new_response   (EcMessage  *request,
                                       const char *content_json);
EC_API EcMessage  *ec_message_new_error      (EcMessage  *request,
                                       const char *text);
EC_API EcMessage  *ec_message_new_from_json  (const char *data,
                                       gssize      length,
                                       GError    **error);
EC_API EcMessage  *ec_message_copy           (EcMessage  *message);
EC_API EcMessage  *ec_message_ref            (EcMessage  *message);
EC_API void        ec_message_unref          (EcMessage  *message);

EC_API char       *ec_message_to_json        (EcMessage  *message,
                                       gsize      *length);
EC_API gboolean    ec_message_is_frozen      (EcMessage  *message);
EC_API void        ec_message_freeze         (EcMessage  *message);

EC_API const char *ec_message_get_id              (EcMessage *message);
EC_API void        ec_message_set_id              (EcMessage *message, const char *msg_id);
EC_API const char *ec_message_get_parent_id       (EcMessage *message);
EC_API void        ec_message_set_parent_id       (EcMessage *message, const char *parent_id);
EC_API gint64      ec_message_get_timestamp       (EcMessage *message);
EC_API void        ec_message_set_timestamp       (EcMessage *message, gint64 timestamp_ms);
EC_API const char *ec_message_get_resource_version (EcMessage *message);
EC_API void        ec_message_set_resource_version (EcMessage *message, const char *resource_version);
EC_API gboolean    ec_message_get_sync            (EcMessage *message);
EC_API void        ec_message_set_sync            (EcMessage *message, gboolean sync);
EC_API const char *ec_message_get_message_type    (EcMessage *message);
EC_API void        ec_message_set_message_type    (EcMessage *message, const char *type);

EC_API const char *ec_message_get_source          (EcMessage *message);
EC_API void        ec_message_set_source          (EcMessage *message, const char *source);
EC_API const char *ec_message_get_destination     (EcMessage *message);
EC_API void        ec_message_set_destination     (EcMessage *message, const char *destination);
EC_API const char *ec_message_get_group           (EcMessage *message);
EC_API void        ec_message_set_group           (EcMessage *message, const char *group);
EC_API const char *ec_message_get_operation       (EcMessage *message);
EC_API void        ec_message_set_operation       (EcMessage *message, const char *operation);
EC_API const char *ec_message_get_resource        (EcMessage *message);
EC_API void        ec_message_set_resource        (EcMessage *message, const char *resource);

EC_API const char *ec_message_get_content_json    (EcMessage  *message,
                                            gsize      *length);
EC_API gboolean    ec_message_set_content_json    (EcMessage  *message,
                                            const char *json,
                                            gssize      length,
                                            GError    **error);
EC_API void        ec_message_set_content_string  (EcMessage  *message,
                                            const char *text);
EC_API char       *ec_message_dup_content_string  (EcMessage  *message);
EC_API JsonNode   *ec_message_get_content_node    (EcMessage  *message,
                                            GError    **error);
EC_API void        ec_message_set_content_node    (EcMessage  *message,
                                            JsonNode   *node);

/**
 * EcCloudState:
 * @EC_CLOUD_STATE_NONE: the message is not edgehub's connection news
 * @EC_CLOUD_STATE_CONNECTED: the cloud is reachable
 * @EC_CLOUD_STATE_DISCONNECTED: the cloud is unreachable
 * @EC_CLOUD_STATE_INVALID: connection news with content that is neither
 *
 * What edgehub's connection message (docs/bus-contracts.md) says.
 */
typedef enum {
  EC_CLOUD_STATE_NONE,
  EC_CLOUD_STATE_CONNECTED,
  EC_CLOUD_STATE_DISCONNECTED,
  EC_CLOUD_STATE_INVALID,
} EcCloudState;

EC_API EcMessage   *ec_message_new_cloud_state     (gboolean   connected);
EC_API EcCloudState ec_message_get_cloud_state     (EcMessage *message);

EC_API char       *ec_new_uuid                    (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcMessage, ec_message_unref)

G_END_DECLS
