/* SPDX-License-Identifier: MIT */
/* Commands and copies on a device through the system's OpenSSH client, so
 * that the user's config, agent, ProxyJump and known_hosts all apply. Host
 * keys are checked: an unknown one is refused unless accepting new keys was
 * asked for. Arguments reach the remote shell quoted. Failures come back
 * as GIOErrors that say what happened (refused host key or login, nothing
 * listening, unreachable, connection lost). */
#pragma once

#include <gio/gio.h>

#include "lathe-device.h"

G_BEGIN_DECLS

#define LATHE_SSH_ERROR (lathe_ssh_error_quark ())

typedef enum
{
  /* The device's host key is not in known_hosts: ask the user about its
   * fingerprint (lathe_ssh_scan_host_key), then trust it. */
  LATHE_SSH_ERROR_HOST_KEY_UNKNOWN = 1,
} LatheSshError;

GQuark lathe_ssh_error_quark (void);

typedef struct
{
  gboolean accept_new_host_key; /* StrictHostKeyChecking=accept-new (never a changed key) */
  int connect_timeout;          /* seconds */
  int alive_interval;           /* seconds between keep-alives; 3 missed: connection lost */
  int run_timeout;              /* seconds a guarded command may run (0: no limit; an hour by default) */
  gsize max_output;             /* bytes kept of each output stream (0: LATHE_SSH_OUTPUT_LIMIT) */
} LatheSshOptions;

/* What a command on a device may print on each stream before it is
 * stopped: far more than any of Lathe's own commands print. */
#define LATHE_SSH_OUTPUT_LIMIT ((gsize) 16 << 20)

void lathe_ssh_options_init (LatheSshOptions *o);

/* The argv of ssh (program "ssh") or scp ("scp") for the device, before
 * the destination and command. */
GPtrArray *lathe_ssh_base_argv (LatheDevice *device, const char *program, const LatheSshOptions *o);

/* Runs argv on the device. input: fed to its standard input (NULL: none).
 * out/err receive its output (may be NULL); status its exit status. FALSE
 * with an error only when ssh itself failed (the connection, the login);
 * a command that fails is TRUE with a non-zero status. */
gboolean lathe_ssh_run (LatheDevice *device, const char *const *argv, GBytes *input, const LatheSshOptions *o,
                        GCancellable *cancellable, char **out, char **err, int *status, GError **error);

/* A line the command wrote to its standard error, as it comes. */
typedef void (*LatheSshLine) (gpointer user, const char *line);

/* The same for a command that may run long: when the connection drops or
 * the run is cancelled, the command on the device is killed too. Lines of
 * its standard error starting with line_prefix go to on_line as they come
 * (and not to *err). A command that runs longer than o->run_timeout, or
 * prints more than the output bound, is stopped there with an error. */
gboolean lathe_ssh_run_guarded (LatheDevice *device, const char *const *argv, const LatheSshOptions *o,
                                const char *line_prefix, LatheSshLine on_line, gpointer user,
                                GCancellable *cancellable, char **out, char **err, int *status, GError **error);

/* Copies a local file to remote_path on the device. */
gboolean lathe_ssh_copy_to (LatheDevice *device, const char *local_path, const char *remote_path,
                            const LatheSshOptions *o, GCancellable *cancellable, GError **error);

/* Connects once to learn the device's host key without trusting it.
 * Returns its known_hosts lines (for lathe_ssh_trust_host_key); *fingerprint
 * gets what the user compares, a line per key ("SHA256:… (ED25519)"). */
char *lathe_ssh_scan_host_key (LatheDevice *device, const LatheSshOptions *o, char **fingerprint,
                               GCancellable *cancellable, GError **error);
/* Adds known_hosts lines from lathe_ssh_scan_host_key to the known_hosts
 * file ssh uses for the device (its UserKnownHostsFile). */
gboolean lathe_ssh_trust_host_key (LatheDevice *device, const char *entries, GCancellable *cancellable,
                                   GError **error);

/* argv as one shell command line, every argument quoted. */
char *lathe_shell_join (const char *const *argv);

G_END_DECLS
