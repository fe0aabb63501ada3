/* ec-context.c: a plugin's view of its config, identity and log domain. */
#include "config.h"

#include "ec-host-private.h"

#include <string.h>

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
  g_log_structured (context->log_domain, level, "MESSAGE", "%s", text,
                    "EDGECORE_PLUGIN", context->name);
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
 */
void
ec_plugin_context_log_limited (EcPluginContext *context, EcLogLimit *limit, GLogLevelFlags level,
                               const char *format, ...)
{
  gint64 now = g_get_monotonic_time ();
  g_autofree char *text = NULL;
  va_list args;
  g_return_if_fail (context != NULL && limit != NULL && format != NULL);
  if ((level & G_LOG_LEVEL_MASK) > context->log_threshold)
    return;
  if (limit->last_us && now - limit->last_us < limit->interval_us)
    {
      limit->suppressed++;
      return;
    }
  va_start (args, format);
  text = g_strdup_vprintf (format, args);
  va_end (args);
  if (limit->suppressed)
    ec_plugin_context_log (context, level, "%s (%u similar messages suppressed)", text,
                           limit->suppressed);
  else
    ec_plugin_context_log (context, level, "%s", text);
  limit->last_us = now;
  limit->suppressed = 0;
}
