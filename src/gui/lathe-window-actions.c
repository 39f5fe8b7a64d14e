/* SPDX-License-Identifier: MIT */
/* The window's actions, and the one function that enables them. */
#define G_LOG_DOMAIN "lathe-window"

#include "config.h"

#include <glib/gi18n.h>

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
close_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  gtk_window_close (GTK_WINDOW (widget));
}

void
_lathe_window_class_actions_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_install_action (widget_class, "win.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "win.open-recent", "s", open_recent_action);
  gtk_widget_class_install_action (widget_class, "win.show-page", "s", show_page_action);
  gtk_widget_class_install_action (widget_class, "win.show-toast", "s", show_toast_action);
  gtk_widget_class_install_action (widget_class, "win.close", NULL, close_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK, "win.open", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "win.close", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_ALT_MASK, "win.show-page", "s",
                                       "model");
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_ALT_MASK, "win.show-page", "s",
                                       "playground");
}

void
_lathe_window_actions_update (LatheWindow *self)
{
  const gboolean has_model = lathe_session_get_model (self->session) != NULL;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.show-page", has_model);
}
