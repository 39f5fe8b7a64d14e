/* SPDX-License-Identifier: MIT */
/* device add / list / remove / probe, and profile: measuring on a device. */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-json.h"
#include "lathe-remote.h"
#include "lathe-workspace.h"

static GPtrArray *
load_registry (char **path, GError **error)
{
  *path = lathe_devices_file ();
  return lathe_devices_load (*path, error);
}

static LatheDevice *
find_device (GPtrArray *devices, const char *path, const char *name, GError **error)
{
  LatheDevice *d = lathe_devices_find (devices, name);

  if (d == NULL)
    g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID,
                 _("no device “%s” in %s (add it with lathe-cli device add)"), name, path);
  return d;
}

static int
device_add (int argc, char **argv)
{
  g_autofree char *user = NULL, *identity = NULL, *config = NULL, *path = NULL, *arch = NULL, *prefix = NULL;
  int port = 0;
  const GOptionEntry entries[] = {
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, N_("SSH port"), "PORT" },
    { "user", 'u', 0, G_OPTION_ARG_STRING, &user, N_("Login name"), N_("USER") },
    { "identity", 'i', 0, G_OPTION_ARG_FILENAME, &identity, N_("Private key file"), N_("FILE") },
    { "ssh-config", 'F', 0, G_OPTION_ARG_FILENAME, &config, N_("ssh_config file in place of yours"), N_("FILE") },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch, N_("Architecture of lathe-run for it (default: as probed)"), N_("ARCH") },
    { "runner-prefix", 0, 0, G_OPTION_ARG_STRING, &prefix, N_("Start lathe-run through this command there"),
      N_("COMMAND") },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("NAME DESTINATION — remember a device"));
  g_autoptr (GPtrArray) devices = NULL;
  GError *error = NULL;
  LatheDevice *d;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 3 || port < 0 || port > 65535)
    {
      lathe_cli_error (_("usage: lathe-cli device add NAME DESTINATION [-p PORT] [-u USER] [-i KEY] [-F CONFIG]"));
      return 2;
    }
  if ((devices = load_registry (&path, &error)) == NULL || (d = lathe_device_new (argv[1], argv[2], &error)) == NULL)
    return lathe_cli_fail (error);
  if (lathe_devices_find (devices, argv[1]) != NULL)
    {
      g_object_unref (d);
      lathe_cli_error (_("%s: a device “%s” exists already (remove it first)"), path, argv[1]);
      return 1;
    }
  lathe_device_set_port (d, port);
  lathe_device_set_user (d, user);
  lathe_device_set_identity (d, identity);
  lathe_device_set_ssh_config (d, config);
  lathe_device_set_arch (d, arch);
  lathe_device_set_runner_prefix (d, prefix);
  g_ptr_array_add (devices, d);
  if (!lathe_devices_save (path, devices, &error))
    return lathe_cli_fail (error);
  return 0;
}

static int
device_list (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = { { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL }, { NULL } };
  g_autoptr (GOptionContext) context = g_option_context_new (_("— the devices remembered"));
  g_autoptr (GPtrArray) devices = NULL;
  g_autofree char *path = NULL;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if ((devices = load_registry (&path, &error)) == NULL)
    return lathe_cli_fail (error);
  if (json)
    {
      g_autoptr (JsonBuilder) b = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;
      g_autofree char *text = NULL;
      json_builder_begin_array (b);
      for (guint i = 0; i < devices->len; i++)
        json_builder_add_value (b, lathe_device_to_json (g_ptr_array_index (devices, i)));
      json_builder_end_array (b);
      root = json_builder_get_root (b);
      text = lathe_json_to_string (root, TRUE);
      printf ("%s\n", text);
      return 0;
    }
  for (guint i = 0; i < devices->len; i++)
    {
      LatheDevice *d = g_ptr_array_index (devices, i);
      printf ("%-16s %s", lathe_device_get_name (d), lathe_device_get_destination (d));
      if (lathe_device_get_port (d) > 0)
        printf (_(" port %d"), lathe_device_get_port (d));
      if (lathe_device_get_user (d) != NULL)
        printf (_(" user %s"), lathe_device_get_user (d));
      printf ("\n");
    }
  return 0;
}

static int
device_remove (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (_("NAME — forget a device"));
  g_autoptr (GPtrArray) devices = NULL;
  g_autofree char *path = NULL;
  GError *error = NULL;
  LatheDevice *d;

  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      lathe_cli_error (_("usage: lathe-cli device remove NAME"));
      return 2;
    }
  if ((devices = load_registry (&path, &error)) == NULL || (d = find_device (devices, path, argv[1], &error)) == NULL)
    return lathe_cli_fail (error);
  g_ptr_array_remove (devices, d);
  if (!lathe_devices_save (path, devices, &error))
    return lathe_cli_fail (error);
  return 0;
}

int
lathe_cli_device_fail (LatheDevice *d, GError *error)
{
  g_autofree char *fingerprint = NULL, *entries = NULL;
  LatheSshOptions o;

  if (d == NULL || !g_error_matches (error, LATHE_SSH_ERROR, LATHE_SSH_ERROR_HOST_KEY_UNKNOWN))
    return lathe_cli_fail (error);
  lathe_ssh_options_init (&o);
  entries = lathe_ssh_scan_host_key (d, &o, &fingerprint, NULL, NULL);
  lathe_cli_error ("%s", error->message);
  if (fingerprint != NULL)
    fprintf (stderr, _("It presents this host key:\n  %s\nCompare it with the key on the device (there: ssh-keygen "
                       "-lf /etc/ssh/ssh_host_ed25519_key.pub); if it matches, run again with "
                       "--accept-new-host-key.\n"),
             fingerprint);
  g_error_free (error);
  return 1;
}

static void
print_probe (JsonObject *p)
{
  JsonArray *simd = json_object_get_array_member (p, "simd");
  JsonArray *temps = json_object_get_array_member (p, "temperatures");

  printf (_("os         %s, kernel %s\n"), json_object_get_string_member (p, "os"),
          json_object_get_string_member (p, "kernel"));
  printf (_("cpu        %s (%s), %" G_GINT64_FORMAT " cores\n"), json_object_get_string_member (p, "cpu"),
          json_object_get_string_member (p, "arch"), json_object_get_int_member (p, "cores"));
  printf (_("simd      "));
  for (guint i = 0; simd != NULL && i < json_array_get_length (simd); i++)
    printf (" %s", json_array_get_string_element (simd, i));
  printf (_("\nmemory     %" G_GINT64_FORMAT " MB (%" G_GINT64_FORMAT " MB available), disk %" G_GINT64_FORMAT
            " MB free\n"),
          json_object_get_int_member (p, "memory_mb"), json_object_get_int_member (p, "memory_available_mb"),
          json_object_get_int_member (p, "disk_free_mb"));
  if (json_object_has_member (p, "governor"))
    printf (_("clocks     %s, %" G_GINT64_FORMAT "–%" G_GINT64_FORMAT " MHz\n"),
            json_object_get_string_member (p, "governor"),
            json_object_get_int_member_with_default (p, "freq_min_mhz", 0),
            json_object_get_int_member_with_default (p, "freq_max_mhz", 0));
  for (guint i = 0; temps != NULL && i < json_array_get_length (temps); i++)
    {
      JsonObject *t = json_array_get_object_element (temps, i);
      printf (_("sensor     %s %.1f °C\n"), json_object_get_string_member (t, "sensor"),
              json_object_get_double_member (t, "celsius"));
    }
}

static int
device_probe (int argc, char **argv)
{
  gboolean json = FALSE, accept = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { "accept-new-host-key", 0, 0, G_OPTION_ARG_NONE, &accept, N_("Accept (and remember) an unknown host key"),
      NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("NAME — what the device is and has"));
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (JsonNode) probe = NULL;
  g_autofree char *path = NULL;
  GError *error = NULL;
  LatheSshOptions o;
  LatheDevice *d = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      lathe_cli_error (_("usage: lathe-cli device probe NAME [--json] [--accept-new-host-key]"));
      return 2;
    }
  lathe_ssh_options_init (&o);
  o.accept_new_host_key = accept;
  if ((devices = load_registry (&path, &error)) == NULL || (d = find_device (devices, path, argv[1], &error)) == NULL
      || (probe = lathe_device_probe (d, &o, NULL, &error)) == NULL)
    return lathe_cli_device_fail (d, error);
  if (json)
    {
      g_autofree char *text = lathe_json_to_string (probe, TRUE);
      printf ("%s\n", text);
    }
  else
    print_probe (json_node_get_object (probe));
  return 0;
}

int
lathe_cli_device (int argc, char **argv)
{
  static const struct
  {
    const char *name;
    int (*run) (int, char **);
  } subs[] = { { "add", device_add },       { "list", device_list },
               { "remove", device_remove }, { "probe", device_probe },
               { "install", lathe_cli_device_install } };

  if (argc >= 2)
    for (guint i = 0; i < G_N_ELEMENTS (subs); i++)
      if (strcmp (argv[1], subs[i].name) == 0)
        return subs[i].run (argc - 1, argv + 1);
  lathe_cli_error (_("usage: lathe-cli device add|list|remove|probe|install …"));
  return 2;
}

/* profile ------------------------------------------------------------------- */

static gboolean
parse_ints (const char *list, const char *option, GArray *out)
{
  g_autofree char *bad = NULL;

  if (list == NULL)
    return TRUE;
  if (!lathe_parse_counts (list, 1 << 20, out, &bad) || out->len == 0)
    {
      lathe_cli_error (_("%s: expected positive whole numbers separated by commas, not “%s”"), option,
                       bad != NULL ? bad : list);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_depths (const char *list, GArray *out)
{
  g_autofree char *bad = NULL;

  if (!lathe_parse_depths (list, 1 << 20, out, &bad) || out->len == 0)
    {
      lathe_cli_error (_("--depths: expected token counts from 0 separated by commas (0,512,2048), not “%s”"),
                       bad != NULL ? bad : list);
      return FALSE;
    }
  return TRUE;
}

static void
profile_progress_cb (gpointer user, int done, int total, const char *what)
{
  fprintf (stderr, _("[%3d %%] %s\n"), total > 0 ? (int) ((gint64) done * 100 / total) : 0, what);
}

static void
print_runs (JsonObject *p)
{
  JsonArray *runs = json_object_get_array_member (p, "runs");

  printf (_("%-8s %-7s %14s %14s %10s %12s %10s\n"), _("threads"), _("depth"), _("prefill tok/s"), _("decode tok/s"),
          _("peak MB"), _("temp °C"), _("J/token"));
  for (guint i = 0; runs != NULL && i < json_array_get_length (runs); i++)
    {
      JsonObject *r = json_array_get_object_element (runs, i);
      JsonObject *b = json_object_get_object_member (r, "bench");
      g_autofree char *temp = json_object_has_member (r, "temperature_after")
                                ? g_strdup_printf ("%.0f→%.0f", json_object_get_double_member (r, "temperature_before"),
                                                   json_object_get_double_member (r, "temperature_after"))
                                : g_strdup ("—");
      g_autofree char *joules = json_object_has_member (r, "joules_per_token")
                                  ? g_strdup_printf ("%.4f", json_object_get_double_member (r, "joules_per_token"))
                                  : g_strdup ("—");
      printf ("%-8" G_GINT64_FORMAT " %-7" G_GINT64_FORMAT " %14.1f %14.1f %10.1f %12s %10s\n",
              json_object_get_int_member (r, "threads"), json_object_get_int_member (r, "depth"),
              json_object_get_double_member (json_object_get_object_member (b, "prefill_tps"), "mean"),
              json_object_get_double_member (json_object_get_object_member (b, "decode_tps"), "mean"),
              (double) json_object_get_int_member (b, "peak_rss_bytes") / 1e6, temp, joules);
    }
}

/* The profile as a point of the workspace. */
static gboolean
add_to_workspace (const char *ws_dir, const char *model, JsonNode *profile, GError **error)
{
  g_autoptr (LatheWorkspace) ws = lathe_workspace_open (ws_dir, error);

  return ws != NULL && lathe_workspace_add_profile (ws, model, profile, error) != NULL;
}

int
lathe_cli_profile (int argc, char **argv)
{
  g_autofree char *threads = NULL, *depths = NULL, *ws = NULL, *path = NULL;
  g_auto (GStrv) power = NULL;
  int n_gen = 64, reps = 3, run_timeout = -1, n_prompt = 128;
  gboolean json = FALSE, accept = FALSE, quiet = FALSE;
  const GOptionEntry entries[] = {
    { "threads", 't', 0, G_OPTION_ARG_STRING, &threads, N_("Thread counts (default: the device's cores)"), N_("LIST") },
    { "prompt", 'p', 0, G_OPTION_ARG_INT, &n_prompt, N_("Prompt tokens of the prefill test (default 128)"), "N" },
    { "depths", 'd', 0, G_OPTION_ARG_STRING, &depths,
      N_("Tokens already in the cache when each run measures, as llama-bench -d (default 0)"), N_("LIST") },
    { "n-gen", 'n', 0, G_OPTION_ARG_INT, &n_gen, N_("Generated tokens per run (default 64)"), "N" },
    { "reps", 'r', 0, G_OPTION_ARG_INT, &reps, N_("Repetitions after a warm-up (default 3)"), "N" },
    { "workspace", 'w', 0, G_OPTION_ARG_FILENAME, &ws, N_("Add the result to this workspace"), N_("DIR") },
    { "power-file", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &power,
      N_("A file on the device giving power in µW, or CURRENT:VOLTAGE files in mA and mV, read during each run "
         "for energy per token (repeat to add; default: the hwmon power sensors found)"), N_("PATH") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the profile as JSON"), NULL },
    { "accept-new-host-key", 0, 0, G_OPTION_ARG_NONE, &accept, N_("Accept (and remember) an unknown host key"),
      NULL },
    { "run-timeout", 0, 0, G_OPTION_ARG_INT, &run_timeout,
      N_("Stop a run (and kill it on the device) after this many seconds (default 3600; 0: never)"), N_("SECONDS") },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("DEVICE MODEL — copy lathe-run and the model to a device and measure it there"));
  g_autoptr (GArray) t = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GArray) p = g_array_new (FALSE, FALSE, sizeof (int));
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (JsonNode) profile = NULL, partial = NULL;
  LatheProfileOptions po;
  LatheSshOptions o;
  GError *error = NULL;
  LatheDevice *d;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 3 || n_gen < 1 || reps < 1 || run_timeout < -1 || n_prompt < 1 || n_prompt > 65536)
    {
      lathe_cli_error (_("usage: lathe-cli profile DEVICE MODEL [-t 1,2,4] [-p 128] [-d 0,512] [-n 64] [-r 3] [-w WORKSPACE]"));
      return 2;
    }
  if (!parse_ints (threads, "--threads", t) || !parse_depths (depths != NULL ? depths : "0", p))
    return 2;
  if ((devices = load_registry (&path, &error)) == NULL || (d = find_device (devices, path, argv[1], &error)) == NULL)
    return lathe_cli_fail (error);
  lathe_ssh_options_init (&o);
  o.accept_new_host_key = accept;
  if (run_timeout >= 0)
    o.run_timeout = run_timeout;
  lathe_profile_options_init (&po);
  po.threads = (int *) t->data;
  po.n_threads = t->len;
  po.depths = (int *) p->data;
  po.n_depths = p->len;
  po.n_gen = n_gen;
  po.n_prompt = n_prompt;
  po.reps = reps;
  po.power_files = (const char *const *) power;
  profile = lathe_device_profile (d, argv[2], &po, &o, quiet ? NULL : profile_progress_cb, NULL, &partial, NULL,
                                  &error);
  if (profile == NULL)
    {
      if (partial != NULL)
        {
          fprintf (stderr, _("the runs finished before the failure:\n"));
          print_runs (json_node_get_object (partial));
        }
      return lathe_cli_device_fail (d, error);
    }
  if (json)
    {
      g_autofree char *text = lathe_json_to_string (profile, TRUE);
      printf ("%s\n", text);
    }
  else
    print_runs (json_node_get_object (profile));
  if (ws != NULL && !add_to_workspace (ws, argv[2], profile, &error))
    return lathe_cli_fail (error);
  return 0;
}
