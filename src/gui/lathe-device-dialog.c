/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-device-dialog"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-device-dialog.h"

/* Architectures lathe-run is built for; the first entry: as probed. */
static const char *const arch_ids[] = { NULL, "x86_64", "aarch64" };

struct _LatheDeviceDialog
{
  AdwWindow parent_instance;
  char *registry;
  GPtrArray *known; /* the registry as the dialog opened, to check names as they are typed */
  GError *known_error;
  char *editing; /* the name of the device edited, or NULL when adding */
  GtkEditable *name_row;
  GtkEditable *destination_row;
  GtkSpinButton *port_spin;
  GtkEditable *user_row;
  GtkEditable *identity_row;
  GtkEditable *config_row;
  GtkEditable *prefix_row;
  AdwComboRow *arch_row;
  GtkLabel *problem_label;
  GtkWidget *save_button;
  char *problem;
};

G_DEFINE_FINAL_TYPE (LatheDeviceDialog, lathe_device_dialog, ADW_TYPE_WINDOW)

enum
{
  SAVED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static const char *
text_or_null (GtkEditable *e)
{
  const char *t = gtk_editable_get_text (e);

  return t != NULL && *t != '\0' ? t : NULL;
}

/* The device the fields describe, or NULL with the reason. */
static LatheDevice *
device_of_fields (LatheDeviceDialog *self, GError **error)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (self->name_row)));
  g_autofree char *dest = g_strstrip (g_strdup (gtk_editable_get_text (self->destination_row)));
  const char *identity = text_or_null (self->identity_row);
  const char *config = text_or_null (self->config_row);
  g_autoptr (LatheDevice) d = NULL;

  if (*name == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("Name the device"));
      return NULL;
    }
  if (*dest == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("Say how to reach it: a host, user@host, or a Host alias of ~/.ssh/config"));
      return NULL;
    }
  if ((d = lathe_device_new (name, dest, error)) == NULL)
    return NULL;
  lathe_device_set_port (d, gtk_spin_button_get_value_as_int (self->port_spin));
  lathe_device_set_user (d, text_or_null (self->user_row));
  if (identity != NULL && !g_file_test (identity, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("No identity file at %s"), identity);
      return NULL;
    }
  lathe_device_set_identity (d, identity);
  if (config != NULL && !g_file_test (config, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("No SSH config file at %s"), config);
      return NULL;
    }
  lathe_device_set_ssh_config (d, config);
  lathe_device_set_arch (d, arch_ids[adw_combo_row_get_selected (self->arch_row) % G_N_ELEMENTS (arch_ids)]);
  lathe_device_set_runner_prefix (d, text_or_null (self->prefix_row));
  return g_steal_pointer (&d);
}

/* Whether the device's name is free in a registry (or its own, when edited). */
static gboolean
name_free (LatheDeviceDialog *self, GPtrArray *devices, LatheDevice *d, GError **error)
{
  if (lathe_devices_find (devices, lathe_device_get_name (d)) != NULL
      && g_strcmp0 (self->editing, lathe_device_get_name (d)) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("There is a device named %s already"),
                   lathe_device_get_name (d));
      return FALSE;
    }
  return TRUE;
}

/* The registry as it is now, with the device put in (replacing the edited one). */
static GPtrArray *
registry_with (LatheDeviceDialog *self, LatheDevice *d, GError **error)
{
  g_autoptr (GPtrArray) devices = lathe_devices_load (self->registry, error);

  if (devices == NULL || !name_free (self, devices, d, error))
    return NULL;
  if (self->editing != NULL)
    {
      LatheDevice *old = lathe_devices_find (devices, self->editing);
      guint at = devices->len;
      if (old != NULL && g_ptr_array_find (devices, old, &at))
        {
          g_ptr_array_insert (devices, (int) at, g_object_ref (d));
          g_ptr_array_remove_index (devices, at + 1);
          return g_steal_pointer (&devices);
        }
    }
  g_ptr_array_add (devices, g_object_ref (d));
  return g_steal_pointer (&devices);
}

static void
update (LatheDeviceDialog *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (LatheDevice) d = device_of_fields (self, &error);

  if (d != NULL && self->known_error != NULL)
    error = g_error_copy (self->known_error);
  else if (d != NULL && self->known != NULL)
    name_free (self, self->known, d, &error);
  g_clear_pointer (&self->problem, g_free);
  if (error != NULL)
    self->problem = g_strdup (error->message);
  gtk_label_set_text (self->problem_label, self->problem != NULL ? self->problem : "");
  gtk_widget_set_visible (GTK_WIDGET (self->problem_label), self->problem != NULL);
  gtk_widget_set_sensitive (self->save_button, self->problem == NULL);
}

const char *
lathe_device_dialog_get_problem (LatheDeviceDialog *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE_DIALOG (self), NULL);
  return self->problem;
}

gboolean
lathe_device_dialog_save (LatheDeviceDialog *self, GError **error)
{
  g_autoptr (LatheDevice) d = NULL;
  g_autoptr (GPtrArray) devices = NULL;

  g_return_val_if_fail (LATHE_IS_DEVICE_DIALOG (self), FALSE);
  if ((d = device_of_fields (self, error)) == NULL || (devices = registry_with (self, d, error)) == NULL
      || !lathe_devices_save (self->registry, devices, error))
    return FALSE;
  g_signal_emit (self, signals[SAVED], 0, lathe_device_get_name (d));
  gtk_window_close (GTK_WINDOW (self));
  return TRUE;
}

static void
save_clicked_cb (LatheDeviceDialog *self)
{
  g_autoptr (GError) error = NULL;

  if (!lathe_device_dialog_save (self, &error))
    {
      gtk_label_set_text (self->problem_label, error->message);
      gtk_widget_set_visible (GTK_WIDGET (self->problem_label), TRUE);
    }
}

void
lathe_device_dialog_set_fields (LatheDeviceDialog *self, const char *name, const char *destination, int port,
                                const char *user, const char *identity, const char *ssh_config)
{
  g_return_if_fail (LATHE_IS_DEVICE_DIALOG (self));
  if (name != NULL)
    gtk_editable_set_text (self->name_row, name);
  if (destination != NULL)
    gtk_editable_set_text (self->destination_row, destination);
  if (port >= 0)
    gtk_spin_button_set_value (self->port_spin, port);
  if (user != NULL)
    gtk_editable_set_text (self->user_row, user);
  if (identity != NULL)
    gtk_editable_set_text (self->identity_row, identity);
  if (ssh_config != NULL)
    gtk_editable_set_text (self->config_row, ssh_config);
  update (self);
}

static GtkEditable *
entry_row (AdwPreferencesGroup *group, LatheDeviceDialog *self, const char *title)
{
  GtkWidget *row = adw_entry_row_new ();

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  g_signal_connect_swapped (row, "changed", G_CALLBACK (update), self);
  adw_preferences_group_add (group, row);
  return GTK_EDITABLE (row);
}

static void
file_chosen_cb (GtkNativeDialog *chooser, int response, GtkEditable *row)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) f = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));
      g_autofree char *path = f != NULL ? g_file_get_path (f) : NULL;
      if (path != NULL)
        gtk_editable_set_text (row, path);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
}

static void
choose_file_cb (GtkButton *button, GtkEditable *row)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (button));
  GtkFileChooserNative *chooser = gtk_file_chooser_native_new (_("Choose a File"), GTK_WINDOW (root),
                                                               GTK_FILE_CHOOSER_ACTION_OPEN, NULL, NULL);
  g_autofree char *ssh_dir = g_build_filename (g_get_home_dir (), ".ssh", NULL);
  g_autoptr (GFile) folder = g_file_new_for_path (ssh_dir);

  if (g_file_test (ssh_dir, G_FILE_TEST_IS_DIR))
    gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL);
  g_signal_connect (chooser, "response", G_CALLBACK (file_chosen_cb), row);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static GtkEditable *
file_row (AdwPreferencesGroup *group, LatheDeviceDialog *self, const char *title)
{
  GtkEditable *row = entry_row (group, self, title);
  GtkWidget *button = gtk_button_new_from_icon_name ("document-open-symbolic");

  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  gtk_widget_set_tooltip_text (button, _("Choose a File…"));
  g_signal_connect (button, "clicked", G_CALLBACK (choose_file_cb), row);
  adw_entry_row_add_suffix (ADW_ENTRY_ROW (row), button);
  return row;
}

static GtkWidget *
connection_group (LatheDeviceDialog *self)
{
  GtkWidget *group = adw_preferences_group_new ();
  GtkWidget *port_row = adw_action_row_new ();
  AdwPreferencesGroup *g = ADW_PREFERENCES_GROUP (group);

  adw_preferences_group_set_description (g, _("Lathe connects with your OpenSSH client: your ~/.ssh/config, "
                                              "agent, ProxyJump and known_hosts apply. Keys only, no passwords."));
  self->name_row = entry_row (g, self, _("Name"));
  self->destination_row = entry_row (g, self, _("Host, user@host or ~/.ssh/config alias"));
  self->port_spin = GTK_SPIN_BUTTON (gtk_spin_button_new_with_range (0, 65535, 1));
  gtk_widget_set_valign (GTK_WIDGET (self->port_spin), GTK_ALIGN_CENTER);
  g_signal_connect_swapped (self->port_spin, "value-changed", G_CALLBACK (update), self);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (port_row), _("Port"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (port_row), _("0: as your SSH config says (22 by default)"));
  adw_action_row_add_suffix (ADW_ACTION_ROW (port_row), GTK_WIDGET (self->port_spin));
  adw_preferences_group_add (g, port_row);
  self->user_row = entry_row (g, self, _("User (empty: as your SSH config says)"));
  self->identity_row = file_row (g, self, _("Identity file (empty: your agent and default keys)"));
  return group;
}

static GtkWidget *
advanced_group (LatheDeviceDialog *self)
{
  GtkWidget *group = adw_preferences_group_new ();
  AdwPreferencesGroup *g = ADW_PREFERENCES_GROUP (group);
  const char *const arch_names[] = { _("As probed"), "x86_64", "aarch64", NULL };
  GtkWidget *arch = adw_combo_row_new ();

  adw_preferences_group_set_title (g, _("Advanced"));
  self->config_row = file_row (g, self, _("SSH config file in place of yours (ssh -F)"));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (arch), _("Runner architecture"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (arch), _("For a 32-bit userland or an emulator"));
  adw_combo_row_set_model (ADW_COMBO_ROW (arch), G_LIST_MODEL (gtk_string_list_new (arch_names)));
  g_signal_connect_swapped (arch, "notify::selected", G_CALLBACK (update), self);
  self->arch_row = ADW_COMBO_ROW (arch);
  adw_preferences_group_add (g, arch);
  self->prefix_row = entry_row (g, self, _("Start lathe-run through (e.g. taskset -c 4-7)"));
  return group;
}

static void
lathe_device_dialog_finalize (GObject *object)
{
  LatheDeviceDialog *self = LATHE_DEVICE_DIALOG (object);

  g_free (self->registry);
  g_clear_pointer (&self->known, g_ptr_array_unref);
  g_clear_error (&self->known_error);
  g_free (self->editing);
  g_free (self->problem);
  G_OBJECT_CLASS (lathe_device_dialog_parent_class)->finalize (object);
}

static void
lathe_device_dialog_class_init (LatheDeviceDialogClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lathe_device_dialog_finalize;
  gtk_widget_class_add_binding_action (GTK_WIDGET_CLASS (klass), GDK_KEY_Escape, 0, "window.close", NULL);
  signals[SAVED] = g_signal_new ("saved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
lathe_device_dialog_init (LatheDeviceDialog *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *cancel = gtk_button_new_with_mnemonic (_("_Cancel"));
  GtkWidget *page = adw_preferences_page_new ();

  gtk_window_set_default_size (GTK_WINDOW (self), 540, 640);
  gtk_window_set_modal (GTK_WINDOW (self), TRUE);
  adw_header_bar_set_show_end_title_buttons (ADW_HEADER_BAR (header), FALSE);
  adw_header_bar_set_show_start_title_buttons (ADW_HEADER_BAR (header), FALSE);
  self->save_button = gtk_button_new_with_mnemonic (_("_Save"));
  gtk_widget_add_css_class (self->save_button, "suggested-action");
  g_signal_connect_swapped (cancel, "clicked", G_CALLBACK (gtk_window_close), self);
  g_signal_connect_swapped (self->save_button, "clicked", G_CALLBACK (save_clicked_cb), self);
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), cancel);
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), self->save_button);
  gtk_box_append (GTK_BOX (box), header);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (connection_group (self)));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (advanced_group (self)));
  gtk_widget_set_vexpand (page, TRUE);
  gtk_box_append (GTK_BOX (box), page);
  self->problem_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->problem_label, TRUE);
  gtk_widget_set_margin_top (GTK_WIDGET (self->problem_label), 6);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->problem_label), 12);
  gtk_widget_set_margin_start (GTK_WIDGET (self->problem_label), 18);
  gtk_widget_set_margin_end (GTK_WIDGET (self->problem_label), 18);
  gtk_widget_add_css_class (GTK_WIDGET (self->problem_label), "dim-label");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->problem_label));
  adw_window_set_content (ADW_WINDOW (self), box);
}

static void
fill_from (LatheDeviceDialog *self, LatheDevice *d)
{
  const char *arch = lathe_device_get_arch (d);

  lathe_device_dialog_set_fields (self, lathe_device_get_name (d), lathe_device_get_destination (d),
                                  lathe_device_get_port (d), lathe_device_get_user (d),
                                  lathe_device_get_identity (d), lathe_device_get_ssh_config (d));
  for (guint i = 1; i < G_N_ELEMENTS (arch_ids); i++)
    if (g_strcmp0 (arch, arch_ids[i]) == 0)
      adw_combo_row_set_selected (self->arch_row, i);
  if (lathe_device_get_runner_prefix (d) != NULL)
    gtk_editable_set_text (self->prefix_row, lathe_device_get_runner_prefix (d));
}

LatheDeviceDialog *
lathe_device_dialog_new (GtkWindow *parent, const char *registry, LatheDevice *device)
{
  LatheDeviceDialog *self = g_object_new (LATHE_TYPE_DEVICE_DIALOG, "transient-for", parent, NULL);

  self->registry = g_strdup (registry);
  self->known = lathe_devices_load (registry, &self->known_error);
  gtk_window_set_title (GTK_WINDOW (self), device != NULL ? _("Edit Device") : _("Add Device"));
  if (device != NULL)
    {
      self->editing = g_strdup (lathe_device_get_name (device));
      fill_from (self, device);
    }
  update (self);
  return self;
}
