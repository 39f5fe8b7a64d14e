/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-bundle"

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "lathe-bundle.h"
#include "lathe-error.h"
#include "lathe-io.h"
#include "lathe-json.h"
#include "lathe-model.h"
#include "lathe-recipe.h"
#include "lathe-remote.h"
#include "lathe-runner.h"
#include "lk-export.h"

#define MANIFEST "MANIFEST.json"
#define SIGNATURE "MANIFEST.json.sig"
#define SUMS "SHA256SUMS"
/* Larger than any manifest or signature Lathe writes. */
#define MANIFEST_LIMIT ((gsize) 4 << 20)
#define SIGNATURE_LIMIT ((gsize) 64 << 10)
#define GOLDEN_LIMIT ((gsize) 1 << 20)

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

void
lathe_bundle_verify_options_init (LatheBundleVerifyOptions *o)
{
  memset (o, 0, sizeof *o);
  o->check_golden = TRUE;
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

/* Signing ---------------------------------------------------------------------- */

char *
lathe_bundle_allowed_signers_file (void)
{
  const char *env = g_getenv ("LATHE_ALLOWED_SIGNERS");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  return g_build_filename (g_get_user_config_dir (), "lathe", "allowed_signers", NULL);
}

char *
lathe_bundle_default_key (GError **error)
{
  static const char *const names[] = { "id_ed25519", "id_ecdsa", "id_rsa" };
  const char *env = g_getenv ("LATHE_SIGN_KEY");

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (g_get_home_dir (), ".ssh", names[i], NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return g_steal_pointer (&path);
    }
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
               _("no SSH key to sign the bundle with (~/.ssh/id_ed25519, id_ecdsa or id_rsa): make one with "
                 "ssh-keygen -t ed25519, name one (--sign-key, LATHE_SIGN_KEY), or write it unsigned"));
  return NULL;
}

/* Runs a program here with data on its standard input. */
static gboolean
run_with_input (const char *const *argv, GBytes *input, char **out, char **err, int *status, GError **error)
{
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GBytes) o = NULL, e = NULL;
  GSubprocessFlags flags = G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE;
  gsize n = 0;
  const char *data;

  flags |= input != NULL ? G_SUBPROCESS_FLAGS_STDIN_PIPE : G_SUBPROCESS_FLAGS_STDIN_INHERIT;
  if ((proc = g_subprocess_newv (argv, flags, error)) == NULL
      || !g_subprocess_communicate (proc, input, NULL, &o, &e, error))
    return FALSE;
  data = o != NULL ? g_bytes_get_data (o, &n) : NULL;
  *out = data != NULL ? g_strndup (data, n) : g_strdup ("");
  data = e != NULL ? g_bytes_get_data (e, &n) : NULL;
  *err = data != NULL ? g_strndup (data, n) : g_strdup ("");
  *status = g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : 255;
  return TRUE;
}

/* The public key line ("TYPE BASE64 COMMENT") of a key. */
static char *
public_key_of (const char *key, GError **error)
{
  g_autofree char *pub = g_str_has_suffix (key, ".pub") ? g_strdup (key) : g_strconcat (key, ".pub", NULL);
  g_autofree char *text = NULL, *out = NULL, *err = NULL;
  int status = 0;

  if (g_file_test (pub, G_FILE_TEST_IS_REGULAR)
      && (text = lathe_file_read_bounded (pub, 64 << 10, NULL, NULL)) != NULL)
    return g_strdup (g_strstrip (text));
  {
    const char *argv[] = { "ssh-keygen", "-y", "-f", key, NULL };
    if (!run_with_input (argv, NULL, &out, &err, &status, error))
      return NULL;
  }
  if (status != 0 || (!g_str_has_prefix (out, "ssh-") && !g_str_has_prefix (out, "ecdsa-")))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("%s: not an SSH key: %s"), key, g_strstrip (err));
      return NULL;
    }
  return g_strdup (g_strstrip (out));
}

/* The key's fingerprint, as ssh-keygen -l gives it ("SHA256:…"). */
static char *
fingerprint_of (const char *public_key)
{
  g_autoptr (GBytes) in = g_bytes_new (public_key, strlen (public_key));
  g_autofree char *out = NULL, *err = NULL;
  g_auto (GStrv) words = NULL;
  const char *argv[] = { "ssh-keygen", "-l", "-f", "-", NULL };
  int status = 0;

  if (!run_with_input (argv, in, &out, &err, &status, NULL) || status != 0)
    return NULL;
  words = g_strsplit (g_strstrip (out), " ", -1);
  return g_strv_length (words) >= 2 ? g_strdup (words[1]) : NULL;
}

/* Who signs here: the user at this machine, as allowed_signers names them. */
static char *
principal_here (void)
{
  g_autofree char *name = g_strdup_printf ("%s@%s", g_get_user_name (), g_get_host_name ());

  /* A principal is one word of the file: no blanks, quotes or commas. */
  return g_strdelimit (g_steal_pointer (&name), " \t\",*?!", '_');
}

/* "TYPE BASE64" of a public key line (the comment left out). */
static char *
key_blob (const char *line)
{
  g_auto (GStrv) words = g_strsplit_set (line, " \t", -1);
  g_autoptr (GPtrArray) kept = g_ptr_array_new ();

  for (guint i = 0; words[i] != NULL && kept->len < 2; i++)
    if (*words[i] != '\0')
      g_ptr_array_add (kept, words[i]);
  return kept->len == 2 ? g_strdup_printf ("%s %s", (char *) kept->pdata[0], (char *) kept->pdata[1]) : NULL;
}

/* The maker trusts their own key: added to allowed_signers when not there. */
static gboolean
trust_own_key (const char *allowed, const char *public_key, const char *principal, GError **error)
{
  g_autofree char *blob = key_blob (public_key), *old = NULL, *dir = g_path_get_dirname (allowed);
  g_autoptr (GString) text = g_string_new (NULL);
  gsize len = 0;
  int lock;
  gboolean ok;

  if (blob == NULL)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("not an SSH public key: %s"), public_key);
      return FALSE;
    }
  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", dir, g_strerror (errno));
      return FALSE;
    }
  if ((lock = lathe_dir_lock (dir, 30000, error)) < 0)
    return FALSE;
  old = g_file_test (allowed, G_FILE_TEST_EXISTS) ? lathe_file_read_bounded (allowed, 16 << 20, &len, error)
                                                   : g_strdup ("");
  if (old == NULL || strstr (old, blob) != NULL)
    {
      lathe_dir_unlock (lock);
      return old != NULL;
    }
  g_string_append (text, old);
  if (len > 0 && old[len - 1] != '\n')
    g_string_append_c (text, '\n');
  g_string_append_printf (text, "%s namespaces=\"%s\" %s\n", principal, LATHE_BUNDLE_NAMESPACE, blob);
  ok = lathe_file_write_atomic_mode (allowed, text->str, (gssize) text->len, 0600, error);
  lathe_dir_unlock (lock);
  return ok;
}

char *
lathe_bundle_signer (const LatheBundleOptions *o, GError **error)
{
  g_autofree char *key = o->sign_key != NULL ? g_strdup (o->sign_key) : lathe_bundle_default_key (error);
  g_autofree char *pub = key != NULL ? public_key_of (key, error) : NULL;
  g_autofree char *fp = pub != NULL ? fingerprint_of (pub) : NULL;
  g_autofree char *principal = principal_here ();

  if (pub == NULL)
    return NULL;
  return g_strdup_printf ("%s (%s)", principal, fp != NULL ? fp : _("unknown fingerprint"));
}

/* MANIFEST.json.sig: the manifest signed with the maker's key, which is
 * then trusted here. */
static gboolean
sign_manifest (const LatheBundleOptions *o, const char *dir, GCancellable *cancellable, GError **error)
{
  g_autofree char *key = o->sign_key != NULL ? g_strdup (o->sign_key) : lathe_bundle_default_key (error);
  g_autofree char *manifest = g_build_filename (dir, MANIFEST, NULL);
  g_autofree char *allowed = o->allowed_signers != NULL ? g_strdup (o->allowed_signers)
                                                        : lathe_bundle_allowed_signers_file ();
  g_autofree char *pub = NULL, *principal = principal_here (), *out = NULL;

  if (key == NULL || (pub = public_key_of (key, error)) == NULL)
    return FALSE;
  {
    const char *argv[] = { "ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", LATHE_BUNDLE_NAMESPACE, manifest, NULL };
    if ((out = run_here (argv, cancellable, error)) == NULL)
      return FALSE;
  }
  return trust_own_key (allowed, pub, principal, error);
}

/* SHA256SUMS, then MANIFEST.json over every other file of the folder
 * (SHA256SUMS too: the signature covers what run.sh checks on the device). */
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
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, names->pdata[i], NULL);
      g_autofree char *sha = lathe_file_sha256 (path, cancellable, error);
      if (sha == NULL)
        return FALSE;
      g_string_append_printf (sums, "%s  %s\n", sha, (const char *) names->pdata[i]);
    }
  if (!write_text (dir, SUMS, sums->str, error))
    return FALSE;
  g_ptr_array_add (names, g_strdup (SUMS));
  g_ptr_array_sort (names, by_name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "lathe-bundle");
  json_builder_set_member_name (b, "version");
  json_builder_add_int_value (b, 2);
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
    }
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  return write_json (dir, MANIFEST, root, error);
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
  return write_manifest (o, dir, arch, cancellable, error)
         && (o->unsigned_bundle || sign_manifest (o, dir, cancellable, error));
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
  g_autofree char *base = g_path_get_basename (out);
  g_autofree char *stage = NULL, *model_base = g_path_get_basename (in->model_path);
  const gboolean tarball = g_str_has_suffix (out, ".tar.gz");
  int stage_lock = -1;
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
  /* Built beside the target and renamed (or packed) once complete; one
   * left by a writer that died is cleaned by the next. */
  if ((stage = lathe_stage_dir_new (out, &stage_lock, error)) == NULL)
    return FALSE;
  g_chmod (stage, 0755);
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
      close (stage_lock);
      return ok;
    }
  if (ok && g_rename (stage, out) != 0)
    {
      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", out, g_strerror (errno));
      ok = FALSE;
    }
  if (!ok)
    rm_rf (stage);
  close (stage_lock);
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
  return name != NULL && *name != '\0' && strchr (name, '/') == NULL && strcmp (name, "..") != 0
         && strcmp (name, ".") != 0;
}

static gboolean
bad (GError **error, const char *path, const char *what)
{
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, "%s: %s", path, what);
  return FALSE;
}

/* A file of the bundle, read only when it is a regular file there (never
 * a link to somewhere else) of at most limit bytes. */
static char *
read_member (const char *path, const char *dir, const char *name, gsize limit, gsize *len, GError **error)
{
  g_autofree char *full = g_build_filename (dir, name, NULL);
  GStatBuf st;

  if (g_lstat (full, &st) != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s is missing"), path, name);
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s is not a regular file (a link?): refused"), path,
                   name);
      return NULL;
    }
  return lathe_file_read_bounded (full, limit, len, error);
}

/* "… with ED25519 key SHA256:…" from ssh-keygen's verdict. */
static char *
key_of_verdict (const char *text)
{
  const char *with = strstr (text, " with ");
  g_autofree char *rest = with != NULL ? g_strdup (with + strlen (" with ")) : NULL;

  return rest != NULL ? g_strdup (g_strstrip (g_strdelimit (rest, "\n", ' '))) : g_strdup (_("an unknown key"));
}

/* The manifest's signature, before anything else of the bundle is read.
 * data: the manifest as read (and then parsed: what is checked is what is
 * used). */
static gboolean
check_signature (const char *path, const char *dir, const LatheBundleVerifyOptions *vo, const char *data, gsize len,
                 GString *report, char **signer, GError **error)
{
  g_autofree char *allowed = vo->allowed_signers != NULL ? g_strdup (vo->allowed_signers)
                                                         : lathe_bundle_allowed_signers_file ();
  g_autofree char *sig_path = g_build_filename (dir, SIGNATURE, NULL);
  g_autofree char *sig = NULL, *out = NULL, *err = NULL, *principal = NULL, *key = NULL;
  g_autoptr (GBytes) message = g_bytes_new (data, len);
  GStatBuf st;
  int status = 0;

  if (g_lstat (sig_path, &st) != 0)
    {
      if (!vo->trust_unsigned)
        return bad (error, path, _("not signed (no MANIFEST.json.sig): refused (give --trust-unsigned to verify it all the same)"));
      g_string_append (report, _("signature: none (trusted unsigned, as asked)\n"));
      return TRUE;
    }
  if ((sig = read_member (path, dir, SIGNATURE, SIGNATURE_LIMIT, NULL, error)) == NULL)
    return FALSE;
  /* Whether it is a good signature of this manifest at all, by any key. */
  {
    const char *argv[] = { "ssh-keygen", "-Y", "check-novalidate", "-n", LATHE_BUNDLE_NAMESPACE, "-s", sig_path, NULL };
    if (!run_with_input (argv, message, &out, &err, &status, error))
      return FALSE;
    if (status != 0)
      return bad (error, path, _("the signature does not match MANIFEST.json (changed after signing?): refused"));
    key = key_of_verdict (out);
  }
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  if (g_file_test (allowed, G_FILE_TEST_IS_REGULAR))
    {
      const char *argv[] = { "ssh-keygen", "-Y", "find-principals", "-s", sig_path, "-f", allowed, NULL };
      if (!run_with_input (argv, NULL, &out, &err, &status, error))
        return FALSE;
      if (status == 0)
        {
          g_auto (GStrv) lines = g_strsplit (g_strstrip (out), "\n", 2);
          principal = g_strdup (lines[0]);
        }
    }
  if (principal != NULL)
    {
      const char *argv[] = { "ssh-keygen", "-Y", "verify", "-f", allowed, "-I", principal, "-n", LATHE_BUNDLE_NAMESPACE,
                             "-s", sig_path, NULL };
      g_clear_pointer (&out, g_free);
      g_clear_pointer (&err, g_free);
      if (!run_with_input (argv, message, &out, &err, &status, error))
        return FALSE;
      if (status != 0)
        {
          g_autofree char *why = g_strdup_printf (_("signed by %s, whom %s does not allow to sign bundles: refused"),
                                                  principal, allowed);
          return bad (error, path, why);
        }
      g_string_append_printf (report, _("signature: good, signed by %s (%s)\n"), principal, key);
      if (signer != NULL)
        *signer = g_strdup_printf ("%s (%s)", principal, key);
      return TRUE;
    }
  if (!vo->trust_unsigned)
    {
      g_autofree char *why = g_strdup_printf (_("signed with %s, which is not in %s: refused (add the signer's key "
                                                "there if you trust them, or give --trust-unsigned)"),
                                              key, allowed);
      return bad (error, path, why);
    }
  g_string_append_printf (report, _("signature: by an unknown signer (%s), trusted as asked\n"), key);
  return TRUE;
}

static gboolean
check_files (const char *path, const char *dir, JsonObject *manifest, GString *report, GCancellable *cancellable,
             GError **error)
{
  JsonNode *files_node = json_object_get_member (manifest, "files");
  g_autoptr (GHashTable) listed = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GDir) it = NULL;
  JsonArray *files;
  const char *name;
  double version = 1;

  lathe_json_member_finite (manifest, "version", &version);
  if (files_node == NULL || !JSON_NODE_HOLDS_ARRAY (files_node))
    return bad (error, path, MANIFEST ": files: expected an array");
  files = json_node_get_array (files_node);
  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      JsonNode *n = json_array_get_element (files, i);
      JsonObject *f = JSON_NODE_HOLDS_OBJECT (n) ? json_node_get_object (n) : NULL;
      const char *file = f != NULL ? lathe_json_member_string (f, "path") : NULL;
      const char *want = f != NULL ? lathe_json_member_string (f, "sha256") : NULL;
      g_autofree char *full = NULL, *got = NULL;
      GStatBuf st;
      if (!plain_name (file) || strcmp (file, MANIFEST) == 0 || strcmp (file, SIGNATURE) == 0)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: files[%u].path: expected a file name"),
                       path, MANIFEST, i);
          return FALSE;
        }
      if (!lathe_is_sha256 (want))
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: files[%u].sha256: expected 64 hex digits"),
                       path, MANIFEST, i);
          return FALSE;
        }
      if (!g_hash_table_add (listed, (gpointer) file))
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s: files[%u].path: %s is listed twice"), path,
                       MANIFEST, i, file);
          return FALSE;
        }
      full = g_build_filename (dir, file, NULL);
      if (g_lstat (full, &st) != 0)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s is missing"), path, file);
          return FALSE;
        }
      if (!S_ISREG (st.st_mode))
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: %s is not a regular file (a link?): refused"),
                       path, file);
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
    }
  if ((it = g_dir_open (dir, 0, error)) == NULL)
    return FALSE;
  while ((name = g_dir_read_name (it)) != NULL)
    if (!g_hash_table_contains (listed, name) && strcmp (name, MANIFEST) != 0 && strcmp (name, SIGNATURE) != 0
        && !(version < 2 && strcmp (name, SUMS) == 0))
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
runner_prefix_here (const char *arch)
{
  struct utsname u;

  if (uname (&u) == 0 && g_strcmp0 (u.machine, arch) == 0)
    return g_strdup ("");
  if (g_strcmp0 (arch, "aarch64") == 0)
    return g_find_program_in_path ("qemu-aarch64-static");
  return NULL;
}

/* The golden vectors: by default this Lathe's own lathe-run generates
 * from the bundled model (any bundle's model runs here, whatever its
 * runner's architecture); the bundle's lathe-run only when asked. */
static gboolean
check_golden (const char *path, const char *dir, const char *arch, const LatheBundleVerifyOptions *vo,
              GString *report, GCancellable *cancellable, GError **error)
{
  g_autofree char *prompt = NULL, *n = NULL, *want = NULL, *got = NULL, *prefix = NULL, *runner = NULL;
  g_autofree char *model = g_build_filename (dir, "model.gguf", NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  char *end;
  gint64 count;

  if ((prompt = read_member (path, dir, "golden.prompt", GOLDEN_LIMIT, NULL, error)) == NULL
      || (n = read_member (path, dir, "golden.n", 64, NULL, error)) == NULL
      || (want = read_member (path, dir, "golden.txt", GOLDEN_LIMIT, NULL, error)) == NULL)
    return FALSE;
  count = g_ascii_strtoll (g_strstrip (n), &end, 10);
  if (*n == '\0' || *end != '\0' || count < 1 || count > 100000)
    return bad (error, path, _("golden.n: expected a token count from 1 to 100000"));
  if (vo->bundle_runner)
    {
      if ((prefix = runner_prefix_here (arch)) == NULL)
        {
          g_set_error (error, LATHE_ERROR, LATHE_ERROR_UNSUPPORTED,
                       _("%s: its lathe-run is for %s and cannot run here: check the golden output without "
                         "--bundle-runner, or on the device (./run.sh --verify)"),
                       path, arch);
          return FALSE;
        }
      runner = g_build_filename (dir, "lathe-run", NULL);
    }
  else if ((runner = lathe_runner_find (error)) == NULL)
    return FALSE;
  if (prefix != NULL && *prefix != '\0')
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
  g_string_append_printf (report, _("golden: %s greedy tokens as expected (%s)\n"), n,
                          !vo->bundle_runner ? _("this Lathe's lathe-run")
                          : *prefix != '\0'  ? _("the bundle's lathe-run, under qemu")
                                             : _("the bundle's lathe-run"));
  return TRUE;
}

gboolean
lathe_bundle_verify (const char *path, const LatheBundleVerifyOptions *vo_in, GString *report, char **signer,
                     GCancellable *cancellable, GError **error)
{
  g_autofree char *tmp = NULL, *dir = bundle_dir (path, &tmp, cancellable, error);
  g_autofree char *data = NULL;
  g_autoptr (JsonNode) root = NULL;
  LatheBundleVerifyOptions vo;
  JsonObject *o;
  gsize len = 0;
  gboolean ok = FALSE;

  if (vo_in != NULL)
    vo = *vo_in;
  else
    lathe_bundle_verify_options_init (&vo);
  if (signer != NULL)
    *signer = NULL;
  if (dir == NULL)
    goto out;
  /* Read once: the bytes whose signature is checked are the ones parsed. */
  if ((data = read_member (path, dir, MANIFEST, MANIFEST_LIMIT, &len, error)) == NULL
      || !check_signature (path, dir, &vo, data, len, report, signer, error))
    goto out;
  {
    g_autofree char *origin = g_strdup_printf ("%s: %s", path, MANIFEST);
    if ((root = lathe_json_parse (data, (gssize) len, origin, error)) == NULL)
      goto out;
  }
  o = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  if (o == NULL || g_strcmp0 (lathe_json_member_string (o, "format"), "lathe-bundle") != 0)
    {
      bad (error, path, MANIFEST ": format: expected “lathe-bundle”");
      goto out;
    }
  if (lathe_json_member_string (o, "arch") == NULL)
    {
      bad (error, path, MANIFEST ": arch: expected the architecture of its lathe-run");
      goto out;
    }
  ok = check_files (path, dir, o, report, cancellable, error)
       && (!vo.check_golden
           || check_golden (path, dir, lathe_json_member_string (o, "arch"), &vo, report, cancellable, error));
out:
  if (tmp != NULL)
    rm_rf (tmp);
  if (!ok && signer != NULL)
    g_clear_pointer (signer, g_free);
  return ok;
}

/* Installing ------------------------------------------------------------------ */

gboolean
lathe_bundle_install (const char *path, const LatheBundleVerifyOptions *vo_in, LatheDevice *device,
                      const LatheSshOptions *o, char **output, GCancellable *cancellable, GError **error)
{
  g_autofree char *tmp_dir = NULL, *archive = NULL, *listing = NULL, *blob = NULL, *out = NULL, *err = NULL;
  g_autofree char *top = NULL, *script = NULL, *prefix_env = NULL, *base = g_path_get_basename (path);
  g_autoptr (GString) here = g_string_new (NULL);
  LatheBundleVerifyOptions vo;
  int status = 0;
  gboolean ok = FALSE;

  if (vo_in != NULL)
    vo = *vo_in;
  else
    lathe_bundle_verify_options_init (&vo);
  /* The golden output is checked there, by the bundle's own lathe-run. */
  vo.check_golden = FALSE;
  if (output != NULL)
    *output = NULL;
  /* One archive of our own goes over (cached by its hash), and it is the
   * one verified here: nothing can change between the check and the copy. */
  if ((tmp_dir = g_dir_make_tmp ("lathe-install-XXXXXX", error)) == NULL)
    return FALSE;
  if (g_str_has_suffix (path, ".tar.gz"))
    {
      g_autoptr (GFile) src = g_file_new_for_path (path);
      g_autoptr (GFile) dst = NULL;
      archive = g_build_filename (tmp_dir, base, NULL);
      dst = g_file_new_for_path (archive);
      if (!g_file_copy (src, dst, G_FILE_COPY_NOFOLLOW_SYMLINKS, cancellable, NULL, NULL, error))
        goto out;
    }
  else
    {
      g_autofree char *parent = g_path_get_dirname (path);
      archive = g_strdup_printf ("%s/%s.tar.gz", tmp_dir, base);
      {
        const char *argv[] = { "tar", "-czf", archive, "-C", parent, base, NULL };
        g_autofree char *res = run_here (argv, cancellable, error);
        if (res == NULL)
          goto out;
      }
    }
  if (!lathe_bundle_verify (archive, &vo, here, NULL, cancellable, error))
    goto out;
  {
    const char *argv[] = { "tar", "-tzf", archive, NULL };
    g_auto (GStrv) parts = NULL;
    if ((listing = run_here (argv, cancellable, error)) == NULL)
      goto out;
    parts = g_strsplit_set (listing, "/\n", 2);
    top = g_strdup (parts[0] != NULL ? parts[0] : "");
    if (!plain_name (top) || *top == '.')
      {
        g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: expected one folder at the top"), path);
        goto out;
      }
  }
  if ((blob = lathe_device_deploy_file (device, archive, o, NULL, cancellable, error)) == NULL)
    goto out;
  {
    /* Unpacked beside its place, then moved there whole. */
    const char *argv[] = { "sh", "-c",
                           "set -e; mkdir -p lathe-bundles; t=$(mktemp -d lathe-bundles/.unpack-XXXXXX); "
                           "tar -xzf \"$1\" -C \"$t\" || { rm -rf \"$t\"; exit 1; }; "
                           "rm -rf \"lathe-bundles/$2\"; mv \"$t/$2\" \"lathe-bundles/$2\"; rm -rf \"$t\"",
                           "lathe", blob, top, NULL };
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
    *output = g_strconcat (here->str, out, err, NULL);
  if (status != 0)
    {
      g_autofree char *dest = g_strdup_printf ("lathe-bundles/%s", top);
      const char *argv[] = { "rm", "-rf", dest, NULL };
      /* A bundle that fails there does not stay there. */
      lathe_ssh_run (device, argv, NULL, o, NULL, NULL, NULL, NULL, NULL);
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_FORMAT, _("%s: the bundle does not verify there (removed): %s"),
                   lathe_device_get_name (device), g_strstrip (err));
      goto out;
    }
  ok = TRUE;
out:
  if (tmp_dir != NULL)
    rm_rf (tmp_dir);
  return ok;
}
