/* SPDX-License-Identifier: MIT */
/* The recipe editor: quantization (a type, per-group overrides, a
 * mixed-precision target), pruning and conditional computation, with a live
 * estimate of size and memory and the layer map of the types it gives;
 * "Apply and Measure" adds the variant to the workspace. */
#pragma once

#include <adwaita.h>

#include "lathe-session.h"

G_BEGIN_DECLS

#define LATHE_TYPE_COMPRESS_PAGE (lathe_compress_page_get_type ())
G_DECLARE_FINAL_TYPE (LatheCompressPage, lathe_compress_page, LATHE, COMPRESS_PAGE, AdwBin)

void lathe_compress_page_set_session (LatheCompressPage *self, LatheSession *session);
/* The recipe the settings describe (JSON). */
char *lathe_compress_page_dup_recipe (LatheCompressPage *self);
/* The estimated file size in bytes, 0 while the settings are not valid;
 * then the error says why. */
guint64 lathe_compress_page_get_estimate (LatheCompressPage *self);
const char *lathe_compress_page_get_error (LatheCompressPage *self);
/* Why some matrices do not take the type chosen (their rows are not a
 * whole number of its blocks), or NULL. */
const char *lathe_compress_page_get_fallback (LatheCompressPage *self);

/* Settings, as the rows set them. type: "Q4_0", … or NULL to keep the
 * source's; method: "none", "magnitude", "2:4", "4:8", "layers", "heads",
 * "ffn"; exit threshold 1: none. */
void lathe_compress_page_set_quantization (LatheCompressPage *self, const char *type, gboolean pure);
void lathe_compress_page_set_pruning (LatheCompressPage *self, const char *method, double amount);
void lathe_compress_page_set_exit (LatheCompressPage *self, double threshold, int min_layer);
void lathe_compress_page_set_skip_layers (LatheCompressPage *self, const char *layers);
void lathe_compress_page_set_target_bpw (LatheCompressPage *self, double bpw);
void lathe_compress_page_set_name (LatheCompressPage *self, const char *name);
/* Starts measuring the recipe, as the button does. */
gboolean lathe_compress_page_apply (LatheCompressPage *self, GError **error);

G_END_DECLS
