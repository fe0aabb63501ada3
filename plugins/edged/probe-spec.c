/* probe-spec.c: a container's probes (livenessProbe, readinessProbe,
 * startupProbe) and lifecycle handlers (lifecycle.postStart/preStop) read
 * from the pod JSON, with kubelet's defaults. */
#include "probe.h"
#include "pod-spec.h"

#include <string.h>

#define BAD(...) (g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, __VA_ARGS__), FALSE)

/* Frees a probe or handler. */
void
edged_probe_spec_free (EdgedProbeSpec *spec)
{
  if (!spec)
    return;
  g_strfreev (spec->command);
  g_free (spec->host);
  g_free (spec->path);
  g_free (spec->service);
  g_strfreev (spec->header_names);
  g_strfreev (spec->header_values);
  g_free (spec);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EdgedProbeSpec, edged_probe_spec_free)

/* An integer member (default def); FALSE when present and not an integer
 * within [min, max]. */
static gboolean
int_member (JsonObject *o, const char *name, gint64 def, gint64 min, gint64 max, gint64 *out)
{
  JsonNode *n = json_object_get_member (o, name);
  *out = def;
  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (n);
  if (*out == 0 && min > 0)
    *out = def;      /* 0 means the default, as the API server defaults it */
  return *out >= min && *out <= max;
}

/* The port: a number, or the name of one of the container's ports. */
static gboolean
read_port (JsonObject *container, JsonObject *action, int *port, GError **error)
{
  JsonNode *n = json_object_get_member (action, "port");
  if (n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
    *port = (int) json_node_get_int (n);
  else if (n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
    {
      const char *name = json_node_get_string (n);
      JsonNode *ports = json_object_get_member (container, "ports");
      JsonArray *a = ports && JSON_NODE_HOLDS_ARRAY (ports) ? json_node_get_array (ports) : NULL;
      *port = 0;
      for (guint i = 0; a && i < json_array_get_length (a); i++)
        {
          JsonNode *p = json_array_get_element (a, i);
          JsonObject *o = JSON_NODE_HOLDS_OBJECT (p) ? json_node_get_object (p) : NULL;
          gint64 v;
          if (o && !g_strcmp0 (edged_json_string (o, "name"), name)
              && int_member (o, "containerPort", 0, 1, 65535, &v))
            *port = (int) v;
        }
      if (!*port)
        return BAD ("no container port named %s", name);
    }
  else
    return BAD ("no port");
  if (*port < 1 || *port > 65535)
    return BAD ("port %d out of range", *port);
  return TRUE;
}

static gboolean
str_array (JsonObject *o, const char *name, char ***out)
{
  JsonNode *n = json_object_get_member (o, name);
  JsonArray *a = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  guint len = a ? json_array_get_length (a) : 0;
  *out = g_new0 (char *, len + 1);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING)
        return FALSE;
      (*out)[i] = g_strdup (json_node_get_string (e));
    }
  return a != NULL;
}

static gboolean
read_action (JsonObject *container, JsonObject *o, EdgedProbeSpec *spec, GError **error)
{
  JsonObject *exec = edged_json_object (o, "exec");
  JsonObject *http = edged_json_object (o, "httpGet");
  JsonObject *tcp = edged_json_object (o, "tcpSocket");
  JsonObject *grpc = edged_json_object (o, "grpc");
  const char *scheme;

  if ((exec != NULL) + (http != NULL) + (tcp != NULL) + (grpc != NULL) != 1)
    return BAD ("exactly one of exec, httpGet, tcpSocket, grpc is needed");
  if (grpc)
    {
      /* port: a number only (GRPCAction.port is an int32); service
       * optional, "" asks about the server as a whole */
      JsonNode *n = json_object_get_member (grpc, "port");
      JsonNode *sn = json_object_get_member (grpc, "service");
      spec->kind = EDGED_HANDLER_GRPC;
      if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64)
        return BAD ("grpc.port must be a number");
      if (json_node_get_int (n) < 1 || json_node_get_int (n) > 65535)
        return BAD ("grpc port %" G_GINT64_FORMAT " out of range", json_node_get_int (n));
      spec->port = (int) json_node_get_int (n);
      if (sn && !JSON_NODE_HOLDS_NULL (sn)
          && (!JSON_NODE_HOLDS_VALUE (sn) || json_node_get_value_type (sn) != G_TYPE_STRING))
        return BAD ("grpc.service must be a string");
      spec->service = g_strdup (edged_json_string (grpc, "service")
                                  ? edged_json_string (grpc, "service") : "");
      return TRUE;
    }
  if (exec)
    {
      spec->kind = EDGED_HANDLER_EXEC;
      if (!str_array (exec, "command", &spec->command) || !spec->command[0])
        return BAD ("exec.command must be a non-empty list of strings");
      return TRUE;
    }
  if (tcp)
    {
      spec->kind = EDGED_HANDLER_TCP;
      spec->host = g_strdup (edged_json_string (tcp, "host"));
      return read_port (container, tcp, &spec->port, error);
    }
  spec->kind = EDGED_HANDLER_HTTP;
  scheme = edged_json_string (http, "scheme");
  if (scheme && *scheme && strcmp (scheme, "HTTP") && strcmp (scheme, "HTTPS"))
    return BAD ("httpGet scheme %s is not HTTP or HTTPS", scheme);
  spec->https = !g_strcmp0 (scheme, "HTTPS");
  spec->host = g_strdup (edged_json_string (http, "host"));
  spec->path = g_strdup (edged_json_string (http, "path") ? edged_json_string (http, "path") : "/");
  if (spec->path[0] != '/' || strpbrk (spec->path, " \r\n"))
    return BAD ("httpGet path %s is not a path", spec->path);
  if (spec->host && (!*spec->host || strpbrk (spec->host, " \r\n/")))
    return BAD ("httpGet host %s is not a host", spec->host);
  {
    JsonNode *n = json_object_get_member (http, "httpHeaders");
    JsonArray *a = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
    guint len = a ? json_array_get_length (a) : 0;
    spec->header_names = g_new0 (char *, len + 1);
    spec->header_values = g_new0 (char *, len + 1);
    for (guint i = 0; i < len; i++)
      {
        JsonNode *e = json_array_get_element (a, i);
        JsonObject *h = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
        const char *hn = edged_json_string (h, "name"), *hv = edged_json_string (h, "value");
        if (!hn || !*hn || strpbrk (hn, " :\r\n") || (hv && strpbrk (hv, "\r\n")))
          return BAD ("httpGet: a bad header");
        spec->header_names[i] = g_strdup (hn);
        spec->header_values[i] = g_strdup (hv ? hv : "");
      }
  }
  return read_port (container, http, &spec->port, error);
}

/* Reads container.<member> (a probe, or with handler a lifecycle handler,
 * e.g. "postStart" inside lifecycle): *out NULL when absent. */
gboolean
edged_probe_spec_parse (JsonObject *container, const char *member, gboolean handler,
                        EdgedProbeSpec **out, GError **error)
{
  JsonObject *parent = handler ? edged_json_object (container, "lifecycle") : container;
  JsonObject *o = parent ? edged_json_object (parent, member) : NULL;
  g_autoptr (EdgedProbeSpec) spec = NULL;

  *out = NULL;
  if (!o)
    return TRUE;
  spec = g_new0 (EdgedProbeSpec, 1);
  if (!read_action (container, o, spec, error))
    {
      g_prefix_error (error, "%s: ", member);
      return FALSE;
    }
  if (handler && spec->kind == EDGED_HANDLER_GRPC)
    return BAD ("%s: grpc is not a lifecycle handler", member);
  if (!handler
      && (!int_member (o, "initialDelaySeconds", 0, 0, G_MAXINT32, &spec->initial_delay)
          || !int_member (o, "periodSeconds", 10, 1, G_MAXINT32, &spec->period)
          || !int_member (o, "timeoutSeconds", 1, 1, G_MAXINT32, &spec->timeout)
          || !int_member (o, "successThreshold", 1, 1, G_MAXINT32, &spec->success_threshold)
          || !int_member (o, "failureThreshold", 3, 1, G_MAXINT32, &spec->failure_threshold)))
    return BAD ("%s: a bad number (initialDelaySeconds, periodSeconds, timeoutSeconds, "
                "successThreshold or failureThreshold)", member);
  *out = g_steal_pointer (&spec);
  return TRUE;
}
