/* descriptor.c: the one symbol the devicetwin plugin exports. */
#include "dt-plugin.h"

EC_PLUGIN_EXPORT const EcPluginDescriptor ec_plugin_descriptor = {
  EC_PLUGIN_DESCRIPTOR_HEADER,
  .name = "devicetwin",
  .version = EC_VERSION,
  .summary = "devicetwin (twin/twin): device twins over MQTT, synced with the cloud",
  .bus_name = DEVICETWIN_BUS_NAME,
  .bus_group = DEVICETWIN_BUS_GROUP,
  .config_keys = devicetwin_keys,
  .init = devicetwin_init,
  .start = devicetwin_start,
  .stop = devicetwin_stop,
  .free = devicetwin_free,
  .handle_message = devicetwin_handle_message,
};
