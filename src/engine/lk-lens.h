/* SPDX-License-Identifier: MIT */
/* The logit lens: what the model would predict if it stopped after each
 * layer (the output head applied to that layer's hidden state), compared
 * with what it predicts after the last: mean KL divergence and top-1
 * agreement per layer, over the scored positions of evaluation text (the
 * chunks and positions lk_eval scores). The chart that tells whether early
 * exit can work for a model. */
#pragma once

#include "lk-context.h"
#include "lk-vocab.h"

typedef struct
{
  int n_layer;
  double *kl_mean;        /* [n_layer]: KL(final || after layer i) */
  double *top1_agreement; /* [n_layer] */
  uint64_t tokens;
  int n_ctx, n_chunks;
} lk_lens_result;

lk_status lk_logit_lens (lk_ctx *ctx, const lk_tokens *toks, int n_ctx, int max_chunks,
                         void (*progress) (void *user, int chunk, int n_chunks), void *user,
                         lk_lens_result *out, lk_error *err);
void lk_lens_result_clear (lk_lens_result *r);
