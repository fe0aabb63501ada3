/* control.c: a unix socket through which operators and tests look into a
 * running host and put messages on its bus.
 *
 * One command per connection, one line of at most 256 KiB (issue 9's 200 KB
 * nesting fits; bigger bus messages come from plugins, not from this
 * socket), sent within 30 s. The answer is written without blocking; a
 * client that takes none of it for 30 s is dropped (logged). At most 8
 * clients at a time: further ones wait in the listen queue until one leaves. The answer's
 * first line is `ok` or `error: <text>`; data follows. Commands:
 *   members                       the bus members and their counters
 *   plugins                       the plugin table of --list-plugins
 *   send <module> <json>          queue a message for a module
 *   group <group> <json>          queue a message for a group
 *   call <module> <ms> <json>     sync call; the reply message follows
 * The socket is created with mode 0600: it is as powerful as root. */
#include "config.h"

#include "control.h"
#include "host.h"

#include <errno.h>
#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* The longest command line accepted, newline excluded. */
#define MAX_LINE (256u << 10)
#define READ_CHUNK 16384
/* Clients served at a time; the next wait in the listen queue. */
#define MAX_CLIENTS 8
/* Seconds a client has to send its command line. */
#define LINE_TIMEOUT_S 30
/* Seconds the answer may wait without the client taking any of it. */
#define WRITE_TIMEOUT_S 30

struct _EcControl {
  EcHost          *host;
  EcEndpoint      *endpoint;
  GSocketService  *service;
  char            *path;
  GHashTable      *clients;   /* Client* */
  gboolean         paused;    /* MAX_CLIENTS reached: not accepting */
};

typedef struct {
  EcControl         *control;  /* NULL once the control is freed */
  GSocketConnection *conn;
  GCancellable      *cancel;
  GString           *line;
  guint8            *buf;
  guint              line_timer;  /* LINE_TIMEOUT_S, until the newline */
  GBytes            *answer;      /* being written */
  gsize              written;     /* bytes of answer the client took */
  guint              write_timer; /* WRITE_TIMEOUT_S without progress */
  gboolean           write_stalled;
  gboolean           calling;  /* waits for a bus reply, no I/O pending */
} Client;

static void
client_free (Client *c)
{
  EcControl *ctl = c->control;
  if (ctl)
    {
      g_hash_table_remove (ctl->clients, c);
      if (ctl->paused && g_hash_table_size (ctl->clients) < MAX_CLIENTS)
        {
          ctl->paused = FALSE;
          g_socket_service_start (ctl->service);
        }
    }
  g_clear_handle_id (&c->line_timer, g_source_remove);
  g_clear_handle_id (&c->write_timer, g_source_remove);
  g_clear_pointer (&c->answer, g_bytes_unref);
  g_io_stream_close (G_IO_STREAM (c->conn), NULL, NULL);
  g_object_unref (c->conn);
  g_object_unref (c->cancel);
  g_string_free (c->line, TRUE);
  g_free (c->buf);
  g_free (c);
}

/* WRITE_TIMEOUT_S passed without the client taking a byte: the pending
 * write is cancelled, and on_written drops the client. */
static gboolean
on_write_timeout (gpointer data)
{
  Client *c = data;
  c->write_timer = 0;
  c->write_stalled = TRUE;
  g_cancellable_cancel (c->cancel);
  return G_SOURCE_REMOVE;
}

static void write_more (Client *c);

static void
on_written (GObject *stream, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  gssize n = g_output_stream_write_finish (G_OUTPUT_STREAM (stream), res, NULL);

  g_clear_handle_id (&c->write_timer, g_source_remove);
  if (n > 0)
    c->written += (gsize) n;
  if (n <= 0 || c->written >= g_bytes_get_size (c->answer) || !c->control)
    {
      if (c->write_stalled && c->control)
        g_warning (_("control socket: a client took %lu of its %lu answer bytes, then nothing for %d s: "
                     "dropped"),
                   (unsigned long) c->written, (unsigned long) g_bytes_get_size (c->answer), WRITE_TIMEOUT_S);
      client_free (c);
      return;
    }
  write_more (c);
}

/* Writes the rest of the answer without blocking; each write that the
 * client takes nothing of within WRITE_TIMEOUT_S ends the connection. */
static void
write_more (Client *c)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (c->conn));
  gsize len;
  const guint8 *data = g_bytes_get_data (c->answer, &len);
  c->write_timer = g_timeout_add_seconds (WRITE_TIMEOUT_S, on_write_timeout, c);
  g_output_stream_write_async (out, data + c->written, len - c->written, G_PRIORITY_DEFAULT, c->cancel,
                               on_written, c);
}

/* Writes the answer and closes the connection. Takes text. */
static void
answer (Client *c, char *text)
{
  g_clear_handle_id (&c->line_timer, g_source_remove);
  c->answer = g_bytes_new_take (text, strlen (text));
  c->written = 0;
  write_more (c);
}

static void
answer_error (Client *c, const char *text)
{
  answer (c, g_strdup_printf ("error: %s\n", text));
}

static void
on_reply (EcMessage *reply, const GError *error, gpointer data)
{
  Client *c = data;
  c->calling = FALSE;
  if (error)
    {
      answer_error (c, error->message);
      return;
    }
  g_autofree char *json = ec_message_to_json (reply, NULL);
  answer (c, g_strdup_printf ("ok\n%s\n", json));
}

/* Splits "word rest" at the first space. */
static char *
next_word (char **rest)
{
  char *s = *rest, *sp;
  while (*s == ' ')
    s++;
  sp = strchr (s, ' ');
  if (sp)
    {
      *sp = '\0';
      *rest = sp + 1;
    }
  else
    *rest = s + strlen (s);
  return s;
}

static void
run_command (Client *c, char *line)
{
  EcControl *ctl = c->control;
  char *rest = line;
  const char *cmd = next_word (&rest);
  g_autoptr (GError) error = NULL;

  if (strcmp (cmd, "members") == 0)
    {
      g_autofree char *table = ec_bus_describe (ec_host_get_bus (ctl->host));
      answer (c, g_strdup_printf ("ok\n%s", table));
    }
  else if (strcmp (cmd, "plugins") == 0)
    {
      g_autofree char *table = ec_host_describe_plugins (ctl->host);
      answer (c, g_strdup_printf ("ok\n%s", table));
    }
  else if (strcmp (cmd, "send") == 0 || strcmp (cmd, "group") == 0 || strcmp (cmd, "call") == 0)
    {
      const char *target = next_word (&rest);
      guint64 timeout = 0;
      g_autoptr (EcMessage) msg = NULL;
      if (strcmp (cmd, "call") == 0
          && !g_ascii_string_to_unsigned (next_word (&rest), 10, 1, G_MAXUINT, &timeout, NULL))
        {
          answer_error (c, _("usage: call <module> <timeout-ms> <message json>"));
          return;
        }
      if (!*target)
        {
          answer_error (c, _("no destination given"));
          return;
        }
      msg = ec_message_new_from_json (rest, -1, &error);
      if (!msg)
        {
          answer_error (c, error->message);
          return;
        }
      if (strcmp (cmd, "call") == 0)
        {
          c->calling = TRUE;
          ec_endpoint_call (ctl->endpoint, target, msg, (guint) timeout, on_reply, c, NULL);
          return;
        }
      if ((strcmp (cmd, "send") == 0 && !ec_endpoint_send (ctl->endpoint, target, msg, &error))
          || (strcmp (cmd, "group") == 0
              && !ec_endpoint_send_to_group (ctl->endpoint, target, msg, &error)))
        answer_error (c, error->message);
      else
        answer (c, g_strdup_printf ("ok\n%s\n", ec_message_get_id (msg)));
    }
  else
    answer_error (c, _("unknown command; try members, plugins, send, group or call"));
}

/* Reads up to the first newline, at most MAX_LINE bytes, then runs the
 * command. A client that leaves before its newline is dropped unanswered. */
static void
on_read (GObject *stream, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  g_autoptr (GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (stream), res, &error);
  gsize old_len = c->line->len;
  char *nl;

  if (n < 0 && c->control && !c->line_timer
      && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* on_line_timeout: a fresh cancellable for the answer */
      g_object_unref (c->cancel);
      c->cancel = g_cancellable_new ();
      answer_error (c, _("no whole command line within 30 seconds"));
      return;
    }
  if (n <= 0 || !c->control)
    {
      client_free (c);
      return;
    }
  g_string_append_len (c->line, (const char *) c->buf, n);
  nl = memchr (c->line->str + old_len, '\n', n);
  if (nl)
    g_string_truncate (c->line, nl - c->line->str);
  if (c->line->len > MAX_LINE)
    {
      g_autofree char *text = g_strdup_printf (_("command line longer than %u bytes"), MAX_LINE);
      answer_error (c, text);
      return;
    }
  if (!nl)
    {
      g_input_stream_read_async (G_INPUT_STREAM (stream), c->buf, READ_CHUNK, G_PRIORITY_DEFAULT,
                                 c->cancel, on_read, c);
      return;
    }
  g_clear_handle_id (&c->line_timer, g_source_remove);
  if (!g_utf8_validate (c->line->str, c->line->len, NULL))
    {
      answer_error (c, _("the command is not UTF-8 text"));
      return;
    }
  run_command (c, c->line->str);
}

/* LINE_TIMEOUT_S passed without a whole command line: the pending read is
 * cancelled, and on_read answers with an error. */
static gboolean
on_line_timeout (gpointer data)
{
  Client *c = data;
  c->line_timer = 0;
  g_cancellable_cancel (c->cancel);
  return G_SOURCE_REMOVE;
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  EcControl *ctl = data;
  Client *c = g_new0 (Client, 1);
  c->control = ctl;
  c->conn = g_object_ref (conn);
  c->cancel = g_cancellable_new ();
  c->line = g_string_new (NULL);
  c->buf = g_malloc (READ_CHUNK);
  c->line_timer = g_timeout_add_seconds (LINE_TIMEOUT_S, on_line_timeout, c);
  g_hash_table_add (ctl->clients, c);
  if (g_hash_table_size (ctl->clients) >= MAX_CLIENTS)
    {
      ctl->paused = TRUE;   /* the next connections wait in the listen queue */
      g_socket_service_stop (service);
    }
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (conn)), c->buf, READ_CHUNK,
                             G_PRIORITY_DEFAULT, c->cancel, on_read, c);
  return TRUE;
}

static void
on_control_message (gpointer data, EcMessage *msg)
{
  g_debug ("control endpoint received message %s (%s %s)", ec_message_get_id (msg),
           ec_message_get_operation (msg), ec_message_get_resource (msg));
}

/* Listens on path (created 0600; a stale socket is replaced) and joins the
 * bus as member `edgecore-ctl` of group `host`. */
EcControl *
ec_control_new (EcHost *host, const char *path, GError **error)
{
  g_autoptr (GSocketAddress) addr = NULL;
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = NULL;
  EcControl *ctl;
  GStatBuf st;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", dir, g_strerror (errno));
      return NULL;
    }
  if (g_lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    g_unlink (path);
  ctl = g_new0 (EcControl, 1);
  ctl->host = host;
  ctl->path = g_strdup (path);
  ctl->service = g_socket_service_new ();
  ctl->clients = g_hash_table_new (NULL, NULL);
  /* Bind and listen under a temporary name, then rename: the socket only
   * appears at path once it accepts connections (a client that waits for
   * the file never meets ECONNREFUSED). Paths too long for the temporary
   * name are bound directly. */
  tmp = g_strdup_printf ("%s.%d.new", path, (int) getpid ());
  if (strlen (tmp) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    g_clear_pointer (&tmp, g_free);
  addr = g_unix_socket_address_new (tmp ? tmp : path);
  mode_t old = umask (0077);
  gboolean ok = g_socket_listener_add_address (G_SOCKET_LISTENER (ctl->service), addr,
                                               G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                               NULL, NULL, error);
  umask (old);
  if (ok)
    g_chmod (tmp ? tmp : path, 0600);   /* the socket was created 0700 */
  if (ok && tmp && g_rename (tmp, path) != 0)
    {
      int err = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "%s: %s", path, g_strerror (err));
      g_socket_listener_close (G_SOCKET_LISTENER (ctl->service));
      g_unlink (tmp);
      ok = FALSE;
    }
  if (!ok)
    {
      g_hash_table_unref (ctl->clients);
      g_object_unref (ctl->service);
      g_free (ctl->path);
      g_free (ctl);
      return NULL;
    }
  ctl->endpoint = ec_bus_add_member (ec_host_get_bus (host), "edgecore-ctl", "host",
                                     on_control_message, ctl, NULL);
  g_signal_connect (ctl->service, "incoming", G_CALLBACK (on_incoming), ctl);
  g_socket_service_start (ctl->service);
  return ctl;
}

/* Stops listening and removes the socket. Connected clients are closed
 * unanswered: one waiting for a call at once, the others when their
 * cancelled read or write returns to the main loop. */
void
ec_control_free (EcControl *ctl)
{
  GHashTableIter it;
  gpointer key;
  if (!ctl)
    return;
  g_socket_service_stop (ctl->service);
  g_socket_listener_close (G_SOCKET_LISTENER (ctl->service));
  g_object_unref (ctl->service);
  if (ctl->endpoint)
    ec_bus_remove_member (ec_host_get_bus (ctl->host), ctl->endpoint);
  /* the removal dropped the pending calls: their callbacks never run */
  g_hash_table_iter_init (&it, ctl->clients);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      Client *c = key;
      g_hash_table_iter_remove (&it);
      c->control = NULL;
      if (c->calling)
        client_free (c);
      else
        g_cancellable_cancel (c->cancel);
    }
  g_hash_table_unref (ctl->clients);
  g_unlink (ctl->path);
  g_free (ctl->path);
  g_free (ctl);
}

/* Sends one command to a running host and prints its answer. Returns the
 * exit status: 0 when the answer begins with `ok`. */
int
ec_control_client (const char *path, const char *command, guint timeout_s)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (path);
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) reply = g_string_new (NULL);
  g_autofree char *line = g_strdup_printf ("%s\n", command);
  char buf[4096];
  gssize n;

  g_socket_client_set_timeout (client, timeout_s);
  conn = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL, &error);
  if (!conn)
    {
      g_printerr (_("cannot reach the control socket %s: %s\n"), path, error->message);
      return 2;
    }
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (conn)),
                                  line, strlen (line), NULL, NULL, &error))
    {
      g_printerr ("%s: %s\n", path, error->message);
      return 2;
    }
  while ((n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (conn)),
                                   buf, sizeof buf, NULL, &error)) > 0)
    g_string_append_len (reply, buf, n);
  if (n < 0)
    {
      g_printerr ("%s: %s\n", path, error->message);
      return 2;
    }
  fputs (reply->str, stdout);
  return g_str_has_prefix (reply->str, "ok") ? 0 : 1;
}
