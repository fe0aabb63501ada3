/* http.c: one HTTP/1.1 request and its answer over an EhTlsStream. */
#include "http.h"

#include <string.h>

#define MAX_HEAD (16 * 1024)
#define MAX_CHUNK_LINE 1024   /* a chunk-size line, extensions included */

typedef struct {
  EhTlsStream    *stream;
  GByteArray     *buf;        /* what was read and not yet consumed */
  gboolean        read_body;
  gsize           max_body;
  EhHttpResponse *resp;
  gboolean        head_done;
  gboolean        eof;
  GError         *write_error;   /* the request could not be written: the answer may say why */
  guint8          chunk[8192];
} Exchange;

static void
exchange_free (gpointer data)
{
  Exchange *x = data;
  g_clear_object (&x->stream);
  g_byte_array_unref (x->buf);
  g_clear_pointer (&x->resp, eh_http_response_free);
  g_clear_error (&x->write_error);
  g_free (x);
}

/* Frees a response. */
void
eh_http_response_free (EhHttpResponse *r)
{
  if (!r)
    return;
  g_free (r->reason);
  g_clear_pointer (&r->headers, g_hash_table_unref);
  g_clear_pointer (&r->body, g_bytes_unref);
  g_free (r);
}

static void read_more (GTask *task);

/* Fails the exchange with a protocol error. */
static void
fail (GTask *task, const char *message)
{
  g_task_return_new_error (task, EH_TLS_ERROR, EH_TLS_ERROR_PROTOCOL, "%s", message);
  g_object_unref (task);
}

/* Parses the head in buf[0..len) (ending in CRLFCRLF). */
static gboolean
parse_head (Exchange *x, gsize len, GError **error)
{
  g_autofree char *text = g_strndup ((const char *) x->buf->data, len);
  g_auto (GStrv) lines = g_strsplit (text, "\r\n", -1);
  char *sp;
  x->resp = g_new0 (EhHttpResponse, 1);
  x->resp->headers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  if (!g_str_has_prefix (lines[0], "HTTP/1.") || strlen (lines[0]) < 12 || !g_ascii_isdigit (lines[0][9]))
    {
      g_set_error (error, EH_TLS_ERROR, EH_TLS_ERROR_PROTOCOL, "the cloud's answer is not HTTP/1.x: %.60s",
                   lines[0]);
      return FALSE;
    }
  x->resp->status = (guint) g_ascii_strtoull (lines[0] + 9, &sp, 10);
  x->resp->reason = g_strdup (g_strstrip (sp));
  for (guint i = 1; lines[i] && *lines[i]; i++)
    {
      char *colon = strchr (lines[i], ':');
      if (!colon)
        continue;
      *colon = '\0';
      g_hash_table_replace (x->resp->headers, g_ascii_strdown (g_strstrip (lines[i]), -1),
                            g_strdup (g_strstrip (colon + 1)));
    }
  return TRUE;
}

/* Tries to decode a chunked body from buf; TRUE when complete (body set). */
static gboolean
dechunk (Exchange *x, GError **error)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  gsize pos = 0, len = x->buf->len;
  const char *p = (const char *) x->buf->data;
  for (;;)
    {
      const char *eol = g_strstr_len (p + pos, (gssize) (len - pos), "\r\n");
      guint64 size;
      char *end;
      if (!eol)
        {
          if (len - pos > MAX_CHUNK_LINE)
            {
              g_set_error (error, EH_TLS_ERROR, EH_TLS_ERROR_PROTOCOL,
                           "a chunk-size line of the cloud's answer is longer than %d bytes",
                           MAX_CHUNK_LINE);
              return FALSE;
            }
          return FALSE;
        }
      size = g_ascii_strtoull (p + pos, &end, 16);
      if (end == p + pos)
        {
          g_set_error (error, EH_TLS_ERROR, EH_TLS_ERROR_PROTOCOL, "bad chunk in the cloud's answer");
          return FALSE;
        }
      if (size > x->max_body || out->len + size > x->max_body)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                       "the cloud's answer is larger than %" G_GSIZE_FORMAT " bytes", x->max_body);
          return FALSE;
        }
      pos = (gsize) (eol - p) + 2;
      if (size == 0)
        {
          x->resp->body = g_byte_array_free_to_bytes (g_steal_pointer (&out));
          return TRUE;
        }
      if (len - pos < size + 2)
        return FALSE;
      g_byte_array_append (out, (const guint8 *) p + pos, (guint) size);
      pos += size + 2;
    }
}

/* Looks at what was read: head complete? body complete? */
static void
consume (GTask *task)
{
  Exchange *x = g_task_get_task_data (task);
  GError *error = NULL;
  const char *cl, *te;

  if (!x->head_done)
    {
      const char *end = g_strstr_len ((const char *) x->buf->data, (gssize) x->buf->len, "\r\n\r\n");
      gsize head_len;
      if (!end)
        {
          if (x->buf->len > MAX_HEAD)
            { fail (task, "the cloud's answer has a head larger than 16 KiB"); return; }
          if (x->eof)
            { fail (task, "the cloud closed the connection before answering"); return; }
          read_more (task);
          return;
        }
      head_len = (gsize) (end - (const char *) x->buf->data) + 4;
      if (!parse_head (x, head_len, &error))
        {
          g_task_return_error (task, error);
          g_object_unref (task);
          return;
        }
      g_byte_array_remove_range (x->buf, 0, (guint) head_len);
      x->head_done = TRUE;
      if (!x->read_body)
        {
          eh_tls_stream_unread (x->stream, x->buf->data, x->buf->len);
          g_task_return_pointer (task, g_steal_pointer (&x->resp), (GDestroyNotify) eh_http_response_free);
          g_object_unref (task);
          return;
        }
    }
  cl = g_hash_table_lookup (x->resp->headers, "content-length");
  te = g_hash_table_lookup (x->resp->headers, "transfer-encoding");
  if (te && g_ascii_strcasecmp (te, "chunked") == 0)
    {
      /* the decoded size is checked by dechunk(); this bounds what is kept
       * undecoded (chunk framing included) */
      if (x->buf->len > 2 * x->max_body + MAX_HEAD)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                   "the cloud's chunked answer is larger than %" G_GSIZE_FORMAT " bytes",
                                   2 * x->max_body + MAX_HEAD);
          g_object_unref (task);
          return;
        }
      if (!dechunk (x, &error))
        {
          if (error)
            {
              g_task_return_error (task, error);
              g_object_unref (task);
            }
          else if (x->eof)
            fail (task, "the cloud's chunked answer ends early");
          else
            read_more (task);
          return;
        }
    }
  else
    {
      guint64 want = cl ? g_ascii_strtoull (cl, NULL, 10) : G_MAXUINT64;
      if ((cl && want > x->max_body) || x->buf->len > x->max_body)
        {
          g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                                   "the cloud's answer is larger than %" G_GSIZE_FORMAT " bytes", x->max_body);
          g_object_unref (task);
          return;
        }
      if (cl ? x->buf->len < want : !x->eof)
        {
          if (x->eof)
            { fail (task, "the cloud's answer ends early"); return; }
          read_more (task);
          return;
        }
      x->resp->body = g_bytes_new (x->buf->data, cl ? (gsize) want : x->buf->len);
    }
  g_task_return_pointer (task, g_steal_pointer (&x->resp), (GDestroyNotify) eh_http_response_free);
  g_object_unref (task);
}

static void
on_read (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  Exchange *x = g_task_get_task_data (task);
  GError *error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);
  if (n < 0 || (n == 0 && x->write_error))
    {
      /* after a failed write, a refusal read here (a TLS alert) is the real
       * cause; anything else, the write's error is */
      if (x->write_error && !g_error_matches (error, EH_TLS_ERROR, EH_TLS_ERROR_CLIENT_REFUSED))
        {
          g_clear_error (&error);
          error = g_steal_pointer (&x->write_error);
        }
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  if (n == 0)
    x->eof = TRUE;
  else
    g_byte_array_append (x->buf, x->chunk, (guint) n);
  consume (task);
}

/* Reads the next piece; with the head not yet complete, a small one, so
 * that little of what follows an upgrade is read ahead. */
static void
read_more (GTask *task)
{
  Exchange *x = g_task_get_task_data (task);
  gsize want = x->head_done ? sizeof x->chunk : 512;
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (x->stream)), x->chunk, want,
                             G_PRIORITY_DEFAULT, g_task_get_cancellable (task), on_read, task);
}

static void
on_written (GObject *source, GAsyncResult *res, gpointer data)
{
  GTask *task = data;
  GError *error = NULL;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error))
    {
      Exchange *x = g_task_get_task_data (task);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_task_return_error (task, error);
          g_object_unref (task);
          return;
        }
      x->write_error = error;   /* the peer may have said why before closing */
    }
  read_more (task);
}

/* See http.h. */
void
eh_http_exchange_async (EhTlsStream *stream, const char *head, GBytes *body, gboolean read_body,
                        gsize max_body, GCancellable *cancellable, GAsyncReadyCallback cb, gpointer data)
{
  GTask *task = g_task_new (stream, cancellable, cb, data);
  Exchange *x = g_new0 (Exchange, 1);
  GByteArray *req = g_byte_array_new ();
  gsize len;
  const guint8 *p;

  x->stream = g_object_ref (stream);
  x->buf = g_byte_array_new ();
  x->read_body = read_body;
  x->max_body = max_body;
  g_task_set_task_data (task, x, exchange_free);
  g_byte_array_append (req, (const guint8 *) head, (guint) strlen (head));
  if (body)
    {
      p = g_bytes_get_data (body, &len);
      g_byte_array_append (req, p, (guint) len);
    }
  /* the request buffer lives as long as the task */
  g_object_set_data_full (G_OBJECT (task), "request", req, (GDestroyNotify) g_byte_array_unref);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (stream)), req->data, req->len,
                                   G_PRIORITY_DEFAULT, cancellable, on_written, task);
}

EhHttpResponse *
eh_http_exchange_finish (GAsyncResult *res, GError **error)
{
  return g_task_propagate_pointer (G_TASK (res), error);
}

char *
eh_ws_accept_key (const char *key)
{
  g_autofree char *text = g_strconcat (key, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", NULL);
  guint8 digest[20];
  gsize len = sizeof digest;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA1);
  g_checksum_update (sum, (const guchar *) text, -1);
  g_checksum_get_digest (sum, digest, &len);
  return g_base64_encode (digest, len);
}
