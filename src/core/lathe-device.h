/* SPDX-License-Identifier: MIT */
/* Edge devices reached over SSH, and the registry that remembers them
 * ($XDG_CONFIG_HOME/lathe/devices.json). A device is an SSH destination:
 * a host or a Host alias of the user's ~/.ssh/config, with an optional
 * port, user, identity file and config file of its own. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define LATHE_TYPE_DEVICE (lathe_device_get_type ())
G_DECLARE_FINAL_TYPE (LatheDevice, lathe_device, LATHE, DEVICE, GObject)

/* name: letters, digits, '.', '_' and '-'; destination: a host or alias. */
LatheDevice *lathe_device_new (const char *name, const char *destination, GError **error);
const char *lathe_device_get_name (LatheDevice *self);
const char *lathe_device_get_destination (LatheDevice *self);
int lathe_device_get_port (LatheDevice *self); /* 0: as ssh decides */
void lathe_device_set_port (LatheDevice *self, int port);
const char *lathe_device_get_user (LatheDevice *self);
void lathe_device_set_user (LatheDevice *self, const char *user);
const char *lathe_device_get_identity (LatheDevice *self);
void lathe_device_set_identity (LatheDevice *self, const char *path);
/* An ssh_config file used in place of the user's (ssh -F), or NULL. */
const char *lathe_device_get_ssh_config (LatheDevice *self);
void lathe_device_set_ssh_config (LatheDevice *self, const char *path);

/* The architecture whose lathe-run the device gets ("aarch64"), when not
 * the one its kernel reports (a 32-bit userland, an emulator); NULL: as
 * probed. */
const char *lathe_device_get_arch (LatheDevice *self);
void lathe_device_set_arch (LatheDevice *self, const char *arch);
/* A command lathe-run is started through on the device ("taskset -c 4-7",
 * "nice -n -5", an emulator), split at spaces; NULL: none. */
const char *lathe_device_get_runner_prefix (LatheDevice *self);
void lathe_device_set_runner_prefix (LatheDevice *self, const char *prefix);

JsonNode *lathe_device_to_json (LatheDevice *self);
LatheDevice *lathe_device_from_json (JsonNode *node, const char *origin, const char *where, GError **error);

/* The registry file: $LATHE_DEVICES, else $XDG_CONFIG_HOME/lathe/devices.json. */
char *lathe_devices_file (void);
/* The devices of a registry file (none when it does not exist yet). */
GPtrArray *lathe_devices_load (const char *path, GError **error);
/* Writes the registry (a new file renamed into place). */
gboolean lathe_devices_save (const char *path, GPtrArray *devices, GError **error);
LatheDevice *lathe_devices_find (GPtrArray *devices, const char *name);

G_END_DECLS
