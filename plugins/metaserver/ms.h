/* ms.h: metaserver's private types, shared by its source files. */
#pragma once

#include <edgecore.h>
#include <libsoup/soup.h>

#define METASERVER_BUS_NAME  "metaserver"
#define METASERVER_BUS_GROUP "metaserver"

/* ---- resources known to the server (ms-registry.c) ---- */

/* One API resource: what discovery lists and what the paths resolve to. */
typedef struct {
  char     *group;        /* "" for the legacy core group */
  char     *version;
  char     *resource;     /* plural, lower case: "pods" */
  char     *kind;         /* "Pod" */
  char     *singular;     /* "pod" */
  char    **short_names;  /* NULL-terminated, may be empty */
  gboolean  namespaced;
  gboolean  builtin;      /* from the built-in table, not learned from the store */
  gboolean  strategic_merge; /* the cloud takes strategic merge patches of it: a built-in
                              * Kubernetes type (CRDs and unknown learned ones: FALSE) */
} MsResource;

typedef struct _MsRegistry MsRegistry;

MsRegistry       *ms_registry_new            (void);
void              ms_registry_free           (MsRegistry *reg);
const MsResource *ms_registry_lookup         (MsRegistry *reg, const char *group,
                                              const char *version, const char *resource);
const MsResource *ms_registry_lookup_kind    (MsRegistry *reg, const char *group,
                                              const char *version, const char *kind);
void              ms_registry_learn          (MsRegistry *reg, const char *group,
                                              const char *version, const char *resource,
                                              const char *kind, gboolean namespaced);
gboolean          ms_registry_has_group_version (MsRegistry *reg, const char *group,
                                                 const char *version);
char             *ms_registry_api_versions   (MsRegistry *reg, const char *server_address);
char             *ms_registry_group_list     (MsRegistry *reg);
char             *ms_registry_group          (MsRegistry *reg, const char *group);
char             *ms_registry_resource_list  (MsRegistry *reg, const char *group,
                                              const char *version);
char             *ms_registry_group_version_string (const char *group, const char *version);
GPtrArray        *ms_registry_resources_of   (MsRegistry *reg, const char *group,
                                              const char *version);
GPtrArray        *ms_registry_group_versions (MsRegistry *reg);

/* ---- objects (ms-object.c) ---- */

/* What selectors and watches need to know of an object. */
typedef struct {
  char       *name;
  char       *namespace;
  char       *node_name;      /* spec.nodeName */
  char       *phase;          /* status.phase */
  guint64     resource_version;
  GHashTable *labels;         /* char* -> char*, may be NULL */
} MsObjAttrs;

MsObjAttrs *ms_obj_attrs_from_node (JsonNode *node);
void        ms_obj_attrs_free      (MsObjAttrs *attrs);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsObjAttrs, ms_obj_attrs_free)

char       *ms_kind_to_resource    (const char *kind);
char       *ms_resource_to_kind    (const char *resource);
gboolean    ms_split_api_version   (const char *api_version, char **group, char **version);
char       *ms_store_key           (const char *group, const char *version, const char *resource,
                                    const char *namespace, const char *name);
gboolean    ms_parse_uint64        (const char *text, guint64 *out);
const char *ms_json_get_string     (JsonObject *obj, const char *member);
JsonObject *ms_json_get_object     (JsonObject *obj, const char *member);
JsonArray  *ms_json_get_array      (JsonObject *obj, const char *member);
JsonNode   *ms_json_parse          (const char *text, gssize len, GError **error);
char       *ms_json_to_string      (JsonNode *node);

/* ---- selectors (ms-selector.c) ---- */

typedef struct _MsSelector MsSelector;

MsSelector *ms_label_selector_parse (const char *text, GError **error);
MsSelector *ms_field_selector_parse (const char *text, gboolean pod_fields, GError **error);
gboolean    ms_selector_matches     (const MsSelector *sel, const MsObjAttrs *attrs);
gboolean    ms_selector_is_empty    (const MsSelector *sel);
const char *ms_field_selector_exact (const MsSelector *sel, const char *field);
void        ms_selector_free        (MsSelector *sel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsSelector, ms_selector_free)

/* ---- requests (ms-request.c) ---- */

typedef enum {
  MS_VERB_GET, MS_VERB_LIST, MS_VERB_WATCH, MS_VERB_CREATE, MS_VERB_UPDATE,
  MS_VERB_PATCH, MS_VERB_DELETE, MS_VERB_DELETE_COLLECTION,
} MsVerb;

/* A Kubernetes API path, resolved as the apiserver's request-info rules do. */
typedef struct {
  gboolean  is_resource;      /* FALSE: a discovery or non-resource path */
  char     *prefix;           /* "api" or "apis" */
  char     *group;            /* "" for core */
  char     *version;
  char     *namespace;        /* NULL: none given */
  char     *resource;
  char     *name;             /* NULL: collection */
  char     *subresource;
  MsVerb    verb;
} MsRequestInfo;

MsRequestInfo *ms_request_info_parse (const char *method, const char *path,
                                      GHashTable *query, GError **error);
void           ms_request_info_free  (MsRequestInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (MsRequestInfo, ms_request_info_free)
const char    *ms_verb_name          (MsVerb verb);

/* ---- Status objects and responses (ms-status.c) ---- */

char *ms_status_json   (guint code, const char *reason, const char *message,
                        const char *details_name, const char *details_group,
                        const char *details_kind);
void  ms_respond_json  (SoupServerMessage *msg, guint code, char *body);
void  ms_respond_bytes (SoupServerMessage *msg, guint code, GBytes *body);
void  ms_respond_status (SoupServerMessage *msg, guint code, const char *reason,
                         const char *message);
void  ms_respond_not_found (SoupServerMessage *msg, const MsRequestInfo *info);
const char *ms_reason_for_code (guint code);

/* ---- tables (ms-table.c) ---- */

typedef enum {
  MS_INCLUDE_METADATA,  /* the default: PartialObjectMetadata */
  MS_INCLUDE_NONE,
  MS_INCLUDE_OBJECT,
} MsIncludeObject;

/* How a response is wanted: plain JSON or a meta.k8s.io Table. */
typedef struct {
  gboolean        json;            /* plain JSON is acceptable */
  gboolean        table;
  char           *table_version;   /* "v1" or "v1beta1" */
  MsIncludeObject include;
} MsOutput;

void  ms_table_begin   (GString *out, const char *resource, const char *table_version);
void  ms_table_add_row (GString *out, gboolean first, const char *resource,
                        JsonNode *object, MsIncludeObject include, gint64 now);
void  ms_table_end     (GString *out, const char *resource_version, const char *continue_token);
char *ms_human_duration (gint64 seconds);

/* ---- the plugin (metaserver.c) ---- */

typedef struct _MsWatchHub MsWatchHub;
typedef struct _MsConnLimits MsConnLimits;

/* Connection limits, [metaserver] keys; 0 turns one off. */
typedef struct {
  guint max_connections;       /* open connections */
  guint read_header_timeout;   /* s from accept (or a kept-alive request's first byte) to its headers */
  guint read_timeout;          /* s from the same start to the end of the body */
  guint idle_timeout;          /* s a kept-alive connection may wait for its next request */
} MsConnConfig;

typedef struct {
  gint             refcount;
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  EcStore         *store;
  char            *node_name;
  gboolean         connected;
  gboolean         stopped;
  guint64          revision;       /* highest resourceVersion seen */
  const char      *rv_column;      /* "resource_version", or v1.9.2's "resourceversion" */
  MsRegistry      *registry;
  MsWatchHub      *watch;
  SoupServer      *server;
  MsConnLimits    *conn_limits;
  MsConnConfig     conn_config;
  char            *server_address;
  guint            pending;        /* store reads and cloud calls in flight */
  /* metrics, owned by the endpoint (NULL if refused): API requests by
   * MsVerb, open watches */
  EcMetric        *m_requests[MS_VERB_DELETE_COLLECTION + 1];
  EcMetric        *m_watches;
  /* config */
  gint64           watch_window;
  gint64           bookmark_interval;
  gint64           cloud_timeout_ms;
} MetaServer;

MetaServer *ms_ref   (MetaServer *self);
void        ms_unref (MetaServer *self);

/* ---- the HTTP front (ms-http.c) ---- */

gboolean ms_http_start (MetaServer *self, GError **error);
void     ms_http_stop  (MetaServer *self);
gboolean ms_output_from_accept (const char *accept, GHashTable *query, MsOutput *out,
                                GError **error);
void     ms_output_clear (MsOutput *out);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (MsOutput, ms_output_clear)

/* ---- connection limits (ms-conn.c) ---- */

MsConnLimits *ms_conn_limits_new   (MetaServer *ms, SoupServer *server, const MsConnConfig *config);
void          ms_conn_limits_free  (MsConnLimits *limits);

/* ---- store reads (ms-store.c) ---- */

/* A list request, run on a store reader thread. */
typedef struct {
  char        *key_lo;            /* key range [key_lo, key_hi) */
  char        *key_hi;
  char        *start_after;       /* continue: the last key already sent, or NULL */
  guint        slashes;           /* '/' in a row's key after key_lo: 1 across namespaces */
  MsSelector  *labels;
  MsSelector  *fields;
  gint64       limit;             /* 0: no limit */
  char        *list_kind;         /* "PodList" */
  char        *api_version;       /* "v1" */
  char        *resource;          /* for tables */
  guint64      revision;
  MsOutput     output;
  gint64       now;
  /* results */
  GBytes      *body;
  guint        count;
  GHashTable  *snapshot;          /* key -> JSON text, when asked for (watch) */
  gboolean     want_snapshot;
} MsListJob;

void     ms_list_job_free   (MsListJob *job);
gboolean ms_store_list_func (sqlite3 *db, gpointer data, GError **error);

typedef struct {
  char    *key;
  char    *value;     /* result, NULL when missing */
} MsGetJob;

void     ms_get_job_free   (MsGetJob *job);
gboolean ms_store_get_func (sqlite3 *db, gpointer data, GError **error);

/* The start-up scan: revision, schema flavour, and resources found. */
typedef struct {
  guint64    revision;
  gboolean   has_table;
  gboolean   old_columns;
  GPtrArray *found;   /* char*[5] group, version, resource, kind, namespaced("1"/"0") */
} MsScanJob;

void     ms_scan_job_free   (MsScanJob *job);
gboolean ms_store_scan_func (sqlite3 *db, gpointer data, GError **error);
void     ms_apply_scan      (MetaServer *self, MsScanJob *scan);
char    *ms_continue_encode (guint64 revision, const char *last_key);
gboolean ms_continue_decode (const char *token, guint64 *revision, char **last_key);

/* ---- watches (ms-watch.c) ---- */

typedef enum { MS_EVENT_ADDED, MS_EVENT_MODIFIED, MS_EVENT_DELETED } MsEventType;

MsWatchHub *ms_watch_hub_new     (MetaServer *self, guint window);
void        ms_watch_hub_free    (MsWatchHub *hub);
void        ms_watch_publish     (MsWatchHub *hub, MsEventType type, guint64 rv,
                                  const char *store_key, const char *prefix,
                                  const char *resource, const char *object_json,
                                  MsObjAttrs *attrs);
void        ms_watch_start       (MetaServer *self, SoupServerMessage *msg,
                                  MsRequestInfo *info, const MsResource *res,
                                  GHashTable *query, MsOutput *output);
void        ms_watch_close_all   (MsWatchHub *hub);
guint       ms_watch_count       (MsWatchHub *hub);
guint64     ms_watch_floor       (MsWatchHub *hub);
void        ms_watch_set_floor   (MsWatchHub *hub, guint64 floor);
gboolean    ms_watch_timeout_parse (const char *text, guint64 *seconds, GError **error);

/* ---- writes to the cloud (ms-cloud.c) ---- */

void      ms_cloud_write       (MetaServer *self, SoupServerMessage *msg, MsRequestInfo **infop,
                                const MsResource *res, GHashTable *query);
JsonNode *ms_cloud_application (MetaServer *self, const char *key, const char *verb,
                                const char *subresource, GBytes *option, GBytes *req_body);
void      ms_cloud_call        (MetaServer *self, JsonNode *app, EcReplyFunc callback,
                                gpointer data, GDestroyNotify destroy);
gboolean  ms_cloud_failed      (EcMessage *reply, const GError *error, guint *code, char **message);
guint     ms_cloud_rejection   (JsonObject *app, const char **reason, const char **message);

/* ---- non-resource pass-through: the OpenAPI documents (ms-passthrough.c) ---- */

#define MS_PASSTHROUGH_MAX_BODY (32 * 1024 * 1024)   /* a document from the cloud, decoded */

gboolean ms_passthrough_path  (const char *path);
void     ms_passthrough_serve (MetaServer *self, SoupServerMessage *msg, const char *path);

/* ---- metaserver's own OpenAPI v3 documents, when the cloud gives none (ms-openapi.c) ---- */

gboolean ms_openapi_group_version_path (const char *path, char **group, char **version);
char    *ms_openapi_document          (MsRegistry *reg, const char *group, const char *version);
char    *ms_openapi_root              (MsRegistry *reg);
char    *ms_openapi_hash              (const char *document);
