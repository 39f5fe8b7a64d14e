/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-context.h"
#include "runner-args.h"

static bool
parse_int (const char *opt, const char *s, long lo, long hi, int *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi)
    {
      fprintf (stderr, "lathe-run: %s expects an integer in %ld..%ld, got '%s'\n", opt, lo, hi, s);
      return false;
    }
  *out = (int) v;
  return true;
}

static bool
parse_float (const char *opt, const char *s, float lo, float hi, float *out)
{
  char *end;
  float v;

  errno = 0;
  v = strtof (s, &end);
  if (errno != 0 || *end != '\0' || end == s || !(v >= lo && v <= hi))
    {
      fprintf (stderr, "lathe-run: %s expects a number in %g..%g, got '%s'\n", opt, (double) lo,
               (double) hi, s);
      return false;
    }
  *out = v;
  return true;
}

static bool
parse_u64 (const char *opt, const char *s, uint64_t *out)
{
  char *end;

  errno = 0;
  *out = strtoull (s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || s[0] == '-')
    {
      fprintf (stderr, "lathe-run: %s expects a non-negative integer, got '%s'\n", opt, s);
      return false;
    }
  return true;
}

int
runner_args_parse (runner_args *a, int argc, char **argv)
{
  memset (a, 0, sizeof *a);
  a->prompt = "";
  a->n_predict = 128;
  a->reps = 5;
  a->load_mode = LK_LOAD_READ;
  a->kv_type = LK_TYPE_F16;
  lk_sampler_params_init (&a->sampling);

  for (int i = 1; i < argc; i++)
    {
      const char *o = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : NULL;
      bool ok = true, takes = true;

#define IS(s, l) (strcmp (o, s) == 0 || strcmp (o, l) == 0)
      if (strcmp (o, "--json") == 0)
        {
          a->json = true;
          takes = false;
        }
      else if (strcmp (o, "--no-bandwidth") == 0)
        {
          a->no_bandwidth = true;
          takes = false;
        }
      else if (strcmp (o, "--progress") == 0)
        {
          a->progress = true;
          takes = false;
        }
      else if (strcmp (o, "--exit-on-margin") == 0)
        {
          a->exit_on_margin = true;
          takes = false;
        }
      else if (o[0] != '-' || strcmp (o, "-") == 0)
        {
          a->text = o;
          takes = false;
        }
      else if (v == NULL)
        {
          fprintf (stderr, "lathe-run: option %s needs a value\n", o);
          return 2;
        }
      else if (IS ("-m", "--model"))
        a->model = v;
      else if (IS ("-z", "--tokenizer"))
        a->tokenizer = v;
      else if (IS ("-p", "--prompt"))
        {
          a->prompt = v;
          a->prompt_set = true;
        }
      else if (IS ("-n", "--n-predict"))
        {
          ok = parse_int (o, v, 0, 1 << 24, &a->n_predict);
          a->n_predict_set = true;
        }
      else if (IS ("-d", "--depth"))
        a->depths = v;
      else if (IS ("-c", "--ctx-size"))
        ok = parse_int (o, v, 0, 1 << 22, &a->n_ctx);
      else if (IS ("-t", "--threads"))
        ok = parse_int (o, v, 0, 1024, &a->n_threads);
      else if (IS ("-r", "--repetitions"))
        ok = parse_int (o, v, 1, 1000, &a->reps);
      else if (strcmp (o, "--temp") == 0)
        ok = parse_float (o, v, 0.0f, 100.0f, &a->sampling.temperature);
      else if (strcmp (o, "--top-k") == 0)
        ok = parse_int (o, v, 0, 1 << 30, &a->sampling.top_k);
      else if (strcmp (o, "--top-p") == 0)
        ok = parse_float (o, v, 0.0f, 1.0f, &a->sampling.top_p);
      else if (strcmp (o, "--min-p") == 0)
        ok = parse_float (o, v, 0.0f, 1.0f, &a->sampling.min_p);
      else if (strcmp (o, "--repeat-penalty") == 0)
        ok = parse_float (o, v, 0.0f, 100.0f, &a->sampling.repeat_penalty);
      else if (strcmp (o, "--seed") == 0)
        ok = parse_u64 (o, v, &a->sampling.seed);
      else if (strcmp (o, "--kernel") == 0)
        a->kernel = v;
      else if (strcmp (o, "--skip-layers") == 0)
        a->skip_layers = v;
      else if (strcmp (o, "--experts-used") == 0)
        ok = parse_int (o, v, 1, 512, &a->moe_top_k);
      else if (strcmp (o, "--speculative") == 0)
        ok = parse_int (o, v, 1, 64, &a->spec_k);
      else if (strcmp (o, "--draft-skip-layers") == 0)
        a->draft_skip_layers = v;
      else if (strcmp (o, "--exit-threshold") == 0)
        ok = parse_float (o, v, 1e-6f, 1.0f, &a->exit_threshold);
      else if (strcmp (o, "--exit-min-layer") == 0)
        ok = parse_int (o, v, 0, 1 << 20, &a->exit_min_layer);
      else if (strcmp (o, "--kv-type") == 0)
        {
          if (!lk_kv_type_from_name (v, &a->kv_type))
            {
              fprintf (stderr, "lathe-run: --kv-type expects f16, f32 or q8_0, got '%s'\n", v);
              return 2;
            }
        }
      else if (strcmp (o, "--load") == 0)
        {
          if (!lk_load_mode_from_name (v, &a->load_mode))
            {
              fprintf (stderr, "lathe-run: --load expects 'read' or 'mmap', got '%s'\n", v);
              return 2;
            }
        }
      else
        {
          fprintf (stderr, "lathe-run: unknown option '%s'\n", o);
          return 2;
        }
#undef IS
      if (!ok)
        return 2;
      if (takes)
        i++;
    }
  if (a->model == NULL)
    {
      fprintf (stderr, "lathe-run: give a model with -m FILE\n");
      return 2;
    }
  return 0;
}
