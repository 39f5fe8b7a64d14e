/* SPDX-License-Identifier: MIT */
/* Scalar element-wise operations and activation conversions: the reference
 * definitions, and the fallback of every version for what it does not
 * vectorise. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lk-half.h"
#include "lk-kernels-private.h"
#include "lk-pack.h"

void
lk_rmsnorm_scalar (float *out, const float *x, const float *w, int64_t n, float eps)
{
  double ss = 0.0;

  for (int64_t i = 0; i < n; i++)
    ss += (double) x[i] * x[i];
  const float scale = 1.0f / sqrtf ((float) (ss / (double) n) + eps);
  for (int64_t i = 0; i < n; i++)
    out[i] = x[i] * scale * w[i];
}

void
lk_softmax_scalar (float *x, int64_t n)
{
  float max = -INFINITY;
  double sum = 0.0;

  for (int64_t i = 0; i < n; i++)
    if (x[i] > max)
      max = x[i];
  for (int64_t i = 0; i < n; i++)
    {
      x[i] = expf (x[i] - max);
      sum += x[i];
    }
  for (int64_t i = 0; i < n; i++)
    x[i] = (float) (x[i] / sum);
}

void
lk_silu_mul_scalar (float *a, const float *b, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    a[i] = a[i] / (1.0f + expf (-a[i])) * b[i];
}

void
lk_add_scalar (float *a, const float *b, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    a[i] += b[i];
}

float
lk_dot_f32_scalar (int64_t n, const float *a, const float *b)
{
  double sum = 0.0;

  for (int64_t i = 0; i < n; i++)
    sum += (double) a[i] * b[i];
  return (float) sum;
}

void
lk_axpy_f32_scalar (int64_t n, float alpha, const float *x, float *y)
{
  for (int64_t i = 0; i < n; i++)
    y[i] += alpha * x[i];
}

float
lk_dot_f16_scalar (int64_t n, const lk_half *a, const float *b)
{
  double sum = 0.0;

  for (int64_t i = 0; i < n; i++)
    sum += (double) lk_half_to_f32 (a[i]) * b[i];
  return (float) sum;
}

void
lk_axpy_f16_scalar (int64_t n, float alpha, const lk_half *x, float *y)
{
  for (int64_t i = 0; i < n; i++)
    y[i] += alpha * lk_half_to_f32 (x[i]);
}

void
lk_f32_to_f16_scalar (const float *x, lk_half *y, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    y[i] = lk_f32_to_half (x[i]);
}

void
lk_rope_scalar (float *x, int64_t n_rot, const float *cos_t, const float *sin_t, bool neox)
{
  const int64_t half = n_rot / 2;

  for (int64_t i = 0; i < half; i++)
    {
      const int64_t i0 = neox ? i : 2 * i;
      const int64_t i1 = neox ? i + half : 2 * i + 1;
      const float x0 = x[i0], x1 = x[i1];
      x[i0] = x0 * cos_t[i] - x1 * sin_t[i];
      x[i1] = x0 * sin_t[i] + x1 * cos_t[i];
    }
}

uint64_t
lk_sum_bytes_scalar (const void *p, size_t n)
{
  const uint64_t *w = p;
  uint64_t a = 0, b = 0, c = 0, d = 0;

  for (size_t i = 0; i + 4 <= n / 8; i += 4)
    {
      a += w[i];
      b += w[i + 1];
      c += w[i + 2];
      d += w[i + 3];
    }
  return a + b + c + d;
}

static void
attn_head_scalar (const lk_attn_args *a, int h)
{
  float *row = a->work, *vrow = a->work + a->hd;
  const size_t head = (size_t) h * lk_row_size (a->kv_type, a->hd);

  for (int i = 0; i < a->m; i++)
    {
      const size_t qi = (size_t) h * a->m + i;
      const float *q = a->q + qi * a->hd;
      float *acc = a->acc + qi * a->hd, max = -INFINITY, sum = 0.0f;
      const int first = a->lo[i] > a->k0 ? a->lo[i] : a->k0;
      const int end = a->hi[i] < a->k1 ? a->hi[i] : a->k1;

      memset (acc, 0, (size_t) a->hd * sizeof *acc);
      for (int p = first; p < end; p++)
        {
          float s;
          if (!lk_dequantize_row (a->kv_type, (const uint8_t *) a->k + (size_t) p * a->row_bytes + head, row, a->hd))
            abort ();
          s = a->scale * lk_dot_f32_scalar (a->hd, row, q);
          if (a->softcap > 0.0f)
            s = a->softcap * tanhf (s / a->softcap);
          /* The running maximum: earlier terms are rescaled when it grows. */
          if (s > max)
            {
              const float f = max == -INFINITY ? 0.0f : expf (max - s);
              sum *= f;
              for (int d = 0; d < a->hd; d++)
                acc[d] *= f;
              max = s;
            }
          {
            const float e = expf (s - max);
            if (!lk_dequantize_row (a->kv_type, (const uint8_t *) a->v + (size_t) p * a->row_bytes + head, vrow,
                                    a->hd))
              abort ();
            sum += e;
            lk_axpy_f32_scalar (a->hd, e, vrow, acc);
          }
        }
      a->max[qi] = max;
      a->sum[qi] = sum;
    }
}

void
lk_attn_scalar (const lk_attn_args *a)
{
  for (int h = 0; h < a->heads; h++)
    attn_head_scalar (a, h);
}

size_t
lk_attn_work_size (int m, int hd, int heads)
{
  const size_t hdp = (size_t) lk_attn_pad (hd), mp = (size_t) lk_attn_pad (m), nh = (size_t) heads;
  const size_t bk = (size_t) lk_attn_block ((int) (nh * hdp));

  return 2 * bk * nh * hdp + 16 * bk + 2 * nh * mp * hdp + 2 * nh * mp;
}

void
lk_attn_merge (int m, int hd, float *amax, float *asum, float *aacc, const float *bmax,
               const float *bsum, const float *bacc)
{
  for (int i = 0; i < m; i++)
    {
      const float mx = amax[i] > bmax[i] ? amax[i] : bmax[i];
      float fa, fb;
      if (mx == -INFINITY)
        continue;
      fa = amax[i] == -INFINITY ? 0.0f : expf (amax[i] - mx);
      fb = bmax[i] == -INFINITY ? 0.0f : expf (bmax[i] - mx);
      asum[i] = asum[i] * fa + bsum[i] * fb;
      for (int d = 0; d < hd; d++)
        aacc[(size_t) i * hd + d] = aacc[(size_t) i * hd + d] * fa + bacc[(size_t) i * hd + d] * fb;
      amax[i] = mx;
    }
}

void
lk_quantize_act_bf16_scalar (const float *x, void *dst, int64_t n)
{
  lk_bf16 *y = dst;

  for (int64_t i = 0; i < n; i++)
    y[i] = lk_f32_to_bf16 (x[i]);
}

size_t
lk_act_row_size (lk_act act, int64_t n)
{
  size_t size;

  switch (act)
    {
    case LK_ACT_F32: size = (size_t) n * 4; break;
    case LK_ACT_BF16: size = (size_t) n * 2; break;
    case LK_ACT_Q8: size = (size_t) n + (size_t) (n / 32) * 8; break;
    case LK_ACT_Q8K: size = (size_t) (n / LK_QK_K) * sizeof (lk_block_q8_K); break;
    default: return 0;
    }
  /* Rows start on cache lines, so SIMD loads stay aligned. */
  return (size + 63) / 64 * 64;
}

void
lk_quantize_act_q8_ref (const float *x, void *dst, int64_t n)
{
  int8_t *q = dst;
  float *d = (float *) ((uint8_t *) dst + n);
  float *s = d + n / 32;

  for (int64_t b = 0; b < n / 32; b++, x += 32, q += 32)
    {
      float amax = 0.0f;
      int sum = 0;
      for (int j = 0; j < 32; j++)
        if (fabsf (x[j]) > amax)
          amax = fabsf (x[j]);
      const float db = amax / 127.0f;
      const float id = db != 0.0f ? 1.0f / db : 0.0f;
      for (int j = 0; j < 32; j++)
        {
          q[j] = (int8_t) lrintf (x[j] * id);
          sum += q[j];
        }
      d[b] = db;
      s[b] = db * (float) sum;
    }
}

void
lk_gemm_by_vec_dot (lk_vec_dot_fn vec_dot, int64_t n, const void *w, size_t w_stride, int nr,
                    const void *x, size_t x_stride, int nc, float *y, size_t y_stride)
{
  for (int c = 0; c < nc; c++)
    for (int r = 0; r < nr; r++)
      vec_dot (n, &y[(size_t) c * y_stride + r], (const uint8_t *) w + (size_t) r * w_stride,
               (const uint8_t *) x + (size_t) c * x_stride);
}

void
lk_gemm_x16_by_rows (lk_type x16, lk_vec_dot_fn vec_dot, int64_t n, const void *w, size_t w_stride,
                     int nr, const void *x, size_t x_stride, int nc, float *y, size_t y_stride)
{
  uint8_t *row = malloc (w_stride);

  if (row == NULL)
    {
      for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
          y[(size_t) c * y_stride + r] = NAN;
      return;
    }
  for (int r = 0; r < nr; r++)
    {
      lk_x16_row (x16, (const uint8_t *) w + (size_t) (r / 16) * 16 * w_stride, n, r % 16, row);
      for (int c = 0; c < nc; c++)
        vec_dot (n, &y[(size_t) c * y_stride + r], row, (const uint8_t *) x + (size_t) c * x_stride);
    }
  free (row);
}
