/* bench-message.c: the wire codec of EcMessage (plugin-api/ec-message-json.c).
 *
 * Every figure is printed as one line `BENCH <name> <value> <unit>`:
 *
 * message.decode          ec_message_new_from_json + unref of a pod insert
 *                         frame as cloudcore sends it (~2 KB of content)
 * message.decode_mb       the same in MB/s of wire JSON
 * message.encode          ec_message_to_json + g_free of that message
 * message.encode_mb       the same in MB/s of wire JSON produced
 * message.decode_small    decode of an edgehub keepalive frame
 * message.encode_small    encode of that keepalive
 * message.content_parse   decode + ec_message_get_content_node (json-glib
 *                         parse of the pod), what a plugin that reads the
 *                         pod pays on top of the decode
 *
 * Options: --seconds=S per figure (default 1), --warmup=S (default 0.2),
 * --repeat=N (measure N times, report the best run), --only=NAME (run one
 * figure; may be repeated). */
#include "edgecore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double opt_seconds = 1.0;
static double opt_warmup = 0.2;
static int opt_repeat = 1;
static char **opt_only = NULL;

/* A pod as cloudcore's edgecontroller sends it to edged/metamanager:
 * operation insert on <namespace>/pod/<name>, the pod object as content. */
static const char pod_frame[] =
  "{\"header\":{\"msg_id\":\"5f0f5c8e-7c2b-4d3e-9a61-0d2b1f5e8a47\",\"timestamp\":1718090412345,"
  "\"resourceversion\":\"834211\"},"
  "\"route\":{\"source\":\"edgecontroller\",\"group\":\"resource\",\"operation\":\"insert\","
  "\"resource\":\"default/pod/nginx-deployment-7c79c4bf97-x2k9q\"},"
  "\"content\":{\"metadata\":{\"name\":\"nginx-deployment-7c79c4bf97-x2k9q\","
  "\"generateName\":\"nginx-deployment-7c79c4bf97-\",\"namespace\":\"default\","
  "\"uid\":\"1b8e5d2a-3f47-4c6e-8a1d-9e0f2b7c4d61\",\"resourceVersion\":\"834211\","
  "\"creationTimestamp\":\"2024-06-11T07:20:12Z\","
  "\"labels\":{\"app\":\"nginx\",\"pod-template-hash\":\"7c79c4bf97\",\"tier\":\"edge\"},"
  "\"annotations\":{\"kubernetes.io/psp\":\"edge-restricted\","
  "\"prometheus.io/scrape\":\"true\",\"prometheus.io/port\":\"9113\"},"
  "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
  "\"name\":\"nginx-deployment-7c79c4bf97\",\"uid\":\"a4c2e1f0-5b6d-4e8f-9a0b-1c2d3e4f5a6b\","
  "\"controller\":true,\"blockOwnerDeletion\":true}]},"
  "\"spec\":{\"volumes\":[{\"name\":\"config\",\"configMap\":{\"name\":\"nginx-config\",\"defaultMode\":420}},"
  "{\"name\":\"kube-api-access-7x2pq\",\"projected\":{\"sources\":[{\"serviceAccountToken\":"
  "{\"expirationSeconds\":3607,\"path\":\"token\"}},{\"configMap\":{\"name\":\"kube-root-ca.crt\","
  "\"items\":[{\"key\":\"ca.crt\",\"path\":\"ca.crt\"}]}},{\"downwardAPI\":{\"items\":[{\"path\":\"namespace\","
  "\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"metadata.namespace\"}}]}}],\"defaultMode\":420}}],"
  "\"containers\":[{\"name\":\"nginx\",\"image\":\"docker.io/library/nginx:1.25.4-alpine\","
  "\"command\":[\"nginx\",\"-g\",\"daemon off;\"],"
  "\"ports\":[{\"name\":\"http\",\"containerPort\":80,\"protocol\":\"TCP\"},"
  "{\"name\":\"metrics\",\"containerPort\":9113,\"protocol\":\"TCP\"}],"
  "\"env\":[{\"name\":\"NGINX_WORKER_PROCESSES\",\"value\":\"2\"},"
  "{\"name\":\"NODE_NAME\",\"valueFrom\":{\"fieldRef\":{\"apiVersion\":\"v1\",\"fieldPath\":\"spec.nodeName\"}}}],"
  "\"resources\":{\"limits\":{\"cpu\":\"500m\",\"memory\":\"128Mi\"},\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"}},"
  "\"volumeMounts\":[{\"name\":\"config\",\"readOnly\":true,\"mountPath\":\"/etc/nginx/conf.d\"},"
  "{\"name\":\"kube-api-access-7x2pq\",\"readOnly\":true,"
  "\"mountPath\":\"/var/run/secrets/kubernetes.io/serviceaccount\"}],"
  "\"livenessProbe\":{\"httpGet\":{\"path\":\"/healthz\",\"port\":80,\"scheme\":\"HTTP\"},"
  "\"initialDelaySeconds\":10,\"timeoutSeconds\":1,\"periodSeconds\":10,\"successThreshold\":1,\"failureThreshold\":3},"
  "\"readinessProbe\":{\"httpGet\":{\"path\":\"/ready\",\"port\":80,\"scheme\":\"HTTP\"},"
  "\"timeoutSeconds\":1,\"periodSeconds\":5,\"successThreshold\":1,\"failureThreshold\":3},"
  "\"terminationMessagePath\":\"/dev/termination-log\",\"terminationMessagePolicy\":\"File\","
  "\"imagePullPolicy\":\"IfNotPresent\"}],"
  "\"restartPolicy\":\"Always\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\","
  "\"serviceAccountName\":\"default\",\"serviceAccount\":\"default\",\"nodeName\":\"edge-node-01\","
  "\"securityContext\":{},\"schedulerName\":\"default-scheduler\","
  "\"tolerations\":[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
  "\"tolerationSeconds\":300},{\"key\":\"node.kubernetes.io/unreachable\",\"operator\":\"Exists\","
  "\"effect\":\"NoExecute\",\"tolerationSeconds\":300}],\"priority\":0,\"enableServiceLinks\":true,"
  "\"preemptionPolicy\":\"PreemptLowerPriority\"},"
  "\"status\":{\"phase\":\"Pending\",\"qosClass\":\"Burstable\"}}}";

/* edgehub's keepalive: BuildRouter(edgehub, resource, node, keepalive), "ping". */
static const char keepalive_frame[] =
  "{\"header\":{\"msg_id\":\"0b6c1e2d-4f3a-4b5c-8d7e-6f5a4b3c2d1e\",\"timestamp\":1718090412345},"
  "\"route\":{\"source\":\"edgehub\",\"group\":\"resource\",\"operation\":\"keepalive\","
  "\"resource\":\"node\"},\"content\":\"ping\"}";

typedef enum { OP_DECODE, OP_ENCODE, OP_CONTENT_PARSE } Op;

static volatile gsize sink;

/* Runs op over and over for opt_seconds after opt_warmup; returns ops/s. */
static double
measure_once (Op op, const char *frame, gsize frame_len, EcMessage *msg)
{
  gint64 warm_end = g_get_monotonic_time () + (gint64) (opt_warmup * G_USEC_PER_SEC);
  gint64 t0 = 0, end = 0, now;
  guint64 n = 0;
  gboolean measuring = FALSE;

  for (;;)
    {
      for (guint i = 0; i < 256; i++)
        {
          switch (op)
            {
            case OP_DECODE:
              {
                EcMessage *m = ec_message_new_from_json (frame, frame_len, NULL);
                sink += ec_message_get_timestamp (m) != 0;
                ec_message_unref (m);
                break;
              }
            case OP_ENCODE:
              {
                gsize len;
                char *text = ec_message_to_json (msg, &len);
                sink += len;
                g_free (text);
                break;
              }
            case OP_CONTENT_PARSE:
              {
                EcMessage *m = ec_message_new_from_json (frame, frame_len, NULL);
                sink += ec_message_get_content_node (m, NULL) != NULL;
                ec_message_unref (m);
                break;
              }
            }
        }
      now = g_get_monotonic_time ();
      if (measuring)
        {
          n += 256;
          if (now >= end)
            break;
        }
      else if (now >= warm_end)
        {
          measuring = TRUE;
          t0 = now;
          end = now + (gint64) (opt_seconds * G_USEC_PER_SEC);
        }
    }
  return (double) n * G_USEC_PER_SEC / (double) (now - t0);
}

static double
measure (Op op, const char *frame, gsize frame_len, EcMessage *msg)
{
  double best = 0;
  for (int i = 0; i < MAX (opt_repeat, 1); i++)
    {
      double r = measure_once (op, frame, frame_len, msg);  /* not inside MAX */
      best = MAX (best, r);
    }
  return best;
}

static EcMessage *
decode_or_die (const char *frame)
{
  g_autoptr (GError) error = NULL;
  EcMessage *m = ec_message_new_from_json (frame, -1, &error);
  if (!m)
    {
      g_printerr ("bench-message: a sample frame does not decode: %s\n", error->message);
      exit (1);
    }
  return m;
}

/* Measures one figure, if wanted, and prints it (and MB/s when bytes). */
static void
report (const char *name, Op op, const char *frame, gsize frame_len, EcMessage *msg,
        gsize bytes)
{
  double ops;
  if (opt_only && !g_strv_contains ((const char *const *) opt_only, name))
    return;
  ops = measure (op, frame, frame_len, msg);
  printf ("BENCH %s %.0f msg/s\n", name, ops);
  if (bytes)
    printf ("BENCH %s_mb %.1f MB/s\n", name, ops * (double) bytes / 1e6);
  fflush (stdout);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) opts = NULL;
  GOptionEntry entries[] = {
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds, "measure each figure for S seconds", "S" },
    { "warmup", 'w', 0, G_OPTION_ARG_DOUBLE, &opt_warmup, "warm up for S seconds first", "S" },
    { "repeat", 'r', 0, G_OPTION_ARG_INT, &opt_repeat, "measure N times, report the best", "N" },
    { "only", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &opt_only, "run only figure NAME (repeatable)", "NAME" },
    { NULL },
  };
  g_autoptr (EcMessage) pod = NULL;
  g_autoptr (EcMessage) keepalive = NULL;
  g_autofree char *pod_wire = NULL, *keepalive_wire = NULL;
  gsize pod_content_len, pod_len, keepalive_len;
  JsonNode *node;

  opts = g_option_context_new (NULL);
  g_option_context_add_main_entries (opts, entries, NULL);
  if (!g_option_context_parse (opts, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  /* check the samples: they decode, re-encode to the same bytes, and the
   * pod's content is a JSON object */
  pod = decode_or_die (pod_frame);
  keepalive = decode_or_die (keepalive_frame);
  pod_wire = ec_message_to_json (pod, &pod_len);
  keepalive_wire = ec_message_to_json (keepalive, &keepalive_len);
  if (strcmp (pod_wire, pod_frame) != 0 || strcmp (keepalive_wire, keepalive_frame) != 0)
    g_printerr ("bench-message: warning: a sample does not re-encode to the same bytes\n");
  node = ec_message_get_content_node (pod, &error);
  if (!node || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_printerr ("bench-message: the pod content does not parse\n");
      return 1;
    }
  ec_message_get_content_json (pod, &pod_content_len);
  g_printerr ("bench-message: pod frame %zu bytes (content %zu), keepalive frame %zu bytes\n",
              sizeof pod_frame - 1, pod_content_len, sizeof keepalive_frame - 1);

  report ("message.decode", OP_DECODE, pod_frame, sizeof pod_frame - 1, NULL,
          sizeof pod_frame - 1);
  report ("message.encode", OP_ENCODE, NULL, 0, pod, pod_len);
  report ("message.decode_small", OP_DECODE, keepalive_frame, sizeof keepalive_frame - 1,
          NULL, 0);
  report ("message.encode_small", OP_ENCODE, NULL, 0, keepalive, 0);
  report ("message.content_parse", OP_CONTENT_PARSE, pod_frame, sizeof pod_frame - 1, NULL, 0);
  g_strfreev (opt_only);
  return 0;
}
