/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lk-kernels.h"
#include "lk-model-private.h"
#include "lk-pack.h"
#include "lk-pool.h"

void
lk_model_params_init (lk_model_params *p)
{
  memset (p, 0, sizeof *p);
  p->load_mode = LK_LOAD_READ;
}

/* The order is the supported list's in messages; the first entry of an
 * lk_arch is its name. */
static const lk_arch_info arch_infos[] = {
  /* name         arch              neox   norm           act          bias   qknorm pre    post   sqrt   swa no_rope */
  { "llama",      LK_ARCH_LLAMA,     false, LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
  { "mistral",    LK_ARCH_LLAMA,     false, LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
  { "qwen2",      LK_ARCH_QWEN2,     true,  LK_NORM_RMS,   LK_ACT_SILU, true,  false, true,  false, false, 0, 0 },
  { "qwen2moe",   LK_ARCH_QWEN2MOE,  true,  LK_NORM_RMS,   LK_ACT_SILU, true,  false, true,  false, false, 0, 0 },
  { "qwen3",      LK_ARCH_QWEN3,     true,  LK_NORM_RMS,   LK_ACT_SILU, false, true,  true,  false, false, 0, 0 },
  { "qwen3moe",   LK_ARCH_QWEN3MOE,  true,  LK_NORM_RMS,   LK_ACT_SILU, false, true,  true,  false, false, 0, 0 },
  { "gemma",      LK_ARCH_GEMMA,     true,  LK_NORM_RMS,   LK_ACT_GELU, false, false, true,  false, true,  0, 0 },
  { "gemma2",     LK_ARCH_GEMMA2,    true,  LK_NORM_RMS,   LK_ACT_GELU, false, false, true,  true,  true,  2, 0 },
  { "gemma3",     LK_ARCH_GEMMA3,    true,  LK_NORM_RMS,   LK_ACT_GELU, false, true,  true,  true,  true,  6, 0 },
  { "granite",    LK_ARCH_GRANITE,   false, LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
  { "olmo2",      LK_ARCH_OLMO2,     true,  LK_NORM_RMS,   LK_ACT_SILU, false, true,  false, true,  false, 0, 0 },
  { "smollm3",    LK_ARCH_SMOLLM3,   false, LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 4 },
  { "stablelm",   LK_ARCH_STABLELM,  true,  LK_NORM_LAYER, LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
  { "internlm2",  LK_ARCH_INTERNLM2, false, LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
  { "exaone",     LK_ARCH_EXAONE,    true,  LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
  { "ernie4_5",   LK_ARCH_ERNIE4_5,  false, LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
  { "phi3",       LK_ARCH_PHI3,      true,  LK_NORM_RMS,   LK_ACT_SILU, false, false, true,  false, false, 0, 0 },
};

const lk_arch_info *
lk_arch_find (const char *name)
{
  for (size_t i = 0; i < sizeof arch_infos / sizeof arch_infos[0]; i++)
    if (strcmp (arch_infos[i].name, name) == 0)
      return &arch_infos[i];
  return NULL;
}

const lk_arch_info *
lk_arch_info_of (lk_arch arch)
{
  for (size_t i = 0; i < sizeof arch_infos / sizeof arch_infos[0]; i++)
    if (arch_infos[i].arch == arch)
      return &arch_infos[i];
  return &arch_infos[0];
}

const char *
lk_arch_supported_list (void)
{
  /* As the table lists them. */
  return "llama, mistral, qwen2, qwen2moe, qwen3, qwen3moe, gemma, gemma2, gemma3, granite, olmo2, "
         "smollm3, stablelm, internlm2, exaone, ernie4_5, phi3";
}

bool
lk_layer_slides_at (lk_arch arch, int il)
{
  const int n = lk_arch_info_of (arch)->swa_pattern;

  return n > 0 && il % n < n - 1;
}

bool
lk_layer_ropes_at (lk_arch arch, int il)
{
  const int n = lk_arch_info_of (arch)->no_rope_step;

  return n == 0 || (il + 1) % n != 0;
}

const char *
lk_layer_pattern_hint (lk_arch arch)
{
  switch (arch)
    {
    case LK_ARCH_GEMMA2: return "gemma2 alternates: drop layers in pairs";
    case LK_ARCH_GEMMA3: return "gemma3 repeats 5 sliding layers and 1 global: drop layers in sixes";
    case LK_ARCH_SMOLLM3: return "smollm3 has no RoPE on every 4th layer: drop layers in fours";
    default: return "";
    }
}

const char *
lk_arch_name (lk_arch arch)
{
  return lk_arch_info_of (arch)->name;
}

bool
lk_arch_from_name (const char *name, lk_arch *out)
{
  const lk_arch_info *info = lk_arch_find (name);

  if (info != NULL)
    *out = info->arch;
  return info != NULL;
}

lk_model *
lk_model_alloc (const char *path)
{
  lk_model *m = calloc (1, sizeof *m);

  if (m == NULL)
    return NULL;
  m->path = strdup (path);
  if (m->path == NULL)
    {
      free (m);
      return NULL;
    }
  return m;
}

void *
lk_model_own (lk_model *m, void *buf)
{
  void **owned;

  if (buf == NULL)
    return NULL;
  owned = realloc (m->owned, (m->n_owned + 1) * sizeof *owned);
  if (owned == NULL)
    {
      free (buf);
      return NULL;
    }
  m->owned = owned;
  m->owned[m->n_owned++] = buf;
  return buf;
}

void
lk_model_free (lk_model *m)
{
  if (m == NULL)
    return;
  lk_vocab_free (m->vocab);
  lk_gguf_free (m->gguf);
  lk_file_release (&m->file);
  lk_file_release (&m->buffer);
  for (size_t i = 0; i < m->n_owned; i++)
    free (m->owned[i]);
  free (m->owned);
  if (m->names != NULL)
    for (size_t i = 0; i < m->n_tensors; i++)
      free (m->names[i]);
  free (m->names);
  free (m->tensors);
  free (m->layers);
  free (m->n_head);
  free (m->n_head_kv);
  free (m->n_ff);
  free (m->path);
  free (m);
}

static double
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static bool
is_gguf (const char *path)
{
  FILE *fp = fopen (path, "rb");
  char magic[4] = { 0 };
  bool yes;

  if (fp == NULL)
    return false;
  yes = fread (magic, 1, 4, fp) == 4 && memcmp (magic, "GGUF", 4) == 0;
  fclose (fp);
  return yes;
}

typedef struct
{
  lk_model *m;
  _Atomic size_t next;
  int failed;
  uint64_t interleave; /* types the kernels in use multiply fastest interleaved */
} pack_job;

static void
pack_task (void *arg, int ith, int nth)
{
  pack_job *job = arg;
  void *tmp = NULL;
  size_t tmp_size = 0;

  (void) ith;
  (void) nth;
  for (;;)
    {
      const size_t i = atomic_fetch_add (&job->next, 1);
      lk_tensor *t;
      size_t row;
      int64_t rows;
      bool interleave;
      if (i >= job->m->n_tensors)
        break;
      t = &job->m->tensors[i];
      if (t->n_dims < 2)
        continue;
      row = lk_row_size (t->type, t->ne[0]);
      rows = lk_tensor_nelements (t) / t->ne[0];
      /* Expert slices ([n, rows, experts]) must start on a group of 16. */
      interleave = (job->interleave >> t->type & 1) && rows % 16 == 0
                   && (t->n_dims < 3 || t->ne[1] % 16 == 0)
                   && lk_type_interleaved (t->type) != t->type;
      if (!interleave && (lk_type_packed (t->type) == t->type || t->ne[0] % 32 != 0))
        continue;
      if ((interleave ? 16 : 1) * row > tmp_size)
        {
          free (tmp);
          tmp_size = (interleave ? 16 : 1) * row;
          tmp = malloc (tmp_size);
          if (tmp == NULL)
            {
              job->failed = 1;
              break;
            }
        }
      if (interleave)
        {
          for (int64_t r = 0; r < rows; r += 16)
            lk_x16_pack (t->type, (uint8_t *) t->data + (size_t) r * row, t->ne[0], tmp);
          t->type = lk_type_interleaved (t->type);
          continue;
        }
      for (int64_t r = 0; r < rows; r++)
        lk_pack_row (t->type, (uint8_t *) t->data + (size_t) r * row, t->ne[0], tmp);
      t->type = lk_type_packed (t->type);
    }
  free (tmp);
}

/* Rewrites the 32-element block matrices in place into the layouts the
 * kernels in use stream fastest (row-interleaved where they have kernels for
 * it, else packed rows); only for weights in memory Lathe owns. */
static lk_status
repack (lk_model *m, const char *kernel, lk_error *err)
{
  const lk_kernels *k = kernel != NULL && lk_kernels_find (kernel) != NULL ? lk_kernels_find (kernel)
                                                                          : lk_kernels_get ();
  lk_pool *pool = lk_pool_new (0);
  pack_job job = { m, 0, 0, k->interleave };
  const double t0 = now_ms ();

  if (pool == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  lk_pool_run (pool, pack_task, &job);
  lk_pool_free (pool);
  m->repack_ms = now_ms () - t0;
  return job.failed ? lk_error_set (err, LK_ERR_NOMEM, "out of memory repacking weights") : LK_OK;
}

static lk_status
open_common (const char *path, const uint8_t *data, size_t size, const lk_model_params *params,
             lk_model **out, lk_error *err)
{
  lk_model_params defaults;
  lk_model *m;
  lk_status status;
  const double t0 = now_ms ();
  bool gguf;

  *out = NULL;
  if (params == NULL)
    {
      lk_model_params_init (&defaults);
      params = &defaults;
    }
  m = lk_model_alloc (path);
  if (m == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  if (data != NULL)
    {
      if (size == 0)
        {
          lk_model_free (m);
          return lk_error_set (err, LK_ERR_FORMAT, "%s: the file is empty", path);
        }
      m->buffer.data = malloc (size);
      if (m->buffer.data == NULL)
        {
          lk_model_free (m);
          return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
        }
      memcpy (m->buffer.data, data, size);
      m->buffer.size = size;
      m->buffer.mode = LK_LOAD_READ;
      gguf = size >= 4 && memcmp (data, "GGUF", 4) == 0;
    }
  else
    gguf = is_gguf (path);
  if (gguf)
    status = lk_model_load_gguf (m, params, err);
  else
    status = lk_model_load_llama2c (m, params, err);
  if (status == LK_OK)
    status = lk_model_bind (m, err);
  if (status == LK_OK && !params->no_repack
      && (data != NULL || params->load_mode == LK_LOAD_READ))
    status = repack (m, params->kernel, err);
  if (status != LK_OK)
    {
      lk_model_free (m);
      return status;
    }
  m->load_ms = now_ms () - t0;
  *out = m;
  return LK_OK;
}

lk_status
lk_model_open (const char *path, const lk_model_params *params, lk_model **out, lk_error *err)
{
  return open_common (path, NULL, 0, params, out, err);
}

lk_status
lk_model_open_buffer (const uint8_t *data, size_t size, const char *name,
                      const lk_model_params *params, lk_model **out, lk_error *err)
{
  return open_common (name, data, size, params, out, err);
}

/* Binding ---------------------------------------------------------------- */

const lk_tensor *
lk_model_find_tensor (const lk_model *m, const char *name)
{
  for (size_t i = 0; i < m->n_tensors; i++)
    if (strcmp (m->tensors[i].name, name) == 0)
      return &m->tensors[i];
  return NULL;
}

static void
shape_str (const int64_t *ne, int n_dims, char *buf, size_t cap)
{
  size_t o = 0;

  o += (size_t) snprintf (buf + o, cap - o, "[");
  for (int d = 0; d < n_dims && o < cap; d++)
    o += (size_t) snprintf (buf + o, cap - o, d ? ", %" PRId64 : "%" PRId64, ne[d]);
  if (o < cap)
    snprintf (buf + o, cap - o, "]");
}

/* Finds a tensor and checks its shape ([ne0] or [ne0, ne1]) and that the
 * engine can use its type. */
static lk_status
want (lk_model *m, const char *name, int64_t ne0, int64_t ne1, bool required, bool matrix,
      const lk_tensor **out, lk_error *err)
{
  const lk_tensor *t = lk_model_find_tensor (m, name);
  const int n_dims = ne1 > 0 ? 2 : 1;
  const int64_t expect[2] = { ne0, ne1 };
  char got[96], exp[96];

  *out = NULL;
  if (t == NULL)
    {
      if (!required)
        return LK_OK;
      return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor '%s' is missing (architecture %s)",
                           m->path, name, m->hp.arch_name);
    }
  if (lk_tensor_nelements (t) != (n_dims == 2 ? ne0 * ne1 : ne0) || t->ne[0] != ne0)
    {
      shape_str (t->ne, t->n_dims, got, sizeof got);
      shape_str (expect, n_dims, exp, sizeof exp);
      return lk_error_set (err, LK_ERR_FORMAT,
                           "%s: tensor '%s' has shape %s, expected %s from the hyper-parameters",
                           m->path, name, got, exp);
    }
  if (matrix && !lk_mm_supported (&lk_kernels_reference ()->mm[t->type]))
    return lk_error_set (err, LK_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has type %s, which Lathe cannot compute with yet",
                         m->path, name, lk_type_name (t->type));
  if (!matrix && lk_get_dequantize (t->type) == NULL)
    return lk_error_set (err, LK_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, expected F32",
                         m->path, name, lk_type_name (t->type));
  *out = t;
  return LK_OK;
}

/* Vectors (norms, biases) are used as F32: others get an F32 copy, so the
 * file's own tensor (as inspect shows it) stays as it is. */
static lk_status
want_vector (lk_model *m, const char *name, int64_t n, bool required, const lk_tensor **out,
             lk_error *err)
{
  lk_status s = want (m, name, n, 0, required, false, out, err);
  lk_tensor *copy;
  float *f;

  if (s != LK_OK || *out == NULL || (*out)->type == LK_TYPE_F32)
    return s;
  copy = lk_model_own (m, malloc (sizeof *copy));
  f = lk_model_own (m, malloc ((size_t) n * sizeof (float)));
  if (copy == NULL || f == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  *copy = **out;
  lk_dequantize_row (copy->type, copy->data, f, n);
  copy->data = f;
  copy->type = LK_TYPE_F32;
  copy->nbytes = (size_t) n * sizeof (float);
  *out = copy;
  return LK_OK;
}

/* The stacked expert matrices: three dimensions, one slice per expert. */
static lk_status
check_experts (const lk_model *m, int il, const lk_layer *L, lk_error *err)
{
  const lk_tensor *ts[3] = { L->ffn_gate_exps, L->ffn_up_exps, L->ffn_down_exps };
  const int64_t rows[3] = { L->n_ff, L->n_ff, m->hp.n_embd };

  for (int i = 0; i < 3; i++)
    if (ts[i]->n_dims != 3 || ts[i]->ne[1] != rows[i] || ts[i]->ne[2] != L->n_expert)
      return lk_error_set (err, LK_ERR_FORMAT,
                           "%s: tensor '%s' (block %d): expected 3 dimensions [%lld, %lld, %d]",
                           m->path, ts[i]->name, il, (long long) ts[i]->ne[0], (long long) rows[i],
                           L->n_expert);
  return LK_OK;
}

/* A q or k norm: one weight per head element (shared by the heads), or one
 * per element of all heads (olmo2). */
static lk_status
want_qk_norm (lk_model *m, const char *name, int64_t per_head, int64_t all, bool required, const lk_tensor **out,
              lk_error *err)
{
  const lk_tensor *t = lk_model_find_tensor (m, name);
  const int64_t n = t != NULL && t->ne[0] == all && all != per_head ? all : per_head;

  if (t != NULL && (t->n_dims != 1 || (t->ne[0] != per_head && t->ne[0] != all)))
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: tensor '%s' has %lld values, expected %lld (one per head element) or %lld "
                         "(one per element of all heads)",
                         m->path, name, (long long) t->ne[0], (long long) per_head, (long long) all);
  return want_vector (m, name, n, required, out, err);
}

static lk_status
bind_layer (lk_model *m, int il, lk_error *err)
{
  lk_layer *L = &m->layers[il];
  const lk_arch_info *ai = lk_arch_info_of (m->hp.arch);
  const int64_t e = m->hp.n_embd, hd = m->hp.head_dim;
  const int64_t q = L->n_head * hd, kv = L->n_head_kv * hd, ff = L->n_ff;
  const bool bias = ai->qkv_bias, layer_norm = m->hp.norm == LK_NORM_LAYER;
  char name[128];
  lk_status s = LK_OK;

#define W(field, suffix, a, b)                                                       \
  if (s == LK_OK)                                                                    \
    {                                                                                \
      snprintf (name, sizeof name, "blk.%d." suffix, il);                           \
      s = want (m, name, a, b, true, true, &L->field, err);                          \
    }
#define V(field, suffix, n, req)                                                     \
  if (s == LK_OK)                                                                    \
    {                                                                                \
      snprintf (name, sizeof name, "blk.%d." suffix, il);                           \
      s = want_vector (m, name, n, req, &L->field, err);                             \
    }
#define QK(field, suffix, all)                                                       \
  if (s == LK_OK)                                                                    \
    {                                                                                \
      snprintf (name, sizeof name, "blk.%d." suffix, il);                           \
      s = want_qk_norm (m, name, hd, all, ai->qk_norm, &L->field, err);              \
    }
  L->swa = lk_layer_slides_at (ai->arch, il);
  L->use_rope = lk_layer_ropes_at (ai->arch, il);
  if (ai->pre_norms)
    {
      V (attn_norm, "attn_norm.weight", e, true);
      V (attn_norm_b, "attn_norm.bias", e, layer_norm);
    }
  snprintf (name, sizeof name, "blk.%d.attn_qkv.weight", il);
  if (ai->arch == LK_ARCH_PHI3 && lk_model_find_tensor (m, name) != NULL)
    {
      W (wqkv, "attn_qkv.weight", e, q + 2 * kv);
    }
  else
    {
      W (wq, "attn_q.weight", e, q);
      W (wk, "attn_k.weight", e, kv);
      W (wv, "attn_v.weight", e, kv);
    }
  W (wo, "attn_output.weight", q, e);
  V (bq, "attn_q.bias", q, bias);
  V (bk, "attn_k.bias", kv, bias);
  V (bv, "attn_v.bias", kv, bias);
  QK (attn_q_norm, "attn_q_norm.weight", q);
  QK (attn_k_norm, "attn_k_norm.weight", kv);
  if (ai->post_norms)
    {
      V (post_attn_norm, "post_attention_norm.weight", e, true);
      V (post_ffn_norm, "post_ffw_norm.weight", e, true);
    }
  if (ai->pre_norms)
    {
      V (ffn_norm, "ffn_norm.weight", e, true);
      V (ffn_norm_b, "ffn_norm.bias", e, layer_norm);
    }
  if (m->hp.n_expert > 0)
    {
      const int64_t ne = m->hp.n_expert;
      L->n_expert = m->hp.n_expert;
      L->n_expert_used = m->hp.n_expert_used;
      L->moe_renorm = m->hp.arch != LK_ARCH_QWEN2MOE;
      L->n_ff_shexp = m->hp.n_ff_shexp;
      if (L->n_ff_shexp > 0)
        {
          const int64_t sh = L->n_ff_shexp;
          V (ffn_gate_inp_shexp, "ffn_gate_inp_shexp.weight", e, true);
          W (ffn_gate_shexp, "ffn_gate_shexp.weight", e, sh);
          W (ffn_up_shexp, "ffn_up_shexp.weight", e, sh);
          W (ffn_down_shexp, "ffn_down_shexp.weight", sh, e);
        }
      W (ffn_gate_inp, "ffn_gate_inp.weight", e, ne);
      W (ffn_gate_exps, "ffn_gate_exps.weight", e, ff * ne);
      W (ffn_up_exps, "ffn_up_exps.weight", e, ff * ne);
      W (ffn_down_exps, "ffn_down_exps.weight", ff, e * ne);
      if (s == LK_OK)
        s = check_experts (m, il, L, err);
    }
  else if (ai->arch == LK_ARCH_PHI3)
    {
      /* Gate and up in one matrix, gate first: llama.cpp's SwiGLU split. */
      L->ffn_fused = true;
      W (ffn_up, "ffn_up.weight", e, 2 * ff);
      W (ffn_down, "ffn_down.weight", ff, e);
    }
  else
    {
      W (ffn_gate, "ffn_gate.weight", e, ff);
      W (ffn_up, "ffn_up.weight", e, ff);
      W (ffn_down, "ffn_down.weight", ff, e);
    }
#undef W
#undef V
#undef QK
  return s;
}

static lk_status
check_hparams (lk_model *m, lk_error *err)
{
  lk_hparams *hp = &m->hp;

  if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_layer > 4096 || hp->n_vocab <= 0)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: hyper-parameters out of range: embedding_length %d, block_count %d, "
                         "vocabulary %d (expected positive, at most 4096 blocks)",
                         m->path, hp->n_embd, hp->n_layer, hp->n_vocab);
  if (hp->head_dim <= 0 || hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2 != 0)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: rope.dimension_count is %d with head size %d: expected an even "
                         "number no larger than the head size",
                         m->path, hp->n_rot, hp->head_dim);
  if (!(hp->norm_eps > 0.0f && hp->norm_eps < 1.0f))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: layer_norm_rms_epsilon is %g, expected (0, 1)",
                         m->path, (double) hp->norm_eps);
  /* Zero: not set by the loader, nothing multiplied. */
  if (hp->embd_scale == 0.0f)
    hp->embd_scale = 1.0f;
  if (hp->residual_scale == 0.0f)
    hp->residual_scale = 1.0f;
  if (hp->logit_scale == 0.0f)
    hp->logit_scale = 1.0f;
  if (hp->attn_scale == 0.0f)
    hp->attn_scale = 1.0f / sqrtf ((float) hp->head_dim);
  if (hp->rope_base_swa == 0.0f)
    hp->rope_base_swa = hp->rope_base;
  if (hp->n_ctx_orig <= 0)
    hp->n_ctx_orig = hp->n_ctx_train;
  if (hp->rope_attn_factor == 0.0f)
    hp->rope_attn_factor = 1.0f;
  if (!(hp->rope_base > 0.0f) || !(hp->rope_freq_scale > 0.0f))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: rope.freq_base %g / scale %g must be positive",
                         m->path, (double) hp->rope_base, (double) hp->rope_freq_scale);
  for (int il = 0; il < hp->n_layer; il++)
    {
      const int h = m->n_head[il], kv = m->n_head_kv[il];
      if (h <= 0 || kv <= 0 || h % kv != 0 || m->n_ff[il] <= 0)
        return lk_error_set (err, LK_ERR_FORMAT,
                             "%s: block %d: head_count %d, head_count_kv %d, "
                             "feed_forward_length %d: expected positive values with head_count "
                             "a multiple of head_count_kv",
                             m->path, il, h, kv, m->n_ff[il]);
    }
  return LK_OK;
}

lk_status
lk_model_bind (lk_model *m, lk_error *err)
{
  const int64_t e = m->hp.n_embd;
  lk_status s = check_hparams (m, err);
  const lk_tensor *out;

  if (s != LK_OK)
    return s;
  m->layers = calloc ((size_t) m->hp.n_layer, sizeof *m->layers);
  if (m->layers == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  s = want (m, "token_embd.weight", e, m->hp.n_vocab, true, false, &m->tok_embd, err);
  if (s == LK_OK)
    s = want_vector (m, "output_norm.weight", e, true, &m->output_norm, err);
  if (s == LK_OK)
    s = want_vector (m, "output_norm.bias", e, m->hp.norm == LK_NORM_LAYER, &m->output_norm_b, err);
  if (s == LK_OK)
    s = want (m, "output.weight", e, m->hp.n_vocab, false, true, &out, err);
  if (s != LK_OK)
    return s;
  m->tied = out == NULL;
  if (m->tied && !lk_mm_supported (&lk_kernels_reference ()->mm[m->tok_embd->type]))
    return lk_error_set (err, LK_ERR_UNSUPPORTED,
                         "%s: the output head is tied to 'token_embd.weight' of type %s, which "
                         "Lathe cannot compute with yet",
                         m->path, lk_type_name (m->tok_embd->type));
  m->output = m->tied ? m->tok_embd : out;
  for (int il = 0; il < m->hp.n_layer && s == LK_OK; il++)
    {
      m->layers[il].n_head = m->n_head[il];
      m->layers[il].n_head_kv = m->n_head_kv[il];
      m->layers[il].n_ff = m->n_ff[il];
      s = bind_layer (m, il, err);
    }
  if (s == LK_OK && m->vocab != NULL && lk_vocab_n_tokens (m->vocab) > m->hp.n_vocab)
    s = lk_error_set (err, LK_ERR_FORMAT,
                      "%s: the tokenizer has %d tokens but the embedding has %d rows", m->path,
                      lk_vocab_n_tokens (m->vocab), m->hp.n_vocab);
  return s;
}

/* Accessors --------------------------------------------------------------- */

const lk_hparams *
lk_model_hparams (const lk_model *m)
{
  return &m->hp;
}

const lk_layer *
lk_model_layer (const lk_model *m, int il)
{
  return (il >= 0 && il < m->hp.n_layer) ? &m->layers[il] : NULL;
}

const lk_tensor *
lk_model_tok_embd (const lk_model *m)
{
  return m->tok_embd;
}

const lk_tensor *
lk_model_output_norm (const lk_model *m)
{
  return m->output_norm;
}

const lk_tensor *
lk_model_output_norm_bias (const lk_model *m)
{
  return m->output_norm_b;
}

const lk_tensor *
lk_model_output (const lk_model *m)
{
  return m->output;
}

bool
lk_model_output_tied (const lk_model *m)
{
  return m->tied;
}

const float *
lk_model_rope_freq_factors (const lk_model *m)
{
  return m->rope_freqs;
}

const float *
lk_model_rope_factors_for (const lk_model *m, int n_ctx)
{
  if (m->rope_long != NULL && n_ctx > m->hp.n_ctx_orig)
    return m->rope_long;
  if (m->rope_short != NULL)
    return m->rope_short;
  return m->rope_freqs;
}

const lk_vocab *
lk_model_vocab (const lk_model *m)
{
  return m->vocab;
}

const char *
lk_model_path (const lk_model *m)
{
  return m->path;
}

lk_model_format
lk_model_format_of (const lk_model *m)
{
  return m->format;
}

const lk_gguf *
lk_model_gguf (const lk_model *m)
{
  return m->gguf;
}

uint64_t
lk_model_file_size (const lk_model *m)
{
  return m->file_size;
}

double
lk_model_load_ms (const lk_model *m)
{
  return m->load_ms;
}

double
lk_model_repack_ms (const lk_model *m)
{
  return m->repack_ms;
}

size_t
lk_model_n_tensors (const lk_model *m)
{
  return m->n_tensors;
}

const lk_tensor *
lk_model_tensor_at (const lk_model *m, size_t i)
{
  return i < m->n_tensors ? &m->tensors[i] : NULL;
}

int64_t
lk_tensor_nelements (const lk_tensor *t)
{
  int64_t n = 1;

  for (int d = 0; d < t->n_dims; d++)
    n *= t->ne[d];
  return n;
}

const void *
lk_tensor_row (const lk_tensor *t, int64_t r, void *tmp, lk_type *type)
{
  const size_t row = lk_row_size (t->type, t->ne[0]);

  if (lk_type_row_group (t->type) == 1)
    {
      *type = t->type;
      return (const uint8_t *) t->data + (size_t) r * row;
    }
  lk_x16_row (t->type, (const uint8_t *) t->data + (size_t) (r / 16) * 16 * row, t->ne[0],
              (int) (r % 16), tmp);
  *type = lk_type_unpacked (t->type);
  return tmp;
}

void
lk_tensor_row_gguf (const lk_tensor *t, int64_t r, void *dst)
{
  lk_type type;
  /* An interleaved row is copied out straight to dst. */
  const void *src = lk_tensor_row (t, r, dst, &type);

  if (type != lk_type_unpacked (type))
    lk_unpack_row (type, src, dst, t->ne[0]);
  else if (src != dst)
    memcpy (dst, src, lk_row_size (type, t->ne[0]));
}

uint64_t
lk_model_n_params (const lk_model *m)
{
  uint64_t n = 0;

  for (size_t i = 0; i < m->n_tensors; i++)
    n += (uint64_t) lk_tensor_nelements (&m->tensors[i]);
  return n;
}

uint64_t
lk_model_tensor_bytes (const lk_model *m)
{
  uint64_t n = 0;

  for (size_t i = 0; i < m->n_tensors; i++)
    n += m->tensors[i].nbytes;
  return n;
}

double
lk_model_bpw (const lk_model *m)
{
  const uint64_t n = lk_model_n_params (m);

  return n ? 8.0 * (double) lk_model_tensor_bytes (m) / (double) n : 0.0;
}
