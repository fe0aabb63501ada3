/* ec-host-api.h: what the edgecore host asks of libedgecore-1 beyond the
 * plugin API: build the endpoints and plugin contexts it hands to plugins,
 * and check at start that the library loaded is the one it was built for.
 *
 * Only the host includes this file (kernel/ and the host's tests); it is
 * never installed and is not on the include path plugins compile with.
 * The functions are exported in their own symbol version node,
 * EDGECORE_HOST_PRIVATE, and may change in any release: the host checks
 * EC_HOST_INTERFACE at start with ec_host_check_library(). The structs
 * stay opaque here too: the library alone knows their layout. */
#pragma once

#include "edgecore.h"

G_BEGIN_DECLS

/**
 * EC_HOST_INTERFACE: (skip)
 *
 * Version of this host-facing interface. Bumped whenever a declaration in
 * this file changes; host and library must agree on it exactly.
 */
#define EC_HOST_INTERFACE 3

typedef enum {
  EC_SEND_MODULE,
  EC_SEND_GROUP,
  EC_SEND_BROADCAST,
} EcSendKind;

/* The bus behind an endpoint. Implemented by kernel/bus.c. */
typedef struct {
  gboolean (*send)      (EcEndpoint *ep, EcSendKind kind, const char *target,
                         EcMessage *msg, guint *n_delivered, GError **error);
  void     (*call)      (EcEndpoint *ep, const char *module, EcMessage *msg,
                         guint timeout_ms, EcReplyFunc cb, gpointer user_data,
                         GDestroyNotify destroy);
  gboolean (*respond)   (EcEndpoint *ep, EcMessage *reply, GError **error);
  gboolean (*is_awaited)(EcEndpoint *ep, const char *parent_msg_id);
  /* libedgecore 1.1: flow control */
  gboolean (*send_full) (EcEndpoint *ep, EcSendKind kind, const char *target,
                         EcMessage *msg, guint *n_delivered, GPtrArray *dropped,
                         GError **error);
  gboolean (*send_when_ready) (EcEndpoint *ep, EcSendKind kind, const char *target,
                               EcMessage *msg, EcSendDoneFunc cb, gpointer user_data,
                               GDestroyNotify destroy, GError **error);
  guint    (*get_waiting) (EcEndpoint *ep, const char *module);
  void     (*set_paused)  (EcEndpoint *ep, gboolean paused);
  gboolean (*is_paused)   (EcEndpoint *ep);
  /* libedgecore 1.2: the bus's counters, a floating GVariant of
   * EC_BUS_STATS_TYPE (host interface 2) */
  GVariant *(*get_stats)  (EcEndpoint *ep);
  /* libedgecore 1.3: the endpoints of the bus's members now, in order of
   * registration (a new array; the endpoints stay the bus's). Any thread;
   * the library calls it under its metrics lock (host interface 3) */
  GPtrArray *(*list_members) (EcEndpoint *ep);
} EcEndpointOps;

EC_API gboolean    ec_host_check_library     (guint host_abi_major,
                                              guint host_abi_minor,
                                              guint host_interface,
                                              const char *host_version,
                                              GError **error);

EC_API EcEndpoint *ec_host_endpoint_new      (const EcEndpointOps *ops,
                                              gpointer    host_data,
                                              const char *name,
                                              const char *group);
EC_API gpointer    ec_host_endpoint_get_data (EcEndpoint *endpoint);
EC_API void        ec_host_endpoint_free     (EcEndpoint *endpoint);

EC_API EcPluginContext *ec_host_context_new  (const char *name,
                                              EcEndpoint *endpoint);
EC_API void        ec_host_context_set_node  (EcPluginContext *context,
                                              const char *node_name,
                                              const char *data_dir);
EC_API void        ec_host_context_set_config (EcPluginContext *context,
                                              GKeyFile   *config,
                                              const EcConfigKey *keys,
                                              guint       n_keys);
EC_API void        ec_host_context_set_log_threshold (EcPluginContext *context,
                                              GLogLevelFlags threshold);
EC_API void        ec_host_context_set_store (EcPluginContext *context,
                                              EcStore   **slot,
                                              const char *path);
EC_API void        ec_host_context_set_host_abi (EcPluginContext *context,
                                              guint host_abi_minor);
EC_API void        ec_host_context_cancel    (EcPluginContext *context);
EC_API void        ec_host_context_free      (EcPluginContext *context);

EC_API void        ec_host_store_drain       (EcStore *store);

G_END_DECLS
