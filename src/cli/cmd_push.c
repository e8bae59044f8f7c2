/* gsi push: an image of the store to a registry.  */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci/store.h"
#include "registry/client.h"
#include "registry/reference.h"
#include "registry/registry.h"
#include "util/xalloc.h"

static void
print_push_help (void)
{
  printf ("Usage: gsi [--root DIR] push [OPTIONS] SRC [DEST]\n\n"
          "Pushes the store image SRC (a tag or digest of `gsi images`) to the registry reference DEST\n"
          "(default: SRC, which must then name a registry, as in 127.0.0.1:5000/keystone:2025.1).\n"
          "Blobs the repository already has are skipped, blobs another repository of the same\n"
          "registry has are mounted from it, the others are uploaded several at a time; the manifest\n"
          "(an index after its images) goes last.  Progress goes to stderr, one line per blob; the\n"
          "manifest digest the registry reports goes to stdout.\n\n"
          "Options:\n"
          "      --tls-verify=BOOL  verify the registry's TLS certificate (default: true, or the\n"
          "                         registry's registries.yaml setting); false also allows plain HTTP\n"
          "      --authfile FILE    credentials file (default: the auth.json / docker config.json\n"
          "                         lookup of `gsi login`)\n"
          "      --jobs N           blobs uploaded at once (default 4)\n"
          "      --chunked          upload blobs in PATCH chunks instead of one PUT each\n"
          "  -q, --quiet            no progress lines\n"
          "      --digestfile FILE  also write the manifest digest to FILE\n");
}

/* True when the text of a reference starts with a registry domain (the rule of reference.h).  */
static bool
names_registry (const char *ref)
{
  const char *slash = strchr (ref, '/');
  size_t n;

  if (slash == NULL)
    return false;
  n = (size_t) (slash - ref);
  if (memchr (ref, '.', n) || memchr (ref, ':', n) || (n == 9 && strncmp (ref, "localhost", 9) == 0))
    return true;
  for (size_t i = 0; i < n; i++)
    if (ref[i] >= 'A' && ref[i] <= 'Z')
      return true;
  return false;
}

static void
print_progress (void *ctx, const char *line)
{
  (void) ctx;
  fprintf (stderr, "%s\n", line);
}

static int
write_digestfile (const char *path, const char *digest, gsi_error *err)
{
  FILE *f = fopen (path, "w");

  if (f == NULL)
    return gsi_error_set (err, errno, "open `%s`", path);
  fprintf (f, "%s", digest);
  if (fclose (f) != 0)
    return gsi_error_set (err, errno, "write `%s`", path);
  return 0;
}

int
cmd_push (int argc, char **argv, gsi_error *err)
{
  enum
  {
    OPT_TLS = 1000,
    OPT_AUTHFILE,
    OPT_JOBS,
    OPT_CHUNKED,
    OPT_DIGESTFILE
  };
  static const struct option opts[] = { { "tls-verify", required_argument, NULL, OPT_TLS },
                                        { "authfile", required_argument, NULL, OPT_AUTHFILE },
                                        { "jobs", required_argument, NULL, OPT_JOBS },
                                        { "chunked", no_argument, NULL, OPT_CHUNKED },
                                        { "quiet", no_argument, NULL, 'q' },
                                        { "digestfile", required_argument, NULL, OPT_DIGESTFILE },
                                        { NULL, 0, NULL, 0 } };
  gsi_reg_client_opts copts = GSI_REG_CLIENT_OPTS_INIT;
  gsi_push_opts popts = { 0 };
  gsi_push_stats stats;
  cleanup_store gsi_store *store = NULL;
  cleanup_free char *root = NULL;
  gsi_reg_client *client = NULL;
  gsi_reference ref = GSI_REFERENCE_INIT;
  const char *digestfile = NULL, *src, *dest;
  char digest[GSI_DIGEST_BUF];
  bool quiet = false;
  int c, r;

  if (cli_wants_help (argc, argv))
    {
      print_push_help ();
      return 0;
    }
  optind = 0;
  while ((c = getopt_long (argc, argv, "q", opts, NULL)) != -1)
    switch (c)
      {
      case OPT_TLS:
        if (cli_parse_bool (optarg, &copts.tls_verify) < 0)
          return cli_usage (err, argv[0], "--tls-verify must be true or false, got `%s`", optarg);
        break;
      case OPT_AUTHFILE:
        copts.authfile = optarg;
        break;
      case OPT_JOBS:
        {
          char *end;
          long v = strtol (optarg, &end, 10);
          if (*optarg == '\0' || *end != '\0' || v < 1 || v > 64)
            return cli_usage (err, argv[0], "--jobs must be a number from 1 to 64, got `%s`", optarg);
          popts.jobs = (int) v;
        }
        break;
      case OPT_CHUNKED:
        popts.force_chunked = true;
        break;
      case 'q':
        quiet = true;
        break;
      case OPT_DIGESTFILE:
        digestfile = optarg;
        break;
      default:
        return cli_usage (err, argv[0], "unknown option (see 'gsi push --help')");
      }
  if (argc - optind < 1 || argc - optind > 2)
    return cli_usage (err, argv[0], "expected SRC [DEST] (see 'gsi push --help')");
  src = argv[optind];
  dest = argc - optind == 2 ? argv[optind + 1] : src;
  if (argc - optind == 1 && !names_registry (src))
    return cli_usage (err, argv[0],
                      "`%s` names no registry: give DEST (e.g. gsi push %s registry.example.com/%s)", src, src,
                      src);
  /* A bad destination is a usage mistake, found before anything is opened.  */
  if (gsi_reference_parse (dest, &ref, err) < 0)
    return CLI_USAGE;
  gsi_reference_clear (&ref);

  if (!quiet)
    popts.progress = print_progress;
  root = gsi_store_default_root (err);
  if (root == NULL || gsi_store_open (root, &store, err) < 0)
    return CLI_FAIL;
  if (gsi_reg_client_open (&copts, &client, err) < 0)
    return CLI_FAIL;
  r = gsi_registry_push (client, store, src, dest, &popts, digest, &stats, err);
  gsi_reg_client_close (client);
  if (r < 0)
    return CLI_FAIL;
  if (!quiet)
    fprintf (stderr, "%u blob%s uploaded (%.1f MB), %u mounted, %u already there\n", stats.blobs_uploaded,
             stats.blobs_uploaded == 1 ? "" : "s", (double) stats.bytes_uploaded / 1e6, stats.blobs_mounted,
             stats.blobs_existing);
  printf ("%s\n", digest);
  if (digestfile && write_digestfile (digestfile, digest, err) < 0)
    return CLI_FAIL;
  return 0;
}
