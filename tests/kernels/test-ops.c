/* SPDX-License-Identifier: MIT */
/* Every kernel version against the scalar reference, and the scalar
 * reference against plain double-precision formulas. */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "lathe-test.h"
#include "lk-half.h"
#include "lk-gguf.h"
#include "lk-kernels.h"
#include "lk-matmul.h"
#include "lk-pack.h"
#include "lk-pool.h"

static float
frand (guint32 *state)
{
  *state = *state * 1664525u + 1013904223u;
  return ((float) (*state >> 8) / (float) (1u << 24)) * 2.0f - 1.0f;
}

static void
fill (float *x, gsize n, guint32 seed, float scale)
{
  for (gsize i = 0; i < n; i++)
    x[i] = scale * frand (&seed);
}

static void
test_reference_formulas (void)
{
  const lk_kernels *k = lk_kernels_reference ();
  float x[37], w[37], out[37], s[37], a[37], b[37];
  double ss = 0, max = -1e30, sum = 0;

  fill (x, 37, 1, 3.0f);
  fill (w, 37, 2, 1.0f);
  for (int i = 0; i < 37; i++)
    ss += (double) x[i] * x[i];
  k->rmsnorm (out, x, w, 37, 1e-5f);
  for (int i = 0; i < 37; i++)
    g_assert_cmpfloat_with_epsilon (out[i], x[i] / sqrt (ss / 37 + 1e-5) * w[i], 1e-5);

  memcpy (s, x, sizeof s);
  k->softmax (s, 37);
  for (int i = 0; i < 37; i++)
    max = MAX (max, x[i]);
  for (int i = 0; i < 37; i++)
    sum += exp (x[i] - max);
  for (int i = 0; i < 37; i++)
    g_assert_cmpfloat_with_epsilon (s[i], exp (x[i] - max) / sum, 1e-6);

  memcpy (a, x, sizeof a);
  memcpy (b, w, sizeof b);
  k->silu_mul (a, b, 37);
  for (int i = 0; i < 37; i++)
    g_assert_cmpfloat_with_epsilon (a[i], x[i] / (1 + exp (-x[i])) * w[i], 1e-5);
}

static void
test_rope (void)
{
  const lk_kernels *k = lk_kernels_reference ();
  float x[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, y[8];
  const float c[4] = { cosf (0.1f), cosf (0.2f), cosf (0.3f), cosf (0.4f) };
  const float s[4] = { sinf (0.1f), sinf (0.2f), sinf (0.3f), sinf (0.4f) };

  /* Normal mode rotates neighbours, NeoX mode the two halves. */
  memcpy (y, x, sizeof y);
  k->rope (y, 8, c, s, false);
  g_assert_cmpfloat_with_epsilon (y[0], 1 * c[0] - 2 * s[0], 1e-6);
  g_assert_cmpfloat_with_epsilon (y[1], 1 * s[0] + 2 * c[0], 1e-6);
  g_assert_cmpfloat_with_epsilon (y[6], 7 * c[3] - 8 * s[3], 1e-6);
  memcpy (y, x, sizeof y);
  k->rope (y, 8, c, s, true);
  g_assert_cmpfloat_with_epsilon (y[0], 1 * c[0] - 5 * s[0], 1e-6);
  g_assert_cmpfloat_with_epsilon (y[4], 1 * s[0] + 5 * c[0], 1e-6);
  g_assert_cmpfloat_with_epsilon (y[3], 4 * c[3] - 8 * s[3], 1e-6);
}

static void
assert_close (const char *what, const char *version, int64_t n, const float *got, const float *want,
              double tol)
{
  for (int64_t i = 0; i < n; i++)
    if (!(fabs ((double) got[i] - want[i]) <= tol * (1.0 + fabs ((double) want[i]))))
      g_error ("%s, %s, n = %" G_GINT64_FORMAT ", element %" G_GINT64_FORMAT ": %.9g, scalar %.9g",
               what, version, n, i, got[i], want[i]);
}

/* The element-wise operations and attention of every version against the
 * scalar version, on sizes that leave every kind of tail. */
static void
test_elementwise (void)
{
  const char *const *versions = lk_kernels_available ();
  const lk_kernels *ref = lk_kernels_scalar ();
  const int64_t sizes[] = { 1, 7, 16, 37, 64, 100, 259 };

  for (int v = 0; versions[v] != NULL; v++)
    {
      const lk_kernels *k = lk_kernels_find (versions[v]);
      const char *name = versions[v];
      for (gsize si = 0; si < G_N_ELEMENTS (sizes); si++)
        {
          const int64_t n = sizes[si];
          g_autofree float *x = g_new (float, n), *w = g_new (float, n), *a = g_new (float, n);
          g_autofree float *b = g_new (float, n), *c = g_new (float, n), *cs = g_new (float, n);
          g_autofree lk_half *h = g_new (lk_half, n), *hs = g_new (lk_half, n);
          fill (x, n, 21, 3.0f);
          fill (w, n, 22, 1.0f);
          k->rmsnorm (a, x, w, n, 1e-5f);
          ref->rmsnorm (b, x, w, n, 1e-5f);
          assert_close ("rmsnorm", name, n, a, b, 1e-5);
          memcpy (a, x, n * sizeof *a);
          memcpy (b, x, n * sizeof *b);
          k->softmax (a, n);
          ref->softmax (b, n);
          assert_close ("softmax", name, n, a, b, 1e-5);
          memcpy (a, x, n * sizeof *a);
          memcpy (b, x, n * sizeof *b);
          k->silu_mul (a, w, n);
          ref->silu_mul (b, w, n);
          assert_close ("silu_mul", name, n, a, b, 1e-5);
          memcpy (a, x, n * sizeof *a);
          memcpy (b, x, n * sizeof *b);
          k->add (a, w, n);
          ref->add (b, w, n);
          assert_close ("add", name, n, a, b, 0);
          a[0] = k->dot_f32 (n, x, w);
          b[0] = ref->dot_f32 (n, x, w);
          assert_close ("dot_f32", name, 1, a, b, 1e-5 * n);
          memcpy (a, x, n * sizeof *a);
          memcpy (b, x, n * sizeof *b);
          k->axpy_f32 (n, 0.75f, w, a);
          ref->axpy_f32 (n, 0.75f, w, b);
          assert_close ("axpy_f32", name, n, a, b, 1e-6);
          k->f32_to_f16 (x, h, n);
          ref->f32_to_f16 (x, hs, n);
          g_assert_cmpmem (h, n * sizeof *h, hs, n * sizeof *hs);
          a[0] = k->dot_f16 (n, h, w);
          b[0] = ref->dot_f16 (n, h, w);
          assert_close ("dot_f16", name, 1, a, b, 1e-5 * n);
          memcpy (a, x, n * sizeof *a);
          memcpy (b, x, n * sizeof *b);
          k->axpy_f16 (n, -1.5f, h, a);
          ref->axpy_f16 (n, -1.5f, h, b);
          assert_close ("axpy_f16", name, n, a, b, 1e-6);
          if (n % 2 == 0)
            for (int neox = 0; neox < 2; neox++)
              {
                for (int64_t i = 0; i < n / 2; i++)
                  {
                    c[i] = cosf (0.3f * (float) i);
                    cs[i] = sinf (0.3f * (float) i);
                  }
                memcpy (a, x, n * sizeof *a);
                memcpy (b, x, n * sizeof *b);
                k->rope (a, n, c, cs, neox);
                ref->rope (b, n, c, cs, neox);
                assert_close (neox ? "rope (NeoX)" : "rope", name, n, a, b, 1e-6);
              }
        }
      {
        /* 2 MiB of bytes: the same sum by any route. */
        const size_t nb = 2u << 20;
        g_autofree uint8_t *bytes = g_malloc (nb);
        for (size_t i = 0; i < nb; i++)
          bytes[i] = (uint8_t) (i * 2654435761u >> 13);
        g_assert_cmpuint (k->sum_bytes (bytes, nb), ==, ref->sum_bytes (bytes, nb));
        g_assert_cmpuint (k->sum_bytes (bytes, 192), ==, ref->sum_bytes (bytes, 192));
      }
    }
}

/* Normalised outputs of an attention state of n queries. */
static void
attn_outputs (int n, int hd, const float *sum, const float *acc, float *out)
{
  for (int i = 0; i < n; i++)
    for (int d = 0; d < hd; d++)
      out[(size_t) i * hd + d] = acc[(size_t) i * hd + d] / sum[i];
}

typedef struct
{
  lk_type type;
  const void *k, *v; /* the first head of the call at position 0 */
  size_t row_bytes;
  int heads;
} attn_cache;

/* One attention call of version k over positions [k0, k1). */
static void
attn_call (const lk_kernels *k, const attn_cache *c, int hd, int m, const float *q, const int *lo,
           const int *hi, int k0, int k1, float softcap, float *max, float *sum, float *acc)
{
  g_autofree float *work = g_aligned_alloc (lk_attn_work_size (m, hd, c->heads), sizeof (float), 64);
  const lk_attn_args a = {
    .kv_type = c->type, .k = c->k, .v = c->v, .row_bytes = c->row_bytes, .hd = hd, .heads = c->heads,
    .m = m, .k0 = k0, .k1 = k1, .q = q, .lo = lo, .hi = hi, .scale = 1.0f / sqrtf ((float) hd),
    .softcap = softcap, .work = work, .max = max, .sum = sum, .acc = acc,
  };
  k->attn (&a);
}

/* Attention over a cache of every type, every version against the scalar
 * definition: heads with tails, one query to many (both ways through the
 * tiled kernels), queries seeing different ranges (causal, sliding), one
 * head of a row and every head of it in one call, a range split in two and
 * merged, soft-capped scores. */
static void
test_attention (void)
{
  const char *const *versions = lk_kernels_available ();
  const lk_kernels *ref = lk_kernels_scalar ();
  const int hds[] = { 32, 64, 80, 128, 256 };
  const int ms[] = { 1, 3, 8, 16, 37 };
  const int n_pos[] = { 1, 19, 300 };
  const int heads = 3; /* rows hold three heads */

  for (gsize hi_ = 0; hi_ < G_N_ELEMENTS (hds); hi_++)
    for (gsize ni = 0; ni < G_N_ELEMENTS (n_pos); ni++)
      for (gsize mi = 0; mi < G_N_ELEMENTS (ms); mi++)
        {
          const int hd = hds[hi_], np = n_pos[ni], m = ms[mi], row = heads * hd, nq = heads * m;
          g_autofree float *q = g_new (float, (gsize) nq * hd), *kf = g_new (float, (gsize) np * row);
          g_autofree float *vf = g_new (float, (gsize) np * row);
          g_autofree lk_half *kh = g_new (lk_half, (gsize) np * row);
          g_autofree lk_half *vh = g_new (lk_half, (gsize) np * row);
          g_autofree lk_block_q8_0 *kq = g_new (lk_block_q8_0, (gsize) np * row / 32 + 1);
          g_autofree lk_block_q8_0 *vq = g_new (lk_block_q8_0, (gsize) np * row / 32 + 1);
          g_autofree float *max = g_new (float, nq), *sum = g_new (float, nq);
          g_autofree float *acc = g_new (float, (gsize) nq * hd), *want = g_new (float, (gsize) nq * hd);
          g_autofree float *got = g_new (float, (gsize) nq * hd), *bmax = g_new (float, nq);
          g_autofree float *bsum = g_new (float, nq), *bacc = g_new (float, (gsize) nq * hd);
          g_autofree int *lo = g_new (int, m), *hi = g_new (int, m);
          const gboolean q8 = hd % 32 == 0;
          const size_t rf = (size_t) row * sizeof (float), rh = (size_t) row * sizeof (lk_half);
          const size_t rq = (size_t) row / 32 * sizeof (lk_block_q8_0);

          fill (q, (gsize) nq * hd, 31, 1.0f);
          fill (kf, (gsize) np * row, 32, 1.0f);
          fill (vf, (gsize) np * row, 33, 2.0f);
          ref->f32_to_f16 (kf, kh, (int64_t) np * row);
          ref->f32_to_f16 (vf, vh, (int64_t) np * row);
          g_assert_true (!q8 || lk_quantize_row_ref (LK_TYPE_Q8_0, kf, kq, (int64_t) np * row));
          g_assert_true (!q8 || lk_quantize_row_ref (LK_TYPE_Q8_0, vf, vq, (int64_t) np * row));
          /* Query i ends at a position of its own; every third one slides. */
          for (int i = 0; i < m; i++)
            {
              hi[i] = np - (m - 1 - i) * np / (2 * m);
              lo[i] = i % 3 == 2 ? hi[i] / 2 : 0;
            }
          /* The second head alone, then all three. */
          const attn_cache caches[] = {
            { LK_TYPE_F32, kf + hd, vf + hd, rf, 1 },
            { LK_TYPE_F16, kh + hd, vh + hd, rh, 1 },
            { LK_TYPE_Q8_0, kq + hd / 32, vq + hd / 32, rq, 1 },
            { LK_TYPE_F32, kf, vf, rf, heads },
            { LK_TYPE_F16, kh, vh, rh, heads },
            { LK_TYPE_Q8_0, kq, vq, rq, heads },
          };
          for (gsize ci = 0; ci < G_N_ELEMENTS (caches); ci++)
            {
              const attn_cache *c = &caches[ci];
              const int n = c->heads * m;
              if (c->type == LK_TYPE_Q8_0 && !q8)
                continue;
              for (int capped = 0; capped < 2; capped++)
                {
                  const float cap = capped ? 0.7f : 0.0f;
                  attn_call (ref, c, hd, m, q, lo, hi, 0, np, cap, max, sum, acc);
                  attn_outputs (n, hd, sum, acc, want);
                  for (int v = 0; versions[v] != NULL; v++)
                    {
                      const lk_kernels *k = lk_kernels_find (versions[v]);
                      const int mid = np / 3;
                      g_autofree char *what
                        = g_strdup_printf ("attention, %s cache, hd %d, %d head(s), m %d, %d positions%s",
                                           lk_type_name (c->type), hd, c->heads, m, np, capped ? ", capped" : "");
                      attn_call (k, c, hd, m, q, lo, hi, 0, np, cap, max, sum, acc);
                      attn_outputs (n, hd, sum, acc, got);
                      assert_close (what, versions[v], (int64_t) n * hd, got, want, 1e-5);
                      /* [0, mid) and [mid, np) apart, then merged. */
                      attn_call (k, c, hd, m, q, lo, hi, 0, mid, cap, max, sum, acc);
                      attn_call (k, c, hd, m, q, lo, hi, mid, np, cap, bmax, bsum, bacc);
                      for (int i = 0; i < n; i++)
                        if (lo[i % m] >= mid || mid == 0)
                          g_assert_true (max[i] == -INFINITY && sum[i] == 0.0f);
                      lk_attn_merge (n, hd, max, sum, acc, bmax, bsum, bacc);
                      attn_outputs (n, hd, sum, acc, got);
                      assert_close (what, versions[v], (int64_t) n * hd, got, want, 1e-5);
                    }
                }
            }
          /* Each head of a call is that head alone. */
          attn_call (ref, &caches[4], hd, m, q, lo, hi, 0, np, 0.0f, max, sum, acc);
          attn_outputs (m, hd, sum + m, acc + (size_t) m * hd, want);
          attn_call (ref, &caches[1], hd, m, q + (size_t) m * hd, lo, hi, 0, np, 0.0f, bmax, bsum, bacc);
          attn_outputs (m, hd, bsum, bacc, got);
          assert_close ("one head of three against that head alone", "scalar", (int64_t) m * hd, got, want, 1e-6);
          /* And the Q8_0 cache stays close to the float one. */
          if (!q8)
            continue;
          attn_call (ref, &caches[0], hd, m, q, lo, hi, 0, np, 0.0f, max, sum, acc);
          attn_outputs (m, hd, sum, acc, want);
          attn_call (ref, &caches[2], hd, m, q, lo, hi, 0, np, 0.0f, max, sum, acc);
          attn_outputs (m, hd, sum, acc, got);
          assert_close ("attention over Q8_0 against F32", "scalar", (int64_t) m * hd, got, want, 0.03);
        }
}

typedef struct
{
  lk_type type;
  int64_t cols; /* odd for float types, to reach the scalar tails */
  int layout; /* GGUF's, or one of Lathe's in-memory layouts */
  int64_t rows; /* 0: a few dozen; more to reach the prefill chunking */
} MatCase;

enum
{
  LAYOUT_GGUF,
  LAYOUT_PACKED,      /* lk_type_packed */
  LAYOUT_INTERLEAVED, /* lk_type_interleaved: 16 rows per group */
};

static const MatCase mat_cases[] = {
  { LK_TYPE_F32, 77 },   { LK_TYPE_F16, 77 },   { LK_TYPE_BF16, 77 },  { LK_TYPE_Q8_0, 96 },
  { LK_TYPE_Q4_0, 160 }, { LK_TYPE_Q4_1, 96 },  { LK_TYPE_Q5_0, 96 },  { LK_TYPE_Q5_1, 224 },
  { LK_TYPE_Q2_K, 512 }, { LK_TYPE_Q3_K, 256 }, { LK_TYPE_Q4_K, 768 }, { LK_TYPE_Q5_K, 512 },
  { LK_TYPE_Q6_K, 256 },
  /* Packed layouts, with odd block counts (a pair and a lone block). */
  { LK_TYPE_Q4_0, 608, LAYOUT_PACKED }, { LK_TYPE_Q4_1, 96, LAYOUT_PACKED },
  { LK_TYPE_Q5_0, 544, LAYOUT_PACKED }, { LK_TYPE_Q5_1, 64, LAYOUT_PACKED },
  { LK_TYPE_Q8_0, 1056, LAYOUT_PACKED },
  { LK_TYPE_Q4_0, 352, LAYOUT_INTERLEAVED }, { LK_TYPE_Q8_0, 96, LAYOUT_INTERLEAVED },
  { LK_TYPE_Q4_K, 768, LAYOUT_INTERLEAVED }, { LK_TYPE_Q6_K, 512, LAYOUT_INTERLEAVED },
  { LK_TYPE_IQ4_NL, 352, LAYOUT_INTERLEAVED }, { LK_TYPE_MXFP4, 352, LAYOUT_INTERLEAVED },
  { LK_TYPE_IQ4_XS, 768, LAYOUT_INTERLEAVED },
  /* Enough rows for the large chunks of prefill, not a whole number of them. */
  { LK_TYPE_F16, 33, LAYOUT_GGUF, 777 }, { LK_TYPE_Q4_0, 64, LAYOUT_INTERLEAVED, 1040 },
};

static const char *const layout_names[] = { "", "-packed", "-x16" };

static float *
run_matmul (const lk_kernels *k, int threads, const lk_mat *mat, const float *x, int64_t n_tok)
{
  lk_pool *pool = lk_pool_new (threads);
  float *y = g_new0 (float, n_tok * mat->n_rows);
  g_autofree void *scratch = g_malloc (lk_matmul_scratch_size (k, &mat, 1, n_tok) + 1);

  g_assert_cmpint (lk_matmul (pool, k, mat, x, mat->n_cols, n_tok, y, mat->n_rows, scratch), ==, 0);
  lk_pool_free (pool);
  return y;
}

/* Every version and thread count against a double-precision product of the
 * dequantized weights (within what 8-bit activations lose), and every SIMD
 * version against the scalar one (which computes the same integer sums). */
static void
test_matmul (gconstpointer data)
{
  const MatCase *c = data;
  const char *const *versions = lk_kernels_available ();
  /* Interleaved layouts need whole groups of 16 rows. */
  const int64_t rows = c->rows ? c->rows : c->layout == LAYOUT_INTERLEAVED ? 80 : 67, cols = c->cols;
  const size_t row_bytes = lk_row_size (c->type, cols);
  const lk_kernels *scalar = lk_kernels_scalar ();

  for (int64_t n_tok = 1; n_tok <= 7; n_tok += 6) /* decode, and an odd prefill */
    {
      g_autofree float *w = g_new (float, rows * cols);
      g_autofree float *wd = g_new (float, rows * cols);
      g_autofree float *x = g_new (float, n_tok * cols);
      g_autofree double *ref = g_new (double, n_tok * rows);
      g_autofree double *mag = g_new (double, n_tok * rows);
      g_autofree uint8_t *wq = g_malloc (row_bytes * rows);
      g_autofree uint8_t *orig = NULL;
      g_autofree float *ys = NULL;
      g_autofree uint8_t *tmp = g_malloc (16 * row_bytes);
      const lk_type type = c->layout == LAYOUT_PACKED        ? lk_type_packed (c->type)
                           : c->layout == LAYOUT_INTERLEAVED ? lk_type_interleaved (c->type)
                                                             : c->type;
      const lk_mat mat = { type, rows, cols, row_bytes, wq };

      fill (w, rows * cols, 11, 0.5f);
      fill (x, n_tok * cols, 12, 2.0f);
      for (int64_t r = 0; r < rows; r++)
        {
          g_assert_true (lk_quantize_row_ref (c->type, w + r * cols, wq + r * row_bytes, cols));
          lk_dequantize_row (c->type, wq + r * row_bytes, wd + r * cols, cols);
        }
      orig = g_memdup2 (wq, row_bytes * rows);
      /* The layouts are lossless: each row comes back byte for byte. */
      if (c->layout == LAYOUT_PACKED)
        for (int64_t r = 0; r < rows; r++)
          {
            g_autofree float *pd = g_new (float, cols);
            g_assert_true (lk_pack_row (c->type, wq + r * row_bytes, cols, tmp));
            g_assert_true (lk_unpack_row (type, wq + r * row_bytes, tmp, cols));
            g_assert_cmpmem (tmp, row_bytes, orig + r * row_bytes, row_bytes);
            lk_dequantize_row (type, wq + r * row_bytes, pd, cols);
            g_assert_cmpmem (pd, cols * sizeof (float), wd + r * cols, cols * sizeof (float));
          }
      if (c->layout == LAYOUT_INTERLEAVED)
        {
          for (int64_t r = 0; r < rows; r += 16)
            g_assert_true (lk_x16_pack (c->type, wq + r * row_bytes, cols, tmp));
          g_assert_true (memcmp (wq, orig, row_bytes * rows) != 0); /* it did move them */
          for (int64_t r = 0; r < rows; r++)
            {
              lk_x16_row (type, wq + r / 16 * 16 * row_bytes, cols, (int) (r % 16), tmp);
              g_assert_cmpmem (tmp, row_bytes, orig + r * row_bytes, row_bytes);
            }
        }
      for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < rows; r++)
          {
            ref[t * rows + r] = mag[t * rows + r] = 0;
            for (int64_t j = 0; j < cols; j++)
              {
                ref[t * rows + r] += (double) wd[r * cols + j] * x[t * cols + j];
                mag[t * rows + r] += fabs ((double) wd[r * cols + j] * x[t * cols + j]);
              }
          }
      ys = run_matmul (scalar, 1, &mat, x, n_tok);
      for (int v = 0; versions[v] != NULL; v++)
        for (int threads = 1; threads <= 3; threads += 2)
          {
            const lk_kernels *k = lk_kernels_find (versions[v]);
            g_autofree float *y = run_matmul (k, threads, &mat, x, n_tok);
            const lk_act act = k->mm[type].act;
            /* 8-bit activations are off by up to half a step of 1/127 each. */
            const double tol = act == LK_ACT_Q8 || act == LK_ACT_Q8K ? 1.0 / 200
                               : act == LK_ACT_BF16                  ? 1.0 / 200
                                                                     : 1e-5;
            const gboolean same_as_scalar = act == scalar->mm[type].act;
            for (int64_t i = 0; i < n_tok * rows; i++)
              {
                if (fabs (y[i] - ref[i]) > tol * mag[i] + 1e-5)
                  g_error ("%s %s, %d threads, %" G_GINT64_FORMAT " tokens, output %" G_GINT64_FORMAT
                           ": %g, reference %g (tolerance %g)",
                           versions[v], lk_type_name (c->type), threads, n_tok, i, y[i], ref[i],
                           tol * mag[i]);
                if (same_as_scalar && fabs (y[i] - ys[i]) > 2e-5 * mag[i] + 1e-5)
                  g_error ("%s %s, %d threads, %" G_GINT64_FORMAT " tokens, output %" G_GINT64_FORMAT
                           ": %g, scalar version %g",
                           versions[v], lk_type_name (c->type), threads, n_tok, i, y[i], ys[i]);
              }
          }
    }
}

/* The types Lathe reads but does not write yet, from llama.cpp's files: their
 * rows as llama.cpp wrote them, multiplied by every version, against the
 * dequantized weights in double precision and against the scalar version. */
typedef struct
{
  lk_type type;
  const char *file, *tensor;
} FileMatCase;

static const FileMatCase file_mat_cases[] = {
  { LK_TYPE_IQ4_NL, "tiny-IQ4_NL.gguf", "blk.0.ffn_down.weight" },
  { LK_TYPE_IQ4_XS, "tiny-IQ4_XS.gguf", "blk.0.ffn_down.weight" },
  { LK_TYPE_IQ3_S, "tiny-IQ3_S.gguf", "blk.0.ffn_down.weight" },
  { LK_TYPE_IQ3_XXS, "tiny-IQ3_XXS.gguf", "blk.0.ffn_down.weight" },
  { LK_TYPE_IQ2_S, "tiny-IQ2_S.gguf", "blk.0.ffn_up.weight" },
  { LK_TYPE_IQ2_XS, "tiny-IQ2_XS.gguf", "blk.0.ffn_up.weight" },
  { LK_TYPE_IQ2_XXS, "tiny-IQ2_XXS.gguf", "blk.0.ffn_up.weight" },
  { LK_TYPE_IQ1_M, "tiny-IQ1_M.gguf", "blk.0.ffn_down.weight" },
  { LK_TYPE_IQ1_S, "tiny-IQ1_S.gguf", "blk.0.ffn_up.weight" },
  { LK_TYPE_TQ1_0, "tiny-TQ1_0.gguf", "blk.0.ffn_down.weight" },
  { LK_TYPE_TQ2_0, "tiny-TQ2_0.gguf", "blk.0.ffn_down.weight" },
  { LK_TYPE_MXFP4, "tiny-MXFP4_MOE.gguf", "blk.0.ffn_down.weight" },
};

static void
test_matmul_file (gconstpointer data)
{
  const FileMatCase *c = data;
  g_autofree char *rel = g_build_filename ("interop", c->file, NULL);
  g_autofree char *path = lathe_test_shared (rel);
  const char *const *versions = lk_kernels_available ();
  const lk_kernels *scalar = lk_kernels_scalar ();
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  const lk_gguf_tensor *t;
  int64_t rows, cols;

  if (path == NULL)
    return;
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_MMAP, &g, &err), ==, LK_OK);
  t = lk_gguf_find_tensor (g, c->tensor);
  g_assert_nonnull (t);
  g_assert_cmpint (t->type, ==, c->type);
  cols = t->ne[0];
  rows = MIN (t->ne[1], 67);
  for (int64_t n_tok = 1; n_tok <= 7; n_tok += 6)
    {
      const size_t row_bytes = lk_row_size (c->type, cols);
      const lk_mat mat = { c->type, rows, cols, row_bytes, t->data };
      g_autofree float *wd = g_new (float, rows * cols);
      g_autofree float *x = g_new (float, n_tok * cols);
      g_autofree double *ref = g_new0 (double, n_tok * rows);
      g_autofree double *mag = g_new0 (double, n_tok * rows);
      g_autofree double *bound = g_new0 (double, n_tok * rows);
      g_autofree float *ys = NULL;

      fill (x, n_tok * cols, 12, 2.0f);
      for (int64_t r = 0; r < rows; r++)
        g_assert_true (lk_dequantize_row (c->type, (const uint8_t *) t->data + r * row_bytes, wd + r * cols, cols));
      /* 8-bit activations are off by at most half a step of their block's
       * largest value over 127 (blocks of 32 for Q8, 256 for Q8_K). */
      for (int64_t i = 0; i < n_tok; i++)
        for (int64_t r = 0; r < rows; r++)
          for (int64_t j = 0; j < cols; j++)
            {
              const int64_t bs = scalar->mm[c->type].act == LK_ACT_Q8 ? 32 : 256, b0 = j / bs * bs;
              float amax = 0.0f;
              for (int64_t k = b0; k < b0 + bs; k++)
                amax = MAX (amax, fabsf (x[i * cols + k]));
              ref[i * rows + r] += (double) wd[r * cols + j] * x[i * cols + j];
              mag[i * rows + r] += fabs ((double) wd[r * cols + j] * x[i * cols + j]);
              bound[i * rows + r] += fabs ((double) wd[r * cols + j]) * amax / 254.0;
            }
      ys = run_matmul (scalar, 1, &mat, x, n_tok);
      for (int v = 0; versions[v] != NULL; v++)
        for (int threads = 1; threads <= 3; threads += 2)
          {
            const lk_kernels *k = lk_kernels_find (versions[v]);
            g_autofree float *y = run_matmul (k, threads, &mat, x, n_tok);
            const lk_act act = k->mm[c->type].act;
            const gboolean same_as_scalar = act == scalar->mm[c->type].act;
            g_assert_true (lk_mm_supported (&k->mm[c->type]));
            for (int64_t i = 0; i < n_tok * rows; i++)
              {
                const double tol = (act == LK_ACT_F32 ? 0.0 : bound[i] * 1.01) + 1e-5 * mag[i] + 1e-5;
                if (fabs (y[i] - ref[i]) > tol)
                  g_error ("%s %s, %d threads, %" G_GINT64_FORMAT " tokens, output %" G_GINT64_FORMAT
                           ": %g, reference %g (tolerance %g)",
                           versions[v], lk_type_name (c->type), threads, n_tok, i, y[i], ref[i], tol);
                if (same_as_scalar && fabs (y[i] - ys[i]) > 2e-5 * mag[i] + 1e-5)
                  g_error ("%s %s, %d threads, %" G_GINT64_FORMAT " tokens, output %" G_GINT64_FORMAT
                           ": %g, scalar version %g",
                           versions[v], lk_type_name (c->type), threads, n_tok, i, y[i], ys[i]);
              }
          }
    }
  lk_gguf_free (g);
}

typedef struct
{
  _Atomic int count;
  int seen[8];
} PoolData;

static void
count_task (void *arg, int ith, int nth)
{
  PoolData *d = arg;

  d->seen[ith] = nth;
  atomic_fetch_add (&d->count, 1);
}

static void
test_pool (void)
{
  for (int n = 1; n <= 4; n++)
    {
      lk_pool *pool = lk_pool_new (n);
      g_assert_cmpint (lk_pool_size (pool), ==, n);
      /* Many back-to-back runs: every thread runs each task exactly once. */
      for (int rep = 0; rep < 300; rep++)
        {
          PoolData d = { 0 };
          lk_pool_run (pool, count_task, &d);
          g_assert_cmpint (atomic_load (&d.count), ==, n);
          for (int i = 0; i < n; i++)
            g_assert_cmpint (d.seen[i], ==, n);
        }
      lk_pool_free (pool);
    }
}

static void
test_dispatch (void)
{
  const char *const *names = lk_kernels_available ();

  const lk_cpu_features *f = lk_cpu_get_features ();
  g_autofree char *list = NULL;

  g_assert_nonnull (names[0]);
  g_assert_cmpstr (names[0], ==, "reference");
  g_assert_cmpstr (names[1], ==, "scalar");
  list = g_strjoinv (", ", (char **) names);
  g_test_message ("kernel versions runnable here: %s", list);
  /* Every version this CPU can run is compiled in (and so tested here). */
#if defined(__x86_64__)
  g_assert_true (!(f->avx2 && f->fma && f->f16c) || g_strv_contains (names, "avx2"));
  g_assert_true (!(f->avx512f && f->avx512bw && f->avx512vl && f->avx512dq)
                 || g_strv_contains (names, "avx512"));
  g_assert_true (!(f->avx512f && f->avx512vnni && f->avx512bf16) || g_strv_contains (names, "avx512vnni"));
#elif defined(__aarch64__)
  g_assert_true (g_strv_contains (names, "neon"));
  g_assert_true (!f->dotprod || g_strv_contains (names, "neon-dotprod"));
#endif
  (void) f;
  g_assert_nonnull (lk_kernels_get ());
  g_assert_true (lk_kernels_force ("scalar"));
  g_assert_cmpstr (lk_kernels_get ()->name, ==, "scalar");
  g_assert_false (lk_kernels_force ("no-such-isa"));
  g_assert_null (lk_kernels_find ("no-such-isa"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/kernels/ops/reference", test_reference_formulas);
  g_test_add_func ("/lathe/kernels/ops/rope", test_rope);
  g_test_add_func ("/lathe/kernels/ops/elementwise", test_elementwise);
  g_test_add_func ("/lathe/kernels/ops/attention", test_attention);
  g_test_add_func ("/lathe/kernels/pool", test_pool);
  g_test_add_func ("/lathe/kernels/dispatch", test_dispatch);
  for (gsize i = 0; i < G_N_ELEMENTS (mat_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/lathe/kernels/matmul/%s%s%s",
                                               lk_type_name (mat_cases[i].type),
                                               layout_names[mat_cases[i].layout],
                                               mat_cases[i].rows ? "-many-rows" : "");
      g_test_add_data_func (path, &mat_cases[i], test_matmul);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (file_mat_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/lathe/kernels/matmul/%s-file", lk_type_name (file_mat_cases[i].type));
      g_test_add_data_func (path, &file_mat_cases[i], test_matmul_file);
    }
  return g_test_run ();
}
