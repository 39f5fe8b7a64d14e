/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-layer-map.h"
#include "lathe-model.h"

G_BEGIN_DECLS

#define LATHE_TYPE_MODEL_PAGE (lathe_model_page_get_type ())
G_DECLARE_FINAL_TYPE (LatheModelPage, lathe_model_page, LATHE, MODEL_PAGE, AdwBin)

void lathe_model_page_set_model (LatheModelPage *self, LatheModel *model);
/* The tensors as shown: filtered and sorted (for tests). */
GListModel *lathe_model_page_get_shown_tensors (LatheModelPage *self);
/* The value shown in the overview row of that title, e.g. "Architecture". */
const char *lathe_model_page_get_info (LatheModelPage *self, const char *title);
GtkColumnView *lathe_model_page_get_tensor_view (LatheModelPage *self);

LatheLayerMap *lathe_model_page_get_layer_map (LatheModelPage *self);

G_END_DECLS
