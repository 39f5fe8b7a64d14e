/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lk-gguf.h"

/* Values owned by the writer: strings and arrays are deep copies. */
typedef struct wvalue wvalue;
struct wvalue
{
  lk_gguf_vtype type;
  uint64_t scalar;     /* bits of numbers and bools, little endian */
  char *str;
  uint64_t str_len;
  lk_gguf_vtype elem_type;
  uint64_t n;
  uint8_t *data;       /* fixed-size array elements */
  wvalue *items;       /* string / array elements */
};

typedef struct
{
  char *key;
  wvalue value;
} wkv;

typedef struct
{
  char *name;
  lk_type type;
  uint32_t n_dims;
  int64_t ne[LK_GGUF_MAX_DIMS];
  uint64_t nbytes;
  uint64_t offset;
  const void *data;
  lk_gguf_tensor_fill_fn fill;
  void *user;
} wtensor;

struct lk_gguf_writer
{
  wkv *kv;
  size_t n_kv, cap_kv;
  wtensor *tensors;
  size_t n_tensors, cap_tensors;
};

static void
wvalue_clear (wvalue *v)
{
  free (v->str);
  free (v->data);
  if (v->items != NULL)
    {
      for (uint64_t i = 0; i < v->n; i++)
        wvalue_clear (&v->items[i]);
      free (v->items);
    }
  memset (v, 0, sizeof *v);
}

lk_gguf_writer *
lk_gguf_writer_new (void)
{
  return calloc (1, sizeof (lk_gguf_writer));
}

void
lk_gguf_writer_free (lk_gguf_writer *w)
{
  if (w == NULL)
    return;
  for (size_t i = 0; i < w->n_kv; i++)
    {
      free (w->kv[i].key);
      wvalue_clear (&w->kv[i].value);
    }
  free (w->kv);
  for (size_t i = 0; i < w->n_tensors; i++)
    free (w->tensors[i].name);
  free (w->tensors);
  free (w);
}

static void *
xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n);

  if (q == NULL)
    abort (); /* allocation of metadata bookkeeping: nothing sensible to do */
  return q;
}

static char *
xstrndup (const char *s, size_t n)
{
  char *d = xrealloc (NULL, n + 1);

  memcpy (d, s, n);
  d[n] = '\0';
  return d;
}

/* The slot for key: the existing one (cleared) or a new one at the end. */
static wvalue *
slot_for (lk_gguf_writer *w, const char *key)
{
  for (size_t i = 0; i < w->n_kv; i++)
    if (strcmp (w->kv[i].key, key) == 0)
      {
        wvalue_clear (&w->kv[i].value);
        return &w->kv[i].value;
      }
  if (w->n_kv == w->cap_kv)
    {
      w->cap_kv = w->cap_kv ? w->cap_kv * 2 : 32;
      w->kv = xrealloc (w->kv, w->cap_kv * sizeof *w->kv);
    }
  w->kv[w->n_kv].key = xstrndup (key, strlen (key));
  memset (&w->kv[w->n_kv].value, 0, sizeof (wvalue));
  return &w->kv[w->n_kv++].value;
}

static void
set_scalar (lk_gguf_writer *w, const char *key, lk_gguf_vtype type, const void *bits, size_t size)
{
  wvalue *v = slot_for (w, key);

  v->type = type;
  memcpy (&v->scalar, bits, size);
}

void
lk_gguf_writer_set_u32 (lk_gguf_writer *w, const char *key, uint32_t v)
{
  set_scalar (w, key, LK_GGUF_UINT32, &v, sizeof v);
}

void
lk_gguf_writer_set_i32 (lk_gguf_writer *w, const char *key, int32_t v)
{
  set_scalar (w, key, LK_GGUF_INT32, &v, sizeof v);
}

void
lk_gguf_writer_set_u64 (lk_gguf_writer *w, const char *key, uint64_t v)
{
  set_scalar (w, key, LK_GGUF_UINT64, &v, sizeof v);
}

void
lk_gguf_writer_set_f32 (lk_gguf_writer *w, const char *key, float v)
{
  set_scalar (w, key, LK_GGUF_FLOAT32, &v, sizeof v);
}

void
lk_gguf_writer_set_bool (lk_gguf_writer *w, const char *key, bool v)
{
  const uint8_t b = v ? 1 : 0;

  set_scalar (w, key, LK_GGUF_BOOL, &b, 1);
}

void
lk_gguf_writer_set_str (lk_gguf_writer *w, const char *key, const char *s)
{
  wvalue *v = slot_for (w, key);

  v->type = LK_GGUF_STRING;
  v->str_len = strlen (s);
  v->str = xstrndup (s, v->str_len);
}

void
lk_gguf_writer_set_arr_str (lk_gguf_writer *w, const char *key, const char *const *strs,
                            const size_t *lens, size_t n)
{
  wvalue *v = slot_for (w, key);

  v->type = LK_GGUF_ARRAY;
  v->elem_type = LK_GGUF_STRING;
  v->n = n;
  v->items = xrealloc (NULL, (n ? n : 1) * sizeof (wvalue));
  memset (v->items, 0, (n ? n : 1) * sizeof (wvalue));
  for (size_t i = 0; i < n; i++)
    {
      const size_t len = lens ? lens[i] : strlen (strs[i]);
      v->items[i].type = LK_GGUF_STRING;
      v->items[i].str = xstrndup (strs[i], len);
      v->items[i].str_len = len;
    }
}

void
lk_gguf_writer_set_arr (lk_gguf_writer *w, const char *key, lk_gguf_vtype elem_type,
                        const void *data, size_t n)
{
  wvalue *v = slot_for (w, key);
  const size_t bytes = n * lk_gguf_type_size (elem_type);

  v->type = LK_GGUF_ARRAY;
  v->elem_type = elem_type;
  v->n = n;
  v->data = xrealloc (NULL, bytes ? bytes : 1);
  memcpy (v->data, data, bytes);
}

static void
copy_value (wvalue *dst, const lk_gguf_value *src)
{
  dst->type = src->type;
  switch (src->type)
    {
    case LK_GGUF_STRING:
      dst->str = xstrndup (src->v.str.ptr, src->v.str.len);
      dst->str_len = src->v.str.len;
      break;
    case LK_GGUF_ARRAY:
      dst->elem_type = src->v.arr.elem_type;
      dst->n = src->v.arr.n;
      if (src->v.arr.items == NULL)
        {
          const size_t bytes = src->v.arr.n * lk_gguf_type_size (src->v.arr.elem_type);
          dst->data = xrealloc (NULL, bytes ? bytes : 1);
          memcpy (dst->data, src->v.arr.data, bytes);
        }
      else
        {
          dst->items = xrealloc (NULL, (dst->n ? dst->n : 1) * sizeof (wvalue));
          memset (dst->items, 0, (dst->n ? dst->n : 1) * sizeof (wvalue));
          for (uint64_t i = 0; i < dst->n; i++)
            copy_value (&dst->items[i], &src->v.arr.items[i]);
        }
      break;
    case LK_GGUF_FLOAT32:
      {
        const float f = (float) src->v.f64;
        memcpy (&dst->scalar, &f, 4);
      }
      break;
    case LK_GGUF_BOOL:
      dst->scalar = src->v.b ? 1 : 0;
      break;
    default:
      /* Integers: the union's 64 bits hold the value; writing the low bytes
       * of its two's complement gives the narrower encodings. */
      dst->scalar = src->v.u64;
      break;
    }
}

void
lk_gguf_writer_set_value (lk_gguf_writer *w, const char *key, const lk_gguf_value *v)
{
  copy_value (slot_for (w, key), v);
}

void
lk_gguf_writer_remove (lk_gguf_writer *w, const char *key)
{
  for (size_t i = 0; i < w->n_kv; i++)
    if (strcmp (w->kv[i].key, key) == 0)
      {
        free (w->kv[i].key);
        wvalue_clear (&w->kv[i].value);
        memmove (&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
        w->n_kv--;
        return;
      }
}

bool
lk_gguf_writer_has (const lk_gguf_writer *w, const char *key)
{
  for (size_t i = 0; i < w->n_kv; i++)
    if (strcmp (w->kv[i].key, key) == 0)
      return true;
  return false;
}

void
lk_gguf_writer_copy_kv (lk_gguf_writer *w, const lk_gguf *g)
{
  for (size_t i = 0; i < lk_gguf_n_kv (g); i++)
    {
      const lk_gguf_kv *kv = lk_gguf_kv_at (g, i);
      lk_gguf_writer_set_value (w, kv->key, &kv->value);
    }
}

static lk_status
add_tensor (lk_gguf_writer *w, const char *name, lk_type type, uint32_t n_dims,
            const int64_t *ne, const void *data, lk_gguf_tensor_fill_fn fill, void *user,
            lk_error *err)
{
  wtensor *t;
  uint64_t nelem = 1;

  if (n_dims == 0 || n_dims > LK_GGUF_MAX_DIMS)
    return lk_error_set (err, LK_ERR_INVALID, "tensor '%s': %u dimensions, expected 1..%d", name,
                         n_dims, LK_GGUF_MAX_DIMS);
  if (!lk_type_is_gguf (type) || lk_type_get_traits (type)->block_size == 0)
    return lk_error_set (err, LK_ERR_INVALID, "tensor '%s': invalid type %d", name, (int) type);
  for (size_t i = 0; i < w->n_tensors; i++)
    if (strcmp (w->tensors[i].name, name) == 0)
      return lk_error_set (err, LK_ERR_INVALID, "tensor '%s' added twice", name);
  for (uint32_t d = 0; d < n_dims; d++)
    {
      if (ne[d] <= 0)
        return lk_error_set (err, LK_ERR_INVALID, "tensor '%s': dimension %u is %" PRId64, name,
                             d, ne[d]);
      nelem *= (uint64_t) ne[d];
    }
  if (lk_row_size (type, ne[0]) == 0)
    return lk_error_set (err, LK_ERR_INVALID,
                         "tensor '%s': row length %" PRId64 " is not a multiple of the %s block "
                         "size %" PRId64,
                         name, ne[0], lk_type_name (type), lk_type_get_traits (type)->block_size);
  if (w->n_tensors == w->cap_tensors)
    {
      w->cap_tensors = w->cap_tensors ? w->cap_tensors * 2 : 64;
      w->tensors = xrealloc (w->tensors, w->cap_tensors * sizeof *w->tensors);
    }
  t = &w->tensors[w->n_tensors++];
  memset (t, 0, sizeof *t);
  t->name = xstrndup (name, strlen (name));
  t->type = type;
  t->n_dims = n_dims;
  for (uint32_t d = 0; d < LK_GGUF_MAX_DIMS; d++)
    t->ne[d] = d < n_dims ? ne[d] : 1;
  t->nbytes = lk_row_size (type, ne[0]) * (nelem / (uint64_t) ne[0]);
  t->data = data;
  t->fill = fill;
  t->user = user;
  return LK_OK;
}

lk_status
lk_gguf_writer_add_tensor (lk_gguf_writer *w, const char *name, lk_type type, uint32_t n_dims,
                           const int64_t *ne, const void *data, lk_error *err)
{
  return add_tensor (w, name, type, n_dims, ne, data, NULL, NULL, err);
}

lk_status
lk_gguf_writer_add_tensor_fill (lk_gguf_writer *w, const char *name, lk_type type,
                                uint32_t n_dims, const int64_t *ne, lk_gguf_tensor_fill_fn fill,
                                void *user, lk_error *err)
{
  return add_tensor (w, name, type, n_dims, ne, NULL, fill, user, err);
}

/* Output ---------------------------------------------------------------- */

static bool
put (FILE *fp, const void *p, size_t n)
{
  return n == 0 || fwrite (p, 1, n, fp) == n;
}

static bool
put_u32 (FILE *fp, uint32_t v)
{
  return put (fp, &v, 4);
}

static bool
put_u64 (FILE *fp, uint64_t v)
{
  return put (fp, &v, 8);
}

static bool
put_str (FILE *fp, const char *s, uint64_t len)
{
  return put_u64 (fp, len) && put (fp, s, len);
}

static bool
put_value (FILE *fp, const wvalue *v, bool with_type)
{
  if (with_type && !put_u32 (fp, v->type))
    return false;
  switch (v->type)
    {
    case LK_GGUF_STRING:
      return put_str (fp, v->str, v->str_len);
    case LK_GGUF_ARRAY:
      if (!put_u32 (fp, v->elem_type) || !put_u64 (fp, v->n))
        return false;
      if (v->items == NULL)
        return put (fp, v->data, v->n * lk_gguf_type_size (v->elem_type));
      for (uint64_t i = 0; i < v->n; i++)
        if (!put_value (fp, &v->items[i], false))
          return false;
      return true;
    default:
      return put (fp, &v->scalar, lk_gguf_type_size (v->type));
    }
}

static bool
pad_to (FILE *fp, uint64_t *pos, size_t alignment)
{
  static const uint8_t zeros[64];

  while (*pos % alignment != 0)
    {
      size_t n = alignment - (size_t) (*pos % alignment);
      if (n > sizeof zeros)
        n = sizeof zeros;
      if (!put (fp, zeros, n))
        return false;
      *pos += n;
    }
  return true;
}

static size_t
writer_alignment (const lk_gguf_writer *w)
{
  for (size_t i = 0; i < w->n_kv; i++)
    if (strcmp (w->kv[i].key, "general.alignment") == 0 && w->kv[i].value.type == LK_GGUF_UINT32)
      {
        const uint64_t a = w->kv[i].value.scalar & 0xffffffffu;
        if (a != 0 && (a & (a - 1)) == 0)
          return (size_t) a;
      }
  return LK_GGUF_DEFAULT_ALIGNMENT;
}

static lk_status
write_tensor_data (FILE *fp, const wtensor *t, const char *path, lk_error *err)
{
  void *buf;
  lk_status status;

  if (t->fill == NULL)
    {
      if (!put (fp, t->data, t->nbytes))
        return lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", path, strerror (errno));
      return LK_OK;
    }
  buf = malloc (t->nbytes ? t->nbytes : 1);
  if (buf == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "%s: tensor '%s': cannot allocate %" PRIu64 " bytes",
                         path, t->name, t->nbytes);
  status = t->fill (t->user, buf, t->nbytes, err);
  if (status == LK_OK && !put (fp, buf, t->nbytes))
    status = lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", path, strerror (errno));
  free (buf);
  return status;
}

lk_status
lk_gguf_writer_write (lk_gguf_writer *w, const char *path, lk_error *err)
{
  const size_t alignment = writer_alignment (w);
  lk_atomic_file out;
  lk_status status;
  uint64_t pos, offset = 0;
  bool ok;

  for (size_t i = 0; i < w->n_tensors; i++)
    {
      w->tensors[i].offset = offset;
      offset += (w->tensors[i].nbytes + alignment - 1) / alignment * alignment;
    }
  status = lk_atomic_file_open (&out, path, err);
  if (status != LK_OK)
    return status;

  ok = put (out.fp, LK_GGUF_MAGIC, 4) && put_u32 (out.fp, 3) && put_u64 (out.fp, w->n_tensors)
       && put_u64 (out.fp, w->n_kv);
  for (size_t i = 0; ok && i < w->n_kv; i++)
    ok = put_str (out.fp, w->kv[i].key, strlen (w->kv[i].key))
         && put_value (out.fp, &w->kv[i].value, true);
  for (size_t i = 0; ok && i < w->n_tensors; i++)
    {
      const wtensor *t = &w->tensors[i];
      ok = put_str (out.fp, t->name, strlen (t->name)) && put_u32 (out.fp, t->n_dims);
      for (uint32_t d = 0; ok && d < t->n_dims; d++)
        ok = put_u64 (out.fp, (uint64_t) t->ne[d]);
      ok = ok && put_u32 (out.fp, t->type) && put_u64 (out.fp, t->offset);
    }
  if (!ok)
    {
      lk_atomic_file_abort (&out);
      return lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", path, strerror (errno));
    }
  {
    const long p = ftell (out.fp);
    pos = p < 0 ? 0 : (uint64_t) p;
  }
  for (size_t i = 0; i < w->n_tensors; i++)
    {
      if (!pad_to (out.fp, &pos, alignment))
        {
          lk_atomic_file_abort (&out);
          return lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", path, strerror (errno));
        }
      status = write_tensor_data (out.fp, &w->tensors[i], path, err);
      if (status != LK_OK)
        {
          lk_atomic_file_abort (&out);
          return status;
        }
      pos += w->tensors[i].nbytes;
    }
  if (w->n_tensors > 0 && !pad_to (out.fp, &pos, alignment))
    {
      lk_atomic_file_abort (&out);
      return lk_error_set (err, LK_ERR_IO, "%s: write failed: %s", path, strerror (errno));
    }
  return lk_atomic_file_commit (&out, err);
}
