/* SPDX-License-Identifier: MIT */
#include <glib/gstdio.h>
#include <string.h>

#include "lathe-test.h"

char *
lathe_test_shared (const char *relative)
{
  const char *dir = g_getenv ("LATHE_SHARED_DIR");
  char *path;

  if (dir == NULL)
    {
      g_test_skip ("LATHE_SHARED_DIR is not set (run the tests with meson test)");
      return NULL;
    }
  path = g_build_filename (dir, relative, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *msg = g_strdup_printf ("shared test data %s is absent", path);
      g_test_skip (msg);
      g_free (path);
      return NULL;
    }
  return path;
}

static char *tmpdir;

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    {
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
            remove_tree (child);
          else
            g_unlink (child);
        }
      g_dir_close (dir);
    }
  g_rmdir (path);
}

static void
cleanup_tmpdir (void)
{
  if (tmpdir != NULL && g_getenv ("LATHE_TEST_KEEP_TMP") == NULL)
    remove_tree (tmpdir);
}

const char *
lathe_test_tmpdir (void)
{
  if (tmpdir == NULL)
    {
      g_autoptr (GError) error = NULL;
      tmpdir = g_dir_make_tmp ("lathe-test-XXXXXX", &error);
      g_assert_no_error (error);
      atexit (cleanup_tmpdir);
    }
  return tmpdir;
}

char *
lathe_test_read (const char *path, gsize *len)
{
  g_autoptr (GError) error = NULL;
  char *data = NULL;

  g_file_get_contents (path, &data, len, &error);
  g_assert_no_error (error);
  return data;
}

char *
lathe_test_reference_text (void)
{
  g_autofree char *readme = lathe_test_shared ("models/README.md");
  g_autofree char *text = NULL;
  const char *start, *end;

  if (readme == NULL)
    return NULL;
  text = lathe_test_read (readme, NULL);
  start = strstr (text, "## Reference output");
  g_assert_nonnull (start);
  start = strstr (start, "```\n");
  g_assert_nonnull (start);
  start += 4;
  end = strstr (start, "```");
  g_assert_nonnull (end);
  return g_strndup (start, (gsize) (end - start));
}

void
lathe_test_use_signing_key (void)
{
  g_autofree char *key = g_build_filename (lathe_test_tmpdir (), "signer", NULL);
  g_autofree char *allowed = g_build_filename (lathe_test_tmpdir (), "allowed_signers", NULL);
  const char *argv[] = { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester", "-f", key, NULL };
  int status = 0;

  if (!g_file_test (key, G_FILE_TEST_EXISTS))
    {
      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status,
                                   NULL));
      g_assert_true (g_spawn_check_wait_status (status, NULL));
    }
  g_setenv ("LATHE_SIGN_KEY", key, TRUE);
  g_setenv ("LATHE_ALLOWED_SIGNERS", allowed, TRUE);
}
