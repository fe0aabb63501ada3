/* eb-util.h: eventbus's pure helpers (unit-tested in tests/eventbus). */
#pragma once

#include <glib.h>

gboolean eb_topic_is_twin (const char *topic);
char    *eb_client_id     (const char *configured, const char *role, gint64 unix_ms);
gboolean eb_mqtt_encode_publish (GByteArray *out, const char *topic, const void *payload,
                                 gsize length, gboolean retain);
