/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-io"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lathe-error.h"
#include "lathe-io.h"
#include "lk-file.h"

static gboolean
io_error (GError **error, const char *path, int e)
{
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", path, g_strerror (e));
  return FALSE;
}

char *
lathe_file_read_bounded (const char *path, gsize limit, gsize *length, GError **error)
{
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  guint8 chunk[65536];
  struct stat st;
  int fd;

  if ((fd = g_open (path, O_RDONLY | O_CLOEXEC, 0)) < 0)
    {
      io_error (error, path, errno);
      return NULL;
    }
  if (fstat (fd, &st) == 0 && S_ISDIR (st.st_mode))
    {
      close (fd);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_ISDIR, _("%s: a folder, not a file"), path);
      return NULL;
    }
  for (;;)
    {
      const ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          const int e = errno;
          close (fd);
          io_error (error, path, e);
          return NULL;
        }
      if (n == 0)
        break;
      if (buf->len + (gsize) n > limit)
        {
          g_autofree char *size = g_format_size (limit);
          close (fd);
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                       _("%s: longer than %s, the most Lathe reads of such a file (take a part of it)"),
                       path, size);
          return NULL;
        }
      g_byte_array_append (buf, chunk, (guint) n);
    }
  close (fd);
  if (length != NULL)
    *length = buf->len;
  g_byte_array_append (buf, (const guint8 *) "", 1);
  return (char *) g_byte_array_free (g_steal_pointer (&buf), FALSE);
}

gboolean
lathe_file_write_atomic (const char *path, const char *data, gssize length, GError **error)
{
  return lathe_file_write_atomic_mode (path, data, length, 0644, error);
}

gboolean
lathe_file_write_atomic_mode (const char *path, const char *data, gssize length, guint mode,
                              GError **error)
{
  const gsize n = length < 0 ? strlen (data) : (gsize) length;
  lk_atomic_file f;
  lk_error err = { 0 };

  if (lk_atomic_file_open_mode (&f, path, mode, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  if (n > 0 && fwrite (data, 1, n, f.fp) != n)
    {
      const int e = errno;
      lk_atomic_file_abort (&f);
      return io_error (error, path, e);
    }
  if (lk_atomic_file_commit (&f, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  return TRUE;
}

int
lathe_dir_lock (const char *dir, guint timeout_ms, GError **error)
{
  g_autofree char *path = g_build_filename (dir, ".lock", NULL);
  const gint64 end = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  int fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

  if (fd < 0)
    {
      io_error (error, path, errno);
      return -1;
    }
  for (;;)
    {
      if (flock (fd, timeout_ms == 0 ? LOCK_EX : LOCK_EX | LOCK_NB) == 0)
        return fd;
      if (errno == EINTR)
        continue;
      if (errno != EWOULDBLOCK || g_get_monotonic_time () >= end)
        {
          const int e = errno;
          close (fd);
          if (e == EWOULDBLOCK)
            g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO,
                         _("%s: another Lathe holds it for longer than %u s"), dir, timeout_ms / 1000);
          else
            io_error (error, path, e);
          return -1;
        }
      g_usleep (10000);
    }
}

void
lathe_dir_unlock (int fd)
{
  if (fd >= 0)
    close (fd);
}

char *
lathe_stage_dir_new (const char *dest, int *lock_fd, GError **error)
{
  g_autofree char *parent = g_path_get_dirname (dest), *base = g_path_get_basename (dest);

  *lock_fd = -1;
  lk_clean_stale (parent);
  for (int attempt = 0; attempt < 8; attempt++)
    {
      g_autofree char *name = g_strdup_printf (".%s.lathe-XXXXXX", base);
      g_autofree char *path = g_build_filename (parent, name, NULL);
      int fd;
      if (g_mkdtemp_full (path, 0755) == NULL)
        {
          io_error (error, path, errno);
          return NULL;
        }
      if ((fd = g_open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)) < 0)
        {
          io_error (error, path, errno);
          g_rmdir (path);
          return NULL;
        }
      if (lk_temp_lock (fd, path))
        {
          *lock_fd = fd;
          return g_steal_pointer (&path);
        }
      close (fd);
    }
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: cannot make a folder beside it"), dest);
  return NULL;
}
