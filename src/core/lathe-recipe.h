/* SPDX-License-Identifier: MIT */
/* A recipe: how to turn a model into a variant (pruning, then quantization),
 * as a JSON document the CLI reads and the GUI edits. data/recipe.md
 * documents the schema. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "lathe-model.h"
#include "lk-quantize.h"

G_BEGIN_DECLS

typedef struct _LatheRecipe LatheRecipe;

/* Parses and checks a recipe; origin names it in errors (a file name). */
LatheRecipe *lathe_recipe_parse (const char *json, gssize len, const char *origin, GError **error);
LatheRecipe *lathe_recipe_load (const char *path, GError **error);
void lathe_recipe_free (LatheRecipe *recipe);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatheRecipe, lathe_recipe_free)

const char *lathe_recipe_get_name (const LatheRecipe *recipe);
/* The recipe as compact JSON (what output files carry). */
char *lathe_recipe_to_json (const LatheRecipe *recipe);

/* The recipe's conditional computation: layers to skip (NULL: none), exit
 * threshold (0: none) and first exit layer. FALSE when it has none. */
gboolean lathe_recipe_get_conditional (const LatheRecipe *recipe, const char **skip_layers,
                                       double *exit_threshold, int *exit_min_layer);

/* Checks the recipe against a model: every pattern must match a tensor. */
gboolean lathe_recipe_check (const LatheRecipe *recipe, LatheModel *model, GError **error);

typedef void (*LatheRecipeProgress) (gpointer user, int done, int total, const char *tensor);

/* Writes the variant to out_path atomically. The file carries the recipe
 * (lathe.recipe) and the source's sha256 (lathe.source.sha256). report may
 * be NULL. */
gboolean lathe_recipe_apply (const LatheRecipe *recipe, LatheModel *model, const char *out_path,
                             int n_threads, LatheRecipeProgress progress, gpointer user,
                             lk_quantize_report *report, GCancellable *cancellable,
                             GError **error);

/* What applying would write, without writing: the type each tensor gets
 * (name -> lk_type as GINT_TO_POINTER, into types when not NULL; a
 * string-keyed table owning its keys) and the bytes of the output's
 * tensors. Structured cuts shrink the tensors they touch in proportion
 * (which rows go is decided when applying). Fast: no weights are read. */
gboolean lathe_recipe_estimate (const LatheRecipe *recipe, LatheModel *model, GHashTable *types,
                                guint64 *tensor_bytes, GError **error);
/* The hex sha256 of a file. */
char *lathe_file_sha256 (const char *path, GCancellable *cancellable, GError **error);
/* Whether text is a sha256 in hex (64 hex digits). */
gboolean lathe_is_sha256 (const char *text);

G_END_DECLS
