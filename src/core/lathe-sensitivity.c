/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-core"

#include "config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>

#include "lathe-calibrate.h"
#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-json.h"
#include "lathe-recipe.h"
#include "lathe-sensitivity.h"
#include "lk-quantize.h"

void
lathe_sensitivity_options_init (LatheSensitivityOptions *o)
{
  memset (o, 0, sizeof *o);
}

static guint64
tensor_bytes_as (const lk_tensor *t, lk_type type)
{
  return (guint64) lk_row_size (type, t->ne[0]) * (guint64) (lk_tensor_nelements (t) / t->ne[0]);
}

/* Measuring --------------------------------------------------------------- */

typedef struct
{
  const lk_model *m;
  const char *name;
  lk_type type;
  const lk_imatrix *imatrix; /* for the grid types */
} OneTensor;

/* The one tensor gets the type; every other keeps its own. */
static lk_type
one_tensor_cb (void *user, const char *name, int layer, lk_type proposed)
{
  const OneTensor *one = user;

  (void) layer;
  (void) proposed;
  if (strcmp (name, one->name) == 0)
    return one->type;
  return lk_type_unpacked (lk_model_find_tensor (one->m, name)->type);
}

static const float *
one_importance_cb (void *user, const char *name, int64_t n_cols)
{
  const OneTensor *one = user;

  return one->imatrix != NULL ? lk_imatrix_mean_square (one->imatrix, name, n_cols) : NULL;
}

/* Writes src with only tensor t in `type` (everything else as it is). */
static gboolean
write_one_tensor_variant (LatheModel *src, const lk_tensor *t, lk_type type, const lk_imatrix *imatrix,
                          const char *path, int n_threads, GError **error)
{
  OneTensor one = { lathe_model_get_engine (src), t->name, type, imatrix };
  lk_quantize_params qp;
  lk_error err = { 0 };

  lk_quantize_params_init (&qp);
  qp.type = LK_TYPE_F32;
  qp.mix = LK_MIX_PURE;
  qp.n_threads = n_threads;
  qp.user = &one;
  qp.override = one_tensor_cb;
  if (lk_quantize_needs_importance (type))
    qp.importance = one_importance_cb;
  if (lk_quantize_model (lathe_model_get_engine (src), path, &qp, NULL, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  return TRUE;
}

typedef struct
{
  LatheModel *model;
  const char *text, *ref, *tmp;
  const LatheSensitivityOptions *o;
  GCancellable *cancellable;
  lk_imatrix *imatrix; /* calibrated on the text when a candidate needs one */
} Measure;

static gboolean
measure_one (Measure *ms, const lk_tensor *t, lk_type used, double *kl, GError **error)
{
  g_autofree char *path = g_build_filename (ms->tmp, "variant.gguf", NULL);
  g_autoptr (LatheModel) v = NULL;
  LatheEvalOptions eo;
  lk_eval_result r;
  gboolean ok;

  if (!write_one_tensor_variant (ms->model, t, used, ms->imatrix, path, ms->o->n_threads, error)
      || (v = lathe_model_load (path, NULL, ms->cancellable, error)) == NULL)
    return FALSE;
  lathe_eval_options_init (&eo);
  eo.n_threads = ms->o->n_threads;
  ok = lathe_eval_run (v, ms->text, ms->ref, &eo, &r, ms->cancellable, error);
  g_unlink (path);
  /* A KL that overflowed is as bad as it gets: stored as the largest
   * finite number, so that the table stays JSON that reads back, and no
   * budget ever picks it. */
  *kl = isfinite (r.kl_mean) ? r.kl_mean : G_MAXDOUBLE;
  return ok;
}

static gboolean
measure_tensor (Measure *ms, const lk_tensor *t, JsonBuilder *b, GError **error)
{
  const lk_type source = lk_type_unpacked (t->type);
  double kl_of_used[LK_TYPE_COUNT];
  gboolean known[LK_TYPE_COUNT] = { 0 };

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, t->name);
  json_builder_set_member_name (b, "n_elements");
  json_builder_add_int_value (b, lk_tensor_nelements (t));
  json_builder_set_member_name (b, "source_type");
  json_builder_add_string_value (b, lk_type_name (source));
  json_builder_set_member_name (b, "candidates");
  json_builder_begin_array (b);
  for (int i = 0; i < ms->o->n_types; i++)
    {
      lk_type used = lk_type_fallback (ms->o->types[i], t->ne[0]);
      /* A matrix the statistics do not cover (the embedding) cannot take a
       * grid type: it gets the K-quant of as many bits, as quantize gives it. */
      if (lk_quantize_needs_importance (used)
          && (ms->imatrix == NULL || lk_imatrix_mean_square (ms->imatrix, t->name, lk_imatrix_width (t)) == NULL))
        used = used == LK_TYPE_IQ3_XXS || used == LK_TYPE_IQ3_S ? LK_TYPE_Q3_K : LK_TYPE_Q2_K;
      if (!known[used])
        {
          kl_of_used[used] = 0.0;
          if (used != source && !measure_one (ms, t, used, &kl_of_used[used], error))
            return FALSE;
          known[used] = TRUE;
        }
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, lk_type_name (ms->o->types[i]));
      json_builder_set_member_name (b, "used_type");
      json_builder_add_string_value (b, lk_type_name (used));
      json_builder_set_member_name (b, "bytes");
      json_builder_add_int_value (b, (gint64) tensor_bytes_as (t, used));
      json_builder_set_member_name (b, "kl_mean");
      json_builder_add_double_value (b, kl_of_used[used]);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  return TRUE;
}

/* The temporary folder and what may be left in it when a step failed. */
static void
remove_tmp (const char *tmp, const char *ref)
{
  g_autofree char *variant = g_build_filename (tmp, "variant.gguf", NULL);

  g_unlink (variant);
  g_unlink (ref);
  g_rmdir (tmp);
}

/* The grid types are written with an importance matrix: one from the text
 * itself when a candidate needs it. */
static gboolean
calibrate_if_needed (Measure *ms, GError **error)
{
  LatheCalibrateOptions co;
  gboolean needed = FALSE;

  for (int i = 0; i < ms->o->n_types; i++)
    needed |= lk_quantize_needs_importance (ms->o->types[i]);
  if (!needed)
    return TRUE;
  lathe_calibrate_options_init (&co);
  co.n_ctx = ms->o->n_ctx;
  co.max_chunks = ms->o->max_chunks;
  co.n_threads = ms->o->n_threads;
  return (ms->imatrix = lathe_calibrate (ms->model, ms->text, &co, ms->cancellable, error)) != NULL;
}

static JsonNode *measure_all (Measure *ms, GError **error);

JsonNode *
lathe_sensitivity_measure (LatheModel *model, const char *text_path,
                           const LatheSensitivityOptions *o, GCancellable *cancellable,
                           GError **error)
{
  Measure ms = { model, text_path, NULL, NULL, o, cancellable, NULL };
  JsonNode *table;

  if (o->n_types < 1)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("no candidate types to measure"));
      return NULL;
    }
  if (!calibrate_if_needed (&ms, error))
    return NULL;
  table = measure_all (&ms, error);
  if (ms.imatrix != NULL)
    lk_imatrix_free (ms.imatrix);
  return table;
}

static JsonNode *
measure_all (Measure *ms, GError **error)
{
  LatheModel *model = ms->model;
  const char *text_path = ms->text;
  const LatheSensitivityOptions *o = ms->o;
  GCancellable *cancellable = ms->cancellable;
  const lk_model *m = lathe_model_get_engine (model);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *tmp = NULL, *ref = NULL, *sha = NULL;
  LatheEvalOptions eo;
  lk_eval_result self;
  int done = 0, total = 0;

  if ((sha = lathe_file_sha256 (lathe_model_get_path (model), cancellable, error)) == NULL
      || (tmp = g_dir_make_tmp ("lathe-sensitivity-XXXXXX", error)) == NULL)
    return NULL;
  ref = g_build_filename (tmp, "reference.logits", NULL);
  ms->ref = ref;
  ms->tmp = tmp;
  lathe_eval_options_init (&eo);
  eo.n_ctx = o->n_ctx;
  eo.max_chunks = o->max_chunks;
  eo.n_threads = o->n_threads;
  eo.save_ref = ref;
  if (!lathe_eval_run (model, text_path, NULL, &eo, &self, cancellable, error))
    {
      remove_tmp (tmp, ref);
      return NULL;
    }
  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    total += lk_model_tensor_at (m, i)->n_dims >= 2;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, lathe_model_get_path (model));
  json_builder_set_member_name (b, "source_sha256");
  json_builder_add_string_value (b, sha);
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, text_path);
  json_builder_set_member_name (b, "tokens");
  json_builder_add_int_value (b, (gint64) self.tokens);
  json_builder_set_member_name (b, "types");
  json_builder_begin_array (b);
  for (int i = 0; i < o->n_types; i++)
    json_builder_add_string_value (b, lk_type_name (o->types[i]));
  json_builder_end_array (b);
  json_builder_set_member_name (b, "tensors");
  json_builder_begin_array (b);
  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      if (t->n_dims < 2)
        continue;
      if (o->progress != NULL)
        o->progress (o->user, done, total, t->name);
      if (!measure_tensor (ms, t, b, error))
        {
          remove_tmp (tmp, ref);
          return NULL;
        }
      done++;
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  remove_tmp (tmp, ref);
  return json_builder_get_root (b);
}

/* Reading ----------------------------------------------------------------- */

typedef struct
{
  lk_type type;
  guint64 bytes;
  double kl;
} Option;

typedef struct
{
  const char *name;
  const lk_tensor *t;
  GArray *options; /* Option, by bytes ascending */
  int pick;
} Choice;

static gboolean G_GNUC_PRINTF (2, 3)
bad_table (GError **error, const char *format, ...)
{
  g_autofree char *what = NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, LATHE_ERROR, LATHE_ERROR_FORMAT, what);
  return FALSE;
}

/* Checks the structure once so that the allocation can read it freely. */
static gboolean
check_table (JsonNode *table, GError **error)
{
  JsonObject *o;
  JsonArray *tensors;

  if (!JSON_NODE_HOLDS_OBJECT (table)
      || !json_object_has_member (o = json_node_get_object (table), "tensors")
      || !JSON_NODE_HOLDS_ARRAY (json_object_get_member (o, "tensors")))
    return bad_table (error, _("tensors: expected an array"));
  tensors = json_object_get_array_member (o, "tensors");
  for (guint i = 0; i < json_array_get_length (tensors); i++)
    {
      JsonNode *tn = json_array_get_element (tensors, i);
      JsonObject *to = JSON_NODE_HOLDS_OBJECT (tn) ? json_node_get_object (tn) : NULL;
      JsonNode *name = to != NULL ? json_object_get_member (to, "name") : NULL;
      JsonNode *cands = to != NULL ? json_object_get_member (to, "candidates") : NULL;
      if (name == NULL || json_node_get_value_type (name) != G_TYPE_STRING || cands == NULL
          || !JSON_NODE_HOLDS_ARRAY (cands))
        return bad_table (error, _("tensors[]: expected objects with “name” and “candidates”"));
      for (guint k = 0; k < json_array_get_length (json_node_get_array (cands)); k++)
        {
          JsonNode *cn = json_array_get_element (json_node_get_array (cands), k);
          JsonObject *co;
          JsonNode *used, *kl;
          if (!JSON_NODE_HOLDS_OBJECT (cn)
              || (used = json_object_get_member (co = json_node_get_object (cn), "used_type")) == NULL
              || json_node_get_value_type (used) != G_TYPE_STRING
              || (kl = json_object_get_member (co, "kl_mean")) == NULL || !JSON_NODE_HOLDS_VALUE (kl)
              || (json_node_get_value_type (kl) != G_TYPE_DOUBLE && json_node_get_value_type (kl) != G_TYPE_INT64)
              || !(json_node_get_double (kl) >= 0.0) || !isfinite (json_node_get_double (kl)))
            return bad_table (error, _("tensors[].candidates[]: expected “used_type” (a type) and "
                                       "“kl_mean” (a finite number ≥ 0)"));
          /* The allocator writes the types the table names: one this Lathe
           * cannot write would leave its tensors unfilled. */
          if (!lk_quantize_can_write (lk_type_from_name (json_node_get_string (used))))
            return bad_table (error, _("tensors[].candidates[].used_type: “%s” is not a type this "
                                       "Lathe can write (%s)"),
                              json_node_get_string (used), lk_quantize_writable_list ());
        }
    }
  return TRUE;
}

JsonNode *
lathe_sensitivity_load (const char *path, GError **error)
{
  g_autoptr (GError) local = NULL;
  JsonNode *root = lathe_json_load (path, 0, error);

  if (root == NULL)
    return NULL;
  if (!check_table (root, &local))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s", path, local->message);
      json_node_unref (root);
      return NULL;
    }
  return root;
}

/* Allocating -------------------------------------------------------------- */

static int
cmp_option (gconstpointer a, gconstpointer b)
{
  const Option *x = a, *y = b;

  return (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

/* The options of one tensor: each distinct type measured, and its own type. */
static GArray *
options_of (JsonObject *to, const lk_tensor *t)
{
  GArray *opts = g_array_new (FALSE, FALSE, sizeof (Option));
  JsonArray *cands = json_object_get_array_member (to, "candidates");
  const Option own = { lk_type_unpacked (t->type), tensor_bytes_as (t, lk_type_unpacked (t->type)), 0.0 };

  g_array_append_val (opts, own);
  for (guint k = 0; k < json_array_get_length (cands); k++)
    {
      JsonObject *co = json_array_get_object_element (cands, k);
      const lk_type type = lk_type_from_name (json_object_get_string_member (co, "used_type"));
      Option o = { type, tensor_bytes_as (t, type), json_object_get_double_member (co, "kl_mean") };
      gboolean seen = FALSE;
      if (o.bytes == 0)
        continue;
      for (guint j = 0; j < opts->len; j++)
        seen |= g_array_index (opts, Option, j).type == type;
      if (!seen)
        g_array_append_val (opts, o);
    }
  g_array_sort (opts, cmp_option);
  return opts;
}

static guint64
total_bytes (const GArray *choices, guint64 fixed)
{
  guint64 sum = fixed;

  for (guint i = 0; i < choices->len; i++)
    {
      const Choice *c = &g_array_index (choices, Choice, i);
      sum += g_array_index (c->options, Option, c->pick).bytes;
    }
  return sum;
}

/* Each tensor takes the option minimising kl + lambda * bytes. */
static void
pick_lagrangian (GArray *choices, double lambda)
{
  for (guint i = 0; i < choices->len; i++)
    {
      Choice *c = &g_array_index (choices, Choice, i);
      double best = INFINITY;
      for (guint j = 0; j < c->options->len; j++)
        {
          const Option *o = &g_array_index (c->options, Option, j);
          const double cost = o->kl + lambda * (double) o->bytes;
          if (cost < best)
            {
              best = cost;
              c->pick = (int) j;
            }
        }
    }
}

/* Spends what is left of the budget on the upgrades that buy the most KL
 * per byte, one at a time. */
static void
fill_slack (GArray *choices, guint64 fixed, guint64 budget)
{
  for (;;)
    {
      const guint64 used = total_bytes (choices, fixed);
      double best_rate = 0.0;
      int best_i = -1, best_j = -1;
      for (guint i = 0; i < choices->len; i++)
        {
          const Choice *c = &g_array_index (choices, Choice, i);
          const Option *cur = &g_array_index (c->options, Option, c->pick);
          for (guint j = 0; j < c->options->len; j++)
            {
              const Option *o = &g_array_index (c->options, Option, j);
              if (o->kl >= cur->kl || o->bytes <= cur->bytes || used - cur->bytes + o->bytes > budget)
                continue;
              if ((cur->kl - o->kl) / (double) (o->bytes - cur->bytes) > best_rate)
                {
                  best_rate = (cur->kl - o->kl) / (double) (o->bytes - cur->bytes);
                  best_i = (int) i;
                  best_j = (int) j;
                }
            }
        }
      if (best_i < 0)
        return;
      g_array_index (choices, Choice, best_i).pick = best_j;
    }
}

static void
choice_clear (gpointer p)
{
  g_array_unref (((Choice *) p)->options);
}

gboolean
lathe_sensitivity_allocate (JsonNode *table, LatheModel *model, guint64 budget_bytes,
                            GHashTable *fixed, GHashTable *chosen, double *predicted_kl,
                            GError **error)
{
  const lk_model *m = lathe_model_get_engine (model);
  g_autoptr (GArray) choices = g_array_new (FALSE, FALSE, sizeof (Choice));
  g_autoptr (GHashTable) in_table = g_hash_table_new (g_str_hash, g_str_equal);
  JsonArray *tensors;
  guint64 fixed_bytes = 0, smallest;
  double lo = 0.0, hi = 1.0;

  if (!check_table (table, error))
    return FALSE;
  g_array_set_clear_func (choices, choice_clear);
  tensors = json_object_get_array_member (json_node_get_object (table), "tensors");
  for (guint i = 0; i < json_array_get_length (tensors); i++)
    {
      JsonObject *to = json_array_get_object_element (tensors, i);
      const char *name = json_object_get_string_member (to, "name");
      const lk_tensor *t = lk_model_find_tensor (m, name);
      Choice c = { name, t, NULL, 0 };
      if (t == NULL || t->n_dims < 2)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                       _("the sensitivity table names %s, which %s does not have as a matrix "
                         "(measured on another model?)"), name, lathe_model_get_path (model));
          return FALSE;
        }
      if (fixed != NULL && g_hash_table_contains (fixed, name))
        continue;
      c.options = options_of (to, t);
      g_array_append_val (choices, c);
      g_hash_table_add (in_table, (gpointer) name);
    }
  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      if (g_hash_table_contains (in_table, t->name))
        continue;
      if (fixed != NULL && g_hash_table_contains (fixed, t->name))
        fixed_bytes += tensor_bytes_as (t, lk_type_fallback (
          (lk_type) GPOINTER_TO_INT (g_hash_table_lookup (fixed, t->name)), t->ne[0]));
      else
        fixed_bytes += t->nbytes;
    }
  /* The smallest the model can be. */
  for (guint i = 0; i < choices->len; i++)
    g_array_index (choices, Choice, i).pick = 0;
  smallest = total_bytes (choices, fixed_bytes);
  if (smallest > budget_bytes)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("the budget of %.3f MB cannot be met: with the smallest candidate types the "
                     "model takes %.3f MB"), budget_bytes / 1e6, smallest / 1e6);
      return FALSE;
    }
  /* The smallest lambda whose choice fits, by bisection on a log scale. */
  while (pick_lagrangian (choices, hi), total_bytes (choices, fixed_bytes) > budget_bytes && hi < 1e30)
    hi *= 16.0;
  lo = hi / 16.0;
  for (int it = 0; it < 200; it++)
    {
      const double mid = sqrt (lo * hi);
      pick_lagrangian (choices, mid);
      if (total_bytes (choices, fixed_bytes) > budget_bytes)
        lo = mid;
      else
        hi = mid;
    }
  pick_lagrangian (choices, hi);
  if (total_bytes (choices, fixed_bytes) > budget_bytes)
    for (guint i = 0; i < choices->len; i++)
      g_array_index (choices, Choice, i).pick = 0;
  fill_slack (choices, fixed_bytes, budget_bytes);
  *predicted_kl = 0.0;
  for (guint i = 0; i < choices->len; i++)
    {
      const Choice *c = &g_array_index (choices, Choice, i);
      const Option *o = &g_array_index (c->options, Option, c->pick);
      g_hash_table_insert (chosen, g_strdup (c->name), GINT_TO_POINTER (o->type));
      *predicted_kl += o->kl;
    }
  return TRUE;
}
