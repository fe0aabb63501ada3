/* mm-plugin.h: what metamanager's descriptor (descriptor.c) names; the rest of the
 * plugin is the static library the tests link. */
#pragma once

#include "mm-private.h"

G_BEGIN_DECLS


extern const EcConfigKey metamanager_keys[];
gboolean metamanager_init           (EcPluginContext *context, gpointer *state, GError **error);
gboolean metamanager_start          (gpointer state, GError **error);
void     metamanager_stop           (gpointer state);
void     metamanager_free           (gpointer state);
void     metamanager_handle_message (gpointer state, EcMessage *message);

G_END_DECLS
