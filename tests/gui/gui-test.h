/* SPDX-License-Identifier: MIT */
/* What the GUI tests share: running the main loop until something holds,
 * and screenshots of windows into the test log folder. */
#pragma once

#include <gtk/gtk.h>

#include "lathe-window.h"

G_BEGIN_DECLS

/* Runs the main loop until cond(data) holds; fails the test after two
 * minutes, naming what it waited for. */
void gui_test_wait_until (gboolean (*cond) (gpointer), gpointer data, const char *what);
/* Lets windows lay out and draw for a moment. */
void gui_test_settle (void);
/* Saves the window as a PNG in $LATHE_TEST_OUTPUT_DIR (else a temporary folder). */
void gui_test_screenshot (GtkWidget *window, const char *name);

/* The window's model has loaded and its workspace is open. */
gboolean gui_test_model_loaded (gpointer window);
/* A new 1200×760 window with the model at path open in it. */
LatheWindow *gui_test_open_model (GSettings *settings, const char *path);

G_END_DECLS
