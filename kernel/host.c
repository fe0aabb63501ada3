/* host.c: the plugin host.
 *
 * Reads conf.d, finds the plugins, checks each plugin's section against the
 * keys it declared, decides which plugins run (enabled, valid, dependencies
 * running), then inits and starts them in dependency order on one bus and
 * stops them in reverse order, each stop bounded in time. */
#include "config.h"

#include "host.h"
#include "log.h"
#include "control.h"
#include "sd-notify.h"
#include "mem-trim.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef enum {
  STATE_DISABLED,
  STATE_REJECTED,   /* enabled, but cannot run: config, dependency, bus name */
  STATE_READY,      /* will be started */
  STATE_INITED,
  STATE_STARTED,
  STATE_FAILED,     /* init or start failed */
  STATE_STOPPED,
} PluginState;

typedef struct {
  EcPluginInfo   *info;      /* owned by host->scan */
  PluginState     state;
  gboolean        required;
  char           *why;       /* why it is not running */
  EcEndpoint     *endpoint;  /* owned by the bus */
  EcPluginContext *ctx;      /* built by libedgecore */
  EcConfigKey    *keys;      /* host keys + the plugin's, for validation */
  guint           n_keys;
  gpointer        data;      /* the plugin's state */
} Plugin;

struct _EcHost {
  EcConfig   *config;
  GPtrArray  *plugin_dirs;   /* highest precedence first */
  GPtrArray  *scan;          /* EcPluginInfo* */
  GPtrArray  *plugins;       /* Plugin*, accepted ones, in scan order */
  GPtrArray  *order;         /* Plugin*, runnable, dependency order */
  EcBus      *bus;
  GMainLoop  *loop;
  EcControl  *control;
  char       *node_name;
  char       *store_path;
  EcStore    *store;         /* opened when a plugin first asks */
  char       *library_error; /* libedgecore-1 is not the one this host was built for */
  int         exit_status;
  gboolean    core_errors;   /* [core], [database] or --config-dir is wrong: no run */
};

/* ---- the host's own sections ------------------------------------------ */

static const EcConfigKey core_keys[] = {
  { EC_CONFIG_STRING, 0, "node-name", NULL,
    "the node's name (KubeEdge edged.hostnameOverride); default: the lower-cased host name" },
  { EC_CONFIG_STRING_LIST, 0, "plugin-dirs", "", "more directories to search for plugins" },
  { EC_CONFIG_STRING, 0, "log-level", "info", "error, warning, notice, info or debug" },
  { EC_CONFIG_STRING, 0, "log-target", "auto",
    "journal, stderr, or auto: the journal when stderr is connected to it" },
  { EC_CONFIG_STRING, 0, "data-dir", "/var/lib/kubeedge", "where plugins keep their state" },
  { EC_CONFIG_INT, 0, "bus-queue-length", "1024", "messages a bus member may have queued before sends to it fail" },
  { EC_CONFIG_INT, 0, "stop-timeout", "10", "seconds a plugin may take to stop" },
  { EC_CONFIG_STRING, 0, "control-socket", "/run/edgecore/control.sock",
    "unix socket for `edgecore --ctl`; empty disables it" },
};

static const EcConfigKey database_keys[] = {
  { EC_CONFIG_STRING, 0, "driver-name", "sqlite3", "database driver (database.driverName)" },
  { EC_CONFIG_STRING, 0, "alias-name", "default", "database alias (database.aliasName)" },
  { EC_CONFIG_STRING, 0, "data-source", "/var/lib/kubeedge/edgecore.db",
    "the sqlite database file (database.dataSource)" },
};

static const EcConfigKey plugin_host_keys[] = {
  { EC_CONFIG_BOOL, 0, "enable", "false", "start this plugin" },
  { EC_CONFIG_BOOL, 0, "required", "false", "exit if this plugin fails to start" },
};

static char *
default_node_name (void)
{
  g_autofree char *host = g_ascii_strdown (g_get_host_name (), -1);
  g_strstrip (host);
  if (!*host || strlen (host) > 253)
    return g_strdup ("default-edge-node");
  for (const char *p = host; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
      return g_strdup ("default-edge-node");
  if (!g_ascii_isalnum (host[0]) || !g_ascii_isalnum (host[strlen (host) - 1]))
    return g_strdup ("default-edge-node");
  return g_steal_pointer (&host);
}

/* ---- set-up --------------------------------------------------------------- */

static void
plugin_free (gpointer data)
{
  Plugin *p = data;
  g_free (p->why);
  g_free (p->keys);
  ec_host_context_free (p->ctx);
  g_free (p);
}

static void
add_dirs (GPtrArray *out, const char *list, const char *sep)
{
  g_auto (GStrv) parts = NULL;
  if (!list)
    return;
  parts = g_strsplit (list, sep, -1);
  for (guint i = 0; parts[i]; i++)
    {
      g_strstrip (parts[i]);
      if (*parts[i])
        g_ptr_array_add (out, g_strdup (parts[i]));
    }
}

static GPtrArray *
config_dirs (const char *const *extra)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  const char *system = g_getenv ("EDGECORE_SYSTEM_CONFIG_DIRS");
  if (system)
    add_dirs (dirs, system, ":");
  else
    {
      g_ptr_array_add (dirs, g_strdup (EC_VENDOR_CONFDIR));
      g_ptr_array_add (dirs, g_strdup ("/run/edgecore/conf.d"));
      g_ptr_array_add (dirs, g_strdup ("/etc/edgecore/conf.d"));
    }
  for (guint i = 0; extra && extra[i]; i++)
    g_ptr_array_add (dirs, g_strdup (extra[i]));
  g_ptr_array_add (dirs, NULL);
  return dirs;
}

/* Highest precedence first: --plugin-dir, $EDGECORE_PLUGIN_PATH, [core]
 * plugin-dirs, the drop-in directory, the built-in directory. */
static GPtrArray *
plugin_dirs (EcHost *host, const char *const *cli)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  const char *system = g_getenv ("EDGECORE_SYSTEM_PLUGIN_DIRS");
  g_auto (GStrv) conf = g_key_file_get_string_list (ec_config_get_keyfile (host->config),
                                                    "core", "plugin-dirs", NULL, NULL);
  for (guint i = 0; cli && cli[i]; i++)
    g_ptr_array_add (dirs, g_strdup (cli[i]));
  add_dirs (dirs, g_getenv ("EDGECORE_PLUGIN_PATH"), ":");
  for (guint i = 0; conf && conf[i]; i++)
    if (*conf[i])
      g_ptr_array_add (dirs, g_strdup (conf[i]));
  if (system)
    add_dirs (dirs, system, ":");
  else
    {
      g_ptr_array_add (dirs, g_strdup (EC_DROPIN_PLUGINDIR));
      g_ptr_array_add (dirs, g_strdup (EC_PLUGINDIR));
    }
  g_ptr_array_add (dirs, NULL);
  return dirs;
}

static gboolean
plugin_declares (const EcPluginInfo *info, const char *key)
{
  for (guint i = 0; i < info->n_keys; i++)
    if (strcmp (info->keys[i].name, key) == 0)
      return TRUE;
  return FALSE;
}

/* The keys checked for a plugin's section: the host's enable and required
 * (unless the plugin declares them with its own default) and the plugin's. */
static void
plugin_collect_keys (Plugin *p)
{
  GArray *keys = g_array_new (FALSE, TRUE, sizeof (EcConfigKey));
  for (guint i = 0; i < G_N_ELEMENTS (plugin_host_keys); i++)
    if (!plugin_declares (p->info, plugin_host_keys[i].name))
      g_array_append_val (keys, plugin_host_keys[i]);
  g_array_append_vals (keys, p->info->keys, p->info->n_keys);
  p->n_keys = keys->len;
  p->keys = (EcConfigKey *) g_array_free (keys, FALSE);
}

static Plugin *
find_plugin (EcHost *host, const char *name)
{
  for (guint i = 0; i < host->plugins->len; i++)
    {
      Plugin *p = host->plugins->pdata[i];
      if (strcmp (p->info->name, name) == 0)
        return p;
    }
  return NULL;
}

static void
reject (Plugin *p, char *why)
{
  p->state = STATE_REJECTED;
  g_free (p->why);
  p->why = why;
}

/* Decides which plugins run and in which order. */
static void
resolve (EcHost *host)
{
  GKeyFile *kf = ec_config_get_keyfile (host->config);
  gboolean changed = TRUE;
  g_autoptr (GHashTable) bus_names = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < host->plugins->len; i++)
    {
      Plugin *p = host->plugins->pdata[i];
      gboolean enabled = g_key_file_get_boolean (kf, p->info->name, "enable", NULL);
      gboolean valid = ec_config_validate_section (host->config, p->info->name, p->keys,
                                                   p->n_keys, enabled);
      p->required = g_key_file_get_boolean (kf, p->info->name, "required", NULL);
      if (!enabled)
        {
          p->state = STATE_DISABLED;
          p->why = g_strdup (_("enable=false"));
        }
      else if (!valid)
        reject (p, g_strdup (_("its configuration has errors")));
      else
        {
          Plugin *other = g_hash_table_lookup (bus_names, p->info->desc.bus_name);
          if (other)
            reject (p, g_strdup_printf (_("bus name “%s” is already taken by plugin %s"),
                                        p->info->desc.bus_name, other->info->name));
          else
            {
              p->state = STATE_READY;
              g_hash_table_insert (bus_names, (gpointer) p->info->desc.bus_name, p);
            }
        }
    }

  while (changed)
    {
      changed = FALSE;
      for (guint i = 0; i < host->plugins->len; i++)
        {
          Plugin *p = host->plugins->pdata[i];
          const char *const *req = p->info->desc.requires;
          if (p->state != STATE_READY)
            continue;
          for (guint r = 0; req && req[r]; r++)
            {
              Plugin *dep = find_plugin (host, req[r]);
              if (!dep)
                reject (p, g_strdup_printf (_("requires plugin %s, which was not found"), req[r]));
              else if (dep->state == STATE_DISABLED)
                reject (p, g_strdup_printf (_("requires plugin %s, which is disabled"), req[r]));
              else if (dep->state != STATE_READY)
                reject (p, g_strdup_printf (_("requires plugin %s, which cannot run"), req[r]));
              if (p->state != STATE_READY)
                {
                  changed = TRUE;
                  break;
                }
            }
        }
    }

  /* dependency order: repeatedly take the plugins whose needs are placed */
  g_autoptr (GHashTable) placed = g_hash_table_new (g_str_hash, g_str_equal);
  changed = TRUE;
  while (changed)
    {
      changed = FALSE;
      for (guint i = 0; i < host->plugins->len; i++)
        {
          Plugin *p = host->plugins->pdata[i];
          const char *const *req = p->info->desc.requires;
          gboolean ready = p->state == STATE_READY
                           && !g_hash_table_contains (placed, p->info->name);
          for (guint r = 0; ready && req && req[r]; r++)
            if (!g_hash_table_contains (placed, req[r]))
              ready = FALSE;
          if (ready)
            {
              g_hash_table_add (placed, (gpointer) p->info->name);
              g_ptr_array_add (host->order, p);
              changed = TRUE;
            }
        }
    }
  for (guint i = 0; i < host->plugins->len; i++)
    {
      Plugin *p = host->plugins->pdata[i];
      if (p->state == STATE_READY && !g_hash_table_contains (placed, p->info->name))
        reject (p, g_strdup (_("its dependencies form a cycle")));
    }
}

/* Loads the configuration from the system directories and extra_config_dirs
 * (in that order of precedence), finds the plugins and decides which run.
 * Problems are recorded as diagnostics, never fatal here. */
EcHost *
ec_host_new (const char *const *extra_config_dirs, const char *const *cli_plugin_dirs)
{
  EcHost *host = g_new0 (EcHost, 1);
  g_autoptr (GPtrArray) cdirs = config_dirs (extra_config_dirs);
  g_autoptr (GHashTable) known = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *level = NULL;
  GLogLevelFlags threshold;
  GKeyFile *kf;

  g_autoptr (GError) lib_error = NULL;

  host->config = ec_config_new ();
  if (!ec_host_check_library (EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR, EC_HOST_INTERFACE,
                              EC_PACKAGE_VERSION, &lib_error))
    {
      host->library_error = g_strdup (lib_error->message);
      ec_config_add_diag (host->config, EC_DIAG_ERROR, NULL, 0, "%s", host->library_error);
    }
  host->plugins = g_ptr_array_new_with_free_func (plugin_free);
  host->order = g_ptr_array_new ();
  ec_config_apply_defaults (host->config, "core", core_keys, G_N_ELEMENTS (core_keys));
  ec_config_apply_defaults (host->config, "database", database_keys, G_N_ELEMENTS (database_keys));
  ec_config_check_dirs (host->config, extra_config_dirs);
  ec_config_load_dirs (host->config, (const char *const *) cdirs->pdata);
  kf = ec_config_get_keyfile (host->config);
  ec_config_validate_section (host->config, "core", core_keys, G_N_ELEMENTS (core_keys), TRUE);
  ec_config_validate_section (host->config, "database", database_keys,
                              G_N_ELEMENTS (database_keys), TRUE);
  ec_config_check_int_range (host->config, "core", "bus-queue-length", 1, 1 << 20);
  ec_config_check_node_name (host->config, "core", "node-name");
  g_hash_table_add (known, "core");
  g_hash_table_add (known, "database");

  level = g_key_file_get_string (kf, "core", "log-level", NULL);
  if (ec_log_parse_level (level, &threshold))
    ec_log_set_threshold (threshold);
  else
    {
      const char *file = NULL;
      int line = 0;
      ec_config_locate (host->config, "core", "log-level", &file, &line);
      ec_config_add_diag (host->config, EC_DIAG_ERROR, file, line,
                          _("[core] log-level=%s: expected error, warning, notice, info or debug"),
                          level);
    }
  {
    g_autofree char *log_target = g_key_file_get_string (kf, "core", "log-target", NULL);
    EcLogTarget t;
    if (ec_log_parse_target (log_target, &t))
      ec_log_set_target (t);
    else
      {
        const char *file = NULL;
        int line = 0;
        ec_config_locate (host->config, "core", "log-target", &file, &line);
        ec_config_add_diag (host->config, EC_DIAG_ERROR, file, line,
                            _("[core] log-target=%s: expected auto, journal or stderr"), log_target);
      }
  }
  host->core_errors = ec_config_has_errors (host->config);
  host->node_name = g_key_file_get_string (kf, "core", "node-name", NULL);
  if (!host->node_name || !*host->node_name)
    {
      EcConfigKey key = core_keys[0];
      g_free (host->node_name);
      host->node_name = default_node_name ();
      key.default_value = host->node_name;
      g_key_file_remove_key (kf, "core", "node-name", NULL);
      ec_config_apply_defaults (host->config, "core", &key, 1);
    }

  host->store_path = g_key_file_get_string (kf, "database", "data-source", NULL);
  host->plugin_dirs = plugin_dirs (host, cli_plugin_dirs);
  host->scan = ec_plugin_scan ((const char *const *) host->plugin_dirs->pdata);
  for (guint i = 0; i < host->scan->len; i++)
    {
      EcPluginInfo *info = host->scan->pdata[i];
      Plugin *p;
      if (info->verdict != EC_PLUGIN_ACCEPTED)
        continue;
      if (strcmp (info->name, "core") == 0 || strcmp (info->name, "database") == 0)
        {
          info->verdict = EC_PLUGIN_REJECTED;
          info->reason = g_strdup_printf (_("the name “%s” is reserved for the host"), info->name);
          g_warning (_("plugin %s refused: %s"), info->path, info->reason);
          continue;
        }
      p = g_new0 (Plugin, 1);
      p->info = info;
      plugin_collect_keys (p);
      ec_config_apply_defaults (host->config, info->name, p->keys, p->n_keys);
      g_ptr_array_add (host->plugins, p);
      g_hash_table_add (known, info->name);
    }
  ec_config_warn_unknown_sections (host->config, known);
  resolve (host);
  return host;
}

/* Stops whatever still runs and frees the host. */
void
ec_host_free (EcHost *host)
{
  if (!host)
    return;
  g_clear_pointer (&host->control, ec_control_free);
  g_clear_pointer (&host->bus, ec_bus_free);
  g_ptr_array_unref (host->order);
  g_ptr_array_unref (host->plugins);
  g_ptr_array_unref (host->scan);
  g_ptr_array_unref (host->plugin_dirs);
  ec_config_free (host->config);
  g_clear_pointer (&host->loop, g_main_loop_unref);
  g_clear_pointer (&host->store, ec_store_free);
  g_free (host->store_path);
  g_free (host->node_name);
  g_free (host->library_error);
  g_free (host);
}

/* The merged configuration. */
EcConfig *
ec_host_get_config (EcHost *host)
{
  return host->config;
}

/* The bus, while the host runs. */
EcBus *
ec_host_get_bus (EcHost *host)
{
  return host->bus;
}

/* A [core] value, with its default. */
char *
ec_host_get_core_string (EcHost *host, const char *key)
{
  return g_key_file_get_string (ec_config_get_keyfile (host->config), "core", key, NULL);
}

/* Prints the diagnostics: to stderr as plain lines, or to the log. */
void
ec_host_report_diags (EcHost *host, gboolean to_stderr)
{
  GPtrArray *diags = ec_config_get_diags (host->config);
  for (guint i = 0; i < diags->len; i++)
    {
      EcDiag *d = diags->pdata[i];
      g_autofree char *text = ec_diag_format (d);
      if (to_stderr)
        fprintf (stderr, "%s\n", text);
      else if (d->level == EC_DIAG_ERROR)
        g_warning ("%s", text);
      else
        g_message ("%s", text);
    }
}

static const char *
state_name (PluginState s)
{
  switch (s)
    {
    case STATE_DISABLED: return _("disabled");
    case STATE_REJECTED: return _("rejected");
    case STATE_READY: return _("enabled");
    case STATE_INITED: return _("initialized");
    case STATE_STARTED: return _("running");
    case STATE_FAILED: return _("failed");
    case STATE_STOPPED: return _("stopped");
    default: return "?";
    }
}

/* Appends text padded with spaces to width terminal columns (wide CJK
 * characters count twice), then a space. */
static void
append_cell (GString *s, const char *text, guint width)
{
  guint cols = 0;
  for (const char *p = text; *p; p = g_utf8_next_char (p))
    cols += g_unichar_iswide (g_utf8_get_char (p)) ? 2 : 1;
  g_string_append (s, text);
  for (; cols < width; cols++)
    g_string_append_c (s, ' ');
  g_string_append_c (s, ' ');
}

/* A table of every plugin found: name, version, ABI, state and path, then
 * its summary and, when it does not run, why. */
char *
ec_host_describe_plugins (EcHost *host)
{
  GString *s = g_string_new (NULL);
  append_cell (s, _("NAME"), 14);
  append_cell (s, _("VERSION"), 9);
  append_cell (s, "ABI", 5);
  append_cell (s, _("STATE"), 11);
  g_string_append_printf (s, "%s\n", _("PATH"));
  for (guint i = 0; i < host->scan->len; i++)
    {
      EcPluginInfo *info = host->scan->pdata[i];
      Plugin *p = NULL;
      const char *state, *why = info->reason;
      g_autofree char *abi = g_strdup_printf ("%u.%u", info->abi_major, info->abi_minor);
      for (guint k = 0; k < host->plugins->len; k++)
        if (((Plugin *) host->plugins->pdata[k])->info == info)
          p = host->plugins->pdata[k];
      if (p)
        {
          state = state_name (p->state);
          why = p->why;
        }
      else
        state = info->verdict == EC_PLUGIN_SHADOWED ? _("shadowed") : _("rejected");
      append_cell (s, info->name, 14);
      append_cell (s, info->version ? info->version : "-", 9);
      append_cell (s, info->abi_major ? abi : "-", 5);
      append_cell (s, state, 11);
      g_string_append_printf (s, "%s\n", info->path);
      if (info->summary && *info->summary)
        g_string_append_printf (s, "    %s\n", info->summary);
      if (p && p->state != STATE_DISABLED)
        g_string_append_printf (s, "    %s %s, %s %s%s\n", _("bus:"), info->desc.bus_name,
                                _("group"), info->desc.bus_group,
                                p->required ? _(", required") : "");
      if (why)
        g_string_append_printf (s, "    %s %s\n", _("why:"), why);
    }
  return g_string_free (s, FALSE);
}

/* ---- running ------------------------------------------------------------ */

static void
plugin_deliver (gpointer data, EcMessage *msg)
{
  Plugin *p = data;
  if (p->info->desc.handle_message)
    p->info->desc.handle_message (p->data, msg);
}

static gboolean
deps_running (EcHost *host, Plugin *p, PluginState want)
{
  const char *const *req = p->info->desc.requires;
  for (guint r = 0; req && req[r]; r++)
    {
      Plugin *dep = find_plugin (host, req[r]);
      if (!dep || dep->state < want || dep->state == STATE_FAILED || dep->state == STATE_STOPPED)
        {
          g_free (p->why);
          p->why = g_strdup_printf (_("its dependency %s failed"), req[r]);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
plugin_fail (EcHost *host, Plugin *p, const char *step, const GError *error)
{
  p->state = STATE_FAILED;
  g_free (p->why);
  p->why = g_strdup_printf (_("%s failed: %s"), step, error ? error->message : _("no reason given"));
  if (p->endpoint)
    ec_bus_remove_member (host->bus, p->endpoint);
  if (p->required)
    {
      g_critical (_("required plugin %s: %s"), p->info->name, p->why);
      return FALSE;
    }
  g_warning (_("plugin %s: %s; the other plugins keep running"), p->info->name, p->why);
  return TRUE;
}

static gboolean
init_plugins (EcHost *host)
{
  GKeyFile *kf = ec_config_get_keyfile (host->config);
  g_autofree char *data_dir = g_key_file_get_string (kf, "core", "data-dir", NULL);
  for (guint i = 0; i < host->order->len; i++)
    {
      Plugin *p = host->order->pdata[i];
      g_autoptr (GError) error = NULL;
      if (!deps_running (host, p, STATE_INITED))
        {
          p->state = STATE_FAILED;
          if (p->required)
            {
              g_critical (_("required plugin %s: %s"), p->info->name, p->why);
              return FALSE;
            }
          g_warning (_("plugin %s not started: %s"), p->info->name, p->why);
          continue;
        }
      p->endpoint = ec_bus_add_member (host->bus, p->info->desc.bus_name,
                                       p->info->desc.bus_group, plugin_deliver, p, &error);
      if (!p->endpoint)
        {
          if (!plugin_fail (host, p, _("bus registration"), error))
            return FALSE;
          continue;
        }
      p->ctx = ec_host_context_new (p->info->name, p->endpoint);
      ec_host_context_set_node (p->ctx, host->node_name, data_dir);
      ec_host_context_set_config (p->ctx, kf, p->keys, p->n_keys);
      ec_host_context_set_log_threshold (p->ctx, ec_log_get_threshold ());
      ec_host_context_set_store (p->ctx, &host->store, host->store_path);
      ec_host_context_set_host_abi (p->ctx, EC_PLUGIN_ABI_MINOR);
      if (p->info->desc.init && !p->info->desc.init (p->ctx, &p->data, &error))
        {
          if (!plugin_fail (host, p, "init", error))
            return FALSE;
          continue;
        }
      p->state = STATE_INITED;
      g_info (_("plugin %s %s initialised as %s (group %s)"), p->info->name,
              p->info->version, p->info->desc.bus_name, p->info->desc.bus_group);
    }
  return TRUE;
}

static gboolean
start_plugins (EcHost *host)
{
  for (guint i = 0; i < host->order->len; i++)
    {
      Plugin *p = host->order->pdata[i];
      g_autoptr (GError) error = NULL;
      if (p->state != STATE_INITED)
        continue;
      if (!deps_running (host, p, STATE_STARTED))
        {
          p->state = STATE_FAILED;
          ec_bus_remove_member (host->bus, p->endpoint);
          if (p->required)
            {
              g_critical (_("required plugin %s: %s"), p->info->name, p->why);
              return FALSE;
            }
          g_warning (_("plugin %s not started: %s"), p->info->name, p->why);
          continue;
        }
      if (p->info->desc.start && !p->info->desc.start (p->data, &error))
        {
          if (!plugin_fail (host, p, "start", error))
            return FALSE;
          continue;
        }
      p->state = STATE_STARTED;
      g_info (_("plugin %s started"), p->info->name);
    }
  return TRUE;
}

/* The watchdog: a stop that overruns its time ends the process, so that a
 * stuck plugin cannot keep the node from restarting. */
typedef struct {
  GMutex      lock;
  GCond       cond;
  const char *plugin;   /* being stopped, or NULL */
  gint64      deadline;
  gboolean    done;
  guint       timeout_s;
} Watchdog;

static gpointer
watchdog_thread (gpointer data)
{
  Watchdog *w = data;
  g_mutex_lock (&w->lock);
  while (!w->done)
    {
      if (!w->plugin)
        {
          g_cond_wait (&w->cond, &w->lock);
          continue;
        }
      if (!g_cond_wait_until (&w->cond, &w->lock, w->deadline) && w->plugin
          && g_get_monotonic_time () >= w->deadline)
        {
          g_critical (_("plugin %s did not stop within %u s; exiting now"), w->plugin, w->timeout_s);
          _exit (2);
        }
    }
  g_mutex_unlock (&w->lock);
  return NULL;
}

static void
stop_plugins (EcHost *host, guint timeout_s)
{
  Watchdog w = { 0 };
  GThread *thread;
  g_mutex_init (&w.lock);
  g_cond_init (&w.cond);
  w.timeout_s = timeout_s;
  thread = g_thread_new ("ec-stop-watchdog", watchdog_thread, &w);

  for (guint i = host->order->len; i-- > 0;)
    {
      Plugin *p = host->order->pdata[i];
      if (p->state != STATE_STARTED)
        continue;
      g_mutex_lock (&w.lock);
      w.plugin = p->info->name;
      w.deadline = g_get_monotonic_time () + (gint64) timeout_s * G_USEC_PER_SEC;
      g_cond_signal (&w.cond);
      g_mutex_unlock (&w.lock);
      if (p->info->desc.stop)
        p->info->desc.stop (p->data);
      /* from now on no callback queued with its cancellable runs */
      ec_host_context_cancel (p->ctx);
      g_mutex_lock (&w.lock);
      w.plugin = NULL;
      g_cond_signal (&w.cond);
      g_mutex_unlock (&w.lock);
      p->state = STATE_STOPPED;
      g_info (_("plugin %s stopped"), p->info->name);
    }
  g_mutex_lock (&w.lock);
  w.done = TRUE;
  g_cond_signal (&w.cond);
  g_mutex_unlock (&w.lock);
  g_thread_join (thread);
  g_mutex_clear (&w.lock);
  g_cond_clear (&w.cond);
}

static void
free_plugins (EcHost *host)
{
  for (guint i = host->order->len; i-- > 0;)
    {
      Plugin *p = host->order->pdata[i];
      if (p->endpoint)
        ec_bus_remove_member (host->bus, p->endpoint);
      if (p->ctx)
        ec_host_context_cancel (p->ctx);
      if (p->data && p->info->desc.free)
        p->info->desc.free (p->data);
      p->data = NULL;
    }
}

/* A section that says required=true but has no loadable plugin: the plugin
 * was not found, or was refused at load time. Either is fatal. */
static void
check_required_sections (EcHost *host)
{
  GKeyFile *kf = ec_config_get_keyfile (host->config);
  g_auto (GStrv) groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i]; i++)
    {
      const char *why = NULL;
      g_autofree char *file_name = g_strdup_printf ("%s.so", groups[i]);
      if (find_plugin (host, groups[i]) || !g_key_file_get_boolean (kf, groups[i], "required", NULL))
        continue;
      for (guint k = 0; k < host->scan->len; k++)
        {
          EcPluginInfo *info = host->scan->pdata[k];
          if (info->verdict == EC_PLUGIN_REJECTED
              && (g_strcmp0 (info->name, groups[i]) == 0 || g_strcmp0 (info->name, file_name) == 0))
            why = info->reason;
        }
      g_critical (_("required plugin %s cannot run: %s"), groups[i],
                  why ? why : _("no plugin of that name was found"));
      host->exit_status = 1;
    }
}

static gboolean
on_quit_signal (gpointer data)
{
  EcHost *host = data;
  g_message (_("stopping on signal"));
  ec_host_quit (host);
  return G_SOURCE_CONTINUE;
}

static gboolean
on_usr1 (gpointer data)
{
  EcHost *host = data;
  g_autofree char *table = ec_bus_describe (host->bus);
  g_message (_("bus members:\n%s"), table);
  return G_SOURCE_CONTINUE;
}

/* Asks the running host to stop. */
void
ec_host_quit (EcHost *host)
{
  if (host->loop)
    g_main_loop_quit (host->loop);
}

/* Runs the node until SIGINT or SIGTERM: inits and starts the plugins,
 * tells systemd it is ready, then stops them in reverse order. Returns the
 * process exit status: non-zero when a required plugin failed. */
int
ec_host_run (EcHost *host)
{
  GKeyFile *kf = ec_config_get_keyfile (host->config);
  gint64 queue = g_key_file_get_int64 (kf, "core", "bus-queue-length", NULL);
  gint64 stop_timeout = g_key_file_get_int64 (kf, "core", "stop-timeout", NULL);
  g_autofree char *socket_path = g_key_file_get_string (kf, "core", "control-socket", NULL);
  guint sig_int, sig_term, sig_usr1;
  gboolean ok;

  if (host->library_error)
    {
      g_critical ("%s", host->library_error);
      return 1;
    }

  host->loop = g_main_loop_new (NULL, FALSE);
  host->bus = ec_bus_new (NULL, (guint) CLAMP (queue, 1, G_MAXINT32));
  sig_int = g_unix_signal_add (SIGINT, on_quit_signal, host);
  sig_term = g_unix_signal_add (SIGTERM, on_quit_signal, host);
  sig_usr1 = g_unix_signal_add (SIGUSR1, on_usr1, host);

  for (guint i = 0; i < host->plugins->len; i++)
    {
      Plugin *p = host->plugins->pdata[i];
      if (p->state == STATE_REJECTED)
        g_warning (_("plugin %s is enabled but will not run: %s"), p->info->name, p->why);
      if (p->state == STATE_REJECTED && p->required)
        {
          g_critical (_("required plugin %s cannot run"), p->info->name);
          host->exit_status = 1;
        }
    }

  if (host->core_errors)
    {
      /* as KubeEdge's edgecore, which exits on an invalid configuration */
      g_critical (_("the [core] or [database] configuration has errors (see above); not starting"));
      host->exit_status = 1;
    }
  check_required_sections (host);
  ok = host->exit_status == 0 && init_plugins (host) && start_plugins (host);
  if (ok)
    {
      if (socket_path && *socket_path)
        {
          g_autoptr (GError) error = NULL;
          host->control = ec_control_new (host, socket_path, &error);
          if (!host->control)
            g_warning (_("control socket %s not available: %s"), socket_path, error->message);
        }
      guint watchdog, trim;
      ec_sd_notify ("READY=1");
      watchdog = ec_sd_watchdog_start ();
      trim = ec_mem_trim_start (host->bus);
      g_message (_("edgecore %s running as node %s with %u plugins"), EC_PACKAGE_VERSION,
                 host->node_name, host->order->len);
      g_main_loop_run (host->loop);
      ec_sd_notify ("STOPPING=1");
      if (watchdog)
        g_source_remove (watchdog);
      g_source_remove (trim);
    }
  else
    host->exit_status = 1;

  g_clear_pointer (&host->control, ec_control_free);
  stop_plugins (host, (guint) CLAMP (stop_timeout, 1, 3600));
  /* The store's pending work ends before any plugin is freed: every job
   * queued so far finishes and its completion runs on this loop now (or is
   * dropped, for a job whose cancellable the plugin's stop cancelled), so
   * no store callback reaches freed plugin state. */
  for (guint i = host->order->len; i-- > 0;)
    {
      Plugin *p = host->order->pdata[i];
      if (p->endpoint)
        ec_bus_remove_member (host->bus, p->endpoint);  /* nothing more delivered */
    }
  if (host->store)
    ec_host_store_drain (host->store);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  free_plugins (host);
  /* what the plugins' free callbacks queued (statements to finalize) runs
   * before the store closes */
  g_clear_pointer (&host->store, ec_store_free);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_source_remove (sig_int);
  g_source_remove (sig_term);
  g_source_remove (sig_usr1);
  return host->exit_status;
}
