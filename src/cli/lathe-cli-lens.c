/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-eval.h"
#include "lathe-json.h"

int
lathe_cli_logit_lens (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *text = NULL;
  int n_ctx = 0, chunks = 0, threads = 0;
  gboolean json = FALSE, quiet = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, N_("Model file"), N_("FILE") },
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &text, N_("Evaluation text"), N_("FILE") },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, N_("Tokens per chunk (default 256)"), "N" },
    { "chunks", 0, 0, G_OPTION_ARG_INT, &chunks, N_("At most N chunks (0: all)"), "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("— per layer, how close stopping there comes to the full model's prediction"));
  g_autoptr (LatheModel) model = NULL;
  LatheEvalOptions o;
  lk_lens_result r;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (model_path == NULL || text == NULL || argc != 1 || n_ctx < 0 || chunks < 0 || threads < 0)
    {
      lathe_cli_error (_("usage: lathe-cli logit-lens -m MODEL -f TEXT [--ctx N] [--chunks N] [--json]"));
      return 2;
    }
  model = lathe_model_load (model_path, NULL, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  lathe_eval_options_init (&o);
  o.n_ctx = n_ctx;
  o.max_chunks = chunks;
  o.n_threads = threads;
  if (!quiet)
    o.progress = lathe_cli_chunk_progress;
  if (!lathe_logit_lens (model, text, &o, &r, NULL, &error))
    return lathe_cli_fail (error);
  if (json)
    {
      g_autoptr (JsonNode) node = lathe_lens_result_to_json (&r);
      g_autofree char *s = lathe_json_to_string (node, TRUE);
      puts (s);
    }
  else
    {
      printf (_("logit lens of %s: %llu tokens (%d chunks of %d)\n\n"), model_path,
              (unsigned long long) r.tokens, r.n_chunks, r.n_ctx);
      printf ("  %5s  %12s  %8s\n", _("layer"), _("mean KL"), _("top-1"));
      for (int il = 0; il < r.n_layer; il++)
        printf ("  %5d  %12.6f  %7.2f %%\n", il, r.kl_mean[il], 100.0 * r.top1_agreement[il]);
    }
  lk_lens_result_clear (&r);
  return 0;
}
