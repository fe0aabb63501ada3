/* config-parse.h: the kubelet value syntaxes of edged's keys: quantities
 * ("200m", "256Mi", "1.5Gi"), Go durations ("1m0s", "100ms"), labels
 * (key=value), taints (key=value:effect) and eviction thresholds
 * (signal<quantity or signal<N%). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean edged_quantity_parse  (const char *text, gint64 *milli, GError **error);
char    *edged_quantity_format_bytes (gint64 bytes, const char *unit);
gboolean edged_duration_parse  (const char *text, gint64 *ms, GError **error);
gboolean edged_label_parse     (const char *text, char **key, char **value, GError **error);

typedef struct {
  char *key;
  char *value;
  char *effect;
} EdgedTaint;

gboolean edged_taint_parse     (const char *text, EdgedTaint *taint, GError **error);
void     edged_taint_clear     (EdgedTaint *taint);

/* A hard eviction threshold: an absolute quantity (bytes) or a percentage. */
typedef struct {
  gint64  bytes;
  double  percent;    /* > 0: percentage of capacity instead of bytes */
} EdgedThreshold;

gboolean edged_threshold_lookup (char **thresholds, const char *signal,
                                 EdgedThreshold *threshold, GError **error);
gint64   edged_threshold_bytes  (const EdgedThreshold *threshold, gint64 capacity);
gboolean edged_reserved_lookup  (char **reserved, const char *name, gint64 *milli,
                                 GError **error);

G_END_DECLS
