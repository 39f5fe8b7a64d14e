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
  const lk_tensor *tok_embd, *output_norm, *output;
  bool tied;
  float *rope_freqs;
  lk_vocab *vocab;
};

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
