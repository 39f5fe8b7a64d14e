/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "lathe-test-hf.h"
#include "lathe-test.h"
#include "lk-gguf.h"
#include "lk-model.h"

static const LatheHfCase cases[] = {
  { "llama", "LlamaForCausalLM", T_PERMUTE },
  { "llama3", "LlamaForCausalLM", T_PERMUTE | T_LLAMA3 },
  { "mistral", "MistralForCausalLM", T_PERMUTE | T_SHARDS },
  { "mixtral", "MixtralForCausalLM", T_PERMUTE | T_MIXTRAL | T_SHARDS },
  { "qwen2", "Qwen2ForCausalLM", 0 },
  { "qwen2moe", "Qwen2MoeForCausalLM", 0 },
  { "qwen3", "Qwen3ForCausalLM", 0 },
  { "qwen3moe", "Qwen3MoeForCausalLM", 0 },
  { "gemma", "GemmaForCausalLM", T_PLUS_ONE },
  { "gemma2", "Gemma2ForCausalLM", T_PLUS_ONE | T_POST | T_PRE_FFN },
  { "gemma3", "Gemma3ForCausalLM", T_PLUS_ONE | T_POST | T_PRE_FFN },
  { "gemma3-multimodal", "Gemma3ForConditionalGeneration",
    T_PLUS_ONE | T_POST | T_PRE_FFN | T_MULTIMODAL, "gemma3" },
  { "granite", "GraniteForCausalLM", T_PERMUTE },
  { "olmo2", "Olmo2ForCausalLM", T_POST },
  { "smollm3", "SmolLM3ForCausalLM", T_PERMUTE },
  { "stablelm", "StableLmForCausalLM", 0 },
  { "internlm2", "InternLM2ForCausalLM", T_PERMUTE | T_INTERNLM2 },
  { "exaone", "ExaoneForCausalLM", T_EXAONE },
  { "ernie4_5", "Ernie4_5ForCausalLM", T_FUSED_QKV },
  /* ../shared/archs has no phi3: exaone's weights in phi3's layout compute the same. */
  { "phi3", "Phi3ForCausalLM", T_FUSED_QKV | T_PHI3, "exaone" },
};

const LatheHfCase *
lathe_test_hf_cases (guint *n)
{
  *n = G_N_ELEMENTS (cases);
  return cases;
}




/* Writing a checkpoint ------------------------------------------------------ */

typedef struct
{
  char *name;
  const char *dtype;
  guint n_dims;
  gint64 shape[2];
  GByteArray *data;
} HfTensor;

static void
hf_tensor_free (HfTensor *t)
{
  g_free (t->name);
  g_byte_array_unref (t->data);
  g_free (t);
}

static HfTensor *
hf_new (GPtrArray *out, const char *name, const lk_gguf_tensor *like, gint64 rows)
{
  HfTensor *t = g_new0 (HfTensor, 1);

  t->name = g_strdup (name);
  t->dtype = like->type == LK_TYPE_F16 ? "F16" : "F32";
  g_assert_true (like->type == LK_TYPE_F16 || like->type == LK_TYPE_F32);
  t->n_dims = like->n_dims >= 2 ? 2 : 1;
  t->shape[0] = t->n_dims == 2 ? rows : like->ne[0];
  t->shape[1] = like->ne[0];
  t->data = g_byte_array_new ();
  g_ptr_array_add (out, t);
  return t;
}

static gsize
row_bytes (const lk_gguf_tensor *t)
{
  return (t->type == LK_TYPE_F16 ? 2 : 4) * (gsize) (t->n_dims >= 2 ? t->ne[0] : 1);
}

/* Rows [first, first + n) of t (of expert e), each through map (NULL: in
 * place): HF row i is GGUF row map(i). */
static void
append_rows (HfTensor *h, const lk_gguf_tensor *t, gint64 e, gint64 first, gint64 n,
             gint64 heads)
{
  const gsize rb = row_bytes (t);
  const gint64 per_expert = t->n_dims >= 2 ? t->ne[1] : t->ne[0];

  for (gint64 i = 0; i < n; i++)
    {
      gint64 r = i;
      if (heads > 0)
        {
          /* HF row (head, half j, i) holds GGUF row (head, 2i + j). */
          const gint64 hd = n / heads, hh = i / hd, w = i % hd, j = w / (hd / 2), k = w % (hd / 2);
          r = hh * hd + 2 * k + j;
        }
      g_byte_array_append (h->data, t->data + (gsize) (e * per_expert + first + r) * rb, rb);
    }
}

static HfTensor *
hf_copy (GPtrArray *out, const char *name, const lk_gguf_tensor *t, gint64 heads, gboolean minus_one)
{
  const gint64 rows = t->n_dims >= 2 ? t->ne[1] : t->ne[0];
  HfTensor *h = hf_new (out, name, t, rows);

  append_rows (h, t, 0, 0, rows, heads);
  if (minus_one)
    {
      float *f = (float *) h->data->data;
      g_assert_true (t->type == LK_TYPE_F32);
      for (guint i = 0; i < h->data->len / 4; i++)
        f[i] -= 1.0f;
    }
  return h;
}

static const lk_gguf_tensor *
need (const lk_gguf *g, const char *fmt, int layer)
{
  g_autofree char *name = g_strdup_printf (fmt, layer);
  const lk_gguf_tensor *t = lk_gguf_find_tensor (g, name);

  g_assert_nonnull (t);
  return t;
}

/* InternLM2's wqkv: per kv head, its q heads, then its k and v heads. */
static void
internlm2_wqkv (GPtrArray *out, const lk_gguf *g, int l, int n_head, int n_kv, int hd)
{
  const lk_gguf_tensor *q = need (g, "blk.%d.attn_q.weight", l);
  const lk_gguf_tensor *k = need (g, "blk.%d.attn_k.weight", l);
  const lk_gguf_tensor *v = need (g, "blk.%d.attn_v.weight", l);
  g_autofree char *name = g_strdup_printf ("model.layers.%d.attention.wqkv.weight", l);
  g_autoptr (GPtrArray) tmp = g_ptr_array_new_with_free_func ((GDestroyNotify) hf_tensor_free);
  HfTensor *qh = hf_copy (tmp, "q", q, n_head, FALSE), *kh = hf_copy (tmp, "k", k, n_kv, FALSE);
  HfTensor *h = hf_new (out, name, q, (gint64) (n_head + 2 * n_kv) * hd);
  const gsize head = row_bytes (q) * (gsize) hd;
  const int per = n_head / n_kv;

  for (int grp = 0; grp < n_kv; grp++)
    {
      g_byte_array_append (h->data, qh->data->data + (gsize) grp * per * head, (guint) (per * head));
      g_byte_array_append (h->data, kh->data->data + (gsize) grp * head, (guint) head);
      g_byte_array_append (h->data, v->data + (gsize) grp * head, (guint) head);
    }
}

/* The HF name of a block tensor's GGUF suffix, or NULL when it is not
 * written one to one. */
static const char *
block_name (const LatheHfCase *c, const char *suffix)
{
  static const struct
  {
    const char *gguf, *hf, *internlm2, *exaone;
  } map[] = {
    { "attn_norm.weight", "input_layernorm.weight", "attention_norm.weight", "ln_1.weight" },
    { "attn_norm.bias", "input_layernorm.bias", NULL, NULL },
    { "attn_q.weight", "self_attn.q_proj.weight", NULL, "attn.attention.q_proj.weight" },
    { "attn_k.weight", "self_attn.k_proj.weight", NULL, "attn.attention.k_proj.weight" },
    { "attn_v.weight", "self_attn.v_proj.weight", NULL, "attn.attention.v_proj.weight" },
    { "attn_q.bias", "self_attn.q_proj.bias", NULL, NULL },
    { "attn_k.bias", "self_attn.k_proj.bias", NULL, NULL },
    { "attn_v.bias", "self_attn.v_proj.bias", NULL, NULL },
    { "attn_output.weight", "self_attn.o_proj.weight", "attention.wo.weight",
      "attn.attention.out_proj.weight" },
    { "attn_q_norm.weight", "self_attn.q_norm.weight", NULL, NULL },
    { "attn_k_norm.weight", "self_attn.k_norm.weight", NULL, NULL },
    { "post_attention_norm.weight", "post_attention_layernorm.weight", NULL, NULL },
    { "ffn_norm.weight", "post_attention_layernorm.weight", "ffn_norm.weight", "ln_2.weight" },
    { "ffn_norm.bias", "post_attention_layernorm.bias", NULL, NULL },
    { "post_ffw_norm.weight", "post_feedforward_layernorm.weight", NULL, NULL },
    { "ffn_gate.weight", "mlp.gate_proj.weight", "feed_forward.w1.weight", "mlp.c_fc_0.weight" },
    { "ffn_up.weight", "mlp.up_proj.weight", "feed_forward.w3.weight", "mlp.c_fc_1.weight" },
    { "ffn_down.weight", "mlp.down_proj.weight", "feed_forward.w2.weight", "mlp.c_proj.weight" },
    { "ffn_gate_inp.weight", "mlp.gate.weight", NULL, NULL },
    { "ffn_gate_inp_shexp.weight", "mlp.shared_expert_gate.weight", NULL, NULL },
    { "ffn_gate_shexp.weight", "mlp.shared_expert.gate_proj.weight", NULL, NULL },
    { "ffn_up_shexp.weight", "mlp.shared_expert.up_proj.weight", NULL, NULL },
    { "ffn_down_shexp.weight", "mlp.shared_expert.down_proj.weight", NULL, NULL },
  };

  if ((c->flags & T_PRE_FFN) && strcmp (suffix, "ffn_norm.weight") == 0)
    return "pre_feedforward_layernorm.weight";
  if ((c->flags & T_MIXTRAL) && strcmp (suffix, "ffn_gate_inp.weight") == 0)
    return "block_sparse_moe.gate.weight";
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (strcmp (map[i].gguf, suffix) == 0)
      return c->flags & T_INTERNLM2 ? map[i].internlm2 : c->flags & T_EXAONE ? map[i].exaone : map[i].hf;
  return NULL;
}

static void
write_experts (GPtrArray *out, const LatheHfCase *c, const lk_gguf_tensor *t, int l, const char *suffix)
{
  static const char *const qwen[] = { "gate_proj", "up_proj", "down_proj" };
  static const char *const mixtral[] = { "w1", "w3", "w2" };
  const int which = g_str_has_prefix (suffix, "ffn_gate") ? 0 : g_str_has_prefix (suffix, "ffn_up") ? 1 : 2;

  for (gint64 e = 0; e < t->ne[2]; e++)
    {
      g_autofree char *name =
        c->flags & T_MIXTRAL
          ? g_strdup_printf ("model.layers.%d.block_sparse_moe.experts.%" G_GINT64_FORMAT ".%s.weight", l, e,
                             mixtral[which])
          : g_strdup_printf ("model.layers.%d.mlp.experts.%" G_GINT64_FORMAT ".%s.weight", l, e, qwen[which]);
      HfTensor *h = hf_new (out, name, t, t->ne[1]);
      append_rows (h, t, e, 0, t->ne[1], 0);
    }
}

static void
write_block_tensor (GPtrArray *out, const LatheHfCase *c, const lk_gguf *g, const lk_gguf_tensor *t,
                    const lk_hparams *hp, int n_head, int n_kv)
{
  const char *dot = strchr (t->name + 4, '.');
  const int l = atoi (t->name + 4);
  const char *suffix = dot + 1;
  const char *prefix = c->flags & T_EXAONE ? "transformer.h" : "model.layers";
  const char *hf;
  g_autofree char *name = NULL;
  gint64 heads = 0;

  if (g_str_has_suffix (suffix, "_exps.weight"))
    {
      write_experts (out, c, t, l, suffix);
      return;
    }
  if ((c->flags & T_PHI3) && strcmp (suffix, "ffn_gate.weight") == 0)
    return; /* written with up */
  if ((c->flags & T_PHI3) && strcmp (suffix, "ffn_up.weight") == 0)
    {
      g_autofree char *fused = g_strdup_printf ("model.layers.%d.mlp.gate_up_proj.weight", l);
      const lk_gguf_tensor *gate = need (g, "blk.%d.ffn_gate.weight", l);
      HfTensor *h = hf_new (out, fused, t, 2 * t->ne[1]);
      append_rows (h, gate, 0, 0, gate->ne[1], 0);
      append_rows (h, t, 0, 0, t->ne[1], 0);
      return;
    }
  if (c->flags & (T_INTERNLM2 | T_FUSED_QKV) && g_str_has_prefix (suffix, "attn_")
      && strlen (suffix) == strlen ("attn_q.weight") && suffix[6] == '.')
    {
      if (suffix[5] != 'q')
        return; /* written with q */
      if (c->flags & T_INTERNLM2)
        internlm2_wqkv (out, g, l, n_head, n_kv, hp->head_dim);
      else
        {
          g_autofree char *fused = g_strdup_printf ("model.layers.%d.self_attn.qkv_proj.weight", l);
          HfTensor *h = hf_new (out, fused, t, (gint64) (n_head + 2 * n_kv) * hp->head_dim);
          for (int p = 0; p < 3; p++)
            {
              const lk_gguf_tensor *s = need (g, p == 0 ? "blk.%d.attn_q.weight" : p == 1 ? "blk.%d.attn_k.weight" : "blk.%d.attn_v.weight", l);
              append_rows (h, s, 0, 0, s->ne[1], 0);
            }
        }
      return;
    }
  hf = (c->flags & T_POST) && strcmp (suffix, "post_attention_norm.weight") == 0
         ? "post_attention_layernorm.weight"
         : block_name (c, suffix);
  g_assert_nonnull (hf);
  name = g_strdup_printf ("%s.%d.%s", prefix, l, hf);
  if (c->flags & T_PERMUTE && g_str_has_prefix (suffix, "attn_q."))
    heads = n_head;
  if (c->flags & T_PERMUTE && g_str_has_prefix (suffix, "attn_k."))
    heads = n_kv;
  if (strcmp (suffix, "ffn_gate_inp_shexp.weight") == 0)
    {
      HfTensor *h = hf_copy (out, name, t, 0, FALSE);
      h->n_dims = 2, h->shape[0] = 1, h->shape[1] = t->ne[0];
      return;
    }
  hf_copy (out, name, t, heads, (c->flags & T_PLUS_ONE) && g_str_has_suffix (suffix, "norm.weight"));
}

static void
write_global_tensor (GPtrArray *out, const LatheHfCase *c, const lk_gguf_tensor *t)
{
  const char *hf = NULL;

  if (strcmp (t->name, "token_embd.weight") == 0)
    hf = c->flags & T_INTERNLM2 ? "model.tok_embeddings.weight"
         : c->flags & T_EXAONE  ? "transformer.wte.weight"
                                : "model.embed_tokens.weight";
  else if (strcmp (t->name, "output_norm.weight") == 0)
    hf = c->flags & T_EXAONE ? "transformer.ln_f.weight" : "model.norm.weight";
  else if (strcmp (t->name, "output_norm.bias") == 0)
    hf = "model.norm.bias";
  else if (strcmp (t->name, "output.weight") == 0)
    hf = c->flags & T_INTERNLM2 ? "output.weight" : "lm_head.weight";
  else if (strcmp (t->name, "rope_freqs.weight") == 0)
    return; /* config.json's rope_scaling */
  g_assert_nonnull (hf);
  hf_copy (out, hf, t, 0, (c->flags & T_PLUS_ONE) && g_str_has_suffix (t->name, "norm.weight"));
}

static void
write_safetensors (const char *path, GPtrArray *tensors, guint first, guint end)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GByteArray) file = g_byte_array_new ();
  g_autofree char *header = NULL;
  guint64 offset = 0, n;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "__metadata__");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "pt");
  json_builder_end_object (b);
  for (guint i = first; i < end; i++)
    {
      HfTensor *t = g_ptr_array_index (tensors, i);
      json_builder_set_member_name (b, t->name);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "dtype");
      json_builder_add_string_value (b, t->dtype);
      json_builder_set_member_name (b, "shape");
      json_builder_begin_array (b);
      for (guint d = 0; d < t->n_dims; d++)
        json_builder_add_int_value (b, t->shape[d]);
      json_builder_end_array (b);
      json_builder_set_member_name (b, "data_offsets");
      json_builder_begin_array (b);
      json_builder_add_int_value (b, (gint64) offset);
      json_builder_add_int_value (b, (gint64) (offset + t->data->len));
      json_builder_end_array (b);
      json_builder_end_object (b);
      offset += t->data->len;
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  header = json_generator_to_data (gen, NULL);
  n = GUINT64_TO_LE (strlen (header));
  g_byte_array_append (file, (const guint8 *) &n, 8);
  g_byte_array_append (file, (const guint8 *) header, (guint) strlen (header));
  for (guint i = first; i < end; i++)
    {
      HfTensor *t = g_ptr_array_index (tensors, i);
      g_byte_array_append (file, t->data->data, t->data->len);
    }
  g_assert_true (g_file_set_contents (path, (const char *) file->data, file->len, NULL));
}

static void
write_weights (const char *dir, const LatheHfCase *c, GPtrArray *tensors)
{
  const guint half = tensors->len / 2;
  g_autoptr (JsonBuilder) b = NULL;
  g_autoptr (JsonGenerator) gen = NULL;
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *index = NULL, *a = NULL, *z = NULL;

  if (!(c->flags & T_SHARDS))
    {
      g_autofree char *path = g_build_filename (dir, "model.safetensors", NULL);
      write_safetensors (path, tensors, 0, tensors->len);
      return;
    }
  a = g_build_filename (dir, "model-00001-of-00002.safetensors", NULL);
  z = g_build_filename (dir, "model-00002-of-00002.safetensors", NULL);
  write_safetensors (a, tensors, 0, half);
  write_safetensors (z, tensors, half, tensors->len);
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "weight_map");
  json_builder_begin_object (b);
  for (guint i = 0; i < tensors->len; i++)
    {
      json_builder_set_member_name (b, ((HfTensor *) g_ptr_array_index (tensors, i))->name);
      json_builder_add_string_value (b, i < half ? "model-00001-of-00002.safetensors"
                                                 : "model-00002-of-00002.safetensors");
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  index = g_build_filename (dir, "model.safetensors.index.json", NULL);
  g_assert_true (json_generator_to_file (gen, index, NULL));
}

static void
set_num (JsonBuilder *b, const char *key, double v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_double_value (b, v);
}

void
lathe_test_json_set_int (JsonBuilder *b, const char *key, gint64 v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, v);
}

static void
write_config (const char *dir, const LatheHfCase *c, lk_model *m, const lk_gguf *g)
{
  const lk_hparams *hp = lk_model_hparams (m);
  const lk_layer *l0 = lk_model_layer (m, 0);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  const lk_gguf_tensor *exps = lk_gguf_find_tensor (g, "blk.0.ffn_gate_exps.weight");

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "architectures");
  json_builder_begin_array (b);
  json_builder_add_string_value (b, c->hf_class);
  json_builder_end_array (b);
  if (c->flags & T_MULTIMODAL)
    {
      json_builder_set_member_name (b, "vision_config");
      json_builder_begin_object (b);
      lathe_test_json_set_int (b, "hidden_size", 16);
      json_builder_end_object (b);
      json_builder_set_member_name (b, "text_config");
      json_builder_begin_object (b);
    }
  lathe_test_json_set_int (b, "hidden_size", hp->n_embd);
  lathe_test_json_set_int (b, c->flags & T_EXAONE ? "num_layers" : "num_hidden_layers", hp->n_layer);
  lathe_test_json_set_int (b, "num_attention_heads", l0->n_head);
  lathe_test_json_set_int (b, "num_key_value_heads", l0->n_head_kv);
  lathe_test_json_set_int (b, "max_position_embeddings", hp->n_ctx_train);
  lathe_test_json_set_int (b, "vocab_size", hp->n_vocab);
  set_num (b, "rope_theta", hp->rope_base);
  set_num (b, hp->norm == LK_NORM_LAYER ? "layer_norm_eps"
              : c->flags & T_EXAONE     ? "layer_norm_epsilon"
                                        : "rms_norm_eps",
           hp->norm_eps);
  if (hp->head_dim * l0->n_head != hp->n_embd)
    lathe_test_json_set_int (b, "head_dim", hp->head_dim);
  if (hp->n_rot != hp->head_dim)
    set_num (b, "partial_rotary_factor", (double) hp->n_rot / hp->head_dim);
  json_builder_set_member_name (b, "tie_word_embeddings");
  json_builder_add_boolean_value (b, lk_gguf_find_tensor (g, "output.weight") == NULL);
  if (exps != NULL)
    {
      lathe_test_json_set_int (b, c->flags & T_MIXTRAL ? "num_local_experts" : "num_experts", hp->n_expert);
      lathe_test_json_set_int (b, "num_experts_per_tok", hp->n_expert_used);
      lathe_test_json_set_int (b, c->flags & T_MIXTRAL ? "intermediate_size" : "moe_intermediate_size", exps->ne[1]);
      if (hp->n_ff_shexp > 0)
        lathe_test_json_set_int (b, "shared_expert_intermediate_size", hp->n_ff_shexp);
    }
  else
    lathe_test_json_set_int (b, "intermediate_size", l0->n_ff);
  if (hp->arch == LK_ARCH_GRANITE)
    {
      set_num (b, "embedding_multiplier", hp->embd_scale);
      set_num (b, "residual_multiplier", hp->residual_scale);
      set_num (b, "attention_multiplier", hp->attn_scale);
      set_num (b, "logits_scaling", 1.0 / hp->logit_scale);
    }
  if (hp->attn_softcap > 0)
    set_num (b, "attn_logit_softcapping", hp->attn_softcap);
  if (hp->final_softcap > 0)
    set_num (b, "final_logit_softcapping", hp->final_softcap);
  if (hp->n_swa > 0)
    lathe_test_json_set_int (b, "sliding_window", hp->n_swa);
  if (hp->arch == LK_ARCH_GEMMA3)
    set_num (b, "rope_local_base_freq", hp->rope_base_swa);
  if (c->flags & T_PHI3)
    {
      json_builder_set_member_name (b, "rope_scaling");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, "longrope");
      for (int k = 0; k < 2; k++)
        {
          json_builder_set_member_name (b, k == 0 ? "long_factor" : "short_factor");
          json_builder_begin_array (b);
          for (int i = 0; i < hp->n_rot / 2; i++)
            json_builder_add_double_value (b, 1.0);
          json_builder_end_array (b);
        }
      json_builder_end_object (b);
      lathe_test_json_set_int (b, "original_max_position_embeddings", hp->n_ctx_train);
    }
  if (c->flags & T_LLAMA3)
    {
      /* Llama 3.1's factors, for the 256-token context the file was made for. */
      json_builder_set_member_name (b, "rope_scaling");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "rope_type");
      json_builder_add_string_value (b, "llama3");
      set_num (b, "factor", 8.0);
      set_num (b, "low_freq_factor", 1.0);
      set_num (b, "high_freq_factor", 4.0);
      lathe_test_json_set_int (b, "original_max_position_embeddings", 256);
      json_builder_end_object (b);
    }
  if (c->flags & T_MULTIMODAL)
    json_builder_end_object (b);
  lathe_test_json_set_int (b, "bos_token_id", lk_vocab_bos (lk_model_vocab (m)));
  lathe_test_json_set_int (b, "eos_token_id", lk_vocab_eos (lk_model_vocab (m)));
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  g_assert_true (json_generator_to_file (gen, path, NULL));
}

/* SentencePiece's ModelProto, as its writer encodes it. */
static void
pb_varint (GByteArray *a, guint64 v)
{
  do
    {
      guint8 byte = (guint8) (v & 0x7f);
      v >>= 7;
      if (v != 0)
        byte |= 0x80;
      g_byte_array_append (a, &byte, 1);
    }
  while (v != 0);
}

static void
pb_message (GByteArray *a, guint field, const GByteArray *body)
{
  pb_varint (a, (guint64) field << 3 | 2);
  pb_varint (a, body->len);
  g_byte_array_append (a, body->data, body->len);
}

void
lathe_test_hf_tokenizer_model (const char *dir, const lk_vocab *v)
{
  g_autofree char *path = g_build_filename (dir, "tokenizer.model", NULL);
  g_autoptr (GByteArray) file = g_byte_array_new ();
  g_autoptr (GByteArray) trainer = g_byte_array_new ();
  g_autoptr (GByteArray) normalizer = g_byte_array_new ();

  for (int32_t i = 0; i < lk_vocab_n_tokens (v); i++)
    {
      g_autoptr (GByteArray) piece = g_byte_array_new ();
      size_t len;
      const char *text = lk_vocab_token_text (v, i, &len);
      float score = lk_vocab_token_score (v, i);
      guint32 bits;
      memcpy (&bits, &score, 4);
      bits = GUINT32_TO_LE (bits);
      pb_varint (piece, 1 << 3 | 2);
      pb_varint (piece, len);
      g_byte_array_append (piece, (const guint8 *) text, (guint) len);
      pb_varint (piece, 2 << 3 | 5);
      g_byte_array_append (piece, (const guint8 *) &bits, 4);
      pb_varint (piece, 3 << 3 | 0);
      pb_varint (piece, (guint64) lk_vocab_token_type (v, i));
      pb_message (file, 1, piece);
    }
  pb_varint (trainer, 3 << 3);
  pb_varint (trainer, 2); /* BPE */
  pb_varint (trainer, 40 << 3);
  pb_varint (trainer, 0);
  pb_varint (trainer, 41 << 3);
  pb_varint (trainer, (guint64) lk_vocab_bos (v));
  pb_varint (trainer, 42 << 3);
  pb_varint (trainer, (guint64) lk_vocab_eos (v));
  pb_message (file, 2, trainer);
  pb_varint (normalizer, 3 << 3);
  pb_varint (normalizer, 1);
  pb_message (file, 3, normalizer);
  g_assert_true (g_file_set_contents (path, (const char *) file->data, file->len, NULL));
}

/* The checkpoint the case's HF class would have saved for this model. */
char *
lathe_test_hf_checkpoint (const LatheHfCase *c, const char *gguf_path, const char *dir_name)
{
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), dir_name, NULL);
  g_autoptr (GPtrArray) tensors = g_ptr_array_new_with_free_func ((GDestroyNotify) hf_tensor_free);
  lk_gguf *g = NULL;
  lk_model *m = NULL;
  lk_error err = { 0 };
  const lk_layer *l0;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (lk_model_open (gguf_path, NULL, &m, &err), ==, LK_OK);
  g_assert_cmpint (lk_gguf_open (gguf_path, LK_LOAD_MMAP, &g, &err), ==, LK_OK);
  l0 = lk_model_layer (m, 0);
  for (size_t i = 0; i < lk_gguf_n_tensors (g); i++)
    {
      const lk_gguf_tensor *t = lk_gguf_tensor_at (g, i);
      if (g_str_has_prefix (t->name, "blk."))
        write_block_tensor (tensors, c, g, t, lk_model_hparams (m), l0->n_head, l0->n_head_kv);
      else
        write_global_tensor (tensors, c, t);
    }
  if (c->flags & T_MULTIMODAL)
    {
      /* As transformers < 4.52 saves Gemma3ForConditionalGeneration. */
      HfTensor *vision;
      for (guint i = 0; i < tensors->len; i++)
        {
          HfTensor *t = g_ptr_array_index (tensors, i);
          char *name = g_strconcat ("language_model.", t->name, NULL);
          g_free (t->name);
          t->name = name;
        }
      vision = hf_new (tensors, "vision_tower.vision_model.post_layernorm.weight",
                       lk_gguf_find_tensor (g, "output_norm.weight"), 0);
      g_byte_array_append (vision->data, lk_gguf_find_tensor (g, "output_norm.weight")->data, 64);
      vision->shape[0] = 16;
    }
  write_weights (dir, c, tensors);
  write_config (dir, c, m, g);
  lathe_test_hf_tokenizer_model (dir, lk_model_vocab (m));
  lk_gguf_free (g);
  lk_model_free (m);
  return g_steal_pointer (&dir);
}

