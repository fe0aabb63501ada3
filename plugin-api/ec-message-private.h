/* ec-message-private.h: the layout of EcMessage, inside libedgecore only. */
#pragma once

#include "edgecore.h"

struct _EcMessage {
  gint      ref_count;
  gboolean  frozen;
  gboolean  sync;
  gint64    timestamp;
  char     *msg_id;
  char     *parent_msg_id;
  char     *resource_version;
  char     *type;
  char     *source;
  char     *destination;
  char     *group;
  char     *operation;
  char     *resource;
  char     *content;        /* raw JSON text, NUL-terminated */
  gsize     content_len;
  JsonNode *content_node;   /* parsed on demand, main thread only */
  char      id_buf[40];     /* holds msg_id when it is a UUID */
  guint     arena_used;
  char      arena[112];     /* short header/route strings, never freed alone */
};

/* ec-json.c: the reader's core for the envelope (errors in EC_MESSAGE_ERROR,
 * the default limits): a validating skip that finds
 * where a value ends, and string decoding (\u0000 refused). */
const char *_ec_json_skip_ws       (const char *p, const char *end);
const char *_ec_json_skip_value    (const char *p, const char *end,
                                    const char *start, GError **error);
gboolean    _ec_json_parse_string  (const char **pp, const char *end,
                                    const char *start, char **out,
                                    GError **error);

void        _ec_message_take_content (EcMessage *m, char *owned, gsize len);
EcMessage  *_ec_message_alloc (void);
