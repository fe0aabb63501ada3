/* log.c: where g_log output goes. To the journal when stderr is connected
 * to it; otherwise one line per message on stderr:
 *   edgecore[PID]: LEVEL domain: message */
#include "config.h"

#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static GLogLevelFlags threshold = G_LOG_LEVEL_INFO;

static const char *
level_name (GLogLevelFlags level)
{
  switch (level & G_LOG_LEVEL_MASK)
    {
    case G_LOG_LEVEL_ERROR: return "ERROR";
    case G_LOG_LEVEL_CRITICAL: return "CRITICAL";
    case G_LOG_LEVEL_WARNING: return "WARNING";
    case G_LOG_LEVEL_MESSAGE: return "NOTICE";
    case G_LOG_LEVEL_INFO: return "INFO";
    case G_LOG_LEVEL_DEBUG: return "DEBUG";
    default: return "LOG";
    }
}

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer unused)
{
  const char *domain = NULL, *message = NULL;
  gboolean journal;

  if ((level & G_LOG_LEVEL_MASK) > threshold)
    return G_LOG_WRITER_HANDLED;

  journal = g_log_writer_is_journald (fileno (stderr));
  if (journal && g_log_writer_journald (level, fields, n_fields, NULL) == G_LOG_WRITER_HANDLED)
    return G_LOG_WRITER_HANDLED;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (strcmp (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
    }
  fprintf (stderr, "edgecore[%d]: %s %s: %s\n", (int) getpid (), level_name (level),
           domain ? domain : "edgecore", message ? message : "");
  fflush (stderr);
  return G_LOG_WRITER_HANDLED;
}

/* Sends all g_log output through the host's writer. */
void
ec_log_install (void)
{
  g_log_set_writer_func (writer, NULL, NULL);
}

/* Parses a [core] log-level name into the least severe level still logged. */
gboolean
ec_log_parse_level (const char *name, GLogLevelFlags *out)
{
  static const struct { const char *name; GLogLevelFlags level; } levels[] = {
    { "error", G_LOG_LEVEL_CRITICAL }, { "critical", G_LOG_LEVEL_CRITICAL },
    { "warning", G_LOG_LEVEL_WARNING }, { "notice", G_LOG_LEVEL_MESSAGE },
    { "message", G_LOG_LEVEL_MESSAGE }, { "info", G_LOG_LEVEL_INFO },
    { "debug", G_LOG_LEVEL_DEBUG },
  };
  for (guint i = 0; i < G_N_ELEMENTS (levels); i++)
    if (name && g_ascii_strcasecmp (name, levels[i].name) == 0)
      {
        *out = levels[i].level;
        return TRUE;
      }
  return FALSE;
}

/* Sets the least severe level that is still logged. */
void
ec_log_set_threshold (GLogLevelFlags level)
{
  threshold = level;
}

/* Returns the least severe level that is still logged. */
GLogLevelFlags
ec_log_get_threshold (void)
{
  return threshold;
}
