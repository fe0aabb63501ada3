/* test-metric.c: the metrics registry of libedgecore 1.3 on the host's bus:
 * registration, refused names and duplicates, counting from several
 * threads, reading the whole bus, members leaving, NULL safety. */
#include "config.h"

#include "bus.h"

#include <string.h>

typedef struct {
  EcBus      *bus;
  EcEndpoint *a, *b;
} Fixture;

static void
handler (gpointer data, EcMessage *msg)
{
}

static void
fixture_setup (Fixture *f, gconstpointer unused)
{
  f->bus = ec_bus_new (NULL, 64);
  f->a = ec_bus_add_member (f->bus, "alpha", "g", handler, NULL, NULL);
  f->b = ec_bus_add_member (f->bus, "beta", NULL, handler, NULL, NULL);
  g_assert_nonnull (f->a);
  g_assert_nonnull (f->b);
}

static void
fixture_teardown (Fixture *f, gconstpointer unused)
{
  ec_bus_free (f->bus);
}

/* The registration is refused with one warning. */
static void
assert_refused (EcEndpoint *ep, const char *name, EcMetricKind kind, const char *help,
                const char *const *labels)
{
  EcMetric *m;
  g_test_expect_message ("edgecore", G_LOG_LEVEL_WARNING, "metric*refused: *");
  m = ec_endpoint_add_metric (ep, name, kind, help, labels);
  g_test_assert_expected_messages ();
  g_assert_null (m);
}

/* The row of @module's @name whose labels print as @labels ("k=v,k=v"). */
static GVariant *
find_row (GVariant *all, const char *module, const char *name, const char *labels)
{
  for (gsize i = 0; i < g_variant_n_children (all); i++)
    {
      g_autoptr (GVariant) row = g_variant_get_child_value (all, i);
      g_autoptr (GVariant) lv = g_variant_get_child_value (row, 4);
      g_autoptr (GString) text = g_string_new (NULL);
      const char *mod, *nm;
      g_variant_get_child (row, 0, "&s", &mod);
      g_variant_get_child (row, 1, "&s", &nm);
      for (gsize k = 0; k < g_variant_n_children (lv); k++)
        {
          const char *ln, *vl;
          g_variant_get_child (lv, k, "(&s&s)", &ln, &vl);
          g_string_append_printf (text, "%s%s=%s", k ? "," : "", ln, vl);
        }
      if (strcmp (mod, module) == 0 && strcmp (nm, name) == 0 && strcmp (text->str, labels) == 0)
        return g_steal_pointer (&row);
    }
  return NULL;
}

static void
test_register_and_read (Fixture *f, gconstpointer unused)
{
  const char *const closed[] = { "reason", "closed", "kind", "tls", NULL };
  EcMetric *c = ec_endpoint_add_metric (f->a, "x_connects_total", EC_METRIC_COUNTER, "Connects.", NULL);
  EcMetric *d = ec_endpoint_add_metric (f->a, "x_disconnects_total", EC_METRIC_COUNTER,
                                        "Disconnects, by reason.", closed);
  EcMetric *g = ec_endpoint_add_metric (f->b, "x_connected", EC_METRIC_GAUGE, "1 while up.", NULL);
  g_autoptr (GVariant) all = NULL;
  g_autoptr (GVariant) row = NULL;
  const char *module, *name, *kind, *help;
  gint64 value;

  g_assert_nonnull (c);
  g_assert_nonnull (d);
  g_assert_nonnull (g);
  ec_metric_add (c, 3);
  ec_metric_add (d, 1);
  ec_metric_set (g, 1);
  all = ec_endpoint_get_metrics (f->b);
  g_assert_true (g_variant_is_of_type (all, G_VARIANT_TYPE (EC_METRICS_TYPE)));
  g_assert_cmpuint (g_variant_n_children (all), ==, 3);
  /* members in bus order, each one's metrics in registration order */
  row = g_variant_get_child_value (all, 0);
  g_variant_get (row, "(&s&s&s&s@a(ss)x)", &module, &name, &kind, &help, NULL, &value);
  g_assert_cmpstr (module, ==, "alpha");
  g_assert_cmpstr (name, ==, "x_connects_total");
  g_assert_cmpstr (kind, ==, "counter");
  g_assert_cmpstr (help, ==, "Connects.");
  g_assert_cmpint (value, ==, 3);
  g_clear_pointer (&row, g_variant_unref);
  /* labels come sorted by name */
  row = find_row (all, "alpha", "x_disconnects_total", "kind=tls,reason=closed");
  g_assert_nonnull (row);
  g_variant_get_child (row, 5, "x", &value);
  g_assert_cmpint (value, ==, 1);
  g_clear_pointer (&row, g_variant_unref);
  row = g_variant_get_child_value (all, 2);
  g_variant_get (row, "(&s&s&s&s@a(ss)x)", &module, &name, &kind, &help, NULL, &value);
  g_assert_cmpstr (module, ==, "beta");
  g_assert_cmpstr (kind, ==, "gauge");
  g_assert_cmpint (value, ==, 1);
  g_assert_cmpint (ec_metric_get (c), ==, 3);
}

static void
collect_row (const char *module, const char *name, EcMetricKind kind, const char *help,
             const char *const *labels, gint64 value, gpointer data)
{
  GString *s = data;
  g_string_append_printf (s, "%s/%s/%s/%s", module, name, kind == EC_METRIC_COUNTER ? "counter" : "gauge",
                          help);
  for (const char *const *l = labels; *l; l += 2)
    g_string_append_printf (s, "/%s=%s", l[0], l[1]);
  g_string_append_printf (s, "/%" G_GINT64_FORMAT ";", value);
}

/* Both readers group a family's metrics together, in the same order. */
static void
test_foreach_groups_families (Fixture *f, gconstpointer unused)
{
  const char *const lx[] = { "x", "1", NULL };
  g_autoptr (GString) seen = g_string_new (NULL);
  g_autoptr (GString) from_variant = g_string_new (NULL);
  g_autoptr (GVariant) all = NULL;
  GVariantIter iter;
  const char *module, *name, *kind, *help;
  GVariant *labels;
  gint64 value;

  ec_metric_add (ec_endpoint_add_metric (f->a, "one_total", EC_METRIC_COUNTER, "One.", NULL), 1);
  ec_metric_set (ec_endpoint_add_metric (f->a, "two", EC_METRIC_GAUGE, "Two.", NULL), -4);
  ec_metric_add (ec_endpoint_add_metric (f->b, "one_total", EC_METRIC_COUNTER, "One (b).", lx), 2);
  ec_metric_add (ec_endpoint_add_metric (f->a, "one_total", EC_METRIC_COUNTER, "One.", lx), 3);
  ec_endpoint_foreach_metric (f->b, collect_row, seen);
  g_assert_cmpstr (seen->str, ==,
                   "alpha/one_total/counter/One./1;"
                   "alpha/one_total/counter/One./x=1/3;"
                   "beta/one_total/counter/One (b)./x=1/2;"
                   "alpha/two/gauge/Two./-4;");
  all = ec_endpoint_get_metrics (f->a);
  g_variant_iter_init (&iter, all);
  while (g_variant_iter_next (&iter, "(&s&s&s&s@a(ss)x)", &module, &name, &kind, &help, &labels, &value))
    {
      GVariantIter li;
      const char *ln, *lv;
      g_string_append_printf (from_variant, "%s/%s/%s/%s", module, name, kind, help);
      g_variant_iter_init (&li, labels);
      while (g_variant_iter_next (&li, "(&s&s)", &ln, &lv))
        g_string_append_printf (from_variant, "/%s=%s", ln, lv);
      g_string_append_printf (from_variant, "/%" G_GINT64_FORMAT ";", value);
      g_variant_unref (labels);
    }
  g_assert_cmpstr (from_variant->str, ==, seen->str);
}

static void
test_counter_and_gauge (Fixture *f, gconstpointer unused)
{
  EcMetric *c = ec_endpoint_add_metric (f->a, "c_total", EC_METRIC_COUNTER, "A counter.", NULL);
  EcMetric *g = ec_endpoint_add_metric (f->a, "g", EC_METRIC_GAUGE, "A gauge.", NULL);
  ec_metric_add (c, 5);
  ec_metric_add (c, -2);          /* a counter never goes down */
  g_assert_cmpint (ec_metric_get (c), ==, 5);
  ec_metric_add (g, 5);
  ec_metric_add (g, -7);
  g_assert_cmpint (ec_metric_get (g), ==, -2);
  ec_metric_set (g, 42);
  g_assert_cmpint (ec_metric_get (g), ==, 42);
  ec_metric_set (c, 100);         /* mirrors a count kept elsewhere */
  g_assert_cmpint (ec_metric_get (c), ==, 100);
  ec_metric_add (c, G_GINT64_CONSTANT (1) << 40);
  g_assert_cmpint (ec_metric_get (c), ==, (G_GINT64_CONSTANT (1) << 40) + 100);
}

static void
test_duplicates_refused (Fixture *f, gconstpointer unused)
{
  const char *const l1[] = { "a", "1", "b", "2", NULL };
  const char *const l1_swapped[] = { "b", "2", "a", "1", NULL };
  const char *const l2[] = { "a", "1", "b", "3", NULL };
  g_assert_nonnull (ec_endpoint_add_metric (f->a, "dup_total", EC_METRIC_COUNTER, "h", NULL));
  assert_refused (f->a, "dup_total", EC_METRIC_COUNTER, "h", NULL);
  g_assert_nonnull (ec_endpoint_add_metric (f->a, "dup_total", EC_METRIC_COUNTER, "h", l1));
  /* the same label set in another order is the same metric */
  assert_refused (f->a, "dup_total", EC_METRIC_COUNTER, "h", l1_swapped);
  g_assert_nonnull (ec_endpoint_add_metric (f->a, "dup_total", EC_METRIC_COUNTER, "h", l2));
  /* another module may have the same metric: its module label tells them apart */
  g_assert_nonnull (ec_endpoint_add_metric (f->b, "dup_total", EC_METRIC_COUNTER, "h", NULL));
  /* but one name keeps one kind on the whole bus */
  assert_refused (f->b, "dup_total", EC_METRIC_GAUGE, "h", l2);
  assert_refused (f->a, "dup_total", EC_METRIC_GAUGE, "h", NULL);
  {
    g_autoptr (GVariant) all = ec_endpoint_get_metrics (f->a);
    g_assert_cmpuint (g_variant_n_children (all), ==, 4);
  }
}

static void
test_bad_names_refused (Fixture *f, gconstpointer unused)
{
  g_autofree char *long_name = g_strnfill (201, 'a');
  g_autofree char *ok_name = g_strnfill (200, 'a');
  g_autofree char *long_help = g_strnfill (1025, 'h');
  g_autofree char *long_value = g_strnfill (1025, 'v');
  const char *bad_names[] = { "", "1abc", "a-b", "a:b", "__x", "a b", "é", long_name };
  const char *const odd[] = { "a", "1", "b", NULL };
  const char *const module[] = { "module", "x", NULL };
  const char *const reserved[] = { "__name__", "x", NULL };
  const char *const bad_label[] = { "a-b", "x", NULL };
  const char *const twice[] = { "a", "1", "a", "2", NULL };
  const char *const not_utf8[] = { "a", "\xff", NULL };
  const char *const too_long[] = { "a", long_value, NULL };
  const char *many[2 * 17 + 1];
  char names[17][8];

  for (guint i = 0; i < G_N_ELEMENTS (bad_names); i++)
    {
      g_assert_false (ec_metric_name_is_valid (bad_names[i]));
      assert_refused (f->a, bad_names[i], EC_METRIC_COUNTER, "h", NULL);
    }
  g_assert_false (ec_metric_name_is_valid (NULL));
  g_assert_true (ec_metric_name_is_valid (ok_name));
  g_assert_true (ec_metric_name_is_valid ("_x9_total"));
  g_assert_false (ec_metric_label_name_is_valid ("module"));
  g_assert_false (ec_metric_label_name_is_valid ("__name__"));
  g_assert_true (ec_metric_label_name_is_valid ("reason"));
  assert_refused (f->a, "k", (EcMetricKind) 7, "h", NULL);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, long_help, NULL);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "\xfe", NULL);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", odd);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", module);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", reserved);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", bad_label);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", twice);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", not_utf8);
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", too_long);
  for (guint i = 0; i < 17; i++)
    {
      g_snprintf (names[i], sizeof names[i], "l%u", i);
      many[2 * i] = names[i];
      many[2 * i + 1] = "v";
    }
  many[2 * 17] = NULL;
  assert_refused (f->a, "k", EC_METRIC_GAUGE, "h", many);
  many[2 * 16] = NULL;    /* 16 labels: the limit */
  g_assert_nonnull (ec_endpoint_add_metric (f->a, "k", EC_METRIC_GAUGE, "h", many));
  {
    g_autoptr (GVariant) all = ec_endpoint_get_metrics (f->a);
    g_assert_cmpuint (g_variant_n_children (all), ==, 1);
  }
}

static void
test_limit_per_endpoint (Fixture *f, gconstpointer unused)
{
  for (guint i = 0; i < 1024; i++)
    {
      g_autofree char *value = g_strdup_printf ("%u", i);
      const char *const labels[] = { "n", value, NULL };
      g_assert_nonnull (ec_endpoint_add_metric (f->a, "many", EC_METRIC_GAUGE, "h", labels));
    }
  assert_refused (f->a, "one_more", EC_METRIC_GAUGE, "h", NULL);
  g_assert_nonnull (ec_endpoint_add_metric (f->b, "one_more", EC_METRIC_GAUGE, "h", NULL));
}

#define THREADS 8
#define ADDS    200000

typedef struct {
  EcMetric *counter, *gauge;
} Work;

static gpointer
count_thread (gpointer data)
{
  Work *w = data;
  for (guint i = 0; i < ADDS; i++)
    {
      ec_metric_add (w->counter, 1);
      ec_metric_add (w->gauge, 1);
      ec_metric_add (w->gauge, -1);
    }
  return NULL;
}

/* Registers from a thread while the main thread reads. */
static gpointer
register_thread (gpointer data)
{
  EcEndpoint *ep = data;
  for (guint i = 0; i < 200; i++)
    {
      g_autofree char *name = g_strdup_printf ("reg_%u", i);
      g_assert_nonnull (ec_endpoint_add_metric (ep, name, EC_METRIC_GAUGE, "h", NULL));
    }
  return NULL;
}

static void
test_threads (Fixture *f, gconstpointer unused)
{
  Work w = {
    ec_endpoint_add_metric (f->a, "t_total", EC_METRIC_COUNTER, "Counted by threads.", NULL),
    ec_endpoint_add_metric (f->a, "t_level", EC_METRIC_GAUGE, "Up and down.", NULL),
  };
  GThread *threads[THREADS];
  GThread *reg;

  reg = g_thread_new ("register", register_thread, f->b);
  for (guint i = 0; i < THREADS; i++)
    threads[i] = g_thread_new ("count", count_thread, &w);
  for (guint i = 0; i < 50; i++)
    {
      g_autoptr (GVariant) all = ec_endpoint_get_metrics (f->a);
      g_assert_cmpuint (g_variant_n_children (all), >=, 2);
    }
  for (guint i = 0; i < THREADS; i++)
    g_thread_join (threads[i]);
  g_thread_join (reg);
  g_assert_cmpint (ec_metric_get (w.counter), ==, (gint64) THREADS * ADDS);
  g_assert_cmpint (ec_metric_get (w.gauge), ==, 0);
  {
    g_autoptr (GVariant) all = ec_endpoint_get_metrics (f->a);
    g_assert_cmpuint (g_variant_n_children (all), ==, 202);
  }
}

static void
test_member_leaves (Fixture *f, gconstpointer unused)
{
  EcMetric *a = ec_endpoint_add_metric (f->a, "l_total", EC_METRIC_COUNTER, "h", NULL);
  EcMetric *b = ec_endpoint_add_metric (f->b, "l_total", EC_METRIC_COUNTER, "h", NULL);
  g_autoptr (GVariant) before = ec_endpoint_get_metrics (f->a);
  g_autoptr (GVariant) after = NULL;
  g_autoptr (GVariant) row = NULL;
  const char *module;

  g_assert_cmpuint (g_variant_n_children (before), ==, 2);
  ec_bus_remove_member (f->bus, f->b);
  after = ec_endpoint_get_metrics (f->a);
  g_assert_cmpuint (g_variant_n_children (after), ==, 1);
  row = g_variant_get_child_value (after, 0);
  g_variant_get_child (row, 0, "&s", &module);
  g_assert_cmpstr (module, ==, "alpha");
  /* the departed member's metric stays valid until its endpoint is freed */
  ec_metric_add (b, 2);
  g_assert_cmpint (ec_metric_get (b), ==, 2);
  ec_metric_add (a, 1);
  /* a new member of that name starts afresh, and may take the name again */
  {
    EcEndpoint *again = ec_bus_add_member (f->bus, "beta", NULL, handler, NULL, NULL);
    EcMetric *c = ec_endpoint_add_metric (again, "l_total", EC_METRIC_COUNTER, "h", NULL);
    g_autoptr (GVariant) now = ec_endpoint_get_metrics (again);
    g_assert_nonnull (c);
    g_assert_cmpint (ec_metric_get (c), ==, 0);
    g_assert_cmpuint (g_variant_n_children (now), ==, 2);
  }
}

static void
test_null_safety (void)
{
  ec_metric_add (NULL, 1);
  ec_metric_add (NULL, -1);
  ec_metric_set (NULL, 5);
  g_assert_cmpint (ec_metric_get (NULL), ==, 0);
  if (g_test_undefined ())
    {
      g_test_expect_message ("edgecore", G_LOG_LEVEL_CRITICAL, "*endpoint != NULL*");
      g_assert_null (ec_endpoint_add_metric (NULL, "x", EC_METRIC_GAUGE, "h", NULL));
      g_test_assert_expected_messages ();
      g_test_expect_message ("edgecore", G_LOG_LEVEL_CRITICAL, "*endpoint != NULL*");
      g_assert_null (ec_endpoint_get_metrics (NULL));
      g_test_assert_expected_messages ();
      g_test_expect_message ("edgecore", G_LOG_LEVEL_CRITICAL, "*endpoint != NULL*");
      ec_endpoint_foreach_metric (NULL, collect_row, NULL);
      g_test_assert_expected_messages ();
    }
}

static void
test_kind_enum (void)
{
  GEnumClass *klass = g_type_class_ref (EC_TYPE_METRIC_KIND);
  g_assert_cmpstr (g_enum_get_value (klass, EC_METRIC_COUNTER)->value_nick, ==, "counter");
  g_assert_cmpstr (g_enum_get_value (klass, EC_METRIC_GAUGE)->value_nick, ==, "gauge");
  g_type_class_unref (klass);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/metric/register-and-read", test_register_and_read);
  ADD ("/metric/counter-and-gauge", test_counter_and_gauge);
  ADD ("/metric/foreach-groups-families", test_foreach_groups_families);
  ADD ("/metric/duplicates-refused", test_duplicates_refused);
  ADD ("/metric/bad-names-refused", test_bad_names_refused);
  ADD ("/metric/limit-per-endpoint", test_limit_per_endpoint);
  ADD ("/metric/threads", test_threads);
  ADD ("/metric/member-leaves", test_member_leaves);
#undef ADD
  g_test_add_func ("/metric/null-safety", test_null_safety);
  g_test_add_func ("/metric/kind-enum", test_kind_enum);
  return g_test_run ();
}
