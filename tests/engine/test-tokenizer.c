/* SPDX-License-Identifier: MIT */
/* Tokenizers against the test vectors of real vocabularies, and the
 * pre-tokenizer family. */
#include <string.h>

#include "lathe-test.h"
#include "lk-model.h"
#include "lk-vocab-private.h"
#include "lk-vocab.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"

static void
check_vectors (const char *vocab_name)
{
  g_autofree char *rel = g_strdup_printf ("vocab/ggml-vocab-%s.gguf", vocab_name);
  g_autofree char *path = lathe_test_shared (rel);
  g_autofree char *inp_path = NULL, *out_path = NULL, *inp = NULL, *out = NULL;
  g_auto (GStrv) strings = NULL, lines = NULL;
  lk_vocab *v = NULL;
  lk_error err = { 0 };
  guint n_strings, n_checked = 0;

  if (path == NULL)
    return;
  inp_path = g_strconcat (path, ".inp", NULL);
  out_path = g_strconcat (path, ".out", NULL);
  inp = lathe_test_read (inp_path, NULL);
  out = lathe_test_read (out_path, NULL);
  g_assert_true (g_str_has_suffix (inp, SEPARATOR));
  inp[strlen (inp) - strlen (SEPARATOR)] = '\0';
  strings = g_strsplit (inp, SEPARATOR, -1);
  lines = g_strsplit (out, "\n", -1);
  n_strings = g_strv_length (strings);
  g_assert_cmpuint (n_strings, >=, 30);
  g_assert_cmpuint (g_strv_length (lines), >=, n_strings);

  g_assert_cmpint (lk_vocab_open (path, &v, &err), ==, LK_OK);
  for (guint i = 0; i < n_strings; i++)
    {
      lk_tokens toks = { 0 };
      g_autoptr (GString) got = g_string_new (NULL);
      g_autofree char *want = g_strstrip (g_strdup (lines[i]));
      g_assert_cmpint (lk_vocab_tokenize (v, strings[i], strlen (strings[i]), false, false, &toks,
                                          &err), ==, LK_OK);
      for (size_t j = 0; j < toks.n; j++)
        g_string_append_printf (got, j ? " %d" : "%d", toks.ids[j]);
      if (strcmp (got->str, want) != 0)
        g_error ("%s, vector %u (\"%s\"): got [%s], expected [%s]", vocab_name, i, strings[i],
                 got->str, want);
      lk_tokens_clear (&toks);
      n_checked++;
    }
  g_assert_cmpuint (n_checked, ==, n_strings);
  lk_vocab_free (v);
}

static void
test_llama_spm (void)
{
  check_vectors ("llama-spm");
}

static void
test_gpt2 (void)
{
  check_vectors ("gpt-2");
}

/* Decoding the tokens of a text gives the text back. */
static void
test_roundtrip (void)
{
  const char *names[] = { "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf" };
  const char *texts[] = { "Hello, world!", " two  spaces", "Ünïcödé ✓ 🦙\n\tand tabs",
                          "3.14159 and 1,000,000", "" };

  for (gsize f = 0; f < G_N_ELEMENTS (names); f++)
    {
      g_autofree char *path = lathe_test_shared (names[f]);
      lk_vocab *v = NULL;
      lk_error err = { 0 };
      if (path == NULL)
        return;
      g_assert_cmpint (lk_vocab_open (path, &v, &err), ==, LK_OK);
      for (gsize i = 0; i < G_N_ELEMENTS (texts); i++)
        {
          lk_tokens toks = { 0 };
          g_autoptr (GString) s = g_string_new (NULL);
          g_assert_cmpint (lk_vocab_tokenize (v, texts[i], strlen (texts[i]), false, false, &toks,
                                              &err), ==, LK_OK);
          for (size_t j = 0; j < toks.n; j++)
            {
              char buf[64];
              size_t n = lk_vocab_piece (v, toks.ids[j], false, buf, sizeof buf);
              g_assert_cmpuint (n, <=, sizeof buf);
              g_string_append_len (s, buf, (gssize) n);
            }
          /* SentencePiece adds a leading space that decoding keeps. */
          if (lk_vocab_get_type (v) == LK_VOCAB_SPM && *texts[i] != '\0')
            g_assert_cmpstr (s->str + 1, ==, texts[i]);
          else
            g_assert_cmpstr (s->str, ==, texts[i]);
          lk_tokens_clear (&toks);
        }
      lk_vocab_free (v);
    }
}

/* Invalid UTF-8 does not break either tokenizer. */
static void
test_invalid_utf8 (void)
{
  const char *names[] = { "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf" };
  const char bad[] = "ok \xff\xfe broken \xe2\x82 end";

  for (gsize f = 0; f < G_N_ELEMENTS (names); f++)
    {
      g_autofree char *path = lathe_test_shared (names[f]);
      lk_vocab *v = NULL;
      lk_tokens toks = { 0 };
      lk_error err = { 0 };
      if (path == NULL)
        return;
      g_assert_cmpint (lk_vocab_open (path, &v, &err), ==, LK_OK);
      g_assert_cmpint (lk_vocab_tokenize (v, bad, sizeof bad - 1, true, false, &toks, &err), ==,
                       LK_OK);
      g_assert_cmpuint (toks.n, >, 4);
      for (size_t j = 0; j < toks.n; j++)
        g_assert_true (toks.ids[j] >= 0 && toks.ids[j] < lk_vocab_n_tokens (v));
      lk_tokens_clear (&toks);
      lk_vocab_free (v);
    }
}

/* The llama2.c tokenizer.bin and the GGUF conversion of the same model are
 * one tokenizer. */
static void
test_llama2c_matches_gguf (void)
{
  g_autofree char *bin = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *tok = lathe_test_shared ("models/tok512.bin");
  g_autofree char *gguf = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *eval = lathe_test_shared ("eval/tinystories-valid-head.txt");
  g_autofree char *text = NULL;
  lk_model_params p;
  lk_model *a = NULL, *b = NULL;
  lk_tokens ta = { 0 }, tb = { 0 };
  lk_error err = { 0 };
  gsize len;

  if (bin == NULL || tok == NULL || gguf == NULL || eval == NULL)
    return;
  lk_model_params_init (&p);
  p.tokenizer_path = tok;
  g_assert_cmpint (lk_model_open (bin, &p, &a, &err), ==, LK_OK);
  g_assert_cmpint (lk_model_open (gguf, NULL, &b, &err), ==, LK_OK);
  text = lathe_test_read (eval, &len);
  len = MIN (len, 20000);
  g_assert_cmpint (lk_vocab_tokenize (lk_model_vocab (a), text, len, true, false, &ta, &err), ==,
                   LK_OK);
  g_assert_cmpint (lk_vocab_tokenize (lk_model_vocab (b), text, len, true, false, &tb, &err), ==,
                   LK_OK);
  g_assert_cmpuint (ta.n, >, 3000);
  g_assert_cmpmem (ta.ids, ta.n * sizeof (int32_t), tb.ids, tb.n * sizeof (int32_t));
  lk_tokens_clear (&ta);
  lk_tokens_clear (&tb);
  lk_model_free (a);
  lk_model_free (b);
}

/* Every pre-tokenizer GGUF names compiles, and splits as its family does. */
typedef struct
{
  const char *pre;
  const char *text;
  const char *pieces; /* joined with | */
} PretokCase;

static const PretokCase pretok_cases[] = {
  { "gpt-2", "Hello world's 12345!!", "Hello| world|'s| 12345|!!" },
  { "llama3", "Hello world's 12345!!", "Hello| world|'s| |123|45|!!" },
  { "llama3", "I'M  here\n\n", "I|'M| | here|\n\n" },
  { "qwen2", "abc 2024", "abc| |2|0|2|4" },
  { "starcoder", "x = 42", "x| =| |4|2" },
  { "smollm", "x = 42", "x| =| |4|2" },
  { "falcon", "a+b 1234", "a|+|b| |123|4" },
  { "deepseek-llm", "Hello 123\n", "Hello| |123|\n" },
  { "deepseek-coder", "def f(x):", "def| f|(|x|):" },
  { "deepseek-v3", "abc 12345", "abc| |123|45" },
  { "tekken", "HelloWorld 7", "Hello|World| |7" },
  { "bloom", "Hi there, you", "Hi| there|,| you" },
  /* Each expression splits the pieces of the one before it, matches included. */
  { "chameleon", "<sentinel:12>ab", "<|sentinel|:|1|2|>|ab" },
  { "default", "a+b 1234", "a|+|b| |123|4" },
  { "dbrx", "go 12345", "go| |123|45" },
  { "viking", "ab 12", "ab| |1|2" },
};

static void
test_pretokenizers (void)
{
  for (gsize i = 0; i < G_N_ELEMENTS (pretok_cases); i++)
    {
      const PretokCase *c = &pretok_cases[i];
      g_autofree char *text = g_strcompress (c->text);
      g_autofree char *want = g_strcompress (c->pieces);
      g_autoptr (GString) got = g_string_new (NULL);
      size_t *ranges = NULL, n = 0, cap = 0;
      bool ignore;
      lk_error err = { 0 };
      lk_pretok *p = lk_pretok_new (c->pre, &ignore, &err);

      if (p == NULL)
        g_error ("%s: %s", c->pre, err.message);
      g_assert_cmpint (lk_pretok_split (p, text, strlen (text), &ranges, &n, &cap, &err), ==,
                       LK_OK);
      for (size_t r = 0; r < n; r += 2)
        {
          if (r)
            g_string_append_c (got, '|');
          g_string_append_len (got, text + ranges[r], (gssize) (ranges[r + 1] - ranges[r]));
        }
      if (strcmp (got->str, want) != 0)
        g_error ("pre-tokenizer %s on \"%s\": got [%s], expected [%s]", c->pre, text, got->str,
                 want);
      g_assert_cmpint (ignore, ==, g_str_equal (c->pre, "llama3") || g_str_equal (c->pre, "tekken"));
      free (ranges);
      lk_pretok_free (p);
    }
  g_assert_false (lk_pretok_known ("no-such-pre-tokenizer"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/engine/tokenizer/llama-spm", test_llama_spm);
  g_test_add_func ("/lathe/engine/tokenizer/gpt-2", test_gpt2);
  g_test_add_func ("/lathe/engine/tokenizer/roundtrip", test_roundtrip);
  g_test_add_func ("/lathe/engine/tokenizer/pre-tokenizers", test_pretokenizers);
  g_test_add_func ("/lathe/engine/tokenizer/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/lathe/engine/tokenizer/llama2c-equals-gguf", test_llama2c_matches_gguf);
  return g_test_run ();
}
