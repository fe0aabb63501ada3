/* confd.c: conf.d drop-ins.
 *
 * Directories are given lowest precedence first. A file in a higher
 * directory shadows the same-named file in a lower one; a symlink to
 * /dev/null masks it. The surviving files are read in filename order and
 * merged key by key, last value wins. GKeyFile parses each file; a small line
 * scan beside it records the file:line of every section and key, because
 * GKeyFile keeps no positions and operators need them in errors. */
#include "config.h"

#include "confd.h"

#include <glib/gi18n.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct {
  char *value;  /* raw, GKeyFile-escaped */
  char *file;   /* NULL for a default */
  int   line;
} Setting;

typedef struct {
  char       *file;   /* where the section was last opened */
  int         line;
  GHashTable *keys;   /* key -> Setting */
  GPtrArray  *order;  /* keys in first-seen order */
} Section;

struct _EcConfig {
  GHashTable *sections;   /* name -> Section */
  GPtrArray  *section_order;
  GPtrArray  *files;      /* paths read, in order */
  GPtrArray  *diags;      /* EcDiag* */
  GKeyFile   *keyfile;    /* the merged result */
};

static void
setting_free (gpointer data)
{
  Setting *s = data;
  g_free (s->value);
  g_free (s->file);
  g_free (s);
}

static void
section_free (gpointer data)
{
  Section *s = data;
  g_free (s->file);
  g_hash_table_unref (s->keys);
  g_ptr_array_unref (s->order);
  g_free (s);
}

static void
diag_free (gpointer data)
{
  EcDiag *d = data;
  g_free (d->file);
  g_free (d->text);
  g_free (d);
}

/* Creates an empty configuration. */
EcConfig *
ec_config_new (void)
{
  EcConfig *c = g_new0 (EcConfig, 1);
  c->sections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, section_free);
  c->section_order = g_ptr_array_new_with_free_func (g_free);
  c->files = g_ptr_array_new_with_free_func (g_free);
  c->diags = g_ptr_array_new_with_free_func (diag_free);
  c->keyfile = g_key_file_new ();
  return c;
}

/* Frees the configuration. */
void
ec_config_free (EcConfig *config)
{
  if (!config)
    return;
  g_hash_table_unref (config->sections);
  g_ptr_array_unref (config->section_order);
  g_ptr_array_unref (config->files);
  g_ptr_array_unref (config->diags);
  g_key_file_unref (config->keyfile);
  g_free (config);
}

/* Records a warning or an error about file:line. */
void
ec_config_add_diag (EcConfig *config, EcDiagLevel level, const char *file, int line,
                    const char *format, ...)
{
  va_list args;
  EcDiag *d = g_new0 (EcDiag, 1);
  d->level = level;
  d->file = g_strdup (file);
  d->line = line;
  va_start (args, format);
  d->text = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (config->diags, d);
}

/* Formats a finding as `file:line: error: text`. */
char *
ec_diag_format (const EcDiag *d)
{
  const char *level = d->level == EC_DIAG_ERROR ? _("error") : _("warning");
  if (d->file && d->line > 0)
    return g_strdup_printf ("%s:%d: %s: %s", d->file, d->line, level, d->text);
  if (d->file)
    return g_strdup_printf ("%s: %s: %s", d->file, level, d->text);
  return g_strdup_printf ("%s: %s", level, d->text);
}

static Section *
get_section (EcConfig *config, const char *name, gboolean create)
{
  Section *s = g_hash_table_lookup (config->sections, name);
  if (!s && create)
    {
      s = g_new0 (Section, 1);
      s->keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, setting_free);
      s->order = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (config->sections, g_strdup (name), s);
      g_ptr_array_add (config->section_order, g_strdup (name));
    }
  return s;
}

static void
set_value (EcConfig *config, const char *section, const char *key, const char *value,
           const char *file, int line)
{
  Section *s = get_section (config, section, TRUE);
  Setting *st = g_hash_table_lookup (s->keys, key);
  if (!st)
    {
      st = g_new0 (Setting, 1);
      g_hash_table_insert (s->keys, g_strdup (key), st);
      g_ptr_array_add (s->order, g_strdup (key));
    }
  g_free (st->value);
  g_free (st->file);
  st->value = g_strdup (value);
  st->file = g_strdup (file);
  st->line = line;
  g_key_file_set_value (config->keyfile, section, key, value);
}

static gboolean
valid_group_name (const char *name)
{
  if (!*name)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (*p == '[' || *p == ']' || g_ascii_iscntrl (*p))
      return FALSE;
  return TRUE;
}

/* The line scan: finds every section and key with its line, and the first
 * line GKeyFile would reject. Returns FALSE if the file is malformed. */
static gboolean
scan_lines (EcConfig *config, const char *path, const char *data, GPtrArray *entries)
{
  g_auto (GStrv) lines = g_strsplit (data, "\n", -1);
  const char *group = NULL;
  for (int i = 0; lines[i]; i++)
    {
      char *line = lines[i];
      int lineno = i + 1;
      gsize len;
      while (*line == ' ' || *line == '\t')
        line++;
      len = strlen (line);
      if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
      if (len == 0 || line[0] == '#')
        continue;
      if (line[0] == '[')
        {
          char *close = strrchr (line, ']');
          if (!close || close[1] != '\0')
            {
              ec_config_add_diag (config, EC_DIAG_ERROR, path, lineno,
                                  _("malformed section header “%s”"), line);
              return FALSE;
            }
          *close = '\0';
          if (!valid_group_name (line + 1))
            {
              ec_config_add_diag (config, EC_DIAG_ERROR, path, lineno,
                                  _("invalid section name “%s”"), line + 1);
              return FALSE;
            }
          group = line + 1;
          g_ptr_array_add (entries, g_strdup_printf ("G%d\t%s", lineno, group));
          continue;
        }
      char *eq = strchr (line, '=');
      if (!eq)
        {
          ec_config_add_diag (config, EC_DIAG_ERROR, path, lineno,
                              _("“%s” is not a key=value pair, a [section] or a # comment"),
                              line);
          return FALSE;
        }
      if (!group)
        {
          ec_config_add_diag (config, EC_DIAG_ERROR, path, lineno,
                              _("key “%.*s” comes before any [section]"), (int) (eq - line), line);
          return FALSE;
        }
      g_autofree char *key = g_strstrip (g_strndup (line, eq - line));
      if (!*key)
        {
          ec_config_add_diag (config, EC_DIAG_ERROR, path, lineno, _("empty key name"));
          return FALSE;
        }
      g_ptr_array_add (entries, g_strdup_printf ("K%d\t%s\t%s", lineno, group, key));
    }
  return TRUE;
}

/* Reads one drop-in and merges it over what was read before. A malformed
 * file is reported at file:line and ignored as a whole. */
void
ec_config_load_file (EcConfig *config, const char *path)
{
  g_autofree char *contents = NULL;
  gsize length;
  g_autoptr (GError) error = NULL;

  if (!g_file_get_contents (path, &contents, &length, &error))
    {
      ec_config_add_diag (config, EC_DIAG_ERROR, path, 0, "%s", error->message);
      return;
    }
  ec_config_load_data (config, path, contents, length);
}

/* Reads one drop-in's text (length bytes, NUL-terminated; path names it in diagnostics)
 * and merges it over what was read before, as ec_config_load_file. */
void
ec_config_load_data (EcConfig *config, const char *path, const char *contents, gsize length)
{
  const char *data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GPtrArray) entries = g_ptr_array_new_with_free_func (g_free);

  if (memchr (contents, 0, length))
    {
      ec_config_add_diag (config, EC_DIAG_ERROR, path, 0, _("the file holds a NUL byte"));
      return;
    }
  /* a UTF-8 byte order mark, as some editors write, is not content */
  data = length >= 3 && g_str_has_prefix (contents, "\xEF\xBB\xBF") ? contents + 3 : contents;
  if (!g_utf8_validate (data, -1, NULL))
    {
      ec_config_add_diag (config, EC_DIAG_ERROR, path, 0, _("the file is not UTF-8 text"));
      return;
    }
  if (!scan_lines (config, path, data, entries))
    return;
  if (!g_key_file_load_from_data (kf, data, -1, G_KEY_FILE_NONE, &error))
    {
      ec_config_add_diag (config, EC_DIAG_ERROR, path, 0, "%s", error->message);
      return;
    }
  g_ptr_array_add (config->files, g_strdup (path));
  for (guint i = 0; i < entries->len; i++)
    {
      const char *e = entries->pdata[i];
      g_auto (GStrv) f = g_strsplit (e + 1, "\t", 3);
      int lineno = atoi (f[0]);
      if (e[0] == 'G')
        {
          Section *s = get_section (config, f[1], TRUE);
          g_free (s->file);
          s->file = g_strdup (path);
          s->line = lineno;
        }
      else
        {
          g_autofree char *value = g_key_file_get_value (kf, f[1], f[2], NULL);
          if (value)
            set_value (config, f[1], f[2], value, path, lineno);
        }
    }
}

static gboolean
is_masked (const char *path)
{
  g_autofree char *target = g_file_read_link (path, NULL);
  return target && strcmp (target, "/dev/null") == 0;
}

/* Reads the `*.conf` files of dirs (lowest precedence first), with
 * shadowing and masking by name, in filename order. Missing directories
 * are skipped. */
void
ec_config_load_dirs (EcConfig *config, const char *const *dirs)
{
  g_autoptr (GHashTable) by_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GList) names = NULL;

  for (guint i = 0; dirs && dirs[i]; i++)
    {
      g_autoptr (GDir) dir = g_dir_open (dirs[i], 0, NULL);
      const char *name;
      if (!dir)
        continue;
      while ((name = g_dir_read_name (dir)))
        {
          if (!g_str_has_suffix (name, ".conf") || name[0] == '.')
            continue;
          g_hash_table_insert (by_name, g_strdup (name), g_build_filename (dirs[i], name, NULL));
        }
    }
  names = g_hash_table_get_keys (by_name);
  names = g_list_sort (names, (GCompareFunc) strcmp);
  for (GList *l = names; l; l = l->next)
    {
      const char *path = g_hash_table_lookup (by_name, l->data);
      if (is_masked (path))
        continue;
      ec_config_load_file (config, path);
    }
}

/* The merged configuration. */
GKeyFile *
ec_config_get_keyfile (EcConfig *config)
{
  return config->keyfile;
}

/* The files that were read, in order. */
GPtrArray *
ec_config_get_files (EcConfig *config)
{
  return config->files;
}

/* The warnings and errors found so far, of EcDiag. */
GPtrArray *
ec_config_get_diags (EcConfig *config)
{
  return config->diags;
}

/* Whether an error was found. */
gboolean
ec_config_has_errors (EcConfig *config)
{
  for (guint i = 0; i < config->diags->len; i++)
    if (((EcDiag *) config->diags->pdata[i])->level == EC_DIAG_ERROR)
      return TRUE;
  return FALSE;
}

/* Whether some file opened [section]. */
gboolean
ec_config_has_section (EcConfig *config, const char *section)
{
  return g_hash_table_contains (config->sections, section);
}

/* Where a key was set: file and line, or FALSE for a default or no value. */
gboolean
ec_config_locate (EcConfig *config, const char *section, const char *key,
                  const char **file, int *line)
{
  Section *s = get_section (config, section, FALSE);
  Setting *st = s ? g_hash_table_lookup (s->keys, key) : NULL;
  if (!st || !st->file)
    return FALSE;
  *file = st->file;
  *line = st->line;
  return TRUE;
}

/* Fills in the declared defaults of keys no file set. */
void
ec_config_apply_defaults (EcConfig *config, const char *section, const EcConfigKey *keys,
                          guint n_keys)
{
  for (guint i = 0; i < n_keys; i++)
    {
      Section *s = get_section (config, section, FALSE);
      if (s && g_hash_table_contains (s->keys, keys[i].name))
        continue;
      if (!keys[i].default_value)
        continue;
      s = get_section (config, section, TRUE);
      Setting *st = g_new0 (Setting, 1);
      st->value = g_strdup (keys[i].default_value);
      g_hash_table_insert (s->keys, g_strdup (keys[i].name), st);
      g_ptr_array_add (s->order, g_strdup (keys[i].name));
      g_key_file_set_value (config->keyfile, section, keys[i].name, keys[i].default_value);
    }
}

static const char *
type_name (EcConfigType type)
{
  switch (type)
    {
    case EC_CONFIG_INT: return _("an integer");
    case EC_CONFIG_BOOL: return _("true or false");
    case EC_CONFIG_DOUBLE: return _("a number");
    case EC_CONFIG_STRING_LIST: return _("a list of strings separated by ;");
    case EC_CONFIG_STRING:
    default: return _("a string");
    }
}

static gboolean
check_type (GKeyFile *kf, const char *section, const char *key, EcConfigType type)
{
  g_autoptr (GError) error = NULL;
  switch (type)
    {
    case EC_CONFIG_INT:
      g_key_file_get_int64 (kf, section, key, &error);
      break;
    case EC_CONFIG_BOOL:
      g_key_file_get_boolean (kf, section, key, &error);
      break;
    case EC_CONFIG_DOUBLE:
      g_key_file_get_double (kf, section, key, &error);
      break;
    case EC_CONFIG_STRING_LIST:
      g_strfreev (g_key_file_get_string_list (kf, section, key, NULL, &error));
      break;
    case EC_CONFIG_STRING:
    default:
      g_free (g_key_file_get_string (kf, section, key, &error));
      break;
    }
  return error == NULL;
}

/* Checks a section against the keys a plugin declared: types, unknown keys
 * (warnings) and, when the plugin is enabled, required keys. Returns FALSE
 * if an error was found. */
gboolean
ec_config_validate_section (EcConfig *config, const char *section, const EcConfigKey *keys,
                            guint n_keys, gboolean enabled)
{
  Section *s = get_section (config, section, FALSE);
  gboolean ok = TRUE;

  for (guint i = 0; s && i < s->order->len; i++)
    {
      const char *key = s->order->pdata[i];
      Setting *st = g_hash_table_lookup (s->keys, key);
      const EcConfigKey *decl = NULL;
      for (guint k = 0; k < n_keys; k++)
        if (strcmp (keys[k].name, key) == 0)
          decl = &keys[k];
      if (!decl)
        {
          if (st->file)
            ec_config_add_diag (config, EC_DIAG_WARNING, st->file, st->line,
                                _("unknown key “%s” in [%s]"), key, section);
          continue;
        }
      if (!check_type (config->keyfile, section, key, decl->type))
        {
          ec_config_add_diag (config, EC_DIAG_ERROR, st->file, st->line,
                              _("[%s] %s=%s: expected %s"), section, key, st->value,
                              type_name (decl->type));
          ok = FALSE;
        }
    }
  for (guint k = 0; enabled && k < n_keys; k++)
    {
      Setting *st;
      if (!(keys[k].flags & EC_CONFIG_FLAG_REQUIRED))
        continue;
      st = s ? g_hash_table_lookup (s->keys, keys[k].name) : NULL;
      if (st && st->value && *st->value)
        continue;
      if (st && st->file)
        ec_config_add_diag (config, EC_DIAG_ERROR, st->file, st->line,
                            _("[%s] requires a value for key “%s”"), section, keys[k].name);
      else
        ec_config_add_diag (config, EC_DIAG_ERROR, s ? s->file : NULL, s ? s->line : 0,
                            _("[%s] lacks the required key “%s”"), section, keys[k].name);
      ok = FALSE;
    }
  return ok;
}

/* Warns about sections that no plugin and not the host declared. */
void
ec_config_warn_unknown_sections (EcConfig *config, GHashTable *known)
{
  for (guint i = 0; i < config->section_order->len; i++)
    {
      const char *name = config->section_order->pdata[i];
      Section *s = get_section (config, name, FALSE);
      if (!g_hash_table_contains (known, name) && s->file)
        ec_config_add_diag (config, EC_DIAG_WARNING, s->file, s->line,
                            _("unknown section [%s]: no plugin of that name was found"), name);
    }
}

/* The effective configuration as conf.d text, each key preceded by a comment
 * naming the file:line that set it, or saying it is a default. */
char *
ec_config_dump (EcConfig *config)
{
  GString *out = g_string_new (NULL);
  for (guint i = 0; i < config->section_order->len; i++)
    {
      const char *name = config->section_order->pdata[i];
      Section *s = get_section (config, name, FALSE);
      g_string_append_printf (out, "%s[%s]\n", i ? "\n" : "", name);
      for (guint k = 0; k < s->order->len; k++)
        {
          const char *key = s->order->pdata[k];
          Setting *st = g_hash_table_lookup (s->keys, key);
          if (st->file)
            g_string_append_printf (out, "# %s:%d\n", st->file, st->line);
          else
            g_string_append_printf (out, "# %s\n", _("default"));
          g_string_append_printf (out, "%s=%s\n", key, st->value);
        }
    }
  return g_string_free (out, FALSE);
}

/* Records an error for each of dirs that is not a directory. For the
 * directories an operator named (--config-dir): a typo there would
 * otherwise run the node on defaults. Returns FALSE if one is missing. */
gboolean
ec_config_check_dirs (EcConfig *config, const char *const *dirs)
{
  gboolean ok = TRUE;
  for (guint i = 0; dirs && dirs[i]; i++)
    if (!g_file_test (dirs[i], G_FILE_TEST_IS_DIR))
      {
        ec_config_add_diag (config, EC_DIAG_ERROR, dirs[i], 0,
                            g_file_test (dirs[i], G_FILE_TEST_EXISTS)
                              ? _("--config-dir: not a directory")
                              : _("--config-dir: no such directory"));
        ok = FALSE;
      }
  return ok;
}

/* An error at the key's file:line unless [section] key is an integer from
 * min to max. A default is not checked, nor a value that is not an
 * integer at all (ec_config_validate_section reports that). */
gboolean
ec_config_check_int_range (EcConfig *config, const char *section, const char *key,
                           gint64 min, gint64 max)
{
  Section *s = get_section (config, section, FALSE);
  Setting *st = s ? g_hash_table_lookup (s->keys, key) : NULL;
  g_autoptr (GError) error = NULL;
  gint64 v;

  if (!st || !st->file)
    return TRUE;
  v = g_key_file_get_int64 (config->keyfile, section, key, &error);
  if (error || (v >= min && v <= max))
    return TRUE;
  {
    /* the bounds as text: a G_GINT64_FORMAT inside the msgid would not be
     * extracted for translation */
    g_autofree char *lo = g_strdup_printf ("%" G_GINT64_FORMAT, min);
    g_autofree char *hi = g_strdup_printf ("%" G_GINT64_FORMAT, max);
    ec_config_add_diag (config, EC_DIAG_ERROR, st->file, st->line,
                        _("[%s] %s=%s: expected an integer from %s to %s"),
                        section, key, st->value, lo, hi);
  }
  return FALSE;
}

/* Whether name is an RFC 1123 subdomain, as Kubernetes requires of a
 * node name: at most 253 characters, lower-case letters, digits, '-' and
 * '.', each dot-separated label beginning and ending with a letter or a
 * digit. */
gboolean
ec_is_dns_subdomain (const char *name)
{
  gsize len = name ? strlen (name) : 0;
  if (len == 0 || len > 253)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      char c = name[i];
      gboolean alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
      gboolean edge = i == 0 || i == len - 1 || name[i - 1] == '.' || name[i + 1] == '.';
      if (alnum)
        continue;
      if ((c != '-' && c != '.') || edge)
        return FALSE;
    }
  return TRUE;
}

/* An error at the key's file:line unless [section] key, when a file set it
 * to something, is a valid Kubernetes node name (ec_is_dns_subdomain). */
gboolean
ec_config_check_node_name (EcConfig *config, const char *section, const char *key)
{
  Section *s = get_section (config, section, FALSE);
  Setting *st = s ? g_hash_table_lookup (s->keys, key) : NULL;
  g_autofree char *value = NULL;

  if (!st || !st->file)
    return TRUE;
  value = g_key_file_get_string (config->keyfile, section, key, NULL);
  if (!value || !*value || ec_is_dns_subdomain (value))
    return TRUE;
  ec_config_add_diag (config, EC_DIAG_ERROR, st->file, st->line,
                      _("[%s] %s=%s: not a valid node name (at most 253 lower-case letters, "
                        "digits, '-' and '.', each part beginning and ending with a letter or digit)"),
                      section, key, st->value);
  return FALSE;
}
