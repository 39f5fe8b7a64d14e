/* SPDX-License-Identifier: MIT */
#include <float.h>
#include <math.h>
#include <string.h>

#include "lk-half.h"
#include "lk-pack.h"
#include "lk-quant.h"
#include "lk-quant-iq.h"

#define MIN(a, b) ((a) < (b) ? (a) : (b))

void
lk_dequantize_row_f32 (const void *src, float *dst, int64_t n)
{
  memcpy (dst, src, (size_t) n * sizeof (float));
}

void
lk_dequantize_row_f16 (const void *src, float *dst, int64_t n)
{
  const lk_half *x = src;

  for (int64_t i = 0; i < n; i++)
    dst[i] = lk_half_to_f32 (x[i]);
}

void
lk_dequantize_row_bf16 (const void *src, float *dst, int64_t n)
{
  const lk_bf16 *x = src;

  for (int64_t i = 0; i < n; i++)
    dst[i] = lk_bf16_to_f32 (x[i]);
}

void
lk_dequantize_row_q4_0 (const void *src, float *dst, int64_t n)
{
  const lk_block_q4_0 *x = src;

  for (int64_t i = 0; i < n / LK_QK4_0; i++, dst += LK_QK4_0)
    {
      const float d = lk_half_to_f32 (x[i].d);
      for (int j = 0; j < LK_QK4_0 / 2; j++)
        {
          dst[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
          dst[j + LK_QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void
lk_dequantize_row_q4_1 (const void *src, float *dst, int64_t n)
{
  const lk_block_q4_1 *x = src;

  for (int64_t i = 0; i < n / LK_QK4_1; i++, dst += LK_QK4_1)
    {
      const float d = lk_half_to_f32 (x[i].d);
      const float m = lk_half_to_f32 (x[i].m);
      for (int j = 0; j < LK_QK4_1 / 2; j++)
        {
          dst[j] = (x[i].qs[j] & 0x0F) * d + m;
          dst[j + LK_QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

void
lk_dequantize_row_q5_0 (const void *src, float *dst, int64_t n)
{
  const lk_block_q5_0 *x = src;

  for (int64_t i = 0; i < n / LK_QK5_0; i++, dst += LK_QK5_0)
    {
      const float d = lk_half_to_f32 (x[i].d);
      uint32_t qh;
      memcpy (&qh, x[i].qh, sizeof qh);
      for (int j = 0; j < LK_QK5_0 / 2; j++)
        {
          const int xh0 = ((qh >> j) << 4) & 0x10;
          const int xh1 = (int) (qh >> (j + 12)) & 0x10;
          dst[j] = (((x[i].qs[j] & 0x0F) | xh0) - 16) * d;
          dst[j + LK_QK5_0 / 2] = (((x[i].qs[j] >> 4) | xh1) - 16) * d;
        }
    }
}

void
lk_dequantize_row_q5_1 (const void *src, float *dst, int64_t n)
{
  const lk_block_q5_1 *x = src;

  for (int64_t i = 0; i < n / LK_QK5_1; i++, dst += LK_QK5_1)
    {
      const float d = lk_half_to_f32 (x[i].d);
      const float m = lk_half_to_f32 (x[i].m);
      uint32_t qh;
      memcpy (&qh, x[i].qh, sizeof qh);
      for (int j = 0; j < LK_QK5_1 / 2; j++)
        {
          const int xh0 = ((qh >> j) << 4) & 0x10;
          const int xh1 = (int) (qh >> (j + 12)) & 0x10;
          dst[j] = ((x[i].qs[j] & 0x0F) | xh0) * d + m;
          dst[j + LK_QK5_1 / 2] = ((x[i].qs[j] >> 4) | xh1) * d + m;
        }
    }
}

void
lk_dequantize_row_q8_0 (const void *src, float *dst, int64_t n)
{
  const lk_block_q8_0 *x = src;

  for (int64_t i = 0; i < n / LK_QK8_0; i++, dst += LK_QK8_0)
    {
      const float d = lk_half_to_f32 (x[i].d);
      for (int j = 0; j < LK_QK8_0; j++)
        dst[j] = x[i].qs[j] * d;
    }
}

void
lk_dequantize_row_q8_1 (const void *src, float *dst, int64_t n)
{
  const lk_block_q8_1 *x = src;

  for (int64_t i = 0; i < n / LK_QK8_1; i++, dst += LK_QK8_1)
    {
      const float d = lk_half_to_f32 (x[i].d);
      for (int j = 0; j < LK_QK8_1; j++)
        dst[j] = x[i].qs[j] * d;
    }
}

void
lk_dequantize_row_q2_K (const void *src, float *dst, int64_t n)
{
  const lk_block_q2_K *x = src;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const float d = lk_half_to_f32 (x[i].d);
      const float dmin = lk_half_to_f32 (x[i].dmin);
      const uint8_t *q = x[i].qs;
      int is = 0;

      for (int half = 0; half < LK_QK_K; half += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2)
          for (int part = 0; part < 2; part++)
            {
              const uint8_t sc = x[i].scales[is++];
              const float dl = d * (sc & 0xF);
              const float ml = dmin * (sc >> 4);
              for (int l = 0; l < 16; l++)
                *dst++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
            }
    }
}

void
lk_q3_K_unpack_scales (const uint8_t packed[12], int8_t scales[16])
{
  /* Scales are 6 bits: the low 4 bits of all sixteen come first (two per
   * byte, in the first 8 bytes), the high 2 bits follow (four per byte). */
  for (int j = 0; j < 16; j++)
    {
      const int lo = (j < 8) ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
      const int hi = (packed[8 + (j % 4)] >> (2 * (j / 4))) & 3;
      scales[j] = (int8_t) ((lo | (hi << 4)) - 32);
    }
}

void
lk_dequantize_row_q3_K (const void *src, float *dst, int64_t n)
{
  const lk_block_q3_K *x = src;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const float d_all = lk_half_to_f32 (x[i].d);
      const uint8_t *q = x[i].qs;
      const uint8_t *hm = x[i].hmask;
      int8_t scales[16];
      uint8_t m = 1;
      int is = 0;

      lk_q3_K_unpack_scales (x[i].scales, scales);
      for (int half = 0; half < LK_QK_K; half += 128, q += 32)
        for (int shift = 0; shift < 8; shift += 2, m <<= 1)
          for (int part = 0; part < 2; part++)
            {
              const float dl = d_all * scales[is++];
              for (int l = 0; l < 16; l++)
                {
                  const int k = l + 16 * part;
                  const int v = ((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4);
                  *dst++ = dl * v;
                }
            }
    }
}

void
lk_dequantize_row_q4_K (const void *src, float *dst, int64_t n)
{
  const lk_block_q4_K *x = src;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const float d = lk_half_to_f32 (x[i].d);
      const float dmin = lk_half_to_f32 (x[i].dmin);
      const uint8_t *q = x[i].qs;

      for (int is = 0; is < 8; is += 2, q += 32)
        {
          uint8_t sc, m;
          lk_get_scale_min_k4 (is, x[i].scales, &sc, &m);
          const float d1 = d * sc, m1 = dmin * m;
          lk_get_scale_min_k4 (is + 1, x[i].scales, &sc, &m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; l++)
            *dst++ = d1 * (q[l] & 0xF) - m1;
          for (int l = 0; l < 32; l++)
            *dst++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

void
lk_dequantize_row_q5_K (const void *src, float *dst, int64_t n)
{
  const lk_block_q5_K *x = src;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const float d = lk_half_to_f32 (x[i].d);
      const float dmin = lk_half_to_f32 (x[i].dmin);
      const uint8_t *ql = x[i].qs;
      const uint8_t *qh = x[i].qh;
      uint8_t u1 = 1, u2 = 2;

      for (int is = 0; is < 8; is += 2, ql += 32, u1 <<= 2, u2 <<= 2)
        {
          uint8_t sc, m;
          lk_get_scale_min_k4 (is, x[i].scales, &sc, &m);
          const float d1 = d * sc, m1 = dmin * m;
          lk_get_scale_min_k4 (is + 1, x[i].scales, &sc, &m);
          const float d2 = d * sc, m2 = dmin * m;
          for (int l = 0; l < 32; l++)
            *dst++ = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) ? 16 : 0)) - m1;
          for (int l = 0; l < 32; l++)
            *dst++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

void
lk_dequantize_row_q6_K (const void *src, float *dst, int64_t n)
{
  const lk_block_q6_K *x = src;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const float d = lk_half_to_f32 (x[i].d);
      const uint8_t *ql = x[i].ql;
      const uint8_t *qh = x[i].qh;
      const int8_t *sc = x[i].scales;

      for (int half = 0; half < LK_QK_K; half += 128, dst += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++)
          {
            const int is = l / 16;
            const int q1 = (int) ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = (int) ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = (int) ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = (int) ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            dst[l + 0] = d * sc[is + 0] * q1;
            dst[l + 32] = d * sc[is + 2] * q2;
            dst[l + 64] = d * sc[is + 4] * q3;
            dst[l + 96] = d * sc[is + 6] * q4;
          }
    }
}

void
lk_dequantize_row_q8_K (const void *src, float *dst, int64_t n)
{
  const lk_block_q8_K *x = src;

  for (int64_t i = 0; i < n / LK_QK_K; i++)
    for (int j = 0; j < LK_QK_K; j++)
      *dst++ = x[i].d * x[i].qs[j];
}

void
lk_quantize_row_f32 (const float *src, void *dst, int64_t n)
{
  memcpy (dst, src, (size_t) n * sizeof (float));
}

void
lk_quantize_row_f16 (const float *src, void *dst, int64_t n)
{
  lk_half *y = dst;

  for (int64_t i = 0; i < n; i++)
    y[i] = lk_f32_to_half (src[i]);
}

void
lk_quantize_row_bf16 (const float *src, void *dst, int64_t n)
{
  lk_bf16 *y = dst;

  for (int64_t i = 0; i < n; i++)
    y[i] = lk_f32_to_bf16 (src[i]);
}

/* The value of largest magnitude, with its sign. */
static float
signed_absmax (const float *x, int n, float *amax_out)
{
  float amax = 0.0f, max = 0.0f;

  for (int j = 0; j < n; j++)
    if (amax < fabsf (x[j]))
      {
        amax = fabsf (x[j]);
        max = x[j];
      }
  if (amax_out)
    *amax_out = amax;
  return max;
}

static void
min_max (const float *x, int n, float *min, float *max)
{
  *min = FLT_MAX;
  *max = -FLT_MAX;
  for (int j = 0; j < n; j++)
    {
      if (x[j] < *min)
        *min = x[j];
      if (x[j] > *max)
        *max = x[j];
    }
}

void
lk_quantize_row_q4_0_ref (const float *x, void *dst, int64_t n)
{
  lk_block_q4_0 *y = dst;

  for (int64_t i = 0; i < n / LK_QK4_0; i++, x += LK_QK4_0)
    {
      const float d = signed_absmax (x, LK_QK4_0, NULL) / -8;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      y[i].d = lk_f32_to_half (d);
      for (int j = 0; j < LK_QK4_0 / 2; j++)
        {
          const uint8_t xi0 = (uint8_t) MIN (15, (int8_t) (x[j] * id + 8.5f));
          const uint8_t xi1 = (uint8_t) MIN (15, (int8_t) (x[LK_QK4_0 / 2 + j] * id + 8.5f));
          y[i].qs[j] = (uint8_t) (xi0 | (xi1 << 4));
        }
    }
}

void
lk_quantize_row_q4_1_ref (const float *x, void *dst, int64_t n)
{
  lk_block_q4_1 *y = dst;

  for (int64_t i = 0; i < n / LK_QK4_1; i++, x += LK_QK4_1)
    {
      float min, max;
      min_max (x, LK_QK4_1, &min, &max);
      const float d = (max - min) / ((1 << 4) - 1);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      y[i].d = lk_f32_to_half (d);
      y[i].m = lk_f32_to_half (min);
      for (int j = 0; j < LK_QK4_1 / 2; j++)
        {
          const uint8_t xi0 = (uint8_t) MIN (15, (int8_t) ((x[j] - min) * id + 0.5f));
          const uint8_t xi1 = (uint8_t) MIN (15, (int8_t) ((x[LK_QK4_1 / 2 + j] - min) * id + 0.5f));
          y[i].qs[j] = (uint8_t) (xi0 | (xi1 << 4));
        }
    }
}

void
lk_quantize_row_q5_0_ref (const float *x, void *dst, int64_t n)
{
  lk_block_q5_0 *y = dst;

  for (int64_t i = 0; i < n / LK_QK5_0; i++, x += LK_QK5_0)
    {
      const float d = signed_absmax (x, LK_QK5_0, NULL) / -16;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      uint32_t qh = 0;
      y[i].d = lk_f32_to_half (d);
      for (int j = 0; j < LK_QK5_0 / 2; j++)
        {
          const uint8_t xi0 = (uint8_t) MIN (31, (int8_t) (x[j] * id + 16.5f));
          const uint8_t xi1 = (uint8_t) MIN (31, (int8_t) (x[LK_QK5_0 / 2 + j] * id + 16.5f));
          y[i].qs[j] = (uint8_t) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
          qh |= ((uint32_t) (xi0 & 0x10u) >> 4) << j;
          qh |= ((uint32_t) (xi1 & 0x10u) >> 4) << (j + LK_QK5_0 / 2);
        }
      memcpy (y[i].qh, &qh, sizeof qh);
    }
}

void
lk_quantize_row_q5_1_ref (const float *x, void *dst, int64_t n)
{
  lk_block_q5_1 *y = dst;

  for (int64_t i = 0; i < n / LK_QK5_1; i++, x += LK_QK5_1)
    {
      float min, max;
      min_max (x, LK_QK5_1, &min, &max);
      const float d = (max - min) / ((1 << 5) - 1);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      uint32_t qh = 0;
      y[i].d = lk_f32_to_half (d);
      y[i].m = lk_f32_to_half (min);
      for (int j = 0; j < LK_QK5_1 / 2; j++)
        {
          const uint8_t xi0 = (uint8_t) ((x[j] - min) * id + 0.5f);
          const uint8_t xi1 = (uint8_t) ((x[LK_QK5_1 / 2 + j] - min) * id + 0.5f);
          y[i].qs[j] = (uint8_t) ((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
          qh |= ((uint32_t) (xi0 & 0x10u) >> 4) << j;
          qh |= ((uint32_t) (xi1 & 0x10u) >> 4) << (j + LK_QK5_1 / 2);
        }
      memcpy (y[i].qh, &qh, sizeof qh);
    }
}

void
lk_quantize_row_q8_0_ref (const float *x, void *dst, int64_t n)
{
  lk_block_q8_0 *y = dst;

  for (int64_t i = 0; i < n / LK_QK8_0; i++, x += LK_QK8_0)
    {
      float amax;
      signed_absmax (x, LK_QK8_0, &amax);
      const float d = amax / ((1 << 7) - 1);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      y[i].d = lk_f32_to_half (d);
      for (int j = 0; j < LK_QK8_0; j++)
        y[i].qs[j] = (int8_t) roundf (x[j] * id);
    }
}

void
lk_quantize_row_q8_1_ref (const float *x, void *dst, int64_t n)
{
  lk_block_q8_1 *y = dst;

  for (int64_t i = 0; i < n / LK_QK8_1; i++, x += LK_QK8_1)
    {
      float amax;
      int sum = 0;
      signed_absmax (x, LK_QK8_1, &amax);
      const float d = amax / ((1 << 7) - 1);
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      y[i].d = lk_f32_to_half (d);
      for (int j = 0; j < LK_QK8_1; j++)
        {
          y[i].qs[j] = (int8_t) roundf (x[j] * id);
          sum += y[i].qs[j];
        }
      y[i].s = lk_f32_to_half (sum * d);
    }
}

void
lk_quantize_row_q8_K_ref (const float *x, void *dst, int64_t n)
{
  lk_block_q8_K *y = dst;

  for (int64_t i = 0; i < n / LK_QK_K; i++, x += LK_QK_K)
    {
      float amax;
      const float max = signed_absmax (x, LK_QK_K, &amax);
      if (amax == 0.0f)
        {
          memset (&y[i], 0, sizeof y[i]);
          continue;
        }
      const float iscale = -127.f / max;
      for (int j = 0; j < LK_QK_K; j++)
        {
          const int v = (int) lrintf (iscale * x[j]);
          y[i].qs[j] = (int8_t) MIN (127, v);
        }
      for (int j = 0; j < LK_QK_K / 16; j++)
        {
          int sum = 0;
          for (int l = 0; l < 16; l++)
            sum += y[i].qs[j * 16 + l];
          y[i].bsums[j] = (int16_t) sum;
        }
      y[i].d = 1.0f / iscale;
    }
}

/* Packed layouts: every block through the accessors. */
static void
dequantize_packed (lk_type p, const void *src, float *dst, int64_t n)
{
  const float offset = p == LK_TYPE_Q4_0_P ? 8.0f : p == LK_TYPE_Q5_0_P ? 16.0f : 0.0f;

  for (int64_t b = 0; b < n / 32; b++)
    {
      int q[32];
      const float d = lk_packed_d (p, src, n, b), m = lk_packed_m (p, src, n, b);
      lk_packed_levels (p, src, n, b, q);
      /* The same arithmetic as the GGUF layouts' dequantizers. */
      for (int j = 0; j < 32; j++)
        dst[32 * b + j] = (p == LK_TYPE_Q4_1_P || p == LK_TYPE_Q5_1_P) ? q[j] * d + m
                                                                        : (q[j] - (int) offset) * d;
    }
}

#define DEFINE_PACKED_DEQ(lower, TYPE)                                              \
  static void dequantize_##lower (const void *src, float *dst, int64_t n)          \
  {                                                                                 \
    dequantize_packed (TYPE, src, dst, n);                                          \
  }

DEFINE_PACKED_DEQ (q4_0_p, LK_TYPE_Q4_0_P)
DEFINE_PACKED_DEQ (q4_1_p, LK_TYPE_Q4_1_P)
DEFINE_PACKED_DEQ (q5_0_p, LK_TYPE_Q5_0_P)
DEFINE_PACKED_DEQ (q5_1_p, LK_TYPE_Q5_1_P)
DEFINE_PACKED_DEQ (q8_0_p, LK_TYPE_Q8_0_P)

lk_dequantize_fn
lk_get_dequantize (lk_type type)
{
  switch (type)
    {
    case LK_TYPE_F32: return lk_dequantize_row_f32;
    case LK_TYPE_F16: return lk_dequantize_row_f16;
    case LK_TYPE_BF16: return lk_dequantize_row_bf16;
    case LK_TYPE_Q4_0: return lk_dequantize_row_q4_0;
    case LK_TYPE_Q4_1: return lk_dequantize_row_q4_1;
    case LK_TYPE_Q5_0: return lk_dequantize_row_q5_0;
    case LK_TYPE_Q5_1: return lk_dequantize_row_q5_1;
    case LK_TYPE_Q8_0: return lk_dequantize_row_q8_0;
    case LK_TYPE_Q8_1: return lk_dequantize_row_q8_1;
    case LK_TYPE_Q2_K: return lk_dequantize_row_q2_K;
    case LK_TYPE_Q3_K: return lk_dequantize_row_q3_K;
    case LK_TYPE_Q4_K: return lk_dequantize_row_q4_K;
    case LK_TYPE_Q5_K: return lk_dequantize_row_q5_K;
    case LK_TYPE_Q6_K: return lk_dequantize_row_q6_K;
    case LK_TYPE_Q8_K: return lk_dequantize_row_q8_K;
    case LK_TYPE_IQ2_XXS: return lk_dequantize_row_iq2_xxs;
    case LK_TYPE_IQ2_XS: return lk_dequantize_row_iq2_xs;
    case LK_TYPE_IQ2_S: return lk_dequantize_row_iq2_s;
    case LK_TYPE_IQ3_XXS: return lk_dequantize_row_iq3_xxs;
    case LK_TYPE_IQ3_S: return lk_dequantize_row_iq3_s;
    case LK_TYPE_IQ1_S: return lk_dequantize_row_iq1_s;
    case LK_TYPE_IQ1_M: return lk_dequantize_row_iq1_m;
    case LK_TYPE_IQ4_NL: return lk_dequantize_row_iq4_nl;
    case LK_TYPE_IQ4_XS: return lk_dequantize_row_iq4_xs;
    case LK_TYPE_TQ1_0: return lk_dequantize_row_tq1_0;
    case LK_TYPE_TQ2_0: return lk_dequantize_row_tq2_0;
    case LK_TYPE_MXFP4: return lk_dequantize_row_mxfp4;
    case LK_TYPE_Q4_0_P: return dequantize_q4_0_p;
    case LK_TYPE_Q4_1_P: return dequantize_q4_1_p;
    case LK_TYPE_Q5_0_P: return dequantize_q5_0_p;
    case LK_TYPE_Q5_1_P: return dequantize_q5_1_p;
    case LK_TYPE_Q8_0_P: return dequantize_q8_0_p;
    default: return NULL;
    }
}

lk_quantize_fn
lk_get_quantize_ref (lk_type type)
{
  switch (type)
    {
    case LK_TYPE_F32: return lk_quantize_row_f32;
    case LK_TYPE_F16: return lk_quantize_row_f16;
    case LK_TYPE_BF16: return lk_quantize_row_bf16;
    case LK_TYPE_Q4_0: return lk_quantize_row_q4_0_ref;
    case LK_TYPE_Q4_1: return lk_quantize_row_q4_1_ref;
    case LK_TYPE_Q5_0: return lk_quantize_row_q5_0_ref;
    case LK_TYPE_Q5_1: return lk_quantize_row_q5_1_ref;
    case LK_TYPE_Q8_0: return lk_quantize_row_q8_0_ref;
    case LK_TYPE_Q8_1: return lk_quantize_row_q8_1_ref;
    case LK_TYPE_Q8_K: return lk_quantize_row_q8_K_ref;
    case LK_TYPE_Q2_K: return lk_quantize_row_q2_K_ref;
    case LK_TYPE_Q3_K: return lk_quantize_row_q3_K_ref;
    case LK_TYPE_Q4_K: return lk_quantize_row_q4_K_ref;
    case LK_TYPE_Q5_K: return lk_quantize_row_q5_K_ref;
    case LK_TYPE_Q6_K: return lk_quantize_row_q6_K_ref;
    case LK_TYPE_IQ4_NL: return lk_quantize_row_iq4_nl_ref;
    case LK_TYPE_IQ4_XS: return lk_quantize_row_iq4_xs_ref;
    case LK_TYPE_IQ2_XXS: return lk_quantize_row_iq2_xxs_ref;
    case LK_TYPE_IQ2_XS: return lk_quantize_row_iq2_xs_ref;
    case LK_TYPE_IQ2_S: return lk_quantize_row_iq2_s_ref;
    case LK_TYPE_IQ3_XXS: return lk_quantize_row_iq3_xxs_ref;
    case LK_TYPE_IQ3_S: return lk_quantize_row_iq3_s_ref;
    case LK_TYPE_IQ1_S: return lk_quantize_row_iq1_s_ref;
    case LK_TYPE_IQ1_M: return lk_quantize_row_iq1_m_ref;
    case LK_TYPE_TQ1_0: return lk_quantize_row_tq1_0_ref;
    case LK_TYPE_TQ2_0: return lk_quantize_row_tq2_0_ref;
    case LK_TYPE_MXFP4: return lk_quantize_row_mxfp4_ref;
    default: return NULL;
    }
}

bool
lk_dequantize_row (lk_type type, const void *src, float *dst, int64_t n)
{
  lk_dequantize_fn fn = lk_get_dequantize (type);

  if (fn == NULL || lk_row_size (type, n) == 0)
    return false;
  fn (src, dst, n);
  return true;
}

bool
lk_quantize_row_ref (lk_type type, const float *src, void *dst, int64_t n)
{
  lk_quantize_fn fn = lk_get_quantize_ref (type);

  if (fn == NULL || lk_row_size (type, n) == 0)
    return false;
  fn (src, dst, n);
  return true;
}
