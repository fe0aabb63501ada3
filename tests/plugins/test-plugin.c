/* test-plugin.c: a plugin for the host's tests, built in several variants
 * (name, version, ABI, dependencies) from compiler flags. Its behaviour is
 * set from its config section:
 *   answer=TEXT      content of its replies to sync calls
 *   fail-init=true   init fails
 *   fail-start=true  start fails
 *   stop-sleep=N     stop takes N seconds
 *   store-on-stop=true  stop queues two slow store writes: one as a 1.0
 *                    plugin does (its callback logs "legacy write done"
 *                    and must run before free), one with the plugin's
 *                    cancellable (its callback must never run); free logs
 *                    "freed"
 * It logs "<name>: started" and "<name>: stopped" so tests see the order, and
 * it sends an "echo" message back to its sender's module.
 *
 * -DTP_ABI_1_0 builds it as a plugin of ABI 1.0 would be: its descriptor
 * has the 1.0 layout (no min_host_abi_minor, struct_size of 1.0, abi_minor
 * 0) and it calls no function newer than 1.0. -DTP_MIN_HOST_MINOR=N sets
 * min_host_abi_minor (ABI 1.1 negotiation). */
#include <edgecore.h>
#include <unistd.h>

#ifndef TP_NAME
#define TP_NAME "alpha"
#endif
#ifndef TP_VERSION
#define TP_VERSION "1.0"
#endif
#ifndef TP_ABI_MAJOR
#define TP_ABI_MAJOR EC_PLUGIN_ABI_MAJOR
#endif
#ifndef TP_ABI_MINOR
#define TP_ABI_MINOR EC_PLUGIN_ABI_MINOR
#endif
#ifndef TP_BUS_NAME
#define TP_BUS_NAME TP_NAME
#endif
#ifndef TP_DEFAULT_STOP_SLEEP
#define TP_DEFAULT_STOP_SLEEP "0"
#endif

#ifndef TP_NO_DESCRIPTOR
typedef struct {
  EcPluginContext *ctx;
  char            *answer;
  gint64           stop_sleep;
  gboolean         fail_start;
  gboolean         store_on_stop;
  gboolean         freed;
} TestPlugin;

#ifndef TP_ABI_1_0
static gboolean
tp_slow_write (sqlite3 *db, gpointer data, GError **error)
{
  g_usleep (300 * 1000);
  return TRUE;
}

static void
tp_legacy_done (const GError *error, gpointer data)
{
  TestPlugin *tp = data;
  /* a callback after free would read freed memory here (ASan) */
  ec_log_message (tp->ctx, "%s: legacy write done (freed=%d)", TP_NAME, tp->freed);
}

static void
tp_cancellable_done (const GError *error, gpointer data)
{
  TestPlugin *tp = data;
  ec_log_message (tp->ctx, "%s: cancellable write done after stop", TP_NAME);
}
#endif

static gboolean
tp_init (EcPluginContext *ctx, gpointer *state, GError **error)
{
  TestPlugin *tp;
  if (ec_plugin_context_get_bool (ctx, "fail-init"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s was told to fail init", TP_NAME);
      return FALSE;
    }
  tp = g_new0 (TestPlugin, 1);
  tp->ctx = ctx;
  tp->answer = ec_plugin_context_get_string (ctx, "answer");
  tp->stop_sleep = ec_plugin_context_get_int (ctx, "stop-sleep");
  tp->fail_start = ec_plugin_context_get_bool (ctx, "fail-start");
  tp->store_on_stop = ec_plugin_context_get_bool (ctx, "store-on-stop");
  *state = tp;
  return TRUE;
}

static gboolean
tp_start (gpointer state, GError **error)
{
  TestPlugin *tp = state;
  if (tp->fail_start)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s was told to fail start", TP_NAME);
      return FALSE;
    }
#ifdef TP_ABI_1_0
  ec_log_message (tp->ctx, "%s: started", TP_NAME);
#else
  ec_log_message (tp->ctx, "%s: started (host ABI %d.%u)", TP_NAME, EC_PLUGIN_ABI_MAJOR,
                  ec_plugin_context_get_host_abi_minor (tp->ctx));
#endif
  return TRUE;
}

static void
tp_stop (gpointer state)
{
  TestPlugin *tp = state;
  if (tp->stop_sleep > 0)
    g_usleep (tp->stop_sleep * G_USEC_PER_SEC);
#ifndef TP_ABI_1_0
  if (tp->store_on_stop)
    {
      g_autoptr (GError) error = NULL;
      EcStore *store = ec_plugin_context_get_store (tp->ctx, &error);
      if (!store)
        ec_log_warning (tp->ctx, "%s: no store: %s", TP_NAME, error->message);
      else
        {
          ec_store_write (store, tp_slow_write, tp_legacy_done, tp, NULL);
          ec_store_write_full (store, tp_slow_write, tp_cancellable_done, tp, NULL,
                               ec_plugin_context_get_cancellable (tp->ctx));
        }
    }
#endif
  ec_log_message (tp->ctx, "%s: stopped", TP_NAME);
}

static void
tp_free (gpointer state)
{
  TestPlugin *tp = state;
  tp->freed = TRUE;
  ec_log_message (tp->ctx, "%s: freed", TP_NAME);
  g_free (tp->answer);
  g_free (tp);
}

static void
tp_handle (gpointer state, EcMessage *msg)
{
  TestPlugin *tp = state;
  EcEndpoint *ep = ec_plugin_context_get_endpoint (tp->ctx);
  g_autofree char *content = ec_message_dup_content_string (msg);
  ec_log_message (tp->ctx, "%s: received %s %s %s", TP_NAME, ec_message_get_id (msg),
                  ec_message_get_operation (msg), content);
  if (ec_message_get_sync (msg))
    {
      g_autoptr (EcMessage) reply = ec_message_new_response (msg, NULL);
      g_autoptr (GError) error = NULL;
      ec_message_set_content_string (reply, tp->answer);
      if (!ec_endpoint_respond (ep, reply, &error))
        ec_log_warning (tp->ctx, "%s", error->message);
    }
  else if (g_strcmp0 (ec_message_get_operation (msg), "echo") == 0)
    {
      g_autoptr (EcMessage) back = ec_message_new (TP_BUS_NAME, NULL, "echoed",
                                                   ec_message_get_resource (msg));
      g_autoptr (GError) error = NULL;
      if (!ec_endpoint_send (ep, ec_message_get_source (msg), back, &error))
        ec_log_warning (tp->ctx, "%s: echo failed: %s", TP_NAME, error->message);
    }
}

static const EcConfigKey tp_keys[] = {
  { EC_CONFIG_STRING, 0, "answer", "42", "content of replies to sync calls" },
  { EC_CONFIG_BOOL, 0, "fail-init", "false", "make init fail" },
  { EC_CONFIG_BOOL, 0, "fail-start", "false", "make start fail" },
  { EC_CONFIG_INT, 0, "stop-sleep", TP_DEFAULT_STOP_SLEEP, "seconds stop takes" },
  { EC_CONFIG_BOOL, 0, "store-on-stop", "false", "queue store writes in stop" },
#ifdef TP_BAD_KEY
  { EC_CONFIG_INT, 0, "broken", "not-a-number", "a default of the wrong type" },
#endif
  { 0 },
};

#ifdef TP_REQUIRES
static const char *const tp_requires[] = { TP_REQUIRES, NULL };
#else
static const char *const tp_requires[] = { NULL };
#endif

#ifdef TP_ABI_1_0
/* The descriptor exactly as <ec-plugin.h> of ABI 1.0 declared it. */
typedef struct {
  guint32            abi_major;
  guint32            abi_minor;
  guint32            struct_size;
  guint32            config_key_size;
  const char        *name;
  const char        *version;
  const char        *summary;
  const char        *bus_name;
  const char        *bus_group;
  const char *const *requires;
  const EcConfigKey *config_keys;
  gboolean (*init)           (EcPluginContext *, gpointer *, GError **);
  gboolean (*start)          (gpointer, GError **);
  void     (*stop)           (gpointer);
  void     (*free)           (gpointer);
  void     (*handle_message) (gpointer, EcMessage *);
} TpDescriptor10;

G_STATIC_ASSERT (sizeof (TpDescriptor10) < sizeof (EcPluginDescriptor));

EC_PLUGIN_EXPORT const TpDescriptor10 ec_plugin_descriptor = {
  .abi_major = 1,
  .abi_minor = 0,
  .struct_size = sizeof (TpDescriptor10),
  .config_key_size = sizeof (EcConfigKey),
#else
EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .abi_major = TP_ABI_MAJOR,
  .abi_minor = TP_ABI_MINOR,
#ifdef TP_MIN_HOST_MINOR
  .min_host_abi_minor = TP_MIN_HOST_MINOR,
#endif
#endif
  .name = TP_NAME,
  .version = TP_VERSION,
  .summary = "test plugin " TP_NAME,
  .bus_name = TP_BUS_NAME,
  .bus_group = "test",
  .requires = tp_requires,
  .config_keys = tp_keys,
  .init = tp_init,
  .start = tp_start,
  .stop = tp_stop,
  .free = tp_free,
  .handle_message = tp_handle,
};
#else
/* exports something, but not a descriptor */
EC_PLUGIN_EXPORT const int not_a_descriptor = 1;
#endif
