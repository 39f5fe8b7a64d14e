/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-workspace"

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <unistd.h>

#include "lathe-error.h"
#include "lathe-eval.h"
#include "lathe-io.h"
#include "lathe-json.h"
#include "lathe-recipe.h"
#include "lathe-remote.h"
#include "lathe-sensitivity.h"
#include "lathe-workspace.h"
#include "lk-file.h"

#define WORKSPACE_VERSION 2
#define WORKSPACE_FILE "workspace.json"
#define VARIANTS_DIR "variants"
/* One variant's figures and recipe: a few kB. */
#define VARIANT_LIMIT ((gsize) 4 << 20)

struct _LatheWorkspace
{
  GObject parent_instance;
  char *dir, *source, *eval_text;
  int eval_ctx, eval_chunks;
  GListStore *variants;
  GPtrArray *problems; /* variant files that could not be read, as messages */
  GMutex reference_lock; /* one worker makes the reference */
};

G_DEFINE_FINAL_TYPE (LatheWorkspace, lathe_workspace, G_TYPE_OBJECT)

static void
lathe_workspace_finalize (GObject *object)
{
  LatheWorkspace *self = LATHE_WORKSPACE (object);

  g_free (self->dir);
  g_free (self->source);
  g_free (self->eval_text);
  g_object_unref (self->variants);
  g_ptr_array_unref (self->problems);
  g_mutex_clear (&self->reference_lock);
  G_OBJECT_CLASS (lathe_workspace_parent_class)->finalize (object);
}

static void
lathe_workspace_class_init (LatheWorkspaceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = lathe_workspace_finalize;
}

static void
lathe_workspace_init (LatheWorkspace *self)
{
  self->variants = g_list_store_new (LATHE_TYPE_VARIANT);
  self->problems = g_ptr_array_new_with_free_func (g_free);
  self->eval_ctx = 128;
  self->eval_chunks = 16;
  g_mutex_init (&self->reference_lock);
}

const char *
lathe_workspace_get_dir (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return self->dir;
}

const char *
lathe_workspace_get_source (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return self->source;
}

const char *
lathe_workspace_get_eval_text (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return self->eval_text;
}

int
lathe_workspace_get_eval_ctx (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), 0);
  return self->eval_ctx;
}

int
lathe_workspace_get_eval_chunks (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), 0);
  return self->eval_chunks;
}

gboolean
lathe_workspace_set_eval_text (LatheWorkspace *self, const char *path, GError **error)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: no such text file"), path);
      return FALSE;
    }
  g_free (self->eval_text);
  self->eval_text = g_canonicalize_filename (path, NULL);
  return lathe_workspace_save (self, error);
}

gboolean
lathe_workspace_set_eval (LatheWorkspace *self, int n_ctx, int n_chunks, GError **error)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  g_return_val_if_fail (n_ctx > 0 && n_chunks >= 0, FALSE);
  self->eval_ctx = n_ctx;
  self->eval_chunks = n_chunks;
  return lathe_workspace_save (self, error);
}

GListModel *
lathe_workspace_get_variants (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return G_LIST_MODEL (self->variants);
}

LatheVariant *
lathe_workspace_find (LatheWorkspace *self, const char *id_or_name)
{
  const guint n = g_list_model_get_n_items (G_LIST_MODEL (self->variants));

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (G_LIST_MODEL (self->variants), i);
      if (g_strcmp0 (lathe_variant_get_id (v), id_or_name) == 0
          || g_strcmp0 (lathe_variant_get_name (v), id_or_name) == 0)
        return v;
    }
  return NULL;
}

char *
lathe_workspace_dup_file (LatheWorkspace *self, LatheVariant *variant)
{
  const char *file = lathe_variant_get_file (variant);

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return g_path_is_absolute (file) ? g_strdup (file) : g_build_filename (self->dir, file, NULL);
}

/* Saving and opening ------------------------------------------------------- */

static char *
new_id (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");

  return g_strdup_printf ("%s-%08x", stamp, g_random_int ());
}


/* How long a writer waits for another to finish with workspace.json. */
#define LOCK_TIMEOUT_MS 30000

static JsonNode *
settings_json (LatheWorkspace *self, GPtrArray *variants)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lathe_workspace");
  json_builder_add_int_value (b, WORKSPACE_VERSION);
  json_builder_set_member_name (b, "source");
  json_builder_add_string_value (b, self->source);
  json_builder_set_member_name (b, "eval");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, self->eval_text);
  json_builder_set_member_name (b, "ctx");
  json_builder_add_int_value (b, self->eval_ctx);
  json_builder_set_member_name (b, "chunks");
  json_builder_add_int_value (b, self->eval_chunks);
  json_builder_end_object (b);
  if (variants != NULL)
    {
      json_builder_set_member_name (b, "variants");
      json_builder_begin_array (b);
      for (guint i = 0; i < variants->len; i++)
        json_builder_add_value (b, lathe_variant_to_json (g_ptr_array_index (variants, i)));
      json_builder_end_array (b);
    }
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

char *
lathe_workspace_to_json (LatheWorkspace *self)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (JsonNode) root = NULL;
  const guint n = g_list_model_get_n_items (G_LIST_MODEL (self->variants));

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (all, g_list_model_get_item (G_LIST_MODEL (self->variants), i));
  root = settings_json (self, all);
  return lathe_json_to_string (root, TRUE);
}

/* workspace.json, under the folder's lock: the source and the evaluation
 * settings (each variant is a file of its own). */
static gboolean
save_settings (LatheWorkspace *self, GError **error)
{
  g_autoptr (JsonNode) root = settings_json (self, NULL);
  g_autofree char *path = g_build_filename (self->dir, WORKSPACE_FILE, NULL);
  const int lock = lathe_dir_lock (self->dir, LOCK_TIMEOUT_MS, error);
  gboolean ok;

  if (lock < 0)
    return FALSE;
  ok = lathe_json_save (path, root, error);
  lathe_dir_unlock (lock);
  return ok;
}

gboolean
lathe_workspace_save (LatheWorkspace *self, GError **error)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  return save_settings (self, error);
}

static gboolean
fail (GError **error, const char *origin, const char *field, const char *what)
{
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s: %s", origin, field, what);
  return FALSE;
}

static gboolean
read_eval (LatheWorkspace *self, JsonObject *root, const char *origin, GError **error)
{
  JsonNode *n = json_object_get_member (root, "eval");
  JsonObject *o;
  const char *text;
  double ctx = -1, chunks = -1;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return fail (error, origin, "eval", _("expected an object"));
  o = json_node_get_object (n);
  if ((text = lathe_json_member_string (o, "text")) == NULL)
    return fail (error, origin, "eval.text", _("expected the path of a text file"));
  lathe_json_member_finite (o, "ctx", &ctx);
  lathe_json_member_finite (o, "chunks", &chunks);
  if (!(ctx >= 2 && ctx <= 1 << 20) || ctx != floor (ctx))
    return fail (error, origin, "eval.ctx", _("expected a token count from 2 to 1048576"));
  if (!(chunks >= 0 && chunks <= 1 << 20) || chunks != floor (chunks))
    return fail (error, origin, "eval.chunks", _("expected a chunk count from 0 to 1048576"));
  g_free (self->eval_text);
  self->eval_text = g_strdup (text);
  self->eval_ctx = (int) ctx;
  self->eval_chunks = (int) chunks;
  return TRUE;
}

/* Listed in the order they were added (then by id, for a stable order). */
static int
by_added (gconstpointer a, gconstpointer b)
{
  LatheVariant *x = *(LatheVariant **) a, *y = *(LatheVariant **) b;
  const gint64 ta = lathe_variant_get_added (x), tb = lathe_variant_get_added (y);

  if (ta != tb)
    return ta < tb ? -1 : 1;
  return g_strcmp0 (lathe_variant_get_id (x), lathe_variant_get_id (y));
}

static char *
variant_json_path (const char *dir, const char *id)
{
  g_autofree char *name = g_strconcat (id, ".json", NULL);

  return g_build_filename (dir, VARIANTS_DIR, name, NULL);
}

/* variants/ID.json: one variant, as lathe_variant_to_json writes it, its
 * id the file's name. */
static LatheVariant *
read_variant_file (const char *path, const char *id, GError **error)
{
  g_autoptr (JsonNode) root = lathe_json_load (path, VARIANT_LIMIT, error);
  g_autoptr (LatheVariant) v = NULL;

  if (root == NULL || (v = lathe_variant_from_json (root, path, "(top)", error)) == NULL)
    return NULL;
  if (g_strcmp0 (lathe_variant_get_id (v), id) != 0)
    {
      fail (error, path, "id", _("expected the file's name"));
      return NULL;
    }
  return g_steal_pointer (&v);
}

/* Every variants/ID.json; one that cannot be read is left as it is and
 * said in problems, the others still open. */
static void
read_variant_files (LatheWorkspace *self, GPtrArray *out)
{
  g_autofree char *dir = g_build_filename (self->dir, VARIANTS_DIR, NULL);
  g_autoptr (GDir) it = g_dir_open (dir, 0, NULL);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  const char *name;

  for (guint i = 0; i < out->len; i++)
    g_hash_table_add (seen, (gpointer) lathe_variant_get_id (g_ptr_array_index (out, i)));
  while (it != NULL && (name = g_dir_read_name (it)) != NULL)
    {
      g_autofree char *id = NULL, *path = NULL;
      g_autoptr (GError) local = NULL;
      LatheVariant *v;
      if (!g_str_has_suffix (name, ".json") || lk_is_temp_name (name) || *name == '.')
        continue;
      id = g_strndup (name, strlen (name) - strlen (".json"));
      path = g_build_filename (dir, name, NULL);
      if ((v = read_variant_file (path, id, &local)) == NULL)
        {
          g_ptr_array_add (self->problems, g_strdup (local->message));
          continue;
        }
      if (g_hash_table_contains (seen, lathe_variant_get_id (v)))
        {
          g_object_unref (v);
          continue;
        }
      g_ptr_array_add (out, v);
      g_hash_table_add (seen, (gpointer) lathe_variant_get_id (v));
    }
}

/* Variants inside workspace.json: how version 1 kept them. */
static gboolean
read_inline_variants (JsonObject *root, const char *origin, GPtrArray *out, GError **error)
{
  JsonNode *n = json_object_get_member (root, "variants");
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  JsonArray *a;

  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return fail (error, origin, "variants", _("expected an array"));
  a = json_node_get_array (n);
  for (guint i = 0; i < json_array_get_length (a); i++)
    {
      g_autofree char *where = g_strdup_printf ("variants[%u]", i);
      LatheVariant *v = lathe_variant_from_json (json_array_get_element (a, i), origin, where, error);
      if (v == NULL)
        return FALSE;
      if (!g_hash_table_add (seen, (gpointer) lathe_variant_get_id (v)))
        {
          g_autofree char *field = g_strdup_printf ("variants[%u].id", i);
          g_object_unref (v);
          return fail (error, origin, field, _("used twice"));
        }
      /* Earlier than anything added since, in their order. */
      if (lathe_variant_get_added (v) == 0)
        lathe_variant_set_added (v, (gint64) i + 1);
      g_ptr_array_add (out, v);
    }
  return TRUE;
}

static gboolean
write_variant_file (LatheWorkspace *self, LatheVariant *v, gboolean replace, GError **error);

/* A version 1 workspace becomes version 2: each variant a file, then
 * workspace.json without them. Under the lock; a folder that cannot be
 * written stays as it is (and opens). */
static void
migrate (LatheWorkspace *self, GPtrArray *inline_variants)
{
  g_autofree char *vdir = g_build_filename (self->dir, VARIANTS_DIR, NULL);
  g_autoptr (GError) local = NULL;
  const int lock = lathe_dir_lock (self->dir, LOCK_TIMEOUT_MS, &local);

  if (lock < 0)
    return;
  if (g_mkdir_with_parents (vdir, 0755) == 0)
    {
      gboolean ok = TRUE;
      for (guint i = 0; ok && i < inline_variants->len; i++)
        ok = write_variant_file (self, g_ptr_array_index (inline_variants, i), TRUE, &local);
      if (ok)
        {
          g_autoptr (JsonNode) root = settings_json (self, NULL);
          g_autofree char *path = g_build_filename (self->dir, WORKSPACE_FILE, NULL);
          lathe_json_save (path, root, &local);
        }
    }
  lathe_dir_unlock (lock);
}

LatheWorkspace *
lathe_workspace_open (const char *dir, GError **error)
{
  g_autoptr (LatheWorkspace) self = g_object_new (LATHE_TYPE_WORKSPACE, NULL);
  g_autofree char *path = g_build_filename (dir, WORKSPACE_FILE, NULL);
  g_autoptr (GPtrArray) all = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GError) local = NULL;
  g_autoptr (JsonNode) root = NULL;
  const char *source;
  JsonObject *o;
  double version = 0;

  if ((root = lathe_json_load (path, 0, &local)) == NULL)
    {
      g_set_error_literal (error, LATHE_ERROR,
                           g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? LATHE_ERROR_IO
                                                                                     : LATHE_ERROR_FORMAT,
                           local->message);
      return NULL;
    }
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      fail (error, path, "(top)", _("expected an object"));
      return NULL;
    }
  o = json_node_get_object (root);
  if (!lathe_json_member_finite (o, "lathe_workspace", &version) || (version != 1 && version != WORKSPACE_VERSION))
    {
      fail (error, path, "lathe_workspace", _("expected 1 or 2 (the versions this Lathe reads)"));
      return NULL;
    }
  if ((source = lathe_json_member_string (o, "source")) == NULL)
    {
      fail (error, path, "source", _("expected the path of the source model"));
      return NULL;
    }
  self->dir = g_canonicalize_filename (dir, NULL);
  self->source = g_strdup (source);
  if (!read_eval (self, o, path, error)
      || (version == 1 && !read_inline_variants (o, path, all, error)))
    return NULL;
  if (version == 1)
    migrate (self, all);
  read_variant_files (self, all);
  g_ptr_array_sort (all, by_added);
  g_list_store_splice (self->variants, 0, 0, all->pdata, all->len);
  return g_steal_pointer (&self);
}

LatheWorkspace *
lathe_workspace_create (const char *dir, const char *source_path, const char *eval_text_path,
                        GError **error)
{
  g_autoptr (LatheWorkspace) self = g_object_new (LATHE_TYPE_WORKSPACE, NULL);
  g_autofree char *json = g_build_filename (dir, WORKSPACE_FILE, NULL);
  g_autoptr (JsonNode) root = NULL;
  int lock;
  gboolean ok;

  g_return_val_if_fail (dir != NULL && source_path != NULL, NULL);
  if (!g_file_test (source_path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: no such model file"), source_path);
      return NULL;
    }
  if (eval_text_path != NULL && *eval_text_path != '\0' && !g_file_test (eval_text_path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: no such text file"), eval_text_path);
      return NULL;
    }
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", dir,
                   g_strerror (errno));
      return NULL;
    }
  self->dir = g_canonicalize_filename (dir, NULL);
  self->source = g_canonicalize_filename (source_path, NULL);
  self->eval_text = eval_text_path != NULL && *eval_text_path != '\0'
                      ? g_canonicalize_filename (eval_text_path, NULL) : g_strdup ("");
  /* Two processes starting the same workspace: one makes it, the other is
   * told it is there. */
  if ((lock = lathe_dir_lock (self->dir, LOCK_TIMEOUT_MS, error)) < 0)
    return NULL;
  if (g_file_test (json, G_FILE_TEST_EXISTS))
    {
      lathe_dir_unlock (lock);
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("%s: a workspace is there already"), dir);
      return NULL;
    }
  root = settings_json (self, NULL);
  ok = lathe_json_save (json, root, error);
  lathe_dir_unlock (lock);
  return ok ? g_steal_pointer (&self) : NULL;
}

/* Writes variants/ID.json. A new one never replaces a file that is there
 * (another process's variant of the same id): linked into place, not
 * renamed. */
static gboolean
write_variant_file (LatheWorkspace *self, LatheVariant *v, gboolean replace, GError **error)
{
  g_autofree char *path = variant_json_path (self->dir, lathe_variant_get_id (v));
  g_autofree char *tmp = NULL;
  g_autoptr (JsonNode) node = lathe_variant_to_json (v);
  gboolean ok;

  if (replace)
    return lathe_json_save (path, node, error);
  tmp = g_strconcat (path, ".new", NULL);
  if (!lathe_json_save (tmp, node, error))
    return FALSE;
  ok = link (tmp, path) == 0;
  if (!ok)
    {
      const int e = errno;
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", path, g_strerror (e));
    }
  g_unlink (tmp);
  return ok;
}

/* A variant whose id another process took meanwhile gets a new one, and
 * its model file (made under the old id) follows. */
static gboolean
give_new_id (LatheWorkspace *self, LatheVariant *v, GError **error)
{
  g_autofree char *id = new_id ();
  g_autofree char *old_file = NULL, *new_rel = NULL, *new_file = NULL;
  const char *file = lathe_variant_get_file (v);

  if (file != NULL && !g_path_is_absolute (file))
    {
      old_file = lathe_workspace_dup_file (self, v);
      new_rel = g_strdup_printf ("%s/%s.gguf", VARIANTS_DIR, id);
      new_file = g_build_filename (self->dir, new_rel, NULL);
      if (g_rename (old_file, new_file) != 0)
        {
          const int e = errno;
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (e), "%s: %s", old_file, g_strerror (e));
          return FALSE;
        }
      lathe_variant_set_file (v, new_rel);
    }
  lathe_variant_set_id (v, id);
  return TRUE;
}

gboolean
lathe_workspace_add (LatheWorkspace *self, LatheVariant *variant, GError **error)
{
  g_autofree char *vdir = NULL;
  g_autoptr (GError) local = NULL;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  g_return_val_if_fail (LATHE_IS_VARIANT (variant), FALSE);
  vdir = g_build_filename (self->dir, VARIANTS_DIR, NULL);
  if (g_mkdir_with_parents (vdir, 0755) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", vdir, g_strerror (errno));
      return FALSE;
    }
  if (lathe_variant_get_added (variant) == 0)
    lathe_variant_set_added (variant, g_get_real_time ());
  /* One file per variant: writers never rewrite each other's results, so
   * concurrent sweeps into one workspace lose nothing. */
  for (int attempt = 0; !write_variant_file (self, variant, FALSE, &local); attempt++)
    {
      if (!g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_EXIST) || attempt >= 4)
        {
          g_propagate_error (error, g_steal_pointer (&local));
          return FALSE;
        }
      g_clear_error (&local);
      if (!give_new_id (self, variant, error))
        return FALSE;
    }
  g_list_store_append (self->variants, variant);
  return TRUE;
}

gboolean
lathe_workspace_remove (LatheWorkspace *self, LatheVariant *variant, GError **error)
{
  guint pos;
  g_autofree char *path = NULL, *json = NULL;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  if (!g_list_store_find (self->variants, variant, &pos))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("%s: no variant %s"), self->dir,
                   lathe_variant_get_name (variant));
      return FALSE;
    }
  /* The figures first: a variant without its model file is still a
   * point, a model file without figures would be a stray. */
  json = variant_json_path (self->dir, lathe_variant_get_id (variant));
  if (g_unlink (json) != 0 && errno != ENOENT)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", json, g_strerror (errno));
      return FALSE;
    }
  /* Only files the workspace wrote itself go: never the source. */
  if (lathe_variant_get_file (variant) != NULL && !g_path_is_absolute (lathe_variant_get_file (variant)))
    {
      path = lathe_workspace_dup_file (self, variant);
      if (g_unlink (path) != 0 && errno != ENOENT)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", path,
                       g_strerror (errno));
          return FALSE;
        }
    }
  g_list_store_remove (self->variants, pos);
  return TRUE;
}

GPtrArray *
lathe_workspace_get_problems (LatheWorkspace *self)
{
  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  return self->problems;
}

static void
csv_field (GString *s, const char *text)
{
  if (text == NULL)
    return;
  if (strpbrk (text, ",\"\n\r") == NULL)
    {
      g_string_append (s, text);
      return;
    }
  g_string_append_c (s, '"');
  for (const char *p = text; *p; p++)
    {
      if (*p == '"')
        g_string_append_c (s, '"');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '"');
}

char *
lathe_workspace_to_csv (LatheWorkspace *self)
{
  GString *s = g_string_new ("id,name,device,file");
  const guint n = g_list_model_get_n_items (G_LIST_MODEL (self->variants));

  for (int m = 0; m < LATHE_N_METRICS; m++)
    g_string_append_printf (s, ",%s", lathe_metric_key (m));
  g_string_append_c (s, '\n');
  for (guint i = 0; i < n; i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (G_LIST_MODEL (self->variants), i);
      csv_field (s, lathe_variant_get_id (v));
      g_string_append_c (s, ',');
      csv_field (s, lathe_variant_get_name (v));
      g_string_append_c (s, ',');
      csv_field (s, lathe_variant_get_device (v));
      g_string_append_c (s, ',');
      csv_field (s, lathe_variant_get_file (v));
      for (int m = 0; m < LATHE_N_METRICS; m++)
        {
          const double x = lathe_variant_get_metric (v, m);
          g_string_append_c (s, ',');
          if (!isnan (x))
            g_string_append_printf (s, "%.6g", x);
        }
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}

/* Measuring ---------------------------------------------------------------- */

void
lathe_measure_options_init (LatheMeasureOptions *o)
{
  o->n_threads = 0;
  lathe_bench_options_init (&o->bench);
  o->skip_speed = FALSE;
}

typedef struct
{
  LatheMeasureProgress fn;
  gpointer user;
  double from, to; /* the share of the work this stage is */
  const char *stage;
} Stage;

static void
stage_report (Stage *s, double fraction)
{
  if (s->fn != NULL)
    s->fn (s->user, s->from + (s->to - s->from) * CLAMP (fraction, 0.0, 1.0), s->stage);
}

static void
apply_progress_cb (gpointer user, int done, int total, const char *tensor)
{
  stage_report (user, total > 0 ? (double) done / total : 0.0);
}

static void
eval_progress_cb (gpointer user, const char *stage, int done, int total)
{
  stage_report (user, total > 0 ? (double) done / total : 0.0);
}

/* The source's log-probabilities on the text, for these evaluation settings;
 * made once, by whichever worker needs them first. Making them evaluates
 * the source too: *made then holds its figures (else its tokens are 0). */
static char *
ensure_reference (LatheWorkspace *self, LatheModel *source, int n_ctx, int n_chunks, int n_threads,
                  Stage *stage, lk_eval_result *made, GCancellable *cancellable, GError **error)
{
  g_autofree char *text_id = g_compute_checksum_for_string (G_CHECKSUM_SHA256, self->eval_text, -1);
  g_autofree char *name = g_strdup_printf ("reference-%.8s-%dx%d.lref", text_id, n_ctx, n_chunks);
  char *path = g_build_filename (self->dir, name, NULL);
  LatheEvalOptions o;
  gboolean ok = TRUE;

  memset (made, 0, sizeof *made);
  g_mutex_lock (&self->reference_lock);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      lathe_eval_options_init (&o);
      o.n_ctx = n_ctx;
      o.max_chunks = n_chunks;
      o.n_threads = n_threads;
      o.save_ref = path;
      o.progress = eval_progress_cb;
      o.user = stage;
      ok = lathe_eval_run (source, self->eval_text, NULL, &o, made, cancellable, error);
    }
  g_mutex_unlock (&self->reference_lock);
  if (!ok)
    g_clear_pointer (&path, g_free);
  return path;
}

static gboolean
measure_speed (LatheVariant *v, const char *path, const LatheMeasureOptions *o,
               GCancellable *cancellable, GError **error)
{
  g_autoptr (JsonNode) bench = lathe_runner_bench (path, &o->bench, cancellable, error);
  JsonObject *b;

  if (bench == NULL)
    return FALSE;
  b = json_node_get_object (bench);
  if (json_object_has_member (b, "prefill_tps"))
    lathe_variant_set_metric (v, LATHE_METRIC_PREFILL_TPS,
                              json_object_get_double_member (json_object_get_object_member (b, "prefill_tps"),
                                                             "mean"));
  if (json_object_has_member (b, "decode_tps"))
    lathe_variant_set_metric (v, LATHE_METRIC_DECODE_TPS,
                              json_object_get_double_member (json_object_get_object_member (b, "decode_tps"),
                                                             "mean"));
  if (json_object_has_member (b, "peak_rss_bytes"))
    lathe_variant_set_metric (v, LATHE_METRIC_PEAK_MEMORY_MB,
                              (double) json_object_get_int_member (b, "peak_rss_bytes") / 1e6);
  return TRUE;
}

/* Quality (against the reference; known: figures already measured, or
 * NULL), size and speed of the model file at path. */
static gboolean
measure_file (LatheWorkspace *self, LatheVariant *v, const char *path, LatheModel *loaded, const char *reference,
              const lk_eval_result *known, const LatheMeasureOptions *o, Stage *stage, GCancellable *cancellable,
              GError **error)
{
  g_autoptr (LatheModel) model = loaded ? g_object_ref (loaded) : lathe_model_load (path, NULL, cancellable, error);
  LatheEvalOptions eo;
  lk_eval_result r;
  GStatBuf st;

  if (model == NULL)
    return FALSE;
  lathe_eval_options_init (&eo);
  eo.n_ctx = self->eval_ctx;
  eo.max_chunks = self->eval_chunks;
  eo.n_threads = o->n_threads;
  eo.progress = eval_progress_cb;
  eo.user = stage;
  if (known != NULL)
    r = *known;
  else if (!lathe_eval_run (model, self->eval_text, reference, &eo, &r, cancellable, error))
    return FALSE;
  lathe_variant_set_metric (v, LATHE_METRIC_FILE_MB,
                            g_stat (path, &st) == 0 ? (double) st.st_size / 1e6 : NAN);
  lathe_variant_set_measured (v, LATHE_METRIC_BPW, lathe_model_get_bpw (model));
  /* A perplexity can overflow (a model whose logits blow up): kept as
   * "not a number", never as a figure. */
  lathe_variant_set_measured (v, LATHE_METRIC_PERPLEXITY, r.perplexity);
  lathe_variant_set_measured (v, LATHE_METRIC_KL_MEAN, r.kl_mean);
  lathe_variant_set_measured (v, LATHE_METRIC_TOP1, r.top1_agreement);
  lathe_variant_set_measured (v, LATHE_METRIC_LAYERS_MEAN,
                              r.layers_mean > 0 ? r.layers_mean : (double) r.n_layer);
  if (o->skip_speed)
    return TRUE;
  stage->from = 0.85;
  stage->to = 1.0;
  stage->stage = _("measuring speed");
  stage_report (stage, 0.0);
  return measure_speed (v, path, o, cancellable, error);
}

static char *
recipe_name (const LatheRecipe *recipe)
{
  const char *name = lathe_recipe_get_name (recipe);

  return g_strdup (name != NULL && *name != '\0' ? name : _("Variant"));
}

LatheVariant *
lathe_workspace_measure (LatheWorkspace *self, LatheModel *source, const char *recipe_json,
                         const LatheMeasureOptions *o, LatheMeasureProgress progress, gpointer user,
                         GCancellable *cancellable, GError **error)
{
  Stage stage = { progress, user, 0.0, 0.1, _("computing the reference") };
  g_autofree char *reference = NULL, *id = new_id (), *rel = NULL, *path = NULL, *name = NULL;
  g_autofree char *variants_dir = g_build_filename (self->dir, VARIANTS_DIR, NULL);
  g_autoptr (LatheRecipe) recipe = NULL;
  g_autoptr (LatheVariant) v = NULL;
  LatheMeasureOptions defaults;
  lk_eval_result made;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  g_return_val_if_fail (LATHE_IS_MODEL (source), NULL);
  if (o == NULL)
    {
      lathe_measure_options_init (&defaults);
      o = &defaults;
    }
  if (recipe_json != NULL
      && (recipe = lathe_recipe_parse (recipe_json, -1, _("recipe"), error)) == NULL)
    return NULL;
  if (*self->eval_text == '\0')
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("%s: no evaluation text: choose one to measure quality against"), self->dir);
      return NULL;
    }
  reference = ensure_reference (self, source, self->eval_ctx, self->eval_chunks, o->n_threads, &stage, &made,
                                cancellable, error);
  if (reference == NULL)
    return NULL;
  if (recipe == NULL)
    {
      v = lathe_variant_new (id, _("Original"));
      lathe_variant_set_file (v, self->source);
      path = g_strdup (self->source);
    }
  else
    {
      name = recipe_name (recipe);
      v = lathe_variant_new (id, name);
      rel = g_strdup_printf ("%s/%s.gguf", VARIANTS_DIR, id);
      path = g_build_filename (self->dir, rel, NULL);
      lathe_variant_set_file (v, rel);
      lathe_variant_set_recipe (v, recipe_json);
      stage = (Stage){ progress, user, 0.1, 0.5, _("applying the recipe") };
      stage_report (&stage, 0.0);
      if (g_mkdir_with_parents (variants_dir, 0755) != 0)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", variants_dir,
                       g_strerror (errno));
          return NULL;
        }
      if (!lathe_recipe_apply (recipe, source, path, o->n_threads, apply_progress_cb, &stage, NULL,
                               cancellable, error))
        return NULL;
    }
  stage = (Stage){ progress, user, 0.5, o->skip_speed ? 1.0 : 0.85, _("evaluating") };
  stage_report (&stage, 0.0);
  /* The original was just evaluated while its reference was made. */
  if (!measure_file (self, v, path, recipe == NULL ? source : NULL, reference,
                     recipe == NULL && made.tokens > 0 ? &made : NULL, o, &stage, cancellable, error))
    {
      /* Nothing half-done stays: the file goes with the failure. */
      if (recipe != NULL)
        g_unlink (path);
      return NULL;
    }
  return g_steal_pointer (&v);
}

/* Measuring in the background ---------------------------------------------- */

typedef struct
{
  LatheWorkspace *self;
  LatheModel *source;
  GPtrArray *recipes; /* char*, NULL for the source */
  gboolean sensitivity; /* measure the sensitivity table instead */
  LatheMeasureOptions options;
  GMainContext *context;
  LatheSweepProgress progress;
  gpointer progress_user;
  /* Shared between the worker and the caller's context. */
  GMutex lock;
  int done, total, added;
  double fraction;
  char *stage;
  gboolean report_pending;
  GError *save_error;
} MeasureJob;

static void
measure_job_free (gpointer p)
{
  MeasureJob *j = p;

  g_object_unref (j->self);
  g_object_unref (j->source);
  g_ptr_array_unref (j->recipes);
  g_main_context_unref (j->context);
  g_mutex_clear (&j->lock);
  g_free (j->stage);
  g_clear_error (&j->save_error);
  g_free (j);
}

static gboolean
report_idle_cb (gpointer data)
{
  GTask *task = data;
  MeasureJob *j = g_task_get_task_data (task);
  int done, total;
  double fraction;
  g_autofree char *stage = NULL;

  g_mutex_lock (&j->lock);
  done = j->done;
  total = j->total;
  fraction = j->fraction;
  stage = g_strdup (j->stage);
  j->report_pending = FALSE;
  g_mutex_unlock (&j->lock);
  if (j->progress != NULL && !g_task_get_completed (task))
    j->progress (j->progress_user, done, total, fraction, stage);
  return G_SOURCE_REMOVE;
}

/* Called by the worker as often as it likes; the caller sees the latest. */
static void
job_report (GTask *task, double fraction, const char *stage)
{
  MeasureJob *j = g_task_get_task_data (task);
  gboolean schedule;

  g_mutex_lock (&j->lock);
  j->fraction = fraction;
  if (stage != NULL && g_strcmp0 (stage, j->stage) != 0)
    {
      g_free (j->stage);
      j->stage = g_strdup (stage);
    }
  schedule = !j->report_pending;
  j->report_pending = TRUE;
  g_mutex_unlock (&j->lock);
  if (schedule)
    g_main_context_invoke_full (j->context, G_PRIORITY_DEFAULT, report_idle_cb, g_object_ref (task),
                                g_object_unref);
}

static void
variant_progress_cb (gpointer user, double fraction, const char *stage)
{
  job_report (user, fraction, stage);
}

typedef struct
{
  GTask *task;
  LatheVariant *variant;
} Added;

static gboolean
add_idle_cb (gpointer data)
{
  Added *a = data;
  MeasureJob *j = g_task_get_task_data (a->task);
  g_autoptr (GError) error = NULL;

  if (!lathe_workspace_add (j->self, a->variant, &error) && j->save_error == NULL)
    j->save_error = g_steal_pointer (&error);
  j->added++;
  g_object_unref (a->variant);
  g_object_unref (a->task);
  g_free (a);
  return G_SOURCE_REMOVE;
}

static void
measure_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  MeasureJob *j = task_data;
  GError *error = NULL;

  if (j->sensitivity)
    {
      if (!lathe_workspace_measure_sensitivity (j->self, j->source, variant_progress_cb, task, cancellable,
                                                &error))
        g_task_return_error (task, error);
      else
        g_task_return_int (task, 0);
      return;
    }
  for (guint i = 0; i < j->recipes->len; i++)
    {
      LatheVariant *v;
      Added *a;
      g_mutex_lock (&j->lock);
      j->done = (int) i;
      g_mutex_unlock (&j->lock);
      job_report (task, 0.0, NULL);
      v = lathe_workspace_measure (j->self, j->source, g_ptr_array_index (j->recipes, i), &j->options,
                                   variant_progress_cb, task, cancellable, &error);
      if (v == NULL)
        {
          g_task_return_error (task, error);
          return;
        }
      a = g_new (Added, 1);
      a->task = g_object_ref (task);
      a->variant = v;
      g_main_context_invoke_full (j->context, G_PRIORITY_DEFAULT, add_idle_cb, a, NULL);
    }
  g_mutex_lock (&j->lock);
  j->done = (int) j->recipes->len;
  g_mutex_unlock (&j->lock);
  job_report (task, 1.0, NULL);
  g_task_return_int (task, (gssize) j->recipes->len);
}

static void
start_job (LatheWorkspace *self, LatheModel *source, GPtrArray *recipes, gboolean sensitivity,
           const LatheMeasureOptions *o, LatheSweepProgress progress, gpointer progress_user,
           GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (self, cancellable, callback, user_data);
  MeasureJob *j = g_new0 (MeasureJob, 1);

  j->sensitivity = sensitivity;
  j->self = g_object_ref (self);
  j->source = g_object_ref (source);
  j->recipes = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < recipes->len; i++)
    g_ptr_array_add (j->recipes, g_strdup (g_ptr_array_index (recipes, i)));
  if (o != NULL)
    j->options = *o;
  else
    lathe_measure_options_init (&j->options);
  j->context = g_main_context_ref_thread_default ();
  j->progress = progress;
  j->progress_user = progress_user;
  j->total = sensitivity ? 1 : (int) recipes->len;
  g_mutex_init (&j->lock);
  g_task_set_source_tag (task, lathe_workspace_measure_async);
  g_task_set_task_data (task, j, measure_job_free);
  g_task_run_in_thread (task, measure_thread);
}

void
lathe_workspace_measure_async (LatheWorkspace *self, LatheModel *source, GPtrArray *recipes,
                               const LatheMeasureOptions *o, LatheSweepProgress progress,
                               gpointer progress_user, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (LATHE_IS_WORKSPACE (self));
  g_return_if_fail (LATHE_IS_MODEL (source));
  start_job (self, source, recipes, FALSE, o, progress, progress_user, cancellable, callback, user_data);
}

void
lathe_workspace_measure_sensitivity_async (LatheWorkspace *self, LatheModel *source,
                                           LatheSweepProgress progress, gpointer progress_user,
                                           GCancellable *cancellable, GAsyncReadyCallback callback,
                                           gpointer user_data)
{
  g_autoptr (GPtrArray) none = g_ptr_array_new ();

  g_return_if_fail (LATHE_IS_WORKSPACE (self));
  g_return_if_fail (LATHE_IS_MODEL (source));
  start_job (self, source, none, TRUE, NULL, progress, progress_user, cancellable, callback, user_data);
}

int
lathe_workspace_measure_finish (LatheWorkspace *self, GAsyncResult *result, GError **error)
{
  GTask *task = G_TASK (result);
  MeasureJob *j = g_task_get_task_data (task);
  GError *local = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), -1);
  if (g_task_propagate_int (task, &local) < 0 || local != NULL)
    {
      g_propagate_error (error, local);
      return -1;
    }
  if (j->save_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&j->save_error));
      return -1;
    }
  return j->added;
}

/* Sensitivity ---------------------------------------------------------------- */

#define SENSITIVITY_FILE "sensitivity.json"

char *
lathe_workspace_dup_sensitivity (LatheWorkspace *self)
{
  char *path;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  path = g_build_filename (self->dir, SENSITIVITY_FILE, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    g_clear_pointer (&path, g_free);
  return path;
}

static void
sensitivity_progress_cb (gpointer user, int done, int total, const char *tensor)
{
  Stage *s = user;
  g_autofree char *text = g_strdup_printf (_("sensitivity of %s"), tensor != NULL ? tensor : "");

  s->stage = text;
  stage_report (s, total > 0 ? (double) done / total : 0.0);
  s->stage = NULL;
}

gboolean
lathe_workspace_measure_sensitivity (LatheWorkspace *self, LatheModel *source, LatheMeasureProgress progress,
                                     gpointer user, GCancellable *cancellable, GError **error)
{
  static const lk_type candidates[] = { LK_TYPE_F16, LK_TYPE_Q8_0, LK_TYPE_Q6_K, LK_TYPE_Q5_K, LK_TYPE_Q5_0,
                                        LK_TYPE_Q4_K, LK_TYPE_IQ4_XS, LK_TYPE_Q4_0, LK_TYPE_Q3_K, LK_TYPE_Q2_K };
  Stage stage = { progress, user, 0.0, 1.0, NULL };
  g_autofree char *path = g_build_filename (self->dir, SENSITIVITY_FILE, NULL);
  g_autoptr (JsonNode) table = NULL;
  LatheSensitivityOptions o;

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), FALSE);
  if (*self->eval_text == '\0')
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                   _("%s: no evaluation text: choose one to measure quality against"), self->dir);
      return FALSE;
    }
  lathe_sensitivity_options_init (&o);
  o.types = candidates;
  o.n_types = G_N_ELEMENTS (candidates);
  o.n_ctx = self->eval_ctx;
  o.max_chunks = self->eval_chunks;
  o.progress = sensitivity_progress_cb;
  o.user = &stage;
  if ((table = lathe_sensitivity_measure (source, self->eval_text, &o, cancellable, error)) == NULL)
    return FALSE;
  return lathe_json_save (path, table, error);
}

/* Device profiles ------------------------------------------------------------ */

/* The variant measured here whose file is model_path, or NULL. */
static LatheVariant *
local_variant_of (LatheWorkspace *self, const char *model_path)
{
  g_autofree char *canon = g_canonicalize_filename (model_path, NULL);
  GListModel *list = G_LIST_MODEL (self->variants);

  for (guint i = 0; i < g_list_model_get_n_items (list); i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (list, i);
      g_autofree char *path = lathe_workspace_dup_file (self, v);
      g_autofree char *cpath = g_canonicalize_filename (path, NULL);
      if (lathe_variant_get_device (v) == NULL && strcmp (cpath, canon) == 0)
        return v;
    }
  return NULL;
}

LatheVariant *
lathe_workspace_add_profile (LatheWorkspace *self, const char *model_path, JsonNode *profile, GError **error)
{
  static const LatheMetric quality[] = { LATHE_METRIC_BPW, LATHE_METRIC_PERPLEXITY, LATHE_METRIC_KL_MEAN,
                                         LATHE_METRIC_TOP1, LATHE_METRIC_LAYERS_MEAN };
  LatheVariant *local = local_variant_of (self, model_path);
  const char *device = json_object_get_string_member (json_node_get_object (profile), "device");
  g_autofree char *id = g_strdup_printf ("%s-%08x", device, g_random_int ());
  g_autofree char *base = g_path_get_basename (model_path);
  g_autofree char *name = g_strdup_printf (_("%s on %s"), local ? lathe_variant_get_name (local) : base, device);
  g_autofree char *canon = g_canonicalize_filename (model_path, NULL);
  g_autoptr (LatheVariant) v = lathe_variant_from_profile (profile, id, name);

  g_return_val_if_fail (LATHE_IS_WORKSPACE (self), NULL);
  lathe_variant_set_file (v, local ? lathe_variant_get_file (local) : canon);
  if (local != NULL)
    {
      lathe_variant_set_recipe (v, lathe_variant_get_recipe (local));
      for (guint k = 0; k < G_N_ELEMENTS (quality); k++)
        lathe_variant_set_metric (v, quality[k], lathe_variant_get_metric (local, quality[k]));
    }
  if (!lathe_workspace_add (self, v, error))
    return NULL;
  return v;
}

/* Sweeps ------------------------------------------------------------------- */

/* The grid types weigh their errors by an importance matrix. */
static gboolean
needs_calibration (const char *type)
{
  lk_type t;
  lk_mix mix;

  return lk_quantize_parse_type (type, &t, &mix) && lk_quantize_needs_importance (t);
}

static char *
grid_recipe (const char *type, double sparsity, double exit_threshold, int exit_min_layer, const char *calib_text)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GPtrArray) parts = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *name = NULL;

  if (type != NULL)
    g_ptr_array_add (parts, g_strdup (type));
  if (sparsity > 0)
    g_ptr_array_add (parts, g_strdup_printf (_("%g %% sparse"), sparsity * 100));
  if (exit_threshold < 1)
    g_ptr_array_add (parts, g_strdup_printf (_("exit at %g"), exit_threshold));
  if (parts->len == 0)
    return NULL;
  g_ptr_array_add (parts, NULL);
  name = g_strjoinv (" · ", (char **) parts->pdata);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "lathe_recipe");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, name);
  if (type != NULL && calib_text != NULL && needs_calibration (type))
    {
      json_builder_set_member_name (b, "calibration");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "text");
      json_builder_add_string_value (b, calib_text);
      json_builder_end_object (b);
    }
  if (type != NULL)
    {
      json_builder_set_member_name (b, "quantize");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "type");
      json_builder_add_string_value (b, type);
      json_builder_end_object (b);
    }
  if (sparsity > 0)
    {
      json_builder_set_member_name (b, "prune");
      json_builder_begin_array (b);
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "method");
      json_builder_add_string_value (b, "magnitude");
      json_builder_set_member_name (b, "sparsity");
      json_builder_add_double_value (b, sparsity);
      json_builder_end_object (b);
      json_builder_end_array (b);
    }
  if (exit_threshold < 1)
    {
      json_builder_set_member_name (b, "conditional");
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "exit_threshold");
      json_builder_add_double_value (b, exit_threshold);
      json_builder_set_member_name (b, "exit_min_layer");
      json_builder_add_int_value (b, exit_min_layer);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return lathe_json_to_string (root, FALSE);
}

GPtrArray *
lathe_sweep_recipes (const char *const *types, const double *sparsities, guint n_sparsities,
                     const double *exit_thresholds, guint n_exits, int exit_min_layer, const char *calib_text)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  static const char *const no_type[] = { NULL };
  static const double none = 0, never = 1;
  const char *const *t = types != NULL && types[0] != NULL ? types : no_type;
  const guint n_types = types != NULL && types[0] != NULL ? g_strv_length ((char **) types) : 1;

  if (n_sparsities == 0)
    sparsities = &none, n_sparsities = 1;
  if (n_exits == 0)
    exit_thresholds = &never, n_exits = 1;
  for (guint a = 0; a < n_types; a++)
    for (guint s = 0; s < n_sparsities; s++)
      for (guint e = 0; e < n_exits; e++)
        {
          char *recipe = grid_recipe (t[a], sparsities[s], exit_thresholds[e], exit_min_layer, calib_text);
          if (recipe != NULL)
            g_ptr_array_add (out, recipe);
        }
  return out;
}
