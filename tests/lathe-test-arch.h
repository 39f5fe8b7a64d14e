/* SPDX-License-Identifier: MIT */
/* The architecture models of ../shared/archs: llama.cpp's token ids for
 * each, and Lathe's greedy text checked against them. */
#pragma once

#include <glib.h>

#include "lk-model.h"

G_BEGIN_DECLS

typedef struct
{
  GArray *prompt, *gen; /* int32_t token ids */
} LatheArchRef;

/* archs/ARCH.ids, or FALSE (the test skipped) when the shared data is absent. */
gboolean lathe_test_arch_ref (const char *arch, LatheArchRef *ref);
void lathe_test_arch_ref_clear (LatheArchRef *ref);
/* The prompt "Once upon a time" as Lathe tokenizes it must be llama.cpp's
 * ids, and greedy decoding (context 256, a kv_type cache) must give its
 * tokens one by one; the first difference fails with the text so far. */
void lathe_test_arch_greedy (const char *what, lk_model *m, const LatheArchRef *ref,
                             lk_type kv_type);

G_END_DECLS
