/* SPDX-License-Identifier: MIT */
/* How close the decode matrix products come to reading their weights.
 *
 *   bench-stream TYPE [THREADS]
 *
 * Lays out TinyLlama-1.1B's 88 layer matrices (22 layers of q|k|v, o,
 * gate|up, down) in TYPE, repacked as the engine does at load, in one
 * huge-page buffer, then times one decode step (every matrix against one
 * activation row, as lk_ctx does) and a plain read of the same bytes by the
 * same threads. Prints both and their ratio, best of 10 passes each. This
 * isolates the kernels' streaming from the rest of a token (attention,
 * norms, the output head), which `lathe-cli bench` measures as a whole. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "lk-kernels.h"
#include "lk-matmul.h"
#include "lk-pack.h"
#include "lk-pool.h"
#include "lk-quant.h"

#ifndef N_LAYERS
#define N_LAYERS 22
#endif
#define N_SHAPES 4
#ifndef PASSES
#define PASSES 10
#endif

static const int64_t shapes[N_SHAPES][2] = { { 2560, 2048 }, { 2048, 2048 }, { 11264, 2048 }, { 2048, 5632 } };

typedef struct
{
  const uint8_t *p;
  size_t n;
  uint64_t sums[64];
} read_job;

static double
now_s (void)
{
  struct timespec t;

  clock_gettime (CLOCK_MONOTONIC, &t);
  return (double) t.tv_sec + (double) t.tv_nsec * 1e-9;
}

static void
read_task (void *arg, int ith, int nth)
{
  read_job *job = arg;
  const size_t part = job->n / (size_t) nth / 64 * 64;

  job->sums[ith & 63] += lk_kernels_get ()->sum_bytes (job->p + part * (size_t) ith, part);
}

/* One matrix of a shape in the engine's layout for type. */
static void
fill_matrix (lk_type type, int64_t rows, int64_t cols, uint8_t *dst, void *tmp)
{
  const size_t rb = lk_row_size (type, cols);
  float *row = malloc ((size_t) cols * sizeof *row);

  for (int64_t r = 0; r < rows; r++)
    {
      for (int64_t c = 0; c < cols; c++)
        row[c] = (float) ((r * 7 + c * 3) % 11) * 0.01f - 0.05f;
      lk_quantize_row_ref (type, row, dst + (size_t) r * rb, cols);
    }
  free (row);
  if (lk_type_interleaved (type) != type)
    for (int64_t r = 0; r < rows; r += 16)
      lk_x16_pack (type, dst + (size_t) r * rb, cols, tmp);
  else
    for (int64_t r = 0; r < rows; r++)
      lk_pack_row (type, dst + (size_t) r * rb, cols, tmp);
}

static lk_type
engine_layout (lk_type type)
{
  return lk_type_interleaved (type) != type ? lk_type_interleaved (type) : lk_type_packed (type);
}

int
main (int argc, char **argv)
{
  const lk_type type = argc > 1 ? lk_type_from_name (argv[1]) : LK_TYPE_COUNT;
  const int threads = argc > 2 ? atoi (argv[2]) : 2;
  lk_mat mats[N_LAYERS][N_SHAPES];
  size_t bytes = 0, off = 0;
  uint8_t *buf = NULL, *tmp;
  float *x, *y;
  void *scratch;
  lk_pool *pool;
  read_job job = { 0 };
  double best_mm = 1e30, best_read = 1e30;

  if (type >= LK_TYPE_COUNT || threads < 1)
    {
      fprintf (stderr, "usage: bench-stream TYPE [THREADS]  (TYPE: F16, Q8_0, Q4_0, Q4_K, Q6_K, …)\n");
      return 2;
    }
  for (int s = 0; s < N_SHAPES; s++)
    bytes += lk_row_size (type, shapes[s][1]) * (size_t) shapes[s][0];
  bytes *= N_LAYERS;
  if (posix_memalign ((void **) &buf, (size_t) 2 << 20, bytes) != 0)
    {
      fprintf (stderr, "bench-stream: cannot allocate %zu bytes\n", bytes);
      return 1;
    }
  madvise (buf, bytes, MADV_HUGEPAGE);
  tmp = malloc (16 * lk_row_size (type, 5632));
  /* The first layer is made once and copied: the bytes stay distinct. */
  for (int l = 0; l < N_LAYERS; l++)
    for (int s = 0; s < N_SHAPES; s++)
      {
        const size_t rb = lk_row_size (type, shapes[s][1]), n = rb * (size_t) shapes[s][0];
        if (l == 0)
          fill_matrix (type, shapes[s][0], shapes[s][1], buf + off, tmp);
        else
          memcpy (buf + off, mats[0][s].data, n);
        mats[l][s] = (lk_mat) { engine_layout (type), shapes[s][0], shapes[s][1], rb, buf + off };
        off += n;
      }
  x = malloc (5632 * sizeof *x);
  y = malloc (11264 * sizeof *y);
  for (int i = 0; i < 5632; i++)
    x[i] = (float) (i % 5) * 0.1f;
  {
    const lk_mat *one = &mats[0][3];
    scratch = malloc (lk_matmul_scratch_size (lk_kernels_get (), &one, 1, 1) + 1);
  }
  pool = lk_pool_new (threads);
  for (int pass = 0; pass < PASSES; pass++)
    {
      double t0 = now_s (), t;
      for (int l = 0; l < N_LAYERS; l++)
        for (int s = 0; s < N_SHAPES; s++)
          lk_matmul (pool, lk_kernels_get (), &mats[l][s], x, shapes[s][1], 1, y, shapes[s][0], scratch);
      t = now_s () - t0;
      best_mm = t < best_mm ? t : best_mm;
      t0 = now_s ();
      for (int l = 0; l < N_LAYERS; l++)
        for (int s = 0; s < N_SHAPES; s++)
          {
            job.p = mats[l][s].data;
            job.n = mats[l][s].row_bytes * (size_t) mats[l][s].n_rows;
            lk_pool_run (pool, read_task, &job);
          }
      t = now_s () - t0;
      best_read = t < best_read ? t : best_read;
    }
  printf ("%s as %s, %s, %d threads, %.0f MB: matmul %.2f ms (%.1f GB/s), plain read %.2f ms "
          "(%.1f GB/s): %.0f%% of the read speed\n",
          lk_type_name (type), lk_type_name (engine_layout (type)), lk_kernels_get ()->name, threads,
          (double) bytes / 1e6, best_mm * 1e3, (double) bytes / best_mm / 1e9, best_read * 1e3,
          (double) bytes / best_read / 1e9, 100.0 * best_read / best_mm);
  lk_pool_free (pool);
  free (scratch);
  free (x);
  free (y);
  free (tmp);
  free (buf);
  return job.sums[0] == 42 ? 3 : 0; /* keeps the reads observable */
}
