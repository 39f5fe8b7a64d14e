/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-device.h"
#include "lathe-session.h"

G_BEGIN_DECLS

#define LATHE_TYPE_DEVICES_PAGE (lathe_devices_page_get_type ())
G_DECLARE_FINAL_TYPE (LatheDevicesPage, lathe_devices_page, LATHE, DEVICES_PAGE, AdwBin)

/* The session whose workspace profiles become points, and whose job bar
 * shows the device work. */
void lathe_devices_page_set_session (LatheDevicesPage *self, LatheSession *session);
/* Rereads the registry file (lathe_devices_file ()). */
void lathe_devices_page_reload (LatheDevicesPage *self);
guint lathe_devices_page_get_n_devices (LatheDevicesPage *self);
gboolean lathe_devices_page_select (LatheDevicesPage *self, const char *name);
/* The selected device, or NULL. */
LatheDevice *lathe_devices_page_get_selected (LatheDevicesPage *self);
/* The selected device's last probe, or NULL. */
JsonNode *lathe_devices_page_get_probe (LatheDevicesPage *self);
/* The last outcome shown in the page ("" when none). */
const char *lathe_devices_page_get_message (LatheDevicesPage *self);

/* Probes the selected device as the session's job. */
gboolean lathe_devices_page_probe (LatheDevicesPage *self, GError **error);
/* The profile settings, as the user would fill them: the variant (an id or
 * name of the workspace; NULL: the open model), thread counts and depths
 * ("1, 2"; threads "" = every core), tokens generated and repetitions. */
void lathe_devices_page_set_profile (LatheDevicesPage *self, const char *variant, const char *threads,
                                     const char *depths, int n_gen, int reps);
/* The id of the variant chosen to profile; NULL: the open model. */
const char *lathe_devices_page_get_profile_variant (LatheDevicesPage *self);
/* Why the profile settings cannot run, or NULL. */
const char *lathe_devices_page_get_profile_problem (LatheDevicesPage *self);
/* Profiles the chosen variant on the selected device as the session's
 * job; its result becomes a point of the workspace. */
gboolean lathe_devices_page_profile (LatheDevicesPage *self, GError **error);
/* Installs the chosen variant on the selected device as a bundle and runs
 * its golden check there, as the session's job. */
gboolean lathe_devices_page_install (LatheDevicesPage *self, GError **error);
/* The open question about an unknown host key, or NULL. */
AdwMessageDialog *lathe_devices_page_get_host_key_dialog (LatheDevicesPage *self);

G_END_DECLS
