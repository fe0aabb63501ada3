/* node-host.h: what the node reports about its host: identity, kernel, OS,
 * architecture, CPUs, memory, the filesystem of the kubelet root directory
 * and its addresses. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  char   *kernel_version;     /* uname -r */
  char   *os_image;           /* PRETTY_NAME of os-release */
  char   *architecture;       /* Go's GOARCH names: amd64, arm64, arm, ... */
  char   *machine_id;
  char   *boot_id;
  char   *system_uuid;
  guint   cpus;               /* online CPUs */
  gint64  memory_total;       /* bytes */
  gint64  memory_available;   /* bytes */
  gint64  fs_capacity;        /* bytes of the root directory's filesystem */
  gint64  fs_available;
  gint64  pids_max;
  gint64  pids_running;
} EdgedHost;

void     edged_host_read       (EdgedHost *host, const char *root_directory);
void     edged_host_clear      (EdgedHost *host);
char    *edged_host_detect_ip  (const char *interface, GError **error);
char    *edged_host_go_arch    (const char *machine);

G_END_DECLS
