/* smp.c: two-way strategic merge patches, as kubelet computes them for the
 * node status (nodepatch) and the pod status (podpatch): maps are diffed
 * member by member (a member gone becomes null), lists of objects with a
 * Kubernetes patchMergeKey are diffed element by element (an element gone
 * becomes {"<key>":...,"$patch":"delete"}, and "$setElementOrder/<list>"
 * gives the new order), any other value that changed is sent whole. */
#include "smp.h"

#include <string.h>

/* The patchMergeKey of the status lists kubelet patches (k8s.io/api
 * core/v1 struct tags). */
static const char *
merge_key (const char *member)
{
  static const char *const keys[][2] = {
    { "conditions", "type" },
    { "containerStatuses", "name" },
    { "initContainerStatuses", "name" },
    { "ephemeralContainerStatuses", "name" },
    { "podIPs", "ip" },
    { "hostIPs", "ip" },
    { "addresses", "type" },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    if (!strcmp (member, keys[i][0]))
      return keys[i][1];
  return NULL;
}

static JsonObject *diff_object (JsonObject *old, JsonObject *new);

/* The string value of o[key] for a list element, or NULL. */
static const char *
elem_key (JsonNode *elem, const char *key)
{
  JsonNode *n;
  if (!JSON_NODE_HOLDS_OBJECT (elem))
    return NULL;
  n = json_object_get_member (json_node_get_object (elem), key);
  if (!n || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static JsonNode *
find_elem (JsonArray *a, const char *key, const char *value)
{
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (!g_strcmp0 (elem_key (json_array_get_element (a, i), key), value))
      return json_array_get_element (a, i);
  return NULL;
}

/* Whether every element of a is an object with a string merge key. */
static gboolean
keyed (JsonArray *a, const char *key)
{
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (!elem_key (json_array_get_element (a, i), key))
      return FALSE;
  return TRUE;
}

/* A list with a merge key: puts into patch the changed, new and deleted
 * elements and the new order, when anything changed. */
static void
diff_list (JsonObject *patch, const char *member, const char *key, JsonArray *old, JsonArray *new)
{
  g_autoptr (JsonArray) elems = json_array_new ();
  gboolean changed = json_array_get_length (old) != json_array_get_length (new);
  guint n = json_array_get_length (new);

  for (guint i = 0; i < n; i++)
    {
      JsonNode *e = json_array_get_element (new, i);
      const char *k = elem_key (e, key);
      JsonNode *o = find_elem (old, key, k);
      if (!o)
        {
          json_array_add_element (elems, edged_json_deep_copy (e));
          changed = TRUE;
          continue;
        }
      if (i >= json_array_get_length (old)
          || g_strcmp0 (elem_key (json_array_get_element (old, i), key), k) != 0)
        changed = TRUE;   /* the order changed */
      {
        JsonObject *d = diff_object (json_node_get_object (o), json_node_get_object (e));
        if (d)
          {
            json_object_set_string_member (d, key, k);
            json_array_add_object_element (elems, d);
            changed = TRUE;
          }
      }
    }
  for (guint i = 0; i < json_array_get_length (old); i++)
    {
      const char *k = elem_key (json_array_get_element (old, i), key);
      if (!find_elem (new, key, k))
        {
          JsonObject *del = json_object_new ();
          json_object_set_string_member (del, "$patch", "delete");
          json_object_set_string_member (del, key, k);
          json_array_add_object_element (elems, del);
          changed = TRUE;
        }
    }
  if (!changed)
    return;
  {
    JsonArray *order = json_array_new ();
    g_autofree char *name = g_strconcat ("$setElementOrder/", member, NULL);
    for (guint i = 0; i < n; i++)
      {
        JsonObject *o = json_object_new ();
        json_object_set_string_member (o, key, elem_key (json_array_get_element (new, i), key));
        json_array_add_object_element (order, o);
      }
    json_object_set_array_member (patch, name, order);
  }
  if (json_array_get_length (elems))
    json_object_set_array_member (patch, member, json_array_ref (elems));
}

/* The patch turning old into new; NULL when they are equal. */
static JsonObject *
diff_object (JsonObject *old, JsonObject *new)
{
  JsonObject *patch = json_object_new ();
  GList *members = json_object_get_members (new);

  for (GList *l = members; l; l = l->next)
    {
      const char *m = l->data;
      JsonNode *nv = json_object_get_member (new, m);
      JsonNode *ov = json_object_get_member (old, m);
      const char *key;

      if (!ov)
        json_object_set_member (patch, m, edged_json_deep_copy (nv));
      else if (JSON_NODE_HOLDS_OBJECT (ov) && JSON_NODE_HOLDS_OBJECT (nv))
        {
          JsonObject *d = diff_object (json_node_get_object (ov), json_node_get_object (nv));
          if (d)
            json_object_set_object_member (patch, m, d);
        }
      else if (JSON_NODE_HOLDS_ARRAY (ov) && JSON_NODE_HOLDS_ARRAY (nv) && (key = merge_key (m))
               && keyed (json_node_get_array (ov), key) && keyed (json_node_get_array (nv), key))
        diff_list (patch, m, key, json_node_get_array (ov), json_node_get_array (nv));
      else if (!json_node_equal (ov, nv))
        json_object_set_member (patch, m, edged_json_deep_copy (nv));
    }
  g_list_free (members);
  members = json_object_get_members (old);
  for (GList *l = members; l; l = l->next)
    if (!json_object_has_member (new, l->data))
      json_object_set_null_member (patch, l->data);
  g_list_free (members);
  if (json_object_get_size (patch) == 0)
    {
      json_object_unref (patch);
      return NULL;
    }
  return patch;
}

/* A deep copy of node (json_node_copy shares objects and arrays). */
JsonNode *
edged_json_deep_copy (JsonNode *node)
{
  JsonNode *copy;
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *src = json_node_get_object (node), *dst = json_object_new ();
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;
      json_object_iter_init (&iter, src);
      while (json_object_iter_next (&iter, &name, &member))
        json_object_set_member (dst, name, edged_json_deep_copy (member));
      copy = json_node_new (JSON_NODE_OBJECT);
      json_node_take_object (copy, dst);
      return copy;
    }
  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *src = json_node_get_array (node), *dst = json_array_new ();
      for (guint i = 0; i < json_array_get_length (src); i++)
        json_array_add_element (dst, edged_json_deep_copy (json_array_get_element (src, i)));
      copy = json_node_new (JSON_NODE_ARRAY);
      json_node_take_array (copy, dst);
      return copy;
    }
  return json_node_copy (node);
}

/* The strategic merge patch from old to new (both JSON objects; old may be
 * NULL: everything is new), or NULL when nothing changed. */
JsonObject *
edged_smp_diff (JsonNode *old, JsonNode *new)
{
  g_autoptr (JsonObject) empty = json_object_new ();
  JsonObject *o = old && JSON_NODE_HOLDS_OBJECT (old) ? json_node_get_object (old) : empty;
  g_return_val_if_fail (new && JSON_NODE_HOLDS_OBJECT (new), NULL);
  return diff_object (o, json_node_get_object (new));
}
