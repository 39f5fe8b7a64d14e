/* SPDX-License-Identifier: MIT */
/* llama2.c checkpoints: the three layouts give the same model, and damaged
 * checkpoints and tokenizers give clear errors. */
#include <math.h>
#include <string.h>

#include "lathe-test.h"
#include "lk-context.h"
#include "lk-model.h"

typedef struct
{
  int32_t dim, hidden, layers, heads, kv_heads, vocab, seq;
} Config;

/* Offsets (in floats, after the 28-byte header) of each kind in the legacy
 * layout: embedding, attn_norm, wq, wk, wv, wo, ffn_norm, w1, w2, w3, final norm. */
static void
legacy_kinds (const Config *c, gsize off[11], gsize len[11])
{
  const gsize hd = (gsize) (c->dim / c->heads), L = (gsize) c->layers, d = (gsize) c->dim;
  const gsize sizes[11] = {
    (gsize) c->vocab * d, L * d, L * d * c->heads * hd, L * d * c->kv_heads * hd,
    L * d * c->kv_heads * hd, L * c->heads * hd * d, L * d, L * d * c->hidden,
    L * c->hidden * d, L * d * c->hidden, d,
  };
  gsize o = 0;

  for (int i = 0; i < 11; i++)
    {
      off[i] = o;
      len[i] = sizes[i];
      o += sizes[i];
    }
}

static GByteArray *
make_v_header (const Config *c, int version, int group)
{
  GByteArray *b = g_byte_array_new ();
  const uint32_t magic = 0x616b3432;
  const int32_t v = version;
  const uint8_t shared = 1;

  g_byte_array_append (b, (const guint8 *) &magic, 4);
  g_byte_array_append (b, (const guint8 *) &v, 4);
  g_byte_array_append (b, (const guint8 *) c, sizeof *c);
  g_byte_array_append (b, &shared, 1);
  if (version == 2)
    g_byte_array_append (b, (const guint8 *) &group, 4);
  g_byte_array_set_size (b, 256);
  memset (b->data + 37 + (version == 2 ? 4 : 0), 0, 256 - 37 - (version == 2 ? 4 : 0));
  return b;
}

/* Rewrites the legacy stories260K checkpoint in the version 1 and version 2
 * layouts, as llama2.c's export.py writes them. */
static char *
write_version (const char *legacy, int version)
{
  g_autofree char *data = NULL;
  gsize size, off[11], len[11];
  const Config *c;
  const float *w;
  GByteArray *b;
  const int order_norms[3] = { 1, 6, 10 }, order_mats[8] = { 0, 2, 3, 4, 5, 7, 8, 9 };
  const int group = 32;
  char *path;
  g_autoptr (GError) error = NULL;

  data = lathe_test_read (legacy, &size);
  c = (const Config *) data;
  w = (const float *) (data + sizeof (Config));
  legacy_kinds (c, off, len);
  b = make_v_header (c, version, group);
  for (int i = 0; i < 3; i++)
    g_byte_array_append (b, (const guint8 *) (w + off[order_norms[i]]),
                         (guint) (len[order_norms[i]] * 4));
  for (int i = 0; i < 8; i++)
    {
      /* Version 2 quantizes each layer's tensor on its own. */
      const int kind = order_mats[i];
      const int n_parts = kind == 0 ? 1 : c->layers;
      const gsize n = len[kind] / (gsize) n_parts;
      for (int part = 0; part < n_parts; part++)
        {
          const float *x = w + off[kind] + (gsize) part * n;
          g_autofree int8_t *q = NULL;
          g_autofree float *s = NULL;
          if (version == 1)
            {
              g_byte_array_append (b, (const guint8 *) x, (guint) (n * 4));
              continue;
            }
          q = g_new (int8_t, n);
          s = g_new (float, n / group);
          for (gsize g = 0; g < n / group; g++)
            {
              float amax = 0;
              for (int j = 0; j < group; j++)
                amax = MAX (amax, fabsf (x[g * group + j]));
              s[g] = amax / 127.0f;
              for (int j = 0; j < group; j++)
                q[g * group + j] = (int8_t) roundf (s[g] > 0 ? x[g * group + j] / s[g] : 0);
            }
          g_byte_array_append (b, (const guint8 *) q, (guint) n);
          g_byte_array_append (b, (const guint8 *) s, (guint) (n / group * 4));
        }
    }
  path = g_build_filename (lathe_test_tmpdir (), version == 1 ? "v1.bin" : "v2.bin", NULL);
  g_file_set_contents (path, (const char *) b->data, b->len, &error);
  g_assert_no_error (error);
  g_byte_array_unref (b);
  return path;
}

static float *
logits_of (const char *path, const char *tok, int *n_vocab)
{
  lk_model_params p;
  lk_model *m = NULL;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };
  const int32_t toks[5] = { 1, 403, 407, 261, 378 };
  float *out;

  lk_model_params_init (&p);
  p.tokenizer_path = tok;
  if (lk_model_open (path, &p, &m, &err) != LK_OK)
    g_error ("%s", err.message);
  g_assert_cmpint (lk_ctx_new (m, NULL, &ctx, &err), ==, LK_OK);
  g_assert_cmpint (lk_ctx_decode (ctx, toks, 5, false, &err), ==, LK_OK);
  *n_vocab = lk_model_hparams (m)->n_vocab;
  out = g_memdup2 (lk_ctx_logits (ctx, -1), (gsize) *n_vocab * sizeof (float));
  lk_ctx_free (ctx);
  lk_model_free (m);
  return out;
}

static void
test_versions (void)
{
  g_autofree char *legacy = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *tok = lathe_test_shared ("models/tok512.bin");
  g_autofree char *v1 = NULL, *v2 = NULL;
  g_autofree float *a = NULL, *b = NULL, *c = NULL;
  int nv;

  if (legacy == NULL || tok == NULL)
    return;
  v1 = write_version (legacy, 1);
  v2 = write_version (legacy, 2);
  a = logits_of (legacy, tok, &nv);
  b = logits_of (v1, tok, &nv);
  c = logits_of (v2, tok, &nv);
  g_assert_cmpmem (a, nv * sizeof (float), b, nv * sizeof (float));
  for (int i = 0; i < nv; i++)
    g_assert_cmpfloat_with_epsilon (c[i], a[i], 0.15 + 0.05 * fabs (a[i]));
}

/* Damaged checkpoints and tokenizers ----------------------------------------- */

typedef struct
{
  const char *name;
  gboolean tokenizer;     /* damage the tokenizer instead of the model */
  int kind;
  const char *words[2];
} BadCase;

enum
{
  TRUNCATE,
  APPEND,
  NEG_LAYERS,
  HEADS_MISMATCH,
  HUGE_DIM,
  V1_BAD_VERSION,
  V2_BAD_GROUP,
  TOK_SHORT,
  TOK_LONG,
  TOK_BAD_LEN,
  TOK_BAD_MAX,
  TINY,
};

static const BadCase bad_cases[] = {
  { "truncated", FALSE, TRUNCATE, { "legacy", "bytes" } },
  { "trailing-bytes", FALSE, APPEND, { "legacy", "bytes" } },
  { "negative-layers", FALSE, NEG_LAYERS, { "n_layers", "positive" } },
  { "heads-mismatch", FALSE, HEADS_MISMATCH, { "n_heads", "multiple" } },
  { "huge-dim", FALSE, HUGE_DIM, { "implausibly", NULL } },
  { "v1-bad-version", FALSE, V1_BAD_VERSION, { "version", "7" } },
  { "v2-bad-group", FALSE, V2_BAD_GROUP, { "group_size", "divisor" } },
  { "too-short", FALSE, TINY, { "too short", NULL } },
  { "tokenizer-short", TRUE, TOK_SHORT, { "vocab_size", "512" } },
  { "tokenizer-long", TRUE, TOK_LONG, { "more tokens", NULL } },
  { "tokenizer-bad-len", TRUE, TOK_BAD_LEN, { "token 3", "len" } },
  { "tokenizer-bad-max", TRUE, TOK_BAD_MAX, { "max_token_length", NULL } },
};

static void
test_bad (gconstpointer data)
{
  const BadCase *c = data;
  g_autofree char *legacy = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *tok = lathe_test_shared ("models/tok512.bin");
  g_autofree char *bytes = NULL, *path = NULL;
  g_autoptr (GError) error = NULL;
  gsize size;
  lk_model_params p;
  lk_model *m = NULL;
  lk_error err = { 0 };
  Config *cfg;

  if (legacy == NULL || tok == NULL)
    return;
  bytes = lathe_test_read (c->tokenizer ? tok : legacy, &size);
  bytes = g_realloc (bytes, size + 64);
  cfg = (Config *) bytes;
  switch (c->kind)
    {
    case TRUNCATE: size -= 100; break;
    case APPEND: size += 4; break;
    case NEG_LAYERS: cfg->layers = -5; break;
    case HEADS_MISMATCH: cfg->heads = 7; break;
    case HUGE_DIM: cfg->dim = 1 << 28; cfg->heads = 1; cfg->kv_heads = 1; break;
    case TINY: size = 10; break;
    case V1_BAD_VERSION:
    case V2_BAD_GROUP:
      {
        g_autoptr (GByteArray) h = make_v_header (cfg, c->kind == V1_BAD_VERSION ? 7 : 2, 5);
        memcpy (bytes, h->data, 256);
        break;
      }
    case TOK_SHORT:
      size -= 1000;
      break;
    case TOK_LONG:
      {
        const float score = 0;
        const int32_t len = 2;
        memcpy (bytes + size, &score, 4);
        memcpy (bytes + size + 4, &len, 4);
        memcpy (bytes + size + 8, "zz", 2);
        size += 10;
        break;
      }
    case TOK_BAD_LEN:
      {
        /* Token 3 is "<0x00>": max_len (4) + 3 tokens of 8 + 5 + 6 + 6 bytes; its len field
         * follows its score. */
        const gsize at = 4 + (8 + 5) + (8 + 5) + (8 + 6) + 4;
        const int32_t len = 1 << 20;
        memcpy (bytes + at, &len, 4);
        break;
      }
    case TOK_BAD_MAX:
      {
        const int32_t v = -1;
        memcpy (bytes, &v, 4);
        break;
      }
    }
  path = g_build_filename (lathe_test_tmpdir (), c->name, NULL);
  g_file_set_contents (path, bytes, (gssize) size, &error);
  g_assert_no_error (error);
  lk_model_params_init (&p);
  p.tokenizer_path = c->tokenizer ? path : tok;
  g_assert_cmpint (lk_model_open (c->tokenizer ? legacy : path, &p, &m, &err), !=, LK_OK);
  g_assert_null (m);
  g_assert_nonnull (strstr (err.message, path));
  for (int i = 0; i < 2 && c->words[i]; i++)
    if (strstr (err.message, c->words[i]) == NULL)
      g_error ("case %s: \"%s\" is not in: %s", c->name, c->words[i], err.message);
}

/* Without -z the tokenizer is found beside the checkpoint (tok512.bin). */
static void
test_tokenizer_found (void)
{
  g_autofree char *legacy = lathe_test_shared ("models/stories260K.bin");
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (legacy == NULL)
    return;
  g_assert_cmpint (lk_model_open (legacy, NULL, &m, &err), ==, LK_OK);
  g_assert_nonnull (lk_model_vocab (m));
  g_assert_cmpint (lk_vocab_n_tokens (lk_model_vocab (m)), ==, 512);
  lk_model_free (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/engine/llama2c/versions", test_versions);
  g_test_add_func ("/lathe/engine/llama2c/tokenizer-found", test_tokenizer_found);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/lathe/engine/llama2c/bad/%s", bad_cases[i].name);
      g_test_add_data_func (name, &bad_cases[i], test_bad);
    }
  return g_test_run ();
}
