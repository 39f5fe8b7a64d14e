/* SPDX-License-Identifier: MIT */
/* Text generation: tokenize the prompt, run it, then sample token after
 * token, streaming each piece of text to a callback. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lk-context.h"
#include "lk-sampler.h"

typedef enum
{
  LK_STOP_LENGTH,    /* n_predict tokens were generated */
  LK_STOP_EOG,       /* an end-of-generation token */
  LK_STOP_CONTEXT,   /* the context is full */
  LK_STOP_CALLBACK,  /* the callback asked to stop */
  LK_STOP_CANCELLED, /* the cancel flag was set */
} lk_stop_reason;

/* Called for every generated token with the bytes it adds to the text (may
 * be an incomplete UTF-8 sequence). Return false to stop. */
typedef bool (*lk_token_fn) (void *user, int32_t token, const char *piece, size_t len);

typedef struct
{
  lk_sampler_params sampling;
  int n_predict;       /* tokens to generate; <= 0: until the context is full */
  bool add_bos;        /* as the vocabulary says (default true) */
  bool parse_special;  /* control tokens written in the prompt become tokens */
  lk_token_fn on_token;
  void *user;
  atomic_int *cancel;  /* optional; checked between tokens and layers */
  /* Greedy speculative decoding (temperature 0 only): a draft context
   * (the same weights with layers skipped, or a smaller model of the same
   * vocabulary) proposes spec_k tokens per step. NULL: plain decoding. */
  lk_ctx *draft;
  int spec_k;
} lk_generate_params;

typedef struct
{
  int n_prompt;
  int n_generated;
  double prompt_ms;  /* prompt processing */
  double gen_ms;     /* generation after the first token */
  double ttft_ms;    /* start to the first generated token */
  lk_stop_reason stop;
  uint64_t spec_drafted, spec_accepted; /* speculative decoding: tokens proposed, kept */
} lk_generate_stats;

void lk_generate_params_init (lk_generate_params *p);
/* Generates from the prompt on a fresh cache (the context is cleared first). */
lk_status lk_generate (lk_ctx *ctx, const char *prompt, const lk_generate_params *p,
                       lk_generate_stats *stats, lk_error *err);
const char *lk_stop_reason_name (lk_stop_reason r);
double lk_now_ms (void);
