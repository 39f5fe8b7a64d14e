/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib-unix.h>
#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-generator.h"

static gboolean
write_bytes_cb (const char *bytes, gsize len, gpointer user_data)
{
  fwrite (bytes, 1, len, stdout);
  fflush (stdout);
  return TRUE;
}

static gboolean
sigint_cb (gpointer data)
{
  g_cancellable_cancel (G_CANCELLABLE (data));
  return G_SOURCE_CONTINUE;
}

typedef struct
{
  LatheGenerator *gen;
  const char *prompt;
  LatheGenerationStats stats;
  GCancellable *cancellable;
  GError *error;
  gboolean ok;
  GMainLoop *loop;
} RunData;

static gpointer
run_thread (gpointer data)
{
  RunData *rd = data;

  rd->ok = lathe_generator_run (rd->gen, rd->prompt, write_bytes_cb, NULL, &rd->stats,
                                rd->cancellable, &rd->error);
  g_main_loop_quit (rd->loop);
  return NULL;
}

int
lathe_cli_generate (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *tokenizer = NULL, *prompt = NULL;
  int n_predict = 128, n_ctx = 0, n_threads = 0, top_k = 40;
  double temp = 0.8, top_p = 0.95, min_p = 0.05, repeat_penalty = 1.0;
  gint64 seed = 42;
  g_autofree char *draft = NULL, *draft_skip = NULL;
  g_auto (LatheCliConditional) cond = { 0 };
  double draft_exit = 1.0;
  int speculative = 0, draft_exit_min = 0;
  gboolean compare = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, N_("Model file"), N_("FILE") },
    { "tokenizer", 'z', 0, G_OPTION_ARG_FILENAME, &tokenizer,
      N_("tokenizer.bin of a llama2.c checkpoint"), N_("FILE") },
    { "prompt", 'p', 0, G_OPTION_ARG_STRING, &prompt, N_("Prompt"), N_("TEXT") },
    { "n-predict", 'n', 0, G_OPTION_ARG_INT, &n_predict,
      N_("Tokens to generate (0: until the context is full)"), "N" },
    { "ctx-size", 'c', 0, G_OPTION_ARG_INT, &n_ctx, N_("Context size (default: the model's)"),
      "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &n_threads, N_("Threads (default: all cores)"), "N" },
    { "temp", 0, 0, G_OPTION_ARG_DOUBLE, &temp, N_("Temperature (0: greedy)"), "T" },
    { "top-k", 0, 0, G_OPTION_ARG_INT, &top_k, N_("Keep the K most likely tokens (0: all)"),
      "K" },
    { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &top_p, N_("Nucleus sampling threshold"), "P" },
    { "min-p", 0, 0, G_OPTION_ARG_DOUBLE, &min_p,
      N_("Drop tokens less likely than P times the best"), "P" },
    { "repeat-penalty", 0, 0, G_OPTION_ARG_DOUBLE, &repeat_penalty,
      N_("Penalty for repeated tokens (1: off)"), "R" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, N_("Random seed"), "S" },
    { "speculative", 0, 0, G_OPTION_ARG_INT, &speculative,
      N_("Greedy speculative decoding: K draft tokens per target step"), "K" },
    { "draft", 0, 0, G_OPTION_ARG_FILENAME, &draft,
      N_("Draft model (same vocabulary; default: the model itself)"), N_("FILE") },
    { "draft-skip-layers", 0, 0, G_OPTION_ARG_STRING, &draft_skip,
      N_("Self-speculative draft: the model without these layers"), N_("LIST") },
    { "draft-exit", 0, 0, G_OPTION_ARG_DOUBLE, &draft_exit,
      N_("Self-speculative draft: early exit at this probability"), "T" },
    { "draft-exit-min-layer", 0, 0, G_OPTION_ARG_INT, &draft_exit_min,
      N_("First layer the draft may exit after"), "L" },
    { "compare", 0, 0, G_OPTION_ARG_NONE, &compare,
      N_("Also decode plainly: report the speed-up and check the outputs are identical"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("— generate text"));
  g_autoptr (LatheModel) model = NULL;
  g_autoptr (LatheGenerator) gen = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  GError *error = NULL;
  RunData rd = { 0 };
  GThread *thread;
  guint sigint;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  lathe_cli_conditional_add_options (context, &cond);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (!lathe_cli_conditional_resolve (&cond))
    return 2;
  if (model_path == NULL)
    {
      lathe_cli_error (_("give a model with -m FILE"));
      return 2;
    }
  if (n_predict < 0 || n_ctx < 0 || n_threads < 0 || top_k < 0 || temp < 0 || top_p < 0
      || top_p > 1 || min_p < 0 || min_p > 1 || repeat_penalty <= 0 || seed < 0)
    {
      lathe_cli_error (_("sampling options out of range (counts and seed ≥ 0, "
                         "top-p and min-p in 0..1, repeat penalty > 0)"));
      return 2;
    }
  if (speculative > 0)
    {
      const LatheSpeculativeArgs sa = { model_path, tokenizer, prompt ? prompt : "", draft, draft_skip,
                                        (float) draft_exit, draft_exit_min, speculative,
                                        n_predict > 0 ? n_predict : 128, n_ctx, n_threads, compare };
      if (temp != 0.0)
        {
          lathe_cli_error (_("--speculative is greedy: give --temp 0"));
          return 2;
        }
      if (draft == NULL && draft_skip == NULL && draft_exit >= 1.0)
        {
          lathe_cli_error (_("--speculative needs a draft: --draft MODEL, --draft-skip-layers LIST "
                             "or --draft-exit T"));
          return 2;
        }
      return lathe_cli_run_speculative (&sa);
    }
  model = lathe_model_load (model_path, tokenizer, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  gen = g_object_new (LATHE_TYPE_GENERATOR, "model", model, "temperature", temp, "top-k", top_k,
                      "top-p", top_p, "min-p", min_p, "repeat-penalty", repeat_penalty, "seed",
                      (guint64) seed, "n-predict", n_predict, "n-ctx", n_ctx, "n-threads",
                      n_threads, "skip-layers", cond.skip, "exit-threshold", cond.exit_threshold,
                      "exit-min-layer", cond.exit_min, "experts-used", cond.experts_used,
                      "exit-on-margin", cond.exit_margin, NULL);
  fputs (prompt ? prompt : "", stdout);
  fflush (stdout);

  /* Generation runs in a thread so that Ctrl+C stops it cleanly. */
  rd = (RunData) { gen, prompt ? prompt : "", { 0 }, cancellable, NULL, FALSE, loop };
  sigint = g_unix_signal_add (SIGINT, sigint_cb, cancellable);
  thread = g_thread_new ("generate", run_thread, &rd);
  g_main_loop_run (loop);
  g_thread_join (thread);
  g_source_remove (sigint);

  fputc ('\n', stdout);
  fflush (stdout);
  if (!rd.ok)
    return lathe_cli_fail (rd.error);
  fprintf (stderr,
           _("prompt: %d tokens, %.1f ms (%.1f tok/s); generated: %d tokens, %.1f tok/s; "
             "first token after %.1f ms; %.2f layers per token; stop: %s\n"),
           rd.stats.n_prompt, rd.stats.prompt_ms, rd.stats.prompt_tps, rd.stats.n_generated,
           rd.stats.decode_tps, rd.stats.ttft_ms, rd.stats.layers_mean, rd.stats.stop_reason);
  return 0;
}
