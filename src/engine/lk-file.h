/* SPDX-License-Identifier: MIT */
/* Reading whole files (into memory or mapped) and writing files atomically. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lk-status.h"

typedef enum
{
  /* Copy the file into anonymous memory: steady speed, because the pages
   * cannot be dropped and re-read under memory pressure. The default. */
  LK_LOAD_READ,
  /* Map the file: instant open, shared page cache, but pages may be
   * reclaimed while the model runs. */
  LK_LOAD_MMAP,
} lk_load_mode;

typedef struct
{
  uint8_t *data;
  size_t size;
  lk_load_mode mode;
} lk_file_buf;

lk_status lk_file_load (const char *path, lk_load_mode mode, lk_file_buf *out, lk_error *err);
void lk_file_release (lk_file_buf *buf);
/* "read" or "mmap"; false when the name is neither. */
bool lk_load_mode_from_name (const char *name, lk_load_mode *mode);

/* An output file that appears at its path only when committed: data goes to
 * a temporary file in the same folder, which is synced and renamed over the
 * destination. Aborting (or failing) removes the temporary file. */
typedef struct
{
  FILE *fp;
  char *path;
  char *tmp_path;
} lk_atomic_file;

lk_status lk_atomic_file_open (lk_atomic_file *f, const char *path, lk_error *err);
lk_status lk_atomic_file_commit (lk_atomic_file *f, lk_error *err);
void lk_atomic_file_abort (lk_atomic_file *f);
