/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "lathe-cli.h"
#include "lathe-workspace.h"

typedef struct
{
  const char *name;
  int (*run) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  { "inspect", lathe_cli_inspect, N_("Show a model's architecture, tokenizer and tensors") },
  { "generate", lathe_cli_generate, N_("Generate text from a prompt") },
  { "tokenize", lathe_cli_tokenize, N_("Print the token ids of a text") },
  { "convert", lathe_cli_convert, N_("Convert a Hugging Face or llama2.c checkpoint to GGUF") },
  { "synth", lathe_cli_synth, N_("Write a random-weight model of any shape") },
  { "quantize", lathe_cli_quantize, N_("Write a model with its matrices in another type") },
  { "prune", lathe_cli_prune, N_("Set the least important weights of a model to zero") },
  { "apply", lathe_cli_apply, N_("Write the variant a recipe describes") },
  { "sensitivity", lathe_cli_sensitivity, N_("Measure how much each tensor loses in each type") },
  { "calibrate", lathe_cli_calibrate, N_("Collect activation statistics for weighted quantization") },
  { "bench", lathe_cli_bench, N_("Measure prompt and generation speed") },
  { "logit-lens", lathe_cli_logit_lens, N_("Per layer, how close an early exit comes to the full model") },
  { "eval", lathe_cli_eval, N_("Measure perplexity and the distance to a reference model") },
  { "sweep", lathe_cli_sweep, N_("Make and measure a grid of variants in a workspace") },
  { "workspace", lathe_cli_workspace, N_("Show a workspace's variants, their figures and Pareto front") },
  { "device", lathe_cli_device, N_("Remember, list, forget and probe devices reached over SSH") },
  { "profile", lathe_cli_profile, N_("Measure a model on a device with lathe-run") },
  { "bundle", lathe_cli_bundle, N_("Create or verify a deployment bundle") },
};

static void
usage (FILE *fp)
{
  fprintf (fp, "%s\n\n%s\n", _("Usage: lathe-cli COMMAND [OPTIONS…]"), _("Commands:"));
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (fp, "  %-10s %s\n", commands[i].name, _(commands[i].summary));
  fprintf (fp, "\n%s\n", _("Run “lathe-cli COMMAND --help” for the options of a command."));
}

void
lathe_cli_error (const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "lathe-cli: %s\n", msg);
}

int
lathe_cli_fail (GError *error)
{
  lathe_cli_error ("%s", error->message);
  g_error_free (error);
  return 1;
}

void
lathe_cli_warn_problems (LatheWorkspace *ws)
{
  GPtrArray *problems = lathe_workspace_get_problems (ws);

  for (guint i = 0; i < problems->len; i++)
    lathe_cli_error (_("warning: %s (left as it is; this variant is not shown)"),
                     (const char *) g_ptr_array_index (problems, i));
}

gboolean
lathe_cli_parse (GOptionContext *context, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  if (!g_option_context_parse (context, argc, argv, &error))
    {
      lathe_cli_error ("%s", error->message);
      return FALSE;
    }
  return TRUE;
}

void
lathe_cli_chunk_progress (gpointer user, const char *stage, int done, int total)
{
  fprintf (stderr, "\r%-10s chunk %d/%d", stage, done, total);
  if (done == total)
    fputc ('\n', stderr);
}

char *
lathe_cli_format_count (guint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf ("%.2f B", n / 1e9);
  if (n >= 1000000)
    return g_strdup_printf ("%.2f M", n / 1e6);
  if (n >= 1000)
    return g_strdup_printf ("%.1f K", n / 1e3);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  if (argc < 2)
    {
      usage (stderr);
      return 2;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0)
    {
      usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("lathe-cli %s\n", PACKAGE_VERSION);
      return 0;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  lathe_cli_error (_("unknown command “%s”"), argv[1]);
  usage (stderr);
  return 2;
}
