/* test-volumes-units.c: edged's volume writer (kubelet's atomic layout,
 * path checks) and the registry credential matching of imagePullSecrets. */
#include "pod-objects.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static void
test_path_check (void)
{
  const char *good[] = { "a", "dir/a.txt", "a..b", ".hidden", "x/.y/z" };
  const char *bad[][2] = {
    { "x/../../evil", "must not contain '..'" },
    { "/etc/passwd", "must be relative path" },
    { "..evil", "must not start with '..'" },
    { "..", "must not start with '..'" },
    { "", "must not be empty" },
  };
  g_autofree char *long_element = g_strnfill (256, 'a');

  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (edged_volume_path_check (good[i], NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (edged_volume_path_check (bad[i][0], &error));
      g_assert_nonnull (strstr (error->message, bad[i][1]));
    }
  g_assert_false (edged_volume_path_check (long_element, NULL));
}

static void
add (GPtrArray *payload, const char *path, const char *text, guint mode)
{
  g_autoptr (GBytes) b = g_bytes_new (text, strlen (text));
  edged_volume_payload_add (payload, path, b, mode);
}

static void
assert_file (const char *dir, const char *name, const char *expected)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (p, &text, NULL, NULL));
  g_assert_cmpstr (text, ==, expected);
}

static char *
link_of (const char *dir, const char *name)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  return g_file_read_link (p, NULL);
}

static gboolean
exists (const char *dir, const char *name)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  return g_file_test (p, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK);
}

static guint
mode_of (const char *dir, const char *name)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  struct stat st;
  g_assert_cmpint (stat (p, &st), ==, 0);
  return st.st_mode & 07777;
}

static void
test_atomic_writer (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("ec-vol-XXXXXX", NULL);
  g_autofree char *dir = g_build_filename (tmp, "vol", NULL);
  g_autoptr (GPtrArray) one = edged_volume_payload_new ();
  g_autoptr (GPtrArray) two = edged_volume_payload_new ();
  g_autoptr (GPtrArray) bad = edged_volume_payload_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *first = NULL, *second = NULL, *old_dir = NULL, *link = NULL;
  gboolean changed = FALSE;

  add (one, "a", "alpha", 0644);
  add (one, "dir/b.txt", "beta", 0600);
  add (one, "gone", "x", 0644);
  g_assert_true (edged_volume_write (dir, one, &changed, &error));
  g_assert_no_error (error);
  g_assert_true (changed);
  first = link_of (dir, "..data");
  g_assert_nonnull (first);
  g_assert_true (g_str_has_prefix (first, ".."));
  link = link_of (dir, "dir");
  g_assert_cmpstr (link, ==, "..data/dir");
  assert_file (dir, "a", "alpha");
  assert_file (dir, "dir/b.txt", "beta");
  g_assert_cmpuint (mode_of (dir, "dir/b.txt"), ==, 0600);
  g_assert_cmpuint (mode_of (dir, "a"), ==, 0644);

  /* the same payload: nothing written */
  g_assert_true (edged_volume_write (dir, one, &changed, &error));
  g_assert_false (changed);
  second = link_of (dir, "..data");
  g_assert_cmpstr (first, ==, second);

  /* a new version: swapped, the old one and the names it alone had gone */
  add (two, "a", "alpha2", 0400);
  add (two, "dir/b.txt", "beta", 0600);
  g_assert_true (edged_volume_write (dir, two, &changed, &error));
  g_assert_true (changed);
  g_free (second);
  second = link_of (dir, "..data");
  g_assert_cmpstr (first, !=, second);
  old_dir = g_build_filename (dir, first, NULL);
  g_assert_false (g_file_test (old_dir, G_FILE_TEST_EXISTS));
  g_assert_false (exists (dir, "gone"));
  assert_file (dir, "a", "alpha2");
  g_assert_cmpuint (mode_of (dir, "a"), ==, 0400);

  /* a bad path: refused, what was there stays */
  add (bad, "../evil", "x", 0644);
  g_assert_false (edged_volume_write (dir, bad, &changed, &error));
  g_assert_nonnull (strstr (error->message, "must not start with '..'"));
  assert_file (dir, "a", "alpha2");

  g_assert_true (edged_remove_tree (tmp, NULL));
  g_assert_false (g_file_test (tmp, G_FILE_TEST_EXISTS));
}

static char *
config (const char *json)
{
  return g_strdup (json);
}

static void
check_auth (const char *json, gboolean legacy, const char *image, const char *user, const char *pass)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (Runtime__V1__AuthConfig) auth = edged_docker_config_lookup (json, strlen (json), legacy,
                                                                          image, &error);
  g_assert_no_error (error);
  if (!user)
    {
      g_assert_null (auth);
      return;
    }
  g_assert_nonnull (auth);
  g_assert_cmpstr (auth->username, ==, user);
  g_assert_cmpstr (auth->password, ==, pass);
  /* as kubelet: no server address, the runtime uses them for the image's registry */
  g_assert_true (auth->server_address == NULL || !*auth->server_address);
}

static void
test_docker_config (void)
{
  g_autofree char *auth_robot = g_base64_encode ((const guchar *) "robot:pa:55", 11);
  g_autofree char *cfg = g_strdup_printf (
    "{\"auths\":{"
    "\"registry.example.com\":{\"username\":\"plain\",\"password\":\"p1\"},"
    "\"https://registry.example.com/team/\":{\"auth\":\"%s\"},"
    "\"*.glob.example.com\":{\"username\":\"globbed\",\"password\":\"g\"},"
    "\"registry.example.com:5000\":{\"username\":\"port\",\"password\":\"5000\"},"
    "\"https://index.docker.io/v1/\":{\"username\":\"hub\",\"password\":\"h\"}}}", auth_robot);
  g_autofree char *legacy = config ("{\"old.example.com\":{\"username\":\"old\",\"password\":\"o\"}}");
  g_autoptr (GError) error = NULL;
  Runtime__V1__AuthConfig *none;

  /* the most specific key wins; "auth" gives user and password */
  check_auth (cfg, FALSE, "registry.example.com/team/app:1", "robot", "pa:55");
  check_auth (cfg, FALSE, "registry.example.com/other/app:1", "plain", "p1");
  check_auth (cfg, FALSE, "a.glob.example.com/x:1", "globbed", "g");
  check_auth (cfg, FALSE, "a.b.glob.example.com/x:1", NULL, NULL);   /* a glob is one element */
  check_auth (cfg, FALSE, "registry.example.com:5000/x:1", "port", "5000");
  check_auth (cfg, FALSE, "registry.example.com:5001/x:1", NULL, NULL);
  /* Docker Hub's key serves images without a registry */
  check_auth (cfg, FALSE, "busybox", "hub", "h");
  check_auth (cfg, FALSE, "library/nginx:1.25", "hub", "h");
  check_auth (cfg, FALSE, "docker.io/library/nginx", "hub", "h");
  check_auth (cfg, FALSE, "elsewhere.io/x", NULL, NULL);
  /* .dockercfg: registries at the top level */
  check_auth (legacy, TRUE, "old.example.com/x:1", "old", "o");
  /* bad input: an error, no credentials */
  none = edged_docker_config_lookup ("{\"auths\":", 9, FALSE, "x", &error);
  g_assert_null (none);
  g_assert_nonnull (error);
  g_clear_error (&error);
  /* not base64 inside "auth": no user, no crash */
  none = edged_docker_config_lookup ("{\"auths\":{\"r.io\":{\"auth\":\"***\"}}}", 33, FALSE, "r.io/x", &error);
  g_assert_no_error (error);
  edged_auth_free (none);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edged/volumes/path-check", test_path_check);
  g_test_add_func ("/edged/volumes/atomic-writer", test_atomic_writer);
  g_test_add_func ("/edged/pull-secrets/docker-config", test_docker_config);
  return g_test_run ();
}
