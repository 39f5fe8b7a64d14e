/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-welcome-page"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-welcome-page.h"

struct _LatheWelcomePage
{
  AdwBin parent_instance;
  LatheSession *session;
  GtkListBox *recent_list;
  AdwPreferencesGroup *recent_group;
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

static void
lathe_welcome_page_dispose (GObject *object)
{
  LatheWelcomePage *self = LATHE_WELCOME_PAGE (object);

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
}

static void
lathe_welcome_page_init (LatheWelcomePage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
