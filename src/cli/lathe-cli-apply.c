/* SPDX-License-Identifier: MIT */
/* apply, prune and quantize: each builds or reads a recipe and writes the
 * variant through lathe_recipe_apply. */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-json.h"
#include "lathe-recipe.h"

static void
progress_cb (gpointer user, int done, int total, const char *tensor)
{
  fprintf (stderr, "\r[%3d/%3d] %-40s", done + 1, total, tensor);
}

/* source_bytes: the model's tensor bytes before the recipe (the report's
 * own input is the model after any structural cut). */
static void
print_report (const char *out, const lk_quantize_report *report, uint64_t source_bytes)
{
  int64_t zeros = 0, pruned_elems = 0;

  for (size_t i = 0; i < report->n; i++)
    {
      const lk_quantize_entry *e = &report->entries[i];
      if (e->fell_back)
        fprintf (stderr, _("%s: rows of %s do not fit %s blocks; used %s\n"), out, e->name,
                 lk_type_name (e->asked), lk_type_name (e->to));
      if (e->zeros > 0)
        {
          zeros += e->zeros;
          pruned_elems += e->n_elements;
        }
    }
  if (zeros > 0)
    fprintf (stderr, _("pruned: %lld weights set to zero (%.1f %% of the pruned matrices)\n"),
             (long long) zeros, 100.0 * (double) zeros / (double) pruned_elems);
  fprintf (stderr, _("wrote %s: %.2f MB of tensors (from %.2f MB)\n"), out, report->bytes_out / 1e6,
           (double) source_bytes / 1e6);
}

/* Loads the model, applies the recipe, prints what happened. */
int
lathe_cli_run_recipe (const char *model_path, LatheRecipe *recipe, const char *out, int threads,
                      gboolean quiet)
{
  g_autoptr (LatheModel) model = NULL;
  lk_quantize_report report;
  GError *error = NULL;

  model = lathe_model_load (model_path, NULL, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  if (!lathe_recipe_apply (recipe, model, out, threads, quiet ? NULL : progress_cb, NULL, &report,
                           NULL, &error))
    {
      if (!quiet)
        fputc ('\n', stderr);
      return lathe_cli_fail (error);
    }
  if (!quiet)
    {
      fputc ('\n', stderr);
      print_report (out, &report, lk_model_tensor_bytes (lathe_model_get_engine (model)));
    }
  lk_quantize_report_clear (&report);
  return 0;
}

void
lathe_cli_add_calibration (JsonBuilder *b, const char *imatrix)
{
  g_autofree char *abs = NULL;

  if (imatrix == NULL)
    return;
  abs = g_canonicalize_filename (imatrix, NULL);
  json_builder_set_member_name (b, "calibration");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "imatrix");
  json_builder_add_string_value (b, abs);
  json_builder_end_object (b);
}

void
lathe_cli_conditional_add_options (GOptionContext *context, LatheCliConditional *c)
{
  const GOptionEntry entries[] = {
    { "recipe", 0, 0, G_OPTION_ARG_FILENAME, &c->recipe,
      N_("Take layer skip and early exit from this recipe's “conditional”"), N_("FILE") },
    { "skip-layers", 0, 0, G_OPTION_ARG_STRING, &c->skip,
      N_("Skip these layers (e.g. 3,5-7; default: as the file says)"), N_("LIST") },
    { "exit-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &c->exit_threshold,
      N_("Early exit when the top token's probability reaches T (1: never; default: as the file says)"), "T" },
    { "exit-min-layer", 0, 0, G_OPTION_ARG_INT, &c->exit_min, N_("First layer to try an exit after"), "L" },
    { "exit-on-margin", 0, 0, G_OPTION_ARG_NONE, &c->exit_margin,
      N_("Exit on the top token's lead over the second instead of its probability"), NULL },
    { "experts-used", 0, 0, G_OPTION_ARG_INT, &c->experts_used,
      N_("Mixture of experts: experts per token (default: the model's)"), "K" },
    { NULL }
  };

  /* The entries are copied; what they point into (c) must outlive parsing. */
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
}

gboolean
lathe_cli_conditional_resolve (LatheCliConditional *c)
{
  g_autoptr (LatheRecipe) r = NULL;
  GError *error = NULL;
  const char *s;
  double t;
  int m;

  if (c->recipe == NULL)
    return TRUE;
  if ((r = lathe_recipe_load (c->recipe, &error)) == NULL)
    {
      lathe_cli_fail (error);
      return FALSE;
    }
  if (!lathe_recipe_get_conditional (r, &s, &t, &m))
    {
      lathe_cli_error (_("%s: conditional: the recipe has no layer skip or early exit"), c->recipe);
      return FALSE;
    }
  if (c->skip == NULL && s != NULL)
    c->skip = g_strdup (s);
  if (c->exit_threshold <= 0.0 && t > 0.0)
    {
      c->exit_threshold = t;
      c->exit_min = m;
    }
  return TRUE;
}

void
lathe_cli_conditional_clear (LatheCliConditional *c)
{
  g_clear_pointer (&c->recipe, g_free);
  g_clear_pointer (&c->skip, g_free);
}

int
lathe_cli_apply (int argc, char **argv)
{
  g_autofree char *out = NULL;
  int threads = 0;
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("GGUF file to write"), N_("FILE") },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress and no summary"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("MODEL RECIPE — write the variant a recipe describes (see data/recipe.md)"));
  g_autoptr (LatheRecipe) recipe = NULL;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 3 || out == NULL)
    {
      lathe_cli_error (_("usage: lathe-cli apply MODEL RECIPE -o OUT.gguf"));
      return 2;
    }
  if ((recipe = lathe_recipe_load (argv[2], &error)) == NULL)
    {
      lathe_cli_fail (error);
      return 2;
    }
  return lathe_cli_run_recipe (argv[1], recipe, out, threads, quiet);
}

/* The method and amount of a structured step (after "method"). */
static void
add_cut (JsonBuilder *b, int heads, double ffn, int remove_layers, const char *drop_layers)
{
  if (heads > 0 || remove_layers > 0)
    {
      json_builder_add_string_value (b, heads > 0 ? "heads" : "layers");
      json_builder_set_member_name (b, "remove");
      json_builder_add_int_value (b, heads > 0 ? heads : remove_layers);
      return;
    }
  if (ffn > 0)
    {
      json_builder_add_string_value (b, "ffn");
      json_builder_set_member_name (b, "fraction");
      json_builder_add_double_value (b, ffn);
      return;
    }
  json_builder_add_string_value (b, "layers");
  json_builder_set_member_name (b, "drop");
  json_builder_begin_array (b);
  {
    g_auto (GStrv) items = g_strsplit (drop_layers, ",", -1);
    for (char **i = items; *i != NULL; i++)
      {
        gint64 layer = -1;
        /* A bad number becomes -1, which the recipe check names. */
        g_ascii_string_to_signed (g_strstrip (*i), 10, 0, G_MAXINT32, &layer, NULL);
        json_builder_add_int_value (b, layer);
      }
  }
  json_builder_end_array (b);
}

int
lathe_cli_prune (int argc, char **argv)
{
  g_autofree char *method = NULL, *nm = NULL, *match = NULL, *layers = NULL, *imatrix = NULL;
  g_autofree char *drop_layers = NULL;
  double sparsity = -1.0, ffn = 0.0;
  gboolean global = FALSE;
  int threads = 0, heads = 0, remove_layers = 0, remove_experts = 0;
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "method", 0, 0, G_OPTION_ARG_STRING, &method,
      N_("Scores: magnitude (default) or wanda (|weight| × input RMS; needs --imatrix)"), N_("NAME") },
    { "imatrix", 0, 0, G_OPTION_ARG_FILENAME, &imatrix,
      N_("Activation statistics for wanda (lathe-cli calibrate)"), N_("FILE") },
    { "sparsity", 0, 0, G_OPTION_ARG_DOUBLE, &sparsity,
      N_("Fraction of each matrix's weights set to zero, 0 ≤ S < 1"), "S" },
    { "global", 0, 0, G_OPTION_ARG_NONE, &global,
      N_("One magnitude threshold over all matched matrices (else each loses the fraction)"), NULL },
    { "nm", 0, 0, G_OPTION_ARG_STRING, &nm, N_("Keep N of every M consecutive weights (2:4, 4:8)"),
      "N:M" },
    { "heads", 0, 0, G_OPTION_ARG_INT, &heads,
      N_("Structured: remove N attention heads per layer (the least important)"), "N" },
    { "ffn", 0, 0, G_OPTION_ARG_DOUBLE, &ffn,
      N_("Structured: remove this fraction of each layer's FFN channels"), "F" },
    { "remove-layers", 0, 0, G_OPTION_ARG_INT, &remove_layers,
      N_("Structured: remove the N layers that change their input least (needs --imatrix)"), "N" },
    { "remove-experts", 0, 0, G_OPTION_ARG_INT, &remove_experts,
      N_("Mixture of experts: remove the N least routed experts of every layer (needs --imatrix)"), "N" },
    { "drop-layers", 0, 0, G_OPTION_ARG_STRING, &drop_layers,
      N_("Structured: remove these layers"), N_("LIST") },
    { "match", 0, 0, G_OPTION_ARG_STRING, &match,
      N_("Tensors to prune (default: every matrix of the blocks, blk.*.weight)"), N_("PATTERN") },
    { "layers", 0, 0, G_OPTION_ARG_STRING, &layers, N_("Only these layers: FIRST-LAST"), "A-B" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress and no summary"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("IN OUT — set the least important weights to zero (unstructured or N:M)"));
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *json = NULL;
  g_autoptr (LatheRecipe) recipe = NULL;
  GError *error = NULL;
  int first = 0, last = 0;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  {
    const int kinds = (sparsity >= 0) + (nm != NULL) + (heads > 0) + (ffn > 0) + (remove_layers > 0)
                      + (drop_layers != NULL) + (remove_experts > 0);
    if (argc != 3 || kinds != 1)
      {
        lathe_cli_error (_("usage: lathe-cli prune IN OUT [--method magnitude|wanda --imatrix FILE] "
                           "--sparsity S | --nm N:M | --heads N | --ffn F | --remove-layers N | "
                           "--drop-layers LIST | --remove-experts N"));
        return 2;
      }
  }
  if (layers != NULL && (sscanf (layers, "%d-%d", &first, &last) != 2))
    {
      lathe_cli_error (_("--layers is “%s”; expected FIRST-LAST such as 2-5"), layers);
      return 2;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lathe_recipe");
  json_builder_add_int_value (b, 1);
  lathe_cli_add_calibration (b, imatrix);
  json_builder_set_member_name (b, "prune");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "method");
  if (remove_experts > 0)
    {
      json_builder_add_string_value (b, "experts");
      json_builder_set_member_name (b, "remove");
      json_builder_add_int_value (b, remove_experts);
    }
  else if (heads > 0 || ffn > 0 || remove_layers > 0 || drop_layers != NULL)
    add_cut (b, heads, ffn, remove_layers, drop_layers);
  else
    {
      json_builder_add_string_value (b, method ? method : "magnitude");
      if (nm != NULL)
        {
          json_builder_set_member_name (b, "nm");
          json_builder_add_string_value (b, nm);
        }
      else
        {
          json_builder_set_member_name (b, "sparsity");
          json_builder_add_double_value (b, sparsity);
          if (global)
            {
              json_builder_set_member_name (b, "scope");
              json_builder_add_string_value (b, "global");
            }
        }
      if (match != NULL)
        {
          json_builder_set_member_name (b, "match");
          json_builder_add_string_value (b, match);
        }
    }
  if (layers != NULL)
    {
      json_builder_set_member_name (b, "layers");
      json_builder_begin_array (b);
      json_builder_add_int_value (b, first);
      json_builder_add_int_value (b, last);
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json = lathe_json_to_string (root, FALSE);
  if ((recipe = lathe_recipe_parse (json, -1, _("options"), &error)) == NULL)
    {
      lathe_cli_fail (error);
      return 2;
    }
  return lathe_cli_run_recipe (argv[1], recipe, argv[2], threads, quiet);
}
