/* outbox.h: ordered, flow-controlled sends to other bus modules, shared by
 * eventbus and devicetwin (each plugin links its own copy). */
#pragma once

#include <edgecore.h>

typedef struct _Outbox Outbox;

/* Called on the main loop when the backlog fell to zero. */
typedef void (*OutboxDrainedFunc) (gpointer user_data);

Outbox *outbox_new         (EcPluginContext  *context,
                            guint             max_pending);
void    outbox_free        (Outbox           *outbox);
void    outbox_send        (Outbox           *outbox,
                            const char       *module,
                            EcMessage        *message);
guint   outbox_get_pending (Outbox           *outbox);
guint64 outbox_get_dropped (Outbox           *outbox);
void    outbox_set_drained (Outbox           *outbox,
                            OutboxDrainedFunc func,
                            gpointer          user_data);
