/* ms-status.c: metav1.Status objects, and writing JSON responses. */
#include "ms.h"

#include <string.h>

/* The Kubernetes StatusReason for an HTTP code. */
const char *
ms_reason_for_code (guint code)
{
  switch (code)
    {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "AlreadyExists";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default:  return code >= 500 ? "InternalError" : "Unknown";
    }
}

/**
 * ms_status_json:
 * A metav1.Status for a failure. @details_* may be NULL.
 */
char *
ms_status_json (guint code, const char *reason, const char *message,
                const char *details_name, const char *details_group, const char *details_kind)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "kind");
  json_builder_add_string_value (b, "Status");
  json_builder_set_member_name (b, "apiVersion");
  json_builder_add_string_value (b, "v1");
  json_builder_set_member_name (b, "metadata");
  json_builder_begin_object (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "status");
  json_builder_add_string_value (b, "Failure");
  json_builder_set_member_name (b, "message");
  json_builder_add_string_value (b, message ? message : "");
  json_builder_set_member_name (b, "reason");
  json_builder_add_string_value (b, reason ? reason : ms_reason_for_code (code));
  if (details_name || details_kind)
    {
      json_builder_set_member_name (b, "details");
      json_builder_begin_object (b);
      if (details_name)
        {
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, details_name);
        }
      if (details_group && *details_group)
        {
          json_builder_set_member_name (b, "group");
          json_builder_add_string_value (b, details_group);
        }
      if (details_kind)
        {
          json_builder_set_member_name (b, "kind");
          json_builder_add_string_value (b, details_kind);
        }
      json_builder_end_object (b);
    }
  json_builder_set_member_name (b, "code");
  json_builder_add_int_value (b, code);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}

/* Answers with a JSON body (taken). */
void
ms_respond_json (SoupServerMessage *msg, guint code, char *body)
{
  soup_server_message_set_status (msg, code, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}

/* Answers with a JSON body held in bytes (taken; not copied when it is
 * their only reference). */
void
ms_respond_bytes (SoupServerMessage *msg, guint code, GBytes *body)
{
  gsize len;
  gpointer data = g_bytes_unref_to_data (body, &len);
  soup_server_message_set_status (msg, code, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE, data, len);
}

/* Answers with a failure Status. */
void
ms_respond_status (SoupServerMessage *msg, guint code, const char *reason, const char *message)
{
  ms_respond_json (msg, code, ms_status_json (code, reason, message, NULL, NULL, NULL));
}

/* Answers 404 for a named object, as the apiserver words it. */
void
ms_respond_not_found (SoupServerMessage *msg, const MsRequestInfo *info)
{
  g_autofree char *what = info->group && *info->group
    ? g_strdup_printf ("%s.%s", info->resource, info->group) : g_strdup (info->resource);
  g_autofree char *text = g_strdup_printf ("%s \"%s\" not found", what, info->name);
  ms_respond_json (msg, 404, ms_status_json (404, "NotFound", text, info->name,
                                             info->group, info->resource));
}
