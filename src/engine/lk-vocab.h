/* SPDX-License-Identifier: MIT */
/* Vocabularies and tokenizers: SentencePiece-style (merges by score, byte
 * fallback) and byte-level BPE (merges by rank, after a pre-tokenizer that
 * splits text with the regular expressions the model family names). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lk-gguf.h"
#include "lk-status.h"

typedef enum
{
  LK_VOCAB_NONE = 0, /* no tokenizer (a llama2.c checkpoint alone) */
  LK_VOCAB_SPM = 1, /* tokenizer.ggml.model = "llama" */
  LK_VOCAB_BPE = 2, /* tokenizer.ggml.model = "gpt2" */
} lk_vocab_type;

/* Token types as GGUF stores them in tokenizer.ggml.token_type. */
typedef enum
{
  LK_TOKEN_UNDEFINED = 0,
  LK_TOKEN_NORMAL = 1,
  LK_TOKEN_UNKNOWN = 2,
  LK_TOKEN_CONTROL = 3,
  LK_TOKEN_USER_DEFINED = 4,
  LK_TOKEN_UNUSED = 5,
  LK_TOKEN_BYTE = 6,
} lk_token_type;

typedef struct lk_vocab lk_vocab;

typedef struct
{
  int32_t *ids;
  size_t n;
  size_t cap;
} lk_tokens;

void lk_tokens_clear (lk_tokens *t);
bool lk_tokens_push (lk_tokens *t, int32_t id);

/* Reads tokenizer.ggml.* from a GGUF file. */
lk_status lk_vocab_from_gguf (const lk_gguf *g, lk_vocab **out, lk_error *err);

/* Reads only the tokenizer of a GGUF file (vocabulary-only files work). */
lk_status lk_vocab_open (const char *path, lk_vocab **out, lk_error *err);

/* Builds a SentencePiece vocabulary from token texts as GGUF stores them
 * ("\xe2\x96\x81" for spaces), scores and types. special ids may be -1. */
lk_status lk_vocab_new_spm (int32_t n, const char *const *texts, const size_t *lens,
                            const float *scores, const uint8_t *types, int32_t bos, int32_t eos,
                            int32_t unk, lk_vocab **out, lk_error *err);
void lk_vocab_free (lk_vocab *v);
/* The pre-tokenizer (tokenizer.ggml.pre) whose regular expressions are
 * regex[0..n) (as tokenizer.json lists them) and whose BPE ignores merges
 * for whole words when ignore_merges: its name is written to name, and its
 * length returned; 0 when Lathe knows none such. */
size_t lk_pretok_match (const char *const *regex, int n, bool ignore_merges, char *name,
                        size_t cap);

lk_vocab_type lk_vocab_get_type (const lk_vocab *v);
const char *lk_vocab_model_name (const lk_vocab *v); /* "llama" or "gpt2" */
const char *lk_vocab_pre_name (const lk_vocab *v);   /* the pre-tokenizer, "default" if none */
int32_t lk_vocab_n_tokens (const lk_vocab *v);
int32_t lk_vocab_bos (const lk_vocab *v);
int32_t lk_vocab_eos (const lk_vocab *v);
bool lk_vocab_add_bos (const lk_vocab *v);
bool lk_vocab_is_eog (const lk_vocab *v, int32_t id);
lk_token_type lk_vocab_token_type (const lk_vocab *v, int32_t id);
/* The stored text of a token (not NUL-terminated); NULL for a bad id. */
const char *lk_vocab_token_text (const lk_vocab *v, int32_t id, size_t *len);
float lk_vocab_token_score (const lk_vocab *v, int32_t id);
int32_t lk_vocab_find (const lk_vocab *v, const char *text, size_t len);

/* Tokenizes len bytes of text (any bytes; invalid UTF-8 is read as U+FFFD
 * where a pre-tokenizer needs characters). add_special adds BOS/EOS as the
 * vocabulary asks; parse_special lets control tokens written in the text
 * (e.g. "<s>") become those tokens. Appends to out. */
lk_status lk_vocab_tokenize (const lk_vocab *v, const char *text, size_t len, bool add_special,
                             bool parse_special, lk_tokens *out, lk_error *err);

/* The bytes a token stands for. Control and unknown tokens give nothing
 * unless special is true. Returns the full length; writes at most cap bytes. */
size_t lk_vocab_piece (const lk_vocab *v, int32_t id, bool special, char *buf, size_t cap);

/* Writes the tokenizer.ggml.* keys describing this vocabulary. */
void lk_vocab_write_gguf (const lk_vocab *v, lk_gguf_writer *w);
/* The same with exactly n tokens: the first n, or all padded with unused
 * "<pad_i>" tokens (synthetic models of a given vocabulary size). */
void lk_vocab_write_gguf_n (const lk_vocab *v, lk_gguf_writer *w, int32_t n);
