/* fakecloud.c: a test plugin standing in for edgehub and the cloud's
 * dynamiccontroller (bus name "websocket", group "hub"). It answers
 * metaserver's Application requests like the cloud would:
 *   create/update: Approved, RespBody = the request body with the received
 *     Application (minus its bodies) in annotation fakecloud/application
 *   patch: Approved, RespBody = a Pod named after the patch, with the
 *     PatchInfo in that annotation
 *   delete: Approved, no RespBody
 *   get (the pass-through), by Key:
 *     "/openapi/v3": Approved, the OpenAPI v3 root document, listing
 *       api/v1 (serverRelativeURL with a ?hash=), apis/example.com/v1 (the
 *       tests' custom resource, whose document it never serves) and
 *       apis/flaky.example/v1
 *     "/openapi/v3/<anything deeper>": as CloudCore HEAD answers it. Its
 *       dynamiccontroller passes only the exact discovery paths
 *       (pkg/util/pass-through, isDiscoveryPath: /openapi/v2, /openapi/v3)
 *       to kube-apiserver; any other Key is read as an object key
 *       (pkg/metaserver ParseKey, /<group>/<version>/<resource>/<ns>/<name>)
 *       and fetched with the dynamic client: group "openapi", version "v3".
 *       With fewer than six segments (/openapi/v3/api/v1) there is no name
 *       and the client fails before asking ("name is required", a plain
 *       error): Rejected with that Reason and an empty Error.ErrStatus.
 *       Deeper (/openapi/v3/apis/<g>/<v>) kube-apiserver has no group
 *       "openapi": Rejected with its 404 NotFound Status.
 *     with [fakecloud] serve-group-versions=true, a cloud that does pass
 *       the documents under /openapi/v3/ through (not CloudCore HEAD):
 *       "/openapi/v3/api/v1": Approved, a small OpenAPI v3 document with
 *         get and patch of namespaced configmaps and pods (the patch lists
 *         the fieldValidation parameter, as kube-apiserver's does)
 *       "/openapi/v3/apis/flaky.example/v1": Approved with a small document
 *         the first time, an "error" reply "cloud unreachable" afterwards
 *       other "/openapi/v3/..." Keys: Rejected with a 404 NotFound Status
 *     anything else (e.g. "/openapi/v2"): Rejected with a 404 NotFound
 *       Status (CloudCore HEAD would pass /openapi/v2 through; metaserver
 *       refuses kubectl's protobuf-only request for it before asking)
 * and by the object name (last segment) in the Application's Key:
 *   ".../forbidden": Rejected with a 403 Forbidden Status
 *   ".../unreachable": an "error" reply "cloud unreachable" (edgehub offline)
 *   ".../slow": no answer at all (the caller's timeout)
 * Every Application is logged ("application <verb> <key>"). Messages other
 * than metaserver's sync Applications are ignored. */
#include <edgecore.h>

#include <string.h>

static const EcConfigKey fc_keys[] = {
  { EC_CONFIG_BOOL, 0, "serve-group-versions", "false",
    "answer gets of /openapi/v3/<group-version> with documents (CloudCore HEAD does not)" },
  { 0 }
};

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
  gboolean         serve_group_versions;
  guint            flaky_gets;   /* gets of /openapi/v3/apis/flaky.example/v1 */
} FakeCloud;

static gboolean
fc_init (EcPluginContext *context, gpointer *state, GError **error)
{
  FakeCloud *self = g_new0 (FakeCloud, 1);
  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  self->serve_group_versions = ec_plugin_context_get_bool (context, "serve-group-versions");
  *state = self;
  return TRUE;
}

static void
fc_free (gpointer state)
{
  g_free (state);
}

/* A copy of the Application without its byte fields, as JSON text. */
static char *
app_summary (JsonObject *app)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  JsonObjectIter it;
  const char *k;
  JsonNode *v;
  json_builder_begin_object (b);
  json_object_iter_init (&it, app);
  while (json_object_iter_next (&it, &k, &v))
    {
      if (strcmp (k, "ReqBody") == 0)
        continue;
      json_builder_set_member_name (b, k);
      json_builder_add_value (b, json_node_copy (v));
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* Decodes a base64 member into a parsed, mutable JSON tree. */
static JsonNode *
decode_member (JsonObject *app, const char *name)
{
  const char *b64 = json_object_get_string_member_with_default (app, name, NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autofree guchar *data = NULL;
  gsize len = 0;
  if (!b64)
    return NULL;
  data = g_base64_decode (b64, &len);
  if (!json_parser_load_from_data (p, (const char *) data, (gssize) len, NULL))
    return NULL;
  return json_parser_get_root (p) ? json_node_copy (json_parser_get_root (p)) : NULL;
}

static void
annotate (JsonObject *obj, const char *summary)
{
  JsonObject *meta;
  JsonObject *ann;
  if (!json_object_has_member (obj, "metadata"))
    json_object_set_object_member (obj, "metadata", json_object_new ());
  meta = json_object_get_object_member (obj, "metadata");
  if (!json_object_has_member (meta, "annotations"))
    json_object_set_object_member (meta, "annotations", json_object_new ());
  ann = json_object_get_object_member (meta, "annotations");
  json_object_set_string_member (ann, "fakecloud/application", summary);
}

/* Makes @out a rejection with a Kubernetes Status. */
static void
reject (JsonObject *out, gint64 code, const char *reason, const char *message)
{
  JsonObject *err = json_object_new ();
  JsonObject *st = json_object_new ();
  json_object_set_string_member (st, "kind", "Status");
  json_object_set_string_member (st, "apiVersion", "v1");
  json_object_set_string_member (st, "status", "Failure");
  json_object_set_string_member (st, "message", message);
  json_object_set_string_member (st, "reason", reason);
  json_object_set_int_member (st, "code", code);
  json_object_set_object_member (err, "ErrStatus", st);
  json_object_set_object_member (out, "Error", err);
  json_object_set_string_member (out, "Status", "Rejected");
  json_object_set_null_member (out, "RespBody");
}

/* The "patch" and "get" operations of one namespaced core/v1 object path,
 * as kube-apiserver's OpenAPI v3 document has them (shortened). */
static char *
object_path (const char *kind, const char *plural)
{
#define QUERY_PARAM \
  "{\"name\":\"%s\",\"in\":\"query\",\"description\":\"%s\"," \
  "\"schema\":{\"type\":\"%s\",\"uniqueItems\":true}}"
  g_autofree char *dry = g_strdup_printf (QUERY_PARAM, "dryRun",
    "When present, indicates that modifications should not be persisted.", "string");
  g_autofree char *manager = g_strdup_printf (QUERY_PARAM, "fieldManager",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
    "string");
  g_autofree char *validation = g_strdup_printf (QUERY_PARAM, "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: "
    "- Ignore - Warn - Strict", "string");
  g_autofree char *force = g_strdup_printf (QUERY_PARAM, "force",
    "Force is going to \\\"force\\\" Apply requests.", "boolean");
  g_autofree char *pretty = g_strdup_printf (QUERY_PARAM, "pretty",
    "If 'true', then the output is pretty printed.", "string");
  g_autofree char *gvk = g_strdup_printf (
    "{\"group\":\"\",\"version\":\"v1\",\"kind\":\"%s\"}", kind);
  g_autofree char *ok = g_strdup_printf (
    "{\"description\":\"OK\",\"content\":{\"application/json\":{\"schema\":"
    "{\"$ref\":\"#/components/schemas/io.k8s.api.core.v1.%s\"}}}}", kind);
  const char *patch_body =
    "{\"schema\":{\"$ref\":\"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch\"}}";

  return g_strdup_printf (
    "\"/api/v1/namespaces/{namespace}/%s/{name}\":{"
    "\"get\":{\"tags\":[\"core_v1\"],\"description\":\"read the specified %s\","
    "\"operationId\":\"readCoreV1Namespaced%s\",\"responses\":{\"200\":%s},"
    "\"x-kubernetes-action\":\"get\",\"x-kubernetes-group-version-kind\":%s},"
    "\"patch\":{\"tags\":[\"core_v1\"],\"description\":\"partially update the specified %s\","
    "\"operationId\":\"patchCoreV1Namespaced%s\",\"parameters\":[%s,%s,%s,%s],"
    "\"requestBody\":{\"content\":{\"application/apply-patch+yaml\":%s,"
    "\"application/json-patch+json\":%s,\"application/merge-patch+json\":%s,"
    "\"application/strategic-merge-patch+json\":%s},\"required\":true},"
    "\"responses\":{\"200\":%s,\"201\":%s},"
    "\"x-kubernetes-action\":\"patch\",\"x-kubernetes-group-version-kind\":%s},"
    "\"parameters\":[{\"name\":\"name\",\"in\":\"path\",\"description\":\"name of the %s\","
    "\"required\":true,\"schema\":{\"type\":\"string\",\"uniqueItems\":true}},"
    "{\"name\":\"namespace\",\"in\":\"path\",\"description\":\"object name and auth scope\","
    "\"required\":true,\"schema\":{\"type\":\"string\",\"uniqueItems\":true}},%s]}",
    plural, kind, kind, ok, gvk, kind, kind, dry, manager, validation, force,
    patch_body, patch_body, patch_body, patch_body, ok, ok, gvk, kind, pretty);
}

/* The OpenAPI v3 document of core/v1 (a small part of it). */
static char *
core_v1_document (void)
{
  g_autofree char *cm = object_path ("ConfigMap", "configmaps");
  g_autofree char *pod = object_path ("Pod", "pods");
  static const char *const schemas =
    "\"io.k8s.api.core.v1.ConfigMap\":{\"description\":\"ConfigMap holds configuration data for pods "
    "to consume.\",\"type\":\"object\",\"properties\":{\"apiVersion\":{\"type\":\"string\"},"
    "\"binaryData\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"format\":\"byte\"}},"
    "\"data\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"default\":\"\"}},"
    "\"immutable\":{\"type\":\"boolean\"},\"kind\":{\"type\":\"string\"},"
    "\"metadata\":{\"default\":{},\"allOf\":[{\"$ref\":\"#/components/schemas/"
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta\"}]}},"
    "\"x-kubernetes-group-version-kind\":[{\"group\":\"\",\"kind\":\"ConfigMap\",\"version\":\"v1\"}]},"
    "\"io.k8s.api.core.v1.Pod\":{\"description\":\"Pod is a collection of containers that can run on a "
    "host.\",\"type\":\"object\",\"properties\":{\"apiVersion\":{\"type\":\"string\"},"
    "\"kind\":{\"type\":\"string\"},\"metadata\":{\"default\":{},\"allOf\":[{\"$ref\":"
    "\"#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta\"}]},"
    "\"spec\":{\"type\":\"object\"},\"status\":{\"type\":\"object\"}},"
    "\"x-kubernetes-group-version-kind\":[{\"group\":\"\",\"kind\":\"Pod\",\"version\":\"v1\"}]},"
    "\"io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta\":{\"type\":\"object\",\"properties\":{"
    "\"annotations\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"default\":\"\"}},"
    "\"labels\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\",\"default\":\"\"}},"
    "\"name\":{\"type\":\"string\"},\"namespace\":{\"type\":\"string\"},"
    "\"resourceVersion\":{\"type\":\"string\"},\"uid\":{\"type\":\"string\"}}},"
    "\"io.k8s.apimachinery.pkg.apis.meta.v1.Patch\":{\"description\":\"Patch is provided to give a "
    "concrete name and type to the Kubernetes PATCH request body.\",\"type\":\"object\"}";

  return g_strdup_printf ("{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"Kubernetes\","
                          "\"version\":\"v1.32.0\"},\"paths\":{%s,%s},"
                          "\"components\":{\"schemas\":{%s}}}", cm, pod, schemas);
}

/* A document of a group nothing uses, for the cache tests. */
static const char flaky_document[] =
  "{\"openapi\":\"3.0.0\",\"info\":{\"title\":\"Kubernetes\",\"version\":\"v1.32.0\"},"
  "\"paths\":{},\"components\":{\"schemas\":{}}}";

/* A document's hash as kube-apiserver puts it in the OpenAPI v3 root
 * (upper-case SHA-512 hex). */
static char *
document_hash (const char *doc)
{
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA512, doc, -1);
  return g_ascii_strup (hex, -1);
}

/* The OpenAPI v3 root: each group-version with its document's URL. */
static char *
root_document (void)
{
  g_autofree char *v1 = core_v1_document ();
  g_autofree char *v1_hash = document_hash (v1);
  g_autofree char *flaky_hash = document_hash (flaky_document);
  return g_strdup_printf ("{\"paths\":{\"api/v1\":{\"serverRelativeURL\":\"/openapi/v3/api/v1?hash=%s\"},"
                          "\"apis/example.com/v1\":{\"serverRelativeURL\":"
                          "\"/openapi/v3/apis/example.com/v1?hash=%s\"},"
                          "\"apis/flaky.example/v1\":{\"serverRelativeURL\":"
                          "\"/openapi/v3/apis/flaky.example/v1?hash=%s\"}}}", v1_hash, flaky_hash, flaky_hash);
}

/* CloudCore HEAD's answer to a get whose Key is not one of its
 * pass-through paths: the Key read as /<group>/<version>/<resource>/<ns>/
 * <name> (missing parts empty, "null" an empty namespace or name), then a
 * dynamic-client get of that object. */
static void
answer_as_object_key (const char *key, JsonObject *out)
{
  g_auto (GStrv) parts = g_strsplit (key, "/", -1);
  const char *name = g_strv_length (parts) > 5 ? parts[5] : "";

  if (!*name || strcmp (name, "null") == 0)
    {
      /* client-go's dynamic client refuses a get without a name before any
       * request; the error is not a Status, so only Reason carries it */
      JsonObject *err = json_object_new ();
      JsonObject *st = json_object_new ();
      json_object_set_object_member (st, "metadata", json_object_new ());
      json_object_set_object_member (err, "ErrStatus", st);
      json_object_set_object_member (out, "Error", err);
      json_object_set_string_member (out, "Status", "Rejected");
      json_object_set_string_member (out, "Reason", "name is required");
      json_object_set_null_member (out, "RespBody");
      return;
    }
  /* GET /apis/openapi/v3/namespaces/<ns>/<resource>/<name>: no such group */
  reject (out, 404, "NotFound", "the server could not find the requested resource");
}

/* Answers a "get" (the pass-through) in @out; FALSE when the answer is an
 * "error" reply instead. */
static gboolean
answer_get (FakeCloud *self, const char *key, JsonObject *out)
{
  g_autofree char *doc = NULL;
  g_autofree char *b64 = NULL;

  if (strcmp (key, "/openapi/v3") == 0)
    doc = root_document ();
  else if (!self->serve_group_versions && strcmp (key, "/openapi/v2") != 0)
    {
      answer_as_object_key (key, out);
      return TRUE;
    }
  else if (strcmp (key, "/openapi/v3/api/v1") == 0)
    doc = core_v1_document ();
  else if (strcmp (key, "/openapi/v3/apis/flaky.example/v1") == 0)
    {
      if (self->flaky_gets++ > 0)
        return FALSE;
      doc = g_strdup (flaky_document);
    }
  if (!doc)
    {
      reject (out, 404, "NotFound", "the server could not find the requested resource");
      return TRUE;
    }
  b64 = g_base64_encode ((const guchar *) doc, strlen (doc));
  json_object_set_string_member (out, "RespBody", b64);
  json_object_set_string_member (out, "Status", "Approved");
  return TRUE;
}

static void
fc_handle (gpointer state, EcMessage *message)
{
  FakeCloud *self = state;
  JsonNode *content;
  JsonObject *app;
  const char *verb, *key;
  g_autofree char *summary = NULL;
  g_autoptr (JsonNode) resp = NULL;
  g_autoptr (JsonObject) out = NULL;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  if (g_strcmp0 (ec_message_get_source (message), "metaserver") != 0
      || g_strcmp0 (ec_message_get_group (message), "dynamiccontroller") != 0
      || !ec_message_get_sync (message))
    return;
  content = ec_message_get_content_node (message, NULL);
  if (!content || !JSON_NODE_HOLDS_OBJECT (content))
    return;
  app = json_node_get_object (content);
  verb = json_object_get_string_member_with_default (app, "Verb", "");
  key = json_object_get_string_member_with_default (app, "Key", "");
  ec_log_message (self->context, "application %s %s", verb, key);
  if (g_str_has_suffix (key, "/slow"))
    return;
  if (g_str_has_suffix (key, "/unreachable"))
    goto unreachable;
  summary = app_summary (app);
  out = json_object_new ();
  json_object_set_string_member (out, "ID", json_object_get_string_member_with_default (app, "ID", ""));
  json_object_set_string_member (out, "Key", key);
  json_object_set_string_member (out, "Verb", verb);
  json_object_set_string_member (out, "Nodename", json_object_get_string_member_with_default (app, "Nodename", ""));
  json_object_set_string_member (out, "Reason", "");
  json_object_set_string_member (out, "Subresource", "");
  json_object_set_null_member (out, "ReqBody");
  json_object_set_null_member (out, "Option");
  if (g_str_has_suffix (key, "/forbidden"))
    reject (out, 403, "Forbidden", "fakecloud forbids this");
  else if (strcmp (verb, "get") == 0)
    {
      if (!answer_get (self, key, out))
        goto unreachable;
    }
  else
    {
      g_autoptr (JsonNode) body = NULL;
      if (strcmp (verb, "create") == 0 || strcmp (verb, "update") == 0 || strcmp (verb, "updatestatus") == 0)
        body = decode_member (app, "ReqBody");
      else if (strcmp (verb, "patch") == 0)
        {
          g_autoptr (JsonNode) info = decode_member (app, "Option");
          JsonObject *pod = json_object_new ();
          JsonObject *meta = json_object_new ();
          json_object_set_string_member (pod, "apiVersion", "v1");
          json_object_set_string_member (pod, "kind", "Pod");
          if (info && JSON_NODE_HOLDS_OBJECT (info))
            json_object_set_string_member (meta, "name",
                                           json_object_get_string_member_with_default (json_node_get_object (info), "Name", ""));
          json_object_set_object_member (pod, "metadata", meta);
          body = json_node_init_object (json_node_alloc (), pod);
          json_object_unref (pod);
          g_free (summary);
          summary = info ? json_to_string (info, FALSE) : g_strdup ("{}");
        }
      if (body && JSON_NODE_HOLDS_OBJECT (body))
        {
          g_autofree char *text = NULL;
          g_autofree char *b64 = NULL;
          annotate (json_node_get_object (body), summary);
          text = json_to_string (body, FALSE);
          b64 = g_base64_encode ((const guchar *) text, strlen (text));
          json_object_set_string_member (out, "RespBody", b64);
        }
      else
        json_object_set_null_member (out, "RespBody");
      json_object_set_string_member (out, "Status", "Approved");
    }
  resp = json_node_init_object (json_node_alloc (), out);
  reply = ec_message_new ("dynamiccontroller", "resource", "applicationResponse",
                          "ignore/Application/ignore");
  ec_message_set_parent_id (reply, ec_message_get_id (message));
  ec_message_set_content_node (reply, resp);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_warning (self->context, "reply not delivered: %s", error->message);
  return;

unreachable:
  reply = ec_message_new_error (message, "cloud unreachable");
  ec_message_set_source (reply, "websocket");
  ec_endpoint_respond (self->endpoint, reply, &error);
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "fakecloud",
  .version = "1.0",
  .summary = "test stand-in for edgehub and the cloud's dynamiccontroller",
  .bus_name = "websocket",
  .bus_group = "hub",
  .config_keys = fc_keys,
  .init = fc_init,
  .free = fc_free,
  .handle_message = fc_handle,
};
