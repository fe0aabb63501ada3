/* mem-trim.c: gives freed heap back to the system after a burst.
 *
 * glibc keeps what a burst freed (thousands of messages, json trees, the
 * store's page caches released when idle) in its arenas: the main heap
 * shrinks only when its top is free, the threads' arenas hardly ever. So a
 * node that took 10,000 objects kept tens of MB it no longer used. Every
 * TICK_S seconds the host looks at the messages the bus delivered and at
 * the free bytes malloc holds (mallinfo2): on a quiet tick (under QUIET
 * messages: after a burst a node may trickle uplinks for a minute) that
 * follows a busy stretch (BUSY messages since the last trim), or that finds
 * GROWN more free bytes than at the last trim (the store gives its caches
 * back 2 s after its last job), or that sees a trickle of TRICKLE messages
 * with more than KEEP_FREE bytes free, malloc_trim(0) returns the free
 * pages of every arena. A trim of a few MB takes about a millisecond. */
#include "config.h"

#include "mem-trim.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#define TICK_S 5
#define BUSY   1000
#define QUIET  500
#define GROWN  (1024 * 1024)
/* a trickle after a burst (devicetwin's uploads going out at edgehub's 30
 * messages/s for minutes) takes its chunks all over the freed heap and
 * makes trimmed pages resident again: while one goes on and malloc holds
 * more than KEEP_FREE free bytes, every quiet tick trims */
#define TRICKLE    50
#define KEEP_FREE  (512 * 1024)

typedef struct {
  EcBus   *bus;
  guint64  last;      /* messages delivered, at the last tick */
  guint64  since;     /* delivered since the last trim */
  gsize    free_at;   /* free bytes malloc held after the last trim */
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
  if (delta >= QUIET)
    return G_SOURCE_CONTINUE;
#ifdef __GLIBC__
  {
    struct mallinfo2 mi = mallinfo2 ();
    if (t->since >= BUSY || mi.fordblks > t->free_at + GROWN
        || (delta >= TRICKLE && mi.fordblks > KEEP_FREE))
      {
        ec_bus_compact (t->bus);
        malloc_trim (0);
        g_debug ("quiet after %" G_GUINT64_FORMAT " messages, %zu free bytes: heap trimmed", t->since,
                 mi.fordblks);
        t->since = 0;
        t->free_at = mi.fordblks;
      }
    else if (mi.fordblks < t->free_at)
      t->free_at = mi.fordblks;
  }
#endif
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
