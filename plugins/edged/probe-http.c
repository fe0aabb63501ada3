/* probe-http.c: kubelet's httpGet and tcpSocket checks on GIO, on the main
 * loop, each attempt within the probe's timeout:
 *
 *   - tcpSocket: a connection opened is a success;
 *   - httpGet: one GET (HTTP/1.1, Connection: close, no proxy), over TLS
 *     for scheme HTTPS (probe-tls.c: no certificate check, as kubelet's
 *     InsecureSkipVerify). The answer's head (at most 64 KiB) and at most
 *     10 KiB of its body (kubelet's limit; the rest is not read) are read.
 *     A status from 200 to 299 is a success; redirects (301, 302, 303,
 *     307, 308 with a Location) to the same host name are followed, up to
 *     kubelet's 10 requests, over http or https; a redirect to another
 *     host, or any other 3xx, ends the probe as a success with a warning
 *     ("Probe terminated redirects"); other statuses fail. */
#include "probe.h"
#include "probe-tls.h"

#include <stdlib.h>
#include <string.h>

#define HEAD_MAX      (64 * 1024)  /* the answer's head */
#define BODY_MAX      (10 * 1024)  /* kubelet's maxRespBodyLength */
#define CHUNK_LINE_MAX      1024         /* a chunk-size line */
#define REDIRECTS_MAX 10           /* Go's and kubelet's: the 10th redirect fails */

typedef enum { PHASE_HANDSHAKE, PHASE_WRITE, PHASE_READ } Phase;
typedef enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_EOF } BodyMode;

typedef struct {
  gboolean           http;
  /* the request (the current URL) */
  gboolean           https;
  char              *host;            /* dialled, as in the URL (no brackets) */
  int                port;
  char              *path;            /* path and query */
  char              *host_header;     /* httpHeaders' Host, or NULL */
  char             **header_names;    /* the other httpHeaders */
  char             **header_values;
  char              *first_host;      /* the first URL's host: redirects elsewhere end */
  guint              requests;
  char              *request;
  gsize              sent;
  /* the connection */
  GSocketConnection *conn;
  GSocket           *socket;
  EdgedProbeTls     *tls;
  GSource           *source;          /* waiting on the socket */
  Phase              phase;
  /* the answer */
  GByteArray        *in;              /* bytes read and not parsed yet */
  gboolean           head_done;
  int                status;
  char              *status_line;
  char              *location;
  BodyMode           body_mode;
  gint64             body_left;       /* BODY_LENGTH: bytes still due */
  gint64             chunk_left;      /* BODY_CHUNKED: bytes left in the chunk, -1 at a line */
  gboolean           chunk_crlf;      /* the CRLF after a chunk's data is due */
  GByteArray        *body;            /* at most BODY_MAX */
  /* the attempt */
  GCancellable      *cancel;          /* ours: the timeout and the caller's cancel */
  GCancellable      *outer;
  gulong             outer_handler;
  guint              timer;
  gboolean           timed_out;
  EdgedProbeDone     done;
  gpointer           data;
} Check;

static void check_connect (Check *k);

static void
conn_close (Check *k)
{
  if (k->source)
    {
      g_source_destroy (k->source);
      g_clear_pointer (&k->source, g_source_unref);
    }
  g_clear_pointer (&k->tls, edged_probe_tls_free);
  if (k->conn)
    g_io_stream_close (G_IO_STREAM (k->conn), NULL, NULL);
  g_clear_object (&k->conn);
  k->socket = NULL;
}

static void
answer_reset (Check *k)
{
  g_byte_array_set_size (k->in, 0);
  g_byte_array_set_size (k->body, 0);
  k->head_done = FALSE;
  k->status = 0;
  g_clear_pointer (&k->status_line, g_free);
  g_clear_pointer (&k->location, g_free);
  k->body_mode = BODY_NONE;
  k->body_left = 0;
  k->chunk_left = -1;
  k->chunk_crlf = FALSE;
}

static void
check_finish (Check *k, EdgedProbeResult result, const char *detail)
{
  g_clear_handle_id (&k->timer, g_source_remove);
  if (k->outer_handler)
    g_cancellable_disconnect (k->outer, k->outer_handler);
  conn_close (k);
  k->done (result, detail, k->data);
  g_clear_object (&k->cancel);
  g_clear_object (&k->outer);
  g_byte_array_unref (k->in);
  g_byte_array_unref (k->body);
  g_free (k->status_line);
  g_free (k->location);
  g_free (k->host);
  g_free (k->path);
  g_free (k->host_header);
  g_strfreev (k->header_names);
  g_strfreev (k->header_values);
  g_free (k->first_host);
  g_free (k->request);
  g_free (k);
}

/* The URL being fetched, for messages (Go's form). */
static char *
check_url (Check *k)
{
  gboolean v6 = strchr (k->host, ':') != NULL;
  return g_strdup_printf (v6 ? "%s://[%s]:%d%s" : "%s://%s:%d%s", k->https ? "https" : "http",
                          k->host, k->port, k->path);
}

static void
check_failed (Check *k, const char *what, const GError *error)
{
  g_autofree char *detail = NULL;
  if (k->timed_out)
    detail = g_strdup_printf ("%s: timeout exceeded", what);
  else
    detail = g_strdup_printf ("%s: %s", what, error ? error->message : "failed");
  if (k->http)
    {
      g_autofree char *url = check_url (k);
      g_autofree char *full = g_strdup_printf ("Get \"%s\": %s", url, detail);
      check_finish (k, EDGED_PROBE_FAILURE, full);
      return;
    }
  check_finish (k, EDGED_PROBE_FAILURE, detail);
}

/* The body for messages: printable, at most 200 bytes. */
static char *
body_text (Check *k)
{
  g_autofree char *s = k->body->len ? g_strndup ((const char *) k->body->data, MIN (k->body->len, 200))
                                     : g_strdup ("");
  for (char *c = s; *c; c++)
    if ((guchar) *c < 0x20 || (guchar) *c >= 0x7f)
      *c = ' ';
  return g_steal_pointer (&s);
}

/* ---- the answer ----------------------------------------------------------- */

/* The head is in k->in up to head_len: status and the headers that matter. */
static gboolean
parse_head (Check *k, gsize head_len, GError **error)
{
  g_autofree char *head = g_strndup ((const char *) k->in->data, head_len);
  g_auto (GStrv) lines = g_strsplit (head, "\n", -1);
  const char *l0;
  gint64 length = -1;
  gboolean chunked = FALSE;

  g_strchomp (lines[0]);
  l0 = lines[0];
  if (!g_str_has_prefix (l0, "HTTP/1.") || strlen (l0) < 12 || l0[8] != ' '
      || !g_ascii_isdigit (l0[9]) || !g_ascii_isdigit (l0[10]) || !g_ascii_isdigit (l0[11]))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not an HTTP answer: %.80s", l0);
      return FALSE;
    }
  k->status = atoi (l0 + 9);
  k->status_line = g_strdup (l0);
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
          g_free (k->location);
          k->location = g_strdup (value);
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
  if ((k->status >= 100 && k->status < 200) || k->status == 204 || k->status == 304)
    k->body_mode = BODY_NONE;
  else if (chunked)
    k->body_mode = BODY_CHUNKED;
  else if (length >= 0)
    {
      k->body_mode = BODY_LENGTH;
      k->body_left = length;
    }
  else
    k->body_mode = BODY_EOF;
  return TRUE;
}

/* Decodes what arrived of a chunked body into k->body: 1 done, 0 more
 * needed, -1 malformed. */
static int
dechunk (Check *k)
{
  gsize pos = 0;
  int ret = 0;

  for (;;)
    {
      if (k->body->len >= BODY_MAX)
        {
          ret = 1;
          break;
        }
      if (k->chunk_left > 0)
        {
          gsize n = (gsize) MIN ((gint64) (k->in->len - pos), k->chunk_left);
          if (n == 0)
            break;
          g_byte_array_append (k->body, k->in->data + pos, (guint) MIN (n, BODY_MAX - k->body->len));
          pos += n;
          k->chunk_left -= (gint64) n;
          if (k->chunk_left == 0)
            {
              k->chunk_left = -1;
              k->chunk_crlf = TRUE;
            }
          continue;
        }
      {
        guint8 *nl = memchr (k->in->data + pos, '\n', k->in->len - pos);
        g_autofree char *line = NULL;
        guint64 size;
        char *end;
        if (!nl)
          {
            ret = k->in->len - pos > CHUNK_LINE_MAX ? -1 : 0;
            break;
          }
        line = g_strndup ((const char *) k->in->data + pos, (gsize) (nl - (k->in->data + pos)));
        pos = (gsize) (nl - k->in->data) + 1;
        g_strchomp (line);
        if (k->chunk_crlf)
          {
            k->chunk_crlf = FALSE;
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
        k->chunk_left = (gint64) size;
      }
    }
  g_byte_array_remove_range (k->in, 0, (guint) pos);
  return ret;
}

/* What was read so far: 1 the answer is complete, 0 more is needed, -1
 * error (set). */
static int
answer_parse (Check *k, gboolean eof, GError **error)
{
  while (!k->head_done)
    {
      guint8 *d = k->in->data;
      gsize head_len = 0;
      for (gsize i = 0; i + 1 < k->in->len && !head_len; i++)
        if (d[i] == '\n' && (d[i + 1] == '\n' || (d[i + 1] == '\r' && i + 2 < k->in->len && d[i + 2] == '\n')))
          head_len = i + (d[i + 1] == '\n' ? 2 : 3);
      if (!head_len)
        {
          if (k->in->len > HEAD_MAX)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                         "the answer's head is larger than %d bytes", HEAD_MAX);
          else if (eof && k->in->len)
            {
              g_autofree char *line = g_strndup ((const char *) d, MIN (k->in->len, 80));
              g_strdelimit (line, "\r\n", ' ');
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           g_str_has_prefix (line, "HTTP/1.") ? "the answer ended in its head: %s"
                                                              : "not an HTTP answer: %s", line);
            }
          else if (eof)
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                         "the server closed the connection without an answer");
          return eof || k->in->len > HEAD_MAX ? -1 : 0;
        }
      if (!parse_head (k, head_len, error))
        return -1;
      g_byte_array_remove_range (k->in, 0, (guint) head_len);
      if (k->status >= 100 && k->status < 200 && k->status != 101)
        {
          /* an interim answer (100 Continue): the real one follows */
          g_clear_pointer (&k->status_line, g_free);
          g_clear_pointer (&k->location, g_free);
          continue;
        }
      k->head_done = TRUE;
    }
  switch (k->body_mode)
    {
    case BODY_NONE:
      return 1;
    case BODY_LENGTH:
      {
        gsize n = (gsize) MIN ((gint64) k->in->len, k->body_left);
        g_byte_array_append (k->body, k->in->data, (guint) MIN (n, BODY_MAX - k->body->len));
        k->body_left -= (gint64) n;
        g_byte_array_set_size (k->in, 0);
        if (k->body_left == 0 || k->body->len >= BODY_MAX)
          return 1;
        break;
      }
    case BODY_EOF:
      g_byte_array_append (k->body, k->in->data, (guint) MIN (k->in->len, BODY_MAX - k->body->len));
      g_byte_array_set_size (k->in, 0);
      if (eof || k->body->len >= BODY_MAX)
        return 1;
      return 0;
    case BODY_CHUNKED:
      {
        int r = dechunk (k);
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

/* The answer is complete: follow a redirect, or the outcome. */
static void
answer_done (Check *k)
{
  int s = k->status;
  g_autofree char *body = body_text (k);

  if ((s == 301 || s == 302 || s == 303 || s == 307 || s == 308) && k->location && *k->location)
    {
      g_autofree char *url = check_url (k);
      g_autoptr (GError) error = NULL;
      GUriFlags flags = G_URI_FLAGS_ENCODED | G_URI_FLAGS_PARSE_RELAXED;
      g_autoptr (GUri) base = g_uri_parse (url, flags, &error);
      g_autoptr (GUri) next = base ? g_uri_parse_relative (base, k->location, flags, &error) : NULL;
      const char *scheme = next ? g_uri_get_scheme (next) : NULL;
      const char *host = next ? g_uri_get_host (next) : NULL;

      if (!next || !host || !*host)
        {
          g_autofree char *detail = g_strdup_printf ("Get \"%s\": failed to parse Location "
                                                     "header %.200s", url, k->location);
          check_finish (k, EDGED_PROBE_FAILURE, detail);
          return;
        }
      if (strcmp (host, k->first_host) != 0)
        {
          /* kubelet does not follow a redirect to another host */
          g_autofree char *detail = g_strdup_printf ("Probe terminated redirects, Response body: %s",
                                                     body);
          check_finish (k, EDGED_PROBE_WARNING, detail);
          return;
        }
      if (k->requests >= REDIRECTS_MAX)
        {
          g_autofree char *detail = g_strdup_printf ("Get \"%s\": stopped after %d redirects", url,
                                                     REDIRECTS_MAX);
          check_finish (k, EDGED_PROBE_FAILURE, detail);
          return;
        }
      if (g_ascii_strcasecmp (scheme, "http") && g_ascii_strcasecmp (scheme, "https"))
        {
          g_autofree char *detail = g_strdup_printf ("Get \"%.200s\": unsupported protocol scheme "
                                                     "\"%s\"", k->location, scheme);
          check_finish (k, EDGED_PROBE_FAILURE, detail);
          return;
        }
      /* a custom Host goes on only with a relative Location (Go's rule) */
      if (g_uri_peek_scheme (k->location))
        g_clear_pointer (&k->host_header, g_free);
      k->https = !g_ascii_strcasecmp (scheme, "https");
      g_free (k->host);
      k->host = g_strdup (host);
      k->port = g_uri_get_port (next) > 0 ? g_uri_get_port (next) : k->https ? 443 : 80;
      g_free (k->path);
      k->path = g_strdup_printf ("%s%s%s", *g_uri_get_path (next) ? g_uri_get_path (next) : "/",
                                 g_uri_get_query (next) ? "?" : "",
                                 g_uri_get_query (next) ? g_uri_get_query (next) : "");
      conn_close (k);
      answer_reset (k);
      check_connect (k);
      return;
    }
  if (s >= 200 && s < 300)
    check_finish (k, EDGED_PROBE_SUCCESS, k->status_line);
  else if (s >= 300 && s < 400)
    {
      g_autofree char *detail = g_strdup_printf ("Probe terminated redirects, Response body: %s", body);
      check_finish (k, EDGED_PROBE_WARNING, detail);
    }
  else
    {
      g_autofree char *detail = g_strdup_printf ("HTTP probe failed with statuscode: %d", s);
      check_finish (k, EDGED_PROBE_FAILURE, detail);
    }
}

/* ---- the exchange ---------------------------------------------------------- */

static void check_step (Check *k);

static gboolean
on_socket_ready (GSocket *socket, GIOCondition cond, gpointer data)
{
  Check *k = data;
  g_clear_pointer (&k->source, g_source_unref);
  check_step (k);
  return G_SOURCE_REMOVE;
}

static void
wait_for (Check *k, GIOCondition cond)
{
  k->source = g_socket_create_source (k->socket, cond | G_IO_HUP | G_IO_ERR, k->cancel);
  g_source_set_callback (k->source, G_SOURCE_FUNC (on_socket_ready), k, NULL);
  g_source_attach (k->source, NULL);
}

/* Runs the exchange as far as the socket allows. */
static void
check_step (Check *k)
{
  guint8 buf[4096];

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      GIOCondition want = 0;
      gssize n = 0;

      if (g_cancellable_set_error_if_cancelled (k->cancel, &error))
        {
          check_failed (k, k->phase == PHASE_HANDSHAKE ? "TLS handshake"
                           : k->phase == PHASE_WRITE ? "sending the request" : "reading the answer",
                        error);
          return;
        }
      switch (k->phase)
        {
        case PHASE_HANDSHAKE:
          n = edged_probe_tls_handshake (k->tls, &want, &error);
          if (n > 0)
            k->phase = PHASE_WRITE;
          break;
        case PHASE_WRITE:
          if (k->tls)
            n = edged_probe_tls_write (k->tls, k->request + k->sent, strlen (k->request) - k->sent,
                                       &want, &error);
          else
            {
              n = g_socket_send (k->socket, k->request + k->sent, strlen (k->request) - k->sent,
                                 NULL, &error);
              if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                {
                  n = 0;
                  want = G_IO_OUT;
                }
              else if (n < 0)
                g_prefix_error (&error, "sending the request: ");
            }
          if (n > 0 && (k->sent += (gsize) n) == strlen (k->request))
            k->phase = PHASE_READ;
          break;
        case PHASE_READ:
          {
            gboolean eof = FALSE;
            int r;
            if (k->tls)
              n = edged_probe_tls_read (k->tls, buf, sizeof buf, &want, &eof, &error);
            else
              {
                n = g_socket_receive (k->socket, (char *) buf, sizeof buf, NULL, &error);
                if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                  {
                    n = 0;
                    want = G_IO_IN;
                  }
                else if (n < 0)
                  g_prefix_error (&error, "reading the answer: ");
                eof = n == 0 && !want;
              }
            if (n < 0)
              break;
            if (n > 0)
              g_byte_array_append (k->in, buf, (guint) n);
            if (n == 0 && !eof)
              break;
            r = answer_parse (k, eof, &error);
            if (r < 0)
              {
                g_autofree char *url = check_url (k);
                g_autofree char *detail = g_strdup_printf ("Get \"%s\": %s", url, error->message);
                check_finish (k, EDGED_PROBE_FAILURE, detail);
                return;
              }
            if (r > 0)
              {
                answer_done (k);
                return;
              }
            continue;
          }
        }
      if (n < 0)
        {
          g_autofree char *url = check_url (k);
          g_autofree char *detail = g_strdup_printf ("Get \"%s\": %s", url, error->message);
          check_finish (k, EDGED_PROBE_FAILURE, detail);
          return;
        }
      if (n == 0 && want)
        {
          wait_for (k, want);
          return;
        }
    }
}

/* The request for the current URL. */
static char *
request_build (Check *k)
{
  GString *req = g_string_new (NULL);
  gboolean agent_set = FALSE, accept_set = FALSE;
  gboolean v6 = strchr (k->host, ':') != NULL;

  for (guint i = 0; k->header_names && k->header_names[i]; i++)
    {
      agent_set |= !g_ascii_strcasecmp (k->header_names[i], "User-Agent");
      accept_set |= !g_ascii_strcasecmp (k->header_names[i], "Accept");
    }
  g_string_append_printf (req, "GET %s HTTP/1.1\r\n", k->path);
  if (k->host_header)
    g_string_append_printf (req, "Host: %s\r\n", k->host_header);
  else
    g_string_append_printf (req, v6 ? "Host: [%s]:%d\r\n" : "Host: %s:%d\r\n", k->host, k->port);
  if (!agent_set)
    g_string_append (req, "User-Agent: kube-probe/1.21\r\n");
  if (!accept_set)
    g_string_append (req, "Accept: */*\r\n");
  for (guint i = 0; k->header_names && k->header_names[i]; i++)
    g_string_append_printf (req, "%s: %s\r\n", k->header_names[i], k->header_values[i]);
  g_string_append (req, "Connection: close\r\n\r\n");
  return g_string_free (req, FALSE);
}

static void
on_connected (GObject *source, GAsyncResult *res, gpointer data)
{
  Check *k = data;
  g_autoptr (GError) error = NULL;
  k->conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (source), res, &error);
  if (!k->conn)
    {
      check_failed (k, "connecting", error);
      return;
    }
  if (!k->http)
    {
      check_finish (k, EDGED_PROBE_SUCCESS, "connected");
      return;
    }
  k->socket = g_socket_connection_get_socket (k->conn);
  g_socket_set_blocking (k->socket, FALSE);
  k->requests++;
  g_free (k->request);
  k->request = request_build (k);
  k->sent = 0;
  k->phase = PHASE_WRITE;
  if (k->https)
    {
      if (!(k->tls = edged_probe_tls_new (k->socket, k->host, &error)))
        {
          check_failed (k, "TLS", error);
          return;
        }
      k->phase = PHASE_HANDSHAKE;
    }
  check_step (k);
}

/* Connects to the current URL's host and port. */
static void
check_connect (Check *k)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketConnectable) address = g_network_address_new (k->host, (guint16) k->port);
  /* kubelet's probes use no proxy */
  g_socket_client_set_enable_proxy (client, FALSE);
  g_socket_client_connect_async (client, address, k->cancel, on_connected, k);
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
  k->host = g_strdup (host);
  k->port = port;
  k->cancel = g_cancellable_new ();
  k->in = g_byte_array_new ();
  k->body = g_byte_array_new ();
  k->chunk_left = -1;
  k->timer = g_timeout_add (timeout_ms, on_timeout, k);
  if (outer)
    {
      k->outer = g_object_ref (outer);
      k->outer_handler = g_cancellable_connect (outer, G_CALLBACK (on_outer_cancelled), k, NULL);
    }
  check_connect (k);
}

/* One httpGet of spec on host (the pod's IP unless spec names one). */
void
edged_probe_http (const EdgedProbeSpec *spec, const char *host, guint timeout_ms,
                  GCancellable *cancel, EdgedProbeDone done, gpointer data)
{
  Check *k = g_new0 (Check, 1);
  GPtrArray *names = g_ptr_array_new (), *values = g_ptr_array_new ();

  for (guint i = 0; spec->header_names && spec->header_names[i]; i++)
    {
      if (!g_ascii_strcasecmp (spec->header_names[i], "Host"))
        {
          if (!k->host_header)
            k->host_header = g_strdup (spec->header_values[i]);
          continue;
        }
      g_ptr_array_add (names, g_strdup (spec->header_names[i]));
      g_ptr_array_add (values, g_strdup (spec->header_values[i]));
    }
  g_ptr_array_add (names, NULL);
  g_ptr_array_add (values, NULL);
  k->header_names = (char **) g_ptr_array_free (names, FALSE);
  k->header_values = (char **) g_ptr_array_free (values, FALSE);
  k->http = TRUE;
  k->https = spec->https;
  k->path = g_strdup (spec->path);
  k->first_host = g_strdup (spec->host ? spec->host : host);
  k->done = done;
  k->data = data;
  check_start (k, spec->host ? spec->host : host, spec->port, timeout_ms, cancel);
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
