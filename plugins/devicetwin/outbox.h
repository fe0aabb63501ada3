/* outbox.h: devicetwin's sends to other bus modules: they wait on the bus
 * for room (ec_endpoint_send_when_ready), in order per destination; what
 * the bus cannot take is counted and logged, rate-limited. */
#pragma once

#include <edgecore.h>

typedef struct _Outbox Outbox;

Outbox *outbox_new         (EcPluginContext  *context);
void    outbox_free        (Outbox           *outbox);
void    outbox_send        (Outbox           *outbox,
                            const char       *module,
                            EcMessage        *message);
