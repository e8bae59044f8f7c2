/* gsi: build, patch, scan and publish OpenStack container images without a daemon. */
#include "cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#ifndef GSI_VERSION
#define GSI_VERSION "unknown"
#endif

static const cli_command commands[] = {
  { "containerfile", cmd_containerfile, "parse, expand and check Containerfiles (Dockerfile syntax)" },
  { "build", cmd_build, "build an image from a Containerfile into the store" },
  { "run", cmd_run, "run a command in an image (throwaway overlay, namespaces)" },
  { "images", cmd_images, "list the images of the store" },
  { "inspect", cmd_inspect, "print an image's manifest and config as JSON" },
  { "tag", cmd_tag, "add a tag to an image" },
  { "rmi", cmd_rmi, "remove image tags" },
  { "prune", cmd_prune, "free blobs, unpacked layers, temp files and cache entries no tag uses" },
  { "export", cmd_export, "write an image as an oci-archive or docker-archive tar" },
  { "import", cmd_import, "import a rootfs tarball as a one-layer image" },
  { "catalog", cmd_catalog, "list, graph and build the images of catalog.yaml in dependency order" },
  { "bootstrap", cmd_bootstrap, "make a Debian base image from the Debian archive (mmdebstrap)" },
  { "pull", cmd_pull, "pull an image from a registry into the store" },
  { "push", cmd_push, "push an image of the store to a registry" },
  { "login", cmd_login, "store credentials for a registry" },
  { "logout", cmd_logout, "remove stored credentials for a registry" },
  { "sbom", cmd_sbom, "write an image's SBOM (CycloneDX 1.5 or SPDX 2.3 JSON)" },
  { "db", cmd_db, "import and inspect the vulnerability database" },
  { "scan", cmd_scan, "scan an image for known vulnerabilities" },
  { "patch", cmd_patch, "suggest the CVE patch file that clears an image's fixable findings" },
  { "version", cmd_version, "compare Debian and PEP 440 versions" },
  { NULL, NULL, NULL },
};

static void
print_help (FILE *out)
{
  fprintf (out, "Usage: gsi [--version] [--help] [--root DIR] COMMAND [ARGS]\n\n"
                "gsi builds OpenStack container images from Containerfiles without a daemon.\n\n"
                "Options:\n"
                "  --root DIR   the image store, an OCI image layout (default: $GSI_ROOT, else\n"
                "               /var/lib/gsi for root, else $XDG_DATA_HOME/gsi)\n\n"
                "Commands:\n");
  for (const cli_command *c = commands; c->name; c++)
    fprintf (out, "  %-15s %s\n", c->name, c->summary);
  fprintf (out, "\nRun 'gsi COMMAND --help' for a command's options.\n");
}

int
cli_parse_bool (const char *s, int *out)
{
  if (s == NULL || strcmp (s, "true") == 0 || strcmp (s, "1") == 0 || strcmp (s, "yes") == 0)
    *out = 1;
  else if (strcmp (s, "false") == 0 || strcmp (s, "0") == 0 || strcmp (s, "no") == 0)
    *out = 0;
  else
    return -1;
  return 0;
}

int
cli_usage (gsi_error *err, const char *cmd, const char *fmt, ...)
{
  gsi_buf b = GSI_BUF_INIT;
  va_list ap;

  va_start (ap, fmt);
  gsi_buf_vaddf (&b, fmt, ap);
  va_end (ap);
  gsi_error_set (err, 0, "%s: %s (see 'gsi %s --help')", cmd, b.buf, cmd);
  gsi_buf_release (&b);
  return CLI_USAGE;
}

int
cli_wants_help (int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--") == 0)
        return 0;
      if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
        return 1;
    }
  return 0;
}

int
cli_dispatch (const char *group, const char *group_help, const cli_command *cmds, int argc, char **argv,
              gsi_error *err)
{
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      FILE *out = argc < 2 ? stderr : stdout;
      fprintf (out, "%s\nSubcommands:\n", group_help);
      for (const cli_command *c = cmds; c->name; c++)
        fprintf (out, "  %-10s %s\n", c->name, c->summary);
      fprintf (out, "\nRun 'gsi %s SUBCOMMAND --help' for its options.\n", group);
      if (argc < 2)
        return cli_usage (err, group, "missing subcommand");
      return 0;
    }
  for (const cli_command *c = cmds; c->name; c++)
    if (strcmp (argv[1], c->name) == 0)
      {
        gsi_buf name = GSI_BUF_INIT;
        gsi_buf_addf (&name, "%s %s", group, c->name);
        /* The subcommand sees its full name as argv[0] so its messages say "containerfile dump". */
        char *saved = argv[1];
        argv[1] = name.buf;
        int r = c->fn (argc - 1, argv + 1, err);
        argv[1] = saved;
        gsi_buf_release (&name);
        return r;
      }
  return cli_usage (err, group, "unknown subcommand `%s`", argv[1]);
}

int
main (int argc, char **argv)
{
  gsi_error err = GSI_ERROR_INIT;
  int ret;

  /* Global options come before the command.  --root travels as GSI_ROOT so every command resolves
   * the store the same way (gsi_store_default_root).  */
  while (argc >= 2 && strncmp (argv[1], "--root", 6) == 0 && (argv[1][6] == '\0' || argv[1][6] == '='))
    {
      const char *dir = argv[1][6] == '=' ? argv[1] + 7 : (argc >= 3 ? argv[2] : NULL);
      if (dir == NULL || *dir == '\0')
        {
          fprintf (stderr, "gsi: --root needs a directory (see 'gsi --help')\n");
          return 2;
        }
      setenv ("GSI_ROOT", dir, 1);
      int used = argv[1][6] == '=' ? 1 : 2;
      argv += used;
      argc -= used;
    }
  if (argc < 2)
    {
      print_help (stderr);
      return 2;
    }
  if (strcmp (argv[1], "--version") == 0 || strcmp (argv[1], "-V") == 0)
    {
      printf ("gsi %s\n", GSI_VERSION);
      return 0;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    {
      print_help (stdout);
      return 0;
    }

  const cli_command *cmd = NULL;
  for (const cli_command *c = commands; c->name; c++)
    if (strcmp (argv[1], c->name) == 0)
      cmd = c;
  if (cmd == NULL)
    {
      fprintf (stderr, "gsi: unknown command `%s` (see 'gsi --help')\n", argv[1]);
      return 2;
    }

  ret = cmd->fn (argc - 1, argv + 1, &err);
  if (ret == 0)
    return 0;
  if (ret > 0)
    {
      if (err.msg)
        fprintf (stderr, "gsi: %s\n", err.msg);
      gsi_error_clear (&err);
      return ret;
    }
  fprintf (stderr, "gsi: %s\n", err.msg ? err.msg : "failed with no message (a bug)");
  gsi_error_clear (&err);
  return ret == CLI_USAGE ? 2 : 1;
}
