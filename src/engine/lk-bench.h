/* SPDX-License-Identifier: MIT */
/* Speed measurement: prompt processing and token generation as llama-bench
 * runs them (a batch of p tokens; n tokens one at a time from an empty
 * cache), against this machine's measured memory bandwidth. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "lk-model.h"
#include "lk-status.h"

typedef struct
{
  int n_prompt;       /* tokens of the prefill test (0: skip) */
  int n_gen;          /* tokens of the decode test (0: skip) */
  int n_depth;        /* tokens already in the cache before each test (llama-bench -d) */
  int reps;           /* measured repetitions after one warm-up */
  int n_threads;      /* 0: all cores */
  const char *kernel; /* NULL: the best */
  lk_type kv_type;
  bool bandwidth;     /* measure the memory read bandwidth too */
  lk_load_mode load_mode;
  /* Conditional computation; neither given (NULL, 0): as the file says. */
  const char *skip_layers; /* "3,5-7"; "" skips none */
  float exit_threshold;    /* early exit (1: never) */
  int exit_min_layer;
  int moe_top_k;           /* experts per token (0: the model's) */
  bool exit_on_margin;     /* exit on the top token's lead over the second */
  /* Greedy self-speculative decode test: k draft tokens per target step
   * from the model with draft_skip_layers skipped (0: plain decoding). */
  int spec_k;
  const char *draft_skip_layers;
  /* Called after each step (the load, each warm-up and repetition of the
   * prefill and decode tests): steps done of all, and what comes next. */
  void (*progress) (void *user, int done, int total, const char *next);
  void *progress_user;
} lk_bench_params;

typedef struct
{
  double mean, sd;
} lk_stat;

typedef struct
{
  char model[512];
  char type[16];
  uint64_t model_bytes, n_params;
  int threads;
  char kernel[16];
  char kv_type[8];
  int n_prompt, n_gen, n_depth, reps;
  lk_stat prefill_tps;
  lk_stat decode_tps;
  double ttft_ms;
  double load_ms;
  double repack_ms;          /* part of load_ms spent laying weights out for the kernels */
  uint64_t peak_rss_bytes;
  double bandwidth_gbs;      /* 0 when not measured */
  uint64_t bytes_per_token;  /* weights and KV cache read per generated token */
  double bandwidth_ratio;    /* decode speed / (bandwidth / bytes per token) */
  double layers_mean;        /* layers run per generated token */
  int n_layer;
  int experts_used;          /* per token in expert layers (0: dense model) */
  int n_expert;
  uint64_t *routes;          /* [n_layer][n_expert] during the decode test, or NULL */
  uint64_t *exit_hist;       /* [n_layer + 1]: decode steps that ended after layer i, or NULL */
  int spec_k;                /* 0: plain decoding */
  double acceptance_rate;    /* drafted tokens the target kept */
} lk_bench_result;

void lk_bench_params_init (lk_bench_params *p);
lk_status lk_bench_run (const char *model_path, const char *tokenizer_path,
                        const lk_bench_params *p, lk_bench_result *r, lk_error *err);
/* Read bandwidth of this machine with n threads, in GB/s (best of several
 * passes over a buffer much larger than the caches). */
double lk_measure_bandwidth (int n_threads);
void lk_bench_print_json (const lk_bench_result *r, FILE *fp);
void lk_bench_print_text (const lk_bench_result *r, FILE *fp);
void lk_bench_result_clear (lk_bench_result *r);
