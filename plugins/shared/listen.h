/* listen.h: a libsoup-3 SoupServer listening with a real accept backlog.
 * soup_server_listen() listens with GSocket's default backlog of 10, so a
 * burst of clients (kubectl, in-cluster clients, metrics scrapers opening a
 * connection per request) overflows it and waits 1 s per retried SYN.
 * Compiled into each plugin that serves HTTP with libsoup; not part of
 * libedgecore. */
#pragma once

#include <libsoup/soup.h>

/* Kernel's usual SOMAXCONN: what Go's net.Listen (kube-apiserver, KubeEdge's
 * metaserver and edged) asks for. The kernel caps it at net.core.somaxconn. */
#define HTTP_LISTEN_BACKLOG 4096

gboolean http_listen (SoupServer              *server,
                      GSocketAddress          *address,
                      SoupServerListenOptions  options,
                      GError                 **error);
