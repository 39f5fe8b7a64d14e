/* SPDX-License-Identifier: MIT */
/* Packed layouts. A row is cut into groups of 16 blocks (the last group may
 * have fewer, ng); each group holds, in order:
 *   Q4_*: nibbles (16 ng bytes): for each block pair, 32 bytes where byte i
 *         holds element i in its low nibble and element i + 32 in its high
 *         nibble (elements of the pair in order); a last odd block keeps
 *         GGUF's packing (element i low, i + 16 high);
 *   Q5_*: the same nibbles, then the fifth bits: 4 bytes per block, bit j
 *         of block b the fifth bit of its element j;
 *   Q8_0: the 32 int8 values of each block in order;
 *   then the half-precision scales d of its blocks, then (Q4_1, Q5_1) their
 *   half-precision minimums m. A row is then one sequential stream.
 *
 * Row-interleaved layouts hold 16 rows as one group, block by block: for
 * each block b, a tile of the 16 rows' scales d (half precision), then their
 * levels, so a kernel reads each tile front to back (the memory prefetchers
 * lose streams that jump backwards). In a tile, 32-bit lane r of each 64-byte vector belongs
 * to row r and holds 4 consecutive elements, so one 8-bit dot-product
 * instruction with 4 broadcast activations serves all 16 rows:
 *   Q4_0_X16: after the 32 bytes of d, 4 vectors; byte 64 j + 4 r + i holds
 *             element 4 j + i of row r in its low nibble and element
 *             4 (j + 4) + i in its high one;
 *   Q8_0_X16: after d, 8 vectors; byte 64 j + 4 r + i holds element 4 j + i
 *             of row r plus 128 (unsigned, as the instructions want).
 * The K-quant layouts move each 4-byte group of a row's 256-element block to
 * lane r of a vector, unchanged (see k_x16_copy):
 *   Q4_K_X16: 3 vectors of the 12 packed scale bytes; 16 d; 16 dmin; 32
 *             vectors of nibbles, vector 8 p + v holding qs[32 p + 4 v .. + 3]
 *             (sub-block 2p low, 2p + 1 high);
 *   Q6_K_X16: 4 vectors of the 16 scales; 16 d; then for each half h, 8
 *             vectors of qh[32 h + 4 v ..] and 16 of ql[64 h + 32 s + 4 v ..]
 *             (s = 0, 1);
 *   IQ4_XS_X16: 16 d; 16 scales_h; one vector of scales_l; 32 vectors of
 *             nibbles, vector 4 j + g holding qs[16 j + 4 g .. + 3] (sub-block
 *             j's bytes as an IQ4_NL block holds them). */
#include <string.h>

#include "lk-half.h"
#include "lk-pack.h"

static bool
has_min (lk_type p)
{
  return p == LK_TYPE_Q4_1_P || p == LK_TYPE_Q5_1_P;
}

static bool
has_high (lk_type p)
{
  return p == LK_TYPE_Q5_0_P || p == LK_TYPE_Q5_1_P;
}

typedef struct
{
  uint8_t *qs; /* of the block's group, for the group's first block */
  uint8_t *qh;
  uint8_t *d;
  uint8_t *m;
  int64_t first; /* the group's first block */
} parts;

/* The parts of the group holding block b. */
static parts
parts_of (lk_type p, void *row, int64_t nb, int64_t b)
{
  const int64_t g = b / LK_PACK_GROUP * LK_PACK_GROUP;
  const int64_t ng = nb - g < LK_PACK_GROUP ? nb - g : LK_PACK_GROUP;
  uint8_t *base = (uint8_t *) row + (size_t) g * lk_type_get_traits (p)->type_size;
  parts r;

  r.first = g;
  r.qs = base;
  base += p == LK_TYPE_Q8_0_P ? 32 * ng : 16 * ng;
  r.qh = has_high (p) ? base : NULL;
  if (has_high (p))
    base += 4 * ng;
  r.d = base;
  base += 2 * ng;
  r.m = has_min (p) ? base : NULL;
  return r;
}

/* The 32 levels, d, m and fifth bits of GGUF block b of a row. */
static void
read_gguf_block (lk_type t, const uint8_t *row, int64_t b, uint8_t q[32], lk_half *d, lk_half *m,
                 uint32_t *qh)
{
  const uint8_t *qs;

  *m = 0;
  *qh = 0;
  switch (t)
    {
    case LK_TYPE_Q4_0:
      {
        const lk_block_q4_0 *x = (const lk_block_q4_0 *) row + b;
        *d = x->d;
        qs = x->qs;
        break;
      }
    case LK_TYPE_Q4_1:
      {
        const lk_block_q4_1 *x = (const lk_block_q4_1 *) row + b;
        *d = x->d;
        *m = x->m;
        qs = x->qs;
        break;
      }
    case LK_TYPE_Q5_0:
      {
        const lk_block_q5_0 *x = (const lk_block_q5_0 *) row + b;
        *d = x->d;
        memcpy (qh, x->qh, 4);
        qs = x->qs;
        break;
      }
    case LK_TYPE_Q5_1:
      {
        const lk_block_q5_1 *x = (const lk_block_q5_1 *) row + b;
        *d = x->d;
        *m = x->m;
        memcpy (qh, x->qh, 4);
        qs = x->qs;
        break;
      }
    default:
      {
        const lk_block_q8_0 *x = (const lk_block_q8_0 *) row + b;
        *d = x->d;
        memcpy (q, x->qs, 32);
        return;
      }
    }
  for (int j = 0; j < 16; j++)
    {
      q[j] = qs[j] & 0xF;
      q[j + 16] = qs[j] >> 4;
    }
}

static void
write_gguf_block (lk_type t, uint8_t *row, int64_t b, const uint8_t q[32], lk_half d, lk_half m,
                  uint32_t qh)
{
  uint8_t *qs;

  switch (t)
    {
    case LK_TYPE_Q4_0: { lk_block_q4_0 *x = (lk_block_q4_0 *) row + b; x->d = d; qs = x->qs; break; }
    case LK_TYPE_Q4_1: { lk_block_q4_1 *x = (lk_block_q4_1 *) row + b; x->d = d; x->m = m; qs = x->qs; break; }
    case LK_TYPE_Q5_0: { lk_block_q5_0 *x = (lk_block_q5_0 *) row + b; x->d = d; memcpy (x->qh, &qh, 4); qs = x->qs; break; }
    case LK_TYPE_Q5_1: { lk_block_q5_1 *x = (lk_block_q5_1 *) row + b; x->d = d; x->m = m; memcpy (x->qh, &qh, 4); qs = x->qs; break; }
    default:
      {
        lk_block_q8_0 *x = (lk_block_q8_0 *) row + b;
        x->d = d;
        memcpy (x->qs, q, 32);
        return;
      }
    }
  for (int j = 0; j < 16; j++)
    qs[j] = (uint8_t) ((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}

/* Nibbles of a pair (or a last single block) in the packed order. */
static void
put_nibbles (uint8_t *dst, const uint8_t q[64], int n_blocks)
{
  const int half = n_blocks == 2 ? 32 : 16;

  for (int i = 0; i < half; i++)
    dst[i] = (uint8_t) ((q[i] & 0xF) | ((q[i + half] & 0xF) << 4));
}

static void
get_nibbles (const uint8_t *src, uint8_t q[64], int n_blocks)
{
  const int half = n_blocks == 2 ? 32 : 16;

  for (int i = 0; i < half; i++)
    {
      q[i] = src[i] & 0xF;
      q[i + half] = src[i] >> 4;
    }
}

bool
lk_pack_row (lk_type type, void *row, int64_t n, void *tmp)
{
  const lk_type p = lk_type_packed (type);
  const int64_t nb = n / 32;

  if (p == type || n % 32 != 0)
    return false;
  memcpy (tmp, row, lk_row_size (type, n));
  for (int64_t b = 0; b < nb; b += 2)
    {
      const parts out = parts_of (p, row, nb, b);
      const int64_t gend = out.first + LK_PACK_GROUP < nb ? out.first + LK_PACK_GROUP : nb;
      const int k = gend - b >= 2 ? 2 : 1;
      const int64_t j0 = b - out.first;
      uint8_t q[64];
      for (int j = 0; j < k; j++)
        {
          lk_half d, m;
          uint32_t qh;
          read_gguf_block (type, tmp, b + j, q + 32 * j, &d, &m, &qh);
          memcpy (out.d + 2 * (j0 + j), &d, 2);
          if (out.m)
            memcpy (out.m + 2 * (j0 + j), &m, 2);
          if (out.qh)
            memcpy (out.qh + 4 * (j0 + j), &qh, 4);
        }
      if (p == LK_TYPE_Q8_0_P)
        memcpy (out.qs + 32 * j0, q, (size_t) (32 * k));
      else
        put_nibbles (out.qs + 16 * j0, q, k);
      if (k == 1)
        b--; /* a lone last block of its group: the next group starts at b + 1 */
    }
  return true;
}

bool
lk_unpack_row (lk_type p, const void *src, void *dst, int64_t n)
{
  const lk_type t = lk_type_unpacked (p);
  const int64_t nb = n / 32;

  if (p == t || n % 32 != 0)
    return false;
  for (int64_t b = 0; b < nb; b += 2)
    {
      const parts in = parts_of (p, (void *) src, nb, b);
      const int64_t gend = in.first + LK_PACK_GROUP < nb ? in.first + LK_PACK_GROUP : nb;
      const int k = gend - b >= 2 ? 2 : 1;
      const int64_t j0 = b - in.first;
      uint8_t q[64];
      if (p == LK_TYPE_Q8_0_P)
        memcpy (q, in.qs + 32 * j0, (size_t) (32 * k));
      else
        get_nibbles (in.qs + 16 * j0, q, k);
      for (int j = 0; j < k; j++)
        {
          lk_half d, m = 0;
          uint32_t qh = 0;
          memcpy (&d, in.d + 2 * (j0 + j), 2);
          if (in.m)
            memcpy (&m, in.m + 2 * (j0 + j), 2);
          if (in.qh)
            memcpy (&qh, in.qh + 4 * (j0 + j), 4);
          write_gguf_block (t, dst, b + j, q + 32 * j, d, m, qh);
        }
      if (k == 1)
        b--;
    }
  return true;
}

void
lk_packed_levels (lk_type p, const void *row, int64_t n, int64_t b, int q[32])
{
  const int64_t nb = n / 32;
  const parts in = parts_of (p, (void *) row, nb, b);
  const int64_t j = b - in.first;
  const int64_t gend = in.first + LK_PACK_GROUP < nb ? in.first + LK_PACK_GROUP : nb;
  const int64_t pair = j & ~(int64_t) 1;
  const int k = gend - (in.first + pair) >= 2 ? 2 : 1;

  if (p == LK_TYPE_Q8_0_P)
    {
      for (int i = 0; i < 32; i++)
        q[i] = ((const int8_t *) in.qs)[32 * j + i];
      return;
    }
  {
    uint8_t all[64];
    get_nibbles (in.qs + 16 * pair, all, k);
    for (int i = 0; i < 32; i++)
      q[i] = all[32 * (j - pair) + i];
  }
  if (in.qh)
    {
      uint32_t qh;
      memcpy (&qh, in.qh + 4 * j, 4);
      for (int i = 0; i < 32; i++)
        q[i] |= (int) ((qh >> i) & 1) << 4;
    }
}

float
lk_packed_d (lk_type p, const void *row, int64_t n, int64_t b)
{
  const parts in = parts_of (p, (void *) row, n / 32, b);
  lk_half d;

  memcpy (&d, in.d + 2 * (b - in.first), 2);
  return lk_half_to_f32 (d);
}

float
lk_packed_m (lk_type p, const void *row, int64_t n, int64_t b)
{
  const parts in = parts_of (p, (void *) row, n / 32, b);
  lk_half m;

  if (in.m == NULL)
    return 0.0f;
  memcpy (&m, in.m + 2 * (b - in.first), 2);
  return lk_half_to_f32 (m);
}

size_t
lk_x16_tile_bytes (lk_type x16)
{
  return 16 * lk_type_get_traits (x16)->type_size;
}

/* A K-quant block as segments: 4-byte groups that become lane r of
 * consecutive 64-byte vectors, or half-precision fields gathered per row. */
typedef struct
{
  size_t src;   /* offset in the row's block */
  size_t dst;   /* offset in the tile */
  int groups;   /* 4-byte groups, or 0 for one 2-byte field */
} k_segment;

static const k_segment q4_K_segments[] = {
  { 4, 0, 3 },            /* the 12 packed scale bytes */
  { 0, 192, 0 },          /* d */
  { 2, 224, 0 },          /* dmin */
  { 16, 256, 32 },        /* qs: vector 8 p + v holds qs[32 p + 4 v .. + 3] */
};

static const k_segment q6_K_segments[] = {
  { 192, 0, 4 },          /* the 16 scales */
  { 208, 256, 0 },        /* d */
  /* For each half h: its 8 vectors of qh, then of ql with s = 0 and 1. */
  { 128, 288, 8 },        /* qh[4 v ..] */
  { 0, 288 + 512, 8 },    /* ql[4 v ..] */
  { 32, 288 + 1024, 8 },  /* ql[32 + 4 v ..] */
  { 160, 1824, 8 },       /* qh[32 + 4 v ..] */
  { 64, 1824 + 512, 8 },  /* ql[64 + 4 v ..] */
  { 96, 1824 + 1024, 8 }, /* ql[96 + 4 v ..] */
};

/* IQ4_XS: 8 sub-blocks of 32 whose 16 nibble bytes each are laid out as
 * IQ4_NL's (4 vectors a sub-block), after the 16 rows' d, high and low scale
 * bits. */
static const k_segment iq4_xs_segments[] = {
  { 0, 0, 0 },    /* d */
  { 2, 32, 0 },   /* scales_h */
  { 4, 64, 1 },   /* scales_l: one 4-byte group */
  { 8, 128, 32 }, /* qs: vector 4 j + g holds bytes 4 g .. + 3 of sub-block j */
};

/* Copies row r's block between its GGUF bytes and a tile (to_tile: which way). */
static void
k_x16_copy (lk_type x16, uint8_t *tile, uint8_t *block, int r, bool to_tile)
{
  const k_segment *seg = x16 == LK_TYPE_Q4_K_X16   ? q4_K_segments
                         : x16 == LK_TYPE_Q6_K_X16 ? q6_K_segments
                                                   : iq4_xs_segments;
  const size_t n = x16 == LK_TYPE_Q4_K_X16   ? sizeof q4_K_segments / sizeof *seg
                   : x16 == LK_TYPE_Q6_K_X16 ? sizeof q6_K_segments / sizeof *seg
                                             : sizeof iq4_xs_segments / sizeof *seg;

  for (size_t i = 0; i < n; i++)
    {
      if (seg[i].groups == 0)
        {
          uint8_t *t = tile + seg[i].dst + 2 * (size_t) r;
          if (to_tile)
            memcpy (t, block + seg[i].src, 2);
          else
            memcpy (block + seg[i].src, t, 2);
          continue;
        }
      for (int g = 0; g < seg[i].groups; g++)
        {
          uint8_t *t = tile + seg[i].dst + 64 * (size_t) g + 4 * (size_t) r;
          uint8_t *b = block + seg[i].src + 4 * (size_t) g;
          if (to_tile)
            memcpy (t, b, 4);
          else
            memcpy (b, t, 4);
        }
    }
}

/* The bytes of a 32-element block's scale: MXFP4's is one exponent byte. */
static size_t
x16_scale_bytes (lk_type x16)
{
  return x16 == LK_TYPE_MXFP4_X16 ? 1 : 2;
}

static bool
is_k_x16 (lk_type x16)
{
  return x16 == LK_TYPE_Q4_K_X16 || x16 == LK_TYPE_Q6_K_X16 || x16 == LK_TYPE_IQ4_XS_X16;
}

bool
lk_x16_pack (lk_type type, void *rows, int64_t n, void *tmp)
{
  const lk_type x = lk_type_interleaved (type);
  const size_t row = lk_row_size (type, n);
  const int64_t nb = n / 32;

  if (x == type || n % lk_type_get_traits (type)->block_size != 0)
    return false;
  memcpy (tmp, rows, 16 * row);
  if (is_k_x16 (x))
    {
      const size_t bs = lk_type_get_traits (type)->type_size;
      for (int64_t b = 0; b < n / LK_QK_K; b++)
        for (int r = 0; r < 16; r++)
          k_x16_copy (x, (uint8_t *) rows + (size_t) b * 16 * bs,
                      (uint8_t *) tmp + (size_t) r * row + (size_t) b * bs, r, true);
      return true;
    }
  /* A GGUF block is its scale (d, or MXFP4's exponent byte) then its
   * levels, and a 4-bit type's byte e already holds elements e and e + 16:
   * the scales of the 16 rows go first, then whole 4-byte groups move to
   * lane r (Q8_0's with the sign bit flipped). */
  for (int64_t b = 0; b < nb; b++)
    {
      uint8_t *tile = (uint8_t *) rows + (size_t) b * lk_x16_tile_bytes (x);
      const size_t bs = lk_type_get_traits (type)->type_size, sb = x16_scale_bytes (x);
      const int groups = x == LK_TYPE_Q8_0_X16 ? 8 : 4;
      const uint32_t flip = x == LK_TYPE_Q8_0_X16 ? 0x80808080u : 0;
      for (int r = 0; r < 16; r++)
        {
          const uint8_t *block = (const uint8_t *) tmp + (size_t) r * row + (size_t) b * bs;
          memcpy (tile + sb * r, block, sb);
          for (int j = 0; j < groups; j++)
            {
              uint32_t g;
              memcpy (&g, block + sb + 4 * j, 4);
              g ^= flip;
              memcpy (tile + 16 * sb + 64 * j + 4 * r, &g, 4);
            }
        }
    }
  return true;
}

void
lk_x16_row (lk_type x16, const void *group, int64_t n, int r, void *dst)
{
  const lk_type t = lk_type_unpacked (x16);

  if (is_k_x16 (x16))
    {
      const size_t bs = lk_type_get_traits (t)->type_size;
      for (int64_t b = 0; b < n / LK_QK_K; b++)
        k_x16_copy (x16, (uint8_t *) group + (size_t) b * 16 * bs, (uint8_t *) dst + (size_t) b * bs, r,
                    false);
      return;
    }
  if (x16 == LK_TYPE_IQ4_NL_X16 || x16 == LK_TYPE_MXFP4_X16)
    {
      /* Scale and 16 bytes of nibbles, as Q4_0's but for the scale's size. */
      const size_t bs = lk_type_get_traits (t)->type_size, sb = x16_scale_bytes (x16);
      for (int64_t b = 0; b < n / 32; b++)
        {
          const uint8_t *tile = (const uint8_t *) group + (size_t) b * lk_x16_tile_bytes (x16);
          uint8_t *block = (uint8_t *) dst + (size_t) b * bs;
          memcpy (block, tile + sb * r, sb);
          for (int j = 0; j < 4; j++)
            memcpy (block + sb + 4 * j, tile + 16 * sb + 64 * j + 4 * (size_t) r, 4);
        }
      return;
    }
  for (int64_t b = 0; b < n / 32; b++)
    {
      const uint8_t *tile = (const uint8_t *) group + (size_t) b * lk_x16_tile_bytes (x16);
      uint8_t q[32];
      lk_half d;
      memcpy (&d, tile + 2 * r, 2);
      if (x16 == LK_TYPE_Q8_0_X16)
        for (int e = 0; e < 32; e++)
          q[e] = (uint8_t) (tile[32 + 64 * (e / 4) + 4 * r + e % 4] ^ 0x80);
      else
        for (int e = 0; e < 16; e++)
          {
            const uint8_t v = tile[32 + 64 * (e / 4) + 4 * r + e % 4];
            q[e] = v & 0xF;
            q[e + 16] = v >> 4;
          }
      write_gguf_block (t, dst, b, q, d, 0, 0);
    }
}
