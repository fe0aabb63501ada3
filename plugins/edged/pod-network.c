/* pod-network.c: a pod's ports (containerPort, hostPort, protocol, hostIP)
 * as the sandbox's CRI PortMappings, and the pod's IPs as the runtime's
 * network (its CNI) gave them, from PodSandboxStatus. */
#include "pod.h"
#include "pod-network.h"

#include <gio/gio.h>
#include <string.h>

#define BAD(...) (g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, __VA_ARGS__), FALSE)
#define MAX_PORTS 256

static gboolean
port_member (JsonObject *o, const char *name, gint64 min, gint32 *out)
{
  JsonNode *n = json_object_get_member (o, name);
  if (!n || JSON_NODE_HOLDS_NULL (n))
    return min == 0 ? (*out = 0, TRUE) : FALSE;
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
      || json_node_get_int (n) < min || json_node_get_int (n) > 65535)
    return FALSE;
  *out = (gint32) json_node_get_int (n);
  return TRUE;
}

/* Reads container.ports into out. */
gboolean
edged_container_ports_parse (JsonObject *container, EdgedContainerSpec *out, GError **error)
{
  JsonNode *n = json_object_get_member (container, "ports");
  const char *cname = edged_json_string (container, "name");
  JsonArray *a;
  guint len;

  if (!n || JSON_NODE_HOLDS_NULL (n))
    return TRUE;
  a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
  len = a ? json_array_get_length (a) : 0;
  if (!a || len > MAX_PORTS)
    return BAD ("container %s: ports must be a list of at most %d ports", cname, MAX_PORTS);
  out->ports = g_new0 (EdgedPortSpec, len);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      JsonObject *p = JSON_NODE_HOLDS_OBJECT (e) ? json_node_get_object (e) : NULL;
      EdgedPortSpec *ps = &out->ports[out->n_ports];
      const char *proto = edged_json_string (p, "protocol");
      const char *host_ip = edged_json_string (p, "hostIP");
      if (!p || !port_member (p, "containerPort", 1, &ps->container_port))
        return BAD ("container %s: ports[%u].containerPort must be from 1 to 65535", cname, i);
      if (!port_member (p, "hostPort", 0, &ps->host_port))
        return BAD ("container %s: ports[%u].hostPort must be from 0 to 65535", cname, i);
      if (!proto || !strcmp (proto, "TCP"))
        ps->protocol = 0;
      else if (!strcmp (proto, "UDP"))
        ps->protocol = 1;
      else if (!strcmp (proto, "SCTP"))
        ps->protocol = 2;
      else
        return BAD ("container %s: ports[%u]: unknown protocol \"%.16s\"", cname, i, proto);
      if (host_ip && *host_ip && !g_hostname_is_ip_address (host_ip))
        return BAD ("container %s: ports[%u].hostIP \"%.64s\" is not an IP address", cname, i, host_ip);
      ps->host_ip = g_strdup (host_ip && *host_ip ? host_ip : NULL);
      out->n_ports++;
    }
  return TRUE;
}

/* Fills config's port_mappings from every container's ports (kubelet's
 * MakePortMappings); store holds them until edged_ports_store_clear(). */
void
edged_ports_fill (const EdgedPodSpec *spec, Runtime__V1__PodSandboxConfig *config,
                  EdgedPortsStore *store)
{
  guint n = 0, k = 0;
  for (guint i = 0; i < spec->n_containers; i++)
    n += spec->containers[i].n_ports;
  store->maps = g_new0 (Runtime__V1__PortMapping, n + 1);
  store->ptrs = g_new0 (Runtime__V1__PortMapping *, n + 1);
  for (guint i = 0; i < spec->n_containers; i++)
    for (guint j = 0; j < spec->containers[i].n_ports; j++)
      {
        const EdgedPortSpec *ps = &spec->containers[i].ports[j];
        Runtime__V1__PortMapping *m = &store->maps[k];
        runtime__v1__port_mapping__init (m);
        m->protocol = (Runtime__V1__Protocol) ps->protocol;
        m->container_port = ps->container_port;
        m->host_port = ps->host_port;
        m->host_ip = ps->host_ip ? ps->host_ip : (char *) "";
        store->ptrs[k++] = m;
      }
  config->port_mappings = store->ptrs;
  config->n_port_mappings = k;
}

/* Frees what edged_ports_fill() allocated. */
void
edged_ports_store_clear (EdgedPortsStore *store)
{
  g_clear_pointer (&store->maps, g_free);
  g_clear_pointer (&store->ptrs, g_free);
}

static void
on_sandbox_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  EdgedPod *pod = data;
  Runtime__V1__PodSandboxStatusResponse *r = (Runtime__V1__PodSandboxStatusResponse *) response;

  if (error)
    ec_log_warning (pod->edged->context, "pod %s/%s: PodSandboxStatus failed: %s (no pod IP)",
                    pod->spec->namespace, pod->spec->name, error->message);
  else if (r->status && r->status->network && r->status->network->ip && *r->status->network->ip)
    {
      Runtime__V1__PodSandboxNetworkStatus *net = r->status->network;
      GPtrArray *ips = g_ptr_array_new ();
      g_ptr_array_add (ips, g_strdup (net->ip));
      for (gsize i = 0; i < net->n_additional_ips && i < 8; i++)
        if (net->additional_ips[i]->ip && *net->additional_ips[i]->ip)
          g_ptr_array_add (ips, g_strdup (net->additional_ips[i]->ip));
      g_ptr_array_add (ips, NULL);
      g_strfreev (pod->pod_ips);
      pod->pod_ips = (char **) g_ptr_array_free (ips, FALSE);
    }
  if (r)
    protobuf_c_message_free_unpacked (response, NULL);
  if (pod->network_quiet)
    {
      pod->network_quiet = FALSE;
      edged_pod_step_done_quiet (pod);
    }
  else
    edged_pod_step_done (pod);
}

/* The pod's IPs from PodSandboxStatus (not for host-network pods, whose IP
 * is the node's); the pod's step ends when the answer is in. */
void
edged_pod_network_query (EdgedPod *pod)
{
  Runtime__V1__PodSandboxStatusRequest req = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
  req.pod_sandbox_id = pod->sandbox_id;
  edged_cri_invoke (pod->edged->runtime, &edged_cri_pod_sandbox_status, &req.base,
                    (guint) pod->edged->request_timeout_ms, on_sandbox_status, pod, NULL);
}
