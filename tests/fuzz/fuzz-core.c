/* SPDX-License-Identifier: MIT */
/* libFuzzer targets for every parser of untrusted input above the model
 * readers, one executable each (FUZZ_TARGET picks which): recipes,
 * sensitivity tables, importance matrices, workspaces and their variant
 * files, bundle manifests, what a device's probe and runner print, and what
 * OpenSSH's tools print. Each runs the real entry point (files written to a
 * folder of the fuzzer's own when the entry point reads files), and checks
 * what must hold of any input: no crash, no GLib critical (they are made
 * fatal), and whatever Lathe writes back is valid JSON. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <string.h>

#include "lathe-bundle.h"
#include "lathe-json.h"
#include "lathe-recipe.h"
#include "lathe-remote-private.h"
#include "lathe-remote.h"
#include "lathe-hf-private.h"
#include "lathe-hf.h"
#include "lathe-runner.h"
#include "lathe-safetensors.h"
#include "lathe-sensitivity.h"
#include "lathe-ssh-private.h"
#include "lathe-workspace.h"
#include "lk-imatrix.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static char *work;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  /* A critical is a bug found: a crash the fuzzer sees. */
  g_log_set_always_fatal (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
  work = g_dir_make_tmp ("lathe-fuzz-XXXXXX", NULL);
  return work == NULL;
}

G_GNUC_UNUSED static char *
put (const char *name, const char *data, gsize size)
{
  char *path = g_build_filename (work, name, NULL);
  g_autofree char *dir = g_path_get_dirname (path);

  g_mkdir_with_parents (dir, 0700);
  g_file_set_contents (path, data, (gssize) size, NULL);
  return path;
}

/* The input as two texts, split at its first NUL. */
G_GNUC_UNUSED static void
split (const char *text, gsize size, const char **a, const char **b)
{
  const char *nul = memchr (text, '\0', size);

  *a = text;
  *b = nul != NULL && (gsize) (nul - text) + 1 < size ? nul + 1 : "";
}

G_GNUC_UNUSED static void
assert_valid_json (JsonNode *node)
{
  g_autofree char *text = lathe_json_to_string (node, FALSE);
  g_autoptr (JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_data (parser, text, -1, NULL))
    g_error ("Lathe wrote JSON it cannot read back: %s", text);
}

#if FUZZ_TARGET == 8
/* 0: a safetensors file, every value read; 1: tokenizer.model; 2:
 * tokenizer.json; 3: config.json, a NUL, then model.safetensors, converted
 * with a fixed three-piece tokenizer. */
static void
fuzz_hf (const char *text, gsize size)
{
  g_autofree char *dir = g_build_filename (work, "hf", NULL);
  g_autofree char *out = g_build_filename (work, "hf.gguf", NULL);
  const char *body = text + 1;
  const gsize n = size - 1;

  if (size == 0)
    return;
  for (guint i = 0; i < 5; i++)
    {
      static const char *const files[] = { "tokenizer.model", "tokenizer.json", "config.json",
                                           "model.safetensors", "tokenizer_config.json" };
      g_autofree char *f = g_build_filename (dir, files[i], NULL);
      g_unlink (f);
    }
  g_mkdir_with_parents (dir, 0700);
  switch (text[0] % 4)
    {
    case 0:
      {
        g_autoptr (GBytes) b = g_bytes_new (body, n);
        g_autoptr (LatheSafetensors) st = lathe_safetensors_parse (b, "fuzz", NULL);
        for (guint i = 0; st != NULL && i < lathe_safetensors_n_tensors (st); i++)
          {
            const LatheStTensor *t = lathe_safetensors_tensor (st, i);
            if (t->dtype <= LATHE_ST_BF16)
              for (gint64 k = 0; k < t->n_elements; k += 1 + t->n_elements / 64)
                (void) lathe_st_get_f32 (t, k);
          }
        break;
      }
    case 1:
    case 2:
      {
        g_autofree char *p = put (text[0] % 4 == 1 ? "hf/tokenizer.model" : "hf/tokenizer.json", body, n);
        (void) p;
        g_autoptr (JsonObject) config = json_object_new ();
        lk_gguf_writer *w = lk_gguf_writer_new ();
        gint n_tokens;
        lathe_hf_write_tokenizer (dir, config, 0, NULL, w, &n_tokens, NULL);
        lk_gguf_writer_free (w);
        break;
      }
    default:
      {
        const char *config, *weights;
        static const char spm[] = "\x0a\x09\x0a\x05<unk>\x18\x02\x0a\x07\x0a\x03<s>\x18\x03"
                                  "\x0a\x08\x0a\x04</s>\x18\x03\x12\x02\x18\x02";
        g_autofree char *a = NULL, *b = NULL, *t = NULL;
        LatheHfOptions opt;
        split (body, n, &config, &weights);
        a = put ("hf/config.json", config, strlen (config));
        b = put ("hf/model.safetensors", weights,
                 weights > body && weights <= body + n ? n - (gsize) (weights - body) : 0);
        t = put ("hf/tokenizer.model", spm, sizeof spm - 1);
        lathe_hf_options_init (&opt);
        lathe_hf_convert (dir, out, &opt, NULL, NULL, NULL, NULL);
        g_unlink (out);
        break;
      }
    }
}
#endif

static void
fuzz (const char *text, gsize size)
{
#if FUZZ_TARGET == 1 /* recipe */
  g_autoptr (LatheRecipe) r = lathe_recipe_parse (text, (gssize) size, "fuzz.json", NULL);
  if (r != NULL)
    {
      g_autofree char *back = lathe_recipe_to_json (r);
      g_autoptr (LatheRecipe) again = lathe_recipe_parse (back, -1, "back.json", NULL);
      if (again == NULL)
        g_error ("a recipe written back does not parse: %s", back);
    }
#elif FUZZ_TARGET == 2 /* sensitivity table */
  g_autofree char *path = put ("sensitivity.json", text, size);
  g_autoptr (JsonNode) t = lathe_sensitivity_load (path, NULL);
  if (t != NULL)
    assert_valid_json (t);
#elif FUZZ_TARGET == 3 /* importance matrix */
  g_autofree char *path = put ("imatrix.gguf", text, size);
  lk_imatrix *im = NULL;
  lk_error err;
  if (lk_imatrix_load (path, &im, &err) == LK_OK)
    lk_imatrix_free (im);
#elif FUZZ_TARGET == 4 /* workspace.json and a variant file */
  const char *settings, *variant;
  g_autofree char *dir = g_build_filename (work, "ws", NULL);
  g_autofree char *a = NULL, *b = NULL;
  g_autoptr (LatheWorkspace) ws = NULL;
  split (text, size, &settings, &variant);
  a = put ("ws/workspace.json", settings, strlen (settings));
  b = put ("ws/variants/v.json", variant, strlen (variant));
  if ((ws = lathe_workspace_open (dir, NULL)) != NULL)
    {
      g_autofree char *json = lathe_workspace_to_json (ws);
      g_autofree char *csv = lathe_workspace_to_csv (ws);
      g_autoptr (JsonParser) parser = json_parser_new ();
      if (!json_parser_load_from_data (parser, json, -1, NULL) || !g_utf8_validate (csv, -1, NULL))
        g_error ("a workspace written back does not parse: %s", json);
    }
  g_unlink (b);
#elif FUZZ_TARGET == 5 /* bundle manifest */
  g_autofree char *dir = g_build_filename (work, "bundle", NULL);
  g_autofree char *m = put ("bundle/MANIFEST.json", text, size);
  (void) m;
  g_autoptr (GString) report = g_string_new (NULL);
  LatheBundleVerifyOptions vo;
  lathe_bundle_verify_options_init (&vo);
  vo.trust_unsigned = TRUE;
  vo.check_golden = FALSE;
  lathe_bundle_verify (dir, &vo, report, NULL, NULL, NULL);
#elif FUZZ_TARGET == 6 /* a device's probe and bench output */
  const char *probe_text, *bench_text;
  g_autoptr (JsonNode) probe = NULL, bench = NULL;
  split (text, size, &probe_text, &bench_text);
  probe = lathe_probe_parse (probe_text);
  if (!lathe_probe_check (probe))
    g_error ("a parsed probe does not have the probe's shape");
  assert_valid_json (probe);
  if ((bench = lathe_bench_parse (bench_text, -1, "fuzz", NULL)) != NULL)
    assert_valid_json (bench);
#elif FUZZ_TARGET == 7 /* ssh-keygen -l and ssh -G output */
  g_autofree char *fp = lathe_ssh_parse_fingerprints (text);
  g_autofree char *kh = lathe_ssh_parse_known_hosts_file (text);
  (void) fp;
  (void) kh;
#elif FUZZ_TARGET == 8 /* Hugging Face checkpoints: the first byte picks the file */
  fuzz_hf (text, size);
#else
#error "FUZZ_TARGET: 1 to 8"
#endif
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* Texts reach the parsers NUL-terminated, as Lathe reads them. */
  g_autofree char *text = g_malloc (size + 1);

  memcpy (text, data, size);
  text[size] = '\0';
  fuzz (text, size);
  return 0;
}
