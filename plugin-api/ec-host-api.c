/* ec-host-api.c: the start-up check between the host and the library. */
#include "config.h"

#include "ec-lib-private.h"

#include <dlfcn.h>

/* The file this library was loaded from, for the error message. */
static const char *
library_file (void)
{
  Dl_info info;
  if (dladdr ((void *) ec_host_check_library, &info) && info.dli_fname)
    return info.dli_fname;
  return "libedgecore-1";
}

/**
 * ec_host_check_library: (skip)
 * @host_abi_major: %EC_PLUGIN_ABI_MAJOR the host was built with
 * @host_abi_minor: %EC_PLUGIN_ABI_MINOR the host was built with
 * @host_interface: %EC_HOST_INTERFACE the host was built with
 * @host_version: the host's package version, for the message
 * @error: where to put an error
 *
 * For the host only, first thing at start: checks that this library can
 * serve it. The major versions must be equal, the library's minor at
 * least the host's (it has every function the host and its plugins may
 * call), and the host-facing interface exactly the same.
 *
 * Returns: %TRUE if they fit; otherwise %FALSE with an error naming the
 *   library file and both versions
 */
gboolean
ec_host_check_library (guint host_abi_major, guint host_abi_minor, guint host_interface,
                       const char *host_version, GError **error)
{
  if (host_abi_major == EC_PLUGIN_ABI_MAJOR && host_abi_minor <= EC_PLUGIN_ABI_MINOR
      && host_interface == EC_HOST_INTERFACE)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
               "edgecore %s was built for libedgecore-1 with plugin ABI %u.%u (host interface %u), "
               "but the library loaded from %s is %s with plugin ABI %d.%d (host interface %d); "
               "install the edgecore and libedgecore-1 of one release",
               host_version ? host_version : "?", host_abi_major, host_abi_minor, host_interface,
               library_file (), EC_VERSION, EC_PLUGIN_ABI_MAJOR, EC_PLUGIN_ABI_MINOR,
               EC_HOST_INTERFACE);
  return FALSE;
}
