/* ec-metric.c: the metrics registry of the bus (libedgecore 1.3).
 *
 * Each endpoint holds the metrics its plugin registered; the endpoint frees
 * them with itself. The value is one C11 atomic, so counting takes no lock.
 * Registering and reading take one lock of the library (rare operations),
 * and ask the host's bus for its members to check names across the bus and
 * to read them all. */
#include "config.h"

#include "ec-lib-private.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN        200   /* bytes of a metric or label name */
#define HELP_MAX_LEN        1024  /* bytes of a help text */
#define LABEL_VALUE_MAX_LEN 1024  /* bytes of a label value */
#define LABELS_MAX          16    /* label pairs of one metric */
#define METRICS_MAX         1024  /* metrics of one endpoint */

struct _EcMetric {
  _Atomic gint64 value;
  EcMetricKind   kind;
  char          *name;
  char          *help;
  char         **labels;     /* name, value, ... sorted by name; NULL-ended */
};

G_DEFINE_ENUM_TYPE (EcMetricKind, ec_metric_kind,
                    G_DEFINE_ENUM_VALUE (EC_METRIC_COUNTER, "counter"),
                    G_DEFINE_ENUM_VALUE (EC_METRIC_GAUGE, "gauge"))

/* Guards every endpoint's metrics array (not the values). */
static GMutex metrics_lock;

static gboolean
name_syntax_ok (const char *name)
{
  gsize len;
  if (!name || !(g_ascii_isalpha (name[0]) || name[0] == '_') || g_str_has_prefix (name, "__"))
    return FALSE;
  for (len = 1; name[len]; len++)
    if (!(g_ascii_isalnum (name[len]) || name[len] == '_') || len >= NAME_MAX_LEN)
      return FALSE;
  return TRUE;
}

/**
 * ec_metric_name_is_valid:
 * @name: (nullable): a metric name
 *
 * Tells whether ec_endpoint_add_metric() takes @name: the Prometheus
 * metric name syntax `[a-zA-Z_][a-zA-Z0-9_]*` without the colons reserved
 * for recording rules, not starting with `__` (reserved), at most 200
 * bytes.
 *
 * Returns: %TRUE if @name is a valid metric name
 * Since: 1.3
 */
gboolean
ec_metric_name_is_valid (const char *name)
{
  return name_syntax_ok (name);
}

/**
 * ec_metric_label_name_is_valid:
 * @name: (nullable): a label name
 *
 * Tells whether @name may label a metric: the Prometheus label name syntax
 * `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`, at most 200 bytes,
 * and not `module`, the label a reader adds with the bus member's name.
 *
 * Returns: %TRUE if @name is a valid label name
 * Since: 1.3
 */
gboolean
ec_metric_label_name_is_valid (const char *name)
{
  return name_syntax_ok (name) && strcmp (name, "module") != 0;
}

static void
metric_free (gpointer data)
{
  EcMetric *m = data;
  g_free (m->name);
  g_free (m->help);
  g_strfreev (m->labels);
  g_free (m);
}

/* Frees an endpoint's metrics (ec_host_endpoint_free()). */
void
_ec_metrics_free (GPtrArray *metrics)
{
  if (metrics)
    g_ptr_array_unref (metrics);
}

static int
compare_pairs (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Sets *why (taking @text) and returns NULL. */
static char **
refuse (char **why, char *text)
{
  *why = text;
  return NULL;
}

/* Checks @labels and copies them sorted by name, or says why not. */
static char **
copy_labels (const char *const *labels, char **why)
{
  guint n = labels ? g_strv_length ((char **) labels) : 0;
  g_autofree char **pairs = NULL;
  char **out;

  if (n % 2)
    return refuse (why, g_strdup ("labels must be name, value pairs"));
  if (n / 2 > LABELS_MAX)
    return refuse (why, g_strdup_printf ("more than %d labels", LABELS_MAX));
  for (guint i = 0; i < n; i += 2)
    {
      if (!ec_metric_label_name_is_valid (labels[i]))
        return refuse (why, g_strdup_printf ("invalid label name “%s”", labels[i]));
      if (strlen (labels[i + 1]) > LABEL_VALUE_MAX_LEN || !g_utf8_validate (labels[i + 1], -1, NULL))
        return refuse (why, g_strdup_printf ("the value of label %s is not UTF-8 of at most %d bytes",
                                             labels[i], LABEL_VALUE_MAX_LEN));
    }
  /* sort the pairs by name: equal label sets compare equal */
  pairs = g_new0 (char *, n + 1);
  if (n > 0)
    {
      memcpy (pairs, labels, sizeof (char *) * n);
      qsort (pairs, n / 2, 2 * sizeof (char *), compare_pairs);
    }
  for (guint i = 2; i < n; i += 2)
    if (strcmp (pairs[i - 2], pairs[i]) == 0)
      return refuse (why, g_strdup_printf ("label %s given twice", pairs[i]));
  out = g_new0 (char *, n + 1);
  for (guint i = 0; i < n; i++)
    out[i] = g_strdup (pairs[i]);
  return out;
}

static gboolean
same_labels (char **a, char **b)
{
  for (; *a && *b; a++, b++)
    if (strcmp (*a, *b) != 0)
      return FALSE;
  return !*a && !*b;
}

/* Under metrics_lock: why @m cannot join @endpoint's metrics, or NULL. */
static char *
conflict (EcEndpoint *endpoint, EcMetric *m)
{
  g_autoptr (GPtrArray) members = endpoint->ops->list_members (endpoint);
  if (endpoint->metrics && endpoint->metrics->len >= METRICS_MAX)
    return g_strdup_printf ("module %s has %d metrics already", endpoint->name, METRICS_MAX);
  if (endpoint->metrics)
    for (guint i = 0; i < endpoint->metrics->len; i++)
      {
        EcMetric *o = endpoint->metrics->pdata[i];
        if (strcmp (o->name, m->name) == 0 && same_labels (o->labels, m->labels))
          return g_strdup ("registered already with these labels");
      }
  for (guint k = 0; k < members->len; k++)
    {
      EcEndpoint *ep = members->pdata[k];
      for (guint i = 0; ep->metrics && i < ep->metrics->len; i++)
        {
          EcMetric *o = ep->metrics->pdata[i];
          if (o->kind != m->kind && strcmp (o->name, m->name) == 0)
            return g_strdup_printf ("module %s registered it as a %s", ep->name,
                                    o->kind == EC_METRIC_COUNTER ? "counter" : "gauge");
        }
    }
  return NULL;
}

/**
 * ec_endpoint_add_metric:
 * @endpoint: the plugin's endpoint
 * @name: the metric name, e.g. `edgecore_cloud_connects_total`
 *   (ec_metric_name_is_valid())
 * @kind: counter or gauge
 * @help: one line saying what it counts (at most 1024 bytes of UTF-8)
 * @labels: (nullable) (array zero-terminated=1): label name, value pairs,
 *   %NULL-terminated: `{ "reason", "closed", NULL }`; names as
 *   ec_metric_label_name_is_valid(), values UTF-8 of at most 1024 bytes;
 *   at most 16 pairs
 *
 * Registers a metric of @endpoint's module, starting at 0. Metrics of one
 * name form a family: they may differ in their labels (one metric per
 * label value, e.g. a disconnect reason), and each module's are reported
 * with a `module` label naming it; a name keeps one kind on the whole bus.
 * Registration is refused, with a warning naming the metric, when the name
 * or a label is invalid, when @endpoint has a metric of that name with the
 * same labels already, when another member registered the name with the
 * other kind, and beyond 1024 metrics per endpoint. Register the metrics
 * once, in the plugin's init, and keep the pointers: they stay valid as long
 * as @endpoint (the host frees them after the plugin). When the member
 * leaves the bus, ec_endpoint_get_metrics() no longer lists them. Any
 * thread.
 *
 * Returns: (transfer none) (nullable): the metric, owned by @endpoint; %NULL
 *   if refused (ec_metric_add() and ec_metric_set() take %NULL)
 * Since: 1.3
 */
EcMetric *
ec_endpoint_add_metric (EcEndpoint *endpoint, const char *name, EcMetricKind kind,
                        const char *help, const char *const *labels)
{
  g_autofree char *why = NULL;
  char **copied = NULL;
  EcMetric *m;

  g_return_val_if_fail (endpoint != NULL, NULL);
  g_return_val_if_fail (name != NULL && help != NULL, NULL);
  if (!ec_metric_name_is_valid (name))
    why = g_strdup ("invalid metric name");
  else if (kind != EC_METRIC_COUNTER && kind != EC_METRIC_GAUGE)
    why = g_strdup_printf ("unknown kind %d", (int) kind);
  else if (strlen (help) > HELP_MAX_LEN || !g_utf8_validate (help, -1, NULL))
    why = g_strdup_printf ("the help text is not UTF-8 of at most %d bytes", HELP_MAX_LEN);
  else
    copied = copy_labels (labels, &why);
  if (!copied)
    {
      g_warning ("metric “%s” of module %s refused: %s", name, endpoint->name, why);
      return NULL;
    }
  m = g_new0 (EcMetric, 1);
  m->kind = kind;
  m->name = g_strdup (name);
  m->help = g_strdup (help);
  m->labels = copied;
  atomic_init (&m->value, 0);

  g_mutex_lock (&metrics_lock);
  why = conflict (endpoint, m);
  if (!why)
    {
      if (!endpoint->metrics)
        endpoint->metrics = g_ptr_array_new_with_free_func (metric_free);
      g_ptr_array_add (endpoint->metrics, m);
    }
  g_mutex_unlock (&metrics_lock);
  if (why)
    {
      g_warning ("metric “%s” of module %s refused: %s", name, endpoint->name, why);
      metric_free (m);
      return NULL;
    }
  return m;
}

typedef struct {
  EcEndpoint *ep;
  EcMetric   *m;
  guint       family;   /* its name's first appearance */
  guint       seq;      /* its place in bus order */
} Row;

static int
compare_rows (gconstpointer a, gconstpointer b)
{
  const Row *x = a, *y = b;
  if (x->family != y->family)
    return x->family < y->family ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Under metrics_lock: every member's metrics, grouped by name (families in
 * order of first registration), else in bus order. */
static GArray *
collect (EcEndpoint *endpoint)
{
  g_autoptr (GPtrArray) members = endpoint->ops->list_members (endpoint);
  g_autoptr (GHashTable) families = g_hash_table_new (g_str_hash, g_str_equal);
  GArray *rows = g_array_new (FALSE, FALSE, sizeof (Row));
  for (guint k = 0; k < members->len; k++)
    {
      EcEndpoint *ep = members->pdata[k];
      for (guint i = 0; ep->metrics && i < ep->metrics->len; i++)
        {
          Row r = { ep, ep->metrics->pdata[i], 0, rows->len };
          gpointer family;
          if (!g_hash_table_lookup_extended (families, r.m->name, NULL, &family))
            {
              family = GUINT_TO_POINTER (g_hash_table_size (families));
              g_hash_table_insert (families, r.m->name, family);
            }
          r.family = GPOINTER_TO_UINT (family);
          g_array_append_val (rows, r);
        }
    }
  g_array_sort (rows, compare_rows);
  return rows;
}

/**
 * ec_endpoint_get_metrics:
 * @endpoint: any endpoint on the bus
 *
 * Reads every metric registered by the members of the bus @endpoint is on
 * (ec_endpoint_add_metric()), for the plugin that reports them (edged's
 * `/metrics`), grouped by name. Members that left the bus are not listed.
 * Reading changes nothing; the values are read one by one, not as one
 * snapshot. Any thread. ec_endpoint_foreach_metric() reads the same
 * without building a #GVariant.
 *
 * Returns: (transfer full): a #GVariant of type %EC_METRICS_TYPE
 * Since: 1.3
 */
GVariant *
ec_endpoint_get_metrics (EcEndpoint *endpoint)
{
  g_autoptr (GArray) rows = NULL;
  GVariantBuilder b;

  g_return_val_if_fail (endpoint != NULL, NULL);
  g_variant_builder_init (&b, G_VARIANT_TYPE (EC_METRICS_TYPE));
  g_mutex_lock (&metrics_lock);
  rows = collect (endpoint);
  for (guint i = 0; i < rows->len; i++)
    {
      Row *r = &g_array_index (rows, Row, i);
      EcMetric *m = r->m;
      g_variant_builder_open (&b, G_VARIANT_TYPE ("(ssssa(ss)x)"));
      g_variant_builder_add (&b, "s", r->ep->name);
      g_variant_builder_add (&b, "s", m->name);
      g_variant_builder_add (&b, "s", m->kind == EC_METRIC_COUNTER ? "counter" : "gauge");
      g_variant_builder_add (&b, "s", m->help);
      g_variant_builder_open (&b, G_VARIANT_TYPE ("a(ss)"));
      for (char **l = m->labels; *l; l += 2)
        g_variant_builder_add (&b, "(ss)", l[0], l[1]);
      g_variant_builder_close (&b);
      g_variant_builder_add (&b, "x", (gint64) atomic_load_explicit (&m->value, memory_order_relaxed));
      g_variant_builder_close (&b);
    }
  g_mutex_unlock (&metrics_lock);
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

/**
 * ec_endpoint_foreach_metric:
 * @endpoint: any endpoint on the bus
 * @func: (scope call) (closure user_data): called for each metric
 * @user_data: data for @func
 *
 * Calls @func for every metric ec_endpoint_get_metrics() would list, in
 * the same order (grouped by name), without building a #GVariant: what a
 * reporter rendering them on every request uses. @func runs in the
 * calling thread, under the lock of the registry: it must not register
 * metrics nor read them again. Any thread.
 *
 * Since: 1.3
 */
void
ec_endpoint_foreach_metric (EcEndpoint *endpoint, EcMetricFunc func, gpointer user_data)
{
  g_autoptr (GArray) rows = NULL;

  g_return_if_fail (endpoint != NULL && func != NULL);
  g_mutex_lock (&metrics_lock);
  rows = collect (endpoint);
  for (guint i = 0; i < rows->len; i++)
    {
      Row *r = &g_array_index (rows, Row, i);
      func (r->ep->name, r->m->name, r->m->kind, r->m->help, (const char *const *) r->m->labels,
            atomic_load_explicit (&r->m->value, memory_order_relaxed), user_data);
    }
  g_mutex_unlock (&metrics_lock);
}

/**
 * ec_metric_add:
 * @metric: (nullable): a metric, or %NULL (nothing happens)
 * @delta: what to add; a negative @delta lowers a gauge and is ignored by
 *   a counter
 *
 * Adds @delta to @metric: one relaxed atomic addition, from any thread,
 * cheap enough for every message.
 *
 * Since: 1.3
 */
void
ec_metric_add (EcMetric *metric, gint64 delta)
{
  if (G_LIKELY (metric != NULL) && (delta >= 0 || metric->kind == EC_METRIC_GAUGE))
    atomic_fetch_add_explicit (&metric->value, delta, memory_order_relaxed);
}

/**
 * ec_metric_set:
 * @metric: (nullable): a metric, or %NULL (nothing happens)
 * @value: the new value
 *
 * Sets @metric to @value, from any thread. Meant for gauges; on a counter
 * it mirrors a count kept elsewhere, and the caller must never lower it.
 *
 * Since: 1.3
 */
void
ec_metric_set (EcMetric *metric, gint64 value)
{
  if (G_LIKELY (metric != NULL))
    atomic_store_explicit (&metric->value, value, memory_order_relaxed);
}

/**
 * ec_metric_get:
 * @metric: (nullable): a metric, or %NULL
 *
 * Returns: @metric's value now, from any thread; 0 for %NULL
 * Since: 1.3
 */
gint64
ec_metric_get (EcMetric *metric)
{
  return metric ? atomic_load_explicit (&metric->value, memory_order_relaxed) : 0;
}
