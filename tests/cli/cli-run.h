/* SPDX-License-Identifier: MIT */
/* Running lathe-cli and lathe-run as a user does, for the command-line tests. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *out;
  char *err;
  int status; /* the exit status; 128 + the signal when killed */
} Run;

void run_clear (Run *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

/* Runs the program named by the environment variable prog_env with the
 * arguments that follow (NULL-terminated) and waits for it. */
void run (Run *r, const char *prog_env, ...) G_GNUC_NULL_TERMINATED;
/* The same with argv (NULL-terminated) after the program. */
void run_argv (Run *r, const char *prog_env, const char *const *args);

G_END_DECLS
