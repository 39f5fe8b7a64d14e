/* SPDX-License-Identifier: MIT */
/* Quality evaluation of a model on a text, optionally against a reference
 * (another model, or log-probabilities saved from one). Blocking: run it in
 * a worker thread from the GUI. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "lathe-model.h"
#include "lk-eval.h"
#include "lk-lens.h"

G_BEGIN_DECLS

typedef struct
{
  int n_ctx;            /* 0: 256 or the model's context if smaller */
  int max_chunks;       /* 0: all */
  int n_threads;        /* 0: one per core */
  const char *save_ref; /* write the reference's log-probabilities here (or, without a
                         * reference, the model's own) */
  void (*progress) (gpointer user, const char *stage, int done, int total);
  gpointer user;
  /* Conditional computation of the evaluated model (the reference runs in
   * full); neither given (NULL, 0): as the model's file says. */
  const char *skip_layers; /* "3,5-7"; "" skips none */
  float exit_threshold;    /* 1: never exit early */
  int exit_min_layer;
  int experts_used;        /* mixture of experts: per token (0: the model's) */
  gboolean exit_on_margin; /* exit on the lead over the second token */
} LatheEvalOptions;

void lathe_eval_options_init (LatheEvalOptions *o);
/* Sets layer skip ("3,5-7" or NULL) and early exit on a context. */
gboolean lathe_apply_conditional (lk_ctx *ctx, const char *skip_layers, float exit_threshold,
                                  int exit_min_layer, GError **error);
/* Every conditional-computation setting. */
typedef struct
{
  const char *skip_layers;  /* "3,5-7", or NULL */
  float exit_threshold;     /* 1: never exit */
  int exit_min_layer;
  gboolean exit_on_margin;  /* exit on the top token's lead over the second */
  int experts_used;         /* mixture of experts: per token (0: the model's) */
} LatheConditional;

gboolean lathe_apply_conditional_full (lk_ctx *ctx, const LatheConditional *c, GError **error);

/* True when path is a file of reference log-probabilities. */
gboolean lathe_eval_is_reference_file (const char *path);

/* Evaluates model on the text file. ref_path: NULL, a model, or a file of
 * log-probabilities written with save_ref. */
gboolean lathe_eval_run (LatheModel *model, const char *text_path, const char *ref_path,
                         const LatheEvalOptions *o, lk_eval_result *out,
                         GCancellable *cancellable, GError **error);

/* The logit lens of model on the text (options: n_ctx, max_chunks,
 * n_threads, progress). Free out with lk_lens_result_clear. */
gboolean lathe_logit_lens (LatheModel *model, const char *text_path, const LatheEvalOptions *o,
                           lk_lens_result *out, GCancellable *cancellable, GError **error);
/* {"tokens", "ctx", "chunks", "layers": [{"layer", "kl_mean", "top1_agreement"}, …]} */
JsonNode *lathe_lens_result_to_json (const lk_lens_result *r);

/* The object `lathe-cli eval --json` prints. */
JsonNode *lathe_eval_result_to_json (const lk_eval_result *r);

G_END_DECLS
