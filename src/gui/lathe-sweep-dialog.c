/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-sweep"

#include "config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "lathe-sweep-dialog.h"

static const char *const sweep_types[] = { "F16",    "Q8_0",   "Q6_K",    "Q5_K_M", "Q5_1",   "Q5_0",
                                           "Q4_K_M", "Q4_1",   "Q4_0",    "IQ4_XS", "IQ4_NL", "Q3_K_M",
                                           "IQ3_S",  "IQ3_XXS", "Q2_K",   "IQ2_S",  "IQ2_XS", "IQ2_XXS",
                                           "IQ1_M",  "IQ1_S" };

struct _LatheSweepDialog
{
  AdwWindow parent_instance;
  LatheSession *session;
  GtkCheckButton *type_checks[G_N_ELEMENTS (sweep_types)];
  GtkEditable *sparsity_row;
  GtkEditable *exit_row;
  GtkSpinButton *exit_min_spin;
  GtkSwitch *speed_switch;
  GtkLabel *count_label;
  GtkWidget *run_button;
};

G_DEFINE_FINAL_TYPE (LatheSweepDialog, lathe_sweep_dialog, ADW_TYPE_WINDOW)

/* "0, 0.25,0.5" into numbers from 0 to 1; FALSE on anything else. */
static gboolean
parse_list (const char *text, GArray *out)
{
  g_auto (GStrv) parts = g_strsplit_set (text, ", ", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *end;
      double v;
      if (*parts[i] == '\0')
        continue;
      v = g_ascii_strtod (parts[i], &end);
      if (*end != '\0' || !isfinite (v) || v < 0 || v > 1)
        return FALSE;
      g_array_append_val (out, v);
    }
  return TRUE;
}

static GStrv
ticked_types (LatheSweepDialog *self)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

  for (guint i = 0; i < G_N_ELEMENTS (sweep_types); i++)
    if (gtk_check_button_get_active (self->type_checks[i]))
      g_strv_builder_add (b, sweep_types[i]);
  return g_strv_builder_end (b);
}

static GPtrArray *
build_recipes (LatheSweepDialog *self)
{
  g_autoptr (GArray) sp = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) ex = g_array_new (FALSE, FALSE, sizeof (double));
  g_auto (GStrv) types = ticked_types (self);
  LatheWorkspace *ws = self->session != NULL ? lathe_session_get_workspace (self->session) : NULL;
  const char *text = ws != NULL ? lathe_workspace_get_eval_text (ws) : NULL;

  if (!parse_list (gtk_editable_get_text (self->sparsity_row), sp)
      || !parse_list (gtk_editable_get_text (self->exit_row), ex))
    return NULL;
  return lathe_sweep_recipes ((const char *const *) types, (double *) sp->data, sp->len, (double *) ex->data,
                              ex->len, gtk_spin_button_get_value_as_int (self->exit_min_spin),
                              text != NULL && *text != '\0' ? text : NULL);
}

int
lathe_sweep_dialog_get_count (LatheSweepDialog *self)
{
  g_autoptr (GPtrArray) recipes = build_recipes (self);

  return recipes != NULL ? (int) recipes->len : -1;
}

static void
update (LatheSweepDialog *self)
{
  const int n = lathe_sweep_dialog_get_count (self);
  g_autofree char *text = NULL;

  if (n < 0)
    text = g_strdup (_("Lists are numbers from 0 to 1, separated by commas"));
  else
    text = g_strdup_printf (ngettext ("%d variant to make and measure", "%d variants to make and measure", n),
                            n);
  gtk_label_set_text (self->count_label, text);
  gtk_widget_set_sensitive (self->run_button,
                            n > 0 && self->session != NULL && !lathe_session_get_job_running (self->session));
}

gboolean
lathe_sweep_dialog_run (LatheSweepDialog *self, GError **error)
{
  g_autoptr (GPtrArray) recipes = build_recipes (self);
  LatheMeasureOptions o;

  g_return_val_if_fail (LATHE_IS_SWEEP_DIALOG (self), FALSE);
  if (recipes == NULL || recipes->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("The grid is empty"));
      return FALSE;
    }
  lathe_measure_options_init (&o);
  o.skip_speed = !gtk_switch_get_active (self->speed_switch);
  if (!lathe_session_measure (self->session, recipes, &o, error))
    return FALSE;
  gtk_window_close (GTK_WINDOW (self));
  return TRUE;
}

static void
run_clicked_cb (LatheSweepDialog *self)
{
  g_autoptr (GError) error = NULL;

  if (!lathe_sweep_dialog_run (self, &error))
    gtk_label_set_text (self->count_label, error->message);
}

void
lathe_sweep_dialog_set_grid (LatheSweepDialog *self, const char *types, const char *sparsities,
                             const char *exits)
{
  g_auto (GStrv) names = g_strsplit (types, ",", -1);

  g_return_if_fail (LATHE_IS_SWEEP_DIALOG (self));
  for (guint i = 0; i < G_N_ELEMENTS (sweep_types); i++)
    gtk_check_button_set_active (self->type_checks[i], g_strv_contains ((const char *const *) names,
                                                                        sweep_types[i]));
  gtk_editable_set_text (self->sparsity_row, sparsities);
  gtk_editable_set_text (self->exit_row, exits);
}

void
lathe_sweep_dialog_set_measure_speed (LatheSweepDialog *self, gboolean speed)
{
  gtk_switch_set_active (self->speed_switch, speed);
}

static GtkWidget *
switch_row (const char *title, const char *subtitle, GtkSwitch **out)
{
  GtkWidget *row = adw_action_row_new ();
  GtkWidget *sw = gtk_switch_new ();

  gtk_widget_set_valign (sw, GTK_ALIGN_CENTER);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), sw);
  adw_action_row_set_activatable_widget (ADW_ACTION_ROW (row), sw);
  *out = GTK_SWITCH (sw);
  return row;
}

static GtkWidget *
types_group (LatheSweepDialog *self)
{
  GtkWidget *group = adw_preferences_group_new ();
  GtkWidget *flow = gtk_flow_box_new ();

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Quantization Types"));
  adw_preferences_group_set_description (ADW_PREFERENCES_GROUP (group),
                                         _("None ticked: the source’s types, for pruning or early exit alone. "
                                           "The 1- to 3-bit grid types (IQ1–IQ3) calibrate on the evaluation text."));
  gtk_flow_box_set_selection_mode (GTK_FLOW_BOX (flow), GTK_SELECTION_NONE);
  gtk_flow_box_set_max_children_per_line (GTK_FLOW_BOX (flow), 6);
  for (guint i = 0; i < G_N_ELEMENTS (sweep_types); i++)
    {
      GtkWidget *check = gtk_check_button_new_with_label (sweep_types[i]);
      self->type_checks[i] = GTK_CHECK_BUTTON (check);
      g_signal_connect_swapped (check, "toggled", G_CALLBACK (update), self);
      gtk_flow_box_append (GTK_FLOW_BOX (flow), check);
    }
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), flow);
  return group;
}

static GtkWidget *
grid_group (LatheSweepDialog *self)
{
  GtkWidget *group = adw_preferences_group_new ();
  GtkWidget *sparsity = adw_entry_row_new ();
  GtkWidget *exits = adw_entry_row_new ();
  GtkWidget *min_row = adw_action_row_new ();
  GtkWidget *spin = gtk_spin_button_new_with_range (0, 1024, 1);

  adw_preferences_group_set_title (ADW_PREFERENCES_GROUP (group), _("Pruning and Early Exit"));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (sparsity), _("Magnitude-pruning sparsities (0: none)"));
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (exits), _("Early-exit thresholds (1: none)"));
  gtk_editable_set_text (GTK_EDITABLE (sparsity), "0");
  gtk_editable_set_text (GTK_EDITABLE (exits), "1");
  self->sparsity_row = GTK_EDITABLE (sparsity);
  self->exit_row = GTK_EDITABLE (exits);
  g_signal_connect_swapped (sparsity, "changed", G_CALLBACK (update), self);
  g_signal_connect_swapped (exits, "changed", G_CALLBACK (update), self);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (min_row), _("First layer to exit after"));
  gtk_widget_set_valign (spin, GTK_ALIGN_CENTER);
  adw_action_row_add_suffix (ADW_ACTION_ROW (min_row), spin);
  self->exit_min_spin = GTK_SPIN_BUTTON (spin);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), sparsity);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), exits);
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (group), min_row);
  return group;
}

static void
lathe_sweep_dialog_dispose (GObject *object)
{
  LatheSweepDialog *self = LATHE_SWEEP_DIALOG (object);

  g_clear_object (&self->session);
  G_OBJECT_CLASS (lathe_sweep_dialog_parent_class)->dispose (object);
}

static void
lathe_sweep_dialog_class_init (LatheSweepDialogClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = lathe_sweep_dialog_dispose;
  gtk_widget_class_add_binding_action (GTK_WIDGET_CLASS (klass), GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
lathe_sweep_dialog_init (LatheSweepDialog *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *header = adw_header_bar_new ();
  GtkWidget *cancel = gtk_button_new_with_mnemonic (_("_Cancel"));
  GtkWidget *page = adw_preferences_page_new ();
  GtkWidget *speed_group = adw_preferences_group_new ();

  gtk_window_set_title (GTK_WINDOW (self), _("Sweep"));
  gtk_window_set_default_size (GTK_WINDOW (self), 560, 620);
  gtk_window_set_modal (GTK_WINDOW (self), TRUE);
  adw_header_bar_set_show_end_title_buttons (ADW_HEADER_BAR (header), FALSE);
  adw_header_bar_set_show_start_title_buttons (ADW_HEADER_BAR (header), FALSE);
  self->run_button = gtk_button_new_with_mnemonic (_("_Run"));
  gtk_widget_add_css_class (self->run_button, "suggested-action");
  g_signal_connect_swapped (cancel, "clicked", G_CALLBACK (gtk_window_close), self);
  g_signal_connect_swapped (self->run_button, "clicked", G_CALLBACK (run_clicked_cb), self);
  adw_header_bar_pack_start (ADW_HEADER_BAR (header), cancel);
  adw_header_bar_pack_end (ADW_HEADER_BAR (header), self->run_button);
  gtk_box_append (GTK_BOX (box), header);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (types_group (self)));
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (grid_group (self)));
  adw_preferences_group_add (ADW_PREFERENCES_GROUP (speed_group),
                             switch_row (_("Measure speed"),
                                         _("Prefill and decode tokens/s and peak memory, with lathe-run"),
                                         &self->speed_switch));
  gtk_switch_set_active (self->speed_switch, TRUE);
  adw_preferences_page_add (ADW_PREFERENCES_PAGE (page), ADW_PREFERENCES_GROUP (speed_group));
  gtk_widget_set_vexpand (page, TRUE);
  gtk_box_append (GTK_BOX (box), page);
  self->count_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_widget_set_margin_top (GTK_WIDGET (self->count_label), 6);
  gtk_widget_set_margin_bottom (GTK_WIDGET (self->count_label), 12);
  gtk_widget_add_css_class (GTK_WIDGET (self->count_label), "dim-label");
  gtk_box_append (GTK_BOX (box), GTK_WIDGET (self->count_label));
  adw_window_set_content (ADW_WINDOW (self), box);
  lathe_sweep_dialog_set_grid (self, "Q8_0,Q4_0", "0", "1");
}

LatheSweepDialog *
lathe_sweep_dialog_new (GtkWindow *parent, LatheSession *session)
{
  LatheSweepDialog *self = g_object_new (LATHE_TYPE_SWEEP_DIALOG, "transient-for", parent, NULL);

  self->session = g_object_ref (session);
  update (self);
  return self;
}
