/* bus.h: the in-process message bus (KubeEdge beehive semantics). */
#pragma once

#include "ec-host-api.h"

G_BEGIN_DECLS

typedef struct _EcBus EcBus;

/* How a member receives its messages, on the main loop. */
typedef void (*EcBusHandler) (gpointer handler_data, EcMessage *message);

/* Counters of one member, for introspection. */
typedef struct {
  const char *name;
  const char *group;
  guint64     in;          /* messages delivered to it */
  guint64     out;         /* messages it sent that were queued */
  guint64     dropped;     /* messages for it refused because its queue was full */
  guint64     unroutable;  /* messages it sent to unknown destinations */
  guint       queued;      /* messages in its queue now */
  guint       waiting;     /* messages it sent that wait for room in others' queues */
} EcBusMemberInfo;

EcBus      *ec_bus_new             (GMainContext *context, guint queue_limit);
void        ec_bus_free            (EcBus *bus);
EcEndpoint *ec_bus_add_member      (EcBus *bus, const char *name, const char *group,
                                    EcBusHandler handler, gpointer handler_data,
                                    GError **error);
void        ec_bus_remove_member   (EcBus *bus, EcEndpoint *endpoint);
GArray     *ec_bus_list_members    (EcBus *bus);  /* of EcBusMemberInfo */
void        ec_bus_compact         (EcBus *bus);  /* frees drained queues a burst grew */
char       *ec_bus_describe        (EcBus *bus);
guint64     ec_bus_get_unroutable  (EcBus *bus);
guint       ec_bus_get_pending_calls (EcBus *bus);

G_END_DECLS
