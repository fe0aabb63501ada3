/* cs-objects.h: a HEAD CloudCore's answers to kubelet-style edge requests
 * (node, nodepatch, podpatch, lease) against in-memory objects. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _CsObjects CsObjects;

/* Records one event; fields is JSON text starting with a comma. */
typedef void (*CsObjectsRecord) (gpointer data, const char *event, const char *fields);

CsObjects *cs_objects_new       (CsObjectsRecord record, gpointer data);
void       cs_objects_free      (CsObjects *objects);
gboolean   cs_objects_handle    (CsObjects *objects, const char *op, const char *resource,
                                 JsonNode *content, char **reply, char **rv);
void       cs_objects_note_sent (CsObjects *objects, const char *op, const char *resource,
                                 JsonNode *content);

G_END_DECLS
