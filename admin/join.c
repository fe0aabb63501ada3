/* join.c: `edgecore join`, keadm join's flags (as in KubeEdge's
 * deployment guide and KubeSphere's console) turned into one conf.d file,
 * then the node's certificates and edgecore.service. */
#include "config.h"

#include "admin.h"
#include "bootstrap.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#define EDGE_TAINT "node-role.kubernetes.io/edge:NoSchedule"

typedef struct {
  char *version, *ipport, *name, *ip, *token, *runtime_ep, *cgroup, *labels, *region;
  char *hub_protocol, *runtime_type, *image_repo, *tarball, *cert_dir, *config_dir;
  int quic_port, cert_port, tunnel_port;
  gboolean taint, dry_run, force;
} JoinArgs;

static void
join_args_clear (JoinArgs *a)
{
  char **strs[] = { &a->version, &a->ipport, &a->name, &a->ip, &a->token, &a->runtime_ep, &a->cgroup,
                    &a->labels, &a->region, &a->hub_protocol, &a->runtime_type, &a->image_repo,
                    &a->tarball, &a->cert_dir, &a->config_dir };
  for (guint i = 0; i < G_N_ELEMENTS (strs); i++)
    g_clear_pointer (strs[i], g_free);
}

/* What join derives from its flags: the conf.d file and the paths. */
typedef struct {
  char *path;       /* the conf.d file */
  char *text;
  char *ws_server, *http_server, *node_name;
  char *ca_file, *cert_file, *key_file;
  char *old_files[3];   /* a previous join's certificates, left with --force */
} JoinPlan;

static void
join_plan_clear (JoinPlan *p)
{
  g_free (p->path);
  g_free (p->text);
  g_free (p->ws_server);
  g_free (p->http_server);
  g_free (p->node_name);
  g_free (p->ca_file);
  g_free (p->cert_file);
  g_free (p->key_file);
  for (guint i = 0; i < G_N_ELEMENTS (p->old_files); i++)
    g_free (p->old_files[i]);
}

static gboolean
check_args (JoinArgs *a, char **host, guint *port, char **labels, GError **error)
{
  if (!ec_check_host_port (a->ipport, host, port, error) || !ec_check_token (a->token, error))
    return FALSE;
  if (!ec_check_port ("--quicport", a->quic_port, error) || !ec_check_port ("--certport", a->cert_port, error)
      || (a->tunnel_port != -1 && !ec_check_port ("--tunnelport", a->tunnel_port, error)))
    return FALSE;
  if (!a->name)
    a->name = ec_default_node_name ();
  if (!ec_check_node_name (a->name, error))
    return FALSE;
  if (a->ip && !ec_check_ip (a->ip, error))
    return FALSE;
  if (a->cgroup && strcmp (a->cgroup, "cgroupfs") != 0 && strcmp (a->cgroup, "systemd") != 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--cgroupdriver=%s: expected cgroupfs or systemd"), a->cgroup);
      return FALSE;
    }
  if (a->hub_protocol && strcmp (a->hub_protocol, "websocket") != 0)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--hub-protocol=%s: edgecore connects over websocket only (KubeEdge's QUIC is "
                     "pre-standard gQUIC)"), a->hub_protocol);
      return FALSE;
    }
  if (a->runtime_ep && !g_str_has_prefix (a->runtime_ep, "unix://") && !g_str_has_prefix (a->runtime_ep, "tcp://")
      && !g_path_is_absolute (a->runtime_ep))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--remote-runtime-endpoint=%s: expected unix:///path/to/cri.sock"), a->runtime_ep);
      return FALSE;
    }
  *labels = NULL;
  if (a->labels && !(*labels = ec_check_labels (a->labels, error)))
    return FALSE;
  gint64 exp = ec_token_expiry (a->token);
  if (exp > 0 && exp < g_get_real_time () / G_USEC_PER_SEC)
    {
      g_autoptr (GDateTime) t = g_date_time_new_from_unix_utc (exp);
      g_autofree char *when = g_date_time_format_iso8601 (t);
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("the token expired at %s; make a new one on the cloud with “keadm gettoken”"), when);
      return FALSE;
    }
  return TRUE;
}

/* Builds the conf.d file from the checked flags. */
static void
make_plan (JoinArgs *a, const char *host, guint port, const char *labels, JoinPlan *p)
{
  g_autofree char *url_host = ec_host_for_url (host);
  g_autofree char *ca_dir = NULL;
  g_autofree char *quic = NULL, *tunnel = NULL;
  g_autofree char *header = NULL;
  EcConfWriter *w;

  p->path = g_build_filename (a->config_dir, EC_JOIN_CONF_NAME, NULL);
  p->node_name = g_strdup (a->name);
  p->ws_server = g_strdup_printf ("%s:%u", url_host, port);
  p->http_server = g_strdup_printf ("https://%s:%d", url_host, a->cert_port);
  quic = g_strdup_printf ("%s:%d", url_host, a->quic_port);
  tunnel = g_strdup_printf ("%s:%d", url_host, a->tunnel_port == -1 ? 10004 : a->tunnel_port);
  /* KubeEdge keeps the CA in /etc/kubeedge/ca next to /etc/kubeedge/certs */
  ca_dir = g_build_filename (a->cert_dir, "..", "ca", NULL);
  p->ca_file = g_canonicalize_filename ("rootCA.crt", ca_dir);
  p->cert_file = g_build_filename (a->cert_dir, "server.crt", NULL);
  p->key_file = g_build_filename (a->cert_dir, "server.key", NULL);

  header = g_strdup_printf ("Written by `edgecore join` for cloud %s (KubeEdge %s).\n"
                            "`edgecore reset` removes it, with the certificates it names.\n"
                            "It holds the join token: keep it mode 0600.",
                            p->ws_server, a->version ? a->version : "version not given");
  w = ec_confw_new (header);
  ec_confw_section (w, "core");
  ec_confw_set (w, "node-name", a->name);

  ec_confw_section (w, "edgehub");
  ec_confw_set (w, "websocket-server", p->ws_server);
  ec_confw_set (w, "http-server", p->http_server);
  ec_confw_set (w, "quic-server", quic);
  ec_confw_set (w, "token", a->token);
  ec_confw_set (w, "tls-ca-file", p->ca_file);
  ec_confw_set (w, "tls-cert-file", p->cert_file);
  ec_confw_set (w, "tls-private-key-file", p->key_file);

  ec_confw_section (w, "edgestream");
  if (a->tunnel_port != -1)
    {
      ec_confw_comment (w, "--tunnelport given: the tunnel for kubectl logs/exec is on");
      ec_confw_set (w, "enable", "true");
    }
  ec_confw_set (w, "server", tunnel);
  ec_confw_set (w, "tls-tunnel-ca-file", p->ca_file);
  ec_confw_set (w, "tls-tunnel-cert-file", p->cert_file);
  ec_confw_set (w, "tls-tunnel-private-key-file", p->key_file);
  /* KubeEdge's edgestream sends edged's nodeIP as SessionInternalIP (the
   * address cloudcore finds the node's metrics session by) */
  if (a->ip)
    ec_confw_set (w, "node-ip", a->ip);

  if (a->ip || a->taint || labels || a->runtime_ep || a->cgroup)
    {
      ec_confw_section (w, "edged");
      if (a->ip)
        ec_confw_set (w, "node-ip", a->ip);
      if (a->taint)
        ec_confw_set (w, "register-with-taints", EDGE_TAINT);
      if (labels)
        ec_confw_set (w, "node-labels", labels);
      if (a->runtime_ep)
        {
          g_autofree char *ep = g_path_is_absolute (a->runtime_ep)
                                  ? g_strconcat ("unix://", a->runtime_ep, NULL)
                                  : g_strdup (a->runtime_ep);
          ec_confw_set (w, "container-runtime-endpoint", ep);
          ec_confw_set (w, "image-service-endpoint", ep);
        }
      if (a->cgroup)
        ec_confw_set (w, "cgroup-driver", a->cgroup);
    }
  p->text = ec_confw_free_to_text (w);
}

/* The identity a previous join recorded, from its file. */
static gboolean
read_previous (const char *path, char **ws, char **node, char **ca, char **cert, char **key)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, NULL))
    return FALSE;
  *ws = g_key_file_get_string (kf, "edgehub", "websocket-server", NULL);
  *node = g_key_file_get_string (kf, "core", "node-name", NULL);
  *ca = g_key_file_get_string (kf, "edgehub", "tls-ca-file", NULL);
  *cert = g_key_file_get_string (kf, "edgehub", "tls-cert-file", NULL);
  *key = g_key_file_get_string (kf, "edgehub", "tls-private-key-file", NULL);
  return TRUE;
}

static void
remove_file_verbose (const char *path)
{
  if (path && g_unlink (path) == 0)
    g_print (_("  removed %s\n"), path);
}

/* A node already joined keeps its certificates when it joins the same
 * cloud again; joining another cloud (or under another name) needs
 * --force, and then the old certificates go. */
static gboolean
check_previous (JoinArgs *a, JoinPlan *p, gboolean *rejoin, GError **error)
{
  g_autofree char *ws = NULL, *node = NULL, *ca = NULL, *cert = NULL, *key = NULL;
  *rejoin = FALSE;
  if (!read_previous (p->path, &ws, &node, &ca, &cert, &key))
    return TRUE;
  if (g_strcmp0 (ws, p->ws_server) == 0 && g_strcmp0 (node, p->node_name) == 0)
    {
      *rejoin = TRUE;
      return TRUE;
    }
  if (!a->force)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                   _("this machine already joined cloud %s as node %s (%s). Joining %s as node %s "
                     "replaces that: run “edgecore reset” first, or add --force"),
                   ws ? ws : "?", node ? node : "?", p->path, p->ws_server, p->node_name);
      return FALSE;
    }
  g_print (_("--force: leaving cloud %s (node %s); its certificates are replaced\n"), ws ? ws : "?",
           node ? node : "?");
  p->old_files[0] = g_steal_pointer (&cert);
  p->old_files[1] = g_steal_pointer (&key);
  p->old_files[2] = g_steal_pointer (&ca);
  return TRUE;
}

typedef struct {
  GMainLoop *loop;
  GError    *error;
} Fetch;

static void
fetched (GObject *source, GAsyncResult *res, gpointer data)
{
  Fetch *f = data;
  eh_bootstrap_fetch_finish (res, &f->error);
  g_main_loop_quit (f->loop);
}

/* Fetches the CA and the node certificate with the token, as edgehub
 * would on its first start, so that a wrong token or an unreachable cloud
 * shows here and not later in the log. */
static gboolean
fetch_certs (JoinArgs *a, JoinPlan *p, GError **error)
{
  EhBootstrapParams params = {
    .http_server = p->http_server, .token = a->token, .node_name = p->node_name,
    .ca_file = p->ca_file, .cert_file = p->cert_file, .key_file = p->key_file, .timeout_s = 30,
  };
  Fetch f = { g_main_loop_new (NULL, FALSE), NULL };
  g_print (_("Fetching the certificates from %s ...\n"), p->http_server);
  eh_bootstrap_fetch_async (&params, NULL, fetched, &f);
  g_main_loop_run (f.loop);
  g_main_loop_unref (f.loop);
  if (f.error)
    {
      g_propagate_prefixed_error (error, f.error, _("cannot get the node's certificates: "));
      return FALSE;
    }
  g_print (_("Certificates: %s and %s, signed by the cloud's CA %s\n"), p->cert_file, p->key_file,
           p->ca_file);
  return TRUE;
}

static void
print_notes (JoinArgs *a)
{
  if (a->version)
    g_print (_("  --kubeedge-version=%s: edgecore speaks KubeEdge's cloud protocol itself; nothing is "
               "downloaded\n"), a->version);
  if (a->region)
    g_print (_("  --region=%s: ignored (it chooses a download mirror; edgecore downloads nothing)\n"),
             a->region);
  if (a->image_repo)
    g_print (_("  --image-repository=%s: ignored (edgecore pulls no installation image)\n"), a->image_repo);
  if (a->tarball)
    g_print (_("  --tarballpath=%s: ignored (edgecore is already installed)\n"), a->tarball);
  if (a->runtime_type && strcmp (a->runtime_type, "remote") != 0)
    g_print (_("  --runtimetype=%s: edgecore talks to a CRI runtime (containerd by default) through "
               "--remote-runtime-endpoint\n"), a->runtime_type);
}

static void
print_next (const char *node, gboolean started)
{
  g_autofree char *ready = g_strdup_printf (_("on the cloud: node %s becomes Ready"), node);
  g_print ("\n%s\n", _("Next:"));
  if (!started)
    g_print ("  %-28s %s\n", ec_edgecore_bin (), _("run the node (in the foreground, or from your init system)"));
  g_print ("  %-28s %s\n", "journalctl -u edgecore -f", _("follow the node's log (under systemd)"));
  g_print ("  %-28s %s\n", "kubectl get nodes", ready);
}

/* `edgecore join`: see --help. */
int
ec_admin_join (int argc, char **argv)
{
  JoinArgs a = { .quic_port = 10001, .cert_port = 10002, .tunnel_port = -1 };
  JoinPlan p = { 0 };
  g_autoptr (GOptionContext) ctx = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *host = NULL, *labels = NULL;
  guint port = 0;
  gboolean rejoin = FALSE, changed = FALSE;
  int status = 1;

  GOptionEntry entries[] = {
    { "cloudcore-ipport", 'e', 0, G_OPTION_ARG_STRING, &a.ipport,
      N_("CloudCore's websocket address, IP:PORT (usually port 10000)"), N_("IP:PORT") },
    { "token", 't', 0, G_OPTION_ARG_STRING, &a.token,
      N_("Join token from “keadm gettoken” on the cloud"), N_("TOKEN") },
    { "edgenode-name", 'i', 0, G_OPTION_ARG_STRING, &a.name,
      N_("Node name (default: the host name, lower-cased)"), N_("NAME") },
    { "edgenode-ip", 0, 0, G_OPTION_ARG_STRING, &a.ip,
      N_("IP address the node reports (default: detected)"), N_("IP") },
    { "certport", 's', 0, G_OPTION_ARG_INT, &a.cert_port,
      N_("CloudCore's certificate port (default 10002)"), N_("PORT") },
    { "quicport", 0, 0, G_OPTION_ARG_INT, &a.quic_port,
      N_("CloudCore's QUIC port (default 10001)"), N_("PORT") },
    { "tunnelport", 0, 0, G_OPTION_ARG_INT, &a.tunnel_port,
      N_("CloudCore's stream tunnel port; turns on edgestream (kubectl logs/exec)"), N_("PORT") },
    { "with-edge-taint", 0, 0, G_OPTION_ARG_NONE, &a.taint,
      N_("Register the node with the taint node-role.kubernetes.io/edge:NoSchedule"), NULL },
    { "labels", 'l', 0, G_OPTION_ARG_STRING, &a.labels,
      N_("Node labels, KEY=VALUE,KEY=VALUE"), N_("LABELS") },
    { "remote-runtime-endpoint", 'p', 0, G_OPTION_ARG_STRING, &a.runtime_ep,
      N_("CRI endpoint (default unix:///run/containerd/containerd.sock)"), N_("ENDPOINT") },
    { "cgroupdriver", 0, 0, G_OPTION_ARG_STRING, &a.cgroup,
      N_("cgroup driver: cgroupfs (default) or systemd"), N_("DRIVER") },
    { "kubeedge-version", 0, 0, G_OPTION_ARG_STRING, &a.version,
      N_("KubeEdge version of the cloud (recorded; nothing is downloaded)"), N_("VERSION") },
    { "region", 0, 0, G_OPTION_ARG_STRING, &a.region,
      N_("Accepted and ignored: keadm's download mirror"), N_("REGION") },
    { "image-repository", 0, 0, G_OPTION_ARG_STRING, &a.image_repo,
      N_("Accepted and ignored: keadm's image registry"), N_("REPO") },
    { "tarballpath", 0, 0, G_OPTION_ARG_STRING, &a.tarball,
      N_("Accepted and ignored: keadm's release tarballs"), N_("DIR") },
    { "runtimetype", 'r', 0, G_OPTION_ARG_STRING, &a.runtime_type,
      N_("Accepted: edgecore always talks CRI"), N_("TYPE") },
    { "hub-protocol", 0, 0, G_OPTION_ARG_STRING, &a.hub_protocol,
      N_("websocket (the only one edgecore supports)"), N_("PROTOCOL") },
    { "cert-dir", 0, 0, G_OPTION_ARG_FILENAME, &a.cert_dir,
      N_("Where the node's certificate and key go (default /etc/kubeedge/certs; the CA goes to DIR/../ca)"),
      N_("DIR") },
    { "certPath", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &a.cert_dir, NULL, NULL },
    { "config-dir", 0, 0, G_OPTION_ARG_FILENAME, &a.config_dir,
      N_("conf.d directory to write to (default /etc/edgecore/conf.d)"), N_("DIR") },
    { "dry-run", 0, 0, G_OPTION_ARG_NONE, &a.dry_run,
      N_("Print what would be written and done, change nothing"), NULL },
    { "force", 0, 0, G_OPTION_ARG_NONE, &a.force,
      N_("Join even if this machine already joined another cloud"), NULL },
    { NULL },
  };

  ctx = g_option_context_new (NULL);
  g_option_context_set_summary (ctx, _("Join this node to a KubeEdge cloud. Takes keadm join's flags, so "
                                       "a command copied for keadm works with “keadm” replaced by "
                                       "“edgecore”."));
  g_option_context_add_main_entries (ctx, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (ctx, GETTEXT_PACKAGE);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    goto out;
  if (argc > 1)
    {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, _("unexpected argument “%s”"), argv[1]);
      goto out;
    }
  if (!a.config_dir)
    a.config_dir = g_strdup (EC_DEFAULT_CONF_DIR);
  if (!a.cert_dir)
    a.cert_dir = g_strdup (EC_DEFAULT_CERT_DIR);
  if (!check_args (&a, &host, &port, &labels, &error))
    goto out;
  make_plan (&a, host, port, labels, &p);

  g_print (_("Joining cloud %s as node %s\n"), p.ws_server, p.node_name);
  print_notes (&a);
  if (g_file_test ("/etc/kubeedge/config/edgecore.yaml", G_FILE_TEST_EXISTS))
    g_print (_("  Note: /etc/kubeedge/config/edgecore.yaml exists: this machine ran KubeEdge's EdgeCore. "
               "To keep that node (its name, certificate and database) without a new token, use "
               "“edgecore import-config /etc/kubeedge/config/edgecore.yaml” instead.\n"));
  if (!check_previous (&a, &p, &rejoin, &error))
    goto out;

  if (a.dry_run)
    {
      g_print (_("\nDry run: nothing is written. %s would be (mode 0600):\n\n"), p.path);
      fputs (p.text, stdout);
      g_print (_("\nThen: the certificates from %s into %s and %s, "), p.http_server, p.cert_file, p.ca_file);
      if (ec_systemd_running ())
        g_print (_("and edgecore.service enabled and started.\n"));
      else
        g_print (_("and no service (systemd is not running).\n"));
      status = 0;
      goto out;
    }

  /* the certificates first: a wrong token or an unreachable cloud leaves
   * the configuration as it was */
  {
    g_autoptr (GError) why = NULL;
    if (rejoin && !a.force && eh_bootstrap_check_certs (p.ca_file, p.cert_file, p.key_file, NULL, &why))
      g_print (_("Certificates: kept (%s is valid and signed by the cloud's CA)\n"), p.cert_file);
    else if (!fetch_certs (&a, &p, &error))
      {
        g_printerr (_("Nothing was written to %s.\n"), a.config_dir);
        goto out;
      }
  }
  if (!ec_confw_install (p.path, p.text, 0600, &changed, &error))
    goto out;
  if (changed)
    g_print (_("Wrote %s\n"), p.path);
  else
    g_print (_("%s is already up to date\n"), p.path);
  /* the previous cloud's certificates, where the new ones did not replace them */
  for (guint i = 0; i < G_N_ELEMENTS (p.old_files); i++)
    if (p.old_files[i] && g_strcmp0 (p.old_files[i], p.cert_file) != 0
        && g_strcmp0 (p.old_files[i], p.key_file) != 0 && g_strcmp0 (p.old_files[i], p.ca_file) != 0)
      remove_file_verbose (p.old_files[i]);

  if (ec_systemd_running ())
    {
      if (!ec_service_install_start (&error))
        goto out;
      g_print (_("edgecore.service is enabled and (re)started.\n"));
      print_next (p.node_name, TRUE);
    }
  else
    {
      g_print (_("systemd is not running on this machine (PID 1 is not systemd): no service was "
                 "installed. Start edgecore yourself.\n"));
      print_next (p.node_name, FALSE);
    }
  status = 0;

out:
  if (error)
    {
      g_printerr (_("edgecore join: %s\n"), error->message);
      if (error->domain == G_OPTION_ERROR)
        g_printerr (_("Run “edgecore join --help” to see the options.\n"));
    }
  join_plan_clear (&p);
  join_args_clear (&a);
  return status;
}
