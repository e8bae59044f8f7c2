/* gsi pull: copy an image from a registry into the store.  */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/store.h"
#include "registry/client.h"
#include "registry/registry.h"
#include "util/xalloc.h"

static void
print_pull_help (void)
{
  printf ("Usage: gsi [--root DIR] pull [OPTIONS] REF\n\n"
          "Pulls an image from a registry into the store and tags it as REF (nothing is tagged for\n"
          "a digest-only REF).  A multi-platform image (OCI index or Docker manifest list) is\n"
          "followed to one platform's image.  Mirrors of the registry in registries.yaml are tried\n"
          "first.  Every blob is checked against its digest before it enters the store; blobs\n"
          "already there are not fetched.  Prints the manifest digest on stdout.\n\n"
          "Options:\n"
          "      --platform OS/ARCH[/VARIANT]  the platform to pick from a multi-platform image\n"
          "                                    (default: linux/ARCH of this machine)\n"
          "      --tls-verify=BOOL             check TLS certificates (default: true, or the\n"
          "                                    registry's registries.yaml setting); false also\n"
          "                                    allows plain HTTP\n"
          "      --authfile FILE               credentials file (default: $REGISTRY_AUTH_FILE,\n"
          "                                    containers' auth.json, ~/.docker/config.json)\n"
          "      --jobs N                      blobs downloaded at once (default: 4)\n"
          "  -q, --quiet                       no progress lines on stderr\n");
}

static void
print_progress (void *ctx, const char *line)
{
  (void) ctx;
  fprintf (stderr, "%s\n", line);
}

enum
{
  OPT_PLATFORM = 256,
  OPT_TLS_VERIFY,
  OPT_AUTHFILE,
  OPT_JOBS,
};

typedef struct pull_args
{
  gsi_reg_client_opts copts;
  gsi_pull_opts popts;
  bool quiet;
  const char *ref;
} pull_args;

static int
parse_args (pull_args *a, int argc, char **argv, gsi_error *err)
{
  static const struct option opts[] = {
    { "platform", required_argument, NULL, OPT_PLATFORM },
    { "tls-verify", optional_argument, NULL, OPT_TLS_VERIFY },
    { "authfile", required_argument, NULL, OPT_AUTHFILE },
    { "jobs", required_argument, NULL, OPT_JOBS },
    { "quiet", no_argument, NULL, 'q' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  optind = 0;
  while ((c = getopt_long (argc, argv, "q", opts, NULL)) != -1)
    switch (c)
      {
      case OPT_PLATFORM:
        a->popts.platform = optarg;
        break;
      case OPT_TLS_VERIFY:
        if (cli_parse_bool (optarg, &a->copts.tls_verify) < 0)
          return cli_usage (err, argv[0], "--tls-verify must be true or false, got `%s`", optarg);
        break;
      case OPT_AUTHFILE:
        a->copts.authfile = optarg;
        break;
      case OPT_JOBS:
        {
          char *end = NULL;
          errno = 0;
          long n = strtol (optarg, &end, 10);
          if (errno || end == optarg || *end || n < 1 || n > 64)
            return cli_usage (err, argv[0], "--jobs wants a number from 1 to 64, got `%s`", optarg);
          a->popts.jobs = (int) n;
          break;
        }
      case 'q':
        a->quiet = true;
        break;
      default:
        return cli_usage (err, argv[0], "unknown option");
      }
  if (argc - optind != 1)
    return cli_usage (err, argv[0], "expects exactly one image reference");
  a->ref = argv[optind];
  return 0;
}

int
cmd_pull (int argc, char **argv, gsi_error *err)
{
  pull_args a = { .copts = GSI_REG_CLIENT_OPTS_INIT };
  cleanup_store gsi_store *store = NULL;
  cleanup_free char *root = NULL;
  gsi_reg_client *client = NULL;
  gsi_descriptor d = GSI_DESCRIPTOR_INIT;
  gsi_pull_stats stats;
  int r;

  if (cli_wants_help (argc, argv))
    {
      print_pull_help ();
      return 0;
    }
  if (parse_args (&a, argc, argv, err) < 0)
    return CLI_USAGE;
  a.popts.progress = a.quiet ? NULL : print_progress;
  root = gsi_store_default_root (err);
  if (root == NULL || gsi_store_open (root, &store, err) < 0 || gsi_reg_client_open (&a.copts, &client, err) < 0)
    return CLI_FAIL;
  r = gsi_registry_pull (client, store, a.ref, &a.popts, &d, &stats, err);
  gsi_reg_client_close (client);
  if (r < 0)
    return CLI_FAIL;
  if (!a.quiet)
    fprintf (stderr, "pulled %s from %s: %u blobs fetched (%" PRIu64 " bytes), %u already present\n", a.ref,
             stats.source, stats.blobs_fetched, stats.bytes_fetched, stats.blobs_present);
  printf ("%s\n", d.digest);
  gsi_descriptor_clear (&d);
  return 0;
}
