/* edged-plugin.h: what edged's descriptor (descriptor.c) names; the rest of
 * the plugin is the static library the tests link. */
#pragma once

#include "edged.h"

G_BEGIN_DECLS

extern const EcConfigKey edged_keys[];
gboolean edged_init           (EcPluginContext *context, gpointer *state, GError **error);
void     edged_free           (gpointer state);
void     edged_handle_message (gpointer state, EcMessage *message);

G_END_DECLS
