/* fuzz-message.c: the message envelope decoder (ec-message-json.c), as
 * edgehub meets a frame from the cloud and the control socket a command:
 * ec_message_new_from_json. What it accepts must encode again, and the
 * encoding must decode to the same route, ids and content. */
#include "fuzz-common.h"

#include <edgecore.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (EcMessage) msg = NULL;
  g_autoptr (EcMessage) again = NULL;
  g_autoptr (EcMessage) copy = NULL;
  g_autofree char *str = NULL;
  g_autofree char *out = NULL;
  gsize out_len, content_len, content_len2;
  const char *content, *content2;

  fuzz_init ();
  msg = ec_message_new_from_json ((const char *) data, (gssize) size, &error);
  if (!msg)
    {
      g_assert_nonnull (error);
      return 0;
    }
  /* every getter a plugin may call on a cloud message */
  (void) ec_message_get_id (msg);
  (void) ec_message_get_parent_id (msg);
  (void) ec_message_get_timestamp (msg);
  (void) ec_message_get_resource_version (msg);
  (void) ec_message_get_sync (msg);
  (void) ec_message_get_message_type (msg);
  (void) ec_message_get_source (msg);
  (void) ec_message_get_destination (msg);
  (void) ec_message_get_group (msg);
  (void) ec_message_get_operation (msg);
  (void) ec_message_get_resource (msg);
  (void) ec_message_get_cloud_state (msg);
  str = ec_message_dup_content_string (msg);
  g_clear_error (&error);
  (void) ec_message_get_content_node (msg, &error);

  /* encode, decode: the same message */
  out = ec_message_to_json (msg, &out_len);
  g_assert_nonnull (out);
  g_clear_error (&error);
  again = ec_message_new_from_json (out, (gssize) out_len, &error);
  if (!again)
    g_error ("re-encoded message does not decode: %s\n%s", error->message, out);
  g_assert_cmpstr (ec_message_get_id (again), ==, ec_message_get_id (msg));
  g_assert_cmpstr (ec_message_get_parent_id (again), ==, ec_message_get_parent_id (msg));
  g_assert_cmpstr (ec_message_get_operation (again), ==, ec_message_get_operation (msg));
  g_assert_cmpstr (ec_message_get_resource (again), ==, ec_message_get_resource (msg));
  g_assert_cmpstr (ec_message_get_source (again), ==, ec_message_get_source (msg));
  g_assert_cmpstr (ec_message_get_group (again), ==, ec_message_get_group (msg));
  content = ec_message_get_content_json (msg, &content_len);
  content2 = ec_message_get_content_json (again, &content_len2);
  g_assert_cmpmem (content, content_len, content2, content_len2);

  /* the replies a plugin makes of it */
  copy = ec_message_copy (msg);
  {
    g_autoptr (EcMessage) reply = ec_message_new_response (msg, "\"OK\"");
    g_autoptr (EcMessage) err = ec_message_new_error (msg, "no");
    g_autofree char *r = ec_message_to_json (reply, NULL);
    g_autofree char *e = ec_message_to_json (err, NULL);
    g_assert_nonnull (r);
    g_assert_nonnull (e);
  }
  return 0;
}
