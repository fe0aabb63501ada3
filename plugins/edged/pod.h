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
  POD_INIT,          /* init containers, one at a time, each to completion (pod-init.c) */
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
  /* ---- ctr ---- */
  gint64   image_uid;       /* the image's user id from ImageStatus; -1 none */
  char    *image_user;      /* the image's user name when not numeric */
  gboolean image_known;     /* image_uid/image_user were read from ImageStatus */
  gboolean replace;         /* pod-update.c: its spec changed, it is recreated */
  gboolean exit_logged;     /* its exit was logged (pod-offline) */
  char    *last_id;         /* lastState's container (kept or not: gc.c) */
  GPtrArray *older_dead;    /* gc.c: exited instances before dead_id, newest first */
  gboolean pre_stop_done;   /* hooks.c: preStop ran (or is not to run) */
  gint64   pre_stop_at;     /* monotonic µs when preStop started */
  /* ---- pods30 ---- */
  gboolean create_retry;    /* CreateContainer failed: restart_at is its retry (no restart counted) */
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
  /* ---- ctr ---- */
  char          **pod_ips;        /* from PodSandboxStatus (pod network) */
  gboolean        network_quiet;  /* the pod IP query ends without a report (adoption) */
  gboolean        init_failed;    /* an init container failed under restartPolicy Never */
  EdgedPodSpec   *pending_spec;   /* a changed spec from the cloud, applied when idle */
  guint           update_next;    /* pod-update.c: the container being replaced */
  gboolean        was_initialized;
  gboolean        replace_adopted; /* adopted containers run an older spec */
  /* status-format=kubelet (pod-patch.c) */
  char           *patch_base;     /* the status the cloud last accepted (JSON text) */
  gboolean        patching;       /* a patch is in flight */
  gboolean        patch_again;    /* the status changed meanwhile */
  /* timing (pod-trace.c) */
  gint64          trace_t0;       /* monotonic µs of the pod message */
  gint64          started_answer_us; /* real µs of the last StartContainer answer */
  gboolean        running_reported;
  struct _EdgedPodObjects *objects; /* vol: the configmaps/secrets it names, its volumes (store-objects.c) */
  /* offline (pod-offline.c) */
  gboolean        adopted;        /* taken over from an earlier run; logged once running */
  guint           adopt_next;     /* adopting: the container whose lastState is read */
  gboolean        restored;       /* times restored from an earlier run */
  char           *times_saved;    /* what edged-times holds */
  GPtrArray      *probers;        /* EdgedProber (probe.c) */
  EdgedHookRun   *hook_run;       /* the lifecycle hook running (hooks.c) */
  guint           sandbox_attempt; /* RunPodSandbox's attempt: above every stale one */
  gboolean        sandbox_relist;  /* misc: RunPodSandbox failed: list first (pod-sandbox-retry.c) */
} EdgedPod;

/* pod-worker.c */
void       edged_pods_start   (Edged *self);
void       edged_pods_stop    (Edged *self);
void       edged_pods_message (Edged *self, EcMessage *message);
void       edged_pods_load    (Edged *self);

/* pod-worker.c, for the steps in other files */
void       edged_pod_step_done          (EdgedPod *pod);
void       edged_pod_step_done_quiet    (EdgedPod *pod);
void       edged_pod_create_container   (EdgedPod *pod);
void       edged_container_set_waiting  (EdgedContainer *c, const char *reason, const char *message);
void       edged_container_retire       (EdgedPod *pod, guint i, gboolean backoff);
void       edged_container_take_status  (EdgedContainer *c, Runtime__V1__ContainerStatus *st);
void       edged_pod_rekey              (EdgedPod *pod, EdgedPodSpec *spec);

/* pod-worker.c: the sandbox is there */
void       edged_pod_sandbox_ready      (EdgedPod *pod, const char *sandbox_id);

/* pod-sandbox-retry.c */
void       edged_pod_sandbox_relist     (EdgedPod *pod);

/* pod-network.c */
void       edged_pod_network_query (EdgedPod *pod);

/* pod-security.c */
void       edged_pod_lookup_image_user (EdgedPod *pod);

/* pod-resources.c */
void       edged_pod_cgroup_apply  (EdgedPod *pod);
void       edged_pod_cgroup_remove (EdgedPod *pod);

/* pod-init.c */
void       edged_pod_init_step     (EdgedPod *pod);

/* pod-update.c */
void       edged_pod_update        (EdgedPod *pod, EdgedPodSpec *spec);
gboolean   edged_pod_update_step   (EdgedPod *pod);
void       edged_pod_adopt_check   (EdgedPod *pod, guint i, Runtime__V1__Container *found);

/* the container annotation holding the hash of its spec */
#define EDGED_HASH_ANNOTATION "io.kubeedge.edgecore.container.hash"
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
gboolean   edged_pod_initializing (EdgedPod *pod);
JsonNode  *edged_pod_status   (EdgedPod *pod, gint64 now);
void       edged_pod_report   (EdgedPod *pod);
void       edged_pod_report_invalid (Edged *self, const char *json, gsize length,
                                     const char *reason);
void       edged_pod_report_failed  (Edged *self, const char *ns, const char *name,
                                     const char *uid, const char *reason, const char *message);

/* pod-trace.c */
void       edged_pod_trace_invoke (EdgedPod *pod, EdgedCriClient *client,
                                   const EdgedCriMethod *method, const ProtobufCMessage *request,
                                   guint timeout_ms, EdgedCriReplyFunc callback);
void       edged_pod_trace_started (EdgedPod *pod, EdgedContainer *c);
void       edged_pod_note_image (EdgedContainer *c, const Runtime__V1__Image *image);
void       edged_pod_trace_reported (EdgedPod *pod, const char *phase);

/* pod-patch.c (status-format=kubelet) */
void       edged_pod_patch    (EdgedPod *pod, JsonNode *status);
void       edged_pod_patch_once (Edged *self, const char *ns, const char *name, const char *uid,
                                 JsonNode *status);
JsonNode  *edged_pod_delete_options (const char *uid);

G_END_DECLS
