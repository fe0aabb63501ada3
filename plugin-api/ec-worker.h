/* ec-worker.h: run blocking work off the main loop, get the result back on it. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-version.h>
#include <gio/gio.h>

G_BEGIN_DECLS

/**
 * EcWorkFunc:
 * @data: the data given with the work
 * @error: where to put an error
 *
 * Blocking work (sqlite, file I/O) run on a worker thread.
 *
 * Returns: (nullable) (transfer full): the result, handed to the #EcDoneFunc
 */
typedef gpointer (*EcWorkFunc) (gpointer data, GError **error);

/**
 * EcDoneFunc:
 * @result: (nullable) (transfer full): what the work returned; the callback owns it
 * @error: (nullable): the work's error
 * @data: the data given with the work
 *
 * Receives the outcome of an #EcWorkFunc on the thread-default main context
 * of the thread that queued the work.
 */
typedef void (*EcDoneFunc) (gpointer result, const GError *error, gpointer data);

/**
 * EcWorker:
 *
 * One dedicated thread that runs the work given to it in order, one item at
 * a time: the right tool for a sqlite writer.
 */
typedef struct _EcWorker EcWorker;

EC_API void      ec_run_in_thread (EcWorkFunc     work,
                            EcDoneFunc     done,
                            gpointer       data,
                            GDestroyNotify destroy);

EC_API void      ec_run_in_thread_full (EcWorkFunc     work,
                                        EcDoneFunc     done,
                                        gpointer       data,
                                        GDestroyNotify destroy,
                                        GCancellable  *cancellable);

EC_API EcWorker *ec_worker_new    (const char    *name);
EC_API void      ec_worker_push   (EcWorker      *worker,
                            EcWorkFunc     work,
                            EcDoneFunc     done,
                            gpointer       data,
                            GDestroyNotify destroy);
EC_API void      ec_worker_push_full (EcWorker      *worker,
                                      EcWorkFunc     work,
                                      EcDoneFunc     done,
                                      gpointer       data,
                                      GDestroyNotify destroy,
                                      GCancellable  *cancellable);
EC_API guint     ec_worker_get_pending (EcWorker *worker);
EC_API void      ec_worker_free   (EcWorker      *worker);

G_END_DECLS
