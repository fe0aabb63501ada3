/* edged.c: KubeEdge's edged, the node's lightweight kubelet (module and
 * group "edged"). It watches the container runtime over CRI v1
 * (node-runtime.c), registers the node and reports its status
 * (node-status.c, node-object.c), and runs the cloud's pods (pod-*.c:
 * host network or the runtime's pod network, containers with command, args,
 * env values, workingDir; no volumes, init containers or restarts yet).
 * The node name
 * is the host's [core] node-name, which replaces edgecore.yaml's
 * edged.hostnameOverride. */
#include "pod.h"
#include "pod-objects.h"
#include "static-pods.h"
#include "edged-plugin.h"
#include "server.h"

#include <string.h>

/* modules.edged of edgecore.yaml v1alpha2: the TailoredKubeletFlag keys,
 * then tailoredKubeletConfig's, flattened without a prefix. Maps are lists
 * of k=v; see docs/configuration.md. */
const EcConfigKey edged_keys[] = {
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
  /* edgecore's own: which KubeEdge formats the node and pod status use */
  { EC_CONFIG_STRING,      0, "status-format", "v1.9.2", "node and pod status formats: v1.9.2 (nodestatus, podstatus) or kubelet (KubeEdge v1.12 and later: lease, nodepatch, podpatch)" },
  { 0 }
};

/* Reads a duration key; a bad value is an init error naming the key. */
static gboolean
duration_key (EcPluginContext *context, const char *key, gint64 *ms, GError **error)
{
  g_autofree char *text = ec_plugin_context_get_string (context, key);
  g_autoptr (GError) local = NULL;
  if (!edged_duration_parse (text, ms, &local) || *ms <= 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "[edged] %s: %s", key,
                   local ? local->message : "must be positive");
      return FALSE;
    }
  return TRUE;
}

/* status-format and the keys of the kubelet formats. */
static gboolean
edged_configure_format (Edged *self, GError **error)
{
  g_autofree char *format = ec_plugin_context_get_string (self->context, "status-format");

  if (!g_strcmp0 (format, "kubelet"))
    self->kubelet_format = TRUE;
  else if (g_strcmp0 (format, "v1.9.2") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "[edged] status-format: \"%s\" is neither v1.9.2 nor kubelet", format);
      return FALSE;
    }
  self->lease_duration_s = ec_plugin_context_get_int (self->context, "node-lease-duration-seconds");
  if (self->lease_duration_s <= 0 || self->lease_duration_s > 3600)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "[edged] node-lease-duration-seconds: %" G_GINT64_FORMAT " is not in 1..3600",
                   self->lease_duration_s);
      return FALSE;
    }
  return duration_key (self->context, "node-status-report-frequency", &self->report_period_ms, error);
}

/* Reads the keys edged uses; every bad value is an error naming its key. */
static gboolean
edged_configure (Edged *self, GError **error)
{
  EcPluginContext *c = self->context;
  g_auto (GStrv) labels = ec_plugin_context_get_string_list (c, "node-labels");
  g_auto (GStrv) taints = ec_plugin_context_get_string_list (c, "register-with-taints");
  g_auto (GStrv) system_reserved = ec_plugin_context_get_string_list (c, "system-reserved");
  g_auto (GStrv) kube_reserved = ec_plugin_context_get_string_list (c, "kube-reserved");
  g_auto (GStrv) eviction = ec_plugin_context_get_string_list (c, "eviction-hard");
  g_autofree char *node_ip = ec_plugin_context_get_string (c, "node-ip");
  g_autofree char *interface = ec_plugin_context_get_string (c, "custom-interface-name");
  g_autoptr (GError) local = NULL;
  guint n = labels ? g_strv_length (labels) : 0;
  const char *names[] = { "cpu", "memory", "ephemeral-storage" };
  gint64 *targets[] = { &self->reserved_cpu_milli, &self->reserved_memory, &self->reserved_storage };

  self->namespace = ec_plugin_context_get_string (c, "register-node-namespace");
  self->root_directory = ec_plugin_context_get_string (c, "root-directory");
  self->register_node = ec_plugin_context_get_bool (c, "register-node");
  self->schedulable = ec_plugin_context_get_bool (c, "register-schedulable");
  self->max_pods = ec_plugin_context_get_int (c, "max-pods");
  self->max_dead_per_container = ec_plugin_context_get_int (c, "max-per-pod-container-count");
  self->max_dead_total = ec_plugin_context_get_int (c, "max-container-count");
  self->pod_logs_dir = ec_plugin_context_get_string (c, "pod-logs-dir");
  self->cgroup_root = ec_plugin_context_get_string (c, "cgroup-root");
  if (g_str_has_suffix (self->cgroup_root, "/"))
    self->cgroup_root[strlen (self->cgroup_root) - 1] = '\0';
  self->read_only_port = ec_plugin_context_get_int (c, "read-only-port");
  self->label_keys = g_new0 (char *, n + 1);
  self->label_values = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    if (!edged_label_parse (labels[i], &self->label_keys[i], &self->label_values[i], &local))
      goto bad_key;
  self->n_taints = taints ? g_strv_length (taints) : 0;
  self->taints = g_new0 (EdgedTaint, self->n_taints + 1);
  for (guint i = 0; i < self->n_taints; i++)
    if (!edged_taint_parse (taints[i], &self->taints[i], &local))
      {
        g_prefix_error (&local, "register-with-taints: ");
        goto bad;
      }
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      gint64 a, b;
      if (!edged_reserved_lookup (system_reserved, names[i], &a, &local))
        {
          g_prefix_error (&local, "system-reserved: ");
          goto bad;
        }
      if (!edged_reserved_lookup (kube_reserved, names[i], &b, &local))
        {
          g_prefix_error (&local, "kube-reserved: ");
          goto bad;
        }
      /* cpu stays in millicores, the others become bytes */
      *targets[i] = i == 0 ? a + b : (a + b) / 1000;
    }
  if (!edged_threshold_lookup (eviction, "memory.available", &self->evict_memory, &local)
      || !edged_threshold_lookup (eviction, "nodefs.available", &self->evict_nodefs, &local)
      || !edged_threshold_lookup (eviction, "imagefs.available", &self->evict_imagefs, &local))
    {
      g_prefix_error (&local, "eviction-hard: ");
      goto bad;
    }
  if (!duration_key (c, "node-status-update-frequency", &self->status_period_ms, error)
      || !duration_key (c, "runtime-request-timeout", &self->request_timeout_ms, error)
      || !edged_configure_format (self, error)
      || !edged_image_gc_configure (self, error))   /* image-gc.c */
    return FALSE;
  if (node_ip && *node_ip)
    {
      if (!g_hostname_is_ip_address (node_ip))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "[edged] node-ip: \"%s\" is not an IP address", node_ip);
          return FALSE;
        }
      self->node_ip = g_steal_pointer (&node_ip);
    }
  else if (!(self->node_ip = edged_host_detect_ip (interface, &local)))
    goto bad;
  return TRUE;
bad_key:
  g_prefix_error (&local, "node-labels: ");
bad:
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "[edged] %s", local->message);
  return FALSE;
}

/* Opens the CRI clients on the runtime and image endpoints. */
static gboolean
edged_connect_runtime (Edged *self, GError **error)
{
  g_autofree char *runtime = ec_plugin_context_get_string (self->context,
                                                           "container-runtime-endpoint");
  g_autofree char *image = ec_plugin_context_get_string (self->context, "image-service-endpoint");

  self->runtime = edged_cri_client_new (runtime, 0, error);
  if (!self->runtime)
    {
      g_prefix_error (error, "[edged] container-runtime-endpoint: ");
      return FALSE;
    }
  if (!image || !*image || !g_strcmp0 (image, runtime))
    self->images = self->runtime;
  else if (!(self->images = edged_cri_client_new (image, 0, error)))
    {
      g_prefix_error (error, "[edged] image-service-endpoint: ");
      return FALSE;
    }
  return TRUE;
}

/* Reads the configuration, starts the runtime probe and the node status. */
gboolean
edged_init (EcPluginContext *context, gpointer *state, GError **error)
{
  Edged *self = g_new0 (Edged, 1);
  g_autoptr (GError) local = NULL;

  self->context = context;
  self->endpoint = ec_plugin_context_get_endpoint (context);
  self->node_name = g_strdup (ec_plugin_context_get_node_name (context));
  if (!edged_configure (self, error) || !edged_connect_runtime (self, error))
    {
      edged_free (self);
      return FALSE;
    }
  ec_log_info (context, "node %s (%s), runtime %s", self->node_name, self->node_ip,
               edged_cri_client_get_path (self->runtime));
  edged_node_start (self);
  edged_health_start (self);
  edged_pods_start (self);
  /* the local kubelet endpoints (server.c): a bad address or port stops
   * edged; a port that cannot be bound (in use) only turns them off */
  if (!edged_server_start (self, &local))
    {
      if (!g_error_matches (local, G_IO_ERROR, G_IO_ERROR_INVALID_DATA))
        ec_log_warning (context, "local endpoints off: %s", local->message);
      else
        {
          g_propagate_error (error, g_steal_pointer (&local));
          edged_free (self);
          return FALSE;
        }
    }
  edged_static_start (self);     /* static-pods.c */
  edged_eviction_start (self);   /* eviction.c */
  edged_image_gc_start (self);   /* image-gc.c */
  *state = self;
  return TRUE;
}

/* Stops the timers, drops calls in flight and frees the plugin's state. */
void
edged_free (gpointer state)
{
  Edged *self = state;

  edged_server_stop (self);
  edged_node_stop (self);
  edged_lease_stop (self);
  edged_health_stop (self);
  if (self->images != self->runtime)
    edged_cri_client_free (self->images);
  edged_cri_client_free (self->runtime);
  /* after the clients: no CRI callback can run on a freed pod */
  edged_eviction_stop (self);
  edged_image_gc_free (self);    /* image-gc.c */
  edged_static_stop (self);
  edged_pods_stop (self);
  g_free (self->pod_logs_dir);
  g_free (self->cgroup_root);
  edged_conditions_clear (self);
  edged_kubelet_clear (self);
  for (guint i = 0; self->taints && i < self->n_taints; i++)
    edged_taint_clear (&self->taints[i]);
  g_free (self->taints);
  g_strfreev (self->label_keys);
  g_strfreev (self->label_values);
  g_free (self->node_ip);
  g_free (self->root_directory);
  g_free (self->namespace);
  g_free (self->node_name);
  g_free (self);
}

/* Whether resource is "<ns>/pod/<name>". */
static gboolean
is_pod_resource (const char *resource)
{
  const char *slash = resource ? strchr (resource, '/') : NULL;
  return slash && g_str_has_prefix (slash, "/pod/") && slash[5] && !strchr (slash + 5, '/');
}

/* The cloud link's state drives registration; pod messages run or remove
 * pods. Anything else is logged, and a sync request gets an error reply
 * at once so that its caller does not wait for its timeout. */
void
edged_handle_message (gpointer state, EcMessage *message)
{
  Edged *self = state;
  EcCloudState cloud = ec_message_get_cloud_state (message);
  const char *op = ec_message_get_operation (message);

  if (cloud == EC_CLOUD_STATE_CONNECTED || cloud == EC_CLOUD_STATE_DISCONNECTED)
    {
      edged_node_cloud_state (self, cloud == EC_CLOUD_STATE_CONNECTED);
      if (cloud == EC_CLOUD_STATE_CONNECTED)
        {
          edged_pods_cloud_connected (self);
          edged_static_cloud_connected (self);
          edged_eviction_cloud_connected (self);
        }
      return;
    }
  if (is_pod_resource (ec_message_get_resource (message))
      && (!g_strcmp0 (op, EC_OP_INSERT) || !g_strcmp0 (op, EC_OP_UPDATE)
          || !g_strcmp0 (op, EC_OP_DELETE)))
    {
      edged_pods_message (self, message);
      return;
    }
  /* vol: a configmap or secret from the cloud: pods' volumes follow it */
  if (edged_is_object_resource (ec_message_get_resource (message))
      && (!g_strcmp0 (op, EC_OP_INSERT) || !g_strcmp0 (op, EC_OP_UPDATE)
          || !g_strcmp0 (op, EC_OP_DELETE)))
    {
      edged_pods_object_message (self, message);
      return;
    }
  ec_log_debug (self->context, "not handled: %s %s from %s (id %s)", op,
                ec_message_get_resource (message), ec_message_get_source (message),
                ec_message_get_id (message));
  if (ec_message_get_sync (message))
    ec_endpoint_respond_error (self->endpoint, message, "edged does not handle this request");
}
