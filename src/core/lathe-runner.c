/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-runner"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <stdarg.h>

#include "lathe-error.h"
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

JsonNode *
lathe_runner_bench (const char *model_path, const LatheBenchOptions *o, GCancellable *cancellable,
                    GError **error)
{
  g_autofree char *runner = lathe_runner_find (error);
  g_autofree char *p = NULL, *n = NULL, *r = NULL, *t = NULL, *out = NULL, *err_text = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GPtrArray) argv = NULL;
  gboolean ok = FALSE;
  JsonNode *root;

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
  if (!json_parser_load_from_data (parser, out, -1, NULL)
      || (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: lathe-run bench printed no JSON object"),
                   runner);
      return NULL;
    }
  return json_node_copy (root);
}
