/* SPDX-License-Identifier: MIT */
/* NEON dot products of the i-quants, TQ2_0 and MXFP4 (both NEON versions:
 * SDOT where the CPU has it, else widening multiplies). Each 16 weights of a
 * superblock are unpacked to signed bytes — grid entries by index with their
 * signs applied, the 4-bit types through their table — and multiplied with
 * 16 activations; one unpacked group serves up to IQ_MAXC activation rows. */
#pragma once

#include <arm_neon.h>

#include "lk-iq-kinds.h"

/* Two 8-byte grid entries with their sign bytes applied. */
IQ_INLINE int8x16_t
iq_signed2 (uint64_t g0, uint64_t g1, uint8_t s0, uint8_t s1)
{
  const int8x16_t w = vcombine_s8 (vcreate_s8 (g0), vcreate_s8 (g1));
  const int8x16_t m = vcombine_s8 (vcreate_s8 (lk_bitmask64[s0]), vcreate_s8 (lk_bitmask64[s1]));
  return vsubq_s8 (veorq_s8 (w, m), m);
}

IQ_INLINE uint64_t
iq_pair32 (uint32_t lo, uint32_t hi)
{
  return (uint64_t) lo | ((uint64_t) hi << 32);
}

/* Weights 16 g .. 16 g + 15 of a superblock and their multiplier. */
IQ_INLINE int8x16_t
iq_group (iq_kind k, const uint8_t *blk, int g, int *sc)
{
  const int ib = g / 2, h = g % 2;

  switch (k)
    {
    case IQ_KIND_IQ2_XXS:
      {
        const lk_block_iq2_xxs *b = (const lk_block_iq2_xxs *) blk;
        uint32_t aux[2];
        memcpy (aux, b->qs + 4 * ib, sizeof aux);
        *sc = 2 * (int) (aux[1] >> 28) + 1;
        return iq_signed2 (lk_iq2xxs_grid[(aux[0] >> (16 * h)) & 255], lk_iq2xxs_grid[(aux[0] >> (16 * h + 8)) & 255],
                           lk_ksigns_iq2xs[(aux[1] >> (14 * h)) & 127], lk_ksigns_iq2xs[(aux[1] >> (14 * h + 7)) & 127]);
      }
    case IQ_KIND_IQ2_XS:
      {
        const lk_block_iq2_xs *b = (const lk_block_iq2_xs *) blk;
        const uint16_t *q = b->qs + 4 * ib + 2 * h;
        *sc = 2 * (h ? b->scales[ib] >> 4 : b->scales[ib] & 0xf) + 1;
        return iq_signed2 (lk_iq2xs_grid[q[0] & 511], lk_iq2xs_grid[q[1] & 511], lk_ksigns_iq2xs[q[0] >> 9],
                           lk_ksigns_iq2xs[q[1] >> 9]);
      }
    case IQ_KIND_IQ2_S:
      {
        const lk_block_iq2_s *b = (const lk_block_iq2_s *) blk;
        const uint8_t *qs = b->qs + 4 * ib + 2 * h, *signs = b->qs + 32 + 4 * ib + 2 * h;
        const int qh = b->qh[ib], l = 2 * h;
        *sc = 2 * (h ? b->scales[ib] >> 4 : b->scales[ib] & 0xf) + 1;
        return iq_signed2 (lk_iq2s_grid[qs[0] | ((qh << (8 - 2 * l)) & 0x300)],
                           lk_iq2s_grid[qs[1] | ((qh << (6 - 2 * l)) & 0x300)], signs[0], signs[1]);
      }
    case IQ_KIND_IQ3_XXS:
      {
        const lk_block_iq3_xxs *b = (const lk_block_iq3_xxs *) blk;
        const uint8_t *q = b->qs + 8 * ib + 4 * h;
        uint32_t aux;
        memcpy (&aux, b->qs + 64 + 4 * ib, sizeof aux);
        *sc = 2 * (int) (aux >> 28) + 1;
        return iq_signed2 (iq_pair32 (lk_iq3xxs_grid[q[0]], lk_iq3xxs_grid[q[1]]),
                           iq_pair32 (lk_iq3xxs_grid[q[2]], lk_iq3xxs_grid[q[3]]),
                           lk_ksigns_iq2xs[(aux >> (14 * h)) & 127], lk_ksigns_iq2xs[(aux >> (14 * h + 7)) & 127]);
      }
    case IQ_KIND_IQ3_S:
      {
        const lk_block_iq3_s *b = (const lk_block_iq3_s *) blk;
        const uint8_t *q = b->qs + 8 * ib + 4 * h, *signs = b->signs + 4 * ib + 2 * h;
        const int qh = b->qh[ib], m = 4 * h;
        *sc = 1 + 2 * (ib % 2 == 0 ? b->scales[ib / 2] & 0xf : b->scales[ib / 2] >> 4);
        return iq_signed2 (iq_pair32 (lk_iq3s_grid[q[0] | ((qh << (8 - m)) & 256)], lk_iq3s_grid[q[1] | ((qh << (7 - m)) & 256)]),
                           iq_pair32 (lk_iq3s_grid[q[2] | ((qh << (6 - m)) & 256)], lk_iq3s_grid[q[3] | ((qh << (5 - m)) & 256)]),
                           signs[0], signs[1]);
      }
    case IQ_KIND_IQ4_XS:
      {
        const lk_block_iq4_xs *b = (const lk_block_iq4_xs *) blk;
        const uint8x16_t q = vld1q_u8 (b->qs + 16 * ib);
        const uint8x16_t idx = h ? vshrq_n_u8 (q, 4) : vandq_u8 (q, vdupq_n_u8 (0x0f));
        *sc = (((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((b->scales_h >> (2 * ib)) & 3) << 4)) - 32;
        return vqtbl1q_s8 (vld1q_s8 (lk_kvalues_iq4nl), idx);
      }
    case IQ_KIND_IQ1_S:
    case IQ_KIND_IQ1_M:
      {
        /* Levels -1, 0, 1 and a delta of ±1/8 per 8, as eighths: 8 level ± 1. */
        uint64_t g0, g1;
        int neg0, neg1;
        if (k == IQ_KIND_IQ1_S)
          {
            const lk_block_iq1_s *b = (const lk_block_iq1_s *) blk;
            const uint16_t qh = b->qh[ib];
            const int l = 2 * h;
            g0 = lk_iq1s_grid[b->qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)];
            g1 = lk_iq1s_grid[b->qs[4 * ib + l + 1] | (((qh >> (3 * l + 3)) & 7) << 8)];
            neg0 = neg1 = (qh & 0x8000) != 0;
            *sc = 2 * ((qh >> 12) & 7) + 1;
          }
        else
          {
            const lk_block_iq1_m *b = (const lk_block_iq1_m *) blk;
            const uint8_t *qs = b->qs + 4 * ib + 2 * h, q = b->qh[2 * ib + h];
            uint16_t scw[4];
            memcpy (scw, b->scales, sizeof scw);
            g0 = lk_iq1s_grid[qs[0] | ((q << 8) & 0x700)];
            g1 = lk_iq1s_grid[qs[1] | ((q << 4) & 0x700)];
            neg0 = (q & 0x08) != 0;
            neg1 = (q & 0x80) != 0;
            *sc = 2 * ((scw[ib / 2] >> (6 * (ib % 2) + 3 * h)) & 7) + 1;
          }
        {
          const int8x16_t w = vcombine_s8 (vcreate_s8 (g0), vcreate_s8 (g1));
          const int8x16_t d = vcombine_s8 (vdup_n_s8 ((int8_t) (neg0 ? -1 : 1)), vdup_n_s8 ((int8_t) (neg1 ? -1 : 1)));
          return vaddq_s8 (vshlq_n_s8 (w, 3), d);
        }
      }
    default:
      {
        const lk_block_tq2_0 *b = (const lk_block_tq2_0 *) blk;
        const int k32 = g / 2;
        const uint8x16_t q = vld1q_u8 (b->qs + 32 * (k32 / 4) + 16 * h);
        const uint8x16_t v = vandq_u8 (vshlq_u8 (q, vdupq_n_s8 ((int8_t) -(2 * (k32 % 4)))), vdupq_n_u8 (3));
        *sc = 1;
        return vsubq_s8 (vreinterpretq_s8_u8 (v), vdupq_n_s8 (1));
      }
    }
}

IQ_INLINE int32x4_t
iq_dot16 (int32x4_t acc, int8x16_t w, int8x16_t a)
{
#ifdef LK_NEON_DOTPROD
  return vdotq_s32 (acc, w, a);
#else
  return vpadalq_s16 (vpadalq_s16 (acc, vmull_s8 (vget_low_s8 (w), vget_low_s8 (a))), vmull_high_s8 (w, a));
#endif
}

IQ_INLINE void
iq_rows (iq_kind k, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  float32x4_t acc[IQ_MAXC];

  for (int c = 0; c < C; c++)
    acc[c] = vdupq_n_f32 (0.0f);
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const uint8_t *blk = w + (size_t) i * iq_block_bytes (k);
      const lk_block_q8_K *ya[IQ_MAXC];
      int32x4_t isum[IQ_MAXC];
      for (int c = 0; c < C; c++)
        {
          ya[c] = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
          isum[c] = vdupq_n_s32 (0);
        }
      for (int g = 0; g < 16; g++)
        {
          int sc;
          const int8x16_t wg = iq_group (k, blk, g, &sc);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            isum[c] = vmlaq_n_s32 (isum[c], iq_dot16 (vdupq_n_s32 (0), wg, vld1q_s8 (ya[c]->qs + 16 * g)), sc);
        }
      {
        const float d = iq_block_d (k, blk);
        for (int c = 0; c < C; c++)
          acc[c] = vmlaq_n_f32 (acc[c], vcvtq_f32_s32 (isum[c]), d * ya[c]->d);
      }
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = vaddvq_f32 (acc[c]);
}

IQ_INLINE void
nl_rows (int mxfp4, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  const size_t bb = mxfp4 ? sizeof (lk_block_mxfp4) : sizeof (lk_block_iq4_nl);
  const int8x16_t table = vld1q_s8 (mxfp4 ? lk_kvalues_mxfp4 : lk_kvalues_iq4nl);
  float32x4_t acc[IQ_MAXC];

  for (int c = 0; c < C; c++)
    acc[c] = vdupq_n_f32 (0.0f);
  for (int64_t i = 0; i < n / 32; i++)
    {
      const uint8_t *blk = w + (size_t) i * bb;
      const uint8x16_t q = vld1q_u8 (blk + bb - 16);
      const int8x16_t lo = vqtbl1q_s8 (table, vandq_u8 (q, vdupq_n_u8 (0x0f))), hi = vqtbl1q_s8 (table, vshrq_n_u8 (q, 4));
      float d;
      if (mxfp4)
        d = lk_e8m0_to_f32_half (blk[0]);
      else
        {
          lk_half hh;
          memcpy (&hh, blk, sizeof hh);
          d = lk_half_to_f32 (hh);
        }
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          const uint8_t *xc = x + (size_t) c * xs;
          const int8_t *a = lk_act_q8_qs (xc) + 32 * i;
          const int32x4_t s = iq_dot16 (iq_dot16 (vdupq_n_s32 (0), lo, vld1q_s8 (a)), hi, vld1q_s8 (a + 16));
          acc[c] = vmlaq_n_f32 (acc[c], vcvtq_f32_s32 (s), d * lk_act_q8_d (xc, n)[i]);
        }
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = vaddvq_f32 (acc[c]);
}

/* TQ1_0's trit n of each byte q: the high part of (q * 3^n mod 256) * 3,
 * as -1, 0, 1. */
IQ_INLINE int8x16_t
tq1_digits (uint8x16_t q, uint8_t p)
{
  const uint8x16_t r = vmulq_u8 (q, vdupq_n_u8 (p));
  const uint8x8_t three = vdup_n_u8 (3);
  const uint8x16_t d = vcombine_u8 (vshrn_n_u16 (vmull_u8 (vget_low_u8 (r), three), 8),
                                    vshrn_n_u16 (vmull_u8 (vget_high_u8 (r), three), 8));
  return vsubq_s8 (vreinterpretq_s8_u8 (d), vdupq_n_s8 (1));
}

/* A TQ1_0 superblock as 256 signed levels, in element order: five trits of
 * each of qs[0..32), then of qs[32..48), then four of qh[0..4). */
IQ_INLINE void
tq1_unpack (const lk_block_tq1_0 *b, int8_t q[256])
{
  static const uint8_t pow3[5] = { 1, 3, 9, 27, 81 };
  const uint8x16_t q0 = vld1q_u8 (b->qs), q1 = vld1q_u8 (b->qs + 16), q2 = vld1q_u8 (b->qs + 32);
  uint8_t h[16] = { 0 };

  memcpy (h, b->qh, sizeof b->qh);
  for (int n = 0; n < 5; n++)
    {
      vst1q_s8 (q + 32 * n, tq1_digits (q0, pow3[n]));
      vst1q_s8 (q + 32 * n + 16, tq1_digits (q1, pow3[n]));
      vst1q_s8 (q + 160 + 16 * n, tq1_digits (q2, pow3[n]));
    }
  for (int n = 0; n < 4; n++)
    {
      int8_t t[16];
      vst1q_s8 (t, tq1_digits (vld1q_u8 (h), pow3[n]));
      memcpy (q + 240 + 4 * n, t, 4);
    }
}

IQ_INLINE void
tq1_rows (int unused, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  float32x4_t acc[IQ_MAXC];
  int8_t q[256];

  (void) unused;
  for (int c = 0; c < C; c++)
    acc[c] = vdupq_n_f32 (0.0f);
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const lk_block_tq1_0 *b = (const lk_block_tq1_0 *) w + i;
      int32x4_t isum[IQ_MAXC];
      tq1_unpack (b, q);
      for (int c = 0; c < C; c++)
        isum[c] = vdupq_n_s32 (0);
      for (int j = 0; j < 16; j++)
        {
          const int8x16_t wq = vld1q_s8 (q + 16 * j);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            {
              const lk_block_q8_K *ya = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
              isum[c] = iq_dot16 (isum[c], wq, vld1q_s8 (ya->qs + 16 * j));
            }
        }
      for (int c = 0; c < C; c++)
        {
          const lk_block_q8_K *ya = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
          acc[c] = vmlaq_n_f32 (acc[c], vcvtq_f32_s32 (isum[c]), lk_half_to_f32 (b->d) * ya->d);
        }
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = vaddvq_f32 (acc[c]);
}

#define IQ_DEFINE_GEMM(lower, ROWS, KIND) LK_DEFINE_ROWS_GEMM (lower, ROWS, KIND)

IQ_DEFINE_GEMM (iq2_xxs, iq_rows, IQ_KIND_IQ2_XXS)
IQ_DEFINE_GEMM (iq2_xs, iq_rows, IQ_KIND_IQ2_XS)
IQ_DEFINE_GEMM (iq2_s, iq_rows, IQ_KIND_IQ2_S)
IQ_DEFINE_GEMM (iq3_xxs, iq_rows, IQ_KIND_IQ3_XXS)
IQ_DEFINE_GEMM (iq3_s, iq_rows, IQ_KIND_IQ3_S)
IQ_DEFINE_GEMM (iq4_xs, iq_rows, IQ_KIND_IQ4_XS)
IQ_DEFINE_GEMM (tq2_0, iq_rows, IQ_KIND_TQ2_0)
IQ_DEFINE_GEMM (iq1_s, iq_rows, IQ_KIND_IQ1_S)
IQ_DEFINE_GEMM (iq1_m, iq_rows, IQ_KIND_IQ1_M)
IQ_DEFINE_GEMM (iq4_nl, nl_rows, 0)
IQ_DEFINE_GEMM (mxfp4, nl_rows, 1)
IQ_DEFINE_GEMM (tq1_0, tq1_rows, 0)

#define IQ_MM_NEON(q8)                                                                     \
  [LK_TYPE_IQ2_XXS] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq2_xxs, gemm_iq2_xxs }, \
  [LK_TYPE_IQ2_XS] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq2_xs, gemm_iq2_xs },    \
  [LK_TYPE_IQ2_S] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq2_s, gemm_iq2_s },       \
  [LK_TYPE_IQ3_XXS] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq3_xxs, gemm_iq3_xxs }, \
  [LK_TYPE_IQ3_S] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq3_s, gemm_iq3_s },       \
  [LK_TYPE_IQ4_XS] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq4_xs, gemm_iq4_xs },    \
  [LK_TYPE_TQ2_0] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_tq2_0, gemm_tq2_0 },       \
  [LK_TYPE_IQ4_NL] = { LK_ACT_Q8, q8, vec_dot_iq4_nl, gemm_iq4_nl },                           \
  [LK_TYPE_MXFP4] = { LK_ACT_Q8, q8, vec_dot_mxfp4, gemm_mxfp4 },                              \
  [LK_TYPE_IQ1_S] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq1_s, gemm_iq1_s },       \
  [LK_TYPE_IQ1_M] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_iq1_m, gemm_iq1_m },       \
  [LK_TYPE_TQ1_0] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, vec_dot_tq1_0, gemm_tq1_0 }
