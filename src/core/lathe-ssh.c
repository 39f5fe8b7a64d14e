/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-ssh"

#include "config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <glib/gi18n-lib.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "lathe-io.h"
#include "lathe-runner.h"
#include "lathe-ssh-private.h"
#include "lathe-ssh.h"

G_DEFINE_QUARK (lathe-ssh-error-quark, lathe_ssh_error)

void
lathe_ssh_options_init (LatheSshOptions *o)
{
  o->accept_new_host_key = FALSE;
  o->connect_timeout = 10;
  o->alive_interval = 5;
  o->run_timeout = 3600;
  o->max_output = 0;
}

static void
add (GPtrArray *argv, const char *arg)
{
  g_ptr_array_add (argv, g_strdup (arg));
}

static void
add_option (GPtrArray *argv, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
add_option (GPtrArray *argv, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  add (argv, "-o");
  g_ptr_array_add (argv, g_strdup_vprintf (fmt, ap));
  va_end (ap);
}

GPtrArray *
lathe_ssh_base_argv (LatheDevice *d, const char *program, const LatheSshOptions *o)
{
  GPtrArray *argv = g_ptr_array_new_with_free_func (g_free);
  const gboolean scp = g_strcmp0 (program, "scp") == 0;

  add (argv, program);
  if (lathe_device_get_ssh_config (d) != NULL)
    {
      add (argv, "-F");
      add (argv, lathe_device_get_ssh_config (d));
    }
  /* Never a password prompt: keys and the agent only. */
  add_option (argv, "BatchMode=yes");
  add_option (argv, "StrictHostKeyChecking=%s", o->accept_new_host_key ? "accept-new" : "yes");
  add_option (argv, "ConnectTimeout=%d", o->connect_timeout);
  add_option (argv, "ServerAliveInterval=%d", o->alive_interval);
  add_option (argv, "ServerAliveCountMax=3");
  if (lathe_device_get_port (d) > 0)
    {
      add (argv, scp ? "-P" : "-p");
      g_ptr_array_add (argv, g_strdup_printf ("%d", lathe_device_get_port (d)));
    }
  if (lathe_device_get_user (d) != NULL)
    add_option (argv, "User=%s", lathe_device_get_user (d));
  if (lathe_device_get_identity (d) != NULL)
    {
      add (argv, "-i");
      add (argv, lathe_device_get_identity (d));
      add_option (argv, "IdentitiesOnly=yes");
    }
  if (scp)
    add (argv, "-q");
  return argv;
}

char *
lathe_shell_join (const char *const *argv)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; argv[i] != NULL; i++)
    {
      g_autofree char *q = g_shell_quote (argv[i]);
      if (i > 0)
        g_string_append_c (s, ' ');
      g_string_append (s, q);
    }
  return g_string_free (s, FALSE);
}

/* The last line ssh wrote: its reason. */
static char *
last_line (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text != NULL ? text : "", "\n", -1);

  for (int i = (int) g_strv_length (lines) - 1; i >= 0; i--)
    if (*g_strstrip (lines[i]) != '\0')
      return g_strdup (lines[i]);
  return g_strdup (_("no message"));
}

/* ssh exits 255 when it, not the command, failed: say what happened. */
static void
ssh_failed (GError **error, LatheDevice *d, const char *err)
{
  g_autofree char *why = last_line (err);
  const char *name = lathe_device_get_name (d);
  const char *dest = lathe_device_get_destination (d);

  if (strstr (err, "IDENTIFICATION HAS CHANGED") != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                 _("%s (%s): the host key has CHANGED since it was last seen: refused (check the device; if it "
                   "was reinstalled, remove the old key with ssh-keygen -R)"), name, dest);
  else if (strstr (err, "Host key verification failed") != NULL)
    g_set_error (error, LATHE_SSH_ERROR, LATHE_SSH_ERROR_HOST_KEY_UNKNOWN,
                 _("%s (%s): its host key is not known: refused (check its fingerprint, then accept it once)"),
                 name, dest);
  else if (strstr (err, "Permission denied") != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, _("%s (%s): the login was refused: %s"), name,
                 dest, why);
  else if (strstr (err, "Connection refused") != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED,
                 _("%s (%s): nothing listens for SSH there (is the device up, sshd running?): %s"), name, dest,
                 why);
  else if (strstr (err, "timed out") != NULL || strstr (err, "No route to host") != NULL
           || strstr (err, "Network is unreachable") != NULL || strstr (err, "Could not resolve") != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE, _("%s (%s): unreachable: %s"), name, dest, why);
  else if (strstr (err, "closed") != NULL || strstr (err, "Broken pipe") != NULL
           || strstr (err, "not responding") != NULL || strstr (err, "reset") != NULL || *err == '\0')
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, _("%s (%s): the connection was lost: %s"), name,
                 dest, why);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s (%s): ssh failed: %s"), name, dest, why);
}

static gboolean
finish (GSubprocess *proc, LatheDevice *d, const char *err_text, int *status, GError **error)
{
  const int code = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : 255;

  if (code == 255)
    {
      ssh_failed (error, d, err_text != NULL ? err_text : "");
      return FALSE;
    }
  if (status != NULL)
    *status = code;
  return TRUE;
}

static GPtrArray *
command_argv (LatheDevice *d, const char *const *argv, const LatheSshOptions *o)
{
  GPtrArray *full = lathe_ssh_base_argv (d, "ssh", o);
  g_autofree char *line = lathe_shell_join (argv);

  /* "--" ends ssh's options: the destination cannot pass for one. */
  add (full, "--");
  add (full, lathe_device_get_destination (d));
  g_ptr_array_add (full, g_steal_pointer (&line));
  g_ptr_array_add (full, NULL);
  return full;
}

/* Output from a device is read as it comes and kept up to a bound: past
 * it (a device that prints without end) the connection is dropped, which
 * ends a guarded command there too. */
typedef struct
{
  GInputStream *in;
  GSubprocess *proc;
  gsize limit;
  GString *text;
  gboolean over;
} Drain;

static gpointer
drain_thread (gpointer data)
{
  Drain *d = data;
  char buf[16384];
  gssize n;

  while ((n = g_input_stream_read (d->in, buf, sizeof buf, NULL, NULL)) > 0)
    {
      if (d->text->len + (gsize) n > d->limit)
        {
          d->over = TRUE;
          g_subprocess_force_exit (d->proc);
          break;
        }
      g_string_append_len (d->text, buf, n);
    }
  return NULL;
}

static GThread *
drain_start (Drain *d, GInputStream *in, GSubprocess *proc, gsize limit)
{
  d->in = in;
  d->proc = proc;
  d->limit = limit;
  d->text = g_string_new (NULL);
  d->over = FALSE;
  return g_thread_new ("lathe-ssh-out", drain_thread, d);
}

/* What was read, to the caller (or dropped when to is NULL). */
static void
hand_over (Drain *d, char **to)
{
  if (to != NULL)
    *to = g_string_free (d->text, FALSE);
  else
    g_string_free (d->text, TRUE);
}

static gsize
output_limit (const LatheSshOptions *o)
{
  return o->max_output > 0 ? o->max_output : LATHE_SSH_OUTPUT_LIMIT;
}

/* Cancelling kills ssh (and so, for a guarded command, the command). */
static void
cancelled_cb (GCancellable *cancellable, gpointer proc)
{
  g_subprocess_force_exit (proc);
}

/* Kills ssh once a run has taken longer than allowed. */
typedef struct
{
  GMutex lock;
  GCond cond;
  GSubprocess *proc;
  gint64 deadline;
  gboolean done, fired;
  GThread *thread;
} Watchdog;

static gpointer
watchdog_thread (gpointer data)
{
  Watchdog *w = data;

  g_mutex_lock (&w->lock);
  while (!w->done)
    if (!g_cond_wait_until (&w->cond, &w->lock, w->deadline) && !w->done)
      {
        w->fired = TRUE;
        g_subprocess_force_exit (w->proc);
        break;
      }
  g_mutex_unlock (&w->lock);
  return NULL;
}

static void
watchdog_start (Watchdog *w, GSubprocess *proc, int seconds)
{
  g_mutex_init (&w->lock);
  g_cond_init (&w->cond);
  w->proc = proc;
  w->done = w->fired = FALSE;
  w->deadline = g_get_monotonic_time () + (gint64) seconds * G_TIME_SPAN_SECOND;
  w->thread = seconds > 0 ? g_thread_new ("lathe-ssh-timeout", watchdog_thread, w) : NULL;
}

static gboolean
watchdog_stop (Watchdog *w)
{
  g_mutex_lock (&w->lock);
  w->done = TRUE;
  g_cond_signal (&w->cond);
  g_mutex_unlock (&w->lock);
  if (w->thread != NULL)
    g_thread_join (w->thread);
  g_mutex_clear (&w->lock);
  g_cond_clear (&w->cond);
  return w->fired;
}

/* Why a run ended early, if it did: cancelled, too long, or too much
 * output. */
static gboolean
ended_early (LatheDevice *d, GCancellable *cancellable, gboolean timed_out, int timeout, const Drain *out,
             const Drain *err, GError **error)
{
  const char *name = lathe_device_get_name (d);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return TRUE;
  if (timed_out)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                   _("%s: the command had not ended after %d s: stopped (it was killed on the device)"), name,
                   timeout);
      return TRUE;
    }
  if (out->over || (err != NULL && err->over))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   _("%s: the command printed more than %" G_GSIZE_FORMAT " MiB on its %s: stopped"), name,
                   out->limit >> 20, out->over ? _("standard output") : _("standard error"));
      return TRUE;
    }
  return FALSE;
}

/* Feeds a command its input. A command that does not read all of it (or
 * was stopped) is its own business: the broken pipe's signal is held
 * back from this thread and taken, instead of ending the program. */
static void
write_input (GOutputStream *in, const void *data, gsize n)
{
  sigset_t pipe_set, old;
  const struct timespec zero = { 0, 0 };

  sigemptyset (&pipe_set);
  sigaddset (&pipe_set, SIGPIPE);
  pthread_sigmask (SIG_BLOCK, &pipe_set, &old);
  g_output_stream_write_all (in, data, n, NULL, NULL, NULL);
  g_output_stream_close (in, NULL, NULL);
  while (sigtimedwait (&pipe_set, NULL, &zero) == SIGPIPE)
    ;
  pthread_sigmask (SIG_SETMASK, &old, NULL);
}

gboolean
lathe_ssh_run (LatheDevice *d, const char *const *argv, GBytes *input, const LatheSshOptions *o,
               GCancellable *cancellable, char **out, char **err, int *status, GError **error)
{
  g_autoptr (GPtrArray) full = command_argv (d, argv, o);
  g_autoptr (GSubprocess) proc = NULL;
  GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE;
  Drain dout, derr;
  GThread *tout, *terr;
  gulong handler;
  gboolean ok;

  flags |= input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_NONE;
  if ((proc = g_subprocess_newv ((const char *const *) full->pdata, flags, error)) == NULL)
    return FALSE;
  handler = cancellable != NULL ? g_cancellable_connect (cancellable, G_CALLBACK (cancelled_cb), proc, NULL) : 0;
  tout = drain_start (&dout, g_subprocess_get_stdout_pipe (proc), proc, output_limit (o));
  terr = drain_start (&derr, g_subprocess_get_stderr_pipe (proc), proc, output_limit (o));
  if (input != NULL)
    {
      GOutputStream *in = g_subprocess_get_stdin_pipe (proc);
      gsize n = 0;
      const void *data = g_bytes_get_data (input, &n);
      write_input (in, data, n);
    }
  g_thread_join (tout);
  g_thread_join (terr);
  g_subprocess_wait (proc, NULL, NULL);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, handler);
  ok = !ended_early (d, cancellable, FALSE, 0, &dout, &derr, error) && finish (proc, d, derr.text->str, status, error);
  hand_over (&dout, ok ? out : NULL);
  hand_over (&derr, ok ? err : NULL);
  return ok;
}

/* On the device: run the command with no input; a watcher reads the
 * connection's input, which only ends when the connection does, and then
 * kills the command. */
static const char guard_script[] =
  "exec 3<&0\n"
  "\"$@\" </dev/null 3<&- & p=$!\n"
  /* An asynchronous list reads /dev/null unless told otherwise: fd 3 is
   * the connection. */
  "(cat <&3 >/dev/null; kill -TERM $p 2>/dev/null; sleep 1; kill -KILL $p 2>/dev/null) & w=$!\n"
  "exec 3<&-\n"
  "wait $p; s=$?\n"
  "kill $w 2>/dev/null\n"
  "exit $s\n";

/* A line longer than this is cut there (the rest is its own line). */
#define LINE_MAX_BYTES 65536

static void
take_line (const char *line, const char *prefix, LatheSshLine on_line, gpointer user, Drain *err)
{
  if (on_line != NULL && prefix != NULL && g_str_has_prefix (line, prefix))
    {
      if (g_utf8_validate (line, -1, NULL))
        on_line (user, line + strlen (prefix));
      return;
    }
  if (err->text->len + strlen (line) + 1 > err->limit)
    {
      err->over = TRUE;
      g_subprocess_force_exit (err->proc);
      return;
    }
  g_string_append (err->text, line);
  g_string_append_c (err->text, '\n');
}

/* Reads the command's standard error to its end, handing on progress
 * lines as they come. */
static void
read_lines (Drain *err, const char *prefix, LatheSshLine on_line, gpointer user)
{
  g_autoptr (GString) pending = g_string_new (NULL);
  char buf[16384];
  gssize n;

  while (!err->over && (n = g_input_stream_read (err->in, buf, sizeof buf, NULL, NULL)) > 0)
    {
      gsize start = 0;
      g_string_append_len (pending, buf, n);
      /* Every whole line of what came, then what is left kept once. */
      while (!err->over && start < pending->len)
        {
          const char *nl = memchr (pending->str + start, '\n', pending->len - start);
          const gsize len = nl != NULL ? (gsize) (nl - (pending->str + start)) : pending->len - start;
          g_autofree char *line = NULL;
          if (nl == NULL && len < LINE_MAX_BYTES)
            break;
          line = g_strndup (pending->str + start, MIN (len, LINE_MAX_BYTES));
          take_line (line, prefix, on_line, user, err);
          start += nl != NULL && len <= LINE_MAX_BYTES ? len + 1 : MIN (len, LINE_MAX_BYTES);
        }
      g_string_erase (pending, 0, (gssize) start);
    }
  if (!err->over && pending->len > 0)
    take_line (pending->str, prefix, on_line, user, err);
}

gboolean
lathe_ssh_run_guarded (LatheDevice *d, const char *const *argv, const LatheSshOptions *o, const char *line_prefix,
                       LatheSshLine on_line, gpointer user, GCancellable *cancellable, char **out, char **err,
                       int *status, GError **error)
{
  g_autoptr (GPtrArray) wrapped = g_ptr_array_new ();
  g_autoptr (GPtrArray) full = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  Drain dout, derr = { 0 };
  Watchdog watchdog;
  GThread *tout;
  gboolean ok, timed_out;
  gulong handler;
  int fds[2];

  g_ptr_array_add (wrapped, (gpointer) "sh");
  g_ptr_array_add (wrapped, (gpointer) "-c");
  g_ptr_array_add (wrapped, (gpointer) guard_script);
  g_ptr_array_add (wrapped, (gpointer) "lathe-guard");
  for (guint i = 0; argv[i] != NULL; i++)
    g_ptr_array_add (wrapped, (gpointer) argv[i]);
  g_ptr_array_add (wrapped, NULL);
  full = command_argv (d, (const char *const *) wrapped->pdata, o);
  /* The connection's input: held open until the command ends. */
  if (!g_unix_open_pipe (fds, FD_CLOEXEC, error))
    return FALSE;
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_take_stdin_fd (launcher, fds[0]);
  proc = g_subprocess_launcher_spawnv (launcher, (const char *const *) full->pdata, error);
  if (proc == NULL)
    {
      close (fds[1]);
      return FALSE;
    }
  handler = cancellable != NULL ? g_cancellable_connect (cancellable, G_CALLBACK (cancelled_cb), proc, NULL) : 0;
  watchdog_start (&watchdog, proc, o->run_timeout);
  tout = drain_start (&dout, g_subprocess_get_stdout_pipe (proc), proc, output_limit (o));
  derr.in = g_subprocess_get_stderr_pipe (proc);
  derr.proc = proc;
  derr.limit = output_limit (o);
  derr.text = g_string_new (NULL);
  read_lines (&derr, line_prefix, on_line, user);
  g_thread_join (tout);
  g_subprocess_wait (proc, NULL, NULL);
  timed_out = watchdog_stop (&watchdog);
  if (cancellable != NULL)
    g_cancellable_disconnect (cancellable, handler);
  close (fds[1]);
  ok = !ended_early (d, cancellable, timed_out, o->run_timeout, &dout, &derr, error)
       && finish (proc, d, derr.text->str, status, error);
  hand_over (&dout, ok ? out : NULL);
  hand_over (&derr, ok ? err : NULL);
  return ok;
}

gboolean
lathe_ssh_copy_to (LatheDevice *d, const char *local_path, const char *remote_path, const LatheSshOptions *o,
                   GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) argv = lathe_ssh_base_argv (d, "scp", o);
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *err_text = NULL, *target = NULL;

  /* scp reads the remote path itself (SFTP): no shell quoting, but a
   * leading '-' or a ':' in the local name must not be misread. */
  add (argv, "--");
  g_ptr_array_add (argv, g_path_is_absolute (local_path) ? g_strdup (local_path)
                                                         : g_strconcat ("./", local_path, NULL));
  target = g_strdup_printf ("%s:%s", lathe_device_get_destination (d), remote_path);
  g_ptr_array_add (argv, g_steal_pointer (&target));
  g_ptr_array_add (argv, NULL);
  if ((proc = g_subprocess_newv ((const char *const *) argv->pdata,
                                 G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE, error)) == NULL)
    return FALSE;
  if (!g_subprocess_communicate_utf8 (proc, NULL, cancellable, NULL, &err_text, error))
    {
      g_subprocess_force_exit (proc);
      g_subprocess_wait (proc, NULL, NULL);
      return FALSE;
    }
  if (g_subprocess_get_if_exited (proc) && g_subprocess_get_exit_status (proc) == 0)
    return TRUE;
  if (err_text != NULL && (strstr (err_text, "No space left") != NULL || strstr (err_text, "quota") != NULL))
    {
      g_autofree char *why = last_line (err_text);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, _("%s: the device's disk is full: %s"),
                   lathe_device_get_name (d), why);
      return FALSE;
    }
  ssh_failed (error, d, err_text != NULL ? err_text : "");
  return FALSE;
}

/* Host keys ------------------------------------------------------------------ */

/* lathe_run_here of an argv array (NULL-terminated here). */
static gboolean
run_here (GPtrArray *argv, GCancellable *cancellable, char **out, char **err, gboolean *ok, GError **error)
{
  g_ptr_array_add (argv, NULL);
  return lathe_run_here ((const char *const *) argv->pdata, cancellable, out, err, ok, error);
}

/* "256 SHA256:abc… host (ED25519)" lines of ssh-keygen -l → "SHA256:abc… (ED25519)". */
char *
lathe_ssh_parse_fingerprints (const char *listing)
{
  g_auto (GStrv) lines = g_strsplit (listing, "\n", -1);
  GString *s = g_string_new (NULL);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) f = g_strsplit_set (g_strstrip (lines[i]), " \t", -1);
      const guint n = g_strv_length (f);
      if (n < 3 || !g_str_has_prefix (f[1], "SHA256:"))
        continue;
      g_string_append_printf (s, "%s%s %s", s->len ? "\n" : "", f[1], f[n - 1]);
    }
  return g_string_free (s, FALSE);
}

char *
lathe_ssh_scan_host_key (LatheDevice *d, const LatheSshOptions *o, char **fingerprint,
                         GCancellable *cancellable, GError **error)
{
  LatheSshOptions scan = *o;
  g_autoptr (GPtrArray) argv = NULL, keygen = NULL;
  g_autofree char *dir = NULL, *file = NULL, *err = NULL, *entries = NULL, *listing = NULL;
  gboolean ok = FALSE;
  char *result = NULL;

  if ((dir = g_dir_make_tmp ("lathe-hostkey-XXXXXX", error)) == NULL)
    return NULL;
  file = g_build_filename (dir, "known_hosts", NULL);
  /* ssh records the key in a file of our own, trusting nothing yet: the
   * login that follows may fail, the key is written before it. */
  scan.accept_new_host_key = TRUE;
  argv = lathe_ssh_base_argv (d, "ssh", &scan);
  add_option (argv, "UserKnownHostsFile=%s", file);
  add_option (argv, "GlobalKnownHostsFile=/dev/null");
  add_option (argv, "UpdateHostKeys=no");
  add_option (argv, "CheckHostIP=no");
  add (argv, "--");
  add (argv, lathe_device_get_destination (d));
  add (argv, "exit 0");
  if (!run_here (argv, cancellable, NULL, &err, &ok, error))
    goto out;
  /* What the device sent: a few keys, never more than a bound. */
  if ((entries = lathe_file_read_bounded (file, 1 << 20, NULL, NULL)) == NULL
      || !g_utf8_validate (entries, -1, NULL) || *g_strstrip (entries) == '\0')
    {
      ssh_failed (error, d, err != NULL ? err : "");
      goto out;
    }
  keygen = g_ptr_array_new_with_free_func (g_free);
  add (keygen, "ssh-keygen");
  add (keygen, "-l");
  add (keygen, "-f");
  add (keygen, file);
  if (!run_here (keygen, cancellable, &listing, NULL, &ok, error))
    goto out;
  if (!ok)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: ssh-keygen could not read the host key it sent"),
                   lathe_device_get_name (d));
      goto out;
    }
  if (fingerprint != NULL)
    *fingerprint = lathe_ssh_parse_fingerprints (listing);
  result = g_strconcat (entries, "\n", NULL);
out:
  if (file != NULL)
    g_unlink (file);
  g_rmdir (dir);
  return result;
}

char *
lathe_ssh_parse_known_hosts_file (const char *config)
{
  g_auto (GStrv) lines = g_strsplit (config, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "userknownhostsfile "))
      {
        g_auto (GStrv) f = g_strsplit (lines[i] + strlen ("userknownhostsfile "), " ", 2);
        if (f[0] == NULL || *f[0] == '\0')
          return NULL;
        if (g_str_has_prefix (f[0], "~/"))
          return g_build_filename (g_get_home_dir (), f[0] + 2, NULL);
        return g_strdup (f[0]);
      }
  return NULL;
}

/* The first UserKnownHostsFile ssh -G reports for the device. */
static char *
known_hosts_file_of (LatheDevice *d, GCancellable *cancellable, GError **error)
{
  LatheSshOptions o;
  g_autoptr (GPtrArray) argv = NULL;
  g_autofree char *out = NULL, *err = NULL;
  gboolean ok = FALSE;

  lathe_ssh_options_init (&o);
  argv = lathe_ssh_base_argv (d, "ssh", &o);
  add (argv, "-G");
  add (argv, "--");
  add (argv, lathe_device_get_destination (d));
  char *path;

  if (!run_here (argv, cancellable, &out, &err, &ok, error))
    return NULL;
  if ((path = lathe_ssh_parse_known_hosts_file (ok ? out : "")) != NULL)
    return path;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: ssh -G names no known_hosts file: %s"),
               lathe_device_get_name (d), err != NULL ? err : "");
  return NULL;
}

gboolean
lathe_ssh_trust_host_key (LatheDevice *d, const char *entries, GCancellable *cancellable, GError **error)
{
  g_autofree char *path = known_hosts_file_of (d, cancellable, error);
  g_autofree char *old = NULL, *folder = NULL;
  g_autoptr (GString) text = NULL;
  gsize len = 0;

  if (path == NULL)
    return FALSE;
  folder = g_path_get_dirname (path);
  if (g_mkdir_with_parents (folder, 0700) != 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), _("%s: cannot make the folder: %s"), folder,
                   g_strerror (e));
      return FALSE;
    }
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    old = g_strdup ("");
  else if ((old = lathe_file_read_bounded (path, 64 << 20, &len, error)) == NULL)
    return FALSE;
  text = g_string_new (old);
  if (text->len > 0 && text->str[text->len - 1] != '\n')
    g_string_append_c (text, '\n');
  g_string_append (text, entries);
  /* A new file renamed into place: an interrupted write loses no key. */
  return lathe_file_write_atomic_mode (path, text->str, (gssize) text->len, 0600, error);
}
