/* ec-store.h: the node's one sqlite database, shared by the plugins. */
#pragma once

#if !defined(EC_INSIDE_EDGECORE_H) && !defined(EC_COMPILATION)
#error "Only <edgecore.h> can be included directly."
#endif

#include <ec-context.h>
#include <sqlite3.h>

G_BEGIN_DECLS

/**
 * EcStore:
 *
 * KubeEdge's database file (`[database] data-source`), shared by every
 * plugin that needs it (metamanager, devicetwin, edgehub).
 *
 * Writes go to one writer thread with the only writing connection. It takes
 * every write job queued at that moment into one transaction, each job in
 * its own savepoint: a failing job is rolled back alone, the others commit
 * together, and each job's callback runs on the main loop only after the
 * commit is durable (WAL, `synchronous=FULL`). Reads run on reader threads
 * with their own connections, so neither ever blocks the main loop.
 */
typedef struct _EcStore EcStore;

/**
 * EcStoreFunc:
 * @db: the connection, valid only during the call
 * @data: the job's data; a read may leave its result in it
 * @error: where to put an error
 *
 * A job run on a store thread. A write job runs inside a transaction and
 * must not BEGIN or COMMIT itself.
 *
 * Returns: %TRUE on success
 */
typedef gboolean (*EcStoreFunc) (sqlite3 *db, gpointer data, GError **error);

/**
 * EcStoreDoneFunc:
 * @error: (nullable): why the job failed, or %NULL once it is committed
 * @data: the job's data
 *
 * Runs on the main context that queued the job, after the job (and, for a
 * write, its transaction) finished.
 */
typedef void (*EcStoreDoneFunc) (const GError *error, gpointer data);

/**
 * EC_STORE_ERROR:
 *
 * Error domain of the store; codes are #EcStoreError.
 */
#define EC_STORE_ERROR (ec_store_error_quark ())
EC_API GQuark ec_store_error_quark (void);

/**
 * EcStoreError:
 * @EC_STORE_ERROR_OPEN: the file cannot be opened or is not a database
 * @EC_STORE_ERROR_SQL: a statement failed
 * @EC_STORE_ERROR_SCHEMA: a table exists with columns KubeEdge does not use
 * @EC_STORE_ERROR_CLOSED: the store is closing
 *
 * Errors of the store.
 */
typedef enum {
  EC_STORE_ERROR_OPEN,
  EC_STORE_ERROR_SQL,
  EC_STORE_ERROR_SCHEMA,
  EC_STORE_ERROR_CLOSED,
} EcStoreError;

EC_API EcStore    *ec_store_new        (const char     *path,
                                        GError        **error);
EC_API void        ec_store_free       (EcStore        *store);
EC_API const char *ec_store_get_path   (EcStore        *store);
EC_API guint       ec_store_get_pending_writes (EcStore *store);
EC_API void        ec_store_write      (EcStore        *store,
                                        EcStoreFunc     func,
                                        EcStoreDoneFunc done,
                                        gpointer        data,
                                        GDestroyNotify  destroy);
EC_API void        ec_store_read       (EcStore        *store,
                                        EcStoreFunc     func,
                                        EcStoreDoneFunc done,
                                        gpointer        data,
                                        GDestroyNotify  destroy);
EC_API void        ec_store_write_full (EcStore        *store,
                                        EcStoreFunc     func,
                                        EcStoreDoneFunc done,
                                        gpointer        data,
                                        GDestroyNotify  destroy,
                                        GCancellable   *cancellable);
EC_API void        ec_store_read_full  (EcStore        *store,
                                        EcStoreFunc     func,
                                        EcStoreDoneFunc done,
                                        gpointer        data,
                                        GDestroyNotify  destroy,
                                        GCancellable   *cancellable);
EC_API gboolean    ec_store_write_sync (EcStore        *store,
                                        EcStoreFunc     func,
                                        gpointer        data,
                                        GError        **error);
EC_API gboolean    ec_store_read_sync  (EcStore        *store,
                                        EcStoreFunc     func,
                                        gpointer        data,
                                        GError        **error);
EC_API gboolean    ec_store_set_sql_error (GError     **error,
                                           sqlite3     *db,
                                           const char  *what);

EC_API EcStore    *ec_plugin_context_get_store (EcPluginContext *context,
                                                GError         **error);

G_END_DECLS
