/* mm-schema.c: the tables `meta` and `meta_v2`, created as KubeEdge HEAD's
 * gorm creates them; a v1.9.2 `meta_v2` is migrated to HEAD's column names;
 * a table of the same name with other columns is refused. */
#include "mm-private.h"

#include <string.h>

#define META_DDL \
  "CREATE TABLE `meta` (`key` text,`type` text,`value` text,PRIMARY KEY (`key`))"
#define META_V2_DDL(name) \
  "CREATE TABLE `" name "` (`key` text,`group_version_resource` text,`namespace` text," \
  "`name` text,`resource_version` integer,`value` text,PRIMARY KEY (`key`))"

static const char *const meta_cols[] = { "key", "type", "value", NULL };
static const char *const v2_cols[] = {
  "key", "group_version_resource", "namespace", "name", "resource_version", "value", NULL };
/* v1.9.2 (beego) names of the two renamed columns */
static const char *const v2_old_cols[] = { "groupversionresource", "resourceversion", NULL };

typedef struct {
  char *migrated;   /* what was done, for the log */
} Prepare;

/* Reads the column names of a table; an empty array if it does not exist. */
static GPtrArray *
table_columns (sqlite3 *db, const char *table, GError **error)
{
  g_autofree char *sql = g_strdup_printf ("PRAGMA table_info(`%s`)", table);
  sqlite3_stmt *st = NULL;
  GPtrArray *cols;
  int rc;
  if (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) != SQLITE_OK)
    {
      ec_store_set_sql_error (error, db, sql);
      return NULL;
    }
  cols = g_ptr_array_new_with_free_func (g_free);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (cols, g_ascii_strdown ((const char *) sqlite3_column_text (st, 1), -1));
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      g_ptr_array_unref (cols);
      ec_store_set_sql_error (error, db, sql);
      return NULL;
    }
  return cols;
}

static gboolean
has_col (GPtrArray *cols, const char *name)
{
  for (guint i = 0; i < cols->len; i++)
    if (strcmp (cols->pdata[i], name) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
in_list (const char *const *list, const char *name)
{
  for (; *list; list++)
    if (strcmp (*list, name) == 0)
      return TRUE;
  return FALSE;
}

static char *
join_cols (GPtrArray *cols)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < cols->len; i++)
    g_string_append_printf (s, "%s%s", i ? ", " : "", (char *) cols->pdata[i]);
  return g_string_free (s, FALSE);
}

static gboolean
exec (sqlite3 *db, const char *sql, GError **error)
{
  if (sqlite3_exec (db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, sql);
  return TRUE;
}

static gboolean
foreign (GError **error, const char *table, GPtrArray *cols, const char *expected)
{
  g_autofree char *have = join_cols (cols);
  g_set_error (error, EC_STORE_ERROR, EC_STORE_ERROR_SCHEMA,
               "table %s has columns (%s), not KubeEdge's (%s): "
               "this is not a KubeEdge edgecore database", table, have, expected);
  return FALSE;
}

/* Copies a v1.9.2 (or half-migrated) meta_v2 into a table with HEAD's
 * columns, taking each renamed column's value from whichever name holds it. */
static gboolean
migrate_v2 (sqlite3 *db, GPtrArray *cols, GError **error)
{
  gboolean new_gvr = has_col (cols, "group_version_resource");
  gboolean old_gvr = has_col (cols, "groupversionresource");
  gboolean new_rv = has_col (cols, "resource_version");
  gboolean old_rv = has_col (cols, "resourceversion");
  const char *gvr = new_gvr && old_gvr
    ? "COALESCE(NULLIF(`group_version_resource`,''),`groupversionresource`)"
    : old_gvr ? "`groupversionresource`" : new_gvr ? "`group_version_resource`" : "''";
  const char *rv = new_rv && old_rv
    ? "CASE WHEN IFNULL(`resource_version`,0)=0 THEN `resourceversion` ELSE `resource_version` END"
    : old_rv ? "`resourceversion`" : new_rv ? "`resource_version`" : "0";
  const char *ns = has_col (cols, "namespace") ? "`namespace`" : "''";
  const char *name = has_col (cols, "name") ? "`name`" : "''";
  g_autofree char *copy = g_strdup_printf (
    "INSERT INTO `meta_v2_migrating` (`key`,`group_version_resource`,`namespace`,`name`,"
    "`resource_version`,`value`) SELECT `key`,%s,%s,%s,CAST(%s AS INTEGER),`value` FROM `meta_v2`",
    gvr, ns, name, rv);

  return exec (db, "DROP TABLE IF EXISTS `meta_v2_migrating`", error)
         && exec (db, META_V2_DDL ("meta_v2_migrating"), error)
         && exec (db, copy, error)
         && exec (db, "DROP TABLE `meta_v2`", error)
         && exec (db, "ALTER TABLE `meta_v2_migrating` RENAME TO `meta_v2`", error);
}

/* The schema job, on the store's writer thread. */
static gboolean
prepare_job (sqlite3 *db, gpointer data, GError **error)
{
  Prepare *p = data;
  g_autoptr (GPtrArray) meta = table_columns (db, "meta", error);
  g_autoptr (GPtrArray) v2 = NULL;
  gboolean old = FALSE;

  if (!meta)
    return FALSE;
  if (meta->len == 0)
    {
      if (!exec (db, META_DDL, error))
        return FALSE;
    }
  else
    {
      for (guint i = 0; i < meta->len; i++)
        if (!in_list (meta_cols, meta->pdata[i]))
          return foreign (error, "meta", meta, "key, type, value");
      for (guint i = 0; meta_cols[i]; i++)
        if (!has_col (meta, meta_cols[i]))
          return foreign (error, "meta", meta, "key, type, value");
    }

  v2 = table_columns (db, "meta_v2", error);
  if (!v2)
    return FALSE;
  if (v2->len == 0)
    return exec (db, META_V2_DDL ("meta_v2"), error);

  for (guint i = 0; i < v2->len; i++)
    {
      if (in_list (v2_old_cols, v2->pdata[i]))
        old = TRUE;
      else if (!in_list (v2_cols, v2->pdata[i]))
        return foreign (error, "meta_v2", v2,
                        "key, group_version_resource, namespace, name, resource_version, value");
    }
  if (!has_col (v2, "key") || !has_col (v2, "value"))
    return foreign (error, "meta_v2", v2,
                    "key, group_version_resource, namespace, name, resource_version, value");
  if (old)
    {
      g_autofree char *have = join_cols (v2);
      if (!migrate_v2 (db, v2, error))
        return FALSE;
      p->migrated = g_strdup_printf ("migrated table meta_v2 from KubeEdge v1.9.2 columns (%s) "
                                     "to HEAD's", have);
      return TRUE;
    }
  /* a HEAD table missing a column gets it, as gorm's auto-migration does */
  for (guint i = 0; v2_cols[i]; i++)
    if (!has_col (v2, v2_cols[i]))
      {
        g_autofree char *sql = g_strdup_printf ("ALTER TABLE `meta_v2` ADD COLUMN `%s` %s",
                                                v2_cols[i],
                                                strcmp (v2_cols[i], "resource_version") == 0
                                                  ? "integer" : "text");
        if (!exec (db, sql, error))
          return FALSE;
      }
  return TRUE;
}

/**
 * mm_schema_prepare:
 * @store: the node's store
 * @migrated: (out) (nullable): set to a sentence when a v1.9.2 table was migrated
 * @error: where to put an error
 *
 * Creates `meta` and `meta_v2` if missing, migrates a v1.9.2 `meta_v2`, and
 * refuses tables of those names with other columns. Blocks: init only.
 *
 * Returns: %TRUE when both tables are ready
 */
gboolean
mm_schema_prepare (EcStore *store, char **migrated, GError **error)
{
  Prepare p = { NULL };
  gboolean ok = ec_store_write_sync (store, prepare_job, &p, error);
  if (ok && migrated)
    *migrated = g_steal_pointer (&p.migrated);
  g_free (p.migrated);
  return ok;
}
