/* ec-message.c: KubeEdge's model.Message, its constructors and accessors. */
#include "config.h"

#include "ec-message-private.h"

#include <string.h>

G_DEFINE_BOXED_TYPE (EcMessage, ec_message, ec_message_ref, ec_message_unref)
G_DEFINE_QUARK (ec-message-error-quark, ec_message_error)
G_DEFINE_ENUM_TYPE (EcMessageError, ec_message_error,
                    G_DEFINE_ENUM_VALUE (EC_MESSAGE_ERROR_INVALID_JSON, "invalid-json"),
                    G_DEFINE_ENUM_VALUE (EC_MESSAGE_ERROR_INVALID_FIELD, "invalid-field"))

static char null_content[] = "null";

/* A fast, thread-local generator for message ids. Ids must be unique, not
 * secret, so a seeded xorshift is enough and avoids GLib's global lock. */
static __thread guint64 uuid_state[2];

static guint64
uuid_next (void)
{
  guint64 s1 = uuid_state[0];
  const guint64 s0 = uuid_state[1];
  uuid_state[0] = s0;
  s1 ^= s1 << 23;
  uuid_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  return uuid_state[1] + s0;
}

static void
uuid_format (char out[37])
{
  static const char hex[] = "0123456789abcdef";
  guint8 b[16];
  guint64 a, c;

  if (G_UNLIKELY (uuid_state[0] == 0 && uuid_state[1] == 0))
    {
      uuid_state[0] = ((guint64) g_random_int () << 32) | g_random_int ();
      uuid_state[1] = ((guint64) g_random_int () << 32) | g_random_int () | 1;
    }
  a = uuid_next ();
  c = uuid_next ();
  memcpy (b, &a, 8);
  memcpy (b + 8, &c, 8);
  b[6] = (b[6] & 0x0f) | 0x40;  /* version 4 */
  b[8] = (b[8] & 0x3f) | 0x80;  /* RFC 4122 variant */
  for (int i = 0, o = 0; i < 16; i++)
    {
      if (i == 4 || i == 6 || i == 8 || i == 10)
        out[o++] = '-';
      out[o++] = hex[b[i] >> 4];
      out[o++] = hex[b[i] & 0xf];
    }
  out[36] = '\0';
}

/**
 * ec_new_uuid:
 *
 * Makes a random (version 4) UUID in KubeEdge's form: 36 lower-case
 * characters.
 *
 * Returns: (transfer full): the UUID
 */
char *
ec_new_uuid (void)
{
  char buf[37];
  uuid_format (buf);
  return g_strdup (buf);
}

/* A message with no id, time 0 and `null` content. */
EcMessage *
_ec_message_alloc (void)
{
  EcMessage *m = g_new0 (EcMessage, 1);
  m->ref_count = 1;
  m->content = null_content;
  m->content_len = 4;
  return m;
}

/* Whether p points into the message's arena (and so is not freed alone). */
static inline gboolean
in_arena (const EcMessage *m, const char *p)
{
  return p >= m->arena && p < m->arena + sizeof m->arena;
}

static inline void
field_free (EcMessage *m, char *p)
{
  if (!in_arena (m, p))
    g_free (p);
}

/* Sets a string field: short values go into the arena (most messages carry
 * a handful of short route strings, and this saves a malloc/free each). */
static void
set_str (EcMessage *m, char **field, const char *value)
{
  char *old = *field;
  gsize len;
  if (old == value)
    return;
  /* copy first: value may point into the old string */
  if (!value || !*value)
    *field = NULL;
  else if ((len = strlen (value) + 1) <= sizeof m->arena - m->arena_used)
    {
      *field = memcpy (m->arena + m->arena_used, value, len);
      m->arena_used += (guint) len;
    }
  else
    *field = g_memdup2 (value, len);
  field_free (m, old);
}

static void
set_id (EcMessage *m, const char *id)
{
  if (m->msg_id != m->id_buf)
    g_free (m->msg_id);
  if (id && strlen (id) < sizeof m->id_buf)
    {
      strcpy (m->id_buf, id);
      m->msg_id = m->id_buf;
    }
  else
    m->msg_id = g_strdup (id ? id : "");
}

/* Replaces the content with owned text (NULL means `null`). */
void
_ec_message_take_content (EcMessage *m, char *owned, gsize len)
{
  JsonNode *node;
  if (m->content != null_content)
    g_free (m->content);
  m->content = owned ? owned : null_content;
  m->content_len = owned ? len : 4;
  node = g_atomic_pointer_exchange (&m->content_node, NULL);
  if (node)
    json_node_unref (node);
}

/**
 * ec_message_new:
 * @source: (nullable): the sending module (route.source)
 * @group: (nullable): the target group (route.group)
 * @operation: (nullable): the verb (route.operation)
 * @resource: (nullable): the resource path (route.resource)
 *
 * Creates a message with a fresh id, the current time and `null` content.
 *
 * Returns: (transfer full): the message
 */
EcMessage *
ec_message_new (const char *source, const char *group, const char *operation,
                const char *resource)
{
  EcMessage *m = _ec_message_alloc ();
  uuid_format (m->id_buf);
  m->msg_id = m->id_buf;
  m->timestamp = g_get_real_time () / 1000;
  set_str (m, &m->source, source);
  set_str (m, &m->group, group);
  set_str (m, &m->operation, operation);
  set_str (m, &m->resource, resource);
  return m;
}

/**
 * ec_message_new_response:
 * @request: the message answered
 * @content_json: (nullable): the reply's content as JSON text, or %NULL for `null`
 *
 * Builds the reply to @request as KubeEdge's NewRespByMessage does: a new
 * id, `parent_msg_id` = the request's id, the request's source, group,
 * resource and type, and operation `response`.
 *
 * Returns: (transfer full): the reply
 */
EcMessage *
ec_message_new_response (EcMessage *request, const char *content_json)
{
  EcMessage *m;
  g_return_val_if_fail (request != NULL, NULL);
  m = ec_message_new (request->source, request->group, EC_OP_RESPONSE, request->resource);
  set_str (m, &m->parent_msg_id, request->msg_id);
  set_str (m, &m->type, request->type);
  if (content_json)
    {
      g_autoptr (GError) error = NULL;
      if (!ec_message_set_content_json (m, content_json, -1, &error))
        g_critical ("ec_message_new_response: %s", error->message);
    }
  return m;
}

/**
 * ec_message_new_error:
 * @request: the message that failed
 * @text: what went wrong
 *
 * Builds an error reply as KubeEdge's NewErrorMessage does: a new id,
 * `parent_msg_id` = the request's id, the request's resource and group,
 * operation `error` and the text as a JSON string. The caller sets the
 * source.
 *
 * Returns: (transfer full): the error reply
 */
EcMessage *
ec_message_new_error (EcMessage *request, const char *text)
{
  EcMessage *m;
  g_return_val_if_fail (request != NULL, NULL);
  m = ec_message_new (NULL, request->group, EC_OP_ERROR, request->resource);
  set_str (m, &m->parent_msg_id, request->msg_id);
  ec_message_set_content_string (m, text);
  return m;
}

/**
 * ec_message_copy:
 * @message: a message
 *
 * Copies a message, id included. The copy is not frozen.
 *
 * Returns: (transfer full): the copy
 */
EcMessage *
ec_message_copy (EcMessage *message)
{
  EcMessage *m;
  g_return_val_if_fail (message != NULL, NULL);
  m = _ec_message_alloc ();
  set_id (m, message->msg_id);
  m->timestamp = message->timestamp;
  m->sync = message->sync;
  set_str (m, &m->parent_msg_id, message->parent_msg_id);
  set_str (m, &m->resource_version, message->resource_version);
  set_str (m, &m->type, message->type);
  set_str (m, &m->source, message->source);
  set_str (m, &m->destination, message->destination);
  set_str (m, &m->group, message->group);
  set_str (m, &m->operation, message->operation);
  set_str (m, &m->resource, message->resource);
  if (message->content != null_content)
    _ec_message_take_content (m, g_memdup2 (message->content, message->content_len + 1), message->content_len);
  return m;
}

/**
 * ec_message_ref:
 * @message: a message
 *
 * Takes a reference. Thread-safe.
 *
 * Returns: (transfer full): @message
 */
EcMessage *
ec_message_ref (EcMessage *message)
{
  g_return_val_if_fail (message != NULL, NULL);
  g_atomic_int_inc (&message->ref_count);
  return message;
}

/**
 * ec_message_unref:
 * @message: (transfer full): a message
 *
 * Drops a reference; the last one frees the message. Thread-safe.
 */
void
ec_message_unref (EcMessage *message)
{
  g_return_if_fail (message != NULL);
  if (!g_atomic_int_dec_and_test (&message->ref_count))
    return;
  if (message->msg_id != message->id_buf)
    g_free (message->msg_id);
  field_free (message, message->parent_msg_id);
  field_free (message, message->resource_version);
  field_free (message, message->type);
  field_free (message, message->source);
  field_free (message, message->destination);
  field_free (message, message->group);
  field_free (message, message->operation);
  field_free (message, message->resource);
  _ec_message_take_content (message, NULL, 0);
  g_free (message);
}

/**
 * ec_message_freeze:
 * @message: a message
 *
 * Makes the message read-only. The bus does this when the message is first
 * sent, because every receiver then shares it.
 */
void
ec_message_freeze (EcMessage *message)
{
  g_return_if_fail (message != NULL);
  message->frozen = TRUE;
}

/**
 * ec_message_is_frozen:
 * @message: a message
 *
 * Returns: whether the message is read-only
 */
gboolean
ec_message_is_frozen (EcMessage *message)
{
  g_return_val_if_fail (message != NULL, FALSE);
  return message->frozen;
}

#define CHECK_MUTABLE(m)                                                  \
  G_STMT_START {                                                          \
    g_return_if_fail ((m) != NULL);                                       \
    if (G_UNLIKELY ((m)->frozen))                                         \
      {                                                                   \
        g_critical ("%s: message %s was sent and is frozen; copy it first", \
                    G_STRFUNC, (m)->msg_id);                              \
        return;                                                           \
      }                                                                   \
  } G_STMT_END

#define STRING_FIELD(field, getter, setter, doc_name)                     \
  const char *getter (EcMessage *message)                                 \
  {                                                                       \
    g_return_val_if_fail (message != NULL, NULL);                         \
    return message->field ? message->field : "";                          \
  }                                                                       \
  void setter (EcMessage *message, const char *value)                     \
  {                                                                       \
    CHECK_MUTABLE (message);                                              \
    set_str (message, &message->field, value);                                     \
  }

/**
 * ec_message_get_id:
 * @message: a message
 *
 * Returns: header.msg_id
 */
const char *
ec_message_get_id (EcMessage *message)
{
  g_return_val_if_fail (message != NULL, NULL);
  return message->msg_id;
}

/**
 * ec_message_set_id:
 * @message: a message
 * @msg_id: the new header.msg_id
 *
 * Sets header.msg_id.
 */
void
ec_message_set_id (EcMessage *message, const char *msg_id)
{
  CHECK_MUTABLE (message);
  set_id (message, msg_id);
}

/**
 * ec_message_get_parent_id:
 * @message: a message
 *
 * Returns: header.parent_msg_id, `""` when unset
 */
/**
 * ec_message_set_parent_id:
 * @message: a message
 * @parent_id: (nullable): the id of the message this one answers
 *
 * Sets header.parent_msg_id.
 */
STRING_FIELD (parent_msg_id, ec_message_get_parent_id, ec_message_set_parent_id, "parent_msg_id")

/**
 * ec_message_get_resource_version:
 * @message: a message
 *
 * Returns: header.resourceversion, `""` when unset
 */
/**
 * ec_message_set_resource_version:
 * @message: a message
 * @resource_version: (nullable): the object's resourceVersion
 *
 * Sets header.resourceversion.
 */
STRING_FIELD (resource_version, ec_message_get_resource_version, ec_message_set_resource_version, "resourceversion")

/**
 * ec_message_get_message_type:
 * @message: a message
 *
 * Returns: header.type, `""` when unset
 */
/**
 * ec_message_set_message_type:
 * @message: a message
 * @type: (nullable): the beehive context type
 *
 * Sets header.type.
 */
STRING_FIELD (type, ec_message_get_message_type, ec_message_set_message_type, "type")

/**
 * ec_message_get_source:
 * @message: a message
 *
 * Returns: route.source, `""` when unset
 */
/**
 * ec_message_set_source:
 * @message: a message
 * @source: (nullable): the sending module
 *
 * Sets route.source.
 */
STRING_FIELD (source, ec_message_get_source, ec_message_set_source, "source")

/**
 * ec_message_get_destination:
 * @message: a message
 *
 * Returns: route.destination, `""` when unset
 */
/**
 * ec_message_set_destination:
 * @message: a message
 * @destination: (nullable): the destination module
 *
 * Sets route.destination.
 */
STRING_FIELD (destination, ec_message_get_destination, ec_message_set_destination, "destination")

/**
 * ec_message_get_group:
 * @message: a message
 *
 * Returns: route.group, `""` when unset
 */
/**
 * ec_message_set_group:
 * @message: a message
 * @group: (nullable): the target group
 *
 * Sets route.group.
 */
STRING_FIELD (group, ec_message_get_group, ec_message_set_group, "group")

/**
 * ec_message_get_operation:
 * @message: a message
 *
 * Returns: route.operation, `""` when unset
 */
/**
 * ec_message_set_operation:
 * @message: a message
 * @operation: (nullable): the verb
 *
 * Sets route.operation.
 */
STRING_FIELD (operation, ec_message_get_operation, ec_message_set_operation, "operation")

/**
 * ec_message_get_resource:
 * @message: a message
 *
 * Returns: route.resource, `""` when unset
 */
/**
 * ec_message_set_resource:
 * @message: a message
 * @resource: (nullable): the resource path
 *
 * Sets route.resource.
 */
STRING_FIELD (resource, ec_message_get_resource, ec_message_set_resource, "resource")

/**
 * ec_message_get_timestamp:
 * @message: a message
 *
 * Returns: header.timestamp, milliseconds since the Unix epoch
 */
gint64
ec_message_get_timestamp (EcMessage *message)
{
  g_return_val_if_fail (message != NULL, 0);
  return message->timestamp;
}

/**
 * ec_message_set_timestamp:
 * @message: a message
 * @timestamp_ms: milliseconds since the Unix epoch
 *
 * Sets header.timestamp.
 */
void
ec_message_set_timestamp (EcMessage *message, gint64 timestamp_ms)
{
  CHECK_MUTABLE (message);
  message->timestamp = timestamp_ms;
}

/**
 * ec_message_get_sync:
 * @message: a message
 *
 * Returns: header.sync
 */
gboolean
ec_message_get_sync (EcMessage *message)
{
  g_return_val_if_fail (message != NULL, FALSE);
  return message->sync;
}

/**
 * ec_message_set_sync:
 * @message: a message
 * @sync: whether a sync call waits for the reply
 *
 * Sets header.sync.
 */
void
ec_message_set_sync (EcMessage *message, gboolean sync)
{
  CHECK_MUTABLE (message);
  message->sync = !!sync;
}

/**
 * ec_message_get_content_json:
 * @message: a message
 * @length: (out) (optional): the text's length in bytes
 *
 * Gives the content exactly as its JSON text, without parsing it.
 *
 * Returns: (transfer none): the content's JSON text; `null` when unset
 */
const char *
ec_message_get_content_json (EcMessage *message, gsize *length)
{
  g_return_val_if_fail (message != NULL, NULL);
  if (length)
    *length = message->content_len;
  return message->content;
}

/**
 * ec_message_set_content_json:
 * @message: a message
 * @json: the content as JSON text
 * @length: its length, or -1 when NUL-terminated
 * @error: where to put an error
 *
 * Sets the content to a JSON value, checking that it is one. The text is
 * kept as given.
 *
 * Returns: %TRUE if @json is one valid JSON value
 */
gboolean
ec_message_set_content_json (EcMessage *message, const char *json, gssize length,
                             GError **error)
{
  const char *end, *after;
  gsize len;
  g_return_val_if_fail (message != NULL, FALSE);
  g_return_val_if_fail (json != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  if (message->frozen)
    {
      g_set_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_FIELD,
                   "message %s was sent and is frozen", message->msg_id);
      return FALSE;
    }
  len = length < 0 ? strlen (json) : (gsize) length;
  end = json + len;
  after = _ec_json_skip_value (json, end, json, error);
  if (!after)
    return FALSE;
  if (_ec_json_skip_ws (after, end) != end)
    {
      g_set_error (error, EC_MESSAGE_ERROR, EC_MESSAGE_ERROR_INVALID_JSON,
                   "invalid JSON at byte %" G_GSIZE_FORMAT ": text after the value",
                   (gsize) (after - json));
      return FALSE;
    }
  _ec_message_take_content (message, g_strndup (json, len), len);
  return TRUE;
}

/**
 * ec_message_set_content_string:
 * @message: a message
 * @text: (nullable): a string, or %NULL for `null` content
 *
 * Sets the content to a JSON string, e.g. `"OK"` for an acknowledgement.
 */
void
ec_message_set_content_string (EcMessage *message, const char *text)
{
  GString *s;
  CHECK_MUTABLE (message);
  if (!text)
    {
      _ec_message_take_content (message, NULL, 0);
      return;
    }
  s = g_string_sized_new (strlen (text) + 2);
  ec_json_append_string (s, text);
  _ec_message_take_content (message, s->str, s->len);
  g_string_free (s, FALSE);
}

/**
 * ec_message_dup_content_string:
 * @message: a message
 *
 * Gives the content as text the way KubeEdge's GetContentData does: the
 * string itself when the content is a JSON string (many KubeEdge payloads
 * are JSON documents inside a string), otherwise the content's JSON text.
 * A string holding `\u0000`, which C text cannot hold, also comes back as
 * its JSON text (docs/json.md).
 *
 * Returns: (transfer full): the text
 */
char *
ec_message_dup_content_string (EcMessage *message)
{
  const char *p;
  char *out = NULL;
  g_return_val_if_fail (message != NULL, NULL);
  p = _ec_json_skip_ws (message->content, message->content + message->content_len);
  if (*p == '"' && _ec_json_parse_string (&p, message->content + message->content_len,
                                          message->content, &out, NULL))
    return out;
  return g_strndup (message->content, message->content_len);
}

/**
 * ec_message_get_content_node:
 * @message: a message
 * @error: where to put an error
 *
 * Parses the content on first use with ec_json_parse() and keeps the
 * result. The node belongs to the message and must not be changed. The
 * content's size was bounded by whoever decoded the message; content with
 * a `\u0000` in a string cannot be a tree (%EC_JSON_ERROR_NUL).
 *
 * Returns: (transfer none) (nullable): the content, or %NULL on error
 */
JsonNode *
ec_message_get_content_node (EcMessage *message, GError **error)
{
  JsonNode *node;
  g_return_val_if_fail (message != NULL, NULL);
  node = g_atomic_pointer_get (&message->content_node);
  if (node)
    return node;
  node = ec_json_parse (message->content, message->content_len, 0, G_MAXSIZE, error);
  if (!node)
    return NULL;
  json_node_seal (node);
  if (!g_atomic_pointer_compare_and_exchange (&message->content_node, NULL, node))
    {
      json_node_unref (node);
      node = g_atomic_pointer_get (&message->content_node);
    }
  return node;
}

/**
 * ec_message_set_content_node:
 * @message: a message
 * @node: (nullable): the content, or %NULL for `null`
 *
 * Sets the content from a JSON tree, which is serialised at once.
 */
void
ec_message_set_content_node (EcMessage *message, JsonNode *node)
{
  char *text;
  CHECK_MUTABLE (message);
  if (!node)
    {
      _ec_message_take_content (message, NULL, 0);
      return;
    }
  text = ec_json_to_string (node, FALSE);
  _ec_message_take_content (message, text, strlen (text));
}

/**
 * ec_message_new_cloud_state:
 * @connected: whether the cloud is reachable
 *
 * Builds edgehub's connection news as KubeEdge does: source `edgehub`,
 * group `meta`, operation `connect`, resource `node/connection`, content
 * `"cloud_connected"` or `"cloud_disconnected"`.
 *
 * Returns: (transfer full): the message
 */
EcMessage *
ec_message_new_cloud_state (gboolean connected)
{
  EcMessage *m = ec_message_new ("edgehub", "meta", EC_OP_CONNECT, "node/connection");
  ec_message_set_content_string (m, connected ? "cloud_connected" : "cloud_disconnected");
  return m;
}

/**
 * ec_message_get_cloud_state:
 * @message: a message
 *
 * Reads edgehub's connection news.
 *
 * Returns: what @message says about the cloud, or %EC_CLOUD_STATE_NONE if
 *   it is not connection news
 */
EcCloudState
ec_message_get_cloud_state (EcMessage *message)
{
  g_autofree char *state = NULL;
  g_return_val_if_fail (message != NULL, EC_CLOUD_STATE_NONE);
  if (g_strcmp0 (message->operation, EC_OP_CONNECT) != 0
      || g_strcmp0 (message->resource, "node/connection") != 0)
    return EC_CLOUD_STATE_NONE;
  state = ec_message_dup_content_string (message);
  if (strcmp (state, "cloud_connected") == 0)
    return EC_CLOUD_STATE_CONNECTED;
  if (strcmp (state, "cloud_disconnected") == 0)
    return EC_CLOUD_STATE_DISCONNECTED;
  return EC_CLOUD_STATE_INVALID;
}
