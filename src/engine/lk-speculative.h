/* SPDX-License-Identifier: MIT */
/* Speculative decoding, greedy: a cheap draft proposes k tokens one at a
 * time, the target model checks all of them in one batched step and keeps
 * the longest prefix it agrees with, plus its own next token. The output is
 * the target's greedy output. The draft is the same model with layers
 * skipped or early exit (self-speculative: another context over the same
 * weights, lk_ctx_set_conditional), or a smaller model with the same
 * vocabulary. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lk-context.h"

typedef struct
{
  uint64_t rounds;        /* target verification steps */
  uint64_t drafted;       /* tokens proposed */
  uint64_t accepted;      /* of those, kept */
  uint64_t *reached;      /* [k]: rounds that drafted position i */
  uint64_t *accepted_at;  /* [k]: rounds whose draft at position i was kept */
  int k;
  double ms;              /* generation time (after the prompt) */
  int n_generated;
  bool stopped;           /* the token function ended the run */
} lk_spec_stats;

/* Called with each generated token as soon as the target has it; return
 * false to end the run. */
typedef bool (*lk_spec_token_fn) (void *user, int32_t token);

/* As lk_speculative_generate, handing tokens to fn as they come. The
 * contexts' cancel flags (lk_ctx_set_cancel) stop it with LK_ERR_CANCELLED. */
lk_status lk_speculative_run (lk_ctx *target, lk_ctx *draft, const int32_t *prompt, int n_prompt, int n_gen,
                              int k, lk_spec_token_fn fn, void *user, lk_spec_stats *st, lk_error *err);

/* Generates n_gen tokens after the prompt (both contexts are cleared first)
 * into out; stops early at an end-of-generation token of the target's
 * vocabulary (included). Returns the count in *n_out. */
lk_status lk_speculative_generate (lk_ctx *target, lk_ctx *draft, const int32_t *prompt, int n_prompt,
                                   int n_gen, int k, int32_t *out, int *n_out, lk_spec_stats *st,
                                   lk_error *err);
void lk_spec_stats_clear (lk_spec_stats *st);
