/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-compress-page.h"
#include "lathe-devices-page.h"
#include "lathe-model-page.h"
#include "lathe-playground-page.h"
#include "lathe-session.h"
#include "lathe-tradeoffs-page.h"
#include "lathe-welcome-page.h"

G_BEGIN_DECLS

#define LATHE_TYPE_WINDOW (lathe_window_get_type ())
G_DECLARE_FINAL_TYPE (LatheWindow, lathe_window, LATHE, WINDOW, AdwApplicationWindow)

LatheWindow *lathe_window_new (GtkApplication *app, GSettings *settings);
void lathe_window_open_file (LatheWindow *self, GFile *file);
/* Opens the command-line model, the last one, or a sample; else shows the
 * welcome page. */
void lathe_window_open_default (LatheWindow *self);
void lathe_window_show_toast (LatheWindow *self, const char *message);
/* The text of the last toast shown, or NULL. */
const char *lathe_window_get_last_toast (LatheWindow *self);

LatheSession *lathe_window_get_session (LatheWindow *self);
LatheModelPage *lathe_window_get_model_page (LatheWindow *self);
LathePlaygroundPage *lathe_window_get_playground_page (LatheWindow *self);
LatheTradeoffsPage *lathe_window_get_tradeoffs_page (LatheWindow *self);
LatheCompressPage *lathe_window_get_compress_page (LatheWindow *self);
LatheDevicesPage *lathe_window_get_devices_page (LatheWindow *self);
LatheWelcomePage *lathe_window_get_welcome_page (LatheWindow *self);
/* "welcome", "loading", "model" or "playground" */
const char *lathe_window_get_visible_page (LatheWindow *self);
void lathe_window_set_visible_page (LatheWindow *self, const char *name);

G_END_DECLS
