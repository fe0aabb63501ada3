/* admin.h: edgecore-admin, the operator commands `edgecore join`, `reset`
 * and `import-config`. They live in their own program, exec'd by edgecore,
 * so the daemon stays small (no libyaml, no option tables of these). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EC_JOIN_CONF_NAME   "60-join.conf"
#define EC_IMPORT_CONF_NAME "60-import.conf"
#define EC_DEFAULT_CONF_DIR "/etc/edgecore/conf.d"
#define EC_DEFAULT_CERT_DIR "/etc/kubeedge/certs"

/* Each command takes its argv (argv[0] is the command's name) and returns
 * the process exit status. */
int ec_admin_join   (int argc, char **argv);
int ec_admin_reset  (int argc, char **argv);
int ec_admin_import (int argc, char **argv);

/* check.c: the inputs of join, as KubeEdge and Kubernetes accept them. */
gboolean ec_check_token      (const char *token, GError **error);
gint64   ec_token_expiry     (const char *token);
gboolean ec_check_host_port  (const char *text, char **host, guint *port, GError **error);
gboolean ec_check_port       (const char *flag, int port, GError **error);
gboolean ec_check_node_name  (const char *name, GError **error);
gboolean ec_check_ip         (const char *text, GError **error);
char    *ec_check_labels     (const char *text, GError **error);
char    *ec_default_node_name (void);
char    *ec_host_for_url     (const char *host);

/* confw.c: writing conf.d files (GKeyFile syntax, escaped values). */
typedef struct _EcConfWriter EcConfWriter;
EcConfWriter *ec_confw_new      (const char *header);
void          ec_confw_section  (EcConfWriter *w, const char *section);
void          ec_confw_comment  (EcConfWriter *w, const char *comment);
void          ec_confw_set      (EcConfWriter *w, const char *key, const char *value);
void          ec_confw_set_raw  (EcConfWriter *w, const char *key, const char *escaped);
void          ec_confw_list_append (GString *list, const char *item);
char         *ec_confw_free_to_text (EcConfWriter *w);
char         *ec_confw_escape   (const char *value);
gboolean      ec_confw_install  (const char *path, const char *text, int mode, gboolean *changed,
                                 GError **error);

/* service.c: systemd, when it runs. */
gboolean ec_systemd_running   (void);
gboolean ec_service_install_start (GError **error);
gboolean ec_service_stop_disable  (gboolean *was_installed, GError **error);
const char *ec_edgecore_bin (void);

/* ask.c: yes/no questions for reset. */
gboolean ec_ask_yes_no (const char *question);

/* config-dirs: the conf.d directories the daemon reads, lowest first,
 * with extra (may be NULL) last. */
GKeyFile *ec_admin_load_effective (const char *extra_dir);

G_END_DECLS
