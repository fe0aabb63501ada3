/* fuzz-confd.c: the conf.d parser (kernel/confd.c) on one drop-in, then
 * what the host does with it: validation against declared keys, the
 * [core] checks, --dump-config. */
#include "fuzz-common.h"

#include "confd.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static const EcConfigKey keys[] = {
  { EC_CONFIG_BOOL, 0, "enable", "false", "" },
  { EC_CONFIG_INT, 0, "bus-queue-length", "1024", "" },
  { EC_CONFIG_STRING, 0, "node-name", NULL, "" },
  { EC_CONFIG_DOUBLE, 0, "ratio", "0.5", "" },
  { EC_CONFIG_STRING_LIST, 0, "plugin-dirs", "", "" },
  { EC_CONFIG_STRING, EC_CONFIG_FLAG_REQUIRED, "server", NULL, "" },
};

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = NULL;
  g_autofree char *dump = NULL;
  g_autoptr (GHashTable) known = g_hash_table_new (g_str_hash, g_str_equal);
  EcConfig *config;
  GPtrArray *diags;

  fuzz_init ();
  text = fuzz_strndup (data, size);
  config = ec_config_new ();
  ec_config_apply_defaults (config, "core", keys, G_N_ELEMENTS (keys));
  ec_config_load_data (config, "/etc/edgecore/conf.d/50-fuzz.conf", text, size);
  ec_config_validate_section (config, "core", keys, G_N_ELEMENTS (keys), TRUE);
  ec_config_validate_section (config, "hub", keys, G_N_ELEMENTS (keys), TRUE);
  ec_config_check_int_range (config, "core", "bus-queue-length", 1, 1 << 20);
  ec_config_check_node_name (config, "core", "node-name");
  g_hash_table_add (known, "core");
  ec_config_warn_unknown_sections (config, known);
  diags = ec_config_get_diags (config);
  for (guint i = 0; i < diags->len; i++)
    {
      g_autofree char *line = ec_diag_format (diags->pdata[i]);
      g_assert_nonnull (line);
    }
  dump = ec_config_dump (config);
  /* what --dump-config prints reads back without errors */
  if (!ec_config_has_errors (config))
    {
      EcConfig *again = ec_config_new ();
      ec_config_load_data (again, "dump.conf", dump, strlen (dump));
      if (ec_config_has_errors (again))
        {
          g_autofree char *why = ec_diag_format (ec_config_get_diags (again)->pdata[0]);
          g_error ("--dump-config output does not read back: %s\n%s", why, dump);
        }
      ec_config_free (again);
    }
  ec_config_free (config);
  return 0;
}
