/* ec-host-private.h: how the host fills the opaque structs of the public API.
 * Shared by libedgecore and kernel/ only; never installed, never included by
 * plugins. */
#pragma once

#include "edgecore.h"

G_BEGIN_DECLS

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
} EcEndpointOps;

struct _EcEndpoint {
  const EcEndpointOps *ops;
  char *name;
  char *group;
};

struct _EcPluginContext {
  EcEndpoint        *endpoint;
  char              *name;        /* plugin and section name */
  char              *log_domain;
  char              *node_name;
  char              *data_dir;
  GKeyFile          *config;      /* effective config, defaults filled in */
  const EcConfigKey *keys;        /* the plugin's keys, host-owned copy */
  guint              n_keys;
  GLogLevelFlags     log_threshold; /* levels above this are not logged */
  EcStore          **store;       /* the host's shared store, opened on demand */
  const char        *store_path;  /* [database] data-source */
};

/* Runs func from context's main loop later, never in the calling thread. */
void _ec_invoke_later (GMainContext *context, GSourceFunc func, gpointer data);

G_END_DECLS
