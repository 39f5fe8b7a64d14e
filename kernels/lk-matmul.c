/* SPDX-License-Identifier: MIT */
#include <stdatomic.h>
#include <string.h>

#include "lk-kernels-private.h"
#include "lk-matmul.h"

#define MAX_OUTS 4
#define MAX_THREADS 64
/* Outputs start at multiples of this many rows in the global row space, so
 * chunks never split a group of interleaved rows. */
#define ROW_GROUP 16
/* Rows handed out per grab. Decoding reads each weight once: small chunks
 * balance the threads. Prefill re-reads the activations of every token for
 * each chunk: larger chunks read them less often (7 % faster on the 1.1B
 * shape), while a chunk of weights still fits the second-level cache. */
#define ROW_CHUNK_DECODE 16
#define ROW_CHUNK_PREFILL 64
_Static_assert (ROW_CHUNK_DECODE % ROW_GROUP == 0 && ROW_CHUNK_PREFILL % ROW_GROUP == 0,
                "chunks hold whole groups of interleaved rows");
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
  /* Each thread owns a contiguous range of row chunks (so each core streams
   * its part of the matrix in order) as front | back << 32; a thread that
   * runs dry takes chunks from the back of another's range. */
  struct
  {
    _Atomic uint64_t v;
    char pad[64 - sizeof (uint64_t)]; /* one cache line each: no false sharing */
  } range[MAX_THREADS];
  int n_ranges;
  int64_t chunk_rows;
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
      if (!lk_mm_supported (mm) || mm->act == LK_ACT_F32 || seen[mm->act])
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

/* An output's place in the global row space: its rows rounded up to whole
 * groups, so every chunk starts at a multiple of ROW_GROUP within each
 * output it covers. */
static int64_t
padded_rows (const lk_mat *W)
{
  return (W->n_rows + ROW_GROUP - 1) / ROW_GROUP * ROW_GROUP;
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
      base += padded_rows (W);
      if (r0 < base)
        r0 = base;
    }
}

static void
run_chunks (job_t *job, int64_t chunk, int count)
{
  const int64_t r0 = chunk * job->chunk_rows, end = r0 + count * job->chunk_rows;
  const int64_t r1 = end < job->n_rows_total ? end : job->n_rows_total;

  compute_rows (job, r0, r1);
}

/* Takes chunks from the front of range i (own == true) or one from its
 * back; returns the first and sets *count. The owner takes up to 4 at a time
 * while plenty are left: each take is a locked instruction, which waits for
 * every load in flight and so stalls the weight stream (one take per 16 rows
 * cost about 5% of decode time). */
static int64_t
take (job_t *job, int i, bool own, int *count)
{
  uint64_t v = atomic_load (&job->range[i].v);

  for (;;)
    {
      const uint32_t front = (uint32_t) v, back = (uint32_t) (v >> 32);
      const uint32_t left = back - front;
      const uint32_t k = !own ? 1 : left >= 32 ? 4 : left >= 16 ? 2 : 1;
      uint64_t nv;
      if (front >= back)
        return -1;
      nv = own ? ((uint64_t) back << 32) | (front + k) : ((uint64_t) (back - 1) << 32) | front;
      if (atomic_compare_exchange_weak (&job->range[i].v, &v, nv))
        {
          *count = (int) k;
          return own ? (int64_t) front : (int64_t) back - 1;
        }
    }
}

static void
dot_task (void *arg, int ith, int nth)
{
  job_t *job = arg;
  int64_t chunk;
  int count;

  (void) nth;
  if (ith >= job->n_ranges)
    return;
  while ((chunk = take (job, ith, true, &count)) >= 0)
    run_chunks (job, chunk, count);
  for (int k = 1; k < job->n_ranges; k++)
    {
      const int victim = (ith + k) % job->n_ranges;
      while ((chunk = take (job, victim, false, &count)) >= 0)
        run_chunks (job, chunk, 1);
    }
}

static void
split_ranges (job_t *job, int nth)
{
  const int64_t chunks = (job->n_rows_total + job->chunk_rows - 1) / job->chunk_rows;

  job->n_ranges = nth < MAX_THREADS ? nth : MAX_THREADS;
  for (int i = 0; i < job->n_ranges; i++)
    {
      const uint64_t a = (uint64_t) (chunks * i / job->n_ranges);
      const uint64_t b = (uint64_t) (chunks * (i + 1) / job->n_ranges);
      atomic_init (&job->range[i].v, (b << 32) | a);
    }
}

int
lk_matmul_multi (lk_pool *pool, const lk_kernels *k, const lk_matmul_out *outs, int n_outs,
                 const float *X, int64_t x_stride, int64_t n_tok, void *scratch)
{
  job_t job __attribute__ ((aligned (64)));
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
      if ((unsigned) W->type >= LK_TYPE_COUNT || !lk_mm_supported (&k->mm[W->type]))
        return -1;
      mm = &k->mm[W->type];
      job.n_rows_total += padded_rows (W);
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
  work *= n_tok;
  job.chunk_rows = ROW_CHUNK_DECODE;
  /* Larger chunks when there are still several per thread. */
  if (n_tok > 1 && job.n_rows_total >= ROW_CHUNK_PREFILL * 4 * (pool ? lk_pool_size (pool) : 1))
    job.chunk_rows = ROW_CHUNK_PREFILL;
  if (pool == NULL || lk_pool_size (pool) == 1 || work < SERIAL_WORK)
    {
      convert_rows (&job, 0, n_tok);
      /* Several tokens: chunk by chunk, so each chunk of weights is read
       * from memory once and meets every token from the caches. */
      if (n_tok == 1)
        compute_rows (&job, 0, job.n_rows_total);
      else
        for (int64_t r = 0; r < job.n_rows_total; r += job.chunk_rows)
          run_chunks (&job, r / job.chunk_rows, 1);
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
  split_ranges (&job, lk_pool_size (pool));
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
