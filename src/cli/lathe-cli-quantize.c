/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-model.h"
#include "lk-quantize.h"

static void
progress_cb (void *user, int done, int total, const char *tensor)
{
  fprintf (stderr, "\r[%3d/%3d] %-40s", done + 1, total, tensor);
}

int
lathe_cli_quantize (int argc, char **argv)
{
  gboolean pure = FALSE, quiet = FALSE;
  int threads = 0;
  const GOptionEntry entries[] = {
    { "pure", 0, 0, G_OPTION_ARG_NONE, &pure,
      N_("Give every matrix the type (no higher precision for the output head)"), NULL },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress and no table"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("IN OUT TYPE — write IN with its matrices in TYPE (Q8_0, Q4_0, Q4_K_M, F16, …)"));
  g_autoptr (LatheModel) model = NULL;
  lk_quantize_params qp;
  lk_quantize_report report;
  lk_error err = { 0 };
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 4)
    {
      lathe_cli_error (_("usage: lathe-cli quantize IN OUT TYPE"));
      return 2;
    }
  lk_quantize_params_init (&qp);
  if (!lk_quantize_parse_type (argv[3], &qp.type, &qp.mix))
    {
      lathe_cli_error (_("TYPE is “%s”; expected one of F32, F16, BF16, Q8_0, Q5_1, Q5_0, Q4_1, "
                         "Q4_0, Q6_K, Q5_K_M, Q4_K_M, Q3_K_M, Q2_K"), argv[3]);
      return 2;
    }
  if (pure)
    qp.mix = LK_MIX_PURE;
  qp.n_threads = threads;
  if (!quiet)
    qp.progress = progress_cb;
  model = lathe_model_load (argv[1], NULL, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  if (lk_quantize_model (lathe_model_get_engine (model), argv[2], &qp, &report, &err) != LK_OK)
    {
      if (!quiet)
        fputc ('\n', stderr);
      lathe_error_from_engine (&error, &err);
      return lathe_cli_fail (error);
    }
  if (!quiet)
    {
      fputc ('\n', stderr);
      for (size_t i = 0; i < report.n; i++)
        if (report.entries[i].fell_back)
          fprintf (stderr, _("%s: rows of %s do not fit %s blocks; used %s\n"), argv[2],
                   report.entries[i].name, lk_type_name (report.entries[i].asked),
                   lk_type_name (report.entries[i].to));
      fprintf (stderr, _("wrote %s: %.1f MB of tensors (from %.1f MB)\n"), argv[2],
               report.bytes_out / 1e6, report.bytes_in / 1e6);
    }
  lk_quantize_report_clear (&report);
  return 0;
}
