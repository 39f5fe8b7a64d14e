/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-session"

#include "config.h"

#include <glib/gi18n.h>

#include "lathe-error.h"
#include "lathe-session.h"

#define MAX_RECENT 10

struct _LatheSession
{
  GObject parent_instance;
  GSettings *settings;
  LatheModel *model;
  GFile *file;
  GListStore *recent;
  GCancellable *cancellable;
  gboolean loading;
  LatheWorkspace *workspace;
  char *pending_workspace; /* opened once its model has loaded */
  /* The background job */
  GCancellable *job_cancellable;
  char *job_text;
  double job_fraction;
  guint job_serial; /* progress of an ended job is dropped */
};

G_DEFINE_FINAL_TYPE (LatheSession, lathe_session, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_LOADING,
  PROP_FILE,
  PROP_WORKSPACE,
  PROP_JOB_RUNNING,
  PROP_JOB_TEXT,
  PROP_JOB_FRACTION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum
{
  JOB_DONE,
  ERROR,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
lathe_session_dispose (GObject *object)
{
  LatheSession *self = LATHE_SESSION (object);

  lathe_session_cancel (self);
  lathe_session_cancel_job (self);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->job_cancellable);
  g_clear_pointer (&self->job_text, g_free);
  g_clear_pointer (&self->pending_workspace, g_free);
  g_clear_object (&self->workspace);
  g_clear_object (&self->model);
  g_clear_object (&self->file);
  g_clear_object (&self->recent);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (lathe_session_parent_class)->dispose (object);
}

static void
lathe_session_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LatheSession *self = LATHE_SESSION (object);

  switch (prop_id)
    {
    case PROP_MODEL:
      g_value_set_object (value, self->model);
      break;
    case PROP_LOADING:
      g_value_set_boolean (value, self->loading);
      break;
    case PROP_FILE:
      g_value_set_object (value, self->file);
      break;
    case PROP_WORKSPACE:
      g_value_set_object (value, self->workspace);
      break;
    case PROP_JOB_RUNNING:
      g_value_set_boolean (value, self->job_cancellable != NULL);
      break;
    case PROP_JOB_TEXT:
      g_value_set_string (value, self->job_text);
      break;
    case PROP_JOB_FRACTION:
      g_value_set_double (value, self->job_fraction);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lathe_session_class_init (LatheSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = lathe_session_dispose;
  object_class->get_property = lathe_session_get_property;

  properties[PROP_MODEL] = g_param_spec_object ("model", NULL, NULL, LATHE_TYPE_MODEL,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_LOADING] = g_param_spec_boolean ("loading", NULL, NULL, FALSE,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_FILE] = g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_WORKSPACE] = g_param_spec_object ("workspace", NULL, NULL, LATHE_TYPE_WORKSPACE,
                                                    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_JOB_RUNNING] = g_param_spec_boolean ("job-running", NULL, NULL, FALSE,
                                                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_JOB_TEXT] = g_param_spec_string ("job-text", NULL, NULL, NULL,
                                                   G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_JOB_FRACTION] = g_param_spec_double ("job-fraction", NULL, NULL, 0, 1, 0,
                                                       G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  signals[JOB_DONE] = g_signal_new ("job-done", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                    NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
  /* Something the user should hear about, outside a job (a workspace that
   * does not open). */
  signals[ERROR] = g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
lathe_session_init (LatheSession *self)
{
  self->recent = g_list_store_new (G_TYPE_FILE);
}

static void
load_recent (LatheSession *self)
{
  g_auto (GStrv) paths = g_settings_get_strv (self->settings, "recent-models");

  g_list_store_remove_all (self->recent);
  for (guint i = 0; paths[i] != NULL; i++)
    if (g_file_test (paths[i], G_FILE_TEST_IS_REGULAR))
      {
        g_autoptr (GFile) f = g_file_new_for_path (paths[i]);
        g_list_store_append (self->recent, f);
      }
}

static void
save_recent (LatheSession *self)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_auto (GStrv) paths = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->recent)); i++)
    {
      g_autoptr (GFile) f = g_list_model_get_item (G_LIST_MODEL (self->recent), i);
      g_autofree char *p = g_file_get_path (f);
      if (p != NULL)
        g_strv_builder_add (b, p);
    }
  paths = g_strv_builder_end (b);
  g_settings_set_strv (self->settings, "recent-models", (const char *const *) paths);
}

LatheSession *
lathe_session_new (GSettings *settings)
{
  LatheSession *self = g_object_new (LATHE_TYPE_SESSION, NULL);

  self->settings = g_object_ref (settings);
  load_recent (self);
  return self;
}

GSettings *
lathe_session_get_settings (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), NULL);
  return self->settings;
}

LatheModel *
lathe_session_get_model (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), NULL);
  return self->model;
}

gboolean
lathe_session_get_loading (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), FALSE);
  return self->loading;
}

GFile *
lathe_session_get_file (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), NULL);
  return self->file;
}

GListModel *
lathe_session_get_recent (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), NULL);
  return G_LIST_MODEL (self->recent);
}

static void
remove_recent (LatheSession *self, GFile *file)
{
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->recent));)
    {
      g_autoptr (GFile) f = g_list_model_get_item (G_LIST_MODEL (self->recent), i);
      if (g_file_equal (f, file))
        g_list_store_remove (self->recent, i);
      else
        i++;
    }
}

static void
remember (LatheSession *self, GFile *file)
{
  g_autofree char *path = g_file_get_path (file);

  remove_recent (self, file);
  g_list_store_insert (self->recent, 0, file);
  while (g_list_model_get_n_items (G_LIST_MODEL (self->recent)) > MAX_RECENT)
    g_list_store_remove (self->recent, MAX_RECENT);
  save_recent (self);
  if (path != NULL)
    g_settings_set_string (self->settings, "last-model", path);
}

void
lathe_session_forget_recent (LatheSession *self, GFile *file)
{
  g_return_if_fail (LATHE_IS_SESSION (self));
  remove_recent (self, file);
  save_recent (self);
}

static void
set_loading (LatheSession *self, gboolean loading)
{
  if (self->loading != loading)
    {
      self->loading = loading;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
    }
}

/* Workspaces ----------------------------------------------------------------- */

static void
set_workspace (LatheSession *self, LatheWorkspace *ws)
{
  if (g_set_object (&self->workspace, ws))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKSPACE]);
}

/* user data/lathe/workspaces/NAME-HASH: one per model file. */
static char *
workspace_dir_for (const char *model_path)
{
  g_autofree char *base = g_path_get_basename (model_path);
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, model_path, -1);
  g_autofree char *leaf = g_strdup_printf ("%s-%.8s", base, hash);

  return g_build_filename (g_get_user_data_dir (), "lathe", "workspaces", leaf, NULL);
}

/* The workspace used last with this model (one opened from elsewhere
 * reopens at the next start), else the model's own. */
static char *
last_workspace_for (LatheSession *self, const char *model_path)
{
  g_autofree char *last = g_settings_get_string (self->settings, "last-workspace");
  g_autofree char *json = g_build_filename (last, "workspace.json", NULL);
  g_autoptr (LatheWorkspace) ws = NULL;
  g_autoptr (GError) error = NULL;

  if (*last == '\0' || !g_file_test (json, G_FILE_TEST_EXISTS))
    return workspace_dir_for (model_path);
  if ((ws = lathe_workspace_open (last, &error)) == NULL)
    g_signal_emit (self, signals[ERROR], 0, error);
  else
    {
      g_autoptr (GFile) a = g_file_new_for_path (lathe_workspace_get_source (ws));
      g_autoptr (GFile) b = g_file_new_for_path (model_path);
      if (g_file_equal (a, b))
        return g_steal_pointer (&last);
    }
  return workspace_dir_for (model_path);
}

/* Variant files that could not be read are left as they are, and said. */
static void
report_problems (LatheSession *self, LatheWorkspace *ws)
{
  GPtrArray *problems = lathe_workspace_get_problems (ws);
  g_autoptr (GError) error = NULL;

  if (problems->len == 0)
    return;
  error = g_error_new (LATHE_ERROR, LATHE_ERROR_FORMAT,
                       g_dngettext (GETTEXT_PACKAGE, "%u variant file could not be read and is not shown: %s",
                                    "%u variant files could not be read and are not shown; the first: %s",
                                    problems->len),
                       problems->len, (const char *) g_ptr_array_index (problems, 0));
  g_signal_emit (self, signals[ERROR], 0, error);
}

static void
open_model_workspace (LatheSession *self)
{
  const char *path = lathe_model_get_path (self->model);
  g_autofree char *dir = self->pending_workspace != NULL ? g_steal_pointer (&self->pending_workspace)
                                                         : last_workspace_for (self, path);
  g_autofree char *json = g_build_filename (dir, "workspace.json", NULL);
  g_autofree char *text = g_settings_get_string (self->settings, "eval-text");
  g_autoptr (LatheWorkspace) ws = NULL;
  g_autoptr (GError) error = NULL;

  if (g_file_test (json, G_FILE_TEST_EXISTS))
    ws = lathe_workspace_open (dir, &error);
  else
    ws = lathe_workspace_create (dir, path, g_file_test (text, G_FILE_TEST_IS_REGULAR) ? text : NULL,
                                 &error);
  if (ws != NULL && *lathe_workspace_get_eval_text (ws) == '\0' && g_file_test (text, G_FILE_TEST_IS_REGULAR))
    lathe_workspace_set_eval_text (ws, text, NULL);
  if (ws == NULL)
    g_signal_emit (self, signals[ERROR], 0, error);
  else
    g_settings_set_string (self->settings, "last-workspace", lathe_workspace_get_dir (ws));
  set_workspace (self, ws);
  if (ws != NULL)
    report_problems (self, ws);
}

LatheWorkspace *
lathe_session_get_workspace (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), NULL);
  return self->workspace;
}

gboolean
lathe_session_open_workspace (LatheSession *self, const char *dir, GError **error)
{
  g_autoptr (LatheWorkspace) ws = lathe_workspace_open (dir, error);
  g_autoptr (GFile) file = NULL;

  if (ws == NULL)
    return FALSE;
  file = g_file_new_for_path (lathe_workspace_get_source (ws));
  g_free (self->pending_workspace);
  self->pending_workspace = g_strdup (lathe_workspace_get_dir (ws));
  lathe_session_open_async (self, file, NULL, NULL, NULL);
  return TRUE;
}

gboolean
lathe_session_set_eval_text (LatheSession *self, const char *path, GError **error)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), FALSE);
  if (self->workspace != NULL && !lathe_workspace_set_eval_text (self->workspace, path, error))
    return FALSE;
  g_settings_set_string (self->settings, "eval-text", path);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_WORKSPACE]);
  return TRUE;
}

/* The background job ----------------------------------------------------------- */

gboolean
lathe_session_get_job_running (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), FALSE);
  return self->job_cancellable != NULL;
}

const char *
lathe_session_get_job_text (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), NULL);
  return self->job_text;
}

double
lathe_session_get_job_fraction (LatheSession *self)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), 0);
  return self->job_fraction;
}

void
lathe_session_cancel_job (LatheSession *self)
{
  g_return_if_fail (LATHE_IS_SESSION (self));
  if (self->job_cancellable != NULL)
    g_cancellable_cancel (self->job_cancellable);
}

static void
set_job (LatheSession *self, const char *text, double fraction)
{
  g_free (self->job_text);
  self->job_text = g_strdup (text);
  self->job_fraction = fraction;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_JOB_TEXT]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_JOB_FRACTION]);
}

static void
job_progress_cb (gpointer user, int done, int total, double fraction, const char *stage)
{
  LatheSession *self = user;
  g_autofree char *text = NULL;

  if (self->job_cancellable == NULL)
    return;
  if (total > 1)
    text = g_strdup_printf (_("Variant %d of %d: %s"), MIN (done + 1, total), total, stage ? stage : "");
  else
    text = g_strdup (stage ? stage : "");
  set_job (self, text, total > 0 ? (done + fraction) / total : fraction);
}

static void
end_job (LatheSession *self)
{
  g_clear_object (&self->job_cancellable);
  self->job_serial++;
  set_job (self, NULL, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_JOB_RUNNING]);
}

static void
start_job (LatheSession *self, const char *text)
{
  self->job_cancellable = g_cancellable_new ();
  self->job_serial++;
  set_job (self, text, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_JOB_RUNNING]);
}

static void
job_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (LatheSession) self = user_data;
  g_autoptr (GError) error = NULL;

  lathe_workspace_measure_finish (LATHE_WORKSPACE (source), result, &error);
  end_job (self);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_clear_error (&error);
  g_signal_emit (self, signals[JOB_DONE], 0, error);
}

static gboolean
can_start (LatheSession *self, GError **error)
{
  if (self->job_cancellable != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, _("Another measurement is running"));
      return FALSE;
    }
  if (self->workspace == NULL || self->model == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, _("Open a model first"));
      return FALSE;
    }
  if (*lathe_workspace_get_eval_text (self->workspace) == '\0')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                   _("Choose an evaluation text first: quality is measured on it"));
      return FALSE;
    }
  return TRUE;
}

gboolean
lathe_session_measure_sensitivity (LatheSession *self, GError **error)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), FALSE);
  if (!can_start (self, error))
    return FALSE;
  start_job (self, _("Starting…"));
  lathe_workspace_measure_sensitivity_async (self->workspace, self->model, job_progress_cb, self,
                                             self->job_cancellable, job_done_cb, g_object_ref (self));
  return TRUE;
}

gboolean
lathe_session_measure (LatheSession *self, GPtrArray *recipes, const LatheMeasureOptions *o,
                       GError **error)
{
  g_return_val_if_fail (LATHE_IS_SESSION (self), FALSE);
  if (!can_start (self, error))
    return FALSE;
  start_job (self, _("Starting…"));
  lathe_workspace_measure_async (self->workspace, self->model, recipes, o, job_progress_cb, self,
                                 self->job_cancellable, job_done_cb, g_object_ref (self));
  return TRUE;
}

/* Jobs of the caller's ----------------------------------------------------------- */

typedef struct
{
  LatheJobFunc func;
  LatheJobDone done;
  gpointer data;
  GDestroyNotify free_data;
  GDestroyNotify free_result;
} Job;

static void
job_free (gpointer p)
{
  Job *j = p;

  if (j->free_data != NULL)
    j->free_data (j->data);
  g_free (j);
}

static void
job_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Job *j = task_data;
  GError *error = NULL;
  gpointer result = j->func (source, j->data, cancellable, &error);

  if (error != NULL)
    {
      if (result != NULL && j->free_result != NULL)
        j->free_result (result);
      g_task_return_error (task, error);
    }
  else
    g_task_return_pointer (task, result, j->free_result);
}

static void
caller_job_done_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  LatheSession *self = LATHE_SESSION (source);
  Job *j = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;
  gpointer value = g_task_propagate_pointer (G_TASK (result), &error);

  end_job (self);
  g_signal_emit (self, signals[JOB_DONE], 0, NULL);
  j->done (self, value, error, j->data);
  if (value != NULL && j->free_result != NULL)
    j->free_result (value);
}

gboolean
lathe_session_run_job (LatheSession *self, const char *text, LatheJobFunc func, LatheJobDone done,
                       gpointer data, GDestroyNotify free_data, GDestroyNotify free_result, GError **error)
{
  g_autoptr (GTask) task = NULL;
  Job *j;

  g_return_val_if_fail (LATHE_IS_SESSION (self), FALSE);
  if (self->job_cancellable != NULL)
    {
      if (free_data != NULL)
        free_data (data);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, _("Another job is running: wait for it or cancel it"));
      return FALSE;
    }
  start_job (self, text);
  j = g_new0 (Job, 1);
  j->func = func;
  j->done = done;
  j->data = data;
  j->free_data = free_data;
  j->free_result = free_result;
  task = g_task_new (self, self->job_cancellable, caller_job_done_cb, NULL);
  g_task_set_source_tag (task, lathe_session_run_job);
  g_task_set_task_data (task, j, job_free);
  g_task_run_in_thread (task, job_thread);
  return TRUE;
}

typedef struct
{
  LatheSession *self;
  guint serial;
  double fraction;
  char *text;
} Report;

static gboolean
report_cb (gpointer p)
{
  Report *r = p;

  if (r->self->job_cancellable != NULL && r->serial == r->self->job_serial)
    set_job (r->self, r->text, r->fraction >= 0 ? CLAMP (r->fraction, 0, 1) : r->self->job_fraction);
  g_object_unref (r->self);
  g_free (r->text);
  g_free (r);
  return G_SOURCE_REMOVE;
}

void
lathe_session_job_report (LatheSession *self, double fraction, const char *text)
{
  Report *r = g_new0 (Report, 1);

  r->self = g_object_ref (self);
  /* Stable while the job's thread runs: it changes when a job starts or ends. */
  r->serial = self->job_serial;
  r->fraction = fraction;
  r->text = g_strdup (text);
  g_main_context_invoke (NULL, report_cb, r);
}

static void
loaded_cb (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  LatheSession *self = g_task_get_source_object (task);
  GFile *file = g_task_get_task_data (task);
  GError *error = NULL;
  g_autoptr (LatheModel) model = lathe_model_load_finish (result, &error);

  /* A newer open replaced this one: it reports its own outcome. */
  if (g_task_get_cancellable (task) != self->cancellable)
    {
      if (model != NULL)
        g_task_return_boolean (task, FALSE);
      else
        g_task_return_error (task, error);
      return;
    }
  set_loading (self, FALSE);
  if (model == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  lathe_session_cancel_job (self);
  g_set_object (&self->model, model);
  remember (self, file);
  open_model_workspace (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
  g_task_return_boolean (task, TRUE);
}

void
lathe_session_open_async (LatheSession *self, GFile *file, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  g_autofree char *path = NULL;

  g_return_if_fail (LATHE_IS_SESSION (self));
  g_return_if_fail (G_IS_FILE (file));
  lathe_session_cancel (self);
  g_clear_object (&self->cancellable);
  self->cancellable = cancellable ? g_object_ref (cancellable) : g_cancellable_new ();
  task = g_task_new (self, self->cancellable, callback, user_data);
  g_task_set_source_tag (task, lathe_session_open_async);
  g_task_set_task_data (task, g_object_ref (file), g_object_unref);
  g_set_object (&self->file, file);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE]);
  path = g_file_get_path (file);
  if (path == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "%s is not a local file", g_file_peek_path (file));
      g_object_unref (task);
      return;
    }
  set_loading (self, TRUE);
  lathe_model_load_async (path, NULL, self->cancellable, loaded_cb, task);
}

gboolean
lathe_session_open_finish (LatheSession *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
lathe_session_cancel (LatheSession *self)
{
  g_return_if_fail (LATHE_IS_SESSION (self));
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  set_loading (self, FALSE);
}

static GFile *
find_sample (void)
{
  g_autofree char *dir = g_build_filename (g_get_user_data_dir (), "lathe", "models", NULL);
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  if (d == NULL)
    return NULL;
  while ((name = g_dir_read_name (d)) != NULL)
    if (g_str_has_suffix (name, ".gguf"))
      {
        g_autofree char *p = g_build_filename (dir, name, NULL);
        return g_file_new_for_path (p);
      }
  return NULL;
}

GFile *
lathe_session_find_default_model (LatheSession *self)
{
  g_autofree char *last = NULL;

  g_return_val_if_fail (LATHE_IS_SESSION (self), NULL);
  last = g_settings_get_string (self->settings, "last-model");
  if (last[0] != '\0' && g_file_test (last, G_FILE_TEST_IS_REGULAR))
    return g_file_new_for_path (last);
  return find_sample ();
}
