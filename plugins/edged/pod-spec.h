/* pod-spec.h: the parts of a v1.Pod edged runs today, read from the
 * cloud's JSON and checked. */
#pragma once

#include <json-glib/json-glib.h>

#include "probe.h"

G_BEGIN_DECLS

/* Largest pod JSON edged reads, and deepest nesting. */
#define EDGED_POD_MAX_BYTES (1024 * 1024)
#define EDGED_POD_MAX_DEPTH 32

/* securityContext, merged pod over container as kubelet does (pod-security.c) */
typedef struct {
  gboolean has_run_as_user;
  gint64   run_as_user;
  gboolean has_run_as_group;
  gint64   run_as_group;
  gboolean run_as_non_root;
  gboolean privileged;
  gboolean readonly_rootfs;
  gboolean has_allow_escalation;
  gboolean allow_escalation;
  char   **cap_add;
  char   **cap_drop;
} EdgedSecuritySpec;

/* one of a container's ports (pod-network.c); protocol: 0 TCP, 1 UDP, 2 SCTP */
typedef struct {
  int     protocol;
  gint32  container_port;
  gint32  host_port;
  char   *host_ip;
} EdgedPortSpec;

typedef struct {
  char  *name;
  char  *image;
  char  *pull_policy;     /* Always, IfNotPresent, Never */
  char **command;
  char **args;
  char **env_names;
  char **env_values;
  char  *working_dir;
  /* ---- ctr: security, resources, ports, spec hash ---- */
  EdgedSecuritySpec security;   /* effective (pod merged in) */
  gint64         cpu_request;   /* milli-CPU; -1 absent */
  gint64         cpu_limit;
  gint64         mem_request;   /* bytes; -1 absent */
  gint64         mem_limit;
  EdgedPortSpec *ports;
  guint          n_ports;
  char          *hash;          /* of the container's JSON: a change restarts it */
  /* probe-spec.c */
  EdgedProbeSpec *probes[EDGED_N_PROBES];   /* liveness, readiness, startup */
  EdgedProbeSpec *post_start;
  EdgedProbeSpec *pre_stop;
} EdgedContainerSpec;

typedef struct {
  char               *namespace;
  char               *name;
  char               *uid;
  char               *node_name;
  char               *restart_policy;
  gboolean            host_network;
  gboolean            deleting;      /* metadata.deletionTimestamp set */
  gboolean            has_resources; /* any container requests or limits */
  gint64              grace_seconds;
  char              **label_keys;
  char              **label_values;
  EdgedContainerSpec *containers;   /* the n_init init containers first */
  guint               n_containers;
  /* ---- ctr ---- */
  guint               n_init;
  EdgedSecuritySpec   pod_security;      /* spec.securityContext's container fields */
  gint64             *supplemental_groups;
  guint               n_supplemental_groups;
  gboolean            has_fs_group;
  gint64              fs_group;
  const char         *qos;               /* Guaranteed, Burstable, BestEffort */
  /* vol: the whole v1.Pod, for volumes, env valueFrom/envFrom and
   * imagePullSecrets (pod-volumes.c, pod-env.c, pull-secrets.c) */
  JsonNode           *object;
} EdgedPodSpec;

EdgedPodSpec *edged_pod_spec_parse (const char *json, gsize length, GError **error);
void          edged_pod_spec_free  (EdgedPodSpec *spec);
const char   *edged_json_string    (JsonObject *o, const char *name);
JsonObject   *edged_json_object    (JsonObject *o, const char *name);

/* pod-security.c */
gboolean edged_pod_security_parse       (JsonObject *pod_spec, EdgedPodSpec *spec, GError **error);
gboolean edged_container_security_parse (JsonObject *container, const EdgedPodSpec *spec,
                                         EdgedSecuritySpec *out, GError **error);
void     edged_security_spec_clear      (EdgedSecuritySpec *s);

/* pod-resources.c */
gboolean    edged_container_resources_parse (JsonObject *container, EdgedContainerSpec *out,
                                             GError **error);
const char *edged_pod_qos_class             (const EdgedPodSpec *spec);

/* pod-network.c */
gboolean edged_container_ports_parse (JsonObject *container, EdgedContainerSpec *out,
                                      GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EdgedPodSpec, edged_pod_spec_free)

G_END_DECLS
