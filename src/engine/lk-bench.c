/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "lk-bench.h"
#include "lk-speculative.h"
#include "lk-context.h"
#include "lk-generate.h"
#include "lk-kernels.h"
#include "lk-pool.h"
#include "lk-sampler.h"

#define BW_BYTES ((size_t) 512 << 20)

void
lk_bench_params_init (lk_bench_params *p)
{
  memset (p, 0, sizeof *p);
  p->n_prompt = 128;
  p->n_gen = 64;
  p->reps = 5;
  p->kv_type = LK_TYPE_F16;
  p->bandwidth = true;
  p->load_mode = LK_LOAD_READ;
}

/* Steps of a bench run, for its progress: the load, then a warm-up and the
 * repetitions of each test. */
static int
bench_steps (const lk_bench_params *p, int reps)
{
  return 1 + (p->n_prompt > 0 ? 1 + reps : 0) + (p->n_gen > 0 ? 1 + reps : 0);
}

static void
step (const lk_bench_params *p, int *done, int total, const char *next)
{
  ++*done;
  if (p->progress != NULL)
    p->progress (p->progress_user, *done, total, next);
}

static lk_stat
stats_of (const double *v, int n)
{
  lk_stat s = { 0, 0 };

  for (int i = 0; i < n; i++)
    s.mean += v[i];
  s.mean /= n > 0 ? n : 1;
  for (int i = 0; i < n; i++)
    s.sd += (v[i] - s.mean) * (v[i] - s.mean);
  s.sd = n > 1 ? sqrt (s.sd / (n - 1)) : 0.0;
  return s;
}

typedef struct
{
  const uint8_t *buf;
  size_t size;
  uint64_t sums[64];
} bw_job;

static void
bw_task (void *arg, int ith, int nth)
{
  bw_job *job = arg;
  const size_t chunk = job->size / (size_t) nth / 64 * 64;
  const uint8_t *p = job->buf + chunk * (size_t) ith;

  job->sums[ith & 63] += lk_kernels_get ()->sum_bytes (p, chunk);
}

double
lk_measure_bandwidth (int n_threads)
{
  lk_pool *pool = lk_pool_new (n_threads);
  uint8_t *buf = NULL;
  bw_job job;
  double best = 0.0;

  if (pool == NULL || posix_memalign ((void **) &buf, 4096, BW_BYTES) != 0)
    {
      lk_pool_free (pool);
      return 0.0;
    }
  for (size_t i = 0; i < BW_BYTES; i += 4096)
    memset (buf + i, (int) (i >> 12), 4096);
  job = (bw_job) { buf, BW_BYTES, { 0 } };
  for (int pass = 0; pass < 7; pass++)
    {
      const double t0 = lk_now_ms ();
      lk_pool_run (pool, bw_task, &job);
      const double ms = lk_now_ms () - t0;
      if (pass > 0 && ms > 0 && BW_BYTES / ms / 1e6 > best)
        best = BW_BYTES / ms / 1e6;
    }
  /* Keep the sums observable so the reads cannot be dropped. */
  if (job.sums[0] == 42)
    best += 1e-12;
  free (buf);
  lk_pool_free (pool);
  return best;
}

/* Bytes a generated token reads: every matrix once, an embedding row, the
 * norms, and the KV cache up to the mean position of the decode test. */
static uint64_t
bytes_per_token (const lk_model *m, int n_depth, int n_gen, lk_type kv_type)
{
  const lk_hparams *hp = lk_model_hparams (m);
  const lk_tensor *emb = lk_model_tok_embd (m);
  uint64_t bytes = 0;

  for (size_t i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      if (t != emb)
        bytes += t->nbytes;
    }
  bytes += lk_row_size (emb->type, emb->ne[0]);
  if (lk_model_output_tied (m))
    bytes += emb->nbytes;
  for (int il = 0; il < hp->n_layer; il++)
    {
      const uint64_t kv_dim = (uint64_t) lk_model_layer (m, il)->n_head_kv * (uint64_t) hp->head_dim;
      bytes += 2 * (uint64_t) lk_row_size (kv_type, (int64_t) kv_dim) * (uint64_t) (n_depth + n_gen / 2);
    }
  return bytes;
}

static void
random_tokens (int32_t *toks, int n, int n_vocab, uint64_t seed)
{
  for (int i = 0; i < n; i++)
    {
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      toks[i] = (int32_t) ((seed >> 33) % (uint64_t) n_vocab);
    }
}

/* The first `depth` positions of the cache filled once (untimed); each test
 * then starts from them, as llama-bench -d does. */
static lk_status
fill_depth (lk_ctx *ctx, int depth, int n_vocab, lk_error *err)
{
  int32_t *toks;
  lk_status s;

  lk_ctx_truncate (ctx, 0);
  if (depth == 0)
    return LK_OK;
  if ((toks = malloc ((size_t) depth * sizeof *toks)) == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  random_tokens (toks, depth, n_vocab, 4321);
  s = lk_ctx_decode (ctx, toks, depth, false, err);
  free (toks);
  return s;
}

static lk_status
run_prefill (lk_ctx *ctx, int depth, const int32_t *toks, int n, int n_vocab, double *ms, lk_error *err)
{
  double t0;
  lk_status s;

  lk_ctx_truncate (ctx, depth);
  t0 = lk_now_ms ();
  s = lk_ctx_decode (ctx, toks, n, false, err);
  if (s == LK_OK)
    (void) lk_argmax (lk_ctx_logits (ctx, -1), n_vocab);
  *ms = lk_now_ms () - t0;
  return s;
}

static lk_status
run_decode (lk_ctx *ctx, int depth, int32_t first, int n, int n_vocab, double *ms, lk_error *err)
{
  double t0;
  int32_t tok = first;

  lk_ctx_truncate (ctx, depth);
  t0 = lk_now_ms ();
  for (int i = 0; i < n; i++)
    {
      lk_status s = lk_ctx_decode (ctx, &tok, 1, false, err);
      if (s != LK_OK)
        return s;
      tok = lk_argmax (lk_ctx_logits (ctx, -1), n_vocab);
    }
  *ms = lk_now_ms () - t0;
  return LK_OK;
}

static lk_status
set_conditional (lk_ctx *ctx, const lk_model *m, const lk_bench_params *p, lk_error *err)
{
  const int n = lk_model_hparams (m)->n_layer;
  bool *skip = NULL;
  lk_cond_params cond;
  lk_status s = LK_OK;

  /* Neither given: the settings the file carries, if any. */
  if (p->skip_layers == NULL && p->exit_threshold <= 0.0f && p->moe_top_k == 0)
    return LK_OK;
  lk_cond_params_init (&cond);
  cond.moe_top_k = p->moe_top_k;
  cond.exit_on_margin = p->exit_on_margin;
  cond.exit_threshold = p->exit_threshold > 0.0f ? p->exit_threshold : 1.0f;
  cond.exit_min_layer = p->exit_min_layer;
  if (p->skip_layers != NULL)
    {
      if ((skip = malloc ((size_t) n * sizeof *skip)) == NULL)
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      s = lk_cond_parse_layers (p->skip_layers, n, skip, err);
      cond.skip = skip;
    }
  if (s == LK_OK)
    s = lk_ctx_set_conditional (ctx, &cond, err);
  free (skip);
  return s;
}

static void
copy_routes (const lk_ctx *ctx, const lk_model *m, lk_bench_result *r)
{
  const lk_hparams *hp = lk_model_hparams (m);

  if (hp->n_expert == 0)
    return;
  r->n_expert = hp->n_expert;
  r->experts_used = lk_ctx_experts_used (ctx, lk_model_layer (m, 0));
  r->routes = calloc ((size_t) hp->n_layer * (size_t) hp->n_expert, sizeof *r->routes);
  for (int il = 0; r->routes != NULL && il < hp->n_layer; il++)
    memcpy (r->routes + (size_t) il * hp->n_expert, lk_ctx_routes (ctx, il),
            (size_t) hp->n_expert * sizeof *r->routes);
}

void
lk_bench_result_clear (lk_bench_result *r)
{
  free (r->routes);
  r->routes = NULL;
  free (r->exit_hist);
  r->exit_hist = NULL;
}

/* n_gen tokens by greedy self-speculative decoding. */
static lk_status
run_speculative (lk_ctx *ctx, lk_ctx *draft, int32_t first, int n, int k, double *ms,
                 uint64_t *drafted, uint64_t *accepted, lk_error *err)
{
  int32_t *out = malloc ((size_t) n * sizeof *out);
  lk_spec_stats st;
  int n_out = 0;
  lk_status s;

  if (out == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  s = lk_speculative_generate (ctx, draft, &first, 1, n, k, out, &n_out, &st, err);
  *ms = st.ms;
  *drafted += st.drafted;
  *accepted += st.accepted;
  lk_spec_stats_clear (&st);
  free (out);
  return s;
}

static lk_status
draft_context (const lk_model *m, const lk_ctx_params *cp, const char *skip_list, lk_ctx **draft,
               lk_error *err)
{
  const int n = lk_model_hparams (m)->n_layer;
  bool *skip = malloc ((size_t) n * sizeof *skip);
  lk_cond_params cond;
  lk_status s;

  if (skip == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  lk_cond_params_init (&cond);
  cond.skip = skip;
  s = lk_cond_parse_layers (skip_list != NULL ? skip_list : "", n, skip, err);
  if (s == LK_OK)
    s = lk_ctx_new (m, cp, draft, err);
  if (s == LK_OK)
    s = lk_ctx_set_conditional (*draft, &cond, err);
  free (skip);
  return s;
}

/* This process's peak resident memory. Linux's getrusage keeps the peak of
 * the program that ran before exec (the workbench that started the runner),
 * so the memory map's own high-water mark is read first. */
static uint64_t
peak_rss (void)
{
  struct rusage ru;
  FILE *fp = fopen ("/proc/self/status", "r");
  char line[256];
  unsigned long long kb = 0;

  while (fp != NULL && fgets (line, sizeof line, fp) != NULL)
    if (sscanf (line, "VmHWM: %llu kB", &kb) == 1)
      break;
  if (fp != NULL)
    fclose (fp);
  if (kb > 0)
    return (uint64_t) kb * 1024;
  getrusage (RUSAGE_SELF, &ru);
  return (uint64_t) ru.ru_maxrss * 1024;
}

lk_status
lk_bench_run (const char *model_path, const char *tokenizer_path, const lk_bench_params *p,
              lk_bench_result *r, lk_error *err)
{
  lk_model_params mp;
  lk_ctx_params cp;
  lk_model *m = NULL;
  lk_ctx *ctx = NULL, *draft = NULL;
  uint64_t drafted = 0, accepted = 0;
  int32_t *toks = NULL;
  double *times = NULL;
  const int reps = p->reps > 0 ? p->reps : 1;
  const int total = bench_steps (p, reps);
  int done = 0;
  double ttft = 0.0;
  lk_status s;

  memset (r, 0, sizeof *r);
  lk_model_params_init (&mp);
  mp.load_mode = p->load_mode;
  mp.tokenizer_path = tokenizer_path;
  mp.kernel = p->kernel;
  if ((s = lk_model_open (model_path, &mp, &m, err)) != LK_OK)
    return s;
  lk_ctx_params_init (&cp);
  if (p->n_depth < 0 || p->n_depth > (1 << 20))
    {
      s = lk_error_set (err, LK_ERR_INVALID, "depth %d is out of range (0 … 1048576 tokens)", p->n_depth);
      lk_model_free (m);
      return s;
    }
  cp.n_ctx = p->n_depth + (p->n_prompt > p->n_gen ? p->n_prompt : p->n_gen) + 16;
  cp.n_batch = p->n_prompt > 0 ? p->n_prompt : 1;
  cp.n_threads = p->n_threads;
  cp.kernel = p->kernel;
  cp.kv_type = p->kv_type;
  if ((s = lk_ctx_new (m, &cp, &ctx, err)) != LK_OK || (s = set_conditional (ctx, m, p, err)) != LK_OK)
    goto out;
  if (p->spec_k > 0 && p->n_depth > 0)
    {
      s = lk_error_set (err, LK_ERR_INVALID, "the speculative decode test starts from an empty cache: no depth with it");
      goto out;
    }
  if (p->spec_k > 0 && (s = draft_context (m, &cp, p->draft_skip_layers, &draft, err)) != LK_OK)
    goto out;
  r->spec_k = p->spec_k;

  r->n_layer = lk_model_hparams (m)->n_layer;
  snprintf (r->model, sizeof r->model, "%s", model_path);
  r->model_bytes = lk_model_file_size (m);
  r->n_params = lk_model_n_params (m);
  r->threads = lk_ctx_n_threads (ctx);
  snprintf (r->kernel, sizeof r->kernel, "%s", lk_ctx_kernel_name (ctx));
  snprintf (r->kv_type, sizeof r->kv_type, "%s", lk_type_name (p->kv_type));
  r->repack_ms = lk_model_repack_ms (m);
  r->n_prompt = p->n_prompt;
  r->n_gen = p->n_gen;
  r->n_depth = p->n_depth;
  r->reps = reps;
  r->load_ms = lk_model_load_ms (m);
  {
    /* The type most weight bytes have. */
    uint64_t by_type[LK_TYPE_COUNT] = { 0 };
    int best = 0;
    for (size_t i = 0; i < lk_model_n_tensors (m); i++)
      by_type[lk_model_tensor_at (m, i)->type] += lk_model_tensor_at (m, i)->nbytes;
    for (int t = 0; t < LK_TYPE_COUNT; t++)
      if (by_type[t] > by_type[best])
        best = t;
    snprintf (r->type, sizeof r->type, "%s", lk_type_name ((lk_type) best));
  }

  toks = malloc ((size_t) (p->n_prompt > 0 ? p->n_prompt : 1) * sizeof *toks);
  times = malloc ((size_t) reps * sizeof *times);
  if (toks == NULL || times == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  random_tokens (toks, p->n_prompt > 0 ? p->n_prompt : 1, lk_model_hparams (m)->n_vocab, 1234);
  if ((s = fill_depth (ctx, p->n_depth, lk_model_hparams (m)->n_vocab, err)) != LK_OK)
    goto out;
  step (p, &done, total, p->n_prompt > 0 ? "prefill warm-up" : "decode warm-up");

  if (p->n_prompt > 0)
    {
      double ms;
      if ((s = run_prefill (ctx, p->n_depth, toks, p->n_prompt, lk_model_hparams (m)->n_vocab, &ms, err))
          != LK_OK)
        goto out;
      step (p, &done, total, "prefill");
      for (int i = 0; i < reps && s == LK_OK; i++)
        {
          s = run_prefill (ctx, p->n_depth, toks, p->n_prompt, lk_model_hparams (m)->n_vocab, &ms, err);
          times[i] = p->n_prompt * 1e3 / ms;
          ttft += ms / reps;
          step (p, &done, total, i + 1 < reps ? "prefill" : p->n_gen > 0 ? "decode warm-up" : "done");
        }
      r->prefill_tps = stats_of (times, reps);
      r->ttft_ms = ttft;
    }
  if (s == LK_OK && p->n_gen > 0)
    {
      double ms;
      if ((s = run_decode (ctx, p->n_depth, toks[0], p->n_gen < 8 ? p->n_gen : 8,
                           lk_model_hparams (m)->n_vocab, &ms, err)) != LK_OK)
        goto out;
      step (p, &done, total, "decode");
      lk_ctx_reset_cond_stats (ctx);
      for (int i = 0; i < reps && s == LK_OK; i++)
        {
          if (draft != NULL)
            s = run_speculative (ctx, draft, toks[0], p->n_gen, p->spec_k, &ms, &drafted, &accepted, err);
          else
            s = run_decode (ctx, p->n_depth, toks[0], p->n_gen, lk_model_hparams (m)->n_vocab, &ms, err);
          /* Speculative timing starts after the first token. */
          times[i] = (draft != NULL ? p->n_gen - 1 : p->n_gen) * 1e3 / ms;
          step (p, &done, total, i + 1 < reps ? "decode" : "done");
        }
      r->acceptance_rate = drafted > 0 ? (double) accepted / (double) drafted : 0.0;
      copy_routes (ctx, m, r);
      if (lk_ctx_cond_stats (ctx)->exit_hist != NULL
          && (r->exit_hist = calloc ((size_t) r->n_layer + 1, sizeof *r->exit_hist)) != NULL)
        memcpy (r->exit_hist, lk_ctx_cond_stats (ctx)->exit_hist, ((size_t) r->n_layer + 1) * sizeof *r->exit_hist);
      r->decode_tps = stats_of (times, reps);
      r->layers_mean = lk_cond_layers_mean (lk_ctx_cond_stats (ctx));
    }
  if (s != LK_OK)
    goto out;
  r->bytes_per_token = bytes_per_token (m, p->n_depth, p->n_gen, p->kv_type);
  r->peak_rss_bytes = peak_rss ();
  if (p->bandwidth)
    {
      r->bandwidth_gbs = lk_measure_bandwidth (r->threads);
      if (r->bandwidth_gbs > 0 && r->bytes_per_token > 0)
        r->bandwidth_ratio = r->decode_tps.mean * (double) r->bytes_per_token
                             / (r->bandwidth_gbs * 1e9);
    }
out:
  free (toks);
  free (times);
  lk_ctx_free (draft);
  lk_ctx_free (ctx);
  lk_model_free (m);
  return s;
}

static void
json_string (FILE *fp, const char *s)
{
  fputc ('"', fp);
  for (; *s; s++)
    {
      if (*s == '"' || *s == '\\')
        fprintf (fp, "\\%c", *s);
      else if ((unsigned char) *s < 0x20)
        fprintf (fp, "\\u%04x", *s);
      else
        fputc (*s, fp);
    }
  fputc ('"', fp);
}

void
lk_bench_print_json (const lk_bench_result *r, FILE *fp)
{
  fprintf (fp, "{\n  \"model\": ");
  json_string (fp, r->model);
  fprintf (fp,
           ",\n  \"type\": \"%s\",\n  \"model_bytes\": %llu,\n  \"n_params\": %llu,\n"
           "  \"threads\": %d,\n  \"kernel\": \"%s\",\n  \"kv_type\": \"%s\",\n"
           "  \"n_prompt\": %d,\n  \"n_gen\": %d,\n  \"n_depth\": %d,\n"
           "  \"reps\": %d,\n"
           "  \"prefill_tps\": {\"mean\": %.3f, \"sd\": %.3f},\n"
           "  \"decode_tps\": {\"mean\": %.3f, \"sd\": %.3f},\n"
           "  \"ttft_ms\": %.3f,\n  \"load_ms\": %.3f,\n  \"repack_ms\": %.3f,\n"
           "  \"peak_rss_bytes\": %llu,\n"
           "  \"bandwidth_gbs\": %.3f,\n  \"bytes_per_token\": %llu,\n"
           "  \"bandwidth_ratio\": %.4f,\n  \"n_layer\": %d,\n  \"layers_mean\": %.3f,\n"
           "  \"speculative_k\": %d,\n  \"acceptance_rate\": %.4f,\n  \"experts_used\": %d,\n"
           "  \"routing\": [",
           r->type, (unsigned long long) r->model_bytes, (unsigned long long) r->n_params,
           r->threads, r->kernel, r->kv_type, r->n_prompt, r->n_gen, r->n_depth, r->reps, r->prefill_tps.mean,
           r->prefill_tps.sd, r->decode_tps.mean, r->decode_tps.sd, r->ttft_ms, r->load_ms,
           r->repack_ms,
           (unsigned long long) r->peak_rss_bytes, r->bandwidth_gbs,
           (unsigned long long) r->bytes_per_token, r->bandwidth_ratio, r->n_layer, r->layers_mean,
           r->spec_k, r->acceptance_rate, r->experts_used);
  for (int il = 0; r->routes != NULL && il < r->n_layer; il++)
    {
      fprintf (fp, "%s[", il ? ", " : "");
      for (int e = 0; e < r->n_expert; e++)
        fprintf (fp, "%s%llu", e ? ", " : "", (unsigned long long) r->routes[(size_t) il * r->n_expert + e]);
      fputc (']', fp);
    }
  fprintf (fp, "],\n  \"exit_histogram\": [");
  for (int i = 0; r->exit_hist != NULL && i <= r->n_layer; i++)
    fprintf (fp, "%s%llu", i ? ", " : "", (unsigned long long) r->exit_hist[i]);
  fprintf (fp, "]\n}\n");
}

void
lk_bench_print_text (const lk_bench_result *r, FILE *fp)
{
  fprintf (fp, "model      %s (%s, %.1f MB, %.1f M parameters)\n", r->model, r->type,
           r->model_bytes / 1e6, r->n_params / 1e6);
  fprintf (fp, "kernel     %s, %d thread%s, %s KV cache\n", r->kernel, r->threads,
           r->threads == 1 ? "" : "s", r->kv_type);
  if (r->n_depth > 0)
    fprintf (fp, "depth      %d tokens in the cache before each test\n", r->n_depth);
  if (r->n_prompt > 0)
    fprintf (fp, "pp%-4d     %10.1f ± %.1f tok/s   (time to first token %.1f ms)\n", r->n_prompt,
             r->prefill_tps.mean, r->prefill_tps.sd, r->ttft_ms);
  if (r->n_gen > 0)
    fprintf (fp, "tg%-4d     %10.1f ± %.1f tok/s, %.2f of %d layers per token\n", r->n_gen,
             r->decode_tps.mean, r->decode_tps.sd, r->layers_mean, r->n_layer);
  if (r->n_expert > 0)
    {
      fprintf (fp, "experts    %d of %d per token; routing of layer 0:", r->experts_used, r->n_expert);
      for (int e = 0; r->routes != NULL && e < r->n_expert; e++)
        fprintf (fp, " %llu", (unsigned long long) r->routes[e]);
      fputc ('\n', fp);
    }
  if (r->spec_k > 0)
    fprintf (fp, "speculative k = %d: %.1f %% of drafted tokens accepted\n", r->spec_k,
             100.0 * r->acceptance_rate);
  fprintf (fp, "load       %.1f ms (of which %.1f ms laying out weights), peak RSS %.1f MB\n",
           r->load_ms, r->repack_ms, r->peak_rss_bytes / 1e6);
  if (r->bandwidth_gbs > 0)
    fprintf (fp,
             "bandwidth  %.1f GB/s measured; %.1f MB read per token; decode at %.0f%% of the "
             "bound (%.1f tok/s)\n",
             r->bandwidth_gbs, r->bytes_per_token / 1e6, 100.0 * r->bandwidth_ratio,
             r->bandwidth_gbs * 1e9 / (double) r->bytes_per_token);
}
