/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-runner"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdarg.h>

#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-runner.h"

void
lathe_bench_options_init (LatheBenchOptions *o)
{
  o->n_prompt = 64;
  o->n_gen = 32;
  o->reps = 2;
  o->n_threads = 0;
}

static char *
executable_dir (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);

  return self != NULL ? g_path_get_dirname (self) : NULL;
}

gboolean
lathe_run_here (const char *const *argv, GCancellable *cancellable, char **out, char **err, gboolean *ok,
                GError **error)
{
  g_autoptr (GSubprocess) proc = NULL;

  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
  if (proc == NULL)
    return FALSE;
  if (!g_subprocess_communicate_utf8 (proc, NULL, cancellable, out, err, error))
    {
      g_subprocess_force_exit (proc);
      g_subprocess_wait (proc, NULL, NULL);
      return FALSE;
    }
  *ok = g_subprocess_get_successful (proc);
  return TRUE;
}

char *
lathe_runner_find (GError **error)
{
  const char *env = g_getenv ("LATHE_RUN");
  g_autofree char *dir = executable_dir ();
  const char *const candidates[] = { "lathe-run", "../runner/lathe-run", "../src/runner/lathe-run" };

  if (env != NULL && *env != '\0')
    {
      if (g_file_test (env, G_FILE_TEST_IS_EXECUTABLE))
        return g_strdup (env);
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s (from LATHE_RUN): not an executable file"),
                   env);
      return NULL;
    }
  for (guint i = 0; dir != NULL && i < G_N_ELEMENTS (candidates); i++)
    {
      g_autofree char *path = g_build_filename (dir, candidates[i], NULL);
      g_autofree char *canon = g_canonicalize_filename (path, NULL);
      if (g_file_test (canon, G_FILE_TEST_IS_EXECUTABLE) && !g_file_test (canon, G_FILE_TEST_IS_DIR))
        return g_steal_pointer (&canon);
    }
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO,
               _("lathe-run was not found beside %s (install Lathe, or set LATHE_RUN)"),
               dir != NULL ? dir : "this program");
  return NULL;
}

/* The last non-empty line of the runner's error output: its message. */
static char *
last_line (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  for (int i = (int) g_strv_length (lines) - 1; i >= 0; i--)
    if (*g_strstrip (lines[i]) != '\0')
      return g_strdup (lines[i]);
  return g_strdup (_("no message"));
}

static void
add_args (GPtrArray *argv, ...)
{
  va_list ap;
  const char *a;

  va_start (ap, argv);
  while ((a = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) a);
  va_end (ap);
}

/* What lathe-run bench prints, checked field by field: the text comes
 * from a process (or a device) Lathe does not control. */
typedef struct
{
  const char *key;
  double lo, hi;
  gboolean required;
} BenchField;

/* Plausible ranges: a speed beyond 1e9 tokens/s or a memory beyond 1 PiB
 * is not a measurement. */
static const BenchField bench_numbers[] = {
  { "model_bytes", 0, 1e18, FALSE },   { "n_params", 0, 1e15, FALSE },    { "threads", 0, 65536, FALSE },
  { "n_prompt", 0, 1e9, FALSE },       { "n_gen", 0, 1e9, FALSE },        { "reps", 0, 1e6, FALSE },
  { "ttft_ms", 0, 1e9, FALSE },        { "load_ms", 0, 1e9, FALSE },      { "repack_ms", 0, 1e9, FALSE },
  { "peak_rss_bytes", 1, 1e15, TRUE }, { "bandwidth_gbs", 0, 1e6, FALSE }, { "bytes_per_token", 0, 1e18, FALSE },
  { "bandwidth_ratio", 0, 1e3, FALSE }, { "n_layer", 0, 1e5, FALSE },     { "layers_mean", 0, 1e5, FALSE },
  { "speculative_k", 0, 1e3, FALSE },  { "acceptance_rate", 0, 1, FALSE }, { "experts_used", 0, 1e5, FALSE },
};
static const char *const bench_strings[] = { "model", "type", "kernel", "kv_type" };
static const char *const bench_speeds[] = { "prefill_tps", "decode_tps" };
#define BENCH_TPS_MAX 1e9
#define BENCH_LIST_MAX 4096

static gboolean
bench_bad (GError **error, const char *origin, const char *field, const char *what)
{
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s: %s", origin, field, what);
  return FALSE;
}

static gboolean
copy_speed (JsonObject *in, const char *key, JsonBuilder *b, const char *origin, GError **error)
{
  JsonNode *n = json_object_get_member (in, key);
  g_autofree char *mean_key = g_strdup_printf ("%s.mean", key);
  double mean, sd = 0;
  JsonObject *o;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return bench_bad (error, origin, key, _("expected an object with the mean and sd"));
  o = json_node_get_object (n);
  if (!lathe_json_member_finite (o, "mean", &mean) || mean < 0 || mean > BENCH_TPS_MAX)
    return bench_bad (error, origin, mean_key, _("expected tokens per second from 0 to 1e9"));
  if (json_object_has_member (o, "sd") && (!lathe_json_member_finite (o, "sd", &sd) || sd < 0 || sd > BENCH_TPS_MAX))
    return bench_bad (error, origin, key, _("sd: expected a number from 0 to 1e9"));
  json_builder_set_member_name (b, key);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mean");
  json_builder_add_double_value (b, mean);
  json_builder_set_member_name (b, "sd");
  json_builder_add_double_value (b, sd);
  json_builder_end_object (b);
  return TRUE;
}

/* A list of counts, or of lists of counts (routing per layer). */
static gboolean
copy_counts (JsonNode *n, JsonBuilder *b, int depth)
{
  JsonArray *a;
  guint len;

  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return FALSE;
  a = json_node_get_array (n);
  if ((len = json_array_get_length (a)) > BENCH_LIST_MAX)
    return FALSE;
  json_builder_begin_array (b);
  for (guint i = 0; i < len; i++)
    {
      JsonNode *e = json_array_get_element (a, i);
      double v;
      if (depth > 0)
        {
          if (!copy_counts (e, b, depth - 1))
            return FALSE;
        }
      else if (!lathe_json_get_finite (e, &v) || v < 0 || v > 1e18)
        return FALSE;
      else
        json_builder_add_double_value (b, v);
    }
  json_builder_end_array (b);
  return TRUE;
}

JsonNode *
lathe_bench_parse (const char *text, gssize len, const char *origin, GError **error)
{
  g_autoptr (JsonNode) root = lathe_json_parse (text, len, origin, error);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  JsonObject *in;
  double v;

  if (root == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      bench_bad (error, origin, "(top)", _("expected the JSON object lathe-run bench prints"));
      return NULL;
    }
  in = json_node_get_object (root);
  json_builder_begin_object (b);
  for (guint i = 0; i < G_N_ELEMENTS (bench_strings); i++)
    {
      const char *s = lathe_json_member_string (in, bench_strings[i]);
      if (s == NULL)
        continue;
      json_builder_set_member_name (b, bench_strings[i]);
      json_builder_add_string_value (b, s);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bench_speeds); i++)
    if (!copy_speed (in, bench_speeds[i], b, origin, error))
      return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (bench_numbers); i++)
    {
      const BenchField *f = &bench_numbers[i];
      if (!json_object_has_member (in, f->key) && !f->required)
        continue;
      if (!lathe_json_member_finite (in, f->key, &v) || v < f->lo || v > f->hi)
        {
          g_autofree char *what = g_strdup_printf (_("expected a number from %g to %g"), f->lo, f->hi);
          bench_bad (error, origin, f->key, what);
          return NULL;
        }
      json_builder_set_member_name (b, f->key);
      if (v == floor (v) && fabs (v) < 9e15)
        json_builder_add_int_value (b, (gint64) v);
      else
        json_builder_add_double_value (b, v);
    }
  if (json_object_has_member (in, "routing"))
    {
      json_builder_set_member_name (b, "routing");
      if (!copy_counts (json_object_get_member (in, "routing"), b, 1))
        {
          bench_bad (error, origin, "routing", _("expected lists of counts per layer"));
          return NULL;
        }
    }
  if (json_object_has_member (in, "exit_histogram"))
    {
      json_builder_set_member_name (b, "exit_histogram");
      if (!copy_counts (json_object_get_member (in, "exit_histogram"), b, 0))
        {
          bench_bad (error, origin, "exit_histogram", _("expected a list of counts"));
          return NULL;
        }
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

JsonNode *
lathe_runner_bench (const char *model_path, const LatheBenchOptions *o, GCancellable *cancellable,
                    GError **error)
{
  g_autofree char *runner = lathe_runner_find (error);
  g_autofree char *p = NULL, *n = NULL, *r = NULL, *t = NULL, *out = NULL, *err_text = NULL;
  g_autoptr (GPtrArray) argv = NULL;
  gboolean ok = FALSE;

  if (runner == NULL)
    return NULL;
  p = g_strdup_printf ("%d", o->n_prompt);
  n = g_strdup_printf ("%d", o->n_gen);
  r = g_strdup_printf ("%d", o->reps);
  t = g_strdup_printf ("%d", o->n_threads);
  argv = g_ptr_array_new ();
  g_ptr_array_add (argv, runner);
  add_args (argv, "bench", "-m", model_path, "-p", p, "-n", n, "-r", r, "--json", "--no-bandwidth", NULL);
  if (o->n_threads > 0)
    add_args (argv, "-t", t, NULL);
  g_ptr_array_add (argv, NULL);
  if (!lathe_run_here ((const char *const *) argv->pdata, cancellable, &out, &err_text, &ok, error))
    return NULL;
  if (!ok)
    {
      g_autofree char *msg = last_line (err_text);
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: the speed test failed: %s"), model_path, msg);
      return NULL;
    }
  return lathe_bench_parse (out, -1, runner, error);
}
