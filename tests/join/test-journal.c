/* test-journal.c: the host's log writer speaking the journal's native
 * protocol to a fake journal socket, and the sd_notify watchdog. */
#include "config.h"

#include "ec-host-api.h"
#include "log.h"
#include "sd-notify.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct {
  char *dir;
  char *path;
  int   fd;
} FakeSocket;

static void
fake_socket_open (FakeSocket *s, const char *name)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct timeval tv = { .tv_sec = 10 };
  s->dir = g_dir_make_tmp ("ec-journal-XXXXXX", NULL);
  g_assert_nonnull (s->dir);
  s->path = g_build_filename (s->dir, name, NULL);
  s->fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint (s->fd, >=, 0);
  g_strlcpy (addr.sun_path, s->path, sizeof addr.sun_path);
  g_assert_cmpint (bind (s->fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  /* the receive buffer must hold the largest datagram the test sends */
  int size = 1024 * 1024;
  setsockopt (s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  setsockopt (s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static void
fake_socket_close (FakeSocket *s)
{
  close (s->fd);
  g_unlink (s->path);
  g_rmdir (s->dir);
  g_free (s->path);
  g_free (s->dir);
}

/* The fake journal: the host's writer resolves the socket's address once
 * per process, so every journal test shares one. */
static FakeSocket journal_socket;

/* Installs the host's writer once: GLib allows one per process. */
static void
install_writer (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once))
    {
      ec_log_install ();
      g_once_init_leave (&once, 1);
    }
}

/* Receives one entry, from the datagram or from a passed memfd. */
static GBytes *
receive (FakeSocket *s)
{
  static char buf[1024 * 1024];
  union { struct cmsghdr h; char c[CMSG_SPACE (sizeof (int))]; } control;
  struct iovec iov = { buf, sizeof buf };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.c,
                        .msg_controllen = sizeof control.c };
  ssize_t n = recvmsg (s->fd, &msg, 0);
  struct cmsghdr *cmsg;
  g_assert_cmpint (n, >=, 0);
  cmsg = CMSG_FIRSTHDR (&msg);
  if (cmsg && cmsg->cmsg_type == SCM_RIGHTS)
    {
      int fd;
      g_autoptr (GString) data = g_string_new (NULL);
      char chunk[65536];
      ssize_t r;
      g_assert_cmpint (n, ==, 0);
      memcpy (&fd, CMSG_DATA (cmsg), sizeof fd);
      lseek (fd, 0, SEEK_SET);
      while ((r = read (fd, chunk, sizeof chunk)) > 0)
        g_string_append_len (data, chunk, r);
      close (fd);
      return g_string_free_to_bytes (g_steal_pointer (&data));
    }
  return g_bytes_new (buf, (gsize) n);
}

/* Parses an entry of the native protocol into field -> value. */
static GHashTable *
parse_entry (GBytes *bytes)
{
  GHashTable *fields = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  gsize len;
  const char *p = g_bytes_get_data (bytes, &len), *end = p + len;
  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));
      const char *eq = memchr (p, '=', (gsize) ((nl ? nl : end) - p));
      g_assert_nonnull (nl);
      if (eq)
        {
          g_hash_table_insert (fields, g_strndup (p, (gsize) (eq - p)), g_strndup (eq + 1, (gsize) (nl - eq - 1)));
          p = nl + 1;
        }
      else
        {
          guint64 le, vlen;
          char *key = g_strndup (p, (gsize) (nl - p));
          g_assert_cmpint (end - (nl + 1), >=, 8);
          memcpy (&le, nl + 1, 8);
          vlen = GUINT64_FROM_LE (le);
          g_assert_cmpuint (vlen, <=, (guint64) (end - (nl + 9)));
          g_hash_table_insert (fields, key, g_strndup (nl + 9, (gsize) vlen));
          p = nl + 9 + vlen;
          g_assert_true (p < end && *p == '\n');
          p++;
        }
    }
  return fields;
}

static void
test_journal_fields (void)
{
  g_autoptr (GBytes) b1 = NULL, b2 = NULL, b3 = NULL;
  g_autoptr (GHashTable) f1 = NULL, f2 = NULL, f3 = NULL;

  install_writer ();
  ec_log_set_threshold (G_LOG_LEVEL_DEBUG);
  ec_log_set_target (EC_LOG_TARGET_JOURNAL);

  /* a plugin's line, as ec_plugin_context_log() sends it, with the
   * message id and resource fields a caller may add */
  g_log_structured ("edgehub", G_LOG_LEVEL_WARNING, "EDGECORE_PLUGIN", "edgehub", "EC_MSG_ID", "0f6c3a3e-1",
                    "RESOURCE", "default/pod/nginx", "bad key", "dropped", "_PID", "1",
                    "MESSAGE", "certificate bootstrap failed: %s", "chain");
  b1 = receive (&journal_socket);
  f1 = parse_entry (b1);
  g_assert_cmpstr (g_hash_table_lookup (f1, "MESSAGE"), ==, "certificate bootstrap failed: chain");
  g_assert_cmpstr (g_hash_table_lookup (f1, "PLUGIN"), ==, "edgehub");
  g_assert_cmpstr (g_hash_table_lookup (f1, "EC_MSG_ID"), ==, "0f6c3a3e-1");
  g_assert_cmpstr (g_hash_table_lookup (f1, "RESOURCE"), ==, "default/pod/nginx");
  g_assert_cmpstr (g_hash_table_lookup (f1, "PRIORITY"), ==, "4");
  g_assert_cmpstr (g_hash_table_lookup (f1, "SYSLOG_IDENTIFIER"), ==, "edgecore");
  g_assert_cmpstr (g_hash_table_lookup (f1, "GLIB_DOMAIN"), ==, "edgehub");
  g_assert_false (g_hash_table_contains (f1, "EDGECORE_PLUGIN"));
  g_assert_false (g_hash_table_contains (f1, "bad key"));
  g_assert_false (g_hash_table_contains (f1, "_PID"));

  /* the host's own line: no PLUGIN; a multi-line message in the binary form */
  g_log_structured ("edgecore", G_LOG_LEVEL_MESSAGE, "MESSAGE", "bus members:\nwebsocket hub 1 0");
  b2 = receive (&journal_socket);
  f2 = parse_entry (b2);
  g_assert_cmpstr (g_hash_table_lookup (f2, "MESSAGE"), ==, "bus members:\nwebsocket hub 1 0");
  g_assert_false (g_hash_table_contains (f2, "PLUGIN"));
  g_assert_cmpstr (g_hash_table_lookup (f2, "PRIORITY"), ==, "5");

  /* larger than a datagram may be: passed as a sealed memfd */
  {
    g_autofree char *big = g_strnfill (600 * 1024, 'x');
    g_log_structured ("metamanager", G_LOG_LEVEL_INFO, "MESSAGE", "%s", big);
    b3 = receive (&journal_socket);
    f3 = parse_entry (b3);
    g_assert_cmpstr (g_hash_table_lookup (f3, "MESSAGE"), ==, big);
    g_assert_cmpstr (g_hash_table_lookup (f3, "PLUGIN"), ==, "metamanager");
  }

  /* below the threshold: nothing is sent */
  ec_log_set_threshold (G_LOG_LEVEL_INFO);
  g_log_structured ("edgehub", G_LOG_LEVEL_DEBUG, "MESSAGE", "not sent");
  g_log_structured ("edgehub", G_LOG_LEVEL_INFO, "MESSAGE", "sent");
  {
    g_autoptr (GBytes) b = receive (&journal_socket);
    g_autoptr (GHashTable) f = parse_entry (b);
    g_assert_cmpstr (g_hash_table_lookup (f, "MESSAGE"), ==, "sent");
  }
  ec_log_set_target (EC_LOG_TARGET_STDERR);
}

static void
test_log_target_names (void)
{
  EcLogTarget t;
  g_assert_true (ec_log_parse_target ("journal", &t) && t == EC_LOG_TARGET_JOURNAL);
  g_assert_true (ec_log_parse_target ("stderr", &t) && t == EC_LOG_TARGET_STDERR);
  g_assert_true (ec_log_parse_target ("auto", &t) && t == EC_LOG_TARGET_AUTO);
  g_assert_false (ec_log_parse_target ("syslog", &t));
  g_assert_false (ec_log_parse_target (NULL, &t));
}

static gboolean
quit_loop (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
test_watchdog (void)
{
  FakeSocket s;
  g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
  guint source, received = 0;
  g_autofree char *expected = NULL;
  char buf[64];

  fake_socket_open (&s, "notify");
  g_setenv ("NOTIFY_SOCKET", s.path, TRUE);

  /* another process's watchdog, or none: nothing is sent */
  g_setenv ("WATCHDOG_USEC", "200000", TRUE);
  g_setenv ("WATCHDOG_PID", "1", TRUE);
  g_assert_cmpuint (ec_sd_watchdog_usec (), ==, 0);
  g_assert_cmpuint (ec_sd_watchdog_start (), ==, 0);
  g_setenv ("WATCHDOG_USEC", "junk", TRUE);
  g_setenv ("WATCHDOG_PID", pid, TRUE);
  g_assert_cmpuint (ec_sd_watchdog_usec (), ==, 0);

  /* ours: WATCHDOG=1 at once and every half interval from the main loop */
  g_setenv ("WATCHDOG_USEC", "200000", TRUE);
  g_assert_cmpuint (ec_sd_watchdog_usec (), ==, 200000);
  source = ec_sd_watchdog_start ();
  g_assert_cmpuint (source, !=, 0);
  while (received < 3)
    {
      g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
      ssize_t n = recv (s.fd, buf, sizeof buf - 1, MSG_DONTWAIT);
      if (n > 0)
        {
          buf[n] = 0;
          g_assert_cmpstr (buf, ==, "WATCHDOG=1");
          received++;
          continue;
        }
      g_timeout_add (20, quit_loop, loop);
      g_main_loop_run (loop);
    }
  g_source_remove (source);
  g_unsetenv ("NOTIFY_SOCKET");
  g_unsetenv ("WATCHDOG_USEC");
  g_unsetenv ("WATCHDOG_PID");
  fake_socket_close (&s);
}

/* A plugin's line about a bus message (ec_plugin_context_log_message and
 * its rate-limited form) carries PLUGIN, EC_MSG_ID, RESOURCE and
 * EC_OPERATION; a plain ec_plugin_context_log line only PLUGIN. */
static void
test_journal_message_fields (void)
{
  EcPluginContext *ctx = ec_host_context_new ("edgehub", NULL);
  EcLogLimit limit = EC_LOG_LIMIT_INIT (3600);
  g_autoptr (EcMessage) msg = ec_message_new ("edgecontroller", "resource", "update",
                                              "default/pod/nginx");
  g_autoptr (GBytes) b1 = NULL, b2 = NULL, b3 = NULL, b4 = NULL;
  g_autoptr (GHashTable) f1 = NULL, f2 = NULL, f3 = NULL, f4 = NULL;
  g_autofree char *expected = NULL;
  char buf[64];

  install_writer ();
  ec_log_set_threshold (G_LOG_LEVEL_DEBUG);
  ec_log_set_target (EC_LOG_TARGET_JOURNAL);
  ec_host_context_set_log_threshold (ctx, G_LOG_LEVEL_DEBUG);

  ec_plugin_context_log_message (ctx, G_LOG_LEVEL_WARNING, msg, "dropped message %s: %s",
                                 ec_message_get_id (msg), "queue full");
  b1 = receive (&journal_socket);
  f1 = parse_entry (b1);
  expected = g_strdup_printf ("dropped message %s: queue full", ec_message_get_id (msg));
  g_assert_cmpstr (g_hash_table_lookup (f1, "MESSAGE"), ==, expected);
  g_assert_cmpstr (g_hash_table_lookup (f1, "EC_MSG_ID"), ==, ec_message_get_id (msg));
  g_assert_cmpstr (g_hash_table_lookup (f1, "RESOURCE"), ==, "default/pod/nginx");
  g_assert_cmpstr (g_hash_table_lookup (f1, "EC_OPERATION"), ==, "update");
  g_assert_cmpstr (g_hash_table_lookup (f1, "PLUGIN"), ==, "edgehub");
  g_assert_cmpstr (g_hash_table_lookup (f1, "PRIORITY"), ==, "4");
  g_assert_cmpstr (g_hash_table_lookup (f1, "GLIB_DOMAIN"), ==, "edgehub");

  /* the introspectable form */
  ec_plugin_context_log_message_text (ctx, G_LOG_LEVEL_MESSAGE, msg, "100% as it is");
  b2 = receive (&journal_socket);
  f2 = parse_entry (b2);
  g_assert_cmpstr (g_hash_table_lookup (f2, "MESSAGE"), ==, "100% as it is");
  g_assert_cmpstr (g_hash_table_lookup (f2, "EC_MSG_ID"), ==, ec_message_get_id (msg));
  g_assert_cmpstr (g_hash_table_lookup (f2, "RESOURCE"), ==, "default/pod/nginx");

  /* rate-limited: the first gets through with the fields, the second is
   * suppressed (nothing arrives), and the limit counts it */
  ec_plugin_context_log_message_limited (ctx, &limit, G_LOG_LEVEL_WARNING, msg, "bad %d", 1);
  ec_plugin_context_log_message_limited (ctx, &limit, G_LOG_LEVEL_WARNING, msg, "bad %d", 2);
  b3 = receive (&journal_socket);
  f3 = parse_entry (b3);
  g_assert_cmpstr (g_hash_table_lookup (f3, "MESSAGE"), ==, "bad 1");
  g_assert_cmpstr (g_hash_table_lookup (f3, "EC_MSG_ID"), ==, ec_message_get_id (msg));
  g_assert_cmpuint (limit.suppressed, ==, 1);
  g_assert_cmpint (recv (journal_socket.fd, buf, sizeof buf, MSG_DONTWAIT), ==, -1);

  /* a plain line has PLUGIN and none of the message's fields */
  ec_plugin_context_log (ctx, G_LOG_LEVEL_INFO, "plain %s", "line");
  b4 = receive (&journal_socket);
  f4 = parse_entry (b4);
  g_assert_cmpstr (g_hash_table_lookup (f4, "MESSAGE"), ==, "plain line");
  g_assert_cmpstr (g_hash_table_lookup (f4, "PLUGIN"), ==, "edgehub");
  g_assert_false (g_hash_table_contains (f4, "EC_MSG_ID"));
  g_assert_false (g_hash_table_contains (f4, "RESOURCE"));

  ec_log_set_target (EC_LOG_TARGET_STDERR);
  ec_host_context_free (ctx);
}

/* On stderr a line about a bus message ends with [msg <id> <resource>];
 * other lines keep their form. */
static void
test_stderr_message_suffix (void)
{
  if (g_test_subprocess ())
    {
      EcPluginContext *ctx = ec_host_context_new ("edgehub", NULL);
      g_autoptr (EcMessage) msg = ec_message_new ("edgecontroller", "resource", "update",
                                                  "default/pod/nginx");
      install_writer ();
      ec_log_set_target (EC_LOG_TARGET_STDERR);
      ec_message_set_id (msg, "m-1");
      ec_plugin_context_log_message (ctx, G_LOG_LEVEL_WARNING, msg, "dropped %s", "it");
      ec_plugin_context_log (ctx, G_LOG_LEVEL_WARNING, "plain");
      ec_host_context_free (ctx);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("edgecore[*]: WARNING edgehub: dropped it [msg m-1 default/pod/nginx]\n"
                             "edgecore[*]: WARNING edgehub: plain\n");
}

int
main (int argc, char **argv)
{
  int ret;
  g_test_init (&argc, &argv, NULL);
  fake_socket_open (&journal_socket, "socket");
  g_setenv ("EDGECORE_JOURNAL_SOCKET", journal_socket.path, TRUE);
  g_test_add_func ("/log/journal-fields", test_journal_fields);
  g_test_add_func ("/log/journal-message-fields", test_journal_message_fields);
  g_test_add_func ("/log/stderr-message-suffix", test_stderr_message_suffix);
  g_test_add_func ("/log/target-names", test_log_target_names);
  g_test_add_func ("/sd-notify/watchdog", test_watchdog);
  ret = g_test_run ();
  g_unsetenv ("EDGECORE_JOURNAL_SOCKET");
  fake_socket_close (&journal_socket);
  return ret;
}
