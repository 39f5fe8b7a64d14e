/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib.h>

#include "lk-status.h"

G_BEGIN_DECLS

#define LATHE_ERROR (lathe_error_quark ())

typedef enum
{
  LATHE_ERROR_IO = 1,
  LATHE_ERROR_FORMAT,
  LATHE_ERROR_UNSUPPORTED,
  LATHE_ERROR_NO_MEMORY,
  LATHE_ERROR_INVALID,
} LatheError;

GQuark lathe_error_quark (void);
/* Turns an engine error into a GError (cancellation into G_IO_ERROR_CANCELLED). */
void lathe_error_from_engine (GError **error, const lk_error *err);

G_END_DECLS
