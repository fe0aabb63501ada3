/* test-ms-unit.c: metaserver's pure parts: selectors, paths, kinds,
 * continue tokens, content negotiation, tables, Status objects, discovery
 * and metaserver's own OpenAPI documents. */
#include "ms.h"

#include <string.h>

static MsObjAttrs *
attrs_of (const char *json)
{
  g_autoptr (JsonNode) node = ms_json_parse (json, -1, NULL);
  g_assert_nonnull (node);
  return ms_obj_attrs_from_node (node);
}

static gboolean
label_match (const char *sel, const char *json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsSelector) s = ms_label_selector_parse (sel, &error);
  g_autoptr (MsObjAttrs) a = attrs_of (json);
  g_assert_no_error (error);
  return ms_selector_matches (s, a);
}

static void
test_label_selectors (void)
{
  const char *pod = "{\"metadata\":{\"name\":\"p\",\"labels\":{\"app\":\"web\",\"tier\":\"1\","
                    "\"example.com/role\":\"db\"}}}";
  g_assert_true (label_match ("", pod));
  g_assert_true (label_match ("app=web", pod));
  g_assert_true (label_match ("app==web", pod));
  g_assert_false (label_match ("app=db", pod));
  g_assert_true (label_match ("app!=db", pod));
  g_assert_false (label_match ("app!=web", pod));
  g_assert_true (label_match ("missing!=x", pod));       /* != matches an absent label */
  g_assert_true (label_match ("app in (db, web)", pod));
  g_assert_false (label_match ("app in (db,x)", pod));
  g_assert_true (label_match ("app notin (db,x)", pod));
  g_assert_true (label_match ("missing notin (db)", pod));
  g_assert_true (label_match ("app", pod));
  g_assert_false (label_match ("missing", pod));
  g_assert_true (label_match ("!missing", pod));
  g_assert_false (label_match ("!app", pod));
  g_assert_true (label_match ("app=web,tier=1", pod));
  g_assert_false (label_match ("app=web,tier=2", pod));
  g_assert_true (label_match ("example.com/role=db", pod));
  g_assert_true (label_match ("tier>0", pod));
  g_assert_false (label_match ("tier<1", pod));
  /* "in" and "notin" are plain values after an operator, as in Kubernetes */
  g_assert_true (label_match ("word=in", "{\"metadata\":{\"labels\":{\"word\":\"in\"}}}"));
  g_assert_true (label_match ("word in (notin,x)", "{\"metadata\":{\"labels\":{\"word\":\"notin\"}}}"));
  g_assert_false (label_match ("word!=in", "{\"metadata\":{\"labels\":{\"word\":\"in\"}}}"));
}

static void
test_label_selector_errors (void)
{
  static const char *const bad[] = {
    /* a trailing comma is refused, as apimachinery's labels parser does
     * ("found '', expected: identifier after ','") */
    "app in (x", "app in x", "=x", "app=web,", "!app=x", "a b", "app in ()", "-bad=x",
    "app=-bad-", "tier>x", "a/b/c=1", "app=(x)", ",",
    "tier>in", "tier<notin",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsSelector) s = ms_label_selector_parse (bad[i], &error);
      if (s)
        g_error ("selector \"%s\" was accepted", bad[i]);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_nonnull (strstr (error->message, "unable to parse requirement"));
    }
}

static void
test_field_selectors (void)
{
  const char *pod = "{\"metadata\":{\"name\":\"p1\",\"namespace\":\"ns\"},"
                    "\"spec\":{\"nodeName\":\"edge-1\"},\"status\":{\"phase\":\"Running\"}}";
  g_autoptr (MsObjAttrs) a = attrs_of (pod);
  static const struct { const char *sel; gboolean match; } cases[] = {
    { "metadata.name=p1", TRUE }, { "metadata.name==p1", TRUE }, { "metadata.name!=p1", FALSE },
    { "metadata.namespace=ns,spec.nodeName=edge-1", TRUE }, { "status.phase=Pending", FALSE },
    { "status.phase!=Pending", TRUE }, { "spec.nodeName=", FALSE },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsSelector) s = ms_field_selector_parse (cases[i].sel, TRUE, &error);
      g_assert_no_error (error);
      g_assert_cmpint (ms_selector_matches (s, a), ==, cases[i].match);
    }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (MsSelector) s = ms_field_selector_parse ("spec.nodeName=x", FALSE, &error);
    g_assert_null (s);
    g_assert_nonnull (strstr (error->message, "field label not supported"));
  }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (MsSelector) s = ms_field_selector_parse ("metadata.name", TRUE, &error);
    g_assert_null (s);
    g_assert_nonnull (error);
  }
  /* empty terms are skipped, as apimachinery's fields parser does */
  {
    static const char *const ok[] = { "metadata.name=p1,", ",metadata.name=p1",
                                      "metadata.name=p1,,metadata.namespace=ns", "," };
    for (guint i = 0; i < G_N_ELEMENTS (ok); i++)
      {
        g_autoptr (GError) error = NULL;
        g_autoptr (MsSelector) s = ms_field_selector_parse (ok[i], TRUE, &error);
        g_assert_no_error (error);
        g_assert_true (ms_selector_matches (s, a));
      }
    g_autoptr (MsSelector) s = ms_field_selector_parse ("metadata.name=p2,", TRUE, NULL);
    g_assert_false (ms_selector_matches (s, a));
  }
  {
    g_autoptr (MsSelector) s = ms_field_selector_parse ("metadata.name=a\\,b", TRUE, NULL);
    g_assert_cmpstr (ms_field_selector_exact (s, "metadata.name"), ==, "a,b");
  }
}

/* timeoutSeconds: 0 is the server default (as kube-apiserver), not forever */
static void
test_watch_timeout (void)
{
  guint64 t = 1;
  g_autoptr (GError) error = NULL;
  g_assert_true (ms_watch_timeout_parse ("0", &t, NULL));
  g_assert_cmpuint (t, ==, 1800);
  g_assert_true (ms_watch_timeout_parse (NULL, &t, NULL));
  g_assert_cmpuint (t, ==, 1800);
  g_assert_true (ms_watch_timeout_parse ("", &t, NULL));
  g_assert_cmpuint (t, ==, 1800);
  g_assert_true (ms_watch_timeout_parse ("7", &t, NULL));
  g_assert_cmpuint (t, ==, 7);
  g_assert_false (ms_watch_timeout_parse ("soon", &t, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
}

static void
test_request_paths (void)
{
  static const struct {
    const char *method, *path, *group, *version, *ns, *resource, *name, *sub;
    MsVerb verb;
  } cases[] = {
    { "GET", "/api/v1/pods", "", "v1", NULL, "pods", NULL, NULL, MS_VERB_LIST },
    { "GET", "/api/v1/namespaces/default/pods/nginx", "", "v1", "default", "pods", "nginx", NULL, MS_VERB_GET },
    { "GET", "/api/v1/namespaces/default/pods/nginx/status", "", "v1", "default", "pods", "nginx", "status", MS_VERB_GET },
    { "GET", "/api/v1/watch/namespaces/default/pods", "", "v1", "default", "pods", NULL, NULL, MS_VERB_WATCH },
    { "GET", "/api/v1/namespaces/kube-system", "", "v1", NULL, "namespaces", "kube-system", NULL, MS_VERB_GET },
    { "GET", "/apis/apps/v1/namespaces/a/deployments/", "apps", "v1", "a", "deployments", NULL, NULL, MS_VERB_LIST },
    { "POST", "/api/v1/namespaces/a/configmaps", "", "v1", "a", "configmaps", NULL, NULL, MS_VERB_CREATE },
    { "PUT", "/api/v1/nodes/n1/status", "", "v1", NULL, "nodes", "n1", "status", MS_VERB_UPDATE },
    { "PATCH", "/api/v1/namespaces/a/pods/p", "", "v1", "a", "pods", "p", NULL, MS_VERB_PATCH },
    { "DELETE", "/api/v1/namespaces/a/pods/p", "", "v1", "a", "pods", "p", NULL, MS_VERB_DELETE },
    { "DELETE", "/api/v1/namespaces/a/pods", "", "v1", "a", "pods", NULL, NULL, MS_VERB_DELETE_COLLECTION },
    { "GET", "/api/v1/namespaces/a%2Db/pods", "", "v1", "a-b", "pods", NULL, NULL, MS_VERB_LIST },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsRequestInfo) info = ms_request_info_parse (cases[i].method, cases[i].path, NULL, &error);
      g_assert_no_error (error);
      g_assert_true (info->is_resource);
      g_assert_cmpstr (info->group, ==, cases[i].group);
      g_assert_cmpstr (info->version, ==, cases[i].version);
      g_assert_cmpstr (info->namespace, ==, cases[i].ns);
      g_assert_cmpstr (info->resource, ==, cases[i].resource);
      g_assert_cmpstr (info->name, ==, cases[i].name);
      g_assert_cmpstr (info->subresource, ==, cases[i].sub);
      g_assert_cmpint (info->verb, ==, cases[i].verb);
    }
  {
    g_autoptr (GHashTable) q = g_hash_table_new (g_str_hash, g_str_equal);
    g_autoptr (MsRequestInfo) info = NULL;
    g_hash_table_insert (q, "watch", "true");
    info = ms_request_info_parse ("GET", "/api/v1/pods", q, NULL);
    g_assert_cmpint (info->verb, ==, MS_VERB_WATCH);
  }
  {
    g_autoptr (MsRequestInfo) info = ms_request_info_parse ("GET", "/apis/example.com", NULL, NULL);
    g_assert_false (info->is_resource);
    g_assert_cmpstr (info->group, ==, "example.com");
    g_assert_null (info->version);
  }
  {
    g_autoptr (MsRequestInfo) info = ms_request_info_parse ("GET", "/version", NULL, NULL);
    g_assert_null (info->prefix);
  }
  static const char *const bad[] = {
    "/api/v1/namespaces//pods", "/api/v1/../v1/pods", "/api/v1/watch", "/api/v1/a/b/c/d",
    "/api/v1/namespaces/a%2Fb/pods", "relative",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (MsRequestInfo) info = ms_request_info_parse ("GET", bad[i], NULL, &error);
      if (info)
        g_error ("path \"%s\" was accepted", bad[i]);
      g_assert_nonnull (error);
    }
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (MsRequestInfo) info = ms_request_info_parse ("OPTIONS", "/api/v1/pods", NULL, &error);
    g_assert_null (info);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  }
}

/* The paths passed through to the cloud (the OpenAPI documents). */
static void
test_passthrough_paths (void)
{
  static const char *const yes[] = {
    "/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/apps/v1",
    "/openapi/v3/apis/storage.k8s.io/v1beta1", "/openapi/v3/.well-known/openid-configuration",
    "/openapi/v3/openid/v1/jwks",
  };
  static const char *const no[] = {
    "/openapi", "/openapi/v1", "/openapi/v2/x", "/openapi/v3/", "/openapi/v3/api/v1/",
    "/openapi/v3//api", "/openapi/v3/api/../v1", "/openapi/v3/./api", "/openapi/v3/api v1",
    "/openapi/v3/api%2Fv1", "/openapi/v3x", "/api/v1",
  };
  g_autofree char *longest = g_strnfill (256 - strlen ("/openapi/v3/"), 'a');
  g_autofree char *too_long = g_strnfill (257 - strlen ("/openapi/v3/"), 'a');
  g_autofree char *ok = g_strconcat ("/openapi/v3/", longest, NULL);
  g_autofree char *bad = g_strconcat ("/openapi/v3/", too_long, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (yes); i++)
    if (!ms_passthrough_path (yes[i]))
      g_error ("path \"%s\" was not passed through", yes[i]);
  for (guint i = 0; i < G_N_ELEMENTS (no); i++)
    if (ms_passthrough_path (no[i]))
      g_error ("path \"%s\" was passed through", no[i]);
  g_assert_true (ms_passthrough_path (ok));
  g_assert_false (ms_passthrough_path (bad));
}

static void
test_kinds (void)
{
  static const char *const pairs[][2] = {
    { "Pod", "pods" }, { "Endpoints", "endpoints" }, { "NetworkPolicy", "networkpolicies" },
    { "Ingress", "ingresses" }, { "Device", "devices" }, { "ConfigMap", "configmaps" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++)
    {
      g_autofree char *r = ms_kind_to_resource (pairs[i][0]);
      g_autofree char *k = ms_resource_to_kind (pairs[i][1]);
      g_assert_cmpstr (r, ==, pairs[i][1]);
      if (strcmp (pairs[i][0], "Pod") == 0 || strcmp (pairs[i][0], "Endpoints") == 0 || strcmp (pairs[i][0], "Device") == 0)
        g_assert_cmpstr (k, ==, pairs[i][0]);
    }
  {
    g_autofree char *g = NULL, *v = NULL;
    g_assert_true (ms_split_api_version ("apps/v1", &g, &v));
    g_assert_cmpstr (g, ==, "apps");
    g_assert_cmpstr (v, ==, "v1");
  }
  {
    g_autofree char *g = NULL, *v = NULL;
    g_assert_false (ms_split_api_version ("a/b/c", &g, &v));
    g_assert_false (ms_split_api_version ("", &g, &v));
  }
  {
    g_autofree char *k1 = ms_store_key ("", "v1", "pods", "default", "nginx");
    g_autofree char *k2 = ms_store_key ("", "v1", "nodes", NULL, "edge-1");
    g_autofree char *k3 = ms_store_key ("apps", "v1", "deployments", "a", NULL);
    g_assert_cmpstr (k1, ==, "/core/v1/pods/default/nginx");
    g_assert_cmpstr (k2, ==, "/core/v1/nodes/null/edge-1");
    g_assert_cmpstr (k3, ==, "/apps/v1/deployments/a/");
  }
}

static void
test_continue_tokens (void)
{
  g_autofree char *t = ms_continue_encode (42, "/core/v1/pods/a/b");
  g_autofree char *key = NULL;
  guint64 rv = 0;
  g_assert_true (ms_continue_decode (t, &rv, &key));
  g_assert_cmpuint (rv, ==, 42);
  g_assert_cmpstr (key, ==, "/core/v1/pods/a/b");
  g_assert_false (ms_continue_decode ("garbage!", &rv, &key));
  g_assert_false (ms_continue_decode ("", &rv, &key));
  {
    g_autofree char *nokey = g_base64_encode ((const guchar *) "12", 2);
    g_assert_false (ms_continue_decode (nokey, &rv, &key));
  }
}

static void
test_accept (void)
{
  MsOutput out;
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) q = g_hash_table_new (g_str_hash, g_str_equal);

  g_assert_true (ms_output_from_accept ("application/json;as=Table;v=v1;g=meta.k8s.io,"
                                        "application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                                        "application/json", NULL, &out, NULL));
  g_assert_true (out.table);
  g_assert_cmpstr (out.table_version, ==, "v1");
  g_assert_cmpint (out.include, ==, MS_INCLUDE_METADATA);
  ms_output_clear (&out);
  g_assert_true (ms_output_from_accept ("application/json", NULL, &out, NULL));
  g_assert_false (out.table);
  ms_output_clear (&out);
  g_assert_true (ms_output_from_accept ("application/vnd.kubernetes.protobuf, */*", NULL, &out, NULL));
  g_assert_false (out.table);
  ms_output_clear (&out);
  g_assert_false (ms_output_from_accept ("application/vnd.kubernetes.protobuf", NULL, &out, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  /* issue 9: an empty part (a trailing comma) crashed on a NULL media type */
  for (guint i = 0; i < 5; i++)
    {
      const char *accepts[] = { "application/json,", ",", ",,application/json", " , ; ",
                                "application/json;as=Table;v=v1;g=meta.k8s.io," };
      g_assert_true (ms_output_from_accept (accepts[i], NULL, &out, NULL));
      g_assert_cmpint (out.json, ==, i != 4);
      g_assert_cmpint (out.table, ==, i == 4);
      ms_output_clear (&out);
    }
  g_hash_table_insert (q, "includeObject", "Bogus");
  g_assert_false (ms_output_from_accept ("application/json", q, &out, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_hash_table_insert (q, "includeObject", "Object");
  g_assert_true (ms_output_from_accept (NULL, q, &out, NULL));
  g_assert_cmpint (out.include, ==, MS_INCLUDE_OBJECT);
  ms_output_clear (&out);
}

static void
test_human_duration (void)
{
  static const struct { gint64 s; const char *text; } cases[] = {
    { -5, "<invalid>" }, { 0, "0s" }, { 119, "119s" }, { 120, "2m" }, { 150, "2m30s" },
    { 600, "10m" }, { 3 * 3600, "3h" }, { 3 * 3600 + 120, "3h2m" }, { 30 * 3600, "30h" },
    { 3 * 86400 + 3600, "3d1h" }, { 100 * 86400, "100d" }, { 3 * 365 * 86400 + 86400 * 5, "3y5d" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *t = ms_human_duration (cases[i].s);
      g_assert_cmpstr (t, ==, cases[i].text);
    }
}

/* Renders a one-row table and returns its cells. */
static JsonArray *
row_cells (const char *resource, const char *object, JsonNode **keep)
{
  g_autoptr (JsonNode) node = ms_json_parse (object, -1, NULL);
  g_autoptr (GString) s = g_string_new (NULL);
  JsonObject *table;
  ms_table_begin (s, resource, "v1");
  ms_table_add_row (s, TRUE, resource, node, MS_INCLUDE_METADATA, 1700000000);
  ms_table_end (s, "7", NULL);
  *keep = ms_json_parse (s->str, -1, NULL);
  g_assert_nonnull (*keep);
  table = json_node_get_object (*keep);
  g_assert_cmpstr (json_object_get_string_member (table, "kind"), ==, "Table");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (table, "metadata"),
                                                  "resourceVersion"), ==, "7");
  return json_object_get_array_member (json_array_get_object_element (
      json_object_get_array_member (table, "rows"), 0), "cells");
}

static void
test_tables (void)
{
  g_autoptr (JsonNode) t1 = NULL, t2 = NULL, t3 = NULL, t4 = NULL, t5 = NULL;
  JsonArray *c;

  c = row_cells ("pods", "{\"metadata\":{\"name\":\"p\",\"creationTimestamp\":\"2023-11-14T22:10:00Z\"},"
                 "\"spec\":{\"nodeName\":\"n\",\"containers\":[{\"name\":\"a\"},{\"name\":\"b\"}]},"
                 "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.0.5\",\"containerStatuses\":["
                 "{\"name\":\"a\",\"ready\":true,\"restartCount\":1,\"state\":{\"running\":{}}},"
                 "{\"name\":\"b\",\"ready\":false,\"restartCount\":2,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}",
                 &t1);
  g_assert_cmpstr (json_array_get_string_element (c, 0), ==, "p");
  g_assert_cmpstr (json_array_get_string_element (c, 1), ==, "1/2");
  g_assert_cmpstr (json_array_get_string_element (c, 2), ==, "CrashLoopBackOff");
  g_assert_cmpstr (json_array_get_string_element (c, 3), ==, "3");
  g_assert_cmpstr (json_array_get_string_element (c, 4), ==, "3m20s");
  g_assert_cmpstr (json_array_get_string_element (c, 5), ==, "10.0.0.5");
  g_assert_cmpstr (json_array_get_string_element (c, 6), ==, "n");

  c = row_cells ("pods", "{\"metadata\":{\"name\":\"p\",\"deletionTimestamp\":\"2023-11-14T22:03:20Z\"},"
                 "\"status\":{\"phase\":\"Running\"}}", &t2);
  g_assert_cmpstr (json_array_get_string_element (c, 2), ==, "Terminating");
  g_assert_cmpstr (json_array_get_string_element (c, 4), ==, "<unknown>");

  c = row_cells ("services", "{\"metadata\":{\"name\":\"s\"},\"spec\":{\"type\":\"NodePort\","
                 "\"clusterIP\":\"10.1.0.1\",\"ports\":[{\"port\":80,\"nodePort\":30080,\"protocol\":\"TCP\"},"
                 "{\"port\":53,\"protocol\":\"UDP\"}],\"selector\":{\"b\":\"2\",\"a\":\"1\"}}}", &t3);
  g_assert_cmpstr (json_array_get_string_element (c, 1), ==, "NodePort");
  g_assert_cmpstr (json_array_get_string_element (c, 2), ==, "10.1.0.1");
  g_assert_cmpstr (json_array_get_string_element (c, 3), ==, "<none>");
  g_assert_cmpstr (json_array_get_string_element (c, 4), ==, "80:30080/TCP,53/UDP");
  g_assert_cmpstr (json_array_get_string_element (c, 6), ==, "a=1,b=2");

  c = row_cells ("configmaps", "{\"metadata\":{\"name\":\"cm\"},\"data\":{\"a\":\"1\",\"b\":\"2\"}}", &t4);
  g_assert_cmpint (json_array_get_int_element (c, 1), ==, 2);

  c = row_cells ("nodes", "{\"metadata\":{\"name\":\"n\",\"labels\":{\"node-role.kubernetes.io/edge\":\"\","
                 "\"node-role.kubernetes.io/agent\":\"\"}},\"spec\":{\"unschedulable\":true},"
                 "\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
                 "\"nodeInfo\":{\"kubeletVersion\":\"v1.29.5-kubeedge\"}}}", &t5);
  g_assert_cmpstr (json_array_get_string_element (c, 1), ==, "Ready,SchedulingDisabled");
  g_assert_cmpstr (json_array_get_string_element (c, 2), ==, "agent,edge");
  g_assert_cmpstr (json_array_get_string_element (c, 4), ==, "v1.29.5-kubeedge");
}

static void
test_status (void)
{
  g_autofree char *text = ms_status_json (404, "NotFound", "pods \"x\" not found", "x", "", "pods");
  g_autoptr (JsonNode) node = ms_json_parse (text, -1, NULL);
  JsonObject *o = json_node_get_object (node);
  g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==, "Status");
  g_assert_cmpstr (json_object_get_string_member (o, "status"), ==, "Failure");
  g_assert_cmpint (json_object_get_int_member (o, "code"), ==, 404);
  g_assert_cmpstr (json_object_get_string_member (
      json_object_get_object_member (o, "details"), "kind"), ==, "pods");
  g_assert_cmpstr (ms_reason_for_code (410), ==, "Expired");
  g_assert_cmpstr (ms_reason_for_code (503), ==, "ServiceUnavailable");
}

static void
test_registry (void)
{
  MsRegistry *reg = ms_registry_new ();
  g_autofree char *list = NULL, *groups = NULL, *group = NULL, *none = NULL;
  const MsResource *r;

  g_assert_nonnull (ms_registry_lookup (reg, "", "v1", "pods"));
  g_assert_null (ms_registry_lookup (reg, "example.com", "v1", "widgets"));
  ms_registry_learn (reg, "example.com", "v1", "widgets", "Widget", FALSE);
  r = ms_registry_lookup (reg, "example.com", "v1", "widgets");
  g_assert_nonnull (r);
  g_assert_false (r->namespaced);
  g_assert_true (ms_registry_lookup_kind (reg, "example.com", "v1", "Widget") == r);
  list = ms_registry_resource_list (reg, "example.com", "v1");
  g_assert_nonnull (strstr (list, "\"kind\":\"Widget\""));
  groups = ms_registry_group_list (reg);
  g_assert_nonnull (strstr (groups, "\"name\":\"example.com\""));
  group = ms_registry_group (reg, "example.com");
  g_assert_nonnull (strstr (group, "\"preferredVersion\""));
  none = ms_registry_resource_list (reg, "nope.io", "v1");
  g_assert_null (none);
  ms_registry_free (reg);
}

/* The operation @method of @path in an OpenAPI document, or NULL. */
static JsonObject *
openapi_operation (JsonObject *doc, const char *path, const char *method)
{
  JsonObject *item = ms_json_get_object (ms_json_get_object (doc, "paths"), path);
  return ms_json_get_object (item, method);
}

/* Tells whether an operation lists the query parameter @name. */
static gboolean
has_query_param (JsonObject *op, const char *name)
{
  JsonArray *params = ms_json_get_array (op, "parameters");
  for (guint i = 0; params && i < json_array_get_length (params); i++)
    {
      JsonObject *p = json_array_get_object_element (params, i);
      if (g_strcmp0 (ms_json_get_string (p, "name"), name) == 0
          && g_strcmp0 (ms_json_get_string (p, "in"), "query") == 0)
        return TRUE;
    }
  return FALSE;
}

static void
test_openapi_paths (void)
{
  static const char *const not_gv[] = {
    "/openapi/v3", "/openapi/v3/", "/openapi/v3/api", "/openapi/v3/apis/apps",
    "/openapi/v3/apis/a/b/c", "/openapi/v3/api/v1/x", "/openapi/v3/api//v1",
    "/openapi/v3/apps/v1", "/openapi/v2", "/api/v1",
  };
  char *group = NULL, *version = NULL;

  g_assert_true (ms_openapi_group_version_path ("/openapi/v3/api/v1", &group, &version));
  g_assert_cmpstr (group, ==, "");
  g_assert_cmpstr (version, ==, "v1");
  g_clear_pointer (&group, g_free);
  g_clear_pointer (&version, g_free);
  g_assert_true (ms_openapi_group_version_path ("/openapi/v3/apis/rbac.authorization.k8s.io/v1",
                                                &group, &version));
  g_assert_cmpstr (group, ==, "rbac.authorization.k8s.io");
  g_assert_cmpstr (version, ==, "v1");
  g_clear_pointer (&group, g_free);
  g_clear_pointer (&version, g_free);
  for (guint i = 0; i < G_N_ELEMENTS (not_gv); i++)
    {
      g_assert_false (ms_openapi_group_version_path (not_gv[i], &group, &version));
      g_assert_null (group);
      g_assert_null (version);
    }
}

static void
test_openapi_documents (void)
{
  MsRegistry *reg = ms_registry_new ();
  g_autofree char *core = ms_openapi_document (reg, "", "v1");
  g_autofree char *rbac_text = ms_openapi_document (reg, "rbac.authorization.k8s.io", "v1");
  g_autofree char *devices_text = ms_openapi_document (reg, "devices.kubeedge.io", "v1beta1");
  g_autofree char *widgets_text = NULL;
  g_autoptr (JsonNode) node = ms_json_parse (core, -1, NULL);
  g_autoptr (JsonNode) rbac = ms_json_parse (rbac_text, -1, NULL);
  g_autoptr (JsonNode) devices = ms_json_parse (devices_text, -1, NULL);
  g_autoptr (JsonNode) widgets = NULL;
  JsonObject *doc, *op, *gvk, *content, *item;

  g_assert_null (ms_openapi_document (reg, "example.com", "v1"));
  g_assert_null (ms_openapi_document (reg, "", "v2"));
  g_assert_nonnull (node);
  doc = json_node_get_object (node);
  g_assert_cmpstr (ms_json_get_string (doc, "openapi"), ==, "3.0.0");
  g_assert_cmpuint (json_object_get_size (ms_json_get_object (doc, "components")), ==, 0);

  /* a namespaced built-in kind: what kubectl's fieldValidation check and
   * apply's patch-type check look at */
  op = openapi_operation (doc, "/api/v1/namespaces/{namespace}/configmaps/{name}", "patch");
  g_assert_nonnull (op);
  g_assert_cmpstr (ms_json_get_string (op, "operationId"), ==, "patchCoreV1NamespacedConfigMap");
  g_assert_cmpstr (ms_json_get_string (op, "x-kubernetes-action"), ==, "patch");
  gvk = ms_json_get_object (op, "x-kubernetes-group-version-kind");
  g_assert_cmpstr (ms_json_get_string (gvk, "group"), ==, "");
  g_assert_cmpstr (ms_json_get_string (gvk, "version"), ==, "v1");
  g_assert_cmpstr (ms_json_get_string (gvk, "kind"), ==, "ConfigMap");
  g_assert_true (has_query_param (op, "fieldValidation"));
  g_assert_true (has_query_param (op, "dryRun"));
  g_assert_true (has_query_param (op, "fieldManager"));
  g_assert_false (has_query_param (op, "force"));   /* not forwarded to the cloud */
  content = ms_json_get_object (ms_json_get_object (op, "requestBody"), "content");
  g_assert_cmpuint (json_object_get_size (content), ==, 4);
  g_assert_true (json_object_has_member (content, "application/strategic-merge-patch+json"));
  g_assert_true (json_object_has_member (content, "application/apply-patch+yaml"));
  op = openapi_operation (doc, "/api/v1/namespaces/{namespace}/configmaps", "get");
  g_assert_cmpstr (ms_json_get_string (op, "x-kubernetes-action"), ==, "list");
  g_assert_true (has_query_param (op, "labelSelector"));
  g_assert_true (has_query_param (op, "watch"));
  g_assert_true (has_query_param (op, "allowWatchBookmarks"));
  g_assert_false (has_query_param (op, "fieldValidation"));
  op = openapi_operation (doc, "/api/v1/namespaces/{namespace}/configmaps", "post");
  g_assert_cmpstr (ms_json_get_string (op, "operationId"), ==, "createCoreV1NamespacedConfigMap");
  g_assert_true (has_query_param (op, "fieldValidation"));
  g_assert_nonnull (ms_json_get_object (ms_json_get_object (op, "responses"), "201"));
  op = openapi_operation (doc, "/api/v1/configmaps", "get");
  g_assert_cmpstr (ms_json_get_string (op, "operationId"), ==, "listCoreV1ConfigMapForAllNamespaces");
  g_assert_null (openapi_operation (doc, "/api/v1/configmaps", "post"));
  item = ms_json_get_object (ms_json_get_object (doc, "paths"),
                             "/api/v1/namespaces/{namespace}/configmaps/{name}");
  g_assert_cmpuint (json_array_get_length (ms_json_get_array (item, "parameters")), ==, 2);
  g_assert_nonnull (ms_json_get_object (item, "delete"));
  g_assert_nonnull (ms_json_get_object (item, "put"));
  /* cluster-scoped */
  op = openapi_operation (doc, "/api/v1/nodes/{name}", "get");
  g_assert_cmpstr (ms_json_get_string (op, "operationId"), ==, "readCoreV1Node");
  g_assert_null (openapi_operation (doc, "/api/v1/namespaces/{namespace}/nodes/{name}", "get"));

  /* a built-in group: ".k8s.io" dropped, dots capitalise as kube-apiserver's ids */
  op = openapi_operation (json_node_get_object (rbac),
                          "/apis/rbac.authorization.k8s.io/v1/clusterroles/{name}", "patch");
  g_assert_cmpstr (ms_json_get_string (op, "operationId"), ==, "patchRbacAuthorizationV1ClusterRole");
  g_assert_cmpstr (json_array_get_string_element (ms_json_get_array (op, "tags"), 0), ==,
                   "rbacAuthorization_v1");
  /* KubeEdge's devices are CRDs in the cloud: no strategic merge patch */
  op = openapi_operation (json_node_get_object (devices),
                          "/apis/devices.kubeedge.io/v1beta1/namespaces/{namespace}/devices/{name}", "patch");
  content = ms_json_get_object (ms_json_get_object (op, "requestBody"), "content");
  g_assert_false (json_object_has_member (content, "application/strategic-merge-patch+json"));
  g_assert_true (json_object_has_member (content, "application/merge-patch+json"));

  /* a kind learned from the store, cluster-scoped */
  ms_registry_learn (reg, "example.com", "v1", "widgets", "Widget", FALSE);
  widgets_text = ms_openapi_document (reg, "example.com", "v1");
  widgets = ms_json_parse (widgets_text, -1, NULL);
  doc = json_node_get_object (widgets);
  g_assert_cmpuint (json_object_get_size (ms_json_get_object (doc, "paths")), ==, 2);
  op = openapi_operation (doc, "/apis/example.com/v1/widgets/{name}", "patch");
  g_assert_cmpstr (ms_json_get_string (op, "operationId"), ==, "patchExampleComV1Widget");
  gvk = ms_json_get_object (op, "x-kubernetes-group-version-kind");
  g_assert_cmpstr (ms_json_get_string (gvk, "group"), ==, "example.com");
  g_assert_cmpstr (ms_json_get_string (gvk, "kind"), ==, "Widget");
  content = ms_json_get_object (ms_json_get_object (op, "requestBody"), "content");
  g_assert_false (json_object_has_member (content, "application/strategic-merge-patch+json"));
  g_assert_nonnull (openapi_operation (doc, "/apis/example.com/v1/widgets", "post"));
  ms_registry_free (reg);
}

static void
test_openapi_root (void)
{
  MsRegistry *reg = ms_registry_new ();
  g_autofree char *text = NULL;
  g_autofree char *core = NULL;
  g_autofree char *core_hash = NULL;
  g_autofree char *core_url = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GPtrArray) gvs = NULL;
  JsonObject *paths;

  ms_registry_learn (reg, "example.com", "v1", "widgets", "Widget", TRUE);
  ms_registry_learn (reg, "example.com", "v1", "gizmos", "Gizmo", TRUE);
  text = ms_openapi_root (reg);
  node = ms_json_parse (text, -1, NULL);
  paths = ms_json_get_object (json_node_get_object (node), "paths");
  gvs = ms_registry_group_versions (reg);
  g_assert_cmpuint (gvs->len, ==, 8);   /* 7 built-in group-versions and example.com/v1 */
  g_assert_cmpuint (json_object_get_size (paths), ==, gvs->len);
  core = ms_openapi_document (reg, "", "v1");
  core_hash = ms_openapi_hash (core);
  g_assert_cmpuint (strlen (core_hash), ==, 128);
  for (const char *h = core_hash; *h; h++)
    g_assert_true (g_ascii_isdigit (*h) || (*h >= 'A' && *h <= 'F'));
  core_url = g_strdup_printf ("/openapi/v3/api/v1?hash=%s", core_hash);
  g_assert_cmpstr (ms_json_get_string (ms_json_get_object (paths, "api/v1"), "serverRelativeURL"), ==,
                   core_url);
  g_assert_true (g_str_has_prefix (ms_json_get_string (ms_json_get_object (paths, "apis/example.com/v1"),
                                                       "serverRelativeURL"),
                                   "/openapi/v3/apis/example.com/v1?hash="));
  g_assert_nonnull (ms_json_get_object (paths, "apis/rbac.authorization.k8s.io/v1"));
  g_assert_null (ms_json_get_object (paths, "apis/apps"));
  ms_registry_free (reg);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metaserver/label-selectors", test_label_selectors);
  g_test_add_func ("/metaserver/label-selector-errors", test_label_selector_errors);
  g_test_add_func ("/metaserver/field-selectors", test_field_selectors);
  g_test_add_func ("/metaserver/watch-timeout", test_watch_timeout);
  g_test_add_func ("/metaserver/request-paths", test_request_paths);
  g_test_add_func ("/metaserver/passthrough-paths", test_passthrough_paths);
  g_test_add_func ("/metaserver/kinds", test_kinds);
  g_test_add_func ("/metaserver/continue-tokens", test_continue_tokens);
  g_test_add_func ("/metaserver/accept", test_accept);
  g_test_add_func ("/metaserver/human-duration", test_human_duration);
  g_test_add_func ("/metaserver/tables", test_tables);
  g_test_add_func ("/metaserver/status", test_status);
  g_test_add_func ("/metaserver/registry", test_registry);
  g_test_add_func ("/metaserver/openapi-paths", test_openapi_paths);
  g_test_add_func ("/metaserver/openapi-documents", test_openapi_documents);
  g_test_add_func ("/metaserver/openapi-root", test_openapi_root);
  return g_test_run ();
}
