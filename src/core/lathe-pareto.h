/* SPDX-License-Identifier: MIT */
/* The Pareto front of points on two figures. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Marks on_front[i] for every point that no other point dominates: none is
 * at least as good on both figures and better on one. Points with a NAN
 * figure are never on the front. Equal points are all on it. */
void lathe_pareto_front (const double *x, const double *y, guint n, gboolean x_higher_better,
                         gboolean y_higher_better, gboolean *on_front);

G_END_DECLS
