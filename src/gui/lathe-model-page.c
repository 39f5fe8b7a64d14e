/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-model-page"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-layer-map.h"
#include "lathe-model-page.h"
#include "lathe-tensor-info.h"

struct _LatheModelPage
{
  AdwBin parent_instance;
  LatheModel *model;

  GtkLabel *name_label;
  GtkLabel *path_label;
  AdwPreferencesGroup *overview_group;
  AdwPreferencesGroup *shape_group;
  GtkSearchEntry *search_entry;
  GtkLabel *count_label;
  GtkColumnView *tensor_view;
  LatheLayerMap *layer_map;

  GHashTable *info_labels; /* row title -> GtkLabel */
  GtkStringFilter *filter;
  GtkFilterListModel *filtered;
  GtkSortListModel *sorted;
};

G_DEFINE_FINAL_TYPE (LatheModelPage, lathe_model_page, ADW_TYPE_BIN)

/* Info rows ---------------------------------------------------------------- */

static void
add_info_row (LatheModelPage *self, AdwPreferencesGroup *group, const char *title)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *value = gtk_label_new ("");

  /* Text from files and devices: never markup. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_label_set_selectable (GTK_LABEL (value), TRUE);
  gtk_label_set_ellipsize (GTK_LABEL (value), PANGO_ELLIPSIZE_END);
  gtk_label_set_xalign (GTK_LABEL (value), 1.0f);
  gtk_widget_add_css_class (value, "dim-label");
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), value);
  adw_preferences_group_add (group, row);
  g_hash_table_insert (self->info_labels, g_strdup (title), value);
}

/* A row whose value is a sentence: shown under its title, where it wraps.
 * The suffix label keeps the text (hidden) for lathe_model_page_get_info. */
static void
add_info_row_long (LatheModelPage *self, AdwPreferencesGroup *group, const char *title)
{
  add_info_row (self, group, title);
  gtk_widget_set_visible (g_hash_table_lookup (self->info_labels, title), FALSE);
}

static void
set_info (LatheModelPage *self, const char *title, const char *value)
{
  GtkLabel *label = g_hash_table_lookup (self->info_labels, title);

  g_return_if_fail (label != NULL);
  gtk_label_set_text (label, value ? value : "—");
  gtk_widget_set_tooltip_text (GTK_WIDGET (label), value);
  if (!gtk_widget_get_visible (GTK_WIDGET (label)))
    adw_action_row_set_subtitle (ADW_ACTION_ROW (gtk_widget_get_ancestor (GTK_WIDGET (label), ADW_TYPE_ACTION_ROW)),
                                 value ? value : "—");
}

const char *
lathe_model_page_get_info (LatheModelPage *self, const char *title)
{
  GtkLabel *label;

  g_return_val_if_fail (LATHE_IS_MODEL_PAGE (self), NULL);
  label = g_hash_table_lookup (self->info_labels, title);
  return label ? gtk_label_get_text (label) : NULL;
}

static char *
format_count (guint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf (_("%.2f billion"), n / 1e9);
  if (n >= 1000000)
    return g_strdup_printf (_("%.2f million"), n / 1e6);
  if (n >= 1000)
    return g_strdup_printf (_("%.1f thousand"), n / 1e3);
  return g_strdup_printf ("%" G_GUINT64_FORMAT, n);
}

static void
show_overview (LatheModelPage *self)
{
  LatheModel *m = self->model;
  const lk_model *e = lathe_model_get_engine (m);
  const lk_hparams *hp = lk_model_hparams (e);
  const lk_layer *l0 = lk_model_layer (e, 0);
  g_autofree char *params = format_count (lathe_model_get_n_params (m));
  g_autofree char *size = g_format_size (lathe_model_get_file_size (m));
  g_autofree char *bpw = g_strdup_printf ("%.2f", lathe_model_get_bpw (m));
  g_autofree char *tok = lathe_model_dup_tokenizer_summary (m);
  g_autofree char *block = lathe_model_dup_block_summary (m);
  g_autofree char *layers = g_strdup_printf ("%d", hp->n_layer);
  g_autofree char *embd = g_strdup_printf ("%d", hp->n_embd);
  g_autofree char *heads = g_strdup_printf (_("%d query, %d key/value, size %d"), l0->n_head,
                                            l0->n_head_kv, hp->head_dim);
  g_autofree char *ff = g_strdup_printf ("%d", l0->n_ff);
  g_autofree char *ctx = g_strdup_printf ("%d", hp->n_ctx_train);
  g_autofree char *rope = g_strdup_printf (_("%s, %d dimensions, base %g"),
                                           hp->rope_neox ? "NeoX" : _("normal"), hp->n_rot,
                                           (double) hp->rope_base);

  gtk_label_set_text (self->name_label, lathe_model_get_name (m));
  gtk_label_set_text (self->path_label, lathe_model_get_path (m));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->path_label), lathe_model_get_path (m));
  set_info (self, _("Architecture"), lathe_model_get_arch (m));
  set_info (self, _("Format"), lathe_model_get_format (m));
  set_info (self, _("Parameters"), params);
  set_info (self, _("File Size"), size);
  set_info (self, _("Bits per Weight"), bpw);
  set_info (self, _("Main Type"), lathe_model_get_main_type (m));
  set_info (self, _("Tokenizer"), tok ? tok : _("none"));
  set_info (self, _("Layers"), layers);
  set_info (self, _("Embedding"), embd);
  set_info (self, _("Heads"), heads);
  set_info (self, _("Feed-Forward"), ff);
  set_info (self, _("Context"), ctx);
  set_info (self, _("RoPE"), rope);
  set_info (self, _("Blocks"), block);
  set_info (self, _("Output Head"), lk_model_output_tied (e) ? _("tied to the embedding")
                                                             : _("separate"));
}

/* Tensor table -------------------------------------------------------------- */

typedef enum
{
  COL_NAME,
  COL_TYPE,
  COL_SHAPE,
  COL_ELEMENTS,
  COL_BYTES,
  COL_BPW,
} Column;

static char *
cell_text (LatheTensorInfo *t, Column col)
{
  switch (col)
    {
    case COL_NAME: return g_strdup (lathe_tensor_info_get_name (t));
    case COL_TYPE: return g_strdup (lathe_tensor_info_get_type_name (t));
    case COL_SHAPE: return lathe_tensor_info_dup_shape (t);
    case COL_ELEMENTS:
      return g_strdup_printf ("%'" G_GUINT64_FORMAT, lathe_tensor_info_get_n_elements (t));
    case COL_BYTES: return g_format_size (lathe_tensor_info_get_n_bytes (t));
    case COL_BPW: return g_strdup_printf ("%.2f", lathe_tensor_info_get_bpw (t));
    default: return NULL;
    }
}

static void
setup_cell_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer data)
{
  const Column col = GPOINTER_TO_INT (data);
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), col >= COL_ELEMENTS ? 1.0f : 0.0f);
  if (col == COL_ELEMENTS || col == COL_BYTES || col == COL_BPW || col == COL_SHAPE)
    gtk_widget_add_css_class (label, "numeric");
  if (col == COL_TYPE)
    gtk_widget_add_css_class (label, "tensor-type");
  gtk_list_item_set_child (item, label);
}

static void
bind_cell_cb (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer data)
{
  LatheTensorInfo *t = gtk_list_item_get_item (item);
  g_autofree char *text = cell_text (t, GPOINTER_TO_INT (data));
  GtkWidget *label = gtk_list_item_get_child (item);

  gtk_label_set_text (GTK_LABEL (label), text);
  if (GPOINTER_TO_INT (data) == COL_NAME)
    gtk_widget_set_tooltip_text (label, text);
}

static GtkSorter *
sorter_for (Column col)
{
  static const char *const props[] = { "name", "type-name", "n-elements", "n-elements",
                                       "n-bytes", "bpw" };
  GtkExpression *expr = gtk_property_expression_new (LATHE_TYPE_TENSOR_INFO, NULL, props[col]);

  if (col == COL_NAME || col == COL_TYPE)
    return GTK_SORTER (gtk_string_sorter_new (expr));
  return GTK_SORTER (gtk_numeric_sorter_new (expr));
}

static void
add_column (LatheModelPage *self, const char *title, Column col, gboolean expand)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  GtkColumnViewColumn *column;

  g_signal_connect (factory, "setup", G_CALLBACK (setup_cell_cb), GINT_TO_POINTER (col));
  g_signal_connect (factory, "bind", G_CALLBACK (bind_cell_cb), GINT_TO_POINTER (col));
  column = gtk_column_view_column_new (title, factory);
  gtk_column_view_column_set_sorter (column, sorter_for (col));
  gtk_column_view_column_set_expand (column, expand);
  gtk_column_view_column_set_resizable (column, TRUE);
  gtk_column_view_append_column (self->tensor_view, column);
  g_object_unref (column);
}

static void
update_count (LatheModelPage *self)
{
  const guint shown = g_list_model_get_n_items (G_LIST_MODEL (self->filtered));
  const guint total = self->model ? g_list_model_get_n_items (lathe_model_get_tensors (self->model)) : 0;
  g_autofree char *text = NULL;

  if (shown == total)
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u tensor", "%u tensors", total), total);
  else
    text = g_strdup_printf (_("%u of %u tensors"), shown, total);
  gtk_label_set_text (self->count_label, text);
}

static void
search_changed_cb (GtkSearchEntry *entry, LatheModelPage *self)
{
  gtk_string_filter_set_search (self->filter, gtk_editable_get_text (GTK_EDITABLE (entry)));
  update_count (self);
}

void
lathe_model_page_set_model (LatheModelPage *self, LatheModel *model)
{
  g_return_if_fail (LATHE_IS_MODEL_PAGE (self));
  if (!g_set_object (&self->model, model))
    return;
  gtk_filter_list_model_set_model (self->filtered, model ? lathe_model_get_tensors (model) : NULL);
  lathe_layer_map_set_model (self->layer_map, model);
  if (model != NULL)
    show_overview (self);
  update_count (self);
}

GListModel *
lathe_model_page_get_shown_tensors (LatheModelPage *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL_PAGE (self), NULL);
  return G_LIST_MODEL (self->sorted);
}

LatheLayerMap *
lathe_model_page_get_layer_map (LatheModelPage *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL_PAGE (self), NULL);
  return self->layer_map;
}

GtkColumnView *
lathe_model_page_get_tensor_view (LatheModelPage *self)
{
  g_return_val_if_fail (LATHE_IS_MODEL_PAGE (self), NULL);
  return self->tensor_view;
}

static void
lathe_model_page_dispose (GObject *object)
{
  LatheModelPage *self = LATHE_MODEL_PAGE (object);

  g_clear_object (&self->model);
  gtk_widget_dispose_template (GTK_WIDGET (self), LATHE_TYPE_MODEL_PAGE);
  G_OBJECT_CLASS (lathe_model_page_parent_class)->dispose (object);
}

static void
lathe_model_page_finalize (GObject *object)
{
  LatheModelPage *self = LATHE_MODEL_PAGE (object);

  g_hash_table_unref (self->info_labels);
  G_OBJECT_CLASS (lathe_model_page_parent_class)->finalize (object);
}

static void
lathe_model_page_class_init (LatheModelPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lathe_model_page_dispose;
  object_class->finalize = lathe_model_page_finalize;
  g_type_ensure (LATHE_TYPE_LAYER_MAP);
  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PREFIX "/lathe-model-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, name_label);
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, path_label);
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, overview_group);
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, layer_map);
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, shape_group);
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, search_entry);
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, count_label);
  gtk_widget_class_bind_template_child (widget_class, LatheModelPage, tensor_view);
  gtk_widget_class_bind_template_callback (widget_class, search_changed_cb);
}

static void
lathe_model_page_init (LatheModelPage *self)
{
  GtkNoSelection *selection;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->info_labels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  add_info_row (self, self->overview_group, _("Architecture"));
  add_info_row (self, self->overview_group, _("Format"));
  add_info_row (self, self->overview_group, _("Parameters"));
  add_info_row (self, self->overview_group, _("File Size"));
  add_info_row (self, self->overview_group, _("Bits per Weight"));
  add_info_row (self, self->overview_group, _("Main Type"));
  add_info_row (self, self->overview_group, _("Tokenizer"));
  add_info_row (self, self->shape_group, _("Layers"));
  add_info_row (self, self->shape_group, _("Embedding"));
  add_info_row (self, self->shape_group, _("Heads"));
  add_info_row (self, self->shape_group, _("Feed-Forward"));
  add_info_row (self, self->shape_group, _("Context"));
  add_info_row (self, self->shape_group, _("RoPE"));
  add_info_row_long (self, self->shape_group, _("Blocks"));
  add_info_row (self, self->shape_group, _("Output Head"));

  add_column (self, _("Tensor"), COL_NAME, TRUE);
  add_column (self, _("Type"), COL_TYPE, FALSE);
  add_column (self, _("Shape"), COL_SHAPE, FALSE);
  add_column (self, _("Elements"), COL_ELEMENTS, FALSE);
  add_column (self, _("Size"), COL_BYTES, FALSE);
  add_column (self, _("Bits/Weight"), COL_BPW, FALSE);

  self->filter = gtk_string_filter_new (
    gtk_property_expression_new (LATHE_TYPE_TENSOR_INFO, NULL, "name"));
  gtk_string_filter_set_match_mode (self->filter, GTK_STRING_FILTER_MATCH_MODE_SUBSTRING);
  self->filtered = gtk_filter_list_model_new (NULL, GTK_FILTER (self->filter));
  self->sorted = gtk_sort_list_model_new (G_LIST_MODEL (self->filtered),
                                          g_object_ref (gtk_column_view_get_sorter (self->tensor_view)));
  selection = gtk_no_selection_new (G_LIST_MODEL (self->sorted));
  gtk_column_view_set_model (self->tensor_view, GTK_SELECTION_MODEL (selection));
  g_object_unref (selection);
}
