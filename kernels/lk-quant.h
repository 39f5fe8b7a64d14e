/* SPDX-License-Identifier: MIT */
/* Reference (scalar) quantization and dequantization of rows.
 *
 * These are the definitions every fast path is tested against. The 32-element
 * block quantizers reproduce ggml's reference quantizers bit for bit.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lk-types.h"

typedef void (*lk_dequantize_fn) (const void *src, float *dst, int64_t n);
typedef void (*lk_quantize_fn) (const float *src, void *dst, int64_t n);

/* NULL when the type has no dequantizer. n must be a multiple of the block size. */
lk_dequantize_fn lk_get_dequantize (lk_type type);
/* NULL when Lathe cannot quantize to the type (yet). */
lk_quantize_fn lk_get_quantize_ref (lk_type type);

bool lk_dequantize_row (lk_type type, const void *src, float *dst, int64_t n);
bool lk_quantize_row_ref (lk_type type, const float *src, void *dst, int64_t n);

void lk_dequantize_row_f32 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_f16 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_bf16 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q4_0 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q4_1 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q5_0 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q5_1 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q8_0 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q8_1 (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q2_K (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q3_K (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q4_K (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q5_K (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q6_K (const void *src, float *dst, int64_t n);
void lk_dequantize_row_q8_K (const void *src, float *dst, int64_t n);

void lk_quantize_row_f32 (const float *src, void *dst, int64_t n);
void lk_quantize_row_f16 (const float *src, void *dst, int64_t n);
void lk_quantize_row_bf16 (const float *src, void *dst, int64_t n);
void lk_quantize_row_q4_0_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q4_1_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q5_0_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q5_1_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q8_0_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q8_1_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q8_K_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q2_K_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q3_K_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q4_K_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q5_K_ref (const float *src, void *dst, int64_t n);
void lk_quantize_row_q6_K_ref (const float *src, void *dst, int64_t n);

/* K-quant quantizers that weigh each element by an importance (e.g. the mean
 * square of the activation it meets); imp may be NULL. */
void lk_quantize_row_q2_K_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q3_K_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q4_K_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q5_K_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q6_K_imp (const float *src, void *dst, int64_t n, const float *imp);
/* The 32-element formats the same way: a search over scales by weighted
 * least squares (imp NULL: |x| plus the block's RMS). The _ref functions stay
 * byte-exact to llama.cpp's reference quantizer; these lose less. */
void lk_quantize_row_q4_0_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q4_1_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q5_0_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q5_1_imp (const float *src, void *dst, int64_t n, const float *imp);
void lk_quantize_row_q8_0_imp (const float *src, void *dst, int64_t n, const float *imp);

/* Unpacks the 6-bit scale and min number j (0..7) of a Q4_K / Q5_K block. */
static inline void
lk_get_scale_min_k4 (int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
  if (j < 4)
    {
      *d = q[j] & 63;
      *m = q[j + 4] & 63;
    }
  else
    {
      *d = (uint8_t) ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
      *m = (uint8_t) ((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

/* Unpacks the sixteen 6-bit signed scales of a Q3_K block. */
void lk_q3_K_unpack_scales (const uint8_t packed[12], int8_t scales[16]);
