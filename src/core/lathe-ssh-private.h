/* SPDX-License-Identifier: MIT */
/* The parsers of what OpenSSH's tools print, for the tests and the fuzz
 * targets. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* ssh-keygen -l lines ("256 SHA256:… host (ED25519)") as the fingerprints
 * a user compares, one per line ("SHA256:… (ED25519)"); "" for none. */
char *lathe_ssh_parse_fingerprints (const char *listing);
/* The first UserKnownHostsFile of ssh -G output (~/ expanded), or NULL. */
char *lathe_ssh_parse_known_hosts_file (const char *config);

G_END_DECLS
