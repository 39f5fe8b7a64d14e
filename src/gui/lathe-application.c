/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-application"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-application.h"
#include "lathe-window.h"

struct _LatheApplication
{
  AdwApplication parent_instance;
  GSettings *settings;
};

G_DEFINE_FINAL_TYPE (LatheApplication, lathe_application, ADW_TYPE_APPLICATION)

LatheApplication *
lathe_application_new (void)
{
  return g_object_new (LATHE_TYPE_APPLICATION,
                       "application-id", APPLICATION_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", RESOURCE_PREFIX,
                       NULL);
}

GSettings *
lathe_application_get_settings (LatheApplication *self)
{
  g_return_val_if_fail (LATHE_IS_APPLICATION (self), NULL);
  return self->settings;
}

static LatheWindow *
new_window (LatheApplication *self)
{
  LatheWindow *win = lathe_window_new (GTK_APPLICATION (self), self->settings);

  gtk_window_present (GTK_WINDOW (win));
  return win;
}

static void
lathe_application_activate (GApplication *app)
{
  LatheApplication *self = LATHE_APPLICATION (app);
  GtkWindow *win = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (win != NULL)
    {
      gtk_window_present (win);
      return;
    }
  lathe_window_open_default (new_window (self));
}

static void
lathe_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  LatheApplication *self = LATHE_APPLICATION (app);

  /* One window per model. */
  for (int i = 0; i < n_files; i++)
    lathe_window_open_file (new_window (self), files[i]);
}

static void
about_action (GSimpleAction *action, GVariant *param, gpointer data)
{
  GtkApplication *app = data;
  const char *developers[] = { "The Lathe developers", NULL };

  adw_show_about_window (gtk_application_get_active_window (app),
                         "application-name", "Lathe",
                         "application-icon", APPLICATION_ID,
                         "version", PACKAGE_VERSION,
                         "comments", _("Compress language models for edge devices, and measure "
                                       "what every choice costs and buys."),
                         "developers", developers,
                         "license-type", GTK_LICENSE_MIT_X11,
                         "website", "https://github.com/lathe/lathe",
                         NULL);
}

static void
quit_action (GSimpleAction *action, GVariant *param, gpointer data)
{
  GtkApplication *app = data;
  GList *windows = g_list_copy (gtk_application_get_windows (app));

  /* Closing each window cancels its work before the process ends. */
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (l->data);
  g_list_free (windows);
  g_application_quit (G_APPLICATION (app));
}

/* The installed schema, or the one compiled in the build folder when Lathe
 * runs uninstalled. */
static GSettings *
new_settings (void)
{
  GSettingsSchemaSource *installed = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = NULL;
  g_autoptr (GSettingsSchemaSource) built = NULL;

  if (installed != NULL)
    schema = g_settings_schema_source_lookup (installed, "io.github.lathe.Lathe", TRUE);
  if (schema == NULL)
    {
      built = g_settings_schema_source_new_from_directory (BUILD_SCHEMA_DIR, installed, FALSE,
                                                            NULL);
      if (built != NULL)
        schema = g_settings_schema_source_lookup (built, "io.github.lathe.Lathe", FALSE);
    }
  if (schema == NULL)
    g_error ("the GSettings schema io.github.lathe.Lathe is neither installed nor built in %s",
             BUILD_SCHEMA_DIR);
  return g_settings_new_full (schema, NULL, NULL);
}

static void
lathe_application_startup (GApplication *app)
{
  LatheApplication *self = LATHE_APPLICATION (app);
  static const GActionEntry entries[] = {
    { "about", about_action, NULL, NULL, NULL },
    { "quit", quit_action, NULL, NULL, NULL },
  };
  const char *quit_accels[] = { "<Control>q", NULL };
  const char *generate_accels[] = { "<Control>Return", NULL };

  G_APPLICATION_CLASS (lathe_application_parent_class)->startup (app);
  self->settings = new_settings ();
  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), app);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "playground.generate",
                                         generate_accels);
}

static void
lathe_application_dispose (GObject *object)
{
  LatheApplication *self = LATHE_APPLICATION (object);

  g_clear_object (&self->settings);
  G_OBJECT_CLASS (lathe_application_parent_class)->dispose (object);
}

static void
lathe_application_class_init (LatheApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = lathe_application_dispose;
  app_class->activate = lathe_application_activate;
  app_class->open = lathe_application_open;
  app_class->startup = lathe_application_startup;
}

static void
lathe_application_init (LatheApplication *self)
{
}
