/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-download"

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>

#include "lathe-download.h"
#include "lathe-error.h"
#include "lathe-recipe.h"

#define CHUNK (256 * 1024)
#define REPORT_US (100 * 1000)

static const LatheSample samples[] = {
  { "stories260k", "stories260K",
    N_("A 260K-parameter llama trained on TinyStories (Karpathy's llama2.c): tiny, for trying everything in "
       "seconds"),
    "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf", "stories260K.gguf", NULL,
    1185376, "MIT" },
  { "stories15m", "stories15M (Q4_0)",
    N_("A 15M-parameter llama trained on TinyStories, in 4-bit blocks"),
    "https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories15M-q4_0.gguf",
    "stories15M-q4_0.gguf", NULL, 19000000, "MIT" },
  { "smollm2-135m", "SmolLM2-135M-Instruct (Q4_K_M)",
    N_("Hugging Face's 135M-parameter instruction-tuned model: small, and it answers questions"),
    "https://huggingface.co/bartowski/SmolLM2-135M-Instruct-GGUF/resolve/"
    "09816acd5d99df7be770d85ea30822623dab342c/SmolLM2-135M-Instruct-Q4_K_M.gguf",
    "SmolLM2-135M-Instruct-Q4_K_M.gguf", "2e8040ceae7815abe0dcb3540b9995eaa1fa0d2ca9e797d0a635ae4433c68c2d",
    105000000, "Apache-2.0" },
};

const LatheSample *
lathe_samples (guint *n)
{
  *n = G_N_ELEMENTS (samples);
  return samples;
}

const LatheSample *
lathe_sample_find (const char *id)
{
  for (guint i = 0; i < G_N_ELEMENTS (samples); i++)
    if (g_strcmp0 (samples[i].id, id) == 0)
      return &samples[i];
  return NULL;
}

char *
lathe_sample_dup_url (const LatheSample *sample)
{
  const char *mirror = g_getenv ("HF_ENDPOINT");
  const char *hub = "https://huggingface.co/";

  if (mirror != NULL && *mirror != '\0' && g_str_has_prefix (sample->url, hub))
    return g_strconcat (mirror, g_str_has_suffix (mirror, "/") ? "" : "/", sample->url + strlen (hub), NULL);
  return g_strdup (sample->url);
}

char *
lathe_samples_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "lathe", "models", NULL);
}

char *
lathe_sample_dup_path (const LatheSample *sample)
{
  g_autofree char *dir = lathe_samples_dir ();
  char *path = g_build_filename (dir, sample->file_name, NULL);

  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&path, g_free);
  return path;
}

/* Downloading ------------------------------------------------------------- */

typedef struct
{
  char *url, *dest, *sha256;
  char *server_sha256; /* from X-Linked-Etag */
  LatheDownloadProgress progress;
  gpointer progress_user;
  GMainContext *context;
  gint64 last_report;
} Job;

static void
job_free (gpointer p)
{
  Job *j = p;

  g_free (j->url);
  g_free (j->dest);
  g_free (j->sha256);
  g_free (j->server_sha256);
  g_main_context_unref (j->context);
  g_free (j);
}

typedef struct
{
  GTask *task;
  guint64 received, total;
} Report;

static gboolean
report_cb (gpointer data)
{
  Report *r = data;
  Job *j = g_task_get_task_data (r->task);

  if (!g_task_get_completed (r->task))
    j->progress (j->progress_user, r->received, r->total);
  g_object_unref (r->task);
  g_free (r);
  return G_SOURCE_REMOVE;
}

static void
report (GTask *task, guint64 received, guint64 total, gboolean force)
{
  Job *j = g_task_get_task_data (task);
  const gint64 now = g_get_monotonic_time ();
  Report *r;

  if (j->progress == NULL || (!force && now - j->last_report < REPORT_US))
    return;
  j->last_report = now;
  r = g_new (Report, 1);
  r->task = g_object_ref (task);
  r->received = received;
  r->total = total;
  g_main_context_invoke (j->context, report_cb, r);
}

/* Hugging Face names an LFS file's sha256 in X-Linked-Etag, on the answer
 * that redirects to the storage: every answer's headers are looked at. */
static void
got_headers_cb (SoupMessage *msg, Job *j)
{
  const char *etag = soup_message_headers_get_one (soup_message_get_response_headers (msg), "X-Linked-Etag");
  g_autofree char *clean = NULL;

  if (etag == NULL)
    return;
  clean = g_strdup (g_str_has_prefix (etag, "W/") ? etag + 2 : etag);
  g_strdelimit (clean, "\"", ' ');
  g_strstrip (clean);
  if (lathe_is_sha256 (clean))
    {
      g_free (j->server_sha256);
      j->server_sha256 = g_ascii_strdown (clean, -1);
    }
}

/* Errors of reaching the server at all: the user is probably offline. */
static gboolean
is_unreachable (const GError *e)
{
  return e->domain == G_RESOLVER_ERROR || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE)
         || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_HOST_UNREACHABLE)
         || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED)
         || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT)
         || g_error_matches (e, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

static void
fail_unreachable (GError **error, const char *url, GError *cause)
{
  g_autoptr (GUri) uri = g_uri_parse (url, G_URI_FLAGS_NONE, NULL);

  if (is_unreachable (cause))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NETWORK_UNREACHABLE,
                 _("Could not reach %s — are you offline? (%s)"), uri ? g_uri_get_host (uri) : url,
                 cause->message);
  else
    g_propagate_error (error, g_error_copy (cause));
}

/* Opens the partial file: appended to when the server resumes at its
 * end, else started over. */
static GOutputStream *
open_part (const char *part, gboolean append, GError **error)
{
  g_autoptr (GFile) file = g_file_new_for_path (part);

  if (append)
    return G_OUTPUT_STREAM (g_file_append_to (file, G_FILE_CREATE_NONE, NULL, error));
  return G_OUTPUT_STREAM (g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, error));
}

static gboolean
copy_body (GTask *task, GInputStream *in, GOutputStream *out, guint64 received, guint64 total,
           GCancellable *cancellable, GError **error)
{
  g_autofree guint8 *buf = g_malloc (CHUNK);
  gssize n;

  while ((n = g_input_stream_read (in, buf, CHUNK, cancellable, error)) > 0)
    {
      if (!g_output_stream_write_all (out, buf, (gsize) n, NULL, cancellable, error))
        return FALSE;
      received += (guint64) n;
      report (task, received, total, FALSE);
    }
  if (n < 0)
    return FALSE;
  if (total > 0 && received != total)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_PARTIAL_INPUT,
                   _("The connection ended after %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " bytes"),
                   received, total);
      return FALSE;
    }
  report (task, received, total, TRUE);
  return TRUE;
}

/* GETs the file into part, from offset on when the server can. */
static gboolean
fetch (GTask *task, Job *j, SoupSession *session, const char *part, guint64 offset, GCancellable *cancellable,
       GError **error)
{
  g_autoptr (SoupMessage) msg = soup_message_new ("GET", j->url);
  g_autoptr (GInputStream) in = NULL;
  g_autoptr (GOutputStream) out = NULL;
  g_autoptr (GError) local = NULL;
  SoupMessageHeaders *headers;
  goffset start = 0, end = 0, length = 0;
  guint status;
  gboolean ok;

  if (msg == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _("%s: not a web address"), j->url);
      return FALSE;
    }
  if (offset > 0)
    soup_message_headers_set_range (soup_message_get_request_headers (msg), (goffset) offset, -1);
  g_signal_connect (msg, "got-headers", G_CALLBACK (got_headers_cb), j);
  if ((in = soup_session_send (session, msg, cancellable, &local)) == NULL)
    {
      fail_unreachable (error, j->url, local);
      return FALSE;
    }
  status = soup_message_get_status (msg);
  headers = soup_message_get_response_headers (msg);
  /* Asked to resume a file that is complete already. */
  if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE && offset > 0)
    return TRUE;
  if (status != SOUP_STATUS_OK && status != SOUP_STATUS_PARTIAL_CONTENT)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: the server answered HTTP %u %s"), j->url, status,
                   soup_message_get_reason_phrase (msg));
      return FALSE;
    }
  if (status == SOUP_STATUS_PARTIAL_CONTENT
      && (!soup_message_headers_get_content_range (headers, &start, &end, &length) || (guint64) start != offset))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: the server resumed at the wrong place"), j->url);
      return FALSE;
    }
  if (status == SOUP_STATUS_OK)
    offset = 0;
  if ((out = open_part (part, offset > 0, error)) == NULL)
    return FALSE;
  length = soup_message_headers_get_content_length (headers);
  ok = copy_body (task, in, out, offset, length > 0 ? offset + (guint64) length : 0, cancellable, error);
  if (!g_output_stream_close (out, NULL, ok ? error : NULL))
    ok = FALSE;
  return ok;
}

static gboolean
verify (Job *j, const char *part, GCancellable *cancellable, GError **error)
{
  const char *want = j->sha256 != NULL ? j->sha256 : j->server_sha256;
  g_autofree char *got = NULL;

  if (want == NULL)
    return TRUE;
  if ((got = lathe_file_sha256 (part, cancellable, error)) == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (got, want) != 0)
    {
      g_unlink (part);
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   _("%s: the download is damaged: its sha256 is %s, expected %s; it was deleted"), j->url, got,
                   want);
      return FALSE;
    }
  return TRUE;
}

static void
download_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  Job *j = task_data;
  g_autofree char *part = g_strconcat (j->dest, ".part", NULL);
  g_autofree char *dir = g_path_get_dirname (j->dest);
  g_autoptr (GMainContext) context = g_main_context_new ();
  g_autoptr (SoupSession) session = NULL;
  GError *error = NULL;
  GStatBuf st;
  guint64 offset = 0;
  gboolean ok;

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_task_return_new_error (task, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", dir,
                               g_strerror (errno));
      return;
    }
  if (g_stat (part, &st) == 0)
    offset = (guint64) st.st_size;
  g_main_context_push_thread_default (context);
  session = soup_session_new_with_options ("user-agent", "Lathe/" PACKAGE_VERSION, "timeout", 60, NULL);
  ok = fetch (task, j, session, part, offset, cancellable, &error) && verify (j, part, cancellable, &error);
  g_clear_object (&session);
  g_main_context_pop_thread_default (context);
  if (ok && g_rename (part, j->dest) != 0)
    {
      ok = FALSE;
      g_set_error (&error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", j->dest, g_strerror (errno));
    }
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
lathe_download_async (const char *url, const char *dest, const char *sha256, LatheDownloadProgress progress,
                      gpointer progress_user, GCancellable *cancellable, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  Job *j = g_new0 (Job, 1);

  j->url = g_strdup (url);
  j->dest = g_strdup (dest);
  j->sha256 = g_strdup (sha256);
  j->progress = progress;
  j->progress_user = progress_user;
  j->context = g_main_context_ref_thread_default ();
  g_task_set_source_tag (task, lathe_download_async);
  g_task_set_task_data (task, j, job_free);
  g_task_run_in_thread (task, download_thread);
}

gboolean
lathe_download_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
