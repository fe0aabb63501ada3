/* plugin-loader.h: finding plugin .so files and checking their descriptors. */
#pragma once

#include "ec-host-api.h"

G_BEGIN_DECLS

typedef enum {
  EC_PLUGIN_ACCEPTED,   /* loadable; whether it runs depends on conf.d */
  EC_PLUGIN_REJECTED,   /* broken: wrong ABI, no descriptor, bad fields */
  EC_PLUGIN_SHADOWED,   /* another plugin of the same name took precedence */
} EcPluginVerdict;

typedef struct {
  char              *path;
  char              *name;          /* from the descriptor, or the file name */
  EcPluginVerdict    verdict;
  char              *version;       /* copies: the module may be closed */
  char              *summary;
  char              *reason;        /* why rejected or shadowed */
  GModule           *module;        /* open while accepted */
  EcPluginDescriptor desc;          /* host copy, zero beyond struct_size */
  guint32            abi_major;
  guint32            abi_minor;
  EcConfigKey       *keys;          /* host copy of the declared keys */
  guint              n_keys;
} EcPluginInfo;

GPtrArray *ec_plugin_scan      (const char *const *dirs);
void       ec_plugin_info_free (EcPluginInfo *info);
gboolean   ec_plugin_check_keys (const EcConfigKey *keys, guint n_keys, char **reason);

G_END_DECLS
