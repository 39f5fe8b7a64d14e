/* SPDX-License-Identifier: MIT */
/* Token sampling: greedy, or repetition penalty, top-k, top-p, min-p and
 * temperature in that order, then a draw from a seeded generator, so the
 * same seed gives the same text. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

typedef struct
{
  float temperature;    /* <= 0: greedy */
  int top_k;            /* <= 0: off */
  float top_p;          /* >= 1: off */
  float min_p;          /* <= 0: off */
  float repeat_penalty; /* 1: off */
  int repeat_last_n;    /* tokens the penalty looks back over */
  uint64_t seed;
} lk_sampler_params;

typedef struct lk_sampler lk_sampler;

void lk_sampler_params_init (lk_sampler_params *p);
lk_sampler *lk_sampler_new (const lk_sampler_params *p, int n_vocab);
void lk_sampler_free (lk_sampler *s);
void lk_sampler_reset (lk_sampler *s);
/* Records a token (prompt or generated) for the repetition penalty. */
void lk_sampler_accept (lk_sampler *s, int32_t token);
/* Picks the next token from the logits (which are not modified). */
int32_t lk_sampler_sample (lk_sampler *s, const float *logits);
/* The index of the largest logit (first on ties). */
int32_t lk_argmax (const float *logits, int n);
