/* descriptor.c: the one symbol the metamanager plugin exports. */
#include "mm-plugin.h"

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "metamanager",
  .version = EC_VERSION,
  .summary = "metamanager (metamanager/meta): the node's store of cloud objects in KubeEdge's meta and meta_v2 tables",
  .bus_name = MM_BUS_NAME,
  .bus_group = MM_BUS_GROUP,
  .config_keys = metamanager_keys,
  .init = metamanager_init,
  .start = metamanager_start,
  .stop = metamanager_stop,
  .free = metamanager_free,
  .handle_message = metamanager_handle_message,
};
