/* SPDX-License-Identifier: MIT */
/* lathe-cli and lathe-run as a user runs them: output, exit codes, files. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

#include "cli-run.h"
#include "lathe-test-hf.h"
#include "lathe-test.h"
#include "sshd-fixture.h"

static void
test_inspect_json (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.bin");
  g_auto (Run) r = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;
  JsonObject *o, *t;
  JsonArray *tensors;

  if (model == NULL)
    return;
  run (&r, "LATHE_CLI", "inspect", "--json", model, NULL);
  g_assert_cmpint (r.status, ==, 0);
  json_parser_load_from_data (parser, r.out, -1, &error);
  g_assert_no_error (error);
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (o, "arch"), ==, "llama");
  g_assert_cmpint (json_object_get_int_member (o, "n_params"), ==, 260032);
  g_assert_cmpint (json_object_get_int_member (o, "file_bytes"), ==, 1056540);
  g_assert_cmpfloat (json_object_get_double_member (o, "bpw"), ==, 32.0);
  tensors = json_object_get_array_member (o, "tensors");
  g_assert_cmpuint (json_array_get_length (tensors), ==, 47);
  t = json_array_get_object_element (tensors, 0);
  g_assert_cmpstr (json_object_get_string_member (t, "name"), ==, "token_embd.weight");
  g_assert_cmpstr (json_object_get_string_member (t, "type"), ==, "F32");
  g_assert_cmpint (json_array_get_int_element (json_object_get_array_member (t, "shape"), 1), ==,
                   512);
  g_assert_cmpint (json_object_get_int_member (t, "bytes"), ==, 131072);
}

static void
test_inspect_text (void)
{
  g_autofree char *model = lathe_test_shared ("interop/tiny-Q4_K_M.gguf");
  g_auto (Run) r = { 0 };

  if (model == NULL)
    return;
  run (&r, "LATHE_CLI", "inspect", model, NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "Q4_K"));
  g_assert_nonnull (strstr (r.out, "blk.1.ffn_down.weight"));
  g_assert_nonnull (strstr (r.out, "SentencePiece"));
  g_assert_nonnull (strstr (r.out, "4.519"));
}

/* The architectures beyond llama, as a user meets them: what inspect says
 * about their blocks, structural pruning that keeps their norms right, a
 * drop refused where a layer's kind hangs on its position, and a
 * K-quant of each that generates. */
static void
test_architectures (void)
{
  g_autofree char *olmo2 = lathe_test_shared ("archs/olmo2.gguf");
  g_autofree char *gemma2 = lathe_test_shared ("archs/gemma2.gguf");
  g_autofree char *pruned = g_build_filename (lathe_test_tmpdir (), "olmo2-heads.gguf", NULL);
  g_autofree char *dropped = g_build_filename (lathe_test_tmpdir (), "gemma2-drop.gguf", NULL);
  const char *const others[] = { "qwen3", "gemma3", "granite", "stablelm", "smollm3", "ernie4_5" };

  if (olmo2 == NULL || gemma2 == NULL)
    return;
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "inspect", gemma2, NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, "GELU-gated FFN, norms before and after attention and FFN, sliding window of 16 "
                                     "on layers 0, attention soft-capped at 50, logits soft-capped at 30, embeddings ×16"));
  }
  /* olmo2 normalises q and k over all heads: removing heads cuts those norms too. */
  {
    g_auto (Run) r = { 0 };
    g_auto (Run) i = { 0 };
    run (&r, "LATHE_CLI", "prune", "-q", "--heads", "4", olmo2, pruned, NULL);
    g_assert_cmpint (r.status, ==, 0);
    run (&i, "LATHE_CLI", "inspect", pruned, NULL);
    g_assert_cmpint (i.status, ==, 0);
    g_assert_nonnull (strstr (i.out, "4 (4 KV), head size 32"));
    g_assert_true (g_regex_match_simple ("blk.1.attn_q_norm.weight +F32 +128 ", i.out, 0, 0));
    g_assert_true (g_regex_match_simple ("blk.1.attn_k_norm.weight +F32 +128 ", i.out, 0, 0));
  }
  /* gemma2 slides on even layers: dropping layer 0 would turn layer 1 into a sliding one. */
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "prune", "-q", "--drop-layers", "0", gemma2, dropped, NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "block 1 would become block 0, where gemma2 gives a block a sliding window"));
    g_assert_false (g_file_test (dropped, G_FILE_TEST_EXISTS));
  }
  for (gsize k = 0; k < G_N_ELEMENTS (others); k++)
    {
      g_autofree char *rel = g_strdup_printf ("archs/%s.gguf", others[k]);
      g_autofree char *src = lathe_test_shared (rel);
      g_autofree char *q = g_build_filename (lathe_test_tmpdir (), "arch-q4km.gguf", NULL);
      g_auto (Run) r = { 0 };
      g_auto (Run) g = { 0 };
      run (&r, "LATHE_CLI", "quantize", "-q", src, q, "Q4_K_M", NULL);
      g_assert_cmpint (r.status, ==, 0);
      run (&g, "LATHE_CLI", "generate", "-m", q, "-p", "Once upon a time", "-n", "8", "--temp", "0", NULL);
      g_assert_cmpint (g.status, ==, 0);
      g_assert_true (g_str_has_prefix (g.out, "Once upon a time"));
      g_assert_cmpuint (strlen (g.out), >, strlen ("Once upon a time"));
    }
}

/* bench -d: each depth of a list is one run, from that many tokens in the
 * cache; JSON gives an array of them. Both the CLI and the runner. */
static void
test_bench_depth (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  const char *const tools[] = { "LATHE_CLI", "LATHE_RUN" };

  if (model == NULL)
    return;
  for (gsize k = 0; k < G_N_ELEMENTS (tools); k++)
    {
      g_auto (Run) r = { 0 };
      g_auto (Run) bad = { 0 };
      g_autoptr (JsonParser) parser = json_parser_new ();
      g_autoptr (GError) error = NULL;
      JsonArray *rows;
      run (&r, tools[k], "bench", "-m", model, "-p", "8", "-n", "8", "-r", "1", "-t", "1", "--no-bandwidth",
           "-d", "0,100", "--json", NULL);
      g_assert_cmpint (r.status, ==, 0);
      json_parser_load_from_data (parser, r.out, -1, &error);
      g_assert_no_error (error);
      g_assert_true (JSON_NODE_HOLDS_ARRAY (json_parser_get_root (parser)));
      rows = json_node_get_array (json_parser_get_root (parser));
      g_assert_cmpuint (json_array_get_length (rows), ==, 2);
      g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (rows, 0), "n_depth"), ==, 0);
      g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (rows, 1), "n_depth"), ==, 100);
      /* 100 more positions of KV cache read per generated token. */
      g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (rows, 1), "bytes_per_token"), >,
                       json_object_get_int_member (json_array_get_object_element (rows, 0), "bytes_per_token"));
      g_assert_cmpfloat (json_object_get_double_member (
                           json_object_get_object_member (json_array_get_object_element (rows, 1), "decode_tps"), "mean"),
                         >, 0.0);
      run (&bad, tools[k], "bench", "-m", model, "-d", "5,x", NULL);
      g_assert_cmpint (bad.status, ==, 2);
      g_assert_nonnull (strstr (bad.err, "0,512,2048"));
    }
}

static void
test_generate (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *tok = lathe_test_shared ("models/tok512.bin");
  g_autofree char *ref = lathe_test_reference_text ();
  g_auto (Run) a = { 0 };
  g_auto (Run) b = { 0 };

  if (model == NULL || tok == NULL || ref == NULL)
    return;
  run (&a, "LATHE_CLI", "generate", "-m", model, "-z", tok, "-p", "Once upon a time", "-n", "200",
       "--temp", "0", NULL);
  g_assert_cmpint (a.status, ==, 0);
  /* stdout is exactly the prompt and the text; timings go to stderr. */
  g_assert_true (g_str_has_prefix (a.out, ref));
  g_assert_nonnull (strstr (a.err, "tok/s"));
  g_assert_null (strstr (a.out, "tok/s"));
  /* lathe-run, the engine alone, writes the same text. */
  run (&b, "LATHE_RUN", "generate", "-m", model, "-z", tok, "-p", "Once upon a time", "-n", "200",
       "--temp", "0", NULL);
  g_assert_cmpint (b.status, ==, 0);
  g_assert_cmpstr (a.out, ==, b.out);
}

static void
test_generate_sampling (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_auto (Run) a = { 0 };
  g_auto (Run) b = { 0 };
  g_auto (Run) c = { 0 };

  if (model == NULL)
    return;
  run (&a, "LATHE_CLI", "generate", "-m", model, "-p", "Lily", "-n", "40", "--temp", "0.9",
       "--top-k", "20", "--top-p", "0.9", "--seed", "5", NULL);
  run (&b, "LATHE_CLI", "generate", "-m", model, "-p", "Lily", "-n", "40", "--temp", "0.9",
       "--top-k", "20", "--top-p", "0.9", "--seed", "5", NULL);
  run (&c, "LATHE_RUN", "generate", "-m", model, "-p", "Lily", "-n", "40", "--temp", "0.9",
       "--top-k", "20", "--top-p", "0.9", "--seed", "5", NULL);
  g_assert_cmpint (a.status, ==, 0);
  g_assert_cmpstr (a.out, ==, b.out);
  g_assert_cmpstr (a.out, ==, c.out);
  g_assert_true (g_str_has_prefix (a.out, "Lily"));
}

static void
test_tokenize (void)
{
  g_autofree char *vocab = lathe_test_shared ("vocab/ggml-vocab-gpt-2.gguf");
  g_auto (Run) r = { 0 };

  if (vocab == NULL)
    return;
  run (&r, "LATHE_CLI", "tokenize", "-m", vocab, " Hello World!", NULL);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_cmpstr (r.out, ==, "18435 2159 0\n");
}

static void
test_convert (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *tok = lathe_test_shared ("models/tok512.bin");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "cli-converted.gguf", NULL);
  g_auto (Run) c = { 0 };
  g_auto (Run) a = { 0 };
  g_auto (Run) b = { 0 };

  if (model == NULL || tok == NULL)
    return;
  run (&c, "LATHE_CLI", "convert", model, "-z", tok, "-o", out, NULL);
  g_assert_cmpint (c.status, ==, 0);
  run (&a, "LATHE_CLI", "generate", "-m", model, "-p", "The dog", "-n", "50", "--temp", "0", NULL);
  run (&b, "LATHE_CLI", "generate", "-m", out, "-p", "The dog", "-n", "50", "--temp", "0", NULL);
  g_assert_cmpint (b.status, ==, 0);
  g_assert_cmpstr (a.out, ==, b.out);
}

static void
test_synth (void)
{
  g_autofree char *vocab = lathe_test_shared ("vocab/ggml-vocab-gpt-2.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "synth-qwen2.gguf", NULL);
  g_auto (Run) s = { 0 };
  g_auto (Run) i = { 0 };
  g_auto (Run) g = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonObject *o, *hp;

  if (vocab == NULL)
    return;
  run (&s, "LATHE_CLI", "synth", "--arch", "qwen2", "--dim", "64", "--layers", "2", "--heads",
       "4", "--kv-heads", "2", "--ffn", "96", "--vocab-from", vocab, "--type", "F16", "--tied",
       "-o", out, NULL);
  g_assert_cmpint (s.status, ==, 0);
  run (&i, "LATHE_CLI", "inspect", "--json", out, NULL);
  g_assert_cmpint (i.status, ==, 0);
  g_assert_true (json_parser_load_from_data (parser, i.out, -1, NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  hp = json_object_get_object_member (o, "hparams");
  g_assert_cmpstr (json_object_get_string_member (o, "arch"), ==, "qwen2");
  g_assert_cmpint (json_object_get_int_member (hp, "n_head_kv"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (hp, "n_vocab"), ==, 50257);
  g_assert_true (json_object_get_boolean_member (hp, "tied_output"));
  g_assert_cmpstr (json_object_get_string_member (hp, "rope_type"), ==, "neox");
  run (&g, "LATHE_CLI", "generate", "-m", out, "-p", "Hello", "-n", "8", "--temp", "0", NULL);
  g_assert_cmpint (g.status, ==, 0);
  g_assert_true (g_str_has_prefix (g.out, "Hello"));
}

/* Bad input: a clear message naming the file, a non-zero exit, nothing left
 * behind. */
static void
test_errors (void)
{
  g_autofree char *bad = g_build_filename (lathe_test_tmpdir (), "notamodel.gguf", NULL);
  g_autofree char *model = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "out", NULL);
  g_autofree char *target = g_build_filename (dir, "x.gguf", NULL);
  g_auto (Run) a = { 0 };
  g_auto (Run) b = { 0 };
  g_auto (Run) c = { 0 };
  g_auto (Run) d = { 0 };
  g_auto (Run) e = { 0 };
  g_auto (Run) f = { 0 };

  run (&a, "LATHE_CLI", "inspect", "/no/such/file.gguf", NULL);
  g_assert_cmpint (a.status, ==, 1);
  g_assert_nonnull (strstr (a.err, "/no/such/file.gguf"));
  g_file_set_contents (bad, "this is not a model at all, just text", -1, NULL);
  run (&b, "LATHE_CLI", "inspect", bad, NULL);
  g_assert_cmpint (b.status, ==, 1);
  g_assert_nonnull (strstr (b.err, bad));
  run (&c, "LATHE_CLI", "frobnicate", NULL);
  g_assert_cmpint (c.status, ==, 2);
  run (&d, "LATHE_CLI", "generate", "-m", bad, "--top-p", "7", NULL);
  g_assert_cmpint (d.status, ==, 2);
  run (&e, "LATHE_RUN", "generate", "-m", bad, NULL);
  g_assert_cmpint (e.status, ==, 1);
  g_assert_nonnull (strstr (e.err, bad));
  if (model == NULL)
    return;
  /* A read-only folder: the write fails cleanly and leaves no file. */
  g_mkdir (dir, 0555);
  run (&f, "LATHE_CLI", "convert", model, "-o", target, NULL);
  if (getuid () != 0) /* root writes anyway */
    {
      g_assert_cmpint (f.status, ==, 1);
      g_assert_nonnull (strstr (f.err, target));
    }
  {
    g_autoptr (GDir) gd = g_dir_open (dir, 0, NULL);
    const char *name;
    while ((name = g_dir_read_name (gd)) != NULL)
      g_assert_false (g_str_has_prefix (name, "x.gguf.tmp"));
  }
}

static JsonObject *
parse_object (JsonParser *parser, const char *text)
{
  g_autoptr (GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_node_get_object (json_parser_get_root (parser));
}

/* quantize with an override, apply a recipe file, prune, then eval each
 * against the original: the JSON keys scripts rely on, and the order of
 * the losses. */
static void
test_compress_and_eval (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  const char *dir = lathe_test_tmpdir ();
  g_autofree char *q8 = g_build_filename (dir, "cli-q8.gguf", NULL);
  g_autofree char *q4 = g_build_filename (dir, "cli-q4.gguf", NULL);
  g_autofree char *pruned = g_build_filename (dir, "cli-24.gguf", NULL);
  g_autofree char *recipe = g_build_filename (dir, "cli-recipe.json", NULL);
  g_autofree char *ref = g_build_filename (dir, "cli.logits", NULL);
  const char *keys[] = { "perplexity", "kl_mean", "kl_median", "kl_p99", "kl_max", "top1_agreement",
                         "rms_dp", "tokens" };
  const char *variants[3];
  double kl[3];

  if (text == NULL)
    return;
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "quantize", "-q", model, q8, "Q8_0", "--tensor-type", "output.weight=F16", NULL);
    g_assert_cmpint (r.status, ==, 0);
  }
  {
    g_auto (Run) r = { 0 };
    g_assert_true (g_file_set_contents (recipe,
      "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q4_0\", \"pure\": true}}", -1, NULL));
    run (&r, "LATHE_CLI", "apply", model, recipe, "-o", q4, NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.err, "wrote"));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "prune", model, pruned, "--nm", "2:4", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.err, "50.0 %"));
  }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o, *prov;
    run (&r, "LATHE_CLI", "inspect", "--json", q8, NULL);
    g_assert_cmpint (r.status, ==, 0);
    o = parse_object (parser, r.out);
    prov = json_object_get_object_member (o, "provenance");
    g_assert_nonnull (prov);
    g_assert_cmpint (strlen (json_object_get_string_member (prov, "source_sha256")), ==, 64);
    g_assert_true (json_object_has_member (prov, "recipe"));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "eval", "-q", "-m", model, "-f", text, "--chunks", "40", "--save-ref", ref, NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.out, "perplexity"));
  }
  variants[0] = q8;
  variants[1] = q4;
  variants[2] = pruned;
  for (int i = 0; i < 3; i++)
    {
      g_auto (Run) r = { 0 };
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonObject *o;
      run (&r, "LATHE_CLI", "eval", "-q", "-m", variants[i], "-f", text, "--ref", ref, "--json", NULL);
      g_assert_cmpint (r.status, ==, 0);
      o = parse_object (parser, r.out);
      for (gsize k = 0; k < G_N_ELEMENTS (keys); k++)
        g_assert_true (json_object_has_member (o, keys[k]));
      g_assert_cmpint (json_object_get_int_member (o, "tokens"), ==, 40 * 63);
      kl[i] = json_object_get_double_member (o, "kl_mean");
      g_assert_cmpfloat (json_object_get_double_member (o, "top1_agreement"), >, 0.0);
      g_assert_cmpfloat (json_object_get_double_member (o, "top1_agreement"), <=, 1.0);
    }
  g_assert_cmpfloat (0.0, <, kl[0]);
  g_assert_cmpfloat (kl[0], <, kl[1]);
  g_assert_cmpfloat (kl[1], <, kl[2]);
}

static void
test_compress_errors (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  const char *dir = lathe_test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "never.gguf", NULL);
  g_autofree char *recipe = g_build_filename (dir, "bad-recipe.json", NULL);
  g_autofree char *short_text = g_build_filename (dir, "short.txt", NULL);
  static const struct
  {
    const char *args[8];
    int status;
    const char *expected;
  } cases[] = {
    { { "quantize", "MODEL", "OUT", "Q7_0" }, 2, "“Q7_0”" },
    { { "quantize", "MODEL", "OUT", "Q4_0", "--tensor-type", "nonsense" }, 2, "PATTERN=TYPE" },
    { { "quantize", "MODEL", "OUT", "Q4_0", "--tensor-type", "blk.*.none=Q8_0" }, 1, "matches no matrix" },
    { { "prune", "MODEL", "OUT", "--sparsity", "1.2" }, 2, "0 ≤ sparsity < 1" },
    { { "prune", "MODEL", "OUT" }, 2, "usage" },
    { { "apply", "MODEL", "RECIPE", "-o", "OUT" }, 2, "bad-recipe.json: quantize.type" },
    { { "eval", "-m", "MODEL", "-f", "SHORT" }, 1, "shorter than the context" },
    { { "eval", "-m", "MODEL" }, 2, "usage" },
  };

  if (model == NULL)
    return;
  g_assert_true (g_file_set_contents (recipe, "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q3\"}}", -1, NULL));
  g_assert_true (g_file_set_contents (short_text, "Once upon a time.", -1, NULL));
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GPtrArray) argv = g_ptr_array_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *sout = NULL, *serr = NULL;
      int status;
      g_ptr_array_add (argv, (gpointer) g_getenv ("LATHE_CLI"));
      for (int a = 0; a < 8 && cases[i].args[a] != NULL; a++)
        {
          const char *arg = cases[i].args[a];
          arg = !strcmp (arg, "MODEL") ? model : !strcmp (arg, "OUT") ? out
                : !strcmp (arg, "RECIPE") ? recipe : !strcmp (arg, "SHORT") ? short_text : arg;
          g_ptr_array_add (argv, (gpointer) arg);
        }
      g_ptr_array_add (argv, NULL);
      g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &sout, &serr,
                    &status, &error);
      g_assert_no_error (error);
      g_test_message ("%s: %s", cases[i].args[0], serr);
      g_assert_cmpint (WEXITSTATUS (status), ==, cases[i].status);
      if (strstr (serr, cases[i].expected) == NULL)
        g_error ("case %zu: “%s” does not contain “%s”", i, serr, cases[i].expected);
      g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
    }
}

/* calibrate, sensitivity, a size target and structured pruning, as a
 * script would chain them. */
static void
test_calibrate_sensitivity_structure (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  const char *dir = lathe_test_tmpdir ();
  g_autofree char *im = g_build_filename (dir, "cli.imatrix", NULL);
  g_autofree char *table = g_build_filename (dir, "cli-sens.json", NULL);
  g_autofree char *mixed = g_build_filename (dir, "cli-mixed.gguf", NULL);
  g_autofree char *heads = g_build_filename (dir, "cli-heads.gguf", NULL);
  g_autofree char *layers = g_build_filename (dir, "cli-layers.gguf", NULL);
  g_autofree char *global = g_build_filename (dir, "cli-global.gguf", NULL);

  if (text == NULL)
    return;
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "calibrate", model, "-f", text, "-o", im, "--chunks", "8", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.err, "statistics of 36 matrices over 8 chunks"));
  }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o;
    JsonArray *tensors;
    run (&r, "LATHE_CLI", "sensitivity", "-q", model, "-f", text, "--types", "Q8_0,Q4_0", "--chunks",
         "2", "-o", table, "--json", NULL);
    g_assert_cmpint (r.status, ==, 0);
    o = parse_object (parser, r.out);
    tensors = json_object_get_array_member (o, "tensors");
    g_assert_cmpint (json_array_get_length (tensors), ==, 37);
    g_assert_true (g_file_test (table, G_FILE_TEST_EXISTS));
  }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o;
    run (&r, "LATHE_CLI", "quantize", "-q", model, mixed, "Q4_0", "--target-size", "0.3",
         "--sensitivity", table, NULL);
    g_assert_cmpint (r.status, ==, 0);
    run_clear (&r);
    run (&r, "LATHE_CLI", "inspect", "--json", mixed, NULL);
    o = parse_object (parser, r.out);
    g_assert_cmpint (json_object_get_int_member (o, "tensor_bytes"), <=, 300000);
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "quantize", "-q", model, mixed, "Q4_0", "--target-bpw", "4.5", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "--sensitivity"));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "prune", "-q", model, heads, "--heads", "4", "--imatrix", im, NULL);
    g_assert_cmpint (r.status, ==, 0);
    run_clear (&r);
    run (&r, "LATHE_CLI", "inspect", heads, NULL);
    g_assert_nonnull (strstr (r.out, "4 (4 KV)"));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "prune", "-q", model, layers, "--remove-layers", "1", "--imatrix", im, NULL);
    g_assert_cmpint (r.status, ==, 0);
    run_clear (&r);
    run (&r, "LATHE_CLI", "generate", "-m", layers, "-p", "Once upon a time", "-n", "8", "--temp", "0", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_true (g_str_has_prefix (r.out, "Once upon a time"));
    g_assert_cmpint (strlen (r.out), >, strlen ("Once upon a time"));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "prune", model, global, "--sparsity", "0.3", "--global", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.err, "pruned:"));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "prune", "-q", model, layers, "--remove-layers", "1", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "calibration"));
  }
}

/* A recipe's conditional settings travel in the file: lathe-run runs them
 * without being told, and flags override them. */
/* The tensor's type in `lathe-cli inspect --json` of path. */
static char *
type_in (const char *path, const char *tensor)
{
  g_auto (Run) r = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonArray *tensors;

  run (&r, "LATHE_CLI", "inspect", "--json", path, NULL);
  g_assert_cmpint (r.status, ==, 0);
  tensors = json_object_get_array_member (parse_object (parser, r.out), "tensors");
  for (guint i = 0; i < json_array_get_length (tensors); i++)
    {
      JsonObject *t = json_array_get_object_element (tensors, i);
      if (strcmp (json_object_get_string_member (t, "name"), tensor) == 0)
        return g_strdup (json_object_get_string_member (t, "type"));
    }
  g_error ("%s: no tensor %s", path, tensor);
}

static double
kl_against (const char *model, const char *ref, const char *text)
{
  g_auto (Run) r = { 0 };
  g_autoptr (JsonParser) parser = json_parser_new ();

  run (&r, "LATHE_CLI", "eval", "-q", "-m", model, "-f", text, "--ref", ref, "--chunks", "8", "-c", "128", "--json",
       NULL);
  g_assert_cmpint (r.status, ==, 0);
  return json_object_get_double_member (parse_object (parser, r.out), "kl_mean");
}

/* The grid types on llama.cpp's tiny model and imatrix: refused without
 * one, written with it, and closer to the F32 model than llama.cpp's own
 * files of the same mix (Q8_0 embedding and output); sensitivity measures
 * them with an importance matrix of its text. */
static void
test_grid_types (void)
{
  g_autofree char *f32 = lathe_test_shared ("interop/tiny-F32.gguf");
  g_autofree char *im = f32 ? lathe_test_shared ("interop/tiny.imatrix") : NULL;
  g_autofree char *text = im ? lathe_test_shared ("interop/tiny-calibration.txt") : NULL;
  const char *dir = lathe_test_tmpdir ();
  static const char *const types[] = { "IQ1_S", "IQ2_XXS" };

  if (text == NULL)
    return;
  {
    g_auto (Run) r = { 0 };
    g_autofree char *out = g_build_filename (dir, "grid-refused.gguf", NULL);
    run (&r, "LATHE_CLI", "quantize", "-q", f32, out, "Q4_K", "--tensor-type", "blk.*=IQ1_M", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "IQ1_M is written with an importance matrix: give --imatrix"));
    g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  }
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_auto (Run) r = { 0 };
      g_autofree char *out = g_strdup_printf ("%s/grid-%s.gguf", dir, types[i]);
      g_autofree char *theirs_rel = g_strdup_printf ("interop/tiny-%s.gguf", types[i]);
      g_autofree char *theirs = lathe_test_shared (theirs_rel);
      g_autofree char *ffn = NULL, *embd = NULL;
      double mine_kl, theirs_kl;
      run (&r, "LATHE_CLI", "quantize", "-q", f32, out, types[i], "--pure", "--imatrix", im, "--tensor-type",
           "token_embd.weight=Q8_0", "--tensor-type", "output.weight=Q8_0", NULL);
      g_assert_cmpint (r.status, ==, 0);
      ffn = type_in (out, "blk.1.ffn_up.weight");
      embd = type_in (out, "token_embd.weight");
      g_assert_cmpstr (ffn, ==, types[i]);
      g_assert_cmpstr (embd, ==, "Q8_0");
      mine_kl = kl_against (out, f32, text);
      theirs_kl = kl_against (theirs, f32, text);
      g_test_message ("%s: KL to F32 Lathe %.4f, llama.cpp %.4f", types[i], mine_kl, theirs_kl);
      g_assert_cmpfloat (mine_kl, >, 0.0);
      g_assert_cmpfloat (mine_kl, <, theirs_kl);
    }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonArray *tensors;
    guint seen = 0;
    run (&r, "LATHE_CLI", "sensitivity", "-q", f32, "-f", text, "--types", "Q4_K,IQ2_XXS", "--chunks", "2", "-c",
         "128", "--json", NULL);
    g_assert_cmpint (r.status, ==, 0);
    tensors = json_object_get_array_member (parse_object (parser, r.out), "tensors");
    for (guint i = 0; i < json_array_get_length (tensors); i++)
      {
        JsonObject *t = json_array_get_object_element (tensors, i);
        const char *name = json_object_get_string_member (t, "name");
        JsonArray *c = json_object_get_array_member (t, "candidates");
        JsonObject *q4 = json_array_get_object_element (c, 0), *iq2 = json_array_get_object_element (c, 1);
        g_assert_cmpstr (json_object_get_string_member (iq2, "type"), ==, "IQ2_XXS");
        /* The embedding, which no statistics cover, takes Q2_K instead. */
        if (strcmp (name, "token_embd.weight") == 0)
          {
            g_assert_cmpstr (json_object_get_string_member (iq2, "used_type"), ==, "Q2_K");
            seen++;
          }
        else if (strcmp (name, "blk.0.ffn_down.weight") == 0)
          {
            g_assert_cmpstr (json_object_get_string_member (iq2, "used_type"), ==, "IQ2_XXS");
            g_assert_cmpfloat (json_object_get_double_member (iq2, "kl_mean"), >,
                               json_object_get_double_member (q4, "kl_mean"));
            seen++;
          }
      }
    g_assert_cmpuint (seen, ==, 2);
  }
}

static void
test_conditional_in_file (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  const char *dir = lathe_test_tmpdir ();
  g_autofree char *recipe = g_build_filename (dir, "cond.json", NULL);
  g_autofree char *bad = g_build_filename (dir, "cond-bad.json", NULL);
  g_autofree char *out = g_build_filename (dir, "cond.gguf", NULL);
  g_autofree char *never = g_build_filename (dir, "cond-never.gguf", NULL);

  if (text == NULL)
    return;
  g_assert_true (g_file_set_contents (recipe, "{\"lathe_recipe\": 1, \"quantize\": {\"type\": \"Q8_0\"}, "
                                      "\"conditional\": {\"skip_layers\": \"2\"}}", -1, NULL));
  g_assert_true (g_file_set_contents (bad, "{\"lathe_recipe\": 1, \"conditional\": {\"skip_layers\": \"7\"}}",
                                      -1, NULL));
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "apply", "-q", model, recipe, "-o", out, NULL);
    g_assert_cmpint (r.status, ==, 0);
  }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o;
    run (&r, "LATHE_RUN", "bench", "-m", out, "-p", "4", "-n", "16", "-r", "1", "-t", "1", "--no-bandwidth",
         "--json", NULL);
    g_assert_cmpint (r.status, ==, 0);
    o = parse_object (parser, r.out);
    g_assert_cmpfloat (json_object_get_double_member (o, "layers_mean"), ==, 4.0);
  }
  {
    /* --progress: a line per step, load to done, on stderr; the JSON stays alone on stdout. */
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    g_auto (GStrv) lines = NULL;
    run (&r, "LATHE_RUN", "bench", "-m", out, "-p", "4", "-n", "16", "-r", "2", "-t", "1", "--no-bandwidth",
         "--json", "--progress", NULL);
    g_assert_cmpint (r.status, ==, 0);
    parse_object (parser, r.out);
    lines = g_strsplit (g_strstrip (r.err), "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 7);
    g_assert_cmpstr (lines[0], ==, "lathe-progress 1 7 prefill warm-up");
    g_assert_cmpstr (lines[3], ==, "lathe-progress 4 7 decode warm-up");
    g_assert_cmpstr (lines[6], ==, "lathe-progress 7 7 done");
  }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o;
    run (&r, "LATHE_RUN", "bench", "-m", out, "-p", "4", "-n", "16", "-r", "1", "-t", "1", "--no-bandwidth",
         "--skip-layers", "", "--json", NULL);
    g_assert_cmpint (r.status, ==, 0);
    o = parse_object (parser, r.out);
    g_assert_cmpfloat (json_object_get_double_member (o, "layers_mean"), ==, 5.0);
  }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o;
    run (&r, "LATHE_CLI", "eval", "-q", "-m", model, "-f", text, "--chunks", "4", "--ref", model,
         "--recipe", recipe, "--json", NULL);
    g_assert_cmpint (r.status, ==, 0);
    o = parse_object (parser, r.out);
    g_assert_cmpfloat (json_object_get_double_member (o, "layers_mean"), ==, 4.0);
    g_assert_cmpfloat (json_object_get_double_member (o, "kl_mean"), >, 0.0);
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "apply", "-q", model, bad, "-o", never, NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "conditional.skip_layers"));
    g_assert_false (g_file_test (never, G_FILE_TEST_EXISTS));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "logit-lens", "-q", "-m", model, "-f", text, "--chunks", "4", "--json", NULL);
    g_assert_cmpint (r.status, ==, 0);
    {
      g_autoptr (JsonParser) parser = json_parser_new ();
      JsonObject *o = parse_object (parser, r.out);
      JsonArray *layers = json_object_get_array_member (o, "layers");
      JsonObject *last;
      g_assert_cmpint (json_array_get_length (layers), ==, 5);
      last = json_array_get_object_element (layers, 4);
      g_assert_cmpint (json_object_get_int_member (last, "layer"), ==, 4);
      g_assert_cmpfloat (json_object_get_double_member (last, "kl_mean"), ==, 0.0);
      g_assert_cmpfloat (json_object_get_double_member (last, "top1_agreement"), ==, 1.0);
    }
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "generate", "-m", model, "-p", "Once upon a time", "-n", "40", "--temp", "0",
         "--speculative", "3", "--draft-skip-layers", "2", "--compare", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.err, "outputs identical"));
    g_assert_nonnull (strstr (r.err, "acceptance by draft position"));
  }
  {
    g_auto (Run) r = { 0 };
    g_autoptr (JsonParser) parser = json_parser_new ();
    JsonObject *o;
    double acc;
    run (&r, "LATHE_RUN", "bench", "-m", model, "-p", "4", "-n", "32", "-r", "1", "-t", "1", "--no-bandwidth",
         "--speculative", "3", "--draft-skip-layers", "2", "--json", NULL);
    g_assert_cmpint (r.status, ==, 0);
    o = parse_object (parser, r.out);
    g_assert_cmpint (json_object_get_int_member (o, "speculative_k"), ==, 3);
    acc = json_object_get_double_member (o, "acceptance_rate");
    g_assert_cmpfloat (acc, >, 0.0);
    g_assert_cmpfloat (acc, <, 1.0);
  }
}

/* sweep makes a workspace and measures a grid; workspace shows it as a
 * table with the front marked, as CSV and as JSON; errors name the cause. */
static void
test_sweep_workspace (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autofree char *ws = g_build_filename (lathe_test_tmpdir (), "sweep-ws", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_auto (Run) r = { 0 }, table = { 0 }, csv = { 0 }, json = { 0 }, bad = { 0 }, none = { 0 };
  g_auto (Run) axes = { 0 }, list = { 0 }, again = { 0 };
  g_auto (GStrv) rows = NULL;
  JsonArray *variants;

  if (text == NULL)
    return;
  run (&r, "LATHE_CLI", "sweep", ws, "-m", model, "-f", text, "--types", "Q8_0,Q4_0", "--ctx", "64",
       "--chunks", "4", "--no-speed", "-q", NULL);
  g_test_message ("%s%s", r.out, r.err);
  g_assert_cmpint (r.status, ==, 0);
  g_assert_nonnull (strstr (r.out, "* Original"));
  g_assert_nonnull (strstr (r.out, "* Q8_0"));
  g_assert_nonnull (strstr (r.out, "* Q4_0"));
  /* A second sweep adds to the same workspace, the original only once. */
  run (&again, "LATHE_CLI", "sweep", ws, "--sparsity", "0.5", "-q", NULL);
  g_assert_cmpint (again.status, ==, 0);
  run (&table, "LATHE_CLI", "workspace", ws, NULL);
  g_assert_cmpint (table.status, ==, 0);
  g_assert_nonnull (strstr (table.out, "chunks of 64 tokens, 4 chunks"));
  g_assert_nonnull (strstr (table.out, "  50 % sparse")); /* dominated: more loss, no smaller */
  run (&csv, "LATHE_CLI", "workspace", ws, "--csv", NULL);
  rows = g_strsplit (csv.out, "\n", -1);
  g_assert_cmpuint (g_strv_length (rows), ==, 6);
  g_assert_nonnull (strstr (rows[1], ",Original,,"));
  run (&json, "LATHE_CLI", "workspace", ws, "--json", NULL);
  g_assert_true (json_parser_load_from_data (parser, json.out, -1, NULL));
  variants = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "variants");
  g_assert_cmpuint (json_array_get_length (variants), ==, 4);
  run (&axes, "LATHE_CLI", "workspace", ws, "--pareto", "top1,bpw", NULL);
  g_assert_cmpint (axes.status, ==, 0);
  g_assert_nonnull (strstr (axes.out, "front of top1 and bpw"));
  run (&bad, "LATHE_CLI", "workspace", ws, "--pareto", "speed,bpw", NULL);
  g_assert_cmpint (bad.status, ==, 2);
  g_assert_nonnull (strstr (bad.err, "decode_tps"));
  run (&none, "LATHE_CLI", "sweep", lathe_test_tmpdir (), "--types", "Q8_0", NULL);
  g_assert_cmpint (none.status, ==, 1);
  g_assert_nonnull (strstr (none.err, "give the model (-m) and evaluation text (-f)"));
  run (&list, "LATHE_CLI", "sweep", ws, "--sparsity", "0.5,x", NULL);
  g_assert_cmpint (list.status, ==, 2);
  g_assert_nonnull (strstr (list.err, "--sparsity: expected numbers from 0 to 1"));
}

/* device and profile as a script uses them, against an sshd of the test's
 * own on 127.0.0.1. */
static void
test_device_profile (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autofree char *registry = g_build_filename (lathe_test_tmpdir (), "devices.json", NULL);
  g_autofree char *ws = g_build_filename (lathe_test_tmpdir (), "profile-ws", NULL);
  g_auto (Run) add = { 0 }, list = { 0 }, probe = { 0 }, prof = { 0 }, table = { 0 }, dup = { 0 };
  g_auto (Run) missing = { 0 }, bad = { 0 }, sweep = { 0 }, removed = { 0 }, json = { 0 };
  SshdFixture f;

  if (text == NULL || !sshd_fixture_start (&f, "cli-device"))
    return;
  g_setenv ("LATHE_DEVICES", registry, TRUE);
  run (&add, "LATHE_CLI", "device", "add", "testbox", "dev", "-F", f.ssh_config, NULL);
  g_assert_cmpint (add.status, ==, 0);
  run (&dup, "LATHE_CLI", "device", "add", "testbox", "dev", NULL);
  g_assert_cmpint (dup.status, ==, 1);
  g_assert_nonnull (strstr (dup.err, "exists already"));
  run (&list, "LATHE_CLI", "device", "list", NULL);
  g_assert_nonnull (strstr (list.out, "testbox"));
  /* An unknown host key: refused, with the fingerprint to check. */
  {
    g_autofree char *known = NULL;
    g_autofree char *expected = sshd_fixture_sh ("ssh-keygen -lf '%s/host_key.pub' | cut -d' ' -f2", f.dir);
    g_auto (Run) unknown = { 0 };
    g_assert_true (g_file_get_contents (f.known_hosts, &known, NULL, NULL));
    g_assert_true (g_file_set_contents (f.known_hosts, "", -1, NULL));
    run (&unknown, "LATHE_CLI", "device", "probe", "testbox", NULL);
    g_test_message ("%s", unknown.err);
    g_assert_cmpint (unknown.status, ==, 1);
    g_assert_nonnull (strstr (unknown.err, "host key is not known"));
    g_assert_nonnull (strstr (unknown.err, g_strstrip (expected)));
    g_assert_nonnull (strstr (unknown.err, "--accept-new-host-key"));
    g_assert_true (g_file_set_contents (f.known_hosts, known, -1, NULL));
  }
  run (&probe, "LATHE_CLI", "device", "probe", "testbox", NULL);
  g_test_message ("%s%s", probe.out, probe.err);
  g_assert_cmpint (probe.status, ==, 0);
  g_assert_nonnull (strstr (probe.out, "cores"));
  run (&json, "LATHE_CLI", "device", "probe", "testbox", "--json", NULL);
  g_assert_nonnull (strstr (json.out, "\"memory_mb\""));
  /* A workspace with the model measured here; the device's speed joins it. */
  run (&sweep, "LATHE_CLI", "sweep", ws, "-m", model, "-f", text, "--chunks", "2", "--ctx", "64", "--no-speed",
       "-q", NULL);
  g_assert_cmpint (sweep.status, ==, 0);
  run (&prof, "LATHE_CLI", "profile", "testbox", model, "-t", "1,2", "-p", "16", "-n", "8", "-r", "1", "-w", ws,
       "-q", NULL);
  g_test_message ("%s%s", prof.out, prof.err);
  g_assert_cmpint (prof.status, ==, 0);
  g_assert_nonnull (strstr (prof.out, "decode tok/s"));
  run (&table, "LATHE_CLI", "workspace", ws, "--csv", NULL);
  g_test_message ("%s", table.out);
  g_assert_nonnull (strstr (table.out, "Original on testbox,testbox,"));
  /* A bundle of the workspace's original for the device, verified here and there. */
  {
    g_autofree char *bundle = g_build_filename (lathe_test_tmpdir (), "cli-bundle.tar.gz", NULL);
    g_auto (Run) create = { 0 }, verify = { 0 }, install = { 0 };
    run (&create, "LATHE_CLI", "bundle", "create", "Original", "-w", ws, "--device", "testbox", "-o", bundle, NULL);
    g_test_message ("%s", create.err);
    g_assert_cmpint (create.status, ==, 0);
    run (&verify, "LATHE_CLI", "bundle", "verify", bundle, NULL);
    g_assert_cmpint (verify.status, ==, 0);
    g_assert_nonnull (strstr (verify.out, "golden: 32 greedy tokens as expected"));
    run (&install, "LATHE_CLI", "device", "install", bundle, "testbox", NULL);
    g_test_message ("%s%s", install.out, install.err);
    g_assert_cmpint (install.status, ==, 0);
    g_assert_nonnull (strstr (install.out, "golden: OK"));
  }
  run (&missing, "LATHE_CLI", "profile", "nobox", model, NULL);
  g_assert_cmpint (missing.status, ==, 1);
  g_assert_nonnull (strstr (missing.err, "no device “nobox”"));
  run (&bad, "LATHE_CLI", "profile", "testbox", model, "-t", "0", NULL);
  g_assert_cmpint (bad.status, ==, 2);
  run (&removed, "LATHE_CLI", "device", "remove", "testbox", NULL);
  g_assert_cmpint (removed.status, ==, 0);
  g_unsetenv ("LATHE_DEVICES");
  sshd_fixture_stop (&f);
}

/* A Hugging Face checkpoint folder converted as a user does it: Q8_0
 * matrices on request, the model generating, and bad options and bad
 * checkpoints refused with a clear line. */
static void
test_convert_hf (void)
{
  g_autofree char *gguf = lathe_test_shared ("archs/qwen3.gguf");
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "qwen3-hf-q8.gguf", NULL);
  g_autofree char *dir = NULL, *config = NULL;
  const LatheHfCase *qwen3 = NULL;
  guint n;
  const LatheHfCase *cases = lathe_test_hf_cases (&n);

  if (gguf == NULL)
    return;
  for (guint i = 0; i < n; i++)
    if (strcmp (cases[i].arch, "qwen3") == 0)
      qwen3 = &cases[i];
  dir = lathe_test_hf_checkpoint (qwen3, gguf, "qwen3-hf");
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "convert", dir, "-o", out, "--outtype", "q8_0", NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_nonnull (strstr (r.err, "wrote "));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "inspect", out, NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_true (g_regex_match_simple ("blk.0.attn_q.weight +Q8_0 ", r.out, 0, 0));
    g_assert_true (g_regex_match_simple ("blk.0.attn_q_norm.weight +F32 ", r.out, 0, 0));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "generate", "-m", out, "-p", "Once upon a time", "-n", "8", "--temp", "0",
         NULL);
    g_assert_cmpint (r.status, ==, 0);
    g_assert_cmpuint (strlen (r.out), >, strlen ("Once upon a time"));
  }
  {
    g_auto (Run) r = { 0 };
    run (&r, "LATHE_CLI", "convert", dir, "-o", out, "--outtype", "q3", NULL);
    g_assert_cmpint (r.status, ==, 2);
    g_assert_nonnull (strstr (r.err, "--outtype is 'q3', expected f16, f32, bf16, q8_0 or auto"));
  }
  config = g_build_filename (dir, "config.json", NULL);
  g_assert_true (g_file_set_contents (config, "{\"architectures\": [\"Qwen3ForCausalLM\"]}", -1, NULL));
  {
    g_auto (Run) r = { 0 };
    g_autofree char *bad = g_build_filename (lathe_test_tmpdir (), "qwen3-bad.gguf", NULL);
    run (&r, "LATHE_CLI", "convert", dir, "-o", bad, NULL);
    g_assert_cmpint (r.status, ==, 1);
    g_assert_nonnull (strstr (r.err, "config.json: key 'hidden_size' is missing (Qwen3ForCausalLM needs it)"));
    g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  lathe_test_use_signing_key ();
  g_test_add_func ("/lathe/cli/inspect-json", test_inspect_json);
  g_test_add_func ("/lathe/cli/inspect-text", test_inspect_text);
  g_test_add_func ("/lathe/cli/generate", test_generate);
  g_test_add_func ("/lathe/cli/architectures", test_architectures);
  g_test_add_func ("/lathe/cli/convert-hf", test_convert_hf);
  g_test_add_func ("/lathe/cli/bench-depth", test_bench_depth);
  g_test_add_func ("/lathe/cli/generate-sampling", test_generate_sampling);
  g_test_add_func ("/lathe/cli/tokenize", test_tokenize);
  g_test_add_func ("/lathe/cli/convert", test_convert);
  g_test_add_func ("/lathe/cli/synth", test_synth);
  g_test_add_func ("/lathe/cli/errors", test_errors);
  g_test_add_func ("/lathe/cli/compress-and-eval", test_compress_and_eval);
  g_test_add_func ("/lathe/cli/compress-errors", test_compress_errors);
  g_test_add_func ("/lathe/cli/calibrate-sensitivity-structure", test_calibrate_sensitivity_structure);
  g_test_add_func ("/lathe/cli/grid-types", test_grid_types);
  g_test_add_func ("/lathe/cli/conditional-in-file", test_conditional_in_file);
  g_test_add_func ("/lathe/cli/sweep-workspace", test_sweep_workspace);
  g_test_add_func ("/lathe/cli/device-profile", test_device_profile);
  return g_test_run ();
}
