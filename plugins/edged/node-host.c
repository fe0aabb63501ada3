/* node-host.c: reads the host facts from /proc, /sys, /etc and statvfs.
 * Every read is of a small local file; a missing one leaves the field
 * empty or zero, as kubelet leaves unknown fields. */
#include "node-host.h"

#include <arpa/inet.h>
#include <gio/gio.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

/* The first line of a small file, trimmed; NULL when unreadable. */
static char *
read_line (const char *path)
{
  g_autofree char *text = NULL;
  char *nl;
  if (!g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  if ((nl = strchr (text, '\n')))
    *nl = '\0';
  return g_strstrip (g_strdup (text));
}

/* Go's GOARCH for a uname machine string. */
char *
edged_host_go_arch (const char *machine)
{
  static const char *map[][2] = {
    { "x86_64", "amd64" }, { "aarch64", "arm64" }, { "armv7l", "arm" }, { "armv6l", "arm" },
    { "i686", "386" }, { "i386", "386" }, { "ppc64le", "ppc64le" }, { "s390x", "s390x" },
    { "riscv64", "riscv64" }, { "mips64", "mips64" }, { "loongarch64", "loong64" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (map); i++)
    if (!strcmp (machine, map[i][0]))
      return g_strdup (map[i][1]);
  return g_strdup (machine);
}

static char *
os_image (void)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  if (!g_file_get_contents ("/etc/os-release", &text, NULL, NULL)
      && !g_file_get_contents ("/usr/lib/os-release", &text, NULL, NULL))
    return g_strdup ("Linux");
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    if (g_str_has_prefix (*l, "PRETTY_NAME="))
      {
        char *v = *l + strlen ("PRETTY_NAME=");
        gsize n = strlen (v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0])
          return g_strndup (v + 1, n - 2);
        return g_strdup (v);
      }
  return g_strdup ("Linux");
}

/* A "Name:   N kB" field of /proc/meminfo, in bytes. */
static gint64
meminfo (const char *text, const char *name)
{
  const char *p = text;
  gsize nlen = strlen (name);
  while (p && *p)
    {
      if (!strncmp (p, name, nlen) && p[nlen] == ':')
        return g_ascii_strtoll (p + nlen + 1, NULL, 10) * 1024;
      p = strchr (p, '\n');
      if (p)
        p++;
    }
  return 0;
}

/* Reads the host facts; root_directory's filesystem (or that of its closest
 * existing parent) gives the ephemeral storage. */
void
edged_host_read (EdgedHost *host, const char *root_directory)
{
  struct utsname u;
  g_autofree char *mem = NULL;
  g_autofree char *dir = g_strdup (root_directory && *root_directory ? root_directory : "/");
  g_autofree char *pid_max = NULL;
  struct statvfs vfs;
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);

  memset (host, 0, sizeof *host);
  if (uname (&u) == 0)
    {
      host->kernel_version = g_strdup (u.release);
      host->architecture = edged_host_go_arch (u.machine);
    }
  else
    {
      host->kernel_version = g_strdup ("");
      host->architecture = g_strdup ("");
    }
  host->os_image = os_image ();
  host->machine_id = read_line ("/etc/machine-id");
  if (!host->machine_id)
    host->machine_id = read_line ("/var/lib/dbus/machine-id");
  if (!host->machine_id)
    host->machine_id = g_strdup ("");
  host->boot_id = read_line ("/proc/sys/kernel/random/boot_id");
  if (!host->boot_id)
    host->boot_id = g_strdup ("");
  host->system_uuid = read_line ("/sys/class/dmi/id/product_uuid");
  if (!host->system_uuid)
    host->system_uuid = g_strdup ("");
  host->cpus = cpus > 0 ? (guint) cpus : 1;
  if (g_file_get_contents ("/proc/meminfo", &mem, NULL, NULL))
    {
      host->memory_total = meminfo (mem, "MemTotal");
      host->memory_available = meminfo (mem, "MemAvailable");
    }
  while (statvfs (dir, &vfs) != 0 && strcmp (dir, "/") != 0)
    {
      char *parent = g_path_get_dirname (dir);
      g_free (dir);
      dir = parent;
    }
  if (statvfs (dir, &vfs) == 0)
    {
      host->fs_capacity = (gint64) vfs.f_blocks * (gint64) vfs.f_frsize;
      host->fs_available = (gint64) vfs.f_bavail * (gint64) vfs.f_frsize;
    }
  pid_max = read_line ("/proc/sys/kernel/pid_max");
  host->pids_max = pid_max ? g_ascii_strtoll (pid_max, NULL, 10) : 0;
  {
    g_autofree char *loadavg = read_line ("/proc/loadavg");
    /* "0.00 0.01 0.05 1/123 4567": the number after "/" is the task count */
    char *slash = loadavg ? strchr (loadavg, '/') : NULL;
    if (slash)
      host->pids_running = g_ascii_strtoll (slash + 1, NULL, 10);
  }
}

/* Frees the strings of host. */
void
edged_host_clear (EdgedHost *host)
{
  g_free (host->kernel_version);
  g_free (host->os_image);
  g_free (host->architecture);
  g_free (host->machine_id);
  g_free (host->boot_id);
  g_free (host->system_uuid);
  memset (host, 0, sizeof *host);
}

/* The interface of the IPv4 default route, from /proc/net/route. */
static char *
default_route_interface (void)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  if (!g_file_get_contents ("/proc/net/route", &text, NULL, NULL))
    return NULL;
  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      g_auto (GStrv) f = g_strsplit_set (*l, " \t", -1);
      char *cols[3] = { NULL };
      int n = 0;
      for (char **c = f; *c && n < 3; c++)
        if (**c)
          cols[n++] = *c;
      if (n == 3 && !strcmp (cols[1], "00000000") && strcmp (cols[0], "Iface"))
        return g_strdup (cols[0]);
    }
  return NULL;
}

/* The node's IPv4 address: that of interface when given, else that of the
 * default route's interface, else the first non-loopback one, else
 * 127.0.0.1 (as KubeEdge falls back when nothing else is up). */
char *
edged_host_detect_ip (const char *interface, GError **error)
{
  struct ifaddrs *ifs = NULL, *i;
  g_autofree char *def = NULL;
  char *found = NULL, *fallback = NULL;
  char buf[INET_ADDRSTRLEN];

  if (getifaddrs (&ifs) != 0)
    return g_strdup ("127.0.0.1");
  def = interface && *interface ? NULL : default_route_interface ();
  for (i = ifs; i; i = i->ifa_next)
    {
      if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP))
        continue;
      inet_ntop (AF_INET, &((struct sockaddr_in *) i->ifa_addr)->sin_addr, buf, sizeof buf);
      if (interface && *interface)
        {
          if (!strcmp (i->ifa_name, interface) && !found)
            found = g_strdup (buf);
          continue;
        }
      if (def && !strcmp (i->ifa_name, def) && !found)
        found = g_strdup (buf);
      if (!(i->ifa_flags & IFF_LOOPBACK) && !fallback)
        fallback = g_strdup (buf);
    }
  freeifaddrs (ifs);
  if (interface && *interface && !found)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "custom-interface-name %s has no IPv4 address", interface);
      g_free (fallback);
      return NULL;
    }
  if (found)
    {
      g_free (fallback);
      return found;
    }
  return fallback ? fallback : g_strdup ("127.0.0.1");
}
