/* log.h: the host's structured log writer. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void            ec_log_install       (void);
gboolean        ec_log_parse_level   (const char *name, GLogLevelFlags *threshold);
void            ec_log_set_threshold (GLogLevelFlags threshold);
GLogLevelFlags  ec_log_get_threshold (void);

G_END_DECLS
