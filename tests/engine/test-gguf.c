/* SPDX-License-Identifier: MIT */
/* The GGUF reader on real files, the writer by round trip, and a table of
 * damaged files that must each give a clear error. */
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <string.h>

#include "lathe-test.h"
#include "lk-file.h"
#include "lk-gguf.h"
#include "lk-model.h"

static void
test_read_stories (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.gguf");
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  const lk_gguf_value *tokens;
  const lk_gguf_tensor *t;
  uint32_t u;
  float f;
  g_autofree char *arch = NULL;

  if (path == NULL)
    return;
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  g_assert_cmpuint (lk_gguf_version (g), ==, 3);
  g_assert_cmpuint (lk_gguf_n_tensors (g), ==, 48);
  g_assert_cmpuint (lk_gguf_n_kv (g), ==, 19);
  arch = lk_gguf_get_str_dup (g, "general.architecture");
  g_assert_cmpstr (arch, ==, "llama");
  g_assert_true (lk_gguf_get_u32 (g, "llama.embedding_length", &u));
  g_assert_cmpuint (u, ==, 64);
  g_assert_true (lk_gguf_get_u32 (g, "llama.context_length", &u));
  g_assert_cmpuint (u, ==, 128);
  g_assert_true (lk_gguf_get_f32 (g, "llama.attention.layer_norm_rms_epsilon", &f));
  g_assert_cmpfloat_with_epsilon (f, 1e-5, 1e-9);
  /* 4294967295 is stored for "no separator token". */
  g_assert_true (lk_gguf_get_u32 (g, "tokenizer.ggml.seperator_token_id", &u));
  g_assert_cmpuint (u, ==, 4294967295u);
  tokens = lk_gguf_get (g, "tokenizer.ggml.tokens");
  g_assert_nonnull (tokens);
  g_assert_cmpint (tokens->type, ==, LK_GGUF_ARRAY);
  g_assert_cmpint (tokens->v.arr.elem_type, ==, LK_GGUF_STRING);
  g_assert_cmpuint (tokens->v.arr.n, ==, 512);
  g_assert_true (lk_gguf_str_equals (tokens->v.arr.items[1].v.str, "<s>"));
  t = lk_gguf_find_tensor (g, "blk.0.ffn_down.weight");
  g_assert_nonnull (t);
  g_assert_cmpint (t->type, ==, LK_TYPE_F32);
  g_assert_cmpint (t->ne[0], ==, 172);
  g_assert_cmpint (t->ne[1], ==, 64);
  g_assert_cmpuint (t->nbytes, ==, 172 * 64 * 4);
  g_assert_cmpuint ((uintptr_t) t->data % 32, ==, 0);
  g_assert_null (lk_gguf_find_tensor (g, "no.such.tensor"));
  g_assert_null (lk_gguf_get (g, "no.such.key"));
  lk_gguf_free (g);
}

/* Every value type, nested arrays, replaced keys and tensors survive a
 * write and a read. */
static void
test_writer_roundtrip (void)
{
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), "roundtrip.gguf", NULL);
  lk_gguf_writer *w = lk_gguf_writer_new ();
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  const float data_a[64] = { 1, 2, 3 };
  const int64_t ne_a[2] = { 32, 2 };
  const int16_t data_b[3] = { -1, 2, -3 };
  const int64_t ne_b[1] = { 3 };
  const char *strs[] = { "a", "", "ünïcode" };
  const int32_t ints[] = { -7, 0, 7 };
  const lk_gguf_value *v;
  g_autofree char *s = NULL;
  int64_t i64;
  double f64;
  bool b;
  lk_gguf_writer *w2;

  lk_gguf_writer_set_u32 (w, "t.u32", 4000000000u);
  lk_gguf_writer_set_i32 (w, "t.i32", -5);
  lk_gguf_writer_set_u64 (w, "t.u64", UINT64_C (1) << 40);
  lk_gguf_writer_set_f32 (w, "t.f32", 0.25f);
  lk_gguf_writer_set_bool (w, "t.bool", true);
  lk_gguf_writer_set_str (w, "t.str", "hello");
  lk_gguf_writer_set_str (w, "t.replaced", "old");
  lk_gguf_writer_set_arr_str (w, "t.strs", strs, NULL, 3);
  lk_gguf_writer_set_arr (w, "t.ints", LK_GGUF_INT32, ints, 3);
  lk_gguf_writer_set_str (w, "t.replaced", "new");
  lk_gguf_writer_set_u32 (w, "general.alignment", 64);
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "a", LK_TYPE_F32, 2, ne_a, data_a, &err), ==,
                   LK_OK);
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "b", LK_TYPE_F16, 1, ne_b, data_b, &err), ==,
                   LK_OK);
  g_assert_cmpint (lk_gguf_writer_add_tensor (w, "a", LK_TYPE_F32, 2, ne_a, data_a, &err), ==,
                   LK_ERR_INVALID);
  g_assert_cmpint (lk_gguf_writer_write (w, path, &err), ==, LK_OK);
  lk_gguf_writer_free (w);

  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_READ, &g, &err), ==, LK_OK);
  g_assert_cmpuint (lk_gguf_alignment (g), ==, 64);
  g_assert_cmpuint (lk_gguf_data_offset (g) % 64, ==, 0);
  g_assert_true (lk_gguf_get_i64 (g, "t.u32", &i64) && i64 == 4000000000ll);
  g_assert_true (lk_gguf_get_i64 (g, "t.i32", &i64) && i64 == -5);
  g_assert_true (lk_gguf_get_i64 (g, "t.u64", &i64) && i64 == (INT64_C (1) << 40));
  g_assert_true (lk_gguf_value_as_f64 (lk_gguf_get (g, "t.f32"), &f64) && f64 == 0.25);
  g_assert_true (lk_gguf_get_bool (g, "t.bool", &b) && b);
  s = lk_gguf_get_str_dup (g, "t.replaced");
  g_assert_cmpstr (s, ==, "new");
  g_assert_cmpuint (lk_gguf_n_kv (g), ==, 10);
  v = lk_gguf_get (g, "t.strs");
  g_assert_cmpuint (v->v.arr.n, ==, 3);
  g_assert_true (lk_gguf_str_equals (v->v.arr.items[2].v.str, "ünïcode"));
  g_assert_true (lk_gguf_str_equals (v->v.arr.items[1].v.str, ""));
  g_assert_true (lk_gguf_arr_get_i64 (lk_gguf_get (g, "t.ints"), 0, &i64) && i64 == -7);
  g_assert_cmpmem (lk_gguf_find_tensor (g, "a")->data, sizeof data_a, data_a, sizeof data_a);
  g_assert_cmpmem (lk_gguf_find_tensor (g, "b")->data, sizeof data_b, data_b, sizeof data_b);
  g_assert_cmpuint (lk_gguf_find_tensor (g, "b")->offset % 64, ==, 0);

  /* Copying a file's metadata and tensors reproduces it byte for byte. */
  {
    g_autofree char *copy = g_build_filename (lathe_test_tmpdir (), "copy.gguf", NULL);
    g_autofree char *a = NULL, *c = NULL;
    gsize la, lc;
    w2 = lk_gguf_writer_new ();
    lk_gguf_writer_copy_kv (w2, g);
    for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
      {
        const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
        g_assert_cmpint (lk_gguf_writer_add_tensor (w2, t->name, t->type, t->n_dims, t->ne,
                                                    t->data, &err), ==, LK_OK);
      }
    g_assert_cmpint (lk_gguf_writer_write (w2, copy, &err), ==, LK_OK);
    lk_gguf_writer_free (w2);
    a = lathe_test_read (path, &la);
    c = lathe_test_read (copy, &lc);
    g_assert_cmpmem (a, la, c, lc);
  }
  lk_gguf_free (g);
}

/* Nested arrays (arrays of arrays) are read element by element. */
static void
test_nested_arrays (void)
{
  GByteArray *b = g_byte_array_new ();
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  const lk_gguf_value *v;
  uint32_t u32;
  uint64_t u64;

#define PUT(x) g_byte_array_append (b, (const guint8 *) &(x), sizeof (x))
  g_byte_array_append (b, (const guint8 *) "GGUF", 4);
  u32 = 3; PUT (u32);
  u64 = 0; PUT (u64);
  u64 = 1; PUT (u64);
  u64 = 6; PUT (u64);
  g_byte_array_append (b, (const guint8 *) "nested", 6);
  u32 = LK_GGUF_ARRAY; PUT (u32);
  u32 = LK_GGUF_ARRAY; PUT (u32);
  u64 = 2; PUT (u64);
  for (int i = 0; i < 2; i++)
    {
      u32 = LK_GGUF_UINT16; PUT (u32);
      u64 = (uint64_t) i + 1; PUT (u64);
      for (int j = 0; j <= i; j++)
        {
          const uint16_t x = (uint16_t) (10 * i + j);
          PUT (x);
        }
    }
#undef PUT
  g_assert_cmpint (lk_gguf_parse (b->data, b->len, "nested", &g, &err), ==, LK_OK);
  v = lk_gguf_get (g, "nested");
  g_assert_cmpuint (v->v.arr.n, ==, 2);
  g_assert_cmpuint (v->v.arr.items[1].v.arr.n, ==, 2);
  {
    int64_t x;
    g_assert_true (lk_gguf_arr_get_i64 (&v->v.arr.items[1], 1, &x));
    g_assert_cmpint (x, ==, 11);
  }
  lk_gguf_free (g);
  g_byte_array_unref (b);
}

/* Damaged files --------------------------------------------------------------
 *
 * A small valid file is built field by field; each case changes one field
 * (or cuts the file) and names the words the error must contain. */

typedef enum
{
  F_NONE,
  F_MAGIC,
  F_VERSION_1,
  F_VERSION_BIG_ENDIAN,
  F_VERSION_99,
  F_KV_COUNT,
  F_TENSOR_COUNT,
  F_KEY_LENGTH,
  F_VALUE_TYPE,
  F_ARRAY_COUNT,
  F_ARRAY_STRINGS,
  F_BOOL,
  F_DUP_KEY,
  F_ALIGNMENT,
  F_N_DIMS,
  F_DIM_ZERO,
  F_DIM_OVERFLOW,
  F_TENSOR_TYPE,
  F_BLOCK_SIZE,
  F_OFFSET_MISALIGNED,
  F_OFFSET_PAST_END,
  F_OVERLAP,
  F_DUP_TENSOR,
  F_TRUNC_HEADER,
  F_TRUNC_KV,
  F_TRUNC_DATA,
  F_EMPTY,
} Fault;

typedef struct
{
  const char *name;
  Fault fault;
  lk_status status;
  const char *words[3]; /* each must appear in the message */
} BadCase;

static const BadCase bad_cases[] = {
  { "magic", F_MAGIC, LK_ERR_FORMAT, { "magic", "GGUF" } },
  { "version-1", F_VERSION_1, LK_ERR_UNSUPPORTED, { "version", "1" } },
  { "version-big-endian", F_VERSION_BIG_ENDIAN, LK_ERR_UNSUPPORTED, { "version", "big-endian" } },
  { "version-99", F_VERSION_99, LK_ERR_FORMAT, { "version", "99" } },
  { "kv-count", F_KV_COUNT, LK_ERR_FORMAT, { "metadata_kv_count" } },
  { "tensor-count", F_TENSOR_COUNT, LK_ERR_FORMAT, { "tensor_count" } },
  { "key-length", F_KEY_LENGTH, LK_ERR_FORMAT, { "metadata key", "truncated" } },
  { "value-type", F_VALUE_TYPE, LK_ERR_FORMAT, { "test.u32", "value type" } },
  { "array-count", F_ARRAY_COUNT, LK_ERR_FORMAT, { "test.arr", "array" } },
  { "array-strings", F_ARRAY_STRINGS, LK_ERR_FORMAT, { "test.strs", "elements" } },
  { "bool", F_BOOL, LK_ERR_FORMAT, { "test.bool", "0 or 1" } },
  { "duplicate-key", F_DUP_KEY, LK_ERR_FORMAT, { "test.u32", "twice" } },
  { "alignment", F_ALIGNMENT, LK_ERR_FORMAT, { "general.alignment", "power of two" } },
  { "n-dims", F_N_DIMS, LK_ERR_FORMAT, { "t0", "n_dims" } },
  { "dim-zero", F_DIM_ZERO, LK_ERR_FORMAT, { "t0", "ne[1]" } },
  { "dim-overflow", F_DIM_OVERFLOW, LK_ERR_FORMAT, { "t0", "ne[1]" } },
  { "tensor-type", F_TENSOR_TYPE, LK_ERR_UNSUPPORTED, { "t0", "type", "77" } },
  { "block-size", F_BLOCK_SIZE, LK_ERR_FORMAT, { "t1", "block size" } },
  { "offset-misaligned", F_OFFSET_MISALIGNED, LK_ERR_FORMAT, { "t1", "offset", "alignment" } },
  { "offset-past-end", F_OFFSET_PAST_END, LK_ERR_FORMAT, { "t1", "offset", "end" } },
  { "overlap", F_OVERLAP, LK_ERR_FORMAT, { "t0", "t1", "overlap" } },
  { "duplicate-tensor", F_DUP_TENSOR, LK_ERR_FORMAT, { "t0", "twice" } },
  { "truncated-header", F_TRUNC_HEADER, LK_ERR_FORMAT, { "truncated" } },
  { "truncated-metadata", F_TRUNC_KV, LK_ERR_FORMAT, { "truncated" } },
  { "truncated-data", F_TRUNC_DATA, LK_ERR_FORMAT, { "t1", "truncated" } },
  { "empty", F_EMPTY, LK_ERR_FORMAT, { "empty" } },
};

static void
put (GByteArray *b, const void *p, gsize n)
{
  g_byte_array_append (b, p, (guint) n);
}

static void
put_u32 (GByteArray *b, uint32_t v)
{
  put (b, &v, 4);
}

static void
put_u64 (GByteArray *b, uint64_t v)
{
  put (b, &v, 8);
}

static void
put_str (GByteArray *b, const char *s)
{
  put_u64 (b, strlen (s));
  put (b, s, strlen (s));
}

static void
put_tensor_info (GByteArray *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                 uint32_t type, uint64_t offset)
{
  put_str (b, name);
  put_u32 (b, n_dims);
  for (uint32_t i = 0; i < n_dims; i++)
    put_u64 (b, ne[i]);
  put_u32 (b, type);
  put_u64 (b, offset);
}

/* Two tensors: t0 F32 [8, 4] (128 bytes) at 0, t1 Q8_0 [32, 2] (68 bytes) at 128. */
static GByteArray *
build_file (Fault f)
{
  GByteArray *b = g_byte_array_new ();
  /* Room for the nine dimensions of the n_dims case. */
  const uint64_t ne0[9] = { 8, f == F_DIM_ZERO ? 0 : f == F_DIM_OVERFLOW ? UINT64_C (1) << 62 : 4,
                            1, 1, 1, 1, 1, 1, 1 };
  const uint64_t ne1[2] = { f == F_BLOCK_SIZE ? 33 : 32, 2 };
  const uint64_t n_kv = f == F_ALIGNMENT ? 6 : 5;
  uint32_t version = 3;
  gsize data_start;

  if (f == F_EMPTY)
    return b;
  put (b, f == F_MAGIC ? "GGML" : "GGUF", 4);
  if (f == F_VERSION_1)
    version = 1;
  else if (f == F_VERSION_BIG_ENDIAN)
    version = 0x03000000u;
  else if (f == F_VERSION_99)
    version = 99;
  put_u32 (b, version);
  put_u64 (b, f == F_TENSOR_COUNT ? UINT64_C (1) << 60 : 2);
  put_u64 (b, f == F_KV_COUNT ? UINT64_C (1) << 59 : n_kv);
  if (f == F_TRUNC_HEADER)
    {
      g_byte_array_set_size (b, 20);
      return b;
    }
  /* key 1: test.u32 */
  if (f == F_KEY_LENGTH)
    put_u64 (b, UINT64_C (1) << 40);
  else
    put_str (b, "test.u32");
  put_u32 (b, f == F_VALUE_TYPE ? 99 : LK_GGUF_UINT32);
  put_u32 (b, 7);
  /* key 2: test.arr, an array of uint16 */
  put_str (b, "test.arr");
  put_u32 (b, LK_GGUF_ARRAY);
  put_u32 (b, LK_GGUF_UINT16);
  put_u64 (b, f == F_ARRAY_COUNT ? UINT64_C (1) << 62 : 3);
  for (uint16_t i = 0; i < 3; i++)
    put (b, &i, 2);
  /* key 3: test.strs */
  put_str (b, "test.strs");
  put_u32 (b, LK_GGUF_ARRAY);
  put_u32 (b, LK_GGUF_STRING);
  put_u64 (b, f == F_ARRAY_STRINGS ? UINT64_C (1) << 61 : 2);
  put_str (b, "x");
  put_str (b, "yz");
  if (f == F_TRUNC_KV)
    {
      g_byte_array_set_size (b, b->len - 3);
      return b;
    }
  /* key 4: test.bool */
  put_str (b, "test.bool");
  put_u32 (b, LK_GGUF_BOOL);
  {
    const uint8_t v = f == F_BOOL ? 2 : 1;
    put (b, &v, 1);
  }
  /* key 5: a string, or test.u32 again */
  put_str (b, f == F_DUP_KEY ? "test.u32" : "general.name");
  put_u32 (b, f == F_DUP_KEY ? LK_GGUF_UINT32 : LK_GGUF_STRING);
  if (f == F_DUP_KEY)
    put_u32 (b, 8);
  else
    put_str (b, "damaged");
  if (f == F_ALIGNMENT)
    {
      put_str (b, "general.alignment");
      put_u32 (b, LK_GGUF_UINT32);
      put_u32 (b, 24);
    }
  put_tensor_info (b, "t0", f == F_N_DIMS ? 9 : 2, ne0, f == F_TENSOR_TYPE ? 77 : LK_TYPE_F32, 0);
  put_tensor_info (b, f == F_DUP_TENSOR ? "t0" : "t1", 2, ne1, LK_TYPE_Q8_0,
                   f == F_OFFSET_MISALIGNED ? 130
                   : f == F_OFFSET_PAST_END ? 4096
                   : f == F_OVERLAP         ? 96
                                            : 128);
  while (b->len % 32 != 0)
    put (b, "", 1);
  data_start = b->len;
  g_byte_array_set_size (b, (guint) (data_start + 128 + 68));
  memset (b->data + data_start, 0, 128 + 68);
  if (f == F_TRUNC_DATA)
    g_byte_array_set_size (b, b->len - 10);
  return b;
}

static void
test_valid_built_file (void)
{
  g_autoptr (GByteArray) b = build_file (F_NONE);
  lk_gguf *g = NULL;
  lk_error err = { 0 };

  g_assert_cmpint (lk_gguf_parse (b->data, b->len, "built.gguf", &g, &err), ==, LK_OK);
  g_assert_cmpuint (lk_gguf_n_tensors (g), ==, 2);
  g_assert_cmpuint (lk_gguf_find_tensor (g, "t1")->nbytes, ==, 68);
  lk_gguf_free (g);
  /* Version 2 has the same layout (64-bit counts) and reads the same. */
  b->data[4] = 2;
  g_assert_cmpint (lk_gguf_parse (b->data, b->len, "built-v2.gguf", &g, &err), ==, LK_OK);
  g_assert_cmpuint (lk_gguf_version (g), ==, 2);
  g_assert_cmpuint (lk_gguf_n_tensors (g), ==, 2);
  lk_gguf_free (g);
}

static void
test_bad_file (gconstpointer data)
{
  const BadCase *c = data;
  g_autoptr (GByteArray) b = build_file (c->fault);
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), c->name, NULL);
  lk_gguf *g = NULL;
  lk_error err = { 0 };
  g_autoptr (GError) error = NULL;

  /* Through a real file, so the message must name it. */
  g_file_set_contents (path, (const char *) b->data, b->len, &error);
  g_assert_no_error (error);
  g_assert_cmpint (lk_gguf_open (path, LK_LOAD_READ, &g, &err), ==, c->status);
  g_assert_null (g);
  g_assert_nonnull (strstr (err.message, path));
  for (int i = 0; i < 3 && c->words[i] != NULL; i++)
    if (strstr (err.message, c->words[i]) == NULL)
      g_error ("case %s: \"%s\" is not in the message: %s", c->name, c->words[i], err.message);
  /* The same bytes through the memory parser, and every shorter prefix: no
   * crash, always an error. */
  for (guint len = 0; len < b->len; len += 1 + len / 8)
    {
      lk_error e2 = { 0 };
      lk_gguf *g2 = NULL;
      if (lk_gguf_parse (b->data, len, c->name, &g2, &e2) == LK_OK)
        lk_gguf_free (g2);
    }
}

/* A model file whose tensors do not match its hyper-parameters. */
static void
test_bad_model (void)
{
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), "badshape.gguf", NULL);
  g_autofree char *src = lathe_test_shared ("models/stories260K.gguf");
  lk_gguf *g = NULL;
  lk_gguf_writer *w;
  lk_model *m = NULL;
  lk_error err = { 0 };

  if (src == NULL)
    return;
  g_assert_cmpint (lk_gguf_open (src, LK_LOAD_READ, &g, &err), ==, LK_OK);
  w = lk_gguf_writer_new ();
  lk_gguf_writer_copy_kv (w, g);
  lk_gguf_writer_set_u32 (w, "llama.feed_forward_length", 180);
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, t->data,
                                                  &err), ==, LK_OK);
    }
  g_assert_cmpint (lk_gguf_writer_write (w, path, &err), ==, LK_OK);
  lk_gguf_writer_free (w);
  lk_gguf_free (g);
  g_assert_cmpint (lk_model_open (path, NULL, &m, &err), ==, LK_ERR_FORMAT);
  g_assert_null (m);
  g_assert_nonnull (strstr (err.message, "blk.0.ffn_gate.weight"));
  g_assert_nonnull (strstr (err.message, "[64, 180]"));
  g_assert_nonnull (strstr (err.message, path));
}

/* Keys a model's loader reads, damaged one at a time in a copy of
 * stories260K: each a clear error naming the key and what is wrong. */
typedef struct
{
  const char *key;
  int kind; /* 0: f32 value, 1: u32 value, 2: string value */
  double number;
  const char *text;
  const char *expect;
} BadKey;

static void
test_bad_keys (void)
{
  static const BadKey cases[] = {
    { "llama.rope.scaling.factor", 0, 0, NULL, "'llama.rope.scaling.factor' is 0, expected a factor above 0" },
    { "llama.rope.scaling.factor", 0, NAN, NULL, "'llama.rope.scaling.factor' is nan, expected a finite number" },
    { "llama.rope.scaling.factor", 0, -2, NULL, "expected a factor above 0" },
    { "llama.rope.freq_base", 0, INFINITY, NULL, "'llama.rope.freq_base' is inf" },
    { "llama.rope.freq_base", 0, 0, NULL, "expected a positive base" },
    { "llama.rope.scaling.type", 1, 3, NULL, "'llama.rope.scaling.type' has type uint32, expected a string" },
    { "general.architecture", 1, 7, NULL, "'general.architecture' has type uint32, expected a string" },
    { "llama.attention.layer_norm_rms_epsilon", 0, NAN, NULL, "expected a finite number" },
  };
  g_autofree char *src = lathe_test_shared ("models/stories260K.gguf");
  lk_gguf *g = NULL;
  lk_error err = { 0 };

  if (src == NULL)
    return;
  g_assert_cmpint (lk_gguf_open (src, LK_LOAD_READ, &g, &err), ==, LK_OK);
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      g_autofree char *path = g_strdup_printf ("%s/badkey-%u.gguf", lathe_test_tmpdir (), c);
      lk_gguf_writer *w = lk_gguf_writer_new ();
      lk_model *m = NULL;
      lk_gguf_writer_copy_kv (w, g);
      if (cases[c].kind == 0)
        lk_gguf_writer_set_f32 (w, cases[c].key, (float) cases[c].number);
      else if (cases[c].kind == 1)
        lk_gguf_writer_set_u32 (w, cases[c].key, (uint32_t) cases[c].number);
      else
        lk_gguf_writer_set_str (w, cases[c].key, cases[c].text);
      for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
        {
          const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
          g_assert_cmpint (lk_gguf_writer_add_tensor (w, t->name, t->type, t->n_dims, t->ne, t->data, &err), ==,
                           LK_OK);
        }
      g_assert_cmpint (lk_gguf_writer_write (w, path, &err), ==, LK_OK);
      lk_gguf_writer_free (w);
      g_assert_cmpint (lk_model_open (path, NULL, &m, &err), !=, LK_OK);
      g_test_message ("%s", err.message);
      g_assert_null (m);
      g_assert_nonnull (strstr (err.message, path));
      g_assert_nonnull (strstr (err.message, cases[c].expect));
    }
  lk_gguf_free (g);
}

static guint
count_temp_files (const char *dir)
{
  g_autoptr (GDir) it = g_dir_open (dir, 0, NULL);
  const char *name;
  guint n = 0;

  while (it != NULL && (name = g_dir_read_name (it)) != NULL)
    n += lk_is_temp_name (name);
  return n;
}

/* A writer killed mid-write leaves no half file and its temporary file
 * goes at the next write into that folder; a live writer's is left alone;
 * earlier versions' leftovers (NAME.tmp-XXXXXX) go too. */
static void
test_stale_temp_files (void)
{
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "stale", NULL);
  g_autofree char *dest = g_build_filename (dir, "out.gguf", NULL);
  g_autofree char *old = g_build_filename (dir, "old.gguf.tmp-AbC123", NULL);
  int ready[2], go[2];
  lk_atomic_file f;
  lk_error err = { 0 };
  pid_t dying, living;
  int status = 0;
  char byte;

  g_mkdir_with_parents (dir, 0755);
  g_assert_true (g_file_set_contents (old, "left by an older Lathe", -1, NULL));
  /* One writer killed while writing. */
  dying = fork ();
  if (dying == 0)
    {
      if (lk_atomic_file_open (&f, dest, &err) != LK_OK)
        _exit (1);
      fputs ("half a model", f.fp);
      fflush (f.fp);
      raise (SIGKILL);
    }
  g_assert_cmpint (waitpid (dying, &status, 0), ==, dying);
  g_assert_true (WIFSIGNALED (status));
  /* Its temporary file stays (opening it cleaned the older Lathe's). */
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (old, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_temp_files (dir), ==, 1);
  /* One still writing, until told to stop. */
  g_assert_cmpint (pipe (ready), ==, 0);
  g_assert_cmpint (pipe (go), ==, 0);
  living = fork ();
  if (living == 0)
    {
      if (lk_atomic_file_open (&f, dest, &err) != LK_OK)
        _exit (1);
      close (ready[0]);
      close (go[1]);
      (void) !write (ready[1], "r", 1);
      (void) !read (go[0], &byte, 1);
      lk_atomic_file_abort (&f);
      _exit (0);
    }
  close (ready[1]);
  close (go[0]);
  g_assert_cmpint (read (ready[0], &byte, 1), ==, 1);
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  /* The killed writer's is gone (the next writer cleaned it), the live
   * one's stays, even through another cleaning. */
  g_assert_cmpuint (count_temp_files (dir), ==, 1);
  g_assert_cmpint (lk_clean_stale (dir), ==, 0);
  g_assert_cmpuint (count_temp_files (dir), ==, 1);
  g_assert_cmpint (write (go[1], "g", 1), ==, 1);
  waitpid (living, NULL, 0);
  g_assert_cmpuint (count_temp_files (dir), ==, 0);
  /* And a write that completes leaves only its file. */
  g_assert_cmpint (lk_atomic_file_open (&f, dest, &err), ==, LK_OK);
  fputs ("whole", f.fp);
  g_assert_cmpint (lk_atomic_file_commit (&f, &err), ==, LK_OK);
  g_assert_cmpuint (count_temp_files (dir), ==, 0);
  g_assert_true (g_file_test (dest, G_FILE_TEST_IS_REGULAR));
  close (ready[0]);
  close (go[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/engine/gguf/read-stories260K", test_read_stories);
  g_test_add_func ("/lathe/engine/gguf/writer-roundtrip", test_writer_roundtrip);
  g_test_add_func ("/lathe/engine/gguf/nested-arrays", test_nested_arrays);
  g_test_add_func ("/lathe/engine/gguf/built-file", test_valid_built_file);
  g_test_add_func ("/lathe/engine/gguf/model-shape-mismatch", test_bad_model);
  g_test_add_func ("/lathe/engine/gguf/model-bad-keys", test_bad_keys);
  g_test_add_func ("/lathe/engine/gguf/stale-temp-files", test_stale_temp_files);
  for (gsize i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      g_autofree char *p = g_strdup_printf ("/lathe/engine/gguf/bad/%s", bad_cases[i].name);
      g_test_add_data_func (p, &bad_cases[i], test_bad_file);
    }
  return g_test_run ();
}
