/* SPDX-License-Identifier: MIT */
#pragma once

#include "lk-model.h"

struct lk_model
{
  lk_hparams hp;
  lk_model_format format;
  char *path;
  uint64_t file_size;
  double load_ms;
  double repack_ms;

  lk_gguf *gguf;     /* GGUF models */
  lk_file_buf file;  /* llama2.c models */
  lk_file_buf buffer; /* bytes given by lk_model_open_buffer() */

  lk_tensor *tensors;
  size_t n_tensors;
  char **names;      /* tensor names the model owns (llama2.c) */
  void **owned;      /* buffers the model allocated */
  size_t n_owned;

  /* Per-layer shapes as read, before the tensors are bound. */
  int *n_head, *n_head_kv, *n_ff;

  lk_layer *layers;
  const lk_tensor *tok_embd, *output_norm, *output_norm_b, *output;
  bool tied;
  float *rope_freqs;
  float *rope_long, *rope_short; /* phi3 */
  lk_vocab *vocab;
};

/* What an architecture's blocks hold and do, beyond llama's. */
typedef struct
{
  const char *name; /* general.architecture */
  lk_arch arch;
  bool neox;        /* RoPE pairs (i, i + n_rot/2) */
  lk_norm_kind norm;
  lk_act_kind act;
  bool qkv_bias;    /* attn_q/k/v.bias required (else read when present) */
  bool qk_norm;     /* attn_q_norm / attn_k_norm required */
  bool pre_norms;   /* attn_norm and ffn_norm (olmo2 has none) */
  bool post_norms;  /* post_attention_norm and post_ffw_norm */
  bool embd_sqrt;   /* embeddings scaled by sqrt(n_embd) */
  int swa_pattern;  /* n: layer il slides when il % n < n - 1 (0: never) */
  int no_rope_step; /* n: no RoPE where (il + 1) % n == 0 (0: RoPE everywhere) */
} lk_arch_info;

/* The architectures Lathe runs; NULL for a name it does not know. */
const lk_arch_info *lk_arch_find (const char *name);
const lk_arch_info *lk_arch_info_of (lk_arch arch);
/* "llama, mistral, …": for messages. */
const char *lk_arch_supported_list (void);

lk_model *lk_model_alloc (const char *path);
/* Keeps a buffer alive as long as the model; returns it, or NULL (freeing it)
 * when bookkeeping fails. */
void *lk_model_own (lk_model *m, void *buf);
/* Looks up every tensor the architecture needs, checks shapes and types, and
 * converts small vectors to F32. hp and the per-layer arrays must be set. */
lk_status lk_model_bind (lk_model *m, lk_error *err);

lk_status lk_model_load_gguf (lk_model *m, const lk_model_params *params, lk_error *err);
lk_status lk_model_load_llama2c (lk_model *m, const lk_model_params *params, lk_error *err);
bool lk_llama2c_sniff (const uint8_t *data, size_t size);
