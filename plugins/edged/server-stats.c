/* server-stats.c: GET /stats/summary (kubelet's stats/v1alpha1 Summary)
 * and GET /metrics/resource (kubelet's resource metrics, the Prometheus
 * text metrics-server scrapes), from one collection:
 *
 *   node        cpu from /proc/stat (every non-idle jiffy), usageNanoCores
 *               as the rate since the previous collection (or the server's
 *               start); memory from /proc/meminfo as cAdvisor counts the root
 *               cgroup (usage = total - free, workingSet = usage -
 *               Inactive(file)) and /proc/vmstat's page faults; network from
 *               /proc/net/dev; fs from statvfs of root-directory; rlimit
 *               from pid_max and the process count
 *   containers  CRI ListContainerStats (cpu, memory, writable layer), each
 *               matched to the pod edged runs by its container id; a
 *               runtime that gives no usageNanoCores gets the rate since
 *               the previous collection
 *   pods        the sums of their containers
 *
 * A CRI failure still gives the node; /metrics/resource then says
 * scrape_error 1. */
#include "server.h"

#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#define STATS_TIMEOUT_MS 10000

typedef struct {
  gint64 time_ns;
  gint64 usage_ns;
} CpuSample;

typedef struct {
  guint64 rx_bytes, rx_errors, tx_bytes, tx_errors;
  char   *name;
} NetIf;

typedef struct {
  gint64  time_ns;
  guint64 cpu_ns;
  guint64 nano_cores;
  guint64 mem_total, mem_usage, mem_working_set, mem_rss, mem_available;
  guint64 page_faults, major_page_faults;
  guint64 fs_capacity, fs_available, fs_used, inodes, inodes_free;
  guint64 pid_max, procs;
  gint64  boot_time;
  GArray *ifs;                 /* NetIf */
} NodeStats;

typedef struct {
  gint               refs;         /* one per CRI call in flight */
  EdgedServer       *srv;
  SoupServerMessage *msg;
  gboolean           prometheus;
  ProtobufCMessage  *containers;   /* ListContainerStatsResponse, or NULL */
  GError            *error;        /* of ListContainerStats */
} StatsRequest;

static void
stats_request_unref (gpointer data)
{
  StatsRequest *r = data;
  if (--r->refs)
    return;
  g_object_unref (r->msg);
  if (r->containers)
    protobuf_c_message_free_unpacked (r->containers, NULL);
  g_clear_error (&r->error);
  g_free (r);
}

static guint64
kv_value (const char *text, const char *key)
{
  gsize klen = strlen (key);
  for (const char *p = text; p && *p; p = strchr (p, '\n') ? strchr (p, '\n') + 1 : NULL)
    if (!strncmp (p, key, klen) && (p[klen] == ':' || p[klen] == ' '))
      return g_ascii_strtoull (p + klen + 1 + (p[klen] == ':'), NULL, 10);
  return 0;
}

/* Non-idle CPU time of the host since boot, in ns (/proc/stat "cpu"). */
static guint64
host_cpu_ns (gint64 *boot_time)
{
  g_autofree char *text = NULL;
  guint64 f[10] = { 0 };
  long tck = sysconf (_SC_CLK_TCK);

  if (!g_file_get_contents ("/proc/stat", &text, NULL, NULL) || strncmp (text, "cpu ", 4))
    return 0;
  if (sscanf (text + 4, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
              " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
              &f[0], &f[1], &f[2], &f[3], &f[4], &f[5], &f[6], &f[7]) < 4)
    return 0;
  *boot_time = (gint64) kv_value (text, "btime");
  /* user nice system [idle iowait] irq softirq steal */
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * (G_GUINT64_CONSTANT (1000000000) / (guint64) (tck > 0 ? tck : 100));
}

static void
node_stats_read (EdgedServer *srv, NodeStats *n)
{
  g_autofree char *mem = NULL;
  g_autofree char *vm = NULL;
  g_autofree char *dev = NULL;
  g_autofree char *pid_max = NULL;
  g_autofree char *dir = g_strdup (srv->edged->root_directory && *srv->edged->root_directory
                                   ? srv->edged->root_directory : "/");
  struct statvfs vfs;
  struct sysinfo si;
  gint64 now = g_get_real_time () * 1000;

  memset (n, 0, sizeof *n);
  n->time_ns = now;
  n->cpu_ns = host_cpu_ns (&n->boot_time);
  if (srv->cpu_prev_time && now > srv->cpu_prev_time && (gint64) n->cpu_ns >= srv->cpu_prev_ns)
    n->nano_cores = (guint64) (((double) ((gint64) n->cpu_ns - srv->cpu_prev_ns))
                               / ((double) (now - srv->cpu_prev_time)) * 1e9);
  srv->cpu_prev_ns = (gint64) n->cpu_ns;
  srv->cpu_prev_time = now;
  if (g_file_get_contents ("/proc/meminfo", &mem, NULL, NULL))
    {
      guint64 total = kv_value (mem, "MemTotal") * 1024, free_ = kv_value (mem, "MemFree") * 1024;
      guint64 inactive_file = kv_value (mem, "Inactive(file)") * 1024;
      n->mem_total = total;
      n->mem_usage = total > free_ ? total - free_ : 0;
      n->mem_working_set = n->mem_usage > inactive_file ? n->mem_usage - inactive_file : 0;
      n->mem_rss = kv_value (mem, "AnonPages") * 1024;
      n->mem_available = total > n->mem_working_set ? total - n->mem_working_set : 0;
    }
  if (g_file_get_contents ("/proc/vmstat", &vm, NULL, NULL))
    {
      n->page_faults = kv_value (vm, "pgfault");
      n->major_page_faults = kv_value (vm, "pgmajfault");
    }
  while (statvfs (dir, &vfs) != 0 && strcmp (dir, "/") != 0)
    {
      char *parent = g_path_get_dirname (dir);
      g_free (dir);
      dir = parent;
    }
  if (statvfs (dir, &vfs) == 0)
    {
      n->fs_capacity = (guint64) vfs.f_blocks * vfs.f_frsize;
      n->fs_available = (guint64) vfs.f_bavail * vfs.f_frsize;
      n->fs_used = (guint64) (vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
      n->inodes = vfs.f_files;
      n->inodes_free = vfs.f_ffree;
    }
  if (g_file_get_contents ("/proc/sys/kernel/pid_max", &pid_max, NULL, NULL))
    n->pid_max = g_ascii_strtoull (pid_max, NULL, 10);
  if (sysinfo (&si) == 0)
    n->procs = si.procs;
  n->ifs = g_array_new (FALSE, TRUE, sizeof (NetIf));
  if (g_file_get_contents ("/proc/net/dev", &dev, NULL, NULL))
    {
      g_auto (GStrv) lines = g_strsplit (dev, "\n", 1024);
      for (guint i = 2; lines[i]; i++)
        {
          char *colon = strchr (lines[i], ':');
          guint64 v[16] = { 0 };
          NetIf nif = { 0 };
          if (!colon)
            continue;
          *colon = '\0';
          if (!strcmp (g_strstrip (lines[i]), "lo"))
            continue;
          /* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets errs ... */
          if (sscanf (colon + 1, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                      " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT
                      " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT,
                      &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10]) < 11)
            continue;
          nif.name = g_strdup (lines[i]);
          nif.rx_bytes = v[0];
          nif.rx_errors = v[2];
          nif.tx_bytes = v[8];
          nif.tx_errors = v[10];
          g_array_append_val (n->ifs, nif);
        }
    }
}

static void
node_stats_clear (NodeStats *n)
{
  for (guint i = 0; n->ifs && i < n->ifs->len; i++)
    g_free (g_array_index (n->ifs, NetIf, i).name);
  g_clear_pointer (&n->ifs, g_array_unref);
}

/* ---- containers and pods --------------------------------------------------- */

typedef struct {
  EdgedPod                   *pod;
  guint                       index;     /* in the pod's spec */
  Runtime__V1__ContainerStats *stats;
  guint64                     nano_cores;
} CtrStats;

static guint64
u64 (Runtime__V1__UInt64Value *v)
{
  return v ? v->value : 0;
}

/* The container stats of the pods edged runs, with usageNanoCores filled. */
static GArray *
match_containers (EdgedServer *srv, Runtime__V1__ListContainerStatsResponse *r)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (CtrStats));
  GHashTable *seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  GHashTableIter iter;
  gpointer value;

  for (gsize i = 0; r && i < r->n_stats; i++)
    {
      Runtime__V1__ContainerStats *st = r->stats[i];
      const char *id = st->attributes ? st->attributes->id : NULL;
      CpuSample *prev, *now;
      CtrStats cs = { 0 };

      if (!id)
        continue;
      g_hash_table_iter_init (&iter, srv->edged->pods);
      while (!cs.pod && g_hash_table_iter_next (&iter, NULL, &value))
        {
          EdgedPod *pod = value;
          for (guint k = 0; k < pod->spec->n_containers; k++)
            if (!g_strcmp0 (pod->containers[k].id, id))
              {
                cs.pod = pod;
                cs.index = k;
                break;
              }
        }
      if (!cs.pod)
        continue;
      cs.stats = st;
      now = g_new0 (CpuSample, 1);
      now->time_ns = st->cpu ? st->cpu->timestamp : 0;
      now->usage_ns = st->cpu ? (gint64) u64 (st->cpu->usage_core_nano_seconds) : 0;
      prev = g_hash_table_lookup (srv->ctr_cpu_prev, id);
      cs.nano_cores = st->cpu ? u64 (st->cpu->usage_nano_cores) : 0;
      if (!cs.nano_cores && prev && now->time_ns > prev->time_ns && now->usage_ns >= prev->usage_ns)
        cs.nano_cores = (guint64) ((double) (now->usage_ns - prev->usage_ns)
                                   / (double) (now->time_ns - prev->time_ns) * 1e9);
      g_hash_table_insert (seen, g_strdup (id), now);
      g_array_append_val (out, cs);
    }
  /* the samples of containers gone are forgotten */
  g_hash_table_unref (srv->ctr_cpu_prev);
  srv->ctr_cpu_prev = seen;
  return out;
}

/* ---- /stats/summary ----------------------------------------------------------- */

static void
add_str (JsonBuilder *b, const char *key, const char *value)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value ? value : "");
}

static void
add_u64 (JsonBuilder *b, const char *key, guint64 v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, (gint64) MIN (v, (guint64) G_MAXINT64));
}

static void
add_time (JsonBuilder *b, const char *key, gint64 unix_ns)
{
  g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (unix_ns / 1000000000);
  g_autofree char *text = t ? g_date_time_format (t, "%Y-%m-%dT%H:%M:%SZ") : NULL;
  add_str (b, key, text ? text : "1970-01-01T00:00:00Z");
}

static void
add_cpu (JsonBuilder *b, gint64 time_ns, guint64 nano_cores, guint64 core_ns)
{
  json_builder_set_member_name (b, "cpu");
  json_builder_begin_object (b);
  add_time (b, "time", time_ns);
  add_u64 (b, "usageNanoCores", nano_cores);
  add_u64 (b, "usageCoreNanoSeconds", core_ns);
  json_builder_end_object (b);
}

static void
add_memory (JsonBuilder *b, gint64 time_ns, guint64 available, gboolean has_available, guint64 usage,
            guint64 working_set, guint64 rss, guint64 faults, guint64 major)
{
  json_builder_set_member_name (b, "memory");
  json_builder_begin_object (b);
  add_time (b, "time", time_ns);
  if (has_available)
    add_u64 (b, "availableBytes", available);
  add_u64 (b, "usageBytes", usage);
  add_u64 (b, "workingSetBytes", working_set);
  add_u64 (b, "rssBytes", rss);
  add_u64 (b, "pageFaults", faults);
  add_u64 (b, "majorPageFaults", major);
  json_builder_end_object (b);
}

static void
add_fs (JsonBuilder *b, const char *key, NodeStats *n, gboolean with_used, guint64 used,
        guint64 inodes_used)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_object (b);
  add_time (b, "time", n->time_ns);
  add_u64 (b, "availableBytes", n->fs_available);
  add_u64 (b, "capacityBytes", n->fs_capacity);
  add_u64 (b, "usedBytes", with_used ? used : n->fs_used);
  add_u64 (b, "inodesFree", n->inodes_free);
  add_u64 (b, "inodes", n->inodes);
  add_u64 (b, "inodesUsed", with_used ? inodes_used : n->inodes - n->inodes_free);
  json_builder_end_object (b);
}

static void
add_interface (JsonBuilder *b, NetIf *nif)
{
  add_str (b, "name", nif->name);
  add_u64 (b, "rxBytes", nif->rx_bytes);
  add_u64 (b, "rxErrors", nif->rx_errors);
  add_u64 (b, "txBytes", nif->tx_bytes);
  add_u64 (b, "txErrors", nif->tx_errors);
}

/* The runtime's stats of the pod's sandbox, or NULL. */
static Runtime__V1__LinuxPodSandboxStats *
sandbox_stats (Runtime__V1__ListPodSandboxStatsResponse *list, EdgedPod *pod)
{
  for (gsize i = 0; list && pod->sandbox_id && i < list->n_stats; i++)
    if (list->stats[i]->attributes && !g_strcmp0 (list->stats[i]->attributes->id, pod->sandbox_id))
      return list->stats[i]->linux;
  return NULL;
}

static void
add_network (JsonBuilder *b, Runtime__V1__NetworkUsage *net, gint64 time_ns)
{
  json_builder_set_member_name (b, "network");
  json_builder_begin_object (b);
  add_time (b, "time", net->timestamp ? net->timestamp : time_ns);
  for (gsize i = 0; i <= net->n_interfaces; i++)
    {
      Runtime__V1__NetworkInterfaceUsage *nif = i == 0 ? net->default_interface : net->interfaces[i - 1];
      if (i == 1)
        {
          json_builder_set_member_name (b, "interfaces");
          json_builder_begin_array (b);
        }
      if (!nif)
        continue;
      if (i > 0)
        json_builder_begin_object (b);
      add_str (b, "name", nif->name);
      add_u64 (b, "rxBytes", u64 (nif->rx_bytes));
      add_u64 (b, "rxErrors", u64 (nif->rx_errors));
      add_u64 (b, "txBytes", u64 (nif->tx_bytes));
      add_u64 (b, "txErrors", u64 (nif->tx_errors));
      if (i > 0)
        json_builder_end_object (b);
    }
  if (net->n_interfaces)
    json_builder_end_array (b);
  json_builder_end_object (b);
}

static JsonNode *
summary (EdgedServer *srv, NodeStats *n, GArray *ctrs, Runtime__V1__ListPodSandboxStatsResponse *sandboxes)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GHashTableIter iter;
  gpointer value;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "node");
  json_builder_begin_object (b);
  add_str (b, "nodeName", srv->edged->node_name);
  json_builder_set_member_name (b, "systemContainers");
  json_builder_begin_array (b);
  json_builder_end_array (b);
  add_time (b, "startTime", n->boot_time * 1000000000);
  add_cpu (b, n->time_ns, n->nano_cores, n->cpu_ns);
  add_memory (b, n->time_ns, n->mem_available, TRUE, n->mem_usage, n->mem_working_set, n->mem_rss,
              n->page_faults, n->major_page_faults);
  json_builder_set_member_name (b, "network");
  json_builder_begin_object (b);
  add_time (b, "time", n->time_ns);
  if (n->ifs->len)
    add_interface (b, &g_array_index (n->ifs, NetIf, 0));
  json_builder_set_member_name (b, "interfaces");
  json_builder_begin_array (b);
  for (guint i = 0; i < n->ifs->len; i++)
    {
      json_builder_begin_object (b);
      add_interface (b, &g_array_index (n->ifs, NetIf, i));
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  add_fs (b, "fs", n, FALSE, 0, 0);
  json_builder_set_member_name (b, "rlimit");
  json_builder_begin_object (b);
  add_time (b, "time", n->time_ns);
  add_u64 (b, "maxpid", n->pid_max);
  add_u64 (b, "curproc", n->procs);
  json_builder_end_object (b);
  json_builder_end_object (b);

  json_builder_set_member_name (b, "pods");
  json_builder_begin_array (b);
  g_hash_table_iter_init (&iter, srv->edged->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      guint64 cpu = 0, cores = 0, ws = 0, usage = 0, rss = 0, faults = 0, major = 0, rootfs = 0;
      gint64 t = n->time_ns;

      if (pod->stage == POD_GONE)
        continue;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "podRef");
      json_builder_begin_object (b);
      add_str (b, "name", pod->spec->name);
      add_str (b, "namespace", pod->spec->namespace);
      add_str (b, "uid", pod->spec->uid);
      json_builder_end_object (b);
      add_time (b, "startTime", pod->start_time * 1000000000);
      json_builder_set_member_name (b, "containers");
      json_builder_begin_array (b);
      for (guint i = 0; i < ctrs->len; i++)
        {
          CtrStats *cs = &g_array_index (ctrs, CtrStats, i);
          Runtime__V1__ContainerStats *st = cs->stats;
          Runtime__V1__MemoryUsage *m = st->memory;
          guint64 c_cpu = st->cpu ? u64 (st->cpu->usage_core_nano_seconds) : 0;
          gint64 ct = st->cpu && st->cpu->timestamp ? st->cpu->timestamp : n->time_ns;
          if (cs->pod != pod)
            continue;
          json_builder_begin_object (b);
          add_str (b, "name", pod->spec->containers[cs->index].name);
          add_time (b, "startTime", pod->containers[cs->index].started_at);
          add_cpu (b, ct, cs->nano_cores, c_cpu);
          add_memory (b, m && m->timestamp ? m->timestamp : ct, m ? u64 (m->available_bytes) : 0,
                      m && m->available_bytes, m ? u64 (m->usage_bytes) : 0,
                      m ? u64 (m->working_set_bytes) : 0, m ? u64 (m->rss_bytes) : 0,
                      m ? u64 (m->page_faults) : 0, m ? u64 (m->major_page_faults) : 0);
          if (st->writable_layer)
            add_fs (b, "rootfs", n, TRUE, u64 (st->writable_layer->used_bytes),
                    u64 (st->writable_layer->inodes_used));
          json_builder_end_object (b);
          cpu += c_cpu;
          cores += cs->nano_cores;
          if (m)
            {
              ws += u64 (m->working_set_bytes);
              usage += u64 (m->usage_bytes);
              rss += u64 (m->rss_bytes);
              faults += u64 (m->page_faults);
              major += u64 (m->major_page_faults);
            }
          rootfs += st->writable_layer ? u64 (st->writable_layer->used_bytes) : 0;
          t = ct;
        }
      json_builder_end_array (b);
      {
        /* the sandbox's own figures (its cgroup: the pause process too),
         * when the runtime gives them; the sums of the containers' else */
        Runtime__V1__LinuxPodSandboxStats *sb = sandbox_stats (sandboxes, pod);
        Runtime__V1__CpuUsage *pc = sb ? sb->cpu : NULL;
        Runtime__V1__MemoryUsage *pm = sb ? sb->memory : NULL;
        if (pc && u64 (pc->usage_core_nano_seconds))
          add_cpu (b, pc->timestamp ? pc->timestamp : t,
                   u64 (pc->usage_nano_cores) ? u64 (pc->usage_nano_cores) : cores,
                   u64 (pc->usage_core_nano_seconds));
        else
          add_cpu (b, t, cores, cpu);
        if (pm && u64 (pm->working_set_bytes))
          add_memory (b, pm->timestamp ? pm->timestamp : t, u64 (pm->available_bytes),
                      pm->available_bytes != NULL, u64 (pm->usage_bytes), u64 (pm->working_set_bytes),
                      u64 (pm->rss_bytes), u64 (pm->page_faults), u64 (pm->major_page_faults));
        else
          add_memory (b, t, 0, FALSE, usage, ws, rss, faults, major);
        if (sb && sb->network)
          add_network (b, sb->network, t);
        if (sb && sb->process)
          {
            json_builder_set_member_name (b, "process_stats");
            json_builder_begin_object (b);
            add_u64 (b, "process_count", u64 (sb->process->process_count));
            json_builder_end_object (b);
          }
      }
      json_builder_set_member_name (b, "ephemeral-storage");
      json_builder_begin_object (b);
      add_time (b, "time", t);
      add_u64 (b, "availableBytes", n->fs_available);
      add_u64 (b, "capacityBytes", n->fs_capacity);
      add_u64 (b, "usedBytes", rootfs);
      json_builder_end_object (b);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* ---- /metrics/resource ------------------------------------------------------------ */

/* A label value in the text format: \, " and newline escaped. */
static void
append_label (GString *out, const char *name, const char *value, gboolean first)
{
  g_string_append_printf (out, "%s%s=\"", first ? "" : ",", name);
  for (const char *p = value; *p; p++)
    {
      if (*p == '\\' || *p == '"')
        g_string_append_c (out, '\\');
      if (*p == '\n')
        g_string_append (out, "\\n");
      else
        g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

static void
append_value (GString *out, double v, gint64 time_ns)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  g_string_append_printf (out, " %s %" G_GINT64_FORMAT "\n", g_ascii_dtostr (buf, sizeof buf, v),
                          time_ns / 1000000);
}

static void
help (GString *out, const char *name, const char *type, const char *text)
{
  g_string_append_printf (out, "# HELP %s [STABLE] %s\n# TYPE %s %s\n", name, text, name, type);
}

static char *
resource_metrics (EdgedServer *srv, NodeStats *n, GArray *ctrs, gboolean scrape_error)
{
  GString *out = g_string_new (NULL);
  GHashTableIter iter;
  gpointer value;

  help (out, "container_cpu_usage_seconds_total", "counter",
        "Cumulative cpu time consumed by the container in core-seconds");
  for (guint i = 0; i < ctrs->len; i++)
    {
      CtrStats *cs = &g_array_index (ctrs, CtrStats, i);
      if (!cs->stats->cpu)
        continue;
      g_string_append (out, "container_cpu_usage_seconds_total{");
      append_label (out, "container", cs->pod->spec->containers[cs->index].name, TRUE);
      append_label (out, "namespace", cs->pod->spec->namespace, FALSE);
      append_label (out, "pod", cs->pod->spec->name, FALSE);
      g_string_append_c (out, '}');
      append_value (out, (double) u64 (cs->stats->cpu->usage_core_nano_seconds) / 1e9,
                    cs->stats->cpu->timestamp ? cs->stats->cpu->timestamp : n->time_ns);
    }
  help (out, "container_memory_working_set_bytes", "gauge", "Current working set of the container in bytes");
  for (guint i = 0; i < ctrs->len; i++)
    {
      CtrStats *cs = &g_array_index (ctrs, CtrStats, i);
      if (!cs->stats->memory)
        continue;
      g_string_append (out, "container_memory_working_set_bytes{");
      append_label (out, "container", cs->pod->spec->containers[cs->index].name, TRUE);
      append_label (out, "namespace", cs->pod->spec->namespace, FALSE);
      append_label (out, "pod", cs->pod->spec->name, FALSE);
      g_string_append_c (out, '}');
      append_value (out, (double) u64 (cs->stats->memory->working_set_bytes),
                    cs->stats->memory->timestamp ? cs->stats->memory->timestamp : n->time_ns);
    }
  help (out, "container_start_time_seconds", "gauge", "Start time of the container since unix epoch in seconds");
  for (guint i = 0; i < ctrs->len; i++)
    {
      CtrStats *cs = &g_array_index (ctrs, CtrStats, i);
      gint64 started = cs->pod->containers[cs->index].started_at;
      if (!started)
        continue;
      g_string_append (out, "container_start_time_seconds{");
      append_label (out, "container", cs->pod->spec->containers[cs->index].name, TRUE);
      append_label (out, "namespace", cs->pod->spec->namespace, FALSE);
      append_label (out, "pod", cs->pod->spec->name, FALSE);
      g_string_append_c (out, '}');
      append_value (out, (double) started / 1e9, started);
    }
  help (out, "node_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the node in core-seconds");
  g_string_append (out, "node_cpu_usage_seconds_total");
  append_value (out, (double) n->cpu_ns / 1e9, n->time_ns);
  help (out, "node_memory_working_set_bytes", "gauge", "Current working set of the node in bytes");
  g_string_append (out, "node_memory_working_set_bytes");
  append_value (out, (double) n->mem_working_set, n->time_ns);
  help (out, "pod_cpu_usage_seconds_total", "counter", "Cumulative cpu time consumed by the pod in core-seconds");
  g_hash_table_iter_init (&iter, srv->edged->pods);
  for (int pass = 0; pass < 2; pass++)
    {
      if (pass == 1)
        {
          help (out, "pod_memory_working_set_bytes", "gauge", "Current working set of the pod in bytes");
          g_hash_table_iter_init (&iter, srv->edged->pods);
        }
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          EdgedPod *pod = value;
          double sum = 0;
          gint64 t = 0;
          gboolean any = FALSE;
          for (guint i = 0; i < ctrs->len; i++)
            {
              CtrStats *cs = &g_array_index (ctrs, CtrStats, i);
              if (cs->pod != pod)
                continue;
              if (pass == 0 && cs->stats->cpu)
                {
                  sum += (double) u64 (cs->stats->cpu->usage_core_nano_seconds) / 1e9;
                  t = MAX (t, cs->stats->cpu->timestamp);
                  any = TRUE;
                }
              else if (pass == 1 && cs->stats->memory)
                {
                  sum += (double) u64 (cs->stats->memory->working_set_bytes);
                  t = MAX (t, cs->stats->memory->timestamp);
                  any = TRUE;
                }
            }
          if (!any)
            continue;
          g_string_append (out, pass == 0 ? "pod_cpu_usage_seconds_total{" : "pod_memory_working_set_bytes{");
          append_label (out, "namespace", pod->spec->namespace, TRUE);
          append_label (out, "pod", pod->spec->name, FALSE);
          g_string_append_c (out, '}');
          append_value (out, sum, t ? t : n->time_ns);
        }
    }
  help (out, "scrape_error", "gauge", "1 if there was an error while getting container metrics, 0 otherwise");
  g_string_append_printf (out, "scrape_error %d\n", scrape_error ? 1 : 0);
  return g_string_free (out, FALSE);
}

/* Both answers are in (sandboxes may be NULL): the answer is made. */
static void
stats_answer (StatsRequest *r, Runtime__V1__ListPodSandboxStatsResponse *sandboxes)
{
  EdgedServer *srv = r->srv;
  g_autoptr (GArray) ctrs = NULL;
  NodeStats n;

  node_stats_read (srv, &n);
  ctrs = match_containers (srv, (Runtime__V1__ListContainerStatsResponse *) r->containers);
  if (r->prometheus)
    {
      char *text = resource_metrics (srv, &n, ctrs, r->error != NULL);
      soup_server_message_set_status (r->msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (r->msg, "text/plain; version=0.0.4; charset=utf-8",
                                        SOUP_MEMORY_TAKE, text, strlen (text));
    }
  else if (r->error)
    edged_server_error (r->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "failed to get the container "
                        "stats from the runtime: %s", r->error->message);
  else
    {
      g_autoptr (JsonNode) root = summary (srv, &n, ctrs, sandboxes);
      edged_server_json (r->msg, root);
    }
  soup_server_message_unpause (r->msg);
  node_stats_clear (&n);
}

static void
on_sandbox_stats (ProtobufCMessage *response, const GError *error, gpointer data)
{
  StatsRequest *r = data;
  /* a runtime without ListPodSandboxStats (before CRI v1.23's): the
   * containers' sums */
  if (error)
    ec_log_debug (r->srv->edged->context, "ListPodSandboxStats: %s", error->message);
  stats_answer (r, (Runtime__V1__ListPodSandboxStatsResponse *) response);
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
}

static void
on_container_stats (ProtobufCMessage *response, const GError *error, gpointer data)
{
  StatsRequest *r = data;

  if (error)
    {
      ec_log_debug (r->srv->edged->context, "ListContainerStats: %s", error->message);
      r->error = g_error_copy (error);
    }
  r->containers = response;
  if (!r->prometheus && !error)
    {
      Runtime__V1__ListPodSandboxStatsRequest req = RUNTIME__V1__LIST_POD_SANDBOX_STATS_REQUEST__INIT;
      Runtime__V1__PodSandboxStatsFilter filter = RUNTIME__V1__POD_SANDBOX_STATS_FILTER__INIT;
      req.filter = &filter;
      r->refs++;
      edged_cri_invoke (r->srv->edged->runtime, &edged_cri_list_pod_sandbox_stats, &req.base,
                        (guint) MIN (r->srv->edged->request_timeout_ms, STATS_TIMEOUT_MS),
                        on_sandbox_stats, r, stats_request_unref);
      return;
    }
  stats_answer (r, NULL);
}

/* GET /stats/summary (prometheus FALSE) or /metrics/resource (TRUE). */
void
edged_server_stats (EdgedServer *srv, SoupServerMessage *msg, gboolean prometheus)
{
  Runtime__V1__ListContainerStatsRequest req = RUNTIME__V1__LIST_CONTAINER_STATS_REQUEST__INIT;
  Runtime__V1__ContainerStatsFilter filter = RUNTIME__V1__CONTAINER_STATS_FILTER__INIT;
  StatsRequest *r = g_new0 (StatsRequest, 1);

  r->refs = 1;
  r->srv = srv;
  r->msg = g_object_ref (msg);
  r->prometheus = prometheus;
  req.filter = &filter;
  soup_server_message_pause (msg);
  edged_cri_invoke (srv->edged->runtime, &edged_cri_list_container_stats, &req.base,
                    (guint) MIN (srv->edged->request_timeout_ms, STATS_TIMEOUT_MS), on_container_stats, r,
                    stats_request_unref);
}

/* The first cpu sample: the first collection's usageNanoCores is the rate
 * since the server started. */
void
edged_server_stats_init (EdgedServer *srv)
{
  gint64 boot;
  srv->cpu_prev_ns = (gint64) host_cpu_ns (&boot);
  srv->cpu_prev_time = g_get_real_time () * 1000;
  srv->ctr_cpu_prev = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}
