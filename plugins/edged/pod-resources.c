/* pod-resources.c: a container's resources (requests and limits of cpu and
 * memory) read from the pod, the pod's QoS class, and the CRI
 * LinuxContainerResources kubelet computes from them (cgroup v1 / v2 via
 * the runtime): cpu_shares from the cpu request, cpu_quota/cpu_period from
 * the cpu limit, memory_limit_in_bytes, oom_score_adj by QoS class. */
#include "pod.h"
#include "pod-resources.h"
#include "config-parse.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#define BAD(...) (g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, __VA_ARGS__), FALSE)

#define MIN_SHARES      2
#define SHARES_PER_CPU  1024
#define QUOTA_PERIOD    100000   /* µs, kubelet's cpu-cfs-quota-period */
#define MIN_QUOTA       1000

/* Every quantity of a requests/limits map must read; cpu in milli, memory
 * in bytes are kept (-1 when absent). */
static gboolean
read_map (JsonObject *map, const char *what, const char *cname, gint64 *cpu, gint64 *mem,
          GError **error)
{
  g_autoptr (GList) keys = map ? json_object_get_members (map) : NULL;
  *cpu = *mem = -1;
  for (GList *l = keys; l; l = l->next)
    {
      const char *v = edged_json_string (map, l->data);
      gint64 milli = 0;
      g_autoptr (GError) e = NULL;
      if (!v || !edged_quantity_parse (v, &milli, &e))
        return BAD ("container %s: resources.%s.%s: \"%.64s\" is not a non-negative quantity",
                    cname, what, (const char *) l->data, v ? v : "(not a string)");
      if (!strcmp (l->data, "cpu"))
        *cpu = milli;
      else if (!strcmp (l->data, "memory"))
        *mem = (milli + 999) / 1000;
    }
  return TRUE;
}

/* Reads container.resources into out; requests default to limits. */
gboolean
edged_container_resources_parse (JsonObject *container, EdgedContainerSpec *out, GError **error)
{
  JsonObject *res = edged_json_object (container, "resources");
  const char *cname = edged_json_string (container, "name");

  if (!read_map (edged_json_object (res, "requests"), "requests", cname, &out->cpu_request,
                 &out->mem_request, error)
      || !read_map (edged_json_object (res, "limits"), "limits", cname, &out->cpu_limit,
                    &out->mem_limit, error))
    return FALSE;
  if (out->cpu_request < 0)
    out->cpu_request = out->cpu_limit;
  if (out->mem_request < 0)
    out->mem_request = out->mem_limit;
  if (out->cpu_limit >= 0 && out->cpu_request > out->cpu_limit)
    return BAD ("container %s: resources: the cpu request exceeds the limit", cname);
  if (out->mem_limit >= 0 && out->mem_request > out->mem_limit)
    return BAD ("container %s: resources: the memory request exceeds the limit", cname);
  return TRUE;
}

/* Kubernetes' GetPodQOS over all containers (init ones included). */
const char *
edged_pod_qos_class (const EdgedPodSpec *spec)
{
  gint64 req_cpu = 0, req_mem = 0, lim_cpu = 0, lim_mem = 0;
  gboolean guaranteed = TRUE, any = FALSE;

  for (guint i = 0; i < spec->n_containers; i++)
    {
      const EdgedContainerSpec *c = &spec->containers[i];
      req_cpu += MAX (c->cpu_request, 0);
      req_mem += MAX (c->mem_request, 0);
      lim_cpu += MAX (c->cpu_limit, 0);
      lim_mem += MAX (c->mem_limit, 0);
      any |= c->cpu_request > 0 || c->mem_request > 0 || c->cpu_limit > 0 || c->mem_limit > 0;
      if (c->cpu_limit <= 0 || c->mem_limit <= 0)
        guaranteed = FALSE;
    }
  if (!any)
    return "BestEffort";
  if (guaranteed && req_cpu == lim_cpu && req_mem == lim_mem)
    return "Guaranteed";
  return "Burstable";
}

static gint64
memory_capacity (void)
{
  static gint64 total;
  if (!total)
    {
      g_autofree char *text = NULL;
      const char *p;
      if (g_file_get_contents ("/proc/meminfo", &text, NULL, NULL)
          && (p = strstr (text, "MemTotal:")))
        total = g_ascii_strtoll (p + 9, NULL, 10) * 1024;
      if (total <= 0)
        total = G_GINT64_CONSTANT (1) << 30;
    }
  return total;
}

/* kubelet's GetContainerOOMScoreAdjust. */
static gint64
oom_score_adj (const EdgedPodSpec *spec, const EdgedContainerSpec *c)
{
  gint64 adj;
  if (!strcmp (spec->qos, "Guaranteed"))
    return -997;
  if (!strcmp (spec->qos, "BestEffort"))
    return 1000;
  adj = 1000 - (1000 * MAX (c->mem_request, 0)) / memory_capacity ();
  if (adj < 3)
    return 3;
  return adj == 1000 ? 999 : adj;
}

/* Fills r for container i as kubelet's generateLinuxContainerConfig. */
void
edged_resources_fill (const EdgedPodSpec *spec, guint i, Runtime__V1__LinuxContainerResources *r)
{
  const EdgedContainerSpec *c = &spec->containers[i];
  gint64 cpu = c->cpu_request > 0 ? c->cpu_request : MAX (c->cpu_limit, 0);

  r->cpu_shares = MAX (cpu * SHARES_PER_CPU / 1000, MIN_SHARES);
  r->cpu_period = QUOTA_PERIOD;
  if (c->cpu_limit > 0)
    r->cpu_quota = MAX (c->cpu_limit * QUOTA_PERIOD / 1000, MIN_QUOTA);
  if (c->mem_limit > 0)
    r->memory_limit_in_bytes = c->mem_limit;
  r->oom_score_adj = oom_score_adj (spec, c);
}

/* The pod's cgroup parent: <root>/kubepods[/burstable|/besteffort]/pod<uid>. */
char *
edged_pod_cgroup_parent (const char *cgroup_root, const EdgedPodSpec *spec)
{
  const char *qos = !strcmp (spec->qos, "Guaranteed") ? ""
                    : !strcmp (spec->qos, "Burstable") ? "/burstable" : "/besteffort";
  return g_strdup_printf ("%s/kubepods%s/pod%s", cgroup_root ? cgroup_root : "", qos, spec->uid);
}

/* ---- the pod's own cgroup (kubelet's cgroups-per-qos) ------------------- */

/* kubelet's PodRequestsAndLimits for one resource: the app containers'
 * sum, or an init container's value when larger; *all_set: every app
 * container has a limit. */
static gint64
pod_total (const EdgedPodSpec *spec, gsize offset, gboolean *all_set)
{
  gint64 sum = 0, init_max = 0;
  if (all_set)
    *all_set = TRUE;
  for (guint i = 0; i < spec->n_containers; i++)
    {
      gint64 v = *(const gint64 *) ((const char *) &spec->containers[i] + offset);
      if (i < spec->n_init)
        init_max = MAX (init_max, v);
      else
        {
          sum += MAX (v, 0);
          if (all_set && v <= 0)
            *all_set = FALSE;
        }
    }
  return MAX (sum, init_max);
}

static gboolean
write_value (const char *dir, const char *file, const char *value, GError **error)
{
  g_autofree char *path = g_build_filename (dir, file, NULL);
  return g_file_set_contents_full (path, value, -1, G_FILE_SET_CONTENTS_NONE, 0644, error);
}

static gboolean
cgroup_v2 (void)
{
  return g_file_test ("/sys/fs/cgroup/cgroup.controllers", G_FILE_TEST_EXISTS);
}

/* Creates the pod's cgroup (cgroupfs layout, v1 or v2) with kubelet's pod
 * limits before its sandbox runs: cpu shares from the requests, and by QoS
 * class the cpu quota and memory limit from the limits. A failure is
 * logged; the pod runs on with its containers' own limits. */
void
edged_pod_cgroup_apply (EdgedPod *pod)
{
  const EdgedPodSpec *spec = pod->spec;
  gboolean cpu_all, mem_all;
  gint64 cpu_req = pod_total (spec, G_STRUCT_OFFSET (EdgedContainerSpec, cpu_request), NULL);
  gint64 cpu_lim = pod_total (spec, G_STRUCT_OFFSET (EdgedContainerSpec, cpu_limit), &cpu_all);
  gint64 mem_lim = pod_total (spec, G_STRUCT_OFFSET (EdgedContainerSpec, mem_limit), &mem_all);
  gboolean guaranteed = !strcmp (spec->qos, "Guaranteed"), best = !strcmp (spec->qos, "BestEffort");
  gint64 shares = best ? MIN_SHARES : MAX (cpu_req * SHARES_PER_CPU / 1000, MIN_SHARES);
  gint64 quota = (guaranteed || cpu_all) && !best && cpu_lim > 0
                   ? MAX (cpu_lim * QUOTA_PERIOD / 1000, MIN_QUOTA) : -1;
  gint64 memory = (guaranteed || mem_all) && !best && mem_lim > 0 ? mem_lim : -1;
  g_autoptr (GError) error = NULL;
  char buf[64];

  if (cgroup_v2 ())
    {
      g_autofree char *dir = g_build_filename ("/sys/fs/cgroup", pod->cgroup_parent, NULL);
      if (g_mkdir_with_parents (dir, 0755) != 0)
        g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s", dir, g_strerror (errno));
      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, 1 + ((shares - 2) * 9999) / 262142);
      if (!error)
        write_value (dir, "cpu.weight", buf, &error);
      if (quota > 0)
        g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT " %d", quota, QUOTA_PERIOD);
      if (!error && quota > 0)
        write_value (dir, "cpu.max", buf, &error);
      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, memory);
      if (!error && memory > 0)
        write_value (dir, "memory.max", buf, &error);
    }
  else
    {
      g_autofree char *cpu = g_build_filename ("/sys/fs/cgroup/cpu", pod->cgroup_parent, NULL);
      g_autofree char *mem = g_build_filename ("/sys/fs/cgroup/memory", pod->cgroup_parent, NULL);
      if (g_mkdir_with_parents (cpu, 0755) != 0 || g_mkdir_with_parents (mem, 0755) != 0)
        g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errno), "%s: %s",
                     pod->cgroup_parent, g_strerror (errno));
      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, shares);
      if (!error)
        write_value (cpu, "cpu.shares", buf, &error);
      g_snprintf (buf, sizeof buf, "%d", QUOTA_PERIOD);
      if (!error && quota > 0)
        write_value (cpu, "cpu.cfs_period_us", buf, &error);
      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, quota);
      if (!error && quota > 0)
        write_value (cpu, "cpu.cfs_quota_us", buf, &error);
      g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, memory);
      if (!error && memory > 0)
        write_value (mem, "memory.limit_in_bytes", buf, &error);
    }
  if (error)
    ec_log_warning (pod->edged->context, "pod %s/%s: the pod cgroup %s has no limits: %s",
                    spec->namespace, spec->name, pod->cgroup_parent, error->message);
}

/* Removes the pod's cgroup (every controller of cgroup v1) once its sandbox
 * is gone; what the runtime left in it keeps it (logged). */
void
edged_pod_cgroup_remove (EdgedPod *pod)
{
  g_autoptr (GDir) dir = NULL;
  const char *ctl;

  if (cgroup_v2 ())
    {
      g_autofree char *path = g_build_filename ("/sys/fs/cgroup", pod->cgroup_parent, NULL);
      if (g_rmdir (path) != 0 && errno != ENOENT)
        ec_log_warning (pod->edged->context, "pod %s/%s: %s not removed: %s", pod->spec->namespace,
                        pod->spec->name, path, g_strerror (errno));
      return;
    }
  dir = g_dir_open ("/sys/fs/cgroup", 0, NULL);
  while (dir && (ctl = g_dir_read_name (dir)))
    {
      g_autofree char *path = g_build_filename ("/sys/fs/cgroup", ctl, pod->cgroup_parent, NULL);
      if (g_rmdir (path) != 0 && errno != ENOENT && errno != ENOTDIR)
        ec_log_warning (pod->edged->context, "pod %s/%s: %s not removed: %s", pod->spec->namespace,
                        pod->spec->name, path, g_strerror (errno));
    }
}
