/* ms-http.c: the HTTP(S) front of metaserver: the listener, request
 * routing (the OpenAPI pass-through is in ms-passthrough.c), discovery,
 * and the reads (get, list) served from meta_v2. Every store read runs on
 * a store thread; the handler pauses the message and answers from the
 * read's callback. */
#include "ms.h"
#include "listen.h"

#include <string.h>

#define MAX_BODY (3 * 1024 * 1024)   /* the apiserver's request limit */

/* A request waiting for a store read. */
typedef struct {
  MetaServer        *ms;
  SoupServerMessage *msg;
  MsRequestInfo     *info;
  const MsResource  *res;
  GHashTable        *query;
  MsOutput           output;
  gpointer           job;
  EcStoreFunc        job_func;
  GDestroyNotify     job_free;
  gboolean           finished;   /* the client went away */
  gulong             finished_id;
} Pending;

static void dispatch (MetaServer *self, SoupServerMessage *msg, const char *path,
                      GHashTable *query, gboolean scanned);
static gboolean body_too_large (SoupServerMessage *msg);
static void respond_too_large (SoupServerMessage *msg);

static void
on_pending_finished (SoupServerMessage *msg, gpointer data)
{
  Pending *p = data;
  p->finished = TRUE;
}

static Pending *
pending_new (MetaServer *self, SoupServerMessage *msg, GHashTable *query)
{
  Pending *p = g_new0 (Pending, 1);
  p->ms = ms_ref (self);
  p->msg = g_object_ref (msg);
  p->query = query ? g_hash_table_ref (query) : NULL;
  p->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_pending_finished), p);
  self->pending++;
  soup_server_message_pause (msg);
  return p;
}

static void
pending_free (gpointer data)
{
  Pending *p = data;
  p->ms->pending--;
  g_clear_signal_handler (&p->finished_id, p->msg);
  g_object_unref (p->msg);
  if (p->query)
    g_hash_table_unref (p->query);
  ms_request_info_free (p->info);
  ms_output_clear (&p->output);
  if (p->job && p->job_free)
    p->job_free (p->job);
  ms_unref (p->ms);
  g_free (p);
}

/* Runs the request's read on a store thread. */
static gboolean
pending_run (sqlite3 *db, gpointer data, GError **error)
{
  Pending *p = data;
  return p->job_func (db, p->job, error);
}

/* TRUE when the answer can still be given. */
static gboolean
pending_alive (Pending *p)
{
  return !p->ms->stopped && !p->finished;
}

/* Frees an output choice. */
void
ms_output_clear (MsOutput *out)
{
  g_clear_pointer (&out->table_version, g_free);
}

/**
 * ms_output_from_accept:
 * Reads the Accept header (and includeObject): a meta.k8s.io Table when
 * one is accepted, else JSON. Empty parts (`application/json,`) are
 * skipped, and a header of empty parts only counts as no header. FALSE
 * with an error (406 or 400) when nothing we produce is acceptable or a
 * parameter is invalid.
 */
gboolean
ms_output_from_accept (const char *accept, GHashTable *query, MsOutput *out, GError **error)
{
  g_auto (GStrv) ranges = NULL;
  gboolean json_ok = !accept || !*accept;
  gboolean any = FALSE;   /* a part that is not empty */
  const char *inc = query ? g_hash_table_lookup (query, "includeObject") : NULL;

  memset (out, 0, sizeof *out);
  if (!inc || !*inc || strcmp (inc, "Metadata") == 0)
    out->include = MS_INCLUDE_METADATA;
  else if (strcmp (inc, "None") == 0)
    out->include = MS_INCLUDE_NONE;
  else if (strcmp (inc, "Object") == 0)
    out->include = MS_INCLUDE_OBJECT;
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "invalid includeObject \"%s\": want None, Metadata or Object", inc);
      return FALSE;
    }
  out->json = json_ok;
  if (!accept)
    return TRUE;
  ranges = g_strsplit (accept, ",", -1);
  for (guint i = 0; ranges[i]; i++)
    {
      g_auto (GStrv) params = g_strsplit (ranges[i], ";", -1);
      const char *as = NULL, *v = NULL, *g = NULL;
      char *type = params[0] ? g_strstrip (params[0]) : NULL;
      if (!type || !*type)
        continue;
      any = TRUE;
      for (guint k = 1; params[k]; k++)
        {
          char *kv = g_strstrip (params[k]);
          if (g_str_has_prefix (kv, "as="))
            as = kv + 3;
          else if (g_str_has_prefix (kv, "v="))
            v = kv + 2;
          else if (g_str_has_prefix (kv, "g="))
            g = kv + 2;
        }
      if (strcmp (type, "application/json") != 0 && strcmp (type, "application/*") != 0
          && strcmp (type, "*/*") != 0)
        continue;
      if (!as)
        {
          json_ok = TRUE;
          continue;
        }
      if (strcmp (as, "Table") == 0 && g_strcmp0 (g, "meta.k8s.io") == 0
          && (g_strcmp0 (v, "v1") == 0 || g_strcmp0 (v, "v1beta1") == 0) && !out->table)
        {
          out->table = TRUE;
          out->table_version = g_strdup (v);
        }
    }
  out->json = json_ok = json_ok || !any;
  if (!out->table && !json_ok)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "only application/json and meta.k8s.io Tables are served, not \"%s\"", accept);
      return FALSE;
    }
  return TRUE;
}

static void
respond_text (SoupServerMessage *msg, guint code, const char *text)
{
  soup_server_message_set_status (msg, code, NULL);
  soup_server_message_set_response (msg, "text/plain; charset=utf-8", SOUP_MEMORY_COPY,
                                    text, strlen (text));
}

/* The /version document. */
static char *
version_json (void)
{
  return g_strdup_printf ("{\"major\":\"1\",\"minor\":\"31\",\"gitVersion\":\"v1.31.0-edgecore.%s\","
                          "\"gitCommit\":\"\",\"gitTreeState\":\"clean\",\"buildDate\":\"\","
                          "\"goVersion\":\"\",\"compiler\":\"gcc\",\"platform\":\"linux/%s\"}",
                          EC_VERSION,
#if defined(__x86_64__)
                          "amd64"
#elif defined(__aarch64__)
                          "arm64"
#else
                          "unknown"
#endif
                          );
}

/* ---- discovery, after a refresh of what the store holds ---- */

static void
on_scan_done (const GError *error, gpointer data)
{
  Pending *p = data;
  MsScanJob *scan = p->job;
  if (p->ms->stopped)
    return;
  if (!error)
    ms_apply_scan (p->ms, scan);
  else
    ec_log_warning (p->ms->context, "reading meta_v2's resources: %s", error->message);
  if (p->finished)
    return;
  dispatch (p->ms, p->msg, g_object_get_data (G_OBJECT (p->msg), "ms-path"), p->query, TRUE);
  soup_server_message_unpause (p->msg);
}

/* Looks at the store again, then handles the request once more. */
static void
rescan_then_dispatch (MetaServer *self, SoupServerMessage *msg, const char *path, GHashTable *query)
{
  Pending *p = pending_new (self, msg, query);
  MsScanJob *scan = g_new0 (MsScanJob, 1);
  g_object_set_data_full (G_OBJECT (msg), "ms-path", g_strdup (path), g_free);
  p->job = scan;
  p->job_func = ms_store_scan_func;
  p->job_free = (GDestroyNotify) ms_scan_job_free;
  ec_store_read (self->store, pending_run, on_scan_done, p, pending_free);
}

static void
respond_path_not_found (SoupServerMessage *msg)
{
  ms_respond_json (msg, 404, ms_status_json (404, "NotFound",
                                             "the server could not find the requested resource",
                                             NULL, NULL, NULL));
}

/* /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v>. */
static void
serve_discovery (MetaServer *self, SoupServerMessage *msg, MsRequestInfo *info)
{
  char *body = NULL;
  if (strcmp (info->prefix, "api") == 0)
    {
      if (!info->version)
        body = ms_registry_api_versions (self->registry, self->server_address);
      else if (strcmp (info->version, "v1") == 0)
        body = ms_registry_resource_list (self->registry, "", "v1");
    }
  else if (!info->group)
    body = ms_registry_group_list (self->registry);
  else if (!info->version)
    body = ms_registry_group (self->registry, info->group);
  else
    body = ms_registry_resource_list (self->registry, info->group, info->version);
  if (!body)
    {
      respond_path_not_found (msg);
      return;
    }
  ms_respond_json (msg, 200, body);
}

/* ---- get ---- */

static void
on_get_done (const GError *error, gpointer data)
{
  Pending *p = data;
  MsGetJob *job = p->job;

  if (!pending_alive (p))
    return;
  if (error)
    ms_respond_status (p->msg, 500, "InternalError", error->message);
  else if (!job->value)
    ms_respond_not_found (p->msg, p->info);
  else if (p->output.table)
    {
      g_autoptr (JsonNode) node = ms_json_parse (job->value, -1, NULL);
      g_autoptr (GString) s = g_string_new (NULL);
      g_autofree char *rv = NULL;
      if (!node)
        {
          ms_respond_status (p->msg, 500, "InternalError", "the stored object is not valid JSON");
          soup_server_message_unpause (p->msg);
          return;
        }
      rv = g_strdup_printf ("%" G_GUINT64_FORMAT, p->ms->revision);
      ms_table_begin (s, p->res->resource, p->output.table_version);
      ms_table_add_row (s, TRUE, p->res->resource, node, p->output.include,
                        g_get_real_time () / G_USEC_PER_SEC);
      ms_table_end (s, rv, NULL);
      ms_respond_json (p->msg, 200, g_string_free (g_steal_pointer (&s), FALSE));
    }
  else
    {
      soup_server_message_set_status (p->msg, 200, NULL);
      soup_server_message_set_response (p->msg, "application/json", SOUP_MEMORY_TAKE,
                                        job->value, strlen (job->value));
      job->value = NULL;
    }
  soup_server_message_unpause (p->msg);
}

static void
serve_get (MetaServer *self, SoupServerMessage *msg, MsRequestInfo **infop,
           const MsResource *res, GHashTable *query, MsOutput *output)
{
  MsRequestInfo *info = *infop;
  Pending *p;
  MsGetJob *job;

  if (info->subresource && strcmp (info->subresource, "status") != 0)
    {
      respond_path_not_found (msg);
      return;
    }
  p = pending_new (self, msg, query);
  job = g_new0 (MsGetJob, 1);
  job->key = ms_store_key (res->group, res->version, res->resource,
                           res->namespaced ? info->namespace : NULL, info->name);
  p->info = g_steal_pointer (infop);
  p->res = res;
  p->output = *output;
  output->table_version = NULL;
  p->job = job;
  p->job_func = ms_store_get_func;
  p->job_free = (GDestroyNotify) ms_get_job_free;
  ec_store_read (self->store, pending_run, on_get_done, p, pending_free);
}

/* ---- list ---- */

static void
on_list_done (const GError *error, gpointer data)
{
  Pending *p = data;
  MsListJob *job = p->job;
  if (!pending_alive (p))
    return;
  if (error)
    ms_respond_status (p->msg, 500, "InternalError", error->message);
  else
    ms_respond_bytes (p->msg, 200, g_steal_pointer (&job->body));
  soup_server_message_unpause (p->msg);
}

static void
serve_list (MetaServer *self, SoupServerMessage *msg, MsRequestInfo **infop,
            const MsResource *res, GHashTable *query, MsOutput *output)
{
  MsRequestInfo *info = *infop;
  const char *rv_text = query ? g_hash_table_lookup (query, "resourceVersion") : NULL;
  const char *match = query ? g_hash_table_lookup (query, "resourceVersionMatch") : NULL;
  const char *limit_text = query ? g_hash_table_lookup (query, "limit") : NULL;
  const char *cont = query ? g_hash_table_lookup (query, "continue") : NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (MsSelector) labels = NULL;
  g_autoptr (MsSelector) fields = NULL;
  g_autofree char *start_after = NULL;
  guint64 rv = 0, limit = 0, cont_rv = 0;
  MsListJob *job;
  Pending *p;

  labels = ms_label_selector_parse (query ? g_hash_table_lookup (query, "labelSelector") : NULL, &error);
  if (labels)
    fields = ms_field_selector_parse (query ? g_hash_table_lookup (query, "fieldSelector") : NULL,
                                      strcmp (res->resource, "pods") == 0, &error);
  if (!labels || !fields)
    {
      ms_respond_status (msg, 400, "BadRequest", error->message);
      return;
    }
  if (limit_text && *limit_text && !ms_parse_uint64 (limit_text, &limit))
    {
      g_autofree char *m = g_strdup_printf ("invalid limit \"%s\"", limit_text);
      ms_respond_status (msg, 400, "BadRequest", m);
      return;
    }
  if (cont && *cont)
    {
      if (rv_text && *rv_text)
        {
          ms_respond_status (msg, 400, "BadRequest",
                             "specifying resource version is not allowed when using continue");
          return;
        }
      if (!ms_continue_decode (cont, &cont_rv, &start_after))
        {
          ms_respond_status (msg, 400, "BadRequest", "continue key is not valid");
          return;
        }
    }
  if (match && *match)
    {
      if (!rv_text || !*rv_text)
        {
          ms_respond_status (msg, 400, "BadRequest",
                             "resourceVersionMatch is forbidden unless resourceVersion is provided");
          return;
        }
      if (strcmp (match, "Exact") != 0 && strcmp (match, "NotOlderThan") != 0)
        {
          g_autofree char *m = g_strdup_printf ("invalid resourceVersionMatch \"%s\"", match);
          ms_respond_status (msg, 400, "BadRequest", m);
          return;
        }
    }
  if (rv_text && *rv_text)
    {
      if (!ms_parse_uint64 (rv_text, &rv))
        {
          g_autofree char *m = g_strdup_printf ("invalid resourceVersion \"%s\"", rv_text);
          ms_respond_status (msg, 400, "BadRequest", m);
          return;
        }
      if (g_strcmp0 (match, "Exact") == 0 && rv != self->revision)
        {
          g_autofree char *m = g_strdup_printf ("too old resource version: %" G_GUINT64_FORMAT
                                                " (%" G_GUINT64_FORMAT "): only the current one is kept",
                                                rv, self->revision);
          ms_respond_status (msg, 410, "Expired", m);
          return;
        }
      if (rv > self->revision)
        {
          g_autofree char *m = g_strdup_printf ("Too large resource version: %" G_GUINT64_FORMAT
                                                ", current: %" G_GUINT64_FORMAT, rv, self->revision);
          ms_respond_json (msg, 504, ms_status_json (504, "Timeout", m, NULL, NULL, NULL));
          return;
        }
    }

  job = g_new0 (MsListJob, 1);
  job->key_lo = ms_store_key (res->group, res->version, res->resource,
                              res->namespaced ? info->namespace : NULL, NULL);
  if (res->namespaced && !info->namespace)
    {
      job->key_lo[strlen (job->key_lo) - strlen ("null/")] = '\0';
      job->slashes = 1;
    }
  job->key_hi = g_strdup (job->key_lo);
  job->key_hi[strlen (job->key_hi) - 1] = '0';   /* the character after '/' */
  if (start_after && !g_str_has_prefix (start_after, job->key_lo))
    {
      ms_list_job_free (job);
      ms_respond_status (msg, 400, "BadRequest", "continue key is not valid for this list");
      return;
    }
  job->start_after = g_steal_pointer (&start_after);
  job->labels = g_steal_pointer (&labels);
  job->fields = g_steal_pointer (&fields);
  job->limit = (gint64) MIN (limit, (guint64) G_MAXINT32);
  job->list_kind = g_strconcat (res->kind, "List", NULL);
  job->api_version = ms_registry_group_version_string (res->group, res->version);
  job->resource = g_strdup (res->resource);
  job->revision = self->revision;
  job->output = *output;
  output->table_version = NULL;
  job->now = g_get_real_time () / G_USEC_PER_SEC;

  p = pending_new (self, msg, query);
  p->info = g_steal_pointer (infop);
  p->res = res;
  p->job = job;
  p->job_func = ms_store_list_func;
  p->job_free = (GDestroyNotify) ms_list_job_free;
  ec_store_read (self->store, pending_run, on_list_done, p, pending_free);
}

/* ---- routing ---- */

static gboolean
is_health_path (const char *path)
{
  static const char *const roots[] = { "/healthz", "/livez", "/readyz" };
  for (guint i = 0; i < G_N_ELEMENTS (roots); i++)
    if (strcmp (path, roots[i]) == 0
        || (g_str_has_prefix (path, roots[i]) && path[strlen (roots[i])] == '/'))
      return TRUE;
  return FALSE;
}

/* Routes one request. @scanned: the registry was just refreshed from the
 * store, so an unknown resource is really unknown. */
static void
dispatch (MetaServer *self, SoupServerMessage *msg, const char *path, GHashTable *query,
          gboolean scanned)
{
  const char *method = soup_server_message_get_method (msg);
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  g_autoptr (MsRequestInfo) info = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (MsOutput) output = { 0 };
  const MsResource *res;
  gboolean read_only = strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;

  if (is_health_path (path) || strcmp (path, "/version") == 0 || strcmp (path, "/") == 0)
    {
      if (!read_only)
        ms_respond_status (msg, 405, "MethodNotAllowed", "only GET is allowed here");
      else if (path[1] == 'v')
        ms_respond_json (msg, 200, version_json ());
      else if (path[1] == '\0')
        ms_respond_json (msg, 200, g_strdup ("{\"paths\":[\"/api\",\"/api/v1\",\"/apis\",\"/healthz\","
                                             "\"/livez\",\"/openapi/v2\",\"/openapi/v3\",\"/readyz\","
                                             "\"/version\"]}"));
      else
        respond_text (msg, 200, "ok");
      return;
    }
  if (ms_passthrough_path (path))
    {
      if (!read_only)
        ms_respond_status (msg, 405, "MethodNotAllowed", "only GET is allowed here");
      else
        ms_passthrough_serve (self, msg, path);
      return;
    }

  info = ms_request_info_parse (method, path, query, &error);
  if (!info)
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        ms_respond_status (msg, 405, "MethodNotAllowed", error->message);
      else
        ms_respond_status (msg, 400, "BadRequest", error->message);
      return;
    }
  if (!info->prefix)
    {
      respond_path_not_found (msg);
      return;
    }
  if (!info->is_resource)
    {
      if (!read_only)
        ms_respond_status (msg, 405, "MethodNotAllowed", "discovery is read-only");
      else if (!scanned)
        rescan_then_dispatch (self, msg, path, query);
      else
        serve_discovery (self, msg, info);
      return;
    }

  res = ms_registry_lookup (self->registry, info->group, info->version, info->resource);
  if (!res)
    {
      if (!scanned)
        rescan_then_dispatch (self, msg, path, query);
      else
        respond_path_not_found (msg);
      return;
    }
  if (!res->namespaced && info->namespace)
    {
      respond_path_not_found (msg);
      return;
    }
  if (!ms_output_from_accept (soup_message_headers_get_one (req, "Accept"), query, &output, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
        ms_respond_status (msg, 406, "NotAcceptable", error->message);
      else
        ms_respond_status (msg, 400, "BadRequest", error->message);
      return;
    }

  ec_metric_add (self->m_requests[info->verb], 1);
  switch (info->verb)
    {
    case MS_VERB_GET:
      serve_get (self, msg, &info, res, query, &output);
      break;
    case MS_VERB_LIST:
      serve_list (self, msg, &info, res, query, &output);
      break;
    case MS_VERB_WATCH:
      ms_watch_start (self, msg, info, res, query, &output);
      break;
    case MS_VERB_CREATE:
    case MS_VERB_UPDATE:
    case MS_VERB_PATCH:
    case MS_VERB_DELETE:
      if (body_too_large (msg))
        respond_too_large (msg);
      else
        ms_cloud_write (self, msg, &info, res, query);
      break;
    case MS_VERB_DELETE_COLLECTION:
    default:
      ms_respond_status (msg, 405, "MethodNotAllowed",
                         "deleting a whole collection is not supported by metaserver");
      break;
    }
}

/* TRUE when the request body passed MAX_BODY: declared, seen while it
 * arrived, or as read. */
static gboolean
body_too_large (SoupServerMessage *msg)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  return g_object_get_data (G_OBJECT (msg), "ms-body-too-large") != NULL
         || (soup_message_headers_get_encoding (req) == SOUP_ENCODING_CONTENT_LENGTH
             && soup_message_headers_get_content_length (req) > MAX_BODY)
         || (body && body->length > MAX_BODY);
}

/* 413 with a Status for a body found too large once read (a last check
 * behind refuse_body); the connection is closed after it. */
static void
respond_too_large (SoupServerMessage *msg)
{
  g_autofree char *m = g_strdup_printf ("the request body is larger than %d bytes", MAX_BODY);
  ms_respond_status (msg, 413, "RequestEntityTooLarge", m);
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Connection", "close");
}

/* Closes a refused request's connection, once the 413 had time to arrive. */
static gboolean
close_refused (gpointer data)
{
  g_io_stream_close (data, NULL, NULL);
  return G_SOURCE_REMOVE;
}

/* Refuses a request whose body is too large without reading any more of
 * it: takes the connection from libsoup, writes the 413 Status itself,
 * ends its side of the connection, and closes it a moment later (so the
 * client can read the answer before its unread body resets the line). */
static void
refuse_body (SoupServerMessage *msg)
{
  g_autofree char *m = g_strdup_printf ("the request body is larger than %d bytes", MAX_BODY);
  g_autofree char *status = ms_status_json (413, "RequestEntityTooLarge", m, NULL, NULL, NULL);
  g_autofree char *text = g_strdup_printf ("HTTP/1.1 413 Request Entity Too Large\r\n"
                                           "Content-Type: application/json\r\n"
                                           "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                                           strlen (status), status);
  GSocket *sock = soup_server_message_get_socket (msg);
  GIOStream *io;

  g_object_set_data (G_OBJECT (msg), "ms-body-too-large", GINT_TO_POINTER (1));
  if (sock)
    g_object_ref (sock);
  io = soup_server_message_steal_connection (msg);
  if (io)
    {
      g_output_stream_write_all (g_io_stream_get_output_stream (io), text, strlen (text), NULL, NULL, NULL);
      g_output_stream_flush (g_io_stream_get_output_stream (io), NULL, NULL);
      if (sock && !G_IS_TLS_CONNECTION (io))
        g_socket_shutdown (sock, FALSE, TRUE, NULL);
      g_timeout_add_full (G_PRIORITY_DEFAULT, 500, close_refused, io, g_object_unref);
    }
  if (sock)
    g_object_unref (sock);
}

/* A piece of a body of unknown length (chunked) arrived: past MAX_BODY,
 * stop reading it and answer 413. */
static void
on_body_chunk (SoupServerMessage *msg, GBytes *chunk, gpointer data)
{
  gsize *seen = g_object_get_data (G_OBJECT (msg), "ms-body-seen");
  if (!seen || g_object_get_data (G_OBJECT (msg), "ms-body-too-large"))
    return;
  *seen += g_bytes_get_size (chunk);
  if (*seen > MAX_BODY)
    refuse_body (msg);
}

/* Runs once the request headers are in, before the body is read: a body
 * declared too large is refused outright; one of unknown length (chunked)
 * is counted as it arrives. */
static void
on_request_headers (SoupServer *server, SoupServerMessage *msg, const char *path,
                    GHashTable *query, gpointer data)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupEncoding enc = soup_message_headers_get_encoding (req);

  if (enc == SOUP_ENCODING_CONTENT_LENGTH && soup_message_headers_get_content_length (req) > MAX_BODY)
    {
      refuse_body (msg);
      return;
    }
  if (enc == SOUP_ENCODING_CHUNKED || enc == SOUP_ENCODING_EOF)
    {
      g_object_set_data_full (G_OBJECT (msg), "ms-body-seen", g_new0 (gsize, 1), g_free);
      g_signal_connect (msg, "got-chunk", G_CALLBACK (on_body_chunk), NULL);
    }
}

static void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer data)
{
  MetaServer *self = data;
  if (g_object_get_data (G_OBJECT (msg), "ms-body-too-large"))
    return;   /* already answered by refuse_body */
  if (self->stopped)
    {
      ms_respond_status (msg, 503, "ServiceUnavailable", "metaserver is stopping");
      return;
    }
  dispatch (self, msg, path, query, FALSE);
}

/* Parses "host:port" or "[v6]:port". */
static GSocketAddress *
parse_address (const char *text, GError **error)
{
  g_autofree char *host = NULL;
  const char *colon;
  guint64 port;

  if (text && text[0] == '[')
    {
      const char *end = strchr (text, ']');
      if (!end || end[1] != ':')
        goto bad;
      host = g_strndup (text + 1, end - text - 1);
      colon = end + 1;
    }
  else
    {
      colon = text ? strrchr (text, ':') : NULL;
      if (!colon)
        goto bad;
      host = g_strndup (text, colon - text);
    }
  if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, 65535, &port, NULL))
    goto bad;
  {
    GSocketAddress *addr = g_inet_socket_address_new_from_string (host, (guint) port);
    if (addr)
      return addr;
  }
bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               "[metaserver] server: \"%s\" is not an IP address and port (host:port)", text ? text : "");
  return NULL;
}

/* A client certificate GLib did not validate on its own: accepted only
 * when it chains to tls-ca-file for client authentication. */
static gboolean
on_accept_certificate (SoupServerMessage *msg, GTlsCertificate *cert, GTlsCertificateFlags errors,
                       gpointer data)
{
  MetaServer *self = data;
  GTlsDatabase *db = soup_server_get_tls_database (self->server);
  GTlsCertificateFlags flags;
  if (!db || !cert)
    return FALSE;
  flags = g_tls_database_verify_chain (db, cert, G_TLS_DATABASE_PURPOSE_AUTHENTICATE_CLIENT,
                                       NULL, NULL, G_TLS_DATABASE_VERIFY_NONE, NULL, NULL);
  if (flags != 0)
    ec_log_info (self->context, "refusing a client certificate (TLS errors 0x%x)", flags);
  return flags == 0;
}

static void
on_request_started (SoupServer *server, SoupServerMessage *msg, gpointer data)
{
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (on_accept_certificate), data);
}

/* Loads the TLS certificate, key and client CA. */
static gboolean
setup_tls (MetaServer *self, GError **error)
{
  g_autofree char *ca = ec_plugin_context_get_string (self->context, "tls-ca-file");
  g_autofree char *cert = ec_plugin_context_get_string (self->context, "tls-cert-file");
  g_autofree char *key = ec_plugin_context_get_string (self->context, "tls-private-key-file");
  g_autoptr (GTlsCertificate) tls = NULL;
  g_autoptr (GTlsDatabase) db = NULL;
  g_autoptr (GError) local = NULL;

  if (!g_tls_backend_supports_tls (g_tls_backend_get_default ()))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "HTTPS needs GLib's TLS backend (Debian package glib-networking)");
      return FALSE;
    }
  tls = g_tls_certificate_new_from_files (cert, key, &local);
  if (!tls)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "[metaserver] tls-cert-file %s / tls-private-key-file %s: %s", cert, key,
                   local->message);
      return FALSE;
    }
  db = g_tls_file_database_new (ca, &local);
  if (!db)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "[metaserver] tls-ca-file %s: %s",
                   ca, local->message);
      return FALSE;
    }
  soup_server_set_tls_certificate (self->server, tls);
  soup_server_set_tls_database (self->server, db);
  soup_server_set_tls_auth_mode (self->server, G_TLS_AUTHENTICATION_REQUIRED);
  g_signal_connect (self->server, "request-started", G_CALLBACK (on_request_started), self);
  return TRUE;
}

/* Starts listening on [metaserver] server, HTTPS with client certificates
 * when require-authorization is set. */
gboolean
ms_http_start (MetaServer *self, GError **error)
{
  g_autofree char *server = ec_plugin_context_get_string (self->context, "server");
  gboolean https = ec_plugin_context_get_bool (self->context, "require-authorization");
  g_autoptr (GSocketAddress) addr = parse_address (server, error);
  g_autoptr (GError) local = NULL;
  GSList *uris;

  if (!addr)
    return FALSE;
  self->server = soup_server_new ("server-header", "edgecore-metaserver", NULL);
  if (https && !setup_tls (self, error))
    return FALSE;
  soup_server_add_early_handler (self->server, NULL, on_request_headers, self, NULL);
  soup_server_add_handler (self->server, NULL, on_request, self, NULL);
  if (!http_listen (self->server, addr, https ? SOUP_SERVER_LISTEN_HTTPS : 0, &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "[metaserver] cannot listen on %s: %s",
                   server, local->message);
      return FALSE;
    }
  self->conn_limits = ms_conn_limits_new (self, self->server, &self->conn_config);
  uris = soup_server_get_uris (self->server);
  if (uris)
    {
      g_autofree char *s = g_uri_to_string (uris->data);
      ec_log_message (self->context, "serving the Kubernetes API on %s%s", s,
                      https ? " (client certificates required)" : "");
      self->server_address = g_strdup_printf ("%s:%d", g_uri_get_host (uris->data),
                                              g_uri_get_port (uris->data));
    }
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);
  if (!self->server_address)
    self->server_address = g_strdup (server);
  return TRUE;
}

/* Ends the watches and closes the listener. */
void
ms_http_stop (MetaServer *self)
{
  if (self->watch)
    ms_watch_close_all (self->watch);
  if (self->server)
    {
      soup_server_disconnect (self->server);
      g_clear_pointer (&self->conn_limits, ms_conn_limits_free);
      g_clear_object (&self->server);
    }
}
