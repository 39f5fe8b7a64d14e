/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>

#include "lathe-model.h"

G_BEGIN_DECLS

#define LATHE_TYPE_GENERATOR (lathe_generator_get_type ())
G_DECLARE_FINAL_TYPE (LatheGenerator, lathe_generator, LATHE, GENERATOR, GObject)

typedef struct
{
  int n_prompt;
  int n_generated;
  double prompt_ms;
  double gen_ms;
  double ttft_ms;
  double prompt_tps;
  double decode_tps;
  const char *stop_reason;
  double layers_mean; /* layers run per generated token (conditional computation) */
  double acceptance_rate; /* speculative decoding: drafted tokens kept; -1 without */
} LatheGenerationStats;

/* Receives the bytes of each generated token (possibly an incomplete UTF-8
 * sequence); return FALSE to stop. */
typedef gboolean (*LatheBytesFunc) (const char *bytes, gsize len, gpointer user_data);

LatheGenerator *lathe_generator_new (LatheModel *model);
LatheModel *lathe_generator_get_model (LatheGenerator *self);
gboolean lathe_generator_get_busy (LatheGenerator *self);
/* The text generated so far by the current or last asynchronous run (valid
 * UTF-8, prompt not included). */
const char *lathe_generator_get_text (LatheGenerator *self);

/* Runs in the calling thread. */
gboolean lathe_generator_run (LatheGenerator *self, const char *prompt, LatheBytesFunc func,
                              gpointer user_data, LatheGenerationStats *stats,
                              GCancellable *cancellable, GError **error);

/* Runs in a worker thread; the text arrives through the ::text-appended
 * signal in the calling thread's main context. Cancelling stops it at the
 * next token and the run finishes without error. */
void lathe_generator_generate_async (LatheGenerator *self, const char *prompt,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean lathe_generator_generate_finish (LatheGenerator *self, GAsyncResult *result,
                                          LatheGenerationStats *stats, GError **error);

G_END_DECLS
