/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lk-file.h"

bool
lk_load_mode_from_name (const char *name, lk_load_mode *mode)
{
  if (name != NULL && strcmp (name, "read") == 0)
    *mode = LK_LOAD_READ;
  else if (name != NULL && strcmp (name, "mmap") == 0)
    *mode = LK_LOAD_MMAP;
  else
    return false;
  return true;
}

static lk_status
read_all (int fd, uint8_t *dst, size_t size, const char *path, lk_error *err)
{
  size_t done = 0;

  while (done < size)
    {
      const ssize_t n = read (fd, dst + done, size - done > (1u << 30) ? (1u << 30) : size - done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return lk_error_set (err, LK_ERR_IO, "%s: read failed: %s", path, strerror (errno));
      if (n == 0)
        return lk_error_set (err, LK_ERR_IO, "%s: file shrank while being read", path);
      done += (size_t) n;
    }
  return LK_OK;
}

lk_status
lk_file_load (const char *path, lk_load_mode mode, lk_file_buf *out, lk_error *err)
{
  struct stat st;
  int fd;
  lk_status status = LK_OK;

  memset (out, 0, sizeof *out);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return lk_error_set (err, LK_ERR_IO, "%s: cannot open: %s", path, strerror (errno));
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return lk_error_set (err, LK_ERR_IO, "%s: not a regular file", path);
    }
  out->size = (size_t) st.st_size;
  out->mode = mode;
  if (out->size == 0)
    {
      close (fd);
      return lk_error_set (err, LK_ERR_FORMAT, "%s: the file is empty", path);
    }
  if (mode == LK_LOAD_MMAP)
    {
      void *p = mmap (NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED)
        status = lk_error_set (err, LK_ERR_IO, "%s: cannot map: %s", path, strerror (errno));
      else
        out->data = p;
    }
  else
    {
      /* Aligned to huge pages, and asking for them: weights are streamed end
       * to end for every token, and with 4 KiB pages the hardware prefetchers
       * stop at every page boundary and the TLB misses all the time. */
      const size_t align = (size_t) 2 << 20;
      void *p = NULL;
      if (posix_memalign (&p, align, out->size) != 0)
        status = lk_error_set (err, LK_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, out->size);
      else
        {
#ifdef MADV_HUGEPAGE
          madvise (p, (out->size + align - 1) / align * align, MADV_HUGEPAGE);
#endif
          out->data = p;
          status = read_all (fd, out->data, out->size, path, err);
        }
    }
  close (fd);
  if (status != LK_OK)
    lk_file_release (out);
  return status;
}

void
lk_file_release (lk_file_buf *buf)
{
  if (buf->data != NULL)
    {
      if (buf->mode == LK_LOAD_MMAP)
        munmap (buf->data, buf->size);
      else
        free (buf->data);
    }
  memset (buf, 0, sizeof *buf);
}

static bool
temp_suffix (const char *p)
{
  for (int i = 0; i < 6; i++)
    if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9')))
      return false;
  return p[6] == '\0';
}

bool
lk_is_temp_name (const char *name)
{
  const size_t n = strlen (name);

  /* ".NAME.lathe-XXXXXX" */
  if (n > 14 && name[0] == '.' && strncmp (name + n - 13, ".lathe-", 7) == 0 && temp_suffix (name + n - 6))
    return true;
  /* "NAME.tmp-XXXXXX", from Lathe before 0.2 */
  return n > 11 && strncmp (name + n - 11, ".tmp-", 5) == 0 && temp_suffix (name + n - 6);
}

static int
remove_entry_cb (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) ftw;
  return (flag == FTW_DP ? rmdir (path) : unlink (path)) == 0 || errno == ENOENT ? 0 : -1;
}

int
lk_clean_stale (const char *dir)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int removed = 0;

  if (d == NULL)
    return 0;
  while ((e = readdir (d)) != NULL)
    {
      struct stat st;
      char *path;
      int fd;
      if (!lk_is_temp_name (e->d_name))
        continue;
      fd = openat (dirfd (d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
      if (fd < 0)
        continue;
      /* Held by a living writer: its lock says so. A lock taken here is
       * released by close, after the entry is gone. */
      if (fstat (fd, &st) != 0 || !(S_ISREG (st.st_mode) || S_ISDIR (st.st_mode))
          || flock (fd, LOCK_EX | LOCK_NB) != 0)
        {
          close (fd);
          continue;
        }
      if (asprintf (&path, "%s/%s", dir, e->d_name) >= 0)
        {
          if (S_ISDIR (st.st_mode) ? nftw (path, remove_entry_cb, 16, FTW_DEPTH | FTW_PHYS) == 0
                                   : unlink (path) == 0)
            removed++;
          free (path);
        }
      close (fd);
    }
  closedir (d);
  return removed;
}

bool
lk_temp_lock (int fd, const char *path)
{
  struct stat a, b;

  /* A cleaner may have taken the file between its making and this lock:
   * then it is gone (or going), and the lock says nothing. */
  while (flock (fd, LOCK_EX) != 0)
    if (errno != EINTR)
      return false;
  return fstat (fd, &a) == 0 && stat (path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');

  if (slash == NULL)
    return strdup (".");
  if (slash == path)
    return strdup ("/");
  return strndup (path, (size_t) (slash - path));
}

lk_status
lk_atomic_file_open (lk_atomic_file *f, const char *path, lk_error *err)
{
  return lk_atomic_file_open_mode (f, path, 0644, err);
}

lk_status
lk_atomic_file_open_mode (lk_atomic_file *f, const char *path, unsigned mode, lk_error *err)
{
  const char *slash = strrchr (path, '/');
  const char *base = slash != NULL ? slash + 1 : path;
  char *dir = dir_of (path);
  int fd = -1;

  memset (f, 0, sizeof *f);
  f->path = strdup (path);
  if (dir == NULL || f->path == NULL || *base == '\0')
    {
      free (dir);
      free (f->path);
      memset (f, 0, sizeof *f);
      return lk_error_set (err, *base == '\0' ? LK_ERR_INVALID : LK_ERR_NOMEM, "%s: %s", path,
                           *base == '\0' ? "not a file name" : "out of memory");
    }
  lk_clean_stale (dir);
  for (int attempt = 0; fd < 0 && attempt < 8; attempt++)
    {
      free (f->tmp_path);
      if (asprintf (&f->tmp_path, "%s/.%s.lathe-XXXXXX", dir, base) < 0)
        {
          f->tmp_path = NULL;
          break;
        }
      fd = mkstemp (f->tmp_path);
      if (fd < 0)
        break;
      if (!lk_temp_lock (fd, f->tmp_path))
        {
          close (fd);
          fd = -1;
        }
    }
  free (dir);
  if (fd < 0)
    {
      lk_status s = lk_error_set (err, LK_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                                  path, f->tmp_path ? strerror (errno) : "out of memory");
      free (f->path);
      free (f->tmp_path);
      memset (f, 0, sizeof *f);
      return s;
    }
  fchmod (fd, (mode_t) mode);
  f->fp = fdopen (fd, "wb");
  if (f->fp == NULL)
    {
      close (fd);
      unlink (f->tmp_path);
      free (f->path);
      free (f->tmp_path);
      memset (f, 0, sizeof *f);
      return lk_error_set (err, LK_ERR_IO, "%s: cannot open for writing", path);
    }
  return LK_OK;
}

lk_status
lk_atomic_file_commit (lk_atomic_file *f, lk_error *err)
{
  lk_status status = LK_OK;

  if (f->fp == NULL)
    return lk_error_set (err, LK_ERR_INVALID, "atomic file not open");
  if (fflush (f->fp) != 0 || ferror (f->fp) || fsync (fileno (f->fp)) != 0)
    status = lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", f->path, strerror (errno));
  /* Renamed while still open, so still locked: a cleaner never sees it
   * unlocked under its temporary name. */
  if (status == LK_OK && rename (f->tmp_path, f->path) != 0)
    status = lk_error_set (err, LK_ERR_IO, "%s: cannot rename into place: %s", f->path,
                           strerror (errno));
  if (status != LK_OK)
    unlink (f->tmp_path);
  if (fclose (f->fp) != 0 && status == LK_OK)
    status = lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", f->path, strerror (errno));
  f->fp = NULL;
  free (f->path);
  free (f->tmp_path);
  memset (f, 0, sizeof *f);
  return status;
}

void
lk_atomic_file_abort (lk_atomic_file *f)
{
  if (f->fp != NULL)
    {
      fclose (f->fp);
      unlink (f->tmp_path);
    }
  free (f->path);
  free (f->tmp_path);
  memset (f, 0, sizeof *f);
}
