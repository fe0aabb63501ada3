/* fuzz-ws-frame.c: the websocket frame codec of edgehub-core (ws-frame.c),
 * which reads what the cloud sends to edgehub's link and edgestream's
 * tunnel. The first byte picks the mask rule and the payload limit (256
 * bytes to 64 KiB); the rest is parsed as a stream of frames, data frames
 * go through the message assembler (same limit), close payloads are read.
 * Every frame parsed must be inside the input and within the limit, and
 * must come back the same when written as a client frame and parsed
 * again. */
#include "fuzz-common.h"

#include "ws-frame.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* A frame written as a client frame parses back to the same one. */
static void
round_trip (const EhWsFrame *f)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  EhWsFrame back;
  eh_ws_frame_append (out, f->fin, f->opcode, f->payload, f->len, NULL, 0);
  if (eh_ws_frame_parse (out->data, out->len, f->len, EH_WS_PARSE_MASK_ANY, &back, NULL) != 1
      || back.fin != f->fin || back.opcode != f->opcode || back.len != f->len
      || back.frame_len != out->len || (f->len && memcmp (back.payload, f->payload, f->len) != 0))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree guint8 *buf = NULL;
  EhWsParseMode mode;
  gsize max, off = 1;
  EhWsAssembler a;

  fuzz_init ();
  if (size < 1 || size > 1024 * 1024)
    return 0;
  mode = data[0] & 1 ? EH_WS_PARSE_FROM_SERVER : EH_WS_PARSE_MASK_ANY;
  max = (gsize) 256 << ((data[0] >> 1) & 7);
  buf = g_memdup2 (data, size);
  eh_ws_assembler_init (&a, max);
  while (off < size)
    {
      g_autoptr (GError) error = NULL;
      EhWsFrame f;
      guint8 opcode;
      const guint8 *msg;
      gsize len;
      int r = eh_ws_frame_parse (buf + off, size - off, max, mode, &f, &error);
      if (r <= 0)
        {
          if ((r < 0) != (error != NULL))
            abort ();
          break;
        }
      if (f.frame_len > size - off || f.len > max || f.payload < buf + off
          || f.payload + f.len > buf + off + f.frame_len)
        abort ();
      if (f.opcode >= EH_WS_CLOSE && (f.len > EH_WS_CONTROL_MAX || !f.fin))
        abort ();
      round_trip (&f);
      off += f.frame_len;
      if (f.opcode == EH_WS_CLOSE)
        {
          g_autofree char *reason = NULL;
          guint16 code;
          if (eh_ws_close_parse (f.payload, f.len, &code, &reason, NULL) && !g_utf8_validate (reason, -1, NULL))
            abort ();
        }
      else if (f.opcode < EH_WS_CLOSE)
        {
          r = eh_ws_assembler_feed (&a, &f, &opcode, &msg, &len, NULL);
          if (r < 0)
            break;
          if (r > 0 && (len > max || (opcode != EH_WS_TEXT && opcode != EH_WS_BINARY)))
            abort ();
        }
    }
  eh_ws_assembler_clear (&a);
  return 0;
}
