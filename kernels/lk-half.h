/* SPDX-License-Identifier: MIT */
/* Portable conversions between float and binary16 / bfloat16.
 *
 * The float -> half conversion rounds to nearest even, as the F16C and NEON
 * instructions do, so the scalar reference and the SIMD paths produce the
 * same bits.
 */
#pragma once

#include <stdint.h>
#include <string.h>

#include "lk-types.h"

static inline float
lk_bits_to_f32 (uint32_t w)
{
  float f;
  memcpy (&f, &w, sizeof f);
  return f;
}

static inline uint32_t
lk_f32_to_bits (float f)
{
  uint32_t w;
  memcpy (&w, &f, sizeof w);
  return w;
}

static inline float
lk_half_to_f32 (lk_half h)
{
  const uint32_t w = (uint32_t) h << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;

  /* Normal numbers: move the exponent and mantissa into float position and
   * rebias by scaling; infinities and NaNs come out right because the scale
   * keeps them at the top of the range. */
  const float normalized = lk_bits_to_f32 ((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  /* Subnormal halves: build 0.5 + m * 2^-24 and subtract 0.5. */
  const float denormalized = lk_bits_to_f32 ((two_w >> 17) | (126u << 23)) - 0.5f;
  const uint32_t result = sign | (two_w < (1u << 27) ? lk_f32_to_bits (denormalized)
                                                     : lk_f32_to_bits (normalized));
  return lk_bits_to_f32 (result);
}

static inline lk_half
lk_f32_to_half (float f)
{
  const uint32_t w = lk_f32_to_bits (f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  float base;
  uint32_t bits;

  /* Scaling up then down makes the FPU round the mantissa at the half
   * precision boundary (round to nearest even) and saturate to infinity. */
  base = ((f < 0 ? -f : f) * 0x1.0p+112f) * 0x1.0p-110f;
  if (bias < 0x71000000u)
    bias = 0x71000000u;
  base = lk_bits_to_f32 ((bias >> 1) + 0x07800000u) + base;
  bits = lk_f32_to_bits (base);
  {
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (lk_half) ((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
  }
}

static inline float
lk_bf16_to_f32 (lk_bf16 h)
{
  return lk_bits_to_f32 ((uint32_t) h << 16);
}

static inline lk_bf16
lk_f32_to_bf16 (float f)
{
  const uint32_t u = lk_f32_to_bits (f);

  if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it quiet */
    return (lk_bf16) ((u >> 16) | 64);
  return (lk_bf16) ((u + (0x7fffu + ((u >> 16) & 1))) >> 16);
}
