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
