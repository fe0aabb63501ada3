/* log.h: the host's structured log writer. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* [core] log-target */
typedef enum {
  EC_LOG_TARGET_AUTO,
  EC_LOG_TARGET_JOURNAL,
  EC_LOG_TARGET_STDERR,
} EcLogTarget;

void            ec_log_install       (void);
gboolean        ec_log_parse_level   (const char *name, GLogLevelFlags *threshold);
void            ec_log_set_threshold (GLogLevelFlags threshold);
GLogLevelFlags  ec_log_get_threshold (void);
gboolean        ec_log_parse_target  (const char *name, EcLogTarget *target);
void            ec_log_set_target    (EcLogTarget target);

G_END_DECLS
