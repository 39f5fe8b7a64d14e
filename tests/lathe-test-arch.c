/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "lathe-test-arch.h"
#include "lathe-test.h"
#include "lk-context.h"

static GArray *
parse_ids (const char *line)
{
  g_auto (GStrv) words = g_strsplit (line, " ", -1);
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (int32_t));

  for (guint i = 1; words[i] != NULL; i++)
    {
      gint64 v;
      if (*words[i] == '\0')
        continue;
      g_assert_true (g_ascii_string_to_signed (words[i], 10, 0, G_MAXINT32, &v, NULL));
      g_array_append_val (ids, (int32_t) { (int32_t) v });
    }
  return ids;
}

/* ARCH.ids: "prompt ID…", "gen ID…", then the margins. */
gboolean
lathe_test_arch_ref (const char *arch, LatheArchRef *ref)
{
  g_autofree char *rel = g_strdup_printf ("archs/%s.ids", arch);
  g_autofree char *path = lathe_test_shared (rel);
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;

  if (path == NULL)
    return FALSE;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  ref->prompt = ref->gen = NULL;
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "prompt "))
      ref->prompt = parse_ids (lines[i]);
    else if (g_str_has_prefix (lines[i], "gen "))
      ref->gen = parse_ids (lines[i]);
  g_assert_nonnull (ref->prompt);
  g_assert_nonnull (ref->gen);
  return TRUE;
}

static int32_t
argmax (const float *l, int n)
{
  int32_t best = 0;

  for (int i = 1; i < n; i++)
    if (l[i] > l[best])
      best = i;
  return best;
}

/* The prompt as Lathe tokenizes it, then greedy decoding one token at a
 * time with an F32 cache (as llama.cpp's reference ran). */
void
lathe_test_arch_greedy (const char *arch, lk_model *m, const LatheArchRef *ref, lk_type kv_type)
{
  const lk_hparams *hp = lk_model_hparams (m);
  lk_tokens toks = { 0 };
  lk_ctx_params cp;
  lk_ctx *ctx = NULL;
  lk_error err = { 0 };
  g_autoptr (GString) text = g_string_new (NULL);
  int32_t next;

  g_assert_cmpint (lk_vocab_tokenize (lk_model_vocab (m), "Once upon a time", 16, true, false, &toks, &err), ==,
                   LK_OK);
  g_assert_cmpuint (toks.n, ==, ref->prompt->len);
  for (guint i = 0; i < ref->prompt->len; i++)
    g_assert_cmpint (toks.ids[i], ==, g_array_index (ref->prompt, int32_t, i));
  lk_ctx_params_init (&cp);
  cp.n_ctx = 256;
  cp.n_threads = 2;
  cp.kv_type = kv_type;
  if (lk_ctx_new (m, &cp, &ctx, &err) != LK_OK)
    g_error ("%s: %s", arch, err.message);
  g_assert_cmpint (lk_ctx_decode (ctx, toks.ids, (int) toks.n, false, &err), ==, LK_OK);
  for (guint i = 0; i < ref->gen->len; i++)
    {
      char piece[64];
      size_t n;
      next = argmax (lk_ctx_logits (ctx, 0), hp->n_vocab);
      n = lk_vocab_piece (lk_model_vocab (m), next, false, piece, sizeof piece);
      g_string_append_len (text, piece, (gssize) MIN (n, sizeof piece));
      if (next != g_array_index (ref->gen, int32_t, i))
        g_error ("%s: token %u is %d, llama.cpp's is %d (text so far: \"%s\")", arch, i, next,
                 g_array_index (ref->gen, int32_t, i), text->str);
      g_assert_cmpint (lk_ctx_decode (ctx, &next, 1, false, &err), ==, LK_OK);
    }
  g_test_message ("%s (%s cache): %u tokens as llama.cpp's: \"%s\"", arch, lk_type_name (kv_type), ref->gen->len,
                  text->str);
  lk_ctx_free (ctx);
  lk_tokens_clear (&toks);
}

void
lathe_test_arch_ref_clear (LatheArchRef *ref)
{
  g_clear_pointer (&ref->prompt, g_array_unref);
  g_clear_pointer (&ref->gen, g_array_unref);
}
