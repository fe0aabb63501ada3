/* cs-pki.h: cloudsim's certificate authority, server certificate, join
 * tokens and CSR signing, as KubeEdge's cloudcore does them. */
#pragma once

#include <gio/gio.h>

typedef struct _CsPki CsPki;

typedef struct {
  const char *server_name;     /* SAN of the hub's certificate (IP or DNS) */
  gboolean    server_expired;  /* issue an already expired server certificate */
  gboolean    no_server_cert;  /* the hub's certificate comes from elsewhere (profile v1.9.2) */
} CsPkiOptions;

CsPki           *cs_pki_open            (const char          *dir,
                                         const CsPkiOptions  *options,
                                         GError             **error);
void             cs_pki_free            (CsPki               *pki);
GBytes          *cs_pki_get_ca_der      (CsPki               *pki);
const char      *cs_pki_get_ca_hash     (CsPki               *pki);
GTlsCertificate *cs_pki_get_server_cert (CsPki               *pki);
GTlsDatabase    *cs_pki_get_database    (CsPki               *pki);
char            *cs_pki_make_token      (CsPki               *pki,
                                         gint64               exp_unix);
gboolean         cs_pki_check_token     (CsPki               *pki,
                                         const char          *jwt,
                                         GError             **error);
GBytes          *cs_pki_sign_csr        (CsPki               *pki,
                                         GBytes              *csr_der,
                                         gint64               not_before,
                                         gint64               validity_s,
                                         char               **subject,
                                         GError             **error);
char            *cs_pki_cert_subject    (GTlsCertificate     *cert);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (CsPki, cs_pki_free)
