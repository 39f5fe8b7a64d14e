/* SPDX-License-Identifier: MIT */
/* The kernel table: every compute primitive the engine uses, in one struct of
 * function pointers per instruction-set version.
 *
 * Versions: "reference" multiplies in F32 after dequantizing each block (the
 * numerical yardstick); "scalar" is plain C with activations quantized to
 * 8-bit blocks, the definition the SIMD versions are checked against;
 * "avx2", "avx512", "avx512vnni", "neon" and "neon-dotprod" are the fast
 * ones. lk_kernels_get() returns the best version this CPU runs, unless one
 * was forced with lk_kernels_force() or the LATHE_KERNEL environment variable.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lk-quant.h"
#include "lk-types.h"

/* How activations are stored for a matrix product. */
typedef enum
{
  LK_ACT_F32,  /* floats as they are */
  LK_ACT_BF16, /* bfloat16 */
  LK_ACT_Q8,   /* 32-element blocks, planar: int8 q[n], then float d[n/32], then
                * float s[n/32] with s = d * sum(q) */
  LK_ACT_Q8K,  /* lk_block_q8_K (256-element blocks with 16-element sums) */
  LK_ACT_COUNT
} lk_act;

/* Bytes of one activation row of n elements (n a multiple of the block). */
size_t lk_act_row_size (lk_act act, int64_t n);
void lk_quantize_act_q8_ref (const float *x, void *dst, int64_t n);

typedef void (*lk_quantize_act_fn) (const float *x, void *dst, int64_t n);

/* s = dot(w, x) over n elements; w is a row of the weight type, x a row in
 * the activation format the table names for that type. */
typedef void (*lk_vec_dot_fn) (int64_t n, float *s, const void *w, const void *x);

/* y[c * y_stride + r] = dot(row r of w, activation row c of x) for r < nr,
 * c < nc. Rows are w_stride bytes apart, activation rows x_stride bytes. A
 * kernel reuses each unpacked weight block for several activation rows. */
typedef void (*lk_gemm_fn) (int64_t n, const void *w, size_t w_stride, int nr, const void *x,
                            size_t x_stride, int nc, float *y, size_t y_stride);

typedef struct
{
  lk_act act;                     /* activations are converted to this */
  lk_quantize_act_fn quantize_act; /* F32 row -> act row (NULL for LK_ACT_F32) */
  lk_vec_dot_fn vec_dot;          /* one row; NULL for row-interleaved types */
  lk_gemm_fn gemm;                /* optional for row types (else vec_dot is used);
                                   * for interleaved types nr is a multiple of 16 */
} lk_mm_kernel;

/* Whether a table entry can multiply its type at all. */
static inline bool
lk_mm_supported (const lk_mm_kernel *mm)
{
  return mm->vec_dot != NULL || mm->gemm != NULL;
}

/* Attention of m queries that share a key/value head (a GQA group, one
 * token or several) over cache positions [k0, k1), for `heads` heads side by
 * side in the cache rows. Query i of head h (hd floats at
 * q + (h * m + i) * hd) sees only positions [lo[i], hi[i]). Scores are
 * scale * q.k, soft-capped to softcap * tanh(s / softcap) when softcap > 0.
 * The result is the unnormalised state of that range, so ranges done apart
 * merge exactly (lk_attn_merge): max[h * m + i] the largest score,
 * sum[h * m + i] = sum of e^(s - max), acc[(h * m + i) * hd + d] = sum of
 * e^(s - max) v[d]. A query that sees no position of the range gets max
 * -INFINITY, sum 0 and zeros. */
typedef struct
{
  lk_type kv_type;   /* F32, F16, or Q8_0 with hd a multiple of 32 */
  const void *k, *v; /* the first head's row at position 0; the next heads follow it */
  size_t row_bytes;  /* from one position to the next */
  int hd, heads, m, k0, k1;
  const float *q;
  const int *lo, *hi;
  float scale, softcap;
  float *work;       /* lk_attn_work_size (m, hd, heads) floats, 64-byte aligned */
  float *max, *sum, *acc;
} lk_attn_args;

/* Floats of the work area of an attention call. */
size_t lk_attn_work_size (int m, int hd, int heads);
/* Folds state b (m queries of hd) into state a. */
void lk_attn_merge (int m, int hd, float *amax, float *asum, float *aacc, const float *bmax,
                    const float *bsum, const float *bacc);

typedef struct lk_kernels
{
  const char *name;
  lk_mm_kernel mm[LK_TYPE_COUNT];

  void (*rmsnorm) (float *out, const float *x, const float *w, int64_t n, float eps);
  void (*softmax) (float *x, int64_t n);
  void (*silu_mul) (float *a, const float *b, int64_t n); /* a = silu(a) * b */
  void (*add) (float *a, const float *b, int64_t n);      /* a += b */
  float (*dot_f32) (int64_t n, const float *a, const float *b);
  void (*axpy_f32) (int64_t n, float alpha, const float *x, float *y); /* y += alpha x */
  float (*dot_f16) (int64_t n, const lk_half *a, const float *b);
  void (*axpy_f16) (int64_t n, float alpha, const lk_half *x, float *y);
  void (*f32_to_f16) (const float *x, lk_half *y, int64_t n);
  /* Rotates pairs of x by the angles whose cos/sin are given (n_rot/2 each).
   * Normal mode pairs (2i, 2i+1); NeoX mode pairs (i, i + n_rot/2). */
  void (*rope) (float *x, int64_t n_rot, const float *cos_t, const float *sin_t, bool neox);
  /* Attention of the queries that share one key/value head (lk_attn_args). */
  void (*attn) (const lk_attn_args *a);
  /* Sums n bytes (n a multiple of 64) as 64-bit words: a pure memory read,
   * for measuring bandwidth. */
  uint64_t (*sum_bytes) (const void *p, size_t n);
  /* Bit t set: weights of GGUF type t should be row-interleaved
   * (lk_type_interleaved) at load, this version being fastest with them. */
  uint64_t interleave;
} lk_kernels;

const lk_kernels *lk_kernels_get (void);
/* The version of that name if this CPU can run it, else NULL. */
const lk_kernels *lk_kernels_find (const char *name);
/* Makes the named version the one lk_kernels_get() returns; false if unknown
 * or not runnable here. */
bool lk_kernels_force (const char *name);
/* NULL-terminated list of the versions compiled in and runnable here, best last. */
const char *const *lk_kernels_available (void);

/* The F32 reference path and the scalar version, always available. */
const lk_kernels *lk_kernels_reference (void);
const lk_kernels *lk_kernels_scalar (void);

/* CPU features, as detected at run time. */
typedef struct
{
  bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avxvnni;
  bool neon, dotprod, fp16;
} lk_cpu_features;

const lk_cpu_features *lk_cpu_get_features (void);
