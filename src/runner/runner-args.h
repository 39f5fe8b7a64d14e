/* SPDX-License-Identifier: MIT */
/* Command-line options shared by lathe-run's commands. */
#pragma once

#include <stdbool.h>

#include "lk-file.h"
#include "lk-types.h"
#include "lk-sampler.h"

typedef struct
{
  const char *model;
  const char *tokenizer;
  const char *prompt;
  const char *text; /* first positional argument */
  const char *kernel;
  int n_predict;
  int n_ctx;
  int n_threads;
  int reps;
  bool json;
  bool prompt_set, n_predict_set;
  bool no_bandwidth;
  bool progress; /* bench: a line per step on stderr */
  lk_load_mode load_mode;
  lk_type kv_type;
  lk_sampler_params sampling;
  /* Conditional computation; none given: as the model's file says. */
  const char *skip_layers;
  float exit_threshold; /* 0: not given */
  int exit_min_layer;
  int moe_top_k; /* experts per token (0: the model's) */
  bool exit_on_margin;
  int spec_k; /* bench: greedy self-speculative decode test */
  const char *depths; /* bench: "0,512,2048", tokens in the cache before each test */
  const char *draft_skip_layers;
} runner_args;

/* argv[0] is the command name. Returns 0, or the exit code for a bad option. */
int runner_args_parse (runner_args *a, int argc, char **argv);
