/* es-proto.c: uvarints, the connector and the local HTTP
 * answer's body (see es-proto.h). */
#include "es-proto.h"

#include <edgecore.h>
#include <gio/gio.h>
#include <string.h>

#define CONNECTOR_MAX_SIZE  (1024 * 1024)
#define CONNECTOR_MAX_DEPTH 16
#define HTTP_HEAD_MAX       (16 * 1024)
#define HTTP_LINE_MAX       1024

enum { PH_HEAD, PH_BODY, PH_CHUNK_SIZE, PH_CHUNK_DATA, PH_CHUNK_END, PH_TRAILER, PH_DONE };

/* A name for a message type. */
const char *
es_msg_type_name (guint64 type)
{
  static const char *const names[] = { "LOGS_CONNECT", "EXEC_CONNECT", "METRIC_CONNECT", "DATA",
                                       "REMOVE_CONNECT", "CLOSE_CONNECT", "ATTACH_CONNECT" };
  return type < G_N_ELEMENTS (names) ? names[type] : "UNKNOWN";
}

/* Appends a uvarint. */
void
es_uvarint_append (GByteArray *out, guint64 v)
{
  guint8 b;
  while (v >= 0x80)
    {
      b = (guint8) (v | 0x80);
      g_byte_array_append (out, &b, 1);
      v >>= 7;
    }
  b = (guint8) v;
  g_byte_array_append (out, &b, 1);
}

/* Reads a uvarint (Go's binary.Uvarint rules: at most 10 bytes, the 10th
 * at most 1). */
gboolean
es_uvarint_read (const guint8 *buf, gsize len, gsize *pos, guint64 *v)
{
  guint64 x = 0;
  guint shift = 0;
  for (gsize i = *pos, n = 0; i < len && n < 10; i++, n++)
    {
      guint8 b = buf[i];
      if (b < 0x80)
        {
          if (n == 9 && b > 1)
            return FALSE;
          *v = x | (guint64) b << shift;
          *pos = i + 1;
          return TRUE;
        }
      x |= (guint64) (b & 0x7f) << shift;
      shift += 7;
    }
  return FALSE;
}

/* Splits a tunnel message. */
gboolean
es_message_parse (const guint8 *buf, gsize len, guint64 *id, guint64 *type,
                  const guint8 **data, gsize *data_len, GError **error)
{
  gsize pos = 0;
  if (!es_uvarint_read (buf, len, &pos, id))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "malformed tunnel message: no valid ConnectID uvarint in its %" G_GSIZE_FORMAT " byte(s)", len);
      return FALSE;
    }
  if (!es_uvarint_read (buf, len, &pos, type))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "malformed tunnel message for ConnectID %" G_GUINT64_FORMAT ": no valid MessageType uvarint", *id);
      return FALSE;
    }
  *data = buf + pos;
  *data_len = len - pos;
  return TRUE;
}

/* Frees a connector. */
void
es_connector_free (EsConnector *c)
{
  if (!c)
    return;
  g_free (c->scheme);
  g_free (c->host);
  g_free (c->path);
  g_free (c->raw_query);
  g_free (c->method);
  if (c->headers)
    g_ptr_array_unref (c->headers);
  g_free (c);
}

/* A string member, or NULL when missing or not a string. */
static const char *
member_string (JsonObject *o, const char *name)
{
  JsonNode *n = o ? json_object_get_member (o, name) : NULL;
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

/* TRUE when text holds no byte that would end or split a header line. */
static gboolean
header_safe (const char *text, gboolean name)
{
  for (const char *p = text; *p; p++)
    if (*p == '\r' || *p == '\n' || (name && (*p == ':' || *p == ' ' || *p == '\t')))
      return FALSE;
  return !name || *text;
}

/* TRUE for host:port with a loopback address (or localhost). */
static gboolean
loopback_hostport (const char *hostport)
{
  g_autofree char *host = NULL;
  guint16 port = 0;
  g_autoptr (GInetAddress) addr = NULL;
  g_autoptr (GSocketConnectable) c = g_network_address_parse (hostport, 0, NULL);
  if (!c)
    return FALSE;
  host = g_strdup (g_network_address_get_hostname (G_NETWORK_ADDRESS (c)));
  port = g_network_address_get_port (G_NETWORK_ADDRESS (c));
  if (port == 0)
    return FALSE;
  if (g_ascii_strcasecmp (host, "localhost") == 0)
    return TRUE;
  addr = g_inet_address_new_from_string (host);
  return addr && g_inet_address_get_is_loopback (addr);
}

/* Parses and checks a connector. */
EsConnector *
es_connector_parse (const guint8 *data, gsize len, GError **error)
{
  g_autoptr (JsonNode) root = ec_json_parse ((const char *) data, len, CONNECTOR_MAX_DEPTH, CONNECTOR_MAX_SIZE,
                                             error);
  g_autoptr (EsConnector) c = NULL;
  JsonObject *o, *url, *headers;
  JsonNode *id, *m;
  const char *s;

  if (!root)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "connector is not a JSON object");
      return NULL;
    }
  o = json_node_get_object (root);
  c = g_new0 (EsConnector, 1);
  c->headers = g_ptr_array_new_with_free_func (g_free);
  id = json_object_get_member (o, "MessID");
  if (id && JSON_NODE_HOLDS_VALUE (id) && json_node_get_value_type (id) == G_TYPE_INT64)
    c->mess_id = (guint64) json_node_get_int (id);
  m = json_object_get_member (o, "url");
  url = m && JSON_NODE_HOLDS_OBJECT (m) ? json_node_get_object (m) : NULL;
  if (!url)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "connector has no url object");
      return NULL;
    }
  c->scheme = g_strdup (member_string (url, "Scheme"));
  c->host = g_strdup (member_string (url, "Host"));
  s = member_string (url, "RawPath");
  c->path = g_strdup (s && *s ? s : member_string (url, "Path"));
  c->raw_query = g_strdup (member_string (url, "RawQuery"));
  if (g_strcmp0 (c->scheme, "http") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "connector url scheme is \"%s\", not http",
                   c->scheme ? c->scheme : "");
      return NULL;
    }
  if (!c->host || !header_safe (c->host, FALSE) || !loopback_hostport (c->host))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "connector url host \"%s\" is not a loopback "
                   "host:port (the cloud always names the node's local endpoint)", c->host ? c->host : "");
      return NULL;
    }
  if (!c->path || c->path[0] != '/' || strpbrk (c->path, " \r\n?#")
      || (c->raw_query && strpbrk (c->raw_query, " \r\n#")))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "connector url path \"%s\" is not an absolute "
                   "path", c->path ? c->path : "");
      return NULL;
    }
  s = member_string (o, "method");
  if (s && *s)
    {
      for (const char *p = s; *p; p++)
        if (!g_ascii_isupper (*p))
          {
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "connector method \"%s\" is not an HTTP method", s);
            return NULL;
          }
      c->method = g_strdup (s);
    }
  m = json_object_get_member (o, "header");
  headers = m && JSON_NODE_HOLDS_OBJECT (m) ? json_node_get_object (m) : NULL;
  if (headers)
    {
      g_autoptr (GList) names = json_object_get_members (headers);
      for (GList *l = names; l; l = l->next)
        {
          JsonNode *v = json_object_get_member (headers, l->data);
          if (!header_safe (l->data, TRUE) || g_ascii_strcasecmp (l->data, "Host") == 0
              || !JSON_NODE_HOLDS_ARRAY (v))
            continue;
          for (guint i = 0; i < json_array_get_length (json_node_get_array (v)); i++)
            {
              JsonNode *e = json_array_get_element (json_node_get_array (v), i);
              if (JSON_NODE_HOLDS_VALUE (e) && json_node_get_value_type (e) == G_TYPE_STRING
                  && header_safe (json_node_get_string (e), FALSE))
                g_ptr_array_add (c->headers, g_strdup_printf ("%s: %s", (const char *) l->data,
                                                              json_node_get_string (e)));
            }
        }
    }
  return g_steal_pointer (&c);
}

/* The request head for the local endpoint. */
char *
es_connector_request (const EsConnector *c, const char *method, const char *extra)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "%s %s%s%s HTTP/1.1\r\nHost: %s\r\n", method, c->path,
                          c->raw_query && *c->raw_query ? "?" : "", c->raw_query ? c->raw_query : "", c->host);
  for (guint i = 0; i < c->headers->len; i++)
    g_string_append_printf (s, "%s\r\n", (const char *) c->headers->pdata[i]);
  if (extra)
    g_string_append (s, extra);
  g_string_append (s, "\r\n");
  return g_string_free (s, FALSE);
}

/* Starts a reader. */
void
es_http_body_init (EsHttpBody *b)
{
  memset (b, 0, sizeof *b);
  b->head = g_byte_array_new ();
  b->line = g_string_new (NULL);
}

/* Frees what a reader holds. */
void
es_http_body_clear (EsHttpBody *b)
{
  if (b->head)
    g_byte_array_unref (b->head);
  if (b->line)
    g_string_free (b->line, TRUE);
  b->head = NULL;
  b->line = NULL;
}

/* Reads the head once complete: status, framing. */
static gboolean
parse_head (EsHttpBody *b, GError **error)
{
  g_autofree char *text = g_strndup ((const char *) b->head->data, b->head->len);
  g_auto (GStrv) lines = g_strsplit (text, "\r\n", -1);
  guint64 status = 0;
  char code[4] = "";
  b->remaining = -1;
  if (lines[0] && strlen (lines[0]) >= 12)
    memcpy (code, lines[0] + 9, 3);
  if (!lines[0] || !g_str_has_prefix (lines[0], "HTTP/1.")
      || !g_ascii_string_to_unsigned (code, 10, 100, 599, &status, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the local endpoint's answer is not HTTP/1.x");
      return FALSE;
    }
  b->status = (guint) status;
  for (guint i = 1; lines[i]; i++)
    {
      char *colon = strchr (lines[i], ':');
      if (!colon)
        continue;
      *colon = '\0';
      g_strstrip (colon + 1);
      if (g_ascii_strcasecmp (lines[i], "Transfer-Encoding") == 0 && g_ascii_strcasecmp (colon + 1, "chunked") == 0)
        b->chunked = TRUE;
      else if (g_ascii_strcasecmp (lines[i], "Content-Length") == 0)
        {
          guint64 n;
          if (!g_ascii_string_to_unsigned (colon + 1, 10, 0, G_MAXINT64, &n, NULL))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the local endpoint's Content-Length is bad");
              return FALSE;
            }
          b->remaining = (gint64) n;
        }
    }
  if (b->chunked)
    b->phase = PH_CHUNK_SIZE;
  else if (b->remaining == 0 || status == 204 || status == 304)
    b->phase = PH_DONE;
  else
    b->phase = PH_BODY;
  return TRUE;
}

/* Collects a CRLF-ended line; TRUE once complete (without the CRLF). */
static gboolean
take_line (EsHttpBody *b, const guint8 **p, const guint8 *end, GError **error)
{
  while (*p < end)
    {
      char ch = (char) *(*p)++;
      if (ch == '\n')
        {
          if (b->line->len && b->line->str[b->line->len - 1] == '\r')
            g_string_truncate (b->line, b->line->len - 1);
          return TRUE;
        }
      if (b->line->len >= HTTP_LINE_MAX)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the local endpoint sent a chunk line over %d bytes",
                       HTTP_LINE_MAX);
          return FALSE;
        }
      g_string_append_c (b->line, ch);
    }
  return FALSE;
}

/* Feeds bytes. */
gboolean
es_http_body_feed (EsHttpBody *b, const guint8 *data, gsize len, GByteArray *out, gboolean *done, GError **error)
{
  const guint8 *p = data, *end = data + len;
  while (p < end && b->phase != PH_DONE)
    {
      switch (b->phase)
        {
        case PH_HEAD:
          {
            const guint8 *q = p;
            while (q < end)
              {
                g_byte_array_append (b->head, q, 1);
                q++;
                if (b->head->len >= 4 && memcmp (b->head->data + b->head->len - 4, "\r\n\r\n", 4) == 0)
                  break;
                if (b->head->len > HTTP_HEAD_MAX)
                  {
                    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the local endpoint's answer head "
                                 "is over %d bytes", HTTP_HEAD_MAX);
                    return FALSE;
                  }
              }
            p = q;
            if (b->head->len >= 4 && memcmp (b->head->data + b->head->len - 4, "\r\n\r\n", 4) == 0
                && !parse_head (b, error))
              return FALSE;
            break;
          }
        case PH_BODY:
        case PH_CHUNK_DATA:
          {
            gsize n = (gsize) (end - p);
            if (b->remaining >= 0 && (gint64) n > b->remaining)
              n = (gsize) b->remaining;
            g_byte_array_append (out, p, (guint) n);
            p += n;
            if (b->remaining >= 0)
              {
                b->remaining -= (gint64) n;
                if (b->remaining == 0)
                  b->phase = b->phase == PH_BODY ? PH_DONE : PH_CHUNK_END;
              }
            break;
          }
        case PH_CHUNK_SIZE:
          if (take_line (b, &p, end, error))
            {
              guint64 n;
              char *semi = strchr (b->line->str, ';');
              if (semi)
                *semi = '\0';
              g_strstrip (b->line->str);
              if (!g_ascii_string_to_unsigned (b->line->str, 16, 0, G_MAXINT64, &n, NULL))
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the local endpoint sent a bad chunk size");
                  return FALSE;
                }
              g_string_truncate (b->line, 0);
              b->remaining = (gint64) n;
              b->phase = n ? PH_CHUNK_DATA : PH_TRAILER;
            }
          else if (error && *error)
            return FALSE;
          break;
        case PH_CHUNK_END:
          if (take_line (b, &p, end, error))
            {
              if (b->line->len)
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "the local endpoint's chunk has extra bytes");
                  return FALSE;
                }
              b->phase = PH_CHUNK_SIZE;
            }
          else if (error && *error)
            return FALSE;
          break;
        case PH_TRAILER:
          if (take_line (b, &p, end, error))
            {
              if (!b->line->len)
                b->phase = PH_DONE;
              g_string_truncate (b->line, 0);
            }
          else if (error && *error)
            return FALSE;
          break;
        default:
          break;
        }
    }
  *done = b->phase == PH_DONE;
  return TRUE;
}
