/* SPDX-License-Identifier: MIT */
/* A layer × tensor-kind map of a model: one cell per matrix of each block,
 * coloured by its bits per weight; hovering a cell names the tensor, its
 * type, size and (for a fallback) the type that was asked. */
#pragma once

#include <gtk/gtk.h>

#include "lathe-model.h"

G_BEGIN_DECLS

#define LATHE_TYPE_LAYER_MAP (lathe_layer_map_get_type ())
G_DECLARE_FINAL_TYPE (LatheLayerMap, lathe_layer_map, LATHE, LAYER_MAP, GtkWidget)

GtkWidget *lathe_layer_map_new (void);
void lathe_layer_map_set_model (LatheLayerMap *self, LatheModel *model);

int lathe_layer_map_get_n_layers (LatheLayerMap *self);
int lathe_layer_map_get_n_kinds (LatheLayerMap *self);
/* The short name of column k ("attn_q", "ffn_down", …). */
const char *lathe_layer_map_get_kind (LatheLayerMap *self, int k);
/* The tensor of a cell, or NULL for an empty one. */
const char *lathe_layer_map_get_tensor (LatheLayerMap *self, int layer, int k);
/* The cell under a point of the widget: FALSE outside the grid. */
gboolean lathe_layer_map_cell_at (LatheLayerMap *self, double x, double y, int *layer, int *k);
/* What hovering the cell shows (free with g_free), or NULL for an empty one. */
char *lathe_layer_map_describe (LatheLayerMap *self, int layer, int k);

/* Shows the types a recipe would give (name -> lk_type as GINT_TO_POINTER)
 * in place of the file's; NULL: the file's. */
void lathe_layer_map_set_plan (LatheLayerMap *self, GHashTable *types);
/* A sensitivity table (lathe-cli sensitivity): hovering a cell then shows
 * the KL each candidate type adds. NULL: none. */
void lathe_layer_map_set_sensitivity (LatheLayerMap *self, JsonNode *table);

G_END_DECLS
