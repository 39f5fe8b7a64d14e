/* SPDX-License-Identifier: MIT */
/* One small model per architecture (../shared/archs): Lathe's greedy text
 * must be llama.cpp's, token for token. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lathe-test-arch.h"
#include "lathe-test.h"
#include "lk-context.h"
#include "lk-model.h"
#include "lk-quantize.h"
#include "lk-structure.h"

/* Every model ../shared/archs holds (its README's list). */
static const char *const archs[] = {
  "llama", "llama3", "mistral", "mixtral", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "gemma",
  "gemma2", "gemma3", "granite", "olmo2", "smollm3", "stablelm", "internlm2", "exaone", "ernie4_5",
};

static void
test_arch (gconstpointer data)
{
  const char *arch = data;
  g_autofree char *rel = g_strdup_printf ("archs/%s.gguf", arch);
  g_autofree char *path = lathe_test_shared (rel);
  LatheArchRef ref;
  lk_model_params p;
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (path == NULL || !lathe_test_arch_ref (arch, &ref))
    return;
  lk_model_params_init (&p);
  if (lk_model_open (path, &p, &m, &err) != LK_OK)
    g_error ("%s", err.message);
  lathe_test_arch_greedy (arch, m, &ref, LK_TYPE_F32);
  /* Written again by Lathe (every matrix F16, as it was): the keys it
   * writes describe the same model, and an F16 cache gives the same text. */
  {
    g_autofree char *copy = g_build_filename (lathe_test_tmpdir (), "copy.gguf", NULL);
    lk_quantize_params qp;
    lk_model *m2 = NULL;
    lk_quantize_params_init (&qp);
    qp.type = LK_TYPE_F16;
    qp.mix = LK_MIX_PURE;
    if (lk_quantize_model (m, copy, &qp, NULL, &err) != LK_OK)
      g_error ("%s: %s", arch, err.message);
    if (lk_model_open (copy, &p, &m2, &err) != LK_OK)
      g_error ("%s (Lathe's copy): %s", arch, err.message);
    g_assert_cmpstr (lk_model_hparams (m2)->arch_name, ==, lk_arch_name (lk_model_hparams (m)->arch));
    lathe_test_arch_greedy (arch, m2, &ref, LK_TYPE_F16);
    lk_model_free (m2);
  }
  lk_model_free (m);
  lathe_test_arch_ref_clear (&ref);
}

/* A copy of an architecture's file without one key or tensor (or with one
 * tensor of another shape): the error names it and what was expected. */
static char *
open_damaged (const char *arch, const char *drop_key, const char *drop_tensor, const char *reshape)
{
  g_autofree char *rel = g_strdup_printf ("archs/%s.gguf", arch);
  g_autofree char *path = lathe_test_shared (rel);
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "damaged.gguf", NULL);
  lk_gguf *g = NULL;
  lk_gguf_writer *w;
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (path == NULL)
    return NULL;
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  w = lk_gguf_writer_new ();
  lk_gguf_writer_copy_kv (w, g);
  if (drop_key != NULL)
    lk_gguf_writer_remove (w, drop_key);
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      int64_t ne[4];
      memcpy (ne, t->ne, sizeof ne);
      if (drop_tensor != NULL && strcmp (t->name, drop_tensor) == 0)
        continue;
      if (reshape != NULL && strcmp (t->name, reshape) == 0)
        {
          ne[0] /= 2; /* half of it, as another shape */
          g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, ne, t->data, &err), ==, LK_OK);
          continue;
        }
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, ne, t->data, &err), ==, LK_OK);
    }
  g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  g_assert_cmpint (lk_model_open (out, NULL, &m, &err), !=, LK_OK);
  g_assert_null (m);
  g_test_message ("%s", err.message);
  return g_strdup (err.message);
}

static void
test_damaged (void)
{
  struct
  {
    const char *arch, *key, *tensor, *reshape, *expect;
  } cases[] = {
    { "gemma3", "gemma3.attention.sliding_window", NULL, NULL, "key 'gemma3.attention.sliding_window' is missing" },
    { "stablelm", "stablelm.attention.layer_norm_epsilon", NULL, NULL,
      "key 'stablelm.attention.layer_norm_epsilon' is missing" },
    { "qwen3", NULL, "blk.1.attn_k_norm.weight", NULL,
      "tensor 'blk.1.attn_k_norm.weight' is missing (architecture qwen3)" },
    { "gemma2", NULL, "blk.0.post_ffw_norm.weight", NULL, "tensor 'blk.0.post_ffw_norm.weight' is missing" },
    { "stablelm", NULL, "output_norm.bias", NULL, "tensor 'output_norm.bias' is missing" },
    { "qwen3", NULL, NULL, "blk.0.attn_q_norm.weight",
      "tensor 'blk.0.attn_q_norm.weight' has 32 values, expected 64 (one per head element) or 512" },
    { "olmo2", NULL, NULL, "blk.0.attn_q.weight", "tensor 'blk.0.attn_q.weight' has shape" },
    { "qwen3moe", "qwen3moe.expert_count", NULL, NULL, "key 'qwen3moe.expert_count' is missing" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *msg = open_damaged (cases[i].arch, cases[i].key, cases[i].tensor, cases[i].reshape);
      if (msg == NULL)
        return;
      if (strstr (msg, cases[i].expect) == NULL)
        g_error ("%s: \"%s\" does not say \"%s\"", cases[i].arch, msg, cases[i].expect);
    }
}

/* phi3 is not in ../shared/archs: one is made from exaone (NeoX RoPE, no
 * biases, llama's tensors) as llama.cpp lays phi3 out — q, k, v stacked in
 * attn_qkv, gate then up in ffn_up — so its text must be exaone's. With
 * rope_factors_long and a trained context shorter than ours, it must be
 * exaone's with those factors as rope_freqs; with them as short factors and
 * a long trained context, too. */
static char *
write_phi3 (const char *name, const float *factors, gboolean as_long, int orig_ctx)
{
  g_autofree char *src = lathe_test_shared ("archs/exaone.gguf");
  char *out = g_build_filename (lathe_test_tmpdir (), name, NULL);
  lk_gguf *g = NULL;
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_error err = { 0 };
  /* The fused matrices, alive until the file is written. */
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func ((GDestroyNotify) g_byte_array_unref);

  g_assert_cmpint (lk_gguf_open (src, LK_LOAD_READ, &g, &err), ==, LK_OK);
  for (size_t i = 0; i < lk_gguf_n_kv (g); i++)
    {
      const lk_gguf_kv *kv = lk_gguf_kv_at (g, i);
      g_autofree char *renamed = g_str_has_prefix (kv->key, "exaone.") ? g_strconcat ("phi3.", kv->key + 7, NULL)
                                                                       : g_strdup (kv->key);
      lk_gguf_writer_set_value (w, renamed, &kv->value);
    }
  lk_gguf_writer_set_str (w, "general.architecture", "phi3");
  if (factors != NULL)
    lk_gguf_writer_set_u32 (w, "phi3.rope.scaling.original_context_length", (uint32_t) orig_ctx);
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      int layer;
      char part[64];
      if (sscanf (t->name, "blk.%d.%63s", &layer, part) == 2
          && (strcmp (part, "attn_q.weight") == 0 || strcmp (part, "ffn_gate.weight") == 0))
        {
          /* Stacked along the rows: ne[1] grows. */
          const gboolean qkv = strcmp (part, "attn_q.weight") == 0;
          const char *const rest[2][2] = { { "attn_k.weight", "attn_v.weight" }, { "ffn_up.weight", NULL } };
          GByteArray *data = g_byte_array_new ();
          int64_t ne[4] = { t->ne[0], t->ne[1], 1, 1 };
          g_autofree char *fused = g_strdup_printf ("blk.%d.%s", layer, qkv ? "attn_qkv.weight" : "ffn_up.weight");
          g_byte_array_append (data, t->data, (guint) t->nbytes);
          for (int k = 0; k < 2 && rest[!qkv][k] != NULL; k++)
            {
              g_autofree char *other = g_strdup_printf ("blk.%d.%s", layer, rest[!qkv][k]);
              const lk_gguf_tensor *o = lk_gguf_find_tensor (g, other);
              g_byte_array_append (data, o->data, (guint) o->nbytes);
              ne[1] += o->ne[1];
            }
          g_assert_cmpint (lk_gguf_writer_add_tensor (w, fused, t->type, 2, ne, data->data, &err), ==, LK_OK);
          g_ptr_array_add (keep, data);
          continue;
        }
      if (sscanf (t->name, "blk.%d.%63s", &layer, part) == 2
          && (strcmp (part, "attn_k.weight") == 0 || strcmp (part, "attn_v.weight") == 0 || strcmp (part, "ffn_up.weight") == 0))
        continue;
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, t->data, &err), ==, LK_OK);
    }
  if (factors != NULL)
    {
      const int64_t ne[4] = { 16, 1, 1, 1 };
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, as_long ? "rope_factors_long.weight" : "rope_factors_short.weight",
                                                  LK_TYPE_F32, 1, ne, factors, &err), ==, LK_OK);
    }
  g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  return out;
}

/* exaone with rope_freqs.weight (llama 3's factors, always applied). */
static char *
write_exaone_freqs (const float *factors)
{
  g_autofree char *src = lathe_test_shared ("archs/exaone.gguf");
  char *out = g_build_filename (lathe_test_tmpdir (), "exaone-freqs.gguf", NULL);
  lk_gguf *g = NULL;
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_error err = { 0 };
  const int64_t ne[4] = { 16, 1, 1, 1 };

  g_assert_cmpint (lk_gguf_open (src, LK_LOAD_READ, &g, &err), ==, LK_OK);
  lk_gguf_writer_copy_kv (w, g);
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, t->data, &err), ==, LK_OK);
    }
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "rope_freqs.weight", LK_TYPE_F32, 1, ne, factors, &err), ==, LK_OK);
  g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  return out;
}

static float *
greedy_logits (const char *path, int *n_vocab)
{
  const int32_t toks[6] = { 1, 403, 407, 261, 378, 300 };
  lk_model *m = NULL;
  lk_ctx *ctx = NULL;
  lk_ctx_params cp;
  lk_error err = { 0 };
  float *l;

  if (lk_model_open (path, NULL, &m, &err) != LK_OK)
    g_error ("%s", err.message);
  lk_ctx_params_init (&cp);
  cp.n_ctx = 256;
  cp.kv_type = LK_TYPE_F32;
  g_assert_cmpint (lk_ctx_new (m, &cp, &ctx, &err), ==, LK_OK);
  g_assert_cmpint (lk_ctx_decode (ctx, toks, 6, true, &err), ==, LK_OK);
  *n_vocab = lk_model_hparams (m)->n_vocab;
  l = g_memdup2 (lk_ctx_logits (ctx, 0), (gsize) 6 * (gsize) *n_vocab * sizeof (float));
  lk_ctx_free (ctx);
  lk_model_free (m);
  return l;
}

static void
assert_same_logits (const char *a, const char *b, float tol)
{
  int na, nb;
  g_autofree float *la = greedy_logits (a, &na);
  g_autofree float *lb = greedy_logits (b, &nb);
  float worst = 0.0f;

  g_assert_cmpint (na, ==, nb);
  for (int i = 0; i < 6 * na; i++)
    worst = MAX (worst, fabsf (la[i] - lb[i]));
  g_test_message ("%s against %s: largest logit difference %g", a, b, (double) worst);
  g_assert_cmpfloat (worst, <=, tol);
}

/* Layer 0 without as many heads as it has kv heads (the least important by
 * their output's weights), layer 1 without 160 FFN channels. */
static char *
prune_heads_ffn (const char *path, const char *name)
{
  char *out = g_build_filename (lathe_test_tmpdir (), name, NULL);
  lk_structure_plan plan;
  lk_model *m = NULL;
  lk_error err = { 0 };
  double scores[1024];

  g_assert_cmpint (lk_model_open (path, NULL, &m, &err), ==, LK_OK);
  g_assert_cmpint (lk_structure_plan_init (&plan, m, &err), ==, LK_OK);
  g_assert_cmpint (lk_structure_head_scores (m, 0, NULL, scores, &err), ==, LK_OK);
  if (lk_structure_remove_heads (&plan, m, 0, lk_model_layer (m, 0)->n_head_kv, scores, &err) != LK_OK)
    g_error ("%s", err.message);
  g_assert_cmpint (lk_structure_ffn_scores (m, 1, NULL, scores, &err), ==, LK_OK);
  g_assert_cmpint (lk_structure_remove_ffn (&plan, m, 1, 160, scores, &err), ==, LK_OK);
  if (lk_structure_write (m, &plan, out, NULL, NULL, &err) != LK_OK)
    g_error ("%s: %s", name, err.message);
  lk_structure_plan_clear (&plan);
  lk_model_free (m);
  return out;
}

static void
test_phi3 (void)
{
  g_autofree char *exaone = lathe_test_shared ("archs/exaone.gguf");
  g_autofree char *plain = NULL, *longf = NULL, *shortf = NULL, *freqs = NULL;
  float factors[16];
  LatheArchRef ref;
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (exaone == NULL || !lathe_test_arch_ref ("exaone", &ref))
    return;
  plain = write_phi3 ("phi3.gguf", NULL, FALSE, 0);
  g_assert_cmpint (lk_model_open (plain, NULL, &m, &err), ==, LK_OK);
  g_assert_nonnull (lk_model_layer (m, 0)->wqkv);
  g_assert_true (lk_model_layer (m, 0)->ffn_fused);
  lathe_test_arch_greedy ("phi3 (from exaone)", m, &ref, LK_TYPE_F32);
  lk_model_free (m);
  assert_same_logits (plain, exaone, 0.0f);
  for (int i = 0; i < 16; i++)
    factors[i] = 1.0f + 0.37f * (float) i;
  longf = write_phi3 ("phi3-long.gguf", factors, TRUE, 64);
  shortf = write_phi3 ("phi3-short.gguf", factors, FALSE, 4096);
  freqs = write_exaone_freqs (factors);
  assert_same_logits (longf, freqs, 0.0f);
  assert_same_logits (shortf, freqs, 0.0f);
  /* Long factors within the trained context are not used. */
  {
    g_autofree char *unused = write_phi3 ("phi3-long-unused.gguf", factors, TRUE, 4096);
    assert_same_logits (unused, exaone, 0.0f);
  }
  /* Heads and FFN channels come out of the fused matrices as they come out
   * of exaone's separate ones: the same scores, the same cut, the same logits. */
  {
    g_autofree char *a = prune_heads_ffn (plain, "phi3-pruned.gguf");
    g_autofree char *b = prune_heads_ffn (exaone, "exaone-pruned.gguf");
    lk_model *pm = NULL;
    g_assert_cmpint (lk_model_open (a, NULL, &pm, &err), ==, LK_OK);
    g_assert_cmpint (lk_model_layer (pm, 0)->wqkv->ne[1], <, lk_model_hparams (pm)->n_embd * 2);
    g_assert_cmpint (lk_model_layer (pm, 1)->n_ff, ==, lk_model_layer (pm, 0)->n_ff - 160);
    lk_model_free (pm);
    assert_same_logits (a, b, 0.0f);
  }
  lathe_test_arch_ref_clear (&ref);
}

/* An architecture Lathe does not run is named, with the list it runs. */
static void
test_unknown (void)
{
  g_autofree char *path = lathe_test_shared ("archs/llama.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "unknown.gguf", NULL);
  lk_gguf *g = NULL;
  lk_gguf_writer *w;
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (path == NULL)
    return;
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  w = lk_gguf_writer_new ();
  lk_gguf_writer_copy_kv (w, g);
  lk_gguf_writer_set_str (w, "general.architecture", "rwkv7");
  g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  g_assert_cmpint (lk_model_open (out, NULL, &m, &err), ==, LK_ERR_UNSUPPORTED);
  g_test_message ("%s", err.message);
  g_assert_nonnull (strstr (err.message, "field 'general.architecture' is 'rwkv7'; Lathe runs llama, mistral, qwen2"));
  for (gsize i = 0; i < G_N_ELEMENTS (archs); i++)
    if (strcmp (archs[i], "llama3") != 0 && strcmp (archs[i], "mixtral") != 0)
      g_assert_nonnull (strstr (err.message, archs[i]));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (archs); i++)
    {
      g_autofree char *name = g_strdup_printf ("/lathe/engine/archs/greedy/%s", archs[i]);
      g_test_add_data_func (name, archs[i], test_arch);
    }
  g_test_add_func ("/lathe/engine/archs/damaged", test_damaged);
  g_test_add_func ("/lathe/engine/archs/phi3", test_phi3);
  g_test_add_func ("/lathe/engine/archs/unknown", test_unknown);
  return g_test_run ();
}
