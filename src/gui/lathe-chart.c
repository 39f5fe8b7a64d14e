/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-chart"

#include "config.h"

#include <cairo-svg.h>
#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>

#include "lathe-chart.h"
#include "lathe-pareto.h"

#define MARGIN_LEFT 76.0
#define MARGIN_RIGHT 24.0
#define MARGIN_TOP 20.0
#define MARGIN_BOTTOM 52.0
#define POINT_R 5.0
#define HIT_R 10.0

struct _LatheChart
{
  GtkWidget parent_instance;
  GListModel *variants;
  LatheMetric x, y;
  LatheVariant *selected;
  LatheVariant *hover;
  /* Per item of the list, recomputed when the list or the axes change. */
  GArray *xs, *ys;     /* double */
  GArray *front;       /* gboolean */
  double x0, x1, y0, y1; /* the ranges drawn, in axis units (log10 on a log axis) */
  gboolean xlog, ylog;
  double xfloor, yfloor; /* on a log axis, values below (zero) are drawn here */
  guint n_points;
};

enum
{
  PROP_0,
  PROP_SELECTED,
  N_PROPS
};

static GParamSpec *props[N_PROPS];

G_DEFINE_FINAL_TYPE (LatheChart, lathe_chart, GTK_TYPE_WIDGET)

/* Ranges with a little room around the points; a single value gets room of
 * its own size. */
static void
pad_range (double *lo, double *hi)
{
  double span = *hi - *lo;

  if (span <= 0)
    span = fabs (*lo) > 0 ? fabs (*lo) * 0.2 : 1.0;
  *lo -= span * 0.08;
  *hi += span * 0.08;
}

/* A value in axis units. */
static double
axis_value (gboolean log, double floor, double v)
{
  return log ? log10 (MAX (v, floor)) : v;
}

/* On a log axis, zero and below sit a decade under the smallest positive
 * value (the original's KL of 0, for one). */
static double
log_floor (GArray *values)
{
  double least = INFINITY;

  for (guint i = 0; i < values->len; i++)
    {
      const double v = g_array_index (values, double, i);
      if (v > 0 && v < least)
        least = v;
    }
  return isfinite (least) ? least / 10 : 1e-6;
}

static void
recompute (LatheChart *self)
{
  const guint n = self->variants ? g_list_model_get_n_items (self->variants) : 0;
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;

  g_array_set_size (self->xs, n);
  g_array_set_size (self->ys, n);
  g_array_set_size (self->front, n);
  self->n_points = 0;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (self->variants, i);
      const double x = lathe_variant_get_metric (v, self->x);
      const double y = lathe_variant_get_metric (v, self->y);
      g_array_index (self->xs, double, i) = x;
      g_array_index (self->ys, double, i) = y;
    }
  self->xfloor = log_floor (self->xs);
  self->yfloor = log_floor (self->ys);
  for (guint i = 0; i < n; i++)
    {
      const double x = g_array_index (self->xs, double, i);
      const double y = g_array_index (self->ys, double, i);
      if (isnan (x) || isnan (y))
        continue;
      self->n_points++;
      x0 = MIN (x0, axis_value (self->xlog, self->xfloor, x));
      x1 = MAX (x1, axis_value (self->xlog, self->xfloor, x));
      y0 = MIN (y0, axis_value (self->ylog, self->yfloor, y));
      y1 = MAX (y1, axis_value (self->ylog, self->yfloor, y));
    }
  if (n > 0)
    lathe_pareto_front ((double *) self->xs->data, (double *) self->ys->data, n,
                        lathe_metric_higher_is_better (self->x), lathe_metric_higher_is_better (self->y),
                        (gboolean *) self->front->data);
  if (self->n_points == 0)
    x0 = y0 = 0, x1 = y1 = 1;
  pad_range (&x0, &x1);
  pad_range (&y0, &y1);
  self->x0 = x0;
  self->x1 = x1;
  self->y0 = y0;
  self->y1 = y1;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static gboolean
list_holds (GListModel *list, gpointer item)
{
  for (guint i = 0; i < g_list_model_get_n_items (list); i++)
    {
      g_autoptr (GObject) o = g_list_model_get_item (list, i);
      if (o == item)
        return TRUE;
    }
  return FALSE;
}

static void
items_changed_cb (GListModel *list, guint pos, guint removed, guint added, LatheChart *self)
{
  if (self->selected != NULL && !list_holds (list, self->selected))
    lathe_chart_set_selected (self, NULL);
  self->hover = NULL;
  recompute (self);
}

/* Ticks ------------------------------------------------------------------ */

/* A step of 1, 2 or 5 × 10^k giving about n ticks over the span. */
static double
nice_step (double span, int n)
{
  const double raw = span / n;
  const double mag = pow (10.0, floor (log10 (raw)));
  const double f = raw / mag;

  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static char *
tick_label (double v, double step)
{
  const int digits = step >= 1 ? 0 : (int) ceil (-log10 (step) - 1e-9);

  if (fabs (v) < step * 1e-6)
    v = 0;
  if (fabs (v) >= 1e5)
    return g_strdup_printf ("%.0fk", v / 1e3);
  return g_strdup_printf ("%.*f", MIN (digits, 6), v);
}

/* Drawing ----------------------------------------------------------------- */

typedef struct
{
  GdkRGBA fg, accent, bg;
} Colours;

static void
get_colours (LatheChart *self, Colours *c)
{
  GtkStyleContext *style = gtk_widget_get_style_context (GTK_WIDGET (self));

  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (style, &c->fg);
  if (!gtk_style_context_lookup_color (style, "accent_bg_color", &c->accent))
    gdk_rgba_parse (&c->accent, "#3584e4");
  if (!gtk_style_context_lookup_color (style, "view_bg_color", &c->bg))
    gdk_rgba_parse (&c->bg, "#ffffff");
  G_GNUC_END_IGNORE_DEPRECATIONS
}

/* Axis units to pixels. */
static void
place (LatheChart *self, double ax, double ay, double w, double h, double *px, double *py)
{
  const double pw = MAX (w - MARGIN_LEFT - MARGIN_RIGHT, 1);
  const double ph = MAX (h - MARGIN_TOP - MARGIN_BOTTOM, 1);

  *px = MARGIN_LEFT + (ax - self->x0) / (self->x1 - self->x0) * pw;
  *py = MARGIN_TOP + ph - (ay - self->y0) / (self->y1 - self->y0) * ph;
}

/* Figures to pixels. */
static void
to_pixels (LatheChart *self, double x, double y, double w, double h, double *px, double *py)
{
  place (self, axis_value (self->xlog, self->xfloor, x), axis_value (self->ylog, self->yfloor, y), w, h, px, py);
}

gboolean
lathe_chart_point_position (LatheChart *self, guint i, double width, double height, double *px,
                            double *py)
{
  double x, y;

  g_return_val_if_fail (LATHE_IS_CHART (self), FALSE);
  if (i >= self->xs->len)
    return FALSE;
  x = g_array_index (self->xs, double, i);
  y = g_array_index (self->ys, double, i);
  if (isnan (x) || isnan (y))
    return FALSE;
  to_pixels (self, x, y, width, height, px, py);
  return TRUE;
}

static void
show_text (cairo_t *cr, PangoLayout *layout, const char *text, double x, double y, double ax,
           double ay)
{
  int tw, th;

  pango_layout_set_text (layout, text, -1);
  pango_layout_get_pixel_size (layout, &tw, &th);
  cairo_move_to (cr, x - ax * tw, y - ay * th);
  pango_cairo_show_layout (cr, layout);
}

/* Tick positions in axis units over [lo, hi]: 1-2-5 steps on a linear
 * axis; decades (with 2 and 5 when few) on a log axis. */
static GArray *
ticks (double lo, double hi, gboolean log, int n, double *step)
{
  GArray *t = g_array_new (FALSE, FALSE, sizeof (double));

  if (!log)
    {
      *step = nice_step (hi - lo, n);
      for (double v = ceil (lo / *step) * *step; v <= hi + *step * 1e-9; v += *step)
        g_array_append_val (t, v);
      return t;
    }
  *step = 1;
  for (double k = floor (lo); k <= ceil (hi); k++)
    for (int m = 1; m <= 5; m++)
      {
        const double v = k + log10 (m);
        if ((m == 1 || ((m == 2 || m == 5) && hi - lo < 2.5)) && v >= lo && v <= hi)
          g_array_append_val (t, v);
      }
  return t;
}

static char *
axis_label (double v, gboolean log, double step)
{
  if (log)
    return g_strdup_printf ("%g", pow (10, v));
  return tick_label (v, step);
}

static void
draw_axes (LatheChart *self, cairo_t *cr, PangoLayout *layout, const Colours *c, double w, double h)
{
  double xstep, ystep, px, py, qx, qy;
  g_autoptr (GArray) xt = ticks (self->x0, self->x1, self->xlog, MAX (2, (int) ((w - 100) / 90)), &xstep);
  g_autoptr (GArray) yt = ticks (self->y0, self->y1, self->ylog, MAX (2, (int) ((h - 80) / 50)), &ystep);

  cairo_set_line_width (cr, 1.0);
  for (guint i = 0; i < xt->len; i++)
    {
      const double v = g_array_index (xt, double, i);
      g_autofree char *label = axis_label (v, self->xlog, xstep);
      place (self, v, self->y0, w, h, &px, &py);
      cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.10);
      cairo_move_to (cr, round (px) + 0.5, MARGIN_TOP);
      cairo_line_to (cr, round (px) + 0.5, py);
      cairo_stroke (cr);
      cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.7);
      show_text (cr, layout, label, px, py + 4, 0.5, 0);
    }
  for (guint i = 0; i < yt->len; i++)
    {
      const double v = g_array_index (yt, double, i);
      g_autofree char *label = axis_label (v, self->ylog, ystep);
      place (self, self->x0, v, w, h, &px, &py);
      place (self, self->x1, v, w, h, &qx, &qy);
      cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.10);
      cairo_move_to (cr, px, round (py) + 0.5);
      cairo_line_to (cr, qx, round (py) + 0.5);
      cairo_stroke (cr);
      cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.7);
      show_text (cr, layout, label, px - 6, py, 1, 0.5);
    }
  /* The frame and the axis titles. */
  cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.35);
  cairo_rectangle (cr, MARGIN_LEFT + 0.5, MARGIN_TOP + 0.5, w - MARGIN_LEFT - MARGIN_RIGHT - 1,
                   h - MARGIN_TOP - MARGIN_BOTTOM - 1);
  cairo_stroke (cr);
  cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.9);
  {
    g_autofree char *xt_ = self->xlog ? g_strdup_printf (_("%s, log scale"), lathe_metric_label (self->x))
                                      : g_strdup (lathe_metric_label (self->x));
    g_autofree char *yt_ = self->ylog ? g_strdup_printf (_("%s, log scale"), lathe_metric_label (self->y))
                                      : g_strdup (lathe_metric_label (self->y));
    show_text (cr, layout, xt_, MARGIN_LEFT + (w - MARGIN_LEFT - MARGIN_RIGHT) / 2, h - 4, 0.5, 1);
    cairo_save (cr);
    cairo_translate (cr, 4, MARGIN_TOP + (h - MARGIN_TOP - MARGIN_BOTTOM) / 2);
    cairo_rotate (cr, -G_PI / 2);
    show_text (cr, layout, yt_, 0, 0, 0.5, 0);
    cairo_restore (cr);
  }
}

static int
by_x (gconstpointer a, gconstpointer b, gpointer data)
{
  const double *xs = data;
  const double d = xs[*(const guint *) a] - xs[*(const guint *) b];

  return d < 0 ? -1 : d > 0 ? 1 : 0;
}

static void
draw_front_line (LatheChart *self, cairo_t *cr, const Colours *c, double w, double h)
{
  g_autoptr (GArray) idx = g_array_new (FALSE, FALSE, sizeof (guint));
  double px, py;

  for (guint i = 0; i < self->front->len; i++)
    if (g_array_index (self->front, gboolean, i))
      g_array_append_val (idx, i);
  if (idx->len < 2)
    return;
  g_array_sort_with_data (idx, by_x, self->xs->data);
  cairo_set_source_rgba (cr, c->accent.red, c->accent.green, c->accent.blue, 0.55);
  cairo_set_line_width (cr, 2.0);
  for (guint k = 0; k < idx->len; k++)
    {
      lathe_chart_point_position (self, g_array_index (idx, guint, k), w, h, &px, &py);
      if (k == 0)
        cairo_move_to (cr, px, py);
      else
        cairo_line_to (cr, px, py);
    }
  cairo_stroke (cr);
}

static void
draw_point (cairo_t *cr, LatheVariant *v, double px, double py, double r)
{
  if (lathe_variant_is_original (v))
    cairo_rectangle (cr, px - r, py - r, 2 * r, 2 * r);
  else
    cairo_arc (cr, px, py, r, 0, 2 * G_PI);
}

/* Names a point where its label overlaps no other label and stays inside:
 * above right, below right, above left, below left; else not at all (the
 * tooltip still names it). */
static void
place_label (cairo_t *cr, PangoLayout *layout, const char *text, double px, double py, double w,
             GArray *taken)
{
  static const double dx[] = { 8, 8, -8, -8 }, dy[] = { -4, 4, -4, 4 };
  int tw, th;

  pango_layout_set_text (layout, text, -1);
  pango_layout_get_pixel_size (layout, &tw, &th);
  for (guint k = 0; k < G_N_ELEMENTS (dx); k++)
    {
      const double x = dx[k] > 0 ? px + dx[k] : px + dx[k] - tw;
      const double y = dy[k] < 0 ? py + dy[k] - th : py + dy[k];
      const graphene_rect_t r = GRAPHENE_RECT_INIT (x, y, tw, th);
      gboolean fits = x >= MARGIN_LEFT && x + tw <= w && y >= 0;
      for (guint i = 0; fits && i < taken->len; i++)
        fits = !graphene_rect_intersection (&r, &g_array_index (taken, graphene_rect_t, i), NULL);
      if (fits)
        {
          g_array_append_val (taken, r);
          cairo_move_to (cr, x, y);
          pango_cairo_show_layout (cr, layout);
          return;
        }
    }
}

static void
draw_points (LatheChart *self, cairo_t *cr, PangoLayout *layout, const Colours *c, double w, double h)
{
  g_autoptr (GArray) labels = g_array_new (FALSE, FALSE, sizeof (graphene_rect_t));
  double px, py;

  /* Faded points first, so the front lies on top. */
  for (int pass = 0; pass < 2; pass++)
    for (guint i = 0; i < self->xs->len; i++)
      {
        g_autoptr (LatheVariant) v = g_list_model_get_item (self->variants, i);
        const gboolean front = g_array_index (self->front, gboolean, i);
        if (front != (pass == 1) || !lathe_chart_point_position (self, i, w, h, &px, &py))
          continue;
        draw_point (cr, v, px, py, POINT_R);
        if (front)
          gdk_cairo_set_source_rgba (cr, &c->accent);
        else
          cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.3);
        cairo_fill (cr);
        if (front)
          {
            cairo_set_source_rgba (cr, c->fg.red, c->fg.green, c->fg.blue, 0.85);
            place_label (cr, layout, lathe_variant_get_name (v), px, py, w, labels);
          }
        if (v == self->selected || v == self->hover)
          {
            cairo_set_line_width (cr, v == self->selected ? 2.5 : 1.5);
            gdk_cairo_set_source_rgba (cr, &c->fg);
            draw_point (cr, v, px, py, POINT_R + 3.5);
            cairo_stroke (cr);
          }
      }
}

static void
draw (LatheChart *self, cairo_t *cr, double w, double h, gboolean background)
{
  PangoLayout *layout = gtk_widget_create_pango_layout (GTK_WIDGET (self), NULL);
  Colours c;

  get_colours (self, &c);
  if (background)
    {
      gdk_cairo_set_source_rgba (cr, &c.bg);
      cairo_paint (cr);
    }
  draw_axes (self, cr, layout, &c, w, h);
  cairo_save (cr);
  cairo_rectangle (cr, MARGIN_LEFT, MARGIN_TOP, w - MARGIN_LEFT - MARGIN_RIGHT,
                   h - MARGIN_TOP - MARGIN_BOTTOM);
  cairo_clip (cr);
  draw_front_line (self, cr, &c, w, h);
  cairo_restore (cr);
  draw_points (self, cr, layout, &c, w, h);
  if (self->n_points == 0)
    {
      cairo_set_source_rgba (cr, c.fg.red, c.fg.green, c.fg.blue, 0.6);
      show_text (cr, layout, _("No variant has both figures yet"), w / 2, h / 2, 0.5, 0.5);
    }
  g_object_unref (layout);
}

void
lathe_chart_draw (LatheChart *self, cairo_t *cr, double width, double height)
{
  g_return_if_fail (LATHE_IS_CHART (self));
  draw (self, cr, width, height, TRUE);
}

static void
lathe_chart_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  const double w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  cairo_t *cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, w, h));

  draw (LATHE_CHART (widget), cr, w, h, FALSE);
  cairo_destroy (cr);
}

/* Files -------------------------------------------------------------------- */

static gboolean
finish_file (cairo_surface_t *surface, cairo_status_t status, const char *tmp, const char *path,
             GError **error)
{
  if (status == CAIRO_STATUS_SUCCESS)
    status = cairo_surface_status (surface);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS)
    {
      g_unlink (tmp);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", path, cairo_status_to_string (status));
      return FALSE;
    }
  if (g_rename (tmp, path) != 0)
    {
      const int e = errno;
      g_unlink (tmp);
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", path, g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

gboolean
lathe_chart_save_png (LatheChart *self, const char *path, int width, int height, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".part", NULL);
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create (s);
  cairo_status_t status;

  g_return_val_if_fail (LATHE_IS_CHART (self), FALSE);
  lathe_chart_draw (self, cr, width, height);
  cairo_destroy (cr);
  status = cairo_surface_write_to_png (s, tmp);
  return finish_file (s, status, tmp, path, error);
}

gboolean
lathe_chart_save_svg (LatheChart *self, const char *path, int width, int height, GError **error)
{
  g_autofree char *tmp = g_strconcat (path, ".part", NULL);
  cairo_surface_t *s = cairo_svg_surface_create (tmp, width, height);
  cairo_t *cr = cairo_create (s);
  cairo_status_t status;

  g_return_val_if_fail (LATHE_IS_CHART (self), FALSE);
  lathe_chart_draw (self, cr, width, height);
  status = cairo_status (cr);
  cairo_destroy (cr);
  cairo_surface_finish (s);
  return finish_file (s, status, tmp, path, error);
}

/* Pointer ------------------------------------------------------------------ */

LatheVariant *
lathe_chart_variant_at (LatheChart *self, double x, double y)
{
  const double w = gtk_widget_get_width (GTK_WIDGET (self));
  const double h = gtk_widget_get_height (GTK_WIDGET (self));
  double best = HIT_R * HIT_R, px, py;
  int found = -1;

  g_return_val_if_fail (LATHE_IS_CHART (self), NULL);
  for (guint i = 0; i < self->xs->len; i++)
    if (lathe_chart_point_position (self, i, w, h, &px, &py))
      {
        const double d = (px - x) * (px - x) + (py - y) * (py - y);
        if (d <= best)
          best = d, found = (int) i;
      }
  if (found < 0)
    return NULL;
  {
    g_autoptr (LatheVariant) v = g_list_model_get_item (self->variants, (guint) found);
    return v; /* the list keeps it */
  }
}

static void
motion_cb (GtkEventControllerMotion *motion, double x, double y, LatheChart *self)
{
  LatheVariant *v = lathe_chart_variant_at (self, x, y);

  if (v != self->hover)
    {
      self->hover = v;
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

static void
leave_cb (GtkEventControllerMotion *motion, LatheChart *self)
{
  self->hover = NULL;
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

static void
pressed_cb (GtkGestureClick *click, int n_press, double x, double y, LatheChart *self)
{
  lathe_chart_set_selected (self, lathe_chart_variant_at (self, x, y));
}

char *
lathe_chart_describe (LatheVariant *v)
{
  GString *s = g_string_new (NULL);

  /* Names and devices come from files: text, never markup. */
  {
    g_autofree char *name = g_markup_escape_text (lathe_variant_get_name (v), -1);
    g_string_append_printf (s, "<b>%s</b>", name);
  }
  if (lathe_variant_get_device (v) != NULL)
    {
      g_autofree char *device = g_markup_escape_text (lathe_variant_get_device (v), -1);
      g_string_append_printf (s, _(" on %s"), device);
    }
  for (int m = 0; m < LATHE_N_METRICS; m++)
    {
      g_autofree char *value = lathe_metric_format (m, lathe_variant_get_metric (v, m));
      g_autofree char *label = g_markup_escape_text (lathe_metric_label (m), -1);
      const char *note = lathe_variant_get_metric_note (v, m);
      g_string_append_printf (s, "\n%s: %s", label, value);
      if (note != NULL)
        g_string_append_printf (s, " (%s)", note);
    }
  return g_string_free (s, FALSE);
}

static gboolean
query_tooltip_cb (GtkWidget *widget, int x, int y, gboolean keyboard, GtkTooltip *tooltip,
                  LatheChart *self)
{
  LatheVariant *v = lathe_chart_variant_at (self, x, y);
  g_autofree char *markup = NULL;

  if (v == NULL)
    return FALSE;
  markup = lathe_chart_describe (v);
  gtk_tooltip_set_markup (tooltip, markup);
  return TRUE;
}

/* Object ------------------------------------------------------------------- */

void
lathe_chart_set_variants (LatheChart *self, GListModel *variants)
{
  g_return_if_fail (LATHE_IS_CHART (self));
  if (self->variants != NULL)
    g_signal_handlers_disconnect_by_data (self->variants, self);
  g_set_object (&self->variants, variants);
  if (variants != NULL)
    g_signal_connect (variants, "items-changed", G_CALLBACK (items_changed_cb), self);
  self->hover = NULL;
  lathe_chart_set_selected (self, NULL);
  recompute (self);
}

void
lathe_chart_set_axes (LatheChart *self, LatheMetric x, LatheMetric y)
{
  g_return_if_fail (LATHE_IS_CHART (self));
  g_return_if_fail (x < LATHE_N_METRICS && y < LATHE_N_METRICS);
  self->x = x;
  self->y = y;
  recompute (self);
}

void
lathe_chart_set_log_scale (LatheChart *self, gboolean x_log, gboolean y_log)
{
  g_return_if_fail (LATHE_IS_CHART (self));
  self->xlog = x_log;
  self->ylog = y_log;
  recompute (self);
}

LatheMetric
lathe_chart_get_x (LatheChart *self)
{
  return self->x;
}

LatheMetric
lathe_chart_get_y (LatheChart *self)
{
  return self->y;
}

LatheVariant *
lathe_chart_get_selected (LatheChart *self)
{
  g_return_val_if_fail (LATHE_IS_CHART (self), NULL);
  return self->selected;
}

void
lathe_chart_set_selected (LatheChart *self, LatheVariant *variant)
{
  g_return_if_fail (LATHE_IS_CHART (self));
  if (g_set_object (&self->selected, variant))
    {
      g_object_notify_by_pspec (G_OBJECT (self), props[PROP_SELECTED]);
      gtk_widget_queue_draw (GTK_WIDGET (self));
    }
}

guint
lathe_chart_get_n_points (LatheChart *self)
{
  g_return_val_if_fail (LATHE_IS_CHART (self), 0);
  return self->n_points;
}

gboolean
lathe_chart_is_on_front (LatheChart *self, guint i)
{
  g_return_val_if_fail (LATHE_IS_CHART (self), FALSE);
  return i < self->front->len && g_array_index (self->front, gboolean, i);
}

static void
lathe_chart_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LatheChart *self = LATHE_CHART (object);

  switch (prop_id)
    {
    case PROP_SELECTED:
      g_value_set_object (value, self->selected);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lathe_chart_dispose (GObject *object)
{
  LatheChart *self = LATHE_CHART (object);

  if (self->variants != NULL)
    g_signal_handlers_disconnect_by_data (self->variants, self);
  g_clear_object (&self->variants);
  g_clear_object (&self->selected);
  self->hover = NULL;
  G_OBJECT_CLASS (lathe_chart_parent_class)->dispose (object);
}

static void
lathe_chart_finalize (GObject *object)
{
  LatheChart *self = LATHE_CHART (object);

  g_array_unref (self->xs);
  g_array_unref (self->ys);
  g_array_unref (self->front);
  G_OBJECT_CLASS (lathe_chart_parent_class)->finalize (object);
}

static void
lathe_chart_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                     int *natural, int *minimum_baseline, int *natural_baseline)
{
  *minimum = orientation == GTK_ORIENTATION_HORIZONTAL ? 320 : 240;
  *natural = orientation == GTK_ORIENTATION_HORIZONTAL ? 640 : 420;
}

static void
lathe_chart_css_changed (GtkWidget *widget, GtkCssStyleChange *change)
{
  GTK_WIDGET_CLASS (lathe_chart_parent_class)->css_changed (widget, change);
  gtk_widget_queue_draw (widget);
}

static void
lathe_chart_class_init (LatheChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = lathe_chart_get_property;
  object_class->dispose = lathe_chart_dispose;
  object_class->finalize = lathe_chart_finalize;
  widget_class->snapshot = lathe_chart_snapshot;
  widget_class->measure = lathe_chart_measure;
  widget_class->css_changed = lathe_chart_css_changed;
  props[PROP_SELECTED] = g_param_spec_object ("selected", NULL, NULL, LATHE_TYPE_VARIANT,
                                              G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY
                                                | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
  gtk_widget_class_set_css_name (widget_class, "chart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
lathe_chart_init (LatheChart *self)
{
  GtkEventController *motion = gtk_event_controller_motion_new ();
  GtkGesture *click = gtk_gesture_click_new ();

  self->xs = g_array_new (FALSE, TRUE, sizeof (double));
  self->ys = g_array_new (FALSE, TRUE, sizeof (double));
  self->front = g_array_new (FALSE, TRUE, sizeof (gboolean));
  self->x = LATHE_METRIC_FILE_MB;
  self->y = LATHE_METRIC_KL_MEAN;
  g_signal_connect (motion, "motion", G_CALLBACK (motion_cb), self);
  g_signal_connect (motion, "leave", G_CALLBACK (leave_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), motion);
  g_signal_connect (click, "pressed", G_CALLBACK (pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (click));
  gtk_widget_set_has_tooltip (GTK_WIDGET (self), TRUE);
  g_signal_connect (self, "query-tooltip", G_CALLBACK (query_tooltip_cb), self);
  gtk_widget_set_focusable (GTK_WIDGET (self), TRUE);
  recompute (self);
}

GtkWidget *
lathe_chart_new (void)
{
  return g_object_new (LATHE_TYPE_CHART, NULL);
}
