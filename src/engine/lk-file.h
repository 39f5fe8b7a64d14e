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
 * a temporary file in the same folder (".NAME.lathe-XXXXXX"), locked while
 * it is written, then synced and renamed over the destination. Aborting (or
 * failing) removes the temporary file. A writer killed before it committed
 * leaves its temporary file unlocked: opening the next atomic file in that
 * folder removes it (lk_clean_stale). */
typedef struct
{
  FILE *fp;
  char *path;
  char *tmp_path;
} lk_atomic_file;

lk_status lk_atomic_file_open (lk_atomic_file *f, const char *path, lk_error *err);
/* The same for a file of another mode than 0644 (0600 for one that must
 * stay private). */
lk_status lk_atomic_file_open_mode (lk_atomic_file *f, const char *path, unsigned mode, lk_error *err);
lk_status lk_atomic_file_commit (lk_atomic_file *f, lk_error *err);
void lk_atomic_file_abort (lk_atomic_file *f);

/* Whether a file name is one of Lathe's temporary names (".NAME.lathe-XXXXXX",
 * or "NAME.tmp-XXXXXX" as earlier versions wrote them). */
bool lk_is_temp_name (const char *name);
/* Removes the temporary files and folders of Lathe's naming in dir that no
 * writer holds locked any more (their writer died); returns how many. */
int lk_clean_stale (const char *dir);
/* Locks fd (a temporary file or folder just made at path) as being written,
 * so that lk_clean_stale leaves it alone; false when a cleaner removed it
 * first (make another). */
bool lk_temp_lock (int fd, const char *path);
