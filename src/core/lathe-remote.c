/* SPDX-License-Identifier: MIT */
#define G_LOG_DOMAIN "lathe-remote"

#include "config.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <sys/utsname.h>

#include "lathe-error.h"
#include "lathe-recipe.h"
#include "lathe-remote-private.h"
#include "lathe-remote.h"
#include "lathe-runner.h"

#define CACHE_DIR ".cache/lathe/blobs"

/* Probing ------------------------------------------------------------------- */

/* POSIX sh (busybox too): one "key=value" per line. */
static const char probe_script[] =
  "if [ -r /etc/os-release ]; then . /etc/os-release; echo \"os=$PRETTY_NAME\"; else echo \"os=$(uname -s)\"; fi\n"
  "echo \"kernel=$(uname -r)\"\n"
  "echo \"arch=$(uname -m)\"\n"
  "echo \"cores=$(getconf _NPROCESSORS_ONLN 2>/dev/null || grep -c ^processor /proc/cpuinfo)\"\n"
  "echo \"cpu=$(grep -m1 -E '^(model name|Hardware|Model|cpu model)' /proc/cpuinfo | cut -d: -f2-)\"\n"
  "echo \"features=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo | cut -d: -f2-)\"\n"
  "awk '/^MemTotal:/{print \"mem_total_kb=\"$2} /^MemAvailable:/{print \"mem_available_kb=\"$2}' /proc/meminfo\n"
  "echo \"disk_free_kb=$(df -Pk \"$HOME\" 2>/dev/null | awk 'NR==2{print $4}')\"\n"
  "c=/sys/devices/system/cpu/cpu0/cpufreq\n"
  "[ -r $c/scaling_governor ] && echo \"governor=$(cat $c/scaling_governor)\"\n"
  "[ -r $c/cpuinfo_min_freq ] && echo \"freq_min_khz=$(cat $c/cpuinfo_min_freq)\"\n"
  "[ -r $c/cpuinfo_max_freq ] && echo \"freq_max_khz=$(cat $c/cpuinfo_max_freq)\"\n"
  "for f in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq; do [ -r \"$f\" ] && echo \"freq_khz=$(cat \"$f\")\"; done\n"
  "for z in /sys/class/thermal/thermal_zone*; do [ -r \"$z/temp\" ] && echo \"temp=$(cat \"$z/type\" 2>/dev/null):$(cat \"$z/temp\")\"; done\n"
  "for h in /sys/class/hwmon/hwmon*; do n=$(cat \"$h/name\" 2>/dev/null)\n"
  "  for t in \"$h\"/temp*_input; do [ -r \"$t\" ] && echo \"temp=$n/${t##*/}:$(cat \"$t\")\"; done\n"
  "  for p in \"$h\"/power*_input; do [ -r \"$p\" ] && echo \"power_sensor=$n/${p##*/}\" && echo \"power_file=$p\"; done\n"
  /* Current and bus voltage alone (INA3221): their product is the power. */
  "  for c in \"$h\"/curr*_input; do [ -r \"$c\" ] || continue; echo \"power_sensor=$n/${c##*/}\"\n"
  "    k=${c##*/curr}; k=${k%_input}\n"
  "    [ -r \"$h/in${k}_input\" ] && [ ! -e \"$h/power${k}_input\" ] && echo \"power_file=$c:$h/in${k}_input\"\n"
  "  done\n"
  "done\n"
  "for r in /sys/class/powercap/*/energy_uj; do [ -r \"$r\" ] && echo \"energy=$(cat \"${r%/energy_uj}/name\" 2>/dev/null):$(cat \"$r\")\"; done\n"
  "for t in /sys/devices/system/cpu/cpu[0-9]*/thermal_throttle/core_throttle_count; do [ -r \"$t\" ] && echo \"throttle=$(cat \"$t\")\"; done\n"
  "command -v vcgencmd >/dev/null 2>&1 && echo \"rpi_throttled=$(vcgencmd get_throttled 2>/dev/null | cut -d= -f2)\"\n"
  "exit 0\n";

static const char *const simd_names[] = {
  "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
  "avx_vnni", "amx_int8", "neon", "asimd", "asimdhp", "asimddp", "i8mm", "bf16", "sve", "sve2", "fphp",
};

static void
add_int (JsonBuilder *b, const char *key, gint64 v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, v);
}

/* A device says what it is in text we do not control: each value is cut
 * to a sane length and made valid UTF-8, lists are cut to a sane count,
 * and numbers outside what hardware has are left out. */
#define PROBE_VALUE_MAX 256
#define PROBE_LIST_MAX 1024

static void
add_str (JsonBuilder *b, const char *key, const char *v)
{
  g_autofree char *cut = g_strndup (v, PROBE_VALUE_MAX);
  g_autofree char *valid = g_utf8_make_valid (cut, -1);

  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, valid);
}

static gboolean
parse_int (const char *v, gint64 lo, gint64 hi, gint64 *out)
{
  char *end;
  gint64 x;

  if (v == NULL || *v == '\0')
    return FALSE;
  errno = 0;
  x = g_ascii_strtoll (v, &end, 10);
  if (errno != 0 || *end != '\0' || x < lo || x > hi)
    return FALSE;
  *out = x;
  return TRUE;
}

static gboolean
parse_double (const char *v, double lo, double hi, double *out)
{
  char *end;
  double x;

  if (v == NULL || *v == '\0')
    return FALSE;
  x = g_ascii_strtod (v, &end);
  if (*end != '\0' || !isfinite (x) || x < lo || x > hi)
    return FALSE;
  *out = x;
  return TRUE;
}

/* An integer field, scaled (kB to MB), or nothing when it is not one. */
static void
add_scaled (JsonBuilder *b, const char *key, const char *v, gint64 hi, gint64 div)
{
  gint64 x;

  if (parse_int (v, 0, hi, &x))
    add_int (b, key, x / div);
}

static void
add_simd (JsonBuilder *b, const char *features)
{
  g_auto (GStrv) words = g_strsplit_set (features != NULL ? features : "", " \t", -1);

  json_builder_set_member_name (b, "simd");
  json_builder_begin_array (b);
  for (guint i = 0; i < G_N_ELEMENTS (simd_names); i++)
    if (g_strv_contains ((const char *const *) words, simd_names[i]))
      json_builder_add_string_value (b, simd_names[i]);
  json_builder_end_array (b);
}

/* "NAME:VALUE" lists (sensors, counters) as objects, values in range. */
static void
add_named (JsonBuilder *b, const char *key, GPtrArray *items, const char *name_key, const char *value_key,
           double lo, double hi, double scale)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; i < items->len; i++)
    {
      char *colon = strrchr (items->pdata[i], ':');
      double v;
      if (colon == NULL)
        continue;
      *colon = '\0';
      if (!parse_double (colon + 1, lo * scale, hi * scale, &v))
        continue;
      json_builder_begin_object (b);
      add_str (b, name_key, items->pdata[i]);
      json_builder_set_member_name (b, value_key);
      json_builder_add_double_value (b, v / scale);
      json_builder_end_object (b);
    }
  json_builder_end_array (b);
}

static void
add_strings (JsonBuilder *b, const char *key, GPtrArray *items)
{
  json_builder_set_member_name (b, key);
  json_builder_begin_array (b);
  for (guint i = 0; i < items->len; i++)
    {
      g_autofree char *valid = g_utf8_make_valid (items->pdata[i], -1);
      json_builder_add_string_value (b, valid);
    }
  json_builder_end_array (b);
}

static void
add_listed (GPtrArray *list, char *value)
{
  if (list->len < PROBE_LIST_MAX)
    g_ptr_array_add (list, value);
}

JsonNode *
lathe_probe_parse (const char *text)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GHashTable) one = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GPtrArray) freqs = g_ptr_array_new (), temps = g_ptr_array_new ();
  g_autoptr (GPtrArray) power = g_ptr_array_new (), energy = g_ptr_array_new ();
  g_autoptr (GPtrArray) power_files = g_ptr_array_new ();
  gint64 throttle = -1, x;
  const char *v;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *eq = strchr (lines[i], '=');
      if (eq == NULL)
        continue;
      *eq = '\0';
      g_strstrip (eq + 1);
      if (strlen (eq + 1) > PROBE_VALUE_MAX)
        eq[1 + PROBE_VALUE_MAX] = '\0';
      if (strcmp (lines[i], "freq_khz") == 0)
        add_listed (freqs, eq + 1);
      else if (strcmp (lines[i], "temp") == 0)
        add_listed (temps, eq + 1);
      else if (strcmp (lines[i], "power_sensor") == 0)
        add_listed (power, eq + 1);
      else if (strcmp (lines[i], "power_file") == 0)
        add_listed (power_files, eq + 1);
      else if (strcmp (lines[i], "energy") == 0)
        add_listed (energy, eq + 1);
      else if (strcmp (lines[i], "throttle") == 0)
        {
          if (parse_int (eq + 1, 0, G_MAXINT32, &x))
            throttle = MIN (MAX (throttle, 0) + x, G_MAXINT32);
        }
      else
        g_hash_table_insert (one, lines[i], eq + 1);
    }
  json_builder_begin_object (b);
  add_str (b, "os", (v = g_hash_table_lookup (one, "os")) ? v : "");
  add_str (b, "kernel", (v = g_hash_table_lookup (one, "kernel")) ? v : "");
  add_str (b, "arch", (v = g_hash_table_lookup (one, "arch")) ? v : "");
  add_int (b, "cores", parse_int (g_hash_table_lookup (one, "cores"), 1, 65536, &x) ? x : 0);
  add_str (b, "cpu", (v = g_hash_table_lookup (one, "cpu")) ? v : "");
  add_simd (b, g_hash_table_lookup (one, "features"));
  /* Up to 1 EiB in kB: anything more is not a machine. */
  add_int (b, "memory_mb", parse_int (g_hash_table_lookup (one, "mem_total_kb"), 0, G_GINT64_CONSTANT (1) << 50, &x) ? x / 1024 : 0);
  add_int (b, "memory_available_mb",
           parse_int (g_hash_table_lookup (one, "mem_available_kb"), 0, G_GINT64_CONSTANT (1) << 50, &x) ? x / 1024 : 0);
  add_int (b, "disk_free_mb", parse_int (g_hash_table_lookup (one, "disk_free_kb"), 0, G_GINT64_CONSTANT (1) << 50, &x) ? x / 1024 : 0);
  if ((v = g_hash_table_lookup (one, "governor")) != NULL)
    add_str (b, "governor", v);
  /* Frequencies up to 100 GHz. */
  add_scaled (b, "freq_min_mhz", g_hash_table_lookup (one, "freq_min_khz"), 100000000, 1000);
  add_scaled (b, "freq_max_mhz", g_hash_table_lookup (one, "freq_max_khz"), 100000000, 1000);
  json_builder_set_member_name (b, "freq_mhz");
  json_builder_begin_array (b);
  for (guint i = 0; i < freqs->len; i++)
    if (parse_int (freqs->pdata[i], 0, 100000000, &x))
      json_builder_add_int_value (b, x / 1000);
  json_builder_end_array (b);
  /* Millidegrees, from -100 °C to 300 °C: beyond that a sensor is broken. */
  add_named (b, "temperatures", temps, "sensor", "celsius", -100, 300, 1000);
  add_strings (b, "power_files", power_files);
  add_strings (b, "power_sensors", power);
  add_named (b, "energy_counters", energy, "name", "microjoules", 0, 1e18, 1);
  if (throttle >= 0)
    add_int (b, "throttle_events", throttle);
  if ((v = g_hash_table_lookup (one, "rpi_throttled")) != NULL)
    add_str (b, "rpi_throttled", v);
  json_builder_end_object (b);
  return json_builder_get_root (b);
}

/* Member types of a probe object, as lathe_probe_parse makes it. */
static gboolean
value_of_type (JsonNode *n, GType type)
{
  return n != NULL && JSON_NODE_HOLDS_VALUE (n) && json_node_get_value_type (n) == type;
}

static gboolean
number_node (JsonNode *n)
{
  return value_of_type (n, G_TYPE_INT64) || value_of_type (n, G_TYPE_DOUBLE);
}

static gboolean
list_of (JsonObject *o, const char *key, gboolean (*ok) (JsonNode *))
{
  JsonNode *n = json_object_get_member (o, key);
  JsonArray *a;

  if (n == NULL || !JSON_NODE_HOLDS_ARRAY (n))
    return FALSE;
  a = json_node_get_array (n);
  if (json_array_get_length (a) > PROBE_LIST_MAX)
    return FALSE;
  for (guint i = 0; i < json_array_get_length (a); i++)
    if (!ok (json_array_get_element (a, i)))
      return FALSE;
  return TRUE;
}

static gboolean
int_node (JsonNode *n)
{
  return value_of_type (n, G_TYPE_INT64);
}

static gboolean
string_node (JsonNode *n)
{
  return value_of_type (n, G_TYPE_STRING);
}

static gboolean
named_node (JsonNode *n, const char *name_key, const char *value_key)
{
  JsonObject *o;

  if (n == NULL || !JSON_NODE_HOLDS_OBJECT (n))
    return FALSE;
  o = json_node_get_object (n);
  return string_node (json_object_get_member (o, name_key)) && number_node (json_object_get_member (o, value_key));
}

static gboolean
sensor_node (JsonNode *n)
{
  return named_node (n, "sensor", "celsius");
}

static gboolean
counter_node (JsonNode *n)
{
  return named_node (n, "name", "microjoules");
}

gboolean
lathe_probe_check (JsonNode *node)
{
  static const char *const strings[] = { "os", "kernel", "arch", "cpu" };
  static const char *const ints[] = { "cores", "memory_mb", "memory_available_mb", "disk_free_mb" };
  static const char *const optional_ints[] = { "freq_min_mhz", "freq_max_mhz", "throttle_events" };
  static const char *const optional_strings[] = { "governor", "rpi_throttled" };
  JsonObject *o;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;
  o = json_node_get_object (node);
  for (guint i = 0; i < G_N_ELEMENTS (strings); i++)
    if (!string_node (json_object_get_member (o, strings[i])))
      return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (ints); i++)
    if (!int_node (json_object_get_member (o, ints[i])))
      return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (optional_ints); i++)
    if (json_object_has_member (o, optional_ints[i]) && !int_node (json_object_get_member (o, optional_ints[i])))
      return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (optional_strings); i++)
    if (json_object_has_member (o, optional_strings[i])
        && !string_node (json_object_get_member (o, optional_strings[i])))
      return FALSE;
  return list_of (o, "simd", string_node) && list_of (o, "freq_mhz", int_node)
         && list_of (o, "temperatures", sensor_node) && list_of (o, "power_files", string_node)
         && list_of (o, "power_sensors", string_node) && list_of (o, "energy_counters", counter_node);
}

JsonNode *
lathe_device_probe (LatheDevice *device, const LatheSshOptions *o, GCancellable *cancellable, GError **error)
{
  static const char *const argv[] = { "sh", "-s", NULL };
  g_autoptr (GBytes) script = g_bytes_new_static (probe_script, strlen (probe_script));
  g_autofree char *out = NULL, *err = NULL;
  int status = 0;

  if (!lathe_ssh_run (device, argv, script, o, cancellable, &out, &err, &status, error))
    return NULL;
  if (status != 0)
    {
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: the probe failed (exit %d): %s"),
                   lathe_device_get_name (device), status, err);
      return NULL;
    }
  return lathe_probe_parse (out);
}

/* Deploying ----------------------------------------------------------------- */

char *
lathe_runner_find_for_arch (const char *arch, GError **error)
{
  struct utsname u;
  g_autofree char *upper = g_ascii_strup (arch, -1);
  g_autofree char *env_name = g_strdup_printf ("LATHE_RUN_%s", upper);
  const char *env = g_getenv (env_name);
  g_autofree char *native = NULL, *dir = NULL, *path = NULL;

  if (uname (&u) == 0 && strcmp (u.machine, arch) == 0 && env == NULL)
    return lathe_runner_find (error);
  if (env != NULL && *env != '\0')
    {
      if (g_file_test (env, G_FILE_TEST_IS_REGULAR))
        return g_strdup (env);
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s (from %s): no such file"), env, env_name);
      return NULL;
    }
  if ((native = lathe_runner_find (error)) == NULL)
    return NULL;
  dir = g_path_get_dirname (native);
  path = g_strdup_printf ("%s/lathe-run-%s", dir, arch);
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return g_steal_pointer (&path);
  g_set_error (error, LATHE_ERROR, LATHE_ERROR_UNSUPPORTED,
               _("no lathe-run for %s: %s is missing (build with the %s cross compiler installed, or set %s)"),
               arch, path, arch, env_name);
  return NULL;
}

/* On the device: the hash of a cached blob, or nothing. */
static const char hash_script[] =
  "f=\"$1\"; [ -f \"$f\" ] || exit 0\n"
  "if command -v sha256sum >/dev/null 2>&1; then sha256sum \"$f\"; else shasum -a 256 \"$f\"; fi | cut -d' ' -f1\n";

/* On the device: a copied file becomes the blob once its hash is right. */
static const char commit_script[] =
  "part=\"$1\"; blob=\"$2\"; want=\"$3\"\n"
  "got=$(if command -v sha256sum >/dev/null 2>&1; then sha256sum \"$part\"; else shasum -a 256 \"$part\"; fi | cut -d' ' -f1)\n"
  "if [ \"$got\" != \"$want\" ]; then rm -f \"$part\"; echo \"sha256 $got, expected $want\" >&2; exit 3; fi\n"
  "chmod 755 \"$part\" && mv -f \"$part\" \"$blob\"\n";

static gboolean
remote_script (LatheDevice *d, const char *script, const char *const *args, const LatheSshOptions *o,
               GCancellable *cancellable, char **out, GError **error)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *err = NULL;
  int status = 0;

  g_ptr_array_add (argv, (gpointer) "sh");
  g_ptr_array_add (argv, (gpointer) "-c");
  g_ptr_array_add (argv, (gpointer) script);
  g_ptr_array_add (argv, (gpointer) "lathe");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  if (!lathe_ssh_run (d, (const char *const *) argv->pdata, NULL, o, cancellable, out, &err, &status, error))
    return FALSE;
  if (status != 0)
    {
      g_autofree char *msg = g_strstrip (g_strdup (err));
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: %s"), lathe_device_get_name (d),
                   *msg != '\0' ? msg : _("a command failed"));
      if (out != NULL)
        g_clear_pointer (out, g_free);
      return FALSE;
    }
  return TRUE;
}

/* SFTP says only that an upload failed: when the device's disk has less
 * room than the file, say that instead. */
static void
explain_copy_failure (LatheDevice *d, const char *local_path, const LatheSshOptions *o, GError **error)
{
  const char *argv[] = { "df", "-Pk", CACHE_DIR, NULL };
  g_autofree char *out = NULL;
  g_auto (GStrv) lines = NULL;
  GStatBuf st;
  guint64 free_kb = 0;

  if (g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || g_stat (local_path, &st) != 0
      || !lathe_ssh_run (d, argv, NULL, o, NULL, &out, NULL, NULL, NULL))
    return;
  lines = g_strsplit (out, "\n", -1);
  if (g_strv_length (lines) < 2)
    return;
  {
    g_auto (GStrv) cols = g_strsplit_set (lines[1], " \t", -1);
    guint k = 0;
    for (guint i = 0; cols[i] != NULL; i++)
      if (*cols[i] != '\0' && ++k == 4)
        free_kb = g_ascii_strtoull (cols[i], NULL, 10);
  }
  if (free_kb * 1024 < (guint64) st.st_size)
    {
      g_clear_error (error);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   _("%s: the device's disk is full: %" G_GUINT64_FORMAT " kB free in ~/%s, %s needs %" G_GUINT64_FORMAT
                     " kB"),
                   lathe_device_get_name (d), free_kb, CACHE_DIR, local_path, (guint64) st.st_size / 1024);
    }
}

char *
lathe_device_deploy_file (LatheDevice *device, const char *local_path, const LatheSshOptions *o, gboolean *copied,
                          GCancellable *cancellable, GError **error)
{
  g_autofree char *sha = lathe_file_sha256 (local_path, cancellable, error);
  g_autofree char *blob = NULL, *part = NULL, *there = NULL, *mkdir_out = NULL;
  g_autoptr (GError) local = NULL;

  if (copied != NULL)
    *copied = FALSE;
  if (sha == NULL)
    return NULL;
  blob = g_strdup_printf ("%s/%s", CACHE_DIR, sha);
  {
    const char *args[] = { blob, NULL };
    if (!remote_script (device, hash_script, args, o, cancellable, &there, error))
      return NULL;
  }
  if (g_strcmp0 (g_strstrip (there), sha) == 0)
    return g_steal_pointer (&blob);
  part = g_strdup_printf ("%s/.%s.%08x.part", CACHE_DIR, sha, g_random_int ());
  {
    const char *argv[] = { "mkdir", "-p", CACHE_DIR, NULL };
    int status = 0;
    if (!lathe_ssh_run (device, argv, NULL, o, cancellable, &mkdir_out, NULL, &status, error))
      return NULL;
  }
  if (!lathe_ssh_copy_to (device, local_path, part, o, cancellable, &local))
    {
      /* Nothing half-copied stays. */
      const char *argv[] = { "rm", "-f", part, NULL };
      lathe_ssh_run (device, argv, NULL, o, NULL, NULL, NULL, NULL, NULL);
      explain_copy_failure (device, local_path, o, &local);
      g_propagate_error (error, g_steal_pointer (&local));
      return NULL;
    }
  {
    const char *args[] = { part, blob, sha, NULL };
    if (!remote_script (device, commit_script, args, o, cancellable, NULL, error))
      return NULL;
  }
  if (copied != NULL)
    *copied = TRUE;
  return g_steal_pointer (&blob);
}

/* Profiling ----------------------------------------------------------------- */

void
lathe_profile_options_init (LatheProfileOptions *o)
{
  static const int depth = 0;

  o->threads = NULL;
  o->n_threads = 0;
  o->depths = &depth;
  o->n_depths = 1;
  o->n_prompt = 128;
  o->n_gen = 64;
  o->reps = 3;
  o->power_files = NULL;
}

static gboolean
parse_counts_from (const char *text, int min, int max, GArray *out, char **bad);

gboolean
lathe_parse_counts (const char *text, int max, GArray *out, char **bad)
{
  return parse_counts_from (text, 1, max, out, bad);
}

gboolean
lathe_parse_depths (const char *text, int max, GArray *out, char **bad)
{
  return parse_counts_from (text, 0, max, out, bad);
}

static gboolean
parse_counts_from (const char *text, int min, int max, GArray *out, char **bad)
{
  g_auto (GStrv) parts = NULL;
  g_autofree char *all = g_strstrip (g_strdup (text != NULL ? text : ""));

  if (*all == '\0')
    return TRUE;
  parts = g_strsplit (all, ",", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *end;
      const gint64 v = g_ascii_strtoll (g_strstrip (parts[i]), &end, 10);
      int n = (int) v;
      if (*parts[i] == '\0' || *end != '\0' || v < min || v > max)
        {
          if (bad != NULL)
            *bad = g_strdup (parts[i]);
          return FALSE;
        }
      g_array_append_val (out, n);
    }
  return TRUE;
}

static double
max_temperature (JsonObject *probe)
{
  JsonArray *t = json_object_get_array_member (probe, "temperatures");
  double best = NAN;

  for (guint i = 0; t != NULL && i < json_array_get_length (t); i++)
    {
      const double c = json_object_get_double_member (json_array_get_object_element (t, i), "celsius");
      if (isnan (best) || c > best)
        best = c;
    }
  return best;
}

static double
mean_freq (JsonObject *probe)
{
  JsonArray *f = json_object_get_array_member (probe, "freq_mhz");
  double sum = 0;
  guint n = f != NULL ? json_array_get_length (f) : 0;

  for (guint i = 0; i < n; i++)
    sum += (double) json_array_get_int_element (f, i);
  return n > 0 ? sum / n : NAN;
}

static double
energy_uj (JsonObject *probe)
{
  JsonArray *e = json_object_get_array_member (probe, "energy_counters");
  double sum = 0;
  guint n = e != NULL ? json_array_get_length (e) : 0;

  /* Packages only: their sub-domains (core, uncore) are inside them. */
  for (guint i = 0; i < n; i++)
    {
      JsonObject *c = json_array_get_object_element (e, i);
      if (g_str_has_prefix (json_object_get_string_member (c, "name"), "package"))
        sum += json_object_get_double_member (c, "microjoules");
    }
  return n > 0 ? sum : NAN;
}

static void
add_number (JsonBuilder *b, const char *key, double v)
{
  if (isnan (v))
    return;
  json_builder_set_member_name (b, key);
  json_builder_add_double_value (b, v);
}

/* Where a profile is, for its progress: run `run` of `runs`, and within it
 * the runner's own steps (its --progress lines). */
#define STEP_SCALE 1000

typedef struct
{
  LatheProfileProgress progress;
  gpointer user;
  int run, runs;
  const char *what; /* "2 threads, 128 tokens deep" */
  /* Power read on the device during the run, integrated as it comes. */
  gint64 last_us;
  double last_w, joules, sum_w;
  int samples;
} RunProgress;

static void
run_report (RunProgress *rp, int done, int total, const char *next)
{
  g_autofree char *text = NULL;

  if (rp->progress == NULL)
    return;
  text = g_strdup_printf (_("run %d of %d (%s): %s"), rp->run + 1, rp->runs, rp->what, next);
  rp->progress (rp->user, rp->run * STEP_SCALE + (total > 0 ? done * STEP_SCALE / total : 0),
                rp->runs * STEP_SCALE, text);
}

/* "power MICROWATTS" from the sampler: the energy since the last sample,
 * by the trapezoid rule over the time the lines arrive here. */
static void
power_sample (RunProgress *rp, const char *text)
{
  char *end;
  const double watts = g_ascii_strtod (text, &end) / 1e6;
  /* More than 100 kW is no edge device. */
  const gint64 now = g_get_monotonic_time ();

  if (end == text || !isfinite (watts) || watts < 0 || watts > 1e5)
    return;
  if (rp->samples > 0)
    rp->joules += (watts + rp->last_w) / 2 * (double) (now - rp->last_us) / 1e6;
  rp->last_us = now;
  rp->last_w = watts;
  rp->sum_w += watts;
  rp->samples++;
}

/* "progress DONE TOTAL NEXT" from lathe-run bench --progress, or "power W"
 * from the sampler beside it. */
static void
runner_line_cb (gpointer user, const char *line)
{
  RunProgress *rp = user;
  char *end;
  long done, total;

  if (g_str_has_prefix (line, "power "))
    {
      power_sample (rp, line + strlen ("power "));
      return;
    }
  if (!g_str_has_prefix (line, "progress "))
    return;
  done = strtol (line + strlen ("progress "), &end, 10);
  total = strtol (end, &end, 10);
  if (total > 0 && done >= 0 && done <= total)
    run_report (rp, (int) done, (int) total, g_strstrip (end));
}

/* On the device: the runner ("$@" after the N power files), and beside it
 * a loop printing the files' summed power (µW) on stderr every 0.2 s; one
 * sample before the runner starts and one after it ends, so that even a
 * short run has two. A TERM (the guard's) ends both. */
static const char power_script[] =
  "n=$1; shift; f=\n"
  "while [ \"$n\" -gt 0 ]; do f=\"$f $1\"; shift; n=$((n - 1)); done\n"
  /* A file gives µW; "CURRENT:VOLTAGE" (mA and mV, as INA3221) their
   * product, µW too. Anything but digits is skipped: shell arithmetic on it
   * would end the script. */
  "num () { case $1 in ''|*[!0-9]*) return 1 ;; esac; }\n"
  "sample () { s=0; for x in $f; do case $x in\n"
  "  *:*) i=$(cat \"${x%%:*}\" 2>/dev/null); u=$(cat \"${x#*:}\" 2>/dev/null); num \"$i\" && num \"$u\" && s=$((s + i * u)) ;;\n"
  "  *) v=$(cat \"$x\" 2>/dev/null); num \"$v\" && s=$((s + v)) ;;\n"
  "  esac; done; echo \"lathe-power $s\" >&2; }\n"
  "trap 'kill $p $w 2>/dev/null; exit 143' TERM HUP INT\n"
  "sample\n"
  "\"$@\" & p=$!\n"
  "(while sleep 0.2 2>/dev/null || sleep 1; do sample; done) & w=$!\n"
  "wait $p; st=$?\n"
  "kill $w 2>/dev/null\n"
  "sample\n"
  "exit $st\n";

/* The power files a run samples: the caller's, else the probe's. */
static GPtrArray *
power_files_of (const LatheProfileOptions *po, JsonObject *probe)
{
  GPtrArray *files = g_ptr_array_new ();
  JsonArray *found = json_object_get_array_member (probe, "power_files");

  if (po->power_files != NULL)
    for (guint i = 0; po->power_files[i] != NULL; i++)
      g_ptr_array_add (files, (gpointer) po->power_files[i]);
  else
    for (guint i = 0; found != NULL && i < json_array_get_length (found); i++)
      g_ptr_array_add (files, (gpointer) json_array_get_string_element (found, i));
  return files;
}

/* One bench run, with the sensors read before and after. */
static gboolean
profile_run (LatheDevice *d, const char *runner, const char *model, int threads, int depth,
             const LatheProfileOptions *po, const LatheSshOptions *o, RunProgress *rp, JsonBuilder *b,
             GCancellable *cancellable, GError **error)
{
  g_autofree char *t = g_strdup_printf ("%d", threads), *p = g_strdup_printf ("%d", po->n_prompt);
  g_autofree char *dd = g_strdup_printf ("%d", depth);
  g_autofree char *n = g_strdup_printf ("%d", po->n_gen), *r = g_strdup_printf ("%d", po->reps);
  const char *bench_args[] = { runner, "bench", "-m", model, "-t", t, "-p", p, "-d", dd, "-n", n, "-r", r, "--json",
                               "--no-bandwidth", "--progress", NULL };
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_auto (GStrv) prefix = g_strsplit (lathe_device_get_runner_prefix (d) ? lathe_device_get_runner_prefix (d) : "",
                                      " ", -1);
  g_autoptr (JsonNode) before = NULL, after = NULL, bench = NULL;
  g_autoptr (GPtrArray) power = NULL;
  g_autofree char *out = NULL, *err = NULL, *n_power = NULL;
  double e0, e1, tokens, t0, t1;
  gint64 throttle0, throttle1;
  int status = 0;

  if ((before = lathe_device_probe (d, o, cancellable, error)) == NULL)
    return FALSE;
  power = power_files_of (po, json_node_get_object (before));
  if (power->len > 0)
    {
      n_power = g_strdup_printf ("%u", power->len);
      g_ptr_array_add (argv, (gpointer) "sh");
      g_ptr_array_add (argv, (gpointer) "-c");
      g_ptr_array_add (argv, (gpointer) power_script);
      g_ptr_array_add (argv, (gpointer) "lathe-power");
      g_ptr_array_add (argv, n_power);
      g_ptr_array_extend (argv, power, NULL, NULL);
    }
  for (guint i = 0; prefix[i] != NULL; i++)
    if (*prefix[i] != '\0')
      g_ptr_array_add (argv, prefix[i]);
  for (guint i = 0; bench_args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) bench_args[i]);
  g_ptr_array_add (argv, NULL);
  if (!lathe_ssh_run_guarded (d, (const char *const *) argv->pdata, o, "lathe-", runner_line_cb, rp, cancellable,
                              &out, &err, &status, error)
      || (after = lathe_device_probe (d, o, cancellable, error)) == NULL)
    return FALSE;
  if (status != 0)
    {
      g_autofree char *msg = g_strstrip (g_strdup (err));
      g_set_error (error, LATHE_ERROR, LATHE_ERROR_IO, _("%s: lathe-run bench failed (exit %d): %s"),
                   lathe_device_get_name (d), status, msg);
      return FALSE;
    }
  {
    g_autofree char *origin = g_strdup_printf (_("%s: lathe-run bench"), lathe_device_get_name (d));
    if ((bench = lathe_bench_parse (out, -1, origin, error)) == NULL)
      return FALSE;
  }
  json_builder_begin_object (b);
  add_int (b, "threads", threads);
  add_int (b, "depth", depth);
  add_int (b, "prompt_tokens", po->n_prompt);
  json_builder_set_member_name (b, "bench");
  json_builder_add_value (b, g_steal_pointer (&bench));
  t0 = max_temperature (json_node_get_object (before));
  t1 = max_temperature (json_node_get_object (after));
  add_number (b, "temperature_before", t0);
  add_number (b, "temperature_after", t1);
  add_number (b, "freq_mhz_before", mean_freq (json_node_get_object (before)));
  add_number (b, "freq_mhz_after", mean_freq (json_node_get_object (after)));
  throttle0 = json_object_get_int_member_with_default (json_node_get_object (before), "throttle_events", -1);
  throttle1 = json_object_get_int_member_with_default (json_node_get_object (after), "throttle_events", -1);
  if (throttle0 >= 0 && throttle1 >= 0)
    {
      json_builder_set_member_name (b, "throttled");
      json_builder_add_boolean_value (b, throttle1 > throttle0);
    }
  e0 = energy_uj (json_node_get_object (before));
  e1 = energy_uj (json_node_get_object (after));
  /* The cache filled once, then each repetition's prefill and decode. */
  tokens = (double) depth + (double) (po->reps + 1) * (po->n_prompt + po->n_gen);
  /* Power files the caller named come first; then RAPL; then the sensors found. */
  if (!isnan (e0) && !isnan (e1) && e1 >= e0 && (po->power_files == NULL || rp->samples < 2))
    {
      add_str (b, "energy_source", "rapl");
      add_number (b, "energy_j", (e1 - e0) / 1e6);
      add_number (b, "joules_per_token", (e1 - e0) / 1e6 / tokens);
    }
  else if (rp->samples >= 2)
    {
      add_str (b, "energy_source", "power sensor");
      add_number (b, "power_w_mean", rp->sum_w / rp->samples);
      add_number (b, "energy_j", rp->joules);
      add_number (b, "joules_per_token", rp->joules / tokens);
    }
  json_builder_end_object (b);
  return TRUE;
}

static char *
deploy_both (LatheDevice *d, JsonObject *probe, const char *model_path, const LatheSshOptions *o,
             char **model_remote, LatheProfileProgress progress, gpointer user, GCancellable *cancellable,
             GError **error)
{
  const char *arch = lathe_device_get_arch (d) != NULL ? lathe_device_get_arch (d)
                                                       : json_object_get_string_member (probe, "arch");
  g_autofree char *runner = lathe_runner_find_for_arch (arch, error);
  g_autofree char *runner_remote = NULL;

  if (runner == NULL)
    return NULL;
  if (progress != NULL)
    progress (user, 0, 1, _("placing lathe-run on the device"));
  if ((runner_remote = lathe_device_deploy_file (d, runner, o, NULL, cancellable, error)) == NULL)
    return NULL;
  if (progress != NULL)
    progress (user, 0, 1, _("placing the model on the device"));
  if ((*model_remote = lathe_device_deploy_file (d, model_path, o, NULL, cancellable, error)) == NULL)
    return NULL;
  return g_steal_pointer (&runner_remote);
}

JsonNode *
lathe_device_profile (LatheDevice *d, const char *model_path, const LatheProfileOptions *po,
                      const LatheSshOptions *o, LatheProfileProgress progress, gpointer user, JsonNode **partial,
                      GCancellable *cancellable, GError **error)
{
  g_autoptr (JsonNode) probe = NULL;
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autofree char *runner = NULL, *model = NULL, *sha = NULL, *base = g_path_get_basename (model_path);
  g_autofree int *threads = NULL;
  guint n_threads;
  int done = 0, total;
  gboolean ok = TRUE;

  if (partial != NULL)
    *partial = NULL;
  if ((sha = lathe_file_sha256 (model_path, cancellable, error)) == NULL
      || (probe = lathe_device_probe (d, o, cancellable, error)) == NULL
      || (runner = deploy_both (d, json_node_get_object (probe), model_path, o, &model, progress, user, cancellable,
                                error)) == NULL)
    return NULL;
  n_threads = po->n_threads > 0 ? po->n_threads : 1;
  threads = g_new (int, n_threads);
  for (guint i = 0; i < n_threads; i++)
    threads[i] = po->n_threads > 0 ? po->threads[i]
                                   : MAX (1, (int) json_object_get_int_member (json_node_get_object (probe), "cores"));
  total = (int) (n_threads * po->n_depths);
  json_builder_begin_object (b);
  add_str (b, "device", lathe_device_get_name (d));
  json_builder_set_member_name (b, "probe");
  json_builder_add_value (b, json_node_copy (probe));
  add_str (b, "model", base);
  add_str (b, "model_sha256", sha);
  json_builder_set_member_name (b, "runs");
  json_builder_begin_array (b);
  for (guint i = 0; ok && i < n_threads; i++)
    for (guint k = 0; ok && k < po->n_depths; k++)
      {
        g_autofree char *what = g_strdup_printf (ngettext ("%d thread, %d tokens deep", "%d threads, %d tokens deep",
                                                         (gulong) threads[i]),
                                               threads[i], po->depths[k]);
        RunProgress rp = { progress, user, done, total, what };
        run_report (&rp, 0, 1, _("loading"));
        ok = profile_run (d, runner, model, threads[i], po->depths[k], po, o, &rp, b, cancellable, error);
        done += ok;
      }
  json_builder_end_array (b);
  json_builder_end_object (b);
  if (!ok)
    {
      /* The runs done so far are kept for the caller. */
      if (partial != NULL && done > 0)
        *partial = json_builder_get_root (b);
      return NULL;
    }
  if (progress != NULL)
    progress (user, 1, 1, _("done"));
  return json_builder_get_root (b);
}

LatheVariant *
lathe_variant_from_profile (JsonNode *profile, const char *id, const char *name)
{
  JsonObject *p = json_node_get_object (profile);
  JsonArray *runs = json_object_get_array_member (p, "runs");
  JsonObject *best = NULL;
  double best_tps = -1;
  LatheVariant *v;

  for (guint i = 0; runs != NULL && i < json_array_get_length (runs); i++)
    {
      JsonObject *bench = json_object_get_object_member (json_array_get_object_element (runs, i), "bench");
      const double tps = json_object_get_double_member (json_object_get_object_member (bench, "decode_tps"), "mean");
      if (tps > best_tps)
        best_tps = tps, best = bench;
    }
  v = lathe_variant_new (id, name);
  lathe_variant_set_device (v, json_object_get_string_member (p, "device"));
  if (best != NULL)
    {
      lathe_variant_set_metric (v, LATHE_METRIC_DECODE_TPS, best_tps);
      lathe_variant_set_metric (v, LATHE_METRIC_PREFILL_TPS,
                                json_object_get_double_member (json_object_get_object_member (best, "prefill_tps"), "mean"));
      lathe_variant_set_metric (v, LATHE_METRIC_PEAK_MEMORY_MB,
                                (double) json_object_get_int_member (best, "peak_rss_bytes") / 1e6);
      lathe_variant_set_metric (v, LATHE_METRIC_FILE_MB, (double) json_object_get_int_member (best, "model_bytes") / 1e6);
    }
  return v;
}
