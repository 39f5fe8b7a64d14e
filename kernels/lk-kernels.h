/* SPDX-License-Identifier: MIT */
/* The kernel table: every compute primitive the engine uses, in one struct of
 * function pointers per instruction-set version ("scalar", "avx2", ...).
 *
 * The scalar table is the reference every other version is tested against.
 * lk_kernels_get() returns the best version this CPU runs, unless one was
 * forced with lk_kernels_force() or the LATHE_KERNEL environment variable.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lk-quant.h"
#include "lk-types.h"

/* s = dot(w, x) over n elements; w is a row of the weight type, x a row of
 * the activation type the table names for that weight type. */
typedef void (*lk_vec_dot_fn) (int64_t n, float *s, const void *w, const void *x);

typedef struct
{
  lk_type act_type;            /* activations are converted to this type */
  lk_quantize_fn quantize_act; /* F32 row -> act_type row */
  lk_vec_dot_fn vec_dot;       /* NULL: this version cannot multiply the type */
} lk_mm_kernel;

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
} lk_kernels;

const lk_kernels *lk_kernels_get (void);
/* The version of that name if this CPU can run it, else NULL. */
const lk_kernels *lk_kernels_find (const char *name);
/* Makes the named version the one lk_kernels_get() returns; false if unknown
 * or not runnable here. */
bool lk_kernels_force (const char *name);
/* NULL-terminated list of the versions compiled in and runnable here, best last. */
const char *const *lk_kernels_available (void);

/* The reference table, always available. */
const lk_kernels *lk_kernels_scalar (void);

/* CPU features, as detected at run time. */
typedef struct
{
  bool avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, avxvnni;
  bool neon, dotprod, fp16;
} lk_cpu_features;

const lk_cpu_features *lk_cpu_get_features (void);
