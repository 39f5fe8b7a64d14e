/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-welcome-page"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-download.h"
#include "lathe-welcome-page.h"

/* One sample's row: its button opens, downloads or cancels. */
typedef struct
{
  LatheWelcomePage *page;
  const LatheSample *sample;
  GtkWidget *row, *button, *progress;
  GCancellable *cancellable; /* while downloading */
  char *error;               /* of the last attempt */
} SampleRow;

struct _LatheWelcomePage
{
  AdwBin parent_instance;
  LatheSession *session;
  GtkListBox *recent_list;
  AdwPreferencesGroup *recent_group;
  GtkListBox *samples_list;
  GPtrArray *samples; /* SampleRow */
};

G_DEFINE_FINAL_TYPE (LatheWelcomePage, lathe_welcome_page, ADW_TYPE_BIN)

static GtkWidget *
create_recent_row (gpointer item, gpointer user_data)
{
  GFile *file = item;
  g_autofree char *name = g_file_get_basename (file);
  g_autoptr (GFile) parent = g_file_get_parent (file);
  g_autofree char *dir = parent ? g_file_get_path (parent) : g_strdup ("");
  g_autofree char *path = g_file_get_path (file);
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *icon = gtk_image_new_from_icon_name ("go-next-symbolic");

  /* Text from files and devices: never markup. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), dir);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), icon);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (row), "win.open-recent");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (row), "s", path);
  gtk_widget_set_tooltip_text (row, path);
  return row;
}

static void
recent_changed_cb (GListModel *recent, guint pos, guint removed, guint added,
                   LatheWelcomePage *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->recent_group), g_list_model_get_n_items (recent) > 0);
}

void
lathe_welcome_page_set_session (LatheWelcomePage *self, LatheSession *session)
{
  GListModel *recent;

  g_return_if_fail (LATHE_IS_WELCOME_PAGE (self));
  g_return_if_fail (self->session == NULL);
  self->session = g_object_ref (session);
  recent = lathe_session_get_recent (session);
  gtk_list_box_bind_model (self->recent_list, recent, create_recent_row, self, NULL);
  g_signal_connect_object (recent, "items-changed", G_CALLBACK (recent_changed_cb), self, 0);
  recent_changed_cb (recent, 0, 0, 0, self);
}

/* Samples ------------------------------------------------------------------- */

static void
sample_row_free (gpointer p)
{
  SampleRow *r = p;

  if (r == NULL)
    return;
  if (r->cancellable != NULL)
    g_cancellable_cancel (r->cancellable);
  g_clear_object (&r->cancellable);
  g_free (r->error);
  g_free (r);
}

static void
update_sample (SampleRow *r)
{
  g_autofree char *path = lathe_sample_dup_path (r->sample);
  g_autofree char *size = g_format_size (r->sample->size);
  g_autofree char *subtitle = NULL;

  gtk_widget_set_visible (r->progress, r->cancellable != NULL);
  if (r->cancellable != NULL)
    gtk_button_set_label (GTK_BUTTON (r->button), _("Cancel"));
  else if (path != NULL)
    gtk_button_set_label (GTK_BUTTON (r->button), _("Open"));
  else
    gtk_button_set_label (GTK_BUTTON (r->button), _("Download"));
  if (r->error != NULL)
    subtitle = g_strdup (r->error);
  else
    subtitle = g_strdup_printf ("%s · %s%s · %s", _(r->sample->description), r->sample->size ? "≈ " : "",
                                r->sample->size ? size : "", r->sample->license);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (r->row), subtitle);
}

static void
sample_progress_cb (gpointer user, guint64 received, guint64 total)
{
  SampleRow *r = user;

  if (total > 0)
    gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (r->progress), (double) received / (double) total);
  else
    gtk_progress_bar_pulse (GTK_PROGRESS_BAR (r->progress));
}

static void
open_path (LatheWelcomePage *self, const char *path)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.open-recent", "s", path);
}

static void
downloaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SampleRow *r = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *path = NULL;

  if (g_cancellable_is_cancelled (r->cancellable) && r->page == NULL)
    {
      /* The page went away meanwhile. */
      lathe_download_finish (result, NULL);
      sample_row_free (r);
      return;
    }
  g_clear_object (&r->cancellable);
  g_clear_pointer (&r->error, g_free);
  if (!lathe_download_finish (result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          r->error = g_strdup (error->message);
          gtk_widget_activate_action (GTK_WIDGET (r->page), "win.show-toast", "s", error->message);
        }
      update_sample (r);
      return;
    }
  update_sample (r);
  if ((path = lathe_sample_dup_path (r->sample)) != NULL)
    open_path (r->page, path);
}

static void
start_download (SampleRow *r)
{
  g_autofree char *dir = lathe_samples_dir ();
  g_autofree char *dest = g_build_filename (dir, r->sample->file_name, NULL);
  g_autofree char *url = lathe_sample_dup_url (r->sample);

  r->cancellable = g_cancellable_new ();
  g_clear_pointer (&r->error, g_free);
  gtk_progress_bar_set_fraction (GTK_PROGRESS_BAR (r->progress), 0);
  lathe_download_async (url, dest, r->sample->sha256, sample_progress_cb, r, r->cancellable, downloaded_cb, r);
  update_sample (r);
}

static void
sample_clicked_cb (GtkButton *button, SampleRow *r)
{
  g_autofree char *path = lathe_sample_dup_path (r->sample);

  if (r->cancellable != NULL)
    g_cancellable_cancel (r->cancellable);
  else if (path != NULL)
    open_path (r->page, path);
  else
    start_download (r);
}

static void
add_samples (LatheWelcomePage *self)
{
  guint n;
  const LatheSample *samples = lathe_samples (&n);

  for (guint i = 0; i < n; i++)
    {
      SampleRow *r = g_new0 (SampleRow, 1);
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
      r->page = self;
      r->sample = &samples[i];
      r->row = adw_action_row_new ();
      r->button = gtk_button_new ();
      r->progress = gtk_progress_bar_new ();
      /* Text from files and devices: never markup. */
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (r->row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (r->row), samples[i].name);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (r->row), FALSE);
      gtk_widget_set_valign (r->progress, GTK_ALIGN_CENTER);
      gtk_widget_set_size_request (r->progress, 80, -1);
      gtk_widget_set_valign (r->button, GTK_ALIGN_CENTER);
      gtk_box_append (GTK_BOX (box), r->progress);
      gtk_box_append (GTK_BOX (box), r->button);
      adw_action_row_add_suffix (ADW_ACTION_ROW (r->row), box);
      g_signal_connect (r->button, "clicked", G_CALLBACK (sample_clicked_cb), r);
      gtk_list_box_append (self->samples_list, r->row);
      g_ptr_array_add (self->samples, r);
      update_sample (r);
    }
}

gboolean
lathe_welcome_page_download_sample (LatheWelcomePage *self, const char *id)
{
  g_return_val_if_fail (LATHE_IS_WELCOME_PAGE (self), FALSE);
  for (guint i = 0; i < self->samples->len; i++)
    {
      SampleRow *r = g_ptr_array_index (self->samples, i);
      if (g_strcmp0 (r->sample->id, id) == 0 && r->cancellable == NULL)
        {
          start_download (r);
          return TRUE;
        }
    }
  return FALSE;
}

gboolean
lathe_welcome_page_get_downloading (LatheWelcomePage *self)
{
  g_return_val_if_fail (LATHE_IS_WELCOME_PAGE (self), FALSE);
  for (guint i = 0; i < self->samples->len; i++)
    if (((SampleRow *) g_ptr_array_index (self->samples, i))->cancellable != NULL)
      return TRUE;
  return FALSE;
}

const char *
lathe_welcome_page_get_sample_error (LatheWelcomePage *self, const char *id)
{
  g_return_val_if_fail (LATHE_IS_WELCOME_PAGE (self), NULL);
  for (guint i = 0; i < self->samples->len; i++)
    {
      SampleRow *r = g_ptr_array_index (self->samples, i);
      if (g_strcmp0 (r->sample->id, id) == 0)
        return r->error;
    }
  return NULL;
}

static void
lathe_welcome_page_dispose (GObject *object)
{
  LatheWelcomePage *self = LATHE_WELCOME_PAGE (object);

  /* A download still running finishes into its row, which then frees itself. */
  for (guint i = 0; self->samples != NULL && i < self->samples->len; i++)
    {
      SampleRow *r = g_ptr_array_index (self->samples, i);
      if (r->cancellable != NULL)
        {
          r->page = NULL;
          g_cancellable_cancel (r->cancellable);
          self->samples->pdata[i] = NULL;
        }
    }
  g_clear_pointer (&self->samples, g_ptr_array_unref);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), LATHE_TYPE_WELCOME_PAGE);
  G_OBJECT_CLASS (lathe_welcome_page_parent_class)->dispose (object);
}

static void
lathe_welcome_page_class_init (LatheWelcomePageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lathe_welcome_page_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PREFIX "/lathe-welcome-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LatheWelcomePage, recent_list);
  gtk_widget_class_bind_template_child (widget_class, LatheWelcomePage, recent_group);
  gtk_widget_class_bind_template_child (widget_class, LatheWelcomePage, samples_list);
}

static void
lathe_welcome_page_init (LatheWelcomePage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->samples = g_ptr_array_new_with_free_func (sample_row_free);
  add_samples (self);
}
