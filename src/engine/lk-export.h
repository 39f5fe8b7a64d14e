/* SPDX-License-Identifier: MIT */
/* Writing models as GGUF files: a loaded model as it is (convert), or a
 * random-weight model of any shape (synth). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lk-gguf.h"
#include "lk-model.h"
#include "lk-status.h"

/* Writes the hyper-parameters of hp (with per-layer values where layers
 * differ) under the architecture's key prefix. */
void lk_write_hparams (lk_gguf_writer *w, const lk_hparams *hp, const int *n_head,
                       const int *n_head_kv, const int *n_ff);

/* Writes the model as GGUF: its metadata, its tokenizer and its tensors as
 * they are. For a llama2.c checkpoint this is the conversion to GGUF. */
lk_status lk_model_save_gguf (const lk_model *m, const char *path, lk_error *err);

typedef struct
{
  lk_arch arch;
  int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
  bool tied;
  lk_type type;                /* of the matrices; norms stay F32 */
  const char *vocab_path;      /* GGUF with tokenizer.ggml.* (vocab-only files work) */
  int n_vocab;                 /* 0: the vocabulary's size; else truncated or padded to it */
  uint64_t seed;
  const char *name;
  int n_expert, n_expert_used; /* > 0: a mixture of experts (llama arch, Mixtral layout) */
  int n_ff_shared;             /* qwen2moe: the shared expert's FFN size (0: none) */
} lk_synth_params;

void lk_synth_params_init (lk_synth_params *p);
lk_status lk_synth (const lk_synth_params *p, const char *path, lk_error *err);
