/* SPDX-License-Identifier: MIT */
/* lathe-run: the engine alone, for devices and bundles. Statically linked,
 * no GLib; every command prints plain text or JSON. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-bench.h"
#include "lk-context.h"
#include "lk-generate.h"
#include "lk-kernels.h"
#include "lk-model.h"
#include "runner-args.h"

static void
usage (FILE *fp)
{
  fprintf (fp,
           "Usage: lathe-run COMMAND [OPTIONS]\n"
           "\n"
           "Commands:\n"
           "  generate   generate text: -m MODEL -p PROMPT [-n N] [sampling options]\n"
           "  tokenize   print the token ids of TEXT: -m MODEL TEXT\n"
           "  bench      measure speed: -m MODEL [-t N] [-p 128] [-n 64] [-d 0] [-r 5] [--json]\n"
           "             (-p and -n are the prompt and generated token counts here, -d the\n"
           "             tokens already in the cache, as llama-bench: a list gives a row each;\n"
           "             --progress: a 'lathe-progress DONE TOTAL NEXT' line per step on stderr)\n"
           "  version    print the version and the kernel versions this CPU runs\n"
           "\n"
           "Options:\n"
           "  -m, --model FILE        GGUF file or llama2.c checkpoint\n"
           "  -z, --tokenizer FILE    tokenizer.bin for llama2.c checkpoints\n"
           "  -p, --prompt TEXT       prompt (default: empty)\n"
           "  -n, --n-predict N       tokens to generate (default 128; 0: until full)\n"
           "  -c, --ctx-size N        context size (default: the model's)\n"
           "  -t, --threads N         threads (default: all cores)\n"
           "      --temp T            temperature (0: greedy; default 0.8)\n"
           "      --top-k K --top-p P --min-p P --repeat-penalty R --seed S\n"
           "      --kernel NAME       force a kernel version (see 'lathe-run version')\n"
           "      --kv-type TYPE      KV cache type: f16 (default), f32 or q8_0\n"
           "      --load read|mmap    how to load the weights (default read)\n"
           "      --skip-layers LIST  skip these layers (e.g. 3,5-7; default: as the file says)\n"
           "      --exit-threshold T  early exit at top-token probability T (1: never)\n"
           "      --exit-min-layer L  first layer to try an exit after\n"
           "      --exit-on-margin    exit on the top token's lead over the second\n"
           "      --experts-used K    mixture of experts: experts per token (default: the model's)\n"
           "      --speculative K     bench: greedy self-speculative decoding, K drafts per step\n"
           "      --draft-skip-layers LIST  the draft: the model without these layers\n");
}

/* --skip-layers and --exit-threshold, when given, replace what the file says. */
static lk_status
set_conditional (const runner_args *a, lk_ctx *ctx, lk_error *err)
{
  const int n = lk_model_hparams (lk_ctx_model (ctx))->n_layer;
  bool *skip = NULL;
  lk_cond_params cp;
  lk_status s = LK_OK;

  if (a->skip_layers == NULL && a->exit_threshold <= 0.0f && a->moe_top_k == 0 && !a->exit_on_margin)
    return LK_OK;
  lk_cond_params_init (&cp);
  cp.moe_top_k = a->moe_top_k;
  cp.exit_on_margin = a->exit_on_margin;
  cp.exit_threshold = a->exit_threshold > 0.0f ? a->exit_threshold : 1.0f;
  cp.exit_min_layer = a->exit_min_layer;
  if (a->skip_layers != NULL)
    {
      if ((skip = malloc ((size_t) n * sizeof *skip)) == NULL)
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      s = lk_cond_parse_layers (a->skip_layers, n, skip, err);
      cp.skip = skip;
    }
  if (s == LK_OK)
    s = lk_ctx_set_conditional (ctx, &cp, err);
  free (skip);
  return s;
}

static bool
print_token (void *user, int32_t token, const char *piece, size_t len)
{
  (void) user;
  (void) token;
  fwrite (piece, 1, len, stdout);
  fflush (stdout);
  return true;
}

static int
open_model (const runner_args *a, lk_model **model, lk_ctx **ctx)
{
  lk_model_params mp;
  lk_ctx_params cp;
  lk_error err = { 0 };

  lk_model_params_init (&mp);
  mp.load_mode = a->load_mode;
  mp.tokenizer_path = a->tokenizer;
  mp.kernel = a->kernel;
  if (lk_model_open (a->model, &mp, model, &err) != LK_OK)
    {
      fprintf (stderr, "lathe-run: %s\n", err.message);
      return 1;
    }
  if (ctx == NULL)
    return 0;
  lk_ctx_params_init (&cp);
  cp.n_ctx = a->n_ctx;
  cp.n_threads = a->n_threads;
  cp.kernel = a->kernel;
  cp.kv_type = a->kv_type;
  *ctx = NULL;
  if (lk_ctx_new (*model, &cp, ctx, &err) != LK_OK || set_conditional (a, *ctx, &err) != LK_OK)
    {
      fprintf (stderr, "lathe-run: %s\n", err.message);
      lk_ctx_free (*ctx);
      lk_model_free (*model);
      return 1;
    }
  return 0;
}

static int
cmd_generate (const runner_args *a)
{
  lk_model *model;
  lk_ctx *ctx;
  lk_generate_params gp;
  lk_generate_stats st;
  lk_error err = { 0 };
  int rc;

  if ((rc = open_model (a, &model, &ctx)) != 0)
    return rc;
  lk_generate_params_init (&gp);
  gp.sampling = a->sampling;
  gp.n_predict = a->n_predict;
  gp.on_token = print_token;
  fputs (a->prompt, stdout);
  fflush (stdout);
  if (lk_generate (ctx, a->prompt, &gp, &st, &err) != LK_OK)
    {
      fprintf (stderr, "\nlathe-run: %s\n", err.message);
      rc = 1;
    }
  else
    {
      fputc ('\n', stdout);
      fflush (stdout);
      fprintf (stderr,
               "prompt: %d tokens in %.1f ms (%.1f tok/s); generated %d tokens, "
               "%.1f tok/s; stop: %s\n",
               st.n_prompt, st.prompt_ms, st.prompt_ms > 0 ? st.n_prompt * 1e3 / st.prompt_ms : 0,
               st.n_generated,
               st.gen_ms > 0 ? (st.n_generated - 1) * 1e3 / st.gen_ms : 0.0,
               lk_stop_reason_name (st.stop));
    }
  lk_ctx_free (ctx);
  lk_model_free (model);
  return rc;
}

static int
cmd_tokenize (const runner_args *a)
{
  lk_model *model;
  lk_tokens toks = { 0 };
  lk_error err = { 0 };
  int rc;

  if (a->text == NULL)
    {
      fprintf (stderr, "lathe-run tokenize: give the TEXT to tokenize\n");
      return 2;
    }
  if ((rc = open_model (a, &model, NULL)) != 0)
    return rc;
  if (lk_model_vocab (model) == NULL)
    {
      fprintf (stderr, "lathe-run: %s has no tokenizer (use -z)\n", a->model);
      lk_model_free (model);
      return 1;
    }
  if (lk_vocab_tokenize (lk_model_vocab (model), a->text, strlen (a->text), false, false, &toks,
                         &err)
      != LK_OK)
    {
      fprintf (stderr, "lathe-run: %s\n", err.message);
      rc = 1;
    }
  for (size_t i = 0; i < toks.n; i++)
    printf (i ? " %d" : "%d", toks.ids[i]);
  printf ("\n");
  lk_tokens_clear (&toks);
  lk_model_free (model);
  return rc;
}

/* "lathe-progress DONE TOTAL NEXT" on stderr, for whoever runs us. */
static void
print_progress (void *user, int done, int total, const char *next)
{
  fprintf (stderr, "lathe-progress %d %d %s\n", done, total, next);
  fflush (stderr);
}

static int
cmd_bench (const runner_args *a, const char *n_prompt)
{
  lk_bench_params bp;
  lk_bench_result r;
  lk_error err = { 0 };
  char *end;

  lk_bench_params_init (&bp);
  if (n_prompt != NULL)
    {
      long v = strtol (n_prompt, &end, 10);
      if (*end != '\0' || end == n_prompt || v < 0 || v > 65536)
        {
          fprintf (stderr, "lathe-run bench: -p expects a token count, got '%s'\n", n_prompt);
          return 2;
        }
      bp.n_prompt = (int) v;
    }
  if (a->n_predict_set)
    bp.n_gen = a->n_predict;
  bp.reps = a->reps;
  bp.n_threads = a->n_threads;
  bp.kernel = a->kernel;
  bp.skip_layers = a->skip_layers;
  bp.exit_threshold = a->exit_threshold;
  bp.exit_min_layer = a->exit_min_layer;
  bp.spec_k = a->spec_k;
  bp.moe_top_k = a->moe_top_k;
  bp.exit_on_margin = a->exit_on_margin;
  bp.draft_skip_layers = a->draft_skip_layers;
  bp.kv_type = a->kv_type;
  bp.load_mode = a->load_mode;
  bp.bandwidth = !a->no_bandwidth;
  if (a->progress)
    bp.progress = print_progress;
  {
    /* One run per depth of the list ("0" when none): one object, or an array of them. */
    const char *p = a->depths != NULL ? a->depths : "0";
    int n = 0;
    const bool many = strchr (p, ',') != NULL;
    if (a->json && many)
      printf ("[\n");
    while (*p != '\0')
      {
        long v = strtol (p, &end, 10);
        if (end == p || (*end != ',' && *end != '\0') || v < 0 || v > (1 << 20))
          {
            fprintf (stderr, "lathe-run bench: -d expects token counts like 0,512,2048, got '%s'\n", a->depths);
            return 2;
          }
        bp.n_depth = (int) v;
        if (lk_bench_run (a->model, a->tokenizer, &bp, &r, &err) != LK_OK)
          {
            fprintf (stderr, "lathe-run: %s\n", err.message);
            return 1;
          }
        if (a->json && n > 0)
          printf (",\n");
        if (a->json)
          lk_bench_print_json (&r, stdout);
        else
          lk_bench_print_text (&r, stdout);
        fflush (stdout);
        lk_bench_result_clear (&r);
        n++;
        p = *end == ',' ? end + 1 : end;
      }
    if (a->json && many)
      printf ("]\n");
  }
  return 0;
}

static int
cmd_version (void)
{
  const char *const *names = lk_kernels_available ();

  printf ("lathe-run %s\nkernels:", LATHE_VERSION);
  for (int i = 0; names[i] != NULL; i++)
    printf (" %s", names[i]);
  printf ("\nselected: %s\n", lk_kernels_get ()->name);
  return 0;
}

int
main (int argc, char **argv)
{
  runner_args a;
  int rc;

  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  if (strcmp (argv[1], "version") == 0 || strcmp (argv[1], "--version") == 0)
    return cmd_version ();
  if ((rc = runner_args_parse (&a, argc - 1, argv + 1)) != 0)
    return rc;
  if (a.kernel != NULL && !lk_kernels_force (a.kernel))
    {
      fprintf (stderr, "lathe-run: kernel version '%s' is unknown or cannot run on this CPU\n",
               a.kernel);
      return 2;
    }
  if (strcmp (argv[1], "generate") == 0)
    return cmd_generate (&a);
  if (strcmp (argv[1], "tokenize") == 0)
    return cmd_tokenize (&a);
  if (strcmp (argv[1], "bench") == 0)
    return cmd_bench (&a, a.prompt_set ? a.prompt : NULL);
  fprintf (stderr, "lathe-run: unknown command '%s'\n", argv[1]);
  usage (stderr);
  return 2;
}
