/* SPDX-License-Identifier: MIT */
/* Devices over SSH against a real sshd of the test's own on 127.0.0.1: the
 * registry, probing, deploying by hash, profiling with lathe-run, and the
 * failures — an unknown or changed host key, a closed port, a cancelled run
 * and a killed sshd (no process left behind, earlier runs kept), a full
 * disk (nothing half-copied). */
#include "config.h"

#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "lathe-bundle.h"
#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-recipe.h"
#include "lathe-remote-private.h"
#include "lathe-remote.h"
#include "lathe-ssh-private.h"
#include "lathe-test.h"
#include "sshd-fixture.h"

static void
test_registry (void)
{
  g_autofree char *path = g_build_filename (lathe_test_tmpdir (), "config", "devices.json", NULL);
  g_autoptr (GPtrArray) devices = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr (GPtrArray) back = NULL;
  g_autoptr (GError) error = NULL;
  LatheDevice *d = lathe_device_new ("pi5", "pi@raspberrypi.local", &error), *e;

  g_assert_no_error (error);
  lathe_device_set_port (d, 2222);
  lathe_device_set_identity (d, "/home/me/.ssh/id_pi");
  g_ptr_array_add (devices, d);
  g_ptr_array_add (devices, lathe_device_new ("jetson", "jetson-alias", &error));
  g_assert_true (lathe_devices_save (path, devices, &error));
  back = lathe_devices_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (back->len, ==, 2);
  e = lathe_devices_find (back, "pi5");
  g_assert_cmpstr (lathe_device_get_destination (e), ==, "pi@raspberrypi.local");
  g_assert_cmpint (lathe_device_get_port (e), ==, 2222);
  g_assert_cmpstr (lathe_device_get_identity (e), ==, "/home/me/.ssh/id_pi");
  g_assert_null (lathe_device_get_user (lathe_devices_find (back, "jetson")));
  /* Names and destinations that could be misread are refused. */
  g_assert_null (lathe_device_new ("a b", "host", &error));
  g_assert_nonnull (strstr (error->message, "device name"));
  g_clear_error (&error);
  g_assert_null (lathe_device_new ("ok", "-oProxyCommand=evil", &error));
  g_assert_nonnull (strstr (error->message, "SSH destination"));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (path, "{\"devices\": [{\"name\": \"x\", \"destination\": \"h\", \"port\": 70000}]}",
                                      -1, NULL));
  g_assert_null (lathe_devices_load (path, &error));
  g_assert_nonnull (strstr (error->message, "devices[0].port"));
}

/* Profile settings of the tests: these threads and depths (tokens already
 * in the cache), prompts of 16 tokens, short runs. */
static void
profile_options (LatheProfileOptions *po, const int *threads, guint n_threads, const int *depths, guint n_depths,
                 int n_gen, int reps)
{
  lathe_profile_options_init (po);
  po->threads = threads;
  po->n_threads = n_threads;
  po->depths = depths;
  po->n_depths = n_depths;
  po->n_gen = n_gen;
  po->n_prompt = 16;
  po->reps = reps;
}

static LatheDevice *
fixture_device (SshdFixture *f)
{
  g_autoptr (GError) error = NULL;
  LatheDevice *d = lathe_device_new ("dev", "dev", &error);

  g_assert_no_error (error);
  lathe_device_set_ssh_config (d, f->ssh_config);
  return d;
}

/* Thread counts and depths as the CLI and the Devices page take them. */
static void
test_counts (void)
{
  static const struct
  {
    const char *text;
    int max;
    guint n;       /* numbers read when good */
    const char *bad; /* the part named when not */
  } cases[] = {
    { "1, 2,4", 8, 3, NULL }, { "  ", 8, 0, NULL }, { "16", 16, 1, NULL }, { "17", 16, 0, "17" },
    { "0", 8, 0, "0" },       { "1,,2", 8, 0, "" }, { "3x", 8, 0, "3x" }, { "2 4", 8, 0, "2 4" },
    { "-1", 8, 0, "-1" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (int));
      g_autofree char *bad = NULL;
      const gboolean ok = lathe_parse_counts (cases[i].text, cases[i].max, out, &bad);
      g_assert_cmpint (ok, ==, cases[i].bad == NULL);
      g_assert_cmpstr (bad, ==, cases[i].bad);
      if (ok)
        g_assert_cmpuint (out->len, ==, cases[i].n);
    }
  {
    g_autoptr (GArray) out = g_array_new (FALSE, FALSE, sizeof (int));
    g_assert_true (lathe_parse_counts ("1, 2,4", 8, out, NULL));
    g_assert_cmpint (g_array_index (out, int, 0), ==, 1);
    g_assert_cmpint (g_array_index (out, int, 2), ==, 4);
  }
}

typedef struct
{
  GPtrArray *texts;
  double last; /* the share done */
} Steps;

static void
step_cb (gpointer user, int done, int total, const char *what)
{
  Steps *s = user;
  const double share = total > 0 ? (double) done / total : 0;

  g_assert_cmpfloat (share, >=, s->last);
  s->last = share;
  g_ptr_array_add (s->texts, g_strdup (what));
}

static void
test_probe_deploy_profile (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *sha = NULL, *remote = NULL, *again = NULL, *on_device = NULL;
  g_autoptr (LatheDevice) d = NULL;
  g_autoptr (JsonNode) probe = NULL, profile = NULL;
  g_autoptr (LatheVariant) v = NULL;
  g_autoptr (GError) error = NULL;
  LatheSshOptions o;
  LatheProfileOptions po;
  const int threads[] = { 1, 2 };
  const int depths[] = { 16 };
  gboolean copied = FALSE;
  struct utsname u;
  SshdFixture f;
  JsonObject *p;

  if (model == NULL || !sshd_fixture_start (&f, "device"))
    return;
  d = fixture_device (&f);
  lathe_ssh_options_init (&o);
  probe = lathe_device_probe (d, &o, NULL, &error);
  g_assert_no_error (error);
  p = json_node_get_object (probe);
  g_assert_cmpint (uname (&u), ==, 0);
  g_assert_cmpstr (json_object_get_string_member (p, "arch"), ==, u.machine);
  g_assert_cmpint (json_object_get_int_member (p, "cores"), ==, (gint64) g_get_num_processors ());
  g_assert_cmpint (json_object_get_int_member (p, "memory_mb"), >, 0);
  g_assert_cmpint (json_object_get_int_member (p, "disk_free_mb"), >, 0);
  g_assert_cmpuint (strlen (json_object_get_string_member (p, "os")), >, 0);
  g_assert_nonnull (json_object_get_array_member (p, "simd"));
  {
    g_autofree char *text = json_to_string (probe, TRUE);
    g_test_message ("probe: %s", text);
  }

  /* Deployed once, found by its hash the second time. */
  remote = lathe_device_deploy_file (d, model, &o, &copied, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (copied);
  again = lathe_device_deploy_file (d, model, &o, &copied, NULL, &error);
  g_assert_no_error (error);
  g_assert_false (copied);
  g_assert_cmpstr (remote, ==, again);
  sha = lathe_file_sha256 (model, NULL, NULL);
  on_device = g_build_filename (f.home, remote, NULL);
  g_assert_true (g_str_has_suffix (remote, sha));
  {
    g_autofree char *there = lathe_file_sha256 (on_device, NULL, NULL);
    g_assert_cmpstr (there, ==, sha);
  }

  /* Profiled with the runner there: one run per thread count, its steps
   * streamed as they happen, the share done never going back. */
  profile_options (&po, threads, 2, depths, 1, 8, 1);
  {
    Steps steps = { g_ptr_array_new_with_free_func (g_free), 0 };
    profile = lathe_device_profile (d, model, &po, &o, step_cb, &steps, NULL, NULL, &error);
    g_assert_no_error (error);
    for (guint i = 0; i < steps.texts->len; i++)
      g_test_message ("progress: %s", (char *) steps.texts->pdata[i]);
    g_assert_true (g_ptr_array_find_with_equal_func (steps.texts, "run 1 of 2 (1 thread, 16 tokens deep): decode warm-up",
                                                     g_str_equal, NULL));
    g_assert_true (g_ptr_array_find_with_equal_func (steps.texts, "run 2 of 2 (2 threads, 16 tokens deep): decode",
                                                     g_str_equal, NULL));
    g_assert_cmpfloat (steps.last, ==, 1.0);
    g_ptr_array_unref (steps.texts);
  }
  {
    JsonArray *runs = json_object_get_array_member (json_node_get_object (profile), "runs");
    g_autofree char *text = json_to_string (profile, TRUE);
    g_test_message ("profile: %s", text);
    g_assert_cmpuint (json_array_get_length (runs), ==, 2);
    g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (runs, 1), "threads"), ==, 2);
  }
  /* Energy from power files on the device (as an INA226's hwmon
   * power1_input, and an INA3221's current and voltage): read during the
   * run, integrated over its time. */
  {
    g_autofree char *power = g_build_filename (f.home, "power1_input", NULL);
    g_autofree char *curr = g_build_filename (f.home, "curr1_input", NULL);
    g_autofree char *volt = g_build_filename (f.home, "in1_input", NULL);
    g_autofree char *pair = g_strdup_printf ("%s:%s", curr, volt);
    const char *files[] = { power, pair, NULL };
    g_autoptr (JsonNode) with_power = NULL;
    static const int one[] = { 1 };
    JsonObject *run;
    gint64 t0, t1;
    double joules;
    g_assert_true (g_file_set_contents (power, "2500000\n", -1, NULL)); /* 2.5 W */
    /* And an INA3221-like pair: 500 mA at 5000 mV, 2.5 W more. */
    g_assert_true (g_file_set_contents (curr, "500\n", -1, NULL));
    g_assert_true (g_file_set_contents (volt, "5000\n", -1, NULL));
    profile_options (&po, one, 1, depths, 1, 64, 3);
    po.power_files = files;
    t0 = g_get_monotonic_time ();
    with_power = lathe_device_profile (d, model, &po, &o, NULL, NULL, NULL, NULL, &error);
    t1 = g_get_monotonic_time ();
    g_assert_no_error (error);
    run = json_array_get_object_element (json_object_get_array_member (json_node_get_object (with_power), "runs"), 0);
    joules = json_object_get_double_member (run, "energy_j");
    g_test_message ("power file: %.3f J over a run, %.5f J/token, mean %.2f W, the profile took %.2f s", joules,
                    json_object_get_double_member (run, "joules_per_token"),
                    json_object_get_double_member (run, "power_w_mean"), (t1 - t0) / 1e6);
    g_assert_cmpstr (json_object_get_string_member (run, "energy_source"), ==, "power sensor");
    g_assert_cmpfloat_with_epsilon (json_object_get_double_member (run, "power_w_mean"), 5.0, 1e-9);
    g_assert_cmpfloat (joules, >, 0);
    g_assert_cmpfloat (joules, <=, 5.0 * (t1 - t0) / 1e6);
    g_assert_cmpfloat_with_epsilon (json_object_get_double_member (run, "joules_per_token"),
                                    joules / (16 + 4.0 * (16 + 64)), 1e-12); /* depth, then 4 × (prompt + decode) */
    po.power_files = NULL;
  }
  v = lathe_variant_from_profile (profile, "p1", "stories260K on dev");
  g_assert_cmpstr (lathe_variant_get_device (v), ==, "dev");
  g_assert_cmpfloat (lathe_variant_get_metric (v, LATHE_METRIC_DECODE_TPS), >, 0);
  g_assert_cmpfloat (lathe_variant_get_metric (v, LATHE_METRIC_PEAK_MEMORY_MB), >, 0);
  sshd_fixture_stop (&f);
}

static void
test_host_keys_and_ports (void)
{
  g_autoptr (LatheDevice) d = NULL;
  g_autoptr (JsonNode) probe = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *known = NULL;
  LatheSshOptions o;
  SshdFixture f;

  if (!sshd_fixture_start (&f, "keys"))
    return;
  d = fixture_device (&f);
  lathe_ssh_options_init (&o);
  g_assert_true (g_file_get_contents (f.known_hosts, &known, NULL, NULL));
  /* Unknown: refused unless told to accept it. */
  g_assert_true (g_file_set_contents (f.known_hosts, "", -1, NULL));
  g_assert_null (lathe_device_probe (d, &o, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, LATHE_SSH_ERROR, LATHE_SSH_ERROR_HOST_KEY_UNKNOWN);
  g_assert_nonnull (strstr (error->message, "host key is not known"));
  g_clear_error (&error);
  /* Its fingerprint, as the user would check it on the device, and then trusted. */
  {
    g_autofree char *fp = NULL, *expected = NULL, *after = NULL;
    g_autofree char *entries = lathe_ssh_scan_host_key (d, &o, &fp, NULL, &error);
    g_assert_no_error (error);
    expected = sshd_fixture_sh ("ssh-keygen -lf '%s/host_key.pub' | cut -d' ' -f2", f.dir);
    g_test_message ("fingerprint: %s", fp);
    g_assert_true (g_str_has_prefix (fp, g_strstrip (expected)));
    g_assert_true (g_str_has_suffix (fp, "(ED25519)"));
    g_assert_true (g_file_get_contents (f.known_hosts, &after, NULL, NULL));
    g_assert_cmpstr (after, ==, ""); /* scanning trusts nothing */
    g_assert_true (lathe_ssh_trust_host_key (d, entries, NULL, &error));
    g_assert_no_error (error);
    probe = lathe_device_probe (d, &o, NULL, &error);
    g_assert_no_error (error);
    g_clear_pointer (&probe, json_node_unref);
  }
  g_assert_true (g_file_set_contents (f.known_hosts, "", -1, NULL));
  o.accept_new_host_key = TRUE;
  probe = lathe_device_probe (d, &o, NULL, &error);
  g_assert_no_error (error);
  o.accept_new_host_key = FALSE;
  /* Changed: refused, even when new keys may be accepted. */
  {
    g_autofree char *other = g_build_filename (f.dir, "other_key", NULL);
    g_autofree char *pub = NULL, *entry = NULL, *other_pub = g_strdup_printf ("%s.pub", other);
    g_free (sshd_fixture_sh ("ssh-keygen -q -t ed25519 -N '' -f '%s'", other));
    g_assert_true (g_file_get_contents (other_pub, &pub, NULL, NULL));
    entry = g_strdup_printf ("[127.0.0.1]:%d %s", f.port, pub);
    g_assert_true (g_file_set_contents (f.known_hosts, entry, -1, NULL));
  }
  o.accept_new_host_key = TRUE;
  g_assert_null (lathe_device_probe (d, &o, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "CHANGED"));
  g_clear_error (&error);
  /* Nothing listening. */
  sshd_fixture_kill (&f);
  g_assert_true (g_file_set_contents (f.known_hosts, known, -1, NULL));
  g_assert_null (lathe_device_probe (d, &o, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_clear_error (&error);
  sshd_fixture_stop (&f);
}

/* A profile in a thread of its own, so the test can cancel it or kill sshd
 * while it runs. */
typedef struct
{
  LatheDevice *d;
  const char *model;
  GCancellable *cancel;
  JsonNode *result, *partial;
  GError *error;
  gint64 ended;
} Bg;

static gpointer
profile_thread (gpointer data)
{
  Bg *bg = data;
  static const int depths[] = { 8, 400 };
  const int threads[] = { 1 };
  LatheProfileOptions po;
  LatheSshOptions o;

  lathe_ssh_options_init (&o);
  o.alive_interval = 1;
  /* The first run takes about a second; the second, with a long prompt,
   * lasts long enough to be interrupted. */
  profile_options (&po, threads, 1, depths, 2, 4, 1000);
  bg->result = lathe_device_profile (bg->d, bg->model, &po, &o, NULL, NULL, &bg->partial, bg->cancel, &bg->error);
  bg->ended = g_get_monotonic_time ();
  return NULL;
}

/* Whether a runner's bench runs on the device (with these arguments). */
static gboolean
runner_running (SshdFixture *f, const char *args)
{
  g_autofree char *out = sshd_fixture_sh ("pgrep -u %s -f '^[^ ]*blobs/[0-9a-f]* bench .*%s' || true", f->user, args);

  return *g_strstrip (out) != '\0';
}

static void
wait_for_runner (SshdFixture *f, const char *args, gboolean running)
{
  for (int i = 0; i < 1200 && runner_running (f, args) != running; i++)
    g_usleep (50000);
}

static void
test_interrupted (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  SshdFixture f;

  if (model == NULL || !sshd_fixture_start (&f, "interrupted"))
    return;
  for (int round = 0; round < 2; round++)
    {
      Bg bg = { NULL, model, g_cancellable_new (), NULL, NULL, NULL, 0 };
      GThread *t;
      gint64 stopped;
      bg.d = fixture_device (&f);
      t = g_thread_new ("profile", profile_thread, &bg);
      /* Once the first run is done and the long one runs. */
      wait_for_runner (&f, "-d 400 ", TRUE);
      g_assert_true (runner_running (&f, "-d 400 "));
      g_usleep (300000);
      stopped = g_get_monotonic_time ();
      if (round == 0)
        g_cancellable_cancel (bg.cancel);
      else
        sshd_fixture_kill (&f);
      g_thread_join (t);
      g_test_message ("%s: stopped after %.1f s: %s", round == 0 ? "cancel" : "sshd killed",
                      (bg.ended - stopped) / 1e6, bg.error ? bg.error->message : "no error");
      g_assert_null (bg.result);
      g_assert_nonnull (bg.error);
      if (round == 0)
        g_assert_error (bg.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      else
        g_assert_nonnull (strstr (bg.error->message, "dev"));
      /* Well within ssh's keep-alive limit: no hang. */
      g_assert_cmpint (bg.ended - stopped, <, 15 * G_USEC_PER_SEC);
      /* The runs done before are kept. */
      g_assert_nonnull (bg.partial);
      g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json_node_get_object (bg.partial),
                                                                             "runs")), ==, 1);
      /* And nothing runs on on the device. */
      wait_for_runner (&f, "", FALSE);
      g_assert_false (runner_running (&f, ""));
      g_clear_error (&bg.error);
      json_node_unref (bg.partial);
      g_object_unref (bg.cancel);
      g_object_unref (bg.d);
    }
  sshd_fixture_stop (&f);
}

static void
test_disk_full (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *cache = NULL, *left = NULL;
  g_autoptr (LatheDevice) d = NULL;
  g_autoptr (GError) error = NULL;
  LatheSshOptions o;
  SshdFixture f;

  if (model == NULL || !sshd_fixture_start (&f, "full"))
    return;
  d = fixture_device (&f);
  lathe_ssh_options_init (&o);
  cache = g_build_filename (f.home, ".cache", NULL);
  /* A disk smaller than the model (a tmpfs: mounting needs the right to). */
  g_mkdir_with_parents (cache, 0777);
  {
    g_autofree char *cmd = g_strdup_printf ("mount -t tmpfs -o size=512k,mode=777 tmpfs '%s'", cache);
    const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
    int status = 0;
    if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, NULL, NULL, &status, NULL)
        || !g_spawn_check_wait_status (status, NULL))
      {
        g_test_skip ("cannot mount a small tmpfs here to fill the device's disk");
        sshd_fixture_stop (&f);
        return;
      }
  }
  g_assert_null (lathe_device_deploy_file (d, model, &o, NULL, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  left = sshd_fixture_sh ("find '%s' -type f | wc -l", cache);
  g_assert_cmpint (atoi (left), ==, 0);
  g_free (sshd_fixture_sh ("umount '%s'", cache));
  sshd_fixture_stop (&f);
}

/* A second device that runs the aarch64 runner through qemu: the runner
 * cross-built by this build goes there and measures. */
static void
test_aarch64_device (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *runner = NULL, *sha = NULL, *blob = NULL, *qemu = g_find_program_in_path ("qemu-aarch64-static");
  g_autoptr (LatheDevice) d = NULL;
  g_autoptr (JsonNode) profile = NULL;
  g_autoptr (GError) error = NULL;
  const int threads[] = { 1 }, depths[] = { 8 };
  LatheProfileOptions po;
  LatheSshOptions o;
  SshdFixture f;

  if (model == NULL)
    return;
  runner = lathe_runner_find_for_arch ("aarch64", &error);
  if (runner == NULL || qemu == NULL)
    {
      g_autofree char *why = g_strdup_printf ("no aarch64 runner or qemu-aarch64-static: %s",
                                              error ? error->message : "qemu missing");
      g_test_skip (why);
      return;
    }
  if (!sshd_fixture_start (&f, "aarch64"))
    return;
  d = fixture_device (&f);
  lathe_device_set_arch (d, "aarch64");
  lathe_device_set_runner_prefix (d, qemu);
  lathe_ssh_options_init (&o);
  profile_options (&po, threads, 1, depths, 1, 4, 1);
  profile = lathe_device_profile (d, model, &po, &o, NULL, NULL, NULL, NULL, &error);
  g_assert_no_error (error);
  {
    JsonArray *runs = json_object_get_array_member (json_node_get_object (profile), "runs");
    JsonObject *bench = json_object_get_object_member (json_array_get_object_element (runs, 0), "bench");
    g_test_message ("aarch64 under qemu: kernel %s, decode %.0f tokens/s", json_object_get_string_member (bench, "kernel"),
                    json_object_get_double_member (json_object_get_object_member (bench, "decode_tps"), "mean"));
    g_assert_true (g_str_has_prefix (json_object_get_string_member (bench, "kernel"), "neon"));
  }
  sha = lathe_file_sha256 (runner, NULL, NULL);
  blob = g_build_filename (f.home, ".cache", "lathe", "blobs", sha, NULL);
  g_assert_true (g_file_test (blob, G_FILE_TEST_IS_EXECUTABLE));
  sshd_fixture_stop (&f);
}

/* Bundles: made for this machine, verified (files and golden output),
 * tampered with (refused, naming the file), packed as .tar.gz, installed on
 * the test device and verified there by its own run.sh. */
static void
test_bundle (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *dir = g_build_filename (lathe_test_tmpdir (), "bundle", NULL);
  g_autofree char *tarball = g_build_filename (lathe_test_tmpdir (), "bundle-packed.tar.gz", NULL);
  g_autofree char *in_bundle = NULL, *output = NULL;
  g_autoptr (GString) report = g_string_new (NULL);
  g_autoptr (LatheDevice) d = NULL;
  g_autoptr (GError) error = NULL;
  LatheBundleOptions o;
  LatheSshOptions so;
  SshdFixture f;

  if (model == NULL)
    return;
  lathe_bundle_options_init (&o);
  o.model_path = model;
  o.n_golden = 24;
  g_assert_true (lathe_bundle_create (&o, dir, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (lathe_bundle_verify (dir, NULL, report, NULL, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("%s", report->str);
  g_assert_nonnull (strstr (report->str, "golden: 24 greedy tokens as expected"));
  g_assert_nonnull (strstr (report->str, "signature: good, signed by"));
  /* A second bundle to the same place is refused: nothing is overwritten. */
  g_assert_false (lathe_bundle_create (&o, dir, NULL, &error));
  g_assert_nonnull (strstr (error->message, "exists already"));
  g_clear_error (&error);
  g_assert_true (lathe_bundle_create (&o, tarball, NULL, &error));
  g_assert_true (lathe_bundle_verify (tarball, NULL, report, NULL, NULL, &error));
  g_assert_no_error (error);

  /* Installed on the device, verified there. */
  if (sshd_fixture_start (&f, "bundle-device"))
    {
      d = fixture_device (&f);
      lathe_ssh_options_init (&so);
      lathe_bundle_install (dir, NULL, d, &so, &output, NULL, &error);
      g_assert_no_error (error);
      g_test_message ("on the device: %s", output);
      g_assert_nonnull (strstr (output, "signature: good"));
      g_assert_nonnull (strstr (output, "files: OK"));
      g_assert_nonnull (strstr (output, "golden: OK"));
      /* A bundle that is not signed never reaches the device. */
      {
        g_autofree char *unsigned_dir = g_build_filename (lathe_test_tmpdir (), "bundle-unsigned", NULL);
        g_autofree char *there = g_build_filename (f.home, "lathe-bundles", "bundle-unsigned", NULL);
        g_autofree char *out2 = NULL;
        LatheBundleOptions ou = o;
        ou.unsigned_bundle = TRUE;
        g_assert_true (lathe_bundle_create (&ou, unsigned_dir, NULL, &error));
        g_assert_false (lathe_bundle_install (unsigned_dir, NULL, d, &so, &out2, NULL, &error));
        g_assert_nonnull (strstr (error->message, "not signed"));
        g_clear_error (&error);
        g_assert_false (g_file_test (there, G_FILE_TEST_EXISTS));
      }
      /* Damaged there: its run.sh says so. */
      {
        g_autofree char *there = g_build_filename (f.home, "lathe-bundles", "bundle", "model.gguf", NULL);
        g_autofree char *argv_out = NULL;
        const char *argv[] = { "env", "LATHE_RUN_PREFIX=", "sh", "lathe-bundles/bundle/run.sh", "--verify", NULL };
        int status = 0;
        g_free (sshd_fixture_sh ("printf 'X' | dd of='%s' bs=1 seek=100000 conv=notrunc 2>/dev/null", there));
        g_assert_true (lathe_ssh_run (d, argv, NULL, &so, NULL, &argv_out, NULL, &status, &error));
        g_assert_cmpint (status, !=, 0);
      }
      sshd_fixture_stop (&f);
    }

  /* A llama2.c checkpoint ships as GGUF with its tokenizer inside: on the
   * device nothing lies beside it. */
  {
    g_autofree char *bin = lathe_test_shared ("models/stories260K.bin");
    g_autofree char *bin_bundle = g_build_filename (lathe_test_tmpdir (), "bundle-bin", NULL);
    g_autofree char *shipped = g_build_filename (bin_bundle, "model.gguf", NULL);
    g_autofree char *head = NULL;
    LatheBundleOptions ob;
    if (bin != NULL)
      {
        lathe_bundle_options_init (&ob);
        ob.model_path = bin;
        g_assert_true (lathe_bundle_create (&ob, bin_bundle, NULL, &error));
        g_assert_no_error (error);
        g_assert_true (g_file_get_contents (shipped, &head, NULL, NULL));
        g_assert_cmpint (memcmp (head, "GGUF", 4), ==, 0);
        g_assert_true (lathe_bundle_verify (bin_bundle, NULL, report, NULL, NULL, &error));
        g_assert_no_error (error);
      }
  }

  /* Tampered here: refused, naming the file. */
  in_bundle = g_build_filename (dir, "model.gguf", NULL);
  g_free (sshd_fixture_sh ("printf 'X' | dd of='%s' bs=1 seek=100000 conv=notrunc 2>/dev/null", in_bundle));
  g_assert_false (lathe_bundle_verify (dir, NULL, report, NULL, NULL, &error));
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "model.gguf: sha256"));
  g_clear_error (&error);
  {
    g_autofree char *extra = g_build_filename (dir, "extra.sh", NULL);
    g_autofree char *again = g_build_filename (lathe_test_tmpdir (), "bundle2", NULL);
    g_assert_true (lathe_bundle_create (&o, again, NULL, &error));
    g_free (extra);
    extra = g_build_filename (again, "extra.sh", NULL);
    g_assert_true (g_file_set_contents (extra, "rm -rf /", -1, NULL));
    g_assert_false (lathe_bundle_verify (again, NULL, report, NULL, NULL, &error));
    g_assert_nonnull (strstr (error->message, "extra.sh is not in the manifest"));
  }
}

/* The probe's lines as a device may send them: values out of range left
 * out, strings made valid and short, lists cut, and 300 000 sensor lines
 * read quickly. */
static void
test_probe_parse (void)
{
  g_autoptr (GString) many = g_string_new ("arch=x86_64\ncores=4\n");
  g_autoptr (JsonNode) node = NULL, big = NULL;
  g_autofree char *long_cpu = g_strnfill (100000, 'x');
  g_autofree char *text = g_strdup_printf ("os=Linux\ncores=-3\ncpu=%s\nmem_total_kb=99999999999999999999999\n"
                                           "kernel=\xff\xfe bad\ntemp=cpu:45000\ntemp=broken:999999999\n"
                                           "temp=nan:nan\ntemp=x:1e999\nfreq_khz=1500000\nfreq_khz=-1\n"
                                           "energy=package-0:-5\nenergy=package-1:1000\nthrottle=abc\n",
                                           long_cpu);
  JsonObject *o;
  gint64 start;

  node = lathe_probe_parse (text);
  o = json_node_get_object (node);
  g_assert_cmpint (json_object_get_int_member (o, "cores"), ==, 0);
  g_assert_cmpint (json_object_get_int_member (o, "memory_mb"), ==, 0);
  g_assert_cmpuint (strlen (json_object_get_string_member (o, "cpu")), <=, 256);
  g_assert_true (g_utf8_validate (json_object_get_string_member (o, "kernel"), -1, NULL));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "temperatures")), ==, 1);
  g_assert_cmpfloat (json_object_get_double_member (
                       json_array_get_object_element (json_object_get_array_member (o, "temperatures"), 0), "celsius"),
                     ==, 45);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "freq_mhz")), ==, 1);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o, "energy_counters")), ==, 1);
  g_assert_false (json_object_has_member (o, "throttle_events"));
  g_assert_true (lathe_probe_check (node));
  {
    static const char *const tampered[] = {
      "[]", "{\"os\": 1}", "{\"os\": \"\", \"kernel\": \"\", \"arch\": \"\", \"cpu\": \"\", \"cores\": \"4\"}",
    };
    for (guint i = 0; i < G_N_ELEMENTS (tampered); i++)
      {
        g_autoptr (JsonNode) t = lathe_json_parse (tampered[i], -1, "cache", NULL);
        g_assert_false (lathe_probe_check (t));
      }
    json_object_set_string_member (o, "cores", "many");
    g_assert_false (lathe_probe_check (node));
  }

  for (int i = 0; i < 300000; i++)
    g_string_append_printf (many, "temp=sensor%d:%d\n", i, 40000 + i % 1000);
  start = g_get_monotonic_time ();
  big = lathe_probe_parse (many->str);
  g_test_message ("300 000 sensor lines parsed in %.3f s", (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json_node_get_object (big), "temperatures")),
                    ==, 1024);
}

/* What OpenSSH's tools print, as Lathe reads it: lines it does not expect
 * are passed over. */
static void
test_ssh_output (void)
{
  static const struct
  {
    const char *listing, *fingerprints;
  } keys[] = {
    { "256 SHA256:abc host (ED25519)\n3072 SHA256:def host (RSA)\n", "SHA256:abc (ED25519)\nSHA256:def (RSA)" },
    { "", "" },
    { "garbage\n256 MD5:aa host (ED25519)\n\n  \n", "" },
    { "256 SHA256:x", "" },
  };
  static const struct
  {
    const char *config, *file; /* file: NULL for none, "~" prefixed for home */
  } configs[] = {
    { "user me\nuserknownhostsfile /tmp/kh /tmp/kh2\n", "/tmp/kh" },
    { "userknownhostsfile ~/.ssh/known_hosts\n", "~/.ssh/known_hosts" },
    { "userknownhostsfile \n", NULL },
    { "hostname x\n", NULL },
    { "", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      g_autofree char *got = lathe_ssh_parse_fingerprints (keys[i].listing);
      g_assert_cmpstr (got, ==, keys[i].fingerprints);
    }
  for (guint i = 0; i < G_N_ELEMENTS (configs); i++)
    {
      g_autofree char *got = lathe_ssh_parse_known_hosts_file (configs[i].config);
      g_autofree char *want = configs[i].file != NULL && configs[i].file[0] == '~'
                                ? g_build_filename (g_get_home_dir (), configs[i].file + 2, NULL)
                                : g_strdup (configs[i].file);
      g_assert_cmpstr (got, ==, want);
    }
}

/* What a device's runner prints is untrusted: each kind of bad output is
 * an error for that run naming what was wrong, the runs before it are
 * kept, no bad figure comes back, and nothing is left running there. */
static void
test_hostile_runner (void)
{
  static const struct
  {
    const char *script; /* what the runner does instead (sh; "$@" is the real one) */
    const char *expect;
  } cases[] = {
    { "echo 'tokens per second: fast'", "not valid JSON" },
    { "echo '[1, 2]'", "expected the JSON object" },
    { "echo '{\"prefill_tps\": {\"mean\": 100}, \"decode_tps\": {\"mean\": \"fast\"}, \"peak_rss_bytes\": 1}'",
      "decode_tps.mean" },
    { "echo '{\"prefill_tps\": {\"mean\": 100}, \"decode_tps\": {\"mean\": -5}, \"peak_rss_bytes\": 1}'",
      "decode_tps.mean" },
    { "echo '{\"prefill_tps\": {\"mean\": 1e22}, \"decode_tps\": {\"mean\": 5}, \"peak_rss_bytes\": 1}'",
      "prefill_tps.mean" },
    { "echo '{\"prefill_tps\": {\"mean\": 1e999}, \"decode_tps\": {\"mean\": 5}, \"peak_rss_bytes\": 1}'",
      "prefill_tps.mean" },
    { "echo '{\"prefill_tps\": {\"mean\": 100}, \"decode_tps\": {\"mean\": 5}}'", "peak_rss_bytes" },
    { "echo '{\"prefill_tps\": {\"mean\": 100}, \"decode_tps\": {\"mean\": 5}, \"peak_rss_bytes\": 1, "
      "\"acceptance_rate\": 7}'", "acceptance_rate" },
    { "head -c 100000 /dev/zero | tr '\\000' '['", "nested deeper" },
    { "yes '{\"a\": 1}' | head -c 104857600", "more than 16 MiB" },
    { "yes 'noise on stderr' | head -c 104857600 >&2; echo '{}'", "more than 16 MiB" },
    { "exec sleep 86399", "had not ended after 2 s" },
  };
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  SshdFixture f;

  if (model == NULL || !sshd_fixture_start (&f, "hostile"))
    return;
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("%s/runner-%u.sh", lathe_test_tmpdir (), i);
      g_autofree char *text = g_strdup_printf ("case \"$*\" in *\"-d 16 \"*) %s ;; *) exec \"$@\" ;; esac\n",
                                               cases[i].script);
      g_autofree char *prefix = g_strdup_printf ("sh %s", path);
      g_autoptr (LatheDevice) d = fixture_device (&f);
      g_autoptr (JsonNode) profile = NULL, partial = NULL;
      g_autoptr (GError) error = NULL;
      const int threads[] = { 1 }, depths[] = { 8, 16 };
      LatheProfileOptions po;
      LatheSshOptions o;
      const gint64 start = g_get_monotonic_time ();
      g_assert_true (g_file_set_contents (path, text, -1, NULL));
      lathe_device_set_runner_prefix (d, prefix);
      lathe_ssh_options_init (&o);
      /* Only the runner that never ends meets the time limit. */
      o.run_timeout = strstr (cases[i].script, "sleep") != NULL ? 2 : 600;
      profile_options (&po, threads, 1, depths, 2, 4, 1);
      profile = lathe_device_profile (d, model, &po, &o, NULL, NULL, &partial, NULL, &error);
      g_test_message ("%s → %s (%.1f s)", cases[i].script, error ? error->message : "no error",
                      (g_get_monotonic_time () - start) / 1e6);
      g_assert_null (profile);
      g_assert_nonnull (error);
      g_assert_nonnull (strstr (error->message, cases[i].expect));
      /* The good run before it is kept, and is a clean one. */
      g_assert_nonnull (partial);
      {
        JsonArray *runs = json_object_get_array_member (json_node_get_object (partial), "runs");
        JsonObject *b = json_object_get_object_member (json_array_get_object_element (runs, 0), "bench");
        g_assert_cmpuint (json_array_get_length (runs), ==, 1);
        g_assert_cmpfloat (json_object_get_double_member (json_object_get_object_member (b, "decode_tps"), "mean"), >,
                           0);
      }
      {
        g_autofree char *left = NULL;
        for (int k = 0; k < 100; k++)
          {
            g_free (left);
            left = sshd_fixture_sh ("pgrep -u %s -f 'sleep 86399|yes ' || true", f.user);
            if (*g_strstrip (left) == '\0')
              break;
            g_usleep (50000);
          }
        g_assert_cmpstr (left, ==, "");
      }
    }
  sshd_fixture_stop (&f);
}

/* Runs a shell command in a folder; fails the test if it fails. */
static void
sh_in (const char *dir, const char *cmd)
{
  const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
  int status = 0;

  g_assert_true (g_spawn_sync (dir, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL, &status, NULL));
  g_assert_true (g_spawn_check_wait_status (status, NULL));
}

/* What an attacker does after changing files: the manifest's hashes made
 * to match again (and SHA256SUMS), the signature left as it was. */
static void
rehash_manifest (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "MANIFEST.json", NULL);
  g_autoptr (JsonNode) root = lathe_json_load (path, 0, NULL);
  JsonArray *files = json_object_get_array_member (json_node_get_object (root), "files");
  g_autoptr (GError) error = NULL;

  sh_in (dir, "sha256sum $(ls | grep -v -e MANIFEST -e SHA256SUMS) > SHA256SUMS");
  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      JsonObject *f = json_array_get_object_element (files, i);
      g_autofree char *full = g_build_filename (dir, json_object_get_string_member (f, "path"), NULL);
      g_autofree char *sha = lathe_file_sha256 (full, NULL, NULL);
      if (sha != NULL)
        json_object_set_string_member (f, "sha256", sha);
    }
  g_assert_true (lathe_json_save (path, root, &error));
}

/* Bundles as an attacker makes them: each refused (or, trusted unsigned
 * as asked, checked without running anything of the bundle's). */
static void
test_bundle_hostile (void)
{
  static const struct
  {
    const char *what;
    const char *tamper; /* sh in the bundle, then the manifest rehashed when rehash */
    gboolean rehash, trust_unsigned;
    const char *expect; /* in the error, or NULL: verifies */
  } cases[] = {
    { "runner replaced, manifest rehashed", "printf '#!/bin/sh\\ntouch \"$MARK\"\\n' > lathe-run", TRUE, FALSE,
      "the signature does not match MANIFEST.json" },
    { "runner replaced, rehashed, unsigned", "printf '#!/bin/sh\\ntouch \"$MARK\"\\n' > lathe-run; rm MANIFEST.json.sig",
      TRUE, FALSE, "not signed" },
    { "runner replaced, unsigned, trusted as asked: golden with Lathe's runner",
      "printf '#!/bin/sh\\ntouch \"$MARK\"\\n' > lathe-run; rm MANIFEST.json.sig", TRUE, TRUE, NULL },
    { "signed by someone else", "rm MANIFEST.json.sig; ssh-keygen -q -Y sign -f \"$ATTACKER\" -n lathe-bundle "
      "MANIFEST.json", FALSE, FALSE, "which is not in" },
    { "signed for another namespace", "rm MANIFEST.json.sig; ssh-keygen -q -Y sign -f \"$LATHE_SIGN_KEY\" -n file "
      "MANIFEST.json", FALSE, FALSE, "the signature does not match" },
    { "runner a link outside", "rm lathe-run; ln -s \"$LATHE_RUN\" lathe-run; rm MANIFEST.json.sig", TRUE, TRUE,
      "lathe-run is not a regular file" },
    { "manifest a link", "mv MANIFEST.json m.json; ln -s m.json MANIFEST.json; rm MANIFEST.json.sig", FALSE, TRUE,
      "MANIFEST.json is not a regular file" },
    { "path a number", "sed -i 's/\"path\" : \"LICENSES\"/\"path\" : 7/' MANIFEST.json; rm MANIFEST.json.sig", FALSE,
      TRUE, "files[0].path: expected a file name" },
    { "path outside", "sed -i 's/\"path\" : \"LICENSES\"/\"path\" : \"..\\/x\"/' MANIFEST.json; rm MANIFEST.json.sig",
      FALSE, TRUE, "files[0].path: expected a file name" },
    { "another architecture: golden still checked", "sed -i 's/\"arch\" : \"[a-z0-9_]*\"/\"arch\" : \"riscv64\"/' "
      "MANIFEST.json; rm MANIFEST.json.sig", FALSE, TRUE, NULL },
    { "deep manifest", "head -c 100000 /dev/zero | tr '\\000' '[' > MANIFEST.json; rm MANIFEST.json.sig", FALSE, TRUE,
      "nested deeper" },
    { "golden changed", "echo 'another story' > golden.txt; rm MANIFEST.json.sig", TRUE, TRUE,
      "differs from golden.txt" },
  };
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *base = g_build_filename (lathe_test_tmpdir (), "hostile-base", NULL);
  g_autofree char *attacker = g_build_filename (lathe_test_tmpdir (), "attacker", NULL);
  g_autofree char *mark = g_build_filename (lathe_test_tmpdir (), "ran", NULL);
  g_autoptr (GError) error = NULL;
  LatheBundleOptions o;

  if (model == NULL)
    return;
  lathe_bundle_options_init (&o);
  o.model_path = model;
  o.n_golden = 8;
  g_assert_true (lathe_bundle_create (&o, base, NULL, &error));
  g_assert_no_error (error);
  {
    g_autofree char *cmd = g_strdup_printf ("ssh-keygen -q -t ed25519 -N '' -C attacker -f '%s'", attacker);
    sh_in (lathe_test_tmpdir (), cmd);
  }
  g_setenv ("ATTACKER", attacker, TRUE);
  g_setenv ("MARK", mark, TRUE);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = g_strdup_printf ("%s/hostile-%u", lathe_test_tmpdir (), i);
      g_autofree char *copy = g_strdup_printf ("cp -a '%s' '%s'", base, dir);
      g_autoptr (GString) report = g_string_new (NULL);
      g_autofree char *signer = NULL;
      LatheBundleVerifyOptions vo;
      gboolean ok;
      sh_in (lathe_test_tmpdir (), copy);
      sh_in (dir, cases[i].tamper);
      if (cases[i].rehash)
        rehash_manifest (dir);
      lathe_bundle_verify_options_init (&vo);
      vo.trust_unsigned = cases[i].trust_unsigned;
      ok = lathe_bundle_verify (dir, &vo, report, &signer, NULL, &error);
      g_test_message ("%s: %s%s", cases[i].what, report->str, error ? error->message : "verifies");
      if (cases[i].expect == NULL)
        {
          g_assert_no_error (error);
          g_assert_true (ok);
          g_assert_nonnull (strstr (report->str, "golden: 8 greedy tokens as expected (this Lathe's lathe-run)"));
        }
      else
        {
          g_assert_false (ok);
          g_assert_nonnull (error);
          g_assert_nonnull (strstr (error->message, cases[i].expect));
          g_assert_null (signer);
        }
      g_clear_error (&error);
      /* Nothing of the bundle's ran. */
      g_assert_false (g_file_test (mark, G_FILE_TEST_EXISTS));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  lathe_test_use_signing_key ();
  g_test_add_func ("/device/registry", test_registry);
  g_test_add_func ("/device/counts", test_counts);
  g_test_add_func ("/device/probe-parse", test_probe_parse);
  g_test_add_func ("/device/ssh-output", test_ssh_output);
  g_test_add_func ("/device/probe-deploy-profile", test_probe_deploy_profile);
  g_test_add_func ("/device/host-keys-and-ports", test_host_keys_and_ports);
  g_test_add_func ("/device/interrupted", test_interrupted);
  g_test_add_func ("/device/hostile-runner", test_hostile_runner);
  g_test_add_func ("/device/disk-full", test_disk_full);
  g_test_add_func ("/device/aarch64", test_aarch64_device);
  g_test_add_func ("/device/bundle", test_bundle);
  g_test_add_func ("/device/bundle-hostile", test_bundle_hostile);
  return g_test_run ();
}
