/* ws-conn.c: a websocket client connection on the main loop (see
 * ws-conn.h). */
#include "ws-conn.h"

#include <string.h>

#define READ_CHUNK      (16 * 1024)   /* one non-blocking read */
#define READS_PER_TURN  16            /* reads per main loop dispatch, then others get a turn */
#define KEEP_CAPACITY   (64 * 1024)   /* buffers grown past this are given back when empty */
#define CLOSE_LINGER_MS 2000          /* how long the answer to the peer's close may take */

typedef enum {
  ST_OPEN,
  ST_CLOSING,    /* the peer's close came: answering it, then done */
  ST_FAILED,     /* an error: error and closed are due */
  ST_CLOSED,     /* closed is due or told */
} State;

struct _EhWsConn {
  int                    refs;
  gboolean               freed;      /* eh_ws_conn_free ran: no callbacks */
  State                  state;
  GIOStream             *stream;
  GPollableInputStream  *in;
  GPollableOutputStream *out;
  EhWsConnEvents         ev;
  gpointer               user;
  gsize                  max_message;
  guint                  max_queued;

  /* reading */
  GSource               *read_source;
  guint8                *rbuf;
  GByteArray            *acc;        /* bytes read, not yet parsed into frames */
  EhWsAssembler          msg;

  /* writing */
  GSource               *write_source;
  GByteArray            *pending;    /* frames waiting, encoded one after the other */
  guint                  pending_frames;
  GByteArray            *batch;      /* frames being written (the pending ones taken at once) */
  gsize                  batch_off;

  guint                  done_source;    /* the idle that tells error and closed */
  guint                  linger_source;  /* ends a close answer that cannot be written */
  GError                *error;
  guint16                close_code;
  char                  *close_reason;
};

static void arm_read  (EhWsConn *c);
static void arm_write (EhWsConn *c);

static EhWsConn *
conn_ref (EhWsConn *c)
{
  c->refs++;
  return c;
}

static void
conn_unref (EhWsConn *c)
{
  if (--c->refs > 0)
    return;
  g_clear_pointer (&c->pending, g_byte_array_unref);
  g_clear_pointer (&c->batch, g_byte_array_unref);
  g_clear_pointer (&c->acc, g_byte_array_unref);
  eh_ws_assembler_clear (&c->msg);
  g_free (c->rbuf);
  g_clear_error (&c->error);
  g_free (c->close_reason);
  g_clear_object (&c->stream);
  g_free (c);
}

/* Detaches and forgets a source. */
static void
drop_source (GSource **s)
{
  if (*s)
    {
      g_source_destroy (*s);
      g_source_unref (*s);
      *s = NULL;
    }
}

/* Stops all I/O: sources, timers, and the stream (its close does not
 * block: the TLS close_notify goes if it can, then the socket closes). */
static void
stop_io (EhWsConn *c)
{
  drop_source (&c->read_source);
  drop_source (&c->write_source);
  if (c->linger_source)
    g_source_remove (c->linger_source);
  c->linger_source = 0;
  if (!g_io_stream_is_closed (c->stream))
    g_io_stream_close (c->stream, NULL, NULL);
}

/* Tells error (if any) and closed. */
static gboolean
on_done (gpointer data)
{
  EhWsConn *c = data;
  c->done_source = 0;
  conn_ref (c);
  if (c->error && c->ev.error && !c->freed)
    c->ev.error (c, c->error, c->user);
  c->state = ST_CLOSED;
  if (c->ev.closed && !c->freed)
    c->ev.closed (c, c->user);
  conn_unref (c);
  return G_SOURCE_REMOVE;
}

/* Ends the connection: I/O stops now, error and closed are told from an
 * idle callback. */
static void
finish (EhWsConn *c, GError *error)
{
  if (c->state == ST_FAILED || c->state == ST_CLOSED)
    {
      g_clear_error (&error);
      return;
    }
  c->state = error ? ST_FAILED : ST_CLOSED;
  c->error = error;
  stop_io (c);
  if (!c->done_source)
    c->done_source = g_idle_add (on_done, c);
}

/* Writes the batch, then more queued frames, until done or the stream
 * would block. FALSE when the connection ended. */
static gboolean
write_some (EhWsConn *c)
{
  for (;;)
    {
      GError *error = NULL;
      gssize n;
      if (c->batch_off == c->batch->len)
        {
          /* the written batch becomes the next pending buffer (given back
           * if a big message grew it) and what is pending is written */
          GByteArray *done = c->batch;
          if (done->len > KEEP_CAPACITY)
            {
              g_byte_array_unref (done);
              done = g_byte_array_new ();
            }
          g_byte_array_set_size (done, 0);
          c->batch = c->pending;
          c->batch_off = 0;
          c->pending = done;
          c->pending_frames = 0;
          if (c->batch->len == 0)
            {
              if (c->state == ST_CLOSING)
                finish (c, NULL);   /* the answer to the peer's close is out */
              return c->state == ST_OPEN;
            }
        }
      n = g_pollable_output_stream_write_nonblocking (c->out, c->batch->data + c->batch_off,
                                                      c->batch->len - c->batch_off, NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_error_free (error);
          return TRUE;
        }
      if (n < 0 && c->state == ST_CLOSING)
        {
          /* the peer that closed does not take our answer: done anyway */
          g_error_free (error);
          finish (c, NULL);
          return FALSE;
        }
      if (n < 0)
        {
          g_prefix_error (&error, "writing to the websocket failed: ");
          finish (c, error);
          return FALSE;
        }
      c->batch_off += (gsize) n;
    }
}

/* The stream can take more. */
static gboolean
on_writable (GObject *stream, gpointer data)
{
  EhWsConn *c = data;
  drop_source (&c->write_source);
  if (write_some (c))
    arm_write (c);
  return G_SOURCE_REMOVE;
}

/* Waits until the stream can take what is queued. */
static void
arm_write (EhWsConn *c)
{
  if (c->write_source || c->state >= ST_FAILED || (c->batch_off == c->batch->len && c->pending->len == 0))
    return;
  c->write_source = g_pollable_output_stream_create_source (c->out, NULL);
  g_source_set_callback (c->write_source, G_SOURCE_FUNC (on_writable), c, NULL);
  g_source_attach (c->write_source, NULL);
}

/* Queues a frame, after those waiting; they are written together at the
 * next turn of the main loop. */
static void
enqueue (EhWsConn *c, guint8 opcode, const guint8 *data, gsize len)
{
  eh_ws_frame_append (c->pending, TRUE, opcode, NULL, 0, data, len);
  c->pending_frames++;
  arm_write (c);
}

/* The answer to the peer's close could not be written in time. */
static gboolean
on_linger_over (gpointer data)
{
  EhWsConn *c = data;
  c->linger_source = 0;
  finish (c, NULL);
  return G_SOURCE_REMOVE;
}

/* A protocol error: close code (best effort) and the error. */
static void
protocol_error (EhWsConn *c, guint16 code, GError *error)
{
  g_autoptr (GByteArray) p = eh_ws_close_payload (code, error->message);
  g_autoptr (GBytes) f = eh_ws_frame_new (EH_WS_CLOSE, NULL, 0, p->data, p->len);
  gsize len;
  const guint8 *d = g_bytes_get_data (f, &len);
  /* only between frames: a half-written frame cannot be interrupted */
  if (c->batch_off == c->batch->len)
    g_pollable_output_stream_write_nonblocking (c->out, d, len, NULL, NULL);
  finish (c, error);
}

/* A control frame. FALSE when the connection ended. */
static gboolean
control_frame (EhWsConn *c, const EhWsFrame *f)
{
  GError *error = NULL;
  switch (f->opcode)
    {
    case EH_WS_PING:
      if (c->state == ST_OPEN)
        enqueue (c, EH_WS_PONG, f->payload, f->len);
      return TRUE;
    case EH_WS_PONG:
      if (c->ev.pong && c->state == ST_OPEN)
        c->ev.pong (c, f->payload, f->len, c->user);
      return TRUE;
    case EH_WS_CLOSE:
      {
        guint16 code;
        if (!eh_ws_close_parse (f->payload, f->len, &code, &c->close_reason, &error))
          {
            protocol_error (c, EH_WS_CLOSE_PROTOCOL_ERROR, error);
            return FALSE;
          }
        c->close_code = code;
        if (c->state != ST_OPEN)
          return FALSE;
        /* the answer: the same code (none if none came), after what is queued */
        c->state = ST_CLOSING;
        if (code == EH_WS_CLOSE_NO_STATUS)
          enqueue (c, EH_WS_CLOSE, NULL, 0);
        else
          {
            guint8 b[2] = { (guint8) (code >> 8), (guint8) code };
            enqueue (c, EH_WS_CLOSE, b, 2);
          }
        drop_source (&c->read_source);
        c->linger_source = g_timeout_add (CLOSE_LINGER_MS, on_linger_over, c);
        return FALSE;
      }
    default:
      g_assert_not_reached ();
    }
  return TRUE;
}

/* Parses the frames read so far. FALSE when reading is over. */
static gboolean
parse_frames (EhWsConn *c)
{
  gsize off = 0;
  gboolean go_on = TRUE;

  while (go_on && !c->freed && c->state == ST_OPEN)
    {
      GError *error = NULL;
      EhWsFrame f;
      guint8 opcode;
      const guint8 *data;
      gsize len;
      int r = eh_ws_frame_parse (c->acc->data + off, c->acc->len - off, c->max_message,
                                 EH_WS_PARSE_FROM_SERVER, &f, &error);
      if (r == 0)
        break;
      if (r < 0)
        {
          g_prefix_error (&error, "bad frame from the peer: ");
          protocol_error (c, g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE)
                          ? EH_WS_CLOSE_TOO_BIG : EH_WS_CLOSE_PROTOCOL_ERROR, error);
          return FALSE;
        }
      off += f.frame_len;
      if (f.opcode >= EH_WS_CLOSE)
        {
          go_on = control_frame (c, &f);
          continue;
        }
      r = eh_ws_assembler_feed (&c->msg, &f, &opcode, &data, &len, &error);
      if (r < 0)
        {
          g_prefix_error (&error, "bad message from the peer: ");
          protocol_error (c, g_error_matches (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE)
                          ? EH_WS_CLOSE_TOO_BIG : EH_WS_CLOSE_PROTOCOL_ERROR, error);
          return FALSE;
        }
      if (r > 0 && c->ev.message)
        c->ev.message (c, opcode, data, len, c->user);
    }
  if (c->freed)
    return FALSE;
  g_byte_array_remove_range (c->acc, 0, (guint) MIN (off, c->acc->len));
  if (c->acc->len == 0 && off > KEEP_CAPACITY)
    {
      /* give back what a big frame grew */
      g_byte_array_unref (c->acc);
      c->acc = g_byte_array_new ();
    }
  if (!c->msg.active && c->msg.buf->len > KEEP_CAPACITY)
    {
      g_byte_array_unref (c->msg.buf);
      c->msg.buf = g_byte_array_new ();
    }
  return go_on && c->state == ST_OPEN;
}

/* Bytes can be read. */
static gboolean
on_readable (GObject *stream, gpointer data)
{
  EhWsConn *c = data;
  gboolean again = TRUE;

  drop_source (&c->read_source);
  conn_ref (c);
  for (int i = 0; i < READS_PER_TURN && again; i++)
    {
      GError *error = NULL;
      gssize n = g_pollable_input_stream_read_nonblocking (c->in, c->rbuf, READ_CHUNK, NULL, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_error_free (error);
          break;
        }
      if (n < 0)
        {
          g_prefix_error (&error, "reading from the websocket failed: ");
          finish (c, error);
          again = FALSE;
        }
      else if (n == 0)
        {
          finish (c, NULL);   /* the peer closed the connection (with or without a close frame) */
          again = FALSE;
        }
      else
        {
          g_byte_array_append (c->acc, c->rbuf, (guint) n);
          again = parse_frames (c);
        }
    }
  if (again && !c->freed)
    arm_read (c);
  conn_unref (c);
  return G_SOURCE_REMOVE;
}

/* Waits for bytes from the peer. */
static void
arm_read (EhWsConn *c)
{
  if (c->read_source || c->state != ST_OPEN)
    return;
  c->read_source = g_pollable_input_stream_create_source (c->in, NULL);
  g_source_set_callback (c->read_source, G_SOURCE_FUNC (on_readable), c, NULL);
  g_source_attach (c->read_source, NULL);
}

/* Starts a websocket. */
EhWsConn *
eh_ws_conn_new (GIOStream *stream, gsize max_message, guint max_queued, const EhWsConnEvents *events,
                gpointer user)
{
  EhWsConn *c = g_new0 (EhWsConn, 1);
  c->refs = 1;
  c->stream = g_object_ref (stream);
  c->in = G_POLLABLE_INPUT_STREAM (g_io_stream_get_input_stream (stream));
  c->out = G_POLLABLE_OUTPUT_STREAM (g_io_stream_get_output_stream (stream));
  c->ev = *events;
  c->user = user;
  c->max_message = max_message;
  c->max_queued = MAX (max_queued, 1);
  c->rbuf = g_malloc (READ_CHUNK);
  c->acc = g_byte_array_new ();
  c->batch = g_byte_array_new ();
  c->pending = g_byte_array_new ();
  eh_ws_assembler_init (&c->msg, max_message);
  arm_read (c);
  return c;
}

/* Stops a websocket. */
void
eh_ws_conn_free (EhWsConn *c, guint16 code)
{
  if (!c)
    return;
  c->freed = TRUE;
  if (c->state == ST_OPEN && c->batch_off == c->batch->len)
    {
      guint8 b[2] = { (guint8) (code >> 8), (guint8) code };
      g_autoptr (GBytes) f = eh_ws_frame_new (EH_WS_CLOSE, NULL, 0, b, 2);
      gsize len;
      const guint8 *d = g_bytes_get_data (f, &len);
      g_pollable_output_stream_write_nonblocking (c->out, d, len, NULL, NULL);
    }
  c->state = ST_CLOSED;
  stop_io (c);
  if (c->done_source)
    g_source_remove (c->done_source);
  c->done_source = 0;
  conn_unref (c);
}

/* Whether messages can be sent. */
gboolean
eh_ws_conn_is_open (EhWsConn *c)
{
  return c && c->state == ST_OPEN;
}

/* Queues one frame. */
gboolean
eh_ws_conn_send (EhWsConn *c, guint8 opcode, const guint8 *data, gsize len)
{
  g_return_val_if_fail (opcode < EH_WS_CLOSE || len <= EH_WS_CONTROL_MAX, FALSE);
  if (!eh_ws_conn_is_open (c))
    return FALSE;
  if (c->pending_frames >= c->max_queued)
    {
      finish (c, g_error_new (G_IO_ERROR, G_IO_ERROR_NO_SPACE, "the peer does not read: %u frames wait to "
                              "be written", c->pending_frames));
      return FALSE;
    }
  enqueue (c, opcode, data, len);
  return TRUE;
}

/* The peer's close code. */
guint16
eh_ws_conn_get_close_code (EhWsConn *c)
{
  return c->close_code;
}

/* The peer's close reason. */
const char *
eh_ws_conn_get_close_reason (EhWsConn *c)
{
  return c->close_reason;
}

/* The stream. */
GIOStream *
eh_ws_conn_get_stream (EhWsConn *c)
{
  return c->stream;
}

/* Frames waiting. */
guint
eh_ws_conn_queued (EhWsConn *c)
{
  return c->pending_frames;
}
