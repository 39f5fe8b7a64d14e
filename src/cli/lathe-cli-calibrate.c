/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-calibrate.h"
#include "lathe-cli.h"
#include "lathe-error.h"

static void
progress_cb (gpointer user, int done, int total)
{
  fprintf (stderr, "\rchunk %d/%d", done, total);
  if (done == total)
    fputc ('\n', stderr);
}

int
lathe_cli_calibrate (int argc, char **argv)
{
  g_autofree char *text = NULL, *out = NULL;
  int n_ctx = 0, chunks = 0, threads = 0;
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &text, N_("Calibration text"), N_("FILE") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Importance matrix to write (GGUF)"),
      N_("FILE") },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, N_("Tokens per chunk (default 256)"), "N" },
    { "chunks", 0, 0, G_OPTION_ARG_INT, &chunks, N_("Use at most N chunks (0: all)"), "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("MODEL — activation statistics of every matrix input, for weighted quantization and wanda"));
  g_autoptr (LatheModel) model = NULL;
  g_autofree char *base = NULL;
  LatheCalibrateOptions o;
  lk_imatrix *im;
  lk_error err = { 0 };
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || text == NULL || out == NULL || n_ctx < 0 || chunks < 0 || threads < 0)
    {
      lathe_cli_error (_("usage: lathe-cli calibrate MODEL -f TEXT -o IMATRIX [--ctx N] [--chunks N]"));
      return 2;
    }
  model = lathe_model_load (argv[1], NULL, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  lathe_calibrate_options_init (&o);
  o.n_ctx = n_ctx;
  o.max_chunks = chunks;
  o.n_threads = threads;
  if (!quiet)
    o.progress = progress_cb;
  if ((im = lathe_calibrate (model, text, &o, NULL, &error)) == NULL)
    return lathe_cli_fail (error);
  base = g_path_get_basename (text);
  if (lk_imatrix_save (im, out, base, &err) != LK_OK)
    {
      lk_imatrix_free (im);
      lathe_error_from_engine (&error, &err);
      return lathe_cli_fail (error);
    }
  if (!quiet)
    fprintf (stderr, _("wrote %s: statistics of %d matrices over %d chunks\n"), out,
             lk_imatrix_n_entries (im), lk_imatrix_chunks (im));
  lk_imatrix_free (im);
  return 0;
}
