/* reset.c: `edgecore reset` undoes `edgecore join`: stops and disables
 * edgecore.service, removes join's conf.d file and the certificates it
 * names, and with --purge the database, after asking. */
#include "config.h"

#include "admin.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

/* Asks question on the terminal; only "y" or "yes" (or the translated
 * answer) mean yes. End of input means no. */
gboolean
ec_ask_yes_no (const char *question)
{
  char line[64];
  g_print ("%s %s ", question, _("[y/N]"));
  fflush (stdout);
  if (!fgets (line, sizeof line, stdin))
    return FALSE;
  g_strstrip (line);
  return g_ascii_strcasecmp (line, "y") == 0 || g_ascii_strcasecmp (line, "yes") == 0
         || g_strcmp0 (line, _("y")) == 0;
}

/* PIDs of running processes named edgecore, other than this one. */
static GString *
running_edgecore (void)
{
  GString *pids = g_string_new (NULL);
  g_autoptr (GDir) proc = g_dir_open ("/proc", 0, NULL);
  const char *name;
  while (proc && (name = g_dir_read_name (proc)))
    {
      g_autofree char *path = NULL, *comm = NULL;
      if (!g_ascii_isdigit (name[0]))
        continue;
      path = g_build_filename ("/proc", name, "comm", NULL);
      if (g_file_get_contents (path, &comm, NULL, NULL) && strcmp (g_strstrip (comm), "edgecore") == 0)
        g_string_append_printf (pids, pids->len ? " %s" : "%s", name);
    }
  return pids;
}

static void
add_if_exists (GPtrArray *list, const char *path)
{
  if (path && *path && g_file_test (path, G_FILE_TEST_EXISTS) && !g_ptr_array_find_with_equal_func (list, path, g_str_equal, NULL))
    g_ptr_array_add (list, g_strdup (path));
}

/* `edgecore reset`: see --help. */
int
ec_admin_reset (int argc, char **argv)
{
  gboolean yes = FALSE, force = FALSE, purge = FALSE;
  g_autofree char *config_dir = NULL, *path = NULL;
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  gboolean systemd = ec_systemd_running (), joined;
  int status = 1;

  GOptionEntry entries[] = {
    { "yes", 'y', 0, G_OPTION_ARG_NONE, &yes, N_("Do not ask before removing"), NULL },
    { "force", 'f', 0, G_OPTION_ARG_NONE, &force, N_("Same as --yes (keadm reset's flag)"), NULL },
    { "purge", 0, 0, G_OPTION_ARG_NONE, &purge,
      N_("Also remove the database (pods, config maps, device twins the node stored)"), NULL },
    { "config-dir", 0, 0, G_OPTION_ARG_FILENAME, &config_dir,
      N_("conf.d directory join wrote to (default /etc/edgecore/conf.d)"), N_("DIR") },
    { NULL },
  };

  ctx = g_option_context_new (NULL);
  g_option_context_set_summary (ctx, _("Undo “edgecore join”: stop edgecore.service and remove the "
                                       "configuration and certificates join wrote."));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto out;
  if (argc > 1)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, _("unexpected argument “%s”"), argv[1]);
      goto out;
    }
  if (!config_dir)
    config_dir = g_strdup (EC_DEFAULT_CONF_DIR);
  path = g_build_filename (config_dir, EC_JOIN_CONF_NAME, NULL);

  joined = g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL);
  if (joined)
    {
      static const char *const keys[] = { "tls-cert-file", "tls-private-key-file", "tls-ca-file" };
      add_if_exists (files, path);
      for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
        {
          g_autofree char *f = g_key_file_get_string (kf, "edgehub", keys[i], NULL);
          add_if_exists (files, f);
        }
    }
  if (purge)
    {
      g_autoptr (GKeyFile) eff = ec_admin_load_effective (config_dir);
      g_autofree char *db = g_key_file_get_string (eff, "database", "data-source", NULL);
      if (!db)
        db = g_strdup ("/var/lib/kubeedge/edgecore.db");
      static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
      for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
        {
          g_autofree char *f = g_strconcat (db, suffixes[i], NULL);
          add_if_exists (files, f);
        }
    }

  if (!joined && files->len == 0)
    {
      g_print (_("Nothing to reset: %s does not exist (this machine has not joined a cloud with "
                 "“edgecore join”).\n"), path);
      status = 0;
      goto out;
    }

  g_print (_("edgecore reset will:\n"));
  if (systemd)
    g_print (_("  stop and disable edgecore.service\n"));
  for (guint i = 0; i < files->len; i++)
    g_print (_("  remove %s\n"), (char *) files->pdata[i]);
  if (!purge)
    g_print (_("  (the database is kept; --purge removes it too)\n"));
  if (!yes && !force && !ec_ask_yes_no (_("Go on?")))
    {
      g_print (_("Nothing was changed.\n"));
      status = 1;
      goto out;
    }

  if (systemd)
    {
      gboolean was_installed;
      if (!ec_service_stop_disable (&was_installed, &error))
        goto out;
      if (was_installed)
        g_print (_("Stopped and disabled edgecore.service\n"));
    }
  else
    {
      g_autoptr (GString) pids = running_edgecore ();
      if (pids->len)
        g_print (_("Note: edgecore is running (PID %s) and systemd is not: stop it yourself "
                   "(kill %s).\n"), pids->str, pids->str);
    }
  status = 0;
  for (guint i = 0; i < files->len; i++)
    {
      const char *f = files->pdata[i];
      if (g_unlink (f) == 0)
        g_print (_("Removed %s\n"), f);
      else
        {
          int e = errno;
          g_printerr (_("edgecore reset: cannot remove %s: %s\n"), f, g_strerror (e));
          status = 1;
        }
    }
  if (status == 0)
    g_print (_("Done. To join again: edgecore join --cloudcore-ipport=IP:10000 --token=TOKEN ...\n"));
  return status;

out:
  if (error)
    {
      g_printerr (_("edgecore reset: %s\n"), error->message);
      if (error->domain == G_OPTION_ERROR)
        g_printerr (_("Run “edgecore reset --help” to see the options.\n"));
    }
  return status;
}
