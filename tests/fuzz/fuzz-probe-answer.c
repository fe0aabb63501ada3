/* fuzz-probe-answer.c: the answer to an httpGet probe (probe-answer.c), as
 * any server a pod runs may send it. The first byte sets the size of the
 * pieces the rest arrives in (1 to 256 bytes), as reads would split it; the
 * end of the input is the end of the connection. Whatever comes, the
 * answer holds at most its head limit plus one piece unparsed and at most
 * 10 KiB of body, and a complete answer has a status. */
#include "fuzz-common.h"

#include "probe-answer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  EdgedHttpAnswer a;
  gsize piece, pos = 1;
  int r = 0;

  fuzz_init ();
  if (size < 1)
    return 0;
  piece = (gsize) data[0] + 1;
  edged_http_answer_init (&a);
  while (r == 0)
    {
      g_autoptr (GError) error = NULL;
      gsize n = MIN (piece, size - pos);
      gboolean eof = pos + n >= size;
      r = edged_http_answer_feed (&a, data + pos, n, eof, &error);
      pos += n;
      g_assert (r != -1 || error);
      g_assert (r == -1 || !error);
      g_assert (a.body->len <= EDGED_HTTP_BODY_MAX);
      g_assert (a.in->len <= EDGED_HTTP_HEAD_MAX + piece);
      if (r == 1)
        g_assert (a.status >= 100 && a.status <= 999 && a.status_line);
      if (eof && r == 0)
        g_assert_not_reached ();   /* the end of the connection ends the answer */
    }
  g_free (edged_http_answer_body_text (&a));
  edged_http_answer_clear (&a);
  return 0;
}
