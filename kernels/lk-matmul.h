/* SPDX-License-Identifier: MIT */
/* Threaded matrix multiplication: Y = X W^T for weight matrices of any
 * supported type and F32 activations X. Several matrices that read the same
 * X (the Q, K, V projections; gate and up) run as one job, so X is converted
 * once and the threads meet once. */
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

typedef struct
{
  const lk_mat *w;
  float *y;         /* y[t * y_stride + r] */
  int64_t y_stride;
} lk_matmul_out;

/* Bytes of scratch a job needs (activation rows of every act type used). */
size_t lk_matmul_scratch_size (const lk_kernels *k, const lk_mat *const *ws, int n_mats,
                               int64_t n_tok);

/* For each output o: o.y[t][r] = sum_c o.w[r][c] X[t][c], t < n_tok. All
 * matrices have X's row length. Returns 0, or -1 if this kernel version
 * cannot multiply one of the types. */
int lk_matmul_multi (lk_pool *pool, const lk_kernels *k, const lk_matmul_out *outs, int n_outs,
                     const float *X, int64_t x_stride, int64_t n_tok, void *scratch);

/* One matrix. */
int lk_matmul (lk_pool *pool, const lk_kernels *k, const lk_mat *W, const float *X,
               int64_t x_stride, int64_t n_tok, float *Y, int64_t y_stride, void *scratch);
