/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-safetensors"

#include "config.h"

#include <string.h>

#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-safetensors.h"
#include "lk-half.h"

struct _LatheSafetensors
{
  char *path;
  GMappedFile *mapped;
  GBytes *bytes;
  GPtrArray *tensors;  /* LatheStTensor, names owned by names */
  GPtrArray *names;
  GHashTable *by_name; /* name → LatheStTensor */
  GHashTable *metadata;
};

static const struct
{
  const char *name;
  guint size;
} dtypes[] = {
  [LATHE_ST_F32] = { "F32", 4 },     [LATHE_ST_F16] = { "F16", 2 },
  [LATHE_ST_BF16] = { "BF16", 2 },   [LATHE_ST_F64] = { "F64", 8 },
  [LATHE_ST_I64] = { "I64", 8 },     [LATHE_ST_I32] = { "I32", 4 },
  [LATHE_ST_I16] = { "I16", 2 },     [LATHE_ST_I8] = { "I8", 1 },
  [LATHE_ST_U8] = { "U8", 1 },       [LATHE_ST_BOOL] = { "BOOL", 1 },
  [LATHE_ST_F8_E4M3] = { "F8_E4M3", 1 }, [LATHE_ST_F8_E5M2] = { "F8_E5M2", 1 },
};

const char *
lathe_st_dtype_name (LatheStDtype dtype)
{
  return (guint) dtype < G_N_ELEMENTS (dtypes) ? dtypes[dtype].name : "?";
}

guint
lathe_st_dtype_size (LatheStDtype dtype)
{
  return (guint) dtype < G_N_ELEMENTS (dtypes) ? dtypes[dtype].size : 0;
}

static gboolean
find_dtype (const char *name, LatheStDtype *out)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (g_strcmp0 (dtypes[i].name, name) == 0)
      {
        *out = (LatheStDtype) i;
        return TRUE;
      }
  return FALSE;
}

float
lathe_st_get_f32 (const LatheStTensor *t, gint64 i)
{
  const guint8 *p = t->data + (gsize) i * dtypes[t->dtype].size;
  guint32 w;
  guint16 h;

  switch (t->dtype)
    {
    case LATHE_ST_F32:
      memcpy (&w, p, 4);
      return lk_bits_to_f32 (GUINT32_FROM_LE (w));
    case LATHE_ST_F16:
      memcpy (&h, p, 2);
      return lk_half_to_f32 (GUINT16_FROM_LE (h));
    case LATHE_ST_BF16:
      memcpy (&h, p, 2);
      return lk_bf16_to_f32 (GUINT16_FROM_LE (h));
    default:
      g_return_val_if_reached (0.0f);
    }
}

void
lathe_safetensors_free (LatheSafetensors *st)
{
  if (st == NULL)
    return;
  g_clear_pointer (&st->by_name, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->tensors, g_ptr_array_unref);
  g_clear_pointer (&st->names, g_ptr_array_unref);
  g_clear_pointer (&st->bytes, g_bytes_unref);
  g_clear_pointer (&st->mapped, g_mapped_file_unref);
  g_free (st->path);
  g_free (st);
}

static gboolean
fail (GError **error, const LatheSafetensors *st, const char *tensor, const char *fmt, ...)
  G_GNUC_PRINTF (4, 5);

static gboolean
fail (GError **error, const LatheSafetensors *st, const char *tensor, const char *fmt, ...)
{
  g_autofree char *what = NULL;
  va_list ap;

  va_start (ap, fmt);
  what = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (tensor != NULL)
    g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: tensor '%s': %s", st->path, tensor,
                 what);
  else
    g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s", st->path, what);
  return FALSE;
}

/* A JSON integer (not a float, not a string) in [0, max]. */
static gboolean
get_count (JsonNode *node, guint64 max, guint64 *out)
{
  gint64 v;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  v = json_node_get_int (node);
  if (v < 0 || (guint64) v > max)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static gboolean
read_shape (LatheSafetensors *st, const char *name, JsonNode *node, LatheStTensor *t,
            GError **error)
{
  JsonArray *shape;
  guint64 n = 1;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    return fail (error, st, name, "field 'shape' is missing or not an array");
  shape = json_node_get_array (node);
  if (json_array_get_length (shape) > LATHE_SAFETENSORS_MAX_DIMS)
    return fail (error, st, name, "field 'shape' has %u dimensions, expected at most %d",
                 json_array_get_length (shape), LATHE_SAFETENSORS_MAX_DIMS);
  t->n_dims = json_array_get_length (shape);
  for (guint d = 0; d < t->n_dims; d++)
    {
      guint64 v;
      if (!get_count (json_array_get_element (shape, d), G_MAXINT64, &v))
        return fail (error, st, name, "field 'shape' [%u] is not a non-negative integer", d);
      if (!g_uint64_checked_mul (&n, n, v) || n > (guint64) G_MAXINT64)
        return fail (error, st, name, "field 'shape' has more elements than can be stored");
      t->shape[d] = (gint64) v;
    }
  t->n_elements = (gint64) n;
  return TRUE;
}

/* dtype, shape and data_offsets of one tensor, checked against the data
 * region of data_size bytes. */
static gboolean
read_tensor (LatheSafetensors *st, const char *name, JsonNode *node, const guint8 *data,
             guint64 data_size, GError **error)
{
  LatheStTensor *t = g_new0 (LatheStTensor, 1);
  JsonObject *o;
  JsonNode *offsets;
  const char *dtype;
  guint64 begin, end, want;

  g_ptr_array_add (st->tensors, t);
  g_ptr_array_add (st->names, g_strdup (name));
  t->name = g_ptr_array_index (st->names, st->names->len - 1);
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, st, name, "is not an object");
  o = json_node_get_object (node);
  dtype = lathe_json_member_string (o, "dtype");
  if (dtype == NULL)
    return fail (error, st, name, "field 'dtype' is missing or not a string");
  if (!find_dtype (dtype, &t->dtype))
    return fail (error, st, name,
                 "field 'dtype' is '%s', expected one of F32, F16, BF16, F64, I64, I32, I16, I8, "
                 "U8, BOOL, F8_E4M3, F8_E5M2",
                 dtype);
  if (!read_shape (st, name, json_object_get_member (o, "shape"), t, error))
    return FALSE;
  offsets = json_object_get_member (o, "data_offsets");
  if (offsets == NULL || !JSON_NODE_HOLDS_ARRAY (offsets)
      || json_array_get_length (json_node_get_array (offsets)) != 2
      || !get_count (json_array_get_element (json_node_get_array (offsets), 0), data_size, &begin)
      || !get_count (json_array_get_element (json_node_get_array (offsets), 1), data_size, &end)
      || end < begin)
    return fail (error, st, name,
                 "field 'data_offsets' must be [begin, end] with begin <= end <= %" G_GUINT64_FORMAT
                 " (the data's size)",
                 data_size);
  if (!g_uint64_checked_mul (&want, (guint64) t->n_elements, dtypes[t->dtype].size))
    return fail (error, st, name, "field 'shape' has more bytes than can be stored");
  if (want != end - begin)
    return fail (error, st, name,
                 "field 'data_offsets' spans %" G_GUINT64_FORMAT " bytes, but %" G_GINT64_FORMAT
                 " %s elements take %" G_GUINT64_FORMAT,
                 end - begin, t->n_elements, dtype, want);
  t->data = data + begin;
  t->nbytes = (gsize) (end - begin);
  g_hash_table_insert (st->by_name, (gpointer) t->name, t);
  return TRUE;
}

static gint
by_offset (gconstpointer a, gconstpointer b)
{
  const LatheStTensor *x = *(const LatheStTensor *const *) a, *y = *(const LatheStTensor *const *) b;

  return x->data < y->data ? -1 : x->data > y->data;
}

static gboolean
check_overlaps (LatheSafetensors *st, GError **error)
{
  const guint8 *end = NULL;
  const char *last = NULL;

  g_ptr_array_sort (st->tensors, by_offset);
  for (guint i = 0; i < st->tensors->len; i++)
    {
      const LatheStTensor *t = g_ptr_array_index (st->tensors, i);
      if (t->nbytes == 0)
        continue;
      if (end != NULL && t->data < end)
        return fail (error, st, t->name, "its data overlaps that of '%s'", last);
      end = t->data + t->nbytes;
      last = t->name;
    }
  return TRUE;
}

static gboolean
read_metadata (LatheSafetensors *st, JsonNode *node, GError **error)
{
  JsonObject *o;
  g_autoptr (GList) members = NULL;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    return fail (error, st, NULL, "field '__metadata__' is not an object of strings");
  o = json_node_get_object (node);
  members = json_object_get_members (o);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *v = lathe_json_member_string (o, l->data);
      if (v == NULL)
        return fail (error, st, NULL, "field '__metadata__.%s' is not a string",
                     (const char *) l->data);
      g_hash_table_insert (st->metadata, g_strdup (l->data), g_strdup (v));
    }
  return TRUE;
}

static gboolean
parse_header (LatheSafetensors *st, const guint8 *bytes, gsize size, GError **error)
{
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GList) members = NULL;
  g_autoptr (GError) local = NULL;
  JsonObject *o;
  guint64 n;

  if (size < 8)
    return fail (error, st, NULL, "%" G_GSIZE_FORMAT " bytes: too short for a safetensors header",
                 size);
  memcpy (&n, bytes, 8);
  n = GUINT64_FROM_LE (n);
  if (n > size - 8 || n > LATHE_SAFETENSORS_MAX_HEADER || n < 2)
    return fail (error, st, NULL,
                 "header length is %" G_GUINT64_FORMAT ", expected 2 to %" G_GUINT64_FORMAT
                 " bytes within the file's %" G_GSIZE_FORMAT,
                 n, MIN (LATHE_SAFETENSORS_MAX_HEADER, (guint64) size - 8), size);
  root = lathe_json_parse ((const char *) bytes + 8, (gssize) n, st->path, &local);
  if (root == NULL)
    return fail (error, st, NULL, "header is not JSON: %s", local->message);
  if (!JSON_NODE_HOLDS_OBJECT (root))
    return fail (error, st, NULL, "header is not a JSON object");
  o = json_node_get_object (root);
  members = json_object_get_members (o);
  for (GList *l = members; l != NULL; l = l->next)
    {
      const char *name = l->data;
      JsonNode *node = json_object_get_member (o, name);
      if (strcmp (name, "__metadata__") == 0)
        {
          if (!read_metadata (st, node, error))
            return FALSE;
        }
      else if (!read_tensor (st, name, node, bytes + 8 + n, size - 8 - n, error))
        return FALSE;
    }
  return check_overlaps (st, error);
}

static LatheSafetensors *
new_empty (const char *path)
{
  LatheSafetensors *st = g_new0 (LatheSafetensors, 1);

  st->path = g_strdup (path);
  st->tensors = g_ptr_array_new_with_free_func (g_free);
  st->names = g_ptr_array_new_with_free_func (g_free);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return st;
}

LatheSafetensors *
lathe_safetensors_parse (GBytes *bytes, const char *name, GError **error)
{
  g_autoptr (LatheSafetensors) st = new_empty (name);
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);

  st->bytes = g_bytes_ref (bytes);
  if (!parse_header (st, data != NULL ? data : (const guint8 *) "", size, error))
    return NULL;
  return g_steal_pointer (&st);
}

LatheSafetensors *
lathe_safetensors_open (const char *path, GError **error)
{
  g_autoptr (LatheSafetensors) st = new_empty (path);
  g_autoptr (GError) local = NULL;

  st->mapped = g_mapped_file_new (path, FALSE, &local);
  if (st->mapped == NULL)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, "%s", local->message);
      return NULL;
    }
  if (!parse_header (st, (const guint8 *) g_mapped_file_get_contents (st->mapped),
                     g_mapped_file_get_length (st->mapped), error))
    return NULL;
  return g_steal_pointer (&st);
}

const char *
lathe_safetensors_path (const LatheSafetensors *st)
{
  return st->path;
}

guint
lathe_safetensors_n_tensors (const LatheSafetensors *st)
{
  return st->tensors->len;
}

const LatheStTensor *
lathe_safetensors_tensor (const LatheSafetensors *st, guint i)
{
  g_return_val_if_fail (i < st->tensors->len, NULL);
  return g_ptr_array_index (st->tensors, i);
}

const LatheStTensor *
lathe_safetensors_find (const LatheSafetensors *st, const char *name)
{
  return g_hash_table_lookup (st->by_name, name);
}

const char *
lathe_safetensors_metadata (const LatheSafetensors *st, const char *key)
{
  return g_hash_table_lookup (st->metadata, key);
}
