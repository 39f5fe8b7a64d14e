/* SPDX-License-Identifier: MIT */
/* Generation on the real model against its reference text, logits across
 * file formats, the KV cache, sampling, and synthetic architectures. */
#include <math.h>
#include <string.h>

#include "lathe-test.h"
#include "lk-context.h"
#include "lk-export.h"
#include "lk-generate.h"
#include "lk-imatrix.h"
#include "lk-model.h"
#include "lk-quantize.h"

static lk_model *
open_model (const char *rel, const char *tok_rel)
{
  g_autofree char *path = lathe_test_shared (rel);
  g_autofree char *tok = tok_rel ? lathe_test_shared (tok_rel) : NULL;
  lk_model_params p;
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (path == NULL || (tok_rel != NULL && tok == NULL))
    return NULL;
  lk_model_params_init (&p);
  p.tokenizer_path = tok;
  if (lk_model_open (path, &p, &m, &err) != LK_OK)
    g_error ("%s", err.message);
  return m;
}

static lk_ctx *
new_ctx (const lk_model *m, int n_ctx, int n_batch, int n_threads)
{
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };

  lk_ctx_params_init (&cp);
  cp.n_ctx = n_ctx;
  cp.n_batch = n_batch;
  cp.n_threads = n_threads;
  if (lk_ctx_new (m, &cp, &ctx, &err) != LK_OK)
    g_error ("%s", err.message);
  return ctx;
}

typedef struct
{
  GString *text;
  GArray *ids;
} Collect;

static const float *
imatrix_importance (void *user, const char *name, int64_t n_cols)
{
  return lk_imatrix_mean_square (user, name, n_cols);
}

/* Lathe writes IQ4_XS, IQ4_NL, MXFP4, TQ2_0 and TQ1_0 from the F32 model and
 * llama.cpp's importance matrix: every tensor's bytes are llama.cpp's. */
/* The grid types (IQ2_XXS … IQ3_S): Lathe's own search (not llama.cpp's bytes); without
 * an importance matrix they are refused by tensor. */
static void
check_grid_writer (const lk_model *src, lk_imatrix *im, lk_type type)
{
  g_autofree char *name = g_strdup_printf ("%s.gguf", lk_type_name (type));
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), name, NULL);
  lk_quantize_params qp;
  lk_model *m = NULL;
  lk_error err = { 0 };

  lk_quantize_params_init (&qp);
  qp.type = type;
  g_assert_cmpint (lk_quantize_model (src, out, &qp, NULL, &err), ==, LK_ERR_INVALID);
  g_assert_nonnull (strstr (err.message, "needs an importance matrix with its columns (give --imatrix"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  qp.importance = imatrix_importance;
  qp.user = im;
  /* Pure, the embedding (which no imatrix has) is refused by name. */
  qp.mix = LK_MIX_PURE;
  g_assert_cmpint (lk_quantize_model (src, out, &qp, NULL, &err), ==, LK_ERR_INVALID);
  g_assert_nonnull (strstr (err.message, "tensor 'token_embd.weight': IQ"));
  /* The default mix gives it Q2_K, as llama.cpp does. */
  qp.mix = LK_MIX_NONE;
  if (lk_quantize_model (src, out, &qp, NULL, &err) != LK_OK)
    g_error ("%s", err.message);
  g_assert_cmpint (lk_model_open (out, NULL, &m, &err), ==, LK_OK);
  g_assert_cmpint (lk_model_layer (m, 0)->ffn_up->type, ==, type);
  g_assert_cmpint (lk_model_find_tensor (m, "token_embd.weight")->type, ==,
                   type == LK_TYPE_IQ3_XXS || type == LK_TYPE_IQ3_S ? LK_TYPE_Q3_K : LK_TYPE_Q2_K);
  lk_model_free (m);
}

static void
test_quantize_as_llama_cpp (void)
{
  const char *const types[] = { "IQ4_XS", "IQ4_NL", "MXFP4", "TQ2_0", "TQ1_0" };
  lk_model *src = open_model ("interop/tiny-F32.gguf", NULL);
  g_autofree char *imatrix = lathe_test_shared ("interop/tiny.imatrix");
  lk_imatrix *im = NULL;
  lk_error err = { 0 };

  if (src == NULL || imatrix == NULL)
    {
      lk_model_free (src);
      return;
    }
  g_assert_cmpint (lk_imatrix_load (imatrix, &im, &err), ==, LK_OK);
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "iq.gguf", NULL);
      g_autofree char *rel = g_strdup_printf ("interop/tiny-%s.gguf", strcmp (types[i], "MXFP4") == 0 ? "MXFP4_MOE" : types[i]);
      g_autofree char *theirs_path = lathe_test_shared (rel);
      lk_quantize_params qp;
      lk_gguf *mine = NULL, *theirs = NULL;
      lk_quantize_params_init (&qp);
      qp.type = lk_type_from_name (types[i]);
      qp.mix = LK_MIX_PURE;
      qp.importance = imatrix_importance;
      qp.user = im;
      g_assert_true (lk_quantize_can_write (qp.type));
      g_assert_cmpint (lk_quantize_model (src, out, &qp, NULL, &err), ==, LK_OK);
      g_assert_cmpint (lk_gguf_open (out, LK_LOAD_READ, &mine, &err), ==, LK_OK);
      g_assert_cmpint (lk_gguf_open (theirs_path, LK_LOAD_READ, &theirs, &err), ==, LK_OK);
      g_assert_cmpuint (lk_gguf_n_tensors (mine), ==, lk_gguf_n_tensors (theirs));
      for (size_t k = 0; k < lk_gguf_n_tensors (theirs); k++)
        {
          const lk_gguf_tensor *t = lk_gguf_tensor_at (theirs, k), *m = lk_gguf_find_tensor (mine, t->name);
          g_assert_nonnull (m);
          g_assert_cmpint (m->type, ==, t->type);
          g_assert_cmpmem (m->data, m->nbytes, t->data, t->nbytes);
        }
      g_test_message ("%s: %zu tensors, the bytes llama.cpp wrote", types[i], lk_gguf_n_tensors (theirs));
      lk_gguf_free (mine);
      lk_gguf_free (theirs);
    }
  check_grid_writer (src, im, LK_TYPE_IQ2_XXS);
  check_grid_writer (src, im, LK_TYPE_IQ2_XS);
  check_grid_writer (src, im, LK_TYPE_IQ2_S);
  check_grid_writer (src, im, LK_TYPE_IQ3_XXS);
  check_grid_writer (src, im, LK_TYPE_IQ3_S);
  check_grid_writer (src, im, LK_TYPE_IQ1_S);
  check_grid_writer (src, im, LK_TYPE_IQ1_M);
  lk_imatrix_free (im);
  lk_model_free (src);
}

static bool
collect_cb (void *user, int32_t token, const char *piece, size_t len)
{
  Collect *c = user;

  g_string_append_len (c->text, piece, (gssize) len);
  g_array_append_val (c->ids, token);
  return true;
}

static char *
generate_greedy (const lk_model *m, const char *prompt, int n, int n_ctx, GArray **ids_out)
{
  lk_ctx *ctx = new_ctx (m, n_ctx, 0, 0);
  lk_generate_params gp;
  lk_generate_stats st;
  lk_error err = { 0 };
  Collect c = { g_string_new (prompt), g_array_new (FALSE, FALSE, sizeof (int32_t)) };

  lk_generate_params_init (&gp);
  gp.sampling.temperature = 0.0f;
  gp.n_predict = n;
  gp.on_token = collect_cb;
  gp.user = &c;
  g_assert_cmpint (lk_generate (ctx, prompt, &gp, &st, &err), ==, LK_OK);
  g_assert_cmpint (st.n_generated, ==, n);
  lk_ctx_free (ctx);
  if (ids_out)
    *ids_out = c.ids;
  else
    g_array_unref (c.ids);
  return g_string_free (c.text, FALSE);
}

/* The reference text, generated token for token from the llama2.c files. */
static void
test_reference_bin (void)
{
  lk_model *m = open_model ("models/stories260K.bin", "models/tok512.bin");
  g_autofree char *ref = lathe_test_reference_text ();
  g_autofree char *out = NULL;
  g_autoptr (GArray) ids = NULL;
  lk_tokens ref_toks = { 0 }, prompt_toks = { 0 };
  lk_error err = { 0 };

  if (m == NULL || ref == NULL)
    {
      lk_model_free (m);
      return;
    }
  g_assert_true (g_str_has_prefix (ref, "Once upon a time"));
  /* The reference ends with the second line's newline. */
  g_assert_cmpint (lk_vocab_tokenize (lk_model_vocab (m), ref, strlen (ref) - 1, true, false,
                                      &ref_toks, &err), ==, LK_OK);
  g_assert_cmpint (lk_vocab_tokenize (lk_model_vocab (m), "Once upon a time", 16, true, false,
                                      &prompt_toks, &err), ==, LK_OK);
  out = generate_greedy (m, "Once upon a time", (int) (ref_toks.n - prompt_toks.n), 0, &ids);
  if (!g_str_has_prefix (out, ref) && !g_str_has_prefix (ref, out))
    g_error ("generated:\n%s\nreference:\n%s", out, ref);
  g_assert_true (g_str_has_prefix (ref, out) || g_str_has_prefix (out, ref));
  g_assert_cmpuint (strlen (out), >=, strlen (ref) - 1);
  /* Token for token: the generated ids are the reference's own tokens. */
  g_assert_cmpmem (ids->data, ids->len * sizeof (int32_t), ref_toks.ids + prompt_toks.n,
                   (ref_toks.n - prompt_toks.n) * sizeof (int32_t));
  lk_tokens_clear (&ref_toks);
  lk_tokens_clear (&prompt_toks);
  lk_model_free (m);
}

/* llama.cpp's own conversion generates the same text. */
static void
test_reference_gguf (void)
{
  lk_model *m = open_model ("models/stories260K.gguf", NULL);
  g_autofree char *ref = lathe_test_reference_text ();
  g_autofree char *out = NULL;

  if (m == NULL || ref == NULL)
    {
      lk_model_free (m);
      return;
    }
  /* That file says context_length 128; the model was trained at 512. */
  out = generate_greedy (m, "Once upon a time", 100, 512, NULL);
  g_assert_true (g_str_has_prefix (out, ref) || g_str_has_prefix (ref, out));
  g_assert_cmpuint (strlen (out), >, 200);
  lk_model_free (m);
}

static float *
all_logits_kv (const lk_model *m, const int32_t *toks, int n, int n_batch, lk_type kv_type)
{
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  const int nv = lk_model_hparams (m)->n_vocab;
  float *out = g_new (float, (gsize) n * nv);
  lk_error err = { 0 };

  lk_ctx_params_init (&cp);
  cp.n_ctx = 512;
  cp.n_batch = n_batch;
  cp.kv_type = kv_type;
  if (lk_ctx_new (m, &cp, &ctx, &err) != LK_OK)
    g_error ("%s", err.message);
  /* Token by token after the first few: the cache is read back each step. */
  g_assert_cmpint (lk_ctx_decode (ctx, toks, MIN (n, 4), true, &err), ==, LK_OK);
  for (int i = 0; i < MIN (n, 4); i++)
    memcpy (out + (gsize) i * nv, lk_ctx_logits (ctx, i), nv * sizeof (float));
  for (int i = 4; i < n; i++)
    {
      g_assert_cmpint (lk_ctx_decode (ctx, &toks[i], 1, false, &err), ==, LK_OK);
      memcpy (out + (gsize) i * nv, lk_ctx_logits (ctx, -1), nv * sizeof (float));
    }
  lk_ctx_free (ctx);
  return out;
}

static float *
all_logits (const lk_model *m, const int32_t *toks, int n, int n_batch)
{
  lk_ctx *ctx = new_ctx (m, 512, n_batch, 0);
  const int nv = lk_model_hparams (m)->n_vocab;
  float *out = g_new (float, (gsize) n * nv);
  lk_error err = { 0 };

  g_assert_cmpint (lk_ctx_decode (ctx, toks, n, true, &err), ==, LK_OK);
  for (int i = 0; i < n; i++)
    memcpy (out + (gsize) i * nv, lk_ctx_logits (ctx, i), nv * sizeof (float));
  lk_ctx_free (ctx);
  return out;
}

static lk_tokens
eval_tokens (const lk_model *m, gsize max_bytes)
{
  g_autofree char *path = lathe_test_shared ("eval/tinystories-valid-head.txt");
  g_autofree char *text = NULL;
  lk_tokens t = { 0 };
  lk_error err = { 0 };
  gsize len;

  g_assert_nonnull (path);
  text = lathe_test_read (path, &len);
  g_assert_cmpint (lk_vocab_tokenize (lk_model_vocab (m), text, MIN (len, max_bytes), true,
                                      false, &t, &err), ==, LK_OK);
  return t;
}

/* convert writes a GGUF whose logits are those of the .bin, bit for bit;
 * llama.cpp's conversion gives them too. */
static void
test_convert_logits (void)
{
  lk_model *bin = open_model ("models/stories260K.bin", "models/tok512.bin");
  lk_model *theirs = bin ? open_model ("models/stories260K.gguf", NULL) : NULL;
  g_autofree char *out = g_build_filename (lathe_test_tmpdir (), "converted.gguf", NULL);
  lk_model *conv = NULL;
  lk_error err = { 0 };
  lk_tokens t;
  g_autofree float *a = NULL, *b = NULL, *c = NULL;
  gsize n;

  if (theirs == NULL)
    {
      lk_model_free (bin);
      return;
    }
  g_assert_cmpint (lk_model_save_gguf (bin, out, &err), ==, LK_OK);
  g_assert_cmpint (lk_model_open (out, NULL, &conv, &err), ==, LK_OK);
  g_assert_cmpint (lk_model_hparams (conv)->n_ctx_train, ==, 512);
  g_assert_nonnull (lk_model_vocab (conv));
  t = eval_tokens (bin, 2000);
  g_assert_cmpuint (t.n, >, 200);
  t.n = MIN (t.n, 300);
  n = t.n * (gsize) lk_model_hparams (bin)->n_vocab;
  a = all_logits (bin, t.ids, (int) t.n, 0);
  b = all_logits (conv, t.ids, (int) t.n, 0);
  c = all_logits (theirs, t.ids, (int) t.n, 0);
  g_assert_cmpmem (a, n * sizeof (float), b, n * sizeof (float));
  g_assert_cmpmem (a, n * sizeof (float), c, n * sizeof (float));
  lk_tokens_clear (&t);
  lk_model_free (conv);
  lk_model_free (theirs);
  lk_model_free (bin);
}

/* Prompt processing in batches of any size, and one token at a time, fill
 * the KV cache alike.  Batched and single-token matmuls sum in different
 * orders (tiles versus rows), so logits agree to float rounding, not bits;
 * rounding grows through the layers to about 5e-3 on stories260K. */
#define BATCH_TOL 1e-2
static void
test_batching (void)
{
  lk_model *m = open_model ("models/stories260K.gguf", NULL);
  const int batches[] = { 1, 7, 64, 512 };
  g_autofree float *ref = NULL;
  lk_tokens t;
  int nv;

  if (m == NULL)
    return;
  nv = lk_model_hparams (m)->n_vocab;
  t = eval_tokens (m, 1500);
  t.n = MIN (t.n, 200);
  ref = all_logits (m, t.ids, (int) t.n, 512);
  for (gsize b = 0; b < G_N_ELEMENTS (batches); b++)
    {
      g_autofree float *l = all_logits (m, t.ids, (int) t.n, batches[b]);
      for (gsize i = 0; i < t.n * (gsize) nv; i++)
        g_assert_cmpfloat_with_epsilon (l[i], ref[i], BATCH_TOL);
    }
  /* Incremental decoding with the last logits only. */
  {
    lk_ctx *ctx = new_ctx (m, 512, 0, 2);
    lk_error err = { 0 };
    for (gsize i = 0; i < t.n; i++)
      {
        g_assert_cmpint (lk_ctx_decode (ctx, &t.ids[i], 1, false, &err), ==, LK_OK);
        for (int j = 0; j < nv; j += 17)
          g_assert_cmpfloat_with_epsilon (lk_ctx_logits (ctx, -1)[j], ref[i * nv + j], BATCH_TOL);
      }
    /* Rewinding and decoding again gives the same logits. */
    lk_ctx_truncate (ctx, 10);
    g_assert_cmpint (lk_ctx_n_past (ctx), ==, 10);
    g_assert_cmpint (lk_ctx_decode (ctx, &t.ids[10], 1, false, &err), ==, LK_OK);
    g_assert_cmpfloat_with_epsilon (lk_ctx_logits (ctx, -1)[3], ref[10 * nv + 3], BATCH_TOL);
    lk_ctx_free (ctx);
  }
  lk_tokens_clear (&t);
  lk_model_free (m);
}

static char *
generate_sampled (const lk_model *m, uint64_t seed, float temp)
{
  lk_ctx *ctx = new_ctx (m, 512, 0, 0);
  lk_generate_params gp;
  lk_generate_stats st;
  lk_error err = { 0 };
  Collect c = { g_string_new (NULL), g_array_new (FALSE, FALSE, sizeof (int32_t)) };

  lk_generate_params_init (&gp);
  gp.sampling.temperature = temp;
  gp.sampling.top_k = 40;
  gp.sampling.top_p = 0.9f;
  gp.sampling.min_p = 0.05f;
  gp.sampling.repeat_penalty = 1.1f;
  gp.sampling.seed = seed;
  gp.n_predict = 80;
  gp.on_token = collect_cb;
  gp.user = &c;
  g_assert_cmpint (lk_generate (ctx, "Tim and Sue", &gp, &st, &err), ==, LK_OK);
  lk_ctx_free (ctx);
  g_array_unref (c.ids);
  return g_string_free (c.text, FALSE);
}

static void
test_sampling_seed (void)
{
  lk_model *m = open_model ("models/stories260K.gguf", NULL);
  g_autofree char *a = NULL, *b = NULL, *c = NULL, *d = NULL;

  if (m == NULL)
    return;
  a = generate_sampled (m, 7, 1.0f);
  b = generate_sampled (m, 7, 1.0f);
  c = generate_sampled (m, 8, 1.0f);
  d = generate_sampled (m, 8, 1.0f);
  g_assert_cmpstr (a, ==, b);
  g_assert_cmpstr (c, ==, d);
  g_assert_cmpstr (a, !=, c);
  g_assert_cmpuint (strlen (a), >, 100);
  lk_model_free (m);
}

static void
test_sampler_unit (void)
{
  lk_sampler_params p;
  lk_sampler *s;
  float logits[6] = { 0.0f, 5.0f, 1.0f, 4.9f, -3.0f, 2.0f };
  int counts[6] = { 0 };

  lk_sampler_params_init (&p);
  p.temperature = 0.0f;
  s = lk_sampler_new (&p, 6);
  g_assert_cmpint (lk_sampler_sample (s, logits), ==, 1);
  /* The repetition penalty can turn the choice. */
  lk_sampler_free (s);
  p.repeat_penalty = 1.5f;
  s = lk_sampler_new (&p, 6);
  lk_sampler_accept (s, 1);
  g_assert_cmpint (lk_sampler_sample (s, logits), ==, 3);
  lk_sampler_free (s);
  /* top-k 2 only ever picks the two best. */
  lk_sampler_params_init (&p);
  p.temperature = 1.0f;
  p.top_k = 2;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  s = lk_sampler_new (&p, 6);
  for (int i = 0; i < 2000; i++)
    counts[lk_sampler_sample (s, logits)]++;
  g_assert_cmpint (counts[0] + counts[2] + counts[4] + counts[5], ==, 0);
  g_assert_cmpint (counts[1], >, 900);
  g_assert_cmpint (counts[3], >, 800);
  lk_sampler_free (s);
}

static lk_model *
synth_model (const char *name, lk_arch arch, lk_type type, bool tied, int heads, int kv_heads)
{
  g_autofree char *vocab = lathe_test_shared ("vocab/ggml-vocab-gpt-2.gguf");
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), name, NULL);
  lk_synth_params p;
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (vocab == NULL)
    return NULL;
  lk_synth_params_init (&p);
  p.arch = arch;
  p.n_embd = 128;
  p.n_layer = 2;
  p.n_head = heads;
  p.n_head_kv = kv_heads;
  p.n_ff = 320;
  p.n_ctx = 256;
  p.tied = tied;
  p.type = type;
  p.vocab_path = vocab;
  if (lk_synth (&p, path, &err) != LK_OK || lk_model_open (path, NULL, &m, &err) != LK_OK)
    g_error ("%s", err.message);
  return m;
}

/* Synthetic llama (GQA, untied) and qwen2 (biases, NeoX RoPE, tied) run;
 * an F16 copy of the same weights gives nearly the same logits. */
static void
test_synth_architectures (void)
{
  const struct
  {
    lk_arch arch;
    bool tied;
    int heads, kv;
  } cases[] = { { LK_ARCH_LLAMA, false, 8, 2 }, { LK_ARCH_QWEN2, true, 4, 4 } };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *n32 = g_strdup_printf ("synth-%zu-f32.gguf", i);
      g_autofree char *n16 = g_strdup_printf ("synth-%zu-f16.gguf", i);
      lk_model *m32 = synth_model (n32, cases[i].arch, LK_TYPE_F32, cases[i].tied,
                                   cases[i].heads, cases[i].kv);
      lk_model *m16 = m32 ? synth_model (n16, cases[i].arch, LK_TYPE_F16, cases[i].tied,
                                         cases[i].heads, cases[i].kv) : NULL;
      const int32_t toks[6] = { 464, 3290, 318, 257, 1332, 13 };
      g_autofree float *a = NULL, *b = NULL;
      int nv;
      if (m16 == NULL)
        {
          lk_model_free (m32);
          return;
        }
      g_assert_cmpint (lk_model_hparams (m32)->arch, ==, cases[i].arch);
      g_assert_cmpint (lk_model_output_tied (m32), ==, cases[i].tied);
      g_assert_cmpint (lk_model_hparams (m32)->rope_neox, ==, cases[i].arch == LK_ARCH_QWEN2);
      g_assert_cmpint (lk_model_layer (m32, 1)->n_head_kv, ==, cases[i].kv);
      g_assert_true ((lk_model_layer (m32, 0)->bq != NULL) == (cases[i].arch == LK_ARCH_QWEN2));
      nv = lk_model_hparams (m32)->n_vocab;
      a = all_logits (m32, toks, 6, 0);
      b = all_logits (m16, toks, 6, 0);
      for (gsize j = 0; j < 6 * (gsize) nv; j++)
        {
          g_assert_true (isfinite (a[j]));
          g_assert_cmpfloat_with_epsilon (a[j], b[j], 0.02 + 0.02 * fabs (a[j]));
        }
      lk_model_free (m32);
      lk_model_free (m16);
    }
}

static double
relative_rms (const float *a, const float *ref, gsize n)
{
  double err2 = 0, sig2 = 0;

  for (gsize j = 0; j < n; j++)
    {
      err2 += (a[j] - ref[j]) * (a[j] - ref[j]);
      sig2 += ref[j] * ref[j];
    }
  return sqrt (err2 / sig2);
}

/* F16 and Q8_0 KV caches follow the F32 one; a Q8_0 cache on heads that are
 * not whole blocks is refused with a reason. */
static void
test_kv_types (void)
{
  lk_model *m = synth_model ("synth-kv.gguf", LK_ARCH_LLAMA, LK_TYPE_F32, false, 4, 2);
  lk_model *small = open_model ("models/stories260K.gguf", NULL);
  int32_t toks[48];
  g_autofree float *l32 = NULL, *l16 = NULL, *l8 = NULL;
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };
  double e16, e8;
  gsize n;

  if (m == NULL || small == NULL)
    {
      lk_model_free (m);
      lk_model_free (small);
      return;
    }
  g_assert_cmpint (lk_model_hparams (m)->head_dim, ==, 32);
  for (int i = 0; i < 48; i++)
    toks[i] = (i * 7919 + 13) % 50000;
  n = 48 * (gsize) lk_model_hparams (m)->n_vocab;
  l32 = all_logits_kv (m, toks, 48, 0, LK_TYPE_F32);
  l16 = all_logits_kv (m, toks, 48, 0, LK_TYPE_F16);
  l8 = all_logits_kv (m, toks, 48, 0, LK_TYPE_Q8_0);
  e16 = relative_rms (l16, l32, n);
  e8 = relative_rms (l8, l32, n);
  g_test_message ("KV cache: relative RMS logit error F16 %.5f, Q8_0 %.5f", e16, e8);
  g_assert_cmpfloat (e16, <, 2e-3);
  g_assert_cmpfloat (e8, <, 2e-2);
  g_assert_cmpfloat (e8, >, e16); /* it did quantize */

  lk_ctx_params_init (&cp);
  cp.kv_type = LK_TYPE_Q8_0;
  g_assert_cmpint (lk_ctx_new (small, &cp, &ctx, &err), ==, LK_ERR_INVALID);
  g_assert_nonnull (strstr (err.message, "multiple of 32"));
  g_assert_null (ctx);
  lk_model_free (m);
  lk_model_free (small);
}

/* Every block type of the interop set runs, and its logits follow the F32
 * model's. */
static void
test_interop_models (void)
{
  /* Random weights amplify quantization error in the logits; the bounds are
   * about 1.5 times the reference path's error, which grows as bits shrink. */
  const struct
  {
    const char *type;
    double max_err;
  } types[] = {
    { "F16", 0.002 },  { "BF16", 0.01 },  { "Q8_0", 0.045 },  { "Q6_K", 0.14 },
    { "Q5_1", 0.25 },  { "Q5_K_M", 0.29 }, { "Q5_0", 0.36 },  { "Q4_1", 0.5 },
    { "Q4_K_M", 0.55 }, { "Q4_0", 0.67 }, { "Q3_K_M", 0.95 }, { "Q2_K", 1.5 },
    { "IQ4_NL", 0.58 }, { "IQ4_XS", 0.58 }, { "MXFP4_MOE", 0.8 }, { "IQ3_S", 0.95 }, { "IQ3_XXS", 1.2 },
    { "IQ2_S", 1.4 }, { "IQ2_XS", 1.4 }, { "IQ2_XXS", 1.55 }, { "IQ1_M", 2.1 }, { "IQ1_S", 1.6 },
    { "TQ2_0", 2.0 }, { "TQ1_0", 2.0 },
  };
  lk_model *ref = open_model ("interop/tiny-F32.gguf", NULL);
  const int32_t toks[8] = { 1, 403, 407, 261, 378, 300, 261, 313 };
  g_autofree float *lr = NULL;
  int nv;

  if (ref == NULL)
    return;
  nv = lk_model_hparams (ref)->n_vocab;
  lr = all_logits (ref, toks, 8, 0);
  for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autofree char *rel = g_strdup_printf ("interop/tiny-%s.gguf", types[i].type);
      lk_model *m = open_model (rel, NULL);
      g_autofree float *l = all_logits (m, toks, 8, 0);
      double err2 = 0, sig2 = 0;
      for (gsize j = 0; j < 8 * (gsize) nv; j++)
        {
          err2 += (l[j] - lr[j]) * (l[j] - lr[j]);
          sig2 += lr[j] * lr[j];
        }
      g_test_message ("%s: relative RMS logit error %.4f", types[i].type, sqrt (err2 / sig2));
      g_assert_cmpfloat (sqrt (err2 / sig2), <, types[i].max_err);
      lk_model_free (m);
    }
  lk_model_free (ref);
}

static bool
cancel_after_cb (void *user, int32_t token, const char *piece, size_t len)
{
  int *left = user;

  return --*left > 0;
}

static void
test_stops (void)
{
  lk_model *m = open_model ("models/stories260K.gguf", NULL);
  lk_generate_params gp;
  lk_generate_stats st;
  lk_error err = { 0 };
  atomic_int cancel = 1;
  lk_ctx *ctx;
  int left = 5;

  if (m == NULL)
    return;
  lk_generate_params_init (&gp);
  gp.sampling.temperature = 0;
  gp.n_predict = 0;
  ctx = new_ctx (m, 40, 0, 0);
  g_assert_cmpint (lk_generate (ctx, "Once upon a time", &gp, &st, &err), ==, LK_OK);
  g_assert_cmpint (st.stop, ==, LK_STOP_CONTEXT);
  g_assert_cmpint (st.n_prompt + st.n_generated, ==, 41);
  gp.cancel = &cancel;
  g_assert_cmpint (lk_generate (ctx, "Once upon a time", &gp, &st, &err), ==, LK_OK);
  g_assert_cmpint (st.stop, ==, LK_STOP_CANCELLED);
  g_assert_cmpint (st.n_generated, ==, 0);
  gp.cancel = NULL;
  gp.on_token = cancel_after_cb;
  gp.user = &left;
  g_assert_cmpint (lk_generate (ctx, "Once upon a time", &gp, &st, &err), ==, LK_OK);
  g_assert_cmpint (st.stop, ==, LK_STOP_CALLBACK);
  g_assert_cmpint (st.n_generated, ==, 5);
  /* A prompt longer than the context is an error, not a crash. */
  {
    g_autofree char *longp = g_strnfill (400, 'a');
    g_assert_cmpint (lk_generate (ctx, longp, &gp, &st, &err), ==, LK_ERR_INVALID);
    g_assert_nonnull (strstr (err.message, "context"));
  }
  lk_ctx_free (ctx);
  lk_model_free (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/engine/model/reference-bin", test_reference_bin);
  g_test_add_func ("/lathe/engine/model/reference-gguf", test_reference_gguf);
  g_test_add_func ("/lathe/engine/model/convert-logits", test_convert_logits);
  g_test_add_func ("/lathe/engine/model/batching", test_batching);
  g_test_add_func ("/lathe/engine/model/sampling-seed", test_sampling_seed);
  g_test_add_func ("/lathe/engine/model/sampler", test_sampler_unit);
  g_test_add_func ("/lathe/engine/model/synth-architectures", test_synth_architectures);
  g_test_add_func ("/lathe/engine/model/kv-types", test_kv_types);
  g_test_add_func ("/lathe/engine/model/interop", test_interop_models);
  g_test_add_func ("/lathe/engine/model/quantize-as-llama-cpp", test_quantize_as_llama_cpp);
  g_test_add_func ("/lathe/engine/model/stops", test_stops);
  return g_test_run ();
}
