/* SPDX-License-Identifier: MIT */
/* The F32 reference path: each weight block is dequantized and multiplied in
 * F32 with unquantized activations. Slow, and the yardstick of numerical
 * accuracy for every other version. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lk-half.h"
#include "lk-kernels-private.h"

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

/* Packed layouts are not split into independent blocks: the whole row. */
static void
vec_dot_dequant_row (lk_type type, int64_t n, float *s, const void *w, const float *x)
{
  float *buf = malloc ((size_t) n * sizeof *buf);
  double sum = 0.0;

  if (buf == NULL)
    {
      *s = NAN;
      return;
    }
  lk_dequantize_row (type, w, buf, n);
  for (int64_t j = 0; j < n; j++)
    sum += (double) buf[j] * x[j];
  free (buf);
  *s = (float) sum;
}

#define DEFINE_REF_DOT_PACKED(lower, TYPE)                                                    \
  static void vec_dot_##lower##_ref (int64_t n, float *s, const void *w, const void *x)    \
  {                                                                                        \
    vec_dot_dequant_row (TYPE, n, s, w, x);                                                \
  }

DEFINE_REF_DOT_PACKED (q4_0_p, LK_TYPE_Q4_0_P)
DEFINE_REF_DOT_PACKED (q4_1_p, LK_TYPE_Q4_1_P)
DEFINE_REF_DOT_PACKED (q5_0_p, LK_TYPE_Q5_0_P)
DEFINE_REF_DOT_PACKED (q5_1_p, LK_TYPE_Q5_1_P)
DEFINE_REF_DOT_PACKED (q8_0_p, LK_TYPE_Q8_0_P)

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
DEFINE_REF_DOT (iq2_xxs, LK_TYPE_IQ2_XXS)
DEFINE_REF_DOT (iq2_xs, LK_TYPE_IQ2_XS)
DEFINE_REF_DOT (iq2_s, LK_TYPE_IQ2_S)
DEFINE_REF_DOT (iq3_xxs, LK_TYPE_IQ3_XXS)
DEFINE_REF_DOT (iq3_s, LK_TYPE_IQ3_S)
DEFINE_REF_DOT (iq1_s, LK_TYPE_IQ1_S)
DEFINE_REF_DOT (iq1_m, LK_TYPE_IQ1_M)
DEFINE_REF_DOT (iq4_nl, LK_TYPE_IQ4_NL)
DEFINE_REF_DOT (iq4_xs, LK_TYPE_IQ4_XS)
DEFINE_REF_DOT (tq1_0, LK_TYPE_TQ1_0)
DEFINE_REF_DOT (tq2_0, LK_TYPE_TQ2_0)
DEFINE_REF_DOT (mxfp4, LK_TYPE_MXFP4)

#define DEFINE_REF_GEMM_X16(lower, TYPE) \
  LK_DEFINE_GEMM_X16_BY_ROWS (gemm_##lower##_x16_ref, TYPE, vec_dot_##lower##_ref)

DEFINE_REF_GEMM_X16 (q4_0, LK_TYPE_Q4_0_X16)
DEFINE_REF_GEMM_X16 (q8_0, LK_TYPE_Q8_0_X16)
DEFINE_REF_GEMM_X16 (q4_K, LK_TYPE_Q4_K_X16)
DEFINE_REF_GEMM_X16 (q6_K, LK_TYPE_Q6_K_X16)
DEFINE_REF_GEMM_X16 (iq4_nl, LK_TYPE_IQ4_NL_X16)
DEFINE_REF_GEMM_X16 (mxfp4, LK_TYPE_MXFP4_X16)
DEFINE_REF_GEMM_X16 (iq4_xs, LK_TYPE_IQ4_XS_X16)

#define MM_REF(TYPE, lower) [TYPE] = { LK_ACT_F32, NULL, vec_dot_##lower##_ref, NULL }

static const lk_kernels reference_kernels = {
  .name = "reference",
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
    MM_REF (LK_TYPE_IQ2_XXS, iq2_xxs),
    MM_REF (LK_TYPE_IQ2_XS, iq2_xs),
    MM_REF (LK_TYPE_IQ2_S, iq2_s),
    MM_REF (LK_TYPE_IQ3_XXS, iq3_xxs),
    MM_REF (LK_TYPE_IQ3_S, iq3_s),
    MM_REF (LK_TYPE_IQ1_S, iq1_s),
    MM_REF (LK_TYPE_IQ1_M, iq1_m),
    MM_REF (LK_TYPE_IQ4_NL, iq4_nl),
    MM_REF (LK_TYPE_IQ4_XS, iq4_xs),
    MM_REF (LK_TYPE_TQ1_0, tq1_0),
    MM_REF (LK_TYPE_TQ2_0, tq2_0),
    MM_REF (LK_TYPE_MXFP4, mxfp4),
    MM_REF (LK_TYPE_Q4_0_P, q4_0_p),
    MM_REF (LK_TYPE_Q4_1_P, q4_1_p),
    MM_REF (LK_TYPE_Q5_0_P, q5_0_p),
    MM_REF (LK_TYPE_Q5_1_P, q5_1_p),
    MM_REF (LK_TYPE_Q8_0_P, q8_0_p),
    [LK_TYPE_Q4_0_X16] = { LK_ACT_F32, NULL, NULL, gemm_q4_0_x16_ref },
    [LK_TYPE_Q8_0_X16] = { LK_ACT_F32, NULL, NULL, gemm_q8_0_x16_ref },
    [LK_TYPE_Q4_K_X16] = { LK_ACT_F32, NULL, NULL, gemm_q4_K_x16_ref },
    [LK_TYPE_Q6_K_X16] = { LK_ACT_F32, NULL, NULL, gemm_q6_K_x16_ref },
    [LK_TYPE_IQ4_NL_X16] = { LK_ACT_F32, NULL, NULL, gemm_iq4_nl_x16_ref },
    [LK_TYPE_MXFP4_X16] = { LK_ACT_F32, NULL, NULL, gemm_mxfp4_x16_ref },
    [LK_TYPE_IQ4_XS_X16] = { LK_ACT_F32, NULL, NULL, gemm_iq4_xs_x16_ref },
  },
  .rmsnorm = lk_rmsnorm_scalar,
  .softmax = lk_softmax_scalar,
  .silu_mul = lk_silu_mul_scalar,
  .add = lk_add_scalar,
  .dot_f32 = lk_dot_f32_scalar,
  .axpy_f32 = lk_axpy_f32_scalar,
  .dot_f16 = lk_dot_f16_scalar,
  .axpy_f16 = lk_axpy_f16_scalar,
  .f32_to_f16 = lk_f32_to_f16_scalar,
  .rope = lk_rope_scalar,
  .attn = lk_attn_scalar,
  .sum_bytes = lk_sum_bytes_scalar,
};

const lk_kernels *
lk_kernels_reference (void)
{
  return &reference_kernels;
}
