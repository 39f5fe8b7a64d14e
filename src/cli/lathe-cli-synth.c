/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lk-export.h"
#include "lk-quant.h"

int
lathe_cli_synth (int argc, char **argv)
{
  g_autofree char *arch = NULL, *vocab = NULL, *type = NULL, *output = NULL, *name = NULL;
  int dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, ctx = 2048, n_vocab = 0;
  gint64 seed = 1234;
  gboolean tied = FALSE;
  int experts = 0, experts_used = 0, shared_ffn = -1;
  const GOptionEntry entries[] = {
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch, N_("llama, qwen2 or qwen2moe (default llama)"), N_("ARCH") },
    { "dim", 0, 0, G_OPTION_ARG_INT, &dim, N_("Embedding size"), "N" },
    { "layers", 0, 0, G_OPTION_ARG_INT, &layers, N_("Blocks"), "N" },
    { "heads", 0, 0, G_OPTION_ARG_INT, &heads, N_("Attention heads"), "N" },
    { "kv-heads", 0, 0, G_OPTION_ARG_INT, &kv_heads, N_("Key/value heads (default: heads)"), "N" },
    { "ffn", 0, 0, G_OPTION_ARG_INT, &ffn, N_("Feed-forward size"), "N" },
    { "ctx", 0, 0, G_OPTION_ARG_INT, &ctx, N_("Context length (default 2048)"), "N" },
    { "vocab-from", 0, 0, G_OPTION_ARG_FILENAME, &vocab,
      N_("GGUF file whose tokenizer the model uses"), N_("FILE") },
    { "n-vocab", 0, 0, G_OPTION_ARG_INT, &n_vocab,
      N_("Vocabulary size: the tokenizer's tokens cut or padded to N"), "N" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &type, N_("Type of the matrices (default F16)"),
      N_("TYPE") },
    { "tied", 0, 0, G_OPTION_ARG_NONE, &tied, N_("Tie the output head to the embedding"), NULL },
    { "experts", 0, 0, G_OPTION_ARG_INT, &experts,
      N_("Mixture of experts: this many FFN experts per layer (Mixtral layout)"), "N" },
    { "experts-used", 0, 0, G_OPTION_ARG_INT, &experts_used, N_("Experts per token (default 2)"), "K" },
    { "shared-ffn", 0, 0, G_OPTION_ARG_INT, &shared_ffn,
      N_("qwen2moe: FFN size of the shared expert (default: --ffn; 0: none)"), "N" },
    { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, N_("Random seed"), "S" },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name, N_("general.name of the model"), N_("NAME") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &output, N_("GGUF file to write"), N_("FILE") },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("— write a random-weight model, for benchmarks and tests"));
  lk_synth_params p;
  lk_error err = { 0 };
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (output == NULL || vocab == NULL || dim <= 0 || layers <= 0 || heads <= 0 || ffn <= 0)
    {
      lathe_cli_error (_("synth needs --dim, --layers, --heads, --ffn, --vocab-from and -o"));
      return 2;
    }
  lk_synth_params_init (&p);
  if (arch == NULL || strcmp (arch, "llama") == 0)
    p.arch = LK_ARCH_LLAMA;
  else if (strcmp (arch, "qwen2") == 0)
    p.arch = LK_ARCH_QWEN2;
  else if (strcmp (arch, "qwen2moe") == 0)
    p.arch = LK_ARCH_QWEN2MOE;
  else
    {
      lathe_cli_error (_("--arch is “%s”, expected llama, qwen2 or qwen2moe"), arch);
      return 2;
    }
  p.type = type ? lk_type_from_name (type) : LK_TYPE_F16;
  if (p.type == LK_TYPE_COUNT || lk_get_quantize_ref (p.type) == NULL)
    {
      lathe_cli_error (_("--type “%s” is not a type synth can write"), type);
      return 2;
    }
  p.n_embd = dim;
  p.n_layer = layers;
  p.n_head = heads;
  p.n_head_kv = kv_heads > 0 ? kv_heads : heads;
  p.n_ff = ffn;
  p.n_ctx = ctx;
  p.tied = tied;
  p.n_expert = experts;
  p.n_expert_used = experts_used;
  p.n_ff_shared = shared_ffn >= 0 ? shared_ffn : p.n_ff;
  p.seed = (uint64_t) seed;
  p.vocab_path = vocab;
  p.n_vocab = n_vocab;
  if (name != NULL)
    p.name = name;
  if (lk_synth (&p, output, &err) != LK_OK)
    {
      lathe_error_from_engine (&error, &err);
      return lathe_cli_fail (error);
    }
  fprintf (stderr, _("wrote %s\n"), output);
  return 0;
}
