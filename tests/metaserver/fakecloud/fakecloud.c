/* fakecloud.c: a test plugin standing in for edgehub and the cloud's
 * dynamiccontroller (bus name "websocket", group "hub"). It answers
 * metaserver's Application requests like the cloud would:
 *   create/update: Approved, RespBody = the request body with the received
 *     Application (minus its bodies) in annotation fakecloud/application
 *   patch: Approved, RespBody = a Pod named after the patch, with the
 *     PatchInfo in that annotation
 *   delete: Approved, no RespBody
 * and by the object name in the Application's Key:
 *   ".../forbidden": Rejected with a 403 Forbidden Status
 *   ".../unreachable": an "error" reply "cloud unreachable" (edgehub offline)
 *   ".../slow": no answer at all (the caller's timeout)
 * Everything else is ignored. */
#include <edgecore.h>

#include <string.h>

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} FakeCloud;

static gboolean
fc_init (EcPluginContext *context, gpointer *state, GError **error)
{
  FakeCloud *self = g_new0 (FakeCloud, 1);
  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  *state = self;
  return TRUE;
}

static void
fc_free (gpointer state)
{
  g_free (state);
}

/* A copy of the Application without its byte fields, as JSON text. */
static char *
app_summary (JsonObject *app)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  JsonObjectIter it;
  const char *k;
  JsonNode *v;
  json_builder_begin_object (b);
  json_object_iter_init (&it, app);
  while (json_object_iter_next (&it, &k, &v))
    {
      if (strcmp (k, "ReqBody") == 0)
        continue;
      json_builder_set_member_name (b, k);
      json_builder_add_value (b, json_node_copy (v));
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

/* Decodes a base64 member into a parsed, mutable JSON tree. */
static JsonNode *
decode_member (JsonObject *app, const char *name)
{
  const char *b64 = json_object_get_string_member_with_default (app, name, NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autofree guchar *data = NULL;
  gsize len = 0;
  if (!b64)
    return NULL;
  data = g_base64_decode (b64, &len);
  if (!json_parser_load_from_data (p, (const char *) data, (gssize) len, NULL))
    return NULL;
  return json_parser_get_root (p) ? json_node_copy (json_parser_get_root (p)) : NULL;
}

static void
annotate (JsonObject *obj, const char *summary)
{
  JsonObject *meta;
  JsonObject *ann;
  if (!json_object_has_member (obj, "metadata"))
    json_object_set_object_member (obj, "metadata", json_object_new ());
  meta = json_object_get_object_member (obj, "metadata");
  if (!json_object_has_member (meta, "annotations"))
    json_object_set_object_member (meta, "annotations", json_object_new ());
  ann = json_object_get_object_member (meta, "annotations");
  json_object_set_string_member (ann, "fakecloud/application", summary);
}

static void
fc_handle (gpointer state, EcMessage *message)
{
  FakeCloud *self = state;
  JsonNode *content;
  JsonObject *app;
  const char *verb, *key;
  g_autofree char *summary = NULL;
  g_autoptr (JsonNode) resp = NULL;
  g_autoptr (JsonObject) out = NULL;
  g_autoptr (EcMessage) reply = NULL;
  g_autoptr (GError) error = NULL;

  if (g_strcmp0 (ec_message_get_source (message), "metaserver") != 0
      || g_strcmp0 (ec_message_get_group (message), "dynamiccontroller") != 0
      || !ec_message_get_sync (message))
    return;
  content = ec_message_get_content_node (message, NULL);
  if (!content || !JSON_NODE_HOLDS_OBJECT (content))
    return;
  app = json_node_get_object (content);
  verb = json_object_get_string_member_with_default (app, "Verb", "");
  key = json_object_get_string_member_with_default (app, "Key", "");
  ec_log_message (self->context, "application %s %s", verb, key);
  if (g_str_has_suffix (key, "/slow"))
    return;
  if (g_str_has_suffix (key, "/unreachable"))
    {
      reply = ec_message_new_error (message, "cloud unreachable");
      ec_message_set_source (reply, "websocket");
      ec_endpoint_respond (self->endpoint, reply, &error);
      return;
    }
  summary = app_summary (app);
  out = json_object_new ();
  json_object_set_string_member (out, "ID", json_object_get_string_member_with_default (app, "ID", ""));
  json_object_set_string_member (out, "Key", key);
  json_object_set_string_member (out, "Verb", verb);
  json_object_set_string_member (out, "Nodename", json_object_get_string_member_with_default (app, "Nodename", ""));
  json_object_set_string_member (out, "Reason", "");
  json_object_set_string_member (out, "Subresource", "");
  json_object_set_null_member (out, "ReqBody");
  json_object_set_null_member (out, "Option");
  if (g_str_has_suffix (key, "/forbidden"))
    {
      JsonObject *err = json_object_new ();
      JsonObject *st = json_object_new ();
      json_object_set_string_member (st, "kind", "Status");
      json_object_set_string_member (st, "apiVersion", "v1");
      json_object_set_string_member (st, "status", "Failure");
      json_object_set_string_member (st, "message", "fakecloud forbids this");
      json_object_set_string_member (st, "reason", "Forbidden");
      json_object_set_int_member (st, "code", 403);
      json_object_set_object_member (err, "ErrStatus", st);
      json_object_set_object_member (out, "Error", err);
      json_object_set_string_member (out, "Status", "Rejected");
      json_object_set_null_member (out, "RespBody");
    }
  else
    {
      g_autoptr (JsonNode) body = NULL;
      if (strcmp (verb, "create") == 0 || strcmp (verb, "update") == 0 || strcmp (verb, "updatestatus") == 0)
        body = decode_member (app, "ReqBody");
      else if (strcmp (verb, "patch") == 0)
        {
          g_autoptr (JsonNode) info = decode_member (app, "Option");
          JsonObject *pod = json_object_new ();
          JsonObject *meta = json_object_new ();
          json_object_set_string_member (pod, "apiVersion", "v1");
          json_object_set_string_member (pod, "kind", "Pod");
          if (info && JSON_NODE_HOLDS_OBJECT (info))
            json_object_set_string_member (meta, "name",
                                           json_object_get_string_member_with_default (json_node_get_object (info), "Name", ""));
          json_object_set_object_member (pod, "metadata", meta);
          body = json_node_init_object (json_node_alloc (), pod);
          json_object_unref (pod);
          g_free (summary);
          summary = info ? json_to_string (info, FALSE) : g_strdup ("{}");
        }
      if (body && JSON_NODE_HOLDS_OBJECT (body))
        {
          g_autofree char *text = NULL;
          g_autofree char *b64 = NULL;
          annotate (json_node_get_object (body), summary);
          text = json_to_string (body, FALSE);
          b64 = g_base64_encode ((const guchar *) text, strlen (text));
          json_object_set_string_member (out, "RespBody", b64);
        }
      else
        json_object_set_null_member (out, "RespBody");
      json_object_set_string_member (out, "Status", "Approved");
    }
  resp = json_node_init_object (json_node_alloc (), out);
  reply = ec_message_new ("dynamiccontroller", "resource", "applicationResponse",
                          "ignore/Application/ignore");
  ec_message_set_parent_id (reply, ec_message_get_id (message));
  ec_message_set_content_node (reply, resp);
  if (!ec_endpoint_respond (self->endpoint, reply, &error))
    ec_log_warning (self->context, "reply not delivered: %s", error->message);
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "fakecloud",
  .version = "1.0",
  .summary = "test stand-in for edgehub and the cloud's dynamiccontroller",
  .bus_name = "websocket",
  .bus_group = "hub",
  .init = fc_init,
  .free = fc_free,
  .handle_message = fc_handle,
};
