/* store-objects.c: the configmaps and secrets a pod names, read over the
 * bus from metamanager as KubeEdge's edged does (`query` on
 * `<ns>/configmap/<name>` or `<ns>/secret/<name>`): metamanager asks the
 * cloud while connected and answers from its store otherwise, so a pod's
 * volumes and env work offline. The reply is the cloud's object, or (from
 * the store) a JSON array of the stored rows, each a JSON string.
 *
 * Each pod keeps the objects it read; they are read again before its
 * containers are (re)created, and replaced when metamanager passes on a
 * changed object from the cloud (the pod's volumes are then rewritten). */
#include "pod-objects.h"

#include <string.h>

#define QUERY_TIMEOUT_MS (90 * 1000)   /* above metamanager's remote-query-timeout */

typedef struct {
  JsonNode *object;      /* NULL: not found or refused */
  char     *problem;     /* why there is no object */
  guint     generation;  /* the fetch that set it */
} Entry;

struct _EdgedPodObjects {
  GHashTable *entries;   /* "<ns>/<type>/<name>" -> Entry */
  guint       pending;   /* queries in flight */
  guint       generation;
  gboolean    fetched;   /* read for the current steps */
  EdgedPodFunc done;
  gboolean    volumes_ready;
  guint       token_timer;   /* refreshes service account tokens */
};

typedef struct {
  Edged *self;
  char  *uid;
  char  *resource;
  guint  generation;
} Query;

static void
entry_free (gpointer data)
{
  Entry *e = data;
  if (e->object)
    json_node_unref (e->object);
  g_free (e->problem);
  g_free (e);
}

static struct _EdgedPodObjects *
objects_of (EdgedPod *pod)
{
  if (!pod->objects)
    {
      pod->objects = g_new0 (struct _EdgedPodObjects, 1);
      pod->objects->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, entry_free);
    }
  return pod->objects;
}

static void
query_free (gpointer data)
{
  Query *q = data;
  g_free (q->uid);
  g_free (q->resource);
  g_free (q);
}

/* Adds "<ns>/<type>/<name>" for a reference object whose name member is key. */
static void
add_ref (GPtrArray *refs, const char *ns, const char *type, JsonObject *ref, const char *key)
{
  const char *name = edged_json_string (ref, key);
  char *res;
  if (!name || !*name)
    return;
  res = g_strdup_printf ("%s/%s/%s", ns, type, name);
  if (!g_ptr_array_find_with_equal_func (refs, res, g_str_equal, NULL))
    g_ptr_array_add (refs, res);
  else
    g_free (res);
}

static JsonArray *
arr (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
}

static JsonObject *
element (JsonArray *a, guint i)
{
  JsonNode *n = json_array_get_element (a, i);
  return JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

/* Every configmap and secret the pod names: volumes (also projected),
 * env valueFrom, envFrom and imagePullSecrets. */
static GPtrArray *
pod_refs (EdgedPod *pod)
{
  GPtrArray *refs = g_ptr_array_new_with_free_func (g_free);
  JsonObject *root = json_node_get_object (pod->spec->object);
  JsonObject *pspec = edged_json_object (root, "spec");
  const char *ns = pod->spec->namespace;
  JsonArray *vols = arr (pspec, "volumes"), *pulls = arr (pspec, "imagePullSecrets");
  const char *lists[] = { "containers", "initContainers" };

  for (guint i = 0; vols && i < json_array_get_length (vols); i++)
    {
      JsonObject *v = element (vols, i);
      JsonArray *sources = arr (edged_json_object (v, "projected"), "sources");
      add_ref (refs, ns, "configmap", edged_json_object (v, "configMap"), "name");
      add_ref (refs, ns, "secret", edged_json_object (v, "secret"), "secretName");
      for (guint j = 0; sources && j < json_array_get_length (sources); j++)
        {
          JsonObject *s = element (sources, j);
          add_ref (refs, ns, "configmap", edged_json_object (s, "configMap"), "name");
          add_ref (refs, ns, "secret", edged_json_object (s, "secret"), "name");
          if (edged_json_object (s, "serviceAccountToken"))
            {
              char *res = g_strdup_printf ("%s/serviceaccounttoken/%s", ns, edged_pod_service_account (pod));
              if (!g_ptr_array_find_with_equal_func (refs, res, g_str_equal, NULL))
                g_ptr_array_add (refs, res);
              else
                g_free (res);
            }
        }
    }
  for (gsize l = 0; l < G_N_ELEMENTS (lists); l++)
    {
      JsonArray *cs = arr (pspec, lists[l]);
      for (guint i = 0; cs && i < json_array_get_length (cs); i++)
        {
          JsonObject *c = element (cs, i);
          JsonArray *env = arr (c, "env"), *from = arr (c, "envFrom");
          for (guint j = 0; env && j < json_array_get_length (env); j++)
            {
              JsonObject *vf = edged_json_object (element (env, j), "valueFrom");
              add_ref (refs, ns, "configmap", edged_json_object (vf, "configMapKeyRef"), "name");
              add_ref (refs, ns, "secret", edged_json_object (vf, "secretKeyRef"), "name");
            }
          for (guint j = 0; from && j < json_array_get_length (from); j++)
            {
              add_ref (refs, ns, "configmap", edged_json_object (element (from, j), "configMapRef"), "name");
              add_ref (refs, ns, "secret", edged_json_object (element (from, j), "secretRef"), "name");
            }
        }
    }
  for (guint i = 0; pulls && i < json_array_get_length (pulls); i++)
    add_ref (refs, ns, "secret", element (pulls, i), "name");
  return refs;
}

/* "configmap" -> kubelet's name of the kind in messages */
static const char *
kind_word (const char *resource)
{
  return strstr (resource, "/secret/") ? "secret"
         : strstr (resource, "/serviceaccounttoken/") ? "service account token" : "configmap";
}

/* The pod's service account: spec.serviceAccountName, or "default". */
const char *
edged_pod_service_account (EdgedPod *pod)
{
  JsonObject *pspec = edged_json_object (json_node_get_object (pod->spec->object), "spec");
  const char *sa = edged_json_string (pspec, "serviceAccountName");
  return sa && *sa ? sa : "default";
}

/* The first serviceAccountToken source of the pod's projected volumes. */
static JsonObject *
token_source (EdgedPod *pod)
{
  JsonObject *pspec = edged_json_object (json_node_get_object (pod->spec->object), "spec");
  JsonArray *vols = arr (pspec, "volumes");
  for (guint i = 0; vols && i < json_array_get_length (vols); i++)
    {
      JsonArray *sources = arr (edged_json_object (element (vols, i), "projected"), "sources");
      for (guint j = 0; sources && j < json_array_get_length (sources); j++)
        if (edged_json_object (element (sources, j), "serviceAccountToken"))
          return edged_json_object (element (sources, j), "serviceAccountToken");
    }
  return NULL;
}

/* The expirationSeconds of the pod's token: the source's (at least 600),
 * else 3600, as the API server defaults it. */
static gint64
token_seconds (EdgedPod *pod)
{
  JsonObject *src = token_source (pod);
  JsonNode *n = src ? json_object_get_member (src, "expirationSeconds") : NULL;
  gint64 v = n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64
               ? json_node_get_int (n) : 3600;
  return MAX (v, 600);
}

/* The TokenRequest KubeEdge's edged sends with the query: the source's
 * audience and expirationSeconds, bound to the pod. */
static char *
token_request (EdgedPod *pod)
{
  JsonObject *src = token_source (pod);
  const char *audience = edged_json_string (src, "audience");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "apiVersion");
  json_builder_add_string_value (b, "authentication.k8s.io/v1");
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, "TokenRequest");
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, edged_pod_service_account (pod));
  json_builder_set_member_name (b, "namespace");
  json_builder_add_string_value (b, pod->spec->namespace);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "spec");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "audiences");
  if (audience && *audience)
    {
      json_builder_begin_array (b);
      json_builder_add_string_value (b, audience);
      json_builder_end_array (b);
    }
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "expirationSeconds");
  json_builder_add_int_value (b, token_seconds (pod));
  json_builder_set_member_name (b, "boundObjectRef");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, "Pod");
  json_builder_set_member_name (b, "apiVersion");
  json_builder_add_string_value (b, "v1");
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, pod->spec->name);
  json_builder_set_member_name (b, "uid");
  json_builder_add_string_value (b, pod->spec->uid);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "token");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "expirationTimestamp");
  json_builder_add_null_value (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}

/* A token answer is usable for the pod: a token, bound to this pod (a
 * stored row may be another pod's), not expired. */
static gboolean
token_usable (EdgedPod *pod, JsonObject *tr, char **problem)
{
  JsonObject *status = edged_json_object (tr, "status");
  const char *token = edged_json_string (status, "token");
  const char *exp = edged_json_string (status, "expirationTimestamp");
  const char *uid = edged_json_string (edged_json_object (edged_json_object (tr, "spec"), "boundObjectRef"),
                                       "uid");
  g_autoptr (GDateTime) when = exp ? g_date_time_new_from_iso8601 (exp, NULL) : NULL;

  if (!token || !*token)
    *problem = g_strdup ("the service account token request was answered without a token");
  else if (uid && g_strcmp0 (uid, pod->spec->uid))
    *problem = g_strdup ("no service account token for this pod (the stored one is another pod's)");
  else if (when && g_date_time_to_unix (when) <= g_get_real_time () / G_USEC_PER_SEC)
    *problem = g_strdup ("the service account token expired");
  else
    return TRUE;
  return FALSE;
}

static gboolean
on_token_refresh (gpointer data)
{
  EdgedPod *pod = data;
  pod->objects->token_timer = 0;
  ec_log_info (pod->edged->context, "pod %s/%s: refreshing the service account token",
               pod->spec->namespace, pod->spec->name);
  /* read again and rewrite the volumes (pod_advance of a running pod) */
  pod->objects->fetched = FALSE;
  pod->objects->volumes_ready = FALSE;
  return G_SOURCE_REMOVE;
}

/* Reads an object from its JSON text, bounded. */
static JsonNode *
object_parse (const char *resource, const char *text, gsize len, char **problem)
{
  g_autoptr (GError) error = NULL;
  JsonNode *node;
  const char *slash = strrchr (resource, '/');

  if (len > EDGED_OBJECT_MAX_BYTES)
    {
      *problem = g_strdup_printf ("%s \"%s\" is larger than the 1 MiB an object may have (%"
                                  G_GSIZE_FORMAT " bytes): refused", kind_word (resource),
                                  slash + 1, len);
      return NULL;
    }
  node = ec_json_parse (text, len, 32, EDGED_OBJECT_MAX_BYTES, &error);
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    {
      *problem = g_strdup_printf ("%s \"%s\" cannot be read: %s", kind_word (resource), slash + 1,
                                  error ? error->message : "not a JSON object");
      if (node)
        json_node_unref (node);
      return NULL;
    }
  return node;
}

/* The object in a query reply: the cloud's object, or the one stored row
 * of metamanager's answer; NULL with problem set when there is none. */
static JsonNode *
reply_object (const char *resource, EcMessage *reply, char **problem)
{
  gsize len = 0;
  const char *text = ec_message_get_content_json (reply, &len);
  const char *slash = strrchr (resource, '/');
  g_autoptr (JsonNode) rows = NULL;
  g_autoptr (GError) error = NULL;
  JsonNode *row;

  if (!text || !len)
    {
      *problem = g_strdup_printf ("%s \"%s\" not found", kind_word (resource), slash + 1);
      return NULL;
    }
  while (len && (*text == ' ' || *text == '\n' || *text == '\t' || *text == '\r'))
    text++, len--;
  if (len && *text == '{')
    return object_parse (resource, text, len, problem);
  /* the store's rows: bounded by the limit of each row, and of 1 row */
  rows = ec_json_parse (text, len, 4, 2 * EDGED_OBJECT_MAX_BYTES, &error);
  if (!rows || !JSON_NODE_HOLDS_ARRAY (rows))
    {
      if (error && g_error_matches (error, EC_JSON_ERROR, EC_JSON_ERROR_SIZE))
        *problem = g_strdup_printf ("%s \"%s\" is larger than the 1 MiB an object may have: refused",
                                    kind_word (resource), slash + 1);
      else
        *problem = g_strdup_printf ("%s \"%s\" cannot be read: %s", kind_word (resource), slash + 1,
                                    error ? error->message : "not an object or a list of rows");
      return NULL;
    }
  if (json_array_get_length (json_node_get_array (rows)) == 0)
    {
      *problem = g_strdup_printf ("%s \"%s\" not found", kind_word (resource), slash + 1);
      return NULL;
    }
  row = json_array_get_element (json_node_get_array (rows), 0);
  if (!JSON_NODE_HOLDS_VALUE (row) || json_node_get_value_type (row) != G_TYPE_STRING)
    {
      *problem = g_strdup_printf ("%s \"%s\" cannot be read: a stored row is not a string",
                                  kind_word (resource), slash + 1);
      return NULL;
    }
  return object_parse (resource, json_node_get_string (row), strlen (json_node_get_string (row)),
                       problem);
}

static void
set_entry (struct _EdgedPodObjects *objs, const char *resource, JsonNode *object, char *problem)
{
  Entry *e = g_new0 (Entry, 1);
  e->object = object;
  e->problem = problem;
  e->generation = objs->generation;
  g_hash_table_replace (objs->entries, g_strdup (resource), e);
}

static void
on_object (EcMessage *reply, const GError *error, gpointer data)
{
  Query *q = data;
  EdgedPod *pod = q->self->pods ? g_hash_table_lookup (q->self->pods, q->uid) : NULL;
  struct _EdgedPodObjects *objs;
  char *problem = NULL;
  JsonNode *object = NULL;

  if (!pod || !pod->objects || pod->objects->generation != q->generation || !pod->objects->pending)
    return;
  objs = pod->objects;
  {
    /* answered already by the object itself, passed on from the cloud */
    Entry *e = g_hash_table_lookup (objs->entries, q->resource);
    if (e && e->generation == q->generation && e->object)
      return;
  }
  if (error)
    problem = g_strdup_printf ("%s \"%s\" could not be read: %s", kind_word (q->resource),
                               strrchr (q->resource, '/') + 1, error->message);
  else if (!g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR))
    {
      g_autofree char *why = ec_message_dup_content_string (reply);
      problem = g_strdup_printf ("%s \"%s\" could not be read: %s", kind_word (q->resource),
                                 strrchr (q->resource, '/') + 1, why ? why : "error");
    }
  else
    object = reply_object (q->resource, reply, &problem);
  if (object && strstr (q->resource, "/serviceaccounttoken/")
      && !token_usable (pod, json_node_get_object (object), &problem))
    g_clear_pointer (&object, json_node_unref);
  else if (object && strstr (q->resource, "/serviceaccounttoken/"))
    {
      /* kubelet refreshes at 80% of the token's life */
      g_clear_handle_id (&objs->token_timer, g_source_remove);
      objs->token_timer = g_timeout_add_seconds ((guint) (token_seconds (pod) * 8 / 10), on_token_refresh, pod);
    }
  if (problem)
    ec_log_info (q->self->context, "pod %s/%s: %s", pod->spec->namespace, pod->spec->name, problem);
  set_entry (objs, q->resource, object, problem);
  if (--objs->pending == 0)
    {
      objs->fetched = TRUE;
      if (objs->done)
        objs->done (pod);
    }
}

/**
 * edged_pod_objects_fetch:
 * Starts reading every object the pod names, unless they were read for
 * the current steps. Returns TRUE when reads are in flight: @done runs
 * when all answered (never inside this call); FALSE when there is nothing
 * to wait for.
 */
gboolean
edged_pod_objects_fetch (EdgedPod *pod, EdgedPodFunc done)
{
  struct _EdgedPodObjects *objs = objects_of (pod);
  g_autoptr (GPtrArray) refs = NULL;
  Edged *self = pod->edged;

  if (objs->fetched || objs->pending)
    return objs->pending > 0;
  refs = pod_refs (pod);
  if (refs->len == 0)
    {
      objs->fetched = TRUE;
      return FALSE;
    }
  objs->generation++;
  objs->done = done;
  /* a reply marks its resource answered in this generation */
  {
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init (&it, objs->entries);
    while (g_hash_table_iter_next (&it, NULL, &v))
      ((Entry *) v)->generation = 0;
  }
  objs->pending = refs->len;
  for (guint i = 0; i < refs->len; i++)
    {
      g_autoptr (EcMessage) msg = ec_message_new (EDGED_BUS_NAME, "meta", EC_OP_QUERY, refs->pdata[i]);
      Query *q = g_new0 (Query, 1);
      if (strstr (refs->pdata[i], "/serviceaccounttoken/"))
        {
          g_autofree char *tr = token_request (pod);
          ec_message_set_content_json (msg, tr, -1, NULL);
        }
      q->self = self;
      q->uid = g_strdup (pod->spec->uid);
      q->resource = g_strdup (refs->pdata[i]);
      q->generation = objs->generation;
      ec_endpoint_call (self->endpoint, "metamanager", msg, QUERY_TIMEOUT_MS, on_object, q, query_free);
    }
  return TRUE;
}

/* The objects are read again before the next steps that use them. */
void
edged_pod_objects_stale (EdgedPod *pod)
{
  objects_of (pod)->fetched = FALSE;
}

/* The object <pod's ns>/<type>/<name> as last read; NULL with *problem
 * (may be NULL too: never read) when there is none. */
JsonObject *
edged_pod_object (EdgedPod *pod, const char *type, const char *name, const char **problem)
{
  g_autofree char *res = g_strdup_printf ("%s/%s/%s", pod->spec->namespace, type, name);
  Entry *e = g_hash_table_lookup (objects_of (pod)->entries, res);
  *problem = e ? e->problem : NULL;
  return e && e->object ? json_node_get_object (e->object) : NULL;
}

/* Whether the volumes were set up (pod-volumes.c keeps it here). */
gboolean
edged_pod_volumes_ready (EdgedPod *pod)
{
  return objects_of (pod)->volumes_ready;
}

/* Marks the volumes set up. */
void edged_pod_volumes_set_ready (EdgedPod *pod, gboolean ready);
void
edged_pod_volumes_set_ready (EdgedPod *pod, gboolean ready)
{
  objects_of (pod)->volumes_ready = ready;
}

/* Frees what store-objects.c keeps for the pod. */
void
edged_pod_objects_free (EdgedPod *pod)
{
  if (!pod->objects)
    return;
  g_clear_handle_id (&pod->objects->token_timer, g_source_remove);
  g_hash_table_unref (pod->objects->entries);
  g_clear_pointer (&pod->objects, g_free);
}

/* Whether resource is "<ns>/configmap/<name>" or "<ns>/secret/<name>". */
gboolean
edged_is_object_resource (const char *resource)
{
  const char *slash = resource ? strchr (resource, '/') : NULL;
  const char *name;
  if (!slash)
    return FALSE;
  if (g_str_has_prefix (slash, "/configmap/"))
    name = slash + strlen ("/configmap/");
  else if (g_str_has_prefix (slash, "/secret/"))
    name = slash + strlen ("/secret/");
  else
    return FALSE;
  return *name && !strchr (name, '/');
}

/* A configmap or secret metamanager passed on from the cloud (insert,
 * update, delete): the pods that read it get the new object, and their
 * volumes are rewritten (atomically) when it changed what they hold. A
 * deleted object leaves the files as they are, as kubelet does, unless
 * the volume marks it optional. */
void
edged_pods_object_message (Edged *self, EcMessage *message)
{
  const char *resource = ec_message_get_resource (message);
  const char *op = ec_message_get_operation (message);
  gboolean deleted = !g_strcmp0 (op, EC_OP_DELETE);
  g_autoptr (GPtrArray) uids = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer value;

  if (!self->pods)
    return;
  /* by uid: a pod may go while the others are handled */
  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (uids, g_strdup (((EdgedPod *) value)->spec->uid));
  for (guint u = 0; u < uids->len; u++)
    {
      EdgedPod *pod = self->pods ? g_hash_table_lookup (self->pods, uids->pdata[u]) : NULL;
      char *problem = NULL;
      JsonNode *object = NULL;
      gsize len = 0;
      const char *text;

      Entry *old;
      gboolean answers = FALSE;

      if (!pod || !pod->objects)
        continue;
      old = g_hash_table_lookup (pod->objects->entries, resource);
      /* a read in flight that this object answers (the cloud may push the
       * object instead of answering the query) */
      if (pod->objects->pending && !deleted && (!old || old->generation != pod->objects->generation))
        {
          g_autoptr (GPtrArray) refs = pod_refs (pod);
          answers = g_ptr_array_find_with_equal_func (refs, resource, g_str_equal, NULL);
        }
      if (!old && !answers)
        continue;
      if (deleted)
        problem = g_strdup_printf ("%s \"%s\" not found", kind_word (resource),
                                   strrchr (resource, '/') + 1);
      else if ((text = ec_message_get_content_json (message, &len)))
        object = object_parse (resource, text, len, &problem);
      else
        continue;
      ec_log_info (self->context, "pod %s/%s: %s %s%s%s", pod->spec->namespace, pod->spec->name,
                   resource, deleted ? "deleted" : "changed", problem ? ": " : "",
                   problem ? problem : "");
      set_entry (pod->objects, resource, object, problem);
      if (answers && object && --pod->objects->pending == 0)
        {
          pod->objects->fetched = TRUE;
          if (pod->objects->done)
            pod->objects->done (pod);
          continue;
        }
      if (pod->objects->volumes_ready && pod->stage != POD_KILLING && pod->stage != POD_GONE)
        edged_pod_volumes_refresh (pod);
    }
}
