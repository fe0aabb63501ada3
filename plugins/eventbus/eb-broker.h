/* eb-broker.h: the internal MQTT broker, a supervised mosquitto process. */
#pragma once

#include <edgecore.h>

typedef struct _EbBroker EbBroker;

EbBroker *eb_broker_new   (EcPluginContext *context,
                           const char      *host,
                           int              port,
                           guint            queue_size,
                           GError         **error);
void      eb_broker_start (EbBroker *broker);
void      eb_broker_free  (EbBroker *broker);
