/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lk-generate.h"
#include "lk-speculative.h"

double
lk_now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

void
lk_generate_params_init (lk_generate_params *p)
{
  memset (p, 0, sizeof *p);
  lk_sampler_params_init (&p->sampling);
  p->n_predict = 128;
  p->add_bos = true;
}

const char *
lk_stop_reason_name (lk_stop_reason r)
{
  switch (r)
    {
    case LK_STOP_LENGTH: return "length";
    case LK_STOP_EOG: return "end of text";
    case LK_STOP_CONTEXT: return "context full";
    case LK_STOP_CALLBACK: return "stopped";
    case LK_STOP_CANCELLED: return "cancelled";
    default: return "unknown";
    }
}

static bool
cancelled (const lk_generate_params *p)
{
  return p->cancel != NULL && atomic_load (p->cancel);
}

/* Streams a token's text. After BOS, SentencePiece's leading space of the
 * first word is not part of the text. */
static bool
emit (const lk_generate_params *p, const lk_vocab *vocab, int32_t tok, int32_t prev)
{
  char buf[256];
  size_t n = lk_vocab_piece (vocab, tok, false, buf, sizeof buf);
  const char *s = buf;
  char *big = NULL;
  bool go_on;

  if (n > sizeof buf)
    {
      big = malloc (n);
      if (big == NULL)
        return false;
      lk_vocab_piece (vocab, tok, false, big, n);
      s = big;
    }
  if (prev == lk_vocab_bos (vocab) && lk_vocab_get_type (vocab) == LK_VOCAB_SPM && n > 0
      && s[0] == ' ')
    {
      s++;
      n--;
    }
  go_on = p->on_token == NULL || p->on_token (p->user, tok, s, n);
  free (big);
  return go_on;
}

/* Speculative decoding: tokens arrive in bursts of accepted drafts. */
typedef struct
{
  const lk_generate_params *p;
  const lk_vocab *vocab;
  lk_generate_stats *stats;
  lk_ctx *ctx;
  double t0, t_first;
  int32_t prev;
} SpecRun;

static bool
spec_token (void *user, int32_t tok)
{
  SpecRun *r = user;
  lk_generate_stats *st = r->stats;

  if (st->n_generated == 0)
    {
      r->t_first = lk_now_ms ();
      st->ttft_ms = r->t_first - r->t0;
    }
  st->n_generated++;
  if (lk_vocab_is_eog (r->vocab, tok))
    {
      st->stop = LK_STOP_EOG;
      return false;
    }
  if (!emit (r->p, r->vocab, tok, r->prev))
    {
      st->stop = LK_STOP_CALLBACK;
      return false;
    }
  r->prev = tok;
  return true;
}

static lk_status
generate_speculative (lk_ctx *ctx, const lk_tokens *toks, const lk_generate_params *p, lk_generate_stats *stats,
                      double t0, lk_error *err)
{
  SpecRun r = { p, lk_model_vocab (lk_ctx_model (ctx)), stats, ctx, t0, 0, toks->ids[toks->n - 1] };
  const int room = lk_ctx_n_ctx (ctx) - (int) toks->n;
  const int n_gen = p->n_predict > 0 && p->n_predict < room ? p->n_predict : room;
  lk_spec_stats st;
  lk_status s;

  stats->stop = LK_STOP_LENGTH;
  if (n_gen < 1)
    {
      stats->stop = LK_STOP_CONTEXT;
      return LK_OK;
    }
  lk_ctx_set_cancel (p->draft, p->cancel);
  s = lk_speculative_run (ctx, p->draft, toks->ids, (int) toks->n, n_gen, p->spec_k, spec_token, &r, &st, err);
  lk_ctx_set_cancel (p->draft, NULL);
  stats->prompt_ms = r.t_first > 0 ? r.t_first - t0 : lk_now_ms () - t0;
  stats->spec_drafted = st.drafted;
  stats->spec_accepted = st.accepted;
  if (s == LK_OK && stats->stop == LK_STOP_LENGTH && n_gen == room && stats->n_generated >= room)
    stats->stop = LK_STOP_CONTEXT;
  if (stats->n_generated > 0)
    stats->gen_ms = lk_now_ms () - r.t_first;
  lk_spec_stats_clear (&st);
  return s;
}

lk_status
lk_generate (lk_ctx *ctx, const char *prompt, const lk_generate_params *p,
             lk_generate_stats *stats, lk_error *err)
{
  const lk_model *model = lk_ctx_model (ctx);
  const lk_vocab *vocab = lk_model_vocab (model);
  const int n_vocab = lk_model_hparams (model)->n_vocab;
  lk_tokens toks = { 0 };
  lk_sampler *sampler = NULL;
  lk_status s;
  const double t0 = lk_now_ms ();
  double t_first = 0.0;
  int32_t prev;

  memset (stats, 0, sizeof *stats);
  if (vocab == NULL)
    return lk_error_set (err, LK_ERR_INVALID,
                         "%s has no tokenizer: give one (for llama2.c checkpoints, -z "
                         "tokenizer.bin)",
                         lk_model_path (model));
  s = lk_vocab_tokenize (vocab, prompt, strlen (prompt), p->add_bos, p->parse_special, &toks, err);
  if (s != LK_OK)
    return s;
  if (toks.n == 0)
    {
      /* An empty prompt without BOS still needs something to start from. */
      if (lk_vocab_bos (vocab) < 0 || !lk_tokens_push (&toks, lk_vocab_bos (vocab)))
        {
          lk_tokens_clear (&toks);
          return lk_error_set (err, LK_ERR_INVALID, "the prompt is empty and there is no BOS");
        }
    }
  sampler = lk_sampler_new (&p->sampling, n_vocab);
  if (sampler == NULL)
    {
      lk_tokens_clear (&toks);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  for (size_t i = 0; i < toks.n; i++)
    lk_sampler_accept (sampler, toks.ids[i]);
  stats->n_prompt = (int) toks.n;
  lk_ctx_truncate (ctx, 0);
  lk_ctx_set_cancel (ctx, p->cancel);
  if ((int) toks.n > lk_ctx_n_ctx (ctx))
    s = lk_error_set (err, LK_ERR_INVALID, "the prompt has %zu tokens, the context only %d",
                      toks.n, lk_ctx_n_ctx (ctx));
  else if (p->draft != NULL && p->spec_k > 0 && p->sampling.temperature <= 0.0f)
    {
      /* Greedy with a draft: the same text, fewer target steps. */
      s = generate_speculative (ctx, &toks, p, stats, t0, err);
      if (s == LK_ERR_CANCELLED)
        {
          stats->stop = LK_STOP_CANCELLED;
          s = LK_OK;
          lk_error_clear (err);
        }
      lk_ctx_set_cancel (ctx, NULL);
      lk_sampler_free (sampler);
      lk_tokens_clear (&toks);
      return s;
    }
  else
    s = lk_ctx_decode (ctx, toks.ids, (int) toks.n, false, err);
  stats->prompt_ms = lk_now_ms () - t0;
  prev = toks.ids[toks.n - 1];
  stats->stop = LK_STOP_LENGTH;
  while (s == LK_OK)
    {
      int32_t tok;
      if (p->n_predict > 0 && stats->n_generated >= p->n_predict)
        break;
      if (cancelled (p))
        {
          stats->stop = LK_STOP_CANCELLED;
          break;
        }
      tok = lk_sampler_sample (sampler, lk_ctx_logits (ctx, -1));
      lk_sampler_accept (sampler, tok);
      if (stats->n_generated == 0)
        {
          t_first = lk_now_ms ();
          stats->ttft_ms = t_first - t0;
        }
      stats->n_generated++;
      if (lk_vocab_is_eog (vocab, tok))
        {
          stats->stop = LK_STOP_EOG;
          break;
        }
      if (!emit (p, vocab, tok, prev))
        {
          stats->stop = LK_STOP_CALLBACK;
          break;
        }
      prev = tok;
      if (p->n_predict > 0 && stats->n_generated >= p->n_predict)
        break;
      if (lk_ctx_n_past (ctx) >= lk_ctx_n_ctx (ctx))
        {
          stats->stop = LK_STOP_CONTEXT;
          break;
        }
      s = lk_ctx_decode (ctx, &tok, 1, false, err);
    }
  if (s == LK_ERR_CANCELLED)
    {
      stats->stop = LK_STOP_CANCELLED;
      s = LK_OK;
      lk_error_clear (err);
    }
  if (stats->n_generated > 0)
    stats->gen_ms = lk_now_ms () - t_first;
  lk_ctx_set_cancel (ctx, NULL);
  lk_sampler_free (sampler);
  lk_tokens_clear (&toks);
  return s;
}
