/* eb-link.h: one MQTT client connection, driven by the GLib main loop. */
#pragma once

#include <edgecore.h>

typedef struct _EbLink EbLink;

typedef struct {
  const char *role;          /* for log lines, e.g. "external subscriber" */
  const char *url;           /* tcp://host:port or ssl://host:port */
  const char *client_id;
  const char *username;      /* NULL or "" : none */
  const char *password;
  gboolean    tls_enable;    /* verify the broker with ca/cert/key */
  const char *tls_ca_file;
  const char *tls_cert_file;
  const char *tls_key_file;
  int         qos;           /* for publishes */
  gboolean    retain;        /* for publishes */
  int         sub_qos;       /* for subscriptions */
  int         keepalive;     /* seconds between PINGREQs; 0: 60 */
  const char *broker;        /* labels of its metrics: "external" or "internal", */
  const char *client;        /* "subscriber" or "publisher"; broker NULL: none */
} EbLinkConfig;

/* A message received on a subscription; payload is not NUL-terminated. */
typedef void (*EbLinkMessageFunc) (gpointer user_data, const char *topic,
                                   const void *payload, int length);
/* The link is (re)connected. */
typedef void (*EbLinkConnectedFunc) (gpointer user_data, EbLink *link);

EbLink  *eb_link_new          (EcPluginContext     *context,
                               const EbLinkConfig  *config,
                               EbLinkMessageFunc    on_message,
                               EbLinkConnectedFunc  on_connected,
                               gpointer             user_data,
                               GError             **error);
void     eb_link_start        (EbLink     *link);
void     eb_link_free         (EbLink     *link);
gboolean eb_link_is_connected (EbLink     *link);
gboolean eb_link_publish      (EbLink     *link,
                               const char *topic,
                               const void *payload,
                               gsize       length);
void     eb_link_subscribe    (EbLink            *link,
                               const char *const *topics,
                               guint              n_topics);
void     eb_link_unsubscribe  (EbLink     *link,
                               const char *topic);
void     eb_link_set_paused   (EbLink     *link,
                               gboolean    paused);
int      eb_link_get_qos      (EbLink     *link);
gboolean eb_parse_mqtt_url    (const char *url,
                               char      **host,
                               int        *port,
                               gboolean   *tls,
                               GError    **error);
