/* SPDX-License-Identifier: MIT */
/* AVX2 dot products of the i-quants, TQ2_0 and MXFP4, included by the AVX2
 * and AVX-512 versions (both compiled with AVX2). Each 32 weights of a
 * superblock are unpacked to bytes — a grid's entries gathered by index, the
 * 4-bit types through their 16-value table — and multiplied with the 8-bit
 * activations by maddubs, the grid types' signs moved onto the activations.
 * One unpacked block serves up to IQ_MAXC activation rows (prefill). */
#pragma once

#include <immintrin.h>

#include "lk-iq-kinds.h"

/* A half by F16C, one instruction (the portable conversion takes a dozen). */
IQ_INLINE float
iq_half (lk_half h)
{
  return _cvtsh_ss (h);
}

/* 32 weights: w bytes (unsigned for the grids, whose signs are in sign;
 * signed for the others), and the multipliers of their two halves. */
typedef struct
{
  __m256i w, sign;
  int16_t sc_lo, sc_hi;
} iq_chunk;


IQ_INLINE __m256i
iq_signs4 (uint8_t s0, uint8_t s1, uint8_t s2, uint8_t s3)
{
  return _mm256_set_epi64x ((long long) lk_bitmask64[s3], (long long) lk_bitmask64[s2],
                            (long long) lk_bitmask64[s1], (long long) lk_bitmask64[s0]);
}

/* The 16 values of a 4-bit table for 16 bytes of nibbles: elements 0..15
 * from the low nibbles, 16..31 from the high ones. */
IQ_INLINE __m256i
iq_nibbles (const uint8_t *qs, __m128i table)
{
  const __m128i q = _mm_loadu_si128 ((const __m128i *) qs), m4 = _mm_set1_epi8 (0x0f);
  const __m128i lo = _mm_shuffle_epi8 (table, _mm_and_si128 (q, m4));
  const __m128i hi = _mm_shuffle_epi8 (table, _mm_and_si128 (_mm_srli_epi16 (q, 4), m4));
  return _mm256_set_m128i (hi, lo);
}

IQ_INLINE iq_chunk
iq_decode (iq_kind k, const uint8_t *blk, int j)
{
  iq_chunk c;

  c.sign = _mm256_setzero_si256 ();
  switch (k)
    {
    case IQ_KIND_IQ2_XXS:
      {
        const lk_block_iq2_xxs *b = (const lk_block_iq2_xxs *) blk;
        uint32_t aux[2];
        memcpy (aux, b->qs + 4 * j, sizeof aux);
        c.w = _mm256_set_epi64x ((long long) lk_iq2xxs_grid[aux[0] >> 24], (long long) lk_iq2xxs_grid[(aux[0] >> 16) & 255],
                                 (long long) lk_iq2xxs_grid[(aux[0] >> 8) & 255], (long long) lk_iq2xxs_grid[aux[0] & 255]);
        c.sign = iq_signs4 (lk_ksigns_iq2xs[aux[1] & 127], lk_ksigns_iq2xs[(aux[1] >> 7) & 127],
                            lk_ksigns_iq2xs[(aux[1] >> 14) & 127], lk_ksigns_iq2xs[(aux[1] >> 21) & 127]);
        c.sc_lo = c.sc_hi = (int16_t) (2 * (aux[1] >> 28) + 1);
        return c;
      }
    case IQ_KIND_IQ2_XS:
      {
        const lk_block_iq2_xs *b = (const lk_block_iq2_xs *) blk;
        const uint16_t *q = b->qs + 4 * j;
        c.w = _mm256_set_epi64x ((long long) lk_iq2xs_grid[q[3] & 511], (long long) lk_iq2xs_grid[q[2] & 511],
                                 (long long) lk_iq2xs_grid[q[1] & 511], (long long) lk_iq2xs_grid[q[0] & 511]);
        c.sign = iq_signs4 (lk_ksigns_iq2xs[q[0] >> 9], lk_ksigns_iq2xs[q[1] >> 9], lk_ksigns_iq2xs[q[2] >> 9],
                            lk_ksigns_iq2xs[q[3] >> 9]);
        c.sc_lo = (int16_t) (2 * (b->scales[j] & 0xf) + 1);
        c.sc_hi = (int16_t) (2 * (b->scales[j] >> 4) + 1);
        return c;
      }
    case IQ_KIND_IQ2_S:
      {
        const lk_block_iq2_s *b = (const lk_block_iq2_s *) blk;
        const uint8_t *qs = b->qs + 4 * j, *signs = b->qs + 32 + 4 * j;
        const int h = b->qh[j];
        c.w = _mm256_set_epi64x ((long long) lk_iq2s_grid[qs[3] | ((h << 2) & 0x300)],
                                 (long long) lk_iq2s_grid[qs[2] | ((h << 4) & 0x300)],
                                 (long long) lk_iq2s_grid[qs[1] | ((h << 6) & 0x300)],
                                 (long long) lk_iq2s_grid[qs[0] | ((h << 8) & 0x300)]);
        c.sign = iq_signs4 (signs[0], signs[1], signs[2], signs[3]);
        c.sc_lo = (int16_t) (2 * (b->scales[j] & 0xf) + 1);
        c.sc_hi = (int16_t) (2 * (b->scales[j] >> 4) + 1);
        return c;
      }
    case IQ_KIND_IQ3_XXS:
      {
        const lk_block_iq3_xxs *b = (const lk_block_iq3_xxs *) blk;
        const uint8_t *q = b->qs + 8 * j;
        uint32_t aux;
        memcpy (&aux, b->qs + 64 + 4 * j, sizeof aux);
        c.w = _mm256_set_epi32 ((int) lk_iq3xxs_grid[q[7]], (int) lk_iq3xxs_grid[q[6]], (int) lk_iq3xxs_grid[q[5]],
                                (int) lk_iq3xxs_grid[q[4]], (int) lk_iq3xxs_grid[q[3]], (int) lk_iq3xxs_grid[q[2]],
                                (int) lk_iq3xxs_grid[q[1]], (int) lk_iq3xxs_grid[q[0]]);
        c.sign = iq_signs4 (lk_ksigns_iq2xs[aux & 127], lk_ksigns_iq2xs[(aux >> 7) & 127],
                            lk_ksigns_iq2xs[(aux >> 14) & 127], lk_ksigns_iq2xs[(aux >> 21) & 127]);
        c.sc_lo = c.sc_hi = (int16_t) (2 * (aux >> 28) + 1);
        return c;
      }
    case IQ_KIND_IQ3_S:
      {
        const lk_block_iq3_s *b = (const lk_block_iq3_s *) blk;
        const uint8_t *q = b->qs + 8 * j, *signs = b->signs + 4 * j;
        const int h = b->qh[j];
        const int sc = j % 2 == 0 ? b->scales[j / 2] & 0xf : b->scales[j / 2] >> 4;
        c.w = _mm256_set_epi32 ((int) lk_iq3s_grid[q[7] | ((h << 1) & 256)], (int) lk_iq3s_grid[q[6] | ((h << 2) & 256)],
                                (int) lk_iq3s_grid[q[5] | ((h << 3) & 256)], (int) lk_iq3s_grid[q[4] | ((h << 4) & 256)],
                                (int) lk_iq3s_grid[q[3] | ((h << 5) & 256)], (int) lk_iq3s_grid[q[2] | ((h << 6) & 256)],
                                (int) lk_iq3s_grid[q[1] | ((h << 7) & 256)], (int) lk_iq3s_grid[q[0] | ((h << 8) & 256)]);
        c.sign = iq_signs4 (signs[0], signs[1], signs[2], signs[3]);
        c.sc_lo = c.sc_hi = (int16_t) (1 + 2 * sc);
        return c;
      }
    case IQ_KIND_IQ4_XS:
      {
        const lk_block_iq4_xs *b = (const lk_block_iq4_xs *) blk;
        const int ls = ((b->scales_l[j / 2] >> (4 * (j % 2))) & 0xf) | (((b->scales_h >> (2 * j)) & 3) << 4);
        c.w = iq_nibbles (b->qs + 16 * j, _mm_loadu_si128 ((const __m128i *) lk_kvalues_iq4nl));
        c.sc_lo = c.sc_hi = (int16_t) (ls - 32);
        return c;
      }
    case IQ_KIND_IQ1_S:
    case IQ_KIND_IQ1_M:
      {
        /* Levels -1, 0, 1 plus a delta of ±1/8 per group of 8: as eighths,
         * 8 level ± 1, which fits a byte. */
        long long g[4], dl[4];
        if (k == IQ_KIND_IQ1_S)
          {
            const lk_block_iq1_s *b = (const lk_block_iq1_s *) blk;
            const uint16_t h = b->qh[j];
            for (int l = 0; l < 4; l++)
              {
                g[l] = (long long) lk_iq1s_grid[b->qs[4 * j + l] | (((h >> (3 * l)) & 7) << 8)];
                dl[l] = h & 0x8000 ? -1 : 1;
              }
            c.sc_lo = c.sc_hi = (int16_t) (2 * ((h >> 12) & 7) + 1);
          }
        else
          {
            const lk_block_iq1_m *b = (const lk_block_iq1_m *) blk;
            const uint8_t *qs = b->qs + 4 * j, *qh = b->qh + 2 * j;
            uint16_t sc[4];
            memcpy (sc, b->scales, sizeof sc);
            g[0] = (long long) lk_iq1s_grid[qs[0] | ((qh[0] << 8) & 0x700)];
            g[1] = (long long) lk_iq1s_grid[qs[1] | ((qh[0] << 4) & 0x700)];
            g[2] = (long long) lk_iq1s_grid[qs[2] | ((qh[1] << 8) & 0x700)];
            g[3] = (long long) lk_iq1s_grid[qs[3] | ((qh[1] << 4) & 0x700)];
            dl[0] = qh[0] & 0x08 ? -1 : 1;
            dl[1] = qh[0] & 0x80 ? -1 : 1;
            dl[2] = qh[1] & 0x08 ? -1 : 1;
            dl[3] = qh[1] & 0x80 ? -1 : 1;
            c.sc_lo = (int16_t) (2 * ((sc[j / 2] >> (6 * (j % 2) + 0)) & 7) + 1);
            c.sc_hi = (int16_t) (2 * ((sc[j / 2] >> (6 * (j % 2) + 3)) & 7) + 1);
          }
        {
          const __m256i w = _mm256_set_epi64x (g[3], g[2], g[1], g[0]);
          /* Bytes of +1 or -1 (all ones). */
          const long long plus = 0x0101010101010101LL, minus = -1LL;
          const __m256i d = _mm256_set_epi64x (dl[3] < 0 ? minus : plus, dl[2] < 0 ? minus : plus,
                                               dl[1] < 0 ? minus : plus, dl[0] < 0 ? minus : plus);
          c.w = _mm256_add_epi8 (_mm256_sign_epi8 (_mm256_set1_epi8 (8), w), d);
        }
        return c;
      }
    default:
      {
        const lk_block_tq2_0 *b = (const lk_block_tq2_0 *) blk;
        const __m256i q = _mm256_loadu_si256 ((const __m256i *) (b->qs + 32 * (j / 4)));
        c.w = _mm256_sub_epi8 (_mm256_and_si256 (_mm256_srli_epi16 (q, 2 * (j % 4)), _mm256_set1_epi8 (3)),
                               _mm256_set1_epi8 (1));
        c.sc_lo = c.sc_hi = 1;
        return c;
      }
    }
}

IQ_INLINE int
iq_grid_kind (iq_kind k)
{
  return k != IQ_KIND_IQ4_XS && k != IQ_KIND_TQ2_0 && k != IQ_KIND_IQ1_S && k != IQ_KIND_IQ1_M;
}

/* Pairs of products of the chunk's weights with 32 activations, as int16. */
IQ_INLINE __m256i
iq_products (iq_kind k, const iq_chunk *c, __m256i a)
{
  if (iq_grid_kind (k))
    return _mm256_maddubs_epi16 (c->w, _mm256_sign_epi8 (a, _mm256_or_si256 (c->sign, _mm256_set1_epi8(1))));
  return _mm256_maddubs_epi16 (_mm256_sign_epi8 (c->w, c->w), _mm256_sign_epi8 (a, c->w));
}

IQ_INLINE void
iq_superblock (iq_kind k, const int C, const uint8_t *blk, const lk_block_q8_K *const *ya, __m256 *acc)
{
  const float d = iq_block_d (k, blk);
  __m256i isum[IQ_MAXC];

  for (int c = 0; c < C; c++)
    isum[c] = _mm256_setzero_si256 ();
  for (int j = 0; j < 8; j++)
    {
      const iq_chunk ch = iq_decode (k, blk, j);
      const __m256i sv = _mm256_set_m128i (_mm_set1_epi16 (ch.sc_hi), _mm_set1_epi16 (ch.sc_lo));
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          const __m256i a = _mm256_loadu_si256 ((const __m256i *) (ya[c]->qs + 32 * j));
          isum[c] = _mm256_add_epi32 (isum[c], _mm256_madd_epi16 (iq_products (k, &ch, a), sv));
        }
    }
  for (int c = 0; c < C; c++)
    acc[c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (isum[c]), _mm256_set1_ps (d * ya[c]->d), acc[c]);
}

IQ_INLINE float
iq_hsum (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

IQ_INLINE void
iq_rows (iq_kind k, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  __m256 acc[IQ_MAXC];

  for (int c = 0; c < C; c++)
    acc[c] = _mm256_setzero_ps ();
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const lk_block_q8_K *ya[IQ_MAXC];
      for (int c = 0; c < C; c++)
        ya[c] = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
      iq_superblock (k, C, w + (size_t) i * iq_block_bytes (k), ya, acc);
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = iq_hsum (acc[c]);
}

/* IQ4_NL and MXFP4: 32-element blocks against the planar Q8 activations. */
IQ_INLINE __m256
nl_block (int mxfp4, const uint8_t *blk, size_t bb, __m128i table, const uint8_t *xc, int64_t n, int64_t i,
          __m256 acc)
{
  const __m256i q = iq_nibbles (blk + bb - 16, table);
  const __m256i a = _mm256_loadu_si256 ((const __m256i *) (lk_act_q8_qs (xc) + 32 * i));
  const __m256i p = _mm256_madd_epi16 (_mm256_maddubs_epi16 (_mm256_sign_epi8 (q, q), _mm256_sign_epi8 (a, q)),
                                       _mm256_set1_epi16 (1));
  float d;

  if (mxfp4)
    d = lk_e8m0_to_f32_half (blk[0]);
  else
    {
      lk_half h;
      memcpy (&h, blk, sizeof h);
      d = iq_half (h);
    }
  return _mm256_fmadd_ps (_mm256_cvtepi32_ps (p), _mm256_set1_ps (d * lk_act_q8_d (xc, n)[i]), acc);
}

/* Two accumulators per activation row, for even and odd blocks: the sums
 * of consecutive blocks do not wait on each other. */
IQ_INLINE void
nl_rows (int mxfp4, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  const size_t bb = mxfp4 ? sizeof (lk_block_mxfp4) : sizeof (lk_block_iq4_nl);
  const __m128i table = _mm_loadu_si128 ((const __m128i *) (mxfp4 ? lk_kvalues_mxfp4 : lk_kvalues_iq4nl));
  const int64_t nb = n / 32;
  __m256 acc[IQ_MAXC], odd[IQ_MAXC];
  int64_t i = 0;

  for (int c = 0; c < C; c++)
    acc[c] = odd[c] = _mm256_setzero_ps ();
  for (; i + 1 < nb; i += 2)
    _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
      {
        const uint8_t *xc = x + (size_t) c * xs;
        acc[c] = nl_block (mxfp4, w + (size_t) i * bb, bb, table, xc, n, i, acc[c]);
        odd[c] = nl_block (mxfp4, w + (size_t) (i + 1) * bb, bb, table, xc, n, i + 1, odd[c]);
      }
  for (; i < nb; i++)
    for (int c = 0; c < C; c++)
      acc[c] = nl_block (mxfp4, w + (size_t) i * bb, bb, table, x + (size_t) c * xs, n, i, acc[c]);
  for (int c = 0; c < C; c++)
    y[c * ys] = iq_hsum (_mm256_add_ps (acc[c], odd[c]));
}

/* TQ1_0's trits of one byte set: digit n of each byte q is the high part of
 * (q * 3^n mod 256) * 3, computed on 16-bit lanes, as -1, 0, 1. */
IQ_INLINE __m256i
tq1_digits (__m256i q, int p)
{
  const __m256i m8 = _mm256_set1_epi16 (0xff), pv = _mm256_set1_epi16 ((short) p), three = _mm256_set1_epi16 (3);
  const __m256i lo = _mm256_and_si256 (_mm256_mullo_epi16 (_mm256_and_si256 (q, m8), pv), m8);
  const __m256i hi = _mm256_and_si256 (_mm256_mullo_epi16 (_mm256_srli_epi16 (q, 8), pv), m8);
  const __m256i dlo = _mm256_srli_epi16 (_mm256_mullo_epi16 (lo, three), 8);
  const __m256i dhi = _mm256_srli_epi16 (_mm256_mullo_epi16 (hi, three), 8);
  return _mm256_sub_epi8 (_mm256_or_si256 (dlo, _mm256_slli_epi16 (dhi, 8)), _mm256_set1_epi8 (1));
}

/* A TQ1_0 superblock as 256 signed levels, in element order. */
IQ_INLINE void
tq1_unpack (const lk_block_tq1_0 *b, int8_t q[256])
{
  static const int pow3[5] = { 1, 3, 9, 27, 81 };
  const __m256i q32 = _mm256_loadu_si256 ((const __m256i *) b->qs);
  const __m256i q16 = _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) (b->qs + 32)));

  for (int n = 0; n < 5; n++)
    _mm256_storeu_si256 ((__m256i *) (q + 32 * n), tq1_digits (q32, pow3[n]));
  for (int n = 0; n < 5; n++)
    _mm_storeu_si128 ((__m128i *) (q + 160 + 16 * n), _mm256_castsi256_si128 (tq1_digits (q16, pow3[n])));
  for (int n = 0; n < 4; n++)
    for (int j = 0; j < 4; j++)
      {
        const uint8_t r = (uint8_t) (b->qh[j] * pow3[n]);
        q[240 + 4 * n + j] = (int8_t) ((((uint16_t) r * 3) >> 8) - 1);
      }
}

IQ_INLINE void
tq1_rows (int unused, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  __m256 acc[IQ_MAXC];
  int8_t q[256] __attribute__ ((aligned (32)));

  (void) unused;
  for (int c = 0; c < C; c++)
    acc[c] = _mm256_setzero_ps ();
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const lk_block_tq1_0 *b = (const lk_block_tq1_0 *) w + i;
      __m256i isum[IQ_MAXC];
      tq1_unpack (b, q);
      for (int c = 0; c < C; c++)
        isum[c] = _mm256_setzero_si256 ();
      for (int j = 0; j < 8; j++)
        {
          const __m256i wq = _mm256_load_si256 ((const __m256i *) (q + 32 * j));
          const __m256i wa = _mm256_sign_epi8 (wq, wq);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            {
              const lk_block_q8_K *ya = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
              const __m256i a = _mm256_loadu_si256 ((const __m256i *) (ya->qs + 32 * j));
              isum[c] = _mm256_add_epi32 (isum[c], _mm256_madd_epi16 (_mm256_maddubs_epi16 (wa, _mm256_sign_epi8 (a, wq)),
                                                                      _mm256_set1_epi16 (1)));
            }
        }
      for (int c = 0; c < C; c++)
        {
          const lk_block_q8_K *ya = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
          acc[c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (isum[c]), _mm256_set1_ps (iq_half (b->d) * ya->d), acc[c]);
        }
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = iq_hsum (acc[c]);
}

/* IQ4_XS, two 32-weight groups at a time: their 32 bytes of nibbles give
 * the low halves of both groups and the high halves of both, looked up in
 * the table at once; the activations' halves are paired to match. */
IQ_INLINE void
iq4xs_rows (int unused, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  const __m256i table = _mm256_broadcastsi128_si256 (_mm_loadu_si128 ((const __m128i *) lk_kvalues_iq4nl));
  const __m256i m4 = _mm256_set1_epi8 (0x0f);
  __m256 acc[IQ_MAXC];

  (void) unused;
  for (int c = 0; c < C; c++)
    acc[c] = _mm256_setzero_ps ();
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const lk_block_iq4_xs *b = (const lk_block_iq4_xs *) w + i;
      __m256i isum[IQ_MAXC];
      for (int c = 0; c < C; c++)
        isum[c] = _mm256_setzero_si256 ();
      for (int j = 0; j < 8; j += 2)
        {
          const __m256i q = _mm256_loadu_si256 ((const __m256i *) (b->qs + 16 * j));
          const __m256i lo = _mm256_shuffle_epi8 (table, _mm256_and_si256 (q, m4));
          const __m256i hi = _mm256_shuffle_epi8 (table, _mm256_and_si256 (_mm256_srli_epi16 (q, 4), m4));
          const __m256i alo = _mm256_sign_epi8 (lo, lo), ahi = _mm256_sign_epi8 (hi, hi);
          const int ls0 = ((b->scales_l[j / 2] & 0xf) | (((b->scales_h >> (2 * j)) & 3) << 4)) - 32;
          const int ls1 = ((b->scales_l[j / 2] >> 4) | (((b->scales_h >> (2 * j + 2)) & 3) << 4)) - 32;
          const __m256i sc = _mm256_set_m128i (_mm_set1_epi16 ((short) ls1), _mm_set1_epi16 ((short) ls0));
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            {
              const lk_block_q8_K *ya = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
              const __m256i a0 = _mm256_loadu_si256 ((const __m256i *) (ya->qs + 32 * j));
              const __m256i a1 = _mm256_loadu_si256 ((const __m256i *) (ya->qs + 32 * j + 32));
              const __m256i al = _mm256_permute2x128_si256 (a0, a1, 0x20);
              const __m256i ah = _mm256_permute2x128_si256 (a0, a1, 0x31);
              const __m256i pl = _mm256_maddubs_epi16 (alo, _mm256_sign_epi8 (al, lo));
              const __m256i ph = _mm256_maddubs_epi16 (ahi, _mm256_sign_epi8 (ah, hi));
              isum[c] = _mm256_add_epi32 (isum[c], _mm256_add_epi32 (_mm256_madd_epi16 (pl, sc), _mm256_madd_epi16 (ph, sc)));
            }
        }
      for (int c = 0; c < C; c++)
        {
          const lk_block_q8_K *ya = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
          acc[c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (isum[c]), _mm256_set1_ps (iq_half (b->d) * ya->d), acc[c]);
        }
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = iq_hsum (acc[c]);
}

#define IQ_DEFINE_GEMM(lower, ROWS, KIND) LK_DEFINE_ROWS_GEMM (lower, ROWS, KIND)

IQ_DEFINE_GEMM (iq2_xxs, iq_rows, IQ_KIND_IQ2_XXS)
IQ_DEFINE_GEMM (iq2_xs, iq_rows, IQ_KIND_IQ2_XS)
IQ_DEFINE_GEMM (iq2_s, iq_rows, IQ_KIND_IQ2_S)
IQ_DEFINE_GEMM (iq3_xxs, iq_rows, IQ_KIND_IQ3_XXS)
IQ_DEFINE_GEMM (iq3_s, iq_rows, IQ_KIND_IQ3_S)
IQ_DEFINE_GEMM (iq4_xs, iq4xs_rows, 0)
IQ_DEFINE_GEMM (tq2_0, iq_rows, IQ_KIND_TQ2_0)
IQ_DEFINE_GEMM (iq1_s, iq_rows, IQ_KIND_IQ1_S)
IQ_DEFINE_GEMM (iq1_m, iq_rows, IQ_KIND_IQ1_M)
IQ_DEFINE_GEMM (iq4_nl, nl_rows, 0)
IQ_DEFINE_GEMM (mxfp4, nl_rows, 1)
IQ_DEFINE_GEMM (tq1_0, tq1_rows, 0)

/* The table entries, for both versions. */
#define IQ_MM_AVX2(q8)                                                                     \
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
