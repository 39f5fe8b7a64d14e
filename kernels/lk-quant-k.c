/* SPDX-License-Identifier: MIT */
/* Reference quantizers of the K-quant formats (256-element super-blocks).
 *
 * Each super-block is split into sub-blocks with their own scale (and, for
 * the asymmetric formats, minimum); those are themselves quantized against
 * one or two super-block scales. The quantized levels of a sub-block are
 * chosen by a small search over candidate scales, each refined by weighted
 * least squares, keeping the one with the least weighted error. The weights
 * are the importance of each element: the caller's (activation statistics)
 * or, without them, |x| plus the sub-block's RMS, which favours the large
 * values that matter most to a dot product.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "lk-half.h"
#include "lk-quant.h"

static inline int
nearest_int (float f)
{
  return (int) lrintf (f);
}

static inline int
clampi (int v, int lo, int hi)
{
  return v < lo ? lo : v > hi ? hi : v;
}

/* Importance of each element of a sub-block. */
static void
element_weights (const float *x, const float *imp, int n, float *w)
{
  float sum2 = 0.0f;

  for (int i = 0; i < n; i++)
    sum2 += x[i] * x[i];
  if (imp != NULL)
    {
      const float sigma2 = sum2 / n;
      for (int i = 0; i < n; i++)
        w[i] = imp[i] * sqrtf (sigma2 + x[i] * x[i]);
      return;
    }
  {
    const float av = sqrtf (sum2 / n);
    for (int i = 0; i < n; i++)
      w[i] = av + fabsf (x[i]);
  }
}

/* x ≈ scale * L - offset with L in [0, nmax]: returns scale, sets *offset
 * (>= 0) and L. */
static float
affine_search (int n, int nmax, const float *x, const float *w, uint8_t *L, float *offset,
               float rmin, float rdelta, int nstep)
{
  float min = x[0], max = x[0];
  float sum_w = 0.0f, sum_x = 0.0f;
  float best_scale, best_min, best_err = 0.0f;
  uint8_t Laux[32];

  for (int i = 0; i < n; i++)
    {
      if (x[i] < min)
        min = x[i];
      if (x[i] > max)
        max = x[i];
      sum_w += w[i];
      sum_x += w[i] * x[i];
    }
  if (min > 0.0f)
    min = 0.0f;
  if (max == min)
    {
      memset (L, 0, (size_t) n);
      *offset = -min;
      return 0.0f;
    }
  {
    const float iscale = nmax / (max - min);
    best_scale = 1.0f / iscale;
    best_min = min;
    for (int i = 0; i < n; i++)
      {
        L[i] = (uint8_t) clampi (nearest_int (iscale * (x[i] - min)), 0, nmax);
        const float diff = best_scale * L[i] + min - x[i];
        best_err += w[i] * diff * diff;
      }
  }
  for (int is = 0; is <= nstep; is++)
    {
      const float iscale = (rmin + rdelta * is + nmax) / (max - min);
      float sum_l = 0, sum_l2 = 0, sum_xl = 0, D, this_scale, this_min, err = 0.0f;
      for (int i = 0; i < n; i++)
        {
          const int l = clampi (nearest_int (iscale * (x[i] - min)), 0, nmax);
          Laux[i] = (uint8_t) l;
          sum_l += w[i] * l;
          sum_l2 += w[i] * l * l;
          sum_xl += w[i] * l * x[i];
        }
      D = sum_w * sum_l2 - sum_l * sum_l;
      if (D <= 0.0f)
        continue;
      this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0.0f)
        {
          this_min = 0.0f;
          this_scale = sum_l2 > 0 ? sum_xl / sum_l2 : 0.0f;
        }
      for (int i = 0; i < n; i++)
        {
          const float diff = this_scale * Laux[i] + this_min - x[i];
          err += w[i] * diff * diff;
        }
      if (err < best_err)
        {
          memcpy (L, Laux, (size_t) n);
          best_err = err;
          best_scale = this_scale;
          best_min = this_min;
        }
    }
  *offset = -best_min;
  return best_scale;
}

/* x ≈ scale * L with L in [-nmax, nmax - 1]; L is stored as L + nmax. */
static float
symmetric_search (int n, int nmax, const float *x, const float *w, int8_t *L)
{
  float max = 0.0f, amax = 0.0f, best_scale = 0.0f, best = -1.0f;

  for (int i = 0; i < n; i++)
    if (fabsf (x[i]) > amax)
      {
        amax = fabsf (x[i]);
        max = x[i];
      }
  if (amax < 1e-30f)
    {
      memset (L, 0, (size_t) n);
      return 0.0f;
    }
  for (int is = -9; is <= 9; is++)
    {
      /* The largest value maps to -nmax, the end with one more level. */
      const float iscale = -(nmax + 0.1f * is) / max;
      float sum_xl = 0.0f, sum_l2 = 0.0f;
      int8_t Laux[32];
      for (int i = 0; i < n; i++)
        {
          const int l = clampi (nearest_int (iscale * x[i]), -nmax, nmax - 1);
          Laux[i] = (int8_t) l;
          sum_xl += w[i] * x[i] * l;
          sum_l2 += w[i] * l * l;
        }
      /* The best scale for these levels leaves error sum(w x^2) - sum_xl^2 / sum_l2. */
      if (sum_l2 > 0.0f && sum_xl * sum_xl / sum_l2 > best)
        {
          best = sum_xl * sum_xl / sum_l2;
          best_scale = sum_xl / sum_l2;
          memcpy (L, Laux, (size_t) n);
        }
    }
  return best_scale;
}

/* Weighted error of a sub-block at integer scale ls and minimum lm (against
 * the super-block's d and dmin), its levels chosen best; fills L. */
static float
affine_error (const float *x, const float *w, int n, int nmax, float d, float dmin, int ls, int lm,
              uint8_t *L)
{
  const float dd = d * ls, dm = dmin * lm;
  float err = 0.0f;

  for (int i = 0; i < n; i++)
    {
      const int l = dd != 0.0f ? clampi (nearest_int ((x[i] + dm) / dd), 0, nmax) : 0;
      const float diff = dd * l - dm - x[i];
      L[i] = (uint8_t) l;
      err += w[i] * diff * diff;
    }
  return err;
}

/* The rounded integer scale and minimum of a sub-block are a good start, not
 * always the best pair: try their neighbours too. */
static void
refine_affine (const float *x, const float *w, int n, int nmax, int lmax, float d, float dmin,
               uint8_t *ls, uint8_t *lm, uint8_t *L)
{
  uint8_t Laux[32];
  float best = affine_error (x, w, n, nmax, d, dmin, *ls, *lm, L);
  const int ls0 = *ls, lm0 = *lm;

  for (int a = -1; a <= 1; a++)
    for (int b = -1; b <= 1; b++)
      {
        const int s = ls0 + a, m = lm0 + b;
        float err;
        if ((a == 0 && b == 0) || s < 0 || s > lmax || m < 0 || m > lmax)
          continue;
        err = affine_error (x, w, n, nmax, d, dmin, s, m, Laux);
        if (err < best)
          {
            best = err;
            *ls = (uint8_t) s;
            *lm = (uint8_t) m;
            memcpy (L, Laux, (size_t) n);
          }
      }
}

/* Q4_K and Q5_K pack 8 six-bit scales and 8 six-bit minimums in 12 bytes. */
static void
pack_scale_min_k4 (const uint8_t ls[8], const uint8_t lm[8], uint8_t out[12])
{
  memset (out, 0, 12);
  for (int j = 0; j < 8; j++)
    {
      if (j < 4)
        {
          out[j] |= ls[j];
          out[j + 4] |= lm[j];
        }
      else
        {
          out[j + 4] = (uint8_t) ((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
          out[j - 4] |= (uint8_t) ((ls[j] >> 4) << 6);
          out[j] |= (uint8_t) ((lm[j] >> 4) << 6);
        }
    }
}

/* Shared by Q4_K (nbits 4) and Q5_K (nbits 5): levels L (0..2^nbits-1) of
 * a super-block, and its d, dmin and packed scales. */
static void
quantize_affine_k4 (const float *x, const float *imp, int nbits, uint8_t L[LK_QK_K],
                    lk_half *d_out, lk_half *dmin_out, uint8_t packed[12])
{
  const int nmax = (1 << nbits) - 1;
  float scales[8], mins[8], w[32], max_scale = 0.0f, max_min = 0.0f;
  uint8_t ls[8], lm[8];

  for (int j = 0; j < 8; j++)
    {
      element_weights (x + 32 * j, imp ? imp + 32 * j : NULL, 32, w);
      scales[j] = affine_search (32, nmax, x + 32 * j, w, L + 32 * j, &mins[j],
                                 nbits == 4 ? -1.0f : -0.5f, 0.1f, nbits == 4 ? 20 : 15);
      if (scales[j] > max_scale)
        max_scale = scales[j];
      if (mins[j] > max_min)
        max_min = mins[j];
    }
  {
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++)
      {
        ls[j] = (uint8_t) clampi (nearest_int (inv_scale * scales[j]), 0, 63);
        lm[j] = (uint8_t) clampi (nearest_int (inv_min * mins[j]), 0, 63);
      }
  }
  *d_out = lk_f32_to_half (max_scale / 63.0f);
  *dmin_out = lk_f32_to_half (max_min / 63.0f);
  /* Final levels against the scales as they are stored. */
  {
    const float d = lk_half_to_f32 (*d_out), dmin = lk_half_to_f32 (*dmin_out);
    for (int j = 0; j < 8; j++)
      {
        element_weights (x + 32 * j, imp ? imp + 32 * j : NULL, 32, w);
        refine_affine (x + 32 * j, w, 32, nmax, 63, d, dmin, &ls[j], &lm[j], L + 32 * j);
      }
  }
  pack_scale_min_k4 (ls, lm, packed);
}

void
lk_quantize_row_q4_K_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q4_K *y = dst;
  uint8_t L[LK_QK_K];

  for (int64_t b = 0; b < n / LK_QK_K; b++, x += LK_QK_K, imp = imp ? imp + LK_QK_K : NULL)
    {
      quantize_affine_k4 (x, imp, 4, L, &y[b].d, &y[b].dmin, y[b].scales);
      for (int j = 0; j < LK_QK_K; j += 64)
        for (int l = 0; l < 32; l++)
          y[b].qs[j / 2 + l] = (uint8_t) (L[j + l] | (L[j + 32 + l] << 4));
    }
}

void
lk_quantize_row_q5_K_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q5_K *y = dst;
  uint8_t L[LK_QK_K];

  for (int64_t b = 0; b < n / LK_QK_K; b++, x += LK_QK_K, imp = imp ? imp + LK_QK_K : NULL)
    {
      quantize_affine_k4 (x, imp, 5, L, &y[b].d, &y[b].dmin, y[b].scales);
      memset (y[b].qh, 0, sizeof y[b].qh);
      for (int j = 0; j < LK_QK_K / 64; j++)
        {
          const uint8_t u1 = (uint8_t) (1 << (2 * j)), u2 = (uint8_t) (2 << (2 * j));
          for (int l = 0; l < 32; l++)
            {
              const uint8_t lo = L[64 * j + l], hi = L[64 * j + 32 + l];
              y[b].qs[32 * j + l] = (uint8_t) ((lo & 0xF) | ((hi & 0xF) << 4));
              if (lo > 15)
                y[b].qh[l] |= u1;
              if (hi > 15)
                y[b].qh[l] |= u2;
            }
        }
    }
}

void
lk_quantize_row_q6_K_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q6_K *y = dst;

  for (int64_t b = 0; b < n / LK_QK_K; b++, x += LK_QK_K, imp = imp ? imp + LK_QK_K : NULL)
    {
      float scales[16], w[16], max_scale = 0.0f, amax = 0.0f;
      int8_t L[LK_QK_K];
      uint8_t U[LK_QK_K];

      for (int j = 0; j < 16; j++)
        {
          element_weights (x + 16 * j, imp ? imp + 16 * j : NULL, 16, w);
          scales[j] = symmetric_search (16, 32, x + 16 * j, w, L + 16 * j);
          if (fabsf (scales[j]) > amax)
            {
              amax = fabsf (scales[j]);
              max_scale = scales[j];
            }
        }
      if (amax < 1e-30f)
        {
          memset (&y[b], 0, sizeof y[b]);
          continue;
        }
      {
        const float iscale = -128.0f / max_scale;
        y[b].d = lk_f32_to_half (1.0f / iscale);
        for (int j = 0; j < 16; j++)
          y[b].scales[j] = (int8_t) clampi (nearest_int (iscale * scales[j]), -128, 127);
      }
      for (int j = 0; j < 16; j++)
        {
          const float d = lk_half_to_f32 (y[b].d) * y[b].scales[j];
          for (int i = 0; i < 16; i++)
            {
              const int l = d != 0.0f ? clampi (nearest_int (x[16 * j + i] / d), -32, 31) : 0;
              U[16 * j + i] = (uint8_t) (l + 32);
            }
        }
      for (int h = 0; h < 2; h++)
        {
          uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
          const uint8_t *u = U + 128 * h;
          for (int l = 0; l < 32; l++)
            {
              ql[l] = (uint8_t) ((u[l] & 0xF) | ((u[l + 64] & 0xF) << 4));
              ql[l + 32] = (uint8_t) ((u[l + 32] & 0xF) | ((u[l + 96] & 0xF) << 4));
              qh[l] = (uint8_t) ((u[l] >> 4) | ((u[l + 32] >> 4) << 2) | ((u[l + 64] >> 4) << 4)
                                 | ((u[l + 96] >> 4) << 6));
            }
        }
    }
}

void
lk_quantize_row_q3_K_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q3_K *y = dst;

  for (int64_t b = 0; b < n / LK_QK_K; b++, x += LK_QK_K, imp = imp ? imp + LK_QK_K : NULL)
    {
      float scales[16], w[16], max_scale = 0.0f, amax = 0.0f;
      int8_t L[LK_QK_K];
      int8_t ls[16];
      uint8_t U[LK_QK_K];

      memset (&y[b], 0, sizeof y[b]);
      for (int j = 0; j < 16; j++)
        {
          element_weights (x + 16 * j, imp ? imp + 16 * j : NULL, 16, w);
          scales[j] = symmetric_search (16, 4, x + 16 * j, w, L + 16 * j);
          if (fabsf (scales[j]) > amax)
            {
              amax = fabsf (scales[j]);
              max_scale = scales[j];
            }
        }
      if (amax < 1e-30f)
        continue;
      {
        const float iscale = -32.0f / max_scale;
        for (int j = 0; j < 16; j++)
          ls[j] = (int8_t) clampi (nearest_int (iscale * scales[j]), -32, 31);
        y[b].d = lk_f32_to_half (1.0f / iscale);
      }
      /* Six-bit scales (stored + 32): low nibbles in bytes 0..7, two high
       * bits each in bytes 8..11. */
      for (int j = 0; j < 16; j++)
        {
          const int v = ls[j] + 32;
          if (j < 8)
            y[b].scales[j] |= (uint8_t) (v & 0xF);
          else
            y[b].scales[j - 8] |= (uint8_t) ((v & 0xF) << 4);
          y[b].scales[8 + j % 4] |= (uint8_t) ((v >> 4) << (2 * (j / 4)));
        }
      for (int j = 0; j < 16; j++)
        {
          const float d = lk_half_to_f32 (y[b].d) * ls[j];
          for (int i = 0; i < 16; i++)
            {
              const int l = d != 0.0f ? clampi (nearest_int (x[16 * j + i] / d), -4, 3) : 0;
              U[16 * j + i] = (uint8_t) (l + 4);
            }
        }
      for (int h = 0; h < 2; h++)
        for (int js = 0; js < 4; js++)
          for (int l = 0; l < 32; l++)
            {
              const uint8_t v = U[128 * h + 32 * js + l];
              y[b].qs[32 * h + l] |= (uint8_t) ((v & 3) << (2 * js));
              if (v > 3)
                y[b].hmask[l] |= (uint8_t) (1 << (4 * h + js));
            }
    }
}

void
lk_quantize_row_q2_K_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q2_K *y = dst;

  for (int64_t b = 0; b < n / LK_QK_K; b++, x += LK_QK_K, imp = imp ? imp + LK_QK_K : NULL)
    {
      float scales[16], mins[16], w[16], max_scale = 0.0f, max_min = 0.0f;
      uint8_t L[LK_QK_K], ls[16], lm[16];

      memset (&y[b], 0, sizeof y[b]);
      for (int j = 0; j < 16; j++)
        {
          element_weights (x + 16 * j, imp ? imp + 16 * j : NULL, 16, w);
          scales[j] = affine_search (16, 3, x + 16 * j, w, L + 16 * j, &mins[j], -0.5f, 0.1f, 15);
          if (scales[j] > max_scale)
            max_scale = scales[j];
          if (mins[j] > max_min)
            max_min = mins[j];
        }
      {
        const float inv_scale = max_scale > 0 ? 15.0f / max_scale : 0.0f;
        const float inv_min = max_min > 0 ? 15.0f / max_min : 0.0f;
        for (int j = 0; j < 16; j++)
          {
            ls[j] = (uint8_t) clampi (nearest_int (inv_scale * scales[j]), 0, 15);
            lm[j] = (uint8_t) clampi (nearest_int (inv_min * mins[j]), 0, 15);
            y[b].scales[j] = (uint8_t) (ls[j] | (lm[j] << 4));
          }
        y[b].d = lk_f32_to_half (max_scale / 15.0f);
        y[b].dmin = lk_f32_to_half (max_min / 15.0f);
      }
      for (int j = 0; j < 16; j++)
        {
          element_weights (x + 16 * j, imp ? imp + 16 * j : NULL, 16, w);
          refine_affine (x + 16 * j, w, 16, 3, 15, lk_half_to_f32 (y[b].d),
                         lk_half_to_f32 (y[b].dmin), &ls[j], &lm[j], L + 16 * j);
          y[b].scales[j] = (uint8_t) (ls[j] | (lm[j] << 4));
        }
      for (int h = 0; h < 2; h++)
        for (int js = 0; js < 4; js++)
          for (int l = 0; l < 32; l++)
            y[b].qs[32 * h + l] |= (uint8_t) (L[128 * h + 32 * js + l] << (2 * js));
    }
}

void
lk_quantize_row_q2_K_ref (const float *x, void *y, int64_t n)
{
  lk_quantize_row_q2_K_imp (x, y, n, NULL);
}

void
lk_quantize_row_q3_K_ref (const float *x, void *y, int64_t n)
{
  lk_quantize_row_q3_K_imp (x, y, n, NULL);
}

void
lk_quantize_row_q4_K_ref (const float *x, void *y, int64_t n)
{
  lk_quantize_row_q4_K_imp (x, y, n, NULL);
}

void
lk_quantize_row_q5_K_ref (const float *x, void *y, int64_t n)
{
  lk_quantize_row_q5_K_imp (x, y, n, NULL);
}

void
lk_quantize_row_q6_K_ref (const float *x, void *y, int64_t n)
{
  lk_quantize_row_q6_K_imp (x, y, n, NULL);
}

/* 32-element formats weighted by importance -------------------------------- */

/* Low nibbles of elements 0..15, high nibbles of 16..31; bit 4 of element j
 * in bit j of qh (when qh is given). */
static void
pack_nibbles (const uint8_t *u, uint8_t qs[16], uint8_t qh[4])
{
  uint32_t h = 0;

  for (int j = 0; j < 16; j++)
    {
      qs[j] = (uint8_t) ((u[j] & 0x0F) | ((u[j + 16] & 0x0F) << 4));
      h |= (uint32_t) ((u[j] >> 4) & 1) << j;
      h |= (uint32_t) ((u[j + 16] >> 4) & 1) << (j + 16);
    }
  if (qh != NULL)
    memcpy (qh, &h, sizeof h);
}

/* x ≈ d * L with L in [-nmax, nmax - 1], stored as L + nmax. */
static float
symmetric_block (const float *x, const float *imp, int nmax, uint8_t u[32])
{
  float w[32];
  int8_t L[32];
  float d;

  element_weights (x, imp, 32, w);
  d = symmetric_search (32, nmax, x, w, L);
  for (int j = 0; j < 32; j++)
    u[j] = (uint8_t) (L[j] + nmax);
  return d;
}

/* x ≈ d * L + m with L in [0, nmax]. */
static float
affine_block (const float *x, const float *imp, int nmax, uint8_t u[32], float *m)
{
  float w[32], offset;
  float d;

  element_weights (x, imp, 32, w);
  d = affine_search (32, nmax, x, w, u, &offset, -0.9f, 0.05f, 36);
  *m = -offset;
  return d;
}

void
lk_quantize_row_q4_0_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q4_0 *y = dst;
  uint8_t u[32];

  for (int64_t i = 0; i < n / 32; i++)
    {
      y[i].d = lk_f32_to_half (symmetric_block (x + 32 * i, imp ? imp + 32 * i : NULL, 8, u));
      pack_nibbles (u, y[i].qs, NULL);
    }
}

void
lk_quantize_row_q5_0_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q5_0 *y = dst;
  uint8_t u[32];

  for (int64_t i = 0; i < n / 32; i++)
    {
      y[i].d = lk_f32_to_half (symmetric_block (x + 32 * i, imp ? imp + 32 * i : NULL, 16, u));
      pack_nibbles (u, y[i].qs, y[i].qh);
    }
}

void
lk_quantize_row_q8_0_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q8_0 *y = dst;
  uint8_t u[32];

  for (int64_t i = 0; i < n / 32; i++)
    {
      y[i].d = lk_f32_to_half (symmetric_block (x + 32 * i, imp ? imp + 32 * i : NULL, 128, u));
      for (int j = 0; j < 32; j++)
        y[i].qs[j] = (int8_t) (u[j] - 128);
    }
}

void
lk_quantize_row_q4_1_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q4_1 *y = dst;
  uint8_t u[32];
  float m;

  for (int64_t i = 0; i < n / 32; i++)
    {
      y[i].d = lk_f32_to_half (affine_block (x + 32 * i, imp ? imp + 32 * i : NULL, 15, u, &m));
      y[i].m = lk_f32_to_half (m);
      pack_nibbles (u, y[i].qs, NULL);
    }
}

void
lk_quantize_row_q5_1_imp (const float *x, void *dst, int64_t n, const float *imp)
{
  lk_block_q5_1 *y = dst;
  uint8_t u[32];
  float m;

  for (int64_t i = 0; i < n / 32; i++)
    {
      y[i].d = lk_f32_to_half (affine_block (x + 32 * i, imp ? imp + 32 * i : NULL, 31, u, &m));
      y[i].m = lk_f32_to_half (m);
      pack_nibbles (u, y[i].qs, y[i].qh);
    }
}
