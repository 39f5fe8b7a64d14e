/* SPDX-License-Identifier: MIT */
/* llama.cpp's speed on this machine, for the ratios in the README, where no
 * llama.cpp is installed: its own libraries as node-llama-cpp publishes them
 * prebuilt on the npm registry (CPU backends for every x86-64 level, zen4
 * included), timed as llama-bench does: random tokens, a prefill of PP
 * tokens and a decode of TG after DEPTH tokens already in the cache, best of
 * REPS. Not built by meson:
 *
 *   npm pack @node-llama-cpp/linux-x64@3.22.1 && tar xzf node-llama-cpp-linux-x64-3.22.1.tgz
 *   L=$PWD/package/bins/linux-x64
 *   cc -O2 tests/bench/llama-cpp-bench.c -o llama-cpp-bench -L$L -l:libllama.v0.5.0.so \
 *      -l:libggml.v0.5.0.so -Wl,-rpath,$L -DBACKENDS=\"$L\"
 *   ./llama-cpp-bench MODEL THREADS PP TG DEPTH REPS
 *
 * The parameter structs are opaque here (bigger than the library's: they are
 * returned and passed in memory), and only fields whose offsets this release
 * has are set: n_ctx, n_batch, n_ubatch at 0, 4, 8; the thread counts at 28
 * and 32 (printed by llama_context_default_params: 4 and 4). Another release
 * may move them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BACKENDS
#define BACKENDS "."
#endif
typedef struct
{
  unsigned char b[1024];
} params_t;
typedef struct
{
  unsigned char b[256];
} batch_t;
params_t llama_model_default_params (void);
params_t llama_context_default_params (void);
void *llama_model_load_from_file (const char *path, params_t p);
void *llama_init_from_model (void *model, params_t p);
batch_t llama_batch_get_one (int32_t *tokens, int32_t n);
int32_t llama_decode (void *ctx, batch_t b);
void *llama_get_memory (void *ctx);
void llama_memory_clear (void *mem, int data);
void *llama_model_get_vocab (void *model);
int32_t llama_vocab_n_tokens (void *vocab);
void llama_backend_init (void);
void ggml_backend_load_all_from_path (const char *);
void llama_synchronize (void *ctx);
/* An empty cache, then DEPTH tokens in it, 512 a batch. */
static int
refill (void *ctx, int32_t *tok, int depth)
{
  llama_memory_clear (llama_get_memory (ctx), 1);
  for (int d = 0; d < depth; d += 512)
    if (llama_decode (ctx, llama_batch_get_one (tok + d, depth - d < 512 ? depth - d : 512)))
      return -1;
  return 0;
}

static double
now (void)
{
  struct timespec t;
  clock_gettime (CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}
int
main (int argc, char **argv)
{
  if (argc != 7)
    {
      fprintf (stderr, "usage: llama-cpp-bench MODEL THREADS PP TG DEPTH REPS\n");
      return 2;
    }
  const char *path = argv[1];
  int threads = atoi (argv[2]), pp = atoi (argv[3]), tg = atoi (argv[4]), depth = atoi (argv[5]),
      reps = atoi (argv[6]);
  ggml_backend_load_all_from_path (BACKENDS);
  llama_backend_init ();
  params_t mp = llama_model_default_params ();
  void *model = llama_model_load_from_file (path, mp);
  if (!model)
    {
      fprintf (stderr, "load failed\n");
      return 1;
    }
  params_t cp = llama_context_default_params ();
  uint32_t *u = (uint32_t *)cp.b;
  u[0] = depth + pp + tg + 16; /* n_ctx */
  u[1] = 2048;
  u[2] = 512; /* n_batch, n_ubatch */
  ((int32_t *)cp.b)[7] = threads;
  ((int32_t *)cp.b)[8] = threads;
  void *ctx = llama_init_from_model (model, cp);
  if (!ctx)
    {
      fprintf (stderr, "context failed\n");
      return 1;
    }
  int nv = llama_vocab_n_tokens (llama_model_get_vocab (model));
  int32_t *tok = malloc (sizeof (int32_t) * (depth + pp + tg + 1));
  srand (1);
  for (int i = 0; i < depth + pp + tg + 1; i++)
    tok[i] = rand () % nv;
  double best_pp = 0, best_tg = 0;
  for (int r = 0; r < reps; r++)
    {
      if (refill (ctx, tok, depth) != 0)
        return 2;
      llama_synchronize (ctx);
      double t0 = now ();
      for (int d = 0; d < pp; d += 2048)
        if (llama_decode (ctx,
                          llama_batch_get_one (tok + depth + d, pp - d < 2048 ? pp - d : 2048)))
          return 3;
      llama_synchronize (ctx);
      double t1 = now ();
      /* tg after depth only, as llama-bench: clear and refill */
      if (refill (ctx, tok, depth) != 0)
        return 2;
      llama_synchronize (ctx);
      double t2 = now ();
      for (int i = 0; i < tg; i++)
        if (llama_decode (ctx, llama_batch_get_one (tok + depth + i, 1)))
          return 4;
      llama_synchronize (ctx);
      double t3 = now ();
      double ppr = pp / (t1 - t0), tgr = tg / (t3 - t2);
      printf ("rep %d: pp%d %.1f tok/s, tg%d %.1f tok/s (depth %d, %d threads)\n", r, pp, ppr, tg,
              tgr, depth, threads);
      if (ppr > best_pp)
        best_pp = ppr;
      if (tgr > best_tg)
        best_tg = tgr;
    }
  printf ("best: pp%d %.1f tg%d %.1f\n", pp, best_pp, tg, best_tg);
  return 0;
}
