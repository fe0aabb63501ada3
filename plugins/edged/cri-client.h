/* cri-client.h: unary gRPC calls to a CRI runtime (containerd) over HTTP/2
 * on its unix socket (or to a gRPC server over plaintext TCP: grpc probes),
 * asynchronous on the GLib main loop of the thread that created the client. */
#pragma once

#include <gio/gio.h>
#include <protobuf-c/protobuf-c.h>

G_BEGIN_DECLS

#define EDGED_CRI_ERROR (edged_cri_error_quark ())
GQuark edged_cri_error_quark (void);

/* The gRPC status codes; a call's GError carries one of them. */
typedef enum {
  EDGED_CRI_ERROR_CANCELLED = 1,
  EDGED_CRI_ERROR_UNKNOWN = 2,
  EDGED_CRI_ERROR_INVALID_ARGUMENT = 3,
  EDGED_CRI_ERROR_DEADLINE_EXCEEDED = 4,
  EDGED_CRI_ERROR_NOT_FOUND = 5,
  EDGED_CRI_ERROR_ALREADY_EXISTS = 6,
  EDGED_CRI_ERROR_PERMISSION_DENIED = 7,
  EDGED_CRI_ERROR_RESOURCE_EXHAUSTED = 8,
  EDGED_CRI_ERROR_FAILED_PRECONDITION = 9,
  EDGED_CRI_ERROR_ABORTED = 10,
  EDGED_CRI_ERROR_OUT_OF_RANGE = 11,
  EDGED_CRI_ERROR_UNIMPLEMENTED = 12,
  EDGED_CRI_ERROR_INTERNAL = 13,
  EDGED_CRI_ERROR_UNAVAILABLE = 14,
  EDGED_CRI_ERROR_DATA_LOSS = 15,
  EDGED_CRI_ERROR_UNAUTHENTICATED = 16,
} EdgedCriError;

/* Largest response accepted by default: kubelet's 16 MiB. */
#define EDGED_CRI_DEFAULT_MAX_RESPONSE (16u * 1024 * 1024)

typedef struct _EdgedCriClient EdgedCriClient;

/* Called once per call on the main loop: with the decoded response (owned
 * by the callee, freed with protobuf_c_message_free_unpacked) or with an
 * error, never both. */
typedef void (*EdgedCriReplyFunc) (ProtobufCMessage *response,
                                   const GError     *error,
                                   gpointer          user_data);

EdgedCriClient *edged_cri_client_new (const char *endpoint,
                                      gsize       max_response,
                                      GError    **error);
EdgedCriClient *edged_cri_client_new_tcp (const char *host,
                                          guint16     port,
                                          gsize       max_response);
void            edged_cri_client_free (EdgedCriClient *client);
const char     *edged_cri_client_get_path (EdgedCriClient *client);
guint           edged_cri_client_get_pending (EdgedCriClient *client);
void            edged_cri_client_get_counts (EdgedCriClient *client, guint64 *calls,
                                             guint64 *errors);

void            edged_cri_client_call (EdgedCriClient                  *client,
                                       const char                      *method_path,
                                       const ProtobufCMessage          *request,
                                       const ProtobufCMessageDescriptor *response_type,
                                       guint                            timeout_ms,
                                       EdgedCriReplyFunc                callback,
                                       gpointer                         user_data,
                                       GDestroyNotify                   destroy);

char           *edged_cri_percent_decode (const char *text, gsize length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EdgedCriClient, edged_cri_client_free)

G_END_DECLS
