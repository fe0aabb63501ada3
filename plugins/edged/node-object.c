/* node-object.c: the Node object edged registers and the NodeStatusRequest
 * it reports, in KubeEdge v1.9.2's shapes (captures/kubeedge-v1.9.2-
 * websocket.jsonl): capacity and allocatable from the host minus the
 * reservations and hard eviction thresholds, as kubelet computes them. */
#include "edged.h"

#include <string.h>

/* nodeInfo.containerRuntimeVersion as v1.9.2 reported it: "remote://<version>"
 * (empty until the runtime answered once). */
char *
edged_runtime_version_string (Edged *self)
{
  if (!self->health.version)
    return g_strdup ("");
  return g_strdup_printf ("remote://%s", self->health.version);
}

static void
add_str (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value ? value : "");
}

static char *
rfc3339 (gint64 unix_seconds)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (unix_seconds);
  return g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ");
}

static char *
cpu_quantity (gint64 milli)
{
  if (milli < 0)
    milli = 0;
  if (milli % 1000 == 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT, milli / 1000);
  return g_strdup_printf ("%" G_GINT64_FORMAT "m", milli);
}

/* Allocatable = capacity - system-reserved - kube-reserved - the hard
 * eviction threshold of the resource (memory.available, nodefs.available). */
void
edged_node_allocatable (Edged *self, const EdgedHost *host, gint64 *cpu_milli, gint64 *memory,
                        gint64 *storage)
{
  *cpu_milli = MAX ((gint64) host->cpus * 1000 - self->reserved_cpu_milli, 0);
  *memory = MAX (host->memory_total - self->reserved_memory
                 - edged_threshold_bytes (&self->evict_memory, host->memory_total), 0);
  *storage = MAX (host->fs_capacity - self->reserved_storage
                  - edged_threshold_bytes (&self->evict_nodefs, host->fs_capacity), 0);
}

static void
add_resources (JsonBuilder *b, const char *key, gint64 cpu_milli, gint64 memory, gint64 storage,
               gint64 pods)
{
  g_autofree char *cpu = cpu_quantity (cpu_milli);
  g_autofree char *mem = edged_quantity_format_bytes (memory, "Mi");
  g_autofree char *eph = edged_quantity_format_bytes (storage, "Ki");
  g_autofree char *npods = g_strdup_printf ("%" G_GINT64_FORMAT, pods);

  json_builder_set_member_name (b, key);
  json_builder_begin_object (b);
  add_str (b, "cpu", cpu);
  add_str (b, "ephemeral-storage", eph);
  add_str (b, "memory", mem);
  add_str (b, "pods", npods);
  json_builder_end_object (b);
}

/* addresses, allocatable, capacity, daemonEndpoints, nodeInfo. */
static void
add_status_fields (Edged *self, JsonBuilder *b, const EdgedHost *host, gint64 port)
{
  gint64 cpu, mem, eph;
  g_autofree char *runtime_version = edged_runtime_version_string (self);

  json_builder_set_member_name (b, "addresses");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  add_str (b, "address", self->node_ip);
  add_str (b, "type", "InternalIP");
  json_builder_end_object (b);
  json_builder_begin_object (b);
  add_str (b, "address", self->node_name);
  add_str (b, "type", "Hostname");
  json_builder_end_object (b);
  json_builder_end_array (b);

  edged_node_allocatable (self, host, &cpu, &mem, &eph);
  add_resources (b, "allocatable", cpu, mem, eph, self->max_pods);
  add_resources (b, "capacity", (gint64) host->cpus * 1000, host->memory_total, host->fs_capacity,
                 self->max_pods);

  json_builder_set_member_name (b, "daemonEndpoints");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kubeletEndpoint");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Port");
  json_builder_add_int_value (b, port);
  json_builder_end_object (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "nodeInfo");
  json_builder_begin_object (b);
  add_str (b, "architecture", host->architecture);
  add_str (b, "bootID", host->boot_id);
  add_str (b, "containerRuntimeVersion", runtime_version);
  add_str (b, "kernelVersion", host->kernel_version);
  add_str (b, "kubeProxyVersion", "");
  add_str (b, "kubeletVersion", EDGED_KUBELET_VERSION);
  add_str (b, "machineID", host->machine_id);
  add_str (b, "operatingSystem", "linux");
  add_str (b, "osImage", host->os_image);
  add_str (b, "systemUUID", host->system_uuid);
  json_builder_end_object (b);
}

/* The v1.Node registered with insert <ns>/nodestatus/<node>: labels,
 * taints, schedulability and the status without conditions (as v1.9.2). */
JsonNode *
edged_node_object (Edged *self, const EdgedHost *host)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gboolean has_unschedulable = FALSE;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "creationTimestamp");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "labels");
  json_builder_begin_object (b);
  {
    /* defaults first, then node-labels, which override them */
    const char *defaults[][2] = {
      { "kubernetes.io/arch", host->architecture },
      { "kubernetes.io/hostname", self->node_name },
      { "kubernetes.io/os", "linux" },
      { "node-role.kubernetes.io/agent", "" },
      { "node-role.kubernetes.io/edge", "" },
    };
    for (gsize i = 0; i < G_N_ELEMENTS (defaults); i++)
      if (!g_strv_contains ((const char *const *) self->label_keys, defaults[i][0]))
        add_str (b, defaults[i][0], defaults[i][1]);
    for (gsize i = 0; self->label_keys && self->label_keys[i]; i++)
      add_str (b, self->label_keys[i], self->label_values[i]);
  }
  json_builder_end_object (b);
  add_str (b, "name", self->node_name);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "spec");
  json_builder_begin_object (b);
  if (self->n_taints || !self->schedulable)
    {
      json_builder_set_member_name (b, "taints");
      json_builder_begin_array (b);
      for (guint i = 0; i < self->n_taints; i++)
        {
          json_builder_begin_object (b);
          add_str (b, "effect", self->taints[i].effect);
          add_str (b, "key", self->taints[i].key);
          if (*self->taints[i].value)
            add_str (b, "value", self->taints[i].value);
          json_builder_end_object (b);
          has_unschedulable |= !strcmp (self->taints[i].key, "node.kubernetes.io/unschedulable");
        }
      if (!self->schedulable && !has_unschedulable)
        {
          json_builder_begin_object (b);
          add_str (b, "effect", "NoSchedule");
          add_str (b, "key", "node.kubernetes.io/unschedulable");
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
    }
  if (!self->schedulable)
    {
      json_builder_set_member_name (b, "unschedulable");
      json_builder_add_boolean_value (b, TRUE);
    }
  json_builder_end_object (b);

  json_builder_set_member_name (b, "status");
  json_builder_begin_object (b);
  add_status_fields (self, b, host, 0);
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* The NodeStatusRequest of update <ns>/nodestatus/<node>:
 * {"ExtendResources":null,"Status":{...},"UID":"..."}. */
JsonNode *
edged_node_status (Edged *self, const EdgedHost *host, gint64 now)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *heartbeat = rfc3339 (now);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "ExtendResources");
  json_builder_add_null_value (b);
  json_builder_set_member_name (b, "Status");
  json_builder_begin_object (b);
  add_status_fields (self, b, host, self->read_only_port);
  json_builder_set_member_name (b, "conditions");
  json_builder_begin_array (b);
  for (int i = 0; i < EDGED_N_CONDS; i++)
    {
      EdgedCondition *c = &self->conds[i];
      g_autofree char *transition = rfc3339 (c->transition);
      json_builder_begin_object (b);
      add_str (b, "lastHeartbeatTime", heartbeat);
      add_str (b, "lastTransitionTime", transition);
      add_str (b, "message", c->message);
      add_str (b, "reason", c->reason);
      add_str (b, "status", c->status ? "True" : "False");
      add_str (b, "type", c->type);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  add_str (b, "phase", "Running");
  json_builder_end_object (b);
  add_str (b, "UID", EDGED_STATUS_UID);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}
