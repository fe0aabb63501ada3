/* control.h: the control socket of a running host, and its client. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EcHost EcHost;
typedef struct _EcControl EcControl;

EcControl *ec_control_new    (EcHost *host, const char *path, GError **error);
void       ec_control_free   (EcControl *control);
int        ec_control_client (const char *path, const char *command, guint timeout_s);

G_END_DECLS
