/* dt-topic.c: the device id and suffix of a mapper event's MQTT topic
 * (the topic itself comes from the bus resource through
 * ec_mqtt_topic_from_resource()). */
#include "dt-types.h"

#include <string.h>

/* Splits a device topic into id and suffix. Accepts HEAD's <ns>/<name>
 * and v1.9.2's single-level ids. The id is cut out of topic in place
 * (topic is the caller's scratch copy). */
const char *
dt_device_suffix (char *topic, const char **id)
{
  static const char *const suffixes[] = {
    "/twin/update", "/twin/get", "/twin/cloud_updated", "/state/update", NULL,
  };
  char *rest = topic + strlen ("$hw/events/device/");
  gsize len = strlen (rest);

  for (guint i = 0; suffixes[i]; i++)
    {
      gsize sl = strlen (suffixes[i]);
      if (len >= sl && strcmp (rest + len - sl, suffixes[i]) == 0)
        {
          rest[len - sl] = '\0';
          *id = rest;
          return suffixes[i];
        }
    }
  return NULL;
}

/* Whether an id has one or two non-empty levels. */
gboolean
dt_id_well_formed (const char *id)
{
  const char *slash = strchr (id, '/');
  if (!*id || id[0] == '/')
    return FALSE;
  if (!slash)
    return TRUE;
  return slash[1] && !strchr (slash + 1, '/');
}
