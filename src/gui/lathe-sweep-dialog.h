/* SPDX-License-Identifier: MIT */
/* The sweep dialog: a grid of quantization types × sparsities × exit
 * thresholds, measured one after the other in the background. */
#pragma once

#include <adwaita.h>

#include "lathe-session.h"

G_BEGIN_DECLS

#define LATHE_TYPE_SWEEP_DIALOG (lathe_sweep_dialog_get_type ())
G_DECLARE_FINAL_TYPE (LatheSweepDialog, lathe_sweep_dialog, LATHE, SWEEP_DIALOG, AdwWindow)

LatheSweepDialog *lathe_sweep_dialog_new (GtkWindow *parent, LatheSession *session);
/* The grid as typed: "Q8_0,Q4_0" (types ticked), "0, 0.5", "1, 0.9". */
void lathe_sweep_dialog_set_grid (LatheSweepDialog *self, const char *types, const char *sparsities,
                                  const char *exits);
void lathe_sweep_dialog_set_measure_speed (LatheSweepDialog *self, gboolean speed);
/* Variants the grid makes, or -1 when a list does not parse. */
int lathe_sweep_dialog_get_count (LatheSweepDialog *self);
/* Starts the sweep as the Run button does, and closes the dialog. */
gboolean lathe_sweep_dialog_run (LatheSweepDialog *self, GError **error);

G_END_DECLS
