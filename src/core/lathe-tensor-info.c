/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-tensor-info"

#include "config.h"

#include <stdlib.h>

#include "lathe-tensor-info.h"

struct _LatheTensorInfo
{
  GObject parent_instance;
  char *name;
  char *type_name;
  guint n_dims;
  gint64 ne[4];
  guint64 n_bytes;
  int layer;
};

G_DEFINE_FINAL_TYPE (LatheTensorInfo, lathe_tensor_info, G_TYPE_OBJECT)

enum
{
  PROP_0,
  PROP_NAME,
  PROP_TYPE_NAME,
  PROP_SHAPE,
  PROP_N_ELEMENTS,
  PROP_N_BYTES,
  PROP_BPW,
  PROP_LAYER,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
lathe_tensor_info_finalize (GObject *object)
{
  LatheTensorInfo *self = LATHE_TENSOR_INFO (object);

  g_free (self->name);
  g_free (self->type_name);
  G_OBJECT_CLASS (lathe_tensor_info_parent_class)->finalize (object);
}

static void
lathe_tensor_info_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  LatheTensorInfo *self = LATHE_TENSOR_INFO (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_TYPE_NAME:
      g_value_set_string (value, self->type_name);
      break;
    case PROP_SHAPE:
      g_value_take_string (value, lathe_tensor_info_dup_shape (self));
      break;
    case PROP_N_ELEMENTS:
      g_value_set_uint64 (value, lathe_tensor_info_get_n_elements (self));
      break;
    case PROP_N_BYTES:
      g_value_set_uint64 (value, self->n_bytes);
      break;
    case PROP_BPW:
      g_value_set_double (value, lathe_tensor_info_get_bpw (self));
      break;
    case PROP_LAYER:
      g_value_set_int (value, self->layer);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
lathe_tensor_info_class_init (LatheTensorInfoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = lathe_tensor_info_finalize;
  object_class->get_property = lathe_tensor_info_get_property;

  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL,
                                               G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_TYPE_NAME] = g_param_spec_string ("type-name", NULL, NULL, NULL,
                                                    G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_SHAPE] = g_param_spec_string ("shape", NULL, NULL, NULL,
                                                G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_ELEMENTS] = g_param_spec_uint64 ("n-elements", NULL, NULL, 0, G_MAXUINT64, 0,
                                                     G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_N_BYTES] = g_param_spec_uint64 ("n-bytes", NULL, NULL, 0, G_MAXUINT64, 0,
                                                  G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_BPW] = g_param_spec_double ("bpw", NULL, NULL, 0, G_MAXDOUBLE, 0,
                                              G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  properties[PROP_LAYER] = g_param_spec_int ("layer", NULL, NULL, -1, G_MAXINT, -1,
                                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
lathe_tensor_info_init (LatheTensorInfo *self)
{
  self->layer = -1;
}

LatheTensorInfo *
lathe_tensor_info_new (const char *name, const char *type_name, guint n_dims, const gint64 *ne,
                       guint64 n_bytes)
{
  LatheTensorInfo *self = g_object_new (LATHE_TYPE_TENSOR_INFO, NULL);

  self->name = g_strdup (name);
  self->type_name = g_strdup (type_name);
  self->n_dims = MIN (n_dims, 4);
  for (guint i = 0; i < 4; i++)
    self->ne[i] = i < self->n_dims ? ne[i] : 1;
  self->n_bytes = n_bytes;
  if (g_str_has_prefix (name, "blk."))
    self->layer = atoi (name + 4);
  return self;
}

const char *
lathe_tensor_info_get_name (LatheTensorInfo *self)
{
  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), NULL);
  return self->name;
}

const char *
lathe_tensor_info_get_type_name (LatheTensorInfo *self)
{
  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), NULL);
  return self->type_name;
}

guint
lathe_tensor_info_get_n_dims (LatheTensorInfo *self)
{
  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), 0);
  return self->n_dims;
}

gint64
lathe_tensor_info_get_dim (LatheTensorInfo *self, guint i)
{
  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), 0);
  return i < 4 ? self->ne[i] : 1;
}

char *
lathe_tensor_info_dup_shape (LatheTensorInfo *self)
{
  GString *s = g_string_new (NULL);

  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), NULL);
  for (guint i = 0; i < self->n_dims; i++)
    g_string_append_printf (s, i ? " × %" G_GINT64_FORMAT : "%" G_GINT64_FORMAT, self->ne[i]);
  return g_string_free (s, FALSE);
}

guint64
lathe_tensor_info_get_n_elements (LatheTensorInfo *self)
{
  guint64 n = 1;

  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), 0);
  for (guint i = 0; i < self->n_dims; i++)
    n *= (guint64) self->ne[i];
  return n;
}

guint64
lathe_tensor_info_get_n_bytes (LatheTensorInfo *self)
{
  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), 0);
  return self->n_bytes;
}

double
lathe_tensor_info_get_bpw (LatheTensorInfo *self)
{
  const guint64 n = lathe_tensor_info_get_n_elements (self);

  return n ? 8.0 * (double) self->n_bytes / (double) n : 0.0;
}

int
lathe_tensor_info_get_layer (LatheTensorInfo *self)
{
  g_return_val_if_fail (LATHE_IS_TENSOR_INFO (self), -1);
  return self->layer;
}
