/* SPDX-License-Identifier: MIT */
#include "gui-test.h"
#include "lathe-test.h"

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

void
gui_test_wait_until (gboolean (*cond) (gpointer), gpointer data, const char *what)
{
  gboolean expired = FALSE;
  guint id = g_timeout_add_seconds (120, timeout_cb, &expired);

  while (!cond (data) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (expired)
    g_error ("timed out waiting for %s", what);
  g_source_remove (id);
}

static gboolean
is_set (gpointer data)
{
  return *(gboolean *) data;
}

void
gui_test_settle (void)
{
  gboolean done = FALSE;

  g_timeout_add (200, timeout_cb, &done);
  gui_test_wait_until (is_set, &done, "the window to settle");
  while (g_main_context_pending (NULL))
    g_main_context_iteration (NULL, FALSE);
}

void
gui_test_screenshot (GtkWidget *window, const char *name)
{
  const char *dir = g_getenv ("LATHE_TEST_OUTPUT_DIR");
  GdkPaintable *paintable = gtk_widget_paintable_new (window);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  g_autoptr (GskRenderNode) node = NULL;
  g_autoptr (GdkTexture) texture = NULL;
  g_autofree char *path = NULL;
  int w, h;

  gui_test_settle ();
  w = gtk_widget_get_width (window);
  h = gtk_widget_get_height (window);
  g_assert_cmpint (w, >, 100);
  gdk_paintable_snapshot (paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node (snapshot);
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, w, h));
  path = g_build_filename (dir ? dir : lathe_test_tmpdir (), name, NULL);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("screenshot: %s", path);
  g_object_unref (paintable);
}

gboolean
gui_test_model_loaded (gpointer window)
{
  LatheSession *s = lathe_window_get_session (window);

  return lathe_session_get_model (s) != NULL && !lathe_session_get_loading (s)
         && lathe_session_get_workspace (s) != NULL;
}

LatheWindow *
gui_test_open_model (GSettings *settings, const char *path)
{
  LatheWindow *win = lathe_window_new (NULL, settings);
  g_autoptr (GFile) file = g_file_new_for_path (path);

  gtk_window_set_default_size (GTK_WINDOW (win), 1200, 760);
  gtk_window_present (GTK_WINDOW (win));
  lathe_window_open_file (win, file);
  gui_test_wait_until (gui_test_model_loaded, win, "the model to load");
  return win;
}
