/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-layer-map"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "lathe-layer-map.h"

#define LABEL_W 28.0
#define HEADER_H 58.0
#define CELL_W 30.0
#define CELL_H 14.0
#define LEGEND_H 22.0

typedef struct
{
  const lk_tensor *t;
} Cell;

struct _LatheLayerMap
{
  GtkWidget parent_instance;
  LatheModel *model;
  GPtrArray *kinds; /* char* */
  int n_layers;
  Cell *cells;      /* [n_layers][n_kinds] */
  GHashTable *plan; /* name -> lk_type a recipe would give, or NULL */
  GHashTable *sensitivity; /* name -> "Q8_0 0.0012 · Q4_0 0.031" */
};

G_DEFINE_FINAL_TYPE (LatheLayerMap, lathe_layer_map, GTK_TYPE_WIDGET)

/* Colour of a bits-per-weight value: dark blue (2 bits) through green and
 * yellow to light (16 bits and more), a scale readable in light and dark. */
static void
bpw_colour (double bpw, double rgb[3])
{
  static const double stops[5][3] = {
    { 0.27, 0.00, 0.33 }, { 0.23, 0.32, 0.55 }, { 0.13, 0.57, 0.55 }, { 0.37, 0.79, 0.38 },
    { 0.99, 0.91, 0.14 },
  };
  double f = (bpw - 2.0) / 14.0;
  int i;

  f = CLAMP (f, 0.0, 1.0) * 4.0;
  i = MIN ((int) f, 3);
  f -= i;
  for (int c = 0; c < 3; c++)
    rgb[c] = stops[i][c] * (1.0 - f) + stops[i + 1][c] * f;
}

static double
tensor_bpw (const lk_tensor *t)
{
  const double n = (double) lk_tensor_nelements (t);

  return n > 0 ? 8.0 * (double) t->nbytes / n : 0.0;
}

/* The type a cell shows: the plan's, else the file's. */
static lk_type
cell_type (LatheLayerMap *self, const lk_tensor *t)
{
  gpointer v;

  if (self->plan != NULL && g_hash_table_lookup_extended (self->plan, t->name, NULL, &v))
    return (lk_type) GPOINTER_TO_INT (v);
  return lk_type_unpacked (t->type);
}

static double
cell_bpw (LatheLayerMap *self, const lk_tensor *t)
{
  const lk_type type = cell_type (self, t);

  if (self->plan == NULL)
    return tensor_bpw (t);
  return t->ne[0] > 0 ? 8.0 * (double) lk_row_size (type, t->ne[0]) / (double) t->ne[0] : 0.0;
}

static void
clear (LatheLayerMap *self)
{
  g_ptr_array_set_size (self->kinds, 0);
  g_clear_pointer (&self->cells, g_free);
  self->n_layers = 0;
}

static int
kind_index (LatheLayerMap *self, const char *kind)
{
  for (guint i = 0; i < self->kinds->len; i++)
    if (strcmp (g_ptr_array_index (self->kinds, i), kind) == 0)
      return (int) i;
  g_ptr_array_add (self->kinds, g_strdup (kind));
  return (int) self->kinds->len - 1;
}

/* "blk.12.ffn_down.weight" -> 12, "ffn_down". */
static gboolean
split_name (const char *name, int *layer, char *kind, gsize cap)
{
  int used = 0;
  const char *dot;

  if (sscanf (name, "blk.%d.%n", layer, &used) != 1 || used == 0)
    return FALSE;
  dot = strrchr (name + used, '.');
  if (dot == NULL || (gsize) (dot - (name + used)) >= cap)
    return FALSE;
  memcpy (kind, name + used, (gsize) (dot - (name + used)));
  kind[dot - (name + used)] = '\0';
  return TRUE;
}

static void
rebuild (LatheLayerMap *self)
{
  const lk_model *m;

  clear (self);
  if (self->model == NULL)
    return;
  m = lathe_model_get_engine (self->model);
  self->n_layers = lk_model_hparams (m)->n_layer;
  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      char kind[64];
      int layer;
      if (t->n_dims >= 2 && split_name (t->name, &layer, kind, sizeof kind))
        kind_index (self, kind);
    }
  self->cells = g_new0 (Cell, (gsize) MAX (1, self->n_layers * (int) self->kinds->len));
  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      char kind[64];
      int layer;
      if (t->n_dims >= 2 && split_name (t->name, &layer, kind, sizeof kind) && layer >= 0
          && layer < self->n_layers)
        self->cells[layer * (int) self->kinds->len + kind_index (self, kind)].t = t;
    }
}

/* Measuring and drawing ----------------------------------------------------- */

static void
lathe_layer_map_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                         int *natural, int *minimum_baseline, int *natural_baseline)
{
  LatheLayerMap *self = LATHE_LAYER_MAP (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    *minimum = *natural = (int) (LABEL_W + CELL_W * MAX (1, (int) self->kinds->len) + 2);
  else
    *minimum = *natural = (int) (HEADER_H + CELL_H * self->n_layers + LEGEND_H + 4);
  *minimum_baseline = *natural_baseline = -1;
}

static void
draw_text (cairo_t *cr, PangoLayout *layout, const char *text, double x, double y, double angle,
           const GdkRGBA *fg)
{
  pango_layout_set_text (layout, text, -1);
  cairo_save (cr);
  cairo_move_to (cr, x, y);
  cairo_rotate (cr, angle);
  gdk_cairo_set_source_rgba (cr, fg);
  pango_cairo_show_layout (cr, layout);
  cairo_restore (cr);
}

static void
draw_legend (LatheLayerMap *self, cairo_t *cr, PangoLayout *layout, const GdkRGBA *fg, double y)
{
  static const double marks[] = { 2, 4, 8, 16 };
  double x = LABEL_W;

  for (gsize i = 0; i < G_N_ELEMENTS (marks); i++)
    {
      double rgb[3];
      char text[16];
      bpw_colour (marks[i], rgb);
      cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
      cairo_rectangle (cr, x, y + 4, 10, 10);
      cairo_fill (cr);
      g_snprintf (text, sizeof text, "%g", marks[i]);
      draw_text (cr, layout, text, x + 13, y + 1, 0, fg);
      x += 36;
    }
  draw_text (cr, layout, _("bits/weight"), x, y + 1, 0, fg);
}

static void
lathe_layer_map_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  LatheLayerMap *self = LATHE_LAYER_MAP (widget);
  const int n_kinds = (int) self->kinds->len;
  const double w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  GdkRGBA fg;
  cairo_t *cr;
  PangoLayout *layout;
  PangoFontDescription *font;

  if (self->n_layers == 0 || n_kinds == 0)
    return;
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, w, h));
  layout = gtk_widget_create_pango_layout (widget, NULL);
  font = pango_font_description_from_string ("Sans 7");
  pango_layout_set_font_description (layout, font);
  for (int k = 0; k < n_kinds; k++)
    draw_text (cr, layout, g_ptr_array_index (self->kinds, k), LABEL_W + CELL_W * k + 8,
               HEADER_H - 2, -G_PI / 3, &fg);
  for (int l = 0; l < self->n_layers; l++)
    {
      char text[16];
      const double y = HEADER_H + CELL_H * l;
      if (self->n_layers <= 40 || l % 5 == 0)
        {
          g_snprintf (text, sizeof text, "%d", l);
          draw_text (cr, layout, text, 2, y, 0, &fg);
        }
      for (int k = 0; k < n_kinds; k++)
        {
          const lk_tensor *t = self->cells[l * n_kinds + k].t;
          double rgb[3];
          if (t == NULL)
            continue;
          bpw_colour (cell_bpw (self, t), rgb);
          cairo_set_source_rgb (cr, rgb[0], rgb[1], rgb[2]);
          cairo_rectangle (cr, LABEL_W + CELL_W * k + 1, y + 1, CELL_W - 2, CELL_H - 2);
          cairo_fill (cr);
          if (self->plan == NULL && lathe_model_get_asked_type (self->model, t->name) != NULL)
            {
              /* A fallback: outlined in the text colour. */
              gdk_cairo_set_source_rgba (cr, &fg);
              cairo_set_line_width (cr, 1.0);
              cairo_rectangle (cr, LABEL_W + CELL_W * k + 1.5, y + 1.5, CELL_W - 3, CELL_H - 3);
              cairo_stroke (cr);
            }
        }
    }
  draw_legend (self, cr, layout, &fg, HEADER_H + CELL_H * self->n_layers + 2);
  pango_font_description_free (font);
  g_object_unref (layout);
  cairo_destroy (cr);
}

/* Hovering ------------------------------------------------------------------ */

gboolean
lathe_layer_map_cell_at (LatheLayerMap *self, double x, double y, int *layer, int *k)
{
  g_return_val_if_fail (LATHE_IS_LAYER_MAP (self), FALSE);
  if (x < LABEL_W || y < HEADER_H)
    return FALSE;
  *k = (int) ((x - LABEL_W) / CELL_W);
  *layer = (int) ((y - HEADER_H) / CELL_H);
  return *k < (int) self->kinds->len && *layer < self->n_layers;
}

char *
lathe_layer_map_describe (LatheLayerMap *self, int layer, int k)
{
  const char *name = lathe_layer_map_get_tensor (self, layer, k);
  const lk_tensor *t;
  const char *asked, *sens;
  g_autofree char *size = NULL;
  GString *s;
  lk_type type;
  guint64 bytes;

  if (name == NULL)
    return NULL;
  t = self->cells[layer * (int) self->kinds->len + k].t;
  type = cell_type (self, t);
  bytes = self->plan != NULL ? (guint64) (cell_bpw (self, t) * (double) lk_tensor_nelements (t) / 8.0) : t->nbytes;
  size = g_format_size (bytes);
  s = g_string_new (NULL);
  /* Translators: tensor, type, shape, size, bits per weight */
  g_string_append_printf (s, _("%s\n%s, %lld × %lld, %s, %.2f bits per weight"), name, lk_type_name (type),
                          (long long) t->ne[0], (long long) (lk_tensor_nelements (t) / t->ne[0]), size,
                          cell_bpw (self, t));
  if (self->plan != NULL && type != lk_type_unpacked (t->type))
    g_string_append_printf (s, _("\nnow %s"), lk_type_name (lk_type_unpacked (t->type)));
  asked = self->plan == NULL ? lathe_model_get_asked_type (self->model, name) : NULL;
  if (asked != NULL)
    /* Translators: the type that did not fit */
    g_string_append_printf (s, _("\n%s was asked; its blocks do not fit the rows"), asked);
  sens = self->sensitivity != NULL ? g_hash_table_lookup (self->sensitivity, name) : NULL;
  if (sens != NULL)
    g_string_append_printf (s, _("\nKL added alone: %s"), sens);
  return g_string_free (s, FALSE);
}

void
lathe_layer_map_set_plan (LatheLayerMap *self, GHashTable *types)
{
  g_return_if_fail (LATHE_IS_LAYER_MAP (self));
  g_clear_pointer (&self->plan, g_hash_table_unref);
  if (types != NULL)
    self->plan = g_hash_table_ref (types);
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
lathe_layer_map_set_sensitivity (LatheLayerMap *self, JsonNode *table)
{
  JsonArray *tensors;

  g_return_if_fail (LATHE_IS_LAYER_MAP (self));
  g_clear_pointer (&self->sensitivity, g_hash_table_unref);
  if (table == NULL || !JSON_NODE_HOLDS_OBJECT (table)
      || (tensors = json_object_get_array_member (json_node_get_object (table), "tensors")) == NULL)
    return;
  self->sensitivity = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  for (guint i = 0; i < json_array_get_length (tensors); i++)
    {
      JsonObject *t = json_array_get_object_element (tensors, i);
      JsonArray *cands = t ? json_object_get_array_member (t, "candidates") : NULL;
      GString *text = g_string_new (NULL);
      for (guint c = 0; cands != NULL && c < json_array_get_length (cands); c++)
        {
          JsonObject *o = json_array_get_object_element (cands, c);
          g_string_append_printf (text, "%s%s %.4f", c ? " · " : "", json_object_get_string_member (o, "type"),
                                  json_object_get_double_member (o, "kl_mean"));
        }
      if (t != NULL && json_object_has_member (t, "name"))
        g_hash_table_insert (self->sensitivity, g_strdup (json_object_get_string_member (t, "name")),
                             g_string_free (text, FALSE));
      else
        g_string_free (text, TRUE);
    }
}

static gboolean
query_tooltip_cb (GtkWidget *widget, int x, int y, gboolean keyboard, GtkTooltip *tooltip,
                  gpointer data)
{
  LatheLayerMap *self = LATHE_LAYER_MAP (widget);
  g_autofree char *text = NULL;
  int layer, k;

  if (keyboard || !lathe_layer_map_cell_at (self, x, y, &layer, &k)
      || (text = lathe_layer_map_describe (self, layer, k)) == NULL)
    return FALSE;
  gtk_tooltip_set_text (tooltip, text);
  return TRUE;
}

/* Object -------------------------------------------------------------------- */

static void
lathe_layer_map_dispose (GObject *object)
{
  LatheLayerMap *self = LATHE_LAYER_MAP (object);

  clear (self);
  g_clear_object (&self->model);
  g_clear_pointer (&self->plan, g_hash_table_unref);
  g_clear_pointer (&self->sensitivity, g_hash_table_unref);
  G_OBJECT_CLASS (lathe_layer_map_parent_class)->dispose (object);
}

static void
lathe_layer_map_finalize (GObject *object)
{
  LatheLayerMap *self = LATHE_LAYER_MAP (object);

  g_ptr_array_unref (self->kinds);
  G_OBJECT_CLASS (lathe_layer_map_parent_class)->finalize (object);
}

static void
lathe_layer_map_class_init (LatheLayerMapClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lathe_layer_map_dispose;
  object_class->finalize = lathe_layer_map_finalize;
  widget_class->measure = lathe_layer_map_measure;
  widget_class->snapshot = lathe_layer_map_snapshot;
  gtk_widget_class_set_css_name (widget_class, "layermap");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
lathe_layer_map_init (LatheLayerMap *self)
{
  self->kinds = g_ptr_array_new_with_free_func (g_free);
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (query_tooltip_cb), NULL);
}

GtkWidget *
lathe_layer_map_new (void)
{
  return g_object_new (LATHE_TYPE_LAYER_MAP, NULL);
}

void
lathe_layer_map_set_model (LatheLayerMap *self, LatheModel *model)
{
  g_return_if_fail (LATHE_IS_LAYER_MAP (self));
  if (!g_set_object (&self->model, model))
    return;
  rebuild (self);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Map of the tensors of each layer by bits per weight"), -1);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

int
lathe_layer_map_get_n_layers (LatheLayerMap *self)
{
  g_return_val_if_fail (LATHE_IS_LAYER_MAP (self), 0);
  return self->n_layers;
}

int
lathe_layer_map_get_n_kinds (LatheLayerMap *self)
{
  g_return_val_if_fail (LATHE_IS_LAYER_MAP (self), 0);
  return (int) self->kinds->len;
}

const char *
lathe_layer_map_get_kind (LatheLayerMap *self, int k)
{
  g_return_val_if_fail (LATHE_IS_LAYER_MAP (self), NULL);
  return k >= 0 && k < (int) self->kinds->len ? g_ptr_array_index (self->kinds, k) : NULL;
}

const char *
lathe_layer_map_get_tensor (LatheLayerMap *self, int layer, int k)
{
  g_return_val_if_fail (LATHE_IS_LAYER_MAP (self), NULL);
  if (layer < 0 || layer >= self->n_layers || k < 0 || k >= (int) self->kinds->len)
    return NULL;
  return self->cells[layer * (int) self->kinds->len + k].t ? self->cells[layer * (int) self->kinds->len + k].t->name
                                                          : NULL;
}
