/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-tradeoffs"

#include "config.h"

#include <glib/gi18n.h>
#include <string.h>
#include <sys/utsname.h>

#include "lathe-bundle.h"
#include "lathe-io.h"
#include "lathe-json.h"
#include "lathe-remote.h"
#include "lathe-tradeoffs-page.h"

#define EXPORT_W 1200
#define EXPORT_H 800

struct _LatheTradeoffsPage
{
  AdwBin parent_instance;
  LatheWorkspace *workspace;
  GSettings *settings;

  GtkDropDown *x_dropdown;
  GtkDropDown *y_dropdown;
  GtkToggleButton *x_log;
  GtkToggleButton *y_log;
  GtkLabel *count_label;
  GtkStack *chart_stack;
  LatheChart *chart;
  GtkLabel *selected_title;
  GtkListBox *figures_list;
  GtkWidget *selected_actions;
};

G_DEFINE_FINAL_TYPE (LatheTradeoffsPage, lathe_tradeoffs_page, ADW_TYPE_BIN)

enum
{
  OPEN_IN_PLAYGROUND,
  PROFILE_ON_DEVICE,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
show_error (LatheTradeoffsPage *self, const GError *error)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.show-toast", "s", error->message);
}

/* The side panel ------------------------------------------------------------ */

static void
update_selected (LatheTradeoffsPage *self)
{
  LatheVariant *v = lathe_chart_get_selected (self->chart);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->figures_list))) != NULL)
    gtk_list_box_remove (self->figures_list, child);
  gtk_widget_set_visible (GTK_WIDGET (self->figures_list), v != NULL);
  gtk_widget_set_visible (self->selected_actions, v != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "tradeoffs.show-recipe",
                                 v != NULL && !lathe_variant_is_original (v));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "tradeoffs.delete", v != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "tradeoffs.playground", v != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "tradeoffs.save-model", v != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "tradeoffs.export-bundle", v != NULL);
  /* A point measured on a device is a result; its model is what is sent. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "tradeoffs.profile-on-device",
                                 v != NULL && lathe_variant_get_device (v) == NULL);
  if (v == NULL)
    {
      gtk_label_set_text (self->selected_title, _("Click a point to see its figures"));
      return;
    }
  gtk_label_set_text (self->selected_title, lathe_variant_get_name (v));
  for (int m = 0; m < LATHE_N_METRICS; m++)
    {
      g_autofree char *value = lathe_metric_format (m, lathe_variant_get_metric (v, m));
      GtkWidget *row = adw_action_row_new ();
      GtkWidget *label = gtk_label_new (value);
      gtk_widget_add_css_class (label, "numeric");
      /* Text from files and devices: never markup. */
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), lathe_metric_label (m));
      if (lathe_variant_get_metric_note (v, m) != NULL)
        adw_action_row_set_subtitle (ADW_ACTION_ROW (row), lathe_variant_get_metric_note (v, m));
      adw_action_row_add_suffix (ADW_ACTION_ROW (row), label);
      gtk_list_box_append (self->figures_list, row);
    }
  if (lathe_variant_get_device (v) != NULL)
    {
      GtkWidget *row = adw_action_row_new ();
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Measured on"));
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), lathe_variant_get_device (v));
      gtk_list_box_prepend (self->figures_list, row);
    }
}

static void
update_count (LatheTradeoffsPage *self)
{
  GListModel *list = self->workspace ? lathe_workspace_get_variants (self->workspace) : NULL;
  const guint n = list ? g_list_model_get_n_items (list) : 0;
  const guint shown = lathe_chart_get_n_points (self->chart);
  g_autofree char *text = NULL;

  if (n > shown)
    text = g_strdup_printf (ngettext ("%u variant, %u without these figures",
                                      "%u variants, %u without these figures", n), n, n - shown);
  else
    text = g_strdup_printf (ngettext ("%u variant", "%u variants", n), n);
  gtk_label_set_text (self->count_label, text);
  gtk_stack_set_visible_child_name (self->chart_stack, n > 0 ? "chart" : "empty");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "tradeoffs.export", n > 0);
}

static void
variants_changed_cb (GListModel *list, guint pos, guint removed, guint added, LatheTradeoffsPage *self)
{
  update_count (self);
}

static void
selected_cb (LatheChart *chart, GParamSpec *pspec, LatheTradeoffsPage *self)
{
  update_selected (self);
}

/* Axes ---------------------------------------------------------------------- */

static void
axis_cb (GtkDropDown *dropdown, GParamSpec *pspec, LatheTradeoffsPage *self)
{
  const LatheMetric x = gtk_drop_down_get_selected (self->x_dropdown);
  const LatheMetric y = gtk_drop_down_get_selected (self->y_dropdown);

  if (x >= LATHE_N_METRICS || y >= LATHE_N_METRICS)
    return;
  lathe_chart_set_axes (self->chart, x, y);
  if (self->settings != NULL)
    {
      g_settings_set_string (self->settings, "chart-x", lathe_metric_key (x));
      g_settings_set_string (self->settings, "chart-y", lathe_metric_key (y));
    }
  update_count (self);
}

static void
log_cb (LatheTradeoffsPage *self)
{
  lathe_chart_set_log_scale (self->chart, gtk_toggle_button_get_active (self->x_log),
                             gtk_toggle_button_get_active (self->y_log));
}

void
lathe_tradeoffs_page_set_log_scale (LatheTradeoffsPage *self, gboolean x_log, gboolean y_log)
{
  g_return_if_fail (LATHE_IS_TRADEOFFS_PAGE (self));
  gtk_toggle_button_set_active (self->x_log, x_log);
  gtk_toggle_button_set_active (self->y_log, y_log);
}

void
lathe_tradeoffs_page_set_axes (LatheTradeoffsPage *self, LatheMetric x, LatheMetric y)
{
  g_return_if_fail (LATHE_IS_TRADEOFFS_PAGE (self));
  gtk_drop_down_set_selected (self->x_dropdown, x);
  gtk_drop_down_set_selected (self->y_dropdown, y);
}

void
lathe_tradeoffs_page_set_settings (LatheTradeoffsPage *self, GSettings *settings)
{
  g_autofree char *xk = NULL, *yk = NULL;
  LatheMetric x = LATHE_METRIC_FILE_MB, y = LATHE_METRIC_KL_MEAN;

  g_return_if_fail (LATHE_IS_TRADEOFFS_PAGE (self));
  g_set_object (&self->settings, settings);
  g_settings_bind (settings, "chart-x-log", self->x_log, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "chart-y-log", self->y_log, "active", G_SETTINGS_BIND_DEFAULT);
  xk = g_settings_get_string (settings, "chart-x");
  yk = g_settings_get_string (settings, "chart-y");
  lathe_metric_from_key (xk, &x);
  lathe_metric_from_key (yk, &y);
  lathe_tradeoffs_page_set_axes (self, x, y);
}

/* Workspace ----------------------------------------------------------------- */

void
lathe_tradeoffs_page_set_workspace (LatheTradeoffsPage *self, LatheWorkspace *workspace)
{
  g_return_if_fail (LATHE_IS_TRADEOFFS_PAGE (self));
  if (self->workspace != NULL)
    g_signal_handlers_disconnect_by_data (lathe_workspace_get_variants (self->workspace), self);
  g_set_object (&self->workspace, workspace);
  lathe_chart_set_variants (self->chart, workspace ? lathe_workspace_get_variants (workspace) : NULL);
  if (workspace != NULL)
    g_signal_connect_after (lathe_workspace_get_variants (workspace), "items-changed",
                            G_CALLBACK (variants_changed_cb), self);
  update_count (self);
  update_selected (self);
}

LatheChart *
lathe_tradeoffs_page_get_chart (LatheTradeoffsPage *self)
{
  g_return_val_if_fail (LATHE_IS_TRADEOFFS_PAGE (self), NULL);
  return self->chart;
}

gboolean
lathe_tradeoffs_page_export (LatheTradeoffsPage *self, const char *format, const char *path,
                             GError **error)
{
  g_return_val_if_fail (LATHE_IS_TRADEOFFS_PAGE (self), FALSE);
  if (g_strcmp0 (format, "png") == 0)
    return lathe_chart_save_png (self->chart, path, EXPORT_W, EXPORT_H, error);
  if (g_strcmp0 (format, "svg") == 0)
    return lathe_chart_save_svg (self->chart, path, EXPORT_W, EXPORT_H, error);
  if (g_strcmp0 (format, "csv") == 0 && self->workspace != NULL)
    {
      g_autofree char *csv = lathe_workspace_to_csv (self->workspace);
      return lathe_file_write_atomic (path, csv, -1, error);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, _("Nothing to export as %s"), format);
  return FALSE;
}

gboolean
lathe_tradeoffs_page_delete_selected (LatheTradeoffsPage *self, GError **error)
{
  LatheVariant *v = lathe_chart_get_selected (self->chart);
  g_autoptr (LatheVariant) keep = v ? g_object_ref (v) : NULL;

  g_return_val_if_fail (LATHE_IS_TRADEOFFS_PAGE (self), FALSE);
  if (v == NULL || self->workspace == NULL)
    return TRUE;
  return lathe_workspace_remove (self->workspace, keep, error);
}

/* Actions ------------------------------------------------------------------- */

static void
export_chosen_cb (GtkNativeDialog *dialog, int response, LatheTradeoffsPage *self)
{
  const char *format = g_object_get_data (G_OBJECT (dialog), "format");

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      g_autoptr (GError) error = NULL;
      if (path != NULL && !lathe_tradeoffs_page_export (self, format, path, &error))
        show_error (self, error);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static GtkFileChooserNative *
save_dialog (LatheTradeoffsPage *self, const char *title, const char *name)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkFileChooserNative *dialog = gtk_file_chooser_native_new (
    title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"),
    _("_Cancel"));

  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), name);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  return dialog;
}

static void
export_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheTradeoffsPage *self = LATHE_TRADEOFFS_PAGE (widget);
  const char *format = g_variant_get_string (param, NULL);
  g_autofree char *name = g_strdup_printf ("trade-offs.%s", format);
  GtkFileChooserNative *dialog = save_dialog (self, _("Export"), name);

  g_object_set_data_full (G_OBJECT (dialog), "format", g_strdup (format), g_free);
  g_signal_connect (dialog, "response", G_CALLBACK (export_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
show_recipe_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheTradeoffsPage *self = LATHE_TRADEOFFS_PAGE (widget);
  LatheVariant *v = lathe_chart_get_selected (self->chart);
  GtkRoot *root = gtk_widget_get_root (widget);
  g_autoptr (JsonNode) node = NULL;
  g_autofree char *pretty = NULL;
  GtkWidget *dialog, *view, *scroll;

  if (v == NULL || lathe_variant_get_recipe (v) == NULL)
    return;
  node = json_from_string (lathe_variant_get_recipe (v), NULL);
  pretty = node ? lathe_json_to_string (node, TRUE) : g_strdup (lathe_variant_get_recipe (v));
  dialog = adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                   lathe_variant_get_name (v), NULL);
  view = gtk_text_view_new ();
  gtk_text_view_set_editable (GTK_TEXT_VIEW (view), FALSE);
  gtk_text_view_set_monospace (GTK_TEXT_VIEW (view), TRUE);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (GTK_TEXT_VIEW (view)), pretty, -1);
  scroll = gtk_scrolled_window_new ();
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroll), view);
  gtk_scrolled_window_set_min_content_height (GTK_SCROLLED_WINDOW (scroll), 240);
  gtk_scrolled_window_set_min_content_width (GTK_SCROLLED_WINDOW (scroll), 420);
  adw_message_dialog_set_extra_child (ADW_MESSAGE_DIALOG (dialog), scroll);
  adw_message_dialog_add_response (ADW_MESSAGE_DIALOG (dialog), "close", _("_Close"));
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
playground_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheTradeoffsPage *self = LATHE_TRADEOFFS_PAGE (widget);
  LatheVariant *v = lathe_chart_get_selected (self->chart);

  if (v != NULL)
    g_signal_emit (self, signals[OPEN_IN_PLAYGROUND], 0, v);
}

static void
profile_on_device_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheTradeoffsPage *self = LATHE_TRADEOFFS_PAGE (widget);
  LatheVariant *v = lathe_chart_get_selected (self->chart);

  if (v != NULL)
    g_signal_emit (self, signals[PROFILE_ON_DEVICE], 0, v);
}

static void
copied_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LatheTradeoffsPage) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!g_file_copy_finish (G_FILE (source), result, &error))
    show_error (self, error);
}

static void
save_model_chosen_cb (GtkNativeDialog *dialog, int response, LatheTradeoffsPage *self)
{
  LatheVariant *v = lathe_chart_get_selected (self->chart);

  if (response == GTK_RESPONSE_ACCEPT && v != NULL && self->workspace != NULL)
    {
      g_autoptr (GFile) dest = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = lathe_workspace_dup_file (self->workspace, v);
      g_autoptr (GFile) src = g_file_new_for_path (path);
      g_file_copy_async (src, dest, G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, NULL, NULL, NULL, copied_cb,
                         g_object_ref (self));
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

/* Asks where to save something of the selected variant: a file named after
 * it, with this extension. */
static void
ask_save_selected (LatheTradeoffsPage *self, const char *title, const char *extension, GCallback response_cb,
                   void (*setup) (GtkFileChooser *chooser))
{
  LatheVariant *v = lathe_chart_get_selected (self->chart);
  g_autofree char *name = NULL;
  GtkFileChooserNative *dialog;

  if (v == NULL)
    return;
  name = g_strdup_printf ("%s%s", lathe_variant_get_name (v), extension);
  g_strdelimit (name, "/ ·%", '-');
  dialog = save_dialog (self, title, name);
  if (setup != NULL)
    setup (GTK_FILE_CHOOSER (dialog));
  g_signal_connect (dialog, "response", response_cb, self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
save_model_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  ask_save_selected (LATHE_TRADEOFFS_PAGE (widget), _("Save Model"), ".gguf", G_CALLBACK (save_model_chosen_cb),
                     NULL);
}

/* Bundles ---------------------------------------------------------------- */

typedef struct
{
  LatheBundleOptions o;
  char *model, *name, *recipe, *out, *arch;
  char *signer; /* who signed it, once written */
  JsonNode *measurements;
} BundleJob;

static void
bundle_job_free (gpointer p)
{
  BundleJob *j = p;

  g_free (j->model);
  g_free (j->name);
  g_free (j->recipe);
  g_free (j->out);
  g_free (j->arch);
  g_free (j->signer);
  g_clear_pointer (&j->measurements, json_node_unref);
  g_free (j);
}

static void
bundle_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  BundleJob *j = data;
  GError *error = NULL;

  if ((j->signer = lathe_bundle_signer (&j->o, &error)) != NULL
      && lathe_bundle_create (&j->o, j->out, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
lathe_tradeoffs_page_export_bundle_async (LatheTradeoffsPage *self, const char *path, const char *arch,
                                          GCancellable *cancellable, GAsyncReadyCallback callback,
                                          gpointer user_data)
{
  LatheVariant *v = lathe_chart_get_selected (self->chart);
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  BundleJob *j;

  if (v == NULL || self->workspace == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("Select a variant first"));
      return;
    }
  j = g_new0 (BundleJob, 1);
  j->model = lathe_workspace_dup_file (self->workspace, v);
  j->name = g_strdup (lathe_variant_get_name (v));
  j->recipe = g_strdup (lathe_variant_get_recipe (v));
  j->out = g_strdup (path);
  j->arch = g_strdup (arch);
  j->measurements = lathe_variant_dup_metrics (v);
  lathe_bundle_options_init (&j->o);
  j->o.model_path = j->model;
  j->o.name = j->name;
  j->o.recipe_json = j->recipe;
  j->o.arch = j->arch;
  j->o.measurements = j->measurements;
  g_task_set_task_data (task, j, bundle_job_free);
  g_task_run_in_thread (task, bundle_thread);
}

gboolean
lathe_tradeoffs_page_export_bundle_finish (LatheTradeoffsPage *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
bundle_written_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LatheTradeoffsPage *self = LATHE_TRADEOFFS_PAGE (source);
  g_autofree char *path = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *msg = NULL;

  if (!lathe_tradeoffs_page_export_bundle_finish (self, result, &error))
    msg = g_strdup_printf (_("The bundle was not written: %s"), error->message);
  else
    {
      BundleJob *j = g_task_get_task_data (G_TASK (result));
      msg = g_strdup_printf (_("Bundle written to %s, signed by %s"), path, j->signer);
    }
  gtk_widget_activate_action (GTK_WIDGET (self), "win.show-toast", "s", msg);
}

void
lathe_tradeoffs_page_write_bundle (LatheTradeoffsPage *self, const char *path, const char *arch)
{
  g_return_if_fail (LATHE_IS_TRADEOFFS_PAGE (self));
  lathe_tradeoffs_page_export_bundle_async (self, path, arch, NULL, bundle_written_cb, g_strdup (path));
}

/* The architectures a bundle can be made for: those with a lathe-run here,
 * this machine's first. */
static void
add_arch_choice (GtkFileChooser *chooser)
{
  static const char *const known[] = { "x86_64", "aarch64" };
  g_autoptr (GPtrArray) archs = g_ptr_array_new ();
  struct utsname u;

  if (uname (&u) == 0)
    g_ptr_array_add (archs, u.machine);
  for (guint i = 0; i < G_N_ELEMENTS (known); i++)
    {
      g_autofree char *runner = NULL;
      if (archs->len > 0 && strcmp (archs->pdata[0], known[i]) == 0)
        continue;
      if ((runner = lathe_runner_find_for_arch (known[i], NULL)) != NULL)
        g_ptr_array_add (archs, (gpointer) known[i]);
    }
  if (archs->len < 2)
    return; /* nothing to choose */
  g_ptr_array_add (archs, NULL);
  gtk_file_chooser_add_choice (chooser, "arch", _("For"), (const char **) archs->pdata,
                               (const char **) archs->pdata);
  gtk_file_chooser_set_choice (chooser, "arch", archs->pdata[0]);
}

static void
bundle_chosen_cb (GtkNativeDialog *dialog, int response, LatheTradeoffsPage *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      const char *arch = gtk_file_chooser_get_choice (GTK_FILE_CHOOSER (dialog), "arch");
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      if (path != NULL)
        lathe_tradeoffs_page_write_bundle (self, path, arch);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
export_bundle_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  ask_save_selected (LATHE_TRADEOFFS_PAGE (widget), _("Export Bundle"), ".tar.gz", G_CALLBACK (bundle_chosen_cb),
                     add_arch_choice);
}

static void
delete_response_cb (AdwMessageDialog *dialog, const char *response, LatheTradeoffsPage *self)
{
  g_autoptr (GError) error = NULL;

  if (g_strcmp0 (response, "delete") == 0 && !lathe_tradeoffs_page_delete_selected (self, &error))
    show_error (self, error);
}

static void
delete_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheTradeoffsPage *self = LATHE_TRADEOFFS_PAGE (widget);
  LatheVariant *v = lathe_chart_get_selected (self->chart);
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkWidget *dialog;

  if (v == NULL)
    return;
  dialog = adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, _("Delete Variant?"),
                                   NULL);
  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog),
                                  lathe_variant_is_original (v)
                                    ? _("“%s” leaves the chart; the model file stays.")
                                    : _("“%s” and its model file will be deleted."),
                                  lathe_variant_get_name (v));
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Cancel"), "delete",
                                    _("_Delete"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "delete",
                                              ADW_RESPONSE_DESTRUCTIVE);
  g_signal_connect (dialog, "response", G_CALLBACK (delete_response_cb), self);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Object -------------------------------------------------------------------- */

static void
lathe_tradeoffs_page_dispose (GObject *object)
{
  LatheTradeoffsPage *self = LATHE_TRADEOFFS_PAGE (object);

  if (self->workspace != NULL)
    g_signal_handlers_disconnect_by_data (lathe_workspace_get_variants (self->workspace), self);
  g_clear_object (&self->workspace);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), LATHE_TYPE_TRADEOFFS_PAGE);
  G_OBJECT_CLASS (lathe_tradeoffs_page_parent_class)->dispose (object);
}

static void
lathe_tradeoffs_page_class_init (LatheTradeoffsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lathe_tradeoffs_page_dispose;
  signals[OPEN_IN_PLAYGROUND] = g_signal_new ("open-in-playground", G_TYPE_FROM_CLASS (klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                              LATHE_TYPE_VARIANT);
  /* The selected variant, to be measured on a device. */
  signals[PROFILE_ON_DEVICE] = g_signal_new ("profile-on-device", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                             0, NULL, NULL, NULL, G_TYPE_NONE, 1, LATHE_TYPE_VARIANT);
  g_type_ensure (LATHE_TYPE_CHART);
  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PREFIX "/lathe-tradeoffs-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, x_dropdown);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, y_dropdown);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, x_log);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, y_log);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, count_label);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, chart_stack);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, chart);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, selected_title);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, figures_list);
  gtk_widget_class_bind_template_child (widget_class, LatheTradeoffsPage, selected_actions);
  gtk_widget_class_install_action (widget_class, "tradeoffs.export", "s", export_action);
  gtk_widget_class_install_action (widget_class, "tradeoffs.show-recipe", NULL, show_recipe_action);
  gtk_widget_class_install_action (widget_class, "tradeoffs.playground", NULL, playground_action);
  gtk_widget_class_install_action (widget_class, "tradeoffs.save-model", NULL, save_model_action);
  gtk_widget_class_install_action (widget_class, "tradeoffs.delete", NULL, delete_action);
  gtk_widget_class_install_action (widget_class, "tradeoffs.export-bundle", NULL, export_bundle_action);
  gtk_widget_class_install_action (widget_class, "tradeoffs.profile-on-device", NULL, profile_on_device_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Delete, 0, "tradeoffs.delete", NULL);
}

static GtkStringList *
metric_labels (void)
{
  GtkStringList *list = gtk_string_list_new (NULL);

  for (int m = 0; m < LATHE_N_METRICS; m++)
    gtk_string_list_append (list, lathe_metric_label (m));
  return list;
}

static void
lathe_tradeoffs_page_init (LatheTradeoffsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_drop_down_set_model (self->x_dropdown, G_LIST_MODEL (metric_labels ()));
  g_object_unref (gtk_drop_down_get_model (self->x_dropdown));
  gtk_drop_down_set_model (self->y_dropdown, G_LIST_MODEL (metric_labels ()));
  g_object_unref (gtk_drop_down_get_model (self->y_dropdown));
  lathe_tradeoffs_page_set_axes (self, LATHE_METRIC_FILE_MB, LATHE_METRIC_KL_MEAN);
  g_signal_connect (self->x_dropdown, "notify::selected", G_CALLBACK (axis_cb), self);
  g_signal_connect (self->y_dropdown, "notify::selected", G_CALLBACK (axis_cb), self);
  g_signal_connect_swapped (self->x_log, "toggled", G_CALLBACK (log_cb), self);
  g_signal_connect_swapped (self->y_log, "toggled", G_CALLBACK (log_cb), self);
  lathe_chart_set_axes (self->chart, LATHE_METRIC_FILE_MB, LATHE_METRIC_KL_MEAN);
  g_signal_connect (self->chart, "notify::selected", G_CALLBACK (selected_cb), self);
  update_count (self);
  update_selected (self);
}
