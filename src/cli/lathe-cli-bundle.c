/* SPDX-License-Identifier: MIT */
/* bundle create / verify, and device install. */
#define G_LOG_DOMAIN "lathe-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <stdio.h>
#include <string.h>

#include "lathe-bundle.h"
#include "lathe-cli.h"
#include "lathe-error.h"
#include "lathe-remote.h"
#include "lathe-workspace.h"

static LatheDevice *
registry_device (GPtrArray **devices, const char *name, GError **error)
{
  g_autofree char *path = lathe_devices_file ();
  LatheDevice *d;

  if ((*devices = lathe_devices_load (path, error)) == NULL)
    return NULL;
  if ((d = lathe_devices_find (*devices, name)) == NULL)
    g_set_error (error, LATHE_ERROR, LATHE_ERROR_INVALID, _("no device “%s” in %s (add it with lathe-cli device add)"),
                 name, path);
  return d;
}

static int
bundle_create (int argc, char **argv)
{
  g_autofree char *device = NULL, *arch = NULL, *ws_dir = NULL, *out = NULL, *prompt = NULL, *model = NULL;
  int n_golden = 32;
  gboolean accept = FALSE;
  const GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, N_("For this device (its architecture, as probed)"), N_("NAME") },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch, N_("For this architecture (default: this machine's)"), N_("ARCH") },
    { "workspace", 'w', 0, G_OPTION_ARG_FILENAME, &ws_dir, N_("VARIANT names a variant of this workspace"), N_("DIR") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Folder, or FILE.tar.gz, to write"), N_("PATH") },
    { "prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, N_("Prompt of the golden vectors"), N_("TEXT") },
    { "n-golden", 'n', 0, G_OPTION_ARG_INT, &n_golden, N_("Greedy tokens in the golden vectors (default 32)"), "N" },
    { "accept-new-host-key", 0, 0, G_OPTION_ARG_NONE, &accept, N_("Accept (and remember) an unknown host key"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("VARIANT — a bundle that runs on the device"));
  g_autoptr (LatheWorkspace) ws = NULL;
  g_autoptr (GPtrArray) devices = NULL;
  g_autoptr (JsonNode) probe = NULL, measurements = NULL;
  LatheBundleOptions o;
  LatheVariant *v = NULL;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2 || out == NULL || n_golden < 1 || (device != NULL && arch != NULL))
    {
      lathe_cli_error (_("usage: lathe-cli bundle create VARIANT [--device NAME | --arch ARCH] [-w WORKSPACE] "
                         "-o DIR|FILE.tar.gz"));
      return 2;
    }
  lathe_bundle_options_init (&o);
  if (ws_dir != NULL)
    {
      if ((ws = lathe_workspace_open (ws_dir, &error)) == NULL)
        return lathe_cli_fail (error);
      if ((v = lathe_workspace_find (ws, argv[1])) == NULL)
        {
          lathe_cli_error (_("%s: no variant “%s”"), ws_dir, argv[1]);
          return 1;
        }
      model = lathe_workspace_dup_file (ws, v);
      o.name = lathe_variant_get_name (v);
      o.recipe_json = lathe_variant_get_recipe (v);
      o.measurements = measurements = lathe_variant_dup_metrics (v);
    }
  else
    model = g_strdup (argv[1]);
  if (device != NULL)
    {
      LatheDevice *d = registry_device (&devices, device, &error);
      LatheSshOptions so;
      lathe_ssh_options_init (&so);
      so.accept_new_host_key = accept;
      if (d == NULL || (probe = lathe_device_probe (d, &so, NULL, &error)) == NULL)
        return lathe_cli_fail (error);
      o.arch = lathe_device_get_arch (d) != NULL ? lathe_device_get_arch (d)
                                                 : json_object_get_string_member (json_node_get_object (probe), "arch");
    }
  else
    o.arch = arch;
  o.model_path = model;
  o.n_golden = n_golden;
  if (prompt != NULL)
    o.prompt = prompt;
  if (!lathe_bundle_create (&o, out, NULL, &error))
    return lathe_cli_fail (error);
  fprintf (stderr, _("wrote %s\n"), out);
  return 0;
}

static int
bundle_verify (int argc, char **argv)
{
  g_autoptr (GOptionContext) context = g_option_context_new (_("DIR|FILE.tar.gz — check a bundle's files and golden output"));
  g_autoptr (GString) report = g_string_new (NULL);
  GError *error = NULL;

  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      lathe_cli_error (_("usage: lathe-cli bundle verify DIR|FILE.tar.gz"));
      return 2;
    }
  if (!lathe_bundle_verify (argv[1], report, NULL, &error))
    {
      fputs (report->str, stdout);
      return lathe_cli_fail (error);
    }
  fputs (report->str, stdout);
  return 0;
}

int
lathe_cli_bundle (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "create") == 0)
    return bundle_create (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "verify") == 0)
    return bundle_verify (argc - 1, argv + 1);
  lathe_cli_error (_("usage: lathe-cli bundle create|verify …"));
  return 2;
}

int
lathe_cli_device_install (int argc, char **argv)
{
  gboolean accept = FALSE;
  const GOptionEntry entries[] = {
    { "accept-new-host-key", 0, 0, G_OPTION_ARG_NONE, &accept, N_("Accept (and remember) an unknown host key"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (_("BUNDLE DEVICE — copy a bundle there and verify it there"));
  g_autoptr (GPtrArray) devices = NULL;
  g_autofree char *output = NULL;
  LatheSshOptions o;
  LatheDevice *d;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 3)
    {
      lathe_cli_error (_("usage: lathe-cli device install BUNDLE DEVICE"));
      return 2;
    }
  lathe_ssh_options_init (&o);
  o.accept_new_host_key = accept;
  if ((d = registry_device (&devices, argv[2], &error)) == NULL)
    return lathe_cli_fail (error);
  if (!lathe_bundle_install (argv[1], d, &o, &output, NULL, &error))
    {
      if (output != NULL)
        fputs (output, stdout);
      return lathe_cli_device_fail (d, error);
    }
  fputs (output, stdout);
  return 0;
}
