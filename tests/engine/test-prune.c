/* SPDX-License-Identifier: MIT */
/* Pruning of F32 matrices: exact counts, the smallest scores go, N:M
 * patterns hold in every group, activation-aware scores, bad specs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "lk-prune.h"

static float *
random_matrix (int64_t n, guint32 seed)
{
  GRand *r = g_rand_new_with_seed (seed);
  float *w = g_new (float, n);

  for (int64_t i = 0; i < n; i++)
    w[i] = (float) g_rand_double_range (r, -1.0, 1.0);
  g_rand_free (r);
  return w;
}

static int64_t
count_zeros (const float *w, int64_t n)
{
  int64_t z = 0;

  for (int64_t i = 0; i < n; i++)
    z += w[i] == 0.0f;
  return z;
}

/* Every removed weight scored no higher than every kept one. */
static void
assert_split (const float *orig, const float *w, int64_t n, const float *norm, int64_t cols)
{
  float max_removed = 0.0f, min_kept = INFINITY;

  for (int64_t i = 0; i < n; i++)
    {
      const float s = fabsf (orig[i]) * (norm ? norm[i % cols] : 1.0f);
      if (w[i] == 0.0f)
        max_removed = MAX (max_removed, s);
      else
        {
          g_assert_cmpfloat (w[i], ==, orig[i]);
          min_kept = MIN (min_kept, s);
        }
    }
  g_assert_cmpfloat (max_removed, <=, min_kept);
}

static void
test_magnitude (void)
{
  const int64_t cols = 96, rows = 37, n = cols * rows;
  const float ratios[] = { 0.0f, 0.1f, 0.5f, 0.9f, 1.0f };

  for (gsize k = 0; k < G_N_ELEMENTS (ratios); k++)
    {
      g_autofree float *orig = random_matrix (n, 7 + (guint32) k);
      g_autofree float *w = g_memdup2 (orig, (gsize) n * sizeof *w);
      const lk_prune_spec spec = { LK_PRUNE_MAGNITUDE, ratios[k], 0, 0, NULL };
      const int64_t expect = llround ((double) ratios[k] * (double) n);

      g_assert_cmpint (lk_prune_matrix (w, cols, rows, &spec), ==, expect);
      g_assert_cmpint (count_zeros (w, n), ==, expect);
      assert_split (orig, w, n, NULL, cols);
    }
}

/* Ties (all weights equal) still give exactly the asked count. */
static void
test_ties (void)
{
  float w[64];
  const lk_prune_spec spec = { LK_PRUNE_MAGNITUDE, 0.25f, 0, 0, NULL };

  for (int i = 0; i < 64; i++)
    w[i] = 0.5f;
  g_assert_cmpint (lk_prune_matrix (w, 16, 4, &spec), ==, 16);
  g_assert_cmpint (count_zeros (w, 64), ==, 16);
}

static void
test_nm (void)
{
  const int pats[][2] = { { 2, 4 }, { 4, 8 }, { 1, 4 } };
  const int64_t cols = 64, rows = 9, n = cols * rows;

  for (gsize k = 0; k < G_N_ELEMENTS (pats); k++)
    {
      g_autofree float *orig = random_matrix (n, 100 + (guint32) k);
      g_autofree float *w = g_memdup2 (orig, (gsize) n * sizeof *w);
      const int keep = pats[k][0], m = pats[k][1];
      const lk_prune_spec spec = { LK_PRUNE_MAGNITUDE, 0.0f, keep, m, NULL };

      g_assert_cmpint (lk_prune_matrix (w, cols, rows, &spec), ==, n / m * (m - keep));
      for (int64_t g = 0; g < n; g += m)
        {
          g_assert_cmpint (m - count_zeros (w + g, m), ==, keep);
          assert_split (orig + g, w + g, m, NULL, m);
        }
    }
}

/* Wanda: |w| times the input channel's norm, compared within each row. */
static void
test_wanda (void)
{
  const int64_t cols = 32, rows = 8, n = cols * rows;
  g_autofree float *orig = random_matrix (n, 5);
  g_autofree float *w = g_memdup2 (orig, (gsize) n * sizeof *w);
  float norm[32];
  lk_prune_spec spec = { LK_PRUNE_WANDA, 0.5f, 0, 0, norm };

  /* Channels 0..7 carry large activations: their weights survive. */
  for (int c = 0; c < 32; c++)
    norm[c] = c < 8 ? 100.0f : 1.0f;
  g_assert_cmpint (lk_prune_matrix (w, cols, rows, &spec), ==, n / 2);
  for (int64_t r = 0; r < rows; r++)
    {
      g_assert_cmpint (count_zeros (w + r * cols, cols), ==, cols / 2);
      assert_split (orig + r * cols, w + r * cols, cols, norm, cols);
      for (int c = 0; c < 8; c++)
        g_assert_cmpfloat (w[r * cols + c], !=, 0.0f);
    }
}

static void
test_bad_specs (void)
{
  float w[60] = { 0 };
  const lk_prune_spec nm = { LK_PRUNE_MAGNITUDE, 0.0f, 2, 8, NULL };
  const lk_prune_spec over = { LK_PRUNE_MAGNITUDE, 1.5f, 0, 0, NULL };
  const lk_prune_spec nan_ratio = { LK_PRUNE_MAGNITUDE, NAN, 0, 0, NULL };
  const lk_prune_spec wanda = { LK_PRUNE_WANDA, 0.5f, 0, 0, NULL };
  const lk_prune_spec backwards = { LK_PRUNE_MAGNITUDE, 0.0f, 4, 4, NULL };
  int n, m;

  g_assert_cmpint (lk_prune_matrix (w, 12, 5, &nm), ==, -1);
  g_assert_cmpint (lk_prune_matrix (w, 12, 5, &over), ==, -1);
  g_assert_cmpint (lk_prune_matrix (w, 12, 5, &nan_ratio), ==, -1);
  g_assert_cmpint (lk_prune_matrix (w, 12, 5, &wanda), ==, -1);
  g_assert_cmpint (lk_prune_matrix (w, 12, 5, &backwards), ==, -1);
  g_assert_true (lk_prune_parse_nm ("2:4", &n, &m) && n == 2 && m == 4);
  g_assert_true (lk_prune_parse_nm ("4:8", &n, &m) && n == 4 && m == 8);
  g_assert_false (lk_prune_parse_nm ("4:4", &n, &m));
  g_assert_false (lk_prune_parse_nm ("2:4x", &n, &m));
  g_assert_false (lk_prune_parse_nm ("0:4", &n, &m));
  g_assert_false (lk_prune_parse_nm ("2:65", &n, &m));
  g_assert_false (lk_prune_parse_nm ("", &n, &m));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/engine/prune/magnitude", test_magnitude);
  g_test_add_func ("/lathe/engine/prune/ties", test_ties);
  g_test_add_func ("/lathe/engine/prune/nm", test_nm);
  g_test_add_func ("/lathe/engine/prune/wanda", test_wanda);
  g_test_add_func ("/lathe/engine/prune/bad-specs", test_bad_specs);
  return g_test_run ();
}
