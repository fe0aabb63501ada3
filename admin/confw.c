/* confw.c: writes conf.d drop-ins: sections and keys in the order given,
 * values escaped as GKeyFile reads them, and installs the file atomically
 * with its mode (join's file holds the token: 0600). */
#include "config.h"

#include "admin.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

struct _EcConfWriter {
  GString *text;
};

/* A writer whose file starts with the comment lines of header. */
EcConfWriter *
ec_confw_new (const char *header)
{
  EcConfWriter *w = g_new0 (EcConfWriter, 1);
  w->text = g_string_new (NULL);
  if (header)
    ec_confw_comment (w, header);
  return w;
}

/* Opens [section]. */
void
ec_confw_section (EcConfWriter *w, const char *section)
{
  if (w->text->len)
    g_string_append_c (w->text, '\n');
  g_string_append_printf (w->text, "[%s]\n", section);
}

/* Adds comment lines, one "# " line per line of comment. */
void
ec_confw_comment (EcConfWriter *w, const char *comment)
{
  g_auto (GStrv) lines = g_strsplit (comment, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    g_string_append_printf (w->text, lines[i][0] ? "# %s\n" : "#\n", lines[i]);
}

/* A value as GKeyFile reads it back unchanged. */
char *
ec_confw_escape (const char *value)
{
  GString *s = g_string_new (NULL);
  for (const char *c = value; *c; c++)
    switch (*c)
      {
      case '\\': g_string_append (s, "\\\\"); break;
      case '\n': g_string_append (s, "\\n"); break;
      case '\t': g_string_append (s, "\\t"); break;
      case '\r': g_string_append (s, "\\r"); break;
      case ' ':
        g_string_append (s, c == value ? "\\s" : " ");
        break;
      default: g_string_append_c (s, *c);
      }
  return g_string_free (s, FALSE);
}

/* Adds key=value (value escaped; list values keep their ';'). */
void
ec_confw_set (EcConfWriter *w, const char *key, const char *value)
{
  g_autofree char *v = ec_confw_escape (value ? value : "");
  g_string_append_printf (w->text, "%s=%s\n", key, v);
}

/* Adds key=escaped, a value already in file syntax (a list built with
 * ec_confw_list_append()). */
void
ec_confw_set_raw (EcConfWriter *w, const char *key, const char *escaped)
{
  g_string_append_printf (w->text, "%s=%s\n", key, escaped);
}

/* Appends an item to a conf.d list value in file syntax: items separated
 * by ';', a ';' inside an item written "\;" and other specials escaped as
 * GKeyFile's string lists read them. */
void
ec_confw_list_append (GString *list, const char *item)
{
  g_autofree char *escaped = ec_confw_escape (item);
  if (list->len)
    g_string_append_c (list, ';');
  for (const char *c = escaped; *c; c++)
    {
      if (*c == ';')
        g_string_append_c (list, '\\');
      g_string_append_c (list, *c);
    }
}

/* Frees the writer, returning the file's text. */
char *
ec_confw_free_to_text (EcConfWriter *w)
{
  char *text = g_string_free (w->text, FALSE);
  g_free (w);
  return text;
}

/* Writes text to path (creating its directory) unless the file already
 * holds exactly that text; *changed says which. The file is replaced
 * atomically and gets mode. */
gboolean
ec_confw_install (const char *path, const char *text, int mode, gboolean *changed, GError **error)
{
  g_autofree char *old = NULL;
  g_autofree char *dir = g_path_get_dirname (path);
  gsize len;

  *changed = FALSE;
  if (g_file_get_contents (path, &old, &len, NULL) && g_strcmp0 (old, text) == 0)
    {
      g_chmod (path, mode);
      return TRUE;
    }
  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), _("cannot create %s: %s"), dir,
                   g_strerror (e));
      return FALSE;
    }
  if (!g_file_set_contents_full (path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, mode, error))
    return FALSE;
  *changed = TRUE;
  return TRUE;
}
