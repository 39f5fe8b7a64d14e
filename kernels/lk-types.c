/* SPDX-License-Identifier: MIT */
#include <strings.h>

#include "lk-types.h"

#define Q(name, bs, ts, deq) { name, bs, ts, true, deq }
#define P(name, ts) { name, 1, ts, false, true }
#define U(name, ts) { name, 1, ts, false, false }

static const lk_type_traits traits[LK_TYPE_COUNT] = {
  [LK_TYPE_F32] = P ("F32", 4),
  [LK_TYPE_F16] = P ("F16", 2),
  [LK_TYPE_Q4_0] = Q ("Q4_0", LK_QK4_0, sizeof (lk_block_q4_0), true),
  [LK_TYPE_Q4_1] = Q ("Q4_1", LK_QK4_1, sizeof (lk_block_q4_1), true),
  [LK_TYPE_Q5_0] = Q ("Q5_0", LK_QK5_0, sizeof (lk_block_q5_0), true),
  [LK_TYPE_Q5_1] = Q ("Q5_1", LK_QK5_1, sizeof (lk_block_q5_1), true),
  [LK_TYPE_Q8_0] = Q ("Q8_0", LK_QK8_0, sizeof (lk_block_q8_0), true),
  [LK_TYPE_Q8_1] = Q ("Q8_1", LK_QK8_1, sizeof (lk_block_q8_1), true),
  [LK_TYPE_Q2_K] = Q ("Q2_K", LK_QK_K, sizeof (lk_block_q2_K), true),
  [LK_TYPE_Q3_K] = Q ("Q3_K", LK_QK_K, sizeof (lk_block_q3_K), true),
  [LK_TYPE_Q4_K] = Q ("Q4_K", LK_QK_K, sizeof (lk_block_q4_K), true),
  [LK_TYPE_Q5_K] = Q ("Q5_K", LK_QK_K, sizeof (lk_block_q5_K), true),
  [LK_TYPE_Q6_K] = Q ("Q6_K", LK_QK_K, sizeof (lk_block_q6_K), true),
  [LK_TYPE_Q8_K] = Q ("Q8_K", LK_QK_K, sizeof (lk_block_q8_K), true),
  [LK_TYPE_IQ2_XXS] = Q ("IQ2_XXS", LK_QK_K, sizeof (lk_block_iq2_xxs), true),
  [LK_TYPE_IQ2_XS] = Q ("IQ2_XS", LK_QK_K, sizeof (lk_block_iq2_xs), true),
  [LK_TYPE_IQ3_XXS] = Q ("IQ3_XXS", LK_QK_K, sizeof (lk_block_iq3_xxs), true),
  [LK_TYPE_IQ1_S] = Q ("IQ1_S", LK_QK_K, sizeof (lk_block_iq1_s), true),
  [LK_TYPE_IQ4_NL] = Q ("IQ4_NL", 32, sizeof (lk_block_iq4_nl), true),
  [LK_TYPE_IQ3_S] = Q ("IQ3_S", LK_QK_K, sizeof (lk_block_iq3_s), true),
  [LK_TYPE_IQ2_S] = Q ("IQ2_S", LK_QK_K, sizeof (lk_block_iq2_s), true),
  [LK_TYPE_IQ4_XS] = Q ("IQ4_XS", LK_QK_K, sizeof (lk_block_iq4_xs), true),
  [LK_TYPE_I8] = U ("I8", 1),
  [LK_TYPE_I16] = U ("I16", 2),
  [LK_TYPE_I32] = U ("I32", 4),
  [LK_TYPE_I64] = U ("I64", 8),
  [LK_TYPE_F64] = U ("F64", 8),
  [LK_TYPE_IQ1_M] = Q ("IQ1_M", LK_QK_K, sizeof (lk_block_iq1_m), true),
  [LK_TYPE_BF16] = P ("BF16", 2),
  [LK_TYPE_TQ1_0] = Q ("TQ1_0", LK_QK_K, sizeof (lk_block_tq1_0), true),
  [LK_TYPE_TQ2_0] = Q ("TQ2_0", LK_QK_K, sizeof (lk_block_tq2_0), true),
  [LK_TYPE_MXFP4] = Q ("MXFP4", 32, sizeof (lk_block_mxfp4), true),
  /* Packed layouts show their file type's name. */
  [LK_TYPE_Q4_0_P] = Q ("Q4_0", LK_QK4_0, sizeof (lk_block_q4_0), true),
  [LK_TYPE_Q4_1_P] = Q ("Q4_1", LK_QK4_1, sizeof (lk_block_q4_1), true),
  [LK_TYPE_Q5_0_P] = Q ("Q5_0", LK_QK5_0, sizeof (lk_block_q5_0), true),
  [LK_TYPE_Q5_1_P] = Q ("Q5_1", LK_QK5_1, sizeof (lk_block_q5_1), true),
  [LK_TYPE_Q8_0_P] = Q ("Q8_0", LK_QK8_0, sizeof (lk_block_q8_0), true),
  /* Interleaved rows are not dequantized one by one: see lk_x16_row(). */
  [LK_TYPE_Q4_0_X16] = Q ("Q4_0", LK_QK4_0, sizeof (lk_block_q4_0), false),
  [LK_TYPE_Q8_0_X16] = Q ("Q8_0", LK_QK8_0, sizeof (lk_block_q8_0), false),
  [LK_TYPE_Q4_K_X16] = Q ("Q4_K", LK_QK_K, sizeof (lk_block_q4_K), false),
  [LK_TYPE_Q6_K_X16] = Q ("Q6_K", LK_QK_K, sizeof (lk_block_q6_K), false),
  [LK_TYPE_IQ4_NL_X16] = Q ("IQ4_NL", 32, sizeof (lk_block_iq4_nl), false),
  [LK_TYPE_MXFP4_X16] = Q ("MXFP4", 32, sizeof (lk_block_mxfp4), false),
  [LK_TYPE_IQ4_XS_X16] = Q ("IQ4_XS", LK_QK_K, sizeof (lk_block_iq4_xs), false),
};

bool
lk_type_is_valid (uint32_t type)
{
  return type < LK_TYPE_COUNT && traits[type].name != NULL;
}

bool
lk_type_is_gguf (uint32_t type)
{
  return lk_type_is_valid (type) && type < LK_TYPE_Q4_0_P;
}

lk_type
lk_type_packed (lk_type type)
{
  switch (type)
    {
    case LK_TYPE_Q4_0: return LK_TYPE_Q4_0_P;
    case LK_TYPE_Q4_1: return LK_TYPE_Q4_1_P;
    case LK_TYPE_Q5_0: return LK_TYPE_Q5_0_P;
    case LK_TYPE_Q5_1: return LK_TYPE_Q5_1_P;
    case LK_TYPE_Q8_0: return LK_TYPE_Q8_0_P;
    default: return type;
    }
}

lk_type
lk_type_interleaved (lk_type type)
{
  switch (type)
    {
    case LK_TYPE_Q4_0: return LK_TYPE_Q4_0_X16;
    case LK_TYPE_Q8_0: return LK_TYPE_Q8_0_X16;
    case LK_TYPE_Q4_K: return LK_TYPE_Q4_K_X16;
    case LK_TYPE_Q6_K: return LK_TYPE_Q6_K_X16;
    case LK_TYPE_IQ4_NL: return LK_TYPE_IQ4_NL_X16;
    case LK_TYPE_MXFP4: return LK_TYPE_MXFP4_X16;
    case LK_TYPE_IQ4_XS: return LK_TYPE_IQ4_XS_X16;
    default: return type;
    }
}

int
lk_type_row_group (lk_type type)
{
  return type == LK_TYPE_Q4_0_X16 || type == LK_TYPE_Q8_0_X16 || type == LK_TYPE_Q4_K_X16
             || type == LK_TYPE_Q6_K_X16 || type == LK_TYPE_IQ4_NL_X16 || type == LK_TYPE_MXFP4_X16
             || type == LK_TYPE_IQ4_XS_X16
           ? 16
           : 1;
}

lk_type
lk_type_unpacked (lk_type type)
{
  switch (type)
    {
    case LK_TYPE_Q4_0_X16: return LK_TYPE_Q4_0;
    case LK_TYPE_Q8_0_X16: return LK_TYPE_Q8_0;
    case LK_TYPE_Q4_K_X16: return LK_TYPE_Q4_K;
    case LK_TYPE_Q6_K_X16: return LK_TYPE_Q6_K;
    case LK_TYPE_IQ4_NL_X16: return LK_TYPE_IQ4_NL;
    case LK_TYPE_MXFP4_X16: return LK_TYPE_MXFP4;
    case LK_TYPE_IQ4_XS_X16: return LK_TYPE_IQ4_XS;
    case LK_TYPE_Q4_0_P: return LK_TYPE_Q4_0;
    case LK_TYPE_Q4_1_P: return LK_TYPE_Q4_1;
    case LK_TYPE_Q5_0_P: return LK_TYPE_Q5_0;
    case LK_TYPE_Q5_1_P: return LK_TYPE_Q5_1;
    case LK_TYPE_Q8_0_P: return LK_TYPE_Q8_0;
    default: return type;
    }
}

const lk_type_traits *
lk_type_get_traits (lk_type type)
{
  static const lk_type_traits unknown = { "unknown", 0, 0, false, false };

  if (!lk_type_is_valid ((uint32_t) type))
    return &unknown;
  return &traits[type];
}

const char *
lk_type_name (lk_type type)
{
  return lk_type_get_traits (type)->name;
}

lk_type
lk_type_from_name (const char *name)
{
  if (name == NULL)
    return LK_TYPE_COUNT;
  for (int t = 0; t < LK_TYPE_Q4_0_P; t++)
    if (traits[t].name != NULL && strcasecmp (traits[t].name, name) == 0)
      return (lk_type) t;
  return LK_TYPE_COUNT;
}

size_t
lk_row_size (lk_type type, int64_t n)
{
  const lk_type_traits *tr = lk_type_get_traits (type);

  if (tr->block_size <= 0 || n < 0 || n % tr->block_size != 0)
    return 0;
  return (size_t) (n / tr->block_size) * tr->type_size;
}

double
lk_type_bits_per_weight (lk_type type)
{
  const lk_type_traits *tr = lk_type_get_traits (type);

  if (tr->block_size <= 0)
    return 0.0;
  return 8.0 * (double) tr->type_size / (double) tr->block_size;
}
