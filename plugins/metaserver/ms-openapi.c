/* ms-openapi.c: the OpenAPI v3 documents metaserver writes of itself, from
 * the registry, for when the cloud gives none and meta_v2 has no copy
 * (ms-passthrough.c): the root (/openapi/v3) and the document of one
 * group-version (/openapi/v3/api/v1, /openapi/v3/apis/<g>/<v>). They
 * describe what metaserver serves: for each resource its collection and
 * object paths, their operations with operationId, x-kubernetes-action and
 * x-kubernetes-group-version-kind, the query parameters metaserver honours
 * and the patch types it takes. They hold no schemas: metaserver has none
 * (the cloud checks the objects), so components is empty. */
#include "ms.h"

#include <string.h>

/* A query parameter of an operation. */
typedef struct {
  const char *name;
  const char *type;          /* its schema's type */
  const char *description;
} Param;

/* Sent to the cloud in the write's CreateOptions, UpdateOptions or
 * PatchInfo.Options (ms-cloud.c, write_options). */
static const Param write_params[] = {
  { "dryRun", "string",
    "When present (All), the cloud checks the change without persisting it; forwarded to the "
    "cloud in the write's options." },
  { "fieldManager", "string",
    "The name of the actor making the change; forwarded to the cloud in the write's options." },
  { "fieldValidation", "string",
    "How the cloud treats unknown or duplicate fields in the body: Ignore, Warn or Strict; "
    "forwarded to the cloud in the write's options." },
};

/* Honoured by metaserver's lists and watches (ms-http.c, ms-watch.c). */
static const Param list_params[] = {
  { "allowWatchBookmarks", "boolean",
    "With watch: a BOOKMARK event with the current resourceVersion every "
    "watch-bookmark-interval seconds." },
  { "continue", "string",
    "The token of a previous page's metadata.continue: the next page." },
  { "fieldSelector", "string",
    "Only the items whose fields match, with =, == or !=: metadata.name, metadata.namespace, "
    "and for pods spec.nodeName and status.phase." },
  { "labelSelector", "string",
    "Only the items whose labels match: =, ==, !=, in, notin, key, !key, > and <, "
    "comma-separated." },
  { "limit", "integer",
    "The most items in one page; the rest follows with continue." },
  { "resourceVersion", "string",
    "Unset or 0: the current state. N: served when not newer than the current revision; with "
    "watch, the changes after N (410 Expired when they are no longer kept)." },
  { "resourceVersionMatch", "string",
    "Exact: only the current revision is served (an older one is 410 Expired); NotOlderThan." },
  { "timeoutSeconds", "integer",
    "Ends a watch after this many seconds (unset or 0: 30 minutes)." },
  { "watch", "boolean",
    "true: a stream of watch events (ADDED, MODIFIED, DELETED) instead of a list." },
};

/* What a path's operations share. */
typedef struct {
  const MsResource *res;
  const char       *id_group;   /* "CoreV1": the operationId's group-version part */
  const char       *tag;        /* "core_v1" */
} Target;

/* The request bodies of operations. */
typedef enum {
  BODY_NONE,
  BODY_OBJECT,    /* the object, JSON, required */
  BODY_PATCH,     /* a patch of a type metaserver takes, required */
  BODY_DELETE,    /* DeleteOptions, JSON, optional */
} BodyKind;

/* One operation of a path. */
typedef struct {
  const char   *method;        /* "get" */
  const char   *action;        /* x-kubernetes-action */
  const char   *id_verb;       /* operationId's verb: "read" */
  const char   *id_suffix;     /* after the kind: "" or "ForAllNamespaces" */
  const char   *what;          /* the description is what, the kind, then */
  const char   *then;
  BodyKind      body;
  const Param  *params;
  guint         n_params;
  const char   *code;          /* the answer on success */
} Op;

#define SENT ": sent to the cloud (503 while the node is offline)"

static const Op op_list = { "get", "list", "list", "", "list or watch objects of kind ", "",
                            BODY_NONE, list_params, G_N_ELEMENTS (list_params), "200" };
static const Op op_list_all = { "get", "list", "list", "ForAllNamespaces",
                                "list or watch objects of kind ", " in every namespace",
                                BODY_NONE, list_params, G_N_ELEMENTS (list_params), "200" };
static const Op op_create = { "post", "post", "create", "",
                              "create a ", SENT,
                              BODY_OBJECT, write_params, G_N_ELEMENTS (write_params), "201" };
static const Op op_read = { "get", "get", "read", "", "read the specified ", "",
                            BODY_NONE, NULL, 0, "200" };
static const Op op_replace = { "put", "put", "replace", "",
                               "replace the specified ", SENT,
                               BODY_OBJECT, write_params, G_N_ELEMENTS (write_params), "200" };
static const Op op_patch = { "patch", "patch", "patch", "",
                             "partially update the specified ", SENT,
                             BODY_PATCH, write_params, G_N_ELEMENTS (write_params), "200" };
static const Op op_delete = { "delete", "delete", "delete", "",
                              "delete a ", SENT,
                              BODY_DELETE, NULL, 0, "200" };

static void
add_str (JsonBuilder *b, const char *name, const char *value)
{
  json_builder_set_member_name (b, name);
  json_builder_add_string_value (b, value);
}

static void
begin_object (JsonBuilder *b, const char *name)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
}

/* An empty media type object under @type: a body of that type, with no
 * schema. */
static void
add_media_type (JsonBuilder *b, const char *type)
{
  begin_object (b, type);
  json_builder_end_object (b);
}

/* Appends @s as kube-apiserver spells a path segment in an operationId:
 * letters, '_' and (not first) digits are kept, anything else is dropped
 * and upper-cases the next letter; @capitalize upper-cases the first. */
static void
append_id (GString *out, const char *s, gboolean capitalize)
{
  for (gsize i = 0; s[i]; i++)
    {
      char ch = s[i];
      if (g_ascii_isalpha (ch) || ch == '_' || (i > 0 && g_ascii_isdigit (ch)))
        {
          g_string_append_c (out, capitalize ? g_ascii_toupper (ch) : ch);
          capitalize = FALSE;
        }
      else
        capitalize = TRUE;
    }
}

/* The group's name in operationIds and tags: "core" for the core group,
 * built-in groups without ".k8s.io". */
static char *
id_group_name (const char *group)
{
  if (!*group)
    return g_strdup ("core");
  if (g_str_has_suffix (group, ".k8s.io"))
    return g_strndup (group, strlen (group) - strlen (".k8s.io"));
  return g_strdup (group);
}

static void
add_param (JsonBuilder *b, const char *name, const char *in, const char *type,
           const char *description, gboolean required)
{
  json_builder_begin_object (b);
  add_str (b, "name", name);
  add_str (b, "in", in);
  add_str (b, "description", description);
  if (required)
    {
      json_builder_set_member_name (b, "required");
      json_builder_add_boolean_value (b, TRUE);
    }
  begin_object (b, "schema");
  add_str (b, "type", type);
  json_builder_end_object (b);
  json_builder_end_object (b);
}

/* The patch types metaserver takes and forwards (ms-cloud.c): JSON patch,
 * merge patch and apply; a strategic merge patch only of the kinds whose
 * cloud side (kube-apiserver's own types) applies it. */
static void
add_patch_types (JsonBuilder *b, const MsResource *res)
{
  add_media_type (b, "application/apply-patch+yaml");
  add_media_type (b, "application/json-patch+json");
  add_media_type (b, "application/merge-patch+json");
  if (res->strategic_merge)
    add_media_type (b, "application/strategic-merge-patch+json");
}

static void
add_operation (JsonBuilder *b, const Target *t, const Op *op, gboolean namespaced)
{
  g_autoptr (GString) id = g_string_new (op->id_verb);
  g_autofree char *description = g_strconcat (op->what, t->res->kind, op->then, NULL);

  g_string_append (id, t->id_group);
  if (namespaced)
    g_string_append (id, "Namespaced");
  g_string_append (id, t->res->kind);
  g_string_append (id, op->id_suffix);

  begin_object (b, op->method);
  json_builder_set_member_name (b, "tags");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, t->tag);
  json_builder_end_array (b);
  add_str (b, "description", description);
  add_str (b, "operationId", id->str);
  if (op->n_params > 0)
    {
      json_builder_set_member_name (b, "parameters");
      json_builder_begin_array (b);
      for (guint i = 0; i < op->n_params; i++)
        add_param (b, op->params[i].name, "query", op->params[i].type,
                   op->params[i].description, FALSE);
      json_builder_end_array (b);
    }
  if (op->body != BODY_NONE)
    {
      begin_object (b, "requestBody");
      begin_object (b, "content");
      if (op->body == BODY_PATCH)
        add_patch_types (b, t->res);
      else
        add_media_type (b, "application/json");
      json_builder_end_object (b);
      json_builder_set_member_name (b, "required");
      json_builder_add_boolean_value (b, op->body != BODY_DELETE);
      json_builder_end_object (b);
    }
  begin_object (b, "responses");
  begin_object (b, op->code);
  add_str (b, "description", strcmp (op->code, "201") == 0 ? "Created" : "OK");
  begin_object (b, "content");
  add_media_type (b, "application/json");
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  add_str (b, "x-kubernetes-action", op->action);
  begin_object (b, "x-kubernetes-group-version-kind");
  add_str (b, "group", t->res->group);
  add_str (b, "version", t->res->version);
  add_str (b, "kind", t->res->kind);
  json_builder_end_object (b);
  json_builder_end_object (b);
}

/* One path with its operations and its path parameters. */
static void
add_path (JsonBuilder *b, const Target *t, const char *path, const Op *const *ops,
          gboolean namespaced, gboolean named)
{
  begin_object (b, path);
  for (guint i = 0; ops[i]; i++)
    add_operation (b, t, ops[i], namespaced);
  if (namespaced || named)
    {
      g_autofree char *name_doc = g_strdup_printf ("name of the %s", t->res->kind);
      json_builder_set_member_name (b, "parameters");
      json_builder_begin_array (b);
      if (named)
        add_param (b, "name", "path", "string", name_doc, TRUE);
      if (namespaced)
        add_param (b, "namespace", "path", "string", "object name and auth scope", TRUE);
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
}

/**
 * ms_openapi_group_version_path:
 * Reads the group-version of a document path: "/openapi/v3/api/<v>" (core)
 * or "/openapi/v3/apis/<g>/<v>". FALSE for any other path.
 */
gboolean
ms_openapi_group_version_path (const char *path, char **group, char **version)
{
  g_auto (GStrv) parts = NULL;
  guint n;

  if (!g_str_has_prefix (path, "/openapi/v3/"))
    return FALSE;
  parts = g_strsplit (path + strlen ("/openapi/v3/"), "/", -1);
  n = g_strv_length (parts);
  for (guint i = 0; i < n; i++)
    if (!*parts[i])
      return FALSE;
  if (n == 2 && strcmp (parts[0], "api") == 0)
    {
      *group = g_strdup ("");
      *version = g_strdup (parts[1]);
      return TRUE;
    }
  if (n == 3 && strcmp (parts[0], "apis") == 0)
    {
      *group = g_strdup (parts[1]);
      *version = g_strdup (parts[2]);
      return TRUE;
    }
  return FALSE;
}

/**
 * ms_openapi_document:
 * metaserver's OpenAPI v3 document of group/version: every resource the
 * registry has there, with its paths and operations. NULL when the
 * group-version is unknown.
 */
char *
ms_openapi_document (MsRegistry *reg, const char *group, const char *version)
{
  static const Op *const collection_ops[] = { &op_list, &op_create, NULL };
  static const Op *const object_ops[] = { &op_read, &op_replace, &op_patch, &op_delete, NULL };
  static const Op *const all_namespaces_ops[] = { &op_list_all, NULL };
  g_autoptr (GPtrArray) resources = ms_registry_resources_of (reg, group, version);
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GString) id_group = NULL;
  g_autoptr (GString) tag = NULL;
  g_autofree char *id_name = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *gv = NULL;
  g_autofree char *about = NULL;

  if (resources->len == 0)
    return NULL;
  id_name = id_group_name (group);
  id_group = g_string_new (NULL);
  append_id (id_group, id_name, TRUE);
  append_id (id_group, version, TRUE);
  tag = g_string_new (NULL);
  append_id (tag, id_name, FALSE);
  g_string_append_c (tag, '_');
  append_id (tag, version, FALSE);
  prefix = *group ? g_strdup_printf ("/apis/%s/%s", group, version) : g_strdup_printf ("/api/%s", version);
  gv = ms_registry_group_version_string (group, version);
  about = g_strdup_printf ("The paths metaserver, the edge node's local Kubernetes API, serves for %s, "
                           "written by metaserver as the cloud gave no document of its own. Reads are "
                           "served from the node's store, writes are sent to the cloud. It has no "
                           "schemas: the cloud checks the objects.", gv);

  b = json_builder_new ();
  json_builder_begin_object (b);
  add_str (b, "openapi", "3.0.0");
  begin_object (b, "info");
  add_str (b, "title", "edgecore metaserver");
  add_str (b, "description", about);
  add_str (b, "version", EC_VERSION);
  json_builder_end_object (b);
  begin_object (b, "paths");
  for (guint i = 0; i < resources->len; i++)
    {
      const MsResource *r = resources->pdata[i];
      Target t = { r, id_group->str, tag->str };
      g_autofree char *collection = r->namespaced
        ? g_strdup_printf ("%s/namespaces/{namespace}/%s", prefix, r->resource)
        : g_strdup_printf ("%s/%s", prefix, r->resource);
      g_autofree char *object = g_strdup_printf ("%s/{name}", collection);

      add_path (b, &t, collection, collection_ops, r->namespaced, FALSE);
      add_path (b, &t, object, object_ops, r->namespaced, TRUE);
      if (r->namespaced)
        {
          g_autofree char *across = g_strdup_printf ("%s/%s", prefix, r->resource);
          add_path (b, &t, across, all_namespaces_ops, FALSE, FALSE);
        }
    }
  json_builder_end_object (b);
  begin_object (b, "components");
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}

/**
 * ms_openapi_hash:
 * A document's hash as kube-apiserver writes it in the root's
 * serverRelativeURL: SHA-512, upper-case hex.
 */
char *
ms_openapi_hash (const char *document)
{
  g_autofree char *hex = g_compute_checksum_for_string (G_CHECKSUM_SHA512, document, -1);
  return g_ascii_strup (hex, -1);
}

/**
 * ms_openapi_root:
 * metaserver's /openapi/v3: each group-version of the registry with the
 * URL of its document, "?hash=" the hash of the document metaserver would
 * write now.
 */
char *
ms_openapi_root (MsRegistry *reg)
{
  g_autoptr (GPtrArray) gvs = ms_registry_group_versions (reg);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  begin_object (b, "paths");
  for (guint i = 0; i < gvs->len; i++)
    {
      const MsResource *r = gvs->pdata[i];
      g_autofree char *doc = ms_openapi_document (reg, r->group, r->version);
      g_autofree char *hash = ms_openapi_hash (doc);
      g_autofree char *name = *r->group ? g_strdup_printf ("apis/%s/%s", r->group, r->version)
                                        : g_strdup_printf ("api/%s", r->version);
      g_autofree char *url = g_strdup_printf ("/openapi/v3/%s?hash=%s", name, hash);
      begin_object (b, name);
      add_str (b, "serverRelativeURL", url);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}
