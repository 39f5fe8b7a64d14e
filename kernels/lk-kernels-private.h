/* SPDX-License-Identifier: MIT */
/* Shared by the kernel versions: the scalar operations every table may fall
 * back to, and the entry points of the instruction-set versions, each
 * compiled in its own file with its own flags. */
#pragma once

#include "lk-kernels.h"

/* Scalar element-wise operations (lk-ops-scalar.c). */
void lk_rmsnorm_scalar (float *out, const float *x, const float *w, int64_t n, float eps);
void lk_softmax_scalar (float *x, int64_t n);
void lk_silu_mul_scalar (float *a, const float *b, int64_t n);
void lk_add_scalar (float *a, const float *b, int64_t n);
float lk_dot_f32_scalar (int64_t n, const float *a, const float *b);
void lk_axpy_f32_scalar (int64_t n, float alpha, const float *x, float *y);
float lk_dot_f16_scalar (int64_t n, const lk_half *a, const float *b);
void lk_axpy_f16_scalar (int64_t n, float alpha, const lk_half *x, float *y);
void lk_f32_to_f16_scalar (const float *x, lk_half *y, int64_t n);
void lk_rope_scalar (float *x, int64_t n_rot, const float *cos_t, const float *sin_t, bool neox);
uint64_t lk_sum_bytes_scalar (const void *p, size_t n);
void lk_attn_f16_scalar (const float *q, const lk_half *k, const lk_half *v, int64_t stride,
                         int n_keys, int hd, float scale, float *scores, float *out);
void lk_attn_f32_scalar (const float *q, const float *k, const float *v, int64_t stride,
                         int n_keys, int hd, float scale, float *scores, float *out);
void lk_attn_q8_0_scalar (const float *q, const lk_block_q8_0 *k, const lk_block_q8_0 *v,
                          int64_t stride, int n_keys, int hd, float scale, float *scores, float *out);
void lk_quantize_act_bf16_scalar (const float *x, void *dst, int64_t n);

/* A gemm made of vec_dot calls, for versions without a tile kernel. */
void lk_gemm_by_vec_dot (lk_vec_dot_fn vec_dot, int64_t n, const void *w, size_t w_stride, int nr,
                         const void *x, size_t x_stride, int nc, float *y, size_t y_stride);

/* A gemm over a row-interleaved matrix (nr a multiple of 16), for versions
 * without a kernel for it: each row is copied out in its GGUF layout and
 * multiplied with that type's vec_dot. */
void lk_gemm_x16_by_rows (lk_type x16, lk_vec_dot_fn vec_dot, int64_t n, const void *w,
                          size_t w_stride, int nr, const void *x, size_t x_stride, int nc, float *y,
                          size_t y_stride);

/* Planar Q8 activation rows: where the parts are. */
static inline const int8_t *
lk_act_q8_qs (const void *row)
{
  return (const int8_t *) row;
}

static inline const float *
lk_act_q8_d (const void *row, int64_t n)
{
  return (const float *) ((const uint8_t *) row + n);
}

static inline const float *
lk_act_q8_s (const void *row, int64_t n)
{
  return (const float *) ((const uint8_t *) row + n) + n / 32;
}

const lk_kernels *lk_kernels_avx2 (void);
bool lk_kernels_avx2_runnable (const lk_cpu_features *f);
const lk_kernels *lk_kernels_avx512 (void);
bool lk_kernels_avx512_runnable (const lk_cpu_features *f);
const lk_kernels *lk_kernels_avx512vnni (void);
bool lk_kernels_avx512vnni_runnable (const lk_cpu_features *f);
const lk_kernels *lk_kernels_neon (void);
bool lk_kernels_neon_runnable (const lk_cpu_features *f);
const lk_kernels *lk_kernels_neon_dotprod (void);
bool lk_kernels_neon_dotprod_runnable (const lk_cpu_features *f);
