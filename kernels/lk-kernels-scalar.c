/* SPDX-License-Identifier: MIT */
/* The scalar version: plain C with the activation formats of the fast
 * versions (8-bit blocks), integer dot products inside each block, one float
 * scale per block. Each SIMD version computes exactly these sums. */
#include <string.h>

#include "lk-half.h"
#include "lk-kernels-private.h"
#include "lk-pack.h"

/* Float weights ------------------------------------------------------------ */

static void
vec_dot_f32 (int64_t n, float *s, const void *w, const void *x)
{
  const float *a = w, *b = x;
  float acc[4] = { 0 };

  for (int64_t i = 0; i < n; i++)
    acc[i & 3] += a[i] * b[i];
  *s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static void
vec_dot_f16 (int64_t n, float *s, const void *w, const void *x)
{
  const lk_half *a = w;
  const float *b = x;
  float acc[4] = { 0 };

  for (int64_t i = 0; i < n; i++)
    acc[i & 3] += lk_half_to_f32 (a[i]) * b[i];
  *s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static void
vec_dot_bf16 (int64_t n, float *s, const void *w, const void *x)
{
  const lk_bf16 *a = w;
  const float *b = x;
  float acc[4] = { 0 };

  for (int64_t i = 0; i < n; i++)
    acc[i & 3] += lk_bf16_to_f32 (a[i]) * b[i];
  *s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* 32-element blocks against planar Q8 activations -------------------------- */

/* The integer levels of one block, in element order. */
static void
levels_q4_0 (const lk_block_q4_0 *b, int q[32])
{
  for (int j = 0; j < 16; j++)
    {
      q[j] = b->qs[j] & 0xF;
      q[j + 16] = b->qs[j] >> 4;
    }
}

static void
levels_q5 (const uint8_t qs[16], const uint8_t qh_bytes[4], int q[32])
{
  uint32_t qh;

  memcpy (&qh, qh_bytes, 4);
  for (int j = 0; j < 16; j++)
    {
      q[j] = (qs[j] & 0xF) | (int) (((qh >> j) & 1) << 4);
      q[j + 16] = (qs[j] >> 4) | (int) (((qh >> (j + 16)) & 1) << 4);
    }
}

static int
dot32 (const int q[32], const int8_t *a)
{
  int sum = 0;

  for (int j = 0; j < 32; j++)
    sum += q[j] * a[j];
  return sum;
}

static void
vec_dot_q4_0 (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q4_0 *b = w;
  const int8_t *qa = lk_act_q8_qs (x);
  const float *da = lk_act_q8_d (x, n), *sa = lk_act_q8_s (x, n);
  float sum = 0.0f;
  int q[32];

  /* sum((q - 8) a) = sum(q a) - 8 sum(a) */
  for (int64_t i = 0; i < n / 32; i++)
    {
      levels_q4_0 (&b[i], q);
      sum += lk_half_to_f32 (b[i].d) * (da[i] * (float) dot32 (q, qa + 32 * i) - 8.0f * sa[i]);
    }
  *s = sum;
}

static void
vec_dot_q4_1 (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q4_1 *b = w;
  const int8_t *qa = lk_act_q8_qs (x);
  const float *da = lk_act_q8_d (x, n), *sa = lk_act_q8_s (x, n);
  float sum = 0.0f;
  int q[32];

  for (int64_t i = 0; i < n / 32; i++)
    {
      for (int j = 0; j < 16; j++)
        {
          q[j] = b[i].qs[j] & 0xF;
          q[j + 16] = b[i].qs[j] >> 4;
        }
      sum += lk_half_to_f32 (b[i].d) * da[i] * (float) dot32 (q, qa + 32 * i)
             + lk_half_to_f32 (b[i].m) * sa[i];
    }
  *s = sum;
}

static void
vec_dot_q5_0 (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q5_0 *b = w;
  const int8_t *qa = lk_act_q8_qs (x);
  const float *da = lk_act_q8_d (x, n), *sa = lk_act_q8_s (x, n);
  float sum = 0.0f;
  int q[32];

  for (int64_t i = 0; i < n / 32; i++)
    {
      levels_q5 (b[i].qs, b[i].qh, q);
      sum += lk_half_to_f32 (b[i].d) * (da[i] * (float) dot32 (q, qa + 32 * i) - 16.0f * sa[i]);
    }
  *s = sum;
}

static void
vec_dot_q5_1 (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q5_1 *b = w;
  const int8_t *qa = lk_act_q8_qs (x);
  const float *da = lk_act_q8_d (x, n), *sa = lk_act_q8_s (x, n);
  float sum = 0.0f;
  int q[32];

  for (int64_t i = 0; i < n / 32; i++)
    {
      levels_q5 (b[i].qs, b[i].qh, q);
      sum += lk_half_to_f32 (b[i].d) * da[i] * (float) dot32 (q, qa + 32 * i)
             + lk_half_to_f32 (b[i].m) * sa[i];
    }
  *s = sum;
}

static void
vec_dot_q8_0 (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q8_0 *b = w;
  const int8_t *qa = lk_act_q8_qs (x);
  const float *da = lk_act_q8_d (x, n);
  float sum = 0.0f;

  for (int64_t i = 0; i < n / 32; i++)
    {
      int sumi = 0;
      for (int j = 0; j < 32; j++)
        sumi += b[i].qs[j] * qa[32 * i + j];
      sum += lk_half_to_f32 (b[i].d) * da[i] * (float) sumi;
    }
  *s = sum;
}

/* Packed layouts: the same sums, levels read through the accessors. */
static void
vec_dot_packed (lk_type p, int64_t n, float *s, const void *w, const void *x)
{
  const int8_t *qa = lk_act_q8_qs (x);
  const float *da = lk_act_q8_d (x, n), *sa = lk_act_q8_s (x, n);
  const float offset = p == LK_TYPE_Q4_0_P ? 8.0f : p == LK_TYPE_Q5_0_P ? 16.0f : 0.0f;
  const bool has_min = p == LK_TYPE_Q4_1_P || p == LK_TYPE_Q5_1_P;
  float sum = 0.0f;
  int q[32];

  for (int64_t i = 0; i < n / 32; i++)
    {
      const float dw = lk_packed_d (p, w, n, i);
      lk_packed_levels (p, w, n, i, q);
      if (has_min)
        sum += dw * da[i] * (float) dot32 (q, qa + 32 * i) + lk_packed_m (p, w, n, i) * sa[i];
      else
        sum += dw * (da[i] * (float) dot32 (q, qa + 32 * i) - offset * sa[i]);
    }
  *s = sum;
}

#define DEFINE_PACKED(lower, TYPE)                                                        \
  static void vec_dot_##lower (int64_t n, float *s, const void *w, const void *x)         \
  {                                                                                       \
    vec_dot_packed (TYPE, n, s, w, x);                                                    \
  }

DEFINE_PACKED (q4_0_p, LK_TYPE_Q4_0_P)
DEFINE_PACKED (q4_1_p, LK_TYPE_Q4_1_P)
DEFINE_PACKED (q5_0_p, LK_TYPE_Q5_0_P)
DEFINE_PACKED (q5_1_p, LK_TYPE_Q5_1_P)
DEFINE_PACKED (q8_0_p, LK_TYPE_Q8_0_P)

/* K-quants against Q8_K activations ---------------------------------------- */

/* Sum over the 16-element groups j of scale[j] * sum(q a). */
static int
dot_groups16 (const int8_t q[256], const int scale[16], const int8_t *a)
{
  int total = 0;

  for (int j = 0; j < 16; j++)
    {
      int sum = 0;
      for (int l = 0; l < 16; l++)
        sum += q[16 * j + l] * a[16 * j + l];
      total += scale[j] * sum;
    }
  return total;
}

static void
vec_dot_q2_K (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q2_K *b = w;
  const lk_block_q8_K *y = x;
  float sum = 0.0f;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      int8_t q[256];
      int sc[16], summ = 0;
      for (int h = 0; h < 2; h++)
        for (int js = 0; js < 4; js++)
          for (int l = 0; l < 32; l++)
            q[128 * h + 32 * js + l] = (int8_t) ((b[i].qs[32 * h + l] >> (2 * js)) & 3);
      for (int j = 0; j < 16; j++)
        {
          sc[j] = b[i].scales[j] & 0xF;
          summ += (b[i].scales[j] >> 4) * y[i].bsums[j];
        }
      sum += y[i].d * (lk_half_to_f32 (b[i].d) * (float) dot_groups16 (q, sc, y[i].qs)
                       - lk_half_to_f32 (b[i].dmin) * (float) summ);
    }
  *s = sum;
}

static void
vec_dot_q3_K (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q3_K *b = w;
  const lk_block_q8_K *y = x;
  float sum = 0.0f;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      int8_t q[256], scales8[16];
      int sc[16];
      lk_q3_K_unpack_scales (b[i].scales, scales8);
      for (int j = 0; j < 16; j++)
        sc[j] = scales8[j];
      for (int h = 0; h < 2; h++)
        for (int js = 0; js < 4; js++)
          for (int l = 0; l < 32; l++)
            {
              const int lo = (b[i].qs[32 * h + l] >> (2 * js)) & 3;
              const int hi = (b[i].hmask[l] >> (4 * h + js)) & 1;
              q[128 * h + 32 * js + l] = (int8_t) (lo - (hi ? 0 : 4));
            }
      sum += y[i].d * lk_half_to_f32 (b[i].d) * (float) dot_groups16 (q, sc, y[i].qs);
    }
  *s = sum;
}

static void
vec_dot_q45_K (int64_t n, float *s, const void *w, const void *x, bool five)
{
  const lk_block_q8_K *y = x;
  const size_t bsize = five ? sizeof (lk_block_q5_K) : sizeof (lk_block_q4_K);
  float sum = 0.0f;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const uint8_t *blk = (const uint8_t *) w + (size_t) i * bsize;
      const lk_block_q4_K *b4 = (const lk_block_q4_K *) blk;
      const lk_block_q5_K *b5 = (const lk_block_q5_K *) blk;
      const uint8_t *scales = five ? b5->scales : b4->scales;
      const uint8_t *qs = five ? b5->qs : b4->qs;
      int8_t q[256];
      int sc[16], summ = 0;

      for (int j = 0; j < 8; j++)
        {
          uint8_t d, m;
          lk_get_scale_min_k4 (j, scales, &d, &m);
          sc[2 * j] = sc[2 * j + 1] = d;
          summ += m * (y[i].bsums[2 * j] + y[i].bsums[2 * j + 1]);
        }
      for (int j = 0; j < 4; j++)
        for (int l = 0; l < 32; l++)
          {
            int lo = qs[32 * j + l] & 0xF, hi = qs[32 * j + l] >> 4;
            if (five)
              {
                lo |= ((b5->qh[l] >> (2 * j)) & 1) << 4;
                hi |= ((b5->qh[l] >> (2 * j + 1)) & 1) << 4;
              }
            q[64 * j + l] = (int8_t) lo;
            q[64 * j + 32 + l] = (int8_t) hi;
          }
      sum += y[i].d * (lk_half_to_f32 (five ? b5->d : b4->d) * (float) dot_groups16 (q, sc, y[i].qs)
                       - lk_half_to_f32 (five ? b5->dmin : b4->dmin) * (float) summ);
    }
  *s = sum;
}

static void
vec_dot_q4_K (int64_t n, float *s, const void *w, const void *x)
{
  vec_dot_q45_K (n, s, w, x, false);
}

static void
vec_dot_q5_K (int64_t n, float *s, const void *w, const void *x)
{
  vec_dot_q45_K (n, s, w, x, true);
}

static void
vec_dot_q6_K (int64_t n, float *s, const void *w, const void *x)
{
  const lk_block_q6_K *b = w;
  const lk_block_q8_K *y = x;
  float sum = 0.0f;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      int8_t q[256];
      int sc[16];
      for (int h = 0; h < 2; h++)
        {
          const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
          int8_t *o = q + 128 * h;
          for (int l = 0; l < 32; l++)
            {
              o[l] = (int8_t) (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
              o[l + 32] = (int8_t) (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
              o[l + 64] = (int8_t) (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
              o[l + 96] = (int8_t) (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
      for (int j = 0; j < 16; j++)
        sc[j] = b[i].scales[j];
      sum += y[i].d * lk_half_to_f32 (b[i].d) * (float) dot_groups16 (q, sc, y[i].qs);
    }
  *s = sum;
}

#define DEFINE_GEMM_X16(lower, TYPE) LK_DEFINE_GEMM_X16_BY_ROWS (gemm_##lower##_x16, TYPE, vec_dot_##lower)

DEFINE_GEMM_X16 (q4_0, LK_TYPE_Q4_0_X16)
DEFINE_GEMM_X16 (q8_0, LK_TYPE_Q8_0_X16)
DEFINE_GEMM_X16 (q4_K, LK_TYPE_Q4_K_X16)
DEFINE_GEMM_X16 (q6_K, LK_TYPE_Q6_K_X16)
LK_DEFINE_GEMM_X16_BY_ROWS (gemm_iq4_nl_x16, LK_TYPE_IQ4_NL_X16, lk_vec_dot_iq4_nl_scalar)
LK_DEFINE_GEMM_X16_BY_ROWS (gemm_mxfp4_x16, LK_TYPE_MXFP4_X16, lk_vec_dot_mxfp4_scalar)
LK_DEFINE_GEMM_X16_BY_ROWS (gemm_iq4_xs_x16, LK_TYPE_IQ4_XS_X16, lk_vec_dot_iq4_xs_scalar)

#define MM(TYPE, act, quant, lower) [TYPE] = { act, quant, vec_dot_##lower, NULL }

static const lk_kernels scalar_kernels = {
  .name = "scalar",
  .mm = {
    MM (LK_TYPE_F32, LK_ACT_F32, NULL, f32),
    MM (LK_TYPE_F16, LK_ACT_F32, NULL, f16),
    MM (LK_TYPE_BF16, LK_ACT_F32, NULL, bf16),
    MM (LK_TYPE_Q4_0, LK_ACT_Q8, lk_quantize_act_q8_ref, q4_0),
    MM (LK_TYPE_Q4_1, LK_ACT_Q8, lk_quantize_act_q8_ref, q4_1),
    MM (LK_TYPE_Q5_0, LK_ACT_Q8, lk_quantize_act_q8_ref, q5_0),
    MM (LK_TYPE_Q5_1, LK_ACT_Q8, lk_quantize_act_q8_ref, q5_1),
    MM (LK_TYPE_Q8_0, LK_ACT_Q8, lk_quantize_act_q8_ref, q8_0),
    MM (LK_TYPE_Q2_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q2_K),
    MM (LK_TYPE_Q3_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q3_K),
    MM (LK_TYPE_Q4_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q4_K),
    MM (LK_TYPE_Q5_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q5_K),
    MM (LK_TYPE_Q6_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q6_K),
    LK_MM_IQ_SCALAR_K,
    LK_MM_IQ_K (LK_TYPE_IQ4_XS, iq4_xs),
    LK_MM_IQ_32 (LK_TYPE_IQ4_NL, iq4_nl, lk_quantize_act_q8_ref),
    LK_MM_IQ_32 (LK_TYPE_MXFP4, mxfp4, lk_quantize_act_q8_ref),
    MM (LK_TYPE_Q4_0_P, LK_ACT_Q8, lk_quantize_act_q8_ref, q4_0_p),
    MM (LK_TYPE_Q4_1_P, LK_ACT_Q8, lk_quantize_act_q8_ref, q4_1_p),
    MM (LK_TYPE_Q5_0_P, LK_ACT_Q8, lk_quantize_act_q8_ref, q5_0_p),
    MM (LK_TYPE_Q5_1_P, LK_ACT_Q8, lk_quantize_act_q8_ref, q5_1_p),
    MM (LK_TYPE_Q8_0_P, LK_ACT_Q8, lk_quantize_act_q8_ref, q8_0_p),
    [LK_TYPE_Q4_0_X16] = { LK_ACT_Q8, lk_quantize_act_q8_ref, NULL, gemm_q4_0_x16 },
    [LK_TYPE_Q8_0_X16] = { LK_ACT_Q8, lk_quantize_act_q8_ref, NULL, gemm_q8_0_x16 },
    [LK_TYPE_Q4_K_X16] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, NULL, gemm_q4_K_x16 },
    [LK_TYPE_Q6_K_X16] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, NULL, gemm_q6_K_x16 },
    [LK_TYPE_IQ4_NL_X16] = { LK_ACT_Q8, lk_quantize_act_q8_ref, NULL, gemm_iq4_nl_x16 },
    [LK_TYPE_MXFP4_X16] = { LK_ACT_Q8, lk_quantize_act_q8_ref, NULL, gemm_mxfp4_x16 },
    [LK_TYPE_IQ4_XS_X16] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, NULL, gemm_iq4_xs_x16 },
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
lk_kernels_scalar (void)
{
  return &scalar_kernels;
}
