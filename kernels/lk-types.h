/* SPDX-License-Identifier: MIT */
/* Tensor element types and their on-disk block layouts.
 *
 * The numbering and the block layouts are those of GGUF (ggml), so a tensor
 * read from a GGUF file can be used in place and a tensor Lathe writes can be
 * loaded by llama.cpp. Every block struct is checked against the size GGUF
 * defines for it.
 */
#pragma once

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef uint16_t lk_half;   /* IEEE binary16 bits */
typedef uint16_t lk_bf16;   /* bfloat16 bits */

typedef enum {
  LK_TYPE_F32 = 0,
  LK_TYPE_F16 = 1,
  LK_TYPE_Q4_0 = 2,
  LK_TYPE_Q4_1 = 3,
  LK_TYPE_Q5_0 = 6,
  LK_TYPE_Q5_1 = 7,
  LK_TYPE_Q8_0 = 8,
  LK_TYPE_Q8_1 = 9,
  LK_TYPE_Q2_K = 10,
  LK_TYPE_Q3_K = 11,
  LK_TYPE_Q4_K = 12,
  LK_TYPE_Q5_K = 13,
  LK_TYPE_Q6_K = 14,
  LK_TYPE_Q8_K = 15,
  LK_TYPE_IQ2_XXS = 16,
  LK_TYPE_IQ2_XS = 17,
  LK_TYPE_IQ3_XXS = 18,
  LK_TYPE_IQ1_S = 19,
  LK_TYPE_IQ4_NL = 20,
  LK_TYPE_IQ3_S = 21,
  LK_TYPE_IQ2_S = 22,
  LK_TYPE_IQ4_XS = 23,
  LK_TYPE_I8 = 24,
  LK_TYPE_I16 = 25,
  LK_TYPE_I32 = 26,
  LK_TYPE_I64 = 27,
  LK_TYPE_F64 = 28,
  LK_TYPE_IQ1_M = 29,
  LK_TYPE_BF16 = 30,
  LK_TYPE_TQ1_0 = 34,
  LK_TYPE_TQ2_0 = 35,
  LK_TYPE_MXFP4 = 39,
  /* Lathe's in-memory layouts of the 32-element block types (never in a
   * file): per row, the quantized values of all blocks first, arranged so
   * that one SIMD load unpacks a block pair in element order, then the
   * scales (and minimums, high bits) of all blocks. Same bytes per row. */
  LK_TYPE_Q4_0_P = 40,
  LK_TYPE_Q4_1_P = 41,
  LK_TYPE_Q5_0_P = 42,
  LK_TYPE_Q5_1_P = 43,
  LK_TYPE_Q8_0_P = 44,
  /* Row-interleaved layouts (never in a file): 16 rows at a time, block by
   * block, so one SIMD instruction multiplies a column of activations into
   * 16 rows; see lk-pack.c. Same bytes per row; the tensor's rows must be a
   * multiple of 16 and are only addressable as groups. */
  LK_TYPE_Q4_0_X16 = 45,
  LK_TYPE_Q8_0_X16 = 46,
  LK_TYPE_Q4_K_X16 = 47,
  LK_TYPE_Q6_K_X16 = 48,
  LK_TYPE_IQ4_NL_X16 = 49,
  LK_TYPE_MXFP4_X16 = 50,
  LK_TYPE_IQ4_XS_X16 = 51,
  LK_TYPE_COUNT = 52
} lk_type;

#define LK_QK4_0 32
#define LK_QK4_1 32
#define LK_QK5_0 32
#define LK_QK5_1 32
#define LK_QK8_0 32
#define LK_QK8_1 32
#define LK_QK_K 256
#define LK_K_SCALE_SIZE 12

typedef struct {
  lk_half d;
  uint8_t qs[LK_QK4_0 / 2];
} lk_block_q4_0;
static_assert (sizeof (lk_block_q4_0) == 18, "q4_0 block size");

typedef struct {
  lk_half d;
  lk_half m;
  uint8_t qs[LK_QK4_1 / 2];
} lk_block_q4_1;
static_assert (sizeof (lk_block_q4_1) == 20, "q4_1 block size");

typedef struct {
  lk_half d;
  uint8_t qh[4];
  uint8_t qs[LK_QK5_0 / 2];
} lk_block_q5_0;
static_assert (sizeof (lk_block_q5_0) == 22, "q5_0 block size");

typedef struct {
  lk_half d;
  lk_half m;
  uint8_t qh[4];
  uint8_t qs[LK_QK5_1 / 2];
} lk_block_q5_1;
static_assert (sizeof (lk_block_q5_1) == 24, "q5_1 block size");

typedef struct {
  lk_half d;
  int8_t qs[LK_QK8_0];
} lk_block_q8_0;
static_assert (sizeof (lk_block_q8_0) == 34, "q8_0 block size");

/* s = d * sum(qs): lets the dot product with an offset type (Q4_1, Q5_1) add
 * the offset term without a second pass. */
typedef struct {
  lk_half d;
  lk_half s;
  int8_t qs[LK_QK8_1];
} lk_block_q8_1;
static_assert (sizeof (lk_block_q8_1) == 36, "q8_1 block size");

typedef struct {
  uint8_t scales[LK_QK_K / 16]; /* low nibble scale, high nibble min */
  uint8_t qs[LK_QK_K / 4];
  lk_half d;
  lk_half dmin;
} lk_block_q2_K;
static_assert (sizeof (lk_block_q2_K) == 84, "q2_K block size");

typedef struct {
  uint8_t hmask[LK_QK_K / 8];
  uint8_t qs[LK_QK_K / 4];
  uint8_t scales[12];
  lk_half d;
} lk_block_q3_K;
static_assert (sizeof (lk_block_q3_K) == 110, "q3_K block size");

typedef struct {
  lk_half d;
  lk_half dmin;
  uint8_t scales[LK_K_SCALE_SIZE];
  uint8_t qs[LK_QK_K / 2];
} lk_block_q4_K;
static_assert (sizeof (lk_block_q4_K) == 144, "q4_K block size");

typedef struct {
  lk_half d;
  lk_half dmin;
  uint8_t scales[LK_K_SCALE_SIZE];
  uint8_t qh[LK_QK_K / 8];
  uint8_t qs[LK_QK_K / 2];
} lk_block_q5_K;
static_assert (sizeof (lk_block_q5_K) == 176, "q5_K block size");

typedef struct {
  uint8_t ql[LK_QK_K / 2];
  uint8_t qh[LK_QK_K / 4];
  int8_t scales[LK_QK_K / 16];
  lk_half d;
} lk_block_q6_K;
static_assert (sizeof (lk_block_q6_K) == 210, "q6_K block size");

/* Activation blocks for the K-quant dot products; bsums are the sums of each
 * 16 values, used for the min/offset terms. */
typedef struct {
  float d;
  int8_t qs[LK_QK_K];
  int16_t bsums[LK_QK_K / 16];
} lk_block_q8_K;
static_assert (sizeof (lk_block_q8_K) == 292, "q8_K block size");

/* The i-quants, ternary and MXFP4 types, as ggml lays them out. Grids and
 * value tables are in lk-quant-iq.h. */
typedef struct {
  lk_half d;
  uint8_t qs[16]; /* indices into the 16 non-linear values, low nibbles first */
} lk_block_iq4_nl;
static_assert (sizeof (lk_block_iq4_nl) == 18, "iq4_nl block size");

typedef struct {
  lk_half d;
  uint16_t scales_h; /* high 2 bits of the eight 6-bit scales */
  uint8_t scales_l[4];
  uint8_t qs[128];
} lk_block_iq4_xs;
static_assert (sizeof (lk_block_iq4_xs) == 136, "iq4_xs block size");

typedef struct {
  lk_half d;
  uint16_t qs[32]; /* per 32 elements: 4 grid bytes, then 4 × 7 sign bits and a 4-bit scale */
} lk_block_iq2_xxs;
static_assert (sizeof (lk_block_iq2_xxs) == 66, "iq2_xxs block size");

typedef struct {
  lk_half d;
  uint16_t qs[32]; /* 9-bit grid index, 7 sign bits */
  uint8_t scales[8];
} lk_block_iq2_xs;
static_assert (sizeof (lk_block_iq2_xs) == 74, "iq2_xs block size");

typedef struct {
  lk_half d;
  uint8_t qs[64]; /* 32 grid index bytes, then 32 sign bytes */
  uint8_t qh[8];
  uint8_t scales[8];
} lk_block_iq2_s;
static_assert (sizeof (lk_block_iq2_s) == 82, "iq2_s block size");

typedef struct {
  lk_half d;
  uint8_t qs[96]; /* 64 grid index bytes, then 8 words of signs and scale */
} lk_block_iq3_xxs;
static_assert (sizeof (lk_block_iq3_xxs) == 98, "iq3_xxs block size");

typedef struct {
  lk_half d;
  uint8_t qs[64];
  uint8_t qh[8];
  uint8_t signs[32];
  uint8_t scales[4];
} lk_block_iq3_s;
static_assert (sizeof (lk_block_iq3_s) == 110, "iq3_s block size");

typedef struct {
  lk_half d;
  uint8_t qs[32];
  uint16_t qh[8]; /* 3 high index bits × 4, a 3-bit scale, the delta's sign */
} lk_block_iq1_s;
static_assert (sizeof (lk_block_iq1_s) == 50, "iq1_s block size");

typedef struct {
  uint8_t qs[32];
  uint8_t qh[16];
  uint8_t scales[8]; /* 3-bit scales; the block's F16 scale spread over their top nibbles */
} lk_block_iq1_m;
static_assert (sizeof (lk_block_iq1_m) == 56, "iq1_m block size");

typedef struct {
  uint8_t qs[48]; /* 5 ternary digits per byte */
  uint8_t qh[4];  /* 4 per byte */
  lk_half d;
} lk_block_tq1_0;
static_assert (sizeof (lk_block_tq1_0) == 54, "tq1_0 block size");

typedef struct {
  uint8_t qs[64]; /* 2 bits per element */
  lk_half d;
} lk_block_tq2_0;
static_assert (sizeof (lk_block_tq2_0) == 66, "tq2_0 block size");

typedef struct {
  uint8_t e; /* E8M0 shared exponent */
  uint8_t qs[16]; /* E2M1 values, low nibbles first */
} lk_block_mxfp4;
static_assert (sizeof (lk_block_mxfp4) == 17, "mxfp4 block size");

typedef struct {
  const char *name;
  int64_t block_size;   /* elements per block; 0 when the type is unknown */
  size_t type_size;     /* bytes per block */
  bool quantized;
  bool can_dequantize;  /* Lathe has a dequantizer for it */
} lk_type_traits;

const lk_type_traits *lk_type_get_traits (lk_type type);
bool lk_type_is_valid (uint32_t type);
/* A type that may appear in a GGUF file. */
bool lk_type_is_gguf (uint32_t type);
/* The packed layout of a type, or the type itself when it has none. */
lk_type lk_type_packed (lk_type type);
/* The row-interleaved layout of a type, or the type itself when it has none. */
lk_type lk_type_interleaved (lk_type type);
/* Rows stored together: 16 for the row-interleaved layouts, else 1. */
int lk_type_row_group (lk_type type);
/* The GGUF type of a packed or interleaved layout, or the type itself. */
lk_type lk_type_unpacked (lk_type type);
const char *lk_type_name (lk_type type);
/* Returns LK_TYPE_COUNT when the name is unknown. Case-insensitive. */
lk_type lk_type_from_name (const char *name);
/* Bytes of a row of n elements, or 0 when n is not a whole number of blocks. */
size_t lk_row_size (lk_type type, int64_t n);
double lk_type_bits_per_weight (lk_type type);
