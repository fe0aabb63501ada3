/* server-stream.c: /exec/{ns}/{pod}[/{uid}]/{container},
 * /attach/{ns}/{pod}[/{uid}]/{container} and /portForward/{ns}/{pod}[/{uid}]
 * (GET or POST), as kubelet serves them with a CRI runtime: CRI Exec,
 * Attach or PortForward gives the runtime's streaming URL; kubelet then
 * proxies the client's upgrade request to that URL (it does not redirect),
 * and so does edged: the request goes to the URL's path with the client's
 * headers (Upgrade, Connection, X-Stream-Protocol-Version,
 * Sec-WebSocket-*), and from then on bytes are copied both ways untouched,
 * starting with the runtime's answer (101 Switching Protocols, or its
 * error). SPDY/3.1 and the WebSocket remotecommand protocols (channel.k8s.io
 * v1-v5) both pass without edged speaking either.
 *
 * Query, as kubelet reads it: command (repeated: the argv), input, output,
 * error, tty (stdin/stdout/stderr/tty; stderr is dropped with a tty; at
 * least one stream is required); portForward: ports (for WebSocket
 * clients). Each direction copies through one SPLICE_BUF buffer: a side
 * that stops reading stops the other side's reading. Either side ending
 * (or failing) ends the splice and closes both, as kubelet's proxy does;
 * so does SPLICE_IDLE_S without a byte either way. */
#include "server.h"

#include <string.h>

#define SPLICE_BUF         (64 * 1024)
#define CONNECT_TIMEOUT_S  10
/* kubelet's streaming-connection-idle-timeout default: a splice without a
 * byte either way for this long is closed (a client gone without a word
 * would hold its slot for ever) */
#define SPLICE_IDLE_S      (4 * 3600)
#define SPLICE_CHECK_S     60

typedef struct _Splice Splice;

typedef struct {
  Splice        *sp;
  GInputStream  *in;
  GOutputStream *out;
  guint8        *buf;
  gboolean       up;         /* client -> runtime */
} Dir;

struct _Splice {
  gint               refs;
  EdgedServer       *srv;        /* NULL once ended */
  GList             *link;
  SoupServerMessage *msg;        /* until the connection is stolen */
  char              *what;       /* "exec default/web/main", for log lines */
  char              *method;
  GString           *head;       /* the request for the runtime */
  GUri              *target;
  GIOStream         *client;
  GSocketConnection *runtime;
  GCancellable      *cancel;
  Dir                up, down;
  gboolean           ended;
  gint64             last_active;  /* monotonic µs of the last byte relayed */
  guint              idle_timer;
};

static Splice *
splice_ref (Splice *sp)
{
  sp->refs++;
  return sp;
}

static void
splice_unref (gpointer data)
{
  Splice *sp = data;
  if (--sp->refs)
    return;
  g_clear_object (&sp->msg);
  g_free (sp->what);
  g_free (sp->method);
  if (sp->head)
    g_string_free (sp->head, TRUE);
  g_clear_pointer (&sp->target, g_uri_unref);
  g_clear_object (&sp->client);
  g_clear_object (&sp->runtime);
  g_clear_object (&sp->cancel);
  g_free (sp->up.buf);
  g_free (sp->down.buf);
  g_free (sp);
}

/* Ends the splice: both connections closed, the stream slot freed. */
static void
splice_end (Splice *sp)
{
  if (sp->ended)
    return;
  sp->ended = TRUE;
  g_clear_handle_id (&sp->idle_timer, g_source_remove);
  g_cancellable_cancel (sp->cancel);
  if (sp->msg)
    {
      g_signal_handlers_disconnect_by_data (sp->msg, sp);
      g_clear_object (&sp->msg);
    }
  if (sp->client)
    g_io_stream_close (sp->client, NULL, NULL);
  if (sp->runtime)
    g_io_stream_close (G_IO_STREAM (sp->runtime), NULL, NULL);
  if (sp->srv)
    {
      sp->srv->splices = g_list_delete_link (sp->srv->splices, sp->link);
      edged_server_stream_done (sp->srv);
      sp->srv = NULL;
    }
  splice_unref (sp);
}

/* Before the connection is stolen: answers the client with an error. */
static void
splice_fail (Splice *sp, guint status, const char *format, ...) G_GNUC_PRINTF (3, 4);
static void
splice_fail (Splice *sp, guint status, const char *format, ...)
{
  va_list ap;
  g_autofree char *text = NULL;
  SoupServerMessage *msg = sp->msg ? g_object_ref (sp->msg) : NULL;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (msg)
    {
      edged_server_error (msg, status, "%s", text);
      soup_server_message_unpause (msg);
      g_object_unref (msg);
    }
  splice_end (sp);
}

static void dir_read (Dir *d);

static void
on_dir_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Dir *d = data;
  Splice *sp = d->sp;
  gsize n = 0;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &n, NULL))
    splice_end (sp);
  else if (!sp->ended)
    dir_read (d);
  splice_unref (sp);
}

static void
on_dir_read (GObject *source, GAsyncResult *result, gpointer data)
{
  Dir *d = data;
  Splice *sp = d->sp;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (sp->ended)
    ;
  else if (n < 0)
    splice_end (sp);
  else if (n == 0)
    {
      /* either side ended: the session is over, both are closed (as
       * kubelet's upgrade-aware proxy does; the protocols close their
       * streams inside the connection, never by a half-close) */
      splice_end (sp);
    }
  else
    {
      if (sp->srv)
        sp->srv->stream_bytes += (guint64) n;
      sp->last_active = g_get_monotonic_time ();
      g_output_stream_write_all_async (d->out, d->buf, (gsize) n, G_PRIORITY_DEFAULT, sp->cancel,
                                       on_dir_written, d);
      splice_ref (sp);
    }
  splice_unref (sp);
}

static void
dir_read (Dir *d)
{
  splice_ref (d->sp);
  g_input_stream_read_async (d->in, d->buf, SPLICE_BUF, G_PRIORITY_DEFAULT, d->sp->cancel,
                             on_dir_read, d);
}

static void
dir_init (Splice *sp, Dir *d, GIOStream *from, GIOStream *to, gboolean up)
{
  d->sp = sp;
  d->in = g_io_stream_get_input_stream (from);
  d->out = g_io_stream_get_output_stream (to);
  d->buf = g_malloc (SPLICE_BUF);
  d->up = up;
}

static gboolean
on_splice_idle_check (gpointer data)
{
  Splice *sp = data;
  if (g_get_monotonic_time () - sp->last_active < (gint64) SPLICE_IDLE_S * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  sp->idle_timer = 0;
  splice_end (sp);
  return G_SOURCE_REMOVE;
}

static void
on_head_written (GObject *source, GAsyncResult *result, gpointer data)
{
  Splice *sp = data;
  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    splice_end (sp);
  else if (!sp->ended)
    {
      sp->last_active = g_get_monotonic_time ();
      sp->idle_timer = g_timeout_add_seconds (SPLICE_CHECK_S, on_splice_idle_check, sp);
      dir_read (&sp->up);
      dir_read (&sp->down);
    }
  splice_unref (sp);
}

static void
add_header (const char *name, const char *value, gpointer data)
{
  Splice *sp = data;
  if (!g_ascii_strcasecmp (name, "Host") || strpbrk (name, "\r\n") || strpbrk (value, "\r\n"))
    return;
  g_string_append_printf (sp->head, "%s: %s\r\n", name, value);
}

static void
on_runtime_connected (GObject *source, GAsyncResult *result, gpointer data)
{
  Splice *sp = data;
  g_autoptr (GError) error = NULL;
  GSocketConnection *conn = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result,
                                                                    &error);
  SoupServerMessage *msg;
  const char *query;
  GSocket *sock;

  if (sp->ended)
    {
      g_clear_object (&conn);
      splice_unref (sp);
      return;
    }
  if (!conn)
    {
      splice_fail (sp, SOUP_STATUS_BAD_GATEWAY, "%s: cannot reach the runtime's streaming server: %s",
                   sp->what, error->message);
      splice_unref (sp);
      return;
    }
  sp->runtime = conn;
  query = g_uri_get_query (sp->target);
  sp->head = g_string_new (NULL);
  g_string_append_printf (sp->head, "%s %s%s%s HTTP/1.1\r\nHost: %s:%d\r\n", sp->method,
                          *g_uri_get_path (sp->target) ? g_uri_get_path (sp->target) : "/",
                          query ? "?" : "", query ? query : "", g_uri_get_host (sp->target),
                          g_uri_get_port (sp->target));
  soup_message_headers_foreach (soup_server_message_get_request_headers (sp->msg), add_header, sp);
  g_string_append (sp->head, "\r\n");
  /* the client's connection leaves libsoup: from now on it is ours */
  msg = g_steal_pointer (&sp->msg);
  g_signal_handlers_disconnect_by_data (msg, sp);
  sock = soup_server_message_get_socket (msg);
  if (sp->srv && sock)
    edged_server_forget_socket (sp->srv, sock);
  sp->client = soup_server_message_steal_connection (msg);
  g_object_unref (msg);
  if (!sp->client)
    {
      splice_end (sp);
      splice_unref (sp);
      return;
    }
  dir_init (sp, &sp->up, sp->client, G_IO_STREAM (conn), TRUE);
  dir_init (sp, &sp->down, G_IO_STREAM (conn), sp->client, FALSE);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (conn)), sp->head->str,
                                   sp->head->len, G_PRIORITY_DEFAULT, sp->cancel, on_head_written,
                                   sp);
  /* (the reference of the connect goes to the head's write) */
}

/* The runtime's answer to Exec, Attach or PortForward: its URL. */
static void
on_stream_url (ProtobufCMessage *response, const GError *error, gpointer data)
{
  Splice *sp = data;
  const char *url = NULL;
  g_autoptr (GError) local = NULL;
  g_autoptr (GSocketClient) client = NULL;

  if (sp->ended)
    goto out;
  if (error)
    {
      splice_fail (sp, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s: %s", sp->what, error->message);
      goto out;
    }
  /* ExecResponse, AttachResponse and PortForwardResponse: url = 1 */
  if (response->descriptor == &runtime__v1__exec_response__descriptor)
    url = ((Runtime__V1__ExecResponse *) response)->url;
  else if (response->descriptor == &runtime__v1__attach_response__descriptor)
    url = ((Runtime__V1__AttachResponse *) response)->url;
  else
    url = ((Runtime__V1__PortForwardResponse *) response)->url;
  sp->target = g_uri_parse (url ? url : "", G_URI_FLAGS_ENCODED, &local);
  if (!sp->target || g_strcmp0 (g_uri_get_scheme (sp->target), "http") != 0
      || !g_uri_get_host (sp->target))
    {
      splice_fail (sp, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s: the runtime's streaming URL \"%s\" is "
                   "not a plain http URL", sp->what, url ? url : "");
      goto out;
    }
  client = g_socket_client_new ();
  g_socket_client_set_timeout (client, CONNECT_TIMEOUT_S);
  g_socket_client_connect_to_host_async (client, g_uri_get_host (sp->target),
                                         (guint16) (g_uri_get_port (sp->target) > 0
                                                    ? g_uri_get_port (sp->target) : 80),
                                         sp->cancel, on_runtime_connected, splice_ref (sp));
out:
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
}

static void
on_msg_gone (SoupServerMessage *msg, gpointer data)
{
  /* the client left before the splice began */
  splice_end (data);
}

/* /exec, /attach, /portForward (GET or POST). */
void
edged_server_stream (EdgedServer *srv, SoupServerMessage *msg, char **parts, GHashTable *query)
{
  gboolean exec = !strcmp (parts[0], "exec"), attach = !strcmp (parts[0], "attach");
  guint n = g_strv_length (parts);
  guint want = exec || attach ? 4 : 3;     /* without the optional uid */
  const char *uid = n == want + 1 ? parts[3] : NULL;
  const char *container = exec || attach ? parts[n - 1] : NULL;
  gboolean in = FALSE, out = FALSE, err = FALSE, tty = FALSE;
  g_autoptr (GError) error = NULL;
  EdgedPod *pod;
  EdgedContainer *c = NULL;
  Splice *sp;
  guint timeout = (guint) srv->edged->request_timeout_ms;

  if (n != want && n != want + 1)
    {
      edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "the path must be /%s/{namespace}/{pod}%s",
                          parts[0], exec || attach ? "[/{uid}]/{container}" : "[/{uid}]");
      return;
    }
  for (guint i = 1; i < n; i++)
    if (!*parts[i])
      {
        edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "empty path segment");
        return;
      }
  pod = edged_pod_find (srv->edged, parts[1], parts[2]);
  if (!pod || (uid && strcmp (uid, pod->spec->uid)))
    {
      edged_server_error (msg, SOUP_STATUS_NOT_FOUND, "pod \"%s/%s\" does not exist", parts[1], parts[2]);
      return;
    }
  if (container)
    {
      int i = edged_pod_container_index (pod, container);
      if (i < 0)
        {
          edged_server_error (msg, SOUP_STATUS_NOT_FOUND, "container \"%s\" not found in pod \"%s/%s\"",
                              container, parts[1], parts[2]);
          return;
        }
      c = &pod->containers[i];
      if (!c->id || c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
        {
          edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "container \"%s\" in pod \"%s/%s\" is not running",
                              container, parts[1], parts[2]);
          return;
        }
      if (!edged_server_bool_param (query, "input", &in, &error)
          || !edged_server_bool_param (query, "output", &out, &error)
          || !edged_server_bool_param (query, "error", &err, &error)
          || !edged_server_bool_param (query, "tty", &tty, &error))
        {
          edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "%s", error->message);
          return;
        }
      if (tty)
        err = FALSE;       /* no stderr with a tty, as kubelet */
      if (!in && !out && !err)
        {
          edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "you must specify at least 1 of stdin, stdout, stderr");
          return;
        }
      if (exec && !g_hash_table_lookup (query, "command"))
        {
          edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "command is required");
          return;
        }
    }
  else if (!pod->sandbox_id)
    {
      edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "pod \"%s/%s\" has no sandbox yet", parts[1], parts[2]);
      return;
    }
  if (!edged_server_stream_admit (srv, msg))
    return;
  sp = g_new0 (Splice, 1);
  sp->refs = 1;
  sp->srv = srv;
  sp->msg = g_object_ref (msg);
  sp->what = g_strdup_printf ("%s %s/%s%s%s", parts[0], parts[1], parts[2], container ? "/" : "",
                              container ? container : "");
  sp->method = g_strdup (soup_server_message_get_method (msg));
  sp->cancel = g_cancellable_new ();
  srv->splices = g_list_prepend (srv->splices, sp);
  sp->link = srv->splices;
  g_signal_connect (msg, "finished", G_CALLBACK (on_msg_gone), sp);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_msg_gone), sp);
  soup_server_message_pause (msg);
  if (exec)
    {
      Runtime__V1__ExecRequest req = RUNTIME__V1__EXEC_REQUEST__INIT;
      GPtrArray *cmd = g_hash_table_lookup (query, "command");
      req.container_id = c->id;
      req.cmd = (char **) cmd->pdata;
      req.n_cmd = cmd->len;
      req.tty = tty;
      req.stdin = in;
      req.stdout = out;
      req.stderr = err;
      edged_cri_invoke (srv->edged->runtime, &edged_cri_exec, &req.base, timeout, on_stream_url,
                        splice_ref (sp), splice_unref);
    }
  else if (attach)
    {
      Runtime__V1__AttachRequest req = RUNTIME__V1__ATTACH_REQUEST__INIT;
      req.container_id = c->id;
      req.tty = tty;
      req.stdin = in;
      req.stdout = out;
      req.stderr = err;
      edged_cri_invoke (srv->edged->runtime, &edged_cri_attach, &req.base, timeout, on_stream_url,
                        splice_ref (sp), splice_unref);
    }
  else
    {
      Runtime__V1__PortForwardRequest req = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
      GPtrArray *values = g_hash_table_lookup (query, "ports");
      g_autoptr (GArray) ports = g_array_new (FALSE, FALSE, sizeof (gint32));
      for (guint i = 0; values && i < values->len; i++)
        {
          g_auto (GStrv) items = g_strsplit (g_ptr_array_index (values, i), ",", 64);
          for (guint j = 0; items[j]; j++)
            {
              guint64 p;
              if (!g_ascii_string_to_unsigned (g_strstrip (items[j]), 10, 1, 65535, &p, NULL))
                {
                  splice_fail (sp, SOUP_STATUS_BAD_REQUEST, "ports: \"%s\" is not a port (1-65535)", items[j]);
                  return;
                }
              {
                gint32 port = (gint32) p;
                g_array_append_val (ports, port);
              }
            }
        }
      req.pod_sandbox_id = pod->sandbox_id;
      req.port = (gint32 *) ports->data;
      req.n_port = ports->len;
      edged_cri_invoke (srv->edged->runtime, &edged_cri_port_forward, &req.base, timeout, on_stream_url,
                        splice_ref (sp), splice_unref);
    }
}

/* Ends every splice (the server stops). */
void
edged_server_stream_stop (EdgedServer *srv)
{
  while (srv->splices)
    splice_end (srv->splices->data);
}
