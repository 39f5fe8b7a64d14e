/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-eval.h"
#include "lk-gguf.h"
#include "lk-sampler.h"

#define DEFAULT_N_CTX 256
#define DOC_SEPARATOR "<|endoftext|>"

struct lk_eval_ref
{
  int n_vocab, n_ctx, n_chunks;
  int32_t *tokens;    /* n_chunks * n_ctx, BOS in place */
  lk_ctx *live;       /* computes a chunk when asked, or NULL */
  float *chunk_lp;    /* the live chunk: n_scored * n_vocab */
  int live_chunk;
  float **stored;     /* per chunk, n_scored * n_vocab (computed or in file) */
  lk_gguf *file;
  bool owns_stored;
};

void
lk_eval_params_init (lk_eval_params *p)
{
  memset (p, 0, sizeof *p);
}

static int
first_scored (int n_ctx)
{
  return n_ctx / 2;
}

static int
n_scored (int n_ctx)
{
  return n_ctx - 1 - first_scored (n_ctx);
}

/* Text ------------------------------------------------------------------ */

static lk_status
tokenize_doc (const lk_vocab *v, const char *text, size_t len, lk_tokens *out, lk_error *err)
{
  while (len > 0 && (text[0] == '\n' || text[0] == '\r'))
    text++, len--;
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
    len--;
  if (len == 0)
    return LK_OK;
  return lk_vocab_tokenize (v, text, len, true, false, out, err);
}

lk_status
lk_eval_tokenize (const lk_vocab *v, const char *text, size_t len, lk_tokens *out, lk_error *err)
{
  const size_t sep_len = strlen (DOC_SEPARATOR);
  size_t start = 0, line = 0;

  while (line <= len)
    {
      const char *nl = memchr (text + line, '\n', len - line);
      const size_t end = nl != NULL ? (size_t) (nl - text) : len;
      size_t l = end - line;
      if (l > 0 && text[line + l - 1] == '\r')
        l--;
      if (l == sep_len && memcmp (text + line, DOC_SEPARATOR, sep_len) == 0)
        {
          lk_status s = tokenize_doc (v, text + start, line - start, out, err);
          if (s != LK_OK)
            return s;
          start = end + 1 < len ? end + 1 : len;
        }
      line = end + 1;
    }
  return start < len ? tokenize_doc (v, text + start, len - start, out, err) : LK_OK;
}

/* Numbers --------------------------------------------------------------- */

void
lk_log_softmax (const float *logits, int n, float *out)
{
  float max = -INFINITY;
  double sum = 0.0;

  for (int i = 0; i < n; i++)
    max = logits[i] > max ? logits[i] : max;
  for (int i = 0; i < n; i++)
    sum += exp ((double) logits[i] - max);
  {
    const float log_sum = (float) log (sum) + max;
    for (int i = 0; i < n; i++)
      out[i] = logits[i] - log_sum;
  }
}

static int
cmp_double (const void *a, const void *b)
{
  const double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

/* Linear interpolation between order statistics of sorted v. */
static double
quantile (const double *v, size_t n, double q)
{
  const double pos = q * (double) (n - 1);
  const size_t i = (size_t) pos;
  const double frac = pos - (double) i;

  if (n == 0)
    return 0.0;
  if (i + 1 >= n)
    return v[n - 1];
  return v[i] * (1.0 - frac) + v[i + 1] * frac;
}

/* Chunks ---------------------------------------------------------------- */

lk_status
lk_eval_plan (const lk_ctx *ctx, const lk_eval_params *p, size_t n_tokens, int *n_ctx,
              int *n_chunks, lk_error *err)
{
  int c = p->n_ctx > 0 ? p->n_ctx : DEFAULT_N_CTX;
  size_t chunks;

  if (p->n_ctx <= 0 && c > lk_ctx_n_ctx (ctx))
    c = lk_ctx_n_ctx (ctx);
  if (c < 4)
    return lk_error_set (err, LK_ERR_INVALID, "context of %d tokens: expected at least 4", c);
  if (c > lk_ctx_n_ctx (ctx))
    return lk_error_set (err, LK_ERR_INVALID,
                         "context of %d tokens: the model's context holds %d", c, lk_ctx_n_ctx (ctx));
  chunks = n_tokens / (size_t) c;
  if (chunks == 0)
    return lk_error_set (err, LK_ERR_INVALID,
                         "the evaluation text is %zu tokens, shorter than the context of %d tokens",
                         n_tokens, c);
  if (p->max_chunks > 0 && chunks > (size_t) p->max_chunks)
    chunks = (size_t) p->max_chunks;
  if (chunks > INT32_MAX / (size_t) c)
    return lk_error_set (err, LK_ERR_INVALID, "the evaluation text is too long: %zu tokens", n_tokens);
  *n_ctx = c;
  *n_chunks = (int) chunks;
  return LK_OK;
}

/* The tokens of chunk c with BOS in the first position. */
static void
chunk_tokens (const lk_vocab *v, const lk_tokens *toks, int n_ctx, int c, int32_t *out)
{
  memcpy (out, toks->ids + (size_t) c * (size_t) n_ctx, (size_t) n_ctx * sizeof *out);
  if (lk_vocab_bos (v) >= 0)
    out[0] = lk_vocab_bos (v);
}

static lk_status
decode_chunk (lk_ctx *ctx, const int32_t *tokens, int n_ctx, lk_error *err)
{
  lk_ctx_truncate (ctx, 0);
  return lk_ctx_decode (ctx, tokens, n_ctx, true, err);
}

/* Log-probabilities of the scored positions of the last decoded chunk. */
static void
scored_logprobs (const lk_ctx *ctx, int n_ctx, int n_vocab, float *out)
{
  for (int i = 0; i < n_scored (n_ctx); i++)
    lk_log_softmax (lk_ctx_logits (ctx, first_scored (n_ctx) + i), n_vocab,
                    out + (size_t) i * (size_t) n_vocab);
}

/* With early exit the scored positions are decoded one token at a time, as
 * generation does (exits happen only in single-token steps): the context
 * before them in one step, then each, its log-probabilities into out. */
static lk_status
decode_chunk_stepwise (lk_ctx *ctx, const int32_t *tokens, int n_ctx, int n_vocab, float *out,
                       lk_error *err)
{
  const int first = first_scored (n_ctx);
  lk_status s;

  lk_ctx_truncate (ctx, 0);
  if ((s = lk_ctx_decode (ctx, tokens, first, false, err)) != LK_OK)
    return s;
  for (int i = 0; i < n_scored (n_ctx); i++)
    {
      if ((s = lk_ctx_decode (ctx, tokens + first + i, 1, false, err)) != LK_OK)
        return s;
      lk_log_softmax (lk_ctx_logits (ctx, -1), n_vocab, out + (size_t) i * (size_t) n_vocab);
    }
  return LK_OK;
}

static int
ctx_n_vocab (const lk_ctx *ctx)
{
  return lk_vocab_n_tokens (lk_model_vocab (lk_ctx_model (ctx)));
}

/* Reference ------------------------------------------------------------- */

static lk_eval_ref *
ref_new (int n_vocab, int n_ctx, int n_chunks)
{
  lk_eval_ref *r = calloc (1, sizeof *r);

  if (r == NULL)
    return NULL;
  r->n_vocab = n_vocab;
  r->n_ctx = n_ctx;
  r->n_chunks = n_chunks;
  r->live_chunk = -1;
  r->tokens = malloc ((size_t) n_chunks * (size_t) n_ctx * sizeof *r->tokens);
  r->stored = calloc ((size_t) n_chunks, sizeof *r->stored);
  if (r->tokens == NULL || r->stored == NULL)
    {
      lk_eval_ref_free (r);
      return NULL;
    }
  return r;
}

void
lk_eval_ref_free (lk_eval_ref *r)
{
  if (r == NULL)
    return;
  if (r->owns_stored && r->stored != NULL)
    for (int c = 0; c < r->n_chunks; c++)
      free (r->stored[c]);
  free (r->stored);
  free (r->chunk_lp);
  free (r->tokens);
  lk_gguf_free (r->file);
  free (r);
}

int
lk_eval_ref_n_ctx (const lk_eval_ref *r)
{
  return r->n_ctx;
}

int
lk_eval_ref_n_chunks (const lk_eval_ref *r)
{
  return r->n_chunks;
}

static size_t
chunk_floats (const lk_eval_ref *r)
{
  return (size_t) n_scored (r->n_ctx) * (size_t) r->n_vocab;
}

/* The log-probabilities of chunk c, computed now for a live reference. */
static const float *
ref_chunk (lk_eval_ref *r, int c, lk_status *s, lk_error *err)
{
  *s = LK_OK;
  if (r->stored[c] != NULL)
    return r->stored[c];
  if (r->live == NULL)
    {
      *s = lk_error_set (err, LK_ERR_INVALID, "no reference for chunk %d", c);
      return NULL;
    }
  if (r->live_chunk != c)
    {
      *s = decode_chunk (r->live, r->tokens + (size_t) c * (size_t) r->n_ctx, r->n_ctx, err);
      if (*s != LK_OK)
        {
          lk_error_prefix (err, "reference model");
          return NULL;
        }
      scored_logprobs (r->live, r->n_ctx, r->n_vocab, r->chunk_lp);
      r->live_chunk = c;
    }
  return r->chunk_lp;
}

lk_status
lk_eval_ref_live (lk_ctx *ref_ctx, const lk_tokens *toks, const lk_eval_params *p, lk_eval_ref **out,
          lk_error *err)
{
  int n_ctx, n_chunks;
  lk_status s = lk_eval_plan (ref_ctx, p, toks->n, &n_ctx, &n_chunks, err);
  lk_eval_ref *r;

  if (s != LK_OK)
    return s;
  r = ref_new (ctx_n_vocab (ref_ctx), n_ctx, n_chunks);
  if (r == NULL || (r->chunk_lp = malloc (chunk_floats (r) * sizeof (float))) == NULL)
    {
      lk_eval_ref_free (r);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory for the reference log-probabilities");
    }
  for (int c = 0; c < n_chunks; c++)
    chunk_tokens (lk_model_vocab (lk_ctx_model (ref_ctx)), toks, n_ctx, c,
                  r->tokens + (size_t) c * (size_t) n_ctx);
  r->live = ref_ctx;
  *out = r;
  return LK_OK;
}

lk_status
lk_eval_ref_compute (lk_ctx *ref_ctx, const lk_tokens *toks, const lk_eval_params *p,
                     lk_eval_ref **out, lk_error *err)
{
  lk_eval_ref *r = NULL;
  lk_status s = lk_eval_ref_live (ref_ctx, toks, p, &r, err);

  if (s != LK_OK)
    return s;
  r->owns_stored = true;
  for (int c = 0; c < r->n_chunks && s == LK_OK; c++)
    {
      const float *lp = ref_chunk (r, c, &s, err);
      if (s != LK_OK)
        break;
      if ((r->stored[c] = malloc (chunk_floats (r) * sizeof (float))) == NULL)
        s = lk_error_set (err, LK_ERR_NOMEM, "out of memory for the reference log-probabilities");
      else
        memcpy (r->stored[c], lp, chunk_floats (r) * sizeof (float));
      if (p->progress != NULL)
        p->progress (p->user, c, r->n_chunks);
    }
  r->live = NULL;
  if (s != LK_OK)
    {
      lk_eval_ref_free (r);
      return s;
    }
  *out = r;
  return LK_OK;
}

lk_status
lk_eval_ref_save (const lk_eval_ref *r, const char *path, lk_error *err)
{
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_status s = LK_OK;
  const int64_t tok_ne[2] = { r->n_ctx, r->n_chunks };
  const int64_t lp_ne[2] = { r->n_vocab, n_scored (r->n_ctx) };
  char name[64];

  if (w == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  lk_gguf_writer_set_str (w, "general.type", "lathe.reference-logits");
  lk_gguf_writer_set_u32 (w, "lathe.eval.n_ctx", (uint32_t) r->n_ctx);
  lk_gguf_writer_set_u32 (w, "lathe.eval.n_vocab", (uint32_t) r->n_vocab);
  lk_gguf_writer_set_u32 (w, "lathe.eval.n_chunks", (uint32_t) r->n_chunks);
  lk_gguf_writer_set_u32 (w, "lathe.eval.first_scored", (uint32_t) first_scored (r->n_ctx));
  s = lk_gguf_writer_add_tensor (w, "tokens", LK_TYPE_I32, 2, tok_ne, r->tokens, err);
  for (int c = 0; c < r->n_chunks && s == LK_OK; c++)
    {
      if (r->stored[c] == NULL)
        s = lk_error_set (err, LK_ERR_INVALID, "the reference of chunk %d was not computed", c);
      else
        {
          snprintf (name, sizeof name, "logprobs.%d", c);
          s = lk_gguf_writer_add_tensor (w, name, LK_TYPE_F32, 2, lp_ne, r->stored[c], err);
        }
    }
  if (s == LK_OK)
    s = lk_gguf_writer_write (w, path, err);
  lk_gguf_writer_free (w);
  return s;
}

static lk_status
ref_file_u32 (const lk_gguf *g, const char *path, const char *key, uint32_t *out, lk_error *err)
{
  if (!lk_gguf_get_u32 (g, key, out) || *out == 0 || *out > INT32_MAX)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: %s: expected a positive 32-bit count", path, key);
  return LK_OK;
}

static lk_status
ref_file_tensor (const lk_gguf *g, const char *path, const char *name, lk_type type, int64_t ne0,
                 int64_t ne1, const lk_gguf_tensor **out, lk_error *err)
{
  const lk_gguf_tensor *t = lk_gguf_find_tensor (g, name);

  if (t == NULL)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor %s: missing", path, name);
  if (t->type != type || t->n_dims != 2 || t->ne[0] != ne0 || t->ne[1] != ne1)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: tensor %s: expected %s [%lld, %lld], found %s [%lld, %lld]", path,
                         name, lk_type_name (type), (long long) ne0, (long long) ne1,
                         lk_type_name (t->type), (long long) t->ne[0], (long long) t->ne[1]);
  *out = t;
  return LK_OK;
}

lk_status
lk_eval_ref_load (const char *path, const lk_tokens *toks, int n_vocab, lk_eval_ref **out,
                  lk_error *err)
{
  lk_gguf *g = NULL;
  lk_eval_ref *r = NULL;
  uint32_t n_ctx = 0, vocab = 0, chunks = 0;
  const lk_gguf_tensor *t = NULL;
  lk_status s = lk_gguf_open (path, LK_LOAD_MMAP, &g, err);
  char name[64];

  if (s != LK_OK)
    return s;
  if ((s = ref_file_u32 (g, path, "lathe.eval.n_ctx", &n_ctx, err)) != LK_OK
      || (s = ref_file_u32 (g, path, "lathe.eval.n_vocab", &vocab, err)) != LK_OK
      || (s = ref_file_u32 (g, path, "lathe.eval.n_chunks", &chunks, err)) != LK_OK)
    goto out;
  if (n_ctx < 4)
    {
      s = lk_error_set (err, LK_ERR_FORMAT, "%s: lathe.eval.n_ctx: %u; expected at least 4", path, n_ctx);
      goto out;
    }
  if ((int) vocab != n_vocab)
    {
      s = lk_error_set (err, LK_ERR_INVALID,
                        "%s: lathe.eval.n_vocab: %u, but the model has %d tokens (another vocabulary)",
                        path, vocab, n_vocab);
      goto out;
    }
  if ((s = ref_file_tensor (g, path, "tokens", LK_TYPE_I32, n_ctx, chunks, &t, err)) != LK_OK)
    goto out;
  if ((uint64_t) chunks * n_ctx > toks->n)
    {
      s = lk_error_set (err, LK_ERR_INVALID,
                        "%s: holds %u chunks of %u tokens, more than the evaluation text's %zu tokens",
                        path, chunks, n_ctx, toks->n);
      goto out;
    }
  if ((r = ref_new ((int) vocab, (int) n_ctx, (int) chunks)) == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  memcpy (r->tokens, t->data, (size_t) chunks * n_ctx * sizeof (int32_t));
  for (size_t i = 0; i < (size_t) chunks * n_ctx; i++)
    if (i % n_ctx != 0 && r->tokens[i] != toks->ids[i])
      {
        s = lk_error_set (err, LK_ERR_INVALID,
                          "%s: tokens: chunk %zu differs from the evaluation text at position %zu "
                          "(made from another text or tokenizer)",
                          path, i / n_ctx, i % n_ctx);
        goto out;
      }
  for (int c = 0; c < (int) chunks; c++)
    {
      snprintf (name, sizeof name, "logprobs.%d", c);
      s = ref_file_tensor (g, path, name, LK_TYPE_F32, vocab, n_scored ((int) n_ctx), &t, err);
      if (s != LK_OK)
        goto out;
      if ((uintptr_t) t->data % sizeof (float) != 0)
        {
          s = lk_error_set (err, LK_ERR_FORMAT, "%s: tensor %s: data not aligned to 4 bytes", path, name);
          goto out;
        }
      r->stored[c] = (float *) (uintptr_t) t->data;
    }
  r->file = g;
  g = NULL;
  *out = r;
  r = NULL;
out:
  lk_eval_ref_free (r);
  lk_gguf_free (g);
  return s;
}

/* Scoring --------------------------------------------------------------- */

typedef struct
{
  double nll, ref_nll, dp2;
  uint64_t n, top1;
  double *kl;
} tally;

static void
score_position (tally *t, const float *lp, const float *ref, int n_vocab, int32_t target)
{
  t->nll -= lp[target];
  if (ref != NULL)
    {
      double kl = 0.0;
      for (int v = 0; v < n_vocab; v++)
        kl += exp ((double) ref[v]) * ((double) ref[v] - (double) lp[v]);
      t->kl[t->n] = kl > 0.0 ? kl : 0.0;
      t->top1 += lk_argmax (lp, n_vocab) == lk_argmax (ref, n_vocab);
      {
        const double dp = exp ((double) lp[target]) - exp ((double) ref[target]);
        t->dp2 += dp * dp;
      }
      t->ref_nll -= ref[target];
    }
  t->n++;
}

static void
finish (const tally *t, bool has_ref, lk_eval_result *out)
{
  const double n = t->n > 0 ? (double) t->n : 1.0;

  out->tokens = t->n;
  out->nll_mean = t->nll / n;
  out->perplexity = exp (out->nll_mean);
  out->has_ref = has_ref;
  if (!has_ref)
    return;
  out->ref_perplexity = exp (t->ref_nll / n);
  {
    double sum = 0.0;
    for (uint64_t i = 0; i < t->n; i++)
      sum += t->kl[i];
    out->kl_mean = sum / n;
  }
  qsort (t->kl, t->n, sizeof *t->kl, cmp_double);
  out->kl_median = quantile (t->kl, t->n, 0.5);
  out->kl_p99 = quantile (t->kl, t->n, 0.99);
  out->kl_max = t->n > 0 ? t->kl[t->n - 1] : 0.0;
  out->top1_agreement = (double) t->top1 / n;
  out->rms_dp = sqrt (t->dp2 / n);
}

lk_status
lk_eval_run (lk_ctx *ctx, const lk_tokens *toks, const lk_eval_params *p, const lk_eval_ref *ref_in,
             lk_eval_result *out, lk_error *err)
{
  const lk_vocab *v = lk_model_vocab (lk_ctx_model (ctx));
  const int n_vocab = ctx_n_vocab (ctx);
  lk_eval_ref *ref = (lk_eval_ref *) ref_in; /* a live reference keeps its current chunk */
  int n_ctx, n_chunks;
  lk_status s;
  tally t = { 0 };
  int32_t *chunk = NULL;
  float *lp = NULL;

  memset (out, 0, sizeof *out);
  if (ref != NULL)
    {
      if (ref->n_vocab != n_vocab)
        return lk_error_set (err, LK_ERR_INVALID,
                             "the reference has %d tokens in its vocabulary, the model %d", ref->n_vocab,
                             n_vocab);
      if (ref->n_ctx > lk_ctx_n_ctx (ctx))
        return lk_error_set (err, LK_ERR_INVALID, "the reference's chunks of %d tokens do not fit the "
                             "model's context of %d", ref->n_ctx, lk_ctx_n_ctx (ctx));
      n_ctx = ref->n_ctx;
      n_chunks = ref->n_chunks;
    }
  else if ((s = lk_eval_plan (ctx, p, toks->n, &n_ctx, &n_chunks, err)) != LK_OK)
    return s;
  chunk = malloc ((size_t) n_ctx * sizeof *chunk);
  lp = malloc ((size_t) n_scored (n_ctx) * (size_t) n_vocab * sizeof *lp);
  t.kl = ref != NULL ? malloc ((size_t) n_chunks * (size_t) n_scored (n_ctx) * sizeof *t.kl) : NULL;
  if (chunk == NULL || lp == NULL || (ref != NULL && t.kl == NULL))
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  for (int c = 0; c < n_chunks; c++)
    {
      const float *ref_lp = NULL;
      chunk_tokens (v, toks, n_ctx, c, chunk);
      if (lk_ctx_exit_enabled (ctx))
        s = decode_chunk_stepwise (ctx, chunk, n_ctx, n_vocab, lp, err);
      else if ((s = decode_chunk (ctx, chunk, n_ctx, err)) == LK_OK)
        scored_logprobs (ctx, n_ctx, n_vocab, lp);
      if (s != LK_OK)
        goto out;
      if (ref != NULL && (ref_lp = ref_chunk (ref, c, &s, err)) == NULL)
        goto out;
      for (int i = 0; i < n_scored (n_ctx); i++)
        score_position (&t, lp + (size_t) i * (size_t) n_vocab,
                        ref_lp != NULL ? ref_lp + (size_t) i * (size_t) n_vocab : NULL, n_vocab,
                        chunk[first_scored (n_ctx) + i + 1]);
      if (p->progress != NULL)
        p->progress (p->user, c, n_chunks);
    }
  finish (&t, ref != NULL, out);
  out->n_ctx = n_ctx;
  out->n_chunks = n_chunks;
  s = LK_OK;
out:
  free (chunk);
  free (lp);
  free (t.kl);
  return s;
}
