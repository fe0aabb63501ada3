/* keepalive.h: closing a kept-alive HTTP/1 connection of a libsoup-3
 * SoupServer between two requests, when its client has gone or when its
 * owner wants it closed. Compiled into each plugin that serves HTTP with
 * libsoup (metaserver, edged); not part of libedgecore. */
#pragma once

#include <libsoup/soup.h>

typedef struct _Keepalive Keepalive;

/* Called once the connection is closed and libsoup has not said so (it
 * will not emit "disconnected" for it): the owner forgets it, which frees
 * the Keepalive. When libsoup does disconnect it, the owner learns it from
 * the messages' "disconnected" signal as usual, and this is not called. */
typedef void (*KeepaliveGoneFn) (gpointer data);

Keepalive *keepalive_new     (SoupServerMessage *msg, KeepaliveGoneFn gone, gpointer data);
void       keepalive_free    (Keepalive *ka);
void       keepalive_request (Keepalive *ka, SoupServerMessage *msg);
void       keepalive_idle    (Keepalive *ka, SoupServerMessage *msg);
gboolean   keepalive_close   (Keepalive *ka);
