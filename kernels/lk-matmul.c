/* SPDX-License-Identifier: MIT */
#include <stdatomic.h>
#include <string.h>

#include "lk-kernels-private.h"
#include "lk-matmul.h"

#define MAX_OUTS 4
/* Rows handed out per grab: enough to amortise the atomic and to keep a
 * tile of weights in the first-level cache while it meets every token. */
#define ROW_CHUNK 16
/* Below this many multiply-adds a product runs on the calling thread alone:
 * waking a second thread costs more than it saves. */
#define SERIAL_WORK (96 * 1024)

typedef struct
{
  const lk_kernels *k;
  const lk_matmul_out *outs;
  int n_outs;
  int64_t n_rows_total;
  const float *X;
  int64_t x_stride;
  int64_t n_tok;
  const uint8_t *act[LK_ACT_COUNT]; /* converted X per activation format */
  size_t act_stride[LK_ACT_COUNT];
  uint8_t *act_buf[LK_ACT_COUNT];
  _Atomic int64_t next_row;
} job_t;

static size_t
act_stride (lk_act act, int64_t n_cols)
{
  return lk_act_row_size (act, n_cols);
}

size_t
lk_matmul_scratch_size (const lk_kernels *k, const lk_mat *const *ws, int n_mats, int64_t n_tok)
{
  bool seen[LK_ACT_COUNT] = { false };
  size_t total = 0;

  for (int i = 0; i < n_mats; i++)
    {
      const lk_mm_kernel *mm = &k->mm[ws[i]->type];
      if (mm->vec_dot == NULL || mm->act == LK_ACT_F32 || seen[mm->act])
        continue;
      seen[mm->act] = true;
      total += act_stride (mm->act, ws[i]->n_cols) * (size_t) n_tok;
    }
  return total;
}

static void
convert_rows (job_t *job, int64_t t0, int64_t t1)
{
  for (int a = 0; a < LK_ACT_COUNT; a++)
    {
      if (job->act_buf[a] == NULL)
        continue;
      for (int i = 0; i < job->n_outs; i++)
        {
          const lk_mm_kernel *mm = &job->k->mm[job->outs[i].w->type];
          if ((int) mm->act != a)
            continue;
          for (int64_t t = t0; t < t1; t++)
            mm->quantize_act (job->X + t * job->x_stride, job->act_buf[a] + (size_t) t * job->act_stride[a],
                              job->outs[i].w->n_cols);
          break;
        }
    }
}

static void
convert_task (void *arg, int ith, int nth)
{
  job_t *job = arg;
  const int64_t per = (job->n_tok + nth - 1) / nth;
  const int64_t t0 = per * ith, t1 = t0 + per < job->n_tok ? t0 + per : job->n_tok;

  if (t0 < t1)
    convert_rows (job, t0, t1);
}

/* Rows [r0, r1) of the global row space, which runs through the outputs in order. */
static void
compute_rows (job_t *job, int64_t r0, int64_t r1)
{
  int64_t base = 0;

  for (int i = 0; i < job->n_outs && r0 < r1; i++)
    {
      const lk_matmul_out *o = &job->outs[i];
      const lk_mat *W = o->w;
      const int64_t end = base + W->n_rows;
      if (r0 < end)
        {
          const lk_mm_kernel *mm = &job->k->mm[W->type];
          const int64_t a = r0 - base, b = (r1 < end ? r1 : end) - base;
          const uint8_t *x = mm->act == LK_ACT_F32 ? (const uint8_t *) job->X : job->act[mm->act];
          const size_t xs = mm->act == LK_ACT_F32 ? (size_t) job->x_stride * sizeof (float)
                                                  : job->act_stride[mm->act];
          const uint8_t *w = (const uint8_t *) W->data + (size_t) a * W->row_bytes;
          if (mm->gemm != NULL)
            mm->gemm (W->n_cols, w, W->row_bytes, (int) (b - a), x, xs, (int) job->n_tok,
                      o->y + a, (size_t) o->y_stride);
          else
            lk_gemm_by_vec_dot (mm->vec_dot, W->n_cols, w, W->row_bytes, (int) (b - a), x, xs,
                                (int) job->n_tok, o->y + a, (size_t) o->y_stride);
          r0 = base + b;
        }
      base = end;
    }
}

static void
dot_task (void *arg, int ith, int nth)
{
  job_t *job = arg;

  (void) ith;
  (void) nth;
  for (;;)
    {
      const int64_t r0 = atomic_fetch_add (&job->next_row, ROW_CHUNK);
      if (r0 >= job->n_rows_total)
        break;
      compute_rows (job, r0, r0 + ROW_CHUNK < job->n_rows_total ? r0 + ROW_CHUNK
                                                                 : job->n_rows_total);
    }
}

int
lk_matmul_multi (lk_pool *pool, const lk_kernels *k, const lk_matmul_out *outs, int n_outs,
                 const float *X, int64_t x_stride, int64_t n_tok, void *scratch)
{
  job_t job;
  uint8_t *next = scratch;
  int64_t work = 0;
  bool convert = false;

  if (n_outs <= 0 || n_outs > MAX_OUTS)
    return -1;
  memset (&job, 0, sizeof job);
  job.k = k;
  job.outs = outs;
  job.n_outs = n_outs;
  job.X = X;
  job.x_stride = x_stride;
  job.n_tok = n_tok;
  for (int i = 0; i < n_outs; i++)
    {
      const lk_mat *W = outs[i].w;
      const lk_mm_kernel *mm;
      if ((unsigned) W->type >= LK_TYPE_COUNT || k->mm[W->type].vec_dot == NULL)
        return -1;
      mm = &k->mm[W->type];
      job.n_rows_total += W->n_rows;
      work += W->n_rows * W->n_cols;
      if (mm->act != LK_ACT_F32 && job.act_buf[mm->act] == NULL)
        {
          job.act_stride[mm->act] = act_stride (mm->act, W->n_cols);
          job.act_buf[mm->act] = next;
          job.act[mm->act] = next;
          next += job.act_stride[mm->act] * (size_t) n_tok;
          convert = true;
        }
    }
  atomic_init (&job.next_row, 0);
  work *= n_tok;
  if (pool == NULL || lk_pool_size (pool) == 1 || work < SERIAL_WORK)
    {
      convert_rows (&job, 0, n_tok);
      compute_rows (&job, 0, job.n_rows_total);
      return 0;
    }
  if (convert)
    {
      /* One token converts faster than the threads can be woken. */
      if (n_tok == 1)
        convert_rows (&job, 0, 1);
      else
        lk_pool_run (pool, convert_task, &job);
    }
  lk_pool_run (pool, dot_task, &job);
  return 0;
}

int
lk_matmul (lk_pool *pool, const lk_kernels *k, const lk_mat *W, const float *X,
           int64_t x_stride, int64_t n_tok, float *Y, int64_t y_stride, void *scratch)
{
  const lk_matmul_out out = { W, Y, y_stride };

  return lk_matmul_multi (pool, k, &out, 1, X, x_stride, n_tok, scratch);
}
