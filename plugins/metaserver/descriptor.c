/* descriptor.c: the one symbol the metaserver plugin exports. */
#include "ms-plugin.h"

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "metaserver",
  .version = EC_VERSION,
  .summary = "metaserver (metaserver/metaserver): local Kubernetes API (get, list, watch, tables, discovery) from meta_v2; writes go to the cloud",
  .bus_name = METASERVER_BUS_NAME,
  .bus_group = METASERVER_BUS_GROUP,
  .requires = metaserver_requires,
  .config_keys = metaserver_keys,
  .init = metaserver_init,
  .start = metaserver_start,
  .stop = metaserver_stop,
  .free = metaserver_free,
  .handle_message = metaserver_handle_message,
};
