/* edged.c: KubeEdge's edged, the node's lightweight kubelet (module and
 * group "edged"). So far it only joins the bus: it neither registers the
 * node nor runs pods. The node name is the host's [core] node-name, which
 * replaces edgecore.yaml's edged.hostnameOverride. */
#include <edgecore.h>

#define EDGED_BUS_NAME  "edged"
#define EDGED_BUS_GROUP "edged"

typedef struct {
  EcPluginContext *context;
  EcEndpoint      *endpoint;
} Edged;

/* modules.edged of edgecore.yaml v1alpha2: the TailoredKubeletFlag keys,
 * then tailoredKubeletConfig's, flattened without a prefix. Maps are lists
 * of k=v; see docs/configuration.md. */
static const EcConfigKey edged_keys[] = {
  { EC_CONFIG_BOOL,        0, "enable", "true", "run edged" },
  { EC_CONFIG_BOOL,        0, "report-event", "false", "report pod events to the cloud" },
  { EC_CONFIG_STRING,      0, "custom-interface-name", "", "take node-ip from this network interface" },
  { EC_CONFIG_STRING,      0, "register-node-namespace", "default", "namespace the node registers in" },
  { EC_CONFIG_STRING,      0, "node-ip", "", "IP address reported for the node; empty: detected" },
  { EC_CONFIG_STRING,      0, "root-directory", "/var/lib/kubelet", "kubelet root directory (volumes, pod data)" },
  { EC_CONFIG_STRING,      0, "pod-sandbox-image", "kubeedge/pause:3.6", "image of the pod sandbox (pause) container" },
  { EC_CONFIG_STRING,      0, "runtime-cgroups", "", "cgroup of the container runtime" },
  { EC_CONFIG_STRING_LIST, 0, "node-labels", "", "labels of the node, each key=value" },
  { EC_CONFIG_BOOL,        0, "register-schedulable", "true", "register the node as schedulable" },
  { EC_CONFIG_INT,         0, "max-container-count", "-1", "most dead containers kept on the node; -1: no limit" },
  { EC_CONFIG_INT,         0, "max-per-pod-container-count", "1", "most dead containers kept per pod" },
  { EC_CONFIG_STRING,      0, "minimum-gc-age", "0s", "minimum age of a dead container before it is collected" },
  { EC_CONFIG_STRING,      0, "address", "127.0.0.1", "address of the local kubelet endpoints" },
  { EC_CONFIG_INT,         0, "read-only-port", "10350", "port of the local kubelet endpoints; 0: off" },
  { EC_CONFIG_STRING,      0, "static-pod-path", "/etc/kubeedge/manifests", "directory of static pod manifests" },
  { EC_CONFIG_STRING,      0, "pod-logs-dir", "/var/log/pods", "directory of container logs" },
  { EC_CONFIG_STRING,      0, "container-runtime-endpoint", "unix:///run/containerd/containerd.sock", "CRI runtime service endpoint" },
  { EC_CONFIG_STRING,      0, "image-service-endpoint", "unix:///run/containerd/containerd.sock", "CRI image service endpoint" },
  { EC_CONFIG_STRING,      0, "cgroup-driver", "cgroupfs", "cgroup driver: cgroupfs or systemd" },
  { EC_CONFIG_BOOL,        0, "cgroups-per-qos", "true", "create the QoS cgroup hierarchy" },
  { EC_CONFIG_STRING,      0, "cgroup-root", "", "root cgroup for pods; empty: the runtime default" },
  { EC_CONFIG_STRING,      0, "cluster-domain", "cluster.local", "DNS domain of the cluster" },
  { EC_CONFIG_STRING_LIST, 0, "cluster-dns", "", "IP addresses of the cluster DNS servers" },
  { EC_CONFIG_BOOL,        0, "register-node", "true", "register the node with the cloud" },
  { EC_CONFIG_STRING_LIST, 0, "register-with-taints", "", "taints the node registers with, each key=value:effect" },
  { EC_CONFIG_STRING,      0, "sync-frequency", "1m0s", "longest period between pod syncs" },
  { EC_CONFIG_STRING,      0, "node-status-update-frequency", "10s", "how often the node status is computed" },
  { EC_CONFIG_STRING,      0, "node-status-report-frequency", "5m0s", "how often an unchanged node status is reported" },
  { EC_CONFIG_INT,         0, "node-lease-duration-seconds", "40", "duration of the node lease in seconds" },
  { EC_CONFIG_INT,         0, "max-pods", "110", "most pods on the node" },
  { EC_CONFIG_INT,         0, "pod-pids-limit", "-1", "most processes per pod; -1: no limit" },
  { EC_CONFIG_INT,         0, "registry-pull-qps", "5", "image pulls per second; 0: no limit" },
  { EC_CONFIG_INT,         0, "registry-burst", "10", "burst of image pulls above registry-pull-qps" },
  { EC_CONFIG_BOOL,        0, "serialize-image-pulls", "true", "pull one image at a time" },
  { EC_CONFIG_STRING,      0, "image-minimum-gc-age", "2m0s", "minimum age of an unused image before it is collected" },
  { EC_CONFIG_INT,         0, "image-gc-high-threshold-percent", "85", "disk usage that starts image collection" },
  { EC_CONFIG_INT,         0, "image-gc-low-threshold-percent", "80", "disk usage image collection brings back to" },
  { EC_CONFIG_STRING,      0, "volume-stats-agg-period", "1m0s", "how often volume disk usage is computed" },
  { EC_CONFIG_STRING,      0, "runtime-request-timeout", "2m0s", "timeout of CRI requests except long-running ones" },
  { EC_CONFIG_STRING_LIST, 0, "eviction-hard", "memory.available<100Mi;nodefs.available<10%;nodefs.inodesFree<5%;imagefs.available<15%;imagefs.inodesFree<5%", "hard eviction thresholds, each signal<quantity" },
  { EC_CONFIG_STRING_LIST, 0, "system-reserved", "", "resources reserved for the system, each name=quantity" },
  { EC_CONFIG_STRING_LIST, 0, "kube-reserved", "", "resources reserved for edgecore and the runtime, each name=quantity" },
  { EC_CONFIG_STRING_LIST, 0, "enforce-node-allocatable", "pods", "levels of node allocatable enforcement" },
  { EC_CONFIG_STRING,      0, "container-log-max-size", "10Mi", "size at which a container log is rotated" },
  { EC_CONFIG_INT,         0, "container-log-max-files", "5", "most rotated log files per container" },
  { EC_CONFIG_STRING,      0, "resolv-conf", "/etc/resolv.conf", "resolver configuration given to pods" },
  { EC_CONFIG_BOOL,        0, "fail-swap-on", "false", "refuse to start when swap is on" },
  { 0 }
};

/* Creates the plugin's state and reports where it sits on the bus. */
static gboolean
edged_init (EcPluginContext *context, gpointer *state, GError **error)
{
  Edged *self = g_new0 (Edged, 1);

  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  ec_log_info (context, "registered as %s/%s",
               ec_endpoint_get_name (self->endpoint),
               ec_endpoint_get_group (self->endpoint));
  *state = self;
  return TRUE;
}

/* Frees the plugin's state. */
static void
edged_free (gpointer state)
{
  g_free (state);
}

/* Logs a message. A sync request gets an error reply at once, so that its
 * caller does not wait for its timeout. */
static void
edged_handle_message (gpointer state, EcMessage *message)
{
  Edged *self = state;

  ec_log_debug (self->context, "ignoring %s %s from %s (id %s)",
                ec_message_get_operation (message), ec_message_get_resource (message),
                ec_message_get_source (message), ec_message_get_id (message));
  ec_endpoint_respond_error (self->endpoint, message, "edged has no behaviour yet");
}

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "edged",
  .version = EC_VERSION,
  .summary = "edged (edged/edged): node and pod manager — registers on the bus only; behaviour not built yet",
  .bus_name = EDGED_BUS_NAME,
  .bus_group = EDGED_BUS_GROUP,
  .config_keys = edged_keys,
  .init = edged_init,
  .free = edged_free,
  .handle_message = edged_handle_message,
};
