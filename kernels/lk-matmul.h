/* SPDX-License-Identifier: MIT */
/* Threaded matrix multiplication: Y = X W^T for a weight matrix W of any
 * supported type and F32 activations X. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "lk-kernels.h"
#include "lk-pool.h"

typedef struct
{
  lk_type type;
  int64_t n_rows;   /* output features */
  int64_t n_cols;   /* input features, the length of a row */
  size_t row_bytes; /* distance between rows */
  const void *data;
} lk_mat;

/* Bytes of scratch lk_matmul() needs for these shapes. */
size_t lk_matmul_scratch_size (const lk_kernels *k, lk_type type, int64_t n_cols, int64_t n_tok);

/* Y[t][r] = sum_c W[r][c] X[t][c] for t < n_tok, r < W->n_rows.
 * X rows are x_stride floats apart, Y rows y_stride floats apart.
 * Returns 0, or -1 if this kernel version cannot multiply W's type. */
int lk_matmul (lk_pool *pool, const lk_kernels *k, const lk_mat *W,
               const float *X, int64_t x_stride, int64_t n_tok,
               float *Y, int64_t y_stride, void *scratch);
