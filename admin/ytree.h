/* ytree.h: a YAML document read by libyaml into a small tree, with the
 * line of every node, within size and depth limits. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define EC_YAML_MAX_BYTES  (1024 * 1024)
#define EC_YAML_MAX_DEPTH  32
#define EC_YAML_MAX_NODES  20000

typedef enum { EC_YNODE_SCALAR, EC_YNODE_MAP, EC_YNODE_SEQ } EcYNodeKind;

typedef struct _EcYNode EcYNode;
struct _EcYNode {
  EcYNodeKind kind;
  int         line;     /* 1-based */
  char       *scalar;   /* SCALAR: the text */
  gboolean    quoted;   /* SCALAR: written in quotes (a string, never a number or bool) */
  GPtrArray  *keys;     /* MAP: char* keys, parallel to items */
  GPtrArray  *items;    /* MAP values / SEQ items: EcYNode* */
};

EcYNode *ec_ynode_parse  (const char *data, gsize len, GError **error);
EcYNode *ec_ynode_get    (const EcYNode *map, const char *key);
void     ec_ynode_free   (EcYNode *node);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EcYNode, ec_ynode_free)

G_END_DECLS
