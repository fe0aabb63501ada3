/* test-edged-units.c: edged's pure parts: kubelet value syntaxes, the host
 * facts, and the Node / NodeStatusRequest objects in v1.9.2's shapes. */
#include "pod.h"
#include "pod-objects.h"

#include <string.h>

static void
test_quantity (void)
{
  struct { const char *text; gint64 milli; } good[] = {
    { "200m", 200 }, { "2", 2000 }, { "0.5", 500 }, { "1Ki", 1024000 },
    { "256Mi", 256LL * 1048576 * 1000 }, { "1.5Gi", 1610612736000LL }, { "1k", 1000000 },
    { "1G", 1000000000000LL }, { "0", 0 },
  };
  const char *bad[] = { "", "-1", "1x", "Mi", "1 Mi", " 1", "1e400", "abc", "1Mii" };
  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      gint64 v = -1;
      g_autoptr (GError) error = NULL;
      g_assert_true (edged_quantity_parse (good[i].text, &v, &error));
      g_assert_no_error (error);
      g_assert_cmpint (v, ==, good[i].milli);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      gint64 v = 0;
      g_autoptr (GError) error = NULL;
      g_assert_false (edged_quantity_parse (bad[i], &v, &error));
      g_assert_nonnull (strstr (error->message, "invalid quantity"));
    }
  {
    g_autofree char *a = edged_quantity_format_bytes (24105LL * 1048576 + 5, "Mi");
    g_autofree char *b = edged_quantity_format_bytes (2048, "Ki");
    g_autofree char *c = edged_quantity_format_bytes (-5, "Ki");
    g_assert_cmpstr (a, ==, "24105Mi");
    g_assert_cmpstr (b, ==, "2Ki");
    g_assert_cmpstr (c, ==, "0Ki");
  }
}

static void
test_duration (void)
{
  struct { const char *text; gint64 ms; } good[] = {
    { "10s", 10000 }, { "1m0s", 60000 }, { "5m0s", 300000 }, { "100ms", 100 },
    { "1h30m", 5400000 }, { "2m0s", 120000 }, { "0", 0 }, { "1.5s", 1500 },
  };
  const char *bad[] = { "", "10", "s", "1x", "-1s", "1m 0s" };
  for (gsize i = 0; i < G_N_ELEMENTS (good); i++)
    {
      gint64 v = -1;
      g_assert_true (edged_duration_parse (good[i].text, &v, NULL));
      g_assert_cmpint (v, ==, good[i].ms);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      gint64 v;
      g_autoptr (GError) error = NULL;
      g_assert_false (edged_duration_parse (bad[i], &v, &error));
      g_assert_nonnull (strstr (error->message, bad[i]));
    }
}

static void
test_labels_taints (void)
{
  char *k = NULL, *v = NULL;
  EdgedTaint t;
  g_autoptr (GError) error = NULL;

  g_assert_true (edged_label_parse ("region=east", &k, &v, NULL));
  g_assert_cmpstr (k, ==, "region");
  g_assert_cmpstr (v, ==, "east");
  g_free (k);
  g_free (v);
  g_assert_true (edged_label_parse ("node-role.kubernetes.io/gpu", &k, &v, NULL));
  g_assert_cmpstr (k, ==, "node-role.kubernetes.io/gpu");
  g_assert_cmpstr (v, ==, "");
  g_free (k);
  g_free (v);
  g_assert_false (edged_label_parse ("=x", &k, &v, &error));
  g_clear_error (&error);
  g_assert_false (edged_label_parse ("a=b c", &k, &v, &error));
  g_assert_nonnull (strstr (error->message, "a=b c"));
  g_clear_error (&error);

  g_assert_true (edged_taint_parse ("node-role.kubernetes.io/edge:NoSchedule", &t, NULL));
  g_assert_cmpstr (t.key, ==, "node-role.kubernetes.io/edge");
  g_assert_cmpstr (t.value, ==, "");
  g_assert_cmpstr (t.effect, ==, "NoSchedule");
  edged_taint_clear (&t);
  g_assert_true (edged_taint_parse ("dedicated=edge:NoExecute", &t, NULL));
  g_assert_cmpstr (t.key, ==, "dedicated");
  g_assert_cmpstr (t.value, ==, "edge");
  g_assert_cmpstr (t.effect, ==, "NoExecute");
  edged_taint_clear (&t);
  g_assert_false (edged_taint_parse ("dedicated=edge", &t, &error));
  g_clear_error (&error);
  g_assert_false (edged_taint_parse ("dedicated=edge:Always", &t, &error));
  g_assert_nonnull (strstr (error->message, "NoSchedule, PreferNoSchedule or NoExecute"));
}

static void
test_thresholds (void)
{
  char *eviction[] = { (char *) "memory.available<100Mi", (char *) "nodefs.available<10%", NULL };
  char *reserved[] = { (char *) "cpu=200m", (char *) "memory=1Gi", NULL };
  char *broken[] = { (char *) "memory.available=100Mi", NULL };
  EdgedThreshold th;
  gint64 milli;
  g_autoptr (GError) error = NULL;

  g_assert_true (edged_threshold_lookup (eviction, "memory.available", &th, NULL));
  g_assert_cmpint (edged_threshold_bytes (&th, 1LL << 30), ==, 100LL << 20);
  g_assert_true (edged_threshold_lookup (eviction, "nodefs.available", &th, NULL));
  g_assert_cmpint (edged_threshold_bytes (&th, 1000000), ==, 100000);
  g_assert_true (edged_threshold_lookup (eviction, "pid.available", &th, NULL));
  g_assert_cmpint (edged_threshold_bytes (&th, 1000000), ==, 0);
  g_assert_false (edged_threshold_lookup (broken, "memory.available", &th, &error));
  g_clear_error (&error);
  g_assert_true (edged_reserved_lookup (reserved, "cpu", &milli, NULL));
  g_assert_cmpint (milli, ==, 200);
  g_assert_true (edged_reserved_lookup (reserved, "memory", &milli, NULL));
  g_assert_cmpint (milli / 1000, ==, 1LL << 30);
  g_assert_true (edged_reserved_lookup (reserved, "ephemeral-storage", &milli, NULL));
  g_assert_cmpint (milli, ==, 0);
}

static void
test_host (void)
{
  EdgedHost host;
  g_autofree char *ip = NULL;
  g_autofree char *arch = edged_host_go_arch ("x86_64");
  g_autoptr (GError) error = NULL;

  g_assert_cmpstr (arch, ==, "amd64");
  edged_host_read (&host, "/nonexistent/kubelet/dir");
  g_assert_cmpuint (host.cpus, >=, 1);
  g_assert_cmpint (host.memory_total, >, 0);
  g_assert_cmpint (host.memory_available, <=, host.memory_total);
  /* a missing root directory: the filesystem of its closest existing parent */
  g_assert_cmpint (host.fs_capacity, >, 0);
  g_assert_cmpuint (strlen (host.kernel_version), >, 0);
  g_assert_cmpuint (strlen (host.os_image), >, 0);
  g_assert_cmpuint (strlen (host.boot_id), ==, 36);
  edged_host_clear (&host);
  ip = edged_host_detect_ip (NULL, NULL);
  g_assert_true (g_hostname_is_ip_address (ip));
  g_assert_null (edged_host_detect_ip ("no-such-if0", &error));
  g_assert_nonnull (strstr (error->message, "no-such-if0"));
}

static void
fake_edged (Edged *self)
{
  static char *keys[] = { (char *) "kubernetes.io/hostname", (char *) "zone", NULL };
  static char *values[] = { (char *) "override", (char *) "a", NULL };
  static EdgedTaint taints[] = { { (char *) "dedicated", (char *) "edge", (char *) "NoSchedule" } };
  char *eviction[] = { (char *) "memory.available<100Mi", (char *) "nodefs.available<10%", NULL };

  memset (self, 0, sizeof *self);
  self->node_name = (char *) "edgenode1";
  self->namespace = (char *) "default";
  self->label_keys = keys;
  self->label_values = values;
  self->taints = taints;
  self->n_taints = 1;
  self->schedulable = FALSE;
  self->node_ip = (char *) "127.0.0.1";
  self->max_pods = 110;
  self->read_only_port = 10350;
  self->reserved_cpu_milli = 250;
  self->reserved_memory = 0;
  edged_threshold_lookup (eviction, "memory.available", &self->evict_memory, NULL);
  edged_threshold_lookup (eviction, "nodefs.available", &self->evict_nodefs, NULL);
  self->health.version = (char *) "1.6.20";
}

static EdgedHost
fake_host (void)
{
  EdgedHost host = { 0 };
  host.kernel_version = (char *) "6.1.0";
  host.os_image = (char *) "Debian GNU/Linux 12 (bookworm)";
  host.architecture = (char *) "amd64";
  host.machine_id = (char *) "m";
  host.boot_id = (char *) "b";
  host.system_uuid = (char *) "";
  host.cpus = 2;
  host.memory_total = 24105LL << 20;
  host.memory_available = 1LL << 30;
  host.fs_capacity = 1000LL << 20;
  host.fs_available = 50LL << 20;
  return host;
}

static void
test_node_object (void)
{
  Edged self;
  EdgedHost host = fake_host ();
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;
  JsonObject *o, *labels, *status;
  JsonArray *taints;

  fake_edged (&self);
  node = edged_node_object (&self, &host);
  text = json_to_string (node, FALSE);
  o = json_node_get_object (node);
  labels = json_object_get_object_member (json_object_get_object_member (o, "metadata"), "labels");
  g_assert_cmpstr (json_object_get_string_member (labels, "kubernetes.io/hostname"), ==, "override");
  g_assert_cmpstr (json_object_get_string_member (labels, "node-role.kubernetes.io/edge"), ==, "");
  g_assert_cmpstr (json_object_get_string_member (labels, "node-role.kubernetes.io/agent"), ==, "");
  g_assert_cmpstr (json_object_get_string_member (labels, "zone"), ==, "a");
  g_assert_cmpuint (json_object_get_size (labels), ==, 6);
  taints = json_object_get_array_member (json_object_get_object_member (o, "spec"), "taints");
  g_assert_cmpuint (json_array_get_length (taints), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (taints, 1), "key"),
                   ==, "node.kubernetes.io/unschedulable");
  g_assert_true (json_object_get_boolean_member (json_object_get_object_member (o, "spec"),
                                                 "unschedulable"));
  status = json_object_get_object_member (o, "status");
  g_assert_false (json_object_has_member (status, "conditions"));
  /* v1.9.2's capture: 24105Mi capacity, 24005Mi allocatable */
  g_assert_nonnull (strstr (text, "\"capacity\":{\"cpu\":\"2\",\"ephemeral-storage\":\"1024000Ki\","
                                  "\"memory\":\"24105Mi\",\"pods\":\"110\"}"));
  g_assert_nonnull (strstr (text, "\"allocatable\":{\"cpu\":\"1750m\",\"ephemeral-storage\":\"921600Ki\","
                                  "\"memory\":\"24005Mi\",\"pods\":\"110\"}"));
  g_assert_nonnull (strstr (text, "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":0}}"));
  g_assert_nonnull (strstr (text, "\"containerRuntimeVersion\":\"remote://1.6.20\""));
  g_assert_nonnull (strstr (text, "\"kubeletVersion\":\"v1.21.4-kubeedge-v1.9.2\""));
}

static void
test_node_status (void)
{
  Edged self;
  EdgedHost host = fake_host ();
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *text = NULL;
  JsonArray *conds;
  gint64 t0 = 1795818026;   /* 2026-11-27T22:20:26Z */

  fake_edged (&self);
  /* runtime not probed yet, then ready, then down */
  edged_node_conditions_update (&self, &host, t0);
  g_assert_false (self.conds[EDGED_COND_READY].status);
  g_assert_cmpstr (self.conds[EDGED_COND_READY].message, ==,
                   "container runtime status check may not have completed yet");
  g_assert_true (self.conds[EDGED_COND_DISK].status);     /* 50Mi free < 10% of 1000Mi */
  g_assert_cmpstr (self.conds[EDGED_COND_DISK].reason, ==, "KubeletHasDiskPressure");
  g_assert_false (self.conds[EDGED_COND_MEMORY].status);
  self.health.probed = TRUE;
  self.health.ready = TRUE;
  edged_node_conditions_update (&self, &host, t0 + 10);
  g_assert_true (self.conds[EDGED_COND_READY].status);
  g_assert_cmpint (self.conds[EDGED_COND_READY].transition, ==, t0 + 10);
  g_assert_cmpint (self.conds[EDGED_COND_MEMORY].transition, ==, t0);
  node = edged_node_status (&self, &host, t0 + 20);
  text = json_to_string (node, FALSE);
  g_assert_true (g_str_has_prefix (text, "{\"ExtendResources\":null,\"Status\":{"));
  g_assert_true (g_str_has_suffix (text, ",\"UID\":\"38796d14-1df3-11e8-8e5a-286ed488f209\"}"));
  g_assert_nonnull (strstr (text, "{\"lastHeartbeatTime\":\"2026-11-27T22:20:46Z\","
                                  "\"lastTransitionTime\":\"2026-11-27T22:20:36Z\","
                                  "\"message\":\"edge is posting ready status\","
                                  "\"reason\":\"EdgeReady\",\"status\":\"True\",\"type\":\"Ready\"}"));
  g_assert_nonnull (strstr (text, "\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":10350}}"));
  g_assert_nonnull (strstr (text, "\"phase\":\"Running\""));
  conds = json_object_get_array_member (
    json_object_get_object_member (json_node_get_object (node), "Status"), "conditions");
  g_assert_cmpuint (json_array_get_length (conds), ==, 4);

  self.health.ready = FALSE;
  self.health.problem = (char *) "container runtime is down: x";
  edged_node_conditions_update (&self, &host, t0 + 30);
  g_assert_false (self.conds[EDGED_COND_READY].status);
  g_assert_cmpstr (self.conds[EDGED_COND_READY].reason, ==, "KubeletNotReady");
  g_assert_cmpstr (self.conds[EDGED_COND_READY].message, ==, "container runtime is down: x");
  g_assert_cmpint (self.conds[EDGED_COND_READY].transition, ==, t0 + 30);
  edged_conditions_clear (&self);
}

#define POD_JSON(spec) \
  "{\"metadata\":{\"name\":\"p\",\"namespace\":\"ns\",\"uid\":\"u1\",\"labels\":{\"app\":\"x\"}}," \
  "\"spec\":{\"nodeName\":\"edgenode1\"," spec "}}"

static void
test_pod_spec (void)
{
  const char *good = POD_JSON ("\"hostNetwork\":true,\"restartPolicy\":\"Never\","
                               "\"containers\":[{\"name\":\"c\",\"image\":\"busybox\","
                               "\"command\":[\"sh\"],\"args\":[\"-c\",\"true\"],"
                               "\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"B\"}],"
                               "\"workingDir\":\"/w\",\"resources\":{\"limits\":{\"cpu\":\"1\"}}}]");
  struct { const char *json; const char *error; } bad[] = {
    { "[1]", "a pod must be a JSON object" },
    { "{\"metadata\":{\"name\":\"p\"}}", "pod without metadata.name or metadata.uid" },
    { POD_JSON ("\"containers\":[]"), "pod p has no containers" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\"}]"), "pod p: container c has no image" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"imagePullPolicy\":\"X\"}]"),
      "unknown imagePullPolicy X" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"command\":[1]}]"),
      "command and args must be lists of strings" },
    /* vol: volumes, mounts and valueFrom are read; what they cannot be is refused */
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"env\":[{\"name\":\"A\","
                "\"valueFrom\":{\"fieldRef\":{\"fieldPath\":\"spec.x\"}}}]}]"),
      "env A: unsupported fieldPath spec.x" },
    { POD_JSON ("\"volumes\":[{\"name\":\"v\"}],\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]"),
      "volume v: exactly one of emptyDir, hostPath, configMap, secret, downwardAPI, projected" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\",\"volumeMounts\":[{\"name\":\"v\","
                "\"mountPath\":\"/v\"}]}]"), "container c: volumeMount v names no volume of the pod" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                "\"securityContext\":{\"capabilities\":{\"drop\":[\"NET_RAWX\"]}}}]"),
      "pod p: container c: unknown capability \"NET_RAWX\" in capabilities.drop" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                "\"securityContext\":{\"runAsUser\":-1}}]"),
      "container c: securityContext.runAsUser must be an integer from 0 to 2147483647" },
    { POD_JSON ("\"securityContext\":{\"sysctls\":[]},\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]"),
      "spec: securityContext.sysctls is not supported yet" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                "\"resources\":{\"limits\":{\"memory\":\"-1Mi\"}}}]"),
      "container c: resources.limits.memory: \"-1Mi\" is not a non-negative quantity" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                "\"resources\":{\"requests\":{\"cpu\":\"2\"},\"limits\":{\"cpu\":\"1\"}}}]"),
      "container c: resources: the cpu request exceeds the limit" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                "\"ports\":[{\"containerPort\":70000}]}]"),
      "container c: ports[0].containerPort must be from 1 to 65535" },
    { POD_JSON ("\"containers\":[{\"name\":\"c\",\"image\":\"i\","
                "\"ports\":[{\"containerPort\":80,\"protocol\":\"ICMP\"}]}]"),
      "container c: ports[0]: unknown protocol \"ICMP\"" },
    { POD_JSON ("\"initContainers\":[{\"name\":\"c\",\"image\":\"i\"}],"
                "\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]"),
      "pod p: two containers are named c" },
    { POD_JSON ("\"volumes\":[{\"name\":\"v\",\"configMap\":{\"name\":\"m\",\"items\":[{\"key\":\"k\","
                "\"path\":\"a/../../b\"}]}}],\"containers\":[{\"name\":\"c\",\"image\":\"i\"}]"),
      "volume v: item invalid path \"a/../../b\": must not contain '..'" },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (EdgedPodSpec) spec = edged_pod_spec_parse (good, strlen (good), &error);
  g_autoptr (GString) deep = g_string_new ("{\"a\":");

  g_assert_no_error (error);
  g_assert_cmpstr (spec->namespace, ==, "ns");
  g_assert_cmpstr (spec->uid, ==, "u1");
  g_assert_cmpstr (spec->node_name, ==, "edgenode1");
  g_assert_true (spec->host_network);
  g_assert_true (spec->has_resources);
  g_assert_cmpint (spec->grace_seconds, ==, 30);
  g_assert_cmpstr (spec->restart_policy, ==, "Never");
  g_assert_cmpuint (spec->n_containers, ==, 1);
  g_assert_cmpstr (spec->containers[0].pull_policy, ==, "Always");   /* no tag: latest */
  g_assert_cmpstr (spec->containers[0].args[1], ==, "true");
  g_assert_cmpstr (spec->containers[0].env_names[1], ==, "B");
  g_assert_cmpstr (spec->containers[0].env_values[1], ==, "");
  g_assert_cmpstr (spec->label_keys[0], ==, "app");
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) e = NULL;
      g_assert_null (edged_pod_spec_parse (bad[i].json, strlen (bad[i].json), &e));
      g_assert_nonnull (e);
      if (!strstr (e->message, bad[i].error))
        g_error ("%s: got \"%s\"", bad[i].json, e->message);
    }
  /* nesting and size limits */
  for (int i = 0; i < 40; i++)
    g_string_append (deep, "[");
  {
    g_autoptr (GError) e = NULL;
    g_autofree char *big = g_strnfill (EDGED_POD_MAX_BYTES + 1, ' ');
    g_assert_null (edged_pod_spec_parse (deep->str, deep->len, &e));
    g_assert_nonnull (strstr (e->message, "nested deeper than 32"));
    g_clear_error (&e);
    g_assert_null (edged_pod_spec_parse (big, strlen (big), &e));
    g_assert_nonnull (strstr (e->message, "larger than 1 MiB"));
  }
}

static void
test_pod_status (void)
{
  Edged self;
  const char *json = POD_JSON ("\"hostNetwork\":true,\"restartPolicy\":\"Never\","
                               "\"containers\":[{\"name\":\"a\",\"image\":\"i:1\"},"
                               "{\"name\":\"b\",\"image\":\"i:1\"}]");
  EdgedPod pod = { 0 };
  EdgedContainer containers[2] = { { 0 } };
  g_autoptr (JsonNode) st = NULL;
  g_autofree char *text = NULL;

  fake_edged (&self);
  self.health.name = (char *) "containerd";
  pod.edged = &self;
  pod.spec = edged_pod_spec_parse (json, strlen (json), NULL);
  pod.containers = containers;
  pod.start_time = pod.init_time = 1795818026;
  pod.stage = POD_PULLING;
  containers[0].state = containers[1].state = -1;
  containers[1].waiting_reason = (char *) "ErrImagePull";
  containers[1].waiting_message = (char *) "no route";
  st = edged_pod_status (&pod, 1795818030);
  text = json_to_string (st, FALSE);
  g_assert_nonnull (strstr (text, "\"phase\":\"Pending\""));
  g_assert_nonnull (strstr (text, "\"message\":\"containers with unready status: [a b]\""));
  g_assert_nonnull (strstr (text, "\"state\":{\"waiting\":{\"message\":\"no route\","
                                  "\"reason\":\"ErrImagePull\"}}"));
  g_assert_null (strstr (text, "podIP"));
  g_clear_pointer (&st, json_node_unref);
  g_clear_pointer (&text, g_free);

  /* both ran: a exited 0, b exited 2 -> Failed (restartPolicy Never) */
  pod.stage = POD_RUNNING;
  pod.sandbox_id = (char *) "s";
  for (int i = 0; i < 2; i++)
    {
      containers[i].id = (char *) (i ? "idb" : "ida");
      containers[i].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
      containers[i].exit_code = i * 2;
      containers[i].started_at = 1795818027LL * 1000000000;
      containers[i].finished_at = 1795818029LL * 1000000000;
    }
  st = edged_pod_status (&pod, 1795818031);
  text = json_to_string (st, FALSE);
  g_assert_nonnull (strstr (text, "\"phase\":\"Failed\""));
  g_assert_nonnull (strstr (text, "\"terminated\":{\"containerID\":\"containerd://idb\",\"exitCode\":2,"
                                  "\"finishedAt\":\"2026-11-27T22:20:29Z\",\"reason\":\"Error\","
                                  "\"startedAt\":\"2026-11-27T22:20:27Z\"}"));
  g_assert_nonnull (strstr (text, "\"reason\":\"Completed\""));
  g_assert_nonnull (strstr (text, "\"podIP\":\"127.0.0.1\",\"podIPs\":[{\"ip\":\"127.0.0.1\"}]"));
  g_assert_nonnull (strstr (text, "\"qosClass\":\"BestEffort\""));
  g_clear_pointer (&st, json_node_unref);
  g_clear_pointer (&text, g_free);

  /* running -> Running and Ready */
  containers[0].state = containers[1].state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
  st = edged_pod_status (&pod, 1795818032);
  text = json_to_string (st, FALSE);
  g_assert_nonnull (strstr (text, "\"phase\":\"Running\""));
  g_assert_nonnull (strstr (text, "{\"lastProbeTime\":null,\"lastTransitionTime\":"
                                  "\"2026-11-27T22:20:32Z\",\"status\":\"True\",\"type\":\"Ready\"}"));
  edged_pod_spec_free (pod.spec);
}

/* pods30: kubelet's $(VAR) expansion of command and args */
static void
test_expand_command (void)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func (g_free);
  const char *const in[] = { "echo", "$(GREETING) $(WHO)!", "$$(GREETING)", "$$$(WHO)", "$(MISSING)",
                             "a$", "$(unclosed", "$x $(EMPTY)|", "$(GREETING)$(GREETING)", NULL };
  const char *const want[] = { "echo", "hello world!", "$(GREETING)", "$world", "$(MISSING)",
                               "a$", "$(unclosed", "$x |", "hellohello", NULL };
  g_auto (GStrv) out = NULL;

  g_ptr_array_add (names, g_strdup ("GREETING"));
  g_ptr_array_add (values, g_strdup ("hello"));
  g_ptr_array_add (names, g_strdup ("WHO"));
  g_ptr_array_add (values, g_strdup ("world"));
  g_ptr_array_add (names, g_strdup ("EMPTY"));
  g_ptr_array_add (values, g_strdup (""));
  out = edged_expand_strv ((char *const *) in, names, values);
  g_assert_nonnull (out);
  g_assert_cmpstrv (out, want);
  g_assert_null (edged_expand_strv (NULL, names, values));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edged/quantity", test_quantity);
  g_test_add_func ("/edged/duration", test_duration);
  g_test_add_func ("/edged/labels-taints", test_labels_taints);
  g_test_add_func ("/edged/thresholds", test_thresholds);
  g_test_add_func ("/edged/host", test_host);
  g_test_add_func ("/edged/node-object", test_node_object);
  g_test_add_func ("/edged/node-status", test_node_status);
  g_test_add_func ("/edged/pod-spec", test_pod_spec);
  g_test_add_func ("/edged/pod-status", test_pod_status);
  g_test_add_func ("/edged/expand-command", test_expand_command);
  return g_test_run ();
}
