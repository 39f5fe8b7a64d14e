/* SPDX-License-Identifier: MIT */
/* Calibration: activation statistics of a model on a text (blocking). */
#pragma once

#include <gio/gio.h>

#include "lathe-model.h"
#include "lk-imatrix.h"

G_BEGIN_DECLS

typedef struct
{
  int n_ctx;      /* tokens per chunk; 0: 256 within the model's context */
  int max_chunks; /* 0: all */
  int n_threads;  /* 0: one per core */
  void (*progress) (gpointer user, int done, int total);
  gpointer user;
} LatheCalibrateOptions;

void lathe_calibrate_options_init (LatheCalibrateOptions *o);
/* Runs the model over the text and returns the statistics of every matrix
 * input; free with lk_imatrix_free. */
lk_imatrix *lathe_calibrate (LatheModel *model, const char *text_path,
                             const LatheCalibrateOptions *o, GCancellable *cancellable,
                             GError **error);
/* Reads an importance matrix file (Lathe's or llama.cpp's GGUF imatrix). */
lk_imatrix *lathe_imatrix_load (const char *path, GError **error);

G_END_DECLS
