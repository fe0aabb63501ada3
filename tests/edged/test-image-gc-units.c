/* test-image-gc-units.c: image-gc.c's pure parts: kubelet's amount to free
 * and its choice and order of the images to remove. */
#include "pod.h"

#include <string.h>

#define MIN_US (G_GINT64_CONSTANT (60) * G_USEC_PER_SEC)

static void
test_amount (void)
{
  const gint64 gi = 1024 * 1024 * 1024;
  /* below the high threshold: nothing */
  g_assert_cmpint (edged_image_gc_amount (100 * gi, 20 * gi, 85, 80), ==, 0);
  /* at it: down to the low one */
  g_assert_cmpint (edged_image_gc_amount (100 * gi, 15 * gi, 85, 80), ==, 5 * gi);
  g_assert_cmpint (edged_image_gc_amount (100 * gi, 10 * gi, 85, 60), ==, 30 * gi);
  /* integer percent, as kubelet: 100 - int(available * 100 / capacity),
   * so 15.5 % available is 85 % used */
  g_assert_cmpint (edged_image_gc_amount (1000, 160, 85, 80), ==, 0);
  g_assert_cmpint (edged_image_gc_amount (1000, 155, 85, 80), ==, 45);
  /* low 0: everything used */
  g_assert_cmpint (edged_image_gc_amount (1000, 990, 1, 0), ==, 10);
  /* no observation */
  g_assert_cmpint (edged_image_gc_amount (0, 0, 1, 0), ==, 0);
}

static Runtime__V1__Image *
image (const char *id, const char *tag, const char *digest, guint64 size, gboolean pinned)
{
  Runtime__V1__Image *img = g_new0 (Runtime__V1__Image, 1);
  runtime__v1__image__init (img);
  img->id = (char *) id;
  if (tag)
    {
      img->n_repo_tags = 1;
      img->repo_tags = g_new0 (char *, 1);
      img->repo_tags[0] = (char *) tag;
    }
  if (digest)
    {
      img->n_repo_digests = 1;
      img->repo_digests = g_new0 (char *, 1);
      img->repo_digests[0] = (char *) digest;
    }
  img->size = size;
  img->pinned = pinned;
  return img;
}

static void
image_free (gpointer p)
{
  Runtime__V1__Image *img = p;
  g_free (img->repo_tags);
  g_free (img->repo_digests);
  g_free (img);
}

static GHashTable *
set_of (const char *first, ...)
{
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  va_list ap;
  va_start (ap, first);
  for (const char *s = first; s; s = va_arg (ap, const char *))
    g_hash_table_add (set, g_strdup (s));
  va_end (ap);
  return set;
}

/* The ids of the candidates, in order, joined by spaces. */
static char *
ids (GArray *candidates)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < candidates->len; i++)
    g_string_append_printf (s, "%s%s", i ? " " : "",
                            g_array_index (candidates, EdgedImageCandidate, i).id);
  g_array_unref (candidates);
  return g_string_free (s, FALSE);
}

static char *
detect (EdgedImageGc *gc, GPtrArray *images, GHashTable *in_use, gint64 now)
{
  char *out = ids (edged_image_gc_detect (gc, (Runtime__V1__Image **) images->pdata, images->len,
                                          in_use, now));
  g_hash_table_unref (in_use);
  return out;
}

/* the images always in use here, and more */
#define USED(...) set_of ("sha256:byid", "localhost/d@sha256:dd", "localhost/t:1", __VA_ARGS__, NULL)

static void
test_choice_and_order (void)
{
  EdgedImageGc *gc = edged_image_gc_new (NULL, 85, 80, 2 * MIN_US, "registry/pause:3.6");
  g_autoptr (GPtrArray) images = g_ptr_array_new_with_free_func (image_free);
  gint64 t0 = 1000 * MIN_US;
  char *got;

  g_ptr_array_add (images, image ("sha256:a", "localhost/a:1", NULL, 10, FALSE));
  g_ptr_array_add (images, image ("sha256:b", "localhost/b:1", NULL, 20, FALSE));
  g_ptr_array_add (images, image ("sha256:pause", "registry/pause:3.6", NULL, 1, FALSE));
  g_ptr_array_add (images, image ("sha256:pinned", "localhost/p:1", NULL, 1, TRUE));
  g_ptr_array_add (images, image ("sha256:byid", NULL, NULL, 1, FALSE));
  g_ptr_array_add (images, image ("sha256:bydigest", "localhost/d:1", "localhost/d@sha256:dd", 1, FALSE));
  g_ptr_array_add (images, image ("sha256:bytag", "localhost/t:1", NULL, 1, FALSE));

  /* first detection: every image counts as seen long ago (so the minimum
   * age does not hold them); in use (by id, digest, tag), the sandbox image
   * and pinned ones are never candidates */
  got = detect (gc, images, USED (NULL), t0);
  g_assert_cmpstr (got, ==, "sha256:a sha256:b");
  g_free (got);

  /* a is used now; a new image c is too young (2 minutes) */
  g_ptr_array_add (images, image ("sha256:c", "localhost/c:1", NULL, 5, FALSE));
  got = detect (gc, images, USED ("localhost/a:1"), t0 + 10 * MIN_US);
  g_assert_cmpstr (got, ==, "sha256:b");
  g_free (got);

  /* never used first, by first detection (b at t0, c at t0 + 10), then by
   * last use (a: t0 + 10) */
  got = detect (gc, images, USED (NULL), t0 + 15 * MIN_US);
  g_assert_cmpstr (got, ==, "sha256:b sha256:c sha256:a");
  g_free (got);

  /* b leaves the runtime: its record goes; back later it is new (young) */
  g_ptr_array_remove_index (images, 1);
  got = detect (gc, images, USED (NULL), t0 + 16 * MIN_US);
  g_assert_cmpstr (got, ==, "sha256:c sha256:a");
  g_free (got);
  g_ptr_array_add (images, image ("sha256:b", "localhost/b:1", NULL, 20, FALSE));
  got = detect (gc, images, USED ("sha256:a", "sha256:c"), t0 + 17 * MIN_US);
  g_assert_cmpstr (got, ==, "");
  g_free (got);
  got = detect (gc, images, USED ("sha256:a", "sha256:c"), t0 + 19 * MIN_US);
  g_assert_cmpstr (got, ==, "sha256:b");
  g_free (got);
  edged_image_gc_destroy (gc);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image-gc/amount", test_amount);
  g_test_add_func ("/image-gc/choice-and-order", test_choice_and_order);
  return g_test_run ();
}
