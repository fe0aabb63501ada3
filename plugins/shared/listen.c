/* listen.c: see listen.h. */
#include "listen.h"

/* Binds @address with SO_REUSEADDR, listens with HTTP_LISTEN_BACKLOG and
 * hands the socket to @server (which then owns it). @options are
 * soup_server_listen()'s (HTTPS); the IPv4/IPv6-only flags do not apply,
 * the address decides. */
gboolean
http_listen (SoupServer *server, GSocketAddress *address, SoupServerListenOptions options, GError **error)
{
  g_autoptr (GSocket) sock = g_socket_new (g_socket_address_get_family (address), G_SOCKET_TYPE_STREAM,
                                           G_SOCKET_PROTOCOL_TCP, error);

  if (!sock)
    return FALSE;
  g_socket_set_listen_backlog (sock, HTTP_LISTEN_BACKLOG);
  if (!g_socket_bind (sock, address, TRUE, error) || !g_socket_listen (sock, error))
    return FALSE;
  options &= ~(SOUP_SERVER_LISTEN_IPV4_ONLY | SOUP_SERVER_LISTEN_IPV6_ONLY);
  return soup_server_listen_socket (server, sock, options, error);
}
