/* SPDX-License-Identifier: MIT */
/* Calibration on stories260K: the statistics file, weighted quantization
 * and Wanda pruning measured against their unweighted versions on text the
 * calibration did not see, and bad statistics files. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "lathe-calibrate.h"
#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-recipe.h"
#include "lathe-sensitivity.h"
#include "lathe-test.h"
#include "lk-gguf.h"
#include "lk-quant.h"

/* The first 100 stories for evaluation, the other 100 for calibration. */
static gboolean
split_text (char **model, char **eval_text, char **calib_text)
{
  g_autofree char *text_path = NULL, *text = NULL;
  char *mid;

  *model = lathe_test_shared ("models/stories260K.gguf");
  text_path = *model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  if (text_path == NULL)
    return FALSE;
  text = lathe_test_read (text_path, NULL);
  mid = text;
  for (int i = 0; i < 100; i++)
    {
      mid = strstr (mid, "<|endoftext|>\n");
      g_assert_nonnull (mid);
      mid += strlen ("<|endoftext|>\n");
    }
  *eval_text = g_build_filename (lathe_test_tmpdir (), "eval-a.txt", NULL);
  *calib_text = g_build_filename (lathe_test_tmpdir (), "calib-b.txt", NULL);
  g_assert_true (g_file_set_contents (*calib_text, mid, -1, NULL));
  *mid = '\0';
  g_assert_true (g_file_set_contents (*eval_text, text, -1, NULL));
  return TRUE;
}

static LatheModel *
load (const char *path)
{
  g_autoptr (GError) error = NULL;
  LatheModel *m = lathe_model_load (path, NULL, NULL, &error);

  g_assert_no_error (error);
  return m;
}

static char *
calibrate_to_file (LatheModel *m, const char *text, int *n_entries)
{
  LatheCalibrateOptions o;
  g_autoptr (GError) error = NULL;
  char *path = g_build_filename (lathe_test_tmpdir (), "stories.imatrix", NULL);
  lk_imatrix *im;
  lk_error err = { 0 };

  lathe_calibrate_options_init (&o);
  o.max_chunks = 64;
  im = lathe_calibrate (m, text, &o, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lk_imatrix_chunks (im), ==, 64);
  g_assert_cmpint (lk_imatrix_save (im, path, "calib-b.txt", &err), ==, LK_OK);
  *n_entries = lk_imatrix_n_entries (im);
  lk_imatrix_free (im);
  return path;
}

static void
test_imatrix_file (void)
{
  g_autofree char *model = NULL, *eval_text = NULL, *calib_text = NULL, *path = NULL;
  g_autoptr (LatheModel) m = NULL;
  g_autoptr (GError) error = NULL;
  lk_imatrix *im;
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  const lk_hparams *hp;
  int n_entries = 0;
  float count;

  if (!split_text (&model, &eval_text, &calib_text))
    return;
  m = load (model);
  hp = lk_model_hparams (lathe_model_get_engine (m));
  path = calibrate_to_file (m, calib_text, &n_entries);
  /* Seven matrices per layer and the output head. */
  g_assert_cmpint (n_entries, ==, 7 * hp->n_layer + 1);
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  {
    g_autofree char *type = lk_gguf_get_str_dup (g, "general.type");
    const lk_gguf_tensor *c = lk_gguf_find_tensor (g, "blk.0.attn_q.weight.counts");
    g_assert_cmpstr (type, ==, "imatrix");
    g_assert_nonnull (c);
    memcpy (&count, c->data, sizeof count);
    /* Every token of 64 chunks passes every matrix once. */
    g_assert_cmpfloat (count, ==, 64.0f * MIN (256, hp->n_ctx_train));
  }
  lk_gguf_free (g);
  im = lathe_imatrix_load (path, &error);
  g_assert_no_error (error);
  {
    const int64_t e = hp->n_embd;
    const float *q = lk_imatrix_mean_square (im, "blk.1.attn_q.weight", e);
    const float *k = lk_imatrix_mean_square (im, "blk.1.attn_k.weight", e);
    const float *gate = lk_imatrix_mean_square (im, "blk.1.ffn_gate.weight", e);
    const float *up = lk_imatrix_mean_square (im, "blk.1.ffn_up.weight", e);
    const float *down = lk_imatrix_mean_square (im, "blk.1.ffn_down.weight",
                                                lk_model_layer (lathe_model_get_engine (m), 1)->n_ff);
    const float *rms = lk_imatrix_rms (im, "blk.1.attn_q.weight", e);
    g_assert_nonnull (q);
    g_assert_nonnull (down);
    g_assert_null (lk_imatrix_mean_square (im, "blk.1.attn_q.weight", e + 1));
    g_assert_null (lk_imatrix_mean_square (im, "no.such.weight", e));
    for (int64_t c = 0; c < e; c++)
      {
        /* Matrices that read the same input have the same statistics. */
        g_assert_cmpfloat (q[c], ==, k[c]);
        g_assert_cmpfloat (gate[c], ==, up[c]);
        g_assert_cmpfloat (q[c], >, 0.0f);
        g_assert_cmpfloat_with_epsilon (rms[c] * rms[c], q[c], 1e-5f * q[c]);
      }
  }
  lk_imatrix_free (im);
}

static double
kl_of (const char *model_path, const char *eval_text, const char *ref)
{
  g_autoptr (LatheModel) m = load (model_path);
  g_autoptr (GError) error = NULL;
  LatheEvalOptions o;
  lk_eval_result r;

  lathe_eval_options_init (&o);
  g_assert_true (lathe_eval_run (m, eval_text, ref, &o, &r, NULL, &error));
  g_assert_no_error (error);
  return r.kl_mean;
}

static double
variant_kl (LatheModel *src, const char *name, const char *json, const char *eval_text, const char *ref)
{
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), name, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (LatheRecipe) r = lathe_recipe_parse (json, -1, name, &error);
  double kl;

  g_assert_no_error (error);
  g_assert_true (lathe_recipe_apply (r, src, out, 2, NULL, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  kl = kl_of (out, eval_text, ref);
  g_test_message ("%s: KL %.6f", name, kl);
  return kl;
}

/* Weighted quantization and Wanda lose less than their unweighted forms,
 * measured on stories the calibration did not see. */
static void
test_weighted_beats_unweighted (void)
{
  g_autofree char *model = NULL, *eval_text = NULL, *calib_text = NULL, *im = NULL, *ref = NULL;
  g_autoptr (LatheModel) m = NULL;
  g_autoptr (GError) error = NULL;
  LatheEvalOptions o;
  lk_eval_result self;
  int n_entries;
  const char *types[] = { "Q4_0", "Q4_1", "Q5_0" };

  if (!split_text (&model, &eval_text, &calib_text))
    return;
  m = load (model);
  im = calibrate_to_file (m, calib_text, &n_entries);
  ref = g_build_filename (lathe_test_tmpdir (), "eval-a.logits", NULL);
  lathe_eval_options_init (&o);
  o.save_ref = ref;
  g_assert_true (lathe_eval_run (m, eval_text, NULL, &o, &self, NULL, &error));
  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autofree char *plain = g_strdup_printf (
        "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"%s\", \"pure\": true}}", types[i]);
      g_autofree char *weighted = g_strdup_printf (
        "{\"lathe_recipe\": 1, \"calibration\": {\"imatrix\": \"%s\"}, "
        "\"quantize\": {\"type\": \"%s\", \"pure\": true}}", im, types[i]);
      g_autofree char *n1 = g_strdup_printf ("%s-plain.gguf", types[i]);
      g_autofree char *n2 = g_strdup_printf ("%s-imatrix.gguf", types[i]);
      const double a = variant_kl (m, n1, plain, eval_text, ref);
      const double b = variant_kl (m, n2, weighted, eval_text, ref);
      g_assert_cmpfloat (b, <, a);
    }
  {
    g_autofree char *wanda = g_strdup_printf (
      "{\"lathe_recipe\": 1, \"calibration\": {\"imatrix\": \"%s\"}, "
      "\"prune\": [{\"method\": \"wanda\", \"sparsity\": 0.3}]}", im);
    const double mag = variant_kl (m, "magnitude-30.gguf",
                                   "{\"lathe_recipe\": 1, \"prune\": [{\"sparsity\": 0.3}]}",
                                   eval_text, ref);
    const double wan = variant_kl (m, "wanda-30.gguf", wanda, eval_text, ref);
    g_assert_cmpfloat (wan, <, mag);
  }
  /* Calibrating inside the recipe gives the same file as a saved matrix. */
  {
    g_autofree char *inline_json = g_strdup_printf (
      "{\"lathe_recipe\": 1, \"calibration\": {\"text\": \"%s\", \"chunks\": 64}, "
      "\"quantize\": {\"type\": \"Q4_0\", \"pure\": true}}", calib_text);
    g_autofree char *saved_json = g_strdup_printf (
      "{\"lathe_recipe\": 1, \"calibration\": {\"imatrix\": \"%s\"}, "
      "\"quantize\": {\"type\": \"Q4_0\", \"pure\": true}}", im);
    g_assert_cmpfloat (variant_kl (m, "q4-inline.gguf", inline_json, eval_text, ref), ==,
                       variant_kl (m, "q4-saved.gguf", saved_json, eval_text, ref));
  }
}

static guint64
file_tensor_bytes (const char *path)
{
  g_autoptr (LatheModel) m = load (path);

  return lk_model_tensor_bytes (lathe_model_get_engine (m));
}

/* At the size of uniform Q4_1, the allocation from measured sensitivities
 * loses less than uniform Q4_1 on held-out stories. */
static void
test_mixed_precision (void)
{
  g_autofree char *model = NULL, *eval_text = NULL, *calib_text = NULL, *ref = NULL;
  g_autofree char *table_path = g_build_filename (lathe_test_tmpdir (), "sens.json", NULL);
  g_autofree char *uniform = g_build_filename (lathe_test_tmpdir (), "uniform-q41.gguf", NULL);
  g_autofree char *mixed = g_build_filename (lathe_test_tmpdir (), "mixed.gguf", NULL);
  g_autoptr (LatheModel) m = NULL;
  g_autoptr (JsonNode) table = NULL;
  g_autoptr (GError) error = NULL;
  const lk_type types[] = { LK_TYPE_Q8_0, LK_TYPE_Q5_1, LK_TYPE_Q5_0, LK_TYPE_Q4_1, LK_TYPE_Q4_0 };
  LatheSensitivityOptions so;
  LatheEvalOptions eo;
  lk_eval_result self;
  JsonArray *tensors;
  double sum8 = 0, sum4 = 0, kl_uniform, kl_mixed;
  guint64 budget;

  if (!split_text (&model, &eval_text, &calib_text))
    return;
  m = load (model);
  lathe_sensitivity_options_init (&so);
  so.types = types;
  so.n_types = G_N_ELEMENTS (types);
  so.max_chunks = 8;
  table = lathe_sensitivity_measure (m, calib_text, &so, NULL, &error);
  g_assert_no_error (error);
  tensors = json_object_get_array_member (json_node_get_object (table), "tensors");
  /* Every matrix: the embedding, the head, seven per layer. */
  g_assert_cmpint (json_array_get_length (tensors), ==, 2 + 7 * 5);
  for (guint i = 0; i < json_array_get_length (tensors); i++)
    {
      JsonArray *c = json_object_get_array_member (json_array_get_object_element (tensors, i), "candidates");
      g_assert_cmpint (json_array_get_length (c), ==, G_N_ELEMENTS (types));
      sum8 += json_object_get_double_member (json_array_get_object_element (c, 0), "kl_mean");
      sum4 += json_object_get_double_member (json_array_get_object_element (c, 4), "kl_mean");
    }
  g_assert_cmpfloat (sum8, <, sum4 / 20);
  {
    g_autofree char *s = json_to_string (table, FALSE);
    g_assert_true (g_file_set_contents (table_path, s, -1, NULL));
  }
  ref = g_build_filename (lathe_test_tmpdir (), "mixed-eval.logits", NULL);
  lathe_eval_options_init (&eo);
  eo.save_ref = ref;
  g_assert_true (lathe_eval_run (m, eval_text, NULL, &eo, &self, NULL, &error));
  kl_uniform = variant_kl (m, "uniform-q41.gguf",
                           "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_1\", \"pure\": true}}",
                           eval_text, ref);
  budget = file_tensor_bytes (uniform);
  {
    g_autofree char *json = g_strdup_printf (
      "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_0\", \"target_size_mb\": %.6f, "
      "\"sensitivity\": \"%s\"}}", budget / 1e6, table_path);
    kl_mixed = variant_kl (m, "mixed.gguf", json, eval_text, ref);
  }
  g_assert_cmpuint (file_tensor_bytes (mixed), <=, budget);
  g_assert_cmpfloat (kl_mixed, <, kl_uniform);
  /* A budget below what the smallest candidates take. */
  {
    g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "never.gguf", NULL);
    g_autoptr (LatheRecipe) r = NULL;
    g_autofree char *dir_json = NULL;
    dir_json = g_strdup_printf ("{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_0\", "
                                "\"target_bpw\": 2.0, \"sensitivity\": \"%s\"}}", table_path);
    r = lathe_recipe_parse (dir_json, -1, "r.json", &error);
    g_assert_false (lathe_recipe_apply (r, m, out, 1, NULL, NULL, NULL, NULL, &error));
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, "cannot be met"));
    g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  }
}

/* Row r of expert e of a stack, in F32. */
static void
expert_row (const lk_tensor *t, int64_t e, int64_t r, float *out)
{
  g_autofree void *tmp = g_malloc (lk_row_size (LK_TYPE_F32, t->ne[0]) + 64);
  lk_type type;
  const void *row = lk_tensor_row (t, e * t->ne[1] + r, tmp, &type);

  g_assert_true (lk_dequantize_row (type, row, out, t->ne[0]));
}

/* A mixture of experts: statistics per expert of the tokens routed to it,
 * saved in llama.cpp's layout, and used expert by expert by Wanda and by the
 * grid types. */
static void
test_experts (void)
{
  g_autofree char *path = lathe_test_shared ("archs/qwen3moe.gguf");
  g_autofree char *text = path ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autofree char *file = g_build_filename (lathe_test_tmpdir (), "moe.imatrix", NULL);
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "moe-wanda.gguf", NULL);
  g_autofree char *iq = g_build_filename (lathe_test_tmpdir (), "moe-iq2.gguf", NULL);
  g_autoptr (LatheModel) m = NULL, pruned = NULL, q = NULL;
  g_autoptr (GError) error = NULL;
  LatheCalibrateOptions co;
  lk_imatrix *im, *back = NULL;
  lk_error err = { 0 };
  const lk_tensor *up;
  const float *ms, *rms;
  int64_t n_cols, n_exp;

  if (text == NULL)
    return;
  m = load (path);
  up = lk_model_find_tensor (lathe_model_get_engine (m), "blk.0.ffn_up_exps.weight");
  g_assert_nonnull (up);
  n_cols = up->ne[0];
  n_exp = up->ne[2];
  g_assert_cmpint (n_exp, >, 1);
  g_assert_cmpint (lk_imatrix_width (up), ==, n_cols * n_exp);
  lathe_calibrate_options_init (&co);
  co.n_ctx = 64;
  co.max_chunks = 8;
  im = lathe_calibrate (m, text, &co, NULL, &error);
  g_assert_no_error (error);
  /* One entry of n_cols per expert; not one of the matrix's width alone. */
  g_assert_null (lk_imatrix_mean_square (im, up->name, n_cols));
  ms = lk_imatrix_mean_square (im, up->name, n_cols * n_exp);
  g_assert_nonnull (ms);
  g_assert_nonnull (lk_imatrix_mean_square (im, "blk.0.ffn_down_exps.weight", up->ne[1] * n_exp));
  {
    /* Experts see different tokens, so different statistics. */
    double diff = 0;
    for (int64_t c = 0; c < n_cols; c++)
      diff += fabs (ms[c] - ms[n_cols + c]);
    g_assert_cmpfloat (diff, >, 0);
  }
  g_assert_cmpint (lk_imatrix_save (im, file, "moe", &err), ==, LK_OK);
  g_assert_cmpint (lk_imatrix_load (file, &back, &err), ==, LK_OK);
  {
    const float *ms2 = lk_imatrix_mean_square (back, up->name, n_cols * n_exp);
    g_assert_nonnull (ms2);
    for (int64_t i = 0; i < n_cols * n_exp; i++)
      g_assert_cmpfloat (fabs (ms2[i] - ms[i]), <=, 1e-6 * ms[i] + 1e-30);
  }
  /* Wanda: each expert's rows keep the weights largest by |w| × that
   * expert's RMS. */
  {
    g_autofree char *json = g_strdup_printf ("{\"lathe_recipe\": 1, \"calibration\": {\"imatrix\": \"%s\"}, "
                                             "\"prune\": [{\"method\": \"wanda\", \"sparsity\": 0.5}]}", file);
    g_autoptr (LatheRecipe) r = lathe_recipe_parse (json, -1, "r.json", &error);
    g_autofree float *src = g_new (float, n_cols), *dst = g_new (float, n_cols);
    const lk_tensor *pup;
    g_assert_no_error (error);
    g_assert_true (lathe_recipe_apply (r, m, out, 2, NULL, NULL, NULL, NULL, &error));
    g_assert_no_error (error);
    pruned = load (out);
    pup = lk_model_find_tensor (lathe_model_get_engine (pruned), up->name);
    rms = lk_imatrix_rms (back, up->name, n_cols * n_exp);
    for (int64_t e = 0; e < n_exp; e += n_exp - 1)
      {
        double kept_min = G_MAXDOUBLE, cut_max = 0;
        int zeros = 0;
        expert_row (up, e, 3, src);
        expert_row (pup, e, 3, dst);
        for (int64_t c = 0; c < n_cols; c++)
          {
            const double score = fabs (src[c]) * rms[e * n_cols + c];
            if (dst[c] == 0.0f)
              zeros++, cut_max = MAX (cut_max, score);
            else
              kept_min = MIN (kept_min, score);
          }
        g_assert_cmpint (zeros, ==, n_cols / 2);
        g_assert_cmpfloat (cut_max, <=, kept_min);
      }
  }
  /* A grid type: the experts' matrices take it, with their statistics. */
  {
    g_autofree char *json = g_strdup_printf ("{\"lathe_recipe\": 1, \"calibration\": {\"imatrix\": \"%s\"}, "
                                             "\"quantize\": {\"type\": \"IQ2_XXS\"}}", file);
    g_autoptr (LatheRecipe) r = lathe_recipe_parse (json, -1, "r.json", &error);
    g_assert_no_error (error);
    g_assert_true (lathe_recipe_apply (r, m, iq, 2, NULL, NULL, NULL, NULL, &error));
    g_assert_no_error (error);
    q = load (iq);
    g_assert_cmpint (lk_model_find_tensor (lathe_model_get_engine (q), up->name)->type, ==, LK_TYPE_IQ2_XXS);
  }
  lk_imatrix_free (back);
  lk_imatrix_free (im);
}

static void
test_bad_imatrix (void)
{
  g_autofree char *model = NULL, *eval_text = NULL, *calib_text = NULL;
  const char *dir = lathe_test_tmpdir ();
  g_autofree char *not_gguf = g_build_filename (dir, "not.imatrix", NULL);
  g_autofree char *no_sums = g_build_filename (dir, "empty.imatrix", NULL);
  g_autofree char *narrow = g_build_filename (dir, "narrow.imatrix", NULL);
  g_autoptr (LatheModel) m = NULL;
  lk_gguf_writer *w;
  lk_error err = { 0 };
  float sums[3] = { 1, 2, 3 }, count = 10;
  const int64_t ne3[2] = { 3, 1 }, ne1[2] = { 1, 1 }, ne_exp[2] = { 1, 3 };
  g_autofree char *experts = g_build_filename (dir, "experts.imatrix", NULL);

  if (!split_text (&model, &eval_text, &calib_text))
    return;
  m = load (model);
  g_assert_true (g_file_set_contents (not_gguf, "hello", -1, NULL));
  w = lk_gguf_writer_new ();
  lk_gguf_writer_set_str (w, "general.type", "imatrix");
  g_assert_cmpint (lk_gguf_writer_write (w, no_sums, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  w = lk_gguf_writer_new ();
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "blk.0.attn_q.weight.in_sum2", LK_TYPE_F32, 2, ne3, sums, &err), ==, LK_OK);
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "blk.0.attn_q.weight.counts", LK_TYPE_F32, 2, ne1, &count, &err), ==, LK_OK);
  g_assert_cmpint (lk_gguf_writer_write (w, narrow, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  /* Sums of 3 experts, counts of 1. */
  w = lk_gguf_writer_new ();
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "blk.0.ffn_up_exps.weight.in_sum2", LK_TYPE_F32, 2, ne_exp, sums, &err), ==, LK_OK);
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "blk.0.ffn_up_exps.weight.counts", LK_TYPE_F32, 2, ne1, &count, &err), ==, LK_OK);
  g_assert_cmpint (lk_gguf_writer_write (w, experts, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  {
    const struct
    {
      const char *file, *extra, *expected;
    } cases[] = {
      { not_gguf, "", "not.imatrix" },
      { no_sums, "", "no NAME.in_sum2 tensors" },
      { experts, "", "blk.0.ffn_up_exps.weight.counts: missing or not F32 [1, 3]" },
      { narrow, ", \"prune\": [{\"method\": \"wanda\", \"sparsity\": 0.5}]",
        "no entry of 64 channels for blk.0.attn_q.weight" },
    };
    for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autofree char *json = g_strdup_printf (
          "{\"lathe_recipe\": 1, \"calibration\": {\"imatrix\": \"%s\"}, "
          "\"quantize\": {\"type\": \"Q4_0\"}%s}", cases[i].file, cases[i].extra);
        g_autofree char *out = g_build_filename (dir, "never.gguf", NULL);
        g_autoptr (GError) error = NULL;
        g_autoptr (LatheRecipe) r = lathe_recipe_parse (json, -1, "r.json", &error);
        g_assert_no_error (error);
        g_assert_false (lathe_recipe_apply (r, m, out, 1, NULL, NULL, NULL, NULL, &error));
        g_test_message ("%s", error->message);
        if (strstr (error->message, cases[i].expected) == NULL)
          g_error ("case %zu: “%s” does not contain “%s”", i, error->message, cases[i].expected);
        g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
      }
  }
  /* Wanda without statistics is refused when the recipe is read. */
  {
    g_autoptr (GError) error = NULL;
    g_assert_null (lathe_recipe_parse ("{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"wanda\", "
                                       "\"sparsity\": 0.5}]}", -1, "r.json", &error));
    g_assert_nonnull (strstr (error->message, "give “calibration”"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/core/calibrate/imatrix-file", test_imatrix_file);
  g_test_add_func ("/lathe/core/calibrate/weighted-beats-unweighted", test_weighted_beats_unweighted);
  g_test_add_func ("/lathe/core/calibrate/mixed-precision", test_mixed_precision);
  g_test_add_func ("/lathe/core/calibrate/bad-imatrix", test_bad_imatrix);
  g_test_add_func ("/lathe/core/calibrate/experts", test_experts);
  return g_test_run ();
}
