/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-window"

#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "lathe-hf.h"
#include "lathe-sensitivity.h"
#include "lathe-window-private.h"

G_DEFINE_FINAL_TYPE (LatheWindow, lathe_window, ADW_TYPE_APPLICATION_WINDOW)

LatheSession *
lathe_window_get_session (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->session;
}

LatheModelPage *
lathe_window_get_model_page (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->model_page;
}

LatheWelcomePage *
lathe_window_get_welcome_page (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->welcome_page;
}

LatheCompressPage *
lathe_window_get_compress_page (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->compress_page;
}

LatheDevicesPage *
lathe_window_get_devices_page (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->devices_page;
}

LatheTradeoffsPage *
lathe_window_get_tradeoffs_page (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->tradeoffs_page;
}

LathePlaygroundPage *
lathe_window_get_playground_page (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->playground_page;
}

const char *
lathe_window_get_visible_page (LatheWindow *self)
{
  const char *main_page;

  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  main_page = gtk_stack_get_visible_child_name (self->main_stack);
  if (g_strcmp0 (main_page, "workbench") == 0)
    return adw_view_stack_get_visible_child_name (self->view_stack);
  return main_page;
}

void
lathe_window_set_visible_page (LatheWindow *self, const char *name)
{
  g_return_if_fail (LATHE_IS_WINDOW (self));
  if (lathe_session_get_model (self->session) == NULL)
    return;
  gtk_stack_set_visible_child_name (self->main_stack, "workbench");
  adw_view_stack_set_visible_child_name (self->view_stack, name);
}

void
lathe_window_show_toast (LatheWindow *self, const char *message)
{
  AdwToast *toast;

  g_return_if_fail (LATHE_IS_WINDOW (self));
  g_free (self->last_toast);
  self->last_toast = g_strdup (message);
  toast = adw_toast_new (message);
  adw_toast_set_timeout (toast, 8);
  /* The newest news first; earlier toasts still show after it. */
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

const char *
lathe_window_get_last_toast (LatheWindow *self)
{
  g_return_val_if_fail (LATHE_IS_WINDOW (self), NULL);
  return self->last_toast;
}

/* The bottom switcher stands in for the title's when the window is narrow,
 * and only when there are pages to switch. */
static void
update_switcher_bar (LatheWindow *self)
{
  adw_view_switcher_bar_set_reveal (self->switcher_bar,
                                    lathe_session_get_model (self->session) != NULL
                                      && adw_view_switcher_title_get_title_visible (self->switcher_title));
}

static void
title_visible_cb (LatheWindow *self)
{
  if (self->session != NULL)
    update_switcher_bar (self);
}

/* Shows what the session holds: the one place that picks the page. */
static void
update (LatheWindow *self)
{
  LatheModel *model = lathe_session_get_model (self->session);

  if (lathe_session_get_loading (self->session))
    {
      GFile *file = lathe_session_get_file (self->session);
      g_autofree char *name = file ? g_file_get_basename (file) : NULL;
      g_autofree char *text = g_strdup_printf (_("Loading %s…"), name ? name : "");
      gtk_label_set_text (self->loading_label, text);
      gtk_stack_set_visible_child_name (self->main_stack, "loading");
    }
  else if (model != NULL)
    gtk_stack_set_visible_child_name (self->main_stack, "workbench");
  else
    gtk_stack_set_visible_child_name (self->main_stack, "welcome");
  adw_view_switcher_title_set_subtitle (self->switcher_title,
                                        model ? lathe_model_get_name (model) : NULL);
  adw_view_switcher_title_set_view_switcher_enabled (self->switcher_title, model != NULL);
  update_switcher_bar (self);
  _lathe_window_actions_update (self);
}

static void
session_model_cb (LatheSession *session, GParamSpec *pspec, LatheWindow *self)
{
  LatheModel *model = lathe_session_get_model (session);

  lathe_model_page_set_model (self->model_page, model);
  lathe_playground_page_set_model (self->playground_page, model);
  update (self);
}

/* Once measured, the model's sensitivity shows when hovering its map. */
static void
refresh_sensitivity (LatheWindow *self)
{
  LatheWorkspace *ws = lathe_session_get_workspace (self->session);
  g_autofree char *path = ws ? lathe_workspace_dup_sensitivity (ws) : NULL;
  g_autoptr (JsonNode) table = path ? lathe_sensitivity_load (path, NULL) : NULL;

  lathe_layer_map_set_sensitivity (lathe_model_page_get_layer_map (self->model_page), table);
}

static void
session_workspace_cb (LatheSession *session, GParamSpec *pspec, LatheWindow *self)
{
  lathe_tradeoffs_page_set_workspace (self->tradeoffs_page, lathe_session_get_workspace (session));
  refresh_sensitivity (self);
  _lathe_window_actions_update (self);
}

static void
session_job_cb (LatheSession *session, GParamSpec *pspec, LatheWindow *self)
{
  const gboolean running = lathe_session_get_job_running (session);
  GApplication *app = G_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));

  gtk_revealer_set_reveal_child (self->job_revealer, running);
  gtk_label_set_text (self->job_label, lathe_session_get_job_text (session));
  gtk_progress_bar_set_fraction (self->job_progress, lathe_session_get_job_fraction (session));
  /* The application lives on until the job has cleaned up after itself. */
  if (running != self->holding && app != NULL)
    {
      if (running)
        g_application_hold (app);
      else
        g_application_release (app);
      self->holding = running;
    }
  _lathe_window_actions_update (self);
}

static void
session_job_done_cb (LatheSession *session, GError *error, LatheWindow *self)
{
  refresh_sensitivity (self);
  if (error != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Measuring failed: %s"), error->message);
      lathe_window_show_toast (self, msg);
    }
}

static void
session_error_cb (LatheSession *session, GError *error, LatheWindow *self)
{
  lathe_window_show_toast (self, error->message);
}

static void
open_in_playground_cb (LatheTradeoffsPage *page, LatheVariant *variant, LatheWindow *self)
{
  LatheWorkspace *ws = lathe_session_get_workspace (self->session);
  g_autofree char *path = ws ? lathe_workspace_dup_file (ws, variant) : NULL;

  if (path == NULL)
    return;
  lathe_playground_page_set_variant (self->playground_page, path, lathe_variant_get_name (variant));
  lathe_window_set_visible_page (self, "playground");
}

static void
profile_on_device_cb (LatheTradeoffsPage *page, LatheVariant *variant, LatheWindow *self)
{
  lathe_devices_page_set_profile (self->devices_page, lathe_variant_get_id (variant), NULL, NULL, 0, 0);
  lathe_window_set_visible_page (self, "devices");
}

static void
session_loading_cb (LatheSession *session, GParamSpec *pspec, LatheWindow *self)
{
  update (self);
}

static void
opened_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LatheWindow) self = user_data;
  g_autoptr (GError) error = NULL;

  if (!lathe_session_open_finish (LATHE_SESSION (source), result, &error)
      && error != NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *msg = g_strdup_printf (_("Could not open the model: %s"), error->message);
      lathe_window_show_toast (self, msg);
    }
  update (self);
}

/* Hugging Face checkpoints open by converting them, as the background job,
 * into the user's data folder (not the checkpoint's, which may be a
 * read-only cache); a conversion newer than every file of the folder is
 * opened again as it is. */
typedef struct
{
  LatheWindow *window;
  char *folder, *output, *text;
} Import;

static void
import_free (gpointer data)
{
  Import *im = data;

  g_object_unref (im->window);
  g_free (im->folder);
  g_free (im->output);
  g_free (im->text);
  g_free (im);
}

static void
import_progress (double fraction, gpointer data)
{
  Import *im = data;

  lathe_session_job_report (im->window->session, fraction, im->text);
}

static gpointer
import_thread (LatheSession *session, gpointer data, GCancellable *cancellable, GError **error)
{
  Import *im = data;
  g_autofree char *dir = g_path_get_dirname (im->output);
  LatheHfOptions options;

  (void) session;
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "%s: %s", dir, g_strerror (e));
      return NULL;
    }
  lathe_hf_options_init (&options);
  if (!lathe_hf_convert (im->folder, im->output, &options, import_progress, im, cancellable, error))
    return NULL;
  return g_strdup (im->output);
}

static void
import_done (LatheSession *session, gpointer result, const GError *error, gpointer data)
{
  Import *im = data;
  g_autoptr (GFile) file = NULL;

  (void) session;
  if (error != NULL)
    {
      g_autofree char *msg = NULL;
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        msg = g_strdup (_("Conversion cancelled: nothing was written"));
      else
        msg = g_strdup_printf (_("Could not convert the checkpoint: %s"), error->message);
      lathe_window_show_toast (im->window, msg);
      return;
    }
  file = g_file_new_for_path (result);
  lathe_session_open_async (im->window->session, file, NULL, opened_cb, g_object_ref (im->window));
}

/* The newest modification time of the folder's files (0 when unreadable). */
static gint64
newest_in (const char *folder)
{
  g_autoptr (GDir) dir = g_dir_open (folder, 0, NULL);
  const char *name;
  gint64 newest = 0;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (folder, name, NULL);
      GStatBuf st;
      if (g_stat (path, &st) == 0)
        newest = MAX (newest, (gint64) st.st_mtime);
    }
  return newest;
}

static void
import_checkpoint (LatheWindow *self, const char *folder)
{
  g_autofree char *base = g_path_get_basename (folder);
  g_autofree char *name = g_strdup_printf ("%s-F16.gguf", base);
  g_autofree char *output = g_build_filename (g_get_user_data_dir (), "lathe", "converted", name, NULL);
  g_autoptr (GError) error = NULL;
  GStatBuf st;
  Import *im;

  if (g_stat (output, &st) == 0 && (gint64) st.st_mtime >= newest_in (folder))
    {
      g_autoptr (GFile) file = g_file_new_for_path (output);
      lathe_session_open_async (self->session, file, NULL, opened_cb, g_object_ref (self));
      return;
    }
  im = g_new0 (Import, 1);
  im->window = g_object_ref (self);
  im->folder = g_strdup (folder);
  im->output = g_steal_pointer (&output);
  im->text = g_strdup_printf (_("Converting %s to GGUF…"), base);
  if (!lathe_session_run_job (self->session, im->text, import_thread, import_done, im, import_free,
                              g_free, &error))
    lathe_window_show_toast (self, error->message);
}

void
lathe_window_open_file (LatheWindow *self, GFile *file)
{
  g_autofree char *path = NULL;

  g_return_if_fail (LATHE_IS_WINDOW (self));
  g_return_if_fail (G_IS_FILE (file));
  path = g_file_get_path (file);
  if (path != NULL && lathe_hf_is_checkpoint (path))
    {
      import_checkpoint (self, path);
      return;
    }
  lathe_session_open_async (self->session, file, NULL, opened_cb, g_object_ref (self));
}

void
lathe_window_open_default (LatheWindow *self)
{
  g_autoptr (GFile) file = lathe_session_find_default_model (self->session);

  if (file != NULL)
    lathe_window_open_file (self, file);
  else
    update (self);
}

static gboolean
drop_cb (GtkDropTarget *target, const GValue *value, double x, double y, LatheWindow *self)
{
  GSList *files;

  if (!G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  files = g_value_get_boxed (value);
  if (files == NULL)
    return FALSE;
  lathe_window_open_file (self, G_FILE (files->data));
  return TRUE;
}

static gboolean
lathe_window_close_request (GtkWindow *window)
{
  LatheWindow *self = LATHE_WINDOW (window);
  int width, height;

  /* Work this window started ends with it. */
  lathe_session_cancel (self->session);
  lathe_session_cancel_job (self->session);
  lathe_playground_page_stop (self->playground_page);
  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  return GTK_WINDOW_CLASS (lathe_window_parent_class)->close_request (window);
}

static void
lathe_window_dispose (GObject *object)
{
  LatheWindow *self = LATHE_WINDOW (object);

  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      lathe_session_cancel (self->session);
      lathe_session_cancel_job (self->session);
    }
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  g_clear_pointer (&self->last_toast, g_free);
  gtk_widget_dispose_template (GTK_WIDGET (self), LATHE_TYPE_WINDOW);
  G_OBJECT_CLASS (lathe_window_parent_class)->dispose (object);
}

static void
lathe_window_class_init (LatheWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = lathe_window_dispose;
  window_class->close_request = lathe_window_close_request;

  g_type_ensure (LATHE_TYPE_WELCOME_PAGE);
  g_type_ensure (LATHE_TYPE_MODEL_PAGE);
  g_type_ensure (LATHE_TYPE_PLAYGROUND_PAGE);
  g_type_ensure (LATHE_TYPE_TRADEOFFS_PAGE);
  g_type_ensure (LATHE_TYPE_COMPRESS_PAGE);
  g_type_ensure (LATHE_TYPE_DEVICES_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PREFIX "/lathe-window.ui");
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, switcher_bar);
  gtk_widget_class_bind_template_callback (widget_class, title_visible_cb);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, welcome_page);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, model_page);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, playground_page);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, loading_label);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, tradeoffs_page);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, compress_page);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, devices_page);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, job_revealer);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, job_label);
  gtk_widget_class_bind_template_child (widget_class, LatheWindow, job_progress);
  _lathe_window_class_actions_init (widget_class);
}

static void
lathe_window_init (LatheWindow *self)
{
  static gsize icons_added;
  GtkDropTarget *drop;

  /* The application icon travels in the resources, so the window shows it
   * even when Lathe runs from the build folder. */
  if (g_once_init_enter (&icons_added))
    {
      gtk_icon_theme_add_resource_path (gtk_icon_theme_get_for_display (gdk_display_get_default ()),
                                        RESOURCE_PREFIX "/icons");
      g_once_init_leave (&icons_added, 1);
    }

  gtk_widget_init_template (GTK_WIDGET (self));
  drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_signal_connect (drop, "drop", G_CALLBACK (drop_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
}

LatheWindow *
lathe_window_new (GtkApplication *app, GSettings *settings)
{
  LatheWindow *self = g_object_new (LATHE_TYPE_WINDOW, "application", app, NULL);

  self->settings = g_object_ref (settings);
  self->session = lathe_session_new (settings);
  g_signal_connect (self->session, "notify::model", G_CALLBACK (session_model_cb), self);
  g_signal_connect (self->session, "notify::loading", G_CALLBACK (session_loading_cb), self);
  g_signal_connect (self->session, "notify::workspace", G_CALLBACK (session_workspace_cb), self);
  g_signal_connect (self->session, "notify::job-running", G_CALLBACK (session_job_cb), self);
  g_signal_connect (self->session, "notify::job-text", G_CALLBACK (session_job_cb), self);
  g_signal_connect (self->session, "notify::job-fraction", G_CALLBACK (session_job_cb), self);
  g_signal_connect (self->session, "job-done", G_CALLBACK (session_job_done_cb), self);
  g_signal_connect (self->session, "error", G_CALLBACK (session_error_cb), self);
  g_signal_connect (self->tradeoffs_page, "open-in-playground", G_CALLBACK (open_in_playground_cb), self);
  g_signal_connect (self->tradeoffs_page, "profile-on-device", G_CALLBACK (profile_on_device_cb), self);
  lathe_tradeoffs_page_set_settings (self->tradeoffs_page, settings);
  lathe_compress_page_set_session (self->compress_page, self->session);
  lathe_devices_page_set_session (self->devices_page, self->session);
  lathe_welcome_page_set_session (self->welcome_page, self->session);
  lathe_playground_page_set_settings (self->playground_page, settings);
  gtk_window_set_default_size (GTK_WINDOW (self), g_settings_get_int (settings, "window-width"),
                               g_settings_get_int (settings, "window-height"));
  if (g_settings_get_boolean (settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));
  if (g_str_has_suffix (APPLICATION_ID, ".Devel"))
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");
  update (self);
  return self;
}
