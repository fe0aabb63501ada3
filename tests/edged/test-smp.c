/* test-smp.c: edged's two-way strategic merge patches (smp.c), the
 * content of its nodepatch and podpatch messages: compared with the
 * patches kubelet sends for the same changes. */
#include "smp.h"

#include <string.h>

static JsonNode *
parse (const char *text)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  g_assert_true (json_parser_load_from_data (p, text, -1, NULL));
  return json_node_copy (json_parser_get_root (p));
}

/* The patch from a to b as canonical text ("" when there is none). */
static char *
diff (const char *a, const char *b)
{
  g_autoptr (JsonNode) old = a ? parse (a) : NULL;
  g_autoptr (JsonNode) new = parse (b);
  g_autoptr (JsonObject) patch = edged_smp_diff (old, new);
  g_autoptr (JsonNode) root = NULL;
  if (!patch)
    return g_strdup ("");
  root = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (root, patch);
  return json_to_string (root, FALSE);
}

static void
check (const char *a, const char *b, const char *want)
{
  g_autofree char *got = diff (a, b);
  g_assert_cmpstr (got, ==, want);
}

static void
test_maps (void)
{
  check ("{\"phase\":\"Running\"}", "{\"phase\":\"Running\"}", "");
  check ("{\"phase\":\"Pending\"}", "{\"phase\":\"Running\"}", "{\"phase\":\"Running\"}");
  /* a member gone is null; a new one is sent whole */
  check ("{\"phase\":\"Pending\",\"reason\":\"x\"}", "{\"phase\":\"Pending\",\"podIP\":\"1.2.3.4\"}",
         "{\"podIP\":\"1.2.3.4\",\"reason\":null}");
  /* nested maps: only what changed */
  check ("{\"a\":{\"b\":1,\"c\":2}}", "{\"a\":{\"b\":1,\"c\":3}}", "{\"a\":{\"c\":3}}");
  /* everything new without an old object */
  check (NULL, "{\"phase\":\"Pending\"}", "{\"phase\":\"Pending\"}");
}

static void
test_container_state (void)
{
  /* waiting -> running, as kubelet patches it */
  check ("{\"containerStatuses\":[{\"name\":\"main\",\"ready\":false,"
         "\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}",
         "{\"containerStatuses\":[{\"name\":\"main\",\"ready\":true,"
         "\"state\":{\"running\":{\"startedAt\":\"2026-12-05T00:00:00Z\"}}}]}",
         "{\"$setElementOrder/containerStatuses\":[{\"name\":\"main\"}],"
         "\"containerStatuses\":[{\"ready\":true,\"state\":{\"running\":{\"startedAt\":"
         "\"2026-12-05T00:00:00Z\"},\"waiting\":null},\"name\":\"main\"}]}");
}

static void
test_keyed_lists (void)
{
  /* one condition changed: only it, with the order */
  check ("{\"conditions\":[{\"type\":\"A\",\"status\":\"True\"},{\"type\":\"B\",\"status\":\"False\"}]}",
         "{\"conditions\":[{\"type\":\"A\",\"status\":\"True\"},{\"type\":\"B\",\"status\":\"True\"}]}",
         "{\"$setElementOrder/conditions\":[{\"type\":\"A\"},{\"type\":\"B\"}],"
         "\"conditions\":[{\"status\":\"True\",\"type\":\"B\"}]}");
  /* an element gone: $patch delete */
  check ("{\"podIPs\":[{\"ip\":\"1.1.1.1\"},{\"ip\":\"2.2.2.2\"}]}", "{\"podIPs\":[{\"ip\":\"2.2.2.2\"}]}",
         "{\"$setElementOrder/podIPs\":[{\"ip\":\"2.2.2.2\"}],"
         "\"podIPs\":[{\"$patch\":\"delete\",\"ip\":\"1.1.1.1\"}]}");
  /* only the order changed */
  check ("{\"conditions\":[{\"type\":\"A\"},{\"type\":\"B\"}]}",
         "{\"conditions\":[{\"type\":\"B\"},{\"type\":\"A\"}]}",
         "{\"$setElementOrder/conditions\":[{\"type\":\"B\"},{\"type\":\"A\"}]}");
  /* a list without a merge key is replaced */
  check ("{\"images\":[{\"names\":[\"a\"]}]}", "{\"images\":[{\"names\":[\"b\"]}]}",
         "{\"images\":[{\"names\":[\"b\"]}]}");
}

static void
test_deep_copy (void)
{
  g_autoptr (JsonNode) a = parse ("{\"x\":{\"y\":[1,{\"z\":2}]}}");
  g_autoptr (JsonNode) b = edged_json_deep_copy (a);
  JsonObject *x = json_object_get_object_member (json_node_get_object (b), "x");
  json_object_remove_member (x, "y");
  g_assert_true (json_object_has_member (json_object_get_object_member (json_node_get_object (a), "x"),
                                         "y"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edged/smp/maps", test_maps);
  g_test_add_func ("/edged/smp/container-state", test_container_state);
  g_test_add_func ("/edged/smp/keyed-lists", test_keyed_lists);
  g_test_add_func ("/edged/smp/deep-copy", test_deep_copy);
  return g_test_run ();
}
