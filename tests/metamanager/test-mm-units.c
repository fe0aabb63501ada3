/* test-mm-units.c: metamanager's object scanner, resource keys and schema
 * handling (on real sqlite files through the shared store). */
#include "mm-private.h"

#include <glib/gstdio.h>
#include <string.h>

/* ---- scanner ------------------------------------------------------------- */

static void
test_scan_pod (void)
{
  const char *pod = "{\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\","
                    "\"labels\":{\"app\":\"x\"},\"uid\":\"u-1\",\"resourceVersion\":\"48211\"},"
                    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"nginx\",\"ports\":[80,1.5e3,-2]}],"
                    "\"x\":[true,false,null,{}]},\"status\":{}}";
  MmObjInfo info;
  g_autoptr (GError) error = NULL;
  g_assert_true (mm_scan_object (pod, strlen (pod), &info, &error));
  g_assert_no_error (error);
  g_assert_null (info.api_version);
  g_assert_null (info.kind);
  g_assert_cmpstr (info.name, ==, "nginx");
  g_assert_cmpstr (info.namespace, ==, "default");
  g_assert_cmpstr (info.uid, ==, "u-1");
  g_assert_cmpstr (info.resource_version, ==, "48211");
  g_assert_cmpuint (info.body_offset, ==, 1);
  mm_obj_info_clear (&info);
}

static void
test_scan_escapes (void)
{
  const char *obj = " {\"kind\":\"Con\\u0066igMap\",\"apiVersion\":\"v1\","
                    "\"metadata\":{\"name\":\"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\"}} ";
  MmObjInfo info;
  g_assert_true (mm_scan_object (obj, strlen (obj), &info, NULL));
  g_assert_cmpstr (info.kind, ==, "ConfigMap");
  g_assert_cmpstr (info.api_version, ==, "v1");
  g_assert_cmpstr (info.name, ==, "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
  g_assert_cmpuint (info.body_offset, ==, 2);
  mm_obj_info_clear (&info);

  /* escaped keys are unescaped before they are compared; a key that only
   * looks like one (a prefix, a longer word) is not taken */
  obj = "{\"k\\u0069nd\":\"Pod\",\"metadat\":{\"name\":\"no\"},\"names\":\"no\","
        "\"meta\\u0064ata\":{\"n\\u0061me\":\"yes\",\"nam\":\"no\",\"uid\":\"u\\/1\"}}";
  g_assert_true (mm_scan_object (obj, strlen (obj), &info, NULL));
  g_assert_cmpstr (info.kind, ==, "Pod");
  g_assert_cmpstr (info.name, ==, "yes");
  g_assert_cmpstr (info.uid, ==, "u/1");
  g_assert_null (info.namespace);
  mm_obj_info_clear (&info);
}

static void
test_scan_bad (void)
{
  const char *bad[] = {
    "", "[]", "42", "\"str\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":tru}",
    "{\"a\":\"x}", "{\"a\":\"\\q\"}", "{\"a\":01}", "{\"a\":1} x", "{\"a\":[1,2}",
    "{\"metadata\":{\"name\":\"n\"}", "{\"a\":\"\\u12\"}", "{\"a\":-}", "{\"a\":1.}",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      MmObjInfo info;
      g_autoptr (GError) error = NULL;
      g_assert_false (mm_scan_object (bad[i], strlen (bad[i]), &info, &error));
      g_assert_error (error, MM_ERROR, MM_ERROR_BAD_CONTENT);
      g_assert_null (info.name);
    }
  /* deep nesting is refused, not a stack overflow */
  GString *deep = g_string_new ("{\"a\":");
  for (int i = 0; i < 10000; i++)
    g_string_append_c (deep, '[');
  MmObjInfo info;
  g_assert_false (mm_scan_object (deep->str, deep->len, &info, NULL));
  g_string_free (deep, TRUE);
}

static void
test_json_strings (void)
{
  MmObjInfo info;
  g_autoptr (GError) error = NULL;
  const char *nul = "{\"metadata\":{\"name\":\"a\\u0000b\"},\"data\":{\"k\":\"x\\u0000y\"}}";

  g_assert_true (mm_json_is_string (" \"x\"", 4));
  g_assert_false (mm_json_is_string ("{}", 2));
  g_assert_false (mm_json_is_string ("", 0));
  /* \u0000 (docs/json.md): a field read as C text refuses it (never cut
   * short), the rest of the stored text keeps it */
  g_assert_false (mm_scan_object (nul, strlen (nul), &info, &error));
  g_assert_error (error, MM_ERROR, MM_ERROR_BAD_CONTENT);
  g_assert_nonnull (strstr (error->message, "\\u0000"));
  g_assert_null (info.name);
  nul = "{\"metadata\":{\"name\":\"ab\"},\"data\":{\"k\":\"x\\u0000y\"}}";
  g_assert_true (mm_scan_object (nul, strlen (nul), &info, NULL));
  g_assert_cmpstr (info.name, ==, "ab");
  mm_obj_info_clear (&info);
}

/* ---- resources and meta_v2 rows ------------------------------------------- */

static void
test_resource_parse (void)
{
  char *ns, *type, *name;
  g_assert_true (mm_resource_parse ("default/pod/nginx", &ns, &type, &name));
  g_assert_cmpstr (ns, ==, "default");
  g_assert_cmpstr (type, ==, "pod");
  g_assert_cmpstr (name, ==, "nginx");
  g_free (ns); g_free (type); g_free (name);
  g_assert_true (mm_resource_parse ("default/pod", &ns, &type, &name));
  g_assert_cmpstr (type, ==, "pod");
  g_assert_null (name);
  g_free (ns); g_free (type);
  g_assert_true (mm_resource_parse ("rule/r1", &ns, &type, &name));
  g_assert_cmpstr (type, ==, "rule");
  g_assert_cmpstr (name, ==, "r1");
  g_free (ns); g_free (type); g_free (name);
  g_assert_false (mm_resource_parse ("a/b/c/d", &ns, &type, &name));
  g_assert_false (mm_resource_parse ("pod", &ns, &type, &name));
  g_assert_false (mm_resource_parse ("", &ns, &type, &name));
  g_assert_false (mm_resource_parse ("default//x", &ns, &type, &name));
}

static void
test_kind_to_resource (void)
{
  const char *cases[][2] = {
    { "Pod", "pods" }, { "Endpoints", "endpoints" }, { "Ingress", "ingresses" },
    { "NetworkPolicy", "networkpolicies" }, { "ConfigMap", "configmaps" },
    { "EndpointSlice", "endpointslices" }, { "Node", "nodes" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *r = mm_kind_to_resource (cases[i][0]);
      g_assert_cmpstr (r, ==, cases[i][1]);
    }
}

/* Builds the row of json as a message of type/ns/name would give it. */
static gboolean
row_of (MmV2Row *row, const char *type, const char *ns, const char *name, const char *json)
{
  MmObjInfo info;
  gboolean ok;
  g_assert_true (mm_scan_object (json, strlen (json), &info, NULL));
  ok = mm_v2_row_build (row, type, ns, name, json, strlen (json), &info, NULL);
  mm_obj_info_clear (&info);
  return ok;
}

/* Checks that the row's text is a JSON object with the given apiVersion and
 * kind, and that assembling it in a scratch buffer gives the same text. */
static void
assert_typed (const MmV2Row *row, const char *api_version, const char *kind)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autofree char *text = mm_v2_row_dup_text (row);
  g_autoptr (GString) buf = g_string_new ("left over from an earlier row");
  gsize len;
  const char *again = mm_v2_row_text (row, buf, &len);
  JsonObject *o;
  g_assert_cmpuint (len, ==, strlen (text));
  g_assert_cmpmem (again, len, text, strlen (text));
  g_assert_true (json_parser_load_from_data (p, text, -1, NULL));
  o = json_node_get_object (json_parser_get_root (p));
  g_assert_cmpstr (json_object_get_string_member (o, "apiVersion"), ==, api_version);
  g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==, kind);
}

static void
test_v2_rows (void)
{
  MmV2Row row;

  g_assert_true (row_of (&row, "pod", "default", "nginx",
                         "{\"metadata\":{\"name\":\"nginx\",\"namespace\":\"default\","
                         "\"resourceVersion\":\"17\"}}"));
  g_assert_cmpstr (row.key, ==, "/core/v1/pods/default/nginx");
  g_assert_cmpstr (row.gvr, ==, "/v1, Resource=pods");
  g_assert_cmpstr (row.ns, ==, "default");
  g_assert_cmpstr (row.name, ==, "nginx");
  g_assert_cmpuint (row.rv, ==, 17);
  assert_typed (&row, "v1", "Pod");
  mm_v2_row_clear (&row);

  g_assert_true (row_of (&row, "node", "null", "edge-1", "{\"metadata\":{\"name\":\"edge-1\"}}"));
  g_assert_cmpstr (row.key, ==, "/core/v1/nodes/null/edge-1");
  g_assert_cmpstr (row.ns, ==, "");
  assert_typed (&row, "v1", "Node");
  mm_v2_row_clear (&row);

  /* an empty object gets its type from the resource, its name too */
  g_assert_true (row_of (&row, "configmap", "ns1", "cm1", "{ }"));
  g_assert_cmpstr (row.key, ==, "/core/v1/configmaps/ns1/cm1");
  assert_typed (&row, "v1", "ConfigMap");
  mm_v2_row_clear (&row);

  g_assert_true (row_of (&row, "lease", "kube-node-lease", "edge-1",
                         "{\"kind\":\"Lease\",\"metadata\":{\"name\":\"edge-1\"}}"));
  g_assert_cmpstr (row.key, ==, "/coordination.k8s.io/v1/leases/kube-node-lease/edge-1");
  g_assert_cmpstr (row.gvr, ==, "coordination.k8s.io/v1, Resource=leases");
  assert_typed (&row, "coordination.k8s.io/v1", "Lease");
  mm_v2_row_clear (&row);

  /* dynamiccontroller objects carry their own type */
  g_assert_true (row_of (&row, "deployment", "default", "web",
                         "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
                         "\"metadata\":{\"name\":\"web\",\"namespace\":\"default\"}}"));
  g_assert_cmpstr (row.key, ==, "/apps/v1/deployments/default/web");
  /* nothing to fill in: the received text itself, not a copy */
  g_assert_null (row.head);
  {
    gsize len;
    g_autoptr (GString) buf = g_string_new (NULL);
    g_assert_true (mm_v2_row_text (&row, buf, &len) == row.src);
    g_assert_cmpuint (len, ==, row.src_len);
  }
  mm_v2_row_clear (&row);
  g_assert_true (row_of (&row, "widget", "default", "w1",
                         "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\","
                         "\"metadata\":{\"name\":\"w1\"}}"));
  g_assert_cmpstr (row.key, ==, "/example.com/v1/widgets/default/w1");
  mm_v2_row_clear (&row);

  /* no kind anywhere, or a status: meta only */
  g_assert_true (row_of (&row, "widget", "default", "w1", "{\"metadata\":{\"name\":\"w1\"}}"));
  g_assert_null (row.key);
  g_assert_true (row_of (&row, "podstatus", "default", "p", "{\"metadata\":{\"name\":\"p\"}}"));
  g_assert_null (row.key);

  /* no name at all: refused */
  g_assert_false (row_of (&row, "pod", "default", NULL, "{\"metadata\":{}}"));
}

/* ---- schema ---------------------------------------------------------------- */

typedef struct {
  char *dir;
  char *path;
} Db;

static void
db_setup (Db *db, gconstpointer data)
{
  db->dir = g_dir_make_tmp ("mm-units-XXXXXX", NULL);
  db->path = g_build_filename (db->dir, "edgecore.db", NULL);
}

static void
db_teardown (Db *db, gconstpointer data)
{
  const char *suffix[] = { "", "-wal", "-shm" };
  for (gsize i = 0; i < G_N_ELEMENTS (suffix); i++)
    {
      g_autofree char *f = g_strconcat (db->path, suffix[i], NULL);
      g_unlink (f);
    }
  g_rmdir (db->dir);
  g_free (db->path);
  g_free (db->dir);
}

static void
raw_exec (const char *path, const char *sql)
{
  sqlite3 *db;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

/* Returns "col1,col2,..." of a table. */
static char *
columns (const char *path, const char *table)
{
  sqlite3 *db;
  sqlite3_stmt *st;
  GString *s = g_string_new (NULL);
  g_autofree char *sql = g_strdup_printf ("PRAGMA table_info(%s)", table);
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  while (sqlite3_step (st) == SQLITE_ROW)
    g_string_append_printf (s, "%s%s", s->len ? "," : "", sqlite3_column_text (st, 1));
  sqlite3_finalize (st);
  sqlite3_close (db);
  return g_string_free (s, FALSE);
}

static char *
query1 (const char *path, const char *sql)
{
  sqlite3 *db;
  sqlite3_stmt *st;
  char *out = NULL;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  if (sqlite3_step (st) == SQLITE_ROW)
    out = g_strdup ((const char *) sqlite3_column_text (st, 0));
  sqlite3_finalize (st);
  sqlite3_close (db);
  return out;
}

static gboolean
prepare (Db *db, char **migrated, GError **error)
{
  EcStore *store = ec_store_new (db->path, error);
  gboolean ok;
  if (!store)
    return FALSE;
  ok = mm_schema_prepare (store, migrated, error);
  ec_store_free (store);
  return ok;
}

static void
test_schema_new (Db *db, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *migrated = NULL;
  g_autofree char *meta = NULL, *v2 = NULL;
  g_assert_true (prepare (db, &migrated, &error));
  g_assert_no_error (error);
  g_assert_null (migrated);
  meta = columns (db->path, "meta");
  v2 = columns (db->path, "meta_v2");
  g_assert_cmpstr (meta, ==, "key,type,value");
  g_assert_cmpstr (v2, ==, "key,group_version_resource,namespace,name,resource_version,value");
  /* a second start leaves it alone */
  g_assert_true (prepare (db, &migrated, &error));
  g_assert_null (migrated);
}

static void
test_schema_v192 (Db *db, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *migrated = NULL, *v2 = NULL, *gvr = NULL, *rv = NULL, *meta = NULL;
  /* beego's DDL of KubeEdge v1.9.2 */
  raw_exec (db->path,
            "CREATE TABLE `meta` (`key` varchar(256) NOT NULL PRIMARY KEY, "
            "`type` varchar(32) NOT NULL DEFAULT '', `value` text NOT NULL DEFAULT '');"
            "CREATE TABLE `meta_v2` (`key` varchar(256) NOT NULL PRIMARY KEY, "
            "`groupversionresource` varchar(256) NOT NULL DEFAULT '', "
            "`namespace` varchar(256) NOT NULL DEFAULT '', `name` varchar(256) NOT NULL DEFAULT '', "
            "`resourceversion` integer unsigned NOT NULL DEFAULT 0, `value` text NOT NULL DEFAULT '');"
            "INSERT INTO meta VALUES ('default/pod/p1','pod','{\"metadata\":{\"name\":\"p1\"}}');"
            "INSERT INTO meta_v2 VALUES ('/core/v1/pods/default/p1','/v1, Resource=pods','default',"
            "'p1',42,'{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p1\"}}');");
  g_assert_true (prepare (db, &migrated, &error));
  g_assert_no_error (error);
  g_assert_nonnull (migrated);
  g_assert_nonnull (strstr (migrated, "v1.9.2"));
  v2 = columns (db->path, "meta_v2");
  g_assert_cmpstr (v2, ==, "key,group_version_resource,namespace,name,resource_version,value");
  gvr = query1 (db->path, "SELECT group_version_resource FROM meta_v2 WHERE key='/core/v1/pods/default/p1'");
  rv = query1 (db->path, "SELECT resource_version FROM meta_v2 WHERE key='/core/v1/pods/default/p1'");
  meta = query1 (db->path, "SELECT value FROM meta WHERE key='default/pod/p1'");
  g_assert_cmpstr (gvr, ==, "/v1, Resource=pods");
  g_assert_cmpstr (rv, ==, "42");
  g_assert_cmpstr (meta, ==, "{\"metadata\":{\"name\":\"p1\"}}");
}

/* v1.9.2's table after HEAD's gorm auto-migration added the new columns
 * without copying: the values are taken from the old names. */
static void
test_schema_half_migrated (Db *db, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *migrated = NULL, *gvr = NULL, *rv = NULL;
  raw_exec (db->path,
            "CREATE TABLE `meta_v2` (`key` text PRIMARY KEY, `groupversionresource` text, "
            "`namespace` text, `name` text, `resourceversion` integer, `value` text, "
            "`group_version_resource` text, `resource_version` integer);"
            "INSERT INTO meta_v2 (key,groupversionresource,namespace,name,resourceversion,value) "
            "VALUES ('/core/v1/nodes/null/e1','/v1, Resource=nodes','','e1',7,'{}');");
  g_assert_true (prepare (db, &migrated, &error));
  g_assert_no_error (error);
  g_assert_nonnull (migrated);
  gvr = query1 (db->path, "SELECT group_version_resource FROM meta_v2");
  rv = query1 (db->path, "SELECT resource_version FROM meta_v2");
  g_assert_cmpstr (gvr, ==, "/v1, Resource=nodes");
  g_assert_cmpstr (rv, ==, "7");
}

static void
test_schema_foreign (Db *db, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *count = NULL;
  raw_exec (db->path, "CREATE TABLE meta (id integer PRIMARY KEY, payload blob);"
                      "INSERT INTO meta VALUES (1, x'00');");
  g_assert_false (prepare (db, NULL, &error));
  g_assert_error (error, EC_STORE_ERROR, EC_STORE_ERROR_SCHEMA);
  g_assert_nonnull (strstr (error->message, "table meta has columns (id, payload)"));
  /* nothing of the foreign data is touched */
  count = query1 (db->path, "SELECT count(*) FROM meta");
  g_assert_cmpstr (count, ==, "1");
}

static void
test_schema_foreign_v2 (Db *db, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  raw_exec (db->path, "CREATE TABLE meta_v2 (key text PRIMARY KEY, blob_data blob, value text);");
  g_assert_false (prepare (db, NULL, &error));
  g_assert_error (error, EC_STORE_ERROR, EC_STORE_ERROR_SCHEMA);
  g_assert_nonnull (strstr (error->message, "meta_v2"));
}

static void
test_schema_not_a_db (Db *db, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_set_contents (db->path, "this is not a database, just some text"
                                      " long enough to fill a header page...........", -1, NULL));
  g_assert_false (prepare (db, NULL, &error));
  g_assert_error (error, EC_STORE_ERROR, EC_STORE_ERROR_OPEN);
  g_assert_nonnull (strstr (error->message, db->path));
}

/* The recent-id set keeps exactly the last N ids, long ones too, through
 * many wraps of its ring and index. */
static void
test_seen_window (void)
{
  MmSeen *s = mm_seen_new (100);
  g_autofree char *long_id = g_strnfill (300, 'x');

  g_assert_false (mm_seen_contains (s, "a"));
  mm_seen_add (s, long_id);
  g_assert_true (mm_seen_contains (s, long_id));
  for (guint i = 0; i < 5000; i++)
    {
      g_autofree char *id = i % 7 ? g_strdup_printf ("%08x-%u", g_str_hash (long_id) ^ i, i)
                                  : g_strdup_printf ("%u-%s", i, long_id);
      mm_seen_add (s, id);
      mm_seen_add (s, id);   /* twice: kept once */
      g_assert_true (mm_seen_contains (s, id));
      g_assert_cmpuint (mm_seen_size (s), ==, MIN (i + 2, 100));
      if (i >= 100)
        {
          guint j = i - 100;   /* forgotten */
          g_autofree char *old = j % 7 ? g_strdup_printf ("%08x-%u", g_str_hash (long_id) ^ j, j)
                                       : g_strdup_printf ("%u-%s", j, long_id);
          g_assert_false (mm_seen_contains (s, old));
        }
      if (i >= 99)
        {
          guint j = i - 99;    /* the oldest kept */
          g_autofree char *kept = j % 7 ? g_strdup_printf ("%08x-%u", g_str_hash (long_id) ^ j, j)
                                        : g_strdup_printf ("%u-%s", j, long_id);
          g_assert_true (mm_seen_contains (s, kept));
        }
    }
  g_assert_false (mm_seen_contains (s, long_id));
  mm_seen_free (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metamanager/scan/pod", test_scan_pod);
  g_test_add_func ("/metamanager/seen/window", test_seen_window);
  g_test_add_func ("/metamanager/scan/escapes", test_scan_escapes);
  g_test_add_func ("/metamanager/scan/bad", test_scan_bad);
  g_test_add_func ("/metamanager/scan/strings", test_json_strings);
  g_test_add_func ("/metamanager/resource/parse", test_resource_parse);
  g_test_add_func ("/metamanager/resource/kind-to-resource", test_kind_to_resource);
  g_test_add_func ("/metamanager/resource/v2-rows", test_v2_rows);
  g_test_add ("/metamanager/schema/new", Db, NULL, db_setup, test_schema_new, db_teardown);
  g_test_add ("/metamanager/schema/v1.9.2", Db, NULL, db_setup, test_schema_v192, db_teardown);
  g_test_add ("/metamanager/schema/half-migrated", Db, NULL, db_setup, test_schema_half_migrated,
              db_teardown);
  g_test_add ("/metamanager/schema/foreign-meta", Db, NULL, db_setup, test_schema_foreign,
              db_teardown);
  g_test_add ("/metamanager/schema/foreign-meta-v2", Db, NULL, db_setup, test_schema_foreign_v2,
              db_teardown);
  g_test_add ("/metamanager/schema/not-a-database", Db, NULL, db_setup, test_schema_not_a_db,
              db_teardown);
  return g_test_run ();
}
