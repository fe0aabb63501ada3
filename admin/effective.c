/* effective.c: the configuration the daemon would run with, read by the
 * host's own conf.d code, for the commands that need a merged value. */
#include "config.h"

#include "admin.h"
#include "confd.h"

/* The merged conf.d files of the system directories (vendor, /run, /etc,
 * or $EDGECORE_SYSTEM_CONFIG_DIRS as the daemon reads them) and extra_dir. */
GKeyFile *
ec_admin_load_effective (const char *extra_dir)
{
  g_autoptr (GPtrArray) dirs = g_ptr_array_new_with_free_func (g_free);
  const char *system = g_getenv ("EDGECORE_SYSTEM_CONFIG_DIRS");
  EcConfig *config;
  GKeyFile *out;
  g_autofree char *data = NULL;

  if (system)
    {
      g_auto (GStrv) parts = g_strsplit (system, ":", -1);
      for (guint i = 0; parts[i]; i++)
        if (*parts[i])
          g_ptr_array_add (dirs, g_strdup (parts[i]));
    }
  else
    {
      g_ptr_array_add (dirs, g_strdup (EC_VENDOR_CONFDIR));
      g_ptr_array_add (dirs, g_strdup ("/run/edgecore/conf.d"));
      g_ptr_array_add (dirs, g_strdup ("/etc/edgecore/conf.d"));
    }
  if (extra_dir)
    g_ptr_array_add (dirs, g_strdup (extra_dir));
  g_ptr_array_add (dirs, NULL);

  config = ec_config_new ();
  ec_config_load_dirs (config, (const char *const *) dirs->pdata);
  data = g_key_file_to_data (ec_config_get_keyfile (config), NULL, NULL);
  ec_config_free (config);
  out = g_key_file_new ();
  g_key_file_load_from_data (out, data, (gsize) -1, G_KEY_FILE_NONE, NULL);
  return out;
}
