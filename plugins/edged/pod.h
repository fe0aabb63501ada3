/* pod.h: a pod edged runs: its spec, its sandbox and containers in the
 * runtime, and what was last reported. */
#pragma once

#include "edged.h"
#include "pod-spec.h"

G_BEGIN_DECLS

typedef struct _EdgedProber EdgedProber;
typedef struct _EdgedHookRun EdgedHookRun;

typedef enum {
  POD_ADOPTING,      /* ListPodSandbox / ListContainers: left by an earlier run? */
  POD_PULLING,       /* ImageStatus / PullImage, container by container */
  POD_SANDBOX,       /* RunPodSandbox */
  POD_CONTAINERS,    /* CreateContainer + StartContainer, in order */
  POD_RUNNING,       /* watching the containers */
  POD_KILLING,       /* Stop/Remove containers, then the sandbox */
  POD_GONE,
} EdgedPodStage;

typedef struct {
  char    *id;              /* CRI container id; NULL before CreateContainer */
  int      state;           /* Runtime__V1__ContainerState, -1 unknown */
  int      exit_code;
  gint64   started_at;      /* unix ns */
  gint64   finished_at;
  char    *reason;
  char    *message;
  char    *image_ref;
  char    *waiting_reason;  /* ErrImagePull, ImagePullBackOff, ... */
  char    *waiting_message;
  /* restarts (restartPolicy Always / OnFailure) */
  guint    restart_count;
  gint64   backoff_us;      /* the next crash's delay; 0: restart at once */
  gint64   restart_at;      /* monotonic µs; 0: no restart pending */
  char    *dead_id;         /* the last exited container, kept for its log */
  int      last_exit_code;  /* lastState.terminated */
  gint64   last_started_at;
  gint64   last_finished_at;
  char    *last_reason;
  gboolean exit_logged;     /* its exit was logged (pod-offline) */
  char    *last_id;         /* lastState's container (kept or not: gc.c) */
  GPtrArray *older_dead;    /* gc.c: exited instances before dead_id, newest first */
  gboolean pre_stop_done;   /* hooks.c: preStop ran (or is not to run) */
  gint64   pre_stop_at;     /* monotonic µs when preStop started */
} EdgedContainer;

typedef struct {
  Edged          *edged;
  EdgedPodSpec   *spec;
  EdgedPodStage   stage;
  guint           next;           /* the container the stage works on */
  gboolean        busy;           /* a CRI call is in flight */
  gboolean        kill_requested; /* the next step starts the kill */
  gboolean        handshake;      /* deleted by the cloud's update: send delete when gone */
  char           *sandbox_id;
  char           *log_dir;
  char           *cgroup_parent;
  EdgedContainer *containers;
  gint64          start_time;     /* unix s */
  gint64          retry_at;       /* monotonic µs: next image pull attempt */
  guint           pull_failures;
  char           *last_status;    /* the Status JSON last sent */
  gint64          ready_since;
  gboolean        was_ready;
  gint64          init_time;
  /* offline (pod-offline.c) */
  gboolean        adopted;        /* taken over from an earlier run; logged once running */
  guint           adopt_next;     /* adopting: the container whose lastState is read */
  gboolean        restored;       /* times restored from an earlier run */
  char           *times_saved;    /* what edged-times holds */
  GPtrArray      *probers;        /* EdgedProber (probe.c) */
  EdgedHookRun   *hook_run;       /* the lifecycle hook running (hooks.c) */
  guint           sandbox_attempt; /* RunPodSandbox's attempt: above every stale one */
} EdgedPod;

/* pod-worker.c */
void       edged_pods_start   (Edged *self);
void       edged_pods_stop    (Edged *self);
void       edged_pods_message (Edged *self, EcMessage *message);
void       edged_pods_load    (Edged *self);

/* pod-worker.c, for static-pods.c */
void       edged_pods_run_json       (Edged *self, const char *json, gsize len, const char *what);
void       edged_pods_remove_uid     (Edged *self, const char *uid);

/* pod-offline.c */
void       edged_sandbox_remove      (Edged *self, const char *sandbox_id);
void       edged_container_remove    (Edged *self, const char *container_id);
void       edged_pods_remove_orphans (Edged *self);
gboolean   edged_pod_restore         (EdgedPod *pod);
void       edged_pod_times_save      (EdgedPod *pod);
void       edged_pod_times_forget    (EdgedPod *pod);
gboolean   edged_pod_ref_parse       (const char *json, gsize length, char **ns, char **name,
                                      char **uid, GError **error);

/* probe.c */
void       edged_probes_sync         (EdgedPod *pod);
void       edged_probes_free         (EdgedPod *pod);
gboolean   edged_probe_started       (EdgedPod *pod, guint index);
gboolean   edged_probe_ready         (EdgedPod *pod, guint index);
const char *edged_pod_ip             (EdgedPod *pod);

/* eviction.c */
gboolean   edged_eviction_check      (Edged *self, const char *ns, const char *name, const char *uid);
void       edged_eviction_forget     (Edged *self, const char *uid);
void       edged_eviction_start      (Edged *self);
void       edged_eviction_cloud_connected (Edged *self);
void       edged_eviction_stop       (Edged *self);
void       edged_pods_evict          (EdgedPod *pod);

/* gc.c */
char      *edged_gc_dead             (EdgedPod *pod, EdgedContainer *c, char *id);
void       edged_gc_node             (Edged *self);

/* hooks.c */
typedef void (*EdgedHookDone) (EdgedPod *pod, gboolean ok, const char *detail);
void       edged_hook_run            (EdgedPod *pod, const EdgedProbeSpec *handler,
                                      const char *container_id, guint timeout_ms,
                                      EdgedHookDone done);
void       edged_hook_forget         (EdgedPod *pod);

/* pod-status.c */
JsonNode  *edged_pod_status   (EdgedPod *pod, gint64 now);
void       edged_pod_report   (EdgedPod *pod);
void       edged_pod_report_invalid (Edged *self, const char *json, gsize length,
                                     const char *reason);
void       edged_pod_report_failed  (Edged *self, const char *ns, const char *name,
                                     const char *uid, const char *reason, const char *message);

G_END_DECLS
