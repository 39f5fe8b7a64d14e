/* SPDX-License-Identifier: MIT */
/* The Devices page: the registry of SSH devices, what a probe found on the
 * selected one, and profiling a variant there. Device work runs as the
 * session's background job (progress and Cancel in the window's job bar);
 * an unknown host key is shown with its fingerprint before it is trusted. */
#define G_LOG_DOMAIN "lathe-devices"

#include "config.h"

#include <errno.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>

#include "lathe-bundle.h"
#include "lathe-device-dialog.h"
#include "lathe-devices-page.h"
#include "lathe-io.h"
#include "lathe-json.h"
#include "lathe-remote.h"

typedef enum
{
  RETRY_PROBE,
  RETRY_PROFILE,
  RETRY_INSTALL,
} Retry;

struct _LatheDevicesPage
{
  AdwBin parent_instance;
  LatheSession *session;
  LatheWorkspace *workspace;
  char *registry;
  GPtrArray *devices;
  GHashTable *probes;   /* name → JsonNode */
  GHashTable *profiles; /* name → JsonNode: the last profile */
  char *message;
  char *profile_problem;
  AdwMessageDialog *host_key_dialog;

  GtkStack *stack;
  GtkListBox *list;
  GtkLabel *title;
  GtkLabel *subtitle;
  GtkLabel *message_label;
  AdwPreferencesGroup *probe_group;
  AdwPreferencesGroup *runs_group;
  AdwPreferencesGroup *points_group;
  GPtrArray *probe_rows, *runs_rows, *points_rows;
  AdwComboRow *variant_row;
  GPtrArray *variant_ids; /* parallel to the combo's items; NULL: the open model */
  GtkEditable *threads_row;
  GtkEditable *depths_row;
  GtkSpinButton *gen_spin;
  GtkSpinButton *reps_spin;
};

G_DEFINE_FINAL_TYPE (LatheDevicesPage, lathe_devices_page, ADW_TYPE_BIN)

static void update_actions (LatheDevicesPage *self);
static JsonNode *recall_probe (LatheDevicesPage *self, const char *device);
static void show_selected (LatheDevicesPage *self);

/* Helpers -------------------------------------------------------------------------- */

static void
set_message (LatheDevicesPage *self, const char *text, gboolean is_error)
{
  g_free (self->message);
  self->message = g_strdup (text != NULL ? text : "");
  gtk_label_set_text (self->message_label, self->message);
  gtk_widget_set_visible (GTK_WIDGET (self->message_label), *self->message != '\0');
  if (is_error)
    gtk_widget_add_css_class (GTK_WIDGET (self->message_label), "error");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->message_label), "error");
}

static void
toast (LatheDevicesPage *self, const char *text)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "win.show-toast", "s", text);
}

static void
clear_rows (AdwPreferencesGroup *group, GPtrArray *rows)
{
  for (guint i = 0; i < rows->len; i++)
    adw_preferences_group_remove (group, rows->pdata[i]);
  g_ptr_array_set_size (rows, 0);
}

static GtkWidget *
add_row (AdwPreferencesGroup *group, GPtrArray *rows, const char *title, const char *subtitle)
{
  GtkWidget *row = adw_action_row_new ();

  /* Text from files and devices: never markup. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_group_add (group, row);
  g_ptr_array_add (rows, row);
  return row;
}

static const char *
str_member (JsonObject *o, const char *key)
{
  const char *s = json_object_get_string_member_with_default (o, key, "");

  return s != NULL ? s : "";
}

LatheDevice *
lathe_devices_page_get_selected (LatheDevicesPage *self)
{
  GtkListBoxRow *row;

  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), NULL);
  row = gtk_list_box_get_selected_row (self->list);
  if (row == NULL || self->devices == NULL)
    return NULL;
  return lathe_devices_find (self->devices, gtk_widget_get_name (GTK_WIDGET (row)));
}

/* The registry ------------------------------------------------------------------- */

static GtkWidget *
device_list_row (LatheDevice *d)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *name = gtk_label_new (lathe_device_get_name (d));
  g_autofree char *where = lathe_device_get_port (d) > 0
                               ? g_strdup_printf ("%s:%d", lathe_device_get_destination (d), lathe_device_get_port (d))
                               : g_strdup (lathe_device_get_destination (d));
  GtkWidget *dest = gtk_label_new (where);

  gtk_widget_set_name (row, lathe_device_get_name (d));
  gtk_label_set_xalign (GTK_LABEL (name), 0);
  gtk_label_set_ellipsize (GTK_LABEL (name), PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (name, "heading");
  gtk_label_set_xalign (GTK_LABEL (dest), 0);
  gtk_label_set_ellipsize (GTK_LABEL (dest), PANGO_ELLIPSIZE_MIDDLE);
  gtk_widget_add_css_class (dest, "caption");
  gtk_widget_add_css_class (dest, "dim-label");
  gtk_widget_set_margin_top (box, 6);
  gtk_widget_set_margin_bottom (box, 6);
  gtk_box_append (GTK_BOX (box), name);
  gtk_box_append (GTK_BOX (box), dest);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  return row;
}

void
lathe_devices_page_reload (LatheDevicesPage *self)
{
  g_autoptr (GError) error = NULL;
  LatheDevice *was = lathe_devices_page_get_selected (self);
  g_autofree char *selected = was != NULL ? g_strdup (lathe_device_get_name (was)) : NULL;
  GtkWidget *child;

  g_return_if_fail (LATHE_IS_DEVICES_PAGE (self));
  g_free (self->registry);
  self->registry = lathe_devices_file ();
  g_clear_pointer (&self->devices, g_ptr_array_unref);
  self->devices = lathe_devices_load (self->registry, &error);
  if (self->devices == NULL)
    {
      self->devices = g_ptr_array_new_with_free_func (g_object_unref);
      set_message (self, error->message, TRUE);
      toast (self, error->message);
    }
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->list))) != NULL)
    gtk_list_box_remove (self->list, child);
  for (guint i = 0; i < self->devices->len; i++)
    gtk_list_box_append (self->list, device_list_row (self->devices->pdata[i]));
  gtk_stack_set_visible_child_name (self->stack, self->devices->len > 0 ? "devices" : "empty");
  if (selected == NULL || !lathe_devices_page_select (self, selected))
    gtk_list_box_select_row (self->list, gtk_list_box_get_row_at_index (self->list, 0));
  show_selected (self);
}

guint
lathe_devices_page_get_n_devices (LatheDevicesPage *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), 0);
  return self->devices != NULL ? self->devices->len : 0;
}

gboolean
lathe_devices_page_select (LatheDevicesPage *self, const char *name)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), FALSE);
  for (GtkWidget *c = gtk_widget_get_first_child (GTK_WIDGET (self->list)); c != NULL;
       c = gtk_widget_get_next_sibling (c))
    if (GTK_IS_LIST_BOX_ROW (c) && g_strcmp0 (gtk_widget_get_name (c), name) == 0)
      {
        gtk_list_box_select_row (self->list, GTK_LIST_BOX_ROW (c));
        return TRUE;
      }
  return FALSE;
}

JsonNode *
lathe_devices_page_get_probe (LatheDevicesPage *self)
{
  LatheDevice *d = lathe_devices_page_get_selected (self);

  return d != NULL ? recall_probe (self, lathe_device_get_name (d)) : NULL;
}

const char *
lathe_devices_page_get_message (LatheDevicesPage *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), NULL);
  return self->message != NULL ? self->message : "";
}

AdwMessageDialog *
lathe_devices_page_get_host_key_dialog (LatheDevicesPage *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), NULL);
  return self->host_key_dialog;
}

/* What a probe found ---------------------------------------------------------------- */

/* The last probe of each device is kept ($XDG_CACHE_HOME/lathe/probes/NAME.json),
 * so that the page shows it after a restart. */
static char *
probe_file (const char *device)
{
  g_autofree char *leaf = g_strdup_printf ("%s.json", device);

  return g_build_filename (g_get_user_cache_dir (), "lathe", "probes", leaf, NULL);
}

static void
remember_probe (LatheDevicesPage *self, const char *device, JsonNode *probe)
{
  g_autofree char *path = probe_file (device);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *text = lathe_json_to_string (probe, TRUE);
  g_autoptr (GError) error = NULL;

  g_hash_table_replace (self->probes, g_strdup (device), json_node_ref (probe));
  if (g_mkdir_with_parents (dir, 0700) != 0 || !lathe_file_write_atomic_mode (path, text, -1, 0600, &error))
    g_warning ("%s: the probe is not kept: %s", path, error != NULL ? error->message : g_strerror (errno));
}

/* The kept probe of a device, or NULL (none, or unreadable: probe again). */
static JsonNode *
recall_probe (LatheDevicesPage *self, const char *device)
{
  JsonNode *probe = g_hash_table_lookup (self->probes, device);
  g_autofree char *path = NULL;

  if (probe != NULL)
    return probe;
  path = probe_file (device);
  /* A file anyone may have changed: of the probe's shape, or probe again. */
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) || (probe = lathe_json_load (path, 1 << 20, NULL)) == NULL)
    return NULL;
  if (!lathe_probe_check (probe))
    {
      json_node_unref (probe);
      return NULL;
    }
  g_hash_table_replace (self->probes, g_strdup (device), probe);
  return probe;
}

static void
forget_probe (LatheDevicesPage *self, const char *device)
{
  g_autofree char *path = probe_file (device);

  g_hash_table_remove (self->probes, device);
  g_unlink (path);
}

/* "probed 24 Nov, 19:52" from the kept file's time. */
static char *
probed_when (const char *device)
{
  g_autofree char *path = probe_file (device);
  g_autoptr (GFile) f = g_file_new_for_path (path);
  g_autoptr (GFileInfo) info = g_file_query_info (f, G_FILE_ATTRIBUTE_TIME_MODIFIED, 0, NULL, NULL);
  g_autoptr (GDateTime) t = info != NULL ? g_file_info_get_modification_date_time (info) : NULL;
  g_autoptr (GDateTime) local = t != NULL ? g_date_time_to_local (t) : NULL;
  g_autofree char *when = local != NULL ? g_date_time_format (local, "%e %b, %H:%M") : NULL;

  return when != NULL ? g_strdup_printf (_("Probed %s"), g_strstrip (when)) : NULL;
}

static char *
join_array (JsonArray *a, const char *sep)
{
  g_autoptr (GString) s = g_string_new (NULL);

  for (guint i = 0; a != NULL && i < json_array_get_length (a); i++)
    {
      JsonNode *n = json_array_get_element (a, i);
      if (s->len > 0)
        g_string_append (s, sep);
      if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_STRING)
        g_string_append (s, json_node_get_string (n));
      else if (JSON_NODE_HOLDS_VALUE (n))
        g_string_append_printf (s, "%" G_GINT64_FORMAT, json_node_get_int (n));
    }
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static char *
clocks_text (JsonObject *p)
{
  g_autofree char *now = join_array (json_object_get_array_member (p, "freq_mhz"), ", ");
  const char *gov = str_member (p, "governor");

  if (!json_object_has_member (p, "freq_max_mhz") && *now == '\0')
    return g_strdup (_("not exposed by the device"));
  return g_strdup_printf (_("%s governor, %" G_GINT64_FORMAT "–%" G_GINT64_FORMAT " MHz; now %s MHz"),
                          *gov ? gov : _("no"), json_object_get_int_member_with_default (p, "freq_min_mhz", 0),
                          json_object_get_int_member_with_default (p, "freq_max_mhz", 0), *now ? now : "?");
}

static char *
temperatures_text (JsonObject *p)
{
  JsonArray *t = json_object_get_array_member (p, "temperatures");
  g_autoptr (GString) s = g_string_new (NULL);

  for (guint i = 0; t != NULL && i < json_array_get_length (t); i++)
    {
      JsonObject *o = json_array_get_object_element (t, i);
      g_string_append_printf (s, "%s%s %.1f °C", s->len ? ", " : "", str_member (o, "sensor"),
                              json_object_get_double_member_with_default (o, "celsius", NAN));
    }
  if (s->len == 0)
    g_string_append (s, _("no sensor exposed"));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static char *
power_text (JsonObject *p)
{
  g_autofree char *sensors = join_array (json_object_get_array_member (p, "power_sensors"), ", ");
  JsonArray *e = json_object_get_array_member (p, "energy_counters");
  g_autoptr (GString) s = g_string_new (sensors);

  for (guint i = 0; e != NULL && i < json_array_get_length (e); i++)
    g_string_append_printf (s, "%s%s (RAPL)", s->len ? ", " : "",
                            str_member (json_array_get_object_element (e, i), "name"));
  if (s->len == 0)
    g_string_append (s, _("none: profiles carry no energy per token"));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
show_probe (LatheDevicesPage *self, const char *device, JsonNode *probe)
{
  JsonObject *p;
  g_autofree char *system = NULL, *cpu = NULL, *simd = NULL, *memory = NULL, *disk = NULL;
  g_autofree char *clocks = NULL, *temps = NULL, *power = NULL;

  clear_rows (self->probe_group, self->probe_rows);
  {
    g_autofree char *when = probe != NULL && device != NULL ? probed_when (device) : NULL;
    adw_preferences_group_set_description (self->probe_group, when);
  }
  if (probe == NULL)
    {
      add_row (self->probe_group, self->probe_rows, _("Not probed yet"),
               _("Probe connects over SSH and reads the system, processor, memory, disk, clocks and sensors"));
      return;
    }
  p = json_node_get_object (probe);
  system = g_strdup_printf (_("%s, Linux %s"), str_member (p, "os"), str_member (p, "kernel"));
  cpu = g_strdup_printf (_("%s · %s · %" G_GINT64_FORMAT " cores"), str_member (p, "cpu"), str_member (p, "arch"),
                         json_object_get_int_member_with_default (p, "cores", 0));
  simd = join_array (json_object_get_array_member (p, "simd"), " ");
  memory = g_strdup_printf (_("%" G_GINT64_FORMAT " MB, %" G_GINT64_FORMAT " MB available"),
                            json_object_get_int_member_with_default (p, "memory_mb", 0),
                            json_object_get_int_member_with_default (p, "memory_available_mb", 0));
  disk = g_strdup_printf (_("%" G_GINT64_FORMAT " MB free for the cache"),
                          json_object_get_int_member_with_default (p, "disk_free_mb", 0));
  clocks = clocks_text (p);
  temps = temperatures_text (p);
  power = power_text (p);
  add_row (self->probe_group, self->probe_rows, _("System"), system);
  add_row (self->probe_group, self->probe_rows, _("Processor"), cpu);
  add_row (self->probe_group, self->probe_rows, _("SIMD"), *simd ? simd : _("none that lathe-run uses"));
  add_row (self->probe_group, self->probe_rows, _("Memory"), memory);
  add_row (self->probe_group, self->probe_rows, _("Disk"), disk);
  add_row (self->probe_group, self->probe_rows, _("Clocks"), clocks);
  add_row (self->probe_group, self->probe_rows, _("Temperatures"), temps);
  add_row (self->probe_group, self->probe_rows, _("Power sensors"), power);
  if (json_object_has_member (p, "throttle_events"))
    {
      g_autofree char *t = g_strdup_printf ("%" G_GINT64_FORMAT, json_object_get_int_member (p, "throttle_events"));
      add_row (self->probe_group, self->probe_rows, _("Throttle events since boot"), t);
    }
}

/* Profiles: the last one's runs, and the device's points -------------------------------- */

static double
mean_of (JsonObject *bench, const char *key)
{
  JsonObject *o = json_object_get_object_member (bench, key);

  return o != NULL ? json_object_get_double_member_with_default (o, "mean", NAN) : NAN;
}

static char *
run_text (JsonObject *run)
{
  JsonObject *b = json_object_get_object_member (run, "bench");
  g_autoptr (GString) s = g_string_new (NULL);
  const double t0 = json_object_get_double_member_with_default (run, "temperature_before", NAN);
  const double t1 = json_object_get_double_member_with_default (run, "temperature_after", NAN);
  const double jpt = json_object_get_double_member_with_default (run, "joules_per_token", NAN);

  if (b == NULL)
    return g_strdup ("");
  g_string_append_printf (s, _("decode %.1f tok/s · prefill %.1f tok/s · first token %.1f ms · load %.0f ms · "
                               "%.1f MB"),
                          mean_of (b, "decode_tps"), mean_of (b, "prefill_tps"),
                          json_object_get_double_member_with_default (b, "ttft_ms", NAN),
                          json_object_get_double_member_with_default (b, "load_ms", NAN),
                          (double) json_object_get_int_member_with_default (b, "peak_rss_bytes", 0) / 1e6);
  if (!isnan (t0) && !isnan (t1))
    g_string_append_printf (s, _(" · %.1f → %.1f °C"), t0, t1);
  if (json_object_get_boolean_member_with_default (run, "throttled", FALSE))
    g_string_append (s, _(" · THROTTLED"));
  if (!isnan (jpt))
    g_string_append_printf (s, _(" · %.4f J/token (%s)"), jpt, str_member (run, "energy_source"));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
show_runs (LatheDevicesPage *self, JsonNode *profile)
{
  JsonArray *runs = profile != NULL ? json_object_get_array_member (json_node_get_object (profile), "runs") : NULL;

  clear_rows (self->runs_group, self->runs_rows);
  gtk_widget_set_visible (GTK_WIDGET (self->runs_group), runs != NULL);
  if (runs == NULL)
    return;
  adw_preferences_group_set_description (self->runs_group,
                                         str_member (json_node_get_object (profile), "model"));
  for (guint i = 0; i < json_array_get_length (runs); i++)
    {
      JsonObject *r = json_array_get_object_element (runs, i);
      const gint64 threads = json_object_get_int_member_with_default (r, "threads", 0);
      g_autofree char *title = g_strdup_printf (ngettext ("%d thread, %d tokens deep", "%d threads, %d tokens deep",
                                                          (gulong) threads),
                                                (int) threads, (int) json_object_get_int_member_with_default (r, "depth", 0));
      g_autofree char *text = run_text (r);
      add_row (self->runs_group, self->runs_rows, title, text);
    }
}

static void
show_points (LatheDevicesPage *self, LatheDevice *d)
{
  GListModel *vs = self->workspace != NULL ? lathe_workspace_get_variants (self->workspace) : NULL;

  clear_rows (self->points_group, self->points_rows);
  for (guint i = 0; d != NULL && vs != NULL && i < g_list_model_get_n_items (vs); i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (vs, i);
      g_autofree char *text = NULL;
      if (g_strcmp0 (lathe_variant_get_device (v), lathe_device_get_name (d)) != 0)
        continue;
      text = g_strdup_printf (_("decode %.1f tok/s · prefill %.1f tok/s · %.1f MB peak"),
                              lathe_variant_get_metric (v, LATHE_METRIC_DECODE_TPS),
                              lathe_variant_get_metric (v, LATHE_METRIC_PREFILL_TPS),
                              lathe_variant_get_metric (v, LATHE_METRIC_PEAK_MEMORY_MB));
      add_row (self->points_group, self->points_rows, lathe_variant_get_name (v), text);
    }
  if (self->points_rows->len == 0)
    add_row (self->points_group, self->points_rows, _("None yet"),
             self->workspace != NULL ? _("Profile a variant: its figures on this device join the Trade-offs chart")
                                     : _("Open a model: profiles become points of its workspace"));
}

/* The ssh command line that reaches the device, as the user would type it. */
static char *
ssh_command (LatheDevice *d)
{
  g_autoptr (GString) s = g_string_new ("ssh");

  if (lathe_device_get_port (d) > 0)
    g_string_append_printf (s, " -p %d", lathe_device_get_port (d));
  if (lathe_device_get_identity (d) != NULL)
    g_string_append_printf (s, " -i %s", lathe_device_get_identity (d));
  if (lathe_device_get_ssh_config (d) != NULL)
    g_string_append_printf (s, " -F %s", lathe_device_get_ssh_config (d));
  g_string_append_c (s, ' ');
  if (lathe_device_get_user (d) != NULL)
    g_string_append_printf (s, "%s@", lathe_device_get_user (d));
  g_string_append (s, lathe_device_get_destination (d));
  return g_string_free (g_steal_pointer (&s), FALSE);
}

static void
show_selected (LatheDevicesPage *self)
{
  LatheDevice *d = lathe_devices_page_get_selected (self);
  const char *name = d != NULL ? lathe_device_get_name (d) : NULL;

  gtk_label_set_text (self->title, name != NULL ? name : "");
  if (d != NULL)
    {
      g_autofree char *command = ssh_command (d);
      gtk_label_set_text (self->subtitle, command);
    }
  show_probe (self, name, name != NULL ? recall_probe (self, name) : NULL);
  show_runs (self, name != NULL ? g_hash_table_lookup (self->profiles, name) : NULL);
  show_points (self, d);
  update_actions (self);
}

/* The variant to profile ------------------------------------------------------------- */

static void
fill_variants (LatheDevicesPage *self)
{
  g_autoptr (GtkStringList) names = gtk_string_list_new (NULL);
  LatheModel *model = self->session != NULL ? lathe_session_get_model (self->session) : NULL;
  GListModel *vs = self->workspace != NULL ? lathe_workspace_get_variants (self->workspace) : NULL;
  const char *keep = NULL;
  guint at = 0;
  guint sel = adw_combo_row_get_selected (self->variant_row);

  if (sel < self->variant_ids->len)
    keep = self->variant_ids->pdata[sel];
  g_autofree char *kept = g_strdup (keep);
  g_ptr_array_set_size (self->variant_ids, 0);
  if (model != NULL)
    {
      g_autofree char *base = g_path_get_basename (lathe_model_get_path (model));
      g_autofree char *label = g_strdup_printf (_("The open model (%s)"), base);
      gtk_string_list_append (names, label);
      g_ptr_array_add (self->variant_ids, NULL);
    }
  for (guint i = 0; vs != NULL && i < g_list_model_get_n_items (vs); i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (vs, i);
      /* Points measured on devices are results, not models to send. */
      if (lathe_variant_get_device (v) != NULL || lathe_variant_get_file (v) == NULL)
        continue;
      if (g_strcmp0 (kept, lathe_variant_get_id (v)) == 0)
        at = self->variant_ids->len;
      gtk_string_list_append (names, lathe_variant_get_name (v));
      g_ptr_array_add (self->variant_ids, g_strdup (lathe_variant_get_id (v)));
    }
  adw_combo_row_set_model (self->variant_row, G_LIST_MODEL (names));
  adw_combo_row_set_selected (self->variant_row, at);
}

static void
variants_changed_cb (GListModel *list, guint pos, guint removed, guint added, LatheDevicesPage *self)
{
  fill_variants (self);
  show_points (self, lathe_devices_page_get_selected (self));
}

static void
session_workspace_cb (LatheSession *session, GParamSpec *pspec, LatheDevicesPage *self)
{
  if (self->workspace != NULL)
    g_signal_handlers_disconnect_by_data (lathe_workspace_get_variants (self->workspace), self);
  g_set_object (&self->workspace, lathe_session_get_workspace (session));
  if (self->workspace != NULL)
    g_signal_connect_after (lathe_workspace_get_variants (self->workspace), "items-changed",
                            G_CALLBACK (variants_changed_cb), self);
  fill_variants (self);
  show_points (self, lathe_devices_page_get_selected (self));
  update_actions (self);
}

/* The profile settings' problem, or NULL; fills the lists when given. */
static char *
profile_settings (LatheDevicesPage *self, GArray *threads, GArray *depths)
{
  g_autoptr (GArray) t = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GArray) dp = g_array_new (FALSE, FALSE, sizeof (int));

  if (!lathe_parse_counts (gtk_editable_get_text (self->threads_row), 1024, t, NULL))
    return g_strdup (_("Threads: whole numbers from 1 to 1024, separated by commas (empty: every core)"));
  if (!lathe_parse_depths (gtk_editable_get_text (self->depths_row), 32768, dp, NULL) || dp->len == 0)
    return g_strdup (_("Context depths: one or more token counts from 0 to 32768, separated by commas"));
  if (self->variant_ids->len == 0)
    return g_strdup (_("Open a model first: its variants are what is profiled"));
  if (threads != NULL)
    g_array_append_vals (threads, t->data, t->len);
  if (depths != NULL)
    g_array_append_vals (depths, dp->data, dp->len);
  return NULL;
}

const char *
lathe_devices_page_get_profile_variant (LatheDevicesPage *self)
{
  guint sel;

  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), NULL);
  sel = adw_combo_row_get_selected (self->variant_row);
  return sel < self->variant_ids->len ? self->variant_ids->pdata[sel] : NULL;
}

const char *
lathe_devices_page_get_profile_problem (LatheDevicesPage *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), NULL);
  return self->profile_problem;
}

static void
update_actions (LatheDevicesPage *self)
{
  const gboolean has = lathe_devices_page_get_selected (self) != NULL;
  const gboolean busy = self->session != NULL && lathe_session_get_job_running (self->session);

  g_free (self->profile_problem);
  self->profile_problem = profile_settings (self, NULL, NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "devices.probe", has && !busy && self->session != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "devices.profile",
                                 has && !busy && self->session != NULL && self->profile_problem == NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "devices.install",
                                 has && !busy && self->session != NULL && self->variant_ids->len > 0);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "devices.edit", has);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "devices.remove", has);
  if (self->profile_problem != NULL)
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->variant_row), self->profile_problem);
  else
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->variant_row), NULL);
}

void
lathe_devices_page_set_profile (LatheDevicesPage *self, const char *variant, const char *threads,
                                const char *depths, int n_gen, int reps)
{
  g_return_if_fail (LATHE_IS_DEVICES_PAGE (self));
  adw_combo_row_set_selected (self->variant_row, 0);
  for (guint i = 0; variant != NULL && self->workspace != NULL && i < self->variant_ids->len; i++)
    {
      LatheVariant *v = lathe_workspace_find (self->workspace, variant);
      if (v != NULL && g_strcmp0 (self->variant_ids->pdata[i], lathe_variant_get_id (v)) == 0)
        adw_combo_row_set_selected (self->variant_row, i);
    }
  if (threads != NULL)
    gtk_editable_set_text (self->threads_row, threads);
  if (depths != NULL)
    gtk_editable_set_text (self->depths_row, depths);
  if (n_gen > 0)
    gtk_spin_button_set_value (self->gen_spin, n_gen);
  if (reps > 0)
    gtk_spin_button_set_value (self->reps_spin, reps);
  update_actions (self);
}

/* Device jobs ------------------------------------------------------------------------ */

static gboolean start_retry (LatheDevicesPage *self, Retry what, GError **error);

typedef struct
{
  GWeakRef page;
  LatheDevice *device;
  char *model_path; /* profile: the file sent */
  char *variant_name;
  GArray *threads, *depths;
  int n_gen, reps;
  JsonNode *partial; /* profile: the runs done before a failure */
  char *fingerprint; /* host key scan */
  char *recipe;       /* install: what the bundle carries */
  JsonNode *measurements;
  Retry retry;
} DeviceJob;

static void
device_job_free (gpointer p)
{
  DeviceJob *j = p;

  g_weak_ref_clear (&j->page);
  g_clear_object (&j->device);
  g_free (j->model_path);
  g_free (j->variant_name);
  g_clear_pointer (&j->threads, g_array_unref);
  g_clear_pointer (&j->depths, g_array_unref);
  g_clear_pointer (&j->partial, json_node_unref);
  g_free (j->fingerprint);
  g_free (j->recipe);
  g_clear_pointer (&j->measurements, json_node_unref);
  g_free (j);
}

static DeviceJob *
device_job_new (LatheDevicesPage *self, LatheDevice *d, Retry retry)
{
  DeviceJob *j = g_new0 (DeviceJob, 1);

  g_weak_ref_init (&j->page, self);
  j->device = g_object_ref (d);
  j->retry = retry;
  return j;
}

/* Unknown host keys: ask, showing the fingerprint, then trust and retry. */

static gpointer
scan_thread (LatheSession *session, gpointer data, GCancellable *cancellable, GError **error)
{
  DeviceJob *j = data;
  LatheSshOptions o;

  lathe_ssh_options_init (&o);
  return lathe_ssh_scan_host_key (j->device, &o, &j->fingerprint, cancellable, error);
}

typedef struct
{
  LatheDevice *device;
  char *entries;
  Retry retry;
} KeyQuestion;

static void
key_question_free (gpointer p)
{
  KeyQuestion *q = p;

  g_object_unref (q->device);
  g_free (q->entries);
  g_free (q);
}

static void
host_key_response_cb (AdwMessageDialog *dialog, const char *response, LatheDevicesPage *self)
{
  KeyQuestion *q = g_object_get_data (G_OBJECT (dialog), "question");
  g_autoptr (GError) error = NULL;

  self->host_key_dialog = NULL;
  if (g_strcmp0 (response, "trust") != 0)
    {
      set_message (self, _("The host key was not trusted: nothing was done on the device"), TRUE);
      return;
    }
  if (!lathe_ssh_trust_host_key (q->device, q->entries, NULL, &error)
      || (lathe_devices_page_select (self, lathe_device_get_name (q->device))
          && !start_retry (self, q->retry, &error)))
    set_message (self, error->message, TRUE);
}

static void
scan_done (LatheSession *session, gpointer result, const GError *error, gpointer data)
{
  DeviceJob *j = data;
  g_autoptr (LatheDevicesPage) self = g_weak_ref_get (&j->page);
  GtkRoot *root;
  AdwMessageDialog *dialog;
  g_autofree char *body = NULL;
  KeyQuestion *q;

  if (self == NULL)
    return;
  if (error != NULL)
    {
      set_message (self, error->message, TRUE);
      return;
    }
  root = gtk_widget_get_root (GTK_WIDGET (self));
  body = g_strdup_printf (_("Lathe has not connected to %s (%s) before. It presents this host key:\n\n%s\n\n"
                            "Compare it with the key on the device (there: ssh-keygen -lf "
                            "/etc/ssh/ssh_host_ed25519_key.pub). Trusting it adds it to your known_hosts."),
                          lathe_device_get_name (j->device), lathe_device_get_destination (j->device),
                          j->fingerprint);
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                                       _("Trust This Device?"), body));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "trust", _("_Trust and Connect"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "trust", ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (dialog, "cancel");
  adw_message_dialog_set_close_response (dialog, "cancel");
  q = g_new0 (KeyQuestion, 1);
  q->device = g_object_ref (j->device);
  q->entries = g_strdup (result);
  q->retry = j->retry;
  g_object_set_data_full (G_OBJECT (dialog), "question", q, key_question_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (host_key_response_cb), self, 0);
  self->host_key_dialog = dialog;
  set_message (self, _("Its host key is not known yet: check the fingerprint"), FALSE);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Failed: an unknown host key leads to the question; anything else is said. */
static void
device_job_failed (LatheDevicesPage *self, DeviceJob *j, const GError *error, const char *what)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *msg = NULL;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      set_message (self, _("Cancelled: nothing is left running on the device"), FALSE);
      return;
    }
  if (g_error_matches (error, LATHE_SSH_ERROR, LATHE_SSH_ERROR_HOST_KEY_UNKNOWN))
    {
      DeviceJob *scan = device_job_new (self, j->device, j->retry);
      g_autofree char *text = g_strdup_printf (_("Reading %s's host key…"), lathe_device_get_name (j->device));
      if (!lathe_session_run_job (self->session, text, scan_thread, scan_done, scan, device_job_free, g_free,
                                  &local))
        set_message (self, local->message, TRUE);
      return;
    }
  msg = g_strdup_printf ("%s: %s", what, error->message);
  set_message (self, msg, TRUE);
  toast (self, msg);
}

/* Probe */

static gpointer
probe_thread (LatheSession *session, gpointer data, GCancellable *cancellable, GError **error)
{
  DeviceJob *j = data;
  LatheSshOptions o;

  lathe_ssh_options_init (&o);
  return lathe_device_probe (j->device, &o, cancellable, error);
}

static void
probe_done (LatheSession *session, gpointer result, const GError *error, gpointer data)
{
  DeviceJob *j = data;
  g_autoptr (LatheDevicesPage) self = g_weak_ref_get (&j->page);

  if (self == NULL)
    return;
  update_actions (self);
  if (result == NULL)
    {
      device_job_failed (self, j, error, _("Probing failed"));
      return;
    }
  remember_probe (self, lathe_device_get_name (j->device), result);
  set_message (self, NULL, FALSE);
  show_selected (self);
}

/* Profile */

typedef struct
{
  LatheSession *session;
  const char *device;
} Progress;

static void
profile_progress_cb (gpointer user, int done, int total, const char *what)
{
  Progress *p = user;
  g_autofree char *text = g_strdup_printf ("%s: %s", p->device, what);

  lathe_session_job_report (p->session, total > 0 ? (double) done / total : -1, text);
}

static gpointer
profile_thread (LatheSession *session, gpointer data, GCancellable *cancellable, GError **error)
{
  DeviceJob *j = data;
  Progress progress = { session, lathe_device_get_name (j->device) };
  LatheProfileOptions po;
  LatheSshOptions o;

  lathe_ssh_options_init (&o);
  lathe_profile_options_init (&po);
  po.threads = (const int *) j->threads->data;
  po.n_threads = j->threads->len;
  po.depths = (const int *) j->depths->data;
  po.n_depths = j->depths->len;
  po.n_gen = j->n_gen;
  po.reps = j->reps;
  return lathe_device_profile (j->device, j->model_path, &po, &o, profile_progress_cb, &progress, &j->partial,
                               cancellable, error);
}

/* The profile (or the runs done before a failure) as a workspace point. */
static LatheVariant *
add_point (LatheDevicesPage *self, DeviceJob *j, JsonNode *profile, GError **error)
{
  if (self->workspace == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, _("no workspace is open to keep it"));
      return NULL;
    }
  g_hash_table_replace (self->profiles, g_strdup (lathe_device_get_name (j->device)), json_node_ref (profile));
  remember_probe (self, lathe_device_get_name (j->device),
                  json_object_get_member (json_node_get_object (profile), "probe"));
  return lathe_workspace_add_profile (self->workspace, j->model_path, profile, error);
}

static void
profile_done (LatheSession *session, gpointer result, const GError *error, gpointer data)
{
  DeviceJob *j = data;
  g_autoptr (LatheDevicesPage) self = g_weak_ref_get (&j->page);
  g_autoptr (GError) local = NULL;
  g_autofree char *msg = NULL;
  LatheVariant *v;

  if (self == NULL)
    return;
  update_actions (self);
  if (result == NULL)
    {
      device_job_failed (self, j, error, _("Profiling failed"));
      if (j->partial != NULL && (v = add_point (self, j, j->partial, &local)) != NULL)
        {
          g_autofree char *kept = g_strdup_printf (_("%s — the runs done before are kept as “%s”"), self->message,
                                                   lathe_variant_get_name (v));
          set_message (self, kept, TRUE);
        }
      show_selected (self);
      return;
    }
  if ((v = add_point (self, j, result, &local)) == NULL)
    msg = g_strdup_printf (_("Profiled, but the point was not kept: %s"), local->message);
  else
    msg = g_strdup_printf (_("%s: decode %.1f tok/s at best; the point is on the Trade-offs chart"),
                           lathe_variant_get_name (v), lathe_variant_get_metric (v, LATHE_METRIC_DECODE_TPS));
  set_message (self, msg, v == NULL);
  toast (self, msg);
  show_selected (self);
}

/* The file of the variant chosen to profile, and its name. */
static char *
chosen_model (LatheDevicesPage *self, char **name, LatheVariant **variant, GError **error)
{
  const guint sel = adw_combo_row_get_selected (self->variant_row);
  const char *id = sel < self->variant_ids->len ? self->variant_ids->pdata[sel] : NULL;
  LatheModel *model = self->session != NULL ? lathe_session_get_model (self->session) : NULL;
  LatheVariant *v;

  if (id == NULL && model != NULL)
    {
      *name = g_path_get_basename (lathe_model_get_path (model));
      return g_strdup (lathe_model_get_path (model));
    }
  if (id != NULL && self->workspace != NULL && (v = lathe_workspace_find (self->workspace, id)) != NULL)
    {
      *name = g_strdup (lathe_variant_get_name (v));
      if (variant != NULL)
        *variant = v;
      return lathe_workspace_dup_file (self->workspace, v);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("Open a model first: its variants are what is profiled"));
  return NULL;
}

static gboolean
start_profile (LatheDevicesPage *self, LatheDevice *d, GError **error)
{
  DeviceJob *j = device_job_new (self, d, RETRY_PROFILE);
  g_autofree char *problem = NULL, *text = NULL;

  j->threads = g_array_new (FALSE, FALSE, sizeof (int));
  j->depths = g_array_new (FALSE, FALSE, sizeof (int));
  j->n_gen = gtk_spin_button_get_value_as_int (self->gen_spin);
  j->reps = gtk_spin_button_get_value_as_int (self->reps_spin);
  if ((problem = profile_settings (self, j->threads, j->depths)) != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, problem);
      device_job_free (j);
      return FALSE;
    }
  if ((j->model_path = chosen_model (self, &j->variant_name, NULL, error)) == NULL)
    {
      device_job_free (j);
      return FALSE;
    }
  text = g_strdup_printf (_("Profiling %s on %s…"), j->variant_name, lathe_device_get_name (d));
  set_message (self, NULL, FALSE);
  return lathe_session_run_job (self->session, text, profile_thread, profile_done, j, device_job_free,
                                (GDestroyNotify) json_node_unref, error);
}

/* Install: a bundle of the variant for the device, sent and verified there. */

/* A bundle's folder name: letters, digits, '.', '_' and '-'. */
static char *
bundle_name (const char *variant)
{
  char *s = g_strdup (variant);

  for (char *p = s; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '_' && *p != '-')
      *p = '-';
  return s;
}

static gpointer
install_thread (LatheSession *session, gpointer data, GCancellable *cancellable, GError **error)
{
  DeviceJob *j = data;
  Progress progress = { session, lathe_device_get_name (j->device) };
  g_autoptr (JsonNode) probe = NULL;
  g_autofree char *dir = NULL, *archive = NULL, *name = bundle_name (j->variant_name);
  LatheBundleOptions bo;
  LatheSshOptions o;
  char *output = NULL;

  lathe_ssh_options_init (&o);
  profile_progress_cb (&progress, 0, 3, _("finding its architecture"));
  if ((probe = lathe_device_probe (j->device, &o, cancellable, error)) == NULL
      || (dir = g_dir_make_tmp ("lathe-bundle-XXXXXX", error)) == NULL)
    return NULL;
  lathe_bundle_options_init (&bo);
  bo.model_path = j->model_path;
  bo.name = j->variant_name;
  bo.arch = lathe_device_get_arch (j->device) != NULL
                ? lathe_device_get_arch (j->device)
                : json_object_get_string_member (json_node_get_object (probe), "arch");
  bo.recipe_json = j->recipe;
  bo.measurements = j->measurements;
  archive = g_strdup_printf ("%s/%s.tar.gz", dir, name);
  profile_progress_cb (&progress, 1, 3, _("making the bundle"));
  if (lathe_bundle_create (&bo, archive, cancellable, error))
    {
      profile_progress_cb (&progress, 2, 3, _("sending it and checking its golden output there"));
      /* Made and signed here a moment ago: the maker's own key is trusted. */
      if (!lathe_bundle_install (archive, NULL, j->device, &o, &output, cancellable, error))
        g_clear_pointer (&output, g_free);
    }
  g_unlink (archive);
  g_rmdir (dir);
  return output;
}

static void
install_done (LatheSession *session, gpointer result, const GError *error, gpointer data)
{
  DeviceJob *j = data;
  g_autoptr (LatheDevicesPage) self = g_weak_ref_get (&j->page);
  g_autofree char *msg = NULL, *out = NULL;

  if (self == NULL)
    return;
  update_actions (self);
  if (result == NULL)
    {
      device_job_failed (self, j, error, _("Installing failed"));
      return;
    }
  out = g_strstrip (g_strdup (result));
  msg = g_strdup_printf (_("%s is installed on %s and checked there:\n%s"), j->variant_name,
                         lathe_device_get_name (j->device), out);
  set_message (self, msg, FALSE);
  toast (self, _("Installed and checked on the device"));
}

static gboolean
start_install (LatheDevicesPage *self, LatheDevice *d, GError **error)
{
  DeviceJob *j = device_job_new (self, d, RETRY_INSTALL);
  g_autofree char *text = NULL;
  LatheVariant *v = NULL;

  if ((j->model_path = chosen_model (self, &j->variant_name, &v, error)) == NULL)
    {
      device_job_free (j);
      return FALSE;
    }
  if (v != NULL)
    {
      j->recipe = g_strdup (lathe_variant_get_recipe (v));
      j->measurements = lathe_variant_dup_metrics (v);
    }
  text = g_strdup_printf (_("Installing %s on %s…"), j->variant_name, lathe_device_get_name (d));
  set_message (self, NULL, FALSE);
  return lathe_session_run_job (self->session, text, install_thread, install_done, j, device_job_free, g_free,
                                error);
}

static gboolean
start_probe (LatheDevicesPage *self, LatheDevice *d, GError **error)
{
  DeviceJob *j = device_job_new (self, d, RETRY_PROBE);
  g_autofree char *text = g_strdup_printf (_("Probing %s…"), lathe_device_get_name (d));

  set_message (self, NULL, FALSE);
  return lathe_session_run_job (self->session, text, probe_thread, probe_done, j, device_job_free,
                                (GDestroyNotify) json_node_unref, error);
}

static gboolean
start_retry (LatheDevicesPage *self, Retry what, GError **error)
{
  LatheDevice *d = lathe_devices_page_get_selected (self);

  if (d == NULL || self->session == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("Choose a device first"));
      return FALSE;
    }
  switch (what)
    {
    case RETRY_PROBE:
      return start_probe (self, d, error);
    case RETRY_PROFILE:
      return start_profile (self, d, error);
    case RETRY_INSTALL:
    default:
      return start_install (self, d, error);
    }
}

gboolean
lathe_devices_page_probe (LatheDevicesPage *self, GError **error)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), FALSE);
  return start_retry (self, RETRY_PROBE, error);
}

gboolean
lathe_devices_page_install (LatheDevicesPage *self, GError **error)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), FALSE);
  return start_retry (self, RETRY_INSTALL, error);
}

gboolean
lathe_devices_page_profile (LatheDevicesPage *self, GError **error)
{
  g_return_val_if_fail (LATHE_IS_DEVICES_PAGE (self), FALSE);
  return start_retry (self, RETRY_PROFILE, error);
}

void
lathe_devices_page_set_session (LatheDevicesPage *self, LatheSession *session)
{
  g_return_if_fail (LATHE_IS_DEVICES_PAGE (self));
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_set_object (&self->session, session);
  if (session != NULL)
    {
      g_signal_connect_object (session, "notify::workspace", G_CALLBACK (session_workspace_cb), self, 0);
      g_signal_connect_object (session, "notify::model", G_CALLBACK (session_workspace_cb), self, 0);
      g_signal_connect_object (session, "notify::job-running", G_CALLBACK (update_actions), self,
                               G_CONNECT_SWAPPED);
      session_workspace_cb (session, NULL, self);
    }
}

/* Actions ------------------------------------------------------------------------------ */

static void
run_action (LatheDevicesPage *self, Retry what)
{
  g_autoptr (GError) error = NULL;

  if (!start_retry (self, what, &error))
    {
      set_message (self, error->message, TRUE);
      toast (self, error->message);
    }
}

static void
probe_action (GtkWidget *widget, const char *name, GVariant *param)
{
  run_action (LATHE_DEVICES_PAGE (widget), RETRY_PROBE);
}

static void
profile_action (GtkWidget *widget, const char *name, GVariant *param)
{
  run_action (LATHE_DEVICES_PAGE (widget), RETRY_PROFILE);
}

static void
install_action (GtkWidget *widget, const char *name, GVariant *param)
{
  run_action (LATHE_DEVICES_PAGE (widget), RETRY_INSTALL);
}

static void
saved_cb (LatheDeviceDialog *dialog, const char *name, LatheDevicesPage *self)
{
  const char *was = g_object_get_data (G_OBJECT (dialog), "editing");
  const gboolean added = was == NULL;

  /* The destination may have changed: what was probed is no longer known. */
  if (was != NULL)
    forget_probe (self, was);
  forget_probe (self, name);
  lathe_devices_page_reload (self);
  lathe_devices_page_select (self, name);
  /* A device just added is probed at once: the user sees it connect. */
  if (added && self->session != NULL && !lathe_session_get_job_running (self->session))
    run_action (self, RETRY_PROBE);
}

static void
open_dialog (LatheDevicesPage *self, LatheDevice *editing)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  LatheDeviceDialog *dialog = lathe_device_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                                       self->registry, editing);

  if (editing != NULL)
    g_object_set_data_full (G_OBJECT (dialog), "editing", g_strdup (lathe_device_get_name (editing)), g_free);
  g_signal_connect_object (dialog, "saved", G_CALLBACK (saved_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
add_action (GtkWidget *widget, const char *name, GVariant *param)
{
  open_dialog (LATHE_DEVICES_PAGE (widget), NULL);
}

static void
edit_action (GtkWidget *widget, const char *name, GVariant *param)
{
  LatheDevicesPage *self = LATHE_DEVICES_PAGE (widget);
  LatheDevice *d = lathe_devices_page_get_selected (self);

  if (d != NULL)
    open_dialog (self, d);
}

static void
remove_response_cb (AdwMessageDialog *dialog, const char *response, LatheDevicesPage *self)
{
  const char *name = g_object_get_data (G_OBJECT (dialog), "device");
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (GError) error = NULL;
  LatheDevice *d;

  if (g_strcmp0 (response, "remove") != 0)
    return;
  if ((devices = lathe_devices_load (self->registry, &error)) != NULL
      && (d = lathe_devices_find (devices, name)) != NULL)
    {
      g_ptr_array_remove (devices, d);
      lathe_devices_save (self->registry, devices, &error);
    }
  if (error != NULL)
    toast (self, error->message);
  forget_probe (self, name);
  g_hash_table_remove (self->profiles, name);
  lathe_devices_page_reload (self);
}

static void
remove_action (GtkWidget *widget, const char *name, GVariant *param)
{
  LatheDevicesPage *self = LATHE_DEVICES_PAGE (widget);
  LatheDevice *d = lathe_devices_page_get_selected (self);
  GtkRoot *root = gtk_widget_get_root (widget);
  AdwMessageDialog *dialog;
  g_autofree char *heading = NULL;

  if (d == NULL)
    return;
  heading = g_strdup_printf (_("Remove %s?"), lathe_device_get_name (d));
  dialog = ADW_MESSAGE_DIALOG (adw_message_dialog_new (
      GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, heading,
      _("Lathe forgets the device. Its points stay on the chart, and the files Lathe put on the device stay in "
        "~/.cache/lathe there.")));
  adw_message_dialog_add_responses (dialog, "cancel", _("_Cancel"), "remove", _("_Remove"), NULL);
  adw_message_dialog_set_response_appearance (dialog, "remove", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_close_response (dialog, "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "device", g_strdup (lathe_device_get_name (d)), g_free);
  g_signal_connect_object (dialog, "response", G_CALLBACK (remove_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* Building the page ------------------------------------------------------------------ */

static GtkWidget *
empty_page (void)
{
  GtkWidget *status = adw_status_page_new ();
  GtkWidget *button = gtk_button_new_with_mnemonic (_("_Add Device…"));

  adw_status_page_set_icon_name (ADW_STATUS_PAGE (status), "network-server-symbolic");
  adw_status_page_set_title (ADW_STATUS_PAGE (status), _("No Devices"));
  adw_status_page_set_description (ADW_STATUS_PAGE (status),
                                   _("Add a device you reach over SSH: Lathe probes it, measures your variants "
                                     "on it, and brings the figures back into the Trade-offs chart."));
  gtk_widget_set_halign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "pill");
  gtk_widget_add_css_class (button, "suggested-action");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "devices.add");
  adw_status_page_set_child (ADW_STATUS_PAGE (status), button);
  return status;
}

static void
row_selected_cb (GtkListBox *list, GtkListBoxRow *row, LatheDevicesPage *self)
{
  if (self->message != NULL && self->session != NULL && !lathe_session_get_job_running (self->session))
    set_message (self, NULL, FALSE);
  show_selected (self);
}

static GtkWidget *
sidebar (LatheDevicesPage *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *scroll = gtk_scrolled_window_new ();
  GtkWidget *add = gtk_button_new ();
  GtkWidget *content = adw_button_content_new ();

  gtk_widget_set_size_request (box, 220, -1);
  self->list = GTK_LIST_BOX (gtk_list_box_new ());
  gtk_widget_add_css_class (GTK_WIDGET (self->list), "navigation-sidebar");
  g_signal_connect (self->list, "row-selected", G_CALLBACK (row_selected_cb), self);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroll), GTK_WIDGET (self->list));
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroll), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_widget_set_vexpand (scroll, TRUE);
  gtk_box_append (GTK_BOX (box), scroll);
  adw_button_content_set_icon_name (ADW_BUTTON_CONTENT (content), "list-add-symbolic");
  adw_button_content_set_label (ADW_BUTTON_CONTENT (content), _("_Add Device…"));
  adw_button_content_set_use_underline (ADW_BUTTON_CONTENT (content), TRUE);
  gtk_widget_set_halign (content, GTK_ALIGN_CENTER);
  gtk_button_set_child (GTK_BUTTON (add), content);
  gtk_widget_add_css_class (add, "flat");
  gtk_widget_set_margin_start (add, 6);
  gtk_widget_set_margin_end (add, 6);
  gtk_widget_set_margin_top (add, 6);
  gtk_widget_set_margin_bottom (add, 6);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (add), "devices.add");
  gtk_box_append (GTK_BOX (box), add);
  return box;
}

static GtkWidget *
icon_button (const char *icon, const char *tooltip, const char *action)
{
  GtkWidget *b = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_tooltip_text (b, tooltip);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (b), action);
  gtk_widget_set_valign (b, GTK_ALIGN_CENTER);
  return b;
}

static GtkWidget *
header (LatheDevicesPage *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  GtkWidget *titles = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  GtkWidget *remove = icon_button ("user-trash-symbolic", _("Remove Device…"), "devices.remove");

  self->title = GTK_LABEL (gtk_label_new (NULL));
  gtk_widget_add_css_class (GTK_WIDGET (self->title), "title-2");
  gtk_label_set_xalign (self->title, 0);
  gtk_label_set_ellipsize (self->title, PANGO_ELLIPSIZE_END);
  self->subtitle = GTK_LABEL (gtk_label_new (NULL));
  gtk_widget_add_css_class (GTK_WIDGET (self->subtitle), "dim-label");
  gtk_label_set_xalign (self->subtitle, 0);
  gtk_label_set_selectable (self->subtitle, TRUE);
  gtk_box_append (GTK_BOX (titles), GTK_WIDGET (self->title));
  gtk_box_append (GTK_BOX (titles), GTK_WIDGET (self->subtitle));
  gtk_widget_set_hexpand (titles, TRUE);
  gtk_box_append (GTK_BOX (box), titles);
  {
    GtkWidget *edit = icon_button ("document-edit-symbolic", _("Edit Device…"), "devices.edit");
    gtk_widget_add_css_class (edit, "flat");
    gtk_box_append (GTK_BOX (box), edit);
  }
  gtk_widget_add_css_class (remove, "flat");
  gtk_box_append (GTK_BOX (box), remove);
  return box;
}

static GtkWidget *
text_button (const char *label, const char *action, gboolean suggested)
{
  GtkWidget *b = gtk_button_new_with_mnemonic (label);

  gtk_actionable_set_action_name (GTK_ACTIONABLE (b), action);
  gtk_widget_set_valign (b, GTK_ALIGN_CENTER);
  if (suggested)
    gtk_widget_add_css_class (b, "suggested-action");
  return b;
}

static GtkEditable *
entry_row (AdwPreferencesGroup *g, LatheDevicesPage *self, const char *title, const char *text)
{
  GtkWidget *row = adw_entry_row_new ();

  /* Text from files and devices: never markup. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  gtk_editable_set_text (GTK_EDITABLE (row), text);
  g_signal_connect_swapped (row, "changed", G_CALLBACK (update_actions), self);
  adw_preferences_group_add (g, row);
  return GTK_EDITABLE (row);
}

static GtkSpinButton *
spin_row (AdwPreferencesGroup *g, const char *title, const char *subtitle, int lo, int hi, int value)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *spin = gtk_spin_button_new_with_range (lo, hi, 1);

  gtk_spin_button_set_value (GTK_SPIN_BUTTON (spin), value);
  gtk_widget_set_valign (spin, GTK_ALIGN_CENTER);
  /* Text from files and devices: never markup. */
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), spin);
  adw_preferences_group_add (g, row);
  return GTK_SPIN_BUTTON (spin);
}

static GtkWidget *
profile_group (LatheDevicesPage *self)
{
  GtkWidget *group = adw_preferences_group_new ();
  AdwPreferencesGroup *g = ADW_PREFERENCES_GROUP (group);
  GtkWidget *variant = adw_combo_row_new ();

  adw_preferences_group_set_title (g, _("Profile and Install"));
  adw_preferences_group_set_description (g, _("Profile measures lathe-run bench there; Install sends a bundle "
                                              "and checks its golden output there"));
  {
    GtkWidget *buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
    GtkWidget *install = text_button (_("_Install"), "devices.install", FALSE);
    gtk_widget_set_tooltip_text (install, _("Send the variant as a bundle (model, lathe-run, run.sh, checksums) to "
                                            "~/lathe-bundles there, and check its golden output on the device"));
    gtk_box_append (GTK_BOX (buttons), install);
    gtk_box_append (GTK_BOX (buttons), text_button (_("_Profile"), "devices.profile", TRUE));
    adw_preferences_group_set_header_suffix (g, buttons);
  }
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (variant), _("Variant"));
  adw_combo_row_set_model (ADW_COMBO_ROW (variant), G_LIST_MODEL (gtk_string_list_new (NULL)));
  g_signal_connect_swapped (variant, "notify::selected", G_CALLBACK (update_actions), self);
  self->variant_row = ADW_COMBO_ROW (variant);
  adw_preferences_group_add (g, variant);
  self->threads_row = entry_row (g, self, _("Threads (empty: every core)"), "");
  self->depths_row = entry_row (g, self, _("Context depths (tokens already in the cache)"), "0");
  self->gen_spin = spin_row (g, _("Tokens generated"), _("Per run, for decode speed"), 1, 4096, 64);
  self->reps_spin = spin_row (g, _("Repetitions"), _("After one warm-up run"), 1, 100, 3);
  return group;
}

static AdwPreferencesGroup *
titled_group (const char *title, const char *description)
{
  GtkWidget *g = adw_preferences_group_new ();

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (g), title);
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (g), description);
  return ADW_PREFERENCES_GROUP (g);
}

static GtkWidget *
detail (LatheDevicesPage *self)
{
  GtkWidget *scroll = gtk_scrolled_window_new ();
  GtkWidget *clamp = adw_clamp_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 24);
  GtkWidget *columns = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 24);
  GtkWidget *left = gtk_box_new (GTK_ORIENTATION_VERTICAL, 24);
  GtkWidget *right = gtk_box_new (GTK_ORIENTATION_VERTICAL, 24);

  gtk_widget_set_margin_top (box, 24);
  gtk_widget_set_margin_bottom (box, 24);
  gtk_widget_set_margin_start (box, 12);
  gtk_widget_set_margin_end (box, 12);
  gtk_box_append (GTK_BOX (box), header (self));
  self->message_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_wrap (self->message_label, TRUE);
  gtk_label_set_xalign (self->message_label, 0);
  gtk_label_set_selectable (self->message_label, TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->message_label), FALSE);
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->message_label));
  self->probe_group = titled_group (_("Device"), NULL);
  adw_preferences_group_set_header_suffix (self->probe_group, text_button (_("P_robe"), "devices.probe", FALSE));
  gtk_box_append (GTK_BOX (left), GTK_WIDGET (self->probe_group));
  gtk_box_append (GTK_BOX (right), profile_group (self));
  self->runs_group = titled_group (_("Last Profile"), NULL);
  gtk_box_append (GTK_BOX (right), GTK_WIDGET (self->runs_group));
  self->points_group = titled_group (_("On the Trade-offs Chart"),
                                     _("Each profile is a point labelled with the device, carrying the quality "
                                       "measured on this machine"));
  gtk_box_append (GTK_BOX (right), GTK_WIDGET (self->points_group));
  /* Side by side: what the device is, and what was measured on it. */
  gtk_box_set_homogeneous (GTK_BOX (columns), TRUE);
  gtk_box_append (GTK_BOX (columns), left);
  gtk_box_append (GTK_BOX (columns), right);
  gtk_box_append (GTK_BOX (box), columns);
  adw_clamp_set_maximum_size (ADW_CLAMP (clamp), 1200);
  adw_clamp_set_child (ADW_CLAMP (clamp), box);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroll), clamp);
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroll), GTK_POLICY_NEVER, GTK_POLICY_AUTOMATIC);
  gtk_widget_set_hexpand (scroll, TRUE);
  return scroll;
}

static void
lathe_devices_page_dispose (GObject *object)
{
  LatheDevicesPage *self = LATHE_DEVICES_PAGE (object);

  if (self->workspace != NULL)
    g_signal_handlers_disconnect_by_data (lathe_workspace_get_variants (self->workspace), self);
  g_clear_object (&self->workspace);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (lathe_devices_page_parent_class)->dispose (object);
}

static void
lathe_devices_page_finalize (GObject *object)
{
  LatheDevicesPage *self = LATHE_DEVICES_PAGE (object);

  g_clear_pointer (&self->devices, g_ptr_array_unref);
  g_hash_table_unref (self->probes);
  g_hash_table_unref (self->profiles);
  g_ptr_array_unref (self->probe_rows);
  g_ptr_array_unref (self->runs_rows);
  g_ptr_array_unref (self->points_rows);
  g_ptr_array_unref (self->variant_ids);
  g_free (self->registry);
  g_free (self->message);
  g_free (self->profile_problem);
  G_OBJECT_CLASS (lathe_devices_page_parent_class)->finalize (object);
}

static void
lathe_devices_page_class_init (LatheDevicesPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = lathe_devices_page_dispose;
  G_OBJECT_CLASS (klass)->finalize = lathe_devices_page_finalize;
  gtk_widget_class_install_action (widget_class, "devices.add", NULL, add_action);
  gtk_widget_class_install_action (widget_class, "devices.edit", NULL, edit_action);
  gtk_widget_class_install_action (widget_class, "devices.remove", NULL, remove_action);
  gtk_widget_class_install_action (widget_class, "devices.probe", NULL, probe_action);
  gtk_widget_class_install_action (widget_class, "devices.profile", NULL, profile_action);
  gtk_widget_class_install_action (widget_class, "devices.install", NULL, install_action);
}

static void
lathe_devices_page_init (LatheDevicesPage *self)
{
  GtkWidget *split = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);

  self->probes = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_node_unref);
  self->profiles = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) json_node_unref);
  self->probe_rows = g_ptr_array_new ();
  self->runs_rows = g_ptr_array_new ();
  self->points_rows = g_ptr_array_new ();
  self->variant_ids = g_ptr_array_new_with_free_func (g_free);
  self->stack = GTK_STACK (gtk_stack_new ());
  gtk_stack_add_named (self->stack, empty_page (), "empty");
  gtk_box_append (GTK_BOX (split), sidebar (self));
  gtk_box_append (GTK_BOX (split), gtk_separator_new (GTK_ORIENTATION_VERTICAL));
  gtk_box_append (GTK_BOX (split), detail (self));
  gtk_stack_add_named (self->stack, split, "devices");
  adw_bin_set_child (ADW_BIN (self), GTK_WIDGET (self->stack));
  lathe_devices_page_reload (self);
}
