/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-model.h"

G_BEGIN_DECLS

#define LATHE_TYPE_PLAYGROUND_PAGE (lathe_playground_page_get_type ())
G_DECLARE_FINAL_TYPE (LathePlaygroundPage, lathe_playground_page, LATHE, PLAYGROUND_PAGE, AdwBin)

void lathe_playground_page_set_model (LathePlaygroundPage *self, LatheModel *model);
/* Sampling settings are stored in (and restored from) these settings. */
void lathe_playground_page_set_settings (LathePlaygroundPage *self, GSettings *settings);
void lathe_playground_page_set_prompt (LathePlaygroundPage *self, const char *prompt);
/* The prompt and the generated text, as shown. */
char *lathe_playground_page_dup_output (LathePlaygroundPage *self);
gboolean lathe_playground_page_get_busy (LathePlaygroundPage *self);
const char *lathe_playground_page_get_status (LathePlaygroundPage *self);
/* How the last run ended ("length", "cancelled", "error", …), or NULL. */
const char *lathe_playground_page_get_last_stop_reason (LathePlaygroundPage *self);
/* Compares a variant side by side with the model (path NULL: stop
 * comparing): Generate runs both from the same prompt and seed, and the
 * first character where their texts part is marked. */
void lathe_playground_page_set_variant (LathePlaygroundPage *self, const char *path, const char *name);
gboolean lathe_playground_page_get_variant_ready (LathePlaygroundPage *self);
char *lathe_playground_page_dup_variant_output (LathePlaygroundPage *self);
/* Characters of generated text the two agree on before they part; -1
 * while they agree. */
int lathe_playground_page_get_divergence (LathePlaygroundPage *self);
/* Stops a running generation (also when the window closes). */
void lathe_playground_page_stop (LathePlaygroundPage *self);

G_END_DECLS
