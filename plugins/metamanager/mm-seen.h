/* mm-seen.h: the bounded set of recent cloud message ids metamanager has
 * applied (a resend with the same id is acked, not applied again). */
#pragma once

#include <glib.h>

typedef struct _MmSeen MmSeen;

MmSeen  *mm_seen_new      (guint capacity);
void     mm_seen_free     (MmSeen *seen);
gboolean mm_seen_contains (MmSeen *seen, const char *id);
void     mm_seen_add      (MmSeen *seen, const char *id);
guint    mm_seen_size     (MmSeen *seen);
