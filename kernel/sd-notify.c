/* sd-notify.c: the sd_notify(3) datagram protocol on $NOTIFY_SOCKET:
 * READY=1, STOPPING=1 and the watchdog keep-alive WATCHDOG=1. It is small
 * enough that linking libsystemd for it is not worth the memory. */
#include "config.h"

#include "sd-notify.h"

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <unistd.h>

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

/* The watchdog interval systemd asked for (WatchdogSec=, passed as
 * $WATCHDOG_USEC, for this process when $WATCHDOG_PID is set), or 0. */
guint64
ec_sd_watchdog_usec (void)
{
  const char *usec = g_getenv ("WATCHDOG_USEC");
  const char *pid = g_getenv ("WATCHDOG_PID");
  guint64 value;
  char *end = NULL;

  if (!usec || !*usec)
    return 0;
  if (pid && *pid)
    {
      guint64 p = g_ascii_strtoull (pid, &end, 10);
      if (*end || p != (guint64) getpid ())
        return 0;
    }
  value = g_ascii_strtoull (usec, &end, 10);
  return *end ? 0 : value;
}

static gboolean
on_watchdog (gpointer unused)
{
  ec_sd_notify ("WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

/* Sends WATCHDOG=1 from the default main context every half watchdog
 * interval, so that a main loop stuck for longer than WatchdogSec= stops
 * the keep-alives and systemd restarts the service. Returns the source
 * id (0 when systemd asked for no watchdog); remove it with
 * g_source_remove(). */
guint
ec_sd_watchdog_start (void)
{
  guint64 usec = ec_sd_watchdog_usec ();
  guint ms;
  if (usec == 0)
    return 0;
  ms = (guint) CLAMP (usec / 2000, 1, G_MAXUINT);
  ec_sd_notify ("WATCHDOG=1");
  return g_timeout_add (ms, on_watchdog, NULL);
}
