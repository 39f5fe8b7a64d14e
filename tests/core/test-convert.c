/* SPDX-License-Identifier: MIT */
/* Hugging Face checkpoints: each ../shared/archs model written back in the
 * layout its Hugging Face class has (names, halves-rotated q and k, Gemma's
 * w - 1 norms, experts one by one, fused projections, config.json and a
 * SentencePiece tokenizer.model), then converted: the GGUF must hold the
 * original's tensors and give llama.cpp's greedy text. And safetensors as
 * untrusted input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "lathe-error.h"
#include "lathe-hf-private.h"
#include "lathe-hf.h"
#include "lathe-safetensors.h"
#include "lathe-test-arch.h"
#include "lathe-test-hf.h"
#include "lathe-test.h"
#include "lk-gguf.h"
#include "lk-half.h"
#include "lk-model.h"

/* The check ----------------------------------------------------------------- */

static void
assert_same_tensors (const char *arch, const char *orig_path, const char *conv_path)
{
  lk_gguf *a = NULL, *b = NULL;
  lk_error err = { 0 };

  g_assert_cmpint (lk_gguf_open (orig_path, LK_LOAD_MMAP, &a, &err), ==, LK_OK);
  g_assert_cmpint (lk_gguf_open (conv_path, LK_LOAD_MMAP, &b, &err), ==, LK_OK);
  g_assert_cmpuint (lk_gguf_n_tensors (a), ==, lk_gguf_n_tensors (b));
  for (size_t i = 0; i < lk_gguf_n_tensors (a); i++)
    {
      const lk_gguf_tensor *x = lk_gguf_tensor_at (a, i);
      const lk_gguf_tensor *y = lk_gguf_find_tensor (b, x->name);
      if (y == NULL)
        g_error ("%s: the converted file lacks %s", arch, x->name);
      g_assert_cmpint (x->type, ==, y->type);
      g_assert_cmpuint (x->n_dims, ==, y->n_dims);
      for (int d = 0; d < LK_GGUF_MAX_DIMS; d++)
        g_assert_cmpint (x->ne[d], ==, y->ne[d]);
      g_assert_cmpuint (x->nbytes, ==, y->nbytes);
      if (x->type == LK_TYPE_F32)
        {
          /* Norms went through w - 1 and back, RoPE factors through the formula. */
          for (uint64_t k = 0; k < x->nbytes / 4; k++)
            {
              float fx, fy;
              memcpy (&fx, x->data + 4 * k, 4);
              memcpy (&fy, y->data + 4 * k, 4);
              if (fabsf (fx - fy) > 1e-6f * MAX (1.0f, fabsf (fx)))
                g_error ("%s: %s[%" G_GUINT64_FORMAT "] is %g, the original %g", arch, x->name, k,
                         (double) fy, (double) fx);
            }
        }
      else if (memcmp (x->data, y->data, x->nbytes) != 0)
        g_error ("%s: %s differs from the original", arch, x->name);
    }
  lk_gguf_free (a);
  lk_gguf_free (b);
}

static void
assert_same_vocab (const lk_vocab *a, const lk_vocab *b)
{
  g_assert_cmpint (lk_vocab_n_tokens (a), ==, lk_vocab_n_tokens (b));
  g_assert_cmpstr (lk_vocab_model_name (a), ==, lk_vocab_model_name (b));
  g_assert_cmpint (lk_vocab_bos (a), ==, lk_vocab_bos (b));
  g_assert_cmpint (lk_vocab_eos (a), ==, lk_vocab_eos (b));
  for (int32_t i = 0; i < lk_vocab_n_tokens (a); i++)
    {
      size_t la, lb;
      const char *ta = lk_vocab_token_text (a, i, &la), *tb = lk_vocab_token_text (b, i, &lb);
      g_assert_cmpmem (ta, la, tb, lb);
      g_assert_cmpfloat (lk_vocab_token_score (a, i), ==, lk_vocab_token_score (b, i));
      g_assert_cmpint (lk_vocab_token_type (a, i), ==, lk_vocab_token_type (b, i));
    }
}

static void
test_arch (gconstpointer data)
{
  const LatheHfCase *c = data;
  const char *from = c->from != NULL ? c->from : c->arch;
  g_autofree char *rel = g_strdup_printf ("archs/%s.gguf", from);
  g_autofree char *path = lathe_test_shared (rel);
  g_autofree char *dir = NULL, *out = NULL;
  LatheArchRef ref;
  LatheHfOptions opt;
  GError *error = NULL;
  lk_model *orig = NULL, *conv = NULL;
  lk_error err = { 0 };

  if (path == NULL || !lathe_test_arch_ref (from, &ref))
    return;
  dir = lathe_test_hf_checkpoint (c, path, c->arch);
  out = g_strdup_printf ("%s.gguf", dir);
  lathe_hf_options_init (&opt);
  g_assert_true (lathe_hf_is_checkpoint (dir));
  if (!lathe_hf_convert (dir, out, &opt, NULL, NULL, NULL, &error))
    g_error ("%s: %s", c->arch, error->message);
  g_assert_cmpint (lk_model_open (path, NULL, &orig, &err), ==, LK_OK);
  g_assert_cmpint (lk_model_open (out, NULL, &conv, &err), ==, LK_OK);
  if (!(c->flags & T_PHI3))
    {
      assert_same_tensors (c->arch, path, out);
      g_assert_cmpstr (lk_model_hparams (conv)->arch_name, ==, lk_model_hparams (orig)->arch_name);
    }
  else
    {
      /* phi3: fused q|k|v and gate|up, its RoPE factors (of 1) read. */
      g_assert_cmpstr (lk_model_hparams (conv)->arch_name, ==, "phi3");
      g_assert_nonnull (lk_model_layer (conv, 0)->wqkv);
      g_assert_true (lk_model_layer (conv, 0)->ffn_fused);
      g_assert_nonnull (lk_model_find_tensor (conv, "rope_factors_long.weight"));
    }
  assert_same_vocab (lk_model_vocab (orig), lk_model_vocab (conv));
  lathe_test_arch_greedy (c->arch, conv, &ref, LK_TYPE_F32);
  lk_model_free (orig);
  lk_model_free (conv);
  lathe_test_arch_ref_clear (&ref);
}

/* Safetensors as untrusted input ------------------------------------------ */

/* A file of the header text and data_len bytes of data. */
static GBytes *
st_bytes (const char *header, gsize data_len)
{
  GByteArray *a = g_byte_array_new ();
  guint64 n = GUINT64_TO_LE (strlen (header));

  g_byte_array_append (a, (const guint8 *) &n, 8);
  g_byte_array_append (a, (const guint8 *) header, (guint) strlen (header));
  for (gsize i = 0; i < data_len; i++)
    g_byte_array_append (a, (const guint8 *) "\x3c", 1);
  return g_byte_array_free_to_bytes (a);
}

static void
test_safetensors_hostile (void)
{
  static const struct
  {
    const char *header;
    gsize data;
    const char *error;
  } bad[] = {
    { "[1, 2]", 0, "header is not a JSON object" },
    { "{\"a\": ", 0, "header is not JSON" },
    { "{\"a\": {\"dtype\": \"F12\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
      "tensor 'a': field 'dtype' is 'F12'" },
    { "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "field 'dtype' is missing" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 4]}}", 4,
      "field 'shape' [0] is not a non-negative integer" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
      "field 'shape' [0] is not a non-negative integer" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": \"1\", \"data_offsets\": [0, 4]}}", 4,
      "field 'shape' is missing or not an array" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}", 4,
      "9 dimensions, expected at most 8" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904, 4], \"data_offsets\": [0, 4]}}",
      4, "more elements than can be stored" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 4,
      "field 'data_offsets' must be [begin, end] with begin <= end <= 4" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4,
      "field 'data_offsets' must be" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4,
      "field 'data_offsets' must be" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8,
      "spans 8 bytes, but 3 F32 elements take 12" },
    { "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
      " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12,
      "its data overlaps that of 'a'" },
    { "{\"__metadata__\": {\"format\": 1}}", 0, "field '__metadata__.format' is not a string" },
    { "{\"a\": 1}", 0, "tensor 'a': is not an object" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GBytes) b = st_bytes (bad[i].header, bad[i].data);
      g_autoptr (GError) error = NULL;
      LatheSafetensors *st = lathe_safetensors_parse (b, "hostile.safetensors", &error);
      g_assert_null (st);
      g_assert_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT);
      if (strstr (error->message, bad[i].error) == NULL
          || !g_str_has_prefix (error->message, "hostile.safetensors: "))
        g_error ("case %u: '%s' does not say '%s'", i, error->message, bad[i].error);
    }
  /* Lengths: too short for the 8 bytes, a header longer than the file. */
  {
    g_autoptr (GBytes) b = g_bytes_new ("\x10\0\0\0", 4);
    g_autoptr (GBytes) c = st_bytes ("{}", 0);
    g_autoptr (GByteArray) d = g_byte_array_new ();
    guint64 huge = GUINT64_TO_LE (G_GUINT64_CONSTANT (1) << 62);
    g_autoptr (GBytes) e = NULL;
    g_autoptr (GError) error = NULL;
    g_assert_null (lathe_safetensors_parse (b, "short", &error));
    g_assert_nonnull (strstr (error->message, "too short for a safetensors header"));
    g_clear_error (&error);
    g_byte_array_append (d, (const guint8 *) &huge, 8);
    g_byte_array_append (d, (const guint8 *) "{}", 2);
    e = g_byte_array_free_to_bytes (g_steal_pointer (&d));
    g_assert_null (lathe_safetensors_parse (e, "huge", &error));
    g_assert_nonnull (strstr (error->message, "header length is 4611686018427387904"));
    g_clear_error (&error);
    /* An empty header is a file with no tensors. */
    {
      LatheSafetensors *st = lathe_safetensors_parse (c, "empty", &error);
      g_assert_no_error (error);
      g_assert_cmpuint (lathe_safetensors_n_tensors (st), ==, 0);
      lathe_safetensors_free (st);
    }
  }
}

/* F32, F16 and BF16 values as stored, the metadata, lookups by name. */
static void
test_safetensors_values (void)
{
  const char *header = "{\"__metadata__\": {\"format\": \"pt\"},"
                       " \"h\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [8, 12]},"
                       " \"b\": {\"dtype\": \"BF16\", \"shape\": [1, 2], \"data_offsets\": [12, 16]},"
                       " \"f\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}";
  const float f[2] = { 1.5f, -2.25f };
  const guint16 h[2] = { GUINT16_TO_LE (0x3c00), GUINT16_TO_LE (0xc000) };  /* 1, -2 */
  const guint16 bf[2] = { GUINT16_TO_LE (0x3f80), GUINT16_TO_LE (0x4040) }; /* 1, 3 */
  g_autoptr (GByteArray) a = g_byte_array_new ();
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (LatheSafetensors) st = NULL;
  g_autoptr (GError) error = NULL;
  guint64 n = GUINT64_TO_LE (strlen (header));
  const LatheStTensor *t;

  g_byte_array_append (a, (const guint8 *) &n, 8);
  g_byte_array_append (a, (const guint8 *) header, (guint) strlen (header));
  g_byte_array_append (a, (const guint8 *) f, 8);
  g_byte_array_append (a, (const guint8 *) h, 4);
  g_byte_array_append (a, (const guint8 *) bf, 4);
  bytes = g_byte_array_free_to_bytes (g_steal_pointer (&a));
  st = lathe_safetensors_parse (bytes, "values", &error);
  g_assert_no_error (error);
  g_assert_cmpuint (lathe_safetensors_n_tensors (st), ==, 3);
  g_assert_cmpstr (lathe_safetensors_tensor (st, 0)->name, ==, "f"); /* in data order */
  g_assert_cmpstr (lathe_safetensors_metadata (st, "format"), ==, "pt");
  t = lathe_safetensors_find (st, "f");
  g_assert_cmpfloat (lathe_st_get_f32 (t, 0), ==, 1.5f);
  g_assert_cmpfloat (lathe_st_get_f32 (t, 1), ==, -2.25f);
  t = lathe_safetensors_find (st, "h");
  g_assert_cmpint (t->dtype, ==, LATHE_ST_F16);
  g_assert_cmpfloat (lathe_st_get_f32 (t, 1), ==, -2.0f);
  t = lathe_safetensors_find (st, "b");
  g_assert_cmpuint (t->n_dims, ==, 2);
  g_assert_cmpint (t->shape[1], ==, 2);
  g_assert_cmpfloat (lathe_st_get_f32 (t, 0), ==, 1.0f);
  g_assert_cmpfloat (lathe_st_get_f32 (t, 1), ==, 3.0f);
  g_assert_null (lathe_safetensors_find (st, "x"));
}

/* Checkpoints the converter must refuse, each with the file and field named,
 * leaving no output behind. */
static void
edit_config (const char *dir, const char *member, JsonNode *value)
{
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  JsonObject *o;

  g_assert_true (json_parser_load_from_file (p, path, NULL));
  o = json_node_get_object (json_parser_get_root (p));
  if (value != NULL)
    json_object_set_member (o, member, value);
  else
    json_object_remove_member (o, member);
  json_generator_set_root (gen, json_parser_get_root (p));
  g_assert_true (json_generator_to_file (gen, path, NULL));
}

static void
rename_in (const char *dir, const char *from, const char *to)
{
  g_autofree char *a = g_build_filename (dir, from, NULL);
  g_autofree char *b = g_build_filename (dir, to, NULL);

  g_assert_cmpint (g_rename (a, b), ==, 0);
}

static void
test_refused (void)
{
  g_autofree char *path = lathe_test_shared ("archs/qwen2moe.gguf");
  guint n_cases;
  const LatheHfCase *moe = &lathe_test_hf_cases (&n_cases)[5];
  static const char *const what[] = {
    "key 'architectures' is missing",
    "architecture 'FooForCausalLM' is not one Lathe converts",
    "config.json: key 'hidden_size' is missing (Qwen2MoeForCausalLM needs it)",
    "is expert 2, but config.json says 2 experts",
    "no model.safetensors or model.safetensors.index.json",
    "pytorch_model.bin (a Python pickle",
    "key 'weight_map.x' must name a .safetensors file in the folder",
    "has no GGUF name for Qwen2MoeForCausalLM",
    "no tokenizer.model or tokenizer.json",
    "key 'rope_scaling' is of type 'yarn'",
  };

  if (path == NULL)
    return;
  g_assert_cmpstr (moe->arch, ==, "qwen2moe");
  for (guint i = 0; i < G_N_ELEMENTS (what); i++)
    {
      g_autofree char *name = g_strdup_printf ("refused-%u", i);
      g_autofree char *dir = lathe_test_hf_checkpoint (moe, path, name);
      g_autofree char *out = g_strdup_printf ("%s.gguf", dir);
      g_autofree char *partial = g_strdup_printf ("%s.partial", out);
      g_autoptr (GError) error = NULL;
      LatheHfOptions opt;
      switch (i)
        {
        case 0: edit_config (dir, "architectures", NULL); break;
        case 1:
          {
            JsonArray *a = json_array_new ();
            JsonNode *n = json_node_new (JSON_NODE_ARRAY);
            json_array_add_string_element (a, "FooForCausalLM");
            json_node_take_array (n, a);
            edit_config (dir, "architectures", n);
            break;
          }
        case 2: edit_config (dir, "hidden_size", NULL); break;
        case 3: edit_config (dir, "num_experts", json_node_init_int (json_node_alloc (), 2)); break;
        case 4: rename_in (dir, "model.safetensors", "weights.bin"); break;
        case 5: rename_in (dir, "model.safetensors", "pytorch_model.bin"); break;
        case 6:
          {
            g_autofree char *index = g_build_filename (dir, "model.safetensors.index.json", NULL);
            g_assert_true (g_file_set_contents (
              index, "{\"weight_map\": {\"x\": \"../model.safetensors\"}}", -1, NULL));
            break;
          }
        case 7:
          {
            /* A tensor the map does not know (same length, so the header
             * keeps its size). */
            g_autofree char *file = g_build_filename (dir, "model.safetensors", NULL);
            g_autofree char *data = NULL;
            gsize len;
            char *p;
            g_assert_true (g_file_get_contents (file, &data, &len, NULL));
            p = g_strstr_len (data + 8, (gssize) len - 8, "shared_expert.down_proj");
            g_assert_nonnull (p);
            memcpy (p, "shared_expert.dowm_proj", 23);
            g_assert_true (g_file_set_contents (file, data, (gssize) len, NULL));
            break;
          }
        case 8: rename_in (dir, "tokenizer.model", "spiece.model"); break;
        case 9:
          {
            JsonObject *o = json_object_new ();
            JsonNode *n = json_node_new (JSON_NODE_OBJECT);
            json_object_set_string_member (o, "rope_type", "yarn");
            json_object_set_double_member (o, "factor", 4.0);
            json_node_take_object (n, o);
            edit_config (dir, "rope_scaling", n);
            break;
          }
        }
      lathe_hf_options_init (&opt);
      g_assert_false (lathe_hf_convert (dir, out, &opt, NULL, NULL, NULL, &error));
      g_assert_nonnull (error);
      if (strstr (error->message, what[i]) == NULL)
        g_error ("case %u: '%s' does not say '%s'", i, error->message, what[i]);
      g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
      g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
    }
}

/* Tokenizers ---------------------------------------------------------------- */

#define LLAMA3_RE                                                                               \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
  "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE                                                                                \
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"    \
  "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef enum
{
  PRE_BYTE_LEVEL,
  PRE_LLAMA3,
  PRE_QWEN2,
  PRE_DIGITS,
  PRE_UNKNOWN,
} PreKind;

static void
add_split (JsonBuilder *b, const char *regex)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "Split");
  json_builder_set_member_name (b, "pattern");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "Regex");
  json_builder_add_string_value (b, regex);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "behavior");
  json_builder_add_string_value (b, "Isolated");
  json_builder_end_object (b);
}

static void
add_pre (JsonBuilder *b, PreKind kind)
{
  json_builder_set_member_name (b, "pre_tokenizer");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  if (kind == PRE_BYTE_LEVEL)
    {
      json_builder_add_string_value (b, "ByteLevel");
      json_builder_set_member_name (b, "use_regex");
      json_builder_add_boolean_value (b, TRUE);
      json_builder_end_object (b);
      return;
    }
  json_builder_add_string_value (b, "Sequence");
  json_builder_set_member_name (b, "pretokenizers");
  json_builder_begin_array (b);
  if (kind == PRE_DIGITS)
    {
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "Digits");
      json_builder_set_member_name (b, "individual_digits");
      json_builder_add_boolean_value (b, TRUE);
      json_builder_end_object (b);
    }
  else
    add_split (b, kind == PRE_LLAMA3 ? LLAMA3_RE : kind == PRE_QWEN2 ? QWEN2_RE : "\\p{L}+");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "ByteLevel");
  json_builder_set_member_name (b, "use_regex");
  json_builder_add_boolean_value (b, kind == PRE_DIGITS);
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
}

/* tokenizer.json and tokenizer_config.json of GPT-2's vocabulary, with the
 * merges as "a b" strings or as pairs. */
static void
write_tokenizer_json (const char *dir, const lk_gguf *g, PreKind pre, gboolean pairs)
{
  const lk_gguf_value *tokens = lk_gguf_get (g, "tokenizer.ggml.tokens");
  const lk_gguf_value *merges = lk_gguf_get (g, "tokenizer.ggml.merges");
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
  g_autofree char *config = g_build_filename (dir, "tokenizer_config.json", NULL);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "BPE");
  json_builder_set_member_name (b, "ignore_merges");
  json_builder_add_boolean_value (b, pre == PRE_LLAMA3);
  json_builder_set_member_name (b, "vocab");
  json_builder_begin_object (b);
  for (uint64_t i = 0; i < tokens->v.arr.n - 1; i++) /* the last is an added token */
    {
      g_autofree char *t = g_strndup (tokens->v.arr.items[i].v.str.ptr, tokens->v.arr.items[i].v.str.len);
      json_builder_set_member_name (b, t);
      json_builder_add_int_value (b, (gint64) i);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "merges");
  json_builder_begin_array (b);
  for (uint64_t i = 0; i < merges->v.arr.n; i++)
    {
      g_autofree char *m = g_strndup (merges->v.arr.items[i].v.str.ptr, merges->v.arr.items[i].v.str.len);
      char *sp = strchr (m, ' ');
      if (!pairs)
        {
          json_builder_add_string_value (b, m);
          continue;
        }
      *sp = '\0';
      json_builder_begin_array (b);
      json_builder_add_string_value (b, m);
      json_builder_add_string_value (b, sp + 1);
      json_builder_end_array (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "added_tokens");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  lathe_test_json_set_int (b, "id", (gint64) tokens->v.arr.n - 1);
  json_builder_set_member_name (b, "content");
  json_builder_add_string_value (b, "<|endoftext|>");
  json_builder_set_member_name (b, "special");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_end_object (b);
  json_builder_end_array (b);
  add_pre (b, pre);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  g_assert_true (json_generator_to_file (gen, path, NULL));
  g_assert_true (g_file_set_contents (
    config, "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": {\"content\": \"<|endoftext|>\"}}", -1,
    NULL));
}

/* The folder's tokenizer as a vocabulary-only GGUF, opened; NULL with the
 * error when the tokenizer is refused. */
static lk_vocab *
convert_tokenizer (const char *dir, const char *pre, GError **error)
{
  g_autofree char *out = g_build_filename (dir, "vocab.gguf", NULL);
  g_autoptr (JsonObject) config = json_object_new ();
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_vocab *v = NULL;
  lk_error err = { 0 };
  gint n = 0;
  gboolean ok = lathe_hf_write_tokenizer (dir, config, 0, pre, w, &n, error);

  if (ok)
    {
      g_assert_cmpint (lk_gguf_writer_write (w, out, &err), ==, LK_OK);
      if (lk_vocab_open (out, &v, &err) != LK_OK)
        g_error ("%s", err.message);
    }
  lk_gguf_writer_free (w);
  return v;
}

static void
assert_same_merges (const lk_gguf *g, const char *dir)
{
  g_autofree char *out = g_build_filename (dir, "vocab.gguf", NULL);
  lk_gguf *h = NULL;
  lk_error err = { 0 };
  const lk_gguf_value *a, *b;

  g_assert_cmpint (lk_gguf_open (out, LK_LOAD_MMAP, &h, &err), ==, LK_OK);
  a = lk_gguf_get (g, "tokenizer.ggml.merges");
  b = lk_gguf_get (h, "tokenizer.ggml.merges");
  g_assert_nonnull (b);
  g_assert_cmpuint (a->v.arr.n, ==, b->v.arr.n);
  for (uint64_t i = 0; i < a->v.arr.n; i++)
    g_assert_cmpmem (a->v.arr.items[i].v.str.ptr, a->v.arr.items[i].v.str.len,
                     b->v.arr.items[i].v.str.ptr, b->v.arr.items[i].v.str.len);
  lk_gguf_free (h);
}

/* Byte-level BPE from tokenizer.json: GPT-2's vocabulary comes back as
 * llama.cpp's file holds it, and the pre-tokenizer is found from the
 * expressions tokenizer.json lists. */
static void
test_tokenizer_json (void)
{
  g_autofree char *path = lathe_test_shared ("vocab/ggml-vocab-gpt-2.gguf");
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "tokenizer-json", NULL);
  static const struct
  {
    PreKind kind;
    const char *pre;
  } pres[] = {
    { PRE_LLAMA3, "llama-bpe" },
    { PRE_QWEN2, "qwen2" },
    { PRE_DIGITS, "starcoder" },
  };
  const char *texts[] = { "Hello world", " 3.14159 and 1,000,000 tokens", "Ünïcödé ✓\n\n\tx",
                          "<|endoftext|>" };
  lk_vocab *orig = NULL, *v;
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  GError *error = NULL;

  if (path == NULL)
    return;
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_MMAP, &g, &err), ==, LK_OK);
  g_assert_cmpint (lk_vocab_open (path, &orig, &err), ==, LK_OK);
  for (int pairs = 0; pairs < 2; pairs++)
    {
      write_tokenizer_json (dir, g, PRE_BYTE_LEVEL, pairs);
      v = convert_tokenizer (dir, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (lk_vocab_pre_name (v), ==, "gpt-2");
      assert_same_vocab (orig, v);
      assert_same_merges (g, dir);
      for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
        {
          lk_tokens a = { 0 }, b = { 0 };
          g_assert_cmpint (lk_vocab_tokenize (orig, texts[i], strlen (texts[i]), false, true, &a, &err), ==, LK_OK);
          g_assert_cmpint (lk_vocab_tokenize (v, texts[i], strlen (texts[i]), false, true, &b, &err), ==, LK_OK);
          g_assert_cmpmem (a.ids, a.n * sizeof a.ids[0], b.ids, b.n * sizeof b.ids[0]);
          lk_tokens_clear (&a);
          lk_tokens_clear (&b);
        }
      lk_vocab_free (v);
    }
  for (guint i = 0; i < G_N_ELEMENTS (pres); i++)
    {
      write_tokenizer_json (dir, g, pres[i].kind, FALSE);
      v = convert_tokenizer (dir, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpstr (lk_vocab_pre_name (v), ==, pres[i].pre);
      lk_vocab_free (v);
    }
  /* An expression Lathe does not know is refused, unless named. */
  write_tokenizer_json (dir, g, PRE_UNKNOWN, FALSE);
  g_assert_null (convert_tokenizer (dir, NULL, &error));
  g_assert_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "tokenizer.json: its pre-tokenizer (expression 1 of 1: '\\p{L}+') is none Lathe knows; name one with --pre"));
  g_clear_error (&error);
  v = convert_tokenizer (dir, "gpt-2", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (lk_vocab_pre_name (v), ==, "gpt-2");
  lk_vocab_free (v);
  lk_vocab_free (orig);
  lk_gguf_free (g);
}

/* LLaMA's 32000-piece SentencePiece model through tokenizer.model, and
 * damaged protobufs refused with the file named. */
static void
test_tokenizer_model (void)
{
  g_autofree char *path = lathe_test_shared ("vocab/ggml-vocab-llama-spm.gguf");
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "tokenizer-model", NULL);
  g_autofree char *model = g_build_filename (dir, "tokenizer.model", NULL);
  g_autofree char *data = NULL;
  lk_vocab *orig = NULL, *v;
  lk_error err = { 0 };
  GError *error = NULL;
  gsize len;

  if (path == NULL)
    return;
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (lk_vocab_open (path, &orig, &err), ==, LK_OK);
  lathe_test_hf_tokenizer_model (dir, orig);
  v = convert_tokenizer (dir, NULL, &error);
  g_assert_no_error (error);
  assert_same_vocab (orig, v);
  lk_vocab_free (v);
  /* Cut inside a piece; then a length running past the end. */
  g_assert_true (g_file_get_contents (model, &data, &len, NULL));
  g_assert_true (g_file_set_contents (model, data, (gssize) len / 2 + 3, NULL));
  g_assert_null (convert_tokenizer (dir, NULL, &error));
  g_assert_nonnull (strstr (error->message, "tokenizer.model: not a SentencePiece model"));
  g_clear_error (&error);
  data[1] = (char) 0xff, data[2] = (char) 0xff, data[3] = 0x7f;
  g_assert_true (g_file_set_contents (model, data, (gssize) len, NULL));
  g_assert_null (convert_tokenizer (dir, NULL, &error));
  g_assert_nonnull (strstr (error->message, "tokenizer.model: not a SentencePiece model"));
  g_clear_error (&error);
  lk_vocab_free (orig);
}

typedef struct
{
  char *pair;
  float score;
  guint order;
} Merge;

static gint
by_score (gconstpointer a, gconstpointer b)
{
  const Merge *x = a, *y = b;

  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* LLaMA's SentencePiece vocabulary as tokenizers' LlamaConverter writes it
 * to tokenizer.json: a byte-fallback BPE whose merges are every split of a
 * piece into two pieces, ranked by the piece's score. */
static void
write_spm_tokenizer_json (const char *dir, const lk_vocab *v)
{
  g_autoptr (GHashTable) ids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GArray) merges = g_array_new (FALSE, FALSE, sizeof (Merge));
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *path = g_build_filename (dir, "tokenizer.json", NULL);
  g_autofree char *config = g_build_filename (dir, "tokenizer_config.json", NULL);
  const int32_t n = lk_vocab_n_tokens (v);

  for (int32_t i = 0; i < n; i++)
    {
      size_t len;
      const char *t = lk_vocab_token_text (v, i, &len);
      g_hash_table_insert (ids, g_strndup (t, len), GINT_TO_POINTER (i + 1));
    }
  for (int32_t i = 0; i < n; i++)
    {
      size_t len;
      const char *t = lk_vocab_token_text (v, i, &len);
      if (lk_vocab_token_type (v, i) != LK_TOKEN_NORMAL)
        continue;
      for (const char *p = g_utf8_next_char (t); p < t + len; p = g_utf8_next_char (p))
        {
          g_autofree char *l = g_strndup (t, (gsize) (p - t));
          if (g_hash_table_contains (ids, l) && g_hash_table_contains (ids, p))
            {
              Merge m = { g_strconcat (l, " ", p, NULL), lk_vocab_token_score (v, i), merges->len };
              g_array_append_val (merges, m);
            }
        }
    }
  g_array_sort (merges, by_score);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, "BPE");
  json_builder_set_member_name (b, "byte_fallback");
  json_builder_add_boolean_value (b, TRUE);
  json_builder_set_member_name (b, "vocab");
  json_builder_begin_object (b);
  for (int32_t i = 0; i < n; i++)
    {
      size_t len;
      const char *t = lk_vocab_token_text (v, i, &len);
      g_autofree char *text = g_strndup (t, len);
      json_builder_set_member_name (b, text);
      json_builder_add_int_value (b, i);
    }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "merges");
  json_builder_begin_array (b);
  for (guint i = 0; i < merges->len; i++)
    {
      Merge *m = &g_array_index (merges, Merge, i);
      json_builder_add_string_value (b, m->pair);
      g_free (m->pair);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "added_tokens");
  json_builder_begin_array (b);
  for (int32_t i = 0; i < 3; i++)
    {
      size_t len;
      const char *t = lk_vocab_token_text (v, i, &len);
      g_autofree char *text = g_strndup (t, len);
      json_builder_begin_object (b);
      lathe_test_json_set_int (b, "id", i);
      json_builder_set_member_name (b, "content");
      json_builder_add_string_value (b, text);
      json_builder_set_member_name (b, "special");
      json_builder_add_boolean_value (b, TRUE);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  g_assert_true (json_generator_to_file (gen, path, NULL));
  g_assert_true (g_file_set_contents (
    config, "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"unk_token\": \"<unk>\"}", -1, NULL));
}

#define SEPARATOR "\n__ggml_vocab_test__\n"

/* Without tokenizer.model, LLaMA's tokenizer.json gives the same tokens on
 * llama.cpp's test vectors. */
static void
test_tokenizer_json_spm (void)
{
  g_autofree char *path = lathe_test_shared ("vocab/ggml-vocab-llama-spm.gguf");
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "tokenizer-json-spm", NULL);
  g_autofree char *inp_path = NULL, *out_path = NULL, *inp = NULL, *out = NULL;
  g_auto (GStrv) strings = NULL, lines = NULL;
  lk_vocab *orig = NULL, *v;
  lk_error err = { 0 };
  GError *error = NULL;

  if (path == NULL)
    return;
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (lk_vocab_open (path, &orig, &err), ==, LK_OK);
  write_spm_tokenizer_json (dir, orig);
  v = convert_tokenizer (dir, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (lk_vocab_model_name (v), ==, "llama");
  g_assert_cmpint (lk_vocab_n_tokens (v), ==, lk_vocab_n_tokens (orig));
  g_assert_cmpint (lk_vocab_token_type (v, 3), ==, LK_TOKEN_BYTE);
  inp_path = g_strconcat (path, ".inp", NULL);
  out_path = g_strconcat (path, ".out", NULL);
  inp = lathe_test_read (inp_path, NULL);
  out = lathe_test_read (out_path, NULL);
  inp[strlen (inp) - strlen (SEPARATOR)] = '\0';
  strings = g_strsplit (inp, SEPARATOR, -1);
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; strings[i] != NULL; i++)
    {
      lk_tokens toks = { 0 };
      g_autoptr (GString) got = g_string_new (NULL);
      g_autofree char *want = g_strstrip (g_strdup (lines[i]));
      g_assert_cmpint (lk_vocab_tokenize (v, strings[i], strlen (strings[i]), false, false, &toks, &err), ==,
                       LK_OK);
      for (size_t j = 0; j < toks.n; j++)
        g_string_append_printf (got, j ? " %d" : "%d", toks.ids[j]);
      if (strcmp (got->str, want) != 0)
        g_error ("vector %u (\"%s\"): got [%s], expected [%s]", i, strings[i], got->str, want);
      lk_tokens_clear (&toks);
    }
  lk_vocab_free (v);
  lk_vocab_free (orig);
}

int
main (int argc, char **argv)
{
  guint n;
  const LatheHfCase *cases = lathe_test_hf_cases (&n);

  g_test_init (&argc, &argv, NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("/lathe/core/convert/%s", cases[i].arch);
      g_test_add_data_func (name, &cases[i], test_arch);
    }
  g_test_add_func ("/lathe/core/convert/refused", test_refused);
  g_test_add_func ("/lathe/core/convert/tokenizer-json", test_tokenizer_json);
  g_test_add_func ("/lathe/core/convert/tokenizer-model", test_tokenizer_model);
  g_test_add_func ("/lathe/core/convert/tokenizer-json-spm", test_tokenizer_json_spm);
  g_test_add_func ("/lathe/core/safetensors/hostile", test_safetensors_hostile);
  g_test_add_func ("/lathe/core/safetensors/values", test_safetensors_values);
  return g_test_run ();
}
