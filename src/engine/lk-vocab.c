/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-vocab-private.h"

#define SPACE_MARK "\xe2\x96\x81" /* U+2581, SentencePiece's visible space */

void
lk_tokens_clear (lk_tokens *t)
{
  free (t->ids);
  memset (t, 0, sizeof *t);
}

bool
lk_tokens_push (lk_tokens *t, int32_t id)
{
  if (t->n == t->cap)
    {
      const size_t cap = t->cap ? t->cap * 2 : 64;
      int32_t *ids = realloc (t->ids, cap * sizeof *ids);
      if (ids == NULL)
        return false;
      t->ids = ids;
      t->cap = cap;
    }
  t->ids[t->n++] = id;
  return true;
}

void
lk_vocab_free (lk_vocab *v)
{
  if (v == NULL)
    return;
  free (v->arena);
  free (v->offset);
  free (v->len);
  free (v->scores);
  free (v->types);
  lk_strmap_clear (&v->by_text);
  free (v->merge_arena);
  lk_strmap_clear (&v->merges);
  lk_pretok_free (v->pretok);
  free (v->special);
  free (v->eog);
  free (v);
}

static lk_vocab *
vocab_alloc (int32_t n)
{
  lk_vocab *v = calloc (1, sizeof *v);

  if (v == NULL)
    return NULL;
  v->n = n;
  v->offset = calloc ((size_t) n, sizeof *v->offset);
  v->len = calloc ((size_t) n, sizeof *v->len);
  v->scores = calloc ((size_t) n, sizeof *v->scores);
  v->types = calloc ((size_t) n, sizeof *v->types);
  v->bos = v->eos = v->unk = v->eot = v->eom = v->pad = -1;
  for (int i = 0; i < 256; i++)
    v->byte_token[i] = -1;
  if (v->offset == NULL || v->len == NULL || v->scores == NULL || v->types == NULL
      || !lk_strmap_init (&v->by_text, (size_t) n))
    {
      lk_vocab_free (v);
      return NULL;
    }
  return v;
}

static const char *
text_of (const lk_vocab *v, int32_t id)
{
  return v->arena + v->offset[id];
}

static int
compare_special (const void *a, const void *b, void *vv)
{
  const lk_vocab *v = vv;
  const int32_t x = *(const int32_t *) a, y = *(const int32_t *) b;

  if (v->len[x] != v->len[y])
    return v->len[x] > v->len[y] ? -1 : 1;
  return (x > y) - (x < y);
}

static bool
is_eog_text (const char *s, size_t n)
{
  static const char *const names[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
    "<|eom_id|>", ("<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"),
  };

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen (names[i]) == n && memcmp (names[i], s, n) == 0)
      return true;
  return false;
}

/* Indexes, byte tokens, special tokens and end-of-generation tokens, once
 * the texts, scores and types are in place. */
static lk_status
vocab_finish (lk_vocab *v, lk_error *err)
{
  size_t n_special = 0;

  for (int32_t i = 0; i < v->n; i++)
    {
      int32_t old;
      bool existed;
      if (!lk_strmap_put (&v->by_text, text_of (v, i), v->len[i], i, &old, &existed))
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      /* Later duplicates must not hide the first: restore the first id. */
      if (existed)
        lk_strmap_put (&v->by_text, text_of (v, i), v->len[i], old, NULL, NULL);
      if (v->types[i] == LK_TOKEN_BYTE && v->len[i] == 6 && memcmp (text_of (v, i), "<0x", 3) == 0)
        {
          unsigned byte;
          char hex[3] = { text_of (v, i)[3], text_of (v, i)[4], 0 };
          if (sscanf (hex, "%2x", &byte) == 1 && text_of (v, i)[5] == '>')
            v->byte_token[byte & 0xff] = i;
        }
      if (v->types[i] == LK_TOKEN_CONTROL || v->types[i] == LK_TOKEN_USER_DEFINED
          || v->types[i] == LK_TOKEN_UNKNOWN)
        n_special++;
    }
  v->special = malloc ((n_special ? n_special : 1) * sizeof *v->special);
  v->eog = malloc (((size_t) n_special + 3) * sizeof *v->eog);
  if (v->special == NULL || v->eog == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int32_t i = 0; i < v->n; i++)
    if (v->types[i] == LK_TOKEN_CONTROL || v->types[i] == LK_TOKEN_USER_DEFINED
        || v->types[i] == LK_TOKEN_UNKNOWN)
      {
        if (v->len[i] > 0)
          v->special[v->n_special++] = i;
        if (v->types[i] == LK_TOKEN_CONTROL && is_eog_text (text_of (v, i), v->len[i]))
          v->eog[v->n_eog++] = i;
      }
  qsort_r (v->special, v->n_special, sizeof *v->special, compare_special, v);
  if (v->eos >= 0)
    v->eog[v->n_eog++] = v->eos;
  if (v->eot >= 0)
    v->eog[v->n_eog++] = v->eot;
  if (v->eom >= 0)
    v->eog[v->n_eog++] = v->eom;
  return LK_OK;
}

/* Copies the token texts into one arena. */
static lk_status
store_texts (lk_vocab *v, const char *const *texts, const size_t *lens, lk_error *err)
{
  size_t total = 0, pos = 0;

  for (int32_t i = 0; i < v->n; i++)
    {
      if (lens[i] > UINT32_MAX)
        return lk_error_set (err, LK_ERR_FORMAT, "token %d is too long", i);
      total += lens[i] + 1;
    }
  v->arena = malloc (total ? total : 1);
  if (v->arena == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory for token texts");
  for (int32_t i = 0; i < v->n; i++)
    {
      v->offset[i] = pos;
      v->len[i] = (uint32_t) lens[i];
      memcpy (v->arena + pos, texts[i], lens[i]);
      v->arena[pos + lens[i]] = '\0';
      pos += lens[i] + 1;
    }
  return LK_OK;
}

lk_status
lk_vocab_new_spm (int32_t n, const char *const *texts, const size_t *lens, const float *scores,
                  const uint8_t *types, int32_t bos, int32_t eos, int32_t unk, lk_vocab **out,
                  lk_error *err)
{
  lk_vocab *v;
  lk_status status;

  *out = NULL;
  if (n <= 0)
    return lk_error_set (err, LK_ERR_INVALID, "a vocabulary needs at least one token");
  v = vocab_alloc (n);
  if (v == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  v->type = LK_VOCAB_SPM;
  strcpy (v->model, "llama");
  strcpy (v->pre, "default");
  v->add_bos = true;
  v->add_space_prefix = true;
  v->bos = bos < n ? bos : -1;
  v->eos = eos < n ? eos : -1;
  v->unk = unk < n ? unk : -1;
  memcpy (v->scores, scores, (size_t) n * sizeof *scores);
  memcpy (v->types, types, (size_t) n);
  status = store_texts (v, texts, lens, err);
  if (status == LK_OK)
    status = vocab_finish (v, err);
  if (status != LK_OK)
    {
      lk_vocab_free (v);
      return status;
    }
  *out = v;
  return LK_OK;
}

/* GGUF -------------------------------------------------------------------- */

static const lk_gguf_value *
get_array (const lk_gguf *g, const char *key, lk_gguf_vtype elem, uint64_t n_expected,
           bool required, lk_error *err, bool *failed)
{
  const lk_gguf_value *v = lk_gguf_get (g, key);

  *failed = false;
  if (v == NULL)
    {
      if (required)
        {
          lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' is missing", lk_gguf_path (g), key);
          *failed = true;
        }
      return NULL;
    }
  if (v->type != LK_GGUF_ARRAY || v->v.arr.elem_type != elem)
    {
      lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' has type %s, expected an array of %s",
                    lk_gguf_path (g), key,
                    v->type == LK_GGUF_ARRAY ? "array of other values" : lk_gguf_type_name (v->type),
                    lk_gguf_type_name (elem));
      *failed = true;
      return NULL;
    }
  if (n_expected != UINT64_MAX && v->v.arr.n != n_expected)
    {
      lk_error_set (err, LK_ERR_FORMAT,
                    "%s: key '%s' has %" PRIu64 " entries, expected %" PRIu64
                    " (one per token)",
                    lk_gguf_path (g), key, v->v.arr.n, n_expected);
      *failed = true;
      return NULL;
    }
  return v;
}

static lk_status
read_special_id (const lk_gguf *g, const char *key, int32_t n, int32_t *out, lk_error *err)
{
  const lk_gguf_value *val = lk_gguf_get (g, key);
  int64_t id;

  if (val == NULL)
    return LK_OK;
  if (!lk_gguf_value_as_i64 (val, &id))
    {
      /* -1 stored as uint32 (4294967295) means "none" in files in the wild. */
      if (val->type == LK_GGUF_UINT64 || val->type == LK_GGUF_UINT32)
        return LK_OK;
      return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' has type %s, expected an integer",
                           lk_gguf_path (g), key, lk_gguf_type_name (val->type));
    }
  if (id < 0 || id >= n)
    {
      if (id == 0xFFFFFFFFll || id < 0)
        return LK_OK; /* "none" */
      return lk_error_set (err, LK_ERR_FORMAT,
                           "%s: key '%s' is %" PRId64 ", expected a token id below %d",
                           lk_gguf_path (g), key, id, n);
    }
  *out = (int32_t) id;
  return LK_OK;
}

static lk_status
read_merges (lk_vocab *v, const lk_gguf *g, lk_error *err)
{
  bool failed;
  const lk_gguf_value *m = get_array (g, "tokenizer.ggml.merges", LK_GGUF_STRING, UINT64_MAX,
                                      true, err, &failed);
  size_t total = 0, pos = 0;

  if (failed)
    return err ? err->status : LK_ERR_FORMAT;
  for (uint64_t i = 0; i < m->v.arr.n; i++)
    total += m->v.arr.items[i].v.str.len + 1;
  v->merge_arena = malloc (total ? total : 1);
  if (v->merge_arena == NULL || !lk_strmap_init (&v->merges, m->v.arr.n))
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory for merges");
  for (uint64_t i = 0; i < m->v.arr.n && i < INT32_MAX; i++)
    {
      const lk_gguf_str s = m->v.arr.items[i].v.str;
      bool existed;
      int32_t old;
      memcpy (v->merge_arena + pos, s.ptr, s.len);
      v->merge_arena[pos + s.len] = '\0';
      if (!lk_strmap_put (&v->merges, v->merge_arena + pos, s.len, (int32_t) i, &old, &existed))
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory for merges");
      if (existed) /* the first (best) rank wins */
        lk_strmap_put (&v->merges, v->merge_arena + pos, s.len, old, NULL, NULL);
      pos += s.len + 1;
    }
  return LK_OK;
}

static lk_status
read_tokens (lk_vocab *v, const lk_gguf *g, const lk_gguf_value *tokens, lk_error *err)
{
  bool failed;
  const lk_gguf_value *scores, *types;
  const char **texts = malloc ((size_t) v->n * sizeof *texts);
  size_t *lens = malloc ((size_t) v->n * sizeof *lens);
  lk_status status;

  if (texts == NULL || lens == NULL)
    {
      free (texts);
      free (lens);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  for (int32_t i = 0; i < v->n; i++)
    {
      texts[i] = tokens->v.arr.items[i].v.str.ptr;
      lens[i] = tokens->v.arr.items[i].v.str.len;
    }
  status = store_texts (v, texts, lens, err);
  free (texts);
  free (lens);
  if (status != LK_OK)
    return status;

  scores = get_array (g, "tokenizer.ggml.scores", LK_GGUF_FLOAT32, (uint64_t) v->n, false, err,
                      &failed);
  if (failed)
    return err ? err->status : LK_ERR_FORMAT;
  types = get_array (g, "tokenizer.ggml.token_type", LK_GGUF_INT32, (uint64_t) v->n, false, err,
                     &failed);
  if (failed)
    return err ? err->status : LK_ERR_FORMAT;
  for (int32_t i = 0; i < v->n; i++)
    {
      double s = 0.0;
      int64_t t = LK_TOKEN_NORMAL;
      if (scores)
        lk_gguf_arr_get_f64 (scores, (uint64_t) i, &s);
      if (types)
        lk_gguf_arr_get_i64 (types, (uint64_t) i, &t);
      v->scores[i] = (float) s;
      v->types[i] = (t >= LK_TOKEN_UNDEFINED && t <= LK_TOKEN_BYTE) ? (uint8_t) t
                                                                    : LK_TOKEN_UNDEFINED;
    }
  return LK_OK;
}

static lk_status
read_specials (lk_vocab *v, const lk_gguf *g, lk_error *err)
{
  static const struct
  {
    const char *key;
    size_t field;
  } keys[] = {
    { "tokenizer.ggml.bos_token_id", offsetof (lk_vocab, bos) },
    { "tokenizer.ggml.eos_token_id", offsetof (lk_vocab, eos) },
    { "tokenizer.ggml.unknown_token_id", offsetof (lk_vocab, unk) },
    { "tokenizer.ggml.eot_token_id", offsetof (lk_vocab, eot) },
    { "tokenizer.ggml.eom_token_id", offsetof (lk_vocab, eom) },
    { "tokenizer.ggml.padding_token_id", offsetof (lk_vocab, pad) },
  };
  bool flag;

  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    {
      lk_status s = read_special_id (g, keys[i].key, v->n,
                                     (int32_t *) ((char *) v + keys[i].field), err);
      if (s != LK_OK)
        return s;
    }
  if (lk_gguf_get_bool (g, "tokenizer.ggml.add_bos_token", &flag))
    v->add_bos = flag;
  if (lk_gguf_get_bool (g, "tokenizer.ggml.add_eos_token", &flag))
    v->add_eos = flag;
  if (lk_gguf_get_bool (g, "tokenizer.ggml.add_space_prefix", &flag))
    v->add_space_prefix = flag;
  if (v->add_bos && v->bos < 0)
    v->add_bos = false;
  if (v->add_eos && v->eos < 0)
    v->add_eos = false;
  return LK_OK;
}

static lk_status
setup_model (lk_vocab *v, const lk_gguf *g, const char *model, lk_error *err)
{
  char *pre = lk_gguf_get_str_dup (g, "tokenizer.ggml.pre");

  snprintf (v->pre, sizeof v->pre, "%s", pre && *pre ? pre : "default");
  free (pre);
  if (strcmp (model, "llama") == 0)
    {
      v->type = LK_VOCAB_SPM;
      v->add_bos = true;
      v->add_space_prefix = true;
      v->bos = 1;
      v->eos = 2;
      v->unk = 0;
      return LK_OK;
    }
  if (strcmp (model, "gpt2") == 0)
    {
      v->type = LK_VOCAB_BPE;
      v->bos = 11;
      v->eos = 11;
      v->pretok = lk_pretok_new (v->pre, &v->ignore_merges, err);
      if (v->pretok == NULL)
        {
          lk_error_prefix (err, "%s", lk_gguf_path (g));
          return err ? err->status : LK_ERR_UNSUPPORTED;
        }
      /* These families prepend BOS although their files may not say so. */
      v->add_bos = strcmp (v->pre, "llama3") == 0 || strcmp (v->pre, "llama-v3") == 0
                   || strcmp (v->pre, "llama-bpe") == 0 || strcmp (v->pre, "falcon3") == 0
                   || strcmp (v->pre, "tekken") == 0 || strcmp (v->pre, "chameleon") == 0;
      return read_merges (v, g, err);
    }
  return lk_error_set (err, LK_ERR_UNSUPPORTED,
                       "%s: field 'tokenizer.ggml.model' is '%s', expected 'llama' "
                       "(SentencePiece) or 'gpt2' (byte-level BPE)",
                       lk_gguf_path (g), model);
}

lk_status
lk_vocab_from_gguf (const lk_gguf *g, lk_vocab **out, lk_error *err)
{
  bool failed;
  char *model = lk_gguf_get_str_dup (g, "tokenizer.ggml.model");
  const lk_gguf_value *tokens;
  lk_vocab *v;
  lk_status status;

  *out = NULL;
  if (model == NULL)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: key 'tokenizer.ggml.model' is missing: the file has no tokenizer",
                         lk_gguf_path (g));
  tokens = get_array (g, "tokenizer.ggml.tokens", LK_GGUF_STRING, UINT64_MAX, true, err, &failed);
  if (failed)
    {
      free (model);
      return err ? err->status : LK_ERR_FORMAT;
    }
  if (tokens->v.arr.n == 0 || tokens->v.arr.n > INT32_MAX)
    {
      free (model);
      return lk_error_set (err, LK_ERR_FORMAT,
                           "%s: key 'tokenizer.ggml.tokens' has %" PRIu64
                           " entries, expected 1..2^31",
                           lk_gguf_path (g), tokens->v.arr.n);
    }
  v = vocab_alloc ((int32_t) tokens->v.arr.n);
  if (v == NULL)
    {
      free (model);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  snprintf (v->model, sizeof v->model, "%s", model);
  status = setup_model (v, g, model, err);
  free (model);
  if (status == LK_OK)
    status = read_tokens (v, g, tokens, err);
  if (status == LK_OK)
    status = read_specials (v, g, err);
  if (status == LK_OK && v->type == LK_VOCAB_SPM)
    {
      /* Defaults above assume the usual layout; drop them if out of range. */
      if (v->bos >= v->n) v->bos = -1;
      if (v->eos >= v->n) v->eos = -1;
      if (v->unk >= v->n) v->unk = -1;
    }
  if (status == LK_OK)
    status = vocab_finish (v, err);
  if (status != LK_OK)
    {
      lk_vocab_free (v);
      return status;
    }
  *out = v;
  return LK_OK;
}

lk_status
lk_vocab_open (const char *path, lk_vocab **out, lk_error *err)
{
  lk_gguf *g = NULL;
  lk_status s = lk_gguf_open (path, LK_LOAD_MMAP, &g, err);

  *out = NULL;
  if (s != LK_OK)
    return s;
  /* The vocabulary copies what it keeps, so the file can go. */
  s = lk_vocab_from_gguf (g, out, err);
  lk_gguf_free (g);
  return s;
}

/* Queries ------------------------------------------------------------------ */

lk_vocab_type
lk_vocab_get_type (const lk_vocab *v)
{
  return v != NULL ? v->type : LK_VOCAB_NONE;
}

const char *
lk_vocab_model_name (const lk_vocab *v)
{
  return v != NULL ? v->model : NULL;
}

const char *
lk_vocab_pre_name (const lk_vocab *v)
{
  return v != NULL ? v->pre : NULL;
}

int32_t
lk_vocab_n_tokens (const lk_vocab *v)
{
  return v != NULL ? v->n : 0;
}

int32_t
lk_vocab_bos (const lk_vocab *v)
{
  return v != NULL ? v->bos : -1;
}

int32_t
lk_vocab_eos (const lk_vocab *v)
{
  return v != NULL ? v->eos : -1;
}

bool
lk_vocab_add_bos (const lk_vocab *v)
{
  return v != NULL && v->add_bos;
}

bool
lk_vocab_is_eog (const lk_vocab *v, int32_t id)
{
  for (size_t i = 0; v != NULL && i < v->n_eog; i++)
    if (v->eog[i] == id)
      return true;
  return false;
}

lk_token_type
lk_vocab_token_type (const lk_vocab *v, int32_t id)
{
  return (v != NULL && id >= 0 && id < v->n) ? (lk_token_type) v->types[id] : LK_TOKEN_UNDEFINED;
}

const char *
lk_vocab_token_text (const lk_vocab *v, int32_t id, size_t *len)
{
  if (v == NULL || id < 0 || id >= v->n)
    return NULL;
  if (len)
    *len = v->len[id];
  return text_of (v, id);
}

float
lk_vocab_token_score (const lk_vocab *v, int32_t id)
{
  return (v != NULL && id >= 0 && id < v->n) ? v->scores[id] : 0.0f;
}

int32_t
lk_vocab_find (const lk_vocab *v, const char *text, size_t len)
{
  return v != NULL ? lk_strmap_get (&v->by_text, text, len) : -1;
}

/* Tokenize ------------------------------------------------------------------ */

typedef struct
{
  size_t start, len; /* raw text piece, when token < 0 */
  int32_t token;
} fragment;

typedef struct
{
  fragment *items;
  size_t n, cap;
} fragments;

static bool
frag_push (fragments *f, size_t start, size_t len, int32_t token)
{
  if (f->n == f->cap)
    {
      const size_t cap = f->cap ? f->cap * 2 : 16;
      fragment *items = realloc (f->items, cap * sizeof *items);
      if (items == NULL)
        return false;
      f->items = items;
      f->cap = cap;
    }
  f->items[f->n++] = (fragment) { start, len, token };
  return true;
}

/* Splits the text at every occurrence of a special token's text, longest
 * tokens first. Control and unknown tokens count only with parse_special;
 * user-defined tokens always do. */
static bool
partition_special (const lk_vocab *v, const char *text, size_t len, bool parse_special,
                   fragments *out)
{
  if (!frag_push (out, 0, len, -1))
    return false;
  for (size_t s = 0; s < v->n_special; s++)
    {
      const int32_t id = v->special[s];
      const char *tt = text_of (v, id);
      const size_t tl = v->len[id];
      fragments next = { 0 };

      if (!parse_special && v->types[id] != LK_TOKEN_USER_DEFINED)
        continue;
      for (size_t i = 0; i < out->n; i++)
        {
          const fragment f = out->items[i];
          size_t pos = f.start;
          const size_t end = f.start + f.len;
          if (f.token >= 0)
            {
              if (!frag_push (&next, f.start, f.len, f.token))
                goto oom;
              continue;
            }
          while (pos < end)
            {
              const char *hit = tl <= end - pos ? memmem (text + pos, end - pos, tt, tl) : NULL;
              if (hit == NULL)
                break;
              const size_t at = (size_t) (hit - text);
              if (at > pos && !frag_push (&next, pos, at - pos, -1))
                goto oom;
              if (!frag_push (&next, at, tl, id))
                goto oom;
              pos = at + tl;
            }
          if (pos < end && !frag_push (&next, pos, end - pos, -1))
            goto oom;
        }
      free (out->items);
      *out = next;
      continue;
    oom:
      free (next.items);
      return false;
    }
  return true;
}

static lk_status
spm_fragment (const lk_vocab *v, const char *text, size_t len, bool prefix_space, lk_tokens *out,
              lk_error *err)
{
  /* Spaces become U+2581 (3 bytes), plus the optional leading one. */
  char *buf = malloc (len * 3 + 4);
  size_t n = 0;
  lk_status status;

  if (buf == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  if (prefix_space)
    {
      memcpy (buf, SPACE_MARK, 3);
      n = 3;
    }
  for (size_t i = 0; i < len; i++)
    {
      if (text[i] == ' ')
        {
          memcpy (buf + n, SPACE_MARK, 3);
          n += 3;
        }
      else
        buf[n++] = text[i];
    }
  status = lk_spm_tokenize (v, buf, n, out, err);
  free (buf);
  return status;
}

lk_status
lk_vocab_tokenize (const lk_vocab *v, const char *text, size_t len, bool add_special,
                   bool parse_special, lk_tokens *out, lk_error *err)
{
  fragments frags = { 0 };
  lk_status status = LK_OK;
  bool prev_special = true;

  if (v == NULL)
    return lk_error_set (err, LK_ERR_INVALID,
                         "the model has no tokenizer (a llama2.c checkpoint needs its tokenizer.bin "
                         "beside it, or named with -z)");
  if (len > 0 && !partition_special (v, text, len, parse_special, &frags))
    {
      free (frags.items);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  if (add_special && v->add_bos && !lk_tokens_push (out, v->bos))
    status = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < frags.n && status == LK_OK; i++)
    {
      const fragment *f = &frags.items[i];
      if (f->token >= 0)
        {
          if (!lk_tokens_push (out, f->token))
            status = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
          prev_special = true;
          continue;
        }
      if (v->type == LK_VOCAB_SPM)
        status = spm_fragment (v, text + f->start, f->len, v->add_space_prefix && prev_special,
                               out, err);
      else
        status = lk_bpe_tokenize (v, text + f->start, f->len, out, err);
      prev_special = false;
    }
  if (status == LK_OK && add_special && v->add_eos && !lk_tokens_push (out, v->eos))
    status = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  free (frags.items);
  return status;
}

/* Detokenize ---------------------------------------------------------------- */

static int
cp_to_byte (uint32_t cp)
{
  if (cp < 256)
    {
      const bool printable = (cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || cp >= 174;
      return printable ? (int) cp : -1;
    }
  if (cp <= 256 + 32)
    return (int) (cp - 256);
  if (cp <= 256 + 33 + 33)
    return (int) (cp - 256 - 33 + 127);
  if (cp == 256 + 67)
    return 173;
  return -1;
}

static size_t
put_bytes (char *buf, size_t cap, size_t pos, const char *s, size_t n)
{
  if (pos < cap)
    memcpy (buf + pos, s, pos + n <= cap ? n : cap - pos);
  return pos + n;
}

size_t
lk_vocab_piece (const lk_vocab *v, int32_t id, bool special, char *buf, size_t cap)
{
  const char *t;
  size_t n, o = 0;

  if (v == NULL || id < 0 || id >= v->n)
    return 0;
  t = text_of (v, id);
  n = v->len[id];
  switch (v->types[id])
    {
    case LK_TOKEN_CONTROL:
    case LK_TOKEN_UNKNOWN:
      return special ? put_bytes (buf, cap, 0, t, n) : 0;
    case LK_TOKEN_USER_DEFINED:
      return put_bytes (buf, cap, 0, t, n);
    case LK_TOKEN_BYTE:
      if (v->type == LK_VOCAB_SPM)
        {
          for (int b = 0; b < 256; b++)
            if (v->byte_token[b] == id)
              {
                const char c = (char) b;
                return put_bytes (buf, cap, 0, &c, 1);
              }
        }
      return put_bytes (buf, cap, 0, t, n);
    default:
      break;
    }
  if (v->type == LK_VOCAB_SPM)
    {
      for (size_t i = 0; i < n;)
        {
          if (i + 3 <= n && memcmp (t + i, SPACE_MARK, 3) == 0)
            {
              o = put_bytes (buf, cap, o, " ", 1);
              i += 3;
            }
          else
            o = put_bytes (buf, cap, o, t + i++, 1);
        }
      return o;
    }
  for (size_t i = 0; i < n;)
    {
      uint32_t cp;
      const size_t cl = lk_utf8_decode (t + i, n - i, &cp);
      const int b = cl ? cp_to_byte (cp) : -1;
      if (b < 0)
        {
          /* Not a byte character: keep the text as it is. */
          const size_t k = cl ? cl : 1;
          o = put_bytes (buf, cap, o, t + i, k);
          i += k;
          continue;
        }
      {
        const char c = (char) b;
        o = put_bytes (buf, cap, o, &c, 1);
      }
      i += cl;
    }
  return o;
}

/* Writing -------------------------------------------------------------------- */

static void
write_merges (const lk_vocab *v, lk_gguf_writer *w)
{
  const size_t n = v->merges.count;
  const char **texts = calloc (n ? n : 1, sizeof *texts);
  size_t *lens = calloc (n ? n : 1, sizeof *lens);
  size_t kept = 0;

  if (texts == NULL || lens == NULL)
    abort (); /* bookkeeping allocation for merges already in memory */
  for (size_t i = 0; i < v->merges.cap; i++)
    {
      const lk_strmap_slot *s = &v->merges.slots[i];
      if (s->key != NULL && (size_t) s->value < n)
        {
          texts[s->value] = s->key;
          lens[s->value] = s->len;
        }
    }
  /* Ranks are dense unless the file repeated a merge; keep the order. */
  for (size_t i = 0; i < n; i++)
    if (texts[i] != NULL)
      {
        texts[kept] = texts[i];
        lens[kept++] = lens[i];
      }
  lk_gguf_writer_set_arr_str (w, "tokenizer.ggml.merges", texts, lens, kept);
  free (texts);
  free (lens);
}

void
lk_vocab_write_gguf (const lk_vocab *v, lk_gguf_writer *w)
{
  lk_vocab_write_gguf_n (v, w, v->n);
}

void
lk_vocab_write_gguf_n (const lk_vocab *v, lk_gguf_writer *w, int32_t n)
{
  const char **texts = malloc ((size_t) n * sizeof *texts);
  size_t *lens = malloc ((size_t) n * sizeof *lens);
  int32_t *types = malloc ((size_t) n * sizeof *types);
  float *scores = malloc ((size_t) n * sizeof *scores);
  char (*pads)[24] = n > v->n ? malloc ((size_t) (n - v->n) * sizeof *pads) : NULL;

  if (texts == NULL || lens == NULL || types == NULL || scores == NULL || (n > v->n && pads == NULL))
    abort (); /* bookkeeping allocation for a vocabulary already in memory */
  for (int32_t i = 0; i < n; i++)
    {
      if (i < v->n)
        {
          texts[i] = text_of (v, i);
          lens[i] = v->len[i];
          types[i] = v->types[i];
          scores[i] = v->scores[i];
          continue;
        }
      snprintf (pads[i - v->n], sizeof pads[0], "<pad_%d>", i);
      texts[i] = pads[i - v->n];
      lens[i] = strlen (texts[i]);
      types[i] = LK_TOKEN_UNUSED;
      scores[i] = 0.0f;
    }
  lk_gguf_writer_set_str (w, "tokenizer.ggml.model", v->model);
  if (v->type == LK_VOCAB_BPE)
    lk_gguf_writer_set_str (w, "tokenizer.ggml.pre", v->pre);
  lk_gguf_writer_set_arr_str (w, "tokenizer.ggml.tokens", texts, lens, (size_t) n);
  lk_gguf_writer_set_arr (w, "tokenizer.ggml.scores", LK_GGUF_FLOAT32, scores, (size_t) n);
  lk_gguf_writer_set_arr (w, "tokenizer.ggml.token_type", LK_GGUF_INT32, types, (size_t) n);
  if (v->type == LK_VOCAB_BPE)
    write_merges (v, w);
  if (v->bos >= 0 && v->bos < n)
    lk_gguf_writer_set_u32 (w, "tokenizer.ggml.bos_token_id", (uint32_t) v->bos);
  if (v->eos >= 0 && v->eos < n)
    lk_gguf_writer_set_u32 (w, "tokenizer.ggml.eos_token_id", (uint32_t) v->eos);
  if (v->unk >= 0 && v->unk < n)
    lk_gguf_writer_set_u32 (w, "tokenizer.ggml.unknown_token_id", (uint32_t) v->unk);
  lk_gguf_writer_set_bool (w, "tokenizer.ggml.add_bos_token", v->add_bos && v->bos < n);
  lk_gguf_writer_set_bool (w, "tokenizer.ggml.add_eos_token", v->add_eos && v->eos < n);
  free (texts);
  free (lens);
  free (types);
  free (scores);
  free (pads);
}
