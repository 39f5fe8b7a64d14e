/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-session.h"

G_BEGIN_DECLS

#define LATHE_TYPE_WELCOME_PAGE (lathe_welcome_page_get_type ())
G_DECLARE_FINAL_TYPE (LatheWelcomePage, lathe_welcome_page, LATHE, WELCOME_PAGE, AdwBin)

/* Shows the recent models of the session; activating one runs win.open-recent. */
void lathe_welcome_page_set_session (LatheWelcomePage *self, LatheSession *session);

G_END_DECLS
