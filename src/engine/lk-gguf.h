/* SPDX-License-Identifier: MIT */
/* GGUF files: a reader over a buffer (read into memory or mapped) and a
 * writer that produces files llama.cpp loads.
 *
 * The reader trusts nothing it reads: every count, length, offset and size is
 * checked against the bytes that are really there before it is used.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lk-file.h"
#include "lk-status.h"
#include "lk-types.h"

#define LK_GGUF_MAGIC "GGUF"
#define LK_GGUF_DEFAULT_ALIGNMENT 32
#define LK_GGUF_MAX_DIMS 4

typedef enum
{
  LK_GGUF_UINT8 = 0,
  LK_GGUF_INT8 = 1,
  LK_GGUF_UINT16 = 2,
  LK_GGUF_INT16 = 3,
  LK_GGUF_UINT32 = 4,
  LK_GGUF_INT32 = 5,
  LK_GGUF_FLOAT32 = 6,
  LK_GGUF_BOOL = 7,
  LK_GGUF_STRING = 8,
  LK_GGUF_ARRAY = 9,
  LK_GGUF_UINT64 = 10,
  LK_GGUF_INT64 = 11,
  LK_GGUF_FLOAT64 = 12,
  LK_GGUF_TYPE_COUNT
} lk_gguf_vtype;

typedef struct
{
  const char *ptr; /* not NUL-terminated */
  uint64_t len;
} lk_gguf_str;

typedef struct lk_gguf_value lk_gguf_value;

struct lk_gguf_value
{
  lk_gguf_vtype type;
  union
  {
    uint64_t u64;
    int64_t i64;
    double f64;
    bool b;
    lk_gguf_str str;
    struct
    {
      lk_gguf_vtype elem_type;
      uint64_t n;
      const uint8_t *data;  /* fixed-size elements, little endian, unaligned */
      lk_gguf_value *items; /* string and array elements */
    } arr;
  } v;
};

typedef struct
{
  char *key;
  lk_gguf_value value;
} lk_gguf_kv;

typedef struct
{
  char *name;
  uint32_t n_dims;
  int64_t ne[LK_GGUF_MAX_DIMS]; /* ne[0] is the row length; unused dims are 1 */
  lk_type type;
  uint64_t offset;              /* from the start of the data section */
  uint64_t nbytes;
  const uint8_t *data;
} lk_gguf_tensor;

typedef struct lk_gguf lk_gguf;

/* Opens and validates a GGUF file. */
lk_status lk_gguf_open (const char *path, lk_load_mode mode, lk_gguf **out, lk_error *err);
/* Parses a buffer the caller keeps alive; name is used in messages. */
lk_status lk_gguf_parse (const uint8_t *data, size_t size, const char *name, lk_gguf **out,
                         lk_error *err);
void lk_gguf_free (lk_gguf *g);

const char *lk_gguf_path (const lk_gguf *g);
uint32_t lk_gguf_version (const lk_gguf *g);
uint64_t lk_gguf_file_size (const lk_gguf *g);
size_t lk_gguf_alignment (const lk_gguf *g);
uint64_t lk_gguf_data_offset (const lk_gguf *g);

size_t lk_gguf_n_kv (const lk_gguf *g);
const lk_gguf_kv *lk_gguf_kv_at (const lk_gguf *g, size_t i);
const lk_gguf_value *lk_gguf_get (const lk_gguf *g, const char *key);

size_t lk_gguf_n_tensors (const lk_gguf *g);
const lk_gguf_tensor *lk_gguf_tensor_at (const lk_gguf *g, size_t i);
const lk_gguf_tensor *lk_gguf_find_tensor (const lk_gguf *g, const char *name);

const char *lk_gguf_type_name (lk_gguf_vtype type);
size_t lk_gguf_type_size (lk_gguf_vtype type); /* 0 for string and array */

/* Typed getters: false when the key is missing or has another type. Integer
 * getters accept any integer type whose value fits. */
bool lk_gguf_get_u32 (const lk_gguf *g, const char *key, uint32_t *out);
bool lk_gguf_get_i64 (const lk_gguf *g, const char *key, int64_t *out);
bool lk_gguf_get_f32 (const lk_gguf *g, const char *key, float *out);
bool lk_gguf_get_bool (const lk_gguf *g, const char *key, bool *out);
/* A malloc'd NUL-terminated copy, or NULL. */
char *lk_gguf_get_str_dup (const lk_gguf *g, const char *key);
bool lk_gguf_value_as_i64 (const lk_gguf_value *v, int64_t *out);
bool lk_gguf_value_as_f64 (const lk_gguf_value *v, double *out);
/* Element i of an array of numbers, converted. */
bool lk_gguf_arr_get_i64 (const lk_gguf_value *arr, uint64_t i, int64_t *out);
bool lk_gguf_arr_get_f64 (const lk_gguf_value *arr, uint64_t i, double *out);
bool lk_gguf_str_equals (lk_gguf_str s, const char *text);

/* Writer ------------------------------------------------------------------ */

typedef struct lk_gguf_writer lk_gguf_writer;

/* Produces the bytes of a tensor into dst (nbytes long). */
typedef lk_status (*lk_gguf_tensor_fill_fn) (void *user, void *dst, size_t nbytes, lk_error *err);

lk_gguf_writer *lk_gguf_writer_new (void);
void lk_gguf_writer_free (lk_gguf_writer *w);

/* Setting a key that exists replaces its value in place. */
void lk_gguf_writer_set_u32 (lk_gguf_writer *w, const char *key, uint32_t v);
void lk_gguf_writer_set_i32 (lk_gguf_writer *w, const char *key, int32_t v);
void lk_gguf_writer_set_u64 (lk_gguf_writer *w, const char *key, uint64_t v);
void lk_gguf_writer_set_f32 (lk_gguf_writer *w, const char *key, float v);
void lk_gguf_writer_set_bool (lk_gguf_writer *w, const char *key, bool v);
void lk_gguf_writer_set_str (lk_gguf_writer *w, const char *key, const char *v);
void lk_gguf_writer_set_arr_str (lk_gguf_writer *w, const char *key, const char *const *v,
                                 const size_t *lens, size_t n);
/* An array of fixed-size elements given in native (little-endian) layout. */
void lk_gguf_writer_set_arr (lk_gguf_writer *w, const char *key, lk_gguf_vtype elem_type,
                             const void *data, size_t n);
/* Deep copy of a value read from another file. */
void lk_gguf_writer_set_value (lk_gguf_writer *w, const char *key, const lk_gguf_value *v);
void lk_gguf_writer_remove (lk_gguf_writer *w, const char *key);
bool lk_gguf_writer_has (const lk_gguf_writer *w, const char *key);
/* Copies every key of g, in order. */
void lk_gguf_writer_copy_kv (lk_gguf_writer *w, const lk_gguf *g);

/* The data is referenced, not copied: keep it alive until the file is written. */
lk_status lk_gguf_writer_add_tensor (lk_gguf_writer *w, const char *name, lk_type type,
                                     uint32_t n_dims, const int64_t *ne, const void *data,
                                     lk_error *err);
/* The data is produced by fill when the file is written, one tensor at a time. */
lk_status lk_gguf_writer_add_tensor_fill (lk_gguf_writer *w, const char *name, lk_type type,
                                          uint32_t n_dims, const int64_t *ne,
                                          lk_gguf_tensor_fill_fn fill, void *user, lk_error *err);
/* Writes the file atomically (temporary file, then rename). */
lk_status lk_gguf_writer_write (lk_gguf_writer *w, const char *path, lk_error *err);
