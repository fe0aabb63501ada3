/* dt-types.h: devicetwin's private types and the functions its files share. */
#pragma once

#include <edgecore.h>

#include "outbox.h"

#define DT_TYPE_DELETED "deleted"
#define DT_TYPE_STRING  "string"
#define DT_MAX_ID_LEN   320

/* ---- the model (reference section 3/4) --------------------------------- */

typedef struct {
  gint64 cloud;
  gint64 edge;
} DtVersion;

/* One side (expected or actual) of a twin. */
typedef struct {
  gboolean present;   /* the JSON object exists */
  char    *value;     /* NULL: no "value" */
  gboolean has_meta;  /* "metadata" exists */
  gint64   ts;        /* metadata.timestamp, 0: omitted */
} DtValue;

typedef struct {
  char     *name;
  DtValue   expected;
  DtValue   actual;
  gboolean  has_ev;
  gboolean  has_av;
  DtVersion ev;
  DtVersion av;
  gboolean  optional;
  char     *attr_type;   /* metadata.type; "deleted" marks a tombstone */
  char     *metadata;    /* the `metadata` column (JSON), may be NULL */
} DtTwin;

typedef struct {
  char     *name;
  char     *value;
  gboolean  optional;
  char     *attr_type;
  char     *metadata;
} DtAttr;

typedef struct {
  char       *id;
  char       *name;
  char       *description;
  char       *state;
  char       *last_online;
  GHashTable *twins;   /* name -> DtTwin* */
  GHashTable *attrs;   /* name -> DtAttr* */
} DtDevice;

DtDevice *dt_device_new       (const char *id);
void      dt_device_free      (gpointer device);
DtTwin   *dt_twin_new         (const char *name);
DtTwin   *dt_twin_copy        (const DtTwin *twin);
void      dt_twin_free        (gpointer twin);
DtAttr   *dt_attr_new         (const char *name);
void      dt_attr_free        (gpointer attr);
void      dt_value_clear      (DtValue *value);
void      dt_value_set        (DtValue *value, const char *text, gint64 ts);
gboolean  dt_twin_is_deleted  (const DtTwin *twin);
char    **dt_sorted_keys      (GHashTable *table, guint *n);

/* ---- JSON output (Go's encoding/json field order and omitempty) -------- */

enum {
  DT_W_EXPECTED = 1 << 0,
  DT_W_ACTUAL   = 1 << 1,
  DT_W_OPTIONAL = 1 << 2,
  DT_W_METADATA = 1 << 3,
  DT_W_VERSIONS = 1 << 4,
  DT_W_ALL      = DT_W_EXPECTED | DT_W_ACTUAL | DT_W_OPTIONAL | DT_W_METADATA,
};

void dt_json_base       (GString *s, const char *event_id, gint64 timestamp);
void dt_json_twin       (GString *s, const DtTwin *twin, guint what);
void dt_json_attrs      (GString *s, GHashTable *attrs);
void dt_json_device     (GString *s, const DtDevice *device, gboolean with_twins);
char *dt_json_error     (const char *event_id, int code, const char *reason);
void dt_json_int        (GString *s, gint64 value);
const char *dt_version_text (char buf[64], const DtVersion *v);
const char *dt_meta_text    (char buf[64], const DtValue *v);

/* ---- input parsing (strict about types, like Go's json.Unmarshal) ------ */

typedef struct {
  gboolean present;
  gboolean is_null;      /* "expected": null */
  char    *value;        /* NULL: missing or null */
} DtMsgValue;

typedef struct {
  char      *name;
  gboolean   is_null;    /* "<name>": null */
  DtMsgValue expected;
  DtMsgValue actual;
  gboolean   has_optional;
  gboolean   optional;
  gboolean   has_metadata;
  char      *type;       /* metadata.type, NULL if absent */
  gboolean   has_ev;
  gboolean   has_av;
  DtVersion  ev;
  DtVersion  av;
} DtMsgTwin;

typedef struct {
  char      *event_id;
  gint64     timestamp;
  gboolean   has_twin;
  GPtrArray *twins;      /* DtMsgTwin*, sorted by name */
} DtTwinUpdate;

void          dt_msg_twin_free      (gpointer twin);
void          dt_twin_update_free   (DtTwinUpdate *update);
DtTwinUpdate *dt_parse_twin_update  (const char *text, gsize length, GError **error);
gboolean      dt_parse_base_text    (const char *text, gsize length, char **event_id,
                                     GError **error);
gboolean      dt_parse_base         (JsonNode *root, char **event_id, GError **error);
DtDevice     *dt_parse_device       (JsonNode *node, DtTwinUpdate **twins, GError **error);
JsonNode     *dt_parse_text         (const char *text, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DtTwinUpdate, dt_twin_update_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (DtTwin, dt_twin_free)

/* ---- the store pipeline ------------------------------------------------- */

typedef enum {
  DT_OP_DEVICE_PUT,    /* s: id name description state last_online */
  DT_OP_DEVICE_DEL,    /* s: id (with its attributes and twins) */
  DT_OP_TWIN_PUT,      /* s: deviceid name expected actual expected_meta actual_meta
                          expected_version actual_version attr_type metadata; i: optional */
  DT_OP_ATTR_PUT,      /* s: deviceid name value attr_type metadata; i: optional */
  DT_OP_ATTR_DEL,      /* s: deviceid name */
  DT_OP_UPLINK_PUT,    /* i: seq; s: msg_id resource content; i2: content is a string */
  DT_OP_UPLINK_DEL,    /* i: seq */
  DT_OP_UPLINK_DEL_ID, /* s: msg_id */
  DT_OP_UPLINK_TRIM,   /* i: rows up to this seq go */
} DtOpKind;

#define DT_OP_MAX_S 10

/* One row change. The strings live in the op's own allocation (one block
 * per op); NULL binds SQL NULL. */
typedef struct {
  DtOpKind    kind;
  gint64      i;
  gint64      i2;
  const char *s[DT_OP_MAX_S];
} DtOp;

/* ---- the plugin state --------------------------------------------------- */

typedef struct _DeviceTwin DeviceTwin;

/* A message to send once the transaction is committed. */
typedef struct {
  const char *module;       /* a static string */
  EcMessage  *message;      /* NULL for an uplink */
  guint64     uplink_seq;   /* >0: a cloud upload, sent if the cloud is there */
  const DtOp *uplink_op;    /* its DT_OP_UPLINK_PUT row (owned by the txn) */
} DtSend;

/* One unit of work: rows to write, then messages to send once they are
 * committed. A failed commit sends fail_sends instead, and a 500 result on
 * fail_topic when that is set. Transactions are recycled (dt_txn_new). */
typedef struct {
  GPtrArray *ops;           /* DtOp* */
  GArray    *sends;         /* DtSend */
  GArray    *fail_sends;    /* DtSend */
  char      *fail_topic;
  char      *fail_event_id;
} DtTxn;

DtTxn *dt_txn_new          (void);
void   dt_txn_free         (gpointer txn);
void   dt_txn_pool_clear   (void);
DtOp  *dt_txn_op           (DtTxn *txn, DtOpKind kind, guint n_strings,
                            const char *const *strings);
void   dt_txn_send         (DtTxn *txn, const char *module, EcMessage *message);
void   dt_txn_fail_send    (DtTxn *txn, const char *module, EcMessage *message);
void   dt_txn_fail_result  (DtTxn *txn, const char *topic, const char *event_id);
void   dt_txn_twin_put     (DtTxn *txn, const char *device_id, const DtTwin *twin);
void   dt_txn_attr_put     (DtTxn *txn, const char *device_id, const DtAttr *attr);
void   dt_txn_device_put   (DtTxn *txn, const DtDevice *device);

gboolean dt_store_create   (EcStore *store, GError **error);
gboolean dt_store_load     (EcStore *store, GHashTable *devices, guint64 *max_seq,
                            guint *n_uplinks, GError **error);

/* ---- cloud uplinks ------------------------------------------------------ */

/* At most this many uplinks are sent and unconfirmed (for less than 60 s)
 * at a time; the next go out as the cloud confirms (edgehub's uplink queue holds 1024 messages
 * of every module and drops beyond: a burst of 20,000 twin updates sent at
 * once lost 95% there, each then kept in memory for its 60 s re-send). */
#define DT_UPLINK_WINDOW 512

/* A cloud-bound message not yet confirmed. Its text lives in the store
 * (edgecore_twin_uplink) and, until committed, in its transaction. */
typedef struct {
  guint64 seq;
  gint64  sent_at;        /* monotonic us it was sent; -1: not committed yet */
  char    msg_id[40];
} DtUplink;

/* An uplink row as read back from the store. */
typedef struct {
  guint64  seq;
  char    *msg_id;
  char    *resource;
  char    *content;       /* JSON object text, or the string's text */
  gboolean is_string;
} DtUplinkRow;

/* Gets the uplink rows read by dt_store_read_uplinks (only while the
 * plugin exists). */
typedef void (*DtUplinksFunc) (DeviceTwin *self, GPtrArray *rows, const GError *error);

void dt_uplink_row_free (gpointer row);
void dt_store_read_uplinks (DeviceTwin *self, guint64 after_seq, guint64 upto_seq, guint limit,
                            DtUplinksFunc func);


struct _DeviceTwin {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  EcStore         *store;
  Outbox          *outbox;
  char            *node_name;
  GHashTable      *devices;      /* id -> DtDevice* */

  /* pipeline */
  GQueue          *pending;      /* DtTxn* waiting to be written */
  GPtrArray       *in_flight;    /* DtTxn* of the batch being written, or NULL */
  guint            reload_id;
  guint64          n_commits;    /* transactions queued so far */

  /* cloud */
  gboolean         connected;
  GHashTable      *uplink_ids;   /* msg_id -> DtUplink*: uncommitted and in the window */
  guint64          next_seq;
  guint64          sent_seq;     /* rows up to this seq were sent on this connection */
  guint64          resend_from;  /* re-send pass: rows after this seq are next */
  gboolean         resend_wanted;     /* some left the window unconfirmed */
  guint64          left_in_store;     /* committed uploads left unsent, so far */
  guint64          read_left;         /* left_in_store when the read began */
  guint            read_limit;        /* rows the read asked for */
  guint            resend_id;
  gboolean         uplink_read;  /* a read of stored uplinks is in flight */
  gboolean         catching_up;  /* connected: sending what was kept, oldest first */
  guint            uplinks_out;  /* uplinks sent on this connection, not confirmed */
  guint            connects;     /* cloud connects so far */
  guint            read_connects;     /* connects when the read began */
  gboolean         read_catching_up;  /* catching_up when the read began */
  gint64           last_activity;

  EcLogLimit       rl_bad_topic;
  EcLogLimit       rl_bad_payload;
  /* metrics, owned by the endpoint (NULL if refused): MQTT messages from
   * eventbus, messages rejected for their topic [0] or payload [1] */
  EcMetric        *m_mqtt, *m_rejected[2];

  /* scratch buffers of the hot paths, reused */
  GString         *json_buf;
  GString         *delta_buf;
  GString         *out_topic;
  GString         *lasts;        /* "last" twins of a document being built */
};

void dt_commit            (DeviceTwin *self, DtTxn *txn);
void dt_publish           (DtTxn *txn, const char *topic, char *payload);
void dt_publish_text      (DtTxn *txn, const char *topic, const char *payload, gsize length);
void dt_publish_now       (DeviceTwin *self, const char *topic, char *payload);
EcMessage *dt_cloud_message (const char *resource, const char *content, gboolean is_string);

/* devicetwin.c: topics */
const char *dt_device_suffix  (char *topic, const char **id);
gboolean    dt_id_well_formed (const char *id);

/* dt-twin.c */
void dt_twin_handle_update (DeviceTwin *self, const char *device_id, const char *payload,
                            gsize length);
void dt_twin_handle_get    (DeviceTwin *self, const char *device_id, const char *payload,
                            gsize length);
void dt_twin_apply_sync    (DeviceTwin *self, DtTxn *txn, DtDevice *device,
                            DtTwinUpdate *update);
GArray  *dt_twin_changes_new (void);
void     dt_twin_apply       (DtDevice *device, DtTwinUpdate *update, gboolean rest, gint64 now,
                              DtTxn *txn, GString *lasts, GArray *changes);
gboolean dt_twin_build_delta (DeviceTwin *self, DtDevice *device, GString *out);
void dt_twin_handle_cloud_sync (DeviceTwin *self, EcMessage *message, const char *device_id);

/* dt-device.c */
void dt_device_handle_state      (DeviceTwin *self, const char *device_id, const char *payload);
void dt_membership_handle_get    (DeviceTwin *self, const char *payload);
void dt_membership_handle_update (DeviceTwin *self, EcMessage *message, gboolean detail);

/* dt-cloud.c */
void dt_cloud_init        (DeviceTwin *self, guint64 max_seq);
void dt_cloud_fini        (DeviceTwin *self);
void dt_cloud_upload      (DeviceTwin *self, DtTxn *txn, const char *resource,
                           const char *content, gboolean is_string);
void dt_cloud_sent        (DeviceTwin *self, guint64 seq, const DtOp *row);
void dt_cloud_confirm     (DeviceTwin *self, const char *parent_id);
void dt_cloud_set_connected (DeviceTwin *self, gboolean connected);
void dt_cloud_ack         (DeviceTwin *self, DtTxn *txn, EcMessage *request);
