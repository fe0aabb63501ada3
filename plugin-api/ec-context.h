/* ec-context.h: what the host gives a plugin: config, identity, logging. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-endpoint.h>
#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * EcPluginContext:
 *
 * The host's view of one running plugin: its validated config section, its
 * bus endpoint, the node's identity and its log domain. The host owns it;
 * it stays valid from the plugin's init until after its free callback.
 */
typedef struct _EcPluginContext EcPluginContext;

EC_API EcEndpoint *ec_plugin_context_get_endpoint   (EcPluginContext *context);
EC_API const char *ec_plugin_context_get_name       (EcPluginContext *context);
EC_API const char *ec_plugin_context_get_node_name  (EcPluginContext *context);
EC_API const char *ec_plugin_context_get_data_dir   (EcPluginContext *context);
EC_API const char *ec_plugin_context_get_log_domain (EcPluginContext *context);

EC_API char       *ec_plugin_context_get_string     (EcPluginContext *context,
                                              const char      *key);
EC_API gint64      ec_plugin_context_get_int        (EcPluginContext *context,
                                              const char      *key);
EC_API gboolean    ec_plugin_context_get_bool       (EcPluginContext *context,
                                              const char      *key);
EC_API double      ec_plugin_context_get_double     (EcPluginContext *context,
                                              const char      *key);
EC_API char      **ec_plugin_context_get_string_list (EcPluginContext *context,
                                               const char      *key);
EC_API char       *ec_plugin_context_get_global     (EcPluginContext *context,
                                              const char      *section,
                                              const char      *key);

EC_API guint       ec_plugin_context_get_host_abi_minor (EcPluginContext *context);
EC_API GCancellable *ec_plugin_context_get_cancellable (EcPluginContext *context);

EC_API void        ec_plugin_context_log            (EcPluginContext *context,
                                              GLogLevelFlags   level,
                                              const char      *format,
                                              ...) G_GNUC_PRINTF (3, 4);

/**
 * EcLogLimit:
 * @interval_us: at most one message per this many microseconds
 * @last_us: when the last message was logged (monotonic), 0 for never
 * @suppressed: how many were dropped since
 * @struct_size: sizeof (EcLogLimit) at build time (since 1.1; 0 in a
 *   plugin built for 1.0, where it was padding), so the struct may grow
 *
 * State of a rate-limited log line: bad input arriving at line rate must
 * not flood the log. Initialise with EC_LOG_LIMIT_INIT().
 */
typedef struct {
  gint64  interval_us;
  gint64  last_us;
  guint   suppressed;
  guint32 struct_size;
} EcLogLimit;

/**
 * EC_LOG_LIMIT_INIT:
 * @seconds: the shortest interval between two messages
 *
 * Initialiser of an #EcLogLimit.
 */
#define EC_LOG_LIMIT_INIT(seconds) \
  { (gint64) (seconds) * G_USEC_PER_SEC, 0, 0, (guint32) sizeof (EcLogLimit) }

EC_API void ec_plugin_context_log_limited (EcPluginContext *context,
                                           EcLogLimit      *limit,
                                           GLogLevelFlags   level,
                                           const char      *format,
                                           ...) G_GNUC_PRINTF (4, 5);

EC_API void ec_plugin_context_log_message (EcPluginContext *context,
                                           GLogLevelFlags   level,
                                           EcMessage       *message,
                                           const char      *format,
                                           ...) G_GNUC_PRINTF (4, 5);
EC_API void ec_plugin_context_log_message_text (EcPluginContext *context,
                                                GLogLevelFlags   level,
                                                EcMessage       *message,
                                                const char      *text);
EC_API void ec_plugin_context_log_message_limited (EcPluginContext *context,
                                                   EcLogLimit      *limit,
                                                   GLogLevelFlags   level,
                                                   EcMessage       *message,
                                                   const char      *format,
                                                   ...) G_GNUC_PRINTF (5, 6);

#define ec_log_debug(ctx, ...)   ec_plugin_context_log ((ctx), G_LOG_LEVEL_DEBUG, __VA_ARGS__)
#define ec_log_info(ctx, ...)    ec_plugin_context_log ((ctx), G_LOG_LEVEL_INFO, __VA_ARGS__)
#define ec_log_message(ctx, ...) ec_plugin_context_log ((ctx), G_LOG_LEVEL_MESSAGE, __VA_ARGS__)
#define ec_log_warning(ctx, ...) ec_plugin_context_log ((ctx), G_LOG_LEVEL_WARNING, __VA_ARGS__)

G_END_DECLS
