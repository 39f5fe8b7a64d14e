/* SPDX-License-Identifier: MIT */
/* Quality evaluation on stories260K and the shared evaluation text:
 * perplexity against a computation of its own, KL divergence of a model to
 * itself and of quantized variants, saved references, and bad input. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-model.h"
#include "lathe-test.h"
#include "lk-export.h"
#include "lk-quantize.h"

#define CHUNKS 24

static LatheModel *
load (const char *path)
{
  g_autoptr (GError) error = NULL;
  LatheModel *m = lathe_model_load (path, NULL, NULL, &error);

  g_assert_no_error (error);
  return m;
}

static gboolean
shared_paths (char **gguf, char **bin, char **text)
{
  *gguf = lathe_test_shared ("models/stories260K.gguf");
  *bin = *gguf ? lathe_test_shared ("models/stories260K.bin") : NULL;
  *text = *bin ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  return *text != NULL;
}

static void
eval_ok (LatheModel *m, const char *text, const char *ref, int chunks, const char *save,
         lk_eval_result *r)
{
  LatheEvalOptions o;
  g_autoptr (GError) error = NULL;

  lathe_eval_options_init (&o);
  o.max_chunks = chunks;
  o.save_ref = save;
  g_assert_true (lathe_eval_run (m, text, ref, &o, r, NULL, &error));
  g_assert_no_error (error);
}

/* Perplexity the long way: the same chunks, decoded here, with a log-sum-exp
 * in double precision. */
static double
perplexity_by_hand (LatheModel *model, const char *text_path, int chunks, int *n_ctx_out)
{
  const lk_model *m = lathe_model_get_engine (model);
  const lk_vocab *v = lk_model_vocab (m);
  const int n_vocab = lk_vocab_n_tokens (v);
  const int n_ctx = MIN (256, lk_model_hparams (m)->n_ctx_train);
  g_autofree char *text = NULL;
  gsize len = 0;
  lk_tokens toks = { 0 };
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };
  double nll = 0.0;
  long count = 0;

  text = lathe_test_read (text_path, &len);
  g_assert_cmpint (lk_eval_tokenize (v, text, len, &toks, &err), ==, LK_OK);
  lk_ctx_params_init (&cp);
  cp.n_ctx = n_ctx;
  g_assert_cmpint (lk_ctx_new (m, &cp, &ctx, &err), ==, LK_OK);
  for (int c = 0; c < chunks; c++)
    {
      int32_t *chunk = toks.ids + (gsize) c * n_ctx;
      const int32_t first = chunk[0];
      chunk[0] = lk_vocab_bos (v);
      lk_ctx_truncate (ctx, 0);
      g_assert_cmpint (lk_ctx_decode (ctx, chunk, n_ctx, TRUE, &err), ==, LK_OK);
      for (int i = n_ctx / 2; i < n_ctx - 1; i++)
        {
          const float *lg = lk_ctx_logits (ctx, i);
          double max = -INFINITY, sum = 0.0;
          for (int t = 0; t < n_vocab; t++)
            max = MAX (max, lg[t]);
          for (int t = 0; t < n_vocab; t++)
            sum += exp (lg[t] - max);
          nll += max + log (sum) - lg[chunk[i + 1]];
          count++;
        }
      chunk[0] = first;
    }
  lk_ctx_free (ctx);
  lk_tokens_clear (&toks);
  *n_ctx_out = n_ctx;
  return exp (nll / (double) count);
}

static void
test_perplexity (void)
{
  g_autofree char *gguf = NULL, *bin = NULL, *text = NULL;
  g_autoptr (LatheModel) m = NULL;
  lk_eval_result r;
  double expected;
  int n_ctx;

  if (!shared_paths (&gguf, &bin, &text))
    return;
  m = load (gguf);
  eval_ok (m, text, NULL, CHUNKS, NULL, &r);
  expected = perplexity_by_hand (m, text, CHUNKS, &n_ctx);
  g_assert_false (r.has_ref);
  g_assert_cmpint (r.n_chunks, ==, CHUNKS);
  g_assert_cmpint (r.n_ctx, ==, n_ctx);
  g_assert_cmpuint (r.tokens, ==, (guint64) CHUNKS * (n_ctx - 1 - n_ctx / 2));
  g_assert_cmpfloat_with_epsilon (r.perplexity, expected, 1e-6 * expected);
  /* In-domain text for a model trained on it: far below the vocabulary size. */
  g_assert_cmpfloat (r.perplexity, >, 1.5);
  g_assert_cmpfloat (r.perplexity, <, 10.0);
}

/* The llama2.c checkpoint and llama.cpp's GGUF of it give identical logits:
 * KL divergence zero, full agreement. */
static void
test_self (void)
{
  g_autofree char *gguf = NULL, *bin = NULL, *text = NULL;
  g_autoptr (LatheModel) m = NULL;
  lk_eval_result r;

  if (!shared_paths (&gguf, &bin, &text))
    return;
  m = load (gguf);
  eval_ok (m, text, bin, CHUNKS, NULL, &r);
  g_assert_true (r.has_ref);
  g_assert_cmpfloat (r.kl_mean, ==, 0.0);
  g_assert_cmpfloat (r.kl_max, ==, 0.0);
  g_assert_cmpfloat (r.top1_agreement, ==, 1.0);
  g_assert_cmpfloat (r.rms_dp, ==, 0.0);
  g_assert_cmpfloat (r.ref_perplexity, ==, r.perplexity);
}

static char *
quantized (LatheModel *m, const char *type_name)
{
  char *path = g_build_filename (lathe_test_tmpdir (), type_name, NULL);
  lk_quantize_params qp;
  lk_quantize_report report;
  lk_error err = { 0 };

  lk_quantize_params_init (&qp);
  g_assert_true (lk_quantize_parse_type (type_name, &qp.type, &qp.mix));
  qp.mix = LK_MIX_PURE;
  g_assert_cmpint (lk_quantize_model (lathe_model_get_engine (m), path, &qp, &report, &err), ==, LK_OK);
  lk_quantize_report_clear (&report);
  return path;
}

static lk_eval_result
eval_variant (LatheModel *src, const char *type, const char *text, const char *ref)
{
  g_autofree char *path = quantized (src, type);
  g_autoptr (LatheModel) m = load (path);
  lk_eval_result r;

  eval_ok (m, text, ref, 0, NULL, &r);
  g_test_message ("%s: perplexity %.4f, KL mean %.6f p99 %.6f, top-1 %.4f, RMS dp %.5f", type,
                  r.perplexity, r.kl_mean, r.kl_p99, r.top1_agreement, r.rms_dp);
  return r;
}

/* Against log-probabilities saved once: F16 is near the original, then
 * Q8_0, Q5_0 and Q4_0 lose more and more. */
static void
test_quantized_order (void)
{
  g_autofree char *gguf = NULL, *bin = NULL, *text = NULL;
  g_autofree char *ref = NULL;
  g_autoptr (LatheModel) m = NULL;
  lk_eval_result self, f16, q8, q5, q4, q2;

  if (!shared_paths (&gguf, &bin, &text))
    return;
  m = load (gguf);
  ref = g_build_filename (lathe_test_tmpdir (), "stories.logits", NULL);
  eval_ok (m, text, NULL, CHUNKS, ref, &self);
  g_assert_cmpfloat (self.kl_mean, ==, 0.0);
  f16 = eval_variant (m, "F16", text, ref);
  q8 = eval_variant (m, "Q8_0", text, ref);
  q5 = eval_variant (m, "Q5_0", text, ref);
  q4 = eval_variant (m, "Q4_0", text, ref);
  q2 = eval_variant (m, "Q2_K", text, ref);
  g_assert_cmpuint (f16.tokens, ==, self.tokens);
  g_assert_cmpfloat (f16.kl_mean, <, 1e-4);
  g_assert_cmpfloat (f16.top1_agreement, >, 0.99);
  g_assert_cmpfloat (f16.kl_mean, <, q8.kl_mean);
  g_assert_cmpfloat (q8.kl_mean, <, q5.kl_mean);
  g_assert_cmpfloat (q5.kl_mean, <, q4.kl_mean);
  g_assert_cmpfloat (q8.top1_agreement, >, q4.top1_agreement);
  g_assert_cmpfloat (q4.kl_median, <=, q4.kl_p99);
  g_assert_cmpfloat (q4.kl_p99, <=, q4.kl_max);
  /* stories260K's rows (64 and 172 wide) fit no 256-element block: Q2_K
   * falls back to Q4_0 and loses exactly as much. */
  g_assert_cmpfloat (q2.kl_mean, ==, q4.kl_mean);
}

/* Where rows fit the K-quant blocks, Q2_K loses more than Q4_0. */
static void
test_synthetic_order (void)
{
  g_autofree char *gguf = NULL, *bin = NULL, *text = NULL;
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), "synth.gguf", NULL);
  g_autofree char *ref = g_build_filename (lathe_test_tmpdir (), "synth.logits", NULL);
  g_autoptr (LatheModel) m = NULL;
  lk_synth_params sp;
  lk_error err = { 0 };
  lk_eval_result self, q4, q2;

  if (!shared_paths (&gguf, &bin, &text))
    return;
  lk_synth_params_init (&sp);
  sp.n_embd = 256;
  sp.n_layer = 2;
  sp.n_head = sp.n_head_kv = 4;
  sp.n_ff = 512;
  sp.n_ctx = 128;
  sp.type = LK_TYPE_F32;
  sp.vocab_path = gguf;
  g_assert_cmpint (lk_synth (&sp, path, &err), ==, LK_OK);
  m = load (path);
  eval_ok (m, text, NULL, 12, ref, &self);
  q4 = eval_variant (m, "Q4_0", text, ref);
  q2 = eval_variant (m, "Q2_K", text, ref);
  g_assert_cmpfloat (q4.kl_mean, >, 0.0);
  g_assert_cmpfloat (q4.kl_mean, <, q2.kl_mean);
  g_assert_cmpfloat (q4.top1_agreement, >, q2.top1_agreement);
}

/* A live reference and the same reference saved to a file agree exactly. */
static void
test_saved_reference (void)
{
  g_autofree char *gguf = NULL, *bin = NULL, *text = NULL;
  g_autofree char *saved = NULL, *q4 = NULL;
  g_autoptr (LatheModel) orig = NULL, m = NULL;
  lk_eval_result live, from_file, self;

  if (!shared_paths (&gguf, &bin, &text))
    return;
  orig = load (gguf);
  q4 = quantized (orig, "Q4_0");
  m = load (q4);
  saved = g_build_filename (lathe_test_tmpdir (), "bin.logits", NULL);
  eval_ok (m, text, bin, 8, saved, &live);
  g_assert_true (lathe_eval_is_reference_file (saved));
  g_assert_false (lathe_eval_is_reference_file (bin));
  eval_ok (m, text, saved, 0, NULL, &from_file);
  g_assert_cmpuint (from_file.tokens, ==, live.tokens);
  g_assert_cmpfloat (from_file.kl_mean, ==, live.kl_mean);
  g_assert_cmpfloat (from_file.kl_p99, ==, live.kl_p99);
  g_assert_cmpfloat (from_file.top1_agreement, ==, live.top1_agreement);
  g_assert_cmpfloat (from_file.perplexity, ==, live.perplexity);
  eval_ok (orig, text, saved, 0, NULL, &self);
  g_assert_cmpfloat (self.kl_mean, ==, 0.0);
}

static void
eval_fails (LatheModel *m, const char *text, const char *ref, int n_ctx, const char *save,
            const char *expected)
{
  LatheEvalOptions o;
  g_autoptr (GError) error = NULL;
  lk_eval_result r;

  lathe_eval_options_init (&o);
  o.n_ctx = n_ctx;
  o.save_ref = save;
  g_assert_false (lathe_eval_run (m, text, ref, &o, &r, NULL, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, expected));
}

static void
test_errors (void)
{
  g_autofree char *gguf = NULL, *bin = NULL, *text = NULL;
  const char *dir = lathe_test_tmpdir ();
  g_autofree char *short_text = g_build_filename (dir, "short.txt", NULL);
  g_autofree char *other_text = g_build_filename (dir, "other.txt", NULL);
  g_autofree char *saved = g_build_filename (dir, "e.logits", NULL);
  g_autofree char *synth = g_build_filename (dir, "e-synth.gguf", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.txt", NULL);
  g_autofree char *kept = g_build_filename (dir, "kept.logits", NULL);
  g_autofree char *contents = NULL;
  g_autoptr (LatheModel) m = NULL, other = NULL;
  lk_synth_params sp;
  lk_error err = { 0 };
  lk_eval_result r;

  if (!shared_paths (&gguf, &bin, &text))
    return;
  m = load (gguf);
  g_assert_true (g_file_set_contents (short_text, "Once upon a time there was a cat.", -1, NULL));
  eval_fails (m, short_text, NULL, 0, NULL, "shorter than the context");
  eval_fails (m, missing, NULL, 0, NULL, "missing.txt");
  eval_fails (m, text, NULL, 100000, NULL, "context");
  /* A reference made from other text. */
  eval_ok (m, text, NULL, 2, saved, &r);
  contents = lathe_test_read (text, NULL);
  g_assert_true (g_file_set_contents (other_text, contents + 5000, -1, NULL));
  eval_fails (m, other_text, saved, 0, NULL, "tokens: chunk 0 differs");
  /* A reference from a model of another vocabulary. */
  lk_synth_params_init (&sp);
  sp.n_embd = 64;
  sp.n_layer = 1;
  sp.n_head = sp.n_head_kv = 2;
  sp.n_ff = 128;
  sp.n_ctx = 128;
  sp.vocab_path = gguf;
  sp.n_vocab = 600;
  g_assert_cmpint (lk_synth (&sp, synth, &err), ==, LK_OK);
  other = load (synth);
  eval_fails (other, text, saved, 0, NULL, "lathe.eval.n_vocab");
  eval_fails (m, text, synth, 0, NULL, "vocabulary");
  /* Saving over a saved reference from a saved reference is refused, and
   * a failed run leaves an existing file alone. */
  g_assert_true (g_file_set_contents (kept, "keep", -1, NULL));
  eval_fails (m, short_text, NULL, 0, kept, "shorter than the context");
  g_free (contents);
  contents = lathe_test_read (kept, NULL);
  g_assert_cmpstr (contents, ==, "keep");
  eval_fails (m, text, saved, 0, kept, "--save-ref needs a reference model");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/core/eval/perplexity", test_perplexity);
  g_test_add_func ("/lathe/core/eval/self", test_self);
  g_test_add_func ("/lathe/core/eval/quantized-order", test_quantized_order);
  g_test_add_func ("/lathe/core/eval/synthetic-order", test_synthetic_order);
  g_test_add_func ("/lathe/core/eval/saved-reference", test_saved_reference);
  g_test_add_func ("/lathe/core/eval/errors", test_errors);
  return g_test_run ();
}
