/* SPDX-License-Identifier: MIT */
/* Writing a model with its tensors converted to other types. */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lk-gguf.h"
#include "lk-model.h"
#include "lk-prune.h"
#include "lk-status.h"

/* Presets that vary the type by tensor, as llama.cpp's file types do. */
typedef enum
{
  LK_MIX_NONE = 0, /* the base type, with llama.cpp's rule for the output head */
  LK_MIX_PURE,     /* every matrix gets the base type (where its rows fit) */
  LK_MIX_Q2_K,
  LK_MIX_Q3_K_M,
  LK_MIX_Q4_K_M,
  LK_MIX_Q5_K_M,
} lk_mix;

typedef struct
{
  lk_type type;
  lk_mix mix;
  /* Optional: the final say on a tensor's type (may return `proposed`). */
  lk_type (*override) (void *user, const char *name, int layer, lk_type proposed);
  /* Optional: importance of each input column of a matrix, or NULL for
   * none: n values, its columns, or for a stack of experts [n_cols, n_rows,
   * n_expert] n_cols × n_expert, expert by expert (lk_imatrix_mean_square). */
  const float *(*importance) (void *user, const char *name, int64_t n);
  /* Optional: true to prune matrix t (as spec says) before it is converted. */
  bool (*prune) (void *user, const lk_tensor *t, lk_prune_spec *spec);
  void *user;
  /* Optional: adds metadata to the output (recipe, provenance, ...). */
  void (*add_metadata) (void *user, lk_gguf_writer *w);
  int n_threads;
  void (*progress) (void *user, int done, int total, const char *tensor);
  atomic_int *cancel;
} lk_quantize_params;

typedef struct
{
  /* A copy: the report outlives the model it was written from (a recipe's
   * structural step makes a model of its own and frees it). */
  char *name;
  lk_type from, to;
  bool fell_back; /* the asked type did not fit the rows */
  lk_type asked;
  int64_t zeros;  /* weights set to zero by pruning (known once written) */
  int64_t n_elements;
} lk_quantize_entry;

typedef struct
{
  lk_quantize_entry *entries;
  size_t n;
  uint64_t bytes_in, bytes_out;
} lk_quantize_report;

void lk_quantize_params_init (lk_quantize_params *p);
/* True for the types Lathe can write weights in (F32, F16, BF16, Q8_0 …
 * Q4_0, Q6_K … Q2_K, IQ4_XS, IQ4_NL, MXFP4, the ternary and the grid
 * types); a type from a file, a table or a recipe is checked against this
 * before anything is converted to it. */
bool lk_quantize_can_write (lk_type type);
/* The grid types (IQ1_S … IQ3_S): written only with the importance of each
 * column (an imatrix), as llama.cpp writes them. */
bool lk_quantize_needs_importance (lk_type type);
/* Those types, for messages ("F32, F16, …"). */
const char *lk_quantize_writable_list (void);
/* "Q4_0", "Q4_K_M", "F16", …: a base type and a mix. */
bool lk_quantize_parse_type (const char *name, lk_type *type, lk_mix *mix);
const char *lk_mix_name (lk_mix mix);

/* The type a tensor gets: the preset's rule, then the override, then a
 * fallback when its rows do not fit the type's block size. */
lk_type lk_quantize_tensor_type (const lk_model *m, const lk_tensor *t, const lk_quantize_params *p,
                                 bool *fell_back, lk_type *asked);
/* A type whose blocks fit rows of n_cols, as close to `type` as possible. */
lk_type lk_type_fallback (lk_type type, int64_t n_cols);

/* Removes the keys that describe where a file came from: copied from a
 * source, they would describe the source, not the output. */
void lk_forget_provenance (lk_gguf_writer *w);

lk_status lk_quantize_model (const lk_model *src, const char *path, const lk_quantize_params *p,
                             lk_quantize_report *report, lk_error *err);
void lk_quantize_report_clear (lk_quantize_report *r);
