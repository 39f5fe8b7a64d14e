/* SPDX-License-Identifier: MIT */
/* AVX-512 kernels (F, BW, VL, DQ with FMA and F16C). Compiled twice: plain,
 * and with LK_AVX512_VNNI for CPUs with VNNI and BF16, where int8 dot
 * products use vpdpbusd and BF16 weights vdpbf16ps.
 *
 * The integer sums are exactly those of the scalar version; only the order
 * of float additions differs. Tails shorter than a vector are masked. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "lk-half.h"
#include "lk-kernels-private.h"
#include "lk-iq-avx2.h"

#ifdef LK_AVX512_VNNI
#define VERSION_NAME "avx512vnni"
#define KERNELS_ENTRY lk_kernels_avx512vnni
#define RUNNABLE_ENTRY lk_kernels_avx512vnni_runnable
#else
#define VERSION_NAME "avx512"
#define KERNELS_ENTRY lk_kernels_avx512
#define RUNNABLE_ENTRY lk_kernels_avx512_runnable
#endif

#define INLINE static inline __attribute__ ((always_inline))
#define MAXC 4 /* activation rows a weight block is reused for */

/* Weight tiles stream from memory once per token. For the K-quant tiles
 * (2-3 KB each, read in an order the hardware prefetcher does not follow)
 * decode reached only 57-64% of the plain read bandwidth; asking for the
 * bytes PREFETCH_AHEAD on while a tile is used brings it to 91-100%
 * (TinyLlama shapes, 1 and 2 threads). The small Q4_0/Q8_0 tiles are read
 * in order and were 5-10 points slower with it, so they go without.
 * Prefetches past the end of a matrix are harmless hints. */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 8192
#endif

INLINE void
prefetch_ahead (const uint8_t *tile, size_t bytes)
{
  for (size_t o = 0; o < bytes; o += 64)
    _mm_prefetch ((const char *) tile + PREFETCH_AHEAD + o, _MM_HINT_T0);
}





/* Integer helpers ---------------------------------------------------------- */

/* acc + sum of u8 * s8 over each 4 bytes. u must be below 128 or the other
 * operand's pairs must not saturate 16 bits (true for every caller). */
INLINE __m512i
dot_u8s8 (__m512i acc, __m512i u, __m512i s)
{
#ifdef LK_AVX512_VNNI
  return _mm512_dpbusd_epi32 (acc, u, s);
#else
  const __m512i p = _mm512_maddubs_epi16 (u, s);
  return _mm512_add_epi32 (acc, _mm512_madd_epi16 (p, _mm512_set1_epi16 (1)));
#endif
}

/* acc + sum of s8 * s8: the sign moves to the second operand. */
INLINE __m512i
dot_s8s8 (__m512i acc, __m512i a, __m512i b)
{
  const __mmask64 neg = _mm512_movepi8_mask (a);
  const __m512i sb = _mm512_mask_sub_epi8 (b, neg, _mm512_setzero_si512 (), b);
  return dot_u8s8 (acc, _mm512_abs_epi8 (a), sb);
}

INLINE float
hsum (__m512 v)
{
  return _mm512_reduce_add_ps (v);
}

INLINE __mmask16
mask16 (int64_t n)
{
  return n >= 16 ? (__mmask16) 0xFFFF : (__mmask16) ((1u << n) - 1);
}

/* Float weights -------------------------------------------------------------- */

INLINE __m512
load_f32 (const void *p, int64_t i)
{
  return _mm512_loadu_ps ((const float *) p + i);
}

INLINE __m512
load_f32_mask (const void *p, int64_t i, __mmask16 m)
{
  return _mm512_maskz_loadu_ps (m, (const float *) p + i);
}

INLINE __m512
load_f16 (const void *p, int64_t i)
{
  return _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) ((const uint16_t *) p + i)));
}

INLINE __m512
load_f16_mask (const void *p, int64_t i, __mmask16 m)
{
  return _mm512_cvtph_ps (_mm256_maskz_loadu_epi16 (m, (const uint16_t *) p + i));
}

#ifndef LK_AVX512_VNNI /* with VNNI, BF16 weights meet BF16 activations instead */
INLINE __m512
load_bf16 (const void *p, int64_t i)
{
  const __m512i v = _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) ((const uint16_t *) p + i)));
  return _mm512_castsi512_ps (_mm512_slli_epi32 (v, 16));
}

INLINE __m512
load_bf16_mask (const void *p, int64_t i, __mmask16 m)
{
  const __m512i v = _mm512_cvtepu16_epi32 (_mm256_maskz_loadu_epi16 (m, (const uint16_t *) p + i));
  return _mm512_castsi512_ps (_mm512_slli_epi32 (v, 16));
}
#endif

/* An R x C tile of float dot products (R weight rows, C activation rows). */
#define DEFINE_FLOAT_TILE(NAME, LOAD, LOAD_MASK)                                             \
  INLINE void NAME##_tile (const int R, const int C, int64_t n, const uint8_t *w, size_t ws, \
                           const float *x, size_t xs, float *y, size_t ys)                  \
  {                                                                                          \
    __m512 acc[4][4];                                                                        \
    int64_t i = 0;                                                                           \
    _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++)                                     \
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = _mm512_setzero_ps ();  \
    for (; i + 16 <= n; i += 16)                                                             \
      {                                                                                      \
        __m512 wv[4], xv[4];                                                                 \
        _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++) wv[r] = LOAD (w + r * ws, i);   \
        _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++) xv[c] = _mm512_loadu_ps (x + c * xs + i); \
        _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++)                                 \
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)                               \
            acc[r][c] = _mm512_fmadd_ps (wv[r], xv[c], acc[r][c]);                           \
      }                                                                                      \
    if (i < n)                                                                               \
      {                                                                                      \
        const __mmask16 m = mask16 (n - i);                                                  \
        __m512 wv[4], xv[4];                                                                 \
        _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++) wv[r] = LOAD_MASK (w + r * ws, i, m); \
        _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++) xv[c] = _mm512_maskz_loadu_ps (m, x + c * xs + i); \
        _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++)                                 \
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)                               \
            acc[r][c] = _mm512_fmadd_ps (wv[r], xv[c], acc[r][c]);                           \
      }                                                                                      \
    _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++)                                     \
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++) y[c * ys + r] = hsum (acc[r][c]); \
  }                                                                                          \
                                                                                             \
  static void NAME##_vec_dot (int64_t n, float *s, const void *w, const void *x)             \
  {                                                                                          \
    __m512 a0 = _mm512_setzero_ps (), a1 = a0, a2 = a0, a3 = a0;                            \
    const float *xf = x;                                                                     \
    int64_t i = 0;                                                                           \
    for (; i + 64 <= n; i += 64)                                                             \
      {                                                                                      \
        a0 = _mm512_fmadd_ps (LOAD (w, i), _mm512_loadu_ps (xf + i), a0);                    \
        a1 = _mm512_fmadd_ps (LOAD (w, i + 16), _mm512_loadu_ps (xf + i + 16), a1);          \
        a2 = _mm512_fmadd_ps (LOAD (w, i + 32), _mm512_loadu_ps (xf + i + 32), a2);          \
        a3 = _mm512_fmadd_ps (LOAD (w, i + 48), _mm512_loadu_ps (xf + i + 48), a3);          \
      }                                                                                      \
    for (; i + 16 <= n; i += 16)                                                             \
      a0 = _mm512_fmadd_ps (LOAD (w, i), _mm512_loadu_ps (xf + i), a0);                      \
    if (i < n)                                                                               \
      {                                                                                      \
        const __mmask16 m = mask16 (n - i);                                                  \
        a1 = _mm512_fmadd_ps (LOAD_MASK (w, i, m), _mm512_maskz_loadu_ps (m, xf + i), a1);   \
      }                                                                                      \
    *s = hsum (_mm512_add_ps (_mm512_add_ps (a0, a1), _mm512_add_ps (a2, a3)));             \
  }                                                                                          \
                                                                                             \
  static void NAME##_gemm (int64_t n, const void *w, size_t ws, int nr, const void *x,       \
                           size_t xs_bytes, int nc, float *y, size_t ys)                     \
  {                                                                                          \
    const size_t xs = xs_bytes / sizeof (float);                                             \
    if (nc == 1) /* one stream per core: the prefetchers like it best */                     \
      {                                                                                      \
        for (int r = 0; r < nr; r++)                                                         \
          NAME##_vec_dot (n, &y[r], (const uint8_t *) w + (size_t) r * ws, x);               \
        return;                                                                              \
      }                                                                                      \
    for (int c = 0; c < nc; c += 4)                                                          \
      {                                                                                      \
        const int C = nc - c < 4 ? nc - c : 4;                                               \
        const float *xc = (const float *) x + (size_t) c * xs;                               \
        for (int r = 0; r < nr; r += 4)                                                      \
          {                                                                                  \
            const int R = nr - r < 4 ? nr - r : 4;                                           \
            const uint8_t *wr = (const uint8_t *) w + (size_t) r * ws;                       \
            float *yr = y + (size_t) c * ys + r;                                             \
            switch (R * 4 + C)                                                               \
              {                                                                              \
              case 4 * 4 + 4: NAME##_tile (4, 4, n, wr, ws, xc, xs, yr, ys); break;          \
              case 4 * 4 + 3: NAME##_tile (4, 3, n, wr, ws, xc, xs, yr, ys); break;          \
              case 4 * 4 + 2: NAME##_tile (4, 2, n, wr, ws, xc, xs, yr, ys); break;          \
              case 4 * 4 + 1: NAME##_tile (4, 1, n, wr, ws, xc, xs, yr, ys); break;          \
              case 3 * 4 + 4: NAME##_tile (3, 4, n, wr, ws, xc, xs, yr, ys); break;          \
              case 2 * 4 + 4: NAME##_tile (2, 4, n, wr, ws, xc, xs, yr, ys); break;          \
              case 1 * 4 + 4: NAME##_tile (1, 4, n, wr, ws, xc, xs, yr, ys); break;          \
              default:                                                                       \
                for (int rr = 0; rr < R; rr++)                                               \
                  for (int cc = 0; cc < C; cc++)                                             \
                    NAME##_vec_dot (n, &yr[(size_t) cc * ys + rr], wr + (size_t) rr * ws,     \
                                    xc + (size_t) cc * xs);                                  \
                break;                                                                       \
              }                                                                              \
          }                                                                                  \
      }                                                                                      \
  }

DEFINE_FLOAT_TILE (f32, load_f32, load_f32_mask)
DEFINE_FLOAT_TILE (f16, load_f16, load_f16_mask)
#ifndef LK_AVX512_VNNI
DEFINE_FLOAT_TILE (bf16, load_bf16, load_bf16_mask)
#endif

#ifdef LK_AVX512_VNNI
/* BF16 weights against BF16 activations: 32 products per instruction. */
static void
quantize_act_bf16 (const float *x, void *dst, int64_t n)
{
  lk_bf16 *y = dst;
  int64_t i = 0;

  for (; i + 32 <= n; i += 32)
    {
      const __m512bh v = _mm512_cvtne2ps_pbh (_mm512_loadu_ps (x + i + 16), _mm512_loadu_ps (x + i));
      _mm512_storeu_si512 ((void *) (y + i), (__m512i) v);
    }
  for (; i < n; i++)
    y[i] = lk_f32_to_bf16 (x[i]);
}

INLINE __m512
dot_bf16_pairs (int64_t n, const lk_bf16 *a, const lk_bf16 *b)
{
  __m512 acc0 = _mm512_setzero_ps (), acc1 = acc0;
  int64_t i = 0;

  for (; i + 64 <= n; i += 64)
    {
      acc0 = _mm512_dpbf16_ps (acc0, (__m512bh) _mm512_loadu_si512 (a + i),
                               (__m512bh) _mm512_loadu_si512 (b + i));
      acc1 = _mm512_dpbf16_ps (acc1, (__m512bh) _mm512_loadu_si512 (a + i + 32),
                               (__m512bh) _mm512_loadu_si512 (b + i + 32));
    }
  for (; i < n; i += 32)
    {
      const __mmask32 m = n - i >= 32 ? (__mmask32) 0xFFFFFFFF : (__mmask32) ((1u << (n - i)) - 1);
      acc0 = _mm512_dpbf16_ps (acc0, (__m512bh) _mm512_maskz_loadu_epi16 (m, a + i),
                               (__m512bh) _mm512_maskz_loadu_epi16 (m, b + i));
    }
  return _mm512_add_ps (acc0, acc1);
}

static void
bf16bf16_vec_dot (int64_t n, float *s, const void *w, const void *x)
{
  *s = hsum (dot_bf16_pairs (n, w, x));
}
#endif

/* 32-element blocks against planar Q8 activations ---------------------------- */

/* Permutation that spreads the scales of block pair p (of 16) over the two
 * halves of a vector. */
static const int32_t pair_idx[8][16] __attribute__ ((aligned (64))) = {
#define P(p) { 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p, 2 * p,                        \
               2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1, 2 * p + 1 }
  P (0), P (1), P (2), P (3), P (4), P (5), P (6), P (7),
#undef P
};

/* Sixteen half-precision fields, stride bytes apart, as floats. */
INLINE __m512
gather_half16 (const uint8_t *base, size_t stride, int nb)
{
  uint64_t v[4] = { 0, 0, 0, 0 };

  for (int j = 0; j < nb; j++)
    {
      uint16_t h;
      memcpy (&h, base + (size_t) j * stride, 2);
      v[j >> 2] |= (uint64_t) h << (16 * (j & 3));
    }
  return _mm512_cvtph_ps (_mm256_set_epi64x ((long long) v[3], (long long) v[2], (long long) v[1],
                                             (long long) v[0]));
}

/* The 64 weights of blocks b and b + 1 (or b alone when one = 1) as bytes in
 * element order, and the sign/offset form they are used in. */
typedef enum
{
  KIND_Q4_0,
  KIND_Q4_1,
  KIND_Q5_0,
  KIND_Q5_1,
  KIND_Q8_0,
} kind32;

INLINE size_t
block_bytes (kind32 k)
{
  switch (k)
    {
    case KIND_Q4_0: return sizeof (lk_block_q4_0);
    case KIND_Q4_1: return sizeof (lk_block_q4_1);
    case KIND_Q5_0: return sizeof (lk_block_q5_0);
    case KIND_Q5_1: return sizeof (lk_block_q5_1);
    default: return sizeof (lk_block_q8_0);
    }
}

INLINE size_t
qs_offset (kind32 k)
{
  switch (k)
    {
    case KIND_Q4_0: return offsetof (lk_block_q4_0, qs);
    case KIND_Q4_1: return offsetof (lk_block_q4_1, qs);
    case KIND_Q5_0: return offsetof (lk_block_q5_0, qs);
    case KIND_Q5_1: return offsetof (lk_block_q5_1, qs);
    default: return offsetof (lk_block_q8_0, qs);
    }
}

INLINE __m512i
unpack_pair (kind32 k, const uint8_t *b, int one)
{
  const size_t bs = block_bytes (k), qo = qs_offset (k);

  if (k == KIND_Q8_0)
    {
      const __m256i lo = _mm256_loadu_si256 ((const __m256i *) (b + qo));
      const __m256i hi = one ? _mm256_setzero_si256 ()
                             : _mm256_loadu_si256 ((const __m256i *) (b + bs + qo));
      return _mm512_inserti64x4 (_mm512_castsi256_si512 (lo), hi, 1);
    }
  {
    const __m128i q0 = _mm_loadu_si128 ((const __m128i *) (b + qo));
    const __m128i q1 = one ? _mm_setzero_si128 () : _mm_loadu_si128 ((const __m128i *) (b + bs + qo));
    const __m256i q = _mm256_inserti128_si256 (_mm256_castsi128_si256 (q0), q1, 1);
    __m512i z = _mm512_inserti64x4 (_mm512_castsi256_si512 (q), _mm256_srli_epi16 (q, 4), 1);
    z = _mm512_and_si512 (z, _mm512_set1_epi8 (0x0F));
    /* [q0 low, q1 low, q0 high, q1 high] -> [q0 low, q0 high, q1 low, q1 high] */
    z = _mm512_shuffle_i64x2 (z, z, _MM_SHUFFLE (3, 1, 2, 0));
    if (k == KIND_Q5_0 || k == KIND_Q5_1)
      {
        const size_t ho = k == KIND_Q5_0 ? offsetof (lk_block_q5_0, qh) : offsetof (lk_block_q5_1, qh);
        uint32_t h0, h1 = 0;
        memcpy (&h0, b + ho, 4);
        if (!one)
          memcpy (&h1, b + bs + ho, 4);
        /* qh bit j is the fifth bit of element j: exactly the pair's order. */
        z = _mm512_or_si512 (z, _mm512_maskz_mov_epi8 ((__mmask64) h0 | ((__mmask64) h1 << 32),
                                                      _mm512_set1_epi8 (0x10)));
      }
    return z;
  }
}

/* The same pair from a group of a packed row (see lk-pack.c): blocks j and
 * j + 1 of a group of ng blocks starting at grp. */
INLINE __m512i
unpack_pair_packed (kind32 k, const uint8_t *grp, int ng, int j, int one)
{
  if (k == KIND_Q8_0)
    return one ? _mm512_maskz_loadu_epi8 (0xFFFFFFFFull, grp + 32 * j)
               : _mm512_loadu_si512 (grp + 32 * j);
  {
    const uint8_t *q = grp + 16 * j;
    __m512i z;
    if (one)
      {
        const __m128i q16 = _mm_loadu_si128 ((const __m128i *) q);
        const __m256i y = _mm256_inserti128_si256 (_mm256_castsi128_si256 (q16), _mm_srli_epi16 (q16, 4), 1);
        z = _mm512_castsi256_si512 (_mm256_and_si256 (y, _mm256_set1_epi8 (0x0F)));
        z = _mm512_inserti64x4 (z, _mm256_setzero_si256 (), 1);
      }
    else
      {
        const __m256i y = _mm256_loadu_si256 ((const __m256i *) q);
        z = _mm512_inserti64x4 (_mm512_castsi256_si512 (y), _mm256_srli_epi16 (y, 4), 1);
        z = _mm512_and_si512 (z, _mm512_set1_epi8 (0x0F));
      }
    if (k == KIND_Q5_0 || k == KIND_Q5_1)
      {
        uint64_t bits = 0;
        memcpy (&bits, grp + 16 * ng + 4 * j, one ? 4 : 8);
        z = _mm512_or_si512 (z, _mm512_maskz_mov_epi8 ((__mmask64) bits, _mm512_set1_epi8 (0x10)));
      }
    return z;
  }
}

/* One weight row against C activation rows. */
INLINE void
row32 (kind32 k, const bool packed, const int C, int64_t n, const uint8_t *w, const uint8_t *x,
       size_t xs, float *y, size_t ys)
{
  const int64_t nb = n / 32;
  const size_t bs = block_bytes (k);
  const bool has_min = k == KIND_Q4_1 || k == KIND_Q5_1;
  const float offset = k == KIND_Q4_0 ? 8.0f : k == KIND_Q5_0 ? 16.0f : 0.0f;
  __m512 acc[MAXC], acc2[MAXC], off[MAXC];

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    acc[c] = acc2[c] = off[c] = _mm512_setzero_ps ();
  for (int64_t g = 0; g < nb; g += 16)
    {
      const int ng = nb - g < 16 ? (int) (nb - g) : 16;
      const __mmask16 m = mask16 (ng);
      const uint8_t *wg = w + (size_t) g * bs;
      /* In a packed group the scales (and minimums) follow the levels. */
      const uint8_t *pd = wg + (k == KIND_Q8_0 ? 32 * ng : 16 * ng)
                          + ((k == KIND_Q5_0 || k == KIND_Q5_1) ? 4 * ng : 0);
      const __m512 dw = packed ? _mm512_cvtph_ps (ng == 16 ? _mm256_loadu_si256 ((const __m256i *) pd)
                                                           : _mm256_maskz_loadu_epi16 (m, pd))
                               : gather_half16 (wg, bs, ng);
      __m512 mw = _mm512_setzero_ps (), S[MAXC];

      if (has_min)
        mw = packed ? _mm512_cvtph_ps (ng == 16 ? _mm256_loadu_si256 ((const __m256i *) (pd + 2 * ng))
                                                : _mm256_maskz_loadu_epi16 (m, pd + 2 * ng))
                    : gather_half16 (wg + 2, bs, ng);
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          const uint8_t *xr = x + (size_t) c * xs;
          const __m512 da = _mm512_maskz_loadu_ps (m, lk_act_q8_d (xr, n) + g);
          const __m512 sa = _mm512_maskz_loadu_ps (m, lk_act_q8_s (xr, n) + g);
          S[c] = _mm512_mul_ps (dw, da);
          /* Offsets: -offset d_w s_a for Q4_0/Q5_0, + m_w s_a for Q4_1/Q5_1. */
          off[c] = _mm512_fmadd_ps (has_min ? mw : dw, sa, off[c]);
        }
      if (packed && ng == 16)
        {
          /* A whole group: straight-line, two accumulator chains per row so
           * the adds do not wait on each other. */

          _Pragma ("GCC unroll 8") for (int p = 0; p < 16; p += 2)
            {
              const __m512i z = unpack_pair_packed (k, wg, 16, p, 0);
              const __m512i idx = _mm512_load_si512 (pair_idx[p / 2]);
              _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
                {
                  const int8_t *qa = lk_act_q8_qs (x + (size_t) c * xs) + 32 * (g + p);
                  const __m512i a = _mm512_loadu_si512 (qa);
                  const __m512i d = k == KIND_Q8_0 ? dot_s8s8 (_mm512_setzero_si512 (), z, a)
                                                   : dot_u8s8 (_mm512_setzero_si512 (), z, a);
                  if ((p / 2) & 1)
                    acc2[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (d),
                                               _mm512_permutexvar_ps (idx, S[c]), acc2[c]);
                  else
                    acc[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (d),
                                              _mm512_permutexvar_ps (idx, S[c]), acc[c]);
                }
            }
          continue;
        }
      for (int p = 0; p < ng; p += 2)
        {
          const int one = ng - p == 1;
          const __m512i z = packed ? unpack_pair_packed (k, wg, ng, p, one)
                                   : unpack_pair (k, wg + (size_t) p * bs, one);
          const __m512i idx = _mm512_load_si512 (pair_idx[p / 2]);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            {
              const int8_t *qa = lk_act_q8_qs (x + (size_t) c * xs) + 32 * (g + p);
              const __m512i a = one ? _mm512_maskz_loadu_epi8 (0xFFFFFFFFull, qa)
                                    : _mm512_loadu_si512 (qa);
              const __m512i d = k == KIND_Q8_0 ? dot_s8s8 (_mm512_setzero_si512 (), z, a)
                                               : dot_u8s8 (_mm512_setzero_si512 (), z, a);
              acc[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (d), _mm512_permutexvar_ps (idx, S[c]),
                                        acc[c]);
            }
        }
    }
  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    {
      const float main_sum = hsum (_mm512_add_ps (acc[c], acc2[c]));
      y[c * ys] = has_min ? main_sum + hsum (off[c]) : main_sum - offset * hsum (off[c]);
    }
}

#define DEFINE_Q32(lower, KIND, PACKED)                                                          \
  static void vec_dot_##lower (int64_t n, float *s, const void *w, const void *x)                \
  {                                                                                              \
    row32 (KIND, PACKED, 1, n, w, x, 0, s, 0);                                                   \
  }                                                                                              \
  static void gemm_##lower (int64_t n, const void *w, size_t ws, int nr, const void *x,          \
                            size_t xs, int nc, float *y, size_t ys)                              \
  {                                                                                              \
    for (int c = 0; c < nc; c += MAXC)                                                           \
      {                                                                                          \
        const int C = nc - c < MAXC ? nc - c : MAXC;                                             \
        const uint8_t *xc = (const uint8_t *) x + (size_t) c * xs;                               \
        for (int r = 0; r < nr; r++)                                                             \
          {                                                                                      \
            const uint8_t *wr = (const uint8_t *) w + (size_t) r * ws;                           \
            float *yr = y + (size_t) c * ys + r;                                                 \
            switch (C)                                                                           \
              {                                                                                  \
              case 4: row32 (KIND, PACKED, 4, n, wr, xc, xs, yr, ys); break;                     \
              case 3: row32 (KIND, PACKED, 3, n, wr, xc, xs, yr, ys); break;                     \
              case 2: row32 (KIND, PACKED, 2, n, wr, xc, xs, yr, ys); break;                     \
              default: row32 (KIND, PACKED, 1, n, wr, xc, xs, yr, ys); break;                    \
              }                                                                                  \
          }                                                                                      \
      }                                                                                          \
  }

DEFINE_Q32 (q4_0, KIND_Q4_0, false)
DEFINE_Q32 (q4_1, KIND_Q4_1, false)
DEFINE_Q32 (q5_0, KIND_Q5_0, false)
DEFINE_Q32 (q5_1, KIND_Q5_1, false)
DEFINE_Q32 (q8_0, KIND_Q8_0, false)
DEFINE_Q32 (q4_0_p, KIND_Q4_0, true)
DEFINE_Q32 (q4_1_p, KIND_Q4_1, true)
DEFINE_Q32 (q5_0_p, KIND_Q5_0, true)
DEFINE_Q32 (q5_1_p, KIND_Q5_1, true)
DEFINE_Q32 (q8_0_p, KIND_Q8_0, true)

/* Row-interleaved Q4_0, Q8_0, IQ4_NL and MXFP4: one instruction, 16 rows ---- */

typedef enum
{
  X16_Q4_0,
  X16_Q8_0,
  X16_IQ4_NL, /* nibbles index llama.cpp's 16 values */
  X16_MXFP4,  /* the same with E2M1's values and an exponent byte per block */
} x16_kind;

/* The levels of a tile as unsigned bytes: vector j holds elements 4j..4j+3
 * of each row in the row's 32-bit lane. The 4-bit types: 8 vectors from 4
 * loads, the non-linear ones through a table of their values plus 128. */
INLINE void
x16_levels (const x16_kind k, const uint8_t *tile, __m512i table, __m512i v[8])
{
  if (k == X16_Q8_0)
    {
      _Pragma ("GCC unroll 8") for (int j = 0; j < 8; j++)
        v[j] = _mm512_loadu_si512 (tile + 64 * j);
      return;
    }
  _Pragma ("GCC unroll 4") for (int j = 0; j < 4; j++)
    {
      const __m512i z = _mm512_loadu_si512 (tile + 64 * j);
      v[j] = _mm512_and_si512 (z, _mm512_set1_epi8 (0x0F));
      v[j + 4] = _mm512_and_si512 (_mm512_srli_epi16 (z, 4), _mm512_set1_epi8 (0x0F));
      if (k == X16_IQ4_NL || k == X16_MXFP4)
        {
          v[j] = _mm512_shuffle_epi8 (table, v[j]);
          v[j + 4] = _mm512_shuffle_epi8 (table, v[j + 4]);
        }
    }
}

/* The 16 rows' block scales: halves, or MXFP4's exponents as 2^(e - 127) / 2
 * (subnormal for e < 2), as lk_e8m0_to_f32_half. */
INLINE __m512
x16_scales (const x16_kind k, const uint8_t *tile)
{
  if (k == X16_MXFP4)
    {
      const __m512i e = _mm512_cvtepu8_epi32 (_mm_loadu_si128 ((const __m128i *) tile));
      const __m512i normal = _mm512_slli_epi32 (_mm512_sub_epi32 (e, _mm512_set1_epi32 (1)), 23);
      const __m512i small = _mm512_sllv_epi32 (_mm512_set1_epi32 (0x00200000), e);
      const __mmask16 sub = _mm512_cmplt_epu32_mask (e, _mm512_set1_epi32 (2));
      return _mm512_castsi512_ps (_mm512_mask_mov_epi32 (normal, sub, small));
    }
  return _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) tile));
}

INLINE int32_t
load_i32 (const int8_t *p)
{
  int32_t v;
  memcpy (&v, p, 4);
  return v;
}

/* 16 rows (one group) against C activation rows: y[c * ys + r]. The
 * levels are stored with an offset (8 for Q4_0, 128 for the others) taken
 * off through the activation sums: d_w (d_a sum(u a) - offset s_a). */
INLINE void
x16_rows (const x16_kind k, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs,
          float *y, size_t ys)
{
  const size_t tile_bytes = k == X16_Q8_0     ? 16 * sizeof (lk_block_q8_0)
                            : k == X16_MXFP4  ? 16 * sizeof (lk_block_mxfp4)
                            : k == X16_IQ4_NL ? 16 * sizeof (lk_block_iq4_nl)
                                              : 16 * sizeof (lk_block_q4_0);
  const size_t scale_bytes = k == X16_MXFP4 ? 16 : 32;
  const float offset = k == X16_Q4_0 ? 8.0f : 128.0f;
  const __m512i table = _mm512_broadcast_i32x4 (_mm_add_epi8 (
    _mm_loadu_si128 ((const __m128i *) (k == X16_MXFP4 ? lk_kvalues_mxfp4 : lk_kvalues_iq4nl)),
    _mm_set1_epi8 ((char) 0x80)));
  __m512 acc[MAXC];

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    acc[c] = _mm512_setzero_ps ();
  for (int64_t b = 0; b < n / 32; b++)
    {
      const uint8_t *tile = w + (size_t) b * tile_bytes;
      const __m512 dw = x16_scales (k, tile);
      __m512i v[8];
      x16_levels (k, tile + scale_bytes, table, v);
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          const uint8_t *xr = x + (size_t) c * xs;
          const int8_t *qa = lk_act_q8_qs (xr) + 32 * b;
          __m512i s0 = _mm512_setzero_si512 (), s1 = s0;
          __m512 t;
          /* Two chains, so the dot products do not wait on each other. */
          _Pragma ("GCC unroll 4") for (int j = 0; j < 8; j += 2)
            {
              s0 = dot_u8s8 (s0, v[j], _mm512_set1_epi32 (load_i32 (qa + 4 * j)));
              s1 = dot_u8s8 (s1, v[j + 1], _mm512_set1_epi32 (load_i32 (qa + 4 * j + 4)));
            }
          t = _mm512_fmadd_ps (_mm512_cvtepi32_ps (_mm512_add_epi32 (s0, s1)),
                               _mm512_set1_ps (lk_act_q8_d (xr, n)[b]),
                               _mm512_set1_ps (-offset * lk_act_q8_s (xr, n)[b]));
          acc[c] = _mm512_fmadd_ps (dw, t, acc[c]);
        }
    }
  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    _mm512_storeu_ps (y + (size_t) c * ys, acc[c]);
}

/* A gemm over 16-row groups from a kernel of one group against C <= MAXC
 * activation rows. */
#define DEFINE_X16(lower, FN)                                                                   \
  static void gemm_##lower##_x16 (int64_t n, const void *w, size_t ws, int nr, const void *x,    \
                                  size_t xs, int nc, float *y, size_t ys)                      \
  {                                                                                            \
    for (int r = 0; r < nr; r += 16)                                                           \
      {                                                                                        \
        const uint8_t *wg = (const uint8_t *) w + (size_t) r * ws;                             \
        for (int c = 0; c < nc; c += MAXC)                                                     \
          {                                                                                    \
            const uint8_t *xc = (const uint8_t *) x + (size_t) c * xs;                         \
            float *yc = y + (size_t) c * ys + r;                                               \
            switch (nc - c < MAXC ? nc - c : MAXC)                                             \
              {                                                                                \
              case 4: FN (4, n, wg, xc, xs, yc, ys); break;                                    \
              case 3: FN (3, n, wg, xc, xs, yc, ys); break;                                    \
              case 2: FN (2, n, wg, xc, xs, yc, ys); break;                                    \
              default: FN (1, n, wg, xc, xs, yc, ys); break;                                   \
              }                                                                                \
          }                                                                                    \
      }                                                                                        \
  }

#define DEFINE_X16_KIND(lower, KIND)                                                             \
  INLINE void lower##_x16_rows (const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, \
                                float *y, size_t ys)                                              \
  {                                                                                               \
    x16_rows (KIND, C, n, w, x, xs, y, ys);                                                       \
  }                                                                                               \
  DEFINE_X16 (lower, lower##_x16_rows)

DEFINE_X16_KIND (q4_0, X16_Q4_0)
#ifdef LK_AVX512_VNNI
DEFINE_X16_KIND (q8_0, X16_Q8_0)
DEFINE_X16_KIND (iq4_nl, X16_IQ4_NL)
DEFINE_X16_KIND (mxfp4, X16_MXFP4)

/* IQ4_XS rows, 16 at a time, against Q8_K activations: each 32-element
 * sub-block is an IQ4_NL tile (levels + 128 through the table), its 6-bit
 * scale (less 32) taken from the 16 rows' scale bits in one vector. Per
 * sub-block the integer sum less 128 times the activations' sum, scaled;
 * per block by d_w d_a. */
INLINE void
iq4xs_x16_rows (const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y,
                size_t ys)
{
  const __m512i table = _mm512_broadcast_i32x4 (
    _mm_add_epi8 (_mm_loadu_si128 ((const __m128i *) lk_kvalues_iq4nl), _mm_set1_epi8 ((char) 0x80)));
  __m512 acc[MAXC];

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    acc[c] = _mm512_setzero_ps ();
  for (int64_t b = 0; b < n / LK_QK_K; b++)
    {
      const uint8_t *tile = w + (size_t) b * 16 * sizeof (lk_block_iq4_xs);
      const __m512 dw = _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) tile));
      const __m512i sh = _mm512_cvtepu16_epi32 (_mm256_loadu_si256 ((const __m256i *) (tile + 32)));
      const __m512i sl = _mm512_loadu_si512 (tile + 64);
      __m512 blk[MAXC];
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        blk[c] = _mm512_setzero_ps ();
      for (int j = 0; j < 8; j++)
        {
          const __m512i lo = _mm512_and_si512 (_mm512_srli_epi32 (sl, 4 * j), _mm512_set1_epi32 (0xF));
          const __m512i hi = _mm512_and_si512 (_mm512_srli_epi32 (sh, 2 * j), _mm512_set1_epi32 (3));
          const __m512 ls = _mm512_cvtepi32_ps (
            _mm512_sub_epi32 (_mm512_or_si512 (lo, _mm512_slli_epi32 (hi, 4)), _mm512_set1_epi32 (32)));
          __m512i v[8];
          x16_levels (X16_IQ4_NL, tile + 128 + 256 * j, table, v);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            {
              const lk_block_q8_K *xb = (const lk_block_q8_K *) (x + (size_t) c * xs) + b;
              const int8_t *qa = xb->qs + 32 * j;
              const int asum = xb->bsums[2 * j] + xb->bsums[2 * j + 1];
              __m512i s0 = _mm512_setzero_si512 (), s1 = s0;
              _Pragma ("GCC unroll 4") for (int k = 0; k < 8; k += 2)
                {
                  s0 = dot_u8s8 (s0, v[k], _mm512_set1_epi32 (load_i32 (qa + 4 * k)));
                  s1 = dot_u8s8 (s1, v[k + 1], _mm512_set1_epi32 (load_i32 (qa + 4 * k + 4)));
                }
              s0 = _mm512_sub_epi32 (_mm512_add_epi32 (s0, s1), _mm512_set1_epi32 (128 * asum));
              blk[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (s0), ls, blk[c]);
            }
        }
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          const lk_block_q8_K *xb = (const lk_block_q8_K *) (x + (size_t) c * xs) + b;
          acc[c] = _mm512_fmadd_ps (_mm512_mul_ps (dw, _mm512_set1_ps (xb->d)), blk[c], acc[c]);
        }
    }
  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    _mm512_storeu_ps (y + (size_t) c * ys, acc[c]);
}
DEFINE_X16 (iq4_xs, iq4xs_x16_rows)
#else
/* Without VNNI the unsigned levels of Q8_0, IQ4_NL and MXFP4 (offset by
 * 128) would saturate vpmaddubsw's sums: rows are copied out (such weights
 * are not interleaved for this version). */
LK_DEFINE_GEMM_X16_BY_ROWS (gemm_q8_0_x16_rows, LK_TYPE_Q8_0_X16, vec_dot_q8_0)
LK_DEFINE_GEMM_X16_BY_ROWS (gemm_iq4_nl_x16_rows, LK_TYPE_IQ4_NL_X16, vec_dot_iq4_nl)
LK_DEFINE_GEMM_X16_BY_ROWS (gemm_mxfp4_x16_rows, LK_TYPE_MXFP4_X16, vec_dot_mxfp4)
LK_DEFINE_GEMM_X16_BY_ROWS (gemm_iq4_xs_x16_rows, LK_TYPE_IQ4_XS_X16, vec_dot_iq4_xs)
#endif

static void
quantize_act_q8 (const float *x, void *dst, int64_t n)
{
  int8_t *q = dst;
  float *d = (float *) ((uint8_t *) dst + n);
  float *s = d + n / 32;

  for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32)
    {
      const __m512 v0 = _mm512_loadu_ps (x), v1 = _mm512_loadu_ps (x + 16);
      const float amax = _mm512_reduce_max_ps (_mm512_max_ps (_mm512_abs_ps (v0), _mm512_abs_ps (v1)));
      const float db = amax / 127.0f;
      const float id = db != 0.0f ? 1.0f / db : 0.0f;
      const __m512i i0 = _mm512_cvtps_epi32 (_mm512_mul_ps (v0, _mm512_set1_ps (id)));
      const __m512i i1 = _mm512_cvtps_epi32 (_mm512_mul_ps (v1, _mm512_set1_ps (id)));
      _mm_storeu_si128 ((__m128i *) q, _mm512_cvtsepi32_epi8 (i0));
      _mm_storeu_si128 ((__m128i *) (q + 16), _mm512_cvtsepi32_epi8 (i1));
      d[b] = db;
      s[b] = db * (float) _mm512_reduce_add_epi32 (_mm512_add_epi32 (i0, i1));
    }
}

static void
quantize_act_q8K (const float *x, void *dst, int64_t n)
{
  lk_block_q8_K *y = dst;

  for (int64_t b = 0; b < n / LK_QK_K; b++, x += LK_QK_K)
    {
      __m512 vmax = _mm512_setzero_ps ();
      float amax, max = 0.0f;
      for (int j = 0; j < LK_QK_K; j += 16)
        vmax = _mm512_max_ps (vmax, _mm512_abs_ps (_mm512_loadu_ps (x + j)));
      amax = _mm512_reduce_max_ps (vmax);
      if (amax == 0.0f)
        {
          memset (&y[b], 0, sizeof y[b]);
          continue;
        }
      /* The signed value of largest magnitude, the first one, as the scalar
       * version picks it. */
      for (int j = 0; j < LK_QK_K; j++)
        if (fabsf (x[j]) == amax)
          {
            max = x[j];
            break;
          }
      {
        const float iscale = -127.0f / max;
        const __m512 vs = _mm512_set1_ps (iscale);
        for (int j = 0; j < LK_QK_K; j += 16)
          {
            __m512i q = _mm512_cvtps_epi32 (_mm512_mul_ps (_mm512_loadu_ps (x + j), vs));
            q = _mm512_min_epi32 (q, _mm512_set1_epi32 (127));
            _mm_storeu_si128 ((__m128i *) (y[b].qs + j), _mm512_cvtsepi32_epi8 (q));
            y[b].bsums[j / 16] = (int16_t) _mm512_reduce_add_epi32 (q);
          }
        y[b].d = 1.0f / iscale;
      }
    }
}

/* K-quants against Q8_K -------------------------------------------------------- */

/* Index vectors spreading 16-bit scales over maddubs results: 64 elements
 * per vector, group4[g] for four 16-element sub-blocks (Q2/Q3/Q6_K),
 * group2[j] for two 32-element sub-blocks (Q4/Q5_K). */
static const int16_t group4_idx[4][32] __attribute__ ((aligned (64))) = {
#define G(g) { 4 * g, 4 * g, 4 * g, 4 * g, 4 * g, 4 * g, 4 * g, 4 * g,                          \
               4 * g + 1, 4 * g + 1, 4 * g + 1, 4 * g + 1, 4 * g + 1, 4 * g + 1, 4 * g + 1, 4 * g + 1, \
               4 * g + 2, 4 * g + 2, 4 * g + 2, 4 * g + 2, 4 * g + 2, 4 * g + 2, 4 * g + 2, 4 * g + 2, \
               4 * g + 3, 4 * g + 3, 4 * g + 3, 4 * g + 3, 4 * g + 3, 4 * g + 3, 4 * g + 3, 4 * g + 3 }
  G (0), G (1), G (2), G (3),
#undef G
};

static const int16_t group2_idx[4][32] __attribute__ ((aligned (64))) = {
#define G(j) { 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j,                          \
               2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j, 2 * j,                          \
               2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, \
               2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1, 2 * j + 1 }
  G (0), G (1), G (2), G (3),
#undef G
};

/* acc + sum over each 4 elements of u * a, weighted by 16-bit scales. */
INLINE __m512i
scaled_dot (__m512i acc, __m512i u, __m512i a, __m512i scales16)
{
  return _mm512_add_epi32 (acc, _mm512_madd_epi16 (_mm512_maddubs_epi16 (u, a), scales16));
}


/* The eight 6-bit scales and minimums of a Q4_K/Q5_K block, as bytes. */
INLINE void
unpack_scale_min_k4 (const uint8_t q[12], uint64_t *scales, uint64_t *mins)
{
  uint32_t w0, w1, w2;

  memcpy (&w0, q, 4);
  memcpy (&w1, q + 4, 4);
  memcpy (&w2, q + 8, 4);
  /* Scales and minimums 0..3 are the low six bits of bytes 0..3 and 4..7;
   * 4..7 take their low four bits from bytes 8..11 and their top two from
   * the top bits of bytes 0..3 (scales) and 4..7 (minimums). */
  *scales = (uint64_t) (w0 & 0x3f3f3f3fu)
            | (uint64_t) ((w2 & 0x0f0f0f0fu) | (((w0 >> 6) & 0x03030303u) << 4)) << 32;
  *mins = (uint64_t) (w1 & 0x3f3f3f3fu)
          | (uint64_t) (((w2 >> 4) & 0x0f0f0f0fu) | (((w1 >> 6) & 0x03030303u) << 4)) << 32;
}

/* The sixteen signed 6-bit scales of a Q3_K block, as bytes (with -32). */
INLINE __m128i
unpack_scales_q3_K (const uint8_t q[12])
{
  uint32_t a0, a1, a2, s[4];

  memcpy (&a0, q, 4);
  memcpy (&a1, q + 4, 4);
  memcpy (&a2, q + 8, 4);
  s[0] = (a0 & 0x0f0f0f0fu) | (((a2 >> 0) & 0x03030303u) << 4);
  s[1] = (a1 & 0x0f0f0f0fu) | (((a2 >> 2) & 0x03030303u) << 4);
  s[2] = ((a0 >> 4) & 0x0f0f0f0fu) | (((a2 >> 4) & 0x03030303u) << 4);
  s[3] = ((a1 >> 4) & 0x0f0f0f0fu) | (((a2 >> 6) & 0x03030303u) << 4);
  return _mm_sub_epi8 (_mm_loadu_si128 ((const __m128i *) s), _mm_set1_epi8 (32));
}

/* 32 bytes as the 64 bytes [x, x >> s] (16-bit shifts; the caller masks). */
INLINE __m512i
with_shift (__m256i x, int s)
{
  return _mm512_inserti64x4 (_mm512_castsi256_si512 (x), _mm256_srli_epi16 (x, s), 1);
}

INLINE __m512i
shifted_pair (__m256i x, int s0, int s1)
{
  return _mm512_inserti64x4 (_mm512_castsi256_si512 (_mm256_srli_epi16 (x, s0)),
                             _mm256_srli_epi16 (x, s1), 1);
}

/* One super-block against C activation blocks. acc gets d_w d_a * sum of
 * scale * q * a; macc gets the per-16 sums that minimums or level offsets
 * multiply (as floats, already scaled). */
INLINE void
superblock (kindK k, const int C, const uint8_t *blk, const lk_block_q8_K *const *ya, __m512 *acc,
            __m256 *macc)
{
  __m512i iacc[MAXC];
  __m512i sc16;      /* scales as 16-bit values */
  __m256i mins16;    /* per 16-element group: what bsums are multiplied by */
  float dw, dmul;    /* d of the block; the factor of the bsums term */

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++) iacc[c] = _mm512_setzero_si512 ();

  switch (k)
    {
    case KIND_Q4_K:
    case KIND_Q5_K:
      {
        const lk_block_q4_K *b4 = (const lk_block_q4_K *) blk;
        const lk_block_q5_K *b5 = (const lk_block_q5_K *) blk;
        const uint8_t *qs = k == KIND_Q4_K ? b4->qs : b5->qs;
        uint64_t sc, mn;
        unpack_scale_min_k4 (k == KIND_Q4_K ? b4->scales : b5->scales, &sc, &mn);
        sc16 = _mm512_cvtepu8_epi16 (_mm256_castsi128_si256 (_mm_cvtsi64_si128 ((long long) sc)));
        /* minimum j covers bsums 2j and 2j + 1 */
        mins16 = _mm256_cvtepu8_epi16 (_mm_unpacklo_epi8 (_mm_cvtsi64_si128 ((long long) mn),
                                                          _mm_cvtsi64_si128 ((long long) mn)));
        dw = lk_half_to_f32 (k == KIND_Q4_K ? b4->d : b5->d);
        dmul = -lk_half_to_f32 (k == KIND_Q4_K ? b4->dmin : b5->dmin);
        {
          const __m256i qh = k == KIND_Q5_K ? _mm256_loadu_si256 ((const __m256i *) b5->qh)
                                            : _mm256_setzero_si256 ();
          _Pragma ("GCC unroll 4") for (int j = 0; j < 4; j++)
            {
              __m512i u = _mm512_and_si512 (with_shift (_mm256_loadu_si256 ((const __m256i *) (qs + 32 * j)), 4),
                                            _mm512_set1_epi8 (0x0F));
              const __m512i s = _mm512_permutexvar_epi16 (_mm512_load_si512 (group2_idx[j]), sc16);
              if (k == KIND_Q5_K)
                u = _mm512_or_si512 (u, _mm512_slli_epi16 (_mm512_and_si512 (shifted_pair (qh, 2 * j, 2 * j + 1),
                                                                             _mm512_set1_epi8 (1)), 4));
              _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
                iacc[c] = scaled_dot (iacc[c], u, _mm512_loadu_si512 (ya[c]->qs + 64 * j), s);
            }
        }
        break;
      }
    case KIND_Q6_K:
      {
        const lk_block_q6_K *b = (const lk_block_q6_K *) blk;
        const __m128i s8 = _mm_loadu_si128 ((const __m128i *) b->scales);
        sc16 = _mm512_cvtepi8_epi16 (_mm256_castsi128_si256 (s8));
        mins16 = _mm256_cvtepi8_epi16 (s8); /* levels are stored + 32 */
        dw = lk_half_to_f32 (b->d);
        dmul = -32.0f * dw;
        _Pragma ("GCC unroll 2") for (int h = 0; h < 2; h++)
          {
            const __m512i ql = _mm512_loadu_si512 (b->ql + 64 * h);
            const __m256i qh = _mm256_loadu_si256 ((const __m256i *) (b->qh + 32 * h));
            const __m512i m4 = _mm512_set1_epi8 (0x0F), m2 = _mm512_set1_epi8 (3);
            const __m512i lo = _mm512_or_si512 (_mm512_and_si512 (ql, m4),
                                                _mm512_slli_epi16 (_mm512_and_si512 (with_shift (qh, 2), m2), 4));
            const __m512i hi = _mm512_or_si512 (_mm512_and_si512 (_mm512_srli_epi16 (ql, 4), m4),
                                                _mm512_slli_epi16 (_mm512_and_si512 (shifted_pair (qh, 4, 6), m2), 4));
            const __m512i s0 = _mm512_permutexvar_epi16 (_mm512_load_si512 (group4_idx[2 * h]), sc16);
            const __m512i s1 = _mm512_permutexvar_epi16 (_mm512_load_si512 (group4_idx[2 * h + 1]), sc16);
            _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
              {
                iacc[c] = scaled_dot (iacc[c], lo, _mm512_loadu_si512 (ya[c]->qs + 128 * h), s0);
                iacc[c] = scaled_dot (iacc[c], hi, _mm512_loadu_si512 (ya[c]->qs + 128 * h + 64), s1);
              }
          }
        break;
      }
    default:
      {
        /* Q2_K and Q3_K: 2-bit levels in the same layout. */
        const uint8_t *qs = k == KIND_Q2_K ? ((const lk_block_q2_K *) blk)->qs
                                           : ((const lk_block_q3_K *) blk)->qs;
        __m256i hm = _mm256_setzero_si256 ();
        if (k == KIND_Q2_K)
          {
            const lk_block_q2_K *b = (const lk_block_q2_K *) blk;
            const __m128i raw = _mm_loadu_si128 ((const __m128i *) b->scales);
            sc16 = _mm512_cvtepu8_epi16 (_mm256_castsi128_si256 (_mm_and_si128 (raw, _mm_set1_epi8 (0x0F))));
            mins16 = _mm256_cvtepu8_epi16 (_mm_and_si128 (_mm_srli_epi16 (raw, 4), _mm_set1_epi8 (0x0F)));
            dw = lk_half_to_f32 (b->d);
            dmul = -lk_half_to_f32 (b->dmin);
          }
        else
          {
            const lk_block_q3_K *b = (const lk_block_q3_K *) blk;
            const __m128i s8 = unpack_scales_q3_K (b->scales);
            sc16 = _mm512_cvtepi8_epi16 (_mm256_castsi128_si256 (s8));
            mins16 = _mm256_cvtepi8_epi16 (s8); /* levels are stored + 4 */
            dw = lk_half_to_f32 (b->d);
            dmul = -4.0f * dw;
            hm = _mm256_loadu_si256 ((const __m256i *) b->hmask);
          }
        _Pragma ("GCC unroll 2") for (int h = 0; h < 2; h++)
          {
            const __m256i q = _mm256_loadu_si256 ((const __m256i *) (qs + 32 * h));
            _Pragma ("GCC unroll 2") for (int half = 0; half < 2; half++)
              {
                const int g = 2 * h + half; /* 64-element group */
                __m512i u = _mm512_and_si512 (shifted_pair (q, 4 * half, 4 * half + 2), _mm512_set1_epi8 (3));
                const __m512i s = _mm512_permutexvar_epi16 (_mm512_load_si512 (group4_idx[g]), sc16);
                if (k == KIND_Q3_K)
                  {
                    const int b0 = 4 * h + 2 * half;
                    const __m512i hb = _mm512_and_si512 (shifted_pair (hm, b0, b0 + 1), _mm512_set1_epi8 (1));
                    u = _mm512_or_si512 (u, _mm512_slli_epi16 (hb, 2));
                  }
                _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
                  iacc[c] = scaled_dot (iacc[c], u, _mm512_loadu_si512 (ya[c]->qs + 64 * g), s);
              }
          }
        break;
      }
    }

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    {
      const lk_block_q8_K *y = ya[c];
      const __m256i bs = _mm256_loadu_si256 ((const __m256i *) y->bsums);
      acc[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (iacc[c]), _mm512_set1_ps (dw * y->d), acc[c]);
      macc[c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (_mm256_madd_epi16 (bs, mins16)),
                                 _mm256_set1_ps (dmul * y->d), macc[c]);
    }
}

INLINE void
rowK (kindK k, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *out,
      size_t ys)
{
  const size_t bs = kblock_bytes (k);
  __m512 acc[MAXC];
  __m256 macc[MAXC];

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    {
      acc[c] = _mm512_setzero_ps ();
      macc[c] = _mm256_setzero_ps ();
    }
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const lk_block_q8_K *ya[MAXC];
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        ya[c] = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
      superblock (k, C, w + (size_t) i * bs, ya, acc, macc);
    }
  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    out[c * ys] = hsum (_mm512_add_ps (acc[c], _mm512_castps256_ps512 (macc[c])));
}

#define DEFINE_QK(lower, KIND) LK_DEFINE_ROWS_GEMM (lower, rowK, KIND)

DEFINE_QK (q2_K, KIND_Q2_K)
DEFINE_QK (q3_K, KIND_Q3_K)
DEFINE_QK (q4_K, KIND_Q4_K)
DEFINE_QK (q5_K, KIND_Q5_K)
DEFINE_QK (q6_K, KIND_Q6_K)

/* Row-interleaved Q4_K and Q6_K: 16 rows per instruction ------------------------ */

/* Byte k of each 32-bit lane, unsigned or sign-extended, as floats. */
INLINE __m512
lane_u8 (__m512i v, int k)
{
  return _mm512_cvtepi32_ps (_mm512_and_si512 (_mm512_srli_epi32 (v, 8 * k), _mm512_set1_epi32 (0xFF)));
}

INLINE __m512
lane_s8 (__m512i v, int k)
{
  return _mm512_cvtepi32_ps (_mm512_srai_epi32 (_mm512_slli_epi32 (v, 24 - 8 * k), 24));
}

INLINE __m512i
bcast4 (const int8_t *p)
{
  return _mm512_set1_epi32 (load_i32 (p));
}

/* 16 rows of Q4_K against C activation rows (lk-pack.c has the tile). Per
 * sub-block of 32: integer sums for all rows, times each row's 6-bit scale;
 * the minimums meet the activation sums. */
INLINE void
q4k_x16_rows (const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  const __m512i m4 = _mm512_set1_epi8 (0x0F);
  __m512 acc[MAXC];

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    acc[c] = _mm512_setzero_ps ();
  for (int64_t b = 0; b < n / LK_QK_K; b++)
    {
      const uint8_t *t = w + (size_t) b * 16 * sizeof (lk_block_q4_K);
      prefetch_ahead (t, 16 * sizeof (lk_block_q4_K));
      const __m512i w0 = _mm512_loadu_si512 (t), w1 = _mm512_loadu_si512 (t + 64);
      const __m512i w2 = _mm512_loadu_si512 (t + 128);
      /* A byte per sub-block in each row's lane: scales and minimums 0..3, 4..7. */
      const __m512i sc_lo = _mm512_and_si512 (w0, _mm512_set1_epi32 (0x3f3f3f3f));
      const __m512i mn_lo = _mm512_and_si512 (w1, _mm512_set1_epi32 (0x3f3f3f3f));
      const __m512i sc_hi = _mm512_or_si512 (
          _mm512_and_si512 (w2, _mm512_set1_epi32 (0x0f0f0f0f)),
          _mm512_slli_epi32 (_mm512_and_si512 (_mm512_srli_epi32 (w0, 6), _mm512_set1_epi32 (0x03030303)), 4));
      const __m512i mn_hi = _mm512_or_si512 (
          _mm512_and_si512 (_mm512_srli_epi32 (w2, 4), _mm512_set1_epi32 (0x0f0f0f0f)),
          _mm512_slli_epi32 (_mm512_and_si512 (_mm512_srli_epi32 (w1, 6), _mm512_set1_epi32 (0x03030303)), 4));
      const __m512 d = _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) (t + 192)));
      const __m512 dmin = _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) (t + 224)));
      const lk_block_q8_K *ya[MAXC];
      __m512 sum[MAXC], msum[MAXC];

      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          ya[c] = (const lk_block_q8_K *) (x + (size_t) c * xs) + b;
          sum[c] = msum[c] = _mm512_setzero_ps ();
        }
      _Pragma ("GCC unroll 4") for (int p = 0; p < 4; p++)
        {
          __m512i s0[MAXC], s1[MAXC];
          const __m512 f0 = lane_u8 (p < 2 ? sc_lo : sc_hi, (2 * p) % 4);
          const __m512 f1 = lane_u8 (p < 2 ? sc_lo : sc_hi, (2 * p + 1) % 4);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            s0[c] = s1[c] = _mm512_setzero_si512 ();
          _Pragma ("GCC unroll 8") for (int v = 0; v < 8; v++)
            {
              const __m512i z = _mm512_loadu_si512 (t + 256 + 64 * (8 * p + v));
              const __m512i lo = _mm512_and_si512 (z, m4), hi = _mm512_and_si512 (_mm512_srli_epi16 (z, 4), m4);
              _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
                {
                  s0[c] = dot_u8s8 (s0[c], lo, bcast4 (ya[c]->qs + 64 * p + 4 * v));
                  s1[c] = dot_u8s8 (s1[c], hi, bcast4 (ya[c]->qs + 64 * p + 32 + 4 * v));
                }
            }
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            sum[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (s1[c]), f1,
                                      _mm512_fmadd_ps (_mm512_cvtepi32_ps (s0[c]), f0, sum[c]));
        }
      _Pragma ("GCC unroll 8") for (int j = 0; j < 8; j++)
        {
          const __m512 m = lane_u8 (j < 4 ? mn_lo : mn_hi, j % 4);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            msum[c] = _mm512_fmadd_ps (m, _mm512_set1_ps ((float) (ya[c]->bsums[2 * j] + ya[c]->bsums[2 * j + 1])),
                                       msum[c]);
        }
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          acc[c] = _mm512_fmadd_ps (_mm512_mul_ps (d, _mm512_set1_ps (ya[c]->d)), sum[c], acc[c]);
          acc[c] = _mm512_fnmadd_ps (_mm512_mul_ps (dmin, _mm512_set1_ps (ya[c]->d)), msum[c], acc[c]);
        }
    }
  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    _mm512_storeu_ps (y + (size_t) c * ys, acc[c]);
}

/* 16 rows of Q6_K against C activation rows. Levels are rebuilt from the
 * low nibbles and two high bits, 0..63; the offset of 32 meets the
 * activation sums, times each 16-element group's signed scale. */
INLINE void
q6k_x16_rows (const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y, size_t ys)
{
  const __m512i m4 = _mm512_set1_epi8 (0x0F), m30 = _mm512_set1_epi8 (0x30);
  __m512 acc[MAXC];

  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    acc[c] = _mm512_setzero_ps ();
  for (int64_t b = 0; b < n / LK_QK_K; b++)
    {
      const uint8_t *t = w + (size_t) b * 16 * sizeof (lk_block_q6_K);
      const __m512 d = _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) (t + 256)));
      prefetch_ahead (t, 16 * sizeof (lk_block_q6_K));
      __m512i sv[4];
      const lk_block_q8_K *ya[MAXC];
      __m512 sum[MAXC], msum[MAXC];

      _Pragma ("GCC unroll 4") for (int q = 0; q < 4; q++)
        sv[q] = _mm512_loadu_si512 (t + 64 * q);
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          ya[c] = (const lk_block_q8_K *) (x + (size_t) c * xs) + b;
          sum[c] = msum[c] = _mm512_setzero_ps ();
        }
      _Pragma ("GCC unroll 2") for (int h = 0; h < 2; h++)
        _Pragma ("GCC unroll 2") for (int s2 = 0; s2 < 2; s2++)
          {
            /* Chunks of 32: jl = 4h + s2 (low nibbles), jh = jl + 2 (high). */
            const int jl = 4 * h + s2, jh = jl + 2;
            __m512i il[MAXC][2], ih[MAXC][2];
            _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
              il[c][0] = il[c][1] = ih[c][0] = ih[c][1] = _mm512_setzero_si512 ();
            _Pragma ("GCC unroll 8") for (int v = 0; v < 8; v++)
              {
                const uint8_t *half_h = t + 288 + 1536 * h; /* qh, then ql s2 = 0, 1 */
                const __m512i qh = _mm512_loadu_si512 (half_h + 64 * v);
                const __m512i z = _mm512_loadu_si512 (half_h + 512 + 512 * s2 + 64 * v);
                /* High bits of chunk sub (= s2, s2 + 2) at bits 2 sub: to bits 4..5. */
                const __m512i hl = _mm512_and_si512 (s2 ? _mm512_slli_epi16 (qh, 2) : _mm512_slli_epi16 (qh, 4), m30);
                const __m512i hh = _mm512_and_si512 (s2 ? _mm512_srli_epi16 (qh, 2) : qh, m30);
                const __m512i ul = _mm512_or_si512 (_mm512_and_si512 (z, m4), hl);
                const __m512i uh = _mm512_or_si512 (_mm512_and_si512 (_mm512_srli_epi16 (z, 4), m4), hh);
                _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
                  {
                    il[c][v / 4] = dot_u8s8 (il[c][v / 4], ul, bcast4 (ya[c]->qs + 32 * jl + 4 * v));
                    ih[c][v / 4] = dot_u8s8 (ih[c][v / 4], uh, bcast4 (ya[c]->qs + 32 * jh + 4 * v));
                  }
              }
            _Pragma ("GCC unroll 2") for (int g = 0; g < 2; g++)
              {
                const int gl = 2 * jl + g, gh = 2 * jh + g; /* 16-element groups */
                const __m512 fl = lane_s8 (sv[gl / 4], gl % 4), fh = lane_s8 (sv[gh / 4], gh % 4);
                _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
                  {
                    sum[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (il[c][g]), fl, sum[c]);
                    sum[c] = _mm512_fmadd_ps (_mm512_cvtepi32_ps (ih[c][g]), fh, sum[c]);
                    msum[c] = _mm512_fmadd_ps (fl, _mm512_set1_ps ((float) ya[c]->bsums[gl]), msum[c]);
                    msum[c] = _mm512_fmadd_ps (fh, _mm512_set1_ps ((float) ya[c]->bsums[gh]), msum[c]);
                  }
              }
          }
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        acc[c] = _mm512_fmadd_ps (_mm512_mul_ps (d, _mm512_set1_ps (ya[c]->d)),
                                  _mm512_fnmadd_ps (_mm512_set1_ps (32.0f), msum[c], sum[c]), acc[c]);
    }
  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
    _mm512_storeu_ps (y + (size_t) c * ys, acc[c]);
}

DEFINE_X16 (q4_K, q4k_x16_rows)
DEFINE_X16 (q6_K, q6k_x16_rows)

/* Element-wise operations -------------------------------------------------------- */

/* e^x for x in float range: 2^n * p(r) with r = x - n ln 2, |r| <= ln 2 / 2,
 * p a degree-6 polynomial (relative error about 2e-7). */
INLINE __m512
vexp (__m512 x)
{
  const __m512 ln2_hi = _mm512_set1_ps (0.693359375f), ln2_lo = _mm512_set1_ps (-2.12194440e-4f);
  __m512 n, r, p;

  x = _mm512_min_ps (_mm512_max_ps (x, _mm512_set1_ps (-87.3f)), _mm512_set1_ps (88.3f));
  n = _mm512_roundscale_ps (_mm512_mul_ps (x, _mm512_set1_ps (1.44269504088896341f)),
                            _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm512_fnmadd_ps (n, ln2_hi, x);
  r = _mm512_fnmadd_ps (n, ln2_lo, r);
  p = _mm512_set1_ps (1.0f / 720);
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 120));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 24));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 6));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (0.5f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
  return _mm512_scalef_ps (p, n);
}

static void
softmax (float *x, int64_t n)
{
  __m512 vmax = _mm512_set1_ps (-INFINITY), vsum = _mm512_setzero_ps ();
  int64_t i;
  float max, inv;

  for (i = 0; i < n; i += 16)
    vmax = _mm512_mask_max_ps (vmax, mask16 (n - i), vmax, _mm512_maskz_loadu_ps (mask16 (n - i), x + i));
  max = _mm512_reduce_max_ps (vmax);
  for (i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      const __m512 e = vexp (_mm512_sub_ps (_mm512_maskz_loadu_ps (m, x + i), _mm512_set1_ps (max)));
      _mm512_mask_storeu_ps (x + i, m, e);
      vsum = _mm512_add_ps (vsum, _mm512_maskz_mov_ps (m, e));
    }
  inv = 1.0f / hsum (vsum);
  for (i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      _mm512_mask_storeu_ps (x + i, m, _mm512_mul_ps (_mm512_maskz_loadu_ps (m, x + i), _mm512_set1_ps (inv)));
    }
}

static void
silu_mul (float *a, const float *b, int64_t n)
{
  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      const __m512 v = _mm512_maskz_loadu_ps (m, a + i);
      const __m512 sig = _mm512_div_ps (v, _mm512_add_ps (_mm512_set1_ps (1.0f),
                                                          vexp (_mm512_sub_ps (_mm512_setzero_ps (), v))));
      _mm512_mask_storeu_ps (a + i, m, _mm512_mul_ps (sig, _mm512_maskz_loadu_ps (m, b + i)));
    }
}

static void
rmsnorm (float *out, const float *x, const float *w, int64_t n, float eps)
{
  __m512 ss = _mm512_setzero_ps ();
  float scale;

  for (int64_t i = 0; i < n; i += 16)
    {
      const __m512 v = _mm512_maskz_loadu_ps (mask16 (n - i), x + i);
      ss = _mm512_fmadd_ps (v, v, ss);
    }
  scale = 1.0f / sqrtf (hsum (ss) / (float) n + eps);
  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      const __m512 v = _mm512_mul_ps (_mm512_maskz_loadu_ps (m, x + i), _mm512_set1_ps (scale));
      _mm512_mask_storeu_ps (out + i, m, _mm512_mul_ps (v, _mm512_maskz_loadu_ps (m, w + i)));
    }
}

static void
add (float *a, const float *b, int64_t n)
{
  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      _mm512_mask_storeu_ps (a + i, m, _mm512_add_ps (_mm512_maskz_loadu_ps (m, a + i),
                                                      _mm512_maskz_loadu_ps (m, b + i)));
    }
}

static float
dot_f32 (int64_t n, const float *a, const float *b)
{
  __m512 acc = _mm512_setzero_ps ();

  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      acc = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (m, a + i), _mm512_maskz_loadu_ps (m, b + i), acc);
    }
  return hsum (acc);
}

static void
axpy_f32 (int64_t n, float alpha, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      _mm512_mask_storeu_ps (y + i, m, _mm512_fmadd_ps (_mm512_set1_ps (alpha), _mm512_maskz_loadu_ps (m, x + i),
                                                        _mm512_maskz_loadu_ps (m, y + i)));
    }
}

static float
dot_f16 (int64_t n, const lk_half *a, const float *b)
{
  __m512 acc = _mm512_setzero_ps ();

  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      acc = _mm512_fmadd_ps (load_f16_mask (a, i, m), _mm512_maskz_loadu_ps (m, b + i), acc);
    }
  return hsum (acc);
}

static void
axpy_f16 (int64_t n, float alpha, const lk_half *x, float *y)
{
  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      _mm512_mask_storeu_ps (y + i, m, _mm512_fmadd_ps (_mm512_set1_ps (alpha), load_f16_mask (x, i, m),
                                                        _mm512_maskz_loadu_ps (m, y + i)));
    }
}

static void
f32_to_f16 (const float *x, lk_half *y, int64_t n)
{
  for (int64_t i = 0; i < n; i += 16)
    {
      const __mmask16 m = mask16 (n - i);
      _mm256_mask_storeu_epi16 (y + i, m, _mm512_cvtps_ph (_mm512_maskz_loadu_ps (m, x + i),
                                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
}

/* Rotary embedding. NeoX pairs (i, i + half) are two plain vectors; normal
 * pairs (2i, 2i + 1) sit side by side, so cos/sin are spread over both
 * lanes of a pair and the pair swapped: out = x c -+ swap(x) s. */
static void
rope (float *x, int64_t n_rot, const float *cos_t, const float *sin_t, bool neox)
{
  const int64_t half = n_rot / 2;
  int64_t i = 0;

  if (neox)
    for (; i < half; i += 16)
      {
        const __mmask16 m = mask16 (half - i);
        const __m512 c = _mm512_maskz_loadu_ps (m, cos_t + i), s = _mm512_maskz_loadu_ps (m, sin_t + i);
        const __m512 x0 = _mm512_maskz_loadu_ps (m, x + i), x1 = _mm512_maskz_loadu_ps (m, x + i + half);
        _mm512_mask_storeu_ps (x + i, m, _mm512_fmsub_ps (x0, c, _mm512_mul_ps (x1, s)));
        _mm512_mask_storeu_ps (x + i + half, m, _mm512_fmadd_ps (x0, s, _mm512_mul_ps (x1, c)));
      }
  else
    {
      const __m512i spread = _mm512_setr_epi32 (0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
      for (; i + 8 <= half; i += 8)
        {
          const __m512 c = _mm512_permutexvar_ps (spread, _mm512_castps256_ps512 (_mm256_loadu_ps (cos_t + i)));
          const __m512 s = _mm512_permutexvar_ps (spread, _mm512_castps256_ps512 (_mm256_loadu_ps (sin_t + i)));
          const __m512 v = _mm512_loadu_ps (x + 2 * i);
          const __m512 sw = _mm512_permute_ps (v, 0xB1);
          _mm512_storeu_ps (x + 2 * i, _mm512_fmaddsub_ps (v, c, _mm512_mul_ps (sw, s)));
        }
      if (i < half)
        lk_rope_scalar (x + 2 * i, 2 * (half - i), cos_t + i, sin_t + i, false);
    }
}

/* y has room for n rounded up to 16: the tail is stored whole, zeros past n
 * (masked stores are slow on some of these CPUs). */
static void
att_f16_row (const lk_half *x, float *y, int n)
{
  int i = 0;

  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps (y + i, _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) (x + i))));
  if (i < n)
    _mm512_storeu_ps (y + i, load_f16_mask (x, i, mask16 (n - i)));
}

/* Q8_0 levels widened to floats, 16 at a time. */
INLINE __m512
q8_half (const lk_block_q8_0 *b, int h)
{
  return _mm512_cvtepi32_ps (_mm512_cvtepi8_epi32 (_mm_loadu_si128 ((const __m128i *) (b->qs + 16 * h))));
}

static void
att_q8_0_row (const lk_block_q8_0 *x, float *y, int n)
{
  for (int b = 0; b < n / 32; b++)
    {
      const __m512 d = _mm512_set1_ps (lk_half_to_f32 (x[b].d));
      for (int h = 0; h < 2; h++)
        _mm512_storeu_ps (y + 32 * b + 16 * h, _mm512_mul_ps (d, q8_half (&x[b], h)));
    }
}

#define LK_ATT_W 16
#include "lk-attn-tile.h"

static uint64_t
sum_bytes (const void *p, size_t n)
{
  const uint8_t *b = p;
  __m512i a0 = _mm512_setzero_si512 (), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  uint64_t sum;

  for (; i + 256 <= n; i += 256)
    {
      a0 = _mm512_add_epi64 (a0, _mm512_loadu_si512 (b + i));
      a1 = _mm512_add_epi64 (a1, _mm512_loadu_si512 (b + i + 64));
      a2 = _mm512_add_epi64 (a2, _mm512_loadu_si512 (b + i + 128));
      a3 = _mm512_add_epi64 (a3, _mm512_loadu_si512 (b + i + 192));
    }
  sum = (uint64_t) _mm512_reduce_add_epi64 (_mm512_add_epi64 (_mm512_add_epi64 (a0, a1),
                                                               _mm512_add_epi64 (a2, a3)));
  if (i < n)
    sum += lk_sum_bytes_scalar (b + i, n - i);
  return sum;
}

#define MMQ(TYPE, act, quant, lower) [TYPE] = { act, quant, vec_dot_##lower, gemm_##lower }

static lk_kernels table = {
  .name = VERSION_NAME,
  .mm = {
    [LK_TYPE_F32] = { LK_ACT_F32, NULL, f32_vec_dot, f32_gemm },
    [LK_TYPE_F16] = { LK_ACT_F32, NULL, f16_vec_dot, f16_gemm },
#ifdef LK_AVX512_VNNI
    [LK_TYPE_BF16] = { LK_ACT_BF16, quantize_act_bf16, bf16bf16_vec_dot, NULL },
#else
    [LK_TYPE_BF16] = { LK_ACT_F32, NULL, bf16_vec_dot, bf16_gemm },
#endif
    MMQ (LK_TYPE_Q4_0, LK_ACT_Q8, quantize_act_q8, q4_0),
    MMQ (LK_TYPE_Q4_1, LK_ACT_Q8, quantize_act_q8, q4_1),
    MMQ (LK_TYPE_Q5_0, LK_ACT_Q8, quantize_act_q8, q5_0),
    MMQ (LK_TYPE_Q5_1, LK_ACT_Q8, quantize_act_q8, q5_1),
    MMQ (LK_TYPE_Q8_0, LK_ACT_Q8, quantize_act_q8, q8_0),
    MMQ (LK_TYPE_Q2_K, LK_ACT_Q8K, quantize_act_q8K, q2_K),
    MMQ (LK_TYPE_Q3_K, LK_ACT_Q8K, quantize_act_q8K, q3_K),
    MMQ (LK_TYPE_Q4_K, LK_ACT_Q8K, quantize_act_q8K, q4_K),
    MMQ (LK_TYPE_Q5_K, LK_ACT_Q8K, quantize_act_q8K, q5_K),
    MMQ (LK_TYPE_Q6_K, LK_ACT_Q8K, quantize_act_q8K, q6_K),
    IQ_MM_AVX2 (quantize_act_q8),
    MMQ (LK_TYPE_Q4_0_P, LK_ACT_Q8, quantize_act_q8, q4_0_p),
    MMQ (LK_TYPE_Q4_1_P, LK_ACT_Q8, quantize_act_q8, q4_1_p),
    MMQ (LK_TYPE_Q5_0_P, LK_ACT_Q8, quantize_act_q8, q5_0_p),
    MMQ (LK_TYPE_Q5_1_P, LK_ACT_Q8, quantize_act_q8, q5_1_p),
    MMQ (LK_TYPE_Q8_0_P, LK_ACT_Q8, quantize_act_q8, q8_0_p),
    [LK_TYPE_Q4_0_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_q4_0_x16 },
#ifdef LK_AVX512_VNNI
    [LK_TYPE_Q8_0_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_q8_0_x16 },
    [LK_TYPE_IQ4_NL_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_iq4_nl_x16 },
    [LK_TYPE_MXFP4_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_mxfp4_x16 },
    [LK_TYPE_IQ4_XS_X16] = { LK_ACT_Q8K, quantize_act_q8K, NULL, gemm_iq4_xs_x16 },
#else
    [LK_TYPE_Q8_0_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_q8_0_x16_rows },
    [LK_TYPE_IQ4_NL_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_iq4_nl_x16_rows },
    [LK_TYPE_MXFP4_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_mxfp4_x16_rows },
    [LK_TYPE_IQ4_XS_X16] = { LK_ACT_Q8K, quantize_act_q8K, NULL, gemm_iq4_xs_x16_rows },
#endif
    [LK_TYPE_Q4_K_X16] = { LK_ACT_Q8K, quantize_act_q8K, NULL, gemm_q4_K_x16 },
    [LK_TYPE_Q6_K_X16] = { LK_ACT_Q8K, quantize_act_q8K, NULL, gemm_q6_K_x16 },
  },
  .rmsnorm = rmsnorm,
  .softmax = softmax,
  .silu_mul = silu_mul,
  .add = add,
  .dot_f32 = dot_f32,
  .axpy_f32 = axpy_f32,
  .dot_f16 = dot_f16,
  .axpy_f16 = axpy_f16,
  .f32_to_f16 = f32_to_f16,
  .rope = rope,
  .attn = attn_tile,
  .sum_bytes = sum_bytes,
#ifdef LK_AVX512_VNNI
  .interleave = 1ull << LK_TYPE_Q4_0 | 1ull << LK_TYPE_Q8_0 | 1ull << LK_TYPE_Q4_K | 1ull << LK_TYPE_Q6_K
                | 1ull << LK_TYPE_IQ4_NL | 1ull << LK_TYPE_MXFP4 | 1ull << LK_TYPE_IQ4_XS,
#else
  .interleave = 1ull << LK_TYPE_Q4_0 | 1ull << LK_TYPE_Q4_K | 1ull << LK_TYPE_Q6_K,
#endif
};

const lk_kernels *
KERNELS_ENTRY (void)
{
  return &table;
}

bool
RUNNABLE_ENTRY (const lk_cpu_features *f)
{
  const bool base = f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq && f->fma && f->f16c;
#ifdef LK_AVX512_VNNI
  return base && f->avx512vnni && f->avx512bf16;
#else
  return base;
#endif
}
