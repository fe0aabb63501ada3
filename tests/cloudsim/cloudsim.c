/* cloudsim.c: a KubeEdge cloud (cloudcore's cloudhub and certificate
 * server) for one node, on 127.0.0.1 only. It is the project's test double
 * and what a new user runs to watch a node join a cloud on one machine:
 *
 *   cloudsim --dir DIR --port 10000 [--profile v1.9.2]
 *
 * The default profile makes its own CA and server certificate and serves
 * them as CloudCore HEAD does; --profile v1.9.2 serves what a default
 * CloudCore v1.9.2 serves, from tests/data/tls-v1.9.2 (or --profile-dir):
 * its CA and its server certificate (subjectAltName "DNS:, IP:127.0.0.1")
 * on both ports, a client certificate requested but not required nor
 * verified on the certificate port, required and verified on the websocket
 * port, TLS 1.2 there with only ECDHE-ECDSA-AES128-GCM-SHA256 (or TLS 1.3),
 * and node certificates with the CSR's subject, renewed on the chain alone.
 *
 * prints a join token and the conf.d lines for the node, then reads
 * commands on stdin (and from --script): send JSON, big N, raw TEXT,
 * binary TEXT, flood N SIZE WINDOW, drop, close, ack-delay MS, ignore-acks
 * on|off, refuse-token on|off, reply on|off, status, quit; a script may also
 * use sleep MS and wait-connect. See docs/edgehub.md.
 *
 * With --tunnel-port it also runs cloudcore's cloudStream (cs-stream.c):
 * the tunnel server edgestream dials and the stream server kube-apiserver
 * speaks to (--stream-port, HTTPS with --stream-tls), with the commands stream-pod NS/NAME NODE,
 * stream-id N, stream-raw HEX, stream-close-connect TEXT, stream-pause
 * on|off (stop reading the tunnels), stream-drop and stream-status. See docs/edgestream.md. */
#include "cs-hub.h"
#include "cs-stream.h"

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  GMainLoop        *loop;
  CsHub            *hub;
  CsStream         *stream;     /* --tunnel-port: cloudcore's cloudStream */
  GDataInputStream *stdin_lines;
  GCancellable     *cancel;
  char            **script;     /* remaining script lines */
  guint             script_pos;
  gboolean          waiting_connect;
} Sim;

static void run_script (Sim *sim);

/* Ends the main loop. */
static gboolean
quit (gpointer data)
{
  Sim *sim = data;
  g_main_loop_quit (sim->loop);
  return G_SOURCE_CONTINUE;
}

/* Runs a command and prints its answer. */
static void
run_command (Sim *sim, const char *line)
{
  g_autoptr (GString) reply = g_string_new (NULL);
  if (g_str_has_prefix (line, "stream-") && sim->stream)
    cs_stream_command (sim->stream, line, reply);
  else
    cs_hub_command (sim->hub, line, reply);
  if (reply->len)
    g_print ("> %s\n", reply->str);
}

/* Continues the script after a sleep. */
static gboolean
script_resume (gpointer data)
{
  run_script (data);
  return G_SOURCE_REMOVE;
}

/* A node connected: a script waiting for it goes on. */
static gboolean
on_connect (gpointer data)
{
  Sim *sim = data;
  if (sim->waiting_connect)
    {
      sim->waiting_connect = FALSE;
      g_idle_add (script_resume, sim);
    }
  return G_SOURCE_CONTINUE;
}

/* Runs script lines until one waits. */
static void
run_script (Sim *sim)
{
  while (sim->script && sim->script[sim->script_pos])
    {
      const char *line = sim->script[sim->script_pos++];
      if (g_str_has_prefix (line, "sleep "))
        {
          g_timeout_add ((guint) g_ascii_strtoull (line + 6, NULL, 10), script_resume, sim);
          return;
        }
      if (g_str_has_prefix (line, "wait-connect"))
        {
          if (!cs_hub_is_connected (sim->hub))
            {
              sim->waiting_connect = TRUE;
              return;
            }
          continue;
        }
      run_command (sim, line);
    }
}

/* Reads the next command from stdin. */
static void read_stdin (Sim *sim);

static void
on_stdin_line (GObject *source, GAsyncResult *res, gpointer data)
{
  Sim *sim = data;
  g_autoptr (GError) error = NULL;
  gsize len;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                     res, &len, &error);
  if (!line)
    {
      if (error && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_printerr ("cloudsim: stdin: %s\n", error->message);
      return;   /* end of input: keep serving */
    }
  g_strstrip (line);
  run_command (sim, line);
  read_stdin (sim);
}

static void
read_stdin (Sim *sim)
{
  g_data_input_stream_read_line_async (sim->stdin_lines, G_PRIORITY_DEFAULT, sim->cancel,
                                       on_stdin_line, sim);
}

/* Writes a small text file into dir. */
static void
save (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  if (!g_file_set_contents (path, text, -1, &error))
    g_printerr ("cloudsim: %s\n", error->message);
}

/* Profile v1.9.2: the cloud's CA is the one of the captured cloud. */
static gboolean
copy_ca (const char *from, const char *dir, GError **error)
{
  const char *names[] = { "ca.crt", "ca.key" };
  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot create %s", dir);
      return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *src = g_build_filename (from, names[i], NULL);
      g_autofree char *dst = g_build_filename (dir, names[i], NULL);
      g_autofree char *data = NULL;
      gsize len;
      if (!g_file_get_contents (src, &data, &len, error)
          || !g_file_set_contents_full (dst, data, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error))
        return FALSE;
    }
  return TRUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *dir = NULL, *record = NULL, *script = NULL, *server_name = NULL, *node = NULL;
  g_autofree char *profile = NULL, *profile_dir = NULL;
  gint port = 10000, https_port = -1, resend_ms = 5000;
  gboolean relay = FALSE;
  gint tunnel_port = -1, stream_port = -1, kubelet_port = 10350;
  gboolean stream_tls = FALSE;
  gint64 token_ttl = 86400, edge_validity = 365 * 86400, edge_offset = 0;
  gboolean bad_hash = FALSE, server_expired = FALSE;
  GOptionEntry entries[] = {
    { "dir", 0, 0, G_OPTION_ARG_FILENAME, &dir, "keep the CA, certificates, token and record here (required)", "DIR" },
    { "port", 0, 0, G_OPTION_ARG_INT, &port, "WSS port of the hub, 0 = any free port (default 10000)", "P" },
    { "https-port", 0, 0, G_OPTION_ARG_INT, &https_port, "HTTPS port of the certificate server (default P+2, or any if P is 0)", "P" },
    { "node", 0, 0, G_OPTION_ARG_STRING, &node, "node name to print in the conf.d lines", "NAME" },
    { "record", 0, 0, G_OPTION_ARG_FILENAME, &record, "JSON lines of everything seen (default DIR/record.jsonl)", "FILE" },
    { "script", 0, 0, G_OPTION_ARG_FILENAME, &script, "commands to run, one per line", "FILE" },
    { "token-ttl", 0, 0, G_OPTION_ARG_INT64, &token_ttl, "seconds the printed token is valid; negative: already expired", "S" },
    { "bad-ca-hash", 0, 0, G_OPTION_ARG_NONE, &bad_hash, "print a token whose CA hash is wrong", NULL },
    { "server-name", 0, 0, G_OPTION_ARG_STRING, &server_name, "name in the hub certificate (default 127.0.0.1)", "NAME" },
    { "server-cert-expired", 0, 0, G_OPTION_ARG_NONE, &server_expired, "serve an expired hub certificate", NULL },
    { "edge-cert-validity", 0, 0, G_OPTION_ARG_INT64, &edge_validity, "seconds a signed node certificate is valid", "S" },
    { "edge-cert-offset", 0, 0, G_OPTION_ARG_INT64, &edge_offset, "seconds added to a signed certificate's start", "S" },
    { "profile", 0, 0, G_OPTION_ARG_STRING, &profile, "default (CloudCore HEAD, own CA) or v1.9.2 (the TLS of a default CloudCore v1.9.2)", "NAME" },
    { "profile-dir", 0, 0, G_OPTION_ARG_FILENAME, &profile_dir, "the v1.9.2 certificates (default " CLOUDSIM_V192_DIR ")", "DIR" },
    { "relay", 0, 0, G_OPTION_ARG_NONE, &relay, "relay the WSS port through cloudsim itself, so that `silent` can freeze a live connection", NULL },
    { "tunnel-port", 0, 0, G_OPTION_ARG_INT, &tunnel_port, "run cloudStream: its tunnel port (cloudcore 10004), 0 = any free port", "P" },
    { "stream-port", 0, 0, G_OPTION_ARG_INT, &stream_port, "cloudStream's port for kube-apiserver (cloudcore 10003; default 10003, or any if --tunnel-port is 0)", "P" },
    { "stream-tls", 0, 0, G_OPTION_ARG_NONE, &stream_tls, "serve the stream port over TLS, with the hub's certificate", NULL },
    { "stream-kubelet-port", 0, 0, G_OPTION_ARG_INT, &kubelet_port, "the node's kubelet port named in stream connectors (cloudcore: always 10350)", "P" },
    { "resend-ms", 0, 0, G_OPTION_ARG_INT, &resend_ms, "resend unacked messages after this long (default 5000)", "MS" },
    { NULL }
  };
  g_autoptr (GOptionContext) octx = g_option_context_new ("- a KubeEdge cloudhub for one node, on 127.0.0.1");
  g_autoptr (GError) error = NULL;
  g_autoptr (CsPki) pki = NULL;
  g_autofree char *token = NULL, *conf = NULL, *bad_token = NULL;
  CsPkiOptions popt = { 0 };
  CsHubOptions hopt = { 0 };
  Sim sim = { 0 };
  g_autoptr (GInputStream) in = NULL;

  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error) || !dir)
    {
      g_printerr ("cloudsim: %s\n", error ? error->message : "--dir is required");
      return 2;
    }
  if (profile && g_strcmp0 (profile, "default") != 0 && g_strcmp0 (profile, "v1.9.2") != 0)
    {
      g_printerr ("cloudsim: unknown --profile %s (default or v1.9.2)\n", profile);
      return 2;
    }
  if (g_strcmp0 (profile, "v1.9.2") == 0)
    {
      if (!profile_dir)
        profile_dir = g_strdup (CLOUDSIM_V192_DIR);
      if (!copy_ca (profile_dir, dir, &error))
        {
          g_printerr ("cloudsim: %s\n", error->message);
          return 1;
        }
      popt.no_server_cert = TRUE;
      hopt.v192_dir = profile_dir;
    }
  popt.server_name = server_name;
  popt.server_expired = server_expired;
  pki = cs_pki_open (dir, &popt, &error);
  if (!pki)
    {
      g_printerr ("cloudsim: %s\n", error->message);
      return 1;
    }
  if (!record)
    record = g_build_filename (dir, "record.jsonl", NULL);
  hopt.port = (guint) MAX (port, 0);
  hopt.https_port = https_port >= 0 ? (guint) https_port : port > 0 ? (guint) port + 2 : 0;
  hopt.record_path = record;
  hopt.edge_cert_validity = edge_validity;
  hopt.edge_cert_offset = edge_offset;
  hopt.resend_ms = (guint) MAX (resend_ms, 1);
  hopt.relay = relay;
  sim.hub = cs_hub_new (pki, &hopt, &error);
  if (!sim.hub)
    {
      g_printerr ("cloudsim: %s\n", error->message);
      return 1;
    }
  if (tunnel_port >= 0)
    {
      CsStreamOptions sopt = {
        .tunnel_port = (guint) tunnel_port,
        .api_port = stream_port >= 0 ? (guint) stream_port : tunnel_port == 0 ? 0 : 10003,
        .kubelet_port = (guint) CLAMP (kubelet_port, 1, 65535),
        .v192 = hopt.v192_dir != NULL,
        .api_tls = stream_tls,
      };
      sim.stream = cs_stream_new (sim.hub, &sopt, &error);
      if (!sim.stream)
        {
          g_printerr ("cloudsim: cloudStream: %s\n", error->message);
          return 1;
        }
    }
  token = cs_pki_make_token (pki, g_get_real_time () / G_USEC_PER_SEC + token_ttl);
  if (bad_hash)
    {
      bad_token = g_strdup (token);
      bad_token[0] = bad_token[0] == '0' ? '1' : '0';
      g_free (token);
      token = g_steal_pointer (&bad_token);
    }
  conf = g_strdup_printf ("%s%s%s[edgehub]\nwebsocket-server=127.0.0.1:%u\n"
                          "http-server=https://127.0.0.1:%u\ntoken=%s\n",
                          node ? "[core]\nnode-name=" : "", node ? node : "", node ? "\n\n" : "",
                          cs_hub_get_port (sim.hub), cs_hub_get_https_port (sim.hub), token);
  save (dir, "token", token);
  save (dir, "edgehub.conf", conf);
  if (sim.stream)
    {
      g_autofree char *sconf = g_strdup_printf ("[edgestream]\nenable=true\nserver=127.0.0.1:%u\n",
                                                cs_stream_get_tunnel_port (sim.stream));
      save (dir, "edgestream.conf", sconf);
      g_print ("cloudsim: cloudStream tunnel wss://127.0.0.1:%u, stream server %s://127.0.0.1:%u "
               "(also in %s/edgestream.conf)\n", cs_stream_get_tunnel_port (sim.stream), stream_tls ? "https" : "http",
               cs_stream_get_api_port (sim.stream), dir);
    }
  g_print ("cloudsim: hub wss://127.0.0.1:%u, certificates https://127.0.0.1:%u, CA %s/ca.crt, profile %s\n",
           cs_hub_get_port (sim.hub), cs_hub_get_https_port (sim.hub), dir, profile ? profile : "default");
  g_print ("token: %s\n", token);
  g_print ("# conf.d lines for the node (also in %s/edgehub.conf):\n%s", dir, conf);
  g_print ("ready\n");
  fflush (stdout);

  sim.loop = g_main_loop_new (NULL, FALSE);
  sim.cancel = g_cancellable_new ();
  cs_hub_set_quit_func (sim.hub, quit, &sim);
  cs_hub_set_connect_func (sim.hub, on_connect, &sim);
  g_unix_signal_add (SIGTERM, quit, &sim);
  g_unix_signal_add (SIGINT, quit, &sim);
  in = g_unix_input_stream_new (0, FALSE);
  sim.stdin_lines = g_data_input_stream_new (in);
  read_stdin (&sim);
  if (script)
    {
      g_autofree char *text = NULL;
      if (!g_file_get_contents (script, &text, NULL, &error))
        {
          g_printerr ("cloudsim: %s\n", error->message);
          return 1;
        }
      sim.script = g_strsplit (text, "\n", -1);
      run_script (&sim);
    }
  g_main_loop_run (sim.loop);

  g_cancellable_cancel (sim.cancel);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_clear_object (&sim.stdin_lines);
  g_clear_object (&sim.cancel);
  cs_stream_free (sim.stream);
  cs_hub_free (sim.hub);
  g_strfreev (sim.script);
  g_main_loop_unref (sim.loop);
  return 0;
}
