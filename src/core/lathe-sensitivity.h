/* SPDX-License-Identifier: MIT */
/* Sensitivity of a model to quantization, tensor by tensor, and the
 * mixed-precision allocation it allows: the KL divergence added when only
 * one matrix is quantized to a candidate type, then the type for every
 * matrix that minimises the summed predicted loss within a size budget. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "lathe-model.h"
#include "lk-types.h"

G_BEGIN_DECLS

typedef struct
{
  const lk_type *types; /* candidates */
  int n_types;
  int n_ctx, max_chunks, n_threads; /* evaluation, as lathe_eval_run */
  void (*progress) (gpointer user, int done, int total, const char *tensor);
  gpointer user;
} LatheSensitivityOptions;

void lathe_sensitivity_options_init (LatheSensitivityOptions *o);

/* Measures every matrix against every candidate on the text. The result
 * (`lathe-cli sensitivity --json`): {"model", "source_sha256", "text",
 * "types": [...], "tensors": [{"name", "n_elements", "source_type",
 * "candidates": [{"type", "used_type", "bytes", "kl_mean"}]}]}. */
JsonNode *lathe_sensitivity_measure (LatheModel *model, const char *text_path,
                                     const LatheSensitivityOptions *o, GCancellable *cancellable,
                                     GError **error);
/* Reads a table written by lathe-cli sensitivity; origin names it in errors. */
JsonNode *lathe_sensitivity_load (const char *path, GError **error);

/* Chooses a type for each matrix of the table not in `fixed` (name -> lk_type,
 * as GINT_TO_POINTER) so that all tensors of the model together take at most
 * budget_bytes, with the least summed KL. Fills `chosen` (name -> lk_type). */
gboolean lathe_sensitivity_allocate (JsonNode *table, LatheModel *model, guint64 budget_bytes,
                                     GHashTable *fixed, GHashTable *chosen, double *predicted_kl,
                                     GError **error);

G_END_DECLS
