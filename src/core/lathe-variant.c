/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-variant"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-variant.h"

typedef struct
{
  const char *key;
  const char *label; /* N_() */
  gboolean higher_is_better;
  int digits;        /* after the point, as shown */
  double scale;      /* shown = value × scale (agreement as a percentage) */
} MetricInfo;

static const MetricInfo metrics[LATHE_N_METRICS] = {
  [LATHE_METRIC_FILE_MB] = { "file_mb", N_("File size (MB)"), FALSE, 3, 1 },
  [LATHE_METRIC_BPW] = { "bpw", N_("Bits per weight"), FALSE, 2, 1 },
  [LATHE_METRIC_DECODE_TPS] = { "decode_tps", N_("Decode (tokens/s)"), TRUE, 0, 1 },
  [LATHE_METRIC_PREFILL_TPS] = { "prefill_tps", N_("Prefill (tokens/s)"), TRUE, 0, 1 },
  [LATHE_METRIC_PEAK_MEMORY_MB] = { "peak_memory_mb", N_("Peak memory (MB)"), FALSE, 1, 1 },
  [LATHE_METRIC_PERPLEXITY] = { "perplexity", N_("Perplexity"), FALSE, 3, 1 },
  [LATHE_METRIC_KL_MEAN] = { "kl_mean", N_("Mean KL divergence"), FALSE, 4, 1 },
  [LATHE_METRIC_TOP1] = { "top1", N_("Top-1 agreement (%)"), TRUE, 1, 100 },
  [LATHE_METRIC_LAYERS_MEAN] = { "layers_mean", N_("Layers per token"), FALSE, 2, 1 },
};

const char *
lathe_metric_key (LatheMetric metric)
{
  g_return_val_if_fail (metric < LATHE_N_METRICS, NULL);
  return metrics[metric].key;
}

const char *
lathe_metric_label (LatheMetric metric)
{
  g_return_val_if_fail (metric < LATHE_N_METRICS, NULL);
  return _(metrics[metric].label);
}

gboolean
lathe_metric_higher_is_better (LatheMetric metric)
{
  g_return_val_if_fail (metric < LATHE_N_METRICS, FALSE);
  return metrics[metric].higher_is_better;
}

gboolean
lathe_metric_from_key (const char *key, LatheMetric *metric)
{
  for (int i = 0; i < LATHE_N_METRICS; i++)
    if (g_strcmp0 (key, metrics[i].key) == 0)
      {
        *metric = (LatheMetric) i;
        return TRUE;
      }
  return FALSE;
}

char *
lathe_metric_format (LatheMetric metric, double value)
{
  g_return_val_if_fail (metric < LATHE_N_METRICS, NULL);
  if (isnan (value))
    return g_strdup ("—");
  return g_strdup_printf ("%.*f%s", metrics[metric].digits, value * metrics[metric].scale,
                          metric == LATHE_METRIC_TOP1 ? " %" : "");
}

struct _LatheVariant
{
  GObject parent_instance;
  char *id, *name, *file, *recipe, *device;
  double values[LATHE_N_METRICS];
  guint unmeasurable; /* bit per metric: measured, but not a finite number */
  gint64 added_us; /* when it was added to its workspace (µs since 1970), 0: not yet */
};

G_DEFINE_FINAL_TYPE (LatheVariant, lathe_variant, G_TYPE_OBJECT)

static void
lathe_variant_finalize (GObject *object)
{
  LatheVariant *self = LATHE_VARIANT (object);

  g_free (self->id);
  g_free (self->name);
  g_free (self->file);
  g_free (self->recipe);
  g_free (self->device);
  G_OBJECT_CLASS (lathe_variant_parent_class)->finalize (object);
}

static void
lathe_variant_class_init (LatheVariantClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lathe_variant_finalize;
}

static void
lathe_variant_init (LatheVariant *self)
{
  for (int i = 0; i < LATHE_N_METRICS; i++)
    self->values[i] = NAN;
}

LatheVariant *
lathe_variant_new (const char *id, const char *name)
{
  LatheVariant *self = g_object_new (LATHE_TYPE_VARIANT, NULL);

  self->id = g_strdup (id);
  self->name = g_strdup (name);
  return self;
}

const char *
lathe_variant_get_id (LatheVariant *self)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), NULL);
  return self->id;
}

void
lathe_variant_set_id (LatheVariant *self, const char *id)
{
  g_return_if_fail (LATHE_IS_VARIANT (self));
  g_free (self->id);
  self->id = g_strdup (id);
}

const char *
lathe_variant_get_name (LatheVariant *self)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), NULL);
  return self->name;
}

const char *
lathe_variant_get_file (LatheVariant *self)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), NULL);
  return self->file;
}

void
lathe_variant_set_file (LatheVariant *self, const char *file)
{
  g_return_if_fail (LATHE_IS_VARIANT (self));
  g_free (self->file);
  self->file = g_strdup (file);
}

const char *
lathe_variant_get_recipe (LatheVariant *self)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), NULL);
  return self->recipe;
}

void
lathe_variant_set_recipe (LatheVariant *self, const char *recipe_json)
{
  g_return_if_fail (LATHE_IS_VARIANT (self));
  g_free (self->recipe);
  self->recipe = g_strdup (recipe_json);
}

const char *
lathe_variant_get_device (LatheVariant *self)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), NULL);
  return self->device;
}

void
lathe_variant_set_device (LatheVariant *self, const char *device)
{
  g_return_if_fail (LATHE_IS_VARIANT (self));
  g_free (self->device);
  self->device = g_strdup (device);
}

double
lathe_variant_get_metric (LatheVariant *self, LatheMetric metric)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), NAN);
  g_return_val_if_fail (metric < LATHE_N_METRICS, NAN);
  return self->values[metric];
}

void
lathe_variant_set_metric (LatheVariant *self, LatheMetric metric, double value)
{
  g_return_if_fail (LATHE_IS_VARIANT (self));
  g_return_if_fail (metric < LATHE_N_METRICS);
  if (isinf (value))
    {
      lathe_variant_set_measured (self, metric, value);
      return;
    }
  self->values[metric] = value;
  self->unmeasurable &= ~(1u << metric);
}

void
lathe_variant_set_measured (LatheVariant *self, LatheMetric metric, double value)
{
  g_return_if_fail (LATHE_IS_VARIANT (self));
  g_return_if_fail (metric < LATHE_N_METRICS);
  if (isfinite (value))
    {
      lathe_variant_set_metric (self, metric, value);
      return;
    }
  self->values[metric] = NAN;
  self->unmeasurable |= 1u << metric;
}

gboolean
lathe_variant_is_unmeasurable (LatheVariant *self, LatheMetric metric)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), FALSE);
  g_return_val_if_fail (metric < LATHE_N_METRICS, FALSE);
  return (self->unmeasurable & (1u << metric)) != 0;
}

const char *
lathe_variant_get_metric_note (LatheVariant *self, LatheMetric metric)
{
  if (!lathe_variant_is_unmeasurable (self, metric))
    return NULL;
  return _("measured, but not a finite number (it overflowed)");
}

gint64
lathe_variant_get_added (LatheVariant *self)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), 0);
  return self->added_us;
}

void
lathe_variant_set_added (LatheVariant *self, gint64 us)
{
  g_return_if_fail (LATHE_IS_VARIANT (self));
  self->added_us = us;
}

gboolean
lathe_variant_is_original (LatheVariant *self)
{
  g_return_val_if_fail (LATHE_IS_VARIANT (self), FALSE);
  return self->recipe == NULL;
}

JsonNode *
lathe_variant_to_json (LatheVariant *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  g_return_val_if_fail (LATHE_IS_VARIANT (self), NULL);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, self->id);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, self->name);
  json_builder_set_member_name (b, "file");
  json_builder_add_string_value (b, self->file);
  if (self->recipe != NULL)
    {
      JsonNode *recipe = lathe_json_parse (self->recipe, -1, "recipe", NULL);
      json_builder_set_member_name (b, "recipe");
      if (recipe != NULL)
        json_builder_add_value (b, recipe);
      else
        json_builder_add_string_value (b, self->recipe);
    }
  if (self->device != NULL)
    {
      json_builder_set_member_name (b, "device");
      json_builder_add_string_value (b, self->device);
    }
  if (self->added_us != 0)
    {
      json_builder_set_member_name (b, "added_us");
      json_builder_add_int_value (b, self->added_us);
    }
  json_builder_set_member_name (b, "metrics");
  json_builder_begin_object (b);
  for (int i = 0; i < LATHE_N_METRICS; i++)
    if (self->unmeasurable & (1u << i))
      {
        json_builder_set_member_name (b, metrics[i].key);
        json_builder_add_null_value (b);
      }
    else if (isfinite (self->values[i]))
      {
        json_builder_set_member_name (b, metrics[i].key);
        json_builder_add_double_value (b, self->values[i]);
      }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
lathe_variant_dup_metrics (LatheVariant *self)
{
  g_autoptr (JsonNode) all = NULL;
  JsonNode *m;

  g_return_val_if_fail (LATHE_IS_VARIANT (self), NULL);
  all = lathe_variant_to_json (self);
  m = json_object_get_member (json_node_get_object (all), "metrics");
  return m != NULL ? json_node_copy (m) : NULL;
}

static gboolean
fail (GError **error, const char *origin, const char *field, const char *what)
{
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s: %s", origin, field, what);
  return FALSE;
}

static const char *
string_member (JsonObject *o, const char *key, gboolean required, const char *origin,
               const char *where, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  g_autofree char *field = g_strdup_printf ("%s.%s", where, key);

  if (n == NULL && !required)
    return "";
  if (n == NULL || !JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_STRING)
    {
      fail (error, origin, field, _("expected a string"));
      return NULL;
    }
  return json_node_get_string (n);
}

static gboolean
read_metrics (LatheVariant *v, JsonNode *n, const char *origin, const char *where, GError **error)
{
  g_autofree char *field = g_strdup_printf ("%s.metrics", where);
  JsonObject *o;
  g_autoptr (GList) keys = NULL;

  if (n == NULL)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, origin, field, _("expected an object"));
  o = json_node_get_object (n);
  keys = json_object_get_members (o);
  for (GList *l = keys; l != NULL; l = l->next)
    {
      JsonNode *value = json_object_get_member (o, l->data);
      LatheMetric m;
      g_autofree char *f = g_strdup_printf ("%s.%s", field, (const char *) l->data);
      if (!lathe_metric_from_key (l->data, &m))
        return fail (error, origin, f, _("unknown figure"));
      /* null: not a number when it was measured (an overflowing
       * perplexity), kept as such. */
      if (JSON_NODE_HOLDS_NULL (value))
        {
          v->values[m] = NAN;
          v->unmeasurable |= 1u << m;
          continue;
        }
      if (!lathe_json_get_finite (value, &v->values[m]))
        return fail (error, origin, f, _("expected a finite number or null"));
    }
  return TRUE;
}

LatheVariant *
lathe_variant_from_json (JsonNode *node, const char *origin, const char *where, GError **error)
{
  g_autoptr (LatheVariant) v = NULL;
  g_autofree char *id_field = g_strdup_printf ("%s.id", where);
  g_autofree char *recipe_field = g_strdup_printf ("%s.recipe", where);
  const char *id, *name, *file, *device;
  JsonObject *o;
  JsonNode *recipe, *measured;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      fail (error, origin, where, _("expected an object"));
      return NULL;
    }
  o = json_node_get_object (node);
  if ((id = string_member (o, "id", TRUE, origin, where, error)) == NULL
      || (name = string_member (o, "name", TRUE, origin, where, error)) == NULL
      || (file = string_member (o, "file", TRUE, origin, where, error)) == NULL
      || (device = string_member (o, "device", FALSE, origin, where, error)) == NULL)
    return NULL;
  if (*id == '\0' || strchr (id, '/') != NULL || strcmp (id, "..") == 0)
    {
      fail (error, origin, id_field, _("expected a plain name"));
      return NULL;
    }
  v = lathe_variant_new (id, name);
  v->file = g_strdup (file);
  v->device = *device != '\0' ? g_strdup (device) : NULL;
  if ((recipe = json_object_get_member (o, "recipe")) != NULL)
    {
      if (!JSON_NODE_HOLDS_OBJECT (recipe))
        {
          fail (error, origin, recipe_field, _("expected an object"));
          return NULL;
        }
      v->recipe = lathe_json_to_string (recipe, FALSE);
    }
  if (!read_metrics (v, json_object_get_member (o, "metrics"), origin, where, error))
    return NULL;
  if ((measured = json_object_get_member (o, "added_us")) != NULL)
    {
      g_autofree char *field = g_strdup_printf ("%s.added_us", where);
      if (!JSON_NODE_HOLDS_VALUE (measured) || json_node_get_value_type (measured) != G_TYPE_INT64
          || json_node_get_int (measured) < 0)
        {
          fail (error, origin, field, _("expected a time in microseconds since 1970"));
          return NULL;
        }
      v->added_us = json_node_get_int (measured);
    }
  return g_steal_pointer (&v);
}
