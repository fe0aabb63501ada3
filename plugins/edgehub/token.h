/* token.h: KubeEdge join tokens, <caHash>.<JWT header>.<JWT payload>.<JWT signature>. */
#pragma once

#include <glib.h>

typedef struct {
  char   *ca_hash;   /* lowercase hex SHA-256 of the CA's DER */
  char   *jwt;       /* parts 2..4, what goes into "Authorization: Bearer" */
  gint64  exp;       /* the exp claim in Unix seconds, 0 if absent */
} EhToken;

EhToken *eh_token_parse     (const char *text, GError **error);
gboolean eh_token_check_exp (const EhToken *token, gint64 now_s, GError **error);
gboolean eh_token_check_ca  (const EhToken *token, const guint8 *ca_der, gsize len, GError **error);
void     eh_token_free      (EhToken *token);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EhToken, eh_token_free)
