/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-session.h"

G_BEGIN_DECLS

#define LATHE_TYPE_WELCOME_PAGE (lathe_welcome_page_get_type ())
G_DECLARE_FINAL_TYPE (LatheWelcomePage, lathe_welcome_page, LATHE, WELCOME_PAGE, AdwBin)

/* Shows the recent models of the session; activating one runs win.open-recent. */
void lathe_welcome_page_set_session (LatheWelcomePage *self, LatheSession *session);

/* Starts downloading a sample of the catalogue (as its button does); it
 * opens once downloaded. FALSE when unknown or already running. */
gboolean lathe_welcome_page_download_sample (LatheWelcomePage *self, const char *id);
gboolean lathe_welcome_page_get_downloading (LatheWelcomePage *self);
/* The error of a sample's last download, or NULL. */
const char *lathe_welcome_page_get_sample_error (LatheWelcomePage *self, const char *id);

G_END_DECLS
