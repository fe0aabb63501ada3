/* plugin-loader.c: finding plugins and checking them before any code of
 * theirs runs (beyond the loader's own constructors).
 *
 * Directories are searched highest precedence first; the first plugin to
 * claim a name keeps it and later ones are shadowed, which is logged. A
 * descriptor is read only as far as its struct_size covers: the host copies
 * it into a zeroed struct of its own, so fields a plugin's older ABI lacked
 * read as zero. */
#include "config.h"

#include "plugin-loader.h"

#include <glib/gi18n.h>
#include <stddef.h>
#include <string.h>

/* The descriptor and key sizes of ABI 1.0, the smallest accepted. */
#define DESC_SIZE_1_0 (offsetof (EcPluginDescriptor, handle_message) + sizeof (gpointer))
#define KEY_SIZE_1_0  (offsetof (EcConfigKey, description) + sizeof (gpointer))

/* Frees what the loader recorded; closes the module if still open. */
void
ec_plugin_info_free (EcPluginInfo *info)
{
  if (!info)
    return;
  if (info->module)
    g_module_close (info->module);
  g_free (info->path);
  g_free (info->name);
  g_free (info->version);
  g_free (info->summary);
  g_free (info->reason);
  g_free (info->keys);
  g_free (info);
}

static gboolean
valid_name (const char *name)
{
  if (!name || !*name || strlen (name) > 64)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;
  return TRUE;
}

static gboolean
default_fits (const EcConfigKey *key)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) error = NULL;
  if (!key->default_value)
    return TRUE;
  g_key_file_set_value (kf, "s", "k", key->default_value);
  switch (key->type)
    {
    case EC_CONFIG_INT: g_key_file_get_int64 (kf, "s", "k", &error); break;
    case EC_CONFIG_BOOL: g_key_file_get_boolean (kf, "s", "k", &error); break;
    case EC_CONFIG_DOUBLE: g_key_file_get_double (kf, "s", "k", &error); break;
    case EC_CONFIG_STRING:
    case EC_CONFIG_STRING_LIST:
      break;
    default:
      return FALSE;
    }
  return error == NULL;
}

/* Checks declared keys: valid unique names, known types, defaults that
 * parse as their type. */
gboolean
ec_plugin_check_keys (const EcConfigKey *keys, guint n_keys, char **reason)
{
  for (guint i = 0; i < n_keys; i++)
    {
      if (!valid_name (keys[i].name))
        {
          *reason = g_strdup_printf (_("config key %u has an invalid name"), i);
          return FALSE;
        }
      for (guint j = 0; j < i; j++)
        if (strcmp (keys[i].name, keys[j].name) == 0)
          {
            *reason = g_strdup_printf (_("config key “%s” is declared twice"), keys[i].name);
            return FALSE;
          }
      if ((guint) keys[i].type > EC_CONFIG_STRING_LIST)
        {
          *reason = g_strdup_printf (_("config key “%s” has an unknown type %u"),
                                     keys[i].name, (guint) keys[i].type);
          return FALSE;
        }
      if (!default_fits (&keys[i]))
        {
          *reason = g_strdup_printf (_("config key “%s” has a default “%s” of the wrong type"),
                                     keys[i].name, keys[i].default_value);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
reject (EcPluginInfo *info, char *reason)
{
  info->verdict = EC_PLUGIN_REJECTED;
  info->reason = reason;
  return FALSE;
}

/* Opens path and validates its descriptor into info. */
static gboolean
inspect (EcPluginInfo *info)
{
  const EcPluginDescriptor *d = NULL;
  guint32 head[3];

  info->module = g_module_open (info->path, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
  if (!info->module)
    return reject (info, g_strdup_printf (_("cannot be loaded: %s"), g_module_error ()));
  if (!g_module_symbol (info->module, EC_PLUGIN_DESCRIPTOR_SYMBOL, (gpointer *) &d) || !d)
    return reject (info, g_strdup_printf (_("exports no “%s” symbol: not an edgecore plugin"),
                                          EC_PLUGIN_DESCRIPTOR_SYMBOL));
  memcpy (head, d, sizeof head);
  info->abi_major = head[0];
  info->abi_minor = head[1];
  if (head[0] != EC_PLUGIN_ABI_MAJOR)
    return reject (info, g_strdup_printf (_("built for plugin ABI %u.%u; this host supports %d.0 to %d.%d (the major version must match)"),
                                          head[0], head[1], EC_PLUGIN_ABI_MAJOR,
                                          EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR));
  if (head[2] < DESC_SIZE_1_0)
    return reject (info, g_strdup_printf (_("its descriptor is %u bytes, smaller than ABI %d.0's %u"),
                                          head[2], EC_PLUGIN_ABI_MAJOR, (guint) DESC_SIZE_1_0));
  memset (&info->desc, 0, sizeof info->desc);
  memcpy (&info->desc, d, MIN (head[2], sizeof info->desc));
  /* A plugin built for a newer minor runs here only if it says it copes
   * with this host's (min_host_abi_minor, ABI 1.1; 0 in an older plugin,
   * and zero-filled beyond its struct_size). */
  if (head[1] > EC_PLUGIN_ABI_MINOR)
    {
      guint32 min = info->desc.min_host_abi_minor;
      if (min == 0 || min > head[1])
        return reject (info, g_strdup_printf (_("built for plugin ABI %u.%u, newer than this host's %d.%d"),
                                              head[0], head[1], EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR));
      if (min > EC_PLUGIN_ABI_MINOR)
        return reject (info, g_strdup_printf (_("needs a host of plugin ABI %u.%u or newer (built for %u.%u); this host is %d.%d"),
                                              head[0], min, head[0], head[1],
                                              EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR));
    }

  if (!valid_name (info->desc.name))
    return reject (info, g_strdup (_("its name is missing or not made of letters, digits, - and _")));
  g_free (info->name);
  info->name = g_strdup (info->desc.name);
  if (info->desc.bus_name && !valid_name (info->desc.bus_name))
    return reject (info, g_strdup (_("its bus name is not made of letters, digits, - and _")));
  if (!info->desc.bus_name)
    info->desc.bus_name = info->desc.name;
  if (!info->desc.bus_group || !*info->desc.bus_group)
    info->desc.bus_group = info->desc.bus_name;
  if (!info->desc.version)
    info->desc.version = "?";
  if (!info->desc.summary)
    info->desc.summary = "";
  info->version = g_strdup (info->desc.version);
  info->summary = g_strdup (info->desc.summary);

  if (info->desc.config_keys)
    {
      const guint8 *p = (const guint8 *) info->desc.config_keys;
      gsize step = info->desc.config_key_size;
      GArray *keys = g_array_new (FALSE, TRUE, sizeof (EcConfigKey));
      if (step < KEY_SIZE_1_0)
        {
          g_array_unref (keys);
          return reject (info, g_strdup_printf (_("its config keys are %u bytes each, smaller than ABI %d.0's %u"),
                                                (guint) step, EC_PLUGIN_ABI_MAJOR, (guint) KEY_SIZE_1_0));
        }
      for (guint i = 0; i < 4096; i++, p += step)
        {
          EcConfigKey k = { 0 };
          memcpy (&k, p, MIN (step, sizeof k));
          if (!k.name)
            break;
          g_array_append_val (keys, k);
        }
      info->n_keys = keys->len;
      info->keys = (EcConfigKey *) g_array_free (keys, FALSE);
      char *why = NULL;
      if (!ec_plugin_check_keys (info->keys, info->n_keys, &why))
        return reject (info, why);
    }
  return TRUE;
}

static int
compare_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Looks for `*.so` plugins in dirs, highest precedence first. Returns every
 * file found with its verdict, accepted ones first seen first. Rejections
 * and shadowing are logged. */
GPtrArray *
ec_plugin_scan (const char *const *dirs)
{
  GPtrArray *all = g_ptr_array_new_with_free_func ((GDestroyNotify) ec_plugin_info_free);
  g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) seen_paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; dirs && dirs[i]; i++)
    {
      g_autoptr (GDir) dir = g_dir_open (dirs[i], 0, NULL);
      g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
      const char *name;
      if (!dir)
        continue;
      while ((name = g_dir_read_name (dir)))
        if (g_str_has_suffix (name, ".so"))
          g_ptr_array_add (files, g_build_filename (dirs[i], name, NULL));
      g_ptr_array_sort (files, compare_str);
      for (guint f = 0; f < files->len; f++)
        {
          const char *path = files->pdata[f];
          g_autofree char *canon = g_canonicalize_filename (path, NULL);
          EcPluginInfo *info;
          if (!g_hash_table_add (seen_paths, g_strdup (canon)))
            continue;  /* the same directory listed twice */
          info = g_new0 (EcPluginInfo, 1);
          info->path = g_strdup (path);
          info->name = g_path_get_basename (path);
          if (!inspect (info))
            {
              g_warning (_("plugin %s refused: %s"), info->path, info->reason);
              g_clear_pointer (&info->module, g_module_close);
              g_ptr_array_add (all, info);
              continue;
            }
          EcPluginInfo *winner = g_hash_table_lookup (by_name, info->name);
          if (winner)
            {
              info->verdict = EC_PLUGIN_SHADOWED;
              info->reason = g_strdup_printf (_("the name “%s” is already taken by %s, which takes precedence"),
                                              info->name, winner->path);
              g_message (_("plugin %s: using %s, ignoring %s"), info->name, winner->path, info->path);
              g_clear_pointer (&info->module, g_module_close);
            }
          else
            {
              info->verdict = EC_PLUGIN_ACCEPTED;
              g_hash_table_insert (by_name, info->name, info);
            }
          g_ptr_array_add (all, info);
        }
    }
  return all;
}
