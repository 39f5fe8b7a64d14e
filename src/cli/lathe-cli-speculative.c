/* SPDX-License-Identifier: MIT */
/* generate --speculative: greedy speculative decoding with a draft that is
 * the model itself with layers skipped or early exit, or another model. */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-model.h"
#include "lk-generate.h"
#include "lk-sampler.h"
#include "lk-speculative.h"

static lk_ctx *
context_for (LatheModel *m, int n_ctx, int n_threads, GError **error)
{
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };

  lk_ctx_params_init (&cp);
  cp.n_ctx = n_ctx;
  cp.n_threads = n_threads;
  if (lk_ctx_new (lathe_model_get_engine (m), &cp, &ctx, &err) != LK_OK)
    lathe_error_from_engine (error, &err);
  return ctx;
}

/* Plain greedy decoding of n tokens after the prompt, for comparison. */
static gboolean
greedy (lk_ctx *ctx, const lk_tokens *prompt, int n, int32_t *out, double *ms, GError **error)
{
  const lk_vocab *v = lk_model_vocab (lk_ctx_model (ctx));
  const int n_vocab = lk_model_hparams (lk_ctx_model (ctx))->n_vocab;
  lk_error err = { 0 };
  double t0;
  int32_t tok;

  lk_ctx_truncate (ctx, 0);
  if (lk_ctx_decode (ctx, prompt->ids, (int) prompt->n, false, &err) != LK_OK)
    goto fail;
  t0 = lk_now_ms ();
  tok = lk_argmax (lk_ctx_logits (ctx, -1), n_vocab);
  out[0] = tok;
  for (int i = 1; i < n && !lk_vocab_is_eog (v, tok); i++)
    {
      if (lk_ctx_decode (ctx, &tok, 1, false, &err) != LK_OK)
        goto fail;
      tok = out[i] = lk_argmax (lk_ctx_logits (ctx, -1), n_vocab);
    }
  *ms = lk_now_ms () - t0;
  return TRUE;
fail:
  lathe_error_from_engine (error, &err);
  return FALSE;
}

static void
print_tokens (LatheModel *m, const char *prompt, const int32_t *toks, int n)
{
  const lk_vocab *v = lk_model_vocab (lathe_model_get_engine (m));
  char piece[256];

  fputs (prompt, stdout);
  for (int i = 0; i < n; i++)
    {
      const size_t len = lk_vocab_piece (v, toks[i], false, piece, sizeof piece);
      fwrite (piece, 1, MIN (len, sizeof piece), stdout);
    }
  fputc ('\n', stdout);
}

static void
print_stats (const lk_spec_stats *st)
{
  fprintf (stderr, _("speculative: k = %d, %llu rounds, %llu of %llu drafted tokens accepted (%.1f %%), "
                     "%.2f tokens per target step, %.1f tok/s\n"),
           st->k, (unsigned long long) st->rounds, (unsigned long long) st->accepted,
           (unsigned long long) st->drafted,
           st->drafted ? 100.0 * (double) st->accepted / (double) st->drafted : 0.0,
           st->rounds ? (double) st->n_generated / (double) st->rounds : 0.0,
           st->ms > 0 ? (st->n_generated - 1) * 1e3 / st->ms : 0.0);
  fprintf (stderr, _("acceptance by draft position:"));
  for (int i = 0; i < st->k; i++)
    fprintf (stderr, " %.2f", st->reached[i] ? (double) st->accepted_at[i] / (double) st->reached[i] : 0.0);
  fputc ('\n', stderr);
}

int
lathe_cli_run_speculative (const LatheSpeculativeArgs *a)
{
  g_autoptr (LatheModel) model = NULL, draft_model = NULL;
  g_autofree int32_t *out = NULL, *plain = NULL;
  lk_ctx *target = NULL, *draft = NULL;
  lk_tokens prompt = { 0 };
  lk_spec_stats st = { 0 };
  lk_error err = { 0 };
  GError *error = NULL;
  int n_out = 0, status = 1;
  const int n_ctx = a->n_ctx > 0 ? a->n_ctx : 0;

  if ((model = lathe_model_load (a->model, a->tokenizer, NULL, &error)) == NULL
      || (a->draft != NULL && (draft_model = lathe_model_load (a->draft, NULL, NULL, &error)) == NULL))
    return lathe_cli_fail (error);
  if (lk_vocab_tokenize (lk_model_vocab (lathe_model_get_engine (model)), a->prompt, strlen (a->prompt),
                         true, false, &prompt, &err) != LK_OK
      || prompt.n == 0)
    {
      if (prompt.n == 0 && err.message[0] == '\0')
        lk_error_set (&err, LK_ERR_INVALID, "the prompt has no tokens");
      lathe_error_from_engine (&error, &err);
      return lathe_cli_fail (error);
    }
  if ((target = context_for (model, n_ctx, a->n_threads, &error)) == NULL
      || (draft = context_for (draft_model ? draft_model : model, n_ctx, a->n_threads, &error)) == NULL
      || !lathe_apply_conditional (draft, a->draft_skip, a->draft_exit, a->draft_exit_min, &error))
    goto done;
  out = g_new (int32_t, a->n_predict);
  if (lk_speculative_generate (target, draft, prompt.ids, (int) prompt.n, a->n_predict, a->k, out, &n_out,
                               &st, &err) != LK_OK)
    {
      lathe_error_from_engine (&error, &err);
      goto done;
    }
  print_tokens (model, a->prompt, out, n_out);
  print_stats (&st);
  if (a->compare)
    {
      double ms = 0;
      plain = g_new0 (int32_t, a->n_predict);
      if (!greedy (target, &prompt, n_out, plain, &ms, &error))
        goto done;
      fprintf (stderr, _("plain greedy: %.1f tok/s; speculative is %.2f× as fast; outputs %s\n"),
               ms > 0 ? (n_out - 1) * 1e3 / ms : 0.0, st.ms > 0 ? ms / st.ms : 0.0,
               memcmp (out, plain, (gsize) n_out * sizeof *out) == 0 ? _("identical") : _("DIFFER"));
      if (memcmp (out, plain, (gsize) n_out * sizeof *out) != 0)
        goto done;
    }
  status = 0;
done:
  if (error != NULL)
    status = lathe_cli_fail (error);
  lk_spec_stats_clear (&st);
  lk_tokens_clear (&prompt);
  lk_ctx_free (draft);
  lk_ctx_free (target);
  return status;
}
