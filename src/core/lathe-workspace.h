/* SPDX-License-Identifier: MIT */
/* A workspace: a folder holding what was measured for one source model —
 * workspace.json (the source and the evaluation text), each variant's
 * figures and recipe (variants/ID.json) and model file (variants/ID.gguf),
 * and the source's saved reference log-probabilities. Every file is
 * written whole (a new file renamed into place). Several processes may add
 * to one workspace at once: each variant is a file of its own, so none
 * rewrites another's results; workspace.json is written under a lock. */
#pragma once

#include <gio/gio.h>

#include "lathe-model.h"
#include "lathe-runner.h"
#include "lathe-variant.h"

G_BEGIN_DECLS

#define LATHE_TYPE_WORKSPACE (lathe_workspace_get_type ())
G_DECLARE_FINAL_TYPE (LatheWorkspace, lathe_workspace, LATHE, WORKSPACE, GObject)

/* Starts a workspace in dir (made if missing; one that already holds a
 * workspace is an error) for a source model and an evaluation text (may be
 * NULL: then set one before measuring). */
LatheWorkspace *lathe_workspace_create (const char *dir, const char *source_path,
                                        const char *eval_text_path, GError **error);
LatheWorkspace *lathe_workspace_open (const char *dir, GError **error);

const char *lathe_workspace_get_dir (LatheWorkspace *self);
const char *lathe_workspace_get_source (LatheWorkspace *self);
/* "" when none was chosen. */
const char *lathe_workspace_get_eval_text (LatheWorkspace *self);
gboolean lathe_workspace_set_eval_text (LatheWorkspace *self, const char *path, GError **error);
/* Tokens per evaluated chunk and chunks evaluated (0: all). Changing them
 * makes the saved reference stale: it is recomputed at the next measure. */
int lathe_workspace_get_eval_ctx (LatheWorkspace *self);
int lathe_workspace_get_eval_chunks (LatheWorkspace *self);
/* Sets them and writes workspace.json. */
gboolean lathe_workspace_set_eval (LatheWorkspace *self, int n_ctx, int n_chunks, GError **error);

/* LatheVariant items in the order they were measured. */
GListModel *lathe_workspace_get_variants (LatheWorkspace *self);
LatheVariant *lathe_workspace_find (LatheWorkspace *self, const char *id_or_name);
/* The absolute path of a variant's model file. */
char *lathe_workspace_dup_file (LatheWorkspace *self, LatheVariant *variant);

/* Writes workspace.json (the source and the evaluation settings). */
gboolean lathe_workspace_save (LatheWorkspace *self, GError **error);
/* Adds a measured variant: writes its variants/ID.json (giving it a new id
 * should another process have taken its id meanwhile). */
gboolean lathe_workspace_add (LatheWorkspace *self, LatheVariant *variant, GError **error);
/* Removes a variant: its variants/ID.json and its model file (if the
 * workspace made it). */
gboolean lathe_workspace_remove (LatheWorkspace *self, LatheVariant *variant, GError **error);
/* Variant files that could not be read when the workspace was opened
 * (messages naming the file and the field); they are left as they are. */
GPtrArray *lathe_workspace_get_problems (LatheWorkspace *self);
/* The whole workspace as one JSON document: workspace.json with a
 * "variants" array. */
char *lathe_workspace_to_json (LatheWorkspace *self);
/* Every variant and figure as CSV, one row per variant. */
char *lathe_workspace_to_csv (LatheWorkspace *self);

typedef struct
{
  int n_threads;           /* applying and evaluating; 0: every core */
  LatheBenchOptions bench; /* the speed test (lathe-run bench) */
  gboolean skip_speed;     /* quality and size only */
} LatheMeasureOptions;

void lathe_measure_options_init (LatheMeasureOptions *o);

/* fraction: of this variant's work; stage: what runs ("applying", …). */
typedef void (*LatheMeasureProgress) (gpointer user, double fraction, const char *stage);

/* Blocking (call from a worker thread): makes the variant a recipe
 * describes from source (the workspace's model, loaded) and measures it;
 * recipe_json NULL measures the source itself. The result is not added:
 * call lathe_workspace_add on the workspace's thread. Cancelled or failed,
 * it leaves no file behind. */
LatheVariant *lathe_workspace_measure (LatheWorkspace *self, LatheModel *source,
                                       const char *recipe_json, const LatheMeasureOptions *o,
                                       LatheMeasureProgress progress, gpointer user,
                                       GCancellable *cancellable, GError **error);

/* Measures several recipes one after the other in a worker thread (NULL
 * in recipes: the source itself). Each variant is added to the workspace
 * as soon as it is measured; progress (done: variants finished) runs in the
 * caller's main context. A failed recipe ends the run with its error; the
 * variants measured before it stay. */
typedef void (*LatheSweepProgress) (gpointer user, int done, int total, double fraction,
                                    const char *stage);
void lathe_workspace_measure_async (LatheWorkspace *self, LatheModel *source, GPtrArray *recipes,
                                    const LatheMeasureOptions *o, LatheSweepProgress progress,
                                    gpointer progress_user, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
/* The number of variants added. */
int lathe_workspace_measure_finish (LatheWorkspace *self, GAsyncResult *result, GError **error);

/* The sensitivity table of the source (sensitivity.json in the folder),
 * for mixed-precision targets: its path, or NULL until measured. */
char *lathe_workspace_dup_sensitivity (LatheWorkspace *self);
/* Measures it (blocking; a worker thread) on the evaluation text, for the
 * candidate types F16, Q8_0, Q6_K, Q5_K, Q5_0, Q4_K, Q4_0, Q3_K and Q2_K,
 * and writes it. progress: fraction done. */
gboolean lathe_workspace_measure_sensitivity (LatheWorkspace *self, LatheModel *source,
                                              LatheMeasureProgress progress, gpointer user,
                                              GCancellable *cancellable, GError **error);

/* The same in a worker thread, finished with lathe_workspace_measure_finish
 * (0 variants added). */
void lathe_workspace_measure_sensitivity_async (LatheWorkspace *self, LatheModel *source,
                                                LatheSweepProgress progress, gpointer progress_user,
                                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                                gpointer user_data);

/* Adds a device profile (lathe_device_profile) of model_path as a point
 * labelled with the device: its speed, and the quality measured here for the
 * same model file when the workspace has it. Saves; the workspace keeps
 * the point returned. */
LatheVariant *lathe_workspace_add_profile (LatheWorkspace *self, const char *model_path, JsonNode *profile,
                                           GError **error);

/* Recipes for a grid: every type × sparsity × exit threshold (NULL or empty
 * lists leave that axis out; sparsity 0 and threshold 1 mean none). Each
 * is a JSON text with a name saying what it is. The grid types (IQ1_S …
 * IQ3_S) calibrate on calib_text (NULL: none, and the recipe is refused). */
GPtrArray *lathe_sweep_recipes (const char *const *types, const double *sparsities,
                                guint n_sparsities, const double *exit_thresholds,
                                guint n_exits, int exit_min_layer, const char *calib_text);

G_END_DECLS
