/* sd-notify.c: the sd_notify(3) datagram protocol on $NOTIFY_SOCKET. It is
 * small enough that linking libsystemd for it is not worth the memory. */
#include "config.h"

#include "sd-notify.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>

/* Sends state (e.g. "READY=1") to systemd. Returns FALSE when not run by
 * systemd or when sending failed. */
gboolean
ec_sd_notify (const char *state)
{
  const char *path = g_getenv ("NOTIFY_SOCKET");
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GSocketAddress) addr = NULL;
  g_autoptr (GError) error = NULL;

  if (!path || !*path)
    return FALSE;
  sock = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_DATAGRAM, G_SOCKET_PROTOCOL_DEFAULT, &error);
  if (!sock)
    return FALSE;
  if (path[0] == '@')
    addr = g_unix_socket_address_new_with_type (path + 1, -1, G_UNIX_SOCKET_ADDRESS_ABSTRACT);
  else
    addr = g_unix_socket_address_new (path);
  if (g_socket_send_to (sock, addr, state, strlen (state), NULL, &error) < 0)
    {
      g_warning ("sd_notify: %s", error->message);
      return FALSE;
    }
  return TRUE;
}
