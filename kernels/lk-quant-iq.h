/* SPDX-License-Identifier: MIT */
/* The i-quants (IQ1_S … IQ4_XS), the ternary types (TQ1_0, TQ2_0) and
 * MXFP4: their grids and value tables, dequantization and the scalar dot
 * products the SIMD versions are checked against.
 *
 * The grids are part of each format: every entry is a short vector of small
 * levels (8 for the 2- and 1-bit grids, 4 for the 3-bit ones) stored as
 * packed level codes, and expanded to the byte vectors the kernels use
 * before main() runs.
 */
#pragma once

#include <stdint.h>

#include "lk-types.h"

extern uint64_t lk_iq2xxs_grid[256];
extern uint64_t lk_iq2xs_grid[512];
extern uint64_t lk_iq2s_grid[1024];
extern uint64_t lk_iq1s_grid[2048]; /* bytes -1, 0, 1 */
extern uint32_t lk_iq3xxs_grid[256];
extern uint32_t lk_iq3s_grid[512];
/* 7 sign bits to 8: the eighth makes the count of minus signs even. */
extern uint8_t lk_ksigns_iq2xs[128];
/* Byte b set to 0xff where bit b of the index is set: sign masks for SIMD. */
extern uint64_t lk_bitmask64[256];
extern const int8_t lk_kvalues_iq4nl[16];
extern const int8_t lk_kvalues_mxfp4[16]; /* E2M1 values, doubled */

#define LK_IQ1S_DELTA 0.125f
#define LK_IQ1M_DELTA 0.125f

/* The scale of an MXFP4 block, halved (its values are doubled). */
float lk_e8m0_to_f32_half (uint8_t e);

void lk_dequantize_row_iq2_xxs (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq2_xs (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq2_s (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq3_xxs (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq3_s (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq1_s (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq1_m (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq4_nl (const void *src, float *dst, int64_t n);
void lk_dequantize_row_iq4_xs (const void *src, float *dst, int64_t n);
void lk_dequantize_row_tq1_0 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_tq2_0 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_mxfp4 (const void *src, float *dst, int64_t n);

/* Scalar dot products with Q8_K activations (256-element types) or Q8
 * activations (IQ4_NL, MXFP4: 32-element blocks, the planar LK_ACT_Q8). */
void lk_vec_dot_iq2_xxs_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq2_xs_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq2_s_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq3_xxs_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq3_s_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq1_s_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq1_m_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq4_xs_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_tq1_0_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_tq2_0_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_iq4_nl_scalar (int64_t n, float *s, const void *w, const void *x);
void lk_vec_dot_mxfp4_scalar (int64_t n, float *s, const void *w, const void *x);

/* Writers: IQ4_NL and IQ4_XS weigh each rounding error by an importance
 * (NULL: the weight squared); TQ1_0, TQ2_0 and MXFP4 have one rule. */
void lk_quantize_row_iq4_nl_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq4_xs_imp (const float *src, void *dst, int64_t n, const float *imp);
/* The 2- and 3-bit grid types by an exhaustive grid search weighted by imp (as
 * llama.cpp, the types are meant to be written with an importance matrix). */
void lk_quantize_row_iq2_xxs_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq2_xxs_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_iq2_xs_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq2_xs_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_iq2_s_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq2_s_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_iq3_xxs_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq3_xxs_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_iq3_s_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq3_s_ref (const float *src, void *dst, int64_t n);
/* The 1-bit types, by the same search (a point and the delta's sign together). */
void lk_quantize_row_iq1_s_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq1_s_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_iq1_m_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_iq1_m_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_iq4_nl_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_iq4_xs_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_tq1_0_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_tq2_0_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_mxfp4_ref (const float *src, void *dst, int64_t n);
