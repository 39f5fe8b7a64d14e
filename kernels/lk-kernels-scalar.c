/* SPDX-License-Identifier: MIT */
/* The scalar reference kernels. Clear rather than fast: each is the
 * definition the SIMD versions are checked against. */
#include <math.h>
#include <string.h>

#include "lk-half.h"
#include "lk-kernels.h"

/* Weights of any type times F32 activations, by dequantizing a block at a
 * time: the F32 reference path. */
#define REF_CHUNK 256

static void
vec_dot_dequant (lk_type type, int64_t n, float *s, const void *w, const float *x)
{
  const lk_type_traits *tr = lk_type_get_traits (type);
  const lk_dequantize_fn deq = lk_get_dequantize (type);
  const int64_t chunk = tr->block_size > REF_CHUNK ? tr->block_size : REF_CHUNK;
  const uint8_t *wb = w;
  float buf[REF_CHUNK > LK_QK_K ? REF_CHUNK : LK_QK_K];
  double sum = 0.0;

  for (int64_t i = 0; i < n; i += chunk)
    {
      const int64_t len = n - i < chunk ? n - i : chunk;
      deq (wb + lk_row_size (type, i), buf, len);
      for (int64_t j = 0; j < len; j++)
        sum += (double) buf[j] * x[i + j];
    }
  *s = (float) sum;
}

#define DEFINE_REF_DOT(lower, TYPE)                                                  \
  static void vec_dot_##lower##_ref (int64_t n, float *s, const void *w, const void *x) \
  {                                                                                  \
    vec_dot_dequant (TYPE, n, s, w, x);                                              \
  }

DEFINE_REF_DOT (f32, LK_TYPE_F32)
DEFINE_REF_DOT (f16, LK_TYPE_F16)
DEFINE_REF_DOT (bf16, LK_TYPE_BF16)
DEFINE_REF_DOT (q4_0, LK_TYPE_Q4_0)
DEFINE_REF_DOT (q4_1, LK_TYPE_Q4_1)
DEFINE_REF_DOT (q5_0, LK_TYPE_Q5_0)
DEFINE_REF_DOT (q5_1, LK_TYPE_Q5_1)
DEFINE_REF_DOT (q8_0, LK_TYPE_Q8_0)
DEFINE_REF_DOT (q2_K, LK_TYPE_Q2_K)
DEFINE_REF_DOT (q3_K, LK_TYPE_Q3_K)
DEFINE_REF_DOT (q4_K, LK_TYPE_Q4_K)
DEFINE_REF_DOT (q5_K, LK_TYPE_Q5_K)
DEFINE_REF_DOT (q6_K, LK_TYPE_Q6_K)

static void
rmsnorm_ref (float *out, const float *x, const float *w, int64_t n, float eps)
{
  double ss = 0.0;

  for (int64_t i = 0; i < n; i++)
    ss += (double) x[i] * x[i];
  const float scale = 1.0f / sqrtf ((float) (ss / (double) n) + eps);
  for (int64_t i = 0; i < n; i++)
    out[i] = x[i] * scale * w[i];
}

static void
softmax_ref (float *x, int64_t n)
{
  float max = -INFINITY;
  double sum = 0.0;

  for (int64_t i = 0; i < n; i++)
    if (x[i] > max)
      max = x[i];
  for (int64_t i = 0; i < n; i++)
    {
      x[i] = expf (x[i] - max);
      sum += x[i];
    }
  for (int64_t i = 0; i < n; i++)
    x[i] = (float) (x[i] / sum);
}

static void
silu_mul_ref (float *a, const float *b, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    a[i] = a[i] / (1.0f + expf (-a[i])) * b[i];
}

static void
add_ref (float *a, const float *b, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    a[i] += b[i];
}

static float
dot_f32_ref (int64_t n, const float *a, const float *b)
{
  double sum = 0.0;

  for (int64_t i = 0; i < n; i++)
    sum += (double) a[i] * b[i];
  return (float) sum;
}

static void
axpy_f32_ref (int64_t n, float alpha, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i++)
    y[i] += alpha * x[i];
}

static float
dot_f16_ref (int64_t n, const lk_half *a, const float *b)
{
  double sum = 0.0;

  for (int64_t i = 0; i < n; i++)
    sum += (double) lk_half_to_f32 (a[i]) * b[i];
  return (float) sum;
}

static void
axpy_f16_ref (int64_t n, float alpha, const lk_half *x, float *y)
{
  for (int64_t i = 0; i < n; i++)
    y[i] += alpha * lk_half_to_f32 (x[i]);
}

static void
f32_to_f16_ref (const float *x, lk_half *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = lk_f32_to_half (x[i]);
}

static void
rope_ref (float *x, int64_t n_rot, const float *cos_t, const float *sin_t, bool neox)
{
  const int64_t half = n_rot / 2;

  for (int64_t i = 0; i < half; i++)
    {
      const int64_t i0 = neox ? i : 2 * i;
      const int64_t i1 = neox ? i + half : 2 * i + 1;
      const float x0 = x[i0], x1 = x[i1];
      x[i0] = x0 * cos_t[i] - x1 * sin_t[i];
      x[i1] = x0 * sin_t[i] + x1 * cos_t[i];
    }
}

#define MM_REF(TYPE, lower) [TYPE] = { LK_TYPE_F32, lk_quantize_row_f32, vec_dot_##lower##_ref }

static const lk_kernels scalar_kernels = {
  .name = "scalar",
  .mm = {
    MM_REF (LK_TYPE_F32, f32),
    MM_REF (LK_TYPE_F16, f16),
    MM_REF (LK_TYPE_BF16, bf16),
    MM_REF (LK_TYPE_Q4_0, q4_0),
    MM_REF (LK_TYPE_Q4_1, q4_1),
    MM_REF (LK_TYPE_Q5_0, q5_0),
    MM_REF (LK_TYPE_Q5_1, q5_1),
    MM_REF (LK_TYPE_Q8_0, q8_0),
    MM_REF (LK_TYPE_Q2_K, q2_K),
    MM_REF (LK_TYPE_Q3_K, q3_K),
    MM_REF (LK_TYPE_Q4_K, q4_K),
    MM_REF (LK_TYPE_Q5_K, q5_K),
    MM_REF (LK_TYPE_Q6_K, q6_K),
  },
  .rmsnorm = rmsnorm_ref,
  .softmax = softmax_ref,
  .silu_mul = silu_mul_ref,
  .add = add_ref,
  .dot_f32 = dot_f32_ref,
  .axpy_f32 = axpy_f32_ref,
  .dot_f16 = dot_f16_ref,
  .axpy_f16 = axpy_f16_ref,
  .f32_to_f16 = f32_to_f16_ref,
  .rope = rope_ref,
};

const lk_kernels *
lk_kernels_scalar (void)
{
  return &scalar_kernels;
}
