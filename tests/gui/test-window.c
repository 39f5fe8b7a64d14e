/* SPDX-License-Identifier: MIT */
/* The window, driven through its actions under a real display: open the
 * real model, check what the pages show, generate, stop. Screenshots of each
 * page go to the test log folder. */
#include "config.h"

#include <adwaita.h>
#include <string.h>

#include "gui-test.h"
#include "lathe-test-hf.h"
#include "lathe-test.h"
#include "lathe-tensor-info.h"
#include "lathe-window.h"

static GSettings *settings;


static gboolean
session_idle (gpointer data)
{
  LatheSession *s = lathe_window_get_session (data);

  return !lathe_session_get_loading (s);
}

static gboolean
model_loaded (gpointer data)
{
  return lathe_session_get_model (lathe_window_get_session (data)) != NULL
         && session_idle (data);
}

static LatheWindow *
new_window (void)
{
  LatheWindow *win = lathe_window_new (NULL, settings);

  gtk_window_set_default_size (GTK_WINDOW (win), 1200, 760);
  gtk_window_present (GTK_WINDOW (win));
  return win;
}

static void
test_welcome (void)
{
  LatheWindow *win = new_window ();

  gui_test_settle ();
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "welcome");
  /* Without a model the page actions do nothing. */
  lathe_window_set_visible_page (win, "playground");
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "welcome");
  gui_test_screenshot (GTK_WIDGET (win), "page-welcome.png");
  gtk_window_destroy (GTK_WINDOW (win));
}

static void
test_bad_file (void)
{
  g_autofree char *bad = g_build_filename (lathe_test_tmpdir (), "broken.gguf", NULL);
  g_autoptr (GFile) file = g_file_new_for_path (bad);
  LatheWindow *win = new_window ();

  g_file_set_contents (bad, "GGUF\x03\0\0\0broken", 14, NULL);
  lathe_window_open_file (win, file);
  gui_test_wait_until (session_idle, win, "the failed load");
  gui_test_settle ();
  /* The error shows as a toast; the window stays usable on the welcome page. */
  g_assert_null (lathe_session_get_model (lathe_window_get_session (win)));
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "welcome");
  gui_test_screenshot (GTK_WIDGET (win), "error-toast.png");
  gtk_window_destroy (GTK_WINDOW (win));
}

static gboolean
not_busy (gpointer data)
{
  return !lathe_playground_page_get_busy (data);
}

static gboolean
has_output (gpointer data)
{
  g_autofree char *out = lathe_playground_page_dup_output (data);

  return strlen (out) > 40;
}

/* A gemma2 file: its blocks described on the Model page, its tensors (the
 * post-norms too) in the table, its eight matrices per block in the map, and
 * greedy text in the Playground as llama.cpp's begins. */
static void
test_other_architecture (void)
{
  g_autofree char *path = lathe_test_shared ("archs/gemma2.gguf");
  g_autofree char *expect = lathe_test_shared ("archs/gemma2.txt");
  g_autofree char *ref = NULL, *out = NULL;
  g_autoptr (GFile) file = NULL;
  LatheWindow *win;
  LatheModelPage *mp;
  LathePlaygroundPage *pp;

  if (path == NULL || expect == NULL)
    return;
  g_assert_true (g_file_get_contents (expect, &ref, NULL, NULL));
  win = new_window ();
  file = g_file_new_for_path (path);
  lathe_window_open_file (win, file);
  gui_test_wait_until (model_loaded, win, "the model to load");
  gui_test_settle ();
  mp = lathe_window_get_model_page (win);
  g_assert_cmpstr (lathe_model_page_get_info (mp, "Architecture"), ==, "gemma2");
  g_assert_nonnull (strstr (lathe_model_page_get_info (mp, "Blocks"), "sliding window of 16 on layers 0"));
  g_assert_nonnull (strstr (lathe_model_page_get_info (mp, "Blocks"), "logits soft-capped at 30"));
  g_assert_cmpuint (g_list_model_get_n_items (lathe_model_page_get_shown_tensors (mp)), ==, 2 + 2 * 11);
  g_assert_cmpint (lathe_layer_map_get_n_layers (lathe_model_page_get_layer_map (mp)), ==, 2);
  gui_test_screenshot (GTK_WIDGET (win), "page-model-gemma2.png");
  {
    GtkWidget *sw = gtk_widget_get_ancestor (GTK_WIDGET (lathe_model_page_get_layer_map (mp)), GTK_TYPE_SCROLLED_WINDOW);
    GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (sw));
    gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
    gui_test_screenshot (GTK_WIDGET (win), "page-model-gemma2-blocks.png");
  }

  g_settings_set_double (settings, "temperature", 0.0);
  g_settings_set_int (settings, "max-tokens", 32);
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "playground");
  pp = lathe_window_get_playground_page (win);
  lathe_playground_page_set_prompt (pp, "Once upon a time");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (pp), "playground.generate", NULL));
  gui_test_wait_until (not_busy, pp, "the generation to finish");
  out = lathe_playground_page_dup_output (pp);
  g_test_message ("gemma2 in the Playground: %s", out);
  /* llama.cpp's text (its leading space aside) follows the prompt. */
  g_assert_nonnull (strstr (out, g_strstrip (ref)));
  gui_test_screenshot (GTK_WIDGET (win), "page-playground-gemma2.png");
  gtk_window_destroy (GTK_WINDOW (win));
  gui_test_settle ();
}

static gboolean
job_running (gpointer data)
{
  return lathe_session_get_job_running (lathe_window_get_session (data));
}

static gboolean
toast_shown (gpointer data)
{
  return lathe_window_get_last_toast (data) != NULL;
}

/* A Hugging Face checkpoint folder opens by converting it as the window's
 * job; the conversion is kept and opened again without converting; a
 * damaged checkpoint is said in a toast and nothing is written. */
static void
test_hf_checkpoint (void)
{
  g_autofree char *gguf = lathe_test_shared ("archs/qwen3.gguf");
  g_autofree char *dir = NULL, *converted = NULL, *config = NULL, *bad_dir = NULL, *bad_out = NULL;
  const LatheHfCase *cases, *qwen3 = NULL;
  g_autoptr (GFile) folder = NULL;
  LatheWindow *win;
  guint n;

  if (gguf == NULL)
    return;
  cases = lathe_test_hf_cases (&n);
  for (guint i = 0; i < n; i++)
    if (strcmp (cases[i].arch, "qwen3") == 0)
      qwen3 = &cases[i];
  dir = lathe_test_hf_checkpoint (qwen3, gguf, "Qwen3-tiny");
  converted = g_build_filename (g_get_user_data_dir (), "lathe", "converted", "Qwen3-tiny-F16.gguf", NULL);
  win = new_window ();
  folder = g_file_new_for_path (dir);
  lathe_window_open_file (win, folder);
  g_assert_true (job_running (win));
  g_assert_cmpstr (lathe_session_get_job_text (lathe_window_get_session (win)), ==, "Converting Qwen3-tiny to GGUF…");
  gui_test_screenshot (GTK_WIDGET (win), "hf-converting.png");
  gui_test_wait_until (model_loaded, win, "the converted model to load");
  gui_test_settle ();
  g_assert_true (g_file_test (converted, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpstr (lathe_model_page_get_info (lathe_window_get_model_page (win), "Architecture"), ==, "qwen3");
  gui_test_screenshot (GTK_WIDGET (win), "hf-converted.png");
  /* Again: the conversion is newer than the folder's files. */
  lathe_window_open_file (win, folder);
  g_assert_false (job_running (win));
  gui_test_wait_until (model_loaded, win, "the conversion to open again");
  /* A checkpoint without its hidden size. */
  bad_dir = lathe_test_hf_checkpoint (qwen3, gguf, "Qwen3-bad");
  config = g_build_filename (bad_dir, "config.json", NULL);
  g_assert_true (g_file_set_contents (config, "{\"architectures\": [\"Qwen3ForCausalLM\"]}", -1, NULL));
  bad_out = g_build_filename (g_get_user_data_dir (), "lathe", "converted", "Qwen3-bad-F16.gguf", NULL);
  {
    g_autoptr (GFile) bad = g_file_new_for_path (bad_dir);
    lathe_window_open_file (win, bad);
  }
  gui_test_wait_until (toast_shown, win, "the conversion's error");
  gui_test_wait_until (session_idle, win, "the job to end");
  g_test_message ("toast: %s", lathe_window_get_last_toast (win));
  g_assert_nonnull (strstr (lathe_window_get_last_toast (win), "Could not convert the checkpoint: "));
  g_assert_nonnull (strstr (lathe_window_get_last_toast (win), "key 'hidden_size' is missing"));
  g_assert_false (g_file_test (bad_out, G_FILE_TEST_EXISTS));
  gtk_window_destroy (GTK_WINDOW (win));
  gui_test_settle ();
}

static void
test_model_and_playground (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.bin");
  g_autofree char *ref = lathe_test_reference_text ();
  g_autoptr (GFile) file = NULL;
  g_autofree char *out = NULL;
  LatheWindow *win;
  LatheModelPage *mp;
  LathePlaygroundPage *pp;
  GListModel *shown;
  GtkColumnView *view;
  GtkColumnViewColumn *size_col;

  if (path == NULL || ref == NULL)
    return;
  win = new_window ();
  file = g_file_new_for_path (path);
  lathe_window_open_file (win, file);
  gui_test_wait_until (model_loaded, win, "the model to load");
  gui_test_settle ();
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "model");

  /* The overview and the tensor table. */
  mp = lathe_window_get_model_page (win);
  g_assert_cmpstr (lathe_model_page_get_info (mp, "Architecture"), ==, "llama");
  g_assert_cmpstr (lathe_model_page_get_info (mp, "Layers"), ==, "5");
  g_assert_cmpstr (lathe_model_page_get_info (mp, "Bits per Weight"), ==, "32.00");
  g_assert_nonnull (strstr (lathe_model_page_get_info (mp, "Tokenizer"), "512 tokens"));
  shown = lathe_model_page_get_shown_tensors (mp);
  g_assert_cmpuint (g_list_model_get_n_items (shown), ==, 47);
  view = lathe_model_page_get_tensor_view (mp);
  size_col = g_list_model_get_item (gtk_column_view_get_columns (view), 4);
  g_assert_cmpstr (gtk_column_view_column_get_title (size_col), ==, "Size");
  gtk_column_view_sort_by_column (view, size_col, GTK_SORT_DESCENDING);
  {
    g_autoptr (LatheTensorInfo) first = g_list_model_get_item (shown, 0);
    g_autoptr (LatheTensorInfo) last = g_list_model_get_item (shown, 46);
    g_assert_cmpstr (lathe_tensor_info_get_name (first), ==, "token_embd.weight");
    g_assert_cmpuint (lathe_tensor_info_get_n_bytes (last), ==, 256);
  }
  g_object_unref (size_col);
  /* The layer map: five blocks of seven matrices; a cell names its tensor. */
  {
    LatheLayerMap *map = lathe_model_page_get_layer_map (mp);
    g_autofree char *text = NULL;
    int layer = -1, k = -1, down = -1;
    g_assert_cmpint (lathe_layer_map_get_n_layers (map), ==, 5);
    g_assert_cmpint (lathe_layer_map_get_n_kinds (map), ==, 7);
    for (int i = 0; i < 7; i++)
      if (g_strcmp0 (lathe_layer_map_get_kind (map, i), "ffn_down") == 0)
        down = i;
    g_assert_cmpint (down, >=, 0);
    g_assert_cmpstr (lathe_layer_map_get_tensor (map, 3, down), ==, "blk.3.ffn_down.weight");
    g_assert_null (lathe_layer_map_get_tensor (map, 5, down));
    text = lathe_layer_map_describe (map, 3, down);
    g_assert_nonnull (strstr (text, "blk.3.ffn_down.weight"));
    g_assert_nonnull (strstr (text, "F32, 172 × 64"));
    g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (map)), >, 0);
    g_assert_true (lathe_layer_map_cell_at (map, 40, 70, &layer, &k));
    g_assert_cmpint (layer, ==, 0);
    g_assert_false (lathe_layer_map_cell_at (map, 5, 5, &layer, &k));
    gui_test_screenshot (GTK_WIDGET (win), "page-model.png");
    {
      GtkWidget *sw = gtk_widget_get_ancestor (GTK_WIDGET (map), GTK_TYPE_SCROLLED_WINDOW);
      GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (sw));
      gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
      gui_test_screenshot (GTK_WIDGET (win), "page-model-layers.png");
    }
  }

  /* Generate greedily: the streamed text is the reference story. */
  g_settings_set_double (settings, "temperature", 0.0);
  g_settings_set_int (settings, "max-tokens", 200);
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "playground");
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "playground");
  pp = lathe_window_get_playground_page (win);
  lathe_playground_page_set_prompt (pp, "Once upon a time");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (pp), "playground.generate", NULL));
  g_assert_true (lathe_playground_page_get_busy (pp));
  gui_test_wait_until (not_busy, pp, "the generation to finish");
  out = lathe_playground_page_dup_output (pp);
  if (!g_str_has_prefix (out, ref))
    g_error ("the playground shows:\n%s\nexpected it to start with:\n%s", out, ref);
  g_assert_nonnull (strstr (lathe_playground_page_get_status (pp), "tokens/s"));
  g_assert_nonnull (strstr (lathe_playground_page_get_status (pp), "length"));
  gui_test_screenshot (GTK_WIDGET (win), "page-playground.png");

  /* Speculative decoding: the same greedy text, and the share of drafts kept. */
  g_settings_set_boolean (settings, "speculative", TRUE);
  g_settings_set_int (settings, "speculative-k", 3);
  g_settings_set_string (settings, "draft-skip-layers", "2");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (pp), "playground.generate", NULL));
  gui_test_wait_until (not_busy, pp, "the speculative generation");
  {
    g_autofree char *spec = lathe_playground_page_dup_output (pp);
    g_assert_cmpstr (spec, ==, out);
    g_test_message ("%s", lathe_playground_page_get_status (pp));
    g_assert_nonnull (strstr (lathe_playground_page_get_status (pp), "of drafts kept"));
  }
  g_settings_set_boolean (settings, "speculative", FALSE);

  /* Stop: a long run ends at once, the window keeps working. */
  g_settings_set_double (settings, "temperature", 0.8);
  g_settings_set_int (settings, "max-tokens", 65536);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (pp), "playground.generate", NULL));
  gui_test_wait_until (has_output, pp, "the first tokens");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (pp), "playground.stop", NULL));
  gui_test_wait_until (not_busy, pp, "the stop");
  g_assert_true (strstr (lathe_playground_page_get_status (pp), "cancelled") != NULL
                 || strstr (lathe_playground_page_get_status (pp), "context full") != NULL);

  /* Closing the window mid-run cancels the run. */
  g_object_ref (pp);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (pp), "playground.generate", NULL));
  gtk_window_close (GTK_WINDOW (win));
  gui_test_wait_until (not_busy, pp, "the run to end with the window");
  g_assert_cmpstr (lathe_playground_page_get_last_stop_reason (pp), ==, "cancelled");
  g_object_unref (pp);
}

int
main (int argc, char **argv)
{
  /* Conversions go to the user's data folder: one of the test's own. */
  g_setenv ("XDG_DATA_HOME", lathe_test_tmpdir (), TRUE);
  gtk_test_init (&argc, &argv, NULL);
  adw_init ();
  settings = g_settings_new ("io.github.lathe.Lathe");
  g_test_add_func ("/lathe/gui/welcome", test_welcome);
  g_test_add_func ("/lathe/gui/bad-file", test_bad_file);
  g_test_add_func ("/lathe/gui/model-and-playground", test_model_and_playground);
  g_test_add_func ("/lathe/gui/other-architecture", test_other_architecture);
  g_test_add_func ("/lathe/gui/hf-checkpoint", test_hf_checkpoint);
  return g_test_run ();
}
