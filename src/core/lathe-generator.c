/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-generator"

#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-generator.h"
#include "lk-generate.h"

struct _LatheGenerator
{
  GObject parent_instance;
  LatheModel *model;

  /* settings */
  double temperature;
  int top_k;
  double top_p;
  double min_p;
  double repeat_penalty;
  guint64 seed;
  int n_predict;
  int n_ctx;
  int n_threads;
  /* conditional computation; none set (NULL, 0): as the model's file says */
  char *skip_layers;
  double exit_threshold;
  int exit_min_layer;
  gboolean exit_on_margin;
  int experts_used;
  /* greedy speculative decoding from the same model with layers skipped */
  int speculative_k;
  char *draft_skip_layers;

  /* state of an asynchronous run, shown on the main thread */
  gboolean busy;
  GString *text;
  int n_generated;
  double tokens_per_second;

  /* written by the worker under the mutex, taken by one idle callback */
  GMutex mutex;
  GString *pending;
  GByteArray *carry; /* an incomplete UTF-8 sequence (worker only) */
  int pending_n;
  double pending_tps;
  GSource *flush_source;
  GMainContext *main_context;
};

G_DEFINE_FINAL_TYPE (LatheGenerator, lathe_generator, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_TEMPERATURE,
  PROP_TOP_K,
  PROP_TOP_P,
  PROP_MIN_P,
  PROP_REPEAT_PENALTY,
  PROP_SEED,
  PROP_N_PREDICT,
  PROP_N_CTX,
  PROP_N_THREADS,
  PROP_SKIP_LAYERS,
  PROP_EXIT_THRESHOLD,
  PROP_EXIT_MIN_LAYER,
  PROP_EXPERTS_USED,
  PROP_EXIT_ON_MARGIN,
  PROP_SPECULATIVE_K,
  PROP_DRAFT_SKIP_LAYERS,
  PROP_BUSY,
  PROP_TEXT,
  PROP_N_GENERATED,
  PROP_TOKENS_PER_SECOND,
  N_PROPS
};

enum
{
  TEXT_APPENDED,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

static void
lathe_generator_dispose (GObject *object)
{
  LatheGenerator *self = LATHE_GENERATOR (object);

  if (self->flush_source != NULL)
    {
      g_source_destroy (self->flush_source);
      g_clear_pointer (&self->flush_source, g_source_unref);
    }
  g_clear_object (&self->model);
  G_OBJECT_CLASS (lathe_generator_parent_class)->dispose (object);
}

static void
lathe_generator_finalize (GObject *object)
{
  LatheGenerator *self = LATHE_GENERATOR (object);

  g_string_free (self->text, TRUE);
  g_string_free (self->pending, TRUE);
  g_byte_array_unref (self->carry);
  g_free (self->skip_layers);
  g_free (self->draft_skip_layers);
  g_mutex_clear (&self->mutex);
  g_clear_pointer (&self->main_context, g_main_context_unref);
  G_OBJECT_CLASS (lathe_generator_parent_class)->finalize (object);
}

static void
lathe_generator_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LatheGenerator *self = LATHE_GENERATOR (object);

  switch (prop_id)
    {
    case PROP_MODEL: g_value_set_object (value, self->model); break;
    case PROP_TEMPERATURE: g_value_set_double (value, self->temperature); break;
    case PROP_TOP_K: g_value_set_int (value, self->top_k); break;
    case PROP_TOP_P: g_value_set_double (value, self->top_p); break;
    case PROP_MIN_P: g_value_set_double (value, self->min_p); break;
    case PROP_REPEAT_PENALTY: g_value_set_double (value, self->repeat_penalty); break;
    case PROP_SEED: g_value_set_uint64 (value, self->seed); break;
    case PROP_N_PREDICT: g_value_set_int (value, self->n_predict); break;
    case PROP_N_CTX: g_value_set_int (value, self->n_ctx); break;
    case PROP_N_THREADS: g_value_set_int (value, self->n_threads); break;
    case PROP_SKIP_LAYERS: g_value_set_string (value, self->skip_layers); break;
    case PROP_EXIT_THRESHOLD: g_value_set_double (value, self->exit_threshold); break;
    case PROP_EXIT_MIN_LAYER: g_value_set_int (value, self->exit_min_layer); break;
    case PROP_EXPERTS_USED: g_value_set_int (value, self->experts_used); break;
    case PROP_EXIT_ON_MARGIN: g_value_set_boolean (value, self->exit_on_margin); break;
    case PROP_SPECULATIVE_K: g_value_set_int (value, self->speculative_k); break;
    case PROP_DRAFT_SKIP_LAYERS: g_value_set_string (value, self->draft_skip_layers); break;
    case PROP_BUSY: g_value_set_boolean (value, self->busy); break;
    case PROP_TEXT: g_value_set_string (value, self->text->str); break;
    case PROP_N_GENERATED: g_value_set_int (value, self->n_generated); break;
    case PROP_TOKENS_PER_SECOND: g_value_set_double (value, self->tokens_per_second); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lathe_generator_set_property (GObject *object, guint prop_id, const GValue *value,
                              GParamSpec *pspec)
{
  LatheGenerator *self = LATHE_GENERATOR (object);

  switch (prop_id)
    {
    case PROP_MODEL: self->model = g_value_dup_object (value); break;
    case PROP_TEMPERATURE: self->temperature = g_value_get_double (value); break;
    case PROP_TOP_K: self->top_k = g_value_get_int (value); break;
    case PROP_TOP_P: self->top_p = g_value_get_double (value); break;
    case PROP_MIN_P: self->min_p = g_value_get_double (value); break;
    case PROP_REPEAT_PENALTY: self->repeat_penalty = g_value_get_double (value); break;
    case PROP_SEED: self->seed = g_value_get_uint64 (value); break;
    case PROP_N_PREDICT: self->n_predict = g_value_get_int (value); break;
    case PROP_N_CTX: self->n_ctx = g_value_get_int (value); break;
    case PROP_N_THREADS: self->n_threads = g_value_get_int (value); break;
    case PROP_SKIP_LAYERS:
      g_free (self->skip_layers);
      self->skip_layers = g_value_dup_string (value);
      break;
    case PROP_EXIT_THRESHOLD: self->exit_threshold = g_value_get_double (value); break;
    case PROP_EXIT_MIN_LAYER: self->exit_min_layer = g_value_get_int (value); break;
    case PROP_EXPERTS_USED: self->experts_used = g_value_get_int (value); break;
    case PROP_EXIT_ON_MARGIN: self->exit_on_margin = g_value_get_boolean (value); break;
    case PROP_SPECULATIVE_K: self->speculative_k = g_value_get_int (value); break;
    case PROP_DRAFT_SKIP_LAYERS:
      g_free (self->draft_skip_layers);
      self->draft_skip_layers = g_value_dup_string (value);
      break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

#define RW (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS)
#define RO (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS)

static void
lathe_generator_class_init (LatheGeneratorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lathe_generator_dispose;
  object_class->finalize = lathe_generator_finalize;
  object_class->get_property = lathe_generator_get_property;
  object_class->set_property = lathe_generator_set_property;

  properties[PROP_MODEL] = g_param_spec_object ("model", NULL, NULL, LATHE_TYPE_MODEL,
                                                G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY
                                                  | G_PARAM_STATIC_STRINGS);
  properties[PROP_TEMPERATURE] = g_param_spec_double ("temperature", NULL, NULL, 0, 10, 0.8, RW);
  properties[PROP_TOP_K] = g_param_spec_int ("top-k", NULL, NULL, 0, G_MAXINT, 40, RW);
  properties[PROP_TOP_P] = g_param_spec_double ("top-p", NULL, NULL, 0, 1, 0.95, RW);
  properties[PROP_MIN_P] = g_param_spec_double ("min-p", NULL, NULL, 0, 1, 0.05, RW);
  properties[PROP_REPEAT_PENALTY] = g_param_spec_double ("repeat-penalty", NULL, NULL, 0, 10,
                                                         1.0, RW);
  properties[PROP_SEED] = g_param_spec_uint64 ("seed", NULL, NULL, 0, G_MAXUINT64, 42, RW);
  properties[PROP_N_PREDICT] = g_param_spec_int ("n-predict", NULL, NULL, 0, G_MAXINT, 128, RW);
  properties[PROP_N_CTX] = g_param_spec_int ("n-ctx", NULL, NULL, 0, G_MAXINT, 0, RW);
  properties[PROP_N_THREADS] = g_param_spec_int ("n-threads", NULL, NULL, 0, 1024, 0, RW);
  properties[PROP_SKIP_LAYERS] = g_param_spec_string ("skip-layers", NULL, NULL, NULL, RW);
  properties[PROP_EXIT_THRESHOLD] = g_param_spec_double ("exit-threshold", NULL, NULL, 0, 1, 0, RW);
  properties[PROP_EXIT_MIN_LAYER] = g_param_spec_int ("exit-min-layer", NULL, NULL, 0, G_MAXINT, 0, RW);
  properties[PROP_EXPERTS_USED] = g_param_spec_int ("experts-used", NULL, NULL, 0, 512, 0, RW);
  properties[PROP_EXIT_ON_MARGIN] = g_param_spec_boolean ("exit-on-margin", NULL, NULL, FALSE, RW);
  /* Greedy runs (temperature 0) draft this many tokens per step with the
   * model minus draft-skip-layers; the text is the same, the speed not. */
  properties[PROP_SPECULATIVE_K] = g_param_spec_int ("speculative-k", NULL, NULL, 0, 64, 0, RW);
  properties[PROP_DRAFT_SKIP_LAYERS] = g_param_spec_string ("draft-skip-layers", NULL, NULL, NULL, RW);
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE, RO);
  properties[PROP_TEXT] = g_param_spec_string ("text", NULL, NULL, "", RO);
  properties[PROP_N_GENERATED] = g_param_spec_int ("n-generated", NULL, NULL, 0, G_MAXINT, 0, RO);
  properties[PROP_TOKENS_PER_SECOND] = g_param_spec_double ("tokens-per-second", NULL, NULL, 0,
                                                            G_MAXDOUBLE, 0, RO);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LatheGenerator::text-appended:
   * @chunk: the text added since the last emission (valid UTF-8)
   */
  signals[TEXT_APPENDED] = g_signal_new ("text-appended", G_TYPE_FROM_CLASS (klass),
                                         G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                         G_TYPE_STRING);
}

static void
lathe_generator_init (LatheGenerator *self)
{
  self->temperature = 0.8;
  self->top_k = 40;
  self->top_p = 0.95;
  self->min_p = 0.05;
  self->repeat_penalty = 1.0;
  self->seed = 42;
  self->n_predict = 128;
  self->text = g_string_new (NULL);
  self->pending = g_string_new (NULL);
  self->carry = g_byte_array_new ();
  g_mutex_init (&self->mutex);
}

LatheGenerator *
lathe_generator_new (LatheModel *model)
{
  g_return_val_if_fail (LATHE_IS_MODEL (model), NULL);
  return g_object_new (LATHE_TYPE_GENERATOR, "model", model, NULL);
}

LatheModel *
lathe_generator_get_model (LatheGenerator *self)
{
  g_return_val_if_fail (LATHE_IS_GENERATOR (self), NULL);
  return self->model;
}

gboolean
lathe_generator_get_busy (LatheGenerator *self)
{
  g_return_val_if_fail (LATHE_IS_GENERATOR (self), FALSE);
  return self->busy;
}

const char *
lathe_generator_get_text (LatheGenerator *self)
{
  g_return_val_if_fail (LATHE_IS_GENERATOR (self), NULL);
  return self->text->str;
}

/* Synchronous run ---------------------------------------------------------- */

typedef struct
{
  LatheBytesFunc func;
  gpointer user_data;
} BytesSink;

static bool
on_token (void *user, int32_t token, const char *piece, size_t len)
{
  BytesSink *sink = user;

  (void) token;
  return sink->func == NULL || sink->func (piece, len, sink->user_data);
}

static void
cancel_flag_cb (GCancellable *cancellable, gpointer data)
{
  atomic_store ((atomic_int *) data, 1);
}

static void
fill_stats (LatheGenerationStats *stats, const lk_generate_stats *st)
{
  if (stats == NULL)
    return;
  stats->n_prompt = st->n_prompt;
  stats->n_generated = st->n_generated;
  stats->prompt_ms = st->prompt_ms;
  stats->gen_ms = st->gen_ms;
  stats->ttft_ms = st->ttft_ms;
  stats->prompt_tps = st->prompt_ms > 0 ? st->n_prompt * 1e3 / st->prompt_ms : 0;
  stats->decode_tps = st->gen_ms > 0 && st->n_generated > 1
                        ? (st->n_generated - 1) * 1e3 / st->gen_ms : 0;
  stats->stop_reason = lk_stop_reason_name (st->stop);
}

gboolean
lathe_generator_run (LatheGenerator *self, const char *prompt, LatheBytesFunc func,
                     gpointer user_data, LatheGenerationStats *stats,
                     GCancellable *cancellable, GError **error)
{
  lk_ctx_params cp;
  lk_generate_params gp;
  lk_generate_stats st;
  lk_ctx *ctx = NULL, *draft = NULL;
  lk_error err = { 0 };
  atomic_int cancel = 0;
  BytesSink sink = { func, user_data };
  gulong handler = 0;
  double layers_mean;
  lk_status s;

  g_return_val_if_fail (LATHE_IS_GENERATOR (self), FALSE);
  lk_ctx_params_init (&cp);
  cp.n_ctx = self->n_ctx;
  cp.n_threads = self->n_threads;
  if (lk_ctx_new (lathe_model_get_engine (self->model), &cp, &ctx, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  if (self->skip_layers != NULL || self->exit_threshold > 0 || self->experts_used > 0)
    {
      const LatheConditional c = { self->skip_layers,
                                   self->exit_threshold > 0 ? (float) self->exit_threshold : 1.0f,
                                   self->exit_min_layer, self->exit_on_margin, self->experts_used };
      if (!lathe_apply_conditional_full (ctx, &c, error))
        {
          lk_ctx_free (ctx);
          return FALSE;
        }
    }
  if (self->speculative_k > 0 && self->temperature <= 0 && self->draft_skip_layers != NULL
      && *self->draft_skip_layers != '\0')
    {
      const LatheConditional dc = { self->draft_skip_layers, 1.0f, 0, FALSE, self->experts_used };
      if (lk_ctx_new (lathe_model_get_engine (self->model), &cp, &draft, &err) != LK_OK)
        {
          lathe_error_from_engine (error, &err);
          lk_ctx_free (ctx);
          return FALSE;
        }
      if (!lathe_apply_conditional_full (draft, &dc, error))
        {
          lk_ctx_free (draft);
          lk_ctx_free (ctx);
          return FALSE;
        }
    }
  lk_generate_params_init (&gp);
  gp.draft = draft;
  gp.spec_k = self->speculative_k;
  gp.sampling.temperature = (float) self->temperature;
  gp.sampling.top_k = self->top_k;
  gp.sampling.top_p = (float) self->top_p;
  gp.sampling.min_p = (float) self->min_p;
  gp.sampling.repeat_penalty = (float) self->repeat_penalty;
  gp.sampling.seed = self->seed;
  gp.n_predict = self->n_predict;
  gp.on_token = on_token;
  gp.user = &sink;
  gp.cancel = &cancel;
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_flag_cb), &cancel, NULL);
  s = lk_generate (ctx, prompt, &gp, &st, &err);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, handler);
  layers_mean = lk_cond_layers_mean (lk_ctx_cond_stats (ctx));
  lk_ctx_free (ctx);
  lk_ctx_free (draft);
  if (s != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  fill_stats (stats, &st);
  if (stats != NULL)
    {
      stats->layers_mean = layers_mean;
      stats->acceptance_rate = st.spec_drafted > 0 ? (double) st.spec_accepted / (double) st.spec_drafted : -1;
    }
  return TRUE;
}

/* Asynchronous run ---------------------------------------------------------- */

static gboolean
flush_pending_cb (gpointer data)
{
  LatheGenerator *self = data;
  g_autofree char *chunk = NULL;
  int n;
  double tps;

  g_mutex_lock (&self->mutex);
  chunk = g_strndup (self->pending->str, self->pending->len);
  g_string_truncate (self->pending, 0);
  n = self->pending_n;
  tps = self->pending_tps;
  g_clear_pointer (&self->flush_source, g_source_unref);
  g_mutex_unlock (&self->mutex);

  if (*chunk != '\0')
    {
      g_string_append (self->text, chunk);
      g_signal_emit (self, signals[TEXT_APPENDED], 0, chunk);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXT]);
    }
  if (n != self->n_generated)
    {
      self->n_generated = n;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_GENERATED]);
    }
  if (tps != self->tokens_per_second)
    {
      self->tokens_per_second = tps;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOKENS_PER_SECOND]);
    }
  return G_SOURCE_REMOVE;
}

/* Called with the mutex held. */
static void
schedule_flush (LatheGenerator *self)
{
  if (self->flush_source != NULL)
    return;
  self->flush_source = g_idle_source_new ();
  g_source_set_callback (self->flush_source, flush_pending_cb, g_object_ref (self),
                         g_object_unref);
  g_source_set_static_name (self->flush_source, "[lathe-generator-flush]");
  g_source_attach (self->flush_source, self->main_context);
}

/* Moves the valid UTF-8 prefix of the carried bytes to pending; an
 * incomplete sequence at the end waits for the next token, and bytes that
 * can never be valid become U+FFFD. */
static void
drain_carry (LatheGenerator *self, gboolean final)
{
  GByteArray *c = self->carry;
  gsize i = 0;

  while (i < c->len)
    {
      const char *start = (const char *) c->data + i;
      const char *end;
      g_utf8_validate_len (start, c->len - i, &end);
      g_string_append_len (self->pending, start, end - start);
      i += (gsize) (end - start);
      if (i >= c->len)
        break;
      if (!final && c->len - i < 4
          && g_utf8_get_char_validated (start + (end - start), (gssize) (c->len - i)) == (gunichar) -2)
        break; /* a sequence cut short: wait for the rest */
      g_string_append (self->pending, "\xef\xbf\xbd");
      i++;
    }
  g_byte_array_remove_range (c, 0, (guint) i);
}

typedef struct
{
  LatheGenerator *self;
  double t_start;
} AsyncSink;

static gboolean
async_bytes_cb (const char *bytes, gsize len, gpointer data)
{
  AsyncSink *as = data;
  LatheGenerator *self = as->self;
  const double now = g_get_monotonic_time () / 1e3;

  g_mutex_lock (&self->mutex);
  g_byte_array_append (self->carry, (const guint8 *) bytes, (guint) len);
  drain_carry (self, FALSE);
  self->pending_n++;
  if (self->pending_n == 1)
    as->t_start = now;
  else if (now > as->t_start)
    self->pending_tps = (self->pending_n - 1) * 1e3 / (now - as->t_start);
  schedule_flush (self);
  g_mutex_unlock (&self->mutex);
  return TRUE;
}

typedef struct
{
  char *prompt;
  LatheGenerationStats stats;
} GenerateData;

static void
generate_data_free (gpointer data)
{
  GenerateData *gd = data;

  g_free (gd->prompt);
  g_free (gd);
}

static void
generate_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LatheGenerator *self = source;
  GenerateData *gd = task_data;
  AsyncSink as = { self, 0 };
  GError *error = NULL;

  if (!lathe_generator_run (self, gd->prompt, async_bytes_cb, &as, &gd->stats, cancellable,
                            &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_mutex_lock (&self->mutex);
  drain_carry (self, TRUE);
  if (gd->stats.decode_tps > 0)
    self->pending_tps = gd->stats.decode_tps;
  schedule_flush (self);
  g_mutex_unlock (&self->mutex);
  g_task_return_boolean (task, TRUE);
}

static void
set_busy (LatheGenerator *self, gboolean busy)
{
  if (self->busy != busy)
    {
      self->busy = busy;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
    }
}

void
lathe_generator_generate_async (LatheGenerator *self, const char *prompt,
                                GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  GenerateData *gd;

  g_return_if_fail (LATHE_IS_GENERATOR (self));
  g_return_if_fail (prompt != NULL);
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, lathe_generator_generate_async);
  /* Cancelling is how a user stops a run: it ends normally, stop reason "cancelled". */
  g_task_set_check_cancellable (task, FALSE);
  if (self->busy)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_BUSY,
                               "a generation is already running");
      return;
    }
  g_clear_pointer (&self->main_context, g_main_context_unref);
  self->main_context = g_main_context_ref_thread_default ();
  g_string_truncate (self->text, 0);
  g_string_truncate (self->pending, 0);
  g_byte_array_set_size (self->carry, 0);
  self->pending_n = 0;
  self->pending_tps = 0;
  self->n_generated = 0;
  self->tokens_per_second = 0;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXT]);
  set_busy (self, TRUE);
  gd = g_new0 (GenerateData, 1);
  gd->prompt = g_strdup (prompt);
  g_task_set_task_data (task, gd, generate_data_free);
  g_task_run_in_thread (task, generate_thread);
}

gboolean
lathe_generator_generate_finish (LatheGenerator *self, GAsyncResult *result,
                                 LatheGenerationStats *stats, GError **error)
{
  GenerateData *gd;
  gboolean ok;

  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  gd = g_task_get_task_data (G_TASK (result));
  if (gd == NULL) /* refused because another run was going: leave that one alone */
    return g_task_propagate_boolean (G_TASK (result), error);
  /* Deliver the last text before reporting the end. */
  g_mutex_lock (&self->mutex);
  if (self->flush_source != NULL)
    {
      GSource *source = g_source_ref (self->flush_source);
      g_mutex_unlock (&self->mutex);
      g_object_ref (self);
      flush_pending_cb (self);
      g_source_destroy (source);
      g_source_unref (source);
      g_object_unref (self);
    }
  else
    g_mutex_unlock (&self->mutex);
  ok = g_task_propagate_boolean (G_TASK (result), error);
  if (ok && stats != NULL)
    *stats = gd->stats;
  set_busy (self, FALSE);
  return ok;
}
