/* SPDX-License-Identifier: MIT */
/* The two merge algorithms.
 *
 * Both start from one symbol per UTF-8 character and repeatedly merge the
 * best adjacent pair that forms a known unit: SentencePiece-style by the
 * highest token score, BPE by the lowest merge rank. Ties go to the leftmost
 * pair. A heap holds candidate pairs; pairs made stale by an earlier merge
 * are recognised and skipped when they come out.
 */
#include <stdlib.h>
#include <string.h>

#include "lk-vocab-private.h"

typedef struct
{
  size_t start; /* byte offset in the text */
  size_t n;     /* bytes; 0 once merged into its left neighbour */
  int prev, next;
} symbol;

typedef struct
{
  int left, right;
  float key;   /* score (SPM, larger first) or rank (BPE, smaller first) */
  size_t size; /* bytes of the merged pair when it was queued */
} bigram;

typedef struct
{
  bigram *items;
  size_t n, cap;
  bool larger_first;
} heap;

static bool
before (const heap *h, const bigram *a, const bigram *b)
{
  if (a->key != b->key)
    return h->larger_first ? a->key > b->key : a->key < b->key;
  return a->left < b->left;
}

static bool
heap_push (heap *h, bigram b)
{
  size_t i;

  if (h->n == h->cap)
    {
      const size_t cap = h->cap ? h->cap * 2 : 64;
      bigram *items = realloc (h->items, cap * sizeof *items);
      if (items == NULL)
        return false;
      h->items = items;
      h->cap = cap;
    }
  i = h->n++;
  h->items[i] = b;
  while (i > 0)
    {
      const size_t parent = (i - 1) / 2;
      if (!before (h, &h->items[i], &h->items[parent]))
        break;
      const bigram t = h->items[i];
      h->items[i] = h->items[parent];
      h->items[parent] = t;
      i = parent;
    }
  return true;
}

static bigram
heap_pop (heap *h)
{
  const bigram top = h->items[0];
  size_t i = 0;

  h->items[0] = h->items[--h->n];
  for (;;)
    {
      const size_t l = 2 * i + 1, r = l + 1;
      size_t best = i;
      if (l < h->n && before (h, &h->items[l], &h->items[best]))
        best = l;
      if (r < h->n && before (h, &h->items[r], &h->items[best]))
        best = r;
      if (best == i)
        break;
      const bigram t = h->items[i];
      h->items[i] = h->items[best];
      h->items[best] = t;
      i = best;
    }
  return top;
}

/* One symbol per UTF-8 character of text[0..len). */
static symbol *
split_chars (const char *text, size_t len, int *n_out)
{
  symbol *syms = malloc ((len ? len : 1) * sizeof *syms);
  int n = 0;

  if (syms == NULL)
    return NULL;
  for (size_t off = 0; off < len;)
    {
      size_t cl = lk_utf8_len ((uint8_t) text[off]);
      if (cl > len - off)
        cl = len - off;
      syms[n].start = off;
      syms[n].n = cl;
      syms[n].prev = n - 1;
      off += cl;
      syms[n].next = off == len ? -1 : n + 1;
      n++;
    }
  *n_out = n;
  return syms;
}

static void
merge_symbols (symbol *syms, int left, int right)
{
  syms[left].n += syms[right].n;
  syms[right].n = 0;
  syms[left].next = syms[right].next;
  if (syms[right].next >= 0)
    syms[syms[right].next].prev = left;
}

/* SentencePiece ----------------------------------------------------------- */

static bool
spm_try_pair (const lk_vocab *v, const char *text, symbol *syms, heap *h, int left, int right)
{
  int32_t id;

  if (left < 0 || right < 0)
    return true;
  id = lk_strmap_get (&v->by_text, text + syms[left].start, syms[left].n + syms[right].n);
  if (id < 0)
    return true;
  return heap_push (h, (bigram) { left, right, v->scores[id], syms[left].n + syms[right].n });
}

static bool
spm_emit (const lk_vocab *v, const char *s, size_t n, lk_tokens *out)
{
  const int32_t id = lk_strmap_get (&v->by_text, s, n);

  if (id >= 0)
    return lk_tokens_push (out, id);
  /* Byte fallback: each byte as its <0xXX> token, or unknown without one. */
  for (size_t i = 0; i < n; i++)
    {
      const int32_t b = v->byte_token[(uint8_t) s[i]];
      if (!lk_tokens_push (out, b >= 0 ? b : v->unk))
        return false;
    }
  return true;
}

lk_status
lk_spm_tokenize (const lk_vocab *v, const char *text, size_t len, lk_tokens *out, lk_error *err)
{
  heap h = { .larger_first = true };
  int n = 0;
  symbol *syms;
  bool ok = true;

  if (len == 0)
    return LK_OK;
  syms = split_chars (text, len, &n);
  if (syms == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int i = 1; i < n && ok; i++)
    ok = spm_try_pair (v, text, syms, &h, i - 1, i);
  while (ok && h.n > 0)
    {
      const bigram b = heap_pop (&h);
      symbol *l = &syms[b.left], *r = &syms[b.right];
      if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
        continue;
      merge_symbols (syms, b.left, b.right);
      ok = spm_try_pair (v, text, syms, &h, syms[b.left].prev, b.left)
           && spm_try_pair (v, text, syms, &h, b.left, syms[b.left].next);
    }
  for (int i = 0; ok && i != -1; i = syms[i].next)
    ok = spm_emit (v, text + syms[i].start, syms[i].n, out);
  free (h.items);
  free (syms);
  return ok ? LK_OK : lk_error_set (err, LK_ERR_NOMEM, "out of memory");
}

/* Byte-level BPE ---------------------------------------------------------- */

/* GPT-2's map from bytes to printable characters: printable Latin-1 bytes
 * stand for themselves, the rest are moved to U+0100 and up, in order. */
static uint32_t
byte_to_cp (uint8_t b)
{
  if (b <= 32)
    return 256u + b;
  if (b >= 127 && b <= 160)
    return 256u + 33 + (b - 127u);
  if (b == 173)
    return 256u + 33 + 34;
  return b;
}

/* Text of the word with each byte replaced by its character. */
static char *
byte_encode (const char *s, size_t n, size_t *out_len)
{
  char *out = malloc (n * 2 + 1);
  size_t o = 0;

  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    o += lk_utf8_encode (byte_to_cp ((uint8_t) s[i]), out + o);
  *out_len = o;
  return out;
}

static int32_t
bpe_rank (const lk_vocab *v, const char *a, size_t na, const char *b, size_t nb, char **buf,
          size_t *cap)
{
  const size_t need = na + nb + 1;

  if (need > *cap)
    {
      char *nbuf = realloc (*buf, need * 2);
      if (nbuf == NULL)
        return -2;
      *buf = nbuf;
      *cap = need * 2;
    }
  memcpy (*buf, a, na);
  (*buf)[na] = ' ';
  memcpy (*buf + na + 1, b, nb);
  return lk_strmap_get (&v->merges, *buf, need);
}

typedef struct
{
  char *buf;
  size_t cap;
} scratch;

static bool
bpe_try_pair (const lk_vocab *v, const char *w, symbol *syms, heap *h, int left, int right,
              scratch *sc)
{
  int32_t rank;

  if (left < 0 || right < 0)
    return true;
  rank = bpe_rank (v, w + syms[left].start, syms[left].n, w + syms[right].start, syms[right].n,
                   &sc->buf, &sc->cap);
  if (rank == -2)
    return false;
  if (rank < 0)
    return true;
  return heap_push (h, (bigram) { left, right, (float) rank, syms[left].n + syms[right].n });
}

static bool
bpe_emit (const lk_vocab *v, const char *s, size_t n, lk_tokens *out)
{
  const int32_t id = lk_strmap_get (&v->by_text, s, n);

  if (id >= 0)
    return lk_tokens_push (out, id);
  /* A piece outside the vocabulary: the single bytes that are tokens. */
  for (size_t i = 0; i < n; i++)
    {
      const int32_t b = lk_strmap_get (&v->by_text, s + i, 1);
      if (b >= 0 && !lk_tokens_push (out, b))
        return false;
    }
  return true;
}

static bool
bpe_word (const lk_vocab *v, const char *w, size_t wn, lk_tokens *out, scratch *sc)
{
  heap h = { .larger_first = false };
  int n = 0;
  symbol *syms;
  bool ok = true;

  if (v->ignore_merges)
    {
      const int32_t id = lk_strmap_get (&v->by_text, w, wn);
      if (id >= 0)
        return lk_tokens_push (out, id);
    }
  syms = split_chars (w, wn, &n);
  if (syms == NULL)
    return false;
  for (int i = 1; i < n && ok; i++)
    ok = bpe_try_pair (v, w, syms, &h, i - 1, i, sc);
  while (ok && h.n > 0)
    {
      const bigram b = heap_pop (&h);
      symbol *l = &syms[b.left], *r = &syms[b.right];
      /* Stale when either side changed since the pair was queued. Symbols
       * only grow, so equal total size and unchanged neighbours mean the
       * same text. */
      if (l->n == 0 || r->n == 0 || l->next != b.right || l->n + r->n != b.size)
        continue;
      merge_symbols (syms, b.left, b.right);
      ok = bpe_try_pair (v, w, syms, &h, syms[b.left].prev, b.left, sc)
           && bpe_try_pair (v, w, syms, &h, b.left, syms[b.left].next, sc);
    }
  for (int i = 0; ok && i != -1 && n > 0; i = syms[i].next)
    ok = bpe_emit (v, w + syms[i].start, syms[i].n, out);
  free (h.items);
  free (syms);
  return ok;
}

lk_status
lk_bpe_tokenize (const lk_vocab *v, const char *text, size_t len, lk_tokens *out, lk_error *err)
{
  size_t clean_len = 0, *ranges = NULL, n_ranges = 0, cap = 0;
  char *clean;
  scratch sc = { NULL, 0 };
  lk_status status;

  if (len == 0)
    return LK_OK;
  clean = lk_utf8_sanitize (text, len, &clean_len);
  if (clean == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  status = lk_pretok_split (v->pretok, clean, clean_len, &ranges, &n_ranges, &cap, err);
  for (size_t i = 0; status == LK_OK && i < n_ranges; i += 2)
    {
      size_t wn;
      char *w = byte_encode (clean + ranges[i], ranges[i + 1] - ranges[i], &wn);
      if (w == NULL || !bpe_word (v, w, wn, out, &sc))
        status = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      free (w);
    }
  free (sc.buf);
  free (ranges);
  free (clean);
  return status;
}
