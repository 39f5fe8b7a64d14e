/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "lk-status.h"

lk_status
lk_error_setv (lk_error *err, lk_status status, const char *fmt, va_list ap)
{
  if (err != NULL)
    {
      err->status = status;
      vsnprintf (err->message, sizeof err->message, fmt, ap);
    }
  return status;
}

lk_status
lk_error_set (lk_error *err, lk_status status, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  lk_error_setv (err, status, fmt, ap);
  va_end (ap);
  return status;
}

void
lk_error_prefix (lk_error *err, const char *fmt, ...)
{
  char prefix[256], joined[sizeof err->message];
  va_list ap;

  if (err == NULL)
    return;
  va_start (ap, fmt);
  vsnprintf (prefix, sizeof prefix, fmt, ap);
  va_end (ap);
  snprintf (joined, sizeof joined, "%s: %.*s", prefix,
            (int) (sizeof joined - sizeof prefix - 3), err->message);
  memcpy (err->message, joined, sizeof joined);
}

void
lk_error_clear (lk_error *err)
{
  if (err != NULL)
    {
      err->status = LK_OK;
      err->message[0] = '\0';
    }
}

const char *
lk_status_name (lk_status status)
{
  switch (status)
    {
    case LK_OK: return "ok";
    case LK_ERR_IO: return "i/o error";
    case LK_ERR_FORMAT: return "bad format";
    case LK_ERR_UNSUPPORTED: return "unsupported";
    case LK_ERR_NOMEM: return "out of memory";
    case LK_ERR_INVALID: return "invalid argument";
    case LK_ERR_CANCELLED: return "cancelled";
    default: return "unknown error";
    }
}
