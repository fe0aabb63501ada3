/* probe-run: runs edged's probe code (probe-spec.c, probe-http.c,
 * probe-tls.c, probe-grpc.c) outside edgecore, for test_probe_checks.py
 * and bench/edged/bench_probes.py.
 *
 *   probe-run [--serial] HOST CONTAINER_JSON...
 *
 * Each CONTAINER_JSON is a container object with a livenessProbe; all are
 * started at once on one main loop (as edged runs many pods' probes), or
 * with --serial one after another, each bounded by its timeoutSeconds. One
 * line per probe, in the order they end:
 *
 *   RESULT <index> <success|failure|warning> <milliseconds> <detail>
 *   INVALID <index> <the parse error>
 *
 * then "LIBSSL mapped" or "LIBSSL not-mapped": whether the process has
 * libssl loaded (probe-tls.c opens it at the first HTTPS probe only), and
 * "RSS <kB> kB", the process's VmRSS then. Exit status 0 once every probe
 * ended. */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  guint           index;
  EdgedProbeSpec *spec;
  gint64          start;
} Run;

static GMainLoop *loop;
static const char *host;
static GQueue waiting = G_QUEUE_INIT;   /* --serial: the runs not started yet */
static guint pending;

static void run_start (Run *r);

static void
on_done (EdgedProbeResult result, const char *detail, gpointer data)
{
  Run *r = data;
  static const char *names[] = { "failure", "success", "warning" };
  printf ("RESULT %u %s %.2f %s\n", r->index, names[result],
          (double) (g_get_monotonic_time () - r->start) / 1000, detail ? detail : "");
  fflush (stdout);
  edged_probe_spec_free (r->spec);
  g_free (r);
  if (!g_queue_is_empty (&waiting))
    run_start (g_queue_pop_head (&waiting));
  if (--pending == 0)
    g_main_loop_quit (loop);
}

static void
run_start (Run *r)
{
  guint timeout_ms = (guint) r->spec->timeout * 1000;
  r->start = g_get_monotonic_time ();
  switch (r->spec->kind)
    {
    case EDGED_HANDLER_HTTP:
      edged_probe_http (r->spec, host, timeout_ms, NULL, on_done, r);
      break;
    case EDGED_HANDLER_TCP:
      edged_probe_tcp (r->spec, host, timeout_ms, NULL, on_done, r);
      break;
    case EDGED_HANDLER_GRPC:
      edged_probe_grpc (r->spec, host, timeout_ms, NULL, on_done, r);
      break;
    case EDGED_HANDLER_EXEC:
    default:
      g_assert_not_reached ();
    }
}

int
main (int argc, char **argv)
{
  gboolean serial = argc > 1 && !strcmp (argv[1], "--serial");
  int first = serial ? 3 : 2;

  if (argc < first + 1)
    {
      fprintf (stderr, "usage: probe-run [--serial] HOST CONTAINER_JSON...\n");
      return 2;
    }
  host = argv[first - 1];
  loop = g_main_loop_new (NULL, FALSE);
  for (int i = first; i < argc; i++)
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      EdgedProbeSpec *spec = NULL;
      JsonNode *root;
      Run *r;

      if (!json_parser_load_from_data (parser, argv[i], -1, &error)
          || !JSON_NODE_HOLDS_OBJECT ((root = json_parser_get_root (parser)))
          || !edged_probe_spec_parse (json_node_get_object (root), "livenessProbe", FALSE, &spec,
                                      &error)
          || !spec || spec->kind == EDGED_HANDLER_EXEC)
        {
          printf ("INVALID %d %s\n", i - first, error ? error->message
                                                 : spec ? "exec probes need a runtime"
                                                        : "no livenessProbe");
          edged_probe_spec_free (spec);
          continue;
        }
      r = g_new0 (Run, 1);
      r->index = (guint) (i - first);
      r->spec = spec;
      pending++;
      if (serial && pending > 1)
        g_queue_push_tail (&waiting, r);
      else
        run_start (r);
    }
  fflush (stdout);
  if (pending)
    g_main_loop_run (loop);
  {
    g_autofree char *maps = NULL;
    g_autofree char *status = NULL;
    const char *rss;
    g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL);
    printf ("LIBSSL %s\n", maps && strstr (maps, "/libssl.so") ? "mapped" : "not-mapped");
    g_file_get_contents ("/proc/self/status", &status, NULL, NULL);
    if (status && (rss = strstr (status, "VmRSS:")))
      printf ("RSS %ld kB\n", strtol (rss + 6, NULL, 10));
  }
  g_main_loop_unref (loop);
  return 0;
}
