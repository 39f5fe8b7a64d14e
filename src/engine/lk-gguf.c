/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "lk-gguf.h"
#include "lk-strmap.h"

#define MAX_NESTING 8
#define MAX_NAME_LEN 1024

struct lk_gguf
{
  char *path;
  lk_file_buf file; /* owned when opened from a path */
  const uint8_t *data;
  size_t size;
  uint32_t version;
  size_t alignment;
  uint64_t data_offset;

  lk_gguf_kv *kv;
  size_t n_kv;
  lk_gguf_tensor *tensors;
  size_t n_tensors;
  lk_strmap kv_index;
  lk_strmap tensor_index;
};

typedef struct
{
  const uint8_t *data;
  size_t size;
  size_t pos;
  const char *name;
  lk_error *err;
} cursor;

static const char *const type_names[LK_GGUF_TYPE_COUNT] = {
  "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
  "bool", "string", "array", "uint64", "int64", "float64",
};

static const size_t type_sizes[LK_GGUF_TYPE_COUNT] = {
  1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8,
};

const char *
lk_gguf_type_name (lk_gguf_vtype type)
{
  return (unsigned) type < LK_GGUF_TYPE_COUNT ? type_names[type] : "invalid";
}

size_t
lk_gguf_type_size (lk_gguf_vtype type)
{
  return (unsigned) type < LK_GGUF_TYPE_COUNT ? type_sizes[type] : 0;
}

static bool
need (cursor *c, uint64_t n, const char *what)
{
  if (n > c->size - c->pos)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: truncated at byte %zu: %s needs %" PRIu64 " bytes, %zu remain",
                    c->name, c->pos, what, n, c->size - c->pos);
      return false;
    }
  return true;
}

static bool
read_bytes (cursor *c, void *dst, size_t n, const char *what)
{
  if (!need (c, n, what))
    return false;
  memcpy (dst, c->data + c->pos, n);
  c->pos += n;
  return true;
}

static bool
read_u32 (cursor *c, uint32_t *v, const char *what)
{
  return read_bytes (c, v, sizeof *v, what);
}

static bool
read_u64 (cursor *c, uint64_t *v, const char *what)
{
  return read_bytes (c, v, sizeof *v, what);
}

static bool
read_str (cursor *c, lk_gguf_str *s, const char *what)
{
  if (!read_u64 (c, &s->len, what))
    return false;
  if (!need (c, s->len, what))
    return false;
  s->ptr = (const char *) c->data + c->pos;
  c->pos += s->len;
  return true;
}

static char *
str_dup (lk_gguf_str s)
{
  char *out = malloc (s.len + 1);

  if (out != NULL)
    {
      memcpy (out, s.ptr, s.len);
      out[s.len] = '\0';
    }
  return out;
}

static void
value_clear (lk_gguf_value *v)
{
  if (v->type == LK_GGUF_ARRAY && v->v.arr.items != NULL)
    {
      for (uint64_t i = 0; i < v->v.arr.n; i++)
        value_clear (&v->v.arr.items[i]);
      free (v->v.arr.items);
      v->v.arr.items = NULL;
    }
}

static bool read_value (cursor *c, lk_gguf_vtype type, lk_gguf_value *v, int depth, const char *key);

static bool
read_array (cursor *c, lk_gguf_value *v, int depth, const char *key)
{
  uint32_t elem_type;
  uint64_t n;

  if (!read_u32 (c, &elem_type, "array element type") || !read_u64 (c, &n, "array length"))
    return false;
  if (elem_type >= LK_GGUF_TYPE_COUNT)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: key '%s': array element type %u is not a GGUF value type (0..12)",
                    c->name, key, elem_type);
      return false;
    }
  if (depth >= MAX_NESTING)
    {
      lk_error_set (c->err, LK_ERR_FORMAT, "%s: key '%s': arrays nested deeper than %d levels",
                    c->name, key, MAX_NESTING);
      return false;
    }
  v->v.arr.elem_type = elem_type;
  v->v.arr.n = n;
  if (type_sizes[elem_type] != 0)
    {
      /* Check the product without overflowing it. */
      if (n > (c->size - c->pos) / type_sizes[elem_type])
        {
          lk_error_set (c->err, LK_ERR_FORMAT,
                        "%s: key '%s': array of %" PRIu64 " %s values is longer than the file "
                        "(%zu bytes remain)",
                        c->name, key, n, type_names[elem_type], c->size - c->pos);
          return false;
        }
      v->v.arr.data = c->data + c->pos;
      c->pos += n * type_sizes[elem_type];
      return true;
    }
  /* Strings take at least 8 bytes each and arrays 12: an impossible count is
   * refused before anything is allocated for it. */
  {
    const uint64_t min_elem = elem_type == LK_GGUF_STRING ? 8 : 12;
    if (n > (c->size - c->pos) / min_elem)
      {
        lk_error_set (c->err, LK_ERR_FORMAT,
                      "%s: key '%s': array claims %" PRIu64 " %s elements, more than the "
                      "%zu remaining bytes can hold",
                      c->name, key, n, type_names[elem_type], c->size - c->pos);
        return false;
      }
  }
  v->v.arr.items = calloc (n ? n : 1, sizeof (lk_gguf_value));
  if (v->v.arr.items == NULL)
    {
      lk_error_set (c->err, LK_ERR_NOMEM, "%s: key '%s': out of memory for %" PRIu64 " elements",
                    c->name, key, n);
      return false;
    }
  for (uint64_t i = 0; i < n; i++)
    {
      v->v.arr.items[i].type = elem_type;
      if (!read_value (c, elem_type, &v->v.arr.items[i], depth + 1, key))
        {
          v->v.arr.n = i + 1;
          return false;
        }
    }
  return true;
}

static bool
read_value (cursor *c, lk_gguf_vtype type, lk_gguf_value *v, int depth, const char *key)
{
  v->type = type;
  switch (type)
    {
    case LK_GGUF_UINT8:
      {
        uint8_t x;
        if (!read_bytes (c, &x, 1, key))
          return false;
        v->v.u64 = x;
        return true;
      }
    case LK_GGUF_INT8:
      {
        int8_t x;
        if (!read_bytes (c, &x, 1, key))
          return false;
        v->v.i64 = x;
        return true;
      }
    case LK_GGUF_UINT16:
      {
        uint16_t x;
        if (!read_bytes (c, &x, 2, key))
          return false;
        v->v.u64 = x;
        return true;
      }
    case LK_GGUF_INT16:
      {
        int16_t x;
        if (!read_bytes (c, &x, 2, key))
          return false;
        v->v.i64 = x;
        return true;
      }
    case LK_GGUF_UINT32:
      {
        uint32_t x;
        if (!read_bytes (c, &x, 4, key))
          return false;
        v->v.u64 = x;
        return true;
      }
    case LK_GGUF_INT32:
      {
        int32_t x;
        if (!read_bytes (c, &x, 4, key))
          return false;
        v->v.i64 = x;
        return true;
      }
    case LK_GGUF_FLOAT32:
      {
        float x;
        if (!read_bytes (c, &x, 4, key))
          return false;
        v->v.f64 = x;
        return true;
      }
    case LK_GGUF_BOOL:
      {
        uint8_t x;
        if (!read_bytes (c, &x, 1, key))
          return false;
        if (x > 1)
          {
            lk_error_set (c->err, LK_ERR_FORMAT, "%s: key '%s': bool value is %u, expected 0 or 1",
                          c->name, key, x);
            return false;
          }
        v->v.b = x != 0;
        return true;
      }
    case LK_GGUF_STRING:
      return read_str (c, &v->v.str, key);
    case LK_GGUF_ARRAY:
      return read_array (c, v, depth, key);
    case LK_GGUF_UINT64:
      return read_bytes (c, &v->v.u64, 8, key);
    case LK_GGUF_INT64:
      return read_bytes (c, &v->v.i64, 8, key);
    case LK_GGUF_FLOAT64:
      return read_bytes (c, &v->v.f64, 8, key);
    default:
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: key '%s': value type %u is not a GGUF value type (0..12)",
                    c->name, key, (unsigned) type);
      return false;
    }
}

void
lk_gguf_free (lk_gguf *g)
{
  if (g == NULL)
    return;
  for (size_t i = 0; i < g->n_kv; i++)
    {
      free (g->kv[i].key);
      value_clear (&g->kv[i].value);
    }
  free (g->kv);
  for (size_t i = 0; i < g->n_tensors; i++)
    free (g->tensors[i].name);
  free (g->tensors);
  lk_strmap_clear (&g->kv_index);
  lk_strmap_clear (&g->tensor_index);
  lk_file_release (&g->file);
  free (g->path);
  free (g);
}

static bool
parse_header (cursor *c, lk_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
  char magic[4];

  if (!read_bytes (c, magic, 4, "magic"))
    return false;
  if (memcmp (magic, LK_GGUF_MAGIC, 4) != 0)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: field 'magic' is %02x %02x %02x %02x, expected \"GGUF\": "
                    "not a GGUF file",
                    c->name, (uint8_t) magic[0], (uint8_t) magic[1], (uint8_t) magic[2],
                    (uint8_t) magic[3]);
      return false;
    }
  if (!read_u32 (c, &g->version, "version"))
    return false;
  if (g->version == 1)
    {
      lk_error_set (c->err, LK_ERR_UNSUPPORTED,
                    "%s: field 'version' is 1; GGUF version 1 (32-bit counts) is obsolete, "
                    "expected 2 or 3: convert the file again with a current llama.cpp",
                    c->name);
      return false;
    }
  if (g->version == 0x02000000u || g->version == 0x03000000u)
    {
      lk_error_set (c->err, LK_ERR_UNSUPPORTED,
                    "%s: field 'version' reads as big-endian; only little-endian GGUF files "
                    "are supported", c->name);
      return false;
    }
  if (g->version != 2 && g->version != 3)
    {
      lk_error_set (c->err, LK_ERR_FORMAT, "%s: field 'version' is %u, expected 2 or 3",
                    c->name, g->version);
      return false;
    }
  if (!read_u64 (c, n_tensors, "tensor count") || !read_u64 (c, n_kv, "metadata count"))
    return false;
  /* A key/value pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8. */
  if (*n_kv > (c->size - c->pos) / 13)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: field 'metadata_kv_count' is %" PRIu64 ", more than the file can hold",
                    c->name, *n_kv);
      return false;
    }
  if (*n_tensors > (c->size - c->pos) / 32)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: field 'tensor_count' is %" PRIu64 ", more than the file can hold",
                    c->name, *n_tensors);
      return false;
    }
  return true;
}

static bool
parse_kv (cursor *c, lk_gguf *g, uint64_t n_kv)
{
  g->kv = calloc (n_kv ? n_kv : 1, sizeof (lk_gguf_kv));
  if (g->kv == NULL)
    {
      lk_error_set (c->err, LK_ERR_NOMEM, "%s: out of memory", c->name);
      return false;
    }
  for (uint64_t i = 0; i < n_kv; i++)
    {
      lk_gguf_str key;
      uint32_t type;
      bool existed;
      lk_gguf_kv *kv = &g->kv[i];

      if (!read_str (c, &key, "metadata key"))
        return false;
      if (key.len == 0 || key.len > MAX_NAME_LEN || memchr (key.ptr, '\0', key.len) != NULL)
        {
          lk_error_set (c->err, LK_ERR_FORMAT,
                        "%s: metadata key %" PRIu64 " has length %" PRIu64
                        " or contains NUL, expected 1..%d printable bytes",
                        c->name, i, key.len, MAX_NAME_LEN);
          return false;
        }
      kv->key = str_dup (key);
      g->n_kv = i + 1;
      if (kv->key == NULL)
        {
          lk_error_set (c->err, LK_ERR_NOMEM, "%s: out of memory", c->name);
          return false;
        }
      if (!lk_strmap_put (&g->kv_index, kv->key, key.len, (int32_t) i, NULL, &existed))
        {
          lk_error_set (c->err, LK_ERR_NOMEM, "%s: out of memory", c->name);
          return false;
        }
      if (existed)
        {
          lk_error_set (c->err, LK_ERR_FORMAT, "%s: metadata key '%s' appears twice", c->name,
                        kv->key);
          return false;
        }
      if (!read_u32 (c, &type, kv->key))
        return false;
      if (!read_value (c, type, &kv->value, 0, kv->key))
        return false;
    }
  return true;
}

static bool
parse_alignment (cursor *c, lk_gguf *g)
{
  const lk_gguf_value *v = lk_gguf_get (g, "general.alignment");

  g->alignment = LK_GGUF_DEFAULT_ALIGNMENT;
  if (v == NULL)
    return true;
  if (v->type != LK_GGUF_UINT32 || v->v.u64 == 0 || (v->v.u64 & (v->v.u64 - 1)) != 0
      || v->v.u64 > (1u << 20))
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: key 'general.alignment' must be a uint32 power of two up to 1 MiB, "
                    "found %s %" PRIu64,
                    c->name, lk_gguf_type_name (v->type), v->v.u64);
      return false;
    }
  g->alignment = (size_t) v->v.u64;
  return true;
}

static bool
parse_tensor_info (cursor *c, lk_gguf *g, uint64_t i, lk_gguf_tensor *t)
{
  lk_gguf_str name;
  uint32_t type;
  uint64_t nelem = 1;
  bool existed;
  const lk_type_traits *tr;

  if (!read_str (c, &name, "tensor name"))
    return false;
  if (name.len == 0 || name.len > MAX_NAME_LEN || memchr (name.ptr, '\0', name.len) != NULL)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: tensor info %" PRIu64 ": field 'name' has length %" PRIu64
                    ", expected 1..%d bytes without NUL",
                    c->name, i, name.len, MAX_NAME_LEN);
      return false;
    }
  t->name = str_dup (name);
  if (t->name == NULL)
    {
      lk_error_set (c->err, LK_ERR_NOMEM, "%s: out of memory", c->name);
      return false;
    }
  if (!read_u32 (c, &t->n_dims, t->name))
    return false;
  if (t->n_dims == 0 || t->n_dims > LK_GGUF_MAX_DIMS)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: tensor '%s': field 'n_dims' is %u, expected 1..%d", c->name, t->name,
                    t->n_dims, LK_GGUF_MAX_DIMS);
      return false;
    }
  for (uint32_t d = 0; d < LK_GGUF_MAX_DIMS; d++)
    t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++)
    {
      uint64_t ne;
      if (!read_u64 (c, &ne, t->name))
        return false;
      if (ne == 0 || ne > (uint64_t) INT64_MAX || nelem > (uint64_t) INT64_MAX / ne)
        {
          lk_error_set (c->err, LK_ERR_FORMAT,
                        "%s: tensor '%s': field 'ne[%u]' is %" PRIu64
                        ", expected a positive size whose product with the other dimensions "
                        "fits in 63 bits",
                        c->name, t->name, d, ne);
          return false;
        }
      t->ne[d] = (int64_t) ne;
      nelem *= ne;
    }
  if (!read_u32 (c, &type, t->name) || !read_u64 (c, &t->offset, t->name))
    return false;
  if (!lk_type_is_gguf (type))
    {
      lk_error_set (c->err, LK_ERR_UNSUPPORTED,
                    "%s: tensor '%s': field 'type' is %u, which is not a GGUF tensor type "
                    "Lathe knows",
                    c->name, t->name, type);
      return false;
    }
  t->type = (lk_type) type;
  tr = lk_type_get_traits (t->type);
  if (t->ne[0] % tr->block_size != 0)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: tensor '%s': row length ne[0] = %" PRId64
                    " is not a multiple of the %s block size %" PRId64,
                    c->name, t->name, t->ne[0], tr->name, tr->block_size);
      return false;
    }
  if (nelem / (uint64_t) tr->block_size > UINT64_MAX / 2 / tr->type_size)
    {
      lk_error_set (c->err, LK_ERR_FORMAT, "%s: tensor '%s': size overflows", c->name, t->name);
      return false;
    }
  t->nbytes = nelem / (uint64_t) tr->block_size * tr->type_size;
  if (t->offset % g->alignment != 0)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: tensor '%s': field 'offset' is %" PRIu64
                    ", expected a multiple of the alignment %zu",
                    c->name, t->name, t->offset, g->alignment);
      return false;
    }
  if (!lk_strmap_put (&g->tensor_index, t->name, name.len, (int32_t) i, NULL, &existed))
    {
      lk_error_set (c->err, LK_ERR_NOMEM, "%s: out of memory", c->name);
      return false;
    }
  if (existed)
    {
      lk_error_set (c->err, LK_ERR_FORMAT, "%s: tensor name '%s' appears twice", c->name,
                    t->name);
      return false;
    }
  return true;
}

static int
compare_offsets (const void *a, const void *b)
{
  const lk_gguf_tensor *const *x = a, *const *y = b;

  return ((*x)->offset > (*y)->offset) - ((*x)->offset < (*y)->offset);
}

static bool
place_tensors (cursor *c, lk_gguf *g)
{
  const uint64_t data_size = g->data_offset <= c->size ? c->size - g->data_offset : 0;
  lk_gguf_tensor **order;
  bool ok = true;

  if (g->n_tensors == 0)
    return true;
  if (g->data_offset > c->size)
    {
      lk_error_set (c->err, LK_ERR_FORMAT,
                    "%s: truncated: the data section should start at byte %" PRIu64
                    " but the file has %zu bytes",
                    c->name, g->data_offset, c->size);
      return false;
    }
  for (size_t i = 0; i < g->n_tensors; i++)
    {
      lk_gguf_tensor *t = &g->tensors[i];
      if (t->offset > data_size || t->nbytes > data_size - t->offset)
        {
          lk_error_set (c->err, LK_ERR_FORMAT,
                        "%s: tensor '%s': field 'offset' %" PRIu64 " + size %" PRIu64
                        " runs past the end of the data section (%" PRIu64
                        " bytes): the file is truncated or the offset is wrong",
                        c->name, t->name, t->offset, t->nbytes, data_size);
          return false;
        }
      t->data = c->data + g->data_offset + t->offset;
    }
  order = malloc (g->n_tensors * sizeof *order);
  if (order == NULL)
    {
      lk_error_set (c->err, LK_ERR_NOMEM, "%s: out of memory", c->name);
      return false;
    }
  for (size_t i = 0; i < g->n_tensors; i++)
    order[i] = &g->tensors[i];
  qsort (order, g->n_tensors, sizeof *order, compare_offsets);
  for (size_t i = 1; i < g->n_tensors && ok; i++)
    if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset)
      {
        lk_error_set (c->err, LK_ERR_FORMAT,
                      "%s: tensors '%s' (offset %" PRIu64 ", %" PRIu64
                      " bytes) and '%s' (offset %" PRIu64 ") overlap",
                      c->name, order[i - 1]->name, order[i - 1]->offset, order[i - 1]->nbytes,
                      order[i]->name, order[i]->offset);
        ok = false;
      }
  free (order);
  return ok;
}

lk_status
lk_gguf_parse (const uint8_t *data, size_t size, const char *name, lk_gguf **out, lk_error *err)
{
  lk_gguf *g = calloc (1, sizeof *g);
  cursor c = { data, size, 0, name, err };
  uint64_t n_tensors = 0, n_kv = 0;

  *out = NULL;
  if (g == NULL)
    return lk_error_set (err, LK_ERR_NOMEM, "%s: out of memory", name);
  lk_error_clear (err);
  g->path = strdup (name);
  g->data = data;
  g->size = size;
  if (g->path == NULL || !parse_header (&c, g, &n_tensors, &n_kv) || !parse_kv (&c, g, n_kv)
      || !parse_alignment (&c, g))
    goto fail;
  g->tensors = calloc (n_tensors ? n_tensors : 1, sizeof (lk_gguf_tensor));
  if (g->tensors == NULL)
    {
      lk_error_set (err, LK_ERR_NOMEM, "%s: out of memory", name);
      goto fail;
    }
  for (uint64_t i = 0; i < n_tensors; i++)
    {
      g->n_tensors = i + 1;
      if (!parse_tensor_info (&c, g, i, &g->tensors[i]))
        goto fail;
    }
  g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
  if (!place_tensors (&c, g))
    goto fail;
  *out = g;
  return LK_OK;

fail:
  if (err != NULL && err->status == LK_OK)
    lk_error_set (err, LK_ERR_FORMAT, "%s: invalid GGUF file", name);
  lk_gguf_free (g);
  return err != NULL ? err->status : LK_ERR_FORMAT;
}

lk_status
lk_gguf_open (const char *path, lk_load_mode mode, lk_gguf **out, lk_error *err)
{
  lk_file_buf file;
  lk_status status;

  *out = NULL;
  status = lk_file_load (path, mode, &file, err);
  if (status != LK_OK)
    return status;
  status = lk_gguf_parse (file.data, file.size, path, out, err);
  if (status != LK_OK)
    {
      lk_file_release (&file);
      return status;
    }
  (*out)->file = file;
  return LK_OK;
}

const char *
lk_gguf_path (const lk_gguf *g)
{
  return g->path;
}

uint32_t
lk_gguf_version (const lk_gguf *g)
{
  return g->version;
}

uint64_t
lk_gguf_file_size (const lk_gguf *g)
{
  return g->size;
}

size_t
lk_gguf_alignment (const lk_gguf *g)
{
  return g->alignment;
}

uint64_t
lk_gguf_data_offset (const lk_gguf *g)
{
  return g->data_offset;
}

size_t
lk_gguf_n_kv (const lk_gguf *g)
{
  return g->n_kv;
}

const lk_gguf_kv *
lk_gguf_kv_at (const lk_gguf *g, size_t i)
{
  return i < g->n_kv ? &g->kv[i] : NULL;
}

const lk_gguf_value *
lk_gguf_get (const lk_gguf *g, const char *key)
{
  const int32_t i = lk_strmap_get (&g->kv_index, key, strlen (key));

  return i >= 0 ? &g->kv[i].value : NULL;
}

size_t
lk_gguf_n_tensors (const lk_gguf *g)
{
  return g->n_tensors;
}

const lk_gguf_tensor *
lk_gguf_tensor_at (const lk_gguf *g, size_t i)
{
  return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const lk_gguf_tensor *
lk_gguf_find_tensor (const lk_gguf *g, const char *name)
{
  const int32_t i = lk_strmap_get (&g->tensor_index, name, strlen (name));

  return i >= 0 ? &g->tensors[i] : NULL;
}

bool
lk_gguf_value_as_i64 (const lk_gguf_value *v, int64_t *out)
{
  if (v == NULL)
    return false;
  switch (v->type)
    {
    case LK_GGUF_UINT8:
    case LK_GGUF_UINT16:
    case LK_GGUF_UINT32:
    case LK_GGUF_UINT64:
      if (v->v.u64 > (uint64_t) INT64_MAX)
        return false;
      *out = (int64_t) v->v.u64;
      return true;
    case LK_GGUF_INT8:
    case LK_GGUF_INT16:
    case LK_GGUF_INT32:
    case LK_GGUF_INT64:
      *out = v->v.i64;
      return true;
    default:
      return false;
    }
}

bool
lk_gguf_value_as_f64 (const lk_gguf_value *v, double *out)
{
  int64_t i;

  if (v == NULL)
    return false;
  if (v->type == LK_GGUF_FLOAT32 || v->type == LK_GGUF_FLOAT64)
    {
      *out = v->v.f64;
      return true;
    }
  if (lk_gguf_value_as_i64 (v, &i))
    {
      *out = (double) i;
      return true;
    }
  return false;
}

bool
lk_gguf_get_i64 (const lk_gguf *g, const char *key, int64_t *out)
{
  return lk_gguf_value_as_i64 (lk_gguf_get (g, key), out);
}

bool
lk_gguf_get_u32 (const lk_gguf *g, const char *key, uint32_t *out)
{
  int64_t v;

  if (!lk_gguf_get_i64 (g, key, &v) || v < 0 || v > UINT32_MAX)
    return false;
  *out = (uint32_t) v;
  return true;
}

bool
lk_gguf_get_f32 (const lk_gguf *g, const char *key, float *out)
{
  double v;

  if (!lk_gguf_value_as_f64 (lk_gguf_get (g, key), &v))
    return false;
  *out = (float) v;
  return true;
}

bool
lk_gguf_get_bool (const lk_gguf *g, const char *key, bool *out)
{
  const lk_gguf_value *v = lk_gguf_get (g, key);

  if (v == NULL || v->type != LK_GGUF_BOOL)
    return false;
  *out = v->v.b;
  return true;
}

char *
lk_gguf_get_str_dup (const lk_gguf *g, const char *key)
{
  const lk_gguf_value *v = lk_gguf_get (g, key);

  if (v == NULL || v->type != LK_GGUF_STRING)
    return NULL;
  return str_dup (v->v.str);
}

bool
lk_gguf_str_equals (lk_gguf_str s, const char *text)
{
  return strlen (text) == s.len && memcmp (s.ptr, text, s.len) == 0;
}

static bool
fixed_elem_as_value (const lk_gguf_value *arr, uint64_t i, lk_gguf_value *out)
{
  const lk_gguf_vtype et = arr->v.arr.elem_type;
  const size_t sz = lk_gguf_type_size (et);
  const uint8_t *p;

  if (arr->type != LK_GGUF_ARRAY || sz == 0 || i >= arr->v.arr.n)
    return false;
  p = arr->v.arr.data + i * sz;
  out->type = et;
  switch (et)
    {
    case LK_GGUF_UINT8: out->v.u64 = p[0]; break;
    case LK_GGUF_INT8: out->v.i64 = (int8_t) p[0]; break;
    case LK_GGUF_BOOL: out->v.b = p[0] != 0; break;
    case LK_GGUF_UINT16: { uint16_t x; memcpy (&x, p, 2); out->v.u64 = x; } break;
    case LK_GGUF_INT16: { int16_t x; memcpy (&x, p, 2); out->v.i64 = x; } break;
    case LK_GGUF_UINT32: { uint32_t x; memcpy (&x, p, 4); out->v.u64 = x; } break;
    case LK_GGUF_INT32: { int32_t x; memcpy (&x, p, 4); out->v.i64 = x; } break;
    case LK_GGUF_FLOAT32: { float x; memcpy (&x, p, 4); out->v.f64 = x; } break;
    case LK_GGUF_UINT64: memcpy (&out->v.u64, p, 8); break;
    case LK_GGUF_INT64: memcpy (&out->v.i64, p, 8); break;
    case LK_GGUF_FLOAT64: memcpy (&out->v.f64, p, 8); break;
    default: return false;
    }
  return true;
}

bool
lk_gguf_arr_get_i64 (const lk_gguf_value *arr, uint64_t i, int64_t *out)
{
  lk_gguf_value v;

  return fixed_elem_as_value (arr, i, &v) && lk_gguf_value_as_i64 (&v, out);
}

bool
lk_gguf_arr_get_f64 (const lk_gguf_value *arr, uint64_t i, double *out)
{
  lk_gguf_value v;

  return fixed_elem_as_value (arr, i, &v) && lk_gguf_value_as_f64 (&v, out);
}
