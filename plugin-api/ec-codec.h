/* ec-codec.h: base64url and MQTT topics, as KubeEdge's modules use them. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-version.h>
#include <glib.h>

G_BEGIN_DECLS

/**
 * EC_CODEC_ERROR:
 *
 * Error domain of the codecs. Errors use #EcCodecError codes.
 *
 * Since: 1.1
 */
#define EC_CODEC_ERROR (ec_codec_error_quark ())
EC_API GQuark ec_codec_error_quark (void);

/**
 * EcCodecError:
 * @EC_CODEC_ERROR_BASE64: not base64url
 * @EC_CODEC_ERROR_TOPIC: not a valid MQTT topic name
 * @EC_CODEC_ERROR_FILTER: not a valid MQTT topic filter
 *
 * Errors of the codecs.
 *
 * Since: 1.1
 */
typedef enum {
  EC_CODEC_ERROR_BASE64,
  EC_CODEC_ERROR_TOPIC,
  EC_CODEC_ERROR_FILTER,
} EcCodecError;

/**
 * EC_MQTT_TOPIC_MAX:
 *
 * The longest MQTT topic name or filter, in bytes (MQTT 3.1.1, 1.5.3).
 *
 * Since: 1.1
 */
#define EC_MQTT_TOPIC_MAX 65535

EC_API char     *ec_base64url_encode (const guint8 *data,
                                      gsize         length,
                                      gboolean      padding);
EC_API guint8   *ec_base64url_decode (const char   *text,
                                      gsize        *out_length,
                                      GError      **error);

EC_API gboolean  ec_mqtt_topic_validate        (const char *topic,
                                                GError    **error);
EC_API gboolean  ec_mqtt_topic_validate_filter (const char *filter,
                                                GError    **error);
EC_API gboolean  ec_mqtt_topic_matches         (const char *filter,
                                                const char *topic);
EC_API char     *ec_mqtt_topic_to_resource     (const char *topic);
EC_API char     *ec_mqtt_topic_from_resource   (const char *resource,
                                                GError    **error);

G_END_DECLS
