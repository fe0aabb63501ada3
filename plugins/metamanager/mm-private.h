/* mm-private.h: metamanager's internal interfaces, shared by its files. */
#pragma once

#include <edgecore.h>

#include "mm-seen.h"

G_BEGIN_DECLS

#define MM_BUS_NAME  "metamanager"
#define MM_BUS_GROUP "meta"

#define MM_ERROR (mm_error_quark ())
GQuark mm_error_quark (void);

typedef enum {
  MM_ERROR_BAD_CONTENT,
  MM_ERROR_UNKNOWN_TYPE,
  MM_ERROR_SCHEMA,
} MmError;

/* ---- mm-objscan.c: the few fields metamanager reads from an object ------ */

/* What mm_scan_object() found at the top of a Kubernetes object. Absent
 * fields are NULL. */
typedef struct {
  char  *api_version;
  char  *kind;
  char  *name;
  char  *namespace;
  char  *resource_version;
  char  *uid;
  gsize  body_offset;  /* just after the opening brace */
} MmObjInfo;

gboolean mm_scan_object        (const char *json,
                                gsize       len,
                                MmObjInfo  *info,
                                GError    **error);
void     mm_obj_info_clear     (MmObjInfo  *info);
gboolean mm_json_is_string     (const char *json,
                                gsize       len);

/* ---- mm-resource.c: KubeEdge resource strings and Kubernetes types ----- */

/* A KubeEdge resource type token and what it is in Kubernetes. A NULL kind
 * means the type is stored in `meta` only (statuses, patches, tokens ...). */
typedef struct {
  const char *type;
  const char *group;     /* "" for the core group */
  const char *version;
  const char *kind;
  gboolean    cluster;   /* cluster-scoped */
} MmTypeInfo;

const MmTypeInfo *mm_type_lookup        (const char *type);
gboolean          mm_resource_parse     (const char *resource,
                                         char      **ns,
                                         char      **type,
                                         char      **name);
char             *mm_kind_to_resource   (const char *kind);
gboolean          mm_type_needs_remote  (const char *type);
gboolean          mm_type_skips_v2      (const char *type);

/* Where an object goes in `meta_v2`. */
typedef struct {
  char    *key;
  char    *gvr;
  char    *ns;
  char    *name;
  guint64  rv;
  const char *src;    /* the object as received (the caller's text) */
  gsize    src_len;
  char    *head;      /* apiVersion/kind to put in front, or NULL */
  gsize    head_len;
  gsize    head_at;   /* where head goes: just after the opening brace */
} MmV2Row;

void      mm_v2_row_clear       (MmV2Row    *row);
gboolean  mm_v2_row_build       (MmV2Row    *row,
                                 const char *type,
                                 const char *res_ns,
                                 const char *res_name,
                                 const char *json,
                                 gsize       len,
                                 MmObjInfo  *info,
                                 GError    **error);
const char *mm_v2_row_text     (const MmV2Row *row,
                                GString       *buf,
                                gsize         *len);
char     *mm_v2_row_dup_text    (const MmV2Row *row);

/* ---- mm-schema.c: the tables ------------------------------------------- */

gboolean mm_schema_prepare (EcStore    *store,
                            char      **migrated,
                            GError    **error);

/* ---- the plugin ---------------------------------------------------------- */

typedef struct _MetaManager MetaManager;
typedef struct _MmWrite MmWrite;
typedef struct _MmStmts MmStmts;

/* Runs on the main loop after a write committed (w->error NULL) or failed. */
typedef void (*MmAfterFunc) (MetaManager *self, MmWrite *w);

/* One change to apply to the store, and what to do once it committed. */
struct _MmWrite {
  EcMessage     *msg;          /* the message being applied */
  gboolean       is_delete;
  char          *meta_key;     /* the KubeEdge resource string */
  char          *meta_type;
  const char    *meta_text;    /* upsert: NULL leaves `meta` alone; points
                                  into msg's content or into owned */
  gsize          meta_len;
  char          *owned;        /* text the change keeps alive */
  char          *uid;          /* delete: only the row holding this uid */
  char          *also_delete;  /* delete: a second `meta` key (podpatch) */
  MmV2Row        v2;           /* key NULL: no `meta_v2` row */
  MmAfterFunc    after;
  gpointer       after_data;
  GDestroyNotify after_destroy;
  /* results, written on the store's writer thread */
  GError        *error;
  gboolean       skipped;      /* not newer than what is stored */
  gboolean       v2_changed;
  gboolean       v2_existed;
  char          *v2_old;       /* delete: the last stored object */
  gsize          cost;         /* bytes it counts for while in flight */
};

/* metamanager's metrics (mm-metrics.c), owned by the endpoint; NULL if
 * refused. remote[] and remote_failed[] by is_query. */
typedef struct {
  EcMetric *upserts, *deletes, *skipped, *write_errors, *read_errors, *pending, *queries;
  EcMetric *remote[2], *remote_failed[2];
} MmMetrics;

struct _MetaManager {
  gint             ref_count;
  gboolean         dead;        /* the plugin was freed; jobs just clean up */
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  EcStore         *store;
  char            *send_group;
  char            *send_module;
  guint            remote_timeout_ms;
  gboolean         connected;

  GPtrArray       *batch;       /* MmWrite* not yet given to the store */
  guint            flush_source;
  guint64          seq_queued;  /* write batches given to the store */
  guint64          seq_done;    /* ... and finished, in order */
  GQueue           deferred;    /* queries waiting for earlier writes */
  MmStmts         *stmts;       /* the writer thread's statements */

  EcLogLimit       rl_send_dropped; /* sends the bus could not take even waiting */
  MmMetrics        m;

  gint64           feed_absent_since; /* metaserver not on the bus */
  MmSeen          *seen;        /* cloud msg ids applied and acked, the last SEEN_MAX */
  GString         *scratch;     /* main loop: meta_v2 texts for the feed */

  /* backpressure (mm-flow.c) */
  guint            max_pending_writes;
  guint64          max_pending_bytes;
  guint            max_held;
  guint            inflight;       /* changes queued or in the store, not done */
  guint64          inflight_bytes;
  GQueue           held;           /* EcMessage* waiting for the writer */
  gboolean         barrier_pending; /* a no-op store job tells when the writer caught up */
  guint            held_peak;      /* since the last "caught up" log line */
  guint            inflight_peak;
  guint64          n_held, n_refused;
  gboolean         hold_logged;
  gint64           hold_log_time;
  guint64          since_trim;     /* changes since memory was last given back */
  guint            trim_source;
};

MetaManager *mm_ref              (MetaManager *self);
void         mm_unref            (MetaManager *self);

/* metamanager.c */
void     mm_dispatch             (MetaManager *self, EcMessage *msg);

/* mm-flow.c */
gboolean mm_flow_hold            (MetaManager *self, EcMessage *msg);
void     mm_flow_resume          (MetaManager *self);
void     mm_flow_clear           (MetaManager *self);

/* mm-metrics.c */
void     mm_metrics_register     (MetaManager *self);

/* mm-send.c */
void     mm_send_module          (MetaManager *self, const char *module, EcMessage *msg);
void     mm_send_group           (MetaManager *self, const char *group, EcMessage *msg);
void     mm_send_to_cloud        (MetaManager *self, EcMessage *msg);
void     mm_reply                (MetaManager *self, EcMessage *request, EcMessage *reply);
void     mm_reply_error          (MetaManager *self, EcMessage *request, const char *text);
void     mm_ack_cloud            (MetaManager *self, EcMessage *msg);

/* mm-write.c */
MmWrite *mm_write_new            (EcMessage *msg, MmAfterFunc after);
void     mm_write_free           (MmWrite *w);
void     mm_write_queue          (MetaManager *self, MmWrite *w);
void     mm_write_flush          (MetaManager *self);
void     mm_write_shutdown       (MetaManager *self);
gboolean mm_write_prepare_object (MmWrite *w, const char *ns, const char *type,
                                  const char *name, const char *content, gsize len,
                                  GError **error);

/* mm-read.c */
void     mm_query_local          (MetaManager *self, EcMessage *msg, const char *type,
                                  gboolean by_type);
void     mm_read_run_deferred    (MetaManager *self);
void     mm_read_clear_deferred  (MetaManager *self);

/* mm-remote.c */
void     mm_remote_call          (MetaManager *self, EcMessage *msg, gboolean is_query,
                                  const char *type, gboolean by_type);
void     mm_csi_call             (MetaManager *self, EcMessage *msg);

G_END_DECLS
