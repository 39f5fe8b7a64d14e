/* SPDX-License-Identifier: MIT */
/* A model: hyper-parameters, tensor views over the loaded file, tokenizer. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lk-file.h"
#include "lk-gguf.h"
#include "lk-status.h"
#include "lk-types.h"
#include "lk-vocab.h"

typedef enum
{
  LK_ARCH_LLAMA,
  LK_ARCH_QWEN2,
  LK_ARCH_QWEN2MOE, /* qwen2 with experts and a shared expert */
  LK_ARCH_QWEN3,    /* per-head q/k RMSNorm */
  LK_ARCH_QWEN3MOE,
  LK_ARCH_GEMMA,    /* embedding scaled by sqrt(n_embd), GELU, tied head */
  LK_ARCH_GEMMA2,   /* + post-norms, soft-capping, sliding window on even layers */
  LK_ARCH_GEMMA3,   /* + per-head q/k norms, sliding window 5 of 6, local RoPE base */
  LK_ARCH_GRANITE,  /* embedding, residual, attention and logit multipliers */
  LK_ARCH_OLMO2,    /* post-norms only, full-width q/k norms */
  LK_ARCH_SMOLLM3,  /* no RoPE on every 4th layer */
  LK_ARCH_STABLELM, /* LayerNorm with bias, partial rotary */
  LK_ARCH_INTERNLM2,
  LK_ARCH_EXAONE,
  LK_ARCH_ERNIE4_5,
  LK_ARCH_PHI3,     /* fused attn_qkv and gate|up, RoPE factors long/short */
} lk_arch;

typedef enum
{
  LK_NORM_RMS,
  LK_NORM_LAYER, /* mean and variance, weight and bias */
} lk_norm_kind;

typedef enum
{
  LK_ACT_SILU, /* silu(gate) * up */
  LK_ACT_GELU, /* gelu(gate) * up, tanh approximation */
} lk_act_kind;

typedef enum
{
  LK_FORMAT_GGUF,
  LK_FORMAT_LLAMA2C,
} lk_model_format;

typedef struct
{
  const char *name;
  lk_type type;
  int n_dims;
  int64_t ne[4]; /* ne[0] is the row length */
  const void *data;
  size_t nbytes;
} lk_tensor;

typedef struct
{
  int n_head, n_head_kv, n_ff;
  const lk_tensor *attn_norm, *wq, *wk, *wv, *wo;
  /* phi3: q, k and v in one matrix [n_embd, q + 2 kv] (wq, wk, wv NULL). */
  const lk_tensor *wqkv;
  const lk_tensor *bq, *bk, *bv; /* biases, NULL when absent */
  const lk_tensor *attn_norm_b, *ffn_norm_b; /* LayerNorm biases, or NULL */
  /* Norms of q and k before RoPE, or NULL: per head (head_dim values) or
   * over all heads at once (olmo2). */
  const lk_tensor *attn_q_norm, *attn_k_norm;
  /* Norms of the attention's and the FFN's outputs before they join the
   * residual stream (gemma2/3, olmo2), or NULL. */
  const lk_tensor *post_attn_norm, *post_ffn_norm;
  bool swa;      /* attends to the last n_swa positions only */
  bool use_rope; /* false: no positions in this layer (smollm3) */
  const lk_tensor *ffn_norm, *ffn_gate, *ffn_up, *ffn_down; /* dense FFN; NULL with experts */
  bool ffn_fused; /* ffn_up holds gate then up [n_embd, 2 n_ff]; ffn_gate NULL (phi3) */
  /* Mixture of experts (n_expert > 0): the router [n_embd, n_expert] and the
   * experts' matrices stacked [n_embd, n_ff, n_expert] ([n_ff, n_embd, n_expert]
   * for down), as llama.cpp stores Mixtral. */
  int n_expert, n_expert_used;
  bool moe_renorm; /* weights: softmax over the chosen (Mixtral), else over all (Qwen2-MoE) */
  const lk_tensor *ffn_gate_inp, *ffn_gate_exps, *ffn_up_exps, *ffn_down_exps;
  /* Qwen2-MoE's shared expert, its output scaled by sigmoid(gate_inp_shexp . x). */
  int n_ff_shexp;
  const lk_tensor *ffn_gate_inp_shexp, *ffn_gate_shexp, *ffn_up_shexp, *ffn_down_shexp;
} lk_layer;

typedef struct
{
  char arch_name[32];
  lk_arch arch;
  int n_vocab;
  int n_embd;
  int n_layer;
  int n_ctx_train;
  int head_dim;
  int n_rot;           /* rotated dimensions per head */
  bool rope_neox;      /* pairs (i, i + n_rot/2) instead of (2i, 2i+1) */
  float rope_base;
  float rope_freq_scale; /* positions are multiplied by this (linear scaling) */
  float norm_eps;
  int n_expert, n_expert_used; /* 0: dense */
  int n_ff_shexp;              /* shared expert (qwen2moe), 0: none */
  lk_norm_kind norm;
  lk_act_kind act;
  /* What the architecture multiplies: the embeddings, each block's output
   * before it joins the residual stream, and the logits (1: nothing). */
  float embd_scale, residual_scale, logit_scale;
  float attn_scale;            /* on q.k; 1/sqrt(head_dim) unless the file says */
  float attn_softcap, final_softcap; /* c * tanh(x / c), 0: none */
  int n_swa;                   /* sliding window of the swa layers, 0: none */
  float rope_base_swa;         /* RoPE base of the swa layers */
  int n_ctx_orig;              /* the context RoPE was trained for (phi3's factors) */
  float rope_attn_factor;      /* cos and sin multiplied by it (phi3's long RoPE), 1: none */
} lk_hparams;

typedef struct lk_model lk_model;

typedef struct
{
  lk_load_mode load_mode;
  const char *tokenizer_path; /* llama2.c models: the tokenizer.bin */
  /* Or the tokenizer.bin bytes themselves (copied); wins over the path. */
  const uint8_t *tokenizer_data;
  size_t tokenizer_size;
  /* Keep the GGUF block layouts in memory instead of repacking the 32-element
   * block types for SIMD (repacking happens only for weights Lathe owns, not
   * for mapped files). */
  bool no_repack;
  /* The kernel version the weights are laid out for (its name, as for
   * contexts); NULL: the default one. Any version runs any layout. */
  const char *kernel;
} lk_model_params;

void lk_model_params_init (lk_model_params *p);

/* Opens a GGUF file or a llama2.c checkpoint (detected from its first bytes)
 * and checks every tensor the architecture needs against the
 * hyper-parameters. */
lk_status lk_model_open (const char *path, const lk_model_params *params, lk_model **out,
                         lk_error *err);
/* The same from bytes in memory (copied); name stands for the path in
 * messages. For fuzzing and for files that arrive by other means. */
lk_status lk_model_open_buffer (const uint8_t *data, size_t size, const char *name,
                                const lk_model_params *params, lk_model **out, lk_error *err);
void lk_model_free (lk_model *m);

const lk_hparams *lk_model_hparams (const lk_model *m);
const lk_layer *lk_model_layer (const lk_model *m, int il);
const lk_tensor *lk_model_tok_embd (const lk_model *m);
const lk_tensor *lk_model_output_norm (const lk_model *m);
const lk_tensor *lk_model_output_norm_bias (const lk_model *m); /* LayerNorm models, else NULL */
const lk_tensor *lk_model_output (const lk_model *m); /* the embedding when tied */
bool lk_model_output_tied (const lk_model *m);
const float *lk_model_rope_freq_factors (const lk_model *m); /* n_rot/2 values or NULL */
/* The factors for a context of n_ctx positions: phi3's long ones beyond the
 * context RoPE was trained for, its short ones within it, else as above. */
const float *lk_model_rope_factors_for (const lk_model *m, int n_ctx);
const lk_vocab *lk_model_vocab (const lk_model *m);
const char *lk_model_path (const lk_model *m);
lk_model_format lk_model_format_of (const lk_model *m);
/* The GGUF file behind the model, NULL for llama2.c checkpoints. */
const lk_gguf *lk_model_gguf (const lk_model *m);
uint64_t lk_model_file_size (const lk_model *m);
double lk_model_load_ms (const lk_model *m);
/* Time spent repacking weights at load (part of the load time). */
double lk_model_repack_ms (const lk_model *m);

size_t lk_model_n_tensors (const lk_model *m);
const lk_tensor *lk_model_tensor_at (const lk_model *m, size_t i);
const lk_tensor *lk_model_find_tensor (const lk_model *m, const char *name);
int64_t lk_tensor_nelements (const lk_tensor *t);
/* Row r of a tensor (rows are ne[0] long) in a layout where rows stand
 * alone: its bytes in place, or for row-interleaved layouts a copy made in
 * tmp (lk_row_size bytes). *type receives that layout's type. */
const void *lk_tensor_row (const lk_tensor *t, int64_t r, void *tmp, lk_type *type);
/* Row r written to dst in the GGUF layout of lk_type_unpacked (t->type). */
void lk_tensor_row_gguf (const lk_tensor *t, int64_t r, void *dst);

uint64_t lk_model_n_params (const lk_model *m);
/* Bytes of all tensor data, and bits per weight over all tensors. */
uint64_t lk_model_tensor_bytes (const lk_model *m);
double lk_model_bpw (const lk_model *m);
const char *lk_arch_name (lk_arch arch);
/* The architecture a GGUF file names (general.architecture); false for one
 * Lathe does not run. */
bool lk_arch_from_name (const char *name, lk_arch *out);
/* Kinds an architecture gives a layer by its position alone (the file does
 * not record them): a sliding window (gemma2/3), RoPE (not smollm3's every
 * 4th layer). */
bool lk_layer_slides_at (lk_arch arch, int il);
bool lk_layer_ropes_at (lk_arch arch, int il);
/* Which drops keep those kinds, for messages ("" when any drop does). */
const char *lk_layer_pattern_hint (lk_arch arch);
