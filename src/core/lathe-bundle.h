/* SPDX-License-Identifier: MIT */
/* Deployment bundles: a folder (or .tar.gz) holding a model variant, the
 * lathe-run for the target, the recipe and runtime settings, what was
 * measured, licences, golden vectors (a prompt and the greedy output
 * expected), a run.sh, and a manifest with every file's sha256. */
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
} LatheBundleOptions;

void lathe_bundle_options_init (LatheBundleOptions *o);

/* Writes the bundle to out: a folder, or a .tar.gz when out ends so. The
 * folder or archive appears only once complete. */
gboolean lathe_bundle_create (const LatheBundleOptions *o, const char *out, GCancellable *cancellable,
                              GError **error);

/* Checks a bundle (folder or .tar.gz): every file of the manifest there with
 * its sha256, nothing else; then, when its lathe-run can run here (this
 * machine's architecture, or aarch64 through qemu-aarch64-static), the
 * golden vectors. report gets a line per check. */
gboolean lathe_bundle_verify (const char *path, GString *report, GCancellable *cancellable, GError **error);

/* Copies a bundle to the device (~/lathe-bundles/NAME) and runs its
 * run.sh --verify there; output: what it printed. */
gboolean lathe_bundle_install (const char *path, LatheDevice *device, const LatheSshOptions *o, char **output,
                               GCancellable *cancellable, GError **error);

G_END_DECLS
