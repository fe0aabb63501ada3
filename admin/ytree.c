/* ytree.c: libyaml's event parser into EcYNode trees. One document; a
 * mapping's keys must be scalars; anchors and aliases are refused (an
 * edgecore.yaml never has them, and they can multiply a small file into
 * a huge tree). Errors name the line. */
#include "config.h"

#include "ytree.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <yaml.h>

typedef struct {
  yaml_parser_t parser;
  guint         nodes;
  GError      **error;
} Reader;

static void
set_error (Reader *r, int line, const char *what)
{
  if (!*r->error)
    g_set_error (r->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("line %d: %s"), line, what);
}

static gboolean
next_event (Reader *r, yaml_event_t *ev)
{
  if (yaml_parser_parse (&r->parser, ev))
    return TRUE;
  if (!*r->error)
    {
      const yaml_parser_t *p = &r->parser;
      g_set_error (r->error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("line %d column %d: %s%s%s"),
                   (int) p->problem_mark.line + 1, (int) p->problem_mark.column + 1,
                   p->problem ? p->problem : _("invalid YAML"), p->context ? ", " : "",
                   p->context ? p->context : "");
    }
  return FALSE;
}

void
ec_ynode_free (EcYNode *node)
{
  if (!node)
    return;
  g_free (node->scalar);
  if (node->keys)
    g_ptr_array_unref (node->keys);
  if (node->items)
    g_ptr_array_unref (node->items);
  g_free (node);
}

static EcYNode *
node_new (EcYNodeKind kind, int line)
{
  EcYNode *n = g_new0 (EcYNode, 1);
  n->kind = kind;
  n->line = line;
  if (kind != EC_YNODE_SCALAR)
    n->items = g_ptr_array_new_with_free_func ((GDestroyNotify) ec_ynode_free);
  if (kind == EC_YNODE_MAP)
    n->keys = g_ptr_array_new_with_free_func (g_free);
  return n;
}

static EcYNode *read_node (Reader *r, yaml_event_t *ev, int depth);

/* Reads the children of a mapping or sequence up to its end event. */
static gboolean
read_children (Reader *r, EcYNode *n, int depth)
{
  for (;;)
    {
      yaml_event_t ev;
      EcYNode *child;
      if (!next_event (r, &ev))
        return FALSE;
      if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT)
        {
          yaml_event_delete (&ev);
          return TRUE;
        }
      if (n->kind == EC_YNODE_MAP)
        {
          int line = (int) ev.start_mark.line + 1;
          if (ev.type != YAML_SCALAR_EVENT)
            {
              yaml_event_delete (&ev);
              set_error (r, line, _("a mapping key must be a plain name"));
              return FALSE;
            }
          g_autofree char *key = g_strndup ((const char *) ev.data.scalar.value, ev.data.scalar.length);
          yaml_event_delete (&ev);
          for (guint i = 0; i < n->keys->len; i++)
            if (g_strcmp0 (n->keys->pdata[i], key) == 0)
              {
                g_autofree char *msg = g_strdup_printf (_("key “%s” appears twice"), key);
                set_error (r, line, msg);
                return FALSE;
              }
          if (!next_event (r, &ev))
            return FALSE;
          child = read_node (r, &ev, depth + 1);
          if (!child)
            return FALSE;
          g_ptr_array_add (n->keys, g_steal_pointer (&key));
          g_ptr_array_add (n->items, child);
        }
      else
        {
          child = read_node (r, &ev, depth + 1);
          if (!child)
            return FALSE;
          g_ptr_array_add (n->items, child);
        }
    }
}

/* Builds the node that starts with ev (consumed). */
static EcYNode *
read_node (Reader *r, yaml_event_t *ev, int depth)
{
  int line = (int) ev->start_mark.line + 1;
  EcYNode *n = NULL;

  if (++r->nodes > EC_YAML_MAX_NODES)
    {
      yaml_event_delete (ev);
      set_error (r, line, _("too many entries (the limit is 20000)"));
      return NULL;
    }
  if (depth > EC_YAML_MAX_DEPTH)
    {
      yaml_event_delete (ev);
      set_error (r, line, _("nested too deeply (the limit is 32 levels)"));
      return NULL;
    }
  switch (ev->type)
    {
    case YAML_SCALAR_EVENT:
      if (ev->data.scalar.anchor)
        break;
      n = node_new (EC_YNODE_SCALAR, line);
      n->scalar = g_strndup ((const char *) ev->data.scalar.value, ev->data.scalar.length);
      n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE
                  || ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
      yaml_event_delete (ev);
      return n;
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
      if ((ev->type == YAML_MAPPING_START_EVENT ? ev->data.mapping_start.anchor
                                                : ev->data.sequence_start.anchor))
        break;
      n = node_new (ev->type == YAML_MAPPING_START_EVENT ? EC_YNODE_MAP : EC_YNODE_SEQ, line);
      yaml_event_delete (ev);
      if (!read_children (r, n, depth))
        {
          ec_ynode_free (n);
          return NULL;
        }
      return n;
    default:
      break;
    }
  yaml_event_delete (ev);
  set_error (r, line, _("anchors and aliases (& and *) are not supported"));
  return NULL;
}

/* Parses one YAML document (at most EC_YAML_MAX_BYTES, EC_YAML_MAX_DEPTH
 * levels, EC_YAML_MAX_NODES nodes). An empty document gives an empty map. */
EcYNode *
ec_ynode_parse (const char *data, gsize len, GError **error)
{
  Reader r = { .error = error };
  yaml_event_t ev;
  EcYNode *root = NULL;
  gboolean done = FALSE;

  if (len > EC_YAML_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("the file is larger than %d bytes"),
                   EC_YAML_MAX_BYTES);
      return NULL;
    }
  yaml_parser_initialize (&r.parser);
  yaml_parser_set_input_string (&r.parser, (const unsigned char *) data, len);
  while (!done && next_event (&r, &ev))
    {
      switch (ev.type)
        {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT:
          yaml_event_delete (&ev);
          break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT:
          yaml_event_delete (&ev);
          done = TRUE;
          break;
        default:
          if (root)
            {
              yaml_event_delete (&ev);
              done = TRUE;
              break;
            }
          root = read_node (&r, &ev, 1);
          if (!root)
            done = TRUE;
          break;
        }
    }
  yaml_parser_delete (&r.parser);
  if (error && *error)
    {
      ec_ynode_free (root);
      return NULL;
    }
  if (!root)
    root = node_new (EC_YNODE_MAP, 1);
  return root;
}

/* The value of key in a mapping, or NULL. */
EcYNode *
ec_ynode_get (const EcYNode *map, const char *key)
{
  if (!map || map->kind != EC_YNODE_MAP)
    return NULL;
  for (guint i = 0; i < map->keys->len; i++)
    if (g_strcmp0 (map->keys->pdata[i], key) == 0)
      return map->items->pdata[i];
  return NULL;
}
