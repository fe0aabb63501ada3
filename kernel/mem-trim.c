/* mem-trim.c: gives freed heap back to the system after a burst.
 *
 * glibc keeps what a burst freed (thousands of messages, json trees, the
 * store's page caches released when idle) in its arenas: the main heap
 * shrinks only when its top is free, the threads' arenas hardly ever. So a
 * node that took 10,000 objects kept tens of MB it no longer used. Every
 * TICK_S seconds the host adds up the messages the bus delivered; once a
 * busy stretch (at least BUSY messages) is followed by a quiet tick (fewer
 * than QUIET), malloc_trim(0) returns the free pages of every arena, on the
 * next two quiet ticks (the store gives its caches back 2 s after its last
 * job, which may fall after the first). Quiet means under 100 messages/s:
 * after a burst the node may still trickle (devicetwin's uplinks going out
 * as the cloud acks them) for a minute. A trim of a few MB takes about a
 * millisecond. */
#include "config.h"

#include "mem-trim.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define TICK_S 5
#define BUSY   1000
#define QUIET  500

typedef struct {
  EcBus   *bus;
  guint64  last;      /* messages delivered, at the last tick */
  guint64  since;     /* delivered since the last trim */
  guint    trims;     /* trims still to do on quiet ticks */
} Trim;

static guint64
delivered (EcBus *bus)
{
  g_autoptr (GArray) members = ec_bus_list_members (bus);
  guint64 n = 0;
  for (guint i = 0; i < members->len; i++)
    n += g_array_index (members, EcBusMemberInfo, i).in;
  return n;
}

static gboolean
on_tick (gpointer data)
{
  Trim *t = data;
  guint64 now = delivered (t->bus);
  guint64 delta = now - t->last;

  t->last = now;
  t->since += delta;
  if (t->since >= BUSY)
    {
      t->trims = 2;
      t->since = 0;
    }
  if (delta < QUIET && t->trims > 0)
    {
      t->trims--;
#ifdef __GLIBC__
      malloc_trim (0);
#endif
    }
  return G_SOURCE_CONTINUE;
}

/* Starts the trim timer on the thread-default main context; returns its
 * source id (g_source_remove() stops it). */
guint
ec_mem_trim_start (EcBus *bus)
{
  Trim *t = g_new0 (Trim, 1);
  t->bus = bus;
  return g_timeout_add_seconds_full (G_PRIORITY_LOW, TICK_S, on_tick, t, g_free);
}
