/* SPDX-License-Identifier: MIT */
/* Error reporting for the engine: a status code and a message that names the
 * file, the field and what was expected. The engine never exits or aborts on
 * bad input. */
#pragma once

#include <stdarg.h>

typedef enum
{
  LK_OK = 0,
  LK_ERR_IO,          /* the file could not be opened, read or written */
  LK_ERR_FORMAT,      /* the file is not what it claims, or is damaged */
  LK_ERR_UNSUPPORTED, /* valid, but Lathe cannot handle it (yet) */
  LK_ERR_NOMEM,
  LK_ERR_INVALID,     /* a bad argument from the caller */
  LK_ERR_CANCELLED,
} lk_status;

typedef struct
{
  lk_status status;
  char message[1024];
} lk_error;

/* Fills err (if not NULL) and returns status, so callers can write
 * `return lk_error_set (err, LK_ERR_FORMAT, "...")`. */
lk_status lk_error_set (lk_error *err, lk_status status, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
lk_status lk_error_setv (lk_error *err, lk_status status, const char *fmt, va_list ap);
/* Prepends "prefix: " to an existing message. */
void lk_error_prefix (lk_error *err, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void lk_error_clear (lk_error *err);
const char *lk_status_name (lk_status status);
