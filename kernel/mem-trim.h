/* mem-trim.h: gives freed heap back to the system after a burst. */
#pragma once

#include "bus.h"

G_BEGIN_DECLS

guint ec_mem_trim_start (EcBus *bus);

G_END_DECLS
