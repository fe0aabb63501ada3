/* mm-seen.c: a bounded set of recent message ids in two blocks of fixed
 * size: a ring of slots in arrival order (an id of up to SLOT_ID - 1 bytes
 * is kept inline, a longer one in its own allocation) and an
 * open-addressing index of (hash, slot number) cells (linear probing,
 * backward-shift deletion). Adding to a full set forgets the oldest id.
 *
 * It replaces a hash table of strdup'ed ids with a queue beside it: about
 * 100 bytes in three small allocations per id, 0.8 MB for 8,192 ids made
 * during a burst, scattered among the burst's transient allocations so
 * that they pinned the heap's pages after it. */
#include "mm-seen.h"

#include <string.h>

#define SLOT_ID 40

typedef struct {
  char *long_id;          /* an id of SLOT_ID bytes or more, else NULL */
  char  id[SLOT_ID];
} Slot;

typedef struct {
  guint32 hash;           /* the id's g_str_hash, compared before the id */
  guint32 slot;           /* slot + 1, 0: empty */
} Cell;

struct _MmSeen {
  guint    capacity;      /* slots */
  guint    head;          /* oldest slot */
  guint    len;
  guint    mask;          /* index size - 1 */
  guint    shift;         /* 32 - log2 (index size) */
  Slot    *slots;
  Cell    *index;
};

/* A set that keeps the last capacity ids. */
MmSeen *
mm_seen_new (guint capacity)
{
  MmSeen *s = g_new0 (MmSeen, 1);
  guint size = 2, bits = 1;

  capacity = MAX (capacity, 1);
  while (size < capacity * 2)
    size <<= 1, bits++;
  s->capacity = capacity;
  s->mask = size - 1;
  s->shift = 32 - bits;
  /* the ring's pages are touched only as ids arrive */
  s->slots = g_new (Slot, capacity);
  s->index = g_new0 (Cell, size);
  return s;
}

static const char *
slot_id (const Slot *slot)
{
  return slot->long_id ? slot->long_id : slot->id;
}

/* Frees the set. */
void
mm_seen_free (MmSeen *s)
{
  if (!s)
    return;
  for (guint i = 0; i < s->len; i++)
    g_free (s->slots[(s->head + i) % s->capacity].long_id);
  g_free (s->slots);
  g_free (s->index);
  g_free (s);
}

/* Home cell of a hash: its high bits after a multiplicative mix (the low
 * bits of g_str_hash cluster for ids that differ only at their end). */
static guint
home (MmSeen *s, guint32 hash)
{
  return (guint) ((hash * 2654435769u) >> s->shift) & s->mask;
}

/* Index position of id (hash: its g_str_hash), or of the empty cell where
 * it would go. */
static guint
find (MmSeen *s, const char *id, guint32 hash)
{
  guint pos = home (s, hash);

  while (s->index[pos].slot
         && (s->index[pos].hash != hash
             || strcmp (slot_id (&s->slots[s->index[pos].slot - 1]), id) != 0))
    pos = (pos + 1) & s->mask;
  return pos;
}

/* Whether id is among the last capacity ids added. */
gboolean
mm_seen_contains (MmSeen *s, const char *id)
{
  return id && s->index[find (s, id, g_str_hash (id))].slot != 0;
}

/* Empties index cell pos and moves later cells of its probe run back. */
static void
index_remove (MmSeen *s, guint pos)
{
  guint next = (pos + 1) & s->mask;

  s->index[pos].slot = 0;
  while (s->index[next].slot)
    {
      guint h = home (s, s->index[next].hash);
      /* the cell at next may move to pos if its home is not in (pos, next] */
      if (((next - h) & s->mask) >= ((next - pos) & s->mask))
        {
          s->index[pos] = s->index[next];
          s->index[next].slot = 0;
          pos = next;
        }
      next = (next + 1) & s->mask;
    }
}

/* Adds id (forgetting the oldest one when full); an id already there
 * stays where it is. */
void
mm_seen_add (MmSeen *s, const char *id)
{
  guint pos, slot;
  guint32 hash;
  gsize n;

  if (!id)
    return;
  hash = g_str_hash (id);
  pos = find (s, id, hash);
  if (s->index[pos].slot)
    return;
  if (s->len == s->capacity)
    {
      Slot *old = &s->slots[s->head];
      index_remove (s, find (s, slot_id (old), g_str_hash (slot_id (old))));
      g_clear_pointer (&old->long_id, g_free);
      s->head = (s->head + 1) % s->capacity;
      s->len--;
    }
  slot = (s->head + s->len) % s->capacity;
  n = strlen (id);
  s->slots[slot].long_id = n >= SLOT_ID ? g_strdup (id) : NULL;
  if (n < SLOT_ID)
    memcpy (s->slots[slot].id, id, n + 1);
  s->len++;
  pos = find (s, id, hash);   /* the removal may have moved cells */
  s->index[pos].hash = hash;
  s->index[pos].slot = slot + 1;
}

/* Ids held. */
guint
mm_seen_size (MmSeen *s)
{
  return s->len;
}
