/* SPDX-License-Identifier: MIT */
#pragma once

#include <json-glib/json-glib.h>

#include "lk-gguf.h"

G_BEGIN_DECLS

/* Token types as GGUF (and SentencePiece) number them. */
enum
{
  LATHE_TOKEN_NORMAL = 1,
  LATHE_TOKEN_UNKNOWN = 2,
  LATHE_TOKEN_CONTROL = 3,
  LATHE_TOKEN_USER_DEFINED = 4,
  LATHE_TOKEN_UNUSED = 5,
  LATHE_TOKEN_BYTE = 6,
};

/* Writes tokenizer.ggml.* from the folder's tokenizer.model (SentencePiece)
 * or else its tokenizer.json (byte-level BPE), with the special tokens of
 * tokenizer_config.json and config.json. n_vocab > 0 pads the vocabulary
 * to the model's size, as llama.cpp's converter does. pre (or NULL)
 * overrides the pre-tokenizer found in tokenizer.json. *n_tokens is the
 * vocabulary's size as written. */
gboolean lathe_hf_write_tokenizer (const char *folder, JsonObject *config, gint n_vocab,
                                   const char *pre, lk_gguf_writer *w, gint *n_tokens,
                                   GError **error);

G_END_DECLS
