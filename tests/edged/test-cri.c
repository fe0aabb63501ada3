/* test-cri.c: edged's CRI v1 client against a real containerd (started by
 * with-runtime.sh: EDGED_TEST_CRI_SOCK, EDGED_TEST_CGROUP_PARENT,
 * EDGED_TEST_RUNTIME_DIR, EDGED_TEST_RUNTIME_SH, EDGED_TEST_IMAGE), and
 * against misbehaving peers on private unix sockets. */
#include "cri-api.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>

static const char *sock_path;
static const char *image;
static char *scratch;

typedef struct {
  GMainLoop        *loop;
  ProtobufCMessage *response;
  GError           *error;
  guint             outstanding;
} Wait;

static void
on_reply (ProtobufCMessage *response, const GError *error, gpointer data)
{
  Wait *w = data;
  if (response)
    {
      if (w->response)
        protobuf_c_message_free_unpacked (w->response, NULL);
      w->response = response;
    }
  if (error)
    {
      g_clear_error (&w->error);
      w->error = g_error_copy (error);
    }
  if (--w->outstanding == 0)
    g_main_loop_quit (w->loop);
}

/* Runs one call to completion on a private main loop iteration. */
static ProtobufCMessage *
call_sync (EdgedCriClient *client, const EdgedCriMethod *method, const ProtobufCMessage *request,
           guint timeout_ms, GError **error)
{
  Wait w = { g_main_loop_new (NULL, FALSE), NULL, NULL, 1 };
  edged_cri_invoke (client, method, request, timeout_ms, on_reply, &w, NULL);
  g_main_loop_run (w.loop);
  g_main_loop_unref (w.loop);
  if (w.error)
    g_propagate_error (error, w.error);
  return w.response;
}

static EdgedCriClient *
runtime_client (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *endpoint = g_strconcat ("unix://", sock_path, NULL);
  EdgedCriClient *client = edged_cri_client_new (endpoint, 0, &error);
  g_assert_no_error (error);
  return client;
}

static void
test_percent_decode (void)
{
  g_autofree char *a = edged_cri_percent_decode ("no%20such%25image%2", 19);
  g_autofree char *b = edged_cri_percent_decode ("%zz%4", 5);
  g_assert_cmpstr (a, ==, "no such%image%2");
  g_assert_cmpstr (b, ==, "%zz%4");
}

static void
test_endpoint_forms (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EdgedCriClient) a = edged_cri_client_new ("unix:///run/x.sock", 0, NULL);
  g_autoptr (EdgedCriClient) b = edged_cri_client_new ("/run/y.sock", 0, NULL);
  EdgedCriClient *c = edged_cri_client_new ("tcp://127.0.0.1:1", 0, &error);
  g_assert_cmpstr (edged_cri_client_get_path (a), ==, "/run/x.sock");
  g_assert_cmpstr (edged_cri_client_get_path (b), ==, "/run/y.sock");
  g_assert_null (c);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_INVALID_ARGUMENT);
}

static void
test_version_status (void)
{
  g_autoptr (EdgedCriClient) client = runtime_client ();
  g_autoptr (GError) error = NULL;
  Runtime__V1__VersionRequest vreq = RUNTIME__V1__VERSION_REQUEST__INIT;
  Runtime__V1__StatusRequest sreq = RUNTIME__V1__STATUS_REQUEST__INIT;
  Runtime__V1__VersionResponse *v;
  Runtime__V1__StatusResponse *s;
  gboolean runtime_ready = FALSE, network_seen = FALSE;

  vreq.version = (char *) "v1";
  v = (Runtime__V1__VersionResponse *) call_sync (client, &edged_cri_version, &vreq.base, 10000, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (v->runtime_name, ==, "containerd");
  g_assert_cmpstr (v->runtime_api_version, ==, "v1");
  g_assert_cmpuint (strlen (v->runtime_version), >, 0);
  protobuf_c_message_free_unpacked (&v->base, NULL);

  s = (Runtime__V1__StatusResponse *) call_sync (client, &edged_cri_status, &sreq.base, 10000, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s->status);
  for (gsize i = 0; i < s->status->n_conditions; i++)
    {
      Runtime__V1__RuntimeCondition *c = s->status->conditions[i];
      if (!strcmp (c->type, "RuntimeReady"))
        runtime_ready = c->status;
      if (!strcmp (c->type, "NetworkReady"))
        network_seen = TRUE;
    }
  g_assert_true (runtime_ready);
  g_assert_true (network_seen);
  protobuf_c_message_free_unpacked (&s->base, NULL);
  g_assert_cmpuint (edged_cri_client_get_pending (client), ==, 0);
}

static void
test_images (void)
{
  g_autoptr (EdgedCriClient) client = runtime_client ();
  g_autoptr (GError) error = NULL;
  Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
  Runtime__V1__ImageStatusRequest req = RUNTIME__V1__IMAGE_STATUS_REQUEST__INIT;
  Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
  Runtime__V1__ImageStatusResponse *r;
  ProtobufCMessage *p;

  req.image = &spec;
  spec.image = (char *) image;
  r = (Runtime__V1__ImageStatusResponse *) call_sync (client, &edged_cri_image_status, &req.base,
                                                      10000, &error);
  g_assert_no_error (error);
  g_assert_nonnull (r->image);
  g_assert_true (g_str_has_prefix (r->image->id, "sha256:"));
  g_assert_cmpuint (r->image->n_repo_tags, >=, 1);
  g_assert_cmpstr (r->image->repo_tags[0], ==, image);
  protobuf_c_message_free_unpacked (&r->base, NULL);

  /* an image that is not there: no image, no error (CRI's contract) */
  spec.image = (char *) "localhost/not-here:0";
  r = (Runtime__V1__ImageStatusResponse *) call_sync (client, &edged_cri_image_status, &req.base,
                                                      10000, &error);
  g_assert_no_error (error);
  g_assert_null (r->image);
  protobuf_c_message_free_unpacked (&r->base, NULL);

  /* an unpullable image: the runtime's error text arrives in the GError */
  pull.image = &spec;
  spec.image = (char *) "127.0.0.1:1/edged/absent:1";
  p = call_sync (client, &edged_cri_pull_image, &pull.base, 60000, &error);
  g_assert_null (p);
  g_assert_nonnull (error);
  g_assert_true (error->domain == EDGED_CRI_ERROR);
  g_assert_cmpint (error->code, !=, EDGED_CRI_ERROR_DEADLINE_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "/runtime.v1.ImageService/PullImage: "));
  g_assert_nonnull (strstr (error->message, "127.0.0.1:1/edged/absent:1"));
}

static void
test_not_found (void)
{
  g_autoptr (EdgedCriClient) client = runtime_client ();
  g_autoptr (GError) error = NULL;
  Runtime__V1__ContainerStatusRequest req = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
  ProtobufCMessage *r;

  req.container_id = (char *) "no-such-container";
  r = call_sync (client, &edged_cri_container_status, &req.base, 10000, &error);
  g_assert_null (r);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "no-such-container"));
}

static char *
read_file (const char *path)
{
  char *text = NULL;
  g_file_get_contents (path, &text, NULL, NULL);
  return text;
}

static void
test_pod_lifecycle (void)
{
  g_autoptr (EdgedCriClient) client = runtime_client ();
  g_autoptr (GError) error = NULL;
  g_autofree char *logdir = g_build_filename (scratch, "pod-lifecycle", NULL);
  g_autofree char *cgroup = g_strconcat (g_getenv ("EDGED_TEST_CGROUP_PARENT"), "/podtest", NULL);
  Runtime__V1__PodSandboxMetadata meta = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
  Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
  Runtime__V1__LinuxSandboxSecurityContext sc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
  Runtime__V1__LinuxPodSandboxConfig linux_ = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
  Runtime__V1__PodSandboxConfig config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
  Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
  Runtime__V1__RunPodSandboxResponse *ran;
  Runtime__V1__ContainerMetadata cmeta = RUNTIME__V1__CONTAINER_METADATA__INIT;
  Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
  Runtime__V1__ContainerConfig cconfig = RUNTIME__V1__CONTAINER_CONFIG__INIT;
  Runtime__V1__CreateContainerRequest create = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
  Runtime__V1__CreateContainerResponse *created;
  Runtime__V1__StartContainerRequest start = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
  Runtime__V1__ContainerStatusRequest csreq = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
  Runtime__V1__ContainerFilter cfilter = RUNTIME__V1__CONTAINER_FILTER__INIT;
  Runtime__V1__ListContainersRequest lc = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
  Runtime__V1__ListContainersResponse *listed;
  Runtime__V1__PodSandboxFilter pfilter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
  Runtime__V1__ListPodSandboxRequest lp = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
  Runtime__V1__ListPodSandboxResponse *pods;
  Runtime__V1__PodSandboxStatusRequest psreq = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
  Runtime__V1__PodSandboxStatusResponse *ps;
  Runtime__V1__StopContainerRequest stopc = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;
  Runtime__V1__RemoveContainerRequest rmc = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
  Runtime__V1__StopPodSandboxRequest stopp = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
  Runtime__V1__RemovePodSandboxRequest rmp = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
  char *command[] = { (char *) "sh", (char *) "-c" };
  char *args[] = { (char *) "echo hello-from-edged; exit 3" };
  g_autofree char *sandbox_id = NULL, *container_id = NULL, *log = NULL, *logpath = NULL;
  Runtime__V1__ContainerStatusResponse *cs = NULL;
  ProtobufCMessage *empty;
  gint64 deadline;

  g_mkdir_with_parents (logdir, 0755);
  meta.name = (char *) "lifecycle";
  meta.uid = (char *) "uid-lifecycle";
  meta.namespace_ = (char *) "default";
  ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
  ns.pid = RUNTIME__V1__NAMESPACE_MODE__CONTAINER;
  ns.ipc = RUNTIME__V1__NAMESPACE_MODE__POD;
  sc.namespace_options = &ns;
  linux_.security_context = &sc;
  linux_.cgroup_parent = cgroup;
  config.metadata = &meta;
  config.log_directory = logdir;
  config.linux = &linux_;
  run.config = &config;
  ran = (Runtime__V1__RunPodSandboxResponse *) call_sync (client, &edged_cri_run_pod_sandbox,
                                                          &run.base, 120000, &error);
  g_assert_no_error (error);
  sandbox_id = g_strdup (ran->pod_sandbox_id);
  protobuf_c_message_free_unpacked (&ran->base, NULL);
  g_assert_cmpuint (strlen (sandbox_id), ==, 64);

  cmeta.name = (char *) "echo";
  spec.image = (char *) image;
  cconfig.metadata = &cmeta;
  cconfig.image = &spec;
  cconfig.command = command;
  cconfig.n_command = G_N_ELEMENTS (command);
  cconfig.args = args;
  cconfig.n_args = G_N_ELEMENTS (args);
  cconfig.log_path = (char *) "echo/0.log";
  create.pod_sandbox_id = sandbox_id;
  create.config = &cconfig;
  create.sandbox_config = &config;
  created = (Runtime__V1__CreateContainerResponse *) call_sync (client, &edged_cri_create_container,
                                                                &create.base, 120000, &error);
  g_assert_no_error (error);
  container_id = g_strdup (created->container_id);
  protobuf_c_message_free_unpacked (&created->base, NULL);

  start.container_id = container_id;
  empty = call_sync (client, &edged_cri_start_container, &start.base, 120000, &error);
  g_assert_no_error (error);
  protobuf_c_message_free_unpacked (empty, NULL);

  csreq.container_id = container_id;
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  for (;;)
    {
      cs = (Runtime__V1__ContainerStatusResponse *) call_sync (client, &edged_cri_container_status,
                                                               &csreq.base, 10000, &error);
      g_assert_no_error (error);
      if (cs->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED)
        break;
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      protobuf_c_message_free_unpacked (&cs->base, NULL);
      g_usleep (100000);
    }
  g_assert_cmpint (cs->status->exit_code, ==, 3);
  g_assert_cmpstr (cs->status->metadata->name, ==, "echo");
  /* containerd may stamp the start after a quick exit: both set is what holds */
  g_assert_cmpint (cs->status->started_at, >, 0);
  g_assert_cmpint (cs->status->finished_at, >, 0);
  logpath = g_strdup (cs->status->log_path);
  protobuf_c_message_free_unpacked (&cs->base, NULL);
  log = read_file (logpath);
  g_assert_nonnull (log);
  g_assert_nonnull (strstr (log, " stdout F hello-from-edged\n"));

  cfilter.pod_sandbox_id = sandbox_id;
  lc.filter = &cfilter;
  listed = (Runtime__V1__ListContainersResponse *) call_sync (client, &edged_cri_list_containers,
                                                              &lc.base, 10000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (listed->n_containers, ==, 1);
  g_assert_cmpstr (listed->containers[0]->id, ==, container_id);
  g_assert_cmpstr (listed->containers[0]->pod_sandbox_id, ==, sandbox_id);
  protobuf_c_message_free_unpacked (&listed->base, NULL);

  psreq.pod_sandbox_id = sandbox_id;
  ps = (Runtime__V1__PodSandboxStatusResponse *) call_sync (client, &edged_cri_pod_sandbox_status,
                                                            &psreq.base, 10000, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ps->status->state, ==, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
  g_assert_cmpstr (ps->status->metadata->uid, ==, "uid-lifecycle");
  protobuf_c_message_free_unpacked (&ps->base, NULL);

  stopc.container_id = container_id;
  stopc.timeout = 5;
  empty = call_sync (client, &edged_cri_stop_container, &stopc.base, 60000, &error);
  g_assert_no_error (error);
  protobuf_c_message_free_unpacked (empty, NULL);
  rmc.container_id = container_id;
  empty = call_sync (client, &edged_cri_remove_container, &rmc.base, 60000, &error);
  g_assert_no_error (error);
  protobuf_c_message_free_unpacked (empty, NULL);
  stopp.pod_sandbox_id = sandbox_id;
  empty = call_sync (client, &edged_cri_stop_pod_sandbox, &stopp.base, 60000, &error);
  g_assert_no_error (error);
  protobuf_c_message_free_unpacked (empty, NULL);
  rmp.pod_sandbox_id = sandbox_id;
  empty = call_sync (client, &edged_cri_remove_pod_sandbox, &rmp.base, 60000, &error);
  g_assert_no_error (error);
  protobuf_c_message_free_unpacked (empty, NULL);

  pfilter.id = sandbox_id;
  lp.filter = &pfilter;
  pods = (Runtime__V1__ListPodSandboxResponse *) call_sync (client, &edged_cri_list_pod_sandbox,
                                                            &lp.base, 10000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (pods->n_items, ==, 0);
  protobuf_c_message_free_unpacked (&pods->base, NULL);
}

static void
test_many_at_once (void)
{
  g_autoptr (EdgedCriClient) client = runtime_client ();
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  Wait w = { g_main_loop_new (NULL, FALSE), NULL, NULL, 200 };

  for (int i = 0; i < 200; i++)
    edged_cri_invoke (client, &edged_cri_version, &req.base, 30000, on_reply, &w, NULL);
  g_assert_cmpuint (edged_cri_client_get_pending (client), ==, 200);
  g_main_loop_run (w.loop);
  g_assert_no_error (w.error);
  g_assert_cmpstr (((Runtime__V1__VersionResponse *) w.response)->runtime_name, ==, "containerd");
  protobuf_c_message_free_unpacked (w.response, NULL);
  g_main_loop_unref (w.loop);
  g_assert_cmpuint (edged_cri_client_get_pending (client), ==, 0);
}

static void
test_response_limit (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *endpoint = g_strconcat ("unix://", sock_path, NULL);
  g_autoptr (EdgedCriClient) client = edged_cri_client_new (endpoint, 8, &error);
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  ProtobufCMessage *r;

  r = call_sync (client, &edged_cri_version, &req.base, 10000, &error);
  g_assert_null (r);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_RESOURCE_EXHAUSTED);
  g_clear_error (&error);
  /* the connection stays usable for the next call */
  r = call_sync (client, &edged_cri_version, &req.base, 10000, &error);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_RESOURCE_EXHAUSTED);
  g_assert_null (r);
}

static void
test_missing_socket (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (scratch, "absent.sock", NULL);
  g_autoptr (EdgedCriClient) client = edged_cri_client_new (path, 0, NULL);
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  gint64 t0 = g_get_monotonic_time ();
  ProtobufCMessage *r = call_sync (client, &edged_cri_version, &req.base, 20000, &error);

  g_assert_null (r);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNAVAILABLE);
  g_assert_nonnull (strstr (error->message, "cannot connect to"));
  /* refused at once, not at the deadline */
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 10 * G_USEC_PER_SEC);
}

/* A unix socket that never answers (listening, never accepting). */
static void
test_deadline (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (scratch, "silent.sock", NULL);
  g_autoptr (GSocket) listener = g_socket_new (G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                               G_SOCKET_PROTOCOL_DEFAULT, &error);
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr (EdgedCriClient) client = NULL;
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  ProtobufCMessage *r;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listener, address, TRUE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  client = edged_cri_client_new (path, 0, NULL);
  r = call_sync (client, &edged_cri_version, &req.base, 300, &error);
  g_assert_null (r);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_DEADLINE_EXCEEDED);
  g_assert_nonnull (strstr (error->message, "no answer within 300 ms"));
  g_assert_cmpuint (edged_cri_client_get_pending (client), ==, 0);
}

static gboolean
on_garbage_peer (GSocketService *service, GSocketConnection *connection, GObject *source,
                 gpointer data)
{
  GOutputStream *out = g_io_stream_get_output_stream (G_IO_STREAM (connection));
  g_output_stream_write_all (out, "HTTP/1.1 400 Bad Request\r\n\r\n", 28, NULL, NULL, NULL);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
  return TRUE;
}

/* A peer that speaks HTTP/1.1 garbage and hangs up. */
static void
test_garbage_peer (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = g_build_filename (scratch, "garbage.sock", NULL);
  g_autoptr (GSocketService) service = g_socket_service_new ();
  g_autoptr (GSocketAddress) address = g_unix_socket_address_new (path);
  g_autoptr (EdgedCriClient) client = NULL;
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  ProtobufCMessage *r;

  g_assert_true (g_socket_listener_add_address (G_SOCKET_LISTENER (service), address,
                                                G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                                NULL, NULL, &error));
  g_signal_connect (service, "incoming", G_CALLBACK (on_garbage_peer), NULL);
  client = edged_cri_client_new (path, 0, NULL);
  r = call_sync (client, &edged_cri_version, &req.base, 10000, &error);
  g_assert_null (r);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNAVAILABLE);
  g_socket_service_stop (service);
}

static void
runtime_sh (const char *what)
{
  g_autoptr (GError) error = NULL;
  int status = 0;
  const char *argv[] = { g_getenv ("EDGED_TEST_RUNTIME_SH"), what,
                         g_getenv ("EDGED_TEST_RUNTIME_DIR"), NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                               &status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
}

/* containerd stops and comes back: the same client fails, then works. */
static void
test_runtime_restart (void)
{
  g_autoptr (EdgedCriClient) client = runtime_client ();
  g_autoptr (GError) error = NULL;
  Runtime__V1__VersionRequest req = RUNTIME__V1__VERSION_REQUEST__INIT;
  ProtobufCMessage *r;

  r = call_sync (client, &edged_cri_version, &req.base, 10000, &error);
  g_assert_no_error (error);
  protobuf_c_message_free_unpacked (r, NULL);
  runtime_sh ("kill");
  r = call_sync (client, &edged_cri_version, &req.base, 10000, &error);
  g_assert_null (r);
  g_assert_error (error, EDGED_CRI_ERROR, EDGED_CRI_ERROR_UNAVAILABLE);
  g_clear_error (&error);
  runtime_sh ("restart");
  r = call_sync (client, &edged_cri_version, &req.base, 10000, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (((Runtime__V1__VersionResponse *) r)->runtime_name, ==, "containerd");
  protobuf_c_message_free_unpacked (r, NULL);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  sock_path = g_getenv ("EDGED_TEST_CRI_SOCK");
  image = g_getenv ("EDGED_TEST_IMAGE");
  if (!sock_path || !image || !g_getenv ("EDGED_TEST_CGROUP_PARENT")
      || !g_getenv ("EDGED_TEST_RUNTIME_DIR"))
    g_error ("run through tests/edged/with-runtime.sh (it starts containerd)");
  /* inside the runtime's folder, which with-runtime.sh removes whatever happens */
  scratch = g_build_filename (g_getenv ("EDGED_TEST_RUNTIME_DIR"), "scratch", NULL);
  g_mkdir_with_parents (scratch, 0700);
  g_test_add_func ("/cri/percent-decode", test_percent_decode);
  g_test_add_func ("/cri/endpoint-forms", test_endpoint_forms);
  g_test_add_func ("/cri/version-status", test_version_status);
  g_test_add_func ("/cri/images", test_images);
  g_test_add_func ("/cri/not-found", test_not_found);
  g_test_add_func ("/cri/pod-lifecycle", test_pod_lifecycle);
  g_test_add_func ("/cri/many-at-once", test_many_at_once);
  g_test_add_func ("/cri/response-limit", test_response_limit);
  g_test_add_func ("/cri/missing-socket", test_missing_socket);
  g_test_add_func ("/cri/deadline", test_deadline);
  g_test_add_func ("/cri/garbage-peer", test_garbage_peer);
  g_test_add_func ("/cri/runtime-restart", test_runtime_restart);
  rc = g_test_run ();
  g_free (scratch);
  return rc;
}
