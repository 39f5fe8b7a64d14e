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
  g_autofree char *key = NULL, *signer = NULL;
  int n_golden = 32;
  gboolean accept = FALSE, no_signature = FALSE;
  const GOptionEntry entries[] = {
    { "device", 'd', 0, G_OPTION_ARG_STRING, &device, N_("For this device (its architecture, as probed)"), N_("NAME") },
    { "arch", 0, 0, G_OPTION_ARG_STRING, &arch, N_("For this architecture (default: this machine's)"), N_("ARCH") },
    { "workspace", 'w', 0, G_OPTION_ARG_FILENAME, &ws_dir, N_("VARIANT names a variant of this workspace"), N_("DIR") },
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("Folder, or FILE.tar.gz, to write"), N_("PATH") },
    { "prompt", 0, 0, G_OPTION_ARG_STRING, &prompt, N_("Prompt of the golden vectors"), N_("TEXT") },
    { "n-golden", 'n', 0, G_OPTION_ARG_INT, &n_golden, N_("Greedy tokens in the golden vectors (default 32)"), "N" },
    { "sign-key", 0, 0, G_OPTION_ARG_FILENAME, &key,
      N_("Sign with this SSH key (default: $LATHE_SIGN_KEY, else ~/.ssh/id_ed25519, id_ecdsa or id_rsa)"), N_("KEY") },
    { "unsigned", 0, 0, G_OPTION_ARG_NONE, &no_signature,
      N_("Write no signature (verify and install then refuse it unless told --trust-unsigned)"), NULL },
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
  o.sign_key = key;
  o.unsigned_bundle = no_signature;
  if ((!no_signature && (signer = lathe_bundle_signer (&o, &error)) == NULL)
      || !lathe_bundle_create (&o, out, NULL, &error))
    return lathe_cli_fail (error);
  if (signer != NULL)
    fprintf (stderr, _("wrote %s, signed by %s\n"), out, signer);
  else
    fprintf (stderr, _("wrote %s, unsigned\n"), out);
  return 0;
}

/* The options of verify and install: whom to trust. */
static char *allowed_signers;
static gboolean trust_unsigned, bundle_runner;

static const GOptionEntry trust_entries[] = {
  { "allowed-signers", 0, 0, G_OPTION_ARG_FILENAME, &allowed_signers,
    N_("Keys allowed to sign bundles, as ssh-keygen reads them (default: $LATHE_ALLOWED_SIGNERS, else "
       "~/.config/lathe/allowed_signers)"), N_("FILE") },
  { "trust-unsigned", 0, 0, G_OPTION_ARG_NONE, &trust_unsigned,
    N_("Accept a bundle with no signature or an unknown signer's"), NULL },
  { NULL }
};

static void
trust_options (LatheBundleVerifyOptions *vo)
{
  lathe_bundle_verify_options_init (vo);
  vo->allowed_signers = allowed_signers;
  vo->trust_unsigned = trust_unsigned;
  vo->bundle_runner = bundle_runner;
}

static int
bundle_verify (int argc, char **argv)
{
  const GOptionEntry entries[] = {
    { "bundle-runner", 0, 0, G_OPTION_ARG_NONE, &bundle_runner,
      N_("Check the golden output with the bundle's own lathe-run (default: this Lathe's)"), NULL },
    { NULL }
  };
  g_autoptr (GOptionContext) context = g_option_context_new (
    _("DIR|FILE.tar.gz — check a bundle's signature, files and golden output"));
  g_autoptr (GString) report = g_string_new (NULL);
  LatheBundleVerifyOptions vo;
  GError *error = NULL;

  g_option_context_add_main_entries (context, trust_entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 2)
    {
      lathe_cli_error (_("usage: lathe-cli bundle verify DIR|FILE.tar.gz [--allowed-signers FILE] [--trust-unsigned] "
                         "[--bundle-runner]"));
      return 2;
    }
  trust_options (&vo);
  if (!lathe_bundle_verify (argv[1], &vo, report, NULL, NULL, &error))
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
  LatheBundleVerifyOptions vo;
  LatheSshOptions o;
  LatheDevice *d;
  GError *error = NULL;

  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, trust_entries, GETTEXT_PACKAGE);
  if (!lathe_cli_parse (context, &argc, &argv))
    return 2;
  if (argc != 3)
    {
      lathe_cli_error (_("usage: lathe-cli device install BUNDLE DEVICE [--allowed-signers FILE] [--trust-unsigned]"));
      return 2;
    }
  lathe_ssh_options_init (&o);
  o.accept_new_host_key = accept;
  if ((d = registry_device (&devices, argv[2], &error)) == NULL)
    return lathe_cli_fail (error);
  trust_options (&vo);
  if (!lathe_bundle_install (argv[1], &vo, d, &o, &output, NULL, &error))
    {
      if (output != NULL)
        fputs (output, stdout);
      return lathe_cli_device_fail (d, error);
    }
  fputs (output, stdout);
  return 0;
}
