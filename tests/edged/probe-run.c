/* probe-run: runs edged's probe code (probe-spec.c, probe-http.c,
 * probe-tls.c, probe-grpc.c) outside edgecore, for test_probe_checks.py.
 *
 *   probe-run HOST CONTAINER_JSON...
 *
 * Each CONTAINER_JSON is a container object with a livenessProbe; all are
 * started at once on one main loop (as edged runs many pods' probes), each
 * bounded by its timeoutSeconds. One line per probe, in the order they end:
 *
 *   RESULT <index> <success|failure|warning> <milliseconds> <detail>
 *   INVALID <index> <the parse error>
 *
 * then "LIBSSL mapped" or "LIBSSL not-mapped": whether the process has
 * libssl loaded (probe-tls.c opens it at the first HTTPS probe only).
 *
 * Exit status 0 once every probe ended. */
#include "probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static guint pending;
static GMainLoop *loop;

typedef struct {
  guint   index;
  gint64  start;
} Run;

static void
on_done (EdgedProbeResult result, const char *detail, gpointer data)
{
  Run *r = data;
  static const char *names[] = { "failure", "success", "warning" };
  printf ("RESULT %u %s %" G_GINT64_FORMAT " %s\n", r->index, names[result],
          (g_get_monotonic_time () - r->start) / 1000, detail ? detail : "");
  fflush (stdout);
  g_free (r);
  if (--pending == 0)
    g_main_loop_quit (loop);
}

int
main (int argc, char **argv)
{
  GPtrArray *specs = g_ptr_array_new_with_free_func ((GDestroyNotify) edged_probe_spec_free);

  if (argc < 3)
    {
      fprintf (stderr, "usage: probe-run HOST CONTAINER_JSON...\n");
      return 2;
    }
  loop = g_main_loop_new (NULL, FALSE);
  for (int i = 2; i < argc; i++)
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
          || !spec)
        {
          printf ("INVALID %d %s\n", i - 2, error ? error->message : "no livenessProbe");
          continue;
        }
      g_ptr_array_add (specs, spec);
      r = g_new0 (Run, 1);
      r->index = (guint) i - 2;
      r->start = g_get_monotonic_time ();
      pending++;
      switch (spec->kind)
        {
        case EDGED_HANDLER_HTTP:
          edged_probe_http (spec, argv[1], (guint) spec->timeout * 1000, NULL, on_done, r);
          break;
        case EDGED_HANDLER_TCP:
          edged_probe_tcp (spec, argv[1], (guint) spec->timeout * 1000, NULL, on_done, r);
          break;
        case EDGED_HANDLER_GRPC:
          edged_probe_grpc (spec, argv[1], (guint) spec->timeout * 1000, NULL, on_done, r);
          break;
        case EDGED_HANDLER_EXEC:
        default:
          printf ("INVALID %d exec probes need a runtime\n", i - 2);
          pending--;
          g_free (r);
          break;
        }
    }
  fflush (stdout);
  if (pending)
    g_main_loop_run (loop);
  {
    g_autofree char *maps = NULL;
    g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL);
    printf ("LIBSSL %s\n", maps && strstr (maps, "/libssl.so") ? "mapped" : "not-mapped");
  }
  g_ptr_array_unref (specs);
  g_main_loop_unref (loop);
  return 0;
}
