/* server-logs.c: GET /containerLogs/{ns}/{pod}/{container}, kubelet's
 * container logs, read from the CRI log file the runtime writes for the
 * container (its path from CRI ContainerStatus).
 *
 * The file holds lines "<rfc3339nano> <stdout|stderr> <P|F> <message>": P
 * is a partial line, joined with what follows up to the next F. Query, as
 * kubelet reads it: follow, previous (the last exited container of a
 * restarted one), timestamps (each line starts with its time and a space),
 * sinceSeconds / sinceTime (lines before are left out), tailLines (the last
 * N lines of the file), limitBytes (the answer stops after N bytes).
 *
 * Back-pressure: at most EDGED_SERVER_CHUNK bytes are read from the file
 * and handed to libsoup at a time; the next read waits until libsoup wrote
 * that chunk to the client (wrote-chunk), so a client that stops reading
 * stops the reading of the file and costs at most one chunk. While
 * following, the end of the file is polled every LOG_POLL_MS; a rotated
 * file (0.log renamed to 0.log.<time>, a new 0.log) is read to its end,
 * then the new one from its start. The follow ends when the container no
 * longer runs and its file has nothing more. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_POLL_MS       250
#define LOG_WATCH_S       1
#define LOG_MAX_LINE      (1024 * 1024)   /* a longer line (or partial run) is cut there */

typedef struct {
  gint               refs;
  EdgedServer       *srv;          /* NULL once the server stopped */
  SoupServerMessage *msg;          /* ref; NULL once finished */
  GList             *link;         /* in srv->logs */
  char              *ns, *pod, *container, *container_id;
  char              *path;
  int                fd;
  ino_t              ino;
  gboolean           follow, timestamps;
  gint64             since_us;     /* 0: none */
  gint64             tail;         /* -1: all */
  gint64             limit;        /* -1: none */
  gint64             sent;
  GByteArray        *in;           /* read, not yet a whole line */
  GString           *partial;      /* P chunks waiting for their F */
  char              *partial_ts;
  gboolean           writing;      /* a chunk is with libsoup */
  gboolean           ended;
  gboolean           saw_stopped;  /* the container stopped: one more read, then end */
  guint              poll;
  guint              watch;        /* checks that the client is still there */
} LogStream;

static void log_pump (LogStream *ls);

static gint64
time_us (GDateTime *t)
{
  return g_date_time_to_unix (t) * G_USEC_PER_SEC + g_date_time_get_microsecond (t);
}

static LogStream *
log_ref (LogStream *ls)
{
  ls->refs++;
  return ls;
}

static void
log_unref (gpointer data)
{
  LogStream *ls = data;
  if (--ls->refs)
    return;
  if (ls->fd >= 0)
    close (ls->fd);
  g_byte_array_unref (ls->in);
  g_string_free (ls->partial, TRUE);
  g_free (ls->partial_ts);
  g_free (ls->ns);
  g_free (ls->pod);
  g_free (ls->container);
  g_free (ls->container_id);
  g_free (ls->path);
  g_free (ls);
}

/* Lets go of the message and the server; the stream does nothing more. */
static void
log_release (LogStream *ls)
{
  if (ls->ended)
    return;
  ls->ended = TRUE;
  g_clear_handle_id (&ls->poll, g_source_remove);
  g_clear_handle_id (&ls->watch, g_source_remove);
  if (ls->msg)
    {
      g_signal_handlers_disconnect_by_data (ls->msg, ls);
      g_clear_object (&ls->msg);
    }
  if (ls->srv)
    {
      ls->srv->logs = g_list_delete_link (ls->srv->logs, ls->link);
      edged_server_stream_done (ls->srv);
      ls->srv = NULL;
    }
  log_unref (ls);
}

static void
on_log_finished (SoupServerMessage *msg, gpointer data)
{
  log_release (data);
}

static void
on_log_wrote_chunk (SoupServerMessage *msg, gpointer data)
{
  LogStream *ls = data;
  ls->writing = FALSE;
  log_pump (ls);
}

/* Answers with an error (before any byte of the body went out). */
static void
log_fail (LogStream *ls, guint status, const char *text)
{
  SoupServerMessage *msg = ls->msg;
  if (!msg)
    return;
  g_object_ref (msg);
  edged_server_error (msg, status, "%s", text);
  soup_server_message_unpause (msg);
  log_release (ls);
  g_object_unref (msg);
}

/* The body is complete: libsoup ends the chunked answer. */
static void
log_complete (LogStream *ls)
{
  SoupServerMessage *msg = ls->msg;
  if (!msg || ls->ended)
    return;
  g_clear_handle_id (&ls->poll, g_source_remove);
  soup_message_body_complete (soup_server_message_get_response_body (msg));
  soup_server_message_unpause (msg);
}

/* One whole line of the file: what it adds to out. */
static void
log_line (LogStream *ls, const char *line, gsize len, GString *out)
{
  const char *end = line + len;
  const char *sp1 = memchr (line, ' ', len);
  const char *sp2 = sp1 ? memchr (sp1 + 1, ' ', end - sp1 - 1) : NULL;
  const char *sp3 = sp2 ? memchr (sp2 + 1, ' ', end - sp2 - 1) : NULL;
  const char *tag, *text;
  gsize text_len;
  g_autofree char *ts = NULL;
  const char *stamp;

  if (!sp1 || !sp2 || sp2 + 1 >= end)
    return;                      /* not a CRI log line: skipped, as kubelet does */
  tag = sp2 + 1;
  text = sp3 ? sp3 + 1 : end;
  text_len = end - text;
  /* the time is copied only when something needs it */
  if (tag[0] == 'P' || ls->since_us || ls->timestamps)
    ts = g_strndup (line, sp1 - line);
  if (tag[0] == 'P')
    {
      if (!ls->partial_ts)
        ls->partial_ts = g_strdup (ts);
      if (ls->partial->len + text_len <= LOG_MAX_LINE)
        {
          g_string_append_len (ls->partial, text, text_len);
          return;
        }
      /* too long: it is cut here and goes out as a line */
    }
  stamp = ls->partial_ts ? ls->partial_ts : ts;
  if (ls->since_us)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (stamp, NULL);
      if (t && time_us (t) < ls->since_us)
        goto done;
    }
  if (ls->timestamps)
    {
      g_string_append (out, stamp);
      g_string_append_c (out, ' ');
    }
  g_string_append_len (out, ls->partial->str, ls->partial->len);
  g_string_append_len (out, text, text_len);
  g_string_append_c (out, '\n');
done:
  g_string_truncate (ls->partial, 0);
  g_clear_pointer (&ls->partial_ts, g_free);
}

/* Hands out to libsoup as the next chunk (cut at limitBytes). */
static void
log_write (LogStream *ls, GString *out)
{
  gsize n = out->len;
  if (ls->limit >= 0 && ls->sent + (gint64) n > ls->limit)
    n = (gsize) (ls->limit - ls->sent);
  if (n == 0)
    return;
  ls->sent += n;
  if (ls->srv)
    ls->srv->log_bytes += n;
  ls->writing = TRUE;
  soup_message_body_append (soup_server_message_get_response_body (ls->msg), SOUP_MEMORY_COPY,
                            out->str, n);
  soup_server_message_unpause (ls->msg);
}

/* Whether the container this stream reads still runs. */
static gboolean
log_container_runs (LogStream *ls)
{
  EdgedPod *pod = ls->srv ? edged_pod_find (ls->srv->edged, ls->ns, ls->pod) : NULL;
  int i = pod ? edged_pod_container_index (pod, ls->container) : -1;
  EdgedContainer *c = i >= 0 ? &pod->containers[i] : NULL;
  return c && c->id && !strcmp (c->id, ls->container_id)
         && c->state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
}

/* Every LOG_WATCH_S: has the client left? libsoup 3.2 neither reads a
 * connection whose answer is being streamed nor ends the message when a
 * write fails, so a follow whose client left would hold its slot (and read
 * the file) for ever. A readable socket that gives no byte is the client's
 * end: the socket is shut and the answer completed, so that libsoup
 * finishes the message. */
static gboolean
on_log_watch (gpointer data)
{
  LogStream *ls = data;
  GSocket *sock = ls->msg ? soup_server_message_get_socket (ls->msg) : NULL;
  GIOCondition cond;
  char c;

  if (!sock)
    return G_SOURCE_CONTINUE;
  cond = g_socket_condition_check (sock, G_IO_IN | G_IO_HUP | G_IO_ERR);
  if ((cond & (G_IO_HUP | G_IO_ERR))
      || ((cond & G_IO_IN) && recv (g_socket_get_fd (sock), &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0))
    {
      ls->watch = 0;
      g_socket_shutdown (sock, TRUE, TRUE, NULL);
      ls->writing = FALSE;
      log_complete (ls);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_log_poll (gpointer data)
{
  LogStream *ls = data;
  ls->poll = 0;
  log_pump (ls);
  return G_SOURCE_REMOVE;
}

/* At the end of the file while following: was it rotated (a new file at
 * the path)? Then the new one is read from its start. */
static gboolean
log_reopen_if_rotated (LogStream *ls)
{
  struct stat st;
  int fd;
  if (stat (ls->path, &st) != 0 || st.st_ino == ls->ino)
    return FALSE;
  fd = open (ls->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return FALSE;
  close (ls->fd);
  ls->fd = fd;
  ls->ino = st.st_ino;
  return TRUE;
}

/* Reads on until a chunk is with libsoup, the file ends, or the answer is
 * complete. */
static void
log_pump (LogStream *ls)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree guint8 *buf = g_malloc (EDGED_SERVER_CHUNK);

  while (!ls->writing && !ls->ended && ls->msg)
    {
      ssize_t n;
      gsize start = 0;

      if (ls->limit >= 0 && ls->sent >= ls->limit)
        {
          log_complete (ls);
          return;
        }
      n = read (ls->fd, buf, EDGED_SERVER_CHUNK);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          log_complete (ls);
          return;
        }
      if (n == 0)
        {
          if (!ls->follow)
            {
              log_complete (ls);
              return;
            }
          if (log_reopen_if_rotated (ls))
            continue;
          if (ls->saw_stopped)
            {
              log_complete (ls);
              return;
            }
          if (!log_container_runs (ls))
            {
              /* it stopped: what it wrote last is read once more */
              ls->saw_stopped = TRUE;
              continue;
            }
          ls->poll = g_timeout_add (LOG_POLL_MS, on_log_poll, ls);
          return;
        }
      g_byte_array_append (ls->in, buf, (guint) n);
      for (gsize i = 0; i < ls->in->len; i++)
        if (ls->in->data[i] == '\n')
          {
            log_line (ls, (const char *) ls->in->data + start, i - start, out);
            start = i + 1;
          }
      if (start == 0 && ls->in->len > LOG_MAX_LINE)
        start = ls->in->len;                /* a line without end: dropped */
      g_byte_array_remove_range (ls->in, 0, (guint) start);
      if (out->len)
        {
          log_write (ls, out);
          g_string_truncate (out, 0);
        }
    }
}

/* Where the last tail lines of the file start (a last line without its
 * newline counts as one). */
static off_t
tail_offset (int fd, gint64 tail)
{
  off_t end = lseek (fd, 0, SEEK_END), pos = end;
  gint64 seen = 0;
  char buf[8192];

  if (end <= 0 || tail == 0)
    return end > 0 ? end : 0;
  while (pos > 0)
    {
      off_t from = pos > (off_t) sizeof buf ? pos - (off_t) sizeof buf : 0;
      ssize_t n = pread (fd, buf, (size_t) (pos - from), from);
      if (n <= 0)
        return 0;
      for (ssize_t i = n - 1; i >= 0; i--)
        if (buf[i] == '\n' && from + i != end - 1 && ++seen == tail)
          return from + i + 1;
      pos = from;
    }
  return 0;
}

static void
on_log_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  LogStream *ls = data;
  Runtime__V1__ContainerStatusResponse *r = (Runtime__V1__ContainerStatusResponse *) response;
  struct stat st;

  if (ls->ended)
    {
      if (response)
        protobuf_c_message_free_unpacked (response, NULL);
      return;
    }
  if (error)
    {
      g_autofree char *text = g_strdup_printf ("container \"%s\" in pod \"%s\": %s", ls->container,
                                               ls->pod, error->message);
      log_fail (ls, g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND)
                      ? SOUP_STATUS_NOT_FOUND : SOUP_STATUS_INTERNAL_SERVER_ERROR, text);
      return;
    }
  ls->path = g_strdup (r->status ? r->status->log_path : "");
  protobuf_c_message_free_unpacked (response, NULL);
  ls->fd = *ls->path ? open (ls->path, O_RDONLY | O_CLOEXEC) : -1;
  if (ls->fd < 0 || fstat (ls->fd, &st) != 0)
    {
      g_autofree char *text = g_strdup_printf ("the log of container \"%s\" in pod \"%s\" cannot be "
                                               "read: %s: %s", ls->container, ls->pod,
                                               *ls->path ? ls->path : "(no log path)", g_strerror (errno));
      log_fail (ls, SOUP_STATUS_NOT_FOUND, text);
      return;
    }
  ls->ino = st.st_ino;
  if (ls->follow)
    ls->watch = g_timeout_add_seconds (LOG_WATCH_S, on_log_watch, ls);
  if (ls->tail >= 0)
    lseek (ls->fd, tail_offset (ls->fd, ls->tail), SEEK_SET);
  else
    lseek (ls->fd, 0, SEEK_SET);
  soup_server_message_set_status (ls->msg, SOUP_STATUS_OK, NULL);
  soup_message_headers_set_content_type (soup_server_message_get_response_headers (ls->msg),
                                         "text/plain", NULL);
  soup_message_headers_set_encoding (soup_server_message_get_response_headers (ls->msg),
                                     SOUP_ENCODING_CHUNKED);
  log_pump (ls);
  /* nothing to write yet: the headers go out now */
  if (!ls->writing && ls->msg && !ls->ended)
    soup_server_message_unpause (ls->msg);
}

/* GET /containerLogs/{ns}/{pod}/{container}. */
void
edged_server_logs (EdgedServer *srv, SoupServerMessage *msg, char **parts, GHashTable *query)
{
  g_autoptr (GError) error = NULL;
  gboolean follow = FALSE, previous = FALSE, timestamps = FALSE;
  gint64 since_s = 0, tail = -1, limit = -1;
  gboolean has_since = FALSE, has_tail = FALSE, has_limit = FALSE;
  GPtrArray *since_time = g_hash_table_lookup (query, "sinceTime");
  gint64 since_us = 0;
  EdgedPod *pod;
  EdgedContainer *c;
  const char *id;
  int i;
  LogStream *ls;
  Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;

  if (g_strv_length (parts) != 4 || !*parts[1] || !*parts[2] || !*parts[3])
    {
      edged_server_error (msg, SOUP_STATUS_BAD_REQUEST,
                          "the path must be /containerLogs/{namespace}/{pod}/{container}");
      return;
    }
  if (!edged_server_bool_param (query, "follow", &follow, &error)
      || !edged_server_bool_param (query, "previous", &previous, &error)
      || !edged_server_bool_param (query, "timestamps", &timestamps, &error)
      || !edged_server_int_param (query, "sinceSeconds", 1, &since_s, &has_since, &error)
      || !edged_server_int_param (query, "tailLines", 0, &tail, &has_tail, &error)
      || !edged_server_int_param (query, "limitBytes", 1, &limit, &has_limit, &error))
    {
      edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "%s", error->message);
      return;
    }
  if (since_time && since_time->len)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_iso8601 (g_ptr_array_index (since_time, 0), NULL);
      if (!t)
        {
          edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "sinceTime: \"%s\" is not an RFC 3339 time",
                              (char *) g_ptr_array_index (since_time, 0));
          return;
        }
      if (has_since)
        {
          edged_server_error (msg, SOUP_STATUS_BAD_REQUEST,
                              "at most one of sinceTime or sinceSeconds may be specified");
          return;
        }
      since_us = time_us (t);
    }
  else if (has_since)
    since_us = g_get_real_time () - MIN (since_s, G_MAXINT64 / G_USEC_PER_SEC / 2) * G_USEC_PER_SEC;
  pod = edged_pod_find (srv->edged, parts[1], parts[2]);
  if (!pod)
    {
      edged_server_error (msg, SOUP_STATUS_NOT_FOUND, "pod \"%s/%s\" does not exist", parts[1], parts[2]);
      return;
    }
  i = edged_pod_container_index (pod, parts[3]);
  if (i < 0)
    {
      edged_server_error (msg, SOUP_STATUS_NOT_FOUND, "container \"%s\" not found in pod \"%s/%s\"",
                          parts[3], parts[1], parts[2]);
      return;
    }
  c = &pod->containers[i];
  id = previous ? c->dead_id : c->id;
  if (!id)
    {
      if (previous)
        edged_server_error (msg, SOUP_STATUS_BAD_REQUEST,
                            "previous terminated container \"%s\" in pod \"%s\" not found", parts[3], parts[2]);
      else
        edged_server_error (msg, SOUP_STATUS_BAD_REQUEST, "container \"%s\" in pod \"%s\" is waiting to start: %s",
                            parts[3], parts[2], c->waiting_reason ? c->waiting_reason : "ContainerCreating");
      return;
    }
  if (!edged_server_stream_admit (srv, msg))
    return;
  ls = g_new0 (LogStream, 1);
  ls->refs = 1;
  ls->srv = srv;
  ls->msg = g_object_ref (msg);
  ls->fd = -1;
  ls->ns = g_strdup (parts[1]);
  ls->pod = g_strdup (parts[2]);
  ls->container = g_strdup (parts[3]);
  ls->container_id = g_strdup (id);
  ls->follow = follow && !previous;
  ls->timestamps = timestamps;
  ls->since_us = since_us;
  ls->tail = has_tail ? tail : -1;
  ls->limit = has_limit ? limit : -1;
  ls->in = g_byte_array_new ();
  ls->partial = g_string_new (NULL);
  srv->logs = g_list_prepend (srv->logs, ls);
  ls->link = srv->logs;
  g_signal_connect (msg, "finished", G_CALLBACK (on_log_finished), ls);
  g_signal_connect (msg, "disconnected", G_CALLBACK (on_log_finished), ls);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (on_log_wrote_chunk), ls);
  soup_server_message_pause (msg);
  req.container_id = ls->container_id;
  edged_cri_invoke (srv->edged->runtime, &edged_cri_container_status, &req.base,
                    (guint) srv->edged->request_timeout_ms, on_log_status, log_ref (ls), log_unref);
}

/* Ends every log stream (the server stops). */
void
edged_server_logs_stop (EdgedServer *srv)
{
  while (srv->logs)
    {
      LogStream *ls = srv->logs->data;
      log_release (ls);
    }
}
