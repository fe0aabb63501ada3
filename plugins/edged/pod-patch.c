/* pod-patch.c: the pod status in the current (HEAD) format, as kubelet's
 * status manager sends it through KubeEdge's metaclient, with [edged]
 * status-format=kubelet:
 *
 *   patch <ns>/podpatch/<name>   content: a JSON string holding the
 *                                strategic merge patch
 *                                {"metadata":{"uid":...},"status":{...}}
 *                                from the status the cloud last accepted to
 *                                the new one
 *
 * metamanager keeps the patch and passes it on with its id; the cloud
 * applies it to pods/<name>/status and answers ObjectResp{Object: Pod, Err}.
 * Like KubeEdge's metaclient, edged then stores the returned Pod (with
 * apiVersion v1, kind Pod) under <ns>/pod/<name> in the meta table. One patch
 * per pod is in flight; a change meanwhile is patched after the answer, a
 * failure (offline, error) at the next change or status refresh. */
#include "pod.h"
#include "smp.h"

#include <string.h>

#define CALL_TIMEOUT_MS 60000

static EcLogLimit patch_log = EC_LOG_LIMIT_INIT (60);
static EcLogLimit store_log = EC_LOG_LIMIT_INIT (60);

typedef struct {
  Edged    *self;
  char     *uid;      /* the pod's; NULL for a pod edged does not run */
  char     *status;   /* what the patch leads to (JSON text) */
} PodPatchCall;

static void
call_free (gpointer data)
{
  PodPatchCall *c = data;
  g_free (c->uid);
  g_free (c->status);
  g_free (c);
}

typedef struct {
  char *key;
  char *value;
} MetaRow;

static void
row_free (gpointer data)
{
  MetaRow *r = data;
  g_free (r->key);
  g_free (r->value);
  g_free (r);
}

/* On the store's writer thread. */
static gboolean
write_row (sqlite3 *db, gpointer data, GError **error)
{
  MetaRow *r = data;
  sqlite3_stmt *st = NULL;
  gboolean ok;

  if (sqlite3_prepare_v2 (db, "INSERT OR REPLACE INTO meta (key, type, value) VALUES (?, 'pod', ?)",
                          -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "storing the patched pod");
  sqlite3_bind_text (st, 1, r->key, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, r->value, -1, SQLITE_STATIC);
  ok = sqlite3_step (st) == SQLITE_DONE;
  if (!ok)
    ec_store_set_sql_error (error, db, "storing the patched pod");
  sqlite3_finalize (st);
  return ok;
}

static void
on_row_written (const GError *error, gpointer data)
{
  MetaRow *r = data;
  if (error)
    g_warning ("edged: the patched pod %s was not stored: %s", r->key, error->message);
}

/* Stores the cloud's Pod as KubeEdge's updatePodDB does. */
static void
store_pod (Edged *self, const char *ns, const char *name, JsonObject *pod)
{
  g_autoptr (JsonNode) wrap = json_node_new (JSON_NODE_OBJECT);
  g_autoptr (JsonNode) copy = NULL;
  g_autoptr (GError) error = NULL;
  MetaRow *r;

  if (!self->store && !(self->store = ec_plugin_context_get_store (self->context, &error)))
    {
      ec_plugin_context_log_limited (self->context, &store_log, G_LOG_LEVEL_WARNING,
                                     "the patched pod %s/%s is not stored: %s", ns, name,
                                     error->message);
      return;
    }
  json_node_set_object (wrap, pod);
  copy = edged_json_deep_copy (wrap);
  json_object_set_string_member (json_node_get_object (copy), "apiVersion", "v1");
  json_object_set_string_member (json_node_get_object (copy), "kind", "Pod");
  r = g_new0 (MetaRow, 1);
  r->key = g_strdup_printf ("%s/pod/%s", ns, name);
  r->value = ec_json_to_string (copy, FALSE);
  ec_store_write (self->store, write_row, on_row_written, r, row_free);
}

static void
on_patched (EcMessage *reply, const GError *error, gpointer data)
{
  PodPatchCall *c = data;
  Edged *self = c->self;
  EdgedPod *pod = c->uid && self->pods ? g_hash_table_lookup (self->pods, c->uid) : NULL;
  JsonObject *object;
  g_autofree char *why = NULL;
  gboolean ok = !error && edged_object_resp (reply, &object, &why, NULL);

  if (ok)
    {
      JsonObject *meta = edged_json_object (object, "metadata");
      const char *ns = edged_json_string (meta, "namespace");
      const char *name = edged_json_string (meta, "name");
      if (name)
        store_pod (self, ns && *ns ? ns : "default", name, object);
    }
  else
    ec_plugin_context_log_limited (self->context, &patch_log, G_LOG_LEVEL_WARNING,
                                   "pod status patch failed: %s",
                                   error ? error->message : why ? why : "error");
  if (!pod)
    return;
  pod->patching = FALSE;
  if (ok)
    {
      g_free (pod->patch_base);
      pod->patch_base = g_steal_pointer (&c->status);
    }
  if (!ok || pod->patch_again)
    {
      /* the next report computes and patches again */
      pod->patch_again = FALSE;
      g_clear_pointer (&pod->last_status, g_free);
      if (ok)
        edged_pod_report (pod);
    }
}

/* Sends the patch from base (NULL: none accepted yet) to status; FALSE when
 * there is no difference. pod may be NULL (a pod edged does not run). */
static gboolean
send_patch (Edged *self, const char *ns, const char *name, const char *uid, const char *base_text,
            JsonNode *status, EdgedPod *pod)
{
  /* kept as text between patches: a parsed tree costs several times more */
  g_autoptr (JsonNode) base = base_text ? ec_json_parse (base_text, strlen (base_text), EDGED_POD_MAX_DEPTH,
                                                            EDGED_POD_MAX_BYTES, NULL) : NULL;
  g_autoptr (JsonObject) diff = edged_smp_diff (base, status);
  g_autoptr (JsonObject) patch = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *resource = NULL;
  g_autoptr (EcMessage) msg = NULL;
  JsonObject *meta;
  PodPatchCall *call;

  if (!diff)
    return FALSE;
  patch = json_object_new ();
  meta = json_object_new ();
  json_object_set_string_member (meta, "uid", uid);
  json_object_set_object_member (patch, "metadata", meta);
  json_object_set_object_member (patch, "status", g_steal_pointer (&diff));
  root = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (root, patch);
  text = ec_json_to_string (root, FALSE);
  resource = g_strdup_printf ("%s/podpatch/%s", ns, name);
  msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_PATCH, resource);
  ec_message_set_content_string (msg, text);
  call = g_new0 (PodPatchCall, 1);
  call->self = self;
  call->uid = pod ? g_strdup (uid) : NULL;
  call->status = ec_json_to_string (status, FALSE);
  if (pod)
    pod->patching = TRUE;
  ec_endpoint_call (self->endpoint, "metamanager", msg, CALL_TIMEOUT_MS, on_patched, call, call_free);
  return TRUE;
}

/* The pod's status changed: patch it (or after the patch in flight). */
void
edged_pod_patch (EdgedPod *pod, JsonNode *status)
{
  if (pod->patching)
    {
      pod->patch_again = TRUE;
      return;
    }
  send_patch (pod->edged, pod->spec->namespace, pod->spec->name, pod->spec->uid, pod->patch_base,
              status, pod);
}

/* The status of a pod edged does not run (invalid, refused) as a patch. */
void
edged_pod_patch_once (Edged *self, const char *ns, const char *name, const char *uid,
                      JsonNode *status)
{
  send_patch (self, ns, name, uid, NULL, status, NULL);
}

/* The content of edged's delete <ns>/pod/<name> after a graceful deletion in
 * the current format: DeleteOptions with grace 0 and the pod's uid as
 * precondition (v1.9.2 sent the uid as a string). */
JsonNode *
edged_pod_delete_options (const char *uid)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "gracePeriodSeconds");
  json_builder_add_int_value (b, 0);
  json_builder_set_member_name (b, "preconditions");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "uid");
  json_builder_add_string_value (b, uid);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
