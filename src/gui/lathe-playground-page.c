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
  AdwExpanderRow *speculative_row;
  GtkSpinButton *speculative_k_spin;
  GtkEditable *draft_skip_row;
  GtkTextTag *prompt_tag;
  GtkLabel *title_label;
  GtkWidget *variant_box;
  GtkLabel *variant_title;
  GtkTextView *variant_view;
  GtkLabel *variant_status;
  GtkLabel *divergence_label;
  /* The variant compared side by side, and its run. */
  LatheModel *variant;
  LatheGenerator *variant_generator;
  GCancellable *variant_cancellable;
  GCancellable *variant_loading;
  gboolean variant_running;
  GtkTextTag *prompt_tag_b, *diverge_tag, *diverge_tag_b;
  int prompt_chars;
  int divergence;    /* characters of generated text that agree; -1: none yet */
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

/* The generated part of a pane's text (after the prompt). */
static char *
dup_generated (LathePlaygroundPage *self, GtkTextView *view)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;

  gtk_text_buffer_get_iter_at_offset (buf, &start, self->prompt_chars);
  gtk_text_buffer_get_end_iter (buf, &end);
  return gtk_text_buffer_get_text (buf, &start, &end, FALSE);
}

static void
mark_from (GtkTextView *view, GtkTextTag *tag, int offset)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;

  gtk_text_buffer_get_iter_at_offset (buf, &start, offset);
  gtk_text_buffer_get_end_iter (buf, &end);
  gtk_text_buffer_apply_tag (buf, tag, &start, &end);
}

/* Finds the first character where the two texts differ, once both have
 * got that far, and marks both texts from there on. */
static void
update_divergence (LathePlaygroundPage *self)
{
  g_autofree char *a = NULL, *b = NULL;
  const char *p, *q;
  int n = 0;

  if (self->variant_generator == NULL)
    return;
  if (self->divergence < 0)
    {
      a = dup_generated (self, self->output_view);
      b = dup_generated (self, self->variant_view);
      for (p = a, q = b; *p && *q; p = g_utf8_next_char (p), q = g_utf8_next_char (q), n++)
        if (g_utf8_get_char (p) != g_utf8_get_char (q))
          break;
      if (*p == '\0' || *q == '\0')
        return;
      self->divergence = n;
      {
        g_autofree char *agreed = g_utf8_substring (a, MAX (0, n - 24), n);
        g_autofree char *text = g_strdup_printf (_("The outputs part after %d characters of agreement: "
                                                   "“…%s”"), n, agreed);
        gtk_label_set_text (self->divergence_label, text);
        gtk_widget_set_visible (GTK_WIDGET (self->divergence_label), TRUE);
      }
    }
  mark_from (self->output_view, self->diverge_tag, self->prompt_chars + self->divergence);
  mark_from (self->variant_view, self->diverge_tag_b, self->prompt_chars + self->divergence);
}

/* Once both runs have ended without parting: say so. */
static void
check_same (LathePlaygroundPage *self)
{
  g_autofree char *a = NULL, *b = NULL;

  if (self->variant_generator == NULL || self->running || self->variant_running || self->divergence >= 0)
    return;
  a = dup_generated (self, self->output_view);
  b = dup_generated (self, self->variant_view);
  gtk_label_set_text (self->divergence_label, g_strcmp0 (a, b) == 0
                                                ? _("Both generated the same text.")
                                                : _("One output stopped early; they agree as far as both go."));
  gtk_widget_set_visible (GTK_WIDGET (self->divergence_label), TRUE);
}

/* Appends a streamed chunk to a pane and shows the run's progress. */
static void
append_chunk (LathePlaygroundPage *self, LatheGenerator *gen, GtkTextView *view, GtkLabel *status_label,
              const char *chunk)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (view);
  GtkTextIter end;
  g_autofree char *status = NULL;
  int n = 0;
  double tps = 0;

  gtk_text_buffer_get_end_iter (buf, &end);
  gtk_text_buffer_insert (buf, &end, chunk, -1);
  gtk_text_view_scroll_to_iter (view, &end, 0.0, FALSE, 0.0, 1.0);
  g_object_get (gen, "n-generated", &n, "tokens-per-second", &tps, NULL);
  status = g_strdup_printf (_("%d tokens · %.0f tokens/s"), n, tps);
  gtk_label_set_text (status_label, status);
  update_divergence (self);
}

static void
variant_text_appended_cb (LatheGenerator *gen, const char *chunk, LathePlaygroundPage *self)
{
  append_chunk (self, gen, self->variant_view, self->variant_status, chunk);
}

static void
text_appended_cb (LatheGenerator *gen, const char *chunk, LathePlaygroundPage *self)
{
  append_chunk (self, gen, self->output_view, self->status_label, chunk);
}

/* A run's status line, with the share of drafts kept when it drafted. */
static char *
with_acceptance (char *status, const LatheGenerationStats *stats)
{
  char *more;

  if (stats->acceptance_rate < 0)
    return status;
  more = g_strdup_printf (_("%s · %.0f %% of drafts kept"), status, stats->acceptance_rate * 100);
  g_free (status);
  return more;
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
      status = with_acceptance (status, &stats);
      set_status (self, status);
    }
  check_same (self);
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
variant_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LathePlaygroundPage) self = user_data;
  g_autoptr (GError) error = NULL;
  LatheGenerationStats stats = { 0 };
  g_autofree char *status = NULL;

  self->variant_running = FALSE;
  g_clear_object (&self->variant_cancellable);
  if (self->disposed)
    return;
  if (!lathe_generator_generate_finish (LATHE_GENERATOR (source), result, &stats, &error))
    status = g_strdup_printf (_("Generation failed: %s"), error->message);
  else
    status = g_strdup_printf (_("%d tokens at %.0f tokens/s · first after %.0f ms · %s"), stats.n_generated,
                              stats.decode_tps, stats.ttft_ms, stats.stop_reason);
  if (error == NULL)
    status = with_acceptance (status, &stats);
  gtk_label_set_text (self->variant_status, status);
  check_same (self);
  update_actions (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
configure (LathePlaygroundPage *self, LatheGenerator *gen, int n_threads)
{
  g_object_set (gen,
                "temperature", gtk_spin_button_get_value (self->temperature_spin),
                "top-k", gtk_spin_button_get_value_as_int (self->top_k_spin),
                "top-p", gtk_spin_button_get_value (self->top_p_spin),
                "min-p", gtk_spin_button_get_value (self->min_p_spin),
                "repeat-penalty", gtk_spin_button_get_value (self->repeat_spin),
                "seed", (guint64) gtk_spin_button_get_value_as_int (self->seed_spin),
                "n-predict", gtk_spin_button_get_value_as_int (self->max_tokens_spin),
                "n-threads", n_threads,
                NULL);
  if (adw_expander_row_get_enable_expansion (self->speculative_row))
    g_object_set (gen, "speculative-k", gtk_spin_button_get_value_as_int (self->speculative_k_spin),
                  "draft-skip-layers", gtk_editable_get_text (self->draft_skip_row), NULL);
  else
    g_object_set (gen, "speculative-k", 0, NULL);
}

static void
start_variant (LathePlaygroundPage *self, const char *prompt, int n_threads)
{
  GtkTextBuffer *out = gtk_text_view_get_buffer (self->variant_view);
  GtkTextIter start;

  configure (self, self->variant_generator, n_threads);
  gtk_text_buffer_set_text (out, "", 0);
  gtk_text_buffer_get_start_iter (out, &start);
  gtk_text_buffer_insert_with_tags (out, &start, prompt, -1, self->prompt_tag_b, NULL);
  gtk_label_set_text (self->variant_status, _("Processing the prompt…"));
  self->variant_cancellable = g_cancellable_new ();
  self->variant_running = TRUE;
  lathe_generator_generate_async (self->variant_generator, prompt, self->variant_cancellable,
                                  variant_done_cb, g_object_ref (self));
}

static void
generate_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  LathePlaygroundPage *self = LATHE_PLAYGROUND_PAGE (widget);
  g_autofree char *prompt = dup_prompt (self);
  GtkTextBuffer *out = gtk_text_view_get_buffer (self->output_view);
  GtkTextIter start;
  /* Side by side, each run gets half the cores, so their speeds compare. */
  const int n_threads = self->variant_generator != NULL ? MAX (1, (int) g_get_num_processors () / 2) : 0;

  if (self->model == NULL || lathe_playground_page_get_busy (self))
    return;
  self->prompt_chars = g_utf8_strlen (prompt, -1);
  self->divergence = -1;
  gtk_widget_set_visible (GTK_WIDGET (self->divergence_label), FALSE);
  configure (self, self->generator, n_threads);
  if (self->variant_generator != NULL)
    start_variant (self, prompt, n_threads);
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
  if (self->variant_cancellable != NULL)
    g_cancellable_cancel (self->variant_cancellable);
}

gboolean
lathe_playground_page_get_busy (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), FALSE);
  return self->running || self->variant_running;
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

static char *
dup_view_text (GtkTextView *view)
{
  GtkTextBuffer *buf = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buf, &start, &end);
  return gtk_text_buffer_get_text (buf, &start, &end, FALSE);
}

char *
lathe_playground_page_dup_output (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), NULL);
  return dup_view_text (self->output_view);
}

void
lathe_playground_page_set_prompt (LathePlaygroundPage *self, const char *prompt)
{
  g_return_if_fail (LATHE_IS_PLAYGROUND_PAGE (self));
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), prompt, -1);
}

static void
clear_variant (LathePlaygroundPage *self)
{
  if (self->variant_cancellable != NULL)
    g_cancellable_cancel (self->variant_cancellable);
  if (self->variant_loading != NULL)
    g_cancellable_cancel (self->variant_loading);
  g_clear_object (&self->variant_loading);
  if (self->variant_generator != NULL)
    g_signal_handlers_disconnect_by_data (self->variant_generator, self);
  g_clear_object (&self->variant_generator);
  g_clear_object (&self->variant);
  gtk_widget_set_visible (self->variant_box, FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->divergence_label), FALSE);
  gtk_label_set_text (self->title_label, _("Output"));
}

void
lathe_playground_page_set_model (LathePlaygroundPage *self, LatheModel *model)
{
  g_return_if_fail (LATHE_IS_PLAYGROUND_PAGE (self));
  if (self->model == model)
    return;
  lathe_playground_page_stop (self);
  clear_variant (self);
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

static void
variant_loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LathePlaygroundPage) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (LatheModel) model = lathe_model_load_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->disposed)
    return;
  g_clear_object (&self->variant_loading);
  if (model == NULL)
    {
      gtk_label_set_text (self->variant_status, error->message);
      return;
    }
  self->variant = g_steal_pointer (&model);
  self->variant_generator = lathe_generator_new (self->variant);
  g_signal_connect (self->variant_generator, "text-appended", G_CALLBACK (variant_text_appended_cb), self);
  gtk_label_set_text (self->variant_status, _("Ready: Generate runs both from the same prompt and seed"));
  update_actions (self);
}

void
lathe_playground_page_set_variant (LathePlaygroundPage *self, const char *path, const char *name)
{

  g_return_if_fail (LATHE_IS_PLAYGROUND_PAGE (self));
  lathe_playground_page_stop (self);
  clear_variant (self);
  if (path == NULL)
    return;
  gtk_label_set_text (self->title_label, _("Original"));
  gtk_label_set_text (self->variant_title, name);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->variant_view), "", 0);
  gtk_label_set_text (self->variant_status, _("Loading…"));
  gtk_widget_set_visible (self->variant_box, TRUE);
  self->variant_loading = g_cancellable_new ();
  lathe_model_load_async (path, NULL, self->variant_loading, variant_loaded_cb, g_object_ref (self));
}

gboolean
lathe_playground_page_get_variant_ready (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), FALSE);
  return self->variant_generator != NULL;
}

char *
lathe_playground_page_dup_variant_output (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), NULL);
  return dup_view_text (self->variant_view);
}

int
lathe_playground_page_get_divergence (LathePlaygroundPage *self)
{
  g_return_val_if_fail (LATHE_IS_PLAYGROUND_PAGE (self), -1);
  return self->divergence;
}

static void
close_variant_action (GtkWidget *widget, const char *action_name, GVariant *param)
{
  lathe_playground_page_set_variant (LATHE_PLAYGROUND_PAGE (widget), NULL, NULL);
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
  g_settings_bind (settings, "speculative", self->speculative_row, "enable-expansion", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "speculative-k", self->speculative_k_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "draft-skip-layers", self->draft_skip_row, "text", G_SETTINGS_BIND_DEFAULT);
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
  if (self->variant_loading != NULL)
    g_cancellable_cancel (self->variant_loading);
  g_clear_object (&self->variant_loading);
  if (self->variant_generator != NULL)
    g_signal_handlers_disconnect_by_data (self->variant_generator, self);
  g_clear_object (&self->variant_generator);
  g_clear_object (&self->variant);
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
  g_clear_object (&self->variant_cancellable);
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
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, title_label);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, speculative_row);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, speculative_k_spin);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, draft_skip_row);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, variant_box);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, variant_title);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, variant_view);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, variant_status);
  gtk_widget_class_bind_template_child (widget_class, LathePlaygroundPage, divergence_label);
  gtk_widget_class_install_action (widget_class, "playground.close-variant", NULL, close_variant_action);

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
  self->prompt_tag_b = gtk_text_buffer_create_tag (gtk_text_view_get_buffer (self->variant_view),
                                                   "prompt", "weight", PANGO_WEIGHT_BOLD, NULL);
  /* From the first character where the two differ. */
  self->diverge_tag = gtk_text_buffer_create_tag (gtk_text_view_get_buffer (self->output_view), "diverged",
                                                  "underline", PANGO_UNDERLINE_ERROR, NULL);
  self->diverge_tag_b = gtk_text_buffer_create_tag (gtk_text_view_get_buffer (self->variant_view),
                                                    "diverged", "underline", PANGO_UNDERLINE_ERROR, NULL);
  self->divergence = -1;
  lathe_playground_page_set_prompt (self, "Once upon a time");
  update_actions (self);
}
