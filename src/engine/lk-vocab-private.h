/* SPDX-License-Identifier: MIT */
#pragma once

#include "lk-strmap.h"
#include "lk-vocab.h"

#define LK_MAX_PRETOK_REGEX 8

typedef struct lk_pretok lk_pretok;

struct lk_vocab
{
  lk_vocab_type type;
  char model[16];
  char pre[64];
  int32_t n;

  char *arena;      /* all token texts, back to back */
  size_t *offset;   /* of each token text in arena */
  uint32_t *len;
  float *scores;
  uint8_t *types;
  lk_strmap by_text;

  /* BPE */
  char *merge_arena;
  lk_strmap merges; /* "left right" -> rank */
  lk_pretok *pretok;
  bool ignore_merges;

  bool add_bos, add_eos, add_space_prefix;
  int32_t bos, eos, unk, eot, eom, pad;
  int32_t byte_token[256];

  int32_t *special; /* control, unknown and user-defined ids, longest text first */
  size_t n_special;
  int32_t *eog;
  size_t n_eog;
};

/* Pre-tokenizers (lk-pretok.c) */
lk_pretok *lk_pretok_new (const char *name, bool *ignore_merges, lk_error *err);
void lk_pretok_free (lk_pretok *p);
/* Splits text into words: appends [start, end) byte ranges to *ranges (pairs). */
lk_status lk_pretok_split (const lk_pretok *p, const char *text, size_t len, size_t **ranges,
                           size_t *n_ranges, size_t *cap, lk_error *err);
bool lk_pretok_known (const char *name);

/* Tokenizer cores (lk-tokenize.c) */
lk_status lk_spm_tokenize (const lk_vocab *v, const char *text, size_t len, lk_tokens *out,
                           lk_error *err);
lk_status lk_bpe_tokenize (const lk_vocab *v, const char *text, size_t len, lk_tokens *out,
                           lk_error *err);

/* UTF-8 helpers (lk-utf8.c) */
/* Length of the sequence starting with this byte, 1 for invalid leading bytes. */
size_t lk_utf8_len (uint8_t c);
/* Copies text replacing every invalid sequence by U+FFFD; malloc'd, NUL-terminated. */
char *lk_utf8_sanitize (const char *text, size_t len, size_t *out_len);
/* Encodes cp, returns the byte count (1..4). */
size_t lk_utf8_encode (uint32_t cp, char out[4]);
/* Decodes one valid sequence at s (len bytes available); returns bytes used, 0 if invalid. */
size_t lk_utf8_decode (const char *s, size_t len, uint32_t *cp);
