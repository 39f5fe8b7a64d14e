/* SPDX-License-Identifier: MIT */
/* The Devices page under a real display, against the test's own sshd on
 * 127.0.0.1: a device added through the dialog (bad fields refused
 * inline), its unknown host key shown with the fingerprint ssh-keygen
 * gives and trusted only when the user says so, the probe shown, the open
 * model profiled there into a point of the workspace with progress in the
 * job bar, a long profile cancelled with nothing left running on the device
 * and the run done before kept, and the device removed. */
#include "config.h"

#include <adwaita.h>
#include <string.h>

#include "gui-test.h"
#include "lathe-device-dialog.h"
#include "lathe-test.h"
#include "lathe-window.h"
#include "sshd-fixture.h"

static GSettings *settings;

static gboolean
job_idle (gpointer data)
{
  return !lathe_session_get_job_running (lathe_window_get_session (data));
}

static gboolean
has_host_key_question (gpointer page)
{
  return lathe_devices_page_get_host_key_dialog (page) != NULL;
}

/* The newest toplevel of a type (a dialog the page opened). */
static GtkWindow *
find_toplevel (GType type)
{
  GListModel *tops = gtk_window_get_toplevels (); /* not ours */
  GtkWindow *found = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (tops); i++)
    {
      g_autoptr (GObject) w = g_list_model_get_item (tops, i);
      if (G_TYPE_CHECK_INSTANCE_TYPE (w, type) && gtk_widget_get_visible (GTK_WIDGET (w)))
        found = GTK_WINDOW (w);
    }
  return found;
}

static guint
n_device_points (LatheWindow *win, const char *device)
{
  GListModel *vs = lathe_workspace_get_variants (lathe_session_get_workspace (lathe_window_get_session (win)));
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (vs); i++)
    {
      g_autoptr (LatheVariant) v = g_list_model_get_item (vs, i);
      n += g_strcmp0 (lathe_variant_get_device (v), device) == 0;
    }
  return n;
}

static LatheVariant *
last_device_point (LatheWindow *win)
{
  GListModel *vs = lathe_workspace_get_variants (lathe_session_get_workspace (lathe_window_get_session (win)));
  LatheVariant *last = NULL;

  for (guint i = 0; i < g_list_model_get_n_items (vs); i++)
    {
      LatheVariant *v = g_list_model_get_item (vs, i);
      if (lathe_variant_get_device (v) != NULL)
        last = v;
      g_object_unref (v); /* the workspace keeps it */
    }
  return last;
}

/* The job texts the window showed, in order. */
static void
job_text_cb (LatheSession *session, GParamSpec *pspec, GPtrArray *texts)
{
  const char *t = lathe_session_get_job_text (session);

  if (t != NULL && (texts->len == 0 || g_strcmp0 (g_ptr_array_index (texts, texts->len - 1), t) != 0))
    g_ptr_array_add (texts, g_strdup (t));
}

static gboolean
runner_running (SshdFixture *f, const char *args)
{
  g_autofree char *out = sshd_fixture_sh ("pgrep -u %s -f '^[^ ]*blobs/[0-9a-f]* bench .*%s' || true", f->user, args);

  return *g_strstrip (out) != '\0';
}

typedef struct
{
  SshdFixture *f;
  const char *args;
  LatheWindow *win;
  LatheDevicesPage *dp;
} Running;

static gboolean
long_run_started (gpointer data)
{
  Running *r = data;

  /* A profile that failed before the long run would never get there. */
  if (!lathe_session_get_job_running (lathe_window_get_session (r->win)))
    g_error ("the profile ended before its long run: %s", lathe_devices_page_get_message (r->dp));
  return runner_running (r->f, r->args);
}

static void
add_device (LatheWindow *win, LatheDevicesPage *dp, SshdFixture *f)
{
  LatheDeviceDialog *dialog;

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.add", NULL));
  dialog = LATHE_DEVICE_DIALOG (find_toplevel (LATHE_TYPE_DEVICE_DIALOG));
  g_assert_nonnull (dialog);
  g_assert_nonnull (strstr (lathe_device_dialog_get_problem (dialog), "Name"));
  lathe_device_dialog_set_fields (dialog, "my dev", "dev", -1, NULL, NULL, f->ssh_config);
  g_test_message ("bad name: %s", lathe_device_dialog_get_problem (dialog));
  g_assert_nonnull (lathe_device_dialog_get_problem (dialog));
  lathe_device_dialog_set_fields (dialog, "dev", NULL, -1, NULL, "/nonexistent/id_ed25519", NULL);
  g_assert_nonnull (strstr (lathe_device_dialog_get_problem (dialog), "/nonexistent/id_ed25519"));
  lathe_device_dialog_set_fields (dialog, NULL, NULL, -1, NULL, "", NULL);
  g_assert_null (lathe_device_dialog_get_problem (dialog));
  gui_test_screenshot (GTK_WIDGET (dialog), "dialog-device.png");
  g_assert_true (lathe_device_dialog_save (dialog, NULL));
  g_assert_cmpuint (lathe_devices_page_get_n_devices (dp), ==, 1);
  g_assert_cmpstr (lathe_device_get_name (lathe_devices_page_get_selected (dp)), ==, "dev");
  /* A second device may not take the name. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.add", NULL));
  dialog = LATHE_DEVICE_DIALOG (find_toplevel (LATHE_TYPE_DEVICE_DIALOG));
  lathe_device_dialog_set_fields (dialog, "dev", "otherhost", -1, NULL, NULL, NULL);
  g_assert_nonnull (strstr (lathe_device_dialog_get_problem (dialog), "named dev already"));
  gtk_window_destroy (GTK_WINDOW (dialog));
}

/* The probe that follows adding meets an unknown host key: shown with its
 * fingerprint; refused once, then trusted. */
static void
answer_host_key (LatheWindow *win, LatheDevicesPage *dp, SshdFixture *f)
{
  g_autofree char *expected = sshd_fixture_sh ("ssh-keygen -lf '%s/host_key.pub' | cut -d' ' -f2", f->dir);
  g_autofree char *known = NULL;
  AdwMessageDialog *q;

  g_strstrip (expected);
  gui_test_wait_until (has_host_key_question, dp, "the question about the host key");
  q = lathe_devices_page_get_host_key_dialog (dp);
  g_test_message ("%s", adw_message_dialog_get_body (q));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (q), expected));
  gui_test_screenshot (GTK_WIDGET (q), "dialog-host-key.png");
  adw_message_dialog_response (q, "cancel");
  g_assert_null (lathe_devices_page_get_host_key_dialog (dp));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "not trusted"));
  g_assert_null (lathe_devices_page_get_probe (dp));
  g_assert_true (g_file_get_contents (f->known_hosts, &known, NULL, NULL));
  g_assert_cmpstr (known, ==, "");

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.probe", NULL));
  gui_test_wait_until (has_host_key_question, dp, "the question, asked again");
  adw_message_dialog_response (lathe_devices_page_get_host_key_dialog (dp), "trust");
  gui_test_wait_until (job_idle, win, "the probe after trusting the key");
  g_assert_nonnull (lathe_devices_page_get_probe (dp));
  g_clear_pointer (&known, g_free);
  g_assert_true (g_file_get_contents (f->known_hosts, &known, NULL, NULL));
  g_assert_nonnull (strstr (known, "ssh-ed25519"));
}

static void
profile (LatheWindow *win, LatheDevicesPage *dp)
{
  LatheSession *session = lathe_window_get_session (win);
  g_autoptr (GPtrArray) texts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) error = NULL;
  LatheVariant *v;
  gulong id;

  /* Bad settings are explained and the action is off. */
  lathe_devices_page_set_profile (dp, NULL, "0", "16", 16, 1);
  g_assert_nonnull (strstr (lathe_devices_page_get_profile_problem (dp), "Threads"));
  g_assert_false (lathe_devices_page_profile (dp, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  lathe_devices_page_set_profile (dp, NULL, "1, 2", "", 16, 1);
  g_assert_nonnull (strstr (lathe_devices_page_get_profile_problem (dp), "depths"));
  lathe_devices_page_set_profile (dp, NULL, "1, 2", "16", 16, 1);
  g_assert_null (lathe_devices_page_get_profile_problem (dp));

  id = g_signal_connect (session, "notify::job-text", G_CALLBACK (job_text_cb), texts);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.profile", NULL));
  g_assert_true (lathe_session_get_job_running (session));
  gui_test_wait_until (job_idle, win, "the profile");
  g_signal_handler_disconnect (session, id);
  for (guint i = 0; i < texts->len; i++)
    g_test_message ("job: %s", (char *) texts->pdata[i]);
  g_test_message ("outcome: %s", lathe_devices_page_get_message (dp));
  /* Progress streamed: the copies, and each step of each run as the runner
   * on the device reported it. */
  g_assert_true (g_ptr_array_find_with_equal_func (
    texts, "dev: run 1 of 2 (1 thread, 16 tokens deep): decode warm-up", g_str_equal, NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (texts, "dev: run 2 of 2 (2 threads, 16 tokens deep): decode",
                                                   g_str_equal, NULL));
  g_test_message ("%s", lathe_devices_page_get_message (dp));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "tok/s"));
  g_assert_cmpuint (n_device_points (win, "dev"), ==, 1);
  v = last_device_point (win);
  g_assert_cmpfloat (lathe_variant_get_metric (v, LATHE_METRIC_DECODE_TPS), >, 0);
  g_assert_cmpfloat (lathe_variant_get_metric (v, LATHE_METRIC_PEAK_MEMORY_MB), >, 0);
  g_assert_nonnull (strstr (lathe_variant_get_name (v), "on dev"));
  gui_test_screenshot (GTK_WIDGET (win), "page-devices.png");
}

/* The Trade-offs page sends its selected variant to the Devices page. */
static void
send_from_tradeoffs (LatheWindow *win, LatheDevicesPage *dp, const char *model)
{
  LatheWorkspace *ws = lathe_session_get_workspace (lathe_window_get_session (win));
  LatheTradeoffsPage *tp = lathe_window_get_tradeoffs_page (win);
  g_autoptr (LatheVariant) v = lathe_variant_new ("copy", "A copy");
  g_autofree char *canon = g_canonicalize_filename (model, NULL);
  g_autoptr (GError) error = NULL;

  lathe_variant_set_file (v, canon);
  lathe_variant_set_recipe (v, "{}");
  lathe_variant_set_metric (v, LATHE_METRIC_FILE_MB, 1.2);
  lathe_variant_set_metric (v, LATHE_METRIC_KL_MEAN, 0);
  g_assert_true (lathe_workspace_add (ws, v, &error));
  g_assert_no_error (error);
  g_assert_null (lathe_devices_page_get_profile_variant (dp));
  gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "tradeoffs");
  lathe_chart_set_selected (lathe_tradeoffs_page_get_chart (tp), v);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (tp), "tradeoffs.profile-on-device", NULL));
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "devices");
  g_assert_cmpstr (lathe_devices_page_get_profile_variant (dp), ==, "copy");
}

/* The chosen variant installed as a bundle, its golden output checked on the device. */
static void
install (LatheWindow *win, LatheDevicesPage *dp, SshdFixture *f)
{
  g_autofree char *listing = NULL;

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.install", NULL));
  g_assert_true (lathe_session_get_job_running (lathe_window_get_session (win)));
  gui_test_wait_until (job_idle, win, "the installation");
  g_test_message ("%s", lathe_devices_page_get_message (dp));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "A copy is installed on dev"));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "golden: OK"));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "signature: good, signed by "));
  listing = sshd_fixture_sh ("ls '%s/lathe-bundles/A-copy'", f->home);
  g_assert_nonnull (strstr (listing, "run.sh"));
  g_assert_nonnull (strstr (listing, "MANIFEST.json"));
  gui_test_screenshot (GTK_WIDGET (win), "page-devices-installed.png");
}

/* A long profile cancelled while its second run runs: it stops there, and
 * the first run stays as a point. */
static void
cancel_profile (LatheWindow *win, LatheDevicesPage *dp, SshdFixture *f)
{
  Running r = { f, "-d 400 ", win, dp };

  lathe_devices_page_set_profile (dp, NULL, "1", "8, 400", 1000, 4);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.profile", NULL));
  gui_test_wait_until (long_run_started, &r, "the long run on the device");
  g_test_message ("cancelling during: %s", lathe_session_get_job_text (lathe_window_get_session (win)));
  gui_test_screenshot (GTK_WIDGET (win), "page-devices-profiling.png");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.cancel-job", NULL));
  gui_test_wait_until (job_idle, win, "the cancelled profile to stop");
  g_test_message ("%s", lathe_devices_page_get_message (dp));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "Cancelled"));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "kept as “A copy on dev”"));
  g_assert_cmpuint (n_device_points (win, "dev"), ==, 2);
  for (int i = 0; i < 100 && runner_running (f, "-d 400 "); i++)
    g_usleep (50000);
  g_assert_false (runner_running (f, "-d 400 "));
}

static void
remove_device (LatheDevicesPage *dp, const char *registry)
{
  g_autofree char *kept = g_build_filename (lathe_test_tmpdir (), "lathe", "probes", "dev.json", NULL);
  AdwMessageDialog *confirm;
  g_autofree char *text = NULL;

  /* The probe is kept: a new page (as after a restart) shows it. */
  g_assert_true (g_file_test (kept, G_FILE_TEST_IS_REGULAR));
  {
    LatheDevicesPage *fresh = g_object_ref_sink (g_object_new (LATHE_TYPE_DEVICES_PAGE, NULL));
    g_assert_true (lathe_devices_page_select (fresh, "dev"));
    g_assert_nonnull (lathe_devices_page_get_probe (fresh));
    g_object_unref (fresh);
  }

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.remove", NULL));
  confirm = ADW_MESSAGE_DIALOG (find_toplevel (ADW_TYPE_MESSAGE_DIALOG));
  g_assert_nonnull (confirm);
  adw_message_dialog_response (confirm, "remove");
  g_assert_cmpuint (lathe_devices_page_get_n_devices (dp), ==, 0);
  g_assert_true (g_file_get_contents (registry, &text, NULL, NULL));
  g_assert_null (strstr (text, "\"dev\""));
  g_assert_false (g_file_test (kept, G_FILE_TEST_EXISTS));
}

static void
test_devices (void)
{
  g_autofree char *model = lathe_test_shared ("models/stories260K.gguf");
  g_autofree char *registry = g_build_filename (lathe_test_tmpdir (), "devices.json", NULL);
  LatheWindow *win;
  LatheDevicesPage *dp;
  SshdFixture f;

  if (model == NULL || !sshd_fixture_start (&f, "gui"))
    return;
  g_setenv ("LATHE_DEVICES", registry, TRUE);
  /* The host key is not known yet: the page must ask. */
  g_assert_true (g_file_set_contents (f.known_hosts, "", -1, NULL));
  win = gui_test_open_model (settings, model);
  dp = lathe_window_get_devices_page (win);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.show-page", "s", "devices"));
  g_assert_cmpstr (lathe_window_get_visible_page (win), ==, "devices");
  g_assert_cmpuint (lathe_devices_page_get_n_devices (dp), ==, 0);
  gui_test_screenshot (GTK_WIDGET (win), "page-devices-empty.png");

  add_device (win, dp, &f);
  answer_host_key (win, dp, &f);
  profile (win, dp);
  send_from_tradeoffs (win, dp, model);
  install (win, dp, &f);
  cancel_profile (win, dp, &f);
  /* A device that is down: said in the page, the window keeps working. */
  sshd_fixture_kill (&f);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dp), "devices.probe", NULL));
  gui_test_wait_until (job_idle, win, "the probe of a device that is down");
  g_test_message ("%s", lathe_devices_page_get_message (dp));
  g_assert_nonnull (strstr (lathe_devices_page_get_message (dp), "nothing listens for SSH there"));
  g_assert_nonnull (lathe_devices_page_get_probe (dp)); /* the last one stays */
  gui_test_screenshot (GTK_WIDGET (win), "page-devices-down.png");
  remove_device (dp, registry);
  /* The points stay on the chart. */
  g_assert_cmpuint (n_device_points (win, "dev"), ==, 2);
  gtk_window_destroy (GTK_WINDOW (win));
  sshd_fixture_stop (&f);
}

int
main (int argc, char **argv)
{
  g_setenv ("XDG_DATA_HOME", lathe_test_tmpdir (), TRUE);
  g_setenv ("XDG_CACHE_HOME", lathe_test_tmpdir (), TRUE);
  gtk_test_init (&argc, &argv, NULL);
  lathe_test_use_signing_key ();
  adw_init ();
  settings = g_settings_new ("io.github.lathe.Lathe");
  g_test_add_func ("/lathe/gui/devices", test_devices);
  return g_test_run ();
}
