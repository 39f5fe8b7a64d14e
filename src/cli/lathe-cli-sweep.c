/* SPDX-License-Identifier: MIT */
/* sweep: measure a grid of variants into a workspace; workspace: show it. */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <math.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-pareto.h"
#include "lathe-recipe.h"
#include "lathe-workspace.h"

static gboolean
parse_numbers (const char *list, const char *option, GArray *out)
{
  g_auto (GStrv) parts = NULL;

  if (list == NULL)
    return TRUE;
  parts = g_strsplit (list, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *end;
      double v = g_ascii_strtod (g_strstrip (parts[i]), &end);
      if (*parts[i] == '\0' || *end != '\0' || !isfinite (v) || v < 0 || v > 1)
        {
          lathe_cli_error (_("%s: expected numbers from 0 to 1, separated by commas, not ‘%s’"), option,
                           parts[i]);
          return FALSE;
        }
      g_array_append_val (out, v);
    }
  return TRUE;
}

static void
progress_cb (gpointer user, double fraction, const char *stage)
{
  const char *name = user;

  fprintf (stderr, "\r%-40.40s %-28.28s %3d %%", name, stage, (int) lround (fraction * 100));
}

static gboolean
has_original (LatheWorkspace *ws)
{
  GListModel *list = lathe_workspace_get_variants (ws);

  for (guint i = 0; i < g_list_model_get_n_items (list); i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (list, i);
      if (lathe_variant_is_original (v))
        return TRUE;
    }
  return FALSE;
}

/* The table every command of this file prints: one row per variant, the
 * front of x and y marked. */
static void
print_table (LatheWorkspace *ws, LatheMetric x, LatheMetric y)
{
  GListModel *list = lathe_workspace_get_variants (ws);
  const guint n = g_list_model_get_n_items (list);
  g_autofree double *xs = g_new (double, MAX (n, 1));
  g_autofree double *ys = g_new (double, MAX (n, 1));
  g_autofree gboolean *front = g_new (gboolean, MAX (n, 1));
  static const LatheMetric shown[] = { LATHE_METRIC_FILE_MB, LATHE_METRIC_BPW, LATHE_METRIC_PERPLEXITY,
                                       LATHE_METRIC_KL_MEAN, LATHE_METRIC_TOP1, LATHE_METRIC_DECODE_TPS,
                                       LATHE_METRIC_PREFILL_TPS, LATHE_METRIC_PEAK_MEMORY_MB,
                                       LATHE_METRIC_LAYERS_MEAN };
  const char *note_text = NULL;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (list, i);
      xs[i] = lathe_variant_get_metric (v, x);
      ys[i] = lathe_variant_get_metric (v, y);
    }
  lathe_pareto_front (xs, ys, n, lathe_metric_higher_is_better (x), lathe_metric_higher_is_better (y),
                      front);
  printf ("  %-32s", _("variant"));
  for (guint k = 0; k < G_N_ELEMENTS (shown); k++)
    printf (" %12s", lathe_metric_key (shown[k]));
  printf ("\n");
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (list, i);
      printf ("%s %-32.32s", front[i] ? "*" : " ", lathe_variant_get_name (v));
      for (guint k = 0; k < G_N_ELEMENTS (shown); k++)
        {
          g_autofree char *text = lathe_metric_format (shown[k], lathe_variant_get_metric (v, shown[k]));
          const char *note = lathe_variant_get_metric_note (v, shown[k]);
          g_autofree char *cell = g_strconcat (text, note != NULL ? "!" : "", NULL);
          /* Padded by characters, not bytes ("—" is three). */
          printf (" %*s%s", (int) MAX (0, 12 - g_utf8_strlen (cell, -1)), "", cell);
          if (note != NULL)
            note_text = note;
        }
      printf ("\n");
    }
  printf (_("* on the Pareto front of %s and %s\n"), lathe_metric_key (x), lathe_metric_key (y));
  if (note_text != NULL)
    printf (_("—! %s\n"), note_text);
}

static gboolean
parse_axes (const char *axes, LatheMetric *x, LatheMetric *y)
{
  g_auto (GStrv) parts = g_strsplit (axes != NULL ? axes : "file_mb,kl_mean", ",", -1);

  if (g_strv_length (parts) != 2 || !lathe_metric_from_key (parts[0], x)
      || !lathe_metric_from_key (parts[1], y))
    {
      GString *keys = g_string_new (NULL);
      for (int m = 0; m < LATHE_N_METRICS; m++)
        g_string_append_printf (keys, "%s%s", m ? ", " : "", lathe_metric_key (m));
      lathe_cli_error (_("--pareto: expected two figures X,Y out of %s"), keys->str);
      g_string_free (keys, TRUE);
      return FALSE;
    }
  return TRUE;
}

static LatheWorkspace *
open_or_create (const char *dir, const char *model, const char *text, GError **error)
{
  g_autofree char *json = g_build_filename (dir, "workspace.json", NULL);

  if (g_file_test (json, G_FILE_TEST_EXISTS))
    {
      LatheWorkspace *ws = lathe_workspace_open (dir, error);
      if (ws != NULL)
        lathe_cli_warn_problems (ws);
      return ws;
    }
  if (model == NULL || text == NULL)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("%s: no workspace yet; give the model (-m) and evaluation text (-f) to start one"),
                   dir);
      return NULL;
    }
  return lathe_workspace_create (dir, model, text, error);
}

static gboolean
measure_one (LatheWorkspace *ws, LatheModel *source, const char *recipe, const char *label,
             const LatheMeasureOptions *o, gboolean quiet, GError **error)
{
  g_autoptr (LatheVariant) v = lathe_workspace_measure (ws, source, recipe, o, quiet ? NULL : progress_cb,
                                                        (gpointer) label, NULL, error);
  if (!quiet)
    fputc ('\n', stderr);
  return v != NULL && lathe_workspace_add (ws, v, error);
}

static GPtrArray *
collect_recipes (LatheWorkspace *ws, char **types, GArray *sparsity, GArray *exits, int exit_min,
                 char **recipe_files, GError **error)
{
  GPtrArray *recipes = lathe_sweep_recipes ((const char *const *) types, (double *) sparsity->data,
                                            sparsity->len, (double *) exits->data, exits->len, exit_min,
                                            lathe_workspace_get_eval_text (ws));

  for (guint i = 0; recipe_files != NULL && recipe_files[i] != NULL; i++)
    {
      g_autoptr (LatheRecipe) r = lathe_recipe_load (recipe_files[i], error);
      if (r == NULL)
        {
          g_ptr_array_unref (recipes);
          return NULL;
        }
      g_ptr_array_add (recipes, lathe_recipe_to_json (r));
    }
  return recipes;
}

int
lathe_cli_sweep (int argc, char **argv)
{
  g_autofree char *model_path = NULL, *text = NULL, *types = NULL, *sparsity = NULL, *exits = NULL;
  g_autofree char *axes = NULL;
  g_auto (GStrv) recipe_files = NULL, type_list = NULL;
  int exit_min = 0, n_ctx = 0, chunks = -1, threads = 0;
  gboolean quiet = FALSE, no_speed = FALSE;
  const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, N_("Source model (to start a workspace)"),
      N_("FILE") },
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &text, N_("Evaluation text (to start a workspace)"),
      N_("FILE") },
    { "types", 0, 0, G_OPTION_ARG_STRING, &types, N_("Quantization types, e.g. Q8_0,Q4_0"), N_("LIST") },
    { "sparsity", 0, 0, G_OPTION_ARG_STRING, &sparsity, N_("Magnitude-pruning sparsities, e.g. 0,0.5"),
      N_("LIST") },
    { "exit", 0, 0, G_OPTION_ARG_STRING, &exits, N_("Early-exit thresholds, e.g. 1,0.9 (1: none)"),
      N_("LIST") },
    { "exit-min-layer", 0, 0, G_OPTION_ARG_INT, &exit_min, N_("First layer to exit after"), "L" },
    { "recipe", 'r', 0, G_OPTION_ARG_FILENAME_ARRAY, &recipe_files, N_("A recipe to measure too (repeatable)"),
      N_("FILE") },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, N_("Tokens per evaluated chunk (default: the workspace's)"),
      "N" },
    { "chunks", 0, 0, G_OPTION_ARG_INT, &chunks, N_("Chunks evaluated (0: all; default: the workspace's)"),
      "N" },
    { "no-speed", 0, 0, G_OPTION_ARG_NONE, &no_speed, N_("Measure size and quality only"), NULL },
    { "pareto", 0, 0, G_OPTION_ARG_STRING, &axes, N_("Figures of the front marked in the table (default "
                                                     "file_mb,kl_mean)"), "X,Y" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("WORKSPACE — make and measure a grid of variants (types × sparsities × exit thresholds)"));
  g_autoptr (GArray) sp = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) ex = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (LatheWorkspace) ws = NULL;
  g_autoptr (LatheModel) source = NULL;
  g_autoptr (GPtrArray) recipes = NULL;
  LatheMeasureOptions o;
  LatheMetric x, y;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || n_ctx < 0 || n_ctx == 1 || chunks < -1 || threads < 0 || exit_min < 0)
    {
      lathe_cli_error (_("usage: lathe-cli sweep WORKSPACE [-m MODEL -f TEXT] [--types LIST] "
                         "[--sparsity LIST] [--exit LIST] [--recipe FILE]…"));
      return 2;
    }
  if (!parse_numbers (sparsity, "--sparsity", sp) || !parse_numbers (exits, "--exit", ex)
      || !parse_axes (axes, &x, &y))
    return 2;
  type_list = types != NULL ? g_strsplit (types, ",", -1) : NULL;
  if ((ws = open_or_create (argv[1], model_path, text, &error)) == NULL)
    return lathe_cli_fail (error);
  if ((n_ctx > 0 || chunks >= 0)
      && !lathe_workspace_set_eval (ws, n_ctx > 0 ? n_ctx : lathe_workspace_get_eval_ctx (ws),
                                    chunks >= 0 ? chunks : lathe_workspace_get_eval_chunks (ws), &error))
    return lathe_cli_fail (error);
  if ((recipes = collect_recipes (ws, type_list, sp, ex, exit_min, recipe_files, &error)) == NULL
      || (source = lathe_model_load (lathe_workspace_get_source (ws), NULL, NULL, &error)) == NULL)
    return lathe_cli_fail (error);
  lathe_measure_options_init (&o);
  o.n_threads = threads;
  o.bench.n_threads = threads;
  o.skip_speed = no_speed;
  if (!has_original (ws) && !measure_one (ws, source, NULL, _("original"), &o, quiet, &error))
    return lathe_cli_fail (error);
  for (guint i = 0; i < recipes->len; i++)
    {
      g_autoptr (LatheRecipe) r = lathe_recipe_parse (g_ptr_array_index (recipes, i), -1, "recipe", NULL);
      if (!measure_one (ws, source, g_ptr_array_index (recipes, i), lathe_recipe_get_name (r), &o, quiet,
                        &error))
        return lathe_cli_fail (error);
    }
  print_table (ws, x, y);
  return 0;
}

int
lathe_cli_workspace (int argc, char **argv)
{
  g_autofree char *axes = NULL;
  gboolean csv = FALSE, json = FALSE;
  const GOptionEntry entries[] = {
    { "csv", 0, 0, G_OPTION_ARG_NONE, &csv, N_("Print every figure as CSV"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the workspace file"), NULL },
    { "pareto", 0, 0, G_OPTION_ARG_STRING, &axes, N_("Figures of the front marked in the table (default "
                                                     "file_mb,kl_mean)"), "X,Y" },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("WORKSPACE — show the measured variants"));
  g_autoptr (LatheWorkspace) ws = NULL;
  LatheMetric x, y;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || (csv && json))
    {
      lathe_cli_error (_("usage: lathe-cli workspace WORKSPACE [--csv | --json] [--pareto X,Y]"));
      return 2;
    }
  if (!parse_axes (axes, &x, &y))
    return 2;
  if ((ws = lathe_workspace_open (argv[1], &error)) == NULL)
    return lathe_cli_fail (error);
  lathe_cli_warn_problems (ws);
  if (csv)
    {
      g_autofree char *text = lathe_workspace_to_csv (ws);
      fputs (text, stdout);
    }
  else if (json)
    {
      g_autofree char *text = lathe_workspace_to_json (ws);
      fputs (text, stdout);
      fputc ('\n', stdout);
    }
  else
    {
      printf (_("source  %s\ntext    %s (chunks of %d tokens, %d chunks; 0: all)\n\n"),
              lathe_workspace_get_source (ws), lathe_workspace_get_eval_text (ws),
              lathe_workspace_get_eval_ctx (ws), lathe_workspace_get_eval_chunks (ws));
      print_table (ws, x, y);
    }
  return 0;
}
