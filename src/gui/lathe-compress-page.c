/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-compress"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-compress-page.h"
#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-layer-map.h"
#include "lathe-recipe.h"
#include "lathe-sensitivity.h"

/* The default type: keep, or a llama.cpp file type. */
static const char *const main_types[] = { "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_1", "Q5_0",
                                          "Q4_K_M", "Q4_1", "Q4_0", "IQ4_XS", "IQ4_NL", "MXFP4",
                                          "Q3_K_M", "IQ3_S", "IQ3_XXS", "Q2_K", "IQ2_S", "IQ2_XS",
                                          "IQ2_XXS", "TQ2_0", "IQ1_M", "TQ1_0", "IQ1_S" };
/* Rules take block types. */
static const char *const rule_types[] = { "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0",
                                          "Q4_K", "Q4_1", "Q4_0", "IQ4_XS", "IQ4_NL", "MXFP4", "Q3_K",
                                          "IQ3_S", "IQ3_XXS", "Q2_K", "IQ2_S", "IQ2_XS", "IQ2_XXS",
                                          "TQ2_0", "IQ1_M", "TQ1_0", "IQ1_S" };
/* The embedding is looked up: no importance matrix covers it, so no grid type. */
static const char *const embed_types[] = { "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K", "Q5_1", "Q5_0",
                                           "Q4_K", "Q4_1", "Q4_0", "IQ4_XS", "IQ4_NL", "MXFP4", "Q3_K",
                                           "Q2_K", "TQ2_0", "TQ1_0" };

typedef enum
{
  PRUNE_NONE,
  PRUNE_MAGNITUDE,
  PRUNE_2_4,
  PRUNE_4_8,
  PRUNE_LAYERS,
  PRUNE_HEADS,
  PRUNE_FFN,
} PruneMethod;

static const char *const prune_keys[] = { "none", "magnitude", "2:4", "4:8", "layers", "heads", "ffn" };

struct _LatheCompressPage
{
  AdwBin parent_instance;
  LatheSession *session;
  guint64 estimate;
  char *error;
  char *fallback; /* why matrices do not take the type chosen, or NULL */
  guint update_id;

  AdwComboRow *type_row;
  GtkSwitch *pure_switch;
  AdwComboRow *attn_row;
  AdwComboRow *ffn_row;
  AdwComboRow *embed_row;
  AdwExpanderRow *target_row;
  GtkScale *bpw_scale;
  AdwActionRow *sensitivity_row;
  AdwComboRow *prune_row;
  AdwActionRow *amount_row;
  GtkSpinButton *amount_spin;
  AdwExpanderRow *exit_row;
  GtkSpinButton *exit_spin;
  GtkSpinButton *exit_min_spin;
  GtkSwitch *margin_switch;
  GtkEditable *skip_row;
  AdwActionRow *experts_row;
  GtkSpinButton *experts_spin;
  GtkLabel *size_label;
  GtkLabel *bpw_label;
  AdwActionRow *bpw_row;
  GtkLabel *memory_label;
  GtkSpinButton *ctx_spin;
  GtkLabel *error_label;
  LatheLayerMap *layer_map;
  GtkEditable *name_row;
  GtkLabel *eval_label;
};

G_DEFINE_FINAL_TYPE (LatheCompressPage, lathe_compress_page, ADW_TYPE_BIN)

static LatheModel *
model_of (LatheCompressPage *self)
{
  return self->session != NULL ? lathe_session_get_model (self->session) : NULL;
}

static LatheWorkspace *
workspace_of (LatheCompressPage *self)
{
  return self->session != NULL ? lathe_session_get_workspace (self->session) : NULL;
}

static void
set_list (AdwComboRow *row, const char *first, const char *second, const char *const *items, gsize n)
{
  GtkStringList *list = gtk_string_list_new (NULL);

  if (first != NULL)
    gtk_string_list_append (list, first);
  if (second != NULL)
    gtk_string_list_append (list, second);
  for (gsize i = 0; i < n; i++)
    gtk_string_list_append (list, items[i]);
  adw_combo_row_set_model (row, G_LIST_MODEL (list));
  g_object_unref (list);
}

/* The recipe --------------------------------------------------------------- */

static const char *
selected_rule_type (AdwComboRow *row, guint skip)
{
  const guint i = adw_combo_row_get_selected (row);

  return i >= skip && i - skip < G_N_ELEMENTS (rule_types) ? rule_types[i - skip] : NULL;
}

static const char *
selected_embed_type (AdwComboRow *row)
{
  const guint i = adw_combo_row_get_selected (row);

  return i >= 2 && i - 2 < G_N_ELEMENTS (embed_types) ? embed_types[i - 2] : NULL;
}

/* The first type chosen that is written with an importance matrix (the
 * grid types), or NULL. */
static const char *
grid_type_chosen (LatheCompressPage *self)
{
  const guint t = adw_combo_row_get_selected (self->type_row);
  const char *const chosen[] = { t > 0 && t <= G_N_ELEMENTS (main_types) ? main_types[t - 1] : NULL,
                                 selected_rule_type (self->attn_row, 1), selected_rule_type (self->ffn_row, 1) };

  for (gsize i = 0; i < G_N_ELEMENTS (chosen); i++)
    {
      lk_type type;
      lk_mix mix;
      if (chosen[i] != NULL && lk_quantize_parse_type (chosen[i], &type, &mix) && lk_quantize_needs_importance (type))
        return chosen[i];
    }
  return NULL;
}

static void
add_rule (JsonBuilder *b, const char *match, const char *type, gboolean keep)
{
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "match");
  json_builder_add_string_value (b, match);
  json_builder_set_member_name (b, keep ? "keep" : "type");
  if (keep)
    json_builder_add_boolean_value (b, TRUE);
  else
    json_builder_add_string_value (b, type);
  json_builder_end_object (b);
}

static gboolean
has_tensor (LatheCompressPage *self, const char *name)
{
  return model_of (self) != NULL && lk_model_find_tensor (lathe_model_get_engine (model_of (self)), name) != NULL;
}

static void
build_rules (LatheCompressPage *self, JsonBuilder *b)
{
  const char *attn = selected_rule_type (self->attn_row, 1);
  const char *ffn = selected_rule_type (self->ffn_row, 1);
  const guint embed = adw_combo_row_get_selected (self->embed_row);
  const char *embed_type = selected_embed_type (self->embed_row);

  if (attn == NULL && ffn == NULL && embed == 0)
    return;
  json_builder_set_member_name (b, "rules");
  json_builder_begin_array (b);
  if (attn != NULL)
    add_rule (b, "blk.*.attn_*.weight", attn, FALSE);
  if (ffn != NULL)
    add_rule (b, "blk.*.ffn_*.weight", ffn, FALSE);
  if (embed != 0)
    for (guint i = 0; i < 2; i++)
      {
        const char *name = i == 0 ? "token_embd.weight" : "output.weight";
        if (has_tensor (self, name))
          add_rule (b, name, embed_type, embed == 1);
      }
  json_builder_end_array (b);
}

static gboolean
target_on (LatheCompressPage *self)
{
  return adw_expander_row_get_enable_expansion (self->target_row);
}

static void
build_quantize (LatheCompressPage *self, JsonBuilder *b)
{
  const guint t = adw_combo_row_get_selected (self->type_row);
  g_autofree char *sensitivity = workspace_of (self) ? lathe_workspace_dup_sensitivity (workspace_of (self)) : NULL;
  const gboolean rules = adw_combo_row_get_selected (self->attn_row) != 0
                         || adw_combo_row_get_selected (self->ffn_row) != 0
                         || adw_combo_row_get_selected (self->embed_row) != 0;

  if (t == 0 && !rules && !target_on (self))
    return;
  json_builder_set_member_name (b, "quantize");
  json_builder_begin_object (b);
  if (t > 0 && t <= G_N_ELEMENTS (main_types))
    {
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, main_types[t - 1]);
    }
  if (gtk_switch_get_active (self->pure_switch))
    {
      json_builder_set_member_name (b, "pure");
      json_builder_add_boolean_value (b, TRUE);
    }
  if (target_on (self))
    {
      json_builder_set_member_name (b, "target_bpw");
      json_builder_add_double_value (b, gtk_range_get_value (GTK_RANGE (self->bpw_scale)));
      json_builder_set_member_name (b, "sensitivity");
      json_builder_add_string_value (b, sensitivity != NULL ? sensitivity : "");
    }
  build_rules (self, b);
  json_builder_end_object (b);
}

static PruneMethod
prune_method (LatheCompressPage *self)
{
  return (PruneMethod) adw_combo_row_get_selected (self->prune_row);
}

static void
build_prune (LatheCompressPage *self, JsonBuilder *b)
{
  const PruneMethod m = prune_method (self);
  const double amount = gtk_spin_button_get_value (self->amount_spin);

  if (m == PRUNE_NONE)
    return;
  json_builder_set_member_name (b, "prune");
  json_builder_begin_array (b);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "method");
  switch (m)
    {
    case PRUNE_MAGNITUDE:
      json_builder_add_string_value (b, "magnitude");
      json_builder_set_member_name (b, "sparsity");
      json_builder_add_double_value (b, amount);
      break;
    case PRUNE_2_4:
    case PRUNE_4_8:
      json_builder_add_string_value (b, "magnitude");
      json_builder_set_member_name (b, "nm");
      json_builder_add_string_value (b, m == PRUNE_2_4 ? "2:4" : "4:8");
      break;
    case PRUNE_LAYERS:
    case PRUNE_HEADS:
      json_builder_add_string_value (b, m == PRUNE_LAYERS ? "layers" : "heads");
      json_builder_set_member_name (b, "remove");
      json_builder_add_int_value (b, (gint64) amount);
      break;
    case PRUNE_FFN:
    default:
      json_builder_add_string_value (b, "ffn");
      json_builder_set_member_name (b, "fraction");
      json_builder_add_double_value (b, amount);
      break;
    }
  json_builder_end_object (b);
  json_builder_end_array (b);
}

static void
build_conditional (LatheCompressPage *self, JsonBuilder *b)
{
  const char *skip = gtk_editable_get_text (self->skip_row);
  const gboolean exit_on = adw_expander_row_get_enable_expansion (self->exit_row);
  const int experts = gtk_widget_get_visible (GTK_WIDGET (self->experts_row))
                        ? gtk_spin_button_get_value_as_int (self->experts_spin) : 0;

  if (!exit_on && *skip == '\0' && experts == 0)
    return;
  json_builder_set_member_name (b, "conditional");
  json_builder_begin_object (b);
  if (*skip != '\0')
    {
      json_builder_set_member_name (b, "skip_layers");
      json_builder_add_string_value (b, skip);
    }
  if (exit_on)
    {
      json_builder_set_member_name (b, "exit_threshold");
      json_builder_add_double_value (b, gtk_spin_button_get_value (self->exit_spin));
      json_builder_set_member_name (b, "exit_min_layer");
      json_builder_add_int_value (b, gtk_spin_button_get_value_as_int (self->exit_min_spin));
      if (gtk_switch_get_active (self->margin_switch))
        {
          json_builder_set_member_name (b, "exit_on");
          json_builder_add_string_value (b, "margin");
        }
    }
  if (experts > 0)
    {
      json_builder_set_member_name (b, "experts_used");
      json_builder_add_int_value (b, experts);
    }
  json_builder_end_object (b);
}

/* A name saying what the settings do, when none is typed. */
static char *
auto_name (LatheCompressPage *self)
{
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  const guint t = adw_combo_row_get_selected (self->type_row);
  const PruneMethod m = prune_method (self);
  const double amount = gtk_spin_button_get_value (self->amount_spin);

  if (target_on (self))
    g_ptr_array_add (parts, g_strdup_printf (_("mixed %.2f bpw"), gtk_range_get_value (GTK_RANGE (self->bpw_scale))));
  else if (t > 0)
    g_ptr_array_add (parts, g_strdup (main_types[t - 1]));
  if (adw_combo_row_get_selected (self->attn_row) || adw_combo_row_get_selected (self->ffn_row)
      || adw_combo_row_get_selected (self->embed_row))
    g_ptr_array_add (parts, g_strdup (_("with rules")));
  if (m == PRUNE_MAGNITUDE)
    g_ptr_array_add (parts, g_strdup_printf (_("%g %% sparse"), amount * 100));
  else if (m == PRUNE_2_4 || m == PRUNE_4_8)
    g_ptr_array_add (parts, g_strdup (prune_keys[m]));
  else if (m == PRUNE_LAYERS)
    g_ptr_array_add (parts, g_strdup_printf (_("−%d layers"), (int) amount));
  else if (m == PRUNE_HEADS)
    g_ptr_array_add (parts, g_strdup_printf (_("−%d heads per layer"), (int) amount));
  else if (m == PRUNE_FFN)
    g_ptr_array_add (parts, g_strdup_printf (_("FFN −%g %%"), amount * 100));
  if (*gtk_editable_get_text (self->skip_row) != '\0')
    g_ptr_array_add (parts, g_strdup_printf (_("skip %s"), gtk_editable_get_text (self->skip_row)));
  if (adw_expander_row_get_enable_expansion (self->exit_row))
    g_ptr_array_add (parts, g_strdup_printf (_("exit at %g"), gtk_spin_button_get_value (self->exit_spin)));
  if (parts->len == 0)
    return g_strdup (_("Copy"));
  g_ptr_array_add (parts, NULL);
  return g_strjoinv (" · ", (char **) parts->pdata);
}

char *
lathe_compress_page_dup_recipe (LatheCompressPage *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *name = NULL;
  const char *typed = gtk_editable_get_text (self->name_row);
  const PruneMethod m = prune_method (self);
  LatheWorkspace *ws = workspace_of (self);

  g_return_val_if_fail (LATHE_IS_COMPRESS_PAGE (self), NULL);
  name = *typed != '\0' ? g_strdup (typed) : auto_name (self);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lathe_recipe");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  /* Layers, heads and channels are chosen from statistics of a text; the
   * grid types weigh their errors by them. */
  if ((m == PRUNE_LAYERS || m == PRUNE_HEADS || m == PRUNE_FFN || grid_type_chosen (self) != NULL) && ws != NULL
      && *lathe_workspace_get_eval_text (ws) != '\0')
    {
      json_builder_set_member_name (b, "calibration");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "text");
      json_builder_add_string_value (b, lathe_workspace_get_eval_text (ws));
      json_builder_set_member_name (b, "ctx");
      json_builder_add_int_value (b, lathe_workspace_get_eval_ctx (ws));
      json_builder_set_member_name (b, "chunks");
      json_builder_add_int_value (b, 8);
      json_builder_end_object (b);
    }
  build_quantize (self, b);
  build_prune (self, b);
  build_conditional (self, b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return lathe_json_to_string (root, FALSE);
}

/* The estimate ---------------------------------------------------------------- */

static guint64
kv_bytes (const lk_model *m, int n_ctx)
{
  const lk_hparams *hp = lk_model_hparams (m);
  guint64 bytes = 0;

  for (int il = 0; il < hp->n_layer; il++)
    bytes += (guint64) 2 * 2 * (guint64) n_ctx * (guint64) lk_model_layer (m, il)->n_head_kv
             * (guint64) hp->head_dim;
  return bytes;
}

/* Matrices whose rows are not a whole number of the chosen type's blocks
 * take another (lk_type_fallback): the Bits per Weight row says so. */
static void
show_fallback (LatheCompressPage *self, const lk_model *m)
{
  const guint t = adw_combo_row_get_selected (self->type_row);
  g_autoptr (GString) used = g_string_new (NULL);
  gboolean seen[LK_TYPE_COUNT] = { FALSE };
  lk_type type;
  lk_mix mix;
  int64_t width = 0;
  int n = 0;

  g_clear_pointer (&self->fallback, g_free);
  if (m != NULL && t > 0 && t <= G_N_ELEMENTS (main_types) && lk_quantize_parse_type (main_types[t - 1], &type, &mix))
    for (size_t i = 0; i < lk_model_n_tensors (m); i++)
      {
        const lk_tensor *x = lk_model_tensor_at (m, i);
        lk_type to;
        if (x->n_dims < 2 || lk_row_size (type, x->ne[0]) != 0)
          continue;
        if (n++ == 0)
          width = x->ne[0];
        to = lk_type_fallback (type, x->ne[0]);
        if (!seen[to])
          g_string_append_printf (used, "%s%s", used->len > 0 ? ", " : "", lk_type_name (to));
        seen[to] = TRUE;
      }
  if (n > 0)
    self->fallback = g_strdup_printf (ngettext ("%d matrix has rows of %lld weights, not whole %s blocks: it takes %s",
                                                "%d matrices have rows (of %lld weights, …) not whole %s blocks: "
                                                "they take %s",
                                                n),
                                      n, (long long) width, lk_type_name (type), used->str);
  adw_action_row_set_subtitle (self->bpw_row, self->fallback != NULL ? self->fallback : "");
}

static void
show_error (LatheCompressPage *self, const char *message)
{
  g_free (self->error);
  self->error = g_strdup (message);
  gtk_label_set_text (self->error_label, message ? message : "");
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
estimate (LatheCompressPage *self)
{
  LatheModel *model = model_of (self);
  g_autofree char *json = NULL, *size = NULL, *bpw = NULL, *mem = NULL;
  g_autoptr (LatheRecipe) recipe = NULL;
  g_autoptr (GHashTable) types = NULL;
  g_autoptr (GError) error = NULL;
  const lk_model *m;
  guint64 tensors = 0, overhead;
  double ratio;

  self->estimate = 0;
  if (model == NULL)
    return;
  m = lathe_model_get_engine (model);
  json = lathe_compress_page_dup_recipe (self);
  types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (grid_type_chosen (self) != NULL
      && (workspace_of (self) == NULL || *lathe_workspace_get_eval_text (workspace_of (self)) == '\0'))
    g_set_error (&error, LATHE_ERROR, LATHE_ERROR_INVALID,
                 _("%s is written with an importance matrix: choose an evaluation text in the main menu to "
                   "calibrate on"),
                 grid_type_chosen (self));
  if (error != NULL || (recipe = lathe_recipe_parse (json, -1, _("settings"), &error)) == NULL
      || !lathe_recipe_estimate (recipe, model, types, &tensors, &error))
    {
      show_error (self, error->message);
      show_fallback (self, NULL);
      gtk_label_set_text (self->size_label, "—");
      gtk_label_set_text (self->bpw_label, "—");
      gtk_label_set_text (self->memory_label, "—");
      lathe_layer_map_set_plan (self->layer_map, NULL);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "compress.apply", FALSE);
      return;
    }
  show_error (self, NULL);
  show_fallback (self, m);
  overhead = lathe_model_get_file_size (model) > lk_model_tensor_bytes (m)
               ? lathe_model_get_file_size (model) - lk_model_tensor_bytes (m) : 0;
  self->estimate = tensors + overhead;
  ratio = (double) self->estimate / (double) MAX (lathe_model_get_file_size (model), 1);
  size = g_strdup_printf (_("%.3f MB (%.0f %% of now)"), self->estimate / 1e6, ratio * 100);
  bpw = g_strdup_printf ("%.2f", 8.0 * (double) tensors / (double) MAX (lathe_model_get_n_params (model), 1));
  mem = g_strdup_printf (_("%.1f MB"),
                         (tensors + kv_bytes (m, gtk_spin_button_get_value_as_int (self->ctx_spin))) / 1e6);
  gtk_label_set_text (self->size_label, size);
  gtk_label_set_text (self->bpw_label, bpw);
  gtk_label_set_text (self->memory_label, mem);
  lathe_layer_map_set_plan (self->layer_map, types);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "compress.apply",
                                 self->session != NULL && !lathe_session_get_job_running (self->session));
}

static void
update_rows (LatheCompressPage *self)
{
  const PruneMethod m = prune_method (self);
  LatheModel *model = model_of (self);
  const lk_model *em = model ? lathe_model_get_engine (model) : NULL;
  const int n_layer = em ? lk_model_hparams (em)->n_layer : 1;
  const int n_head = em ? lk_model_layer (em, 0)->n_head : 1;
  GtkAdjustment *adj = gtk_spin_button_get_adjustment (self->amount_spin);
  g_autofree char *sensitivity = workspace_of (self) ? lathe_workspace_dup_sensitivity (workspace_of (self)) : NULL;
  LatheWorkspace *ws = workspace_of (self);

  gtk_widget_set_visible (GTK_WIDGET (self->amount_row), m == PRUNE_MAGNITUDE || m >= PRUNE_LAYERS);
  if (m == PRUNE_LAYERS || m == PRUNE_HEADS)
    {
      const int max = MAX (1, (m == PRUNE_LAYERS ? n_layer : n_head) - 1);
      gtk_spin_button_set_digits (self->amount_spin, 0);
      gtk_adjustment_configure (adj, CLAMP (round (gtk_adjustment_get_value (adj)), 1, max), 1, max, 1, 1, 0);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->amount_row),
                                     m == PRUNE_LAYERS ? _("Layers to Remove") : _("Heads to Remove per Layer"));
      adw_action_row_set_subtitle (self->amount_row, m == PRUNE_LAYERS
                                                       ? _("Those that change the hidden state least on the evaluation text")
                                                       : _("The same count from every group sharing keys"));
    }
  else if (m == PRUNE_MAGNITUDE || m == PRUNE_FFN)
    {
      const double v = gtk_adjustment_get_value (adj);
      gtk_spin_button_set_digits (self->amount_spin, 2);
      gtk_adjustment_configure (adj, v >= 1 ? 0.5 : CLAMP (v, 0.05, 0.95), 0.05, 0.95, 0.05, 0.1, 0);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->amount_row),
                                     m == PRUNE_MAGNITUDE ? _("Sparsity") : _("Share of Channels to Remove"));
      adw_action_row_set_subtitle (self->amount_row, m == PRUNE_MAGNITUDE
                                                       ? _("Smallest weights set to zero; the file keeps its size")
                                                       : _("The least used feed-forward channels of every layer"));
    }
  gtk_widget_set_visible (GTK_WIDGET (self->experts_row), em != NULL && lk_model_hparams (em)->n_expert > 0);
  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->exit_min_spin), MAX (0, n_layer - 1));
  adw_action_row_set_subtitle (self->sensitivity_row,
                               sensitivity != NULL ? _("Measured: the KL each matrix adds in each type")
                                                   : _("Needed first: the KL each matrix adds in each type"));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "compress.measure-sensitivity",
                                 ws != NULL && self->session != NULL && !lathe_session_get_job_running (self->session));
  if (ws != NULL && *lathe_workspace_get_eval_text (ws) != '\0')
    {
      g_autofree char *base = g_path_get_basename (lathe_workspace_get_eval_text (ws));
      g_autofree char *text = g_strdup_printf (_("Quality is measured against the original on %s (%d chunks of %d "
                                                 "tokens)."),
                                               base, lathe_workspace_get_eval_chunks (ws),
                                               lathe_workspace_get_eval_ctx (ws));
      gtk_label_set_text (self->eval_label, text);
    }
  else
    gtk_label_set_text (self->eval_label, _("Choose an evaluation text in the main menu to measure quality."));
}

static gboolean
update_idle_cb (gpointer data)
{
  LatheCompressPage *self = data;

  self->update_id = 0;
  update_rows (self);
  estimate (self);
  return G_SOURCE_REMOVE;
}

/* Settings change in bursts (a slider dragged): one update per burst. */
static void
changed_cb (LatheCompressPage *self)
{
  if (self->update_id == 0)
    self->update_id = g_idle_add (update_idle_cb, self);
}

static void
flush (LatheCompressPage *self)
{
  if (self->update_id != 0)
    {
      g_source_remove (self->update_id);
      update_idle_cb (self);
    }
}

guint64
lathe_compress_page_get_estimate (LatheCompressPage *self)
{
  g_return_val_if_fail (LATHE_IS_COMPRESS_PAGE (self), 0);
  flush (self);
  return self->estimate;
}

const char *
lathe_compress_page_get_fallback (LatheCompressPage *self)
{
  g_return_val_if_fail (LATHE_IS_COMPRESS_PAGE (self), NULL);
  flush (self);
  return self->fallback;
}

const char *
lathe_compress_page_get_error (LatheCompressPage *self)
{
  g_return_val_if_fail (LATHE_IS_COMPRESS_PAGE (self), NULL);
  flush (self);
  return self->error;
}

/* Setters --------------------------------------------------------------------- */

static guint
index_of (const char *const *list, gsize n, const char *item)
{
  for (gsize i = 0; i < n; i++)
    if (g_strcmp0 (list[i], item) == 0)
      return (guint) i;
  return G_MAXUINT;
}

void
lathe_compress_page_set_quantization (LatheCompressPage *self, const char *type, gboolean pure)
{
  const guint i = type ? index_of (main_types, G_N_ELEMENTS (main_types), type) : G_MAXUINT;

  g_return_if_fail (LATHE_IS_COMPRESS_PAGE (self));
  adw_combo_row_set_selected (self->type_row, i == G_MAXUINT ? 0 : i + 1);
  gtk_switch_set_active (self->pure_switch, pure);
}

void
lathe_compress_page_set_pruning (LatheCompressPage *self, const char *method, double amount)
{
  const guint i = index_of (prune_keys, G_N_ELEMENTS (prune_keys), method);

  g_return_if_fail (LATHE_IS_COMPRESS_PAGE (self));
  adw_combo_row_set_selected (self->prune_row, i == G_MAXUINT ? 0 : i);
  flush (self);
  gtk_spin_button_set_value (self->amount_spin, amount);
}

void
lathe_compress_page_set_exit (LatheCompressPage *self, double threshold, int min_layer)
{
  g_return_if_fail (LATHE_IS_COMPRESS_PAGE (self));
  adw_expander_row_set_enable_expansion (self->exit_row, threshold < 1);
  if (threshold < 1)
    gtk_spin_button_set_value (self->exit_spin, threshold);
  gtk_spin_button_set_value (self->exit_min_spin, min_layer);
}

void
lathe_compress_page_set_skip_layers (LatheCompressPage *self, const char *layers)
{
  g_return_if_fail (LATHE_IS_COMPRESS_PAGE (self));
  gtk_editable_set_text (self->skip_row, layers != NULL ? layers : "");
}

void
lathe_compress_page_set_target_bpw (LatheCompressPage *self, double bpw)
{
  g_return_if_fail (LATHE_IS_COMPRESS_PAGE (self));
  adw_expander_row_set_enable_expansion (self->target_row, bpw > 0);
  if (bpw > 0)
    gtk_range_set_value (GTK_RANGE (self->bpw_scale), bpw);
}

void
lathe_compress_page_set_name (LatheCompressPage *self, const char *name)
{
  g_return_if_fail (LATHE_IS_COMPRESS_PAGE (self));
  gtk_editable_set_text (self->name_row, name != NULL ? name : "");
}

gboolean
lathe_compress_page_apply (LatheCompressPage *self, GError **error)
{
  g_autoptr (GPtrArray) recipes = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (LATHE_IS_COMPRESS_PAGE (self), FALSE);
  if (lathe_compress_page_get_estimate (self) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s",
                   self->error != NULL ? self->error : _("Open a model first"));
      return FALSE;
    }
  g_ptr_array_add (recipes, lathe_compress_page_dup_recipe (self));
  if (!lathe_session_measure (self->session, recipes, NULL, error))
    return FALSE;
  gtk_editable_set_text (self->name_row, "");
  return TRUE;
}

/* Actions --------------------------------------------------------------------- */

static void
apply_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  g_autoptr (GError) error = NULL;

  if (!lathe_compress_page_apply (LATHE_COMPRESS_PAGE (widget), &error))
    gtk_widget_activate_action (widget, "win.show-toast", "s", error->message);
}

static void
measure_sensitivity_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheCompressPage *self = LATHE_COMPRESS_PAGE (widget);
  g_autoptr (GError) error = NULL;

  if (self->session != NULL && !lathe_session_measure_sensitivity (self->session, &error))
    gtk_widget_activate_action (widget, "win.show-toast", "s", error->message);
}

/* Session --------------------------------------------------------------------- */

static void
session_changed_cb (LatheCompressPage *self)
{
  LatheModel *model = model_of (self);
  LatheWorkspace *ws = workspace_of (self);
  g_autofree char *sensitivity = ws ? lathe_workspace_dup_sensitivity (ws) : NULL;
  g_autoptr (JsonNode) table = sensitivity ? lathe_sensitivity_load (sensitivity, NULL) : NULL;

  lathe_layer_map_set_model (self->layer_map, model);
  lathe_layer_map_set_sensitivity (self->layer_map, table);
  if (model != NULL)
    gtk_spin_button_set_value (self->ctx_spin,
                               MAX (16, lk_model_hparams (lathe_model_get_engine (model))->n_ctx_train));
  changed_cb (self);
}

void
lathe_compress_page_set_session (LatheCompressPage *self, LatheSession *session)
{
  g_return_if_fail (LATHE_IS_COMPRESS_PAGE (self));
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_set_object (&self->session, session);
  if (session != NULL)
    {
      g_signal_connect_swapped (session, "notify::model", G_CALLBACK (session_changed_cb), self);
      g_signal_connect_swapped (session, "notify::workspace", G_CALLBACK (session_changed_cb), self);
      g_signal_connect_swapped (session, "notify::job-running", G_CALLBACK (changed_cb), self);
      g_signal_connect_swapped (session, "job-done", G_CALLBACK (session_changed_cb), self);
    }
  session_changed_cb (self);
}

/* Object ---------------------------------------------------------------------- */

static void
lathe_compress_page_dispose (GObject *object)
{
  LatheCompressPage *self = LATHE_COMPRESS_PAGE (object);

  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  g_clear_handle_id (&self->update_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), LATHE_TYPE_COMPRESS_PAGE);
  G_OBJECT_CLASS (lathe_compress_page_parent_class)->dispose (object);
}

static void
lathe_compress_page_finalize (GObject *object)
{
  g_free (LATHE_COMPRESS_PAGE (object)->error);
  g_free (LATHE_COMPRESS_PAGE (object)->fallback);
  G_OBJECT_CLASS (lathe_compress_page_parent_class)->finalize (object);
}

static void
lathe_compress_page_class_init (LatheCompressPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lathe_compress_page_dispose;
  object_class->finalize = lathe_compress_page_finalize;
  g_type_ensure (LATHE_TYPE_LAYER_MAP);
  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PREFIX "/lathe-compress-page.ui");
#define BIND(name) gtk_widget_class_bind_template_child (widget_class, LatheCompressPage, name)
  BIND (type_row);
  BIND (pure_switch);
  BIND (attn_row);
  BIND (ffn_row);
  BIND (embed_row);
  BIND (target_row);
  BIND (bpw_scale);
  BIND (sensitivity_row);
  BIND (prune_row);
  BIND (amount_row);
  BIND (amount_spin);
  BIND (exit_row);
  BIND (exit_spin);
  BIND (exit_min_spin);
  BIND (margin_switch);
  BIND (skip_row);
  BIND (experts_row);
  BIND (experts_spin);
  BIND (size_label);
  BIND (bpw_label);
  BIND (bpw_row);
  BIND (memory_label);
  BIND (ctx_spin);
  BIND (error_label);
  BIND (layer_map);
  BIND (name_row);
  BIND (eval_label);
#undef BIND
  gtk_widget_class_install_action (widget_class, "compress.apply", NULL, apply_action);
  gtk_widget_class_install_action (widget_class, "compress.measure-sensitivity", NULL, measure_sensitivity_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK, "compress.apply", NULL);
}

static void
lathe_compress_page_init (LatheCompressPage *self)
{
  static const char *const prune_labels[] = { N_("None"), N_("Magnitude (unstructured)"), N_("2:4 (semi-structured)"),
                                              N_("4:8 (semi-structured)"), N_("Remove layers"), N_("Remove attention heads"),
                                              N_("Shrink feed-forward layers") };
  GtkStringList *methods = gtk_string_list_new (NULL);

  gtk_widget_init_template (GTK_WIDGET (self));
  set_list (self->type_row, _("Keep the source's types"), NULL, main_types, G_N_ELEMENTS (main_types));
  set_list (self->attn_row, _("Same"), NULL, rule_types, G_N_ELEMENTS (rule_types));
  set_list (self->ffn_row, _("Same"), NULL, rule_types, G_N_ELEMENTS (rule_types));
  set_list (self->embed_row, _("Same"), _("Keep"), embed_types, G_N_ELEMENTS (embed_types));
  for (gsize i = 0; i < G_N_ELEMENTS (prune_labels); i++)
    gtk_string_list_append (methods, _(prune_labels[i]));
  adw_combo_row_set_model (self->prune_row, G_LIST_MODEL (methods));
  g_object_unref (methods);
  adw_combo_row_set_selected (self->type_row, 1 + index_of (main_types, G_N_ELEMENTS (main_types), "Q4_K_M"));
  g_signal_connect_swapped (self->type_row, "notify::selected", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->attn_row, "notify::selected", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->ffn_row, "notify::selected", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->embed_row, "notify::selected", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->prune_row, "notify::selected", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->pure_switch, "notify::active", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->margin_switch, "notify::active", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->target_row, "notify::enable-expansion", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->exit_row, "notify::enable-expansion", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->bpw_scale, "value-changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->amount_spin, "value-changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->exit_spin, "value-changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->exit_min_spin, "value-changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->experts_spin, "value-changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->ctx_spin, "value-changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->skip_row, "changed", G_CALLBACK (changed_cb), self);
  g_signal_connect_swapped (self->name_row, "changed", G_CALLBACK (changed_cb), self);
  changed_cb (self);
}
