/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <unistd.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-hf.h"
#include "lathe-model.h"
#include "lk-export.h"

/* Percent done on one line of stderr, rewritten in place. */
static void
progress_cb (double fraction, gpointer user_data)
{
  int *last = user_data;
  const int pct = (int) (fraction * 100.0);

  if (pct == *last)
    return;
  *last = pct;
  fprintf (stderr, "\r%3d %%", pct);
  if (pct >= 100)
    fputc ('\n', stderr);
}

static int
convert_hf (const char *folder, const char *output, const char *outtype, const char *pre)
{
  LatheHfOptions options;
  GError *error = NULL;
  int last = -1;

  lathe_hf_options_init (&options);
  options.pre = pre;
  if (outtype != NULL && !lathe_hf_out_type_parse (outtype, &options.type))
    {
      lathe_cli_error (_("--outtype is '%s', expected f16, f32, bf16, q8_0 or auto"), outtype);
      return 2;
    }
  if (!lathe_hf_convert (folder, output, &options, isatty (2) ? progress_cb : NULL, &last, NULL,
                         &error))
    {
      if (last >= 0)
        fputc ('\n', stderr);
      return lathe_cli_fail (error);
    }
  fprintf (stderr, _("wrote %s\n"), output);
  return 0;
}

int
lathe_cli_convert (int argc, char **argv)
{
  g_autofree char *tokenizer = NULL, *output = NULL, *outtype = NULL, *pre = NULL;
  const GOptionEntry entries[] = {
    { "tokenizer", 'z', 0, G_OPTION_ARG_FILENAME, &tokenizer,
      N_("tokenizer.bin of a llama2.c checkpoint (default: found beside it)"), N_("FILE") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, N_("GGUF file to write"), N_("FILE") },
    { "outtype", 0, 0, G_OPTION_ARG_STRING, &outtype,
      N_("matrix type of a Hugging Face checkpoint: f16 (default), f32, bf16, q8_0, auto"),
      N_("TYPE") },
    { "pre", 0, 0, G_OPTION_ARG_STRING, &pre,
      N_("pre-tokenizer to write (default: found in tokenizer.json)"), N_("NAME") },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("IN — write a model as GGUF: a Hugging Face checkpoint folder (config.json, safetensors, "
      "tokenizer) or a llama2.c checkpoint with its tokenizer"));
  g_autoptr (LatheModel) model = NULL;
  GError *error = NULL;
  lk_error err = { 0 };

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || output == NULL)
    {
      lathe_cli_error (_("usage: lathe-cli convert HF_FOLDER -o OUT.gguf, or lathe-cli convert "
                         "IN.bin -z TOKENIZER -o OUT.gguf"));
      return 2;
    }
  if (lathe_hf_is_checkpoint (argv[1]))
    return convert_hf (argv[1], output, outtype, pre);
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
