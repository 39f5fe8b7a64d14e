/* SPDX-License-Identifier: MIT */
#include <sys/wait.h>

#include "cli-run.h"

void
run_clear (Run *r)
{
  g_free (r->out);
  g_free (r->err);
}

void
run_argv (Run *r, const char *prog_env, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  const char *prog = g_getenv (prog_env);
  int wait_status = 0;

  g_assert_nonnull (prog);
  g_ptr_array_add (argv, (gpointer) prog);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &r->out, &r->err,
                &wait_status, &error);
  g_assert_no_error (error);
  r->status = WIFEXITED (wait_status) ? WEXITSTATUS (wait_status) : 128 + WTERMSIG (wait_status);
}

void
run (Run *r, const char *prog_env, ...)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  va_list ap;
  const char *a;

  va_start (ap, prog_env);
  while ((a = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  run_argv (r, prog_env, (const char *const *) args->pdata);
}
