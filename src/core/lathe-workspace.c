/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-workspace"

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>

#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-recipe.h"
#include "lathe-remote.h"
#include "lathe-sensitivity.h"
#include "lathe-workspace.h"

#define WORKSPACE_VERSION 1
#define WORKSPACE_FILE "workspace.json"
#define VARIANTS_DIR "variants"

struct _LatheWorkspace
{
  GObject parent_instance;
  char *dir, *source, *eval_text;
  int eval_ctx, eval_chunks;
  GListStore *variants;
  GMutex reference_lock; /* one worker makes the reference */
};

G_DEFINE_FINAL_TYPE (LatheWorkspace, lathe_workspace, G_TYPE_OBJECT)

static void
lathe_workspace_finalize (GObject *object)
{
  LatheWorkspace *self = LATHE_WORKSPACE (object);

  g_free (self->dir);
  g_free (self->source);
  g_free (self->eval_text);
  g_object_unref (self->variants);
  g_mutex_clear (&self->reference_lock);
  G_OBJECT_CLASS (lathe_workspace_parent_class)->finalize (object);
}

static void
lathe_workspace_class_init (LatheWorkspaceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lathe_workspace_finalize;
}

static void
lathe_workspace_init (LatheWorkspace *self)
{
  self->variants = g_list_store_new (LATHE_TYPE_VARIANT);
  self->eval_ctx = 128;
  self->eval_chunks = 16;
  g_mutex_init (&self->reference_lock);
}

const char *
lathe_workspace_get_dir (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return self->dir;
}

const char *
lathe_workspace_get_source (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return self->source;
}

const char *
lathe_workspace_get_eval_text (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return self->eval_text;
}

int
lathe_workspace_get_eval_ctx (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), 0);
  return self->eval_ctx;
}

int
lathe_workspace_get_eval_chunks (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), 0);
  return self->eval_chunks;
}

gboolean
lathe_workspace_set_eval_text (LatheWorkspace *self, const char *path, GError **error)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: no such text file"), path);
      return FALSE;
    }
  g_free (self->eval_text);
  self->eval_text = g_canonicalize_filename (path, NULL);
  return lathe_workspace_save (self, error);
}

void
lathe_workspace_set_eval (LatheWorkspace *self, int n_ctx, int n_chunks)
{
  g_return_if_fail (LATHE_IS_WORKSPACE (self));
  g_return_if_fail (n_ctx > 0 && n_chunks >= 0);
  self->eval_ctx = n_ctx;
  self->eval_chunks = n_chunks;
}

GListModel *
lathe_workspace_get_variants (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return G_LIST_MODEL (self->variants);
}

LatheVariant *
lathe_workspace_find (LatheWorkspace *self, const char *id_or_name)
{
  const guint n = g_list_model_get_n_items (G_LIST_MODEL (self->variants));

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (G_LIST_MODEL (self->variants), i);
      if (g_strcmp0 (lathe_variant_get_id (v), id_or_name) == 0
          || g_strcmp0 (lathe_variant_get_name (v), id_or_name) == 0)
        return v;
    }
  return NULL;
}

char *
lathe_workspace_dup_file (LatheWorkspace *self, LatheVariant *variant)
{
  const char *file = lathe_variant_get_file (variant);

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return g_path_is_absolute (file) ? g_strdup (file) : g_build_filename (self->dir, file, NULL);
}

/* Saving and opening ------------------------------------------------------- */

static JsonNode *
to_json (LatheWorkspace *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  const guint n = g_list_model_get_n_items (G_LIST_MODEL (self->variants));

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lathe_workspace");
  json_builder_add_int_value (b, WORKSPACE_VERSION);
  json_builder_set_member_name (b, "source");
  json_builder_add_string_value (b, self->source);
  json_builder_set_member_name (b, "eval");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, self->eval_text);
  json_builder_set_member_name (b, "ctx");
  json_builder_add_int_value (b, self->eval_ctx);
  json_builder_set_member_name (b, "chunks");
  json_builder_add_int_value (b, self->eval_chunks);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "variants");
  json_builder_begin_array (b);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (G_LIST_MODEL (self->variants), i);
      json_builder_add_value (b, lathe_variant_to_json (v));
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

gboolean
lathe_workspace_save (LatheWorkspace *self, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL, *path = NULL;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  root = to_json (self);
  text = json_to_string (root, TRUE);
  path = g_build_filename (self->dir, WORKSPACE_FILE, NULL);
  /* g_file_set_contents writes a temporary file and renames it. */
  return g_file_set_contents (path, text, -1, error);
}

static gboolean
fail (GError **error, const char *origin, const char *field, const char *what)
{
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s: %s", origin, field, what);
  return FALSE;
}

static gboolean
read_eval (LatheWorkspace *self, JsonObject *root, const char *origin, GError **error)
{
  JsonNode *n = json_object_get_member (root, "eval");
  JsonObject *o;
  JsonNode *text;
  gint64 ctx, chunks;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, origin, "eval", _("expected an object"));
  o = json_node_get_object (n);
  text = json_object_get_member (o, "text");
  if (text == NULL || json_node_get_value_type (text) != G_TYPE_STRING)
    return fail (error, origin, "eval.text", _("expected the path of a text file"));
  ctx = json_object_get_int_member_with_default (o, "ctx", -1);
  chunks = json_object_get_int_member_with_default (o, "chunks", -1);
  if (ctx < 2 || ctx > 1 << 20)
    return fail (error, origin, "eval.ctx", _("expected a token count from 2 to 1048576"));
  if (chunks < 0 || chunks > 1 << 20)
    return fail (error, origin, "eval.chunks", _("expected a chunk count from 0 to 1048576"));
  self->eval_text = g_strdup (json_node_get_string (text));
  self->eval_ctx = (int) ctx;
  self->eval_chunks = (int) chunks;
  return TRUE;
}

static gboolean
read_variants (LatheWorkspace *self, JsonObject *root, const char *origin, GError **error)
{
  JsonNode *n = json_object_get_member (root, "variants");
  JsonArray *a;

  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return fail (error, origin, "variants", _("expected an array"));
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      g_autofree char *where = g_strdup_printf ("variants[%u]", i);
      g_autoptr (LatheVariant) v = lathe_variant_from_json (json_array_get_element (a, i), origin, where,
                                                            error);
      if (v == NULL)
        return FALSE;
      if (lathe_workspace_find (self, lathe_variant_get_id (v)) != NULL)
        {
          g_autofree char *field = g_strdup_printf ("variants[%u].id", i);
          return fail (error, origin, field, _("used twice"));
        }
      g_list_store_append (self->variants, v);
    }
  return TRUE;
}

LatheWorkspace *
lathe_workspace_open (const char *dir, GError **error)
{
  g_autoptr (LatheWorkspace) self = g_object_new (LATHE_TYPE_WORKSPACE, NULL);
  g_autofree char *path = g_build_filename (dir, WORKSPACE_FILE, NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  JsonNode *root;
  JsonObject *o;
  JsonNode *source;

  if (!json_parser_load_from_mapped_file (parser, path, &local))
    {
      g_set_error (error, LATHE_ERROR, g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                                         ? LATHE_ERROR_IO : LATHE_ERROR_FORMAT,
                   "%s: %s", path, local->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      fail (error, path, "(top)", _("expected an object"));
      return NULL;
    }
  o = json_node_get_object (root);
  if (json_object_get_int_member_with_default (o, "lathe_workspace", 0) != WORKSPACE_VERSION)
    {
      fail (error, path, "lathe_workspace", _("expected 1 (the version this Lathe writes)"));
      return NULL;
    }
  source = json_object_get_member (o, "source");
  if (source == NULL || json_node_get_value_type (source) != G_TYPE_STRING)
    {
      fail (error, path, "source", _("expected the path of the source model"));
      return NULL;
    }
  self->dir = g_canonicalize_filename (dir, NULL);
  self->source = g_strdup (json_node_get_string (source));
  if (!read_eval (self, o, path, error) || !read_variants (self, o, path, error))
    return NULL;
  return g_steal_pointer (&self);
}

LatheWorkspace *
lathe_workspace_create (const char *dir, const char *source_path, const char *eval_text_path,
                        GError **error)
{
  g_autoptr (LatheWorkspace) self = g_object_new (LATHE_TYPE_WORKSPACE, NULL);
  g_autofree char *json = g_build_filename (dir, WORKSPACE_FILE, NULL);

  g_return_val_if_fail (dir != NULL && source_path != NULL, NULL);
  if (g_file_test (json, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("%s: a workspace is there already"), dir);
      return NULL;
    }
  if (!g_file_test (source_path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: no such model file"), source_path);
      return NULL;
    }
  if (eval_text_path != NULL && *eval_text_path != '\0' && !g_file_test (eval_text_path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: no such text file"), eval_text_path);
      return NULL;
    }
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", dir,
                   g_strerror (errno));
      return NULL;
    }
  self->dir = g_canonicalize_filename (dir, NULL);
  self->source = g_canonicalize_filename (source_path, NULL);
  self->eval_text = eval_text_path != NULL && *eval_text_path != '\0'
                      ? g_canonicalize_filename (eval_text_path, NULL) : g_strdup ("");
  if (!lathe_workspace_save (self, error))
    return NULL;
  return g_steal_pointer (&self);
}

gboolean
lathe_workspace_add (LatheWorkspace *self, LatheVariant *variant, GError **error)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  g_return_val_if_fail (LATHE_IS_VARIANT (variant), FALSE);
  g_list_store_append (self->variants, variant);
  return lathe_workspace_save (self, error);
}

gboolean
lathe_workspace_remove (LatheWorkspace *self, LatheVariant *variant, GError **error)
{
  guint pos;
  g_autofree char *path = NULL;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  if (!g_list_store_find (self->variants, variant, &pos))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("%s: no variant %s"), self->dir,
                   lathe_variant_get_name (variant));
      return FALSE;
    }
  /* Only files the workspace wrote itself go: never the source. */
  if (!g_path_is_absolute (lathe_variant_get_file (variant)))
    {
      path = lathe_workspace_dup_file (self, variant);
      if (g_unlink (path) != 0 && errno != ENOENT)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", path,
                       g_strerror (errno));
          return FALSE;
        }
    }
  g_list_store_remove (self->variants, pos);
  return lathe_workspace_save (self, error);
}

static void
csv_field (GString *s, const char *text)
{
  if (text == NULL)
    return;
  if (strpbrk (text, ",\"\n\r") == NULL)
    {
      g_string_append (s, text);
      return;
    }
  g_string_append_c (s, '"');
  for (const char *p = text; *p; p++)
    {
      if (*p == '"')
        g_string_append_c (s, '"');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '"');
}

char *
lathe_workspace_to_csv (LatheWorkspace *self)
{
  GString *s = g_string_new ("id,name,device,file");
  const guint n = g_list_model_get_n_items (G_LIST_MODEL (self->variants));

  for (int m = 0; m < LATHE_N_METRICS; m++)
    g_string_append_printf (s, ",%s", lathe_metric_key (m));
  g_string_append_c (s, '\n');
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (G_LIST_MODEL (self->variants), i);
      csv_field (s, lathe_variant_get_id (v));
      g_string_append_c (s, ',');
      csv_field (s, lathe_variant_get_name (v));
      g_string_append_c (s, ',');
      csv_field (s, lathe_variant_get_device (v));
      g_string_append_c (s, ',');
      csv_field (s, lathe_variant_get_file (v));
      for (int m = 0; m < LATHE_N_METRICS; m++)
        {
          const double x = lathe_variant_get_metric (v, m);
          g_string_append_c (s, ',');
          if (!isnan (x))
            g_string_append_printf (s, "%.6g", x);
        }
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}

/* Measuring ---------------------------------------------------------------- */

void
lathe_measure_options_init (LatheMeasureOptions *o)
{
  o->n_threads = 0;
  lathe_bench_options_init (&o->bench);
  o->skip_speed = FALSE;
}

typedef struct
{
  LatheMeasureProgress fn;
  gpointer user;
  double from, to; /* the share of the work this stage is */
  const char *stage;
} Stage;

static void
stage_report (Stage *s, double fraction)
{
  if (s->fn != NULL)
    s->fn (s->user, s->from + (s->to - s->from) * CLAMP (fraction, 0.0, 1.0), s->stage);
}

static void
apply_progress_cb (gpointer user, int done, int total, const char *tensor)
{
  stage_report (user, total > 0 ? (double) done / total : 0.0);
}

static void
eval_progress_cb (gpointer user, const char *stage, int done, int total)
{
  stage_report (user, total > 0 ? (double) done / total : 0.0);
}

/* The source's log-probabilities on the text, for these evaluation settings;
 * made once, by whichever worker needs them first. Making them evaluates
 * the source too: *made then holds its figures (else its tokens are 0). */
static char *
ensure_reference (LatheWorkspace *self, LatheModel *source, int n_ctx, int n_chunks, int n_threads,
                  Stage *stage, lk_eval_result *made, GCancellable *cancellable, GError **error)
{
  g_autofree char *text_id = g_compute_checksum_for_string (G_CHECKSUM_SHA256, self->eval_text, -1);
  g_autofree char *name = g_strdup_printf ("reference-%.8s-%dx%d.lref", text_id, n_ctx, n_chunks);
  char *path = g_build_filename (self->dir, name, NULL);
  LatheEvalOptions o;
  gboolean ok = TRUE;

  memset (made, 0, sizeof *made);
  g_mutex_lock (&self->reference_lock);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      lathe_eval_options_init (&o);
      o.n_ctx = n_ctx;
      o.max_chunks = n_chunks;
      o.n_threads = n_threads;
      o.save_ref = path;
      o.progress = eval_progress_cb;
      o.user = stage;
      ok = lathe_eval_run (source, self->eval_text, NULL, &o, made, cancellable, error);
    }
  g_mutex_unlock (&self->reference_lock);
  if (!ok)
    g_clear_pointer (&path, g_free);
  return path;
}

static char *
new_id (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");

  return g_strdup_printf ("%s-%04x", stamp, g_random_int_range (0, 0x10000));
}

static gboolean
measure_speed (LatheVariant *v, const char *path, const LatheMeasureOptions *o,
               GCancellable *cancellable, GError **error)
{
  g_autoptr (JsonNode) bench = lathe_runner_bench (path, &o->bench, cancellable, error);
  JsonObject *b;

  if (bench == NULL)
    return FALSE;
  b = json_node_get_object (bench);
  if (json_object_has_member (b, "prefill_tps"))
    lathe_variant_set_metric (v, LATHE_METRIC_PREFILL_TPS,
                              json_object_get_double_member (json_object_get_object_member (b, "prefill_tps"),
                                                             "mean"));
  if (json_object_has_member (b, "decode_tps"))
    lathe_variant_set_metric (v, LATHE_METRIC_DECODE_TPS,
                              json_object_get_double_member (json_object_get_object_member (b, "decode_tps"),
                                                             "mean"));
  if (json_object_has_member (b, "peak_rss_bytes"))
    lathe_variant_set_metric (v, LATHE_METRIC_PEAK_MEMORY_MB,
                              (double) json_object_get_int_member (b, "peak_rss_bytes") / 1e6);
  return TRUE;
}

/* Quality (against the reference; known: figures already measured, or
 * NULL), size and speed of the model file at path. */
static gboolean
measure_file (LatheWorkspace *self, LatheVariant *v, const char *path, LatheModel *loaded, const char *reference,
              const lk_eval_result *known, const LatheMeasureOptions *o, Stage *stage, GCancellable *cancellable,
              GError **error)
{
  g_autoptr (LatheModel) model = loaded ? g_object_ref (loaded) : lathe_model_load (path, NULL, cancellable, error);
  LatheEvalOptions eo;
  lk_eval_result r;
  GStatBuf st;

  if (model == NULL)
    return FALSE;
  lathe_eval_options_init (&eo);
  eo.n_ctx = self->eval_ctx;
  eo.max_chunks = self->eval_chunks;
  eo.n_threads = o->n_threads;
  eo.progress = eval_progress_cb;
  eo.user = stage;
  if (known != NULL)
    r = *known;
  else if (!lathe_eval_run (model, self->eval_text, reference, &eo, &r, cancellable, error))
    return FALSE;
  lathe_variant_set_metric (v, LATHE_METRIC_FILE_MB,
                            g_stat (path, &st) == 0 ? (double) st.st_size / 1e6 : NAN);
  lathe_variant_set_metric (v, LATHE_METRIC_BPW, lathe_model_get_bpw (model));
  lathe_variant_set_metric (v, LATHE_METRIC_PERPLEXITY, r.perplexity);
  lathe_variant_set_metric (v, LATHE_METRIC_KL_MEAN, r.kl_mean);
  lathe_variant_set_metric (v, LATHE_METRIC_TOP1, r.top1_agreement);
  lathe_variant_set_metric (v, LATHE_METRIC_LAYERS_MEAN,
                            r.layers_mean > 0 ? r.layers_mean : (double) r.n_layer);
  if (o->skip_speed)
    return TRUE;
  stage->from = 0.85;
  stage->to = 1.0;
  stage->stage = _("measuring speed");
  stage_report (stage, 0.0);
  return measure_speed (v, path, o, cancellable, error);
}

static char *
recipe_name (const LatheRecipe *recipe)
{
  const char *name = lathe_recipe_get_name (recipe);

  return g_strdup (name != NULL && *name != '\0' ? name : _("Variant"));
}

LatheVariant *
lathe_workspace_measure (LatheWorkspace *self, LatheModel *source, const char *recipe_json,
                         const LatheMeasureOptions *o, LatheMeasureProgress progress, gpointer user,
                         GCancellable *cancellable, GError **error)
{
  Stage stage = { progress, user, 0.0, 0.1, _("computing the reference") };
  g_autofree char *reference = NULL, *id = new_id (), *rel = NULL, *path = NULL, *name = NULL;
  g_autofree char *variants_dir = g_build_filename (self->dir, VARIANTS_DIR, NULL);
  g_autoptr (LatheRecipe) recipe = NULL;
  g_autoptr (LatheVariant) v = NULL;
  LatheMeasureOptions defaults;
  lk_eval_result made;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  g_return_val_if_fail (LATHE_IS_MODEL (source), NULL);
  if (o == NULL)
    {
      lathe_measure_options_init (&defaults);
      o = &defaults;
    }
  if (recipe_json != NULL
      && (recipe = lathe_recipe_parse (recipe_json, -1, _("recipe"), error)) == NULL)
    return NULL;
  if (*self->eval_text == '\0')
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("%s: no evaluation text: choose one to measure quality against"), self->dir);
      return NULL;
    }
  reference = ensure_reference (self, source, self->eval_ctx, self->eval_chunks, o->n_threads, &stage, &made,
                                cancellable, error);
  if (reference == NULL)
    return NULL;
  if (recipe == NULL)
    {
      v = lathe_variant_new (id, _("Original"));
      lathe_variant_set_file (v, self->source);
      path = g_strdup (self->source);
    }
  else
    {
      name = recipe_name (recipe);
      v = lathe_variant_new (id, name);
      rel = g_strdup_printf ("%s/%s.gguf", VARIANTS_DIR, id);
      path = g_build_filename (self->dir, rel, NULL);
      lathe_variant_set_file (v, rel);
      lathe_variant_set_recipe (v, recipe_json);
      stage = (Stage){ progress, user, 0.1, 0.5, _("applying the recipe") };
      stage_report (&stage, 0.0);
      if (g_mkdir_with_parents (variants_dir, 0755) != 0)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", variants_dir,
                       g_strerror (errno));
          return NULL;
        }
      if (!lathe_recipe_apply (recipe, source, path, o->n_threads, apply_progress_cb, &stage, NULL,
                               cancellable, error))
        return NULL;
    }
  stage = (Stage){ progress, user, 0.5, o->skip_speed ? 1.0 : 0.85, _("evaluating") };
  stage_report (&stage, 0.0);
  /* The original was just evaluated while its reference was made. */
  if (!measure_file (self, v, path, recipe == NULL ? source : NULL, reference,
                     recipe == NULL && made.tokens > 0 ? &made : NULL, o, &stage, cancellable, error))
    {
      /* Nothing half-done stays: the file goes with the failure. */
      if (recipe != NULL)
        g_unlink (path);
      return NULL;
    }
  return g_steal_pointer (&v);
}

/* Measuring in the background ---------------------------------------------- */

typedef struct
{
  LatheWorkspace *self;
  LatheModel *source;
  GPtrArray *recipes; /* char*, NULL for the source */
  gboolean sensitivity; /* measure the sensitivity table instead */
  LatheMeasureOptions options;
  GMainContext *context;
  LatheSweepProgress progress;
  gpointer progress_user;
  /* Shared between the worker and the caller's context. */
  GMutex lock;
  int done, total, added;
  double fraction;
  char *stage;
  gboolean report_pending;
  GError *save_error;
} MeasureJob;

static void
measure_job_free (gpointer p)
{
  MeasureJob *j = p;

  g_object_unref (j->self);
  g_object_unref (j->source);
  g_ptr_array_unref (j->recipes);
  g_main_context_unref (j->context);
  g_mutex_clear (&j->lock);
  g_free (j->stage);
  g_clear_error (&j->save_error);
  g_free (j);
}

static gboolean
report_idle_cb (gpointer data)
{
  GTask *task = data;
  MeasureJob *j = g_task_get_task_data (task);
  int done, total;
  double fraction;
  g_autofree char *stage = NULL;

  g_mutex_lock (&j->lock);
  done = j->done;
  total = j->total;
  fraction = j->fraction;
  stage = g_strdup (j->stage);
  j->report_pending = FALSE;
  g_mutex_unlock (&j->lock);
  if (j->progress != NULL && !g_task_get_completed (task))
    j->progress (j->progress_user, done, total, fraction, stage);
  return G_SOURCE_REMOVE;
}

/* Called by the worker as often as it likes; the caller sees the latest. */
static void
job_report (GTask *task, double fraction, const char *stage)
{
  MeasureJob *j = g_task_get_task_data (task);
  gboolean schedule;

  g_mutex_lock (&j->lock);
  j->fraction = fraction;
  if (stage != NULL && g_strcmp0 (stage, j->stage) != 0)
    {
      g_free (j->stage);
      j->stage = g_strdup (stage);
    }
  schedule = !j->report_pending;
  j->report_pending = TRUE;
  g_mutex_unlock (&j->lock);
  if (schedule)
    g_main_context_invoke_full (j->context, G_PRIORITY_DEFAULT, report_idle_cb, g_object_ref (task),
                                g_object_unref);
}

static void
variant_progress_cb (gpointer user, double fraction, const char *stage)
{
  job_report (user, fraction, stage);
}

typedef struct
{
  GTask *task;
  LatheVariant *variant;
} Added;

static gboolean
add_idle_cb (gpointer data)
{
  Added *a = data;
  MeasureJob *j = g_task_get_task_data (a->task);
  g_autoptr (GError) error = NULL;

  if (!lathe_workspace_add (j->self, a->variant, &error) && j->save_error == NULL)
    j->save_error = g_steal_pointer (&error);
  j->added++;
  g_object_unref (a->variant);
  g_object_unref (a->task);
  g_free (a);
  return G_SOURCE_REMOVE;
}

static void
measure_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  MeasureJob *j = task_data;
  GError *error = NULL;

  if (j->sensitivity)
    {
      if (!lathe_workspace_measure_sensitivity (j->self, j->source, variant_progress_cb, task, cancellable,
                                                &error))
        g_task_return_error (task, error);
      else
        g_task_return_int (task, 0);
      return;
    }
  for (guint i = 0; i < j->recipes->len; i++)
    {
      LatheVariant *v;
      Added *a;
      g_mutex_lock (&j->lock);
      j->done = (int) i;
      g_mutex_unlock (&j->lock);
      job_report (task, 0.0, NULL);
      v = lathe_workspace_measure (j->self, j->source, g_ptr_array_index (j->recipes, i), &j->options,
                                   variant_progress_cb, task, cancellable, &error);
      if (v == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      a = g_new (Added, 1);
      a->task = g_object_ref (task);
      a->variant = v;
      g_main_context_invoke_full (j->context, G_PRIORITY_DEFAULT, add_idle_cb, a, NULL);
    }
  g_mutex_lock (&j->lock);
  j->done = (int) j->recipes->len;
  g_mutex_unlock (&j->lock);
  job_report (task, 1.0, NULL);
  g_task_return_int (task, (gssize) j->recipes->len);
}

static void
start_job (LatheWorkspace *self, LatheModel *source, GPtrArray *recipes, gboolean sensitivity,
           const LatheMeasureOptions *o, LatheSweepProgress progress, gpointer progress_user,
           GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  MeasureJob *j = g_new0 (MeasureJob, 1);

  j->sensitivity = sensitivity;
  j->self = g_object_ref (self);
  j->source = g_object_ref (source);
  j->recipes = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < recipes->len; i++)
    g_ptr_array_add (j->recipes, g_strdup (g_ptr_array_index (recipes, i)));
  if (o != NULL)
    j->options = *o;
  else
    lathe_measure_options_init (&j->options);
  j->context = g_main_context_ref_thread_default ();
  j->progress = progress;
  j->progress_user = progress_user;
  j->total = sensitivity ? 1 : (int) recipes->len;
  g_mutex_init (&j->lock);
  g_task_set_source_tag (task, lathe_workspace_measure_async);
  g_task_set_task_data (task, j, measure_job_free);
  g_task_run_in_thread (task, measure_thread);
}

void
lathe_workspace_measure_async (LatheWorkspace *self, LatheModel *source, GPtrArray *recipes,
                               const LatheMeasureOptions *o, LatheSweepProgress progress,
                               gpointer progress_user, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (LATHE_IS_WORKSPACE (self));
  g_return_if_fail (LATHE_IS_MODEL (source));
  start_job (self, source, recipes, FALSE, o, progress, progress_user, cancellable, callback, user_data);
}

void
lathe_workspace_measure_sensitivity_async (LatheWorkspace *self, LatheModel *source,
                                           LatheSweepProgress progress, gpointer progress_user,
                                           GCancellable *cancellable, GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  g_autoptr (GPtrArray) none = g_ptr_array_new ();

  g_return_if_fail (LATHE_IS_WORKSPACE (self));
  g_return_if_fail (LATHE_IS_MODEL (source));
  start_job (self, source, none, TRUE, NULL, progress, progress_user, cancellable, callback, user_data);
}

int
lathe_workspace_measure_finish (LatheWorkspace *self, GAsyncResult *result, GError **error)
{
  GTask *task = G_TASK (result);
  MeasureJob *j = g_task_get_task_data (task);
  GError *local = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), -1);
  if (g_task_propagate_int (task, &local) < 0 || local != NULL)
    {
      g_propagate_error (error, local);
      return -1;
    }
  if (j->save_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&j->save_error));
      return -1;
    }
  return j->added;
}

/* Sensitivity ---------------------------------------------------------------- */

#define SENSITIVITY_FILE "sensitivity.json"

char *
lathe_workspace_dup_sensitivity (LatheWorkspace *self)
{
  char *path;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  path = g_build_filename (self->dir, SENSITIVITY_FILE, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&path, g_free);
  return path;
}

static void
sensitivity_progress_cb (gpointer user, int done, int total, const char *tensor)
{
  Stage *s = user;
  g_autofree char *text = g_strdup_printf (_("sensitivity of %s"), tensor != NULL ? tensor : "");

  s->stage = text;
  stage_report (s, total > 0 ? (double) done / total : 0.0);
  s->stage = NULL;
}

gboolean
lathe_workspace_measure_sensitivity (LatheWorkspace *self, LatheModel *source, LatheMeasureProgress progress,
                                     gpointer user, GCancellable *cancellable, GError **error)
{
  static const lk_type candidates[] = { LK_TYPE_F16, LK_TYPE_Q8_0, LK_TYPE_Q6_K, LK_TYPE_Q5_K, LK_TYPE_Q5_0,
                                        LK_TYPE_Q4_K, LK_TYPE_Q4_0, LK_TYPE_Q3_K, LK_TYPE_Q2_K };
  Stage stage = { progress, user, 0.0, 1.0, NULL };
  g_autofree char *path = g_build_filename (self->dir, SENSITIVITY_FILE, NULL);
  g_autofree char *text = NULL;
  g_autoptr (JsonNode) table = NULL;
  LatheSensitivityOptions o;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  if (*self->eval_text == '\0')
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("%s: no evaluation text: choose one to measure quality against"), self->dir);
      return FALSE;
    }
  lathe_sensitivity_options_init (&o);
  o.types = candidates;
  o.n_types = G_N_ELEMENTS (candidates);
  o.n_ctx = self->eval_ctx;
  o.max_chunks = self->eval_chunks;
  o.progress = sensitivity_progress_cb;
  o.user = &stage;
  if ((table = lathe_sensitivity_measure (source, self->eval_text, &o, cancellable, error)) == NULL)
    return FALSE;
  text = json_to_string (table, TRUE);
  return g_file_set_contents (path, text, -1, error);
}

/* Device profiles ------------------------------------------------------------ */

/* The variant measured here whose file is model_path, or NULL. */
static LatheVariant *
local_variant_of (LatheWorkspace *self, const char *model_path)
{
  g_autofree char *canon = g_canonicalize_filename (model_path, NULL);
  GListModel *list = G_LIST_MODEL (self->variants);

  for (guint i = 0; i < g_list_model_get_n_items (list); i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (list, i);
      g_autofree char *path = lathe_workspace_dup_file (self, v);
      g_autofree char *cpath = g_canonicalize_filename (path, NULL);
      if (lathe_variant_get_device (v) == NULL && strcmp (cpath, canon) == 0)
        return v;
    }
  return NULL;
}

LatheVariant *
lathe_workspace_add_profile (LatheWorkspace *self, const char *model_path, JsonNode *profile, GError **error)
{
  static const LatheMetric quality[] = { LATHE_METRIC_BPW, LATHE_METRIC_PERPLEXITY, LATHE_METRIC_KL_MEAN,
                                         LATHE_METRIC_TOP1, LATHE_METRIC_LAYERS_MEAN };
  LatheVariant *local = local_variant_of (self, model_path);
  const char *device = json_object_get_string_member (json_node_get_object (profile), "device");
  g_autofree char *id = g_strdup_printf ("%s-%08x", device, g_random_int ());
  g_autofree char *base = g_path_get_basename (model_path);
  g_autofree char *name = g_strdup_printf (_("%s on %s"), local ? lathe_variant_get_name (local) : base, device);
  g_autofree char *canon = g_canonicalize_filename (model_path, NULL);
  g_autoptr (LatheVariant) v = lathe_variant_from_profile (profile, id, name);

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  lathe_variant_set_file (v, local ? lathe_variant_get_file (local) : canon);
  if (local != NULL)
    {
      lathe_variant_set_recipe (v, lathe_variant_get_recipe (local));
      for (guint k = 0; k < G_N_ELEMENTS (quality); k++)
        lathe_variant_set_metric (v, quality[k], lathe_variant_get_metric (local, quality[k]));
    }
  if (!lathe_workspace_add (self, v, error))
    return NULL;
  return v;
}

/* Sweeps ------------------------------------------------------------------- */

static char *
grid_recipe (const char *type, double sparsity, double exit_threshold, int exit_min_layer)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *name = NULL;

  if (type != NULL)
    g_ptr_array_add (parts, g_strdup (type));
  if (sparsity > 0)
    g_ptr_array_add (parts, g_strdup_printf (_("%g %% sparse"), sparsity * 100));
  if (exit_threshold < 1)
    g_ptr_array_add (parts, g_strdup_printf (_("exit at %g"), exit_threshold));
  if (parts->len == 0)
    return NULL;
  g_ptr_array_add (parts, NULL);
  name = g_strjoinv (" · ", (char **) parts->pdata);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lathe_recipe");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  if (type != NULL)
    {
      json_builder_set_member_name (b, "quantize");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, type);
      json_builder_end_object (b);
    }
  if (sparsity > 0)
    {
      json_builder_set_member_name (b, "prune");
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "method");
      json_builder_add_string_value (b, "magnitude");
      json_builder_set_member_name (b, "sparsity");
      json_builder_add_double_value (b, sparsity);
      json_builder_end_object (b);
      json_builder_end_array (b);
    }
  if (exit_threshold < 1)
    {
      json_builder_set_member_name (b, "conditional");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "exit_threshold");
      json_builder_add_double_value (b, exit_threshold);
      json_builder_set_member_name (b, "exit_min_layer");
      json_builder_add_int_value (b, exit_min_layer);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

GPtrArray *
lathe_sweep_recipes (const char *const *types, const double *sparsities, guint n_sparsities,
                     const double *exit_thresholds, guint n_exits, int exit_min_layer)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  static const char *const no_type[] = { NULL };
  static const double none = 0, never = 1;
  const char *const *t = types != NULL && types[0] != NULL ? types : no_type;
  const guint n_types = types != NULL && types[0] != NULL ? g_strv_length ((char **) types) : 1;

  if (n_sparsities == 0)
    sparsities = &none, n_sparsities = 1;
  if (n_exits == 0)
    exit_thresholds = &never, n_exits = 1;
  for (guint a = 0; a < n_types; a++)
    for (guint s = 0; s < n_sparsities; s++)
      for (guint e = 0; e < n_exits; e++)
        {
          char *recipe = grid_recipe (t[a], sparsities[s], exit_thresholds[e], exit_min_layer);
          if (recipe != NULL)
            g_ptr_array_add (out, recipe);
        }
  return out;
}
