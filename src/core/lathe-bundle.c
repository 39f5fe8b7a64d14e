/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-bundle"

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "lathe-bundle.h"
#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-model.h"
#include "lathe-recipe.h"
#include "lathe-remote.h"
#include "lathe-runner.h"
#include "lk-export.h"

#define MANIFEST "MANIFEST.json"
#define SUMS "SHA256SUMS"

/* run.sh: POSIX sh, so that a device with busybox runs it. */
static const char run_sh[] =
  "#!/bin/sh\n"
  "# Runs the bundled model with the bundled lathe-run.\n"
  "#   ./run.sh [PROMPT]   generate (settings.json's defaults)\n"
  "#   ./run.sh --verify   check every file's sha256 and the golden output\n"
  "#   ./run.sh --bench    measure speed here\n"
  "# LATHE_RUN_PREFIX: a command to start lathe-run through (taskset, an emulator).\n"
  "set -eu\n"
  "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
  "run() { ${LATHE_RUN_PREFIX:-} \"$here/lathe-run\" \"$@\"; }\n"
  "n_golden=$(cat \"$here/golden.n\")\n"
  "case \"${1:-}\" in\n"
  "--verify)\n"
  "  cd \"$here\"\n"
  "  if command -v sha256sum >/dev/null 2>&1; then sha256sum -c " SUMS " >/dev/null\n"
  "  else shasum -a 256 -c " SUMS " >/dev/null; fi || { echo \"FAILED: a file does not match " SUMS "\" >&2; exit 1; }\n"
  "  echo \"files: OK\"\n"
  "  tmp=$(mktemp)\n"
  "  if ! run generate -m \"$here/model.gguf\" -p \"$(cat \"$here/golden.prompt\")\" -n \"$n_golden\" --temp 0 >\"$tmp\" 2>\"$tmp.err\"; then\n"
  "    echo \"FAILED: lathe-run could not generate: $(tail -n 1 \"$tmp.err\")\" >&2; rm -f \"$tmp\" \"$tmp.err\"; exit 1\n"
  "  fi\n"
  "  rm -f \"$tmp.err\"\n"
  "  if cmp -s \"$tmp\" \"$here/golden.txt\"; then rm -f \"$tmp\"; echo \"golden: OK\"\n"
  "  else rm -f \"$tmp\"; echo \"FAILED: the greedy output differs from golden.txt\" >&2; exit 1; fi\n"
  "  ;;\n"
  "--bench) shift; run bench -m \"$here/model.gguf\" \"$@\" ;;\n"
  "*) run generate -m \"$here/model.gguf\" -p \"${1:-$(cat \"$here/golden.prompt\")}\" -n 256 ;;\n"
  "esac\n";

static const char lathe_licence[] =
  "Lathe (lathe-run, run.sh)\n"
  "MIT License\n\n"
  "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and\n"
  "associated documentation files (the \"Software\"), to deal in the Software without restriction,\n"
  "including without limitation the rights to use, copy, modify, merge, publish, distribute,\n"
  "sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is\n"
  "furnished to do so, subject to the following conditions:\n\n"
  "The above copyright notice and this permission notice shall be included in all copies or\n"
  "substantial portions of the Software.\n\n"
  "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT\n"
  "NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND\n"
  "NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES\n"
  "OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN\n"
  "CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.\n\n"
  "lathe-run is linked statically with PCRE2 (BSD licence) and the GNU C library (LGPL).\n";

void
lathe_bundle_options_init (LatheBundleOptions *o)
{
  memset (o, 0, sizeof *o);
  o->prompt = "Once upon a time";
  o->n_golden = 32;
}

static gboolean
write_text (const char *dir, const char *name, const char *text, GError **error)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  return g_file_set_contents (path, text, -1, error);
}

static gboolean
write_json (const char *dir, const char *name, JsonNode *node, GError **error)
{
  g_autofree char *text = lathe_json_to_string (node, TRUE);
  g_autofree char *with_nl = g_strconcat (text, "\n", NULL);

  return write_text (dir, name, with_nl, error);
}

static gboolean
copy_file (const char *from, const char *dir, const char *name, GCancellable *cancellable, GError **error)
{
  g_autoptr (GFile) src = g_file_new_for_path (from);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GFile) dst = g_file_new_for_path (path);

  return g_file_copy (src, dst, G_FILE_COPY_OVERWRITE, cancellable, NULL, NULL, error);
}

/* Runs a program here and returns its standard output. */
static char *
run_here (const char *const *argv, GCancellable *cancellable, GError **error)
{
  g_autofree char *out = NULL, *err = NULL;
  gboolean ok = FALSE;

  if (!lathe_run_here (argv, cancellable, &out, &err, &ok, error))
    return NULL;
  if (!ok)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s failed: %s"), argv[0], g_strstrip (err));
      return NULL;
    }
  return g_steal_pointer (&out);
}

/* The golden vectors: the greedy output of this machine's lathe-run on the
 * bundled model. */
static gboolean
write_golden (const LatheBundleOptions *o, const char *dir, GCancellable *cancellable, GError **error)
{
  g_autofree char *runner = lathe_runner_find (error);
  g_autofree char *bundled = g_build_filename (dir, "model.gguf", NULL);
  g_autofree char *n = g_strdup_printf ("%d", o->n_golden > 0 ? o->n_golden : 32);
  g_autofree char *out = NULL, *nl = NULL;
  g_autoptr (LatheModel) model = NULL;
  g_autoptr (GArray) tokens = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;

  if (runner == NULL)
    return FALSE;
  {
    const char *argv[] = { runner, "generate", "-m", bundled, "-p", o->prompt, "-n", n, "--temp", "0", NULL };
    if ((out = run_here (argv, cancellable, error)) == NULL)
      return FALSE;
  }
  if ((model = lathe_model_load (bundled, NULL, cancellable, error)) == NULL)
    return FALSE;
  tokens = lathe_model_tokenize (model, out, NULL);
  nl = g_strconcat (n, "\n", NULL);
  if (!write_text (dir, "golden.txt", out, error) || !write_text (dir, "golden.prompt", o->prompt, error)
      || !write_text (dir, "golden.n", nl, error))
    return FALSE;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "prompt");
  json_builder_add_string_value (b, o->prompt);
  json_builder_set_member_name (b, "n_predict");
  json_builder_add_int_value (b, o->n_golden > 0 ? o->n_golden : 32);
  json_builder_set_member_name (b, "temperature");
  json_builder_add_int_value (b, 0);
  json_builder_set_member_name (b, "text");
  json_builder_add_string_value (b, out);
  json_builder_set_member_name (b, "tokens");
  json_builder_begin_array (b);
  for (guint i = 0; tokens != NULL && i < tokens->len; i++)
    json_builder_add_int_value (b, g_array_index (tokens, gint32, i));
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return write_json (dir, "golden.json", root, error);
}

static JsonNode *
settings_json (const LatheBundleOptions *o, const char *arch)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "arch");
  json_builder_add_string_value (b, arch);
  json_builder_set_member_name (b, "threads");
  json_builder_add_int_value (b, o->n_threads);
  json_builder_set_member_name (b, "kv_type");
  json_builder_add_string_value (b, "f16");
  json_builder_set_member_name (b, "note");
  json_builder_add_string_value (b, "conditional computation (skipped layers, early exit, experts per token) is "
                                    "carried in model.gguf and applies to every run");
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

static gboolean
write_licences (const char *dir, const char *model_path, GError **error)
{
  g_autoptr (LatheModel) m = lathe_model_load (model_path, NULL, NULL, NULL);
  const lk_gguf *g = m ? lk_model_gguf (lathe_model_get_engine (m)) : NULL;
  g_autofree char *licence = g ? lk_gguf_get_str_dup (g, "general.license") : NULL;
  g_autofree char *text = g_strdup_printf ("%s\nThe model (model.gguf)\n%s\n", lathe_licence,
                                           licence != NULL ? licence
                                                           : "The file names no licence (general.license): see "
                                                             "where the model came from.");

  return write_text (dir, "LICENSES", text, error);
}

static int
by_name (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* MANIFEST.json and SHA256SUMS over every other file of the folder. */
static gboolean
write_manifest (const LatheBundleOptions *o, const char *dir, const char *arch, GCancellable *cancellable,
                GError **error)
{
  g_autoptr (GDir) it = g_dir_open (dir, 0, error);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autoptr (GString) sums = g_string_new (NULL);
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  g_autofree char *stamp = g_date_time_format_iso8601 (now);
  const char *name;

  if (it == NULL)
    return FALSE;
  while ((name = g_dir_read_name (it)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, by_name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "lathe-bundle");
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, 1);
  json_builder_set_member_name (b, "name");
  json_builder_add_string_value (b, o->name);
  json_builder_set_member_name (b, "arch");
  json_builder_add_string_value (b, arch);
  json_builder_set_member_name (b, "created");
  json_builder_add_string_value (b, stamp);
  json_builder_set_member_name (b, "lathe_version");
  json_builder_add_string_value (b, PACKAGE_VERSION);
  json_builder_set_member_name (b, "files");
  json_builder_begin_array (b);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      g_autofree char *sha = lathe_file_sha256 (path, cancellable, error);
      GStatBuf st;
      if (sha == NULL || g_stat (path, &st) != 0)
        return FALSE;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "path");
      json_builder_add_string_value (b, names->pdata[i]);
      json_builder_set_member_name (b, "sha256");
      json_builder_add_string_value (b, sha);
      json_builder_set_member_name (b, "bytes");
      json_builder_add_int_value (b, st.st_size);
      json_builder_end_object (b);
      g_string_append_printf (sums, "%s  %s\n", sha, (const char *) names->pdata[i]);
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return write_text (dir, SUMS, sums->str, error) && write_json (dir, MANIFEST, root, error);
}

/* model.gguf: the file itself, or a llama2.c checkpoint written as GGUF
 * with its tokenizer inside (on the device nothing lies beside it). */
static gboolean
bundle_model (LatheModel *model, const char *path, const char *dir, GCancellable *cancellable, GError **error)
{
  g_autofree char *out = NULL;
  lk_error err = { 0 };

  if (g_strcmp0 (lathe_model_get_format (model), "GGUF") == 0)
    return copy_file (path, dir, "model.gguf", cancellable, error);
  out = g_build_filename (dir, "model.gguf", NULL);
  if (lk_model_save_gguf (lathe_model_get_engine (model), out, &err) != LK_OK)
    {
      lathe_error_from_engine (error, &err);
      return FALSE;
    }
  return TRUE;
}

static gboolean
fill (const LatheBundleOptions *o, const char *dir, const char *arch, GCancellable *cancellable, GError **error)
{
  g_autofree char *runner = lathe_runner_find_for_arch (arch, error);
  g_autofree char *runner_path = g_build_filename (dir, "lathe-run", NULL);
  g_autofree char *script = g_build_filename (dir, "run.sh", NULL);
  g_autoptr (LatheModel) model = NULL;
  g_autoptr (JsonNode) settings = settings_json (o, arch);
  const char *recipe = o->recipe_json;

  if (runner == NULL || (model = lathe_model_load (o->model_path, NULL, cancellable, error)) == NULL)
    return FALSE;
  if (recipe == NULL)
    recipe = lathe_model_get_recipe (model);
  if (!bundle_model (model, o->model_path, dir, cancellable, error)
      || !copy_file (runner, dir, "lathe-run", cancellable, error)
      || !write_text (dir, "run.sh", run_sh, error)
      || !write_text (dir, "recipe.json", recipe != NULL ? recipe : "{}", error)
      || !write_json (dir, "settings.json", settings, error)
      || (o->measurements != NULL && !write_json (dir, "quality.json", o->measurements, error))
      || (o->profile != NULL && !write_json (dir, "profile.json", o->profile, error))
      || !write_licences (dir, o->model_path, error) || !write_golden (o, dir, cancellable, error))
    return FALSE;
  g_chmod (runner_path, 0755);
  g_chmod (script, 0755);
  return write_manifest (o, dir, arch, cancellable, error);
}

static gboolean
rm_rf (const char *path)
{
  const char *argv[] = { "rm", "-rf", path, NULL };

  return g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

gboolean
lathe_bundle_create (const LatheBundleOptions *in, const char *out, GCancellable *cancellable, GError **error)
{
  LatheBundleOptions o = *in;
  struct utsname u;
  g_autofree char *parent = g_path_get_dirname (out), *base = g_path_get_basename (out);
  g_autofree char *stage = NULL, *model_base = g_path_get_basename (in->model_path);
  const gboolean tarball = g_str_has_suffix (out, ".tar.gz");
  gboolean ok;

  if (o.arch == NULL && uname (&u) == 0)
    o.arch = u.machine;
  if (o.name == NULL)
    o.name = model_base;
  if (o.prompt == NULL)
    o.prompt = "Once upon a time";
  if (g_file_test (out, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("%s: exists already"), out);
      return FALSE;
    }
  /* Built beside the target and renamed (or packed) once complete. */
  stage = g_strdup_printf ("%s/.%s.%08x.part", parent, base, g_random_int ());
  if (g_mkdir_with_parents (stage, 0755) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", stage, g_strerror (errno));
      return FALSE;
    }
  ok = fill (&o, stage, o.arch, cancellable, error);
  if (ok && tarball)
    {
      g_autofree char *tmp = g_strconcat (out, ".part", NULL);
      g_autofree char *top = g_strndup (base, strlen (base) - strlen (".tar.gz"));
      g_autofree char *inside = g_strdup_printf ("--transform=s,^\\.,%s,", top);
      const char *argv[] = { "tar", "-czf", tmp, "-C", stage, inside, ".", NULL };
      g_autofree char *res = run_here (argv, cancellable, error);
      ok = res != NULL && g_rename (tmp, out) == 0;
      if (!ok && res != NULL)
        g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", out, g_strerror (errno));
      g_unlink (tmp);
      rm_rf (stage);
      return ok;
    }
  if (ok && g_rename (stage, out) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", out, g_strerror (errno));
      ok = FALSE;
    }
  if (!ok)
    rm_rf (stage);
  return ok;
}

/* Verifying ------------------------------------------------------------------ */

/* The folder of a bundle: itself, or a .tar.gz unpacked into tmp. */
static char *
bundle_dir (const char *path, char **tmp, GCancellable *cancellable, GError **error)
{
  g_autoptr (GDir) it = NULL;
  const char *name;

  *tmp = NULL;
  if (!g_str_has_suffix (path, ".tar.gz"))
    return g_strdup (path);
  if ((*tmp = g_dir_make_tmp ("lathe-bundle-XXXXXX", error)) == NULL)
    return NULL;
  {
    const char *argv[] = { "tar", "-xzf", path, "-C", *tmp, "--no-same-owner", NULL };
    g_autofree char *out = run_here (argv, cancellable, error);
    if (out == NULL)
      return NULL;
  }
  if ((it = g_dir_open (*tmp, 0, error)) == NULL || (name = g_dir_read_name (it)) == NULL)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: an empty archive"), path);
      return NULL;
    }
  return g_build_filename (*tmp, name, NULL);
}

static gboolean
plain_name (const char *name)
{
  return *name != '\0' && strchr (name, '/') == NULL && strcmp (name, "..") != 0 && strcmp (name, ".") != 0;
}

static gboolean
check_files (const char *path, const char *dir, JsonObject *manifest, GString *report, GCancellable *cancellable,
             GError **error)
{
  JsonArray *files = json_object_get_array_member (manifest, "files");
  g_autoptr (GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GDir) it = g_dir_open (dir, 0, error);
  const char *name;

  if (files == NULL || it == NULL)
    {
      if (files == NULL)
        g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: files: expected an array"), path, MANIFEST);
      return FALSE;
    }
  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      JsonObject *f = json_array_get_object_element (files, i);
      const char *file = f ? json_object_get_string_member_with_default (f, "path", "") : "";
      const char *want = f ? json_object_get_string_member_with_default (f, "sha256", "") : "";
      g_autofree char *full = NULL, *got = NULL;
      if (!plain_name (file))
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: files[%u].path: expected a file name"),
                       path, MANIFEST, i);
          return FALSE;
        }
      full = g_build_filename (dir, file, NULL);
      if (!g_file_test (full, G_FILE_TEST_IS_REGULAR))
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s is missing"), path, file);
          return FALSE;
        }
      if ((got = lathe_file_sha256 (full, cancellable, error)) == NULL)
        return FALSE;
      if (g_ascii_strcasecmp (got, want) != 0)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: sha256 %s, the manifest says %s"), path, file,
                       got, want);
          return FALSE;
        }
      g_hash_table_add (listed, (gpointer) file);
    }
  while ((name = g_dir_read_name (it)) != NULL)
    if (!g_hash_table_contains (listed, name) && strcmp (name, MANIFEST) != 0 && strcmp (name, SUMS) != 0)
      {
        g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s is not in the manifest"), path, name);
        return FALSE;
      }
  g_string_append_printf (report, _("files: %u match the manifest\n"), json_array_get_length (files));
  return TRUE;
}

/* How this machine runs the bundle's lathe-run: directly, through qemu, or
 * not at all (NULL). */
static char *
runner_prefix_here (const char *arch, gboolean *runs)
{
  struct utsname u;

  *runs = TRUE;
  if (uname (&u) == 0 && g_strcmp0 (u.machine, arch) == 0)
    return g_strdup ("");
  if (g_strcmp0 (arch, "aarch64") == 0)
    {
      char *qemu = g_find_program_in_path ("qemu-aarch64-static");
      if (qemu != NULL)
        return qemu;
    }
  *runs = FALSE;
  return NULL;
}

static gboolean
check_golden (const char *path, const char *dir, const char *arch, GString *report, GCancellable *cancellable,
              GError **error)
{
  g_autofree char *prompt = NULL, *n = NULL, *want = NULL, *got = NULL, *prefix = NULL;
  g_autofree char *runner = g_build_filename (dir, "lathe-run", NULL);
  g_autofree char *model = g_build_filename (dir, "model.gguf", NULL);
  g_autofree char *pf = g_build_filename (dir, "golden.prompt", NULL), *nf = g_build_filename (dir, "golden.n", NULL);
  g_autofree char *tf = g_build_filename (dir, "golden.txt", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  gboolean runs;

  if ((prefix = runner_prefix_here (arch, &runs)) == NULL)
    {
      g_string_append_printf (report, _("golden: not checked here (lathe-run for %s); run ./run.sh --verify on the "
                                        "device\n"), arch);
      return TRUE;
    }
  if (!g_file_get_contents (pf, &prompt, NULL, error) || !g_file_get_contents (nf, &n, NULL, error)
      || !g_file_get_contents (tf, &want, NULL, error))
    return FALSE;
  g_strstrip (n);
  if (*prefix != '\0')
    g_ptr_array_add (argv, prefix);
  g_ptr_array_add (argv, runner);
  g_ptr_array_add (argv, (gpointer) "generate");
  g_ptr_array_add (argv, (gpointer) "-m");
  g_ptr_array_add (argv, model);
  g_ptr_array_add (argv, (gpointer) "-p");
  g_ptr_array_add (argv, prompt);
  g_ptr_array_add (argv, (gpointer) "-n");
  g_ptr_array_add (argv, n);
  g_ptr_array_add (argv, (gpointer) "--temp");
  g_ptr_array_add (argv, (gpointer) "0");
  g_ptr_array_add (argv, NULL);
  if ((got = run_here ((const char *const *) argv->pdata, cancellable, error)) == NULL)
    return FALSE;
  if (strcmp (got, want) != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT,
                   _("%s: the greedy output differs from golden.txt:\n  expected: %s\n  got:      %s"), path, want,
                   got);
      return FALSE;
    }
  g_string_append_printf (report, _("golden: %s greedy tokens as expected%s\n"), n,
                          *prefix != '\0' ? _(" (under qemu)") : "");
  return TRUE;
}

gboolean
lathe_bundle_verify (const char *path, GString *report, GCancellable *cancellable, GError **error)
{
  g_autofree char *tmp = NULL, *dir = bundle_dir (path, &tmp, cancellable, error);
  g_autofree char *manifest_path = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  JsonNode *root;
  gboolean ok = FALSE;

  if (dir == NULL)
    goto out;
  manifest_path = g_build_filename (dir, MANIFEST, NULL);
  if (!json_parser_load_from_mapped_file (parser, manifest_path, &local))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: %s"), path, MANIFEST, local->message);
      goto out;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)
      || g_strcmp0 (json_object_get_string_member_with_default (json_node_get_object (root), "format", ""),
                    "lathe-bundle") != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: format: expected “lathe-bundle”"), path,
                   MANIFEST);
      goto out;
    }
  ok = check_files (path, dir, json_node_get_object (root), report, cancellable, error)
       && check_golden (path, dir, json_object_get_string_member_with_default (json_node_get_object (root), "arch", ""),
                        report, cancellable, error);
out:
  if (tmp != NULL)
    rm_rf (tmp);
  return ok;
}

/* Installing ------------------------------------------------------------------ */

gboolean
lathe_bundle_install (const char *path, LatheDevice *device, const LatheSshOptions *o, char **output,
                      GCancellable *cancellable, GError **error)
{
  g_autofree char *tmp_dir = NULL, *archive = NULL, *listing = NULL, *blob = NULL, *out = NULL, *err = NULL;
  g_autofree char *top = NULL, *script = NULL, *prefix_env = NULL;
  int status = 0;
  gboolean ok = FALSE;

  /* One archive goes over (cached by its hash), and is unpacked there. */
  if (g_str_has_suffix (path, ".tar.gz"))
    archive = g_strdup (path);
  else
    {
      g_autofree char *parent = g_path_get_dirname (path), *base = g_path_get_basename (path);
      if ((tmp_dir = g_dir_make_tmp ("lathe-install-XXXXXX", error)) == NULL)
        return FALSE;
      archive = g_strdup_printf ("%s/%s.tar.gz", tmp_dir, base);
      {
        const char *argv[] = { "tar", "-czf", archive, "-C", parent, base, NULL };
        g_autofree char *res = run_here (argv, cancellable, error);
        if (res == NULL)
          goto out;
      }
    }
  {
    const char *argv[] = { "tar", "-tzf", archive, NULL };
    g_auto (GStrv) parts = NULL;
    if ((listing = run_here (argv, cancellable, error)) == NULL)
      goto out;
    parts = g_strsplit_set (listing, "/\n", 2);
    top = g_strdup (parts[0] != NULL ? parts[0] : "");
    if (!plain_name (top))
      {
        g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: expected one folder at the top"), path);
        goto out;
      }
  }
  if ((blob = lathe_device_deploy_file (device, archive, o, NULL, cancellable, error)) == NULL)
    goto out;
  {
    const char *argv[] = { "sh", "-c", "mkdir -p lathe-bundles && rm -rf \"lathe-bundles/$2\" && "
                                       "tar -xzf \"$1\" -C lathe-bundles", "lathe", blob, top, NULL };
    if (!lathe_ssh_run (device, argv, NULL, o, cancellable, NULL, &err, &status, error))
      goto out;
    if (status != 0)
      {
        g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: unpacking the bundle failed: %s"),
                     lathe_device_get_name (device), g_strstrip (err));
        goto out;
      }
  }
  script = g_strdup_printf ("lathe-bundles/%s/run.sh", top);
  prefix_env = g_strdup_printf ("LATHE_RUN_PREFIX=%s", lathe_device_get_runner_prefix (device) ?
                                                         lathe_device_get_runner_prefix (device) : "");
  {
    const char *argv[] = { "env", prefix_env, "sh", script, "--verify", NULL };
    g_clear_pointer (&err, g_free);
    if (!lathe_ssh_run_guarded (device, argv, o, NULL, NULL, NULL, cancellable, &out, &err, &status, error))
      goto out;
  }
  if (output != NULL)
    *output = g_strconcat (out, err, NULL);
  if (status != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: the bundle does not verify there: %s"),
                   lathe_device_get_name (device), g_strstrip (err));
      goto out;
    }
  ok = TRUE;
out:
  if (tmp_dir != NULL)
    rm_rf (tmp_dir);
  return ok;
}
