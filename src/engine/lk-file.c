/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

lk_status
lk_atomic_file_open (lk_atomic_file *f, const char *path, lk_error *err)
{
  int fd;

  memset (f, 0, sizeof *f);
  f->path = strdup (path);
  if (f->path == NULL || asprintf (&f->tmp_path, "%s.tmp-XXXXXX", path) < 0)
    {
      free (f->path);
      memset (f, 0, sizeof *f);
      return lk_error_set (err, LK_ERR_NOMEM, "%s: out of memory", path);
    }
  fd = mkstemp (f->tmp_path);
  if (fd < 0)
    {
      lk_status s = lk_error_set (err, LK_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                                  path, strerror (errno));
      free (f->path);
      free (f->tmp_path);
      memset (f, 0, sizeof *f);
      return s;
    }
  fchmod (fd, 0644);
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
  if (fclose (f->fp) != 0 && status == LK_OK)
    status = lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", f->path, strerror (errno));
  f->fp = NULL;
  if (status == LK_OK && rename (f->tmp_path, f->path) != 0)
    status = lk_error_set (err, LK_ERR_IO, "%s: cannot rename into place: %s", f->path,
                           strerror (errno));
  if (status != LK_OK)
    unlink (f->tmp_path);
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
