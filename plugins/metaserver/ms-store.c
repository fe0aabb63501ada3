/* ms-store.c: the reads of meta_v2, run on the store's reader threads:
 * get one object, list a key range (building the whole response body off
 * the main loop), and the start-up scan. */
#include "ms.h"

#include <string.h>

/* TRUE when a prepare failed only because meta_v2 does not exist (yet). */
static gboolean
no_table (sqlite3 *db)
{
  const char *m = sqlite3_errmsg (db);
  return m && strstr (m, "no such table") != NULL;
}

/* Frees a get job. */
void
ms_get_job_free (MsGetJob *job)
{
  g_free (job->key);
  g_free (job->value);
  g_free (job);
}

/* Reads one row of meta_v2 by key. */
gboolean
ms_store_get_func (sqlite3 *db, gpointer data, GError **error)
{
  MsGetJob *job = data;
  sqlite3_stmt *st = NULL;
  int rc;

  if (sqlite3_prepare_v2 (db, "SELECT value FROM meta_v2 WHERE key = ?1", -1, &st, NULL) != SQLITE_OK)
    return no_table (db) ? TRUE : ec_store_set_sql_error (error, db, "get");
  sqlite3_bind_text (st, 1, job->key, -1, SQLITE_STATIC);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW && sqlite3_column_text (st, 0))
    job->value = g_strdup ((const char *) sqlite3_column_text (st, 0));
  sqlite3_finalize (st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return ec_store_set_sql_error (error, db, "get");
  return TRUE;
}

/* Frees a list job. */
void
ms_list_job_free (MsListJob *job)
{
  g_free (job->key_lo);
  g_free (job->key_hi);
  g_free (job->start_after);
  ms_selector_free (job->labels);
  ms_selector_free (job->fields);
  g_free (job->list_kind);
  g_free (job->api_version);
  g_free (job->resource);
  ms_output_clear (&job->output);
  g_clear_pointer (&job->body, g_bytes_unref);
  g_clear_pointer (&job->snapshot, g_hash_table_unref);
  g_free (job);
}

/* A cheap check that a stored value is a JSON object. */
static gboolean
looks_like_object (const char *v, gsize len)
{
  while (len > 0 && g_ascii_isspace (v[len - 1]))
    len--;
  while (len > 0 && g_ascii_isspace (*v))
    {
      v++;
      len--;
    }
  return len >= 2 && v[0] == '{' && v[len - 1] == '}';
}

/* Encodes a continue token: the list's revision and the last key sent. */
char *
ms_continue_encode (guint64 revision, const char *last_key)
{
  g_autofree char *raw = g_strdup_printf ("%" G_GUINT64_FORMAT "\n%s", revision, last_key);
  return g_base64_encode ((const guchar *) raw, strlen (raw));
}

/* Decodes a continue token; FALSE when it is not one of ours. */
gboolean
ms_continue_decode (const char *token, guint64 *revision, char **last_key)
{
  gsize len = 0;
  g_autofree guchar *raw = NULL;
  g_autofree char *text = NULL;
  char *nl;

  if (!token || !*token)
    return FALSE;
  raw = g_base64_decode (token, &len);
  if (!raw || len == 0)
    return FALSE;
  text = g_strndup ((const char *) raw, len);
  if (strlen (text) != len || !g_utf8_validate (text, -1, NULL))
    return FALSE;
  nl = strchr (text, '\n');
  if (!nl || nl[1] != '/')
    return FALSE;
  *nl = '\0';
  if (!ms_parse_uint64 (text, revision))
    return FALSE;
  *last_key = g_strdup (nl + 1);
  return TRUE;
}

/* The number of '/' in a string. */
static guint
count_slashes (const char *s)
{
  guint n = 0;
  for (; *s; s++)
    n += *s == '/';
  return n;
}

/* Appends one watch event line around an object's JSON. */
static void
append_event (GString *out, const char *type, const char *object, gsize len)
{
  g_string_append (out, "{\"type\":\"");
  g_string_append (out, type);
  g_string_append (out, "\",\"object\":");
  g_string_append_len (out, object, len);
  g_string_append (out, "}\n");
}

/**
 * ms_store_list_func:
 * Lists the rows whose key is in [key_lo, key_hi), filters them by the
 * selectors and builds the response: a <Kind>List, a Table, or (with
 * want_snapshot) the ADDED events that open a watch. Without selectors and
 * tables the stored JSON is copied as it is, unparsed.
 */
gboolean
ms_store_list_func (sqlite3 *db, gpointer data, GError **error)
{
  MsListJob *job = data;
  sqlite3_stmt *st = NULL;
  gboolean parse = !ms_selector_is_empty (job->labels) || !ms_selector_is_empty (job->fields)
                   || job->output.table || job->want_snapshot;
  g_autoptr (GString) out = g_string_sized_new (64 * 1024);
  g_autofree char *last_key = NULL;
  g_autofree char *rv = g_strdup_printf ("%" G_GUINT64_FORMAT, job->revision);
  gboolean more = FALSE, first = TRUE;
  gsize lo_len = strlen (job->key_lo);
  int rc = SQLITE_DONE;

  if (sqlite3_prepare_v2 (db, job->start_after
                              ? "SELECT key, value FROM meta_v2 WHERE key > ?1 AND key < ?2 ORDER BY key"
                              : "SELECT key, value FROM meta_v2 WHERE key >= ?1 AND key < ?2 ORDER BY key",
                          -1, &st, NULL) != SQLITE_OK)
    {
      if (!no_table (db))
        return ec_store_set_sql_error (error, db, "list");
      st = NULL;
    }
  if (st)
    {
      sqlite3_bind_text (st, 1, job->start_after ? job->start_after : job->key_lo, -1, SQLITE_STATIC);
      sqlite3_bind_text (st, 2, job->key_hi, -1, SQLITE_STATIC);
    }
  if (job->want_snapshot)
    job->snapshot = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  else if (job->output.table)
    ms_table_begin (out, job->resource, job->output.table_version);
  else
    g_string_append_printf (out, "{\"kind\":\"%s\",\"apiVersion\":\"%s\",\"items\":[",
                            job->list_kind, job->api_version);

  while (st && (rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      const char *key = (const char *) sqlite3_column_text (st, 0);
      const char *value = (const char *) sqlite3_column_text (st, 1);
      gsize len = (gsize) sqlite3_column_bytes (st, 1);
      g_autoptr (JsonNode) node = NULL;

      if (!key || !value || !looks_like_object (value, len))
        continue;
      /* only /g/v/r/ns/name rows, not deeper bookkeeping rows */
      if (count_slashes (key + lo_len) != job->slashes)
        continue;
      if (parse)
        {
          g_autoptr (MsObjAttrs) attrs = NULL;
          node = ms_json_parse (value, len, NULL);
          if (!node || !JSON_NODE_HOLDS_OBJECT (node))
            continue;
          attrs = ms_obj_attrs_from_node (node);
          if (!ms_selector_matches (job->labels, attrs) || !ms_selector_matches (job->fields, attrs))
            continue;
          if (job->want_snapshot)
            g_hash_table_insert (job->snapshot, g_strdup (key),
                                 g_memdup2 (&attrs->resource_version, sizeof (guint64)));
        }
      if (job->limit > 0 && job->count >= (guint) job->limit)
        {
          more = TRUE;
          break;
        }
      if (job->want_snapshot && job->output.table)
        {
          g_autoptr (GString) t = g_string_new (NULL);
          ms_table_begin (t, job->resource, job->output.table_version);
          ms_table_add_row (t, TRUE, job->resource, node, job->output.include, job->now);
          ms_table_end (t, rv, NULL);
          append_event (out, "ADDED", t->str, t->len);
        }
      else if (job->want_snapshot)
        append_event (out, "ADDED", value, len);
      else if (job->output.table)
        ms_table_add_row (out, first, job->resource, node, job->output.include, job->now);
      else
        {
          if (!first)
            g_string_append_c (out, ',');
          g_string_append_len (out, value, len);
        }
      first = FALSE;
      job->count++;
      g_free (last_key);
      last_key = g_strdup (key);
    }
  if (st)
    {
      gboolean failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
      sqlite3_finalize (st);
      if (failed)
        return ec_store_set_sql_error (error, db, "list");
    }

  if (!job->want_snapshot)
    {
      g_autofree char *cont = more && last_key ? ms_continue_encode (job->revision, last_key) : NULL;
      if (job->output.table)
        ms_table_end (out, rv, cont);
      else
        {
          g_string_append_printf (out, "],\"metadata\":{\"resourceVersion\":\"%s\"", rv);
          if (cont)
            g_string_append_printf (out, ",\"continue\":\"%s\"", cont);
          g_string_append (out, "}}");
        }
    }
  job->body = g_string_free_to_bytes (g_steal_pointer (&out));
  return TRUE;
}

/* Frees a scan job. */
void
ms_scan_job_free (MsScanJob *job)
{
  if (job->found)
    g_ptr_array_unref (job->found);
  g_free (job);
}

/* Splits a meta_v2 key into its five parts; FALSE for other rows. */
static gboolean
split_key (const char *key, char ***parts)
{
  char **p;
  if (!key || key[0] != '/')
    return FALSE;
  p = g_strsplit (key + 1, "/", -1);
  if (g_strv_length (p) != 5 || !*p[0] || !*p[1] || !*p[2])
    {
      g_strfreev (p);
      return FALSE;
    }
  *parts = p;
  return TRUE;
}

/* A row's kind, for the scan. Not looked for in the pass-through cache
 * (/openapi/...: large documents, ms-passthrough.c) nor in values that are
 * not JSON (KubeEdge also caches /healthz's "ok" in meta_v2). */
#define KIND_OF_ROW "CASE WHEN key GLOB '/openapi/*' OR NOT json_valid(value) THEN NULL " \
                    "ELSE json_extract(value, '$.kind') END"

/**
 * ms_store_scan_func:
 * At start and on discovery: which resources meta_v2 holds (one index seek
 * per resource, not a full scan), the column names (HEAD's or v1.9.2's),
 * and at start the highest resourceVersion.
 */
gboolean
ms_store_scan_func (sqlite3 *db, gpointer data, GError **error)
{
  MsScanJob *job = data;
  sqlite3_stmt *st = NULL, *gt = NULL, *ge = NULL;
  g_autofree char *from = g_strdup ("");
  gboolean use_ge = TRUE;
  gboolean ok = TRUE;
  const char *rvcol;

  job->found = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  if (sqlite3_prepare_v2 (db, "PRAGMA table_info(meta_v2)", -1, &st, NULL) != SQLITE_OK)
    return ec_store_set_sql_error (error, db, "scan");
  while (sqlite3_step (st) == SQLITE_ROW)
    {
      const char *col = (const char *) sqlite3_column_text (st, 1);
      job->has_table = TRUE;
      if (col && strcmp (col, "resourceversion") == 0)
        job->old_columns = TRUE;
      if (col && strcmp (col, "resource_version") == 0)
        job->old_columns = FALSE;
    }
  sqlite3_finalize (st);
  if (!job->has_table)
    return TRUE;

  if (job->revision == G_MAXUINT64)   /* asked for */
    {
      g_autofree char *sql = NULL;
      job->revision = 0;
      rvcol = job->old_columns ? "resourceversion" : "resource_version";
      sql = g_strdup_printf ("SELECT max(CAST(%s AS INTEGER)) FROM meta_v2", rvcol);
      if (sqlite3_prepare_v2 (db, sql, -1, &st, NULL) != SQLITE_OK)
        return ec_store_set_sql_error (error, db, "scan");
      if (sqlite3_step (st) == SQLITE_ROW && sqlite3_column_type (st, 0) == SQLITE_INTEGER)
        job->revision = (guint64) sqlite3_column_int64 (st, 0);
      sqlite3_finalize (st);
    }

  if (sqlite3_prepare_v2 (db, "SELECT key, " KIND_OF_ROW " FROM meta_v2 "
                              "WHERE key > ?1 ORDER BY key LIMIT 1", -1, &gt, NULL) != SQLITE_OK
      || sqlite3_prepare_v2 (db, "SELECT key, " KIND_OF_ROW " FROM meta_v2 "
                                 "WHERE key >= ?1 ORDER BY key LIMIT 1", -1, &ge, NULL) != SQLITE_OK)
    {
      ok = ec_store_set_sql_error (error, db, "scan");
      goto out;
    }
  for (guint guard = 0; guard < 100000; guard++)
    {
      sqlite3_stmt *q = use_ge ? ge : gt;
      g_auto (GStrv) parts = NULL;
      const char *key, *kind;
      int rc;

      sqlite3_reset (q);
      sqlite3_bind_text (q, 1, from, -1, SQLITE_TRANSIENT);
      rc = sqlite3_step (q);
      if (rc != SQLITE_ROW)
        {
          if (rc != SQLITE_DONE)
            ok = ec_store_set_sql_error (error, db, "scan");
          break;
        }
      key = (const char *) sqlite3_column_text (q, 0);
      kind = (const char *) sqlite3_column_text (q, 1);
      g_free (from);
      if (key && g_str_has_prefix (key, "/openapi/"))
        {
          /* the OpenAPI pass-through cache (ms-passthrough.c), whose
           * /openapi/v3/apis/<g>/<v> keys look like object keys: jump past it */
          from = g_strdup ("/openapi0");
          use_ge = TRUE;
          continue;
        }
      if (!split_key (key, &parts))
        {
          from = g_strdup (key ? key : "");
          use_ge = FALSE;   /* skip this one row */
          continue;
        }
      {
        char **f = g_new0 (char *, 6);
        f[0] = g_strdup (strcmp (parts[0], "core") == 0 ? "" : parts[0]);
        f[1] = g_strdup (parts[1]);
        f[2] = g_strdup (parts[2]);
        f[3] = g_strdup (kind ? kind : "");
        f[4] = g_strdup (strcmp (parts[3], "null") == 0 ? "0" : "1");
        g_ptr_array_add (job->found, f);
      }
      /* jump past /g/v/r/: '0' is the character after '/' */
      from = g_strdup_printf ("/%s/%s/%s0", parts[0], parts[1], parts[2]);
      use_ge = TRUE;
    }
out:
  sqlite3_finalize (gt);
  sqlite3_finalize (ge);
  return ok;
}

/* Takes the scan's findings into the running server (main loop). */
void
ms_apply_scan (MetaServer *self, MsScanJob *scan)
{
  if (scan->has_table)
    self->rv_column = scan->old_columns ? "resourceversion" : "resource_version";
  for (guint i = 0; i < scan->found->len; i++)
    {
      char **f = scan->found->pdata[i];
      ms_registry_learn (self->registry, f[0], f[1], f[2], f[3], f[4][0] == '1');
    }
}
