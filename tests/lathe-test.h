/* SPDX-License-Identifier: MIT */
/* Helpers shared by the tests: where the shared test data is, and temporary
 * folders. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The path of a file under the shared data folder (LATHE_SHARED_DIR), or
 * NULL after marking the test skipped with the reason. Free with g_free. */
char *lathe_test_shared (const char *relative);
/* A fresh temporary folder, removed with its contents at exit. */
const char *lathe_test_tmpdir (void);
/* Reads a whole file or fails the test. */
char *lathe_test_read (const char *path, gsize *len);
/* The reference text from models/README.md (the code block under
 * "Reference output"), or NULL (skipped). */
char *lathe_test_reference_text (void);

/* Bundles made and checked by the test are signed with a key of its own
 * (LATHE_SIGN_KEY), trusted in an allowed-signers file of its own
 * (LATHE_ALLOWED_SIGNERS). */
void lathe_test_use_signing_key (void);

G_END_DECLS
