/* SPDX-License-Identifier: MIT */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define LATHE_TYPE_TENSOR_INFO (lathe_tensor_info_get_type ())
G_DECLARE_FINAL_TYPE (LatheTensorInfo, lathe_tensor_info, LATHE, TENSOR_INFO, GObject)

LatheTensorInfo *lathe_tensor_info_new (const char *name, const char *type_name,
                                        guint n_dims, const gint64 *ne, guint64 n_bytes);
const char *lathe_tensor_info_get_name (LatheTensorInfo *self);
const char *lathe_tensor_info_get_type_name (LatheTensorInfo *self);
guint lathe_tensor_info_get_n_dims (LatheTensorInfo *self);
gint64 lathe_tensor_info_get_dim (LatheTensorInfo *self, guint i);
/* "64 × 512", rows last as GGUF writes them */
char *lathe_tensor_info_dup_shape (LatheTensorInfo *self);
guint64 lathe_tensor_info_get_n_elements (LatheTensorInfo *self);
guint64 lathe_tensor_info_get_n_bytes (LatheTensorInfo *self);
double lathe_tensor_info_get_bpw (LatheTensorInfo *self);
/* The block number in "blk.N.…", or -1. */
int lathe_tensor_info_get_layer (LatheTensorInfo *self);

G_END_DECLS
