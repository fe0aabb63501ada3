/* server.c: edged's local kubelet endpoints on [edged] address and
 * read-only-port (KubeEdge's 127.0.0.1:10350), plain HTTP as kubelet's
 * read-only server with the debugging handlers: /healthz, /pods, and the
 * routes of server-logs.c, server-stream.c, server-stats.c and
 * server-metrics.c. edgestream proxies the cloud's logs, exec, attach and
 * metrics requests here.
 *
 * Connections are bounded as metaserver's are (libsoup has no limits of its
 * own): at most EDGED_SERVER_MAX_CONNECTIONS open (a new one beyond is shut
 * at once), a request's headers within EDGED_SERVER_HEADER_TIMEOUT_S of the
 * accept (or of its first byte on a kept-alive connection), a kept-alive
 * connection idle for EDGED_SERVER_IDLE_TIMEOUT_S closed. A request being
 * answered (a log stream) is never timed out; streams are bounded by count
 * (EDGED_SERVER_MAX_STREAMS, 503 beyond). Connections are kept alive:
 * between requests a Keepalive (plugins/shared/keepalive.c) closes one
 * whose client has left, which libsoup 3.2 alone keeps in CLOSE-WAIT. */
#include "server.h"
#include "keepalive.h"
#include "listen.h"

#include <string.h>
#include <sys/socket.h>

typedef enum { SC_WAITING, SC_IDLE, SC_HANDLED } ServerConnState;

typedef struct {
  EdgedServer    *srv;
  GSocket        *sock;     /* not owned: watched until finalized */
  Keepalive      *ka;       /* holds sock (and its latest message) */
  ServerConnState state;
  guint           timer;
} ServerConn;

#define QUERY_MAX_BYTES  (64 * 1024)
#define QUERY_MAX_PARAMS 256

static void on_socket_finalized (gpointer data, GObject *where_the_object_was);

/* Frees c; with its socket still alive, stops watching it. */
static void
conn_free (ServerConn *c)
{
  g_clear_handle_id (&c->timer, g_source_remove);
  if (c->sock)
    g_object_weak_unref (G_OBJECT (c->sock), on_socket_finalized, c);
  keepalive_free (c->ka);
  g_free (c);
}

/* libsoup let go of the connection's socket (the client left, or the
 * connection was closed): the connection is forgotten. The table holds no
 * reference, so this is certain to happen, whatever signals libsoup sends. */
static void
on_socket_finalized (gpointer data, GObject *where_the_object_was)
{
  ServerConn *c = data;
  c->sock = NULL;
  g_hash_table_remove (c->srv->conns, where_the_object_was);
}

/* The Keepalive closed c's connection and libsoup will not say so. */
static void
on_keepalive_gone (gpointer data)
{
  ServerConn *c = data;
  g_hash_table_remove (c->srv->conns, c->sock);
}

static gboolean
on_conn_deadline (gpointer data)
{
  ServerConn *c = data;
  c->timer = 0;
  if (c->state != SC_HANDLED)
    {
      c->srv->timed_out++;
      /* between requests: closed and forgotten at once (c is freed) */
      if (c->state == SC_IDLE && keepalive_close (c->ka))
        return G_SOURCE_REMOVE;
      g_socket_shutdown (c->sock, TRUE, TRUE, NULL);
    }
  return G_SOURCE_REMOVE;
}

static void
conn_arm (ServerConn *c, guint seconds)
{
  g_clear_handle_id (&c->timer, g_source_remove);
  c->timer = g_timeout_add_seconds (seconds, on_conn_deadline, c);
}

/* The connection of msg: its socket as request-started saw it (libsoup
 * may no longer give it when the connection ends). */
static ServerConn *
conn_of (EdgedServer *srv, SoupServerMessage *msg)
{
  gpointer sock = g_object_get_data (G_OBJECT (msg), "edged-conn-socket");
  return sock && srv->conns ? g_hash_table_lookup (srv->conns, sock) : NULL;
}

/* Forgets a connection whose socket left libsoup (disconnected, or stolen
 * by a splice, which then owns it). */
void
edged_server_forget_socket (EdgedServer *srv, GSocket *sock)
{
  if (sock && srv->conns)
    g_hash_table_remove (srv->conns, sock);
}

static void
count_status (EdgedServer *srv, guint status)
{
  if (status >= 100 && status < 600)
    srv->responses[status / 100]++;
}

static void
on_got_body (SoupServerMessage *msg, gpointer data)
{
  ServerConn *c = conn_of (data, msg);
  if (c)
    {
      c->state = SC_HANDLED;
      g_clear_handle_id (&c->timer, g_source_remove);
    }
}

static void
on_finished (SoupServerMessage *msg, gpointer data)
{
  ServerConn *c = conn_of (data, msg);
  count_status (data, soup_server_message_get_status (msg));
  if (c)
    {
      c->state = SC_IDLE;
      conn_arm (c, EDGED_SERVER_IDLE_TIMEOUT_S);
      keepalive_idle (c->ka, msg);
    }
}

static void
on_disconnected (SoupServerMessage *msg, gpointer data)
{
  edged_server_forget_socket (data, g_object_get_data (G_OBJECT (msg), "edged-conn-socket"));
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  EdgedServer *srv = data;
  GSocket *sock = soup_server_message_get_socket (msg);
  ServerConn *c;

  if (!sock)
    return;
  c = g_hash_table_lookup (srv->conns, sock);
  if (!c)
    {
      if (g_hash_table_size (srv->conns) >= EDGED_SERVER_MAX_CONNECTIONS)
        {
          srv->refused++;
          g_socket_shutdown (sock, TRUE, TRUE, NULL);
          return;
        }
      c = g_new0 (ServerConn, 1);
      c->srv = srv;
      c->sock = sock;
      c->ka = keepalive_new (msg, on_keepalive_gone, c);
      g_object_weak_ref (G_OBJECT (sock), on_socket_finalized, c);
      g_hash_table_insert (srv->conns, sock, c);
    }
  else
    keepalive_request (c->ka, msg);
  c->state = SC_WAITING;
  conn_arm (c, EDGED_SERVER_HEADER_TIMEOUT_S);
  g_object_set_data (G_OBJECT (msg), "edged-conn-socket", sock);
  g_signal_connect (msg, "got-body", G_CALLBACK (on_got_body), srv);
  /* after the routes' own "finished" handlers: the Keepalive empties msg */
  g_signal_connect_after (msg, "finished", G_CALLBACK (on_finished), srv);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_disconnected), srv);
}

/* ---- helpers the routes share -------------------------------------------- */

/* Answers msg with status and a one-line text/plain message (kubelet
 * answers its errors as plain text too). */
void
edged_server_error (SoupServerMessage *msg, guint status, const char *format, ...)
{
  va_list ap;
  g_autofree char *text = NULL;
  g_autofree char *line = NULL;

  va_start (ap, format);
  text = g_strdup_vprintf (format, ap);
  va_end (ap);
  line = g_strconcat (text, "\n", NULL);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY, line,
                                    strlen (line));
}

/* Answers msg with 200 and node as JSON. */
void
edged_server_json (SoupServerMessage *msg, JsonNode *node)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  gsize len = 0;
  char *text;

  json_generator_set_root (gen, node);
  text = json_generator_to_data (gen, &len);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, text, len);
}

static const char *
query_first (GHashTable *query, const char *name)
{
  GPtrArray *values = query ? g_hash_table_lookup (query, name) : NULL;
  return values && values->len ? g_ptr_array_index (values, 0) : NULL;
}

/* A boolean query parameter as Go's strconv.ParseBool reads it; absent
 * leaves *out as it is. */
gboolean
edged_server_bool_param (GHashTable *query, const char *name, gboolean *out, GError **error)
{
  static const char *yes[] = { "1", "t", "T", "true", "TRUE", "True" };
  static const char *no[] = { "0", "f", "F", "false", "FALSE", "False" };
  const char *v = query_first (query, name);

  if (!v)
    return TRUE;
  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    {
      if (!strcmp (v, yes[i]))
        return (*out = TRUE);
      if (!strcmp (v, no[i]))
        {
          *out = FALSE;
          return TRUE;
        }
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "%s: \"%s\" is not a boolean", name, v);
  return FALSE;
}

/* An integer query parameter, at least min. */
gboolean
edged_server_int_param (GHashTable *query, const char *name, gint64 min, gint64 *out,
                        gboolean *present, GError **error)
{
  const char *v = query_first (query, name);
  gint64 n;

  *present = FALSE;
  if (!v)
    return TRUE;
  if (!g_ascii_string_to_signed (v, 10, G_MININT64, G_MAXINT64, &n, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s: \"%s\" is not an integer", name, v);
      return FALSE;
    }
  if (n < min)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s: must be greater than or equal to %" G_GINT64_FORMAT, name, min);
      return FALSE;
    }
  *out = n;
  *present = TRUE;
  return TRUE;
}

/* Whether one more stream fits; if not, msg gets 503. */
gboolean
edged_server_stream_admit (EdgedServer *srv, SoupServerMessage *msg)
{
  if (srv->n_streams >= EDGED_SERVER_MAX_STREAMS)
    {
      edged_server_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                          "too many streams open (%u); try again later", srv->n_streams);
      return FALSE;
    }
  srv->n_streams++;
  return TRUE;
}

/* A stream admitted by edged_server_stream_admit ended. */
void
edged_server_stream_done (EdgedServer *srv)
{
  if (srv->n_streams)
    srv->n_streams--;
}

/* The raw query as name -> GPtrArray of values (repeated names keep every
 * value, as exec's command needs). NULL when too large. */
static GHashTable *
query_parse (const char *raw)
{
  GHashTable *out = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                           (GDestroyNotify) g_ptr_array_unref);
  g_auto (GStrv) pairs = NULL;

  if (!raw || !*raw)
    return out;
  if (strlen (raw) > QUERY_MAX_BYTES)
    {
      g_hash_table_unref (out);
      return NULL;
    }
  pairs = g_strsplit (raw, "&", QUERY_MAX_PARAMS + 1);
  if (g_strv_length (pairs) > QUERY_MAX_PARAMS)
    {
      g_hash_table_unref (out);
      return NULL;
    }
  for (guint i = 0; pairs[i]; i++)
    {
      char *eq = strchr (pairs[i], '=');
      g_autofree char *k = NULL;
      char *v;
      GPtrArray *values;

      if (!*pairs[i])
        continue;
      if (eq)
        *eq = '\0';
      /* '+' is a space in a form-encoded query */
      g_strdelimit (pairs[i], "+", ' ');
      if (eq)
        g_strdelimit (eq + 1, "+", ' ');
      k = g_uri_unescape_string (pairs[i], NULL);
      v = g_uri_unescape_string (eq ? eq + 1 : "", NULL);
      if (!k || !v)
        {
          g_free (v);
          g_hash_table_unref (out);
          return NULL;
        }
      values = g_hash_table_lookup (out, k);
      if (!values)
        {
          values = g_ptr_array_new_with_free_func (g_free);
          g_hash_table_insert (out, g_strdup (k), values);
        }
      g_ptr_array_add (values, v);
    }
  return out;
}

/* The pod ns/name edged runs, or NULL. */
EdgedPod *
edged_pod_find (Edged *self, const char *ns, const char *name)
{
  GHashTableIter iter;
  gpointer value;

  if (!self->pods)
    return NULL;
  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      if (pod->stage != POD_GONE && !strcmp (pod->spec->namespace, ns)
          && !strcmp (pod->spec->name, name))
        return pod;
    }
  return NULL;
}

/* The index of container in pod's spec, or -1. */
int
edged_pod_container_index (EdgedPod *pod, const char *container)
{
  for (guint i = 0; i < pod->spec->n_containers; i++)
    if (!strcmp (pod->spec->containers[i].name, container))
      return (int) i;
  return -1;
}

/* ---- /pods ------------------------------------------------------------------ */

static void
add_str (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value ? value : "");
}

static void
add_strv (JsonBuilder *b, const char *key, char **values)
{
  if (!values || !values[0])
    return;
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; values[i]; i++)
    json_builder_add_string_value (b, values[i]);
  json_builder_end_array (b);
}

/* One pod as a v1.Pod: what edged knows of its spec, and its status. */
static void
add_pod (JsonBuilder *b, EdgedPod *pod, gint64 now)
{
  EdgedPodSpec *spec = pod->spec;

  json_builder_begin_object (b);
  add_str (b, "kind", "Pod");
  add_str (b, "apiVersion", "v1");
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  add_str (b, "name", spec->name);
  add_str (b, "namespace", spec->namespace);
  add_str (b, "uid", spec->uid);
  if (spec->label_keys && spec->label_keys[0])
    {
      json_builder_set_member_name (b, "labels");
      json_builder_begin_object (b);
      for (guint i = 0; spec->label_keys[i]; i++)
        add_str (b, spec->label_keys[i], spec->label_values[i]);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "spec");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "containers");
  json_builder_begin_array (b);
  for (guint i = 0; i < spec->n_containers; i++)
    {
      EdgedContainerSpec *cs = &spec->containers[i];
      json_builder_begin_object (b);
      add_str (b, "name", cs->name);
      add_str (b, "image", cs->image);
      add_strv (b, "command", cs->command);
      add_strv (b, "args", cs->args);
      if (cs->working_dir)
        add_str (b, "workingDir", cs->working_dir);
      add_str (b, "imagePullPolicy", cs->pull_policy);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  if (spec->host_network)
    {
      json_builder_set_member_name (b, "hostNetwork");
      json_builder_add_boolean_value (b, TRUE);
    }
  add_str (b, "nodeName", spec->node_name);
  add_str (b, "restartPolicy", spec->restart_policy);
  json_builder_set_member_name (b, "terminationGracePeriodSeconds");
  json_builder_add_int_value (b, spec->grace_seconds);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_value (b, edged_pod_status (pod, now));
  json_builder_end_object (b);
}

static void
serve_pods (EdgedServer *srv, SoupServerMessage *msg)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;
  GHashTableIter iter;
  gpointer value;

  json_builder_begin_object (b);
  add_str (b, "kind", "PodList");
  add_str (b, "apiVersion", "v1");
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "items");
  json_builder_begin_array (b);
  g_hash_table_iter_init (&iter, srv->edged->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      if (pod->stage != POD_GONE)
        add_pod (b, pod, now);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  edged_server_json (msg, root);
}

/* ---- routing ------------------------------------------------------------------ */

/* The path's segments, percent-decoded; NULL if one does not decode or
 * holds a '/' or NUL. */
static char **
path_split (const char *path)
{
  g_auto (GStrv) raw = g_strsplit (path + (path[0] == '/'), "/", 16);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; raw[i]; i++)
    {
      char *seg = g_uri_unescape_string (raw[i], "/");
      if (!seg)
        {
          g_ptr_array_add (out, NULL);
          g_strfreev ((char **) g_ptr_array_free (out, FALSE));
          return NULL;
        }
      g_ptr_array_add (out, seg);
    }
  /* a trailing slash gives an empty last segment: dropped */
  if (out->len && !*(char *) out->pdata[out->len - 1])
    g_free (g_ptr_array_steal_index (out, out->len - 1));
  g_ptr_array_add (out, NULL);
  return (char **) g_ptr_array_free (out, FALSE);
}

static void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *unused,
            gpointer data)
{
  EdgedServer *srv = data;
  const char *method = soup_server_message_get_method (msg);
  GUri *uri = soup_server_message_get_uri (msg);
  g_auto (GStrv) parts = path_split (g_uri_get_path (uri));
  g_autoptr (GHashTable) query = query_parse (g_uri_get_query (uri));
  guint n = parts ? g_strv_length (parts) : 0;
  gboolean get = !strcmp (method, "GET") || !strcmp (method, "HEAD");

  srv->requests++;
  if (!parts || !query)
    edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "malformed path or query");
  else if (n >= 1 && (!strcmp (parts[0], "exec") || !strcmp (parts[0], "attach")
                      || !strcmp (parts[0], "portForward")))
    {
      if (strcmp (method, "GET") && strcmp (method, "POST"))
        edged_server_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "%s is not allowed on %s", method, parts[0]);
      else
        edged_server_stream (srv, msg, parts, query);
    }
  else if (!get)
    edged_server_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "%s is not allowed here", method);
  else if (!strcmp (parts[0] ? parts[0] : "", "healthz")
           && (n == 1 || (n == 2 && (!strcmp (parts[1], "ping") || !strcmp (parts[1], "syncloop")))))
    soup_server_message_set_response (msg, "text/plain", SOUP_MEMORY_STATIC, "ok", 2),
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  else if (n == 1 && !strcmp (parts[0], "pods"))
    serve_pods (srv, msg);
  else if (n >= 1 && !strcmp (parts[0], "containerLogs"))
    {
      if (strcmp (method, "GET"))
        edged_server_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "%s is not allowed on containerLogs", method);
      else
        edged_server_logs (srv, msg, parts, query);
    }
  else if (n == 2 && !strcmp (parts[0], "stats") && !strcmp (parts[1], "summary"))
    edged_server_stats (srv, msg, FALSE);
  else if (n == 2 && !strcmp (parts[0], "metrics") && !strcmp (parts[1], "resource"))
    edged_server_stats (srv, msg, TRUE);
  else if (n == 1 && !strcmp (parts[0], "metrics"))
    edged_server_metrics (srv, msg);
  else
    edged_server_error (msg, SOUP_STATUS_NOT_FOUND, "404 page not found");
}

/**
 * edged_server_start:
 * Serves the local endpoints on [edged] address:read-only-port; port 0
 * (the configured value "0") turns them off. A port that cannot be bound
 * is an error naming the address.
 */
gboolean
edged_server_start (Edged *self, GError **error)
{
  EdgedServer *srv;
  g_autoptr (GInetAddress) inet = NULL;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autofree char *address = ec_plugin_context_get_string (self->context, "address");
  GSList *uris;

  if (self->read_only_port <= 0)
    return TRUE;
  if (self->read_only_port > 65535)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "[edged] read-only-port: %" G_GINT64_FORMAT " is not a port", self->read_only_port);
      return FALSE;
    }
  inet = g_inet_address_new_from_string (address);
  if (!inet)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "[edged] address: \"%s\" is not an IP address", address);
      return FALSE;
    }
  srv = g_new0 (EdgedServer, 1);
  srv->edged = self;
  srv->address = g_steal_pointer (&address);
  srv->conns = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) conn_free);
  srv->soup = soup_server_new ("server-header", "edgecore-edged", NULL);
  self->server = srv;
  g_signal_connect (srv->soup, "request-started", G_CALLBACK (on_request_started), srv);
  soup_server_add_handler (srv->soup, NULL, on_request, srv, NULL);
  edged_server_stats_init (srv);
  addr = g_inet_socket_address_new (inet, (guint16) self->read_only_port);
  if (!http_listen (srv->soup, addr, 0, error))
    {
      g_prefix_error (error, "[edged] local endpoints on %s:%" G_GINT64_FORMAT ": ", srv->address,
                      self->read_only_port);
      edged_server_stop (self);
      return FALSE;
    }
  uris = soup_server_get_uris (srv->soup);
  srv->port = uris ? (guint) g_uri_get_port (uris->data) : 0;
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  ec_log_info (self->context, "local endpoints on http://%s:%u", srv->address, srv->port);
  return TRUE;
}

/**
 * edged_server_stop:
 * Ends every stream, closes the connections and frees the server.
 */
void
edged_server_stop (Edged *self)
{
  EdgedServer *srv = self->server;
  if (!srv)
    return;
  edged_server_logs_stop (srv);
  edged_server_stream_stop (srv);
  g_signal_handlers_disconnect_by_data (srv->soup, srv);
  soup_server_disconnect (srv->soup);
  g_clear_pointer (&srv->conns, g_hash_table_unref);
  g_clear_object (&srv->soup);
  g_clear_pointer (&srv->ctr_cpu_prev, g_hash_table_unref);
  g_free (srv->address);
  g_free (srv);
  self->server = NULL;
}
