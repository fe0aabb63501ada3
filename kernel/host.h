/* host.h: the plugin host: config, plugins, bus and their lifecycle. */
#pragma once

#include "bus.h"
#include "confd.h"
#include "plugin-loader.h"

G_BEGIN_DECLS

typedef struct _EcHost EcHost;

EcHost     *ec_host_new             (const char *const *extra_config_dirs,
                                     const char *const *cli_plugin_dirs);
void        ec_host_free            (EcHost *host);
EcConfig   *ec_host_get_config      (EcHost *host);
void        ec_host_report_diags    (EcHost *host, gboolean to_stderr);
char       *ec_host_describe_plugins (EcHost *host);
int         ec_host_run             (EcHost *host);
void        ec_host_quit            (EcHost *host);
EcBus      *ec_host_get_bus         (EcHost *host);
char       *ec_host_get_core_string (EcHost *host, const char *key);

G_END_DECLS
