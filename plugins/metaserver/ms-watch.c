/* ms-watch.c: watches. A bounded window of the latest change events (from
 * metamanager's change feed) and the open watch streams: each is a chunked
 * HTTP response of newline-separated watch events. A watch starts either
 * with ADDED events for what is stored, or resumes after a resourceVersion
 * still inside the window (older: 410 Gone, reason Expired). */
#include "ms.h"

#include <string.h>

#define MAX_UNWRITTEN_CHUNKS 20000   /* a client this far behind is dropped */
#define DEFAULT_TIMEOUT_S    1800

typedef struct {
  gint         ref;
  guint64      seq;
  guint64      rv;
  MsEventType  type;
  char        *key;          /* /g/v/r/ns/name */
  char        *prefix;       /* /g/v/r/ */
  char        *resource;
  char        *object_json;
  MsObjAttrs  *attrs;
  GBytes      *line;         /* {"type":..,"object":..}\n */
  GBytes      *tables[2][3]; /* Table lines by version (v1, v1beta1) and include mode */
} MsEvent;

typedef struct {
  MsWatchHub        *hub;
  SoupServerMessage *msg;
  char              *prefix;
  char              *namespace;
  char              *name;
  char              *resource;
  char              *kind;
  char              *api_version;
  MsSelector        *labels;
  MsSelector        *fields;
  MsOutput           output;
  gboolean           bookmarks;
  gboolean           live;
  gboolean           ending;
  guint64            after_seq;   /* events with a higher seq are due */
  guint64            min_rv;      /* when replaying the window: only rv above this */
  GHashTable        *snapshot;    /* key -> guint64 rv sent as ADDED */
  guint              timeout_id;
  guint              bookmark_id;
  guint64            queued;
  guint64            written;
  gulong             finished_id;
  gulong             wrote_id;
  GSource           *hangup;      /* the client's socket became readable: it left */
  struct _SnapshotCall *pending;  /* the initial read in flight */
} Watcher;

typedef struct _SnapshotCall {
  MetaServer *ms;
  Watcher    *w;      /* NULL once the client went away */
  MsListJob  *job;
} SnapshotCall;

struct _MsWatchHub {
  MetaServer *ms;
  GQueue      events;     /* MsEvent*, oldest first */
  guint       window;
  guint64     next_seq;
  guint64     floor;      /* resume from an rv below this: Gone */
  GList      *watchers;
};

static const char *const type_names[] = { "ADDED", "MODIFIED", "DELETED" };

static void
event_unref (MsEvent *ev)
{
  if (!ev || --ev->ref > 0)
    return;
  g_free (ev->key);
  g_free (ev->prefix);
  g_free (ev->resource);
  g_free (ev->object_json);
  ms_obj_attrs_free (ev->attrs);
  g_bytes_unref (ev->line);
  for (guint v = 0; v < 2; v++)
    for (guint i = 0; i < 3; i++)
      if (ev->tables[v][i])
        g_bytes_unref (ev->tables[v][i]);
  g_free (ev);
}

/* A hub keeping the last @window events. */
MsWatchHub *
ms_watch_hub_new (MetaServer *self, guint window)
{
  MsWatchHub *hub = g_new0 (MsWatchHub, 1);
  hub->ms = self;
  hub->window = MAX (window, 1);
  hub->next_seq = 1;
  g_queue_init (&hub->events);
  return hub;
}

/* The number of open watches. */
guint
ms_watch_count (MsWatchHub *hub)
{
  return g_list_length (hub->watchers);
}

/* The lowest resourceVersion a watch may resume from. */
guint64
ms_watch_floor (MsWatchHub *hub)
{
  return hub->floor;
}

/* Sets that floor (at start: the store's revision). */
void
ms_watch_set_floor (MsWatchHub *hub, guint64 floor)
{
  hub->floor = floor;
}

static void watcher_free (Watcher *w);

/* Stops looking at the client's socket. */
static void
watcher_unwatch_socket (Watcher *w)
{
  if (w->hangup)
    {
      g_source_destroy (w->hangup);
      g_clear_pointer (&w->hangup, g_source_unref);
    }
}

/* Ends every watch and frees the hub. */
void
ms_watch_hub_free (MsWatchHub *hub)
{
  if (!hub)
    return;
  ms_watch_close_all (hub);
  g_queue_clear_full (&hub->events, (GDestroyNotify) event_unref);
  g_free (hub);
}

/* Detaches a watcher from its message and frees it. */
static void
watcher_free (Watcher *w)
{
  if (w->pending)
    w->pending->w = NULL;
  w->hub->watchers = g_list_remove (w->hub->watchers, w);
  ec_metric_set (w->hub->ms->m_watches, g_list_length (w->hub->watchers));
  watcher_unwatch_socket (w);
  g_clear_handle_id (&w->timeout_id, g_source_remove);
  g_clear_handle_id (&w->bookmark_id, g_source_remove);
  if (w->msg)
    {
      g_clear_signal_handler (&w->finished_id, w->msg);
      g_clear_signal_handler (&w->wrote_id, w->msg);
      g_object_unref (w->msg);
    }
  g_free (w->prefix);
  g_free (w->namespace);
  g_free (w->name);
  g_free (w->resource);
  g_free (w->kind);
  g_free (w->api_version);
  ms_selector_free (w->labels);
  ms_selector_free (w->fields);
  ms_output_clear (&w->output);
  if (w->snapshot)
    g_hash_table_unref (w->snapshot);
  g_free (w);
}

/* Completes the stream; the watcher is freed when libsoup finishes it. */
static void
watcher_end (Watcher *w)
{
  if (w->ending)
    return;
  w->ending = TRUE;
  watcher_unwatch_socket (w);
  g_clear_handle_id (&w->timeout_id, g_source_remove);
  g_clear_handle_id (&w->bookmark_id, g_source_remove);
  soup_message_body_complete (soup_server_message_get_response_body (w->msg));
  soup_server_message_unpause (w->msg);
}

/* Closes a client's connection outright (it fell too far behind): the
 * socket is shut down both ways, so libsoup's next write fails, it
 * finishes the message and the queued chunks are freed with it, instead
 * of waiting for TCP to give up. */
static void
watcher_drop (Watcher *w)
{
  GSocket *sock = soup_server_message_get_socket (w->msg);
  w->ending = TRUE;
  watcher_unwatch_socket (w);
  g_clear_handle_id (&w->timeout_id, g_source_remove);
  g_clear_handle_id (&w->bookmark_id, g_source_remove);
  if (sock)
    g_socket_shutdown (sock, TRUE, TRUE, NULL);
  soup_server_message_unpause (w->msg);
}

/* Ends every watch at once (the server stops). */
void
ms_watch_close_all (MsWatchHub *hub)
{
  while (hub->watchers)
    {
      Watcher *w = hub->watchers->data;
      if (!w->ending)
        {
          w->ending = TRUE;
          soup_message_body_complete (soup_server_message_get_response_body (w->msg));
          soup_server_message_unpause (w->msg);
        }
      watcher_free (w);
    }
}

/* Queues bytes on the stream. */
static void
watcher_write (Watcher *w, GBytes *bytes)
{
  if (w->ending)
    return;
  soup_message_body_append_bytes (soup_server_message_get_response_body (w->msg), bytes);
  w->queued++;
  soup_server_message_unpause (w->msg);
  if (w->queued - w->written > MAX_UNWRITTEN_CHUNKS)
    {
      ec_log_warning (w->hub->ms->context, "watch client too slow (%" G_GUINT64_FORMAT
                      " events unread): closing its connection", w->queued - w->written);
      watcher_drop (w);
    }
}

static void
on_wrote_chunk (SoupServerMessage *msg, gpointer data)
{
  Watcher *w = data;
  w->written++;
}

static void
on_finished (SoupServerMessage *msg, gpointer data)
{
  watcher_free (data);
}

/* The event's line for this watcher's output. */
static GBytes *
event_line (MsEvent *ev, const MsOutput *out)
{
  guint v, i;
  if (!out->table)
    return ev->line;
  v = g_strcmp0 (out->table_version, "v1beta1") == 0 ? 1 : 0;
  i = out->include;
  if (!ev->tables[v][i])
    {
      g_autoptr (JsonNode) node = ms_json_parse (ev->object_json, -1, NULL);
      g_autoptr (GString) s = g_string_new (NULL);
      g_autofree char *rv = g_strdup_printf ("%" G_GUINT64_FORMAT, ev->rv);
      g_string_append_printf (s, "{\"type\":\"%s\",\"object\":", type_names[ev->type]);
      ms_table_begin (s, ev->resource, out->table_version);
      if (node)
        ms_table_add_row (s, TRUE, ev->resource, node, out->include, g_get_real_time () / G_USEC_PER_SEC);
      ms_table_end (s, rv, NULL);
      g_string_append (s, "}\n");
      ev->tables[v][i] = g_string_free_to_bytes (g_steal_pointer (&s));
    }
  return ev->tables[v][i];
}

static gboolean
watcher_matches (Watcher *w, MsEvent *ev)
{
  if (strcmp (w->prefix, ev->prefix) != 0)
    return FALSE;
  if (w->namespace && g_strcmp0 (w->namespace, ev->attrs->namespace ? ev->attrs->namespace : "") != 0)
    return FALSE;
  if (w->name && g_strcmp0 (w->name, ev->attrs->name) != 0)
    return FALSE;
  return ms_selector_matches (w->labels, ev->attrs) && ms_selector_matches (w->fields, ev->attrs);
}

/* Sends an event if the watcher wants it. */
static void
watcher_offer (Watcher *w, MsEvent *ev)
{
  guint64 *seen;
  w->after_seq = ev->seq;
  if (!watcher_matches (w, ev))
    return;
  if (w->snapshot && (seen = g_hash_table_lookup (w->snapshot, ev->key)) && ev->rv <= *seen)
    return;   /* already sent as ADDED */
  watcher_write (w, event_line (ev, &w->output));
}

/* Sends the window's events the watcher has not had, and makes it live.
 * FALSE when some were already dropped from the window. */
static gboolean
watcher_catch_up (Watcher *w)
{
  MsEvent *oldest = g_queue_peek_head (&w->hub->events);
  if (oldest && oldest->seq > w->after_seq + 1)
    return FALSE;
  for (GList *l = w->hub->events.head; l; l = l->next)
    {
      MsEvent *ev = l->data;
      if (ev->seq <= w->after_seq)
        continue;
      if (ev->rv <= w->min_rv)
        {
          w->after_seq = ev->seq;
          continue;
        }
      watcher_offer (w, ev);
    }
  w->live = TRUE;
  g_clear_pointer (&w->snapshot, g_hash_table_unref);
  return TRUE;
}

/**
 * ms_watch_publish:
 * Adds a change to the window and sends it to every live watch it
 * matches. Takes @attrs.
 */
void
ms_watch_publish (MsWatchHub *hub, MsEventType type, guint64 rv, const char *store_key,
                  const char *prefix, const char *resource, const char *object_json,
                  MsObjAttrs *attrs)
{
  MsEvent *ev = g_new0 (MsEvent, 1);
  GString *line = g_string_sized_new (strlen (object_json) + 32);

  ev->ref = 1;
  ev->seq = hub->next_seq++;
  ev->rv = rv;
  ev->type = type;
  ev->key = g_strdup (store_key);
  ev->prefix = g_strdup (prefix);
  ev->resource = g_strdup (resource);
  ev->object_json = g_strdup (object_json);
  ev->attrs = attrs;
  g_string_append_printf (line, "{\"type\":\"%s\",\"object\":%s}\n", type_names[type], object_json);
  ev->line = g_string_free_to_bytes (line);
  g_queue_push_tail (&hub->events, ev);
  while (hub->events.length > hub->window)
    {
      MsEvent *old = g_queue_pop_head (&hub->events);
      hub->floor = MAX (hub->floor, old->rv);
      event_unref (old);
    }
  for (GList *l = hub->watchers; l;)
    {
      Watcher *w = l->data;
      l = l->next;
      if (w->live && !w->ending)
        watcher_offer (w, ev);
    }
}

/* The client's socket is readable while its watch streams: a watch client
 * sends nothing more, so it closed the connection (plain EOF, or a TLS
 * close_notify). libsoup only notices on a write, which may not come for
 * the whole timeout: end the stream now, so the connection is closed. */
static gboolean
on_client_gone (GSocket *socket, GIOCondition condition, gpointer data)
{
  Watcher *w = data;
  g_clear_pointer (&w->hangup, g_source_unref);   /* removed by returning */
  watcher_end (w);
  return G_SOURCE_REMOVE;
}

static gboolean
on_timeout (gpointer data)
{
  Watcher *w = data;
  w->timeout_id = 0;
  watcher_end (w);
  return G_SOURCE_REMOVE;
}

/* A BOOKMARK with the current revision. */
static gboolean
on_bookmark (gpointer data)
{
  Watcher *w = data;
  g_autofree char *text = NULL;
  if (!w->live || w->ending)
    return G_SOURCE_CONTINUE;
  text = g_strdup_printf ("{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"%s\",\"apiVersion\":\"%s\","
                          "\"metadata\":{\"resourceVersion\":\"%" G_GUINT64_FORMAT "\"}}}\n",
                          w->kind, w->api_version, w->hub->ms->revision);
  watcher_write (w, g_bytes_new_take (g_steal_pointer (&text), strlen (text)));
  return G_SOURCE_CONTINUE;
}

/* An ERROR event carrying a Status, then the end of the stream. */
static void
watcher_fail (Watcher *w, guint code, const char *message)
{
  g_autofree char *status = ms_status_json (code, NULL, message, NULL, NULL, NULL);
  g_autofree char *text = g_strdup_printf ("{\"type\":\"ERROR\",\"object\":%s}\n", status);
  watcher_write (w, g_bytes_new (text, strlen (text)));
  watcher_end (w);
}

/* The initial ADDED events are read: send them, then the events that came
 * in meanwhile, then go live. */
static void
on_snapshot (const GError *error, gpointer data)
{
  SnapshotCall *call = data;
  Watcher *w = call->w;

  call->ms->pending--;
  if (call->ms->stopped || !w)
    return;
  w->pending = NULL;
  if (error)
    {
      watcher_fail (w, 500, error->message);
      return;
    }
  if (g_bytes_get_size (call->job->body) > 0)
    watcher_write (w, call->job->body);
  w->snapshot = g_steal_pointer (&call->job->snapshot);
  if (!watcher_catch_up (w))
    watcher_fail (w, 410, "the watch fell behind while it started; start it again");
}

/* Reads the snapshot on a store thread. */
static gboolean
snapshot_run (sqlite3 *db, gpointer data, GError **error)
{
  SnapshotCall *call = data;
  return ms_store_list_func (db, call->job, error);
}

static void
snapshot_call_free (gpointer data)
{
  SnapshotCall *call = data;
  ms_list_job_free (call->job);
  ms_unref (call->ms);
  g_free (call);
}

static gboolean
parse_bool_param (GHashTable *query, const char *key, gboolean *out, GError **error)
{
  const char *v = query ? g_hash_table_lookup (query, key) : NULL;
  if (!v || !*v)
    return TRUE;
  if (strcmp (v, "true") == 0 || strcmp (v, "1") == 0)
    *out = TRUE;
  else if (strcmp (v, "false") == 0 || strcmp (v, "0") == 0)
    *out = FALSE;
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "invalid value \"%s\" for %s: want true or false", v, key);
      return FALSE;
    }
  return TRUE;
}

/**
 * ms_watch_timeout_parse:
 * The watch's timeoutSeconds in seconds. Absent, empty or 0 all mean the
 * server's default (DEFAULT_TIMEOUT_S), as kube-apiserver treats 0 like an
 * absent value (its minimum request timeout), never as "no timeout".
 */
gboolean
ms_watch_timeout_parse (const char *text, guint64 *seconds, GError **error)
{
  guint64 v = 0;
  if (text && *text && !ms_parse_uint64 (text, &v))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid timeoutSeconds \"%s\"", text);
      return FALSE;
    }
  *seconds = v > 0 ? v : DEFAULT_TIMEOUT_S;
  return TRUE;
}

/**
 * ms_watch_start:
 * Serves a watch request: validates it (400, 410 as a Status), then opens
 * the stream. Takes nothing; @output is copied.
 */
void
ms_watch_start (MetaServer *self, SoupServerMessage *msg, MsRequestInfo *info,
                const MsResource *res, GHashTable *query, MsOutput *output)
{
  MsWatchHub *hub = self->watch;
  const char *rv_text = query ? g_hash_table_lookup (query, "resourceVersion") : NULL;
  const char *timeout_text = query ? g_hash_table_lookup (query, "timeoutSeconds") : NULL;
  g_autoptr (MsSelector) labels = NULL;
  g_autoptr (MsSelector) fields = NULL;
  g_autoptr (GError) error = NULL;
  gboolean bookmarks = FALSE;
  guint64 rv = 0, timeout = DEFAULT_TIMEOUT_S;
  SoupMessageHeaders *headers;
  Watcher *w;

  labels = ms_label_selector_parse (query ? g_hash_table_lookup (query, "labelSelector") : NULL, &error);
  if (labels)
    fields = ms_field_selector_parse (query ? g_hash_table_lookup (query, "fieldSelector") : NULL,
                                      strcmp (res->resource, "pods") == 0, &error);
  if (!labels || !fields || !parse_bool_param (query, "allowWatchBookmarks", &bookmarks, &error))
    {
      ms_respond_status (msg, 400, "BadRequest", error->message);
      return;
    }
  if (!ms_watch_timeout_parse (timeout_text, &timeout, &error))
    {
      ms_respond_status (msg, 400, "BadRequest", error->message);
      return;
    }
  if (rv_text && *rv_text && strcmp (rv_text, "0") != 0)
    {
      if (!ms_parse_uint64 (rv_text, &rv))
        {
          g_autofree char *m = g_strdup_printf ("invalid resourceVersion \"%s\"", rv_text);
          ms_respond_status (msg, 400, "BadRequest", m);
          return;
        }
      if (rv < hub->floor || rv > self->revision)
        {
          g_autofree char *m = rv < hub->floor
            ? g_strdup_printf ("too old resource version: %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT ")",
                               rv, hub->floor)
            : g_strdup_printf ("too large resource version: %" G_GUINT64_FORMAT " (current %" G_GUINT64_FORMAT ")",
                               rv, self->revision);
          ms_respond_status (msg, 410, "Expired", m);
          return;
        }
    }

  w = g_new0 (Watcher, 1);
  w->hub = hub;
  w->msg = g_object_ref (msg);
  w->prefix = ms_store_key (res->group, res->version, res->resource, NULL, NULL);
  /* ms_store_key gives /g/v/r/null/ for a NULL namespace and name: keep /g/v/r/ */
  w->prefix[strlen (w->prefix) - strlen ("null/")] = '\0';
  w->namespace = res->namespaced && info->namespace ? g_strdup (info->namespace) : NULL;
  w->name = info->name ? g_strdup (info->name) : NULL;
  w->resource = g_strdup (res->resource);
  w->kind = g_strdup (res->kind);
  w->api_version = ms_registry_group_version_string (res->group, res->version);
  w->labels = g_steal_pointer (&labels);
  w->fields = g_steal_pointer (&fields);
  w->output = *output;
  w->output.table_version = g_strdup (output->table_version);
  w->bookmarks = bookmarks;
  w->after_seq = hub->next_seq - 1;
  hub->watchers = g_list_prepend (hub->watchers, w);
  ec_metric_set (self->m_watches, g_list_length (hub->watchers));

  soup_server_message_set_status (msg, 200, NULL);
  headers = soup_server_message_get_response_headers (msg);
  soup_message_headers_set_encoding (headers, SOUP_ENCODING_CHUNKED);
  soup_message_headers_set_content_type (headers, "application/json", NULL);
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  w->finished_id = g_signal_connect (msg, "finished", G_CALLBACK (on_finished), w);
  w->wrote_id = g_signal_connect (msg, "wrote-chunk", G_CALLBACK (on_wrote_chunk), w);
  if (soup_server_message_get_socket (msg))
    {
      w->hangup = g_socket_create_source (soup_server_message_get_socket (msg),
                                          G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
      g_source_set_callback (w->hangup, (GSourceFunc) (void (*) (void)) on_client_gone, w, NULL);
      g_source_attach (w->hangup, NULL);
    }
  if (timeout > 0)
    /* milliseconds, not g_timeout_add_seconds: that one may fire up to a
     * second early, and a client may rely on the whole timeoutSeconds */
    w->timeout_id = g_timeout_add ((guint) MIN (timeout, G_MAXUINT / 2000) * 1000, on_timeout, w);
  if (bookmarks && self->bookmark_interval > 0)
    w->bookmark_id = g_timeout_add_seconds ((guint) self->bookmark_interval, on_bookmark, w);
  /* not paused: libsoup sends the headers now and then waits for chunks */

  if (rv > 0)
    {
      /* resume: replay the window after rv (every event after it is there) */
      MsEvent *oldest = g_queue_peek_head (&hub->events);
      w->after_seq = oldest ? oldest->seq - 1 : hub->next_seq - 1;
      w->min_rv = rv;
      watcher_catch_up (w);
      return;
    }

  /* start: ADDED for every stored match, read off the main loop */
  {
    SnapshotCall *call = g_new0 (SnapshotCall, 1);
    MsListJob *job = g_new0 (MsListJob, 1);
    g_autofree char *ns_prefix = ms_store_key (res->group, res->version, res->resource,
                                               res->namespaced ? info->namespace : NULL, NULL);
    if (info->name)
      {
        /* one object: /g/v/r/ns/name exactly */
        job->key_lo = g_strconcat (ns_prefix, info->name, NULL);
        job->key_hi = g_strconcat (job->key_lo, "\x01", NULL);
      }
    else if (res->namespaced && !info->namespace)
      {
        job->key_lo = g_strdup (w->prefix);
        job->slashes = 1;
      }
    else
      job->key_lo = g_strdup (ns_prefix);
    if (!job->key_hi)
      {
        job->key_hi = g_strdup (job->key_lo);
        job->key_hi[strlen (job->key_hi) - 1] = '0';   /* the character after '/' */
      }
    job->labels = ms_label_selector_parse (query ? g_hash_table_lookup (query, "labelSelector") : NULL, NULL);
    job->fields = ms_field_selector_parse (query ? g_hash_table_lookup (query, "fieldSelector") : NULL,
                                           strcmp (res->resource, "pods") == 0, NULL);
    job->resource = g_strdup (res->resource);
    job->revision = self->revision;
    job->output = *output;
    job->output.table_version = g_strdup (output->table_version);
    job->now = g_get_real_time () / G_USEC_PER_SEC;
    job->want_snapshot = TRUE;
    call->ms = ms_ref (self);
    call->w = w;
    call->job = job;
    w->pending = call;
    self->pending++;
    ec_store_read (self->store, snapshot_run, on_snapshot, call, snapshot_call_free);
  }
}
