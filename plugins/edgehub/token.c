/* token.c: splits a join token, reads its expiry, checks the CA hash. The
 * JWT's signature is the cloud's business (its key is the CA's private
 * key); the edge only reads the exp claim to give a clear error early. */
#include "token.h"

#include <edgecore.h>

#include <gio/gio.h>
#include <string.h>

/* Reads the exp claim from the JWT payload, 0 if absent. */
static gint64
read_exp (const char *payload)
{
  gsize len;
  g_autofree char *json = (char *) ec_base64url_decode (payload, &len, NULL);
  const char *p = json ? strstr (json, "\"exp\"") : NULL;
  if (!p)
    return 0;
  p += 5;
  while (*p == ' ' || *p == ':')
    p++;
  return g_ascii_strtoll (p, NULL, 10);
}

/* Splits a token into the CA hash and the JWT; fails unless it has exactly
 * four non-empty dot-separated parts and a 64-hex-digit hash. */
EhToken *
eh_token_parse (const char *text, GError **error)
{
  g_autofree char *trimmed = g_strstrip (g_strdup (text ? text : ""));
  g_auto (GStrv) parts = g_strsplit (trimmed, ".", -1);
  EhToken *t;

  if (!*trimmed)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "the join token is empty");
      return NULL;
    }
  if (g_strv_length (parts) != 4 || !*parts[0] || !*parts[1] || !*parts[2] || !*parts[3])
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "invalid join token: expected <ca-hash>.<jwt-header>.<jwt-payload>.<jwt-signature>, "
                   "got %u dot-separated parts", g_strv_length (parts));
      return NULL;
    }
  if (strlen (parts[0]) != 64 || strspn (parts[0], "0123456789abcdefABCDEF") != 64)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "invalid join token: its first part must be the CA's SHA-256 in hex (64 digits)");
      return NULL;
    }
  t = g_new0 (EhToken, 1);
  t->ca_hash = g_ascii_strdown (parts[0], -1);
  t->jwt = g_strjoin (".", parts[1], parts[2], parts[3], NULL);
  t->exp = read_exp (parts[2]);
  return t;
}

/* Fails if the token's exp claim is in the past. */
gboolean
eh_token_check_exp (const EhToken *token, gint64 now_s, GError **error)
{
  if (token->exp > 0 && token->exp < now_s)
    {
      g_autoptr (GDateTime) dt = g_date_time_new_from_unix_utc (token->exp);
      g_autofree char *when = dt ? g_date_time_format_iso8601 (dt) : g_strdup ("?");
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "the join token expired at %s; get a new one (keadm gettoken)", when);
      return FALSE;
    }
  return TRUE;
}

/* Checks that the SHA-256 of the CA certificate's DER is the token's hash. */
gboolean
eh_token_check_ca (const EhToken *token, const guint8 *ca_der, gsize len, GError **error)
{
  g_autofree char *hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, ca_der, len);
  if (strcmp (hex, token->ca_hash) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                   "the cloud's CA certificate does not match the join token: its SHA-256 is %s, "
                   "the token expects %s; not trusting it", hex, token->ca_hash);
      return FALSE;
    }
  return TRUE;
}

/* Frees a token. */
void
eh_token_free (EhToken *token)
{
  if (!token)
    return;
  g_free (token->ca_hash);
  g_free (token->jwt);
  g_free (token);
}
