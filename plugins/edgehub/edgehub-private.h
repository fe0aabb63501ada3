/* edgehub-private.h: the state shared by edgehub's files. */
#pragma once

#include <edgecore.h>

#include "backoff.h"
#include "ws-conn.h"

#define EDGEHUB_BUS_NAME  "websocket"
#define EDGEHUB_BUS_GROUP "hub"

typedef struct _EhUplink EhUplink;

typedef struct {
  char    *node;
  char    *project_id;
  char    *server;                /* websocket-server, host:port */
  char    *http_server;
  char    *token;
  char    *token_file;
  char    *ca_file, *cert_file, *key_file;
  gboolean rotate;
  gint64   heartbeat_s;
  gint64   handshake_timeout_s;
  gint64   read_deadline_s;       /* 0: not applied */
  gint64   write_deadline_s;      /* 0: not applied */
  gint64   max_message_size;
  double   backoff_initial_s, backoff_max_s, backoff_jitter;
  double   qps, burst;
  gint64   uplink_limit;
} EhConfig;

typedef struct {
  guint64 from_cloud, to_cloud;
  guint64 invalid, oversized, unknown_group, unknown_operation, unroutable, backlog_dropped;
  guint64 connects;
  guint64 dead_read, dead_write;
} EhCounters;

/* Why a connection to the cloud ended (edgecore_cloud_disconnects_total). */
typedef enum {
  EH_DISCONNECT_CLOSED,
  EH_DISCONNECT_READ_DEADLINE,
  EH_DISCONNECT_WRITE_DEADLINE,
  EH_DISCONNECT_CERT_ROTATION,
  EH_DISCONNECT_N
} EhDisconnect;

/* Why a message from the cloud was dropped (edgecore_cloud_messages_dropped_total). */
typedef enum {
  EH_DROP_INVALID,
  EH_DROP_OVERSIZED,
  EH_DROP_UNKNOWN_GROUP,
  EH_DROP_UNROUTABLE,
  EH_DROP_BACKLOG,
  EH_DROP_N
} EhDrop;

/* edgehub's metrics (metrics.c), owned by the endpoint; NULL if refused. */
typedef struct {
  EcMetric *connected, *connects, *dial_failures;
  EcMetric *disconnects[EH_DISCONNECT_N];
  EcMetric *sent, *received, *sent_bytes, *received_bytes;
  EcMetric *dropped[EH_DROP_N];
} EhMetrics;

typedef struct {
  EcPluginContext         *context;
  EcEndpoint              *endpoint;
  EhConfig                 cfg;
  EcStore                 *store;
  EhCounters               n;
  EhMetrics                m;
  gboolean                 running;

  /* certificates (certs.c) */
  GCancellable            *cert_cancel;
  gboolean                 bootstrapping;
  gboolean                 rotating;
  guint                    rotation_source;
  guint                    rotation_attempts;
  char                    *last_failure;  /* the cause logged last (eh_log_failure) */
  char                    *last_unusable; /* why the certificates were last found unusable */

  /* the link (link.c) */
  EhWsConn                *ws;           /* the websocket (ws-conn.c) */
  gpointer                 dial;        /* the dial in flight (link.c) */
  guint                    dial_timeout_source;
  guint                    reconnect_source;
  guint                    keepalive_source;
  EhBackoff                backoff;
  gint64                   connected_at;
  gint64                   last_rx;       /* monotonic µs of the last frame or pong */
  guint                    liveness_source;
  guint                    ping_source;   /* a ping to send at the next idle */
  guint64                  ping_next;     /* the number of the next ping */
  gboolean                 ping_outstanding;

  /* cloud to edge (downlink.c): drops logged at most once per interval */
  EcLogLimit               rl_down_dropped;
  EcLogLimit               rl_down_unroutable;

  /* edge to cloud (uplink.c) */
  EhUplink                *uplink;
} EdgeHub;

/* certs.c */
typedef void (*EhCertsDone) (EdgeHub *self, gboolean ok);
gboolean         eh_certs_usable          (EdgeHub *self, GError **error);
void             eh_certs_bootstrap       (EdgeHub *self, EhCertsDone done);
void             eh_certs_schedule_rotation (EdgeHub *self);
void             eh_certs_stop            (EdgeHub *self);
void             eh_log_failure           (EdgeHub *self, const char *key, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
char            *eh_failure_key           (const char *what, const GError *error);

/* metrics.c */
void             eh_metrics_register      (EdgeHub *self);

/* link.c */
void     eh_link_start        (EdgeHub *self);
void     eh_link_stop         (EdgeHub *self);
void     eh_link_restart      (EdgeHub *self);
gboolean eh_link_is_up        (EdgeHub *self);
gboolean eh_link_write        (EdgeHub *self, const char *text, gsize len);
guint64  eh_link_request_ping (EdgeHub *self);

/* downlink.c */
void     eh_downlink_receive  (EdgeHub *self, const char *data, gsize len);

/* uplink.c */
EhUplink *eh_uplink_new       (EdgeHub *self, GError **error);
void      eh_uplink_free      (EhUplink *up);
void      eh_uplink_submit    (EdgeHub *self, EcMessage *message);
void      eh_uplink_flush     (EdgeHub *self);
void      eh_uplink_persist_all (EdgeHub *self);
guint     eh_uplink_length    (EhUplink *up);
void      eh_uplink_confirm   (EdgeHub *self, guint64 seq);
void      eh_uplink_link_lost (EdgeHub *self);
gint64    eh_uplink_oldest_unread (EdgeHub *self);
gboolean  eh_uplink_has_unread (EdgeHub *self);
gboolean  eh_write_message    (EdgeHub *self, EcMessage *message);
