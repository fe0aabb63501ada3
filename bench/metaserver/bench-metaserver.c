/* bench-metaserver.c: metaserver's LIST and watch figures, against a real
 * edgecore (metaserver + metamanager) on a free loopback port.
 *
 *   bench-metaserver EDGECORE_BIN METASERVER_DIR METAMANAGER_DIR [--seconds=S]
 *
 * Seeds a database with 1,000 pods of about 1 KB in meta_v2, then
 *   list1000: 4 client threads, each on its own keep-alive connection,
 *     GET /api/v1/pods in a loop for S seconds (default 3):
 *     BENCH metaserver.list1000_rps <n> req/s
 *     BENCH metaserver.list1000_p99 <ms> ms
 *   watch100: 100 watches of /api/v1/pods (from the list's resourceVersion),
 *     then 200 pod updates sent to metamanager as cloud messages over the
 *     control socket; counts the MODIFIED events each watch receives:
 *     BENCH metaserver.watch100_delivered <pct> %
 * Details go to stderr. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_PODS     1000
#define N_CLIENTS  4
#define N_WATCHERS 100
#define N_EVENTS   200

static int port;
static double seconds = 3.0;

static int
free_port (void)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0), p;
  bind (fd, (struct sockaddr *) &a, sizeof a);
  getsockname (fd, (struct sockaddr *) &a, &len);
  p = ntohs (a.sin_port);
  close (fd);
  return p;
}

static int
connect_port (void)
{
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons (port),
                           .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  int fd = socket (AF_INET, SOCK_STREAM, 0), one = 1;
  if (connect (fd, (struct sockaddr *) &a, sizeof a) != 0)
    {
      close (fd);
      return -1;
    }
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static char *
pod_json (int i, int rv, const char *phase)
{
  /* about 1 KB, like a small real pod */
  return g_strdup_printf (
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"pod-%04d\",\"namespace\":\"bench\","
    "\"uid\":\"8109aa6d-4170-4f52-994e-%012d\",\"resourceVersion\":\"%d\",\"creationTimestamp\":\"2024-01-01T00:00:00Z\","
    "\"labels\":{\"app\":\"bench\",\"index\":\"%d\"},\"annotations\":{\"kubeedge.io/bench\":\"true\"}},"
    "\"spec\":{\"nodeName\":\"edge-1\",\"restartPolicy\":\"Always\",\"schedulerName\":\"default-scheduler\","
    "\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\",\"containers\":[{\"name\":\"app\","
    "\"image\":\"registry.example.com/bench/app:1.0\",\"imagePullPolicy\":\"IfNotPresent\",\"ports\":[{\"containerPort\":8080,"
    "\"protocol\":\"TCP\"}],\"env\":[{\"name\":\"MODE\",\"value\":\"edge\"}],\"resources\":{\"limits\":{\"cpu\":\"100m\","
    "\"memory\":\"64Mi\"}},\"volumeMounts\":[{\"mountPath\":\"/cfg\",\"name\":\"cfg\"}]}],\"volumes\":[{\"name\":\"cfg\","
    "\"configMap\":{\"name\":\"bench-cm\"}}]},\"status\":{\"phase\":\"%s\",\"podIP\":\"10.0.%d.%d\",\"qosClass\":\"Burstable\","
    "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],\"containerStatuses\":[{\"name\":\"app\",\"ready\":true,"
    "\"restartCount\":0,\"image\":\"registry.example.com/bench/app:1.0\",\"state\":{\"running\":{\"startedAt\":"
    "\"2024-01-01T00:00:05Z\"}}}]}}",
    i, i, rv, i, phase, i / 250, i % 250);
}

static gboolean
seed (const char *path)
{
  sqlite3 *db;
  sqlite3_stmt *st;
  if (sqlite3_open (path, &db) != SQLITE_OK)
    return FALSE;
  sqlite3_exec (db, "CREATE TABLE `meta_v2` (`key` text,`group_version_resource` text,`namespace` text,"
                    "`name` text,`resource_version` integer,`value` text,PRIMARY KEY (`key`));"
                    "CREATE TABLE `meta` (`key` text,`type` text,`value` text,PRIMARY KEY (`key`));"
                    "BEGIN", NULL, NULL, NULL);
  sqlite3_prepare_v2 (db, "INSERT INTO meta_v2 VALUES (?,?,?,?,?,?)", -1, &st, NULL);
  for (int i = 0; i < N_PODS; i++)
    {
      g_autofree char *key = g_strdup_printf ("/core/v1/pods/bench/pod-%04d", i);
      g_autofree char *name = g_strdup_printf ("pod-%04d", i);
      g_autofree char *value = pod_json (i, 1000 + i, "Running");
      sqlite3_bind_text (st, 1, key, -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 2, "/v1, Resource=pods", -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 3, "bench", -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 4, name, -1, SQLITE_STATIC);
      sqlite3_bind_int (st, 5, 1000 + i);
      sqlite3_bind_text (st, 6, value, -1, SQLITE_STATIC);
      sqlite3_step (st);
      sqlite3_reset (st);
    }
  sqlite3_finalize (st);
  sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
  sqlite3_close (db);
  return TRUE;
}

/* Reads one HTTP response with Content-Length; returns the body length or -1. */
static gssize
read_response (int fd, GString *buf)
{
  gssize need = -1;
  gsize header_end = 0;
  g_string_set_size (buf, 0);
  for (;;)
    {
      char tmp[65536];
      ssize_t n;
      if (need >= 0 && buf->len >= header_end + (gsize) need)
        return need;
      n = read (fd, tmp, sizeof tmp);
      if (n <= 0)
        return -1;
      g_string_append_len (buf, tmp, n);
      if (need < 0)
        {
          char *end = strstr (buf->str, "\r\n\r\n");
          char *cl;
          if (!end)
            continue;
          header_end = end - buf->str + 4;
          cl = g_strstr_len (buf->str, header_end, "Content-Length: ");
          if (!cl || strncmp (buf->str, "HTTP/1.1 200", 12) != 0)
            return -1;
          need = g_ascii_strtoll (cl + 16, NULL, 10);
        }
    }
}

typedef struct {
  GArray *latencies;   /* double ms */
  gint64  deadline;
  gsize   bytes;
  int     errors;
} Client;

static gpointer
list_client (gpointer data)
{
  Client *c = data;
  const char *req = "GET /api/v1/pods HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n";
  g_autoptr (GString) buf = g_string_sized_new (2 << 20);
  int fd = connect_port ();
  while (fd >= 0 && g_get_monotonic_time () < c->deadline)
    {
      gint64 t0 = g_get_monotonic_time ();
      gssize n;
      double ms;
      if (write (fd, req, strlen (req)) != (ssize_t) strlen (req))
        break;
      n = read_response (fd, buf);
      if (n < 0)
        {
          c->errors++;
          break;
        }
      ms = (g_get_monotonic_time () - t0) / 1000.0;
      g_array_append_val (c->latencies, ms);
      c->bytes += n;
    }
  if (fd >= 0)
    close (fd);
  return NULL;
}

static int
cmp_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* Sends one control-socket command and waits for its answer. */
static gboolean
ctl (const char *sock_path, const char *command)
{
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);
  char answer[256];
  ssize_t n;
  g_strlcpy (a.sun_path, sock_path, sizeof a.sun_path);
  if (connect (fd, (struct sockaddr *) &a, sizeof a) != 0)
    {
      close (fd);
      return FALSE;
    }
  if (write (fd, command, strlen (command)) < 0 || write (fd, "\n", 1) < 0)
    {
      close (fd);
      return FALSE;
    }
  n = read (fd, answer, sizeof answer - 1);
  close (fd);
  return n >= 2 && strncmp (answer, "ok", 2) == 0;
}

static char *
list_revision (void)
{
  const char *req = "GET /api/v1/pods?limit=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  g_autoptr (GString) buf = g_string_new (NULL);
  int fd = connect_port ();
  char *rv = NULL, *p;
  if (fd < 0)
    return NULL;
  if (write (fd, req, strlen (req)) > 0 && read_response (fd, buf) >= 0
      && (p = strstr (buf->str, "\"resourceVersion\":\"")))
    {
      /* the list's own: the last one in the body */
      char *last = p;
      while ((p = strstr (last + 1, "\"resourceVersion\":\"")))
        last = p;
      rv = g_strndup (last + 19, strcspn (last + 19, "\""));
    }
  close (fd);
  return rv;
}

int
main (int argc, char **argv)
{
  g_autofree char *dir = NULL, *db = NULL, *confd = NULL, *sock = NULL, *conf = NULL, *conf_path = NULL;
  GPid pid = 0;
  int status = 1;

  for (int i = 4; i < argc; i++)
    if (g_str_has_prefix (argv[i], "--seconds="))
      seconds = g_ascii_strtod (argv[i] + 10, NULL);
  if (argc < 4)
    {
      fprintf (stderr, "usage: %s EDGECORE_BIN METASERVER_DIR METAMANAGER_DIR [--seconds=S]\n", argv[0]);
      return 2;
    }
  signal (SIGPIPE, SIG_IGN);
  dir = g_dir_make_tmp ("edgecore-bench-ms-XXXXXX", NULL);
  db = g_build_filename (dir, "edgecore.db", NULL);
  confd = g_build_filename (dir, "conf.d", NULL);
  sock = g_build_filename (dir, "ctl.sock", NULL);
  g_mkdir (confd, 0700);
  port = free_port ();
  if (!seed (db))
    {
      fprintf (stderr, "bench-metaserver: cannot write %s\n", db);
      return 1;
    }
  conf = g_strdup_printf ("[core]\ncontrol-socket=%s\ndata-dir=%s\nnode-name=edge-1\nlog-level=warning\n"
                          "[database]\ndata-source=%s\n[metamanager]\nenable=true\n"
                          "[metaserver]\nenable=true\nserver=127.0.0.1:%d\n", sock, dir, db, port);
  conf_path = g_build_filename (confd, "00-bench.conf", NULL);
  g_file_set_contents (conf_path, conf, -1, NULL);
  {
    char *args[] = { argv[1], "--config-dir", confd, "--plugin-dir", argv[2], "--plugin-dir", argv[3], NULL };
    g_autoptr (GError) error = NULL;
    g_setenv ("EDGECORE_SYSTEM_CONFIG_DIRS", "", TRUE);
    g_setenv ("EDGECORE_SYSTEM_PLUGIN_DIRS", "", TRUE);
    if (!g_spawn_async (NULL, args, NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error))
      {
        fprintf (stderr, "bench-metaserver: %s\n", error->message);
        return 1;
      }
  }
  for (int i = 0; i < 200; i++)
    {
      int fd = connect_port ();
      if (fd >= 0 && g_file_test (sock, G_FILE_TEST_EXISTS))
        {
          close (fd);
          break;
        }
      if (fd >= 0)
        close (fd);
      g_usleep (50000);
    }

  /* ---- LIST of 1,000 pods, 4 clients ---- */
  {
    Client clients[N_CLIENTS];
    GThread *threads[N_CLIENTS];
    g_autoptr (GArray) all = g_array_new (FALSE, FALSE, sizeof (double));
    gint64 t0 = g_get_monotonic_time ();
    gint64 warm = t0 + 300000;
    gsize bytes = 0;
    int errors = 0;
    double elapsed;
    /* warm-up */
    for (int i = 0; i < N_CLIENTS; i++)
      {
        clients[i] = (Client) { g_array_new (FALSE, FALSE, sizeof (double)), warm, 0, 0 };
        threads[i] = g_thread_new ("warm", list_client, &clients[i]);
      }
    for (int i = 0; i < N_CLIENTS; i++)
      {
        g_thread_join (threads[i]);
        g_array_unref (clients[i].latencies);
      }
    t0 = g_get_monotonic_time ();
    for (int i = 0; i < N_CLIENTS; i++)
      {
        clients[i] = (Client) { g_array_new (FALSE, FALSE, sizeof (double)),
                                t0 + (gint64) (seconds * G_USEC_PER_SEC), 0, 0 };
        threads[i] = g_thread_new ("list", list_client, &clients[i]);
      }
    for (int i = 0; i < N_CLIENTS; i++)
      {
        g_thread_join (threads[i]);
        g_array_append_vals (all, clients[i].latencies->data, clients[i].latencies->len);
        bytes += clients[i].bytes;
        errors += clients[i].errors;
        g_array_unref (clients[i].latencies);
      }
    elapsed = (g_get_monotonic_time () - t0) / (double) G_USEC_PER_SEC;
    g_array_sort (all, cmp_double);
    if (all->len == 0)
      {
        fprintf (stderr, "bench-metaserver: no LIST answered\n");
        goto out;
      }
    fprintf (stderr, "list1000: %u requests in %.2f s, %.1f MB/s, %d errors, body %.0f KB, p50 %.2f ms\n",
             all->len, elapsed, bytes / elapsed / 1e6, errors, (double) bytes / all->len / 1024,
             g_array_index (all, double, all->len / 2));
    printf ("BENCH metaserver.list1000_rps %.0f req/s\n", all->len / elapsed);
    printf ("BENCH metaserver.list1000_p99 %.2f ms\n",
            g_array_index (all, double, MIN (all->len - 1, (guint) (all->len * 0.99))));
    fflush (stdout);
  }

  /* ---- 100 watchers, 200 updates ---- */
  {
    g_autofree char *rv = list_revision ();
    int fds[N_WATCHERS];
    guint counts[N_WATCHERS] = { 0 };
    char tails[N_WATCHERS][24];
    g_autofree char *req = g_strdup_printf ("GET /api/v1/namespaces/bench/pods?watch=true&resourceVersion=%s"
                                            " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", rv ? rv : "0");
    const char *needle = "\"type\":\"MODIFIED\"";
    guint64 total = 0;
    gint64 deadline;
    memset (tails, 0, sizeof tails);
    for (int i = 0; i < N_WATCHERS; i++)
      {
        fds[i] = connect_port ();
        if (fds[i] < 0 || write (fds[i], req, strlen (req)) < 0)
          {
            fprintf (stderr, "bench-metaserver: watch %d not opened\n", i);
            goto out;
          }
      }
    g_usleep (200000);
    for (int e = 0; e < N_EVENTS; e++)
      {
        int i = e % N_PODS;
        g_autofree char *obj = pod_json (i, 100000 + e, e % 2 ? "Running" : "Pending");
        g_autofree char *cmd = g_strdup_printf (
          "send metamanager {\"header\":{\"msg_id\":\"bench-%d\",\"timestamp\":1,\"resourceversion\":\"%d\"},"
          "\"route\":{\"source\":\"edgecontroller\",\"group\":\"resource\",\"operation\":\"update\","
          "\"resource\":\"bench/pod/pod-%04d\"},\"content\":%s}", e, 100000 + e, i, obj);
        if (!ctl (sock, cmd))
          fprintf (stderr, "bench-metaserver: update %d not taken\n", e);
      }
    deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    while (total < (guint64) N_WATCHERS * N_EVENTS && g_get_monotonic_time () < deadline)
      {
        struct pollfd pfd[N_WATCHERS];
        for (int i = 0; i < N_WATCHERS; i++)
          pfd[i] = (struct pollfd) { fds[i], POLLIN, 0 };
        if (poll (pfd, N_WATCHERS, 200) <= 0)
          continue;
        for (int i = 0; i < N_WATCHERS; i++)
          {
            char buf[65536 + 24];
            size_t tl = strlen (tails[i]);
            ssize_t n;
            if (!(pfd[i].revents & POLLIN))
              continue;
            memcpy (buf, tails[i], tl);
            n = read (fds[i], buf + tl, 65536);
            if (n <= 0)
              {
                pfd[i].fd = -1;
                continue;
              }
            n += tl;
            buf[n] = '\0';
            for (char *p = buf; (p = memmem (p, buf + n - p, needle, strlen (needle))); p++)
              {
                counts[i]++;
                total++;
              }
            tl = MIN ((size_t) n, strlen (needle) - 1);
            memcpy (tails[i], buf + n - tl, tl);
            tails[i][tl] = '\0';
          }
      }
    {
      guint full = 0;
      for (int i = 0; i < N_WATCHERS; i++)
        {
          full += counts[i] == N_EVENTS;
          close (fds[i]);
        }
      fprintf (stderr, "watch100: %" G_GUINT64_FORMAT " of %d events delivered; %u of %d watchers got all\n",
               total, N_WATCHERS * N_EVENTS, full, N_WATCHERS);
      printf ("BENCH metaserver.watch100_delivered %.1f %%\n", 100.0 * total / (N_WATCHERS * N_EVENTS));
    }
  }
  status = 0;

out:
  if (pid)
    {
      kill (pid, SIGTERM);
      waitpid (pid, NULL, 0);
    }
  {
    g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
    if (system (cmd) != 0)
      fprintf (stderr, "bench-metaserver: could not remove %s\n", dir);
  }
  return status;
}
