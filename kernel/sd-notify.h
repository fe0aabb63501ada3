/* sd-notify.h: telling systemd the service is ready and alive, without libsystemd. */
#pragma once

#include <glib.h>

gboolean ec_sd_notify         (const char *state);
guint64  ec_sd_watchdog_usec  (void);
guint    ec_sd_watchdog_start (void);
