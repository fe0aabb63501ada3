/* ms-cloud.c: writes (create, update, patch, delete) go to the cloud as
 * KubeEdge "Application" requests: a sync call to module websocket with
 * source metaserver, group dynamiccontroller, operation and resource "null";
 * the cloud's dynamiccontroller answers with an applicationResponse. While
 * the cloud is unreachable the answer is 503 at once. The Application, the
 * call and the reading of the reply are shared with the pass-through
 * (ms-passthrough.c). */
#include "ms.h"

#include <string.h>

typedef struct {
  MetaServer        *ms;
  SoupServerMessage *msg;
  MsRequestInfo     *info;
  const MsResource  *res;
  gboolean           finished;
  gulong             finished_id;
} WriteCall;

static void
on_write_finished (SoupServerMessage *msg, gpointer data)
{
  WriteCall *c = data;
  c->finished = TRUE;
}

static void
write_call_free (gpointer data)
{
  WriteCall *c = data;
  c->ms->pending--;
  g_clear_signal_handler (&c->finished_id, c->msg);
  g_object_unref (c->msg);
  ms_request_info_free (c->info);
  ms_unref (c->ms);
  g_free (c);
}

/* The Application verb of a request. */
static const char *
app_verb (const MsRequestInfo *info)
{
  switch (info->verb)
    {
    case MS_VERB_CREATE: return "create";
    case MS_VERB_UPDATE:
      return g_strcmp0 (info->subresource, "status") == 0 ? "updatestatus" : "update";
    case MS_VERB_PATCH: return "patch";
    case MS_VERB_DELETE: return "delete";
    default: return ms_verb_name (info->verb);
    }
}

static void
add_bytes_member (JsonBuilder *b, const char *name, GBytes *bytes)
{
  json_builder_set_member_name (b, name);
  if (!bytes || g_bytes_get_size (bytes) == 0)
    json_builder_add_null_value (b);
  else
    {
      gsize len;
      const guchar *data = g_bytes_get_data (bytes, &len);
      g_autofree char *b64 = g_base64_encode (data, len);
      json_builder_add_string_value (b, b64);
    }
}

/* The options of a create/update (metav1.CreateOptions/UpdateOptions) from
 * the query: dryRun, fieldManager, fieldValidation. */
static char *
write_options (GHashTable *query)
{
  static const char *const keys[] = { "fieldManager", "fieldValidation" };
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  const char *dry = query ? g_hash_table_lookup (query, "dryRun") : NULL;

  json_builder_begin_object (b);
  if (dry && *dry)
    {
      json_builder_set_member_name (b, "dryRun");
      json_builder_begin_array (b);
      json_builder_add_string_value (b, dry);
      json_builder_end_array (b);
    }
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      const char *v = query ? g_hash_table_lookup (query, keys[i]) : NULL;
      if (v && *v)
        {
          json_builder_set_member_name (b, keys[i]);
          json_builder_add_string_value (b, v);
        }
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}

/* KubeEdge's PatchInfo: Name, PatchType, Data (base64), Options, Subresources. */
static char *
patch_info (const MsRequestInfo *info, const char *patch_type, GBytes *body, const char *options)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (JsonNode) opts = ms_json_parse (options, -1, NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Name");
  json_builder_add_string_value (b, info->name ? info->name : "");
  json_builder_set_member_name (b, "PatchType");
  json_builder_add_string_value (b, patch_type);
  add_bytes_member (b, "Data", body);
  json_builder_set_member_name (b, "Options");
  json_builder_add_value (b, g_steal_pointer (&opts));
  json_builder_set_member_name (b, "Subresources");
  if (info->subresource)
    {
      json_builder_begin_array (b);
      json_builder_add_string_value (b, info->subresource);
      json_builder_end_array (b);
    }
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}

/* The Application sent to the cloud, as KubeEdge's Go structure marshals. */
JsonNode *
ms_cloud_application (MetaServer *self, const char *key, const char *verb, const char *subresource,
                      GBytes *option, GBytes *req_body)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  gsize len;
  const guchar *data;

  g_checksum_update (sum, (const guchar *) self->node_name, -1);
  g_checksum_update (sum, (const guchar *) key, -1);
  g_checksum_update (sum, (const guchar *) verb, -1);
  if (option && (data = g_bytes_get_data (option, &len)) && len)
    g_checksum_update (sum, data, len);
  if (req_body && (data = g_bytes_get_data (req_body, &len)) && len)
    g_checksum_update (sum, data, len);
  g_checksum_update (sum, (const guchar *) (subresource ? subresource : ""), -1);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ID");
  json_builder_add_string_value (b, g_checksum_get_string (sum));
  json_builder_set_member_name (b, "Key");
  json_builder_add_string_value (b, key);
  json_builder_set_member_name (b, "Verb");
  json_builder_add_string_value (b, verb);
  json_builder_set_member_name (b, "Nodename");
  json_builder_add_string_value (b, self->node_name);
  add_bytes_member (b, "Option", option);
  add_bytes_member (b, "ReqBody", req_body);
  json_builder_set_member_name (b, "Subresource");
  json_builder_add_string_value (b, subresource ? subresource : "");
  json_builder_set_member_name (b, "RespBody");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "Status");
  json_builder_add_string_value (b, "InApplying");
  json_builder_set_member_name (b, "Reason");
  json_builder_add_string_value (b, "");
  json_builder_set_member_name (b, "Error");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ErrStatus");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "Timestamp");
  json_builder_add_string_value (b, "0001-01-01T00:00:00Z");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/**
 * ms_cloud_rejection:
 * Reads a Rejected Application's Error.ErrStatus: returns its HTTP code
 * (500 when it names none in 400..599) and sets @reason (may be NULL) and
 * @message (never NULL; borrowed from @app).
 */
guint
ms_cloud_rejection (JsonObject *app, const char **reason, const char **message)
{
  JsonObject *err = ms_json_get_object (ms_json_get_object (app, "Error"), "ErrStatus");
  JsonNode *code_node = err ? json_object_get_member (err, "code") : NULL;
  gint64 code = code_node && JSON_NODE_HOLDS_VALUE (code_node) ? json_node_get_int (code_node) : 0;
  const char *app_reason = ms_json_get_string (app, "Reason");

  *reason = ms_json_get_string (err, "reason");
  *message = ms_json_get_string (err, "message");
  if (!*message || !**message)
    *message = app_reason && *app_reason ? app_reason : "the cloud rejected the request";
  return code < 400 || code > 599 ? 500 : (guint) code;
}

/**
 * ms_cloud_failed:
 * TRUE when a call to the cloud brought no Application: the bus gave an
 * error (no answer in time: 504, else 503) or edgehub answered "error"
 * (the cloud is unreachable: 503). Sets @code and @message (to free).
 */
gboolean
ms_cloud_failed (EcMessage *reply, const GError *error, guint *code, char **message)
{
  if (error)
    {
      *code = g_error_matches (error, EC_BUS_ERROR, EC_BUS_ERROR_TIMEOUT) ? 504 : 503;
      *message = g_strdup_printf ("the cloud did not answer: %s", error->message);
      return TRUE;
    }
  if (g_strcmp0 (ec_message_get_operation (reply), EC_OP_ERROR) == 0)
    {
      g_autofree char *why = ec_message_dup_content_string (reply);
      *code = 503;
      *message = g_strdup_printf ("the cloud is unreachable: %s", why && *why ? why : "no reason given");
      return TRUE;
    }
  return FALSE;
}

/**
 * ms_cloud_call:
 * Sends an Application to the cloud (module websocket, source metaserver,
 * group dynamiccontroller, operation and resource "null") as a sync call
 * that waits cloud-timeout.
 */
void
ms_cloud_call (MetaServer *self, JsonNode *app, EcReplyFunc callback, gpointer data,
               GDestroyNotify destroy)
{
  g_autoptr (EcMessage) m = ec_message_new (METASERVER_BUS_NAME, "dynamiccontroller", "null", "null");
  ec_message_set_content_node (m, app);
  ec_endpoint_call (self->endpoint, "websocket", m, (guint) self->cloud_timeout_ms,
                    callback, data, destroy);
}

/* Decodes a base64 []byte member; NULL when absent or null. */
static GBytes *
bytes_member (JsonObject *obj, const char *name)
{
  const char *b64 = ms_json_get_string (obj, name);
  gsize len = 0;
  guchar *data;
  if (!b64 || !*b64)
    return NULL;
  data = g_base64_decode (b64, &len);
  return g_bytes_new_take (data, len);
}

/* Answers the HTTP request from the cloud's applicationResponse. */
static void
answer_from_application (WriteCall *c, JsonObject *app)
{
  const char *status = ms_json_get_string (app, "Status");
  const char *reason = ms_json_get_string (app, "Reason");
  SoupServerMessage *msg = c->msg;

  if (g_strcmp0 (status, "Approved") == 0)
    {
      g_autoptr (GBytes) body = bytes_member (app, "RespBody");
      g_autoptr (JsonNode) node = NULL;
      if (body)
        node = ms_json_parse (g_bytes_get_data (body, NULL), (gssize) g_bytes_get_size (body), NULL);
      if (node && JSON_NODE_HOLDS_OBJECT (node))
        ms_respond_bytes (msg, c->info->verb == MS_VERB_CREATE ? 201 : 200, g_steal_pointer (&body));
      else if (c->info->verb == MS_VERB_DELETE)
        {
          g_autofree char *name = ec_json_escape (c->info->name);
          g_autofree char *kind = ec_json_escape (c->res->resource);
          ms_respond_json (msg, 200, g_strdup_printf (
              "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Success\","
              "\"details\":{\"name\":%s,\"kind\":%s}}", name, kind));
        }
      else
        ms_respond_status (msg, 500, "InternalError",
                           "the cloud approved the request but sent no object back");
      return;
    }
  if (g_strcmp0 (status, "Rejected") == 0)
    {
      const char *why, *message;
      guint code = ms_cloud_rejection (app, &why, &message);
      ms_respond_json (msg, code, ms_status_json (code, why, message, c->info->name,
                                                  c->info->group, c->res->resource));
      return;
    }
  {
    g_autofree char *text = g_strdup_printf ("the cloud did not apply the request (status %s): %s",
                                             status ? status : "none",
                                             reason && *reason ? reason : "no reason given");
    ms_respond_status (msg, 500, "InternalError", text);
  }
}

/* The cloud's reply (or the bus's error) arrived. */
static void
on_cloud_reply (EcMessage *reply, const GError *error, gpointer data)
{
  WriteCall *c = data;
  JsonNode *content = NULL;   /* borrowed from the reply */
  g_autoptr (GError) parse_error = NULL;
  g_autofree char *text = NULL;
  guint code;

  if (c->ms->stopped || c->finished)
    return;
  if (ms_cloud_failed (reply, error, &code, &text))
    ms_respond_status (c->msg, code, NULL, text);
  else if (!(content = ec_message_get_content_node (reply, &parse_error))
           || !JSON_NODE_HOLDS_OBJECT (content))
    ms_respond_status (c->msg, 502, "InternalError",
                       "the cloud's answer is not an Application object");
  else
    answer_from_application (c, json_node_get_object (content));
  soup_server_message_unpause (c->msg);
}

static gboolean
is_patch_type (const char *type)
{
  return g_strcmp0 (type, "application/json-patch+json") == 0
         || g_strcmp0 (type, "application/merge-patch+json") == 0
         || g_strcmp0 (type, "application/strategic-merge-patch+json") == 0
         || g_strcmp0 (type, "application/apply-patch+yaml") == 0;
}

/**
 * ms_cloud_write:
 * Validates a write, then asks the cloud to do it; 503 while offline.
 * Takes *infop.
 */
void
ms_cloud_write (MetaServer *self, SoupServerMessage *msg, MsRequestInfo **infop,
                const MsResource *res, GHashTable *query)
{
  MsRequestInfo *info = *infop;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  g_autoptr (GBytes) body = soup_message_body_flatten (soup_server_message_get_request_body (msg));
  g_autofree char *content_type = NULL;
  g_autofree char *options = NULL;
  g_autofree char *option_text = NULL;
  g_autofree char *key = NULL;
  g_autoptr (GBytes) option = NULL;
  g_autoptr (GBytes) req_body = NULL;
  g_autoptr (JsonNode) app = NULL;
  gsize body_len = g_bytes_get_size (body);
  const char *verb = app_verb (info);
  WriteCall *c;

  {
    const char *ct = soup_message_headers_get_content_type (req, NULL);
    content_type = g_strdup (ct ? ct : "");
  }
  if (info->verb == MS_VERB_CREATE && info->name)
    {
      ms_respond_status (msg, 405, "MethodNotAllowed",
                         "create goes to the collection, not to a named object");
      return;
    }
  if ((info->verb == MS_VERB_UPDATE || info->verb == MS_VERB_PATCH) && !info->name)
    {
      ms_respond_status (msg, 405, "MethodNotAllowed", "update and patch need an object name");
      return;
    }
  if (info->subresource && strcmp (info->subresource, "status") != 0)
    {
      g_autofree char *m2 = g_strdup_printf ("subresource \"%s\" is not supported by metaserver",
                                             info->subresource);
      ms_respond_json (msg, 404, ms_status_json (404, "NotFound", m2, NULL, NULL, NULL));
      return;
    }
  if (info->verb == MS_VERB_PATCH && !is_patch_type (content_type))
    {
      g_autofree char *m2 = g_strdup_printf ("the body of a patch must be one of application/json-patch+json, "
                                             "application/merge-patch+json, application/strategic-merge-patch+json, "
                                             "application/apply-patch+yaml, not \"%s\"", content_type);
      ms_respond_status (msg, 415, "UnsupportedMediaType", m2);
      return;
    }
  if (info->verb == MS_VERB_CREATE || info->verb == MS_VERB_UPDATE
      || (info->verb == MS_VERB_PATCH && strcmp (content_type, "application/apply-patch+yaml") != 0)
      || (info->verb == MS_VERB_DELETE && body_len > 0))
    {
      g_autoptr (GError) error = NULL;
      const char *text = g_bytes_get_data (body, NULL);
      gboolean want_object = info->verb != MS_VERB_PATCH
                             || strcmp (content_type, "application/json-patch+json") != 0;
      gsize at = 0;
      if (body_len == 0)
        {
          ms_respond_status (msg, 400, "BadRequest", "the request has no body");
          return;
        }
      /* checked, not parsed: the body goes to the cloud as it came (a
       * \u0000 in it is kept, as the API server keeps it) */
      while (at < body_len && (text[at] == ' ' || text[at] == '\t' || text[at] == '\r' || text[at] == '\n'))
        at++;
      if (!ec_json_validate (text, body_len, 0, 0, &error)
          || text[at] != (want_object ? '{' : '['))
        {
          g_autofree char *m2 = g_strdup_printf ("the request body is not a JSON %s: %s",
                                                 want_object ? "object" : "array",
                                                 error ? error->message : "wrong type");
          ms_respond_status (msg, 400, "BadRequest", m2);
          return;
        }
    }
  if (!self->connected)
    {
      g_autofree char *m2 = g_strdup_printf (
          "the edge node is offline (the cloud is unreachable): metaserver sends %s of %s to the "
          "cloud and cannot do it now; try again when the node is connected", verb, res->resource);
      ms_respond_status (msg, 503, "ServiceUnavailable", m2);
      return;
    }

  key = ms_store_key (res->group, res->version, res->resource,
                      res->namespaced ? info->namespace : NULL, info->name ? info->name : "");
  if (info->verb == MS_VERB_PATCH)
    {
      options = write_options (query);
      option_text = patch_info (info, content_type, body, options);
    }
  else if (info->verb == MS_VERB_DELETE)
    option_text = body_len > 0 ? g_strndup (g_bytes_get_data (body, NULL), body_len) : g_strdup ("{}");
  else
    {
      option_text = write_options (query);
      req_body = g_bytes_ref (body);
    }
  option = g_bytes_new (option_text, strlen (option_text));
  app = ms_cloud_application (self, key, verb, info->subresource, option, req_body);

  c = g_new0 (WriteCall, 1);
  c->ms = ms_ref (self);
  c->msg = g_object_ref (msg);
  c->info = g_steal_pointer (infop);
  c->res = res;
  c->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_write_finished), c);
  self->pending++;
  soup_server_message_pause (msg);
  ms_cloud_call (self, app, on_cloud_reply, c, write_call_free);
}
