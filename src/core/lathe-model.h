/* SPDX-License-Identifier: MIT */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "lk-model.h"

G_BEGIN_DECLS

#define LATHE_TYPE_MODEL (lathe_model_get_type ())
G_DECLARE_FINAL_TYPE (LatheModel, lathe_model, LATHE, MODEL, GObject)

/* Loads a GGUF file or a llama2.c checkpoint (with tokenizer_path, or the
 * tokenizer found beside it). Blocking. */
LatheModel *lathe_model_load (const char *path, const char *tokenizer_path,
                              GCancellable *cancellable, GError **error);
/* The same in a worker thread. */
void lathe_model_load_async (const char *path, const char *tokenizer_path,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data);
LatheModel *lathe_model_load_finish (GAsyncResult *result, GError **error);

const char *lathe_model_get_path (LatheModel *self);
/* general.name, else the file name */
const char *lathe_model_get_name (LatheModel *self);
const char *lathe_model_get_arch (LatheModel *self);
/* "GGUF" or "llama2.c" */
const char *lathe_model_get_format (LatheModel *self);
guint64 lathe_model_get_n_params (LatheModel *self);
guint64 lathe_model_get_file_size (LatheModel *self);
double lathe_model_get_bpw (LatheModel *self);
/* The tensor type most of the weights have, e.g. "Q4_0" or "F32" */
const char *lathe_model_get_main_type (LatheModel *self);
/* "llama (SentencePiece), 512 tokens", or NULL without a tokenizer */
char *lathe_model_dup_tokenizer_summary (LatheModel *self);
/* What the blocks do, in words: norms, activation, q/k norms, windows,
 * multipliers ("RMSNorm, GELU-gated FFN, sliding window of 16 on layers 0"). */
char *lathe_model_dup_block_summary (LatheModel *self);
gboolean lathe_model_has_tokenizer (LatheModel *self);
double lathe_model_get_load_ms (LatheModel *self);

/* LatheTensorInfo items, in file order. */
GListModel *lathe_model_get_tensors (LatheModel *self);
/* The description `lathe-cli inspect --json` prints. */
JsonNode *lathe_model_to_json (LatheModel *self);
/* Tokenizes without BOS. */
/* FALSE, with an error naming the file, when the model has no tokenizer
 * (a llama2.c checkpoint loaded without its tokenizer.bin). */
gboolean lathe_model_check_tokenizer (LatheModel *self, GError **error);
GArray *lathe_model_tokenize (LatheModel *self, const char *text, GError **error);

const lk_model *lathe_model_get_engine (LatheModel *self);

/* Provenance of a variant written by Lathe: its recipe (JSON), the sha256 of
 * the model it was made from, and for a tensor whose rows did not fit the
 * type asked, that type. NULL when the file does not say. */
const char *lathe_model_get_recipe (LatheModel *self);
const char *lathe_model_get_source_sha256 (LatheModel *self);
const char *lathe_model_get_asked_type (LatheModel *self, const char *tensor);

G_END_DECLS
