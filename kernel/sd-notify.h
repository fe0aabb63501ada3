/* sd-notify.h: telling systemd the service is ready, without libsystemd. */
#pragma once

#include <glib.h>

gboolean ec_sd_notify (const char *state);
