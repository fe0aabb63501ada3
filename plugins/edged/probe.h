/* probe.h: container probes (liveness, readiness, startup) and lifecycle
 * handlers (postStart, preStop): what the pod spec says (probe-spec.c) and
 * running them (probe.c, probe-http.c, hooks.c). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum {
  EDGED_HANDLER_EXEC,
  EDGED_HANDLER_HTTP,
  EDGED_HANDLER_TCP,
  EDGED_HANDLER_GRPC,
} EdgedHandlerKind;

typedef enum {
  EDGED_PROBE_LIVENESS,
  EDGED_PROBE_READINESS,
  EDGED_PROBE_STARTUP,
  EDGED_N_PROBES
} EdgedProbeType;

/* A probe, or a lifecycle handler (then only the handler fields). */
typedef struct {
  EdgedHandlerKind kind;
  char   **command;          /* exec */
  char    *host;             /* httpGet, tcpSocket; NULL: the pod's IP */
  int      port;
  char    *path;             /* httpGet */
  gboolean https;            /* httpGet scheme HTTPS */
  char    *service;          /* grpc: the service asked about ("" by default) */
  char   **header_names;     /* httpGet httpHeaders */
  char   **header_values;
  gint64   initial_delay;    /* seconds */
  gint64   period;
  gint64   timeout;
  gint64   success_threshold;
  gint64   failure_threshold;
} EdgedProbeSpec;

/* probe-spec.c */
gboolean edged_probe_spec_parse (JsonObject *container, const char *member, gboolean handler,
                                 EdgedProbeSpec **out, GError **error);
void     edged_probe_spec_free  (EdgedProbeSpec *spec);

/* An attempt's outcome, as kubelet's: a warning (an httpGet redirect not
 * followed) counts as a success, and is logged. */
typedef enum {
  EDGED_PROBE_FAILURE = 0,
  EDGED_PROBE_SUCCESS = 1,
  EDGED_PROBE_WARNING = 2,
} EdgedProbeResult;

/* probe-http.c: one httpGet (status 200-399: success) or tcpSocket
 * (connected: success) attempt; callback runs once, never inside the call. */
typedef void (*EdgedProbeDone) (EdgedProbeResult result, const char *detail, gpointer data);
void     edged_probe_http (const EdgedProbeSpec *spec, const char *host, guint timeout_ms,
                           GCancellable *cancel, EdgedProbeDone done, gpointer data);
void     edged_probe_tcp  (const EdgedProbeSpec *spec, const char *host, guint timeout_ms,
                           GCancellable *cancel, EdgedProbeDone done, gpointer data);

/* probe-grpc.c: one grpc.health.v1.Health/Check (SERVING: success). */
void     edged_probe_grpc (const EdgedProbeSpec *spec, const char *host, guint timeout_ms,
                           GCancellable *cancel, EdgedProbeDone done, gpointer data);

G_END_DECLS
