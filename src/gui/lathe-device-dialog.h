/* SPDX-License-Identifier: MIT */
#pragma once

#include <adwaita.h>

#include "lathe-device.h"

G_BEGIN_DECLS

#define LATHE_TYPE_DEVICE_DIALOG (lathe_device_dialog_get_type ())
G_DECLARE_FINAL_TYPE (LatheDeviceDialog, lathe_device_dialog, LATHE, DEVICE_DIALOG, AdwWindow)

/* Adds a device to the registry file, or edits one (device non-NULL);
 * "saved" (the device's name) follows a successful save. */
LatheDeviceDialog *lathe_device_dialog_new (GtkWindow *parent, const char *registry, LatheDevice *device);
/* Fills the fields as the user would (NULL leaves one as it is). */
void lathe_device_dialog_set_fields (LatheDeviceDialog *self, const char *name, const char *destination, int port,
                                     const char *user, const char *identity, const char *ssh_config);
/* Why the fields cannot be saved yet, or NULL when they can. */
const char *lathe_device_dialog_get_problem (LatheDeviceDialog *self);
/* Validates, writes the registry and closes (what the Save button does). */
gboolean lathe_device_dialog_save (LatheDeviceDialog *self, GError **error);

G_END_DECLS
