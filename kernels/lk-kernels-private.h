/* SPDX-License-Identifier: MIT */
/* Shared by the kernel versions: the scalar operations every table may fall
 * back to, and the entry points of the instruction-set versions, each
 * compiled in its own file with its own flags. */
#pragma once

#include <string.h>

#include "lk-half.h"
#include "lk-kernels.h"
#include "lk-quant.h"
#include "lk-quant-iq.h"

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
/* Attention as its definition reads: each score, softmax, the weighted sum. */
void lk_attn_scalar (const lk_attn_args *a);

/* The tiled attention's sizes: heads and query counts padded to 16 floats,
 * and positions a block so the block's keys and values as floats (two
 * [block][row] arrays, row the floats of the heads of a call) stay within
 * about 16 KiB, half a level-1 cache, or take 16 positions. */
static inline int
lk_attn_pad (int n)
{
  return (n + 15) / 16 * 16;
}

static inline int
lk_attn_block (int row)
{
  return row <= 128 ? 2048 / row / 16 * 16 : 16;
}
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

/* Defines NAME, a gemm over a row-interleaved matrix of TYPE done by
 * lk_gemm_x16_by_rows with VEC_DOT: for versions without a kernel that
 * reads the interleaved layout itself. */
#define LK_DEFINE_GEMM_X16_BY_ROWS(NAME, TYPE, VEC_DOT)                                          \
  static void NAME (int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs,       \
                    int nc, float *y, size_t ys)                                                 \
  {                                                                                              \
    lk_gemm_x16_by_rows (TYPE, VEC_DOT, n, w, ws, nr, x, xs, nc, y, ys);                         \
  }

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

/* K-quant superblocks, read the same way by every version. */
typedef enum
{
  KIND_Q2_K,
  KIND_Q3_K,
  KIND_Q4_K,
  KIND_Q5_K,
  KIND_Q6_K,
} kindK;

static inline size_t
kblock_bytes (kindK k)
{
  switch (k)
    {
    case KIND_Q2_K: return sizeof (lk_block_q2_K);
    case KIND_Q3_K: return sizeof (lk_block_q3_K);
    case KIND_Q4_K: return sizeof (lk_block_q4_K);
    case KIND_Q5_K: return sizeof (lk_block_q5_K);
    default: return sizeof (lk_block_q6_K);
    }
}

/* A superblock's 16 scales (one per 16 elements), minimums (Q2/Q4/Q5_K) or
 * level offset (Q3_K 4, Q6_K 32), d and dmin. */
typedef struct
{
  int16_t sc[16], mn[16];
  int offset;
  float d, dmin;
} kscales;

static inline void
read_kscales (kindK k, const uint8_t *blk, kscales *s)
{
  s->offset = 0;
  s->dmin = 0.0f;
  memset (s->mn, 0, sizeof s->mn);
  switch (k)
    {
    case KIND_Q2_K:
      {
        const lk_block_q2_K *b = (const lk_block_q2_K *) blk;
        for (int j = 0; j < 16; j++)
          {
            s->sc[j] = b->scales[j] & 0xF;
            s->mn[j] = b->scales[j] >> 4;
          }
        s->d = lk_half_to_f32 (b->d);
        s->dmin = lk_half_to_f32 (b->dmin);
        break;
      }
    case KIND_Q3_K:
      {
        const lk_block_q3_K *b = (const lk_block_q3_K *) blk;
        int8_t sc[16];
        lk_q3_K_unpack_scales (b->scales, sc);
        for (int j = 0; j < 16; j++)
          s->sc[j] = sc[j];
        s->offset = 4;
        s->d = lk_half_to_f32 (b->d);
        break;
      }
    case KIND_Q4_K:
    case KIND_Q5_K:
      {
        const lk_block_q4_K *b4 = (const lk_block_q4_K *) blk;
        const lk_block_q5_K *b5 = (const lk_block_q5_K *) blk;
        const uint8_t *scales = k == KIND_Q5_K ? b5->scales : b4->scales;
        for (int j = 0; j < 8; j++)
          {
            uint8_t d, m;
            lk_get_scale_min_k4 (j, scales, &d, &m);
            s->sc[2 * j] = s->sc[2 * j + 1] = d;
            s->mn[2 * j] = s->mn[2 * j + 1] = m;
          }
        s->d = lk_half_to_f32 (k == KIND_Q5_K ? b5->d : b4->d);
        s->dmin = lk_half_to_f32 (k == KIND_Q5_K ? b5->dmin : b4->dmin);
        break;
      }
    default:
      {
        const lk_block_q6_K *b = (const lk_block_q6_K *) blk;
        for (int j = 0; j < 16; j++)
          s->sc[j] = b->scales[j];
        s->offset = 32;
        s->d = lk_half_to_f32 (b->d);
        break;
      }
    }
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

/* Table entries for the i-quants, ternary and MXFP4 types on their scalar dot
 * products (a version without its own kernel for a type lists these). */
#define LK_MM_IQ_K(TYPE, lower) [TYPE] = { LK_ACT_Q8K, lk_quantize_row_q8_K_ref, lk_vec_dot_##lower##_scalar, NULL }
#define LK_MM_IQ_32(TYPE, lower, quant) [TYPE] = { LK_ACT_Q8, quant, lk_vec_dot_##lower##_scalar, NULL }
#define LK_MM_IQ_SCALAR_K                                 \
  LK_MM_IQ_K (LK_TYPE_IQ2_XXS, iq2_xxs),                  \
  LK_MM_IQ_K (LK_TYPE_IQ2_XS, iq2_xs),                    \
  LK_MM_IQ_K (LK_TYPE_IQ2_S, iq2_s),                      \
  LK_MM_IQ_K (LK_TYPE_IQ3_XXS, iq3_xxs),                  \
  LK_MM_IQ_K (LK_TYPE_IQ3_S, iq3_s),                      \
  LK_MM_IQ_K (LK_TYPE_IQ1_S, iq1_s),                      \
  LK_MM_IQ_K (LK_TYPE_IQ1_M, iq1_m),                      \
  LK_MM_IQ_K (LK_TYPE_TQ1_0, tq1_0),                      \
  LK_MM_IQ_K (LK_TYPE_TQ2_0, tq2_0)

/* A row-by-row product from a kernel ROWS (KIND, C, n, w, x, xs, y, ys) that
 * multiplies one weight row with C ≤ 4 activation rows at once: vec_dot_lower
 * and gemm_lower, the activation rows taken four at a time. */
#define LK_DEFINE_ROWS_GEMM(lower, ROWS, KIND)                                                      \
  static void vec_dot_##lower (int64_t n, float *s, const void *w, const void *x)                  \
  {                                                                                                \
    ROWS (KIND, 1, n, (const uint8_t *) w, (const uint8_t *) x, 0, s, 0);                          \
  }                                                                                                \
  static void gemm_##lower (int64_t n, const void *w, size_t ws, int nr, const void *x, size_t xs, \
                            int nc, float *y, size_t ys)                                           \
  {                                                                                                \
    for (int c = 0; c < nc; c += 4)                                                                \
      {                                                                                            \
        const uint8_t *xc = (const uint8_t *) x + (size_t) c * xs;                                 \
        for (int r = 0; r < nr; r++)                                                               \
          {                                                                                        \
            const uint8_t *wr = (const uint8_t *) w + (size_t) r * ws;                             \
            float *yr = y + (size_t) c * ys + r;                                                   \
            switch (nc - c < 4 ? nc - c : 4)                                                       \
              {                                                                                    \
              case 4: ROWS (KIND, 4, n, wr, xc, xs, yr, ys); break;                                \
              case 3: ROWS (KIND, 3, n, wr, xc, xs, yr, ys); break;                                \
              case 2: ROWS (KIND, 2, n, wr, xc, xs, yr, ys); break;                                \
              default: ROWS (KIND, 1, n, wr, xc, xs, yr, ys); break;                               \
              }                                                                                    \
          }                                                                                        \
      }                                                                                            \
  }
