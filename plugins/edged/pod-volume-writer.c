/* pod-volume-writer.c: writes a configMap, secret, downwardAPI or projected
 * volume as kubelet's atomic writer does, so that a container never sees
 * half a volume:
 *
 *   <dir>/..2026_12_05_03_40_52.XXXXXX/   the files of this version
 *   <dir>/..data -> ..2026_12_05_...      swapped with one rename()
 *   <dir>/<key>  -> ..data/<key>          what the container opens
 *
 * A payload equal to what is there writes nothing; the old version's
 * folder is removed after the swap. Also: removing a pod's folder tree
 * without following symlinks. */
#include "pod-volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DATA_LINK     "..data"
#define DATA_LINK_TMP "..data_tmp"

/* Checks a path of a volume item as kubelet does: relative, no ".."
 * element, not starting with "..", at most 4096 bytes, each element at
 * most 255 bytes. */
gboolean
edged_volume_path_check (const char *path, GError **error)
{
  g_auto (GStrv) parts = NULL;

  if (!path || !*path)
    return g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid path: must not be empty"), FALSE;
  if (strlen (path) > 4096)
    return g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "invalid path: must be less than or equal to 4096 characters"), FALSE;
  if (path[0] == '/')
    return g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "invalid path \"%s\": must be relative path", path), FALSE;
  if (g_str_has_prefix (path, ".."))
    return g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "invalid path \"%s\": must not start with '..'", path), FALSE;
  parts = g_strsplit (path, "/", -1);
  for (guint i = 0; parts[i]; i++)
    {
      if (!strcmp (parts[i], ".."))
        return g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            "invalid path \"%s\": must not contain '..'", path), FALSE;
      if (strlen (parts[i]) > 255)
        return g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                            "invalid path \"%s\": an element is longer than 255 characters", path), FALSE;
    }
  return TRUE;
}

static void
file_free (gpointer data)
{
  EdgedVolumeFile *f = data;
  g_free (f->path);
  g_bytes_unref (f->data);
  g_free (f);
}

/* A new, empty payload (array of EdgedVolumeFile). */
GPtrArray *
edged_volume_payload_new (void)
{
  return g_ptr_array_new_with_free_func (file_free);
}

/* Adds (or replaces: a later source wins, as in a projected volume) a file. */
void
edged_volume_payload_add (GPtrArray *payload, const char *path, GBytes *data, guint mode)
{
  EdgedVolumeFile *f = g_new0 (EdgedVolumeFile, 1);
  for (guint i = 0; i < payload->len; i++)
    if (!strcmp (((EdgedVolumeFile *) payload->pdata[i])->path, path))
      {
        g_ptr_array_remove_index (payload, i);
        break;
      }
  f->path = g_strdup (path);
  f->data = g_bytes_ref (data);
  f->mode = mode & 07777;
  g_ptr_array_add (payload, f);
}

static GPtrArray *walk_files;
static const char *walk_root;

static int
collect_file (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  if (flag == FTW_F || flag == FTW_SL)
    g_ptr_array_add (walk_files, g_strdup (path + strlen (walk_root) + 1));
  return 0;
}

/* Whether the version in folder old holds exactly payload. */
static gboolean
same_as (const char *old, GPtrArray *payload)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  walk_files = files;
  walk_root = old;
  if (nftw (old, collect_file, 16, FTW_PHYS) != 0 || files->len != payload->len)
    return FALSE;
  for (guint i = 0; i < payload->len; i++)
    {
      EdgedVolumeFile *f = payload->pdata[i];
      g_autofree char *p = g_build_filename (old, f->path, NULL);
      g_autofree char *text = NULL;
      gsize len;
      struct stat st;
      if (lstat (p, &st) != 0 || !S_ISREG (st.st_mode) || (st.st_mode & 07777) != f->mode
          || !g_file_get_contents (p, &text, &len, NULL)
          || len != g_bytes_get_size (f->data)
          || memcmp (text, g_bytes_get_data (f->data, NULL), len) != 0)
        return FALSE;
    }
  return TRUE;
}

static int
remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  if (flag == FTW_DP || flag == FTW_D)
    return rmdir (path) == 0 || errno == ENOENT ? 0 : -1;
  return unlink (path) == 0 || errno == ENOENT ? 0 : -1;
}

/* Removes path and everything under it; symlinks are removed, never
 * followed, and other filesystems mounted inside are not entered. */
gboolean
edged_remove_tree (const char *path, GError **error)
{
  struct stat st;
  if (lstat (path, &st) != 0)
    return TRUE;
  if (nftw (path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 && lstat (path, &st) == 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot remove %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_file (const char *dir, EdgedVolumeFile *f, GError **error)
{
  g_autofree char *path = g_build_filename (dir, f->path, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  gsize len;
  const char *data = g_bytes_get_data (f->data, &len);
  int fd;

  if (g_mkdir_with_parents (parent, 0755) != 0)
    goto fail;
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    goto fail;
  while (len > 0)
    {
      ssize_t n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          close (fd);
          goto fail;
        }
      data += n;
      len -= (gsize) n;
    }
  if (fchmod (fd, f->mode) != 0 || close (fd) != 0)
    goto fail;
  return TRUE;
fail:
  {
    int saved = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot write %s: %s", path,
                 g_strerror (saved));
    return FALSE;
  }
}

/* The first element of a relative path. */
static char *
first_element (const char *path)
{
  const char *slash = strchr (path, '/');
  return slash ? g_strndup (path, (gsize) (slash - path)) : g_strdup (path);
}

/**
 * edged_volume_write:
 * Makes dir hold exactly payload, atomically (see above). *changed says
 * whether anything was written. Each path must have passed
 * edged_volume_path_check().
 */
gboolean
edged_volume_write (const char *dir, GPtrArray *payload, gboolean *changed, GError **error)
{
  g_autofree char *data_link = g_build_filename (dir, DATA_LINK, NULL);
  g_autofree char *tmp_link = g_build_filename (dir, DATA_LINK_TMP, NULL);
  g_autofree char *old_name = g_file_read_link (data_link, NULL);
  g_autofree char *old_dir = old_name ? g_build_filename (dir, old_name, NULL) : NULL;
  g_autofree char *stamp = NULL, *template = NULL;
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autoptr (GHashTable) visible = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GDir) listing = NULL;
  const char *entry;

  *changed = FALSE;
  for (guint i = 0; i < payload->len; i++)
    if (!edged_volume_path_check (((EdgedVolumeFile *) payload->pdata[i])->path, error))
      return FALSE;
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create %s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (old_dir && same_as (old_dir, payload))
    return TRUE;
  stamp = g_date_time_format (now, "..%Y_%m_%d_%H_%M_%S.");
  template = g_strdup_printf ("%s/%sXXXXXX", dir, stamp);
  if (!g_mkdtemp_full (template, 0755))
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create a folder in %s: %s",
                   dir, g_strerror (saved));
      return FALSE;
    }
  for (guint i = 0; i < payload->len; i++)
    if (!write_file (template, payload->pdata[i], error))
      {
        edged_remove_tree (template, NULL);
        return FALSE;
      }
  /* the swap: ..data_tmp -> new version, renamed over ..data */
  unlink (tmp_link);
  {
    g_autofree char *base = g_path_get_basename (template);
    if (symlink (base, tmp_link) != 0 || rename (tmp_link, data_link) != 0)
      {
        int saved = errno;
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot swap %s: %s",
                     data_link, g_strerror (saved));
        unlink (tmp_link);
        edged_remove_tree (template, NULL);
        return FALSE;
      }
  }
  /* the visible names: one symlink per first path element */
  for (guint i = 0; i < payload->len; i++)
    {
      char *first = first_element (((EdgedVolumeFile *) payload->pdata[i])->path);
      if (!g_hash_table_add (visible, first))
        continue;
      {
        g_autofree char *link = g_build_filename (dir, first, NULL);
        g_autofree char *target = g_build_filename (DATA_LINK, first, NULL);
        g_autofree char *current = g_file_read_link (link, NULL);
        if (current && !strcmp (current, target))
          continue;
        unlink (link);
        if (symlink (target, link) != 0)
          {
            int saved = errno;
            g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot link %s: %s",
                         link, g_strerror (saved));
            return FALSE;
          }
      }
    }
  /* names of the old version that are gone, and the old version */
  listing = g_dir_open (dir, 0, NULL);
  while (listing && (entry = g_dir_read_name (listing)))
    {
      g_autofree char *p = g_build_filename (dir, entry, NULL);
      g_autofree char *target = g_file_read_link (p, NULL);
      if (g_str_has_prefix (entry, ".."))
        continue;
      if (target && g_str_has_prefix (target, DATA_LINK "/") && !g_hash_table_contains (visible, entry))
        unlink (p);
    }
  if (old_dir)
    edged_remove_tree (old_dir, NULL);
  *changed = TRUE;
  return TRUE;
}
