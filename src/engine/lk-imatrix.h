/* SPDX-License-Identifier: MIT */
/* Activation statistics ("importance matrix"): for every matrix of a model,
 * the sum over calibration tokens of the square of each input channel, and
 * the token count. Quantization weighs its rounding error by the mean
 * square (activation-aware), and Wanda pruning scores weights by the RMS.
 *
 * A stack of experts' matrices (ffn_*_exps) has statistics per expert, of
 * the tokens routed to it.
 *
 * Files are GGUF in llama.cpp's imatrix layout: per matrix NAME, tensors
 * "NAME.in_sum2" (F32, one value per input channel, [channels, experts]
 * for a stack) and "NAME.counts" (F32, one value per matrix), with
 * general.type "imatrix", imatrix.chunk_count, imatrix.chunk_size and
 * imatrix.datasets. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lk-context.h"
#include "lk-vocab.h"

typedef struct lk_imatrix lk_imatrix;

lk_imatrix *lk_imatrix_new (void);
void lk_imatrix_free (lk_imatrix *im);

/* Runs the model over chunks of n_ctx tokens (each starting with BOS) and
 * accumulates the inputs of every matrix product. max_chunks 0: all. */
lk_status lk_imatrix_collect (lk_imatrix *im, lk_ctx *ctx, const lk_tokens *toks, int n_ctx,
                              int max_chunks, void (*progress) (void *user, int chunk, int n_chunks),
                              void *user, lk_error *err);

lk_status lk_imatrix_save (const lk_imatrix *im, const char *path, const char *dataset,
                           lk_error *err);
lk_status lk_imatrix_load (const char *path, lk_imatrix **out, lk_error *err);

int lk_imatrix_n_entries (const lk_imatrix *im);
const char *lk_imatrix_name_at (const lk_imatrix *im, int i);
int lk_imatrix_chunks (const lk_imatrix *im);
/* Mean square of each input channel of matrix `name`: n values, the
 * matrix's columns, or for a stack of experts [n_cols, n_rows, n_expert]
 * n_cols × n_expert, expert by expert (lk_imatrix_width). NULL when the
 * file has no entry of that size. Valid until im is freed. */
const float *lk_imatrix_mean_square (const lk_imatrix *im, const char *name, int64_t n);
/* The RMS of each input channel (for Wanda), or NULL as above. */
const float *lk_imatrix_rms (const lk_imatrix *im, const char *name, int64_t n);
/* The number of statistics a tensor's entry has: its columns, times its
 * experts for a stack. */
int64_t lk_imatrix_width (const lk_tensor *t);
/* Per layer, the sum over tokens of 1 - cos(input, output): how much the
 * layer changes the hidden state (divide by tokens for the mean). NULL when
 * not collected. Saved as the array lathe.layer_change (means). */
const double *lk_imatrix_layer_change (const lk_imatrix *im, int *n_layer, double *tokens);
/* Mixture of experts: tokens routed to each expert of each layer during
 * calibration ([n_layer][n_expert]), or NULL. Saved as lathe.expert_routes. */
const double *lk_imatrix_routes (const lk_imatrix *im, int *n_layer, int *n_expert);
