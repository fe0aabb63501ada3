/* test-context.c: what a plugin reads from its context: config keys with
 * their declared types, the shared sections, logging and its rate limit. */
#include "config.h"

#include "ec-host-private.h"

#include <string.h>

static GPtrArray *logged;

static GLogWriterOutput
capture (GLogLevelFlags level, const GLogField *fields, gsize n, gpointer data)
{
  for (gsize i = 0; i < n; i++)
    if (strcmp (fields[i].key, "MESSAGE") == 0)
      g_ptr_array_add (logged, g_strdup (fields[i].value));
  return G_LOG_WRITER_HANDLED;
}

static const EcConfigKey keys[] = {
  { EC_CONFIG_STRING, 0, "name", "x", "" },
  { EC_CONFIG_INT, 0, "count", "3", "" },
  { EC_CONFIG_BOOL, 0, "on", "true", "" },
  { EC_CONFIG_DOUBLE, 0, "ratio", "0.5", "" },
  { EC_CONFIG_STRING_LIST, 0, "dirs", "a;b", "" },
};

static EcPluginContext *
make_context (GKeyFile *kf)
{
  EcPluginContext *ctx = g_new0 (EcPluginContext, 1);
  ctx->name = "plug";
  ctx->log_domain = "plug";
  ctx->node_name = "edge-1";
  ctx->config = kf;
  ctx->keys = keys;
  ctx->n_keys = G_N_ELEMENTS (keys);
  ctx->log_threshold = G_LOG_LEVEL_INFO;
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    g_key_file_set_value (kf, "plug", keys[i].name, keys[i].default_value);
  g_key_file_set_value (kf, "database", "data-source", "/tmp/x.db");
  return ctx;
}

static void
test_getters (void)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autofree EcPluginContext *ctx = make_context (kf);
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
  g_autofree EcPluginContext *ctx = make_context (kf);
  EcLogLimit limit = EC_LOG_LIMIT_INIT (3600);
  logged = g_ptr_array_new_with_free_func (g_free);
  g_log_set_writer_func (capture, NULL, NULL);
  for (int i = 0; i < 100; i++)
    ec_plugin_context_log_limited (ctx, &limit, G_LOG_LEVEL_WARNING, "bad input %d", i);
  ec_log_debug (ctx, "below the threshold");
  g_assert_cmpuint (logged->len, ==, 1);
  g_assert_cmpstr (logged->pdata[0], ==, "bad input 0");
  g_assert_cmpuint (limit.suppressed, ==, 99);
  limit.last_us -= limit.interval_us;  /* the interval has passed */
  ec_plugin_context_log_limited (ctx, &limit, G_LOG_LEVEL_WARNING, "bad input %d", 100);
  g_assert_cmpuint (logged->len, ==, 2);
  g_assert_cmpstr (logged->pdata[1], ==, "bad input 100 (99 similar messages suppressed)");
  g_ptr_array_unref (logged);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/context/getters", test_getters);
  g_test_add_func ("/context/log-limited", test_log_limited);
  return g_test_run ();
}
