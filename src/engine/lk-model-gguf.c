/* SPDX-License-Identifier: MIT */
/* Hyper-parameters and tensors of GGUF models. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-model-private.h"

static lk_status
get_int (lk_model *m, const char *arch, const char *suffix, bool required, int64_t def,
         int64_t *out, lk_error *err)
{
  char key[128];
  const lk_gguf_value *v;

  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  v = lk_gguf_get (m->gguf, key);
  if (v == NULL)
    {
      if (required)
        return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' is missing", m->path, key);
      *out = def;
      return LK_OK;
    }
  if (!lk_gguf_value_as_i64 (v, out))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' has type %s, expected an integer",
                         m->path, key, lk_gguf_type_name (v->type));
  if (*out < 0 || *out > INT32_MAX)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' is %" PRId64 ", out of range", m->path,
                         key, *out);
  return LK_OK;
}

static lk_status
get_float (lk_model *m, const char *arch, const char *suffix, bool required, float def,
           float *out, lk_error *err)
{
  char key[128];
  const lk_gguf_value *v;
  double d;

  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  v = lk_gguf_get (m->gguf, key);
  if (v == NULL)
    {
      if (required)
        return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' is missing", m->path, key);
      *out = def;
      return LK_OK;
    }
  if (!lk_gguf_value_as_f64 (v, &d))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' has type %s, expected a number",
                         m->path, key, lk_gguf_type_name (v->type));
  if (!isfinite (d) || !isfinite ((float) d))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' is %g, expected a finite number", m->path,
                         key, d);
  *out = (float) d;
  return LK_OK;
}

/* A per-layer value: one number for all layers, or an array with one entry
 * per layer (models pruned per layer store them so). */
static lk_status
get_per_layer (lk_model *m, const char *arch, const char *suffix, bool required,
               const int *fallback, int **out, lk_error *err)
{
  const int n = m->hp.n_layer;
  char key[128];
  const lk_gguf_value *v;
  int *vals = calloc ((size_t) n, sizeof *vals);

  if (vals == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  *out = vals;
  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  v = lk_gguf_get (m->gguf, key);
  if (v == NULL)
    {
      if (required || fallback == NULL)
        return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' is missing", m->path, key);
      memcpy (vals, fallback, (size_t) n * sizeof *vals);
      return LK_OK;
    }
  if (v->type == LK_GGUF_ARRAY)
    {
      if (v->v.arr.n != (uint64_t) n)
        return lk_error_set (err, LK_ERR_FORMAT,
                             "%s: key '%s' has %" PRIu64 " entries, expected one per block (%d)",
                             m->path, key, v->v.arr.n, n);
      for (int i = 0; i < n; i++)
        {
          int64_t x;
          if (!lk_gguf_arr_get_i64 (v, (uint64_t) i, &x) || x < 0 || x > INT32_MAX)
            return lk_error_set (err, LK_ERR_FORMAT,
                                 "%s: key '%s' entry %d is not a non-negative integer", m->path,
                                 key, i);
          vals[i] = (int) x;
        }
      return LK_OK;
    }
  {
    int64_t x;
    if (!lk_gguf_value_as_i64 (v, &x) || x < 0 || x > INT32_MAX)
      return lk_error_set (err, LK_ERR_FORMAT,
                           "%s: key '%s' has type %s, expected an integer or an array of them",
                           m->path, key, lk_gguf_type_name (v->type));
    for (int i = 0; i < n; i++)
      vals[i] = (int) x;
  }
  return LK_OK;
}

static lk_status
read_rope (lk_model *m, const char *arch, lk_error *err)
{
  char key[128];
  char *type;
  float factor = 1.0f;
  lk_status s;
  const lk_gguf_tensor *freqs;

  s = get_float (m, arch, "rope.freq_base", false, 10000.0f, &m->hp.rope_base, err);
  if (s != LK_OK)
    return s;
  if (!(m->hp.rope_base > 0.0f))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s.rope.freq_base' is %g, expected a positive base",
                         m->path, arch, (double) m->hp.rope_base);
  snprintf (key, sizeof key, "%s.rope.scaling.type", arch);
  if (lk_gguf_get (m->gguf, key) != NULL && lk_gguf_get (m->gguf, key)->type != LK_GGUF_STRING)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s' has type %s, expected a string", m->path, key,
                         lk_gguf_type_name (lk_gguf_get (m->gguf, key)->type));
  type = lk_gguf_get_str_dup (m->gguf, key);
  if (type != NULL && strcmp (type, "none") != 0 && strcmp (type, "linear") != 0)
    {
      s = lk_error_set (err, LK_ERR_UNSUPPORTED,
                        "%s: key '%s' is '%s'; Lathe supports 'none' and 'linear' RoPE scaling",
                        m->path, key, type);
      free (type);
      return s;
    }
  if (type == NULL || strcmp (type, "linear") == 0)
    {
      s = get_float (m, arch, "rope.scaling.factor", false, 1.0f, &factor, err);
      if (s == LK_OK && factor == 1.0f)
        s = get_float (m, arch, "rope.scale_linear", false, 1.0f, &factor, err);
    }
  free (type);
  if (s != LK_OK)
    return s;
  /* A factor of 0 or less is no scaling anyone means: said, not taken as 1. */
  if (!(factor > 0.0f) || factor > 1e6f)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: key '%s.rope.scaling.factor' is %g, expected a factor above 0 (1: none)",
                         m->path, arch, (double) factor);
  m->hp.rope_freq_scale = 1.0f / factor;
  /* phi3's long and short factors, and the context they switch at. */
  {
    static const char *const names[2] = { "rope_factors_long.weight", "rope_factors_short.weight" };
    float **dst[2] = { &m->rope_long, &m->rope_short };
    int64_t orig;
    if ((s = get_int (m, arch, "rope.scaling.original_context_length", false, m->hp.n_ctx_train, &orig, err)) != LK_OK
        || (s = get_float (m, arch, "rope.scaling.attn_factor", false, 1.0f, &m->hp.rope_attn_factor, err)) != LK_OK)
      return s;
    if (!(m->hp.rope_attn_factor > 0.0f))
      return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s.rope.scaling.attn_factor' is %g, expected a positive factor",
                           m->path, arch, (double) m->hp.rope_attn_factor);
    m->hp.n_ctx_orig = (int) orig;
    for (int i = 0; i < 2; i++)
      {
        const lk_gguf_tensor *t = lk_gguf_find_tensor (m->gguf, names[i]);
        if (t == NULL)
          continue;
        if (t->type != LK_TYPE_F32 || t->n_dims != 1 || t->ne[0] != m->hp.n_rot / 2)
          return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor '%s' must be F32 with %d values (one per rotated pair)",
                               m->path, names[i], m->hp.n_rot / 2);
        if ((*dst[i] = lk_model_own (m, malloc (t->nbytes))) == NULL)
          return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
        memcpy (*dst[i], t->data, t->nbytes);
        for (int j = 0; j < m->hp.n_rot / 2; j++)
          if (!isfinite ((*dst[i])[j]) || !((*dst[i])[j] > 0.0f))
            return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor '%s' value %d is %g, expected a positive factor",
                                 m->path, names[i], j, (double) (*dst[i])[j]);
      }
  }
  /* Llama 3.1 style per-frequency factors. */
  freqs = lk_gguf_find_tensor (m->gguf, "rope_freqs.weight");
  if (freqs != NULL)
    {
      if (freqs->type != LK_TYPE_F32 || freqs->ne[0] != m->hp.n_rot / 2 || freqs->n_dims != 1)
        return lk_error_set (err, LK_ERR_FORMAT,
                             "%s: tensor 'rope_freqs.weight' must be F32 with %d values", m->path,
                             m->hp.n_rot / 2);
      m->rope_freqs = lk_model_own (m, malloc (freqs->nbytes));
      if (m->rope_freqs == NULL)
        return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      memcpy (m->rope_freqs, freqs->data, freqs->nbytes);
    }
  return LK_OK;
}

/* A multiplier the architecture reads from the file: finite and positive. */
static lk_status
get_scale (lk_model *m, const char *suffix, float def, float *out, lk_error *err)
{
  lk_status s = get_float (m, m->hp.arch_name, suffix, false, def, out, err);

  if (s == LK_OK && !(*out > 0.0f))
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s.%s' is %g, expected a positive number",
                         m->path, m->hp.arch_name, suffix, (double) *out);
  return s;
}

/* Scales, soft caps and sliding windows, as llama.cpp reads them for each
 * architecture. */
static lk_status
read_multipliers (lk_model *m, const lk_arch_info *ai, lk_error *err)
{
  lk_hparams *hp = &m->hp;
  lk_status s = LK_OK;
  float logit_scale = 1.0f;

  hp->embd_scale = ai->embd_sqrt ? sqrtf ((float) hp->n_embd) : 1.0f;
  hp->residual_scale = 1.0f;
  hp->attn_scale = 1.0f / sqrtf ((float) hp->head_dim);
  hp->rope_base_swa = hp->rope_base;
  if (ai->arch == LK_ARCH_GRANITE
      && ((s = get_scale (m, "embedding_scale", 1.0f, &hp->embd_scale, err)) != LK_OK
          || (s = get_scale (m, "residual_scale", 1.0f, &hp->residual_scale, err)) != LK_OK
          || (s = get_scale (m, "attention.scale", hp->attn_scale, &hp->attn_scale, err)) != LK_OK
          || (s = get_scale (m, "logit_scale", 1.0f, &logit_scale, err)) != LK_OK))
    return s;
  hp->logit_scale = 1.0f / logit_scale; /* granite divides */
  /* Gemma 2 and 3 at 27B scale queries by the embedding per head, as
   * llama.cpp does (it knows them by their block count). */
  if ((ai->arch == LK_ARCH_GEMMA2 && hp->n_layer == 46) || (ai->arch == LK_ARCH_GEMMA3 && hp->n_layer == 62))
    hp->attn_scale = 1.0f / sqrtf ((float) (hp->n_embd / m->n_head[0]));
  if (ai->arch == LK_ARCH_GEMMA2
      && ((s = get_scale (m, "attn_logit_softcapping", 50.0f, &hp->attn_softcap, err)) != LK_OK
          || (s = get_scale (m, "final_logit_softcapping", 30.0f, &hp->final_softcap, err)) != LK_OK))
    return s;
  if (ai->arch == LK_ARCH_GEMMA3 && (s = get_float (m, hp->arch_name, "final_logit_softcapping", false, 0.0f,
                                                    &hp->final_softcap, err)) != LK_OK)
    return s;
  if (ai->swa_pattern > 0)
    {
      int64_t n_swa;
      if ((s = get_int (m, hp->arch_name, "attention.sliding_window", ai->arch == LK_ARCH_GEMMA3, 4096, &n_swa,
                        err)) != LK_OK)
        return s;
      if (n_swa < 1)
        return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s.attention.sliding_window' is 0, expected a window",
                             m->path, hp->arch_name);
      hp->n_swa = (int) n_swa;
    }
  if (ai->arch == LK_ARCH_GEMMA3)
    {
      if ((s = get_scale (m, "rope.freq_base_swa", 10000.0f, &hp->rope_base_swa, err)) != LK_OK)
        return s;
    }
  if (hp->final_softcap < 0.0f)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s.final_logit_softcapping' is %g, expected 0 or more",
                         m->path, hp->arch_name, (double) hp->final_softcap);
  return LK_OK;
}

static lk_status
read_hparams (lk_model *m, const lk_arch_info *ai, lk_error *err)
{
  const char *arch = m->hp.arch_name;
  int64_t n_embd, n_layer, n_ctx, key_len, n_rot;
  char key[128];
  lk_status s;

  m->hp.arch = ai->arch;
  m->hp.rope_neox = ai->neox;
  if ((s = get_int (m, arch, "embedding_length", true, 0, &n_embd, err)) != LK_OK
      || (s = get_int (m, arch, "block_count", true, 0, &n_layer, err)) != LK_OK
      || (s = get_int (m, arch, "context_length", false, 2048, &n_ctx, err)) != LK_OK)
    return s;
  if (n_layer <= 0 || n_layer > 4096)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s.block_count' is %" PRId64
                         ", expected 1..4096", m->path, arch, n_layer);
  m->hp.n_embd = (int) n_embd;
  m->hp.n_layer = (int) n_layer;
  m->hp.n_ctx_train = (int) n_ctx;
  if ((s = get_per_layer (m, arch, "attention.head_count", true, NULL, &m->n_head, err)) != LK_OK
      || (s = get_per_layer (m, arch, "attention.head_count_kv", false, m->n_head, &m->n_head_kv,
                             err)) != LK_OK
      || (s = get_per_layer (m, arch, "feed_forward_length", true, NULL, &m->n_ff, err)) != LK_OK)
    return s;
  if (m->n_head[0] <= 0)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key '%s.attention.head_count' is 0", m->path,
                         arch);
  if ((s = get_int (m, arch, "attention.key_length", false, n_embd / m->n_head[0], &key_len,
                    err)) != LK_OK)
    return s;
  snprintf (key, sizeof key, "%s.attention.key_length", arch);
  if (key_len <= 0 || (lk_gguf_get (m->gguf, key) == NULL && n_embd % m->n_head[0] != 0))
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: embedding_length %" PRId64 " is not a multiple of head_count %d",
                         m->path, n_embd, m->n_head[0]);
  m->hp.head_dim = (int) key_len;
  {
    int64_t n_exp = 0, n_used = 0;
    if ((s = get_int (m, arch, "expert_count", false, 0, &n_exp, err)) != LK_OK
        || (s = get_int (m, arch, "expert_used_count", false, n_exp > 0 ? 2 : 0, &n_used, err)) != LK_OK)
      return s;
    if (n_exp < 0 || n_exp > 512 || (n_exp > 0 && (n_used < 1 || n_used > n_exp)))
      return lk_error_set (err, LK_ERR_FORMAT,
                           "%s: expert_count %lld, expert_used_count %lld: expected 0, or 1..512 "
                           "experts of which 1..all are used", m->path, (long long) n_exp,
                           (long long) n_used);
    m->hp.n_expert = (int) n_exp;
    m->hp.n_expert_used = (int) n_used;
    if (ai->arch == LK_ARCH_QWEN2MOE && n_exp == 0)
      return lk_error_set (err, LK_ERR_FORMAT, "%s: key 'qwen2moe.expert_count' is missing", m->path);
    if (ai->arch == LK_ARCH_QWEN3MOE && n_exp == 0)
      return lk_error_set (err, LK_ERR_FORMAT, "%s: key 'qwen3moe.expert_count' is missing", m->path);
    if (n_exp > 0)
      {
        int64_t ff_exp = 0, ff_sh = 0;
        if ((s = get_int (m, arch, "expert_feed_forward_length", false, m->n_ff[0], &ff_exp, err)) != LK_OK
            || (s = get_int (m, arch, "expert_shared_feed_forward_length", false, 0, &ff_sh, err)) != LK_OK)
          return s;
        if (ff_exp <= 0 || ff_exp > 1 << 20 || ff_sh < 0 || ff_sh > 1 << 20)
          return lk_error_set (err, LK_ERR_FORMAT,
                               "%s: expert_feed_forward_length %lld, expert_shared_feed_forward_length "
                               "%lld: expected positive sizes", m->path, (long long) ff_exp,
                               (long long) ff_sh);
        /* The layers have experts only: their FFN size is the experts'. */
        for (int il = 0; il < (int) n_layer; il++)
          m->n_ff[il] = (int) ff_exp;
        m->hp.n_ff_shexp = ai->arch == LK_ARCH_QWEN2MOE ? (int) ff_sh : 0;
      }
  }
  if ((s = get_int (m, arch, "rope.dimension_count", false, key_len, &n_rot, err)) != LK_OK)
    return s;
  m->hp.n_rot = (int) n_rot;
  m->hp.norm = ai->norm;
  m->hp.act = ai->act;
  if ((s = get_float (m, arch, ai->norm == LK_NORM_LAYER ? "attention.layer_norm_epsilon"
                                                         : "attention.layer_norm_rms_epsilon",
                      true, 1e-5f, &m->hp.norm_eps, err)) != LK_OK
      || (s = read_rope (m, arch, err)) != LK_OK)
    return s;
  return read_multipliers (m, ai, err);
}

static lk_status
collect_tensors (lk_model *m, lk_error *err)
{
  const size_t n = lk_gguf_n_tensors (m->gguf);

  m->tensors = calloc (n ? n : 1, sizeof *m->tensors);
  if (m->tensors == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  m->n_tensors = n;
  for (size_t i = 0; i < n; i++)
    {
      const lk_gguf_tensor *g = lk_gguf_tensor_at (m->gguf, i);
      lk_tensor *t = &m->tensors[i];
      t->name = g->name;
      t->type = g->type;
      t->n_dims = (int) g->n_dims;
      memcpy (t->ne, g->ne, sizeof t->ne);
      t->data = g->data;
      t->nbytes = (size_t) g->nbytes;
    }
  return LK_OK;
}

lk_status
lk_model_load_gguf (lk_model *m, const lk_model_params *params, lk_error *err)
{
  char *arch;
  const lk_arch_info *ai;
  const lk_gguf_tensor *embd;
  lk_status s;

  m->format = LK_FORMAT_GGUF;
  if (m->buffer.data != NULL)
    s = lk_gguf_parse (m->buffer.data, m->buffer.size, m->path, &m->gguf, err);
  else
    s = lk_gguf_open (m->path, params->load_mode, &m->gguf, err);
  if (s != LK_OK)
    return s;
  m->file_size = lk_gguf_file_size (m->gguf);
  if (lk_gguf_get (m->gguf, "general.architecture") != NULL
      && lk_gguf_get (m->gguf, "general.architecture")->type != LK_GGUF_STRING)
    return lk_error_set (err, LK_ERR_FORMAT,
                         "%s: key 'general.architecture' has type %s, expected a string (the architecture's name)",
                         m->path, lk_gguf_type_name (lk_gguf_get (m->gguf, "general.architecture")->type));
  arch = lk_gguf_get_str_dup (m->gguf, "general.architecture");
  if (arch == NULL)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: key 'general.architecture' is missing",
                         m->path);
  ai = lk_arch_find (arch);
  snprintf (m->hp.arch_name, sizeof m->hp.arch_name, "%s", arch);
  free (arch);
  if (ai == NULL)
    return lk_error_set (err, LK_ERR_UNSUPPORTED,
                         "%s: field 'general.architecture' is '%s'; Lathe runs %s", m->path,
                         m->hp.arch_name, lk_arch_supported_list ());
  if ((s = read_hparams (m, ai, err)) != LK_OK || (s = collect_tensors (m, err)) != LK_OK)
    return s;
  embd = lk_gguf_find_tensor (m->gguf, "token_embd.weight");
  if (embd == NULL)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: tensor 'token_embd.weight' is missing",
                         m->path);
  if (embd->ne[1] > INT32_MAX)
    return lk_error_set (err, LK_ERR_FORMAT, "%s: vocabulary too large", m->path);
  m->hp.n_vocab = (int) embd->ne[1];
  return lk_vocab_from_gguf (m->gguf, &m->vocab, err);
}
