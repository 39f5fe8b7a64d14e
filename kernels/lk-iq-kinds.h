/* SPDX-License-Identifier: MIT */
/* What the AVX2 and NEON i-quant kernels share: the kinds of superblock,
 * their sizes and their scales (with each type's constant factor). */
#pragma once

#include <string.h>

#include "lk-kernels-private.h"

#define IQ_INLINE static inline __attribute__ ((always_inline))
#define IQ_MAXC 4

typedef enum
{
  IQ_KIND_IQ2_XXS,
  IQ_KIND_IQ2_XS,
  IQ_KIND_IQ2_S,
  IQ_KIND_IQ3_XXS,
  IQ_KIND_IQ3_S,
  IQ_KIND_IQ4_XS,
  IQ_KIND_TQ2_0,
  IQ_KIND_IQ1_S,
  IQ_KIND_IQ1_M,
} iq_kind;

IQ_INLINE size_t
iq_block_bytes (iq_kind k)
{
  switch (k)
    {
    case IQ_KIND_IQ2_XXS: return sizeof (lk_block_iq2_xxs);
    case IQ_KIND_IQ2_XS: return sizeof (lk_block_iq2_xs);
    case IQ_KIND_IQ2_S: return sizeof (lk_block_iq2_s);
    case IQ_KIND_IQ3_XXS: return sizeof (lk_block_iq3_xxs);
    case IQ_KIND_IQ3_S: return sizeof (lk_block_iq3_s);
    case IQ_KIND_IQ4_XS: return sizeof (lk_block_iq4_xs);
    case IQ_KIND_IQ1_S: return sizeof (lk_block_iq1_s);
    case IQ_KIND_IQ1_M: return sizeof (lk_block_iq1_m);
    default: return sizeof (lk_block_tq2_0);
    }
}

/* The superblock's scale, times the type's constant factor. */
IQ_INLINE float
iq_block_d (iq_kind k, const uint8_t *blk)
{
  lk_half h;

  if (k == IQ_KIND_IQ1_M)
    {
      /* The F16 scale spread over the top nibbles of the four scale words. */
      uint16_t sc[4];
      memcpy (sc, ((const lk_block_iq1_m *) blk)->scales, sizeof sc);
      h = (lk_half) ((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000));
      return lk_half_to_f32 (h) * 0.125f;
    }
  memcpy (&h, k == IQ_KIND_TQ2_0 ? blk + 64 : blk, sizeof h);
  switch (k)
    {
    case IQ_KIND_IQ1_S: return lk_half_to_f32 (h) * 0.125f;
    case IQ_KIND_IQ2_XXS: case IQ_KIND_IQ2_XS: case IQ_KIND_IQ2_S: return lk_half_to_f32 (h) * 0.125f;
    case IQ_KIND_IQ3_XXS: return lk_half_to_f32 (h) * 0.25f;
    default: return lk_half_to_f32 (h);
    }
}
