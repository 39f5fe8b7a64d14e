/* SPDX-License-Identifier: MIT */
/* Hugging Face checkpoints to GGUF, as llama.cpp's convert_hf_to_gguf.py
 * lays them out: the same tensor names, q and k permuted back to
 * interleaved RoPE pairs where llama.cpp rotates them so, Gemma's norms
 * stored as 1 + w, experts stacked, fused projections split, and RoPE
 * scaling turned into the factor tensors the loader reads. */
#define G_LOG_DOMAIN "lathe-hf"

#include "config.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-hf-private.h"
#include "lathe-hf.h"
#include "lathe-json.h"
#include "lathe-safetensors.h"
#include "lk-export.h"
#include "lk-model.h"
#include "lk-quant.h"

enum
{
  PERMUTE_QK = 1 << 0,  /* HF rotates halves; llama.cpp's graph rotates pairs */
  NORM_PLUS_ONE = 1 << 1, /* Gemma's RMSNorm multiplies by 1 + w */
  POST_NORMS = 1 << 2,  /* post_attention_layernorm is the attention's output norm */
  MOE = 1 << 3,
  TEXT_CONFIG = 1 << 4, /* a multimodal class: the language model's keys are under text_config */
};

typedef struct
{
  const char *hf;   /* config.json "architectures"[0] */
  const char *arch; /* general.architecture */
  guint flags;
} HfArch;

static const HfArch hf_archs[] = {
  { "LlamaForCausalLM", "llama", PERMUTE_QK },
  { "MistralForCausalLM", "llama", PERMUTE_QK },
  { "MixtralForCausalLM", "llama", PERMUTE_QK | MOE },
  { "Qwen2ForCausalLM", "qwen2", 0 },
  { "Qwen2MoeForCausalLM", "qwen2moe", MOE },
  { "Qwen3ForCausalLM", "qwen3", 0 },
  { "Qwen3MoeForCausalLM", "qwen3moe", MOE },
  { "GemmaForCausalLM", "gemma", NORM_PLUS_ONE },
  { "Gemma2ForCausalLM", "gemma2", NORM_PLUS_ONE | POST_NORMS },
  { "Gemma3ForCausalLM", "gemma3", NORM_PLUS_ONE | POST_NORMS },
  { "Gemma3ForConditionalGeneration", "gemma3", NORM_PLUS_ONE | POST_NORMS | TEXT_CONFIG },
  { "GraniteForCausalLM", "granite", PERMUTE_QK },
  { "Olmo2ForCausalLM", "olmo2", POST_NORMS },
  { "SmolLM3ForCausalLM", "smollm3", PERMUTE_QK },
  { "StableLmForCausalLM", "stablelm", 0 },
  { "InternLM2ForCausalLM", "internlm2", PERMUTE_QK },
  { "ExaoneForCausalLM", "exaone", 0 },
  { "Ernie4_5ForCausalLM", "ernie4_5", 0 },
  { "Ernie4_5_ForCausalLM", "ernie4_5", 0 },
  { "Phi3ForCausalLM", "phi3", 0 },
};

const char *
lathe_hf_supported_list (void)
{
  static char list[1024];

  if (list[0] == '\0')
    for (guint i = 0; i < G_N_ELEMENTS (hf_archs); i++)
      {
        if (i > 0)
          g_strlcat (list, ", ", sizeof list);
        g_strlcat (list, hf_archs[i].hf, sizeof list);
      }
  return list;
}

gboolean
lathe_hf_is_checkpoint (const char *path)
{
  g_autofree char *config = g_build_filename (path, "config.json", NULL);

  return g_file_test (path, G_FILE_TEST_IS_DIR) && g_file_test (config, G_FILE_TEST_IS_REGULAR);
}

gboolean
lathe_hf_out_type_parse (const char *name, LatheHfOutType *out)
{
  static const char *const names[] = { "f16", "f32", "bf16", "q8_0", "auto" };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_ascii_strcasecmp (name, names[i]) == 0)
      {
        *out = (LatheHfOutType) i;
        return TRUE;
      }
  return FALSE;
}

/* Tensor names ------------------------------------------------------------- */

typedef enum
{
  ROLE_PLAIN,
  ROLE_Q,      /* permuted with the heads */
  ROLE_K,      /* permuted with the kv heads */
  ROLE_EXPERT, /* one expert's matrix, stacked into [n_embd, n_ff, n_expert] */
  ROLE_QKV,    /* q | k | v rows in one matrix, split (ERNIE) */
  ROLE_WQKV,   /* InternLM2's grouped q…q k v rows, split */
} Role;

/* A block tensor's name after the layer prefix, and its GGUF name. */
typedef struct
{
  const char *hf, *gguf;
  Role role;
} NameMap;

static const NameMap block_names[] = {
  { "input_layernorm.weight", "attn_norm.weight", ROLE_PLAIN },
  { "input_layernorm.bias", "attn_norm.bias", ROLE_PLAIN },
  { "self_attn.q_proj.weight", "attn_q.weight", ROLE_Q },
  { "self_attn.q_proj.bias", "attn_q.bias", ROLE_Q },
  { "self_attn.k_proj.weight", "attn_k.weight", ROLE_K },
  { "self_attn.k_proj.bias", "attn_k.bias", ROLE_K },
  { "self_attn.v_proj.weight", "attn_v.weight", ROLE_PLAIN },
  { "self_attn.v_proj.bias", "attn_v.bias", ROLE_PLAIN },
  { "self_attn.qkv_proj.weight", "attn_qkv.weight", ROLE_PLAIN }, /* phi3; ERNIE splits it */
  { "self_attn.o_proj.weight", "attn_output.weight", ROLE_PLAIN },
  { "self_attn.q_norm.weight", "attn_q_norm.weight", ROLE_PLAIN },
  { "self_attn.k_norm.weight", "attn_k_norm.weight", ROLE_PLAIN },
  { "post_attention_layernorm.weight", "ffn_norm.weight", ROLE_PLAIN },
  { "post_attention_layernorm.bias", "ffn_norm.bias", ROLE_PLAIN },
  { "pre_feedforward_layernorm.weight", "ffn_norm.weight", ROLE_PLAIN },
  { "post_feedforward_layernorm.weight", "post_ffw_norm.weight", ROLE_PLAIN },
  { "mlp.gate_proj.weight", "ffn_gate.weight", ROLE_PLAIN },
  { "mlp.up_proj.weight", "ffn_up.weight", ROLE_PLAIN },
  { "mlp.down_proj.weight", "ffn_down.weight", ROLE_PLAIN },
  { "mlp.gate_up_proj.weight", "ffn_up.weight", ROLE_PLAIN }, /* phi3: gate then up */
  { "mlp.gate.weight", "ffn_gate_inp.weight", ROLE_PLAIN },
  { "mlp.shared_expert_gate.weight", "ffn_gate_inp_shexp.weight", ROLE_PLAIN },
  { "mlp.shared_expert.gate_proj.weight", "ffn_gate_shexp.weight", ROLE_PLAIN },
  { "mlp.shared_expert.up_proj.weight", "ffn_up_shexp.weight", ROLE_PLAIN },
  { "mlp.shared_expert.down_proj.weight", "ffn_down_shexp.weight", ROLE_PLAIN },
  { "mlp.experts.*.gate_proj.weight", "ffn_gate_exps.weight", ROLE_EXPERT },
  { "mlp.experts.*.up_proj.weight", "ffn_up_exps.weight", ROLE_EXPERT },
  { "mlp.experts.*.down_proj.weight", "ffn_down_exps.weight", ROLE_EXPERT },
  /* Mixtral */
  { "block_sparse_moe.gate.weight", "ffn_gate_inp.weight", ROLE_PLAIN },
  { "block_sparse_moe.experts.*.w1.weight", "ffn_gate_exps.weight", ROLE_EXPERT },
  { "block_sparse_moe.experts.*.w3.weight", "ffn_up_exps.weight", ROLE_EXPERT },
  { "block_sparse_moe.experts.*.w2.weight", "ffn_down_exps.weight", ROLE_EXPERT },
  /* InternLM2 */
  { "attention_norm.weight", "attn_norm.weight", ROLE_PLAIN },
  { "attention.wqkv.weight", "attn_q.weight", ROLE_WQKV },
  { "attention.wo.weight", "attn_output.weight", ROLE_PLAIN },
  { "ffn_norm.weight", "ffn_norm.weight", ROLE_PLAIN },
  { "feed_forward.w1.weight", "ffn_gate.weight", ROLE_PLAIN },
  { "feed_forward.w3.weight", "ffn_up.weight", ROLE_PLAIN },
  { "feed_forward.w2.weight", "ffn_down.weight", ROLE_PLAIN },
  /* EXAONE */
  { "ln_1.weight", "attn_norm.weight", ROLE_PLAIN },
  { "attn.attention.q_proj.weight", "attn_q.weight", ROLE_PLAIN },
  { "attn.attention.k_proj.weight", "attn_k.weight", ROLE_PLAIN },
  { "attn.attention.v_proj.weight", "attn_v.weight", ROLE_PLAIN },
  { "attn.attention.out_proj.weight", "attn_output.weight", ROLE_PLAIN },
  { "ln_2.weight", "ffn_norm.weight", ROLE_PLAIN },
  { "mlp.c_fc_0.weight", "ffn_gate.weight", ROLE_PLAIN },
  { "mlp.c_fc_1.weight", "ffn_up.weight", ROLE_PLAIN },
  { "mlp.c_proj.weight", "ffn_down.weight", ROLE_PLAIN },
};

static const NameMap global_names[] = {
  { "model.embed_tokens.weight", "token_embd.weight", ROLE_PLAIN },
  { "model.tok_embeddings.weight", "token_embd.weight", ROLE_PLAIN },
  { "transformer.wte.weight", "token_embd.weight", ROLE_PLAIN },
  { "model.norm.weight", "output_norm.weight", ROLE_PLAIN },
  { "model.norm.bias", "output_norm.bias", ROLE_PLAIN },
  { "transformer.ln_f.weight", "output_norm.weight", ROLE_PLAIN },
  { "lm_head.weight", "output.weight", ROLE_PLAIN },
  { "output.weight", "output.weight", ROLE_PLAIN },
};

static const char *const block_prefixes[] = { "model.layers.", "transformer.h." };

/* Tensors checkpoints carry that the GGUF does not (buffers of old
 * transformers versions). */
static gboolean
ignored_name (const char *name)
{
  static const char *const towers[] = { "vision_tower.", "multi_modal_projector.",
                                        "model.vision_tower.", "model.multi_modal_projector." };

  /* A multimodal checkpoint's vision side is not part of the language model. */
  for (guint i = 0; i < G_N_ELEMENTS (towers); i++)
    if (g_str_has_prefix (name, towers[i]))
      return TRUE;
  return g_str_has_suffix (name, "rotary_emb.inv_freq") || g_str_has_suffix (name, ".masked_bias")
         || g_str_has_suffix (name, ".attn.bias");
}

/* Matches pattern ("mlp.experts.*.up_proj.weight") against s; *n gets the
 * number in place of '*'. */
static gboolean
match_star (const char *pattern, const char *s, gint64 *n)
{
  const char *star = strchr (pattern, '*');
  const size_t head = star ? (size_t) (star - pattern) : strlen (pattern);
  char *end;

  if (star == NULL)
    return strcmp (pattern, s) == 0;
  if (strncmp (pattern, s, head) != 0 || !g_ascii_isdigit (s[head]))
    return FALSE;
  *n = g_ascii_strtoll (s + head, &end, 10);
  return *n >= 0 && *n < 4096 && strcmp (end, star + 1) == 0;
}

/* Conversion state -------------------------------------------------------- */

typedef struct Job Job;

typedef struct
{
  const char *folder;
  const HfArch *arch;
  JsonObject *config;  /* the language model's keys */
  JsonObject *root;    /* config.json itself (special token ids) */
  lk_hparams hp;
  int n_head, n_head_kv, n_ff;
  gboolean tied;
  LatheHfOutType out_type;
  const char *pre;
  GPtrArray *shards; /* LatheSafetensors */
  GPtrArray *jobs;   /* Job */
  GHashTable *by_name; /* GGUF name → Job */
  guint64 bytes_total, bytes_done;
  LatheHfProgressFunc progress;
  gpointer progress_data;
  GCancellable *cancellable;
  lk_type file_type;
} Conv;

struct Job
{
  Conv *conv;
  char *name;
  int layer; /* -1: not in a block */
  guint order;
  Role role;
  int part;  /* ROLE_QKV / ROLE_WQKV: 0 q, 1 k, 2 v */
  int permute_heads; /* 0: rows stay in place */
  gboolean plus_one;
  GPtrArray *src;    /* const LatheStTensor *, one per expert */
  float *values;     /* a tensor Lathe computes (RoPE factors), F32 */
  lk_type type;
  guint n_dims;
  gint64 ne[4];
};

static void
job_free (Job *j)
{
  g_ptr_array_unref (j->src);
  g_free (j->values);
  g_free (j->name);
  g_free (j);
}

static gboolean
cfg_number (Conv *c, const char *const *names, double *out)
{
  for (; *names != NULL; names++)
    if (lathe_json_member_finite (c->config, *names, out))
      return TRUE;
  return FALSE;
}

/* An integer hyper-parameter under one of names; required ones name the
 * key when missing. */
static gboolean
cfg_int (Conv *c, const char *const *names, gboolean required, int dflt, int *out, GError **error)
{
  double d;

  if (!cfg_number (c, names, &d))
    {
      if (!required)
        {
          *out = dflt;
          return TRUE;
        }
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s/config.json: key '%s' is missing (%s needs it)", c->folder, names[0],
                   c->arch->hf);
      return FALSE;
    }
  if (d != floor (d) || d < 0 || d > G_MAXINT32)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s/config.json: key '%s' is %g, expected a count", c->folder, names[0], d);
      return FALSE;
    }
  *out = (int) d;
  return TRUE;
}

static float
cfg_float (Conv *c, const char *const *names, float dflt)
{
  double d;

  return cfg_number (c, names, &d) ? (float) d : dflt;
}

#define NAMES(...) ((const char *const[]) { __VA_ARGS__, NULL })

static JsonObject *
cfg_object (JsonObject *o, const char *member)
{
  JsonNode *n = json_object_get_member (o, member);

  return n != NULL && JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
}

static gboolean
cfg_bool (JsonObject *o, const char *member, gboolean dflt)
{
  JsonNode *n = json_object_get_member (o, member);

  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_BOOLEAN)
    return dflt;
  return json_node_get_boolean (n);
}

static gboolean
find_arch (Conv *c, GError **error)
{
  JsonNode *node = json_object_get_member (c->config, "architectures");
  const char *name = NULL;

  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node)
      && json_array_get_length (json_node_get_array (node)) > 0)
    {
      JsonNode *first = json_array_get_element (json_node_get_array (node), 0);
      if (JSON_NODE_HOLDS_VALUE (first) && json_node_get_value_type (first) == G_TYPE_STRING)
        name = json_node_get_string (first);
    }
  if (name == NULL)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s/config.json: key 'architectures' is missing, expected a list like "
                   "[\"LlamaForCausalLM\"]",
                   c->folder);
      return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (hf_archs); i++)
    if (strcmp (hf_archs[i].hf, name) == 0)
      {
        c->arch = &hf_archs[i];
        if (!(c->arch->flags & TEXT_CONFIG))
          return TRUE;
        c->config = cfg_object (c->config, "text_config");
        if (c->config != NULL)
          return TRUE;
        g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                     "%s/config.json: key 'text_config' is missing (%s keeps the language "
                     "model's keys there)",
                     c->folder, name);
        return FALSE;
      }
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_UNSUPPORTED,
               "%s/config.json: architecture '%s' is not one Lathe converts; it converts %s",
               c->folder, name, lathe_hf_supported_list ());
  return FALSE;
}

/* RoPE scaling: linear scales positions; llama3 and longrope become factor
 * tensors (made in rope_tensors); others are refused. */
static gboolean
read_rope_scaling (Conv *c, GError **error)
{
  JsonObject *rs = cfg_object (c->config, "rope_scaling");
  const char *type;

  if (rs == NULL)
    return TRUE;
  type = lathe_json_member_string (rs, "rope_type");
  if (type == NULL)
    type = lathe_json_member_string (rs, "type");
  if (g_strcmp0 (type, "linear") == 0)
    {
      double f;
      if (!lathe_json_member_finite (rs, "factor", &f) || !(f > 0))
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                       "%s/config.json: key 'rope_scaling.factor' is missing or not positive",
                       c->folder);
          return FALSE;
        }
      c->hp.rope_freq_scale = (float) (1.0 / f);
      return TRUE;
    }
  if (g_strcmp0 (type, "llama3") == 0 || g_strcmp0 (type, "longrope") == 0
      || g_strcmp0 (type, "su") == 0 || g_strcmp0 (type, "default") == 0)
    return TRUE;
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_UNSUPPORTED,
               "%s/config.json: key 'rope_scaling' is of type '%s'; Lathe runs linear, llama3 and "
               "longrope scaling",
               c->folder, type != NULL ? type : "(none)");
  return FALSE;
}

static gboolean
read_hparams (Conv *c, GError **error)
{
  lk_hparams *hp = &c->hp;
  double partial;
  int head_dim;

  memset (hp, 0, sizeof *hp);
  if (!lk_arch_from_name (c->arch->arch, &hp->arch))
    g_return_val_if_reached (FALSE);
  g_strlcpy (hp->arch_name, c->arch->arch, sizeof hp->arch_name);
  if (!cfg_int (c, NAMES ("hidden_size"), TRUE, 0, &hp->n_embd, error)
      || !cfg_int (c, NAMES ("num_hidden_layers", "num_layers"), TRUE, 0, &hp->n_layer, error)
      || !cfg_int (c, NAMES ("num_attention_heads"), TRUE, 0, &c->n_head, error)
      || !cfg_int (c, NAMES ("num_key_value_heads"), FALSE, c->n_head, &c->n_head_kv, error)
      || !cfg_int (c, NAMES ("max_position_embeddings"), FALSE, 4096, &hp->n_ctx_train, error)
      || !cfg_int (c, NAMES ("vocab_size"), FALSE, 0, &hp->n_vocab, error))
    return FALSE;
  if (c->n_head == 0 || hp->n_embd == 0 || hp->n_layer == 0 || c->n_head_kv == 0
      || c->n_head % c->n_head_kv != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s/config.json: %d heads, %d kv heads, width %d, %d layers: expected "
                   "positive counts, the heads a multiple of the kv heads",
                   c->folder, c->n_head, c->n_head_kv, hp->n_embd, hp->n_layer);
      return FALSE;
    }
  if (!cfg_int (c, NAMES ("head_dim"), FALSE, hp->n_embd / c->n_head, &head_dim, error))
    return FALSE;
  hp->head_dim = head_dim;
  partial = cfg_float (c, NAMES ("partial_rotary_factor", "rope_pct"), 1.0f);
  hp->n_rot = (int) (partial * head_dim);
  if (c->arch->flags & MOE)
    {
      if (!cfg_int (c, NAMES ("num_local_experts", "num_experts"), TRUE, 0, &hp->n_expert, error)
          || !cfg_int (c, NAMES ("num_experts_per_tok"), TRUE, 0, &hp->n_expert_used, error)
          || !cfg_int (c, NAMES ("shared_expert_intermediate_size"), FALSE, 0, &hp->n_ff_shexp,
                       error)
          || !cfg_int (c, NAMES ("moe_intermediate_size", "intermediate_size"), TRUE, 0, &c->n_ff,
                       error))
        return FALSE;
    }
  else if (!cfg_int (c, NAMES ("intermediate_size"), FALSE, 4 * hp->n_embd, &c->n_ff, error))
    return FALSE;
  hp->rope_base = cfg_float (c, NAMES ("rope_theta"), 10000.0f);
  hp->rope_freq_scale = 1.0f;
  hp->norm = strcmp (c->arch->arch, "stablelm") == 0 ? LK_NORM_LAYER : LK_NORM_RMS;
  hp->norm_eps = cfg_float (c, NAMES ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon"),
                            1e-6f);
  hp->embd_scale = cfg_float (c, NAMES ("embedding_multiplier"), 1.0f);
  hp->residual_scale = cfg_float (c, NAMES ("residual_multiplier"), 1.0f);
  hp->attn_scale = cfg_float (c, NAMES ("attention_multiplier"), 1.0f / sqrtf ((float) head_dim));
  hp->logit_scale = 1.0f / cfg_float (c, NAMES ("logits_scaling"), 1.0f);
  hp->attn_softcap = cfg_float (c, NAMES ("attn_logit_softcapping"), 0.0f);
  hp->final_softcap = cfg_float (c, NAMES ("final_logit_softcapping"), 0.0f);
  if (strncmp (c->arch->arch, "gemma", 5) == 0 && strcmp (c->arch->arch, "gemma") != 0
      && !cfg_int (c, NAMES ("sliding_window"), FALSE, 0, &hp->n_swa, error))
    return FALSE;
  hp->rope_base_swa = cfg_float (c, NAMES ("rope_local_base_freq"), hp->rope_base);
  hp->rope_attn_factor = 1.0f;
  c->tied = cfg_bool (c->config, "tie_word_embeddings",
                      strncmp (c->arch->arch, "gemma", 5) == 0);
  return read_rope_scaling (c, error);
}

/* Shards -------------------------------------------------------------------- */

/* A shard named by the index must be a plain file name in the folder. */
static gboolean
plain_name (const char *name)
{
  return *name != '\0' && strchr (name, '/') == NULL && strcmp (name, ".") != 0
         && strcmp (name, "..") != 0 && g_str_has_suffix (name, ".safetensors");
}

static gboolean
shard_names (Conv *c, GPtrArray *names, GError **error)
{
  g_autofree char *index = g_build_filename (c->folder, "model.safetensors.index.json", NULL);
  g_autofree char *single = g_build_filename (c->folder, "model.safetensors", NULL);
  g_autofree char *pickle = g_build_filename (c->folder, "pytorch_model.bin", NULL);
  g_autoptr (JsonNode) root = NULL;
  JsonObject *map;
  g_autoptr (GList) members = NULL;
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  if (!g_file_test (index, G_FILE_TEST_IS_REGULAR))
    {
      if (g_file_test (single, G_FILE_TEST_IS_REGULAR))
        {
          g_ptr_array_add (names, g_strdup ("model.safetensors"));
          return TRUE;
        }
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO,
                   g_file_test (pickle, G_FILE_TEST_EXISTS)
                     ? "%s: the weights are in pytorch_model.bin (a Python pickle, which Lathe "
                       "does not run); save them as safetensors first"
                     : "%s: no model.safetensors or model.safetensors.index.json",
                   c->folder);
      return FALSE;
    }
  root = lathe_json_load (index, 0, error);
  if (root == NULL)
    return FALSE;
  map = JSON_NODE_HOLDS_OBJECT (root) ? cfg_object (json_node_get_object (root), "weight_map")
                                      : NULL;
  if (map == NULL)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s: key 'weight_map' is missing or not an object", index);
      return FALSE;
    }
  members = json_object_get_members (map);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *file = lathe_json_member_string (map, l->data);
      if (file == NULL || !plain_name (file))
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                       "%s: key 'weight_map.%s' must name a .safetensors file in the folder",
                       index, (const char *) l->data);
          return FALSE;
        }
      if (!g_hash_table_contains (seen, file))
        {
          g_hash_table_add (seen, (gpointer) file);
          g_ptr_array_add (names, g_strdup (file));
        }
    }
  return TRUE;
}

static gboolean
open_shards (Conv *c, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  if (!shard_names (c, names, error))
    return FALSE;
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (c->folder, g_ptr_array_index (names, i), NULL);
      LatheSafetensors *st = lathe_safetensors_open (path, error);
      if (st == NULL)
        return FALSE;
      g_ptr_array_add (c->shards, st);
    }
  return TRUE;
}

/* Jobs ---------------------------------------------------------------------- */

/* Vectors, norms, routers and RoPE factors stay F32, as llama.cpp keeps them. */
static gboolean
stays_f32 (const Job *j)
{
  return j->n_dims <= 1 || g_str_has_suffix (j->name, "_norm.weight")
         || g_str_has_prefix (j->name, "rope_") || strstr (j->name, "ffn_gate_inp") != NULL;
}

static lk_type
out_type_of (Conv *c, const Job *j, LatheStDtype src)
{
  if (stays_f32 (j))
    return LK_TYPE_F32;
  switch (c->out_type)
    {
    case LATHE_HF_OUT_F32:
      return LK_TYPE_F32;
    case LATHE_HF_OUT_BF16:
      return LK_TYPE_BF16;
    case LATHE_HF_OUT_Q8_0:
      /* Rows Q8_0's 32-blocks do not divide stay F16, as llama.cpp does. */
      return j->ne[0] % 32 == 0 ? LK_TYPE_Q8_0 : LK_TYPE_F16;
    case LATHE_HF_OUT_AUTO:
      return src == LATHE_ST_BF16 ? LK_TYPE_BF16 : LK_TYPE_F16;
    case LATHE_HF_OUT_F16:
    default:
      return LK_TYPE_F16;
    }
}

static Job *
job_new (Conv *c, const char *name, int layer, guint order, Role role)
{
  Job *j = g_new0 (Job, 1);

  j->conv = c;
  j->name = g_strdup (name);
  j->layer = layer;
  j->order = order;
  j->role = role;
  j->src = g_ptr_array_new ();
  g_ptr_array_add (c->jobs, j);
  g_hash_table_insert (c->by_name, j->name, j);
  return j;
}

static gboolean
duplicate (Conv *c, const char *hf, const char *gguf, GError **error)
{
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
               "%s: tensor '%s' gives '%s' a second time", c->folder, hf, gguf);
  return FALSE;
}

/* Shape of the GGUF tensor from the HF one: dimensions reversed. */
static gboolean
set_shape (Conv *c, Job *j, const LatheStTensor *t, GError **error)
{
  if (t->n_dims < 1 || t->n_dims > 2 || t->n_elements == 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s: tensor '%s' has %u dimensions and %" G_GINT64_FORMAT
                   " elements, expected a vector or a matrix",
                   c->folder, t->name, t->n_dims, t->n_elements);
      return FALSE;
    }
  if (t->dtype != LATHE_ST_F32 && t->dtype != LATHE_ST_F16 && t->dtype != LATHE_ST_BF16)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_UNSUPPORTED,
                   "%s: tensor '%s' is %s; Lathe converts F32, F16 and BF16 checkpoints",
                   c->folder, t->name, lathe_st_dtype_name (t->dtype));
      return FALSE;
    }
  j->n_dims = t->n_dims;
  j->ne[0] = t->shape[t->n_dims - 1];
  j->ne[1] = t->n_dims == 2 ? t->shape[0] : 1;
  j->ne[2] = j->ne[3] = 1;
  return TRUE;
}

/* Rows of a q, k or v part of a fused matrix. */
static gboolean
add_split (Conv *c, const LatheStTensor *t, int layer, guint order, GError **error)
{
  static const char *const parts[] = { "attn_q.weight", "attn_k.weight", "attn_v.weight" };
  const gint64 d = c->hp.head_dim;
  const gint64 rows = (c->n_head + 2 * c->n_head_kv) * d;

  if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != c->hp.n_embd)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s: tensor '%s' has shape [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                   "], expected [%" G_GINT64_FORMAT ", %d] (q, k and v of %d + 2×%d heads)",
                   c->folder, t->name, t->shape[0], t->n_dims == 2 ? t->shape[1] : 0, rows,
                   c->hp.n_embd, c->n_head, c->n_head_kv);
      return FALSE;
    }
  for (int p = 0; p < 3; p++)
    {
      g_autofree char *name = g_strdup_printf ("blk.%d.%s", layer, parts[p]);
      Job *j;
      if (g_hash_table_contains (c->by_name, name))
        return duplicate (c, t->name, name, error);
      j = job_new (c, name, layer, order + (guint) p,
                   strcmp (c->arch->arch, "internlm2") == 0 ? ROLE_WQKV : ROLE_QKV);
      j->part = p;
      if (!set_shape (c, j, t, error))
        return FALSE;
      j->ne[1] = (p == 0 ? c->n_head : c->n_head_kv) * d;
      if (c->arch->flags & PERMUTE_QK && p < 2)
        j->permute_heads = p == 0 ? c->n_head : c->n_head_kv;
      g_ptr_array_add (j->src, (gpointer) t);
    }
  return TRUE;
}

static gboolean
add_block_tensor (Conv *c, const LatheStTensor *t, int layer, const char *rest, GError **error)
{
  for (guint k = 0; k < G_N_ELEMENTS (block_names); k++)
    {
      const NameMap *nm = &block_names[k];
      g_autofree char *name = NULL;
      const char *gguf = nm->gguf;
      gint64 e = 0;
      Job *j;

      if (!match_star (nm->hf, rest, &e))
        continue;
      if (nm->role == ROLE_WQKV
          || (strcmp (nm->hf, "self_attn.qkv_proj.weight") == 0
              && strcmp (c->arch->arch, "ernie4_5") == 0))
        return add_split (c, t, layer, k * 4, error);
      if ((c->arch->flags & POST_NORMS) && g_str_has_prefix (nm->hf, "post_attention_layernorm"))
        gguf = "post_attention_norm.weight";
      name = g_strdup_printf ("blk.%d.%s", layer, gguf);
      j = g_hash_table_lookup (c->by_name, name);
      if (nm->role == ROLE_EXPERT)
        {
          if (j == NULL)
            {
              j = job_new (c, name, layer, k * 4, ROLE_EXPERT);
              if (!set_shape (c, j, t, error))
                return FALSE;
            }
          if (e >= c->hp.n_expert)
            {
              g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                           "%s: tensor '%s' is expert %" G_GINT64_FORMAT
                           ", but config.json says %d experts",
                           c->folder, t->name, e, c->hp.n_expert);
              return FALSE;
            }
          g_ptr_array_set_size (j->src, MAX (j->src->len, (guint) c->hp.n_expert));
          if (g_ptr_array_index (j->src, e) != NULL)
            return duplicate (c, t->name, name, error);
          g_ptr_array_index (j->src, e) = (gpointer) t;
          return TRUE;
        }
      if (j != NULL)
        return duplicate (c, t->name, name, error);
      j = job_new (c, name, layer, k * 4, nm->role);
      if (!set_shape (c, j, t, error))
        return FALSE;
      if (strcmp (gguf, "ffn_gate_inp_shexp.weight") == 0 && j->ne[1] == 1)
        j->n_dims = 1; /* [1, n_embd] in the checkpoint, a vector in GGUF */
      if (c->arch->flags & PERMUTE_QK && nm->role == ROLE_Q)
        j->permute_heads = c->n_head;
      if (c->arch->flags & PERMUTE_QK && nm->role == ROLE_K)
        j->permute_heads = c->n_head_kv;
      j->plus_one = (c->arch->flags & NORM_PLUS_ONE) && g_str_has_suffix (nm->hf, "norm.weight");
      g_ptr_array_add (j->src, (gpointer) t);
      return TRUE;
    }
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
               "%s: tensor '%s' has no GGUF name for %s (Lathe maps %s)", c->folder, t->name,
               c->arch->hf, "attention, norms, MLP and experts");
  return FALSE;
}

/* The name with the prefixes some classes add taken off. */
static const char *
canonical_name (const char *name, char *buf, gsize cap)
{
  static const struct
  {
    const char *from, *to;
  } prefixes[] = {
    { "ernie.", "model." },
    { "language_model.model.", "model." }, /* multimodal classes, transformers < 4.52 */
    { "model.language_model.", "model." }, /* and since */
    { "language_model.lm_head.", "lm_head." },
  };

  for (guint i = 0; i < G_N_ELEMENTS (prefixes); i++)
    if (g_str_has_prefix (name, prefixes[i].from))
      {
        g_snprintf (buf, cap, "%s%s", prefixes[i].to, name + strlen (prefixes[i].from));
        return buf;
      }
  return name;
}

static gboolean
add_tensor (Conv *c, const LatheStTensor *t, GError **error)
{
  char buf[512];
  const char *name = canonical_name (t->name, buf, sizeof buf);

  if (ignored_name (name))
    return TRUE;
  for (guint p = 0; p < G_N_ELEMENTS (block_prefixes); p++)
    if (g_str_has_prefix (name, block_prefixes[p]))
      {
        const char *s = name + strlen (block_prefixes[p]);
        char *end;
        gint64 layer = g_ascii_strtoll (s, &end, 10);
        if (end == s || *end != '.' || layer < 0 || layer >= c->hp.n_layer)
          {
            g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                         "%s: tensor '%s' names a layer outside 0 to %d (config.json's "
                         "'num_hidden_layers')",
                         c->folder, t->name, c->hp.n_layer - 1);
            return FALSE;
          }
        return add_block_tensor (c, t, (int) layer, end + 1, error);
      }
  for (guint k = 0; k < G_N_ELEMENTS (global_names); k++)
    if (strcmp (global_names[k].hf, name) == 0)
      {
        Job *j;
        if (strcmp (global_names[k].gguf, "output.weight") == 0 && c->tied)
          return TRUE; /* the embedding serves as the head */
        if (g_hash_table_contains (c->by_name, global_names[k].gguf))
          return duplicate (c, t->name, global_names[k].gguf, error);
        j = job_new (c, global_names[k].gguf, -1, k, ROLE_PLAIN);
        if (!set_shape (c, j, t, error))
          return FALSE;
        j->plus_one = (c->arch->flags & NORM_PLUS_ONE) && g_str_has_suffix (name, "norm.weight");
        g_ptr_array_add (j->src, (gpointer) t);
        return TRUE;
      }
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: tensor '%s' has no GGUF name for %s",
               c->folder, t->name, c->arch->hf);
  return FALSE;
}

/* Every expert there, all of one shape and type; the stack's shape. */
static gboolean
check_experts (Conv *c, Job *j, GError **error)
{
  const LatheStTensor *first;

  if (j->src->len != (guint) c->hp.n_expert)
    g_ptr_array_set_size (j->src, (guint) c->hp.n_expert);
  first = g_ptr_array_index (j->src, 0);
  for (guint e = 0; e < j->src->len; e++)
    {
      const LatheStTensor *t = g_ptr_array_index (j->src, e);
      if (t == NULL)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                       "%s: '%s' lacks expert %u of the %d config.json names", c->folder, j->name,
                       e, c->hp.n_expert);
          return FALSE;
        }
      if (first == NULL || t->n_dims != 2 || t->shape[0] != first->shape[0]
          || t->shape[1] != first->shape[1] || t->dtype != first->dtype)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                       "%s: tensor '%s' differs in shape or type from expert 0's", c->folder,
                       t->name);
          return FALSE;
        }
    }
  j->n_dims = 3;
  j->ne[2] = c->hp.n_expert;
  return TRUE;
}

/* Permuting needs whole heads of an even size. */
static gboolean
check_permute (Conv *c, const Job *j, GError **error)
{
  const gint64 rows = j->n_dims == 1 ? j->ne[0] : j->ne[1];

  if (j->permute_heads == 0)
    return TRUE;
  if (rows % j->permute_heads != 0 || (rows / j->permute_heads) % 2 != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s: '%s' has %" G_GINT64_FORMAT " rows, expected %d heads of an even size",
                   c->folder, j->name, rows, j->permute_heads);
      return FALSE;
    }
  return TRUE;
}

/* llama3's factors per frequency (1 for high frequencies, factor for low,
 * smooth between), as the converter computes them for rope_freqs. */
static gboolean
llama3_factors (Conv *c, JsonObject *rs, GError **error)
{
  const int half = c->hp.n_rot / 2;
  double factor, lo, hi, orig;
  Job *j;

  if (!lathe_json_member_finite (rs, "factor", &factor)
      || !lathe_json_member_finite (rs, "low_freq_factor", &lo)
      || !lathe_json_member_finite (rs, "high_freq_factor", &hi)
      || !lathe_json_member_finite (rs, "original_max_position_embeddings", &orig) || !(hi > lo)
      || !(factor > 0) || !(orig > 0))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s/config.json: key 'rope_scaling' of type llama3 needs factor, "
                   "low_freq_factor < high_freq_factor and original_max_position_embeddings",
                   c->folder);
      return FALSE;
    }
  j = job_new (c, "rope_freqs.weight", -1, 100, ROLE_PLAIN);
  j->n_dims = 1;
  j->ne[0] = half;
  j->ne[1] = j->ne[2] = j->ne[3] = 1;
  j->values = g_new (float, half);
  for (int i = 0; i < half; i++)
    {
      const float freq = 1.0f / powf (c->hp.rope_base, (float) (2 * i) / (float) c->hp.n_rot);
      const double wavelen = 2 * G_PI / freq;
      if (wavelen < orig / hi)
        j->values[i] = 1.0f;
      else if (wavelen > orig / lo)
        j->values[i] = (float) factor;
      else
        {
          const double smooth = (orig / wavelen - lo) / (hi - lo);
          j->values[i] = (float) (1.0 / ((1 - smooth) / factor + smooth));
        }
    }
  return TRUE;
}

/* Phi-3's long and short factors (head_dim / 2 each), the context they were
 * trained for and the attention factor llama.cpp derives. */
static gboolean
longrope_factors (Conv *c, JsonObject *rs, lk_gguf_writer *w, GError **error)
{
  static const char *const keys[2] = { "long_factor", "short_factor" };
  static const char *const names[2] = { "rope_factors_long.weight", "rope_factors_short.weight" };
  const int half = c->hp.n_rot / 2;
  int orig;
  double scale;
  char key[96];

  if (!cfg_int (c, NAMES ("original_max_position_embeddings"), TRUE, 0, &orig, error))
    return FALSE;
  for (int k = 0; k < 2; k++)
    {
      JsonNode *n = json_object_get_member (rs, keys[k]);
      JsonArray *a = n != NULL && JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
      Job *j;
      if (a == NULL || json_array_get_length (a) != (guint) half)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                       "%s/config.json: key 'rope_scaling.%s' must list %d factors", c->folder,
                       keys[k], half);
          return FALSE;
        }
      j = job_new (c, names[k], -1, 101 + (guint) k, ROLE_PLAIN);
      j->n_dims = 1;
      j->ne[0] = half;
      j->ne[1] = j->ne[2] = j->ne[3] = 1;
      j->values = g_new (float, half);
      for (int i = 0; i < half; i++)
        {
          double d;
          if (!lathe_json_get_finite (json_array_get_element (a, (guint) i), &d))
            {
              g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                           "%s/config.json: key 'rope_scaling.%s' [%d] is not a number",
                           c->folder, keys[k], i);
              return FALSE;
            }
          j->values[i] = (float) d;
        }
    }
  scale = (double) c->hp.n_ctx_train / orig;
  g_snprintf (key, sizeof key, "%s.rope.scaling.original_context_length", c->arch->arch);
  lk_gguf_writer_set_u32 (w, key, (guint32) orig);
  g_snprintf (key, sizeof key, "%s.rope.scaling.attn_factor", c->arch->arch);
  lk_gguf_writer_set_f32 (w, key,
                          scale <= 1.0 ? 1.0f : (float) sqrt (1 + log (scale) / log (orig)));
  return TRUE;
}

static gboolean
rope_tensors (Conv *c, lk_gguf_writer *w, GError **error)
{
  JsonObject *rs = cfg_object (c->config, "rope_scaling");
  const char *type;

  if (rs == NULL)
    return TRUE;
  type = lathe_json_member_string (rs, "rope_type");
  if (type == NULL)
    type = lathe_json_member_string (rs, "type");
  if (g_strcmp0 (type, "llama3") == 0)
    return llama3_factors (c, rs, error);
  if (g_strcmp0 (type, "longrope") == 0 || g_strcmp0 (type, "su") == 0)
    return longrope_factors (c, rs, w, error);
  return TRUE;
}

static gint
by_order (gconstpointer a, gconstpointer b)
{
  const Job *x = *(const Job *const *) a, *y = *(const Job *const *) b;

  if (x->layer != y->layer)
    return x->layer < y->layer ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static gboolean
plan_jobs (Conv *c, lk_gguf_writer *w, GError **error)
{
  for (guint s = 0; s < c->shards->len; s++)
    {
      LatheSafetensors *st = g_ptr_array_index (c->shards, s);
      for (guint i = 0; i < lathe_safetensors_n_tensors (st); i++)
        if (!add_tensor (c, lathe_safetensors_tensor (st, i), error))
          return FALSE;
    }
  if (!rope_tensors (c, w, error))
    return FALSE;
  for (guint i = 0; i < c->jobs->len; i++)
    {
      Job *j = g_ptr_array_index (c->jobs, i);
      const LatheStTensor *t;
      if (j->role == ROLE_EXPERT && !check_experts (c, j, error))
        return FALSE;
      if (!check_permute (c, j, error))
        return FALSE;
      t = j->src->len > 0 ? g_ptr_array_index (j->src, 0) : NULL;
      j->type = j->values != NULL ? LK_TYPE_F32 : out_type_of (c, j, t->dtype);
      c->bytes_total += lk_row_size (j->type, j->ne[0]) * (guint64) (j->ne[1] * j->ne[2]);
    }
  g_ptr_array_sort (c->jobs, by_order);
  return TRUE;
}

/* Writing ------------------------------------------------------------------- */

/* The HF row that becomes GGUF row r of job j (within expert's matrix). */
static gint64
source_row (const Job *j, gint64 r)
{
  const Conv *c = j->conv;
  const gint64 d = c->hp.head_dim;

  if (j->permute_heads > 0)
    {
      /* llama.cpp's permute: rows (head, i, pair j) come from (head, j, i). */
      const gint64 rows = j->n_dims == 1 ? j->ne[0] : j->ne[1];
      const gint64 hd = rows / j->permute_heads, h = r / hd, w = r % hd;
      r = h * hd + (w % 2) * (hd / 2) + w / 2;
    }
  if (j->role == ROLE_QKV)
    return r + (j->part >= 1 ? c->n_head * d : 0) + (j->part == 2 ? c->n_head_kv * d : 0);
  if (j->role == ROLE_WQKV)
    {
      /* Groups of (heads / kv heads) q heads, then one k and one v head. */
      const gint64 q_per_kv = c->n_head / c->n_head_kv, head = r / d, i = r % d;
      const gint64 g = j->part == 0 ? head / q_per_kv : head;
      const gint64 slot = j->part == 0 ? head % q_per_kv : q_per_kv + (j->part - 1);
      return (g * (q_per_kv + 2) + slot) * d + i;
    }
  return r;
}

static lk_status
fill_job (void *user, void *dst, size_t nbytes, lk_error *err)
{
  Job *j = user;
  Conv *c = j->conv;
  /* A vector is permuted element by element: rows of one. */
  const gboolean vec = j->n_dims == 1;
  const gint64 len = vec ? 1 : j->ne[0];
  const gint64 rows = vec ? j->ne[0] : j->ne[1];
  const size_t row_bytes = lk_row_size (j->type, len);
  g_autofree float *buf = g_new (float, len);
  guint8 *out = dst;

  (void) nbytes;
  for (gint64 e = 0; e < j->ne[2]; e++)
    {
      const LatheStTensor *t = j->values ? NULL : g_ptr_array_index (j->src, e);
      for (gint64 r = 0; r < rows; r++)
        {
          const gint64 base = source_row (j, r) * len;
          for (gint64 i = 0; i < len; i++)
            buf[i] = t != NULL ? lathe_st_get_f32 (t, base + i) : j->values[base + i];
          if (j->plus_one)
            for (gint64 i = 0; i < len; i++)
              buf[i] += 1.0f;
          lk_quantize_row_ref (j->type, buf, out, len);
          out += row_bytes;
        }
      c->bytes_done += row_bytes * (guint64) rows;
      if (c->progress != NULL)
        c->progress ((double) c->bytes_done / (double) MAX (c->bytes_total, 1), c->progress_data);
      if (g_cancellable_is_cancelled (c->cancellable))
        return lk_error_set (err, LK_ERR_CANCELLED, "cancelled");
    }
  return LK_OK;
}

static guint32
file_type (LatheHfOutType t, gboolean bf16_source)
{
  switch (t)
    {
    case LATHE_HF_OUT_F32: return 0;
    case LATHE_HF_OUT_BF16: return 32;
    case LATHE_HF_OUT_Q8_0: return 7;
    case LATHE_HF_OUT_AUTO: return bf16_source ? 32 : 1;
    case LATHE_HF_OUT_F16:
    default: return 1;
    }
}

static gboolean
write_gguf (Conv *c, lk_gguf_writer *w, const char *path, GError **error)
{
  g_autofree int *n_head = g_new (int, c->hp.n_layer);
  g_autofree int *n_head_kv = g_new (int, c->hp.n_layer);
  g_autofree int *n_ff = g_new (int, c->hp.n_layer);
  g_autofree char *name = g_path_get_basename (c->folder);
  gboolean bf16 = FALSE;
  lk_error err = { 0 };

  for (int l = 0; l < c->hp.n_layer; l++)
    n_head[l] = c->n_head, n_head_kv[l] = c->n_head_kv, n_ff[l] = c->n_ff;
  lk_write_hparams (w, &c->hp, n_head, n_head_kv, n_ff);
  lk_gguf_writer_set_str (w, "general.name", name);
  for (guint i = 0; i < c->jobs->len; i++)
    {
      Job *j = g_ptr_array_index (c->jobs, i);
      const LatheStTensor *t = j->src->len > 0 ? g_ptr_array_index (j->src, 0) : NULL;
      bf16 |= t != NULL && t->dtype == LATHE_ST_BF16;
      if (lk_gguf_writer_add_tensor_fill (w, j->name, j->type, j->n_dims, j->ne, fill_job, j,
                                          &err)
          != LK_OK)
        {
          lathe_error_from_engine (error, &err);
          return FALSE;
        }
    }
  lk_gguf_writer_set_u32 (w, "general.file_type", file_type (c->out_type, bf16));
  if (lk_gguf_writer_write (w, path, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  return TRUE;
}

/* The engine opens the file as any GGUF: what it refuses, the conversion
 * did not make right. */
static gboolean
check_written (const char *path, const char *folder, GError **error)
{
  lk_model_params mp;
  lk_model *m = NULL;
  lk_error err = { 0 };

  lk_model_params_init (&mp);
  if (lk_model_open (path, &mp, &m, &err) != LK_OK)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   "%s: the converted model does not load: %s", folder, err.message);
      return FALSE;
    }
  lk_model_free (m);
  return TRUE;
}

static void
conv_clear (Conv *c)
{
  g_clear_pointer (&c->by_name, g_hash_table_unref);
  g_clear_pointer (&c->jobs, g_ptr_array_unref);
  g_clear_pointer (&c->shards, g_ptr_array_unref);
}

void
lathe_hf_options_init (LatheHfOptions *o)
{
  o->type = LATHE_HF_OUT_F16;
  o->pre = NULL;
}

gboolean
lathe_hf_convert (const char *folder, const char *output, const LatheHfOptions *options,
                  LatheHfProgressFunc progress, gpointer user_data, GCancellable *cancellable,
                  GError **error)
{
  g_autofree char *config_path = g_build_filename (folder, "config.json", NULL);
  g_autofree char *partial = g_strconcat (output, ".partial", NULL);
  g_autoptr (JsonNode) root = NULL;
  lk_gguf_writer *w = NULL;
  Conv c = { 0 };
  gboolean ok = FALSE;
  gint n_tokens = 0;

  root = lathe_json_load (config_path, 0, error);
  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: not a JSON object", config_path);
      return FALSE;
    }
  c.folder = folder;
  c.config = c.root = json_node_get_object (root);
  c.out_type = options->type;
  c.pre = options->pre;
  c.progress = progress;
  c.progress_data = user_data;
  c.cancellable = cancellable;
  c.shards = g_ptr_array_new_with_free_func ((GDestroyNotify) lathe_safetensors_free);
  c.jobs = g_ptr_array_new_with_free_func ((GDestroyNotify) job_free);
  c.by_name = g_hash_table_new (g_str_hash, g_str_equal);
  w = lk_gguf_writer_new ();
  if (find_arch (&c, error) && read_hparams (&c, error)
      && lathe_hf_write_tokenizer (folder, c.root, c.hp.n_vocab, c.pre, w, &n_tokens, error))
    {
      c.hp.n_vocab = n_tokens;
      ok = open_shards (&c, error) && plan_jobs (&c, w, error)
           && write_gguf (&c, w, partial, error);
    }
  lk_gguf_writer_free (w);
  conv_clear (&c);
  if (ok && !check_written (partial, folder, error))
    ok = FALSE;
  if (ok && g_rename (partial, output) != 0)
    {
      int e = errno;
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, "%s: %s", output, g_strerror (e));
      ok = FALSE;
    }
  if (!ok)
    g_unlink (partial);
  return ok;
}

/* In a thread ----------------------------------------------------------------- */

typedef struct
{
  char *folder, *output, *pre;
  LatheHfOptions options;
  LatheHfProgressFunc progress;
  gpointer progress_data;
  GMainContext *context;
  GMutex lock;
  double fraction;
  guint idle;
} Task;

static void
task_free (Task *t)
{
  g_free (t->folder);
  g_free (t->output);
  g_free (t->pre);
  g_main_context_unref (t->context);
  g_mutex_clear (&t->lock);
  g_free (t);
}

static gboolean
report_cb (gpointer data)
{
  GTask *task = data;
  Task *t = g_task_get_task_data (task);
  double f;

  g_mutex_lock (&t->lock);
  f = t->fraction;
  t->idle = 0;
  g_mutex_unlock (&t->lock);
  if (!g_task_get_completed (task))
    t->progress (f, t->progress_data);
  return G_SOURCE_REMOVE;
}

/* Progress is coalesced: one idle in the caller's context at a time. */
static void
thread_progress (double fraction, gpointer data)
{
  GTask *task = data;
  Task *t = g_task_get_task_data (task);

  g_mutex_lock (&t->lock);
  t->fraction = fraction;
  if (t->idle == 0)
    {
      GSource *s = g_idle_source_new ();
      g_source_set_callback (s, report_cb, g_object_ref (task), g_object_unref);
      t->idle = g_source_attach (s, t->context);
      g_source_unref (s);
    }
  g_mutex_unlock (&t->lock);
}

static void
convert_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Task *t = data;
  GError *error = NULL;

  (void) source;
  if (lathe_hf_convert (t->folder, t->output, &t->options, t->progress ? thread_progress : NULL, task,
                        cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
lathe_hf_convert_async (const char *folder, const char *output, const LatheHfOptions *options,
                        LatheHfProgressFunc progress, gpointer user_data,
                        GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer callback_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, callback_data);
  Task *t = g_new0 (Task, 1);

  t->folder = g_strdup (folder);
  t->output = g_strdup (output);
  t->pre = g_strdup (options->pre);
  t->options = *options;
  t->options.pre = t->pre;
  t->progress = progress;
  t->progress_data = user_data;
  t->context = g_main_context_ref_thread_default ();
  g_mutex_init (&t->lock);
  g_task_set_task_data (task, t, (GDestroyNotify) task_free);
  g_task_set_source_tag (task, lathe_hf_convert_async);
  g_task_run_in_thread (task, convert_thread);
}

gboolean
lathe_hf_convert_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
