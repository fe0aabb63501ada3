/* ws-frame.h: the RFC 6455 frame codec shared by edgehub's cloud link and
 * edgestream's tunnel (both clients of a KubeEdge cloud): client frames
 * masked, frame parsing with a payload limit and the control frame rules,
 * and the reassembly of fragmented messages with a size limit. No UTF-8
 * check on TEXT: the callers decide what a payload is. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Opcodes (RFC 6455 section 5.2); the others are reserved. */
enum { EH_WS_CONT = 0x0, EH_WS_TEXT = 0x1, EH_WS_BINARY = 0x2, EH_WS_CLOSE = 0x8,
       EH_WS_PING = 0x9, EH_WS_PONG = 0xA };

/* Close codes used here (RFC 6455 section 7.4.1). */
enum { EH_WS_CLOSE_NORMAL = 1000, EH_WS_CLOSE_GOING_AWAY = 1001, EH_WS_CLOSE_PROTOCOL_ERROR = 1002,
       EH_WS_CLOSE_NO_STATUS = 1005, EH_WS_CLOSE_TOO_BIG = 1009 };

/* The most a control frame may carry. */
#define EH_WS_CONTROL_MAX 125

/* Appends one client (masked, random key) frame to out: FIN as given,
 * opcode, then the concatenation of head (may be NULL) and body. */
void     eh_ws_frame_append (GByteArray *out, gboolean fin, guint8 opcode, const guint8 *head, gsize head_len,
                             const guint8 *body, gsize body_len);

/* One client (masked) frame with FIN set: opcode, then the concatenation of
 * head (may be NULL) and body. */
GBytes  *eh_ws_frame_new    (guint8 opcode, const guint8 *head, gsize head_len,
                             const guint8 *body, gsize body_len);

/* How eh_ws_frame_parse treats the mask bit. */
typedef enum {
  EH_WS_PARSE_MASK_ANY = 0,      /* masked or not: unmasked in place */
  EH_WS_PARSE_FROM_SERVER = 1,   /* a client's view: a masked frame is an error */
} EhWsParseMode;

/* One parsed frame. */
typedef struct {
  gboolean      fin;
  guint8        opcode;
  const guint8 *payload;     /* points into the buffer; unmasked in place */
  gsize         len;
  gsize         frame_len;   /* bytes the frame took in the buffer */
} EhWsFrame;

/* Parses one frame at the start of buf (unmasking it in place when masked
 * and the mode allows it). 1: a frame; 0: more bytes needed; -1: error
 * (reserved bits, a reserved opcode, a control frame over 125 bytes or
 * fragmented, a masked frame from a server, a payload over max_payload,
 * found as soon as the header is in). */
int      eh_ws_frame_parse  (guint8 *buf, gsize len, gsize max_payload, EhWsParseMode mode,
                             EhWsFrame *frame, GError **error);

/* Reassembles data frames (TEXT/BINARY, then CONTINUATIONs) into messages
 * of at most max bytes. */
typedef struct {
  GByteArray *buf;
  guint8      opcode;     /* of the message in progress */
  gboolean    active;     /* a fragmented message is in progress */
  gsize       max;
} EhWsAssembler;

void     eh_ws_assembler_init  (EhWsAssembler *a, gsize max);
void     eh_ws_assembler_clear (EhWsAssembler *a);
/* Feeds a data frame. 1: a message is complete, *opcode, *data and *len
 * tell it (valid until the next call); 0: more fragments needed; -1: error
 * (a continuation with no message, a new message inside one, over max). */
int      eh_ws_assembler_feed  (EhWsAssembler *a, const EhWsFrame *frame, guint8 *opcode,
                                const guint8 **data, gsize *len, GError **error);

/* The close frame payload: code (big endian) and reason (cut to fit). */
GByteArray *eh_ws_close_payload (guint16 code, const char *reason);
/* Reads a close frame's payload: code (1005 if none) and reason (valid
 * UTF-8, newly allocated). FALSE with error for a 1-byte payload. */
gboolean eh_ws_close_parse     (const guint8 *payload, gsize len, guint16 *code, char **reason,
                                GError **error);

G_END_DECLS
