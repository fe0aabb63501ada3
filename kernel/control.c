/* control.c: a unix socket through which operators and tests look into a
 * running host and put messages on its bus.
 *
 * One command per connection, one line. The answer's first line is `ok` or
 * `error: <text>`; data follows. Commands:
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

struct _EcControl {
  EcHost          *host;
  EcEndpoint      *endpoint;
  GSocketService  *service;
  char            *path;
};

typedef struct {
  EcControl         *control;
  GSocketConnection *conn;
  GDataInputStream  *in;
} Client;

static void
client_free (Client *c)
{
  g_io_stream_close (G_IO_STREAM (c->conn), NULL, NULL);
  g_object_unref (c->in);
  g_object_unref (c->conn);
  g_free (c);
}

static void
on_written (GObject *stream, GAsyncResult *res, gpointer data)
{
  g_output_stream_write_all_finish (G_OUTPUT_STREAM (stream), res, NULL, NULL);
  client_free (data);
}

/* Writes the answer and closes the connection. Takes text. */
static void
answer (Client *c, char *text)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (c->conn));
  GBytes *bytes = g_bytes_new_take (text, strlen (text));
  gsize len;
  const void *data = g_bytes_get_data (bytes, &len);
  g_object_set_data_full (G_OBJECT (c->conn), "answer", bytes, (GDestroyNotify) g_bytes_unref);
  g_output_stream_write_all_async (out, data, len, G_PRIORITY_DEFAULT, NULL, on_written, c);
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

static void
on_line (GObject *stream, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (stream),
                                                                     res, NULL, &error);
  if (!line)
    {
      if (error)
        answer_error (c, error->message);
      else
        client_free (c);
      return;
    }
  run_command (c, line);
}

static gboolean
on_incoming (GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
  Client *c = g_new0 (Client, 1);
  c->control = data;
  c->conn = g_object_ref (conn);
  c->in = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (conn)));
  g_data_input_stream_read_line_async (c->in, G_PRIORITY_DEFAULT, NULL, on_line, c);
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
  addr = g_unix_socket_address_new (path);
  mode_t old = umask (0077);
  gboolean ok = g_socket_listener_add_address (G_SOCKET_LISTENER (ctl->service), addr,
                                               G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                               NULL, NULL, error);
  umask (old);
  if (!ok)
    {
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

/* Stops listening and removes the socket. */
void
ec_control_free (EcControl *ctl)
{
  if (!ctl)
    return;
  g_socket_service_stop (ctl->service);
  g_socket_listener_close (G_SOCKET_LISTENER (ctl->service));
  g_object_unref (ctl->service);
  if (ctl->endpoint)
    ec_bus_remove_member (ec_host_get_bus (ctl->host), ctl->endpoint);
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
