/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "lk-context.h"
#include "lk-half.h"
#include "lk-kernels.h"
#include "lk-matmul.h"
#include "lk-pool.h"

#define DEFAULT_BATCH 256

typedef struct
{
  void *k, *v; /* [n_ctx][n_head_kv * head_dim] of kv_type */
  int kv_dim;
} kv_layer;

struct lk_ctx
{
  const lk_model *model;
  const lk_hparams *hp;
  const lk_kernels *kern;
  lk_pool *pool;
  int n_ctx, n_batch, n_past;
  lk_type kv_type;
  kv_layer *kv;
  void *kv_map; /* every layer's keys and values, one mapping */
  size_t kv_map_size;
  atomic_int *cancel;
  lk_matmul_observer mm_observer;
  lk_layer_observer layer_observer;
  void *observer_user;

  int max_q, max_kv, max_ff;
  float *x, *xb, *q, *k, *v, *att, *hb, *hb2;
  /* RoPE: [0] for most layers, [1] for sliding-window layers with a RoPE
   * base of their own (gemma3), else the same tables. */
  float *cos_t[2], *sin_t[2]; /* [n_batch][n_rot/2] */
  double *inv_freq[2];        /* [n_rot/2] */
  int n_rope_kinds;
  /* Attention: per thread a work area (queries, bounds, kernel work, state)
   * of attn_stride floats; partial states of split ranges. */
  float *attn_buf, *attn_part;
  size_t attn_stride;
  int attn_mmax, attn_heads;
  void *mm_scratch;
  size_t mm_scratch_size;

  /* LATHE_PROFILE=1: time spent per kind of step, printed at the end. */
  bool profile;
  double prof_ms[4]; /* matmul, attention, other layer work, output head */
  int64_t prof_tokens;

  float *logits;     /* [logits_rows][n_vocab] */
  int logits_rows;   /* capacity */
  int n_logits;      /* rows valid after the last decode */

  /* Mixture of experts: buffers, routing counts [n_layer][n_expert]. */
  float *moe_router, *moe_w, *moe_in, *moe_out;
  int *moe_sel, *moe_idx;
  uint64_t *moe_routes;
  int moe_top_k;        /* 0: the model's */

  /* Conditional computation (lk_ctx_set_conditional). */
  bool *skip;           /* [n_layer] or NULL */
  float exit_threshold; /* >= 1: never exit */
  int exit_min_layer;
  bool exit_on_margin;
  lk_cond_stats stats;
};

void
lk_ctx_params_init (lk_ctx_params *p)
{
  memset (p, 0, sizeof *p);
  p->kv_type = LK_TYPE_F16;
}

static void *
xcalloc (size_t n, size_t size)
{
  return calloc (n ? n : 1, size);
}

void
lk_ctx_free (lk_ctx *ctx)
{
  if (ctx == NULL)
    return;
  if (ctx->profile && ctx->prof_tokens > 0)
    fprintf (stderr,
             "lathe profile: %lld tokens; per token: matmul %.3f ms, attention %.3f ms, "
             "other %.3f ms, output head %.3f ms\n",
             (long long) ctx->prof_tokens, ctx->prof_ms[0] / ctx->prof_tokens,
             ctx->prof_ms[1] / ctx->prof_tokens, ctx->prof_ms[2] / ctx->prof_tokens,
             ctx->prof_ms[3] / ctx->prof_tokens);
  if (ctx->kv_map != NULL)
    munmap (ctx->kv_map, ctx->kv_map_size);
  free (ctx->kv);
  free (ctx->skip);
  free (ctx->stats.exit_hist);
  free (ctx->moe_router);
  free (ctx->moe_w);
  free (ctx->moe_in);
  free (ctx->moe_out);
  free (ctx->moe_sel);
  free (ctx->moe_idx);
  free (ctx->moe_routes);
  free (ctx->x);
  free (ctx->xb);
  free (ctx->q);
  free (ctx->k);
  free (ctx->v);
  free (ctx->att);
  free (ctx->hb);
  free (ctx->hb2);
  for (int i = 0; i < ctx->n_rope_kinds; i++)
    {
      free (ctx->cos_t[i]);
      free (ctx->sin_t[i]);
      free (ctx->inv_freq[i]);
    }
  free (ctx->attn_buf);
  free (ctx->attn_part);
  free (ctx->mm_scratch);
  free (ctx->logits);
  lk_pool_free (ctx->pool);
  free (ctx);
}

/* Scratch for the converted activations of the widest matrix of each
 * activation format, for a whole batch. */
static size_t
max_scratch (const lk_ctx *ctx)
{
  const lk_model *m = ctx->model;
  int64_t widest[LK_ACT_COUNT] = { 0 };
  size_t total = 0;

  for (size_t i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      if (t->n_dims >= 2 && (unsigned) t->type < LK_TYPE_COUNT
          && lk_mm_supported (&ctx->kern->mm[t->type]) && t->ne[0] > widest[ctx->kern->mm[t->type].act])
        widest[ctx->kern->mm[t->type].act] = t->ne[0];
    }
  for (int a = 1; a < LK_ACT_COUNT; a++)
    if (widest[a] > 0)
      total += lk_act_row_size ((lk_act) a, widest[a]) * (size_t) ctx->n_batch;
  return total;
}

/* The KV cache: one anonymous mapping (zeros, pages taken as they are
 * written) aligned to and advised into huge pages. Decoding at depth reads a
 * head's short piece of every cache row; with 4 KiB pages that is a TLB miss
 * every few positions. */
static int
alloc_cache (lk_ctx *ctx)
{
  const size_t align = (size_t) 2 << 20;
  size_t total = 0, off = 0;
  uint8_t *base;

  for (int il = 0; il < ctx->hp->n_layer; il++)
    total += 2 * ((size_t) ctx->n_ctx * lk_row_size (ctx->kv_type, ctx->kv[il].kv_dim) + 63) / 64 * 64;
  total = (total + align - 1) / align * align;
  ctx->kv_map_size = total + align;
  ctx->kv_map = mmap (NULL, ctx->kv_map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ctx->kv_map == MAP_FAILED)
    {
      ctx->kv_map = NULL;
      return -1;
    }
  base = (uint8_t *) (((uintptr_t) ctx->kv_map + align - 1) / align * align);
#ifdef MADV_HUGEPAGE
  madvise (base, total, MADV_HUGEPAGE);
#endif
  for (int il = 0; il < ctx->hp->n_layer; il++)
    {
      const size_t size = ((size_t) ctx->n_ctx * lk_row_size (ctx->kv_type, ctx->kv[il].kv_dim) + 63) / 64 * 64;
      ctx->kv[il].k = base + off;
      ctx->kv[il].v = base + off + size;
      off += 2 * size;
    }
  return 0;
}

/* Queries an attention task takes: one GQA group for as many tokens as
 * make about this many; ranges of positions split over at most ATTN_SPLITS
 * tasks when too few tasks would keep the threads busy (decoding). */
#define ATTN_QUERIES 64
#define ATTN_SPLITS 8

static int
attn_tokens (int group)
{
  return group >= ATTN_QUERIES ? 1 : ATTN_QUERIES / group;
}

static size_t
round16 (size_t n)
{
  return (n + 15) / 16 * 16;
}

static void *
alloc_aligned (size_t floats)
{
  void *p = NULL;
  if (posix_memalign (&p, 64, (floats ? floats : 1) * sizeof (float)) != 0)
    return NULL;
  memset (p, 0, floats * sizeof (float));
  return p;
}

static int
alloc_attention (lk_ctx *ctx, int n_threads)
{
  const int hd = ctx->hp->head_dim;
  int mmax = 1, max_kv_heads = 1;

  for (int il = 0; il < ctx->hp->n_layer; il++)
    {
      const lk_layer *L = lk_model_layer (ctx->model, il);
      const int group = L->n_head / L->n_head_kv;
      if (attn_tokens (group) * group > mmax)
        mmax = attn_tokens (group) * group;
      if (L->n_head_kv > max_kv_heads)
        max_kv_heads = L->n_head_kv;
    }
  ctx->attn_mmax = mmax;
  ctx->attn_heads = max_kv_heads;
  /* queries, state (max, sum, acc), bounds (two ints a query), kernel work;
   * a call takes one head, or all of them */
  ctx->attn_stride = round16 ((size_t) max_kv_heads * mmax * hd) + round16 ((size_t) max_kv_heads * mmax * (hd + 2))
                     + round16 (2 * (size_t) mmax) + round16 (lk_attn_work_size (mmax, hd, max_kv_heads));
  ctx->attn_buf = alloc_aligned (ctx->attn_stride * (size_t) n_threads);
  ctx->attn_part = alloc_aligned ((size_t) max_kv_heads * ATTN_SPLITS * (size_t) mmax * (hd + 2));
  return ctx->attn_buf != NULL && ctx->attn_part != NULL ? 0 : -1;
}

static lk_status
alloc_buffers (lk_ctx *ctx, int n_threads, lk_error *err)
{
  const lk_hparams *hp = ctx->hp;
  const size_t nb = (size_t) ctx->n_batch;
  const int half = hp->n_rot / 2;

  for (int il = 0; il < hp->n_layer; il++)
    {
      const lk_layer *L = lk_model_layer (ctx->model, il);
      const int q = L->n_head * hp->head_dim, kv = L->n_head_kv * hp->head_dim;
      if (q > ctx->max_q) ctx->max_q = q;
      if (kv > ctx->max_kv) ctx->max_kv = kv;
      if (L->n_ff > ctx->max_ff) ctx->max_ff = L->n_ff;
      /* Fused products land in hb whole before they are split. */
      if (L->ffn_fused && 2 * L->n_ff > ctx->max_ff) ctx->max_ff = 2 * L->n_ff;
      if (L->wqkv != NULL && q + 2 * kv > ctx->max_ff) ctx->max_ff = q + 2 * kv;
      if (L->n_ff_shexp > ctx->max_ff) ctx->max_ff = L->n_ff_shexp;
      ctx->kv[il].kv_dim = kv;
    }
  if (alloc_cache (ctx) != 0)
    return lk_error_set (err, LK_ERR_NOMEM, "cannot allocate the KV cache for %d positions", ctx->n_ctx);
  ctx->x = xcalloc (nb * (size_t) hp->n_embd, sizeof (float));
  ctx->xb = xcalloc (nb * (size_t) (hp->n_embd > ctx->max_q ? hp->n_embd : ctx->max_q),
                     sizeof (float));
  ctx->q = xcalloc (nb * (size_t) ctx->max_q, sizeof (float));
  ctx->k = xcalloc (nb * (size_t) ctx->max_kv, sizeof (float));
  ctx->v = xcalloc (nb * (size_t) ctx->max_kv, sizeof (float));
  ctx->att = xcalloc (nb * (size_t) ctx->max_q, sizeof (float));
  ctx->hb = xcalloc (nb * (size_t) ctx->max_ff, sizeof (float));
  ctx->hb2 = xcalloc (nb * (size_t) ctx->max_ff, sizeof (float));
  ctx->n_rope_kinds = hp->n_swa > 0 && hp->rope_base_swa != hp->rope_base ? 2 : 1;
  for (int i = 0; i < ctx->n_rope_kinds; i++)
    {
      ctx->cos_t[i] = xcalloc (nb * (size_t) half, sizeof (float));
      ctx->sin_t[i] = xcalloc (nb * (size_t) half, sizeof (float));
      ctx->inv_freq[i] = xcalloc ((size_t) half, sizeof (double));
      if (!ctx->cos_t[i] || !ctx->sin_t[i] || !ctx->inv_freq[i])
        return lk_error_set (err, LK_ERR_NOMEM, "cannot allocate the forward-pass buffers");
    }
  if (ctx->n_rope_kinds == 1)
    {
      ctx->cos_t[1] = ctx->cos_t[0];
      ctx->sin_t[1] = ctx->sin_t[0];
      ctx->inv_freq[1] = ctx->inv_freq[0];
    }
  if (alloc_attention (ctx, n_threads) != 0)
    return lk_error_set (err, LK_ERR_NOMEM, "cannot allocate the attention buffers");
  if (hp->n_expert > 0)
    {
      const size_t ne = (size_t) hp->n_expert;
      ctx->moe_router = xcalloc (nb * ne, sizeof (float));
      ctx->moe_w = xcalloc (nb * ne, sizeof (float));
      ctx->moe_sel = xcalloc (nb * ne, sizeof (int));
      ctx->moe_idx = xcalloc (nb * ne, sizeof (int));
      ctx->moe_in = xcalloc (nb * (size_t) hp->n_embd, sizeof (float));
      ctx->moe_out = xcalloc (nb * (size_t) hp->n_embd, sizeof (float));
      ctx->moe_routes = xcalloc ((size_t) hp->n_layer * ne, sizeof (uint64_t));
    }
  ctx->mm_scratch_size = max_scratch (ctx);
  ctx->mm_scratch = xcalloc (ctx->mm_scratch_size, 1);
  ctx->logits_rows = 1;
  ctx->logits = xcalloc ((size_t) hp->n_vocab, sizeof (float));
  if (!ctx->x || !ctx->xb || !ctx->q || !ctx->k || !ctx->v || !ctx->att || !ctx->hb || !ctx->hb2
      || !ctx->mm_scratch
      || !ctx->logits
      || (hp->n_expert > 0
          && (!ctx->moe_router || !ctx->moe_w || !ctx->moe_sel || !ctx->moe_idx || !ctx->moe_in
              || !ctx->moe_out || !ctx->moe_routes)))
    return lk_error_set (err, LK_ERR_NOMEM, "cannot allocate the forward-pass buffers");
  {
    const float *factors = lk_model_rope_factors_for (ctx->model, ctx->n_ctx);
    for (int i = 0; i < half; i++)
      {
        double f = pow ((double) hp->rope_base, -2.0 * i / hp->n_rot) * hp->rope_freq_scale;
        if (factors != NULL)
          f /= factors[i];
        ctx->inv_freq[0][i] = f;
        /* The sliding layers' own base, unscaled (as llama.cpp's gemma3). */
        if (ctx->n_rope_kinds == 2)
          ctx->inv_freq[1][i] = pow ((double) hp->rope_base_swa, -2.0 * i / hp->n_rot);
      }
  }
  return LK_OK;
}

bool
lk_kv_type_from_name (const char *name, lk_type *type)
{
  const lk_type t = lk_type_from_name (name);

  if (t != LK_TYPE_F16 && t != LK_TYPE_F32 && t != LK_TYPE_Q8_0)
    return false;
  *type = t;
  return true;
}

static lk_status set_conditional_checked (lk_ctx *ctx, const lk_cond_params *p, lk_error *err);

/* A variant's file may carry conditional-computation settings (its recipe's
 * "conditional"): every context of it starts with them. */
static lk_status
file_conditional (lk_ctx *ctx, lk_error *err)
{
  const lk_gguf *g = lk_model_gguf (ctx->model);
  char *skip_list;
  bool *skip = NULL;
  lk_cond_params cp;
  uint32_t min_layer = 0, experts = 0;
  lk_status s = LK_OK;

  if (g == NULL)
    return LK_OK;
  lk_cond_params_init (&cp);
  skip_list = lk_gguf_get_str_dup (g, "lathe.conditional.skip_layers");
  if (!lk_gguf_get_f32 (g, "lathe.conditional.exit_threshold", &cp.exit_threshold))
    cp.exit_threshold = 1.0f;
  if (lk_gguf_get_u32 (g, "lathe.conditional.exit_min_layer", &min_layer))
    cp.exit_min_layer = min_layer > INT32_MAX ? -1 : (int) min_layer;
  lk_gguf_get_bool (g, "lathe.conditional.exit_on_margin", &cp.exit_on_margin);
  if (lk_gguf_get_u32 (g, "lathe.conditional.experts_used", &experts) && experts <= 4096)
    cp.moe_top_k = (int) experts;
  if (skip_list == NULL && cp.exit_threshold >= 1.0f && cp.moe_top_k == 0)
    return LK_OK;
  if (skip_list != NULL)
    {
      if ((skip = malloc ((size_t) ctx->hp->n_layer * sizeof *skip)) == NULL)
        s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      else
        s = lk_cond_parse_layers (skip_list, ctx->hp->n_layer, skip, err);
      cp.skip = skip;
    }
  if (s == LK_OK)
    s = set_conditional_checked (ctx, &cp, err);
  if (s != LK_OK)
    lk_error_prefix (err, "%s: lathe.conditional", lk_model_path (ctx->model));
  free (skip);
  free (skip_list);
  return s;
}

lk_status
lk_ctx_new (const lk_model *model, const lk_ctx_params *params, lk_ctx **out, lk_error *err)
{
  lk_ctx_params defaults;
  lk_ctx *ctx;
  lk_status s;

  *out = NULL;
  if (params == NULL)
    {
      lk_ctx_params_init (&defaults);
      params = &defaults;
    }
  if (params->kv_type != LK_TYPE_F16 && params->kv_type != LK_TYPE_F32
      && params->kv_type != LK_TYPE_Q8_0)
    return lk_error_set (err, LK_ERR_INVALID, "KV cache type %s is not supported (F16, F32 or Q8_0)",
                         lk_type_name (params->kv_type));
  if (params->kv_type == LK_TYPE_Q8_0 && lk_model_hparams (model)->head_dim % 32 != 0)
    return lk_error_set (err, LK_ERR_INVALID,
                         "a Q8_0 KV cache needs a head size that is a multiple of 32 "
                         "(this model's is %d): use F16", lk_model_hparams (model)->head_dim);
  if (lk_model_hparams (model)->head_dim > 4096)
    return lk_error_set (err, LK_ERR_UNSUPPORTED, "a head size of %d is larger than the 4096 Lathe's attention takes",
                         lk_model_hparams (model)->head_dim);
  if (params->n_ctx < 0 || params->n_ctx > (1 << 22) || params->n_batch < 0)
    return lk_error_set (err, LK_ERR_INVALID, "context size %d is out of range", params->n_ctx);
  ctx = calloc (1, sizeof *ctx);
  if (ctx == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  ctx->model = model;
  ctx->hp = lk_model_hparams (model);
  ctx->profile = getenv ("LATHE_PROFILE") != NULL;
  ctx->exit_threshold = 1.0f;
  ctx->n_ctx = params->n_ctx > 0 ? params->n_ctx : ctx->hp->n_ctx_train;
  if (ctx->n_ctx <= 0)
    ctx->n_ctx = 2048;
  ctx->n_batch = params->n_batch > 0 ? params->n_batch : DEFAULT_BATCH;
  if (ctx->n_batch > ctx->n_ctx)
    ctx->n_batch = ctx->n_ctx;
  ctx->kv_type = params->kv_type;
  ctx->kern = params->kernel ? lk_kernels_find (params->kernel) : lk_kernels_get ();
  if (ctx->kern == NULL)
    {
      lk_ctx_free (ctx);
      return lk_error_set (err, LK_ERR_INVALID,
                           "kernel version '%s' is unknown or cannot run on this CPU",
                           params->kernel);
    }
  ctx->pool = lk_pool_new (params->n_threads);
  ctx->kv = calloc ((size_t) ctx->hp->n_layer, sizeof *ctx->kv);
  if (ctx->pool == NULL || ctx->kv == NULL)
    {
      lk_ctx_free (ctx);
      return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
    }
  s = alloc_buffers (ctx, lk_pool_size (ctx->pool), err);
  if (s == LK_OK)
    s = file_conditional (ctx, err);
  if (s != LK_OK)
    {
      lk_ctx_free (ctx);
      return s;
    }
  *out = ctx;
  return LK_OK;
}

const lk_model *
lk_ctx_model (const lk_ctx *ctx)
{
  return ctx->model;
}

int
lk_ctx_n_ctx (const lk_ctx *ctx)
{
  return ctx->n_ctx;
}

int
lk_ctx_n_past (const lk_ctx *ctx)
{
  return ctx->n_past;
}

int
lk_ctx_n_threads (const lk_ctx *ctx)
{
  return lk_pool_size (ctx->pool);
}

const char *
lk_ctx_kernel_name (const lk_ctx *ctx)
{
  return ctx->kern->name;
}

void
lk_ctx_truncate (lk_ctx *ctx, int n_past)
{
  if (n_past >= 0 && n_past < ctx->n_past)
    ctx->n_past = n_past;
}

void
lk_ctx_set_cancel (lk_ctx *ctx, atomic_int *flag)
{
  ctx->cancel = flag;
}

void
lk_ctx_set_observers (lk_ctx *ctx, lk_matmul_observer mm, lk_layer_observer layer, void *user)
{
  ctx->mm_observer = mm;
  ctx->layer_observer = layer;
  ctx->observer_user = user;
}

const float *
lk_ctx_logits (const lk_ctx *ctx, int i)
{
  if (ctx->n_logits == 0)
    return NULL;
  if (i < 0)
    i = ctx->n_logits - 1;
  if (i >= ctx->n_logits)
    return NULL;
  return ctx->logits + (size_t) i * (size_t) ctx->hp->n_vocab;
}

/* Forward pass ------------------------------------------------------------ */

static lk_mat
mat_of (const lk_tensor *w)
{
  return (lk_mat) {
    .type = w->type,
    .n_rows = w->ne[1],
    .n_cols = w->ne[0],
    .row_bytes = lk_row_size (w->type, w->ne[0]),
    .data = w->data,
  };
}

static void
matmul (lk_ctx *ctx, const lk_tensor *w, const float *x, int64_t x_stride, int nt, float *y,
        int64_t y_stride)
{
  const lk_mat mat = mat_of (w);

  if (ctx->mm_observer != NULL)
    ctx->mm_observer (ctx->observer_user, w, -1, x, x_stride, nt);
  lk_matmul (ctx->pool, ctx->kern, &mat, x, x_stride, nt, y, y_stride, ctx->mm_scratch);
}

/* Several matrices reading the same input, in one pass of the threads. */
static void
matmul_n (lk_ctx *ctx, int n, const lk_tensor *const *ws, float *const *ys, const int64_t *y_strides,
          const float *x, int64_t x_stride, int nt)
{
  lk_mat mats[4];
  lk_matmul_out outs[4];

  for (int i = 0; i < n; i++)
    {
      if (ctx->mm_observer != NULL)
        ctx->mm_observer (ctx->observer_user, ws[i], -1, x, x_stride, nt);
      mats[i] = mat_of (ws[i]);
      outs[i] = (lk_matmul_out) { &mats[i], ys[i], y_strides[i] };
    }
  lk_matmul_multi (ctx->pool, ctx->kern, outs, n, x, x_stride, nt, ctx->mm_scratch);
}

static void
add_bias (float *y, const lk_tensor *b, int nt, int dim)
{
  if (b == NULL)
    return;
  for (int t = 0; t < nt; t++)
    for (int i = 0; i < dim; i++)
      y[(size_t) t * dim + i] += ((const float *) b->data)[i];
}

static void
rope_tables (lk_ctx *ctx, int pos, int nt)
{
  const int half = ctx->hp->n_rot / 2;

  for (int k = 0; k < ctx->n_rope_kinds; k++)
    for (int t = 0; t < nt; t++)
      for (int i = 0; i < half; i++)
        {
          const double theta = (double) (pos + t) * ctx->inv_freq[k][i];
          /* phi3's long RoPE scales both (ggml's attention factor). */
          ctx->cos_t[k][t * half + i] = (float) cos (theta) * ctx->hp->rope_attn_factor;
          ctx->sin_t[k][t * half + i] = (float) sin (theta) * ctx->hp->rope_attn_factor;
        }
}

/* RoPE on the heads of nt rows, as the layer wants it (or not at all). */
static void
apply_rope (lk_ctx *ctx, const lk_layer *L, float *x, int nt, int n_heads)
{
  const int hd = ctx->hp->head_dim, half = ctx->hp->n_rot / 2, k = L->swa ? 1 : 0;

  if (!L->use_rope)
    return;
  for (int t = 0; t < nt; t++)
    for (int h = 0; h < n_heads; h++)
      ctx->kern->rope (x + ((size_t) t * n_heads + h) * hd, ctx->hp->n_rot,
                       ctx->cos_t[k] + t * half, ctx->sin_t[k] + t * half, ctx->hp->rope_neox);
}

/* RMSNorm or LayerNorm of nt rows of n, in place when out == x. */
static void
norm_rows (lk_ctx *ctx, float *out, const float *x, const lk_tensor *w, const lk_tensor *b, int nt, int n)
{
  const float eps = ctx->hp->norm_eps;

  for (int t = 0; t < nt; t++)
    {
      float *o = out + (size_t) t * n;
      const float *r = x + (size_t) t * n;
      if (ctx->hp->norm == LK_NORM_RMS)
        {
          ctx->kern->rmsnorm (o, r, w->data, n, eps);
          continue;
        }
      {
        const float *wd = w->data, *bd = b != NULL ? b->data : NULL;
        double mean = 0.0, var = 0.0;
        float inv;
        for (int i = 0; i < n; i++)
          mean += r[i];
        mean /= n;
        for (int i = 0; i < n; i++)
          var += (r[i] - mean) * (r[i] - mean);
        inv = (float) (1.0 / sqrt (var / n + eps));
        for (int i = 0; i < n; i++)
          o[i] = (float) (r[i] - mean) * inv * wd[i] + (bd != NULL ? bd[i] : 0.0f);
      }
    }
}

/* q or k norms: per head (the weight shared by the heads) or over the whole
 * row, always RMSNorm. */
static void
qk_norm (lk_ctx *ctx, float *x, const lk_tensor *w, int nt, int n_heads)
{
  const int hd = ctx->hp->head_dim;
  int n, rows;

  if (w == NULL)
    return;
  n = w->ne[0] == hd ? hd : n_heads * hd;
  rows = nt * (n_heads * hd / n);
  for (int r = 0; r < rows; r++)
    ctx->kern->rmsnorm (x + (size_t) r * n, x + (size_t) r * n, w->data, n, ctx->hp->norm_eps);
}

static void
store_kv (lk_ctx *ctx, int il, int pos, int nt)
{
  const kv_layer *c = &ctx->kv[il];

  for (int t = 0; t < nt; t++)
    {
      const size_t row = (size_t) (pos + t) * (size_t) c->kv_dim;
      const float *k = ctx->k + (size_t) t * c->kv_dim, *v = ctx->v + (size_t) t * c->kv_dim;
      if (ctx->kv_type == LK_TYPE_Q8_0)
        {
          lk_quantize_row_ref (LK_TYPE_Q8_0, k, (lk_block_q8_0 *) c->k + row / 32, c->kv_dim);
          lk_quantize_row_ref (LK_TYPE_Q8_0, v, (lk_block_q8_0 *) c->v + row / 32, c->kv_dim);
        }
      else if (ctx->kv_type == LK_TYPE_F16)
        {
          ctx->kern->f32_to_f16 (k, (lk_half *) c->k + row, c->kv_dim);
          ctx->kern->f32_to_f16 (v, (lk_half *) c->v + row, c->kv_dim);
        }
      else
        {
          memcpy ((float *) c->k + row, k, (size_t) c->kv_dim * sizeof (float));
          memcpy ((float *) c->v + row, v, (size_t) c->kv_dim * sizeof (float));
        }
    }
}

typedef struct
{
  lk_ctx *ctx;
  int il, pos, nt, n_head, n_kv, group, swa;
  int tokens, n_tiles;  /* tokens a task, tasks over the tokens */
  int heads, n_split;   /* heads a call (one, or all), splits of the positions */
  _Atomic int next;
} attn_job;

/* The state of n queries: max[n], sum[n], acc[n * hd]. */
typedef struct
{
  float *max, *sum, *acc;
} attn_state;

static attn_state
attn_state_at (float *p, int n)
{
  return (attn_state){ p, p + n, p + 2 * n };
}

/* Normalised outputs of the state of `heads` heads from kvh0, m queries
 * each: query (tt, g) to token t0 + tt, head (kvh0 + h) * group + g. */
static void
attn_finish (const attn_job *job, const attn_state *st, int kvh0, int heads, int t0, int m)
{
  const int hd = job->ctx->hp->head_dim;

  for (int h = 0; h < heads; h++)
    for (int i = 0; i < m; i++)
      {
        const size_t qi = (size_t) h * m + i;
        const int t = t0 + i / job->group, head = (kvh0 + h) * job->group + i % job->group;
        float *out = job->ctx->att + ((size_t) t * job->n_head + head) * hd;
        const float inv = st->sum[qi] > 0.0f ? 1.0f / st->sum[qi] : 0.0f;
        for (int d = 0; d < hd; d++)
          out[d] = st->acc[qi * hd + d] * inv;
      }
}

static void
attn_run (const attn_job *job, int ith, int task)
{
  lk_ctx *ctx = job->ctx;
  const kv_layer *c = &ctx->kv[job->il];
  const int hd = ctx->hp->head_dim, mmax = ctx->attn_mmax, nh = ctx->attn_heads;
  const int n_groups = job->n_kv / job->heads;
  /* Later tokens see more positions: their tasks go first. */
  const int per_tile = n_groups * job->n_split;
  const int tile = job->n_tiles - 1 - task / per_tile;
  const int kvh0 = task % per_tile / job->n_split * job->heads, split = task % job->n_split;
  const int t0 = tile * job->tokens;
  const int t1 = t0 + job->tokens < job->nt ? t0 + job->tokens : job->nt;
  const int m = (t1 - t0) * job->group;
  float *buf = ctx->attn_buf + (size_t) ith * ctx->attn_stride;
  float *q = buf, *state = q + round16 ((size_t) nh * mmax * hd);
  int *lo = (int *) (state + round16 ((size_t) nh * mmax * (hd + 2))), *hi = lo + mmax;
  float *work = (float *) lo + round16 (2 * (size_t) mmax);
  const size_t esz = lk_row_size (ctx->kv_type, hd);
  lk_attn_args a;
  attn_state st;
  int kmin = INT32_MAX, kmax = 0;

  for (int i = 0; i < m; i++)
    {
      const int t = t0 + i / job->group;
      hi[i] = job->pos + t + 1;
      /* A sliding layer sees the last n_swa positions, its own included. */
      lo[i] = job->swa && hi[i] > ctx->hp->n_swa ? hi[i] - ctx->hp->n_swa : 0;
      kmin = lo[i] < kmin ? lo[i] : kmin;
      kmax = hi[i] > kmax ? hi[i] : kmax;
      for (int h = 0; h < job->heads; h++)
        memcpy (q + ((size_t) h * m + i) * hd,
                ctx->q + ((size_t) t * job->n_head + (kvh0 + h) * job->group + i % job->group) * hd,
                (size_t) hd * sizeof (float));
    }
  if (job->n_split > 1)
    {
      const int len = ((kmax - kmin + job->n_split - 1) / job->n_split + 63) / 64 * 64;
      state = ctx->attn_part + ((size_t) kvh0 * job->n_split + (size_t) split * job->heads) * (size_t) mmax * (hd + 2);
      kmin += split * len;
      kmax = kmin + len < kmax ? kmin + len : kmax;
    }
  st = attn_state_at (state, job->heads * m);
  a = (lk_attn_args){
    .kv_type = ctx->kv_type,
    .k = (const uint8_t *) c->k + (size_t) kvh0 * esz,
    .v = (const uint8_t *) c->v + (size_t) kvh0 * esz,
    .row_bytes = lk_row_size (ctx->kv_type, c->kv_dim),
    .hd = hd, .heads = job->heads, .m = m, .k0 = kmin, .k1 = kmax > kmin ? kmax : kmin,
    .q = q, .lo = lo, .hi = hi,
    .scale = ctx->hp->attn_scale, .softcap = ctx->hp->attn_softcap,
    .work = work, .max = st.max, .sum = st.sum, .acc = st.acc,
  };
  ctx->kern->attn (&a);
  if (job->n_split == 1)
    attn_finish (job, &st, kvh0, job->heads, t0, m);
}

static void
attn_task (void *arg, int ith, int nth)
{
  attn_job *job = arg;
  const int total = job->n_tiles * (job->n_kv / job->heads) * job->n_split;

  (void) nth;
  for (;;)
    {
      const int i = atomic_fetch_add (&job->next, 1);
      if (i >= total)
        break;
      attn_run (job, ith, i);
    }
}

/* The split ranges of each head group folded together and normalised
 * (one tile of tokens: they start at 0). */
static void
attn_merge_splits (const attn_job *job)
{
  lk_ctx *ctx = job->ctx;
  const int hd = ctx->hp->head_dim, m = job->nt * job->group, n = job->heads * m;
  const size_t part = (size_t) job->heads * ctx->attn_mmax * (hd + 2);

  for (int kvh0 = 0; kvh0 < job->n_kv; kvh0 += job->heads)
    {
      float *base = ctx->attn_part + (size_t) kvh0 * job->n_split * ctx->attn_mmax * (hd + 2);
      attn_state a = attn_state_at (base, n);
      for (int s = 1; s < job->n_split; s++)
        {
          const attn_state b = attn_state_at (base + (size_t) s * part, n);
          lk_attn_merge (n, hd, a.max, a.sum, a.acc, b.max, b.sum, b.acc);
        }
      attn_finish (job, &a, kvh0, job->heads, 0, m);
    }
}

/* Attention of nt tokens from position pos over layer il's cache. Prefill
 * takes a task per tile of tokens and head. Decoding (one tile) takes every
 * head in one call, which reads whole cache rows, and splits the positions
 * over the threads. */
static void
attend (lk_ctx *ctx, const lk_layer *L, int il, int pos, int nt)
{
  const int group = L->n_head / L->n_head_kv, tokens = attn_tokens (group);
  const int nth = lk_pool_size (ctx->pool), span = pos + nt;
  attn_job job = { ctx, il, pos, nt, L->n_head, L->n_head_kv, group, L->swa, tokens,
                   (nt + tokens - 1) / tokens, 1, 1, 0 };

  if (job.n_tiles == 1)
    {
      job.heads = job.n_kv;
      if (span >= 512 && nth > 1)
        {
          const int n = span / 256 < 4 * nth ? span / 256 : 4 * nth;
          job.n_split = n < ATTN_SPLITS ? n : ATTN_SPLITS;
        }
    }
  /* Short contexts attend faster than threads wake up. */
  if ((int64_t) nt * L->n_head * span * ctx->hp->head_dim < 64 * 1024)
    attn_task (&job, 0, 1);
  else
    lk_pool_run (ctx->pool, attn_task, &job);
  if (job.n_split > 1)
    attn_merge_splits (&job);
}

/* gate = act(gate) * up over nt rows of n. GELU is the tanh approximation
 * llama.cpp's ggml_gelu computes. */
static void
gated_act (lk_ctx *ctx, float *gate, const float *up, int nt, int n)
{
  if (ctx->hp->act == LK_ACT_SILU)
    {
      for (int t = 0; t < nt; t++)
        ctx->kern->silu_mul (gate + (size_t) t * n, up + (size_t) t * n, n);
      return;
    }
  for (size_t i = 0; i < (size_t) nt * (size_t) n; i++)
    {
      const float x = gate[i];
      gate[i] = 0.5f * x * (1.0f + tanhf (0.7978845608f * x * (1.0f + 0.044715f * x * x))) * up[i];
    }
}

/* The block's input norm, or the input itself when the architecture has
 * none (olmo2). Returns the rows the block reads. */
static const float *
block_input (lk_ctx *ctx, const lk_tensor *w, const lk_tensor *b, int nt)
{
  if (w == NULL)
    return ctx->x;
  norm_rows (ctx, ctx->xb, ctx->x, w, b, nt, ctx->hp->n_embd);
  return ctx->xb;
}

/* A block's output y joins the residual stream: normed first where the
 * architecture says (post-norms), scaled where it says (granite). */
static void
residual_add (lk_ctx *ctx, float *y, const lk_tensor *post_norm, int nt)
{
  const int e = ctx->hp->n_embd;
  const float scale = ctx->hp->residual_scale;

  if (post_norm != NULL)
    norm_rows (ctx, y, y, post_norm, NULL, nt, e);
  for (int i = 0; i < nt; i++)
    {
      float *x = ctx->x + (size_t) i * e, *r = y + (size_t) i * e;
      if (scale != 1.0f)
        for (int c = 0; c < e; c++)
          r[c] *= scale;
      ctx->kern->add (x, r, e);
    }
}

static double
prof_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* Adds the time since *t to bucket b (when profiling) and restarts *t. */
static void
prof_mark (lk_ctx *ctx, int b, double *t)
{
  if (ctx->profile)
    {
      const double now = prof_now ();
      ctx->prof_ms[b] += now - *t;
      *t = now;
    }
}

/* Expert ex's matrix in a stack [n_cols, rows, n_expert]. */
static lk_mat
expert_mat (const lk_tensor *w, int ex)
{
  lk_mat m = mat_of (w);
  const size_t row = lk_row_size (w->type, w->ne[0]);

  m.n_rows = w->ne[1];
  m.data = (const uint8_t *) w->data + (size_t) ex * (size_t) w->ne[1] * row;
  return m;
}

int
lk_ctx_experts_used (const lk_ctx *ctx, const lk_layer *L)
{
  const int k = ctx->moe_top_k > 0 ? ctx->moe_top_k : L->n_expert_used;

  return k < L->n_expert ? k : L->n_expert;
}

/* The k experts with the largest router logits for each token, weighted by
 * the softmax over those k (as Mixtral does). */
static void
route (lk_ctx *ctx, int il, const lk_layer *L, int nt, int k)
{
  const int ne = L->n_expert;

  for (int t = 0; t < nt; t++)
    {
      const float *logit = ctx->moe_router + (size_t) t * ne;
      int *sel = ctx->moe_sel + (size_t) t * ne;
      float *w = ctx->moe_w + (size_t) t * ne;
      float max, sum = 0.0f;
      for (int j = 0; j < k; j++)
        {
          int best = -1;
          for (int e = 0; e < ne; e++)
            {
              bool taken = false;
              for (int i = 0; i < j; i++)
                taken |= sel[i] == e;
              if (!taken && (best < 0 || logit[e] > logit[best]))
                best = e;
            }
          sel[j] = best;
        }
      max = logit[sel[0]];
      for (int j = 0; j < k; j++)
        sum += (w[j] = expf (logit[sel[j]] - max));
      if (!L->moe_renorm)
        {
          /* The probabilities over all experts, not renormalised over the chosen. */
          sum = 0.0f;
          for (int e = 0; e < ne; e++)
            sum += expf (logit[e] - max);
        }
      for (int j = 0; j < k; j++)
        {
          w[j] /= sum;
          ctx->moe_routes[(size_t) il * ne + sel[j]]++;
        }
    }
}

/* Qwen2-MoE's shared expert: every token, scaled by a sigmoid gate. */
static void
shared_expert (lk_ctx *ctx, const lk_layer *L, int nt)
{
  const int e = ctx->hp->n_embd, ff = L->n_ff_shexp;
  const lk_tensor *ws[2] = { L->ffn_gate_shexp, L->ffn_up_shexp };
  float *ys[2] = { ctx->hb, ctx->hb2 };
  const int64_t strides[2] = { ff, ff };
  const float *g = L->ffn_gate_inp_shexp->data;

  matmul_n (ctx, 2, ws, ys, strides, ctx->xb, e, nt);
  gated_act (ctx, ctx->hb, ctx->hb2, nt, ff);
  matmul (ctx, L->ffn_down_shexp, ctx->hb, ff, nt, ctx->moe_out, e);
  for (int t = 0; t < nt; t++)
    {
      const float *xb = ctx->xb + (size_t) t * e, *y = ctx->moe_out + (size_t) t * e;
      float *x = ctx->x + (size_t) t * e;
      double dot = 0.0;
      float gate;
      for (int c = 0; c < e; c++)
        dot += (double) g[c] * xb[c];
      gate = (float) (1.0 / (1.0 + exp (-dot)));
      for (int c = 0; c < e; c++)
        x[c] += gate * y[c];
    }
}

/* The FFN of a mixture-of-experts layer: route, then each expert runs on
 * the tokens sent to it (gathered into one batch), and its output, weighted,
 * joins the residual stream. */
static void
moe_forward (lk_ctx *ctx, int il, int nt)
{
  const lk_layer *L = lk_model_layer (ctx->model, il);
  const int e = ctx->hp->n_embd, ff = L->n_ff, ne = L->n_expert;
  const int k = lk_ctx_experts_used (ctx, L);

  matmul (ctx, L->ffn_gate_inp, ctx->xb, e, nt, ctx->moe_router, ne);
  route (ctx, il, L, nt, k);
  for (int ex = 0; ex < ne; ex++)
    {
      int n = 0;
      for (int t = 0; t < nt; t++)
        for (int j = 0; j < k; j++)
          if (ctx->moe_sel[(size_t) t * ne + j] == ex)
            {
              ctx->moe_idx[n] = t;
              ctx->moe_out[n] = ctx->moe_w[(size_t) t * ne + j]; /* weight, kept until used */
              memcpy (ctx->moe_in + (size_t) n * e, ctx->xb + (size_t) t * e, (size_t) e * sizeof (float));
              n++;
            }
      if (n == 0)
        continue;
      {
        float weights[n];
        const lk_mat mats[2] = { expert_mat (L->ffn_gate_exps, ex), expert_mat (L->ffn_up_exps, ex) };
        const lk_mat down = expert_mat (L->ffn_down_exps, ex);
        lk_matmul_out outs[2] = { { &mats[0], ctx->hb, ff }, { &mats[1], ctx->hb2, ff } };
        memcpy (weights, ctx->moe_out, (size_t) n * sizeof *weights);
        if (ctx->mm_observer != NULL)
          {
            ctx->mm_observer (ctx->observer_user, L->ffn_gate_exps, ex, ctx->moe_in, e, n);
            ctx->mm_observer (ctx->observer_user, L->ffn_up_exps, ex, ctx->moe_in, e, n);
          }
        lk_matmul_multi (ctx->pool, ctx->kern, outs, 2, ctx->moe_in, e, n, ctx->mm_scratch);
        gated_act (ctx, ctx->hb, ctx->hb2, n, ff);
        if (ctx->mm_observer != NULL)
          ctx->mm_observer (ctx->observer_user, L->ffn_down_exps, ex, ctx->hb, ff, n);
        lk_matmul (ctx->pool, ctx->kern, &down, ctx->hb, ff, n, ctx->moe_out, e, ctx->mm_scratch);
        for (int i = 0; i < n; i++)
          {
            float *x = ctx->x + (size_t) ctx->moe_idx[i] * e;
            const float *y = ctx->moe_out + (size_t) i * e;
            for (int c = 0; c < e; c++)
              x[c] += weights[i] * y[c];
          }
      }
    }
  if (L->ffn_gate_shexp != NULL)
    shared_expert (ctx, L, nt);
}

/* q, k and v of nt rows: three products, or phi3's one fused product split
 * into them. */
static void
project_qkv (lk_ctx *ctx, const lk_layer *L, const float *in, int nt)
{
  const int e = ctx->hp->n_embd, hd = ctx->hp->head_dim;
  const int qd = L->n_head * hd, kvd = L->n_head_kv * hd;

  if (L->wqkv != NULL)
    {
      const int all = qd + 2 * kvd;
      matmul (ctx, L->wqkv, in, e, nt, ctx->hb, all);
      for (int t = 0; t < nt; t++)
        {
          const float *r = ctx->hb + (size_t) t * all;
          memcpy (ctx->q + (size_t) t * qd, r, (size_t) qd * sizeof (float));
          memcpy (ctx->k + (size_t) t * kvd, r + qd, (size_t) kvd * sizeof (float));
          memcpy (ctx->v + (size_t) t * kvd, r + qd + kvd, (size_t) kvd * sizeof (float));
        }
      return;
    }
  {
    const lk_tensor *ws[3] = { L->wq, L->wk, L->wv };
    float *ys[3] = { ctx->q, ctx->k, ctx->v };
    const int64_t strides[3] = { qd, kvd, kvd };
    matmul_n (ctx, 3, ws, ys, strides, in, e, nt);
  }
}

/* The dense FFN of nt rows into xb: gate and up (two products, or phi3's one
 * with gate first), the activation, down. */
static void
dense_ffn (lk_ctx *ctx, const lk_layer *L, const float *in, int nt, double *t)
{
  const int e = ctx->hp->n_embd, ff = L->n_ff;

  if (L->ffn_fused)
    {
      matmul (ctx, L->ffn_up, in, e, nt, ctx->hb, 2 * ff);
      prof_mark (ctx, 0, t);
      for (int i = 0; i < nt; i++)
        gated_act (ctx, ctx->hb + (size_t) i * 2 * ff, ctx->hb + (size_t) i * 2 * ff + ff, 1, ff);
      prof_mark (ctx, 2, t);
      matmul (ctx, L->ffn_down, ctx->hb, 2 * ff, nt, ctx->xb, e);
      prof_mark (ctx, 0, t);
      return;
    }
  {
    const lk_tensor *ws[2] = { L->ffn_gate, L->ffn_up };
    float *ys[2] = { ctx->hb, ctx->hb2 };
    const int64_t strides[2] = { ff, ff };
    matmul_n (ctx, 2, ws, ys, strides, in, e, nt);
  }
  prof_mark (ctx, 0, t);
  gated_act (ctx, ctx->hb, ctx->hb2, nt, ff);
  prof_mark (ctx, 2, t);
  matmul (ctx, L->ffn_down, ctx->hb, ff, nt, ctx->xb, e);
  prof_mark (ctx, 0, t);
}

static void
layer_forward (lk_ctx *ctx, int il, int pos, int nt)
{
  double t = ctx->profile ? prof_now () : 0.0;
  const lk_layer *L = lk_model_layer (ctx->model, il);
  const int e = ctx->hp->n_embd, hd = ctx->hp->head_dim;
  const int qd = L->n_head * hd, kvd = L->n_head_kv * hd;
  const float *in = block_input (ctx, L->attn_norm, L->attn_norm_b, nt);

  prof_mark (ctx, 2, &t);
  project_qkv (ctx, L, in, nt);
  prof_mark (ctx, 0, &t);
  add_bias (ctx->q, L->bq, nt, qd);
  add_bias (ctx->k, L->bk, nt, kvd);
  add_bias (ctx->v, L->bv, nt, kvd);
  qk_norm (ctx, ctx->q, L->attn_q_norm, nt, L->n_head);
  qk_norm (ctx, ctx->k, L->attn_k_norm, nt, L->n_head_kv);
  apply_rope (ctx, L, ctx->q, nt, L->n_head);
  apply_rope (ctx, L, ctx->k, nt, L->n_head_kv);
  store_kv (ctx, il, pos, nt);
  prof_mark (ctx, 2, &t);
  attend (ctx, L, il, pos, nt);
  prof_mark (ctx, 1, &t);
  matmul (ctx, L->wo, ctx->att, qd, nt, ctx->xb, e);
  prof_mark (ctx, 0, &t);
  residual_add (ctx, ctx->xb, L->post_attn_norm, nt);

  in = block_input (ctx, L->ffn_norm, L->ffn_norm_b, nt);
  prof_mark (ctx, 2, &t);
  if (L->n_expert > 0)
    {
      moe_forward (ctx, il, nt);
      prof_mark (ctx, 0, &t);
      return;
    }
  dense_ffn (ctx, L, in, nt, &t);
  residual_add (ctx, ctx->xb, L->post_ffn_norm, nt);
  prof_mark (ctx, 2, &t);
}

static lk_status
embed (lk_ctx *ctx, const int32_t *tokens, int nt, lk_error *err)
{
  const lk_tensor *emb = lk_model_tok_embd (ctx->model);
  const int e = ctx->hp->n_embd;

  for (int t = 0; t < nt; t++)
    {
      lk_type type;
      const void *row;
      if (tokens[t] < 0 || tokens[t] >= ctx->hp->n_vocab)
        return lk_error_set (err, LK_ERR_INVALID, "token id %d is outside the vocabulary (0..%d)",
                             tokens[t], ctx->hp->n_vocab - 1);
      /* An interleaved row is copied out into xb, free at this point and
       * wider than any quantized row of n_embd elements. */
      row = lk_tensor_row (emb, tokens[t], ctx->xb + (size_t) t * e, &type);
      lk_dequantize_row (type, row, ctx->x + (size_t) t * e, e);
      if (ctx->hp->embd_scale != 1.0f)
        for (int c = 0; c < e; c++)
          ctx->x[(size_t) t * e + c] *= ctx->hp->embd_scale;
    }
  return LK_OK;
}

static lk_status
ensure_logit_rows (lk_ctx *ctx, int rows, lk_error *err)
{
  float *l;

  if (rows <= ctx->logits_rows)
    return LK_OK;
  l = realloc (ctx->logits, (size_t) rows * (size_t) ctx->hp->n_vocab * sizeof (float));
  if (l == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "cannot allocate logits for %d tokens", rows);
  ctx->logits = l;
  ctx->logits_rows = rows;
  return LK_OK;
}

/* The logits as the architecture finishes them: scaled (granite), then
 * soft-capped (gemma2). */
static void
finish_logits (lk_ctx *ctx, float *l, int rows)
{
  const size_t n = (size_t) rows * (size_t) ctx->hp->n_vocab;
  const float scale = ctx->hp->logit_scale, cap = ctx->hp->final_softcap;

  if (scale != 1.0f)
    for (size_t i = 0; i < n; i++)
      l[i] *= scale;
  if (cap > 0.0f)
    for (size_t i = 0; i < n; i++)
      l[i] = cap * tanhf (l[i] / cap);
}

/* Final norm and output head for nt rows of hidden states x into out. */
static void
head_rows (lk_ctx *ctx, const float *x, int nt, float *tmp, float *out)
{
  const int e = ctx->hp->n_embd;

  norm_rows (ctx, tmp, x, lk_model_output_norm (ctx->model), lk_model_output_norm_bias (ctx->model), nt, e);
  matmul (ctx, lk_model_output (ctx->model), tmp, e, nt, out, ctx->hp->n_vocab);
  finish_logits (ctx, out, nt);
}

/* Final norm and output head for tokens [first, nt) of the chunk, written
 * from logits row `row` on. */
static void
output_head (lk_ctx *ctx, int first, int nt, int row)
{
  const int e = ctx->hp->n_embd;

  head_rows (ctx, ctx->x + (size_t) first * e, nt - first, ctx->xb,
             ctx->logits + (size_t) row * (size_t) ctx->hp->n_vocab);
}

lk_status
lk_ctx_project (lk_ctx *ctx, const float *x, int nt, float *out, lk_error *err)
{
  const int e = ctx->hp->n_embd;
  float *tmp = malloc ((size_t) nt * (size_t) e * sizeof *tmp);

  if (tmp == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  head_rows (ctx, x, nt, tmp, out);
  free (tmp);
  return LK_OK;
}

/* Conditional computation ----------------------------------------------- */

void
lk_cond_params_init (lk_cond_params *p)
{
  memset (p, 0, sizeof *p);
  p->exit_threshold = 1.0f;
}

lk_status
lk_ctx_set_conditional (lk_ctx *ctx, const lk_cond_params *p, lk_error *err)
{
  return set_conditional_checked (ctx, p, err);
}

static lk_status
set_conditional_checked (lk_ctx *ctx, const lk_cond_params *p, lk_error *err)
{
  const int n = ctx->hp->n_layer;
  bool *skip = NULL;
  uint64_t *hist = calloc ((size_t) n + 1, sizeof *hist);
  int run = 0;

  if (hist == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  if (p->skip != NULL)
    {
      if ((skip = malloc ((size_t) n * sizeof *skip)) == NULL)
        {
          free (hist);
          return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
        }
      memcpy (skip, p->skip, (size_t) n * sizeof *skip);
      for (int il = 0; il < n; il++)
        run += !skip[il];
      if (run == 0)
        {
          free (skip);
          free (hist);
          return lk_error_set (err, LK_ERR_INVALID, "every layer would be skipped: run at least one");
        }
    }
  if (!(p->exit_threshold > 0.0f)
      || (p->exit_threshold < 1.0f && (p->exit_min_layer < 0 || p->exit_min_layer >= n)))
    {
      free (skip);
      free (hist);
      return lk_error_set (err, LK_ERR_INVALID,
                           "early exit: threshold %g (expected 0 < t, 1 or more: never) from layer %d "
                           "(expected 0..%d)", (double) p->exit_threshold, p->exit_min_layer, n - 1);
    }
  if (p->moe_top_k < 0 || (p->moe_top_k > 0 && ctx->hp->n_expert == 0)
      || p->moe_top_k > ctx->hp->n_expert)
    {
      free (skip);
      free (hist);
      return lk_error_set (err, LK_ERR_INVALID, "experts per token: %d, the model has %d experts",
                           p->moe_top_k, ctx->hp->n_expert);
    }
  ctx->moe_top_k = p->moe_top_k;
  ctx->exit_on_margin = p->exit_on_margin;
  free (ctx->skip);
  free (ctx->stats.exit_hist);
  ctx->skip = skip;
  ctx->exit_threshold = p->exit_threshold;
  ctx->exit_min_layer = p->exit_min_layer;
  memset (&ctx->stats, 0, sizeof ctx->stats);
  ctx->stats.exit_hist = hist;
  ctx->stats.n_layer = n;
  return LK_OK;
}

lk_status
lk_cond_parse_layers (const char *list, int n_layer, bool *out, lk_error *err)
{
  const char *p = list;

  memset (out, 0, (size_t) n_layer * sizeof *out);
  while (*p != '\0')
    {
      char *end;
      long a = strtol (p, &end, 10), b = a;
      if (end == p)
        return lk_error_set (err, LK_ERR_INVALID, "layer list '%s': expected numbers such as 3,5-7", list);
      if (*end == '-')
        {
          const char *q = end + 1;
          b = strtol (q, &end, 10);
          if (end == q)
            return lk_error_set (err, LK_ERR_INVALID, "layer list '%s': expected numbers such as 3,5-7",
                                 list);
        }
      if (a < 0 || b < a || b >= n_layer)
        return lk_error_set (err, LK_ERR_INVALID, "layer list '%s': %ld-%ld is not within 0..%d", list,
                             a, b, n_layer - 1);
      for (long l = a; l <= b; l++)
        out[l] = true;
      if (*end == ',')
        end++;
      else if (*end != '\0')
        return lk_error_set (err, LK_ERR_INVALID, "layer list '%s': unexpected '%c'", list, *end);
      p = end;
    }
  return LK_OK;
}

const uint64_t *
lk_ctx_routes (const lk_ctx *ctx, int il)
{
  if (ctx->moe_routes == NULL || il < 0 || il >= ctx->hp->n_layer)
    return NULL;
  return ctx->moe_routes + (size_t) il * (size_t) ctx->hp->n_expert;
}

bool
lk_ctx_exit_enabled (const lk_ctx *ctx)
{
  return ctx->exit_threshold < 1.0f;
}

double
lk_cond_layers_mean (const lk_cond_stats *s)
{
  if (s->steps > 0)
    return (double) s->step_layers / (double) s->steps;
  return s->tokens > 0 ? (double) s->layers_run / (double) s->tokens : 0.0;
}

const lk_cond_stats *
lk_ctx_cond_stats (const lk_ctx *ctx)
{
  return &ctx->stats;
}

void
lk_ctx_reset_cond_stats (lk_ctx *ctx)
{
  ctx->stats.tokens = ctx->stats.layers_run = ctx->stats.exits = 0;
  ctx->stats.steps = ctx->stats.step_layers = 0;
  if (ctx->moe_routes != NULL)
    memset (ctx->moe_routes, 0, (size_t) ctx->hp->n_layer * (size_t) ctx->hp->n_expert * sizeof *ctx->moe_routes);
  if (ctx->stats.exit_hist != NULL)
    memset (ctx->stats.exit_hist, 0, ((size_t) ctx->hp->n_layer + 1) * sizeof *ctx->stats.exit_hist);
}

/* The layers after an early exit still need keys and values for the tokens
 * that come next: they are computed from the exit state (state propagation,
 * as CALM does), two small products per layer instead of the whole layer. */
static void
propagate_kv (lk_ctx *ctx, int il, int pos, int nt)
{
  const lk_layer *L = lk_model_layer (ctx->model, il);
  const int e = ctx->hp->n_embd, kvd = L->n_head_kv * ctx->hp->head_dim;
  const lk_tensor *ws[2] = { L->wk, L->wv };
  float *ys[2] = { ctx->k, ctx->v };
  const int64_t strides[2] = { kvd, kvd };

  const float *in = block_input (ctx, L->attn_norm, L->attn_norm_b, nt);

  if (L->wqkv != NULL)
    project_qkv (ctx, L, in, nt); /* q comes along */
  else
    matmul_n (ctx, 2, ws, ys, strides, in, e, nt);
  add_bias (ctx->k, L->bk, nt, kvd);
  add_bias (ctx->v, L->bv, nt, kvd);
  qk_norm (ctx, ctx->k, L->attn_k_norm, nt, L->n_head_kv);
  apply_rope (ctx, L, ctx->k, nt, L->n_head_kv);
  store_kv (ctx, il, pos, nt);
}

/* After layer il of a one-token step: the head's top probability passes the
 * threshold (the logits are then in logits row `row`). */
static bool
exit_here (lk_ctx *ctx, int il, int row)
{
  const int n_vocab = ctx->hp->n_vocab;
  const float *l;
  float max = -INFINITY, second = -INFINITY;
  double sum = 0.0;

  if (ctx->exit_threshold >= 1.0f || il < ctx->exit_min_layer || il >= ctx->hp->n_layer - 1)
    return false;
  output_head (ctx, 0, 1, row);
  l = ctx->logits + (size_t) row * (size_t) n_vocab;
  for (int v = 0; v < n_vocab; v++)
    if (l[v] > max)
      {
        second = max;
        max = l[v];
      }
    else if (l[v] > second)
      second = l[v];
  for (int v = 0; v < n_vocab; v++)
    sum += exp ((double) l[v] - max);
  /* p1 = 1 / sum; p2 = exp (second - max) / sum. */
  if (ctx->exit_on_margin)
    return (1.0 - exp ((double) second - max)) / sum >= ctx->exit_threshold;
  return 1.0 / sum >= ctx->exit_threshold;
}

/* The layers of one step, with skips and, for single tokens, early exit.
 * Returns the layer the step exited after, or -1 when it ran to the end. */
static int
run_layers (lk_ctx *ctx, int pos, int nt, int row, lk_status *s, lk_error *err)
{
  const int n = ctx->hp->n_layer;

  for (int il = 0; il < n; il++)
    {
      if (ctx->cancel != NULL && atomic_load (ctx->cancel))
        {
          *s = lk_error_set (err, LK_ERR_CANCELLED, "cancelled");
          return -1;
        }
      if (ctx->skip != NULL && ctx->skip[il])
        continue;
      layer_forward (ctx, il, pos, nt);
      ctx->stats.layers_run += (uint64_t) nt;
      ctx->stats.step_layers += nt == 1;
      if (ctx->layer_observer != NULL)
        ctx->layer_observer (ctx->observer_user, il, ctx->x, nt, ctx->hp->n_embd);
      if (nt == 1 && exit_here (ctx, il, row))
        {
          for (int later = il + 1; later < n; later++)
            if (ctx->skip == NULL || !ctx->skip[later])
              propagate_kv (ctx, later, pos, nt);
          ctx->stats.exits++;
          if (ctx->stats.exit_hist != NULL)
            ctx->stats.exit_hist[il]++;
          return il;
        }
    }
  if (ctx->stats.exit_hist != NULL)
    ctx->stats.exit_hist[n] += (uint64_t) nt;
  return -1;
}

lk_status
lk_ctx_decode (lk_ctx *ctx, const int32_t *tokens, int n, bool all_logits, lk_error *err)
{
  lk_status s;
  int exited;

  if (n <= 0)
    return lk_error_set (err, LK_ERR_INVALID, "nothing to decode");
  if (ctx->n_past + n > ctx->n_ctx)
    return lk_error_set (err, LK_ERR_INVALID,
                         "the context is full: %d positions used, %d more asked, %d available",
                         ctx->n_past, n, ctx->n_ctx);
  s = ensure_logit_rows (ctx, all_logits ? n : 1, err);
  if (s != LK_OK)
    return s;
  ctx->n_logits = 0;
  for (int done = 0; done < n;)
    {
      const int nt = n - done < ctx->n_batch ? n - done : ctx->n_batch;
      const int pos = ctx->n_past;
      if ((s = embed (ctx, tokens + done, nt, err)) != LK_OK)
        return s;
      rope_tables (ctx, pos, nt);
      if (ctx->layer_observer != NULL)
        ctx->layer_observer (ctx->observer_user, -1, ctx->x, nt, ctx->hp->n_embd);
      s = LK_OK;
      exited = run_layers (ctx, pos, nt, all_logits ? done : 0, &s, err);
      if (s != LK_OK)
        return s;
      ctx->stats.tokens += (uint64_t) nt;
      ctx->stats.steps += nt == 1;
      ctx->n_past += nt;
      {
        double t = ctx->profile ? prof_now () : 0.0;
        if (exited >= 0)
          ; /* the exit check left this token's logits in place */
        else if (all_logits)
          output_head (ctx, 0, nt, done);
        else if (done + nt == n)
          output_head (ctx, nt - 1, nt, 0);
        prof_mark (ctx, 3, &t);
        ctx->prof_tokens += nt;
      }
      done += nt;
    }
  ctx->n_logits = all_logits ? n : 1;
  return LK_OK;
}
