/* static-yaml.c: a static pod manifest in YAML read into JSON (libyaml's
 * event parser). One document; mapping keys are scalars; anchors and
 * aliases are refused (they can multiply a small file into a huge tree);
 * at most EDGED_POD_MAX_DEPTH levels and 20000 nodes. Plain scalars become
 * numbers, booleans or null where YAML 1.2's core schema says so. */
#include "static-pods.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_NODES 20000

typedef struct {
  yaml_parser_t parser;
  guint         nodes;
  GError      **error;
} Reader;

static gboolean
fail (Reader *r, const yaml_event_t *ev, const char *what)
{
  if (r->error && !*r->error)
    g_set_error (r->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "line %d: %s",
                 ev ? (int) ev->start_mark.line + 1 : (int) r->parser.problem_mark.line + 1, what);
  return FALSE;
}

static gboolean
next (Reader *r, yaml_event_t *ev)
{
  if (!yaml_parser_parse (&r->parser, ev))
    return fail (r, NULL, r->parser.problem ? r->parser.problem : "YAML syntax error");
  return TRUE;
}

/* A plain scalar's JSON value. */
static void
scalar (JsonBuilder *b, const char *s, gboolean plain)
{
  char *end;
  if (plain)
    {
      if (!strcmp (s, "true") || !strcmp (s, "True") || !strcmp (s, "TRUE"))
        {
          json_builder_add_boolean_value (b, TRUE);
          return;
        }
      if (!strcmp (s, "false") || !strcmp (s, "False") || !strcmp (s, "FALSE"))
        {
          json_builder_add_boolean_value (b, FALSE);
          return;
        }
      if (!*s || !strcmp (s, "~") || !strcmp (s, "null") || !strcmp (s, "Null") || !strcmp (s, "NULL"))
        {
          json_builder_add_null_value (b);
          return;
        }
      if (g_regex_match_simple ("^[-+]?[0-9]+$", s, 0, 0))
        {
          gint64 v = g_ascii_strtoll (s, &end, 10);
          json_builder_add_int_value (b, v);
          return;
        }
      if (g_regex_match_simple ("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$", s, 0, 0))
        {
          json_builder_add_double_value (b, g_ascii_strtod (s, &end));
          return;
        }
    }
  json_builder_add_string_value (b, s);
}

static gboolean read_node (Reader *r, JsonBuilder *b, yaml_event_t *ev, int depth);

static gboolean
read_children (Reader *r, JsonBuilder *b, gboolean map, int depth)
{
  for (;;)
    {
      yaml_event_t ev;
      gboolean ok;
      if (!next (r, &ev))
        return FALSE;
      if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT)
        {
          yaml_event_delete (&ev);
          return TRUE;
        }
      if (map)
        {
          if (ev.type != YAML_SCALAR_EVENT)
            {
              fail (r, &ev, "a mapping key must be a scalar");
              yaml_event_delete (&ev);
              return FALSE;
            }
          json_builder_set_member_name (b, (const char *) ev.data.scalar.value);
          yaml_event_delete (&ev);
          if (!next (r, &ev))
            return FALSE;
        }
      ok = read_node (r, b, &ev, depth + 1);
      if (!ok)
        return FALSE;
    }
}

/* Builds the value that starts with ev (consumed). */
static gboolean
read_node (Reader *r, JsonBuilder *b, yaml_event_t *ev, int depth)
{
  gboolean ok = FALSE;
  if (++r->nodes > MAX_NODES)
    fail (r, ev, "too many entries (the limit is 20000)");
  else if (depth > EDGED_POD_MAX_DEPTH)
    fail (r, ev, "nested too deeply (the limit is 32 levels)");
  else if (ev->type == YAML_SCALAR_EVENT && !ev->data.scalar.anchor)
    {
      scalar (b, (const char *) ev->data.scalar.value,
              ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
      ok = TRUE;
    }
  else if (ev->type == YAML_MAPPING_START_EVENT && !ev->data.mapping_start.anchor)
    {
      yaml_event_delete (ev);
      json_builder_begin_object (b);
      ok = read_children (r, b, TRUE, depth);
      json_builder_end_object (b);
      return ok;
    }
  else if (ev->type == YAML_SEQUENCE_START_EVENT && !ev->data.sequence_start.anchor)
    {
      yaml_event_delete (ev);
      json_builder_begin_array (b);
      ok = read_children (r, b, FALSE, depth);
      json_builder_end_array (b);
      return ok;
    }
  else
    fail (r, ev, "anchors and aliases (& and *) are not supported");
  yaml_event_delete (ev);
  return ok;
}

/* A YAML document (at most EDGED_POD_MAX_BYTES) as JSON text. */
char *
edged_yaml_to_json (const char *data, gsize len, GError **error)
{
  Reader r = { .error = error };
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  yaml_event_t ev;
  gboolean ok = FALSE, started = FALSE;

  if (len > EDGED_POD_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "larger than 1 MiB");
      return NULL;
    }
  yaml_parser_initialize (&r.parser);
  yaml_parser_set_input_string (&r.parser, (const unsigned char *) data, len);
  while (next (&r, &ev))
    {
      if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT)
        {
          yaml_event_delete (&ev);
          continue;
        }
      if (ev.type == YAML_STREAM_END_EVENT || ev.type == YAML_DOCUMENT_END_EVENT)
        {
          yaml_event_delete (&ev);
          if (!started)
            fail (&r, NULL, "an empty document");
          break;
        }
      if (started)
        {
          yaml_event_delete (&ev);
          break;
        }
      started = TRUE;
      ok = read_node (&r, b, &ev, 1);
      if (!ok)
        break;
    }
  yaml_parser_delete (&r.parser);
  if (!ok || !started)
    return NULL;
  root = json_builder_get_root (b);
  return ec_json_to_string (root, FALSE);
}
