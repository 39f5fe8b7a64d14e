/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-cli.h"
#include "lathe-json.h"
#include "lathe-model.h"
#include "lathe-tensor-info.h"

static void
print_text (LatheModel *model)
{
  const lk_model *m = lathe_model_get_engine (model);
  const lk_hparams *hp = lk_model_hparams (m);
  const lk_layer *l0 = lk_model_layer (m, 0);
  GListModel *tensors = lathe_model_get_tensors (model);
  g_autofree char *params = lathe_cli_format_count (lathe_model_get_n_params (model));
  g_autofree char *size = g_format_size (lathe_model_get_file_size (model));
  g_autofree char *tok = lathe_model_dup_tokenizer_summary (model);
  g_autofree char *block = lathe_model_dup_block_summary (model);
  guint64 total_bytes = 0;

  printf ("%s\n", lathe_model_get_path (model));
  printf ("  %-16s %s\n", _("format"), lathe_model_get_format (model));
  printf ("  %-16s %s\n", _("name"), lathe_model_get_name (model));
  printf ("  %-16s %s\n", _("architecture"), lathe_model_get_arch (model));
  printf ("  %-16s %s (%" G_GUINT64_FORMAT ")\n", _("parameters"), params,
          lathe_model_get_n_params (model));
  printf ("  %-16s %s (%" G_GUINT64_FORMAT " bytes)\n", _("file size"), size,
          lathe_model_get_file_size (model));
  printf ("  %-16s %.3f (%s)\n", _("bits per weight"), lathe_model_get_bpw (model),
          lathe_model_get_main_type (model));
  printf ("  %-16s %d\n", _("layers"), hp->n_layer);
  printf ("  %-16s %d\n", _("embedding"), hp->n_embd);
  printf ("  %-16s %d (%d KV), head size %d\n", _("heads"), l0->n_head, l0->n_head_kv,
          hp->head_dim);
  printf ("  %-16s %d\n", _("feed-forward"), l0->n_ff);
  printf ("  %-16s %d\n", _("context"), hp->n_ctx_train);
  printf ("  %-16s %s\n", _("blocks"), block);
  printf ("  %-16s %s, %d dims, base %g\n", _("RoPE"), hp->rope_neox ? "NeoX" : "normal",
          hp->n_rot, (double) hp->rope_base);
  printf ("  %-16s %s\n", _("output head"), lk_model_output_tied (m) ? _("tied to the embedding")
                                                                    : _("separate"));
  printf ("  %-16s %s\n", _("tokenizer"), tok ? tok : _("none"));
  if (lathe_model_get_source_sha256 (model) != NULL)
    printf ("  %-16s sha256 %s\n", _("made from"), lathe_model_get_source_sha256 (model));
  if (lathe_model_get_recipe (model) != NULL)
    printf ("  %-16s %s\n", _("recipe"), lathe_model_get_recipe (model));
  printf ("\n  %-32s %-6s %-16s %12s %7s\n", _("tensor"), _("type"), _("shape"), _("bytes"),
          _("bpw"));
  for (guint i = 0; i < g_list_model_get_n_items (tensors); i++)
    {
      g_autoptr (LatheTensorInfo) t = g_list_model_get_item (tensors, i);
      g_autofree char *shape = lathe_tensor_info_dup_shape (t);
      total_bytes += lathe_tensor_info_get_n_bytes (t);
      const char *asked = lathe_model_get_asked_type (model, lathe_tensor_info_get_name (t));
      printf ("  %-32s %-6s %-16s %12" G_GUINT64_FORMAT " %7.3f", lathe_tensor_info_get_name (t),
              lathe_tensor_info_get_type_name (t), shape, lathe_tensor_info_get_n_bytes (t),
              lathe_tensor_info_get_bpw (t));
      if (asked != NULL)
        printf (_("  (%s asked; rows do not fit its blocks)"), asked);
      putchar ('\n');
    }
  printf ("  %-32s %-6s %-16s %12" G_GUINT64_FORMAT " %7.3f\n", _("total"), "", "",
          total_bytes, lathe_model_get_bpw (model));
}

int
lathe_cli_inspect (int argc, char **argv)
{
  gboolean json = FALSE;
  g_autofree char *tokenizer = NULL;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "tokenizer", 'z', 0, G_OPTION_ARG_FILENAME, &tokenizer,
      N_("tokenizer.bin of a llama2.c checkpoint"), N_("FILE") },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("MODEL — show a model"));
  g_autoptr (LatheModel) model = NULL;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      lathe_cli_error (_("inspect takes one MODEL file"));
      return 2;
    }
  model = lathe_model_load (argv[1], tokenizer, NULL, &error);
  if (model == NULL)
    return lathe_cli_fail (error);
  if (json)
    {
      g_autoptr (JsonNode) node = lathe_model_to_json (model);
      g_autofree char *text = lathe_json_to_string (node, TRUE);
      printf ("%s\n", text);
    }
  else
    print_text (model);
  return 0;
}
