/* SPDX-License-Identifier: MIT */
/* Conditional computation on stories260K: a threshold of 1 changes nothing,
 * a skipped layer is the same model as one with that layer removed, early
 * exit cuts the layers run and does so more as the threshold falls, and the
 * logit lens agrees with evaluating the model without its last layer. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-model.h"
#include "lathe-recipe.h"
#include "lathe-test.h"
#include "lk-export.h"
#include "lk-gguf.h"
#include "lk-sampler.h"
#include "lk-speculative.h"
#include "lk-structure.h"

#define N_STEPS 48

static gboolean
apply_k (lk_ctx *ctx, int experts_used, GError **error)
{
  const LatheConditional c = { NULL, 1.0f, 0, FALSE, experts_used };

  return lathe_apply_conditional_full (ctx, &c, error);
}

static LatheModel *
load (const char *path)
{
  g_autoptr (GError) error = NULL;
  LatheModel *m = lathe_model_load (path, NULL, NULL, &error);

  g_assert_no_error (error);
  return m;
}

/* Greedy steps from BOS; the logits of every step into out. */
static void
run_steps (lk_ctx *ctx, float *out, int n_vocab)
{
  int32_t tok = 1;
  lk_error err = { 0 };

  lk_ctx_truncate (ctx, 0);
  for (int i = 0; i < N_STEPS; i++)
    {
      const float *l;
      int best = 0;
      g_assert_cmpint (lk_ctx_decode (ctx, &tok, 1, false, &err), ==, LK_OK);
      l = lk_ctx_logits (ctx, -1);
      memcpy (out + (gsize) i * n_vocab, l, (gsize) n_vocab * sizeof *l);
      for (int v = 1; v < n_vocab; v++)
        best = l[v] > l[best] ? v : best;
      tok = best;
    }
}

static lk_ctx *
new_ctx (LatheModel *m)
{
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };

  lk_ctx_params_init (&cp);
  cp.n_ctx = 128;
  g_assert_cmpint (lk_ctx_new (lathe_model_get_engine (m), &cp, &ctx, &err), ==, LK_OK);
  return ctx;
}

static float
max_diff (const float *a, const float *b, gsize n)
{
  float d = 0.0f;

  for (gsize i = 0; i < n; i++)
    d = MAX (d, fabsf (a[i] - b[i]));
  return d;
}

static void
test_threshold_one_is_the_full_model (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autoptr (LatheModel) m = NULL;
  g_autofree float *plain = NULL, *cond = NULL;
  g_autoptr (GError) error = NULL;
  lk_ctx *ctx;
  int n_vocab;

  if (path == NULL)
    return;
  m = load (path);
  n_vocab = lk_model_hparams (lathe_model_get_engine (m))->n_vocab;
  plain = g_new (float, (gsize) N_STEPS * n_vocab);
  cond = g_new (float, (gsize) N_STEPS * n_vocab);
  ctx = new_ctx (m);
  run_steps (ctx, plain, n_vocab);
  g_assert_true (lathe_apply_conditional (ctx, NULL, 1.0f, 0, &error));
  run_steps (ctx, cond, n_vocab);
  g_assert_cmpint (memcmp (plain, cond, (gsize) N_STEPS * n_vocab * sizeof *plain), ==, 0);
  g_assert_cmpfloat (lk_cond_layers_mean (lk_ctx_cond_stats (ctx)), ==, 5.0);
  g_assert_cmpuint (lk_ctx_cond_stats (ctx)->exits, ==, 0);
  g_assert_cmpuint (lk_ctx_cond_stats (ctx)->exit_hist[5], ==, N_STEPS);
  lk_ctx_free (ctx);
}

/* Skipping layer 2 at run time = the file without layer 2. */
static void
test_skip_equals_dropped_layer (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *dropped = g_build_filename (lathe_test_tmpdir (), "no-layer-2.gguf", NULL);
  g_autoptr (LatheModel) m = NULL, d = NULL;
  g_autofree float *a = NULL, *b = NULL;
  g_autoptr (GError) error = NULL;
  lk_structure_plan plan;
  lk_error err = { 0 };
  lk_ctx *ca, *cb;
  int n_vocab;

  if (path == NULL)
    return;
  m = load (path);
  g_assert_cmpint (lk_structure_plan_init (&plan, lathe_model_get_engine (m), &err), ==, LK_OK);
  plan.layers[2].drop = true;
  g_assert_cmpint (lk_structure_write (lathe_model_get_engine (m), &plan, dropped, NULL, NULL, &err), ==, LK_OK);
  lk_structure_plan_clear (&plan);
  d = load (dropped);
  n_vocab = lk_model_hparams (lathe_model_get_engine (m))->n_vocab;
  a = g_new (float, (gsize) N_STEPS * n_vocab);
  b = g_new (float, (gsize) N_STEPS * n_vocab);
  ca = new_ctx (m);
  g_assert_true (lathe_apply_conditional (ca, "2", 1.0f, 0, &error));
  cb = new_ctx (d);
  run_steps (ca, a, n_vocab);
  run_steps (cb, b, n_vocab);
  g_test_message ("skip vs dropped: %g", max_diff (a, b, (gsize) N_STEPS * n_vocab));
  g_assert_cmpfloat (max_diff (a, b, (gsize) N_STEPS * n_vocab), <, 1e-4f);
  g_assert_cmpfloat (lk_cond_layers_mean (lk_ctx_cond_stats (ca)), ==, 4.0);
  lk_ctx_free (ca);
  lk_ctx_free (cb);
}

static double
layers_at (LatheModel *m, float threshold, int min_layer, guint64 *exits)
{
  g_autofree float *out = NULL;
  g_autoptr (GError) error = NULL;
  const lk_cond_stats *st;
  lk_ctx *ctx = new_ctx (m);
  const int n_vocab = lk_model_hparams (lathe_model_get_engine (m))->n_vocab;
  guint64 hist_sum = 0;
  double mean;

  out = g_new (float, (gsize) N_STEPS * n_vocab);
  g_assert_true (lathe_apply_conditional (ctx, NULL, threshold, min_layer, &error));
  run_steps (ctx, out, n_vocab);
  st = lk_ctx_cond_stats (ctx);
  for (int i = 0; i <= st->n_layer; i++)
    hist_sum += st->exit_hist[i];
  g_assert_cmpuint (hist_sum, ==, N_STEPS);
  g_assert_cmpuint (st->exit_hist[st->n_layer], ==, N_STEPS - st->exits);
  mean = lk_cond_layers_mean (st);
  *exits = st->exits;
  lk_ctx_free (ctx);
  return mean;
}

static void
test_early_exit_cuts_layers (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autoptr (LatheModel) m = NULL;
  guint64 e9, e5, e2;
  double l9, l5, l2;

  if (path == NULL)
    return;
  m = load (path);
  l9 = layers_at (m, 0.9f, 2, &e9);
  l5 = layers_at (m, 0.5f, 2, &e5);
  l2 = layers_at (m, 0.2f, 2, &e2);
  g_test_message ("layers per token: %.2f (0.9), %.2f (0.5), %.2f (0.2)", l9, l5, l2);
  g_assert_cmpfloat (l2, <, 5.0);
  g_assert_cmpuint (e2, >, 0);
  g_assert_cmpfloat (l2, <=, l5);
  g_assert_cmpfloat (l5, <=, l9);
  g_assert_cmpfloat (l2, >=, 3.0); /* never before layer 2 */
  /* The lead over the second token is below the top probability: exiting on
   * it runs at least as many layers. */
  {
    g_autofree float *out = g_new (float, (gsize) N_STEPS * 512);
    g_autoptr (GError) error = NULL;
    const LatheConditional c = { NULL, 0.5f, 2, TRUE, 0 };
    lk_ctx *ctx = new_ctx (m);
    double lm;
    g_assert_true (lathe_apply_conditional_full (ctx, &c, &error));
    run_steps (ctx, out, 512);
    lm = lk_cond_layers_mean (lk_ctx_cond_stats (ctx));
    g_test_message ("layers per token on margin 0.5: %.2f", lm);
    g_assert_cmpfloat (lm, >=, l5);
    lk_ctx_free (ctx);
  }
}

/* The lens at the next-to-last layer is the model with its last layer
 * skipped, evaluated against the full one. */
static void
test_lens_matches_skipping_the_last_layer (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = path ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autoptr (LatheModel) m = NULL;
  g_autoptr (GError) error = NULL;
  LatheEvalOptions o;
  lk_lens_result lens;
  lk_eval_result skipped;

  if (text == NULL)
    return;
  m = load (path);
  lathe_eval_options_init (&o);
  o.max_chunks = 12;
  g_assert_true (lathe_logit_lens (m, text, &o, &lens, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (lens.n_layer, ==, 5);
  g_assert_cmpfloat (lens.kl_mean[4], ==, 0.0);
  g_assert_cmpfloat (lens.top1_agreement[4], ==, 1.0);
  g_assert_cmpfloat (lens.kl_mean[0], >, lens.kl_mean[3]);
  o.skip_layers = "4";
  g_assert_true (lathe_eval_run (m, text, path, &o, &skipped, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("lens KL at layer 3 %.6f, skipping layer 4 %.6f", lens.kl_mean[3], skipped.kl_mean);
  g_assert_cmpfloat_with_epsilon (lens.kl_mean[3], skipped.kl_mean, 1e-4 * skipped.kl_mean);
  g_assert_cmpfloat_with_epsilon (lens.top1_agreement[3], skipped.top1_agreement, 1e-9);
  lk_lens_result_clear (&lens);
}

static void
test_errors (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autoptr (LatheModel) m = NULL;
  lk_ctx *ctx;
  const struct
  {
    const char *skip;
    float threshold;
    int min_layer;
    const char *expected;
  } cases[] = {
    { "0-4", 1.0f, 0, "every layer would be skipped" },
    { "1,x", 1.0f, 0, "expected numbers" },
    { "3-9", 1.0f, 0, "not within 0..4" },
    { NULL, 0.0f, 0, "early exit" },
    { NULL, 0.5f, 7, "early exit" },
  };

  if (path == NULL)
    return;
  m = load (path);
  ctx = new_ctx (m);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (lathe_apply_conditional (ctx, cases[i].skip, cases[i].threshold, cases[i].min_layer,
                                               &error));
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].expected));
    }
  lk_ctx_free (ctx);
}

/* Plain greedy tokens after the prompt. */
static int
greedy_tokens (lk_ctx *ctx, const int32_t *prompt, int n_prompt, int n, int32_t *out)
{
  const int n_vocab = lk_model_hparams (lk_ctx_model (ctx))->n_vocab;
  lk_error err = { 0 };
  int32_t tok;

  lk_ctx_truncate (ctx, 0);
  g_assert_cmpint (lk_ctx_decode (ctx, prompt, n_prompt, false, &err), ==, LK_OK);
  tok = out[0] = lk_argmax (lk_ctx_logits (ctx, -1), n_vocab);
  for (int i = 1; i < n; i++)
    {
      g_assert_cmpint (lk_ctx_decode (ctx, &tok, 1, false, &err), ==, LK_OK);
      tok = out[i] = lk_argmax (lk_ctx_logits (ctx, -1), n_vocab);
    }
  return n;
}

/* Speculative output = plain greedy output, for a draft of each kind. */
static void
check_speculative (LatheModel *target_model, LatheModel *draft_model, const char *skip, float exit_t,
                   int k, double *acceptance)
{
  const int32_t prompt[] = { 1, 403, 407, 261, 378 };
  const int n = 90;
  g_autofree int32_t *plain = g_new (int32_t, n), *spec = g_new (int32_t, n);
  g_autoptr (GError) error = NULL;
  lk_ctx *target = new_ctx (target_model), *draft = new_ctx (draft_model);
  lk_spec_stats st;
  lk_error err = { 0 };
  int n_out = 0;

  g_assert_true (lathe_apply_conditional (draft, skip, exit_t, 2, &error));
  g_assert_cmpint (lk_speculative_generate (target, draft, prompt, G_N_ELEMENTS (prompt), n, k, spec, &n_out,
                                            &st, &err), ==, LK_OK);
  g_assert_cmpint (n_out, ==, n);
  greedy_tokens (target, prompt, G_N_ELEMENTS (prompt), n, plain);
  g_assert_cmpint (memcmp (plain, spec, (gsize) n * sizeof *plain), ==, 0);
  g_assert_cmpuint (st.accepted, <=, st.drafted);
  g_assert_cmpuint (st.reached[0], ==, st.rounds);
  /* Every round yields its accepted drafts and one token of the target's. */
  g_assert_cmpuint (st.rounds + st.accepted + 1, >=, (guint64) n);
  *acceptance = st.drafted ? (double) st.accepted / (double) st.drafted : 0.0;
  lk_spec_stats_clear (&st);
  lk_ctx_free (draft);
  lk_ctx_free (target);
}

static void
test_speculative_is_greedy (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *synth = g_build_filename (lathe_test_tmpdir (), "spec-synth.gguf", NULL);
  g_autofree char *other = g_build_filename (lathe_test_tmpdir (), "spec-draft.gguf", NULL);
  g_autofree char *wide = g_build_filename (lathe_test_tmpdir (), "spec-wide.gguf", NULL);
  g_autoptr (LatheModel) m = NULL, s = NULL, d = NULL, w = NULL;
  lk_synth_params sp;
  lk_error err = { 0 };
  double a_skip, a_exit, a_synth, a_other;

  if (path == NULL)
    return;
  m = load (path);
  check_speculative (m, m, "2", 1.0f, 3, &a_skip);
  check_speculative (m, m, NULL, 0.5f, 4, &a_exit);
  g_test_message ("stories260K acceptance: skip layer 2 %.2f, exit at 0.5 %.2f", a_skip, a_exit);
  g_assert_cmpfloat (a_skip, >, 0.2);
  g_assert_cmpfloat (a_exit, >, 0.2);
  /* A synthetic model drafting for itself, and drafting for stories260K. */
  lk_synth_params_init (&sp);
  sp.n_embd = 128;
  sp.n_layer = 4;
  sp.n_head = sp.n_head_kv = 4;
  sp.n_ff = 256;
  sp.n_ctx = 128;
  sp.vocab_path = path;
  g_assert_cmpint (lk_synth (&sp, synth, &err), ==, LK_OK);
  s = load (synth);
  check_speculative (s, s, "1", 1.0f, 3, &a_synth);
  sp.seed = 7;
  sp.n_layer = 1;
  g_assert_cmpint (lk_synth (&sp, other, &err), ==, LK_OK);
  d = load (other);
  check_speculative (m, d, NULL, 1.0f, 2, &a_other);
  g_test_message ("synthetic skip-1 acceptance %.2f; random draft for stories260K %.2f", a_synth, a_other);
  /* A draft of another vocabulary is refused. */
  sp.n_vocab = 600;
  g_assert_cmpint (lk_synth (&sp, wide, &err), ==, LK_OK);
  w = load (wide);
  {
    lk_ctx *t = new_ctx (m), *dr = new_ctx (w);
    const int32_t prompt[] = { 1, 403 };
    int32_t out[8];
    int n_out;
    lk_spec_stats st;
    g_assert_cmpint (lk_speculative_generate (t, dr, prompt, 2, 8, 2, out, &n_out, &st, &err), ==,
                     LK_ERR_INVALID);
    g_assert_nonnull (strstr (err.message, "share one"));
    lk_spec_stats_clear (&st);
    lk_ctx_free (t);
    lk_ctx_free (dr);
  }
}

static char *
synth_moe (const char *vocab, const char *name, int n_expert, int n_used)
{
  char *path = g_build_filename (lathe_test_tmpdir (), name, NULL);
  lk_synth_params sp;
  lk_error err = { 0 };

  lk_synth_params_init (&sp);
  sp.n_embd = 128;
  sp.n_layer = 2;
  sp.n_head = sp.n_head_kv = 4;
  sp.n_ff = 256;
  sp.n_ctx = 128;
  sp.type = LK_TYPE_F32;
  sp.vocab_path = vocab;
  sp.n_expert = n_expert;
  sp.n_expert_used = n_used;
  g_assert_cmpint (lk_synth (&sp, path, &err), ==, LK_OK);
  return path;
}

/* The same weights as a dense model: each layer's only expert becomes its FFN. */
static char *
dense_copy (const char *moe_path)
{
  char *out = g_build_filename (lathe_test_tmpdir (), "dense-of-moe.gguf", NULL);
  lk_gguf *g = NULL;
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_error err = { 0 };

  g_assert_cmpint (lk_gguf_open (moe_path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  lk_gguf_writer_copy_kv (w, g);
  lk_gguf_writer_remove (w, "llama.expert_count");
  lk_gguf_writer_remove (w, "llama.expert_used_count");
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      g_autofree char *name = g_strdup (t->name);
      char *exps = strstr (name, "_exps.weight");
      if (strstr (t->name, "ffn_gate_inp") != NULL)
        continue;
      if (exps != NULL)
        strcpy (exps, ".weight");
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, name, t->type, exps != NULL ? 2 : t->n_dims, t->ne, t->data,
                                                  &err), ==, LK_OK);
    }
  g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  return out;
}

static void
test_moe (void)
{
  g_autofree char *vocab = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *one = NULL, *dense = NULL, *eight = NULL;
  g_autoptr (LatheModel) m1 = NULL, md = NULL, m8 = NULL;
  g_autofree float *a = NULL, *b = NULL;
  g_autoptr (GError) error = NULL;
  lk_ctx *ca, *cb;
  int n_vocab;

  if (vocab == NULL)
    return;
  /* One expert, used by every token: exactly the dense model. */
  one = synth_moe (vocab, "moe-1.gguf", 1, 1);
  dense = dense_copy (one);
  m1 = load (one);
  md = load (dense);
  g_assert_cmpint (lk_model_layer (lathe_model_get_engine (m1), 0)->n_expert, ==, 1);
  g_assert_null (lk_model_layer (lathe_model_get_engine (md), 0)->ffn_gate_inp);
  n_vocab = lk_model_hparams (lathe_model_get_engine (m1))->n_vocab;
  a = g_new (float, (gsize) N_STEPS * n_vocab);
  b = g_new (float, (gsize) N_STEPS * n_vocab);
  ca = new_ctx (m1);
  cb = new_ctx (md);
  run_steps (ca, a, n_vocab);
  run_steps (cb, b, n_vocab);
  g_test_message ("one expert vs dense: %g", max_diff (a, b, (gsize) N_STEPS * n_vocab));
  g_assert_cmpfloat (max_diff (a, b, (gsize) N_STEPS * n_vocab), <, 1e-5f);
  lk_ctx_free (ca);
  lk_ctx_free (cb);

  /* Eight experts, two per token. */
  eight = synth_moe (vocab, "moe-8.gguf", 8, 2);
  m8 = load (eight);
  ca = new_ctx (m8);
  cb = new_ctx (m8);
  run_steps (ca, a, n_vocab);
  /* The model's own k given as an override changes nothing. */
  g_assert_true (apply_k (cb, 2, &error));
  run_steps (cb, b, n_vocab);
  g_assert_cmpint (memcmp (a, b, (gsize) N_STEPS * n_vocab * sizeof *a), ==, 0);
  {
    const uint64_t *routes = lk_ctx_routes (cb, 1);
    uint64_t sum = 0;
    for (int e = 0; e < 8; e++)
      sum += routes[e];
    g_assert_cmpuint (sum, ==, 2 * N_STEPS);
  }
  /* A batch routes each token as single steps do. */
  {
    int32_t toks[N_STEPS];
    lk_error err = { 0 };
    toks[0] = 1;
    for (int i = 1; i < N_STEPS; i++)
      {
        const float *l = a + (gsize) (i - 1) * n_vocab;
        int best = 0;
        for (int v = 1; v < n_vocab; v++)
          best = l[v] > l[best] ? v : best;
        toks[i] = best;
      }
    lk_ctx_truncate (ca, 0);
    g_assert_cmpint (lk_ctx_decode (ca, toks, N_STEPS, true, &err), ==, LK_OK);
    for (int i = 0; i < N_STEPS; i++)
      memcpy (b + (gsize) i * n_vocab, lk_ctx_logits (ca, i), (gsize) n_vocab * sizeof *b);
    g_test_message ("batch vs steps: %g", max_diff (a, b, (gsize) N_STEPS * n_vocab));
    g_assert_cmpfloat (max_diff (a, b, (gsize) N_STEPS * n_vocab), <, 1e-4f);
  }
  /* Fewer experts: other logits; more than there are: refused. */
  g_assert_true (apply_k (cb, 1, &error));
  run_steps (cb, b, n_vocab);
  g_assert_cmpfloat (max_diff (a, b, (gsize) N_STEPS * n_vocab), >, 1e-3f);
  g_assert_false (apply_k (cb, 9, &error));
  g_assert_nonnull (strstr (error->message, "the model has 8 experts"));
  g_clear_error (&error);
  /* A recipe's experts_used travels in the variant: its contexts start with it. */
  {
    g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "moe-k1.gguf", NULL);
    g_autoptr (LatheRecipe) r = lathe_recipe_parse ("{\"lathe_recipe\": 1, \"conditional\": {\"experts_used\": 1}}",
                                                    -1, "r.json", &error);
    g_autoptr (LatheRecipe) too_many = lathe_recipe_parse ("{\"lathe_recipe\": 1, \"conditional\": "
                                                           "{\"experts_used\": 9}}", -1, "r.json", &error);
    g_autoptr (LatheModel) k1 = NULL;
    g_autofree float *c = g_new (float, (gsize) N_STEPS * n_vocab);
    lk_ctx *cc;
    g_assert_no_error (error);
    g_assert_true (lathe_recipe_apply (r, m8, out, 1, NULL, NULL, NULL, NULL, &error));
    g_assert_no_error (error);
    k1 = load (out);
    cc = new_ctx (k1);
    run_steps (cc, c, n_vocab);
    g_assert_cmpint (memcmp (b, c, (gsize) N_STEPS * n_vocab * sizeof *c), ==, 0);
    lk_ctx_free (cc);
    g_assert_false (lathe_recipe_apply (too_many, m8, out, 1, NULL, NULL, NULL, NULL, &error));
    g_assert_nonnull (strstr (error->message, "conditional.experts_used: the model has 8 experts"));
    g_clear_error (&error);
  }
  lk_ctx_free (ca);
  lk_ctx_free (cb);
}

/* Removing the least routed experts: a smaller file with the same expert
 * count in every layer, that runs. */
static void
test_expert_pruning (void)
{
  g_autofree char *vocab = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = vocab ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autofree char *moe = NULL, *json = NULL;
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "moe-6.gguf", NULL);
  g_autoptr (LatheModel) m = NULL, p = NULL, dense = NULL;
  g_autoptr (LatheRecipe) r = NULL;
  g_autoptr (GError) error = NULL;
  const lk_model *e;

  if (text == NULL)
    return;
  moe = synth_moe (vocab, "moe-prune.gguf", 8, 2);
  m = load (moe);
  json = g_strdup_printf ("{\"lathe_recipe\": 1, \"calibration\": {\"text\": \"%s\", \"chunks\": 4}, "
                          "\"prune\": [{\"method\": \"experts\", \"remove\": 2}]}", text);
  r = lathe_recipe_parse (json, -1, "r.json", &error);
  g_assert_no_error (error);
  g_assert_true (lathe_recipe_apply (r, m, out, 1, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  p = load (out);
  e = lathe_model_get_engine (p);
  g_assert_cmpint (lk_model_hparams (e)->n_expert, ==, 6);
  g_assert_cmpint (lk_model_hparams (e)->n_expert_used, ==, 2);
  g_assert_cmpint (lk_model_layer (e, 1)->ffn_up_exps->ne[2], ==, 6);
  g_assert_cmpint (lk_model_layer (e, 1)->ffn_gate_inp->ne[1], ==, 6);
  g_assert_cmpuint (lathe_model_get_file_size (p), <, lathe_model_get_file_size (m));
  {
    LatheEvalOptions o;
    lk_eval_result res;
    lathe_eval_options_init (&o);
    o.max_chunks = 2;
    g_assert_true (lathe_eval_run (p, text, moe, &o, &res, NULL, &error));
    g_assert_no_error (error);
    g_assert_cmpfloat (res.kl_mean, >, 0.0);
    g_assert_true (isfinite (res.kl_mean));
  }
  /* No routing counts, or no experts: refused. */
  g_clear_pointer (&r, lathe_recipe_free);
  g_assert_null (lathe_recipe_parse ("{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"experts\", "
                                     "\"remove\": 2}]}", -1, "r.json", &error));
  g_assert_nonnull (strstr (error->message, "calibration"));
  g_clear_error (&error);
  dense = load (vocab);
  g_free (json);
  json = g_strdup_printf ("{\"lathe_recipe\": 1, \"calibration\": {\"text\": \"%s\", \"chunks\": 2}, "
                          "\"prune\": [{\"method\": \"experts\", \"remove\": 1}]}", text);
  r = lathe_recipe_parse (json, -1, "r.json", &error);
  g_assert_false (lathe_recipe_apply (r, dense, out, 1, NULL, NULL, NULL, NULL, &error));
  g_assert_nonnull (strstr (error->message, "no experts"));
}

/* Qwen2-MoE: shared expert and weights over all experts; a batch routes as
 * single steps do, and the experts per token can be changed. */
static void
test_qwen2moe (void)
{
  g_autofree char *vocab = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), "qwen2moe.gguf", NULL);
  g_autoptr (LatheModel) m = NULL;
  g_autofree float *a = NULL, *b = NULL;
  g_autoptr (GError) error = NULL;
  lk_synth_params sp;
  lk_error err = { 0 };
  const lk_layer *L;
  lk_ctx *ca, *cb;
  int32_t toks[N_STEPS];
  int n_vocab;

  if (vocab == NULL)
    return;
  lk_synth_params_init (&sp);
  sp.arch = LK_ARCH_QWEN2MOE;
  sp.n_embd = 128;
  sp.n_layer = 2;
  sp.n_head = 4;
  sp.n_head_kv = 2;
  sp.n_ff = 128;
  sp.n_ff_shared = 256;
  sp.n_ctx = 128;
  sp.type = LK_TYPE_F32;
  sp.vocab_path = vocab;
  sp.n_expert = 4;
  sp.n_expert_used = 2;
  g_assert_cmpint (lk_synth (&sp, path, &err), ==, LK_OK);
  m = load (path);
  L = lk_model_layer (lathe_model_get_engine (m), 1);
  g_assert_cmpint (L->n_expert, ==, 4);
  g_assert_false (L->moe_renorm);
  g_assert_cmpint (L->n_ff_shexp, ==, 256);
  g_assert_nonnull (L->ffn_gate_inp_shexp);
  g_assert_nonnull (L->bq);
  n_vocab = lk_model_hparams (lathe_model_get_engine (m))->n_vocab;
  a = g_new (float, (gsize) N_STEPS * n_vocab);
  b = g_new (float, (gsize) N_STEPS * n_vocab);
  ca = new_ctx (m);
  cb = new_ctx (m);
  run_steps (ca, a, n_vocab);
  toks[0] = 1;
  for (int i = 1; i < N_STEPS; i++)
    {
      const float *l = a + (gsize) (i - 1) * n_vocab;
      int best = 0;
      for (int v = 1; v < n_vocab; v++)
        best = l[v] > l[best] ? v : best;
      toks[i] = best;
    }
  g_assert_cmpint (lk_ctx_decode (cb, toks, N_STEPS, true, &err), ==, LK_OK);
  for (int i = 0; i < N_STEPS; i++)
    memcpy (b + (gsize) i * n_vocab, lk_ctx_logits (cb, i), (gsize) n_vocab * sizeof *b);
  g_test_message ("qwen2moe batch vs steps: %g", max_diff (a, b, (gsize) N_STEPS * n_vocab));
  g_assert_cmpfloat (max_diff (a, b, (gsize) N_STEPS * n_vocab), <, 1e-4f);
  g_assert_true (apply_k (cb, 4, &error));
  run_steps (cb, b, n_vocab);
  g_assert_cmpfloat (max_diff (a, b, (gsize) N_STEPS * n_vocab), >, 1e-4f);
  lk_ctx_free (ca);
  lk_ctx_free (cb);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/core/conditional/threshold-one", test_threshold_one_is_the_full_model);
  g_test_add_func ("/lathe/core/conditional/skip-equals-dropped", test_skip_equals_dropped_layer);
  g_test_add_func ("/lathe/core/conditional/early-exit", test_early_exit_cuts_layers);
  g_test_add_func ("/lathe/core/conditional/lens", test_lens_matches_skipping_the_last_layer);
  g_test_add_func ("/lathe/core/conditional/speculative-is-greedy", test_speculative_is_greedy);
  g_test_add_func ("/lathe/core/conditional/moe", test_moe);
  g_test_add_func ("/lathe/core/conditional/expert-pruning", test_expert_pruning);
  g_test_add_func ("/lathe/core/conditional/qwen2moe", test_qwen2moe);
  g_test_add_func ("/lathe/core/conditional/errors", test_errors);
  return g_test_run ();
}
