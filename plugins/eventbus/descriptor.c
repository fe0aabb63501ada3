/* descriptor.c: the one symbol the eventbus plugin exports. */
#include "eb-plugin.h"

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "eventbus",
  .version = EC_VERSION,
  .summary = "eventbus (eventbus/bus): MQTT bridge between mappers, devicetwin and the cloud",
  .bus_name = EVENTBUS_BUS_NAME,
  .bus_group = EVENTBUS_BUS_GROUP,
  .config_keys = eventbus_keys,
  .init = eventbus_init,
  .start = eventbus_start,
  .stop = eventbus_stop,
  .free = eventbus_free,
  .handle_message = eventbus_handle_message,
};
