/* dt-scan.h: a small validating JSON scanner over text, for the mapper's
 * hot paths (twin update and get) where building a json-glib tree per
 * message costs more than the rest of the work. */
#pragma once

#include <glib.h>

typedef struct {
  const char *p;       /* next unread byte */
  const char *end;
  const char *start;
  int         depth;
  gboolean    failed;
  GError    **error;   /* set on the first failure */
} DtScan;

void     dt_scan_init         (DtScan *s, const char *text, gsize length, GError **error);
char     dt_scan_peek         (DtScan *s);
gboolean dt_scan_null         (DtScan *s);
gboolean dt_scan_string       (DtScan *s, GString *out);
gboolean dt_scan_int64        (DtScan *s, gint64 *out);
gboolean dt_scan_bool         (DtScan *s, gboolean *out);
gboolean dt_scan_skip         (DtScan *s);
gboolean dt_scan_object_begin (DtScan *s);
gboolean dt_scan_member       (DtScan *s, guint *index, GString *key);
gboolean dt_scan_finish       (DtScan *s);
gboolean dt_scan_fail         (DtScan *s, const char *what);
