/* classify.h: what edgehub does with a message, decided from its route. */
#pragma once

#include <glib.h>

typedef enum {
  EH_DOWN_CONTROL,        /* viaduct config/ping/pong: answer "ack", deliver nothing */
  EH_DOWN_META,           /* group resource/func: a sync reply if awaited, else group meta */
  EH_DOWN_TWIN,           /* group twin: always group twin */
  EH_DOWN_USER_REPLY,     /* group user with a parent id: a sync reply if awaited */
  EH_DOWN_EVENTBUS,       /* group user from router_eventbus: module eventbus */
  EH_DOWN_USER_DROPPED,   /* group user from anything else: dropped and counted */
  EH_DOWN_UNKNOWN_GROUP,  /* anything else: logged, counted, dropped */
} EhDownRoute;

EhDownRoute eh_classify_down     (const char *group, const char *source, const char *operation,
                                  const char *parent_id);
gboolean    eh_known_operation   (const char *operation);
char       *eh_status_key        (const char *operation, const char *resource);
gboolean    eh_exempt_from_limit (const char *operation, const char *parent_id);
