/* ms-state.c: the reference count of the plugin's state, held by the
 * store reads and cloud calls in flight so that their answers may arrive
 * after the plugin stopped. */
#include "ms.h"

/* Takes a reference on the plugin's state (held by reads and calls in flight). */
MetaServer *
ms_ref (MetaServer *self)
{
  self->refcount++;
  return self;
}

/* Drops a reference; the last one frees the state. */
void
ms_unref (MetaServer *self)
{
  if (--self->refcount > 0)
    return;
  ms_registry_free (self->registry);
  ms_watch_hub_free (self->watch);
  g_free (self->node_name);
  g_free (self->server_address);
  g_free (self);
}
