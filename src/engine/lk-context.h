/* SPDX-License-Identifier: MIT */
/* An inference context: a model plus a KV cache, a thread pool and the
 * buffers of the forward pass. Not thread-safe: one caller at a time. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lk-model.h"
#include "lk-status.h"

typedef struct
{
  int n_ctx;          /* positions in the KV cache; 0: the model's training context */
  int n_batch;        /* tokens per forward step; 0: 256 */
  int n_threads;      /* 0: one per CPU */
  lk_type kv_type;    /* LK_TYPE_F16 (default), LK_TYPE_F32, or LK_TYPE_Q8_0 (head size a
                       * multiple of 32) */
  const char *kernel; /* NULL: the best version this CPU runs */
} lk_ctx_params;

typedef struct lk_ctx lk_ctx;

void lk_ctx_params_init (lk_ctx_params *p);
/* "f16", "f32" or "q8_0" (any case) to the KV cache type; false otherwise. */
bool lk_kv_type_from_name (const char *name, lk_type *type);
lk_status lk_ctx_new (const lk_model *model, const lk_ctx_params *params, lk_ctx **out,
                      lk_error *err);
void lk_ctx_free (lk_ctx *ctx);

const lk_model *lk_ctx_model (const lk_ctx *ctx);
int lk_ctx_n_ctx (const lk_ctx *ctx);
int lk_ctx_n_past (const lk_ctx *ctx);
int lk_ctx_n_threads (const lk_ctx *ctx);
const char *lk_ctx_kernel_name (const lk_ctx *ctx);
/* Forgets positions from n_past on (0 clears the cache). */
void lk_ctx_truncate (lk_ctx *ctx, int n_past);
/* Set while a decode runs to stop it at the next layer boundary
 * (returns LK_ERR_CANCELLED). May be set from any thread. */
void lk_ctx_set_cancel (lk_ctx *ctx, atomic_int *flag);

/* Observers of the forward pass, for calibration: mm sees the input rows
 * (nt rows of x_stride floats, the first w->ne[0] used) of every matrix
 * product before it runs, with expert -1, or for a stack of experts' matrices
 * the rows routed to expert `expert`; layer sees the hidden state (nt rows of n_embd)
 * after each layer il, and with il = -1 the embeddings. NULL: none. */
typedef void (*lk_matmul_observer) (void *user, const lk_tensor *w, int expert, const float *x,
                                    int64_t x_stride, int nt);
typedef void (*lk_layer_observer) (void *user, int il, const float *x, int nt, int n_embd);
void lk_ctx_set_observers (lk_ctx *ctx, lk_matmul_observer mm, lk_layer_observer layer, void *user);

/* The output head (final norm, then the output matrix) applied to nt
 * hidden-state rows x: n_vocab logits per row into out. May be called from
 * a layer observer, between layers. */
lk_status lk_ctx_project (lk_ctx *ctx, const float *x, int nt, float *out, lk_error *err);

/* Conditional computation: layers skipped at every step, and early exit of
 * single-token steps once the output head, applied after a layer, gives the
 * top token at least exit_threshold probability. Layers after an exit get
 * their keys and values from the exit state (state propagation); prompt
 * steps (several tokens) run every layer that is not skipped. */
typedef struct
{
  const bool *skip;     /* n_layer flags, or NULL */
  float exit_threshold; /* 1 (default) or more: never exit */
  int exit_min_layer;   /* first layer after which exit is tried */
  bool exit_on_margin;  /* compare the top probability's lead over the second, not the top */
  int moe_top_k;        /* experts per token in mixture-of-experts layers (0: the model's) */
} lk_cond_params;

typedef struct
{
  uint64_t tokens;      /* tokens decoded since set or reset */
  uint64_t layers_run;  /* layers executed, summed over those tokens */
  uint64_t steps;       /* of those, single-token steps (generation) */
  uint64_t step_layers; /* layers executed in them */
  uint64_t exits;       /* steps that exited early */
  uint64_t *exit_hist;  /* [n_layer + 1]: steps that ended after layer i (n_layer: ran to the end) */
  int n_layer;
} lk_cond_stats;

void lk_cond_params_init (lk_cond_params *p);
/* "3,5-7" to flags for n_layer layers. */
lk_status lk_cond_parse_layers (const char *list, int n_layer, bool *out, lk_error *err);
/* Mixture of experts: experts a token of layer L uses (the override, at
 * most the layer's count), and the routing counts of layer il since the
 * statistics were last reset (n_expert values; NULL for dense models). */
int lk_ctx_experts_used (const lk_ctx *ctx, const lk_layer *L);
const uint64_t *lk_ctx_routes (const lk_ctx *ctx, int il);

/* True when single-token steps may exit early (a threshold below 1). */
bool lk_ctx_exit_enabled (const lk_ctx *ctx);
/* Layers executed per generated token (single-token steps; per token of
 * any step when there were none). */
double lk_cond_layers_mean (const lk_cond_stats *s);
lk_status lk_ctx_set_conditional (lk_ctx *ctx, const lk_cond_params *p, lk_error *err);
const lk_cond_stats *lk_ctx_cond_stats (const lk_ctx *ctx);
void lk_ctx_reset_cond_stats (lk_ctx *ctx);

/* Runs n tokens at positions n_past .. n_past + n - 1 and appends them to the
 * cache. Logits are kept for every token when all_logits, else for the last. */
lk_status lk_ctx_decode (lk_ctx *ctx, const int32_t *tokens, int n, bool all_logits,
                         lk_error *err);
/* Logits (n_vocab floats) of token i of the last decode; -1 means the last. */
const float *lk_ctx_logits (const lk_ctx *ctx, int i);
