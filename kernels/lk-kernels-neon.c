/* SPDX-License-Identifier: MIT */
/* NEON kernels for AArch64 (every ARMv8-A core), compiled twice: plain, and
 * with LK_NEON_DOTPROD for ARMv8.2-A cores with the SDOT instruction
 * (Cortex-A55/A76 and later: Raspberry Pi 5, Jetson Orin, RK3588), which also
 * multiplies row-interleaved weights.
 *
 * Levels are multiplied as signed bytes (every level range fits), so the
 * integer sums are exactly those of the scalar version; only the order of
 * float additions differs. */
#include <arm_neon.h>
#include <math.h>
#include <string.h>

#include "lk-half.h"
#include "lk-kernels-private.h"
#include "lk-iq-neon.h"

#ifdef LK_NEON_DOTPROD
#define VERSION_NAME "neon-dotprod"
#define KERNELS_ENTRY lk_kernels_neon_dotprod
#define RUNNABLE_ENTRY lk_kernels_neon_dotprod_runnable
#else
#define VERSION_NAME "neon"
#define KERNELS_ENTRY lk_kernels_neon
#define RUNNABLE_ENTRY lk_kernels_neon_runnable
#endif

#define INLINE static inline __attribute__ ((always_inline))
#define MAXC 4 /* activation rows a weight block is reused for */

INLINE float
half (const uint8_t *p)
{
  lk_half h;
  memcpy (&h, p, 2);
  return lk_half_to_f32 (h);
}

/* acc + the sums of each 4 products of w and a (signed bytes). */
INLINE int32x4_t
dot16 (int32x4_t acc, int8x16_t w, int8x16_t a)
{
#ifdef LK_NEON_DOTPROD
  return vdotq_s32 (acc, w, a);
#else
  const int16x8_t lo = vmull_s8 (vget_low_s8 (w), vget_low_s8 (a));
  const int16x8_t hi = vmull_high_s8 (w, a);
  return vpadalq_s16 (vpadalq_s16 (acc, lo), hi);
#endif
}

/* Float weights -------------------------------------------------------------- */

INLINE float32x4_t
load_f32 (const void *p, int64_t i)
{
  return vld1q_f32 ((const float *) p + i);
}

INLINE float32x4_t
load_f16 (const void *p, int64_t i)
{
  return vcvt_f32_f16 (vreinterpret_f16_u16 (vld1_u16 ((const uint16_t *) p + i)));
}

INLINE float32x4_t
load_bf16 (const void *p, int64_t i)
{
  return vreinterpretq_f32_u32 (vshll_n_u16 (vld1_u16 ((const uint16_t *) p + i), 16));
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

/* An R x C tile (R, C <= 4): sixteen accumulators of the 32 registers. */
#define DEFINE_FLOAT(NAME, LOAD, ELEM)                                                          \
  INLINE void NAME##_tile (const int R, const int C, int64_t n, const uint8_t *w, size_t ws,    \
                           const float *x, size_t xs, float *y, size_t ys)                     \
  {                                                                                             \
    float32x4_t acc[4][4];                                                                      \
    int64_t i = 0;                                                                              \
    _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++)                                        \
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++) acc[r][c] = vdupq_n_f32 (0.0f);       \
    for (; i + 4 <= n; i += 4)                                                                  \
      {                                                                                         \
        float32x4_t wv[4];                                                                      \
        _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++) wv[r] = LOAD (w + r * ws, i);      \
        _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)                                    \
          {                                                                                     \
            const float32x4_t xv = vld1q_f32 (x + c * xs + i);                                  \
            _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++)                                \
              acc[r][c] = vfmaq_f32 (acc[r][c], wv[r], xv);                                     \
          }                                                                                     \
      }                                                                                         \
    _Pragma ("GCC unroll 4") for (int r = 0; r < R; r++)                                        \
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)                                      \
      {                                                                                         \
        float s = vaddvq_f32 (acc[r][c]);                                                       \
        for (int64_t j = i; j < n; j++)                                                         \
          s += ELEM (w + r * ws, j) * x[c * xs + j];                                            \
        y[c * ys + r] = s;                                                                      \
      }                                                                                         \
  }                                                                                             \
                                                                                                \
  static void NAME##_vec_dot (int64_t n, float *s, const void *w, const void *x)                \
  {                                                                                             \
    float32x4_t a0 = vdupq_n_f32 (0.0f), a1 = a0, a2 = a0, a3 = a0;                             \
    const float *xf = x;                                                                        \
    int64_t i = 0;                                                                              \
    float sum;                                                                                  \
    for (; i + 16 <= n; i += 16)                                                                \
      {                                                                                         \
        a0 = vfmaq_f32 (a0, LOAD (w, i), vld1q_f32 (xf + i));                                   \
        a1 = vfmaq_f32 (a1, LOAD (w, i + 4), vld1q_f32 (xf + i + 4));                           \
        a2 = vfmaq_f32 (a2, LOAD (w, i + 8), vld1q_f32 (xf + i + 8));                           \
        a3 = vfmaq_f32 (a3, LOAD (w, i + 12), vld1q_f32 (xf + i + 12));                         \
      }                                                                                         \
    for (; i + 4 <= n; i += 4)                                                                  \
      a0 = vfmaq_f32 (a0, LOAD (w, i), vld1q_f32 (xf + i));                                     \
    sum = vaddvq_f32 (vaddq_f32 (vaddq_f32 (a0, a1), vaddq_f32 (a2, a3)));                      \
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
      for (int r = 0; r < nr; r += 4)                                                           \
        {                                                                                       \
          const int R = nr - r < 4 ? nr - r : 4, C = nc - c < 4 ? nc - c : 4;                   \
          const uint8_t *wr = (const uint8_t *) w + (size_t) r * ws;                            \
          const float *xc = (const float *) x + (size_t) c * xs;                                \
          float *yr = y + (size_t) c * ys + r;                                                  \
          switch (R * 8 + C)                                                                    \
            {                                                                                   \
            case 4 * 8 + 4: NAME##_tile (4, 4, n, wr, ws, xc, xs, yr, ys); break;               \
            case 4 * 8 + 3: NAME##_tile (4, 3, n, wr, ws, xc, xs, yr, ys); break;               \
            case 4 * 8 + 2: NAME##_tile (4, 2, n, wr, ws, xc, xs, yr, ys); break;               \
            case 4 * 8 + 1: NAME##_tile (4, 1, n, wr, ws, xc, xs, yr, ys); break;               \
            case 3 * 8 + 4: NAME##_tile (3, 4, n, wr, ws, xc, xs, yr, ys); break;               \
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

  for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32)
    {
      float32x4_t v[8], m = vdupq_n_f32 (0.0f);
      int32x4_t sum = vdupq_n_s32 (0);
      float db, id;
      for (int j = 0; j < 8; j++)
        {
          v[j] = vld1q_f32 (x + 4 * j);
          m = vmaxq_f32 (m, vabsq_f32 (v[j]));
        }
      db = vmaxvq_f32 (m) / 127.0f;
      id = db != 0.0f ? 1.0f / db : 0.0f;
      for (int j = 0; j < 8; j += 2)
        {
          /* Round to nearest, ties to even, as the scalar version. */
          const int32x4_t i0 = vcvtnq_s32_f32 (vmulq_n_f32 (v[j], id));
          const int32x4_t i1 = vcvtnq_s32_f32 (vmulq_n_f32 (v[j + 1], id));
          const int16x8_t h = vcombine_s16 (vqmovn_s32 (i0), vqmovn_s32 (i1));
          vst1_s8 (q + 4 * j, vqmovn_s16 (h));
          sum = vaddq_s32 (sum, vaddq_s32 (i0, i1));
        }
      d[b] = db;
      s[b] = db * (float) vaddvq_s32 (sum);
    }
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

/* Elements 0..15 and 16..31 of a block. */
typedef struct
{
  int8x16_t lo, hi;
  float d, m;
} block32;

INLINE void
nibbles16 (const uint8_t *qs, block32 *r)
{
  const uint8x16_t q = vld1q_u8 (qs);
  r->lo = vreinterpretq_s8_u8 (vandq_u8 (q, vdupq_n_u8 (0x0F)));
  r->hi = vreinterpretq_s8_u8 (vshrq_n_u8 (q, 4));
}

/* Adds 16 where bit j of the 32 bits at qh is set, to element j. */
INLINE void
fifth_bits (const uint8_t *qh, block32 *r)
{
  static const uint8_t bit[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
  static const uint8_t idx_lo[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };
  static const uint8_t idx_hi[16] = { 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 };
  uint32_t bits;
  uint8x16_t all;

  memcpy (&bits, qh, 4);
  all = vreinterpretq_u8_u32 (vdupq_n_u32 (bits));
  {
    const uint8x16_t b = vld1q_u8 (bit);
    const uint8x16_t lo = vtstq_u8 (vqtbl1q_u8 (all, vld1q_u8 (idx_lo)), b);
    const uint8x16_t hi = vtstq_u8 (vqtbl1q_u8 (all, vld1q_u8 (idx_hi)), b);
    r->lo = vorrq_s8 (r->lo, vreinterpretq_s8_u8 (vandq_u8 (lo, vdupq_n_u8 (0x10))));
    r->hi = vorrq_s8 (r->hi, vreinterpretq_s8_u8 (vandq_u8 (hi, vdupq_n_u8 (0x10))));
  }
}

/* Block j of a group of ng blocks at grp (GGUF blocks, or a packed group as
 * lk-pack.c lays it out). */
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
        case KIND_Q4_0: nibbles16 (b + 2, &r); break;
        case KIND_Q4_1: r.m = half (b + 2); nibbles16 (b + 4, &r); break;
        case KIND_Q5_0: nibbles16 (b + 6, &r); fifth_bits (b + 2, &r); break;
        case KIND_Q5_1: r.m = half (b + 2); nibbles16 (b + 8, &r); fifth_bits (b + 4, &r); break;
        default:
          r.lo = vld1q_s8 ((const int8_t *) (b + 2));
          r.hi = vld1q_s8 ((const int8_t *) (b + 18));
          break;
        }
      return r;
    }
  {
    const size_t levels = k == KIND_Q8_0 ? 32 * (size_t) ng : 16 * (size_t) ng;
    const uint8_t *pd = grp + levels + (is_q5 (k) ? 4 * (size_t) ng : 0);
    r.d = half (pd + 2 * j);
    if (has_min (k))
      r.m = half (pd + 2 * (size_t) ng + 2 * j);
    if (k == KIND_Q8_0)
      {
        r.lo = vld1q_s8 ((const int8_t *) (grp + 32 * j));
        r.hi = vld1q_s8 ((const int8_t *) (grp + 32 * j + 16));
        return r;
      }
    {
      const int pair = j & ~1;
      if (pair + 1 < ng)
        {
          /* A pair: block pair in the low nibbles, pair + 1 in the high. */
          const uint8x16_t v0 = vld1q_u8 (grp + 16 * pair), v1 = vld1q_u8 (grp + 16 * pair + 16);
          if (j & 1)
            {
              r.lo = vreinterpretq_s8_u8 (vshrq_n_u8 (v0, 4));
              r.hi = vreinterpretq_s8_u8 (vshrq_n_u8 (v1, 4));
            }
          else
            {
              r.lo = vreinterpretq_s8_u8 (vandq_u8 (v0, vdupq_n_u8 (0x0F)));
              r.hi = vreinterpretq_s8_u8 (vandq_u8 (v1, vdupq_n_u8 (0x0F)));
            }
        }
      else
        nibbles16 (grp + 16 * pair, &r);
    }
    if (is_q5 (k))
      fifth_bits (grp + levels + 4 * j, &r);
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
  float32x4_t acc[MAXC];
  float off[MAXC];

  for (int c = 0; c < C; c++)
    {
      acc[c] = vdupq_n_f32 (0.0f);
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
              const int8_t *qa = lk_act_q8_qs (xr) + 32 * (g + j);
              int32x4_t p = dot16 (vdupq_n_s32 (0), blk.lo, vld1q_s8 (qa));
              p = dot16 (p, blk.hi, vld1q_s8 (qa + 16));
              acc[c] = vfmaq_n_f32 (acc[c], vcvtq_f32_s32 (p), blk.d * lk_act_q8_d (xr, n)[g + j]);
              off[c] += (has_min (k) ? blk.m : -offset * blk.d) * lk_act_q8_s (xr, n)[g + j];
            }
        }
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = vaddvq_f32 (acc[c]) + off[c];
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

/* Row-interleaved Q4_0, Q8_0, IQ4_NL, MXFP4 and IQ4_XS ------------------------ */

typedef enum
{
  X16_Q4_0,
  X16_Q8_0,
  X16_IQ4_NL, /* nibbles index llama.cpp's 16 values */
  X16_MXFP4,  /* E2M1's values, an exponent byte per block */
} x16_kind;

#ifdef LK_NEON_DOTPROD
/* A tile's 64-byte vector j is four registers, rows 4i..4i+3 each, holding
 * 4 consecutive elements per row: SDOT by element multiplies one register
 * by 4 activations at once. */
#define X16_STEP(LANE_REG, LANE)                                                                 \
  _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)                                           \
    _Pragma ("GCC unroll 4") for (int i = 0; i < 4; i++)                                         \
      s[c][i] = vdotq_laneq_s32 (s[c][i], v[i], a[c][LANE_REG], LANE);

/* The signed levels of vector pair j of a 4-bit tile's 32 elements: low
 * nibbles (elements 4j..) to v, high ones (4j + 16..) to hv, through the
 * type's values where it has them. */
INLINE void
x16_nibbles (const x16_kind k, const uint8_t *levels, int j, int8x16_t v[4], int8x16_t hv[4])
{
  const int8x16_t table = vld1q_s8 (k == X16_MXFP4 ? lk_kvalues_mxfp4 : lk_kvalues_iq4nl);

  for (int i = 0; i < 4; i++)
    {
      const uint8x16_t z = vld1q_u8 (levels + 64 * j + 16 * i);
      const uint8x16_t lo = vandq_u8 (z, vdupq_n_u8 (0x0F)), hi = vshrq_n_u8 (z, 4);
      if (k == X16_Q4_0)
        v[i] = vreinterpretq_s8_u8 (lo), hv[i] = vreinterpretq_s8_u8 (hi);
      else
        v[i] = vqtbl1q_s8 (table, lo), hv[i] = vqtbl1q_s8 (table, hi);
    }
}

/* The integer sums of one 32-element block (levels at `levels`) of 16 rows
 * against C activation blocks a[c]. */
INLINE void
x16_block (const x16_kind k, const int C, const uint8_t *levels, int8x16_t a[MAXC][2],
           int32x4_t s[MAXC][4])
{
  if (k == X16_Q8_0)
    {
      _Pragma ("GCC unroll 8") for (int j = 0; j < 8; j++)
        {
          int8x16_t v[4];
          for (int i = 0; i < 4; i++)
            v[i] = vreinterpretq_s8_u8 (veorq_u8 (vld1q_u8 (levels + 64 * j + 16 * i), vdupq_n_u8 (0x80)));
          switch (j)
            {
            case 0: X16_STEP (0, 0) break;
            case 1: X16_STEP (0, 1) break;
            case 2: X16_STEP (0, 2) break;
            case 3: X16_STEP (0, 3) break;
            case 4: X16_STEP (1, 0) break;
            case 5: X16_STEP (1, 1) break;
            case 6: X16_STEP (1, 2) break;
            default: X16_STEP (1, 3) break;
            }
        }
      return;
    }
  _Pragma ("GCC unroll 4") for (int j = 0; j < 4; j++)
    {
      int8x16_t v[4], hv[4];
      x16_nibbles (k, levels, j, v, hv);
      switch (j)
        {
        case 0: X16_STEP (0, 0) break;
        case 1: X16_STEP (0, 1) break;
        case 2: X16_STEP (0, 2) break;
        default: X16_STEP (0, 3) break;
        }
      for (int i = 0; i < 4; i++)
        v[i] = hv[i];
      switch (j)
        {
        case 0: X16_STEP (1, 0) break;
        case 1: X16_STEP (1, 1) break;
        case 2: X16_STEP (1, 2) break;
        default: X16_STEP (1, 3) break;
        }
    }
}

/* The 16 rows' scales of a tile: halves, or MXFP4's exponent bytes. */
INLINE void
x16_scales (const x16_kind k, const uint8_t *tile, float32x4_t dw[4])
{
  if (k == X16_MXFP4)
    {
      float d[16];
      for (int r = 0; r < 16; r++)
        d[r] = lk_e8m0_to_f32_half (tile[r]);
      for (int i = 0; i < 4; i++)
        dw[i] = vld1q_f32 (d + 4 * i);
      return;
    }
  {
    const uint16x8_t h0 = vld1q_u16 ((const uint16_t *) tile), h1 = vld1q_u16 ((const uint16_t *) tile + 8);
    dw[0] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_low_u16 (h0)));
    dw[1] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_high_u16 (h0)));
    dw[2] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_low_u16 (h1)));
    dw[3] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_high_u16 (h1)));
  }
}

/* 16 rows against C activation rows of 32-element blocks. Q8_0 levels are
 * stored plus 128 and flipped back to signed; Q4_0 levels are 0..15, their
 * offset of 8 taken off through the activation sums; IQ4_NL and MXFP4 look
 * their signed values up. */
INLINE void
x16_rows (const x16_kind k, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs,
          float *y, size_t ys)
{
  const size_t tile_bytes = k == X16_Q8_0     ? 16 * sizeof (lk_block_q8_0)
                            : k == X16_MXFP4  ? 16 * sizeof (lk_block_mxfp4)
                            : k == X16_IQ4_NL ? 16 * sizeof (lk_block_iq4_nl)
                                              : 16 * sizeof (lk_block_q4_0);
  const size_t scale_bytes = k == X16_MXFP4 ? 16 : 32;
  float32x4_t acc[MAXC][4];

  for (int c = 0; c < C; c++)
    for (int i = 0; i < 4; i++)
      acc[c][i] = vdupq_n_f32 (0.0f);
  for (int64_t b = 0; b < n / 32; b++)
    {
      const uint8_t *tile = w + (size_t) b * tile_bytes;
      int32x4_t s[MAXC][4];
      int8x16_t a[MAXC][2];
      float32x4_t dw[4];
      for (int c = 0; c < C; c++)
        {
          const int8_t *qa = lk_act_q8_qs (x + (size_t) c * xs) + 32 * b;
          a[c][0] = vld1q_s8 (qa);
          a[c][1] = vld1q_s8 (qa + 16);
          for (int i = 0; i < 4; i++)
            s[c][i] = vdupq_n_s32 (0);
        }
      x16_block (k, C, tile + scale_bytes, a, s);
      x16_scales (k, tile, dw);
      for (int c = 0; c < C; c++)
        {
          const uint8_t *xr = x + (size_t) c * xs;
          const float da = lk_act_q8_d (xr, n)[b];
          const float off = k == X16_Q4_0 ? -8.0f * lk_act_q8_s (xr, n)[b] : 0.0f;
          for (int i = 0; i < 4; i++)
            acc[c][i] = vfmaq_f32 (acc[c][i], dw[i], vfmaq_n_f32 (vdupq_n_f32 (off), vcvtq_f32_s32 (s[c][i]), da));
        }
    }
  for (int c = 0; c < C; c++)
    for (int i = 0; i < 4; i++)
      vst1q_f32 (y + (size_t) c * ys + 4 * i, acc[c][i]);
}

/* IQ4_XS rows, 16 at a time, against Q8_K activations: each 32-element
 * sub-block an IQ4_NL tile, its 6-bit scale (less 32) from the 16 rows'
 * scale bits four rows a register; per block by d_w d_a. */
INLINE void
iq4xs_x16_rows (const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y,
                size_t ys)
{
  float32x4_t acc[MAXC][4];

  for (int c = 0; c < C; c++)
    for (int i = 0; i < 4; i++)
      acc[c][i] = vdupq_n_f32 (0.0f);
  for (int64_t b = 0; b < n / LK_QK_K; b++)
    {
      const uint8_t *tile = w + (size_t) b * 16 * sizeof (lk_block_iq4_xs);
      const uint16x8_t h0 = vld1q_u16 ((const uint16_t *) (tile + 32));
      const uint16x8_t h1 = vld1q_u16 ((const uint16_t *) (tile + 48));
      const uint32x4_t sh[4] = { vmovl_u16 (vget_low_u16 (h0)), vmovl_u16 (vget_high_u16 (h0)),
                                 vmovl_u16 (vget_low_u16 (h1)), vmovl_u16 (vget_high_u16 (h1)) };
      float32x4_t blk[MAXC][4], dw[4];
      uint32x4_t sl[4];
      for (int i = 0; i < 4; i++)
        sl[i] = vld1q_u32 ((const uint32_t *) (tile + 64 + 16 * i));
      for (int c = 0; c < C; c++)
        for (int i = 0; i < 4; i++)
          blk[c][i] = vdupq_n_f32 (0.0f);
      for (int j = 0; j < 8; j++)
        {
          int32x4_t s[MAXC][4];
          int8x16_t a[MAXC][2];
          float32x4_t ls[4];
          for (int i = 0; i < 4; i++)
            {
              const uint32x4_t lo = vandq_u32 (vshlq_u32 (sl[i], vdupq_n_s32 (-4 * j)), vdupq_n_u32 (0xF));
              const uint32x4_t hi = vandq_u32 (vshlq_u32 (sh[i], vdupq_n_s32 (-2 * j)), vdupq_n_u32 (3));
              ls[i] = vcvtq_f32_s32 (vsubq_s32 (vreinterpretq_s32_u32 (vorrq_u32 (lo, vshlq_n_u32 (hi, 4))),
                                                vdupq_n_s32 (32)));
            }
          for (int c = 0; c < C; c++)
            {
              const int8_t *qa = ((const lk_block_q8_K *) (x + (size_t) c * xs) + b)->qs + 32 * j;
              a[c][0] = vld1q_s8 (qa);
              a[c][1] = vld1q_s8 (qa + 16);
              for (int i = 0; i < 4; i++)
                s[c][i] = vdupq_n_s32 (0);
            }
          x16_block (X16_IQ4_NL, C, tile + 128 + 256 * j, a, s);
          for (int c = 0; c < C; c++)
            for (int i = 0; i < 4; i++)
              blk[c][i] = vfmaq_f32 (blk[c][i], vcvtq_f32_s32 (s[c][i]), ls[i]);
        }
      {
        const uint16x8_t d0 = vld1q_u16 ((const uint16_t *) tile), d1 = vld1q_u16 ((const uint16_t *) tile + 8);
        dw[0] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_low_u16 (d0)));
        dw[1] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_high_u16 (d0)));
        dw[2] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_low_u16 (d1)));
        dw[3] = vcvt_f32_f16 (vreinterpret_f16_u16 (vget_high_u16 (d1)));
      }
      for (int c = 0; c < C; c++)
        {
          const float da = ((const lk_block_q8_K *) (x + (size_t) c * xs) + b)->d;
          for (int i = 0; i < 4; i++)
            acc[c][i] = vfmaq_f32 (acc[c][i], vmulq_n_f32 (dw[i], da), blk[c][i]);
        }
    }
  for (int c = 0; c < C; c++)
    for (int i = 0; i < 4; i++)
      vst1q_f32 (y + (size_t) c * ys + 4 * i, acc[c][i]);
}
#undef X16_STEP

/* A gemm over 16-row groups from a kernel of one group against C <= MAXC
 * activation rows. */
#define DEFINE_X16_GEMM(lower, FN)                                                              \
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

#define DEFINE_X16(lower, KIND, TYPE, VEC_DOT)                                                  \
  INLINE void lower##_x16_rows (const int C, int64_t n, const uint8_t *w, const uint8_t *x,     \
                                size_t xs, float *y, size_t ys)                                 \
  {                                                                                             \
    x16_rows (KIND, C, n, w, x, xs, y, ys);                                                     \
  }                                                                                             \
  DEFINE_X16_GEMM (lower, lower##_x16_rows)
DEFINE_X16_GEMM (iq4_xs, iq4xs_x16_rows)
#else
/* Without SDOT, interleaved rows are not this version's layout. */
#define DEFINE_X16(lower, KIND, TYPE, VEC_DOT) LK_DEFINE_GEMM_X16_BY_ROWS (gemm_##lower##_x16, TYPE, VEC_DOT)
#endif

DEFINE_X16 (q4_0, X16_Q4_0, LK_TYPE_Q4_0_X16, vec_dot_q4_0)
DEFINE_X16 (q8_0, X16_Q8_0, LK_TYPE_Q8_0_X16, vec_dot_q8_0)

/* K-quants against Q8_K -------------------------------------------------------- */


/* The levels of 16 elements 16 g .. 16 g + 15 of a superblock (0 <= g < 16). */
INLINE int8x16_t
kgroup (kindK k, const uint8_t *blk, int g)
{
  const int j = g / 2, half16 = 16 * (g & 1); /* the 32-element chunk, its half */
  const uint8x16_t m2 = vdupq_n_u8 (3), m4 = vdupq_n_u8 (0x0F), one = vdupq_n_u8 (1);
  uint8x16_t v;

  switch (k)
    {
    case KIND_Q2_K:
      {
        const lk_block_q2_K *b = (const lk_block_q2_K *) blk;
        const uint8x16_t q = vld1q_u8 (b->qs + 32 * (j / 4) + half16);
        v = vandq_u8 (vshlq_u8 (q, vdupq_n_s8 ((int8_t) (-2 * (j % 4)))), m2);
        break;
      }
    case KIND_Q3_K:
      {
        const lk_block_q3_K *b = (const lk_block_q3_K *) blk;
        const uint8x16_t q = vld1q_u8 (b->qs + 32 * (j / 4) + half16);
        const uint8x16_t h = vld1q_u8 (b->hmask + half16);
        const uint8x16_t lo = vandq_u8 (vshlq_u8 (q, vdupq_n_s8 ((int8_t) (-2 * (j % 4)))), m2);
        const uint8x16_t hi = vandq_u8 (vshlq_u8 (h, vdupq_n_s8 ((int8_t) -j)), one);
        v = vorrq_u8 (lo, vshlq_n_u8 (hi, 2));
        break;
      }
    case KIND_Q4_K:
    case KIND_Q5_K:
      {
        const uint8_t *qs = k == KIND_Q5_K ? ((const lk_block_q5_K *) blk)->qs
                                           : ((const lk_block_q4_K *) blk)->qs;
        const uint8x16_t q = vld1q_u8 (qs + 32 * (j / 2) + half16);
        v = j & 1 ? vshrq_n_u8 (q, 4) : vandq_u8 (q, m4);
        if (k == KIND_Q5_K)
          {
            const uint8x16_t h = vld1q_u8 (((const lk_block_q5_K *) blk)->qh + half16);
            v = vorrq_u8 (v, vshlq_n_u8 (vandq_u8 (vshlq_u8 (h, vdupq_n_s8 ((int8_t) -j)), one), 4));
          }
        break;
      }
    default:
      {
        const lk_block_q6_K *b = (const lk_block_q6_K *) blk;
        const int h = j / 4, sub = j % 4;
        const uint8x16_t ql = vld1q_u8 (b->ql + 64 * h + 32 * (sub & 1) + half16);
        const uint8x16_t qh = vld1q_u8 (b->qh + 32 * h + half16);
        const uint8x16_t lo = sub >= 2 ? vshrq_n_u8 (ql, 4) : vandq_u8 (ql, m4);
        const uint8x16_t hi = vandq_u8 (vshlq_u8 (qh, vdupq_n_s8 ((int8_t) (-2 * sub))), m2);
        v = vorrq_u8 (lo, vshlq_n_u8 (hi, 4));
        break;
      }
    }
  return vreinterpretq_s8_u8 (v);
}

/* One superblock of one row against C activation rows, added to acc[c]. */
INLINE void
superblock (kindK k, const int C, const uint8_t *blk, const lk_block_q8_K *const *ya, float32x4_t *acc)
{
  kscales s;
  int32x4_t isum[MAXC];

  read_kscales (k, blk, &s);
  for (int c = 0; c < C; c++)
    isum[c] = vdupq_n_s32 (0);
  for (int g = 0; g < 16; g++)
    {
      const int8x16_t u = kgroup (k, blk, g);
      _Pragma ("GCC unroll 4") for (int c = 0; c < C; c++)
        isum[c] = vmlaq_n_s32 (isum[c], dot16 (vdupq_n_s32 (0), u, vld1q_s8 (ya[c]->qs + 16 * g)), s.sc[g]);
    }
  {
    const int16x8_t sc0 = vld1q_s16 (s.sc), sc1 = vld1q_s16 (s.sc + 8);
    const int16x8_t mn0 = vld1q_s16 (s.mn), mn1 = vld1q_s16 (s.mn + 8);
    for (int c = 0; c < C; c++)
      {
        const int16x8_t b0 = vld1q_s16 (ya[c]->bsums), b1 = vld1q_s16 (ya[c]->bsums + 8);
        int32x4_t tot = isum[c];
        float32x4_t f;
        if (s.offset != 0) /* sum sc (u - offset) a = sum sc u a - offset sum sc bsum */
          {
            int32x4_t sb = vmull_s16 (vget_low_s16 (b0), vget_low_s16 (sc0));
            sb = vmlal_high_s16 (sb, b0, sc0);
            sb = vmlal_s16 (sb, vget_low_s16 (b1), vget_low_s16 (sc1));
            sb = vmlal_high_s16 (sb, b1, sc1);
            tot = vmlsq_n_s32 (tot, sb, s.offset);
          }
        f = vmulq_n_f32 (vcvtq_f32_s32 (tot), s.d * ya[c]->d);
        if (k == KIND_Q2_K || k == KIND_Q4_K || k == KIND_Q5_K)
          {
            int32x4_t mb = vmull_s16 (vget_low_s16 (b0), vget_low_s16 (mn0));
            mb = vmlal_high_s16 (mb, b0, mn0);
            mb = vmlal_s16 (mb, vget_low_s16 (b1), vget_low_s16 (mn1));
            mb = vmlal_high_s16 (mb, b1, mn1);
            f = vmlsq_n_f32 (f, vcvtq_f32_s32 (mb), s.dmin * ya[c]->d);
          }
        acc[c] = vaddq_f32 (acc[c], f);
      }
  }
}

INLINE void
rowK (kindK k, const int C, int64_t n, const uint8_t *w, const uint8_t *x, size_t xs, float *y,
      size_t ys)
{
  float32x4_t acc[MAXC];

  for (int c = 0; c < C; c++)
    acc[c] = vdupq_n_f32 (0.0f);
  for (int64_t i = 0; i < n / LK_QK_K; i++)
    {
      const lk_block_q8_K *ya[MAXC];
      for (int c = 0; c < C; c++)
        ya[c] = (const lk_block_q8_K *) (x + (size_t) c * xs) + i;
      superblock (k, C, w + (size_t) i * kblock_bytes (k), ya, acc);
    }
  for (int c = 0; c < C; c++)
    y[c * ys] = vaddvq_f32 (acc[c]);
}

#define DEFINE_QK(lower, KIND) LK_DEFINE_ROWS_GEMM (lower, rowK, KIND)

DEFINE_QK (q2_K, KIND_Q2_K)
DEFINE_QK (q3_K, KIND_Q3_K)
DEFINE_QK (q4_K, KIND_Q4_K)
DEFINE_QK (q5_K, KIND_Q5_K)
DEFINE_QK (q6_K, KIND_Q6_K)

/* Interleaved K-quant and non-linear 4-bit rows are not this version's
 * layout: copied out row by row. */
#define DEFINE_KX16_ROWS(lower, TYPE) LK_DEFINE_GEMM_X16_BY_ROWS (gemm_##lower##_x16, TYPE, vec_dot_##lower)

DEFINE_KX16_ROWS (q4_K, LK_TYPE_Q4_K_X16)
DEFINE_KX16_ROWS (q6_K, LK_TYPE_Q6_K_X16)
DEFINE_X16 (iq4_nl, X16_IQ4_NL, LK_TYPE_IQ4_NL_X16, vec_dot_iq4_nl)
DEFINE_X16 (mxfp4, X16_MXFP4, LK_TYPE_MXFP4_X16, vec_dot_mxfp4)
#ifndef LK_NEON_DOTPROD
DEFINE_KX16_ROWS (iq4_xs, LK_TYPE_IQ4_XS_X16)
#endif

/* Element-wise operations ------------------------------------------------------ */

/* e^x as 2^n p(r), r = x - n ln 2, p of degree 6 (relative error about 2e-7). */
INLINE float32x4_t
vexp (float32x4_t x)
{
  float32x4_t n, r, p;
  int32x4_t e, e1, e2;

  x = vminq_f32 (vmaxq_f32 (x, vdupq_n_f32 (-87.3f)), vdupq_n_f32 (88.3f));
  n = vrndnq_f32 (vmulq_n_f32 (x, 1.44269504088896341f));
  r = vfmsq_n_f32 (x, n, 0.693359375f);
  r = vfmsq_n_f32 (r, n, -2.12194440e-4f);
  p = vdupq_n_f32 (1.0f / 720);
  p = vfmaq_f32 (vdupq_n_f32 (1.0f / 120), p, r);
  p = vfmaq_f32 (vdupq_n_f32 (1.0f / 24), p, r);
  p = vfmaq_f32 (vdupq_n_f32 (1.0f / 6), p, r);
  p = vfmaq_f32 (vdupq_n_f32 (0.5f), p, r);
  p = vfmaq_f32 (vdupq_n_f32 (1.0f), p, r);
  p = vfmaq_f32 (vdupq_n_f32 (1.0f), p, r);
  /* 2^n in two steps, so n = 128 (x near 88.3) does not overflow. */
  e = vcvtq_s32_f32 (n);
  e1 = vshrq_n_s32 (e, 1);
  e2 = vsubq_s32 (e, e1);
  p = vmulq_f32 (p, vreinterpretq_f32_s32 (vshlq_n_s32 (vaddq_s32 (e1, vdupq_n_s32 (127)), 23)));
  return vmulq_f32 (p, vreinterpretq_f32_s32 (vshlq_n_s32 (vaddq_s32 (e2, vdupq_n_s32 (127)), 23)));
}

static void
softmax (float *x, int64_t n)
{
  float32x4_t vmax = vdupq_n_f32 (-INFINITY), vsum = vdupq_n_f32 (0.0f);
  int64_t i = 0;
  float max, sum, inv;

  for (; i + 4 <= n; i += 4)
    vmax = vmaxq_f32 (vmax, vld1q_f32 (x + i));
  max = vmaxvq_f32 (vmax);
  for (; i < n; i++)
    max = x[i] > max ? x[i] : max;
  for (i = 0; i + 4 <= n; i += 4)
    {
      const float32x4_t e = vexp (vsubq_f32 (vld1q_f32 (x + i), vdupq_n_f32 (max)));
      vst1q_f32 (x + i, e);
      vsum = vaddq_f32 (vsum, e);
    }
  sum = vaddvq_f32 (vsum);
  for (; i < n; i++)
    {
      x[i] = expf (x[i] - max);
      sum += x[i];
    }
  inv = 1.0f / sum;
  for (i = 0; i + 4 <= n; i += 4)
    vst1q_f32 (x + i, vmulq_n_f32 (vld1q_f32 (x + i), inv));
  for (; i < n; i++)
    x[i] *= inv;
}

static void
silu_mul (float *a, const float *b, int64_t n)
{
  int64_t i = 0;

  for (; i + 4 <= n; i += 4)
    {
      const float32x4_t v = vld1q_f32 (a + i);
      const float32x4_t sig = vdivq_f32 (v, vaddq_f32 (vdupq_n_f32 (1.0f), vexp (vnegq_f32 (v))));
      vst1q_f32 (a + i, vmulq_f32 (sig, vld1q_f32 (b + i)));
    }
  if (i < n)
    lk_silu_mul_scalar (a + i, b + i, n - i);
}

static void
rmsnorm (float *out, const float *x, const float *w, int64_t n, float eps)
{
  float32x4_t ss = vdupq_n_f32 (0.0f);
  float sum, scale;
  int64_t i = 0;

  for (; i + 4 <= n; i += 4)
    {
      const float32x4_t v = vld1q_f32 (x + i);
      ss = vfmaq_f32 (ss, v, v);
    }
  sum = vaddvq_f32 (ss);
  for (; i < n; i++)
    sum += x[i] * x[i];
  scale = 1.0f / sqrtf (sum / (float) n + eps);
  for (i = 0; i + 4 <= n; i += 4)
    vst1q_f32 (out + i, vmulq_f32 (vmulq_n_f32 (vld1q_f32 (x + i), scale), vld1q_f32 (w + i)));
  for (; i < n; i++)
    out[i] = x[i] * scale * w[i];
}

static void
add (float *a, const float *b, int64_t n)
{
  int64_t i = 0;

  for (; i + 4 <= n; i += 4)
    vst1q_f32 (a + i, vaddq_f32 (vld1q_f32 (a + i), vld1q_f32 (b + i)));
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

  for (; i + 4 <= n; i += 4)
    vst1q_f32 (y + i, vfmaq_n_f32 (vld1q_f32 (y + i), vld1q_f32 (x + i), alpha));
  for (; i < n; i++)
    y[i] += alpha * x[i];
}

static void
axpy_f16 (int64_t n, float alpha, const lk_half *x, float *y)
{
  int64_t i = 0;

  for (; i + 4 <= n; i += 4)
    vst1q_f32 (y + i, vfmaq_n_f32 (vld1q_f32 (y + i), load_f16 (x, i), alpha));
  for (; i < n; i++)
    y[i] += alpha * lk_half_to_f32 (x[i]);
}

static void
f32_to_f16 (const float *x, lk_half *y, int64_t n)
{
  int64_t i = 0;

  for (; i + 4 <= n; i += 4)
    vst1_u16 (y + i, vreinterpret_u16_f16 (vcvt_f16_f32 (vld1q_f32 (x + i))));
  for (; i < n; i++)
    y[i] = lk_f32_to_half (x[i]);
}

/* Rotary embedding: NeoX halves as plain vectors; normal pairs split into
 * their two lanes by the de-interleaving load. */
static void
rope (float *x, int64_t n_rot, const float *cos_t, const float *sin_t, bool neox)
{
  const int64_t half = n_rot / 2;
  int64_t i = 0;

  for (; i + 4 <= half; i += 4)
    {
      const float32x4_t c = vld1q_f32 (cos_t + i), s = vld1q_f32 (sin_t + i);
      if (neox)
        {
          const float32x4_t x0 = vld1q_f32 (x + i), x1 = vld1q_f32 (x + i + half);
          vst1q_f32 (x + i, vfmsq_f32 (vmulq_f32 (x0, c), x1, s));
          vst1q_f32 (x + i + half, vfmaq_f32 (vmulq_f32 (x0, s), x1, c));
        }
      else
        {
          float32x4x2_t v = vld2q_f32 (x + 2 * i);
          const float32x4_t x0 = v.val[0], x1 = v.val[1];
          v.val[0] = vfmsq_f32 (vmulq_f32 (x0, c), x1, s);
          v.val[1] = vfmaq_f32 (vmulq_f32 (x0, s), x1, c);
          vst2q_f32 (x + 2 * i, v);
        }
    }
  for (; i < half; i++)
    {
      const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
      const float x0 = x[i0], x1 = x[i1];
      x[i0] = x0 * cos_t[i] - x1 * sin_t[i];
      x[i1] = x0 * sin_t[i] + x1 * cos_t[i];
    }
}

static void
att_f16_row (const lk_half *x, float *y, int n)
{
  int i = 0;

  for (; i + 4 <= n; i += 4)
    vst1q_f32 (y + i, vcvt_f32_f16 (vreinterpret_f16_u16 (vld1_u16 ((const uint16_t *) x + i))));
  for (; i < n; i++)
    y[i] = lk_half_to_f32 (x[i]);
}

static void
att_q8_0_row (const lk_block_q8_0 *x, float *y, int n)
{
  for (int b = 0; b < n / 32; b++)
    {
      const float d = lk_half_to_f32 (x[b].d);
      for (int h = 0; h < 2; h++)
        {
          const int8x16_t v = vld1q_s8 (x[b].qs + 16 * h);
          const int16x8_t lo = vmovl_s8 (vget_low_s8 (v)), hi = vmovl_high_s8 (v);
          float *o = y + 32 * b + 16 * h;
          vst1q_f32 (o, vmulq_n_f32 (vcvtq_f32_s32 (vmovl_s16 (vget_low_s16 (lo))), d));
          vst1q_f32 (o + 4, vmulq_n_f32 (vcvtq_f32_s32 (vmovl_high_s16 (lo)), d));
          vst1q_f32 (o + 8, vmulq_n_f32 (vcvtq_f32_s32 (vmovl_s16 (vget_low_s16 (hi))), d));
          vst1q_f32 (o + 12, vmulq_n_f32 (vcvtq_f32_s32 (vmovl_high_s16 (hi)), d));
        }
    }
}

#define LK_ATT_W 4
#include "lk-attn-tile.h"

static uint64_t
sum_bytes (const void *p, size_t n)
{
  const uint8_t *b = p;
  uint64x2_t a0 = vdupq_n_u64 (0), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  uint64_t sum;

  for (; i + 64 <= n; i += 64)
    {
      a0 = vaddq_u64 (a0, vld1q_u64 ((const uint64_t *) (b + i)));
      a1 = vaddq_u64 (a1, vld1q_u64 ((const uint64_t *) (b + i + 16)));
      a2 = vaddq_u64 (a2, vld1q_u64 ((const uint64_t *) (b + i + 32)));
      a3 = vaddq_u64 (a3, vld1q_u64 ((const uint64_t *) (b + i + 48)));
    }
  sum = vaddvq_u64 (vaddq_u64 (vaddq_u64 (a0, a1), vaddq_u64 (a2, a3)));
  if (i < n)
    sum += lk_sum_bytes_scalar (b + i, n - i);
  return sum;
}

#define MMQ(TYPE, act, quant, lower) [TYPE] = { act, quant, vec_dot_##lower, gemm_##lower }

static const lk_kernels table = {
  .name = VERSION_NAME,
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
    IQ_MM_NEON (quantize_act_q8),
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
#ifdef LK_NEON_DOTPROD
  .interleave = 1ull << LK_TYPE_Q4_0 | 1ull << LK_TYPE_Q8_0 | 1ull << LK_TYPE_IQ4_NL | 1ull << LK_TYPE_MXFP4
                | 1ull << LK_TYPE_IQ4_XS,
#else
  .interleave = 0,
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
#ifdef LK_NEON_DOTPROD
  return f->neon && f->dotprod;
#else
  return f->neon;
#endif
}
