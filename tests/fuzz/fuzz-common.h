/* fuzz-common.h: what every libFuzzer target in tests/fuzz shares.
 *
 * Bad input must get an error and nothing else: a GLib critical (a
 * g_return_if_fail that fired) is a finding, as are the sanitizers'
 * reports; messages and warnings about the input are expected and not
 * printed. */
#pragma once

#include <glib.h>
#include <stdint.h>
#include <string.h>

static GLogWriterOutput
fuzz_log_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
    {
      g_log_writer_standard_streams (level, fields, n_fields, data);
      abort ();
    }
  return G_LOG_WRITER_HANDLED;
}

/* Once per process: criticals abort, the rest of the log is dropped. */
static inline void
fuzz_init (void)
{
  static gboolean done;
  if (done)
    return;
  done = TRUE;
  g_log_set_writer_func (fuzz_log_writer, NULL, NULL);
}

/* The input as a NUL-terminated string (inner NULs kept). */
static inline char *
fuzz_strndup (const uint8_t *data, size_t size)
{
  char *s = g_malloc (size + 1);
  memcpy (s, data, size);
  s[size] = '\0';
  return s;
}

/* Splits the input at the first byte sep: *head (NUL-terminated copy) and
 * the rest; FALSE (and nothing set) when sep does not occur. */
static inline gboolean
fuzz_split (const uint8_t *data, size_t size, char sep, char **head, const uint8_t **rest,
            size_t *rest_size)
{
  const uint8_t *at = memchr (data, sep, size);
  if (!at)
    return FALSE;
  *head = fuzz_strndup (data, (size_t) (at - data));
  *rest = at + 1;
  *rest_size = size - (size_t) (at - data) - 1;
  return TRUE;
}
