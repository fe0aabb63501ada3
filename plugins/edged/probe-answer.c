/* probe-answer.c: reading the answer to an httpGet probe (probe-http.c),
 * fed as it arrives: the status line and the headers that matter (at most
 * EDGED_HTTP_HEAD_MAX), then at most EDGED_HTTP_BODY_MAX of the body
 * (kubelet's limit), framed by Content-Length, chunked encoding or the end
 * of the connection. */
#include "probe-answer.h"

#include <stdlib.h>
#include <string.h>

/* Sets up an empty answer. */
void
edged_http_answer_init (EdgedHttpAnswer *a)
{
  memset (a, 0, sizeof *a);
  a->in = g_byte_array_new ();
  a->body = g_byte_array_new ();
  a->chunk_left = -1;
}

/* Frees what the answer holds. */
void
edged_http_answer_clear (EdgedHttpAnswer *a)
{
  g_clear_pointer (&a->in, g_byte_array_unref);
  g_clear_pointer (&a->body, g_byte_array_unref);
  g_clear_pointer (&a->status_line, g_free);
  g_clear_pointer (&a->location, g_free);
}

/* Empties the answer for the next request. */
void
edged_http_answer_reset (EdgedHttpAnswer *a)
{
  edged_http_answer_clear (a);
  edged_http_answer_init (a);
}

/* Text for messages; see probe-answer.h. */
char *
edged_http_printable (const char *text, gsize len, gsize max)
{
  char *s = g_strndup (text ? text : "", MIN (len, max));
  for (char *c = s; *c; c++)
    if ((guchar) *c < 0x20 || (guchar) *c >= 0x7f)
      *c = ' ';
  return s;
}

/* The body for messages: printable, at most 200 bytes. */
char *
edged_http_answer_body_text (const EdgedHttpAnswer *a)
{
  return edged_http_printable (a->body->len ? (const char *) a->body->data : "", a->body->len, 200);
}

/* The head is in a->in up to head_len: status and the headers that matter. */
static gboolean
parse_head (EdgedHttpAnswer *a, gsize head_len, GError **error)
{
  g_autofree char *head = NULL;
  g_auto (GStrv) lines = NULL;
  const char *l0;
  gint64 length = -1;
  gboolean chunked = FALSE;

  if (memchr (a->in->data, '\0', head_len))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an HTTP answer: a NUL byte "
                   "in its head");
      return FALSE;
    }
  head = g_strndup ((const char *) a->in->data, head_len);
  lines = g_strsplit (head, "\n", -1);
  g_strchomp (lines[0]);
  l0 = lines[0];
  if (!g_str_has_prefix (l0, "HTTP/1.") || strlen (l0) < 12 || l0[8] != ' '
      || !g_ascii_isdigit (l0[9]) || !g_ascii_isdigit (l0[10]) || !g_ascii_isdigit (l0[11])
      || (l0[12] != ' ' && l0[12] != '\0') || l0[9] == '0')
    {
      g_autofree char *text = edged_http_printable (l0, strlen (l0), 80);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an HTTP answer: %s", text);
      return FALSE;
    }
  a->status = atoi (l0 + 9);
  a->status_line = g_strdup (l0);
  for (guint i = 1; lines[i]; i++)
    {
      char *colon = strchr (lines[i], ':');
      const char *value;
      if (!colon)
        continue;
      *colon = '\0';
      value = g_strstrip (colon + 1);
      if (!g_ascii_strcasecmp (lines[i], "Location"))
        {
          g_free (a->location);
          a->location = g_strdup (value);
        }
      else if (!g_ascii_strcasecmp (lines[i], "Content-Length"))
        {
          guint64 v;
          if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, &v, NULL))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           "a bad Content-Length: %.40s", value);
              return FALSE;
            }
          length = (gint64) v;
        }
      else if (!g_ascii_strcasecmp (lines[i], "Transfer-Encoding"))
        chunked = strstr (value, "chunked") != NULL;
    }
  if ((a->status >= 100 && a->status < 200) || a->status == 204 || a->status == 304)
    a->body_mode = EDGED_HTTP_BODY_NONE;
  else if (chunked)
    a->body_mode = EDGED_HTTP_BODY_CHUNKED;
  else if (length >= 0)
    {
      a->body_mode = EDGED_HTTP_BODY_LENGTH;
      a->body_left = length;
    }
  else
    a->body_mode = EDGED_HTTP_BODY_EOF;
  return TRUE;
}

/* Decodes what arrived of a chunked body into a->body: 1 done, 0 more
 * needed, -1 malformed. */
static int
dechunk (EdgedHttpAnswer *a)
{
  gsize pos = 0;
  int ret = 0;

  for (;;)
    {
      if (a->body->len >= EDGED_HTTP_BODY_MAX)
        {
          ret = 1;
          break;
        }
      if (a->chunk_left > 0)
        {
          gsize n = (gsize) MIN ((gint64) (a->in->len - pos), a->chunk_left);
          if (n == 0)
            break;
          g_byte_array_append (a->body, a->in->data + pos,
                               (guint) MIN (n, EDGED_HTTP_BODY_MAX - a->body->len));
          pos += n;
          a->chunk_left -= (gint64) n;
          if (a->chunk_left == 0)
            {
              a->chunk_left = -1;
              a->chunk_crlf = TRUE;
            }
          continue;
        }
      {
        guint8 *nl = memchr (a->in->data + pos, '\n', a->in->len - pos);
        g_autofree char *line = NULL;
        guint64 size;
        char *end;
        if (!nl)
          {
            ret = a->in->len - pos > EDGED_HTTP_LINE_MAX ? -1 : 0;
            break;
          }
        line = g_strndup ((const char *) a->in->data + pos, (gsize) (nl - (a->in->data + pos)));
        pos = (gsize) (nl - a->in->data) + 1;
        g_strchomp (line);
        if (a->chunk_crlf)
          {
            a->chunk_crlf = FALSE;
            if (*line)
              {
                ret = -1;
                break;
              }
            continue;
          }
        if ((end = strchr (line, ';')))
          *end = '\0';
        g_strstrip (line);
        if (!*line || !g_ascii_string_to_unsigned (line, 16, 0, G_MAXINT64, &size, NULL))
          {
            ret = -1;
            break;
          }
        if (size == 0)
          {
            ret = 1;     /* trailers are not needed: the connection closes */
            break;
          }
        a->chunk_left = (gint64) size;
      }
    }
  g_byte_array_remove_range (a->in, 0, (guint) pos);
  return ret;
}

/* What was read so far: 1 the answer is complete, 0 more is needed, -1
 * error (set). */
static int
answer_parse (EdgedHttpAnswer *a, gboolean eof, GError **error)
{
  while (!a->head_done)
    {
      guint8 *d = a->in->data;
      gsize head_len = 0;
      for (gsize i = 0; i + 1 < a->in->len && !head_len; i++)
        if (d[i] == '\n'
            && (d[i + 1] == '\n' || (d[i + 1] == '\r' && i + 2 < a->in->len && d[i + 2] == '\n')))
          head_len = i + (d[i + 1] == '\n' ? 2 : 3);
      if (!head_len)
        {
          if (a->in->len > EDGED_HTTP_HEAD_MAX)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                         "the answer's head is larger than %d bytes", EDGED_HTTP_HEAD_MAX);
          else if (eof && a->in->len)
            {
              g_autofree char *line = edged_http_printable ((const char *) d, a->in->len, 80);
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           g_str_has_prefix (line, "HTTP/1.") ? "the answer ended in its head: %s"
                                                              : "not an HTTP answer: %s", line);
            }
          else if (eof)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         "the server closed the connection without an answer");
          return eof || a->in->len > EDGED_HTTP_HEAD_MAX ? -1 : 0;
        }
      if (!parse_head (a, head_len, error))
        return -1;
      g_byte_array_remove_range (a->in, 0, (guint) head_len);
      if (a->status >= 100 && a->status < 200 && a->status != 101)
        {
          /* an interim answer (100 Continue): the real one follows */
          g_clear_pointer (&a->status_line, g_free);
          g_clear_pointer (&a->location, g_free);
          continue;
        }
      a->head_done = TRUE;
    }
  switch (a->body_mode)
    {
    case EDGED_HTTP_BODY_NONE:
      return 1;
    case EDGED_HTTP_BODY_LENGTH:
      {
        gsize n = (gsize) MIN ((gint64) a->in->len, a->body_left);
        g_byte_array_append (a->body, a->in->data,
                             (guint) MIN (n, EDGED_HTTP_BODY_MAX - a->body->len));
        a->body_left -= (gint64) n;
        g_byte_array_set_size (a->in, 0);
        if (a->body_left == 0 || a->body->len >= EDGED_HTTP_BODY_MAX)
          return 1;
        break;
      }
    case EDGED_HTTP_BODY_EOF:
      g_byte_array_append (a->body, a->in->data,
                           (guint) MIN (a->in->len, EDGED_HTTP_BODY_MAX - a->body->len));
      g_byte_array_set_size (a->in, 0);
      if (eof || a->body->len >= EDGED_HTTP_BODY_MAX)
        return 1;
      return 0;
    case EDGED_HTTP_BODY_CHUNKED:
      {
        int r = dechunk (a);
        if (r < 0)
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "a malformed chunked body");
        if (r != 0)
          return r;
        break;
      }
    }
  if (eof)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, "unexpected EOF in the body");
      return -1;
    }
  return 0;
}

/* Adds len bytes read (eof: the connection ended): 1 the answer is
 * complete, 0 more is needed, -1 not a valid answer (error set). */
int
edged_http_answer_feed (EdgedHttpAnswer *a, const guint8 *data, gsize len, gboolean eof,
                        GError **error)
{
  if (len)
    g_byte_array_append (a->in, data, (guint) len);
  return answer_parse (a, eof, error);
}
