/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define LATHE_TYPE_APPLICATION (lathe_application_get_type ())
G_DECLARE_FINAL_TYPE (LatheApplication, lathe_application, LATHE, APPLICATION, AdwApplication)

LatheApplication *lathe_application_new (void);
GSettings *lathe_application_get_settings (LatheApplication *self);

G_END_DECLS
