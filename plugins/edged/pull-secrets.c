/* pull-secrets.c: registry credentials for PullImage from the pod's
 * imagePullSecrets, as kubelet's keyring reads them: each secret's
 * `.dockerconfigjson` ({"auths": {"<registry>": {...}}}) or, failing that,
 * `.dockercfg` ({"<registry>": {...}}); a key matches an image when the
 * hosts match element by element (globs like *.example.com allowed), the
 * ports are equal and the key's path is a prefix of the image's. The most
 * specific key wins; a key for Docker Hub also serves images without a
 * registry. A missing secret is skipped (logged), as on kubelet. */
#include "pod-objects.h"

#include <fnmatch.h>
#include <string.h>

/* A schemeless URL: host[:port] and path. */
typedef struct {
  char *host;
  char *port;
  char *path;
} Url;

static void
url_clear (Url *u)
{
  g_free (u->host);
  g_free (u->port);
  g_free (u->path);
}

static void
url_parse (const char *text, Url *u)
{
  const char *slash, *colon;
  g_autofree char *hostport = NULL;
  if (g_str_has_prefix (text, "https://"))
    text += 8;
  else if (g_str_has_prefix (text, "http://"))
    text += 7;
  slash = strchr (text, '/');
  hostport = slash ? g_strndup (text, (gsize) (slash - text)) : g_strdup (text);
  u->path = g_strdup (slash ? slash : "");
  if (g_str_has_suffix (u->path, "/v1/") || g_str_has_suffix (u->path, "/v2/"))
    u->path[strlen (u->path) - 4] = '\0';
  if (!strcmp (u->path, "/"))
    u->path[0] = '\0';
  colon = strrchr (hostport, ':');
  u->host = colon ? g_strndup (hostport, (gsize) (colon - hostport)) : g_strdup (hostport);
  u->port = g_strdup (colon ? colon + 1 : "");
}

static gboolean
is_docker_hub (const char *host)
{
  return !strcmp (host, "index.docker.io") || !strcmp (host, "docker.io")
         || !strcmp (host, "registry-1.docker.io");
}

/* The image as a schemeless URL, with Docker Hub's host when it names no
 * registry. */
static char *
image_url (const char *image)
{
  const char *slash = strchr (image, '/');
  g_autofree char *first = slash ? g_strndup (image, (gsize) (slash - image)) : NULL;
  if (first && (strchr (first, '.') || strchr (first, ':') || !strcmp (first, "localhost")))
    return g_strdup (image);
  return g_strdup_printf ("docker.io/%s%s", slash ? "" : "library/", image);
}

/* kubelet's URLsMatch: how specific the match is (0: none). */
static gsize
key_match (const char *key, const char *image)
{
  Url k = { 0 }, t = { 0 };
  g_auto (GStrv) kp = NULL, tp = NULL;
  gsize score = 0;

  url_parse (key, &k);
  url_parse (image, &t);
  if (is_docker_hub (k.host) && is_docker_hub (t.host))
    {
      g_free (k.host);
      k.host = g_strdup (t.host);
    }
  kp = g_strsplit (k.host, ".", -1);
  tp = g_strsplit (t.host, ".", -1);
  if (g_strv_length (kp) == g_strv_length (tp) && !strcmp (k.port, t.port)
      && g_str_has_prefix (t.path, k.path))
    {
      score = 1 + strlen (k.host) + strlen (k.path);
      for (guint i = 0; kp[i]; i++)
        if (fnmatch (kp[i], tp[i], 0) != 0)
          score = 0;
    }
  url_clear (&k);
  url_clear (&t);
  return score;
}

static char *
dup_nonempty (JsonObject *o, const char *name)
{
  const char *s = edged_json_string (o, name);
  return s && *s ? g_strdup (s) : NULL;
}

/**
 * edged_docker_config_lookup:
 * The credentials of a docker config (`.dockerconfigjson`, or the legacy
 * `.dockercfg` when legacy) for image; NULL when no key matches, or with
 * error when the config cannot be read.
 */
Runtime__V1__AuthConfig *
edged_docker_config_lookup (const char *json, gsize length, gboolean legacy, const char *image,
                            GError **error)
{
  g_autoptr (JsonNode) root = ec_json_parse (json, length, 16, EDGED_OBJECT_MAX_BYTES, error);
  g_autofree char *target = image_url (image);
  JsonObject *auths, *best = NULL;
  g_autoptr (GList) keys = NULL;
  const char *best_key = NULL;
  gsize best_score = 0;
  Runtime__V1__AuthConfig *auth;

  if (!root)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "not a JSON object");
      return NULL;
    }
  auths = legacy ? json_node_get_object (root) : edged_json_object (json_node_get_object (root), "auths");
  keys = auths ? json_object_get_members (auths) : NULL;
  for (GList *l = keys; l; l = l->next)
    {
      gsize score = edged_json_object (auths, l->data) ? key_match (l->data, target) : 0;
      if (score > best_score)
        {
          best_score = score;
          best_key = l->data;
          best = edged_json_object (auths, l->data);
        }
    }
  if (!best)
    return NULL;
  /* as kubelet's keyring: user and password ("auth", base64 of
   * user:password, overrides them when present); no server address,
   * so that the runtime uses them for the image's registry */
  auth = g_new0 (Runtime__V1__AuthConfig, 1);
  runtime__v1__auth_config__init (auth);
  auth->username = dup_nonempty (best, "username");
  auth->password = dup_nonempty (best, "password");
  if (edged_json_string (best, "auth") && *edged_json_string (best, "auth"))
    {
      gsize len = 0;
      g_autofree char *raw = (char *) g_base64_decode (edged_json_string (best, "auth"), &len);
      g_autofree char *text = g_strndup (raw, len);
      char *colon = strchr (text, ':');
      if (colon)
        {
          g_free (auth->username);
          g_free (auth->password);
          auth->username = g_strndup (text, (gsize) (colon - text));
          auth->password = g_strdup (colon + 1);
        }
    }
  (void) best_key;
  return auth;
}

/* Frees what edged_docker_config_lookup() or edged_pod_pull_auth() gave. */
void
edged_auth_free (Runtime__V1__AuthConfig *auth)
{
  char *fields[6];

  if (!auth)
    return;
  fields[0] = auth->username;
  fields[1] = auth->password;
  fields[2] = auth->auth;
  fields[3] = auth->server_address;
  fields[4] = auth->identity_token;
  fields[5] = auth->registry_token;
  /* unset fields hold protobuf-c's static empty string */
  for (gsize i = 0; i < G_N_ELEMENTS (fields); i++)
    if (fields[i] != protobuf_c_empty_string)
      g_free (fields[i]);
  g_free (auth);
}

/**
 * edged_pod_pull_auth:
 * The credentials for pulling image from the pod's imagePullSecrets (the
 * first secret with a matching key), or NULL.
 */
Runtime__V1__AuthConfig *
edged_pod_pull_auth (EdgedPod *pod, const char *image)
{
  JsonObject *pspec = edged_json_object (json_node_get_object (pod->spec->object), "spec");
  JsonNode *n = pspec ? json_object_get_member (pspec, "imagePullSecrets") : NULL;
  JsonArray *list = n && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;

  for (guint i = 0; list && i < json_array_get_length (list); i++)
    {
      JsonNode *e = json_array_get_element (list, i);
      const char *name = JSON_NODE_HOLDS_OBJECT (e) ? edged_json_string (json_node_get_object (e), "name") : NULL;
      const char *problem = NULL;
      JsonObject *secret = name ? edged_pod_object (pod, "secret", name, &problem) : NULL;
      g_autoptr (GBytes) config = NULL;
      g_autoptr (GError) error = NULL;
      gboolean legacy = FALSE;
      Runtime__V1__AuthConfig *auth;

      if (!secret)
        {
          ec_log_message (pod->edged->context, "pod %s/%s: pull secret %s skipped: %s",
                          pod->spec->namespace, pod->spec->name, name ? name : "(no name)",
                          problem ? problem : "not read");
          continue;
        }
      config = edged_object_value (secret, "secret", ".dockerconfigjson");
      if (!config || !g_bytes_get_size (config))
        {
          g_clear_pointer (&config, g_bytes_unref);
          config = edged_object_value (secret, "secret", ".dockercfg");
          legacy = TRUE;
        }
      if (!config)
        continue;
      auth = edged_docker_config_lookup (g_bytes_get_data (config, NULL), g_bytes_get_size (config),
                                         legacy, image, &error);
      if (error)
        ec_log_message (pod->edged->context, "pod %s/%s: pull secret %s cannot be read: %s",
                        pod->spec->namespace, pod->spec->name, name, error->message);
      if (auth)
        {
          ec_log_info (pod->edged->context, "pod %s/%s: pulling %s with the credentials of pull "
                       "secret %s", pod->spec->namespace, pod->spec->name, image, name);
          return auth;
        }
    }
  return NULL;
}
