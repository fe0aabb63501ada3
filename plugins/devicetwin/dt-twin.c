/* dt-twin.c: twin updates, gets and cloud syncs (reference sections 4.2,
 * 4.3; KubeEdge's dtmanager/twin.go). A mapper's update ("REST") bumps the
 * edge version of each side it sets; a sync from the cloud must carry
 * versions no older than the edge's, or it is rejected and the edge's state
 * is reported back. A mapper update is all or nothing: it is validated
 * completely before anything changes. */
#include "dt-types.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_PREFIX "$hw/events/device/"

/* What one update did to one twin. The twins it points to are the live
 * ones in the device: the outputs are written before anything else runs. */
typedef struct {
  const char   *name;
  const DtTwin *after;       /* for "current"; NULL: null */
  gssize        last_at;     /* "last" as JSON in DeviceTwin.lasts; -1: null */
  gsize         last_len;
  gboolean      in_document;
  gboolean      in_result;
  gboolean      result_null;
  guint         result_mask; /* DT_W_* for update/result */
  const DtTwin *sync;        /* for twin/edge_updated; NULL: not reported */
  guint         sync_mask;
} Change;

/* Writes the twin as it is now as the change's "last" (before changing it). */
static void
remember_last (GString *lasts, const DtTwin *t, Change *c)
{
  c->last_at = (gssize) lasts->len;
  dt_json_twin (lasts, t, DT_W_ALL);
  c->last_len = lasts->len - (gsize) c->last_at;
}

/* KubeEdge's ValidateValue: NULL when value fits the type, else the reason. */
static const char *
validate_value (const char *type, const char *value)
{
  char *end = NULL;

  if (!type || !*type || strcmp (type, DT_TYPE_STRING) == 0 || strcmp (type, DT_TYPE_DELETED) == 0)
    return NULL;
  if (strcmp (type, "int") == 0 || strcmp (type, "integer") == 0)
    {
      errno = 0;
      if (!*value || g_ascii_isspace (*value))
        return "the value is not int or integer";
      (void) g_ascii_strtoll (value, &end, 10);
      return errno || *end ? "the value is not int or integer" : NULL;
    }
  if (strcmp (type, "float") == 0)
    {
      errno = 0;
      if (!*value || g_ascii_isspace (*value))
        return "the value is not float";
      (void) g_ascii_strtod (value, &end);
      return *end ? "the value is not float" : NULL;
    }
  if (strcmp (type, "boolean") == 0)
    return strcmp (value, "true") == 0 || strcmp (value, "false") == 0
           ? NULL : "the bool value must be true or false";
  return "the value type is not allowed";
}

/* Whether a message side carries a value object. */
static gboolean
has_side (const DtMsgValue *v)
{
  return v->present && !v->is_null;
}

/* Checks a mapper update against the device without changing anything;
 * returns the 400 reason or NULL. */
static const char *
validate_rest (DtDevice *d, DtTwinUpdate *u)
{
  for (guint i = 0; i < u->twins->len; i++)
    {
      DtMsgTwin *mt = u->twins->pdata[i];
      DtTwin *t = g_hash_table_lookup (d->twins, mt->name);
      const char *type;
      const char *why;

      if (mt->is_null)
        {
          if (!t)
            return "the request body is wrong";
          continue;
        }
      if (t)
        type = dt_twin_is_deleted (t) ? (mt->has_metadata ? mt->type : DT_TYPE_STRING) : t->attr_type;
      else
        type = mt->has_metadata ? mt->type : DT_TYPE_STRING;
      if (!t && !has_side (&mt->expected) && !has_side (&mt->actual))
        return "the twin has neither an expected nor an actual value";
      if (has_side (&mt->expected))
        {
          if (!mt->expected.value)
            return "the expected value is missing";
          if ((why = validate_value (type, mt->expected.value)))
            return why;
        }
      if (has_side (&mt->actual))
        {
          if (!mt->actual.value)
            return "the actual value is missing";
          if ((why = validate_value (type, mt->actual.value)))
            return why;
        }
    }
  return NULL;
}

/* Applies one side (expected or actual). rest: bump the edge version;
 * sync: take the message's version if it is not older. Returns FALSE on a
 * version conflict (sync only). */
static gboolean
apply_side (DtValue *side, gboolean *has_v, DtVersion *v, const DtMsgValue *mv,
            gboolean msg_has_v, const DtVersion *mv_v, gboolean rest, gint64 now)
{
  if (rest)
    {
      if (!*has_v)
        *v = (DtVersion) { 0, 0 };
      *has_v = TRUE;
      v->edge++;
    }
  else
    {
      if (!msg_has_v)
        return FALSE;
      if (*has_v && (v->cloud > mv_v->cloud || v->edge > mv_v->edge))
        return FALSE;
      *has_v = TRUE;
      *v = *mv_v;
    }
  dt_value_set (side, mv->value, now);
  return TRUE;
}

/* A tombstone request for an existing twin (dealTwinDelete); TRUE when c
 * was filled. */
static gboolean
delete_twin (DtDevice *d, DtTwin *t, DtMsgTwin *mt, gboolean rest, DtTxn *txn, GString *lasts,
             Change *c)
{
  gboolean changed = FALSE;

  if ((rest && !t->optional) || dt_twin_is_deleted (t))
    return FALSE;
  c->name = t->name;
  if (!rest)
    {
      /* a sync delete must not be older than the edge's versions */
      if ((t->has_ev && mt->has_ev && (t->ev.cloud > mt->ev.cloud || t->ev.edge > mt->ev.edge))
          || (t->has_av && mt->has_av && (t->av.cloud > mt->av.cloud || t->av.edge > mt->av.edge)))
        {
          c->sync = t;
          c->sync_mask = DT_W_ALL | DT_W_VERSIONS;
          return TRUE;
        }
    }
  remember_last (lasts, t, c);
  if (t->has_ev)
    {
      if (rest)
        t->ev.edge++;
      else if (mt->has_ev)
        t->ev = mt->ev;
      dt_value_clear (&t->expected);
      t->expected.present = TRUE;
      changed = TRUE;
    }
  if (t->has_av)
    {
      if (rest)
        t->av.edge++;
      else if (mt->has_av)
        t->av = mt->av;
      dt_value_clear (&t->actual);
      t->actual.present = TRUE;
      changed = TRUE;
    }
  if (!changed)
    return FALSE;
  g_free (t->attr_type);
  t->attr_type = g_strdup (DT_TYPE_DELETED);
  dt_txn_twin_put (txn, d->id, t);
  c->in_document = TRUE;
  if (rest)
    {
      c->in_result = TRUE;
      c->result_null = TRUE;
      c->sync = t;
      c->sync_mask = DT_W_ALL | DT_W_VERSIONS;
    }
  return TRUE;
}

/* An update of an existing twin (dealTwinCompare). */
static gboolean
compare_twin (DtDevice *d, DtTwin *t, DtMsgTwin *mt, gboolean rest, gint64 now, DtTxn *txn,
              GString *lasts, Change *c)
{
  const char *type = dt_twin_is_deleted (t) ? (mt->has_metadata ? mt->type : DT_TYPE_STRING)
                                            : t->attr_type;
  gboolean changed = FALSE, allowed = TRUE;
  guint mask = 0, conflict_mask = 0;

  c->name = t->name;
  if (!dt_twin_is_deleted (t))
    remember_last (lasts, t, c);
  if (has_side (&mt->expected) && mt->expected.value && !validate_value (type, mt->expected.value))
    {
      if (apply_side (&t->expected, &t->has_ev, &t->ev, &mt->expected, mt->has_ev, &mt->ev, rest, now))
        {
          mask |= DT_W_EXPECTED | DT_W_OPTIONAL | DT_W_METADATA;
          changed = TRUE;
        }
      else
        {
          allowed = FALSE;
          conflict_mask = DT_W_EXPECTED | DT_W_OPTIONAL | DT_W_METADATA;
        }
    }
  if (allowed && has_side (&mt->actual) && mt->actual.value && !validate_value (type, mt->actual.value))
    {
      if (apply_side (&t->actual, &t->has_av, &t->av, &mt->actual, mt->has_av, &mt->av, rest, now))
        {
          mask |= DT_W_ACTUAL | DT_W_OPTIONAL | DT_W_METADATA;
          changed = TRUE;
        }
      else
        {
          allowed = FALSE;
          conflict_mask = DT_W_ACTUAL | DT_W_OPTIONAL | DT_W_METADATA;
        }
    }
  if (allowed)
    {
      if (mt->has_optional && mt->optional != t->optional && t->optional)
        {
          t->optional = mt->optional;
          mask |= DT_W_OPTIONAL;
          changed = TRUE;
        }
      if (mt->has_metadata)
        {
          if (g_strcmp0 (mt->type ? mt->type : "", t->attr_type ? t->attr_type : "") != 0)
            {
              g_free (t->metadata);
              t->metadata = g_strdup ("{}");
              if (dt_twin_is_deleted (t))
                {
                  g_free (t->attr_type);
                  t->attr_type = g_strdup (mt->type ? mt->type : "");
                  mask |= DT_W_METADATA;
                }
              changed = TRUE;
            }
        }
      else if (dt_twin_is_deleted (t))
        {
          g_free (t->attr_type);
          t->attr_type = g_strdup (DT_TYPE_STRING);
          mask |= DT_W_METADATA;
          changed = TRUE;
        }
    }
  if (!changed && allowed)
    return FALSE;
  if (changed)
    {
      dt_txn_twin_put (txn, d->id, t);
      c->in_document = TRUE;
      c->after = t;
      if (rest)
        {
          c->in_result = TRUE;
          c->result_mask = mask;
          c->sync = t;
          c->sync_mask = mask | DT_W_VERSIONS;
        }
    }
  if (!allowed)
    {
      /* rejected sync: tell the cloud what the edge has */
      c->sync = t;
      c->sync_mask = conflict_mask | DT_W_VERSIONS;
    }
  return TRUE;
}

/* A twin the device does not have yet (dealTwinAdd). */
static gboolean
add_twin (DtDevice *d, DtMsgTwin *mt, gboolean rest, gint64 now, DtTxn *txn, Change *c)
{
  g_autoptr (DtTwin) t = NULL;
  const char *type = mt->has_metadata ? mt->type : DT_TYPE_STRING;

  if (mt->is_null)
    return FALSE;
  t = dt_twin_new (mt->name);
  if (!rest && g_strcmp0 (mt->type, DT_TYPE_DELETED) == 0)
    {
      t->has_ev = mt->has_ev;
      t->ev = mt->ev;
      t->has_av = mt->has_av;
      t->av = mt->av;
    }
  if (has_side (&mt->expected))
    {
      if (!mt->expected.value || validate_value (type, mt->expected.value)
          || !apply_side (&t->expected, &t->has_ev, &t->ev, &mt->expected, mt->has_ev, &mt->ev, rest, now))
        return FALSE;
    }
  if (has_side (&mt->actual))
    {
      if (!mt->actual.value || validate_value (type, mt->actual.value)
          || !apply_side (&t->actual, &t->has_av, &t->av, &mt->actual, mt->has_av, &mt->av, rest, now))
        return FALSE;
    }
  /* as DeviceTwinToMsgTwin reads it back: an empty value is no value */
  if (t->expected.value && !*t->expected.value)
    dt_value_clear (&t->expected);
  if (t->actual.value && !*t->actual.value)
    dt_value_clear (&t->actual);
  t->optional = mt->has_optional ? mt->optional : TRUE;
  g_free (t->attr_type);
  t->attr_type = g_strdup (mt->has_metadata ? (mt->type ? mt->type : "") : DT_TYPE_STRING);
  t->metadata = g_strdup (mt->has_metadata ? "{}" : "");
  dt_txn_twin_put (txn, d->id, t);

  c->name = t->name;
  c->in_document = TRUE;
  c->after = dt_twin_is_deleted (t) ? NULL : t;
  if (rest)
    {
      c->in_result = TRUE;
      c->result_mask = DT_W_ALL;
      c->sync = t;
      c->sync_mask = DT_W_ALL | DT_W_VERSIONS;
    }
  g_hash_table_replace (d->twins, t->name, t);
  t = NULL;
  return TRUE;
}

/* Applies every twin of u to d (in name order): rest is a mapper's update
 * (edge versions bumped), otherwise a cloud sync (versions checked). The
 * changes go to changes (from dt_twin_changes_new), the "last" JSON to
 * lasts, the rows to txn. */
void
dt_twin_apply (DtDevice *d, DtTwinUpdate *u, gboolean rest, gint64 now, DtTxn *txn,
             GString *lasts, GArray *changes)
{
  g_string_truncate (lasts, 0);
  g_array_set_size (changes, 0);
  for (guint i = 0; i < u->twins->len; i++)
    {
      DtMsgTwin *mt = u->twins->pdata[i];
      DtTwin *t = g_hash_table_lookup (d->twins, mt->name);
      Change c = { .last_at = -1 };
      gboolean any;

      if (t && ((rest && mt->is_null)
                || (!rest && !mt->is_null && g_strcmp0 (mt->type, DT_TYPE_DELETED) == 0)))
        any = delete_twin (d, t, mt, rest, txn, lasts, &c);
      else if (t && mt->is_null)
        any = FALSE;
      else if (t)
        any = compare_twin (d, t, mt, rest, now, txn, lasts, &c);
      else
        any = add_twin (d, mt, rest, now, txn, &c);
      if (any)
        g_array_append_val (changes, c);
    }
}

/* The topic $hw/events/device/<id><suffix>, in self's scratch buffer. */
static const char *
device_topic (DeviceTwin *self, const char *id, const char *suffix)
{
  GString *t = self->out_topic;
  g_string_truncate (t, 0);
  g_string_append (t, TOPIC_PREFIX);
  g_string_append (t, id);
  g_string_append (t, suffix);
  return t->str;
}

/* Queues a publish (via eventbus) of a JSON document (copied) after the
 * commit. */
void
dt_publish_text (DtTxn *txn, const char *topic, const char *payload, gsize length)
{
  EcMessage *m = ec_message_new ("twin", "bus", EC_OP_PUBLISH, topic);
  /* the payload is a JSON document: it travels as the content itself and
   * eventbus publishes its text verbatim (no string escaping) */
  if (!ec_message_set_content_json (m, payload, (gssize) length, NULL))
    {
      g_autofree char *copy = g_strndup (payload, length);
      ec_message_set_content_string (m, copy);
    }
  dt_txn_send (txn, "eventbus", m);
}

/* Queues a publish of payload (taken, a JSON document) after the commit. */
void
dt_publish (DtTxn *txn, const char *topic, char *payload)
{
  dt_publish_text (txn, topic, payload, strlen (payload));
  g_free (payload);
}

/* Publishes payload (taken) after whatever is being written. */
void
dt_publish_now (DeviceTwin *self, const char *topic, char *payload)
{
  DtTxn *txn = dt_txn_new ();
  dt_publish (txn, topic, payload);
  dt_commit (self, txn);
}

/* Writes the DeviceTwinDelta of a device into s; FALSE (s empty) when
 * nothing differs. */
gboolean
dt_twin_build_delta (DeviceTwin *self, DtDevice *d, GString *s)
{
  GString *delta = self->delta_buf;
  guint n;
  g_autofree char **keys = dt_sorted_keys (d->twins, &n);
  g_autofree char *event_id = NULL;
  gboolean any_twin = FALSE, any_delta = FALSE;

  g_string_truncate (s, 0);
  for (guint i = 0; i < n && !any_delta; i++)
    {
      DtTwin *t = g_hash_table_lookup (d->twins, keys[i]);
      if (!dt_twin_is_deleted (t) && t->expected.value && *t->expected.value
          && g_strcmp0 (t->expected.value, t->actual.value ? t->actual.value : "") != 0)
        any_delta = TRUE;
    }
  if (!any_delta)
    return FALSE;
  event_id = ec_new_uuid ();
  g_string_truncate (delta, 0);
  g_string_append_c (s, '{');
  g_string_append_c (delta, '{');
  dt_json_base (s, event_id, g_get_real_time () / 1000);
  g_string_append (s, ",\"twin\":{");
  any_delta = FALSE;
  for (guint i = 0; i < n; i++)
    {
      DtTwin *t = g_hash_table_lookup (d->twins, keys[i]);
      if (dt_twin_is_deleted (t) || !t->expected.value || !*t->expected.value)
        continue;
      if (any_twin)
        g_string_append_c (s, ',');
      any_twin = TRUE;
      ec_json_append_string (s, keys[i]);
      g_string_append_c (s, ':');
      dt_json_twin (s, t, DT_W_ALL);
      if (g_strcmp0 (t->expected.value, t->actual.value ? t->actual.value : "") != 0)
        {
          if (any_delta)
            g_string_append_c (delta, ',');
          any_delta = TRUE;
          ec_json_append_string (delta, keys[i]);
          g_string_append_c (delta, ':');
          ec_json_append_string (delta, t->expected.value);
        }
    }
  g_string_append_c (delta, '}');
  g_string_append (s, "},\"delta\":");
  g_string_append_len (s, delta->str, delta->len);
  g_string_append_c (s, '}');
  return TRUE;
}

/* Queues document, delta and the cloud report of a set of changes. */
static void
queue_outputs (DeviceTwin *self, DtTxn *txn, DtDevice *d, GArray *changes,
               const char *event_id, gint64 now)
{
  GString *s = self->json_buf;
  gboolean any = FALSE;

  for (guint i = 0; i < changes->len && !any; i++)
    any = g_array_index (changes, Change, i).in_document;
  if (any)
    {
      g_string_truncate (s, 0);
      g_string_append_c (s, '{');
      dt_json_base (s, event_id, now);
      g_string_append (s, ",\"twin\":{");
      any = FALSE;
      for (guint i = 0; i < changes->len; i++)
        {
          Change *c = &g_array_index (changes, Change, i);
          if (!c->in_document)
            continue;
          if (any)
            g_string_append_c (s, ',');
          any = TRUE;
          ec_json_append_string (s, c->name);
          g_string_append (s, ":{\"last\":");
          if (c->last_at >= 0)
            g_string_append_len (s, self->lasts->str + c->last_at, (gssize) c->last_len);
          else
            g_string_append (s, "null");
          g_string_append (s, ",\"current\":");
          if (c->after)
            dt_json_twin (s, c->after, DT_W_ALL);
          else
            g_string_append (s, "null");
          g_string_append_c (s, '}');
        }
      g_string_append (s, "}}");
      dt_publish_text (txn, device_topic (self, d->id, "/twin/update/document"), s->str, s->len);
    }
  if (dt_twin_build_delta (self, d, s))
    dt_publish_text (txn, device_topic (self, d->id, "/twin/update/delta"), s->str, s->len);
  any = FALSE;
  for (guint i = 0; i < changes->len && !any; i++)
    any = g_array_index (changes, Change, i).sync != NULL;
  if (any)
    {
      g_autofree char *sync_id = ec_new_uuid ();
      g_string_truncate (s, 0);
      g_string_append_c (s, '{');
      dt_json_base (s, sync_id, now);
      g_string_append (s, ",\"twin\":{");
      any = FALSE;
      for (guint i = 0; i < changes->len; i++)
        {
          Change *c = &g_array_index (changes, Change, i);
          if (!c->sync)
            continue;
          if (any)
            g_string_append_c (s, ',');
          any = TRUE;
          ec_json_append_string (s, c->name);
          g_string_append_c (s, ':');
          dt_json_twin (s, c->sync, c->sync_mask);
        }
      g_string_append (s, "}}");
      g_string_truncate (self->out_topic, 0);
      g_string_append (self->out_topic, "device/");
      g_string_append (self->out_topic, d->id);
      g_string_append (self->out_topic, "/twin/edge_updated");
      dt_cloud_upload (self, txn, self->out_topic->str, s->str, FALSE);
    }
}

/* Publishes an error Result on a device's update result topic. */
static void
publish_error (DeviceTwin *self, const char *device_id, const char *suffix,
               const char *event_id, int code, const char *reason)
{
  dt_publish_now (self, device_topic (self, device_id, suffix),
                  dt_json_error (event_id, code, reason));
}

/* An empty array for dt_twin_apply's changes. */
GArray *
dt_twin_changes_new (void)
{
  return g_array_sized_new (FALSE, TRUE, sizeof (Change), 8);
}

/* $hw/events/device/<id>/twin/update from a mapper (payload: length bytes
 * of JSON text). */
void
dt_twin_handle_update (DeviceTwin *self, const char *device_id, const char *payload, gsize length)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (DtTwinUpdate) u = dt_parse_twin_update (payload, length, &error);
  g_autoptr (GArray) changes = NULL;
  gint64 now = g_get_real_time () / 1000;
  GString *s = self->json_buf;
  const char *why;
  DtDevice *d;
  DtTxn *txn;

  if (!u)
    {
      /* KubeEdge answers on ".../device//twin/update/result"; the device's
       * own topic is where its mapper listens */
      ec_metric_add (self->m_rejected[1], 1);
      ec_plugin_context_log_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING, "twin update for %s rejected: %s",
                       device_id, error->message);
      publish_error (self, device_id, "/twin/update/result", "", 400, error->message);
      return;
    }
  d = g_hash_table_lookup (self->devices, device_id);
  if (!d)
    {
      publish_error (self, device_id, "/twin/update/result", u->event_id, 404,
                     "update rejected due to the device is not existed");
      return;
    }
  if ((why = validate_rest (d, u)))
    {
      publish_error (self, device_id, "/twin/update/result", u->event_id, 400, why);
      return;
    }

  txn = dt_txn_new ();
  changes = dt_twin_changes_new ();
  dt_twin_apply (d, u, TRUE, now, txn, self->lasts, changes);
  g_string_truncate (s, 0);
  g_string_append_c (s, '{');
  dt_json_base (s, u->event_id, now);
  g_string_append (s, ",\"twin\":{");
  for (guint i = 0, n = 0; i < changes->len; i++)
    {
      Change *c = &g_array_index (changes, Change, i);
      if (!c->in_result)
        continue;
      if (n++)
        g_string_append_c (s, ',');
      ec_json_append_string (s, c->name);
      g_string_append_c (s, ':');
      if (c->result_null || !c->after)
        g_string_append (s, "null");
      else
        dt_json_twin (s, c->after, c->result_mask);
    }
  g_string_append (s, "}}");
  device_topic (self, device_id, "/twin/update/result");
  /* if the write fails the mapper gets a 500 instead of the result */
  dt_txn_fail_result (txn, self->out_topic->str, u->event_id);
  dt_publish_text (txn, self->out_topic->str, s->str, s->len);
  queue_outputs (self, txn, d, changes, u->event_id, now);
  dt_commit (self, txn);
}

/* $hw/events/device/<id>/twin/get from a mapper: all twins, no versions,
 * tombstones left out. */
void
dt_twin_handle_get (DeviceTwin *self, const char *device_id, const char *payload, gsize length)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *event_id = NULL;
  const char *topic = device_topic (self, device_id, "/twin/get/result");
  GString *s = self->json_buf;
  DtDevice *d;
  guint n;
  g_autofree char **keys = NULL;
  gboolean comma = FALSE;

  if (!dt_parse_base_text (payload, length, &event_id, &error))
    {
      g_autofree char *reason = g_strdup_printf ("Unmarshal twin info %.*s failed , err: %s",
                                                 (int) MIN (length, 200), payload,
                                                 error ? error->message : "invalid");
      ec_metric_add (self->m_rejected[1], 1);
      ec_plugin_context_log_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING, "twin get for %s rejected: %s", device_id,
                       error ? error->message : "invalid");
      dt_publish_now (self, topic, dt_json_error ("", 400, reason));
      return;
    }
  d = g_hash_table_lookup (self->devices, device_id);
  if (!d)
    {
      g_autofree char *reason = g_strdup_printf ("Device %s not found while getting twin", device_id);
      dt_publish_now (self, topic, dt_json_error (event_id, 404, reason));
      return;
    }
  g_string_truncate (s, 0);
  g_string_append_c (s, '{');
  dt_json_base (s, event_id, g_get_real_time () / 1000);
  g_string_append (s, ",\"twin\":{");
  keys = dt_sorted_keys (d->twins, &n);
  for (guint i = 0; i < n; i++)
    {
      DtTwin *t = g_hash_table_lookup (d->twins, keys[i]);
      if (dt_twin_is_deleted (t))
        continue;
      if (comma)
        g_string_append_c (s, ',');
      comma = TRUE;
      ec_json_append_string (s, keys[i]);
      g_string_append_c (s, ':');
      dt_json_twin (s, t, DT_W_ALL);
    }
  g_string_append (s, "}}");
  {
    DtTxn *txn = dt_txn_new ();
    dt_publish_text (txn, topic, s->str, s->len);
    dt_commit (self, txn);
  }
}

/* Applies twins from the cloud (membership, cloud_updated) within txn:
 * document and delta to the mapper, rejected items back to the cloud. */
void
dt_twin_apply_sync (DeviceTwin *self, DtTxn *txn, DtDevice *d, DtTwinUpdate *u)
{
  gint64 now = g_get_real_time () / 1000;
  g_autoptr (GArray) changes = dt_twin_changes_new ();

  dt_twin_apply (d, u, FALSE, now, txn, self->lasts, changes);
  queue_outputs (self, txn, d, changes, u->event_id ? u->event_id : "", now);
}

/* Legacy device/<id>/twin/cloud_updated from the cloud (v1.9.2). */
void
dt_twin_handle_cloud_sync (DeviceTwin *self, EcMessage *message, const char *device_id)
{
  g_autofree char *text = ec_message_dup_content_string (message);
  g_autoptr (GError) error = NULL;
  g_autoptr (DtTwinUpdate) u = NULL;
  DtDevice *d = g_hash_table_lookup (self->devices, device_id);
  DtTxn *txn;

  if (!d)
    {
      ec_metric_add (self->m_rejected[1], 1);
      ec_plugin_context_log_message_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING, message, "cloud twin sync for unknown device %s", device_id);
      return;
    }
  u = dt_parse_twin_update (text, strlen (text), &error);
  if (!u)
    {
      ec_metric_add (self->m_rejected[1], 1);
      ec_plugin_context_log_message_limited (self->context, &self->rl_bad_payload, G_LOG_LEVEL_WARNING, message, "cloud twin sync for %s rejected: %s",
                       device_id, error->message);
      return;
    }
  txn = dt_txn_new ();
  dt_twin_apply_sync (self, txn, d, u);
  dt_cloud_ack (self, txn, message);
  dt_commit (self, txn);
}
