/* SPDX-License-Identifier: MIT */
/* Workspaces: the Pareto front against a brute-force one, variants and
 * workspaces through JSON and back, errors naming file and field, and
 * measuring stories260K variants for real — figures in the expected order,
 * the speed from lathe-run, a cancelled measure leaving no file, a sweep in
 * the background adding its points as it goes. */
#include "config.h"

#include <float.h>
#include <glib/gstdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <math.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-pareto.h"
#include "lathe-recipe.h"
#include "lathe-test.h"
#include "lathe-workspace.h"

/* Dominated: another point at least as good on both, better on one. */
static gboolean
dominated (const double *x, const double *y, guint n, guint i, gboolean xh, gboolean yh)
{
  for (guint k = 0; k < n; k++)
    {
      const double dx = xh ? x[k] - x[i] : x[i] - x[k];
      const double dy = yh ? y[k] - y[i] : y[i] - y[k];
      if (k != i && !isnan (x[k]) && !isnan (y[k]) && dx >= 0 && dy >= 0 && (dx > 0 || dy > 0))
        return TRUE;
    }
  return FALSE;
}

static void
test_pareto_brute_force (void)
{
  GRand *rand = g_rand_new_with_seed (7);

  for (int trial = 0; trial < 400; trial++)
    {
      const guint n = (guint) g_rand_int_range (rand, 0, 30);
      double x[30], y[30];
      gboolean front[30];
      const gboolean xh = trial & 1, yh = (trial >> 1) & 1;
      for (guint i = 0; i < n; i++)
        {
          /* Few distinct values, so ties and duplicates are common. */
          x[i] = g_rand_int_range (rand, 0, 6);
          y[i] = g_rand_int_range (rand, 0, 6);
          if (g_rand_int_range (rand, 0, 15) == 0)
            y[i] = NAN;
        }
      lathe_pareto_front (x, y, n, xh, yh, front);
      for (guint i = 0; i < n; i++)
        g_assert_cmpint (front[i], ==, !isnan (y[i]) && !dominated (x, y, n, i, xh, yh));
    }
  g_rand_free (rand);
}

static void
test_pareto_example (void)
{
  /* Size (less is better) against KL (less is better). */
  const double size[] = { 1.2, 0.38, 0.28, 0.30, 1.19 };
  const double kl[] = { 0.0, 0.0007, 0.08, 0.09, 3.5 };
  gboolean front[5];

  lathe_pareto_front (size, kl, 5, FALSE, FALSE, front);
  g_assert_true (front[0] && front[1] && front[2]);
  g_assert_false (front[3] || front[4]);
}

static void
test_metrics (void)
{
  LatheMetric m;
  g_autofree char *top1 = lathe_metric_format (LATHE_METRIC_TOP1, 0.925);
  g_autofree char *none = lathe_metric_format (LATHE_METRIC_KL_MEAN, NAN);

  for (int i = 0; i < LATHE_N_METRICS; i++)
    {
      g_assert_true (lathe_metric_from_key (lathe_metric_key (i), &m));
      g_assert_cmpint (m, ==, i);
      g_assert_nonnull (lathe_metric_label (i));
    }
  g_assert_false (lathe_metric_from_key ("speed", &m));
  g_assert_cmpstr (top1, ==, "92.5 %");
  g_assert_cmpstr (none, ==, "—");
  g_assert_true (lathe_metric_higher_is_better (LATHE_METRIC_DECODE_TPS));
  g_assert_false (lathe_metric_higher_is_better (LATHE_METRIC_KL_MEAN));
}

static void
test_variant_json (void)
{
  g_autoptr (LatheVariant) v = lathe_variant_new ("a1", "Q4_0, \"fast\"");
  g_autoptr (LatheVariant) back = NULL;
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (GError) error = NULL;

  lathe_variant_set_file (v, "variants/a1.gguf");
  lathe_variant_set_recipe (v, "{\"lathe_recipe\":1,\"quantize\":{\"type\":\"Q4_0\"}}");
  lathe_variant_set_device (v, "pi5");
  lathe_variant_set_metric (v, LATHE_METRIC_KL_MEAN, 0.083);
  lathe_variant_set_metric (v, LATHE_METRIC_DECODE_TPS, 38121);
  node = lathe_variant_to_json (v);
  back = lathe_variant_from_json (node, "w.json", "variants[0]", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (lathe_variant_get_name (back), ==, "Q4_0, \"fast\"");
  g_assert_cmpstr (lathe_variant_get_device (back), ==, "pi5");
  g_assert_cmpstr (lathe_variant_get_file (back), ==, "variants/a1.gguf");
  g_assert_false (lathe_variant_is_original (back));
  g_assert_nonnull (strstr (lathe_variant_get_recipe (back), "Q4_0"));
  g_assert_cmpfloat (lathe_variant_get_metric (back, LATHE_METRIC_KL_MEAN), ==, 0.083);
  g_assert_cmpfloat (lathe_variant_get_metric (back, LATHE_METRIC_DECODE_TPS), ==, 38121);
  g_assert_true (isnan (lathe_variant_get_metric (back, LATHE_METRIC_PERPLEXITY)));
}

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

static void
test_workspace_errors (void)
{
  static const struct
  {
    const char *json, *expect;
  } cases[] = {
    { "[]", "(top): expected an object" },
    { "{\"lathe_workspace\": 3}", "lathe_workspace: expected 1 or 2" },
    { "{\"lathe_workspace\": 1e999}", "workspace.json" },
    { "{\"lathe_workspace\": inf.0}", "workspace.json" },
    { "{\"lathe_workspace\": 1}", "source: expected the path" },
    { "{\"lathe_workspace\": 1, \"source\": \"m.gguf\"}", "eval: expected an object" },
    { "{\"lathe_workspace\": 1, \"source\": \"m.gguf\", \"eval\": {\"text\": \"t\", \"ctx\": 1}}",
      "eval.ctx: expected" },
    { "{\"lathe_workspace\": 1, \"source\": \"m.gguf\", \"eval\": {\"text\": \"t\", \"ctx\": 64, "
      "\"chunks\": 0}, \"variants\": {}}",
      "variants: expected an array" },
    { "{\"lathe_workspace\": 1, \"source\": \"m.gguf\", \"eval\": {\"text\": \"t\", \"ctx\": 64, "
      "\"chunks\": 0}, \"variants\": [{\"id\": \"../x\", \"name\": \"n\", \"file\": \"f\"}]}",
      "variants[0].id: expected a plain name" },
    { "{\"lathe_workspace\": 1, \"source\": \"m.gguf\", \"eval\": {\"text\": \"t\", \"ctx\": 64, "
      "\"chunks\": 0}, \"variants\": [{\"id\": \"a\", \"name\": \"n\", \"file\": \"f\", \"metrics\": "
      "{\"speed\": 3}}]}",
      "variants[0].metrics.speed: unknown figure" },
    { "{\"lathe_workspace\": 1, \"source\": \"m.gguf\", \"eval\": {\"text\": \"t\", \"ctx\": 64, "
      "\"chunks\": 0}, \"variants\": [{\"id\": \"a\", \"name\": \"n\", \"file\": \"f\"}, "
      "{\"id\": \"a\", \"name\": \"m\", \"file\": \"g\"}]}",
      "variants[1].id: used twice" },
    { "{\"lathe_workspace\": 1, \"source\": ", "workspace.json" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/bad-%u", lathe_test_tmpdir (), i);
      g_autoptr (GError) error = NULL;
      g_autoptr (LatheWorkspace) ws = NULL;
      g_mkdir_with_parents (dir, 0755);
      write_file (dir, "workspace.json", cases[i].json);
      ws = lathe_workspace_open (dir, &error);
      g_assert_null (ws);
      g_assert_nonnull (error);
      g_test_message ("%s", error->message);
      g_assert_nonnull (strstr (error->message, "workspace.json"));
      g_assert_nonnull (strstr (error->message, cases[i].expect));
    }
}

/* A workspace folder with a source file to point at. */
static LatheWorkspace *
empty_workspace (const char *name)
{
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), name, NULL);
  g_autofree char *src = g_build_filename (lathe_test_tmpdir (), "source.gguf", NULL);
  g_autoptr (GError) error = NULL;
  LatheWorkspace *ws;

  g_file_set_contents (src, "GGUF", -1, &error);
  g_assert_no_error (error);
  ws = lathe_workspace_create (dir, src, NULL, &error);
  g_assert_no_error (error);
  return ws;
}

static LatheWorkspace *
reopen (LatheWorkspace *ws)
{
  g_autoptr (GError) error = NULL;
  LatheWorkspace *back = lathe_workspace_open (lathe_workspace_get_dir (ws), &error);

  g_assert_no_error (error);
  g_assert_cmpuint (lathe_workspace_get_problems (back)->len, ==, 0);
  return back;
}

/* Every file of the folder parses as strict JSON: no inf, nan or 1e+22.0. */
static void
assert_strict_json (const char *dir)
{
  g_autoptr (GDir) it = g_dir_open (dir, 0, NULL);
  const char *name;

  while (it != NULL && (name = g_dir_read_name (it)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_autofree char *text = NULL;
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          assert_strict_json (path);
          continue;
        }
      if (!g_str_has_suffix (name, ".json"))
        continue;
      text = lathe_test_read (path, NULL);
      g_assert_null (strstr (text, "inf"));
      g_assert_null (strstr (text, "nan"));
      g_assert_null (strstr (text, "+22.0"));
      json_parser_load_from_data (parser, text, -1, &error);
      g_assert_no_error (error);
    }
}

/* Figures at the edges of a double go out as JSON numbers (or null for
 * what cannot be measured) and come back the same. */
static void
test_workspace_extreme (void)
{
  static const double values[] = { INFINITY, -INFINITY, NAN, 1e22, 1e-310, DBL_MAX, -0.0, 5e-324,
                                   0.1, 123456789012345678.0 };
  g_autoptr (LatheWorkspace) ws = empty_workspace ("extreme");
  g_autoptr (LatheWorkspace) back = NULL;
  g_autoptr (GError) error = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autofree char *id = g_strdup_printf ("v%u", i);
      g_autoptr (LatheVariant) v = lathe_variant_new (id, "bad \xff\x01 name \"x\"");
      lathe_variant_set_file (v, "/nowhere.gguf");
      lathe_variant_set_measured (v, LATHE_METRIC_PERPLEXITY, values[i]);
      lathe_variant_set_measured (v, LATHE_METRIC_DECODE_TPS, values[i]);
      lathe_workspace_add (ws, v, &error);
      g_assert_no_error (error);
    }
  assert_strict_json (lathe_workspace_get_dir (ws));
  back = reopen (ws);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (back)), ==, G_N_ELEMENTS (values));
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (lathe_workspace_get_variants (back), i);
      const double got = lathe_variant_get_metric (v, LATHE_METRIC_PERPLEXITY);
      g_assert_true (g_utf8_validate (lathe_variant_get_name (v), -1, NULL));
      if (!isfinite (values[i]))
        {
          g_assert_true (isnan (got));
          g_assert_true (lathe_variant_is_unmeasurable (v, LATHE_METRIC_PERPLEXITY));
          g_assert_nonnull (lathe_variant_get_metric_note (v, LATHE_METRIC_PERPLEXITY));
        }
      else
        g_assert_cmpfloat (got, ==, values[i]);
    }
}

/* A version 1 workspace (variants inline) opens, becomes version 2 with a
 * file per variant, and opens again the same. */
static void
test_workspace_migrate (void)
{
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "v1", NULL);
  g_autofree char *text = NULL, *vfile = NULL;
  g_autoptr (LatheWorkspace) ws = NULL, back = NULL;
  g_autoptr (LatheVariant) second = NULL;
  g_autoptr (GError) error = NULL;

  g_mkdir_with_parents (dir, 0755);
  write_file (dir, "workspace.json",
              "{\"lathe_workspace\": 1, \"source\": \"m.gguf\", \"eval\": {\"text\": \"t\", \"ctx\": 64, "
              "\"chunks\": 0}, \"variants\": [{\"id\": \"b\", \"name\": \"first\", \"file\": \"f\", "
              "\"metrics\": {\"kl_mean\": 0.5}}, {\"id\": \"a\", \"name\": \"second\", \"file\": \"g\"}]}");
  ws = lathe_workspace_open (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (ws)), ==, 2);
  {
    g_autofree char *path = g_build_filename (dir, "workspace.json", NULL);
    text = lathe_test_read (path, NULL);
  }
  g_assert_nonnull (strstr (text, "\"lathe_workspace\" : 2"));
  g_assert_null (strstr (text, "variants"));
  vfile = g_build_filename (dir, "variants", "b.json", NULL);
  g_assert_true (g_file_test (vfile, G_FILE_TEST_EXISTS));
  back = reopen (ws);
  second = g_list_model_get_item (lathe_workspace_get_variants (back), 1);
  g_assert_cmpstr (lathe_variant_get_name (second), ==, "second");
}

/* One broken variant file is said, not fatal, and left as it is; a
 * workspace.json that does not parse is never written over. */
static void
test_workspace_broken_files (void)
{
  g_autoptr (LatheWorkspace) ws = empty_workspace ("broken");
  g_autoptr (LatheWorkspace) back = NULL;
  g_autoptr (LatheVariant) v = lathe_variant_new ("good", "good");
  g_autofree char *vdir = g_build_filename (lathe_workspace_get_dir (ws), "variants", NULL);
  g_autofree char *deep = g_strnfill (100000, '[');
  g_autofree char *bad_path = g_build_filename (vdir, "bad.json", NULL);
  g_autofree char *ws_path = g_build_filename (lathe_workspace_get_dir (ws), "workspace.json", NULL);
  g_autofree char *after = NULL, *bad_after = NULL;
  g_autoptr (GError) error = NULL;
  GPtrArray *problems;
  const char *broken = "{\"lathe_workspace\": 2, \"source\": \"m.gguf\", \"eval\": {\"ctx\": inf.0}}";

  lathe_variant_set_file (v, "/nowhere.gguf");
  lathe_workspace_add (ws, v, &error);
  g_assert_no_error (error);
  write_file (vdir, "bad.json", "{\"id\": \"bad\", \"name\": \"n\", \"file\": \"f\", \"metrics\": {\"perplexity\": inf.0}}");
  write_file (vdir, "deep.json", deep);
  back = lathe_workspace_open (lathe_workspace_get_dir (ws), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (back)), ==, 1);
  problems = lathe_workspace_get_problems (back);
  g_assert_cmpuint (problems->len, ==, 2);
  for (guint i = 0; i < problems->len; i++)
    {
      g_test_message ("%s", (char *) g_ptr_array_index (problems, i));
      g_assert_nonnull (strstr (g_ptr_array_index (problems, i), "variants/"));
    }
  bad_after = lathe_test_read (bad_path, NULL);
  g_assert_nonnull (strstr (bad_after, "inf.0"));

  write_file (lathe_workspace_get_dir (ws), "workspace.json", broken);
  g_clear_object (&back);
  back = lathe_workspace_open (lathe_workspace_get_dir (ws), &error);
  g_assert_null (back);
  g_assert_nonnull (error);
  after = lathe_test_read (ws_path, NULL);
  g_assert_cmpstr (after, ==, broken);
}

/* A new variant whose id is taken gets another, and its model file
 * follows; nothing of the first is touched. */
static void
test_workspace_id_taken (void)
{
  g_autoptr (LatheWorkspace) ws = empty_workspace ("taken");
  g_autoptr (LatheWorkspace) other = reopen (ws);
  g_autoptr (LatheWorkspace) back = NULL;
  g_autoptr (LatheVariant) a = lathe_variant_new ("same", "a");
  g_autoptr (LatheVariant) b = lathe_variant_new ("same", "b");
  g_autofree char *gguf = g_build_filename (lathe_workspace_get_dir (ws), "variants", "same.gguf", NULL);
  g_autoptr (GError) error = NULL;

  lathe_variant_set_file (a, "/nowhere.gguf");
  lathe_workspace_add (ws, a, &error);
  g_assert_no_error (error);
  lathe_variant_set_file (b, "variants/same.gguf");
  g_mkdir_with_parents (lathe_workspace_get_dir (ws), 0755);
  g_file_set_contents (gguf, "model b", -1, &error);
  g_assert_no_error (error);
  lathe_workspace_add (other, b, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (lathe_variant_get_id (b), !=, "same");
  g_assert_false (g_file_test (gguf, G_FILE_TEST_EXISTS));
  {
    g_autofree char *moved = lathe_workspace_dup_file (other, b);
    g_autofree char *text = lathe_test_read (moved, NULL);
    g_assert_cmpstr (text, ==, "model b");
  }
  back = reopen (ws);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (back)), ==, 2);
}

/* Processes adding to one workspace at once lose nothing. */
static void
test_workspace_concurrent (void)
{
  enum { WRITERS = 4, EACH = 100 };
  g_autoptr (LatheWorkspace) ws = empty_workspace ("concurrent");
  g_autoptr (LatheWorkspace) back = NULL;
  pid_t pids[WRITERS];

  for (int w = 0; w < WRITERS; w++)
    {
      pids[w] = fork ();
      g_assert_cmpint (pids[w], >=, 0);
      if (pids[w] == 0)
        {
          g_autoptr (LatheWorkspace) mine = lathe_workspace_open (lathe_workspace_get_dir (ws), NULL);
          for (int i = 0; mine != NULL && i < EACH; i++)
            {
              g_autofree char *name = g_strdup_printf ("w%d-%d", w, i);
              g_autoptr (LatheVariant) v = lathe_variant_new (name, name);
              lathe_variant_set_file (v, "/nowhere.gguf");
              if (!lathe_workspace_add (mine, v, NULL))
                _exit (2);
              if (i % 10 == 0 && !lathe_workspace_save (mine, NULL))
                _exit (3);
            }
          _exit (mine != NULL ? 0 : 1);
        }
    }
  for (int w = 0; w < WRITERS; w++)
    {
      int status = 0;
      g_assert_cmpint (waitpid (pids[w], &status, 0), ==, pids[w]);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }
  back = reopen (ws);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (back)), ==, WRITERS * EACH);
}

typedef struct
{
  char *model, *text;
} Data;

static gboolean
data_init (Data *d)
{
  d->model = lathe_test_shared ("models/stories260K.gguf");
  d->text = d->model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  return d->text != NULL;
}

static void
data_clear (Data *d)
{
  g_free (d->model);
  g_free (d->text);
}

static LatheWorkspace *
new_workspace (const Data *d, const char *name)
{
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), name, NULL);
  g_autoptr (GError) error = NULL;
  LatheWorkspace *ws = lathe_workspace_create (dir, d->model, d->text, &error);

  g_assert_no_error (error);
  g_assert_true (lathe_workspace_set_eval (ws, 64, 6, NULL));
  return ws;
}

static LatheModel *
load (const char *path)
{
  g_autoptr (GError) error = NULL;
  LatheModel *m = lathe_model_load (path, NULL, NULL, &error);

  g_assert_no_error (error);
  return m;
}

static LatheVariant *
measure (LatheWorkspace *ws, LatheModel *source, const char *recipe, gboolean speed)
{
  g_autoptr (GError) error = NULL;
  LatheMeasureOptions o;
  LatheVariant *v;

  lathe_measure_options_init (&o);
  o.skip_speed = !speed;
  o.bench.n_prompt = 16;
  o.bench.n_gen = 16;
  o.bench.reps = 1;
  v = lathe_workspace_measure (ws, source, recipe, &o, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (lathe_workspace_add (ws, v, &error));
  g_assert_no_error (error);
  return v;
}

static void
test_measure (void)
{
  Data d;
  g_autoptr (LatheWorkspace) ws = NULL, again = NULL;
  g_autoptr (LatheModel) source = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *csv = NULL, *q8_path = NULL;
  LatheVariant *orig, *q8, *q4;

  if (!data_init (&d))
    return;
  ws = new_workspace (&d, "measure");
  source = load (d.model);
  {
    /* A big caller (the workbench) must not inflate the runner's peak:
     * Linux carries getrusage's peak across exec. */
    const gsize big = 96 << 20;
    g_autofree char *ballast = g_malloc (big);
    for (gsize i = 0; i < big; i += 4096)
      ballast[i] = (char) i;
    orig = measure (ws, source, NULL, TRUE);
    g_assert_cmpint (ballast[4096], ==, (char) 4096);
  }
  q8 = measure (ws, source, "{\"lathe_recipe\": 1, \"name\": \"q8\", \"quantize\": {\"type\": \"Q8_0\"}}", FALSE);
  q4 = measure (ws, source, "{\"lathe_recipe\": 1, \"name\": \"q4\", \"quantize\": {\"type\": \"Q4_0\"}}", FALSE);
  g_assert_true (lathe_variant_is_original (orig));
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_KL_MEAN), <, 1e-9);
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_TOP1), ==, 1.0);
  g_assert_cmpfloat_with_epsilon (lathe_variant_get_metric (orig, LATHE_METRIC_FILE_MB), 1.185376, 1e-6);
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_BPW), ==, 32.0);
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_LAYERS_MEAN), ==, 5.0);
  /* The speed comes from lathe-run in its own process. */
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_DECODE_TPS), >, 0);
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_PREFILL_TPS), >, 0);
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_PEAK_MEMORY_MB), >, 1.0);
  g_assert_cmpfloat (lathe_variant_get_metric (orig, LATHE_METRIC_PEAK_MEMORY_MB), <, 48.0);
  g_assert_true (isnan (lathe_variant_get_metric (q8, LATHE_METRIC_DECODE_TPS)));
  /* Smaller files lose more. */
  g_assert_cmpfloat (lathe_variant_get_metric (q8, LATHE_METRIC_FILE_MB), <,
                     lathe_variant_get_metric (orig, LATHE_METRIC_FILE_MB));
  g_assert_cmpfloat (lathe_variant_get_metric (q4, LATHE_METRIC_FILE_MB), <,
                     lathe_variant_get_metric (q8, LATHE_METRIC_FILE_MB));
  g_assert_cmpfloat (lathe_variant_get_metric (q8, LATHE_METRIC_KL_MEAN), >, 0);
  g_assert_cmpfloat (lathe_variant_get_metric (q4, LATHE_METRIC_KL_MEAN), >,
                     lathe_variant_get_metric (q8, LATHE_METRIC_KL_MEAN));
  g_assert_cmpfloat (lathe_variant_get_metric (q4, LATHE_METRIC_TOP1), <,
                     lathe_variant_get_metric (q8, LATHE_METRIC_TOP1));
  /* The variant file carries its recipe. */
  q8_path = lathe_workspace_dup_file (ws, q8);
  {
    g_autoptr (LatheModel) m = load (q8_path);
    g_assert_nonnull (strstr (lathe_model_get_recipe (m), "Q8_0"));
  }

  /* Reopened, the same. */
  again = lathe_workspace_open (lathe_workspace_get_dir (ws), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (again)), ==, 3);
  g_assert_cmpint (lathe_workspace_get_eval_ctx (again), ==, 64);
  g_assert_cmpint (lathe_workspace_get_eval_chunks (again), ==, 6);
  g_assert_cmpfloat (lathe_variant_get_metric (lathe_workspace_find (again, "q4"), LATHE_METRIC_KL_MEAN), ==,
                     lathe_variant_get_metric (q4, LATHE_METRIC_KL_MEAN));
  csv = lathe_workspace_to_csv (again);
  g_assert_true (g_str_has_prefix (csv, "id,name,device,file,file_mb,"));
  {
    g_auto (GStrv) lines = g_strsplit (csv, "\n", -1);
    g_assert_cmpint (g_strv_length (lines), ==, 5); /* header, 3 rows, "" */
  }

  /* Removing deletes the variant's own file, never the source. */
  g_assert_true (lathe_workspace_remove (ws, q8, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (q8_path, G_FILE_TEST_EXISTS));
  g_assert_true (lathe_workspace_remove (ws, orig, &error));
  g_assert_true (g_file_test (d.model, G_FILE_TEST_EXISTS));
  g_clear_object (&again);
  again = lathe_workspace_open (lathe_workspace_get_dir (ws), &error);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (again)), ==, 1);
  g_assert_true (lathe_workspace_create (lathe_workspace_get_dir (ws), d.model, d.text, &error) == NULL);
  g_assert_error (error, LATHE_ERROR, LATHE_ERROR_INVALID);
  data_clear (&d);
}

static int
count_files (const char *dir)
{
  g_autoptr (GDir) it = g_dir_open (dir, 0, NULL);
  int n = 0;

  while (it != NULL && g_dir_read_name (it) != NULL)
    n++;
  return n;
}

static void
cancel_progress_cb (gpointer user, double fraction, const char *stage)
{
  /* Cancel once the recipe is being applied. */
  if (fraction > 0.2)
    g_cancellable_cancel (user);
}

static void
test_measure_errors (void)
{
  Data d;
  g_autoptr (LatheWorkspace) ws = NULL;
  g_autoptr (LatheModel) source = NULL;
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *variants = NULL;
  LatheVariant *v;

  if (!data_init (&d))
    return;
  ws = new_workspace (&d, "errors");
  source = load (d.model);
  variants = g_build_filename (lathe_workspace_get_dir (ws), "variants", NULL);
  /* A bad recipe: its error, nothing written. */
  v = lathe_workspace_measure (ws, source, "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q9\"}}", NULL,
                               NULL, NULL, NULL, &error);
  g_assert_null (v);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "quantize.type"));
  g_clear_error (&error);
  g_assert_cmpint (count_files (variants), ==, 0);
  /* Cancelled while it runs: no file left. */
  v = lathe_workspace_measure (ws, source,
                               "{\"lathe_recipe\": 1, \"prune\": [{\"method\": \"magnitude\", \"sparsity\": 0.5}]}",
                               NULL, cancel_progress_cb, cancel, cancel, &error);
  g_assert_null (v);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (count_files (variants), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (ws)), ==, 0);
  data_clear (&d);
}

static void
test_sweep_recipes (void)
{
  const char *types[] = { "Q8_0", "Q4_0", NULL };
  const double sparsity[] = { 0, 0.5 };
  const double exits[] = { 1, 0.9 };
  g_autoptr (GPtrArray) all = lathe_sweep_recipes (types, sparsity, 2, exits, 2, 2, NULL);
  g_autoptr (GPtrArray) none = lathe_sweep_recipes (NULL, sparsity, 1, exits, 1, 0, NULL);
  g_autoptr (GPtrArray) prune_only = lathe_sweep_recipes (NULL, sparsity, 2, NULL, 0, 0, NULL);

  g_assert_cmpuint (all->len, ==, 8);
  g_assert_cmpuint (none->len, ==, 0); /* nothing to change: the original */
  g_assert_cmpuint (prune_only->len, ==, 1);
  for (guint i = 0; i < all->len; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (LatheRecipe) r = lathe_recipe_parse (g_ptr_array_index (all, i), -1, "sweep", &error);
      g_assert_no_error (error);
      g_test_message ("%s", lathe_recipe_get_name (r));
    }
  g_assert_nonnull (strstr (g_ptr_array_index (all, 7), "\"Q4_0 · 50 % sparse · exit at 0.9\""));
  {
    /* The grid types calibrate on the text given, the others do not; without
     * a text the grid type's recipe is refused. */
    const char *grid[] = { "IQ2_XS", "Q4_0", NULL };
    g_autoptr (GPtrArray) with = lathe_sweep_recipes (grid, NULL, 0, NULL, 0, 0, "eval.txt");
    g_autoptr (GPtrArray) without = lathe_sweep_recipes (grid, NULL, 0, NULL, 0, 0, NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (LatheRecipe) r = lathe_recipe_parse (g_ptr_array_index (with, 0), -1, "sweep", &error);
    g_assert_no_error (error);
    g_assert_nonnull (strstr (g_ptr_array_index (with, 0), "\"calibration\":{\"text\":\"eval.txt\"}"));
    g_assert_null (strstr (g_ptr_array_index (with, 1), "calibration"));
    g_assert_null (lathe_recipe_parse (g_ptr_array_index (without, 0), -1, "sweep", &error));
    g_assert_nonnull (strstr (error->message, "IQ2_XS is written with an importance matrix"));
  }
}

typedef struct
{
  GMainLoop *loop;
  LatheWorkspace *ws;
  int added, result, progress_calls, max_done;
  GError *error;
} AsyncRun;

static void
sweep_progress_cb (gpointer user, int done, int total, double fraction, const char *stage)
{
  AsyncRun *a = user;

  g_assert_cmpint (total, ==, 3);
  g_assert_cmpint (done, >=, a->max_done);
  g_assert_true (fraction >= 0 && fraction <= 1);
  a->max_done = done;
  a->progress_calls++;
}

static void
items_changed_cb (GListModel *list, guint pos, guint removed, guint added, AsyncRun *a)
{
  /* Points arrive one by one, in the main context, while the run goes on. */
  a->added += (int) added;
}

static void
sweep_done_cb (GObject *source, GAsyncResult *result, gpointer user)
{
  AsyncRun *a = user;

  a->result = lathe_workspace_measure_finish (LATHE_WORKSPACE (source), result, &a->error);
  g_main_loop_quit (a->loop);
}

static void
test_measure_async (void)
{
  Data d;
  g_autoptr (LatheWorkspace) ws = NULL;
  g_autoptr (LatheModel) source = NULL;
  g_autoptr (GPtrArray) recipes = g_ptr_array_new_with_free_func (g_free);
  const char *types[] = { "Q8_0", "Q5_0", NULL };
  g_autoptr (GPtrArray) grid = lathe_sweep_recipes (types, NULL, 0, NULL, 0, 0, NULL);
  AsyncRun a = { g_main_loop_new (NULL, FALSE), NULL, 0, 0, 0, 0, NULL };
  LatheMeasureOptions o;

  if (!data_init (&d))
    return;
  ws = new_workspace (&d, "async");
  source = load (d.model);
  g_ptr_array_add (recipes, NULL);
  for (guint i = 0; i < grid->len; i++)
    g_ptr_array_add (recipes, g_strdup (g_ptr_array_index (grid, i)));
  lathe_measure_options_init (&o);
  o.skip_speed = TRUE;
  g_signal_connect (lathe_workspace_get_variants (ws), "items-changed", G_CALLBACK (items_changed_cb), &a);
  lathe_workspace_measure_async (ws, source, recipes, &o, sweep_progress_cb, &a, NULL, sweep_done_cb, &a);
  g_main_loop_run (a.loop);
  g_assert_no_error (a.error);
  g_assert_cmpint (a.result, ==, 3);
  g_assert_cmpint (a.added, ==, 3);
  g_assert_cmpint (a.progress_calls, >, 3);
  g_assert_nonnull (lathe_workspace_find (ws, "Q5_0"));
  g_main_loop_unref (a.loop);
  data_clear (&d);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pareto/brute-force", test_pareto_brute_force);
  g_test_add_func ("/pareto/example", test_pareto_example);
  g_test_add_func ("/variant/metrics", test_metrics);
  g_test_add_func ("/variant/json", test_variant_json);
  g_test_add_func ("/workspace/errors", test_workspace_errors);
  g_test_add_func ("/workspace/extreme-values", test_workspace_extreme);
  g_test_add_func ("/workspace/migrate-v1", test_workspace_migrate);
  g_test_add_func ("/workspace/broken-files", test_workspace_broken_files);
  g_test_add_func ("/workspace/id-taken", test_workspace_id_taken);
  g_test_add_func ("/workspace/concurrent", test_workspace_concurrent);
  g_test_add_func ("/workspace/measure", test_measure);
  g_test_add_func ("/workspace/measure-errors", test_measure_errors);
  g_test_add_func ("/workspace/sweep-recipes", test_sweep_recipes);
  g_test_add_func ("/workspace/measure-async", test_measure_async);
  return g_test_run ();
}
