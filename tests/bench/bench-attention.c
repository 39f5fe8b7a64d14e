/* SPDX-License-Identifier: MIT */
/* How fast one thread attends over a deep cache.
 *
 *   bench-attention [POSITIONS [HEAD [KERNEL]]]
 *
 * One key/value head of a cache of POSITIONS (default 4096) positions, rows
 * of four heads as TinyLlama's (HEAD 64 wide by default), attended by 1, 3,
 * 8 (decoding one token of a GQA group) and 64 queries (prefill), over an
 * F16 and a Q8_0 cache. Prints GFLOP/s (4 flops a query, position and
 * element: the scores and the weighted values), best of 5 passes. The
 * engine's decode at depth is this times the heads and layers, over the
 * threads; `lathe-cli bench -d` measures it whole. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lk-kernels.h"
#include "lk-quant.h"

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}

static float
noise (uint32_t *s)
{
  *s = *s * 1664525u + 1013904223u;
  return (float) (*s >> 8) / 16777216.0f - 0.5f;
}

int
main (int argc, char **argv)
{
  const int np = argc > 1 ? atoi (argv[1]) : 4096, hd = argc > 2 ? atoi (argv[2]) : 64;
  const int heads = 4, row = heads * hd, ms[] = { 1, 3, 8, 64 };
  const lk_kernels *k = argc > 3 ? lk_kernels_find (argv[3]) : lk_kernels_get ();
  const lk_type types[] = { LK_TYPE_F16, LK_TYPE_Q8_0 };
  float *f, *q, *max, *sum, *acc, *work;
  int *lo, *hi;
  uint32_t seed = 1;

  if (k == NULL || np < 1 || hd < 32 || hd % 32 != 0 || hd > 512)
    {
      fprintf (stderr, "usage: bench-attention [POSITIONS [HEAD (a multiple of 32) [KERNEL]]]\n");
      return 2;
    }
  f = malloc ((size_t) np * row * sizeof *f);
  q = malloc (64 * (size_t) hd * sizeof *q);
  max = malloc (64 * sizeof *max);
  sum = malloc (64 * sizeof *sum);
  acc = malloc (64 * (size_t) hd * sizeof *acc);
  lo = calloc (64, sizeof *lo);
  hi = malloc (64 * sizeof *hi);
  work = aligned_alloc (64, (lk_attn_work_size (64, hd, 1) * sizeof (float) + 63) / 64 * 64);
  for (size_t i = 0; i < (size_t) np * row; i++)
    f[i] = noise (&seed);
  for (int i = 0; i < 64 * hd; i++)
    q[i] = noise (&seed);
  for (int i = 0; i < 64; i++)
    hi[i] = np;
  printf ("kernel %s, %d positions, head %d\n", k->name, np, hd);
  for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++)
    {
      const size_t rb = lk_row_size (types[ti], row);
      uint8_t *kc = malloc ((size_t) np * rb), *vc = malloc ((size_t) np * rb);
      for (int p = 0; p < np; p++)
        {
          lk_quantize_row_ref (types[ti], f + (size_t) p * row, kc + (size_t) p * rb, row);
          lk_quantize_row_ref (types[ti], f + (size_t) p * row, vc + (size_t) p * rb, row);
        }
      for (size_t mi = 0; mi < sizeof ms / sizeof *ms; mi++)
        {
          const lk_attn_args a = {
            .kv_type = types[ti], .k = kc + lk_row_size (types[ti], hd), .v = vc + lk_row_size (types[ti], hd),
            .row_bytes = rb, .hd = hd, .heads = 1, .m = ms[mi], .k0 = 0, .k1 = np, .q = q, .lo = lo, .hi = hi,
            .scale = 1.0f / sqrtf ((float) hd), .work = work, .max = max, .sum = sum, .acc = acc,
          };
          double best = INFINITY;
          for (int pass = 0; pass < 5; pass++)
            {
              const double t0 = now ();
              k->attn (&a);
              best = fmin (best, now () - t0);
            }
          printf ("%-5s m %2d  %7.3f ms  %6.1f GFLOP/s\n", lk_type_name (types[ti]), ms[mi], 1e3 * best,
                  4.0 * ms[mi] * hd * (double) np / best * 1e-9);
        }
      free (kc);
      free (vc);
    }
  free (f), free (q), free (max), free (sum), free (acc), free (lo), free (hi), free (work);
  return 0;
}
