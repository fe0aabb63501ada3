/* probe-grpc.c: kubelet's grpc probe: grpc.health.v1.Health/Check with
 * the probe's service over plaintext HTTP/2 (h2c) to the pod's IP and the
 * probe's port, with edged's gRPC client (cri-client.c, over TCP here), all
 * within the probe's timeout (also sent as grpc-timeout). SERVING is a
 * success; any other status, an error status (UNIMPLEMENTED: the server has
 * no health service), a broken connection or the deadline fail, with
 * kubelet's messages. One connection per attempt, closed afterwards. */
#include "probe.h"
#include "cri-client.h"
#include "health-v1.pb-c.h"

#define HEALTH_CHECK     "/grpc.health.v1.Health/Check"
#define RESPONSE_MAX     4096     /* a HealthCheckResponse is 2 bytes */

typedef struct {
  EdgedCriClient *client;
  char           *address;       /* host:port, for messages */
  guint           timeout_ms;
  GCancellable   *outer;
  gulong          outer_handler;
  guint           idle;          /* the end, outside the client's callbacks */
  gboolean        finished;
  EdgedProbeResult result;
  char           *detail;
  EdgedProbeDone  done;
  gpointer        data;
} Grpc;

/* Runs the caller's callback and frees everything, from the main loop. */
static gboolean
grpc_end (gpointer data)
{
  Grpc *g = data;
  g->idle = 0;
  if (g->outer_handler)
    g_cancellable_disconnect (g->outer, g->outer_handler);
  g_clear_object (&g->outer);
  edged_cri_client_free (g->client);   /* drops a call still in flight */
  g->done (g->result, g->detail, g->data);
  g_free (g->detail);
  g_free (g->address);
  g_free (g);
  return G_SOURCE_REMOVE;
}

static void
grpc_finish (Grpc *g, EdgedProbeResult result, char *detail)
{
  if (g->finished)
    {
      g_free (detail);
      return;
    }
  g->finished = TRUE;
  g->result = result;
  g->detail = detail;
  g->idle = g_idle_add (grpc_end, g);
}

/* The outcome of a Check call as kubelet words it; response may be NULL. */
static EdgedProbeResult
grpc_outcome (const Grpc *g, const Grpc__Health__V1__HealthCheckResponse *response,
              const GError *error, char **detail)
{
  if (error && g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNIMPLEMENTED))
    *detail = g_strdup_printf ("error: this server does not implement the grpc health protocol "
                               "(grpc.health.v1.Health): %s", error->message);
  else if (error && g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_DEADLINE_EXCEEDED))
    *detail = g_strdup_printf ("timeout: health rpc did not complete within %gs",
                               g->timeout_ms / 1000.0);
  else if (error && g_error_matches (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNAVAILABLE)
           && g_strrstr (error->message, "cannot connect"))
    *detail = g_strdup_printf ("error: failed to connect service at \"%s\": %s", g->address,
                               error->message);
  else if (error)
    *detail = g_strdup_printf ("error: health rpc probe failed: %s", error->message);
  else if (response->status != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING)
    {
      const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (
        &grpc__health__v1__health_check_response__serving_status__descriptor, response->status);
      *detail = v ? g_strdup_printf ("service unhealthy (responded with \"%s\")", v->name)
                  : g_strdup_printf ("service unhealthy (responded with \"%d\")", response->status);
    }
  else
    {
      *detail = g_strdup ("service healthy");
      return EDGED_PROBE_SUCCESS;
    }
  return EDGED_PROBE_FAILURE;
}

static void
on_reply (ProtobufCMessage *response, const GError *error, gpointer data)
{
  Grpc *g = data;
  char *detail = NULL;
  EdgedProbeResult result = grpc_outcome (g, (Grpc__Health__V1__HealthCheckResponse *) response,
                                          error, &detail);
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
  grpc_finish (g, result, detail);
}

static void
on_outer_cancelled (GCancellable *outer, gpointer data)
{
  grpc_finish (data, EDGED_PROBE_FAILURE, g_strdup ("cancelled"));
}

/* One grpc probe attempt on host (the pod's IP); done runs once, never
 * inside this call. */
void
edged_probe_grpc (const EdgedProbeSpec *spec, const char *host, guint timeout_ms,
                  GCancellable *cancel, EdgedProbeDone done, gpointer data)
{
  Grpc *g = g_new0 (Grpc, 1);
  Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;

  g->client = edged_cri_client_new_tcp (host, (guint16) spec->port, RESPONSE_MAX);
  g->address = g_strdup (edged_cri_client_get_path (g->client));
  g->timeout_ms = MAX (timeout_ms, 1);
  g->done = done;
  g->data = data;
  req.service = spec->service ? spec->service : (char *) "";
  edged_cri_client_call (g->client, HEALTH_CHECK, &req.base,
                         &grpc__health__v1__health_check_response__descriptor, g->timeout_ms,
                         on_reply, g, NULL);
  if (cancel)
    {
      g->outer = g_object_ref (cancel);
      g->outer_handler = g_cancellable_connect (cancel, G_CALLBACK (on_outer_cancelled), g, NULL);
    }
}
