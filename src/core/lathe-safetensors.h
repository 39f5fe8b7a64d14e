/* SPDX-License-Identifier: MIT */
/* Safetensors files as Hugging Face checkpoints hold them: an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype,
 * shape and byte range, then the data. Every field comes from a file Lathe
 * does not control: sizes, offsets and dtypes are checked before anything
 * is read through them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A header longer than this is refused (the format's own reader's limit). */
#define LATHE_SAFETENSORS_MAX_HEADER ((guint64) 100 << 20)
#define LATHE_SAFETENSORS_MAX_DIMS 8

typedef enum
{
  LATHE_ST_F32,
  LATHE_ST_F16,
  LATHE_ST_BF16,
  /* Read and checked, but not converted: */
  LATHE_ST_F64,
  LATHE_ST_I64,
  LATHE_ST_I32,
  LATHE_ST_I16,
  LATHE_ST_I8,
  LATHE_ST_U8,
  LATHE_ST_BOOL,
  LATHE_ST_F8_E4M3,
  LATHE_ST_F8_E5M2,
} LatheStDtype;

typedef struct
{
  const char *name;
  LatheStDtype dtype;
  guint n_dims;
  gint64 shape[LATHE_SAFETENSORS_MAX_DIMS]; /* as stored: shape[0] is the outermost */
  gint64 n_elements;
  const guint8 *data;                       /* inside the mapped file */
  gsize nbytes;
} LatheStTensor;

typedef struct _LatheSafetensors LatheSafetensors;

/* Maps the file and checks its header. */
LatheSafetensors *lathe_safetensors_open (const char *path, GError **error);
/* The same for bytes in memory (kept by the result); name is for errors. */
LatheSafetensors *lathe_safetensors_parse (GBytes *bytes, const char *name, GError **error);
void lathe_safetensors_free (LatheSafetensors *st);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LatheSafetensors, lathe_safetensors_free)

const char *lathe_safetensors_path (const LatheSafetensors *st);
guint lathe_safetensors_n_tensors (const LatheSafetensors *st);
/* In the order of their data. */
const LatheStTensor *lathe_safetensors_tensor (const LatheSafetensors *st, guint i);
const LatheStTensor *lathe_safetensors_find (const LatheSafetensors *st, const char *name);
/* The "__metadata__" value of key, or NULL. */
const char *lathe_safetensors_metadata (const LatheSafetensors *st, const char *key);

const char *lathe_st_dtype_name (LatheStDtype dtype);
guint lathe_st_dtype_size (LatheStDtype dtype);
/* Element i of a F32, F16 or BF16 tensor as a float. */
float lathe_st_get_f32 (const LatheStTensor *t, gint64 i);

G_END_DECLS
