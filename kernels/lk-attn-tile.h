/* SPDX-License-Identifier: MIT */
/* Tiled attention (lk_kernels.attn), written once with the compilers'
 * vector extensions and included by every version with its own width.
 *
 * The cache is read a block of positions at a time and widened to floats
 * once, for every query of the call (a GQA group, several tokens); the
 * softmax is kept online (running maximum and sum), so a block is read once
 * and the call's result is a partial state that merges with others.
 *
 * Two ways through a block, by the number of queries m:
 * - m >= W: W queries side by side in a vector. Scores, their maximum, the
 *   exponentials and the weighted values are all plain multiply-adds of a
 *   query vector by one broadcast cache value: no shuffles at all.
 * - m < W (decoding one token of a small group): W positions side by side.
 *   Each score is a dot product over the head; W of them are summed across
 *   lanes together by a tree of shuffles, a few instructions a score.
 *
 * The including file defines LK_ATT_W (lanes: 16, 8 or 4) and
 *   static void att_f16_row (const lk_half *x, float *y, int n);
 *   static void att_q8_0_row (const lk_block_q8_0 *x, float *y, int n);
 * (y has room for n rounded up to 16) and includes lk-kernels-private.h
 * first. */
#pragma once

#include <math.h>
#include <string.h>

typedef float att_v __attribute__ ((vector_size (4 * LK_ATT_W)));
typedef int32_t att_vi __attribute__ ((vector_size (4 * LK_ATT_W)));

#define ATT_SH __builtin_shufflevector

static inline att_v
att_splat (float x)
{
  return (att_v){ 0 } + x;
}

static inline att_v
att_select (att_vi mask, att_v a, att_v b)
{
  return (att_v) (((att_vi) a & mask) | ((att_vi) b & ~mask));
}

static inline att_v
att_max (att_v a, att_v b)
{
  return att_select (a > b, a, b);
}

/* Across the lanes: halves folded onto halves. */
#if LK_ATT_W == 16
#define ATT_HALVES(x) ATT_SH (x, x, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7)
#define ATT_QUARTERS(x) ATT_SH (x, x, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11)
#define ATT_PAIRS(x) ATT_SH (x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13)
#define ATT_NEXT(x) ATT_SH (x, x, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14)
#elif LK_ATT_W == 8
#define ATT_HALVES(x) x
#define ATT_QUARTERS(x) ATT_SH (x, x, 4, 5, 6, 7, 0, 1, 2, 3)
#define ATT_PAIRS(x) ATT_SH (x, x, 2, 3, 0, 1, 6, 7, 4, 5)
#define ATT_NEXT(x) ATT_SH (x, x, 1, 0, 3, 2, 5, 4, 7, 6)
#else
#define ATT_HALVES(x) x
#define ATT_QUARTERS(x) x
#define ATT_PAIRS(x) ATT_SH (x, x, 2, 3, 0, 1)
#define ATT_NEXT(x) ATT_SH (x, x, 1, 0, 3, 2)
#endif

static inline float
att_hmax (att_v a)
{
  if (LK_ATT_W == 16)
    a = att_max (a, ATT_HALVES (a));
  if (LK_ATT_W >= 8)
    a = att_max (a, ATT_QUARTERS (a));
  a = att_max (a, ATT_PAIRS (a));
  a = att_max (a, ATT_NEXT (a));
  return a[0];
}

static inline float
att_hsum (att_v a)
{
  if (LK_ATT_W == 16)
    a += ATT_HALVES (a);
  if (LK_ATT_W >= 8)
    a += ATT_QUARTERS (a);
  a += ATT_PAIRS (a);
  a += ATT_NEXT (a);
  return a[0];
}

/* e^x for x <= 0 (scores less their maximum): 2^n e^r with |r| <= ln2/2 and
 * a degree-6 polynomial for e^r. Below -88 the power 2^-127 is built as 0,
 * so -inf (a masked score) gives exactly 0. */
static inline att_v
att_exp (att_v x)
{
  const att_v magic = att_splat (12582912.0f); /* 1.5 * 2^23: rounds to an integer */
  att_v t, n, r, p;

  x = att_max (x, att_splat (-88.0f));
  t = x * 1.44269504088896341f + magic;
  n = t - magic;
  r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  p = r * (1.0f / 720) + (1.0f / 120);
  p = p * r + (1.0f / 24);
  p = p * r + (1.0f / 6);
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * (att_v) ((((att_vi) t - 0x4B400000) + 127) << 23);
}

/* Sums of W vectors, lane i of the result the sum of all lanes of a[i]:
 * pairs are folded halves against halves, the halves of the pair kept side
 * by side, until each lane holds one vector's sum. */
#if LK_ATT_W == 16
static inline att_v
att_fold8 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
         + ATT_SH (x, y, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}
static inline att_v
att_fold4 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
         + ATT_SH (x, y, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}
static inline att_v
att_fold2 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29)
         + ATT_SH (x, y, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
}
static inline att_v
att_fold1 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
         + ATT_SH (x, y, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
#elif LK_ATT_W == 8
static inline att_v
att_fold4 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 1, 2, 3, 8, 9, 10, 11) + ATT_SH (x, y, 4, 5, 6, 7, 12, 13, 14, 15);
}
static inline att_v
att_fold2 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 1, 4, 5, 8, 9, 12, 13) + ATT_SH (x, y, 2, 3, 6, 7, 10, 11, 14, 15);
}
static inline att_v
att_fold1 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 2, 4, 6, 8, 10, 12, 14) + ATT_SH (x, y, 1, 3, 5, 7, 9, 11, 13, 15);
}
#elif LK_ATT_W == 4
static inline att_v
att_fold2 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 1, 4, 5) + ATT_SH (x, y, 2, 3, 6, 7);
}
static inline att_v
att_fold1 (att_v x, att_v y)
{
  return ATT_SH (x, y, 0, 2, 4, 6) + ATT_SH (x, y, 1, 3, 5, 7);
}
#else
#error "LK_ATT_W must be 16, 8 or 4"
#endif

static inline att_v
att_sums (att_v *a)
{
#if LK_ATT_W == 16
  _Pragma ("GCC unroll 8")
  for (int k = 0; k < 8; k++)
    a[k] = att_fold8 (a[2 * k], a[2 * k + 1]);
#endif
#if LK_ATT_W >= 8
  _Pragma ("GCC unroll 8")
  for (int k = 0; k < 4; k++)
    a[k] = att_fold4 (a[2 * k], a[2 * k + 1]);
#endif
  _Pragma ("GCC unroll 8")
  for (int k = 0; k < 2; k++)
    a[k] = att_fold2 (a[2 * k], a[2 * k + 1]);
  return att_fold1 (a[0], a[1]);
}

/* The work area, carved as lk_attn_work_size counts it: every part a
 * multiple of 16 floats from a 64-byte aligned start. att_head gives one
 * head's view of it. */
typedef struct
{
  int hdp, bk, mp, nv; /* head padded, positions a block, queries padded, vectors a head */
  int krow;            /* floats from one position to the next in kf, vf */
  float *kf, *vf;      /* [bk][heads][hdp]: the block's keys and values as floats */
  float *s;            /* [bk][W] or [2][bk]: scores, then their exponentials */
  float *q;            /* [heads][mp/W][hdp][W] queries side by side, or [heads][mp][hdp] */
  float *acc;          /* the same shape: accumulated values */
  float *mx, *l;       /* [heads][mp] */
} att_work;

static inline att_work
att_carve (const lk_attn_args *a)
{
  att_work w;
  float *p = a->work;
  const size_t nh = (size_t) a->heads;

  w.hdp = lk_attn_pad (a->hd);
  w.krow = a->heads * w.hdp;
  w.bk = lk_attn_block (w.krow);
  w.mp = lk_attn_pad (a->m);
  w.nv = w.hdp / LK_ATT_W;
  w.kf = p, p += (size_t) w.bk * w.krow;
  w.vf = p, p += (size_t) w.bk * w.krow;
  w.s = p, p += (size_t) w.bk * 16;
  w.q = p, p += nh * w.mp * w.hdp;
  w.acc = p, p += nh * w.mp * w.hdp;
  w.mx = p, p += nh * w.mp;
  w.l = p;
  return w;
}

/* Head h's part of the work area and of the call's queries and results. */
static inline att_work
att_head (const att_work *w, int h)
{
  att_work hw = *w;

  hw.kf += (size_t) h * w->hdp;
  hw.vf += (size_t) h * w->hdp;
  hw.q += (size_t) h * w->mp * w->hdp;
  hw.acc += (size_t) h * w->mp * w->hdp;
  hw.mx += (size_t) h * w->mp;
  hw.l += (size_t) h * w->mp;
  return hw;
}

static inline lk_attn_args
att_head_args (const lk_attn_args *a, int h)
{
  lk_attn_args ah = *a;

  ah.q += (size_t) h * a->m * a->hd;
  ah.max += (size_t) h * a->m;
  ah.sum += (size_t) h * a->m;
  ah.acc += (size_t) h * a->m * a->hd;
  return ah;
}

static inline void
att_row_f32 (const lk_attn_args *a, const void *row, float *out)
{
  if (a->kv_type == LK_TYPE_F16)
    att_f16_row (row, out, a->hd);
  else if (a->kv_type == LK_TYPE_Q8_0)
    att_q8_0_row (row, out, a->hd);
  else
    memcpy (out, row, (size_t) a->hd * sizeof (float));
}

/* Positions [b0, b0 + nb) of the cache as float rows, every head of the
 * call. A call over all the heads reads whole cache rows, which the
 * prefetchers follow; one head is a short piece of each row (128 bytes of 512
 * in TinyLlama's), so each row read also asks for the one ATT_AHEAD
 * positions on. */
#define ATT_AHEAD 24

static inline void
att_load_block (const lk_attn_args *a, const att_work *w, int b0, int nb)
{
  const size_t head_bytes = lk_row_size (a->kv_type, a->hd);
  const size_t used = head_bytes * (size_t) a->heads;

  for (int j = 0; j < nb; j++)
    {
      const size_t off = (size_t) (b0 + j) * a->row_bytes;
      if (b0 + j + ATT_AHEAD < a->k1 && used < a->row_bytes)
        for (size_t line = 0; line < used; line += 64)
          {
            __builtin_prefetch ((const uint8_t *) a->k + off + ATT_AHEAD * a->row_bytes + line);
            __builtin_prefetch ((const uint8_t *) a->v + off + ATT_AHEAD * a->row_bytes + line);
          }
      for (int h = 0; h < a->heads; h++)
        {
          att_row_f32 (a, (const uint8_t *) a->k + off + h * head_bytes, w->kf + (size_t) j * w->krow + h * w->hdp);
          att_row_f32 (a, (const uint8_t *) a->v + off + h * head_bytes, w->vf + (size_t) j * w->krow + h * w->hdp);
        }
    }
}

static inline void
att_softcap (const lk_attn_args *a, att_v *s)
{
  if (a->softcap > 0.0f)
    for (int i = 0; i < LK_ATT_W; i++)
      (*s)[i] = a->softcap * tanhf ((*s)[i] / a->softcap);
}

static inline bool
att_sees (const lk_attn_args *a, int i, int b0, int nb)
{
  return a->lo[i] < b0 + nb && a->hi[i] > b0;
}

/* --- W queries side by side ----------------------------------------------- */

static inline void
att_wide_block (const lk_attn_args *a, const att_work *w, int g, int b0, int nb)
{
  const att_v *qt = (const att_v *) (w->q + (size_t) g * w->hdp * LK_ATT_W);
  att_v *acc = (att_v *) (w->acc + (size_t) g * w->hdp * LK_ATT_W);
  att_v *s = (att_v *) w->s;
  att_v *mxp = (att_v *) (w->mx + g * LK_ATT_W), *lp = (att_v *) (w->l + g * LK_ATT_W);
  att_vi lo, hi;
  att_v bm = att_splat (-INFINITY), newm, safe, f, sum = { 0 };
  const int hd = a->hd;

  for (int i = 0; i < LK_ATT_W; i++)
    {
      const int qi = g * LK_ATT_W + i;
      lo[i] = qi < a->m ? a->lo[qi] : 0;
      hi[i] = qi < a->m ? a->hi[qi] : 0;
    }
  for (int j = 0; j < nb; j += 4)
    {
      const float *k0 = w->kf + (size_t) j * w->krow;
      att_v s0 = { 0 }, s1 = { 0 }, s2 = { 0 }, s3 = { 0 };
      for (int d = 0; d < hd; d++)
        {
          const att_v qd = qt[d];
          s0 += qd * k0[d];
          s1 += qd * k0[w->krow + d];
          s2 += qd * k0[2 * w->krow + d];
          s3 += qd * k0[3 * w->krow + d];
        }
      s[j] = s0, s[j + 1] = s1, s[j + 2] = s2, s[j + 3] = s3;
    }
  for (int j = 0; j < nb; j++)
    {
      const int p = b0 + j;
      att_v x = s[j] * a->scale;
      att_softcap (a, &x);
      x = att_select ((lo <= p) & (hi > p), x, att_splat (-INFINITY));
      s[j] = x;
      bm = att_max (bm, x);
    }
  newm = att_max (*mxp, bm);
  safe = att_select (newm == -INFINITY, att_splat (0.0f), newm);
  f = att_exp (*mxp - safe);
  for (int j = 0; j < nb; j++)
    {
      s[j] = att_exp (s[j] - safe);
      sum += s[j];
    }
  *lp = *lp * f + sum;
  *mxp = newm;
  for (int d = 0; d + 4 <= w->hdp; d += 4)
    {
      att_v a0 = acc[d] * f, a1 = acc[d + 1] * f, a2 = acc[d + 2] * f, a3 = acc[d + 3] * f;
      for (int j = 0; j < nb; j++)
        {
          const float *vj = w->vf + (size_t) j * w->krow + d;
          a0 += s[j] * vj[0];
          a1 += s[j] * vj[1];
          a2 += s[j] * vj[2];
          a3 += s[j] * vj[3];
        }
      acc[d] = a0, acc[d + 1] = a1, acc[d + 2] = a2, acc[d + 3] = a3;
    }
}

static void
att_wide_begin (const lk_attn_args *a, const att_work *w)
{
  memset (w->q, 0, (size_t) w->mp * w->hdp * sizeof (float));
  memset (w->acc, 0, (size_t) w->mp * w->hdp * sizeof (float));
  for (int i = 0; i < a->m; i++)
    for (int d = 0; d < a->hd; d++)
      w->q[((size_t) (i / LK_ATT_W) * w->hdp + d) * LK_ATT_W + i % LK_ATT_W] = a->q[(size_t) i * a->hd + d];
  for (int i = 0; i < w->mp; i++)
    w->mx[i] = -INFINITY, w->l[i] = 0.0f;
}

static void
att_wide_step (const lk_attn_args *a, const att_work *w, int b0, int nb)
{
  for (int g = 0; g < (a->m + LK_ATT_W - 1) / LK_ATT_W; g++)
    {
      bool any = false;
      for (int i = g * LK_ATT_W; i < a->m && i < (g + 1) * LK_ATT_W && !any; i++)
        any = att_sees (a, i, b0, nb);
      if (any)
        att_wide_block (a, w, g, b0, nb);
    }
}

static void
att_wide_end (const lk_attn_args *a, const att_work *w)
{
  for (int i = 0; i < a->m; i++)
    {
      const float *src = w->acc + (size_t) (i / LK_ATT_W) * w->hdp * LK_ATT_W + i % LK_ATT_W;
      a->max[i] = w->mx[i];
      a->sum[i] = w->l[i];
      for (int d = 0; d < a->hd; d++)
        a->acc[(size_t) i * a->hd + d] = src[(size_t) d * LK_ATT_W];
    }
}

/* --- W positions side by side --------------------------------------------- */

/* Folds scores s (nb of them) into query i's running maximum and sum; they
 * become their exponentials. Returns the factor earlier terms scale by. */
static inline float
att_narrow_softmax (att_work *w, float *sp, int i, int nb)
{
  att_v *s = (att_v *) sp, bm = att_splat (-INFINITY), sum = { 0 };
  const int nsv = (nb + LK_ATT_W - 1) / LK_ATT_W;
  float newm, f;

  for (int j = 0; j < nsv; j++)
    bm = att_max (bm, s[j]);
  newm = att_hmax (bm);
  newm = newm > w->mx[i] ? newm : w->mx[i];
  f = w->mx[i] == -INFINITY ? 0.0f : expf (w->mx[i] - newm);
  for (int j = 0; j < nsv; j++)
    {
      s[j] = att_exp (s[j] - newm);
      sum += s[j];
    }
  w->l[i] = w->l[i] * f + att_hsum (sum);
  w->mx[i] = newm;
  return f;
}

/* For heads of NV vectors, known when compiled (query, scores and
 * accumulated values in registers):
 * - att_scores_NV: query i's scores for positions [b0, b0 + nb) into sp,
 *   -inf where it does not see;
 * - att_values_NV: acc = acc * f + the weighted value rows;
 * - att_values2_NV: the same for two queries, each value row read once. */
#define ATT_DEFINE_NARROW(NV)                                                                    \
  static void att_scores_##NV (const lk_attn_args *a, const att_work *w, int i, int b0, int nb,  \
                               float *sp)                                                        \
  {                                                                                              \
    att_v q[NV], lane;                                                                           \
    const int lo = a->lo[i], hi = a->hi[i] < b0 + nb ? a->hi[i] : b0 + nb;                       \
    _Pragma ("GCC unroll 16")                                                                    \
    for (int c = 0; c < NV; c++)                                                                 \
      q[c] = ((const att_v *) (w->q + (size_t) i * w->hdp))[c];                                  \
    for (int l = 0; l < LK_ATT_W; l++)                                                           \
      lane[l] = (float) l;                                                                       \
    for (int j = 0; j < nb; j += LK_ATT_W)                                                       \
      {                                                                                          \
        att_v part[LK_ATT_W], x, p = lane + (float) (b0 + j);                                    \
        _Pragma ("GCC unroll 16")                                                                \
        for (int jj = 0; jj < LK_ATT_W; jj++)                                                    \
          {                                                                                      \
            const att_v *k = (const att_v *) (w->kf + (size_t) (j + jj) * w->krow);      \
            att_v t = q[0] * k[0];                                                               \
            _Pragma ("GCC unroll 16")                                                            \
            for (int c = 1; c < NV; c++)                                                         \
              t += q[c] * k[c];                                                                  \
            part[jj] = t;                                                                        \
          }                                                                                      \
        x = att_sums (part) * a->scale;                                                          \
        att_softcap (a, &x);                                                                     \
        ((att_v *) sp)[j / LK_ATT_W]                                                             \
          = att_select ((p >= (float) lo) & (p < (float) hi), x, att_splat (-INFINITY));         \
      }                                                                                          \
  }                                                                                              \
  static void att_values_##NV (const att_work *w, float *accp, const float *sp, float f, int nb) \
  {                                                                                              \
    att_v acc[NV];                                                                               \
    _Pragma ("GCC unroll 16")                                                                    \
    for (int c = 0; c < NV; c++)                                                                 \
      acc[c] = ((att_v *) accp)[c] * f;                                                          \
    for (int j = 0; j < nb; j++)                                                                 \
      {                                                                                          \
        const att_v *v = (const att_v *) (w->vf + (size_t) j * w->krow);                 \
        _Pragma ("GCC unroll 16")                                                                \
        for (int c = 0; c < NV; c++)                                                             \
          acc[c] += sp[j] * v[c];                                                                \
      }                                                                                          \
    _Pragma ("GCC unroll 16")                                                                    \
    for (int c = 0; c < NV; c++)                                                                 \
      ((att_v *) accp)[c] = acc[c];                                                              \
  }                                                                                              \
  static void att_values2_##NV (const att_work *w, float *acc0p, float *acc1p, const float *s0,  \
                                const float *s1, float f0, float f1, int nb)                     \
  {                                                                                              \
    att_v acc0[NV], acc1[NV];                                                                    \
    _Pragma ("GCC unroll 16")                                                                    \
    for (int c = 0; c < NV; c++)                                                                 \
      {                                                                                          \
        acc0[c] = ((att_v *) acc0p)[c] * f0;                                                     \
        acc1[c] = ((att_v *) acc1p)[c] * f1;                                                     \
      }                                                                                          \
    for (int j = 0; j < nb; j++)                                                                 \
      {                                                                                          \
        const att_v *v = (const att_v *) (w->vf + (size_t) j * w->krow);                 \
        _Pragma ("GCC unroll 16")                                                                \
        for (int c = 0; c < NV; c++)                                                             \
          {                                                                                      \
            acc0[c] += s0[j] * v[c];                                                             \
            acc1[c] += s1[j] * v[c];                                                             \
          }                                                                                      \
      }                                                                                          \
    _Pragma ("GCC unroll 16")                                                                    \
    for (int c = 0; c < NV; c++)                                                                 \
      {                                                                                          \
        ((att_v *) acc0p)[c] = acc0[c];                                                          \
        ((att_v *) acc1p)[c] = acc1[c];                                                          \
      }                                                                                          \
  }

ATT_DEFINE_NARROW (1)
ATT_DEFINE_NARROW (2)
ATT_DEFINE_NARROW (4)
ATT_DEFINE_NARROW (5)
ATT_DEFINE_NARROW (8)
ATT_DEFINE_NARROW (16)

typedef struct
{
  void (*scores) (const lk_attn_args *, const att_work *, int, int, int, float *);
  void (*values) (const att_work *, float *, const float *, float, int);
  void (*values2) (const att_work *, float *, float *, const float *, const float *, float, float, int);
} att_narrow_fns;

/* Heads of 16, 32, 64, 80, 128 and 256 floats at every width; NULL for the
 * others. Two queries share a pass over the values while both their
 * accumulators fit the registers (32 vector registers, AVX2's 16). */
#define ATT_PAIR_MAX (LK_ATT_W == 8 ? 4 : 8)

static inline att_narrow_fns
att_narrow_pick (int nv)
{
#define ATT_FNS(NV) \
  (att_narrow_fns){ att_scores_##NV, att_values_##NV, NV <= ATT_PAIR_MAX ? att_values2_##NV : NULL }
  switch (nv)
    {
    case 1: return ATT_FNS (1);
    case 2: return ATT_FNS (2);
    case 4: return ATT_FNS (4);
    case 5: return ATT_FNS (5);
    case 8: return ATT_FNS (8);
    case 16: return ATT_FNS (16);
    default: return (att_narrow_fns){ NULL, NULL, NULL };
    }
#undef ATT_FNS
}

/* Any other head: the same with the vector count a variable. */
static void
att_scores_any (const lk_attn_args *a, const att_work *w, int i, int b0, int nb, float *sp)
{
  const att_v *q = (const att_v *) (w->q + (size_t) i * w->hdp);
  const int lo = a->lo[i], hi = a->hi[i] < b0 + nb ? a->hi[i] : b0 + nb;
  att_vi lane;

  for (int l = 0; l < LK_ATT_W; l++)
    lane[l] = l;
  for (int j = 0; j < nb; j += LK_ATT_W)
    {
      att_v part[LK_ATT_W], x;
      att_vi p = lane + (b0 + j);
      for (int jj = 0; jj < LK_ATT_W; jj++)
        {
          const att_v *k = (const att_v *) (w->kf + (size_t) (j + jj) * w->krow);
          att_v t = { 0 };
          for (int c = 0; c < w->nv; c++)
            t += q[c] * k[c];
          part[jj] = t;
        }
      x = att_sums (part) * a->scale;
      att_softcap (a, &x);
      ((att_v *) sp)[j / LK_ATT_W] = att_select ((p >= lo) & (p < hi), x, att_splat (-INFINITY));
    }
}

static void
att_values_any (const att_work *w, float *accp, const float *sp, float f, int nb)
{
  att_v *acc = (att_v *) accp;

  for (int c = 0; c < w->nv; c++)
    acc[c] *= f;
  for (int j = 0; j < nb; j++)
    {
      const att_v *v = (const att_v *) (w->vf + (size_t) j * w->krow);
      for (int c = 0; c < w->nv; c++)
        acc[c] += sp[j] * v[c];
    }
}

static void
att_narrow_begin (const lk_attn_args *a, const att_work *w)
{
  memset (w->q, 0, (size_t) w->mp * w->hdp * sizeof (float));
  memset (w->acc, 0, (size_t) w->mp * w->hdp * sizeof (float));
  for (int i = 0; i < a->m; i++)
    {
      memcpy (w->q + (size_t) i * w->hdp, a->q + (size_t) i * a->hd, (size_t) a->hd * sizeof (float));
      w->mx[i] = -INFINITY, w->l[i] = 0.0f;
    }
}

static void
att_narrow_step (const lk_attn_args *a, att_work *w, att_narrow_fns fn, int b0, int nb)
{
  float *s0 = w->s, *s1 = w->s + w->bk; /* two queries' scores */
  int pending = -1;                      /* a query whose scores wait in s0 for a partner */
  float f0 = 0.0f;

  for (int i = 0; i < a->m; i++)
    {
      float *s = pending < 0 ? s0 : s1, f;
      if (!att_sees (a, i, b0, nb))
        continue;
      fn.scores (a, w, i, b0, nb, s);
      f = att_narrow_softmax (w, s, i, nb);
      if (fn.values2 == NULL)
        fn.values (w, w->acc + (size_t) i * w->hdp, s, f, nb);
      else if (pending < 0)
        pending = i, f0 = f;
      else
        {
          fn.values2 (w, w->acc + (size_t) pending * w->hdp, w->acc + (size_t) i * w->hdp, s0, s1, f0, f, nb);
          pending = -1;
        }
    }
  if (pending >= 0)
    fn.values (w, w->acc + (size_t) pending * w->hdp, s0, f0, nb);
}

static void
att_narrow_end (const lk_attn_args *a, const att_work *w)
{
  for (int i = 0; i < a->m; i++)
    {
      a->max[i] = w->mx[i], a->sum[i] = w->l[i];
      memcpy (a->acc + (size_t) i * a->hd, w->acc + (size_t) i * w->hdp, (size_t) a->hd * sizeof (float));
    }
}

static void
attn_tile (const lk_attn_args *a)
{
  const att_work w = att_carve (a);
  const bool wide = a->m >= LK_ATT_W;
  att_narrow_fns fn = att_narrow_pick (w.nv);

  if (fn.scores == NULL)
    fn = (att_narrow_fns){ att_scores_any, att_values_any, NULL };
  for (int h = 0; h < a->heads; h++)
    {
      const lk_attn_args ah = att_head_args (a, h);
      const att_work hw = att_head (&w, h);
      if (wide)
        att_wide_begin (&ah, &hw);
      else
        att_narrow_begin (&ah, &hw);
    }
  /* Rows past a short last block keep finite values: their lanes are masked. */
  memset (w.kf, 0, (size_t) w.bk * w.krow * sizeof (float));
  memset (w.vf, 0, (size_t) w.bk * w.krow * sizeof (float));
  for (int b0 = a->k0; b0 < a->k1; b0 += w.bk)
    {
      const int nb = a->k1 - b0 < w.bk ? a->k1 - b0 : w.bk;
      bool any = false;
      for (int i = 0; i < a->m && !any; i++)
        any = att_sees (a, i, b0, nb);
      if (!any)
        continue;
      att_load_block (a, &w, b0, nb);
      for (int h = 0; h < a->heads; h++)
        {
          const lk_attn_args ah = att_head_args (a, h);
          att_work hw = att_head (&w, h);
          if (wide)
            att_wide_step (&ah, &hw, b0, nb);
          else
            att_narrow_step (&ah, &hw, fn, b0, nb);
        }
    }
  for (int h = 0; h < a->heads; h++)
    {
      const lk_attn_args ah = att_head_args (a, h);
      const att_work hw = att_head (&w, h);
      if (wide)
        att_wide_end (&ah, &hw);
      else
        att_narrow_end (&ah, &hw);
    }
}
