/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-playground-page"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-generator.h"
#include "lathe-playground-page.h"

struct _LathePlaygroundPage
{
  AdwBin parent_instance;
  LatheModel *model;
  LatheGenerator *generator;
  GCancellable *cancellable;
  GSettings *settings;

  GtkTextView *prompt_view;
  GtkTextView *output_view;
  GtkLabel *status_label;
  GtkSpinButton *temperature_spin;
  GtkSpinButton *top_k_spin;
  GtkSpinButton *top_p_spin;
  GtkSpinButton *min_p_spin;
  GtkSpinButton *repeat_spin;
  GtkSpinButton *seed_spin;
  GtkSpinButton *max_tokens_spin;
  GtkTextTag *prompt_tag;
  gboolean running;  /* from Generate until the run has really ended */
  gboolean disposed;
  char *last_stop;   /* how the last run ended */
};

G_DEFINE_FINAL_TYPE (LathePlaygroundPage, lathe_playground_page, ADW_TYPE_BIN)

enum
{
  PROP_0,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
update_actions (LathePlaygroundPage *self)
{
  const gboolean busy = lathe_playground_page_get_busy (self);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "playground.generate",
                                 self->model != NULL && !busy
                                   && lathe_model_has_tokenizer (self->model));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "playground.stop", busy);
}

static void
set_status (LathePlaygroundPage *self, const char *text)
{
  gtk_label_set_text (self->status_label, text);
}

static void
scroll_to_end (LathePlaygroundPage *self)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (self->output_view);
  GtkTextIter end;

  gtk_text_buffer_get_end_iter (buf, &end);
  gtk_text_view_scroll_to_iter (self->output_view, &end, 0.0, FALSE, 0.0, 1.0);
}

static void
text_appended_cb (LatheGenerator *gen, const char *chunk, LathePlaygroundPage *self)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (self->output_view);
  GtkTextIter end;
  g_autofree char *status = NULL;
  int n = 0;
  double tps = 0;

  gtk_text_buffer_get_end_iter (buf, &end);
  gtk_text_buffer_insert (buf, &end, chunk, -1);
  scroll_to_end (self);
  g_object_get (gen, "n-generated", &n, "tokens-per-second", &tps, NULL);
  status = g_strdup_printf (_("%d tokens · %.0f tokens/s"), n, tps);
  set_status (self, status);
}

static void
generate_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LathePlaygroundPage) self = user_data;
  g_autoptr (GError) error = NULL;
  LatheGenerationStats stats = { 0 };
  g_autofree char *status = NULL;

  self->running = FALSE;
  g_clear_object (&self->cancellable);
  if (!lathe_generator_generate_finish (LATHE_GENERATOR (source), result, &stats, &error))
    {
      g_free (self->last_stop);
      self->last_stop = g_strdup ("error");
      if (self->disposed)
        return;
      g_autofree char *msg = g_strdup_printf (_("Generation failed: %s"), error->message);
      set_status (self, msg);
      gtk_widget_activate_action (GTK_WIDGET (self), "win.show-toast", "s", msg);
    }
  else
    {
      g_free (self->last_stop);
      self->last_stop = g_strdup (stats.stop_reason);
      if (self->disposed)
        return;
      status = g_strdup_printf (_("%d tokens at %.0f tokens/s · prompt %d at %.0f tokens/s · "
                                  "first after %.0f ms · %s"),
                                stats.n_generated, stats.decode_tps, stats.n_prompt,
                                stats.prompt_tps, stats.ttft_ms, stats.stop_reason);
      set_status (self, status);
    }
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static char *
dup_prompt (LathePlaygroundPage *self)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (self->prompt_view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buf, &start, &end);
  return gtk_text_buffer_get_text (buf, &start, &end, FALSE);
}

static void
generate_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LathePlaygroundPage *self = LATHE_PLAYGROUND_PAGE (widget);
  g_autofree char *prompt = dup_prompt (self);
  GtkTextBuffer *out = gtk_text_view_get_buffer (self->output_view);
  GtkTextIter start;

  if (self->model == NULL || lathe_playground_page_get_busy (self))
    return;
  g_object_set (self->generator,
                "temperature", gtk_spin_button_get_value (self->temperature_spin),
                "top-k", gtk_spin_button_get_value_as_int (self->top_k_spin),
                "top-p", gtk_spin_button_get_value (self->top_p_spin),
                "min-p", gtk_spin_button_get_value (self->min_p_spin),
                "repeat-penalty", gtk_spin_button_get_value (self->repeat_spin),
                "seed", (guint64) gtk_spin_button_get_value_as_int (self->seed_spin),
                "n-predict", gtk_spin_button_get_value_as_int (self->max_tokens_spin),
                NULL);
  gtk_text_buffer_set_text (out, "", 0);
  gtk_text_buffer_get_start_iter (out, &start);
  gtk_text_buffer_insert_with_tags (out, &start, prompt, -1, self->prompt_tag, NULL);
  set_status (self, _("Processing the prompt…"));
  self->cancellable = g_cancellable_new ();
  self->running = TRUE;
  lathe_generator_generate_async (self->generator, prompt, self->cancellable, generate_done_cb,
                                  g_object_ref (self));
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
stop_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  lathe_playground_page_stop (LATHE_PLAYGROUND_PAGE (widget));
}

void
lathe_playground_page_stop (LathePlaygroundPage *self)
{
  g_return_if_fail (LATHE_IS_PLAYGROUND_PAGE (self));
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
}

gboolean
lathe_playground_page_get_busy (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), FALSE);
  return self->running;
}

const char *
lathe_playground_page_get_last_stop_reason (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), NULL);
  return self->last_stop;
}

const char *
lathe_playground_page_get_status (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), NULL);
  return gtk_label_get_text (self->status_label);
}

char *
lathe_playground_page_dup_output (LathePlaygroundPage *self)
{
  GtkTextBuffer *buf;
  GtkTextIter start, end;

  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), NULL);
  buf = gtk_text_view_get_buffer (self->output_view);
  gtk_text_buffer_get_bounds (buf, &start, &end);
  return gtk_text_buffer_get_text (buf, &start, &end, FALSE);
}

void
lathe_playground_page_set_prompt (LathePlaygroundPage *self, const char *prompt)
{
  g_return_if_fail (LATHE_IS_PLAYGROUND_PAGE (self));
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), prompt, -1);
}

void
lathe_playground_page_set_model (LathePlaygroundPage *self, LatheModel *model)
{
  g_return_if_fail (LATHE_IS_PLAYGROUND_PAGE (self));
  if (self->model == model)
    return;
  lathe_playground_page_stop (self);
  g_set_object (&self->model, model);
  if (self->generator != NULL)
    g_signal_handlers_disconnect_by_data (self->generator, self);
  g_clear_object (&self->generator);
  if (model != NULL)
    {
      self->generator = lathe_generator_new (model);
      g_signal_connect (self->generator, "text-appended", G_CALLBACK (text_appended_cb), self);
      if (!lathe_model_has_tokenizer (model))
        set_status (self, _("This model has no tokenizer: it cannot generate text."));
      else
        set_status (self, _("Ready"));
    }
  update_actions (self);
}

void
lathe_playground_page_set_settings (LathePlaygroundPage *self, GSettings *settings)
{
  g_return_if_fail (LATHE_IS_PLAYGROUND_PAGE (self));
  g_set_object (&self->settings, settings);
  g_settings_bind (settings, "temperature", self->temperature_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "top-k", self->top_k_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "top-p", self->top_p_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "min-p", self->min_p_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "repeat-penalty", self->repeat_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "seed", self->seed_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "max-tokens", self->max_tokens_spin, "value", G_SETTINGS_BIND_DEFAULT);
}

static void
lathe_playground_page_get_property (GObject *object, guint prop_id, GValue *value,
                                    GParamSpec *pspec)
{
  LathePlaygroundPage *self = LATHE_PLAYGROUND_PAGE (object);

  switch (prop_id)
    {
    case PROP_BUSY:
      g_value_set_boolean (value, lathe_playground_page_get_busy (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lathe_playground_page_dispose (GObject *object)
{
  LathePlaygroundPage *self = LATHE_PLAYGROUND_PAGE (object);

  self->disposed = TRUE;
  lathe_playground_page_stop (self);
  if (self->generator != NULL)
    g_signal_handlers_disconnect_by_data (self->generator, self);
  g_clear_object (&self->generator);
  g_clear_object (&self->model);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), LATHE_TYPE_PLAYGROUND_PAGE);
  G_OBJECT_CLASS (lathe_playground_page_parent_class)->dispose (object);
}

static void
lathe_playground_page_finalize (GObject *object)
{
  LathePlaygroundPage *self = LATHE_PLAYGROUND_PAGE (object);

  g_clear_object (&self->cancellable);
  g_free (self->last_stop);
  G_OBJECT_CLASS (lathe_playground_page_parent_class)->finalize (object);
}

static void
lathe_playground_page_class_init (LathePlaygroundPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = lathe_playground_page_dispose;
  object_class->finalize = lathe_playground_page_finalize;
  object_class->get_property = lathe_playground_page_get_property;
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_PREFIX "/lathe-playground-page.ui");
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, prompt_view);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, output_view);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, status_label);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, temperature_spin);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, top_k_spin);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, top_p_spin);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, min_p_spin);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, repeat_spin);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, seed_spin);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, max_tokens_spin);

  gtk_widget_class_install_action (widget_class, "playground.generate", NULL, generate_action);
  gtk_widget_class_install_action (widget_class, "playground.stop", NULL, stop_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, GDK_CONTROL_MASK,
                                       "playground.generate", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "playground.stop", NULL);
}

static void
lathe_playground_page_init (LathePlaygroundPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->prompt_tag = gtk_text_buffer_create_tag (gtk_text_view_get_buffer (self->output_view),
                                                 "prompt", "weight", PANGO_WEIGHT_BOLD, NULL);
  lathe_playground_page_set_prompt (self, "Once upon a time");
  update_actions (self);
}
