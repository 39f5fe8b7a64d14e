/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-error"

#include "config.h"

#include <gio/gio.h>

#include "lathe-error.h"

G_DEFINE_QUARK (lathe-error-quark, lathe_error)

void
lathe_error_from_engine (GError **error, const lk_error *err)
{
  LatheError code;

  switch (err->status)
    {
    case LK_ERR_CANCELLED:
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, err->message);
      return;
    case LK_ERR_IO: code = LATHE_ERROR_IO; break;
    case LK_ERR_UNSUPPORTED: code = LATHE_ERROR_UNSUPPORTED; break;
    case LK_ERR_NOMEM: code = LATHE_ERROR_NO_MEMORY; break;
    case LK_ERR_INVALID: code = LATHE_ERROR_INVALID; break;
    case LK_ERR_FORMAT:
    default: code = LATHE_ERROR_FORMAT; break;
    }
  g_set_error_literal (error, LATHE_ERROR, code, err->message);
}
