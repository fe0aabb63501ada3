/* probe-http.c: kubelet's httpGet and tcpSocket checks on GIO, on the main
 * loop: connect (and for httpGet send one GET and read the status line),
 * all within the probe's timeout. httpGet succeeds on a status from 200 to
 * 399, as kubelet's; the body is not read. */
#include "probe.h"

#include <stdlib.h>
#include <string.h>

#define STATUS_LINE_MAX 4096   /* the answer's head read at most */

typedef struct {
  gboolean        http;
  char           *request;
  GSocketConnection *conn;
  GCancellable   *cancel;      /* ours: the timeout and the caller's cancel */
  GCancellable   *outer;
  gulong          outer_handler;
  guint           timer;
  gboolean        timed_out;
  GByteArray     *head;
  guint8          buf[1024];
  EdgedProbeDone  done;
  gpointer        data;
} Check;

static void
check_finish (Check *k, gboolean ok, const char *detail)
{
  g_clear_handle_id (&k->timer, g_source_remove);
  if (k->outer_handler)
    g_cancellable_disconnect (k->outer, k->outer_handler);
  k->done (ok, detail, k->data);
  if (k->conn)
    g_io_stream_close (G_IO_STREAM (k->conn), NULL, NULL);
  g_clear_object (&k->conn);
  g_clear_object (&k->cancel);
  g_clear_object (&k->outer);
  g_byte_array_unref (k->head);
  g_free (k->request);
  g_free (k);
}

static void
check_failed (Check *k, const char *what, GError *error)
{
  g_autofree char *detail = k->timed_out
    ? g_strdup_printf ("%s: timeout exceeded", what)
    : g_strdup_printf ("%s: %s", what, error ? error->message : "failed");
  check_finish (k, FALSE, detail);
}

static void
on_read (GObject *source, GAsyncResult *res, gpointer data)
{
  Check *k = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), res, &error);
  guint8 *eol;

  if (n < 0)
    {
      check_failed (k, "reading the answer", error);
      return;
    }
  g_byte_array_append (k->head, k->buf, (guint) n);
  eol = memchr (k->head->data, '\n', k->head->len);
  if (eol || n == 0 || k->head->len >= STATUS_LINE_MAX)
    {
      g_autofree char *line = g_strndup ((char *) k->head->data,
                                         eol ? (gsize) (eol - k->head->data) : k->head->len);
      int code = 0;
      if (g_str_has_prefix (line, "HTTP/1.") && strlen (line) >= 12 && line[8] == ' ')
        code = atoi (line + 9);
      g_strchomp (line);
      if (code >= 200 && code < 400)
        check_finish (k, TRUE, line);
      else
        {
          g_autofree char *detail = code ? g_strdup_printf ("HTTP probe failed with statuscode: %d", code)
                                         : g_strdup_printf ("not an HTTP answer: %.80s", line);
          check_finish (k, FALSE, detail);
        }
      return;
    }
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (k->conn)), k->buf,
                             sizeof k->buf, G_PRIORITY_DEFAULT, k->cancel, on_read, k);
}

static void
on_written (GObject *source, GAsyncResult *res, gpointer data)
{
  Check *k = data;
  g_autoptr (GError) error = NULL;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), res, NULL, &error))
    {
      check_failed (k, "sending the request", error);
      return;
    }
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (k->conn)), k->buf,
                             sizeof k->buf, G_PRIORITY_DEFAULT, k->cancel, on_read, k);
}

static void
on_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  Check *k = data;
  g_autoptr (GError) error = NULL;
  k->conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), res, &error);
  if (!k->conn)
    {
      check_failed (k, "connecting", error);
      return;
    }
  if (!k->http)
    {
      check_finish (k, TRUE, "connected");
      return;
    }
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (k->conn)),
                                   k->request, strlen (k->request), G_PRIORITY_DEFAULT, k->cancel,
                                   on_written, k);
}

static gboolean
on_timeout (gpointer data)
{
  Check *k = data;
  k->timer = 0;
  k->timed_out = TRUE;
  g_cancellable_cancel (k->cancel);
  return G_SOURCE_REMOVE;
}

static void
on_outer_cancelled (GCancellable *outer, gpointer data)
{
  Check *k = data;
  g_cancellable_cancel (k->cancel);
}

static void
check_start (Check *k, const char *host, int port, guint timeout_ms, GCancellable *outer)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  k->cancel = g_cancellable_new ();
  k->head = g_byte_array_new ();
  k->timer = g_timeout_add (timeout_ms, on_timeout, k);
  if (outer)
    {
      k->outer = g_object_ref (outer);
      k->outer_handler = g_cancellable_connect (outer, G_CALLBACK (on_outer_cancelled), k, NULL);
    }
  g_socket_client_connect_to_host_async (client, host, (guint16) port, k->cancel, on_connected, k);
}

/* One httpGet of spec on host (the pod's IP unless spec names one). */
void
edged_probe_http (const EdgedProbeSpec *spec, const char *host, guint timeout_ms,
                  GCancellable *cancel, EdgedProbeDone done, gpointer data)
{
  Check *k = g_new0 (Check, 1);
  GString *req = g_string_new (NULL);
  gboolean host_set = FALSE, agent_set = FALSE, accept_set = FALSE;
  const char *h = spec->host ? spec->host : host;
  gboolean v6 = strchr (h, ':') != NULL;

  for (guint i = 0; spec->header_names && spec->header_names[i]; i++)
    {
      host_set |= !g_ascii_strcasecmp (spec->header_names[i], "Host");
      agent_set |= !g_ascii_strcasecmp (spec->header_names[i], "User-Agent");
      accept_set |= !g_ascii_strcasecmp (spec->header_names[i], "Accept");
    }
  g_string_append_printf (req, "GET %s HTTP/1.1\r\n", spec->path);
  if (!host_set)
    g_string_append_printf (req, v6 ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n", h, spec->port);
  if (!agent_set)
    g_string_append (req, "User-Agent: kube-probe/1.21\r\n");
  if (!accept_set)
    g_string_append (req, "Accept: */*\r\n");
  for (guint i = 0; spec->header_names && spec->header_names[i]; i++)
    g_string_append_printf (req, "%s: %s\r\n", spec->header_names[i], spec->header_values[i]);
  g_string_append (req, "Connection: close\r\n\r\n");
  k->http = TRUE;
  k->request = g_string_free (req, FALSE);
  k->done = done;
  k->data = data;
  check_start (k, h, spec->port, timeout_ms, cancel);
}

/* One tcpSocket check: a connection opened within the timeout. */
void
edged_probe_tcp (const EdgedProbeSpec *spec, const char *host, guint timeout_ms,
                 GCancellable *cancel, EdgedProbeDone done, gpointer data)
{
  Check *k = g_new0 (Check, 1);
  k->done = done;
  k->data = data;
  check_start (k, spec->host ? spec->host : host, spec->port, timeout_ms, cancel);
}
