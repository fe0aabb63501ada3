/* cs-relay.h: a byte relay in front of the hub's WSS port, so that cloudsim
 * can go silent on a live connection (stop reading and answering, TCP kept
 * open) while new connections still work. */
#pragma once

#include <gio/gio.h>

typedef struct _CsRelay CsRelay;

CsRelay *cs_relay_new      (guint    port,
                            guint    target_port,
                            GError **error);
void     cs_relay_free     (CsRelay *relay);
guint    cs_relay_get_port (CsRelay *relay);
guint    cs_relay_silence  (CsRelay *relay);
