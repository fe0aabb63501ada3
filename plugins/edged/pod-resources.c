/* pod-resources.c: a container's resources (requests and limits of cpu and
 * memory) read from the pod, the pod's QoS class, and the CRI
 * LinuxContainerResources kubelet computes from them (cgroup v1 / v2 via
 * the runtime): cpu_shares from the cpu request, cpu_quota/cpu_period from
 * the cpu limit, memory_limit_in_bytes, oom_score_adj by QoS class. */
#include "pod-resources.h"
#include "config-parse.h"

#include <gio/gio.h>
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
