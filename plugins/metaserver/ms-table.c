/* ms-table.c: meta.k8s.io Table output, so that `kubectl get` prints the
 * columns the apiserver would: pods, services, configmaps, secrets, nodes,
 * namespaces, and NAME/AGE for everything else. */
#include "ms.h"

#include <string.h>

typedef struct {
  const char *name, *type, *format, *description;
  int priority;
} Column;

static const Column name_col = { "Name", "string", "name", "Name must be unique within a namespace.", 0 };
static const Column age_col = { "Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0 };

static const Column pod_cols[] = {
  { "Name", "string", "name", "Name must be unique within a namespace.", 0 },
  { "Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic.", 0 },
  { "Status", "string", "", "The aggregate status of the containers in this pod.", 0 },
  { "Restarts", "string", "", "The number of times the containers in this pod have been restarted.", 0 },
  { "Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0 },
  { "IP", "string", "", "IP address allocated to the pod.", 1 },
  { "Node", "string", "", "Name of the Node this pod is assigned to.", 1 },
  { "Nominated Node", "string", "", "Nominated node name of the pod.", 1 },
  { "Readiness Gates", "string", "", "Readiness gates of the pod.", 1 },
  { NULL },
};
static const Column svc_cols[] = {
  { "Name", "string", "name", "Name must be unique within a namespace.", 0 },
  { "Type", "string", "", "The type of the service.", 0 },
  { "Cluster-IP", "string", "", "The cluster IP of the service.", 0 },
  { "External-IP", "string", "", "The external IPs of the service.", 0 },
  { "Port(s)", "string", "", "The ports of the service.", 0 },
  { "Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0 },
  { "Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1 },
  { NULL },
};
static const Column cm_cols[] = {
  { "Name", "string", "name", "Name must be unique within a namespace.", 0 },
  { "Data", "integer", "", "Data contains the configuration data.", 0 },
  { "Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0 },
  { NULL },
};
static const Column secret_cols[] = {
  { "Name", "string", "name", "Name must be unique within a namespace.", 0 },
  { "Type", "string", "", "Used to facilitate programmatic handling of secret data.", 0 },
  { "Data", "integer", "", "Data contains the secret data.", 0 },
  { "Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0 },
  { NULL },
};
static const Column node_cols[] = {
  { "Name", "string", "name", "Name must be unique within a namespace.", 0 },
  { "Status", "string", "", "The status of the node", 0 },
  { "Roles", "string", "", "The roles of the node", 0 },
  { "Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0 },
  { "Version", "string", "", "Kubelet Version reported by the node.", 0 },
  { "Internal-IP", "string", "", "List of internal IPs.", 1 },
  { "External-IP", "string", "", "List of external IPs.", 1 },
  { "OS-Image", "string", "", "OS image reported by the node.", 1 },
  { "Kernel-Version", "string", "", "Kernel version reported by the node.", 1 },
  { "Container-Runtime", "string", "", "Container runtime and version reported by the node.", 1 },
  { NULL },
};
static const Column ns_cols[] = {
  { "Name", "string", "name", "Name must be unique within a namespace.", 0 },
  { "Status", "string", "", "The status of the namespace", 0 },
  { "Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0 },
  { NULL },
};

/* k8s.io/apimachinery's duration.HumanDuration. */
char *
ms_human_duration (gint64 s)
{
  gint64 m, h;
  if (s < -1)
    return g_strdup ("<invalid>");
  if (s < 0)
    return g_strdup ("0s");
  if (s < 120)
    return g_strdup_printf ("%" G_GINT64_FORMAT "s", s);
  m = s / 60;
  if (m < 10)
    return s % 60 ? g_strdup_printf ("%" G_GINT64_FORMAT "m%" G_GINT64_FORMAT "s", m, s % 60)
                  : g_strdup_printf ("%" G_GINT64_FORMAT "m", m);
  if (m < 180)
    return g_strdup_printf ("%" G_GINT64_FORMAT "m", m);
  h = s / 3600;
  if (h < 8)
    return m % 60 ? g_strdup_printf ("%" G_GINT64_FORMAT "h%" G_GINT64_FORMAT "m", h, m % 60)
                  : g_strdup_printf ("%" G_GINT64_FORMAT "h", h);
  if (h < 48)
    return g_strdup_printf ("%" G_GINT64_FORMAT "h", h);
  if (h < 24 * 8)
    return h % 24 ? g_strdup_printf ("%" G_GINT64_FORMAT "d%" G_GINT64_FORMAT "h", h / 24, h % 24)
                  : g_strdup_printf ("%" G_GINT64_FORMAT "d", h / 24);
  if (h < 24 * 365 * 2)
    return g_strdup_printf ("%" G_GINT64_FORMAT "d", h / 24);
  if (h < 24 * 365 * 8)
    {
      gint64 dy = (h / 24) % 365;
      return dy ? g_strdup_printf ("%" G_GINT64_FORMAT "y%" G_GINT64_FORMAT "d", h / 24 / 365, dy)
                : g_strdup_printf ("%" G_GINT64_FORMAT "y", h / 24 / 365);
    }
  return g_strdup_printf ("%" G_GINT64_FORMAT "y", h / 24 / 365);
}

static const Column *
columns_for (const char *resource)
{
  if (g_strcmp0 (resource, "pods") == 0)
    return pod_cols;
  if (g_strcmp0 (resource, "services") == 0)
    return svc_cols;
  if (g_strcmp0 (resource, "configmaps") == 0)
    return cm_cols;
  if (g_strcmp0 (resource, "secrets") == 0)
    return secret_cols;
  if (g_strcmp0 (resource, "nodes") == 0)
    return node_cols;
  if (g_strcmp0 (resource, "namespaces") == 0)
    return ns_cols;
  return NULL;
}

static void
append_column (GString *out, const Column *c, gboolean first)
{
  if (!first)
    g_string_append_c (out, ',');
  g_string_append (out, "{\"name\":");
  ec_json_append_string (out, c->name);
  g_string_append (out, ",\"type\":");
  ec_json_append_string (out, c->type);
  g_string_append (out, ",\"format\":");
  ec_json_append_string (out, c->format);
  g_string_append (out, ",\"description\":");
  ec_json_append_string (out, c->description);
  g_string_append_printf (out, ",\"priority\":%d}", c->priority);
}

/* Opens a Table: kind, apiVersion, the columns, and the rows array. */
void
ms_table_begin (GString *out, const char *resource, const char *table_version)
{
  const Column *cols = columns_for (resource);
  g_string_append_printf (out, "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/%s\","
                               "\"columnDefinitions\":[",
                          table_version ? table_version : "v1");
  if (cols)
    for (guint i = 0; cols[i].name; i++)
      append_column (out, &cols[i], i == 0);
  else
    {
      append_column (out, &name_col, TRUE);
      append_column (out, &age_col, FALSE);
    }
  g_string_append (out, "],\"rows\":[");
}

/* Closes a Table with its list metadata. */
void
ms_table_end (GString *out, const char *resource_version, const char *continue_token)
{
  g_string_append (out, "],\"metadata\":{\"resourceVersion\":");
  ec_json_append_string (out, resource_version);
  if (continue_token)
    {
      g_string_append (out, ",\"continue\":");
      ec_json_append_string (out, continue_token);
    }
  g_string_append (out, "}}");
}

/* A nested member: path of object member names, ending with NULL. */
static JsonNode *
dig (JsonObject *obj, ...)
{
  va_list ap;
  const char *name;
  JsonNode *n = NULL;
  va_start (ap, obj);
  while ((name = va_arg (ap, const char *)))
    {
      n = obj ? json_object_get_member (obj, name) : NULL;
      obj = n && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
    }
  va_end (ap);
  return n;
}

static const char *
node_str (JsonNode *n)
{
  return n && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING
         ? json_node_get_string (n) : NULL;
}

static gint64
node_int (JsonNode *n)
{
  return n && JSON_NODE_HOLDS_VALUE (n) ? json_node_get_int (n) : 0;
}

static guint
node_len (JsonNode *n)
{
  if (n && JSON_NODE_HOLDS_OBJECT (n))
    return json_object_get_size (json_node_get_object (n));
  if (n && JSON_NODE_HOLDS_ARRAY (n))
    return json_array_get_length (json_node_get_array (n));
  return 0;
}

static const char *
or_none (const char *s)
{
  return s && *s ? s : "<none>";
}

/* The cells of a pod, after kubectl's printPod. */
static void
pod_cells (JsonObject *o, GPtrArray *cells, gint64 *restarts_out)
{
  JsonObject *status = ms_json_get_object (o, "status");
  JsonObject *spec = ms_json_get_object (o, "spec");
  JsonArray *containers = ms_json_get_array (spec, "containers");
  JsonArray *init_specs = ms_json_get_array (spec, "initContainers");
  JsonArray *inits = ms_json_get_array (status, "initContainerStatuses");
  JsonArray *cstat = ms_json_get_array (status, "containerStatuses");
  const char *phase = ms_json_get_string (status, "phase");
  const char *sreason = ms_json_get_string (status, "reason");
  g_autofree char *reason = g_strdup (sreason && *sreason ? sreason : phase ? phase : "");
  gint64 restarts = 0;
  guint total = containers ? json_array_get_length (containers) : 0, ready = 0;
  gboolean initializing = FALSE;

  for (guint i = 0; inits && i < json_array_get_length (inits); i++)
    {
      JsonObject *c = json_array_get_object_element (inits, i);
      JsonObject *term = ms_json_get_object (ms_json_get_object (c, "state"), "terminated");
      JsonObject *wait = ms_json_get_object (ms_json_get_object (c, "state"), "waiting");
      const char *r;
      restarts += node_int (c ? json_object_get_member (c, "restartCount") : NULL);
      if (term && node_int (json_object_get_member (term, "exitCode")) == 0)
        continue;
      g_free (reason);
      if (term)
        {
          r = ms_json_get_string (term, "reason");
          if (r && *r)
            reason = g_strdup_printf ("Init:%s", r);
          else if (node_int (json_object_get_member (term, "signal")))
            reason = g_strdup_printf ("Init:Signal:%" G_GINT64_FORMAT,
                                      node_int (json_object_get_member (term, "signal")));
          else
            reason = g_strdup_printf ("Init:ExitCode:%" G_GINT64_FORMAT,
                                      node_int (json_object_get_member (term, "exitCode")));
        }
      else if (wait && (r = ms_json_get_string (wait, "reason")) && *r
               && strcmp (r, "PodInitializing") != 0)
        reason = g_strdup_printf ("Init:%s", r);
      else
        reason = g_strdup_printf ("Init:%u/%u", i, init_specs ? json_array_get_length (init_specs) : 0);
      initializing = TRUE;
      break;
    }
  if (!initializing)
    {
      gboolean running = FALSE;
      restarts = 0;
      for (guint i = cstat ? json_array_get_length (cstat) : 0; i-- > 0;)
        {
          JsonObject *c = json_array_get_object_element (cstat, i);
          JsonObject *state = ms_json_get_object (c, "state");
          JsonObject *term = ms_json_get_object (state, "terminated");
          JsonObject *wait = ms_json_get_object (state, "waiting");
          JsonNode *rn = c ? json_object_get_member (c, "ready") : NULL;
          const char *r;
          restarts += node_int (c ? json_object_get_member (c, "restartCount") : NULL);
          if (wait && (r = ms_json_get_string (wait, "reason")) && *r)
            {
              g_free (reason);
              reason = g_strdup (r);
            }
          else if (term && (r = ms_json_get_string (term, "reason")) && *r)
            {
              g_free (reason);
              reason = g_strdup (r);
            }
          else if (term)
            {
              gint64 sig = node_int (json_object_get_member (term, "signal"));
              g_free (reason);
              reason = sig ? g_strdup_printf ("Signal:%" G_GINT64_FORMAT, sig)
                           : g_strdup_printf ("ExitCode:%" G_GINT64_FORMAT,
                                              node_int (json_object_get_member (term, "exitCode")));
            }
          else if (rn && JSON_NODE_HOLDS_VALUE (rn) && json_node_get_boolean (rn)
                   && ms_json_get_object (state, "running"))
            {
              running = TRUE;
              ready++;
            }
        }
      if (strcmp (reason, "Completed") == 0 && running)
        {
          g_free (reason);
          reason = g_strdup (ready == total ? "Running" : "NotReady");
        }
    }
  if (dig (o, "metadata", "deletionTimestamp", NULL))
    {
      g_free (reason);
      reason = g_strdup (g_strcmp0 (sreason, "NodeLost") == 0 ? "Unknown" : "Terminating");
    }
  g_ptr_array_add (cells, g_strdup_printf ("%u/%u", ready, total));
  g_ptr_array_add (cells, g_steal_pointer (&reason));
  *restarts_out = restarts;
}

/* "80/TCP,443:30443/TCP". */
static char *
service_ports (JsonArray *ports)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; ports && i < json_array_get_length (ports); i++)
    {
      JsonObject *p = json_array_get_object_element (ports, i);
      const char *proto = ms_json_get_string (p, "protocol");
      gint64 node_port = node_int (p ? json_object_get_member (p, "nodePort") : NULL);
      if (s->len)
        g_string_append_c (s, ',');
      g_string_append_printf (s, "%" G_GINT64_FORMAT, node_int (p ? json_object_get_member (p, "port") : NULL));
      if (node_port)
        g_string_append_printf (s, ":%" G_GINT64_FORMAT, node_port);
      g_string_append_printf (s, "/%s", proto ? proto : "TCP");
    }
  if (!s->len)
    g_string_append (s, "<none>");
  return g_string_free (s, FALSE);
}

/* Joins an array of strings, or "" */
static char *
join_strings (JsonArray *a, const char *sep)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; a && i < json_array_get_length (a); i++)
    {
      const char *v = node_str (json_array_get_element (a, i));
      if (!v)
        continue;
      if (s->len)
        g_string_append (s, sep);
      g_string_append (s, v);
    }
  return g_string_free (s, FALSE);
}

static gint
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* "a=b,c=d" of a string map, sorted by key; "" when empty. */
static char *
join_map (JsonObject *m)
{
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_free);
  JsonObjectIter it;
  const char *k;
  JsonNode *v;
  if (m)
    {
      json_object_iter_init (&it, m);
      while (json_object_iter_next (&it, &k, &v))
        g_ptr_array_add (items, g_strdup_printf ("%s=%s", k, node_str (v) ? node_str (v) : ""));
    }
  g_ptr_array_sort (items, cmp_str);
  g_ptr_array_add (items, NULL);
  return g_strjoinv (",", (char **) items->pdata);
}

static void
service_cells (JsonObject *o, GPtrArray *cells)
{
  JsonObject *spec = ms_json_get_object (o, "spec");
  const char *type = ms_json_get_string (spec, "type");
  g_autofree char *ext = join_strings (ms_json_get_array (spec, "externalIPs"), ",");
  g_autofree char *external = NULL;

  if (!type)
    type = "ClusterIP";
  if (strcmp (type, "ExternalName") == 0)
    external = g_strdup (or_none (ms_json_get_string (spec, "externalName")));
  else if (strcmp (type, "LoadBalancer") == 0)
    {
      JsonArray *ing = ms_json_get_array (ms_json_get_object (ms_json_get_object (o, "status"),
                                                              "loadBalancer"), "ingress");
      GString *s = g_string_new (NULL);
      for (guint i = 0; ing && i < json_array_get_length (ing); i++)
        {
          JsonObject *e = json_array_get_object_element (ing, i);
          const char *v = ms_json_get_string (e, "ip");
          if (!v)
            v = ms_json_get_string (e, "hostname");
          if (!v)
            continue;
          if (s->len)
            g_string_append_c (s, ',');
          g_string_append (s, v);
        }
      if (*ext)
        g_string_append_printf (s, "%s%s", s->len ? "," : "", ext);
      if (!s->len)
        g_string_append (s, "<pending>");
      external = g_string_free (s, FALSE);
    }
  else
    external = g_strdup (or_none (ext));
  g_ptr_array_add (cells, g_strdup (type));
  g_ptr_array_add (cells, g_strdup (or_none (ms_json_get_string (spec, "clusterIP"))));
  g_ptr_array_add (cells, g_steal_pointer (&external));
  g_ptr_array_add (cells, service_ports (ms_json_get_array (spec, "ports")));
}

static void
node_cells (JsonObject *o, GPtrArray *cells, GPtrArray *wide)
{
  JsonObject *status = ms_json_get_object (o, "status");
  JsonArray *conds = ms_json_get_array (status, "conditions");
  JsonObject *labels = ms_json_get_object (ms_json_get_object (o, "metadata"), "labels");
  JsonObject *info = ms_json_get_object (status, "nodeInfo");
  JsonArray *addrs = ms_json_get_array (status, "addresses");
  const char *state = "Unknown";
  g_autoptr (GPtrArray) roles = g_ptr_array_new_with_free_func (g_free);
  const char *internal = NULL, *external = NULL;
  JsonNode *unsched = dig (o, "spec", "unschedulable", NULL);

  for (guint i = 0; conds && i < json_array_get_length (conds); i++)
    {
      JsonObject *c = json_array_get_object_element (conds, i);
      if (g_strcmp0 (ms_json_get_string (c, "type"), "Ready") != 0)
        continue;
      const char *st = ms_json_get_string (c, "status");
      state = g_strcmp0 (st, "True") == 0 ? "Ready" : g_strcmp0 (st, "False") == 0 ? "NotReady" : "Unknown";
    }
  if (labels)
    {
      JsonObjectIter it;
      const char *k;
      JsonNode *v;
      json_object_iter_init (&it, labels);
      while (json_object_iter_next (&it, &k, &v))
        if (g_str_has_prefix (k, "node-role.kubernetes.io/") && k[24])
          g_ptr_array_add (roles, g_strdup (k + 24));
        else if (strcmp (k, "kubernetes.io/role") == 0 && node_str (v) && *node_str (v))
          g_ptr_array_add (roles, g_strdup (node_str (v)));
    }
  g_ptr_array_sort (roles, cmp_str);
  g_ptr_array_add (roles, NULL);
  for (guint i = 0; addrs && i < json_array_get_length (addrs); i++)
    {
      JsonObject *a = json_array_get_object_element (addrs, i);
      const char *t = ms_json_get_string (a, "type");
      if (g_strcmp0 (t, "InternalIP") == 0 && !internal)
        internal = ms_json_get_string (a, "address");
      else if (g_strcmp0 (t, "ExternalIP") == 0 && !external)
        external = ms_json_get_string (a, "address");
    }
  g_ptr_array_add (cells, unsched && JSON_NODE_HOLDS_VALUE (unsched) && json_node_get_boolean (unsched)
                          ? g_strdup_printf ("%s,SchedulingDisabled", state) : g_strdup (state));
  g_ptr_array_add (cells, roles->len > 1 ? g_strjoinv (",", (char **) roles->pdata) : g_strdup ("<none>"));
  g_ptr_array_add (wide, g_strdup (or_none (ms_json_get_string (info, "kubeletVersion"))));
  g_ptr_array_add (wide, g_strdup (or_none (internal)));
  g_ptr_array_add (wide, g_strdup (or_none (external)));
  g_ptr_array_add (wide, g_strdup (or_none (ms_json_get_string (info, "osImage"))));
  g_ptr_array_add (wide, g_strdup (or_none (ms_json_get_string (info, "kernelVersion"))));
  g_ptr_array_add (wide, g_strdup (or_none (ms_json_get_string (info, "containerRuntimeVersion"))));
}

static void
append_cells (GString *out, GPtrArray *cells)
{
  for (guint i = 0; i < cells->len; i++)
    {
      g_string_append_c (out, ',');
      ec_json_append_string (out, cells->pdata[i]);
    }
}

/* The age cell of an object. */
static char *
age_of (JsonObject *o, gint64 now)
{
  const char *ts = ms_json_get_string (ms_json_get_object (o, "metadata"), "creationTimestamp");
  g_autoptr (GDateTime) dt = ts ? g_date_time_new_from_iso8601 (ts, NULL) : NULL;
  if (!dt)
    return g_strdup ("<unknown>");
  return ms_human_duration (now - g_date_time_to_unix (dt));
}

/* Appends one row: the cells of the object and, as asked, its metadata or
 * the whole object. */
void
ms_table_add_row (GString *out, gboolean first, const char *resource, JsonNode *object,
                  MsIncludeObject include, gint64 now)
{
  JsonObject *o = JSON_NODE_HOLDS_OBJECT (object) ? json_node_get_object (object) : NULL;
  JsonObject *meta = ms_json_get_object (o, "metadata");
  g_autofree char *age = age_of (o, now);
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) wide = g_ptr_array_new_with_free_func (g_free);

  if (!first)
    g_string_append_c (out, ',');
  g_string_append (out, "{\"cells\":[");
  ec_json_append_string (out, ms_json_get_string (meta, "name"));
  if (g_strcmp0 (resource, "pods") == 0)
    {
      gint64 restarts = 0;
      JsonObject *status = ms_json_get_object (o, "status");
      JsonObject *spec = ms_json_get_object (o, "spec");
      JsonArray *gates = ms_json_get_array (spec, "readinessGates");
      pod_cells (o, cells, &restarts);
      g_ptr_array_add (cells, g_strdup_printf ("%" G_GINT64_FORMAT, restarts));
      g_ptr_array_add (cells, g_strdup (age));
      g_ptr_array_add (cells, g_strdup (or_none (ms_json_get_string (status, "podIP"))));
      g_ptr_array_add (cells, g_strdup (or_none (ms_json_get_string (spec, "nodeName"))));
      g_ptr_array_add (cells, g_strdup (or_none (ms_json_get_string (status, "nominatedNodeName"))));
      g_ptr_array_add (cells, gates && json_array_get_length (gates)
                              ? g_strdup_printf ("0/%u", json_array_get_length (gates))
                              : g_strdup ("<none>"));
      append_cells (out, cells);
    }
  else if (g_strcmp0 (resource, "services") == 0)
    {
      g_autofree char *sel = join_map (ms_json_get_object (ms_json_get_object (o, "spec"), "selector"));
      service_cells (o, cells);
      g_ptr_array_add (cells, g_strdup (age));
      g_ptr_array_add (cells, g_strdup (or_none (sel)));
      append_cells (out, cells);
    }
  else if (g_strcmp0 (resource, "configmaps") == 0 || g_strcmp0 (resource, "secrets") == 0)
    {
      guint n = node_len (o ? json_object_get_member (o, "data") : NULL)
                + node_len (o ? json_object_get_member (o, "binaryData") : NULL);
      if (g_strcmp0 (resource, "secrets") == 0)
        {
          g_string_append_c (out, ',');
          ec_json_append_string (out, or_none (ms_json_get_string (o, "type")));
        }
      g_string_append_printf (out, ",%u,", n);
      ec_json_append_string (out, age);
    }
  else if (g_strcmp0 (resource, "nodes") == 0)
    {
      node_cells (o, cells, wide);
      g_ptr_array_add (cells, g_strdup (age));
      g_ptr_array_add (cells, g_strdup (wide->pdata[0]));
      for (guint i = 1; i < wide->len; i++)
        g_ptr_array_add (cells, g_strdup (wide->pdata[i]));
      append_cells (out, cells);
    }
  else if (g_strcmp0 (resource, "namespaces") == 0)
    {
      const char *phase = ms_json_get_string (ms_json_get_object (o, "status"), "phase");
      g_string_append_c (out, ',');
      ec_json_append_string (out, phase ? phase : "Active");
      g_string_append_c (out, ',');
      ec_json_append_string (out, age);
    }
  else
    {
      g_string_append_c (out, ',');
      ec_json_append_string (out, age);
    }
  g_string_append (out, "]");
  if (include == MS_INCLUDE_OBJECT)
    {
      g_autofree char *text = ms_json_to_string (object);
      g_string_append (out, ",\"object\":");
      g_string_append (out, text);
    }
  else if (include == MS_INCLUDE_METADATA)
    {
      JsonNode *mn = o ? json_object_get_member (o, "metadata") : NULL;
      g_autofree char *text = mn ? ms_json_to_string (mn) : g_strdup ("{}");
      g_string_append (out, ",\"object\":{\"kind\":\"PartialObjectMetadata\","
                            "\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":");
      g_string_append (out, text);
      g_string_append_c (out, '}');
    }
  g_string_append_c (out, '}');
}
