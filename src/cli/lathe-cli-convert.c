/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-model.h"
#include "lk-export.h"

int
lathe_cli_convert (int argc, char **argv)
{
  g_autofree char *tokenizer = NULL, *output = NULL;
  const GOptionEntry entries[] = {
    { "tokenizer", 'z', 0, G_OPTION_ARG_FILENAME, &tokenizer,
      N_("tokenizer.bin of the checkpoint (default: found beside it)"), N_("FILE") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, N_("GGUF file to write"), N_("FILE") },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("IN — write a model (e.g. a llama2.c checkpoint) as GGUF with its tokenizer"));
  g_autoptr (LatheModel) model = NULL;
  GError *error = NULL;
  lk_error err = { 0 };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || output == NULL)
    {
      lathe_cli_error (_("usage: lathe-cli convert IN.bin -z TOKENIZER -o OUT.gguf"));
      return 2;
    }
  model = lathe_model_load (argv[1], tokenizer, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  if (!lathe_model_has_tokenizer (model))
    {
      lathe_cli_error (_("%s: no tokenizer found; give it with -z tokenizer.bin"), argv[1]);
      return 1;
    }
  if (lk_model_save_gguf (lathe_model_get_engine (model), output, &err) != LK_OK)
    {
      lathe_error_from_engine (&error, &err);
      return lathe_cli_fail (error);
    }
  fprintf (stderr, _("wrote %s\n"), output);
  return 0;
}
