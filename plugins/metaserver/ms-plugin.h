/* ms-plugin.h: what metaserver's descriptor (descriptor.c) names; the rest of the
 * plugin is the static library the tests link. */
#pragma once

#include "ms.h"

G_BEGIN_DECLS


extern const EcConfigKey metaserver_keys[];
extern const char *const metaserver_requires[];
gboolean metaserver_init           (EcPluginContext *context, gpointer *state, GError **error);
gboolean metaserver_start          (gpointer state, GError **error);
void     metaserver_stop           (gpointer state);
void     metaserver_free           (gpointer state);
void     metaserver_handle_message (gpointer state, EcMessage *message);

G_END_DECLS
