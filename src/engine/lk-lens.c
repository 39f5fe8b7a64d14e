/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lk-eval.h"
#include "lk-lens.h"
#include "lk-sampler.h"

typedef struct
{
  lk_ctx *ctx;
  int n_ctx, n_vocab, first;
  const float *final_lp;  /* [n_ctx - first][n_vocab] */
  float *proj, *lp;       /* [n_ctx][n_vocab], [n_vocab] */
  double *kl;
  uint64_t *top1;
  lk_status status;
  lk_error *err;
} lens_state;

static void
layer_cb (void *user, int il, const float *x, int nt, int n_embd)
{
  lens_state *st = user;

  (void) n_embd;
  if (il < 0 || st->status != LK_OK || nt != st->n_ctx)
    return;
  st->status = lk_ctx_project (st->ctx, x, nt, st->proj, st->err);
  for (int pos = st->first; pos < st->n_ctx - 1 && st->status == LK_OK; pos++)
    {
      const float *ref = st->final_lp + (size_t) (pos - st->first) * (size_t) st->n_vocab;
      double kl = 0.0;
      lk_log_softmax (st->proj + (size_t) pos * (size_t) st->n_vocab, st->n_vocab, st->lp);
      for (int v = 0; v < st->n_vocab; v++)
        kl += exp ((double) ref[v]) * ((double) ref[v] - (double) st->lp[v]);
      st->kl[il] += kl > 0.0 ? kl : 0.0;
      st->top1[il] += lk_argmax (ref, st->n_vocab) == lk_argmax (st->lp, st->n_vocab);
    }
}

void
lk_lens_result_clear (lk_lens_result *r)
{
  free (r->kl_mean);
  free (r->top1_agreement);
  memset (r, 0, sizeof *r);
}

lk_status
lk_logit_lens (lk_ctx *ctx, const lk_tokens *toks, int n_ctx, int max_chunks,
               void (*progress) (void *user, int chunk, int n_chunks), void *user,
               lk_lens_result *out, lk_error *err)
{
  const lk_model *m = lk_ctx_model (ctx);
  const lk_vocab *v = lk_model_vocab (m);
  const int n_layer = lk_model_hparams (m)->n_layer, n_vocab = lk_vocab_n_tokens (v);
  lens_state st = { ctx, n_ctx, n_vocab, n_ctx / 2, NULL, NULL, NULL, NULL, NULL, LK_OK, err };
  lk_eval_params ep;
  float *final_lp = NULL;
  int32_t *chunk = NULL;
  int c_ctx, n_chunks;
  lk_status s;

  memset (out, 0, sizeof *out);
  lk_eval_params_init (&ep);
  ep.n_ctx = n_ctx;
  ep.max_chunks = max_chunks;
  if ((s = lk_eval_plan (ctx, &ep, toks->n, &c_ctx, &n_chunks, err)) != LK_OK)
    return s;
  st.n_ctx = c_ctx;
  st.first = c_ctx / 2;
  final_lp = malloc ((size_t) (c_ctx - st.first) * (size_t) n_vocab * sizeof *final_lp);
  st.proj = malloc ((size_t) c_ctx * (size_t) n_vocab * sizeof *st.proj);
  st.lp = malloc ((size_t) n_vocab * sizeof *st.lp);
  st.kl = calloc ((size_t) n_layer, sizeof *st.kl);
  st.top1 = calloc ((size_t) n_layer, sizeof *st.top1);
  chunk = malloc ((size_t) c_ctx * sizeof *chunk);
  st.final_lp = final_lp;
  if (final_lp == NULL || st.proj == NULL || st.lp == NULL || st.kl == NULL || st.top1 == NULL
      || chunk == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory for the logit lens");
      goto out;
    }
  for (int c = 0; c < n_chunks && s == LK_OK; c++)
    {
      memcpy (chunk, toks->ids + (size_t) c * (size_t) c_ctx, (size_t) c_ctx * sizeof *chunk);
      if (lk_vocab_bos (v) >= 0)
        chunk[0] = lk_vocab_bos (v);
      /* The final distributions first, then every layer against them. */
      lk_ctx_truncate (ctx, 0);
      if ((s = lk_ctx_decode (ctx, chunk, c_ctx, true, err)) != LK_OK)
        break;
      for (int pos = st.first; pos < c_ctx - 1; pos++)
        lk_log_softmax (lk_ctx_logits (ctx, pos), n_vocab,
                        final_lp + (size_t) (pos - st.first) * (size_t) n_vocab);
      lk_ctx_truncate (ctx, 0);
      lk_ctx_set_observers (ctx, NULL, layer_cb, &st);
      s = lk_ctx_decode (ctx, chunk, c_ctx, false, err);
      lk_ctx_set_observers (ctx, NULL, NULL, NULL);
      if (s == LK_OK)
        s = st.status;
      if (s == LK_OK && progress != NULL)
        progress (user, c, n_chunks);
    }
  if (s == LK_OK)
    {
      const uint64_t scored = (uint64_t) n_chunks * (uint64_t) (c_ctx - 1 - st.first);
      out->n_layer = n_layer;
      out->kl_mean = calloc ((size_t) n_layer, sizeof *out->kl_mean);
      out->top1_agreement = calloc ((size_t) n_layer, sizeof *out->top1_agreement);
      if (out->kl_mean == NULL || out->top1_agreement == NULL)
        {
          lk_lens_result_clear (out);
          s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
          goto out;
        }
      for (int il = 0; il < n_layer; il++)
        {
          out->kl_mean[il] = st.kl[il] / (double) scored;
          out->top1_agreement[il] = (double) st.top1[il] / (double) scored;
        }
      out->tokens = scored;
      out->n_ctx = c_ctx;
      out->n_chunks = n_chunks;
    }
out:
  free (final_lp);
  free (st.proj);
  free (st.lp);
  free (st.kl);
  free (st.top1);
  free (chunk);
  return s;
}
