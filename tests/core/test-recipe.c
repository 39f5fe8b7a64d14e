/* SPDX-License-Identifier: MIT */
/* Recipes: parsing and its errors, applying quantization rules and pruning
 * to stories260K, provenance in the output, nothing written on failure. */
#include "config.h"

#include <math.h>

#include <string.h>

#include "lathe-error.h"
#include "lathe-recipe.h"
#include "lathe-test.h"
#include "lk-quant.h"

static LatheModel *
load (const char *path)
{
  g_autoptr (GError) error = NULL;
  LatheModel *m = lathe_model_load (path, NULL, NULL, &error);

  g_assert_no_error (error);
  return m;
}

static LatheRecipe *
parse_ok (const char *json)
{
  g_autoptr (GError) error = NULL;
  LatheRecipe *r = lathe_recipe_parse (json, -1, "r.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (r);
  return r;
}

static void
test_parse_errors (void)
{
  static const struct
  {
    const char *json, *expected;
  } cases[] = {
    { "{", "r.json:" },
    { "[]", "r.json: (document): expected a JSON object" },
    { "{\"quantize\": {\"type\": \"Q4_0\"}}", "lathe_recipe: expected the schema version 1" },
    { "{\"lathe_recipe\": 2, \"quantize\": {\"type\": \"Q4_0\"}}", "lathe_recipe" },
    { "{\"lathe_recipe\": 1}", "changes nothing" },
    { "{\"lathe_recipe\": 1, \"quantise\": {}}", "quantise: unknown key" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q9_0\"}}", "quantize.type: “Q9_0”; expected one of" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": 4}}", "quantize.type: expected a type name" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"rules\": [{\"type\": \"Q8_0\"}]}}",
      "quantize.rules[0].match: missing" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"rules\": [{\"match\": \"x\", \"type\": \"Q4_K_M\"}]}}",
      "quantize.rules[0].type: “Q4_K_M”" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"rules\": [{\"match\": \"x\"}]}}",
      "quantize.rules[0]: give either “type” or “keep”" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"rules\": [{\"match\": \"x\", \"type\": \"Q8_0\", \"layers\": [3, 1]}]}}",
      "quantize.rules[0].layers: expected 0 ≤ first ≤ last" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"rules\": [{\"match\": \"x\", \"type\": \"Q8_0\", \"layer\": 1}]}}",
      "quantize.rules[0].layer: unknown key" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"sparsity\": 1.0}]}", "prune[0].sparsity: expected a fraction" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"sparsity\": -0.1}]}", "prune[0].sparsity" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"nm\": \"4:2\"}]}", "prune[0].nm: expected “N:M”" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"sparsity\": 0.5, \"nm\": \"2:4\"}]}", "prune[0]: give either" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"random\", \"sparsity\": 0.5}]}",
      "prune[0].method: “random”" },
    { "{\"lathe_recipe\": 1, \"prune\": {}}", "prune: expected an array" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"IQ1_S\"}}",
      "quantize.type: IQ1_S is written with an importance matrix: give “calibration”" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"rules\": [{\"match\": \"x\", \"type\": \"IQ2_XXS\"}]}}",
      "quantize.rules[0].type: IQ2_XXS is written with an importance matrix" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      LatheRecipe *r = lathe_recipe_parse (cases[i].json, -1, "r.json", &error);
      g_assert_null (r);
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      if (strstr (error->message, cases[i].expected) == NULL)
        g_error ("case %zu: “%s” does not contain “%s”", i, error->message, cases[i].expected);
    }
}

static const lk_tensor *
tensor (LatheModel *m, const char *name)
{
  const lk_tensor *t = lk_model_find_tensor (lathe_model_get_engine (m), name);

  g_assert_nonnull (t);
  return t;
}

static lk_type
type_of (LatheModel *m, const char *name)
{
  return lk_type_unpacked (tensor (m, name)->type);
}

static gboolean
apply (const char *json, LatheModel *src, const char *out, GError **error)
{
  g_autoptr (LatheRecipe) r = parse_ok (json);

  return lathe_recipe_apply (r, src, out, 2, NULL, NULL, NULL, NULL, error);
}

/* A grid type with its calibration: the matrices take it, the embedding,
 * which no statistics cover, Q2_K. */
static void
test_grid_type (void)
{
  g_autofree char *path = lathe_test_shared ("interop/tiny-F32.gguf");
  g_autofree char *im = path ? lathe_test_shared ("interop/tiny.imatrix") : NULL;
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "grid.gguf", NULL);
  g_autofree char *json = NULL;
  g_autoptr (LatheModel) src = NULL, m = NULL;
  g_autoptr (GError) error = NULL;

  if (im == NULL)
    return;
  json = g_strdup_printf ("{\"lathe_recipe\": 1, \"calibration\": {\"imatrix\": \"%s\"}, "
                          "\"quantize\": {\"type\": \"IQ1_M\"}}", im);
  src = load (path);
  g_assert_true (apply (json, src, out, &error));
  g_assert_no_error (error);
  m = load (out);
  g_assert_cmpint (type_of (m, "blk.0.attn_q.weight"), ==, LK_TYPE_IQ1_M);
  g_assert_cmpint (type_of (m, "blk.1.ffn_down.weight"), ==, LK_TYPE_IQ1_M);
  g_assert_cmpint (type_of (m, "token_embd.weight"), ==, LK_TYPE_Q2_K);
  g_assert_cmpint (type_of (m, "output.weight"), ==, LK_TYPE_Q6_K);
}

static void
test_quantize_rules (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "rules.gguf", NULL);
  g_autofree char *sha = NULL, *contents = NULL, *expected_sha = NULL;
  g_autoptr (LatheModel) src = NULL, m = NULL;
  g_autoptr (GError) error = NULL;
  gsize len;
  const char *json = "{\"lathe_recipe\": 1, \"name\": \"mixed\", \"quantize\": {\"type\": \"Q4_0\", "
                     "\"pure\": true, \"rules\": ["
                     "{\"match\": \"blk.*.attn_v.weight\", \"layers\": [1, 2], \"type\": \"Q8_0\"},"
                     "{\"match\": \"blk.*.ffn_down.weight\", \"type\": \"Q8_0\"},"
                     "{\"match\": \"output.weight\", \"type\": \"Q5_0\"},"
                     "{\"match\": \"output.weight\", \"keep\": true}]}}";

  if (path == NULL)
    return;
  src = load (path);
  g_assert_true (apply (json, src, out, &error));
  g_assert_no_error (error);
  m = load (out);
  g_assert_cmpint (type_of (m, "blk.0.attn_v.weight"), ==, LK_TYPE_Q4_0);
  g_assert_cmpint (type_of (m, "blk.1.attn_v.weight"), ==, LK_TYPE_Q8_0);
  g_assert_cmpint (type_of (m, "blk.2.attn_v.weight"), ==, LK_TYPE_Q8_0);
  g_assert_cmpint (type_of (m, "blk.3.attn_v.weight"), ==, LK_TYPE_Q4_0);
  g_assert_cmpint (type_of (m, "blk.0.attn_q.weight"), ==, LK_TYPE_Q4_0);
  /* The last rule wins: the output head keeps the source's F32. */
  g_assert_cmpint (type_of (m, "output.weight"), ==, LK_TYPE_F32);
  g_assert_cmpint (type_of (m, "blk.0.attn_norm.weight"), ==, LK_TYPE_F32);
  /* 172-wide rows do not fit Q8_0: a fallback, and the file says so. */
  g_assert_cmpint (type_of (m, "blk.0.ffn_down.weight"), !=, LK_TYPE_Q8_0);
  g_assert_cmpstr (lathe_model_get_asked_type (m, "blk.0.ffn_down.weight"), ==, "Q8_0");
  g_assert_null (lathe_model_get_asked_type (m, "blk.0.attn_q.weight"));
  /* Provenance: the source's sha256 and the recipe. */
  contents = lathe_test_read (path, &len);
  expected_sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
  g_assert_cmpstr (lathe_model_get_source_sha256 (m), ==, expected_sha);
  sha = lathe_file_sha256 (path, NULL, &error);
  g_assert_cmpstr (sha, ==, expected_sha);
  {
    g_autoptr (LatheRecipe) again = parse_ok (lathe_model_get_recipe (m));
    g_autoptr (LatheRecipe) orig = parse_ok (json);
    g_autofree char *a = lathe_recipe_to_json (again), *b = lathe_recipe_to_json (orig);
    g_assert_cmpstr (a, ==, b);
    g_assert_cmpstr (lathe_recipe_get_name (again), ==, "mixed");
  }
}

/* Counts zeros in each group of `group` weights of a tensor's rows. */
static void
assert_nm (LatheModel *m, const char *name, int keep, int group)
{
  const lk_tensor *t = tensor (m, name);
  const int64_t n = t->ne[0], rows = lk_tensor_nelements (t) / n;
  g_autofree float *row = g_new (float, n);
  g_autofree guint8 *tmp = g_malloc (lk_row_size (lk_type_unpacked (t->type), n) + 64);

  for (int64_t r = 0; r < rows; r++)
    {
      lk_type type;
      const void *data = lk_tensor_row (t, r, tmp, &type);
      g_assert_true (lk_dequantize_row (type, data, row, n));
      for (int64_t g = 0; g < n; g += group)
        {
          int kept = 0;
          for (int i = 0; i < group; i++)
            kept += row[g + i] != 0.0f;
          g_assert_cmpint (kept, ==, keep);
        }
    }
}

static double
zero_fraction (LatheModel *m, const char *name)
{
  const lk_tensor *t = tensor (m, name);
  const float *w = (const float *) t->data;
  const int64_t n = lk_tensor_nelements (t);
  int64_t zeros = 0;

  g_assert_cmpint (t->type, ==, LK_TYPE_F32);
  for (int64_t i = 0; i < n; i++)
    zeros += w[i] == 0.0f;
  return (double) zeros / (double) n;
}

static void
test_prune (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "pruned.gguf", NULL);
  g_autoptr (LatheModel) src = NULL, m = NULL;
  g_autoptr (GError) error = NULL;
  const char *json = "{\"lathe_recipe\": 1, \"prune\": ["
                     "{\"method\": \"magnitude\", \"sparsity\": 0.5},"
                     "{\"nm\": \"2:4\", \"match\": \"blk.*.attn_*.weight\", \"layers\": [0, 1]}]}";

  if (path == NULL)
    return;
  src = load (path);
  g_assert_true (apply (json, src, out, &error));
  g_assert_no_error (error);
  m = load (out);
  /* No quantization asked: the matrices keep F32. */
  g_assert_cmpint (type_of (m, "blk.0.attn_q.weight"), ==, LK_TYPE_F32);
  assert_nm (m, "blk.0.attn_q.weight", 2, 4);
  assert_nm (m, "blk.1.attn_output.weight", 2, 4);
  g_assert_cmpfloat_with_epsilon (zero_fraction (m, "blk.2.attn_q.weight"), 0.5, 1e-3);
  g_assert_cmpfloat_with_epsilon (zero_fraction (m, "blk.0.ffn_up.weight"), 0.5, 1e-3);
  /* Outside the blocks and vectors: untouched. */
  g_assert_cmpfloat (zero_fraction (m, "token_embd.weight"), <, 0.01);
  g_assert_cmpint (memcmp (tensor (m, "output.weight")->data, tensor (src, "output.weight")->data,
                           tensor (src, "output.weight")->nbytes), ==, 0);
}

/* Pruning, then quantization, in one recipe: zeros stay zeros in Q8_0. */
static void
test_prune_then_quantize (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "pq.gguf", NULL);
  g_autoptr (LatheModel) src = NULL, m = NULL;
  g_autoptr (GError) error = NULL;
  const char *json = "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q8_0\"},"
                     "\"prune\": [{\"nm\": \"2:4\", \"match\": \"blk.*.attn_q.weight\"}]}";

  if (path == NULL)
    return;
  src = load (path);
  g_assert_true (apply (json, src, out, &error));
  g_assert_no_error (error);
  m = load (out);
  g_assert_cmpint (type_of (m, "blk.0.attn_q.weight"), ==, LK_TYPE_Q8_0);
  for (int l = 0; l < 5; l++)
    {
      g_autofree char *name = g_strdup_printf ("blk.%d.attn_q.weight", l);
      assert_nm (m, name, 2, 4);
    }
}

static void
test_apply_errors (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "kept.gguf", NULL);
  g_autoptr (LatheModel) src = NULL;
  g_autofree char *contents = NULL;
  static const struct
  {
    const char *json, *expected;
  } cases[] = {
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_0\", \"rules\": [{\"match\": \"blk.*.nothing\", \"type\": \"Q8_0\"}]}}",
      "quantize.rules[0].match: “blk.*.nothing” matches no matrix" },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_0\", \"rules\": [{\"match\": \"blk.*\", \"layers\": [7, 9], \"type\": \"Q8_0\"}]}}",
      "in layers 7–9 matches no matrix" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"nm\": \"3:5\"}]}", "prune[0].nm: rows of" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"sparsity\": 0.5, \"match\": \"*norm*\"}]}",
      "prune[0].match: “*norm*” matches no matrix" },
  };

  if (path == NULL)
    return;
  src = load (path);
  g_assert_true (g_file_set_contents (out, "keep me", -1, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (apply (cases[i].json, src, out, &error));
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      if (strstr (error->message, cases[i].expected) == NULL)
        g_error ("case %zu: “%s” does not contain “%s”", i, error->message, cases[i].expected);
    }
  contents = lathe_test_read (out, NULL);
  g_assert_cmpstr (contents, ==, "keep me");
  /* An output folder that does not exist: an error naming the output. */
  {
    g_autoptr (GError) error = NULL;
    g_autofree char *bad = g_build_filename (lathe_test_tmpdir (), "no-such-dir", "x.gguf", NULL);
    g_assert_false (apply ("{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q8_0\"}}", src, bad, &error));
    g_assert_nonnull (strstr (error->message, "no-such-dir"));
  }
}

static void
test_load_file (void)
{
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), "recipe.json", NULL);
  g_autofree char *missing = g_build_filename (lathe_test_tmpdir (), "none.json", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, "{\"lathe_recipe\": 1, \"quantize\": {\"tipe\": 1}}", -1, NULL));
  g_assert_null (lathe_recipe_load (path, &error));
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "quantize.tipe: unknown key"));
  g_clear_error (&error);
  g_assert_null (lathe_recipe_load (missing, &error));
  g_assert_nonnull (strstr (error->message, "none.json"));
}

/* Structured steps through a recipe: the output is smaller and runs. */
static void
test_structured (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "structured.gguf", NULL);
  g_autoptr (LatheModel) src = NULL, m = NULL;
  g_autoptr (GError) error = NULL;
  const lk_model *e;
  const char *json = "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q8_0\"}, \"prune\": ["
                     "{\"method\": \"heads\", \"remove\": 4, \"layers\": [1, 2]},"
                     "{\"method\": \"ffn\", \"fraction\": 0.25, \"layers\": 3},"
                     "{\"method\": \"layers\", \"drop\": [4]}]}";

  if (path == NULL)
    return;
  src = load (path);
  g_assert_true (apply (json, src, out, &error));
  g_assert_no_error (error);
  m = load (out);
  e = lathe_model_get_engine (m);
  g_assert_cmpint (lk_model_hparams (e)->n_layer, ==, 4);
  g_assert_cmpint (lk_model_layer (e, 0)->n_head, ==, 8);
  g_assert_cmpint (lk_model_layer (e, 1)->n_head, ==, 4);
  g_assert_cmpint (lk_model_layer (e, 2)->n_head, ==, 4);
  g_assert_cmpint (lk_model_layer (e, 3)->n_ff, ==, 172 - 43);
  g_assert_cmpint (type_of (m, "blk.0.attn_q.weight"), ==, LK_TYPE_Q8_0);
  g_assert_null (lk_model_find_tensor (e, "blk.4.attn_q.weight"));
  g_assert_cmpuint (lathe_model_get_n_params (m), <, lathe_model_get_n_params (src));
  g_assert_nonnull (lathe_model_get_source_sha256 (m));
}

static void
test_structured_errors (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "never-structured.gguf", NULL);
  g_autoptr (LatheModel) src = NULL;
  static const struct
  {
    const char *json, *expected;
  } cases[] = {
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"heads\", \"remove\": 3}]}", "multiple of 4" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"heads\", \"remove\": 1, \"layers\": [2, 9]}]}",
      "prune[0].layers: the model has 5 layers" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"layers\", \"drop\": [0, 1, 2, 3, 4]}]}",
      "every layer would go" },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"layers\", \"drop\": [7]}]}",
      "prune[0].drop: layer 7" },
  };

  if (path == NULL)
    return;
  src = load (path);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_assert_false (apply (cases[i].json, src, out, &error));
      g_test_message ("%s", error->message);
      if (strstr (error->message, cases[i].expected) == NULL)
        g_error ("case %zu: “%s” does not contain “%s”", i, error->message, cases[i].expected);
      g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
    }
  {
    g_autoptr (GError) error = NULL;
    g_assert_null (lathe_recipe_parse ("{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"layers\", "
                                       "\"remove\": 1}]}", -1, "r.json", &error));
    g_assert_nonnull (strstr (error->message, "give “calibration”"));
  }
  {
    g_autoptr (GError) error = NULL;
    g_assert_null (lathe_recipe_parse ("{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"ffn\", "
                                       "\"fraction\": 1.5}]}", -1, "r.json", &error));
    g_assert_nonnull (strstr (error->message, "prune[0].fraction"));
  }
}

/* One threshold for all the blocks' matrices: the whole loses the fraction,
 * the matrices unequally. */
static void
test_global_magnitude (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "global.gguf", NULL);
  g_autoptr (LatheModel) src = NULL, m = NULL;
  g_autoptr (GError) error = NULL;
  const lk_model *e;
  double zeros = 0, total = 0, lo = 1, hi = 0;

  if (path == NULL)
    return;
  src = load (path);
  g_assert_true (apply ("{\"lathe_recipe\": 1, \"prune\": [{\"sparsity\": 0.4, \"scope\": \"global\"}]}",
                        src, out, &error));
  g_assert_no_error (error);
  m = load (out);
  e = lathe_model_get_engine (m);
  for (gsize i = 0; i < lk_model_n_tensors (e); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (e, i);
      double f;
      if (t->n_dims < 2 || !g_str_has_prefix (t->name, "blk."))
        continue;
      f = zero_fraction (m, t->name);
      zeros += f * (double) lk_tensor_nelements (t);
      total += (double) lk_tensor_nelements (t);
      lo = MIN (lo, f);
      hi = MAX (hi, f);
    }
  g_test_message ("global 40 %%: %.4f overall, %.3f to %.3f per matrix", zeros / total, lo, hi);
  g_assert_cmpfloat_with_epsilon (zeros / total, 0.4, 0.002);
  g_assert_cmpfloat (hi - lo, >, 0.05);
  g_assert_cmpfloat (zero_fraction (m, "token_embd.weight"), <, 0.01);
  {
    g_autoptr (GError) e2 = NULL;
    g_assert_null (lathe_recipe_parse ("{\"lathe_recipe\": 1, \"prune\": [{\"sparsity\": 0.4, "
                                       "\"scope\": \"all\"}]}", -1, "r.json", &e2));
    g_assert_nonnull (strstr (e2->message, "prune[0].scope"));
  }
}

/* Callers that do not want the error may pass NULL (a crash once). */
static void
test_parse_without_error (void)
{
  LatheRecipe *r = lathe_recipe_parse ("{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"magnitude\", "
                                       "\"sparsity\": 0.5}]}", -1, "r.json", NULL);

  g_assert_nonnull (r);
  lathe_recipe_free (r);
  g_assert_null (lathe_recipe_parse ("{\"lathe_recipe\": 1, \"prune\": [{\"match\": 3, "
                                     "\"sparsity\": 0.5}]}", -1, "r.json", NULL));
}

/* The estimate the workbench shows as settings change: exact for types,
 * close for structured cuts, and each tensor's type as applying gives it. */
static void
test_estimate (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  static const struct
  {
    const char *json;
    double tolerance; /* relative */
  } cases[] = {
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q8_0\"}}", 0 },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_0\", \"pure\": true}}", 0 },
    { "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_K_M\", \"rules\": [{\"match\": "
      "\"blk.*.ffn_down.weight\", \"type\": \"Q8_0\"}]}}", 0 },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"magnitude\", \"sparsity\": 0.5}]}", 0 },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"layers\", \"drop\": [1, 3]}]}", 0.001 },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"heads\", \"remove\": 4}]}", 0.02 },
    { "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"ffn\", \"fraction\": 0.25}], \"quantize\": "
      "{\"type\": \"Q8_0\"}}", 0.03 },
  };
  g_autoptr (LatheModel) src = NULL;

  if (path == NULL)
    return;
  src = load (path);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = g_strdup_printf ("%s/estimate-%u.gguf", lathe_test_tmpdir (), i);
      g_autoptr (GHashTable) types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (LatheRecipe) r = lathe_recipe_parse (cases[i].json, -1, "r.json", &error);
      g_autoptr (LatheModel) written = NULL;
      guint64 estimate = 0, actual;
      g_assert_no_error (error);
      g_assert_true (lathe_recipe_estimate (r, src, types, &estimate, &error));
      g_assert_no_error (error);
      g_assert_true (lathe_recipe_apply (r, src, out, 2, NULL, NULL, NULL, NULL, &error));
      g_assert_no_error (error);
      written = load (out);
      actual = lk_model_tensor_bytes (lathe_model_get_engine (written));
      g_test_message ("case %u: estimate %" G_GUINT64_FORMAT ", written %" G_GUINT64_FORMAT, i, estimate, actual);
      g_assert_cmpfloat (fabs ((double) estimate - (double) actual), <=, cases[i].tolerance * (double) actual);
      if (cases[i].tolerance == 0)
        for (gsize k = 0; k < lk_model_n_tensors (lathe_model_get_engine (written)); k++)
          {
            const lk_tensor *t = lk_model_tensor_at (lathe_model_get_engine (written), k);
            g_assert_true (g_hash_table_contains (types, t->name));
            g_assert_cmpint (GPOINTER_TO_INT (g_hash_table_lookup (types, t->name)), ==, lk_type_unpacked (t->type));
          }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/core/recipe/parse-errors", test_parse_errors);
  g_test_add_func ("/lathe/core/recipe/load-file", test_load_file);
  g_test_add_func ("/lathe/core/recipe/quantize-rules", test_quantize_rules);
  g_test_add_func ("/lathe/core/recipe/grid-type", test_grid_type);
  g_test_add_func ("/lathe/core/recipe/prune", test_prune);
  g_test_add_func ("/lathe/core/recipe/prune-then-quantize", test_prune_then_quantize);
  g_test_add_func ("/lathe/core/recipe/apply-errors", test_apply_errors);
  g_test_add_func ("/lathe/core/recipe/global-magnitude", test_global_magnitude);
  g_test_add_func ("/lathe/core/recipe/structured", test_structured);
  g_test_add_func ("/lathe/core/recipe/structured-errors", test_structured_errors);
  g_test_add_func ("/recipe/parse-without-error", test_parse_without_error);
  g_test_add_func ("/recipe/estimate", test_estimate);
  return g_test_run ();
}
