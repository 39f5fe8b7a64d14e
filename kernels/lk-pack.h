/* SPDX-License-Identifier: MIT */
/* Converting rows between the GGUF block layouts and Lathe's packed
 * in-memory layouts (LK_TYPE_*_P), in place or by copy. Lossless. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "lk-types.h"

/* Packs a row of n elements of a GGUF type in place; tmp holds a row's
 * bytes. False when the type has no packed layout. */
bool lk_pack_row (lk_type type, void *row, int64_t n, void *tmp);
/* Writes a packed row back in its GGUF layout (dst and src may not overlap). */
bool lk_unpack_row (lk_type packed, const void *src, void *dst, int64_t n);

/* Accessors of a packed row, used by the scalar kernels and dequantizers:
 * the 32 levels of block b (0..15 or 0..31, or -128..127 for Q8_0), the
 * scale, the minimum. */
void lk_packed_levels (lk_type packed, const void *row, int64_t n, int64_t b, int q[32]);
float lk_packed_d (lk_type packed, const void *row, int64_t n, int64_t b);
float lk_packed_m (lk_type packed, const void *row, int64_t n, int64_t b);

/* Blocks per group of a packed row (the group's data is contiguous). */
#define LK_PACK_GROUP 16

/* Row-interleaved layouts (LK_TYPE_*_X16): 16 rows of a GGUF type, in place,
 * become one group; tmp holds the 16 rows' bytes. False when the type has
 * no interleaved layout. */
bool lk_x16_pack (lk_type type, void *rows, int64_t n, void *tmp);
/* Row r (< 16) of a group, written in its GGUF layout to dst. */
void lk_x16_row (lk_type x16, const void *group, int64_t n, int r, void *dst);
/* Bytes of one block's tile of 16 rows (levels, then 16 half scales). */
size_t lk_x16_tile_bytes (lk_type x16);
