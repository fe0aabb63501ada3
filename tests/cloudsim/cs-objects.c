/* cs-objects.c: what a current (HEAD) CloudCore's edgecontroller does with
 * the kubelet-style requests of an edge node (cloud/pkg/edgecontroller/
 * controller/upstream.go: registerNode, patchNode, patchPod,
 * createOrUpdateLease, queryLease), against an in-memory API server:
 *
 *   insert null/node/<n>            create the Node (uid, resourceVersion,
 *                                   creationTimestamp, annotation cloudcore);
 *                                   AlreadyExists when it exists
 *   patch  null/nodepatch/<n>       strategic merge patch of nodes/<n>/status
 *   patch  <ns>/podpatch/<p>        strategic merge patch of pods/<p>/status
 *                                   (metadata.uid is a precondition)
 *   query  kube-node-lease/lease/<n>  get; NotFound when absent
 *   insert .../lease/<n>            create; AlreadyExists
 *   update .../lease/<n>            update; Conflict on a stale resourceVersion
 *
 * Each is answered as edgecontroller answers: a "response" with
 * parent_msg_id = the request's id, source edgecontroller, group resource,
 * the request's resource, content ObjectResp {"Object":...,"Err":null |
 * {"ErrStatus":{...}}} (Go field names), and for patches the object's
 * resourceVersion in the header. The pods are those the cloud sent to the
 * node (send: insert/update store them, delete removes them). Every change is
 * recorded: node-created, node-patched, pod-patched (with the resulting
 * object and the patch), lease-created, lease-renewed. */
#include "cs-objects.h"

#include <string.h>

#define PATCH_MAX_BYTES (1024 * 1024)
#define PATCH_MAX_DEPTH 64

struct _CsObjects {
  GHashTable      *nodes;    /* name -> JsonNode object */
  GHashTable      *pods;     /* "ns/name" -> JsonNode object */
  GHashTable      *leases;   /* "ns/name" -> JsonNode object */
  guint64          rv;
  CsObjectsRecord  record;
  gpointer         record_data;
};

CsObjects *
cs_objects_new (CsObjectsRecord record, gpointer data)
{
  CsObjects *o = g_new0 (CsObjects, 1);
  o->nodes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_node_unref);
  o->pods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_node_unref);
  o->leases = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_node_unref);
  o->rv = 1000;
  o->record = record;
  o->record_data = data;
  return o;
}

void
cs_objects_free (CsObjects *o)
{
  if (!o)
    return;
  g_hash_table_unref (o->nodes);
  g_hash_table_unref (o->pods);
  g_hash_table_unref (o->leases);
  g_free (o);
}

/* ---- JSON helpers -------------------------------------------------------- */

static JsonNode *
deep_copy (JsonNode *node)
{
  JsonNode *copy;
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter it;
      const char *name;
      JsonNode *m;
      JsonObject *dst = json_object_new ();
      json_object_iter_init (&it, json_node_get_object (node));
      while (json_object_iter_next (&it, &name, &m))
        json_object_set_member (dst, name, deep_copy (m));
      copy = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (copy, dst);
      return copy;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *src = json_node_get_array (node), *dst = json_array_new ();
      for (guint i = 0; i < json_array_get_length (src); i++)
        json_array_add_element (dst, deep_copy (json_array_get_element (src, i)));
      copy = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (copy, dst);
      return copy;
    }
  return json_node_copy (node);
}

static JsonObject *
member_object (JsonObject *o, const char *name, gboolean create)
{
  JsonNode *n = json_object_get_member (o, name);
  if (n && JSON_NODE_HOLDS_OBJECT (n))
    return json_node_get_object (n);
  if (!create)
    return NULL;
  json_object_set_object_member (o, name, json_object_new ());
  return json_object_get_object_member (o, name);
}

static const char *
member_string (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
         ? json_node_get_string (n) : NULL;
}

static char *
to_text (JsonNode *n)
{
  return json_to_string (n, FALSE);
}

/* Checks the nesting depth of a parsed document. */
static gboolean
depth_ok (JsonNode *n, guint depth)
{
  if (depth > PATCH_MAX_DEPTH)
    return FALSE;
  if (JSON_NODE_HOLDS_OBJECT (n))
    {
      JsonObjectIter it;
      const char *name;
      JsonNode *m;
      json_object_iter_init (&it, json_node_get_object (n));
      while (json_object_iter_next (&it, &name, &m))
        if (!depth_ok (m, depth + 1))
          return FALSE;
    }
  else if (JSON_NODE_HOLDS_ARRAY (n))
    {
      JsonArray *a = json_node_get_array (n);
      for (guint i = 0; i < json_array_get_length (a); i++)
        if (!depth_ok (json_array_get_element (a, i), depth + 1))
          return FALSE;
    }
  return TRUE;
}

/* ---- strategic merge patch (apply) ------------------------------------ */

/* patchMergeKey of the lists of v1.PodStatus and v1.NodeStatus
 * (k8s.io/api/core/v1 struct tags). */
static const char *
merge_key (const char *member)
{
  static const char *const keys[][2] = {
    { "conditions", "type" }, { "containerStatuses", "name" },
    { "initContainerStatuses", "name" }, { "ephemeralContainerStatuses", "name" },
    { "podIPs", "ip" }, { "hostIPs", "ip" }, { "addresses", "type" },
    { "volumesAttached", "name" }, { "resourceClaimStatuses", "name" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    if (!strcmp (member, keys[i][0]))
      return keys[i][1];
  return NULL;
}

static gboolean apply_object (JsonObject *target, JsonObject *patch, GError **error);

static gint
find_keyed (JsonArray *a, const char *key, const char *value)
{
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (JSON_NODE_HOLDS_OBJECT (e)
          && !g_strcmp0 (member_string (json_node_get_object (e), key), value))
        return (gint) i;
    }
  return -1;
}

/* Merges a patch list into the target list by the merge key. */
static gboolean
merge_list (JsonObject *target, const char *member, const char *key, JsonArray *plist,
            GError **error)
{
  JsonNode *tn = json_object_get_member (target, member);
  JsonArray *t;

  if (!tn || !JSON_NODE_HOLDS_ARRAY (tn))
    {
      json_object_set_array_member (target, member, json_array_new ());
      tn = json_object_get_member (target, member);
    }
  t = json_node_get_array (tn);
  for (guint i = 0; i < json_array_get_length (plist); i++)
    {
      JsonNode *pe = json_array_get_element (plist, i);
      JsonObject *po;
      const char *k, *directive;
      gint at;
      if (!JSON_NODE_HOLDS_OBJECT (pe) || !(k = member_string (json_node_get_object (pe), key)))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "map: %s does not contain declared merge key: %s", member, key);
          return FALSE;
        }
      po = json_node_get_object (pe);
      directive = member_string (po, "$patch");
      at = find_keyed (t, key, k);
      if (directive && !strcmp (directive, "delete"))
        {
          if (at >= 0)
            json_array_remove_element (t, (guint) at);
          continue;
        }
      if (at < 0)
        {
          json_array_add_object_element (t, json_object_new ());
          at = (gint) json_array_get_length (t) - 1;
        }
      if (!apply_object (json_array_get_object_element (t, (guint) at), po, error))
        return FALSE;
    }
  return TRUE;
}

/* $setElementOrder/<member>: the listed elements first, in that order. */
static void
set_order (JsonObject *target, const char *member, const char *key, JsonArray *order)
{
  JsonNode *tn = json_object_get_member (target, member);
  JsonArray *t, *sorted;
  if (!tn || !JSON_NODE_HOLDS_ARRAY (tn))
    return;
  t = json_node_get_array (tn);
  sorted = json_array_new ();
  for (guint i = 0; i < json_array_get_length (order); i++)
    {
      JsonNode *oe = json_array_get_element (order, i);
      gint at = JSON_NODE_HOLDS_OBJECT (oe)
                ? find_keyed (t, key, member_string (json_node_get_object (oe), key)) : -1;
      if (at >= 0)
        {
          json_array_add_element (sorted, json_node_copy (json_array_get_element (t, (guint) at)));
          json_array_remove_element (t, (guint) at);
        }
    }
  for (guint i = 0; i < json_array_get_length (t); i++)
    json_array_add_element (sorted, json_node_copy (json_array_get_element (t, i)));
  json_object_set_array_member (target, member, sorted);
}

static gboolean
apply_object (JsonObject *target, JsonObject *patch, GError **error)
{
  JsonObjectIter it;
  const char *name;
  JsonNode *v;

  json_object_iter_init (&it, patch);
  while (json_object_iter_next (&it, &name, &v))
    {
      const char *key;
      if (name[0] == '$')
        continue;   /* directives: $patch, $setElementOrder/... (after) */
      if (JSON_NODE_HOLDS_NULL (v))
        json_object_remove_member (target, name);
      else if (JSON_NODE_HOLDS_OBJECT (v))
        {
          if (!apply_object (member_object (target, name, TRUE), json_node_get_object (v), error))
            return FALSE;
        }
      else if (JSON_NODE_HOLDS_ARRAY (v) && (key = merge_key (name)))
        {
          if (!merge_list (target, name, key, json_node_get_array (v), error))
            return FALSE;
        }
      else
        json_object_set_member (target, name, deep_copy (v));
    }
  json_object_iter_init (&it, patch);
  while (json_object_iter_next (&it, &name, &v))
    if (g_str_has_prefix (name, "$setElementOrder/") && JSON_NODE_HOLDS_ARRAY (v))
      {
        const char *member = name + strlen ("$setElementOrder/");
        const char *key = merge_key (member);
        if (key)
          set_order (target, member, key, json_node_get_array (v));
      }
  return TRUE;
}

/* ---- answers ------------------------------------------------------------- */

/* ObjectResp with the object (or null) and no error. */
static char *
resp_ok (JsonNode *object)
{
  g_autofree char *o = object ? to_text (object) : g_strdup ("null");
  return g_strdup_printf ("{\"Object\":%s,\"Err\":null}", o);
}

/* ObjectResp with a Kubernetes StatusError. */
static char *
resp_err (int code, const char *reason, const char *message, const char *name,
          const char *group, const char *kind)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Object");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "Err");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ErrStatus");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, "Status");
  json_builder_set_member_name (b, "apiVersion");
  json_builder_add_string_value (b, "v1");
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "Failure");
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message);
  json_builder_set_member_name (b, "reason");
  json_builder_add_string_value (b, reason);
  json_builder_set_member_name (b, "details");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  if (group && *group)
    {
      json_builder_set_member_name (b, "group");
      json_builder_add_string_value (b, group);
    }
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, kind);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "code");
  json_builder_add_int_value (b, code);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return to_text (root);
}

static char *
now_rfc3339 (void)
{
  g_autoptr (GDateTime) t = g_date_time_new_now_utc ();
  return g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ");
}

/* Sets what the API server sets on a create. */
static void
created (CsObjects *o, JsonObject *obj)
{
  JsonObject *meta = member_object (obj, "metadata", TRUE);
  g_autofree char *uid = g_uuid_string_random ();
  g_autofree char *rv = g_strdup_printf ("%" G_GUINT64_FORMAT, ++o->rv);
  g_autofree char *now = now_rfc3339 ();
  json_object_set_string_member (meta, "uid", uid);
  json_object_set_string_member (meta, "resourceVersion", rv);
  json_object_set_string_member (meta, "creationTimestamp", now);
}

static void
bump (CsObjects *o, JsonObject *obj)
{
  g_autofree char *rv = g_strdup_printf ("%" G_GUINT64_FORMAT, ++o->rv);
  json_object_set_string_member (member_object (obj, "metadata", TRUE), "resourceVersion", rv);
}

static void
record_object (CsObjects *o, const char *event, const char *key, JsonNode *obj, const char *patch)
{
  g_autoptr (GString) f = g_string_new (",\"key\":");
  g_autofree char *text = to_text (obj);
  g_autofree char *k = g_strescape (key, NULL);
  g_string_printf (f, ",\"key\":\"%s\",\"object\":%s", k, text);
  if (patch)
    g_string_append_printf (f, ",\"patch\":%s", patch);
  if (o->record)
    o->record (o->record_data, event, f->str);
}

/* Splits "<ns>/<type>/<name>" (exactly three parts). */
static gboolean
split (const char *resource, char **ns, char **type, char **name)
{
  g_auto (GStrv) parts = resource ? g_strsplit (resource, "/", 4) : NULL;
  if (!parts || g_strv_length (parts) != 3 || !*parts[0] || !*parts[1] || !*parts[2])
    return FALSE;
  *ns = g_strdup (parts[0]);
  *type = g_strdup (parts[1]);
  *name = g_strdup (parts[2]);
  return TRUE;
}

/* The patch text of a patch request: the content is a JSON string holding
 * the patch (or, accepted too, the patch object itself). */
static JsonNode *
patch_of (JsonNode *content, char **text, GError **error)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  const char *s;
  if (content && JSON_NODE_HOLDS_OBJECT (content))
    {
      *text = to_text (content);
      return deep_copy (content);
    }
  if (!content || !JSON_NODE_HOLDS_VALUE (content)
      || json_node_get_value_type (content) != G_TYPE_STRING)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the patch is not a JSON string");
      return NULL;
    }
  s = json_node_get_string (content);
  if (strlen (s) > PATCH_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the patch is too large");
      return NULL;
    }
  if (!json_parser_load_from_data (p, s, -1, error))
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)) || !depth_ok (json_parser_get_root (p), 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "the patch is not an object or is nested too deep");
      return NULL;
    }
  *text = g_strdup (s);
  return json_node_copy (json_parser_get_root (p));
}

/* A status patch (nodes/<n>/status, pods/<p>/status): only status changes;
 * a metadata.uid in the patch must be the object's. */
static char *
patch_status (CsObjects *o, JsonNode *obj, JsonNode *content, const char *kind, const char *name,
              const char *key, const char *event, char **rv)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autoptr (JsonNode) patch = patch_of (content, &text, &error);
  JsonObject *pm, *om;
  const char *puid, *ouid;
  g_autofree char *msg = NULL;

  if (!patch)
    return resp_err (400, "BadRequest", error->message, name, "", kind);
  pm = member_object (json_node_get_object (patch), "metadata", FALSE);
  om = member_object (json_node_get_object (obj), "metadata", TRUE);
  puid = member_string (pm, "uid");
  ouid = member_string (om, "uid");
  if (puid && g_strcmp0 (puid, ouid) != 0)
    {
      msg = g_strdup_printf ("Precondition failed: UID in precondition: %s, UID in object meta: %s",
                             puid, ouid ? ouid : "");
      return resp_err (409, "Conflict", msg, name, "", kind);
    }
  if (json_object_has_member (json_node_get_object (patch), "status"))
    {
      JsonNode *ps = json_object_get_member (json_node_get_object (patch), "status");
      if (!JSON_NODE_HOLDS_OBJECT (ps))
        return resp_err (400, "BadRequest", "status is not an object", name, "", kind);
      if (!apply_object (member_object (json_node_get_object (obj), "status", TRUE),
                         json_node_get_object (ps), &error))
        {
          msg = g_strdup_printf ("unable to apply the patch: %s", error->message);
          return resp_err (422, "Invalid", msg, name, "", kind);
        }
    }
  bump (o, json_node_get_object (obj));
  *rv = g_strdup (member_string (om, "resourceVersion"));
  record_object (o, event, key, obj, text);
  return resp_ok (obj);
}

static char *
node_insert (CsObjects *o, const char *name, JsonNode *content)
{
  g_autofree char *msg = NULL;
  JsonNode *node;
  JsonObject *meta;
  if (g_hash_table_contains (o->nodes, name))
    {
      msg = g_strdup_printf ("nodes \"%s\" already exists", name);
      return resp_err (409, "AlreadyExists", msg, name, "", "nodes");
    }
  if (!content || !JSON_NODE_HOLDS_OBJECT (content))
    return resp_err (400, "BadRequest", "the node is not an object", name, "", "nodes");
  node = deep_copy (content);
  meta = member_object (json_node_get_object (node), "metadata", TRUE);
  json_object_set_string_member (meta, "name", name);
  json_object_set_string_member (member_object (meta, "annotations", TRUE), "cloudcore", "127.0.0.1");
  created (o, json_node_get_object (node));
  g_hash_table_insert (o->nodes, g_strdup (name), node);
  record_object (o, "node-created", name, node, NULL);
  return resp_ok (node);
}

static char *
lease_op (CsObjects *o, const char *op, const char *ns, const char *name, JsonNode *content)
{
  g_autofree char *key = g_strdup_printf ("%s/%s", ns, name);
  JsonNode *have = g_hash_table_lookup (o->leases, key);
  g_autofree char *msg = NULL;
  JsonNode *lease;
  JsonObject *meta;

  if (!strcmp (op, "query"))
    {
      if (have)
        return resp_ok (have);
      msg = g_strdup_printf ("leases.coordination.k8s.io \"%s\" not found", name);
      return resp_err (404, "NotFound", msg, name, "coordination.k8s.io", "leases");
    }
  if (!content || !JSON_NODE_HOLDS_OBJECT (content))
    return resp_err (400, "BadRequest", "the lease is not an object", name, "coordination.k8s.io",
                     "leases");
  lease = deep_copy (content);
  meta = member_object (json_node_get_object (lease), "metadata", TRUE);
  json_object_set_string_member (meta, "name", name);
  json_object_set_string_member (meta, "namespace", ns);
  if (!strcmp (op, "insert"))
    {
      if (have)
        {
          json_node_unref (lease);
          msg = g_strdup_printf ("leases.coordination.k8s.io \"%s\" already exists", name);
          return resp_err (409, "AlreadyExists", msg, name, "coordination.k8s.io", "leases");
        }
      created (o, json_node_get_object (lease));
      g_hash_table_insert (o->leases, g_strdup (key), lease);
      record_object (o, "lease-created", key, lease, NULL);
      return resp_ok (lease);
    }
  /* update */
  if (!have)
    {
      json_node_unref (lease);
      msg = g_strdup_printf ("leases.coordination.k8s.io \"%s\" not found", name);
      return resp_err (404, "NotFound", msg, name, "coordination.k8s.io", "leases");
    }
  {
    const char *want = member_string (meta, "resourceVersion");
    JsonObject *hm = member_object (json_node_get_object (have), "metadata", TRUE);
    if (want && *want && g_strcmp0 (want, member_string (hm, "resourceVersion")) != 0)
      {
        json_node_unref (lease);
        msg = g_strdup_printf ("Operation cannot be fulfilled on leases.coordination.k8s.io \"%s\": "
                               "the object has been modified; please apply your changes to the "
                               "latest version and try again", name);
        return resp_err (409, "Conflict", msg, name, "coordination.k8s.io", "leases");
      }
    json_object_set_string_member (meta, "uid", member_string (hm, "uid"));
    json_object_set_string_member (meta, "creationTimestamp", member_string (hm, "creationTimestamp"));
  }
  bump (o, json_node_get_object (lease));
  g_hash_table_insert (o->leases, g_strdup (key), lease);
  record_object (o, "lease-renewed", key, lease, NULL);
  return resp_ok (lease);
}

/* Handles an edge request edgecontroller answers with an ObjectResp: TRUE
 * with the reply's content (and, for patches, the resourceVersion for the
 * header) when this is one; FALSE for anything else (legacy formats,
 * acks, ...). */
gboolean
cs_objects_handle (CsObjects *o, const char *op, const char *resource, JsonNode *content,
                   char **reply, char **rv)
{
  g_autofree char *ns = NULL, *type = NULL, *name = NULL;

  *reply = NULL;
  *rv = NULL;
  if (!op || !split (resource, &ns, &type, &name))
    return FALSE;
  if (!strcmp (type, "node") && !strcmp (op, "insert"))
    *reply = node_insert (o, name, content);
  else if (!strcmp (type, "nodepatch") && !strcmp (op, "patch"))
    {
      JsonNode *node = g_hash_table_lookup (o->nodes, name);
      if (!node)
        {
          g_autofree char *msg = g_strdup_printf ("nodes \"%s\" not found", name);
          *reply = resp_err (404, "NotFound", msg, name, "", "nodes");
        }
      else
        *reply = patch_status (o, node, content, "nodes", name, name, "node-patched", rv);
    }
  else if (!strcmp (type, "podpatch") && !strcmp (op, "patch"))
    {
      g_autofree char *key = g_strdup_printf ("%s/%s", ns, name);
      JsonNode *pod = g_hash_table_lookup (o->pods, key);
      if (!pod)
        {
          g_autofree char *msg = g_strdup_printf ("pods \"%s\" not found", name);
          *reply = resp_err (404, "NotFound", msg, name, "", "pods");
        }
      else
        *reply = patch_status (o, pod, content, "pods", name, key, "pod-patched", rv);
    }
  else if (!strcmp (type, "lease")
           && (!strcmp (op, "query") || !strcmp (op, "insert") || !strcmp (op, "update")))
    *reply = lease_op (o, op, ns, name, content);
  else
    return FALSE;
  return TRUE;
}

/* A message the cloud sends to the node: pods inserted or updated are the
 * API server's pods; a delete removes one. */
void
cs_objects_note_sent (CsObjects *o, const char *op, const char *resource, JsonNode *content)
{
  g_autofree char *ns = NULL, *type = NULL, *name = NULL;
  g_autofree char *key = NULL;

  if (!op || !split (resource, &ns, &type, &name) || strcmp (type, "pod") != 0)
    return;
  key = g_strdup_printf ("%s/%s", ns, name);
  if (!strcmp (op, "delete"))
    g_hash_table_remove (o->pods, key);
  else if ((!strcmp (op, "insert") || !strcmp (op, "update")) && content
           && JSON_NODE_HOLDS_OBJECT (content))
    g_hash_table_insert (o->pods, g_steal_pointer (&key), deep_copy (content));
}
