/* SPDX-License-Identifier: MIT */
/* The window's actions, and the one function that enables them. */
#define G_LOG_DOMAIN "lathe-window"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-sweep-dialog.h"
#include "lathe-window-private.h"

static void
file_chosen_cb (GtkNativeDialog *dialog, int response, LatheWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      if (file != NULL)
        lathe_window_open_file (self, file);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
open_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheWindow *self = LATHE_WINDOW (widget);
  GtkFileChooserNative *dialog;
  GtkFileFilter *models, *all;

  dialog = gtk_file_chooser_native_new (_("Open Model"), GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"), _("_Cancel"));
  models = gtk_file_filter_new ();
  gtk_file_filter_set_name (models, _("Models (GGUF, llama2.c)"));
  gtk_file_filter_add_pattern (models, "*.gguf");
  gtk_file_filter_add_pattern (models, "*.bin");
  all = gtk_file_filter_new ();
  gtk_file_filter_set_name (all, _("All Files"));
  gtk_file_filter_add_pattern (all, "*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), models);
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), all);
  g_object_unref (models);
  g_object_unref (all);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (file_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
open_folder_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheWindow *self = LATHE_WINDOW (widget);
  GtkFileChooserNative *dialog;

  dialog = gtk_file_chooser_native_new (_("Open a Hugging Face Checkpoint Folder"), GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Open"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (file_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
open_recent_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  g_autoptr (GFile) file = g_file_new_for_path (g_variant_get_string (param, NULL));

  lathe_window_open_file (LATHE_WINDOW (widget), file);
}

static void
show_page_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  lathe_window_set_visible_page (LATHE_WINDOW (widget), g_variant_get_string (param, NULL));
}

static void
show_toast_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  lathe_window_show_toast (LATHE_WINDOW (widget), g_variant_get_string (param, NULL));
}

static void
cancel_job_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  lathe_session_cancel_job (LATHE_WINDOW (widget)->session);
}

static void
start_measure (LatheWindow *self, GPtrArray *recipes)
{
  g_autoptr (GError) error = NULL;

  if (!lathe_session_measure (self->session, recipes, NULL, &error))
    lathe_window_show_toast (self, error->message);
}

static void
measure_original_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  g_autoptr (GPtrArray) recipes = g_ptr_array_new ();

  g_ptr_array_add (recipes, NULL);
  start_measure (LATHE_WINDOW (widget), recipes);
}

static void
sweep_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheWindow *self = LATHE_WINDOW (widget);

  gtk_window_present (GTK_WINDOW (lathe_sweep_dialog_new (GTK_WINDOW (self), self->session)));
}

static void
eval_text_chosen_cb (GtkNativeDialog *dialog, int response, LatheWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      g_autoptr (GError) error = NULL;
      if (path != NULL && !lathe_session_set_eval_text (self->session, path, &error))
        lathe_window_show_toast (self, error->message);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
choose_eval_text_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheWindow *self = LATHE_WINDOW (widget);
  GtkFileChooserNative *dialog;
  GtkFileFilter *text;

  dialog = gtk_file_chooser_native_new (_("Choose Evaluation Text"), GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_OPEN, _("_Choose"), _("_Cancel"));
  text = gtk_file_filter_new ();
  gtk_file_filter_set_name (text, _("Text"));
  gtk_file_filter_add_mime_type (text, "text/plain");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), text);
  g_object_unref (text);
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (eval_text_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
workspace_chosen_cb (GtkNativeDialog *dialog, int response, LatheWindow *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file ? g_file_get_path (file) : NULL;
      g_autoptr (GError) error = NULL;
      if (path != NULL && !lathe_session_open_workspace (self->session, path, &error))
        lathe_window_show_toast (self, error->message);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
open_workspace_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LatheWindow *self = LATHE_WINDOW (widget);
  GtkFileChooserNative *dialog;

  dialog = gtk_file_chooser_native_new (_("Open Workspace"), GTK_WINDOW (self),
                                        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Open"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (workspace_chosen_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static void
close_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  gtk_window_close (GTK_WINDOW (widget));
}

void
_lathe_window_class_actions_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "win.open-folder", NULL, open_folder_action);
  gtk_widget_class_install_action (widget_class, "win.open-recent", "s", open_recent_action);
  gtk_widget_class_install_action (widget_class, "win.show-page", "s", show_page_action);
  gtk_widget_class_install_action (widget_class, "win.show-toast", "s", show_toast_action);
  gtk_widget_class_install_action (widget_class, "win.close", NULL, close_action);
  gtk_widget_class_install_action (widget_class, "win.cancel-job", NULL, cancel_job_action);
  gtk_widget_class_install_action (widget_class, "win.measure-original", NULL, measure_original_action);
  gtk_widget_class_install_action (widget_class, "win.sweep", NULL, sweep_action);
  gtk_widget_class_install_action (widget_class, "win.choose-eval-text", NULL, choose_eval_text_action);
  gtk_widget_class_install_action (widget_class, "win.open-workspace", NULL, open_workspace_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.open", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "win.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK, "win.show-page", "s",
                                       "model");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK, "win.show-page", "s",
                                       "compress");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_3, GDK_ALT_MASK, "win.show-page", "s",
                                       "tradeoffs");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_4, GDK_ALT_MASK, "win.show-page", "s",
                                       "playground");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_5, GDK_ALT_MASK, "win.show-page", "s",
                                       "devices");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK | GDK_SHIFT_MASK,
                                       "win.sweep", NULL);
}

void
_lathe_window_actions_update (LatheWindow *self)
{
  const gboolean has_model = lathe_session_get_model (self->session) != NULL;

  const gboolean can_measure = has_model && lathe_session_get_workspace (self->session) != NULL
                               && !lathe_session_get_job_running (self->session);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.show-page", has_model);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.cancel-job",
                                 lathe_session_get_job_running (self->session));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.measure-original", can_measure);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.sweep", can_measure);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.choose-eval-text", has_model);
}
