/* backoff.c: bounded exponential backoff with jitter (reconnects) and a
 * token bucket (KubeEdge's messageQPS/messageBurst uplink limit). */
#include "backoff.h"

/* Sets up a backoff: initial, doubling, capped at max, with jitter. */
void
eh_backoff_init (EhBackoff *b, double initial_s, double max_s, double jitter)
{
  b->initial_s = initial_s > 0 ? initial_s : 0.1;
  b->max_s = max_s >= b->initial_s ? max_s : b->initial_s;
  b->jitter = CLAMP (jitter, 0.0, 1.0);
  b->attempt = 0;
}

/* Returns the next wait in milliseconds and counts the attempt. The wait
 * before jitter is initial * 2^attempt, capped at max; jitter never takes
 * it above max. */
guint
eh_backoff_next (EhBackoff *b, GRand *rand)
{
  double wait = b->initial_s;
  for (guint i = 0; i < b->attempt && wait < b->max_s; i++)
    wait *= 2;
  wait = MIN (wait, b->max_s);
  if (b->jitter > 0)
    wait *= 1.0 + b->jitter * (2.0 * (rand ? g_rand_double (rand) : g_random_double ()) - 1.0);
  wait = CLAMP (wait, 0.001, b->max_s);
  if (b->attempt < 64)
    b->attempt++;
  return (guint) (wait * 1000.0);
}

/* Starts over after a success. */
void
eh_backoff_reset (EhBackoff *b)
{
  b->attempt = 0;
}

/* Sets up a full bucket. */
void
eh_bucket_init (EhBucket *b, double qps, double burst, gint64 now_us)
{
  b->qps = qps;
  b->burst = burst >= 1 ? burst : 1;
  b->tokens = b->burst;
  b->last_us = now_us;
}

/* Adds the tokens earned since the last refill. */
static void
refill (EhBucket *b, gint64 now_us)
{
  if (now_us > b->last_us)
    {
      b->tokens = MIN (b->burst, b->tokens + (now_us - b->last_us) * b->qps / 1e6);
      b->last_us = now_us;
    }
}

/* Takes a token if there is one. */
gboolean
eh_bucket_take (EhBucket *b, gint64 now_us)
{
  if (b->qps <= 0)
    return TRUE;
  refill (b, now_us);
  if (b->tokens < 1.0)
    return FALSE;
  b->tokens -= 1.0;
  return TRUE;
}

/* Microseconds until a token is available (0 if one is). */
gint64
eh_bucket_wait_us (EhBucket *b, gint64 now_us)
{
  if (b->qps <= 0)
    return 0;
  refill (b, now_us);
  if (b->tokens >= 1.0)
    return 0;
  return (gint64) ((1.0 - b->tokens) * 1e6 / b->qps) + 1;
}
