/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-json.h"
#include "lathe-recipe.h"

/* The recipe the options describe. */
typedef struct
{
  double target_bpw, target_mb;
  const char *sensitivity;
} Target;

static void
add_target (JsonBuilder *b, const Target *t)
{
  g_autofree char *abs = NULL;

  if (t->sensitivity == NULL)
    return;
  if (t->target_bpw > 0)
    {
      json_builder_set_member_name (b, "target_bpw");
      json_builder_add_double_value (b, t->target_bpw);
    }
  if (t->target_mb > 0)
    {
      json_builder_set_member_name (b, "target_size_mb");
      json_builder_add_double_value (b, t->target_mb);
    }
  abs = g_canonicalize_filename (t->sensitivity, NULL);
  json_builder_set_member_name (b, "sensitivity");
  json_builder_add_string_value (b, abs);
}

static char *
quantize_recipe (const char *type, gboolean pure, char **tensor_types, const char *imatrix,
                 const Target *target, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lathe_recipe");
  json_builder_add_int_value (b, 1);
  lathe_cli_add_calibration (b, imatrix);
  json_builder_set_member_name (b, "quantize");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "type");
  json_builder_add_string_value (b, type);
  json_builder_set_member_name (b, "pure");
  json_builder_add_boolean_value (b, pure);
  add_target (b, target);
  json_builder_set_member_name (b, "rules");
  json_builder_begin_array (b);
  for (char **t = tensor_types; t != NULL && *t != NULL; t++)
    {
      const char *eq = strrchr (*t, '=');
      g_autofree char *pattern = NULL;
      if (eq == NULL || eq == *t || eq[1] == '\0')
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("--tensor-type is “%s”; expected PATTERN=TYPE such as "
                         "“blk.*.ffn_down.weight=Q8_0”"), *t);
          return NULL;
        }
      pattern = g_strndup (*t, (gsize) (eq - *t));
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "match");
      json_builder_add_string_value (b, pattern);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, eq + 1);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return lathe_json_to_string (root, FALSE);
}

/* The first of the types named that is written with an importance matrix. */
static const char *
grid_type_named (const char *type, char **tensor_types)
{
  lk_type t;
  lk_mix mix;

  if (lk_quantize_parse_type (type, &t, &mix) && lk_quantize_needs_importance (t))
    return type;
  for (char **tt = tensor_types; tt != NULL && *tt != NULL; tt++)
    {
      const char *eq = strrchr (*tt, '=');
      if (eq != NULL && lk_quantize_parse_type (eq + 1, &t, &mix) && lk_quantize_needs_importance (t))
        return eq + 1;
    }
  return NULL;
}

int
lathe_cli_quantize (int argc, char **argv)
{
  gboolean pure = FALSE, quiet = FALSE;
  g_auto (GStrv) tensor_types = NULL;
  g_autofree char *imatrix = NULL, *sensitivity = NULL;
  Target target = { 0 };
  int threads = 0;
  const GOptionEntry entries[] = {
    { "pure", 0, 0, G_OPTION_ARG_NONE, &pure,
      N_("Give every matrix the type (no higher precision for the output head)"), NULL },
    { "tensor-type", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tensor_types,
      N_("Type of the tensors whose names match (repeatable; the last match wins)"),
      N_("PATTERN=TYPE") },
    { "imatrix", 0, 0, G_OPTION_ARG_FILENAME, &imatrix,
      N_("Weigh rounding errors by these activation statistics (lathe-cli calibrate)"), N_("FILE") },
    { "target-bpw", 0, 0, G_OPTION_ARG_DOUBLE, &target.target_bpw,
      N_("Mixed precision: the bits per weight to fit, types chosen from --sensitivity"), "B" },
    { "target-size", 0, 0, G_OPTION_ARG_DOUBLE, &target.target_mb,
      N_("Mixed precision: the tensor megabytes to fit"), "MB" },
    { "sensitivity", 0, 0, G_OPTION_ARG_FILENAME, &sensitivity,
      N_("Table from lathe-cli sensitivity -o"), N_("FILE") },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress and no table"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("IN OUT TYPE — write IN with its matrices in TYPE (Q8_0, Q4_0, Q4_K_M, F16, …)"));
  g_autoptr (LatheRecipe) recipe = NULL;
  g_autofree char *json = NULL;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 4)
    {
      lathe_cli_error (_("usage: lathe-cli quantize IN OUT TYPE [--tensor-type PATTERN=TYPE …] [--imatrix FILE]"));
      return 2;
    }
  target.sensitivity = sensitivity;
  if ((target.target_bpw != 0 || target.target_mb != 0) && sensitivity == NULL)
    {
      lathe_cli_error (_("--target-bpw and --target-size need --sensitivity TABLE (lathe-cli sensitivity -o)"));
      return 2;
    }
  if (imatrix == NULL && grid_type_named (argv[3], tensor_types) != NULL)
    {
      lathe_cli_error (_("%s is written with an importance matrix: give --imatrix FILE (from lathe-cli calibrate)"),
                       grid_type_named (argv[3], tensor_types));
      return 2;
    }
  if ((json = quantize_recipe (argv[3], pure, tensor_types, imatrix, &target, &error)) == NULL
      || (recipe = lathe_recipe_parse (json, -1, _("options"), &error)) == NULL)
    {
      lathe_cli_fail (error);
      return 2;
    }
  return lathe_cli_run_recipe (argv[1], recipe, argv[2], threads, quiet);
}
