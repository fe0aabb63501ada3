/* The pure parts of edgestream (es-proto.c): Go's uvarints, the tunnel
 * message header, WebSocket frames (TEXT with any bytes), the connector's
 * checks and the local HTTP answer's body decoder. */
#include <edgecore.h>
#include <string.h>

#include "es-proto.h"

static void
test_uvarint (void)
{
  const guint64 values[] = { 0, 1, 127, 128, 300, 16383, 16384, G_MAXUINT32, G_MAXUINT64 };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autoptr (GByteArray) b = g_byte_array_new ();
      gsize pos = 0;
      guint64 v = 0;
      es_uvarint_append (b, values[i]);
      g_assert_true (es_uvarint_read (b->data, b->len, &pos, &v));
      g_assert_cmpuint (v, ==, values[i]);
      g_assert_cmpuint (pos, ==, b->len);
      /* every shorter prefix is truncated */
      for (guint n = 0; n < b->len; n++)
        {
          gsize p2 = 0;
          g_assert_false (es_uvarint_read (b->data, n, &p2, &v));
          g_assert_cmpuint (p2, ==, 0);
        }
    }
  {
    /* 300 is ac 02 as Go writes it */
    const guint8 go[] = { 0xac, 0x02 };
    gsize pos = 0;
    guint64 v;
    g_assert_true (es_uvarint_read (go, 2, &pos, &v));
    g_assert_cmpuint (v, ==, 300);
  }
  {
    /* 11 bytes, or a 10th byte over 1, overflow */
    const guint8 over[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
    gsize pos = 0;
    guint64 v;
    g_assert_false (es_uvarint_read (over, sizeof over, &pos, &v));
  }
}

static void
test_message (void)
{
  const guint8 msg[] = { 0x84, 0x07, 0x03, 'h', 'i' };
  guint64 id, type;
  const guint8 *data;
  gsize len;
  g_autoptr (GError) error = NULL;
  g_assert_true (es_message_parse (msg, sizeof msg, &id, &type, &data, &len, NULL));
  g_assert_cmpuint (id, ==, 900);
  g_assert_cmpuint (type, ==, ES_MSG_DATA);
  g_assert_cmpuint (len, ==, 2);
  g_assert_false (es_message_parse (msg, 1, &id, &type, &data, &len, &error));
  g_assert_nonnull (strstr (error->message, "ConnectID"));
  g_clear_error (&error);
  g_assert_false (es_message_parse (msg, 2, &id, &type, &data, &len, &error));
  g_assert_nonnull (strstr (error->message, "MessageType"));
  g_assert_cmpstr (es_msg_type_name (6), ==, "ATTACH_CONNECT");
  g_assert_cmpstr (es_msg_type_name (7), ==, "UNKNOWN");
}

static void
test_frames (void)
{
  /* a client frame masks its payload; parsing it gives the bytes back, any bytes in TEXT */
  for (gsize n = 0; n < 70000; n = n ? n * 3 : 1)
    {
      g_autofree guint8 *body = g_malloc (n + 1);
      g_autoptr (GBytes) f = NULL;
      g_autofree guint8 *copy = NULL;
      gsize flen = 0;
      EsWsFrame fr;
      for (gsize i = 0; i < n; i++)
        body[i] = (guint8) (i * 7 + 0x80);
      f = es_ws_frame_new (ES_WS_TEXT, (const guint8 *) "\x01\x03", 2, body, n);
      const guint8 *raw = g_bytes_get_data (f, &flen);
      copy = g_memdup2 (raw, flen);
      g_assert_true (copy[1] & 0x80);
      for (gsize cut = 0; cut < MIN (flen, 16); cut++)
        g_assert_cmpint (es_ws_frame_parse (copy, cut, 1 << 20, &fr, NULL), ==, 0);
      g_assert_cmpint (es_ws_frame_parse (copy, flen, 1 << 20, &fr, NULL), ==, 1);
      g_assert_true (fr.fin);
      g_assert_cmpuint (fr.opcode, ==, ES_WS_TEXT);
      g_assert_cmpuint (fr.len, ==, n + 2);
      g_assert_cmpuint (fr.frame_len, ==, flen);
      g_assert_cmpmem (fr.payload + 2, n, body, n);
    }
  {
    /* a server frame over the limit, and reserved bits */
    guint8 big[] = { 0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 0 };
    guint8 rsv[] = { 0xc1, 0 };
    guint8 ping[] = { 0x09, 0 };   /* a fragmented control frame */
    EsWsFrame fr;
    g_autoptr (GError) error = NULL;
    g_assert_cmpint (es_ws_frame_parse (big, sizeof big, 1 << 20, &fr, &error), ==, -1);
    g_clear_error (&error);
    g_assert_cmpint (es_ws_frame_parse (rsv, sizeof rsv, 1 << 20, &fr, &error), ==, -1);
    g_clear_error (&error);
    g_assert_cmpint (es_ws_frame_parse (ping, sizeof ping, 1 << 20, &fr, &error), ==, -1);
  }
}

static EsConnector *
parse (const char *json, GError **error)
{
  return es_connector_parse ((const guint8 *) json, strlen (json), error);
}

static void
test_connector (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EsConnector) c = parse ("{\"MessID\":17,\"url\":{\"Scheme\":\"http\",\"Opaque\":\"\",\"User\":null,"
                                     "\"Host\":\"127.0.0.1:10350\",\"Path\":\"/containerLogs/default/nginx/nginx\","
                                     "\"RawPath\":\"\",\"OmitHost\":false,\"ForceQuery\":false,"
                                     "\"RawQuery\":\"follow=true&tailLines=10\",\"Fragment\":\"\",\"RawFragment\":\"\"},"
                                     "\"header\":{\"Accept\":[\"*/*\"],\"User-Agent\":[\"kube-apiserver/v1.32.0\"],"
                                     "\"X-Bad\":[\"a\\r\\nInjected: 1\"],\"Host\":[\"evil\"]},\"method\":\"POST\"}",
                                     &error);
  g_autofree char *req = NULL;
  g_assert_no_error (error);
  g_assert_cmpuint (c->mess_id, ==, 17);
  g_assert_cmpstr (c->host, ==, "127.0.0.1:10350");
  g_assert_cmpstr (c->path, ==, "/containerLogs/default/nginx/nginx");
  g_assert_cmpstr (c->method, ==, "POST");
  req = es_connector_request (c, "GET", "Connection: close\r\n");
  g_assert_true (g_str_has_prefix (req, "GET /containerLogs/default/nginx/nginx?follow=true&tailLines=10 HTTP/1.1\r\n"
                                        "Host: 127.0.0.1:10350\r\n"));
  g_assert_nonnull (strstr (req, "Accept: */*\r\n"));
  g_assert_null (strstr (req, "Injected"));
  g_assert_null (strstr (req, "evil"));
  g_assert_true (g_str_has_suffix (req, "Connection: close\r\n\r\n"));

  /* v1.9.2's Go has no OmitHost: missing fields are fine */
  g_clear_pointer (&c, es_connector_free);
  c = parse ("{\"MessID\":1,\"url\":{\"Scheme\":\"http\",\"Host\":\"localhost:10350\",\"Path\":\"/metrics\"},"
             "\"header\":{}}", &error);
  g_assert_no_error (error);
  g_assert_null (c->method);

  {
    const char *bad[] = {
      "[]", "{}", "{\"url\":{\"Scheme\":\"https\",\"Host\":\"127.0.0.1:1\",\"Path\":\"/\"}}",
      "{\"url\":{\"Scheme\":\"http\",\"Host\":\"10.0.0.1:10350\",\"Path\":\"/\"}}",
      "{\"url\":{\"Scheme\":\"http\",\"Host\":\"127.0.0.1\",\"Path\":\"/\"}}",
      "{\"url\":{\"Scheme\":\"http\",\"Host\":\"127.0.0.1:1\",\"Path\":\"x\"}}",
      "{\"url\":{\"Scheme\":\"http\",\"Host\":\"127.0.0.1:1\",\"Path\":\"/a b\"}}",
      "{\"url\":{\"Scheme\":\"http\",\"Host\":\"127.0.0.1:1\",\"Path\":\"/\"},\"method\":\"GET /x\"}",
      "{\"url\":[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]}",
    };
    for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
      {
        g_autoptr (EsConnector) b = parse (bad[i], &error);
        g_assert_null (b);
        g_assert_nonnull (error);
        g_clear_error (&error);
      }
  }
}

/* Feeds text one byte at a time and all at once: the same body. */
static void
check_body (const char *answer, const char *want, gboolean want_done)
{
  for (int mode = 0; mode < 2; mode++)
    {
      EsHttpBody b;
      g_autoptr (GByteArray) out = g_byte_array_new ();
      gboolean done = FALSE;
      gsize n = strlen (answer);
      es_http_body_init (&b);
      if (mode == 0)
        g_assert_true (es_http_body_feed (&b, (const guint8 *) answer, n, out, &done, NULL));
      else
        for (gsize i = 0; i < n; i++)
          {
            g_autoptr (GError) error = NULL;
            g_assert_true (es_http_body_feed (&b, (const guint8 *) answer + i, 1, out, &done, &error));
          }
      g_assert_cmpmem (out->data, out->len, want, strlen (want));
      g_assert_cmpint (done, ==, want_done);
      es_http_body_clear (&b);
    }
}

static void
test_http_body (void)
{
  g_autoptr (GError) error = NULL;
  check_body ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA", "hello", TRUE);
  check_body ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n",
              "hello!", TRUE);
  check_body ("HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\npod not found", "pod not found", FALSE);
  check_body ("HTTP/1.1 204 No Content\r\n\r\n", "", TRUE);
  {
    EsHttpBody b;
    g_autoptr (GByteArray) out = g_byte_array_new ();
    gboolean done;
    g_autofree char *huge = g_strnfill (20000, 'x');
    es_http_body_init (&b);
    g_assert_false (es_http_body_feed (&b, (const guint8 *) "SSH-2.0\r\n\r\n", 11, out, &done, &error));
    g_clear_error (&error);
    es_http_body_clear (&b);
    es_http_body_init (&b);
    g_assert_false (es_http_body_feed (&b, (const guint8 *) huge, strlen (huge), out, &done, &error));
    g_clear_error (&error);
    es_http_body_clear (&b);
    es_http_body_init (&b);
    g_assert_false (es_http_body_feed (&b, (const guint8 *) "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                                       53, out, &done, &error));
    g_clear_error (&error);
    es_http_body_clear (&b);
    es_http_body_init (&b);
    g_assert_false (es_http_body_feed (&b, (const guint8 *) "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                                       47, out, &done, &error) && FALSE);
    g_assert_false (es_http_body_feed (&b, (const guint8 *) huge, 2000, out, &done, &error));
    g_assert_nonnull (strstr (error->message, "chunk line"));
    es_http_body_clear (&b);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edgestream/uvarint", test_uvarint);
  g_test_add_func ("/edgestream/message", test_message);
  g_test_add_func ("/edgestream/frames", test_frames);
  g_test_add_func ("/edgestream/connector", test_connector);
  g_test_add_func ("/edgestream/http-body", test_http_body);
  return g_test_run ();
}
