/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-prune.h"

/* The score of weight i of a group that starts at column col0. */
static float
score (const lk_prune_spec *s, const float *w, int64_t i, int64_t col0, int64_t n_cols)
{
  const float a = fabsf (w[i]);
  return s->score == LK_PRUNE_WANDA ? a * s->col_norm[(col0 + i) % n_cols] : a;
}

/* The k-th smallest (0-based) of v[0..n), by quickselect; v is reordered. */
static float
kth_smallest (float *v, int64_t n, int64_t k)
{
  int64_t lo = 0, hi = n - 1;

  while (lo < hi)
    {
      const float pivot = v[lo + (hi - lo) / 2];
      int64_t i = lo, j = hi;
      while (i <= j)
        {
          while (v[i] < pivot)
            i++;
          while (v[j] > pivot)
            j--;
          if (i <= j)
            {
              const float t = v[i];
              v[i++] = v[j];
              v[j--] = t;
            }
        }
      if (k <= j)
        hi = j;
      else if (k >= i)
        lo = i;
      else
        return v[k];
    }
  return v[k];
}

/* Zeroes exactly `count` lowest-scored weights of the group w[0..n) that
 * starts at column col0 (ties go in order of position). */
static int64_t
zero_lowest (const lk_prune_spec *s, float *w, int64_t n, int64_t col0, int64_t n_cols,
             int64_t count, float *tmp)
{
  float threshold;
  int64_t below = 0, zeroed = 0;

  if (count <= 0)
    return 0;
  for (int64_t i = 0; i < n; i++)
    tmp[i] = score (s, w, i, col0, n_cols);
  threshold = kth_smallest (tmp, n, count - 1);
  for (int64_t i = 0; i < n; i++)
    below += score (s, w, i, col0, n_cols) < threshold;
  for (int64_t i = 0, ties = count - below; i < n && zeroed < count; i++)
    {
      const float sc = score (s, w, i, col0, n_cols);
      if (sc < threshold || (sc == threshold && ties-- > 0))
        {
          w[i] = 0.0f;
          zeroed++;
        }
    }
  return zeroed;
}

int64_t
lk_prune_matrix (float *w, int64_t n_cols, int64_t n_rows, const lk_prune_spec *s)
{
  const bool nm = s->nm_m > 0;
  const bool per_row = nm || s->score == LK_PRUNE_WANDA;
  const int64_t group = nm ? s->nm_m : per_row ? n_cols : n_cols * n_rows;
  const int64_t n = n_cols * n_rows;
  float *tmp;
  int64_t zeroed = 0;

  if (n_cols <= 0 || n_rows <= 0 || (s->score == LK_PRUNE_WANDA && s->col_norm == NULL))
    return -1;
  if (nm ? (s->nm_n < 1 || s->nm_n >= s->nm_m || n_cols % s->nm_m != 0)
         : !(s->sparsity >= 0.0f && s->sparsity <= 1.0f))
    return -1;
  if (!nm && s->score == LK_PRUNE_MAGNITUDE && s->threshold > 0.0f)
    {
      for (int64_t i = 0; i < n; i++)
        if (fabsf (w[i]) < s->threshold)
          {
            zeroed++;
            w[i] = 0.0f;
          }
      return zeroed;
    }
  if ((tmp = malloc ((size_t) group * sizeof *tmp)) == NULL)
    return -1;
  for (int64_t g0 = 0; g0 < n; g0 += group)
    {
      const int64_t count = nm ? s->nm_m - s->nm_n : (int64_t) llround ((double) s->sparsity * (double) group);
      zeroed += zero_lowest (s, w + g0, group, g0 % n_cols, n_cols, count, tmp);
    }
  free (tmp);
  return zeroed;
}

bool
lk_prune_parse_nm (const char *text, int *n, int *m)
{
  int a, b, used = 0;

  if (sscanf (text, "%d:%d%n", &a, &b, &used) != 2 || text[used] != '\0')
    return false;
  if (a < 1 || b > 64 || a >= b)
    return false;
  *n = a;
  *m = b;
  return true;
}
