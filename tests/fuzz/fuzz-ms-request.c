/* fuzz-ms-request.c: metaserver's request path up to the store: the
 * request line's path and query (decoded by libsoup, as SoupServer
 * decodes it), the pass-through and OpenAPI paths, the apiserver's
 * request-info rules, the Accept header (ms_output_from_accept), the
 * selectors and continue token in the query.
 *
 * Input: "METHOD path?query" on the first line, the Accept header on the
 * second (no second line: no Accept header). */
#include "fuzz-common.h"

#include "ms.h"

#include <libsoup/soup.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
request (const char *method, const char *path, GHashTable *query, const char *accept)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (MsRequestInfo) info = NULL;
  g_auto (MsOutput) out = { 0 };
  g_autofree char *group = NULL, *version = NULL;
  const char *v;

  (void) ms_passthrough_path (path);
  if (ms_openapi_group_version_path (path, &group, &version))
    g_assert_nonnull (version);
  info = ms_request_info_parse (method, path, query, &error);
  if (info)
    (void) ms_verb_name (info->verb);
  else
    g_assert_nonnull (error);
  g_clear_error (&error);
  if (!ms_output_from_accept (accept, query, &out, &error))
    g_assert_nonnull (error);
  g_clear_error (&error);
  if (query && (v = g_hash_table_lookup (query, "labelSelector")))
    {
      MsSelector *sel = ms_label_selector_parse (v, &error);
      g_clear_pointer (&sel, ms_selector_free);
      g_clear_error (&error);
    }
  if (query && (v = g_hash_table_lookup (query, "fieldSelector")))
    {
      MsSelector *sel = ms_field_selector_parse (v, info && info->resource
                                                 && strcmp (info->resource, "pods") == 0, &error);
      g_clear_pointer (&sel, ms_selector_free);
      g_clear_error (&error);
    }
  if (query && (v = g_hash_table_lookup (query, "continue")))
    {
      guint64 rev;
      g_autofree char *key = NULL;
      if (ms_continue_decode (v, &rev, &key))
        {
          g_autofree char *again = ms_continue_encode (rev, key);
          guint64 rev2;
          g_autofree char *key2 = NULL;
          g_assert_true (ms_continue_decode (again, &rev2, &key2));
          g_assert_cmpuint (rev, ==, rev2);
          g_assert_cmpstr (key, ==, key2);
        }
    }
  for (guint i = 0; query && i < 3; i++)
    {
      static const char *const numbers[] = { "resourceVersion", "limit", "timeoutSeconds" };
      guint64 n;
      if ((v = g_hash_table_lookup (query, numbers[i])))
        (void) ms_parse_uint64 (v, &n);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = NULL;
  g_autofree char *decoded = NULL;
  g_autoptr (GHashTable) query = NULL;
  char *line, *accept = NULL, *target, *q, *nl, *sp;

  fuzz_init ();
  text = fuzz_strndup (data, size);
  if (strlen (text) != size)
    return 0;   /* HTTP heads hold no NUL: libsoup refuses them */
  line = text;
  nl = strchr (text, '\n');
  if (nl)
    {
      *nl = '\0';
      accept = nl + 1;
      if ((nl = strchr (accept, '\n')))
        *nl = '\0';
    }
  sp = strchr (line, ' ');
  if (!sp || sp == line)
    return 0;
  *sp = '\0';
  target = sp + 1;
  if (target[0] != '/')
    return 0;
  q = strchr (target, '?');
  if (q)
    {
      *q = '\0';
      query = soup_form_decode (q + 1);
    }
  request (line, target, query, accept);
  /* the path as it arrives percent-encoded, and decoded */
  decoded = g_uri_unescape_string (target, NULL);
  if (decoded && *decoded == '/')
    request (line, decoded, query, accept);
  return 0;
}
