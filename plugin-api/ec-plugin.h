/* ec-plugin.h: the plugin descriptor, the one symbol a plugin exports. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-context.h>

G_BEGIN_DECLS

/**
 * EcConfigType:
 * @EC_CONFIG_STRING: a string
 * @EC_CONFIG_INT: a 64-bit integer
 * @EC_CONFIG_BOOL: `true` or `false`
 * @EC_CONFIG_DOUBLE: a floating point number
 * @EC_CONFIG_STRING_LIST: a `;`-separated list of strings
 *
 * Type of a config key, checked by the host before init.
 */
typedef enum {
  EC_CONFIG_STRING,
  EC_CONFIG_INT,
  EC_CONFIG_BOOL,
  EC_CONFIG_DOUBLE,
  EC_CONFIG_STRING_LIST,
} EcConfigType;

/**
 * EcConfigFlags:
 * @EC_CONFIG_FLAG_NONE: none
 * @EC_CONFIG_FLAG_REQUIRED: the key must be set when the plugin is enabled
 *
 * Flags of a config key.
 */
typedef enum {
  EC_CONFIG_FLAG_NONE = 0,
  EC_CONFIG_FLAG_REQUIRED = 1 << 0,
} EcConfigFlags;

/**
 * EcConfigKey:
 * @type: the value's type
 * @flags: #EcConfigFlags
 * @name: the key, kebab-case of the edgecore.yaml key
 * @default_value: (nullable): the default, as it would be written in conf.d
 * @description: one line for `--dump-config` and the docs
 *
 * One key of a plugin's config section. A plugin lists its keys in an array
 * ended by an element whose @name is %NULL. The element size travels in
 * #EcPluginDescriptor.config_key_size, so this struct may grow at its end.
 */
typedef struct {
  EcConfigType  type;
  EcConfigFlags flags;
  const char   *name;
  const char   *default_value;
  const char   *description;
} EcConfigKey;

/**
 * EcPluginDescriptor:
 * @abi_major: %EC_PLUGIN_ABI_MAJOR the plugin was built against
 * @abi_minor: %EC_PLUGIN_ABI_MINOR the plugin was built against
 * @struct_size: sizeof (EcPluginDescriptor) at build time
 * @config_key_size: sizeof (EcConfigKey) at build time
 * @name: plugin name, also the name of its conf.d section
 * @version: the plugin's own version
 * @summary: one line saying what it does
 * @bus_name: module name on the bus (KubeEdge's, e.g. `websocket`)
 * @bus_group: group on the bus (KubeEdge's, e.g. `hub`)
 * @requires: (nullable): %NULL-terminated names of plugins it needs
 * @config_keys: (nullable): its config keys, ended by a %NULL name
 * @init: creates the plugin's state; gets its context (config and endpoint)
 * @start: starts work; called in dependency order
 * @stop: stops work; called in reverse order, bounded in time by the host
 * @free: frees the state
 * @handle_message: receives a message sent to the plugin, on the main loop
 * @min_host_abi_minor: the oldest host ABI minor the plugin runs on, when
 *   lower than @abi_minor: such a host loads it, and the plugin asks
 *   ec_plugin_context_get_host_abi_minor() before using anything newer.
 *   0 means @abi_minor: a host older than that refuses the plugin. Added
 *   in ABI 1.1.
 *
 * What a plugin exports under the name %EC_PLUGIN_DESCRIPTOR_SYMBOL. Begin
 * it with %EC_PLUGIN_DESCRIPTOR_HEADER. The rules that keep it compatible
 * are in docs/plugin-abi.md: fields are only ever added at the end, and the
 * host reads a field only when @struct_size covers it.
 */
typedef struct _EcPluginDescriptor EcPluginDescriptor;
struct _EcPluginDescriptor {
  guint32            abi_major;
  guint32            abi_minor;
  guint32            struct_size;
  guint32            config_key_size;

  const char        *name;
  const char        *version;
  const char        *summary;
  const char        *bus_name;
  const char        *bus_group;
  const char *const *requires;
  const EcConfigKey *config_keys;

  gboolean (*init)           (EcPluginContext *context,
                              gpointer        *state,
                              GError         **error);
  gboolean (*start)          (gpointer         state,
                              GError         **error);
  void     (*stop)           (gpointer         state);
  void     (*free)           (gpointer         state);
  void     (*handle_message) (gpointer         state,
                              EcMessage       *message);

  /* ABI 1.1 */
  guint32            min_host_abi_minor;
};

/**
 * EC_PLUGIN_DESCRIPTOR_SYMBOL:
 *
 * The name of the one symbol a plugin exports.
 */
#define EC_PLUGIN_DESCRIPTOR_SYMBOL "ec_plugin_descriptor"

/**
 * EC_PLUGIN_DESCRIPTOR_HEADER:
 *
 * Fills the version and size fields of an #EcPluginDescriptor.
 */
#define EC_PLUGIN_DESCRIPTOR_HEADER                 \
  .abi_major = EC_PLUGIN_ABI_MAJOR,                 \
  .abi_minor = EC_PLUGIN_ABI_MINOR,                 \
  .struct_size = sizeof (EcPluginDescriptor),       \
  .config_key_size = sizeof (EcConfigKey)

/**
 * EC_PLUGIN_EXPORT:
 *
 * Marks the descriptor as the plugin's exported symbol.
 */
#define EC_PLUGIN_EXPORT __attribute__((visibility ("default")))

G_END_DECLS
