/* SPDX-License-Identifier: MIT */
/* Block formats: conversions, reference quantizers against the bytes
 * llama.cpp wrote, and dequantizers against the original F32 weights. */
#include <math.h>
#include <string.h>

#include "lathe-test.h"
#include "lk-gguf.h"
#include "lk-half.h"
#include "lk-imatrix.h"
#include "lk-quant.h"
#include "lk-quant-iq.h"

static void
test_half_roundtrip (void)
{
  /* Every half value converts to float and back unchanged (NaNs stay NaN). */
  for (uint32_t h = 0; h < 65536; h++)
    {
      const float f = lk_half_to_f32 ((lk_half) h);
      if (isnan (f))
        {
          g_assert_true ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0);
          continue;
        }
      g_assert_cmpuint (lk_f32_to_half (f), ==, h);
    }
}

static void
test_half_rounding (void)
{
  /* Round to nearest, ties to even, saturating to infinity. */
  g_assert_cmpfloat (lk_half_to_f32 (lk_f32_to_half (1.0f)), ==, 1.0f);
  g_assert_cmpuint (lk_f32_to_half (1.0f + 0x1.0p-11f), ==, 0x3c00);  /* tie -> even */
  g_assert_cmpuint (lk_f32_to_half (1.0f + 0x1.8p-11f), ==, 0x3c01);
  g_assert_cmpuint (lk_f32_to_half (65520.0f), ==, 0x7c00);           /* overflow -> inf */
  g_assert_cmpuint (lk_f32_to_half (0x1.0p-24f), ==, 0x0001);         /* smallest subnormal */
  g_assert_cmpuint (lk_f32_to_half (-0.0f), ==, 0x8000);
  g_assert_cmpfloat (lk_half_to_f32 (0x7bff), ==, 65504.0f);
}

static void
test_bf16 (void)
{
  g_assert_cmpuint (lk_f32_to_bf16 (1.0f), ==, 0x3f80);
  g_assert_cmpuint (lk_f32_to_bf16 (lk_bits_to_f32 (0x3f808000)), ==, 0x3f80); /* tie -> even */
  g_assert_cmpuint (lk_f32_to_bf16 (lk_bits_to_f32 (0x3f818000)), ==, 0x3f82);
  g_assert_true (isnan (lk_bf16_to_f32 (lk_f32_to_bf16 (NAN))));
  for (uint32_t h = 0; h < 65536; h += 7)
    if (!isnan (lk_bf16_to_f32 ((lk_bf16) h)))
      g_assert_cmpuint (lk_f32_to_bf16 (lk_bf16_to_f32 ((lk_bf16) h)), ==, h);
}

static void
test_traits (void)
{
  g_assert_cmpuint (lk_row_size (LK_TYPE_Q4_0, 64), ==, 36);
  g_assert_cmpuint (lk_row_size (LK_TYPE_Q4_0, 33), ==, 0);
  g_assert_cmpuint (lk_row_size (LK_TYPE_Q6_K, 512), ==, 420);
  g_assert_cmpfloat_with_epsilon (lk_type_bits_per_weight (LK_TYPE_Q4_K), 4.5, 1e-9);
  g_assert_cmpint (lk_type_from_name ("q8_0"), ==, LK_TYPE_Q8_0);
  g_assert_cmpint (lk_type_from_name ("nonsense"), ==, LK_TYPE_COUNT);
  g_assert_false (lk_type_is_valid (4));
  g_assert_false (lk_type_is_valid (1000));
}

/* Interop files --------------------------------------------------------- */

typedef struct
{
  const char *file;
  lk_type type;
  gboolean exact;     /* llama.cpp's quantizer is deterministic for this type */
  /* Dequantized vs F32, RMS error over RMS of the weights: about 1.25 times what the
   * reference formats give on these weights; a wrong layout gives more than 1. */
  double max_rel_rms;
} InteropCase;

static const InteropCase interop_cases[] = {
  { "tiny-F16.gguf", LK_TYPE_F16, TRUE, 0.0005 },
  { "tiny-BF16.gguf", LK_TYPE_BF16, TRUE, 0.003 },
  { "tiny-Q8_0.gguf", LK_TYPE_Q8_0, TRUE, 0.01 },
  { "tiny-Q5_0.gguf", LK_TYPE_Q5_0, TRUE, 0.08 },
  { "tiny-Q5_1.gguf", LK_TYPE_Q5_1, TRUE, 0.055 },
  { "tiny-Q4_0.gguf", LK_TYPE_Q4_0, TRUE, 0.15 },
  { "tiny-Q4_1.gguf", LK_TYPE_Q4_1, TRUE, 0.11 },
  { "tiny-Q6_K.gguf", LK_TYPE_Q6_K, FALSE, 0.03 },
  { "tiny-Q5_K_M.gguf", LK_TYPE_Q5_K, FALSE, 0.052 },
  { "tiny-Q4_K_M.gguf", LK_TYPE_Q4_K, FALSE, 0.1 },
  { "tiny-Q3_K_M.gguf", LK_TYPE_Q3_K, FALSE, 0.21 },
  { "tiny-Q2_K.gguf", LK_TYPE_Q2_K, FALSE, 0.38 },
};

static lk_gguf *
open_interop (const char *name)
{
  g_autofree char *rel = g_build_filename ("interop", name, NULL);
  g_autofree char *path = lathe_test_shared (rel);
  lk_gguf *g = NULL;
  lk_error err = { 0 };

  if (path == NULL)
    return NULL;
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_MMAP, &g, &err), ==, LK_OK);
  return g;
}

static void
test_interop (gconstpointer data)
{
  const InteropCase *c = data;
  lk_gguf *ref = open_interop ("tiny-F32.gguf");
  lk_gguf *q = ref ? open_interop (c->file) : NULL;
  guint n_checked = 0;

  if (q == NULL)
    {
      lk_gguf_free (ref);
      return;
    }
  for (size_t i = 0; i < lk_gguf_n_tensors (q); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (q, i);
      const lk_gguf_tensor *r = lk_gguf_find_tensor (ref, t->name);
      const int64_t n = t->ne[0] * t->ne[1];
      g_autofree float *orig = NULL, *deq = NULL;
      double err2 = 0, sig2 = 0;

      g_assert_nonnull (r);
      g_assert_cmpint (r->type, ==, LK_TYPE_F32);
      if (t->n_dims < 2)
        continue; /* vectors stay F32 */
      g_assert_cmpint (t->type, ==, c->type);
      orig = g_new (float, n);
      deq = g_new (float, n);
      memcpy (orig, r->data, (size_t) n * sizeof (float));
      g_assert_true (lk_dequantize_row (t->type, t->data, deq, n));
      for (int64_t j = 0; j < n; j++)
        {
          err2 += (double) (deq[j] - orig[j]) * (deq[j] - orig[j]);
          sig2 += (double) orig[j] * orig[j];
        }
      if (g_test_verbose ())
        g_test_message ("%s %s: relative RMS error %.4f", c->file, t->name, sqrt (err2 / sig2));
      g_assert_cmpfloat (sqrt (err2 / sig2), <, c->max_rel_rms);
      if (!c->exact)
        {
          /* Lathe's K-quant quantizer on the same weights: no worse than llama.cpp's. */
          g_autofree uint8_t *mine = g_malloc (t->nbytes);
          g_autofree float *mdeq = g_new (float, n);
          double merr2 = 0;
          g_assert_true (lk_quantize_row_ref (t->type, orig, mine, n));
          lk_dequantize_row (t->type, mine, mdeq, n);
          for (int64_t j = 0; j < n; j++)
            merr2 += (double) (mdeq[j] - orig[j]) * (mdeq[j] - orig[j]);
          if (g_test_verbose ())
            g_test_message ("%s %s: Lathe %.5f, llama.cpp %.5f", c->file, t->name,
                            sqrt (merr2 / sig2), sqrt (err2 / sig2));
          g_assert_cmpfloat (merr2, <=, err2 * 1.0001);
        }
      if (c->exact)
        {
          /* Quantizing the F32 weights gives the very bytes llama.cpp wrote. */
          g_autofree uint8_t *mine = g_malloc (t->nbytes);
          g_assert_true (lk_quantize_row_ref (t->type, orig, mine, n));
          g_assert_cmpmem (mine, t->nbytes, t->data, t->nbytes);
        }
      n_checked++;
    }
  g_assert_cmpuint (n_checked, ==, 16); /* 7 matrices in each of 2 blocks, embedding, output */
  lk_gguf_free (q);
  lk_gguf_free (ref);
}

/* The i-quants, ternary and MXFP4 files llama.cpp wrote with its importance
 * matrix: dequantized, each matrix of the type is as close to the F32 weights
 * as that type gets (bounds about 1.25 times llama.cpp's own error here; a
 * wrong grid, sign or scale gives errors near or above 1). The few matrices
 * llama.cpp's rules gave other types are checked the same way. */
typedef enum
{
  WRITE_NONE,    /* Lathe reads the type only */
  WRITE_EXACT,   /* one rule: Lathe writes llama.cpp's very bytes */
  WRITE_IMATRIX, /* weighted by tiny.imatrix: no worse than llama.cpp, its very bytes */
  WRITE_SEARCH,  /* weighted by tiny.imatrix: no worse than llama.cpp, by a search of Lathe's own */
} IqWrite;

typedef struct
{
  const char *file;
  lk_type type;
  double max_rel_rms;
  guint min_of_type; /* matrices of that type in the file */
  IqWrite write;
} IqCase;

static const IqCase iq_cases[] = {
  { "tiny-IQ4_NL.gguf", LK_TYPE_IQ4_NL, 0.12, 16, WRITE_IMATRIX },
  { "tiny-IQ4_XS.gguf", LK_TYPE_IQ4_XS, 0.12, 16, WRITE_IMATRIX },
  { "tiny-IQ3_S.gguf", LK_TYPE_IQ3_S, 0.25, 16, WRITE_SEARCH },
  { "tiny-IQ3_XXS.gguf", LK_TYPE_IQ3_XXS, 0.32, 16, WRITE_SEARCH },
  { "tiny-IQ2_S.gguf", LK_TYPE_IQ2_S, 0.46, 14, WRITE_SEARCH },
  { "tiny-IQ2_XS.gguf", LK_TYPE_IQ2_XS, 0.51, 12, WRITE_SEARCH },
  { "tiny-IQ2_XXS.gguf", LK_TYPE_IQ2_XXS, 0.64, 12, WRITE_SEARCH },
  { "tiny-IQ1_M.gguf", LK_TYPE_IQ1_M, 0.73, 16, WRITE_SEARCH },
  { "tiny-IQ1_S.gguf", LK_TYPE_IQ1_S, 0.72, 10, WRITE_SEARCH },
  { "tiny-TQ1_0.gguf", LK_TYPE_TQ1_0, 0.9, 16, WRITE_EXACT },
  { "tiny-TQ2_0.gguf", LK_TYPE_TQ2_0, 0.9, 16, WRITE_EXACT },
  { "tiny-MXFP4_MOE.gguf", LK_TYPE_MXFP4, 0.18, 16, WRITE_EXACT },
};

/* Lathe's writer on the F32 weights (and the importance llama.cpp used),
 * against llama.cpp's tensor t. */
static void
check_writer (const IqCase *c, const lk_gguf_tensor *t, const lk_gguf_tensor *r, const lk_imatrix *im, double theirs)
{
  const int64_t cols = t->ne[0], rows = t->ne[1];
  const size_t row_bytes = lk_row_size (t->type, cols);
  g_autofree uint8_t *mine = g_malloc (t->nbytes);
  g_autofree float *deq = g_new (float, cols);
  const float *orig = (const float *) (const void *) r->data;
  const float *imp = im != NULL ? lk_imatrix_mean_square (im, t->name, cols) : NULL;
  double err2 = 0, sig2 = 0;

  /* Matrices without statistics (the embedding) weigh each error by the
   * weight squared, as llama.cpp does without an importance. */
  for (int64_t row = 0; row < rows; row++)
    {
      uint8_t *out = mine + row * row_bytes;
      if (c->type == LK_TYPE_IQ4_NL)
        lk_quantize_row_iq4_nl_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ4_XS)
        lk_quantize_row_iq4_xs_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ2_XXS)
        lk_quantize_row_iq2_xxs_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ2_XS)
        lk_quantize_row_iq2_xs_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ2_S)
        lk_quantize_row_iq2_s_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ3_XXS)
        lk_quantize_row_iq3_xxs_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ3_S)
        lk_quantize_row_iq3_s_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ1_S)
        lk_quantize_row_iq1_s_imp (orig + row * cols, out, cols, imp);
      else if (c->type == LK_TYPE_IQ1_M)
        lk_quantize_row_iq1_m_imp (orig + row * cols, out, cols, imp);
      else
        g_assert_true (lk_quantize_row_ref (c->type, orig + row * cols, out, cols));
      lk_dequantize_row (c->type, out, deq, cols);
      for (int64_t j = 0; j < cols; j++)
        {
          const double o = orig[row * cols + j], e = deq[j] - o;
          /* The error the quantizers minimise. */
          const double wt = imp ? imp[j] : o * o;
          err2 += wt * e * e;
          sig2 += wt * o * o;
        }
    }
  if (c->write == WRITE_EXACT)
    {
      g_assert_cmpmem (mine, t->nbytes, t->data, t->nbytes);
      return;
    }
  {
    /* The same measure of llama.cpp's tensor. */
    g_autofree float *tdeq = g_new (float, cols);
    double terr2 = 0;
    for (int64_t row = 0; row < rows; row++)
      {
        lk_dequantize_row (c->type, (const uint8_t *) t->data + row * row_bytes, tdeq, cols);
        for (int64_t j = 0; j < cols; j++)
          {
            const double o = orig[row * cols + j], e = tdeq[j] - o;
            terr2 += (imp ? imp[j] : o * o) * e * e;
          }
      }
    if (g_test_verbose ())
      g_test_message ("%s %s: weighted relative error Lathe %.5f, llama.cpp %.5f (unweighted llama.cpp %.4f)",
                      c->file, t->name, sqrt (err2 / sig2), sqrt (terr2 / sig2), theirs);
    g_assert_cmpfloat (err2, <=, terr2 * 1.0001);
    /* Lathe's IQ4 search is llama.cpp's: the same bytes, too. */
    if (c->write == WRITE_IMATRIX)
      g_assert_cmpmem (mine, t->nbytes, t->data, t->nbytes);
  }
}

static double
rel_rms_error (const lk_gguf_tensor *t, const lk_gguf_tensor *r)
{
  const int64_t n = t->ne[0] * t->ne[1];
  g_autofree float *deq = g_new (float, n);
  const float *orig = (const float *) (const void *) r->data;
  double err2 = 0, sig2 = 0;

  g_assert_true (lk_dequantize_row (t->type, t->data, deq, n));
  for (int64_t j = 0; j < n; j++)
    {
      err2 += (double) (deq[j] - orig[j]) * (deq[j] - orig[j]);
      sig2 += (double) orig[j] * orig[j];
    }
  return sqrt (err2 / sig2);
}

static void
test_interop_iq (gconstpointer data)
{
  const IqCase *c = data;
  lk_gguf *ref = open_interop ("tiny-F32.gguf");
  lk_gguf *q = ref ? open_interop (c->file) : NULL;
  guint n_type = 0, n_checked = 0;
  double worst = 0;
  lk_imatrix *im = NULL;

  if (q == NULL)
    {
      lk_gguf_free (ref);
      return;
    }
  if (c->write == WRITE_IMATRIX || c->write == WRITE_SEARCH)
    {
      g_autofree char *path = lathe_test_shared ("interop/tiny.imatrix");
      lk_error err = { 0 };
      g_assert_nonnull (path);
      g_assert_cmpint (lk_imatrix_load (path, &im, &err), ==, LK_OK);
    }
  for (size_t i = 0; i < lk_gguf_n_tensors (q); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (q, i);
      const lk_gguf_tensor *r = lk_gguf_find_tensor (ref, t->name);
      double e;
      if (t->n_dims < 2)
        continue;
      g_assert_nonnull (r);
      e = rel_rms_error (t, r);
      if (g_test_verbose ())
        g_test_message ("%s %s (%s): relative RMS error %.4f", c->file, t->name, lk_type_name (t->type), e);
      if (t->type == c->type)
        {
          n_type++;
          worst = MAX (worst, e);
          g_assert_cmpfloat (e, <, c->max_rel_rms);
          /* The grid searches are slow under emulation: four matrices
           * (attention and FFN of the first block) show them. */
          if (c->write != WRITE_NONE && (c->write != WRITE_SEARCH || n_type <= 4))
            check_writer (c, t, r, im, e);
        }
      else
        g_assert_cmpfloat (e, <, 0.6); /* Q2_K, Q8_0, … as llama.cpp chose */
      n_checked++;
    }
  g_test_message ("%s: %u matrices of %s, worst relative RMS error %.4f", c->file, n_type, lk_type_name (c->type),
                  worst);
  g_assert_cmpuint (n_checked, ==, 16);
  g_assert_cmpuint (n_type, >=, c->min_of_type);
  if (im != NULL)
    lk_imatrix_free (im);
  lk_gguf_free (q);
  lk_gguf_free (ref);
}

/* TQ1_0 and TQ2_0 hold the same ternary values in two packings: from the
 * same weights, llama.cpp's two files dequantize to the same numbers. */
static void
test_ternary_packings (void)
{
  lk_gguf *a = open_interop ("tiny-TQ1_0.gguf");
  lk_gguf *b = a ? open_interop ("tiny-TQ2_0.gguf") : NULL;
  guint n = 0;

  if (b == NULL)
    {
      lk_gguf_free (a);
      return;
    }
  for (size_t i = 0; i < lk_gguf_n_tensors (a); i++)
    {
      const lk_gguf_tensor *ta = lk_gguf_tensor_at (a, i), *tb = lk_gguf_find_tensor (b, ta->name);
      const int64_t len = ta->ne[0] * ta->ne[1];
      g_autofree float *da = NULL, *db = NULL;
      if (ta->type != LK_TYPE_TQ1_0)
        continue;
      g_assert_cmpint (tb->type, ==, LK_TYPE_TQ2_0);
      da = g_new (float, len);
      db = g_new (float, len);
      g_assert_true (lk_dequantize_row (ta->type, ta->data, da, len));
      g_assert_true (lk_dequantize_row (tb->type, tb->data, db, len));
      g_assert_cmpmem (da, len * sizeof (float), db, len * sizeof (float));
      n++;
    }
  g_assert_cmpuint (n, ==, 16);
  lk_gguf_free (a);
  lk_gguf_free (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/kernels/half/roundtrip", test_half_roundtrip);
  g_test_add_func ("/lathe/kernels/half/rounding", test_half_rounding);
  g_test_add_func ("/lathe/kernels/bf16", test_bf16);
  g_test_add_func ("/lathe/kernels/types/traits", test_traits);
  for (gsize i = 0; i < G_N_ELEMENTS (interop_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/lathe/kernels/interop/%s",
                                               lk_type_name (interop_cases[i].type));
      g_test_add_data_func (path, &interop_cases[i], test_interop);
    }
  g_test_add_func ("/lathe/kernels/interop/ternary-packings", test_ternary_packings);
  for (gsize i = 0; i < G_N_ELEMENTS (iq_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/lathe/kernels/interop/%s", lk_type_name (iq_cases[i].type));
      g_test_add_data_func (path, &iq_cases[i], test_interop_iq);
    }
  return g_test_run ();
}
