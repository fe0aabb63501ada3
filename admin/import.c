/* import.c: `edgecore import-config FILE`: a KubeEdge edgecore.yaml
 * (v1alpha1 of KubeEdge v1.9.2, or v1alpha2 of current KubeEdge) read
 * with libyaml and written as one conf.d file: every key with an
 * equivalent (docs/configuration.md), one warning per key without. The
 * certificates and the database stay where the file says they are. */
#include "config.h"

#include "admin.h"
#include "ytree.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

typedef enum {
  CONV_STR,       /* scalar as is */
  CONV_INT,
  CONV_BOOL,
  CONV_SECS,      /* int seconds -> Go duration */
  CONV_MINS,      /* int minutes -> Go duration (v1alpha1 runtimeRequestTimeout) */
  CONV_NANOS,     /* int nanoseconds -> Go duration (v1alpha1 volumeStatsAggPeriod) */
  CONV_MAP_EQ,    /* {k: v} -> k=v;... */
  CONV_MAP_LT,    /* {signal: quantity} -> signal<quantity;... */
  CONV_TAINTS,    /* [{key, value, effect}] -> key=value:effect;... */
  CONV_LIST,      /* [a, b] -> a;b */
  CONV_CSV,       /* "a,b" -> a;b */
  CONV_NODE_NAME, /* a string that must be a valid node name */
  CONV_RUNTIME,   /* v1alpha1 CRI endpoint: dockershim is gone */
} Conv;

enum { V1 = 1, V2 = 2, V12 = 3 };

typedef struct {
  guint       versions;
  const char *path;     /* dotted YAML path */
  const char *section;  /* conf.d section */
  const char *key;      /* conf.d key */
  Conv        conv;
} Mapping;

#define E  "modules.edged."
#define T  "modules.edged.tailoredKubeletConfig."
#define H  "modules.edgeHub."
#define B  "modules.eventBus."
#define M  "modules.metaManager."
#define S  "modules.edgeStream."
#define MS "modules.metaManager.metaServer."

static const Mapping mappings[] = {
  { V12, "database.driverName", "database", "driver-name", CONV_STR },
  { V12, "database.aliasName", "database", "alias-name", CONV_STR },
  { V12, "database.dataSource", "database", "data-source", CONV_STR },
  /* edged, both versions */
  { V12, E "enable", "edged", "enable", CONV_BOOL },
  { V12, E "hostnameOverride", "core", "node-name", CONV_NODE_NAME },
  { V12, E "nodeIP", "edged", "node-ip", CONV_STR },
  { V12, E "podSandboxImage", "edged", "pod-sandbox-image", CONV_STR },
  { V12, E "registerNodeNamespace", "edged", "register-node-namespace", CONV_STR },
  { V12, E "customInterfaceName", "edged", "custom-interface-name", CONV_STR },
  /* edged, v1alpha1 */
  { V1, E "labels", "edged", "node-labels", CONV_MAP_EQ },
  { V1, E "taints", "edged", "register-with-taints", CONV_TAINTS },
  { V1, E "nodeStatusUpdateFrequency", "edged", "node-status-update-frequency", CONV_SECS },
  { V1, E "remoteRuntimeEndpoint", "edged", "container-runtime-endpoint", CONV_RUNTIME },
  { V1, E "remoteImageEndpoint", "edged", "image-service-endpoint", CONV_RUNTIME },
  { V1, E "clusterDNS", "edged", "cluster-dns", CONV_CSV },
  { V1, E "clusterDomain", "edged", "cluster-domain", CONV_STR },
  { V1, E "runtimeRequestTimeout", "edged", "runtime-request-timeout", CONV_MINS },
  { V1, E "registerNode", "edged", "register-node", CONV_BOOL },
  { V1, E "imageGCHighThreshold", "edged", "image-gc-high-threshold-percent", CONV_INT },
  { V1, E "imageGCLowThreshold", "edged", "image-gc-low-threshold-percent", CONV_INT },
  { V1, E "maximumDeadContainersPerPod", "edged", "max-per-pod-container-count", CONV_INT },
  { V1, E "cgroupDriver", "edged", "cgroup-driver", CONV_STR },
  { V1, E "cgroupsPerQOS", "edged", "cgroups-per-qos", CONV_BOOL },
  { V1, E "cgroupRoot", "edged", "cgroup-root", CONV_STR },
  { V1, E "volumeStatsAggPeriod", "edged", "volume-stats-agg-period", CONV_NANOS },
  /* edged, v1alpha2 */
  { V2, E "reportEvent", "edged", "report-event", CONV_BOOL },
  { V2, E "rootDirectory", "edged", "root-directory", CONV_STR },
  { V2, E "runtimeCgroups", "edged", "runtime-cgroups", CONV_STR },
  { V2, E "nodeLabels", "edged", "node-labels", CONV_MAP_EQ },
  { V2, E "registerSchedulable", "edged", "register-schedulable", CONV_BOOL },
  { V2, E "maxContainerCount", "edged", "max-container-count", CONV_INT },
  { V2, E "maxPerPodContainerCount", "edged", "max-per-pod-container-count", CONV_INT },
  { V2, E "minimumGCAge", "edged", "minimum-gc-age", CONV_STR },
  { V2, T "address", "edged", "address", CONV_STR },
  { V2, T "readOnlyPort", "edged", "read-only-port", CONV_INT },
  { V2, T "staticPodPath", "edged", "static-pod-path", CONV_STR },
  { V2, T "podLogsDir", "edged", "pod-logs-dir", CONV_STR },
  { V2, T "containerRuntimeEndpoint", "edged", "container-runtime-endpoint", CONV_STR },
  { V2, T "imageServiceEndpoint", "edged", "image-service-endpoint", CONV_STR },
  { V2, T "cgroupDriver", "edged", "cgroup-driver", CONV_STR },
  { V2, T "cgroupsPerQOS", "edged", "cgroups-per-qos", CONV_BOOL },
  { V2, T "cgroupRoot", "edged", "cgroup-root", CONV_STR },
  { V2, T "clusterDomain", "edged", "cluster-domain", CONV_STR },
  { V2, T "clusterDNS", "edged", "cluster-dns", CONV_LIST },
  { V2, T "registerNode", "edged", "register-node", CONV_BOOL },
  { V2, T "registerWithTaints", "edged", "register-with-taints", CONV_TAINTS },
  { V2, T "syncFrequency", "edged", "sync-frequency", CONV_STR },
  { V2, T "nodeStatusUpdateFrequency", "edged", "node-status-update-frequency", CONV_STR },
  { V2, T "nodeStatusReportFrequency", "edged", "node-status-report-frequency", CONV_STR },
  { V2, T "nodeLeaseDurationSeconds", "edged", "node-lease-duration-seconds", CONV_INT },
  { V2, T "maxPods", "edged", "max-pods", CONV_INT },
  { V2, T "podPidsLimit", "edged", "pod-pids-limit", CONV_INT },
  { V2, T "registryPullQPS", "edged", "registry-pull-qps", CONV_INT },
  { V2, T "registryBurst", "edged", "registry-burst", CONV_INT },
  { V2, T "serializeImagePulls", "edged", "serialize-image-pulls", CONV_BOOL },
  { V2, T "imageMinimumGCAge", "edged", "image-minimum-gc-age", CONV_STR },
  { V2, T "imageGCHighThresholdPercent", "edged", "image-gc-high-threshold-percent", CONV_INT },
  { V2, T "imageGCLowThresholdPercent", "edged", "image-gc-low-threshold-percent", CONV_INT },
  { V2, T "volumeStatsAggPeriod", "edged", "volume-stats-agg-period", CONV_STR },
  { V2, T "runtimeRequestTimeout", "edged", "runtime-request-timeout", CONV_STR },
  { V2, T "evictionHard", "edged", "eviction-hard", CONV_MAP_LT },
  { V2, T "systemReserved", "edged", "system-reserved", CONV_MAP_EQ },
  { V2, T "kubeReserved", "edged", "kube-reserved", CONV_MAP_EQ },
  { V2, T "enforceNodeAllocatable", "edged", "enforce-node-allocatable", CONV_LIST },
  { V2, T "containerLogMaxSize", "edged", "container-log-max-size", CONV_STR },
  { V2, T "containerLogMaxFiles", "edged", "container-log-max-files", CONV_INT },
  { V2, T "resolvConf", "edged", "resolv-conf", CONV_STR },
  { V2, T "failSwapOn", "edged", "fail-swap-on", CONV_BOOL },
  /* edgeHub */
  { V12, H "enable", "edgehub", "enable", CONV_BOOL },
  { V12, H "heartbeat", "edgehub", "heartbeat", CONV_INT },
  { V2, H "messageQPS", "edgehub", "message-qps", CONV_INT },
  { V2, H "messageBurst", "edgehub", "message-burst", CONV_INT },
  { V12, H "projectID", "edgehub", "project-id", CONV_STR },
  { V12, H "tlsCaFile", "edgehub", "tls-ca-file", CONV_STR },
  { V12, H "tlsCertFile", "edgehub", "tls-cert-file", CONV_STR },
  { V12, H "tlsPrivateKeyFile", "edgehub", "tls-private-key-file", CONV_STR },
  { V12, H "token", "edgehub", "token", CONV_STR },
  { V12, H "httpServer", "edgehub", "http-server", CONV_STR },
  { V12, H "rotateCertificates", "edgehub", "rotate-certificates", CONV_BOOL },
  { V12, H "websocket.enable", "edgehub", "websocket-enable", CONV_BOOL },
  { V12, H "websocket.server", "edgehub", "websocket-server", CONV_STR },
  { V12, H "websocket.handshakeTimeout", "edgehub", "websocket-handshake-timeout", CONV_INT },
  { V12, H "websocket.readDeadline", "edgehub", "websocket-read-deadline", CONV_INT },
  { V12, H "websocket.writeDeadline", "edgehub", "websocket-write-deadline", CONV_INT },
  { V12, H "quic.enable", "edgehub", "quic-enable", CONV_BOOL },
  { V12, H "quic.server", "edgehub", "quic-server", CONV_STR },
  { V12, H "quic.handshakeTimeout", "edgehub", "quic-handshake-timeout", CONV_INT },
  { V12, H "quic.readDeadline", "edgehub", "quic-read-deadline", CONV_INT },
  { V12, H "quic.writeDeadline", "edgehub", "quic-write-deadline", CONV_INT },
  /* eventBus */
  { V12, B "enable", "eventbus", "enable", CONV_BOOL },
  { V12, B "mqttMode", "eventbus", "mqtt-mode", CONV_INT },
  { V12, B "mqttServerExternal", "eventbus", "mqtt-server-external", CONV_STR },
  { V12, B "mqttServerInternal", "eventbus", "mqtt-server-internal", CONV_STR },
  { V12, B "mqttQOS", "eventbus", "mqtt-qos", CONV_INT },
  { V12, B "mqttRetain", "eventbus", "mqtt-retain", CONV_BOOL },
  { V12, B "mqttSessionQueueSize", "eventbus", "mqtt-session-queue-size", CONV_INT },
  { V2, B "mqttSubClientID", "eventbus", "mqtt-sub-client-id", CONV_STR },
  { V2, B "mqttPubClientID", "eventbus", "mqtt-pub-client-id", CONV_STR },
  { V2, B "mqttUsername", "eventbus", "mqtt-username", CONV_STR },
  { V2, B "mqttPassword", "eventbus", "mqtt-password", CONV_STR },
  { V12, B "eventBusTLS.enable", "eventbus", "tls-enable", CONV_BOOL },
  { V12, B "eventBusTLS.tlsMqttCAFile", "eventbus", "tls-mqtt-ca-file", CONV_STR },
  { V12, B "eventBusTLS.tlsMqttCertFile", "eventbus", "tls-mqtt-cert-file", CONV_STR },
  { V12, B "eventBusTLS.tlsMqttPrivateKeyFile", "eventbus", "tls-mqtt-private-key-file", CONV_STR },
  /* metaManager and metaServer */
  { V12, M "enable", "metamanager", "enable", CONV_BOOL },
  { V12, M "contextSendGroup", "metamanager", "context-send-group", CONV_STR },
  { V12, M "contextSendModule", "metamanager", "context-send-module", CONV_STR },
  { V12, M "remoteQueryTimeout", "metamanager", "remote-query-timeout", CONV_INT },
  { V12, MS "enable", "metaserver", "enable", CONV_BOOL },
  { V12, MS "server", "metaserver", "server", CONV_STR },
  { V2, MS "dummyServer", "metaserver", "dummy-server", CONV_STR },
  { V2, MS "tlsCaFile", "metaserver", "tls-ca-file", CONV_STR },
  { V2, MS "tlsCertFile", "metaserver", "tls-cert-file", CONV_STR },
  { V2, MS "tlsPrivateKeyFile", "metaserver", "tls-private-key-file", CONV_STR },
  { V2, MS "serviceAccountIssuers", "metaserver", "service-account-issuers", CONV_LIST },
  { V2, MS "apiAudiences", "metaserver", "api-audiences", CONV_LIST },
  { V2, MS "serviceAccountKeyFiles", "metaserver", "service-account-key-files", CONV_LIST },
  { V2, "featureGates.requireAuthorization", "metaserver", "require-authorization", CONV_BOOL },
  /* deviceTwin, edgeStream */
  { V12, "modules.deviceTwin.enable", "devicetwin", "enable", CONV_BOOL },
  { V2, "modules.deviceTwin.dmiSockPath", "devicetwin", "dmi-sock-path", CONV_STR },
  { V12, S "enable", "edgestream", "enable", CONV_BOOL },
  { V12, S "server", "edgestream", "server", CONV_STR },
  { V12, S "handshakeTimeout", "edgestream", "handshake-timeout", CONV_INT },
  { V12, S "readDeadline", "edgestream", "read-deadline", CONV_INT },
  { V12, S "writeDeadline", "edgestream", "write-deadline", CONV_INT },
  { V12, S "tlsTunnelCAFile", "edgestream", "tls-tunnel-ca-file", CONV_STR },
  { V12, S "tlsTunnelCertFile", "edgestream", "tls-tunnel-cert-file", CONV_STR },
  { V12, S "tlsTunnelPrivateKeyFile", "edgestream", "tls-tunnel-private-key-file", CONV_STR },
};

/* The conf.d sections in the order they are written. */
static const char *const sections[] = { "core", "database", "edged", "edgehub", "metamanager",
                                        "metaserver", "eventbus", "devicetwin", "edgestream" };

typedef struct {
  guint       version;
  const char *file;
  GHashTable *values;     /* "section\nkey" -> value */
  GPtrArray  *order;      /* "section\nkey" in table order */
  GPtrArray  *warnings;   /* text */
  gboolean    dockershim;
} Import;

static void
warn (Import *im, int line, const char *path, const char *why)
{
  g_ptr_array_add (im->warnings, g_strdup_printf ("%s:%d: %s: %s", im->file, line, path, why));
}

/* Go's time.Duration.String() of whole seconds: 10s, 1m0s, 2h0m0s. */
static char *
go_duration (gint64 s)
{
  if (s == 0)
    return g_strdup ("0s");
  if (s < 60)
    return g_strdup_printf ("%" G_GINT64_FORMAT "s", s);
  if (s < 3600)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s", s / 60, s % 60);
  return g_strdup_printf ("%" G_GINT64_FORMAT "h%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s", s / 3600,
                          (s % 3600) / 60, s % 60);
}

static gboolean
scalar_int (const EcYNode *n, gint64 *out)
{
  char *end = NULL;
  if (n->kind != EC_YNODE_SCALAR || n->quoted || !*n->scalar)
    return FALSE;
  *out = g_ascii_strtoll (n->scalar, &end, 10);
  return *end == '\0';
}

/* Converts a value into conf.d file syntax (escaped); NULL (and a
 * warning) when its type is wrong. */
static char *
convert (Import *im, const Mapping *m, const EcYNode *n)
{
  gint64 i;
  g_autoptr (GString) s = g_string_new (NULL);

  switch (m->conv)
    {
    case CONV_STR:
    case CONV_NODE_NAME:
    case CONV_RUNTIME:
      if (n->kind != EC_YNODE_SCALAR)
        break;
      if (m->conv == CONV_NODE_NAME && *n->scalar)
        {
          g_autoptr (GError) e = NULL;
          if (!ec_check_node_name (n->scalar, &e))
            {
              warn (im, n->line, m->path, e->message);
              return NULL;
            }
        }
      if (m->conv == CONV_RUNTIME && (strstr (n->scalar, "dockershim") || im->dockershim))
        {
          warn (im, n->line, m->path,
                _("dockershim is gone (it was built into the Go EdgeCore): edgecore talks CRI to "
                  "containerd (unix:///run/containerd/containerd.sock) or another CRI runtime; "
                  "the default is kept"));
          return NULL;
        }
      if (m->conv == CONV_STR && strcmp (m->key, "node-ip") == 0 && !*n->scalar)
        return NULL;
      return ec_confw_escape (n->scalar);
    case CONV_INT:
      if (!scalar_int (n, &i))
        break;
      return g_strdup_printf ("%" G_GINT64_FORMAT, i);
    case CONV_BOOL:
      if (n->kind != EC_YNODE_SCALAR || n->quoted)
        break;
      if (strcmp (n->scalar, "true") == 0 || strcmp (n->scalar, "True") == 0)
        return g_strdup ("true");
      if (strcmp (n->scalar, "false") == 0 || strcmp (n->scalar, "False") == 0)
        return g_strdup ("false");
      break;
    case CONV_SECS:
    case CONV_MINS:
    case CONV_NANOS:
      if (!scalar_int (n, &i) || i < 0)
        break;
      return go_duration (m->conv == CONV_SECS ? i : m->conv == CONV_MINS ? i * 60 : i / 1000000000);
    case CONV_MAP_EQ:
    case CONV_MAP_LT:
      if (n->kind != EC_YNODE_MAP)
        break;
      for (guint k = 0; k < n->keys->len; k++)
        {
          const EcYNode *v = n->items->pdata[k];
          if (v->kind != EC_YNODE_SCALAR)
            goto bad;
          g_autofree char *item = g_strdup_printf ("%s%s%s", (char *) n->keys->pdata[k],
                                                   m->conv == CONV_MAP_EQ ? "=" : "<", v->scalar);
          ec_confw_list_append (s, item);
        }
      return g_strdup (s->str);
    case CONV_TAINTS:
      if (n->kind != EC_YNODE_SEQ)
        break;
      for (guint k = 0; k < n->items->len; k++)
        {
          const EcYNode *t = n->items->pdata[k];
          EcYNode *key = ec_ynode_get (t, "key"), *value = ec_ynode_get (t, "value"),
                  *effect = ec_ynode_get (t, "effect");
          if (!key || key->kind != EC_YNODE_SCALAR || !effect || effect->kind != EC_YNODE_SCALAR
              || (value && value->kind != EC_YNODE_SCALAR))
            goto bad;
          g_autofree char *item = value && *value->scalar
                                    ? g_strdup_printf ("%s=%s:%s", key->scalar, value->scalar, effect->scalar)
                                    : g_strdup_printf ("%s:%s", key->scalar, effect->scalar);
          ec_confw_list_append (s, item);
        }
      return g_strdup (s->str);
    case CONV_LIST:
      if (n->kind != EC_YNODE_SEQ)
        break;
      for (guint k = 0; k < n->items->len; k++)
        {
          const EcYNode *v = n->items->pdata[k];
          if (v->kind != EC_YNODE_SCALAR)
            goto bad;
          ec_confw_list_append (s, v->scalar);
        }
      return g_strdup (s->str);
    case CONV_CSV:
      if (n->kind != EC_YNODE_SCALAR)
        break;
      {
        g_auto (GStrv) parts = g_strsplit (n->scalar, ",", -1);
        for (guint k = 0; parts[k]; k++)
          if (*g_strstrip (parts[k]))
            ec_confw_list_append (s, parts[k]);
      }
      return g_strdup (s->str);
    }
bad:
  warn (im, n->line, m->path, _("unexpected type of value; not imported"));
  return NULL;
}

static const Mapping *
find_mapping (guint version, const char *path)
{
  for (guint i = 0; i < G_N_ELEMENTS (mappings); i++)
    if ((mappings[i].versions & version) && strcmp (mappings[i].path, path) == 0)
      return &mappings[i];
  return NULL;
}

/* Walks a mapping: mapped keys are converted, maps are descended into,
 * anything else is a key without equivalent. */
static void
walk (Import *im, const EcYNode *map, const char *prefix)
{
  for (guint i = 0; i < map->keys->len; i++)
    {
      const char *key = map->keys->pdata[i];
      const EcYNode *v = map->items->pdata[i];
      g_autofree char *path = prefix ? g_strconcat (prefix, ".", key, NULL) : g_strdup (key);
      const Mapping *m;

      if (!prefix && (strcmp (key, "apiVersion") == 0 || strcmp (key, "kind") == 0))
        continue;
      m = find_mapping (im->version, path);
      if (m)
        {
          char *value = convert (im, m, v);
          if (value)
            {
              char *id = g_strconcat (m->section, "\n", m->key, NULL);
              if (!g_hash_table_contains (im->values, id))
                g_ptr_array_add (im->order, g_strdup (id));
              g_hash_table_replace (im->values, id, value);
            }
          continue;
        }
      if (v->kind == EC_YNODE_MAP && v->keys->len > 0)
        {
          walk (im, v, path);
          continue;
        }
      if ((v->kind == EC_YNODE_MAP || v->kind == EC_YNODE_SEQ) && v->items->len == 0)
        continue; /* an empty map or list sets nothing */
      warn (im, v->line, path, _("no equivalent in edgecore; not imported"));
    }
}

static void
set_value (Import *im, const char *section, const char *key, const char *value)
{
  char *id = g_strconcat (section, "\n", key, NULL);
  if (!g_hash_table_contains (im->values, id))
    g_ptr_array_add (im->order, g_strdup (id));
  g_hash_table_replace (im->values, id, g_strdup (value));
}

/* Values that follow from the file as a whole rather than from one key. */
static void
derive (Import *im)
{
  const char *ip = g_hash_table_lookup (im->values, "edged\nnode-ip");

  /* A v1alpha2 file is a KubeEdge v1.12+ node, whose cloud expects the
   * kubelet formats (node lease, nodepatch, podpatch: docs/edged.md) */
  if (im->version == V2)
    set_value (im, "edged", "status-format", "kubelet");
  /* KubeEdge's edgestream sends edged's nodeIP as SessionInternalIP, as
   * `edgecore join --edgenode-ip` writes it */
  if (ip && !g_hash_table_contains (im->values, "edgestream\nnode-ip"))
    set_value (im, "edgestream", "node-ip", ip);
}

static char *
render (Import *im, const char *source_abs)
{
  g_autofree char *header = g_strdup_printf (
      "Imported by `edgecore import-config` from %s (%s).\n"
      "The certificates and the database stay where that file put them.", source_abs,
      im->version == V1 ? "edgecore.config.kubeedge.io/v1alpha1, KubeEdge v1.9" :
                          "edgecore.config.kubeedge.io/v1alpha2");
  EcConfWriter *w = ec_confw_new (header);
  for (guint s = 0; s < G_N_ELEMENTS (sections); s++)
    {
      gboolean opened = FALSE;
      for (guint i = 0; i < im->order->len; i++)
        {
          const char *id = im->order->pdata[i];
          const char *nl = strchr (id, '\n');
          if (strncmp (id, sections[s], (gsize) (nl - id)) != 0 || sections[s][nl - id] != '\0')
            continue;
          if (!opened)
            ec_confw_section (w, sections[s]);
          opened = TRUE;
          ec_confw_set_raw (w, nl + 1, g_hash_table_lookup (im->values, id));
        }
    }
  if (im->warnings->len)
    {
      g_autoptr (GString) c = g_string_new ("\nNot imported (no equivalent in edgecore):");
      for (guint i = 0; i < im->warnings->len; i++)
        g_string_append_printf (c, "\n  %s", (char *) im->warnings->pdata[i]);
      ec_confw_comment (w, c->str + 1);
    }
  return ec_confw_free_to_text (w);
}

/* `edgecore import-config FILE`: see --help. */
int
ec_admin_import (int argc, char **argv)
{
  g_autofree char *config_dir = NULL, *output = NULL, *data = NULL, *text = NULL, *path = NULL;
  g_autofree char *abs = NULL;
  gboolean dry_run = FALSE, force = FALSE, changed = FALSE;
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (EcYNode) root = NULL;
  Import im = { 0 };
  EcYNode *api, *rt, *tkc;
  gsize len = 0;
  int status = 1;

  GOptionEntry entries[] = {
    { "config-dir", 0, 0, G_OPTION_ARG_FILENAME, &config_dir,
      N_("conf.d directory to write to (default /etc/edgecore/conf.d)"), N_("DIR") },
    { "output", 'o', 0, G_OPTION_ARG_STRING, &output,
      N_("Name of the conf.d file (default 60-import.conf)"), N_("NAME") },
    { "dry-run", 0, 0, G_OPTION_ARG_NONE, &dry_run,
      N_("Print what would be written and done, change nothing"), NULL },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force, N_("Replace a different earlier import"), NULL },
    { NULL },
  };

  im.values = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  im.order = g_ptr_array_new_with_free_func (g_free);
  im.warnings = g_ptr_array_new_with_free_func (g_free);

  ctx = g_option_context_new (_("EDGECORE.YAML"));
  g_option_context_set_summary (ctx, _("Turn the edgecore.yaml of a KubeEdge node (v1.9 v1alpha1 or "
                                       "current v1alpha2) into a conf.d file, keeping its certificates "
                                       "and database in place."));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto out;
  if (argc != 2)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                   _("name one file, e.g. /etc/kubeedge/config/edgecore.yaml"));
      goto out;
    }
  if (output && (strchr (output, '/') || !g_str_has_suffix (output, ".conf")))
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--output=%s: a file name ending in .conf, without a directory"), output);
      goto out;
    }
  im.file = argv[1];
  abs = g_canonicalize_filename (argv[1], NULL);
  {
    g_autoptr (GFile) f = g_file_new_for_path (argv[1]);
    g_autoptr (GFileInfo) info = g_file_query_info (f, G_FILE_ATTRIBUTE_STANDARD_SIZE, 0, NULL, &error);
    if (!info)
      goto out;
    if (g_file_info_get_size (info) > EC_YAML_MAX_BYTES)
      {
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     _("%s is larger than %d bytes: not an edgecore.yaml"), argv[1], EC_YAML_MAX_BYTES);
        goto out;
      }
  }
  if (!g_file_get_contents (argv[1], &data, &len, &error))
    goto out;
  root = ec_ynode_parse (data, len, &error);
  if (!root)
    {
      g_prefix_error (&error, "%s: ", argv[1]);
      goto out;
    }
  api = ec_ynode_get (root, "apiVersion");
  if (root->kind != EC_YNODE_MAP || !api || api->kind != EC_YNODE_SCALAR)
    {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("%s: no apiVersion: not a KubeEdge edgecore.yaml"), argv[1]);
      goto out;
    }
  /* KubeEdge v1.12 brought v1alpha2 (edged on kubelet, its keys under
   * edged.tailoredKubeletConfig) and reads any file as v1alpha2 whatever
   * its apiVersion says: a v1alpha1 header over that layout is a v1.12+
   * file too. */
  tkc = ec_ynode_get (ec_ynode_get (ec_ynode_get (root, "modules"), "edged"), "tailoredKubeletConfig");
  if (strcmp (api->scalar, "edgecore.config.kubeedge.io/v1alpha1") == 0 && tkc && tkc->kind == EC_YNODE_MAP)
    {
      im.version = V2;
      g_printerr (_("note: %s:%d: apiVersion v1alpha1 but edged.tailoredKubeletConfig (line %d): read as "
                    "v1alpha2, the layout of KubeEdge v1.12 and later\n"), argv[1], api->line, tkc->line);
    }
  else if (strcmp (api->scalar, "edgecore.config.kubeedge.io/v1alpha1") == 0)
    im.version = V1;
  else if (strcmp (api->scalar, "edgecore.config.kubeedge.io/v1alpha2") == 0)
    im.version = V2;
  else
    {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("%s:%d: apiVersion %s: expected edgecore.config.kubeedge.io/v1alpha1 (KubeEdge "
                     "v1.9) or v1alpha2 (current KubeEdge)"), argv[1], api->line, api->scalar);
      goto out;
    }
  rt = ec_ynode_get (ec_ynode_get (ec_ynode_get (root, "modules"), "edged"), "runtimeType");
  im.dockershim = rt && rt->kind == EC_YNODE_SCALAR && strcmp (rt->scalar, "docker") == 0;
  walk (&im, root, NULL);
  derive (&im);
  text = render (&im, abs);

  if (!config_dir)
    config_dir = g_strdup (EC_DEFAULT_CONF_DIR);
  path = g_build_filename (config_dir, output ? output : EC_IMPORT_CONF_NAME, NULL);

  for (guint i = 0; i < im.warnings->len; i++)
    g_printerr (_("warning: %s\n"), (char *) im.warnings->pdata[i]);
  g_print (_("%s: %u keys imported, %u without equivalent (warnings above)\n"), argv[1], im.order->len,
           im.warnings->len);

  if (dry_run)
    {
      g_print (_("\nDry run: nothing is written. %s would be (mode 0600):\n\n"), path);
      fputs (text, stdout);
      status = 0;
      goto out;
    }
  {
    g_autofree char *old = NULL;
    if (!force && g_file_get_contents (path, &old, NULL, NULL) && strcmp (old, text) != 0)
      {
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                     _("%s already exists with other values (an earlier import?): compare it, then "
                       "run again with --force to replace it"), path);
        goto out;
      }
  }
  if (!ec_confw_install (path, text, 0600, &changed, &error))
    goto out;
  g_print (changed ? _("Wrote %s\n") : _("%s is already up to date\n"), path);
  {
    const char *cert = g_hash_table_lookup (im.values, "edgehub\ntls-cert-file");
    const char *db = g_hash_table_lookup (im.values, "database\ndata-source");
    g_print (_("The node keeps its certificate (%s) and its database (%s); metamanager migrates a "
               "KubeEdge v1.9 database on first start.\n"),
             cert ? cert : "/etc/kubeedge/certs/server.crt", db ? db : "/var/lib/kubeedge/edgecore.db");
  }
  g_print ("\n%s\n", _("Next:"));
  {
    g_autofree char *check = g_strdup_printf ("%s --check-config", ec_edgecore_bin ());
    g_print ("  %-40s %s\n", check, _("check the result"));
    g_print ("  %-40s %s\n", "systemctl disable --now edgecore",
             _("stop the Go EdgeCore first, if it runs under systemd"));
    g_print ("  %s\n", _("then start edgecore (README: “Replace the Go EdgeCore on an existing node”)"));
  }
  status = 0;

out:
  if (error)
    {
      g_printerr (_("edgecore import-config: %s\n"), error->message);
      if (error->domain == G_OPTION_ERROR)
        g_printerr (_("Run “edgecore import-config --help” to see the options.\n"));
    }
  g_hash_table_unref (im.values);
  g_ptr_array_unref (im.order);
  g_ptr_array_unref (im.warnings);
  return status;
}
