/* cs-pki.c: the CA (self-signed ECDSA P-256, CN KubeEdge, kept in DIR so a
 * restarted cloudsim is the same cloud), a fresh hub certificate on each
 * start, HS256 join tokens keyed with the CA key's DER, and CSR signing. */
#include "cs-pki.h"

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <errno.h>
#include <string.h>

struct _CsPki {
  gnutls_x509_crt_t     ca;
  gnutls_x509_privkey_t ca_key;
  GBytes               *ca_der;
  GBytes               *ca_key_der;
  char                 *ca_hash;
  GTlsCertificate      *server_cert;
  GTlsDatabase         *database;
};

#define CA_YEARS 100

/* Turns a GnuTLS status into a GError. */
static gboolean
tls_check (int rc, const char *what, GError **error)
{
  if (rc >= 0)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", what, gnutls_strerror (rc));
  return FALSE;
}

/* Exports a certificate in a format as GBytes. */
static GBytes *
crt_export (gnutls_x509_crt_t crt, gnutls_x509_crt_fmt_t fmt)
{
  gnutls_datum_t d = { 0 };
  GBytes *b;
  if (gnutls_x509_crt_export2 (crt, fmt, &d) < 0)
    return NULL;
  b = g_bytes_new (d.data, d.size);
  gnutls_free (d.data);
  return b;
}

/* Exports a key in a format as GBytes. */
static GBytes *
key_export (gnutls_x509_privkey_t key, gnutls_x509_crt_fmt_t fmt)
{
  gnutls_datum_t d = { 0 };
  GBytes *b;
  if (gnutls_x509_privkey_export2 (key, fmt, &d) < 0)
    return NULL;
  b = g_bytes_new (d.data, d.size);
  gnutls_free (d.data);
  return b;
}

/* Generates an ECDSA P-256 key. */
static gnutls_x509_privkey_t
new_key (GError **error)
{
  gnutls_x509_privkey_t key;
  gnutls_x509_privkey_init (&key);
  if (!tls_check (gnutls_x509_privkey_generate (key, GNUTLS_PK_ECDSA,
                                                GNUTLS_CURVE_TO_BITS (GNUTLS_ECC_CURVE_SECP256R1), 0),
                  "generating a P-256 key", error))
    {
      gnutls_x509_privkey_deinit (key);
      return NULL;
    }
  return key;
}

/* Sets a random positive 63-bit serial, as cloudcore does. */
static void
set_serial (gnutls_x509_crt_t crt)
{
  guint8 serial[8];
  gnutls_rnd (GNUTLS_RND_NONCE, serial, sizeof serial);
  serial[0] &= 0x7f;
  serial[0] |= 0x01;
  gnutls_x509_crt_set_serial (crt, serial, sizeof serial);
}

/* Signs crt with the CA, adding the authority key id. */
static gboolean
ca_sign (CsPki *pki, gnutls_x509_crt_t crt, GError **error)
{
  guint8 id[64];
  size_t id_len = sizeof id;
  if (gnutls_x509_crt_get_subject_key_id (pki->ca, id, &id_len, NULL) >= 0)
    gnutls_x509_crt_set_authority_key_id (crt, id, id_len);
  return tls_check (gnutls_x509_crt_sign2 (crt, pki->ca, pki->ca_key, GNUTLS_DIG_SHA256, 0),
                    "signing a certificate", error);
}

/* Creates the self-signed CA. */
static gboolean
create_ca (CsPki *pki, GError **error)
{
  time_t now = time (NULL);
  guint8 id[64];
  size_t id_len = sizeof id;

  pki->ca_key = new_key (error);
  if (!pki->ca_key)
    return FALSE;
  gnutls_x509_crt_init (&pki->ca);
  gnutls_x509_crt_set_version (pki->ca, 3);
  set_serial (pki->ca);
  gnutls_x509_crt_set_dn_by_oid (pki->ca, GNUTLS_OID_X520_COMMON_NAME, 0, "KubeEdge", 8);
  gnutls_x509_crt_set_key (pki->ca, pki->ca_key);
  gnutls_x509_crt_set_activation_time (pki->ca, now - 60);
  gnutls_x509_crt_set_expiration_time (pki->ca, now + (time_t) CA_YEARS * 365 * 86400);
  gnutls_x509_crt_set_basic_constraints (pki->ca, 1, -1);
  gnutls_x509_crt_set_key_usage (pki->ca, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN
                                          | GNUTLS_KEY_DIGITAL_SIGNATURE);
  if (gnutls_x509_crt_get_key_id (pki->ca, 0, id, &id_len) >= 0)
    gnutls_x509_crt_set_subject_key_id (pki->ca, id, id_len);
  return tls_check (gnutls_x509_crt_sign2 (pki->ca, pki->ca, pki->ca_key, GNUTLS_DIG_SHA256, 0),
                    "self-signing the CA", error);
}

/* Writes bytes to dir/name with mode. */
static gboolean
write_file (const char *dir, const char *name, GBytes *data, int mode, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  gsize len;
  const char *p = g_bytes_get_data (data, &len);
  if (!g_file_set_contents_full (path, p, (gssize) len, G_FILE_SET_CONTENTS_CONSISTENT, mode, error))
    return FALSE;
  return TRUE;
}

/* Loads the CA from dir, or creates and saves one. */
static gboolean
load_or_create_ca (CsPki *pki, const char *dir, GError **error)
{
  g_autofree char *crt_path = g_build_filename (dir, "ca.crt", NULL);
  g_autofree char *key_path = g_build_filename (dir, "ca.key", NULL);
  g_autofree char *crt_pem = NULL, *key_pem = NULL;
  gsize crt_len, key_len;

  if (g_file_get_contents (crt_path, &crt_pem, &crt_len, NULL)
      && g_file_get_contents (key_path, &key_pem, &key_len, NULL))
    {
      gnutls_datum_t c = { (unsigned char *) crt_pem, (unsigned) crt_len };
      gnutls_datum_t k = { (unsigned char *) key_pem, (unsigned) key_len };
      gnutls_x509_crt_init (&pki->ca);
      gnutls_x509_privkey_init (&pki->ca_key);
      return tls_check (gnutls_x509_crt_import (pki->ca, &c, GNUTLS_X509_FMT_PEM), crt_path, error)
             && tls_check (gnutls_x509_privkey_import (pki->ca_key, &k, GNUTLS_X509_FMT_PEM),
                           key_path, error);
    }
  if (!create_ca (pki, error))
    return FALSE;
  g_autoptr (GBytes) pem = crt_export (pki->ca, GNUTLS_X509_FMT_PEM);
  g_autoptr (GBytes) kpem = key_export (pki->ca_key, GNUTLS_X509_FMT_PEM);
  return write_file (dir, "ca.key", kpem, 0600, error)
         && write_file (dir, "ca.crt", pem, 0644, error);
}

/* Issues the hub's certificate for server_name (an IP or a DNS name). */
static gboolean
create_server_cert (CsPki *pki, const char *dir, const CsPkiOptions *opt, GError **error)
{
  gnutls_x509_crt_t crt;
  time_t now = time (NULL);
  const char *name = opt->server_name ? opt->server_name : "127.0.0.1";
  GInetAddress *ip = g_inet_address_new_from_string (name);
  g_autoptr (GBytes) crt_pem = NULL, key_pem = NULL;
  g_autofree char *both = NULL;
  gnutls_x509_privkey_t key = new_key (error);
  gboolean ok;

  if (!key)
    {
      g_clear_object (&ip);
      return FALSE;
    }
  gnutls_x509_crt_init (&crt);
  gnutls_x509_crt_set_version (crt, 3);
  set_serial (crt);
  gnutls_x509_crt_set_dn_by_oid (crt, GNUTLS_OID_X520_COMMON_NAME, 0, "cloudsim", 8);
  gnutls_x509_crt_set_key (crt, key);
  if (opt->server_expired)
    {
      gnutls_x509_crt_set_activation_time (crt, now - 2 * 86400);
      gnutls_x509_crt_set_expiration_time (crt, now - 86400);
    }
  else
    {
      gnutls_x509_crt_set_activation_time (crt, now - 60);
      gnutls_x509_crt_set_expiration_time (crt, now + 365 * 86400);
    }
  if (ip)
    gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_IPADDRESS,
                                          g_inet_address_to_bytes (ip),
                                          (unsigned) g_inet_address_get_native_size (ip),
                                          GNUTLS_FSAN_APPEND);
  else
    gnutls_x509_crt_set_subject_alt_name (crt, GNUTLS_SAN_DNSNAME, name, (unsigned) strlen (name),
                                          GNUTLS_FSAN_APPEND);
  g_clear_object (&ip);
  gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT);
  gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_SERVER, 0);
  ok = ca_sign (pki, crt, error);
  if (ok)
    {
      crt_pem = crt_export (crt, GNUTLS_X509_FMT_PEM);
      key_pem = key_export (key, GNUTLS_X509_FMT_PEM);
      both = g_strdup_printf ("%.*s%.*s", (int) g_bytes_get_size (crt_pem),
                              (const char *) g_bytes_get_data (crt_pem, NULL),
                              (int) g_bytes_get_size (key_pem),
                              (const char *) g_bytes_get_data (key_pem, NULL));
      pki->server_cert = g_tls_certificate_new_from_pem (both, -1, error);
      ok = pki->server_cert != NULL && write_file (dir, "server.crt", crt_pem, 0644, error);
    }
  gnutls_x509_crt_deinit (crt);
  gnutls_x509_privkey_deinit (key);
  return ok;
}

/* Loads or creates the CA in dir and issues a new hub certificate. */
CsPki *
cs_pki_open (const char *dir, const CsPkiOptions *options, GError **error)
{
  g_autoptr (CsPki) pki = g_new0 (CsPki, 1);
  g_autofree char *ca_path = g_build_filename (dir, "ca.crt", NULL);
  guint8 digest[32];
  gsize len;
  const guint8 *der;

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "cannot create %s: %s",
                   dir, g_strerror (errno));
      return NULL;
    }
  if (!load_or_create_ca (pki, dir, error))
    return NULL;
  pki->ca_der = crt_export (pki->ca, GNUTLS_X509_FMT_DER);
  pki->ca_key_der = key_export (pki->ca_key, GNUTLS_X509_FMT_DER);
  der = g_bytes_get_data (pki->ca_der, &len);
  gnutls_hash_fast (GNUTLS_DIG_SHA256, der, len, digest);
  GString *hex = g_string_new (NULL);
  for (guint i = 0; i < sizeof digest; i++)
    g_string_append_printf (hex, "%02x", digest[i]);
  pki->ca_hash = g_string_free (hex, FALSE);
  pki->database = g_tls_file_database_new (ca_path, error);
  if (!pki->database || (!options->no_server_cert && !create_server_cert (pki, dir, options, error)))
    return NULL;
  return g_steal_pointer (&pki);
}

/* Frees the PKI. */
void
cs_pki_free (CsPki *pki)
{
  if (!pki)
    return;
  if (pki->ca)
    gnutls_x509_crt_deinit (pki->ca);
  if (pki->ca_key)
    gnutls_x509_privkey_deinit (pki->ca_key);
  g_clear_pointer (&pki->ca_der, g_bytes_unref);
  g_clear_pointer (&pki->ca_key_der, g_bytes_unref);
  g_clear_object (&pki->server_cert);
  g_clear_object (&pki->database);
  g_free (pki->ca_hash);
  g_free (pki);
}

/* The CA certificate in DER. */
GBytes *
cs_pki_get_ca_der (CsPki *pki)
{
  return pki->ca_der;
}

/* Lowercase hex SHA-256 of the CA's DER: the token's first part. */
const char *
cs_pki_get_ca_hash (CsPki *pki)
{
  return pki->ca_hash;
}

/* The hub's certificate with its key. */
GTlsCertificate *
cs_pki_get_server_cert (CsPki *pki)
{
  return pki->server_cert;
}

/* A database holding only the CA, to verify client certificates. */
GTlsDatabase *
cs_pki_get_database (CsPki *pki)
{
  return pki->database;
}

/* base64url without padding, as JWT wants. */
static char *
b64url (const guint8 *data, gsize len)
{
  char *s = g_base64_encode (data, len);
  for (char *p = s; *p; p++)
    {
      if (*p == '+')
        *p = '-';
      else if (*p == '/')
        *p = '_';
      else if (*p == '=')
        {
          *p = '\0';
          break;
        }
    }
  return s;
}

/* HS256 over "header.payload" keyed with the CA key's DER. */
static char *
jwt_signature (CsPki *pki, const char *signing_input)
{
  guint8 mac[32];
  gsize klen;
  const void *key = g_bytes_get_data (pki->ca_key_der, &klen);
  gnutls_hmac_fast (GNUTLS_MAC_SHA256, key, klen, signing_input, strlen (signing_input), mac);
  return b64url (mac, sizeof mac);
}

/* A KubeEdge join token: <caHash>.<HS256 JWT with {"exp":exp_unix}>. */
char *
cs_pki_make_token (CsPki *pki, gint64 exp_unix)
{
  const char *header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
  g_autofree char *payload = g_strdup_printf ("{\"exp\":%" G_GINT64_FORMAT "}", exp_unix);
  g_autofree char *h = b64url ((const guint8 *) header, strlen (header));
  g_autofree char *p = b64url ((const guint8 *) payload, strlen (payload));
  g_autofree char *input = g_strconcat (h, ".", p, NULL);
  g_autofree char *sig = jwt_signature (pki, input);
  return g_strconcat (pki->ca_hash, ".", input, ".", sig, NULL);
}

/* Checks the JWT part of a token (what the edge sends as Bearer): the
 * signature and the exp claim. */
gboolean
cs_pki_check_token (CsPki *pki, const char *jwt, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (jwt ? jwt : "", ".", -1);
  g_autofree char *input = NULL, *sig = NULL, *b64 = NULL, *json = NULL;
  gsize len;
  const char *exp;

  if (g_strv_length (parts) != 3)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "token is not a JWT");
      return FALSE;
    }
  input = g_strconcat (parts[0], ".", parts[1], NULL);
  sig = jwt_signature (pki, input);
  if (strcmp (sig, parts[2]) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "invalid token signature");
      return FALSE;
    }
  b64 = g_strdup (parts[1]);
  for (char *q = b64; *q; q++)
    *q = *q == '-' ? '+' : *q == '_' ? '/' : *q;
  {
    g_autofree char *padded = g_strnfill ((4 - strlen (b64) % 4) % 4, '=');
    g_autofree char *full = g_strconcat (b64, padded, NULL);
    json = (char *) g_base64_decode (full, &len);
    json = g_realloc (json, len + 1);
    json[len] = '\0';
  }
  exp = strstr (json, "\"exp\":");
  if (!exp || g_ascii_strtoll (exp + 6, NULL, 10) < g_get_real_time () / G_USEC_PER_SEC)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "token expired");
      return FALSE;
    }
  return TRUE;
}

/* Signs a DER CSR: subject copied from it, clientAuth, validity_s seconds
 * from not_before. Returns the certificate in DER; *subject gets its DN. */
GBytes *
cs_pki_sign_csr (CsPki *pki, GBytes *csr_der, gint64 not_before, gint64 validity_s,
                 char **subject, GError **error)
{
  gnutls_x509_crq_t crq;
  gnutls_x509_crt_t crt = NULL;
  gsize len;
  gnutls_datum_t d;
  GBytes *out = NULL;

  d.data = (unsigned char *) g_bytes_get_data (csr_der, &len);
  d.size = (unsigned) len;
  gnutls_x509_crq_init (&crq);
  if (!tls_check (gnutls_x509_crq_import (crq, &d, GNUTLS_X509_FMT_DER), "parsing the CSR", error)
      || !tls_check (gnutls_x509_crq_verify (crq, 0), "checking the CSR signature", error))
    goto out;
  gnutls_x509_crt_init (&crt);
  if (!tls_check (gnutls_x509_crt_set_crq (crt, crq), "copying the CSR", error))
    goto out;
  gnutls_x509_crt_set_version (crt, 3);
  set_serial (crt);
  gnutls_x509_crt_set_activation_time (crt, (time_t) not_before);
  gnutls_x509_crt_set_expiration_time (crt, (time_t) (not_before + validity_s));
  gnutls_x509_crt_set_key_usage (crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_ENCIPHERMENT);
  gnutls_x509_crt_set_key_purpose_oid (crt, GNUTLS_KP_TLS_WWW_CLIENT, 0);
  if (!ca_sign (pki, crt, error))
    goto out;
  out = crt_export (crt, GNUTLS_X509_FMT_DER);
  if (subject)
    {
      gnutls_datum_t dn = { 0 };
      if (gnutls_x509_crt_get_dn3 (crt, &dn, 0) >= 0)
        {
          *subject = g_strndup ((const char *) dn.data, dn.size);
          gnutls_free (dn.data);
        }
    }
out:
  gnutls_x509_crq_deinit (crq);
  if (crt)
    gnutls_x509_crt_deinit (crt);
  return out;
}

/* The subject DN of a peer certificate, for the record. */
char *
cs_pki_cert_subject (GTlsCertificate *cert)
{
  g_autoptr (GByteArray) der = NULL;
  gnutls_x509_crt_t crt;
  gnutls_datum_t d, dn = { 0 };
  char *out = NULL;

  if (!cert)
    return NULL;
  g_object_get (cert, "certificate", &der, NULL);
  if (!der)
    return NULL;
  d.data = der->data;
  d.size = der->len;
  gnutls_x509_crt_init (&crt);
  if (gnutls_x509_crt_import (crt, &d, GNUTLS_X509_FMT_DER) >= 0
      && gnutls_x509_crt_get_dn3 (crt, &dn, 0) >= 0)
    {
      out = g_strndup ((const char *) dn.data, dn.size);
      gnutls_free (dn.data);
    }
  gnutls_x509_crt_deinit (crt);
  return out;
}
