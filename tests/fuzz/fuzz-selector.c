/* fuzz-selector.c: metaserver's label and field selectors (ms-selector.c),
 * as a labelSelector= or fieldSelector= query parameter brings them. The
 * first byte picks the parser; a selector that parses is matched against
 * a pod. */
#include "fuzz-common.h"

#include "ms.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static MsObjAttrs *
sample_pod (void)
{
  MsObjAttrs *a = g_new0 (MsObjAttrs, 1);
  a->name = g_strdup ("nginx");
  a->namespace = g_strdup ("default");
  a->node_name = g_strdup ("edge-1");
  a->phase = g_strdup ("Running");
  a->resource_version = 7;
  a->labels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_hash_table_insert (a->labels, g_strdup ("app"), g_strdup ("x"));
  g_hash_table_insert (a->labels, g_strdup ("example.com/tier"), g_strdup ("web"));
  return a;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static MsObjAttrs *pod;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsSelector) sel = NULL;
  g_autofree char *text = NULL;
  static const MsObjAttrs bare = { 0 };

  fuzz_init ();
  if (!pod)
    pod = sample_pod ();
  if (size < 1)
    return 0;
  text = fuzz_strndup (data + 1, size - 1);
  switch (data[0] % 3)
    {
    case 0:
      sel = ms_label_selector_parse (text, &error);
      break;
    case 1:
      sel = ms_field_selector_parse (text, TRUE, &error);
      break;
    default:
      sel = ms_field_selector_parse (text, FALSE, &error);
      break;
    }
  if (!sel)
    {
      g_assert_nonnull (error);
      return 0;
    }
  (void) ms_selector_is_empty (sel);
  (void) ms_selector_matches (sel, pod);
  (void) ms_selector_matches (sel, &bare);
  (void) ms_field_selector_exact (sel, "metadata.name");
  (void) ms_field_selector_exact (sel, "spec.nodeName");
  return 0;
}
