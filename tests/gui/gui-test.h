/* SPDX-License-Identifier: MIT */
/* What the GUI tests share: running the main loop until something holds,
 * and screenshots of windows into the test log folder. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Runs the main loop until cond(data) holds; fails the test after two
 * minutes, naming what it waited for. */
void gui_test_wait_until (gboolean (*cond) (gpointer), gpointer data, const char *what);
/* Lets windows lay out and draw for a moment. */
void gui_test_settle (void);
/* Saves the window as a PNG in $LATHE_TEST_OUTPUT_DIR (else a temporary folder). */
void gui_test_screenshot (GtkWidget *window, const char *name);

G_END_DECLS
