/* main.c: edgecore-admin COMMAND [OPTIONS]. `edgecore join|reset|
 * import-config` execs this program with the same arguments. */
#include "config.h"

#include "admin.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <string.h>

static void
setup_i18n (void)
{
  const char *dir = g_getenv ("EDGECORE_LOCALEDIR");
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, dir && *dir ? dir : EC_LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    int (*run) (int argc, char **argv);
  } commands[] = {
    { "join", ec_admin_join },
    { "reset", ec_admin_reset },
    { "import-config", ec_admin_import },
  };

  setup_i18n ();
  if (argc >= 2)
    for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
      if (strcmp (argv[1], commands[i].name) == 0)
        {
          /* "edgecore join" in --help and errors */
          g_autofree char *prgname = g_strconcat ("edgecore ", commands[i].name, NULL);
          g_set_prgname (prgname);
          return commands[i].run (argc - 1, argv + 1);
        }
  g_printerr (_("usage: edgecore join|reset|import-config [OPTIONS]; see edgecore COMMAND --help\n"));
  return 2;
}
