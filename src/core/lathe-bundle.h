/* SPDX-License-Identifier: MIT */
/* Deployment bundles: a folder (or .tar.gz) holding a model variant, the
 * lathe-run for the target, the recipe and runtime settings, what was
 * measured, licences, golden vectors (a prompt and the greedy output
 * expected), a run.sh, and a manifest with every file's sha256, signed
 * with the maker's SSH key (ssh-keygen -Y sign, namespace "lathe-bundle":
 * MANIFEST.json.sig). A bundle is verified against an allowed-signers file
 * (ssh-keygen's format) before anything in it is read beyond its manifest,
 * or run. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "lathe-device.h"
#include "lathe-ssh.h"

G_BEGIN_DECLS

typedef struct
{
  const char *model_path;
  const char *name;          /* the variant's name (NULL: the model file's) */
  const char *arch;          /* of lathe-run: "x86_64", "aarch64" */
  const char *recipe_json;   /* NULL: the one the model file carries, if any */
  JsonNode *measurements;    /* figures to ship (quality, speed), or NULL */
  JsonNode *profile;         /* a device profile to ship, or NULL */
  const char *prompt;        /* of the golden vectors (NULL: "Once upon a time") */
  int n_golden;              /* greedy tokens in them (0: 32) */
  int n_threads;             /* runtime settings (0: every core) */
  const char *sign_key;      /* SSH private key (or its .pub, the key in ssh-agent); NULL: lathe_bundle_default_key */
  gboolean unsigned_bundle;  /* write no signature (it will be refused unless trusted unsigned) */
  const char *allowed_signers; /* where the maker's own key is trusted (NULL: lathe_bundle_allowed_signers_file) */
} LatheBundleOptions;

void lathe_bundle_options_init (LatheBundleOptions *o);

/* The signature's namespace: a signature made for anything else never
 * passes for a bundle's. */
#define LATHE_BUNDLE_NAMESPACE "lathe-bundle"

/* The allowed-signers file: $LATHE_ALLOWED_SIGNERS, else
 * ~/.config/lathe/allowed_signers. */
char *lathe_bundle_allowed_signers_file (void);
/* The key bundles are signed with: $LATHE_SIGN_KEY, else the first of
 * ~/.ssh/id_ed25519, id_ecdsa, id_rsa; NULL with an error when none. */
char *lathe_bundle_default_key (GError **error);
/* Who signs with these options: "PRINCIPAL (SHA256:…)", or NULL with an
 * error (no key). */
char *lathe_bundle_signer (const LatheBundleOptions *o, GError **error);

typedef struct
{
  const char *allowed_signers; /* NULL: lathe_bundle_allowed_signers_file */
  gboolean trust_unsigned;     /* accept a bundle with no signature, or an unknown signer's */
  gboolean bundle_runner;      /* the golden check with the bundle's own lathe-run, not this Lathe's */
  gboolean check_golden;       /* FALSE: the signature and the files only */
} LatheBundleVerifyOptions;

void lathe_bundle_verify_options_init (LatheBundleVerifyOptions *o);

/* Writes the bundle to out: a folder, or a .tar.gz when out ends so. The
 * folder or archive appears only once complete. */
gboolean lathe_bundle_create (const LatheBundleOptions *o, const char *out, GCancellable *cancellable,
                              GError **error);

/* Checks a bundle (folder or .tar.gz): first the manifest's signature by
 * a key of the allowed signers (*signer: who, NULL when trusted unsigned);
 * then every file of the manifest there, a regular file (never a link)
 * with its sha256, and nothing else; then the golden vectors, generated
 * with this Lathe's lathe-run (or the bundle's, when asked and it runs
 * here). report gets a line per check. */
gboolean lathe_bundle_verify (const char *path, const LatheBundleVerifyOptions *vo, GString *report, char **signer,
                              GCancellable *cancellable, GError **error);

/* Verifies a bundle here (signature and files), then copies it to the
 * device (~/lathe-bundles/NAME) and runs its run.sh --verify there; a
 * bundle that fails there is removed there. output: what was checked here
 * and what it printed there. */
gboolean lathe_bundle_install (const char *path, const LatheBundleVerifyOptions *vo, LatheDevice *device,
                               const LatheSshOptions *o, char **output, GCancellable *cancellable, GError **error);

G_END_DECLS
