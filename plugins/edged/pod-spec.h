/* pod-spec.h: the parts of a v1.Pod edged runs today, read from the
 * cloud's JSON and checked. */
#pragma once

#include <json-glib/json-glib.h>

#include "probe.h"

G_BEGIN_DECLS

/* Largest pod JSON edged reads, and deepest nesting. */
#define EDGED_POD_MAX_BYTES (1024 * 1024)
#define EDGED_POD_MAX_DEPTH 32

typedef struct {
  char  *name;
  char  *image;
  char  *pull_policy;     /* Always, IfNotPresent, Never */
  char **command;
  char **args;
  char **env_names;
  char **env_values;
  char  *working_dir;
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
  EdgedContainerSpec *containers;
  guint               n_containers;
} EdgedPodSpec;

EdgedPodSpec *edged_pod_spec_parse (const char *json, gsize length, GError **error);
void          edged_pod_spec_free  (EdgedPodSpec *spec);
const char   *edged_json_string    (JsonObject *o, const char *name);
JsonObject   *edged_json_object    (JsonObject *o, const char *name);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EdgedPodSpec, edged_pod_spec_free)

G_END_DECLS
