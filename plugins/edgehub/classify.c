/* classify.c: edgehub's routing rules (docs/bus-contracts.md, reference
 * kubeedge-message-model.md section 4.3) and which uplink messages are
 * status-like (kept once per object) or exempt from the rate limit. */
#include "classify.h"

#include <string.h>

/* Where a message from the cloud goes. */
EhDownRoute
eh_classify_down (const char *group, const char *source, const char *operation,
                  const char *parent_id)
{
  gboolean has_parent = parent_id && *parent_id;
  if (operation && (!strcmp (operation, "config") || !strcmp (operation, "ping")
                    || !strcmp (operation, "pong")))
    return EH_DOWN_CONTROL;
  if (!group)
    return EH_DOWN_UNKNOWN_GROUP;
  if (!strcmp (group, "resource") || !strcmp (group, "func"))
    return EH_DOWN_META;
  if (!strcmp (group, "twin"))
    return EH_DOWN_TWIN;
  if (!strcmp (group, "user"))
    {
      if (has_parent)
        return EH_DOWN_USER_REPLY;
      if (g_strcmp0 (source, "router_eventbus") == 0)
        return EH_DOWN_EVENTBUS;
      return EH_DOWN_USER_DROPPED;
    }
  return EH_DOWN_UNKNOWN_GROUP;
}

/* The operations KubeEdge's cloud sends or the edge knows (reference
 * kubeedge-message-model.md section 2). */
gboolean
eh_known_operation (const char *operation)
{
  static const char *const known[] = {
    "insert", "update", "delete", "query", "response", "error", "patch", "upload", "keepalive",
    "unhold-upgrade", "subscribe", "unsubscribe", "publish", "message", "get_result", "connect",
    "get", "updated", "applicationResponse", "null", "createvolume", "deletevolume",
    "controllerpublishvolume", "controllerunpublishvolume", "start", "stop", "prepull",
    "upgrade", "rollback", "backup", "UpdateNodeActionStatus", "GET", "POST", "PUT", "DELETE",
    "PATCH", "HEAD", "OPTIONS", NULL
  };
  if (!operation)
    return FALSE;
  for (guint i = 0; known[i]; i++)
    if (!strcmp (known[i], operation))
      return TRUE;
  return FALSE;
}

/* The key under which a status-like uplink message replaces an older one
 * (operation + resource), or NULL if the message must be kept as it is.
 * Status-like: insert/update/patch of nodestatus, podstatus, rulestatus,
 * and update of node and lease. */
char *
eh_status_key (const char *operation, const char *resource)
{
  g_auto (GStrv) tok = NULL;
  const char *type;
  gboolean status;

  if (!operation || !resource)
    return NULL;
  if (strcmp (operation, "insert") && strcmp (operation, "update") && strcmp (operation, "patch"))
    return NULL;
  tok = g_strsplit (resource, "/", 4);
  if (g_strv_length (tok) != 3)
    return NULL;
  type = tok[1];
  status = !strcmp (type, "nodestatus") || !strcmp (type, "podstatus") || !strcmp (type, "rulestatus")
           || (!strcmp (operation, "update") && (!strcmp (type, "node") || !strcmp (type, "lease")));
  return status ? g_strconcat (operation, " ", resource, NULL) : NULL;
}

/* Acknowledgements, replies and keepalives are never held back by the rate
 * limit: the cloud resends what is not acked within 5 s. */
gboolean
eh_exempt_from_limit (const char *operation, const char *parent_id)
{
  if (g_strcmp0 (operation, "keepalive") == 0)
    return TRUE;
  return (parent_id && *parent_id)
         && (g_strcmp0 (operation, "response") == 0 || g_strcmp0 (operation, "error") == 0);
}
