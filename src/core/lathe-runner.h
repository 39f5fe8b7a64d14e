/* SPDX-License-Identifier: MIT */
/* lathe-run, the engine's small command-line runner, as a measuring
 * instrument: speed is measured in a process of its own, as on a device,
 * so that peak memory is the model's alone and the caller stays free. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct
{
  int n_prompt; /* tokens of the prefill test */
  int n_gen;    /* tokens of the decode test */
  int reps;     /* repetitions after a warm-up */
  int n_threads; /* 0: every core */
} LatheBenchOptions;

void lathe_bench_options_init (LatheBenchOptions *o);

/* Runs a program on this machine (no shell): its output (out, err may be
 * NULL) and whether it exited with 0 (*ok). FALSE with an error only when
 * it could not run or was cancelled (then it is killed). */
gboolean lathe_run_here (const char *const *argv, GCancellable *cancellable, char **out, char **err, gboolean *ok,
                         GError **error);

/* The runner for this machine: $LATHE_RUN, else lathe-run beside the
 * running program (installed), else in the build tree's src/runner. */
char *lathe_runner_find (GError **error);

/* Checks what `lathe-run bench --json` printed (here or on a device;
 * origin names it in errors) and returns a clean copy: the speeds and the
 * peak memory are required, every figure is a finite number in a
 * plausible range, unknown members are dropped. */
JsonNode *lathe_bench_parse (const char *text, gssize len, const char *origin, GError **error);

/* Runs `lathe-run bench --json` on a model here and returns its JSON object
 * (keys as lathe-run prints them). Cancelling stops the process. */
JsonNode *lathe_runner_bench (const char *model_path, const LatheBenchOptions *o,
                              GCancellable *cancellable, GError **error);

G_END_DECLS
