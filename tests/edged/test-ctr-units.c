/* test-ctr-units.c: edged's pure parts of init containers, securityContext,
 * resources and ports: the merge of pod and container security contexts,
 * kubelet's CRI resource values and QoS classes, the port mappings. */
#include "pod-network.h"
#include "pod-resources.h"
#include "pod-security.h"

#include <string.h>

#define POD(spec) \
  "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u1\"}," \
  "\"spec\":{\"nodeName\":\"n\"," spec "}}"

static EdgedPodSpec *
parse (const char *json)
{
  g_autoptr (GError) error = NULL;
  EdgedPodSpec *spec = edged_pod_spec_parse (json, strlen (json), &error);
  g_assert_no_error (error);
  return spec;
}

static void
test_security (void)
{
  g_autoptr (EdgedPodSpec) spec = parse (POD (
    "\"securityContext\":{\"runAsUser\":1000,\"runAsGroup\":3000,\"runAsNonRoot\":true,"
    "\"supplementalGroups\":[5,6],\"fsGroup\":2000},"
    "\"initContainers\":[{\"name\":\"i\",\"image\":\"x\"}],"
    "\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"securityContext\":{\"runAsUser\":1001,"
    "\"readOnlyRootFilesystem\":true,\"allowPrivilegeEscalation\":false,"
    "\"capabilities\":{\"add\":[\"CAP_NET_ADMIN\"],\"drop\":[\"NET_RAW\",\"ALL\"]}}},"
    "{\"name\":\"b\",\"image\":\"x\",\"securityContext\":{\"runAsUser\":0,\"privileged\":true}}]"));
  Runtime__V1__LinuxContainerSecurityContext sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
  Runtime__V1__LinuxSandboxSecurityContext ssc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
  EdgedSecurityStore store = { 0 }, sstore = { 0 };
  g_autofree char *why = NULL;

  g_assert_cmpuint (spec->n_init, ==, 1);
  g_assert_cmpuint (spec->n_containers, ==, 3);
  g_assert_cmpstr (spec->containers[0].name, ==, "i");
  /* a: its own user, the pod's group */
  edged_security_fill (spec, 1, 0, NULL, &sc, &store);
  g_assert_cmpint (sc.run_as_user->value, ==, 1001);
  g_assert_cmpint (sc.run_as_group->value, ==, 3000);
  g_assert_true (sc.readonly_rootfs);
  g_assert_true (sc.no_new_privs);
  g_assert_false (sc.privileged);
  g_assert_cmpuint (sc.capabilities->n_add_capabilities, ==, 1);
  g_assert_cmpstr (sc.capabilities->add_capabilities[0], ==, "NET_ADMIN");
  g_assert_cmpuint (sc.capabilities->n_drop_capabilities, ==, 2);
  g_assert_cmpuint (sc.n_supplemental_groups, ==, 3);
  g_assert_cmpint (sc.supplemental_groups[0], ==, 2000);
  g_assert_cmpint (sc.supplemental_groups[2], ==, 6);
  g_assert_cmpuint (sc.n_masked_paths, >, 0);
  edged_security_store_clear (&store);
  g_assert_null (edged_security_check_non_root (spec, 1, 0, NULL));
  /* the init container inherits the pod's user */
  g_assert_null (edged_security_check_non_root (spec, 0, 0, NULL));
  /* b: runAsUser 0 breaks runAsNonRoot */
  why = edged_security_check_non_root (spec, 2, 1000, NULL);
  g_assert_cmpstr (why, ==, "container's runAsUser breaks non-root policy (pod: \"p_ns(u1)\", container: b)");
  /* the sandbox is privileged since b is */
  edged_security_fill_sandbox (spec, &ssc, &sstore);
  g_assert_true (ssc.privileged);
  g_assert_cmpint (ssc.run_as_user->value, ==, 1000);
  edged_security_store_clear (&sstore);
}

static void
test_non_root_image_user (void)
{
  g_autoptr (EdgedPodSpec) spec = parse (POD (
    "\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"securityContext\":{\"runAsNonRoot\":true}}]"));
  g_autofree char *root = edged_security_check_non_root (spec, 0, 0, NULL);
  g_autofree char *none = edged_security_check_non_root (spec, 0, -1, NULL);
  g_autofree char *named = edged_security_check_non_root (spec, 0, -1, "app");
  Runtime__V1__LinuxContainerSecurityContext sc = RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
  EdgedSecurityStore store = { 0 };

  g_assert_cmpstr (root, ==, "container has runAsNonRoot and image will run as root (pod: \"p_ns(u1)\", container: a)");
  g_assert_cmpstr (none, ==, root);
  g_assert_nonnull (strstr (named, "image has non-numeric user (app)"));
  g_assert_null (edged_security_check_non_root (spec, 0, 1000, NULL));
  /* the image's user name goes to the runtime when no runAsUser is set */
  edged_security_fill (spec, 0, -1, "app", &sc, &store);
  g_assert_null (sc.run_as_user);
  g_assert_cmpstr (sc.run_as_username, ==, "app");
  edged_security_store_clear (&store);
}

static void
test_resources (void)
{
  g_autoptr (EdgedPodSpec) burst = parse (POD (
    "\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"requests\":{\"cpu\":\"250m\","
    "\"memory\":\"64Mi\"},\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"}}},"
    "{\"name\":\"b\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":\"1m\"}}}]"));
  g_autoptr (EdgedPodSpec) guaranteed = parse (POD (
    "\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"resources\":{\"limits\":{\"cpu\":\"2\","
    "\"memory\":\"1Gi\"}}}]"));
  g_autoptr (EdgedPodSpec) best = parse (POD ("\"containers\":[{\"name\":\"a\",\"image\":\"x\"}]"));
  Runtime__V1__LinuxContainerResources r = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
  g_autofree char *p1 = edged_pod_cgroup_parent ("/r", burst);
  g_autofree char *p2 = edged_pod_cgroup_parent ("/r", guaranteed);
  g_autofree char *p3 = edged_pod_cgroup_parent ("", best);

  g_assert_cmpstr (burst->qos, ==, "Burstable");
  g_assert_cmpstr (guaranteed->qos, ==, "Guaranteed");
  g_assert_cmpstr (best->qos, ==, "BestEffort");
  g_assert_cmpstr (p1, ==, "/r/kubepods/burstable/podu1");
  g_assert_cmpstr (p2, ==, "/r/kubepods/podu1");
  g_assert_cmpstr (p3, ==, "/kubepods/besteffort/podu1");
  edged_resources_fill (burst, 0, &r);
  g_assert_cmpint (r.cpu_shares, ==, 256);
  g_assert_cmpint (r.cpu_quota, ==, 50000);
  g_assert_cmpint (r.cpu_period, ==, 100000);
  g_assert_cmpint (r.memory_limit_in_bytes, ==, 128 << 20);
  g_assert_cmpint (r.oom_score_adj, >=, 3);
  g_assert_cmpint (r.oom_score_adj, <=, 999);
  /* 1m: the request defaults to the limit; kubelet's minimum shares and quota */
  runtime__v1__linux_container_resources__init (&r);
  edged_resources_fill (burst, 1, &r);
  g_assert_cmpint (r.cpu_shares, ==, 2);
  g_assert_cmpint (r.cpu_quota, ==, 1000);
  g_assert_cmpint (r.memory_limit_in_bytes, ==, 0);
  runtime__v1__linux_container_resources__init (&r);
  edged_resources_fill (guaranteed, 0, &r);
  g_assert_cmpint (r.cpu_shares, ==, 2048);
  g_assert_cmpint (r.oom_score_adj, ==, -997);
  runtime__v1__linux_container_resources__init (&r);
  edged_resources_fill (best, 0, &r);
  g_assert_cmpint (r.cpu_shares, ==, 2);
  g_assert_cmpint (r.cpu_quota, ==, 0);
  g_assert_cmpint (r.oom_score_adj, ==, 1000);
}

static void
test_ports (void)
{
  g_autoptr (EdgedPodSpec) spec = parse (POD (
    "\"containers\":[{\"name\":\"a\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,"
    "\"hostPort\":8080,\"hostIP\":\"127.0.0.1\"},{\"containerPort\":53,\"protocol\":\"UDP\"}]}]"));
  Runtime__V1__PodSandboxConfig config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
  EdgedPortsStore store = { 0 };

  edged_ports_fill (spec, &config, &store);
  g_assert_cmpuint (config.n_port_mappings, ==, 2);
  g_assert_cmpint (config.port_mappings[0]->container_port, ==, 80);
  g_assert_cmpint (config.port_mappings[0]->host_port, ==, 8080);
  g_assert_cmpstr (config.port_mappings[0]->host_ip, ==, "127.0.0.1");
  g_assert_cmpint (config.port_mappings[1]->protocol, ==, RUNTIME__V1__PROTOCOL__UDP);
  g_assert_cmpint (config.port_mappings[1]->host_port, ==, 0);
  edged_ports_store_clear (&store);
}

static void
test_hash (void)
{
  g_autoptr (EdgedPodSpec) a = parse (POD ("\"containers\":[{\"name\":\"a\",\"image\":\"x\"},"
                                           "{\"name\":\"b\",\"image\":\"x\"}]"));
  g_autoptr (EdgedPodSpec) b = parse (POD ("\"containers\":[{\"name\":\"a\",\"image\":\"y\"},"
                                           "{\"name\":\"b\",\"image\":\"x\"}]"));
  g_assert_cmpstr (a->containers[0].hash, !=, b->containers[0].hash);
  g_assert_cmpstr (a->containers[1].hash, ==, b->containers[1].hash);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edged-ctr/security", test_security);
  g_test_add_func ("/edged-ctr/non-root", test_non_root_image_user);
  g_test_add_func ("/edged-ctr/resources", test_resources);
  g_test_add_func ("/edged-ctr/ports", test_ports);
  g_test_add_func ("/edged-ctr/hash", test_hash);
  return g_test_run ();
}
