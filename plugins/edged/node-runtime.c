/* node-runtime.c: the runtime's health, as kubelet's runtime state: CRI
 * Version then Status, at start, every 5 s while healthy, and with a
 * doubling backoff (1 s to 30 s) while the runtime is down, missing or not
 * ready. edged never stops for it: the node's Ready condition carries the
 * reason, and the first good answer makes it Ready again. */
#include "edged.h"

#include <string.h>

#define HEALTH_PERIOD_MS   5000
#define BACKOFF_FIRST_MS   1000
#define BACKOFF_MAX_MS     30000
#define PROBE_TIMEOUT_MS   10000

static void probe (Edged *self);

static gboolean
probe_due (gpointer data)
{
  Edged *self = data;
  self->health.timer = 0;
  probe (self);
  return G_SOURCE_REMOVE;
}

/* Records the outcome; problem NULL means ready. */
static void
probe_done (Edged *self, const char *problem)
{
  EdgedHealth *h = &self->health;
  gboolean changed = !h->probed || (problem == NULL) != h->ready
                     || g_strcmp0 (problem, h->problem) != 0;
  guint next;

  if (problem && (h->ready || !h->probed || g_strcmp0 (problem, h->problem)))
    ec_log_warning (self->context, "container runtime not ready: %s", problem);
  else if (!problem && !h->ready && h->probed)
    ec_log_message (self->context, "container runtime %s %s is ready again", h->name, h->version);
  else if (!problem && !h->probed)
    ec_log_info (self->context, "container runtime %s %s (CRI v1) is ready", h->name, h->version);
  h->in_flight = FALSE;
  h->probed = TRUE;
  h->ready = problem == NULL;
  g_free (h->problem);
  h->problem = g_strdup (problem);
  if (h->ready)
    {
      h->backoff_ms = 0;
      next = HEALTH_PERIOD_MS;
    }
  else
    {
      h->backoff_ms = h->backoff_ms ? MIN (h->backoff_ms * 2, BACKOFF_MAX_MS) : BACKOFF_FIRST_MS;
      next = h->backoff_ms;
    }
  h->timer = g_timeout_add (next, probe_due, self);
  if (!self->pods_loaded)
    edged_pods_load (self);
  if (changed)
    edged_node_runtime_changed (self);
}

static void
on_status (ProtobufCMessage *response, const GError *error, gpointer data)
{
  Edged *self = data;
  Runtime__V1__StatusResponse *s = (Runtime__V1__StatusResponse *) response;
  g_autofree char *problem = NULL;

  if (error)
    problem = g_strdup_printf ("container runtime status check failed: %s", error->message);
  else
    {
      gboolean ready = FALSE;
      const char *reason = "", *message = "";
      for (gsize i = 0; s->status && i < s->status->n_conditions; i++)
        if (!strcmp (s->status->conditions[i]->type, "RuntimeReady"))
          {
            ready = s->status->conditions[i]->status;
            reason = s->status->conditions[i]->reason;
            message = s->status->conditions[i]->message;
          }
      /* NetworkReady is not required: host-network pods run without a CNI */
      if (!ready)
        problem = g_strdup_printf ("container runtime not ready: RuntimeReady=false reason:%s "
                                   "message:%s", reason, message);
      protobuf_c_message_free_unpacked (response, NULL);
    }
  probe_done (self, problem);
}

static void
on_version (ProtobufCMessage *response, const GError *error, gpointer data)
{
  Edged *self = data;
  Runtime__V1__VersionResponse *v = (Runtime__V1__VersionResponse *) response;
  Runtime__V1__StatusRequest req = RUNTIME__V1__STATUS_REQUEST__INIT;

  if (error)
    {
      g_autofree char *problem = g_strdup_printf ("container runtime is down: %s",
                                                  error->message);
      probe_done (self, problem);
      return;
    }
  if (g_strcmp0 (v->runtime_api_version, "v1") != 0)
    {
      g_autofree char *problem = g_strdup_printf ("container runtime %s %s speaks CRI %s, not v1",
                                                  v->runtime_name, v->runtime_version,
                                                  v->runtime_api_version);
      protobuf_c_message_free_unpacked (response, NULL);
      probe_done (self, problem);
      return;
    }
  g_free (self->health.name);
  g_free (self->health.version);
  self->health.name = g_strdup (v->runtime_name);
  self->health.version = g_strdup (v->runtime_version);
  protobuf_c_message_free_unpacked (response, NULL);
  edged_cri_invoke (self->runtime, &edged_cri_status, &req.base,
                    MIN (PROBE_TIMEOUT_MS, self->request_timeout_ms), on_status, self, NULL);
}

static void
probe (Edged *self)
{
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  if (self->health.in_flight)
    return;
  self->health.in_flight = TRUE;
  req.version = (char *) "v1";
  edged_cri_invoke (self->runtime, &edged_cri_version, &req.base,
                    MIN (PROBE_TIMEOUT_MS, self->request_timeout_ms), on_version, self, NULL);
}

/* Starts probing the runtime. */
void
edged_health_start (Edged *self)
{
  probe (self);
}

/* Stops probing; the client (freed after this) drops a probe in flight. */
void
edged_health_stop (Edged *self)
{
  g_clear_handle_id (&self->health.timer, g_source_remove);
  g_clear_pointer (&self->health.problem, g_free);
  g_clear_pointer (&self->health.name, g_free);
  g_clear_pointer (&self->health.version, g_free);
}
