/* SPDX-License-Identifier: MIT */
/* Block formats: conversions, reference quantizers against the bytes
 * llama.cpp wrote, and dequantizers against the original F32 weights. */
#include <math.h>
#include <string.h>

#include "lathe-test.h"
#include "lk-gguf.h"
#include "lk-half.h"
#include "lk-quant.h"

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
  return g_test_run ();
}
