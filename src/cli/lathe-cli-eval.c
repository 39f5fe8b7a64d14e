/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-eval.h"
#include "lathe-json.h"

static void
print_text (const char *model_path, const char *ref, const lk_eval_result *r)
{
  printf (_("model          %s\n"), model_path);
  printf (_("scored         %llu tokens (%d chunks of %d, second halves)\n"),
          (unsigned long long) r->tokens, r->n_chunks, r->n_ctx);
  printf (_("perplexity     %.4f\n"), r->perplexity);
  printf (_("layers run     %.2f of %d per token\n"), r->layers_mean, r->n_layer);
  if (!r->has_ref)
    return;
  printf (_("reference      %s (perplexity %.4f)\n"), ref ? ref : _("the model itself"),
          r->ref_perplexity);
  printf (_("KL divergence  mean %.6f, median %.6f, p99 %.6f, max %.6f\n"), r->kl_mean,
          r->kl_median, r->kl_p99, r->kl_max);
  printf (_("top-1 agree    %.2f %%\n"), 100.0 * r->top1_agreement);
  printf (_("RMS Δp         %.4f %%\n"), 100.0 * r->rms_dp);
}

int
lathe_cli_eval (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *text = NULL, *ref = NULL, *save_ref = NULL;
  g_auto (LatheCliConditional) cond = { 0 };
  int n_ctx = 0, chunks = 0, threads = 0;
  gboolean json = FALSE, quiet = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, N_("Model file"), N_("FILE") },
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &text, N_("Evaluation text"), N_("FILE") },
    { "ref", 0, 0, G_OPTION_ARG_FILENAME, &ref,
      N_("Reference: a model, or log-probabilities saved with --save-ref"), N_("FILE") },
    { "save-ref", 0, 0, G_OPTION_ARG_FILENAME, &save_ref,
      N_("Save the reference's log-probabilities (the model's own without --ref)"), N_("FILE") },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, N_("Tokens per chunk (default 256)"), "N" },
    { "chunks", 0, 0, G_OPTION_ARG_INT, &chunks, N_("Evaluate at most N chunks (0: all)"), "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("— perplexity, and KL divergence and top-1 agreement against a reference"));
  g_autoptr (LatheModel) model = NULL;
  LatheEvalOptions o;
  lk_eval_result r;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  lathe_cli_conditional_add_options (context, &cond);
  if (!lathe_cli_parse (context, &argc, &argv) || !lathe_cli_conditional_resolve (&cond))
    return 2;
  if (model_path == NULL || text == NULL || argc != 1)
    {
      lathe_cli_error (_("usage: lathe-cli eval -m MODEL -f TEXT [--ref REFERENCE] [--ctx N] [--json]"));
      return 2;
    }
  if (n_ctx < 0 || chunks < 0 || threads < 0)
    {
      lathe_cli_error (_("--ctx, --chunks and --threads must be ≥ 0"));
      return 2;
    }
  model = lathe_model_load (model_path, NULL, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  lathe_eval_options_init (&o);
  o.n_ctx = n_ctx;
  o.max_chunks = chunks;
  o.n_threads = threads;
  o.save_ref = save_ref;
  o.skip_layers = cond.skip;
  o.exit_threshold = (float) cond.exit_threshold;
  o.exit_min_layer = cond.exit_min;
  o.experts_used = cond.experts_used;
  o.exit_on_margin = cond.exit_margin;
  if (!quiet)
    o.progress = lathe_cli_chunk_progress;
  if (!lathe_eval_run (model, text, ref, &o, &r, NULL, &error))
    return lathe_cli_fail (error);
  if (json)
    {
      g_autoptr (JsonNode) node = lathe_eval_result_to_json (&r);
      g_autofree char *s = lathe_json_to_string (node, TRUE);
      puts (s);
    }
  else
    print_text (model_path, ref, &r);
  return 0;
}
