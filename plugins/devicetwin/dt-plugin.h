/* dt-plugin.h: what devicetwin's descriptor (descriptor.c) names; the rest of the
 * plugin is the static library the tests link. */
#pragma once

#include <edgecore.h>

G_BEGIN_DECLS

#define DEVICETWIN_BUS_NAME  "twin"
#define DEVICETWIN_BUS_GROUP "twin"

extern const EcConfigKey devicetwin_keys[];
gboolean devicetwin_init           (EcPluginContext *context, gpointer *state, GError **error);
gboolean devicetwin_start          (gpointer state, GError **error);
void     devicetwin_stop           (gpointer state);
void     devicetwin_free           (gpointer state);
void     devicetwin_handle_message (gpointer state, EcMessage *message);

G_END_DECLS
