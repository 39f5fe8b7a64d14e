/* SPDX-License-Identifier: MIT */
/* Sample models and downloading them over HTTP(S) with libsoup: progress,
 * resume of a partial file, sha256 check, and errors that say what went
 * wrong (offline, HTTP status, checksum). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  const char *id;          /* "stories260k" */
  const char *name;        /* shown */
  const char *description; /* shown, untranslated here: _() it */
  const char *url;
  const char *file_name;   /* in the samples folder */
  const char *sha256;      /* expected, or NULL: the server's X-Linked-Etag */
  guint64 size;            /* approximate, for showing; 0: unknown */
  const char *license;
} LatheSample;

/* The catalogue of sample models. */
const LatheSample *lathe_samples (guint *n);
const LatheSample *lathe_sample_find (const char *id);
/* Where to get it: the catalogue's address, on the mirror $HF_ENDPOINT
 * names when set (as the Hugging Face tools do). */
char *lathe_sample_dup_url (const LatheSample *sample);
/* user data folder/lathe/models */
char *lathe_samples_dir (void);
/* The sample's file once downloaded, else NULL. */
char *lathe_sample_dup_path (const LatheSample *sample);

typedef void (*LatheDownloadProgress) (gpointer user, guint64 received, guint64 total);

/* Downloads url to dest: into dest.part (resumed when one is there),
 * checked against sha256 (NULL: the server's X-Linked-Etag when it sends
 * one), then renamed into place. Cancelled, the partial file stays for a
 * resume; failed the check, it goes. progress runs in the caller's main
 * context. */
void lathe_download_async (const char *url, const char *dest, const char *sha256,
                           LatheDownloadProgress progress, gpointer progress_user,
                           GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data);
gboolean lathe_download_finish (GAsyncResult *result, GError **error);

G_END_DECLS
