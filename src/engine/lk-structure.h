/* SPDX-License-Identifier: MIT */
/* Structured pruning that really shrinks a model: attention heads, FFN
 * channels and whole layers go, and the file gets the smaller shapes (with
 * per-layer head counts and FFN sizes as GGUF arrays where layers differ).
 *
 * Heads: in a layer with grouped-query attention, the same number of query
 * heads goes from every group, so that each key/value head keeps a whole
 * group; with one query head per key/value head (multi-head attention) a
 * head goes with its key and value. Rows of the matrices that produce what
 * goes (Q, K, V, gate, up) are copied byte for byte; the matrices that read
 * it (attention output, down projection) lose columns, which re-quantizes
 * them (exact for F32, F16 and BF16). */
#pragma once

#include <stdbool.h>

#include "lk-gguf.h"
#include "lk-imatrix.h"
#include "lk-model.h"

typedef struct
{
  bool drop;      /* the whole layer goes */
  int n_head;     /* query heads kept; heads[] lists them ascending */
  int n_head_kv;  /* key/value heads kept; kv_heads[] */
  int n_ff;       /* FFN channels kept; ff[] */
  int n_expert;   /* experts kept (mixture of experts); experts[] */
  int *heads, *kv_heads, *ff, *experts;
  /* Experts: each source expert e keeps its own n_ff channels,
   * expert_ff[e * (its source n_ff) ...] ascending. */
  int *expert_ff;
} lk_layer_plan;

typedef struct
{
  lk_layer_plan *layers; /* one per layer of the source */
  int n_layer;
} lk_structure_plan;

/* A plan that keeps everything. */
lk_status lk_structure_plan_init (lk_structure_plan *p, const lk_model *m, lk_error *err);
void lk_structure_plan_clear (lk_structure_plan *p);

/* Importance of each query head of layer il (n_head values): the energy the
 * head sends through the attention output, sum over its columns c of
 * |W_o[:, c]|^2, times the mean square of input c when im has it. */
lk_status lk_structure_head_scores (const lk_model *m, int il, const lk_imatrix *im, double *out,
                                    lk_error *err);
/* Importance of each FFN channel of layer il (n_ff values): |W_down[:, c]|^2
 * times the channel's mean square input when im has it, else times
 * |W_gate[c, :]| |W_up[c, :]|. With experts: n_expert x n_ff values, each
 * expert's channels from its own matrices (and its slice of the imatrix). */
lk_status lk_structure_ffn_scores (const lk_model *m, int il, const lk_imatrix *im, double *out,
                                   lk_error *err);

/* Removes `count` query heads from layer il of the plan, lowest scores first
 * (per group, see above). count must leave at least one head per group and
 * be a multiple of the number of groups when groups hold several heads. */
lk_status lk_structure_remove_heads (lk_structure_plan *p, const lk_model *m, int il, int count,
                                     const double *scores, lk_error *err);
/* Removes `count` FFN channels (lowest scores) from layer il, leaving >= 1;
 * with experts, `count` from every expert, each by its own scores. */
lk_status lk_structure_remove_ffn (lk_structure_plan *p, const lk_model *m, int il, int count,
                                   const double *scores, lk_error *err);

/* Removes `count` experts (lowest scores, e.g. routing counts) from layer
 * il. GGUF has one expert count for all layers: remove as many from each. */
lk_status lk_structure_remove_experts (lk_structure_plan *p, const lk_model *m, int il, int count,
                                       const double *scores, lk_error *err);

/* Writes the pruned model. add_metadata may add keys (provenance). */
lk_status lk_structure_write (const lk_model *src, const lk_structure_plan *p, const char *path,
                              void (*add_metadata) (void *user, lk_gguf_writer *w), void *user,
                              lk_error *err);
