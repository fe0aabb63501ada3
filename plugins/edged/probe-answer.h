/* probe-answer.h: the answer to an httpGet probe, read as it arrives
 * (probe-answer.c, for probe-http.c). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define EDGED_HTTP_HEAD_MAX  (64 * 1024)  /* the answer's head */
#define EDGED_HTTP_BODY_MAX  (10 * 1024)  /* kubelet's maxRespBodyLength */
#define EDGED_HTTP_LINE_MAX  1024         /* a chunk-size line */

typedef enum {
  EDGED_HTTP_BODY_NONE,
  EDGED_HTTP_BODY_LENGTH,
  EDGED_HTTP_BODY_CHUNKED,
  EDGED_HTTP_BODY_EOF,
} EdgedHttpBodyMode;

typedef struct {
  GByteArray        *in;              /* bytes read and not parsed yet */
  gboolean           head_done;
  int                status;
  char              *status_line;
  char              *location;        /* the Location header */
  EdgedHttpBodyMode  body_mode;
  gint64             body_left;       /* BODY_LENGTH: bytes still due */
  gint64             chunk_left;      /* BODY_CHUNKED: bytes left in the chunk, -1 at a line */
  gboolean           chunk_crlf;      /* the CRLF after a chunk's data is due */
  GByteArray        *body;            /* at most EDGED_HTTP_BODY_MAX */
} EdgedHttpAnswer;

void  edged_http_answer_init      (EdgedHttpAnswer       *a);
void  edged_http_answer_clear     (EdgedHttpAnswer       *a);
void  edged_http_answer_reset     (EdgedHttpAnswer       *a);
int   edged_http_answer_feed      (EdgedHttpAnswer       *a,
                                   const guint8          *data,
                                   gsize                  len,
                                   gboolean               eof,
                                   GError               **error);
/* At most max bytes of text (len bytes, NUL bytes end it) for messages,
 * anything but printable ASCII as a space. */
char *edged_http_printable        (const char            *text,
                                   gsize                  len,
                                   gsize                  max);
/* The body for messages: printable ASCII, at most 200 bytes. */
char *edged_http_answer_body_text (const EdgedHttpAnswer *a);

G_END_DECLS
