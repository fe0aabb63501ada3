/* gc.c: kubelet's container garbage collection for the dead containers
 * restarts leave:
 *
 *   max-per-pod-container-count  exited instances kept per container of a
 *                                pod (default 1: the one shown as
 *                                lastState); 0 keeps none (lastState is
 *                                still reported from memory); < 0 no limit
 *   max-container-count          exited instances kept on the whole node
 *                                (-1: no limit); beyond it the oldest go
 *
 * The newest instances are kept. Exited containers of removed pods go with
 * their sandbox (pod-worker.c). */
#include "pod.h"

static void
on_removed (ProtobufCMessage *response, const GError *error, gpointer data)
{
  if (response)
    protobuf_c_message_free_unpacked (response, NULL);
}

static void
remove_id (Edged *self, const char *id)
{
  Runtime__V1__RemoveContainerRequest req = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
  req.container_id = (char *) id;
  edged_cri_invoke (self->runtime, &edged_cri_remove_container, &req.base,
                    (guint) self->request_timeout_ms, on_removed, NULL, NULL);
}

/* A container exited and is being replaced: its instance (id, finished at
 * finished_ns) joins the dead ones kept for c, oldest beyond the per-pod
 * limit removed. Returns the id to show as lastState (NULL: not kept). */
char *
edged_gc_dead (EdgedPod *pod, EdgedContainer *c, char *id)
{
  Edged *self = pod->edged;
  gint64 keep = self->max_dead_per_container;

  if (c->dead_id)
    {
      if (!c->older_dead)
        c->older_dead = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_insert (c->older_dead, 0, c->dead_id);   /* newest first */
      c->dead_id = NULL;
    }
  if (keep == 0)
    {
      remove_id (self, id);
      g_free (id);
      id = NULL;
    }
  /* keep - 1 older ones besides the newest */
  while (keep >= 0 && c->older_dead && c->older_dead->len > (guint) MAX (keep - 1, 0))
    {
      remove_id (self, g_ptr_array_index (c->older_dead, c->older_dead->len - 1));
      g_ptr_array_remove_index (c->older_dead, c->older_dead->len - 1);
    }
  if (self->max_dead_total >= 0)
    edged_gc_node (self);
  return id;
}

/* max-container-count: the node's oldest dead containers beyond it go
 * (older instances first, then the lastState ones of the pods that
 * restarted longest ago). */
void
edged_gc_node (Edged *self)
{
  GHashTableIter iter;
  gpointer value;
  guint total = 0;
  gint64 limit = self->max_dead_total;

  if (limit < 0 || !self->pods)
    return;
  g_hash_table_iter_init (&iter, self->pods);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      EdgedPod *pod = value;
      for (guint i = 0; i < pod->spec->n_containers; i++)
        total += (pod->containers[i].dead_id != NULL)
                 + (pod->containers[i].older_dead ? pod->containers[i].older_dead->len : 0);
    }
  while (total > (guint) limit)
    {
      EdgedContainer *oldest = NULL;
      gboolean older = FALSE;
      g_hash_table_iter_init (&iter, self->pods);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          EdgedPod *pod = value;
          for (guint i = 0; i < pod->spec->n_containers; i++)
            {
              EdgedContainer *c = &pod->containers[i];
              gboolean has_older = c->older_dead && c->older_dead->len;
              if (!c->dead_id && !has_older)
                continue;
              if (!oldest || (has_older && !older)
                  || (has_older == older && c->last_finished_at < oldest->last_finished_at))
                {
                  oldest = c;
                  older = has_older;
                }
            }
        }
      if (!oldest)
        break;
      if (older)
        {
          remove_id (self, g_ptr_array_index (oldest->older_dead, oldest->older_dead->len - 1));
          g_ptr_array_remove_index (oldest->older_dead, oldest->older_dead->len - 1);
        }
      else
        {
          remove_id (self, oldest->dead_id);
          g_clear_pointer (&oldest->dead_id, g_free);
        }
      total--;
    }
}
