/* SPDX-License-Identifier: MIT */
/* lathe-cli on inputs an attacker or an unlucky user gives it: every one a
 * clear error (naming the file and what is wrong) with a non-zero exit, or
 * a result that is right; never a crash, never silent garbage. And two
 * sweeps into one workspace at once lose nothing. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "cli-run.h"
#include "lathe-test.h"

static char *
write_tmp (const char *name, const char *text)
{
  char *path = g_build_filename (lathe_test_tmpdir (), name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  return path;
}

/* A llama2.c checkpoint alone in a folder, its tokenizer not beside it. */
static char *
lone_checkpoint (void)
{
  g_autofree char *bin = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "lone", NULL);
  g_autofree char *data = NULL;
  char *path;
  gsize len = 0;

  if (bin == NULL)
    return NULL;
  g_mkdir_with_parents (dir, 0755);
  path = g_build_filename (dir, "model.bin", NULL);
  g_assert_true (g_file_get_contents (bin, &data, &len, NULL));
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  return path;
}

typedef struct
{
  const char *what;
  const char *args[16]; /* @MODEL, @BIN, @TEXT, @DEEP, @SENS, @RECIPE, @OUT are replaced */
  int status;
  const char *expect; /* in stderr (or its output when status is 0) */
} Case;

static const char *
subst (const char *arg, GHashTable *vars)
{
  const char *v = arg[0] == '@' ? g_hash_table_lookup (vars, arg) : NULL;

  return v != NULL ? v : arg;
}

static void
test_table (void)
{
  static const Case cases[] = {
    { "a structural step, then a type some rows fall back from",
      { "apply", "@MODEL", "@RECIPE", "-o", "@OUT", NULL }, 0, "ffn_down.weight do not fit Q4_0 blocks; used F16" },
    { "a sensitivity table naming a type Lathe cannot write",
      { "quantize", "@MODEL", "@OUT", "Q4_0", "--target-bpw", "4.5", "--sensitivity", "@SENS", NULL }, 1,
      "Q8_K" },
    { "a recipe nested 100 000 deep", { "apply", "@MODEL", "@DEEP", "-o", "@OUT", NULL }, 2,
      "nested deeper" },
    { "a sensitivity table nested 100 000 deep",
      { "quantize", "@MODEL", "@OUT", "Q4_0", "--target-bpw", "4.5", "--sensitivity", "@DEEP", NULL }, 1,
      "nested deeper" },
    { "an evaluation text that never ends", { "eval", "-m", "@MODEL", "-f", "/dev/zero", NULL }, 1,
      "/dev/zero: longer than" },
    { "a calibration text that never ends", { "calibrate", "@MODEL", "-f", "/dev/zero", "-o", "@OUT", NULL }, 1,
      "/dev/zero: longer than" },
    { "eval without a tokenizer", { "eval", "-m", "@BIN", "-f", "@TEXT", NULL }, 1, "has no tokenizer" },
    { "calibrate without a tokenizer", { "calibrate", "@BIN", "-f", "@TEXT", "-o", "@OUT", NULL }, 1,
      "has no tokenizer" },
    { "speculative generation without a tokenizer",
      { "generate", "-m", "@BIN", "-p", "hi", "--speculative", "2", "--draft-skip-layers", "1", "--temp", "0",
        NULL },
      1, "no tokenizer" },
    { "logit lens without a tokenizer", { "logit-lens", "-m", "@BIN", "-f", "@TEXT", NULL }, 1, "has no tokenizer" },
    { "a type the sensitivity measure cannot write", { "sensitivity", "@MODEL", "-f", "@TEXT", "--types",
      "Q8_K", "-o", "@OUT", NULL }, 2, "Q8_K" },
  };
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autofree char *bin = text ? lone_checkpoint () : NULL;
  g_autofree char *deep_text = g_strnfill (100000, '[');
  g_autofree char *deep = write_tmp ("deep.json", deep_text);
  g_autofree char *recipe = write_tmp ("r.json", "{\"lathe_recipe\":1,\"prune\":[{\"method\":\"layers\",\"drop\":[1]}],"
                                                 "\"quantize\":{\"type\":\"Q4_0\"}}");
  g_autofree char *sens = NULL, *out = g_build_filename (lathe_test_tmpdir (), "out.gguf", NULL);
  g_autoptr (GHashTable) vars = g_hash_table_new (g_str_hash, g_str_equal);

  if (bin == NULL)
    return;
  /* A real table of the model, one candidate's type changed to Q8_K (the activations' type: named, not written). */
  {
    g_autofree char *good = g_build_filename (lathe_test_tmpdir (), "sens.json", NULL);
    g_auto (Run) r = { 0 };
    g_autofree char *table = NULL;
    g_autoptr (GRegex) re = g_regex_new ("\"used_type\" : \"Q4_0\"", 0, 0, NULL);
    run (&r, "LATHE_CLI", "sensitivity", model, "-f", text, "--ctx", "64", "--chunks", "2", "--types", "Q8_0,Q4_0",
         "-o", good, "-q", NULL);
    g_assert_cmpint (r.status, ==, 0);
    table = lathe_test_read (good, NULL);
    g_assert_nonnull (strstr (table, "\"used_type\" : \"Q4_0\""));
    {
      g_autofree char *changed = g_regex_replace_literal (re, table, -1, 0, "\"used_type\" : \"Q8_K\"", 0, NULL);
      sens = write_tmp ("sens-bad.json", changed);
    }
  }
  g_hash_table_insert (vars, "@MODEL", model);
  g_hash_table_insert (vars, "@BIN", bin);
  g_hash_table_insert (vars, "@TEXT", text);
  g_hash_table_insert (vars, "@DEEP", deep);
  g_hash_table_insert (vars, "@SENS", sens);
  g_hash_table_insert (vars, "@RECIPE", recipe);
  g_hash_table_insert (vars, "@OUT", out);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *args[16] = { NULL };
      g_auto (Run) r = { 0 };
      for (guint k = 0; cases[i].args[k] != NULL; k++)
        args[k] = subst (cases[i].args[k], vars);
      g_unlink (out);
      run_argv (&r, "LATHE_CLI", args);
      g_test_message ("%s: exit %d: %s", cases[i].what, r.status, r.status ? r.err : "");
      g_assert_cmpint (r.status, ==, cases[i].status);
      {
        g_autofree char *both = g_strconcat (r.out, r.err, NULL);
        g_assert_nonnull (strstr (cases[i].status ? r.err : both, cases[i].expect));
      }
      /* A failure leaves no output behind. */
      if (cases[i].status != 0)
        g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
    }
}

typedef struct
{
  const char *const *args;
  Run r;
} Sweep;

static gpointer
sweep_thread (gpointer data)
{
  Sweep *s = data;

  run_argv (&s->r, "LATHE_CLI", s->args);
  return NULL;
}

/* Two sweeps into one workspace at the same time: both exit 0 and the
 * workspace holds every variant of both, each with its model file. */
static void
test_concurrent_sweeps (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autofree char *ws = g_build_filename (lathe_test_tmpdir (), "both", NULL);
  g_auto (Run) first = { 0 }, json = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  const char *a[] = { "sweep", ws, "--types", "Q4_0,Q5_0,Q4_1", "--no-speed", "-q", NULL };
  const char *b[] = { "sweep", ws, "--types", "Q8_0,Q5_1", "--sparsity", "0.3", "--no-speed", "-q", NULL };
  Sweep sa = { a, { 0 } }, sb = { b, { 0 } };
  GThread *ta, *tb;
  JsonArray *variants;

  if (text == NULL)
    return;
  run (&first, "LATHE_CLI", "sweep", ws, "-m", model, "-f", text, "--types", "Q6_K", "--ctx", "64", "--chunks", "2",
       "--no-speed", "-q", NULL);
  g_assert_cmpint (first.status, ==, 0);
  ta = g_thread_new ("a", sweep_thread, &sa);
  tb = g_thread_new ("b", sweep_thread, &sb);
  g_thread_join (ta);
  g_thread_join (tb);
  g_test_message ("a: %s\nb: %s", sa.r.err, sb.r.err);
  g_assert_cmpint (sa.r.status, ==, 0);
  g_assert_cmpint (sb.r.status, ==, 0);
  run (&json, "LATHE_CLI", "workspace", ws, "--json", NULL);
  g_assert_cmpint (json.status, ==, 0);
  g_assert_true (json_parser_load_from_data (parser, json.out, -1, NULL));
  variants = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "variants");
  /* The original, Q6_K, three of a, two of b. */
  g_assert_cmpuint (json_array_get_length (variants), ==, 7);
  for (guint i = 0; i < json_array_get_length (variants); i++)
    {
      JsonObject *v = json_array_get_object_element (variants, i);
      const char *file = json_object_get_string_member (v, "file");
      g_autofree char *path = g_path_is_absolute (file) ? g_strdup (file) : g_build_filename (ws, file, NULL);
      g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    }
  run_clear (&sa.r);
  run_clear (&sb.r);
}

/* A figure that overflowed is shown as "—" with why, and the workspace
 * opens; a variant file that is not JSON is said and left as it is. */
static void
test_unmeasurable_figures (void)
{
  g_autofree char *ws = g_build_filename (lathe_test_tmpdir (), "odd", NULL);
  g_autofree char *vdir = g_build_filename (ws, "variants", NULL);
  g_autofree char *src = write_tmp ("src.gguf", "GGUF");
  g_autofree char *settings = g_strdup_printf ("{\"lathe_workspace\": 2, \"source\": \"%s\", \"eval\": {\"text\": \"\", "
                                               "\"ctx\": 64, \"chunks\": 0}}",
                                               src);
  g_auto (Run) table = { 0 };
  g_autofree char *path = NULL;

  g_mkdir_with_parents (vdir, 0755);
  path = g_build_filename (ws, "workspace.json", NULL);
  g_assert_true (g_file_set_contents (path, settings, -1, NULL));
  g_free (path);
  path = g_build_filename (vdir, "a.json", NULL);
  g_assert_true (g_file_set_contents (path, "{\"id\": \"a\", \"name\": \"scaled head\", \"file\": \"/x.gguf\", "
                                            "\"metrics\": {\"perplexity\": null, \"kl_mean\": 12.5}}",
                                      -1, NULL));
  g_free (path);
  path = g_build_filename (vdir, "b.json", NULL);
  g_assert_true (g_file_set_contents (path, "{\"id\": \"b\", \"metrics\": {\"perplexity\": inf.0}}", -1, NULL));
  run (&table, "LATHE_CLI", "workspace", ws, NULL);
  g_test_message ("%s%s", table.out, table.err);
  g_assert_cmpint (table.status, ==, 0);
  g_assert_nonnull (strstr (table.out, "scaled head"));
  g_assert_nonnull (strstr (table.out, "—!"));
  g_assert_nonnull (strstr (table.out, "not a finite number"));
  g_assert_nonnull (strstr (table.err, "variants/b.json"));
  {
    g_autofree char *left = lathe_test_read (path, NULL);
    g_assert_nonnull (strstr (left, "inf.0"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/hostile/table", test_table);
  g_test_add_func ("/cli/hostile/concurrent-sweeps", test_concurrent_sweeps);
  g_test_add_func ("/cli/hostile/unmeasurable", test_unmeasurable_figures);
  return g_test_run ();
}
