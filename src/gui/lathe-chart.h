/* SPDX-License-Identifier: MIT */
/* A scatter chart of measured variants on two figures: the Pareto front
 * drawn in the accent colour and joined, dominated points faded, the
 * original model as a square. Hovering shows a variant's figures; clicking
 * selects it. It draws the same into PNG and SVG files. */
#pragma once

#include <gtk/gtk.h>

#include "lathe-variant.h"

G_BEGIN_DECLS

#define LATHE_TYPE_CHART (lathe_chart_get_type ())
G_DECLARE_FINAL_TYPE (LatheChart, lathe_chart, LATHE, CHART, GtkWidget)

GtkWidget *lathe_chart_new (void);
/* LatheVariant items; the chart follows their changes. */
void lathe_chart_set_variants (LatheChart *self, GListModel *variants);
void lathe_chart_set_axes (LatheChart *self, LatheMetric x, LatheMetric y);
/* Logarithmic axes (zero and below sit a decade under the smallest
 * positive value). */
void lathe_chart_set_log_scale (LatheChart *self, gboolean x_log, gboolean y_log);
LatheMetric lathe_chart_get_x (LatheChart *self);
LatheMetric lathe_chart_get_y (LatheChart *self);
/* The selected variant (property "selected"), or NULL. */
LatheVariant *lathe_chart_get_selected (LatheChart *self);
void lathe_chart_set_selected (LatheChart *self, LatheVariant *variant);

/* Variants with both figures measured: the points drawn. */
guint lathe_chart_get_n_points (LatheChart *self);
/* Where variant i of the list lands in a drawing of width × height;
 * FALSE when it has no point. */
gboolean lathe_chart_point_position (LatheChart *self, guint i, double width, double height, double *px,
                                     double *py);
gboolean lathe_chart_is_on_front (LatheChart *self, guint i);
/* The variant whose point is nearest (x, y) of the widget, within a few
 * pixels, or NULL. */
LatheVariant *lathe_chart_variant_at (LatheChart *self, double x, double y);
/* A point's tooltip: its name, device and every figure, as Pango markup. */
char *lathe_chart_describe (LatheVariant *variant);

/* Draws the chart with its background (exports, tests). */
void lathe_chart_draw (LatheChart *self, cairo_t *cr, double width, double height);
gboolean lathe_chart_save_png (LatheChart *self, const char *path, int width, int height,
                               GError **error);
gboolean lathe_chart_save_svg (LatheChart *self, const char *path, int width, int height,
                               GError **error);

G_END_DECLS
