/* SPDX-License-Identifier: MIT */
/* One measured variant of a model: a point on the trade-off charts. It
 * names its file, the recipe that made it, where it was measured, and its
 * figures (NAN where not measured). */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef enum
{
  LATHE_METRIC_FILE_MB,
  LATHE_METRIC_BPW,
  LATHE_METRIC_DECODE_TPS,
  LATHE_METRIC_PREFILL_TPS,
  LATHE_METRIC_PEAK_MEMORY_MB,
  LATHE_METRIC_PERPLEXITY,
  LATHE_METRIC_KL_MEAN,
  LATHE_METRIC_TOP1,
  LATHE_METRIC_LAYERS_MEAN,
  LATHE_N_METRICS
} LatheMetric;

/* "file_mb", "decode_tps", …: the key in JSON and on the command line. */
const char *lathe_metric_key (LatheMetric metric);
/* "File size (MB)", translated. */
const char *lathe_metric_label (LatheMetric metric);
/* Whether more is better (speed, agreement) or less (size, loss). */
gboolean lathe_metric_higher_is_better (LatheMetric metric);
/* The metric of a key; FALSE for an unknown one. */
gboolean lathe_metric_from_key (const char *key, LatheMetric *metric);
/* The value as shown in tables ("3.402", "24 648", "92.1 %"). */
char *lathe_metric_format (LatheMetric metric, double value);

#define LATHE_TYPE_VARIANT (lathe_variant_get_type ())
G_DECLARE_FINAL_TYPE (LatheVariant, lathe_variant, LATHE, VARIANT, GObject)

LatheVariant *lathe_variant_new (const char *id, const char *name);
const char *lathe_variant_get_id (LatheVariant *self);
void lathe_variant_set_id (LatheVariant *self, const char *id);
const char *lathe_variant_get_name (LatheVariant *self);
/* The model file: absolute, or relative to the workspace folder. */
const char *lathe_variant_get_file (LatheVariant *self);
void lathe_variant_set_file (LatheVariant *self, const char *file);
/* The recipe (JSON text) that made it; NULL for the original model. */
const char *lathe_variant_get_recipe (LatheVariant *self);
void lathe_variant_set_recipe (LatheVariant *self, const char *recipe_json);
/* Where the speed was measured: NULL for this machine, else a device name. */
const char *lathe_variant_get_device (LatheVariant *self);
void lathe_variant_set_device (LatheVariant *self, const char *device);
double lathe_variant_get_metric (LatheVariant *self, LatheMetric metric);
/* NAN: not measured; an infinity: measured, but not a finite number. */
void lathe_variant_set_metric (LatheVariant *self, LatheMetric metric, double value);
/* A figure as measured: anything not finite (an overflowing perplexity, a
 * NaN) is kept as not a number, stored as null and shown as "—". */
void lathe_variant_set_measured (LatheVariant *self, LatheMetric metric, double value);
gboolean lathe_variant_is_unmeasurable (LatheVariant *self, LatheMetric metric);
/* Why a figure is "—" although it was measured, or NULL. */
const char *lathe_variant_get_metric_note (LatheVariant *self, LatheMetric metric);
/* When it joined its workspace (µs since 1970; 0: not yet): the order
 * variants are listed in. */
gint64 lathe_variant_get_added (LatheVariant *self);
void lathe_variant_set_added (LatheVariant *self, gint64 us);
gboolean lathe_variant_is_original (LatheVariant *self);

/* {"id", "name", "file", "recipe", "device", "metrics": {key: value or
 * null}} */
JsonNode *lathe_variant_to_json (LatheVariant *self);
/* The measured figures alone ({key: value}), or NULL when there are none:
 * what a bundle ships. */
JsonNode *lathe_variant_dup_metrics (LatheVariant *self);
/* origin and where ("variants[2]") name the file and field in errors. */
LatheVariant *lathe_variant_from_json (JsonNode *node, const char *origin, const char *where,
                                       GError **error);

G_END_DECLS
