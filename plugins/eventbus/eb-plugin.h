/* eb-plugin.h: what eventbus's descriptor (descriptor.c) names; the rest of the
 * plugin is the static library the tests link. */
#pragma once

#include <edgecore.h>

G_BEGIN_DECLS

#define EVENTBUS_BUS_NAME  "eventbus"
#define EVENTBUS_BUS_GROUP "bus"

extern const EcConfigKey eventbus_keys[];
gboolean eventbus_init           (EcPluginContext *context, gpointer *state, GError **error);
gboolean eventbus_start          (gpointer state, GError **error);
void     eventbus_stop           (gpointer state);
void     eventbus_free           (gpointer state);
void     eventbus_handle_message (gpointer state, EcMessage *message);

G_END_DECLS
