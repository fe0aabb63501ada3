/* smp.h: two-way strategic merge patches (kubelet's status patches). */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

JsonObject *edged_smp_diff (JsonNode *old, JsonNode *new);
JsonNode   *edged_json_deep_copy (JsonNode *node);

G_END_DECLS
