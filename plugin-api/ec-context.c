/* ec-context.c: a plugin's view of its config, identity and log domain. */
#include "config.h"

#include "ec-lib-private.h"

#include <string.h>

/* ---- built by the host (ec-host-api.h) ---------------------------------- */

/**
 * ec_host_context_new: (skip)
 * @name: the plugin's name, also its config section and log domain
 * @endpoint: (nullable): its bus endpoint, owned by the bus
 *
 * For the host only: builds the context a plugin gets in its init.
 *
 * Returns: (transfer full): the context; free with ec_host_context_free()
 */
EcPluginContext *
ec_host_context_new (const char *name, EcEndpoint *endpoint)
{
  EcPluginContext *context;
  g_return_val_if_fail (name != NULL, NULL);
  context = g_new0 (EcPluginContext, 1);
  context->name = g_strdup (name);
  context->log_domain = g_strdup (name);
  context->endpoint = endpoint;
  context->log_threshold = G_LOG_LEVEL_INFO;
  context->host_abi_minor = EC_PLUGIN_ABI_MINOR;
  context->cancellable = g_cancellable_new ();
  return context;
}

/**
 * ec_host_context_set_node: (skip)
 * @context: a context
 * @node_name: the node's name
 * @data_dir: (nullable): `[core] data-dir`
 *
 * Sets the node's identity a plugin reads.
 */
void
ec_host_context_set_node (EcPluginContext *context, const char *node_name, const char *data_dir)
{
  g_free (context->node_name);
  g_free (context->data_dir);
  context->node_name = g_strdup (node_name);
  context->data_dir = g_strdup (data_dir);
}

/**
 * ec_host_context_set_config: (skip)
 * @context: a context
 * @config: the effective configuration; must outlive the context
 * @keys: (array length=n_keys): the keys the plugin may read; copied
 * @n_keys: their number
 *
 * Sets what the plugin reads with the ec_plugin_context_get_*() functions.
 */
void
ec_host_context_set_config (EcPluginContext *context, GKeyFile *config, const EcConfigKey *keys,
                            guint n_keys)
{
  context->config = config;
  g_free (context->keys);
  context->keys = g_memdup2 (keys, sizeof (EcConfigKey) * n_keys);
  context->n_keys = n_keys;
}

/**
 * ec_host_context_set_log_threshold: (skip)
 * @context: a context
 * @threshold: levels above it are not logged
 *
 * Sets the log level of the plugin's messages.
 */
void
ec_host_context_set_log_threshold (EcPluginContext *context, GLogLevelFlags threshold)
{
  context->log_threshold = threshold;
}

/**
 * ec_host_context_set_store: (skip)
 * @context: a context
 * @slot: (nullable): where the host keeps the shared store, opened on first use
 * @path: (nullable): `[database] data-source`
 *
 * Gives the plugin access to the node's store (ec_plugin_context_get_store()).
 */
void
ec_host_context_set_store (EcPluginContext *context, EcStore **slot, const char *path)
{
  context->store = slot;
  g_free (context->store_path);
  context->store_path = g_strdup (path);
}

/**
 * ec_host_context_set_host_abi: (skip)
 * @context: a context
 * @host_abi_minor: %EC_PLUGIN_ABI_MINOR of the host
 *
 * Sets what ec_plugin_context_get_host_abi_minor() answers.
 */
void
ec_host_context_set_host_abi (EcPluginContext *context, guint host_abi_minor)
{
  context->host_abi_minor = host_abi_minor;
}

/**
 * ec_host_context_cancel: (skip)
 * @context: a context
 *
 * Cancels the plugin's cancellable (ec_plugin_context_get_cancellable()):
 * the host calls it once the plugin's stop returned, or when the plugin
 * never started, before its free.
 */
void
ec_host_context_cancel (EcPluginContext *context)
{
  g_cancellable_cancel (context->cancellable);
}

/**
 * ec_host_context_free: (skip)
 * @context: (transfer full) (nullable): a context
 *
 * Frees a context made by ec_host_context_new(); cancels it first.
 */
void
ec_host_context_free (EcPluginContext *context)
{
  if (!context)
    return;
  g_cancellable_cancel (context->cancellable);
  g_object_unref (context->cancellable);
  g_free (context->name);
  g_free (context->log_domain);
  g_free (context->node_name);
  g_free (context->data_dir);
  g_free (context->keys);
  g_free (context->store_path);
  g_free (context);
}

/* ---- the plugin's view --------------------------------------------------- */

/**
 * ec_plugin_context_get_host_abi_minor:
 * @context: a plugin context
 *
 * The minor version of the plugin ABI the host implements (the major is
 * always the plugin's %EC_PLUGIN_ABI_MAJOR). A plugin that sets
 * #EcPluginDescriptor.min_host_abi_minor below its own %EC_PLUGIN_ABI_MINOR
 * may run on an older host and asks this before using anything newer.
 *
 * Returns: the host's ABI minor version
 *
 * Since: 1.1
 */
guint
ec_plugin_context_get_host_abi_minor (EcPluginContext *context)
{
  g_return_val_if_fail (context != NULL, 0);
  return context->host_abi_minor;
}

/**
 * ec_plugin_context_get_cancellable:
 * @context: a plugin context
 *
 * A cancellable the host cancels once the plugin's stop callback returned
 * (or, for a plugin that never started, before its free callback). Give
 * it to ec_store_write_full(), ec_store_read_full(),
 * ec_run_in_thread_full() and ec_worker_push_full(): then none of their
 * callbacks runs once the plugin stopped.
 *
 * Returns: (transfer none): the plugin's cancellable
 *
 * Since: 1.1
 */
GCancellable *
ec_plugin_context_get_cancellable (EcPluginContext *context)
{
  g_return_val_if_fail (context != NULL, NULL);
  return context->cancellable;
}

/**
 * ec_plugin_context_get_endpoint:
 * @context: a plugin context
 *
 * Returns: (transfer none): the plugin's bus endpoint
 */
EcEndpoint *
ec_plugin_context_get_endpoint (EcPluginContext *context)
{
  g_return_val_if_fail (context != NULL, NULL);
  return context->endpoint;
}

/**
 * ec_plugin_context_get_name:
 * @context: a plugin context
 *
 * Returns: the plugin's name, which is also its config section
 */
const char *
ec_plugin_context_get_name (EcPluginContext *context)
{
  g_return_val_if_fail (context != NULL, NULL);
  return context->name;
}

/**
 * ec_plugin_context_get_node_name:
 * @context: a plugin context
 *
 * Returns: the edge node's name (`[core] node-name`)
 */
const char *
ec_plugin_context_get_node_name (EcPluginContext *context)
{
  g_return_val_if_fail (context != NULL, NULL);
  return context->node_name;
}

/**
 * ec_plugin_context_get_data_dir:
 * @context: a plugin context
 *
 * Returns: the host's data directory (`[core] data-dir`)
 */
const char *
ec_plugin_context_get_data_dir (EcPluginContext *context)
{
  g_return_val_if_fail (context != NULL, NULL);
  return context->data_dir;
}

/**
 * ec_plugin_context_get_log_domain:
 * @context: a plugin context
 *
 * Returns: the log domain of the plugin's messages
 */
const char *
ec_plugin_context_get_log_domain (EcPluginContext *context)
{
  g_return_val_if_fail (context != NULL, NULL);
  return context->log_domain;
}

static gboolean
key_declared (EcPluginContext *context, const char *key, EcConfigType type)
{
  for (guint i = 0; i < context->n_keys; i++)
    if (strcmp (context->keys[i].name, key) == 0)
      {
        if (context->keys[i].type != type)
          g_critical ("plugin %s reads config key %s with the wrong type",
                      context->name, key);
        return TRUE;
      }
  g_critical ("plugin %s reads config key %s, which it did not declare",
              context->name, key);
  return FALSE;
}

/**
 * ec_plugin_context_get_string:
 * @context: a plugin context
 * @key: a string key the plugin declared
 *
 * Reads a key of the plugin's own section. The host has validated it and
 * filled in the declared default.
 *
 * Returns: (transfer full) (nullable): the value, %NULL if it has no value
 */
char *
ec_plugin_context_get_string (EcPluginContext *context, const char *key)
{
  g_return_val_if_fail (context != NULL && key != NULL, NULL);
  key_declared (context, key, EC_CONFIG_STRING);
  return g_key_file_get_string (context->config, context->name, key, NULL);
}

/**
 * ec_plugin_context_get_int:
 * @context: a plugin context
 * @key: an integer key the plugin declared
 *
 * Reads an integer key of the plugin's own section.
 *
 * Returns: the value, 0 if it has none
 */
gint64
ec_plugin_context_get_int (EcPluginContext *context, const char *key)
{
  g_return_val_if_fail (context != NULL && key != NULL, 0);
  key_declared (context, key, EC_CONFIG_INT);
  return g_key_file_get_int64 (context->config, context->name, key, NULL);
}

/**
 * ec_plugin_context_get_bool:
 * @context: a plugin context
 * @key: a boolean key the plugin declared
 *
 * Reads a boolean key of the plugin's own section.
 *
 * Returns: the value, %FALSE if it has none
 */
gboolean
ec_plugin_context_get_bool (EcPluginContext *context, const char *key)
{
  g_return_val_if_fail (context != NULL && key != NULL, FALSE);
  key_declared (context, key, EC_CONFIG_BOOL);
  return g_key_file_get_boolean (context->config, context->name, key, NULL);
}

/**
 * ec_plugin_context_get_double:
 * @context: a plugin context
 * @key: a floating point key the plugin declared
 *
 * Reads a floating point key of the plugin's own section.
 *
 * Returns: the value, 0 if it has none
 */
double
ec_plugin_context_get_double (EcPluginContext *context, const char *key)
{
  g_return_val_if_fail (context != NULL && key != NULL, 0);
  key_declared (context, key, EC_CONFIG_DOUBLE);
  return g_key_file_get_double (context->config, context->name, key, NULL);
}

/**
 * ec_plugin_context_get_string_list:
 * @context: a plugin context
 * @key: a list key the plugin declared
 *
 * Reads a `;`-separated list key of the plugin's own section.
 *
 * Returns: (transfer full) (array zero-terminated=1): the values, never %NULL
 */
char **
ec_plugin_context_get_string_list (EcPluginContext *context, const char *key)
{
  char **v;
  g_return_val_if_fail (context != NULL && key != NULL, NULL);
  key_declared (context, key, EC_CONFIG_STRING_LIST);
  v = g_key_file_get_string_list (context->config, context->name, key, NULL, NULL);
  return v ? v : g_new0 (char *, 1);
}

/**
 * ec_plugin_context_get_global:
 * @context: a plugin context
 * @section: a shared section, `core` or `database`
 * @key: a key of it
 *
 * Reads a key of one of the host's shared sections, with its default.
 *
 * Returns: (transfer full) (nullable): the value as text
 */
char *
ec_plugin_context_get_global (EcPluginContext *context, const char *section, const char *key)
{
  g_return_val_if_fail (context != NULL && section != NULL && key != NULL, NULL);
  if (strcmp (section, "core") != 0 && strcmp (section, "database") != 0)
    {
      g_critical ("plugin %s may only read the shared sections core and database, not %s",
                  context->name, section);
      return NULL;
    }
  return g_key_file_get_string (context->config, section, key, NULL);
}

/* Sends one line through g_log_structured_array(): every field before
 * MESSAGE (g_log_structured() reads whatever follows MESSAGE as format
 * arguments), and the message's id, resource and operation when there is
 * one. Fields without a value are left out. */
static void
log_text (EcPluginContext *context, GLogLevelFlags level, EcMessage *message, const char *text)
{
  GLogField fields[6];
  gsize n = 0;
  const char *values[3] = { NULL, NULL, NULL };
  static const char *const keys[3] = { "EC_MSG_ID", "RESOURCE", "EC_OPERATION" };

  fields[n++] = (GLogField) { "GLIB_DOMAIN", context->log_domain, -1 };
  fields[n++] = (GLogField) { "EDGECORE_PLUGIN", context->name, -1 };
  if (message)
    {
      values[0] = ec_message_get_id (message);
      values[1] = ec_message_get_resource (message);
      values[2] = ec_message_get_operation (message);
    }
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    if (values[i] && values[i][0])
      fields[n++] = (GLogField) { keys[i], values[i], -1 };
  fields[n++] = (GLogField) { "MESSAGE", text, -1 };
  g_log_structured_array (level, fields, n);
}

/**
 * ec_plugin_context_log:
 * @context: a plugin context
 * @level: the level
 * @format: printf-style format
 * @...: its arguments
 *
 * Logs through g_log_structured() in the plugin's log domain. Messages
 * below the host's log level cost no formatting.
 */
void
ec_plugin_context_log (EcPluginContext *context, GLogLevelFlags level, const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  g_return_if_fail (context != NULL && format != NULL);
  if ((level & G_LOG_LEVEL_MASK) > context->log_threshold)
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  log_text (context, level, NULL, text);
}

/* Whether a rate-limited line at @level may be logged now; counts it as
 * suppressed when it may not (below the threshold, it is not counted). */
static gboolean
limit_admits (EcPluginContext *context, EcLogLimit *limit, GLogLevelFlags level, gint64 now)
{
  if ((level & G_LOG_LEVEL_MASK) > context->log_threshold)
    return FALSE;
  if (limit->last_us && now - limit->last_us < limit->interval_us)
    {
      limit->suppressed++;
      return FALSE;
    }
  return TRUE;
}

/* The line of a rate-limited log that got through, with the count of
 * those suppressed since the last one. */
static void
log_limited_text (EcPluginContext *context, EcLogLimit *limit, GLogLevelFlags level,
                  EcMessage *message, const char *text, gint64 now)
{
  if (limit->suppressed)
    {
      g_autofree char *line = g_strdup_printf ("%s (%u similar messages suppressed)", text,
                                               limit->suppressed);
      log_text (context, level, message, line);
    }
  else
    log_text (context, level, message, text);
  limit->last_us = now;
  limit->suppressed = 0;
}

/**
 * ec_plugin_context_log_limited: (skip)
 * @context: a plugin context
 * @limit: the line's rate limit state
 * @level: the level
 * @format: printf-style format
 * @...: its arguments
 *
 * Logs like ec_plugin_context_log(), but at most once per
 * @limit->interval_us; the next message that gets through says how many
 * were suppressed in between.
 *
 * @limit->struct_size tells which fields @limit has: 0 (a plugin built for
 * ABI 1.0, whose struct ends at @limit->suppressed and whose padding reads
 * as 0) or sizeof (EcLogLimit) at the plugin's build time. Fields added
 * after ABI 1.1 are read only when struct_size covers them.
 */
void
ec_plugin_context_log_limited (EcPluginContext *context, EcLogLimit *limit, GLogLevelFlags level,
                               const char *format, ...)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *text = NULL;
  va_list args;
  g_return_if_fail (context != NULL && limit != NULL && format != NULL);
  if (!limit_admits (context, limit, level, now))
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  log_limited_text (context, limit, level, NULL, text, now);
}

/**
 * ec_plugin_context_log_message: (skip)
 * @context: a plugin context
 * @level: the level
 * @message: the bus message the line is about
 * @format: printf-style format
 * @...: its arguments
 *
 * Logs like ec_plugin_context_log() a line about @message (a drop, a
 * refusal, bad input). To the journal it adds the structured fields
 * EC_MSG_ID (the message's id), RESOURCE and EC_OPERATION (its route), so
 * `journalctl -u edgecore EC_MSG_ID=...` finds it; on stderr the line ends
 * with `[msg <id> <resource>]`. The introspectable form is
 * ec_plugin_context_log_message_text().
 *
 * Since: 1.1
 */
void
ec_plugin_context_log_message (EcPluginContext *context, GLogLevelFlags level, EcMessage *message,
                               const char *format, ...)
{
  va_list args;
  g_autofree char *text = NULL;
  g_return_if_fail (context != NULL && message != NULL && format != NULL);
  if ((level & G_LOG_LEVEL_MASK) > context->log_threshold)
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  log_text (context, level, message, text);
}

/**
 * ec_plugin_context_log_message_text: (rename-to ec_plugin_context_log_message)
 * @context: a plugin context
 * @level: the level
 * @message: the bus message the line is about
 * @text: the line, not a format
 *
 * ec_plugin_context_log_message() for bindings: logs @text as it is, with
 * @message's id, resource and operation as structured fields.
 *
 * Since: 1.1
 */
void
ec_plugin_context_log_message_text (EcPluginContext *context, GLogLevelFlags level, EcMessage *message,
                                    const char *text)
{
  g_return_if_fail (context != NULL && message != NULL && text != NULL);
  if ((level & G_LOG_LEVEL_MASK) > context->log_threshold)
    return;
  log_text (context, level, message, text);
}

/**
 * ec_plugin_context_log_message_limited: (skip)
 * @context: a plugin context
 * @limit: the line's rate limit state
 * @level: the level
 * @message: the bus message the line is about
 * @format: printf-style format
 * @...: its arguments
 *
 * ec_plugin_context_log_limited() for a line about @message: the lines that
 * get through carry the fields of ec_plugin_context_log_message() (those of
 * the message that got through; suppressed ones are only counted).
 *
 * Since: 1.1
 */
void
ec_plugin_context_log_message_limited (EcPluginContext *context, EcLogLimit *limit, GLogLevelFlags level,
                                       EcMessage *message, const char *format, ...)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *text = NULL;
  va_list args;
  g_return_if_fail (context != NULL && limit != NULL && message != NULL && format != NULL);
  if (!limit_admits (context, limit, level, now))
    return;
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  log_limited_text (context, limit, level, message, text, now);
}
