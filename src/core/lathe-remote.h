/* SPDX-License-Identifier: MIT */
/* What Lathe does on a device: probe it, deploy lathe-run and a model to a
 * cache there (keyed by sha256, so nothing is copied twice), and profile a
 * model with lathe-run bench, noting temperature, clocks and energy. All
 * blocking: run them in a worker thread. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "lathe-device.h"
#include "lathe-ssh.h"
#include "lathe-variant.h"

G_BEGIN_DECLS

/* {"os", "kernel", "arch", "cores", "cpu", "simd": [...], "memory_mb",
 *  "memory_available_mb", "disk_free_mb", "governor", "freq_min_mhz",
 *  "freq_max_mhz", "freq_mhz": [per core], "temperatures": [{"sensor",
 *  "celsius"}], "power_sensors": [...], "energy_counters": [...]} */
JsonNode *lathe_device_probe (LatheDevice *device, const LatheSshOptions *o, GCancellable *cancellable,
                              GError **error);

/* Whether a node has the probe's shape (a probe kept in a file, read
 * back): every member of the type lathe_device_probe gives it. */
gboolean lathe_probe_check (JsonNode *node);

/* The lathe-run built for an architecture ("x86_64", "aarch64"): for this
 * machine's, lathe_runner_find; for another, $LATHE_RUN_<ARCH> or
 * lathe-run-<arch> beside this machine's runner. */
char *lathe_runner_find_for_arch (const char *arch, GError **error);

/* Copies a file into the device's cache (~/.cache/lathe/blobs/SHA256) unless
 * it is there already, checked by its hash on the device. Returns the path on
 * the device (relative to the login folder); *copied says whether it was
 * sent. */
char *lathe_device_deploy_file (LatheDevice *device, const char *local_path, const LatheSshOptions *o,
                                gboolean *copied, GCancellable *cancellable, GError **error);

typedef struct
{
  const int *threads;  /* thread counts to measure (NULL: the device's cores) */
  guint n_threads;
  const int *depths;   /* tokens already in the cache when each run measures (lathe-run -d) */
  guint n_depths;
  int n_prompt;        /* prompt tokens of the prefill test (-p) */
  int n_gen;           /* generated tokens per run */
  int reps;            /* repetitions after a warm-up */
  /* Power files on the device read during each run (µW, as hwmon's
   * power*_input; or "CURRENT:VOLTAGE", mA and mV, as INA3221's curr and
   * in files), for energy per token where there is no RAPL counter; NULL:
   * the sensors the probe found. */
  const char *const *power_files;
} LatheProfileOptions;

void lathe_profile_options_init (LatheProfileOptions *o);

/* Thread counts or depths as people write them, "1, 2,4": whole numbers
 * from 1 to max separated by commas (a blank text: none). FALSE on anything
 * else, with *bad (if given) the part that is wrong. */
gboolean lathe_parse_counts (const char *text, int max, GArray *out, char **bad);
/* The same from 0 (depths: "0, 512, 2048"). */
gboolean lathe_parse_depths (const char *text, int max, GArray *out, char **bad);

/* How far a profile is: done of total (a share, in units of the caller's
 * choosing), and what it does now ("run 2 of 4 (2 threads, 128 tokens
 * deep): decode"). Called from the profiling thread. */
typedef void (*LatheProfileProgress) (gpointer user, int done, int total, const char *what);

/* Deploys the runner and the model and runs lathe-run bench on the device
 * for every thread count and depth. Returns {"device", "probe", "model",
 * "model_sha256", "runs": [{"threads", "depth", "bench": {...},
 * "temperature_before", "temperature_after", "freq_mhz_before",
 * "freq_mhz_after", "throttled", "energy_source", "energy_j",
 * "joules_per_token", "power_w_mean"}]}. A
 * failure part-way returns the runs done so far in *partial (if given). */
JsonNode *lathe_device_profile (LatheDevice *device, const char *model_path, const LatheProfileOptions *po,
                                const LatheSshOptions *o, LatheProfileProgress progress, gpointer user,
                                JsonNode **partial, GCancellable *cancellable, GError **error);

/* The figures of a profile's best decode run as a point for the charts,
 * labelled with the device. */
LatheVariant *lathe_variant_from_profile (JsonNode *profile, const char *id, const char *name);

G_END_DECLS
