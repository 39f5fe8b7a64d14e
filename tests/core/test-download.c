/* SPDX-License-Identifier: MIT */
/* Downloading from a real HTTP server of the test's own on 127.0.0.1: the
 * whole file, the server's X-Linked-Etag checked, a damaged file refused,
 * a download cancelled midway and resumed with a Range request, an HTTP
 * error and an unreachable server said plainly. */
#include "config.h"

#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lathe-download.h"
#include "lathe-test.h"

#define SIZE (3 * 1024 * 1024 + 123)

typedef struct
{
  SoupServer *server;
  char *base;
  guint8 *data;
  char *sha256;
  char *last_range; /* the Range header of the last request, or NULL */
  int requests;
  SoupServerMessage *stalled;
} Fixture;

static void
handler (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer user)
{
  Fixture *f = user;
  SoupMessageHeaders *req = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers (msg);
  const char *range = soup_message_headers_get_one (req, "Range");

  f->requests++;
  g_free (f->last_range);
  f->last_range = g_strdup (range);
  if (g_str_has_prefix (path, "/etag/") || g_str_has_prefix (path, "/damaged/"))
    {
      g_autofree char *etag = g_strdup_printf ("\"%s\"", f->sha256);
      soup_message_headers_replace (resp, "X-Linked-Etag", etag);
    }
  if (g_str_has_prefix (path, "/missing/"))
    {
      soup_server_message_set_status (msg, SOUP_STATUS_NOT_FOUND, NULL);
      return;
    }
  if (g_str_has_prefix (path, "/stall/") && range == NULL)
    {
      /* The first megabyte, then nothing until the client gives up. */
      SoupMessageBody *body = soup_server_message_get_response_body (msg);
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_message_headers_set_content_length (resp, SIZE);
      soup_message_body_append (body, SOUP_MEMORY_STATIC, f->data, 1024 * 1024);
      f->stalled = msg;
      return;
    }
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  if (g_str_has_prefix (path, "/damaged/"))
    {
      guint8 *copy = g_memdup2 (f->data, SIZE);
      copy[SIZE / 2] ^= 1;
      soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_TAKE, (char *) copy, SIZE);
    }
  else
    soup_server_message_set_response (msg, "application/octet-stream", SOUP_MEMORY_STATIC, (char *) f->data,
                                      SIZE);
}

static void
fixture_init (Fixture *f)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSList) uris = NULL;
  GRand *rand = g_rand_new_with_seed (11);

  memset (f, 0, sizeof *f);
  f->data = g_malloc (SIZE);
  for (gsize i = 0; i < SIZE; i++)
    f->data[i] = (guint8) g_rand_int (rand);
  g_rand_free (rand);
  f->sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, f->data, SIZE);
  f->server = soup_server_new (NULL, NULL);
  soup_server_add_handler (f->server, NULL, handler, f, NULL);
  /* Loopback only. */
  g_assert_true (soup_server_listen_local (f->server, 0, SOUP_SERVER_LISTEN_IPV4_ONLY, &error));
  g_assert_no_error (error);
  uris = soup_server_get_uris (f->server);
  f->base = g_uri_to_string (uris->data);
  g_assert_true (g_str_has_prefix (f->base, "http://127.0.0.1:"));
  g_slist_free_full (g_steal_pointer (&uris), (GDestroyNotify) g_uri_unref);
}

static void
fixture_clear (Fixture *f)
{
  soup_server_disconnect (f->server);
  g_object_unref (f->server);
  g_free (f->base);
  g_free (f->data);
  g_free (f->sha256);
  g_free (f->last_range);
}

typedef struct
{
  gboolean done, ok;
  GError *error;
  guint64 last_received, total;
  int reports;
  GCancellable *cancel_at_first; /* cancelled at the first report */
  gboolean monotonic;
} Run;

static void
progress_cb (gpointer user, guint64 received, guint64 total)
{
  Run *r = user;

  r->monotonic &= received >= r->last_received;
  r->last_received = received;
  r->total = total;
  r->reports++;
  if (r->cancel_at_first != NULL && received > 0)
    g_cancellable_cancel (r->cancel_at_first);
}

static void
done_cb (GObject *source, GAsyncResult *result, gpointer user)
{
  Run *r = user;

  r->ok = lathe_download_finish (result, &r->error);
  r->done = TRUE;
}

static void
download (Fixture *f, const char *path, const char *dest, const char *sha256, GCancellable *cancel, Run *r)
{
  g_autofree char *url = g_strconcat (f->base, path + 1, NULL);

  memset (r, 0, sizeof *r);
  r->monotonic = TRUE;
  r->cancel_at_first = cancel;
  lathe_download_async (url, dest, sha256, progress_cb, r, cancel, done_cb, r);
  while (!r->done)
    g_main_context_iteration (NULL, TRUE);
}

static void
assert_file (const char *path, const Fixture *f)
{
  g_autofree char *text = NULL;
  gsize len;

  g_assert_true (g_file_get_contents (path, &text, &len, NULL));
  g_assert_cmpuint (len, ==, SIZE);
  g_assert_cmpint (memcmp (text, f->data, SIZE), ==, 0);
}

static void
test_download (void)
{
  Fixture f;
  Run r;
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "dl", "models", NULL);
  g_autofree char *a = g_build_filename (dir, "a.gguf", NULL);
  g_autofree char *b = g_build_filename (dir, "b.gguf", NULL);
  g_autofree char *c = g_build_filename (dir, "c.gguf", NULL);
  g_autofree char *c_part = g_strconcat (c, ".part", NULL);
  g_autofree char *d = g_build_filename (dir, "d.gguf", NULL);
  g_autofree char *d_part = g_strconcat (d, ".part", NULL);
  g_autofree char *e = g_build_filename (dir, "e.gguf", NULL);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();

  fixture_init (&f);
  /* The whole file, checked against the catalogue's sha256. */
  download (&f, "/plain/a.gguf", a, f.sha256, NULL, &r);
  g_assert_no_error (r.error);
  g_assert_true (r.ok);
  assert_file (a, &f);
  g_assert_true (r.monotonic);
  g_assert_cmpuint (r.last_received, ==, SIZE);
  g_assert_cmpuint (r.total, ==, SIZE);

  /* No sha256 given: the server's X-Linked-Etag is checked. */
  download (&f, "/etag/b.gguf", b, NULL, NULL, &r);
  g_assert_no_error (r.error);
  assert_file (b, &f);

  /* A damaged file: refused, deleted, the reason named. */
  download (&f, "/damaged/c.gguf", c, NULL, NULL, &r);
  g_assert_false (r.ok);
  g_test_message ("%s", r.error->message);
  g_assert_nonnull (strstr (r.error->message, "damaged"));
  g_assert_nonnull (strstr (r.error->message, f.sha256));
  g_assert_false (g_file_test (c, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (c_part, G_FILE_TEST_EXISTS));
  g_clear_error (&r.error);

  /* Cancelled midway: the partial file stays; the next download resumes it. */
  download (&f, "/stall/d.gguf", d, f.sha256, cancel, &r);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&r.error);
  g_assert_false (g_file_test (d, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (d_part, G_FILE_TEST_EXISTS));
  {
    GStatBuf st;
    g_autofree char *want = NULL;
    g_assert_cmpint (g_stat (d_part, &st), ==, 0);
    g_assert_cmpint (st.st_size, >, 0);
    want = g_strdup_printf ("bytes=%lld-", (long long) st.st_size);
    download (&f, "/stall/d.gguf", d, f.sha256, NULL, &r);
    g_assert_no_error (r.error);
    g_test_message ("resumed with Range: %s", f.last_range);
    g_assert_cmpstr (f.last_range, ==, want);
  }
  assert_file (d, &f);
  g_assert_false (g_file_test (d_part, G_FILE_TEST_EXISTS));

  /* HTTP errors and an unreachable server. */
  download (&f, "/missing/e.gguf", e, NULL, NULL, &r);
  g_assert_false (r.ok);
  g_assert_nonnull (strstr (r.error->message, "HTTP 404"));
  g_clear_error (&r.error);
  {
    g_autoptr (GSocket) s = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr (GInetAddress) lo = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
    g_autoptr (GSocketAddress) any = g_inet_socket_address_new (lo, 0);
    g_autoptr (GSocketAddress) bound = NULL;
    g_autofree char *url = NULL;
    guint16 port;
    g_assert_true (g_socket_bind (s, any, TRUE, NULL));
    bound = g_socket_get_local_address (s, NULL);
    port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
    g_socket_close (s, NULL); /* nothing listens there now */
    url = g_strdup_printf ("http://127.0.0.1:%u/x.gguf", port);
    memset (&r, 0, sizeof r);
    lathe_download_async (url, e, NULL, NULL, NULL, NULL, done_cb, &r);
    while (!r.done)
      g_main_context_iteration (NULL, TRUE);
    g_assert_false (r.ok);
    g_test_message ("%s", r.error->message);
    g_assert_nonnull (strstr (r.error->message, "Could not reach 127.0.0.1"));
    g_assert_nonnull (strstr (r.error->message, "offline"));
    g_clear_error (&r.error);
  }
  g_assert_false (g_file_test (e, G_FILE_TEST_EXISTS));
  fixture_clear (&f);
}

static void
test_catalogue (void)
{
  guint n;
  const LatheSample *s = lathe_samples (&n);
  g_autofree char *dir = lathe_samples_dir ();

  g_assert_cmpuint (n, >=, 2);
  for (guint i = 0; i < n; i++)
    {
      g_assert_true (g_str_has_prefix (s[i].url, "https://huggingface.co/"));
      g_assert_true (g_str_has_suffix (s[i].file_name, ".gguf"));
      g_assert_true (lathe_sample_find (s[i].id) == &s[i]);
    }
  g_assert_nonnull (lathe_sample_find ("smollm2-135m"));
  g_assert_null (lathe_sample_find ("nothing"));
  g_assert_true (g_str_has_prefix (dir, lathe_test_tmpdir ()));
}

int
main (int argc, char **argv)
{
  g_setenv ("XDG_DATA_HOME", lathe_test_tmpdir (), TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/download/http", test_download);
  g_test_add_func ("/download/catalogue", test_catalogue);
  return g_test_run ();
}
