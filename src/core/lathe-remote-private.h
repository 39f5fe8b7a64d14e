/* SPDX-License-Identifier: MIT */
/* The parsers of what a device sends back, for the tests and the fuzz
 * targets: neither trusts a byte of it. */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The probe script's KEY=VALUE lines as the probe object (lathe_device_probe):
 * values cut to length and made valid UTF-8, lists cut to a count, numbers
 * outside what hardware has left out. Never fails. */
JsonNode *lathe_probe_parse (const char *text);

G_END_DECLS
