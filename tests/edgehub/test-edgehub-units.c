/* test-edgehub-units.c: edgehub's pure rules, compiled in from
 * plugins/edgehub: join token parsing, routing, status keys, the rate
 * limit and the reconnect backoff; the check of the cloud's certificate and
 * of the node's, on the certificates of a real KubeEdge v1.9.2 cloud
 * (tests/data/tls-v1.9.2). */
#include "backoff.h"
#include "bootstrap.h"
#include "classify.h"
#include "tls.h"
#include "token.h"

#include <gio/gio.h>
#include <gnutls/crypto.h>
#include <string.h>

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A token's parts, its exp claim, and the ways it can be wrong. */
static void
test_token (void)
{
  g_autoptr (GError) error = NULL;
  /* payload {"exp":2000000000} */
  g_autoptr (EhToken) t = eh_token_parse (HASH ".eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjIwMDAwMDAwMDB9.c2ln", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (t->ca_hash, ==, HASH);
  g_assert_cmpstr (t->jwt, ==, "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjIwMDAwMDAwMDB9.c2ln");
  g_assert_cmpint (t->exp, ==, 2000000000);
  g_assert_true (eh_token_check_exp (t, 1999999999, &error));
  g_assert_false (eh_token_check_exp (t, 2000000001, &error));
  g_assert_nonnull (strstr (error->message, "expired at 2033-05-18"));
  g_clear_error (&error);

  g_assert_null (eh_token_parse ("", &error));
  g_assert_nonnull (strstr (error->message, "empty"));
  g_clear_error (&error);
  g_assert_null (eh_token_parse ("a.b.c", &error));
  g_assert_nonnull (strstr (error->message, "got 3 dot-separated parts"));
  g_clear_error (&error);
  g_assert_null (eh_token_parse ("nothex.a.b.c", &error));
  g_assert_nonnull (strstr (error->message, "SHA-256"));
  g_clear_error (&error);
  g_assert_null (eh_token_parse (HASH "..b.c", &error));
  g_clear_error (&error);
}

/* The CA hash check compares the SHA-256 of the DER bytes. */
static void
test_token_ca_hash (void)
{
  const char der[] = "not really DER, but bytes";
  guint8 digest[32];
  char hex[65];
  g_autofree char *text = NULL;
  g_autoptr (EhToken) t = NULL;
  g_autoptr (GError) error = NULL;

  gnutls_hash_fast (GNUTLS_DIG_SHA256, der, sizeof der, digest);
  for (guint i = 0; i < 32; i++)
    g_snprintf (hex + 2 * i, 3, "%02X", digest[i]);
  text = g_strconcat (hex, ".a.b.c", NULL);
  t = eh_token_parse (text, &error);
  g_assert_no_error (error);
  g_assert_true (eh_token_check_ca (t, (const guint8 *) der, sizeof der, &error));
  g_assert_false (eh_token_check_ca (t, (const guint8 *) der, sizeof der - 1, &error));
  g_assert_nonnull (strstr (error->message, "does not match the join token"));
}

/* Routing per docs/bus-contracts.md. */
static void
test_routing (void)
{
  g_assert_cmpint (eh_classify_down ("resource", "edgecontroller", "insert", NULL), ==, EH_DOWN_META);
  g_assert_cmpint (eh_classify_down ("func", "x", "update", ""), ==, EH_DOWN_META);
  g_assert_cmpint (eh_classify_down ("resource", "x", "response", "p"), ==, EH_DOWN_META);
  g_assert_cmpint (eh_classify_down ("twin", "devicecontroller", "response", "p"), ==, EH_DOWN_TWIN);
  g_assert_cmpint (eh_classify_down ("user", "router_eventbus", "publish", NULL), ==, EH_DOWN_EVENTBUS);
  g_assert_cmpint (eh_classify_down ("user", "router_servicebus", "GET", NULL), ==, EH_DOWN_USER_DROPPED);
  g_assert_cmpint (eh_classify_down ("user", "router_eventbus", "response", "p"), ==, EH_DOWN_USER_REPLY);
  g_assert_cmpint (eh_classify_down ("taskmanager", "x", "upgrade", NULL), ==, EH_DOWN_UNKNOWN_GROUP);
  g_assert_cmpint (eh_classify_down (NULL, NULL, NULL, NULL), ==, EH_DOWN_UNKNOWN_GROUP);
  g_assert_cmpint (eh_classify_down ("resource", "x", "ping", NULL), ==, EH_DOWN_CONTROL);
  g_assert_true (eh_known_operation ("applicationResponse"));
  g_assert_false (eh_known_operation ("frobnicate"));
  g_assert_false (eh_known_operation (NULL));
}

/* Which uplink messages replace older ones, and which skip the limit. */
static void
test_status_keys (void)
{
  g_autofree char *a = eh_status_key ("update", "default/nodestatus/edge-1");
  g_autofree char *b = eh_status_key ("insert", "default/nodestatus/edge-1");
  g_autofree char *c = eh_status_key ("update", "default/node/edge-1");
  g_autofree char *d = eh_status_key ("update", "default/podstatus/p");
  g_assert_cmpstr (a, ==, "update default/nodestatus/edge-1");
  g_assert_cmpstr (b, ==, "insert default/nodestatus/edge-1");
  g_assert_cmpstr (c, ==, "update default/node/edge-1");
  g_assert_cmpstr (d, ==, "update default/podstatus/p");
  g_assert_null (eh_status_key ("insert", "default/node/edge-1"));
  g_assert_null (eh_status_key ("insert", "default/event/e1"));
  g_assert_null (eh_status_key ("delete", "default/podstatus/p"));
  g_assert_null (eh_status_key ("update", "membership/detail"));
  g_assert_null (eh_status_key ("update", NULL));
  g_assert_true (eh_exempt_from_limit ("keepalive", NULL));
  g_assert_true (eh_exempt_from_limit ("response", "p"));
  g_assert_true (eh_exempt_from_limit ("error", "p"));
  g_assert_false (eh_exempt_from_limit ("response", NULL));
  g_assert_false (eh_exempt_from_limit ("update", "p"));
}

/* The token bucket: a burst, then qps. */
static void
test_bucket (void)
{
  EhBucket b;
  guint n = 0;
  eh_bucket_init (&b, 30, 60, 0);
  while (eh_bucket_take (&b, 0))
    n++;
  g_assert_cmpuint (n, ==, 60);
  g_assert_cmpint (eh_bucket_wait_us (&b, 0), >, 33000);
  g_assert_cmpint (eh_bucket_wait_us (&b, 0), <=, 33400);
  g_assert_false (eh_bucket_take (&b, 30000));
  g_assert_true (eh_bucket_take (&b, 34000));
  /* one second later: 30 more */
  n = 0;
  while (eh_bucket_take (&b, 1034000))
    n++;
  g_assert_cmpuint (n, ==, 30);
  eh_bucket_init (&b, 0, 1, 0);
  for (guint i = 0; i < 1000; i++)
    g_assert_true (eh_bucket_take (&b, 0));
}

/* Backoff doubles from initial, never exceeds max, jitter stays in bounds,
 * and a reset starts over. */
static void
test_backoff (void)
{
  EhBackoff b;
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  guint expect[] = { 1000, 2000, 4000, 8000, 8000, 8000 };
  eh_backoff_init (&b, 1, 8, 0);
  for (guint i = 0; i < G_N_ELEMENTS (expect); i++)
    g_assert_cmpuint (eh_backoff_next (&b, rand), ==, expect[i]);
  eh_backoff_reset (&b);
  g_assert_cmpuint (eh_backoff_next (&b, rand), ==, 1000);

  eh_backoff_init (&b, 1, 30, 0.2);
  for (guint i = 0; i < 200; i++)
    {
      guint ms = eh_backoff_next (&b, rand);
      double base = MIN (30.0, (double) (1u << MIN (i, 10u)));
      g_assert_cmpuint (ms, >=, (guint) (base * 800) - 1);
      g_assert_cmpuint (ms, <=, 30000);
    }
}

/* A file of tests/data/tls-v1.9.2. */
static char *
v192 (const char *name)
{
  return g_build_filename (TLS_V192_DIR, name, NULL);
}

/* Verifies cloudcore.crt against ca_name for host; returns the error. */
static GError *
verify_cloudcore (const char *ca_name, const char *host)
{
  g_autofree char *ca_path = v192 (ca_name), *crt_path = v192 ("cloudcore.crt");
  GError *error = NULL;
  X509_STORE *ca = eh_tls_load_ca_file (ca_path, &error);
  X509 *crt = eh_tls_load_cert_file (crt_path, &error);
  STACK_OF (X509) *chain = sk_X509_new_null ();
  g_assert_no_error (error);
  sk_X509_push (chain, crt);
  eh_tls_verify_server (chain, ca, "test CA", host, &error);
  sk_X509_pop_free (chain, X509_free);
  X509_STORE_free (ca);
  return error;
}

/* The v1.9.2 server certificate (subjectAltName "DNS:, IP:127.0.0.1") is
 * good for 127.0.0.1 and for nothing else; the empty DNS entry matches no
 * name, not even an empty one; a certificate not from the CA is "chain". */
static void
test_verify_server (void)
{
  GError *error = verify_cloudcore ("ca.crt", "127.0.0.1");
  g_assert_no_error (error);
  error = verify_cloudcore ("ca.crt", "localhost");
  g_assert_error (error, EH_TLS_ERROR, EH_TLS_ERROR_NAME);
  g_assert_cmpstr (eh_tls_error_cause (error), ==, "name");
  g_assert_nonnull (strstr (error->message, "it names DNS:, IP:127.0.0.1"));
  g_clear_error (&error);
  error = verify_cloudcore ("ca.crt", "127.0.0.2");
  g_assert_error (error, EH_TLS_ERROR, EH_TLS_ERROR_NAME);
  g_clear_error (&error);
  error = verify_cloudcore ("ca.crt", "");
  g_assert_error (error, EH_TLS_ERROR, EH_TLS_ERROR_NAME);
  g_clear_error (&error);
  /* edge-v192.crt is no CA: nothing chains to it */
  error = verify_cloudcore ("edge-v192.crt", "127.0.0.1");
  g_assert_error (error, EH_TLS_ERROR, EH_TLS_ERROR_CHAIN);
  g_assert_cmpstr (eh_tls_error_cause (error), ==, "chain");
  g_clear_error (&error);
}

/* The node's certificate: any subject is fine when the CA signed it for
 * clients and it is valid; the reasons it is not are told apart. */
static void
test_check_certs (void)
{
  g_autofree char *ca = v192 ("ca.crt"), *crt = v192 ("edge-v192.crt"), *key = v192 ("edge-v192.key");
  g_autofree char *server_crt = v192 ("cloudcore.crt"), *server_key = v192 ("cloudcore.key");
  g_autoptr (GError) error = NULL;
  gint64 not_after = 0;

  /* CN=kubeedge.io from a v1.9.2 join is kept */
  g_assert_true (eh_bootstrap_check_certs (ca, crt, key, &not_after, &error));
  g_assert_no_error (error);
  g_assert_cmpint (not_after, >, g_get_real_time () / G_USEC_PER_SEC);
  g_assert_false (eh_bootstrap_check_certs (ca, crt, "/nonexistent/key", NULL, &error));
  g_assert_error (error, EH_CERT_ERROR, EH_CERT_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "no node key yet (/nonexistent/key)"));
  g_clear_error (&error);
  /* a key of another certificate */
  g_assert_false (eh_bootstrap_check_certs (ca, crt, server_key, NULL, &error));
  g_assert_error (error, EH_CERT_ERROR, EH_CERT_ERROR_INVALID);
  g_clear_error (&error);
  /* a server-only certificate is not one a node can use */
  g_assert_false (eh_bootstrap_check_certs (ca, server_crt, server_key, NULL, &error));
  g_assert_error (error, EH_CERT_ERROR, EH_CERT_ERROR_FOREIGN);
  g_assert_nonnull (strstr (error->message, "is not a client certificate"));
  g_clear_error (&error);
  /* another "CA" */
  g_assert_false (eh_bootstrap_check_certs (server_crt, crt, key, NULL, &error));
  g_assert_error (error, EH_CERT_ERROR, EH_CERT_ERROR_FOREIGN);
  g_assert_nonnull (strstr (error->message, "is not signed by the cloud CA in"));
  g_clear_error (&error);
  /* not a certificate at all */
  g_assert_false (eh_bootstrap_check_certs (ca, key, key, NULL, &error));
  g_assert_error (error, EH_CERT_ERROR, EH_CERT_ERROR_INVALID);
}

/* Addresses as websocket-server and http-server give them. */
static void
test_split_address (void)
{
  g_autofree char *h1 = NULL, *h2 = NULL, *h3 = NULL;
  guint16 port = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (eh_tls_split_address ("192.0.2.1:10000", 1, &h1, &port, &error));
  g_assert_cmpstr (h1, ==, "192.0.2.1");
  g_assert_cmpuint (port, ==, 10000);
  g_assert_true (eh_tls_split_address ("https://cloud.example:10002", 1, &h2, &port, &error));
  g_assert_cmpstr (h2, ==, "cloud.example");
  g_assert_cmpuint (port, ==, 10002);
  g_assert_true (eh_tls_split_address ("[2001:db8::1]", 10000, &h3, &port, &error));
  g_assert_cmpstr (h3, ==, "2001:db8::1");
  g_assert_cmpuint (port, ==, 10000);
  g_assert_false (eh_tls_split_address ("", 1, &h3, &port, &error));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/edgehub/token", test_token);
  g_test_add_func ("/edgehub/token-ca-hash", test_token_ca_hash);
  g_test_add_func ("/edgehub/routing", test_routing);
  g_test_add_func ("/edgehub/status-keys", test_status_keys);
  g_test_add_func ("/edgehub/bucket", test_bucket);
  g_test_add_func ("/edgehub/backoff", test_backoff);
  g_test_add_func ("/edgehub/verify-server", test_verify_server);
  g_test_add_func ("/edgehub/check-certs", test_check_certs);
  g_test_add_func ("/edgehub/split-address", test_split_address);
  return g_test_run ();
}
