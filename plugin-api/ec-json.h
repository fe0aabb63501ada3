/* ec-json.h: the one JSON reader (and string escaper and writer) every plugin uses. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-version.h>
#include <glib-object.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * EC_JSON_ERROR:
 *
 * Error domain of the JSON reader. Errors use #EcJsonError codes; every
 * message names the byte offset where the text went wrong.
 */
#define EC_JSON_ERROR (ec_json_error_quark ())
EC_API GQuark ec_json_error_quark (void);

/**
 * EcJsonError:
 * @EC_JSON_ERROR_SYNTAX: the text is not one valid JSON value (RFC 8259,
 *   UTF-8 only)
 * @EC_JSON_ERROR_DEPTH: arrays and objects nest more deeply than the limit
 * @EC_JSON_ERROR_SIZE: the text is longer than the size limit
 * @EC_JSON_ERROR_NUL: a string holding `\u0000` had to be decoded into C
 *   text, which cannot hold it (see docs/json.md)
 * @EC_JSON_ERROR_TYPE: a scanner's typed read found another type
 * @EC_JSON_ERROR_RANGE: a number does not fit (an integer outside int64 for
 *   ec_json_scanner_int64(), a number beyond double's range in a tree)
 *
 * Errors returned by the JSON reader.
 */
typedef enum {
  EC_JSON_ERROR_SYNTAX,
  EC_JSON_ERROR_DEPTH,
  EC_JSON_ERROR_SIZE,
  EC_JSON_ERROR_NUL,
  EC_JSON_ERROR_TYPE,
  EC_JSON_ERROR_RANGE,
} EcJsonError;

#define EC_TYPE_JSON_ERROR (ec_json_error_get_type ())
EC_API GType ec_json_error_get_type (void) G_GNUC_CONST;

/**
 * EC_JSON_DEFAULT_MAX_DEPTH:
 *
 * The nesting limit used when a call passes 0: arrays and objects inside
 * one another at most this deep. Kubernetes objects stay far below it.
 */
#define EC_JSON_DEFAULT_MAX_DEPTH 512

/**
 * EC_JSON_DEFAULT_MAX_SIZE:
 *
 * The size limit in bytes used when a call passes 0 (64 MiB, edgehub's
 * default `websocket-max-message-size`).
 */
#define EC_JSON_DEFAULT_MAX_SIZE ((gsize) 64 * 1024 * 1024)

EC_API gboolean  ec_json_validate      (const char *buf,
                                        gsize       len,
                                        guint       max_depth,
                                        gsize       max_size,
                                        GError    **error);
EC_API JsonNode *ec_json_parse         (const char *buf,
                                        gsize       len,
                                        guint       max_depth,
                                        gsize       max_size,
                                        GError    **error);
EC_API char     *ec_json_decode_string (const char *buf,
                                        gsize       len,
                                        GError    **error);

EC_API void      ec_json_append_string (GString    *out,
                                        const char *text);
EC_API char     *ec_json_escape        (const char *text);
EC_API void      ec_json_append_node   (GString    *out,
                                        JsonNode   *node,
                                        gboolean    pretty);
EC_API char     *ec_json_to_string     (JsonNode   *node,
                                        gboolean    pretty);

/**
 * EcJsonScanner:
 *
 * A validating JSON scanner that reads a text in place, for hot paths
 * where building a tree per message costs more than the work itself.
 * Callers walk objects member by member, read the members they know with
 * the typed readers (a wrong type is an %EC_JSON_ERROR_TYPE error, as in
 * Go's json.Unmarshal) and skip the others, which are still checked.
 *
 * The first failure is kept (later calls return %FALSE at once) and goes
 * to the #GError given to ec_json_scanner_new();
 * ec_json_scanner_has_failed() tells. The type is opaque.
 */
typedef struct _EcJsonScanner EcJsonScanner;

EC_API EcJsonScanner *ec_json_scanner_new    (const char    *buf,
                                              gsize          len,
                                              guint          max_depth,
                                              gsize          max_size,
                                              GError       **error);
EC_API void     ec_json_scanner_free         (EcJsonScanner *scanner);
EC_API char     ec_json_scanner_peek         (EcJsonScanner *scanner);
EC_API gsize    ec_json_scanner_get_offset   (EcJsonScanner *scanner);
EC_API gboolean ec_json_scanner_has_failed   (EcJsonScanner *scanner);
EC_API gboolean ec_json_scanner_fail         (EcJsonScanner *scanner,
                                              EcJsonError    code,
                                              const char    *what);
EC_API gboolean ec_json_scanner_null         (EcJsonScanner *scanner);
EC_API gboolean ec_json_scanner_string       (EcJsonScanner *scanner,
                                              GString       *out);
EC_API gboolean ec_json_scanner_int64        (EcJsonScanner *scanner,
                                              gint64        *out);
EC_API gboolean ec_json_scanner_bool         (EcJsonScanner *scanner,
                                              gboolean      *out);
EC_API gboolean ec_json_scanner_skip         (EcJsonScanner *scanner);
EC_API gboolean ec_json_scanner_object_begin (EcJsonScanner *scanner);
EC_API gboolean ec_json_scanner_member       (EcJsonScanner *scanner,
                                              guint         *index,
                                              GString       *key);
EC_API gboolean ec_json_scanner_array_begin  (EcJsonScanner *scanner);
EC_API gboolean ec_json_scanner_element      (EcJsonScanner *scanner,
                                              guint         *index);
EC_API gboolean ec_json_scanner_finish       (EcJsonScanner *scanner);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcJsonScanner, ec_json_scanner_free)

G_END_DECLS
