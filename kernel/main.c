/* main.c: the edgecore program: options, then the host. */
#include "config.h"

#include "control.h"
#include "host.h"
#include "log.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void
setup_i18n (void)
{
  const char *dir = g_getenv ("EDGECORE_LOCALEDIR");
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, dir && *dir ? dir : EC_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}

/* `edgecore join|reset|import-config ...` runs edgecore-admin with the same
 * arguments: those commands and libyaml stay out of the daemon.
 * EDGECORE_ADMIN_BIN replaces the installed path (build-tree tests). */
static void
exec_admin_command (int argc, char **argv)
{
  static const char *const commands[] = { "join", "reset", "import-config", NULL };
  const char *admin = g_getenv ("EDGECORE_ADMIN_BIN");
  if (argc < 2 || !g_strv_contains (commands, argv[1]))
    return;
  if (!admin || !*admin)
    admin = EC_ADMIN_PATH;
  argv[0] = (char *) admin;
  execv (admin, argv);
  g_printerr (_("edgecore %s: cannot run %s: %s\n"), argv[1], admin, g_strerror (errno));
  exit (127);
}

int
main (int argc, char **argv)
{
  gboolean version = FALSE, list = FALSE, dump = FALSE, check = FALSE;
  g_auto (GStrv) config_dirs = NULL;
  g_auto (GStrv) plugin_dirs = NULL;
  g_autofree char *ctl = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) opts = NULL;
  EcHost *host;
  int status = 0;

  setup_i18n ();
  exec_admin_command (argc, argv);
  ec_log_install ();

  GOptionEntry entries[] = {
    { "version", 'V', 0, G_OPTION_ARG_NONE, &version,
      N_("Print the edgecore, plugin ABI and KubeEdge versions and exit"), NULL },
    { "config-dir", 'c', 0, G_OPTION_ARG_FILENAME_ARRAY, &config_dirs,
      N_("Read conf.d drop-ins from DIR too, above the system directories (repeatable)"), N_("DIR") },
    { "plugin-dir", 'p', 0, G_OPTION_ARG_FILENAME_ARRAY, &plugin_dirs,
      N_("Look for plugins in DIR first (repeatable)"), N_("DIR") },
    { "list-plugins", 'l', 0, G_OPTION_ARG_NONE, &list,
      N_("List every plugin found, whether it runs, and why, then exit"), NULL },
    { "dump-config", 0, 0, G_OPTION_ARG_NONE, &dump,
      N_("Print the effective configuration with the file:line that set each key, then exit"), NULL },
    { "check-config", 0, 0, G_OPTION_ARG_NONE, &check,
      N_("Check the configuration and exit non-zero if it has errors"), NULL },
    { "ctl", 0, 0, G_OPTION_ARG_STRING, &ctl,
      N_("Send COMMAND to the running edgecore's control socket and print its answer"), N_("COMMAND") },
    { NULL },
  };

  opts = g_option_context_new (NULL);
  g_option_context_set_summary (opts, _("edgecore: the KubeEdge edge node agent, as a small plugin host."));
  g_option_context_set_description (opts,
      _("Configuration is read from conf.d drop-ins; see edgecore --dump-config.\n"
        "Control commands: members, plugins, send, group, call.\n"
        "Node commands: edgecore join, edgecore reset, edgecore import-config FILE "
        "(each with --help)."));
  g_option_context_add_main_entries (opts, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (opts, GETTEXT_PACKAGE);
  if (!g_option_context_parse (opts, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      g_printerr (_("Run “%s --help” to see the options.\n"), g_get_prgname ());
      return 2;
    }
  if (version)
    {
      g_print (_("edgecore %s\nplugin ABI %d.%d\nwire-compatible with KubeEdge %s\n"),
               EC_PACKAGE_VERSION, EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR, EC_KUBEEDGE_VERSION);
      return 0;
    }

  host = ec_host_new ((const char *const *) config_dirs, (const char *const *) plugin_dirs);
  if (ctl)
    {
      g_autofree char *path = ec_host_get_core_string (host, "control-socket");
      status = ec_control_client (path, ctl, 30);
    }
  else if (list)
    {
      g_autofree char *table = ec_host_describe_plugins (host);
      fputs (table, stdout);
    }
  else if (dump)
    {
      g_autofree char *text = ec_config_dump (ec_host_get_config (host));
      ec_host_report_diags (host, TRUE);
      fputs (text, stdout);
    }
  else if (check)
    {
      GPtrArray *files = ec_config_get_files (ec_host_get_config (host));
      ec_host_report_diags (host, TRUE);
      if (ec_config_has_errors (ec_host_get_config (host)))
        {
          g_printerr (_("the configuration has errors\n"));
          status = 1;
        }
      else
        g_print (_("configuration OK (%u files)\n"), files->len);
    }
  else
    {
      ec_host_report_diags (host, FALSE);
      status = ec_host_run (host);
    }
  ec_host_free (host);
  return status;
}
