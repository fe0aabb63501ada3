/* test-ws-frame.c: the websocket codec of edgehub-core (ws-frame.c), shared
 * by edgehub's cloud link and edgestream: masking, the three length forms,
 * the frame rules (reserved bits and opcodes, control frames, masked server
 * frames, oversize found from the header alone), the reassembly of
 * fragmented messages and the close payload; and the client connection
 * (ws-conn.c) against a hand-written server over a 127.0.0.1 socket. */
#include "ws-conn.h"
#include "ws-frame.h"

#include <gio/gio.h>
#include <string.h>

/* A server frame (unmasked), or a masked one with the given key. */
static GByteArray *
server_frame (gboolean fin, guint8 rsv, guint8 opcode, const guint8 *payload, gsize n, const guint8 *mask)
{
  GByteArray *f = g_byte_array_new ();
  guint8 b = (fin ? 0x80 : 0) | rsv | opcode;
  guint8 m = mask ? 0x80 : 0;
  g_byte_array_append (f, &b, 1);
  if (n < 126)
    {
      b = m | (guint8) n;
      g_byte_array_append (f, &b, 1);
    }
  else if (n <= 0xffff)
    {
      guint8 h[3] = { m | 126, (guint8) (n >> 8), (guint8) n };
      g_byte_array_append (f, h, 3);
    }
  else
    {
      b = m | 127;
      g_byte_array_append (f, &b, 1);
      for (int s = 56; s >= 0; s -= 8)
        {
          b = (guint8) ((guint64) n >> s);
          g_byte_array_append (f, &b, 1);
        }
    }
  if (mask)
    g_byte_array_append (f, mask, 4);
  for (gsize i = 0; i < n; i++)
    {
      b = payload[i] ^ (mask ? mask[i & 3] : 0);
      g_byte_array_append (f, &b, 1);
    }
  return f;
}

/* Client frames are masked with a key of their own, the payload XORed with
 * it; the length takes 7, 16 or 64 bits as it needs; a parse of every
 * prefix asks for more bytes, the whole frame gives the payload back. */
static void
test_client_frames (void)
{
  static const gsize sizes[] = { 0, 1, 125, 126, 127, 65535, 65536, 70001 };
  guint8 masks[G_N_ELEMENTS (sizes)][4];

  for (guint k = 0; k < G_N_ELEMENTS (sizes); k++)
    {
      gsize n = sizes[k];
      g_autofree guint8 *body = g_malloc (n + 1);
      gsize hdr = 2 + (n < 126 ? 0 : n <= 0xffff ? 2 : 8);
      gsize flen;
      g_autoptr (GBytes) f = NULL;
      g_autofree guint8 *copy = NULL;
      const guint8 *p;
      EhWsFrame fr;

      for (gsize i = 0; i < n; i++)
        body[i] = (guint8) (i * 7 + 3);
      /* head and body are joined */
      f = eh_ws_frame_new (EH_WS_BINARY, body, MIN (n, 3), body + MIN (n, 3), n - MIN (n, 3));
      p = g_bytes_get_data (f, &flen);
      g_assert_cmpuint (flen, ==, hdr + 4 + n);
      g_assert_cmphex (p[0], ==, 0x82);                 /* FIN, BINARY */
      g_assert_cmphex (p[1] & 0x80, ==, 0x80);          /* masked */
      if (n < 126)
        g_assert_cmpuint (p[1] & 0x7f, ==, n);
      else if (n <= 0xffff)
        {
          g_assert_cmpuint (p[1] & 0x7f, ==, 126);
          g_assert_cmpuint ((gsize) p[2] << 8 | p[3], ==, n);
        }
      else
        {
          guint64 v = 0;
          g_assert_cmpuint (p[1] & 0x7f, ==, 127);
          for (int i = 0; i < 8; i++)
            v = v << 8 | p[2 + i];
          g_assert_cmpuint (v, ==, n);
        }
      memcpy (masks[k], p + hdr, 4);
      for (gsize i = 0; i < n; i++)
        g_assert_cmpuint (p[hdr + 4 + i] ^ masks[k][i & 3], ==, body[i]);

      copy = g_memdup2 (p, flen);
      for (gsize cut = 0; cut < flen; cut += (cut < 20 ? 1 : 997))
        g_assert_cmpint (eh_ws_frame_parse (copy, cut, 1 << 20, EH_WS_PARSE_MASK_ANY, &fr, NULL), ==, 0);
      g_assert_cmpint (eh_ws_frame_parse (copy, flen, 1 << 20, EH_WS_PARSE_MASK_ANY, &fr, NULL), ==, 1);
      g_assert_true (fr.fin);
      g_assert_cmpuint (fr.opcode, ==, EH_WS_BINARY);
      g_assert_cmpuint (fr.len, ==, n);
      g_assert_cmpuint (fr.frame_len, ==, flen);
      g_assert_true (n == 0 || memcmp (fr.payload, body, n) == 0);
      /* a client's own frame is refused where server frames are expected */
      g_assert_cmpint (eh_ws_frame_parse ((guint8 *) p, flen, 1 << 20, EH_WS_PARSE_FROM_SERVER, &fr, NULL), ==, -1);
    }
  /* the keys differ (eight equal random 32-bit keys: never) */
  {
    gboolean differ = FALSE;
    for (guint k = 1; k < G_N_ELEMENTS (sizes); k++)
      differ |= memcmp (masks[0], masks[k], 4) != 0;
    g_assert_true (differ);
  }
  /* a frame without FIN (a first fragment) */
  {
    g_autoptr (GByteArray) a = g_byte_array_new ();
    EhWsFrame fr;
    eh_ws_frame_append (a, FALSE, EH_WS_TEXT, (const guint8 *) "ab", 2, NULL, 0);
    g_assert_cmphex (a->data[0], ==, 0x01);
    g_assert_cmpint (eh_ws_frame_parse (a->data, a->len, 16, EH_WS_PARSE_MASK_ANY, &fr, NULL), ==, 1);
    g_assert_false (fr.fin);
    g_assert_cmpmem (fr.payload, fr.len, "ab", 2);
  }
}

/* Server frames: unmasked, in the three length forms, two in a row. */
static void
test_server_frames (void)
{
  static const gsize sizes[] = { 0, 125, 126, 65535, 65536 };
  for (guint k = 0; k < G_N_ELEMENTS (sizes); k++)
    {
      gsize n = sizes[k];
      g_autofree guint8 *body = g_malloc0 (n + 1);
      g_autoptr (GByteArray) a = NULL;
      g_autoptr (GByteArray) b = server_frame (TRUE, 0, EH_WS_PING, (const guint8 *) "hi", 2, NULL);
      gsize first;
      EhWsFrame fr;
      for (gsize i = 0; i < n; i++)
        body[i] = (guint8) i;
      a = server_frame (TRUE, 0, EH_WS_TEXT, body, n, NULL);
      first = a->len;
      g_byte_array_append (a, b->data, b->len);
      g_assert_cmpint (eh_ws_frame_parse (a->data, first - 1, 1 << 20, EH_WS_PARSE_FROM_SERVER, &fr, NULL), ==, 0);
      g_assert_cmpint (eh_ws_frame_parse (a->data, a->len, 1 << 20, EH_WS_PARSE_FROM_SERVER, &fr, NULL), ==, 1);
      g_assert_cmpuint (fr.opcode, ==, EH_WS_TEXT);
      g_assert_cmpuint (fr.frame_len, ==, first);
      g_assert_true (n == 0 || memcmp (fr.payload, body, n) == 0);
      g_assert_cmpint (eh_ws_frame_parse (a->data + first, a->len - first, 1 << 20, EH_WS_PARSE_FROM_SERVER,
                                          &fr, NULL), ==, 1);
      g_assert_cmpuint (fr.opcode, ==, EH_WS_PING);
      g_assert_cmpmem (fr.payload, fr.len, "hi", 2);
    }
}

/* Parses a frame that must be refused, with words of the message. */
static void
assert_refused (GByteArray *f, gsize max, EhWsParseMode mode, const char *words)
{
  g_autoptr (GError) error = NULL;
  EhWsFrame fr;
  g_assert_cmpint (eh_ws_frame_parse (f->data, f->len, max, mode, &fr, &error), ==, -1);
  g_assert_nonnull (error);
  if (!strstr (error->message, words))
    g_error ("'%s' does not say '%s'", error->message, words);
}

/* Reserved bits and opcodes, masked server frames, control frames over 125
 * bytes or fragmented, and frames over the limit are refused; an oversize
 * frame as soon as its header is in. */
static void
test_frame_rules (void)
{
  guint8 big[130] = { 0 };
  static const guint8 key[4] = { 1, 2, 3, 4 };
  g_autoptr (GByteArray) f = NULL;

  for (guint8 rsv = 0x10; rsv <= 0x40; rsv <<= 1)
    {
      g_autoptr (GByteArray) r = server_frame (TRUE, rsv, EH_WS_TEXT, (const guint8 *) "x", 1, NULL);
      assert_refused (r, 16, EH_WS_PARSE_FROM_SERVER, "reserved bits");
    }
  for (guint8 op = 3; op <= 0xF; op++)
    {
      g_autoptr (GByteArray) r = NULL;
      if (op >= EH_WS_CLOSE && op <= EH_WS_PONG)
        continue;
      r = server_frame (TRUE, 0, op, (const guint8 *) "x", 1, NULL);
      assert_refused (r, 16, EH_WS_PARSE_FROM_SERVER, "reserved opcode");
    }
  f = server_frame (TRUE, 0, EH_WS_TEXT, (const guint8 *) "abcd", 4, key);
  assert_refused (f, 16, EH_WS_PARSE_FROM_SERVER, "must not mask");
  g_clear_pointer (&f, g_byte_array_unref);

  f = server_frame (TRUE, 0, EH_WS_PING, big, 126, NULL);
  assert_refused (f, 1 << 20, EH_WS_PARSE_FROM_SERVER, "control frame");
  g_clear_pointer (&f, g_byte_array_unref);
  f = server_frame (FALSE, 0, EH_WS_CLOSE, big, 2, NULL);
  assert_refused (f, 1 << 20, EH_WS_PARSE_FROM_SERVER, "control frame");
  g_clear_pointer (&f, g_byte_array_unref);
  f = server_frame (TRUE, 0, EH_WS_PONG, big, 125, NULL);   /* 125 is allowed */
  {
    EhWsFrame fr;
    g_assert_cmpint (eh_ws_frame_parse (f->data, f->len, 1 << 20, EH_WS_PARSE_FROM_SERVER, &fr, NULL), ==, 1);
  }
  g_clear_pointer (&f, g_byte_array_unref);

  /* oversize: one byte over the limit, refused */
  f = server_frame (TRUE, 0, EH_WS_BINARY, big, 101, NULL);
  assert_refused (f, 100, EH_WS_PARSE_FROM_SERVER, "over the limit of 100");
  g_clear_pointer (&f, g_byte_array_unref);
  /* a 64-bit length of 2^40, and one of 2^63: refused from the 10 header bytes */
  {
    guint8 h[10] = { 0x82, 127, 0, 0, 1, 0, 0, 0, 0, 0 };
    g_autoptr (GError) error = NULL;
    EhWsFrame fr;
    g_assert_cmpint (eh_ws_frame_parse (h, sizeof h, 1 << 20, EH_WS_PARSE_FROM_SERVER, &fr, &error), ==, -1);
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
    g_clear_error (&error);
    h[2] = 0x80;   /* the most significant bit must be 0, whatever the limit */
    g_assert_cmpint (eh_ws_frame_parse (h, sizeof h, G_MAXSIZE, EH_WS_PARSE_FROM_SERVER, &fr, &error), ==, -1);
    g_assert_nonnull (strstr (error->message, "most significant bit"));
    /* nine header bytes: not yet known */
    g_assert_cmpint (eh_ws_frame_parse (h, 9, 1 << 20, EH_WS_PARSE_FROM_SERVER, &fr, NULL), ==, 0);
  }
}

/* The frames fed, kept while a message may point into them. */
static GPtrArray *fed;

/* Feeds a server frame to an assembler; returns its answer. */
static int
feed (EhWsAssembler *a, gboolean fin, guint8 opcode, const char *text, guint8 *op, const guint8 **data,
      gsize *len, GError **error)
{
  GByteArray *f = server_frame (fin, 0, opcode, (const guint8 *) text, strlen (text), NULL);
  EhWsFrame fr;
  g_ptr_array_add (fed, f);
  g_assert_cmpint (eh_ws_frame_parse (f->data, f->len, 1 << 20, EH_WS_PARSE_FROM_SERVER, &fr, NULL), ==, 1);
  return eh_ws_assembler_feed (a, &fr, op, data, len, error);
}

/* Fragmented messages are put together (a control frame may come between
 * fragments); a continuation with no message, a new message inside one, a
 * message over the limit are errors. */
static void
test_fragments (void)
{
  EhWsAssembler a;
  g_autoptr (GError) error = NULL;
  guint8 op = 0;
  const guint8 *data;
  gsize len;

  fed = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);
  eh_ws_assembler_init (&a, 10);
  g_assert_cmpint (feed (&a, TRUE, EH_WS_TEXT, "whole", &op, &data, &len, NULL), ==, 1);
  g_assert_cmpuint (op, ==, EH_WS_TEXT);
  g_assert_cmpmem (data, len, "whole", 5);

  g_assert_cmpint (feed (&a, FALSE, EH_WS_BINARY, "ab", &op, &data, &len, NULL), ==, 0);
  g_assert_cmpint (feed (&a, FALSE, EH_WS_CONT, "cd", &op, &data, &len, NULL), ==, 0);
  g_assert_cmpint (feed (&a, TRUE, EH_WS_CONT, "ef", &op, &data, &len, NULL), ==, 1);
  g_assert_cmpuint (op, ==, EH_WS_BINARY);
  g_assert_cmpmem (data, len, "abcdef", 6);

  /* exactly the limit, in pieces */
  g_assert_cmpint (feed (&a, FALSE, EH_WS_TEXT, "01234", &op, &data, &len, NULL), ==, 0);
  g_assert_cmpint (feed (&a, TRUE, EH_WS_CONT, "56789", &op, &data, &len, NULL), ==, 1);
  g_assert_cmpmem (data, len, "0123456789", 10);

  g_assert_cmpint (feed (&a, TRUE, EH_WS_CONT, "x", &op, &data, &len, &error), ==, -1);
  g_assert_nonnull (strstr (error->message, "no message to continue"));
  g_clear_error (&error);

  g_assert_cmpint (feed (&a, FALSE, EH_WS_TEXT, "a", &op, &data, &len, NULL), ==, 0);
  g_assert_cmpint (feed (&a, TRUE, EH_WS_TEXT, "b", &op, &data, &len, &error), ==, -1);
  g_assert_nonnull (strstr (error->message, "inside a fragmented one"));
  g_clear_error (&error);
  eh_ws_assembler_clear (&a);

  /* over the limit: in one frame, and across fragments */
  eh_ws_assembler_init (&a, 10);
  g_assert_cmpint (feed (&a, TRUE, EH_WS_TEXT, "0123456789A", &op, &data, &len, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_clear_error (&error);
  g_assert_cmpint (feed (&a, FALSE, EH_WS_TEXT, "012345", &op, &data, &len, NULL), ==, 0);
  g_assert_cmpint (feed (&a, FALSE, EH_WS_CONT, "6789A", &op, &data, &len, &error), ==, -1);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  eh_ws_assembler_clear (&a);
  g_clear_pointer (&fed, g_ptr_array_unref);
}

/* The close payload: code and reason, cut to 125 bytes on a character
 * boundary; read back, with 1005 for an empty one and an error for 1 byte. */
static void
test_close_payload (void)
{
  g_autoptr (GString) long_reason = g_string_new ("");
  g_autoptr (GByteArray) p = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *reason = NULL;
  guint16 code = 0;

  p = eh_ws_close_payload (1001, "going away");
  g_assert_cmpmem (p->data, p->len, "\x03\xe9going away", 12);
  g_assert_true (eh_ws_close_parse (p->data, p->len, &code, &reason, &error));
  g_assert_cmpuint (code, ==, 1001);
  g_assert_cmpstr (reason, ==, "going away");
  g_clear_pointer (&reason, g_free);
  g_clear_pointer (&p, g_byte_array_unref);

  for (int i = 0; i < 100; i++)
    g_string_append (long_reason, "\xc3\xa9");   /* é, 2 bytes */
  p = eh_ws_close_payload (1002, long_reason->str);
  g_assert_cmpuint (p->len, <=, EH_WS_CONTROL_MAX);
  g_assert_cmpuint (p->len, ==, 2 + 122);
  g_assert_true (g_utf8_validate ((const char *) p->data + 2, p->len - 2, NULL));

  g_assert_true (eh_ws_close_parse (NULL, 0, &code, &reason, &error));
  g_assert_cmpuint (code, ==, EH_WS_CLOSE_NO_STATUS);
  g_assert_cmpstr (reason, ==, "");
  g_clear_pointer (&reason, g_free);
  g_assert_false (eh_ws_close_parse ((const guint8 *) "\x03", 1, &code, &reason, &error));
  g_assert_nonnull (error);
}


/* ---- the connection ----------------------------------------------------- */

/* What the connection told. */
typedef struct {
  GPtrArray *messages;     /* "T:text" / "B:text" */
  GPtrArray *pongs;
  char      *error;
  gboolean   closed;
} Seen;

static void
seen_message (EhWsConn *c, guint8 opcode, const guint8 *data, gsize len, gpointer user)
{
  Seen *s = user;
  g_ptr_array_add (s->messages, g_strdup_printf ("%c:%.*s", opcode == EH_WS_TEXT ? 'T' : 'B', (int) len, data));
}

static void
seen_pong (EhWsConn *c, const guint8 *data, gsize len, gpointer user)
{
  g_ptr_array_add (((Seen *) user)->pongs, g_strndup ((const char *) data, len));
}

static void
seen_error (EhWsConn *c, const GError *error, gpointer user)
{
  Seen *s = user;
  g_assert_null (s->error);
  s->error = g_strdup (error->message);
}

static void
seen_closed (EhWsConn *c, gpointer user)
{
  Seen *s = user;
  g_assert_false (s->closed);
  s->closed = TRUE;
}

static const EhWsConnEvents seen_events = { seen_message, seen_pong, seen_error, seen_closed };

/* A websocket client connected to a hand-written server on 127.0.0.1. */
typedef struct {
  GSocketConnection *client;
  GSocketConnection *server;
  GSocket           *ssock;
  GByteArray        *acc;     /* what the server read, not yet parsed */
  Seen               seen;
  EhWsConn          *ws;
} Pair;

static void
pair_open (Pair *p, guint max_queued)
{
  g_autoptr (GSocketListener) l = g_socket_listener_new ();
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GSocketClient) sc = g_socket_client_new ();
  g_autoptr (GError) error = NULL;

  memset (p, 0, sizeof *p);
  g_assert_true (g_socket_listener_add_address (l, any, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                                &bound, &error));
  g_assert_no_error (error);
  p->client = g_socket_client_connect (sc, G_SOCKET_CONNECTABLE (bound), NULL, &error);
  g_assert_no_error (error);
  p->server = g_socket_listener_accept (l, NULL, NULL, &error);
  g_assert_no_error (error);
  p->ssock = g_socket_connection_get_socket (p->server);
  g_socket_set_blocking (p->ssock, FALSE);
  p->acc = g_byte_array_new ();
  p->seen.messages = g_ptr_array_new_with_free_func (g_free);
  p->seen.pongs = g_ptr_array_new_with_free_func (g_free);
  p->ws = eh_ws_conn_new (G_IO_STREAM (p->client), 1 << 20, max_queued, &seen_events, &p->seen);
}

static void
pair_close (Pair *p)
{
  eh_ws_conn_free (p->ws, EH_WS_CLOSE_GOING_AWAY);
  g_object_unref (p->client);
  g_object_unref (p->server);
  g_byte_array_unref (p->acc);
  g_ptr_array_unref (p->seen.messages);
  g_ptr_array_unref (p->seen.pongs);
  g_free (p->seen.error);
}

/* The server writes a frame. */
static void
server_send (Pair *p, gboolean fin, guint8 opcode, const void *payload, gsize n, const guint8 *mask)
{
  g_autoptr (GByteArray) f = server_frame (fin, 0, opcode, payload, n, mask);
  g_autoptr (GError) error = NULL;
  g_assert_cmpint (g_socket_send (p->ssock, (const char *) f->data, f->len, NULL, &error), ==, (gssize) f->len);
}

/* Runs the main loop until cond holds (at most 10 s). */
#define RUN_UNTIL(cond)                                                      \
  G_STMT_START {                                                             \
    gint64 until_ = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;           \
    while (!(cond) && g_get_monotonic_time () < until_)                      \
      g_main_context_iteration (NULL, FALSE), g_usleep (1000);               \
    g_assert_true (cond);                                                    \
  } G_STMT_END

/* The next frame the client wrote (it must be masked): its opcode, its
 * payload in out; -1 at the end of the stream. */
static int
server_recv (Pair *p, GByteArray *out)
{
  gint64 until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time () < until)
    {
      EhWsFrame f;
      char buf[4096];
      gssize n;
      if (p->acc->len >= 2)
        g_assert_cmphex (p->acc->data[1] & 0x80, ==, 0x80);
      if (eh_ws_frame_parse (p->acc->data, p->acc->len, 1 << 20, EH_WS_PARSE_MASK_ANY, &f, NULL) == 1)
        {
          int op = f.opcode;
          g_byte_array_set_size (out, 0);
          g_byte_array_append (out, f.payload, (guint) f.len);
          g_byte_array_remove_range (p->acc, 0, (guint) f.frame_len);
          return op;
        }
      n = g_socket_receive (p->ssock, buf, sizeof buf, NULL, NULL);
      if (n == 0)
        return -1;
      if (n > 0)
        g_byte_array_append (p->acc, (const guint8 *) buf, (guint) n);
      else
        {
          g_main_context_iteration (NULL, FALSE);
          g_usleep (1000);
        }
    }
  g_error ("no frame from the client within 10 s");
  return -1;
}

/* Messages (fragmented, with control frames between), pings answered with
 * their payload, pongs told, masked frames out, and the peer's close
 * answered with its code: then closed, with the code and reason. */
static void
test_conn_exchange (void)
{
  Pair p;
  g_autoptr (GByteArray) got = g_byte_array_new ();
  g_autofree guint8 *big = g_malloc (70000);

  pair_open (&p, 16);
  g_assert_true (eh_ws_conn_is_open (p.ws));
  server_send (&p, TRUE, EH_WS_TEXT, "one", 3, NULL);
  server_send (&p, FALSE, EH_WS_BINARY, "he", 2, NULL);
  server_send (&p, TRUE, EH_WS_PING, "p1", 2, NULL);
  server_send (&p, FALSE, EH_WS_CONT, "l", 1, NULL);
  server_send (&p, TRUE, EH_WS_PONG, "x", 1, NULL);
  server_send (&p, TRUE, EH_WS_CONT, "lo", 2, NULL);
  memset (big, 'z', 70000);
  server_send (&p, TRUE, EH_WS_TEXT, big, 70000, NULL);
  RUN_UNTIL (p.seen.messages->len == 3);
  g_assert_cmpstr (p.seen.messages->pdata[0], ==, "T:one");
  g_assert_cmpstr (p.seen.messages->pdata[1], ==, "B:hello");
  g_assert_cmpuint (strlen (p.seen.messages->pdata[2]), ==, 70002);
  g_assert_cmpuint (p.seen.pongs->len, ==, 1);
  g_assert_cmpstr (p.seen.pongs->pdata[0], ==, "x");
  g_assert_cmpint (server_recv (&p, got), ==, EH_WS_PONG);
  g_assert_cmpmem (got->data, got->len, "p1", 2);

  g_assert_true (eh_ws_conn_send (p.ws, EH_WS_TEXT, (const guint8 *) "up", 2));
  g_assert_true (eh_ws_conn_send (p.ws, EH_WS_PING, (const guint8 *) "n1", 2));
  g_assert_true (eh_ws_conn_send (p.ws, EH_WS_BINARY, big, 70000));
  g_assert_cmpint (server_recv (&p, got), ==, EH_WS_TEXT);
  g_assert_cmpmem (got->data, got->len, "up", 2);
  g_assert_cmpint (server_recv (&p, got), ==, EH_WS_PING);
  g_assert_cmpmem (got->data, got->len, "n1", 2);
  g_assert_cmpint (server_recv (&p, got), ==, EH_WS_BINARY);
  g_assert_cmpmem (got->data, got->len, big, 70000);

  server_send (&p, TRUE, EH_WS_CLOSE, "\x03\xe8" "bye", 5, NULL);
  g_assert_cmpint (server_recv (&p, got), ==, EH_WS_CLOSE);
  g_assert_cmpmem (got->data, got->len, "\x03\xe8", 2);
  RUN_UNTIL (p.seen.closed);
  g_assert_false (eh_ws_conn_is_open (p.ws));
  g_assert_null (p.seen.error);
  g_assert_cmpuint (eh_ws_conn_get_close_code (p.ws), ==, 1000);
  g_assert_cmpstr (eh_ws_conn_get_close_reason (p.ws), ==, "bye");
  g_assert_false (eh_ws_conn_send (p.ws, EH_WS_TEXT, (const guint8 *) "late", 4));
  g_assert_cmpint (server_recv (&p, got), ==, -1);   /* and the stream is closed */
  pair_close (&p);
}

/* A bad frame from the server ends the connection: the error says why,
 * a close frame with 1002 (1009 for an oversize one) goes out, closed
 * follows; a server that closes without a close frame gives code 0. */
static void
test_conn_bad_frames (void)
{
  static const guint8 key[4] = { 9, 8, 7, 6 };
  static const struct { guint8 first; const char *words; guint16 code; } cases[] = {
    { 0x81, "must not mask", 1002 },       /* masked TEXT */
    { 0xC1, "reserved bits", 1002 },
    { 0x83, "reserved opcode 3", 1002 },
    { 0x80, "continuation frame with no message", 1002 },
    { 0x82, "over the limit", 1009 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      Pair p;
      g_autoptr (GByteArray) got = g_byte_array_new ();
      g_autoptr (GByteArray) f = NULL;
      g_autoptr (GError) error = NULL;
      if (cases[i].code == 1009)
        {
          guint8 h[10] = { 0x82, 127, 0, 0, 0, 0, 0, 0x20, 0, 0 };   /* 2 MiB */
          f = g_byte_array_new ();
          g_byte_array_append (f, h, sizeof h);
        }
      else
        f = server_frame (TRUE, cases[i].first & 0x70, cases[i].first & 0x0f, (const guint8 *) "data", 4,
                          i == 0 ? key : NULL);
      pair_open (&p, 16);
      g_assert_cmpint (g_socket_send (p.ssock, (const char *) f->data, f->len, NULL, &error), ==, (gssize) f->len);
      RUN_UNTIL (p.seen.closed);
      g_assert_nonnull (p.seen.error);
      if (!strstr (p.seen.error, cases[i].words))
        g_error ("'%s' does not say '%s'", p.seen.error, cases[i].words);
      g_assert_cmpuint (p.seen.messages->len, ==, 0);
      g_assert_cmpuint (eh_ws_conn_get_close_code (p.ws), ==, 0);
      g_assert_cmpint (server_recv (&p, got), ==, EH_WS_CLOSE);
      g_assert_cmpuint (got->len, >=, 2);
      g_assert_cmpuint ((guint) got->data[0] << 8 | got->data[1], ==, cases[i].code);
      pair_close (&p);
    }
  /* the server just goes */
  {
    Pair p;
    pair_open (&p, 16);
    g_socket_shutdown (p.ssock, FALSE, TRUE, NULL);
    RUN_UNTIL (p.seen.closed);
    g_assert_null (p.seen.error);
    g_assert_cmpuint (eh_ws_conn_get_close_code (p.ws), ==, 0);
    pair_close (&p);
  }
}

/* More frames waiting to be written than allowed: the peer does not
 * read, the connection fails (told from the main loop, not from send). */
static void
test_conn_queue_bound (void)
{
  Pair p;
  pair_open (&p, 4);
  for (int i = 0; i < 4; i++)
    g_assert_true (eh_ws_conn_send (p.ws, EH_WS_TEXT, (const guint8 *) "m", 1));
  g_assert_cmpuint (eh_ws_conn_queued (p.ws), ==, 4);
  g_assert_false (eh_ws_conn_send (p.ws, EH_WS_TEXT, (const guint8 *) "m", 1));
  g_assert_false (eh_ws_conn_is_open (p.ws));
  g_assert_false (p.seen.closed);
  RUN_UNTIL (p.seen.closed);
  g_assert_nonnull (strstr (p.seen.error, "does not read: 4 frames wait"));
  pair_close (&p);

  /* freeing an open connection tells nothing and sends 1001 */
  {
    g_autoptr (GByteArray) got = g_byte_array_new ();
    pair_open (&p, 4);
    eh_ws_conn_free (p.ws, EH_WS_CLOSE_GOING_AWAY);
    g_assert_cmpint (server_recv (&p, got), ==, EH_WS_CLOSE);
    g_assert_cmpmem (got->data, got->len, "\x03\xe9", 2);
    g_assert_false (p.seen.closed);
    p.ws = NULL;
    pair_close (&p);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ws-frame/client-frames", test_client_frames);
  g_test_add_func ("/ws-frame/server-frames", test_server_frames);
  g_test_add_func ("/ws-frame/rules", test_frame_rules);
  g_test_add_func ("/ws-frame/fragments", test_fragments);
  g_test_add_func ("/ws-frame/close-payload", test_close_payload);
  g_test_add_func ("/ws-conn/exchange", test_conn_exchange);
  g_test_add_func ("/ws-conn/bad-frames", test_conn_bad_frames);
  g_test_add_func ("/ws-conn/queue-bound", test_conn_queue_bound);
  return g_test_run ();
}
