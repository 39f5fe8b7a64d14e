/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "lk-generate.h"
#include "lk-sampler.h"
#include "lk-speculative.h"

void
lk_spec_stats_clear (lk_spec_stats *st)
{
  free (st->reached);
  free (st->accepted_at);
  memset (st, 0, sizeof *st);
}

static int
n_vocab_of (const lk_ctx *ctx)
{
  return lk_model_hparams (lk_ctx_model (ctx))->n_vocab;
}

static bool
is_end (const lk_ctx *ctx, int32_t tok)
{
  const lk_vocab *v = lk_model_vocab (lk_ctx_model (ctx));

  return v != NULL && lk_vocab_is_eog (v, tok);
}

/* Hands a generated token on; false when the run should end there. */
static bool
give (lk_spec_token_fn fn, void *user, int *done, int32_t tok, bool *stopped)
{
  (*done)++;
  if (!fn (user, tok))
    {
      *stopped = true;
      return false;
    }
  return true;
}

lk_status
lk_speculative_run (lk_ctx *target, lk_ctx *draft, const int32_t *prompt, int n_prompt, int n_gen, int k,
                    lk_spec_token_fn fn, void *user, lk_spec_stats *st, lk_error *err)
{
  bool stopped = false;
  const int n_vocab = n_vocab_of (target);
  int32_t *batch = malloc ((size_t) (k + 1) * sizeof *batch);
  int32_t *pending = malloc ((size_t) (k + 2) * sizeof *pending);
  int n_pending = 0, done = 0;
  int32_t tok;
  double t0;
  lk_status s;

  memset (st, 0, sizeof *st);
  st->k = k;
  st->reached = calloc ((size_t) (k > 0 ? k : 1), sizeof *st->reached);
  st->accepted_at = calloc ((size_t) (k > 0 ? k : 1), sizeof *st->accepted_at);
  if (batch == NULL || pending == NULL || st->reached == NULL || st->accepted_at == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  if (k < 1 || k > 64 || n_prompt < 1 || n_gen < 1)
    {
      s = lk_error_set (err, LK_ERR_INVALID, "speculative decoding: k = %d (1..64), %d prompt tokens, "
                        "%d to generate", k, n_prompt, n_gen);
      goto out;
    }
  if (n_vocab_of (draft) != n_vocab)
    {
      s = lk_error_set (err, LK_ERR_INVALID, "the draft model has %d tokens in its vocabulary, the "
                        "target %d: they must share one", n_vocab_of (draft), n_vocab);
      goto out;
    }
  lk_ctx_truncate (target, 0);
  lk_ctx_truncate (draft, 0);
  if ((s = lk_ctx_decode (target, prompt, n_prompt, false, err)) != LK_OK
      || (n_prompt > 1 && (s = lk_ctx_decode (draft, prompt, n_prompt - 1, false, err)) != LK_OK))
    goto out;
  t0 = lk_now_ms ();
  /* The draft has seen the prompt but its last token: that one starts the
   * first round, as every round starts from the tokens it has not seen. */
  pending[n_pending++] = prompt[n_prompt - 1];
  tok = lk_argmax (lk_ctx_logits (target, -1), n_vocab);
  if (!give (fn, user, &done, tok, &stopped))
    goto finished;
  while (done < n_gen && !is_end (target, tok))
    {
      const int base = lk_ctx_n_past (target); /* where tok goes */
      const int room = lk_ctx_n_ctx (target) - base - 1;
      int kk = k < n_gen - done ? k : n_gen - done, j = 0;
      if (kk > room)
        kk = room;
      /* A full context ends generation, as it does plain decoding. */
      if (kk < 1 || base + 1 > lk_ctx_n_ctx (draft))
        break;
      /* Draft kk tokens: first catch up with what it has not seen. */
      pending[n_pending++] = tok;
      batch[0] = tok;
      for (int i = 0; i < kk; i++)
        {
          const int32_t *in = i == 0 ? pending : &batch[i];
          const int n_in = i == 0 ? n_pending : 1;
          if ((s = lk_ctx_decode (draft, in, n_in, false, err)) != LK_OK)
            goto out;
          batch[i + 1] = lk_argmax (lk_ctx_logits (draft, -1), n_vocab);
        }
      n_pending = 0;
      /* Verify: the target reads tok and the drafts, all logits kept. */
      if ((s = lk_ctx_decode (target, batch, kk + 1, true, err)) != LK_OK)
        goto out;
      st->rounds++;
      st->drafted += (uint64_t) kk;
      while (j < kk)
        {
          const int32_t want = lk_argmax (lk_ctx_logits (target, j), n_vocab);
          st->reached[j]++;
          if (want != batch[j + 1])
            break;
          st->accepted_at[j]++;
          j++;
        }
      st->accepted += (uint64_t) j;
      /* Keep tok and the accepted drafts; the target's own next token ends
       * the round (it has not been read by either model yet). */
      lk_ctx_truncate (target, base + 1 + j);
      if (lk_ctx_n_past (draft) > base + 1 + j)
        lk_ctx_truncate (draft, base + 1 + j);
      /* Accepted drafts the draft has not read (the last one, when all were
       * kept) are read at the start of the next round. */
      for (int i = lk_ctx_n_past (draft) - base; i <= j; i++)
        if (i >= 1)
          pending[n_pending++] = batch[i];
      for (int i = 1; i <= j && done < n_gen; i++)
        if (!give (fn, user, &done, batch[i], &stopped) || is_end (target, batch[i]))
          goto finished;
      if (done >= n_gen)
        break;
      tok = lk_argmax (lk_ctx_logits (target, j), n_vocab);
      if (!give (fn, user, &done, tok, &stopped))
        goto finished;
    }
finished:
  st->ms = lk_now_ms () - t0;
  st->n_generated = done;
  st->stopped = stopped;
  s = LK_OK;
out:
  free (batch);
  free (pending);
  return s;
}

typedef struct
{
  int32_t *out;
  int n;
} Collect;

static bool
collect (void *user, int32_t tok)
{
  Collect *c = user;

  c->out[c->n++] = tok;
  return true;
}

lk_status
lk_speculative_generate (lk_ctx *target, lk_ctx *draft, const int32_t *prompt, int n_prompt,
                         int n_gen, int k, int32_t *out, int *n_out, lk_spec_stats *st, lk_error *err)
{
  Collect c = { out, 0 };
  lk_status s = lk_speculative_run (target, draft, prompt, n_prompt, n_gen, k, collect, &c, st, err);

  *n_out = c.n;
  return s;
}
