/* test-confd.c: conf.d precedence, masking, merging and file:line errors. */
#include "config.h"

#include "confd.h"
#include "plugin-loader.h"

#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  char *root;
  char *vendor, *run, *etc;
} Dirs;

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
}

static void
dirs_setup (Dirs *d, gconstpointer unused)
{
  d->root = g_dir_make_tmp ("ec-confd-XXXXXX", NULL);
  d->vendor = g_build_filename (d->root, "vendor", NULL);
  d->run = g_build_filename (d->root, "run", NULL);
  d->etc = g_build_filename (d->root, "etc", NULL);
  g_mkdir (d->vendor, 0755);
  g_mkdir (d->run, 0755);
  g_mkdir (d->etc, 0755);
}

static void
rm_rf (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
dirs_teardown (Dirs *d, gconstpointer unused)
{
  rm_rf (d->root);
  g_free (d->root);
  g_free (d->vendor);
  g_free (d->run);
  g_free (d->etc);
}

static EcConfig *
load (Dirs *d)
{
  const char *dirs[] = { d->vendor, d->run, d->etc, NULL };
  EcConfig *c = ec_config_new ();
  ec_config_load_dirs (c, dirs);
  return c;
}

static const EcDiag *
find_diag (EcConfig *c, const char *needle)
{
  GPtrArray *diags = ec_config_get_diags (c);
  for (guint i = 0; i < diags->len; i++)
    {
      EcDiag *diag = diags->pdata[i];
      if (strstr (diag->text, needle))
        return diag;
    }
  return NULL;
}

static void
test_merge_order (Dirs *d, gconstpointer unused)
{
  g_autoptr (GError) error = NULL;
  EcConfig *c;
  const char *file;
  int line;
  write_file (d->vendor, "10-a.conf", "[edgehub]\nenable=true\nheartbeat=15\nproject-id=v\n");
  write_file (d->etc, "20-b.conf", "# local\n\n[edgehub]\nheartbeat=30\n");
  write_file (d->vendor, "30-c.conf", "[edgehub]\nproject-id=late\n");
  c = load (d);
  GKeyFile *kf = ec_config_get_keyfile (c);
  /* filename order across directories: 30-c (vendor) comes after 20-b (etc) */
  g_assert_cmpint (g_key_file_get_integer (kf, "edgehub", "heartbeat", NULL), ==, 30);
  g_assert_true (g_key_file_get_boolean (kf, "edgehub", "enable", NULL));
  g_autofree char *pid = g_key_file_get_string (kf, "edgehub", "project-id", &error);
  g_assert_cmpstr (pid, ==, "late");
  g_assert_true (ec_config_locate (c, "edgehub", "heartbeat", &file, &line));
  g_assert_true (g_str_has_suffix (file, "etc/20-b.conf"));
  g_assert_cmpint (line, ==, 4);
  g_assert_false (ec_config_has_errors (c));
  ec_config_free (c);
}

static void
test_shadow_and_mask (Dirs *d, gconstpointer unused)
{
  g_autofree char *masked = g_build_filename (d->etc, "50-masked.conf", NULL);
  EcConfig *c;
  write_file (d->vendor, "40-x.conf", "[s]\nk=vendor\nonly-vendor=1\n");
  write_file (d->run, "40-x.conf", "[s]\nk=run\n");
  write_file (d->vendor, "50-masked.conf", "[s]\nmasked=yes\n");
  g_assert_cmpint (symlink ("/dev/null", masked), ==, 0);
  write_file (d->vendor, "README", "[s]\nnot-a-conf=1\n");
  c = load (d);
  GKeyFile *kf = ec_config_get_keyfile (c);
  g_autofree char *k = g_key_file_get_string (kf, "s", "k", NULL);
  g_assert_cmpstr (k, ==, "run");                                   /* shadowed */
  g_assert_false (g_key_file_has_key (kf, "s", "only-vendor", NULL)); /* whole file */
  g_assert_false (g_key_file_has_key (kf, "s", "masked", NULL));
  g_assert_false (g_key_file_has_key (kf, "s", "not-a-conf", NULL));
  g_assert_cmpuint (ec_config_get_files (c)->len, ==, 1);
  ec_config_free (c);
}

static void
test_syntax_error_line (Dirs *d, gconstpointer unused)
{
  EcConfig *c;
  const EcDiag *diag;
  g_autofree char *text = NULL;
  write_file (d->etc, "10-good.conf", "[core]\nlog-level=debug\n");
  write_file (d->etc, "20-bad.conf", "[edged]\nenable=true\nthis line is wrong\n");
  write_file (d->etc, "30-bad.conf", "orphan=1\n");
  write_file (d->etc, "40-bad.conf", "[broken\n");
  c = load (d);
  g_assert_true (ec_config_has_errors (c));
  diag = find_diag (c, "this line is wrong");
  g_assert_nonnull (diag);
  g_assert_true (g_str_has_suffix (diag->file, "20-bad.conf"));
  g_assert_cmpint (diag->line, ==, 3);
  text = ec_diag_format (diag);
  g_assert_true (g_str_has_suffix (text, "20-bad.conf:3: error: “this line is wrong” is not a key=value pair, a [section] or a # comment"));
  diag = find_diag (c, "before any [section]");
  g_assert_cmpint (diag->line, ==, 1);
  diag = find_diag (c, "malformed section");
  g_assert_cmpint (diag->line, ==, 1);
  /* the bad files are ignored as a whole; the good one still counts */
  GKeyFile *kf = ec_config_get_keyfile (c);
  g_autofree char *lvl = g_key_file_get_string (kf, "core", "log-level", NULL);
  g_assert_cmpstr (lvl, ==, "debug");
  g_assert_false (g_key_file_has_group (kf, "edged"));
  ec_config_free (c);
}

static const EcConfigKey keys[] = {
  { EC_CONFIG_BOOL, 0, "enable", "false", "" },
  { EC_CONFIG_INT, 0, "heartbeat", "15", "" },
  { EC_CONFIG_STRING, EC_CONFIG_FLAG_REQUIRED, "token", NULL, "" },
  { EC_CONFIG_STRING_LIST, 0, "dirs", "", "" },
  { EC_CONFIG_DOUBLE, 0, "ratio", "0.5", "" },
};

static void
test_validate (Dirs *d, gconstpointer unused)
{
  EcConfig *c;
  const EcDiag *diag;
  g_autofree char *dump = NULL;
  write_file (d->etc, "10-hub.conf", "[hub]\nenable=true\nheartbeat=fifteen\nratio=x\nbogus=1\n");
  c = load (d);
  ec_config_apply_defaults (c, "hub", keys, G_N_ELEMENTS (keys));
  g_assert_false (ec_config_validate_section (c, "hub", keys, G_N_ELEMENTS (keys), TRUE));
  diag = find_diag (c, "heartbeat=fifteen");
  g_assert_nonnull (diag);
  g_assert_cmpint (diag->level, ==, EC_DIAG_ERROR);
  g_assert_cmpint (diag->line, ==, 3);
  g_assert_nonnull (strstr (diag->text, "expected an integer"));
  g_assert_cmpint (find_diag (c, "ratio=x")->line, ==, 4);
  diag = find_diag (c, "unknown key “bogus”");
  g_assert_cmpint (diag->level, ==, EC_DIAG_WARNING);
  g_assert_cmpint (diag->line, ==, 5);
  diag = find_diag (c, "required key “token”");
  g_assert_nonnull (diag);
  g_assert_cmpint (diag->line, ==, 1);   /* the [hub] header */
  g_assert_true (g_str_has_suffix (diag->file, "10-hub.conf"));

  dump = ec_config_dump (c);
  g_assert_nonnull (strstr (dump, "10-hub.conf:2\nenable=true\n"));
  g_assert_nonnull (strstr (dump, "# default\ndirs=\n"));
  ec_config_free (c);
}

static void
test_disabled_needs_nothing (Dirs *d, gconstpointer unused)
{
  EcConfig *c;
  write_file (d->etc, "10-hub.conf", "[hub]\nenable=false\n");
  c = load (d);
  ec_config_apply_defaults (c, "hub", keys, G_N_ELEMENTS (keys));
  g_assert_true (ec_config_validate_section (c, "hub", keys, G_N_ELEMENTS (keys), FALSE));
  g_assert_false (ec_config_has_errors (c));
  ec_config_free (c);
}

static void
test_unknown_section (Dirs *d, gconstpointer unused)
{
  EcConfig *c;
  g_autoptr (GHashTable) known = g_hash_table_new (g_str_hash, g_str_equal);
  const EcDiag *diag;
  write_file (d->etc, "10-x.conf", "[core]\n\n[edgehubb]\nenable=true\n");
  c = load (d);
  g_hash_table_add (known, "core");
  ec_config_warn_unknown_sections (c, known);
  diag = find_diag (c, "unknown section [edgehubb]");
  g_assert_nonnull (diag);
  g_assert_cmpint (diag->line, ==, 3);
  g_assert_cmpint (diag->level, ==, EC_DIAG_WARNING);
  ec_config_free (c);
}

/* A declared key of a type the host does not know is refused, with or
 * without a default; a BOM before the first line is not an error. */
static void
test_key_types_and_bom (Dirs *d, gconstpointer unused)
{
  EcConfigKey decl[] = {
    { EC_CONFIG_INT, 0, "good", "1", "fine" },
    { (EcConfigType) 42, 0, "odd", NULL, "unknown type, no default" },
  };
  g_autofree char *why = NULL;
  g_autofree char *value = NULL;
  EcConfig *c;

  g_assert_true (ec_plugin_check_keys (decl, 1, &why));
  g_assert_false (ec_plugin_check_keys (decl, 2, &why));
  g_assert_nonnull (strstr (why, "“odd” has an unknown type 42"));

  write_file (d->etc, "10-bom.conf", "\xEF\xBB\xBF[hub]\r\nheartbeat=30\r\n");
  c = load (d);
  g_assert_false (ec_config_has_errors (c));
  value = g_key_file_get_value (ec_config_get_keyfile (c), "hub", "heartbeat", NULL);
  g_assert_cmpstr (value, ==, "30");
  ec_config_free (c);
}

static void
test_ranges_and_names (Dirs *d, gconstpointer unused)
{
  static const char *const good[] = { "a", "edge-1", "node.example.com", "0node9", "a-b.c-d", NULL };
  static const char *const bad[] = { "", "Edge", "-a", "a-", "a..b", "a.-b", "a_b", ".a", "a.", "é", NULL };
  g_autofree char *longest = g_strnfill (253, 'a');
  g_autofree char *too_long = g_strnfill (254, 'a');
  g_autofree char *missing = g_build_filename (d->root, "nope", NULL);
  g_autofree char *file = g_build_filename (d->root, "plain", NULL);
  const char *dirs[] = { d->etc, missing, file, NULL };
  EcConfig *c;
  const EcDiag *diag;

  for (guint i = 0; good[i]; i++)
    g_assert_true (ec_is_dns_subdomain (good[i]));
  for (guint i = 0; bad[i]; i++)
    g_assert_false (ec_is_dns_subdomain (bad[i]));
  g_assert_true (ec_is_dns_subdomain (longest));
  g_assert_false (ec_is_dns_subdomain (too_long));
  g_assert_false (ec_is_dns_subdomain (NULL));

  /* directories named by the operator must exist */
  write_file (d->root, "plain", "");
  c = ec_config_new ();
  g_assert_true (ec_config_check_dirs (c, (const char *const[]) { d->etc, NULL }));
  g_assert_false (ec_config_has_errors (c));
  g_assert_false (ec_config_check_dirs (c, dirs));
  diag = find_diag (c, "no such directory");
  g_assert_nonnull (diag);
  g_assert_cmpstr (diag->file, ==, missing);
  diag = find_diag (c, "not a directory");
  g_assert_nonnull (diag);
  g_assert_cmpstr (diag->file, ==, file);
  ec_config_free (c);

  /* a value out of range, and a bad node name, at their file:line */
  write_file (d->etc, "10-core.conf", "[core]\n# a comment\nbus-queue-length=0\nnode-name=Edge_1\n");
  c = load (d);
  g_assert_false (ec_config_check_int_range (c, "core", "bus-queue-length", 1, 1 << 20));
  g_assert_false (ec_config_check_node_name (c, "core", "node-name"));
  diag = find_diag (c, "bus-queue-length=0: expected an integer from 1 to 1048576");
  g_assert_nonnull (diag);
  g_assert_cmpint (diag->line, ==, 3);
  diag = find_diag (c, "node-name=Edge_1: not a valid node name");
  g_assert_nonnull (diag);
  g_assert_cmpint (diag->line, ==, 4);
  g_assert_true (g_str_has_suffix (diag->file, "10-core.conf"));
  ec_config_free (c);

  /* in range, valid, not an integer (reported elsewhere), or a default: no error */
  write_file (d->etc, "10-core.conf", "[core]\nbus-queue-length=1048576\nnode-name=edge-1\nother=x\n");
  c = load (d);
  g_assert_true (ec_config_check_int_range (c, "core", "bus-queue-length", 1, 1 << 20));
  g_assert_true (ec_config_check_int_range (c, "core", "other", 1, 2));
  g_assert_true (ec_config_check_int_range (c, "core", "unset", 1, 2));
  g_assert_true (ec_config_check_node_name (c, "core", "node-name"));
  g_assert_false (ec_config_has_errors (c));
  ec_config_free (c);
  write_file (d->etc, "10-core.conf", "[core]\nbus-queue-length=1048577\n");
  c = load (d);
  g_assert_false (ec_config_check_int_range (c, "core", "bus-queue-length", 1, 1 << 20));
  ec_config_free (c);

  /* a NUL byte is refused as a whole, not read up to it */
  c = ec_config_new ();
  ec_config_load_data (c, "nul.conf", "[core]\nnode-name=a\0b\n", 21);
  g_assert_nonnull (find_diag (c, "NUL byte"));
  g_assert_null (g_key_file_get_value (ec_config_get_keyfile (c), "core", "node-name", NULL));
  ec_config_free (c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add ("/confd/" path, Dirs, NULL, dirs_setup, fn, dirs_teardown)
  ADD ("merge-order", test_merge_order);
  ADD ("shadow-and-mask", test_shadow_and_mask);
  ADD ("syntax-error-line", test_syntax_error_line);
  ADD ("validate", test_validate);
  ADD ("disabled-needs-nothing", test_disabled_needs_nothing);
  ADD ("unknown-section", test_unknown_section);
  ADD ("key-types-and-bom", test_key_types_and_bom);
  ADD ("ranges-and-names", test_ranges_and_names);
  return g_test_run ();
}
