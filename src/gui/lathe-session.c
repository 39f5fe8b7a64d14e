/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-session"

#include "config.h"

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
};

G_DEFINE_FINAL_TYPE (LatheSession, lathe_session, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_LOADING,
  PROP_FILE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
lathe_session_dispose (GObject *object)
{
  LatheSession *self = LATHE_SESSION (object);

  lathe_session_cancel (self);
  g_clear_object (&self->cancellable);
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
  g_object_class_install_properties (object_class, N_PROPS, properties);
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
  g_set_object (&self->model, model);
  remember (self, file);
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
