/* confd.h: conf.d drop-ins merged with systemd's standard-conf rules. */
#pragma once

#include "ec-host-api.h"

G_BEGIN_DECLS

typedef enum {
  EC_DIAG_WARNING,
  EC_DIAG_ERROR,
} EcDiagLevel;

/* One finding about the configuration, located at file:line when known. */
typedef struct {
  EcDiagLevel level;
  char       *file;   /* NULL when no file is to blame */
  int         line;   /* 0 when unknown */
  char       *text;
} EcDiag;

typedef struct _EcConfig EcConfig;

EcConfig   *ec_config_new              (void);
void        ec_config_free             (EcConfig *config);
void        ec_config_load_dirs        (EcConfig *config, const char *const *dirs);
void        ec_config_load_file        (EcConfig *config, const char *path);
void        ec_config_load_data        (EcConfig *config, const char *path, const char *contents,
                                        gsize length);
GKeyFile   *ec_config_get_keyfile      (EcConfig *config);
GPtrArray  *ec_config_get_files        (EcConfig *config);
GPtrArray  *ec_config_get_diags        (EcConfig *config);
gboolean    ec_config_has_errors       (EcConfig *config);
void        ec_config_add_diag         (EcConfig *config, EcDiagLevel level, const char *file,
                                        int line, const char *format, ...) G_GNUC_PRINTF (5, 6);
gboolean    ec_config_has_section      (EcConfig *config, const char *section);
gboolean    ec_config_locate           (EcConfig *config, const char *section, const char *key,
                                        const char **file, int *line);
void        ec_config_apply_defaults   (EcConfig *config, const char *section,
                                        const EcConfigKey *keys, guint n_keys);
gboolean    ec_config_validate_section (EcConfig *config, const char *section,
                                        const EcConfigKey *keys, guint n_keys,
                                        gboolean enabled);
void        ec_config_warn_unknown_sections (EcConfig *config, GHashTable *known);
char       *ec_config_dump             (EcConfig *config);
char       *ec_diag_format             (const EcDiag *diag);
gboolean    ec_config_check_dirs       (EcConfig *config, const char *const *dirs);
gboolean    ec_config_check_int_range  (EcConfig *config, const char *section, const char *key,
                                        gint64 min, gint64 max);
gboolean    ec_config_check_node_name  (EcConfig *config, const char *section, const char *key);
gboolean    ec_is_dns_subdomain        (const char *name);

G_END_DECLS
