/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "lathe-cli.h"
#include "lathe-json.h"
#include "lathe-sensitivity.h"
#include "lk-quantize.h"

static void
progress_cb (gpointer user, int done, int total, const char *tensor)
{
  fprintf (stderr, "\r[%3d/%3d] %-40s", done + 1, total, tensor);
}

static void
print_table (JsonNode *table)
{
  JsonObject *o = json_node_get_object (table);
  JsonArray *types = json_object_get_array_member (o, "types");
  JsonArray *tensors = json_object_get_array_member (o, "tensors");

  printf (_("KL divergence added when only this tensor is quantized (%lld tokens of %s)\n\n"),
          (long long) json_object_get_int_member (o, "tokens"), json_object_get_string_member (o, "text"));
  printf ("  %-32s", _("tensor"));
  for (guint k = 0; k < json_array_get_length (types); k++)
    printf (" %10s", json_array_get_string_element (types, k));
  putchar ('\n');
  for (guint i = 0; i < json_array_get_length (tensors); i++)
    {
      JsonObject *t = json_array_get_object_element (tensors, i);
      JsonArray *cands = json_object_get_array_member (t, "candidates");
      printf ("  %-32s", json_object_get_string_member (t, "name"));
      for (guint k = 0; k < json_array_get_length (cands); k++)
        {
          JsonObject *c = json_array_get_object_element (cands, k);
          const gboolean fell = g_strcmp0 (json_object_get_string_member (c, "type"),
                                           json_object_get_string_member (c, "used_type")) != 0;
          printf (" %9.6f%s", json_object_get_double_member (c, "kl_mean"), fell ? "*" : " ");
        }
      putchar ('\n');
    }
  printf (_("\n* rows do not fit the type's blocks: measured with the fallback type\n"));
}

static gboolean
parse_types (const char *list, GArray *out)
{
  g_auto (GStrv) names = g_strsplit (list, ",", -1);

  for (char **n = names; *n != NULL; n++)
    {
      const lk_type t = lk_type_from_name (g_strstrip (*n));
      if (t == LK_TYPE_F32 || !lk_quantize_can_write (t))
        {
          lathe_cli_error (_("--types: “%s” is not a type to quantize to (%s)"), *n,
                           lk_quantize_writable_list () + strlen ("F32, "));
          return FALSE;
        }
      g_array_append_val (out, t);
    }
  return out->len > 0;
}

int
lathe_cli_sensitivity (int argc, char **argv)
{
  g_autofree char *text = NULL, *out = NULL, *types = NULL;
  int n_ctx = 0, chunks = 16, threads = 0;
  gboolean json = FALSE, quiet = FALSE;
  const GOptionEntry entries[] = {
    { "file", 'f', 0, G_OPTION_ARG_FILENAME, &text, N_("Evaluation text"), N_("FILE") },
    { "types", 0, 0, G_OPTION_ARG_STRING, &types,
      N_("Candidate types (default Q8_0,Q6_K,Q5_K,Q4_K,Q5_0,Q4_0,Q3_K,Q2_K)"), N_("LIST") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out,
      N_("Save the table (JSON) for quantize --target-bpw"), N_("FILE") },
    { "ctx", 'c', 0, G_OPTION_ARG_INT, &n_ctx, N_("Tokens per chunk (default 256)"), "N" },
    { "chunks", 0, 0, G_OPTION_ARG_INT, &chunks, N_("Chunks of text per measurement (default 16)"), "N" },
    { "threads", 't', 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"), "N" },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("MODEL — the KL divergence each tensor adds in each candidate type"));
  g_autoptr (LatheModel) model = NULL;
  g_autoptr (GArray) tv = g_array_new (FALSE, FALSE, sizeof (lk_type));
  g_autoptr (JsonNode) table = NULL;
  LatheSensitivityOptions o;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || text == NULL || n_ctx < 0 || chunks < 0 || threads < 0)
    {
      lathe_cli_error (_("usage: lathe-cli sensitivity MODEL -f TEXT [--types LIST] [-o TABLE.json]"));
      return 2;
    }
  if (!parse_types (types ? types : "Q8_0,Q6_K,Q5_K,Q4_K,Q5_0,Q4_0,Q3_K,Q2_K", tv))
    return 2;
  model = lathe_model_load (argv[1], NULL, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  lathe_sensitivity_options_init (&o);
  o.types = (const lk_type *) tv->data;
  o.n_types = (int) tv->len;
  o.n_ctx = n_ctx;
  o.max_chunks = chunks;
  o.n_threads = threads;
  if (!quiet)
    o.progress = progress_cb;
  table = lathe_sensitivity_measure (model, text, &o, NULL, &error);
  if (!quiet)
    fputc ('\n', stderr);
  if (table == NULL)
    return lathe_cli_fail (error);
  if (out != NULL)
    {
      if (!lathe_json_save (out, table, &error))
        return lathe_cli_fail (error);
    }
  if (json)
    {
      g_autofree char *s = lathe_json_to_string (table, TRUE);
      puts (s);
    }
  else
    print_table (table);
  return 0;
}
