/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-model"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-model.h"
#include "lathe-tensor-info.h"

struct _LatheModel
{
  GObject parent_instance;
  lk_model *engine;
  char *path;
  char *name;
  char *main_type;
  GListStore *tensors;
  /* Provenance of a variant Lathe wrote (NULL otherwise). */
  char *recipe, *source_sha256, *source_file;
  GHashTable *asked; /* tensor name -> the type asked before a fallback */
};

G_DEFINE_FINAL_TYPE (LatheModel, lathe_model, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_PATH,
  PROP_NAME,
  PROP_ARCH,
  PROP_N_PARAMS,
  PROP_FILE_SIZE,
  PROP_BPW,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
lathe_model_finalize (GObject *object)
{
  LatheModel *self = LATHE_MODEL (object);

  lk_model_free (self->engine);
  g_free (self->path);
  g_free (self->name);
  g_free (self->main_type);
  g_free (self->recipe);
  g_free (self->source_sha256);
  g_free (self->source_file);
  g_hash_table_unref (self->asked);
  G_OBJECT_CLASS (lathe_model_parent_class)->finalize (object);
}

static void
lathe_model_dispose (GObject *object)
{
  LatheModel *self = LATHE_MODEL (object);

  g_clear_object (&self->tensors);
  G_OBJECT_CLASS (lathe_model_parent_class)->dispose (object);
}

static void
lathe_model_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LatheModel *self = LATHE_MODEL (object);

  switch (prop_id)
    {
    case PROP_PATH:
      g_value_set_string (value, self->path);
      break;
    case PROP_NAME:
      g_value_set_string (value, lathe_model_get_name (self));
      break;
    case PROP_ARCH:
      g_value_set_string (value, lathe_model_get_arch (self));
      break;
    case PROP_N_PARAMS:
      g_value_set_uint64 (value, lathe_model_get_n_params (self));
      break;
    case PROP_FILE_SIZE:
      g_value_set_uint64 (value, lathe_model_get_file_size (self));
      break;
    case PROP_BPW:
      g_value_set_double (value, lathe_model_get_bpw (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lathe_model_class_init (LatheModelClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = lathe_model_finalize;
  object_class->dispose = lathe_model_dispose;
  object_class->get_property = lathe_model_get_property;

  properties[PROP_PATH] = g_param_spec_string ("path", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_ARCH] = g_param_spec_string ("arch", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_PARAMS] = g_param_spec_uint64 ("n-params", NULL, NULL, 0, G_MAXUINT64, 0,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_FILE_SIZE] = g_param_spec_uint64 ("file-size", NULL, NULL, 0, G_MAXUINT64, 0,
                                                    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_BPW] = g_param_spec_double ("bpw", NULL, NULL, 0, G_MAXDOUBLE, 0,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
lathe_model_init (LatheModel *self)
{
  self->tensors = g_list_store_new (LATHE_TYPE_TENSOR_INFO);
  self->asked = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

const char *
lathe_model_get_recipe (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return self->recipe;
}

const char *
lathe_model_get_source_sha256 (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return self->source_sha256;
}

const char *
lathe_model_get_asked_type (LatheModel *self, const char *tensor)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return g_hash_table_lookup (self->asked, tensor);
}

/* The type that holds most of the weight bytes' elements. */
static char *
find_main_type (const lk_model *m)
{
  guint64 count[LK_TYPE_COUNT] = { 0 };
  int best = LK_TYPE_F32;

  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      if (t->n_dims >= 2)
        count[t->type] += (guint64) lk_tensor_nelements (t);
    }
  for (int t = 0; t < LK_TYPE_COUNT; t++)
    if (count[t] > count[best])
      best = t;
  return g_strdup (lk_type_name ((lk_type) best));
}

static char *
meta_string (const lk_gguf *g, const char *key)
{
  char *s = g != NULL ? lk_gguf_get_str_dup (g, key) : NULL;
  char *copy = g_strdup (s);

  free (s);
  return copy;
}

static void
read_provenance (LatheModel *self, const lk_gguf *g)
{
  const lk_gguf_value *fb = g != NULL ? lk_gguf_get (g, "lathe.quantize.fallbacks") : NULL;

  self->recipe = meta_string (g, "lathe.recipe");
  self->source_sha256 = meta_string (g, "lathe.source.sha256");
  self->source_file = meta_string (g, "lathe.source.file");
  if (fb == NULL || fb->type != LK_GGUF_ARRAY || fb->v.arr.elem_type != LK_GGUF_STRING)
    return;
  for (guint64 i = 0; i < fb->v.arr.n; i++)
    {
      g_autofree char *item = g_strndup (fb->v.arr.items[i].v.str.ptr, fb->v.arr.items[i].v.str.len);
      char *eq = strrchr (item, '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      g_hash_table_insert (self->asked, g_strdup (item), g_strdup (eq + 1));
    }
}

static LatheModel *
wrap (lk_model *engine)
{
  LatheModel *self = g_object_new (LATHE_TYPE_MODEL, NULL);
  const lk_gguf *g = lk_model_gguf (engine);
  char *general_name = g ? lk_gguf_get_str_dup (g, "general.name") : NULL;

  self->engine = engine;
  self->path = g_strdup (lk_model_path (engine));
  self->name = general_name && *general_name ? g_strdup (general_name)
                                             : g_path_get_basename (self->path);
  free (general_name);
  self->main_type = find_main_type (engine);
  read_provenance (self, g);
  for (gsize i = 0; i < lk_model_n_tensors (engine); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (engine, i);
      g_autoptr (LatheTensorInfo) info = lathe_tensor_info_new (
        t->name, lk_type_name (t->type), (guint) t->n_dims, t->ne, t->nbytes);
      g_list_store_append (self->tensors, info);
    }
  return self;
}

LatheModel *
lathe_model_load (const char *path, const char *tokenizer_path, GCancellable *cancellable,
                  GError **error)
{
  lk_model_params params;
  lk_model *engine = NULL;
  lk_error err = { 0 };

  g_return_val_if_fail (path != NULL, NULL);
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;
  lk_model_params_init (&params);
  params.tokenizer_path = tokenizer_path;
  if (lk_model_open (path, &params, &engine, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return NULL;
    }
  return wrap (engine);
}

typedef struct
{
  char *path;
  char *tokenizer_path;
} LoadData;

static void
load_data_free (gpointer data)
{
  LoadData *ld = data;

  g_free (ld->path);
  g_free (ld->tokenizer_path);
  g_free (ld);
}

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LoadData *ld = task_data;
  GError *error = NULL;
  LatheModel *model = lathe_model_load (ld->path, ld->tokenizer_path, cancellable, &error);

  if (model == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, model, g_object_unref);
}

void
lathe_model_load_async (const char *path, const char *tokenizer_path, GCancellable *cancellable,
                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  LoadData *ld = g_new0 (LoadData, 1);

  ld->path = g_strdup (path);
  ld->tokenizer_path = g_strdup (tokenizer_path);
  g_task_set_source_tag (task, lathe_model_load_async);
  g_task_set_task_data (task, ld, load_data_free);
  g_task_run_in_thread (task, load_thread);
}

LatheModel *
lathe_model_load_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

const char *
lathe_model_get_path (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return self->path;
}

const char *
lathe_model_get_name (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return self->name;
}

const char *
lathe_model_get_arch (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return lk_model_hparams (self->engine)->arch_name;
}

const char *
lathe_model_get_format (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return lk_model_format_of (self->engine) == LK_FORMAT_GGUF ? "GGUF" : "llama2.c";
}

guint64
lathe_model_get_n_params (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), 0);
  return lk_model_n_params (self->engine);
}

guint64
lathe_model_get_file_size (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), 0);
  return lk_model_file_size (self->engine);
}

double
lathe_model_get_bpw (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), 0);
  return lk_model_bpw (self->engine);
}

const char *
lathe_model_get_main_type (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return self->main_type;
}

gboolean
lathe_model_has_tokenizer (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), FALSE);
  return lk_model_vocab (self->engine) != NULL;
}

gboolean
lathe_model_check_tokenizer (LatheModel *self, GError **error)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), FALSE);
  if (lk_model_vocab (self->engine) != NULL)
    return TRUE;
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
               _("%s has no tokenizer: a llama2.c checkpoint needs its tokenizer.bin beside it, or "
                 "converted in (lathe-cli convert MODEL.bin -z tokenizer.bin -o MODEL.gguf)"),
               self->path);
  return FALSE;
}

char *
lathe_model_dup_tokenizer_summary (LatheModel *self)
{
  const lk_vocab *v;

  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  v = lk_model_vocab (self->engine);
  if (v == NULL)
    return NULL;
  if (lk_vocab_get_type (v) == LK_VOCAB_SPM)
    return g_strdup_printf ("SentencePiece (%s), %d tokens", lk_vocab_model_name (v),
                            lk_vocab_n_tokens (v));
  return g_strdup_printf ("byte-level BPE (%s, pre-tokenizer %s), %d tokens",
                          lk_vocab_model_name (v), lk_vocab_pre_name (v), lk_vocab_n_tokens (v));
}

/* "0, 2, 4" for the layers where pick says yes; NULL for none. */
static char *
layer_list (const lk_model *m, gboolean (*pick) (const lk_layer *L))
{
  GString *s = g_string_new (NULL);

  for (int il = 0; il < lk_model_hparams (m)->n_layer; il++)
    if (pick (lk_model_layer (m, il)))
      g_string_append_printf (s, "%s%d", s->len > 0 ? ", " : "", il);
  return g_string_free (s, s->len == 0);
}

static gboolean
slides (const lk_layer *L)
{
  return L->swa;
}

static gboolean
no_rope (const lk_layer *L)
{
  return !L->use_rope;
}

char *
lathe_model_dup_block_summary (LatheModel *self)
{
  const lk_model *m;
  const lk_hparams *hp;
  const lk_layer *l0;
  GString *s;

  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  m = self->engine;
  hp = lk_model_hparams (m);
  l0 = lk_model_layer (m, 0);
  s = g_string_new (hp->norm == LK_NORM_LAYER ? _("LayerNorm") : _("RMSNorm"));
  g_string_append (s, hp->act == LK_ACT_GELU ? _(", GELU-gated FFN") : _(", SiLU-gated FFN"));
  if (hp->n_expert > 0)
    g_string_append_printf (s, _(", %d experts (%d per token)"), hp->n_expert, hp->n_expert_used);
  if (l0->bq != NULL)
    g_string_append (s, _(", q/k/v biases"));
  if (l0->attn_q_norm != NULL)
    g_string_append (s, l0->attn_q_norm->ne[0] == hp->head_dim ? _(", q/k norms per head")
                                                               : _(", q/k norms over all heads"));
  if (l0->post_attn_norm != NULL)
    g_string_append (s, l0->attn_norm != NULL ? _(", norms before and after attention and FFN")
                                              : _(", norms after attention and FFN only"));
  if (hp->n_swa > 0)
    {
      g_autofree char *list = layer_list (m, slides);
      g_string_append_printf (s, _(", sliding window of %d on layers %s"), hp->n_swa, list ? list : _("none"));
      if (hp->rope_base_swa != hp->rope_base)
        g_string_append_printf (s, _(" (RoPE base %g there)"), (double) hp->rope_base_swa);
    }
  {
    g_autofree char *list = layer_list (m, no_rope);
    if (list != NULL)
      g_string_append_printf (s, _(", no RoPE on layers %s"), list);
  }
  if (hp->attn_softcap > 0.0f)
    g_string_append_printf (s, _(", attention soft-capped at %g"), (double) hp->attn_softcap);
  if (hp->final_softcap > 0.0f)
    g_string_append_printf (s, _(", logits soft-capped at %g"), (double) hp->final_softcap);
  if (hp->embd_scale != 1.0f)
    g_string_append_printf (s, _(", embeddings ×%g"), (double) hp->embd_scale);
  if (hp->residual_scale != 1.0f)
    g_string_append_printf (s, _(", residual ×%g"), (double) hp->residual_scale);
  if (fabsf (hp->attn_scale * sqrtf ((float) hp->head_dim) - 1.0f) > 1e-6f)
    g_string_append_printf (s, _(", attention scale %g"), (double) hp->attn_scale);
  if (hp->logit_scale != 1.0f)
    g_string_append_printf (s, _(", logits ×%g"), (double) hp->logit_scale);
  return g_string_free (s, FALSE);
}

double
lathe_model_get_load_ms (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), 0);
  return lk_model_load_ms (self->engine);
}

GListModel *
lathe_model_get_tensors (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return G_LIST_MODEL (self->tensors);
}

const lk_model *
lathe_model_get_engine (LatheModel *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  return self->engine;
}

static void
add_hparams (JsonBuilder *b, const lk_model *m)
{
  const lk_hparams *hp = lk_model_hparams (m);
  const lk_layer *l0 = lk_model_layer (m, 0);

  json_builder_set_member_name (b, "hparams");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "n_vocab");
  json_builder_add_int_value (b, hp->n_vocab);
  json_builder_set_member_name (b, "n_embd");
  json_builder_add_int_value (b, hp->n_embd);
  json_builder_set_member_name (b, "n_layer");
  json_builder_add_int_value (b, hp->n_layer);
  json_builder_set_member_name (b, "n_head");
  json_builder_add_int_value (b, l0->n_head);
  json_builder_set_member_name (b, "n_head_kv");
  json_builder_add_int_value (b, l0->n_head_kv);
  json_builder_set_member_name (b, "n_ff");
  json_builder_add_int_value (b, l0->n_ff);
  json_builder_set_member_name (b, "head_dim");
  json_builder_add_int_value (b, hp->head_dim);
  json_builder_set_member_name (b, "n_ctx_train");
  json_builder_add_int_value (b, hp->n_ctx_train);
  json_builder_set_member_name (b, "n_rot");
  json_builder_add_int_value (b, hp->n_rot);
  json_builder_set_member_name (b, "rope_type");
  json_builder_add_string_value (b, hp->rope_neox ? "neox" : "normal");
  json_builder_set_member_name (b, "rope_freq_base");
  json_builder_add_double_value (b, hp->rope_base);
  json_builder_set_member_name (b, "norm_eps");
  json_builder_add_double_value (b, hp->norm_eps);
  json_builder_set_member_name (b, "tied_output");
  json_builder_add_boolean_value (b, lk_model_output_tied (m));
  json_builder_set_member_name (b, "norm");
  json_builder_add_string_value (b, hp->norm == LK_NORM_LAYER ? "layernorm" : "rmsnorm");
  json_builder_set_member_name (b, "activation");
  json_builder_add_string_value (b, hp->act == LK_ACT_GELU ? "gelu" : "silu");
  json_builder_set_member_name (b, "qk_norm");
  if (l0->attn_q_norm == NULL)
    json_builder_add_null_value (b);
  else
    json_builder_add_string_value (b, l0->attn_q_norm->ne[0] == hp->head_dim ? "per_head" : "all_heads");
  json_builder_set_member_name (b, "post_norms");
  json_builder_add_boolean_value (b, l0->post_attn_norm != NULL);
  json_builder_set_member_name (b, "embd_scale");
  json_builder_add_double_value (b, hp->embd_scale);
  json_builder_set_member_name (b, "residual_scale");
  json_builder_add_double_value (b, hp->residual_scale);
  json_builder_set_member_name (b, "attn_scale");
  json_builder_add_double_value (b, hp->attn_scale);
  json_builder_set_member_name (b, "logit_scale");
  json_builder_add_double_value (b, hp->logit_scale);
  json_builder_set_member_name (b, "attn_softcap");
  json_builder_add_double_value (b, hp->attn_softcap);
  json_builder_set_member_name (b, "final_softcap");
  json_builder_add_double_value (b, hp->final_softcap);
  json_builder_set_member_name (b, "sliding_window");
  json_builder_add_int_value (b, hp->n_swa);
  json_builder_set_member_name (b, "rope_freq_base_swa");
  json_builder_add_double_value (b, hp->rope_base_swa);
  json_builder_set_member_name (b, "layers");
  json_builder_begin_array (b);
  for (int il = 0; il < hp->n_layer; il++)
    {
      const lk_layer *L = lk_model_layer (m, il);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "sliding");
      json_builder_add_boolean_value (b, L->swa);
      json_builder_set_member_name (b, "rope");
      json_builder_add_boolean_value (b, L->use_rope);
      json_builder_set_member_name (b, "n_head");
      json_builder_add_int_value (b, L->n_head);
      json_builder_set_member_name (b, "n_head_kv");
      json_builder_add_int_value (b, L->n_head_kv);
      json_builder_set_member_name (b, "n_ff");
      json_builder_add_int_value (b, L->n_ff);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
}

static void
add_tokenizer (JsonBuilder *b, const lk_model *m)
{
  const lk_vocab *v = lk_model_vocab (m);

  json_builder_set_member_name (b, "tokenizer");
  if (v == NULL)
    {
      json_builder_add_null_value (b);
      return;
    }
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, lk_vocab_model_name (v));
  json_builder_set_member_name (b, "pre");
  json_builder_add_string_value (b, lk_vocab_pre_name (v));
  json_builder_set_member_name (b, "n_tokens");
  json_builder_add_int_value (b, lk_vocab_n_tokens (v));
  json_builder_set_member_name (b, "bos");
  json_builder_add_int_value (b, lk_vocab_bos (v));
  json_builder_set_member_name (b, "eos");
  json_builder_add_int_value (b, lk_vocab_eos (v));
  json_builder_end_object (b);
}

static void
add_provenance (JsonBuilder *b, LatheModel *self)
{
  if (self->recipe == NULL && self->source_sha256 == NULL)
    return;
  json_builder_set_member_name (b, "provenance");
  json_builder_begin_object (b);
  if (self->recipe != NULL)
    {
      /* From the file: a recipe that does not parse is shown as text. */
      JsonNode *recipe = lathe_json_parse (self->recipe, -1, "lathe.recipe", NULL);
      json_builder_set_member_name (b, "recipe");
      if (recipe != NULL)
        json_builder_add_value (b, recipe);
      else
        json_builder_add_string_value (b, self->recipe);
    }
  if (self->source_sha256 != NULL)
    {
      json_builder_set_member_name (b, "source_sha256");
      json_builder_add_string_value (b, self->source_sha256);
    }
  if (self->source_file != NULL)
    {
      json_builder_set_member_name (b, "source_file");
      json_builder_add_string_value (b, self->source_file);
    }
  json_builder_end_object (b);
}

JsonNode *
lathe_model_to_json (LatheModel *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  GListModel *tensors;

  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  tensors = G_LIST_MODEL (self->tensors);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "path");
  json_builder_add_string_value (b, self->path);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, self->name);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, lathe_model_get_format (self));
  json_builder_set_member_name (b, "arch");
  json_builder_add_string_value (b, lathe_model_get_arch (self));
  json_builder_set_member_name (b, "n_params");
  json_builder_add_int_value (b, (gint64) lathe_model_get_n_params (self));
  json_builder_set_member_name (b, "file_bytes");
  json_builder_add_int_value (b, (gint64) lathe_model_get_file_size (self));
  json_builder_set_member_name (b, "tensor_bytes");
  json_builder_add_int_value (b, (gint64) lk_model_tensor_bytes (self->engine));
  json_builder_set_member_name (b, "bpw");
  json_builder_add_double_value (b, lathe_model_get_bpw (self));
  json_builder_set_member_name (b, "main_type");
  json_builder_add_string_value (b, self->main_type);
  add_hparams (b, self->engine);
  add_tokenizer (b, self->engine);
  json_builder_set_member_name (b, "tensors");
  json_builder_begin_array (b);
  for (guint i = 0; i < g_list_model_get_n_items (tensors); i++)
    {
      g_autoptr (LatheTensorInfo) t = g_list_model_get_item (tensors, i);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "name");
      json_builder_add_string_value (b, lathe_tensor_info_get_name (t));
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, lathe_tensor_info_get_type_name (t));
      json_builder_set_member_name (b, "shape");
      json_builder_begin_array (b);
      for (guint d = 0; d < lathe_tensor_info_get_n_dims (t); d++)
        json_builder_add_int_value (b, lathe_tensor_info_get_dim (t, d));
      json_builder_end_array (b);
      json_builder_set_member_name (b, "n_elements");
      json_builder_add_int_value (b, (gint64) lathe_tensor_info_get_n_elements (t));
      json_builder_set_member_name (b, "bytes");
      json_builder_add_int_value (b, (gint64) lathe_tensor_info_get_n_bytes (t));
      json_builder_set_member_name (b, "bpw");
      json_builder_add_double_value (b, lathe_tensor_info_get_bpw (t));
      if (lathe_model_get_asked_type (self, lathe_tensor_info_get_name (t)) != NULL)
        {
          json_builder_set_member_name (b, "asked_type");
          json_builder_add_string_value (b, lathe_model_get_asked_type (self, lathe_tensor_info_get_name (t)));
        }
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  add_provenance (b, self);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

GArray *
lathe_model_tokenize (LatheModel *self, const char *text, GError **error)
{
  const lk_vocab *v;
  lk_tokens toks = { 0 };
  lk_error err = { 0 };
  GArray *out;

  g_return_val_if_fail (LATHE_IS_MODEL (self), NULL);
  if (!lathe_model_check_tokenizer (self, error))
    return NULL;
  v = lk_model_vocab (self->engine);
  if (lk_vocab_tokenize (v, text, strlen (text), FALSE, FALSE, &toks, &err) != LK_OK)
    {
      lk_tokens_clear (&toks);
      lathe_error_from_engine (error, &err);
      return NULL;
    }
  out = g_array_sized_new (FALSE, FALSE, sizeof (gint32), (guint) toks.n);
  g_array_append_vals (out, toks.ids, (guint) toks.n);
  lk_tokens_clear (&toks);
  return out;
}
