/* log.c: where g_log output goes. To the journal ([core] log-target=journal,
 * or auto and stderr connected to the journal, as $JOURNAL_STREAM says),
 * as one datagram of the journal's native protocol per message with
 * structured fields, so that `journalctl -u edgecore PLUGIN=edgehub` works;
 * otherwise one line per message on stderr:
 *   edgecore[PID]: LEVEL domain: message
 *
 * auto: $JOURNAL_STREAM names stderr (systemd.exec(5)), or stderr is a
 * socket to the journal.
 *
 * Journal fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=edgecore, PLUGIN
 * (the plugin that logged: EDGECORE_PLUGIN from ec_plugin_context_log, or
 * the log domain when it is not the host's), GLIB_DOMAIN, CODE_*, and
 * every other field the caller gave whose name the journal accepts
 * (EC_MSG_ID, RESOURCE, EC_OPERATION from ec_plugin_context_log_message,
 * MESSAGE_ID, ...). On stderr a line with EC_MSG_ID or RESOURCE ends with
 * "[msg <id> <resource>]". */
#include "config.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static GLogLevelFlags threshold = G_LOG_LEVEL_INFO;
static EcLogTarget target = EC_LOG_TARGET_AUTO;
static int journal_fd = -1;
static struct sockaddr_un journal_addr;
static socklen_t journal_addr_len;

#define MAX_JOURNAL_FIELDS 32

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

static int
syslog_priority (GLogLevelFlags level)
{
  switch (level & G_LOG_LEVEL_MASK)
    {
    case G_LOG_LEVEL_ERROR: return 3;
    case G_LOG_LEVEL_CRITICAL: return 2;
    case G_LOG_LEVEL_WARNING: return 4;
    case G_LOG_LEVEL_MESSAGE: return 5;
    case G_LOG_LEVEL_INFO: return 6;
    default: return 7;
    }
}

/* The journal accepts field names of A-Z, 0-9 and '_', not starting with
 * '_' or a digit, at most 64 characters. */
static gboolean
journal_name_ok (const char *key)
{
  gsize n = 0;
  if (!key[0] || key[0] == '_' || g_ascii_isdigit (key[0]))
    return FALSE;
  for (; key[n]; n++)
    if (!(g_ascii_isupper (key[n]) || g_ascii_isdigit (key[n]) || key[n] == '_') || n >= 64)
      return FALSE;
  return TRUE;
}

/* Appends one field: KEY=value\n, or KEY\n<64-bit LE length>value\n when
 * the value holds a newline. */
static void
append_field (GString *out, const char *key, const char *value, gssize length)
{
  gsize len = length < 0 ? strlen (value) : (gsize) length;
  if (memchr (value, '\n', len))
    {
      guint64 le = GUINT64_TO_LE ((guint64) len);
      g_string_append (out, key);
      g_string_append_c (out, '\n');
      g_string_append_len (out, (const char *) &le, sizeof le);
    }
  else
    {
      g_string_append (out, key);
      g_string_append_c (out, '=');
    }
  g_string_append_len (out, value, (gssize) len);
  g_string_append_c (out, '\n');
}

/* Opens the socket once, whichever thread logs first. */
static gboolean
journal_open (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once))
    {
      const char *path = g_getenv ("EDGECORE_JOURNAL_SOCKET");
      if (!path || !*path)
        path = "/run/systemd/journal/socket";
      if (strlen (path) < sizeof journal_addr.sun_path)
        {
          memset (&journal_addr, 0, sizeof journal_addr);
          journal_addr.sun_family = AF_UNIX;
          strcpy (journal_addr.sun_path, path);
          journal_addr_len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + strlen (path) + 1);
          journal_fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        }
      g_once_init_leave (&once, 1);
    }
  return journal_fd >= 0;
}

/* Sends a datagram too large for the socket as a sealed memfd, as
 * sd_journal_sendv() does. */
static gboolean
journal_send_memfd (const GString *data)
{
  union { struct cmsghdr h; char buf[CMSG_SPACE (sizeof (int))]; } control;
  struct msghdr msg = { 0 };
  struct cmsghdr *cmsg;
  gboolean ok = FALSE;
  int fd = memfd_create ("edgecore-journal", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return FALSE;
  if (write (fd, data->str, data->len) == (ssize_t) data->len
      && fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) == 0)
    {
      memset (&control, 0, sizeof control);
      msg.msg_name = &journal_addr;
      msg.msg_namelen = journal_addr_len;
      msg.msg_control = control.buf;
      msg.msg_controllen = sizeof control.buf;
      cmsg = CMSG_FIRSTHDR (&msg);
      cmsg->cmsg_level = SOL_SOCKET;
      cmsg->cmsg_type = SCM_RIGHTS;
      cmsg->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (cmsg), &fd, sizeof (int));
      ok = sendmsg (journal_fd, &msg, MSG_NOSIGNAL) >= 0;
    }
  close (fd);
  return ok;
}

/* Sends one entry to the journal; FALSE if it could not be sent. */
static gboolean
journal_write (GLogLevelFlags level, const GLogField *fields, gsize n_fields)
{
  g_autoptr (GString) out = g_string_sized_new (256);
  const char *plugin = NULL, *domain = NULL;
  char prio[2] = { (char) ('0' + syslog_priority (level)), 0 };

  if (!journal_open ())
    return FALSE;
  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "EDGECORE_PLUGIN") == 0 && fields[i].length < 0)
        plugin = fields[i].value;
      else if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0 && fields[i].length < 0)
        domain = fields[i].value;
    }
  if (!plugin && domain && strcmp (domain, "edgecore") != 0 && strcmp (domain, "GLib") != 0
      && strncmp (domain, "GLib-", 5) != 0)
    plugin = domain;
  append_field (out, "PRIORITY", prio, -1);
  append_field (out, "SYSLOG_IDENTIFIER", "edgecore", -1);
  if (plugin)
    append_field (out, "PLUGIN", plugin, -1);
  for (gsize i = 0, n = 0; i < n_fields && n < MAX_JOURNAL_FIELDS; i++)
    {
      const char *key = fields[i].key;
      if (strcmp (key, "PRIORITY") == 0 || strcmp (key, "EDGECORE_PLUGIN") == 0
          || strcmp (key, "SYSLOG_IDENTIFIER") == 0 || strcmp (key, "PLUGIN") == 0
          || strcmp (key, "GLIB_OLD_LOG_API") == 0 || !journal_name_ok (key)
          || !fields[i].value)
        continue;
      append_field (out, key, fields[i].value, fields[i].length);
      n++;
    }
  if (sendto (journal_fd, out->str, out->len, MSG_NOSIGNAL, (struct sockaddr *) &journal_addr,
              journal_addr_len) >= 0)
    return TRUE;
  if (errno == EMSGSIZE || errno == ENOBUFS)
    return journal_send_memfd (out);
  return FALSE;
}

/* Whether stderr is the stream systemd connected to the journal: the
 * device and inode in $JOURNAL_STREAM (systemd.exec(5)) are stderr's. */
static gboolean
stderr_is_journal_stream (void)
{
  static gsize once = 0;
  static gboolean is_journal;
  if (g_once_init_enter (&once))
    {
      const char *env = g_getenv ("JOURNAL_STREAM");
      struct stat st;
      unsigned long long dev, ino;
      is_journal = (env && sscanf (env, "%llu:%llu", &dev, &ino) == 2 && fstat (STDERR_FILENO, &st) == 0
                    && (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino)
                   || g_log_writer_is_journald (STDERR_FILENO);
      g_once_init_leave (&once, 1);
    }
  return is_journal;
}

static gboolean
use_journal (void)
{
  switch (target)
    {
    case EC_LOG_TARGET_JOURNAL: return TRUE;
    case EC_LOG_TARGET_STDERR: return FALSE;
    default: return stderr_is_journal_stream ();
    }
}

static GLogWriterOutput
writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer unused)
{
  const char *domain = NULL, *message = NULL, *msg_id = NULL, *resource = NULL;
  g_autofree char *about = NULL;

  if ((level & G_LOG_LEVEL_MASK) > threshold)
    return G_LOG_WRITER_HANDLED;

  if (use_journal () && journal_write (level, fields, n_fields))
    return G_LOG_WRITER_HANDLED;

  for (gsize i = 0; i < n_fields; i++)
    {
      if (strcmp (fields[i].key, "GLIB_DOMAIN") == 0)
        domain = fields[i].value;
      else if (strcmp (fields[i].key, "MESSAGE") == 0)
        message = fields[i].value;
      else if (strcmp (fields[i].key, "EC_MSG_ID") == 0 && fields[i].length < 0)
        msg_id = fields[i].value;
      else if (strcmp (fields[i].key, "RESOURCE") == 0 && fields[i].length < 0)
        resource = fields[i].value;
    }
  /* a line about a bus message says which one, as the journal's fields do */
  if (msg_id || resource)
    about = g_strdup_printf (" [msg %s%s%s]", msg_id ? msg_id : "-", resource ? " " : "",
                             resource ? resource : "");
  fprintf (stderr, "edgecore[%d]: %s %s: %s%s\n", (int) getpid (), level_name (level),
           domain ? domain : "edgecore", message ? message : "", about ? about : "");
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

/* Parses a [core] log-target name: auto, journal or stderr. */
gboolean
ec_log_parse_target (const char *name, EcLogTarget *out)
{
  static const char *const names[] = { "auto", "journal", "stderr" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (name && strcmp (name, names[i]) == 0)
      {
        *out = (EcLogTarget) i;
        return TRUE;
      }
  return FALSE;
}

/* Chooses where messages go: the journal, stderr, or (auto) the journal
 * when stderr is connected to it. When the journal cannot be reached a
 * message goes to stderr. */
void
ec_log_set_target (EcLogTarget t)
{
  target = t;
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
