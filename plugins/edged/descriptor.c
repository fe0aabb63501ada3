/* descriptor.c: the one symbol the edged plugin exports. */
#include "edged-plugin.h"

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "edged",
  .version = EC_VERSION,
  .summary = "edged (edged/edged): node agent — CRI v1 runtime health, node registration and status, basic pods",
  .bus_name = EDGED_BUS_NAME,
  .bus_group = EDGED_BUS_GROUP,
  .config_keys = edged_keys,
  .init = edged_init,
  .free = edged_free,
  .handle_message = edged_handle_message,
  .min_host_abi_minor = 2,  /* /metrics reads ec_endpoint_get_bus_stats() */
};
