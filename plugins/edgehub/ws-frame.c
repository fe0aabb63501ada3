/* ws-frame.c: RFC 6455 frames and messages (see ws-frame.h). */
#include "ws-frame.h"

#include <gio/gio.h>
#include <openssl/rand.h>
#include <string.h>

/* A masking key: unpredictable, as RFC 6455 section 5.3 asks. Keys are
 * taken from a pool filled by OpenSSL's generator 128 keys at a time (one
 * call per frame costs a getpid(2) in OpenSSL 3's fork check). */
static void
mask_key (guint8 mask[4])
{
  static _Thread_local guint8 pool[512];
  static _Thread_local guint used = sizeof pool;
  if (used == sizeof pool)
    {
      if (RAND_bytes (pool, sizeof pool) != 1)
        for (guint i = 0; i < sizeof pool; i += 4)
          {
            guint32 r = g_random_int ();
            memcpy (pool + i, &r, 4);
          }
      used = 0;
    }
  memcpy (mask, pool + used, 4);
  used += 4;
}

/* XORs n bytes at p with the key, 8 bytes at a time. */
static void
apply_mask (guint8 *p, gsize n, const guint8 mask[4])
{
  guint8 m8[8];
  guint64 m, w;
  gsize i = 0;
  for (int k = 0; k < 8; k++)
    m8[k] = mask[k & 3];
  memcpy (&m, m8, 8);
  for (; i + 8 <= n; i += 8)
    {
      memcpy (&w, p + i, 8);
      w ^= m;
      memcpy (p + i, &w, 8);
    }
  for (; i < n; i++)
    p[i] ^= mask[i & 3];
}

/* Appends one masked frame. */
void
eh_ws_frame_append (GByteArray *out, gboolean fin, guint8 opcode, const guint8 *head, gsize head_len,
                    const guint8 *body, gsize body_len)
{
  gsize n = head_len + body_len;
  gsize hdr = 2 + (n < 126 ? 0 : n <= 0xffff ? 2 : 8) + 4;
  gsize start = out->len;
  guint8 *p;
  guint8 mask[4];

  mask_key (mask);
  g_byte_array_set_size (out, (guint) (start + hdr + n));
  p = out->data + start;
  *p++ = (fin ? 0x80 : 0) | (opcode & 0x0f);
  if (n < 126)
    *p++ = 0x80 | (guint8) n;
  else if (n <= 0xffff)
    {
      *p++ = 0x80 | 126;
      *p++ = (guint8) (n >> 8);
      *p++ = (guint8) n;
    }
  else
    {
      *p++ = 0x80 | 127;
      for (int s = 56; s >= 0; s -= 8)
        *p++ = (guint8) ((guint64) n >> s);
    }
  memcpy (p, mask, 4);
  p += 4;
  if (head_len)
    memcpy (p, head, head_len);
  if (body_len)
    memcpy (p + head_len, body, body_len);
  apply_mask (p, n, mask);
}

/* One masked frame with FIN. */
GBytes *
eh_ws_frame_new (guint8 opcode, const guint8 *head, gsize head_len, const guint8 *body, gsize body_len)
{
  GByteArray *f = g_byte_array_sized_new ((guint) (head_len + body_len + 14));
  eh_ws_frame_append (f, TRUE, opcode, head, head_len, body, body_len);
  return g_byte_array_free_to_bytes (f);
}

/* Parses one frame. */
int
eh_ws_frame_parse (guint8 *buf, gsize len, gsize max_payload, EhWsParseMode mode, EhWsFrame *frame,
                   GError **error)
{
  gsize pos = 2;
  guint64 n;
  gboolean masked;
  guint8 opcode;
  guint8 mask[4] = { 0 };

  if (len < 2)
    return 0;
  if (buf[0] & 0x70)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "websocket frame with reserved bits set "
                   "(no extension was negotiated)");
      return -1;
    }
  opcode = buf[0] & 0x0f;
  if ((opcode > EH_WS_BINARY && opcode < EH_WS_CLOSE) || opcode > EH_WS_PONG)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "websocket frame with the reserved opcode %u",
                   opcode);
      return -1;
    }
  masked = (buf[1] & 0x80) != 0;
  if (masked && mode == EH_WS_PARSE_FROM_SERVER)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "masked websocket frame from the server "
                   "(a server must not mask its frames)");
      return -1;
    }
  n = buf[1] & 0x7f;
  if (n == 126)
    {
      if (len < 4)
        return 0;
      n = (guint64) buf[2] << 8 | buf[3];
      pos = 4;
    }
  else if (n == 127)
    {
      if (len < 10)
        return 0;
      n = 0;
      for (int i = 0; i < 8; i++)
        n = n << 8 | buf[2 + i];
      pos = 10;
      if (n >> 63)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "websocket frame length with the most "
                       "significant bit set");
          return -1;
        }
    }
  if (opcode >= EH_WS_CLOSE && (n > EH_WS_CONTROL_MAX || !(buf[0] & 0x80)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "websocket control frame too long or fragmented");
      return -1;
    }
  if (n > max_payload)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "websocket frame of %" G_GUINT64_FORMAT
                   " bytes, over the limit of %" G_GSIZE_FORMAT, n, max_payload);
      return -1;
    }
  if (masked)
    {
      if (len < pos + 4)
        return 0;
      memcpy (mask, buf + pos, 4);
      pos += 4;
    }
  if (len - pos < n)
    return 0;
  frame->fin = (buf[0] & 0x80) != 0;
  frame->opcode = opcode;
  frame->payload = buf + pos;
  frame->len = (gsize) n;
  frame->frame_len = pos + (gsize) n;
  if (masked)
    apply_mask (buf + pos, (gsize) n, mask);
  return 1;
}

/* Starts an assembler. */
void
eh_ws_assembler_init (EhWsAssembler *a, gsize max)
{
  a->buf = g_byte_array_new ();
  a->opcode = 0;
  a->active = FALSE;
  a->max = max;
}

/* Frees an assembler's buffer. */
void
eh_ws_assembler_clear (EhWsAssembler *a)
{
  g_clear_pointer (&a->buf, g_byte_array_unref);
  a->active = FALSE;
}

/* Feeds a data frame. */
int
eh_ws_assembler_feed (EhWsAssembler *a, const EhWsFrame *f, guint8 *opcode, const guint8 **data, gsize *len,
                      GError **error)
{
  if ((f->opcode == EH_WS_CONT) != a->active)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, a->active
                   ? "a new websocket message inside a fragmented one"
                   : "a websocket continuation frame with no message to continue");
      return -1;
    }
  if (f->fin && !a->active)
    {
      if (f->len > a->max)
        goto too_big;
      *opcode = f->opcode;
      *data = f->payload;
      *len = f->len;
      return 1;
    }
  if (!a->active)
    {
      a->opcode = f->opcode;
      g_byte_array_set_size (a->buf, 0);
    }
  if (f->len > a->max - a->buf->len)
    {
      a->active = FALSE;
      goto too_big;
    }
  g_byte_array_append (a->buf, f->payload, (guint) f->len);
  a->active = !f->fin;
  if (a->active)
    return 0;
  *opcode = a->opcode;
  *data = a->buf->data;
  *len = a->buf->len;
  return 1;

too_big:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE, "a websocket message of more than %"
               G_GSIZE_FORMAT " bytes", a->max);
  return -1;
}

/* The close frame payload. */
GByteArray *
eh_ws_close_payload (guint16 code, const char *reason)
{
  GByteArray *p = g_byte_array_sized_new (EH_WS_CONTROL_MAX);
  guint8 c[2] = { (guint8) (code >> 8), (guint8) code };
  gsize n = reason ? strlen (reason) : 0;
  const char *end;
  g_byte_array_append (p, c, 2);
  if (n > EH_WS_CONTROL_MAX - 2)
    {
      /* cut on a character boundary */
      g_utf8_validate (reason, EH_WS_CONTROL_MAX - 2, &end);
      n = (gsize) (end - reason);
    }
  if (n)
    g_byte_array_append (p, (const guint8 *) reason, (guint) n);
  return p;
}

/* Reads a close frame's payload. */
gboolean
eh_ws_close_parse (const guint8 *payload, gsize len, guint16 *code, char **reason, GError **error)
{
  *reason = NULL;
  if (len == 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "websocket close frame of 1 byte");
      return FALSE;
    }
  *code = len >= 2 ? (guint16) (payload[0] << 8 | payload[1]) : EH_WS_CLOSE_NO_STATUS;
  *reason = len > 2 ? g_utf8_make_valid ((const char *) payload + 2, (gssize) (len - 2)) : g_strdup ("");
  return TRUE;
}
