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

/* What one update did to one twin. */
typedef struct {
  char    *name;
  DtTwin  *before;        /* for the document's "last"; NULL: null */
  DtTwin  *after;         /* for "current"; NULL: null */
  gboolean in_document;
  gboolean in_result;
  gboolean result_null;
  guint    result_mask;   /* DT_W_* for update/result */
  DtTwin  *sync;          /* for twin/edge_updated; NULL: not reported */
  guint    sync_mask;
} Change;

/* Frees a Change. */
static void
change_free (gpointer data)
{
  Change *c = data;
  g_free (c->name);
  dt_twin_free (c->before);
  dt_twin_free (c->after);
  dt_twin_free (c->sync);
  g_free (c);
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

/* A tombstone request for an existing twin (dealTwinDelete). */
static Change *
delete_twin (DtDevice *d, DtTwin *t, DtMsgTwin *mt, gboolean rest, DtTxn *txn)
{
  DtTwin *before;
  gboolean changed = FALSE;
  Change *c;

  if ((rest && !t->optional) || dt_twin_is_deleted (t))
    return NULL;
  if (!rest)
    {
      /* a sync delete must not be older than the edge's versions */
      if ((t->has_ev && mt->has_ev && (t->ev.cloud > mt->ev.cloud || t->ev.edge > mt->ev.edge))
          || (t->has_av && mt->has_av && (t->av.cloud > mt->av.cloud || t->av.edge > mt->av.edge)))
        {
          c = g_new0 (Change, 1);
          c->name = g_strdup (t->name);
          c->sync = dt_twin_copy (t);
          c->sync_mask = DT_W_ALL | DT_W_VERSIONS;
          return c;
        }
    }
  before = dt_twin_copy (t);
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
    {
      dt_twin_free (before);
      return NULL;
    }
  g_free (t->attr_type);
  t->attr_type = g_strdup (DT_TYPE_DELETED);
  dt_txn_twin_put (txn, d->id, t);
  c = g_new0 (Change, 1);
  c->name = g_strdup (t->name);
  c->before = before;
  c->in_document = TRUE;
  if (rest)
    {
      c->in_result = TRUE;
      c->result_null = TRUE;
      c->sync = dt_twin_copy (t);
      c->sync_mask = DT_W_ALL | DT_W_VERSIONS;
    }
  return c;
}

/* An update of an existing twin (dealTwinCompare). */
static Change *
compare_twin (DtDevice *d, DtTwin *t, DtMsgTwin *mt, gboolean rest, gint64 now, DtTxn *txn)
{
  DtTwin *before = dt_twin_is_deleted (t) ? NULL : dt_twin_copy (t);
  const char *type = dt_twin_is_deleted (t) ? (mt->has_metadata ? mt->type : DT_TYPE_STRING)
                                            : t->attr_type;
  gboolean changed = FALSE, allowed = TRUE;
  guint mask = 0, conflict_mask = 0;
  Change *c;

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
    {
      dt_twin_free (before);
      return NULL;
    }
  c = g_new0 (Change, 1);
  c->name = g_strdup (t->name);
  if (changed)
    {
      dt_txn_twin_put (txn, d->id, t);
      c->in_document = TRUE;
      c->before = g_steal_pointer (&before);
      c->after = dt_twin_copy (t);
      if (rest)
        {
          c->in_result = TRUE;
          c->result_mask = mask;
          c->sync = dt_twin_copy (t);
          c->sync_mask = mask | DT_W_VERSIONS;
        }
    }
  dt_twin_free (before);
  if (!allowed)
    {
      /* rejected sync: tell the cloud what the edge has */
      dt_twin_free (c->sync);
      c->sync = dt_twin_copy (t);
      c->sync_mask = conflict_mask | DT_W_VERSIONS;
    }
  return c;
}

/* A twin the device does not have yet (dealTwinAdd). */
static Change *
add_twin (DtDevice *d, DtMsgTwin *mt, gboolean rest, gint64 now, DtTxn *txn)
{
  g_autoptr (DtTwin) t = NULL;
  const char *type = mt->has_metadata ? mt->type : DT_TYPE_STRING;
  Change *c;

  if (mt->is_null)
    return NULL;
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
        return NULL;
    }
  if (has_side (&mt->actual))
    {
      if (!mt->actual.value || validate_value (type, mt->actual.value)
          || !apply_side (&t->actual, &t->has_av, &t->av, &mt->actual, mt->has_av, &mt->av, rest, now))
        return NULL;
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

  c = g_new0 (Change, 1);
  c->name = g_strdup (t->name);
  c->in_document = TRUE;
  c->after = dt_twin_is_deleted (t) ? NULL : dt_twin_copy (t);
  if (rest)
    {
      c->in_result = TRUE;
      c->result_mask = DT_W_ALL;
      c->sync = dt_twin_copy (t);
      c->sync_mask = DT_W_ALL | DT_W_VERSIONS;
    }
  g_hash_table_replace (d->twins, t->name, t);
  t = NULL;
  return c;
}

/* Applies every twin of u to d (in name order); changes are returned. */
static GPtrArray *
apply_twins (DtDevice *d, DtTwinUpdate *u, gboolean rest, gint64 now, DtTxn *txn)
{
  GPtrArray *changes = g_ptr_array_new_with_free_func (change_free);

  for (guint i = 0; i < u->twins->len; i++)
    {
      DtMsgTwin *mt = u->twins->pdata[i];
      DtTwin *t = g_hash_table_lookup (d->twins, mt->name);
      Change *c;

      if (t && ((rest && mt->is_null)
                || (!rest && !mt->is_null && g_strcmp0 (mt->type, DT_TYPE_DELETED) == 0)))
        c = delete_twin (d, t, mt, rest, txn);
      else if (t && mt->is_null)
        c = NULL;
      else if (t)
        c = compare_twin (d, t, mt, rest, now, txn);
      else
        c = add_twin (d, mt, rest, now, txn);
      if (c)
        g_ptr_array_add (changes, c);
    }
  return changes;
}

/* The topic $hw/events/device/<id><suffix>. */
static char *
device_topic (const char *id, const char *suffix)
{
  return g_strconcat (TOPIC_PREFIX, id, suffix, NULL);
}

/* Queues a publish (via eventbus) of payload (taken, a JSON document)
 * after the commit. */
void
dt_publish (DtTxn *txn, const char *topic, char *payload)
{
  EcMessage *m = ec_message_new ("twin", "bus", EC_OP_PUBLISH, topic);
  /* the payload is a JSON document: it travels as the content itself and
   * eventbus publishes its text verbatim (no string escaping) */
  if (!ec_message_set_content_json (m, payload, -1, NULL))
    ec_message_set_content_string (m, payload);
  g_free (payload);
  dt_txn_send (txn, "eventbus", m);
}

/* Publishes payload (taken) after whatever is being written. */
void
dt_publish_now (DeviceTwin *self, const char *topic, char *payload)
{
  DtTxn *txn = dt_txn_new ();
  dt_publish (txn, topic, payload);
  dt_commit (self, txn);
}

/* The DeviceTwinDelta of a device, or NULL when nothing differs. */
static char *
build_delta (DtDevice *d)
{
  guint n;
  g_autofree char **keys = dt_sorted_keys (d->twins, &n);
  g_autofree char *event_id = NULL;
  GString *s, *delta;
  gboolean any_twin = FALSE, any_delta = FALSE;

  for (guint i = 0; i < n && !any_delta; i++)
    {
      DtTwin *t = g_hash_table_lookup (d->twins, keys[i]);
      if (!dt_twin_is_deleted (t) && t->expected.value && *t->expected.value
          && g_strcmp0 (t->expected.value, t->actual.value ? t->actual.value : "") != 0)
        any_delta = TRUE;
    }
  if (!any_delta)
    return NULL;
  event_id = ec_new_uuid ();
  s = g_string_new ("{");
  delta = g_string_new ("{");
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
      dt_json_string (s, keys[i]);
      g_string_append_c (s, ':');
      dt_json_twin (s, t, DT_W_ALL);
      if (g_strcmp0 (t->expected.value, t->actual.value ? t->actual.value : "") != 0)
        {
          if (any_delta)
            g_string_append_c (delta, ',');
          any_delta = TRUE;
          dt_json_string (delta, keys[i]);
          g_string_append_c (delta, ':');
          dt_json_string (delta, t->expected.value);
        }
    }
  g_string_append (delta, "}");
  g_string_append (s, "},\"delta\":");
  g_string_append_len (s, delta->str, delta->len);
  g_string_append_c (s, '}');
  g_string_free (delta, TRUE);
  return g_string_free (s, FALSE);
}

/* Queues document, delta and the cloud report of a set of changes. */
static void
queue_outputs (DeviceTwin *self, DtTxn *txn, DtDevice *d, GPtrArray *changes,
               const char *event_id, gint64 now)
{
  GString *s;
  gboolean any = FALSE;
  char *delta;

  for (guint i = 0; i < changes->len && !any; i++)
    any = ((Change *) changes->pdata[i])->in_document;
  if (any)
    {
      s = g_string_new ("{");
      dt_json_base (s, event_id, now);
      g_string_append (s, ",\"twin\":{");
      any = FALSE;
      for (guint i = 0; i < changes->len; i++)
        {
          Change *c = changes->pdata[i];
          if (!c->in_document)
            continue;
          if (any)
            g_string_append_c (s, ',');
          any = TRUE;
          dt_json_string (s, c->name);
          g_string_append (s, ":{\"last\":");
          if (c->before)
            dt_json_twin (s, c->before, DT_W_ALL);
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
      g_autofree char *topic = device_topic (d->id, "/twin/update/document");
      dt_publish (txn, topic, g_string_free (s, FALSE));
    }
  if ((delta = build_delta (d)))
    {
      g_autofree char *topic = device_topic (d->id, "/twin/update/delta");
      dt_publish (txn, topic, delta);
    }
  any = FALSE;
  for (guint i = 0; i < changes->len && !any; i++)
    any = ((Change *) changes->pdata[i])->sync != NULL;
  if (any)
    {
      g_autofree char *sync_id = ec_new_uuid ();
      g_autofree char *resource = g_strconcat ("device/", d->id, "/twin/edge_updated", NULL);
      s = g_string_new ("{");
      dt_json_base (s, sync_id, now);
      g_string_append (s, ",\"twin\":{");
      any = FALSE;
      for (guint i = 0; i < changes->len; i++)
        {
          Change *c = changes->pdata[i];
          if (!c->sync)
            continue;
          if (any)
            g_string_append_c (s, ',');
          any = TRUE;
          dt_json_string (s, c->name);
          g_string_append_c (s, ':');
          dt_json_twin (s, c->sync, c->sync_mask);
        }
      g_string_append (s, "}}");
      dt_cloud_upload (self, txn, resource, s->str, FALSE);
      g_string_free (s, TRUE);
    }
}

/* Publishes an error Result on a device's update result topic. */
static void
publish_error (DeviceTwin *self, const char *device_id, const char *suffix,
               const char *event_id, int code, const char *reason)
{
  g_autofree char *topic = device_topic (device_id, suffix);
  dt_publish_now (self, topic, dt_json_error (event_id, code, reason));
}

/* $hw/events/device/<id>/twin/update from a mapper. */
void
dt_twin_handle_update (DeviceTwin *self, const char *device_id, const char *payload)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = dt_parse_text (payload, NULL);
  g_autoptr (DtTwinUpdate) u = dt_parse_twin_update (root, &error);
  g_autoptr (GPtrArray) changes = NULL;
  g_autofree char *topic = NULL;
  gint64 now = g_get_real_time () / 1000;
  const char *why;
  DtDevice *d;
  DtTxn *txn;
  GString *s;

  if (!u)
    {
      /* KubeEdge answers on ".../device//twin/update/result"; the device's
       * own topic is where its mapper listens */
      dt_warn_limited (self, &self->rl_bad_payload, "twin update for %s rejected: %s",
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
  changes = apply_twins (d, u, TRUE, now, txn);
  s = g_string_new ("{");
  dt_json_base (s, u->event_id, now);
  g_string_append (s, ",\"twin\":{");
  for (guint i = 0, n = 0; i < changes->len; i++)
    {
      Change *c = changes->pdata[i];
      if (!c->in_result)
        continue;
      if (n++)
        g_string_append_c (s, ',');
      dt_json_string (s, c->name);
      g_string_append_c (s, ':');
      if (c->result_null || !c->after)
        g_string_append (s, "null");
      else
        dt_json_twin (s, c->after, c->result_mask);
    }
  g_string_append (s, "}}");
  topic = device_topic (device_id, "/twin/update/result");
  dt_publish (txn, topic, g_string_free (s, FALSE));
  queue_outputs (self, txn, d, changes, u->event_id, now);
  {
    /* if the write fails the mapper gets a 500 instead of the result */
    EcMessage *m = ec_message_new ("twin", "bus", EC_OP_PUBLISH, topic);
    g_autofree char *err = dt_json_error (u->event_id, 500,
                                          "update device twin failed due to writing sql error");
    ec_message_set_content_string (m, err);
    dt_txn_fail_send (txn, "eventbus", m);
  }
  dt_commit (self, txn);
}

/* $hw/events/device/<id>/twin/get from a mapper: all twins, no versions,
 * tombstones left out. */
void
dt_twin_handle_get (DeviceTwin *self, const char *device_id, const char *payload)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonNode) root = dt_parse_text (payload, &error);
  g_autofree char *event_id = NULL;
  g_autofree char *topic = device_topic (device_id, "/twin/get/result");
  DtDevice *d;
  GString *s;
  guint n;
  g_autofree char **keys = NULL;
  gboolean comma = FALSE;

  if (!root || !dt_parse_base (root, &event_id, &error))
    {
      g_autofree char *reason = g_strdup_printf ("Unmarshal twin info %.200s failed , err: %s",
                                                 payload, error ? error->message : "invalid");
      dt_warn_limited (self, &self->rl_bad_payload, "twin get for %s rejected: %s", device_id,
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
  s = g_string_new ("{");
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
      dt_json_string (s, keys[i]);
      g_string_append_c (s, ':');
      dt_json_twin (s, t, DT_W_ALL);
    }
  g_string_append (s, "}}");
  dt_publish_now (self, topic, g_string_free (s, FALSE));
}

/* Applies twins from the cloud (membership, cloud_updated) within txn:
 * document and delta to the mapper, rejected items back to the cloud. */
void
dt_twin_apply_sync (DeviceTwin *self, DtTxn *txn, DtDevice *d, DtTwinUpdate *u)
{
  gint64 now = g_get_real_time () / 1000;
  g_autoptr (GPtrArray) changes = apply_twins (d, u, FALSE, now, txn);

  queue_outputs (self, txn, d, changes, u->event_id ? u->event_id : "", now);
}

/* Legacy device/<id>/twin/cloud_updated from the cloud (v1.9.2). */
void
dt_twin_handle_cloud_sync (DeviceTwin *self, EcMessage *message, const char *device_id)
{
  g_autofree char *text = ec_message_dup_content_string (message);
  g_autoptr (JsonNode) root = dt_parse_text (text, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (DtTwinUpdate) u = NULL;
  DtDevice *d = g_hash_table_lookup (self->devices, device_id);
  DtTxn *txn;

  if (!d)
    {
      dt_warn_limited (self, &self->rl_bad_payload, "cloud twin sync for unknown device %s", device_id);
      return;
    }
  u = dt_parse_twin_update (root, &error);
  if (!u)
    {
      dt_warn_limited (self, &self->rl_bad_payload, "cloud twin sync for %s rejected: %s",
                       device_id, error->message);
      return;
    }
  txn = dt_txn_new ();
  dt_twin_apply_sync (self, txn, d, u);
  dt_cloud_ack (self, txn, message);
  dt_commit (self, txn);
}
