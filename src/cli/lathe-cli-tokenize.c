/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include <string.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-model.h"

static gboolean
is_gguf (const char *path)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) in = g_file_read (file, NULL, NULL);
  char magic[4];
  gsize n = 0;

  return in != NULL
         && g_input_stream_read_all (G_INPUT_STREAM (in), magic, 4, &n, NULL, NULL) && n == 4
         && memcmp (magic, "GGUF", 4) == 0;
}

static GArray *
tokenize_vocab_only (const char *path, const char *text, GError **error)
{
  lk_vocab *vocab = NULL;
  lk_tokens toks = { 0 };
  lk_error err = { 0 };
  GArray *ids = NULL;

  if (lk_vocab_open (path, &vocab, &err) == LK_OK
      && lk_vocab_tokenize (vocab, text, strlen (text), FALSE, FALSE, &toks, &err) == LK_OK)
    {
      ids = g_array_sized_new (FALSE, FALSE, sizeof (gint32), (guint) toks.n);
      g_array_append_vals (ids, toks.ids, (guint) toks.n);
    }
  else
    lathe_error_from_engine (error, &err);
  lk_tokens_clear (&toks);
  lk_vocab_free (vocab);
  return ids;
}

int
lathe_cli_tokenize (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *tokenizer = NULL;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, N_("Model file"), N_("FILE") },
    { "tokenizer", 'z', 0, G_OPTION_ARG_FILENAME, &tokenizer,
      N_("tokenizer.bin of a llama2.c checkpoint"), N_("FILE") },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("TEXT — print the token ids of TEXT (without BOS)"));
  g_autoptr (LatheModel) model = NULL;
  g_autoptr (GArray) ids = NULL;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (model_path == NULL || argc != 2)
    {
      lathe_cli_error (_("usage: lathe-cli tokenize -m MODEL TEXT"));
      return 2;
    }
  if (tokenizer == NULL && is_gguf (model_path))
    {
      /* Only the vocabulary is needed: vocabulary-only files and models of
       * any architecture can be tokenized. */
      ids = tokenize_vocab_only (model_path, argv[1], &error);
    }
  else
    {
      model = lathe_model_load (model_path, tokenizer, NULL, &error);
      if (model != NULL)
        ids = lathe_model_tokenize (model, argv[1], &error);
    }
  if (ids == NULL)
    return lathe_cli_fail (error);
  for (guint i = 0; i < ids->len; i++)
    printf (i ? " %d" : "%d", g_array_index (ids, gint32, i));
  printf ("\n");
  return 0;
}
