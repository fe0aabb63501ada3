/* server.h: edged's local kubelet endpoints (server*.c), plain HTTP on
 * [edged] address:read-only-port (127.0.0.1:10350), what edgestream
 * proxies to: /healthz, /pods, /containerLogs, /exec, /attach,
 * /portForward, /stats/summary, /metrics/resource, /metrics. */
#pragma once

#include <libsoup/soup.h>

#include "pod.h"

G_BEGIN_DECLS

/* Limits of the server: connections, streams (log follows and exec/attach/
 * portForward splices), the time for a request's headers, an idle
 * kept-alive connection, and the per-client buffer of a stream. */
#define EDGED_SERVER_MAX_CONNECTIONS  64
#define EDGED_SERVER_MAX_STREAMS      64
#define EDGED_SERVER_HEADER_TIMEOUT_S 10
#define EDGED_SERVER_IDLE_TIMEOUT_S   90
#define EDGED_SERVER_CHUNK            (64 * 1024)

typedef struct _EdgedServer EdgedServer;

struct _EdgedServer {
  Edged       *edged;
  SoupServer  *soup;
  char        *address;
  guint        port;          /* the bound port (read-only-port, or the kernel's choice for 0 in tests) */
  GHashTable  *conns;         /* GSocket* -> ServerConn* */
  guint        n_streams;     /* log streams and splices open now */
  GList       *splices;       /* EdgedSplice*, closed at stop */
  GList       *logs;          /* EdgedLogStream*, ended at stop */
  /* counters for /metrics */
  guint64      requests;
  guint64      responses[6];  /* by status class: [1]..[5] */
  guint64      refused;       /* connections over the cap */
  guint64      timed_out;
  guint64      stream_bytes;  /* relayed by splices */
  guint64      log_bytes;     /* sent by log streams */
  /* the node's previous cpu sample, for usageNanoCores */
  gint64       cpu_prev_ns;
  gint64       cpu_prev_time;
  GHashTable  *ctr_cpu_prev;  /* container id -> CpuSample* */
};

/* server.c */
gboolean     edged_server_start      (Edged *self, GError **error);
void         edged_server_stop       (Edged *self);
EdgedPod    *edged_pod_find          (Edged *self, const char *ns, const char *name);
int          edged_pod_container_index (EdgedPod *pod, const char *container);
void         edged_server_error      (SoupServerMessage *msg, guint status, const char *format, ...) G_GNUC_PRINTF (3, 4);
void         edged_server_json       (SoupServerMessage *msg, JsonNode *node);
gboolean     edged_server_bool_param (GHashTable *query, const char *name, gboolean *out, GError **error);
gboolean     edged_server_int_param  (GHashTable *query, const char *name, gint64 min, gint64 *out,
                                      gboolean *present, GError **error);
gboolean     edged_server_stream_admit (EdgedServer *srv, SoupServerMessage *msg);
void         edged_server_stream_done (EdgedServer *srv);
void         edged_server_forget_socket (EdgedServer *srv, GSocket *sock);

/* server-logs.c: GET /containerLogs/{ns}/{pod}/{container} */
void         edged_server_logs       (EdgedServer *srv, SoupServerMessage *msg, char **parts,
                                      GHashTable *query);
void         edged_server_logs_stop  (EdgedServer *srv);

/* server-stream.c: /exec, /attach, /portForward */
void         edged_server_stream     (EdgedServer *srv, SoupServerMessage *msg, char **parts,
                                      GHashTable *query);
void         edged_server_stream_stop (EdgedServer *srv);

/* server-stats.c: /stats/summary, /metrics/resource */
void         edged_server_stats      (EdgedServer *srv, SoupServerMessage *msg, gboolean prometheus);
void         edged_server_stats_init (EdgedServer *srv);

/* server-metrics.c: /metrics */
void         edged_server_metrics    (EdgedServer *srv, SoupServerMessage *msg);

G_END_DECLS
