/* service.c: edgecore.service under systemd. join enables and (re)starts
 * it; reset stops and disables it. Without systemd as PID 1 nothing is
 * started and the commands print what to run instead.
 *
 * For the tests, EDGECORE_ADMIN_SYSTEMD_DIR replaces /run/systemd/system
 * (the directory whose presence means systemd runs, as sd_booted(3)
 * checks), EDGECORE_ADMIN_SYSTEMCTL the systemctl program and
 * EDGECORE_ADMIN_UNIT_DIR /etc/systemd/system and EDGECORE_ADMIN_UNIT_FILE
 * the installed unit. */
#include "config.h"

#include "admin.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#define UNIT "edgecore.service"
#define COPY_MARK "# Copied here by `edgecore join` (from " EC_UNIT_DIR "); `edgecore reset` removes it.\n"

static const char *
env_or (const char *name, const char *fallback)
{
  const char *v = g_getenv (name);
  return v && *v ? v : fallback;
}

/* TRUE when systemd is the init system (it creates /run/systemd/system). */
gboolean
ec_systemd_running (void)
{
  return g_file_test (env_or ("EDGECORE_ADMIN_SYSTEMD_DIR", "/run/systemd/system"), G_FILE_TEST_IS_DIR);
}

/* The installed edgecore program. */
const char *
ec_edgecore_bin (void)
{
  return EC_BINDIR "/edgecore";
}

static gboolean
systemctl (GError **error, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *out = NULL;
  int status = 0;
  va_list ap;

  g_ptr_array_add (argv, (gpointer) env_or ("EDGECORE_ADMIN_SYSTEMCTL", "systemctl"));
  va_start (ap, error);
  for (const char *a = va_arg (ap, const char *); a; a = va_arg (ap, const char *))
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL,
                     NULL, NULL, NULL, &out, &status, error))
    return FALSE;
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_autofree char *cmd = g_strjoinv (" ", (char **) argv->pdata);
      g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, _("“%s” failed: %s"), cmd,
                   out && *out ? g_strstrip (out) : _("no message"));
      return FALSE;
    }
  return TRUE;
}

/* Whether systemd finds units in dir without help. */
static gboolean
in_unit_path (const char *dir)
{
  static const char *const paths[] = { "/etc/systemd/system", "/usr/local/lib/systemd/system",
                                       "/usr/lib/systemd/system", "/lib/systemd/system", NULL };
  return g_strv_contains (paths, dir);
}

/* Makes edgecore.service known to systemd (copying the installed unit to
 * /etc/systemd/system when it was installed elsewhere), enables it and
 * (re)starts it so the configuration just written takes effect. */
gboolean
ec_service_install_start (GError **error)
{
  const char *src = env_or ("EDGECORE_ADMIN_UNIT_FILE", EC_UNIT_DIR "/" UNIT);
  if (!in_unit_path (EC_UNIT_DIR) || g_getenv ("EDGECORE_ADMIN_UNIT_DIR"))
    {
      g_autofree char *dst = g_build_filename (env_or ("EDGECORE_ADMIN_UNIT_DIR", "/etc/systemd/system"),
                                               UNIT, NULL);
      g_autofree char *unit = NULL;
      g_autofree char *text = NULL;
      gboolean changed;
      if (!g_file_get_contents (src, &unit, NULL, NULL))
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                       _("%s is not installed (run “ninja -C build install” or ./scripts/run-node.sh first)"),
                       src);
          return FALSE;
        }
      text = g_strconcat (COPY_MARK, unit, NULL);
      if (!ec_confw_install (dst, text, 0644, &changed, error))
        return FALSE;
    }
  else if (!g_file_test (src, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
                   _("%s is not installed (run “ninja -C build install” or ./scripts/run-node.sh first)"),
                   src);
      return FALSE;
    }
  return systemctl (error, "daemon-reload", NULL) && systemctl (error, "enable", UNIT, NULL)
         && systemctl (error, "restart", UNIT, NULL);
}

/* Stops and disables edgecore.service, and removes the copy join made of
 * the unit. */
gboolean
ec_service_stop_disable (gboolean *was_installed, GError **error)
{
  g_autofree char *copy = g_build_filename (env_or ("EDGECORE_ADMIN_UNIT_DIR", "/etc/systemd/system"),
                                            UNIT, NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) local = NULL;

  *was_installed = FALSE;
  if (!systemctl (&local, "disable", "--now", UNIT, NULL))
    {
      /* no such unit: nothing to stop */
      if (!g_file_test (copy, G_FILE_TEST_EXISTS)
          && !g_file_test (env_or ("EDGECORE_ADMIN_UNIT_FILE", EC_UNIT_DIR "/" UNIT), G_FILE_TEST_EXISTS))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  *was_installed = TRUE;
  if (g_file_get_contents (copy, &text, NULL, NULL) && g_str_has_prefix (text, COPY_MARK))
    {
      g_unlink (copy);
      systemctl (NULL, "daemon-reload", NULL);
    }
  return TRUE;
}
