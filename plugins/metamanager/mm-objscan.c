/* mm-objscan.c: reads apiVersion, kind and metadata's name, namespace,
 * resourceVersion and uid from a Kubernetes object without building a tree.
 *
 * metamanager stores objects as the text they came in. It needs only these
 * few fields, on every object it stores (tens of thousands a second), so it
 * walks the text once with libedgecore's scanner (which checks all of it,
 * with the reader's depth and size limits) instead of having json-glib
 * build a tree it would throw away. */
#include "mm-private.h"

#include <string.h>

G_DEFINE_QUARK (ec-metamanager-error-quark, mm_error)

/* Reads a string value into *out when the value is a string (the last
 * occurrence wins, as in Go); skips any other value. tmp is the buffer the
 * member's key was read into: the key is not needed any more. */
static gboolean
take_string (EcJsonScanner *s, GString *tmp, char **out)
{
  if (ec_json_scanner_peek (s) != '"')
    return ec_json_scanner_skip (s);
  if (!ec_json_scanner_string (s, tmp))
    return FALSE;
  g_free (*out);
  *out = g_strndup (tmp->str, tmp->len);
  return TRUE;
}

/* Reads the members of metadata. */
static gboolean
scan_metadata (EcJsonScanner *s, GString *key, MmObjInfo *info)
{
  guint n = 0;
  if (!ec_json_scanner_object_begin (s))
    return FALSE;
  while (ec_json_scanner_member (s, &n, key))
    {
      gboolean ok;
      if (strcmp (key->str, "name") == 0)
        ok = take_string (s, key, &info->name);
      else if (strcmp (key->str, "namespace") == 0)
        ok = take_string (s, key, &info->namespace);
      else if (strcmp (key->str, "resourceVersion") == 0)
        ok = take_string (s, key, &info->resource_version);
      else if (strcmp (key->str, "uid") == 0)
        ok = take_string (s, key, &info->uid);
      else
        ok = ec_json_scanner_skip (s);
      if (!ok)
        return FALSE;
    }
  return !ec_json_scanner_has_failed (s);
}

/**
 * mm_scan_object:
 * @json: JSON text
 * @len: its length
 * @info: (out caller-allocates): where the fields go; clear it afterwards
 * @error: where to put an error (%MM_ERROR_BAD_CONTENT)
 *
 * Checks that @json is one JSON object and reads its apiVersion, kind and
 * metadata name, namespace, resourceVersion and uid.
 *
 * Returns: %TRUE if @json is a valid JSON object
 */
gboolean
mm_scan_object (const char *json, gsize len, MmObjInfo *info, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autoptr (GString) key = g_string_sized_new (64);   /* keys, then values */
  g_autoptr (EcJsonScanner) s = NULL;
  guint n = 0;

  memset (info, 0, sizeof *info);
  s = ec_json_scanner_new (json, len, 0, 0, &local);
  if (ec_json_scanner_peek (s) == '{')
    {
      info->body_offset = ec_json_scanner_get_offset (s) + 1;
      ec_json_scanner_object_begin (s);
      while (ec_json_scanner_member (s, &n, key))
        {
          gboolean ok;
          if (strcmp (key->str, "apiVersion") == 0)
            ok = take_string (s, key, &info->api_version);
          else if (strcmp (key->str, "kind") == 0)
            ok = take_string (s, key, &info->kind);
          else if (strcmp (key->str, "metadata") == 0 && ec_json_scanner_peek (s) == '{')
            ok = scan_metadata (s, key, info);
          else
            ok = ec_json_scanner_skip (s);
          if (!ok)
            break;
        }
      if (ec_json_scanner_finish (s))
        return TRUE;
    }
  else if (!ec_json_scanner_has_failed (s))
    ec_json_scanner_fail (s, EC_JSON_ERROR_TYPE, "not a JSON object");
  mm_obj_info_clear (info);
  g_set_error (error, MM_ERROR, MM_ERROR_BAD_CONTENT, "malformed JSON content: %s", local->message);
  return FALSE;
}

/* Frees the fields of info. */
void
mm_obj_info_clear (MmObjInfo *info)
{
  g_clear_pointer (&info->api_version, g_free);
  g_clear_pointer (&info->kind, g_free);
  g_clear_pointer (&info->name, g_free);
  g_clear_pointer (&info->namespace, g_free);
  g_clear_pointer (&info->resource_version, g_free);
  g_clear_pointer (&info->uid, g_free);
}

/* Tells whether the JSON text is a string: its first significant byte is
 * a quote (the string is checked when it is decoded). */
gboolean
mm_json_is_string (const char *json, gsize len)
{
  gsize i = 0;
  while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
    i++;
  return i < len && json[i] == '"';
}
