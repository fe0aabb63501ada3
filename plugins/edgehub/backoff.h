/* backoff.h: reconnect backoff with jitter, and the uplink token bucket. */
#pragma once

#include <glib.h>

typedef struct {
  double initial_s;   /* first wait */
  double max_s;       /* waits never exceed this */
  double jitter;      /* each wait is scaled by a random factor in [1-jitter, 1+jitter] */
  guint  attempt;     /* failures since the last success */
} EhBackoff;

void   eh_backoff_init  (EhBackoff *b, double initial_s, double max_s, double jitter);
guint  eh_backoff_next  (EhBackoff *b, GRand *rand);
void   eh_backoff_reset (EhBackoff *b);

typedef struct {
  double qps;         /* tokens per second; <= 0 means no limit */
  double burst;       /* bucket size */
  double tokens;
  gint64 last_us;     /* monotonic time of the last refill */
} EhBucket;

void     eh_bucket_init     (EhBucket *b, double qps, double burst, gint64 now_us);
gboolean eh_bucket_take     (EhBucket *b, gint64 now_us);
gint64   eh_bucket_wait_us  (EhBucket *b, gint64 now_us);
