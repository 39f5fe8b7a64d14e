/* SPDX-License-Identifier: MIT */
/* Quality of a model on evaluation text: perplexity, and how far its
 * next-token distributions are from a reference model's (KL divergence,
 * top-1 agreement, RMS of the change in the probability of the true token).
 *
 * The text is cut into chunks of n_ctx tokens; each chunk starts from an
 * empty cache with BOS in its first position, and the predictions of its
 * second half (positions n_ctx/2 .. n_ctx-2, each predicting the next
 * token) are scored, so every scored token sees at least n_ctx/2 tokens of
 * context. This is the scheme llama.cpp's perplexity tool uses. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lk-context.h"
#include "lk-vocab.h"

/* Evaluation text holds documents separated by lines "<|endoftext|>": each
 * document is tokenized on its own, with BOS first where the vocabulary
 * adds one. */
lk_status lk_eval_tokenize (const lk_vocab *v, const char *text, size_t len, lk_tokens *out,
                            lk_error *err);

/* Log-probabilities of a reference model at the scored positions, kept in
 * memory or read from a file written by lk_eval_save_reference. */
typedef struct lk_eval_ref lk_eval_ref;

typedef struct
{
  int n_ctx;      /* tokens per chunk; 0: 256 (at most the model's context) */
  int max_chunks; /* 0: every whole chunk of the text */
  /* Cancelling: lk_ctx_set_cancel on the contexts. */
  void (*progress) (void *user, int chunk, int n_chunks);
  void *user;
} lk_eval_params;

typedef struct
{
  uint64_t tokens; /* scored predictions */
  int n_ctx, n_chunks;
  double nll_mean, perplexity;
  bool has_ref;
  double ref_perplexity;
  double kl_mean, kl_median, kl_p99, kl_max;
  double top1_agreement; /* 0..1 */
  double rms_dp;         /* RMS of p(true token) - p_ref(true token) */
  double layers_mean;    /* layers run per token (conditional computation); set by callers */
  int n_layer;
} lk_eval_result;

void lk_eval_params_init (lk_eval_params *p);

/* The chunk size a context gets for these parameters and tokens, or an
 * error when the text is shorter than one chunk. */
lk_status lk_eval_plan (const lk_ctx *ctx, const lk_eval_params *p, size_t n_tokens, int *n_ctx,
                        int *n_chunks, lk_error *err);

/* A reference that runs ref_ctx on each chunk when it is scored: no memory
 * for log-probabilities, twice the decoding. ref_ctx must outlive it. */
lk_status lk_eval_ref_live (lk_ctx *ref_ctx, const lk_tokens *toks, const lk_eval_params *p,
                            lk_eval_ref **out, lk_error *err);
/* Runs the reference model over the text and keeps its log-probabilities. */
lk_status lk_eval_ref_compute (lk_ctx *ref_ctx, const lk_tokens *toks, const lk_eval_params *p,
                               lk_eval_ref **out, lk_error *err);
/* Reads a saved reference; it must have been made from the same tokens. */
lk_status lk_eval_ref_load (const char *path, const lk_tokens *toks, int n_vocab, lk_eval_ref **out,
                            lk_error *err);
lk_status lk_eval_ref_save (const lk_eval_ref *ref, const char *path, lk_error *err);
int lk_eval_ref_n_ctx (const lk_eval_ref *ref);
int lk_eval_ref_n_chunks (const lk_eval_ref *ref);
void lk_eval_ref_free (lk_eval_ref *ref);

/* Scores the model on the tokens, against ref when it is not NULL (its
 * chunking then wins over p->n_ctx and p->max_chunks). */
lk_status lk_eval_run (lk_ctx *ctx, const lk_tokens *toks, const lk_eval_params *p,
                       const lk_eval_ref *ref, lk_eval_result *out, lk_error *err);

/* Log-softmax of n logits into out. */
void lk_log_softmax (const float *logits, int n, float *out);
