/* SPDX-License-Identifier: MIT */
/* AVX2 kernels (with FMA and F16C): every x86-64 CPU since Haswell and Zen,
 * including the small-core mini PCs common at the edge.
 *
 * Integer sums use vpmaddubsw (unsigned levels times signed activations,
 * pairs summed to 16 bits, never saturating for these level ranges) and
 * vpmaddwd; they are exactly those of the scalar version, only the order of
 * float additions differs. Row-interleaved weights are not this version's
 * layout (no 8-bit dot-product instruction): it multiplies them row by row. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "lk-half.h"
#include "lk-kernels-private.h"
#include "lk-iq-avx2.h"

#define INLINE static inline __attribute__ ((always_inline))
#define MAXC 4 /* activation rows a weight block is reused for */

INLINE float
hsum (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

INLINE int
hsum_i32 (__m256i v)
{
  __m128i s = _mm_add_epi32 (_mm256_castsi256_si128 (v), _mm256_extracti128_si256 (v, 1));
  s = _mm_add_epi32 (s, _mm_shuffle_epi32 (s, _MM_SHUFFLE (1, 0, 3, 2)));
  s = _mm_add_epi32 (s, _mm_shuffle_epi32 (s, _MM_SHUFFLE (2, 3, 0, 1)));
  return _mm_cvtsi128_si32 (s);
}

INLINE float
half (const uint8_t *p)
{
  lk_half h;
  memcpy (&h, p, 2);
  return lk_half_to_f32 (h);
}

/* Float weights -------------------------------------------------------------- */

INLINE __m256
load_f32 (const void *p, int64_t i)
{
  return _mm256_loadu_ps ((const float *) p + i);
}

INLINE __m256
load_f16 (const void *p, int64_t i)
{
  return _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) ((const uint16_t *) p + i)));
}

INLINE __m256
load_bf16 (const void *p, int64_t i)
{
  const __m256i v = _mm256_cvtepu16_epi32 (_mm_loadu_si128 ((const __m128i *) ((const uint16_t *) p + i)));
  return _mm256_castsi256_ps (_mm256_slli_epi32 (v, 16));
}

INLINE float
elem_f32 (const void *p, int64_t i)
{
  return ((const float *) p)[i];
}

INLINE float
elem_f16 (const void *p, int64_t i)
{
  return lk_half_to_f32 (((const lk_half *) p)[i]);
}

INLINE float
elem_bf16 (const void *p, int64_t i)
{
  return lk_bf16_to_f32 (((const lk_bf16 *) p)[i]);
}

/* An R x C tile (R <= 3 weight rows, C <= 4 activation rows): twelve
 * accumulators and four operands fill the sixteen registers. */
#define DEFINE_FLOAT(NAME, LOAD, ELEM)                                                          \
  INLINE void NAME##_tile (const int R, const int C, int64_t n, const uint8_t *w, size_t ws,    \
                           const float *x, size_t xs, float *y, size_t ys)                     \
  {                                                                                             \
    __m256 acc[3][4];                                                                           \
    int64_t i = 0;                                                                              \
    _Pragma ("GCC unroll 3") for (int r = 0; r < R; r++)                                        \
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = _mm256_setzero_ps ();     \
    for (; i + 8 <= n; i += 8)                                                                  \
      {                                                                                         \
        __m256 wv[3];                                                                           \
        _Pragma ("GCC unroll 3") for (int r = 0; r < R; r++) wv[r] = LOAD (w + r * ws, i);      \
        _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)                                    \
          {                                                                                     \
            const __m256 xv = _mm256_loadu_ps (x + c * xs + i);                                 \
            _Pragma ("GCC unroll 3") for (int r = 0; r < R; r++)                                \
              acc[r][c] = _mm256_fmadd_ps (wv[r], xv, acc[r][c]);                               \
          }                                                                                     \
      }                                                                                         \
    _Pragma ("GCC unroll 3") for (int r = 0; r < R; r++)                                        \
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)                                      \
      {                                                                                         \
        float s = hsum (acc[r][c]);                                                             \
        for (int64_t j = i; j < n; j++)                                                         \
          s += ELEM (w + r * ws, j) * x[c * xs + j];                                            \
        y[c * ys + r] = s;                                                                      \
      }                                                                                         \
  }                                                                                             \
                                                                                                \
  static void NAME##_vec_dot (int64_t n, float *s, const void *w, const void *x)                \
  {                                                                                             \
    __m256 a0 = _mm256_setzero_ps (), a1 = a0, a2 = a0, a3 = a0;                               \
    const float *xf = x;                                                                        \
    int64_t i = 0;                                                                              \
    float sum;                                                                                  \
    for (; i + 32 <= n; i += 32)                                                                \
      {                                                                                         \
        a0 = _mm256_fmadd_ps (LOAD (w, i), _mm256_loadu_ps (xf + i), a0);                       \
        a1 = _mm256_fmadd_ps (LOAD (w, i + 8), _mm256_loadu_ps (xf + i + 8), a1);               \
        a2 = _mm256_fmadd_ps (LOAD (w, i + 16), _mm256_loadu_ps (xf + i + 16), a2);             \
        a3 = _mm256_fmadd_ps (LOAD (w, i + 24), _mm256_loadu_ps (xf + i + 24), a3);             \
      }                                                                                         \
    for (; i + 8 <= n; i += 8)                                                                  \
      a0 = _mm256_fmadd_ps (LOAD (w, i), _mm256_loadu_ps (xf + i), a0);                         \
    sum = hsum (_mm256_add_ps (_mm256_add_ps (a0, a1), _mm256_add_ps (a2, a3)));                \
    for (; i < n; i++)                                                                          \
      sum += ELEM (w, i) * xf[i];                                                               \
    *s = sum;                                                                                   \
  }                                                                                             \
                                                                                                \
  static void NAME##_gemm (int64_t n, const void *w, size_t ws, int nr, const void *x,          \
                           size_t xs_bytes, int nc, float *y, size_t ys)                        \
  {                                                                                             \
    const size_t xs = xs_bytes / sizeof (float);                                                \
    if (nc == 1)                                                                                \
      {                                                                                         \
        for (int r = 0; r < nr; r++)                                                            \
          NAME##_vec_dot (n, &y[r], (const uint8_t *) w + (size_t) r * ws, x);                  \
        return;                                                                                 \
      }                                                                                         \
    for (int c = 0; c < nc; c += 4)                                                             \
      for (int r = 0; r < nr; r += 3)                                                           \
        {                                                                                       \
          const int R = nr - r < 3 ? nr - r : 3, C = nc - c < 4 ? nc - c : 4;                   \
          const uint8_t *wr = (const uint8_t *) w + (size_t) r * ws;                            \
          const float *xc = (const float *) x + (size_t) c * xs;                                \
          float *yr = y + (size_t) c * ys + r;                                                  \
          switch (R * 8 + C)                                                                    \
            {                                                                                   \
            case 3 * 8 + 4: NAME##_tile (3, 4, n, wr, ws, xc, xs, yr, ys); break;               \
            case 3 * 8 + 3: NAME##_tile (3, 3, n, wr, ws, xc, xs, yr, ys); break;               \
            case 3 * 8 + 2: NAME##_tile (3, 2, n, wr, ws, xc, xs, yr, ys); break;               \
            case 3 * 8 + 1: NAME##_tile (3, 1, n, wr, ws, xc, xs, yr, ys); break;               \
            case 2 * 8 + 4: NAME##_tile (2, 4, n, wr, ws, xc, xs, yr, ys); break;               \
            case 1 * 8 + 4: NAME##_tile (1, 4, n, wr, ws, xc, xs, yr, ys); break;               \
            default:                                                                            \
              for (int rr = 0; rr < R; rr++)                                                    \
                for (int cc = 0; cc < C; cc++)                                                  \
                  NAME##_vec_dot (n, &yr[(size_t) cc * ys + rr], wr + (size_t) rr * ws,         \
                                  xc + (size_t) cc * xs);                                       \
              break;                                                                            \
            }                                                                                   \
        }                                                                                       \
  }

DEFINE_FLOAT (f32, load_f32, elem_f32)
DEFINE_FLOAT (f16, load_f16, elem_f16)
DEFINE_FLOAT (bf16, load_bf16, elem_bf16)

/* 8-bit activations ------------------------------------------------------------ */

static void
quantize_act_q8 (const float *x, void *dst, int64_t n)
{
  int8_t *q = dst;
  float *d = (float *) ((uint8_t *) dst + n);
  float *s = d + n / 32;
  const __m256 sign = _mm256_set1_ps (-0.0f);

  for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32)
    {
      __m256 v[4], m;
      __m128 m4;
      __m256i i[4], p;
      float amax, db, id;
      for (int j = 0; j < 4; j++)
        v[j] = _mm256_loadu_ps (x + 8 * j);
      m = _mm256_max_ps (_mm256_max_ps (_mm256_andnot_ps (sign, v[0]), _mm256_andnot_ps (sign, v[1])),
                         _mm256_max_ps (_mm256_andnot_ps (sign, v[2]), _mm256_andnot_ps (sign, v[3])));
      m4 = _mm_max_ps (_mm256_castps256_ps128 (m), _mm256_extractf128_ps (m, 1));
      m4 = _mm_max_ps (m4, _mm_movehl_ps (m4, m4));
      m4 = _mm_max_ss (m4, _mm_movehdup_ps (m4));
      amax = _mm_cvtss_f32 (m4);
      db = amax / 127.0f;
      id = db != 0.0f ? 1.0f / db : 0.0f;
      for (int j = 0; j < 4; j++)
        i[j] = _mm256_cvtps_epi32 (_mm256_mul_ps (v[j], _mm256_set1_ps (id)));
      s[b] = db * (float) hsum_i32 (_mm256_add_epi32 (_mm256_add_epi32 (i[0], i[1]),
                                                      _mm256_add_epi32 (i[2], i[3])));
      /* The packs work within 128-bit lanes; a permutation restores order. */
      p = _mm256_packs_epi16 (_mm256_packs_epi32 (i[0], i[1]), _mm256_packs_epi32 (i[2], i[3]));
      p = _mm256_permutevar8x32_epi32 (p, _mm256_setr_epi32 (0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256 ((__m256i *) q, p);
      d[b] = db;
    }
}

/* sum over each 4 bytes of u * a as int32, u unsigned levels. */
INLINE __m256i
dot_u8s8 (__m256i u, __m256i a)
{
  return _mm256_madd_epi16 (_mm256_maddubs_epi16 (u, a), _mm256_set1_epi16 (1));
}

/* The same for signed levels: the sign moves to the activations. */
INLINE __m256i
dot_s8s8 (__m256i w, __m256i a)
{
  return dot_u8s8 (_mm256_sign_epi8 (w, w), _mm256_sign_epi8 (a, w));
}

/* 32-element blocks ------------------------------------------------------------ */

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

INLINE bool
is_q5 (kind32 k)
{
  return k == KIND_Q5_0 || k == KIND_Q5_1;
}

INLINE bool
has_min (kind32 k)
{
  return k == KIND_Q4_1 || k == KIND_Q5_1;
}

/* 16 bytes of GGUF nibbles as 32 levels in element order. */
INLINE __m256i
nibbles16 (const uint8_t *qs)
{
  const __m128i q = _mm_loadu_si128 ((const __m128i *) qs);
  const __m128i lo = _mm_and_si128 (q, _mm_set1_epi8 (0x0F));
  const __m128i hi = _mm_and_si128 (_mm_srli_epi16 (q, 4), _mm_set1_epi8 (0x0F));
  return _mm256_set_m128i (hi, lo);
}

/* Byte j set to 0x10 where bit j of the 32 bits at qh is set. */
INLINE __m256i
fifth_bits (const uint8_t *qh)
{
  uint32_t bits;
  __m256i v;

  memcpy (&bits, qh, 4);
  v = _mm256_shuffle_epi8 (_mm256_set1_epi32 ((int) bits),
                           _mm256_setr_epi8 (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                             2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  v = _mm256_and_si256 (v, _mm256_set1_epi64x ((long long) 0x8040201008040201ull));
  v = _mm256_cmpeq_epi8 (v, _mm256_set1_epi64x ((long long) 0x8040201008040201ull));
  return _mm256_and_si256 (v, _mm256_set1_epi8 (0x10));
}

/* Block j of a group of ng blocks at grp: its levels and scales. */
typedef struct
{
  __m256i q;     /* levels: unsigned, or signed for Q8_0 */
  float d, m;
} block32;

INLINE block32
read_block (kind32 k, bool packed, const uint8_t *grp, int ng, int j)
{
  block32 r;

  r.m = 0.0f;
  if (!packed)
    {
      const uint8_t *b = grp + (size_t) j * block_bytes (k);
      r.d = half (b);
      switch (k)
        {
        case KIND_Q4_0: r.q = nibbles16 (b + 2); break;
        case KIND_Q4_1: r.m = half (b + 2); r.q = nibbles16 (b + 4); break;
        case KIND_Q5_0: r.q = _mm256_or_si256 (nibbles16 (b + 6), fifth_bits (b + 2)); break;
        case KIND_Q5_1:
          r.m = half (b + 2);
          r.q = _mm256_or_si256 (nibbles16 (b + 8), fifth_bits (b + 4));
          break;
        default: r.q = _mm256_loadu_si256 ((const __m256i *) (b + 2)); break;
        }
      return r;
    }
  {
    /* lk-pack.c: levels, [fifth bits,] scales, [minimums]. */
    const size_t levels = k == KIND_Q8_0 ? 32 * (size_t) ng : 16 * (size_t) ng;
    const uint8_t *pd = grp + levels + (is_q5 (k) ? 4 * (size_t) ng : 0);
    r.d = half (pd + 2 * j);
    if (has_min (k))
      r.m = half (pd + 2 * (size_t) ng + 2 * j);
    if (k == KIND_Q8_0)
      {
        r.q = _mm256_loadu_si256 ((const __m256i *) (grp + 32 * j));
        return r;
      }
    {
      const int pair = j & ~1;
      if (pair + 1 < ng)
        {
          /* A pair: block pair in the low nibbles, pair + 1 in the high. */
          const __m256i v = _mm256_loadu_si256 ((const __m256i *) (grp + 16 * pair));
          r.q = _mm256_and_si256 (j & 1 ? _mm256_srli_epi16 (v, 4) : v, _mm256_set1_epi8 (0x0F));
        }
      else
        r.q = nibbles16 (grp + 16 * pair);
    }
    if (is_q5 (k))
      r.q = _mm256_or_si256 (r.q, fifth_bits (grp + levels + 4 * j));
    return r;
  }
}

/* One weight row against C activation rows. */
INLINE void
row32 (kind32 k, const bool packed, const int C, int64_t n, const uint8_t *w, const uint8_t *x,
       size_t xs, float *y, size_t ys)
{
  const int64_t nb = n / 32;
  const float offset = k == KIND_Q4_0 ? 8.0f : k == KIND_Q5_0 ? 16.0f : 0.0f;
  __m256 acc[MAXC];
  float off[MAXC];

  for (int c = 0; c < C; c++)
    {
      acc[c] = _mm256_setzero_ps ();
      off[c] = 0.0f;
    }
  for (int64_t g = 0; g < nb; g += 16)
    {
      const int ng = nb - g < 16 ? (int) (nb - g) : 16;
      const uint8_t *grp = w + (size_t) g * block_bytes (k);
      for (int j = 0; j < ng; j++)
        {
          const block32 blk = read_block (k, packed, grp, ng, j);
          _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
            {
              const uint8_t *xr = x + (size_t) c * xs;
              const __m256i a = _mm256_loadu_si256 ((const __m256i *) (lk_act_q8_qs (xr) + 32 * (g + j)));
              const __m256i p = k == KIND_Q8_0 ? dot_s8s8 (blk.q, a) : dot_u8s8 (blk.q, a);
              const float sa = lk_act_q8_s (xr, n)[g + j];
              acc[c] = _mm256_fmadd_ps (_mm256_cvtepi32_ps (p),
                                        _mm256_set1_ps (blk.d * lk_act_q8_d (xr, n)[g + j]), acc[c]);
              off[c] += (has_min (k) ? blk.m : -offset * blk.d) * sa;
            }
        }
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = hsum (acc[c]) + off[c];
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
        const uint8_t *xc = (const uint8_t *) x + (size_t) c * xs;                               \
        for (int r = 0; r < nr; r++)                                                             \
          {                                                                                      \
            const uint8_t *wr = (const uint8_t *) w + (size_t) r * ws;                           \
            float *yr = y + (size_t) c * ys + r;                                                 \
            switch (nc - c < MAXC ? nc - c : MAXC)                                               \
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

/* Interleaved rows are not this version's layout: copied out row by row. */
#define DEFINE_X16_ROWS(lower, TYPE) LK_DEFINE_GEMM_X16_BY_ROWS (gemm_##lower##_x16, TYPE, vec_dot_##lower)

DEFINE_X16_ROWS (q4_0, LK_TYPE_Q4_0_X16)
DEFINE_X16_ROWS (q8_0, LK_TYPE_Q8_0_X16)

/* K-quants against Q8_K -------------------------------------------------------- */


/* The unsigned levels of elements 32 j .. 32 j + 31 of a superblock. */
INLINE __m256i
kchunk (kindK k, const uint8_t *blk, int j)
{
  const __m256i m2 = _mm256_set1_epi8 (3), m4 = _mm256_set1_epi8 (0x0F);

  switch (k)
    {
    case KIND_Q2_K:
      {
        const lk_block_q2_K *b = (const lk_block_q2_K *) blk;
        const __m256i q = _mm256_loadu_si256 ((const __m256i *) (b->qs + 32 * (j / 4)));
        return _mm256_and_si256 (_mm256_srli_epi16 (q, 2 * (j % 4)), m2);
      }
    case KIND_Q3_K:
      {
        const lk_block_q3_K *b = (const lk_block_q3_K *) blk;
        const __m256i q = _mm256_loadu_si256 ((const __m256i *) (b->qs + 32 * (j / 4)));
        const __m256i h = _mm256_loadu_si256 ((const __m256i *) b->hmask);
        const __m256i lo = _mm256_and_si256 (_mm256_srli_epi16 (q, 2 * (j % 4)), m2);
        const __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (h, j), _mm256_set1_epi8 (1));
        return _mm256_or_si256 (lo, _mm256_slli_epi16 (hi, 2));
      }
    case KIND_Q4_K:
    case KIND_Q5_K:
      {
        const uint8_t *qs = k == KIND_Q5_K ? ((const lk_block_q5_K *) blk)->qs
                                           : ((const lk_block_q4_K *) blk)->qs;
        const __m256i q = _mm256_loadu_si256 ((const __m256i *) (qs + 32 * (j / 2)));
        __m256i v = _mm256_and_si256 (j & 1 ? _mm256_srli_epi16 (q, 4) : q, m4);
        if (k == KIND_Q5_K)
          {
            const __m256i h = _mm256_loadu_si256 ((const __m256i *) ((const lk_block_q5_K *) blk)->qh);
            const __m256i bit = _mm256_and_si256 (_mm256_srli_epi16 (h, j), _mm256_set1_epi8 (1));
            v = _mm256_or_si256 (v, _mm256_slli_epi16 (bit, 4));
          }
        return v;
      }
    default:
      {
        const lk_block_q6_K *b = (const lk_block_q6_K *) blk;
        const int h = j / 4, sub = j % 4;
        const __m256i ql = _mm256_loadu_si256 ((const __m256i *) (b->ql + 64 * h + 32 * (sub & 1)));
        const __m256i qh = _mm256_loadu_si256 ((const __m256i *) (b->qh + 32 * h));
        const __m256i lo = _mm256_and_si256 (sub >= 2 ? _mm256_srli_epi16 (ql, 4) : ql, m4);
        const __m256i hi = _mm256_and_si256 (_mm256_srli_epi16 (qh, 2 * sub), m2);
        return _mm256_or_si256 (lo, _mm256_slli_epi16 (hi, 4));
      }
    }
}

/* One superblock of one weight row against C activation rows: adds to
 * acc[c] (float lanes) the row's share. */
INLINE void
superblock (kindK k, const int C, const uint8_t *blk, const lk_block_q8_K *const *ya, __m256 *acc)
{
  kscales s;
  __m256i isum[MAXC];

  read_kscales (k, blk, &s);
  for (int c = 0; c < C; c++)
    isum[c] = _mm256_setzero_si256 ();
  for (int j = 0; j < 8; j++)
    {
      const __m256i u = kchunk (k, blk, j);
      const __m256i sv = _mm256_set_m128i (_mm_set1_epi16 (s.sc[2 * j + 1]), _mm_set1_epi16 (s.sc[2 * j]));
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        {
          const __m256i a = _mm256_loadu_si256 ((const __m256i *) (ya[c]->qs + 32 * j));
          isum[c] = _mm256_add_epi32 (isum[c], _mm256_madd_epi16 (_mm256_maddubs_epi16 (u, a), sv));
        }
    }
  {
    const __m256i scv = _mm256_loadu_si256 ((const __m256i *) s.sc);
    const __m256i mnv = _mm256_loadu_si256 ((const __m256i *) s.mn);
    _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
      {
        const __m256i bs = _mm256_loadu_si256 ((const __m256i *) ya[c]->bsums);
        __m256i tot = isum[c];
        __m256 f;
        if (s.offset != 0) /* sum sc (u - offset) a = sum sc u a - offset sum sc bsum */
          tot = _mm256_sub_epi32 (tot, _mm256_mullo_epi32 (_mm256_madd_epi16 (bs, scv),
                                                           _mm256_set1_epi32 (s.offset)));
        f = _mm256_mul_ps (_mm256_cvtepi32_ps (tot), _mm256_set1_ps (s.d * ya[c]->d));
        if (k == KIND_Q2_K || k == KIND_Q4_K || k == KIND_Q5_K)
          f = _mm256_fnmadd_ps (_mm256_cvtepi32_ps (_mm256_madd_epi16 (bs, mnv)),
                                _mm256_set1_ps (s.dmin * ya[c]->d), f);
        acc[c] = _mm256_add_ps (acc[c], f);
      }
  }
}

INLINE void
rowK (kindK k, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y,
      size_t ys)
{
  __m256 acc[MAXC];

  for (int c = 0; c < C; c++)
    acc[c] = _mm256_setzero_ps ();
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const lk_block_q8_K *ya[MAXC];
      for (int c = 0; c < C; c++)
        ya[c] = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
      superblock (k, C, w + (size_t) i * kblock_bytes (k), ya, acc);
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = hsum (acc[c]);
}

#define DEFINE_QK(lower, KIND) LK_DEFINE_ROWS_GEMM (lower, rowK, KIND)

DEFINE_QK (q2_K, KIND_Q2_K)
DEFINE_QK (q3_K, KIND_Q3_K)
DEFINE_QK (q4_K, KIND_Q4_K)
DEFINE_QK (q5_K, KIND_Q5_K)
DEFINE_QK (q6_K, KIND_Q6_K)
DEFINE_X16_ROWS (q4_K, LK_TYPE_Q4_K_X16)
DEFINE_X16_ROWS (q6_K, LK_TYPE_Q6_K_X16)
DEFINE_X16_ROWS (iq4_nl, LK_TYPE_IQ4_NL_X16)
DEFINE_X16_ROWS (mxfp4, LK_TYPE_MXFP4_X16)
DEFINE_X16_ROWS (iq4_xs, LK_TYPE_IQ4_XS_X16)

/* Element-wise operations ------------------------------------------------------ */

/* e^x as 2^n p(r), r = x - n ln 2, p of degree 6 (relative error about 2e-7). */
INLINE __m256
vexp (__m256 x)
{
  __m256 n, r, p;
  __m256i e;

  x = _mm256_min_ps (_mm256_max_ps (x, _mm256_set1_ps (-87.3f)), _mm256_set1_ps (88.3f));
  n = _mm256_round_ps (_mm256_mul_ps (x, _mm256_set1_ps (1.44269504088896341f)),
                       _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm256_fnmadd_ps (n, _mm256_set1_ps (0.693359375f), x);
  r = _mm256_fnmadd_ps (n, _mm256_set1_ps (-2.12194440e-4f), r);
  p = _mm256_set1_ps (1.0f / 720);
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 120));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 24));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 6));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (0.5f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  /* 2^n in two steps, so n = 128 (x near 88.3) does not overflow the exponent. */
  e = _mm256_cvtps_epi32 (n);
  {
    const __m256i e1 = _mm256_srai_epi32 (e, 1), e2 = _mm256_sub_epi32 (e, e1);
    const __m256 s1 = _mm256_castsi256_ps (_mm256_slli_epi32 (_mm256_add_epi32 (e1, _mm256_set1_epi32 (127)), 23));
    const __m256 s2 = _mm256_castsi256_ps (_mm256_slli_epi32 (_mm256_add_epi32 (e2, _mm256_set1_epi32 (127)), 23));
    return _mm256_mul_ps (_mm256_mul_ps (p, s1), s2);
  }
}

static void
softmax (float *x, int64_t n)
{
  __m256 vmax = _mm256_set1_ps (-INFINITY), vsum = _mm256_setzero_ps ();
  int64_t i = 0;
  float max, sum, inv;

  for (; i + 8 <= n; i += 8)
    vmax = _mm256_max_ps (vmax, _mm256_loadu_ps (x + i));
  {
    __m128 m = _mm_max_ps (_mm256_castps256_ps128 (vmax), _mm256_extractf128_ps (vmax, 1));
    m = _mm_max_ps (m, _mm_movehl_ps (m, m));
    m = _mm_max_ss (m, _mm_movehdup_ps (m));
    max = _mm_cvtss_f32 (m);
  }
  for (; i < n; i++)
    max = x[i] > max ? x[i] : max;
  for (i = 0; i + 8 <= n; i += 8)
    {
      const __m256 e = vexp (_mm256_sub_ps (_mm256_loadu_ps (x + i), _mm256_set1_ps (max)));
      _mm256_storeu_ps (x + i, e);
      vsum = _mm256_add_ps (vsum, e);
    }
  sum = hsum (vsum);
  for (; i < n; i++)
    {
      x[i] = expf (x[i] - max);
      sum += x[i];
    }
  inv = 1.0f / sum;
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps (x + i, _mm256_mul_ps (_mm256_loadu_ps (x + i), _mm256_set1_ps (inv)));
  for (; i < n; i++)
    x[i] *= inv;
}

static void
silu_mul (float *a, const float *b, int64_t n)
{
  int64_t i = 0;

  for (; i + 8 <= n; i += 8)
    {
      const __m256 v = _mm256_loadu_ps (a + i);
      const __m256 sig = _mm256_div_ps (v, _mm256_add_ps (_mm256_set1_ps (1.0f),
                                                           vexp (_mm256_sub_ps (_mm256_setzero_ps (), v))));
      _mm256_storeu_ps (a + i, _mm256_mul_ps (sig, _mm256_loadu_ps (b + i)));
    }
  if (i < n)
    lk_silu_mul_scalar (a + i, b + i, n - i);
}

static void
rmsnorm (float *out, const float *x, const float *w, int64_t n, float eps)
{
  __m256 ss = _mm256_setzero_ps ();
  float sum, scale;
  int64_t i = 0;

  for (; i + 8 <= n; i += 8)
    {
      const __m256 v = _mm256_loadu_ps (x + i);
      ss = _mm256_fmadd_ps (v, v, ss);
    }
  sum = hsum (ss);
  for (; i < n; i++)
    sum += x[i] * x[i];
  scale = 1.0f / sqrtf (sum / (float) n + eps);
  for (i = 0; i + 8 <= n; i += 8)
    _mm256_storeu_ps (out + i, _mm256_mul_ps (_mm256_mul_ps (_mm256_loadu_ps (x + i), _mm256_set1_ps (scale)),
                                              _mm256_loadu_ps (w + i)));
  for (; i < n; i++)
    out[i] = x[i] * scale * w[i];
}

static void
add (float *a, const float *b, int64_t n)
{
  int64_t i = 0;

  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (a + i, _mm256_add_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i)));
  for (; i < n; i++)
    a[i] += b[i];
}

static float
dot_f32 (int64_t n, const float *a, const float *b)
{
  float s;

  f32_vec_dot (n, &s, a, b);
  return s;
}

static float
dot_f16 (int64_t n, const lk_half *a, const float *b)
{
  float s;

  f16_vec_dot (n, &s, a, b);
  return s;
}

static void
axpy_f32 (int64_t n, float alpha, const float *x, float *y)
{
  int64_t i = 0;

  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (y + i, _mm256_fmadd_ps (_mm256_set1_ps (alpha), _mm256_loadu_ps (x + i),
                                              _mm256_loadu_ps (y + i)));
  for (; i < n; i++)
    y[i] += alpha * x[i];
}

static void
axpy_f16 (int64_t n, float alpha, const lk_half *x, float *y)
{
  int64_t i = 0;

  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (y + i, _mm256_fmadd_ps (_mm256_set1_ps (alpha), load_f16 (x, i),
                                              _mm256_loadu_ps (y + i)));
  for (; i < n; i++)
    y[i] += alpha * lk_half_to_f32 (x[i]);
}

static void
f32_to_f16 (const float *x, lk_half *y, int64_t n)
{
  int64_t i = 0;

  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128 ((__m128i *) (y + i),
                      _mm256_cvtps_ph (_mm256_loadu_ps (x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; i++)
    y[i] = lk_f32_to_half (x[i]);
}

/* Rotary embedding: NeoX halves as plain vectors; normal pairs side by
 * side with cos/sin spread over both lanes: out = x c -+ swap(x) s. */
static void
rope (float *x, int64_t n_rot, const float *cos_t, const float *sin_t, bool neox)
{
  const int64_t half = n_rot / 2;
  int64_t i = 0;

  if (neox)
    {
      for (; i + 8 <= half; i += 8)
        {
          const __m256 c = _mm256_loadu_ps (cos_t + i), s = _mm256_loadu_ps (sin_t + i);
          const __m256 x0 = _mm256_loadu_ps (x + i), x1 = _mm256_loadu_ps (x + i + half);
          _mm256_storeu_ps (x + i, _mm256_fmsub_ps (x0, c, _mm256_mul_ps (x1, s)));
          _mm256_storeu_ps (x + i + half, _mm256_fmadd_ps (x0, s, _mm256_mul_ps (x1, c)));
        }
      for (; i < half; i++)
        {
          const float x0 = x[i], x1 = x[i + half];
          x[i] = x0 * cos_t[i] - x1 * sin_t[i];
          x[i + half] = x0 * sin_t[i] + x1 * cos_t[i];
        }
      return;
    }
  {
    const __m256i spread = _mm256_setr_epi32 (0, 0, 1, 1, 2, 2, 3, 3);
    for (; i + 4 <= half; i += 4)
      {
        const __m256 c = _mm256_permutevar8x32_ps (_mm256_castps128_ps256 (_mm_loadu_ps (cos_t + i)), spread);
        const __m256 s = _mm256_permutevar8x32_ps (_mm256_castps128_ps256 (_mm_loadu_ps (sin_t + i)), spread);
        const __m256 v = _mm256_loadu_ps (x + 2 * i);
        const __m256 sw = _mm256_permute_ps (v, 0xB1);
        _mm256_storeu_ps (x + 2 * i, _mm256_fmaddsub_ps (v, c, _mm256_mul_ps (sw, s)));
      }
    if (i < half)
      lk_rope_scalar (x + 2 * i, 2 * (half - i), cos_t + i, sin_t + i, false);
  }
}

static void
att_f16_row (const lk_half *x, float *y, int n)
{
  int i = 0;

  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps (y + i, _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) (x + i))));
  for (; i < n; i++)
    y[i] = lk_half_to_f32 (x[i]);
}

static void
att_q8_0_row (const lk_block_q8_0 *x, float *y, int n)
{
  for (int b = 0; b < n / 32; b++)
    {
      const __m256 d = _mm256_set1_ps (lk_half_to_f32 (x[b].d));
      for (int e = 0; e < 4; e++)
        {
          const __m128i q = _mm_loadl_epi64 ((const __m128i *) (x[b].qs + 8 * e));
          _mm256_storeu_ps (y + 32 * b + 8 * e, _mm256_mul_ps (d, _mm256_cvtepi32_ps (_mm256_cvtepi8_epi32 (q))));
        }
    }
}

#define LK_ATT_W 8
#include "lk-attn-tile.h"

static uint64_t
sum_bytes (const void *p, size_t n)
{
  const uint8_t *b = p;
  __m256i a0 = _mm256_setzero_si256 (), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;

  for (; i + 128 <= n; i += 128)
    {
      a0 = _mm256_add_epi64 (a0, _mm256_loadu_si256 ((const __m256i *) (b + i)));
      a1 = _mm256_add_epi64 (a1, _mm256_loadu_si256 ((const __m256i *) (b + i + 32)));
      a2 = _mm256_add_epi64 (a2, _mm256_loadu_si256 ((const __m256i *) (b + i + 64)));
      a3 = _mm256_add_epi64 (a3, _mm256_loadu_si256 ((const __m256i *) (b + i + 96)));
    }
  {
    uint64_t lanes[4], sum;
    _mm256_storeu_si256 ((__m256i *) lanes,
                         _mm256_add_epi64 (_mm256_add_epi64 (a0, a1), _mm256_add_epi64 (a2, a3)));
    sum = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    if (i < n)
      sum += lk_sum_bytes_scalar (b + i, n - i);
    return sum;
  }
}

#define MMQ(TYPE, act, quant, lower) [TYPE] = { act, quant, vec_dot_##lower, gemm_##lower }

static const lk_kernels table = {
  .name = "avx2",
  .mm = {
    [LK_TYPE_F32] = { LK_ACT_F32, NULL, f32_vec_dot, f32_gemm },
    [LK_TYPE_F16] = { LK_ACT_F32, NULL, f16_vec_dot, f16_gemm },
    [LK_TYPE_BF16] = { LK_ACT_F32, NULL, bf16_vec_dot, bf16_gemm },
    MMQ (LK_TYPE_Q4_0, LK_ACT_Q8, quantize_act_q8, q4_0),
    MMQ (LK_TYPE_Q4_1, LK_ACT_Q8, quantize_act_q8, q4_1),
    MMQ (LK_TYPE_Q5_0, LK_ACT_Q8, quantize_act_q8, q5_0),
    MMQ (LK_TYPE_Q5_1, LK_ACT_Q8, quantize_act_q8, q5_1),
    MMQ (LK_TYPE_Q8_0, LK_ACT_Q8, quantize_act_q8, q8_0),
    MMQ (LK_TYPE_Q2_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q2_K),
    MMQ (LK_TYPE_Q3_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q3_K),
    MMQ (LK_TYPE_Q4_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q4_K),
    MMQ (LK_TYPE_Q5_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q5_K),
    MMQ (LK_TYPE_Q6_K, LK_ACT_Q8K, lk_quantize_row_q8_K_ref, q6_K),
    IQ_MM_AVX2 (quantize_act_q8),
    MMQ (LK_TYPE_Q4_0_P, LK_ACT_Q8, quantize_act_q8, q4_0_p),
    MMQ (LK_TYPE_Q4_1_P, LK_ACT_Q8, quantize_act_q8, q4_1_p),
    MMQ (LK_TYPE_Q5_0_P, LK_ACT_Q8, quantize_act_q8, q5_0_p),
    MMQ (LK_TYPE_Q5_1_P, LK_ACT_Q8, quantize_act_q8, q5_1_p),
    MMQ (LK_TYPE_Q8_0_P, LK_ACT_Q8, quantize_act_q8, q8_0_p),
    [LK_TYPE_Q4_0_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_q4_0_x16 },
    [LK_TYPE_Q8_0_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_q8_0_x16 },
    [LK_TYPE_Q4_K_X16] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, NULL, gemm_q4_K_x16 },
    [LK_TYPE_Q6_K_X16] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, NULL, gemm_q6_K_x16 },
    [LK_TYPE_IQ4_NL_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_iq4_nl_x16 },
    [LK_TYPE_MXFP4_X16] = { LK_ACT_Q8, quantize_act_q8, NULL, gemm_mxfp4_x16 },
    [LK_TYPE_IQ4_XS_X16] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, NULL, gemm_iq4_xs_x16 },
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
  .interleave = 0,
};

const lk_kernels *
lk_kernels_avx2 (void)
{
  return &table;
}

bool
lk_kernels_avx2_runnable (const lk_cpu_features *f)
{
  return f->avx2 && f->fma && f->f16c;
}
