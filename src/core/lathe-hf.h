/* SPDX-License-Identifier: MIT */
/* Hugging Face checkpoints (a folder with config.json, safetensors and a
 * tokenizer) converted to the GGUF layout llama.cpp's converter writes:
 * its tensor names, its q/k permutations, its keys and its tokenizer. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  LATHE_HF_OUT_F16,  /* llama.cpp's default */
  LATHE_HF_OUT_F32,
  LATHE_HF_OUT_BF16,
  LATHE_HF_OUT_Q8_0,
  LATHE_HF_OUT_AUTO, /* the checkpoint's own float type (F32 stays F16) */
} LatheHfOutType;

typedef struct
{
  LatheHfOutType type;
  const char *pre; /* tokenizer.ggml.pre to write, NULL: found from tokenizer.json */
} LatheHfOptions;

void lathe_hf_options_init (LatheHfOptions *o);

/* TRUE for a folder holding config.json (a checkpoint to convert). */
gboolean lathe_hf_is_checkpoint (const char *path);
/* "f16" and so on; FALSE for a name that is none of them. */
gboolean lathe_hf_out_type_parse (const char *name, LatheHfOutType *out);
/* The Hugging Face classes (config.json "architectures") Lathe converts. */
const char *lathe_hf_supported_list (void);

/* fraction in [0, 1] of the tensor bytes written, from the converting thread. */
typedef void (*LatheHfProgressFunc) (double fraction, gpointer user_data);

/* Converts folder to a GGUF file at output (written atomically, then opened
 * by the engine to check it before it takes output's name). */
gboolean lathe_hf_convert (const char *folder, const char *output, const LatheHfOptions *options,
                           LatheHfProgressFunc progress, gpointer user_data,
                           GCancellable *cancellable, GError **error);

/* The same in a thread; progress comes to the caller's main context. */
void lathe_hf_convert_async (const char *folder, const char *output,
                             const LatheHfOptions *options,
                             LatheHfProgressFunc progress, gpointer user_data,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer callback_data);
gboolean lathe_hf_convert_finish (GAsyncResult *result, GError **error);

G_END_DECLS
