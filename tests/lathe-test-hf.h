/* SPDX-License-Identifier: MIT */
/* Hugging Face checkpoints written by the tests from ../shared/archs models:
 * the layout each model's Hugging Face class saves (names, q and k rotated
 * by halves, Gemma's w - 1 norms, experts one by one, fused projections,
 * config.json and a SentencePiece tokenizer.model), made by undoing what
 * llama.cpp's converter documents it does. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "lk-vocab.h"

G_BEGIN_DECLS

enum
{
  T_PERMUTE = 1 << 0,  /* q and k rows rotated by halves in HF */
  T_PLUS_ONE = 1 << 1, /* norms stored as w - 1 */
  T_POST = 1 << 2,     /* gemma2/3, olmo2: post_attention_layernorm is the attention's post-norm */
  T_PRE_FFN = 1 << 3,  /* gemma2/3: the FFN's norm is pre_feedforward_layernorm */
  T_INTERNLM2 = 1 << 4,
  T_EXAONE = 1 << 5,
  T_FUSED_QKV = 1 << 6, /* ERNIE's qkv_proj */
  T_MIXTRAL = 1 << 7,
  T_SHARDS = 1 << 8,    /* two files and an index */
  T_LLAMA3 = 1 << 9,
  T_MULTIMODAL = 1 << 11, /* language_model. names, text_config, a vision tensor */
  T_PHI3 = 1 << 10,     /* gate_up_proj and longrope factors (of 1: the model stays) */
};

typedef struct
{
  const char *arch, *hf_class;
  guint flags;
  const char *from; /* the ../shared/archs model it is made of (NULL: arch's own) */
} LatheHfCase;

/* One case per ../shared/archs model. */
const LatheHfCase *lathe_test_hf_cases (guint *n);
/* The checkpoint of the model at gguf_path, in a folder dir_name of the
 * test's temporary folder; returns the folder. */
char *lathe_test_hf_checkpoint (const LatheHfCase *c, const char *gguf_path, const char *dir_name);
/* tokenizer.model (SentencePiece's protobuf) for v in dir. */
void lathe_test_hf_tokenizer_model (const char *dir, const lk_vocab *v);
void lathe_test_json_set_int (JsonBuilder *b, const char *key, gint64 v);

G_END_DECLS
