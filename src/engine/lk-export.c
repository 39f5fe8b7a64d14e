/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lk-export.h"
#include "lk-pack.h"
#include "lk-quant.h"

static void
set_arch_u32 (lk_gguf_writer *w, const char *arch, const char *suffix, uint32_t v)
{
  char key[128];

  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  lk_gguf_writer_set_u32 (w, key, v);
}

static void
set_arch_f32 (lk_gguf_writer *w, const char *arch, const char *suffix, float v)
{
  char key[128];

  snprintf (key, sizeof key, "%s.%s", arch, suffix);
  lk_gguf_writer_set_f32 (w, key, v);
}

/* One number when every layer has the same value, else an array. */
static void
set_per_layer (lk_gguf_writer *w, const char *arch, const char *suffix, const int *vals, int n)
{
  char key[128];
  bool same = true;

  for (int i = 1; i < n; i++)
    same = same && vals[i] == vals[0];
  if (same)
    {
      set_arch_u32 (w, arch, suffix, (uint32_t) vals[0]);
      return;
    }
  {
    int32_t *arr = malloc ((size_t) n * sizeof *arr);
    if (arr == NULL)
      abort (); /* a few bytes per layer */
    for (int i = 0; i < n; i++)
      arr[i] = vals[i];
    snprintf (key, sizeof key, "%s.%s", arch, suffix);
    lk_gguf_writer_set_arr (w, key, LK_GGUF_INT32, arr, (size_t) n);
    free (arr);
  }
}

void
lk_write_hparams (lk_gguf_writer *w, const lk_hparams *hp, const int *n_head,
                  const int *n_head_kv, const int *n_ff)
{
  const char *arch = lk_arch_name (hp->arch);

  lk_gguf_writer_set_str (w, "general.architecture", arch);
  set_arch_u32 (w, arch, "context_length", (uint32_t) hp->n_ctx_train);
  set_arch_u32 (w, arch, "embedding_length", (uint32_t) hp->n_embd);
  set_arch_u32 (w, arch, "block_count", (uint32_t) hp->n_layer);
  set_per_layer (w, arch, "feed_forward_length", n_ff, hp->n_layer);
  set_per_layer (w, arch, "attention.head_count", n_head, hp->n_layer);
  set_per_layer (w, arch, "attention.head_count_kv", n_head_kv, hp->n_layer);
  if (hp->head_dim * n_head[0] != hp->n_embd)
    {
      set_arch_u32 (w, arch, "attention.key_length", (uint32_t) hp->head_dim);
      set_arch_u32 (w, arch, "attention.value_length", (uint32_t) hp->head_dim);
    }
  set_arch_u32 (w, arch, "rope.dimension_count", (uint32_t) hp->n_rot);
  set_arch_f32 (w, arch, "rope.freq_base", hp->rope_base);
  if (hp->rope_freq_scale != 1.0f)
    {
      char key[128];
      snprintf (key, sizeof key, "%s.rope.scaling.type", arch);
      lk_gguf_writer_set_str (w, key, "linear");
      set_arch_f32 (w, arch, "rope.scaling.factor", 1.0f / hp->rope_freq_scale);
    }
  set_arch_f32 (w, arch, hp->norm == LK_NORM_LAYER ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon",
                hp->norm_eps);
  if (hp->arch == LK_ARCH_GRANITE)
    {
      set_arch_f32 (w, arch, "embedding_scale", hp->embd_scale);
      set_arch_f32 (w, arch, "residual_scale", hp->residual_scale);
      set_arch_f32 (w, arch, "attention.scale", hp->attn_scale);
      set_arch_f32 (w, arch, "logit_scale", 1.0f / hp->logit_scale);
    }
  if (hp->attn_softcap > 0.0f)
    set_arch_f32 (w, arch, "attn_logit_softcapping", hp->attn_softcap);
  if (hp->final_softcap > 0.0f)
    set_arch_f32 (w, arch, "final_logit_softcapping", hp->final_softcap);
  if (hp->n_swa > 0)
    set_arch_u32 (w, arch, "attention.sliding_window", (uint32_t) hp->n_swa);
  if (hp->arch == LK_ARCH_GEMMA3)
    set_arch_f32 (w, arch, "rope.freq_base_swa", hp->rope_base_swa);
  set_arch_u32 (w, arch, "vocab_size", (uint32_t) hp->n_vocab);
  if (hp->n_expert > 0)
    {
      set_arch_u32 (w, arch, "expert_count", (uint32_t) hp->n_expert);
      set_arch_u32 (w, arch, "expert_used_count", (uint32_t) hp->n_expert_used);
    }
  if (hp->arch == LK_ARCH_QWEN2MOE || hp->arch == LK_ARCH_QWEN3MOE)
    set_arch_u32 (w, arch, "expert_feed_forward_length", (uint32_t) n_ff[0]);
  if (hp->arch == LK_ARCH_QWEN2MOE)
    set_arch_u32 (w, arch, "expert_shared_feed_forward_length", (uint32_t) hp->n_ff_shexp);
}

/* The llama.cpp file type that names a model by its main matrix type. */
static uint32_t
file_type_of (lk_type t)
{
  switch (t)
    {
    case LK_TYPE_F32: return 0;
    case LK_TYPE_F16: return 1;
    case LK_TYPE_Q4_0: return 2;
    case LK_TYPE_Q4_1: return 3;
    case LK_TYPE_Q8_0: return 7;
    case LK_TYPE_Q5_0: return 8;
    case LK_TYPE_Q5_1: return 9;
    case LK_TYPE_Q2_K: return 10;
    case LK_TYPE_Q3_K: return 12;
    case LK_TYPE_Q4_K: return 15;
    case LK_TYPE_Q5_K: return 17;
    case LK_TYPE_Q6_K: return 18;
    case LK_TYPE_BF16: return 32;
    default: return 0;
    }
}

/* A packed or interleaved tensor goes back to its GGUF layout, row by row. */
static lk_status
unpack_fill (void *user, void *dst, size_t nbytes, lk_error *err)
{
  const lk_tensor *t = user;
  const size_t row = lk_row_size (t->type, t->ne[0]);
  const int64_t rows = lk_tensor_nelements (t) / t->ne[0];

  (void) nbytes;
  (void) err;
  for (int64_t r = 0; r < rows; r++)
    lk_tensor_row_gguf (t, r, (uint8_t *) dst + (size_t) r * row);
  return LK_OK;
}

lk_status
lk_model_save_gguf (const lk_model *m, const char *path, lk_error *err)
{
  const lk_hparams *hp = lk_model_hparams (m);
  lk_gguf_writer *w = lk_gguf_writer_new ();
  int *nh = malloc ((size_t) hp->n_layer * sizeof *nh);
  int *nkv = malloc ((size_t) hp->n_layer * sizeof *nkv);
  int *nff = malloc ((size_t) hp->n_layer * sizeof *nff);
  lk_status s = LK_OK;

  if (w == NULL || nh == NULL || nkv == NULL || nff == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  for (int il = 0; il < hp->n_layer; il++)
    {
      const lk_layer *L = lk_model_layer (m, il);
      nh[il] = L->n_head;
      nkv[il] = L->n_head_kv;
      nff[il] = L->n_ff;
    }
  /* A GGUF source keeps all its metadata (names, licences, ...). */
  if (lk_model_gguf (m) != NULL)
    lk_gguf_writer_copy_kv (w, lk_model_gguf (m));
  else
    lk_gguf_writer_set_str (w, "general.name", "llama2.c model");
  lk_write_hparams (w, hp, nh, nkv, nff);
  if (lk_model_vocab (m) != NULL)
    lk_vocab_write_gguf (lk_model_vocab (m), w);
  lk_gguf_writer_set_u32 (w, "general.file_type",
                          file_type_of (lk_type_unpacked (lk_model_layer (m, 0)->wo->type)));
  for (size_t i = 0; i < lk_model_n_tensors (m) && s == LK_OK; i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      if (lk_type_unpacked (t->type) != t->type)
        s = lk_gguf_writer_add_tensor_fill (w, t->name, lk_type_unpacked (t->type),
                                            (uint32_t) t->n_dims, t->ne, unpack_fill, (void *) t, err);
      else
        s = lk_gguf_writer_add_tensor (w, t->name, t->type, (uint32_t) t->n_dims, t->ne, t->data,
                                       err);
    }
  if (s == LK_OK)
    s = lk_gguf_writer_write (w, path, err);
out:
  free (nh);
  free (nkv);
  free (nff);
  lk_gguf_writer_free (w);
  return s;
}

/* Synthetic models ------------------------------------------------------- */

void
lk_synth_params_init (lk_synth_params *p)
{
  memset (p, 0, sizeof *p);
  p->arch = LK_ARCH_LLAMA;
  p->n_ctx = 2048;
  p->type = LK_TYPE_F16;
  p->seed = 1234;
  p->name = "lathe-synth";
}

typedef struct
{
  int64_t n;
  int64_t row;
  lk_type type;
  float std;       /* 0: a vector of ones */
  uint64_t seed;
} synth_tensor;

static uint64_t
splitmix (uint64_t *s)
{
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Approximately normal: the sum of four uniforms, scaled to unit variance. */
static float
gauss (uint64_t *s)
{
  double sum = 0.0;

  for (int i = 0; i < 4; i++)
    sum += (double) (splitmix (s) >> 11) * 0x1.0p-53;
  return (float) ((sum - 2.0) * 1.7320508075688772);
}

static lk_status
synth_fill (void *user, void *dst, size_t nbytes, lk_error *err)
{
  const synth_tensor *st = user;
  float *row = malloc ((size_t) st->row * sizeof *row);
  const size_t row_bytes = lk_row_size (st->type, st->row);
  uint64_t state = st->seed;

  if (row == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "out of memory");
  for (int64_t r = 0; r < st->n / st->row; r++)
    {
      for (int64_t i = 0; i < st->row; i++)
        row[i] = st->std > 0.0f ? st->std * gauss (&state) : 1.0f;
      lk_quantize_row_ref (st->type, row, (uint8_t *) dst + (size_t) r * row_bytes, st->row);
    }
  (void) nbytes;
  free (row);
  return LK_OK;
}

typedef struct
{
  lk_gguf_writer *w;
  synth_tensor *items;
  size_t n, cap;
  uint64_t seed;
} synth_ctx;

static lk_status
synth_add3 (synth_ctx *sc, const char *name, lk_type type, int64_t ne0, int64_t ne1, int64_t ne2,
            float std, lk_error *err)
{
  const int64_t ne[3] = { ne0, ne1 ? ne1 : 1, ne2 };
  synth_tensor *st;

  if (lk_get_quantize_ref (type) == NULL)
    return lk_error_set (err, LK_ERR_UNSUPPORTED, "synth cannot write type %s",
                         lk_type_name (type));
  if (lk_row_size (type, ne0) == 0)
    type = lk_row_size (LK_TYPE_Q8_0, ne0) ? LK_TYPE_Q8_0 : LK_TYPE_F16;
  st = &sc->items[sc->n++];
  *st = (synth_tensor) { ne0 * ne[1] * ne2, ne0, type, std, splitmix (&sc->seed) };
  return lk_gguf_writer_add_tensor_fill (sc->w, name, type, 3, ne, synth_fill, st, err);
}

static lk_status
synth_add (synth_ctx *sc, const char *name, lk_type type, int64_t ne0, int64_t ne1, float std,
           lk_error *err)
{
  const int64_t ne[2] = { ne0, ne1 };
  synth_tensor *st;

  if (lk_get_quantize_ref (type) == NULL)
    return lk_error_set (err, LK_ERR_UNSUPPORTED, "synth cannot write type %s",
                         lk_type_name (type));
  if (lk_row_size (type, ne0) == 0)
    type = lk_row_size (LK_TYPE_Q8_0, ne0) ? LK_TYPE_Q8_0 : LK_TYPE_F16;
  st = &sc->items[sc->n++];
  *st = (synth_tensor) { ne0 * (ne1 ? ne1 : 1), ne0, type, std, splitmix (&sc->seed) };
  return lk_gguf_writer_add_tensor_fill (sc->w, name, type, ne1 ? 2 : 1, ne, synth_fill, st,
                                         err);
}

static lk_status
synth_layers (synth_ctx *sc, const lk_synth_params *p, lk_error *err)
{
  const int hd = p->n_embd / p->n_head;
  const int q = p->n_head * hd, kv = p->n_head_kv * hd;
  const float std = 0.02f;
  char name[96];
  lk_status s = LK_OK;

#define ADD3(suffix, a, b)                                                     \
  if (s == LK_OK)                                                              \
    {                                                                          \
      snprintf (name, sizeof name, "blk.%d." suffix, il);                     \
      s = synth_add3 (sc, name, p->type, a, b, p->n_expert, std, err);         \
    }
#define ADD(suffix, type, a, b, sd)                                  \
  if (s == LK_OK)                                                    \
    {                                                                \
      snprintf (name, sizeof name, "blk.%d." suffix, il);           \
      s = synth_add (sc, name, type, a, b, sd, err);                 \
    }
  for (int il = 0; il < p->n_layer && s == LK_OK; il++)
    {
      ADD ("attn_norm.weight", LK_TYPE_F32, p->n_embd, 0, 0.0f);
      ADD ("attn_q.weight", p->type, p->n_embd, q, std);
      ADD ("attn_k.weight", p->type, p->n_embd, kv, std);
      ADD ("attn_v.weight", p->type, p->n_embd, kv, std);
      if (p->arch == LK_ARCH_QWEN2 || p->arch == LK_ARCH_QWEN2MOE)
        {
          ADD ("attn_q.bias", LK_TYPE_F32, q, 0, std);
          ADD ("attn_k.bias", LK_TYPE_F32, kv, 0, std);
          ADD ("attn_v.bias", LK_TYPE_F32, kv, 0, std);
        }
      ADD ("attn_output.weight", p->type, q, p->n_embd, std);
      ADD ("ffn_norm.weight", LK_TYPE_F32, p->n_embd, 0, 0.0f);
      if (p->n_expert > 0)
        {
          ADD ("ffn_gate_inp.weight", p->type, p->n_embd, p->n_expert, std);
          ADD3 ("ffn_gate_exps.weight", p->n_embd, p->n_ff);
          ADD3 ("ffn_up_exps.weight", p->n_embd, p->n_ff);
          ADD3 ("ffn_down_exps.weight", p->n_ff, p->n_embd);
          if (p->arch == LK_ARCH_QWEN2MOE && p->n_ff_shared > 0)
            {
              ADD ("ffn_gate_inp_shexp.weight", LK_TYPE_F32, p->n_embd, 0, std);
              ADD ("ffn_gate_shexp.weight", p->type, p->n_embd, p->n_ff_shared, std);
              ADD ("ffn_up_shexp.weight", p->type, p->n_embd, p->n_ff_shared, std);
              ADD ("ffn_down_shexp.weight", p->type, p->n_ff_shared, p->n_embd, std);
            }
          continue;
        }
      ADD ("ffn_gate.weight", p->type, p->n_embd, p->n_ff, std);
      ADD ("ffn_up.weight", p->type, p->n_embd, p->n_ff, std);
      ADD ("ffn_down.weight", p->type, p->n_ff, p->n_embd, std);
    }
#undef ADD
#undef ADD3
  return s;
}

lk_status
lk_synth (const lk_synth_params *p, const char *path, lk_error *err)
{
  lk_gguf *vocab_file = NULL;
  lk_vocab *vocab = NULL;
  synth_ctx sc = { 0 };
  lk_hparams hp = { 0 };
  int *nh = NULL, *nkv = NULL, *nff = NULL;
  lk_status s;

  if (p->n_embd <= 0 || p->n_layer <= 0 || p->n_head <= 0 || p->n_head_kv <= 0 || p->n_ff <= 0
      || p->n_embd % p->n_head != 0 || p->n_head % p->n_head_kv != 0
      || (p->n_embd / p->n_head) % 2 != 0)
    return lk_error_set (err, LK_ERR_INVALID,
                         "synth: shape dim %d, layers %d, heads %d, kv heads %d, ffn %d: all "
                         "positive, dim a multiple of heads (even head size), heads a multiple "
                         "of kv heads",
                         p->n_embd, p->n_layer, p->n_head, p->n_head_kv, p->n_ff);
  if (p->vocab_path == NULL)
    return lk_error_set (err, LK_ERR_INVALID, "synth: a vocabulary file is needed (--vocab-from)");
  if ((s = lk_gguf_open (p->vocab_path, LK_LOAD_MMAP, &vocab_file, err)) != LK_OK
      || (s = lk_vocab_from_gguf (vocab_file, &vocab, err)) != LK_OK)
    goto out;

  hp.arch = p->arch;
  hp.n_vocab = p->n_vocab > 0 ? p->n_vocab : lk_vocab_n_tokens (vocab);
  hp.n_embd = p->n_embd;
  hp.n_layer = p->n_layer;
  hp.n_ctx_train = p->n_ctx;
  hp.head_dim = p->n_embd / p->n_head;
  hp.n_rot = hp.head_dim;
  hp.rope_base = p->arch != LK_ARCH_LLAMA ? 1000000.0f : 10000.0f;
  hp.rope_freq_scale = 1.0f;
  hp.norm_eps = p->arch != LK_ARCH_LLAMA ? 1e-6f : 1e-5f;
  hp.n_ff_shexp = p->arch == LK_ARCH_QWEN2MOE ? p->n_ff_shared : 0;
  if (p->arch == LK_ARCH_QWEN2MOE && p->n_expert == 0)
    {
      s = lk_error_set (err, LK_ERR_INVALID, "synth: qwen2moe needs experts (--experts N)");
      goto out;
    }
  hp.n_expert = p->n_expert;
  hp.n_expert_used = p->n_expert > 0 ? (p->n_expert_used > 0 ? p->n_expert_used : 2) : 0;
  if (p->n_expert < 0 || p->n_expert > 512 || hp.n_expert_used > p->n_expert)
    {
      s = lk_error_set (err, LK_ERR_INVALID, "synth: %d experts, %d used: expected 0..512, at most all used",
                        p->n_expert, p->n_expert_used);
      goto out;
    }
  nh = malloc ((size_t) p->n_layer * sizeof *nh);
  nkv = malloc ((size_t) p->n_layer * sizeof *nkv);
  nff = malloc ((size_t) p->n_layer * sizeof *nff);
  sc.w = lk_gguf_writer_new ();
  sc.cap = (size_t) p->n_layer * 17 + 3;
  sc.items = calloc (sc.cap, sizeof *sc.items);
  if (nh == NULL || nkv == NULL || nff == NULL || sc.w == NULL || sc.items == NULL)
    {
      s = lk_error_set (err, LK_ERR_NOMEM, "out of memory");
      goto out;
    }
  for (int i = 0; i < p->n_layer; i++)
    {
      nh[i] = p->n_head;
      nkv[i] = p->n_head_kv;
      nff[i] = p->n_ff;
    }
  sc.seed = p->seed;
  lk_gguf_writer_set_str (sc.w, "general.name", p->name);
  lk_write_hparams (sc.w, &hp, nh, nkv, nff);
  lk_gguf_writer_set_u32 (sc.w, "general.file_type", file_type_of (p->type));
  lk_gguf_writer_set_u32 (sc.w, "general.quantization_version", 2);
  lk_vocab_write_gguf_n (vocab, sc.w, hp.n_vocab);
  s = synth_add (&sc, "token_embd.weight", p->type, p->n_embd, hp.n_vocab, 0.02f, err);
  if (s == LK_OK)
    s = synth_add (&sc, "output_norm.weight", LK_TYPE_F32, p->n_embd, 0, 0.0f, err);
  if (s == LK_OK && !p->tied)
    s = synth_add (&sc, "output.weight", p->type, p->n_embd, hp.n_vocab, 0.02f, err);
  if (s == LK_OK)
    s = synth_layers (&sc, p, err);
  if (s == LK_OK)
    s = lk_gguf_writer_write (sc.w, path, err);
out:
  free (nh);
  free (nkv);
  free (nff);
  free (sc.items);
  lk_gguf_writer_free (sc.w);
  lk_vocab_free (vocab);
  lk_gguf_free (vocab_file);
  return s;
}
