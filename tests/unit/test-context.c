/* test-context.c: what a plugin reads from its context: config keys with
 * their declared types, the shared sections, logging and its rate limit;
 * the context as the host builds it (ec-host-api.h), its cancellable and
 * the start-up check between host and library. */
#include "config.h"

#include "ec-host-api.h"

#include <string.h>

static GPtrArray *logged;
static char *logged_plugin;   /* EDGECORE_PLUGIN of the last line */

static GLogWriterOutput
capture (GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
  for (gsize i = 0; logged && i < n; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0)
      g_ptr_array_add (logged, g_strdup (fields[i].value));
    else if (logged && strcmp (fields[i].key, "EDGECORE_PLUGIN") == 0)
      {
        g_free (logged_plugin);
        logged_plugin = g_strdup (fields[i].value);
      }
  return G_LOG_WRITER_HANDLED;
}

static const EcConfigKey keys[] = {
  { EC_CONFIG_STRING, 0, "name", "x", "" },
  { EC_CONFIG_INT, 0, "count", "3", "" },
  { EC_CONFIG_BOOL, 0, "on", "true", "" },
  { EC_CONFIG_DOUBLE, 0, "ratio", "0.5", "" },
  { EC_CONFIG_STRING_LIST, 0, "dirs", "a;b", "" },
};

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcPluginContext, ec_host_context_free)

static EcPluginContext *
make_context (GKeyFile *kf)
{
  EcPluginContext *ctx = ec_host_context_new ("plug", NULL);
  ec_host_context_set_node (ctx, "edge-1", "/tmp");
  ec_host_context_set_config (ctx, kf, keys, G_N_ELEMENTS (keys));
  ec_host_context_set_log_threshold (ctx, G_LOG_LEVEL_INFO);
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    g_key_file_set_value (kf, "plug", keys[i].name, keys[i].default_value);
  g_key_file_set_value (kf, "database", "data-source", "/tmp/x.db");
  return ctx;
}

static void
test_getters (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (EcPluginContext) ctx = make_context (kf);
  g_autofree char *name = ec_plugin_context_get_string (ctx, "name");
  g_auto (GStrv) dirs = ec_plugin_context_get_string_list (ctx, "dirs");
  g_autofree char *ds = ec_plugin_context_get_global (ctx, "database", "data-source");
  g_assert_cmpstr (name, ==, "x");
  g_assert_cmpint (ec_plugin_context_get_int (ctx, "count"), ==, 3);
  g_assert_true (ec_plugin_context_get_bool (ctx, "on"));
  g_assert_cmpfloat (ec_plugin_context_get_double (ctx, "ratio"), ==, 0.5);
  g_assert_cmpstr (dirs[1], ==, "b");
  g_assert_cmpstr (ds, ==, "/tmp/x.db");
  g_assert_cmpstr (ec_plugin_context_get_node_name (ctx), ==, "edge-1");
  g_assert_cmpstr (ec_plugin_context_get_data_dir (ctx), ==, "/tmp");
  g_assert_cmpstr (ec_plugin_context_get_name (ctx), ==, "plug");
  g_assert_cmpstr (ec_plugin_context_get_log_domain (ctx), ==, "plug");
  g_assert_null (ec_plugin_context_get_endpoint (ctx));
  if (g_test_undefined ())
    {
      g_test_expect_message ("edgecore", G_LOG_LEVEL_CRITICAL, "*did not declare*");
      g_free (ec_plugin_context_get_string (ctx, "undeclared"));
      g_test_assert_expected_messages ();
    }
}

static void
test_log_limited (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (EcPluginContext) ctx = make_context (kf);
  EcLogLimit limit = EC_LOG_LIMIT_INIT (3600);
  logged = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < 100; i++)
    ec_plugin_context_log_limited (ctx, &limit, G_LOG_LEVEL_WARNING, "bad input %d", i);
  ec_log_debug (ctx, "below the threshold");
  g_assert_cmpuint (logged->len, ==, 1);
  g_assert_cmpstr (logged->pdata[0], ==, "bad input 0");
  /* the plugin's name is a field of its own (before MESSAGE, else
   * g_log_structured() takes it for a format argument) */
  g_assert_cmpstr (logged_plugin, ==, ec_plugin_context_get_name (ctx));
  g_clear_pointer (&logged_plugin, g_free);
  g_assert_cmpuint (limit.suppressed, ==, 99);
  limit.last_us -= limit.interval_us;  /* the interval has passed */
  ec_plugin_context_log_limited (ctx, &limit, G_LOG_LEVEL_WARNING, "bad input %d", 100);
  g_assert_cmpuint (logged->len, ==, 2);
  g_assert_cmpstr (logged->pdata[1], ==, "bad input 100 (99 similar messages suppressed)");
  g_clear_pointer (&logged, g_ptr_array_unref);
}

/* A plugin built for ABI 1.0 has no struct_size: its EcLogLimit ends at
 * suppressed, and the padding the 1.1 field took reads as 0. */
typedef struct {
  gint64 interval_us;
  gint64 last_us;
  guint  suppressed;
} LogLimit10;

static void
test_log_limited_1_0 (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (EcPluginContext) ctx = make_context (kf);
  static LogLimit10 old = { (gint64) 3600 * G_USEC_PER_SEC, 0, 0 };
  EcLogLimit now = EC_LOG_LIMIT_INIT (1);
  g_assert_cmpuint (sizeof (LogLimit10), ==, sizeof (EcLogLimit));
  g_assert_cmpuint (now.struct_size, ==, sizeof (EcLogLimit));
  g_assert_cmpuint (((EcLogLimit *) &old)->struct_size, ==, 0);
  logged = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; i < 10; i++)
    ec_plugin_context_log_limited (ctx, (EcLogLimit *) &old, G_LOG_LEVEL_WARNING, "old %d", i);
  g_assert_cmpuint (logged->len, ==, 1);
  g_assert_cmpuint (old.suppressed, ==, 9);
  g_clear_pointer (&logged, g_ptr_array_unref);
}

static void
test_host_abi (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (EcPluginContext) ctx = make_context (kf);
  g_assert_cmpuint (ec_plugin_context_get_host_abi_minor (ctx), ==, EC_PLUGIN_ABI_MINOR);
  ec_host_context_set_host_abi (ctx, 0);
  g_assert_cmpuint (ec_plugin_context_get_host_abi_minor (ctx), ==, 0);
}

static void
test_cancellable (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  EcPluginContext *ctx = make_context (kf);
  GCancellable *c = ec_plugin_context_get_cancellable (ctx);
  g_autoptr (GCancellable) kept = g_object_ref (c);
  g_assert_true (G_IS_CANCELLABLE (c));
  g_assert_false (g_cancellable_is_cancelled (c));
  ec_host_context_cancel (ctx);
  g_assert_true (g_cancellable_is_cancelled (c));
  ec_host_context_free (ctx);
  g_assert_true (g_cancellable_is_cancelled (kept));
}

/* The host's versions against the library's: equal fits, an older host
 * minor fits (the library has all it needs), anything else is refused
 * with both versions and the library's file in the message. */
static void
test_check_library (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (ec_host_check_library (EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR,
                                        EC_HOST_INTERFACE, EC_VERSION, &error));
  g_assert_no_error (error);
  g_assert_true (ec_host_check_library (EC_PLUGIN_ABI_MAJOR, 0, EC_HOST_INTERFACE, "x", NULL));
  g_assert_false (ec_host_check_library (EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR + 1,
                                         EC_HOST_INTERFACE, "9.9.9", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  {
    g_autofree char *host = g_strdup_printf ("edgecore 9.9.9 was built for libedgecore-1 with plugin ABI %d.%d",
                                             EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR + 1);
    g_autofree char *lib = g_strdup_printf ("is %s with plugin ABI %d.%d", EC_VERSION,
                                            EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR);
    g_assert_nonnull (strstr (error->message, host));
    g_assert_nonnull (strstr (error->message, lib));
    g_assert_nonnull (strstr (error->message, "libedgecore-1.so"));
  }
  g_clear_error (&error);
  g_assert_false (ec_host_check_library (EC_PLUGIN_ABI_MAJOR + 1, 0, EC_HOST_INTERFACE, "x", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_false (ec_host_check_library (EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR,
                                         EC_HOST_INTERFACE + 1, "x", &error));
  {
    /* the library's own interface, named after the host's */
    g_autofree char *lib = g_strdup_printf ("(host interface %d); install", EC_HOST_INTERFACE);
    g_assert_nonnull (strstr (error->message, lib));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (capture, NULL, NULL);
  g_test_add_func ("/context/getters", test_getters);
  g_test_add_func ("/context/log-limited", test_log_limited);
  g_test_add_func ("/context/log-limited-1.0", test_log_limited_1_0);
  g_test_add_func ("/context/host-abi", test_host_abi);
  g_test_add_func ("/context/cancellable", test_cancellable);
  g_test_add_func ("/context/check-library", test_check_library);
  return g_test_run ();
}
