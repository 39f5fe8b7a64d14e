/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lk-bench.h"
#include "lk-context.h"
#include "lk-kernels.h"

/* "0,512,2048": the depths, each 0 … 1048576; NULL: just 0. */
static gboolean
parse_depths (const char *arg, GArray *out)
{
  g_auto (GStrv) parts = NULL;

  if (arg == NULL)
    {
      g_array_append_val (out, (int) { 0 });
      return TRUE;
    }
  parts = g_strsplit (arg, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 v;
      if (!g_ascii_string_to_unsigned (g_strstrip (parts[i]), 10, 0, 1 << 20, &v, NULL))
        {
          lathe_cli_error (_("--depth: “%s” is not a token count (0 … 1048576; a list like 0,512,2048)"), parts[i]);
          return FALSE;
        }
      g_array_append_val (out, (int) { (int) v });
    }
  if (out->len == 0)
    {
      lathe_cli_error (_("--depth: expected token counts (a list like 0,512,2048)"));
      return FALSE;
    }
  return TRUE;
}

int
lathe_cli_bench (int argc, char **argv)
{
  g_autofree char *model = NULL, *tokenizer = NULL, *kernel = NULL, *load = NULL, *kv = NULL;
  g_autofree char *draft_skip = NULL, *depths_arg = NULL;
  g_autoptr (GArray) depths = g_array_new (FALSE, FALSE, sizeof (int));
  g_auto (LatheCliConditional) cond = { 0 };
  int spec_k = 0;
  int threads = 0, n_prompt = 128, n_gen = 64, reps = 5;
  gboolean json = FALSE, no_bandwidth = FALSE, list = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model, N_("Model file"), N_("FILE") },
    { "tokenizer", 'z', 0, G_OPTION_ARG_FILENAME, &tokenizer,
      N_("tokenizer.bin of a llama2.c checkpoint"), N_("FILE") },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "n-prompt", 'p', 0, G_OPTION_ARG_INT, &n_prompt,
      N_("Prompt tokens processed in one batch (0: skip)"), "N" },
    { "n-gen", 'n', 0, G_OPTION_ARG_INT, &n_gen,
      N_("Tokens generated one at a time (0: skip)"), "N" },
    { "repetitions", 'r', 0, G_OPTION_ARG_INT, &reps, N_("Measured repetitions"), "N" },
    { "depth", 'd', 0, G_OPTION_ARG_STRING, &depths_arg,
      N_("Tokens already in the cache before each test, as llama-bench -d (a list gives a row each: 0,512,2048)"),
      N_("LIST") },
    { "kernel", 0, 0, G_OPTION_ARG_STRING, &kernel,
      N_("Kernel version (see “lathe-cli bench --list-kernels”; default: the best)"), N_("NAME") },
    { "kv-type", 0, 0, G_OPTION_ARG_STRING, &kv, N_("KV cache type: f16 (default), f32 or q8_0"),
      N_("TYPE") },
    { "load", 0, 0, G_OPTION_ARG_STRING, &load, N_("Load weights by read (default) or mmap"),
      N_("MODE") },
    { "no-bandwidth", 0, 0, G_OPTION_ARG_NONE, &no_bandwidth,
      N_("Skip measuring the memory bandwidth"), NULL },
    { "speculative", 0, 0, G_OPTION_ARG_INT, &spec_k,
      N_("Decode test by greedy self-speculative decoding, K drafts per step"), "K" },
    { "draft-skip-layers", 0, 0, G_OPTION_ARG_STRING, &draft_skip,
      N_("The draft: the model without these layers"), N_("LIST") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "list-kernels", 0, 0, G_OPTION_ARG_NONE, &list,
      N_("List the kernel versions this CPU runs, best last, and exit"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("— measure speed"));
  lk_bench_params bp;
  lk_bench_result r;
  lk_error err = { 0 };
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  lathe_cli_conditional_add_options (context, &cond);
  if (!lathe_cli_parse (context, &argc, &argv) || !lathe_cli_conditional_resolve (&cond))
    return 2;
  if (list)
    {
      for (const char *const *names = lk_kernels_available (); *names != NULL; names++)
        printf ("%s%s\n", *names, strcmp (*names, lk_kernels_get ()->name) == 0 ? " (default)" : "");
      return 0;
    }
  if (model == NULL || threads < 0 || n_prompt < 0 || n_gen < 0 || reps < 1
      || (n_prompt == 0 && n_gen == 0))
    {
      lathe_cli_error (_("usage: lathe-cli bench -m MODEL [-t N] [-p 128] [-n 64] [-r 5] [--json]"));
      return 2;
    }
  if (!parse_depths (depths_arg, depths))
    return 2;
  lk_bench_params_init (&bp);
  bp.n_prompt = n_prompt;
  bp.n_gen = n_gen;
  bp.reps = reps;
  bp.n_threads = threads;
  bp.kernel = kernel;
  bp.skip_layers = cond.skip;
  bp.exit_threshold = (float) cond.exit_threshold;
  bp.exit_min_layer = cond.exit_min;
  bp.exit_on_margin = cond.exit_margin;
  bp.moe_top_k = cond.experts_used;
  bp.spec_k = spec_k;
  bp.draft_skip_layers = draft_skip;
  bp.bandwidth = !no_bandwidth;
  if (kernel != NULL && lk_kernels_find (kernel) == NULL)
    {
      lathe_cli_error (_("kernel version “%s” is unknown or cannot run on this CPU"), kernel);
      return 2;
    }
  if (kv != NULL && !lk_kv_type_from_name (kv, &bp.kv_type))
    {
      lathe_cli_error (_("--kv-type expects f16, f32 or q8_0, got “%s”"), kv);
      return 2;
    }
  if (load != NULL && !lk_load_mode_from_name (load, &bp.load_mode))
    {
      lathe_cli_error (_("--load expects read or mmap, got “%s”"), load);
      return 2;
    }
  if (json && depths->len > 1)
    printf ("[\n");
  for (guint i = 0; i < depths->len; i++)
    {
      bp.n_depth = g_array_index (depths, int, i);
      if (lk_bench_run (model, tokenizer, &bp, &r, &err) != LK_OK)
        {
          lathe_error_from_engine (&error, &err);
          return lathe_cli_fail (error);
        }
      if (json && i > 0)
        printf (",\n");
      if (json)
        lk_bench_print_json (&r, stdout);
      else
        {
          if (i > 0)
            putchar ('\n');
          lk_bench_print_text (&r, stdout);
        }
      fflush (stdout);
      lk_bench_result_clear (&r);
    }
  if (json && depths->len > 1)
    printf ("]\n");
  return 0;
}
