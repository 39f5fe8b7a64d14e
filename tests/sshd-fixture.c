/* SPDX-License-Identifier: MIT */

#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <unistd.h>

#include "lathe-test.h"
#include "sshd-fixture.h"


char *
sshd_fixture_sh (const char *fmt, ...)
{
  va_list ap;
  g_autofree char *cmd = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  char *out = NULL;
  int status = 0;

  va_start (ap, fmt);
  cmd = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  {
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  }
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("`%s` failed: %s", cmd, err);
  return out;
}

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static int
free_port (void)
{
  g_autoptr (GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  int port;

  g_assert_true (g_socket_bind (s, any, TRUE, NULL));
  bound = g_socket_get_local_address (s, NULL);
  port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
  g_socket_close (s, NULL);
  return port;
}

static void
write_file (const char *path, const char *text)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (path, text, -1, &error);
  g_assert_no_error (error);
}

gboolean
sshd_fixture_start (SshdFixture *f, const char *name)
{
  g_autofree char *sshd_text = NULL, *client = NULL, *key_pub = NULL, *pid = NULL, *host_key = NULL;
  g_autofree char *authorized = NULL, *id = NULL, *line = NULL;
  g_autoptr (GDataInputStream) log = NULL;
  g_autoptr (GError) error = NULL;

  memset (f, 0, sizeof *f);
  /* One user per test program, so that test programs may run side by side. */
  {
    g_autofree char *prog = g_path_get_basename (g_get_prgname () != NULL ? g_get_prgname () : "test");
    f->user = g_strdup_printf ("lathe-%s", prog);
  }
  g_autofree char *ssh = g_find_program_in_path ("ssh");

  if (geteuid () != 0 || !g_file_test ("/usr/sbin/sshd", G_FILE_TEST_IS_EXECUTABLE) || ssh == NULL)
    {
      g_test_skip ("needs root and OpenSSH (sshd, ssh) to start a test device");
      g_clear_pointer (&f->user, g_free);
      return FALSE;
    }
  f->dir = g_build_filename (lathe_test_tmpdir (), name, NULL);
  f->home = g_build_filename (f->dir, "home", NULL);
  g_assert_cmpint (g_mkdir_with_parents (f->home, 0755), ==, 0);
  /* The test user must reach its home and keys below the test's folder. */
  g_chmod (lathe_test_tmpdir (), 0755);
  g_free (sshd_fixture_sh ("id -u %s >/dev/null 2>&1 || useradd -M -s /bin/sh %s; usermod -p '*' -d '%s' %s; "
                           "chown %s '%s'; mkdir -p /run/sshd",
                           f->user, f->user, f->home, f->user, f->user, f->home));
  host_key = g_build_filename (f->dir, "host_key", NULL);
  id = g_build_filename (f->dir, "id_ed25519", NULL);
  g_free (sshd_fixture_sh ("ssh-keygen -q -t ed25519 -N '' -f '%s' && ssh-keygen -q -t ed25519 -N '' -f '%s'",
                           host_key, id));
  authorized = g_build_filename (f->dir, "authorized_keys", NULL);
  key_pub = g_strdup_printf ("%s.pub", id);
  g_free (sshd_fixture_sh ("cp '%s' '%s' && chmod 644 '%s'", key_pub, authorized, authorized));
  f->port = free_port ();
  f->config = g_build_filename (f->dir, "sshd_config", NULL);
  pid = g_build_filename (f->dir, "sshd.pid", NULL);
  sshd_text = g_strdup_printf ("Port %d\nListenAddress 127.0.0.1\nHostKey %s\nPidFile %s\nUsePAM no\n"
                               "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                               "PubkeyAuthentication yes\nAuthorizedKeysFile %s\nStrictModes no\n"
                               "AllowUsers %s\nSubsystem sftp internal-sftp\nClientAliveInterval 2\n",
                               f->port, host_key, pid, authorized, f->user);
  write_file (f->config, sshd_text);
  f->known_hosts = g_build_filename (f->dir, "known_hosts", NULL);
  /* The host key is known, as after a first visit. */
  {
    g_autofree char *host_pub = g_strdup_printf ("%s.pub", host_key);
    g_autofree char *pub = NULL;
    g_autofree char *entry = NULL;
    g_assert_true (g_file_get_contents (host_pub, &pub, NULL, NULL));
    entry = g_strdup_printf ("[127.0.0.1]:%d %s", f->port, pub);
    write_file (f->known_hosts, entry);
  }
  f->ssh_config = g_build_filename (f->dir, "ssh_config", NULL);
  client = g_strdup_printf ("Host dev\n  HostName 127.0.0.1\n  Port %d\n  User %s\n  IdentityFile %s\n"
                            "  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n"
                            "  LogLevel ERROR\n",
                            f->port, f->user, id, f->known_hosts);
  write_file (f->ssh_config, client);
  {
    const char *argv[] = { "/usr/sbin/sshd", "-D", "-e", "-f", f->config, NULL };
    /* Nothing of sshd holds the test's output open (meson waits for it to
     * close), and sshd dies with a test that fails. */
    g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
    f->sshd = g_subprocess_launcher_spawnv (launcher, argv, &error);
  }
  g_assert_no_error (error);
  log = g_data_input_stream_new (g_subprocess_get_stderr_pipe (f->sshd));
  while ((line = g_data_input_stream_read_line_utf8 (log, NULL, NULL, &error)) != NULL)
    {
      if (strstr (line, "Server listening") != NULL)
        break;
      g_test_message ("sshd: %s", line);
      g_clear_pointer (&line, g_free);
    }
  g_assert_nonnull (line);
  return TRUE;
}

void
sshd_fixture_kill (SshdFixture *f)
{
  if (f->sshd == NULL)
    return;
  g_subprocess_send_signal (f->sshd, SIGKILL);
  g_subprocess_wait (f->sshd, NULL, NULL);
  g_clear_object (&f->sshd);
  /* The per-connection sshd processes: the listener's children live on. */
  g_free (sshd_fixture_sh ("pkill -KILL -f '^sshd(-session)?: %s[ @]' || true", f->user));
}

void
sshd_fixture_stop (SshdFixture *f)
{
  sshd_fixture_kill (f);
  g_free (sshd_fixture_sh ("pkill -KILL -u %s || true", f->user));
  g_free (f->dir);
  g_free (f->home);
  g_free (f->ssh_config);
  g_free (f->known_hosts);
  g_free (f->config);
  g_free (f->user);
}
