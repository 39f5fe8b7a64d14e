/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-core"

#include "config.h"

#include <glib/gi18n.h>
#include <stdatomic.h>
#include <glib/gstdio.h>
#include <float.h>
#include <math.h>
#include <stdio.h>

#include "lathe-error.h"
#include "lathe-calibrate.h"
#include "lathe-io.h"
#include "lathe-json.h"
#include "lathe-recipe.h"
#include "lathe-sensitivity.h"
#include "lk-context.h"
#include "lk-structure.h"
#include "lk-quant.h"

#define RECIPE_VERSION 1
/* Recipes are a few kB; rules by the thousand stay far below this. */
#define RECIPE_LIMIT ((gsize) 16 << 20)
#define ANY_LAYER (-1)

typedef struct
{
  char *match;
  GPatternSpec *spec;
  int layer_from, layer_to; /* ANY_LAYER: no range */
  char *where;              /* "quantize.rules[2]", for errors */
} Selector;

typedef struct
{
  Selector sel;
  lk_type type;
  gboolean keep;
} QuantRule;

typedef struct
{
  Selector sel;
  lk_prune_spec spec;
  gboolean global; /* one threshold over every matrix the step decides */
} PruneStep;

typedef enum
{
  CUT_HEADS,
  CUT_FFN,
  CUT_LAYERS,
  CUT_EXPERTS,
} CutKind;

/* Structured pruning: heads or FFN channels in a range of layers, or layers. */
typedef struct
{
  CutKind kind;
  int layer_from, layer_to; /* ANY_LAYER: every layer */
  int remove;               /* heads per layer, or layers */
  double fraction;          /* of FFN channels */
  GArray *drop;             /* int: layers named to go */
  char *where;
} CutStep;

struct _LatheRecipe
{
  char *origin;
  char *name;
  gboolean has_type;
  lk_type type;
  lk_mix mix;
  gboolean pure; /* every matrix gets the type, the output head too */
  double target_bpw, target_mb; /* 0: none */
  char *sensitivity;            /* the table the target is allocated from */
  GArray *rules; /* QuantRule */
  GArray *prune; /* PruneStep */
  GArray *cuts;  /* CutStep, applied before everything else */
  /* Calibration: a saved importance matrix, or a text to compute it from. */
  char *imatrix, *calib_text;
  int calib_ctx, calib_chunks;
  char *base_dir; /* relative paths are read from here */
  /* Conditional computation the output carries (lathe.conditional.*). */
  char *skip_layers;
  double exit_threshold; /* 0: none */
  int exit_min_layer;
  gboolean exit_on_margin;
  int experts_used; /* 0: the model's */
  JsonNode *root;
};

/* Errors ------------------------------------------------------------------ */

static gboolean
fail (GError **error, const LatheRecipe *r, const char *field, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, const LatheRecipe *r, const char *field, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, "%s: %s: %s", r->origin, field, msg);
  return FALSE;
}

/* Only known keys: a misspelt option must not be ignored silently. */
static gboolean
only_keys (JsonObject *o, const char *const *known, const LatheRecipe *r, const char *where,
           GError **error)
{
  g_autoptr (GList) members = json_object_get_members (o);

  for (GList *l = members; l != NULL; l = l->next)
    if (!g_strv_contains (known, l->data))
      {
        g_autofree char *field = *where ? g_strdup_printf ("%s.%s", where, (char *) l->data)
                                        : g_strdup (l->data);
        g_autofree char *list = g_strjoinv (", ", (char **) known);
        return fail (error, r, field, _("unknown key; expected one of %s"), list);
      }
  return TRUE;
}

static JsonNode *
member (JsonObject *o, const char *key, JsonNodeType type, const LatheRecipe *r,
        const char *field, const char *expected, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);

  if (n == NULL)
    return NULL;
  if (JSON_NODE_TYPE (n) != type)
    {
      fail (error, r, field, _("expected %s"), expected);
      return NULL;
    }
  return n;
}

/* Parsing ----------------------------------------------------------------- */

static void
selector_clear (Selector *s)
{
  g_free (s->match);
  g_clear_pointer (&s->spec, g_pattern_spec_free);
  g_free (s->where);
}

static void
quant_rule_clear (gpointer p)
{
  selector_clear (&((QuantRule *) p)->sel);
}

static void
prune_step_clear (gpointer p)
{
  selector_clear (&((PruneStep *) p)->sel);
}

static void
cut_step_clear (gpointer p)
{
  CutStep *c = p;

  g_clear_pointer (&c->drop, g_array_unref);
  g_free (c->where);
}

static gboolean
parse_layers (JsonNode *n, Selector *s, const LatheRecipe *r, const char *field, GError **error)
{
  JsonArray *a;
  gint64 from, to;

  if (JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == G_TYPE_INT64)
    from = to = json_node_get_int (n);
  else if (JSON_NODE_HOLDS_ARRAY (n) && json_array_get_length (a = json_node_get_array (n)) == 2
           && json_node_get_value_type (json_array_get_element (a, 0)) == G_TYPE_INT64
           && json_node_get_value_type (json_array_get_element (a, 1)) == G_TYPE_INT64)
    {
      from = json_array_get_int_element (a, 0);
      to = json_array_get_int_element (a, 1);
    }
  else
    return fail (error, r, field, _("expected a layer number or [first, last]"));
  /* Checked before narrowing: 2^32 + 1 is not layer 1. */
  if (from < -1 || from > 1 << 20 || to < -1 || to > 1 << 20)
    return fail (error, r, field, _("expected layers from 0 to 1048576"));
  s->layer_from = (int) from;
  s->layer_to = (int) to;
  if (s->layer_from < 0 || s->layer_to < s->layer_from)
    return fail (error, r, field, _("expected 0 ≤ first ≤ last, found [%d, %d]"), s->layer_from,
                 s->layer_to);
  return TRUE;
}

static gboolean
parse_selector (JsonObject *o, const char *where, const char *default_match, Selector *s,
                const LatheRecipe *r, GError **error)
{
  g_autofree char *mfield = g_strdup_printf ("%s.match", where);
  g_autofree char *lfield = g_strdup_printf ("%s.layers", where);
  GError *local = NULL;
  JsonNode *m = member (o, "match", JSON_NODE_VALUE, r, mfield, _("a pattern string"), &local);
  JsonNode *l;

  s->where = g_strdup (where);
  s->layer_from = s->layer_to = ANY_LAYER;
  if (local != NULL)
    {
      g_propagate_error (error, local);
      return FALSE;
    }
  if (m != NULL && json_node_get_value_type (m) != G_TYPE_STRING)
    return fail (error, r, mfield, _("expected a pattern string"));
  if (m == NULL && default_match == NULL)
    return fail (error, r, mfield, _("missing: give a tensor name pattern such as “blk.*.ffn_down.weight”"));
  s->match = g_strdup (m != NULL ? json_node_get_string (m) : default_match);
  if (*s->match == '\0')
    return fail (error, r, mfield, _("empty pattern"));
  s->spec = g_pattern_spec_new (s->match);
  if ((l = json_object_get_member (o, "layers")) != NULL)
    return parse_layers (l, s, r, lfield, error);
  return TRUE;
}

static gboolean
parse_type (JsonObject *o, const char *key, const char *field, gboolean allow_mix, lk_type *type,
            lk_mix *mix, const LatheRecipe *r, GError **error)
{
  const char *expected = lk_quantize_writable_list ();
  const char *name;
  JsonNode *n = json_object_get_member (o, key);

  if (n == NULL || json_node_get_value_type (n) != G_TYPE_STRING)
    return fail (error, r, field, _("expected a type name (%s%s)"), expected,
                 allow_mix ? ", Q4_K_M, Q5_K_M, Q3_K_M" : "");
  name = json_node_get_string (n);
  if (!allow_mix || !lk_quantize_parse_type (name, type, mix))
    {
      *mix = LK_MIX_NONE;
      *type = lk_type_from_name (name);
      if (*type == LK_TYPE_COUNT || !lk_quantize_can_write (*type))
        return fail (error, r, field, _("“%s”; expected one of %s%s"), name, expected,
                     allow_mix ? ", Q4_K_M, Q5_K_M, Q3_K_M" : "");
    }
  if (lk_quantize_needs_importance (*type) && r->imatrix == NULL && r->calib_text == NULL)
    return fail (error, r, field, _("%s is written with an importance matrix: give “calibration”"), name);
  return TRUE;
}

static gboolean
parse_rule (JsonNode *n, int i, LatheRecipe *r, GError **error)
{
  static const char *const keys[] = { "match", "layers", "type", "keep", NULL };
  g_autofree char *where = g_strdup_printf ("quantize.rules[%d]", i);
  g_autofree char *tfield = g_strdup_printf ("%s.type", where);
  QuantRule rule = { 0 };
  JsonObject *o;
  lk_mix mix;

  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, r, where, _("expected an object"));
  o = json_node_get_object (n);
  g_array_append_val (r->rules, rule);
  {
    QuantRule *q = &g_array_index (r->rules, QuantRule, r->rules->len - 1);
    if (!only_keys (o, keys, r, where, error) || !parse_selector (o, where, NULL, &q->sel, r, error))
      return FALSE;
    q->keep = json_object_has_member (o, "keep") && json_object_get_boolean_member (o, "keep");
    if (q->keep == json_object_has_member (o, "type"))
      return fail (error, r, where, _("give either “type” or “keep”: true"));
    return q->keep || parse_type (o, "type", tfield, FALSE, &q->type, &mix, r, error);
  }
}

static gboolean
positive_number (JsonObject *o, const char *key, const char *field, double *out,
                 const LatheRecipe *r, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);

  if (n == NULL)
    return TRUE;
  if (!lathe_json_get_finite (n, out) || !(*out > 0.0))
    return fail (error, r, field, _("expected a finite number above 0"));
  return TRUE;
}

static char *resolve (const LatheRecipe *r, const char *path);

/* A size budget, met by allocating types from a sensitivity table. */
static gboolean
parse_target (JsonObject *o, LatheRecipe *r, GError **error)
{
  JsonNode *sens = json_object_get_member (o, "sensitivity");

  if (!positive_number (o, "target_bpw", "quantize.target_bpw", &r->target_bpw, r, error)
      || !positive_number (o, "target_size_mb", "quantize.target_size_mb", &r->target_mb, r, error))
    return FALSE;
  if (r->target_bpw > 0 && r->target_mb > 0)
    return fail (error, r, "quantize", _("give “target_bpw” or “target_size_mb”, not both"));
  if ((r->target_bpw > 0 || r->target_mb > 0) != (sens != NULL))
    return fail (error, r, "quantize.sensitivity",
                 _("a size target needs a sensitivity table (lathe-cli sensitivity), and the "
                   "table a target"));
  if (sens == NULL)
    return TRUE;
  if (json_node_get_value_type (sens) != G_TYPE_STRING)
    return fail (error, r, "quantize.sensitivity", _("expected a file name"));
  r->sensitivity = resolve (r, json_node_get_string (sens));
  return TRUE;
}

static gboolean
parse_quantize (JsonNode *n, LatheRecipe *r, GError **error)
{
  static const char *const keys[] = { "type", "pure", "rules", "target_bpw", "target_size_mb",
                                      "sensitivity", NULL };
  JsonObject *o;
  JsonNode *rules;

  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, r, "quantize", _("expected an object"));
  o = json_node_get_object (n);
  if (!only_keys (o, keys, r, "quantize", error))
    return FALSE;
  if (json_object_has_member (o, "type"))
    {
      if (!parse_type (o, "type", "quantize.type", TRUE, &r->type, &r->mix, r, error))
        return FALSE;
      r->has_type = TRUE;
    }
  if (json_object_has_member (o, "pure"))
    {
      JsonNode *p = json_object_get_member (o, "pure");
      if (json_node_get_value_type (p) != G_TYPE_BOOLEAN)
        return fail (error, r, "quantize.pure", _("expected true or false"));
      r->pure = json_node_get_boolean (p);
    }
  if (!parse_target (o, r, error))
    return FALSE;
  if ((rules = json_object_get_member (o, "rules")) == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_ARRAY (rules))
    return fail (error, r, "quantize.rules", _("expected an array of rules"));
  for (guint i = 0; i < json_array_get_length (json_node_get_array (rules)); i++)
    if (!parse_rule (json_array_get_element (json_node_get_array (rules), i), (int) i, r, error))
      return FALSE;
  return TRUE;
}

static const char *
step_method (JsonObject *o)
{
  JsonNode *m = json_object_get_member (o, "method");

  if (m == NULL)
    return "magnitude";
  return json_node_get_value_type (m) == G_TYPE_STRING ? json_node_get_string (m) : "";
}

static gboolean
parse_cut_step (JsonObject *o, const char *where, const char *method, LatheRecipe *r, GError **error)
{
  static const char *const keys[] = { "method", "remove", "fraction", "layers", "drop", NULL };
  g_autofree char *rfield = g_strdup_printf ("%s.remove", where);
  g_autofree char *ffield = g_strdup_printf ("%s.fraction", where);
  g_autofree char *dfield = g_strdup_printf ("%s.drop", where);
  g_autofree char *lfield = g_strdup_printf ("%s.layers", where);
  CutStep step = { 0 };
  CutStep *c;
  JsonNode *n;

  step.kind = !strcmp (method, "heads")     ? CUT_HEADS
              : !strcmp (method, "ffn")     ? CUT_FFN
              : !strcmp (method, "experts") ? CUT_EXPERTS
                                            : CUT_LAYERS;
  step.layer_from = step.layer_to = ANY_LAYER;
  step.where = g_strdup (where);
  g_array_append_val (r->cuts, step);
  c = &g_array_index (r->cuts, CutStep, r->cuts->len - 1);
  if (!only_keys (o, keys, r, where, error))
    return FALSE;
  if (c->kind != CUT_LAYERS && c->kind != CUT_EXPERTS && (n = json_object_get_member (o, "layers")) != NULL)
    {
      Selector sel = { 0 };
      if (!parse_layers (n, &sel, r, lfield, error))
        return FALSE;
      c->layer_from = sel.layer_from;
      c->layer_to = sel.layer_to;
    }
  if (c->kind == CUT_FFN)
    {
      n = json_object_get_member (o, "fraction");
      if (n == NULL || !JSON_NODE_HOLDS_VALUE (n)
          || (json_node_get_value_type (n) != G_TYPE_DOUBLE && json_node_get_value_type (n) != G_TYPE_INT64)
          || !(json_node_get_double (n) > 0.0 && json_node_get_double (n) < 1.0))
        return fail (error, r, ffield, _("expected the fraction of FFN channels to remove, 0 < f < 1"));
      c->fraction = json_node_get_double (n);
      return TRUE;
    }
  if (c->kind == CUT_LAYERS && (n = json_object_get_member (o, "drop")) != NULL)
    {
      JsonArray *a = JSON_NODE_HOLDS_ARRAY (n) ? json_node_get_array (n) : NULL;
      if (a == NULL || json_array_get_length (a) == 0)
        return fail (error, r, dfield, _("expected a list of layer numbers"));
      c->drop = g_array_new (FALSE, FALSE, sizeof (int));
      for (guint i = 0; i < json_array_get_length (a); i++)
        {
          JsonNode *e = json_array_get_element (a, i);
          int layer;
          if (json_node_get_value_type (e) != G_TYPE_INT64 || json_node_get_int (e) < 0
              || json_node_get_int (e) > 1 << 20)
            return fail (error, r, dfield, _("expected a list of layer numbers"));
          layer = (int) json_node_get_int (e);
          g_array_append_val (c->drop, layer);
        }
      if (json_object_has_member (o, "remove"))
        return fail (error, r, where, _("give “remove” (the least useful layers) or “drop”, not both"));
      return TRUE;
    }
  n = json_object_get_member (o, "remove");
  if (n == NULL || json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) < 1
      || json_node_get_int (n) > 1 << 20)
    return fail (error, r, rfield, c->kind == CUT_HEADS     ? _("expected the number of heads to remove per layer")
                                   : c->kind == CUT_EXPERTS ? _("expected the number of experts to remove per layer")
                                                            : _("expected the number of layers to remove"));
  c->remove = (int) json_node_get_int (n);
  if (c->kind == CUT_EXPERTS && r->imatrix == NULL && r->calib_text == NULL)
    return fail (error, r, where, _("choosing experts counts where tokens go: give “calibration”"));
  if (c->kind == CUT_LAYERS && r->imatrix == NULL && r->calib_text == NULL)
    return fail (error, r, where, _("choosing layers measures what each changes: give “calibration”, "
                                    "or name them with “drop”"));
  return TRUE;
}

static gboolean
parse_prune_step (JsonNode *n, int i, LatheRecipe *r, GError **error)
{
  static const char *const keys[] = { "method", "sparsity", "nm", "match", "layers", "scope", NULL };
  g_autofree char *where = g_strdup_printf ("prune[%d]", i);
  g_autofree char *mfield = g_strdup_printf ("%s.method", where);
  g_autofree char *sfield = g_strdup_printf ("%s.sparsity", where);
  g_autofree char *nfield = g_strdup_printf ("%s.nm", where);
  PruneStep step = { 0 };
  PruneStep *p;
  JsonObject *o;
  const char *method;
  JsonNode *sp, *nm;

  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, r, where, _("expected an object"));
  o = json_node_get_object (n);
  method = step_method (o);
  if (!strcmp (method, "heads") || !strcmp (method, "ffn") || !strcmp (method, "layers")
      || !strcmp (method, "experts"))
    return parse_cut_step (o, where, method, r, error);
  g_array_append_val (r->prune, step);
  p = &g_array_index (r->prune, PruneStep, r->prune->len - 1);
  if (!only_keys (o, keys, r, where, error)
      || !parse_selector (o, where, "blk.*.weight", &p->sel, r, error))
    return FALSE;
  if (g_strcmp0 (method, "magnitude") == 0)
    p->spec.score = LK_PRUNE_MAGNITUDE;
  else if (g_strcmp0 (method, "wanda") == 0)
    {
      if (r->imatrix == NULL && r->calib_text == NULL)
        return fail (error, r, mfield, _("“wanda” weighs weights by their inputs: give “calibration”"));
      p->spec.score = LK_PRUNE_WANDA;
    }
  else
    return fail (error, r, mfield,
                 _("“%s”; expected “magnitude”, “wanda”, “heads”, “ffn”, “layers” or “experts”"), method);
  sp = json_object_get_member (o, "sparsity");
  nm = json_object_get_member (o, "nm");
  if ((sp == NULL) == (nm == NULL))
    return fail (error, r, where, _("give either “sparsity” (0–1) or “nm” (such as “2:4”)"));
  if (nm != NULL)
    {
      if (json_node_get_value_type (nm) != G_TYPE_STRING
          || !lk_prune_parse_nm (json_node_get_string (nm), &p->spec.nm_n, &p->spec.nm_m))
        return fail (error, r, nfield, _("expected “N:M” with 1 ≤ N < M ≤ 64, such as “2:4”"));
      return TRUE;
    }
  if (!JSON_NODE_HOLDS_VALUE (sp)
      || (json_node_get_value_type (sp) != G_TYPE_DOUBLE && json_node_get_value_type (sp) != G_TYPE_INT64)
      || json_node_get_double (sp) < 0.0 || json_node_get_double (sp) >= 1.0)
    return fail (error, r, sfield, _("expected a fraction of weights to remove, 0 ≤ sparsity < 1"));
  p->spec.sparsity = (float) json_node_get_double (sp);
  if (json_object_has_member (o, "scope"))
    {
      JsonNode *sc = json_object_get_member (o, "scope");
      const char *scope = json_node_get_value_type (sc) == G_TYPE_STRING ? json_node_get_string (sc) : "";
      g_autofree char *field = g_strdup_printf ("%s.scope", where);
      if (strcmp (scope, "global") != 0 && strcmp (scope, "tensor") != 0)
        return fail (error, r, field, _("expected “tensor” (each matrix loses the fraction) or "
                                        "“global” (one threshold for all)"));
      p->global = strcmp (scope, "global") == 0;
      if (p->global && p->spec.score != LK_PRUNE_MAGNITUDE)
        return fail (error, r, field, _("a global threshold compares magnitudes: use “magnitude”"));
    }
  return TRUE;
}

static char *
resolve (const LatheRecipe *r, const char *path)
{
  if (g_path_is_absolute (path) || r->base_dir == NULL)
    return g_strdup (path);
  return g_build_filename (r->base_dir, path, NULL);
}

static gboolean
positive_int (JsonObject *o, const char *key, const char *field, int *out, const LatheRecipe *r,
              GError **error)
{
  JsonNode *n = json_object_get_member (o, key);

  if (n == NULL)
    return TRUE;
  if (json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) < 1
      || json_node_get_int (n) > 1 << 20)
    return fail (error, r, field, _("expected a positive whole number"));
  *out = (int) json_node_get_int (n);
  return TRUE;
}

static gboolean
parse_calibration (JsonNode *n, LatheRecipe *r, GError **error)
{
  static const char *const keys[] = { "imatrix", "text", "ctx", "chunks", NULL };
  JsonObject *o;
  JsonNode *im, *text;

  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, r, "calibration", _("expected an object"));
  o = json_node_get_object (n);
  if (!only_keys (o, keys, r, "calibration", error))
    return FALSE;
  im = json_object_get_member (o, "imatrix");
  text = json_object_get_member (o, "text");
  if ((im == NULL) == (text == NULL))
    return fail (error, r, "calibration",
                 _("give either “imatrix” (a file from lathe-cli calibrate) or “text” to calibrate on"));
  if (im != NULL && json_node_get_value_type (im) != G_TYPE_STRING)
    return fail (error, r, "calibration.imatrix", _("expected a file name"));
  if (text != NULL && json_node_get_value_type (text) != G_TYPE_STRING)
    return fail (error, r, "calibration.text", _("expected a file name"));
  if (im != NULL)
    r->imatrix = resolve (r, json_node_get_string (im));
  else
    r->calib_text = resolve (r, json_node_get_string (text));
  return positive_int (o, "ctx", "calibration.ctx", &r->calib_ctx, r, error)
         && positive_int (o, "chunks", "calibration.chunks", &r->calib_chunks, r, error);
}

static gboolean
parse_conditional (JsonNode *n, LatheRecipe *r, GError **error)
{
  static const char *const keys[] = { "skip_layers", "exit_threshold", "exit_min_layer", "exit_on",
                                      "experts_used", NULL };
  JsonObject *o;
  JsonNode *v;

  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, r, "conditional", _("expected an object"));
  o = json_node_get_object (n);
  if (!only_keys (o, keys, r, "conditional", error))
    return FALSE;
  if ((v = json_object_get_member (o, "skip_layers")) != NULL)
    {
      if (json_node_get_value_type (v) != G_TYPE_STRING)
        return fail (error, r, "conditional.skip_layers", _("expected a layer list such as “3,5-7”"));
      r->skip_layers = g_strdup (json_node_get_string (v));
    }
  if ((v = json_object_get_member (o, "exit_threshold")) != NULL)
    {
      if (!JSON_NODE_HOLDS_VALUE (v)
          || (json_node_get_value_type (v) != G_TYPE_DOUBLE && json_node_get_value_type (v) != G_TYPE_INT64)
          || !(json_node_get_double (v) > 0.0 && json_node_get_double (v) <= 1.0))
        return fail (error, r, "conditional.exit_threshold",
                     _("expected the top-token probability to exit at, 0 < t ≤ 1"));
      r->exit_threshold = json_node_get_double (v);
    }
  if ((v = json_object_get_member (o, "exit_on")) != NULL)
    {
      const char *on = json_node_get_value_type (v) == G_TYPE_STRING ? json_node_get_string (v) : "";
      if (strcmp (on, "probability") != 0 && strcmp (on, "margin") != 0)
        return fail (error, r, "conditional.exit_on",
                     _("expected “probability” (of the top token) or “margin” (its lead over the second)"));
      r->exit_on_margin = strcmp (on, "margin") == 0;
    }
  if ((v = json_object_get_member (o, "exit_min_layer")) != NULL)
    {
      if (json_node_get_value_type (v) != G_TYPE_INT64 || json_node_get_int (v) < 0
          || json_node_get_int (v) > 1 << 20)
        return fail (error, r, "conditional.exit_min_layer", _("expected a layer number"));
      r->exit_min_layer = (int) json_node_get_int (v);
    }
  if ((v = json_object_get_member (o, "experts_used")) != NULL)
    {
      if (json_node_get_value_type (v) != G_TYPE_INT64 || json_node_get_int (v) < 1
          || json_node_get_int (v) > 4096)
        return fail (error, r, "conditional.experts_used", _("expected the experts each token uses, 1 or more"));
      r->experts_used = (int) json_node_get_int (v);
    }
  return TRUE;
}

static gboolean
parse_root (LatheRecipe *r, GError **error)
{
  static const char *const keys[] = { "lathe_recipe", "name", "quantize", "prune", "calibration",
                                      "conditional", NULL };
  JsonObject *o;
  JsonNode *n;

  if (!JSON_NODE_HOLDS_OBJECT (r->root))
    return fail (error, r, "(document)", _("expected a JSON object"));
  o = json_node_get_object (r->root);
  if (!only_keys (o, keys, r, "", error))
    return FALSE;
  n = json_object_get_member (o, "lathe_recipe");
  if (n == NULL || json_node_get_value_type (n) != G_TYPE_INT64 || json_node_get_int (n) != RECIPE_VERSION)
    return fail (error, r, "lathe_recipe", _("expected the schema version %d"), RECIPE_VERSION);
  if ((n = json_object_get_member (o, "name")) != NULL)
    {
      if (json_node_get_value_type (n) != G_TYPE_STRING)
        return fail (error, r, "name", _("expected a string"));
      r->name = g_strdup (json_node_get_string (n));
    }
  if ((n = json_object_get_member (o, "calibration")) != NULL && !parse_calibration (n, r, error))
    return FALSE;
  if ((n = json_object_get_member (o, "quantize")) != NULL && !parse_quantize (n, r, error))
    return FALSE;
  if ((n = json_object_get_member (o, "conditional")) != NULL && !parse_conditional (n, r, error))
    return FALSE;
  if ((n = json_object_get_member (o, "prune")) != NULL)
    {
      if (!JSON_NODE_HOLDS_ARRAY (n))
        return fail (error, r, "prune", _("expected an array of steps"));
      for (guint i = 0; i < json_array_get_length (json_node_get_array (n)); i++)
        if (!parse_prune_step (json_array_get_element (json_node_get_array (n), i), (int) i, r, error))
          return FALSE;
    }
  if (!r->has_type && r->rules->len == 0 && r->prune->len == 0 && r->cuts->len == 0
      && r->skip_layers == NULL && r->exit_threshold <= 0.0 && r->experts_used == 0)
    return fail (error, r, "(document)", _("the recipe changes nothing: give “quantize” or “prune”"));
  return TRUE;
}

static LatheRecipe *
parse_in (const char *json, gssize len, const char *origin, const char *base_dir, GError **error)
{
  LatheRecipe *r = g_new0 (LatheRecipe, 1);

  r->origin = g_strdup (origin);
  r->base_dir = g_strdup (base_dir);
  r->rules = g_array_new (FALSE, TRUE, sizeof (QuantRule));
  g_array_set_clear_func (r->rules, quant_rule_clear);
  r->prune = g_array_new (FALSE, TRUE, sizeof (PruneStep));
  g_array_set_clear_func (r->prune, prune_step_clear);
  r->cuts = g_array_new (FALSE, TRUE, sizeof (CutStep));
  g_array_set_clear_func (r->cuts, cut_step_clear);
  if ((r->root = lathe_json_parse (json, len, origin, error)) == NULL || !parse_root (r, error))
    {
      lathe_recipe_free (r);
      return NULL;
    }
  return r;
}

LatheRecipe *
lathe_recipe_parse (const char *json, gssize len, const char *origin, GError **error)
{
  return parse_in (json, len, origin, NULL, error);
}

LatheRecipe *
lathe_recipe_load (const char *path, GError **error)
{
  g_autofree char *text = NULL, *dir = g_path_get_dirname (path);
  gsize len;

  if ((text = lathe_file_read_bounded (path, RECIPE_LIMIT, &len, error)) == NULL)
    return NULL;
  return parse_in (text, (gssize) len, path, dir, error);
}

void
lathe_recipe_free (LatheRecipe *r)
{
  if (r == NULL)
    return;
  g_free (r->origin);
  g_free (r->name);
  g_free (r->imatrix);
  g_free (r->calib_text);
  g_free (r->sensitivity);
  g_free (r->skip_layers);
  g_free (r->base_dir);
  g_array_unref (r->rules);
  g_array_unref (r->prune);
  g_array_unref (r->cuts);
  if (r->root != NULL)
    json_node_unref (r->root);
  g_free (r);
}

gboolean
lathe_recipe_get_conditional (const LatheRecipe *r, const char **skip_layers, double *exit_threshold,
                              int *exit_min_layer)
{
  *skip_layers = r->skip_layers;
  *exit_threshold = r->exit_threshold;
  *exit_min_layer = r->exit_min_layer;
  return r->skip_layers != NULL || r->exit_threshold > 0.0;
}

const char *
lathe_recipe_get_name (const LatheRecipe *r)
{
  return r->name;
}

char *
lathe_recipe_to_json (const LatheRecipe *r)
{
  return lathe_json_to_string (r->root, FALSE);
}

/* Matching ---------------------------------------------------------------- */

static int
layer_of (const char *name)
{
  int layer;

  return sscanf (name, "blk.%d.", &layer) == 1 ? layer : ANY_LAYER;
}

static gboolean
selects (const Selector *s, const char *name)
{
  const int layer = layer_of (name);

  if (!g_pattern_spec_match_string (s->spec, name))
    return FALSE;
  return s->layer_from == ANY_LAYER || (layer >= s->layer_from && layer <= s->layer_to);
}

static gboolean
selects_any (const Selector *s, const lk_model *m)
{
  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      if (t->n_dims >= 2 && selects (s, t->name))
        return TRUE;
    }
  return FALSE;
}

static gboolean
check_selector (const Selector *s, const LatheRecipe *r, LatheModel *model, GError **error)
{
  g_autofree char *field = g_strdup_printf ("%s.match", s->where);

  if (selects_any (s, lathe_model_get_engine (model)))
    return TRUE;
  if (s->layer_from != ANY_LAYER)
    return fail (error, r, field, _("“%s” in layers %d–%d matches no matrix of %s"), s->match,
                 s->layer_from, s->layer_to, lathe_model_get_path (model));
  return fail (error, r, field, _("“%s” matches no matrix of %s"), s->match,
               lathe_model_get_path (model));
}

gboolean
lathe_recipe_check (const LatheRecipe *r, LatheModel *model, GError **error)
{
  const lk_model *m = lathe_model_get_engine (model);

  for (guint i = 0; i < r->rules->len; i++)
    if (!check_selector (&g_array_index (r->rules, QuantRule, i).sel, r, model, error))
      return FALSE;
  for (guint i = 0; i < r->prune->len; i++)
    {
      const PruneStep *p = &g_array_index (r->prune, PruneStep, i);
      if (!check_selector (&p->sel, r, model, error))
        return FALSE;
      if (p->spec.nm_m > 0)
        for (gsize k = 0; k < lk_model_n_tensors (m); k++)
          {
            const lk_tensor *t = lk_model_tensor_at (m, k);
            g_autofree char *field = g_strdup_printf ("%s.nm", p->sel.where);
            if (t->n_dims >= 2 && selects (&p->sel, t->name) && t->ne[0] % p->spec.nm_m != 0)
              return fail (error, r, field, _("rows of %s are %lld wide, not a multiple of %d"),
                           t->name, (long long) t->ne[0], p->spec.nm_m);
          }
    }
  return TRUE;
}

/* Applying ---------------------------------------------------------------- */

typedef struct
{
  const LatheRecipe *r;
  const lk_model *m;
  const char *source_sha256, *source_name;
  char *json;
  LatheRecipeProgress progress;
  gpointer progress_user;
  lk_imatrix *imatrix;
  GHashTable *allocated; /* name -> type, from a size target */
  float *thresholds;     /* per prune step: the global threshold, or 0 */
} ApplyData;

static const float *
importance_cb (void *user, const char *name, int64_t n_cols)
{
  ApplyData *d = user;

  return d->imatrix != NULL ? lk_imatrix_mean_square (d->imatrix, name, n_cols) : NULL;
}

static void
progress_cb (void *user, int done, int total, const char *tensor)
{
  ApplyData *d = user;

  d->progress (d->progress_user, done, total, tensor);
}

/* The last matching rule decides; "keep" keeps the source's type. */
static lk_type
override_cb (void *user, const char *name, int layer, lk_type proposed)
{
  ApplyData *d = user;
  const lk_tensor *t = lk_model_find_tensor (d->m, name);
  lk_type type = d->r->has_type ? proposed : lk_type_unpacked (t->type);

  (void) layer;
  if (d->allocated != NULL && g_hash_table_contains (d->allocated, name))
    type = (lk_type) GPOINTER_TO_INT (g_hash_table_lookup (d->allocated, name));
  for (guint i = 0; i < d->r->rules->len; i++)
    {
      const QuantRule *q = &g_array_index (d->r->rules, QuantRule, i);
      if (selects (&q->sel, name))
        type = q->keep ? lk_type_unpacked (t->type) : q->type;
    }
  return type;
}

/* The last matching step decides. */
static bool
prune_cb (void *user, const lk_tensor *t, lk_prune_spec *spec)
{
  ApplyData *d = user;
  bool found = false;

  for (guint i = 0; i < d->r->prune->len; i++)
    {
      const PruneStep *p = &g_array_index (d->r->prune, PruneStep, i);
      if (selects (&p->sel, t->name))
        {
          *spec = p->spec;
          if (d->thresholds != NULL)
            spec->threshold = d->thresholds[i];
          if (spec->score == LK_PRUNE_WANDA)
            spec->col_norm = d->imatrix != NULL ? lk_imatrix_rms (d->imatrix, t->name, lk_imatrix_width (t)) : NULL;
          found = true;
        }
    }
  return found;
}

static void
metadata_cb (void *user, lk_gguf_writer *w)
{
  ApplyData *d = user;

  lk_gguf_writer_set_str (w, "lathe.recipe", d->json);
  if (d->r->name != NULL)
    lk_gguf_writer_set_str (w, "lathe.recipe.name", d->r->name);
  lk_gguf_writer_set_str (w, "lathe.source.sha256", d->source_sha256);
  if (d->r->skip_layers != NULL)
    lk_gguf_writer_set_str (w, "lathe.conditional.skip_layers", d->r->skip_layers);
  if (d->r->exit_threshold > 0.0)
    {
      lk_gguf_writer_set_f32 (w, "lathe.conditional.exit_threshold", (float) d->r->exit_threshold);
      lk_gguf_writer_set_u32 (w, "lathe.conditional.exit_min_layer", (uint32_t) d->r->exit_min_layer);
      if (d->r->exit_on_margin)
        lk_gguf_writer_set_bool (w, "lathe.conditional.exit_on_margin", true);
    }
  if (d->r->experts_used > 0)
    lk_gguf_writer_set_u32 (w, "lathe.conditional.experts_used", (uint32_t) d->r->experts_used);
  lk_gguf_writer_set_str (w, "lathe.source.file", d->source_name);
}

gboolean
lathe_is_sha256 (const char *s)
{
  if (s == NULL || strlen (s) != 64)
    return FALSE;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isxdigit (*p))
      return FALSE;
  return TRUE;
}

char *
lathe_file_sha256 (const char *path, GCancellable *cancellable, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (path);
  g_autoptr (GFileInputStream) in = g_file_read (file, cancellable, error);
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buf = g_malloc (1 << 20);
  gssize n;

  if (in == NULL)
    return NULL;
  while ((n = g_input_stream_read (G_INPUT_STREAM (in), buf, 1 << 20, cancellable, error)) > 0)
    g_checksum_update (sum, buf, n);
  if (n < 0)
    return NULL;
  return g_strdup (g_checksum_get_string (sum));
}

static void
cancel_cb (GCancellable *cancellable, gpointer data)
{
  atomic_store ((atomic_int *) data, 1);
}

static void
calibration_progress_cb (gpointer user, int done, int total)
{
  ApplyData *d = user;

  d->progress (d->progress_user, done - 1, total, _("calibration"));
}

/* The importance matrix the recipe names or computes, or NULL without one. */
static gboolean
recipe_imatrix (const LatheRecipe *r, LatheModel *model, int n_threads, ApplyData *d,
                GCancellable *cancellable, GError **error)
{
  LatheCalibrateOptions co;

  if (r->imatrix != NULL)
    return (d->imatrix = lathe_imatrix_load (r->imatrix, error)) != NULL;
  if (r->calib_text == NULL)
    return TRUE;
  lathe_calibrate_options_init (&co);
  co.n_ctx = r->calib_ctx;
  co.max_chunks = r->calib_chunks;
  co.n_threads = n_threads;
  co.progress = d->progress != NULL ? calibration_progress_cb : NULL;
  co.user = d;
  return (d->imatrix = lathe_calibrate (model, r->calib_text, &co, cancellable, error)) != NULL;
}

/* The types a size target gives the matrices no rule names. */
static gboolean
allocate_target (const LatheRecipe *r, LatheModel *model, ApplyData *d, GError **error)
{
  g_autoptr (GHashTable) fixed = g_hash_table_new (g_str_hash, g_str_equal);
  JsonNode *table;
  guint64 budget;
  double predicted;
  gboolean ok;

  if (r->sensitivity == NULL)
    return TRUE;
  if ((table = lathe_sensitivity_load (r->sensitivity, error)) == NULL)
    return FALSE;
  for (gsize i = 0; i < lk_model_n_tensors (d->m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (d->m, i);
      for (guint k = 0; k < r->rules->len && t->n_dims >= 2; k++)
        {
          const QuantRule *q = &g_array_index (r->rules, QuantRule, k);
          if (selects (&q->sel, t->name))
            g_hash_table_insert (fixed, (gpointer) t->name,
                                 GINT_TO_POINTER (q->keep ? lk_type_unpacked (t->type) : q->type));
        }
    }
  budget = r->target_mb > 0 ? (guint64) (r->target_mb * 1e6)
                            : (guint64) (r->target_bpw * (double) lk_model_n_params (d->m) / 8.0);
  d->allocated = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  ok = lathe_sensitivity_allocate (table, model, budget, fixed, d->allocated, &predicted, error);
  json_node_unref (table);
  if (!ok)
    g_prefix_error (error, "%s: quantize.target: ", r->origin);
  if (ok && d->imatrix == NULL)
    {
      GHashTableIter it;
      gpointer name, type;
      g_hash_table_iter_init (&it, d->allocated);
      while (g_hash_table_iter_next (&it, &name, &type))
        if (lk_quantize_needs_importance ((lk_type) GPOINTER_TO_INT (type)))
          return fail (error, r, "quantize.target",
                       _("the table gives %s to %s, a type written with an importance matrix: give “calibration”"),
                       lk_type_name ((lk_type) GPOINTER_TO_INT (type)), (const char *) name);
    }
  return ok;
}

/* The layers the conditional settings name exist in the output model. */
static gboolean
check_conditional (const LatheRecipe *r, const lk_model *m, GError **error)
{
  const int n = lk_model_hparams (m)->n_layer;
  g_autofree bool *skip = g_new0 (bool, n);
  lk_error err = { 0 };
  int run = 0;

  if (r->skip_layers != NULL)
    {
      if (lk_cond_parse_layers (r->skip_layers, n, skip, &err) != LK_OK)
        return fail (error, r, "conditional.skip_layers", "%s", err.message);
      for (int i = 0; i < n; i++)
        run += !skip[i];
      if (run == 0)
        return fail (error, r, "conditional.skip_layers", _("every layer would be skipped"));
    }
  if (r->exit_threshold > 0.0 && r->exit_threshold < 1.0 && r->exit_min_layer >= n)
    return fail (error, r, "conditional.exit_min_layer", _("the model has %d layers"), n);
  if (r->experts_used > 0 && lk_model_hparams (m)->n_expert == 0)
    return fail (error, r, "conditional.experts_used", _("the model has no experts"));
  if (r->experts_used > lk_model_hparams (m)->n_expert)
    return fail (error, r, "conditional.experts_used", _("the model has %d experts"),
                 lk_model_hparams (m)->n_expert);
  return TRUE;
}

/* The step that decides a matrix's pruning (the last matching), or -1. */
static int
deciding_step (const LatheRecipe *r, const char *name)
{
  int step = -1;

  for (guint i = 0; i < r->prune->len; i++)
    if (selects (&g_array_index (r->prune, PruneStep, i).sel, name))
      step = (int) i;
  return step;
}

#define HIST_BINS 65536
#define HIST_LO (-48.0)
#define HIST_HI 16.0

static int
hist_bin (float v)
{
  const double l = v > 0.0f ? log2 (v) : HIST_LO;
  const int b = (int) ((l - HIST_LO) / (HIST_HI - HIST_LO) * HIST_BINS);

  return CLAMP (b, 0, HIST_BINS - 1);
}

/* One magnitude threshold for all the matrices a global step decides, from
 * a histogram of log2 |w| (65536 bins: the fraction lands within a few
 * hundredths of a percent). */
static float
global_threshold (const LatheRecipe *r, const lk_model *m, int step)
{
  g_autofree guint64 *hist = g_new0 (guint64, HIST_BINS);
  const double sparsity = g_array_index (r->prune, PruneStep, step).spec.sparsity;
  guint64 total = 0, target, seen = 0;

  for (gsize i = 0; i < lk_model_n_tensors (m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (m, i);
      const int64_t n = t->ne[0];
      g_autofree float *row = NULL;
      g_autofree guint8 *tmp = NULL;
      if (t->n_dims < 2 || deciding_step (r, t->name) != step)
        continue;
      row = g_new (float, n);
      tmp = g_malloc (lk_row_size (lk_type_unpacked (t->type), n) + 64);
      for (int64_t k = 0; k < lk_tensor_nelements (t) / n; k++)
        {
          lk_type type;
          const void *src = lk_tensor_row (t, k, tmp, &type);
          lk_dequantize_row (type, src, row, n);
          for (int64_t c = 0; c < n; c++)
            hist[hist_bin (fabsf (row[c]))]++;
          total += (guint64) n;
        }
    }
  target = (guint64) llround (sparsity * (double) total);
  for (int b = 0; b < HIST_BINS; b++)
    {
      seen += hist[b];
      if (seen >= target)
        return target == 0 ? 0.0f
                           : (float) exp2 (HIST_LO + (HIST_HI - HIST_LO) * (double) (b + 1) / HIST_BINS);
    }
  return INFINITY;
}

static void
global_thresholds (const LatheRecipe *r, ApplyData *d)
{
  for (guint i = 0; i < r->prune->len; i++)
    if (g_array_index (r->prune, PruneStep, i).global)
      {
        if (d->thresholds == NULL)
          d->thresholds = g_new0 (float, r->prune->len);
        d->thresholds[i] = global_threshold (r, d->m, (int) i);
        /* A zero threshold prunes nothing; the smallest positive one as well. */
        if (d->thresholds[i] == 0.0f)
          d->thresholds[i] = FLT_MIN;
      }
}

/* Wanda needs the statistics of every matrix it prunes. */
static gboolean
check_wanda (const LatheRecipe *r, const ApplyData *d, GError **error)
{
  for (gsize i = 0; i < lk_model_n_tensors (d->m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (d->m, i);
      lk_prune_spec spec;
      if (t->n_dims < 2 || !prune_cb ((void *) d, t, &spec) || spec.score != LK_PRUNE_WANDA)
        continue;
      if (d->imatrix == NULL)
        return fail (error, r, "calibration",
                     _("after structured pruning, Wanda needs statistics of the pruned model: give "
                       "“text” (a saved matrix describes the model before)"));
      if (spec.col_norm == NULL)
        return fail (error, r, "calibration",
                     _("the statistics have no entry of %lld channels for %s (made from another model?)"),
                     (long long) lk_imatrix_width (t), t->name);
    }
  return TRUE;
}

/* Structured pruning ------------------------------------------------------- */

static gboolean
cut_range (const LatheRecipe *r, const CutStep *c, int n_layer, int *from, int *to, GError **error)
{
  g_autofree char *field = g_strdup_printf ("%s.layers", c->where);

  *from = c->layer_from == ANY_LAYER ? 0 : c->layer_from;
  *to = c->layer_to == ANY_LAYER ? n_layer - 1 : c->layer_to;
  if (*to >= n_layer)
    return fail (error, r, field, _("the model has %d layers (0–%d)"), n_layer, n_layer - 1);
  return TRUE;
}

static gboolean
engine_step (lk_status s, lk_error *err, const LatheRecipe *r, const char *where, GError **error)
{
  if (s == LK_OK)
    return TRUE;
  return fail (error, r, where, "%s", err->message);
}

/* Layers to drop: those named, or the `remove` that change their input least. */
static gboolean
plan_layers (const LatheRecipe *r, const CutStep *c, const lk_imatrix *im, lk_structure_plan *plan,
             GError **error)
{
  int n_change = 0, left = 0;
  double tokens = 0;
  const double *change = im != NULL ? lk_imatrix_layer_change (im, &n_change, &tokens) : NULL;

  for (guint i = 0; c->drop != NULL && i < c->drop->len; i++)
    {
      const int l = g_array_index (c->drop, int, i);
      if (l >= plan->n_layer)
        {
          g_autofree char *field = g_strdup_printf ("%s.drop", c->where);
          return fail (error, r, field, _("layer %d: the model has %d layers"), l, plan->n_layer);
        }
      plan->layers[l].drop = TRUE;
    }
  if (c->drop == NULL && (change == NULL || n_change != plan->n_layer))
    return fail (error, r, c->where, _("the calibration has no layer measurements for this model "
                                       "(make it with lathe-cli calibrate, or use “text”)"));
  for (int k = 0; c->drop == NULL && k < c->remove; k++)
    {
      int best = -1;
      for (int l = 0; l < plan->n_layer; l++)
        if (!plan->layers[l].drop && (best < 0 || change[l] < change[best]))
          best = l;
      if (best >= 0)
        plan->layers[best].drop = TRUE;
    }
  for (int l = 0; l < plan->n_layer; l++)
    left += !plan->layers[l].drop;
  if (left == 0)
    return fail (error, r, c->where, _("every layer would go: keep at least one"));
  return TRUE;
}

/* The experts tokens were routed to least often during calibration go. */
static gboolean
plan_experts (const LatheRecipe *r, const CutStep *c, const lk_model *m, const lk_imatrix *im,
              lk_structure_plan *plan, GError **error)
{
  const int n_layer = lk_model_hparams (m)->n_layer, ne = lk_model_hparams (m)->n_expert;
  int rl = 0, re = 0;
  const double *routes = im != NULL ? lk_imatrix_routes (im, &rl, &re) : NULL;
  lk_error err = { 0 };

  if (ne == 0)
    return fail (error, r, c->where, _("the model has no experts"));
  if (routes == NULL || rl != n_layer || re != ne)
    return fail (error, r, c->where, _("the calibration has no routing counts for this model "
                                       "(make it with lathe-cli calibrate on the same model)"));
  for (int il = 0; il < n_layer; il++)
    if (!engine_step (lk_structure_remove_experts (plan, m, il, c->remove, routes + (size_t) il * ne, &err),
                      &err, r, c->where, error))
      return FALSE;
  return TRUE;
}

static gboolean
plan_cuts (const LatheRecipe *r, const lk_model *m, const lk_imatrix *im, lk_structure_plan *plan,
           GError **error)
{
  const int n_layer = lk_model_hparams (m)->n_layer;
  lk_error err = { 0 };

  for (guint i = 0; i < r->cuts->len; i++)
    {
      const CutStep *c = &g_array_index (r->cuts, CutStep, i);
      int from, to;
      if (c->kind == CUT_LAYERS)
        {
          if (!plan_layers (r, c, im, plan, error))
            return FALSE;
          continue;
        }
      if (c->kind == CUT_EXPERTS)
        {
          if (!plan_experts (r, c, m, im, plan, error))
            return FALSE;
          continue;
        }
      if (!cut_range (r, c, n_layer, &from, &to, error))
        return FALSE;
      for (int il = from; il <= to; il++)
        {
          const lk_layer *L = lk_model_layer (m, il);
          const int n = c->kind == CUT_HEADS ? L->n_head : L->n_ff;
          /* With experts, every expert's channels are scored. */
          g_autofree double *scores = g_new (double, c->kind == CUT_HEADS ? n : n * MAX (1, L->n_expert));
          if (c->kind == CUT_HEADS)
            {
              if (!engine_step (lk_structure_head_scores (m, il, im, scores, &err), &err, r, c->where, error)
                  || !engine_step (lk_structure_remove_heads (plan, m, il, c->remove, scores, &err), &err, r,
                                   c->where, error))
                return FALSE;
            }
          else
            {
              const int count = MAX (1, (int) lround (c->fraction * n));
              if (!engine_step (lk_structure_ffn_scores (m, il, im, scores, &err), &err, r, c->where, error)
                  || !engine_step (lk_structure_remove_ffn (plan, m, il, count, scores, &err), &err, r,
                                   c->where, error))
                return FALSE;
            }
        }
    }
  return TRUE;
}

/* Writes the structurally pruned model into tmp_dir and loads it. */
static LatheModel *
cut_model (const LatheRecipe *r, LatheModel *model, const lk_imatrix *im, const char *tmp_dir,
           GError **error)
{
  const lk_model *m = lathe_model_get_engine (model);
  g_autofree char *path = g_build_filename (tmp_dir, "structure.gguf", NULL);
  lk_structure_plan plan;
  lk_error err = { 0 };
  LatheModel *out = NULL;

  if (lk_structure_plan_init (&plan, m, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return NULL;
    }
  if (plan_cuts (r, m, im, &plan, error))
    {
      if (lk_structure_write (m, &plan, path, NULL, NULL, &err) != LK_OK)
        lathe_error_from_engine (error, &err);
      else
        out = lathe_model_load (path, NULL, NULL, error);
    }
  lk_structure_plan_clear (&plan);
  g_unlink (path);
  return out;
}

gboolean
lathe_recipe_apply (const LatheRecipe *r, LatheModel *model, const char *out_path, int n_threads,
                    LatheRecipeProgress progress, gpointer user, lk_quantize_report *report,
                    GCancellable *cancellable, GError **error)
{
  g_autofree char *sha = NULL, *base = NULL, *tmp_dir = NULL;
  g_autoptr (LatheModel) cut = NULL;
  ApplyData d = { r, lathe_model_get_engine (model), NULL, NULL, NULL, progress, user, NULL, NULL, NULL };
  LatheModel *source = model;
  lk_quantize_params qp;
  lk_quantize_report local;
  lk_error err = { 0 };
  atomic_int cancel = 0;
  gulong handler = 0;
  lk_status s;
  gboolean ok = FALSE;

  if ((r->cuts->len == 0 && !lathe_recipe_check (r, model, error))
      || (sha = lathe_file_sha256 (lathe_model_get_path (model), cancellable, error)) == NULL
      || !recipe_imatrix (r, model, n_threads, &d, cancellable, error))
    goto out;
  if (r->cuts->len > 0)
    {
      /* Structure first; the other steps see the smaller model, and need
       * statistics of it (a saved matrix describes the unpruned one). */
      if ((tmp_dir = g_dir_make_tmp ("lathe-recipe-XXXXXX", error)) == NULL
          || (cut = cut_model (r, model, d.imatrix, tmp_dir, error)) == NULL)
        goto out;
      source = cut;
      d.m = lathe_model_get_engine (cut);
      g_clear_pointer (&d.imatrix, lk_imatrix_free);
      if (!lathe_recipe_check (r, cut, error)
          || (r->calib_text != NULL && !recipe_imatrix (r, cut, n_threads, &d, cancellable, error)))
        goto out;
    }
  if (!check_wanda (r, &d, error) || !allocate_target (r, source, &d, error)
      || !check_conditional (r, d.m, error))
    goto out;
  global_thresholds (r, &d);
  base = g_path_get_basename (lathe_model_get_path (model));
  d.source_sha256 = sha;
  d.source_name = base;
  d.json = lathe_recipe_to_json (r);
  lk_quantize_params_init (&qp);
  qp.type = r->has_type ? r->type : LK_TYPE_F32;
  qp.mix = r->has_type && !r->pure ? r->mix : LK_MIX_PURE;
  qp.override = override_cb;
  qp.prune = r->prune->len > 0 ? prune_cb : NULL;
  qp.importance = d.imatrix != NULL ? importance_cb : NULL;
  qp.add_metadata = metadata_cb;
  qp.user = &d;
  qp.n_threads = n_threads;
  qp.progress = progress != NULL ? progress_cb : NULL;
  qp.cancel = &cancel;
  if (cancellable != NULL)
    handler = g_cancellable_connect (cancellable, G_CALLBACK (cancel_cb), &cancel, NULL);
  s = lk_quantize_model (d.m, out_path, &qp, report != NULL ? report : &local, &err);
  if (handler != 0)
    g_cancellable_disconnect (cancellable, handler);
  if (report == NULL)
    lk_quantize_report_clear (&local);
  if (s != LK_OK)
    {
      if (s != LK_ERR_CANCELLED)
        lk_error_prefix (&err, "%s", out_path);
      lathe_error_from_engine (error, &err);
      goto out;
    }
  ok = TRUE;
out:
  g_free (d.json);
  lk_imatrix_free (d.imatrix);
  g_clear_pointer (&d.allocated, g_hash_table_unref);
  g_free (d.thresholds);
  g_clear_object (&cut);
  if (tmp_dir != NULL)
    g_rmdir (tmp_dir);
  return ok;
}

/* Estimating ------------------------------------------------------------- */

/* The share of a tensor that structured cuts keep: removed layers, heads
 * and FFN channels taken out in proportion (which rows go is decided when
 * applying, from the model's statistics). */
static double
kept_share (const LatheRecipe *r, const lk_model *m, const lk_tensor *t)
{
  const int n_layer = lk_model_hparams (m)->n_layer;
  const int layer = layer_of (t->name);
  double keep = 1.0;

  if (layer < 0)
    return 1.0;
  for (guint i = 0; i < r->cuts->len; i++)
    {
      const CutStep *c = &g_array_index (r->cuts, CutStep, i);
      const lk_layer *L = lk_model_layer (m, layer);
      const gboolean in_range = c->layer_from == ANY_LAYER || (layer >= c->layer_from && layer <= c->layer_to);
      if (c->kind == CUT_LAYERS)
        {
          gboolean dropped = FALSE;
          for (guint k = 0; c->drop != NULL && k < c->drop->len; k++)
            dropped |= g_array_index (c->drop, int, k) == layer;
          if (dropped)
            return 0.0;
          if (c->drop == NULL || c->drop->len == 0)
            keep *= 1.0 - (double) c->remove / n_layer;
        }
      else if (c->kind == CUT_HEADS && in_range && L->n_head > 0
               && (strstr (t->name, ".attn_q.") != NULL || strstr (t->name, ".attn_output.") != NULL))
        keep *= 1.0 - (double) c->remove / L->n_head;
      /* Heads go evenly from every group sharing a key/value head, so the
       * keys and values stay unless whole groups go. */
      else if (c->kind == CUT_HEADS && in_range && L->n_head > 0 && L->n_head_kv == L->n_head
               && (strstr (t->name, ".attn_k.") != NULL || strstr (t->name, ".attn_v.") != NULL))
        keep *= 1.0 - (double) c->remove / L->n_head;
      else if (c->kind == CUT_FFN && in_range && strstr (t->name, ".ffn_") != NULL
               && strstr (t->name, "_norm") == NULL && strstr (t->name, "_inp") == NULL)
        keep *= 1.0 - c->fraction;
      else if (c->kind == CUT_EXPERTS && strstr (t->name, "_exps.") != NULL && t->n_dims == 3)
        keep *= 1.0 - (double) c->remove / (double) t->ne[2];
    }
  return MAX (keep, 0.0);
}

gboolean
lathe_recipe_estimate (const LatheRecipe *r, LatheModel *model, GHashTable *types, guint64 *tensor_bytes,
                       GError **error)
{
  ApplyData d = { r, lathe_model_get_engine (model), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
  lk_quantize_params qp;
  double bytes = 0;
  gboolean ok;

  if (!lathe_recipe_check (r, model, error) || !allocate_target (r, model, &d, error))
    {
      g_clear_pointer (&d.allocated, g_hash_table_unref);
      return FALSE;
    }
  lk_quantize_params_init (&qp);
  qp.type = r->has_type ? r->type : LK_TYPE_F32;
  qp.mix = r->has_type && !r->pure ? r->mix : LK_MIX_PURE;
  qp.override = override_cb;
  qp.user = &d;
  for (gsize i = 0; i < lk_model_n_tensors (d.m); i++)
    {
      const lk_tensor *t = lk_model_tensor_at (d.m, i);
      bool fell_back;
      lk_type asked;
      const lk_type to = lk_quantize_tensor_type (d.m, t, &qp, &fell_back, &asked);
      const double rows = (double) lk_tensor_nelements (t) / (double) MAX (t->ne[0], 1);
      if (types != NULL)
        g_hash_table_insert (types, g_strdup (t->name), GINT_TO_POINTER (to));
      bytes += kept_share (r, d.m, t) * rows * (double) lk_row_size (to, t->ne[0]);
    }
  ok = check_conditional (r, d.m, error);
  g_clear_pointer (&d.allocated, g_hash_table_unref);
  *tensor_bytes = (guint64) bytes;
  return ok;
}
