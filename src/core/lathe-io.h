/* SPDX-License-Identifier: MIT */
/* Files as Lathe reads and writes them: inputs read whole, but never more
 * than a bound (a file may be /dev/zero, a FIFO, or simply huge), and
 * outputs that appear only complete (a temporary file renamed into place,
 * its leftovers cleaned after a crash). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What Lathe reads at most of a text it tokenizes whole (evaluation and
 * calibration texts, prompts from files). */
#define LATHE_TEXT_LIMIT ((gsize) 64 << 20)

/* Reads a whole file of at most limit bytes into a NUL-terminated buffer.
 * A longer one is an error that names the file and the bound, found after
 * reading limit + 1 bytes at most. */
char *lathe_file_read_bounded (const char *path, gsize limit, gsize *length, GError **error);

/* Writes data to path atomically: a temporary file beside it (of Lathe's
 * naming), synced and renamed into place; on failure nothing changes. */
gboolean lathe_file_write_atomic (const char *path, const char *data, gssize length, GError **error);
/* The same with the file's mode (0600 for a private one). */
gboolean lathe_file_write_atomic_mode (const char *path, const char *data, gssize length, guint mode,
                                       GError **error);

/* A folder that holds a workspace, or any folder several Lathe processes
 * write into: an exclusive lock on DIR/.lock, held until released. Waits
 * for another holder, or fails after timeout_ms (0: waits as long as it
 * takes). Returns the lock's descriptor, or -1 with an error. */
int lathe_dir_lock (const char *dir, guint timeout_ms, GError **error);
void lathe_dir_unlock (int fd);

/* A folder made beside dest to be filled and renamed into place
 * (".NAME.lathe-XXXXXX"); *lock_fd holds it as being written (close it
 * once renamed or removed), so that it is cleaned only when its writer
 * died. */
char *lathe_stage_dir_new (const char *dest, int *lock_fd, GError **error);

G_END_DECLS
