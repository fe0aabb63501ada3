/* ms-passthrough.c: KubeEdge's non-resource pass-through, for the OpenAPI
 * documents (/openapi/v2, /openapi/v3 and /openapi/v3/<group-version>).
 * A GET goes to the cloud as an Application with verb "get" and Key = the
 * path (the query, e.g. kubectl's ?hash=, is not part of it); an approved
 * answer is cached in meta_v2 under the path (only key and value filled, as
 * KubeEdge's imitator stores it) and returned as application/json. Offline,
 * or when the cloud fails, the cached copy is served; without one, the root
 * and the documents of the group-versions metaserver serves are written by
 * metaserver itself (ms-openapi.c); anything else is a Status. The
 * X-Metaserver-Source header says where a document came from: cloud, cache
 * or metaserver. The cloud's answer is decoded, and the cache read, on a
 * store reader thread; the cache is written through the store's writer. */
#include "ms.h"

#include <string.h>

/* One pass-through request. Held by the cloud call and the store jobs. */
typedef struct {
  gint               refcount;
  MetaServer        *ms;
  SoupServerMessage *msg;
  char              *key;           /* the path: the Application's Key and the row's key */
  gboolean           finished;      /* the client went away */
  gulong             finished_id;
  EcMessage         *reply;         /* the cloud's applicationResponse, to look at */
  /* why the cloud gave no document: the answer when nothing is cached */
  guint              fail_code;
  char              *fail_reason;   /* NULL: the code's */
  char              *fail_message;
  /* found on the reader thread */
  GBytes            *body;
  gboolean           from_cloud;
  MsScanJob         *scan;          /* the store's resources, read when neither has a document */
} PassCall;

static void
on_pass_finished (SoupServerMessage *msg, gpointer data)
{
  PassCall *c = data;
  c->finished = TRUE;
}

static PassCall *
pass_call_ref (PassCall *c)
{
  c->refcount++;
  return c;
}

/* Drops a reference (main loop only); the last one frees the call. */
static void
pass_call_unref (gpointer data)
{
  PassCall *c = data;
  if (--c->refcount > 0)
    return;
  c->ms->pending--;
  g_clear_signal_handler (&c->finished_id, c->msg);
  g_object_unref (c->msg);
  g_clear_pointer (&c->reply, ec_message_unref);
  g_clear_pointer (&c->body, g_bytes_unref);
  g_clear_pointer (&c->scan, ms_scan_job_free);
  g_free (c->key);
  g_free (c->fail_reason);
  g_free (c->fail_message);
  ms_unref (c->ms);
  g_free (c);
}

/* Records why there is no document from the cloud; takes @message. */
static void
set_failure (PassCall *c, guint code, const char *reason, char *message)
{
  c->fail_code = code;
  g_free (c->fail_reason);
  c->fail_reason = g_strdup (reason);
  g_free (c->fail_message);
  c->fail_message = message;
}

/**
 * ms_passthrough_path:
 * TRUE for the paths passed through: /openapi/v2, /openapi/v3, and
 * /openapi/v3/ followed by plain segments ([A-Za-z0-9._-], not "." or
 * ".."), at most 256 characters in all (the size of a meta_v2 key in
 * KubeEdge's model).
 */
gboolean
ms_passthrough_path (const char *path)
{
  const char *rest;

  if (strcmp (path, "/openapi/v2") == 0 || strcmp (path, "/openapi/v3") == 0)
    return TRUE;
  if (!g_str_has_prefix (path, "/openapi/v3/") || strlen (path) > 256)
    return FALSE;
  rest = path + strlen ("/openapi/v3/");
  for (;;)
    {
      const char *end = strchr (rest, '/');
      gsize len = end ? (gsize) (end - rest) : strlen (rest);
      if (len == 0 || (len == 1 && rest[0] == '.') || (len == 2 && rest[0] == '.' && rest[1] == '.'))
        return FALSE;
      for (gsize i = 0; i < len; i++)
        if (!g_ascii_isalnum (rest[i]) && rest[i] != '.' && rest[i] != '-' && rest[i] != '_')
          return FALSE;
      if (!end)
        return TRUE;
      rest = end + 1;
    }
}

/* A cheap check that a document is a JSON object. */
static gboolean
looks_like_json_object (const char *v, gsize len)
{
  while (len > 0 && g_ascii_isspace (v[len - 1]))
    len--;
  while (len > 0 && g_ascii_isspace (*v))
    {
      v++;
      len--;
    }
  return len >= 2 && v[0] == '{' && v[len - 1] == '}';
}

/* Reader thread: takes the document out of the cloud's answer, or records
 * why there is none. */
static gboolean
take_answer (PassCall *c)
{
  g_autoptr (GError) error = NULL;
  JsonNode *content = ec_message_get_content_node (c->reply, &error);   /* borrowed */
  JsonObject *app;
  const char *status, *b64;
  guchar *data;
  gsize len = 0;

  if (!content || !JSON_NODE_HOLDS_OBJECT (content))
    {
      set_failure (c, 502, "InternalError",
                   g_strdup_printf ("the cloud's answer for %s is not an Application object, and "
                                    "metaserver has no cached copy", c->key));
      return FALSE;
    }
  app = json_node_get_object (content);
  status = ms_json_get_string (app, "Status");
  if (g_strcmp0 (status, "Rejected") == 0)
    {
      const char *reason, *message;
      guint code = ms_cloud_rejection (app, &reason, &message);
      set_failure (c, code, reason, g_strdup (message));
      return FALSE;
    }
  if (g_strcmp0 (status, "Approved") != 0)
    {
      const char *why = ms_json_get_string (app, "Reason");
      set_failure (c, 500, "InternalError",
                   g_strdup_printf ("the cloud did not get %s (status %s): %s; metaserver has no "
                                    "cached copy", c->key, status ? status : "none",
                                    why && *why ? why : "no reason given"));
      return FALSE;
    }
  b64 = ms_json_get_string (app, "RespBody");
  if (!b64 || !*b64)
    {
      set_failure (c, 502, "InternalError",
                   g_strdup_printf ("the cloud approved the request for %s but sent no document, "
                                    "and metaserver has no cached copy", c->key));
      return FALSE;
    }
  if (strlen (b64) / 4 * 3 > (gsize) MS_PASSTHROUGH_MAX_BODY + 3)
    {
      set_failure (c, 502, "InternalError",
                   g_strdup_printf ("the cloud's %s is larger than %d bytes, and metaserver has no "
                                    "cached copy", c->key, MS_PASSTHROUGH_MAX_BODY));
      return FALSE;
    }
  data = g_base64_decode (b64, &len);
  if (len > MS_PASSTHROUGH_MAX_BODY || !looks_like_json_object ((const char *) data, len))
    {
      g_free (data);
      set_failure (c, 502, "InternalError",
                   g_strdup_printf ("the cloud's %s is not a JSON object of at most %d bytes, and "
                                    "metaserver has no cached copy", c->key, MS_PASSTHROUGH_MAX_BODY));
      return FALSE;
    }
  c->body = g_bytes_new_take (data, len);
  c->from_cloud = TRUE;
  return TRUE;
}

/* TRUE for the paths metaserver can write a document of: the root and
 * the documents of group-versions. */
static gboolean
own_document_path (const char *key)
{
  g_autofree char *group = NULL;
  g_autofree char *version = NULL;
  return strcmp (key, "/openapi/v3") == 0 || ms_openapi_group_version_path (key, &group, &version);
}

/* Reader thread: the document from the cloud's answer, else from the
 * cache; else what meta_v2 holds (the registry is refreshed from it, as
 * for discovery, before metaserver writes its own document). */
static gboolean
resolve_func (sqlite3 *db, gpointer data, GError **error)
{
  PassCall *c = data;
  MsGetJob job = { .key = c->key };

  if (c->reply && take_answer (c))
    return TRUE;
  if (!ms_store_get_func (db, &job, error))
    return FALSE;
  if (job.value)
    {
      gsize len = strlen (job.value);
      c->body = g_bytes_new_take (job.value, len);
      return TRUE;
    }
  if (!own_document_path (c->key))
    return TRUE;
  c->scan = g_new0 (MsScanJob, 1);
  return ms_store_scan_func (db, c->scan, error);
}

/* One cache row to write. */
typedef struct {
  MetaServer *ms;
  char       *key;
  GBytes     *body;
  gboolean    old_columns;   /* v1.9.2's column names */
} CacheWrite;

static void
cache_write_free (gpointer data)
{
  CacheWrite *w = data;
  g_bytes_unref (w->body);
  g_free (w->key);
  ms_unref (w->ms);
  g_free (w);
}

/* Writer thread: the row as KubeEdge's imitator stores a pass-through
 * answer: key = the path, value = the document, the other columns empty
 * (resource_version 0). */
static gboolean
cache_write_func (sqlite3 *db, gpointer data, GError **error)
{
  CacheWrite *w = data;
  sqlite3_stmt *st = NULL;
  gsize len;
  const char *text = g_bytes_get_data (w->body, &len);
  int rc;

  if (sqlite3_prepare_v2 (db, w->old_columns
                              ? "INSERT OR REPLACE INTO meta_v2 (key, groupversionresource, namespace, "
                                "name, resourceversion, value) VALUES (?1, '', '', '', 0, ?2)"
                              : "INSERT OR REPLACE INTO meta_v2 (key, group_version_resource, namespace, "
                                "name, resource_version, value) VALUES (?1, '', '', '', 0, ?2)",
                          -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "caching a pass-through answer");
  sqlite3_bind_text (st, 1, w->key, -1, SQLITE_STATIC);
  sqlite3_bind_text (st, 2, text, (int) len, SQLITE_STATIC);
  rc = sqlite3_step (st);
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "caching a pass-through answer");
  return TRUE;
}

static void
on_cache_written (const GError *error, gpointer data)
{
  CacheWrite *w = data;
  if (w->ms->stopped)
    return;
  if (error)
    ec_log_warning (w->ms->context, "could not cache %s in meta_v2: %s", w->key, error->message);
  else
    ec_log_debug (w->ms->context, "cached %s in meta_v2 (%zu bytes)", w->key, g_bytes_get_size (w->body));
}

/* Main loop: metaserver's own document of the path, when neither the cloud
 * nor the cache has one: the root, or the document of a group-version the
 * registry knows. NULL otherwise; a group-version it does not know is then
 * a 404, unless the cloud was out of reach (it may know it). */
static char *
own_document (PassCall *c)
{
  MsRegistry *reg = c->ms->registry;
  g_autofree char *group = NULL;
  g_autofree char *version = NULL;
  g_autofree char *gv = NULL;
  char *doc;

  if (strcmp (c->key, "/openapi/v3") == 0)
    return ms_openapi_root (reg);
  if (!ms_openapi_group_version_path (c->key, &group, &version))
    return NULL;
  doc = ms_openapi_document (reg, group, version);
  if (doc || c->fail_code == 503 || c->fail_code == 504)
    return doc;
  gv = ms_registry_group_version_string (group, version);
  set_failure (c, 404, "NotFound",
               g_strdup_printf ("metaserver serves no resources of %s, and the cloud gave no "
                                "document of it (%u: %s)", gv, c->fail_code,
                                c->fail_message ? c->fail_message : "no reason given"));
  return NULL;
}

/* Main loop: answers with the document, or with the Status of the failure. */
static void
on_resolved (const GError *error, gpointer data)
{
  PassCall *c = data;
  MetaServer *self = c->ms;
  g_autofree char *own = NULL;
  const char *source = "cloud";

  if (self->stopped)
    return;
  if (c->scan)
    ms_apply_scan (self, c->scan);
  if (c->body && c->from_cloud)
    {
      CacheWrite *w = g_new0 (CacheWrite, 1);
      w->ms = ms_ref (self);
      w->key = g_strdup (c->key);
      w->body = g_bytes_ref (c->body);
      w->old_columns = g_strcmp0 (self->rv_column, "resourceversion") == 0;
      ec_store_write (self->store, cache_write_func, on_cache_written, w, cache_write_free);
    }
  else if (c->body)
    {
      source = "cache";
      ec_log_info (self->context, "%s: no document from the cloud (%u %s); served the copy cached in meta_v2",
                   c->key, c->fail_code, c->fail_reason ? c->fail_reason : ms_reason_for_code (c->fail_code));
    }
  else if (error)
    ec_log_warning (self->context, "reading the cached %s: %s", c->key, error->message);
  if (c->finished)
    return;
  if (!c->body && (own = own_document (c)))
    {
      source = "metaserver";
      ec_log_debug (self->context, "%s: no document from the cloud (%u %s) nor in meta_v2; served "
                    "metaserver's own", c->key, c->fail_code,
                    c->fail_reason ? c->fail_reason : ms_reason_for_code (c->fail_code));
    }
  if (c->body || own)
    {
      SoupMessageHeaders *h = soup_server_message_get_response_headers (c->msg);
      SoupMessageBody *body = soup_server_message_get_response_body (c->msg);
      soup_server_message_set_status (c->msg, 200, NULL);
      soup_message_headers_set_content_type (h, "application/json", NULL);
      soup_message_headers_replace (h, "X-Metaserver-Source", source);
      if (own)
        {
          gsize len = strlen (own);
          soup_message_body_append (body, SOUP_MEMORY_TAKE, g_steal_pointer (&own), len);
        }
      else
        soup_message_body_append_bytes (body, c->body);
    }
  else
    ms_respond_status (c->msg, c->fail_code, c->fail_reason, c->fail_message);
  soup_server_message_unpause (c->msg);
}

/* Looks for the document on a store reader thread. */
static void
resolve (PassCall *c)
{
  ec_store_read (c->ms->store, resolve_func, on_resolved, pass_call_ref (c), pass_call_unref);
}

/* The cloud's answer (or the bus's error) arrived. */
static void
on_cloud_reply (EcMessage *reply, const GError *error, gpointer data)
{
  PassCall *c = data;
  g_autofree char *text = NULL;
  guint code;

  if (c->ms->stopped)
    return;
  if (ms_cloud_failed (reply, error, &code, &text))
    set_failure (c, code, NULL, g_strdup_printf ("%s; metaserver has no cached copy of %s", text, c->key));
  else
    c->reply = ec_message_ref (reply);
  resolve (c);
}

/**
 * ms_passthrough_serve:
 * Answers a GET of a pass-through path: asks the cloud while connected,
 * else (or when the cloud fails) serves the cached copy, else metaserver's
 * own document when it has one. Only JSON is served: an Accept without it
 * is a 406, not asked of the cloud.
 */
void
ms_passthrough_serve (MetaServer *self, SoupServerMessage *msg, const char *path)
{
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  const char *accept = soup_message_headers_get_one (req, "Accept");
  g_auto (MsOutput) output = { 0 };
  PassCall *c;

  if (!ms_output_from_accept (accept, NULL, &output, NULL) || !output.json)
    {
      g_autofree char *m = g_strdup_printf ("%s is served only as application/json, not \"%s\"",
                                            path, accept);
      ms_respond_status (msg, 406, "NotAcceptable", m);
      return;
    }
  c = g_new0 (PassCall, 1);
  c->refcount = 1;
  c->ms = ms_ref (self);
  c->msg = g_object_ref (msg);
  c->key = g_strdup (path);
  c->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_pass_finished), c);
  self->pending++;
  soup_server_message_pause (msg);
  if (!self->connected)
    {
      set_failure (c, 503, "ServiceUnavailable",
                   g_strdup_printf ("the edge node is offline (the cloud is unreachable) and "
                                    "metaserver has no cached copy of %s", path));
      resolve (c);
    }
  else
    {
      g_autoptr (GBytes) option = g_bytes_new_static ("{}", 2);   /* metav1.GetOptions{} */
      g_autoptr (JsonNode) app = ms_cloud_application (self, path, "get", NULL, option, NULL);
      ms_cloud_call (self, app, on_cloud_reply, pass_call_ref (c), pass_call_unref);
    }
  pass_call_unref (c);
}
