/* edged.h: edged's state and the interfaces between its files. */
#pragma once

#include <edgecore.h>

#include "config-parse.h"
#include "cri-api.h"
#include "node-host.h"

G_BEGIN_DECLS

#define EDGED_BUS_NAME  "edged"
#define EDGED_BUS_GROUP "edged"

/* The kubelet version the node reports, as KubeEdge v1.9.2 does. */
#define EDGED_KUBELET_VERSION "v1.21.4-kubeedge-v1.9.2"
/* The node UID in v1.9.2's NodeStatusRequest (a constant there). */
#define EDGED_STATUS_UID "38796d14-1df3-11e8-8e5a-286ed488f209"

typedef enum {
  EDGED_COND_MEMORY,
  EDGED_COND_DISK,
  EDGED_COND_PID,
  EDGED_COND_READY,
  EDGED_N_CONDS
} EdgedCondId;

typedef struct {
  const char *type;
  gboolean    status;        /* "True" / "False" */
  char       *reason;
  char       *message;
  gint64      transition;    /* unix seconds of the last change */
} EdgedCondition;

/* The runtime as the health probe last saw it. */
typedef struct {
  gboolean  probed;          /* a first probe finished */
  gboolean  ready;
  char     *problem;         /* why not ready; NULL when ready */
  char     *name;            /* VersionResponse.runtime_name */
  char     *version;         /* VersionResponse.runtime_version */
  gboolean  in_flight;
  guint     timer;
  guint     backoff_ms;
} EdgedHealth;

typedef struct _EdgedStatic EdgedStatic;

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  char            *node_name;
  char            *namespace;

  /* configuration */
  char           **label_keys;
  char           **label_values;
  EdgedTaint      *taints;
  guint            n_taints;
  gboolean         register_node;
  gboolean         schedulable;
  char            *node_ip;        /* node-ip, or detected */
  char            *root_directory;
  gint64           max_pods;
  gint64           max_dead_per_container;  /* max-per-pod-container-count (gc.c) */
  gint64           max_dead_total;          /* max-container-count (gc.c) */
  gint64           read_only_port;
  gint64           reserved_cpu_milli;
  gint64           reserved_memory;
  gint64           reserved_storage;
  EdgedThreshold   evict_memory;
  EdgedThreshold   evict_nodefs;
  gint64           status_period_ms;
  gint64           request_timeout_ms;

  /* runtime */
  EdgedCriClient  *runtime;
  EdgedCriClient  *images;         /* == runtime when the endpoints are equal */
  EdgedHealth      health;

  /* node */
  gboolean         connected;
  gboolean         registered;
  gboolean         registering;
  gboolean         updating;
  gboolean         status_again;   /* the status changed during an update */
  guint            status_timer;
  EdgedCondition   conds[EDGED_N_CONDS];

  /* pods */
  GHashTable      *pods;           /* uid -> EdgedPod */
  guint            pod_timer;
  gboolean         pods_loaded;    /* the stored pods were asked for */
  char            *pod_logs_dir;
  char            *cgroup_root;

  /* [edged] status-format=kubelet: the current (HEAD) formats
   * (node-patch.c, node-lease.c, pod-patch.c) */
  gboolean         kubelet_format;
  gint64           lease_duration_s;
  gint64           report_period_ms;
  char            *node_uid;         /* from the cloud's answer to the registration */
  JsonNode        *patched_status;   /* the node status the cloud last accepted */
  gint64           patched_at;       /* monotonic µs */
  JsonNode        *lease;            /* the Lease the cloud last gave */
  gboolean         lease_busy;
  guint            lease_timer;
  EcStore         *store;            /* where the cloud's patched pods are kept */
  /* the local kubelet endpoints (server*.c); NULL when off */
  struct _EdgedServer *server;
  EdgedStatic     *statics;        /* static-pods.c */
  guint            eviction_timer; /* eviction.c */
  GHashTable      *evicted;        /* eviction.c: uid -> what its status says */
  EdgedThreshold   evict_imagefs;  /* eviction.c: imagefs.available */
  struct _EdgedImageGc *image_gc;  /* image-gc.c */
} Edged;

/* image-gc.c */
typedef struct _EdgedImageGc EdgedImageGc;
typedef void (*EdgedImageGcDone) (Edged *self, gboolean ok, guint64 freed, gpointer data);
gboolean   edged_image_gc_configure  (Edged *self, GError **error);
void       edged_image_gc_start      (Edged *self);
gboolean   edged_image_gc_delete_unused (Edged *self, EdgedImageGcDone done, gpointer data);
gboolean   edged_image_fs_observe    (Edged *self, EdgedImageGcDone done, gpointer data);
gboolean   edged_image_fs_get        (Edged *self, gint64 *capacity, gint64 *available);
gboolean   edged_image_fs_holds      (Edged *self, const char *path);
void       edged_image_gc_free       (Edged *self);
/* the pure parts (tests) */
typedef struct {
  char   *id;
  char   *name;            /* first repo tag, for the log */
  guint64 size;
  gint64  first_detected;  /* real time µs; 0: found by the first detection */
  gint64  last_used;       /* real time µs; 0: never seen in use */
} EdgedImageCandidate;
EdgedImageGc *edged_image_gc_new     (Edged *edged, gint64 high, gint64 low, gint64 min_age_us,
                                      const char *sandbox_image);
void       edged_image_gc_destroy    (EdgedImageGc *gc);
GArray    *edged_image_gc_detect     (EdgedImageGc *gc, Runtime__V1__Image **images,
                                      gsize n_images, GHashTable *in_use, gint64 now);
gint64     edged_image_gc_amount     (gint64 capacity, gint64 available, gint64 high, gint64 low);
void       edged_image_candidate_clear (gpointer p);

/* node-runtime.c */
void       edged_health_start    (Edged *self);
void       edged_health_stop     (Edged *self);

/* node-object.c */
char      *edged_runtime_version_string (Edged *self);
JsonNode  *edged_node_object     (Edged *self, const EdgedHost *host);
JsonNode  *edged_node_status     (Edged *self, const EdgedHost *host, gint64 now);
void       edged_node_allocatable (Edged *self, const EdgedHost *host, gint64 *cpu_milli,
                                   gint64 *memory, gint64 *storage);

/* pod-worker.c */
void       edged_pods_load       (Edged *self);
void       edged_pods_cloud_connected (Edged *self);

/* node-status.c */
void       edged_node_start      (Edged *self);
void       edged_node_stop       (Edged *self);
void       edged_node_conditions_update (Edged *self, const EdgedHost *host, gint64 now);
void       edged_node_runtime_changed (Edged *self);
void       edged_node_cloud_state (Edged *self, gboolean connected);
void       edged_conditions_clear (Edged *self);
void       edged_node_status_done (Edged *self);

/* node-patch.c (status-format=kubelet) */
gboolean   edged_object_resp     (EcMessage *reply, JsonObject **object, char **why, char **reason);
EcMessage *edged_kubelet_register_message (Edged *self, const EdgedHost *host);
gboolean   edged_kubelet_register_reply (Edged *self, EcMessage *reply, char **why);
gboolean   edged_kubelet_patch_status (Edged *self, const EdgedHost *host, gint64 now);
void       edged_kubelet_clear   (Edged *self);

/* node-lease.c (status-format=kubelet) */
void       edged_lease_start     (Edged *self);
void       edged_lease_stop      (Edged *self);

G_END_DECLS
