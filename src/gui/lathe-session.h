/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "lathe-model.h"
#include "lathe-workspace.h"

G_BEGIN_DECLS

#define LATHE_TYPE_SESSION (lathe_session_get_type ())
G_DECLARE_FINAL_TYPE (LatheSession, lathe_session, LATHE, SESSION, GObject)

/* The state of one window: the open model, the model being loaded, and the
 * recent models. Widgets show it; they do not own it. */
LatheSession *lathe_session_new (GSettings *settings);
GSettings *lathe_session_get_settings (LatheSession *self);
LatheModel *lathe_session_get_model (LatheSession *self);
gboolean lathe_session_get_loading (LatheSession *self);
/* The file being loaded or loaded last (also after a failure). */
GFile *lathe_session_get_file (LatheSession *self);
/* GFile items, most recent first; files that vanished are left out. */
GListModel *lathe_session_get_recent (LatheSession *self);

/* Loads in a worker thread; the previous load is cancelled. On success the
 * model becomes the session's and the file is remembered as recent. */
void lathe_session_open_async (LatheSession *self, GFile *file, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data);
gboolean lathe_session_open_finish (LatheSession *self, GAsyncResult *result, GError **error);
void lathe_session_forget_recent (LatheSession *self, GFile *file);
/* Cancels the work the session started (the window closes). */
void lathe_session_cancel (LatheSession *self);
/* The model to open at start when none is given: the last one opened if it
 * still exists, else a sample model in the user's data folder, else NULL. */
GFile *lathe_session_find_default_model (LatheSession *self);

/* The workspace of the open model (property "workspace"): kept in the
 * user's data folder, one per model file, reopened with the model. */
LatheWorkspace *lathe_session_get_workspace (LatheSession *self);
/* Switches to the workspace in dir, opening its source model. A workspace
 * that cannot be opened is reported by the "error" signal. */
gboolean lathe_session_open_workspace (LatheSession *self, const char *dir, GError **error);
/* The evaluation text quality is measured on (remembered in the settings). */
gboolean lathe_session_set_eval_text (LatheSession *self, const char *path, GError **error);

/* The background job (one at a time): measuring recipes into the
 * workspace (NULL: the original model). Properties "job-running",
 * "job-text" and "job-fraction" follow it; "job-done" reports its end with
 * the error (NULL on success or when cancelled). */
gboolean lathe_session_measure (LatheSession *self, GPtrArray *recipes, const LatheMeasureOptions *o,
                                GError **error);
/* The sensitivity table of the model, as the job (for size targets). */
gboolean lathe_session_measure_sensitivity (LatheSession *self, GError **error);
/* Work of the caller's as the background job (device work, which needs no
 * model): func runs in a worker thread and may report its progress with
 * lathe_session_job_report from there. done runs here afterwards with
 * func's result (freed with free_result after it) or its error (cancelled
 * included), after "job-done" (which carries no error for such jobs). */
typedef gpointer (*LatheJobFunc) (LatheSession *self, gpointer data, GCancellable *cancellable, GError **error);
typedef void (*LatheJobDone) (LatheSession *self, gpointer result, const GError *error, gpointer data);
gboolean lathe_session_run_job (LatheSession *self, const char *text, LatheJobFunc func, LatheJobDone done,
                                gpointer data, GDestroyNotify free_data, GDestroyNotify free_result,
                                GError **error);
/* From any thread: the running job's progress (fraction < 0: unknown). */
void lathe_session_job_report (LatheSession *self, double fraction, const char *text);
gboolean lathe_session_get_job_running (LatheSession *self);
const char *lathe_session_get_job_text (LatheSession *self);
double lathe_session_get_job_fraction (LatheSession *self);
void lathe_session_cancel_job (LatheSession *self);

G_END_DECLS
