/* SPDX-License-Identifier: MIT */
/* Structured pruning on stories260K: heads, FFN channels and a layer that
 * contribute nothing (their output weights zeroed here) are the ones the
 * scores pick, and removing them leaves the logits as they were; the
 * smaller shapes are in the file. */
#include <math.h>
#include <string.h>

#include <glib.h>

#include "lathe-test.h"
#include "lk-context.h"
#include "lk-gguf.h"
#include "lk-structure.h"

/* Zeroes columns [c0, c1) of an F32 matrix of rows of n. */
static void
zero_cols (float *w, int64_t n, int64_t rows, int64_t c0, int64_t c1)
{
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = c0; c < c1; c++)
      w[r * n + c] = 0.0f;
}

/* stories260K with nothing flowing out of: one head per group in layer 1
 * (heads 0, 3, 4, 7), FFN channels 10..29 of layer 2, and all of layer 4. */
static char *
write_zeroed (const char *src_path)
{
  char *out = g_build_filename (lathe_test_tmpdir (), "zeroed.gguf", NULL);
  lk_gguf *g = NULL;
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_error err = { 0 };
  GPtrArray *bufs = g_ptr_array_new_with_free_func (g_free);
  const int hd = 8, heads[] = { 0, 3, 4, 7 };

  g_assert_cmpint (lk_gguf_open (src_path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  lk_gguf_writer_copy_kv (w, g);
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      float *data = g_memdup2 (t->data, t->nbytes);
      g_assert_cmpint (t->type, ==, LK_TYPE_F32);
      if (!strcmp (t->name, "blk.1.attn_output.weight"))
        for (gsize k = 0; k < G_N_ELEMENTS (heads); k++)
          zero_cols (data, t->ne[0], t->ne[1], heads[k] * hd, (heads[k] + 1) * hd);
      if (!strcmp (t->name, "blk.2.ffn_down.weight"))
        zero_cols (data, t->ne[0], t->ne[1], 10, 30);
      if (!strcmp (t->name, "blk.4.attn_output.weight") || !strcmp (t->name, "blk.4.ffn_down.weight"))
        memset (data, 0, t->nbytes);
      g_ptr_array_add (bufs, data);
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, data, &err), ==,
                       LK_OK);
    }
  g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  g_ptr_array_unref (bufs);
  return out;
}

static lk_model *
open_model (const char *path)
{
  lk_model_params mp;
  lk_model *m = NULL;
  lk_error err = { 0 };

  lk_model_params_init (&mp);
  if (lk_model_open (path, &mp, &m, &err) != LK_OK)
    g_error ("%s", err.message);
  return m;
}

/* Logits of every position of a fixed token sequence. */
static float *
logits_of (const lk_model *m, int n_tokens)
{
  const int n_vocab = lk_model_hparams (m)->n_vocab;
  float *out = g_new (float, (gsize) n_tokens * n_vocab);
  int32_t toks[64];
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };

  for (int i = 0; i < n_tokens; i++)
    toks[i] = i == 0 ? 1 : (37 * i + 11) % n_vocab;
  lk_ctx_params_init (&cp);
  cp.n_ctx = 64;
  cp.kv_type = LK_TYPE_F32;
  g_assert_cmpint (lk_ctx_new (m, &cp, &ctx, &err), ==, LK_OK);
  g_assert_cmpint (lk_ctx_decode (ctx, toks, n_tokens, true, &err), ==, LK_OK);
  for (int i = 0; i < n_tokens; i++)
    memcpy (out + (gsize) i * n_vocab, lk_ctx_logits (ctx, i), (gsize) n_vocab * sizeof *out);
  lk_ctx_free (ctx);
  return out;
}

static int
lowest (const double *v, int n)
{
  int best = 0;

  for (int i = 1; i < n; i++)
    if (v[i] < v[best])
      best = i;
  return best;
}

static void
test_removes_what_contributes_nothing (void)
{
  g_autofree char *src = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *zeroed = NULL;
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "cut.gguf", NULL);
  g_autofree float *before = NULL, *after = NULL;
  lk_model *m, *cut;
  lk_structure_plan plan;
  lk_error err = { 0 };
  double hs[8], fs[172];
  float max_diff = 0.0f;
  const int n_tokens = 48;

  if (src == NULL)
    return;
  zeroed = write_zeroed (src);
  m = open_model (zeroed);
  g_assert_cmpint (lk_structure_plan_init (&plan, m, &err), ==, LK_OK);
  /* Heads: the zeroed ones score 0. */
  g_assert_cmpint (lk_structure_head_scores (m, 1, NULL, hs, &err), ==, LK_OK);
  g_assert_cmpfloat (hs[0], ==, 0.0);
  g_assert_cmpfloat (hs[1], >, 0.0);
  g_assert_cmpint (lk_structure_remove_heads (&plan, m, 1, 4, hs, &err), ==, LK_OK);
  g_assert_cmpint (plan.layers[1].n_head, ==, 4);
  g_assert_cmpint (plan.layers[1].heads[0], ==, 1);
  g_assert_cmpint (plan.layers[1].heads[1], ==, 2);
  g_assert_cmpint (plan.layers[1].heads[2], ==, 5);
  g_assert_cmpint (plan.layers[1].heads[3], ==, 6);
  /* Removing 3 heads cannot keep the four groups whole. */
  {
    lk_structure_plan other;
    g_assert_cmpint (lk_structure_plan_init (&other, m, &err), ==, LK_OK);
    g_assert_cmpint (lk_structure_remove_heads (&other, m, 1, 3, hs, &err), ==, LK_ERR_INVALID);
    g_assert_nonnull (strstr (err.message, "multiple of 4"));
    lk_structure_plan_clear (&other);
  }
  /* FFN channels 10..29 score 0. */
  g_assert_cmpint (lk_structure_ffn_scores (m, 2, NULL, fs, &err), ==, LK_OK);
  g_assert_cmpint (lowest (fs, 172), >=, 10);
  g_assert_cmpint (lowest (fs, 172), <, 30);
  g_assert_cmpint (lk_structure_remove_ffn (&plan, m, 2, 20, fs, &err), ==, LK_OK);
  for (int i = 0; i < plan.layers[2].n_ff; i++)
    g_assert_true (plan.layers[2].ff[i] < 10 || plan.layers[2].ff[i] >= 30);
  /* Layer 4 adds nothing to the residual stream. */
  plan.layers[4].drop = true;
  g_assert_cmpint (lk_structure_write (m, &plan, out, NULL, NULL, &err), ==, LK_OK);
  lk_structure_plan_clear (&plan);

  cut = open_model (out);
  g_assert_cmpint (lk_model_hparams (cut)->n_layer, ==, 4);
  g_assert_cmpint (lk_model_layer (cut, 1)->n_head, ==, 4);
  g_assert_cmpint (lk_model_layer (cut, 1)->n_head_kv, ==, 4);
  g_assert_cmpint (lk_model_layer (cut, 0)->n_head, ==, 8);
  g_assert_cmpint (lk_model_layer (cut, 2)->n_ff, ==, 152);
  g_assert_cmpint (lk_model_layer (cut, 3)->n_ff, ==, 172);
  g_assert_cmpint (lk_model_layer (cut, 1)->wo->ne[0], ==, 32);
  g_assert_cmpint (lk_model_layer (cut, 2)->ffn_down->ne[0], ==, 152);
  g_assert_cmpuint (lk_model_n_params (cut), <, lk_model_n_params (m));

  before = logits_of (m, n_tokens);
  after = logits_of (cut, n_tokens);
  for (gsize i = 0; i < (gsize) n_tokens * lk_model_hparams (m)->n_vocab; i++)
    max_diff = MAX (max_diff, fabsf (before[i] - after[i]));
  g_test_message ("largest logit change: %g", max_diff);
  g_assert_cmpfloat (max_diff, <, 1e-4f);
  lk_model_free (cut);
  lk_model_free (m);
}

/* Removing live heads changes the output: the check above is not vacuous. */
static void
test_removing_live_units_changes_logits (void)
{
  g_autofree char *src = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "cut-live.gguf", NULL);
  g_autofree float *before = NULL, *after = NULL;
  lk_model *m, *cut;
  lk_structure_plan plan;
  lk_error err = { 0 };
  double hs[8];
  float max_diff = 0.0f;

  if (src == NULL)
    return;
  m = open_model (src);
  g_assert_cmpint (lk_structure_plan_init (&plan, m, &err), ==, LK_OK);
  g_assert_cmpint (lk_structure_head_scores (m, 1, NULL, hs, &err), ==, LK_OK);
  g_assert_cmpint (lk_structure_remove_heads (&plan, m, 1, 4, hs, &err), ==, LK_OK);
  g_assert_cmpint (lk_structure_write (m, &plan, out, NULL, NULL, &err), ==, LK_OK);
  lk_structure_plan_clear (&plan);
  cut = open_model (out);
  before = logits_of (m, 16);
  after = logits_of (cut, 16);
  for (gsize i = 0; i < (gsize) 16 * lk_model_hparams (m)->n_vocab; i++)
    max_diff = MAX (max_diff, fabsf (before[i] - after[i]));
  g_assert_cmpfloat (max_diff, >, 1e-2f);
  lk_model_free (cut);
  lk_model_free (m);
}

/* A MoE model (F16) whose expert e has nothing flowing out of channels
 * [16 e, 16 e + 32) of its FFN (those columns of its down matrix zeroed). */
static char *
write_zeroed_experts (const char *src_path, const char *name)
{
  char *out = g_build_filename (lathe_test_tmpdir (), name, NULL);
  lk_gguf *g = NULL;
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_error err = { 0 };
  GPtrArray *bufs = g_ptr_array_new_with_free_func (g_free);

  g_assert_cmpint (lk_gguf_open (src_path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  lk_gguf_writer_copy_kv (w, g);
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      uint16_t *data = g_memdup2 (t->data, t->nbytes);
      if (g_str_has_suffix (t->name, "ffn_down_exps.weight"))
        {
          g_assert_cmpint (t->type, ==, LK_TYPE_F16);
          for (int64_t e = 0; e < t->ne[2]; e++)
            for (int64_t r = 0; r < t->ne[1]; r++)
              for (int64_t c = 16 * e; c < 16 * e + 32; c++)
                data[(e * t->ne[1] + r) * t->ne[0] + c] = 0;
        }
      g_ptr_array_add (bufs, data);
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, data, &err), ==,
                       LK_OK);
    }
  g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  g_ptr_array_unref (bufs);
  return out;
}

/* FFN channels of experts: each expert loses its own dead channels (scored
 * from its own matrices), the stacks get the smaller shape, and the logits
 * stay; Qwen's one expert FFN size must stay the same in all layers. */
static void
test_expert_channels (gconstpointer data)
{
  const char *arch = data;
  g_autofree char *rel = g_strdup_printf ("archs/%s.gguf", arch);
  g_autofree char *src = lathe_test_shared (rel);
  g_autofree char *zeroed = NULL, *out = NULL;
  g_autofree float *before = NULL, *after = NULL;
  g_autofree double *fs = NULL;
  lk_model *m, *cut;
  lk_structure_plan plan;
  lk_error err = { 0 };
  float max_diff = 0.0f;
  const lk_layer *L;

  if (src == NULL)
    return;
  zeroed = write_zeroed_experts (src, "zeroed-experts.gguf");
  out = g_build_filename (lathe_test_tmpdir (), "cut-experts.gguf", NULL);
  m = open_model (zeroed);
  L = lk_model_layer (m, 0);
  g_assert_cmpint (L->n_expert, >, 1);
  g_assert_cmpint (L->ffn_gate_exps->ne[1], ==, L->n_ff);
  fs = g_new (double, (gsize) L->n_expert * L->n_ff);
  g_assert_cmpint (lk_structure_plan_init (&plan, m, &err), ==, LK_OK);
  for (int il = 0; il < lk_model_hparams (m)->n_layer; il++)
    {
      g_assert_cmpint (lk_structure_ffn_scores (m, il, NULL, fs, &err), ==, LK_OK);
      g_assert_cmpint (lk_structure_remove_ffn (&plan, m, il, 32, fs, &err), ==, LK_OK);
    }
  for (int e = 0; e < L->n_expert; e++)
    for (int i = 0; i < plan.layers[0].n_ff; i++)
      {
        const int c = plan.layers[0].expert_ff[e * L->n_ff + i];
        g_assert_true (c < 16 * e || c >= 16 * e + 32);
      }
  g_assert_cmpint (lk_structure_write (m, &plan, out, NULL, NULL, &err), ==, LK_OK);
  cut = open_model (out);
  g_assert_cmpint (lk_model_layer (cut, 0)->n_ff, ==, L->n_ff - 32);
  g_assert_cmpint (lk_model_layer (cut, 0)->ffn_up_exps->ne[1], ==, L->n_ff - 32);
  g_assert_cmpint (lk_model_layer (cut, 1)->ffn_down_exps->ne[0], ==, L->n_ff - 32);
  before = logits_of (m, 24);
  after = logits_of (cut, 24);
  for (gsize i = 0; i < (gsize) 24 * lk_model_hparams (m)->n_vocab; i++)
    max_diff = MAX (max_diff, fabsf (before[i] - after[i]));
  g_test_message ("%s: largest logit change: %g", arch, max_diff);
  g_assert_cmpfloat (max_diff, <, 1e-3f);
  lk_model_free (cut);
  /* Layers of different expert sizes: refused where the file has one size. */
  plan.layers[1].n_ff += 16;
  if (lk_structure_write (m, &plan, out, NULL, NULL, &err) == LK_OK)
    g_assert_cmpstr (arch, ==, "mixtral"); /* per-layer sizes are llama's own */
  else
    g_assert_nonnull (strstr (err.message, "keeps one expert FFN size for all layers"));
  plan.layers[1].n_ff -= 16;
  lk_structure_plan_clear (&plan);
  lk_model_free (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/lathe/engine/structure/expert-channels/mixtral", "mixtral", test_expert_channels);
  g_test_add_data_func ("/lathe/engine/structure/expert-channels/qwen2moe", "qwen2moe", test_expert_channels);
  g_test_add_data_func ("/lathe/engine/structure/expert-channels/qwen3moe", "qwen3moe", test_expert_channels);
  g_test_add_func ("/lathe/engine/structure/removes-what-contributes-nothing",
                   test_removes_what_contributes_nothing);
  g_test_add_func ("/lathe/engine/structure/removing-live-units-changes-logits",
                   test_removing_live_units_changes_logits);
  return g_test_run ();
}
