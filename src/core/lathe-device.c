/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-device"

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "lathe-device.h"
#include "lathe-error.h"
#include "lathe-json.h"

/* A registry of devices is a few kB per device. */
#define DEVICES_LIMIT ((gsize) 16 << 20)

struct _LatheDevice
{
  GObject parent_instance;
  char *name, *destination, *user, *identity, *ssh_config, *arch, *runner_prefix;
  int port;
};

G_DEFINE_FINAL_TYPE (LatheDevice, lathe_device, G_TYPE_OBJECT)

static void
lathe_device_finalize (GObject *object)
{
  LatheDevice *self = LATHE_DEVICE (object);

  g_free (self->name);
  g_free (self->destination);
  g_free (self->user);
  g_free (self->identity);
  g_free (self->ssh_config);
  g_free (self->arch);
  g_free (self->runner_prefix);
  G_OBJECT_CLASS (lathe_device_parent_class)->finalize (object);
}

static void
lathe_device_class_init (LatheDeviceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lathe_device_finalize;
}

static void
lathe_device_init (LatheDevice *self)
{
}

static gboolean
valid_name (const char *name)
{
  if (name == NULL || *name == '\0' || strlen (name) > 64 || name[0] == '-' || name[0] == '.')
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '.' && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

/* A destination ssh takes as one: no spaces, no option (leading '-'). */
static gboolean
valid_destination (const char *d)
{
  if (d == NULL || *d == '\0' || d[0] == '-' || strlen (d) > 255)
    return FALSE;
  for (const char *p = d; *p; p++)
    if (g_ascii_isspace (*p) || g_ascii_iscntrl (*p))
      return FALSE;
  return TRUE;
}

LatheDevice *
lathe_device_new (const char *name, const char *destination, GError **error)
{
  LatheDevice *self;

  if (!valid_name (name))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("“%s”: a device name is letters, digits, “.”, “_” and “-”"), name ? name : "");
      return NULL;
    }
  if (!valid_destination (destination))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("“%s”: expected an SSH destination such as pi@192.168.1.20 or a Host alias"),
                   destination ? destination : "");
      return NULL;
    }
  self = g_object_new (LATHE_TYPE_DEVICE, NULL);
  self->name = g_strdup (name);
  self->destination = g_strdup (destination);
  return self;
}

const char *
lathe_device_get_name (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), NULL);
  return self->name;
}

const char *
lathe_device_get_destination (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), NULL);
  return self->destination;
}

int
lathe_device_get_port (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), 0);
  return self->port;
}

void
lathe_device_set_port (LatheDevice *self, int port)
{
  g_return_if_fail (LATHE_IS_DEVICE (self));
  g_return_if_fail (port >= 0 && port <= 65535);
  self->port = port;
}

const char *
lathe_device_get_user (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), NULL);
  return self->user;
}

void
lathe_device_set_user (LatheDevice *self, const char *user)
{
  g_return_if_fail (LATHE_IS_DEVICE (self));
  g_free (self->user);
  self->user = user != NULL && *user != '\0' ? g_strdup (user) : NULL;
}

const char *
lathe_device_get_identity (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), NULL);
  return self->identity;
}

void
lathe_device_set_identity (LatheDevice *self, const char *path)
{
  g_return_if_fail (LATHE_IS_DEVICE (self));
  g_free (self->identity);
  self->identity = path != NULL && *path != '\0' ? g_strdup (path) : NULL;
}

const char *
lathe_device_get_ssh_config (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), NULL);
  return self->ssh_config;
}

void
lathe_device_set_ssh_config (LatheDevice *self, const char *path)
{
  g_return_if_fail (LATHE_IS_DEVICE (self));
  g_free (self->ssh_config);
  self->ssh_config = path != NULL && *path != '\0' ? g_strdup (path) : NULL;
}

const char *
lathe_device_get_arch (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), NULL);
  return self->arch;
}

void
lathe_device_set_arch (LatheDevice *self, const char *arch)
{
  g_return_if_fail (LATHE_IS_DEVICE (self));
  g_free (self->arch);
  self->arch = arch != NULL && *arch != '\0' ? g_strdup (arch) : NULL;
}

const char *
lathe_device_get_runner_prefix (LatheDevice *self)
{
  g_return_val_if_fail (LATHE_IS_DEVICE (self), NULL);
  return self->runner_prefix;
}

void
lathe_device_set_runner_prefix (LatheDevice *self, const char *prefix)
{
  g_return_if_fail (LATHE_IS_DEVICE (self));
  g_free (self->runner_prefix);
  self->runner_prefix = prefix != NULL && *prefix != '\0' ? g_strdup (prefix) : NULL;
}

static void
add_string (JsonBuilder *b, const char *key, const char *value)
{
  if (value == NULL)
    return;
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, value);
}

JsonNode *
lathe_device_to_json (LatheDevice *self)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_string (b, "name", self->name);
  add_string (b, "destination", self->destination);
  if (self->port > 0)
    {
      json_builder_set_member_name (b, "port");
      json_builder_add_int_value (b, self->port);
    }
  add_string (b, "user", self->user);
  add_string (b, "identity", self->identity);
  add_string (b, "ssh_config", self->ssh_config);
  add_string (b, "arch", self->arch);
  add_string (b, "runner_prefix", self->runner_prefix);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
optional_string (JsonObject *o, const char *key, const char **out, const char *origin, const char *where,
                 GError **error)
{
  JsonNode *n = json_object_get_member (o, key);

  *out = NULL;
  if (n == NULL)
    return TRUE;
  if (json_node_get_value_type (n) != G_TYPE_STRING)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s.%s: expected a string"), origin, where, key);
      return FALSE;
    }
  *out = json_node_get_string (n);
  return TRUE;
}

LatheDevice *
lathe_device_from_json (JsonNode *node, const char *origin, const char *where, GError **error)
{
  const char *name, *dest, *user, *identity, *config, *arch, *prefix;
  g_autoptr (GError) local = NULL;
  LatheDevice *d;
  JsonObject *o;
  gint64 port;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: expected an object"), origin, where);
      return NULL;
    }
  o = json_node_get_object (node);
  if (!optional_string (o, "name", &name, origin, where, error)
      || !optional_string (o, "destination", &dest, origin, where, error)
      || !optional_string (o, "user", &user, origin, where, error)
      || !optional_string (o, "identity", &identity, origin, where, error)
      || !optional_string (o, "ssh_config", &config, origin, where, error)
      || !optional_string (o, "arch", &arch, origin, where, error)
      || !optional_string (o, "runner_prefix", &prefix, origin, where, error))
    return NULL;
  port = json_object_get_int_member_with_default (o, "port", 0);
  if (port < 0 || port > 65535)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s.port: expected 1 to 65535"), origin, where);
      return NULL;
    }
  if ((d = lathe_device_new (name, dest, &local)) == NULL)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s: %s", origin, where, local->message);
      return NULL;
    }
  d->port = (int) port;
  lathe_device_set_user (d, user);
  lathe_device_set_identity (d, identity);
  lathe_device_set_ssh_config (d, config);
  lathe_device_set_arch (d, arch);
  lathe_device_set_runner_prefix (d, prefix);
  return d;
}

char *
lathe_devices_file (void)
{
  const char *env = g_getenv ("LATHE_DEVICES");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  return g_build_filename (g_get_user_config_dir (), "lathe", "devices.json", NULL);
}

GPtrArray *
lathe_devices_load (const char *path, GError **error)
{
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (JsonNode) root = NULL;
  JsonNode *list;

  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return g_steal_pointer (&devices);
  if ((root = lathe_json_load (path, DEVICES_LIMIT, error)) == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root)
      || (list = json_object_get_member (json_node_get_object (root), "devices")) == NULL
      || !JSON_NODE_HOLDS_ARRAY (list))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: devices: expected an array"), path);
      return NULL;
    }
  for (guint i = 0; i < json_array_get_length (json_node_get_array (list)); i++)
    {
      g_autofree char *where = g_strdup_printf ("devices[%u]", i);
      LatheDevice *d = lathe_device_from_json (json_array_get_element (json_node_get_array (list), i), path,
                                               where, error);
      if (d == NULL)
        return NULL;
      if (lathe_devices_find (devices, d->name) != NULL)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s.name: “%s” is there twice"), path, where,
                       d->name);
          g_object_unref (d);
          return NULL;
        }
      g_ptr_array_add (devices, d);
    }
  return g_steal_pointer (&devices);
}

gboolean
lathe_devices_save (const char *path, GPtrArray *devices, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *dir = g_path_get_dirname (path);

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "devices");
  json_builder_begin_array (b);
  for (guint i = 0; i < devices->len; i++)
    json_builder_add_value (b, lathe_device_to_json (g_ptr_array_index (devices, i)));
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", dir, g_strerror (errno));
      return FALSE;
    }
  return lathe_json_save (path, root, error);
}

LatheDevice *
lathe_devices_find (GPtrArray *devices, const char *name)
{
  for (guint i = 0; i < devices->len; i++)
    if (g_strcmp0 (((LatheDevice *) g_ptr_array_index (devices, i))->name, name) == 0)
      return g_ptr_array_index (devices, i);
  return NULL;
}
