/* SPDX-License-Identifier: MIT */
/* lathe-cli commands. Each takes its own argv (argv[0] is the command name)
 * and returns the process exit code: 0 success, 1 failure, 2 bad usage. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "lathe-device.h"
#include "lathe-workspace.h"

G_BEGIN_DECLS

int lathe_cli_inspect (int argc, char **argv);
int lathe_cli_generate (int argc, char **argv);
int lathe_cli_tokenize (int argc, char **argv);
int lathe_cli_convert (int argc, char **argv);
int lathe_cli_synth (int argc, char **argv);
int lathe_cli_quantize (int argc, char **argv);
int lathe_cli_bench (int argc, char **argv);
int lathe_cli_eval (int argc, char **argv);
int lathe_cli_apply (int argc, char **argv);
int lathe_cli_prune (int argc, char **argv);
int lathe_cli_calibrate (int argc, char **argv);
int lathe_cli_sensitivity (int argc, char **argv);
int lathe_cli_logit_lens (int argc, char **argv);
int lathe_cli_sweep (int argc, char **argv);
int lathe_cli_workspace (int argc, char **argv);
int lathe_cli_device (int argc, char **argv);
int lathe_cli_profile (int argc, char **argv);
int lathe_cli_bundle (int argc, char **argv);
int lathe_cli_device_install (int argc, char **argv);

/* Shared helpers */
/* Parses options; on failure prints the error and returns FALSE. */
gboolean lathe_cli_parse (GOptionContext *context, int *argc, char ***argv);
/* Prints "lathe-cli: message" to stderr. */
void lathe_cli_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);
/* Exits-code helper: prints the GError and returns 1. */
int lathe_cli_fail (GError *error);
/* The variant files of a workspace that could not be read, as warnings. */
void lathe_cli_warn_problems (LatheWorkspace *ws);
/* The same for device work: an unknown host key is shown with its
 * fingerprint, and how to accept it. */
int lathe_cli_device_fail (LatheDevice *device, GError *error);
char *lathe_cli_format_count (guint64 n);
/* Progress of a staged run over chunks of text, on stderr (eval, logit-lens). */
void lathe_cli_chunk_progress (gpointer user, const char *stage, int done, int total);

typedef struct _LatheRecipe LatheRecipe;
/* Loads the model, writes the recipe's variant to out and prints a summary. */
int lathe_cli_run_recipe (const char *model_path, LatheRecipe *recipe, const char *out, int threads,
                          gboolean quiet);
/* generate --speculative */
typedef struct
{
  const char *model, *tokenizer, *prompt, *draft, *draft_skip;
  float draft_exit;
  int draft_exit_min, k, n_predict, n_ctx, n_threads;
  gboolean compare;
} LatheSpeculativeArgs;
int lathe_cli_run_speculative (const LatheSpeculativeArgs *a);

/* The conditional-computation options generate, bench and eval share:
 * --recipe, --skip-layers, --exit-threshold, --exit-min-layer,
 * --exit-on-margin, --experts-used. Unset: NULL or 0 (as the model's file
 * says). */
typedef struct
{
  char *recipe, *skip;
  double exit_threshold;
  int exit_min, experts_used;
  gboolean exit_margin;
} LatheCliConditional;

void lathe_cli_conditional_add_options (GOptionContext *context, LatheCliConditional *c);
/* After parsing: takes from --recipe's "conditional" what the flags leave
 * unset. Prints errors. */
gboolean lathe_cli_conditional_resolve (LatheCliConditional *c);
void lathe_cli_conditional_clear (LatheCliConditional *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (LatheCliConditional, lathe_cli_conditional_clear)

/* Adds "calibration": {"imatrix": FILE} to a recipe being built (nothing when NULL). */
void lathe_cli_add_calibration (JsonBuilder *b, const char *imatrix);

G_END_DECLS
