/* ec-lib-private.h: the layouts of the opaque structs the library builds for
 * the host (EcEndpoint, EcPluginContext). Inside libedgecore only: neither
 * the host nor plugins see this directory, so no program outside the
 * library can compile in a layout that a newer library changes. */
#pragma once

#include "edgecore.h"
#include "ec-host-api.h"

G_BEGIN_DECLS

struct _EcEndpoint {
  const EcEndpointOps *ops;
  gpointer             host_data;   /* the bus's member */
  char                *name;
  char                *group;
  GPtrArray           *metrics;     /* EcMetric*, owned (ec-metric.c); guarded by its lock */
};

struct _EcPluginContext {
  EcEndpoint        *endpoint;    /* not owned: the bus member owns it */
  char              *name;        /* plugin and section name */
  char              *log_domain;
  char              *node_name;
  char              *data_dir;
  GKeyFile          *config;      /* effective config, defaults filled in */
  EcConfigKey       *keys;        /* the plugin's keys, own copy */
  guint              n_keys;
  GLogLevelFlags     log_threshold; /* levels above this are not logged */
  EcStore          **store;       /* the host's shared store, opened on demand */
  char              *store_path;  /* [database] data-source */
  guint              host_abi_minor; /* the ABI minor the host implements */
  GCancellable      *cancellable; /* cancelled once the plugin has stopped */
};

/* Frees an endpoint's metrics (ec-metric.c). */
void _ec_metrics_free (GPtrArray *metrics);

/* Runs func from context's main loop later, never in the calling thread. */
void _ec_invoke_later (GMainContext *context, GSourceFunc func, gpointer data);

G_END_DECLS
