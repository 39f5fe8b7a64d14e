/* SPDX-License-Identifier: MIT */
/* The workbench under a real display: the chart drawn to pixels lands its
 * points where the data says; stories260K measured into a workspace from
 * the window (the original, recipes, a sweep cancelled midway), the chart
 * and its exports following; a variant compared side by side in the
 * playground; the workspace back after a restart. */
#include "config.h"

#include <adwaita.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <math.h>
#include <string.h>

#include "lathe-bundle.h"
#include "lathe-chart.h"
#include "lathe-layer-map.h"
#include "lathe-sweep-dialog.h"
#include "gui-test.h"
#include "lathe-test.h"
#include "lathe-window.h"

static GSettings *settings;


/* The chart in pixels ------------------------------------------------------------ */

static LatheVariant *
point (const char *name, double mb, double kl, double tps)
{
  LatheVariant *v = lathe_variant_new (name, name);

  lathe_variant_set_recipe (v, "{}");
  lathe_variant_set_metric (v, LATHE_METRIC_FILE_MB, mb);
  lathe_variant_set_metric (v, LATHE_METRIC_KL_MEAN, kl);
  lathe_variant_set_metric (v, LATHE_METRIC_DECODE_TPS, tps);
  return v;
}

static void
pixel (cairo_surface_t *s, double x, double y, double rgb[3])
{
  const int stride = cairo_image_surface_get_stride (s);
  const guint8 *data = cairo_image_surface_get_data (s);
  const guint32 p = *(const guint32 *) (data + (int) y * stride + 4 * (int) x);

  rgb[0] = ((p >> 16) & 0xff) / 255.0;
  rgb[1] = ((p >> 8) & 0xff) / 255.0;
  rgb[2] = (p & 0xff) / 255.0;
}

static double
distance (const double a[3], const GdkRGBA *b)
{
  return fabs (a[0] - b->red) + fabs (a[1] - b->green) + fabs (a[2] - b->blue);
}

static void
test_chart_pixels (void)
{
  GtkWidget *chart = lathe_chart_new ();
  GtkWidget *window = gtk_window_new ();
  g_autoptr (GListStore) store = g_list_store_new (LATHE_TYPE_VARIANT);
  LatheVariant *vs[4] = { point ("a", 1.0, 0.0, 100), point ("b", 0.4, 0.01, 300), point ("c", 0.3, 0.2, 200),
                          point ("d", 0.9, 0.3, 150) };
  const double W = 600, H = 400;
  cairo_surface_t *s = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, (int) W, (int) H);
  cairo_t *cr = cairo_create (s);
  GdkRGBA accent, bg;
  double px, py, rgb[3], ax, ay, bx, by;

  gtk_window_set_child (GTK_WINDOW (window), chart);
  for (int i = 0; i < 4; i++)
    g_list_store_append (store, vs[i]);
  lathe_chart_set_variants (LATHE_CHART (chart), G_LIST_MODEL (store));
  lathe_chart_set_axes (LATHE_CHART (chart), LATHE_METRIC_FILE_MB, LATHE_METRIC_KL_MEAN);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_assert_true (gtk_style_context_lookup_color (gtk_widget_get_style_context (chart), "accent_bg_color", &accent));
  g_assert_true (gtk_style_context_lookup_color (gtk_widget_get_style_context (chart), "view_bg_color", &bg));
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_assert_cmpuint (lathe_chart_get_n_points (LATHE_CHART (chart)), ==, 4);
  /* a, b and c make the front of size against KL; d is dominated by a. */
  g_assert_true (lathe_chart_is_on_front (LATHE_CHART (chart), 0));
  g_assert_true (lathe_chart_is_on_front (LATHE_CHART (chart), 1));
  g_assert_true (lathe_chart_is_on_front (LATHE_CHART (chart), 2));
  g_assert_false (lathe_chart_is_on_front (LATHE_CHART (chart), 3));
  lathe_chart_draw (LATHE_CHART (chart), cr, W, H);
  cairo_surface_flush (s);
  /* Points land in data order: smaller file further left, more loss higher. */
  g_assert_true (lathe_chart_point_position (LATHE_CHART (chart), 0, W, H, &ax, &ay));
  g_assert_true (lathe_chart_point_position (LATHE_CHART (chart), 1, W, H, &bx, &by));
  g_assert_cmpfloat (bx, <, ax);
  g_assert_cmpfloat (by, <, ay);
  g_assert_cmpfloat (bx, >, 0);
  g_assert_cmpfloat (ax, <, W);
  /* Linear in the data: c (0.3 MB) to a (1.0 MB) spans 7/6 of c to b (0.4 MB)… */
  {
    double cx, cy;
    lathe_chart_point_position (LATHE_CHART (chart), 2, W, H, &cx, &cy);
    g_assert_cmpfloat (fabs ((ax - cx) / (bx - cx) - 7.0), <, 1e-6);
  }
  for (int i = 0; i < 4; i++)
    {
      g_assert_true (lathe_chart_point_position (LATHE_CHART (chart), i, W, H, &px, &py));
      pixel (s, px, py, rgb);
      g_test_message ("point %d at %.0f,%.0f: %.2f %.2f %.2f", i, px, py, rgb[0], rgb[1], rgb[2]);
      if (i < 3)
        g_assert_cmpfloat (distance (rgb, &accent), <, 0.08); /* the front in the accent colour */
      else
        {
          g_assert_cmpfloat (distance (rgb, &accent), >, 0.3); /* faded */
          g_assert_cmpfloat (distance (rgb, &bg), >, 0.1);     /* but drawn */
        }
    }
  /* Away from every point and line: the background. */
  pixel (s, W - 40, H - 70, rgb);
  g_assert_cmpfloat (distance (rgb, &bg), <, 0.02);
  /* A log scale: equal ratios make equal distances; zero sits a decade
   * below the least positive value. */
  lathe_chart_set_log_scale (LATHE_CHART (chart), FALSE, TRUE);
  {
    double y[4];
    for (int i = 0; i < 4; i++)
      g_assert_true (lathe_chart_point_position (LATHE_CHART (chart), i, W, H, &px, &y[i]));
    g_assert_cmpfloat (fabs ((y[1] - y[2]) / (y[2] - y[3]) - log10 (20.0) / log10 (1.5)), <, 1e-6);
    g_assert_cmpfloat (fabs ((y[0] - y[1]) / (y[1] - y[2]) - 1.0 / log10 (20.0)), <, 1e-6);
  }
  lathe_chart_set_log_scale (LATHE_CHART (chart), FALSE, FALSE);
  /* Other axes: decode speed (more is better) against KL. */
  lathe_chart_set_axes (LATHE_CHART (chart), LATHE_METRIC_DECODE_TPS, LATHE_METRIC_KL_MEAN);
  g_assert_true (lathe_chart_is_on_front (LATHE_CHART (chart), 0));
  g_assert_true (lathe_chart_is_on_front (LATHE_CHART (chart), 1));
  g_assert_false (lathe_chart_is_on_front (LATHE_CHART (chart), 2));
  g_assert_false (lathe_chart_is_on_front (LATHE_CHART (chart), 3));
  /* A variant without the figure has no point. */
  lathe_variant_set_metric (vs[3], LATHE_METRIC_DECODE_TPS, NAN);
  lathe_chart_set_axes (LATHE_CHART (chart), LATHE_METRIC_DECODE_TPS, LATHE_METRIC_KL_MEAN);
  g_assert_cmpuint (lathe_chart_get_n_points (LATHE_CHART (chart)), ==, 3);
  g_assert_false (lathe_chart_point_position (LATHE_CHART (chart), 3, W, H, &px, &py));
  /* Removing the selected variant clears the selection. */
  lathe_chart_set_selected (LATHE_CHART (chart), vs[1]);
  g_list_store_remove (store, 1);
  g_assert_null (lathe_chart_get_selected (LATHE_CHART (chart)));
  cairo_destroy (cr);
  cairo_surface_destroy (s);
  for (int i = 0; i < 4; i++)
    g_object_unref (vs[i]);
  gtk_window_destroy (GTK_WINDOW (window));
}

/* The window -------------------------------------------------------------------- */

static gboolean
job_idle (gpointer data)
{
  return !lathe_session_get_job_running (lathe_window_get_session (data));
}

static gboolean
has_bundle_toast (gpointer window)
{
  const char *t = lathe_window_get_last_toast (window);
  return t != NULL && (g_str_has_prefix (t, "Bundle written") || g_str_has_prefix (t, "The bundle was not"));
}

static gboolean
job_idle_session (gpointer data)
{
  return !lathe_session_get_job_running (data);
}

static guint
n_variants (LatheWindow *win)
{
  return g_list_model_get_n_items (lathe_workspace_get_variants (lathe_session_get_workspace (
    lathe_window_get_session (win))));
}

typedef struct
{
  LatheWindow *win;
  guint n;
} Count;

static gboolean
has_variants (gpointer data)
{
  Count *c = data;

  return n_variants (c->win) >= c->n;
}

static void
job_done_cb (LatheSession *session, GError *error, gpointer user)
{
  if (error != NULL)
    g_error ("the job failed: %s", error->message);
}

static LatheWindow *
open_model (const char *path)
{
  return gui_test_open_model (settings, path);
}

/* Every file in the variants folder belongs to a variant: nothing half-made. */
static void
assert_no_stray_files (LatheWorkspace *ws)
{
  g_autofree char *dir = g_build_filename (lathe_workspace_get_dir (ws), "variants", NULL);
  g_autoptr (GDir) it = g_dir_open (dir, 0, NULL);
  const char *name;

  while (it != NULL && (name = g_dir_read_name (it)) != NULL)
    {
      g_autofree char *rel = g_strdup_printf ("variants/%s", name);
      g_autofree char *id = g_str_has_suffix (name, ".json") ? g_strndup (name, strlen (name) - 5) : NULL;
      gboolean found = FALSE;
      GListModel *list = lathe_workspace_get_variants (ws);
      /* Each variant is its figures (ID.json) and its model file. */
      for (guint i = 0; i < g_list_model_get_n_items (list); i++)
        {
          g_autoptr (LatheVariant) v = g_list_model_get_item (list, i);
          found |= id != NULL ? g_strcmp0 (lathe_variant_get_id (v), id) == 0
                              : g_strcmp0 (lathe_variant_get_file (v), rel) == 0;
        }
      if (!found)
        g_error ("%s/%s belongs to no variant", dir, name);
    }
}

static gboolean
file_starts_with (const char *path, const char *prefix)
{
  g_autofree char *text = NULL;
  gsize len;

  return g_file_get_contents (path, &text, &len, NULL) && len > strlen (prefix)
         && memcmp (text, prefix, strlen (prefix)) == 0;
}

/* The recipe editor: the estimate follows the settings, bad settings say
 * why inline, and Apply measures two recipes into the workspace. */
static void
apply_from_compress_page (LatheWindow *win)
{
  LatheCompressPage *cp = lathe_window_get_compress_page (win);
  LatheSession *session = lathe_window_get_session (win);
  g_autoptr (GError) error = NULL;
  guint64 q8, q4, fewer_layers;
  double measured;

  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "compress");
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "compress");
  lathe_compress_page_set_quantization (cp, "Q8_0", FALSE);
  lathe_compress_page_set_pruning (cp, "none", 0);
  lathe_compress_page_set_name (cp, "Q8_0");
  q8 = lathe_compress_page_get_estimate (cp);
  g_assert_null (lathe_compress_page_get_error (cp));
  lathe_compress_page_set_pruning (cp, "layers", 1);
  fewer_layers = lathe_compress_page_get_estimate (cp);
  g_assert_cmpuint (fewer_layers, <, q8);
  {
    g_autofree char *json = lathe_compress_page_dup_recipe (cp);
    g_assert_nonnull (strstr (json, "\"method\":\"layers\""));
    g_assert_nonnull (strstr (json, "\"calibration\""));
  }
  lathe_compress_page_set_pruning (cp, "none", 0);
  /* A grid type calibrates on the evaluation text. */
  lathe_compress_page_set_quantization (cp, "IQ2_XXS", FALSE);
  g_assert_cmpuint (lathe_compress_page_get_estimate (cp), >, 0);
  g_assert_null (lathe_compress_page_get_error (cp));
  {
    g_autofree char *json = lathe_compress_page_dup_recipe (cp);
    g_assert_nonnull (strstr (json, "\"type\":\"IQ2_XXS\""));
    g_assert_nonnull (strstr (json, "\"calibration\""));
  }
  /* stories260K's rows of 64 are not whole 256-weight blocks: said, with the type they take. */
  g_assert_nonnull (lathe_compress_page_get_fallback (cp));
  g_assert_nonnull (strstr (lathe_compress_page_get_fallback (cp), "not whole IQ2_XXS blocks"));
  g_assert_nonnull (strstr (lathe_compress_page_get_fallback (cp), "IQ4_NL"));
  gui_test_screenshot (GTK_WIDGET (win), "page-compress-grid.png");
  lathe_compress_page_set_quantization (cp, "Q8_0", FALSE);
  lathe_compress_page_set_exit (cp, 0.9, 2);
  lathe_compress_page_set_skip_layers (cp, "0-4");
  g_assert_cmpuint (lathe_compress_page_get_estimate (cp), ==, 0);
  g_assert_nonnull (strstr (lathe_compress_page_get_error (cp), "conditional.skip_layers"));
  g_assert_false (gtk_widget_activate_action (GTK_WIDGET (cp), "compress.apply", NULL)
                  && lathe_session_get_job_running (session));
  gui_test_screenshot (GTK_WIDGET (win), "page-compress-error.png");
  lathe_compress_page_set_skip_layers (cp, "");
  lathe_compress_page_set_exit (cp, 1, 0);
  g_assert_cmpuint (lathe_compress_page_get_estimate (cp), ==, q8);
  gui_test_screenshot (GTK_WIDGET (win), "page-compress.png");
  g_assert_true (lathe_compress_page_apply (cp, &error));
  g_assert_no_error (error);
  gui_test_wait_until (job_idle, win, "the Q8_0 measurement");
  measured = lathe_variant_get_metric (lathe_workspace_find (lathe_session_get_workspace (session), "Q8_0"),
                                       LATHE_METRIC_FILE_MB);
  g_test_message ("Q8_0: estimated %.6f MB, written %.6f MB", q8 / 1e6, measured);
  g_assert_cmpfloat (fabs (measured * 1e6 - (double) q8), <, 0.02 * measured * 1e6);
  lathe_compress_page_set_quantization (cp, "Q4_0", TRUE);
  lathe_compress_page_set_name (cp, "Q4_0");
  q4 = lathe_compress_page_get_estimate (cp);
  g_assert_cmpuint (q4, <, q8);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (cp), "compress.apply", NULL));
  g_assert_true (lathe_session_get_job_running (session));
  gui_test_wait_until (job_idle, win, "the Q4_0 measurement");
}

/* Mixed precision: the sensitivity measured in the background, then a
 * bits-per-weight target gives a plan within budget, shown in the map. */
static void
mixed_precision (LatheWindow *win)
{
  LatheCompressPage *cp = lathe_window_get_compress_page (win);
  LatheSession *session = lathe_window_get_session (win);
  LatheModel *model = lathe_session_get_model (session);
  const double budget = 8.0 * (double) lathe_model_get_n_params (model) / 8.0;
  const double overhead = (double) lathe_model_get_file_size (model)
                          - (double) lk_model_tensor_bytes (lathe_model_get_engine (model));
  LatheLayerMap *map = lathe_model_page_get_layer_map (lathe_window_get_model_page (win));
  g_autofree char *hover = NULL;
  LatheVariant *v;

  gui_test_settle ();
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (cp), "compress.measure-sensitivity", NULL));
  g_assert_true (lathe_session_get_job_running (session));
  gui_test_wait_until (job_idle, win, "the sensitivity table");
  {
    g_autofree char *table = lathe_workspace_dup_sensitivity (lathe_session_get_workspace (session));
    g_assert_nonnull (table);
  }
  /* The model page's map now tells what each type would cost. */
  hover = lathe_layer_map_describe (map, 0, 0);
  g_assert_nonnull (strstr (hover, "KL added alone: "));
  g_assert_nonnull (strstr (hover, "Q4_0"));
  lathe_compress_page_set_quantization (cp, "Q8_0", FALSE);
  lathe_compress_page_set_target_bpw (cp, 8.0);
  lathe_compress_page_set_name (cp, "mixed 8 bpw");
  g_test_message ("estimate at 8 bpw: %" G_GUINT64_FORMAT " bytes, budget %.0f + %.0f", 
                  lathe_compress_page_get_estimate (cp), budget, overhead);
  g_assert_null (lathe_compress_page_get_error (cp));
  g_assert_cmpfloat ((double) lathe_compress_page_get_estimate (cp), <=, budget + overhead);
  gui_test_screenshot (GTK_WIDGET (win), "page-compress-mixed.png");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (cp), "compress.apply", NULL));
  gui_test_wait_until (job_idle, win, "the mixed-precision measurement");
  v = lathe_workspace_find (lathe_session_get_workspace (session), "mixed 8 bpw");
  g_assert_nonnull (v);
  g_assert_cmpfloat (lathe_variant_get_metric (v, LATHE_METRIC_BPW), <=, 8.0);
  lathe_compress_page_set_target_bpw (cp, 0);
}

static gboolean
not_busy (gpointer data)
{
  return !lathe_playground_page_get_busy (data);
}

static gboolean
variant_ready (gpointer data)
{
  return lathe_playground_page_get_variant_ready (data);
}

static void
test_workbench (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *text = model ? lathe_test_shared ("eval/tinystories-valid-head.txt") : NULL;
  g_autofree char *png = g_build_filename (lathe_test_tmpdir (), "chart.png", NULL);
  g_autofree char *svg = g_build_filename (lathe_test_tmpdir (), "chart.svg", NULL);
  g_autofree char *csv = g_build_filename (lathe_test_tmpdir (), "table.csv", NULL);
  g_autofree char *csv_text = NULL;
  g_autofree char *ws_dir = NULL, *q4_path = NULL;
  LatheWindow *win;
  LatheSession *session;
  LatheTradeoffsPage *tp;
  LatheChart *chart;
  LathePlaygroundPage *pp;
  LatheSweepDialog *sweep;
  g_autoptr (GError) error = NULL;
  Count count;

  if (text == NULL)
    return;
  g_settings_set_string (settings, "eval-text", text);
  win = open_model (model);
  session = lathe_window_get_session (win);
  g_signal_connect (session, "job-done", G_CALLBACK (job_done_cb), NULL);
  ws_dir = g_strdup (lathe_workspace_get_dir (lathe_session_get_workspace (session)));
  g_assert_true (g_str_has_prefix (ws_dir, lathe_test_tmpdir ())); /* the user's data folder */
  {
    g_autofree char *canon = g_canonicalize_filename (text, NULL);
    g_assert_cmpstr (lathe_workspace_get_eval_text (lathe_session_get_workspace (session)), ==, canon);
  }
  g_assert_true (lathe_workspace_set_eval (lathe_session_get_workspace (session), 64, 6, NULL));
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "tradeoffs");
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "tradeoffs");
  tp = lathe_window_get_tradeoffs_page (win);
  chart = lathe_tradeoffs_page_get_chart (tp);
  gui_test_screenshot (GTK_WIDGET (win), "page-tradeoffs-empty.png");

  /* The original, then two recipes: three points, all on the front. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.measure-original", NULL));
  gui_test_wait_until (job_idle, win, "the original's measurement");
  g_assert_cmpuint (n_variants (win), ==, 1);
  apply_from_compress_page (win);
  g_assert_cmpuint (n_variants (win), ==, 3);
  g_assert_cmpuint (lathe_chart_get_n_points (chart), ==, 3);
  for (guint i = 0; i < 3; i++)
    g_assert_true (lathe_chart_is_on_front (chart, i));
  mixed_precision (win);
  g_assert_cmpuint (n_variants (win), ==, 4);
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "tradeoffs");
  lathe_chart_set_selected (chart, lathe_workspace_find (lathe_session_get_workspace (session), "Q8_0"));
  gui_test_screenshot (GTK_WIDGET (win), "page-tradeoffs.png");
  /* Switching axes: decode speed against perplexity. */
  lathe_tradeoffs_page_set_axes (tp, LATHE_METRIC_DECODE_TPS, LATHE_METRIC_PERPLEXITY);
  g_assert_cmpint (lathe_chart_get_x (chart), ==, LATHE_METRIC_DECODE_TPS);
  g_assert_cmpint (lathe_chart_get_y (chart), ==, LATHE_METRIC_PERPLEXITY);
  g_assert_cmpuint (lathe_chart_get_n_points (chart), ==, 4);
  {
    g_autofree char *x = g_settings_get_string (settings, "chart-x");
    g_assert_cmpstr (x, ==, "decode_tps");
  }
  gui_test_screenshot (GTK_WIDGET (win), "page-tradeoffs-speed.png");
  lathe_tradeoffs_page_set_axes (tp, LATHE_METRIC_FILE_MB, LATHE_METRIC_KL_MEAN);

  /* Exports. */
  g_assert_true (lathe_tradeoffs_page_export (tp, "png", png, &error));
  g_assert_true (lathe_tradeoffs_page_export (tp, "svg", svg, &error));
  g_assert_true (lathe_tradeoffs_page_export (tp, "csv", csv, &error));
  g_assert_no_error (error);
  g_assert_true (file_starts_with (png, "\x89PNG"));
  g_assert_true (file_starts_with (svg, "<?xml"));
  g_assert_true (g_file_get_contents (csv, &csv_text, NULL, NULL));
  g_assert_true (g_str_has_prefix (csv_text, "id,name,device,file,file_mb"));
  {
    g_auto (GStrv) lines = g_strsplit (csv_text, "\n", -1);
    g_assert_cmpuint (g_strv_length (lines), ==, 6);
  }

  /* A sweep, cancelled once its first point is in: the window keeps
   * working, and no half-made file stays. */
  sweep = lathe_sweep_dialog_new (GTK_WINDOW (win), session);
  gtk_window_present (GTK_WINDOW (sweep));
  lathe_sweep_dialog_set_grid (sweep, "Q5_0,Q5_1,Q4_1", "0, 0.5", "1");
  /* Speed measured too: each point takes a while, so the sweep is surely
   * still running when cancelled. */
  lathe_sweep_dialog_set_measure_speed (sweep, TRUE);
  g_assert_cmpint (lathe_sweep_dialog_get_count (sweep), ==, 6);
  gui_test_screenshot (GTK_WIDGET (sweep), "dialog-sweep.png");
  g_assert_true (lathe_sweep_dialog_run (sweep, &error));
  g_assert_no_error (error);
  count.win = win;
  count.n = 5;
  gui_test_wait_until (has_variants, &count, "the sweep's first point");
  gui_test_screenshot (GTK_WIDGET (win), "sweep-running.png");
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "model");
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "model");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.cancel-job", NULL));
  gui_test_wait_until (job_idle, win, "the sweep to stop");
  g_test_message ("the cancelled sweep left %u of 6 points", n_variants (win) - 4);
  g_assert_cmpuint (n_variants (win), >=, 5);
  g_assert_cmpuint (n_variants (win), <, 10);
  assert_no_stray_files (lathe_session_get_workspace (session));
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "tradeoffs");

  /* Side by side: the original and Q4_0, greedy, from the same prompt. */
  q4_path = lathe_workspace_dup_file (lathe_session_get_workspace (session),
                                      lathe_workspace_find (lathe_session_get_workspace (session), "Q4_0"));
  lathe_chart_set_selected (chart, lathe_workspace_find (lathe_session_get_workspace (session), "Q4_0"));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (tp), "tradeoffs.playground", NULL));
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "playground");
  pp = lathe_window_get_playground_page (win);
  gui_test_wait_until (variant_ready, pp, "the variant to load");
  g_settings_set_double (settings, "temperature", 0.0);
  g_settings_set_int (settings, "max-tokens", 120);
  lathe_playground_page_set_prompt (pp, "Once upon a time");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (pp), "playground.generate", NULL));
  gui_test_wait_until (not_busy, pp, "both generations");
  {
    g_autofree char *a = lathe_playground_page_dup_output (pp);
    g_autofree char *b = lathe_playground_page_dup_variant_output (pp);
    const int d = lathe_playground_page_get_divergence (pp);
    g_assert_true (g_str_has_prefix (a, "Once upon a time"));
    g_assert_true (g_str_has_prefix (b, "Once upon a time"));
    g_assert_cmpuint (strlen (b), >, 40);
    g_test_message ("the outputs part after %d characters", d);
    if (d >= 0)
      {
        /* They agree up to the mark and differ right after it. */
        const int p = (int) g_utf8_strlen ("Once upon a time", -1);
        g_assert_true (strncmp (a, b, (gsize) (p + d)) == 0);
        g_assert_true (a[p + d] != b[p + d]);
      }
    else
      g_assert_cmpstr (a, ==, b);
  }
  gui_test_screenshot (GTK_WIDGET (win), "page-playground-compare.png");

  /* A deployment bundle of the selected point, written in the background;
   * the toast says where it went and who signed it. */
  {
    g_autofree char *bundle = g_build_filename (lathe_test_tmpdir (), "q4.tar.gz", NULL);
    g_autoptr (GString) report = g_string_new (NULL);
    gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "tradeoffs");
    lathe_tradeoffs_page_write_bundle (tp, bundle, NULL);
    gui_test_wait_until (has_bundle_toast, win, "the bundle's toast");
    for (int i = 0; i < 3; i++)
      gui_test_settle (); /* its animation */
    g_test_message ("toast: %s", lathe_window_get_last_toast (win));
    g_assert_nonnull (strstr (lathe_window_get_last_toast (win), bundle));
    g_assert_nonnull (strstr (lathe_window_get_last_toast (win), ", signed by "));
    g_assert_nonnull (strstr (lathe_window_get_last_toast (win), "(SHA256:"));
    gui_test_screenshot (GTK_WIDGET (win), "toast-bundle-signed.png");
    g_assert_true (lathe_bundle_verify (bundle, NULL, report, NULL, NULL, &error));
    g_assert_no_error (error);
    g_test_message ("bundle: %s", report->str);
    g_assert_nonnull (strstr (report->str, "signature: good"));
  }

  /* Deleting a variant deletes its file. */
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "tradeoffs");
  g_assert_true (g_file_test (q4_path, G_FILE_TEST_EXISTS));
  g_assert_true (lathe_tradeoffs_page_delete_selected (tp, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (q4_path, G_FILE_TEST_EXISTS));
  count.n = n_variants (win);
  gtk_window_destroy (GTK_WINDOW (win));
  gui_test_settle ();

  /* The next start: the last model opens with its workspace, in the dark
   * style the chart follows. */
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), ADW_COLOR_SCHEME_FORCE_DARK);
  win = lathe_window_new (NULL, settings);
  gtk_window_set_default_size (GTK_WINDOW (win), 1200, 760);
  gtk_window_present (GTK_WINDOW (win));
  lathe_window_open_default (win);
  gui_test_wait_until (gui_test_model_loaded, win, "the last model to reopen");
  session = lathe_window_get_session (win);
  g_assert_cmpstr (lathe_workspace_get_dir (lathe_session_get_workspace (session)), ==, ws_dir);
  g_assert_cmpuint (n_variants (win), ==, count.n);
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "tradeoffs");
  lathe_tradeoffs_page_set_log_scale (lathe_window_get_tradeoffs_page (win), FALSE, TRUE);
  gui_test_screenshot (GTK_WIDGET (win), "page-tradeoffs-dark.png");
  lathe_tradeoffs_page_set_log_scale (lathe_window_get_tradeoffs_page (win), FALSE, FALSE);
  adw_style_manager_set_color_scheme (adw_style_manager_get_default (), ADW_COLOR_SCHEME_DEFAULT);

  /* A variant whose perplexity overflowed: a point (its size and KL are
   * finite), "—" with the reason in the side panel and the tooltip. */
  {
    LatheWorkspace *ws = lathe_session_get_workspace (session);
    g_autoptr (LatheVariant) v = lathe_variant_new (NULL, "Head scaled");
    LatheChart *c = lathe_tradeoffs_page_get_chart (lathe_window_get_tradeoffs_page (win));
    g_autofree char *tip = NULL;
    lathe_variant_set_recipe (v, "{\"lathe_recipe\":1,\"quantize\":{\"type\":\"Q8_0\"}}");
    lathe_variant_set_metric (v, LATHE_METRIC_FILE_MB, 0.5);
    lathe_variant_set_metric (v, LATHE_METRIC_KL_MEAN, 3.5);
    lathe_variant_set_measured (v, LATHE_METRIC_PERPLEXITY, INFINITY);
    g_assert_true (lathe_workspace_add (ws, v, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (n_variants (win), ==, count.n + 1);
    lathe_chart_set_selected (c, v);
    gui_test_screenshot (GTK_WIDGET (win), "page-tradeoffs-unmeasurable.png");
    tip = lathe_chart_describe (v);
    g_test_message ("tooltip: %s", tip);
    g_assert_nonnull (strstr (tip, "Perplexity: — (measured, but not a finite number"));
    g_assert_true (lathe_workspace_remove (ws, v, &error));
    g_assert_no_error (error);
  }

  /* Closing the window mid-sweep cancels it; the finished points stay and
   * no half-made file does. */
  {
    g_autoptr (GPtrArray) grid = NULL;
    const char *types[] = { "Q5_1", "Q4_1", "Q5_0", NULL };
    g_autoptr (LatheWorkspace) ws = g_object_ref (lathe_session_get_workspace (session));
    g_object_ref (session);
    grid = lathe_sweep_recipes (types, NULL, 0, NULL, 0, 0, NULL);
    g_assert_true (lathe_session_measure (session, grid, NULL, &error));
    g_assert_no_error (error);
    count.n = n_variants (win);
    gtk_window_close (GTK_WINDOW (win));
    gui_test_wait_until (job_idle_session, session, "the sweep to end with the window");
    g_assert_cmpuint (g_list_model_get_n_items (lathe_workspace_get_variants (ws)), <, count.n + 3);
    assert_no_stray_files (ws);
    g_object_unref (session);
  }
  gui_test_settle ();
}

/* Sample models: downloaded from a server of the test's own on 127.0.0.1
 * standing in for the hub, opened once there; offline said plainly. */
typedef struct
{
  char *data;
  gsize len;
  char *sha256;
} Served;

static void
hub_handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  Served *s = user;
  g_autofree char *etag = g_strdup_printf ("\"%s\"", s->sha256);

  if (strcmp (path, "/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf") != 0)
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }
  soup_message_headers_replace (soup_server_message_get_response_headers (msg), "X-Linked-Etag", etag);
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_STATIC, s->data, s->len);
}

static gboolean
not_downloading (gpointer data)
{
  return !lathe_welcome_page_get_downloading (data);
}

static void
test_samples (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autoptr (SoupServer) server = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *base = NULL, *saved = NULL, *dir = NULL;
  GSList *uris;
  Served s = { NULL, 0, NULL };
  LatheWindow *win;
  LatheWelcomePage *wp;

  if (model == NULL)
    return;
  g_assert_true (g_file_get_contents (model, &s.data, &s.len, NULL));
  s.sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guint8 *) s.data, s.len);
  server = soup_server_new (NULL, NULL);
  soup_server_add_handler (server, NULL, hub_handler, &s, NULL);
  g_assert_true (soup_server_listen_local (server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  uris = soup_server_get_uris (server);
  base = g_uri_to_string (uris->data);
  g_slist_free_full (uris, (GDestroyNotify) g_uri_unref);

  g_settings_reset (settings, "last-model");
  g_settings_reset (settings, "recent-models");
  win = lathe_window_new (NULL, settings);
  gtk_window_set_default_size (GTK_WINDOW (win), 1200, 760);
  gtk_window_present (GTK_WINDOW (win));
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "welcome");
  wp = lathe_window_get_welcome_page (win);
  gui_test_screenshot (GTK_WIDGET (win), "page-welcome-samples.png");

  /* Offline: the hub cannot be reached, and the row says so. */
  g_setenv ("HF_ENDPOINT", "http://127.0.0.1:1", TRUE);
  g_assert_true (lathe_welcome_page_download_sample (wp, "stories260k"));
  gui_test_wait_until (not_downloading, wp, "the failed download");
  g_test_message ("%s", lathe_welcome_page_get_sample_error (wp, "stories260k"));
  g_assert_nonnull (strstr (lathe_welcome_page_get_sample_error (wp, "stories260k"), "offline"));
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "welcome");

  /* Through the mirror: downloaded, checked, opened. */
  g_setenv ("HF_ENDPOINT", base, TRUE);
  g_assert_true (lathe_welcome_page_download_sample (wp, "stories260k"));
  gui_test_wait_until (gui_test_model_loaded, win, "the downloaded sample to open");
  g_unsetenv ("HF_ENDPOINT");
  dir = g_build_filename (lathe_test_tmpdir (), "lathe", "models", NULL);
  saved = g_build_filename (dir, "stories260K.gguf", NULL);
  g_assert_true (g_file_test (saved, G_FILE_TEST_IS_REGULAR));
  {
    g_autoptr (GFile) file = g_file_new_for_path (saved);
    g_autoptr (GFile) open = g_file_new_for_path (lathe_model_get_path (lathe_session_get_model (
      lathe_window_get_session (win))));
    g_assert_true (g_file_equal (file, open));
  }
  g_assert_null (lathe_welcome_page_get_sample_error (wp, "stories260k"));
  gtk_window_destroy (GTK_WINDOW (win));
  gui_test_settle ();
  soup_server_disconnect (server);
  g_free (s.data);
  g_free (s.sha256);
}

/* A workspace opened from elsewhere brings its model, and reopens at the
 * next start; a damaged one is reported. */
static void
error_cb (LatheSession *session, GError *error, char **message)
{
  g_free (*message);
  *message = g_strdup (error->message);
}

static void
test_open_workspace (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "elsewhere", NULL);
  g_autofree char *message = NULL;
  g_autoptr (LatheWorkspace) ws = NULL;
  g_autoptr (GError) error = NULL;
  LatheWindow *win;

  if (model == NULL)
    return;
  ws = lathe_workspace_create (dir, model, NULL, &error);
  g_assert_no_error (error);
  win = lathe_window_new (NULL, settings);
  gtk_window_present (GTK_WINDOW (win));
  g_assert_true (lathe_session_open_workspace (lathe_window_get_session (win), dir, &error));
  gui_test_wait_until (gui_test_model_loaded, win, "the workspace's model");
  g_assert_cmpstr (lathe_workspace_get_dir (lathe_session_get_workspace (lathe_window_get_session (win))), ==,
                   lathe_workspace_get_dir (ws));
  gtk_window_destroy (GTK_WINDOW (win));
  win = lathe_window_new (NULL, settings);
  gtk_window_present (GTK_WINDOW (win));
  lathe_window_open_default (win);
  gui_test_wait_until (gui_test_model_loaded, win, "the last model");
  g_assert_cmpstr (lathe_workspace_get_dir (lathe_session_get_workspace (lathe_window_get_session (win))), ==,
                   lathe_workspace_get_dir (ws));
  gtk_window_destroy (GTK_WINDOW (win));
  /* Damaged: the model still opens, the window says why the workspace did not. */
  {
    g_autofree char *json = g_build_filename (dir, "workspace.json", NULL);
    g_assert_true (g_file_set_contents (json, "{\"lathe_workspace\": 1, \"source\": 3}", -1, NULL));
  }
  win = lathe_window_new (NULL, settings);
  g_signal_connect (lathe_window_get_session (win), "error", G_CALLBACK (error_cb), &message);
  gtk_window_present (GTK_WINDOW (win));
  lathe_window_open_default (win);
  gui_test_wait_until (gui_test_model_loaded, win, "the model with a damaged workspace");
  g_assert_nonnull (message);
  g_assert_nonnull (strstr (message, "workspace.json"));
  gtk_window_destroy (GTK_WINDOW (win));
  gui_test_settle ();
}

int
main (int argc, char **argv)
{
  /* Workspaces go to the user's data folder: a temporary one here. */
  g_setenv ("XDG_DATA_HOME", lathe_test_tmpdir (), TRUE);
  gtk_test_init (&argc, &argv, NULL);
  lathe_test_use_signing_key ();
  adw_init ();
  settings = g_settings_new ("io.github.lathe.Lathe");
  g_test_add_func ("/lathe/gui/chart-pixels", test_chart_pixels);
  g_test_add_func ("/lathe/gui/samples", test_samples);
  g_test_add_func ("/lathe/gui/workbench", test_workbench);
  g_test_add_func ("/lathe/gui/open-workspace", test_open_workspace);
  return g_test_run ();
}
