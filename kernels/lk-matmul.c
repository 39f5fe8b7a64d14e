/* SPDX-License-Identifier: MIT */
#include <stdatomic.h>

#include "lk-matmul.h"

/* Rows handed out per grab: big enough to amortise the atomic, small enough
 * that two threads finish together on small matrices. */
#define ROW_CHUNK 16

typedef struct
{
  const lk_kernels *k;
  const lk_mat *W;
  const float *X;
  int64_t x_stride;
  int64_t n_tok;
  float *Y;
  int64_t y_stride;
  uint8_t *act;
  size_t act_row_bytes;
  _Atomic int64_t next_row;
} matmul_job;

size_t
lk_matmul_scratch_size (const lk_kernels *k, lk_type type, int64_t n_cols, int64_t n_tok)
{
  const lk_mm_kernel *mm = &k->mm[type];

  if (mm->vec_dot == NULL || mm->act_type == LK_TYPE_F32)
    return 0;
  return lk_row_size (mm->act_type, n_cols) * (size_t) n_tok;
}

static void
convert_task (void *arg, int ith, int nth)
{
  matmul_job *job = arg;
  const lk_mm_kernel *mm = &job->k->mm[job->W->type];

  for (int64_t t = ith; t < job->n_tok; t += nth)
    mm->quantize_act (job->X + t * job->x_stride, job->act + (size_t) t * job->act_row_bytes,
                      job->W->n_cols);
}

static void
dot_task (void *arg, int ith, int nth)
{
  matmul_job *job = arg;
  const lk_mat *W = job->W;
  const lk_vec_dot_fn vec_dot = job->k->mm[W->type].vec_dot;
  const uint8_t *wdata = W->data;

  (void) ith;
  (void) nth;
  for (;;)
    {
      const int64_t r0 = atomic_fetch_add (&job->next_row, ROW_CHUNK);
      if (r0 >= W->n_rows)
        break;
      const int64_t r1 = r0 + ROW_CHUNK < W->n_rows ? r0 + ROW_CHUNK : W->n_rows;
      for (int64_t t = 0; t < job->n_tok; t++)
        {
          const void *x = job->act ? (const void *) (job->act + (size_t) t * job->act_row_bytes)
                                   : (const void *) (job->X + t * job->x_stride);
          float *y = job->Y + t * job->y_stride;
          for (int64_t r = r0; r < r1; r++)
            vec_dot (W->n_cols, &y[r], wdata + (size_t) r * W->row_bytes, x);
        }
    }
}

int
lk_matmul (lk_pool *pool, const lk_kernels *k, const lk_mat *W,
           const float *X, int64_t x_stride, int64_t n_tok,
           float *Y, int64_t y_stride, void *scratch)
{
  const lk_mm_kernel *mm = &k->mm[W->type];
  matmul_job job = {
    .k = k, .W = W, .X = X, .x_stride = x_stride, .n_tok = n_tok,
    .Y = Y, .y_stride = y_stride,
  };

  if ((unsigned) W->type >= LK_TYPE_COUNT || mm->vec_dot == NULL)
    return -1;
  atomic_init (&job.next_row, 0);
  if (mm->act_type != LK_TYPE_F32)
    {
      job.act = scratch;
      job.act_row_bytes = lk_row_size (mm->act_type, W->n_cols);
      lk_pool_run (pool, convert_task, &job);
    }
  lk_pool_run (pool, dot_task, &job);
  return 0;
}
