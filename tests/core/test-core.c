/* SPDX-License-Identifier: MIT */
/* Core objects: models loaded in a worker thread, the tensor list, the JSON
 * description, and streamed, cancellable generation. */
#include "config.h"

#include <string.h>

#include "lathe-error.h"
#include "lathe-generator.h"
#include "lathe-model.h"
#include "lathe-tensor-info.h"
#include "lathe-test.h"

static void
got_result_cb (GObject *source, GAsyncResult *result, gpointer data)
{
  *(GAsyncResult **) data = g_object_ref (result);
}

static GAsyncResult *
wait_result (GAsyncResult **slot)
{
  while (*slot == NULL)
    g_main_context_iteration (NULL, TRUE);
  return *slot;
}

static LatheModel *
load_stories (void)
{
  g_autofree char *path = lathe_test_shared ("models/stories260K.bin");
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;
  LatheModel *model;

  if (path == NULL)
    return NULL;
  lathe_model_load_async (path, NULL, NULL, got_result_cb, &res);
  model = lathe_model_load_finish (wait_result (&res), &error);
  g_assert_no_error (error);
  return model;
}

static void
test_model (void)
{
  g_autoptr (LatheModel) model = load_stories ();
  g_autoptr (JsonNode) json = NULL;
  g_autoptr (LatheTensorInfo) t0 = NULL;
  g_autofree char *tok = NULL, *shape = NULL;
  JsonObject *o;
  GListModel *tensors;

  if (model == NULL)
    return;
  g_assert_cmpstr (lathe_model_get_arch (model), ==, "llama");
  g_assert_cmpstr (lathe_model_get_format (model), ==, "llama2.c");
  g_assert_cmpuint (lathe_model_get_n_params (model), ==, 260032);
  g_assert_cmpuint (lathe_model_get_file_size (model), ==, 1056540);
  g_assert_cmpfloat_with_epsilon (lathe_model_get_bpw (model), 32.0, 1e-9);
  g_assert_cmpstr (lathe_model_get_main_type (model), ==, "F32");
  tok = lathe_model_dup_tokenizer_summary (model);
  g_assert_nonnull (strstr (tok, "512 tokens"));
  tensors = lathe_model_get_tensors (model);
  g_assert_cmpuint (g_list_model_get_n_items (tensors), ==, 47); /* tied output: no output.weight */
  t0 = g_list_model_get_item (tensors, 0);
  g_assert_cmpstr (lathe_tensor_info_get_name (t0), ==, "token_embd.weight");
  shape = lathe_tensor_info_dup_shape (t0);
  g_assert_cmpstr (shape, ==, "64 × 512");
  g_assert_cmpuint (lathe_tensor_info_get_n_bytes (t0), ==, 64 * 512 * 4);
  g_assert_cmpint (lathe_tensor_info_get_layer (t0), ==, -1);

  json = lathe_model_to_json (model);
  o = json_node_get_object (json);
  g_assert_cmpstr (json_object_get_string_member (o, "arch"), ==, "llama");
  g_assert_cmpint (json_object_get_int_member (o, "n_params"), ==, 260032);
  g_assert_cmpint (json_object_get_int_member (o, "file_bytes"), ==, 1056540);
  g_assert_cmpfloat (json_object_get_double_member (o, "bpw"), ==, 32.0);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "tensors")), ==, 47);
}

static void
test_load_errors (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GAsyncResult) res = NULL;
  g_autofree char *bad = g_build_filename (lathe_test_tmpdir (), "garbage.gguf", NULL);
  LatheModel *model;

  model = lathe_model_load ("/nonexistent/model.gguf", NULL, NULL, &error);
  g_assert_null (model);
  g_assert_error (error, LATHE_ERROR, LATHE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "/nonexistent/model.gguf"));
  g_clear_error (&error);

  g_file_set_contents (bad, "GGUF\x03\0\0\0garbage", 16, NULL);
  lathe_model_load_async (bad, NULL, NULL, got_result_cb, &res);
  model = lathe_model_load_finish (wait_result (&res), &error);
  g_assert_null (model);
  g_assert_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "garbage.gguf"));
}

typedef struct
{
  GString *chunks;
  guint n_chunks;
  GCancellable *cancel_after_first;
} Streamed;

static void
text_appended_cb (LatheGenerator *gen, const char *chunk, gpointer data)
{
  Streamed *s = data;

  g_assert_true (g_utf8_validate (chunk, -1, NULL));
  g_string_append (s->chunks, chunk);
  s->n_chunks++;
  if (s->cancel_after_first != NULL)
    g_cancellable_cancel (s->cancel_after_first);
}

static gboolean
collect_bytes (const char *bytes, gsize len, gpointer data)
{
  g_string_append_len (data, bytes, (gssize) len);
  return TRUE;
}

static void
test_generate_async (void)
{
  g_autoptr (LatheModel) model = load_stories ();
  g_autoptr (LatheGenerator) gen = NULL;
  g_autoptr (GAsyncResult) res = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) sync_text = g_string_new (NULL);
  Streamed s = { g_string_new (NULL), 0, NULL };
  LatheGenerationStats stats;

  if (model == NULL)
    return;
  gen = g_object_new (LATHE_TYPE_GENERATOR, "model", model, "temperature", 0.0, "n-predict", 60,
                      NULL);
  g_assert_true (lathe_generator_run (gen, "Once upon a time", collect_bytes, sync_text, &stats,
                                      NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (stats.n_generated, ==, 60);

  g_signal_connect (gen, "text-appended", G_CALLBACK (text_appended_cb), &s);
  lathe_generator_generate_async (gen, "Once upon a time", NULL, got_result_cb, &res);
  g_assert_true (lathe_generator_get_busy (gen));
  g_assert_true (lathe_generator_generate_finish (gen, wait_result (&res), &stats, &error));
  g_assert_no_error (error);
  g_assert_false (lathe_generator_get_busy (gen));
  g_assert_cmpstr (s.chunks->str, ==, sync_text->str);
  g_assert_cmpstr (lathe_generator_get_text (gen), ==, sync_text->str);
  g_assert_cmpuint (s.n_chunks, >=, 1);
  g_assert_cmpint (stats.n_generated, ==, 60);
  g_assert_cmpfloat (stats.decode_tps, >, 0);
  g_string_free (s.chunks, TRUE);
}

static void
test_generate_cancel (void)
{
  g_autoptr (LatheModel) model = load_stories ();
  g_autoptr (LatheGenerator) gen = NULL;
  g_autoptr (GAsyncResult) res = NULL, res2 = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Streamed s = { g_string_new (NULL), 0, cancellable };
  LatheGenerationStats stats;

  if (model == NULL)
    return;
  /* Long enough that it cannot finish before the cancel arrives. */
  gen = g_object_new (LATHE_TYPE_GENERATOR, "model", model, "n-predict", 0, "n-ctx", 512, NULL);
  g_signal_connect (gen, "text-appended", G_CALLBACK (text_appended_cb), &s);
  lathe_generator_generate_async (gen, "Once", cancellable, got_result_cb, &res);
  /* A second run while one is going is refused. */
  lathe_generator_generate_async (gen, "Twice", NULL, got_result_cb, &res2);
  g_assert_false (lathe_generator_generate_finish (gen, wait_result (&res2), NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error (&error);
  g_assert_true (lathe_generator_generate_finish (gen, wait_result (&res), &stats, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (stats.stop_reason, ==, "cancelled");
  g_assert_cmpint (stats.n_generated, <, 500);
  g_string_free (s.chunks, TRUE);
}

/* Greedy speculative decoding in the generator: the same text as plain
 * greedy, streamed, with the share of drafted tokens kept; cancelling stops
 * it like a plain run. */
static void
test_generate_speculative (void)
{
  g_autoptr (LatheModel) model = load_stories ();
  g_autoptr (LatheGenerator) plain = NULL, spec = NULL;
  g_autoptr (GAsyncResult) res = NULL, res2 = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) want = g_string_new (NULL);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Streamed s = { g_string_new (NULL), 0, NULL };
  Streamed c = { g_string_new (NULL), 0, cancellable };
  LatheGenerationStats stats, pstats;

  if (model == NULL)
    return;
  plain = g_object_new (LATHE_TYPE_GENERATOR, "model", model, "temperature", 0.0, "n-predict", 150, NULL);
  g_assert_true (lathe_generator_run (plain, "Once upon a time", collect_bytes, want, &pstats, NULL, &error));
  g_assert_cmpfloat (pstats.acceptance_rate, ==, -1);
  spec = g_object_new (LATHE_TYPE_GENERATOR, "model", model, "temperature", 0.0, "n-predict", 150,
                       "speculative-k", 3, "draft-skip-layers", "2", NULL);
  g_signal_connect (spec, "text-appended", G_CALLBACK (text_appended_cb), &s);
  lathe_generator_generate_async (spec, "Once upon a time", NULL, got_result_cb, &res);
  g_assert_true (lathe_generator_generate_finish (spec, wait_result (&res), &stats, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (s.chunks->str, ==, want->str);
  g_assert_cmpint (stats.n_generated, ==, 150);
  g_assert_cmpstr (stats.stop_reason, ==, "length");
  g_test_message ("speculative: acceptance %.2f, %.0f tokens/s (plain %.0f)", stats.acceptance_rate,
                  stats.decode_tps, pstats.decode_tps);
  g_assert_cmpfloat (stats.acceptance_rate, >, 0);
  g_assert_cmpfloat (stats.acceptance_rate, <=, 1);
  /* Cancelled after the first text. */
  g_object_set (spec, "n-predict", 0, "n-ctx", 512, NULL);
  g_signal_handlers_disconnect_by_data (spec, &s);
  g_signal_connect (spec, "text-appended", G_CALLBACK (text_appended_cb), &c);
  lathe_generator_generate_async (spec, "Once", cancellable, got_result_cb, &res2);
  g_assert_true (lathe_generator_generate_finish (spec, wait_result (&res2), &stats, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (stats.stop_reason, ==, "cancelled");
  g_assert_cmpint (stats.n_generated, <, 500);
  g_string_free (s.chunks, TRUE);
  g_string_free (c.chunks, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lathe/core/model", test_model);
  g_test_add_func ("/lathe/core/model/load-errors", test_load_errors);
  g_test_add_func ("/lathe/core/generator/async", test_generate_async);
  g_test_add_func ("/lathe/core/generator/cancel", test_generate_cancel);
  g_test_add_func ("/lathe/core/generator/speculative", test_generate_speculative);
  return g_test_run ();
}
