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
 *     ("Probe terminated redirects"); other statuses fail. The answer is
 *     read by probe-answer.c. */
#include "probe.h"
#include "probe-tls.h"
#include "probe-answer.h"

#include <stdlib.h>
#include <string.h>

#define REDIRECTS_MAX 10           /* Go's and kubelet's: the 10th redirect fails */
#define TERMINATED    "Probe terminated redirects, Response body: "   /* kubelet's warning */

typedef enum { PHASE_HANDSHAKE, PHASE_WRITE, PHASE_READ } Phase;

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
  EdgedHttpAnswer    answer;
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
check_finish (Check *k, EdgedProbeResult result, const char *detail)
{
  g_clear_handle_id (&k->timer, g_source_remove);
  if (k->outer_handler)
    g_cancellable_disconnect (k->outer, k->outer_handler);
  conn_close (k);
  k->done (result, detail, k->data);
  g_clear_object (&k->cancel);
  g_clear_object (&k->outer);
  edged_http_answer_clear (&k->answer);
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

/* The answer is complete: follow a redirect, or the outcome. */
static void
answer_done (Check *k)
{
  int s = k->answer.status;
  const char *location = k->answer.location;
  g_autofree char *body = edged_http_answer_body_text (&k->answer);

  if ((s == 301 || s == 302 || s == 303 || s == 307 || s == 308) && location && *location)
    {
      g_autofree char *url = check_url (k);
      g_autoptr (GError) error = NULL;
      GUriFlags flags = G_URI_FLAGS_ENCODED | G_URI_FLAGS_PARSE_RELAXED;
      g_autoptr (GUri) base = g_uri_parse (url, flags, &error);
      g_autoptr (GUri) next = base ? g_uri_parse_relative (base, location, flags, &error) : NULL;
      const char *scheme = next ? g_uri_get_scheme (next) : NULL;
      const char *host = next ? g_uri_get_host (next) : NULL;

      if (!next || !host || !*host)
        {
          g_autofree char *text = edged_http_printable (location, strlen (location), 200);
          g_autofree char *detail = g_strdup_printf ("Get \"%s\": failed to parse Location "
                                                     "header %s", url, text);
          check_finish (k, EDGED_PROBE_FAILURE, detail);
          return;
        }
      if (strcmp (host, k->first_host) != 0)
        {
          /* kubelet does not follow a redirect to another host */
          g_autofree char *detail = g_strdup_printf (TERMINATED "%s", body);
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
          g_autofree char *text = edged_http_printable (location, strlen (location), 200);
          g_autofree char *detail = g_strdup_printf ("Get \"%s\": unsupported protocol scheme "
                                                     "\"%s\"", text, scheme);
          check_finish (k, EDGED_PROBE_FAILURE, detail);
          return;
        }
      /* a custom Host goes on only with a relative Location (Go's rule) */
      if (g_uri_peek_scheme (location))
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
      edged_http_answer_reset (&k->answer);
      check_connect (k);
      return;
    }
  if (s >= 200 && s < 300)
    check_finish (k, EDGED_PROBE_SUCCESS, k->answer.status_line);
  else if (s >= 300 && s < 400)
    {
      g_autofree char *detail = g_strdup_printf (TERMINATED "%s", body);
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
            if (n == 0 && !eof)
              break;
            r = edged_http_answer_feed (&k->answer, buf, (gsize) n, eof, &error);
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
  edged_http_answer_init (&k->answer);
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
  k->path = g_strndup (spec->path, strcspn (spec->path, "#"));   /* a fragment is not sent */
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
